/* A pseudo-terminal for a --tty run. */
#ifndef SFRUN_PTY_H
#define SFRUN_PTY_H

#define PTY_TERM_DEFAULT	"TERM=xterm"	/* when the leader has none */

int	pty_open(unsigned, unsigned, int *);

#endif
