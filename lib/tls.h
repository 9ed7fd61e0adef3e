/* TLS on a connected socket, for rediss:// (OpenSSL). */
#ifndef SFRUN_TLS_H
#define SFRUN_TLS_H

#include <stddef.h>
#include <sys/types.h>

struct tls_config;
struct tls;

struct tls_config	*tls_config_new(char *, size_t);
void			 tls_config_free(struct tls_config *);
struct tls		*tls_start(struct tls_config *, int, const char *,
			    char *, size_t);
int			 tls_handshake(struct tls *, short *, char *, size_t,
			    int *);
ssize_t			 tls_io(struct tls *, int, void *, size_t, short *);
const char		*tls_error(struct tls *, int *);
void			 tls_free(struct tls *);

#endif
