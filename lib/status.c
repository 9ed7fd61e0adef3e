/* What --status prints: an aligned table for people, or one JSON document. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "key.h"
#include "status.h"

struct status {
	struct proto_status_run	*runs;
	size_t			 nruns;
	struct proto_counters	 counters;
	int			 have_server;
};

struct status *
status_new(void)
{
	return calloc(1, sizeof(struct status));
}

int
status_add(struct status *st, const struct proto_status_run *r)
{
	struct proto_status_run	*n;

	n = reallocarray(st->runs, st->nruns + 1, sizeof(*n));
	if (n == NULL)
		return -1;
	st->runs = n;
	st->runs[st->nruns++] = *r;
	return 0;
}

void
status_counters(struct status *st, const struct proto_counters *c)
{
	st->counters = *c;
	st->have_server = 1;
}

void
status_free(struct status *st)
{
	if (st == NULL)
		return;
	free(st->runs);
	free(st);
}

/* 1023 -> "1023B", 1536 -> "1.5K", and so on up to T. */
void
status_human_bytes(uint64_t n, char *buf, size_t len)
{
	const char	*units = "BKMGT";
	double		 v = (double)n;
	int		 u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lluB", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f%c", v, units[u]);
}

/* Seconds for people: "0.4s", "12s", "3m05s", "2h10m". */
static void
status_age(uint64_t ms, char *buf, size_t len)
{
	uint64_t	s = ms / 1000;

	if (s < 10)
		snprintf(buf, len, "%.1fs", (double)ms / 1000);
	else if (s < 60)
		snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)s / 60,
		    (unsigned long long)s % 60);
	else
		snprintf(buf, len, "%lluh%02llum",
		    (unsigned long long)s / 3600,
		    (unsigned long long)(s % 3600) / 60);
}

#define NCOLS	8
#define BACKEND_COL	6	/* shown only when a run has a backend */

/* Append to a malloc'd string; it becomes NULL if memory runs out. */
static void
status_append(char **s, const char *more)
{
	char	*t;

	if (*s == NULL || asprintf(&t, "%s%s", *s, more) == -1)
		t = NULL;
	free(*s);
	*s = t;
}

static const char *const role_names[] = { NULL, "pending", "leader",
    "follower", "local" };

/* The BACKEND cell: this host's part in a run across hosts. */
static char *
status_backend(const struct proto_status_run *r)
{
	char	*s = NULL, *esc, host[PROTO_HOLDER_MAX + 1];

	if (r->backend == ROLE_NONE)
		return strdup("-");
	if (r->backend == ROLE_LEADER)
		asprintf(&s, "leader g%llu", (unsigned long long)r->gen);
	if (r->backend != ROLE_FOLLOWER)
		return s != NULL ? s : strdup(role_names[r->backend]);
	/* host:pid:nonce: the host is what a person wants to see. */
	proto_holder_host(r->holder, host, sizeof(host));
	if ((esc = key_escape(host, strlen(host))) == NULL)
		return NULL;
	asprintf(&s, "follower g%llu of %s", (unsigned long long)r->gen, esc);
	free(esc);
	return s;
}

/* One table cell per column, escaped for the terminal. */
static void
status_cells(const struct proto_status_run *r, char *cells[NCOLS])
{
	char	buf[64];

	cells[0] = key_escape(r->key, r->keylen);
	if (cells[0] != NULL && (r->flags & STATUS_TTY))
		status_append(&cells[0], " (tty)");
	if (cells[0] != NULL && (r->flags & STATUS_DETACHED))
		status_append(&cells[0], " (detached)");
	if (cells[0] != NULL && (r->flags & STATUS_LINGER)) {
		status_age(r->linger_ms, buf, sizeof(buf));
		status_append(&cells[0], " (ended, lingers ");
		status_append(&cells[0], buf);
		status_append(&cells[0], ")");
	}
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)r->run_id);
	cells[1] = strdup(buf);
	snprintf(buf, sizeof(buf), "%d", r->pid);
	cells[2] = strdup(r->pid > 0 ? buf : "-");	/* 0: it has ended */
	status_age(r->age_ms, buf, sizeof(buf));
	cells[3] = strdup(buf);
	if (r->queued > 0)	/* --fresh callers waiting for the next run */
		snprintf(buf, sizeof(buf), "%u+%u", r->waiters, r->queued);
	else
		snprintf(buf, sizeof(buf), "%u", r->waiters);
	cells[4] = strdup(buf);
	status_human_bytes(r->bytes, buf, sizeof(buf));
	cells[5] = strdup(buf);
	cells[6] = status_backend(r);
	cells[7] = key_escape(r->command, strlen(r->command));
}

/* How many columns s takes on a terminal (escaped: all printable). */
static size_t
status_width(const char *s)
{
	mbstate_t	 st;
	wchar_t		 wc;
	size_t		 n, w = 0, left = strlen(s);
	int		 cw;

	memset(&st, 0, sizeof(st));
	while (left > 0) {
		n = mbrtowc(&wc, s, left, &st);
		if (n == 0 || n == (size_t)-1 || n == (size_t)-2) {
			memset(&st, 0, sizeof(st));
			n = 1;
			cw = 1;
		} else if ((cw = wcwidth(wc)) < 0)
			cw = 1;
		w += (size_t)cw;
		s += n;
		left -= n;
	}
	return w;
}

/* One cell padded to its column's width; the last one ends the line. */
static void
status_cell(FILE *f, const char *s, size_t width, int last)
{
	size_t	w;

	if (last) {
		fprintf(f, "%s\n", s);
		return;
	}
	fputs(s, f);
	for (w = status_width(s); w < width + 2; w++)
		fputc(' ', f);
}

/* The runs as an aligned table, then the counters. */
void
status_print_table(const struct status *st, FILE *f)
{
	static const char	*head[NCOLS] = { "KEY", "RUN", "PID", "AGE",
				    "WAITERS", "OUTPUT", "BACKEND", "COMMAND" };
	char			*(*cells)[NCOLS];
	size_t			 width[NCOLS], i, j, w;
	int			 backend = 0;

	cells = calloc(st->nruns ? st->nruns : 1, sizeof(*cells));
	if (cells == NULL)
		return;
	for (j = 0; j < NCOLS; j++)
		width[j] = status_width(head[j]);
	for (i = 0; i < st->nruns; i++) {
		status_cells(&st->runs[i], cells[i]);
		for (j = 0; j < NCOLS; j++) {
			w = cells[i][j] ? status_width(cells[i][j]) : 1;
			if (w > width[j])
				width[j] = w;
		}
	}
	/* The BACKEND column only when some run has a backend. */
	for (i = 0; i < st->nruns; i++)
		if (st->runs[i].backend != ROLE_NONE)
			backend = 1;
	for (j = 0; j < NCOLS; j++)
		if (j != BACKEND_COL || backend)
			status_cell(f, head[j], width[j], j + 1 == NCOLS);
	for (i = 0; i < st->nruns; i++) {
		for (j = 0; j < NCOLS; j++) {
			if (j != BACKEND_COL || backend)
				status_cell(f, cells[i][j] ? cells[i][j] : "?",
				    width[j], j + 1 == NCOLS);
			free(cells[i][j]);
		}
	}
	free(cells);
	fprintf(f, "runs started %llu, invocations joined %llu, "
	    "invocations total %llu\n",
	    (unsigned long long)st->counters.runs_started,
	    (unsigned long long)st->counters.invocations_joined,
	    (unsigned long long)st->counters.invocations_total);
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t
utf8_len(const unsigned char *s, size_t left)
{
	size_t		n, i;
	uint32_t	c;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > left)
		return 0;
	c = s[0] & (0xff >> (n + 1));
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 ||
	    c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

/*
 * A JSON string. Valid UTF-8 passes through, control characters are
 * written \u00XX; a byte that is not part of any UTF-8 character is
 * written as the lone surrogate \udcXX (as Python's "surrogateescape"
 * reads such bytes), so that no two byte strings give the same JSON and
 * the document stays valid.
 */
void
status_json_string(FILE *f, const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n;

	fputc('"', f);
	while (i < len) {
		if (p[i] == '"' || p[i] == '\\') {
			fprintf(f, "\\%c", p[i]);
			i++;
		} else if (p[i] < 0x20 || p[i] == 0x7f) {
			fprintf(f, "\\u%04x", p[i]);
			i++;
		} else if ((n = utf8_len(p + i, len - i)) == 0) {
			fprintf(f, "\\udc%02x", p[i]);
			i++;
		} else {
			fwrite(p + i, 1, n, f);
			i += n;
		}
	}
	fputc('"', f);
}

/*
 * ,"argv":[...],"argv_cut":BOOL: the arguments; a status frame holds only
 * so many bytes of them, and what did not fit is cut.
 */
static void
status_json_argv(FILE *f, const struct proto_status_run *r)
{
	const char	*p = r->argv, *end = r->argv + r->argvlen, *nul;

	fputs(",\"argv\":[", f);
	while (p < end) {
		if ((nul = memchr(p, '\0', (size_t)(end - p))) == NULL)
			nul = end;
		if (p != r->argv)
			fputc(',', f);
		status_json_string(f, p, (size_t)(nul - p));
		p = nul + 1;
	}
	fprintf(f, "],\"argv_cut\":%s", r->argvlen == PROTO_COMMAND_MAX ?
	    "true" : "false");
}

/* The runs and the counters as one JSON document; "server" null: none. */
void
status_print_json(const struct status *st, FILE *f)
{
	const struct proto_status_run	*r;
	size_t				 i;

	fputs("{\"server\":", f);
	if (st->have_server)
		fprintf(f, "{\"pid\":%d,\"protocol\":%u}",
		    st->counters.server_pid, st->counters.protocol);
	else
		fputs("null", f);
	fprintf(f, ",\"counters\":{\"runs_started\":%llu,"
	    "\"invocations_joined\":%llu,\"invocations_total\":%llu},"
	    "\"runs\":[", (unsigned long long)st->counters.runs_started,
	    (unsigned long long)st->counters.invocations_joined,
	    (unsigned long long)st->counters.invocations_total);
	for (i = 0; i < st->nruns; i++) {
		r = &st->runs[i];
		fputs(i > 0 ? ",{\"key\":" : "{\"key\":", f);
		status_json_string(f, r->key, r->keylen);
		fprintf(f, ",\"run_id\":%llu,\"pid\":",
		    (unsigned long long)r->run_id);
		if (r->pid > 0)
			fprintf(f, "%d", r->pid);
		else
			fputs("null", f);	/* ended */
		fprintf(f, ",\"age_ms\":%llu,\"waiters\":%u,\"queued\":%u,"
		    "\"output_bytes\":%llu,\"command\":",
		    (unsigned long long)r->age_ms, r->waiters, r->queued,
		    (unsigned long long)r->bytes);
		status_json_string(f, r->command, strlen(r->command));
		status_json_argv(f, r);
		fputs(",\"cwd\":", f);
		if (r->cwd[0] != '\0')
			status_json_string(f, r->cwd, strlen(r->cwd));
		else
			fputs("null", f);
		fprintf(f, ",\"tty\":%s,\"joinable\":%s,\"keep\":%s,"
		    "\"lingering\":%s,\"linger_left_ms\":%llu,\"backend\":",
		    (r->flags & STATUS_TTY) ? "true" : "false",
		    (r->flags & STATUS_DETACHED) ? "false" : "true",
		    (r->flags & STATUS_KEEP) ? "true" : "false",
		    (r->flags & STATUS_LINGER) ? "true" : "false",
		    (unsigned long long)r->linger_ms);
		if (r->backend == ROLE_NONE)
			fputs("null}", f);
		else {
			fprintf(f, "{\"role\":\"%s\",\"gen\":%llu,"
			    "\"holder\":", role_names[r->backend],
			    (unsigned long long)r->gen);
			status_json_string(f, r->holder, strlen(r->holder));
			fputs("}}", f);
		}
	}
	fputs("]}\n", f);
}
