/* The server's log: stderr in the foreground, else syslog. */
#ifndef SFRUN_LOG_H
#define SFRUN_LOG_H

void	 log_open(int);
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
