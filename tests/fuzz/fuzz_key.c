/*
 * Fuzz target for keys: checking, escaping for a terminal, quoting for
 * JSON, and deriving the default key. The input is a key as given by a
 * user; for key_derive it is split at its NUL bytes into cwd and arguments.
 */
#define LIBBSD_OPENBSD_VIS
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vis.h>

#include "key.h"
#include "proto.h"
#include "status.h"
#include "fuzz.h"


static void
check(const uint8_t *data, size_t size)
{
	const char	*errstr = NULL;
	int		 ok;

	ok = size >= 1 && size <= PROTO_KEY_MAX &&
	    memchr(data, '\0', size) == NULL;
	if (key_check((const char *)data, size, &errstr) == 0)
		MUST(ok);
	else
		MUST(!ok && errstr != NULL);
}

/*
 * The escaped key fits the 4 bytes per byte that key_escape allocates and
 * unescapes to the very bytes it came from, so two keys never print the
 * same; in the C locale it is printable ASCII. In a UTF-8 locale, where
 * printable characters show as themselves, the same holds but the ASCII.
 */
static void
escape(const uint8_t *data, size_t size)
{
	char	*out, *back;
	size_t	 i, n;
	int	 utf8;

	for (utf8 = 0; utf8 <= 1; utf8++) {
		if (utf8 && setlocale(LC_CTYPE, "C.UTF-8") == NULL)
			break;
		out = key_escape((const char *)data, size);
		if (utf8)
			setlocale(LC_CTYPE, "C");
		if (out == NULL)
			return;
		n = strnlen(out, 4 * size + 1);
		MUST(n <= 4 * size);
		for (i = 0; i < n && !utf8; i++)
			MUST(out[i] >= 0x20 && out[i] < 0x7f);
		if ((back = malloc(n + 1)) != NULL) {
			MUST(strunvis(back, out) == (int)size);
			MUST(memcmp(back, data, size) == 0);
			free(back);
		}
		free(out);
	}
}

static int
hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Oracle apart from status.c's utf8_len: RFC 3629 length at s, or 0. */
static size_t
utf8(const unsigned char *s, size_t left)
{
	size_t	n, i;

	if (s[0] < 0x80)
		return 1;
	else if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > left)
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong forms, surrogates, and beyond U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

/*
 * The JSON string is one valid JSON string of valid UTF-8 with no raw
 * control byte, and it reads back to the input when each \u00XX (a control
 * character) or \udcXX (a byte of no character) stands for byte XX:
 * nothing is lost or added.
 */
static void
json(const uint8_t *data, size_t size)
{
	const unsigned char	*s;
	unsigned char		*back;
	char			*buf = NULL;
	size_t			 len = 0, i, n, nback = 0;
	FILE			*f;
	int			 v, j, d;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return;
	status_json_string(f, (const char *)data, size);
	if (fclose(f) != 0 || (back = malloc(size + 1)) == NULL) {
		free(buf);
		return;
	}
	s = (const unsigned char *)buf;
	MUST(len >= 2 && s[0] == '"' && s[len - 1] == '"');
	for (i = 1; i < len - 1; i += n) {
		MUST(s[i] >= 0x20 && s[i] != 0x7f && s[i] != '"');
		if (s[i] != '\\') {
			MUST((n = utf8(s + i, len - 1 - i)) > 0);
			MUST(nback + n <= size);
			memcpy(back + nback, s + i, n);
			nback += n;
			continue;
		}
		MUST(i + 1 < len - 1 && nback < size);
		switch (s[i + 1]) {
		case '"':
		case '\\':
			back[nback++] = s[i + 1];
			n = 2;
			break;
		case 'u':
			MUST(i + 6 < len);
			for (v = 0, j = 2; j < 6; j++) {
				MUST((d = hex(s[i + j])) != -1);
				v = v * 16 + d;
			}
			/* Control characters, and bytes of no character. */
			MUST(v < 0x20 || v == 0x7f ||
			    (v >= 0xdc80 && v <= 0xdcff));
			back[nback++] = (unsigned char)(v & 0xff);
			n = 6;
			break;
		default:	/* not an escape status_json_string writes */
			MUST(0);
		}
	}
	MUST(nback == size && memcmp(back, data, size) == 0);
	free(back);
	free(buf);
}

/* "auto-" and 64 lowercase hex digits. */
static void
derived(const char *key)
{
	size_t	i;

	MUST(strlen(key) == KEY_DERIVED_LEN);
	MUST(strncmp(key, "auto-", 5) == 0);
	for (i = 5; i < KEY_DERIVED_LEN; i++)
		MUST((key[i] >= '0' && key[i] <= '9') ||
		    (key[i] >= 'a' && key[i] <= 'f'));
}

/*
 * A copy of the input and one more NUL, cut into strings at each NUL and
 * each byte sep: list[0] is the cwd, the rest are the arguments. The
 * caller frees list[0], then list.
 */
static char **
split(const uint8_t *data, size_t size, int sep, size_t *n)
{
	char	*s, **list;
	size_t	 i, k = 1;

	if ((s = malloc(size + 1)) == NULL)
		return NULL;
	memcpy(s, data, size);
	s[size] = '\0';
	for (i = 0; i < size; i++)
		if (s[i] == '\0' || (unsigned char)s[i] == sep)
			k++;
	if ((list = calloc(k + 1, sizeof(*list))) == NULL) {
		free(s);
		return NULL;
	}
	list[0] = s;
	for (k = 1, i = 0; i < size; i++) {
		if (s[i] == '\0' || (unsigned char)s[i] == sep) {
			s[i] = '\0';
			list[k++] = s + i + 1;
		}
	}
	*n = k;
	return list;
}

static int
same_list(char **a, size_t na, char **b, size_t nb)
{
	size_t	i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

/*
 * The input split at its NULs gives a cwd and arguments. Split again at
 * the first byte as well, it gives another list, or the same one: the two
 * keys must be equal exactly when the lists are, so every boundary counts.
 * A short buffer gets a prefix of the key and nothing beyond outlen.
 */
static void
derive(const uint8_t *data, size_t size)
{
	char	**a, **b = NULL;
	char	  ka[KEY_DERIVED_LEN + 1], kb[KEY_DERIVED_LEN + 1];
	char	  shortkey[KEY_DERIVED_LEN + 1];
	size_t	  i, n, na, nb = 0, outlen;

	if ((a = split(data, size, 0, &na)) == NULL)
		return;
	key_derive(a[0], (int)na - 1, a + 1, ka, sizeof(ka));
	derived(ka);
	key_derive(a[0], (int)na - 1, a + 1, kb, sizeof(kb));
	MUST(strcmp(ka, kb) == 0);

	if (size > 0 && (b = split(data, size, data[0], &nb)) != NULL) {
		key_derive(b[0], (int)nb - 1, b + 1, kb, sizeof(kb));
		derived(kb);
		MUST((strcmp(ka, kb) == 0) == same_list(a, na, b, nb));
		free(b[0]);
		free(b);
	}

	outlen = size % sizeof(shortkey);
	memset(shortkey, 'X', sizeof(shortkey));
	key_derive(a[0], (int)na - 1, a + 1, shortkey, outlen);
	if (outlen > 0) {
		n = strnlen(shortkey, outlen);
		MUST(n < outlen);
		MUST(strncmp(shortkey, ka, n) == 0);
	}
	for (i = outlen; i < sizeof(shortkey); i++)
		MUST(shortkey[i] == 'X');
	free(a[0]);
	free(a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check(data, size);
	escape(data, size);
	json(data, size);
	derive(data, size);
	return 0;
}
