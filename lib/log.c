/* The server's log: stderr in the foreground, else syslog. */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "log.h"

static int	to_stderr = 1;

/* Log to stderr (foreground) or to syslog as "sfrund". */
void
log_open(int foreground)
{
	to_stderr = foreground;
	if (!foreground)
		openlog("sfrund", LOG_PID | LOG_NDELAY, LOG_USER);
}

static void
log_vlog(int pri, const char *fmt, va_list ap)
{
	if (to_stderr) {
		fputs("sfrund: ", stderr);
		/* The callers start ap; the analyzer cannot follow that. */
		/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized) */
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else
		vsyslog(pri, fmt, ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}
