/* Records of the runs in flight beside the socket, read by later servers. */
#ifndef SFRUN_RECORD_H
#define SFRUN_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

int	 record_init(const char *, void (*)(void), char *, size_t);
uint64_t record_add(const char *, uint32_t, pid_t, uint64_t);
void	 record_remove(pid_t, uint64_t);
int	 record_ghost(const char *, uint32_t);
void	 record_cleanup(void);

#endif
