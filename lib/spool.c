/*
 * A run's output log: one unlinked file of records. A record is a header
 * (the stream, stdout or stderr, and a length; see spool.h) followed by
 * that many bytes of the stream's output, in the order the server read
 * them. The file describes itself: the server only tells each waiter how
 * far the file holds whole records (spool_publish), and the waiter walks
 * the records on its own, copying each to its stdout or stderr. Nothing
 * the server keeps, or sends, grows with the output or with how often the
 * command switches between its streams.
 *
 * Writing a record: its header's place is kept and the bytes are written
 * (by splice, so the length is known only after). Consecutive fills from
 * the same stream extend the last record while no waiter can have read its
 * header, that is while it lies beyond everything published. Its header is
 * written once it is complete: when a record of the other stream starts,
 * or when it is published. Only then may a waiter be told of it.
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

struct spool {
	int		 fd;
	uint64_t	 size;		/* whole records, the file's length */
	uint64_t	 bytes;		/* output held, headers not counted */
	uint64_t	 published;	/* records below never change */
	uint64_t	 last;		/* the last record's header */
	uint32_t	 lastlen;	/* and its length, 0: none */
	int		 laststream;
	int		 dirty;		/* its header is not written yet */
	int		 error;		/* errno of a header that could not
					   be written: the spool is broken */
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
spool_new(void)
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
	free(sp);
}

/* Write n bytes of buf at offset off of the file. */
static int
spool_write(struct spool *sp, const void *buf, size_t n, uint64_t off)
{
	const char	*p = buf;
	ssize_t		 w;
	size_t		 done;

	for (done = 0; done < n; done += (size_t)w)
		if ((w = pwrite(sp->fd, p + done, n - done,
		    (off_t)(off + done))) == -1)
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

/* Write the last record's header if it is not written yet. */
static int
spool_seal(struct spool *sp)
{
	uint8_t	h[SPOOL_HEADER_SIZE];

	if (!sp->dirty)
		return 0;
	spool_header_encode(h, sp->laststream, sp->lastlen);
	if (spool_write(sp, h, sizeof(h), sp->last) == -1) {
		sp->error = errno;
		return -1;
	}
	sp->dirty = 0;
	return 0;
}

/*
 * Where the next bytes of stream go: *hdr is the header of the record that
 * takes them, *base how long that record is already. The last record is
 * extended if it is of the same stream, not published and has room for
 * another fill; else its header is written and a new record starts at the
 * end of the file. -1 if the spool is broken.
 */
static int
spool_place(struct spool *sp, int stream, uint64_t *hdr, uint32_t *base,
    uint64_t *at)
{
	if (sp->error != 0) {
		errno = sp->error;
		return -1;
	}
	if (sp->lastlen > 0 && sp->laststream == stream &&
	    sp->last >= sp->published &&
	    sp->lastlen <= SPOOL_RECORD_MAX - SPOOL_FILL_MAX) {
		*hdr = sp->last;
		*base = sp->lastlen;
		*at = sp->size;
		return 0;
	}
	if (spool_seal(sp) == -1)
		return -1;
	*hdr = sp->size;
	*base = 0;
	*at = sp->size + SPOOL_HEADER_SIZE;
	return 0;
}

/*
 * The n bytes of stream written at the place spool_place gave now belong
 * to the last record; its header is written later (spool_seal).
 */
static void
spool_commit(struct spool *sp, int stream, uint64_t hdr, uint32_t base,
    size_t n)
{
	sp->last = hdr;
	sp->lastlen = base + (uint32_t)n;
	sp->laststream = stream;
	sp->dirty = 1;
	sp->size = hdr + SPOOL_HEADER_SIZE + sp->lastlen;
	sp->bytes += n;
}

/*
 * Append n bytes of stream's output that the caller has read itself (from
 * a terminal, which splice cannot read). -1 if the spool could not take
 * them: they are lost.
 */
int
spool_append(struct spool *sp, int stream, const void *buf, size_t n)
{
	uint64_t	hdr, at;
	uint32_t	base;
	size_t		part;

	if (spool_make(sp) == -1)
		return -1;
	while (n > 0) {
		part = n > SPOOL_FILL_MAX ? SPOOL_FILL_MAX : n;
		if (spool_place(sp, stream, &hdr, &base, &at) == -1 ||
		    spool_write(sp, buf, part, at) == -1)
			return -1;
		spool_commit(sp, stream, hdr, base, part);
		buf = (const char *)buf + part;
		n -= part;
	}
	return 0;
}

/*
 * Move what a pipe holds into the file at off with read and write. The
 * file is made (or the spare taken) only once there is output to put in it.
 */
static ssize_t
spool_copy(struct spool *sp, int pipefd, uint64_t off, size_t max)
{
	char	 buf[65536];
	ssize_t	 n;

	if ((n = read(pipefd, buf, max < sizeof(buf) ? max : sizeof(buf))) <=
	    0)
		return n;
	if (spool_make(sp) == -1)
		return -1;
	return spool_write(sp, buf, (size_t)n, off) == -1 ? -1 : n;
}

/*
 * Append what the (non-blocking) pipe of stream holds to the file, up to
 * SPOOL_FILL_MAX bytes, as one record (or the end of the last one). Returns
 * the bytes taken, 0 at end of file, or -1: EAGAIN when the pipe was empty,
 * anything else is a failure of the spool (ENOSPC, EIO) and the bytes it
 * could not take are lost.
 */
ssize_t
spool_fill(struct spool *sp, int stream, int pipefd)
{
	loff_t		 off;
	uint64_t	 hdr, at;
	uint32_t	 base;
	ssize_t		 n = 0;
	size_t		 total = 0, want;

	if (spool_place(sp, stream, &hdr, &base, &at) == -1)
		return -1;
	while (total < SPOOL_FILL_MAX) {
		off = (loff_t)(at + total);
		/*
		 * Copied by hand before the first output (there is no file
		 * yet) and where splice does not apply.
		 */
		want = SPOOL_FILL_MAX - total;
		n = sp->fd == -1 ? -1 : splice(pipefd, NULL, sp->fd, &off,
		    want, SPLICE_F_NONBLOCK);
		if (sp->fd == -1 || (n == -1 && errno == EINVAL))
			n = spool_copy(sp, pipefd, at + total, want);
		if (n <= 0)
			break;
		total += (size_t)n;
		/*
		 * Less than asked for: the pipe is most likely empty, and the
		 * (level-triggered) loop calls again if it is not.
		 */
		if ((size_t)n < want)
			break;
	}
	if (total == 0)
		return n;
	/* What was taken is kept, even when the next step failed. */
	spool_commit(sp, stream, hdr, base, total);
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		return -1;
	return (ssize_t)total;	/* an end of file is seen on the next call */
}

/* The file, or -1 while there has been no output. */
int
spool_fd(const struct spool *sp)
{
	return sp->fd;
}

/* The output held, both streams, headers not counted. */
uint64_t
spool_bytes(const struct spool *sp)
{
	return sp->bytes;
}

/*
 * How far the file holds whole records, to be announced to waiters: the
 * last record's header is written first. The records up to there are
 * never changed again: a waiter may have read their headers. If the header
 * cannot be written, what was published stays so, and the spool is broken
 * (spool_error): the next fill fails, and so does the run at its end.
 */
uint64_t
spool_publish(struct spool *sp)
{
	if (sp->error == 0 && spool_seal(sp) == 0)
		sp->published = sp->size;
	return sp->published;
}

/* The errno of the write that broke the spool, or 0. */
int
spool_error(const struct spool *sp)
{
	return sp->error;
}

/* The header of a record of len bytes of stream. */
void
spool_header_encode(uint8_t *h, int stream, uint32_t len)
{
	uint32_t	v = (stream == SPOOL_STDERR ? 1U << 31 : 0) | len;

	memcpy(h, &v, sizeof(v));
}

/*
 * Decode the header h of a record that starts at offset at of a file whose
 * records are whole up to valid. -1 if it is not a record's header: a
 * length of 0 or over SPOOL_RECORD_MAX, or one that runs past valid.
 */
int
spool_header_decode(const uint8_t *h, uint64_t at, uint64_t valid,
    int *stream, uint32_t *len)
{
	uint32_t	v;

	if (at > valid || valid - at < SPOOL_HEADER_SIZE)
		return -1;
	memcpy(&v, h, sizeof(v));
	*stream = (v >> 31) ? SPOOL_STDERR : SPOOL_STDOUT;
	*len = v & ~(1U << 31);
	if (*len == 0 || *len > SPOOL_RECORD_MAX ||
	    valid - at - SPOOL_HEADER_SIZE < *len)
		return -1;
	return 0;
}
