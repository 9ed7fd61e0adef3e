/*
 * The client. It connects to the server (starting one if none answers),
 * sends its request, and for a run copies output itself: the server hands it
 * the run's spool file and announces how far it holds whole records; the
 * client walks the records (a header naming the stream and the length,
 * then the bytes; see spool.h) and copies each to its own stdout or stderr,
 * with splice(2) or sendfile(2) where it can. Then it exits as the command
 * did.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <linux/kcmp.h>

#include "client.h"
#include "duration.h"
#include "fds.h"
#include "key.h"
#include "proto.h"
#include "sig.h"
#include "sock.h"
#include "spool.h"
#include "status.h"

/* A connection to the server and what has been read from it. */
struct client {
	int		 fd;
	char		 path[PATH_MAX];
	struct pbuf	 in;
	int		 fds[SOCK_MAXFDS];
	int		 nfds;
};

/* How an output descriptor takes bytes from a spool. */
enum sink_kind { SINK_SPLICE, SINK_SENDFILE, SINK_WRITE };

struct sink {
	int		 fd;
	enum sink_kind	 kind;
};

#define READ_CHUNK	65536	/* spool bytes read at once for headers */
#define RECORD_COPY_MIN	32768	/* a record this long is copied zero-copy */

/*
 * A waiter's walk through the spool's records. Short records are read
 * (READ_CHUNK at a time, headers and all), staged and written in one go;
 * a record that was not read whole is copied from the file as before
 * (splice, sendfile), and after one of those only a header is read, so
 * that long output is not read into this process at all.
 */
struct reader {
	int		 spool;
	uint64_t	 pos;		/* the next record's header */
	int		 merged;	/* stdout and stderr are one output */
	int		 big;		/* read only a header next */
	int		 first;		/* the stream staged first */
	int		 failed;	/* the stream whose write failed */
	struct sink	 sinks[2];
	size_t		 staged[2];
	uint8_t		 in[READ_CHUNK];
	uint8_t		 out[2][READ_CHUNK];
};

/* What reader_copy ran into. */
enum { READ_OK, READ_BAD, READ_WRITE, READ_SPOOL };

/* How long a server that holds the pidfile has to answer again. */
#define AUTOSTART_WAIT_MS	3000
/* Servers started in one autostart that were gone before we connected. */
#define SPAWNS_MAX		5
/* Connections closed before the server's hello: started over so often. */
#define RESTARTS_MAX		50


/*
 * --timeout. Until the request is on its way, the alarm says so and exits
 * at once. From then on it only marks the time as up (expired): the next
 * blocking call it interrupts (client_expired) tells the server this waiter
 * leaves and says what became of the run. Should that hang, the alarm
 * rings again and exits as before.
 */
static char			 timeout_msg[256];
static volatile sig_atomic_t	 expired, connected;
static struct {
	struct client	*c;
	const char	*key;
	uint64_t	 id;		/* 0: not joined yet */
	uint32_t	 role;		/* the last MSG_ROLE's */
	int		 leaving;
} waiter;

static int	client_next(struct client *, uint32_t *, const uint8_t **,
		    uint32_t *, int *);
static int	client_send(struct client *, struct pbuf *, const int *, int);

/*
 * One line of sfrun's own on stderr. A failure's line always goes out,
 * whatever -q says: cron mails only what is printed.
 */
static void __attribute__((format(printf, 1, 2)))
client_say(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	fputs("sfrun: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* SIGALRM of --timeout (see above); async-signal-safe. */
static void
client_alarm(int sig)
{
	(void)sig;
	if (connected && !expired) {
		expired = 1;
		alarm(3);	/* the leave must not hang either */
		return;
	}
	(void)write(STDERR_FILENO, timeout_msg, strlen(timeout_msg));
	(void)write(STDERR_FILENO, "\n", 1);
	_exit(124);
}

/* What became of the run, as the server answered MSG_LEAVE. */
static const char *
client_left(uint32_t what)
{
	switch (what) {
	case LEAVE_GOES_ON:
		return "goes on for those still waiting";
	case LEAVE_KEPT:
		return waiter.role == ROLE_LEADER ? "goes on for the other "
		    "hosts (this host leads it)" : "goes on (--keep)";
	case LEAVE_CANCELLED:
		return "was cancelled: no one else waited for it (SIGTERM, "
		    "then SIGKILL after its grace period)";
	default:
		return "had ended";
	}
}

/*
 * The time is up, if the alarm said so: tell the server this waiter leaves,
 * skip what it still sends up to its answer, say what became of the run in
 * one line, and exit 124.
 */
static void
client_expired(void)
{
	struct pbuf		 out = { 0 };
	struct proto_joined	 j;
	struct timeval		 tv = { 1, 0 };
	const uint8_t		*p;
	const char		*what = NULL;
	uint32_t		 type, len, v;
	int			 used;
	char			*esc;

	if (!expired || waiter.leaving)
		return;
	waiter.leaving = 1;
	setsockopt(waiter.c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (proto_frame(&out, MSG_LEAVE, NULL, 0) == 0 &&
	    client_send(waiter.c, &out, NULL, 0) == 0) {
		while (what == NULL &&
		    client_next(waiter.c, &type, &p, &len, &used) == 1) {
			if (type == MSG_JOINED &&
			    proto_decode_joined(p, len, &j) == 0)
				waiter.id = j.run_id;
			else if (type == MSG_OK &&
			    proto_decode_u32(p, len, &v) == 0)
				what = client_left(v);
			pbuf_consume(&waiter.c->in, (size_t)used);
		}
	}
	pbuf_free(&out);
	esc = key_escape(waiter.key, strlen(waiter.key));
	if (what != NULL && waiter.id != 0)
		fprintf(stderr, "%s; run %llu (key %s) %s\n", timeout_msg,
		    (unsigned long long)waiter.id, esc != NULL ? esc : "?",
		    what);
	else
		fprintf(stderr, "%s\n", timeout_msg);
	free(esc);
	exit(124);
}

static void
client_arm_timeout(const struct client_opts *o)
{
	struct itimerval	it;
	struct sigaction	sa;
	char			dur[32];

	if (o->timeout_ms == 0)
		return;
	duration_format(o->timeout_ms, dur, sizeof(dur));
	snprintf(timeout_msg, sizeof(timeout_msg), "sfrun: gave up "
	    "waiting after %s (--timeout)", dur);
	/* No SA_RESTART: a blocking call returns EINTR to notice it. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = client_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	/* Blocked by whoever started us, the alarm would never ring. */
	sigaddset(&sa.sa_mask, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &sa.sa_mask, NULL);
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
 * The server must be of this user: another user's would refuse us (and
 * must not get our environment). Said plainly, rather than as the reset
 * connection its refusal looks like.
 */
static int
client_peer(struct client *c, char *cause, size_t clen)
{
	uid_t	uid;
	gid_t	gid;

	if (getpeereid(c->fd, &uid, &gid) == -1) {
		snprintf(cause, clen, "cannot check the server on %s: %s",
		    c->path, strerror(errno));
		return -1;
	}
	if (uid != getuid()) {
		snprintf(cause, clen, "the server on %s belongs to another "
		    "user (uid %ld); a server serves its own user only",
		    c->path, (long)uid);
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
		return client_peer(c, cause, clen);
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
	if (!autostart || (no != NULL && (strcmp(no, "1") == 0 ||
	    strcasecmp(no, "yes") == 0 || strcasecmp(no, "true") == 0))) {
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
	return c->fd == -1 ? -1 : client_peer(c, cause, clen);
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
			if (errno == EINTR) {
				client_expired();
				continue;
			}
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
		if (n == -1 && errno == EINTR) {
			client_expired();
			continue;
		}
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
		client_say("the server on %s: %s", c->path, strerror(errno));
		return -1;
	}
	if (type != MSG_HELLO || proto_decode_hello(p, len, &version,
	    &errstr) == -1) {
		client_say("the server on %s is not sfrund",
		    c->path);
		return -1;
	}
	pbuf_consume(&c->in, (size_t)used);
	if (version != PROTOCOL_VERSION) {
		client_say("protocol mismatch: sfrun speaks version "
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

/*
 * The size of a --tty run's terminal: the leader's own terminal's, if its
 * stdout or stderr is one; else $LINES and $COLUMNS; else 24 x 80.
 */
static void
client_tty_size(uint32_t *rows, uint32_t *cols)
{
	struct winsize	 ws;
	const char	*l = getenv("LINES"), *c = getenv("COLUMNS");
	const char	*errstr;

	if ((ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 ||
	    ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0) && ws.ws_row > 0 &&
	    ws.ws_col > 0) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
		return;
	}
	*rows = l != NULL ? (uint32_t)strtonum(l, 1, 65535, &errstr) : 0;
	*cols = c != NULL ? (uint32_t)strtonum(c, 1, 65535, &errstr) : 0;
	if (*rows == 0)
		*rows = 24;
	if (*cols == 0)
		*cols = 80;
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
	if (o->flags & RUN_TTY)
		client_tty_size(&req.tty_rows, &req.tty_cols);
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
	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
		s->kind = SINK_SPLICE;
	else if (S_ISREG(st.st_mode))
		/*
		 * write(2) moves a file's offset under the file's own lock;
		 * sendfile(2) does not, so callers sharing one open file
		 * (make -j >build.log) would write over each other's output.
		 */
		s->kind = SINK_WRITE;
	else
		s->kind = SINK_SENDFILE;
}

/* Wait until a non-blocking output takes bytes again. */
static void
sink_wait(struct sink *s)
{
	struct pollfd	pfd = { s->fd, POLLOUT, 0 };

	if (poll(&pfd, 1, -1) == -1 && errno == EINTR)
		client_expired();
}

/*
 * Write n bytes of buf to the output, waiting while it is full. -1 with
 * errno if it failed; a broken pipe kills this process with SIGPIPE (see
 * sink_copy).
 */
static int
sink_put(struct sink *s, const void *buf, size_t n)
{
	const char	*p = buf;
	ssize_t		 w;

	while (n > 0) {
		if ((w = write(s->fd, p, n)) == -1) {
			if (errno == EINTR)
				client_expired();
			else if (errno == EAGAIN)
				sink_wait(s);
			else {
				if (errno == EPIPE)
					sig_raise(SIGPIPE);
				return -1;
			}
			continue;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The plain way: pread from the spool, write to the output. */
static ssize_t
sink_write(struct sink *s, int spool, uint64_t off, size_t len)
{
	char	buf[65536];
	ssize_t	n;

	if (len > sizeof(buf))
		len = sizeof(buf);
	if ((n = pread(spool, buf, len, (off_t)off)) <= 0) {
		if (n == 0)
			errno = EIO;	/* shorter than announced */
		return -1;
	}
	return sink_put(s, buf, (size_t)n) == -1 ? -1 : n;
}

/*
 * Copy the spool from *pos up to end into this sink, advancing *pos.
 * Returns -1 with errno if the output failed (a full disk, a read-only
 * descriptor): the caller says so and leaves, as no part of the output may
 * be lost silently. A broken pipe kills this process with SIGPIPE, as it
 * does any filter, even where the caller had SIGPIPE ignored.
 */
static int
sink_copy(struct sink *s, int spool, uint64_t *pos, uint64_t end)
{
	loff_t	off;
	ssize_t	n;
	size_t	len;

	while (*pos < end) {
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
		if (n == -1 && errno == EINTR) {
			client_expired();
			continue;
		}
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
		if (n == -1 && errno == EPIPE)
			sig_raise(SIGPIPE);
		if (n == 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

/*
 * Whether stdout and stderr are one output, so that both streams can be
 * written through one descriptor in the order of the records: the same
 * pipe, terminal or device, or the same open file (which has one offset;
 * where kcmp(2) cannot say, the same file at the same offset).
 */
static int
reader_same_output(void)
{
	struct stat	a, b;
	pid_t		pid = getpid();
	long		r;

	if (fstat(STDOUT_FILENO, &a) == -1 || fstat(STDERR_FILENO, &b) == -1 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return 0;
	if (!S_ISREG(a.st_mode) && !S_ISBLK(a.st_mode))
		return 1;
	if ((r = syscall(SYS_kcmp, pid, pid, KCMP_FILE, STDOUT_FILENO,
	    STDERR_FILENO)) != -1)
		return r == 0;
	return lseek(STDOUT_FILENO, 0, SEEK_CUR) ==
	    lseek(STDERR_FILENO, 0, SEEK_CUR);
}

/* Start walking a spool from its first record. */
static void
reader_init(struct reader *r)
{
	r->spool = -1;
	r->pos = 0;
	r->merged = reader_same_output();
	r->big = 1;
	r->first = 0;
	r->failed = 0;
	r->staged[0] = r->staged[1] = 0;
	sink_init(&r->sinks[0], STDOUT_FILENO);
	sink_init(&r->sinks[1], STDERR_FILENO);
}

/* Keep a short record's bytes for the next reader_flush. */
static void
reader_stage(struct reader *r, int stream, const uint8_t *p, size_t len)
{
	int	k = r->merged ? 0 : stream;

	if (r->staged[0] == 0 && r->staged[1] == 0)
		r->first = k;
	memcpy(r->out[k] + r->staged[k], p, len);
	r->staged[k] += len;
}

/*
 * Write what is staged. One output gets the records in their order; two
 * outputs get theirs one after the other, the stream staged first first:
 * between two different outputs the order is kept per READ_CHUNK of the
 * spool, not per record.
 */
static int
reader_flush(struct reader *r)
{
	int	i, k;

	for (i = 0; i < 2; i++) {
		k = i == 0 ? r->first : !r->first;
		if (r->staged[k] == 0)
			continue;
		if (sink_put(&r->sinks[k], r->out[k], r->staged[k]) == -1) {
			r->failed = k;
			return -1;
		}
		r->staged[k] = 0;
	}
	return 0;
}

/*
 * Copy the records from r->pos up to valid, the end the server announced.
 * Every header is checked against valid before anything of its record is
 * written: a bad one is the server's fault (READ_BAD), and nothing from it
 * on is copied. READ_WRITE: writing r->failed failed (errno); READ_SPOOL:
 * reading the spool failed (errno).
 */
static int
reader_copy(struct reader *r, uint64_t valid)
{
	uint64_t	at;
	uint32_t	len;
	size_t		i, want;
	ssize_t		n;
	int		stream;

	while (r->pos < valid) {
		want = r->big ? SPOOL_HEADER_SIZE : sizeof(r->in);
		if (valid - r->pos < want)
			want = (size_t)(valid - r->pos);
		if ((n = pread(r->spool, r->in, want, (off_t)r->pos)) == -1) {
			if (errno != EINTR)
				return READ_SPOOL;
			client_expired();
			continue;
		}
		/* No whole header where the server announced one. */
		if ((size_t)n < SPOOL_HEADER_SIZE)
			return READ_BAD;
		for (i = 0; i + SPOOL_HEADER_SIZE <= (size_t)n;
		    i += SPOOL_HEADER_SIZE + len) {
			at = r->pos + i;
			if (spool_header_decode(r->in + i, at, valid, &stream,
			    &len) == -1) {
				r->pos = at;
				return reader_flush(r) == -1 ? READ_WRITE :
				    READ_BAD;
			}
			if (len <= (size_t)n - i - SPOOL_HEADER_SIZE) {
				reader_stage(r, stream,
				    r->in + i + SPOOL_HEADER_SIZE, len);
				continue;
			}
			/* Not read whole. A short one: read again, whole. */
			if (len < RECORD_COPY_MIN && (i > 0 || r->big)) {
				r->big = 0;
				break;
			}
			if (reader_flush(r) == -1)
				return READ_WRITE;
			at += SPOOL_HEADER_SIZE;
			if (sink_copy(&r->sinks[stream], r->spool, &at,
			    at + len) == -1) {
				r->failed = stream;
				return READ_WRITE;
			}
			r->big = 1;
			i += SPOOL_HEADER_SIZE + len;
			break;
		}
		r->pos += i;
		if (reader_flush(r) == -1)
			return READ_WRITE;
	}
	return READ_OK;
}

/*
 * Take the MSG_DATA frames already read after the one being handled: only
 * the last one's end counts, and copying up to it at once saves a pass
 * over the spool per frame when this waiter has fallen behind. -1 if one
 * is bad or goes back.
 */
static int
client_data_ahead(struct client *c, uint64_t *end)
{
	const uint8_t	*p;
	const char	*errstr;
	uint32_t	 type, len;
	uint64_t	 more;
	int		 n;

	while ((n = proto_next(c->in.data + c->in.off, pbuf_used(&c->in),
	    &type, &p, &len, &errstr)) > 0 && type == MSG_DATA) {
		if (proto_decode_data(p, len, &more) == -1 || more < *end)
			return -1;
		*end = more;
		pbuf_consume(&c->in, (size_t)n);
	}
	return 0;
}

/* Turn the end of a run into this process's exit. */
static int
client_result(const struct proto_done *d, uint64_t id)
{
	switch (d->how) {
	case DONE_EXITED:
		return d->value & 0xff;
	case DONE_SIGNALED:
		return sig_raise(d->value);
	case DONE_EXEC_FAILED:
		client_say("%s: %s", d->text, strerror(d->value));
		return d->value == ENOENT ? 127 : 126;
	case DONE_LOST:
		client_say("%s", d->text);
		return 75;
	case DONE_TIMED_OUT:
		client_say("run %llu timed out (--run-timeout) and was ended "
		    "with signal %d", (unsigned long long)id, d->value);
		return 124;
	case DONE_UNFOLLOWED:
		client_say("run %llu timed out (--run-timeout): this host "
		    "stopped following it; it goes on on the host that leads "
		    "it", (unsigned long long)id);
		return 124;
	default:
		client_say("run %llu failed: %s",
		    (unsigned long long)id, d->text);
		return 125;
	}
}

/*
 * -v: led, joined or replayed; or -n skipped: which run, its age, waiters.
 * A backend run's notice waits for its role (r): a host that follows
 * another's run says so, naming that host.
 */
static void
client_verbose(const struct client_opts *o, const struct proto_joined *j,
    const struct proto_role *r, const char *key, int skipped)
{
	char	age[32], host[PROTO_HOLDER_MAX + 1], role[PROTO_HOLDER_MAX + 64];
	char	*esc;
	const char	*tty;

	if (!o->verbose || o->quiet)
		return;
	duration_format(j->age_ms, age, sizeof(age));
	esc = key_escape(key, strlen(key));
	tty = j->tty ? ", on a terminal" : (o->flags & RUN_TTY) ?
	    ", not on a terminal (started without --tty)" : "";
	role[0] = '\0';
	if (r != NULL) {
		proto_holder_host(r->holder, host, sizeof(host));
		if (r->role == ROLE_LEADER)
			snprintf(role, sizeof(role), ", for every host "
			    "(fence %llu)", (unsigned long long)r->gen);
		else if (r->role == ROLE_FOLLOWER)
			snprintf(role, sizeof(role), ", following %s's run "
			    "(fence %llu)", host, (unsigned long long)r->gen);
		else
			snprintf(role, sizeof(role), ", on this host alone "
			    "(Redis unreachable: --fallback local)");
	}
	if (skipped)
		fprintf(stderr, "sfrun: skipped: run %llu (key %s) is in "
		    "flight, age %s, %u waiter%s (--no-join)\n",
		    (unsigned long long)j->run_id, esc ? esc : "?", age,
		    j->waiters, j->waiters == 1 ? "" : "s");
	else if (j->led == JOIN_REPLAY)
		fprintf(stderr, "sfrun: replayed run %llu (key %s), which "
		    "ended %s ago\n", (unsigned long long)j->run_id,
		    esc ? esc : "?", age);
	else if (r != NULL && r->role == ROLE_FOLLOWER && j->led == JOIN_LED)
		fprintf(stderr, "sfrun: followed %s's run of key %s "
		    "(fence %llu) as run %llu, age %s, %u waiter%s%s\n", host,
		    esc ? esc : "?", (unsigned long long)r->gen,
		    (unsigned long long)j->run_id, age, j->waiters,
		    j->waiters == 1 ? "" : "s", tty);
	else
		fprintf(stderr, "sfrun: %s run %llu (key %s), age %s, "
		    "%u waiter%s%s%s\n", j->led == JOIN_LED ? "led" : "joined",
		    (unsigned long long)j->run_id, esc ? esc : "?", age,
		    j->waiters, j->waiters == 1 ? "" : "s", role, tty);
	free(esc);
}

/*
 * -v: a backend run's role changed after it was told, as a rerun does
 * (--on-leader-loss rerun): this host now leads, or follows another.
 */
static void
client_rerun(const struct client_opts *o, const struct proto_joined *j,
    const struct proto_role *r, const char *key)
{
	char	host[PROTO_HOLDER_MAX + 1], *esc;

	if (!o->verbose || o->quiet || r->role == ROLE_LOCAL)
		return;
	esc = key_escape(key, strlen(key));
	proto_holder_host(r->holder, host, sizeof(host));
	if (r->role == ROLE_LEADER)
		fprintf(stderr, "sfrun: run %llu (key %s) now runs here, for "
		    "every host (fence %llu)\n", (unsigned long long)j->run_id,
		    esc ? esc : "?", (unsigned long long)r->gen);
	else
		fprintf(stderr, "sfrun: run %llu (key %s) now follows %s's "
		    "run (fence %llu)\n", (unsigned long long)j->run_id,
		    esc ? esc : "?", host, (unsigned long long)r->gen);
	free(esc);
}

/* Follow a run: copy announced output, then exit as the command did. */
static int
client_follow(struct client *c, const struct client_opts *o,
    const char *key)
{
	struct proto_joined	 j;
	struct proto_done	 d;
	struct proto_role	 role;
	static struct reader	 rd;
	const uint8_t		*p;
	uint32_t		 type, len;
	uint64_t		 end, id = 0;
	int			 used, r, joined = 0, told = 0;
	char			 text[PROTO_TEXT_MAX + 1];

	reader_init(&rd);
	while ((r = client_next(c, &type, &p, &len, &used)) == 1) {
		switch (type) {
		case MSG_JOINED:
			if (proto_decode_joined(p, len, &j) == -1 || joined)
				goto bad;
			joined = 1;
			id = waiter.id = j.run_id;
			/* A backend run's notice waits for its role. */
			if (o->backend == NULL || j.led == JOIN_REPLAY) {
				client_verbose(o, &j, NULL, key, 0);
				told = 1;
			}
			break;
		case MSG_ROLE:
			if (!joined || proto_decode_role(p, len, &role) == -1)
				goto bad;
			if (!told)
				client_verbose(o, &j, &role, key, 0);
			else if (waiter.role != ROLE_NONE)
				client_rerun(o, &j, &role, key);
			told = 1;
			waiter.role = role.role;
			break;
		case MSG_DATA:
			/* The spool's file comes with the first of these. */
			if (rd.spool == -1 && c->nfds > 0)
				rd.spool = c->fds[0];
			if (!joined || rd.spool == -1 ||
			    proto_decode_data(p, len, &end) == -1 ||
			    end < rd.pos)
				goto bad;
			pbuf_consume(&c->in, (size_t)used);
			used = 0;
			/* Of the announcements already here, the last counts. */
			if (client_data_ahead(c, &end) == -1)
				goto bad;
			switch (reader_copy(&rd, end)) {
			case READ_OK:
				break;
			case READ_BAD:
				client_say("the server on %s broke the "
				    "protocol: no valid record at byte %llu "
				    "of the output", c->path,
				    (unsigned long long)rd.pos);
				return 125;
			case READ_WRITE:
				client_say("write error on %s: %s",
				    rd.failed == 0 ? "stdout" : "stderr",
				    strerror(errno));
				return 125;
			default:
				client_say("cannot read the output: %s",
				    strerror(errno));
				return 125;
			}
			break;
		case MSG_DONE:
			if (!joined || proto_decode_done(p, len, &d) == -1)
				goto bad;
			if (!told)	/* ended before its role was known */
				client_verbose(o, &j, NULL, key, 0);
			return client_result(&d, id);
		case MSG_BUSY:
			if (proto_decode_joined(p, len, &j) == -1 || joined)
				goto bad;
			client_verbose(o, &j, NULL, key, 1);
			return o->conflict_code;
		case MSG_ERROR:
			if (proto_decode_text(p, len, text, sizeof(text)) == -1)
				goto bad;
			client_say("%s", text);
			return 125;
		default:
			goto bad;
		}
		pbuf_consume(&c->in, (size_t)used);
	}
	/* -d: the server hangs up once the command has started. */
	if (r == 0 && joined && (o->flags & RUN_DETACH)) {
		if (!told)
			client_verbose(o, &j, NULL, key, 0);
		return 0;
	}
	if (r == 0)
		client_say("the server on %s exited during the run",
		    c->path);
	else
		client_say("lost the server on %s: %s", c->path,
		    strerror(errno));
	return 125;
bad:
	client_say("the server on %s broke the protocol", c->path);
	return 125;
}

/*
 * The Redis password, for a backend run: $SFRUN_REDIS_PASSWORD, else the
 * first line of $SFRUN_REDIS_PASSWORD_FILE, else none. -1 (said) if the
 * file cannot be read.
 */
static int
client_password(char *buf, size_t len)
{
	const char	*s = getenv("SFRUN_REDIS_PASSWORD");
	const char	*path = getenv("SFRUN_REDIS_PASSWORD_FILE");
	FILE		*f;
	int		 ch;

	buf[0] = '\0';
	if (s != NULL && *s != '\0') {
		if (strlcpy(buf, s, len) < len)
			return 0;
		client_say("SFRUN_REDIS_PASSWORD is too long");
		return -1;
	}
	if (path == NULL || *path == '\0')
		return 0;
	if ((f = fopen(path, "re")) == NULL) {
		client_say("SFRUN_REDIS_PASSWORD_FILE %s: %s", path,
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
		client_say("SFRUN_REDIS_PASSWORD_FILE %s: the "
		    "password is too long", path);
		return -1;
	}
	return 0;
}

/*
 * The descriptors that go with a run request: the working directory, then
 * make's jobserver if MAKEFLAGS names one that is open here (a recipe
 * marked "+" or running $(MAKE) has it). Returns how many.
 */
static int
client_jobserver(int cwdfd, int fds[3])
{
	int	r, w;

	fds[0] = cwdfd;
	if (fds_jobserver(getenv("MAKEFLAGS"), &r, &w) == -1 ||
	    !fds_is_jobserver(r, w))
		return 1;
	fds[1] = r;
	fds[2] = w;
	return 3;
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
	int		 r, tries, fds[3];

	for (tries = 0;; tries++) {
		if (client_connect(&c, o->socket, 1, cause,
		    sizeof(cause)) == -1) {
			client_say("%s", cause);
			client_close(&c);
			return 125;
		}
		waiter.c = &c;
		waiter.key = k;
		connected = 1;
		out = *req;	/* sent from a copy of its read position */
		r = client_send(&c, &out, fds, client_jobserver(cwdfd, fds));
		if (r == -1 && errno != EPIPE && errno != ECONNRESET) {
			client_say("cannot send to %s: %s", c.path,
			    strerror(errno));
			client_close(&c);
			return 125;
		}
		/* Even after a failed send, the server may have said why. */
		if ((r = client_hello(&c)) != 1)
			break;
		connected = 0;
		waiter.c = NULL;
		client_close(&c);
		if (tries == RESTARTS_MAX) {
			client_say("the server on %s closed the connection",
			    c.path);
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
	if (o->backend != NULL && client_password(password,
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
		client_say("cannot build the request: %s",
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
		client_say("%s", cause);
		return -1;
	}
	r = proto_encode_hello(&out);
	if (r == 0)
		r = text != NULL ? proto_encode_text(&out, type, text,
		    strlen(text)) : proto_frame(&out, type, NULL, 0);
	if (r == 0)
		r = client_send(c, &out, NULL, 0);
	pbuf_free(&out);
	if (r == -1) {
		client_say("cannot send to %s: %s", c->path,
		    strerror(errno));
		return -1;
	}
	if ((r = client_hello(c)) == 1)
		client_say("the server on %s closed the connection",
		    c->path);
	return r == 0 ? 0 : -1;
}

/* Read a MSG_OK answer; -1 (said) if anything else came. */
static int
client_ok(struct client *c, uint32_t *v)
{
	const uint8_t	*p;
	uint32_t	 type, len;
	int		 used;
	char		 text[PROTO_TEXT_MAX + 1];

	if (client_next(c, &type, &p, &len, &used) != 1) {
		client_say("the server on %s did not answer", c->path);
		return -1;
	}
	if (type == MSG_ERROR && proto_decode_text(p, len, text,
	    sizeof(text)) == 0) {
		client_say("%s", text);
		return -1;
	}
	if (type != MSG_OK || proto_decode_u32(p, len, v) == -1) {
		client_say("the server on %s broke the protocol", c->path);
		return -1;
	}
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
	if (!found && !o->quiet) {
		esc = key_escape(key, strlen(key));
		client_say("no run of key %s in flight",
		    esc ? esc : "?");
		free(esc);
	}
	return found ? 0 : 1;
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
		client_say("out of memory");
		return 125;
	}
	if ((r = client_control(&c, o, MSG_STATUS, NULL)) == -1) {
		client_close(&c);	/* it said why */
		status_free(st);
		return 125;
	}
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
		client_say("bad status answer from the server");
		status_free(st);
		return 125;
	}
	if (o->json)
		status_print_json(st, stdout);
	else
		status_print_table(st, stdout);
	status_free(st);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		client_say("write error on stdout: %s", strerror(errno));
		return 125;
	}
	return 0;
}
