/* Small gaps between glibc, libbsd and what the code expects. */
#ifndef SFRUN_COMPAT_H
#define SFRUN_COMPAT_H

#ifndef __unused
#define __unused __attribute__((__unused__))
#endif

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

#endif
