/* Durations on the command line: "1.5s", "200ms", "2m", "0". */
#ifndef SFRUN_DURATION_H
#define SFRUN_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define DURATION_MAX_MS	(UINT64_C(1) << 53)

int	 duration_parse(const char *, uint64_t *, const char **);
void	 duration_format(uint64_t, char *, size_t);

#endif
