/* Unit tests for lib/duration.c: parsing and formatting durations. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"
#include "unit.h"

/* Check that s parses to want milliseconds with no error string. */
static void
accepts(const char *s, uint64_t want)
{
	char		 name[192], shown[64];
	const char	*errstr = "unset";
	uint64_t	 ms = UINT64_MAX;
	int		 rc;

	rc = duration_parse(s, &ms, &errstr);
	snprintf(name, sizeof(name), "parse \"%s\" = %llu ms",
	    unit_show(s, shown, sizeof(shown)), (unsigned long long)want);
	CHECK(rc == 0 && ms == want, name);
	if (rc != 0)
		printf("# got rc %d, errstr %s\n", rc,
		    errstr != NULL ? errstr : "(null)");
	else if (ms != want)
		printf("# got %llu ms\n", (unsigned long long)ms);
}

/* Check that s is refused with -1 and an error string. */
static void
rejects(const char *s, const char *why)
{
	char		 name[192], shown[64];
	const char	*errstr = NULL;
	uint64_t	 ms = 0;
	int		 rc;

	rc = duration_parse(s, &ms, &errstr);
	snprintf(name, sizeof(name), "reject \"%s\" (%s)",
	    unit_show(s, shown, sizeof(shown)), why);
	CHECK(rc == -1 && errstr != NULL && *errstr != '\0', name);
	if (rc != -1)
		printf("# got rc %d, %llu ms\n", rc, (unsigned long long)ms);
}

/* Check that ms formats as want. */
static void
formats(uint64_t ms, const char *want)
{
	char	buf[64], name[128];

	memset(buf, 'X', sizeof(buf));
	duration_format(ms, buf, sizeof(buf));
	snprintf(name, sizeof(name), "format %llu ms = \"%s\"",
	    (unsigned long long)ms, want);
	CHECK(strcmp(buf, want) == 0, name);
	if (strcmp(buf, want) != 0)
		printf("# got \"%.63s\"\n", buf);
}

/* Parse what duration_format wrote and check it gives ms back. */
static void
roundtrip(uint64_t ms)
{
	char		 buf[64], name[128];
	const char	*errstr = NULL;
	uint64_t	 back = 0;

	duration_format(ms, buf, sizeof(buf));
	snprintf(name, sizeof(name), "format then parse %llu ms",
	    (unsigned long long)ms);
	CHECK(duration_parse(buf, &back, &errstr) == 0 && back == ms, name);
}

int
main(void)
{
	char	 small[4], huge[64];

	/* Plain numbers are seconds. */
	accepts("0", 0);
	accepts("1", 1000);
	accepts("10", 10000);
	accepts("0.5", 500);
	accepts("1.5", 1500);
	accepts("0.001", 1);
	accepts("007", 7000);
	accepts("0000000000000000000000001", 1000);

	/* Every suffix. */
	accepts("250ms", 250);
	accepts("0ms", 0);
	accepts("1ms", 1);
	accepts("1s", 1000);
	accepts("1.5s", 1500);
	accepts("0s", 0);
	accepts("2m", 120000);
	accepts("1.5m", 90000);
	accepts("1h", 3600000);
	accepts("0.25h", 900000);
	accepts("1d", 86400000);
	accepts("1.5d", 129600000);
	accepts("30d", UINT64_C(2592000000));

	/* Fractions of a millisecond round up: positive is never 0. */
	accepts("0.5ms", 1);
	accepts("0.0001", 1);
	accepts("1.0001s", 1001);
	accepts("1.2345s", 1235);
	accepts("0.000000001d", 1);
	accepts("0.0000000001s", 1);
	accepts("0.0000000000001d", 1);
	accepts("1.5000000000000000000000000", 1500);

	/* As sleep(1) takes them: no digit before or after the dot. */
	accepts(".5", 500);
	accepts("5.", 5000);
	accepts("1.s", 1000);
	accepts(".25m", 15000);
	accepts(".001ms", 1);

	/* Big but within DURATION_MAX_MS. */
	snprintf(huge, sizeof(huge), "%llums",
	    (unsigned long long)DURATION_MAX_MS);
	accepts(huge, DURATION_MAX_MS);
	accepts("104249991d", UINT64_C(104249991) * 86400000);

	/* Malformed. */
	rejects("", "empty");
	rejects("-1", "negative");
	rejects("-0", "negative zero");
	rejects("+1", "plus sign");
	rejects("1x", "unknown suffix");
	rejects("1sec", "unknown suffix");
	rejects("1S", "suffixes are lower case");
	rejects("1ms2", "trailing digits");
	rejects("1mss", "doubled suffix");
	rejects("1sm", "two suffixes");
	rejects("s", "suffix alone");
	rejects("ms", "suffix alone");
	rejects(".", "dot alone");
	rejects(".s", "dot and suffix");
	rejects("1.5.5", "two dots");
	rejects("1..", "two dots at the end");
	rejects("1..5", "two dots in a row");
	rejects(" 1", "leading space");
	rejects("1 ", "trailing space");
	rejects("1 s", "space before suffix");
	rejects("1\ts", "tab before suffix");
	rejects("1\n", "trailing newline");
	rejects("1e3", "exponent");
	rejects("1E3", "exponent");
	rejects("0x10", "hexadecimal");
	rejects("1,5", "decimal comma");
	rejects("nan", "NaN");
	rejects("NaN", "NaN");
	rejects("inf", "infinity");
	rejects("infinity", "infinity");
	rejects("Inf", "infinity");

	/* Too large to represent: never (DURATION_MAX_MS), not a wrap. */
	snprintf(huge, sizeof(huge), "%llums",
	    (unsigned long long)DURATION_MAX_MS + 1);
	accepts(huge, DURATION_MAX_MS);
	accepts("104249992d", DURATION_MAX_MS);
	accepts("18446744073709551615", DURATION_MAX_MS);
	accepts("18446744073709551616ms", DURATION_MAX_MS);
	accepts("99999999999999999999999999999999", DURATION_MAX_MS);
	accepts("213503982334601d", DURATION_MAX_MS);
	accepts("99999999999999999999999.5d", DURATION_MAX_MS);

	/* Formatting. */
	formats(0, "0.000s");
	formats(1, "0.001s");
	formats(999, "0.999s");
	formats(1000, "1.000s");
	formats(1500, "1.500s");
	formats(1234, "1.234s");
	formats(60000, "60.000s");
	formats(UINT64_C(86400000), "86400.000s");

	/* Truncation never overruns the buffer and stays terminated. */
	memset(small, 'X', sizeof(small));
	duration_format(1500, small, sizeof(small));
	CHECK(memchr(small, '\0', sizeof(small)) != NULL,
	    "format into a short buffer is NUL-terminated");

	roundtrip(0);
	roundtrip(1);
	roundtrip(1500);
	roundtrip(86400000);
	roundtrip(DURATION_MAX_MS);

	return unit_done();
}
