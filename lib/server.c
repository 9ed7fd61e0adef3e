/*
 * The server: it accepts clients of its own user, keeps the table of runs in
 * flight by key, starts a run for the first request of a key and lets every
 * later request of that key join it. It never copies output to a waiter: a
 * waiter is handed the run's spool files and told, in the order the command
 * produced it, how far each is valid; then how the run ended.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/tree.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libutil.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "fds.h"
#include "key.h"
#include "log.h"
#include "loop.h"
#include "proto.h"
#include "record.h"
#include "redisurl.h"
#include "run.h"
#include "server.h"
#include "sock.h"
#include "spool.h"

#define STALL_MS	10000	/* to send a whole request after connecting */
#define ACCEPT_RETRY_MS	100	/* after running out of descriptors */
#define READ_CHUNK	65536
#define ANNOUNCE_MS	1	/* new output is told a waiter at most this
				   often while it streams */
#define TRIM_MS		1000	/* idle this long: give memory back */
#define FIRST_IDLE_MS	2000	/* idle before the first client: at least */
#define CONNS_MAX	4096	/* connections at once; more are refused */
#define INBUF_MAX	(64U << 20)	/* request bytes held beyond READ_CHUNK
					   per connection, all together */
/*
 * Descriptors: what a run holds in the server (two pipes, the error pipe,
 * the pidfd, the spool, a bridge's socket), what a connection holds while
 * its request is read (itself, its working directory, the run it may
 * start), and on top of what the server holds when idle (counted at its
 * start), what starting a run takes for a moment (the pipes' other ends, a
 * record, /proc, a new spool).
 */
#define RUN_FDS		6
#define BRIDGE_FDS	4	/* and a backend run's command: its error
				   pipe, its pidfd, the kept directory */
#define CONN_FDS	(2 + RUN_FDS)
#define BUSY_FDS	6

struct conn;

/* A run as the key table sees it: its key, its waiters. */
struct flight {
	/* Pointers and 64-bit fields first, ints after: no padding holes. */
	RB_ENTRY(flight)	 entry;		/* in the table while joinable */
	TAILQ_ENTRY(flight)	 all;		/* or on the ended list */
	char			*key;
	char			*argv;		/* for --status: its arguments */
	char			*cwd;		/* NULL if not known */
	uint64_t		 id;
	struct run		*run;
	uint64_t		 linger_ms;	/* joinable this long after */
	struct loop_timer	*linger;
	uint64_t		 ended;		/* loop_now() at its end */
	struct loop_timer	*announce;	/* new output, told soon */
	uint64_t		 told;		/* loop_now() when last told */
	TAILQ_HEAD(, conn)	 waiters;
	TAILQ_HEAD(, conn)	 fresh;		/* --fresh: wait for its end */
	uint32_t		 keylen;
	uint32_t		 argvlen;	/* ... each with its NUL, cut */
	unsigned		 nwaiters;
	unsigned		 nfresh;
	int			 joinable;
	int			 keep;		/* --keep, -d: no waiter needed */
	int			 tty;		/* on a terminal (--tty) */
	int			 ended_here;	/* marked: freed after the callback */

	/*
	 * A run through the Redis backend: run is its bridge, whose output
	 * is the run's; cmd the command, once this host leads. The bridge
	 * talks on side, in frames.
	 */
	struct run		*cmd;
	struct loop_io		*side_io;
	struct pbuf		 side_in;
	struct pbuf		 side_out;
	uint64_t		 side_written;	/* bytes of side_out */
	uint64_t		 side_fds_at;
	uint8_t			*request;	/* MSG_RUN, until it leads */
	uint64_t		 gen;
	uint32_t		 requestlen;
	uint32_t		 role;		/* enum backend_role */
	uint32_t		 roles;		/* MSG_ROLEs read */
	int			 side;		/* -1: none */
	int			 side_fds[2];	/* go with byte side_fds_at */
	int			 side_nfds;
	int			 cwdfd;		/* where it runs, until it leads */
	int			 cancelled;	/* no command to start: its
						   last waiter left, or its
						   bridge ended */
	int			 rerun;		/* may lead a later generation */
	char			 holder[PROTO_HOLDER_MAX + 1];
	struct proto_done	 end;		/* the bridge's; how 0: none */
};

enum conn_state {
	CONN_HELLO,		/* expecting MSG_HELLO */
	CONN_REQUEST,		/* expecting a request */
	CONN_QUEUED,		/* --fresh: waits for its flight to end */
	CONN_PARKED,		/* its key waits for an earlier server's run */
	CONN_WAITING,		/* a waiter of a flight */
	CONN_CLOSING		/* closed once its output is written */
};

struct conn {
	int			 fd;
	struct loop_io		*io;
	uint32_t		 events;
	enum conn_state		 state;
	int			 greeted;	/* our hello is queued */
	struct pbuf		 in;
	struct pbuf		 out;
	uint64_t		 written;	/* bytes of out ever written */
	int			 rfds[SOCK_MAXFDS];	/* received */
	int			 nrfds;
	int			 sendfd;	/* -1, or goes with byte */
	uint64_t		 sendfd_at;	/* ... sendfd_at of out */
	int			 sendfd_own;	/* a copy, closed here */
	struct loop_timer	*stall;

	struct flight		*flight;
	TAILQ_ENTRY(conn)	 wentry;	/* in waiters, or in fresh */
	uint8_t			*req;		/* CONN_QUEUED: its request */
	uint32_t		 reqlen;
	uint64_t		 announced;	/* spool offset told so far */
	int			 done_sent;
	uint32_t		 roles_sent;	/* of the flight's roles */
	int			 detach;	/* -d: told when it started */

	TAILQ_ENTRY(conn)	 entry;
};

static int	flight_cmp(struct flight *, struct flight *);
RB_HEAD(flight_tree, flight);
RB_GENERATE_STATIC(flight_tree, flight, entry, flight_cmp)

static struct {
	char			 path[PATH_MAX];
	char			 pidpath[PATH_MAX];
	struct pidfh		*pfh;
	int			 lfd;
	int			 inherited;	/* socket activation */
	struct loop_io		*lio;
	struct loop_timer	*accept_retry;
	dev_t			 sock_dev;	/* the socket file we made */
	ino_t			 sock_ino;
	int			 retired;	/* no longer listening */
	int			 served;	/* has accepted a connection */
	int			 paused;	/* accepting waits for fds */
	uint64_t		 fd_limit;
	uint64_t		 base_fds;	/* held when idle, and BUSY_FDS */
	size_t			 inbuf;		/* request bytes held */
	int			 said_conns;	/* logged once per excess */
	int			 said_inbuf;
	int			 sigfd;
	struct loop_io		*sigio;
	uint64_t		 idle_ms;
	struct loop_timer	*idle_timer;
	int			 idle;		/* no run, no client */
	struct loop_timer	*spare;		/* make the next spool */
	struct loop_timer	*trim;		/* give memory back */
	int			 stopping;
	uint64_t		 next_id;
	struct proto_counters	 counters;
	struct flight_tree	 table;
	TAILQ_HEAD(, flight)	 flights;
	unsigned		 nflights;
	TAILQ_HEAD(, conn)	 conns;
	unsigned		 nconns;
	TAILQ_HEAD(, conn)	 closed_conns;	/* freed by server_reap */
	TAILQ_HEAD(, flight)	 ended_flights;	/* freed by server_reap */
	TAILQ_HEAD(, conn)	 parked;	/* CONN_PARKED */
} srv;

static int	conn_flush(struct conn *);
static void	conn_close(struct conn *, const char *);
static void	conn_join(struct conn *, struct flight *,
		    const struct proto_run *, int);
static void	conn_error(struct conn *, const char *);
static int	conn_jobserver(const struct conn *, const struct proto_run *,
		    int [RUN_PASS_MAX][2]);
static void	flight_fresh_next(struct flight *);
static void	conn_process(struct conn *);
static void	conn_free_in(struct conn *);
static void	server_retire(const char *);

static int
flight_cmp(struct flight *a, struct flight *b)
{
	int	c;

	c = memcmp(a->key, b->key, a->keylen < b->keylen ? a->keylen :
	    b->keylen);
	if (c != 0)
		return c;
	return a->keylen < b->keylen ? -1 : a->keylen > b->keylen;
}

static void	flight_detach(struct flight *);
static void	flight_maybe_free(struct flight *);
static void	flight_side_close(struct flight *);
static void	flight_done(void *);
static void	flight_drop_request(struct flight *);
static void	flight_output(void *);
static void	flight_side_cb(int, uint32_t, void *);
static int	server_fds_left(void);
static void	server_pause(int);

/*
 * A run is over once its process has ended and its output is all in, and
 * for a backend run, once its command has ended too.
 */
static int
flight_finished(const struct flight *f)
{
	return run_finished(f->run) && (f->cmd == NULL ||
	    run_finished(f->cmd));
}

/* The process whose descendants are inside the run: its command's. */
static pid_t
flight_pid(const struct flight *f)
{
	return f->cmd != NULL && !run_finished(f->cmd) ? run_pid(f->cmd) :
	    run_pid(f->run);
}

/*
 * How a run ended. For a backend run, in this order: the server's own
 * failure (it could not keep the output, or start the bridge); the
 * command's end, when it ran on this host; the bridge's report (a followed
 * run's end, or why it failed); else the bridge ended without one.
 */
static void
flight_result(const struct flight *f, struct proto_done *d)
{
	uint32_t	how;

	run_result(f->run, d);
	if (f->role == ROLE_NONE || d->how == DONE_FAILED ||
	    d->how == DONE_EXEC_FAILED)
		return;		/* not a backend run, or the server's failure */
	/*
	 * A bridge that leads exits 0 once it has copied all the command's
	 * output; any other end may have lost some of it.
	 */
	if (f->cmd != NULL && (d->how != DONE_EXITED || d->value != 0)) {
		how = d->how;
		d->how = DONE_FAILED;
		snprintf(d->text, sizeof(d->text), "its bridge to redis ended "
		    "(%s %d) before all of the command's output was copied",
		    how == DONE_SIGNALED ? "signal" : "exit", d->value);
		return;
	}
	if (f->cmd != NULL)
		run_result(f->cmd, d);
	else if (f->end.how != 0)
		*d = f->end;
	else {
		how = d->how;
		d->how = DONE_FAILED;
		snprintf(d->text, sizeof(d->text), "its bridge to redis ended "
		    "without saying how the run did (%s %d)",
		    how == DONE_SIGNALED ? "signal" : "exit", d->value);
	}
}

/*
 * Exit once stopping and nothing runs (lingering results are dropped then);
 * arm the idle timer when there is nothing at all.
 */
static void
server_check(void)
{
	struct flight	*f, *next;

	if (srv.stopping) {
		TAILQ_FOREACH_SAFE(f, &srv.flights, all, next) {
			if (f->joinable && flight_finished(f)) {
				flight_detach(f);
				flight_maybe_free(f);
			}
		}
	}
	if (srv.stopping && srv.nflights == 0) {
		loop_exit();
		return;
	}
	if (srv.paused && server_fds_left())
		server_pause(0);
	if (srv.nflights == 0 && srv.nconns == 0) {
		if (!srv.idle) {	/* just went idle */
			srv.idle = 1;
			loop_timer_set(srv.trim, TRIM_MS);
		}
		/*
		 * Not before the client that started us has connected, even
		 * with a very short idle timeout on a loaded machine.
		 */
		if (srv.idle_ms > 0 && !loop_timer_armed(srv.idle_timer))
			loop_timer_set(srv.idle_timer, srv.served ||
			    srv.idle_ms >= FIRST_IDLE_MS ? srv.idle_ms :
			    FIRST_IDLE_MS);
	} else {
		srv.idle = 0;
		loop_timer_stop(srv.idle_timer);
	}
}

static struct flight *
flight_find(const char *key, uint32_t keylen)
{
	struct flight	f;

	memset(&f, 0, sizeof(f));
	f.key = (char *)key;
	f.keylen = keylen;
	return RB_FIND(flight_tree, &srv.table, &f);
}

/* Take the flight out of the key table: the next request starts anew. */
static void
flight_detach(struct flight *f)
{
	if (!f->joinable)
		return;
	RB_REMOVE(flight_tree, &srv.table, f);
	f->joinable = 0;
	loop_timer_stop(f->linger);
}

/*
 * A flight is over once its run has finished, its last waiter has left and
 * its result no longer lingers (a finished flight still in the table
 * lingers). It leaves the server's count at once, and is freed by
 * server_reap once the callback that ended it has returned: whoever called
 * this may go on using it.
 */
static void
flight_maybe_free(struct flight *f)
{
	if (f->ended_here || f->nwaiters > 0 || !flight_finished(f) ||
	    f->joinable)
		return;
	f->ended_here = 1;
	TAILQ_REMOVE(&srv.flights, f, all);
	TAILQ_INSERT_TAIL(&srv.ended_flights, f, all);
	srv.nflights--;
	loop_timer_stop(f->announce);
	flight_side_close(f);
}

static void
flight_free(struct flight *f)
{
	run_free(f->run);
	run_free(f->cmd);
	flight_drop_request(f);
	loop_timer_free(f->linger);
	loop_timer_free(f->announce);
	free(f->argv);
	free(f->cwd);
	free(f->key);
	free(f);
}

/* --linger is over: the result is dropped once its waiters have it. */
static void
flight_linger_cb(void *arg)
{
	struct flight	*f = arg;

	flight_detach(f);
	flight_maybe_free(f);
}

/* Push what is new to every waiter that is not blocked on its socket. */
static void
flight_output(void *arg)
{
	struct flight	*f = arg;
	struct conn	*c, *next;

	loop_timer_stop(f->announce);
	f->told = loop_now();
	TAILQ_FOREACH_SAFE(c, &f->waiters, wentry, next) {
		if (!(c->events & EPOLLOUT))
			conn_flush(c);
	}
}

/*
 * The run has ended: the key is free, or with --linger its result stays
 * joinable for a while; waiters get the rest of the output and the end.
 */
static void
flight_done(void *arg)
{
	struct flight	*f = arg;

	/*
	 * A bridge that ended before its command (it failed, or was killed)
	 * can no longer take the command's output: the command is ended, and
	 * the run with it.
	 */
	if (f->cmd != NULL && !run_finished(f->cmd)) {
		run_cancel(f->cmd);
		return;
	}
	f->ended = loop_now();
	/*
	 * A bridge says how it ended before it exits: read that first. No
	 * command starts now, whatever role it said: no one would copy its
	 * output, nor hold its lease.
	 */
	f->cancelled = 1;
	if (f->side != -1)
		flight_side_cb(f->side, EPOLLIN, f);
	flight_drop_request(f);
	if (f->joinable && f->linger_ms > 0 && !srv.stopping)
		loop_timer_set(f->linger, f->linger_ms);
	else
		flight_detach(f);
	/*
	 * The next run's spool is made once this one's end is written (the
	 * timer fires after this batch of events): not while a command that
	 * has just been started may already be exiting, which would delay its
	 * reap, and before the next caller has even connected.
	 */
	loop_timer_set(srv.spare, 0);
	flight_output(f);	/* the rest of the output, and the end */
	flight_fresh_next(f);
	flight_maybe_free(f);
}

/*
 * The command wrote more. Its waiters are told at once, unless they were
 * told within ANNOUNCE_MS: then once that has passed, with all that came
 * meanwhile. A command that writes a byte at a time, switching streams,
 * would otherwise cost every waiter a message and a wakeup per byte; this
 * way it costs at most one per ANNOUNCE_MS, and the spool's last record
 * grows until it is told. The end is told at once (flight_done).
 */
static void
flight_more(void *arg)
{
	struct flight	*f = arg;
	uint64_t	 since = loop_now() - f->told;

	if (loop_timer_armed(f->announce))
		return;
	if (since >= ANNOUNCE_MS)
		flight_output(f);
	else
		loop_timer_set(f->announce, ANNOUNCE_MS - since);
}

static const struct run_cbs flight_cbs = { flight_more, flight_done };

static void
flight_side_close(struct flight *f)
{
	int	i;

	if (f->side == -1)
		return;
	loop_io_del(f->side_io);
	f->side_io = NULL;
	close(f->side);
	f->side = -1;
	for (i = 0; i < f->side_nfds; i++)
		close(f->side_fds[i]);
	f->side_nfds = 0;
	if (f->side_out.data != NULL)		/* a password */
		explicit_bzero(f->side_out.data, f->side_out.cap);
	pbuf_free(&f->side_out);
	pbuf_free(&f->side_in);
}

/*
 * Write what is queued for the bridge, the descriptors with the byte they
 * go with. Never blocks: EPOLLOUT is armed only while something is left.
 */
static void
flight_side_flush(struct flight *f)
{
	const uint8_t	*p;
	size_t		 len;
	ssize_t		 n;
	int		 i;

	while (f->side != -1 && (len = pbuf_used(&f->side_out)) > 0) {
		p = f->side_out.data + f->side_out.off;
		if (f->side_nfds > 0 && f->side_written == f->side_fds_at) {
			n = sock_send(f->side, p, len, f->side_fds,
			    f->side_nfds);
			if (n > 0) {
				for (i = 0; i < f->side_nfds; i++)
					close(f->side_fds[i]);
				f->side_nfds = 0;
			}
		} else {
			if (f->side_nfds > 0 &&
			    len > f->side_fds_at - f->side_written)
				len = (size_t)(f->side_fds_at -
				    f->side_written);
			n = send(f->side, p, len, MSG_NOSIGNAL);
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1) {
			log_warn("run %llu: cannot write to its bridge: %s",
			    (unsigned long long)f->id, strerror(errno));
			flight_side_close(f);
			return;
		}
		pbuf_consume(&f->side_out, (size_t)n);
		f->side_written += (uint64_t)n;
	}
	if (f->side != -1)
		loop_io_mod(f->side_io, EPOLLIN | (pbuf_used(&f->side_out) >
		    0 ? EPOLLOUT : 0));
}

/* The command's end, for the bridge to tell the other hosts. */
static void
flight_cmd_done(void *arg)
{
	struct flight		*f = arg;
	struct proto_done	 d;

	run_result(f->cmd, &d);
	if (f->side != -1) {
		proto_encode_done(&f->side_out, &d);
		flight_side_flush(f);
	}
	if (flight_finished(f))
		flight_done(f);
}

/* The command's output goes to the bridge, never to the server. */
static const struct run_cbs flight_cmd_cbs = { NULL, flight_cmd_done };

/*
 * The environment of a backend run's command: the invoker's, without the
 * Redis password (in SFRUN_REDIS_PASSWORD or in SFRUN_BACKEND's URL), and
 * with SFRUN_FENCE when it leads for every host (gen). NUL-terminated
 * strings into env; their count, or -1.
 */
static int
flight_cmd_env(const struct proto_run *req, uint64_t gen, struct pbuf *env)
{
	const char	*s = req->env;
	char		 fence[40], *url;
	uint32_t	 i;
	int		 n = 0, fail = 0;

	for (i = 0; i < req->envc; i++, s += strlen(s) + 1) {
		if (strncmp(s, "SFRUN_REDIS_PASSWORD=", 21) == 0 ||
		    strncmp(s, "SFRUN_FENCE=", 12) == 0)
			continue;
		if (strncmp(s, "SFRUN_BACKEND=", 14) == 0) {
			if ((url = strdup(s)) == NULL)
				return -1;
			redisurl_strip_password(url + 14);
			fail |= pbuf_add(env, url, strlen(url) + 1);
			explicit_bzero(url, strlen(url));
			free(url);
		} else
			fail |= pbuf_add(env, s, strlen(s) + 1);
		n++;
	}
	if (gen != 0) {
		snprintf(fence, sizeof(fence), "SFRUN_FENCE=%llu",
		    (unsigned long long)gen);
		fail |= pbuf_add(env, fence, strlen(fence) + 1);
		n++;
	}
	return fail ? -1 : n;
}

/* Forget the request kept for the command, and its working directory. */
static void
flight_drop_request(struct flight *f)
{
	if (f->request != NULL)
		explicit_bzero(f->request, f->requestlen);	/* a password */
	free(f->request);
	f->request = NULL;
	if (f->cwdfd != -1)
		close(f->cwdfd);
	f->cwdfd = -1;
}

/*
 * This host runs the command (it leads, or runs alone with --fallback
 * local): started here like any run's, its output's read ends sent to the
 * bridge, which copies it to this host's waiters and into Redis. What is
 * left of --run-timeout counts from the request. A command that cannot be
 * started is reported to the bridge as its end.
 */
static void
flight_lead(struct flight *f)
{
	struct proto_run	 req;
	struct proto_done	 d;
	struct pbuf		 env = { 0 };
	const char		*errstr;
	char			 cause[256];
	uint64_t		 spent;
	int			 n, hand[2] = { -1, -1 };

	if (f->request == NULL || f->cmd != NULL)
		return;
	memset(&d, 0, sizeof(d));
	d.how = DONE_FAILED;
	if (proto_decode_run(f->request, f->requestlen, &req, &errstr) == -1)
		snprintf(d.text, sizeof(d.text), "%s", errstr);
	else if ((n = flight_cmd_env(&req, f->role == ROLE_LEADER ? f->gen :
	    0, &env)) == -1)
		snprintf(d.text, sizeof(d.text), "out of memory");
	else {
		req.env = (const char *)env.data;
		req.envc = (uint32_t)n;
		req.envlen = (uint32_t)env.len;
		spent = loop_now() - run_started(f->run);
		if (req.run_timeout_ms > 0)
			req.run_timeout_ms = req.run_timeout_ms > spent ?
			    req.run_timeout_ms - spent : 1;
		f->cmd = run_start(&req, f->cwdfd, -1, NULL, 0, hand, f->id,
		    &flight_cmd_cbs, f, cause, sizeof(cause));
		if (f->cmd == NULL)
			snprintf(d.text, sizeof(d.text), "%s", cause);
	}
	if (env.data != NULL)
		explicit_bzero(env.data, env.cap);
	pbuf_free(&env);
	flight_drop_request(f);
	if (f->cmd == NULL) {
		f->end = d;
		proto_encode_done(&f->side_out, &d);
	} else {
		f->side_fds[0] = hand[0];
		f->side_nfds = 1;
		if (hand[1] != -1)
			f->side_fds[f->side_nfds++] = hand[1];
		f->side_fds_at = f->side_written + pbuf_used(&f->side_out);
		proto_encode_u32(&f->side_out, MSG_LEAD,
		    (uint32_t)f->side_nfds);
	}
	flight_side_flush(f);
}

/*
 * One frame from the bridge: MSG_ROLE (the part this host plays; when it
 * leads or runs alone, the command starts here), or MSG_DONE (how its part
 * ended: a followed run's end, or why it failed). Returns -1 for anything
 * else: the bridge is our own program, but not trusted to be right.
 */
static int
flight_report(struct flight *f, uint32_t type, const uint8_t *p, uint32_t len)
{
	struct proto_role	r;
	struct proto_done	d;

	/* A follower may lead a later generation (--on-leader-loss rerun). */
	if (type == MSG_ROLE && (f->role == ROLE_PENDING ||
	    f->role == ROLE_FOLLOWER) && f->cmd == NULL &&
	    proto_decode_role(p, len, &r) == 0 && (r.role != ROLE_LOCAL ||
	    f->role == ROLE_PENDING)) {
		f->role = r.role;
		f->roles++;
		f->gen = r.gen;
		strlcpy(f->holder, r.holder, sizeof(f->holder));
		/* Not for a bridge that ended, or that the server ended. */
		if (r.role != ROLE_FOLLOWER && !f->cancelled &&
		    !run_finished(f->run) && !run_cancelled(f->run))
			flight_lead(f);
		else if (!f->rerun)
			flight_drop_request(f);
		return 0;
	}
	if (type == MSG_DONE && f->end.how == 0 &&
	    proto_decode_done(p, len, &d) == 0 &&
	    d.how != DONE_EXEC_FAILED) {
		f->end = d;
		return 0;
	}
	log_warn("run %llu: bad report from its bridge",
	    (unsigned long long)f->id);
	return -1;
}

/*
 * The bridge's socket: write what is queued; take every whole frame it
 * sent, until the socket is empty or closed.
 */
static void
flight_side_cb(int fd, uint32_t events, void *arg)
{
	struct flight	*f = arg;
	const uint8_t	*payload;
	const char	*errstr;
	uint32_t	 type, plen, roles = f->roles;
	ssize_t		 n;
	int		 used;

	if (events & EPOLLOUT)
		flight_side_flush(f);
	while (f->side != -1) {
		if (pbuf_reserve(&f->side_in, 4096) == -1) {
			flight_side_close(f);
			break;
		}
		n = read(fd, f->side_in.data + f->side_in.len,
		    f->side_in.cap - f->side_in.len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n > 0)
			f->side_in.len += (size_t)n;
		while (f->side != -1 && (used = proto_next(f->side_in.data +
		    f->side_in.off, pbuf_used(&f->side_in), &type, &payload,
		    &plen, &errstr)) != 0) {
			if (used == -1 || flight_report(f, type, payload,
			    plen) == -1) {
				flight_side_close(f);
				break;
			}
			pbuf_consume(&f->side_in, (size_t)used);
		}
		if (n <= 0)
			flight_side_close(f);
	}
	/*
	 * The waiters hear of a new role at once (a rerun's too); at the
	 * end they hear of it with the rest.
	 */
	if (f->roles != roles && !flight_finished(f))
		flight_output(f);
}

/*
 * Start the bridge of a backend run: sfrund itself, as `sfrund --bridge`,
 * with the command's argv and environment. It is sent the request (without
 * the environment, which it has) on its side descriptor, and reports there
 * which part this host plays. The command is not its to start: when this
 * host leads, the server starts it (flight_lead), with the request kept
 * until then. Its --kill-after is at least the lease, time to give back
 * what it holds in Redis when cancelled.
 */
static struct run *
flight_bridge(struct flight *f, const struct proto_run *req, int cwdfd,
    char *cause, size_t clen)
{
	struct proto_run	 local = *req;
	struct pbuf		 keep = { 0 };
	struct run		*r;
	int			 sv[2];

	if (proto_encode_run(&keep, req) == -1 || (f->cwdfd =
	    fcntl(cwdfd, F_DUPFD_CLOEXEC, 0)) == -1) {
		snprintf(cause, clen, "%s", strerror(errno));
		if (keep.data != NULL)
			explicit_bzero(keep.data, keep.cap);
		pbuf_free(&keep);
		return NULL;
	}
	f->requestlen = (uint32_t)(keep.len - PROTO_HEADER_SIZE);
	if ((f->request = malloc(f->requestlen)) != NULL)
		memcpy(f->request, keep.data + PROTO_HEADER_SIZE,
		    f->requestlen);
	explicit_bzero(keep.data, keep.cap);
	pbuf_free(&keep);
	if (f->request == NULL) {
		snprintf(cause, clen, "out of memory");
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(cause, clen, "socketpair: %s", strerror(errno));
		return NULL;
	}
	local.run_timeout_ms = 0;
	local.flags &= ~(uint32_t)RUN_TTY;
	if (local.kill_after_ms < req->lease_ms)
		local.kill_after_ms = req->lease_ms;
	r = run_start(&local, cwdfd, sv[1], NULL, 0, NULL, f->id, &flight_cbs,
	    f, cause, clen);
	close(sv[1]);
	if (r == NULL) {
		close(sv[0]);
		return NULL;
	}
	f->side = sv[0];
	f->role = ROLE_PENDING;
	f->rerun = (req->backend_flags & BACKEND_RERUN) != 0;
	local = *req;
	local.envc = 0;
	local.env = NULL;
	local.envlen = 0;
	local.argc = 1;
	local.argvlen = (uint32_t)strlen(req->argv) + 1;
	if (proto_encode_run(&f->side_out, &local) == -1 ||
	    fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1 ||
	    (f->side_io = loop_io_add(sv[0], EPOLLIN, flight_side_cb, f)) ==
	    NULL) {
		log_warn("run %llu: cannot talk to its bridge: %s",
		    (unsigned long long)f->id, strerror(errno));
		flight_side_close(f);
		run_cancel(r);
	} else
		flight_side_flush(f);
	return r;
}

/*
 * Keep what --status shows of a run besides its key: its arguments (cut
 * to what a status frame holds) and its working directory. Without memory
 * for them, --status shows less.
 */
static void
flight_describe(struct flight *f, const struct proto_run *req, int cwdfd)
{
	char	path[64], cwd[PROTO_CWD_MAX + 1];
	ssize_t	n;

	f->argvlen = req->argvlen < PROTO_COMMAND_MAX ? req->argvlen :
	    PROTO_COMMAND_MAX;
	if ((f->argv = malloc(f->argvlen ? f->argvlen : 1)) != NULL)
		memcpy(f->argv, req->argv, f->argvlen);
	else
		f->argvlen = 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", cwdfd);
	if ((n = readlink(path, cwd, sizeof(cwd) - 1)) > 0) {
		cwd[n] = '\0';
		f->cwd = strdup(cwd);
	}
}

/*
 * Start a run for req and enter it in the key table. The command gets the
 * descriptors in pass at their numbers (not a backend run's: the server
 * starts that command later, when this host leads, without them).
 */
static struct flight *
flight_start(const struct proto_run *req, int cwdfd, const int (*pass)[2],
    int npass, char *cause, size_t clen)
{
	struct flight	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->key = malloc(req->keylen)) == NULL ||
	    (f->linger = loop_timer_new(flight_linger_cb, f)) == NULL ||
	    (f->announce = loop_timer_new(flight_output, f)) == NULL) {
		if (f != NULL) {
			loop_timer_free(f->linger);
			free(f->key);
		}
		free(f);
		snprintf(cause, clen, "out of memory");
		return NULL;
	}
	memcpy(f->key, req->key, req->keylen);
	f->keylen = req->keylen;
	flight_describe(f, req, cwdfd);
	f->id = ++srv.next_id;
	f->tty = (req->flags & RUN_TTY) != 0;
	f->side = -1;
	f->cwdfd = -1;
	TAILQ_INIT(&f->waiters);
	TAILQ_INIT(&f->fresh);
	if (req->url != NULL)
		f->run = flight_bridge(f, req, cwdfd, cause, clen);
	else
		f->run = run_start(req, cwdfd, -1, pass, npass, NULL, f->id,
		    &flight_cbs, f, cause, clen);
	if (f->run == NULL) {
		flight_side_close(f);
		flight_drop_request(f);
		loop_timer_free(f->linger);
		loop_timer_free(f->announce);
		free(f->argv);
		free(f->cwd);
		free(f->key);
		free(f);
		return NULL;
	}
	RB_INSERT(flight_tree, &srv.table, f);
	f->joinable = 1;
	TAILQ_INSERT_TAIL(&srv.flights, f, all);
	srv.nflights++;
	srv.counters.runs_started++;
	server_check();
	return f;
}

static void
conn_want_out(struct conn *c, int on)
{
	uint32_t	ev = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0);

	if (ev != c->events && loop_io_mod(c->io, ev) == 0)
		c->events = ev;
}

/*
 * Queue our hello, once: it goes with the answer to the request, so that a
 * client whose connection is closed before it knows nothing was done.
 */
static void
conn_greet(struct conn *c)
{
	if (!c->greeted)
		proto_encode_hello(&c->out);
	c->greeted = 1;
}

/* Queue an error line for the client; it is closed once that is written. */
static void
conn_error(struct conn *c, const char *msg)
{
	conn_greet(c);
	proto_encode_text(&c->out, MSG_ERROR, msg, strlen(msg));
	c->state = CONN_CLOSING;
}

/* Tell c what this host does in f's backend run (for -v). */
static void
conn_role(struct conn *c, const struct flight *f)
{
	struct proto_role	r;

	memset(&r, 0, sizeof(r));
	r.role = f->role;
	if (f->role != ROLE_LOCAL) {
		r.gen = f->gen;
		strlcpy(r.holder, f->holder, sizeof(r.holder));
	}
	proto_encode_role(&c->out, &r);
}

/*
 * Queue a backend run's role once it is known (and again if a rerun
 * changes it), then announcements of new output, or the end once all is
 * announced.
 */
static void
conn_fill(struct conn *c)
{
	struct flight		*f = c->flight;
	struct spool		*sp;
	struct proto_done	 d;
	uint64_t		 end;
	int			 announced = 0;

	if (f == NULL || c->done_sent || c->state == CONN_QUEUED)
		return;		/* --fresh: not this run's output */
	/*
	 * -d gets no output: the connection ends once the command has
	 * started, or with how it ended if it could not start.
	 */
	if (c->detach && (run_exec_state(f->run) > 0 ||
	    !flight_finished(f))) {
		if (run_exec_state(f->run) > 0)
			c->state = CONN_CLOSING;
		return;
	}
	if (c->roles_sent != f->roles && f->role >= ROLE_LEADER) {
		conn_role(c, f);
		c->roles_sent = f->roles;
	}
	/*
	 * One announcement says how far the spool holds whole records,
	 * however many there are: the client reads their headers itself.
	 */
	sp = run_spool(f->run);
	if ((end = spool_publish(sp)) > c->announced) {
		/*
		 * The spool's file goes with the first announcement (a run
		 * with no output never has one): attached to its first byte,
		 * it reaches the client with it.
		 */
		if (c->announced == 0) {
			c->sendfd = spool_fd(sp);
			c->sendfd_at = c->written + pbuf_used(&c->out);
		}
		proto_encode_data(&c->out, end);
		c->announced = end;
		announced = 1;
	}
	if (!announced && flight_finished(f)) {
		flight_result(f, &d);
		proto_encode_done(&c->out, &d);
		c->done_sent = 1;
		c->state = CONN_CLOSING;
	}
}

/*
 * Write what is queued, refilling from the flight while the socket takes
 * it. Never blocks: EPOLLOUT is armed only while something is pending.
 * Returns -1 once the connection is closed (it is freed after the callback).
 */
static int
conn_flush(struct conn *c)
{
	const uint8_t	*p;
	size_t		 len;
	ssize_t		 n;

	if (c->fd == -1)
		return -1;	/* closed: freed after this callback */
	for (;;) {
		if (pbuf_used(&c->out) == 0)
			conn_fill(c);
		if ((len = pbuf_used(&c->out)) == 0)
			break;
		p = c->out.data + c->out.off;
		if (c->sendfd != -1 && c->written == c->sendfd_at) {
			n = sock_send(c->fd, p, len, &c->sendfd, 1);
			if (n > 0) {
				if (c->sendfd_own)
					close(c->sendfd);
				c->sendfd = -1;
				c->sendfd_own = 0;
			}
		} else {
			if (c->sendfd != -1 && len > c->sendfd_at - c->written)
				len = (size_t)(c->sendfd_at - c->written);
			n = send(c->fd, p, len, MSG_NOSIGNAL);
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				conn_want_out(c, 1);
				return 0;
			}
			conn_close(c, strerror(errno));
			return -1;
		}
		pbuf_consume(&c->out, (size_t)n);
		c->written += (uint64_t)n;
	}
	conn_want_out(c, 0);
	if (c->state == CONN_CLOSING) {
		conn_close(c, NULL);
		return -1;
	}
	return 0;
}

/* Close the descriptors that came with the request. */
static void
conn_drop_fds(struct conn *c)
{
	int	i;

	for (i = 0; i < c->nrfds; i++)
		close(c->rfds[i]);
	c->nrfds = 0;
}

/*
 * The run goes on with no waiter: --keep or -d said so, or this host leads
 * it for every host, whose waiters elsewhere count too.
 */
static int
flight_kept(const struct flight *f)
{
	return f->keep || f->role == ROLE_LEADER;
}

/*
 * End a run no one waits for. A backend run's command is ended as a local
 * one is; a bridge with no command yet is told to give back what it holds
 * in Redis and leave (SIGTERM), and no command is started after that.
 */
static void
flight_cancel(struct flight *f)
{
	f->cancelled = 1;
	if (f->cmd != NULL)
		run_cancel(f->cmd);
	else
		run_cancel(f->run);
}

/*
 * A waiter leaves its run. If the run has not ended, it may be its last:
 * then the run is cancelled and its key freed, unless it is kept. Returns
 * what became of the run (LEAVE_*).
 */
static uint32_t
conn_unwait(struct conn *c)
{
	struct flight	*f = c->flight;
	uint32_t	 what = LEAVE_GOES_ON;

	if (f == NULL)
		return LEAVE_ENDED;
	c->flight = NULL;
	if (c->state == CONN_QUEUED) {	/* --fresh: it was not a waiter */
		TAILQ_REMOVE(&f->fresh, c, wentry);
		f->nfresh--;
		return LEAVE_GOES_ON;
	}
	TAILQ_REMOVE(&f->waiters, c, wentry);
	f->nwaiters--;
	if (flight_finished(f))
		what = LEAVE_ENDED;
	else if (f->nwaiters == 0 && flight_kept(f))
		what = LEAVE_KEPT;
	else if (f->nwaiters == 0) {
		flight_detach(f);
		flight_cancel(f);
		what = LEAVE_CANCELLED;
	}
	flight_maybe_free(f);
	return what;
}

/*
 * Close a connection; a waiter leaves its run (conn_unwait). What it holds
 * goes now; the connection itself is freed by server_reap once the
 * callback that closed it has returned.
 */
static void
conn_close(struct conn *c, const char *why)
{
	if (c->fd == -1)
		return;
	if (why != NULL)
		log_info("client %d: %s", c->fd, why);
	if (c->state == CONN_PARKED)
		TAILQ_REMOVE(&srv.parked, c, wentry);
	conn_unwait(c);
	if (c->sendfd_own)
		close(c->sendfd);
	c->sendfd = -1;
	c->sendfd_own = 0;
	if (c->req != NULL)
		explicit_bzero(c->req, c->reqlen);	/* a password, maybe */
	free(c->req);
	c->req = NULL;
	conn_drop_fds(c);
	loop_io_del(c->io);
	c->io = NULL;
	close(c->fd);
	c->fd = -1;
	c->state = CONN_CLOSING;
	loop_timer_stop(c->stall);
	conn_free_in(c);
	pbuf_free(&c->out);
	TAILQ_REMOVE(&srv.conns, c, entry);
	TAILQ_INSERT_TAIL(&srv.closed_conns, c, entry);
	srv.nconns--;
	server_check();
}

/*
 * After each batch of callbacks: free the connections closed and the
 * flights ended during it.
 */
static void
server_reap(void)
{
	struct conn	*c;
	struct flight	*f;

	while ((c = TAILQ_FIRST(&srv.closed_conns)) != NULL) {
		TAILQ_REMOVE(&srv.closed_conns, c, entry);
		loop_timer_free(c->stall);
		free(c);
	}
	if (TAILQ_EMPTY(&srv.ended_flights))
		return;
	while ((f = TAILQ_FIRST(&srv.ended_flights)) != NULL) {
		TAILQ_REMOVE(&srv.ended_flights, f, all);
		flight_free(f);
	}
	server_check();		/* it may be idle now, or done stopping */
}

/* The request is done with: its buffer goes. */
static void
conn_free_in(struct conn *c)
{
	srv.inbuf -= c->in.cap;
	if (srv.inbuf + READ_CHUNK <= INBUF_MAX / 2)
		srv.said_inbuf = 0;
	pbuf_free(&c->in);
}

static void
conn_stall_cb(void *arg)
{
	conn_close(arg, "dropped: no whole request in time");
}

/*
 * Make c a waiter of f: MSG_JOINED, then the run's output from its first
 * byte (with -d, only until the command has started).
 */
static void
conn_join(struct conn *c, struct flight *f, const struct proto_run *req,
    int led)
{
	struct proto_joined	j;

	if (!led)
		srv.counters.invocations_joined++;
	srv.counters.invocations_total++;
	if (req->flags & (RUN_KEEP | RUN_DETACH))
		f->keep = 1;
	if (req->linger_ms > f->linger_ms)
		f->linger_ms = req->linger_ms;
	memset(&j, 0, sizeof(j));
	j.led = led ? JOIN_LED : JOIN_JOINED;
	j.run_id = f->id;
	j.age_ms = loop_now() - run_started(f->run);
	if (flight_finished(f)) {	/* lingering: a replay */
		j.led = JOIN_REPLAY;
		j.age_ms = loop_now() - f->ended;
	}
	j.waiters = f->nwaiters + ((req->flags & RUN_DETACH) ? 0 : 1);
	j.tty = (uint32_t)f->tty;
	proto_encode_joined(&c->out, &j);
	c->detach = (req->flags & RUN_DETACH) != 0;
	c->state = CONN_WAITING;
	c->flight = f;
	TAILQ_INSERT_TAIL(&f->waiters, c, wentry);
	f->nwaiters++;
	loop_timer_stop(c->stall);
}

/*
 * --fresh with a run of the key in flight: c waits, without its output,
 * for that run to end, keeping its request (and working directory) in case
 * it is the one to lead the next.
 */
static void
conn_queue(struct conn *c, struct flight *f, const uint8_t *payload,
    uint32_t len)
{
	if ((c->req = malloc(len)) == NULL) {
		conn_error(c, "out of memory");
		return;
	}
	memcpy(c->req, payload, len);
	c->reqlen = len;
	c->state = CONN_QUEUED;
	c->flight = f;
	TAILQ_INSERT_TAIL(&f->fresh, c, wentry);
	f->nfresh++;
	loop_timer_stop(c->stall);
}

/* Its request is done with: the copy goes, and what came with it. */
static void
conn_drop_request(struct conn *c)
{
	explicit_bzero(c->req, c->reqlen);
	free(c->req);
	c->req = NULL;
	conn_drop_fds(c);
	conn_flush(c);
}

/* Take c out of its flight's --fresh queue, into state. */
static void
conn_unqueue(struct conn *c, enum conn_state state)
{
	struct flight	*f = c->flight;

	TAILQ_REMOVE(&f->fresh, c, wentry);
	f->nfresh--;
	c->flight = NULL;
	c->state = state;
	if (state == CONN_CLOSING)
		conn_drop_request(c);
}

/*
 * The run that --fresh callers waited for has ended. They share one run
 * that starts after they arrived: the key's run in flight if one started
 * meanwhile (after --forget, or a take-over by --join-window), else a new
 * one led by the first of them, with its request. Each is then a waiter
 * as if it had just joined.
 */
static void
flight_fresh_next(struct flight *f)
{
	struct proto_run	 req;
	struct flight		*g;
	struct conn		*c, *lead = NULL;
	const char		*errstr;
	char			 cause[256] = "";
	int			 npass, pass[RUN_PASS_MAX][2];

	if (f->nfresh == 0)
		return;
	g = flight_find(f->key, f->keylen);
	if (g != NULL && flight_finished(g)) {
		flight_detach(g);	/* lingering: not fresh */
		if (g != f)
			flight_maybe_free(g);
		g = NULL;
	}
	if (g == NULL && srv.retired) {
		/*
		 * It no longer listens: closed before its hello, each starts
		 * over with the server that took over (which waits for this
		 * run's record to go first).
		 */
		while ((c = TAILQ_FIRST(&f->fresh)) != NULL)
			conn_unqueue(c, CONN_CLOSING);
	} else if (g == NULL) {
		lead = TAILQ_FIRST(&f->fresh);
		if (proto_decode_run(lead->req, lead->reqlen, &req, &errstr) ==
		    -1)
			strlcpy(cause, errstr, sizeof(cause));
		else {
			npass = conn_jobserver(lead, &req, pass);
			g = flight_start(&req, lead->rfds[0], pass, npass,
			    cause, sizeof(cause));
		}
	}
	while ((c = TAILQ_FIRST(&f->fresh)) != NULL) {
		conn_unqueue(c, CONN_REQUEST);
		if (g == NULL)
			conn_error(c, cause);
		else if (proto_decode_run(c->req, c->reqlen, &req, &errstr) ==
		    -1)
			conn_error(c, errstr);
		else {
			conn_greet(c);
			conn_join(c, g, &req, c == lead);
		}
		conn_drop_request(c);
	}
}

/*
 * Is process pid (a client) inside the run whose process is run? It is if
 * run is pid itself or one of its ancestors, read from /proc: that finds a
 * caller however deep, and also one that left the run's session or process
 * group (setsid, a terminal). A descendant that was re-parented (daemonized)
 * is not found, and does not wait on the run's process either.
 */
static int
server_inside(pid_t pid, pid_t run)
{
	char	 path[64], buf[1024], *p;
	FILE	*f;
	long	 ppid;
	int	 depth, n;

	for (depth = 0; pid > 1 && depth < 4096; depth++) {
		if (pid == run)
			return 1;
		snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
		if ((f = fopen(path, "re")) == NULL)
			return 0;
		n = fgets(buf, sizeof(buf), f) != NULL;
		fclose(f);
		/* "pid (comm) state ppid ...": comm may hold anything. */
		if (!n || (p = strrchr(buf, ')')) == NULL ||
		    sscanf(p, ") %*c %ld", &ppid) != 1)
			return 0;
		pid = (pid_t)ppid;
	}
	return 0;
}

/*
 * A request to wait on flight f from inside f's own run would wait for
 * itself, and keep the run alive as its waiter: refused, naming the run.
 */
static int
conn_nested(struct conn *c, const struct flight *f)
{
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	char		 msg[256], *esc;

	if (flight_finished(f) || getsockopt(c->fd, SOL_SOCKET,
	    SO_PEERCRED, &cred, &len) == -1 ||
	    !server_inside(cred.pid, flight_pid(f)))
		return 0;
	esc = key_escape(f->key, f->keylen > 60 ? 60 : f->keylen);
	snprintf(msg, sizeof(msg), "this command runs inside run %llu "
	    "(key %s%s, pid %ld), which it would wait for forever; refused",
	    (unsigned long long)f->id, esc != NULL ? esc : "?",
	    f->keylen > 60 ? "..." : "", (long)flight_pid(f));
	free(esc);
	conn_error(c, msg);
	return 1;
}

/*
 * make's jobserver: the two descriptors after the working directory, to be
 * placed where the request's MAKEFLAGS says (which the command reads).
 * Returns how many pairs it put in pass (0 or 2).
 */
static int
conn_jobserver(const struct conn *c, const struct proto_run *req,
    int pass[RUN_PASS_MAX][2])
{
	const char	*s = req->env;
	uint32_t	 i;
	int		 r, w;

	if (c->nrfds != 3)
		return 0;
	for (i = 0; i < req->envc; i++, s += strlen(s) + 1) {
		if (strncmp(s, "MAKEFLAGS=", 10) != 0)
			continue;
		if (fds_jobserver(s + 10, &r, &w) == -1)
			return 0;
		pass[0][0] = c->rfds[1];
		pass[0][1] = r;
		pass[1][0] = c->rfds[2];
		pass[1][1] = w;
		return 2;
	}
	return 0;
}

/* A run request: join the key's run in flight, or start one. */
static void
conn_run(struct conn *c, const uint8_t *payload, uint32_t len)
{
	struct proto_run	 req;
	struct proto_joined	 j;
	struct flight		*f;
	struct stat		 st;
	const char		*errstr;
	char			 cause[256];
	int			 cwdfd, npass, pass[RUN_PASS_MAX][2];
	int			 led = 0;

	if (proto_decode_run(payload, len, &req, &errstr) == -1) {
		conn_error(c, errstr);
		return;
	}
	if ((c->nrfds != 1 && c->nrfds != 3) || fstat(c->rfds[0], &st) ==
	    -1 || !S_ISDIR(st.st_mode)) {
		conn_error(c, c->nrfds == 0 ? "no working directory came with "
		    "the request (is the server out of descriptors?)" :
		    "run request without a working directory");
		return;
	}
	cwdfd = c->rfds[0];
	npass = conn_jobserver(c, &req, pass);
	f = flight_find(req.key, req.keylen);
	if (f != NULL && req.join_window_ms > 0 &&
	    loop_now() - run_started(f->run) > req.join_window_ms) {
		flight_detach(f);	/* too old: a new run takes the key */
		flight_maybe_free(f);
		f = NULL;
	}
	if (f == NULL && srv.retired) {
		/*
		 * No longer listening: a new run here could start beside one
		 * of the server that took over. Closed before our hello, the
		 * client starts over with that server.
		 */
		c->state = CONN_CLOSING;
		return;
	}
	if ((req.flags & RUN_NOJOIN) && ((f != NULL &&
	    !flight_finished(f)) || (f == NULL &&
	    record_ghost(req.key, req.keylen)))) {
		conn_greet(c);
		memset(&j, 0, sizeof(j));
		if (f != NULL) {	/* -v names the run it found */
			j.run_id = f->id;
			j.age_ms = loop_now() - run_started(f->run);
			j.waiters = f->nwaiters;
		}
		proto_encode_busy(&c->out, &j);
		c->state = CONN_CLOSING;
		return;
	}
	if (f != NULL && !(req.flags & RUN_DETACH) && conn_nested(c, f))
		return;
	if (f != NULL && (req.flags & RUN_FRESH)) {
		if (!flight_finished(f)) {
			conn_queue(c, f, payload, len);
			return;
		}
		flight_detach(f);	/* a lingering result is not fresh */
		flight_maybe_free(f);
		f = NULL;
	}
	if (f == NULL && record_ghost(req.key, req.keylen)) {
		/* An earlier server's run of the key still runs: wait. */
		c->state = CONN_PARKED;
		TAILQ_INSERT_TAIL(&srv.parked, c, wentry);
		loop_timer_stop(c->stall);
		return;
	}
	conn_greet(c);
	if (f == NULL) {
		if ((f = flight_start(&req, cwdfd, pass, npass, cause,
		    sizeof(cause))) == NULL) {
			conn_error(c, cause);
			return;
		}
		led = 1;
	}
	conn_join(c, f, &req, led);
}

/* Describe every run to a --status client. */
static void
conn_status(struct conn *c)
{
	struct proto_status_run	 s;
	struct flight		*f;
	uint64_t		 now = loop_now();

	TAILQ_FOREACH(f, &srv.flights, all) {
		memset(&s, 0, sizeof(s));
		s.run_id = f->id;
		s.age_ms = now - run_started(f->run);
		s.bytes = spool_bytes(run_spool(f->run));
		/* Once ended, its pid may be another process's. */
		s.pid = flight_finished(f) ? 0 : flight_pid(f);
		s.waiters = f->nwaiters;
		s.queued = f->nfresh;
		s.flags = (f->joinable ? 0 : STATUS_DETACHED) |
		    (flight_kept(f) ? STATUS_KEEP : 0) |
		    (f->tty ? STATUS_TTY : 0);
		if (f->joinable && flight_finished(f)) {
			s.flags |= STATUS_LINGER;
			s.linger_ms = loop_timer_left(f->linger);
		}
		memcpy(s.key, f->key, f->keylen);
		s.keylen = f->keylen;
		strlcpy(s.command, run_command(f->run), sizeof(s.command));
		s.backend = f->role;
		s.gen = f->gen;
		strlcpy(s.holder, f->holder, sizeof(s.holder));
		if (f->argv != NULL)
			memcpy(s.argv, f->argv, f->argvlen);
		s.argvlen = f->argvlen;
		if (f->cwd != NULL)
			strlcpy(s.cwd, f->cwd, sizeof(s.cwd));
		proto_encode_status_run(&c->out, &s);
	}
	srv.counters.server_pid = getpid();
	srv.counters.protocol = PROTOCOL_VERSION;
	proto_encode_counters(&c->out, &srv.counters);
	c->state = CONN_CLOSING;
}

/* Handle one frame; the connection's state says which are allowed. */
static void
conn_dispatch(struct conn *c, uint32_t type, const uint8_t *p, uint32_t len)
{
	char		 key[PROTO_KEY_MAX + 1], msg[128];
	struct flight	*f;
	const char	*errstr;
	uint32_t	 version;

	if (c->state == CONN_HELLO) {
		if (type != MSG_HELLO ||
		    proto_decode_hello(p, len, &version, &errstr) == -1) {
			c->state = CONN_CLOSING;	/* not a client of ours */
			return;
		}
		if (version != PROTOCOL_VERSION) {
			snprintf(msg, sizeof(msg), "protocol mismatch: "
			    "sfrund speaks version %u, sfrun version %u",
			    (unsigned)PROTOCOL_VERSION, version);
			conn_error(c, msg);
		} else
			c->state = CONN_REQUEST;
		return;
	}
	if (c->state != CONN_REQUEST) {
		conn_error(c, "unexpected message");
		return;
	}
	if (type != MSG_RUN)
		conn_greet(c);	/* a run request says when */
	switch (type) {
	case MSG_RUN:
		conn_run(c, p, len);
		break;
	case MSG_STATUS:
		conn_status(c);
		break;
	case MSG_FORGET:
		if (len == 0 || proto_decode_text(p, len, key,
		    sizeof(key)) == -1) {
			conn_error(c, "bad key");
			break;
		}
		if ((f = flight_find(key, len)) != NULL) {
			flight_detach(f);
			flight_maybe_free(f);
		}
		proto_encode_u32(&c->out, MSG_OK, f != NULL);
		c->state = CONN_CLOSING;
		break;
	case MSG_STOP:
		proto_encode_u32(&c->out, MSG_OK, 1);
		c->state = CONN_CLOSING;
		if (!srv.stopping)
			server_retire("asked by a client");
		break;
	default:
		conn_error(c, "unexpected message");
		break;
	}
}

/*
 * A waiter may send one thing: MSG_LEAVE (it gives up, --timeout). It is
 * told what became of the run and closed once that is written. Anything
 * else drops it. Returns -1 if the connection was closed.
 */
static int
conn_leave(struct conn *c)
{
	const uint8_t	*payload;
	const char	*errstr = NULL;
	uint32_t	 type, plen;
	int		 used;

	used = proto_next(c->in.data + c->in.off, pbuf_used(&c->in), &type,
	    &payload, &plen, &errstr);
	if (used == 0)
		return 0;	/* the rest is still on its way */
	if (used == -1 || type != MSG_LEAVE) {
		conn_close(c, "dropped: sent data while waiting");
		return -1;
	}
	pbuf_consume(&c->in, (size_t)used);
	/* The spool, still to be sent, may go with the run: keep a copy. */
	if (c->sendfd != -1) {
		c->sendfd = fcntl(c->sendfd, F_DUPFD_CLOEXEC, 0);
		c->sendfd_own = c->sendfd != -1;
		if (c->sendfd == -1) {
			conn_close(c, strerror(errno));
			return -1;
		}
	}
	proto_encode_u32(&c->out, MSG_OK, conn_unwait(c));
	c->state = CONN_CLOSING;
	return 0;
}

/* Read from a client and handle every whole frame it sent. */
static void
conn_read(struct conn *c)
{
	ssize_t		 n;
	size_t		 cap = c->in.cap;

	/*
	 * Beyond its first READ_CHUNK, what a connection's request holds
	 * counts against INBUF_MAX for all of them: past it, the request
	 * is refused (the client says why), and the server serves on.
	 */
	if ((c->state == CONN_HELLO || c->state == CONN_REQUEST) &&
	    c->in.cap >= READ_CHUNK && c->in.cap - c->in.len < READ_CHUNK &&
	    srv.inbuf + c->in.cap > INBUF_MAX) {
		if (!srv.said_inbuf)
			log_warn("refusing requests: %u MiB of requests held "
			    "already", INBUF_MAX >> 20);
		srv.said_inbuf = 1;
		c->state = CONN_REQUEST;	/* refused with its hello */
		conn_error(c, "the server holds too many requests at once; "
		    "refused");
		conn_flush(c);
		return;
	}
	if (pbuf_reserve(&c->in, READ_CHUNK) == -1) {
		conn_close(c, "out of memory");
		return;
	}
	srv.inbuf += c->in.cap - cap;
	n = sock_recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len,
	    c->rfds, &c->nrfds);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c, n == 0 ? NULL : strerror(errno));
		return;
	}
	c->in.len += (size_t)n;
	if (c->state == CONN_CLOSING || c->state == CONN_PARKED) {
		conn_close(c, "dropped: sent data while waiting");
		return;
	}
	conn_process(c);
}

/*
 * Handle every whole frame a client has sent. A request whose key waits
 * for an earlier server's run is kept, unread, until that run ends.
 */
static void
conn_process(struct conn *c)
{
	const uint8_t	*payload;
	const char	*errstr = NULL;
	uint32_t	 type, plen;
	int		 used;

	while (c->state == CONN_HELLO || c->state == CONN_REQUEST) {
		used = proto_next(c->in.data + c->in.off, pbuf_used(&c->in),
		    &type, &payload, &plen, &errstr);
		if (used == 0)
			break;
		if (used == -1) {
			conn_close(c, errstr);
			return;
		}
		conn_dispatch(c, type, payload, plen);
		if (c->state == CONN_PARKED)
			return;		/* the request is read again later */
		/*
		 * A run request may carry a Redis password: its bytes here
		 * are wiped (copies left where the buffer was before it grew,
		 * and the bridge's own for AUTH, are not).
		 */
		explicit_bzero(c->in.data + c->in.off, (size_t)used);
		pbuf_consume(&c->in, (size_t)used);
	}
	if (c->state == CONN_WAITING || c->state == CONN_CLOSING ||
	    c->state == CONN_QUEUED) {
		if (c->state != CONN_QUEUED)
			conn_drop_fds(c);	/* the request is done */
		if (c->state != CONN_CLOSING && pbuf_used(&c->in) > 0 &&
		    conn_leave(c) == -1)
			return;
		if (pbuf_used(&c->in) == 0)
			conn_free_in(c);
	}
	conn_flush(c);
}

static void
conn_cb(int fd, uint32_t events, void *arg)
{
	struct conn	*c = arg;

	(void)fd;
	if ((events & EPOLLOUT) && conn_flush(c) == -1)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		conn_read(c);
}

static void
accept_retry_cb(void *arg)
{
	(void)arg;
	if (srv.lio != NULL)
		loop_io_mod(srv.lio, EPOLLIN);
}

/*
 * Are there descriptors enough for one more connection, and the run it may
 * start? A cheap bound first (the common case, far under the limit), then
 * a count of what is held.
 */
static int
server_fds_left(void)
{
	struct conn	*c;
	struct flight	*f;
	uint64_t	 used;

	if (srv.nconns == 0 && srv.nflights == 0)
		return 1;	/* always one: at worst its run fails */
	used = srv.base_fds + (uint64_t)srv.nconns * CONN_FDS +
	    (uint64_t)srv.nflights * RUN_FDS;
	if (used + CONN_FDS <= srv.fd_limit)
		return 1;
	used = srv.base_fds;
	TAILQ_FOREACH(c, &srv.conns, entry)
		used += c->state == CONN_HELLO || c->state == CONN_REQUEST ||
		    c->state == CONN_PARKED ? CONN_FDS : 1;
	TAILQ_FOREACH(f, &srv.flights, all)
		used += flight_finished(f) ? 1 : f->role == ROLE_NONE ?
		    RUN_FDS : RUN_FDS + BRIDGE_FDS;
	return used + CONN_FDS <= srv.fd_limit;
}

/* How many descriptors the server holds. */
static uint64_t
server_count_fds(void)
{
	struct dirent	*de;
	DIR		*d;
	uint64_t	 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return 16;	/* a guess: what an idle server holds */
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0;	/* not the one reading the directory */
}

/*
 * Short of descriptors: stop accepting until some are free (server_check
 * looks again whenever a connection or a run goes). Callers wait in the
 * socket's backlog meanwhile; none is refused for it, no run fails for it.
 */
static void
server_pause(int on)
{
	if (srv.lio == NULL || srv.paused == on)
		return;
	srv.paused = on;
	loop_io_mod(srv.lio, on ? 0 : EPOLLIN);
	if (on)
		log_info("out of descriptors (limit %llu): accepting again "
		    "once some are free", (unsigned long long)srv.fd_limit);
}

/* Refuse a connection over CONNS_MAX: an error it can read, then close. */
static void
server_refuse(int fd)
{
	struct pbuf	b = { 0 };
	const char	msg[] = "the server has too many connections; refused";

	if (!srv.said_conns)
		log_warn("refusing connections: %u at once already",
		    CONNS_MAX);
	srv.said_conns = 1;
	if (proto_encode_hello(&b) == 0 && proto_encode_text(&b, MSG_ERROR,
	    msg, sizeof(msg) - 1) == 0)
		(void)send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	pbuf_free(&b);
	close(fd);
}

/* Accept what the listening socket holds, as far as descriptors allow. */
static void
accept_cb(int lfd, uint32_t events, void *arg)
{
	struct conn	*c;
	int		 fd, i;

	(void)events;
	(void)arg;
	for (i = 0; i < 64 || srv.retired; i++) {
		if (!server_fds_left()) {
			server_pause(1);
			return;
		}
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept: %s; pausing", strerror(errno));
				loop_io_mod(srv.lio, 0);
				loop_timer_set(srv.accept_retry,
				    ACCEPT_RETRY_MS);
			}
			return;
		}
		if (!sock_peer_ok(fd)) {
			log_warn("refused a connection from another user");
			close(fd);
			continue;
		}
		if (srv.nconns >= CONNS_MAX) {
			server_refuse(fd);
			continue;
		}
		if (srv.nconns < CONNS_MAX / 2)
			srv.said_conns = 0;
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    (c->stall = loop_timer_new(conn_stall_cb, c)) == NULL ||
		    (c->io = loop_io_add(fd, EPOLLIN | EPOLLRDHUP, conn_cb,
		    c)) == NULL) {
			log_warn("dropping a client: %s", strerror(errno));
			if (c != NULL)
				loop_timer_free(c->stall);
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->sendfd = -1;
		c->events = EPOLLIN | EPOLLRDHUP;
		c->state = CONN_HELLO;
		srv.served = 1;
		loop_timer_set(c->stall, STALL_MS);
		TAILQ_INSERT_TAIL(&srv.conns, c, entry);
		srv.nconns++;
		server_check();
		/* A client sends its request at once: it is often here. */
		conn_read(c);
	}
}

/* Is the socket file still the one this server made? */
static int
server_sock_ours(void)
{
	struct stat	st;

	return lstat(srv.path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == srv.sock_dev && st.st_ino == srv.sock_ino;
}

static void
server_note_sock(void)
{
	struct stat	st;

	if (lstat(srv.path, &st) == 0) {
		srv.sock_dev = st.st_dev;
		srv.sock_ino = st.st_ino;
	}
}

/*
 * Stop listening, at once (on idle, SIGTERM, --stop-server): the socket
 * file and the pidfile go, so that the next caller starts a new server
 * right away, and the connections already queued are taken: a caller of a
 * run in flight here joins it, any other is closed before our hello and
 * starts over with the new server, which waits for the runs still going
 * here (their records). Under systemd the socket is systemd's: it is only
 * no longer watched, and callers wait in it for the next start.
 */
static void
server_retire(const char *why)
{
	struct conn	*c;

	if (srv.stopping)
		return;
	srv.stopping = 1;
	log_info("stopping (%s): %u run(s) in flight", why, srv.nflights);
	if (srv.lio == NULL)
		return;
	if (srv.inherited) {
		loop_io_del(srv.lio);
		srv.lio = NULL;
		return;
	}
	if (server_sock_ours())
		unlink(srv.path);
	srv.retired = 1;
	srv.paused = 0;
	accept_cb(srv.lfd, EPOLLIN, NULL);
	loop_io_del(srv.lio);
	srv.lio = NULL;
	close(srv.lfd);
	srv.lfd = -1;
	pidfile_remove(srv.pfh);
	srv.pfh = NULL;
	while ((c = TAILQ_FIRST(&srv.parked)) != NULL) {
		TAILQ_REMOVE(&srv.parked, c, wentry);
		c->state = CONN_CLOSING;	/* no hello: it starts over */
		conn_flush(c);
	}
}

/*
 * SIGUSR1: the socket file is gone or replaced (a tmp cleaner, rm): make a
 * new one, so that callers reach this server again rather than fail to
 * start a second one. Whoever connected to the old one is served first.
 */
static void
server_relisten(void)
{
	struct loop_io	*lio;
	int		 lfd;

	if (srv.stopping || srv.inherited || server_sock_ours())
		return;
	if ((lfd = sock_listen(srv.path)) == -1) {
		log_warn("cannot make the socket %s again: %s", srv.path,
		    strerror(errno));
		return;
	}
	if ((lio = loop_io_add(lfd, srv.paused ? 0 : EPOLLIN, accept_cb,
	    NULL)) == NULL) {
		close(lfd);
		return;
	}
	server_note_sock();
	log_info("made the socket %s again", srv.path);
	accept_cb(srv.lfd, EPOLLIN, NULL);
	loop_io_del(srv.lio);
	close(srv.lfd);
	srv.lfd = lfd;
	srv.lio = lio;
}

/* An earlier server's run has ended: the requests that waited go on. */
static void
server_ghost_gone(void)
{
	TAILQ_HEAD(, conn)	 again = TAILQ_HEAD_INITIALIZER(again);
	struct conn		*c;

	TAILQ_CONCAT(&again, &srv.parked, wentry);
	while ((c = TAILQ_FIRST(&again)) != NULL) {
		TAILQ_REMOVE(&again, c, wentry);
		c->state = CONN_REQUEST;
		loop_timer_set(c->stall, STALL_MS);
		conn_process(c);
	}
}

static void
signal_cb(int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo	si;

	(void)events;
	(void)arg;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			continue;
		if (si.ssi_signo == SIGUSR1)
			server_relisten();
		else
			server_retire(si.ssi_signo == SIGTERM ? "SIGTERM" :
			    "SIGINT");
	}
	server_check();
}

static void
spare_cb(void *arg)
{
	(void)arg;
	spool_prepare();
}

/*
 * Still idle a while after the last run: give freed memory back. Not at
 * once, which would make a caller that comes right after (a loop, a make)
 * fault it all in again.
 */
static void
trim_cb(void *arg)
{
	(void)arg;
	if (srv.idle)
		malloc_trim(0);
}

/* Idle for long enough: stop listening first, then exit (server_check). */
static void
idle_cb(void *arg)
{
	(void)arg;
	server_retire("idle");
	server_check();
}

/*
 * The limits the server inherited from whoever started it: descriptors as
 * many as allowed (runs hold several each), spool files as large as allowed.
 */
static void
server_raise_limits(void)
{
	static const int	which[] = { RLIMIT_NOFILE, RLIMIT_FSIZE };
	struct rlimit		rl;
	size_t			i;

	for (i = 0; i < nitems(which); i++) {
		if (getrlimit(which[i], &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(which[i], &rl);
		}
	}
}

/*
 * Signals come in through a signalfd, from a clean start: the mask and the
 * dispositions whoever started the server left are undone. SIGPIPE is
 * ignored (a waiter gone is an error on its socket) and so is SIGXFSZ (a
 * spool over the file size limit is a failed write, not the server's
 * death). A signal ignored by whoever started the server (nohup, a shell's
 * trap) would stay ignored in every run, so all other dispositions start
 * at their defaults.
 */
static int
server_signals(void)
{
	sigset_t	set;
	int		sig;

	/* Nothing blocked either: whoever started it may have left a mask. */
	sigemptyset(&set);
	if (sigprocmask(SIG_SETMASK, &set, NULL) == -1)
		return -1;
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -1;
	srv.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	/*
	 * SIGCHLD stays blocked too (run_init): where there is no pidfd, it
	 * is read from run.c's own signalfd, and an unblocked one would be
	 * discarded before that could see it.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		return -1;
	if (srv.sigfd == -1)
		return -1;
	srv.sigio = loop_io_add(srv.sigfd, EPOLLIN, signal_cb, NULL);
	return srv.sigio != NULL ? 0 : -1;
}

/*
 * Detach from the terminal. The parent waits until the child says it is
 * ready, so that when the parent exits the socket is already listening:
 * a client that started the server can connect as soon as it has reaped it.
 */
static int
server_daemonize(int *ready)
{
	int	p[2], nul;
	pid_t	pid;
	char	b;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0) {
		close(p[1]);
		_exit(read(p[0], &b, 1) == 1 ? 0 : 125);
	}
	close(p[0]);
	setsid();
	if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		dup2(nul, 0);
		dup2(nul, 1);
		if (nul > 2)
			close(nul);
	}
	*ready = p[1];
	return 0;
}

/*
 * A listening socket passed by systemd's socket activation: LISTEN_PID is
 * ours and LISTEN_FDS counts descriptors from 3. Returns it, or -1.
 */
static int
server_activated(void)
{
	const char	*pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	const char	*errstr;
	int		 yes = 0;
	socklen_t	 len = sizeof(yes);

	if (pid == NULL || n == NULL ||
	    strtonum(pid, 1, INT_MAX, &errstr) != getpid() ||
	    strtonum(n, 1, 64, &errstr) < 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &yes, &len) == -1 ||
	    !yes) {
		fprintf(stderr, "sfrund: LISTEN_FDS is set but descriptor 3 "
		    "is not a listening socket\n");
		return -1;
	}
	if (fcntl(3, F_SETFL, fcntl(3, F_GETFL) | O_NONBLOCK) == -1 ||
	    fcntl(3, F_SETFD, FD_CLOEXEC) == -1)
		return -1;
	return 3;
}

/*
 * Remove the socket (unless systemd owns it) and the pidfile, and free what
 * is left: clients still connected (no run is left by now), the loop.
 */
static void
server_cleanup(void)
{
	struct conn	*c;

	if (!srv.inherited && !srv.retired && server_sock_ours())
		unlink(srv.path);
	if (srv.pfh != NULL)
		pidfile_remove(srv.pfh);
	while ((c = TAILQ_FIRST(&srv.conns)) != NULL)
		conn_close(c, NULL);
	server_reap();
	loop_io_del(srv.lio);
	if (srv.lfd != -1)
		close(srv.lfd);
	record_cleanup();
	loop_io_del(srv.sigio);
	loop_timer_free(srv.idle_timer);
	loop_timer_free(srv.spare);
	loop_timer_free(srv.trim);
	loop_timer_free(srv.accept_retry);
	spool_drop_spare();
	run_cleanup();
	loop_free();
}

/* Run the server until it stops or idles out. Returns an exit status. */
int
server_main(const struct server_opts *o)
{
	struct rlimit	rl;
	char	cause[PATH_MAX + 128], dir[PATH_MAX];
	pid_t	other = -1;
	int	ready = -1, nul;

	TAILQ_INIT(&srv.flights);
	TAILQ_INIT(&srv.conns);
	TAILQ_INIT(&srv.closed_conns);
	TAILQ_INIT(&srv.ended_flights);
	TAILQ_INIT(&srv.parked);
	RB_INIT(&srv.table);
	srv.lfd = -1;
	srv.idle_ms = o->idle_ms;
	log_open(o->foreground);

	if (sock_path(o->socket, srv.path, sizeof(srv.path), cause,
	    sizeof(cause)) == -1 || sock_prepare_dir(srv.path, cause,
	    sizeof(cause)) == -1 || sock_tmpdir(dir, sizeof(dir), cause,
	    sizeof(cause)) == -1) {
		fprintf(stderr, "sfrund: %s\n", cause);
		return 125;
	}
	spool_set_dir(dir);
	if (sock_sibling(srv.path, ".pid", srv.pidpath,
	    sizeof(srv.pidpath)) == -1 ||
	    (srv.pfh = pidfile_open(srv.pidpath, 0600, &other)) == NULL) {
		if (errno == EEXIST)
			fprintf(stderr, "sfrund: already running on %s "
			    "(pid %ld)\n", srv.path, (long)other);
		else
			fprintf(stderr, "sfrund: pidfile %s: %s\n",
			    srv.pidpath, strerror(errno));
		return 125;
	}
	if ((srv.lfd = server_activated()) != -1)
		srv.inherited = 1;
	else if ((srv.lfd = sock_listen(srv.path)) == -1) {
		fprintf(stderr, "sfrund: %s: %s\n", srv.path,
		    errno == EADDRINUSE ? "another server answers there" :
		    strerror(errno));
		pidfile_remove(srv.pfh);
		return 125;
	}
	server_note_sock();
	if (!o->foreground && server_daemonize(&ready) == -1) {
		fprintf(stderr, "sfrund: fork: %s\n", strerror(errno));
		return 125;
	}
	pidfile_write(srv.pfh);
	server_raise_limits();
	srv.fd_limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
	cause[0] = '\0';
	if (run_init() == -1 || chdir("/") == -1 || loop_init() == -1 ||
	    server_signals() == -1 ||
	    record_init(srv.path, server_ghost_gone, cause, sizeof(cause)) ==
	    -1 ||
	    (srv.idle_timer = loop_timer_new(idle_cb, NULL)) == NULL ||
	    (srv.spare = loop_timer_new(spare_cb, NULL)) == NULL ||
	    (srv.trim = loop_timer_new(trim_cb, NULL)) == NULL ||
	    (srv.accept_retry = loop_timer_new(accept_retry_cb, NULL)) ==
	    NULL ||
	    (srv.lio = loop_io_add(srv.lfd, EPOLLIN, accept_cb, NULL)) ==
	    NULL) {
		fprintf(stderr, "sfrund: %s\n", cause[0] != '\0' ? cause :
		    strerror(errno));
		server_cleanup();
		return 125;
	}
	log_info("listening on %s%s (protocol %d), spools in %s", srv.path,
	    srv.inherited ? " (socket from systemd)" : "", PROTOCOL_VERSION,
	    dir);
	if (ready != -1) {
		if ((nul = open("/dev/null", O_WRONLY | O_CLOEXEC)) != -1) {
			dup2(nul, 2);
			close(nul);
		}
		(void)write(ready, "", 1);
		close(ready);
	}
	spool_prepare();
	srv.base_fds = server_count_fds() + BUSY_FDS;
	server_check();
	loop_after(server_reap);
	if (loop_run() == -1)
		log_warn("event loop: %s", strerror(errno));
	server_cleanup();
	log_info("exiting");
	return 0;
}
