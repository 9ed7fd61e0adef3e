/* Coalescing keys: checking given ones, deriving default ones. */
#ifndef SFRUN_KEY_H
#define SFRUN_KEY_H

#include <stddef.h>

#define KEY_DERIVED_LEN	(5 + 64)	/* "auto-" and a SHA-256 in hex */

int	 key_check(const char *, size_t, const char **);
void	 key_derive(const char *, int, char *const *, char *, size_t);
char	*key_escape(const char *, size_t);

#endif
