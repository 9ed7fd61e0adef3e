/*
 * A run's output log: one unlinked file holding stdout and stderr in the
 * order the server read them, and a list of segments that says which stream
 * each stretch of the file belongs to. Segment i covers the file from the end
 * of segment i-1 to its own end. Consecutive reads from the same stream
 * extend the last segment, so the list grows only when the command switches
 * between stdout and stderr, never with the output's size. A waiter copies
 * the file straight to its own stdout and stderr, segment by segment.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"

#define SPOOL_FILL_MAX	(4U << 20)	/* bytes taken from a pipe per call */

struct segment {
	uint64_t	 end;
	int		 stream;
};

struct spool {
	int		 fd;
	uint64_t	 size;
	struct segment	*segs;
	size_t		 nsegs;
	size_t		 capsegs;
};

/*
 * Where spools are made: set once by the server at its start, never from
 * the environment of whichever caller started it.
 */
static char	spool_dir[PATH_MAX] = "/tmp";

/* Set the directory spools are made in. */
void
spool_set_dir(const char *dir)
{
	strlcpy(spool_dir, dir, sizeof(spool_dir));
}

/* The directory spools are made in (for messages). */
const char *
spool_get_dir(void)
{
	return spool_dir;
}

/* An unlinked, private file in the spool directory. */
static int
spool_tmpfile(void)
{
	const char	*dir = spool_dir;
	char		 path[PATH_MAX];
	int		 fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd != -1 || (errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL))
		return fd;
	/* No O_TMPFILE on this file system: create, then unlink at once. */
	if (snprintf(path, sizeof(path), "%s/sfrun-spool.XXXXXX", dir) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
		return -1;
	unlink(path);
	return fd;
}

/*
 * The file is made when the first output comes: a quick command that
 * prints nothing never costs one. One file is made ahead of need, as the
 * spare: creating an unlinked file costs a few hundred microseconds on some
 * file systems (ext4 allocates an inode), which would otherwise fall on the
 * path of the first output.
 */
static int	spare = -1;

/* A spool for a new run, still without a file. */
struct spool *
spool_open(void)
{
	struct spool	*sp;

	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return NULL;
	sp->fd = -1;
	return sp;
}

/* Make the spare file if there is none; a failure is left for later. */
void
spool_prepare(void)
{
	if (spare == -1)
		spare = spool_tmpfile();
}

/* Drop the spare (at exit, so that nothing is left open). */
void
spool_drop_spare(void)
{
	if (spare != -1)
		close(spare);
	spare = -1;
}

void
spool_free(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->fd != -1)
		close(sp->fd);
	free(sp->segs);
	free(sp);
}

/* Record that the file up to its size now belongs to stream. */
static int
spool_mark(struct spool *sp, int stream)
{
	struct segment	*s;

	if (sp->nsegs > 0 && sp->segs[sp->nsegs - 1].stream == stream) {
		sp->segs[sp->nsegs - 1].end = sp->size;
		return 0;
	}
	if (sp->nsegs == sp->capsegs) {
		s = reallocarray(sp->segs, sp->capsegs ? sp->capsegs * 2 : 16,
		    sizeof(*s));
		if (s == NULL)
			return -1;
		sp->segs = s;
		sp->capsegs = sp->capsegs ? sp->capsegs * 2 : 16;
	}
	sp->segs[sp->nsegs].stream = stream;
	sp->segs[sp->nsegs].end = sp->size;
	sp->nsegs++;
	return 0;
}

/* Write n bytes of buf at the end of what the file holds. */
static int
spool_write(struct spool *sp, const char *buf, ssize_t n)
{
	ssize_t	w, done;

	for (done = 0; done < n; done += w)
		if ((w = pwrite(sp->fd, buf + done, (size_t)(n - done),
		    (off_t)(sp->size + (uint64_t)done))) == -1)
			return -1;
	return 0;
}

/* Make the file (or take the spare) for the first output. */
static int
spool_make(struct spool *sp)
{
	if (sp->fd != -1)
		return 0;
	if ((sp->fd = spare) == -1 && (sp->fd = spool_tmpfile()) == -1)
		return -1;
	spare = -1;
	return 0;
}

/*
 * Append n bytes of stream's output that the caller has read itself (from
 * a terminal, which splice cannot read). -1 if the spool could not take
 * them: they are lost.
 */
int
spool_append(struct spool *sp, int stream, const void *buf, size_t n)
{
	if (spool_make(sp) == -1 || spool_write(sp, buf, (ssize_t)n) == -1)
		return -1;
	sp->size += n;
	return spool_mark(sp, stream);
}

/*
 * Move what a pipe holds into the file with read and write. The file is
 * made (or the spare taken) only once there is output to put in it.
 */
static ssize_t
spool_copy(struct spool *sp, int pipefd)
{
	char	 buf[65536];
	ssize_t	 n;

	if ((n = read(pipefd, buf, sizeof(buf))) <= 0)
		return n;
	if (spool_make(sp) == -1)
		return -1;
	return spool_write(sp, buf, n) == -1 ? -1 : n;
}

/*
 * Append what the (non-blocking) pipe of stream holds to the file, up to
 * SPOOL_FILL_MAX bytes. Returns the bytes taken, 0 at end of file, or -1:
 * EAGAIN when the pipe was empty, anything else is a failure of the spool
 * (ENOSPC, EIO) and the bytes it could not take are lost.
 */
ssize_t
spool_fill(struct spool *sp, int stream, int pipefd)
{
	loff_t	 off;
	ssize_t	 n, total = 0;

	while ((size_t)total < SPOOL_FILL_MAX) {
		off = (loff_t)sp->size;
		/*
		 * Copied by hand before the first output (there is no file
		 * yet) and where splice does not apply.
		 */
		n = sp->fd == -1 ? -1 : splice(pipefd, NULL, sp->fd, &off,
		    SPOOL_FILL_MAX - (size_t)total, SPLICE_F_NONBLOCK);
		if (sp->fd == -1 || (n == -1 && errno == EINVAL))
			n = spool_copy(sp, pipefd);
		if (n <= 0) {
			if (total > 0 && n == -1 && errno == EAGAIN)
				break;
			if (total > 0 && n == 0)
				break;	/* the EOF is seen on the next call */
			return n;
		}
		sp->size += (uint64_t)n;
		total += n;
		if (spool_mark(sp, stream) == -1)
			return -1;
	}
	return total;
}

/* The file, or -1 while there has been no output. */
int
spool_fd(const struct spool *sp)
{
	return sp->fd;
}

/* All bytes held, both streams. */
uint64_t
spool_bytes(const struct spool *sp)
{
	return sp->size;
}

size_t
spool_segments(const struct spool *sp)
{
	return sp->nsegs;
}

/* Segment i: its stream, and where in the file it ends. */
void
spool_segment(const struct spool *sp, size_t i, int *stream, uint64_t *end)
{
	*stream = sp->segs[i].stream;
	*end = sp->segs[i].end;
}
