/* What every fuzz target shares: libFuzzer's entry point and MUST. */
#ifndef SFRUN_FUZZ_H
#define SFRUN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#endif
