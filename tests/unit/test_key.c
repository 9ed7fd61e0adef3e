/* Unit tests for lib/key.c: checking, deriving and escaping keys. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "key.h"
#include "unit.h"

#define BIG_KEY	(64 * 1024)	/* far over any key limit */

/* Derive the key of cwd and argv into out (KEY_DERIVED_LEN + 1 bytes). */
static void
derive(const char *cwd, int argc, const char *const *argv, char *out)
{
	memset(out, 'X', KEY_DERIVED_LEN + 1);
	key_derive(cwd, argc, (char *const *)argv, out, KEY_DERIVED_LEN + 1);
}

/* Return 1 if cwd and argv derive the same key as cwd2 and argv2. */
static int
same_key(const char *cwd, int argc, const char *const *argv,
    const char *cwd2, int argc2, const char *const *argv2)
{
	char	k1[KEY_DERIVED_LEN + 1], k2[KEY_DERIVED_LEN + 1];

	derive(cwd, argc, argv, k1);
	derive(cwd2, argc2, argv2, k2);
	return strcmp(k1, k2) == 0;
}

/* Return 1 if s looks like a derived key: "auto-" and 64 lowercase hex. */
static int
is_derived(const char *s)
{
	size_t	i;

	if (strlen(s) != KEY_DERIVED_LEN || strncmp(s, "auto-", 5) != 0)
		return 0;
	for (i = 5; i < KEY_DERIVED_LEN; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

/* Return 1 if the len bytes at s are all printable ASCII. */
static int
all_printable(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			return 0;
	}
	return 1;
}

/* Check key_check's answer for len bytes at key. */
static void
check_key(const char *key, size_t len, int want, const char *name)
{
	const char	*errstr = NULL;
	int		 rc;

	rc = key_check(key, len, &errstr);
	if (want == 0)
		CHECK(rc == 0, name);
	else
		CHECK(rc == -1 && errstr != NULL && *errstr != '\0', name);
}

/* key_check: length limits and NUL bytes. */
static void
test_check(void)
{
	char	*big;
	char	 bytes[255];
	size_t	 i;

	big = malloc(BIG_KEY);
	if (big == NULL)
		abort();
	memset(big, 'k', BIG_KEY);

	check_key("a", 1, 0, "check: one byte is a key");
	check_key("deploy", 6, 0, "check: a word is a key");
	check_key("a b\tc\nd", 7, 0, "check: blanks and newline allowed");
	check_key(big, 1024, 0, "check: 1024 bytes is a key");
	check_key(big, 1023, 0, "check: 1023 bytes is a key");
	check_key(big, 1025, -1, "check: 1025 bytes is too long");
	check_key(big, BIG_KEY, -1, "check: 64 KiB is too long");
	check_key("", 0, -1, "check: empty key refused");
	check_key("a\0b", 3, -1, "check: NUL inside refused");
	check_key("\0", 1, -1, "check: NUL alone refused");
	check_key("ab\0", 3, -1, "check: trailing NUL refused");
	big[1000] = '\0';
	check_key(big, 1024, -1, "check: NUL at 1000 of 1024 refused");

	/* Every byte but NUL may appear in a key. */
	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (char)(i + 1);
	check_key(bytes, sizeof(bytes), 0, "check: bytes 1 to 255 allowed");

	free(big);
}

/* key_derive: format, stability, and argument boundaries. */
static void
test_derive(void)
{
	const char	*a_bc[] = { "a", "b c", NULL };
	const char	*a_b_c[] = { "a", "b", "c", NULL };
	const char	*ab_c[] = { "ab", "c", NULL };
	const char	*a_bc2[] = { "a", "bc", NULL };
	const char	*abc[] = { "abc", NULL };
	const char	*a_empty[] = { "a", "", NULL };
	const char	*a[] = { "a", NULL };
	const char	*empty_a[] = { "", "a", NULL };
	const char	*x_a[] = { "x", "a", NULL };
	const char	*aa[] = { "aa", NULL };
	const char	*empty[] = { "", NULL };
	const char	*ls[] = { "ls", "-l", NULL };
	const char	*ls2[] = { "ls", "-l", NULL };
	const char	*sh[] = { "/bin/sh", "-c", "make build", NULL };
	char		 k1[KEY_DERIVED_LEN + 1], k2[KEY_DERIVED_LEN + 1];
	char		 k3[KEY_DERIVED_LEN + 1], small[8];

	derive("/home/u/src", 2, ls, k1);
	CHECK(is_derived(k1), "derive: auto- and 64 lowercase hex");
	derive("/home/u/src", 2, ls2, k2);
	CHECK(strcmp(k1, k2) == 0, "derive: equal inputs, equal keys");
	derive("/home/u/src", 2, ls, k3);
	CHECK(strcmp(k1, k3) == 0, "derive: same call twice, same key");
	derive("/home/u", 2, ls, k2);
	CHECK(is_derived(k2) && strcmp(k1, k2) != 0,
	    "derive: different cwd, different key");
	CHECK(!same_key("/home/u/src", 2, ls, "/home/u/src/", 2, ls),
	    "derive: trailing slash in cwd counts");

	CHECK(!same_key("/", 2, a_bc, "/", 3, a_b_c),
	    "derive: a \"b c\" differs from a b c");

	CHECK(!same_key("/", 2, ab_c, "/", 2, a_bc2),
	    "derive: ab c differs from a bc");
	CHECK(!same_key("/", 2, ab_c, "/", 1, abc) &&
	    !same_key("/", 2, a_bc2, "/", 1, abc),
	    "derive: abc differs from ab c and a bc");

	CHECK(!same_key("/", 2, a_empty, "/", 1, a),
	    "derive: a \"\" differs from a");
	CHECK(!same_key("/", 2, a_empty, "/", 2, empty_a) &&
	    !same_key("/", 1, a, "/", 2, empty_a),
	    "derive: \"\" a differs from a \"\" and a");

	/* The cwd and argv must not run into each other. */
	CHECK(!same_key("/x", 1, a, "/", 2, x_a),
	    "derive: cwd /x a differs from / x a");
	CHECK(!same_key("/xa", 1, a, "/x", 1, aa) &&
	    !same_key("/x", 1, aa, "/xaa", 1, empty),
	    "derive: cwd and argv boundaries kept");

	/* Only the first argc strings count. */
	CHECK(same_key("/", 1, a_b_c, "/", 1, a),
	    "derive: argv past argc ignored");

	derive("/srv", 3, sh, k1);
	CHECK(is_derived(k1), "derive: shell command gives a key");

	/* A derived key is itself a valid key. */
	{
		const char	*errstr = NULL;

		CHECK(key_check(k1, strlen(k1), &errstr) == 0,
		    "derive: the result passes key_check");
	}

	/* A short buffer is never overrun and stays terminated. */
	memset(small, 'X', sizeof(small));
	key_derive("/", 1, (char *const *)a, small, sizeof(small));
	CHECK(memchr(small, '\0', sizeof(small)) != NULL,
	    "derive: short buffer is NUL-terminated");
}

/* Escape len bytes at key and check the result against want (or NULL). */
static void
check_escape(const char *key, size_t len, const char *want, const char *name)
{
	char	*s;

	s = key_escape(key, len);
	if (s == NULL) {
		CHECK(0, name);
		return;
	}
	if (want != NULL)
		CHECK(strcmp(s, want) == 0, name);
	else
		CHECK(all_printable(s, strlen(s)) && strlen(s) >= len, name);
	if (want != NULL && strcmp(s, want) != 0)
		printf("# got \"%s\"\n", s);
	free(s);
}

/* key_escape: the result is printable ASCII whatever the bytes. */
static void
test_escape(void)
{
	char	 bytes[256], *s, *big;
	size_t	 i;
	int	 ok;

	check_escape("deploy", 6, "deploy", "escape: plain key unchanged");
	check_escape("a b", 3, "a b", "escape: space kept");
	check_escape("a/b-c_d.e:f", 11, "a/b-c_d.e:f",
	    "escape: punctuation unchanged");
	check_escape("a\nb", 3, NULL, "escape: newline escaped");
	check_escape("\033[2J", 4, NULL, "escape: terminal escape escaped");
	check_escape("caf\xc3\xa9", 5, NULL, "escape: UTF-8 escaped");
	check_escape("\x7f", 1, NULL, "escape: DEL escaped");

	s = key_escape("a\nb", 3);
	CHECK(s != NULL && strchr(s, '\n') == NULL && strlen(s) > 3,
	    "escape: no raw newline left");
	free(s);

	/* A NUL within len does not end the key early. */
	s = key_escape("a\0b", 3);
	CHECK(s != NULL && all_printable(s, strlen(s)) && strlen(s) > 2 &&
	    strchr(s, 'b') != NULL, "escape: embedded NUL escaped, not cut");
	free(s);

	/* Only len bytes are read. */
	s = key_escape("abcdef", 3);
	CHECK(s != NULL && strcmp(s, "abc") == 0, "escape: stops at len");
	free(s);

	/* Every single byte escapes to printable ASCII. */
	ok = 1;
	for (i = 0; i < 256; i++) {
		char	c = (char)i;

		s = key_escape(&c, 1);
		if (s == NULL || *s == '\0' || !all_printable(s, strlen(s)))
			ok = 0;
		free(s);
	}
	CHECK(ok, "escape: each byte alone gives printable ASCII");

	/* All bytes at once. */
	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (char)i;
	s = key_escape(bytes, sizeof(bytes));
	CHECK(s != NULL && all_printable(s, strlen(s)) &&
	    strlen(s) >= sizeof(bytes), "escape: bytes 0 to 255 printable");
	free(s);

	/* Distinct keys escape to distinct strings. */
	{
		char	*e1, *e2;

		e1 = key_escape("a\\nb", 4);
		e2 = key_escape("a\nb", 3);
		CHECK(e1 != NULL && e2 != NULL && strcmp(e1, e2) != 0,
		    "escape: backslash-n and newline differ");
		free(e1);
		free(e2);
	}

	/* The largest key, all control bytes. */
	big = malloc(1024);
	if (big == NULL)
		abort();
	memset(big, '\001', 1024);
	s = key_escape(big, 1024);
	CHECK(s != NULL && all_printable(s, strlen(s)) && strlen(s) > 1024,
	    "escape: 1024 control bytes");
	free(s);
	free(big);
}

int
main(void)
{
	test_check();
	test_derive();
	test_escape();
	return unit_done();
}
