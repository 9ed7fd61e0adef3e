/*
 * Fuzz target for the frame layer: the input is a byte stream as a peer
 * would send it. Every whole frame goes to its type's decoder, as sfrun and
 * sfrund do; what decodes is encoded again and must decode to the same.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "status.h"
#include "fuzz.h"


#define STATUS_RUNS_MAX	16	/* runs kept per input for printing */

/* Check that b holds exactly one whole frame of type want; its payload. */
static const uint8_t *
only_frame(const struct pbuf *b, uint32_t want, uint32_t *plen)
{
	const uint8_t	*p = NULL;
	const char	*errstr = NULL;
	uint32_t	 type = 0;
	int		 n;

	n = proto_next(b->data + b->off, pbuf_used(b), &type, &p, plen,
	    &errstr);
	MUST(n > 0 && (size_t)n == pbuf_used(b));
	MUST(type == want);
	return p;
}

/* The re-encoded frame's payload; exact: it must be the very bytes p, len. */
static const uint8_t *
again(const struct pbuf *b, uint32_t type, const uint8_t *p, uint32_t len,
    int exact, uint32_t *qlen)
{
	const uint8_t	*q;

	q = only_frame(b, type, qlen);
	if (exact)
		MUST(*qlen == len && memcmp(q, p, len) == 0);
	return q;
}

static void
frame_run(const uint8_t *p, uint32_t len)
{
	struct proto_run	 m, m2;
	struct pbuf		 b = { 0 };
	const uint8_t		*q;
	const char		*errstr = NULL;
	uint32_t		 qlen;

	if (proto_decode_run(p, len, &m, &errstr) == -1) {
		MUST(errstr != NULL);
		return;
	}
	MUST(m.keylen >= 1 && m.keylen <= PROTO_KEY_MAX);
	MUST(memchr(m.key, '\0', m.keylen) == NULL);
	MUST(m.argc >= 1);
	walk_strings(m.argv, m.argvlen, m.argc);
	walk_strings(m.env, m.envlen, m.envc);

	MUST(proto_encode_run(&b, &m) == 0);
	q = again(&b, MSG_RUN, p, len, 1, &qlen);
	MUST(proto_decode_run(q, qlen, &m2, &errstr) == 0);
	same_run(&m2, &m);
	pbuf_free(&b);
}

/* MSG_JOINED, or MSG_BUSY, which carries the same. */
static void
frame_joined(uint32_t type, const uint8_t *p, uint32_t len)
{
	struct proto_joined	 m, m2;
	struct pbuf		 b = { 0 };
	const uint8_t		*q;
	uint32_t		 qlen;

	if (proto_decode_joined(p, len, &m) == -1)
		return;
	MUST(m.led <= JOIN_REPLAY && m.tty <= 1);
	MUST((type == MSG_JOINED ? proto_encode_joined(&b, &m) :
	    proto_encode_busy(&b, &m)) == 0);
	q = again(&b, type, p, len, 1, &qlen);
	MUST(proto_decode_joined(q, qlen, &m2) == 0);
	MUST(m2.run_id == m.run_id && m2.age_ms == m.age_ms &&
	    m2.led == m.led && m2.waiters == m.waiters && m2.tty == m.tty);
	pbuf_free(&b);
}

static void
frame_data(const uint8_t *p, uint32_t len)
{
	struct pbuf	 b = { 0 };
	const uint8_t	*q;
	uint32_t	 qlen;
	uint64_t	 end, end2;

	if (proto_decode_data(p, len, &end) == -1)
		return;
	MUST(len == 8);
	MUST(proto_encode_data(&b, end) == 0);
	q = again(&b, MSG_DATA, p, len, 1, &qlen);
	MUST(proto_decode_data(q, qlen, &end2) == 0);
	MUST(end2 == end);
	pbuf_free(&b);
}

/*
 * Text longer than the struct holds is cut, so a long payload need not come
 * back byte for byte: the struct must.
 */
static void
frame_done(const uint8_t *p, uint32_t len)
{
	struct proto_done	 m, m2;
	struct pbuf		 b = { 0 };
	const uint8_t		*q;
	uint32_t		 qlen;
	size_t			 n;

	if (proto_decode_done(p, len, &m) == -1)
		return;
	MUST(m.how >= DONE_EXITED && m.how <= DONE_UNFOLLOWED);
	MUST(m.how != DONE_UNFOLLOWED || m.value == 0);
	n = strnlen(m.text, sizeof(m.text));
	MUST(n < sizeof(m.text));
	MUST(n == 0 || m.how == DONE_FAILED || m.how == DONE_EXEC_FAILED ||
	    m.how == DONE_LOST);
	MUST(proto_encode_done(&b, &m) == 0);
	q = again(&b, MSG_DONE, p, len, len - 8 < sizeof(m.text), &qlen);
	MUST(proto_decode_done(q, qlen, &m2) == 0);
	MUST(m2.how == m.how && m2.value == m.value &&
	    strcmp(m2.text, m.text) == 0);
	pbuf_free(&b);
}

/* Key, command and holder hold no NUL, so the payload comes back exactly. */
static void
frame_status_run(const uint8_t *p, uint32_t len, struct status *st)
{
	struct proto_status_run	*m, *m2;
	struct pbuf		 b = { 0 };
	const uint8_t		*q;
	uint32_t		 qlen;

	/* Two of these are 7 KB each: keep them off the stack. */
	if ((m = malloc(sizeof(*m))) == NULL ||
	    (m2 = malloc(sizeof(*m2))) == NULL) {
		free(m);
		return;
	}
	if (proto_decode_status_run(p, len, m) == -1)
		goto out;
	MUST(m->keylen <= PROTO_KEY_MAX);
	MUST(m->key[PROTO_KEY_MAX] == '\0');
	MUST(m->command[PROTO_COMMAND_MAX] == '\0');
	MUST(m->holder[PROTO_HOLDER_MAX] == '\0' && m->backend <= ROLE_LOCAL);
	MUST((m->flags & ~(STATUS_DETACHED | STATUS_KEEP | STATUS_LINGER |
	    STATUS_TTY)) == 0);
	MUST(proto_encode_status_run(&b, m) == 0);
	q = again(&b, MSG_STATUS_RUN, p, len, 1, &qlen);
	MUST(proto_decode_status_run(q, qlen, m2) == 0);
	MUST(m2->run_id == m->run_id && m2->age_ms == m->age_ms &&
	    m2->bytes == m->bytes && m2->pid == m->pid &&
	    m2->waiters == m->waiters && m2->queued == m->queued &&
	    m2->flags == m->flags &&
	    m2->linger_ms == m->linger_ms);
	MUST(m2->keylen == m->keylen &&
	    memcmp(m2->key, m->key, m->keylen) == 0);
	MUST(strcmp(m2->command, m->command) == 0);
	MUST(m2->backend == m->backend && m2->gen == m->gen &&
	    strcmp(m2->holder, m->holder) == 0);
	MUST(m->argvlen <= PROTO_COMMAND_MAX && m2->argvlen == m->argvlen &&
	    memcmp(m2->argv, m->argv, m->argvlen) == 0);
	MUST(m->cwd[PROTO_CWD_MAX] == '\0' && strcmp(m2->cwd, m->cwd) == 0);
	if (st != NULL)
		MUST(status_add(st, m) == 0);
	pbuf_free(&b);
out:
	free(m);
	free(m2);
}

static void
frame_counters(const uint8_t *p, uint32_t len, struct status *st)
{
	struct proto_counters	 m, m2;
	struct pbuf		 b = { 0 };
	const uint8_t		*q;
	uint32_t		 qlen;

	if (proto_decode_counters(p, len, &m) == -1)
		return;
	MUST(proto_encode_counters(&b, &m) == 0);
	q = again(&b, MSG_STATUS_END, p, len, 1, &qlen);
	MUST(proto_decode_counters(q, qlen, &m2) == 0);
	MUST(m2.runs_started == m.runs_started &&
	    m2.invocations_joined == m.invocations_joined &&
	    m2.invocations_total == m.invocations_total &&
	    m2.server_pid == m.server_pid && m2.protocol == m.protocol);
	status_counters(st, &m);
	pbuf_free(&b);
}

static void
frame_hello(const uint8_t *p, uint32_t len)
{
	struct pbuf	 b = { 0 };
	const uint8_t	*q;
	const char	*errstr = NULL;
	uint32_t	 qlen, version;

	if (proto_decode_hello(p, len, &version, &errstr) == -1) {
		MUST(errstr != NULL);
		return;
	}
	MUST(len == 8);
	MUST(proto_encode_hello(&b) == 0);
	q = only_frame(&b, MSG_HELLO, &qlen);
	MUST(proto_decode_hello(q, qlen, &version, &errstr) == 0);
	MUST(version == PROTOCOL_VERSION);
	pbuf_free(&b);
}

/* MSG_OK, or MSG_LEAD (the bridge takes 1 or 2 streams of it). */
static void
frame_u32(uint32_t type, const uint8_t *p, uint32_t len)
{
	struct pbuf	 b = { 0 };
	const uint8_t	*q;
	uint32_t	 qlen, v, v2;

	if (proto_decode_u32(p, len, &v) == -1)
		return;
	MUST(proto_encode_u32(&b, type, v) == 0);
	q = again(&b, type, p, len, 1, &qlen);
	MUST(proto_decode_u32(q, qlen, &v2) == 0 && v2 == v);
	pbuf_free(&b);
}

/* MSG_ERROR and MSG_FORGET, into buffers the size sfrun and sfrund use. */
static void
frame_text(uint32_t type, const uint8_t *p, uint32_t len)
{
	char		 text[PROTO_TEXT_MAX + 1], text2[PROTO_TEXT_MAX + 1];
	size_t		 outlen;
	struct pbuf	 b = { 0 };
	const uint8_t	*q;
	uint32_t	 qlen;
	int		 r;

	outlen = type == MSG_FORGET ? PROTO_KEY_MAX + 1 : sizeof(text);
	r = proto_decode_text(p, len, text, outlen);
	MUST((r == 0) == (memchr(p, '\0', len) == NULL));
	if (r == -1)
		return;
	MUST(strlen(text) == len && memcmp(text, p, len) == 0);
	MUST(proto_encode_text(&b, type, text, len) == 0);
	q = again(&b, type, p, len, 1, &qlen);
	MUST(proto_decode_text(q, qlen, text2, outlen) == 0);
	MUST(strcmp(text2, text) == 0);
	pbuf_free(&b);
}

/* A run's record file: decoded strictly, and encoded back the same. */
static void
frame_record(const uint8_t *p, uint32_t len)
{
	struct proto_record	 m, m2;
	struct pbuf		 b = { 0 };
	const uint8_t		*q;
	uint32_t		 qlen;

	if (proto_decode_record(p, len, &m) == -1)
		return;
	MUST(m.pid > 0 && m.keylen >= 1 && m.keylen <= PROTO_KEY_MAX);
	MUST(m.boot[PROTO_BOOT_ID_LEN] == '\0');
	MUST(m.key == (const char *)p + 24 + PROTO_BOOT_ID_LEN);
	MUST(proto_encode_record(&b, &m) == 0);
	q = again(&b, MSG_RECORD, p, len, 1, &qlen);
	MUST(proto_decode_record(q, qlen, &m2) == 0);
	MUST(m2.pid == m.pid && m2.start == m.start &&
	    m2.run_id == m.run_id && m2.keylen == m.keylen &&
	    memcmp(m2.key, m.key, m.keylen) == 0 &&
	    memcmp(m2.boot, m.boot, sizeof(m.boot)) == 0);
	pbuf_free(&b);
}

/* A backend run's role: decoded strictly, and encoded back the same. */
static void
frame_role(const uint8_t *p, uint32_t len)
{
	struct proto_role	 m, m2;
	struct pbuf		 b = { 0 };
	const uint8_t		*q;
	uint32_t		 qlen;

	if (proto_decode_role(p, len, &m) == -1)
		return;
	MUST(m.role == ROLE_LEADER || m.role == ROLE_FOLLOWER ||
	    m.role == ROLE_LOCAL);
	MUST(strlen(m.holder) == len - 16);
	MUST((m.role == ROLE_LOCAL) == (m.gen == 0 && m.holder[0] == '\0'));
	MUST(proto_encode_role(&b, &m) == 0);
	q = again(&b, MSG_ROLE, p, len, 1, &qlen);
	MUST(proto_decode_role(q, qlen, &m2) == 0);
	MUST(m2.role == m.role && m2.gen == m.gen &&
	    strcmp(m2.holder, m.holder) == 0);
	pbuf_free(&b);
}

/* The payload length a frame header announces. */
static uint32_t
header_len(const uint8_t *data)
{
	uint32_t	hdr[2];

	memcpy(hdr, data, sizeof(hdr));
	return hdr[1];
}

/* Print what --status would, so that decoded runs reach the printers. */
static void
print_status(const struct status *st)
{
	static FILE	*null;

	if (null == NULL && (null = fopen("/dev/null", "w")) == NULL)
		return;
	status_print_table(st, null);
	status_print_json(st, null);
	fflush(null);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct status	*st;
	const uint8_t	*p;
	const char	*errstr;
	uint32_t	 type, len;
	int		 n, nruns = 0;

	if ((st = status_new()) == NULL)
		return 0;
	for (;;) {
		errstr = NULL;
		n = proto_next(data, size, &type, &p, &len, &errstr);
		if (n <= 0) {
			MUST(n == 0 || errstr != NULL);
			MUST(n == -1 || size < PROTO_HEADER_SIZE ||
			    header_len(data) > size - PROTO_HEADER_SIZE);
			break;
		}
		MUST((size_t)n <= size && (size_t)n == PROTO_HEADER_SIZE + len);
		MUST(type >= MSG_HELLO && type < MSG_TYPE_MAX);
		MUST(len <= proto_limit(type) && p == data + PROTO_HEADER_SIZE);
		switch (type) {
		case MSG_HELLO:
			frame_hello(p, len);
			break;
		case MSG_RUN:
			frame_run(p, len);
			break;
		case MSG_STATUS:
		case MSG_STOP:
		case MSG_LEAVE:
			MUST(len == 0);
			break;
		case MSG_BUSY:
			frame_joined(type, p, len);
			break;
		case MSG_FORGET:
		case MSG_ERROR:
			frame_text(type, p, len);
			break;
		case MSG_JOINED:
			frame_joined(type, p, len);
			break;
		case MSG_DATA:
			frame_data(p, len);
			break;
		case MSG_DONE:
			frame_done(p, len);
			break;
		case MSG_STATUS_RUN:
			frame_status_run(p, len,
			    nruns++ < STATUS_RUNS_MAX ? st : NULL);
			break;
		case MSG_STATUS_END:
			frame_counters(p, len, st);
			break;
		case MSG_OK:
		case MSG_LEAD:
			frame_u32(type, p, len);
			break;
		case MSG_RECORD:
			frame_record(p, len);
			break;
		case MSG_ROLE:
			frame_role(p, len);
			break;
		}
		data += n;
		size -= (size_t)n;
	}
	print_status(st);
	status_free(st);
	return 0;
}
