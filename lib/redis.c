/*
 * One connection to Redis, for one bridge. A command that fails on the
 * connection (refused, reset, timed out) is sent again on a new connection
 * until a deadline: an I/O error is not an answer, and neither is "not now"
 * (loading, busy in a script). What else Redis answers, an error reply
 * included, is the caller's to judge.
 *
 * The bytes go over one path for TCP, unix sockets and TLS: a non-blocking
 * socket, with OpenSSL (tls.c) in between for rediss://, and poll for
 * every wait, bounded. hiredis 0.14 has no TLS, so only its public parts
 * are used: redisFormatCommandArgv makes a command's bytes and a
 * redisReader parses the replies. A reply is waited for longer than the
 * XREAD BLOCK time, so that a blocked read is never taken for a dead
 * server; a connection that timed out is dropped, never reused.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "loop.h"
#include "redis.h"
#include "tls.h"

#define RETRY_MIN_MS	50
#define RETRY_MAX_MS	1000
#define READ_BUF	65536

struct redis {
	struct redis_url	 url;
	char			 where[PATH_MAX + 300];	/* for messages */
	char			 password[256];
	struct tls_config	*tlscfg;	/* rediss:// */
	int			 fd;		/* -1: not connected */
	struct tls		*tls;
	redisReader		*reader;
	char			 error[1024];
	int			 fatal;		/* refused: no use retrying */
};

static void
redis_drop(struct redis *r)
{
	tls_free(r->tls);
	r->tls = NULL;
	if (r->fd != -1)
		close(r->fd);
	r->fd = -1;
	if (r->reader != NULL)
		redisReaderFree(r->reader);
	r->reader = NULL;
}

/* Wait until fd is ready for events, or deadline: 0, or -1 (ETIMEDOUT). */
static int
redis_wait(int fd, short events, uint64_t deadline)
{
	struct pollfd	pfd = { fd, events, 0 };
	uint64_t	now;
	int		n;

	for (;;) {
		if ((now = loop_now()) >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(&pfd, 1, deadline - now > INT_MAX ? INT_MAX :
		    (int)(deadline - now));
		if (n > 0)
			return 0;
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

/*
 * Move bytes on the connection: read into buf, or write from it (len > 0),
 * waiting until deadline. The count moved, or -1 with r->error (the
 * connection is then of no more use).
 */
static ssize_t
redis_io(struct redis *r, int writing, void *buf, size_t len,
    uint64_t deadline)
{
	ssize_t		 n;
	short		 events;
	const char	*why;

	for (;;) {
		events = writing ? POLLOUT : POLLIN;
		if (r->tls != NULL)
			n = tls_io(r->tls, writing, buf, len, &events);
		else
			n = writing ? send(r->fd, buf, len, MSG_NOSIGNAL) :
			    recv(r->fd, buf, len, 0);
		if (n > 0)
			return n;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN && redis_wait(r->fd, events,
		    deadline) == 0)
			continue;
		if (n == 0)
			why = "the server closed the connection";
		else if (errno == ETIMEDOUT)
			why = "no answer in time";
		else if (r->tls != NULL && errno != EAGAIN)
			why = tls_error(r->tls, &r->fatal);
		else
			why = strerror(errno);
		snprintf(r->error, sizeof(r->error), "%.400s: %.500s",
		    r->where, why);
		return -1;
	}
}

/*
 * Send a command and read its reply, once: the reply, or NULL with r->error
 * and the connection dropped. The command's bytes are wiped once sent: one
 * may be AUTH.
 */
static redisReply *
redis_call(struct redis *r, int argc, const char **argv, const size_t *lens)
{
	char		*cmd, buf[READ_BUF];
	void		*reply = NULL;
	uint64_t	 deadline = loop_now() + REDIS_REPLY_MS;
	ssize_t		 n;
	int		 len, off = 0;

	if ((len = redisFormatCommandArgv(&cmd, argc, argv, lens)) < 0) {
		snprintf(r->error, sizeof(r->error), "redis: out of memory");
		return NULL;
	}
	while (off < len && (n = redis_io(r, 1, cmd + off, (size_t)(len - off),
	    deadline)) > 0)
		off += (int)n;
	explicit_bzero(cmd, (size_t)len);
	redisFreeCommand(cmd);
	while (off == len) {
		if (redisReaderGetReply(r->reader, &reply) != REDIS_OK) {
			snprintf(r->error, sizeof(r->error), "%.400s: not a "
			    "reply: %.300s", r->where, r->reader->errstr);
			break;
		}
		if (reply != NULL)
			return reply;
		if ((n = redis_io(r, 0, buf, sizeof(buf), deadline)) <= 0 ||
		    redisReaderFeed(r->reader, buf, (size_t)n) != REDIS_OK)
			break;
	}
	redis_drop(r);
	return NULL;
}

/* The lengths of a command's string arguments; -1 if there are too many. */
static int
redis_lens(struct redis *r, int argc, const char **argv, size_t *lens)
{
	int	i;

	if (argc > REDIS_ARGS_MAX) {
		snprintf(r->error, sizeof(r->error), "redis: too many "
		    "arguments");
		return -1;
	}
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	return 0;
}

/* A command of strings (no NUL), once; see redis_call. */
static redisReply *
redis_call_strv(struct redis *r, int argc, const char **argv)
{
	size_t	lens[REDIS_ARGS_MAX];

	if (redis_lens(r, argc, argv, lens) == -1)
		return NULL;
	return redis_call(r, argc, argv, lens);
}

/*
 * An error reply that only says "not now": Redis loading its data, busy in
 * a script, or a replica without its master.
 */
static int
redis_not_now(const char *err)
{
	return strncmp(err, "LOADING", 7) == 0 ||
	    strncmp(err, "BUSY", 4) == 0 || strncmp(err, "MASTERDOWN", 10) == 0;
}

/*
 * The answer to a command that sets a new connection up (consumed): 0 if
 * it succeeded, else -1 with r->error (what failed, why, hint) and the
 * connection dropped. An answer that refuses makes the failure final; one
 * that says "not now" is retried like an I/O error.
 */
static int
redis_setup_ok(struct redis *r, redisReply *rep, const char *what,
    const char *hint)
{
	int	ok = rep != NULL && rep->type != REDIS_REPLY_ERROR;

	if (rep != NULL && !ok) {
		snprintf(r->error, sizeof(r->error), "%.600s: %.300s%s", what,
		    rep->str, hint);
		r->fatal = !redis_not_now(rep->str);
		redis_drop(r);
	}
	freeReplyObject(rep);
	return ok ? 0 : -1;
}

/* A socket connected to one of the addresses of host:port, or -1. */
static int
redis_tcp(struct redis *r, uint64_t deadline)
{
	struct addrinfo	 hints, *res, *ai;
	char		 port[8];
	socklen_t	 sl = sizeof(int);
	int		 fd = -1, e, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", r->url.port);
	if ((e = getaddrinfo(r->url.host, port, &hints, &res)) != 0) {
		snprintf(r->error, sizeof(r->error), "cannot connect to "
		    "%.400s: %s", r->where, gai_strerror(e));
		return -1;
	}
	e = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol)) == -1) {
			e = errno;
			continue;
		}
		if ((connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS && redis_wait(fd, POLLOUT,
		    deadline) == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e,
		    &sl) == 0 && (errno = e) == 0))) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
			break;
		}
		e = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		snprintf(r->error, sizeof(r->error), "cannot connect to "
		    "%.400s: %s", r->where, strerror(e));
	return fd;
}

/* A socket connected to the unix socket at the URL's path, or -1. */
static int
redis_unix(struct redis *r, uint64_t deadline)
{
	struct sockaddr_un	 sun;
	int			 fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, r->url.path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		snprintf(r->error, sizeof(r->error), "cannot connect to "
		    "%.400s: path too long", r->where);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || (connect(fd, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1 && (errno != EINPROGRESS || redis_wait(fd,
	    POLLOUT, deadline) == -1))) {
		e = errno;
		if (fd != -1)
			close(fd);
		snprintf(r->error, sizeof(r->error), "cannot connect to "
		    "%.400s: %s", r->where, strerror(e));
		return -1;
	}
	return fd;
}

/* Over r->fd, the TLS handshake, until the connect deadline. */
static int
redis_handshake(struct redis *r, uint64_t deadline)
{
	char	cause[600];
	short	events;
	int	n;

	if ((r->tls = tls_start(r->tlscfg, r->fd, r->url.host, cause,
	    sizeof(cause))) == NULL) {
		snprintf(r->error, sizeof(r->error), "%.400s: %s", r->where,
		    cause);
		return -1;
	}
	while ((n = tls_handshake(r->tls, &events, cause, sizeof(cause),
	    &r->fatal)) == 0) {
		if (redis_wait(r->fd, events, deadline) == -1) {
			snprintf(cause, sizeof(cause), "TLS handshake: no "
			    "answer in time");
			break;
		}
	}
	if (n == 1)
		return 0;
	snprintf(r->error, sizeof(r->error), "%.400s: %s", r->where, cause);
	return -1;
}

/* Connect, log in and select the database. -1 with r->error. */
static int
redis_connect(struct redis *r)
{
	const struct redis_url	*u = &r->url;
	const char		*auth[3] = { "AUTH", u->user, r->password };
	const char		*ping[1] = { "PING" };
	const char		*sel[2] = { "SELECT", NULL };
	char			 db[16], what[PATH_MAX + 600];
	redisReply		*rep;
	uint64_t		 deadline = loop_now() + REDIS_CONNECT_MS;

	r->fatal = 0;
	r->fd = u->host[0] != '\0' ? redis_tcp(r, deadline) :
	    redis_unix(r, deadline);
	if (r->fd == -1 || (r->tlscfg != NULL &&
	    redis_handshake(r, deadline) == -1)) {
		redis_drop(r);
		return -1;
	}
	if ((r->reader = redisReaderCreate()) == NULL) {
		snprintf(r->error, sizeof(r->error), "redis: out of memory");
		redis_drop(r);
		return -1;
	}
	if (r->password[0] != '\0') {
		if (u->user[0] == '\0')	/* the default user */
			auth[1] = r->password;
		rep = redis_call_strv(r, u->user[0] != '\0' ? 3 : 2, auth);
		snprintf(what, sizeof(what), "%.400s refused the login%s%.128s",
		    r->where, u->user[0] != '\0' ? " of user " : "", u->user);
		if (rep == NULL || redis_setup_ok(r, rep, what, "") == -1)
			return -1;
	}
	/* Without a password, a server that wants one says so here. */
	if ((rep = redis_call_strv(r, 1, ping)) == NULL ||
	    redis_setup_ok(r, rep, r->where, rep->type == REDIS_REPLY_ERROR &&
	    strncmp(rep->str, "NOAUTH", 6) == 0 ? " (set SFRUN_REDIS_PASSWORD "
	    "or SFRUN_REDIS_PASSWORD_FILE)" : "") == -1)
		return -1;
	if (u->db != 0) {
		snprintf(db, sizeof(db), "%d", u->db);
		sel[1] = db;
		snprintf(what, sizeof(what), "%.400s: SELECT %d", r->where,
		    u->db);
		if ((rep = redis_call_strv(r, 2, sel)) == NULL ||
		    redis_setup_ok(r, rep, what, "") == -1)
			return -1;
	}
	return 0;
}

/*
 * Connect once; NULL with cause if Redis cannot be reached, or refuses
 * (then *refused is set: a wrong password, an ACL, a bad database).
 */
struct redis *
redis_open(const struct redis_url *u, const char *password, char *cause,
    size_t clen, int *refused)
{
	struct redis	*r;

	*refused = 0;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(cause, clen, "out of memory");
		return NULL;
	}
	r->url = *u;
	r->fd = -1;
	strlcpy(r->password, password != NULL && *password != '\0' ?
	    password : u->pass, sizeof(r->password));
	explicit_bzero(r->url.pass, sizeof(r->url.pass));
	if (u->host[0] == '\0')
		snprintf(r->where, sizeof(r->where), "redis at %s", u->path);
	else
		snprintf(r->where, sizeof(r->where), "redis at %s%s%s:%d%s",
		    strchr(u->host, ':') != NULL ? "[" : "", u->host,
		    strchr(u->host, ':') != NULL ? "]" : "", u->port,
		    u->tls ? " (TLS)" : "");
	if (u->tls && (r->tlscfg = tls_config_new(cause, clen)) == NULL) {
		*refused = 1;
		redis_close(r);
		return NULL;
	}
	if (redis_connect(r) == -1) {
		strlcpy(cause, r->error, clen);
		*refused = r->fatal;
		redis_close(r);
		return NULL;
	}
	return r;
}

/*
 * Send a command (as an argv) and read its reply, reconnecting after an
 * I/O error, and sending it again after a "not now" error (which Redis
 * answers without running it), until deadline (CLOCK_MONOTONIC, ms). NULL
 * with redis_error() if there was no answer by then.
 */
redisReply *
redis_argv(struct redis *r, uint64_t deadline, int argc, const char **argv,
    const size_t *lens)
{
	redisReply	*rep;
	uint64_t	 wait = RETRY_MIN_MS, now;

	for (;;) {
		if (r->fd != -1 || redis_connect(r) == 0) {
			if ((rep = redis_call(r, argc, argv, lens)) != NULL &&
			    (rep->type != REDIS_REPLY_ERROR ||
			    !redis_not_now(rep->str)))
				return rep;
			if (rep != NULL)
				snprintf(r->error, sizeof(r->error), "%.400s: "
				    "%.300s", r->where, rep->str);
			freeReplyObject(rep);
		}
		if (r->fatal || (now = loop_now()) >= deadline)
			return NULL;
		if (wait > deadline - now)
			wait = deadline - now;
		usleep((useconds_t)wait * 1000);
		if ((wait *= 2) > RETRY_MAX_MS)
			wait = RETRY_MAX_MS;
	}
}

/* A command whose arguments are all strings (no NUL); see redis_argv. */
redisReply *
redis_strv(struct redis *r, uint64_t deadline, int argc, const char **argv)
{
	size_t	lens[REDIS_ARGS_MAX];

	if (redis_lens(r, argc, argv, lens) == -1)
		return NULL;
	return redis_argv(r, deadline, argc, argv, lens);
}

const char *
redis_error(const struct redis *r)
{
	return r->error;
}

void
redis_close(struct redis *r)
{
	if (r == NULL)
		return;
	redis_drop(r);
	tls_config_free(r->tlscfg);
	explicit_bzero(r->password, sizeof(r->password));
	free(r);
}
