/*
 * The backend URL: redis://[user[:password]@]host[:port][/db] for TCP
 * (an IPv6 address in brackets), the same with rediss:// for TCP with TLS,
 * unix:///path[?db=N] for a unix socket.
 * Nothing is decoded: user names and passwords with '@', ':' or '/' are not
 * supported in a URL (the password has its own variable anyway).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "redisurl.h"

/* Copy n bytes of s into a buffer of len, failing if it does not fit. */
static int
redisurl_copy(char *buf, size_t len, const char *s, size_t n)
{
	if (n >= len)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

/* The n decimal digits at s as a number from 0 to max; no sign, no space. */
static int
redisurl_number(const char *s, size_t n, long long max, int *v)
{
	char		 buf[16];
	const char	*errstr;

	if (n == 0 || strspn(s, "0123456789") < n ||
	    redisurl_copy(buf, sizeof(buf), s, n) == -1)
		return -1;
	*v = (int)strtonum(buf, 0, max, &errstr);
	return errstr == NULL ? 0 : -1;
}

static int
redisurl_unix(const char *s, struct redis_url *u, const char **errstr)
{
	const char	*q = strchr(s, '?');
	size_t		 n = q != NULL ? (size_t)(q - s) : strlen(s);

	if (*s != '/' || n <= 1) {
		*errstr = "a unix:// URL needs an absolute path (unix:///path)";
		return -1;
	}
	if (redisurl_copy(u->path, sizeof(u->path), s, n) == -1) {
		*errstr = "socket path too long";
		return -1;
	}
	if (q != NULL && (strncmp(q, "?db=", 4) != 0 ||
	    redisurl_number(q + 4, strlen(q + 4), 1 << 20, &u->db) == -1)) {
		*errstr = "after the path only ?db=N may follow";
		return -1;
	}
	return 0;
}

/* user[:pass]@ at the front of s, if any; returns where the host starts. */
static const char *
redisurl_userinfo(const char *s, struct redis_url *u, const char **errstr)
{
	const char	*at = strchr(s, '@'), *colon;
	const char	*end = s + strcspn(s, "/");

	if (at == NULL || at > end)
		return s;
	colon = memchr(s, ':', (size_t)(at - s));
	if (redisurl_copy(u->user, sizeof(u->user), s, (size_t)((colon != NULL ?
	    colon : at) - s)) == -1 || (colon != NULL &&
	    redisurl_copy(u->pass, sizeof(u->pass), colon + 1,
	    (size_t)(at - colon - 1)) == -1)) {
		*errstr = "user or password too long";
		return NULL;
	}
	if (colon != NULL && u->pass[0] == '\0') {
		*errstr = "empty password after ':'";
		return NULL;
	}
	return at + 1;
}

static int
redisurl_tcp(const char *s, struct redis_url *u, const char **errstr)
{
	const char	*h, *hend, *p, *rest;

	if ((h = redisurl_userinfo(s, u, errstr)) == NULL)
		return -1;
	rest = h + strcspn(h, "/");
	if (*h == '[') {		/* [v6 address] */
		if ((hend = memchr(h, ']', (size_t)(rest - h))) == NULL) {
			*errstr = "unclosed '[' in the host";
			return -1;
		}
		p = hend + 1;
		h++;
	} else {
		hend = h + strcspn(h, ":/");
		p = hend;
	}
	if (memchr(h, '@', (size_t)(rest - h)) != NULL ||
	    memchr(h, '?', (size_t)(rest - h)) != NULL) {
		*errstr = "unexpected '@' or '?' in the host";
		return -1;
	}
	if (hend == h || redisurl_copy(u->host, sizeof(u->host), h,
	    (size_t)(hend - h)) == -1) {
		*errstr = hend == h ? "no host" : "host name too long";
		return -1;
	}
	u->port = 6379;
	if (*p == ':' && redisurl_number(p + 1, (size_t)(rest - p - 1), 65535,
	    &u->port) == -1) {
		*errstr = "bad port";
		return -1;
	}
	if (*p != ':' && p != rest) {
		*errstr = "unexpected text after the host";
		return -1;
	}
	if (u->port == 0) {
		*errstr = "bad port";
		return -1;
	}
	if (*rest == '/' && rest[1] != '\0' && redisurl_number(rest + 1,
	    strlen(rest + 1), 1 << 20, &u->db) == -1) {
		*errstr = "the path must be a database number (/0)";
		return -1;
	}
	return 0;
}

/* Parse a backend URL. -1 with errstr if it is not one. */
int
redisurl_parse(const char *s, struct redis_url *u, const char **errstr)
{
	memset(u, 0, sizeof(*u));
	if (strncmp(s, "redis://", 8) == 0)
		return redisurl_tcp(s + 8, u, errstr);
	if (strncmp(s, "rediss://", 9) == 0) {
		u->tls = 1;
		return redisurl_tcp(s + 9, u, errstr);
	}
	if (strncmp(s, "unix://", 7) == 0)
		return redisurl_unix(s + 7, u, errstr);
	*errstr = "not a redis://, rediss:// or unix:// URL";
	return -1;
}

/*
 * Take the password out of a TCP URL, in place: redis://u:pw@h becomes
 * redis://u@h, redis://:pw@h becomes redis://h; the bytes given up are
 * zeroed. Returns 1 if there was one, else 0 (s is left as it was).
 */
int
redisurl_strip_password(char *s)
{
	char	*p = strstr(s, "://"), *at, *colon;
	size_t	 len = strlen(s), n;

	if (p == NULL || strncmp(s, "unix:", 5) == 0)
		return 0;
	p += 3;
	if ((at = strchr(p, '@')) == NULL || at > p + strcspn(p, "/") ||
	    (colon = memchr(p, ':', (size_t)(at - p))) == NULL)
		return 0;
	if (colon == p)		/* no user: the '@' goes too */
		at++;
	n = strlen(at) + 1;
	memmove(colon, at, n);
	explicit_bzero(colon + n, len + 1 - (size_t)(colon - s) - n);
	return 1;
}
