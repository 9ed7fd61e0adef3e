/* A tiny TAP producer for the C unit tests of lib/. */
#ifndef SFRUN_UNIT_H
#define SFRUN_UNIT_H

#include <stdio.h>
#include <stdlib.h>

static int unit_n, unit_failed;

/* CHECK(cond, name): one TAP line; the file and line on failure. */
#define CHECK(cond, name) do {						\
	unit_n++;							\
	if (cond)							\
		printf("ok %d - %s\n", unit_n, (name));			\
	else {								\
		unit_failed++;						\
		printf("not ok %d - %s (%s:%d: %s)\n", unit_n, (name),	\
		    __FILE__, __LINE__, #cond);				\
	}								\
} while (0)

/* Write s into out with control bytes as \xNN, cut to fit, for a TAP line. */
static inline const char *
unit_show(const char *s, char *out, size_t len)
{
	size_t	n = 0;

	for (; *s != '\0' && n + 8 < len; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			n += (size_t)snprintf(out + n, len - n, "\\x%02x",
			    (unsigned char)*s);
		else
			out[n++] = *s;
	}
	if (*s != '\0')
		n += (size_t)snprintf(out + n, len - n, "...");
	out[n] = '\0';
	return out;
}

/* Print the plan and return the exit status for main. */
static inline int
unit_done(void)
{
	printf("1..%d\n", unit_n);
	return unit_failed ? 1 : 0;
}

#endif
