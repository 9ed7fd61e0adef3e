/*
 * The bridge: how a run of this host takes part in a run across hosts.
 *
 * sfrund starts it for a backend run (`sfrund --bridge -- COMMAND...`):
 * what it writes on stdout and stderr goes to the local waiters. On
 * RUN_SIDE_FD it speaks proto.h frames with the server: it reads the run
 * request (MSG_RUN), says which part this host plays (MSG_ROLE), and how
 * its part ended when that is its to say (MSG_DONE).
 *
 * It takes the key's lease in Redis. If it gets it, this host leads: the
 * server starts the command (run.c supervises every command) and hands over
 * the read ends of its output (MSG_LEAD); the bridge copies it both to its
 * own stdout/stderr and into a Redis stream, renews the lease, and once the
 * server says how the command ended (MSG_DONE), closes the stream with it.
 * If another host holds the lease, it follows: it replays that host's
 * stream from its first entry, then follows it live, and reports how the
 * command there ended. It never forks, waits or kills. SIGTERM, held
 * blocked, is the server's "leave": what it took in Redis is given back
 * first. The layout of the keys is in DISTRIBUTED.md and in sfrun(1).
 */
#include <sys/types.h>
#include <sys/signalfd.h>

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
#include "redis.h"
#include "redisurl.h"
#include "run.h"
#include "sock.h"

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


struct bridge {
	struct proto_run	 req;
	struct pbuf		 cfg;		/* req points into it */
	struct pbuf		 in;		/* from the server */
	size_t			 used;		/* of in: the last frame */
	char		       **argv;		/* the command */
	char			 key[PROTO_KEY_MAX + 1];
	char			 command[PROTO_COMMAND_MAX + 1];
	struct redis_url	 url;
	struct redis		*redis;
	int			 side;
	int			 sigfd;		/* SIGTERM */

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

/*
 * Write all of buf to fd. Any error ends it silently: the readers are the
 * server and this host's waiters, and with them gone no one is left to tell.
 */
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

/* Send one frame to the server; lost if the server is gone. */
static void
bridge_send(struct bridge *b, struct pbuf *frame)
{
	bridge_write(b->side, frame->data + frame->off, pbuf_used(frame));
	pbuf_free(frame);
}

/* Tell the server the part this host plays. */
static void
bridge_role(struct bridge *b, uint32_t role)
{
	struct proto_role	r;
	struct pbuf		f = { 0 };

	memset(&r, 0, sizeof(r));
	r.role = role;
	if (role != ROLE_LOCAL) {
		r.gen = b->gen;
		strlcpy(r.holder, b->holder, sizeof(r.holder));
	}
	proto_encode_role(&f, &r);
	bridge_send(b, &f);
}

/* Tell the server how this host's part ended, and exit. */
static void __attribute__((noreturn))
bridge_done(struct bridge *b, uint32_t how, int value, const char *text)
{
	struct proto_done	d;
	struct pbuf		f = { 0 };

	memset(&d, 0, sizeof(d));
	d.how = how;
	d.value = value;
	if (text != NULL)
		strlcpy(d.text, text, sizeof(d.text));
	proto_encode_done(&f, &d);
	bridge_send(b, &f);
	_exit(0);
}

/* A line of sfrun's own on this host's stderr (the waiters see it). */
static void
bridge_say(const char *fmt, ...)
{
	char	line[PROTO_TEXT_MAX];
	va_list	ap;
	size_t	n;

	n = strlcpy(line, "sfrun: ", sizeof(line));
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	line[strcspn(line, "\n")] = '\0';
	n = strlen(line);
	line[n++] = '\n';
	bridge_write(STDERR_FILENO, line, n);
}

/* End as failed (DONE_FAILED) or lost (DONE_LOST), saying why. */
static void __attribute__((noreturn))
bridge_end(struct bridge *b, uint32_t how, const char *fmt, ...)
{
	char	text[PROTO_TEXT_MAX];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	text[strcspn(text, "\n")] = '\0';
	bridge_done(b, how, 0, text);
}

/* Has the server asked this bridge to leave (SIGTERM, kept blocked)? */
static int
bridge_cancelled(void)
{
	sigset_t	set;

	return sigpending(&set) == 0 && sigismember(&set, SIGTERM) == 1;
}

static int
reply_is(const redisReply *r, int type)
{
	return r != NULL && r->type == type;
}

/*
 * The next frame from the server, waiting for it; descriptors that came
 * with it in fds (up to 2, the rest closed). 0 when the server has gone.
 */
static int
bridge_next(struct bridge *b, uint32_t *type, const uint8_t **payload,
    uint32_t *plen, int *fds, int *nfds, const char **errstr)
{
	int	got[SOCK_MAXFDS], ngot = 0, used, i;
	ssize_t	n;

	for (;;) {
		if (b->used > 0) {
			pbuf_consume(&b->in, b->used);
			b->used = 0;
		}
		used = proto_next(b->in.data + b->in.off, pbuf_used(&b->in),
		    type, payload, plen, errstr);
		if (used == -1)
			return 0;
		if (used > 0) {
			b->used = (size_t)used;
			return 1;
		}
		if (pbuf_reserve(&b->in, 65536) == -1) {
			*errstr = strerror(errno);
			return 0;
		}
		n = sock_recv(b->side, b->in.data + b->in.len, b->in.cap -
		    b->in.len, got, &ngot);
		for (i = 0; i < ngot; i++) {
			if (nfds != NULL && *nfds < 2)
				fds[(*nfds)++] = got[i];
			else
				close(got[i]);
		}
		ngot = 0;
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			*errstr = n == 0 ? "the server has gone" :
			    strerror(errno);
			return 0;
		}
		b->in.len += (size_t)n;
	}
}

/* Read the request the server sent first: one MSG_RUN. */
static int
bridge_config(struct bridge *b, char *cause, size_t clen)
{
	const uint8_t	*payload = NULL;
	const char	*errstr = "no request";
	uint32_t	 type = 0, plen = 0;

	/* Kept apart from what is read later: req points into it. */
	if (!bridge_next(b, &type, &payload, &plen, NULL, NULL, &errstr) ||
	    type != MSG_RUN || pbuf_add(&b->cfg, payload, plen) == -1 ||
	    proto_decode_run(b->cfg.data, plen, &b->req, &errstr) == -1 ||
	    b->req.url == NULL) {
		snprintf(cause, clen, "bridge: bad request: %s", errstr);
		return -1;
	}
	explicit_bzero(b->in.data, b->in.cap);	/* a password, maybe */
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
		bridge_end(b, DONE_FAILED, "%s", redis_error(b->redis));
	if (r->type == REDIS_REPLY_ERROR)
		bridge_end(b, DONE_FAILED, "redis refused to take the lease of %s: %s",
		    b->lease, r->str);
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    !reply_is(r->element[0], REDIS_REPLY_INTEGER) ||
	    !reply_is(r->element[1], REDIS_REPLY_STRING) ||
	    bridge_parse_value(b, r->element[1]->str, r->element[1]->len) ==
	    -1)
		bridge_end(b, DONE_FAILED, "the lease %s holds something that is not "
		    "sfrun's", b->lease);
	/*
	 * A command sent again after a lost reply may find the lease its
	 * first sending took: the owner (with its nonce) says it is ours.
	 */
	mine = r->element[0]->integer == 1 ||
	    strcmp(b->holder, b->owner) == 0;
	freeReplyObject(r);
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
 * Give the lease back if it is still ours, the stream left to linger: the
 * end of a run led here, or of a lead given up (cancelled, the server
 * gone), which the hosts that follow see as a lost leader.
 */
static void
lead_finish(struct lead *l)
{
	if (l->b->gen != 0 && l->b->value[0] != '\0')
		lead_script(l, finish_lua, l->b->req.backend_linger_ms, 0,
		    loop_now() + l->b->req.lease_ms);
}

/* The x record of the command's end, and what the other hosts print. */
static void
lead_outcome(struct lead *l, const struct proto_done *d)
{
	char	x[32], msg[PROTO_TEXT_MAX + 64];
	int	n = 0;

	switch (d->how) {
	case DONE_EXITED:
		snprintf(x, sizeof(x), "exit:%d", d->value & 0xff);
		break;
	case DONE_SIGNALED:
		snprintf(x, sizeof(x), "signal:%d", d->value);
		break;
	case DONE_TIMED_OUT:
		snprintf(x, sizeof(x), "timeout:%d", d->value);
		break;
	case DONE_EXEC_FAILED:
		/* Said the same way on every other host as here. */
		n = snprintf(msg, sizeof(msg), "sfrun: %s: %s\n",
		    l->b->argv[0], strerror(d->value));
		snprintf(x, sizeof(x), "exit:%d", d->value == ENOENT ? 127 :
		    126);
		break;
	default:
		n = snprintf(msg, sizeof(msg), "sfrun: run %s failed on %s: "
		    "%s\n", l->b->key, l->b->host, d->text);
		snprintf(x, sizeof(x), "exit:125");
		break;
	}
	if (n > 0 && (size_t)n < sizeof(msg))
		lead_append(l, "e", msg, (size_t)n);
	lead_append(l, "x", x, strlen(x));
}

/*
 * One frame from the server while leading: MSG_LEAD (the read ends of the
 * command's output, which the server started) or MSG_DONE (how it ended,
 * or why it could not start). -1 if the server has gone or said something
 * else.
 */
static int
lead_frame(struct lead *l, struct pollfd *pfd, struct proto_done *d,
    int *done)
{
	const uint8_t	*payload;
	const char	*errstr;
	uint32_t	 type, plen, streams;
	int		 fds[2], nfds = 0, i;

	if (!bridge_next(l->b, &type, &payload, &plen, fds, &nfds, &errstr))
		return -1;
	if (type == MSG_LEAD && pfd[0].fd == -1 &&
	    proto_decode_u32(payload, plen, &streams) == 0 &&
	    (streams == 1 || streams == 2) && (uint32_t)nfds == streams) {
		for (i = 0; i < nfds; i++) {
			fcntl(fds[i], F_SETFL, O_NONBLOCK);
			pfd[i].fd = fds[i];
		}
		return 0;
	}
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	if (type == MSG_DONE && proto_decode_done(payload, plen, d) == 0) {
		*done = 1;
		return 0;
	}
	return -1;
}

/*
 * Lead: the server runs the command and hands this bridge its output,
 * which it copies to this host's waiters and, when there is a stream
 * (publish is 0 for --fallback local), into Redis, keeping the lease
 * meanwhile. Once the server says how the command ended, the output left
 * in the pipes is taken (never waited for: a descendant may hold them) and
 * the stream ended. SIGTERM (the server wants it gone) or the server's
 * going ends the lead as lost for the other hosts.
 */
static void __attribute__((noreturn))
bridge_lead(struct bridge *b, int publish)
{
	struct lead		 l = { b, publish, 2, 0, 0, 0 };
	struct pollfd		 pfd[4];
	struct proto_done	 d;
	uint64_t		 now, next;
	int			 i, done = 0, gone;

	if (publish) {
		/* Counted from when it was asked for, as renewals are. */
		l.valid_until = b->asked_at + b->req.lease_ms - LEASE_MARGIN_MS;
		l.renew_at = b->asked_at + b->req.lease_ms / 3;
	}
	bridge_role(b, publish ? ROLE_LEADER : ROLE_LOCAL);
	pfd[0].fd = pfd[1].fd = -1;
	pfd[2].fd = b->side;
	pfd[3].fd = b->sigfd;
	for (i = 0; i < 4; i++)
		pfd[i].events = POLLIN;
	memset(&d, 0, sizeof(d));
	while (!done) {
		now = loop_now();
		if (l.publishing && now >= l.renew_at)
			lead_renew(&l);
		next = l.publishing ? l.renew_at : UINT64_MAX;
		now = loop_now();
		if (poll(pfd, 4, next == UINT64_MAX ? -1 : next <= now ? 0 :
		    next - now > INT_MAX ? INT_MAX : (int)(next - now)) == -1 &&
		    errno != EINTR)
			break;
		if (pfd[3].revents & POLLIN)
			break;		/* SIGTERM */
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd == -1 || !(pfd[i].revents &
			    (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (lead_copy(&l, pfd[i].fd, i) == -1) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
			}
		}
		if (!(pfd[2].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		/* A frame, and any other read with it; -1: the server left. */
		while ((gone = lead_frame(&l, pfd, &d, &done)) == 0 && !done &&
		    pbuf_used(&b->in) > b->used)
			;
		if (gone)
			break;
	}
	if (!done) {
		lead_finish(&l);
		_exit(1);	/* not all of the output may have been copied */
	}
	for (i = 0; i < 2; i++) {
		while (pfd[i].fd != -1 && lead_copy(&l, pfd[i].fd, i) == 1)
			;
		if (pfd[i].fd != -1)
			close(pfd[i].fd);
	}
	lead_outcome(&l, &d);
	lead_finish(&l);
	_exit(0);
}

/* Parse an x record: exit:N, signal:S or timeout:S. */
static int
follow_outcome(const char *s, size_t len, uint32_t *how, int *value)
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
		*how = DONE_EXITED;
		*value = (int)strtonum(colon + 1, 0, 255, &errstr);
	} else if (strncmp(buf, "signal:", 7) == 0) {
		*how = DONE_SIGNALED;
		*value = (int)strtonum(colon + 1, 1, NSIG - 1, &errstr);
	} else if (strncmp(buf, "timeout:", 8) == 0) {
		*how = DONE_TIMED_OUT;
		*value = (int)strtonum(colon + 1, 1, NSIG - 1, &errstr);
	} else
		return -1;
	if (errstr != NULL)
		return -1;
	/*
	 * No command ends by a stop signal; raised here, one would stop the
	 * bridge, and the waiters with it, for good.
	 */
	if (*how != DONE_EXITED && (*value == SIGSTOP || *value == SIGTSTP ||
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
    size_t lastlen, uint32_t *how, int *value)
{
	const redisReply	*entries, *e, *f;
	char			 host[PROTO_HOLDER_MAX + 1];
	size_t			 i;

	if (!reply_is(r, REDIS_REPLY_ARRAY) || r->elements != 1 ||
	    !reply_is(r->element[0], REDIS_REPLY_ARRAY) ||
	    r->element[0]->elements != 2 ||
	    !reply_is(entries = r->element[0]->element[1], REDIS_REPLY_ARRAY))
		bridge_end(b, DONE_FAILED, "redis answered XREAD with something else");
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
			bridge_end(b, DONE_FAILED, "key collision: %s runs '%s' on %s, "
			    "not this command; use another --key", b->key,
			    f != NULL ? f->str : "?", host);
		}
		if ((f = follow_field(e->element[1], "o")) != NULL)
			bridge_write(STDOUT_FILENO, f->str, f->len);
		else if ((f = follow_field(e->element[1], "e")) != NULL)
			bridge_write(STDERR_FILENO, f->str, f->len);
		else if ((f = follow_field(e->element[1], "x")) != NULL) {
			if (follow_outcome(f->str, f->len, how, value) == -1)
				bridge_end(b, DONE_FAILED, "run of %s on another host "
				    "ended with an unknown record", b->key);
			return 1;
		}
	}
	return 0;
}

/*
 * The stream is gone from Redis: expired after the run's end (--backend-
 * linger) or long after its leader was lost, or Redis restarted. An error
 * does not say so: the caller goes on as for a lost leader.
 */
static int
follow_gone(struct bridge *b)
{
	const char	*argv[2] = { "EXISTS", b->stream };
	redisReply	*r;
	int		 gone;

	r = redis_strv(b->redis, loop_now() + b->req.lease_ms, 2, argv);
	gone = reply_is(r, REDIS_REPLY_INTEGER) && r->integer == 0;
	freeReplyObject(r);
	return gone;
}

/*
 * Follow the holder's stream to its end. Returns 1 with how and value when
 * the x record came, 0 when the leader was lost, -1 when the stream was
 * gone before its end was read.
 */
static int
bridge_follow(struct bridge *b, uint32_t *how, int *value)
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
		if (bridge_cancelled())
			_exit(0);	/* a follower holds nothing in Redis */
		ms = drained ? 1 : REDIS_BLOCK_MS;
		if (b->deadline != 0) {
			if ((now = loop_now()) >= b->deadline)
				bridge_done(b, DONE_UNFOLLOWED, 0, NULL);
			if (b->deadline - now < ms)
				ms = b->deadline - now;
		}
		/* BLOCK 0 would wait forever: a drain blocks 1 ms. */
		snprintf(block, sizeof(block), "%llu", (unsigned long long)ms);
		argv[4] = block;
		r = redis_strv(b->redis, loop_now() + b->req.lease_ms, 8, argv);
		if (r == NULL)
			bridge_end(b, DONE_LOST, "lost contact with redis while "
			    "following %s: %s", b->key, redis_error(b->redis));
		if (r->type == REDIS_REPLY_ERROR)
			bridge_end(b, DONE_FAILED, "redis: XREAD: %s", r->str);
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
		if (drained)	/* the lease moved, no end came */
			return follow_gone(b) ? -1 : 0;
		/* Nothing for a while: is the leader still there? */
		r = redis_strv(b->redis, loop_now() + b->req.lease_ms, 2, get);
		if (r == NULL)
			bridge_end(b, DONE_LOST, "lost contact with redis while "
			    "following %s: %s", b->key, redis_error(b->redis));
		same = reply_is(r, REDIS_REPLY_STRING) &&
		    strcmp(r->str, b->value) == 0;
		freeReplyObject(r);
		if (!same)
			drained = 1;	/* read what is left, once */
	}
}

/* Give back the lease just taken: cancelled before anything ran. */
static void
bridge_release(struct bridge *b)
{
	struct lead	l = { b, 1, 2, 0, 0, 0 };

	lead_finish(&l);
}

/*
 * Lead or follow; when a followed leader is lost, fail (75), or with
 * --on-leader-loss rerun try for the lease again: one host wins it and
 * runs the command, the others follow that run.
 */
static void __attribute__((noreturn))
bridge_run(struct bridge *b)
{
	uint32_t	how;
	char		host[PROTO_HOLDER_MAX + 1];
	int		value, again = 0, mine, n;

	for (;;) {
		/* A rerun past this host's --run-timeout: it stops here. */
		if (again && b->deadline != 0 && loop_now() >= b->deadline)
			bridge_done(b, DONE_UNFOLLOWED, 0, NULL);
		mine = bridge_acquire(b);
		/* Cancelled meanwhile: whatever was taken is given back. */
		if (bridge_cancelled()) {
			if (mine)
				bridge_release(b);
			_exit(0);
		}
		if (mine) {
			if (again)
				bridge_say("running generation %llu of %s here",
				    (unsigned long long)b->gen, b->key);
			bridge_lead(b, 1);
		}
		bridge_role(b, ROLE_FOLLOWER);
		proto_holder_host(b->holder, host, sizeof(host));
		/* --no-join holds across hosts: the key is in flight there. */
		if (!again && (b->req.flags & RUN_NOJOIN))
			bridge_end(b, DONE_LOST, "%s is running on %s (generation "
			    "%llu); not joining it (--no-join)", b->key, host,
			    (unsigned long long)b->gen);
		if (again)
			bridge_say("following generation %llu of %s on %s",
			    (unsigned long long)b->gen, b->key, host);
		if ((n = bridge_follow(b, &how, &value)) == 1)
			bridge_done(b, how, value, NULL);
		/* Without the log, which of the three cannot be told. */
		if (n == -1 && !(b->req.backend_flags & BACKEND_RERUN))
			bridge_end(b, DONE_LOST, "the log of %s's run on %s "
			    "(generation %llu) left redis before this host read "
			    "its end: the run ended more than --backend-linger "
			    "ago, lost its leader, or redis restarted", b->key,
			    host, (unsigned long long)b->gen);
		if (!(b->req.backend_flags & BACKEND_RERUN))
			bridge_end(b, DONE_LOST, "the run of %s on %s (generation "
			    "%llu) lost its leader before it ended", b->key,
			    host, (unsigned long long)b->gen);
		if (n == -1)
			bridge_say("the log of %s's run on %s (generation "
			    "%llu) left redis before this host read its end; "
			    "it runs again (--on-leader-loss rerun)", b->key,
			    host, (unsigned long long)b->gen);
		else
			bridge_say("the run of %s on %s (generation %llu) lost "
			    "its leader; it runs again (--on-leader-loss "
			    "rerun)", b->key, host, (unsigned long long)b->gen);
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
	sigset_t	 term;
	int		 refused;

	memset(&b, 0, sizeof(b));
	b.side = RUN_SIDE_FD;
	fcntl(b.side, F_SETFD, FD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);	/* this host's waiters may be gone */
	/*
	 * SIGTERM is the server's "leave": held until a moment when what
	 * this bridge took in Redis can be given back.
	 */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &term, NULL) == -1 ||
	    (b.sigfd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		bridge_end(&b, DONE_FAILED, "bridge: %s", strerror(errno));
	if (argc < 1)
		bridge_end(&b, DONE_FAILED, "bridge: no command");
	b.argv = argv;
	if (bridge_config(&b, cause, sizeof(cause)) == -1)
		bridge_end(&b, DONE_FAILED, "%s", cause);
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
			bridge_end(&b, DONE_FAILED, "%s", cause);
		bridge_say("%s; running %s on this host alone (--fallback "
		    "local)", cause, b.key);
		bridge_lead(&b, 0);
	}
	bridge_run(&b);
}
