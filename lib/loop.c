/*
 * The event loop. Descriptors are watched with epoll; timers sit in a tree
 * ordered by deadline on CLOCK_MONOTONIC. A watch removed while a batch of
 * events is being dispatched may still have events pending in that batch, so
 * it is only marked dead and freed once the batch is done. The same goes for
 * the objects of the loop's user: a callback only marks what it ends, and
 * the hook set with loop_after frees it once the callback has returned.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/tree.h>

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "loop.h"

struct loop_io {
	int			 fd;
	int			 dead;
	loop_io_cb		 cb;
	void			*arg;
	LIST_ENTRY(loop_io)	 entry;		/* on the dead list */
};

struct loop_timer {
	uint64_t		 when;		/* ms on the monotonic clock */
	uint64_t		 seq;		/* ties broken by arming order */
	int			 armed;
	loop_timer_cb		 cb;
	void			*arg;
	RB_ENTRY(loop_timer)	 entry;
};

static int
timer_cmp(struct loop_timer *a, struct loop_timer *b)
{
	if (a->when != b->when)
		return a->when < b->when ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

RB_HEAD(timer_tree, loop_timer);
RB_GENERATE_STATIC(timer_tree, loop_timer, entry, timer_cmp)

static int			 epfd = -1;
static int			 done;
static uint64_t			 seq;
static struct timer_tree	 timers = RB_INITIALIZER(&timers);
static LIST_HEAD(, loop_io)	 dead = LIST_HEAD_INITIALIZER(dead);

int
loop_init(void)
{
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	return 0;
}

/* Milliseconds on the monotonic clock. */
uint64_t
loop_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Watch fd for events; cb(fd, events, arg) is called when they occur. */
struct loop_io *
loop_io_add(int fd, uint32_t events, loop_io_cb cb, void *arg)
{
	struct loop_io		*io;
	struct epoll_event	 ev = { .events = events };

	if ((io = calloc(1, sizeof(*io))) == NULL)
		return NULL;
	io->fd = fd;
	io->cb = cb;
	io->arg = arg;
	ev.data.ptr = io;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		free(io);
		return NULL;
	}
	return io;
}

int
loop_io_mod(struct loop_io *io, uint32_t events)
{
	struct epoll_event	ev = { .events = events, .data.ptr = io };

	return epoll_ctl(epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

/* Stop watching; the caller still owns (and closes) the descriptor. */
void
loop_io_del(struct loop_io *io)
{
	if (io == NULL)
		return;
	epoll_ctl(epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->dead = 1;
	LIST_INSERT_HEAD(&dead, io, entry);
}

struct loop_timer *
loop_timer_new(loop_timer_cb cb, void *arg)
{
	struct loop_timer	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->cb = cb;
	t->arg = arg;
	return t;
}

/* Arm (or re-arm) t to fire ms milliseconds from now. */
void
loop_timer_set(struct loop_timer *t, uint64_t ms)
{
	loop_timer_stop(t);
	t->when = loop_now() + ms;
	t->seq = seq++;
	t->armed = 1;
	RB_INSERT(timer_tree, &timers, t);
}

void
loop_timer_stop(struct loop_timer *t)
{
	if (t != NULL && t->armed) {
		RB_REMOVE(timer_tree, &timers, t);
		t->armed = 0;
	}
}

int
loop_timer_armed(const struct loop_timer *t)
{
	return t != NULL && t->armed;
}

/* Milliseconds until t fires; 0 if it is not armed. */
uint64_t
loop_timer_left(const struct loop_timer *t)
{
	uint64_t	now = loop_now();

	if (t == NULL || !t->armed || t->when <= now)
		return 0;
	return t->when - now;
}

void
loop_timer_free(struct loop_timer *t)
{
	if (t == NULL)
		return;
	loop_timer_stop(t);
	free(t);
}

/* Fire every timer that is due; each is disarmed before its callback. */
static void
loop_fire_timers(void)
{
	struct loop_timer	*t;
	uint64_t		 now = loop_now();

	while ((t = RB_MIN(timer_tree, &timers)) != NULL && t->when <= now) {
		RB_REMOVE(timer_tree, &timers, t);
		t->armed = 0;
		t->cb(t->arg);
	}
}

/* How long epoll may wait: until the next timer (at most a minute). */
static int
loop_timeout(void)
{
	struct loop_timer	*t;
	uint64_t		 now = loop_now();

	if ((t = RB_MIN(timer_tree, &timers)) == NULL)
		return -1;
	if (t->when <= now)
		return 0;
	return (int)(t->when - now > 60000 ? 60000 : t->when - now);
}

/* Free the watches removed since the last batch. */
static void
loop_reap_dead(void)
{
	struct loop_io	*io;

	while ((io = LIST_FIRST(&dead)) != NULL) {
		LIST_REMOVE(io, entry);
		free(io);
	}
}

static void	(*after)(void);

/*
 * Call fn after every batch of timers or events, outside any callback:
 * where what the callbacks marked as ended is freed.
 */
void
loop_after(void (*fn)(void))
{
	after = fn;
}

/* Run until loop_exit(); -1 only if epoll itself fails. */
int
loop_run(void)
{
	struct epoll_event	 evs[64];
	struct loop_io		*io;
	int			 n, i;

	while (!done) {
		loop_fire_timers();
		if (after != NULL)
			after();
		if (done)
			break;
		n = epoll_wait(epfd, evs, (int)nitems(evs), loop_timeout());
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (i = 0; i < n && !done; i++) {
			io = evs[i].data.ptr;
			if (!io->dead)
				io->cb(io->fd, evs[i].events, io->arg);
		}
		loop_reap_dead();
		if (after != NULL)
			after();
	}
	return 0;
}

void
loop_free(void)
{
	loop_reap_dead();
	if (epfd != -1)
		close(epfd);
	epfd = -1;
}

void
loop_exit(void)
{
	done = 1;
}
