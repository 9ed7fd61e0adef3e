/* Parsing and printing of durations ("1.5s", "200ms", "2m"). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"

static const struct {
	const char	*suffix;
	uint64_t	 ms;
} units[] = {
	{ "ms", 1 },
	{ "s", 1000 },
	{ "m", UINT64_C(60) * 1000 },
	{ "h", UINT64_C(60) * 60 * 1000 },
	{ "d", UINT64_C(24) * 60 * 60 * 1000 },
	{ "", 1000 },
};

/*
 * Parse DIGITS[.[DIGITS]][SUFFIX] or .DIGITS[SUFFIX] into milliseconds (as
 * sleep(1) takes "5." and ".5"), rounding fractions of a millisecond up so
 * that a positive duration never becomes 0 (0 disables). A value too large
 * to represent is DURATION_MAX_MS, which no wait ever reaches: "never",
 * never a wrap to a short time.
 */
int
duration_parse(const char *s, uint64_t *ms, const char **errstr)
{
	uint64_t	 whole = 0, frac = 0, scale = 1, unit = 0, total;
	uint64_t	 rest = 0;
	const char	*p = s;
	size_t		 i;
	int		 digits = 0, huge = 0;

	for (; isdigit((unsigned char)*p); p++, digits++) {
		if (whole > DURATION_MAX_MS)
			huge = 1;
		else
			whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, digits++) {
			if (scale < 1000000000) {	/* nine digits suffice */
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			} else if (*p != '0')
				rest = 1;	/* beyond: only rounds up */
		}
	}
	if (digits == 0) {
		*errstr = "not a duration";
		return -1;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix) == 0) {
			unit = units[i].ms;
			break;
		}
	}
	if (unit == 0) {
		*errstr = "unknown unit (use ms, s, m, h or d)";
		return -1;
	}
	if (huge || whole > DURATION_MAX_MS / unit)
		total = DURATION_MAX_MS;
	else
		total = whole * unit + (frac * unit + scale - 1 + rest) / scale;
	*ms = total > DURATION_MAX_MS ? DURATION_MAX_MS : total;
	return 0;
}

/* Print milliseconds as seconds with three decimals: "1.500s". */
void
duration_format(uint64_t ms, char *buf, size_t len)
{
	snprintf(buf, len, "%llu.%03llus", (unsigned long long)(ms / 1000),
	    (unsigned long long)(ms % 1000));
}
