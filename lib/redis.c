/*
 * One connection to Redis, for one bridge. A command that fails on the
 * connection (refused, reset, timed out) is sent again on a new connection
 * until a deadline: an I/O error is not an answer, and neither is "not now"
 * (loading, busy in a script). What else Redis answers, an error reply
 * included, is the caller's to judge.
 *
 * hiredis 0.14 sets no reply timeout by itself and keeps none across a
 * reconnect: it is set on every new context, above the XREAD BLOCK time so
 * that a blocked read is never taken for a dead server.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "redis.h"

#define RETRY_MIN_MS	50
#define RETRY_MAX_MS	1000

struct redis {
	struct redis_url	 url;
	char			 password[256];
	redisContext		*c;
	char			 error[1024];
	int			 fatal;		/* refused: no use retrying */
};

static struct timeval
redis_tv(uint64_t ms)
{
	struct timeval	tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) *
			    1000 };

	return tv;
}

static void
redis_drop(struct redis *r)
{
	if (r->c != NULL)
		redisFree(r->c);
	r->c = NULL;
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

	if (!ok) {
		snprintf(r->error, sizeof(r->error), "%.600s: %.300s%s", what,
		    rep != NULL ? rep->str : r->c->errstr, hint);
		r->fatal = rep != NULL && !redis_not_now(rep->str);
		redis_drop(r);
	}
	freeReplyObject(rep);
	return ok ? 0 : -1;
}

/* Connect, log in and select the database. -1 with r->error. */
static int
redis_connect(struct redis *r)
{
	const struct redis_url	*u = &r->url;
	redisReply		*rep;
	char			 where[PATH_MAX + 300], what[PATH_MAX + 600];

	r->fatal = 0;
	if (u->host[0] != '\0') {
		snprintf(where, sizeof(where), "redis at %s:%d", u->host,
		    u->port);
		r->c = redisConnectWithTimeout(u->host, u->port,
		    redis_tv(REDIS_CONNECT_MS));
	} else {
		snprintf(where, sizeof(where), "redis at %s", u->path);
		r->c = redisConnectUnixWithTimeout(u->path,
		    redis_tv(REDIS_CONNECT_MS));
	}
	if (r->c == NULL || r->c->err) {
		snprintf(r->error, sizeof(r->error), "cannot connect to "
		    "%.400s: %.300s",
		    where, r->c != NULL ? r->c->errstr : "out of memory");
		redis_drop(r);
		return -1;
	}
	/* The command this bridge runs must not inherit the connection. */
	fcntl(r->c->fd, F_SETFD, FD_CLOEXEC);
	redisSetTimeout(r->c, redis_tv(REDIS_REPLY_MS));
	if (r->password[0] != '\0') {
		if (u->user[0] != '\0')
			rep = redisCommand(r->c, "AUTH %s %s", u->user,
			    r->password);
		else
			rep = redisCommand(r->c, "AUTH %s", r->password);
		snprintf(what, sizeof(what), "%.400s refused the login%s%.128s",
		    where, u->user[0] != '\0' ? " of user " : "", u->user);
		if (redis_setup_ok(r, rep, what, "") == -1)
			return -1;
	}
	/* Without a password, a server that wants one says so here. */
	rep = redisCommand(r->c, "PING");
	if (redis_setup_ok(r, rep, where, rep != NULL &&
	    rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOAUTH",
	    6) == 0 ? " (set SFRUN_REDIS_PASSWORD or "
	    "SFRUN_REDIS_PASSWORD_FILE)" : "") == -1)
		return -1;
	if (u->db != 0) {
		rep = redisCommand(r->c, "SELECT %d", u->db);
		snprintf(what, sizeof(what), "%.400s: SELECT %d", where, u->db);
		if (redis_setup_ok(r, rep, what, "") == -1)
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
	strlcpy(r->password, password != NULL && *password != '\0' ?
	    password : u->pass, sizeof(r->password));
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
		if (r->c != NULL || redis_connect(r) == 0) {
			rep = redisCommandArgv(r->c, argc, argv, lens);
			if (rep != NULL && (rep->type != REDIS_REPLY_ERROR ||
			    !redis_not_now(rep->str)))
				return rep;
			snprintf(r->error, sizeof(r->error), "redis: %.300s",
			    rep != NULL ? rep->str : r->c->errstr);
			if (rep == NULL)
				redis_drop(r);
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
	int	i;

	if (argc > REDIS_ARGS_MAX) {
		snprintf(r->error, sizeof(r->error), "redis: too many "
		    "arguments");
		return NULL;
	}
	for (i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
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
	explicit_bzero(r->password, sizeof(r->password));
	free(r);
}
