/* The bridge: a backend run's part in a run across hosts, through Redis. */
#ifndef SFRUN_BRIDGE_H
#define SFRUN_BRIDGE_H

int	 bridge_main(int, char *[]);

#endif
