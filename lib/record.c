/*
 * Records of the runs in flight: one small file per run in a directory
 * beside the socket (SOCKET.runs), written when the command starts and
 * removed when it is reaped. A server that starts after another one
 * crashed, or while the one it replaced still drains its runs, reads them
 * at its start: a command of an earlier server that still runs is a ghost,
 * and a caller of its key waits for it to exit before a new run starts, so
 * that one key never runs twice at once.
 *
 * A record names the command's own process by pid, start time (in clock
 * ticks after boot) and boot id, so that a reused pid is never taken for it;
 * a daemonized grandchild is nobody's record and never holds a key. The
 * command gets no descriptor of its own for this. A ghost is watched
 * through a pidfd, which works for a process that is not our child; where
 * there is none (valgrind 3.19), it is looked at every GHOST_POLL_MS.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "proto.h"
#include "record.h"

#define GHOST_POLL_MS	100
#define RECORD_PATH_MAX	(PATH_MAX + 48)	/* the directory, "/PID.START" */
#define RECORD_MAX	(PROTO_HEADER_SIZE + 24 + PROTO_BOOT_ID_LEN + \
			    PROTO_KEY_MAX)

/* A command of an earlier server that still runs. */
struct ghost {
	LIST_ENTRY(ghost)	 entry;
	char			*key;
	uint32_t		 keylen;
	pid_t			 pid;
	uint64_t		 start;
	int			 pidfd;		/* -1: polled */
	struct loop_io		*io;
	char			 name[RECORD_PATH_MAX];	/* its record file */
};

static LIST_HEAD(, ghost)	 ghosts = LIST_HEAD_INITIALIZER(ghosts);
static char			 dir[PATH_MAX];
static char			 boot[PROTO_BOOT_ID_LEN + 1];
static int			 ready;
static struct loop_timer	*poll_timer;
static void			(*gone_cb)(void);

/*
 * The start time of process pid (field 22 of /proc/PID/stat, after the
 * command name, which may hold spaces and parentheses); 0 if it is gone.
 */
static uint64_t
record_start_of(pid_t pid)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 start;
	ssize_t			 n;
	int			 fd, i;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	/* ") S ppid ..." : the start time is the 20th field after ')'. */
	for (i = 0; i < 20 && p != NULL; i++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu", &start) != 1)
		return 0;
	return (uint64_t)start;
}

/* This boot's id, so that a record from before a reboot is never live. */
static void
record_read_boot(void)
{
	ssize_t	n;
	int	fd;

	memset(boot, 0, sizeof(boot));
	if ((fd = open("/proc/sys/kernel/random/boot_id",
	    O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, boot, PROTO_BOOT_ID_LEN);
	close(fd);
	if (n != PROTO_BOOT_ID_LEN)
		memset(boot, 0, sizeof(boot));
}

/* The record file of the command pid started at start. */
static void
record_name(pid_t pid, uint64_t start, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%ld.%llu", dir, (long)pid,
	    (unsigned long long)start);
}

/* Is the recorded process still the one running under its pid? */
static int
record_alive(const struct proto_record *r)
{
	return strcmp(r->boot, boot) == 0 && r->start != 0 &&
	    record_start_of(r->pid) == r->start;
}

static void
record_ghost_free(struct ghost *g)
{
	LIST_REMOVE(g, entry);
	loop_io_del(g->io);
	if (g->pidfd != -1)
		close(g->pidfd);
	free(g->key);
	free(g);
}

/* A ghost has exited: its record goes, and its key's callers may go on. */
static void
record_ghost_gone(struct ghost *g)
{
	log_info("pid %ld of an earlier server has exited",
	    (long)g->pid);
	unlink(g->name);
	record_ghost_free(g);
	gone_cb();
}

static void
record_ghost_cb(int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	record_ghost_gone(arg);
}

/* Without pidfds: look at every polled ghost now and then. */
static void
record_poll_cb(void *arg)
{
	struct ghost	*g, *next;
	int		 more = 0;

	(void)arg;
	LIST_FOREACH_SAFE(g, &ghosts, entry, next) {
		if (g->pidfd != -1)
			continue;
		if (record_start_of(g->pid) != g->start)
			record_ghost_gone(g);
		else
			more = 1;
	}
	if (more)
		loop_timer_set(poll_timer, GHOST_POLL_MS);
}

/*
 * Take up one record file: a live command becomes a ghost; a dead one's
 * record, or a file that is no record, is removed.
 */
static void
record_take(const char *base)
{
	struct proto_record	 r;
	struct ghost		*g;
	uint8_t			 buf[RECORD_MAX + 1];
	const uint8_t		*p;
	const char		*errstr;
	uint32_t		 type, len;
	ssize_t			 n;
	int			 fd;
	char			 name[RECORD_PATH_MAX];

	if ((size_t)snprintf(name, sizeof(name), "%s/%s", dir, base) >=
	    sizeof(name))
		return;
	if ((fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) == -1)
		return;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0 || proto_next(buf, (size_t)n, &type, &p, &len,
	    &errstr) != (int)n || type != MSG_RECORD ||
	    proto_decode_record(p, len, &r) == -1) {
		log_warn("removed %s: not a record", name);
		unlink(name);
		return;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL ||
	    (g->key = malloc(r.keylen)) == NULL) {
		free(g);
		return;		/* left for a later server */
	}
	g->pid = r.pid;
	g->start = r.start;
	g->pidfd = pidfd_open(r.pid, 0);
	/* Checked after the pidfd is open: it cannot be another's now. */
	if (!record_alive(&r)) {
		if (g->pidfd != -1)
			close(g->pidfd);
		free(g->key);
		free(g);
		unlink(name);
		return;
	}
	memcpy(g->key, r.key, r.keylen);
	g->keylen = r.keylen;
	strlcpy(g->name, name, sizeof(g->name));
	LIST_INSERT_HEAD(&ghosts, g, entry);
	if (g->pidfd != -1 && (g->io = loop_io_add(g->pidfd, EPOLLIN,
	    record_ghost_cb, g)) == NULL) {
		close(g->pidfd);
		g->pidfd = -1;
	}
	if (g->pidfd == -1 && !loop_timer_armed(poll_timer))
		loop_timer_set(poll_timer, GHOST_POLL_MS);
	log_info("run %llu of an earlier server still runs (pid %ld): "
	    "its key waits for it", (unsigned long long)r.run_id,
	    (long)r.pid);
}

/*
 * Open (creating it 0700) the directory of records beside the socket at
 * path, and take up what earlier servers left there. gone is called when a
 * ghost exits. -1 with cause if the directory cannot be used.
 */
int
record_init(const char *path, void (*gone)(void), char *cause, size_t clen)
{
	struct dirent	*de;
	DIR		*d;

	gone_cb = gone;
	record_read_boot();
	if ((poll_timer = loop_timer_new(record_poll_cb, NULL)) == NULL ||
	    (size_t)snprintf(dir, sizeof(dir), "%s.runs", path) >=
	    sizeof(dir)) {
		snprintf(cause, clen, "cannot keep records of runs");
		return -1;
	}
	if ((mkdir(dir, 0700) == -1 && errno != EEXIST) ||
	    (d = opendir(dir)) == NULL) {
		snprintf(cause, clen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	ready = 1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			record_take(de->d_name);
	closedir(d);
	return 0;
}

/*
 * Record that the command of run id, process pid, runs for key. Returns
 * its start time (the record's handle), or 0 if it could not be recorded.
 */
uint64_t
record_add(const char *key, uint32_t keylen, pid_t pid, uint64_t id)
{
	struct proto_record	r;
	struct pbuf		b = { 0 };
	char			name[RECORD_PATH_MAX];
	ssize_t			n = -1;
	int			fd;

	memset(&r, 0, sizeof(r));
	r.pid = pid;
	r.run_id = id;
	r.key = key;
	r.keylen = keylen;
	memcpy(r.boot, boot, sizeof(r.boot));
	if (!ready || (r.start = record_start_of(pid)) == 0)
		return 0;
	record_name(pid, r.start, name, sizeof(name));
	/* One left from another boot may have the same name. */
	if ((fd = open(name, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) != -1) {
		if (proto_encode_record(&b, &r) == 0)
			n = write(fd, b.data, b.len);
		close(fd);
	}
	if (n != (ssize_t)b.len || n <= 0) {
		log_warn("run %llu: cannot record it in %s: %s",
		    (unsigned long long)id, dir, strerror(errno));
		unlink(name);
		r.start = 0;
	}
	pbuf_free(&b);
	return r.start;
}

/* The command pid, started at start (record_add's value), was reaped. */
void
record_remove(pid_t pid, uint64_t start)
{
	char	name[RECORD_PATH_MAX];

	if (start == 0 || !ready)
		return;
	record_name(pid, start, name, sizeof(name));
	unlink(name);
}

/* Does a command of an earlier server still run for key? */
int
record_ghost(const char *key, uint32_t keylen)
{
	struct ghost	*g;

	LIST_FOREACH(g, &ghosts, entry)
		if (g->keylen == keylen && memcmp(g->key, key, keylen) == 0)
			return 1;
	return 0;
}

/* Forget every ghost (at exit; their records stay for the next server). */
void
record_cleanup(void)
{
	while (!LIST_EMPTY(&ghosts))
		record_ghost_free(LIST_FIRST(&ghosts));
	loop_timer_free(poll_timer);
	poll_timer = NULL;
	ready = 0;
}
