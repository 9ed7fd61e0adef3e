/*
 * TLS for rediss://, with OpenSSL, on a socket the caller has connected
 * and set non-blocking. The caller waits (poll) for what a call says it
 * wants (POLLIN or POLLOUT) and calls again; this file only carries bytes
 * and says why it could not.
 *
 * The server is verified against the system's CA store, or the CA file
 * SFRUN_REDIS_CACERT, and must be named by the URL's host (a DNS name, or
 * an IP address in the certificate's subjectAltName). SFRUN_REDIS_CERT and
 * SFRUN_REDIS_KEY (default: the same file) give a client certificate for
 * servers that ask for one. Files only: a key protected by a passphrase is
 * refused rather than asked for on a terminal the bridge does not have.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "compat.h"
#include "tls.h"

struct tls_config {
	SSL_CTX		*ctx;
};

struct tls {
	SSL		*ssl;
	char		 error[512];
	int		 fatal;		/* a refusal, not a lost connection */
	int		 asked;		/* for a client certificate, had none */
};

/* OpenSSL's reason for the oldest error in its queue, which is emptied. */
static const char *
tls_reason(void)
{
	unsigned long	 e = ERR_get_error();
	const char	*s = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return s != NULL ? s : "unknown TLS error";
}

/* Never ask for a key's passphrase: there is no one to answer. */
static int
tls_no_passphrase(char *buf, int size, int rw, void *arg)
{
	(void)buf;
	(void)size;
	(void)rw;
	(void)arg;
	return -1;
}

/*
 * The server asks for a client certificate and none was given: remember
 * it, for when the server then drops the connection.
 */
static int
tls_no_certificate(SSL *ssl, X509 **cert, EVP_PKEY **key)
{
	struct tls	*t = SSL_get_app_data(ssl);

	(void)cert;
	(void)key;
	if (t != NULL)
		t->asked = 1;
	return 0;
}

/*
 * The settings of every connection of this process, from the environment.
 * NULL with cause if a file named there cannot be used.
 */
struct tls_config *
tls_config_new(char *cause, size_t clen)
{
	struct tls_config	*cfg;
	const char		*ca = getenv("SFRUN_REDIS_CACERT");
	const char		*cert = getenv("SFRUN_REDIS_CERT");
	const char		*key = getenv("SFRUN_REDIS_KEY");

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (cfg->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(cause, clen, "TLS: %s", cfg == NULL ?
		    "out of memory" : tls_reason());
		free(cfg);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(cfg->ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(cfg->ctx, SSL_VERIFY_PEER, NULL);
	/* A peer that drops the connection is an I/O error, not a refusal. */
	SSL_CTX_set_options(cfg->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(cfg->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_default_passwd_cb(cfg->ctx, tls_no_passphrase);
	SSL_CTX_set_client_cert_cb(cfg->ctx, tls_no_certificate);
	if (ca != NULL && *ca != '\0') {
		if (SSL_CTX_load_verify_locations(cfg->ctx, ca, NULL) != 1) {
			snprintf(cause, clen, "SFRUN_REDIS_CACERT %.300s: %s",
			    ca, tls_reason());
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(cfg->ctx) != 1) {
		snprintf(cause, clen, "TLS: the system's CA store: %s",
		    tls_reason());
		goto fail;
	}
	if ((key != NULL && *key != '\0') && (cert == NULL || *cert == '\0')) {
		snprintf(cause, clen, "SFRUN_REDIS_KEY is set without "
		    "SFRUN_REDIS_CERT");
		goto fail;
	}
	if (cert == NULL || *cert == '\0')
		return cfg;
	if (key == NULL || *key == '\0')
		key = cert;
	if (SSL_CTX_use_certificate_chain_file(cfg->ctx, cert) != 1) {
		snprintf(cause, clen, "SFRUN_REDIS_CERT %.300s: %s", cert,
		    tls_reason());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(cfg->ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(cfg->ctx) != 1) {
		snprintf(cause, clen, "SFRUN_REDIS_KEY %.300s: %s", key,
		    tls_reason());
		goto fail;
	}
	return cfg;
fail:
	tls_config_free(cfg);
	return NULL;
}

void
tls_config_free(struct tls_config *cfg)
{
	if (cfg == NULL)
		return;
	SSL_CTX_free(cfg->ctx);
	free(cfg);
}

/*
 * TLS as the client on fd, for the server named host (its name is sent,
 * and checked in its certificate). NULL with cause if out of memory.
 */
struct tls *
tls_start(struct tls_config *cfg, int fd, const char *host, char *cause,
    size_t clen)
{
	struct tls		*t;
	X509_VERIFY_PARAM	*param;
	struct in6_addr		 a6;
	int			 ok, ip;

	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->ssl = SSL_new(cfg->ctx)) == NULL) {
		snprintf(cause, clen, "TLS: %s", t == NULL ? "out of memory" :
		    tls_reason());
		free(t);
		return NULL;
	}
	ip = inet_pton(AF_INET, host, &a6) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1;
	param = SSL_get0_param(t->ssl);
	X509_VERIFY_PARAM_set_hostflags(param,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (ip)
		ok = X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1;
	else
		ok = SSL_set1_host(t->ssl, host) == 1 &&
		    SSL_set_tlsext_host_name(t->ssl, host) == 1;
	if (!ok || SSL_set_fd(t->ssl, fd) != 1) {
		snprintf(cause, clen, "TLS: %s", tls_reason());
		tls_free(t);
		return NULL;
	}
	SSL_set_app_data(t->ssl, t);
	SSL_set_connect_state(t->ssl);
	return t;
}

/*
 * What a failed call of SSL_read, SSL_write or SSL_do_handshake (its
 * result n) means: 0 with *events when it only has to wait, else -1 with
 * errno, and the reason kept for tls_error. A failure of TLS itself (a
 * certificate refused, an alert) is fatal, and so is a connection dropped
 * by a server that asked for a client certificate and got none (with TLS
 * 1.3 its alert comes after the handshake, and may be lost to the reset);
 * a connection lost otherwise is not.
 */
static int
tls_failed(struct tls *t, int n, short *events)
{
	long	v;
	int	saved = errno;

	switch (SSL_get_error(t->ssl, n)) {
	case SSL_ERROR_WANT_READ:
		*events = POLLIN;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*events = POLLOUT;
		return 0;
	case SSL_ERROR_ZERO_RETURN:
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		errno = saved != 0 ? saved : ECONNRESET;
		strlcpy(t->error, saved != 0 ? strerror(errno) : "the server "
		    "closed the connection", sizeof(t->error));
		break;
	default:
		t->fatal = 1;
		if ((v = SSL_get_verify_result(t->ssl)) != X509_V_OK) {
			ERR_clear_error();
			snprintf(t->error, sizeof(t->error), "TLS: the server's "
			    "certificate is refused: %s",
			    X509_verify_cert_error_string(v));
		} else
			snprintf(t->error, sizeof(t->error), "TLS: %s",
			    tls_reason());
		errno = EPROTO;
		break;
	}
	if (t->asked) {
		t->fatal = 1;
		snprintf(t->error, sizeof(t->error), "TLS: the server wants a "
		    "client certificate (set SFRUN_REDIS_CERT and "
		    "SFRUN_REDIS_KEY)");
	}
	return -1;
}

/* One step of the handshake: 1 done, 0 wait for *events, -1 failed. */
int
tls_handshake(struct tls *t, short *events, char *cause, size_t clen,
    int *fatal)
{
	int	n;

	ERR_clear_error();
	errno = 0;
	if ((n = SSL_do_handshake(t->ssl)) == 1)
		return 1;
	if (tls_failed(t, n, events) == 0)
		return 0;
	strlcpy(cause, t->error, clen);
	*fatal = t->fatal;
	return -1;
}

/*
 * Read up to len bytes into buf, or write them from it: their count, or -1
 * with errno (EAGAIN: wait for *events); the end of the stream is an error
 * here (ECONNRESET).
 */
ssize_t
tls_io(struct tls *t, int writing, void *buf, size_t len, short *events)
{
	int	n, max = len > INT32_MAX ? INT32_MAX : (int)len;

	ERR_clear_error();
	errno = 0;
	n = writing ? SSL_write(t->ssl, buf, max) : SSL_read(t->ssl, buf, max);
	if (n > 0)
		return n;
	if (tls_failed(t, n, events) == 0)
		errno = EAGAIN;
	return -1;
}

/* Why the last call failed; *fatal set if retrying cannot help. */
const char *
tls_error(struct tls *t, int *fatal)
{
	*fatal = t->fatal;
	return t->error;
}

/* Free the connection's TLS state (not its socket, which is the caller's). */
void
tls_free(struct tls *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	free(t);
}
