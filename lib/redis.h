/* A connection to Redis that comes back after a failure, within a deadline. */
#ifndef SFRUN_REDIS_H
#define SFRUN_REDIS_H

#include <stdint.h>

#include <hiredis/hiredis.h>

#include "redisurl.h"

#define REDIS_CONNECT_MS	2000
#define REDIS_BLOCK_MS		2000	/* XREAD BLOCK */
#define REDIS_REPLY_MS		(REDIS_BLOCK_MS + 3000)
#define REDIS_ARGS_MAX		16	/* arguments of redis_strv */

struct redis;

struct redis	*redis_open(const struct redis_url *, const char *, char *,
		    size_t, int *);
redisReply	*redis_strv(struct redis *, uint64_t, int, const char **);
redisReply	*redis_argv(struct redis *, uint64_t, int, const char **,
		    const size_t *);
const char	*redis_error(const struct redis *);
void		 redis_close(struct redis *);

#endif
