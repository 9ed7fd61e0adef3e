/*
 * A pseudo-terminal for a --tty run. The command gets the terminal's side
 * as its stdout and stderr; the server (or the bridge) reads the other side
 * as the run's one stream of output. Output post-processing is off, so the
 * terminal adds no carriage returns: a line ends as the command wrote it,
 * and each waiter's own terminal, if it has one, adds what it needs.
 *
 * The terminal is not made the command's controlling terminal: stdin stays
 * /dev/null, and a program that would prompt on /dev/tty (a password, a
 * confirmation) fails at once rather than waiting for input nobody can give.
 */
#include <sys/ioctl.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include "pty.h"

/*
 * Open a terminal pair of rows x cols. Returns the reading side
 * (non-blocking), with the command's side in *slave; both close-on-exec and
 * neither the caller's controlling terminal. -1 with errno on failure.
 */
int
pty_open(unsigned rows, unsigned cols, int *slave)
{
	struct winsize	ws = { 0 };
	struct termios	t;
	char		name[PATH_MAX];
	int		master, saved;

	*slave = -1;
	if ((master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC |
	    O_NONBLOCK)) == -1)
		return -1;
	ws.ws_row = (unsigned short)rows;
	ws.ws_col = (unsigned short)cols;
	if (grantpt(master) == -1 || unlockpt(master) == -1 ||
	    ptsname_r(master, name, sizeof(name)) != 0 ||
	    (*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1 ||
	    tcgetattr(*slave, &t) == -1)
		goto fail;
	t.c_oflag &= ~(tcflag_t)OPOST;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	if (tcsetattr(*slave, TCSANOW, &t) == -1 ||
	    ioctl(master, TIOCSWINSZ, &ws) == -1)
		goto fail;
	return master;

fail:
	saved = errno;
	if (*slave != -1)
		close(*slave);
	*slave = -1;
	close(master);
	errno = saved;
	return -1;
}
