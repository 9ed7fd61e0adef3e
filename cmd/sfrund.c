/* sfrund: the per-user server that sfrun talks to. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "duration.h"
#include "fds.h"
#include "proto.h"
#include "server.h"

static const struct option longopts[] = {
	{ "foreground",		no_argument,	   NULL, 'f' },
	{ "socket",		required_argument, NULL, 'S' },
	{ "idle-timeout",	required_argument, NULL, 'i' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL,			0,		   NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: sfrund [-f] [-S PATH] [-i DUR]\n"
"  -f, --foreground        stay in the foreground, log to stderr\n"
"  -S, --socket PATH       listen on PATH (default: as sfrun)\n"
"  -i, --idle-timeout DUR  exit after DUR with no run and no client\n"
"                          (default 300s; 0: never)\n");
}

int
main(int argc, char *argv[])
{
	extern char		**environ;
	struct server_opts	 o;
	const char		*errstr;
	int			 ch;

	fds_std_open();
	/* A backend run's bridge, started by sfrund itself; not for people. */
	if (argc >= 3 && strcmp(argv[1], "--bridge") == 0 &&
	    strcmp(argv[2], "--") == 0) {
		setproctitle_init(argc, argv, environ);
		return bridge_main(argc - 3, argv + 3);
	}
	memset(&o, 0, sizeof(o));
	o.idle_ms = UINT64_C(300) * 1000;
	while ((ch = getopt_long(argc, argv, "fS:i:hV", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'f':
			o.foreground = 1;
			break;
		case 'S':
			o.socket = optarg;
			break;
		case 'i':
			if (duration_parse(optarg, &o.idle_ms, &errstr) == -1) {
				fprintf(stderr, "sfrund: --idle-timeout "
				    "'%s': %s\n", optarg, errstr);
				return 125;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sfrund %s (protocol %d)\n", SFRUN_VERSION,
			    PROTOCOL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 125;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sfrund: unexpected argument '%s'\n",
		    argv[optind]);
		return 125;
	}
	return server_main(&o);
}
