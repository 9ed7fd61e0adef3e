/* What every fuzz target shares: libFuzzer's entry point and MUST. */
#ifndef SFRUN_FUZZ_H
#define SFRUN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A broken invariant is a bug in lib/: name it and abort. */
#define MUST(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);	\
		abort();						\
	}								\
} while (0)

#endif
