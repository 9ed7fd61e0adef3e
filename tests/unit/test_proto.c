/* Unit tests for lib/proto.c: buffers, frames, every message, bad input. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "proto.h"
#include "unit.h"

/*
 * Where the key length sits in a MSG_RUN payload: flags, umask, four u64
 * durations and PROTO_NLIMITS pairs of u64 come first.
 */
#define RUN_KEYLEN_OFF	(4 + 4 + 4 * 8 + 2 * 4 + PROTO_NLIMITS * 2 * 8)

#define FUZZ_ROUNDS	4000

static uint64_t	rng_state = 0x9e3779b97f4a7c15ULL;

/* A fixed-seed xorshift64 generator, so every run tests the same bytes. */
static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Find the first whole frame in the unread part of b. */
static int
next(const struct pbuf *b, uint32_t *type, const uint8_t **p, uint32_t *len)
{
	const char	*errstr = NULL;

	return proto_next(b->data + b->off, pbuf_used(b), type, p, len,
	    &errstr);
}

/*
 * Check that b holds exactly one frame of type want, and copy its payload
 * to out (which must hold its length); returns the payload length or -1.
 */
static long
only_frame(const struct pbuf *b, uint32_t want, uint8_t *out, size_t outlen)
{
	const uint8_t	*p;
	uint32_t	 type, len;
	int		 n;

	n = next(b, &type, &p, &len);
	if (n <= 0 || (size_t)n != pbuf_used(b) || type != want ||
	    len > outlen)
		return -1;
	memcpy(out, p, len);
	return len;
}

/* only_frame, then b emptied for the next message. */
static long
take_frame(struct pbuf *b, uint32_t want, uint8_t *out, size_t outlen)
{
	long	n;

	n = only_frame(b, want, out, outlen);
	pbuf_free(b);
	return n;
}

/* A valid run request; the strings are static. */
static void
sample_run(struct proto_run *m)
{
	static const char	argv[] = "make\0build\0";
	static const char	env[] = "PATH=/bin\0HOME=/home/u\0EMPTY=\0";
	int			i;

	memset(m, 0, sizeof(*m));
	m->flags = RUN_KEEP | RUN_NOJOIN;
	m->umask = 022;
	m->join_window_ms = 1500;
	m->run_timeout_ms = 60000;
	m->kill_after_ms = 5000;
	m->linger_ms = UINT64_MAX;
	for (i = 0; i < PROTO_NLIMITS; i++) {
		m->limits[i][0] = (uint64_t)i * 1000 + 1;
		m->limits[i][1] = i % 2 ? UINT64_MAX : (uint64_t)i << 40;
	}
	m->key = "deploy";
	m->keylen = 6;
	m->argc = 2;
	m->argv = argv;
	m->argvlen = sizeof(argv) - 1;
	m->envc = 3;
	m->env = env;
	m->envlen = sizeof(env) - 1;
}

/* A valid run request with a Redis backend; the strings are static. */
static void
sample_backend(struct proto_run *m)
{
	sample_run(m);
	m->backend_flags = BACKEND_RERUN | BACKEND_FALLBACK;
	m->lease_ms = 15000;
	m->backend_linger_ms = 30000;
	m->url = "redis://ci@cache:6380/2";
	m->prefix = "sfrun:";
	m->password = "s3cret";
}

/* Encode m and copy its payload to out; returns the payload length or -1. */
static long
run_payload(const struct proto_run *m, uint8_t *out, size_t outlen)
{
	struct pbuf	b = { 0 };
	long		n = -1;

	if (proto_encode_run(&b, m) == 0)
		n = only_frame(&b, MSG_RUN, out, outlen);
	pbuf_free(&b);
	return n;
}

/* Decode a run payload, returning what proto_decode_run returned. */
static int	decode_run(const uint8_t *, long, struct proto_run *);

/* Every combination of the known run (or backend) flags round-trips. */
static int
flags_round_trip(int backend)
{
	static uint8_t		 buf[PROTO_RUN_MAX];
	struct proto_run	 m, d;
	uint32_t		 u, all = backend ? BACKEND_FLAGS_ALL :
				    RUN_FLAGS_ALL;
	int			 ok = 1;

	for (u = 0; u <= all; u++) {
		if (backend) {
			sample_backend(&m);
			m.backend_flags = u;
		} else {
			sample_run(&m);
			m.flags = u;
			if (u & RUN_TTY) {
				m.tty_rows = 24;
				m.tty_cols = 80;
			}
		}
		ok &= decode_run(buf, run_payload(&m, buf, sizeof(buf)),
		    &d) == 0 && (backend ? d.backend_flags : d.flags) == u;
	}
	return ok;
}

/* Decode a run payload, returning what proto_decode_run returned. */
static int
decode_run(const uint8_t *p, long len, struct proto_run *m)
{
	const char	*errstr = NULL;
	int		 rc;

	if (len < 0)
		return -2;
	rc = proto_decode_run(p, (uint32_t)len, m, &errstr);
	if (rc == -1 && (errstr == NULL || *errstr == '\0'))
		return -3;	/* failure without a reason */
	return rc;
}

/* Encode m, which the encoder does not judge, and check decoding fails. */
static void
run_rejects(const struct proto_run *m, const char *name)
{
	static uint8_t		buf[PROTO_RUN_MAX];
	struct proto_run	out;
	long			n;

	n = run_payload(m, buf, sizeof(buf));
	CHECK(n >= 0 && decode_run(buf, n, &out) == -1, name);
}

/* Check the pbuf primitives. */
static void
test_pbuf(void)
{
	struct pbuf	b = { 0 };
	uint8_t		bytes[1000];
	size_t		i;
	int		ok;

	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i * 7);

	CHECK(pbuf_used(&b) == 0, "pbuf: empty has nothing used");
	CHECK(pbuf_add(&b, bytes, 10) == 0 && pbuf_used(&b) == 10,
	    "pbuf: add 10");
	CHECK(pbuf_add(&b, NULL, 0) == 0 && pbuf_used(&b) == 10,
	    "pbuf: add nothing");
	pbuf_consume(&b, 4);
	CHECK(pbuf_used(&b) == 6 && memcmp(b.data + b.off, bytes + 4, 6) == 0,
	    "pbuf: consume 4 leaves the last 6");
	pbuf_consume(&b, 6);
	CHECK(pbuf_used(&b) == 0, "pbuf: consume all");

	/* Growth keeps the bytes. */
	ok = 1;
	for (i = 0; i < 50; i++)
		ok &= pbuf_add(&b, bytes, sizeof(bytes)) == 0;
	CHECK(ok && pbuf_used(&b) == 50 * sizeof(bytes), "pbuf: grow to 50 KB");
	ok = 1;
	for (i = 0; i < 50; i++) {
		ok &= memcmp(b.data + b.off, bytes, sizeof(bytes)) == 0;
		pbuf_consume(&b, sizeof(bytes));
	}
	CHECK(ok && pbuf_used(&b) == 0, "pbuf: grown bytes intact");

	/* Sliding the unread part to the front keeps it. */
	CHECK(pbuf_add(&b, bytes, 250) == 0, "pbuf: add 250");
	pbuf_consume(&b, 100);
	CHECK(pbuf_add(&b, bytes, 200) == 0 && pbuf_used(&b) == 350 &&
	    memcmp(b.data + b.off, bytes + 100, 150) == 0 &&
	    memcmp(b.data + b.off + 150, bytes, 200) == 0,
	    "pbuf: add after partial consume keeps order");

	CHECK(pbuf_reserve(&b, SIZE_MAX - 10) == -1,
	    "pbuf: absurd reserve fails");
	CHECK(pbuf_used(&b) == 350 &&
	    memcmp(b.data + b.off, bytes + 100, 150) == 0,
	    "pbuf: failed reserve changes nothing");

	pbuf_free(&b);
	CHECK(b.data == NULL && b.len == 0 && b.off == 0 && b.cap == 0,
	    "pbuf: free resets");
	pbuf_free(&b);
}

/* Check proto_limit and proto_frame. */
static void
test_frame(void)
{
	struct pbuf	 b = { 0 };
	uint8_t		 payload[16] = { 1, 2, 3 };
	const uint8_t	*p;
	uint32_t	 type, len, t;
	int		 ok;

	CHECK(proto_limit(MSG_HELLO) == 8, "limit: hello is 8");
	CHECK(proto_limit(MSG_RUN) == PROTO_RUN_MAX, "limit: run");
	CHECK(proto_limit(MSG_STATUS) == 0 && proto_limit(MSG_STOP) == 0,
	    "limit: empty messages are 0");
	CHECK(proto_limit(MSG_BUSY) == 28 && proto_limit(MSG_JOINED) == 28,
	    "limit: busy is a joined");
	CHECK(proto_limit(MSG_FORGET) == PROTO_KEY_MAX, "limit: forget");
	CHECK(proto_limit(MSG_ERROR) == PROTO_TEXT_MAX, "limit: error");
	CHECK(proto_limit(MSG_OK) == 4, "limit: ok is 4");
	CHECK(proto_limit(MSG_LEAD) == 4, "limit: lead is a u32 (its streams)");
	CHECK(proto_limit(MSG_LEAVE) == 0, "limit: leave is empty");
	CHECK(proto_limit(0) == 0 && proto_limit(MSG_TYPE_MAX) == 0 &&
	    proto_limit(UINT32_MAX) == 0, "limit: unknown types are 0");

	CHECK(proto_frame(&b, MSG_STATUS, NULL, 0) == 0 &&
	    pbuf_used(&b) == PROTO_HEADER_SIZE, "frame: empty status");
	CHECK(next(&b, &type, &p, &len) == PROTO_HEADER_SIZE &&
	    type == MSG_STATUS && len == 0, "frame: empty status parses");
	pbuf_consume(&b, PROTO_HEADER_SIZE);

	CHECK(proto_frame(&b, 0, payload, 0) == -1 && pbuf_used(&b) == 0,
	    "frame: type 0 refused");
	CHECK(proto_frame(&b, MSG_TYPE_MAX, payload, 0) == -1 &&
	    pbuf_used(&b) == 0, "frame: type MSG_TYPE_MAX refused");
	errno = 0;
	CHECK(proto_frame(&b, MSG_STATUS, payload, 1) == -1 &&
	    errno == EMSGSIZE && pbuf_used(&b) == 0,
	    "frame: payload over limit refused with EMSGSIZE");
	CHECK(proto_frame(&b, MSG_OK, payload, 5) == -1 && pbuf_used(&b) == 0,
	    "frame: 5 bytes for ok refused");
	CHECK(proto_frame(&b, MSG_DATA, payload, 8) == 0 &&
	    next(&b, &type, &p, &len) == PROTO_HEADER_SIZE + 8 &&
	    type == MSG_DATA && len == 8 && memcmp(p, payload, 8) == 0,
	    "frame: payload at the limit");
	pbuf_consume(&b, PROTO_HEADER_SIZE + 8);
	CHECK(proto_frame(&b, MSG_DATA, payload, 9) == -1 &&
	    pbuf_used(&b) == 0, "frame: 9 bytes for data refused");
	pbuf_free(&b);

	/* Every known type frames an empty payload and parses back. */
	ok = 1;
	for (t = MSG_HELLO; t < MSG_TYPE_MAX; t++) {
		ok &= proto_frame(&b, t, NULL, 0) == 0;
		ok &= next(&b, &type, &p, &len) == PROTO_HEADER_SIZE &&
		    type == t && len == 0;
		pbuf_consume(&b, PROTO_HEADER_SIZE);
	}
	CHECK(ok, "frame: every known type round-trips empty");
	pbuf_free(&b);
}

/* Check proto_next on partial, bad and back-to-back frames. */
static void
test_next(void)
{
	struct pbuf	 b = { 0 };
	uint32_t	 hdr[2], type, len, t;
	uint32_t	 bad[] = { 0, MSG_TYPE_MAX, UINT32_MAX };
	const uint8_t	*p;
	const char	*errstr;
	uint8_t		 raw[64] = { 0 };
	size_t		 i, total;
	int		 ok, n;

	errstr = NULL;
	CHECK(proto_next(raw, 0, &type, &p, &len, &errstr) == 0,
	    "next: nothing needs more");

	proto_encode_data(&b, 12345);
	total = pbuf_used(&b);
	CHECK(total == PROTO_HEADER_SIZE + 8, "next: data frame is 16 bytes");
	ok = 1;
	for (i = 0; i < total; i++)
		ok &= proto_next(b.data, i, &type, &p, &len, &errstr) == 0;
	CHECK(ok, "next: every truncation of a frame needs more");
	CHECK(proto_next(b.data, total, &type, &p, &len, &errstr) ==
	    (int)total && type == MSG_DATA && len == 8 &&
	    p == b.data + PROTO_HEADER_SIZE, "next: whole frame found");

	/* Two frames back to back, then the start of a third. */
	proto_encode_u32(&b, MSG_OK, 7);
	proto_encode_hello(&b);
	pbuf_consume(&b, total);
	n = next(&b, &type, &p, &len);
	CHECK(n == PROTO_HEADER_SIZE + 4 && type == MSG_OK && len == 4,
	    "next: second frame found after consume");
	pbuf_consume(&b, (size_t)n);
	CHECK(proto_next(b.data + b.off, pbuf_used(&b) - 1, &type, &p, &len,
	    &errstr) == 0, "next: third frame short by one byte");
	pbuf_free(&b);

	/* Unknown types. */
	for (i = 0; i < nitems(bad); i++) {
		char	name[64];

		hdr[0] = bad[i];
		hdr[1] = 0;
		memcpy(raw, hdr, sizeof(hdr));
		errstr = NULL;
		snprintf(name, sizeof(name), "next: type %u refused",
		    (unsigned)bad[i]);
		CHECK(proto_next(raw, sizeof(hdr), &type, &p, &len,
		    &errstr) == -1 && errstr != NULL, name);
	}

	/* A length over the type's limit is refused from the header alone. */
	ok = 1;
	for (t = MSG_HELLO; t < MSG_TYPE_MAX; t++) {
		hdr[0] = t;
		hdr[1] = (uint32_t)proto_limit(t) + 1;
		memcpy(raw, hdr, sizeof(hdr));
		errstr = NULL;
		ok &= proto_next(raw, sizeof(hdr), &type, &p, &len,
		    &errstr) == -1 && errstr != NULL;
		hdr[1] = UINT32_MAX;
		memcpy(raw, hdr, sizeof(hdr));
		errstr = NULL;
		ok &= proto_next(raw, sizeof(hdr), &type, &p, &len,
		    &errstr) == -1 && errstr != NULL;
	}
	CHECK(ok, "next: limit + 1 and UINT32_MAX refused for every type");

	/* A length at the limit waits for the payload. */
	ok = 1;
	for (t = MSG_HELLO; t < MSG_TYPE_MAX; t++) {
		hdr[0] = t;
		hdr[1] = (uint32_t)proto_limit(t);
		memcpy(raw, hdr, sizeof(hdr));
		n = proto_next(raw, sizeof(hdr), &type, &p, &len, &errstr);
		ok &= hdr[1] == 0 ? n == PROTO_HEADER_SIZE : n == 0;
	}
	CHECK(ok, "next: length at the limit accepted for every type");
}

/* Feed frames into a second buffer a few bytes at a time and parse them. */
static void
test_stream(void)
{
	struct pbuf		 out = { 0 }, in = { 0 };
	struct proto_joined	 j = { 42, 7, 1, 3, 1 };
	const uint8_t		*p;
	uint32_t		 type, len, got = 0, seen[64];
	uint64_t		 end;
	size_t			 at, step;
	int			 n, ok = 1, bad = 0;

	for (got = 0; got < 20; got++) {
		proto_encode_data(&out, (uint64_t)got * 1000 + got % 2);
		if (got % 5 == 0)
			proto_encode_joined(&out, &j);
	}
	got = 0;
	for (at = 0; at < pbuf_used(&out); at += step) {
		step = 1 + rng() % 13;
		if (step > pbuf_used(&out) - at)
			step = pbuf_used(&out) - at;
		pbuf_add(&in, out.data + at, step);
		while ((n = next(&in, &type, &p, &len)) > 0) {
			if (got < nitems(seen))
				seen[got] = type;
			if (type == MSG_DATA) {
				ok &= proto_decode_data(p, len, &end) == 0;
				ok &= end % 1000 == end / 1000 % 2;
			}
			got++;
			pbuf_consume(&in, (size_t)n);
		}
		if (n == -1)
			bad = 1;
	}
	CHECK(!bad && ok && got == 24 && pbuf_used(&in) == 0,
	    "stream: 24 frames parsed from dribbled bytes");
	CHECK(seen[0] == MSG_DATA && seen[1] == MSG_JOINED &&
	    seen[2] == MSG_DATA, "stream: frames come out in order");
	pbuf_free(&out);
	pbuf_free(&in);
}

/* MSG_HELLO both ways. */
static void
test_hello(void)
{
	struct pbuf	 b = { 0 };
	uint8_t		 buf[16];
	uint32_t	 v[3], version;
	const char	*errstr;
	long		 n;

	proto_encode_hello(&b);
	n = only_frame(&b, MSG_HELLO, buf, sizeof(buf));
	version = 0;
	errstr = NULL;
	CHECK(n == 8 && proto_decode_hello(buf, (uint32_t)n, &version,
	    &errstr) == 0 && version == PROTOCOL_VERSION,
	    "hello: round trip gives PROTOCOL_VERSION");
	pbuf_free(&b);

	v[0] = PROTOCOL_MAGIC;
	v[1] = PROTOCOL_VERSION + 41;
	CHECK(proto_decode_hello((uint8_t *)v, 8, &version, &errstr) == 0 &&
	    version == PROTOCOL_VERSION + 41,
	    "hello: another version is returned, not refused");
	v[0] = PROTOCOL_MAGIC ^ 1;
	errstr = NULL;
	CHECK(proto_decode_hello((uint8_t *)v, 8, &version, &errstr) == -1 &&
	    errstr != NULL, "hello: wrong magic refused");
	v[0] = PROTOCOL_MAGIC;
	errstr = NULL;
	CHECK(proto_decode_hello((uint8_t *)v, 7, &version, &errstr) == -1 &&
	    errstr != NULL, "hello: 7 bytes refused");
	CHECK(proto_decode_hello((uint8_t *)v, 4, &version, &errstr) == -1,
	    "hello: magic alone refused");
	CHECK(proto_decode_hello((uint8_t *)v, 0, &version, &errstr) == -1,
	    "hello: empty refused");
	CHECK(proto_decode_hello((uint8_t *)v, 12, &version, &errstr) == -1,
	    "hello: trailing bytes refused");
}

/* MSG_RUN: a full round trip and every way a request can be bad. */
static void
test_run(void)
{
	static uint8_t		 buf[PROTO_RUN_MAX];
	static char		 key[PROTO_KEY_MAX + 2];
	struct proto_run	 m, d;
	struct pbuf		 b = { 0 };
	const uint8_t		*p;
	char			*many;
	uint32_t		 type, len;
	long			 n, i;
	int			 ok, rc;

	sample_run(&m);
	n = run_payload(&m, buf, sizeof(buf));
	rc = decode_run(buf, n, &d);
	CHECK(rc == 0, "run: sample decodes");
	CHECK(d.flags == m.flags && d.umask == m.umask &&
	    d.join_window_ms == m.join_window_ms &&
	    d.run_timeout_ms == m.run_timeout_ms &&
	    d.kill_after_ms == m.kill_after_ms && d.linger_ms == m.linger_ms,
	    "run: numbers survive");
	CHECK(memcmp(d.limits, m.limits, sizeof(m.limits)) == 0,
	    "run: resource limits survive");
	CHECK(d.keylen == 6 && memcmp(d.key, "deploy", 6) == 0,
	    "run: key survives");
	CHECK(d.argc == 2 && d.argvlen == m.argvlen &&
	    memcmp(d.argv, m.argv, m.argvlen) == 0, "run: argv survives");
	CHECK(d.envc == 3 && d.envlen == m.envlen &&
	    memcmp(d.env, m.env, m.envlen) == 0, "run: env survives");
	CHECK(rc == 0 && (const uint8_t *)d.key >= buf &&
	    (const uint8_t *)d.argv + d.argvlen <= buf + n &&
	    (const uint8_t *)d.env + d.envlen <= buf + n,
	    "run: decoded strings point into the payload");

	/* Valid variations. */
	sample_run(&m);
	m.envc = 0;
	m.env = NULL;
	m.envlen = 0;
	n = run_payload(&m, buf, sizeof(buf));
	CHECK(decode_run(buf, n, &d) == 0 && d.envc == 0 && d.envlen == 0,
	    "run: empty environment");
	sample_run(&m);
	m.argc = 1;
	m.argv = "";
	m.argvlen = 1;
	n = run_payload(&m, buf, sizeof(buf));
	CHECK(decode_run(buf, n, &d) == 0 && d.argc == 1,
	    "run: one empty argument");
	sample_run(&m);
	memset(key, 'k', sizeof(key));
	m.key = key;
	m.keylen = PROTO_KEY_MAX;
	n = run_payload(&m, buf, sizeof(buf));
	CHECK(decode_run(buf, n, &d) == 0 && d.keylen == PROTO_KEY_MAX,
	    "run: key of PROTO_KEY_MAX bytes");
	sample_run(&m);
	m.key = "\n\xff\x01";
	m.keylen = 3;
	n = run_payload(&m, buf, sizeof(buf));
	CHECK(decode_run(buf, n, &d) == 0 && d.keylen == 3,
	    "run: key of control and high bytes");
	CHECK(flags_round_trip(0), "run: every combination of known flags");
	sample_run(&m);
	m.umask = 0777;
	n = run_payload(&m, buf, sizeof(buf));
	CHECK(decode_run(buf, n, &d) == 0 && d.umask == 0777,
	    "run: umask 0777");

	/* Bad requests. */
	sample_run(&m);
	m.flags = RUN_FLAGS_ALL + 1;
	run_rejects(&m, "run: unknown flag bit refused");
	m.flags = 0x80000000U | RUN_KEEP;
	run_rejects(&m, "run: high flag bit refused");
	sample_run(&m);
	m.flags = RUN_TTY;
	run_rejects(&m, "run: a terminal of 0x0 refused");
	m.tty_rows = 65536;
	m.tty_cols = 80;
	run_rejects(&m, "run: a terminal of 65536 rows refused");
	m.tty_rows = 24;
	m.tty_cols = 65536;
	run_rejects(&m, "run: a terminal of 65536 columns refused");
	m.flags = 0;
	m.tty_cols = 80;
	run_rejects(&m, "run: a terminal size without --tty refused");
	m.flags = RUN_TTY;
	m.tty_rows = 65535;
	m.tty_cols = 1;
	n = run_payload(&m, buf, sizeof(buf));
	CHECK(decode_run(buf, n, &d) == 0 && d.tty_rows == 65535 &&
	    d.tty_cols == 1, "run: a terminal of 65535x1 survives");
	sample_run(&m);
	m.umask = 01000;
	run_rejects(&m, "run: umask over 0777 refused");
	sample_run(&m);
	m.keylen = 0;
	run_rejects(&m, "run: empty key refused");
	m.key = "a\0b";
	m.keylen = 3;
	run_rejects(&m, "run: key with NUL refused");
	m.key = key;
	m.keylen = PROTO_KEY_MAX + 1;
	run_rejects(&m, "run: key of PROTO_KEY_MAX + 1 bytes refused");
	sample_run(&m);
	m.argc = 0;
	m.argv = NULL;
	m.argvlen = 0;
	run_rejects(&m, "run: zero argc refused");
	sample_run(&m);
	m.argc = 0;
	run_rejects(&m, "run: zero argc with strings refused");
	sample_run(&m);
	m.argc = 3;
	run_rejects(&m, "run: argc above the strings refused");
	sample_run(&m);
	m.argc = 1;
	run_rejects(&m, "run: argc below the strings refused");
	sample_run(&m);
	m.argvlen--;
	m.argc = 1;
	run_rejects(&m, "run: argv not NUL-terminated refused");
	m.argc = 2;
	run_rejects(&m, "run: argv not NUL-terminated, argc 2, refused");
	sample_run(&m);
	m.envc = 4;
	run_rejects(&m, "run: envc above the strings refused");
	m.envc = 0;
	run_rejects(&m, "run: envc 0 with strings refused");
	sample_run(&m);
	m.envlen--;
	run_rejects(&m, "run: env not NUL-terminated refused");

	/* More arguments than PROTO_ARGC_MAX. */
	many = calloc(PROTO_ARGC_MAX + 1, 1);
	if (many == NULL)
		abort();
	sample_run(&m);
	m.argv = many;
	m.argc = m.argvlen = PROTO_ARGC_MAX;
	n = run_payload(&m, buf, sizeof(buf));
	CHECK(decode_run(buf, n, &d) == 0 && d.argc == PROTO_ARGC_MAX,
	    "run: PROTO_ARGC_MAX empty arguments");
	m.argc = m.argvlen = PROTO_ARGC_MAX + 1;
	run_rejects(&m, "run: PROTO_ARGC_MAX + 1 arguments refused");
	sample_run(&m);
	m.env = many;
	m.envc = m.envlen = PROTO_ENVC_MAX + 1;
	run_rejects(&m, "run: PROTO_ENVC_MAX + 1 variables refused");
	free(many);

	/* Damage to a valid payload. */
	sample_run(&m);
	n = run_payload(&m, buf, sizeof(buf));
	ok = 1;
	for (i = 0; i < n; i++)
		ok &= decode_run(buf, i, &d) == -1;
	CHECK(ok, "run: every truncation refused");
	buf[n] = 0;
	CHECK(decode_run(buf, n + 1, &d) == -1, "run: trailing byte refused");
	memset(buf + n, 0, 64);
	CHECK(decode_run(buf, n + 64, &d) == -1,
	    "run: trailing 64 bytes refused");
	for (i = 0; i < 3; i++) {
		uint32_t	bad[] = { UINT32_MAX, (uint32_t)n,
				    PROTO_KEY_MAX + 1 };
		uint32_t	save;
		char		name[64];

		memcpy(&save, buf + RUN_KEYLEN_OFF, 4);
		memcpy(buf + RUN_KEYLEN_OFF, &bad[i], 4);
		snprintf(name, sizeof(name), "run: key length field %u refused",
		    (unsigned)bad[i]);
		CHECK(decode_run(buf, n, &d) == -1, name);
		memcpy(buf + RUN_KEYLEN_OFF, &save, 4);
	}
	CHECK(decode_run(buf, n, &d) == 0, "run: restored payload decodes");

	/* The encoder refuses a request over PROTO_RUN_MAX. */
	many = calloc(PROTO_RUN_MAX, 1);
	if (many == NULL)
		abort();
	sample_run(&m);
	m.env = many;
	m.envc = m.envlen = PROTO_RUN_MAX;
	proto_encode_hello(&b);
	n = (long)pbuf_used(&b);
	errno = 0;
	CHECK(proto_encode_run(&b, &m) == -1 && errno == EMSGSIZE &&
	    pbuf_used(&b) == (size_t)n, "run: oversized request not encoded");
	CHECK(next(&b, &type, &p, &len) == n && type == MSG_HELLO,
	    "run: buffer still holds only the hello");
	free(many);
	pbuf_free(&b);
}

/*
 * Encode the sample request with a valid lease but no backend strings, then
 * put the blen bytes of block where its empty backend block was; returns the
 * payload length.
 */
static long
run_with_block(uint8_t *buf, size_t cap, const char *block, uint32_t blen)
{
	struct proto_run	m;
	uint32_t		u;
	long			n;

	sample_backend(&m);
	m.url = NULL;
	n = run_payload(&m, buf, cap);
	if (n < 4 || (size_t)n + blen > cap)
		return -1;
	memcpy(&u, buf + n - 4, 4);
	if (u != 0)
		return -1;	/* the block length is not last */
	memcpy(buf + n - 4, &blen, 4);
	memcpy(buf + n, block, blen);
	return n + blen;
}

/* MSG_RUN with and without a Redis backend. */
static void
test_run_backend(void)
{
	static uint8_t		 buf[PROTO_RUN_MAX];
	static char		 url[2 * PROTO_BACKEND_MAX];
	struct proto_run	 m, d;
	uint32_t		 u;
	long			 n, i;
	int			 ok;

	sample_backend(&m);
	n = run_payload(&m, buf, sizeof(buf));
	memset(&d, 'X', sizeof(d));
	CHECK(decode_run(buf, n, &d) == 0, "backend: sample decodes");
	CHECK(d.backend_flags == (BACKEND_RERUN | BACKEND_FALLBACK) &&
	    d.lease_ms == 15000 && d.backend_linger_ms == 30000,
	    "backend: numbers survive");
	CHECK(d.url != NULL && d.prefix != NULL && d.password != NULL &&
	    strcmp(d.url, m.url) == 0 && strcmp(d.prefix, "sfrun:") == 0 &&
	    strcmp(d.password, "s3cret") == 0, "backend: strings survive");
	CHECK(d.url != NULL && (const uint8_t *)d.url >= buf &&
	    (const uint8_t *)d.password + strlen(d.password) < buf + n,
	    "backend: strings point into the payload");
	CHECK(d.keylen == 6 && memcmp(d.key, "deploy", 6) == 0 &&
	    d.argc == 2 && d.envc == 3 && d.linger_ms == UINT64_MAX &&
	    memcmp(d.env, m.env, m.envlen) == 0,
	    "backend: the rest of the request survives");
	memcpy(&u, buf + n - 4 - 8 - 8 - 4 - strlen(m.url) - 1 -
	    strlen(m.prefix) - 1 - strlen(m.password) - 1, 4);
	CHECK(u == (BACKEND_RERUN | BACKEND_FALLBACK),
	    "backend: its block ends the payload");

	/* Every truncation, and bytes after the block. */
	ok = 1;
	for (i = 0; i < n; i++)
		ok &= decode_run(buf, i, &d) == -1;
	CHECK(ok, "backend: every truncation refused");
	buf[n] = 0;
	CHECK(decode_run(buf, n + 1, &d) == -1,
	    "backend: trailing byte refused");

	/* Valid variations. */
	sample_backend(&m);
	m.password = "";
	n = run_payload(&m, buf, sizeof(buf));
	CHECK(decode_run(buf, n, &d) == 0 && d.password != NULL &&
	    d.password[0] == '\0' && strcmp(d.prefix, "sfrun:") == 0,
	    "backend: no password decodes as \"\"");
	sample_backend(&m);
	m.prefix = "";
	m.password = "";
	n = run_payload(&m, buf, sizeof(buf));
	CHECK(decode_run(buf, n, &d) == 0 && d.prefix[0] == '\0' &&
	    d.password[0] == '\0' && strcmp(d.url, m.url) == 0,
	    "backend: empty prefix and password");
	sample_backend(&m);
	m.lease_ms = 3000;
	m.backend_linger_ms = 0;
	n = run_payload(&m, buf, sizeof(buf));
	CHECK(decode_run(buf, n, &d) == 0 && d.lease_ms == 3000 &&
	    d.backend_linger_ms == 0, "backend: lease of 3000 ms, no linger");
	sample_backend(&m);
	m.lease_ms = UINT64_MAX;
	m.backend_linger_ms = UINT64_MAX;
	n = run_payload(&m, buf, sizeof(buf));
	CHECK(decode_run(buf, n, &d) == 0 && d.lease_ms == UINT64_MAX &&
	    d.backend_linger_ms == UINT64_MAX, "backend: UINT64_MAX durations");
	CHECK(flags_round_trip(1),
	    "backend: every combination of known flags");

	/* The block at PROTO_BACKEND_MAX: url, "p", "" and three NULs. */
	sample_backend(&m);
	memset(url, 'u', PROTO_BACKEND_MAX - 4);
	url[PROTO_BACKEND_MAX - 4] = '\0';
	m.url = url;
	m.prefix = "p";
	m.password = "";
	n = run_payload(&m, buf, sizeof(buf));
	CHECK(decode_run(buf, n, &d) == 0 &&
	    strlen(d.url) == PROTO_BACKEND_MAX - 4,
	    "backend: block of PROTO_BACKEND_MAX bytes");

	/* No backend: url, prefix and password come back NULL. */
	sample_run(&m);
	n = run_payload(&m, buf, sizeof(buf));
	memset(&d, 'X', sizeof(d));
	CHECK(decode_run(buf, n, &d) == 0 && d.url == NULL &&
	    d.prefix == NULL && d.password == NULL && d.backend_flags == 0 &&
	    d.lease_ms == 0 && d.backend_linger_ms == 0,
	    "backend: none decodes as url NULL");
	memcpy(&u, buf + n - 4, 4);
	CHECK(u == 0, "backend: none is an empty block at the end");

	/* Bad backends. */
	sample_backend(&m);
	m.backend_flags = BACKEND_FLAGS_ALL + 1;
	run_rejects(&m, "backend: unknown flag bit refused");
	m.backend_flags = 0x80000000U | BACKEND_RERUN;
	run_rejects(&m, "backend: high flag bit refused");
	sample_backend(&m);
	m.lease_ms = 2999;
	run_rejects(&m, "backend: lease of 2999 ms refused");
	m.lease_ms = 0;
	run_rejects(&m, "backend: lease of 0 refused");
	sample_backend(&m);
	m.url = "";
	run_rejects(&m, "backend: empty url refused");
	m.prefix = "";
	m.password = "";
	run_rejects(&m, "backend: three empty strings refused");
	/*
	 * Blocks over PROTO_BACKEND_MAX: the encoder will not make one, and
	 * the decoder refuses one made by hand.
	 */
	sample_backend(&m);
	memset(url, 'u', PROTO_BACKEND_MAX - 3);
	url[PROTO_BACKEND_MAX - 3] = '\0';
	m.url = url;
	m.prefix = "p";
	m.password = "";
	CHECK(run_payload(&m, buf, sizeof(buf)) == -1 && errno == EMSGSIZE,
	    "backend: encoder refuses a block of PROTO_BACKEND_MAX + 1");
	memcpy(url + PROTO_BACKEND_MAX - 3, "\0p\0", 4);
	n = run_with_block(buf, sizeof(buf), url, PROTO_BACKEND_MAX + 1);
	CHECK(n > 0 && decode_run(buf, n, &d) == -1,
	    "backend: block of PROTO_BACKEND_MAX + 1 refused");
	memset(url, 'u', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	CHECK(run_payload(&m, buf, sizeof(buf)) == -1 && errno == EMSGSIZE,
	    "backend: encoder refuses a block of twice PROTO_BACKEND_MAX");
	memcpy(url + sizeof(url) - 4, "\0p\0", 4);
	n = run_with_block(buf, sizeof(buf), url, sizeof(url));
	CHECK(n > 0 && decode_run(buf, n, &d) == -1,
	    "backend: block of twice PROTO_BACKEND_MAX refused");

	/* Blocks the encoder cannot make: the wrong number of strings. */
	n = run_with_block(buf, sizeof(buf), "redis://h\0sfrun:", 17);
	CHECK(n > 0 && decode_run(buf, n, &d) == -1,
	    "backend: block of 2 strings refused");
	n = run_with_block(buf, sizeof(buf), "redis://h", 10);
	CHECK(n > 0 && decode_run(buf, n, &d) == -1,
	    "backend: block of 1 string refused");
	n = run_with_block(buf, sizeof(buf), "redis://h\0p\0pw\0x", 17);
	CHECK(n > 0 && decode_run(buf, n, &d) == -1,
	    "backend: block of 4 strings refused");
	n = run_with_block(buf, sizeof(buf), "redis://h\0p\0pw", 14);
	CHECK(n > 0 && decode_run(buf, n, &d) == -1,
	    "backend: last string not terminated refused");
	n = run_with_block(buf, sizeof(buf), "redis://h\0p\0pw", 15);
	CHECK(n > 0 && decode_run(buf, n, &d) == 0 &&
	    strcmp(d.url, "redis://h") == 0 && strcmp(d.password, "pw") == 0,
	    "backend: a hand-made block of 3 strings decodes");
	u = UINT32_MAX;
	memcpy(buf + n - 15 - 4, &u, 4);
	CHECK(decode_run(buf, n, &d) == -1,
	    "backend: block length UINT32_MAX refused");
	u = 16;
	memcpy(buf + n - 15 - 4, &u, 4);
	CHECK(decode_run(buf, n, &d) == -1,
	    "backend: block length one past the payload refused");
	u = 14;
	memcpy(buf + n - 15 - 4, &u, 4);
	CHECK(decode_run(buf, n, &d) == -1,
	    "backend: block length one short refused");
}

/* MSG_JOINED, MSG_DATA, MSG_STATUS_END and MSG_OK. */
static void
test_small(void)
{
	struct pbuf		b = { 0 };
	struct proto_joined	j = { UINT64_MAX - 1, 1234, 1, 99, 1 }, jd;
	struct proto_counters	c = { 10, 20, 30, -1, 1 }, cd;
	uint8_t			buf[64];
	uint32_t		v;
	uint64_t		end;
	long			n;

	proto_encode_joined(&b, &j);
	n = only_frame(&b, MSG_JOINED, buf, sizeof(buf));
	memset(&jd, 0, sizeof(jd));
	CHECK(n == 28 && proto_decode_joined(buf, (uint32_t)n, &jd) == 0 &&
	    jd.run_id == j.run_id && jd.age_ms == j.age_ms && jd.led == 1 &&
	    jd.waiters == 99 && jd.tty == 1, "joined: round trip");
	CHECK(proto_decode_joined(buf, 27, &jd) == -1, "joined: short refused");
	CHECK(proto_decode_joined(buf, 29, &jd) == -1,
	    "joined: trailing byte refused");
	v = 2;
	memcpy(buf + 24, &v, 4);
	CHECK(proto_decode_joined(buf, 28, &jd) == -1, "joined: tty 2 refused");
	v = 0;
	memcpy(buf + 24, &v, 4);
	v = JOIN_REPLAY;
	memcpy(buf + 16, &v, 4);
	CHECK(proto_decode_joined(buf, 28, &jd) == 0 && jd.led == JOIN_REPLAY,
	    "joined: a replay decodes");
	v = JOIN_REPLAY + 1;
	memcpy(buf + 16, &v, 4);
	CHECK(proto_decode_joined(buf, 28, &jd) == -1, "joined: led 3 refused");
	pbuf_free(&b);

	/* MSG_BUSY carries the run in flight, as a joined. */
	proto_encode_busy(&b, &j);
	n = only_frame(&b, MSG_BUSY, buf, sizeof(buf));
	memset(&jd, 0, sizeof(jd));
	CHECK(n == 28 && proto_decode_joined(buf, (uint32_t)n, &jd) == 0 &&
	    jd.run_id == j.run_id && jd.waiters == 99, "busy: round trip");
	pbuf_free(&b);

	proto_encode_data(&b, 0);
	n = only_frame(&b, MSG_DATA, buf, sizeof(buf));
	CHECK(n == 8 && proto_decode_data(buf, 8, &end) == 0 && end == 0,
	    "data: 0");
	pbuf_free(&b);
	proto_encode_data(&b, UINT64_MAX);
	n = only_frame(&b, MSG_DATA, buf, sizeof(buf));
	CHECK(n == 8 && proto_decode_data(buf, 8, &end) == 0 &&
	    end == UINT64_MAX, "data: UINT64_MAX");
	CHECK(proto_decode_data(buf, 7, &end) == -1, "data: short refused");
	CHECK(proto_decode_data(buf, 9, &end) == -1,
	    "data: trailing byte refused");
	CHECK(proto_decode_data(buf, 16, &end) == -1,
	    "data: the old layout (stream, 0, end) refused");
	pbuf_free(&b);

	proto_encode_counters(&b, &c);
	n = only_frame(&b, MSG_STATUS_END, buf, sizeof(buf));
	memset(&cd, 0, sizeof(cd));
	CHECK(n == 32 && proto_decode_counters(buf, 32, &cd) == 0 &&
	    cd.runs_started == 10 && cd.invocations_joined == 20 &&
	    cd.invocations_total == 30 && cd.server_pid == -1 &&
	    cd.protocol == 1, "counters: round trip");
	CHECK(proto_decode_counters(buf, 31, &cd) == -1,
	    "counters: short refused");
	CHECK(proto_decode_counters(buf, 33, &cd) == -1,
	    "counters: trailing byte refused");
	pbuf_free(&b);

	proto_encode_u32(&b, MSG_OK, 1);
	n = only_frame(&b, MSG_OK, buf, sizeof(buf));
	CHECK(n == 4 && proto_decode_u32(buf, 4, &v) == 0 && v == 1,
	    "u32: ok 1 round trip");
	pbuf_free(&b);
	proto_encode_u32(&b, MSG_OK, UINT32_MAX);
	n = only_frame(&b, MSG_OK, buf, sizeof(buf));
	CHECK(n == 4 && proto_decode_u32(buf, 4, &v) == 0 && v == UINT32_MAX,
	    "u32: UINT32_MAX round trip");
	CHECK(proto_decode_u32(buf, 3, &v) == -1, "u32: 3 bytes refused");
	CHECK(proto_decode_u32(buf, 5, &v) == -1, "u32: 5 bytes refused");
	CHECK(proto_decode_u32(buf, 0, &v) == -1, "u32: empty refused");
	pbuf_free(&b);
	CHECK(proto_encode_u32(&b, MSG_STATUS, 1) == -1 && pbuf_used(&b) == 0,
	    "u32: not for an empty-only type");
	pbuf_free(&b);
}

/* MSG_DONE for every outcome. */
static void
test_done(void)
{
	static const struct {
		uint32_t	how;
		int32_t		value;
	} cases[] = {
		{ DONE_EXITED, 0 }, { DONE_EXITED, 3 }, { DONE_EXITED, 255 },
		{ DONE_SIGNALED, 9 }, { DONE_EXEC_FAILED, ENOENT },
		{ DONE_TIMED_OUT, 15 }, { DONE_EXITED, -1 },
		{ DONE_SIGNALED, INT32_MIN }, { DONE_LOST, 0 },
		{ DONE_UNFOLLOWED, 0 },
	};
	static struct proto_done	m, d;
	static uint8_t			buf[PROTO_HEADER_SIZE + 8 +
					    PROTO_TEXT_MAX + 16];
	struct pbuf			b = { 0 };
	uint32_t			how;
	size_t				i;
	long				n;
	int				ok;

	ok = 1;
	for (i = 0; i < nitems(cases); i++) {
		memset(&m, 0, sizeof(m));
		m.how = cases[i].how;
		m.value = cases[i].value;
		proto_encode_done(&b, &m);
		n = only_frame(&b, MSG_DONE, buf, sizeof(buf));
		memset(&d, 'X', sizeof(d));
		ok &= n == 8 && proto_decode_done(buf, (uint32_t)n, &d) == 0 &&
		    d.how == m.how && d.value == m.value && d.text[0] == '\0';
		pbuf_free(&b);
	}
	CHECK(ok, "done: every outcome and value round-trips");

	memset(&m, 0, sizeof(m));
	m.how = DONE_FAILED;
	strlcpy(m.text, "spool: No space left on device", sizeof(m.text));
	proto_encode_done(&b, &m);
	n = only_frame(&b, MSG_DONE, buf, sizeof(buf));
	CHECK(n == 8 + 30 && proto_decode_done(buf, (uint32_t)n, &d) == 0 &&
	    d.how == DONE_FAILED && strcmp(d.text, m.text) == 0,
	    "done: failed with text round-trips");
	CHECK(proto_decode_done(buf, 7, &d) == -1, "done: short refused");
	CHECK(proto_decode_done(buf, 0, &d) == -1, "done: empty refused");
	pbuf_free(&b);

	/* A text filling the whole field is cut, not overrun. */
	memset(m.text, 'e', sizeof(m.text));
	proto_encode_done(&b, &m);
	n = only_frame(&b, MSG_DONE, buf, sizeof(buf));
	CHECK(n > 8 && n <= 8 + PROTO_TEXT_MAX &&
	    proto_decode_done(buf, (uint32_t)n, &d) == 0 &&
	    strlen(d.text) == (size_t)n - 8, "done: full text field is cut");
	pbuf_free(&b);

	/* The longest payload the limit allows still decodes terminated. */
	memset(buf + 8, 'e', PROTO_TEXT_MAX);
	CHECK(proto_decode_done(buf, 8 + PROTO_TEXT_MAX, &d) == 0 &&
	    strlen(d.text) < sizeof(d.text), "done: text at the limit");

	how = 0;
	memcpy(buf, &how, 4);
	CHECK(proto_decode_done(buf, 8, &d) == -1, "done: how 0 refused");
	how = DONE_UNFOLLOWED + 1;
	memcpy(buf, &how, 4);
	CHECK(proto_decode_done(buf, 8, &d) == -1,
	    "done: how past the last refused");
	/* A host that stopped following has no signal to tell. */
	how = DONE_UNFOLLOWED;
	memcpy(buf, &how, 4);
	memcpy(buf + 4, &how, 4);
	CHECK(proto_decode_done(buf, 8, &d) == -1,
	    "done: unfollowed with a value refused");

	/* The leader on another host was lost: a text, as for FAILED. */
	memset(&m, 0, sizeof(m));
	m.how = DONE_LOST;
	m.value = 75;
	strlcpy(m.text, "run of deploy: leader web-2:4711:9f8e lost",
	    sizeof(m.text));
	proto_encode_done(&b, &m);
	n = only_frame(&b, MSG_DONE, buf, sizeof(buf));
	memset(&d, 'X', sizeof(d));
	CHECK(n == 8 + (long)strlen(m.text) &&
	    proto_decode_done(buf, (uint32_t)n, &d) == 0 &&
	    d.how == DONE_LOST && d.value == 75 &&
	    strcmp(d.text, m.text) == 0, "done: lost with text round-trips");
	buf[n] = 'x';
	CHECK(proto_decode_done(buf, (uint32_t)n + 1, &d) == 0 &&
	    strlen(d.text) == strlen(m.text) + 1,
	    "done: lost with one more byte of text");
	buf[8] = '\0';
	CHECK(proto_decode_done(buf, (uint32_t)n, &d) == -1,
	    "done: lost text with a NUL refused");
	how = DONE_TIMED_OUT;
	memcpy(buf, &how, 4);
	CHECK(proto_decode_done(buf, (uint32_t)n, &d) == -1,
	    "done: timed out with text refused");
	pbuf_free(&b);
}

/* MSG_STATUS_RUN, with the largest key and command. */
static void
test_status_run(void)
{
	static struct proto_status_run	m, d;
	static uint8_t			buf[16 * PROTO_KEY_MAX];
	struct pbuf			b = { 0 };
	size_t				used, role;
	uint32_t			u, save;
	long				n, i;
	int				ok;

	memset(&m, 0, sizeof(m));
	m.run_id = 17;
	m.age_ms = 2500;
	m.bytes = UINT64_MAX;
	m.pid = 4242;
	m.waiters = 3;
	m.queued = 5;
	m.flags = STATUS_KEEP | STATUS_TTY;
	memcpy(m.key, "report\n", 7);
	m.keylen = 7;
	strlcpy(m.command, "./slow-report.sh --all", sizeof(m.command));
	m.backend = ROLE_FOLLOWER;
	m.gen = UINT64_MAX - 1;
	strlcpy(m.holder, "web-2:4711:9f8e", sizeof(m.holder));
	memcpy(m.argv, "./slow-report.sh\0--all\0", 23);
	m.argvlen = 23;
	strlcpy(m.cwd, "/srv/reports", sizeof(m.cwd));
	proto_encode_status_run(&b, &m);
	n = only_frame(&b, MSG_STATUS_RUN, buf, sizeof(buf));
	memset(&d, 'X', sizeof(d));
	CHECK(n > 0 && proto_decode_status_run(buf, (uint32_t)n, &d) == 0,
	    "status run: decodes");
	CHECK(d.run_id == 17 && d.age_ms == 2500 && d.bytes == UINT64_MAX &&
	    d.pid == 4242 && d.waiters == 3 && d.queued == 5 &&
	    d.flags == (STATUS_KEEP | STATUS_TTY),
	    "status run: numbers survive");
	CHECK(d.keylen == 7 && memcmp(d.key, "report\n", 7) == 0 &&
	    d.key[7] == '\0', "status run: key survives, terminated");
	CHECK(strcmp(d.command, m.command) == 0,
	    "status run: command survives");
	CHECK(d.argvlen == m.argvlen && memcmp(d.argv, m.argv,
	    m.argvlen) == 0 && strcmp(d.cwd, m.cwd) == 0,
	    "status run: argv (with its NULs) and cwd survive");
	CHECK(d.backend == ROLE_FOLLOWER && d.gen == UINT64_MAX - 1 &&
	    strcmp(d.holder, "web-2:4711:9f8e") == 0,
	    "status run: backend role, gen and holder survive");

	/* The backend role: every known one, and the first unknown. */
	role = 52 + m.keylen + 4 + strlen(m.command);
	memcpy(&save, buf + role, 4);
	CHECK(save == ROLE_FOLLOWER, "status run: role after the command");
	ok = 1;
	for (u = ROLE_NONE; u <= ROLE_LOCAL; u++) {
		memcpy(buf + role, &u, 4);
		ok &= proto_decode_status_run(buf, (uint32_t)n, &d) == 0 &&
		    d.backend == u;
	}
	CHECK(ok, "status run: every known role decodes");
	u = ROLE_LOCAL + 1;
	memcpy(buf + role, &u, 4);
	CHECK(proto_decode_status_run(buf, (uint32_t)n, &d) == -1,
	    "status run: role past ROLE_LOCAL refused");
	u = UINT32_MAX;
	memcpy(buf + role, &u, 4);
	CHECK(proto_decode_status_run(buf, (uint32_t)n, &d) == -1,
	    "status run: role UINT32_MAX refused");
	memcpy(buf + role, &save, 4);

	/* The holder: its length after role and gen, no NUL inside. */
	memcpy(&save, buf + role + 12, 4);
	CHECK(save == strlen(m.holder) && (long)(role + 16 + save + 4 +
	    m.argvlen + 4 + strlen(m.cwd)) == n,
	    "status run: holder, then argv and cwd end the payload");
	u = PROTO_HOLDER_MAX + 1;
	memcpy(buf + role + 12, &u, 4);
	CHECK(proto_decode_status_run(buf, (uint32_t)n, &d) == -1,
	    "status run: holder length over the max refused");
	memcpy(buf + role + 12, &save, 4);
	buf[role + 16 + 5] = '\0';
	CHECK(proto_decode_status_run(buf, (uint32_t)n, &d) == -1,
	    "status run: NUL in the holder refused");
	buf[role + 16 + 5] = ':';
	CHECK(proto_decode_status_run(buf, (uint32_t)n, &d) == 0 &&
	    strcmp(d.holder, "web-2:4711:9f8e") == 0,
	    "status run: restored payload decodes");

	/* Damage. */
	ok = 1;
	for (i = 0; i < n; i++)
		ok &= proto_decode_status_run(buf, (uint32_t)i, &d) == -1;
	CHECK(ok, "status run: every truncation refused");
	CHECK(proto_decode_status_run(buf, (uint32_t)n + 1, &d) == -1,
	    "status run: trailing byte refused");
	memcpy(&u, buf + 48, 4);
	CHECK(u == 7, "status run: key length at offset 48");
	u = PROTO_KEY_MAX + 1;
	memcpy(buf + 48, &u, 4);
	CHECK(proto_decode_status_run(buf, (uint32_t)n, &d) == -1,
	    "status run: key length over the max refused");
	u = UINT32_MAX;
	memcpy(buf + 48, &u, 4);
	CHECK(proto_decode_status_run(buf, (uint32_t)n, &d) == -1,
	    "status run: key length UINT32_MAX refused");
	pbuf_free(&b);

	/* The largest entry fits its limit. */
	memset(m.key, 'k', PROTO_KEY_MAX);
	m.keylen = PROTO_KEY_MAX;
	memset(m.command, 'c', PROTO_COMMAND_MAX);
	m.command[PROTO_COMMAND_MAX] = '\0';
	memset(m.holder, 'h', PROTO_HOLDER_MAX);
	m.holder[PROTO_HOLDER_MAX] = '\0';
	memset(m.argv, '\0', PROTO_COMMAND_MAX);
	m.argvlen = PROTO_COMMAND_MAX;
	memset(m.cwd, 'd', PROTO_CWD_MAX);
	m.cwd[PROTO_CWD_MAX] = '\0';
	m.backend = ROLE_LEADER;
	CHECK(proto_encode_status_run(&b, &m) == 0,
	    "status run: largest entry encodes");
	n = only_frame(&b, MSG_STATUS_RUN, buf, sizeof(buf));
	CHECK(n == (long)proto_limit(MSG_STATUS_RUN) &&
	    proto_decode_status_run(buf, (uint32_t)n, &d) == 0 &&
	    d.keylen == PROTO_KEY_MAX && d.key[PROTO_KEY_MAX] == '\0' &&
	    strlen(d.command) == PROTO_COMMAND_MAX &&
	    strlen(d.holder) == PROTO_HOLDER_MAX && d.backend == ROLE_LEADER &&
	    d.argvlen == PROTO_COMMAND_MAX && strlen(d.cwd) == PROTO_CWD_MAX,
	    "status run: largest entry round-trips at the limit");
	u = PROTO_HOLDER_MAX + 1;
	role = 48 + PROTO_KEY_MAX + 4 + PROTO_COMMAND_MAX;
	memcpy(buf + role + 12, &u, 4);
	buf[n] = 'h';
	CHECK(proto_decode_status_run(buf, (uint32_t)n + 1, &d) == -1,
	    "status run: 256-byte holder present, refused");
	u = PROTO_HOLDER_MAX;
	memcpy(buf + role + 12, &u, 4);
	u = PROTO_COMMAND_MAX + 1;
	memcpy(buf + 48 + PROTO_KEY_MAX, &u, 4);
	CHECK(proto_decode_status_run(buf, (uint32_t)n, &d) == -1,
	    "status run: command length over the max refused");
	pbuf_free(&b);

	/* Lengths over the max with that many bytes present: no overrun. */
	memset(buf, 0, sizeof(buf));
	u = PROTO_KEY_MAX + 1;
	memcpy(buf + 44, &u, 4);
	memset(buf + 48, 'k', u);
	CHECK(proto_decode_status_run(buf, 48 + u + 4, &d) == -1,
	    "status run: 1025-byte key present, refused");
	u = PROTO_COMMAND_MAX + 1;
	memset(buf + 44, 0, 4);
	memcpy(buf + 48, &u, 4);
	memset(buf + 52, 'c', u);
	CHECK(proto_decode_status_run(buf, 52 + u, &d) == -1,
	    "status run: 1025-byte command present, refused");

	/* A key length over the max is not encoded. */
	proto_encode_u32(&b, MSG_OK, 0);
	used = pbuf_used(&b);
	m.keylen = PROTO_KEY_MAX + 1;
	CHECK(proto_encode_status_run(&b, &m) == -1 && pbuf_used(&b) == used,
	    "status run: oversized key not encoded, buffer unchanged");
	/* Without a holder the frame would be under the limit: no matter. */
	m.holder[0] = '\0';
	CHECK(proto_encode_status_run(&b, &m) == -1 && pbuf_used(&b) == used,
	    "status run: oversized key, no holder, not encoded");
	pbuf_free(&b);
}

/* MSG_ERROR and MSG_FORGET: text payloads. */
static void
test_text(void)
{
	static char	big[PROTO_TEXT_MAX * 2];
	static uint8_t	buf[PROTO_TEXT_MAX * 2];
	char		out[PROTO_TEXT_MAX + 1], tiny[4];
	struct pbuf	b = { 0 };
	long		n;

	proto_encode_text(&b, MSG_ERROR, "server is stopping", 18);
	n = only_frame(&b, MSG_ERROR, buf, sizeof(buf));
	CHECK(n == 18 && proto_decode_text(buf, 18, out, sizeof(out)) == 0 &&
	    strcmp(out, "server is stopping") == 0, "text: error round trip");
	CHECK(proto_decode_text(buf, 18, tiny, sizeof(tiny)) == -1,
	    "text: too long for the output refused");
	CHECK(proto_decode_text(buf, 3, tiny, sizeof(tiny)) == 0 &&
	    strcmp(tiny, "ser") == 0, "text: exactly fits the output");
	pbuf_free(&b);

	proto_encode_text(&b, MSG_FORGET, "deploy", 6);
	n = only_frame(&b, MSG_FORGET, buf, sizeof(buf));
	CHECK(n == 6 && proto_decode_text(buf, 6, out, sizeof(out)) == 0 &&
	    strcmp(out, "deploy") == 0, "text: forget round trip");
	pbuf_free(&b);

	CHECK(proto_encode_text(&b, MSG_ERROR, "", 0) == 0 &&
	    (n = only_frame(&b, MSG_ERROR, buf, sizeof(buf))) == 0 &&
	    proto_decode_text(buf, 0, out, sizeof(out)) == 0 && out[0] == '\0',
	    "text: empty round trip");
	pbuf_free(&b);

	memset(big, 'x', sizeof(big));
	CHECK(proto_encode_text(&b, MSG_ERROR, big, sizeof(big)) == 0 &&
	    only_frame(&b, MSG_ERROR, buf, sizeof(buf)) == PROTO_TEXT_MAX,
	    "text: long error cut at PROTO_TEXT_MAX");
	CHECK(proto_decode_text(buf, PROTO_TEXT_MAX, out, sizeof(out)) == 0 &&
	    strlen(out) == PROTO_TEXT_MAX, "text: PROTO_TEXT_MAX decodes");
	pbuf_free(&b);
	CHECK(proto_encode_text(&b, MSG_FORGET, big, sizeof(big)) == 0 &&
	    only_frame(&b, MSG_FORGET, buf, sizeof(buf)) == PROTO_KEY_MAX,
	    "text: long forget cut at PROTO_KEY_MAX");
	pbuf_free(&b);

	memcpy(buf, "a\0b", 3);
	CHECK(proto_decode_text(buf, 3, out, sizeof(out)) == -1,
	    "text: NUL inside refused");
	CHECK(proto_encode_text(&b, 0, "x", 1) == -1 && pbuf_used(&b) == 0,
	    "text: unknown type refused");
	pbuf_free(&b);
}

/*
 * Encode message k (data, joined, done, run) into a buffer that holds fill
 * bytes of which eat were already consumed, as a half-written output queue
 * does; returns 1 if the encoder succeeded, the unread bytes are intact and
 * the new frame follows them and decodes.
 */
static int
encode_after_consume(int k, size_t fill, size_t eat)
{
	struct pbuf		 b = { 0 };
	struct proto_joined	 j = { 5, 6, 0, 7, 0 }, jd;
	struct proto_done	 done, dd;
	struct proto_run	 m, md;
	const uint8_t		*p;
	uint8_t			 queued[300];
	uint32_t		 type, len;
	uint64_t		 end;
	size_t			 i;
	int			 rc = -1, n, ok;

	for (i = 0; i < sizeof(queued); i++)
		queued[i] = (uint8_t)(i * 13 + 1);
	pbuf_add(&b, queued, fill);
	pbuf_consume(&b, eat);
	memset(&done, 0, sizeof(done));
	done.how = DONE_EXITED;
	done.value = 3;
	sample_run(&m);
	switch (k) {
	case 0:
		rc = proto_encode_data(&b, 99);
		break;
	case 1:
		rc = proto_encode_joined(&b, &j);
		break;
	case 2:
		rc = proto_encode_done(&b, &done);
		break;
	case 3:
		rc = proto_encode_run(&b, &m);
		break;
	}
	ok = rc == 0 && pbuf_used(&b) > fill - eat &&
	    memcmp(b.data + b.off, queued + eat, fill - eat) == 0;
	if (ok) {
		pbuf_consume(&b, fill - eat);
		n = next(&b, &type, &p, &len);
		ok = n > 0 && (size_t)n == pbuf_used(&b);
	}
	if (ok) {
		switch (k) {
		case 0:
			ok = type == MSG_DATA &&
			    proto_decode_data(p, len, &end) == 0 &&
			    end == 99;
			break;
		case 1:
			ok = type == MSG_JOINED &&
			    proto_decode_joined(p, len, &jd) == 0 &&
			    jd.run_id == 5 && jd.waiters == 7;
			break;
		case 2:
			ok = type == MSG_DONE &&
			    proto_decode_done(p, len, &dd) == 0 &&
			    dd.how == DONE_EXITED && dd.value == 3;
			break;
		case 3:
			ok = type == MSG_RUN && decode_run(p, len, &md) == 0 &&
			    md.argc == 2 && md.keylen == 6;
			break;
		}
	}
	pbuf_free(&b);
	return ok;
}

/*
 * Encoders must not be upset when the buffer slides its unread part to the
 * front, or grows, while a frame is being built.
 */
static void
test_encode_after_consume(void)
{
	static const char	*names[] = {
		"consume: data frame after a partial consume",
		"consume: joined frame after a partial consume",
		"consume: done frame after a partial consume",
		"consume: run frame after a partial consume",
	};
	size_t			 fill, eat;
	int			 k, ok;

	for (k = 0; k < 4; k++) {
		ok = 1;
		for (fill = 1; fill <= 300; fill += 7)
			for (eat = 1; eat <= fill; eat += 11)
				ok &= encode_after_consume(k, fill, eat);
		/* The first case to go wrong in the first pbuf (256 bytes). */
		ok &= encode_after_consume(k, 250, 100);
		CHECK(ok, names[k]);
	}
}

/* Fill buf with n random bytes. */
static void
random_bytes(uint8_t *buf, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		buf[i] = (uint8_t)rng();
}

/* Return 1 if a successfully decoded run request obeys every rule. */
static int
run_sane(const struct proto_run *m, const uint8_t *p, uint32_t len)
{
	const char	*end = (const char *)p + len;
	uint32_t	 i, nul;

	if (m->flags & ~RUN_FLAGS_ALL || m->umask > 0777)
		return 0;
	if ((m->flags & RUN_TTY) ? m->tty_rows == 0 || m->tty_rows > 65535 ||
	    m->tty_cols == 0 || m->tty_cols > 65535 : m->tty_rows != 0 ||
	    m->tty_cols != 0)
		return 0;
	if (m->keylen == 0 || m->keylen > PROTO_KEY_MAX ||
	    m->key < (const char *)p || m->key + m->keylen > end ||
	    memchr(m->key, '\0', m->keylen) != NULL)
		return 0;
	if (m->argc == 0 || m->argvlen == 0 || m->argv < (const char *)p ||
	    m->argv + m->argvlen > end || m->argv[m->argvlen - 1] != '\0')
		return 0;
	for (i = nul = 0; i < m->argvlen; i++)
		nul += m->argv[i] == '\0';
	if (nul != m->argc)
		return 0;
	if (m->envlen > 0 && (m->env < (const char *)p ||
	    m->env + m->envlen > end || m->env[m->envlen - 1] != '\0'))
		return 0;
	for (i = nul = 0; i < m->envlen; i++)
		nul += m->env[i] == '\0';
	if (nul != m->envc)
		return 0;
	if (m->url == NULL)
		return m->prefix == NULL && m->password == NULL;
	if (m->backend_flags & ~BACKEND_FLAGS_ALL || m->lease_ms < 3000 ||
	    m->url < (const char *)p || *m->url == '\0' ||
	    m->prefix != m->url + strlen(m->url) + 1 ||
	    m->password != m->prefix + strlen(m->prefix) + 1 ||
	    m->password + strlen(m->password) + 1 - m->url > PROTO_BACKEND_MAX)
		return 0;
	return m->password + strlen(m->password) < end;
}

/* Change a few bytes of a valid payload, or cut or extend it. */
static uint32_t
mutate(uint8_t *buf, uint32_t len, size_t cap)
{
	int	k, flips = 1 + (int)(rng() % 4);

	switch (rng() % 4) {
	case 0:
		if (len > 0)
			len = (uint32_t)(rng() % len);
		break;
	case 1:
		if (len + 8 <= cap) {
			random_bytes(buf + len, 8);
			len += 1 + (uint32_t)(rng() % 8);
		}
		break;
	default:
		for (k = 0; k < flips && len > 0; k++)
			buf[rng() % len] ^= (uint8_t)(1 + rng() % 255);
		break;
	}
	return len;
}

/* Random bytes and damaged frames through every decoder: -1 or sane. */
/* MSG_ROLE: each role round trips; what is not a role is refused. */
static void
test_role(void)
{
	struct pbuf		b = { 0 };
	struct proto_role	r, d;
	uint8_t			buf[16 + PROTO_HOLDER_MAX + 1];
	uint32_t		u;
	long			n;

	memset(&r, 0, sizeof(r));
	r.role = ROLE_FOLLOWER;
	r.gen = 41;
	strlcpy(r.holder, "build-7:4242:0123abcd", sizeof(r.holder));
	CHECK(proto_encode_role(&b, &r) == 0, "role: encoded");
	n = only_frame(&b, MSG_ROLE, buf, sizeof(buf));
	memset(&d, 0, sizeof(d));
	CHECK(n == 16 + 21 && proto_decode_role(buf, (uint32_t)n, &d) == 0 &&
	    d.role == ROLE_FOLLOWER && d.gen == 41 &&
	    strcmp(d.holder, r.holder) == 0, "role: a follower round trips");
	CHECK(proto_decode_role(buf, 15, &d) == -1, "role: a cut header refused");
	buf[20] = '\0';
	CHECK(proto_decode_role(buf, (uint32_t)n, &d) == -1,
	    "role: a NUL in the holder refused");
	CHECK(proto_decode_role(buf, 16, &d) == -1,
	    "role: a follower with no holder refused");
	u = ROLE_PENDING;
	memcpy(buf, &u, 4);
	CHECK(proto_decode_role(buf, 16, &d) == -1,
	    "role: pending is not a role to tell");
	u = ROLE_LOCAL;
	memcpy(buf, &u, 4);
	CHECK(proto_decode_role(buf, 16, &d) == -1,
	    "role: local with a fence refused");
	memset(buf + 8, 0, 8);
	CHECK(proto_decode_role(buf, 16, &d) == 0 && d.role == ROLE_LOCAL &&
	    d.holder[0] == '\0', "role: local, no fence, no holder");
	u = 1;
	memcpy(buf + 4, &u, 4);
	CHECK(proto_decode_role(buf, 16, &d) == -1,
	    "role: a non-zero pad refused");
	pbuf_free(&b);
	memset(r.holder, 'h', PROTO_HOLDER_MAX);
	r.holder[PROTO_HOLDER_MAX] = '\0';
	r.role = ROLE_LEADER;
	CHECK(proto_encode_role(&b, &r) == 0 &&
	    (n = only_frame(&b, MSG_ROLE, buf, sizeof(buf))) ==
	    16 + PROTO_HOLDER_MAX && proto_decode_role(buf, (uint32_t)n, &d) ==
	    0 && strlen(d.holder) == PROTO_HOLDER_MAX,
	    "role: the longest holder round trips");
	pbuf_free(&b);
	memset(r.holder, 'h', sizeof(r.holder));
	CHECK(proto_encode_role(&b, &r) == -1,
	    "role: a holder without its end refused");
	pbuf_free(&b);
}

/* MSG_RECORD: a round trip, and what a damaged record file must not pass. */
static void
test_record(void)
{
	struct pbuf		b = { 0 };
	struct proto_record	r, d;
	uint8_t			buf[24 + PROTO_BOOT_ID_LEN + PROTO_KEY_MAX + 1];
	char			key[PROTO_KEY_MAX + 1];
	int32_t			i32;
	uint32_t		u;
	long			n;

	memset(&r, 0, sizeof(r));
	memset(key, 'k', sizeof(key));
	r.pid = 4242;
	r.start = UINT64_MAX - 3;
	r.run_id = 17;
	memcpy(r.boot, "0a1b2c3d-0a1b-0a1b-0a1b-0a1b2c3d4e5f", 37);
	r.key = "dep\0loy";
	r.keylen = 7;
	CHECK(proto_encode_record(&b, &r) == 0, "record: encoded");
	n = only_frame(&b, MSG_RECORD, buf, sizeof(buf));
	memset(&d, 0, sizeof(d));
	CHECK(n == 24 + PROTO_BOOT_ID_LEN + 7 &&
	    proto_decode_record(buf, (uint32_t)n, &d) == 0 && d.pid == 4242 &&
	    d.start == r.start && d.run_id == 17 && d.keylen == 7 &&
	    memcmp(d.key, r.key, 7) == 0 && strcmp(d.boot, r.boot) == 0,
	    "record: round trip, a key with a NUL");
	CHECK(proto_decode_record(buf, (uint32_t)n - 1, &d) == -1,
	    "record: a short key refused");
	CHECK(proto_decode_record(buf, 24 + PROTO_BOOT_ID_LEN - 1, &d) == -1,
	    "record: a cut header refused");
	u = 0;
	memcpy(buf + 4, &u, 4);
	CHECK(proto_decode_record(buf, 24 + PROTO_BOOT_ID_LEN, &d) == -1,
	    "record: an empty key refused");
	u = 7;
	memcpy(buf + 4, &u, 4);
	i32 = 0;
	memcpy(buf, &i32, 4);
	CHECK(proto_decode_record(buf, (uint32_t)n, &d) == -1,
	    "record: pid 0 refused");
	i32 = -1;
	memcpy(buf, &i32, 4);
	CHECK(proto_decode_record(buf, (uint32_t)n, &d) == -1,
	    "record: a negative pid refused");
	pbuf_free(&b);
	r.key = key;
	r.keylen = PROTO_KEY_MAX;
	CHECK(proto_encode_record(&b, &r) == 0, "record: the longest key");
	n = only_frame(&b, MSG_RECORD, buf, sizeof(buf));
	CHECK(n == 24 + PROTO_BOOT_ID_LEN + PROTO_KEY_MAX &&
	    proto_decode_record(buf, (uint32_t)n, &d) == 0,
	    "record: the longest key decodes");
	pbuf_free(&b);
	r.keylen = PROTO_KEY_MAX + 1;
	CHECK(proto_encode_record(&b, &r) == -1, "record: a longer key refused");
	pbuf_free(&b);
}

static void
test_fuzz(void)
{
	static uint8_t			 buf[8192], seed[8][2200];
	static struct proto_status_run	 sr;
	static struct proto_done	 done;
	struct proto_run		 run;
	struct proto_joined		 joined;
	struct proto_role		 role;
	struct proto_counters		 counters;
	struct pbuf			 b = { 0 };
	const uint8_t			*p;
	const char			*errstr;
	char				 text[64];
	uint32_t			 type, len, plen, u32, version;
	uint64_t			 end;
	long				 seedlen[8];
	int				 i, n, rc;
	int				 odd[11] = { 0 }, runs_ok = 0;

	/* Valid payloads to damage. */
	sample_backend(&run);
	seedlen[0] = run_payload(&run, seed[0], sizeof(seed[0]));
	proto_encode_hello(&b);
	seedlen[1] = take_frame(&b, MSG_HELLO, seed[1], sizeof(seed[1]));
	joined.run_id = 1;
	joined.age_ms = 2;
	joined.led = 1;
	joined.waiters = 3;
	proto_encode_joined(&b, &joined);
	seedlen[2] = take_frame(&b, MSG_JOINED, seed[2], sizeof(seed[2]));
	proto_encode_data(&b, 77);
	seedlen[3] = take_frame(&b, MSG_DATA, seed[3], sizeof(seed[3]));
	done.how = DONE_FAILED;
	strlcpy(done.text, "cannot fork", sizeof(done.text));
	proto_encode_done(&b, &done);
	seedlen[4] = take_frame(&b, MSG_DONE, seed[4], sizeof(seed[4]));
	sr.keylen = 3;
	memcpy(sr.key, "abc", 3);
	strlcpy(sr.command, "make all", sizeof(sr.command));
	sr.backend = ROLE_LEADER;
	sr.gen = 3;
	strlcpy(sr.holder, "h:1:n", sizeof(sr.holder));
	proto_encode_status_run(&b, &sr);
	seedlen[5] = take_frame(&b, MSG_STATUS_RUN, seed[5], sizeof(seed[5]));
	counters.runs_started = 1;
	counters.invocations_joined = 2;
	counters.invocations_total = 3;
	counters.server_pid = 4;
	counters.protocol = 5;
	proto_encode_counters(&b, &counters);
	seedlen[6] = take_frame(&b, MSG_STATUS_END, seed[6], sizeof(seed[6]));
	proto_encode_text(&b, MSG_ERROR, "no", 2);
	seedlen[7] = take_frame(&b, MSG_ERROR, seed[7], sizeof(seed[7]));
	n = 1;
	for (i = 0; i < 8; i++)
		n &= seedlen[i] >= 0;
	CHECK(n, "fuzz: seed payloads encoded");

	for (i = 0; i < FUZZ_ROUNDS; i++) {
		if (i % 2 == 0) {
			/* Pure noise, mostly short. */
			len = (uint32_t)(rng() % (i % 10 == 0 ? 2200 : 80));
			random_bytes(buf, len);
		} else {
			int	s = (int)(rng() % 8);

			len = (uint32_t)seedlen[s];
			memcpy(buf, seed[s], len);
			len = mutate(buf, len, sizeof(buf));
		}

		errstr = NULL;
		rc = proto_decode_hello(buf, len, &version, &errstr);
		odd[0] |= rc != 0 && (rc != -1 || errstr == NULL);
		errstr = NULL;
		rc = proto_decode_run(buf, len, &run, &errstr);
		odd[1] |= rc != 0 && (rc != -1 || errstr == NULL);
		if (rc == 0) {
			runs_ok++;
			odd[1] |= !run_sane(&run, buf, len);
		}
		rc = proto_decode_joined(buf, len, &joined);
		odd[2] |= rc != 0 && rc != -1;
		odd[2] |= rc == 0 && (len != 28 || joined.led > JOIN_REPLAY ||
		    joined.tty > 1);
		rc = proto_decode_data(buf, len, &end);
		odd[3] |= rc != 0 && rc != -1;
		odd[3] |= rc == 0 && len != 8;
		rc = proto_decode_done(buf, len, &done);
		odd[4] |= rc != 0 && rc != -1;
		odd[4] |= rc == 0 && (done.how < DONE_EXITED ||
		    done.how > DONE_LOST ||
		    memchr(done.text, '\0', sizeof(done.text)) == NULL);
		rc = proto_decode_status_run(buf, len, &sr);
		odd[5] |= rc != 0 && rc != -1;
		odd[5] |= rc == 0 && (sr.keylen > PROTO_KEY_MAX ||
		    sr.key[PROTO_KEY_MAX] != '\0' ||
		    sr.command[PROTO_COMMAND_MAX] != '\0' ||
		    sr.holder[PROTO_HOLDER_MAX] != '\0' ||
		    sr.backend > ROLE_LOCAL);
		rc = proto_decode_counters(buf, len, &counters);
		odd[6] |= rc != 0 && rc != -1;
		odd[6] |= rc == 0 && len != 32;
		rc = proto_decode_u32(buf, len, &u32);
		odd[7] |= rc != 0 && rc != -1;
		odd[7] |= rc == 0 && len != 4;
		rc = proto_decode_text(buf, len, text, sizeof(text));
		odd[8] |= rc != 0 && rc != -1;
		odd[8] |= rc == 0 && strlen(text) != len;
		rc = proto_decode_role(buf, len, &role);
		odd[10] |= rc != 0 && rc != -1;
		odd[10] |= rc == 0 && (len < 16 ||
		    strlen(role.holder) != len - 16 || role.role < ROLE_LEADER ||
		    role.role > ROLE_LOCAL);

		/* The same bytes as a stream of frames. */
		errstr = NULL;
		n = proto_next(buf, len, &type, &p, &plen, &errstr);
		odd[9] |= n < -1 || n > (int)len ||
		    (n > 0 && (n != (int)(PROTO_HEADER_SIZE + plen) ||
		    p != buf + PROTO_HEADER_SIZE || type < MSG_HELLO ||
		    type >= MSG_TYPE_MAX || plen > proto_limit(type))) ||
		    (n == -1 && errstr == NULL);
	}
	CHECK(!odd[0], "fuzz: hello decoder returns 0 or -1 with a reason");
	CHECK(!odd[1], "fuzz: run decoder returns -1 or a sane request");
	CHECK(runs_ok > 0, "fuzz: some damaged run requests still decode");
	CHECK(!odd[2], "fuzz: joined decoder returns -1 or a sane answer");
	CHECK(!odd[3], "fuzz: data decoder returns -1 or a sane answer");
	CHECK(!odd[4], "fuzz: done decoder returns -1 or a sane answer");
	CHECK(!odd[5], "fuzz: status run decoder keeps strings terminated");
	CHECK(!odd[6], "fuzz: counters decoder returns -1 or 0 on 32 bytes");
	CHECK(!odd[7], "fuzz: u32 decoder returns -1 or 0 on 4 bytes");
	CHECK(!odd[8], "fuzz: text decoder returns -1 or a whole string");
	CHECK(!odd[9], "fuzz: proto_next returns -1, 0 or a sane frame");
	CHECK(!odd[10], "fuzz: role decoder returns -1 or a whole holder");
}

int
main(void)
{
	test_pbuf();
	test_frame();
	test_next();
	test_stream();
	test_hello();
	test_run();
	test_run_backend();
	test_small();
	test_done();
	test_status_run();
	test_text();
	test_record();
	test_role();
	test_fuzz();
	test_encode_after_consume();	/* last: ASan stops at its bug */
	return unit_done();
}
