/* The descriptors a program inherits: fds 0-2, make's jobserver. */
#ifndef SFRUN_FDS_H
#define SFRUN_FDS_H

void	 fds_std_open(void);
int	 fds_jobserver(const char *, int *, int *);
int	 fds_is_jobserver(int, int);

#endif
