/* Socket paths, their directory's permissions, peers, descriptor passing. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sock.h"

/*
 * The directory for sfrun's own files: $SFRUN_TMPDIR, else /tmp. Whatever
 * else the environment holds (XDG_RUNTIME_DIR, TMPDIR differ between a
 * login shell, cron, su and a CI job), so that all of one user's callers
 * agree on it. A relative one is refused: the server works from "/".
 */
int
sock_tmpdir(char *buf, size_t len, char *cause, size_t clen)
{
	const char	*dir = getenv("SFRUN_TMPDIR");

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	if (*dir != '/') {
		snprintf(cause, clen, "SFRUN_TMPDIR must be an absolute "
		    "path: %.200s", dir);
		return -1;
	}
	if (strlcpy(buf, dir, len) >= len) {
		snprintf(cause, clen, "SFRUN_TMPDIR is too long");
		return -1;
	}
	return 0;
}

/*
 * The server socket: the option, else $SFRUN_SOCKET, else
 * ${SFRUN_TMPDIR:-/tmp}/sfrun-UID/default.sock (as tmux does).
 */
int
sock_path(const char *opt, char *buf, size_t len, char *cause, size_t clen)
{
	char		 dir[PATH_MAX];
	int		 n;

	if (opt == NULL || *opt == '\0')
		opt = getenv("SFRUN_SOCKET");
	if (opt != NULL && *opt == '/')
		n = snprintf(buf, len, "%s", opt);
	else if (opt != NULL && *opt != '\0') {
		/* Relative: made absolute, as the server works from "/". */
		if (getcwd(dir, sizeof(dir)) == NULL) {
			snprintf(cause, clen, "getcwd: %s", strerror(errno));
			return -1;
		}
		n = snprintf(buf, len, "%s/%s", dir, opt);
	} else {
		if (sock_tmpdir(dir, sizeof(dir), cause, clen) == -1)
			return -1;
		n = snprintf(buf, len, "%s/sfrun-%ld/default.sock", dir,
		    (long)getuid());
	}
	if (n < 0 || (size_t)n >= len ||
	    (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(cause, clen, "socket path is too long: %.60s...",
		    buf);
		return -1;
	}
	return 0;
}

/* Another file beside the socket: the socket's path and a suffix. */
int
sock_sibling(const char *path, const char *suffix, char *buf, size_t len)
{
	int	n = snprintf(buf, len, "%s%s", path, suffix);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * Make sure the directory holding the socket exists and is private: created
 * 0700 if missing; refused if it is a symlink, not a directory, someone
 * else's, or open to group or other (as tmux does).
 */
int
sock_prepare_dir(const char *path, char *cause, size_t clen)
{
	char		 dir[PATH_MAX];
	char		*slash;
	struct stat	 st;
	int		 saved, use;

	if (strlcpy(dir, path, sizeof(dir)) >= sizeof(dir)) {
		snprintf(cause, clen, "socket path is too long");
		return -1;
	}
	if ((slash = strrchr(dir, '/')) == NULL)
		strlcpy(dir, ".", sizeof(dir));
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		/* There (or maybe there) but out of reach: "use". */
		saved = errno;
		use = saved == EACCES && (lstat(dir, &st) == 0 ||
		    errno != ENOENT);
		snprintf(cause, clen, "cannot %s %s: %s", use ? "use" :
		    "create", dir, strerror(saved));
		return -1;
	}
	if (lstat(dir, &st) == -1) {
		snprintf(cause, clen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(cause, clen, "%s is not a directory%s", dir,
		    S_ISLNK(st.st_mode) ? " (a symbolic link)" : "");
		return -1;
	}
	if (st.st_uid != getuid()) {
		snprintf(cause, clen, "%s is owned by uid %ld, not by you",
		    dir, (long)st.st_uid);
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(cause, clen, "%s is open to group or other "
		    "(mode %03o); it must be 0700", dir,
		    (unsigned)(st.st_mode & 0777));
		return -1;
	}
	return 0;
}

static int
sock_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlcpy(sa->sun_path, path, sizeof(sa->sun_path)) >=
	    sizeof(sa->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/*
 * Connect to the server socket; -1 with errno (ENOENT, ECONNREFUSED...).
 * Something at the path that is not a socket, a symbolic link above all
 * (connect would follow it), is refused with ENOTSOCK.
 */
int
sock_connect(const char *path)
{
	struct sockaddr_un	sa;
	struct stat		st;
	int			fd, saved;

	if (sock_addr(path, &sa) == -1)
		return -1;
	if (lstat(path, &st) == -1)
		return -1;
	if (!S_ISSOCK(st.st_mode)) {
		errno = ENOTSOCK;
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * Listen on path. A socket file nobody answers on is left by a killed
 * server: it is removed and replaced. One that answers is in use (EADDRINUSE).
 */
int
sock_listen(const char *path)
{
	struct sockaddr_un	 sa;
	struct stat		 st;
	int			 fd, other, saved;
	mode_t			 mask;

	if (sock_addr(path, &sa) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return -1;
	mask = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		if (errno != EADDRINUSE)
			goto fail;
		if ((other = sock_connect(path)) != -1) {
			close(other);
			errno = EADDRINUSE;
			goto fail;
		}
		if (lstat(path, &st) == -1 || !S_ISSOCK(st.st_mode)) {
			errno = EEXIST;
			goto fail;
		}
		if (unlink(path) == -1 ||
		    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
			goto fail;
	}
	umask(mask);
	if (listen(fd, SOMAXCONN) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
fail:
	saved = errno;
	umask(mask);
	close(fd);
	errno = saved;
	return -1;
}

/* Is the peer on fd the same user as us? */
int
sock_peer_ok(int fd)
{
	uid_t	uid;
	gid_t	gid;

	if (getpeereid(fd, &uid, &gid) == -1)
		return 0;
	return uid == getuid();
}

/* Send bytes, with nfds descriptors attached to the first of them. */
ssize_t
sock_send(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	struct msghdr	 msg;
	struct iovec	 iov = { (void *)buf, len };
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * SOCK_MAXFDS)];
	} cm;
	struct cmsghdr	*cmsg;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0 && nfds <= SOCK_MAXFDS) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

/*
 * Receive bytes and any descriptors that came with them (close-on-exec).
 * They are appended to fds, whose count *nfds stays at most SOCK_MAXFDS;
 * descriptors beyond that are closed.
 */
ssize_t
sock_recv(int fd, void *buf, size_t len, int *fds, int *nfds)
{
	struct msghdr	 msg;
	struct iovec	 iov = { buf, len };
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * SOCK_MAXFDS)];
	} cm;
	struct cmsghdr	*cmsg;
	ssize_t		 n;
	size_t		 i, count;
	int		 got;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	if ((n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC)) == -1)
		return -1;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < count; i++) {
			memcpy(&got, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
			if (*nfds < SOCK_MAXFDS)
				fds[(*nfds)++] = got;
			else
				close(got);
		}
	}
	return n;
}
