/* Unit tests for lib/redisurl.c: taking a backend URL apart. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "redisurl.h"
#include "unit.h"

/* What a URL should parse to; NULL strings mean "". */
struct want {
	const char	*host;
	int		 port;
	const char	*path;
	const char	*user;
	const char	*pass;
	int		 db;
	int		 tls;
};

/* Return 1 if a is b, with NULL b meaning "". */
static int
same(const char *a, const char *b)
{
	return strcmp(a, b != NULL ? b : "") == 0;
}

/* Check that s parses, and to exactly the fields of w. */
static void
accepts(const char *s, const struct want *w)
{
	struct redis_url	 u;
	char			 name[192], shown[64];
	const char		*errstr = NULL;
	int			 rc, ok;

	memset(&u, 'X', sizeof(u));
	rc = redisurl_parse(s, &u, &errstr);
	snprintf(name, sizeof(name), "parse \"%s\"",
	    unit_show(s, shown, sizeof(shown)));
	ok = rc == 0 && same(u.host, w->host) && u.port == w->port &&
	    same(u.path, w->path) && same(u.user, w->user) &&
	    same(u.pass, w->pass) && u.db == w->db && u.tls == w->tls;
	CHECK(ok, name);
	if (rc != 0)
		printf("# got rc %d, errstr %s\n", rc,
		    errstr != NULL ? errstr : "(null)");
	else if (!ok)
		printf("# got host \"%.40s\" port %d path \"%.40s\" "
		    "user \"%.20s\" pass \"%.20s\" db %d tls %d\n", u.host,
		    u.port, u.path, u.user, u.pass, u.db, u.tls);
}

/* Check that s is refused with -1 and an error string. */
static void
rejects(const char *s, const char *why)
{
	struct redis_url	 u;
	char			 name[192], shown[64];
	const char		*errstr = NULL;
	int			 rc;

	rc = redisurl_parse(s, &u, &errstr);
	snprintf(name, sizeof(name), "reject \"%s\" (%s)",
	    unit_show(s, shown, sizeof(shown)), why);
	CHECK(rc == -1 && errstr != NULL && *errstr != '\0', name);
	if (rc != -1)
		printf("# got rc %d, host \"%.40s\" port %d db %d\n", rc,
		    u.host, u.port, u.db);
}

/*
 * Check that redisurl_strip_password makes s into want, says whether it
 * took one out, and leaves nothing of the old text behind the new end.
 */
static void
strips(const char *s, const char *want, int took)
{
	char	buf[128], name[192];
	size_t	len = strlen(s), i;
	int	rc, clean = 1;

	memset(buf, 'X', sizeof(buf));
	strlcpy(buf, s, sizeof(buf));
	rc = redisurl_strip_password(buf);
	for (i = strlen(buf); took && i <= len; i++)
		clean &= buf[i] == '\0';
	snprintf(name, sizeof(name), "strip \"%s\" to \"%s\"", s, want);
	CHECK(rc == took && strcmp(buf, want) == 0 && clean, name);
	if (rc != took || strcmp(buf, want) != 0)
		printf("# got rc %d, \"%s\"\n", rc, buf);
}

int
main(void)
{
	static char	 url[2 * PATH_MAX], long_host[300 + 1];
	static char	 fit[256], over[256], fituser[128], overuser[129];
	struct want	 w;

	/* TCP: every part, and the defaults. */
	accepts("redis://host", &(struct want){ "host", 6379, 0, 0, 0, 0, 0 });
	accepts("redis://host:6380",
	    &(struct want){ "host", 6380, 0, 0, 0, 0, 0 });
	accepts("redis://host:6380/5",
	    &(struct want){ "host", 6380, 0, 0, 0, 5, 0 });
	accepts("redis://host/7", &(struct want){ "host", 6379, 0, 0, 0, 7, 0 });
	accepts("redis://host/", &(struct want){ "host", 6379, 0, 0, 0, 0, 0 });
	accepts("redis://user@host",
	    &(struct want){ "host", 6379, 0, "user", 0, 0, 0 });
	accepts("redis://user:pass@host:1/2",
	    &(struct want){ "host", 1, 0, "user", "pass", 2, 0 });
	accepts("redis://:pass@host",
	    &(struct want){ "host", 6379, 0, 0, "pass", 0, 0 });
	accepts("redis://u:p:q@host",
	    &(struct want){ "host", 6379, 0, "u", "p:q", 0, 0 });
	accepts("redis://10.0.0.1:65535/0",
	    &(struct want){ "10.0.0.1", 65535, 0, 0, 0, 0, 0 });
	accepts("redis://[::1]:6380/3",
	    &(struct want){ "::1", 6380, 0, 0, 0, 3, 0 });
	accepts("redis://[::1]", &(struct want){ "::1", 6379, 0, 0, 0, 0, 0 });
	accepts("redis://user:pw@[fe80::1]:7/1",
	    &(struct want){ "fe80::1", 7, 0, "user", "pw", 1, 0 });
	accepts("redis://host:06379/01",
	    &(struct want){ "host", 6379, 0, 0, 0, 1, 0 });
	accepts("redis://host/1048576",
	    &(struct want){ "host", 6379, 0, 0, 0, 1 << 20, 0 });

	/* TLS: the same parts, and the flag. */
	accepts("rediss://host", &(struct want){ "host", 6379, 0, 0, 0, 0, 1 });
	accepts("rediss://user:pw@host:6380/2",
	    &(struct want){ "host", 6380, 0, "user", "pw", 2, 1 });
	accepts("rediss://[::1]:7", &(struct want){ "::1", 7, 0, 0, 0, 0, 1 });

	/* Unix sockets: no host, no port. */
	accepts("unix:///path", &(struct want){ 0, 0, "/path", 0, 0, 0, 0 });
	accepts("unix:///run/redis/redis.sock",
	    &(struct want){ 0, 0, "/run/redis/redis.sock", 0, 0, 0, 0 });
	accepts("unix:///path?db=4", &(struct want){ 0, 0, "/path", 0, 0, 4, 0 });
	accepts("unix:///path?db=0", &(struct want){ 0, 0, "/path", 0, 0, 0, 0 });

	/* The longest host and user that fit. */
	memset(fit, 'h', sizeof(fit) - 1);
	snprintf(url, sizeof(url), "redis://%s:1", fit);
	w = (struct want){ fit, 1, 0, 0, 0, 0, 0 };
	accepts(url, &w);
	memset(fituser, 'u', sizeof(fituser) - 1);
	snprintf(url, sizeof(url), "redis://%s@h", fituser);
	w = (struct want){ "h", 6379, 0, fituser, 0, 0, 0 };
	accepts(url, &w);

	/* Not URLs of ours. */
	rejects("", "empty");
	rejects("http://x", "another scheme");
	rejects("REDIS://host", "scheme in upper case");
	rejects("redis:/host", "one slash");
	rejects("rediss:/host", "TLS, one slash");
	rejects("rediss://", "TLS, nothing after the scheme");
	rejects("REDISS://host", "TLS scheme in upper case");
	rejects("host:6379", "no scheme");

	/* TCP: the host. */
	rejects("redis://", "nothing after the scheme");
	rejects("redis://:6379", "port without host");
	rejects("redis:///0", "db without host");
	rejects("redis://user@", "user without host");
	rejects("redis://user@:1", "user and port without host");
	rejects("redis://[::1", "unclosed bracket");
	rejects("redis://[::1/2]", "bracket closed after the slash");
	rejects("redis://[]:1", "empty brackets");
	rejects("redis://[::1]x", "text after the bracket");
	rejects("redis://[::1]6379", "port without colon after bracket");
	rejects("redis://::1:6379", "IPv6 address without brackets");
	memset(long_host, 'a', sizeof(long_host) - 1);
	snprintf(url, sizeof(url), "redis://%s", long_host);
	rejects(url, "host of 300 bytes");
	memset(over, 'h', sizeof(over));
	snprintf(url, sizeof(url), "redis://%.256s:1", over);
	rejects(url, "host of 256 bytes");

	/* TCP: the user and password. */
	rejects("redis://user:@host", "empty password");
	rejects("redis://:@host", "empty user and password");
	memset(overuser, 'u', sizeof(overuser) - 1);
	snprintf(url, sizeof(url), "redis://%s@h", overuser);
	rejects(url, "user of 128 bytes");
	snprintf(url, sizeof(url), "redis://u:%.256s@h", over);
	rejects(url, "password of 256 bytes");

	/* TCP: the port. */
	rejects("redis://host:0", "port 0");
	rejects("redis://host:65536", "port 65536");
	rejects("redis://host:99999999999999999999", "port far too big");
	rejects("redis://host:x", "port not a number");
	rejects("redis://host:", "empty port");
	rejects("redis://host:/1", "empty port before db");
	rejects("redis://host:-1", "negative port");
	rejects("redis://host:+6379", "port with a plus sign");
	rejects("redis://host: 6379", "port with a leading space");
	rejects("redis://host:\t6379", "port with a leading tab");
	rejects("redis://host:6379 ", "port with a trailing space");
	rejects("redis://host:0x10", "hexadecimal port");
	rejects("redis://host:1:2", "two ports");

	/* TCP: the database. */
	rejects("redis://host/x", "db not a number");
	rejects("redis://host/1/2", "two path parts");
	rejects("redis://host/1/", "slash after the db");
	rejects("redis://host/-1", "negative db");
	rejects("redis://host/-0", "db minus zero");
	rejects("redis://host/+1", "db with a plus sign");
	rejects("redis://host/ 1", "db with a leading space");
	rejects("redis://host/1048577", "db over the maximum");
	rejects("redis://host/?db=1", "query on a TCP URL");
	rejects("redis://host/1@x", "'@' after the slash is not a user");

	/* Unix sockets. */
	rejects("unix://relative", "relative path");
	rejects("unix://", "no path");
	rejects("unix:///", "root alone");
	rejects("unix:///?db=1", "root alone with db");
	rejects("unix:///p?x=1", "unknown query");
	rejects("unix:///p?x=12", "unknown query, a number after 4 bytes");
	rejects("unix:///p?DB=4", "db in upper case");
	rejects("unix:///p?db=", "empty db");
	rejects("unix:///p?db=x", "db not a number");
	rejects("unix:///p?db=-1", "negative db");
	rejects("unix:///p?db=+4", "db with a plus sign");
	rejects("unix:///p?db= 4", "db with a leading space");
	rejects("unix:///p?db=4&x=1", "text after the db");
	rejects("unix:///p?db=4?db=5", "two queries");
	rejects("unix:///p?db=1048577", "db over the maximum");
	rejects("unix:///p?", "empty query");
	memset(url, 0, sizeof(url));
	memcpy(url, "unix://", 7);
	memset(url + 7, '/', PATH_MAX);
	rejects(url, "path of PATH_MAX bytes");

	/* The password taken out of a URL, in place. */
	strips("redis://:pw@host:1/2", "redis://host:1/2", 1);
	strips("redis://user:pw@host", "redis://user@host", 1);
	strips("rediss://u:p:q@[::1]:7/1", "rediss://u@[::1]:7/1", 1);
	strips("redis://user@host", "redis://user@host", 0);
	strips("redis://host/1", "redis://host/1", 0);
	strips("redis://host/1@x:y", "redis://host/1@x:y", 0);
	strips("unix:///p:q@r", "unix:///p:q@r", 0);

	return unit_done();
}
