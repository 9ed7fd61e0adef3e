/* Unit tests for lib/spool.c: record headers, and the records a spool holds. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "unit.h"

#define WALK_MAX	(1U << 20)

/* What walking a spool's records found. */
struct walk {
	char		 out[2][WALK_MAX];	/* each stream's bytes */
	size_t		 len[2];
	size_t		 records;
	size_t		 switches;		/* records of another stream */
	int		 bad;			/* a header did not decode */
};

/* Walk the records of fd up to valid, as a waiter does. */
static void
walk(int fd, uint64_t valid, struct walk *w)
{
	uint8_t		h[SPOOL_HEADER_SIZE];
	uint64_t	at = 0;
	uint32_t	len;
	int		stream, last = -1;

	memset(w, 0, sizeof(*w));
	while (at < valid) {
		if (pread(fd, h, sizeof(h), (off_t)at) != (ssize_t)sizeof(h) ||
		    spool_header_decode(h, at, valid, &stream, &len) == -1 ||
		    w->len[stream] + len > WALK_MAX ||
		    pread(fd, w->out[stream] + w->len[stream], len,
		    (off_t)(at + SPOOL_HEADER_SIZE)) != (ssize_t)len) {
			w->bad = 1;
			return;
		}
		w->len[stream] += len;
		w->records++;
		w->switches += last != -1 && last != stream;
		last = stream;
		at += SPOOL_HEADER_SIZE + len;
	}
}

static void
test_header(void)
{
	uint8_t		h[SPOOL_HEADER_SIZE];
	uint32_t	len, v;
	int		stream;

	spool_header_encode(h, SPOOL_STDOUT, 1);
	CHECK(spool_header_decode(h, 0, 5, &stream, &len) == 0 &&
	    stream == SPOOL_STDOUT && len == 1, "header: stdout, 1 byte");
	spool_header_encode(h, SPOOL_STDERR, SPOOL_RECORD_MAX);
	CHECK(spool_header_decode(h, 100, 100 + SPOOL_HEADER_SIZE +
	    (uint64_t)SPOOL_RECORD_MAX, &stream, &len) == 0 &&
	    stream == SPOOL_STDERR && len == SPOOL_RECORD_MAX,
	    "header: stderr, the longest record");
	CHECK(spool_header_decode(h, 100, 100 + SPOOL_HEADER_SIZE +
	    (uint64_t)SPOOL_RECORD_MAX - 1, &stream, &len) == -1,
	    "header: a record one byte past what is valid refused");
	spool_header_encode(h, SPOOL_STDOUT, 10);
	CHECK(spool_header_decode(h, 0, 14, &stream, &len) == 0,
	    "header: a record ending at what is valid");
	CHECK(spool_header_decode(h, 0, 13, &stream, &len) == -1,
	    "header: a record ending past it refused");
	CHECK(spool_header_decode(h, 10, 13, &stream, &len) == -1,
	    "header: no room for a header refused");
	CHECK(spool_header_decode(h, 20, 13, &stream, &len) == -1,
	    "header: a record past what is valid refused");
	CHECK(spool_header_decode(h, UINT64_MAX - 2, UINT64_MAX, &stream,
	    &len) == -1, "header: no overflow at the end of the offsets");
	v = 0;
	memcpy(h, &v, sizeof(v));
	CHECK(spool_header_decode(h, 0, 100, &stream, &len) == -1,
	    "header: length 0 refused");
	v = 1U << 31;
	memcpy(h, &v, sizeof(v));
	CHECK(spool_header_decode(h, 0, 100, &stream, &len) == -1,
	    "header: stderr of length 0 refused");
	v = SPOOL_RECORD_MAX + 1;
	memcpy(h, &v, sizeof(v));
	CHECK(spool_header_decode(h, 0, UINT64_MAX, &stream, &len) == -1,
	    "header: length over SPOOL_RECORD_MAX refused");
	v = UINT32_MAX;
	memcpy(h, &v, sizeof(v));
	CHECK(spool_header_decode(h, 0, UINT64_MAX, &stream, &len) == -1,
	    "header: all ones refused");
}

/* A non-blocking pipe holding s. */
static int
pipe_with(int p[2], const char *s)
{
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	return write(p[1], s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1;
}

static void
test_records(void)
{
	static struct walk	 w;
	struct spool		*sp;
	uint64_t		 v;
	int			 p[2], i, ok;

	sp = spool_new();
	CHECK(sp != NULL && spool_fd(sp) == -1 && spool_bytes(sp) == 0 &&
	    spool_publish(sp) == 0, "records: a new spool has no file");
	CHECK(spool_append(sp, SPOOL_STDOUT, "ab", 2) == 0 &&
	    spool_append(sp, SPOOL_STDOUT, "cd", 2) == 0 &&
	    spool_bytes(sp) == 4, "records: appended 4 bytes");
	v = spool_publish(sp);
	CHECK(v == SPOOL_HEADER_SIZE + 4,
	    "records: two appends of one stream, unpublished, make one record");
	CHECK(spool_append(sp, SPOOL_STDOUT, "ef", 2) == 0 &&
	    spool_publish(sp) == v + SPOOL_HEADER_SIZE + 2,
	    "records: a published record is not extended");
	walk(spool_fd(sp), spool_publish(sp), &w);
	CHECK(!w.bad && w.records == 2 && w.len[0] == 6 && w.len[1] == 0 &&
	    memcmp(w.out[0], "abcdef", 6) == 0,
	    "records: the file holds abcdef in two records");

	/* From a pipe, by splice. */
	CHECK(pipe_with(p, "hello") == 0 &&
	    spool_fill(sp, SPOOL_STDERR, p[0]) == 5 &&
	    spool_bytes(sp) == 11, "records: 5 bytes from a pipe");
	errno = 0;
	CHECK(spool_fill(sp, SPOOL_STDERR, p[0]) == -1 && errno == EAGAIN,
	    "records: an empty pipe says EAGAIN");
	CHECK(write(p[1], " world", 6) == 6 &&
	    spool_fill(sp, SPOOL_STDERR, p[0]) == 6,
	    "records: 6 more from the pipe");
	close(p[1]);
	CHECK(spool_fill(sp, SPOOL_STDERR, p[0]) == 0,
	    "records: the pipe's end of file");
	close(p[0]);
	walk(spool_fd(sp), spool_publish(sp), &w);
	CHECK(!w.bad && w.records == 3 && w.len[1] == 11 &&
	    memcmp(w.out[1], "hello world", 11) == 0,
	    "records: two fills of stderr, unpublished, make one record");

	/* Many switches: one record each, every byte where it belongs. */
	ok = 1;
	for (i = 0; i < 20000; i++)
		ok &= spool_append(sp, i % 2, i % 2 ? "e" : "o", 1) == 0;
	walk(spool_fd(sp), spool_publish(sp), &w);
	ok &= !w.bad && w.records == 3 + 20000 && w.switches == 20001;
	ok &= w.len[0] == 6 + 10000 && w.len[1] == 11 + 10000;
	for (i = 0; i < 10000 && ok; i++)
		ok &= w.out[0][6 + i] == 'o' && w.out[1][11 + i] == 'e';
	CHECK(ok, "records: 20000 switches, each stream exact");
	CHECK(spool_bytes(sp) == 6 + 11 + 20000,
	    "records: spool_bytes counts output, not headers");

	spool_free(sp);
}

int
main(void)
{
	char	dir[] = "/tmp/sfrun-test-spool.XXXXXX";

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	spool_set_dir(dir);
	test_header();
	test_records();
	spool_drop_spare();
	rmdir(dir);
	return unit_done();
}
