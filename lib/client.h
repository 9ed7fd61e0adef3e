/* The client: connecting (and starting the server), running, rendering. */
#ifndef SFRUN_CLIENT_H
#define SFRUN_CLIENT_H

#include <stdint.h>

struct client_opts {
	const char	*socket;	/* NULL: $SFRUN_SOCKET or the default */
	const char	*key;		/* NULL: derived from cwd and argv */
	int		 argc;
	char	       **argv;
	uint32_t	 flags;		/* RUN_* */
	uint64_t	 timeout_ms;
	uint64_t	 run_timeout_ms;
	uint64_t	 kill_after_ms;
	uint64_t	 join_window_ms;
	uint64_t	 linger_ms;
	int		 verbose;
	int		 quiet;
	int		 conflict_code;	/* -n found the key in flight */
	int		 json;
	const char	*backend;	/* Redis URL; NULL: none */
	const char	*prefix;
	uint32_t	 backend_flags;	/* BACKEND_* */
	uint64_t	 lease_ms;
	uint64_t	 backend_linger_ms;
};

int	 client_run(const struct client_opts *);
int	 client_status(const struct client_opts *);
int	 client_forget(const struct client_opts *, const char *);
int	 client_stop(const struct client_opts *);

#endif
