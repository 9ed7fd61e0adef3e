/*
 * The descriptors a program inherits from its caller. Standard streams that
 * the caller closed are opened on /dev/null before anything else is, so
 * that no socket, lock or pidfile of ours takes their numbers (and gets the
 * command's output written into it, or is replaced by a later dup2). And
 * make's jobserver: the two descriptors MAKEFLAGS names, which a leader
 * passes on so that a sub-make run by the server keeps the caller's slots.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fds.h"

/*
 * Make sure fds 0, 1 and 2 are open: each closed one is opened on
 * /dev/null (stdin for reading, the others for writing; not close-on-exec,
 * as they stand for the standard streams). If even that fails, the program
 * could only misbehave: it exits 125 at once.
 */
void
fds_std_open(void)
{
	int	fd;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		/* The lowest free number: this one. */
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			_exit(125);
	}
}

/* Parse "R,W" (two descriptors) at s; 0 if both are valid numbers. */
static int
fds_pair(const char *s, int *r, int *w)
{
	char	*end;
	long	 a, b;

	errno = 0;
	a = strtol(s, &end, 10);
	if (end == s || *end != ',' || errno != 0 || a < 0 || a > INT_MAX)
		return -1;
	s = end + 1;
	b = strtol(s, &end, 10);
	if (end == s || (*end != '\0' && *end != ' ') || errno != 0 ||
	    b < 0 || b > INT_MAX)
		return -1;
	*r = (int)a;
	*w = (int)b;
	return 0;
}

/*
 * The jobserver's pipe as MAKEFLAGS names it ("--jobserver-auth=R,W", or
 * the older "--jobserver-fds=R,W"; the last one counts, as for make): 0
 * with both numbers (3 or more), -1 if there is none. A "fifo:" jobserver
 * (make 4.4) is a path, which the environment carries: it needs nothing.
 */
int
fds_jobserver(const char *makeflags, int *r, int *w)
{
	static const char	*const opts[] = {
		"--jobserver-auth=", "--jobserver-fds="
	};
	const char		*p, *found = NULL;
	size_t			 i, n;

	if (makeflags == NULL)
		return -1;
	for (p = makeflags; *p != '\0'; p++) {
		if (p != makeflags && p[-1] != ' ')
			continue;
		for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
			n = strlen(opts[i]);
			if (strncmp(p, opts[i], n) == 0)
				found = p + n;
		}
	}
	if (found == NULL || fds_pair(found, r, w) == -1 || *r < 3 ||
	    *w < 3 || *r == *w)
		return -1;
	return 0;
}

/*
 * Whether r and w are a jobserver: the two ends of one pipe, r open for
 * reading and w for writing. make 4.3 leaves "--jobserver-auth" in
 * MAKEFLAGS for a recipe it does not treat as recursive and closes the
 * pipe there, so the numbers may name anything the recipe opened since;
 * that is not handed on.
 */
int
fds_is_jobserver(int r, int w)
{
	struct stat	sr, sw;
	int		fr, fw;

	if (fstat(r, &sr) == -1 || fstat(w, &sw) == -1 ||
	    (fr = fcntl(r, F_GETFL)) == -1 || (fw = fcntl(w, F_GETFL)) == -1)
		return 0;
	return S_ISFIFO(sr.st_mode) && sr.st_dev == sw.st_dev &&
	    sr.st_ino == sw.st_ino && (fr & O_ACCMODE) != O_WRONLY &&
	    (fw & O_ACCMODE) != O_RDONLY;
}
