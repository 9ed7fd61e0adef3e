/* Coalescing keys: validation, derivation of the default key, printing. */
#define LIBBSD_OPENBSD_VIS
#include <sys/types.h>

#include <sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vis.h>
#include <wchar.h>
#include <wctype.h>

#include "key.h"
#include "proto.h"

/* Check that a key given by the user is 1 to PROTO_KEY_MAX bytes, no NUL. */
int
key_check(const char *key, size_t len, const char **errstr)
{
	if (len == 0) {
		*errstr = "key is empty";
		return -1;
	}
	if (len > PROTO_KEY_MAX) {
		*errstr = "key is longer than 1024 bytes";
		return -1;
	}
	if (memchr(key, '\0', len) != NULL) {
		*errstr = "key contains a NUL byte";
		return -1;
	}
	return 0;
}

/* Feed one length-prefixed field to the hash, so boundaries count. */
static void
key_field(SHA2_CTX *ctx, char tag, const char *s)
{
	uint64_t	len = strlen(s);

	SHA256Update(ctx, (const uint8_t *)&tag, 1);
	SHA256Update(ctx, (const uint8_t *)&len, sizeof(len));
	SHA256Update(ctx, (const uint8_t *)s, len);
}

/*
 * The default key: "auto-" and the SHA-256 of the working directory and each
 * argument, every one prefixed by its length, so that `a "b c"` and `a b c`
 * differ. out must hold KEY_DERIVED_LEN + 1 bytes.
 */
void
key_derive(const char *cwd, int argc, char *const *argv, char *out,
    size_t outlen)
{
	SHA2_CTX	ctx;
	uint8_t		digest[SHA256_DIGEST_LENGTH];
	int		i;
	size_t		n;

	SHA256Init(&ctx);
	key_field(&ctx, 'd', cwd);
	for (i = 0; i < argc; i++)
		key_field(&ctx, 'a', argv[i]);
	SHA256Final(digest, &ctx);
	n = strlcpy(out, "auto-", outlen);
	for (i = 0; i < SHA256_DIGEST_LENGTH && n + 2 < outlen; i++, n += 2)
		snprintf(out + n, outlen - n, "%02x", digest[i]);
}

/*
 * Escape a key (or any bytes) for a terminal: a character printable in the
 * user's locale (LC_CTYPE) shows as itself, "café" in a UTF-8 locale, as
 * ls and tmux show names; control characters, characters of no width and
 * bytes that are no character are escaped C-style (\n, \303), and a
 * backslash is doubled, so that no two keys look alike. NULL if out of
 * memory.
 */
char *
key_escape(const char *key, size_t len)
{
	char		*out, *o;
	mbstate_t	 st;
	wchar_t		 wc;
	size_t		 i = 0, n;

	if ((out = reallocarray(NULL, len + 1, 4)) == NULL)
		return NULL;
	o = out;
	memset(&st, 0, sizeof(st));
	while (i < len) {
		n = (unsigned char)key[i] < 0x80 ? 0 :
		    mbrtowc(&wc, key + i, len - i, &st);
		if (n != 0 && n != (size_t)-1 && n != (size_t)-2 &&
		    iswprint((wint_t)wc) && wcwidth(wc) > 0) {
			memcpy(o, key + i, n);
			o += n;
			i += n;
			continue;
		}
		memset(&st, 0, sizeof(st));
		o = vis(o, (unsigned char)key[i], VIS_CSTYLE | VIS_TAB |
		    VIS_NL | VIS_OCTAL | VIS_NOLOCALE, i + 1 < len ?
		    key[i + 1] : '\0');
		i++;
	}
	*o = '\0';
	return out;
}
