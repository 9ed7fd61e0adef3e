/* A run's output log: one unlinked file, and which stream each part is. */
#ifndef SFRUN_SPOOL_H
#define SFRUN_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPOOL_STDOUT	0
#define SPOOL_STDERR	1

struct spool;

void		 spool_set_dir(const char *);
const char	*spool_get_dir(void);
struct spool	*spool_open(void);
void		 spool_prepare(void);
void		 spool_drop_spare(void);
void		 spool_free(struct spool *);
ssize_t		 spool_fill(struct spool *, int, int);
int		 spool_append(struct spool *, int, const void *, size_t);
int		 spool_fd(const struct spool *);
uint64_t	 spool_bytes(const struct spool *);
size_t		 spool_segments(const struct spool *);
void		 spool_segment(const struct spool *, size_t, int *, uint64_t *);

#endif
