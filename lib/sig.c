/*
 * Dying of a command's signal, so that whoever waits for this process sees
 * the wait status the command had: sfrun does it for its caller, a
 * following bridge for its server.
 */
#include <sys/resource.h>

#include <signal.h>

#include "sig.h"

/* Die of sig, without a core dump; returns 128 + sig if it does not kill. */
int
sig_raise(int sig)
{
	struct rlimit	rl = { 0, 0 };
	sigset_t	set;

	setrlimit(RLIMIT_CORE, &rl);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	return 128 + sig;	/* a signal whose default is to ignore */
}
