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
 * Parse DIGITS[.DIGITS][SUFFIX] into milliseconds, rounding fractions of a
 * millisecond up so that a positive duration never becomes 0 (0 disables).
 */
int
duration_parse(const char *s, uint64_t *ms, const char **errstr)
{
	uint64_t	 whole = 0, frac = 0, scale = 1, unit = 0, total;
	uint64_t	 rest = 0;
	const char	*p = s;
	size_t		 i;

	if (!isdigit((unsigned char)*p)) {
		*errstr = "not a duration";
		return -1;
	}
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > DURATION_MAX_MS) {
			*errstr = "too large";
			return -1;
		}
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p)) {
			*errstr = "not a duration";
			return -1;
		}
		for (; isdigit((unsigned char)*p); p++) {
			if (scale < 1000000000) {	/* nine digits suffice */
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			} else if (*p != '0')
				rest = 1;	/* beyond: only rounds up */
		}
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
	if (whole > DURATION_MAX_MS / unit) {
		*errstr = "too large";
		return -1;
	}
	total = whole * unit + (frac * unit + scale - 1 + rest) / scale;
	if (total > DURATION_MAX_MS) {
		*errstr = "too large";
		return -1;
	}
	*ms = total;
	return 0;
}

/* Print milliseconds as seconds with three decimals: "1.500s". */
void
duration_format(uint64_t ms, char *buf, size_t len)
{
	snprintf(buf, len, "%llu.%03llus", (unsigned long long)(ms / 1000),
	    (unsigned long long)(ms % 1000));
}
