/* Where a Redis server is: the backend URL taken apart. */
#ifndef SFRUN_REDISURL_H
#define SFRUN_REDISURL_H

#include <limits.h>

struct redis_url {
	char	host[256];	/* "": a unix socket at path */
	int	port;
	char	path[PATH_MAX];
	char	user[128];	/* "": the default user */
	char	pass[256];	/* only SFRUN_BACKEND may carry one */
	int	db;
	int	tls;		/* rediss:// */
};

int	redisurl_parse(const char *, struct redis_url *, const char **);
int	redisurl_strip_password(char *);

#endif
