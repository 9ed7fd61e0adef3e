/*
 * Fuzz target for the duration parser: the input, cut at its first NUL, is
 * a command-line argument. duration_parse must agree with a second,
 * independent reading of [DIGITS][.[DIGITS]][UNIT] (a digit somewhere)
 * that rounds fractions of a millisecond up exactly and takes a value too
 * large for "never" (the maximum), and what duration_format prints must
 * parse back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "fuzz.h"


#define BIG	(DURATION_MAX_MS + 2)	/* stands for any larger value */

static int
digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * The reference: the value in milliseconds, rounded up, capped at BIG;
 * -1 if s is not a duration. *fdigits gets the number of fraction digits.
 */
static int
reference(const char *s, uint64_t *ms, size_t *fdigits)
{
	static const struct {
		const char	*name;
		uint64_t	 ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	const char	*frac = NULL, *p = s;
	uint64_t	 whole = 0, unit = 0, carry = 0, t;
	size_t		 i, nfrac = 0, nwhole = 0;
	int		 rest = 0;

	for (; digit(*p); p++, nwhole++)
		if ((whole = whole * 10 + (uint64_t)(*p - '0')) > BIG)
			whole = BIG;
	if (*p == '.') {
		frac = ++p;
		for (; digit(*p); p++)
			nfrac++;
	}
	if (nwhole + nfrac == 0)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].name) == 0)
			unit = units[i].ms;
	if (unit == 0)
		return -1;
	/*
	 * The fraction times the unit, by long multiplication from its last
	 * digit: carry ends as the whole milliseconds, rest says whether
	 * anything is left below one.
	 */
	for (i = nfrac; i > 0; i--) {
		t = (uint64_t)(frac[i - 1] - '0') * unit + carry;
		rest |= t % 10 != 0;
		carry = t / 10;
	}
	if (whole > BIG / unit)
		*ms = BIG;
	else if ((*ms = whole * unit + carry + (uint64_t)rest) > BIG)
		*ms = BIG;
	*fdigits = nfrac;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*s, buf[64];
	const char	*errstr = NULL;
	uint64_t	 ms = 0, want = 0, again = 0;
	size_t		 fdigits = 0;
	int		 r, ref;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	r = duration_parse(s, &ms, &errstr);
	ref = reference(s, &want, &fdigits);
	free(s);

	if (r == -1) {
		MUST(errstr != NULL);
		MUST(ref == -1);
		return 0;
	}
	MUST(ref == 0);
	MUST(ms <= DURATION_MAX_MS);
	/* Too large to represent: the maximum, "never". */
	if (want > DURATION_MAX_MS) {
		MUST(ms == DURATION_MAX_MS);
		return 0;
	}
	/*
	 * Beyond nine fraction digits duration_parse only knows that
	 * something follows, and may land one millisecond under the exact
	 * rounding up (e.g. "0.0000333339m" is 2.000034ms; it says 2).
	 */
	if (fdigits > 9)
		MUST(ms == want || ms + 1 == want);
	else
		MUST(ms == want);

	/* Printed as seconds with three decimals, it reads back the same. */
	duration_format(ms, buf, sizeof(buf));
	MUST(strlen(buf) < sizeof(buf) - 1);
	MUST(duration_parse(buf, &again, &errstr) == 0 && again == ms);
	return 0;
}
