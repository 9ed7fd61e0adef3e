/*
 * A run: one fork/exec of a command with the invoker's environment, working
 * directory, umask and limits, its stdout and stderr captured into a spool,
 * and its end. A run is finished only when both its process has been reaped
 * and its pipes are closed: at the reap, whatever the pipes hold is taken
 * (the command wrote it before it exited) and the pipes are closed, so a
 * descendant that keeps them open cannot hold the run up.
 *
 * A run's exit is noticed through a pidfd. Where pidfd_open(2) is missing
 * (kernels before 5.3, valgrind 3.19), SIGCHLD through a signalfd does the
 * same for every such run; either way the reap itself is waitid(P_PID).
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/auxv.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compat.h"
#include "log.h"
#include "loop.h"
#include "pty.h"
#include "record.h"
#include "run.h"
#include "spool.h"

#define PIPE_SIZE	(1 << 20)

struct run {
	/* Pointers and 64-bit fields first, ints after: no padding holes. */
	uint64_t		 record;	/* record_add's handle, 0: none */
	struct loop_io		*pid_io;
	struct loop_io		*pipe_io[2];
	struct loop_io		*err_io;
	struct spool		*spool;
	uint64_t		 started;
	uint64_t		 kill_after_ms;
	struct loop_timer	*deadline;	/* --run-timeout */
	struct loop_timer	*killer;	/* SIGKILL after the grace */
	struct run_cbs		 cbs;
	void			*arg;
	LIST_ENTRY(run)		 chld;		/* waits for SIGCHLD */

	pid_t			 pid;
	int			 pidfd;
	int			 reaped;
	int			 finished;
	int			 pipe[2];	/* stdout, stderr; -1 closed */
	int			 tty;		/* pipe[0]: a terminal's */
	int			 errpipe;	/* execve's errno, if it fails */
	int			 exec_known;	/* errpipe read: child[] */
	int			 child[2];	/* stage, errno; 0: exec'd */
	int			 spool_errno;	/* output lost from then on */
	int			 timed_out;
	int			 cancelled;
	int			 on_chld;

	struct proto_done	 result;
	char			 command[PROTO_COMMAND_MAX + 1];
};

/*
 * What a child that could not exec writes to the error pipe: at which stage
 * it failed and errno. A failure to set up (descriptors, directory) is the
 * server's, and ends the run as a failure (125); a failure of execve itself
 * is the command's (126, or 127 if it was not found).
 */
enum child_stage { CHILD_SETUP = 1, CHILD_EXEC };

/* Runs watched through SIGCHLD, where there is no pidfd_open. */
static LIST_HEAD(, run)	 chld_runs = LIST_HEAD_INITIALIZER(chld_runs);
static int		 chld_fd = -1;
static struct loop_io	*chld_io;

/* The server's own program, for bridges: the file it was started from. */
static int		 self_fd = -1;
static char		 self_path[PATH_MAX] = "/proc/self/exe";

static void	run_check_finished(struct run *);
static int	run_try_reap(struct run *);

/*
 * Read what the child said on the error pipe: nothing by the time it is
 * closed (the exec succeeded), or the stage and errno of a failure. Returns
 * 1 once that is known; 0 if the child has not got that far (then again
 * later), unless it has exited (force), when it is known anyway.
 */
static int
run_exec_check(struct run *r, int force)
{
	ssize_t	n;

	if (r->exec_known)
		return 1;
	n = read(r->errpipe, r->child, sizeof(r->child));
	if (n == -1 && (errno == EAGAIN || errno == EINTR) && !force)
		return 0;
	if (n != sizeof(r->child))
		r->child[0] = r->child[1] = 0;
	loop_io_del(r->err_io);
	r->err_io = NULL;
	close(r->errpipe);
	r->errpipe = -1;
	r->exec_known = 1;
	return 1;
}

/*
 * Tell the owner of more output (or that the command has started): not one
 * whose output is handed out, which has no output callback.
 */
static void
run_tell_output(struct run *r)
{
	if (r->cbs.output != NULL)
		r->cbs.output(r->arg);
}

/* The error pipe is readable: the command has started, or failed to. */
static void
run_err_cb(int fd, uint32_t events, void *arg)
{
	struct run	*r = arg;

	(void)fd;
	(void)events;
	if (run_exec_check(r, 0))
		run_tell_output(r);
}

/* Signal the run's process group (and the process, if not yet its leader). */
static void
run_signal(struct run *r, int sig)
{
	if (r->reaped)
		return;
	if (kill(-r->pid, sig) == -1)
		kill(r->pid, sig);
}

static void
run_kill_cb(void *arg)
{
	run_signal(arg, SIGKILL);
}

/* SIGTERM now, SIGKILL once the grace period is over. */
static void
run_terminate(struct run *r)
{
	run_signal(r, SIGTERM);
	if (r->kill_after_ms > 0)
		loop_timer_set(r->killer, r->kill_after_ms);
	else
		run_signal(r, SIGKILL);
}

static void
run_deadline_cb(void *arg)
{
	struct run	*r = arg;

	r->timed_out = 1;
	run_terminate(r);
}

/* Every waiter left: end the run. */
void
run_cancel(struct run *r)
{
	if (r->cancelled || r->reaped)
		return;
	r->cancelled = 1;
	run_terminate(r);
}

static void
run_close_pipe(struct run *r, int stream)
{
	if (r->pipe[stream] == -1)
		return;
	loop_io_del(r->pipe_io[stream]);
	r->pipe_io[stream] = NULL;
	close(r->pipe[stream]);
	r->pipe[stream] = -1;
}

/*
 * Take what a terminal holds into the spool, as spool_fill does for a pipe.
 * A terminal whose other side has been closed by everyone says EIO: that is
 * its end of file.
 */
static ssize_t
run_fill_tty(struct run *r)
{
	char	buf[65536];
	ssize_t	n;

	if ((n = read(r->pipe[SPOOL_STDOUT], buf, sizeof(buf))) == -1 &&
	    errno == EIO)
		return 0;
	if (n > 0 && spool_append(r->spool, SPOOL_STDOUT, buf, (size_t)n) ==
	    -1)
		return -1;
	return n;
}

/*
 * Take what the pipe holds. Returns 1 if it reached end of file or must be
 * given up on, else 0. Once the spool has failed, output is read and dropped
 * so that the command never blocks on a full pipe.
 */
static int
run_drain(struct run *r, int stream)
{
	char	buf[65536];
	ssize_t	n;

	for (;;) {
		if (r->spool_errno == 0) {
			n = r->tty ? run_fill_tty(r) : spool_fill(r->spool,
			    stream, r->pipe[stream]);
			if (n == -1 && errno != EAGAIN && errno != EINTR) {
				/*
				 * Output is lost from here on: the run is
				 * ended now, so that its waiters hear of it
				 * at once, not when the command is done.
				 */
				r->spool_errno = errno;
				log_warn("run %d: cannot write output in %s: "
				    "%s; ending it", (int)r->pid,
				    spool_get_dir(), strerror(errno));
				if (!r->cancelled) {
					r->cancelled = 1;
					run_terminate(r);
				}
				continue;
			}
		} else
			n = read(r->pipe[stream], buf, sizeof(buf));
		if (n > 0 && r->spool_errno == 0)
			return 0;	/* at most SPOOL_FILL_MAX per event */
		if (n > 0)
			continue;
		if (n == 0)
			return 1;
		if (errno == EAGAIN)
			return 0;
		if (errno != EINTR)
			return 1;
	}
}

static void
run_pipe_cb(int fd, uint32_t events, void *arg)
{
	struct run	*r = arg;
	int		 stream = fd == r->pipe[SPOOL_STDOUT] ? SPOOL_STDOUT :
			    SPOOL_STDERR;
	uint64_t	 before = spool_bytes(r->spool);

	(void)events;
	if (run_drain(r, stream)) {
		run_close_pipe(r, stream);
		/*
		 * A command closes both pipes when it exits: take the other's
		 * end now too, and the exit if it is already there, rather
		 * than wake up once more for each.
		 */
		if (r->pipe[!stream] != -1 && run_drain(r, !stream))
			run_close_pipe(r, !stream);
		if (r->pipe[!stream] == -1 && run_try_reap(r))
			return;		/* it has told the callbacks */
	}
	if (spool_bytes(r->spool) != before)
		run_tell_output(r);
	run_check_finished(r);
}

/* The pidfd is readable: the process has exited. */
static void
run_pid_cb(int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	run_try_reap(arg);
}

/* SIGCHLD: try every run that has no pidfd. */
static void
run_sigchld_cb(int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo	 si;
	struct run		*r, *next;

	(void)events;
	(void)arg;
	while (read(fd, &si, sizeof(si)) == sizeof(si))
		;
	LIST_FOREACH_SAFE(r, &chld_runs, chld, next)
		run_try_reap(r);
}

/*
 * SIGCHLD stays blocked in the server (children start with an empty mask):
 * with pidfds it is never read, and where there are none, an exit that
 * comes before the signalfd exists stays pending until it is read.
 */
int
run_init(void)
{
	sigset_t	set;
	/* getauxval returns a pointer as an integer. */
	/* NOLINTNEXTLINE(performance-no-int-to-ptr) */
	const char	*exe = (const char *)getauxval(AT_EXECFN);

	/*
	 * Bridges run this very program, even if the file has been replaced
	 * since (an upgrade): it is held open. AT_EXECFN is the name it was
	 * started by (relative names work: the server has not moved yet);
	 * /proc/self/exe would name valgrind's tool under valgrind.
	 */
	if (self_fd == -1 && (exe == NULL ||
	    (self_fd = open(exe, O_PATH | O_CLOEXEC)) == -1))
		self_fd = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	if (exe != NULL && realpath(exe, self_path) == NULL)
		strlcpy(self_path, "/proc/self/exe", sizeof(self_path));

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	return sigprocmask(SIG_BLOCK, &set, NULL);
}

/* Watch a run through SIGCHLD, from a signalfd made for the first one. */
static int
run_watch_sigchld(struct run *r)
{
	sigset_t	set;

	if (chld_fd == -1) {
		sigemptyset(&set);
		sigaddset(&set, SIGCHLD);
		if ((chld_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) ==
		    -1)
			return -1;
		if ((chld_io = loop_io_add(chld_fd, EPOLLIN, run_sigchld_cb,
		    NULL)) == NULL) {
			close(chld_fd);
			chld_fd = -1;
			return -1;
		}
	}
	LIST_INSERT_HEAD(&chld_runs, r, chld);
	r->on_chld = 1;
	return 0;
}

/* Stop listening for SIGCHLD (at exit). */
void
run_cleanup(void)
{
	if (self_fd != -1)
		close(self_fd);
	self_fd = -1;
	loop_io_del(chld_io);
	chld_io = NULL;
	if (chld_fd != -1)
		close(chld_fd);
	chld_fd = -1;
}

/*
 * Reap the process if it has exited: its status, the rest of its output.
 * Returns 1 if it did (the callbacks have been called).
 */
static int
run_try_reap(struct run *r)
{
	siginfo_t	 si;
	int		 stream, err;
	uint64_t	 before = spool_bytes(r->spool);

	memset(&si, 0, sizeof(si));
	if (r->reaped || waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG) ==
	    -1 || si.si_pid == 0)
		return 0;
	if (r->on_chld) {
		LIST_REMOVE(r, chld);
		r->on_chld = 0;
	}
	r->reaped = 1;
	record_remove(r->pid, r->record);
	loop_io_del(r->pid_io);
	r->pid_io = NULL;
	if (r->pidfd != -1)
		close(r->pidfd);
	r->pidfd = -1;
	loop_timer_stop(r->deadline);
	loop_timer_stop(r->killer);

	run_exec_check(r, 1);
	err = r->child[1];
	if (r->child[0] == CHILD_SETUP) {
		r->result.how = DONE_FAILED;
		snprintf(r->result.text, sizeof(r->result.text),
		    "cannot start the command: %s", strerror(err));
	} else if (r->child[0] == CHILD_EXEC) {
		r->result.how = DONE_EXEC_FAILED;
		r->result.value = err;
	} else if (si.si_code == CLD_EXITED) {
		r->result.how = DONE_EXITED;
		r->result.value = si.si_status;
	} else {
		r->result.how = DONE_SIGNALED;
		r->result.value = si.si_status;
	}
	if (r->timed_out && err == 0) {
		r->result.how = DONE_TIMED_OUT;
		r->result.value = si.si_code == CLD_EXITED ? SIGTERM :
		    si.si_status;
	}
	for (stream = 0; stream < 2; stream++) {
		if (r->pipe[stream] == -1)
			continue;
		while (run_drain(r, stream) == 0 && r->spool_errno == 0 &&
		    spool_bytes(r->spool) != before)
			before = spool_bytes(r->spool);	/* until empty */
		run_close_pipe(r, stream);
	}
	/*
	 * The last record's header is written now, not when a waiter is
	 * next told: if it cannot be, that output is lost, and the run fails.
	 */
	spool_publish(r->spool);
	if (r->spool_errno == 0)
		r->spool_errno = spool_error(r->spool);
	if (r->spool_errno != 0) {
		r->result.how = DONE_FAILED;
		snprintf(r->result.text, sizeof(r->result.text),
		    "the server could not keep the output in %s: %s",
		    spool_get_dir(), strerror(r->spool_errno));
	}
	run_tell_output(r);
	run_check_finished(r);
	return 1;
}

static void
run_check_finished(struct run *r)
{
	if (r->finished || !r->reaped || r->pipe[0] != -1 || r->pipe[1] != -1)
		return;
	r->finished = 1;
	r->cbs.done(r->arg);
}

/*
 * Build the child's environment: the invoker's, plus SFRUN_KEY and
 * SFRUN_RUN_ID (and TERM for a terminal, if it has none), whose strings are returned for the caller to free (also when
 * this fails).
 */
static char **
run_env(const struct proto_run *req, uint64_t id, char **keyvar, char **idvar)
{
	char		**env;
	const char	 *s = req->env;
	uint32_t	  i, n = 0;
	int		  term = 0;

	if (asprintf(keyvar, "SFRUN_KEY=%.*s", (int)req->keylen, req->key) ==
	    -1) {
		*keyvar = NULL;
		return NULL;
	}
	if (asprintf(idvar, "SFRUN_RUN_ID=%llu", (unsigned long long)id) ==
	    -1) {
		*idvar = NULL;
		return NULL;	/* the caller frees *keyvar */
	}
	if ((env = reallocarray(NULL, req->envc + 4, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < req->envc; i++, s += strlen(s) + 1) {
		if (strncmp(s, "SFRUN_KEY=", 10) == 0 ||
		    strncmp(s, "SFRUN_RUN_ID=", 13) == 0)
			continue;
		if (strncmp(s, "TERM=", 5) == 0 && s[5] != '\0')
			term = 1;
		else if (strncmp(s, "TERM=", 5) == 0)
			continue;
		env[n++] = (char *)s;
	}
	/* A terminal of a leader with no TERM (cron): say what it is. */
	if ((req->flags & RUN_TTY) && !term)
		env[n++] = (char *)PTY_TERM_DEFAULT;
	env[n++] = *keyvar;
	env[n++] = *idvar;
	env[n] = NULL;
	return env;
}

/* Split a request's argv into an array and a printable command line. */
static char **
run_argv(const struct proto_run *req, char *line, size_t len)
{
	char		**argv;
	const char	 *s = req->argv;
	uint32_t	  i;

	if (req->argc == 0) {		/* the decoder refuses it already */
		errno = EINVAL;
		return NULL;
	}
	if ((argv = reallocarray(NULL, req->argc + 1, sizeof(*argv))) == NULL)
		return NULL;
	line[0] = '\0';
	for (i = 0; i < req->argc; i++, s += strlen(s) + 1) {
		argv[i] = (char *)s;
		if (i > 0)
			strlcat(line, " ", len);
		strlcat(line, s, len);
	}
	argv[i] = NULL;
	return argv;
}

static void __attribute__((noreturn))
run_child_fail(int errfd, enum child_stage stage)
{
	int	msg[2] = { (int)stage, errno };

	(void)write(errfd, msg, sizeof(msg));
	_exit(stage == CHILD_EXEC && msg[1] == ENOENT ? 127 : 126);
}

/*
 * Close every descriptor from 3 up except those in keep (n of them, in
 * ascending order, each at least 3).
 */
static void
run_close_others(const int *keep, int n)
{
	int	i, lo = 3;

	for (i = 0; i < n; lo = keep[i++] + 1)
		if (keep[i] > lo)
			close_range((unsigned)lo, (unsigned)keep[i] - 1, 0);
	closefrom(lo);
}

/*
 * In the child: a clean signal state, its own session and process group,
 * the invoker's umask, limits and directory, stdin from /dev/null, output
 * into the pipes, the descriptors passed on (make's jobserver) at their
 * numbers, every other descriptor closed; then exec. The error pipe is
 * moved first and is a valid descriptor at every step (it ends up as the
 * lowest number from 3 that is not passed on, close-on-exec), so that any
 * failure can be reported through it.
 */
static void __attribute__((noreturn))
run_child(const struct proto_run *req, int cwdfd, int out, int err,
    int errfd, int sidefd, const int (*pass)[2], int npass, char **argv,
    char **env)
{
	extern char	**environ;
	sigset_t	  none;
	struct rlimit	  rl, cur;
	int		  i, j, t, nul, moved, self = -1, lo = 10, efd = 3;
	int		  from[RUN_PASS_MAX], keep[RUN_PASS_MAX + 3], nkeep = 0;

	/* Handlers are reset by exec; these two the server ignores. */
	sigemptyset(&none);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXFSZ, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();

	/* Move everything above the descriptors about to be set. */
	for (i = 0; i < npass; i++)
		if (pass[i][1] >= lo)
			lo = pass[i][1] + 1;
	for (i = 0; i < npass; i++) {
		if (pass[i][1] == efd) {
			efd++;		/* taken: try the next, from the top */
			i = -1;
		}
	}
	if ((moved = fcntl(errfd, F_DUPFD_CLOEXEC, lo)) != -1)
		errfd = moved;
	if (moved == -1 ||
	    (out = fcntl(out, F_DUPFD_CLOEXEC, lo)) == -1 ||
	    (err = fcntl(err, F_DUPFD_CLOEXEC, lo)) == -1 ||
	    (cwdfd = fcntl(cwdfd, F_DUPFD_CLOEXEC, lo)) == -1 ||
	    (sidefd != -1 &&
	    ((sidefd = fcntl(sidefd, F_DUPFD_CLOEXEC, lo)) == -1 ||
	    (self = fcntl(self_fd, F_DUPFD_CLOEXEC, lo)) == -1)))
		run_child_fail(errfd, CHILD_SETUP);
	for (i = 0; i < npass; i++)
		if ((from[i] = fcntl(pass[i][0], F_DUPFD_CLOEXEC, lo)) == -1)
			run_child_fail(errfd, CHILD_SETUP);
	if ((nul = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 ||
	    dup2(nul, 0) == -1 || dup2(out, 1) == -1 || dup2(err, 2) == -1 ||
	    dup3(errfd, efd, O_CLOEXEC) == -1 ||
	    (sidefd != -1 && (dup2(sidefd, RUN_SIDE_FD) == -1 ||
	    dup3(self, RUN_SIDE_FD + 1, O_CLOEXEC) == -1)))
		run_child_fail(errfd, CHILD_SETUP);
	errfd = efd;
	keep[nkeep++] = efd;
	for (i = 0; i < npass; i++)
		if (dup2(from[i], pass[i][1]) == -1)
			run_child_fail(errfd, CHILD_SETUP);
	self = RUN_SIDE_FD + 1;
	if (fchdir(cwdfd) == -1)
		run_child_fail(errfd, CHILD_SETUP);
	if (sidefd != -1) {
		keep[nkeep++] = RUN_SIDE_FD;
		keep[nkeep++] = RUN_SIDE_FD + 1;
	}
	for (i = 0; i < npass; i++)
		keep[nkeep++] = pass[i][1];
	/* In order (a handful: insertion), for run_close_others. */
	for (i = 1; i < nkeep; i++)
		for (j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	run_close_others(keep, nkeep);
	umask((mode_t)req->umask);
	for (i = 0; i < PROTO_NLIMITS && i < RLIM_NLIMITS; i++) {
		rl.rlim_cur = (rlim_t)req->limits[i][0];
		rl.rlim_max = (rlim_t)req->limits[i][1];
		if (setrlimit((int)i, &rl) == 0 || getrlimit((int)i, &cur) == -1)
			continue;
		/* Above the server's hard limit: get as close as allowed. */
		if (rl.rlim_max > cur.rlim_max)
			rl.rlim_max = cur.rlim_max;
		if (rl.rlim_cur > rl.rlim_max)
			rl.rlim_cur = rl.rlim_max;
		setrlimit((int)i, &rl);
	}
	environ = env;
	if (sidefd != -1) {	/* sfrund --bridge */
		execveat(self, "", argv, env, AT_EMPTY_PATH);
		execv(self_path, argv);	/* no execveat: valgrind 3.19 */
	} else
		execvp(argv[0], argv);
	run_child_fail(errfd, CHILD_EXEC);
}

/*
 * Create the child with vfork: no page tables copied, no copy-on-write
 * faults in the server afterwards, which is most of what a fork costs on
 * the path of a quick command. The child shares the server's memory until
 * it execs or exits, so it only makes system calls and writes its own
 * stack, with one exception: it sets environ, put back here.
 */
static pid_t
run_spawn(const struct proto_run *req, int cwdfd, int out, int err,
    int errfd, int sidefd, const int (*pass)[2], int npass, char **argv,
    char **env)
{
	extern char	**environ;
	char	**volatile saved = environ;
	pid_t		  pid;

	/* As said above: deliberate, and the child keeps to system calls. */
	/* NOLINTNEXTLINE(clang-analyzer-security.insecureAPI.vfork) */
	if ((pid = vfork()) == 0)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Vfork) */
		run_child(req, cwdfd, out, err, errfd, sidefd, pass, npass,
		    argv, env);
	environ = saved;
	return pid;
}

/*
 * The command's stdout and stderr: a terminal (--tty; one stream, outp only)
 * or two pipes, whose ends in the command block as a program expects.
 * -1 with *what set.
 */
static int
run_output(struct run *r, const struct proto_run *req, int outp[2],
    int errp[2], const char **what)
{
	if (r->tty) {
		*what = "cannot create a terminal";
		return (outp[0] = pty_open(req->tty_rows, req->tty_cols,
		    &outp[1])) == -1 ? -1 : 0;
	}
	*what = "cannot create pipes";
	if (pipe2(outp, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    pipe2(errp, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	fcntl(outp[1], F_SETFL, 0);
	fcntl(errp[1], F_SETFL, 0);
	fcntl(outp[0], F_SETPIPE_SZ, PIPE_SIZE);
	fcntl(errp[0], F_SETPIPE_SZ, PIPE_SIZE);
	return 0;
}

/*
 * The child exists: watch its exit through a pidfd, or SIGCHLD where there
 * are none, its exec through the error pipe, and its output's pipes (those
 * it kept). If its exit cannot be watched, it is killed and reaped here:
 * -1 with cause.
 */
static int
run_watch(struct run *r, char *cause, size_t clen)
{
	int	i, watched;

	if ((r->pidfd = pidfd_open(r->pid, 0)) != -1)
		watched = (r->pid_io = loop_io_add(r->pidfd, EPOLLIN,
		    run_pid_cb, r)) != NULL;
	else
		watched = errno == ENOSYS && run_watch_sigchld(r) == 0;
	if (!watched) {
		snprintf(cause, clen, "cannot watch the command: %s",
		    strerror(errno));
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
		r->reaped = 1;
		record_remove(r->pid, r->record);
		return -1;
	}
	/* Under vfork the exec is over by now; else it is watched for. */
	if (!run_exec_check(r, 0))
		r->err_io = loop_io_add(r->errpipe, EPOLLIN, run_err_cb, r);
	for (i = 0; i < 2; i++) {
		if (r->pipe[i] == -1)
			continue;	/* a terminal, or handed out */
		r->pipe_io[i] = loop_io_add(r->pipe[i], EPOLLIN, run_pipe_cb,
		    r);
		if (r->pipe_io[i] == NULL) {
			r->spool_errno = errno;	/* output cannot be watched */
			close(r->pipe[i]);
			r->pipe[i] = -1;
		}
	}
	return 0;
}

/*
 * Start a run of req in directory cwdfd, with the descriptors in pass at
 * their numbers. With handout, the read ends of its output are given to
 * the caller there (stdout, stderr; -1 for a terminal's second), not read
 * into the spool: the run is finished once reaped. With sidefd, the run is
 * a bridge (sfrund --bridge) talking on it. NULL with cause if it could not
 * be started (pipes, spool, fork).
 */
struct run *
run_start(const struct proto_run *req, int cwdfd, int sidefd,
    const int (*pass)[2], int npass, int *handout, uint64_t id,
    const struct run_cbs *cbs, void *arg, char *cause, size_t clen)
{
	struct run	 *r;
	int		  outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int		  exp[2] = { -1, -1 }, i;
	char		**argv = NULL, **env = NULL, *keyvar = NULL;
	char		**bargv = NULL, *idvar = NULL;
	const char	 *what = "out of memory";

	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto fail;
	r->pipe[0] = r->pipe[1] = r->errpipe = r->pidfd = -1;
	r->cbs = *cbs;
	r->arg = arg;
	r->kill_after_ms = req->kill_after_ms;
	if ((r->deadline = loop_timer_new(run_deadline_cb, r)) == NULL ||
	    (r->killer = loop_timer_new(run_kill_cb, r)) == NULL)
		goto fail;
	if ((argv = run_argv(req, r->command, sizeof(r->command))) == NULL ||
	    (env = run_env(req, id, &keyvar, &idvar)) == NULL)
		goto fail;
	if (sidefd != -1) {	/* sfrund --bridge -- COMMAND... */
		if ((bargv = reallocarray(NULL, req->argc + 4,
		    sizeof(*bargv))) == NULL)
			goto fail;
		bargv[0] = (char *)"sfrund";
		bargv[1] = (char *)"--bridge";
		bargv[2] = (char *)"--";
		memcpy(bargv + 3, argv, (req->argc + 1) * sizeof(*argv));
	}
	strlcpy(r->result.text, argv[0], sizeof(r->result.text));
	what = "cannot create the spool";
	if ((r->spool = spool_new()) == NULL)
		goto fail;
	/* A bridge's command has the terminal, not the bridge. */
	r->tty = (req->flags & RUN_TTY) && sidefd == -1;
	if (run_output(r, req, outp, errp, &what) == -1 ||
	    pipe2(exp, O_CLOEXEC | O_NONBLOCK) == -1)
		goto fail;

	what = "cannot fork";
	r->started = loop_now();
	if ((r->pid = run_spawn(req, cwdfd, outp[1], r->tty ? outp[1] :
	    errp[1], exp[1], sidefd, pass, npass, sidefd != -1 ? bargv : argv,
	    env)) == -1)
		goto fail;
	/* For a later server, should this one die before the command. */
	r->record = record_add(req->key, req->keylen, r->pid, id);
	close(outp[1]);
	if (errp[1] != -1)
		close(errp[1]);
	close(exp[1]);
	outp[1] = errp[1] = exp[1] = -1;
	if (handout == NULL) {
		r->pipe[0] = outp[0];
		r->pipe[1] = errp[0];
		outp[0] = errp[0] = -1;
	}
	r->errpipe = exp[0];
	free(argv);
	free(bargv);
	free(env);
	free(keyvar);
	free(idvar);
	if (run_watch(r, cause, clen) == -1) {
		if (outp[0] != -1)
			close(outp[0]);
		if (errp[0] != -1)
			close(errp[0]);
		run_free(r);
		return NULL;
	}
	if (handout != NULL) {
		handout[0] = outp[0];
		handout[1] = errp[0];
	}
	if (req->run_timeout_ms > 0)
		loop_timer_set(r->deadline, req->run_timeout_ms);
	return r;

fail:
	snprintf(cause, clen, "%s: %s", what, strerror(errno));
	for (i = 0; i < 2; i++) {
		if (outp[i] != -1)
			close(outp[i]);
		if (errp[i] != -1)
			close(errp[i]);
		if (exp[i] != -1)
			close(exp[i]);
	}
	free(argv);
	free(bargv);
	free(env);
	free(keyvar);
	free(idvar);
	if (r != NULL) {
		r->reaped = 1;
		run_free(r);
	}
	return NULL;
}

/*
 * Free a run. A process still running is killed, and no longer waited
 * for: it stays the server's zombie until the server exits.
 */
void
run_free(struct run *r)
{
	int	i;

	if (r == NULL)
		return;
	if (!r->reaped)
		run_signal(r, SIGKILL);
	if (r->on_chld)
		LIST_REMOVE(r, chld);
	for (i = 0; i < 2; i++)
		run_close_pipe(r, i);
	loop_io_del(r->pid_io);
	if (r->pidfd != -1)
		close(r->pidfd);
	loop_io_del(r->err_io);
	if (r->errpipe != -1)
		close(r->errpipe);
	loop_timer_free(r->deadline);
	loop_timer_free(r->killer);
	spool_free(r->spool);
	free(r);
}

/* 1 once the command has started, -1 if it could not, 0 not known yet. */
int
run_exec_state(const struct run *r)
{
	if (!r->exec_known)
		return 0;
	return r->child[0] != 0 ? -1 : 1;
}

int
run_finished(const struct run *r)
{
	return r->finished;
}

/* Was it ended on purpose (no waiter left, or its output could not be kept)? */
int
run_cancelled(const struct run *r)
{
	return r->cancelled;
}

void
run_result(const struct run *r, struct proto_done *d)
{
	*d = r->result;
}

struct spool *
run_spool(const struct run *r)
{
	return r->spool;
}

pid_t
run_pid(const struct run *r)
{
	return r->pid;
}

uint64_t
run_started(const struct run *r)
{
	return r->started;
}

const char *
run_command(const struct run *r)
{
	return r->command;
}
