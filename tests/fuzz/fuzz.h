/* What every fuzz target shares: libFuzzer's entry point and MUST. */
#ifndef SFRUN_FUZZ_H
#define SFRUN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A broken invariant is a bug in lib/: name it and abort. */
#define MUST(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);	\
		abort();						\
	}								\
} while (0)

/*
 * Walk a string block the way run.c does: exactly n NUL-terminated strings
 * must fill its len bytes, no more and no fewer.
 */
static inline void
walk_strings(const char *s, uint32_t len, uint32_t n)
{
	const char	*end = s + len;
	uint32_t	 i;
	size_t		 l;

	for (i = 0; i < n; i++) {
		MUST(s < end);
		l = strnlen(s, (size_t)(end - s));
		MUST(l < (size_t)(end - s));	/* its NUL is inside */
		s += l + 1;
	}
	MUST(s == end);
}

/* Two backend strings are both absent (NULL) or the same string. */
static inline int
same_str(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* A decoded MSG_RUN d carries every field of the request m it came from. */
static inline void
same_run(const struct proto_run *d, const struct proto_run *m)
{
	MUST(d->flags == m->flags && d->umask == m->umask);
	MUST(d->tty_rows == m->tty_rows && d->tty_cols == m->tty_cols);
	MUST(d->join_window_ms == m->join_window_ms &&
	    d->run_timeout_ms == m->run_timeout_ms &&
	    d->kill_after_ms == m->kill_after_ms &&
	    d->linger_ms == m->linger_ms);
	MUST(memcmp(d->limits, m->limits, sizeof(m->limits)) == 0);
	MUST(d->keylen == m->keylen && memcmp(d->key, m->key, m->keylen) == 0);
	MUST(d->argc == m->argc && d->argvlen == m->argvlen &&
	    memcmp(d->argv, m->argv, m->argvlen) == 0);
	MUST(d->envc == m->envc && d->envlen == m->envlen &&
	    memcmp(d->env, m->env, m->envlen) == 0);
	MUST(d->backend_flags == m->backend_flags &&
	    d->lease_ms == m->lease_ms &&
	    d->backend_linger_ms == m->backend_linger_ms);
	MUST(same_str(d->url, m->url) && same_str(d->prefix, m->prefix) &&
	    same_str(d->password, m->password));
}

#endif
