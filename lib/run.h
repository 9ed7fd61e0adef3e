/* A run: one fork/exec of a command, its output capture, its end. */
#ifndef SFRUN_RUN_H
#define SFRUN_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

struct run;
struct spool;

struct run_cbs {
	void	(*output)(void *);	/* more output in the spool, or
					   NULL (output handed out) */
	void	(*done)(void *);	/* reaped, pipes closed: result known */
};

/* A bridge run (sfrund --bridge) talks to the server on this descriptor. */
#define RUN_SIDE_FD	4

/*
 * Descriptors a command gets at given numbers: pairs (descriptor here,
 * number in the command), at most RUN_PASS_MAX, each number 3 or more.
 */
#define RUN_PASS_MAX	2

struct run	*run_start(const struct proto_run *, int, int,
		    const int (*)[2], int, int *, uint64_t,
		    const struct run_cbs *, void *, char *, size_t);
void		 run_cancel(struct run *);
void		 run_free(struct run *);
int		 run_init(void);
void		 run_cleanup(void);
int		 run_finished(const struct run *);
int		 run_cancelled(const struct run *);
int		 run_exec_state(const struct run *);
void		 run_result(const struct run *, struct proto_done *);
struct spool	*run_spool(const struct run *);
pid_t		 run_pid(const struct run *);
uint64_t	 run_started(const struct run *);
const char	*run_command(const struct run *);

#endif
