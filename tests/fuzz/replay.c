/*
 * Replays a fuzz target's corpus without libFuzzer, as a TAP test: every
 * file under CORPUS_DIR (crash inputs included) goes through the target once.
 * Built per target by the Makefile with -DCORPUS_DIR="...".
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Read a whole file; NULL if it cannot be read. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	FILE		*f;
	uint8_t		*buf;
	struct stat	 st;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fstat(fileno(f), &st) == -1 || !S_ISREG(st.st_mode) ||
	    (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		fclose(f);
		return NULL;
	}
	*len = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	return buf;
}

int
main(void)
{
	DIR		*d;
	struct dirent	*e;
	char		 path[4096];
	uint8_t		*buf;
	size_t		 len;
	int		 n = 0, bad = 0;

	if ((d = opendir(CORPUS_DIR)) == NULL) {
		printf("not ok 1 - corpus %s: cannot open\n1..1\n", CORPUS_DIR);
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR, e->d_name);
		if ((buf = slurp(path, &len)) == NULL) {
			printf("not ok %d - %s: unreadable\n", ++n, path);
			bad++;
			continue;
		}
		LLVMFuzzerTestOneInput(buf, len);	/* a crash fails the run */
		free(buf);
		n++;
	}
	closedir(d);
	/* One TAP line per corpus, not per file: a corpus has thousands. */
	printf("ok 1 - %s: %d inputs replayed\n1..1\n", CORPUS_DIR, n);
	return bad != 0;
}
