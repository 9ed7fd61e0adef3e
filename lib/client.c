/*
 * The client. It connects to the server (starting one if none answers),
 * sends its request, and for a run copies output itself: the server hands it
 * the run's spool file and announces stretch by stretch which stream each
 * part of it is, and the client copies them to its own stdout and stderr,
 * with splice(2) or sendfile(2) where it can. Then it exits as the command
 * did.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "duration.h"
#include "key.h"
#include "proto.h"
#include "sig.h"
#include "sock.h"
#include "status.h"

/* A connection to the server and what has been read from it. */
struct client {
	int		 fd;
	char		 path[PATH_MAX];
	struct pbuf	 in;
	int		 fds[SOCK_MAXFDS];
	int		 nfds;
	int		 quiet;
};

/* How an output descriptor takes bytes from a spool. */
enum sink_kind { SINK_SPLICE, SINK_SENDFILE, SINK_WRITE, SINK_GONE };

struct sink {
	int		 fd;
	enum sink_kind	 kind;
};

/* How long a server that holds the pidfile has to answer again. */
#define AUTOSTART_WAIT_MS	3000
/* Servers started in one autostart that were gone before we connected. */
#define SPAWNS_MAX		5
/* Connections closed before the server's hello: started over so often. */
#define RESTARTS_MAX		50

static char	timeout_msg[256];

static void __attribute__((format(printf, 2, 3)))
client_say(int quiet, const char *fmt, ...)
{
	va_list	ap;

	if (quiet)
		return;
	va_start(ap, fmt);
	fputs("sfrun: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* --timeout: say so (async-signal-safely) and leave with 124. */
static void
client_alarm(int sig)
{
	size_t	len = strlen(timeout_msg);

	(void)sig;
	if (len > 0)
		(void)write(STDERR_FILENO, timeout_msg, len);
	_exit(124);
}

static void
client_arm_timeout(const struct client_opts *o)
{
	struct itimerval	it;
	char			dur[32];

	if (o->timeout_ms == 0)
		return;
	duration_format(o->timeout_ms, dur, sizeof(dur));
	if (!o->quiet)
		snprintf(timeout_msg, sizeof(timeout_msg), "sfrun: gave up "
		    "waiting after %s (--timeout)\n", dur);
	signal(SIGALRM, client_alarm);
	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = (time_t)(o->timeout_ms / 1000);
	it.it_value.tv_usec = (suseconds_t)(o->timeout_ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &it, NULL);
}

/* The sfrund beside this executable, else "sfrund" to be found on PATH. */
static void
client_server_path(char *buf, size_t len)
{
	char	self[PATH_MAX];
	ssize_t	n;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		snprintf(buf, len, "%s/sfrund", dirname(self));
		if (access(buf, X_OK) == 0)
			return;
	}
	strlcpy(buf, "sfrund", len);
}

/* Start sfrund on path and wait until it is listening (it detaches). */
static int
client_spawn_server(const char *path, char *cause, size_t clen)
{
	char	prog[PATH_MAX];
	pid_t	pid;
	int	status, nul;

	client_server_path(prog, sizeof(prog));
	if ((pid = fork()) == -1) {
		snprintf(cause, clen, "cannot start sfrund: fork: %s",
		    strerror(errno));
		return -1;
	}
	if (pid == 0) {
		if ((nul = open("/dev/null", O_RDWR)) != -1) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		closefrom(3);
		execlp(prog, "sfrund", "-S", path, (char *)NULL);
		fprintf(stderr, "sfrun: cannot run %s: %s\n", prog,
		    strerror(errno));
		_exit(125);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			snprintf(cause, clen, "waitpid: %s", strerror(errno));
			return -1;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(cause, clen, "could not start the server %.200s on %.200s",
		    prog, path);
		return -1;
	}
	return 0;
}

/*
 * The pid of a server that holds the pidfile beside the socket (it runs),
 * else 0.
 */
static pid_t
client_server_holding(const char *path)
{
	char		 pidpath[PATH_MAX], buf[32];
	const char	*errstr;
	ssize_t		 n;
	pid_t		 pid = 0;
	int		 fd;

	if (sock_sibling(path, ".pid", pidpath, sizeof(pidpath)) == -1 ||
	    (fd = open(pidpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0)
		flock(fd, LOCK_UN);	/* nobody holds it */
	else if ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		pid = (pid_t)strtonum(buf, 1, INT_MAX, &errstr);
	}
	close(fd);
	return pid;
}

/*
 * Start a server, or get the running one to answer again. A server that
 * holds the pidfile but has no socket file (a tmp cleaner removed it) is
 * asked with SIGUSR1 to make it again; one that is stopping lets the
 * pidfile go in a moment. Either way the socket answers within
 * AUTOSTART_WAIT_MS, or a new server can be started.
 */
static int
client_autostart(struct client *c, char *cause, size_t clen)
{
	struct timespec	 pause = { 0, 20000000L };	/* 20 ms */
	pid_t		 pid;
	int		 i, spawned = 0;

	for (i = 0; i < AUTOSTART_WAIT_MS / 20; i++) {
		if ((c->fd = sock_connect(c->path)) != -1)
			return 0;
		if (errno != ENOENT && errno != ECONNREFUSED)
			break;
		if ((pid = client_server_holding(c->path)) != 0) {
			if (i % 25 == 0)
				kill(pid, SIGUSR1);
			nanosleep(&pause, NULL);
			continue;
		}
		/*
		 * Started, but gone again before we connected (a very short
		 * idle timeout on a loaded machine): started once more.
		 */
		if (spawned++ == SPAWNS_MAX)
			break;
		if (client_spawn_server(c->path, cause, clen) == -1)
			return -1;
	}
	snprintf(cause, clen, "%s server but cannot connect to %s: %s",
	    spawned > 0 ? "started a" : "found a running", c->path,
	    strerror(errno));
	return -1;
}

/*
 * Connect to the server, starting one if none answers. Under a lock beside
 * the socket, so that clients starting at once start exactly one server:
 * whoever gets the lock connects again first, and starts one only if that
 * still fails.
 */
static int
client_connect(struct client *c, const char *sock, int autostart,
    char *cause, size_t clen)
{
	char		lockpath[PATH_MAX];
	const char	*no;
	int		lock, saved;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (sock_path(sock, c->path, sizeof(c->path), cause, clen) == -1 ||
	    sock_prepare_dir(c->path, cause, clen) == -1)
		return -1;
	if ((c->fd = sock_connect(c->path)) != -1)
		return 0;
	if (errno == ENOTSOCK) {
		snprintf(cause, clen, "%s is not a socket; refusing it",
		    c->path);
		return -1;
	}
	if (errno != ENOENT && errno != ECONNREFUSED) {
		snprintf(cause, clen, "cannot connect to %s: %s", c->path,
		    strerror(errno));
		return -1;
	}
	no = getenv("SFRUN_NO_AUTOSTART");
	if (!autostart || (no != NULL && strcmp(no, "1") == 0)) {
		snprintf(cause, clen, "no server on %s", c->path);
		errno = ENOENT;
		return -1;
	}
	if (sock_sibling(c->path, ".lock", lockpath, sizeof(lockpath)) == -1 ||
	    (lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600)) == -1) {
		snprintf(cause, clen, "cannot open the lock beside %s: %s",
		    c->path, strerror(errno));
		return -1;
	}
	while (flock(lock, LOCK_EX) == -1 && errno == EINTR)
		;
	(void)client_autostart(c, cause, clen);
	saved = errno;
	close(lock);
	errno = saved;
	return c->fd == -1 ? -1 : 0;
}

/* Send a whole buffer; the descriptors go with its first byte. */
static int
client_send(struct client *c, struct pbuf *b, const int *fds, int nfds)
{
	ssize_t	n;

	while (pbuf_used(b) > 0) {
		n = sock_send(c->fd, b->data + b->off, pbuf_used(b), fds,
		    nfds);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		nfds = 0;
		pbuf_consume(b, (size_t)n);
	}
	return 0;
}

/*
 * Read the next frame (blocking). Returns 1 with the frame, 0 at end of
 * file, -1 on an error or a frame that breaks the protocol.
 */
static int
client_next(struct client *c, uint32_t *type, const uint8_t **payload,
    uint32_t *len, int *used)
{
	const char	*errstr;
	ssize_t		 n;
	int		 r;

	for (;;) {
		r = proto_next(c->in.data + c->in.off, pbuf_used(&c->in), type,
		    payload, len, &errstr);
		if (r > 0) {
			*used = r;
			return 1;
		}
		if (r == -1) {
			errno = EPROTO;
			return -1;
		}
		if (pbuf_reserve(&c->in, 65536) == -1)
			return -1;
		n = sock_recv(c->fd, c->in.data + c->in.len,
		    c->in.cap - c->in.len, c->fds, &c->nfds);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (int)n;
		c->in.len += (size_t)n;
	}
}

/*
 * Expect the server's hello first; a version mismatch names both. Returns
 * 1, silently, if the connection was closed before it: the server did
 * nothing with the request (it was exiting on idle, handing over, or died)
 * and the caller may start over.
 */
static int
client_hello(struct client *c)
{
	const uint8_t	*p;
	const char	*errstr;
	uint32_t	 type, len, version;
	int		 used, r;

	if ((r = client_next(c, &type, &p, &len, &used)) != 1) {
		if (r == 0 || errno == ECONNRESET)
			return 1;
		client_say(c->quiet, "the server on %s: %s", c->path,
		    strerror(errno));
		return -1;
	}
	if (type != MSG_HELLO || proto_decode_hello(p, len, &version,
	    &errstr) == -1) {
		client_say(c->quiet, "the server on %s is not sfrund",
		    c->path);
		return -1;
	}
	pbuf_consume(&c->in, (size_t)used);
	if (version != PROTOCOL_VERSION) {
		client_say(c->quiet, "protocol mismatch: sfrun speaks version "
		    "%u, sfrund on %s speaks %u (stop it with sfrun "
		    "--stop-server)", PROTOCOL_VERSION, c->path, version);
		return -1;
	}
	return 0;
}

static void
client_close(struct client *c)
{
	int	i;

	if (c->fd != -1)
		close(c->fd);
	for (i = 0; i < c->nfds; i++)
		close(c->fds[i]);
	pbuf_free(&c->in);
}

/* Put argv, the environment and the limits into a run request. */
static int
client_request(const struct client_opts *o, const char *key,
    const char *password, struct pbuf *out, int *cwdfd)
{
	extern char	**environ;
	struct proto_run  req;
	struct rlimit	  rl;
	struct pbuf	  args = { 0 }, env = { 0 };
	mode_t		  mask;
	int		  i, r;

	memset(&req, 0, sizeof(req));
	req.flags = o->flags;
	mask = umask(0);
	umask(mask);
	req.umask = mask;
	req.join_window_ms = o->join_window_ms;
	req.run_timeout_ms = o->run_timeout_ms;
	req.kill_after_ms = o->kill_after_ms;
	req.linger_ms = o->linger_ms;
	for (i = 0; i < PROTO_NLIMITS && i < RLIM_NLIMITS; i++) {
		if (getrlimit(i, &rl) == -1)
			rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
		req.limits[i][0] = rl.rlim_cur;
		req.limits[i][1] = rl.rlim_max;
	}
	for (i = 0; i < o->argc; i++)
		if (pbuf_add(&args, o->argv[i], strlen(o->argv[i]) + 1) == -1)
			return -1;
	for (i = 0; environ[i] != NULL; i++)
		if (pbuf_add(&env, environ[i], strlen(environ[i]) + 1) == -1)
			return -1;
	req.argc = (uint32_t)o->argc;
	req.argv = (const char *)args.data;
	req.argvlen = (uint32_t)args.len;
	req.envc = (uint32_t)i;
	req.env = (const char *)env.data;
	req.envlen = (uint32_t)env.len;
	req.key = key;
	req.keylen = (uint32_t)strlen(key);
	if (o->backend != NULL) {
		req.url = o->backend;
		req.prefix = o->prefix;
		req.password = password;
		req.backend_flags = o->backend_flags;
		req.lease_ms = o->lease_ms;
		req.backend_linger_ms = o->backend_linger_ms;
	}
	r = proto_encode_run(out, &req);
	pbuf_free(&args);
	pbuf_free(&env);
	if (r == -1)
		return -1;
	*cwdfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	return *cwdfd == -1 ? -1 : 0;
}

/* Decide once how bytes get from a spool to this output. */
static void
sink_init(struct sink *s, int fd)
{
	struct stat	st;

	s->fd = fd;
	if (fstat(fd, &st) == -1)
		s->kind = SINK_GONE;
	else if (S_ISFIFO(st.st_mode))
		s->kind = SINK_SPLICE;
	else
		s->kind = SINK_SENDFILE;
}

/* Wait until a non-blocking output takes bytes again. */
static void
sink_wait(struct sink *s)
{
	struct pollfd	pfd = { s->fd, POLLOUT, 0 };

	(void)poll(&pfd, 1, -1);
}

/* The plain way: pread from the spool, write to the output. */
static ssize_t
sink_write(struct sink *s, int spool, uint64_t off, size_t len)
{
	char	buf[65536];
	ssize_t	n, w, done;

	if (len > sizeof(buf))
		len = sizeof(buf);
	if ((n = pread(spool, buf, len, (off_t)off)) <= 0)
		return n == 0 ? -1 : n;
	for (done = 0; done < n; done += w) {
		if ((w = write(s->fd, buf + done, (size_t)(n - done))) == -1) {
			if (errno == EINTR)
				w = 0;
			else if (errno == EAGAIN) {
				sink_wait(s);
				w = 0;
			} else
				return done > 0 ? done : -1;
		}
	}
	return n;
}

/*
 * Copy the spool from *pos up to end into this sink, advancing *pos (also
 * past what a dead sink drops). An output that is closed or broken is given
 * up: a dead stdout must not stop stderr or the exit status; a broken pipe
 * raises SIGPIPE here, as for any program.
 */
static void
sink_copy(struct sink *s, int spool, uint64_t *pos, uint64_t end)
{
	loff_t	off;
	ssize_t	n;
	size_t	len;

	while (*pos < end && s->kind != SINK_GONE) {
		len = end - *pos > (1U << 30) ? (1U << 30) :
		    (size_t)(end - *pos);
		off = (loff_t)*pos;
		if (s->kind == SINK_SPLICE)
			n = splice(spool, &off, s->fd, NULL, len, 0);
		else if (s->kind == SINK_SENDFILE)
			n = sendfile(s->fd, spool, &off, len);
		else
			n = sink_write(s, spool, *pos, len);
		if (n > 0) {
			*pos += (uint64_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			sink_wait(s);
			continue;
		}
		if (n == -1 && s->kind != SINK_WRITE &&
		    (errno == EINVAL || errno == ENOSYS ||
		    errno == EOPNOTSUPP)) {
			s->kind = SINK_WRITE;	/* no zero-copy here */
			continue;
		}
		s->kind = SINK_GONE;
	}
	if (*pos < end)
		*pos = end;
}

/* Turn the end of a run into this process's exit. */
static int
client_result(const struct client_opts *o, const struct proto_done *d,
    uint64_t id)
{
	switch (d->how) {
	case DONE_EXITED:
		return d->value & 0xff;
	case DONE_SIGNALED:
		return sig_raise(d->value);
	case DONE_EXEC_FAILED:
		client_say(o->quiet, "%s: %s", d->text, strerror(d->value));
		return d->value == ENOENT ? 127 : 126;
	case DONE_LOST:
		client_say(o->quiet, "%s", d->text);
		return 75;
	case DONE_TIMED_OUT:
		client_say(o->quiet, "run %llu timed out (--run-timeout) and "
		    "was ended with signal %d", (unsigned long long)id,
		    d->value);
		return 124;
	default:
		client_say(o->quiet, "run %llu failed: %s",
		    (unsigned long long)id, d->text);
		return 125;
	}
}

/* -v: led or joined, which run, how old, how many wait on it. */
static void
client_verbose(const struct client_opts *o, const struct proto_joined *j,
    const char *key)
{
	char	age[32], *esc;

	if (!o->verbose || o->quiet)
		return;
	duration_format(j->age_ms, age, sizeof(age));
	esc = key_escape(key, strlen(key));
	fprintf(stderr, "sfrun: %s run %llu (key %s), age %s, %u waiter%s\n",
	    j->led ? "led" : "joined", (unsigned long long)j->run_id,
	    esc ? esc : "?", age, j->waiters, j->waiters == 1 ? "" : "s");
	free(esc);
}

/* Follow a run: copy announced output, then exit as the command did. */
static int
client_follow(struct client *c, const struct client_opts *o,
    const char *key)
{
	struct proto_joined	 j;
	struct proto_done	 d;
	struct sink		 sinks[2];
	const uint8_t		*p;
	uint32_t		 type, len, stream;
	uint64_t		 end, pos = 0, id = 0;
	int			 used, r, spool = -1, joined = 0;
	char			 text[PROTO_TEXT_MAX + 1];

	sink_init(&sinks[0], STDOUT_FILENO);
	sink_init(&sinks[1], STDERR_FILENO);
	while ((r = client_next(c, &type, &p, &len, &used)) == 1) {
		switch (type) {
		case MSG_JOINED:
			if (proto_decode_joined(p, len, &j) == -1 || joined)
				goto bad;
			joined = 1;
			id = j.run_id;
			client_verbose(o, &j, key);
			if (o->flags & RUN_DETACH)
				return 0;
			break;
		case MSG_DATA:
			/* The spool's file comes with the first of these. */
			if (spool == -1 && c->nfds > 0)
				spool = c->fds[0];
			if (!joined || spool == -1 ||
			    proto_decode_data(p, len, &stream, &end) == -1 ||
			    end < pos)
				goto bad;
			sink_copy(&sinks[stream], spool, &pos, end);
			break;
		case MSG_DONE:
			if (!joined || proto_decode_done(p, len, &d) == -1)
				goto bad;
			return client_result(o, &d, id);
		case MSG_BUSY:
			return 75;
		case MSG_ERROR:
			if (proto_decode_text(p, len, text, sizeof(text)) == -1)
				goto bad;
			client_say(o->quiet, "%s", text);
			return 125;
		default:
			goto bad;
		}
		pbuf_consume(&c->in, (size_t)used);
	}
	if (r == 0)
		client_say(o->quiet, "the server on %s exited during the run",
		    c->path);
	else
		client_say(o->quiet, "lost the server on %s: %s", c->path,
		    strerror(errno));
	return 125;
bad:
	client_say(o->quiet, "the server on %s broke the protocol", c->path);
	return 125;
}

/*
 * The Redis password, for a backend run: $SFRUN_REDIS_PASSWORD, else the
 * first line of $SFRUN_REDIS_PASSWORD_FILE, else none. -1 (said) if the
 * file cannot be read.
 */
static int
client_password(const struct client_opts *o, char *buf, size_t len)
{
	const char	*s = getenv("SFRUN_REDIS_PASSWORD");
	const char	*path = getenv("SFRUN_REDIS_PASSWORD_FILE");
	FILE		*f;
	int		 ch;

	buf[0] = '\0';
	if (s != NULL && *s != '\0') {
		if (strlcpy(buf, s, len) < len)
			return 0;
		client_say(o->quiet, "SFRUN_REDIS_PASSWORD is too long");
		return -1;
	}
	if (path == NULL || *path == '\0')
		return 0;
	if ((f = fopen(path, "re")) == NULL) {
		client_say(o->quiet, "SFRUN_REDIS_PASSWORD_FILE %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fgets(buf, (int)len, f) == NULL)
		buf[0] = '\0';
	/* A line that did not fit: refused, not cut to a wrong password. */
	ch = strchr(buf, '\n') == NULL ? getc(f) : EOF;
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	if (ch != EOF && ch != '\n' && ch != '\r') {
		explicit_bzero(buf, len);
		client_say(o->quiet, "SFRUN_REDIS_PASSWORD_FILE %s: the "
		    "password is too long", path);
		return -1;
	}
	return 0;
}

/*
 * Send the request and follow the answer. A connection closed before the
 * server's hello was not acted on: it is started over, reaching (or
 * starting) the server that took over.
 */
static int
client_run_once(const struct client_opts *o, const char *k,
    const struct pbuf *req, int cwdfd)
{
	struct client	 c;
	struct pbuf	 out;
	char		 cause[PATH_MAX + 128];
	int		 r, tries;

	for (tries = 0;; tries++) {
		if (client_connect(&c, o->socket, 1, cause,
		    sizeof(cause)) == -1) {
			client_say(o->quiet, "%s", cause);
			client_close(&c);
			return 125;
		}
		c.quiet = o->quiet;
		out = *req;	/* sent from a copy of its read position */
		r = client_send(&c, &out, &cwdfd, 1);
		if (r == -1 && errno != EPIPE && errno != ECONNRESET) {
			client_say(o->quiet, "cannot send to %s: %s", c.path,
			    strerror(errno));
			client_close(&c);
			return 125;
		}
		/* Even after a failed send, the server may have said why. */
		if ((r = client_hello(&c)) != 1)
			break;
		client_close(&c);
		if (tries == RESTARTS_MAX) {
			client_say(o->quiet, "the server on %s closed the "
			    "connection", c.path);
			return 125;
		}
	}
	r = r == -1 ? 125 : client_follow(&c, o, k);
	client_close(&c);
	return r;
}

/* sfrun [options] COMMAND: run it, or join the run of its key. */
int
client_run(const struct client_opts *o)
{
	struct pbuf	 out = { 0 };
	char		 cwd[PATH_MAX];
	char		 key[KEY_DERIVED_LEN + 1], password[256] = "";
	const char	*k = o->key;
	int		 cwdfd, r;

	client_arm_timeout(o);
	if (o->backend != NULL && client_password(o, password,
	    sizeof(password)) == -1)
		return 125;
	if (k == NULL) {
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			strlcpy(cwd, "(unreachable)", sizeof(cwd));
		key_derive(cwd, o->argc, o->argv, key, sizeof(key));
		k = key;
	}
	if (proto_encode_hello(&out) == -1 ||
	    client_request(o, k, password, &out, &cwdfd) == -1) {
		client_say(o->quiet, "cannot build the request: %s",
		    strerror(errno));
		explicit_bzero(password, sizeof(password));
		pbuf_free(&out);
		return 125;
	}
	explicit_bzero(password, sizeof(password));
	r = client_run_once(o, k, &out, cwdfd);
	close(cwdfd);
	explicit_bzero(out.data, out.cap);
	pbuf_free(&out);
	return r;
}

/* Open a control connection (never starting a server) and send a frame. */
static int
client_control(struct client *c, const struct client_opts *o, uint32_t type,
    const char *text)
{
	struct pbuf	out = { 0 };
	char		cause[PATH_MAX + 128];
	int		r;

	if (client_connect(c, o->socket, 0, cause, sizeof(cause)) == -1) {
		if (errno == ENOENT)
			return 1;	/* no server */
		client_say(o->quiet, "%s", cause);
		return -1;
	}
	c->quiet = o->quiet;
	r = proto_encode_hello(&out);
	if (r == 0)
		r = text != NULL ? proto_encode_text(&out, type, text,
		    strlen(text)) : proto_frame(&out, type, NULL, 0);
	if (r == 0)
		r = client_send(c, &out, NULL, 0);
	pbuf_free(&out);
	if (r == -1) {
		client_say(o->quiet, "cannot send to %s: %s", c->path,
		    strerror(errno));
		return -1;
	}
	if ((r = client_hello(c)) == 1)
		client_say(o->quiet, "the server on %s closed the connection",
		    c->path);
	return r == 0 ? 0 : -1;
}

/* Read a MSG_OK answer; -1 if anything else came. */
static int
client_ok(struct client *c, uint32_t *v)
{
	const uint8_t	*p;
	uint32_t	 type, len;
	int		 used;
	char		 text[PROTO_TEXT_MAX + 1];

	if (client_next(c, &type, &p, &len, &used) != 1)
		return -1;
	if (type == MSG_ERROR && proto_decode_text(p, len, text,
	    sizeof(text)) == 0)
		client_say(c->quiet, "%s", text);
	if (type != MSG_OK || proto_decode_u32(p, len, v) == -1)
		return -1;
	return 0;
}

/* sfrun --forget KEY: 0 if a run was forgotten, 1 if none was in flight. */
int
client_forget(const struct client_opts *o, const char *key)
{
	struct client	c;
	uint32_t	found = 0;
	int		r;
	char		*esc;

	r = client_control(&c, o, MSG_FORGET, key);
	if (r == 0 && client_ok(&c, &found) == -1)
		r = -1;
	client_close(&c);
	if (r == -1)
		return 125;
	if (!found) {
		esc = key_escape(key, strlen(key));
		client_say(o->quiet, "no run of key %s in flight",
		    esc ? esc : "?");
		free(esc);
		return 1;
	}
	return 0;
}

/* sfrun --stop-server: the server refuses new runs and exits after the rest. */
int
client_stop(const struct client_opts *o)
{
	struct client	c;
	uint32_t	v;
	int		r;

	r = client_control(&c, o, MSG_STOP, NULL);
	if (r == 0 && client_ok(&c, &v) == -1)
		r = -1;
	client_close(&c);
	return r == -1 ? 125 : 0;
}

/* sfrun --status [--json]: the runs in flight and the server's counters. */
int
client_status(const struct client_opts *o)
{
	struct client		 c;
	struct status		*st;
	struct proto_status_run	 run;
	struct proto_counters	 counters;
	const uint8_t		*p;
	uint32_t		 type, len;
	int			 used, r;

	if ((st = status_new()) == NULL) {
		client_say(o->quiet, "out of memory");
		return 125;
	}
	r = client_control(&c, o, MSG_STATUS, NULL);
	while (r == 0) {
		if (client_next(&c, &type, &p, &len, &used) != 1) {
			r = -1;
			break;
		}
		if (type == MSG_STATUS_RUN &&
		    proto_decode_status_run(p, len, &run) == 0)
			r = status_add(st, &run);
		else if (type == MSG_STATUS_END &&
		    proto_decode_counters(p, len, &counters) == 0) {
			status_counters(st, &counters);
			break;
		} else
			r = -1;
		pbuf_consume(&c.in, (size_t)used);
	}
	client_close(&c);
	if (r == -1) {
		client_say(o->quiet, "bad status answer from the server");
		status_free(st);
		return 125;
	}
	if (o->json)
		status_print_json(st, stdout);
	else
		status_print_table(st, stdout);
	status_free(st);
	return fflush(stdout) == 0 ? 0 : 125;
}
