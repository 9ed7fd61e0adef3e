/* sfrun: run a command once for all who ask for it at the same time. */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "duration.h"
#include "fds.h"
#include "key.h"
#include "proto.h"
#include "redisurl.h"

enum {
	OPT_RUN_TIMEOUT = 256,
	OPT_KILL_AFTER,
	OPT_KEEP,
	OPT_LINGER,
	OPT_STATUS,
	OPT_JSON,
	OPT_FORGET,
	OPT_STOP,
	OPT_BACKEND,
	OPT_PREFIX,
	OPT_LOSS,
	OPT_FALLBACK,
	OPT_LEASE,
	OPT_BACKEND_LINGER,
	OPT_TTY,
	OPT_FRESH
};

static const struct option longopts[] = {
	{ "key",		required_argument, NULL, 'k' },
	{ "command",		required_argument, NULL, 'c' },
	{ "timeout",		required_argument, NULL, 't' },
	{ "run-timeout",	required_argument, NULL, OPT_RUN_TIMEOUT },
	{ "kill-after",		required_argument, NULL, OPT_KILL_AFTER },
	{ "join-window",	required_argument, NULL, 'w' },
	{ "no-join",		no_argument,	   NULL, 'n' },
	{ "conflict-exit-code",	required_argument, NULL, 'E' },
	{ "detach",		no_argument,	   NULL, 'd' },
	{ "keep",		no_argument,	   NULL, OPT_KEEP },
	{ "linger",		required_argument, NULL, OPT_LINGER },
	{ "tty",		no_argument,	   NULL, OPT_TTY },
	{ "fresh",		no_argument,	   NULL, OPT_FRESH },
	{ "verbose",		no_argument,	   NULL, 'v' },
	{ "quiet",		no_argument,	   NULL, 'q' },
	{ "socket",		required_argument, NULL, 'S' },
	{ "status",		no_argument,	   NULL, OPT_STATUS },
	{ "json",		no_argument,	   NULL, OPT_JSON },
	{ "forget",		required_argument, NULL, OPT_FORGET },
	{ "stop-server",	no_argument,	   NULL, OPT_STOP },
	{ "backend",		required_argument, NULL, OPT_BACKEND },
	{ "backend-prefix",	required_argument, NULL, OPT_PREFIX },
	{ "on-leader-loss",	required_argument, NULL, OPT_LOSS },
	{ "fallback",		required_argument, NULL, OPT_FALLBACK },
	{ "lease",		required_argument, NULL, OPT_LEASE },
	{ "backend-linger",	required_argument, NULL, OPT_BACKEND_LINGER },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL,			0,		   NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: sfrun [options] [-k KEY] [--] COMMAND [ARG ...]\n"
"       sfrun [options] [-k KEY] -c 'SHELL COMMAND'\n"
"       sfrun --status [--json] | --forget KEY | --stop-server\n"
"       sfrun --help | --version\n"
"\n"
"Concurrent invocations with the same KEY share ONE run of the command:\n"
"each gets its whole stdout and stderr and exits with its status.\n"
"\n"
"  -k, --key KEY          coalescing key (default: from cwd and command)\n"
"  -c, --command STRING   run STRING with /bin/sh -c\n"
"  -t, --timeout DUR      stop waiting after DUR (exit 124); the run goes on\n"
"      --run-timeout DUR  end the run after DUR (SIGTERM, exit 124)\n"
"      --kill-after DUR   SIGKILL this long after SIGTERM (default 5s)\n"
"  -w, --join-window DUR  join only a run younger than DUR\n"
"  -n, --no-join          exit 75 if the key is already running\n"
"      --fresh            only a run that starts after this call: wait for\n"
"                         the one in flight to end, then share the next\n"
"  -E, --conflict-exit-code N  the exit status of -n instead of 75\n"
"  -d, --detach           start or join, then return at once\n"
"      --keep             finish the run even if every waiter leaves\n"
"      --linger DUR       keep the finished result joinable for DUR\n"
"      --tty              run the command on a pseudo-terminal\n"
"  -v, --verbose          say whether this call led or joined\n"
"  -q, --quiet            no notices (led, joined, skipped); errors still\n"
"  -S, --socket PATH      server socket (default: $SFRUN_SOCKET, or per user)\n"
"\n"
"Across hosts (password from $SFRUN_REDIS_PASSWORD[_FILE], never argv):\n"
"      --backend URL      coalesce through Redis: redis://[user@]host[:port][/db],\n"
"                         rediss://... (TLS: $SFRUN_REDIS_CACERT, _CERT, _KEY)\n"
"                         or unix:///path[?db=N] (default: $SFRUN_BACKEND)\n"
"      --backend-prefix P prefix of the Redis keys (default sfrun:)\n"
"      --on-leader-loss fail|rerun  leader host lost: exit 75, or run again\n"
"      --fallback local|fail        Redis unreachable: run here, or exit 125\n"
"      --lease DUR        how long a leader's claim lasts unrenewed (15s)\n"
"      --backend-linger DUR  keep a finished run's log in Redis (30s)\n"
"\n"
"DUR: a number with ms, s (default), m, h or d; 0 disables.\n"
"Exit: the command's status; 124 timeout; 125 sfrun failed; 126/127 the\n"
"command could not run; 75 --no-join found the key running, or the leader\n"
"host was lost.\n");
}

/*
 * A usage error: one line, exit 125, nothing run. The argument is shown
 * escaped and cut to its first 60 bytes: a key may be 1024 bytes of
 * anything.
 */
static void __attribute__((noreturn))
bad(const char *what, const char *arg, const char *why)
{
	size_t	 len;
	char	*esc;

	if (arg != NULL) {
		len = strlen(arg);
		esc = key_escape(arg, len > 60 ? 60 : len);
		fprintf(stderr, "sfrun: %s '%s%s': %s (see sfrun --help)\n",
		    what, esc != NULL ? esc : "?", len > 60 ? "..." : "", why);
		free(esc);
	} else
		fprintf(stderr, "sfrun: %s (see sfrun --help)\n", what);
	exit(125);
}

/* An option getopt did not take: unknown, or missing its argument. */
static void __attribute__((noreturn))
unknown(const char *arg, int opt)
{
	const struct option	*lo;
	char			 name[3] = { '-', (char)opt, '\0' };
	int			 islong = strncmp(arg, "--", 2) == 0;
	const char		*shown = islong ? arg : name;

	for (lo = longopts; lo->name != NULL; lo++) {
		if ((opt != 0 && lo->val == opt) || (islong &&
		    strcmp(arg + 2, lo->name) == 0))
			bad("option", shown, "needs an argument");
	}
	bad("unknown option", shown, "not an sfrun option");
}

/*
 * The backend URL, from --backend (argv) or SFRUN_BACKEND; "none" or empty
 * is no backend. A password is refused on argv, where ps would show it.
 */
static const char *
backend_url(const char *arg)
{
	struct redis_url	 u;
	const char		*s = arg, *errstr;

	if (s == NULL)
		s = getenv("SFRUN_BACKEND");
	if (s == NULL || *s == '\0' || strcmp(s, "none") == 0)
		return NULL;
	if (redisurl_parse(s, &u, &errstr) == -1)
		bad(arg != NULL ? "--backend" : "SFRUN_BACKEND", s, errstr);
	if (arg != NULL && u.pass[0] != '\0')
		bad("--backend: a password on the command line shows in ps; "
		    "set SFRUN_REDIS_PASSWORD or SFRUN_REDIS_PASSWORD_FILE",
		    NULL, NULL);
	return s;
}

/* An option that is "fail" or on: flags with bit cleared or set. */
static uint32_t
flag(const char *opt, const char *arg, const char *on, uint32_t bit,
    uint32_t flags)
{
	char	why[64];

	if (strcmp(arg, on) == 0)
		return flags | bit;
	if (strcmp(arg, "fail") == 0)
		return flags & ~bit;
	snprintf(why, sizeof(why), "must be fail or %s", on);
	bad(opt, arg, why);
}

static uint64_t
dur(const char *opt, const char *arg)
{
	const char	*errstr;
	uint64_t	 ms;

	if (duration_parse(arg, &ms, &errstr) == -1)
		bad(opt, arg, errstr);
	return ms;
}

/* What the command line asks for besides a run's options. */
struct mode {
	const char	*command;	/* -c */
	const char	*forget;
	const char	*backend;
	int		 status;
	int		 stop;
	int		 json;
};

/*
 * Parse the options into o and m (-h and -V are answered here); returns
 * the index of the first argument that is not one.
 */
static int
options(int argc, char *argv[], struct client_opts *o, struct mode *m)
{
	const char	*errstr;
	int		 ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+k:c:t:w:nE:dvqS:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'k':
			if (key_check(optarg, strlen(optarg), &errstr) == -1)
				bad("--key", optarg, errstr);
			o->key = optarg;
			break;
		case 'c':
			m->command = optarg;
			break;
		case 't':
			o->timeout_ms = dur("--timeout", optarg);
			break;
		case OPT_RUN_TIMEOUT:
			o->run_timeout_ms = dur("--run-timeout", optarg);
			break;
		case OPT_KILL_AFTER:
			o->kill_after_ms = dur("--kill-after", optarg);
			break;
		case 'w':
			o->join_window_ms = dur("--join-window", optarg);
			break;
		case 'n':
			o->flags |= RUN_NOJOIN;
			break;
		case 'E':
			o->conflict_code = (int)strtonum(optarg, 0, 255,
			    &errstr);
			if (errstr != NULL)
				bad("--conflict-exit-code", optarg,
				    "must be a number from 0 to 255");
			break;
		case 'd':
			o->flags |= RUN_DETACH;
			break;
		case OPT_KEEP:
			o->flags |= RUN_KEEP;
			break;
		case OPT_LINGER:
			o->linger_ms = dur("--linger", optarg);
			break;
		case OPT_TTY:
			o->flags |= RUN_TTY;
			break;
		case OPT_FRESH:
			o->flags |= RUN_FRESH;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'q':
			o->quiet = 1;
			break;
		case 'S':
			if (*optarg == '\0')
				bad("--socket", optarg, "empty path");
			o->socket = optarg;
			break;
		case OPT_STATUS:
			m->status = 1;
			break;
		case OPT_JSON:
			m->json = 1;
			break;
		case OPT_FORGET:
			if (key_check(optarg, strlen(optarg), &errstr) == -1)
				bad("--forget", optarg, errstr);
			m->forget = optarg;
			break;
		case OPT_STOP:
			m->stop = 1;
			break;
		case OPT_BACKEND:
			if (*optarg == '\0')
				bad("--backend", optarg, "empty URL");
			m->backend = optarg;
			break;
		case OPT_PREFIX:
			if (strlen(optarg) > 256)
				bad("--backend-prefix", optarg, "too long");
			o->prefix = optarg;
			break;
		case OPT_LOSS:
			o->backend_flags = flag("--on-leader-loss", optarg,
			    "rerun", BACKEND_RERUN, o->backend_flags);
			break;
		case OPT_FALLBACK:
			o->backend_flags = flag("--fallback", optarg, "local",
			    BACKEND_FALLBACK, o->backend_flags);
			break;
		case OPT_LEASE:
			o->lease_ms = dur("--lease", optarg);
			if (o->lease_ms < PROTO_LEASE_MIN_MS)
				bad("--lease", optarg, "must be at least 3s");
			break;
		case OPT_BACKEND_LINGER:
			o->backend_linger_ms = dur("--backend-linger", optarg);
			if (o->backend_linger_ms == 0)
				bad("--backend-linger", optarg,
				    "must be more than 0");
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("sfrun %s (protocol %d)\n", SFRUN_VERSION,
			    PROTOCOL_VERSION);
			exit(0);
		default:
			unknown(argv[optind - 1], optopt);
		}
	}
	return optind;
}

int
main(int argc, char *argv[])
{
	struct client_opts	 o;
	struct mode		 m;
	char			*shell[4];
	int			 used;

	fds_std_open();
	setlocale(LC_CTYPE, "");	/* keys print as the locale shows them */
	memset(&o, 0, sizeof(o));
	memset(&m, 0, sizeof(m));
	o.kill_after_ms = 5000;
	o.conflict_code = 75;
	o.prefix = "sfrun:";
	o.lease_ms = 15000;
	o.backend_linger_ms = 30000;
	used = options(argc, argv, &o, &m);
	argc -= used;
	argv += used;

	if (m.status + (m.forget != NULL) + m.stop > 1)
		bad("--status, --forget and --stop-server go alone", NULL,
		    NULL);
	if (m.json && !m.status)
		bad("--json goes with --status", NULL, NULL);
	if (m.status || m.forget != NULL || m.stop) {
		if (argc > 0 || m.command != NULL)
			bad("a control option takes no command", NULL, NULL);
		o.json = m.json;
		if (m.status)
			return client_status(&o);
		if (m.stop)
			return client_stop(&o);
		return client_forget(&o, m.forget);
	}
	if (m.command != NULL) {
		if (argc > 0)
			bad("-c takes one string and no further arguments",
			    NULL, NULL);
		shell[0] = (char *)"/bin/sh";
		shell[1] = (char *)"-c";
		shell[2] = (char *)m.command;
		shell[3] = NULL;
		argv = shell;
		argc = 3;
	} else if (argc == 0)
		bad("no command given", NULL, NULL);
	o.backend = backend_url(m.backend);
	o.argc = argc;
	o.argv = argv;
	return client_run(&o);
}
