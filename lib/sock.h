/* Socket paths, their directory's permissions, peers, descriptor passing. */
#ifndef SFRUN_SOCK_H
#define SFRUN_SOCK_H

#include <stddef.h>
#include <sys/types.h>

#define SOCK_MAXFDS	4	/* descriptors accepted with one message */

int	 sock_tmpdir(char *, size_t, char *, size_t);
int	 sock_path(const char *, char *, size_t, char *, size_t);
int	 sock_prepare_dir(const char *, char *, size_t);
int	 sock_sibling(const char *, const char *, char *, size_t);
int	 sock_listen(const char *);
int	 sock_connect(const char *);
int	 sock_peer_ok(int);
ssize_t	 sock_send(int, const void *, size_t, const int *, int);
ssize_t	 sock_recv(int, void *, size_t, int *, int *);

#endif
