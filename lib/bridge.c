/*
 * The bridge: how a run of this host takes part in a run across hosts.
 *
 * sfrund starts it as the command of a backend run (`sfrund --bridge --
 * COMMAND...`), so to the server it is a run like any other: what it writes
 * on stdout and stderr goes to the local waiters, and its end is theirs.
 * It reads the run request on RUN_SIDE_FD and reports back there which part
 * it plays ("role ...") and any end that is not a plain exit ("end ...").
 *
 * It takes the key's lease in Redis. If it gets it, it leads: it runs the
 * command, copies its output both to its own stdout/stderr and into a Redis
 * stream, renews the lease, and closes the stream with how the command
 * ended. If another host holds the lease, it follows: it replays that
 * host's stream from its first entry, then follows it live, and ends as the
 * command there ended. The layout of the keys is in DISTRIBUTED.md and in
 * sfrun(1).
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sha2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge.h"
#include "compat.h"
#include "loop.h"
#include "proto.h"
#include "pty.h"
#include "redis.h"
#include "redisurl.h"
#include "run.h"
#include "sig.h"

#define CHUNK_MAX	65536	/* bytes in one o or e entry */
#define READ_COUNT	16	/* entries per XREAD: a reply of at most 1 MiB */
#define LEASE_MARGIN_MS	1000	/* counted off the lease by its holder */
#define STR(n)		STR_(n)		/* a number macro as a string */
#define STR_(n)		#n

/*
 * Take the lease, or learn who holds it. Atomically: if the lease exists,
 * its value; else the next generation from the fence counter, the lease
 * set to "<gen> <owner>", and the run's stream created with its header.
 */
static const char acquire_lua[] =
"local cur = redis.call('GET', KEYS[1])\n"
"if cur then return {0, cur} end\n"
"local gen = redis.call('INCR', KEYS[2])\n"
"local val = gen .. ' ' .. ARGV[1]\n"
"redis.call('SET', KEYS[1], val, 'PX', ARGV[2])\n"
"local s = ARGV[3] .. gen .. ':' .. ARGV[4]\n"
"redis.call('XADD', s, '0-1', 'host', ARGV[5], 'pid', ARGV[6],\n"
"    'start', ARGV[7], 'gen', gen, 'argv', ARGV[8], 'command', ARGV[9])\n"
"redis.call('PEXPIRE', s, ARGV[10])\n"
"return {1, val}\n";

/* Keep the stream; extend the lease only if it is still ours. */
static const char renew_lua[] =
"redis.call('PEXPIRE', KEYS[2], ARGV[3])\n"
"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
"  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
"  return 1\n"
"end\n"
"return 0\n";

/* The run is over: the stream lingers; the lease goes, if still ours. */
static const char finish_lua[] =
"redis.call('PEXPIRE', KEYS[2], ARGV[2])\n"
"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
"  redis.call('DEL', KEYS[1])\n"
"  return 1\n"
"end\n"
"return 0\n";

/* How a run ended, as the x record says it. */
enum outcome { OUT_EXIT = 1, OUT_SIGNAL, OUT_TIMEOUT };

struct bridge {
	struct proto_run	 req;
	struct pbuf		 cfg;		/* req points into it */
	char		       **argv;		/* the command */
	char			 key[PROTO_KEY_MAX + 1];
	char			 command[PROTO_COMMAND_MAX + 1];
	struct redis_url	 url;
	struct redis		*redis;
	int			 side;

	char			 host[256];
	char			 owner[PROTO_HOLDER_MAX + 1];	/* host:pid:nonce */
	char			 nonce[17];
	char			 argv_hash[SHA256_DIGEST_STRING_LENGTH];
	char			 lease[600];	/* P{h}:lease */
	char			 fence[600];	/* P{h}:fence */
	char			 prefix[600];	/* P{h}:out: */

	/* The generation led or followed. */
	uint64_t		 gen;
	uint64_t		 asked_at;	/* when the lease was asked for */
	char			 value[PROTO_HOLDER_MAX + 32];	/* of the lease */
	char			 holder[PROTO_HOLDER_MAX + 1];
	char			 stream[700];
	uint64_t		 deadline;	/* --run-timeout; 0: none */
};

/* Write all of buf to fd; a reader gone (EPIPE) is not an error here. */
static void
bridge_write(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

/* Write one line: prefix, then the message cut at any newline. */
static void
bridge_vline(int fd, const char *prefix, const char *fmt, va_list ap)
{
	char	line[PROTO_TEXT_MAX];
	size_t	n;

	n = strlcpy(line, prefix, sizeof(line));
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	n = strlen(line);
	line[n++] = '\n';
	bridge_write(fd, line, n);
}

/* A line on the server's side channel. Lost if the server is gone. */
static void
bridge_report(struct bridge *b, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	bridge_vline(b->side, "", fmt, ap);
	va_end(ap);
}

/* A line of sfrun's own on this host's stderr (the waiters see it). */
static void
bridge_say(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	bridge_vline(STDERR_FILENO, "sfrun: ", fmt, ap);
	va_end(ap);
}

/* End as failed (125) or lost (75): tell the server why, and exit. */
static void __attribute__((noreturn))
bridge_end(struct bridge *b, int code, const char *fmt, ...)
{
	char	text[PROTO_TEXT_MAX - 32];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	bridge_report(b, "end %s %s", code == 75 ? "lost" : "failed", text);
	_exit(code);
}

/* Leave as the run ended. */
static void __attribute__((noreturn))
bridge_exit(struct bridge *b, enum outcome how, int value)
{
	switch (how) {
	case OUT_EXIT:
		_exit(value & 0xff);
	case OUT_SIGNAL:
		_exit(sig_raise(value));
	case OUT_TIMEOUT:
		bridge_report(b, "end timeout %d", value);
		_exit(124);
	}
	_exit(125);
}

static int
reply_is(const redisReply *r, int type)
{
	return r != NULL && r->type == type;
}

/* Read the request the server wrote on the side channel: one MSG_RUN. */
static int
bridge_config(struct bridge *b, char *cause, size_t clen)
{
	const uint8_t	*payload = NULL;
	const char	*errstr = "no request";
	uint32_t	 type = 0, plen = 0;
	ssize_t		 n;
	int		 got;

	while ((got = proto_next(b->cfg.data, b->cfg.len, &type, &payload,
	    &plen, &errstr)) == 0) {
		if (pbuf_reserve(&b->cfg, 65536) == -1) {
			errstr = strerror(errno);
			break;
		}
		n = read(b->side, b->cfg.data + b->cfg.len,
		    b->cfg.cap - b->cfg.len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			errstr = n == 0 ? "no request" : strerror(errno);
			break;
		}
		b->cfg.len += (size_t)n;
	}
	if (got <= 0 || type != MSG_RUN ||
	    proto_decode_run(payload, plen, &b->req, &errstr) == -1 ||
	    b->req.url == NULL) {
		snprintf(cause, clen, "bridge: bad request: %s", errstr);
		return -1;
	}
	memcpy(b->key, b->req.key, b->req.keylen);
	b->key[b->req.keylen] = '\0';
	if (redisurl_parse(b->req.url, &b->url, &errstr) == -1) {
		snprintf(cause, clen, "backend %s: %s", b->req.url, errstr);
		return -1;
	}
	return 0;
}

/* Names of this run's keys, this host's identity, the command's hash. */
static void
bridge_names(struct bridge *b)
{
	SHA2_CTX	 ctx;
	char		 h[SHA256_DIGEST_STRING_LENGTH];
	const char	*id = getenv("SFRUN_HOST_ID");
	uint8_t		 rnd[8];
	size_t		 i;

	SHA256Data((const uint8_t *)b->key, strlen(b->key), h);
	snprintf(b->lease, sizeof(b->lease), "%s{%s}:lease", b->req.prefix,
	    h);
	snprintf(b->fence, sizeof(b->fence), "%s{%s}:fence", b->req.prefix,
	    h);
	snprintf(b->prefix, sizeof(b->prefix), "%s{%s}:out:", b->req.prefix,
	    h);
	SHA256Init(&ctx);
	for (i = 0; b->argv[i] != NULL; i++) {
		SHA256Update(&ctx, (const uint8_t *)b->argv[i],
		    strlen(b->argv[i]) + 1);
		if (i > 0)
			strlcat(b->command, " ", sizeof(b->command));
		strlcat(b->command, b->argv[i], sizeof(b->command));
	}
	SHA256End(&ctx, b->argv_hash);
	if (id != NULL && *id != '\0')
		strlcpy(b->host, id, sizeof(b->host));
	else if (gethostname(b->host, sizeof(b->host)) == -1)
		strlcpy(b->host, "localhost", sizeof(b->host));
	b->host[strcspn(b->host, " \n")] = '\0';
	arc4random_buf(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(b->nonce + 2 * i, 3, "%02x", rnd[i]);
	snprintf(b->owner, sizeof(b->owner), "%.200s:%ld:%s", b->host,
	    (long)getpid(), b->nonce);
}

/*
 * "<gen> <host>:<pid>:<nonce>" into gen, holder and the stream's name.
 * -1 if the value is not one of ours.
 */
static int
bridge_parse_value(struct bridge *b, const char *v, size_t len)
{
	const char	*sp, *nonce, *errstr;
	char		 num[24];

	if (len >= sizeof(b->value) || (sp = memchr(v, ' ', len)) == NULL ||
	    (size_t)(sp - v) >= sizeof(num))
		return -1;
	memcpy(b->value, v, len);
	b->value[len] = '\0';
	memcpy(num, v, (size_t)(sp - v));
	num[sp - v] = '\0';
	b->gen = (uint64_t)strtonum(num, 1, LLONG_MAX, &errstr);
	if (errstr != NULL)
		return -1;
	strlcpy(b->holder, b->value + (sp - v) + 1, sizeof(b->holder));
	if ((nonce = strrchr(b->holder, ':')) == NULL)
		return -1;
	snprintf(b->stream, sizeof(b->stream), "%s%llu:%s", b->prefix,
	    (unsigned long long)b->gen, nonce + 1);
	return 0;
}

/*
 * Take the lease or find its holder. 1: ours, 0: another's, -1: Redis
 * failed (said through bridge_end, which does not return).
 */
static int
bridge_acquire(struct bridge *b)
{
	char		 ttl[24], sttl[24], pid[24], start[24];
	struct timespec	 now;
	const char	*argv[15];
	redisReply	*r;
	int		 mine;

	snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)b->req.lease_ms);
	snprintf(sttl, sizeof(sttl), "%llu",
	    (unsigned long long)b->req.lease_ms * 2);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(start, sizeof(start), "%lld", (long long)now.tv_sec * 1000 +
	    now.tv_nsec / 1000000);
	argv[0] = "EVAL";
	argv[1] = acquire_lua;
	argv[2] = "2";
	argv[3] = b->lease;
	argv[4] = b->fence;
	argv[5] = b->owner;
	argv[6] = ttl;
	argv[7] = b->prefix;
	argv[8] = b->nonce;
	argv[9] = b->host;
	argv[10] = pid;
	argv[11] = start;
	argv[12] = b->argv_hash;
	argv[13] = b->command;
	argv[14] = sttl;
	b->asked_at = loop_now();
	r = redis_strv(b->redis, b->asked_at + b->req.lease_ms, 15, argv);
	if (r == NULL)
		bridge_end(b, 125, "%s", redis_error(b->redis));
	if (r->type == REDIS_REPLY_ERROR)
		bridge_end(b, 125, "redis refused to take the lease of %s: %s",
		    b->lease, r->str);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    !reply_is(r->element[0], REDIS_REPLY_INTEGER) ||
	    !reply_is(r->element[1], REDIS_REPLY_STRING) ||
	    bridge_parse_value(b, r->element[1]->str, r->element[1]->len) ==
	    -1)
		bridge_end(b, 125, "the lease %s holds something that is not "
		    "sfrun's", b->lease);
	/*
	 * A command sent again after a lost reply may find the lease its
	 * first sending took: the owner (with its nonce) says it is ours.
	 */
	mine = r->element[0]->integer == 1 ||
	    strcmp(b->holder, b->owner) == 0;
	freeReplyObject(r);
	bridge_report(b, "role %s %llu %s", mine ? "leader" : "follower",
	    (unsigned long long)b->gen, b->holder);
	return mine;
}

/* The leader's state while its command runs. */
struct lead {
	struct bridge	*b;
	int		 publishing;	/* the stream still takes entries */
	uint64_t	 seq;		/* id of the next entry: 0-seq */
	uint64_t	 renew_at;
	uint64_t	 valid_until;	/* counted as ours until then */
	int		 lost_said;
};

/* The stream cannot be written any more: say so once, go on locally. */
static void
lead_stop_publishing(struct lead *l, const char *why)
{
	if (!l->publishing)
		return;
	l->publishing = 0;
	bridge_say("%s; the command goes on here, but hosts that follow it "
	    "will see a lost leader", why);
}

/*
 * Append one entry with the next id. An error that the id is not above the
 * last one means a retry of an append that had reached Redis: done. NULL
 * (NOMKSTREAM) means the stream is gone: expired or Redis restarted.
 */
static void
lead_append(struct lead *l, const char *field, const void *data, size_t len)
{
	char		 id[32];
	const char	*argv[6] = { "XADD", l->b->stream, "NOMKSTREAM", id,
			    field, data };
	size_t		 lens[6] = { 4, strlen(l->b->stream), 10, 0,
			    strlen(field), len };
	redisReply	*r;

	if (!l->publishing)
		return;
	snprintf(id, sizeof(id), "0-%llu", (unsigned long long)l->seq);
	lens[3] = strlen(id);
	/* While the lease is counted ours, keep trying. */
	r = redis_argv(l->b->redis, l->valid_until > loop_now() ?
	    l->valid_until : loop_now() + 1000, 6, argv, lens);
	if (r == NULL)
		lead_stop_publishing(l, redis_error(l->b->redis));
	else if (r->type == REDIS_REPLY_NIL)
		lead_stop_publishing(l, "the run's log is gone from redis "
		    "(expired, or redis restarted)");
	else if (r->type == REDIS_REPLY_ERROR &&
	    strstr(r->str, "equal or smaller") == NULL)
		lead_stop_publishing(l, r->str);
	else
		l->seq++;
	freeReplyObject(r);
}

/*
 * Run a lease script (renew or finish) on the lease, the stream and the
 * lease's value, with the numbers a and b (a script may use only a); its
 * integer, or -1.
 */
static long long
lead_script(struct lead *l, const char *lua, uint64_t a, uint64_t b,
    uint64_t deadline)
{
	char		 n1[24], n2[24];
	const char	*argv[8] = { "EVAL", lua, "2", l->b->lease, l->b->stream,
			    l->b->value, n1, n2 };
	redisReply	*r;
	long long	 n = -1;

	snprintf(n1, sizeof(n1), "%llu", (unsigned long long)a);
	snprintf(n2, sizeof(n2), "%llu", (unsigned long long)b);
	r = redis_strv(l->b->redis, deadline, 8, argv);
	if (reply_is(r, REDIS_REPLY_INTEGER))
		n = r->integer;
	freeReplyObject(r);
	return n;
}

/*
 * Renew the lease. It counts as ours until the start of the last renewal
 * that succeeded, plus the lease, less a margin for the clocks' drift.
 */
static void
lead_renew(struct lead *l)
{
	uint64_t	start = loop_now();
	long long	n;

	l->renew_at = start + l->b->req.lease_ms / 3;
	n = lead_script(l, renew_lua, l->b->req.lease_ms,
	    l->b->req.lease_ms * 2, start + l->b->req.lease_ms / 3);
	if (n == 1) {
		l->valid_until = start + l->b->req.lease_ms - LEASE_MARGIN_MS;
		return;
	}
	if (l->lost_said || (n == -1 && start < l->valid_until))
		return;
	l->lost_said = 1;
	bridge_say("this host lost the lease of %s (generation %llu)%s; the "
	    "command goes on", l->b->key, (unsigned long long)l->b->gen,
	    n == 0 ? " to another" : ": redis did not answer in time");
}

/*
 * Copy one read of a pipe: to this host's waiters, and into the stream.
 * 1: copied, 0: nothing there now, -1: end of file (or a broken pipe).
 */
static int
lead_copy(struct lead *l, int fd, int stream)
{
	char	buf[CHUNK_MAX];
	ssize_t	n;

	if ((n = read(fd, buf, sizeof(buf))) == -1)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	bridge_write(stream == 0 ? STDOUT_FILENO : STDERR_FILENO, buf,
	    (size_t)n);
	lead_append(l, stream == 0 ? "o" : "e", buf, (size_t)n);
	return 1;
}

/*
 * In the child: its own process group (the bridge signals it as a whole),
 * killed if the bridge dies, the bridge's signal state undone; then exec.
 */
static void __attribute__((noreturn))
lead_child(struct bridge *b, pid_t bridge, int out, int err, int errfd)
{
	sigset_t	none;
	int		saved;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != bridge)	/* it died before that took hold */
		_exit(125);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(out, STDOUT_FILENO) == -1 || dup2(err, STDERR_FILENO) == -1)
		_exit(125);
	execvp(b->argv[0], b->argv);
	saved = errno;
	(void)write(errfd, &saved, sizeof(saved));
	_exit(saved == ENOENT ? 127 : 126);
}

/*
 * Lead: run the command, publish its output when there is a stream
 * (publish is 0 for --fallback local), keep the lease, end the stream.
 */
static void __attribute__((noreturn))
bridge_lead(struct bridge *b, int publish)
{
	struct lead		 l = { b, publish, 2, 0, 0, 0 };
	struct pollfd		 pfd[3];
	struct signalfd_siginfo	 si;
	sigset_t		 set;
	char			 fence[40], x[32];
	int			 outp[2], errp[2], exp[2], sigfd, status = 0;
	int			 exec_errno = 0, i, reaped = 0;
	int			 timed_out = 0, sig = 0;
	uint64_t		 now, next, deadline = UINT64_MAX;
	uint64_t		 kill_at = UINT64_MAX;
	pid_t			 pid, self;
	enum outcome		 how;

	if (publish) {
		snprintf(fence, sizeof(fence), "%llu",
		    (unsigned long long)b->gen);
		setenv("SFRUN_FENCE", fence, 1);
		/* Counted from when it was asked for, as renewals are. */
		l.valid_until = b->asked_at + b->req.lease_ms - LEASE_MARGIN_MS;
		l.renew_at = b->asked_at + b->req.lease_ms / 3;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* --tty: the command's stdout and stderr are one terminal. */
	if (b->req.flags & RUN_TTY) {
		if ((outp[0] = pty_open(b->req.tty_rows, b->req.tty_cols,
		    &outp[1])) == -1)
			bridge_end(b, 125, "bridge: cannot create a terminal: "
			    "%s", strerror(errno));
		errp[0] = -1;
		errp[1] = outp[1];
	} else if (pipe2(outp, O_CLOEXEC) == -1 || pipe2(errp, O_CLOEXEC) ==
	    -1)
		bridge_end(b, 125, "bridge: pipe: %s", strerror(errno));
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) == -1 ||
	    pipe2(exp, O_CLOEXEC) == -1)
		bridge_end(b, 125, "bridge: %s", strerror(errno));
	self = getpid();
	if ((pid = fork()) == -1)
		bridge_end(b, 125, "bridge: fork: %s", strerror(errno));
	if (pid == 0)
		lead_child(b, self, outp[1], errp[1], exp[1]);
	setpgid(pid, pid);	/* as the child does: whichever runs first */
	close(outp[1]);
	if (errp[0] != -1)
		close(errp[1]);
	close(exp[1]);
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	if (errp[0] != -1)
		fcntl(errp[0], F_SETFL, O_NONBLOCK);
	if (b->req.run_timeout_ms > 0)
		deadline = loop_now() + b->req.run_timeout_ms;

	pfd[0].fd = outp[0];
	pfd[1].fd = errp[0];
	pfd[2].fd = sigfd;
	for (i = 0; i < 3; i++)
		pfd[i].events = POLLIN;
	while (!reaped) {
		now = loop_now();
		if (l.publishing && now >= l.renew_at)
			lead_renew(&l);
		if (!timed_out && now >= deadline) {
			timed_out = 1;
			kill(-pid, SIGTERM);
			kill_at = b->req.kill_after_ms > 0 ? now +
			    b->req.kill_after_ms : now;
		}
		if (now >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = UINT64_MAX;
		}
		/* Sleep until the first of these, or an event. */
		next = kill_at;
		if (l.publishing && l.renew_at < next)
			next = l.renew_at;
		if (!timed_out && deadline < next)
			next = deadline;
		now = loop_now();
		if (poll(pfd, 3, next == UINT64_MAX ? -1 : next <= now ? 0 :
		    next - now > INT_MAX ? INT_MAX : (int)(next - now)) == -1 &&
		    errno != EINTR)
			bridge_end(b, 125, "bridge: poll: %s", strerror(errno));
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd == -1 || !(pfd[i].revents &
			    (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (lead_copy(&l, pfd[i].fd, i) == -1) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
			}
		}
		if (!(pfd[2].revents & POLLIN))
			continue;
		while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo != SIGCHLD)
				kill(-pid, (int)si.ssi_signo);	/* pass on */
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			reaped = 1;
	}
	/* Take what is left in the pipes, never wait for more. */
	for (i = 0; i < 2; i++)
		while (pfd[i].fd != -1 && lead_copy(&l, pfd[i].fd, i) == 1)
			;
	if (read(exp[0], &exec_errno, sizeof(exec_errno)) ==
	    sizeof(exec_errno) && exec_errno != 0) {
		/* Said the same way here and on every other host. */
		char	msg[PROTO_COMMAND_MAX + 128];
		int	n;

		n = snprintf(msg, sizeof(msg), "sfrun: %s: %s\n", b->argv[0],
		    strerror(exec_errno));
		if (n > 0 && (size_t)n < sizeof(msg)) {
			bridge_write(STDERR_FILENO, msg, (size_t)n);
			lead_append(&l, "e", msg, (size_t)n);
		}
	}
	if (timed_out && !(WIFEXITED(status) && exec_errno != 0)) {
		how = OUT_TIMEOUT;
		sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGTERM;
		snprintf(x, sizeof(x), "timeout:%d", sig);
	} else if (WIFSIGNALED(status)) {
		how = OUT_SIGNAL;
		sig = WTERMSIG(status);
		snprintf(x, sizeof(x), "signal:%d", sig);
	} else {
		how = OUT_EXIT;
		sig = WEXITSTATUS(status);
		snprintf(x, sizeof(x), "exit:%d", sig);
	}
	lead_append(&l, "x", x, strlen(x));
	if (publish)
		lead_script(&l, finish_lua, b->req.backend_linger_ms, 0,
		    loop_now() + b->req.lease_ms);
	bridge_exit(b, how, sig);
}

/* Parse an x record: exit:N, signal:S or timeout:S. */
static int
follow_outcome(const char *s, size_t len, enum outcome *how, int *value)
{
	char		 buf[32];
	const char	*errstr, *colon;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if ((colon = strchr(buf, ':')) == NULL)
		return -1;
	if (strncmp(buf, "exit:", 5) == 0) {
		*how = OUT_EXIT;
		*value = (int)strtonum(colon + 1, 0, 255, &errstr);
	} else if (strncmp(buf, "signal:", 7) == 0) {
		*how = OUT_SIGNAL;
		*value = (int)strtonum(colon + 1, 1, NSIG - 1, &errstr);
	} else if (strncmp(buf, "timeout:", 8) == 0) {
		*how = OUT_TIMEOUT;
		*value = (int)strtonum(colon + 1, 1, NSIG - 1, &errstr);
	} else
		return -1;
	if (errstr != NULL)
		return -1;
	/*
	 * No command ends by a stop signal; raised here, one would stop the
	 * bridge, and the waiters with it, for good.
	 */
	if (*how != OUT_EXIT && (*value == SIGSTOP || *value == SIGTSTP ||
	    *value == SIGTTIN || *value == SIGTTOU))
		return -1;
	return 0;
}

/* A field of an entry's [field, value, ...] array, or NULL. */
static const redisReply *
follow_field(const redisReply *fields, const char *name)
{
	size_t	i;

	if (!reply_is(fields, REDIS_REPLY_ARRAY))
		return NULL;
	for (i = 0; i + 1 < fields->elements; i += 2) {
		if (reply_is(fields->element[i], REDIS_REPLY_STRING) &&
		    strcmp(fields->element[i]->str, name) == 0 &&
		    reply_is(fields->element[i + 1], REDIS_REPLY_STRING))
			return fields->element[i + 1];
	}
	return NULL;
}

/*
 * Handle the entries of an XREAD reply. Returns 1 once the x record was
 * read (how and value set), else 0; last is the id read up to.
 */
static int
follow_entries(struct bridge *b, const redisReply *r, char *last,
    size_t lastlen, enum outcome *how, int *value)
{
	const redisReply	*entries, *e, *f;
	char			 host[PROTO_HOLDER_MAX + 1];
	size_t			 i;

	if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements != 1 ||
	    !reply_is(r->element[0], REDIS_REPLY_ARRAY) ||
	    r->element[0]->elements != 2 ||
	    !reply_is(entries = r->element[0]->element[1], REDIS_REPLY_ARRAY))
		bridge_end(b, 125, "redis answered XREAD with something else");
	for (i = 0; i < entries->elements; i++) {
		e = entries->element[i];
		if (!reply_is(e, REDIS_REPLY_ARRAY) || e->elements != 2 ||
		    !reply_is(e->element[0], REDIS_REPLY_STRING))
			continue;
		strlcpy(last, e->element[0]->str, lastlen);
		if (strcmp(last, "0-1") == 0) {
			f = follow_field(e->element[1], "argv");
			if (f != NULL && strcmp(f->str, b->argv_hash) == 0)
				continue;
			proto_holder_host(b->holder, host, sizeof(host));
			f = follow_field(e->element[1], "command");
			bridge_end(b, 125, "key collision: %s runs '%s' on %s, "
			    "not this command; use another --key", b->key,
			    f != NULL ? f->str : "?", host);
		}
		if ((f = follow_field(e->element[1], "o")) != NULL)
			bridge_write(STDOUT_FILENO, f->str, f->len);
		else if ((f = follow_field(e->element[1], "e")) != NULL)
			bridge_write(STDERR_FILENO, f->str, f->len);
		else if ((f = follow_field(e->element[1], "x")) != NULL) {
			if (follow_outcome(f->str, f->len, how, value) == -1)
				bridge_end(b, 125, "run of %s on another host "
				    "ended with an unknown record", b->key);
			return 1;
		}
	}
	return 0;
}

/*
 * Follow the holder's stream to its end. Returns 1 with how and value when
 * the x record came, 0 when the leader was lost.
 */
static int
bridge_follow(struct bridge *b, enum outcome *how, int *value)
{
	char		 last[64] = "0-0";
	const char	*argv[8] = { "XREAD", "COUNT", STR(READ_COUNT), "BLOCK",
			    STR(REDIS_BLOCK_MS), "STREAMS", b->stream, last };
	const char	*get[2] = { "GET", b->lease };
	char		 block[32];
	redisReply	*r;
	uint64_t	 ms, now;
	int		 drained = 0, same;

	for (;;) {
		/*
		 * This host's --run-timeout ends its part: the run goes on
		 * where it is led, for the hosts still following it.
		 */
		ms = drained ? 1 : REDIS_BLOCK_MS;
		if (b->deadline != 0) {
			if ((now = loop_now()) >= b->deadline) {
				bridge_report(b, "end timeout 0");
				_exit(124);
			}
			if (b->deadline - now < ms)
				ms = b->deadline - now;
		}
		/* BLOCK 0 would wait forever: a drain blocks 1 ms. */
		snprintf(block, sizeof(block), "%llu", (unsigned long long)ms);
		argv[4] = block;
		r = redis_strv(b->redis, loop_now() + b->req.lease_ms, 8, argv);
		if (r == NULL)
			bridge_end(b, 75, "lost contact with redis while "
			    "following %s: %s", b->key, redis_error(b->redis));
		if (r->type == REDIS_REPLY_ERROR)
			bridge_end(b, 125, "redis: XREAD: %s", r->str);
		if (r->type != REDIS_REPLY_NIL) {
			if (follow_entries(b, r, last, sizeof(last), how,
			    value)) {
				freeReplyObject(r);
				return 1;
			}
			freeReplyObject(r);
			continue;
		}
		freeReplyObject(r);
		if (drained)
			return 0;	/* the lease moved, no end came */
		/* Nothing for a while: is the leader still there? */
		r = redis_strv(b->redis, loop_now() + b->req.lease_ms, 2, get);
		if (r == NULL)
			bridge_end(b, 75, "lost contact with redis while "
			    "following %s: %s", b->key, redis_error(b->redis));
		same = reply_is(r, REDIS_REPLY_STRING) &&
		    strcmp(r->str, b->value) == 0;
		freeReplyObject(r);
		if (!same)
			drained = 1;	/* read what is left, once */
	}
}

/*
 * Lead or follow; when a followed leader is lost, fail (75), or with
 * --on-leader-loss rerun try for the lease again: one host wins it and
 * runs the command, the others follow that run.
 */
static void __attribute__((noreturn))
bridge_run(struct bridge *b)
{
	enum outcome	how;
	char		host[PROTO_HOLDER_MAX + 1];
	int		value, again = 0;

	for (;;) {
		if (bridge_acquire(b)) {
			if (again)
				bridge_say("running generation %llu of %s here",
				    (unsigned long long)b->gen, b->key);
			bridge_lead(b, 1);
		}
		proto_holder_host(b->holder, host, sizeof(host));
		/* --no-join holds across hosts: the key is in flight there. */
		if (!again && (b->req.flags & RUN_NOJOIN))
			bridge_end(b, 75, "%s is running on %s (generation "
			    "%llu); not joining it (--no-join)", b->key, host,
			    (unsigned long long)b->gen);
		if (again)
			bridge_say("following generation %llu of %s on %s",
			    (unsigned long long)b->gen, b->key, host);
		if (bridge_follow(b, &how, &value))
			bridge_exit(b, how, value);
		if (!(b->req.backend_flags & BACKEND_RERUN))
			bridge_end(b, 75, "the run of %s on %s (generation "
			    "%llu) lost its leader before it ended", b->key,
			    host, (unsigned long long)b->gen);
		bridge_say("the run of %s on %s (generation %llu) lost its "
		    "leader; it runs again (--on-leader-loss rerun)", b->key,
		    host, (unsigned long long)b->gen);
		again = 1;
	}
}

/*
 * Wipe what this process no longer needs of the password, and keep it from
 * the command, which gets SFRUN_FENCE instead: as the request carried it,
 * in SFRUN_REDIS_PASSWORD, and in the URL of the request and of
 * SFRUN_BACKEND (rewritten without it, in place). The connection keeps its
 * own copy, to log in again after a reconnect.
 */
static void
bridge_forget_secrets(struct bridge *b)
{
	char	*s;

	explicit_bzero((char *)b->req.password, strlen(b->req.password));
	explicit_bzero(b->url.pass, sizeof(b->url.pass));
	redisurl_strip_password((char *)b->req.url);
	if ((s = getenv("SFRUN_REDIS_PASSWORD")) != NULL)
		explicit_bzero(s, strlen(s));
	unsetenv("SFRUN_REDIS_PASSWORD");
	if ((s = getenv("SFRUN_BACKEND")) != NULL)
		redisurl_strip_password(s);
}

/*
 * sfrund --bridge -- COMMAND...: the main of a backend run. Never returns:
 * it exits as the run ended.
 */
int
bridge_main(int argc, char *argv[])
{
	struct bridge	 b;
	char		 cause[PROTO_TEXT_MAX - 64];
	int		 refused;

	memset(&b, 0, sizeof(b));
	b.side = RUN_SIDE_FD;
	fcntl(b.side, F_SETFD, FD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);	/* this host's waiters may be gone */
	if (argc < 1) {
		bridge_report(&b, "end failed bridge: no command");
		return 125;
	}
	b.argv = argv;
	if (bridge_config(&b, cause, sizeof(cause)) == -1)
		bridge_end(&b, 125, "%s", cause);
	bridge_names(&b);
	if (b.req.run_timeout_ms > 0)
		b.deadline = loop_now() + b.req.run_timeout_ms;
	setproctitle("-sfrun-bridge %s", b.key);
	b.redis = redis_open(&b.url, b.req.password, cause, sizeof(cause),
	    &refused);
	bridge_forget_secrets(&b);
	if (b.redis == NULL) {
		/* Only an unreachable Redis: a refusal is a mistake to fix. */
		if (!(b.req.backend_flags & BACKEND_FALLBACK) || refused)
			bridge_end(&b, 125, "%s", cause);
		bridge_say("%s; running %s on this host alone (--fallback "
		    "local)", cause, b.key);
		bridge_report(&b, "role local");
		bridge_lead(&b, 0);
	}
	bridge_run(&b);
}
