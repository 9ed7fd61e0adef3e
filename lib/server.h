/* The server: accepting clients, coalescing runs by key, feeding waiters. */
#ifndef SFRUN_SERVER_H
#define SFRUN_SERVER_H

#include <stdint.h>

struct server_opts {
	const char	*socket;	/* NULL: the default */
	int		 foreground;
	uint64_t	 idle_ms;	/* 0: never exit when idle */
};

int	 server_main(const struct server_opts *);

#endif
