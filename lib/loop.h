/* The event loop: epoll for descriptors, a tree of timers, deferred frees. */
#ifndef SFRUN_LOOP_H
#define SFRUN_LOOP_H

#include <stdint.h>

struct loop_io;
struct loop_timer;

typedef void	(*loop_io_cb)(int, uint32_t, void *);
typedef void	(*loop_timer_cb)(void *);

int			 loop_init(void);
struct loop_io		*loop_io_add(int, uint32_t, loop_io_cb, void *);
int			 loop_io_mod(struct loop_io *, uint32_t);
void			 loop_io_del(struct loop_io *);
struct loop_timer	*loop_timer_new(loop_timer_cb, void *);
void			 loop_timer_set(struct loop_timer *, uint64_t);
void			 loop_timer_stop(struct loop_timer *);
int			 loop_timer_armed(const struct loop_timer *);
uint64_t		 loop_timer_left(const struct loop_timer *);
void			 loop_timer_free(struct loop_timer *);
uint64_t		 loop_now(void);
int			 loop_run(void);
void			 loop_free(void);
void			 loop_exit(void);
void			 loop_after(void (*)(void));

#endif
