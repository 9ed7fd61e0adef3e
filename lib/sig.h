/* Ending as a command ended: by its signal. */
#ifndef SFRUN_SIG_H
#define SFRUN_SIG_H

int	 sig_raise(int);

#endif
