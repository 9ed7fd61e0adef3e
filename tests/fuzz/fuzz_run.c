/*
 * Fuzz target for the request parser: the input is a MSG_RUN payload as
 * sfrund receives it. What proto_decode_run accepts must be a request sfrund
 * can act on safely, and must encode back to exactly the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "fuzz.h"


/* Check that [p, p + n) lies within the input [data, data + size). */
static void
inside(const uint8_t *data, size_t size, const char *p, uint32_t n)
{
	const uint8_t	*q = (const uint8_t *)p;

	MUST(q >= data && q <= data + size && n <= size - (size_t)(q - data));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_run	 m, m2;
	struct pbuf		 b = { 0 };
	const uint8_t		*q;
	const char		*errstr = NULL;
	uint32_t		 type, qlen;
	int			 n;

	if (size > PROTO_RUN_MAX)
		return 0;
	if (proto_decode_run(data, (uint32_t)size, &m, &errstr) == -1) {
		MUST(errstr != NULL);
		return 0;
	}

	MUST((m.flags & ~RUN_FLAGS_ALL) == 0);
	MUST(m.umask <= 0777);
	MUST(m.keylen >= 1 && m.keylen <= PROTO_KEY_MAX);
	inside(data, size, m.key, m.keylen);
	MUST(memchr(m.key, '\0', m.keylen) == NULL);
	MUST(m.argc >= 1 && m.argc <= PROTO_ARGC_MAX);
	inside(data, size, m.argv, m.argvlen);
	walk_strings(m.argv, m.argvlen, m.argc);
	MUST(m.envc <= PROTO_ENVC_MAX);
	inside(data, size, m.env, m.envlen);
	walk_strings(m.env, m.envlen, m.envc);

	/* The encoding is canonical: the same payload, byte for byte. */
	MUST(proto_encode_run(&b, &m) == 0);
	n = proto_next(b.data + b.off, pbuf_used(&b), &type, &q, &qlen,
	    &errstr);
	MUST(n > 0 && (size_t)n == pbuf_used(&b) && type == MSG_RUN);
	MUST(qlen == size && memcmp(q, data, size) == 0);

	MUST(proto_decode_run(q, qlen, &m2, &errstr) == 0);
	MUST(m2.flags == m.flags && m2.umask == m.umask);
	MUST(m2.join_window_ms == m.join_window_ms &&
	    m2.run_timeout_ms == m.run_timeout_ms &&
	    m2.kill_after_ms == m.kill_after_ms &&
	    m2.linger_ms == m.linger_ms);
	MUST(memcmp(m2.limits, m.limits, sizeof(m.limits)) == 0);
	MUST(m2.keylen == m.keylen && memcmp(m2.key, m.key, m.keylen) == 0);
	MUST(m2.argc == m.argc && m2.argvlen == m.argvlen &&
	    memcmp(m2.argv, m.argv, m.argvlen) == 0);
	MUST(m2.envc == m.envc && m2.envlen == m.envlen &&
	    memcmp(m2.env, m.env, m.envlen) == 0);
	pbuf_free(&b);
	return 0;
}
