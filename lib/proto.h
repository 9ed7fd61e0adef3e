/*
 * The wire protocol between sfrun and sfrund.
 *
 * Bump PROTOCOL_VERSION when this file changes.
 *
 * Every message is a frame: a header of two native-endian uint32_t, the
 * message type and the payload length, then the payload. Both sides talk
 * over a unix stream socket on one machine, so native byte order is fine;
 * every field has a fixed width. Each type has its own size limit and a
 * frame over it is a protocol error that drops the peer.
 *
 * A client opens with MSG_HELLO and may send its request in the same write;
 * the server answers MSG_HELLO first, always, so that either side can name
 * both versions when they differ. MSG_HELLO's layout never changes. The
 * server sends its hello when it takes up the request (or refuses the
 * client): a connection it closes before its hello was not acted on, and
 * the client starts over (a server exiting on idle or handing over).
 *
 * MSG_RECORD is not sent on the socket: it is the content of a run's record
 * file beside the socket, which tells a later server which commands of an
 * earlier one still run (the process, identified by its start time).
 *
 * A run request (MSG_RUN) carries the invoker's working directory as a file
 * descriptor (SCM_RIGHTS). The answer is MSG_JOINED. The first MSG_DATA
 * carries the run's spool file (a run with no output has none). The file
 * is a sequence of records, each a header saying which stream (stdout or
 * stderr) and how many bytes, then those bytes, in the order the server
 * read them; the header's layout is in spool.h (SPOOL_HEADER_SIZE). Each
 * MSG_DATA says "the file holds whole records up to END", END never less
 * than in the last one; how often the output switches streams changes
 * neither the number of messages nor their size. The client walks the
 * records itself, checks each header (a bad one is a protocol error),
 * copies each record to its own stdout or stderr, and stops at MSG_DONE.
 *
 * The server and a backend run's bridge (sfrund --bridge) speak the same
 * frames on a socket pair, without hellos (they are one program): the
 * server sends MSG_RUN first, the bridge answers MSG_ROLE once the election
 * has said it. When this host leads (or runs alone), the server starts the
 * command and sends MSG_LEAD with the read ends of its output, then
 * MSG_DONE with how it ended; otherwise the bridge sends MSG_DONE with how
 * the followed run ended, or why its part failed. How a backend run ended
 * is, in this order: the server's own failure, the command's end if it ran
 * on this host, the bridge's MSG_DONE.
 */
#ifndef SFRUN_PROTO_H
#define SFRUN_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTOCOL_VERSION	5
#define PROTOCOL_MAGIC		0x75726673U	/* "sfru" */

#define PROTO_HEADER_SIZE	8
#define PROTO_KEY_MAX		1024
#define PROTO_ARGC_MAX		65536
#define PROTO_ENVC_MAX		65536
#define PROTO_RUN_MAX		(16U << 20)	/* argv and env included */
#define PROTO_TEXT_MAX		4096
#define PROTO_COMMAND_MAX	1024	/* command line shown by status */
#define PROTO_CWD_MAX		4096	/* a run's working directory */
#define PROTO_NLIMITS		16	/* resource limits sent, RLIMIT_* order */
#define PROTO_BACKEND_MAX	4096	/* url, prefix, password */
#define PROTO_LEASE_MIN_MS	3000	/* the shortest --lease */
#define PROTO_HOLDER_MAX	255	/* host:pid:nonce of a lease */

enum msg_type {
	MSG_HELLO = 1,		/* both ways: u32 magic, u32 version */
	MSG_RUN,		/* c→s: struct proto_run; fd: cwd */
	MSG_STATUS,		/* c→s: empty */
	MSG_FORGET,		/* c→s: the key */
	MSG_STOP,		/* c→s: empty */
	MSG_JOINED,		/* s→c: struct proto_joined */
	MSG_DATA,		/* s→c: u64 end: the spool holds whole
				   records up to there; the first one:
				   fd: the spool */
	MSG_DONE,		/* s→c: struct proto_done */
	MSG_BUSY,		/* s→c: --no-join and the key is in flight:
				   struct proto_joined of that run */
	MSG_ERROR,		/* s→c: one line of text, the request failed */
	MSG_STATUS_RUN,		/* s→c: struct proto_status_run; pid 0: ended */
	MSG_STATUS_END,		/* s→c: struct proto_counters */
	MSG_OK,			/* s→c: u32 value (forget: 1 found, 0 not;
				   leave: LEAVE_*) */
	MSG_LEAVE,		/* c→s: empty; a waiter gives up (--timeout)
				   and is told what became of the run */
	MSG_RECORD,		/* a run's record file: struct proto_record */
	MSG_ROLE,		/* s→c: struct proto_role; a backend run's
				   role, once the election has said it */
	MSG_LEAD,		/* server→bridge: u32 streams (1: a terminal,
				   2: stdout and stderr); fds: the read ends
				   of the command's output */
	MSG_TYPE_MAX
};

/* MSG_OK's answer to MSG_LEAVE: what became of the run. */
#define LEAVE_GOES_ON	0	/* others wait on it */
#define LEAVE_KEPT	1	/* no one waits; kept (--keep, -d) */
#define LEAVE_CANCELLED	2	/* it was the last waiter: cancelled */
#define LEAVE_ENDED	3	/* the run had ended already */

/* MSG_RUN flags. */
#define RUN_KEEP	0x01	/* run to completion with no waiter */
#define RUN_DETACH	0x02	/* answer MSG_JOINED, then leave */
#define RUN_NOJOIN	0x04	/* MSG_BUSY if the key is in flight */
#define RUN_TTY		0x08	/* on a pseudo-terminal of tty_rows x tty_cols */
#define RUN_FRESH	0x10	/* only a run that starts after this request */
#define RUN_FLAGS_ALL	0x1f

/* MSG_RUN backend flags. */
#define BACKEND_RERUN		0x01	/* --on-leader-loss rerun */
#define BACKEND_FALLBACK	0x02	/* --fallback local */
#define BACKEND_FLAGS_ALL	0x03

/* MSG_DONE outcomes. */
enum done_how {
	DONE_EXITED = 1,	/* value: exit code */
	DONE_SIGNALED,		/* value: signal number */
	DONE_EXEC_FAILED,	/* value: errno of execve */
	DONE_TIMED_OUT,		/* value: signal that ended it */
	DONE_FAILED,		/* text: what failed in the server */
	DONE_LOST,		/* text: the leader on another host was lost */
	DONE_UNFOLLOWED		/* this host stopped following another host's
				   run at its own --run-timeout; value 0 */
};

/* A decoded MSG_RUN. The pointers point into the frame's payload. */
struct proto_run {
	uint32_t	 flags;
	uint32_t	 umask;
	uint64_t	 join_window_ms;	/* 0: join any age */
	uint64_t	 run_timeout_ms;	/* 0: none */
	uint64_t	 kill_after_ms;
	uint64_t	 linger_ms;
	uint32_t	 tty_rows;	/* RUN_TTY: 1-65535; else 0 */
	uint32_t	 tty_cols;
	uint64_t	 limits[PROTO_NLIMITS][2];	/* cur, max */
	const char	*key;
	uint32_t	 keylen;
	uint32_t	 argc;
	const char	*argv;		/* argc NUL-terminated strings */
	uint32_t	 argvlen;
	uint32_t	 envc;
	const char	*env;		/* envc NUL-terminated strings */
	uint32_t	 envlen;
	/* Redis backend; url NULL: none. Three NUL-terminated strings. */
	uint32_t	 backend_flags;	/* BACKEND_* */
	uint64_t	 lease_ms;
	uint64_t	 backend_linger_ms;
	const char	*url;
	const char	*prefix;
	const char	*password;	/* "" if none */
};

struct proto_joined {
	uint64_t	 run_id;
	uint64_t	 age_ms;	/* JOIN_REPLAY: since the run ended */
	uint32_t	 led;		/* JOIN_* */
	uint32_t	 waiters;	/* including this one */
	uint32_t	 tty;		/* 1: the run is on a pseudo-terminal */
};
/*
 * What this host does in a backend run: leads it for every host, follows
 * the run of the lease's holder, or runs alone (--fallback local: gen 0 and
 * no holder).
 */
struct proto_role {
	uint32_t	 role;		/* ROLE_LEADER, _FOLLOWER, _LOCAL */
	uint64_t	 gen;		/* the fence */
	char		 holder[PROTO_HOLDER_MAX + 1];	/* host:pid:nonce */
};

#define JOIN_JOINED	0	/* joined a run in flight */
#define JOIN_LED	1	/* this request started the run */
#define JOIN_REPLAY	2	/* the run has ended: its result, lingering */

struct proto_done {
	uint32_t	 how;		/* enum done_how */
	int32_t		 value;
	char		 text[PROTO_TEXT_MAX];	/* FAILED: why; EXEC_FAILED: argv[0] */
};

struct proto_status_run {
	uint64_t	 run_id;
	uint64_t	 age_ms;
	uint64_t	 bytes;		/* stdout and stderr so far */
	int32_t		 pid;
	uint32_t	 waiters;
	uint32_t	 queued;	/* --fresh callers waiting for the next */
	uint32_t	 flags;		/* STATUS_* */
	uint64_t	 linger_ms;	/* STATUS_LINGER: time left */
	char		 key[PROTO_KEY_MAX + 1];
	uint32_t	 keylen;
	char		 command[PROTO_COMMAND_MAX + 1];	/* args joined by ' ' */
	uint32_t	 backend;	/* enum backend_role */
	uint64_t	 gen;		/* the generation led or followed */
	char		 holder[PROTO_HOLDER_MAX + 1];	/* host:pid:nonce */
	/* Each argument and its NUL, cut at PROTO_COMMAND_MAX bytes. */
	char		 argv[PROTO_COMMAND_MAX];
	uint32_t	 argvlen;
	char		 cwd[PROTO_CWD_MAX + 1];	/* "" if not known */
};
#define STATUS_DETACHED	0x01	/* forgotten or taken over: not joinable */
#define STATUS_KEEP	0x02
#define STATUS_LINGER	0x04	/* ended; its result is still joinable */
#define STATUS_TTY	0x08	/* on a pseudo-terminal (--tty) */

/* Where a run stands with its Redis backend. */
enum backend_role {
	ROLE_NONE = 0,		/* no backend */
	ROLE_PENDING,		/* not elected yet */
	ROLE_LEADER,		/* runs the command for every host */
	ROLE_FOLLOWER,		/* replays another host's run */
	ROLE_LOCAL		/* Redis was unreachable: --fallback local */
};

/* A run's record: its process as a later server can verify it. */
#define PROTO_BOOT_ID_LEN	36	/* /proc/sys/kernel/random/boot_id */
struct proto_record {
	int32_t		 pid;
	uint32_t	 keylen;
	uint64_t	 start;		/* field 22 of /proc/PID/stat */
	uint64_t	 run_id;
	char		 boot[PROTO_BOOT_ID_LEN + 1];
	const char	*key;		/* points into the payload */
};

struct proto_counters {
	uint64_t	 runs_started;
	uint64_t	 invocations_joined;
	uint64_t	 invocations_total;
	int32_t		 server_pid;
	uint32_t	 protocol;
};

/* A growable byte buffer; off is how much has been consumed from the front. */
struct pbuf {
	uint8_t		*data;
	size_t		 len;
	size_t		 off;
	size_t		 cap;
};

int	 pbuf_reserve(struct pbuf *, size_t);
int	 pbuf_add(struct pbuf *, const void *, size_t);
void	 pbuf_consume(struct pbuf *, size_t);
void	 pbuf_free(struct pbuf *);
size_t	 pbuf_used(const struct pbuf *);

size_t	 proto_limit(uint32_t);
int	 proto_frame(struct pbuf *, uint32_t, const void *, size_t);
int	 proto_next(const uint8_t *, size_t, uint32_t *, const uint8_t **,
	    uint32_t *, const char **);

int	 proto_encode_hello(struct pbuf *);
int	 proto_decode_hello(const uint8_t *, uint32_t, uint32_t *,
	    const char **);
int	 proto_encode_run(struct pbuf *, const struct proto_run *);
int	 proto_decode_run(const uint8_t *, uint32_t, struct proto_run *,
	    const char **);
int	 proto_encode_joined(struct pbuf *, const struct proto_joined *);
int	 proto_encode_busy(struct pbuf *, const struct proto_joined *);
int	 proto_decode_joined(const uint8_t *, uint32_t, struct proto_joined *);
int	 proto_encode_data(struct pbuf *, uint64_t);
int	 proto_decode_data(const uint8_t *, uint32_t, uint64_t *);
int	 proto_encode_done(struct pbuf *, const struct proto_done *);
int	 proto_decode_done(const uint8_t *, uint32_t, struct proto_done *);
int	 proto_encode_status_run(struct pbuf *,
	    const struct proto_status_run *);
int	 proto_decode_status_run(const uint8_t *, uint32_t,
	    struct proto_status_run *);
int	 proto_encode_counters(struct pbuf *, const struct proto_counters *);
int	 proto_decode_counters(const uint8_t *, uint32_t,
	    struct proto_counters *);
int	 proto_encode_role(struct pbuf *, const struct proto_role *);
int	 proto_decode_role(const uint8_t *, uint32_t, struct proto_role *);
int	 proto_encode_record(struct pbuf *, const struct proto_record *);
int	 proto_decode_record(const uint8_t *, uint32_t, struct proto_record *);
int	 proto_encode_u32(struct pbuf *, uint32_t, uint32_t);
int	 proto_decode_u32(const uint8_t *, uint32_t, uint32_t *);
int	 proto_encode_text(struct pbuf *, uint32_t, const char *, size_t);
int	 proto_decode_text(const uint8_t *, uint32_t, char *, size_t);
void	 proto_holder_host(const char *, char *, size_t);

#endif
