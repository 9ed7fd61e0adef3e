/*
 * Fuzz target for the request parser: the input is a MSG_RUN payload as
 * sfrund receives it. What proto_decode_run accepts must be a request sfrund
 * can act on safely, and must encode back to exactly the same bytes. The
 * input also becomes the backend block of a fixed request (see backend()),
 * and, as a string, the value of MAKEFLAGS that sfrund reads make's
 * jobserver from (see makeflags()).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fds.h"
#include "proto.h"
#include "fuzz.h"


/* Check that [p, p + n) lies within the input [data, data + size). */
static void
inside(const uint8_t *data, size_t size, const char *p, uint32_t n)
{
	const uint8_t	*q = (const uint8_t *)p;

	MUST(q >= data && q <= data + size && n <= size - (size_t)(q - data));
}

/*
 * Encode m into b, check it is one MSG_RUN frame (its payload in q, qlen),
 * and decode that into d; returns what proto_decode_run returned.
 */
static int
round_trip(const struct proto_run *m, struct pbuf *b, struct proto_run *d,
    const uint8_t **q, uint32_t *qlen)
{
	const char	*errstr = NULL;
	uint32_t	 type;
	int		 n, rc;

	MUST(proto_encode_run(b, m) == 0);
	n = proto_next(b->data + b->off, pbuf_used(b), &type, q, qlen,
	    &errstr);
	MUST(n > 0 && (size_t)n == pbuf_used(b) && type == MSG_RUN);
	rc = proto_decode_run(*q, *qlen, d, &errstr);
	MUST(rc == 0 || (rc == -1 && errstr != NULL));
	if (rc == 0 && d->url != NULL)
		inside(*q, *qlen, d->url, (uint32_t)(d->password +
		    strlen(d->password) + 1 - d->url));
	return rc;
}

/*
 * The backend block whatever the corpus holds: the input's first 17 bytes
 * give the backend flags (top 3 bits of byte 0), lease and linger; the rest,
 * from its first non-NUL byte and cut to fit, the url, prefix and password
 * at its NULs. The decoder must take it exactly when it is valid, and give
 * every field back.
 */
static void
backend(const uint8_t *data, size_t size)
{
	static char		 strs[PROTO_BACKEND_MAX];
	static const char	 argv[] = "true";
	struct proto_run	 m, d;
	struct pbuf		 b = { 0 };
	const uint8_t		*q;
	uint32_t		 qlen;
	uint8_t			 head[17] = { 0 };
	size_t			 n;
	int			 ok;

	memset(&m, 0, sizeof(m));
	m.key = "fuzz";
	m.keylen = 4;
	m.argc = 1;
	m.argv = argv;
	m.argvlen = sizeof(argv);
	m.env = "";

	n = size < sizeof(head) ? size : sizeof(head);
	memcpy(head, data, n);
	m.backend_flags = head[0] >> 5;
	memcpy(&m.lease_ms, head + 1, 8);
	memcpy(&m.backend_linger_ms, head + 9, 8);
	for (; n < size && data[n] == 0; n++)
		;
	data += n;
	size -= n;
	n = size < sizeof(strs) - 3 ? size : sizeof(strs) - 3;
	memcpy(strs, data, n);
	memset(strs + n, 0, 3);		/* the block ends in three NULs */
	m.url = strs;
	m.prefix = m.url + strlen(m.url) + 1;
	m.password = m.prefix + strlen(m.prefix) + 1;

	ok = *m.url != '\0' && (m.backend_flags & ~BACKEND_FLAGS_ALL) == 0 &&
	    m.lease_ms >= 3000;
	MUST((round_trip(&m, &b, &d, &q, &qlen) == 0) == ok);
	if (ok)
		same_run(&d, &m);
	pbuf_free(&b);
}

/*
 * The input, cut at its first NUL, as MAKEFLAGS: a jobserver found is two
 * distinct numbers of 3 or more, named by one of make's two options.
 */
static void
makeflags(const uint8_t *data, size_t size)
{
	char	*s;
	int	 r = -1, w = -1;

	if ((s = malloc(size + 1)) == NULL)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (fds_jobserver(s, &r, &w) == 0) {
		MUST(r >= 3 && w >= 3 && r != w);
		MUST(strstr(s, "--jobserver-auth=") != NULL ||
		    strstr(s, "--jobserver-fds=") != NULL);
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_run	 m, m2;
	struct pbuf		 b = { 0 };
	const uint8_t		*q;
	const char		*errstr = NULL;
	uint32_t		 qlen, blen;

	backend(data, size);
	makeflags(data, size);
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
	if (m.url == NULL)
		MUST(m.prefix == NULL && m.password == NULL);
	else {
		/* Three strings that end the payload, url not empty. */
		MUST((m.backend_flags & ~BACKEND_FLAGS_ALL) == 0);
		MUST(m.lease_ms >= 3000 && *m.url != '\0');
		blen = (uint32_t)(size - (size_t)((const uint8_t *)m.url -
		    data));
		MUST(blen <= PROTO_BACKEND_MAX);
		inside(data, size, m.url, blen);
		walk_strings(m.url, blen, 3);
		MUST(m.prefix == m.url + strlen(m.url) + 1 &&
		    m.password == m.prefix + strlen(m.prefix) + 1);
	}

	/* The encoding is canonical: the same payload, byte for byte. */
	MUST(round_trip(&m, &b, &m2, &q, &qlen) == 0);
	MUST(qlen == size && memcmp(q, data, size) == 0);
	same_run(&m2, &m);
	pbuf_free(&b);
	return 0;
}
