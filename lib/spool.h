/* A run's output log: one unlinked file of records, each of one stream. */
#ifndef SFRUN_SPOOL_H
#define SFRUN_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPOOL_STDOUT	0
#define SPOOL_STDERR	1

/*
 * A record: a header of SPOOL_HEADER_SIZE bytes, one native-endian uint32_t
 * (bit 31: the stream; bits 0-30: the length), then that many bytes of the
 * stream's output. A length is 1 to SPOOL_RECORD_MAX.
 */
#define SPOOL_HEADER_SIZE	4
#define SPOOL_RECORD_MAX	(1U << 30)

struct spool;

void		 spool_set_dir(const char *);
const char	*spool_get_dir(void);
struct spool	*spool_new(void);
void		 spool_prepare(void);
void		 spool_drop_spare(void);
void		 spool_free(struct spool *);
ssize_t		 spool_fill(struct spool *, int, int);
int		 spool_append(struct spool *, int, const void *, size_t);
int		 spool_fd(const struct spool *);
uint64_t	 spool_bytes(const struct spool *);
uint64_t	 spool_publish(struct spool *);
int		 spool_error(const struct spool *);
void		 spool_header_encode(uint8_t *, int, uint32_t);
int		 spool_header_decode(const uint8_t *, uint64_t, uint64_t, int *,
		    uint32_t *);

#endif
