/* Frames on the wire: buffers, encoding and strict decoding. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Make room for n more bytes at the end of b. */
int
pbuf_reserve(struct pbuf *b, size_t n)
{
	uint8_t	*p;
	size_t	 cap;

	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->cap - b->len >= n)
		return 0;
	if (b->off > 0) {	/* slide the unread part to the front */
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->cap - b->len >= n)
			return 0;
	}
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2) {
			errno = ENOMEM;
			return -1;
		}
		cap *= 2;
	}
	if ((p = realloc(b->data, cap)) == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

/* Append n bytes to b. */
int
pbuf_add(struct pbuf *b, const void *p, size_t n)
{
	if (pbuf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

/* Drop n bytes from the front of b. */
void
pbuf_consume(struct pbuf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

/* Bytes not yet consumed. */
size_t
pbuf_used(const struct pbuf *b)
{
	return b->len - b->off;
}

void
pbuf_free(struct pbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* The largest payload a frame of this type may carry; 0 for unknown types. */
size_t
proto_limit(uint32_t type)
{
	switch (type) {
	case MSG_HELLO:
		return 8;
	case MSG_RUN:
		return PROTO_RUN_MAX;
	case MSG_STATUS:
	case MSG_STOP:
	case MSG_LEAVE:
		return 0;
	case MSG_FORGET:
		return PROTO_KEY_MAX;
	case MSG_JOINED:
	case MSG_BUSY:
		return 28;
	case MSG_DATA:
		return 8;
	case MSG_DONE:
		return 8 + PROTO_TEXT_MAX - 1;	/* text and its NUL fit */
	case MSG_ERROR:
		return PROTO_TEXT_MAX;
	case MSG_STATUS_RUN:
		return 48 + 4 + PROTO_KEY_MAX + 4 + PROTO_COMMAND_MAX + 16 +
		    PROTO_HOLDER_MAX + 4 + PROTO_COMMAND_MAX + 4 +
		    PROTO_CWD_MAX;
	case MSG_STATUS_END:
		return 32;
	case MSG_OK:
	case MSG_LEAD:
		return 4;
	case MSG_ROLE:
		return 16 + PROTO_HOLDER_MAX;
	case MSG_RECORD:
		return 24 + PROTO_BOOT_ID_LEN + PROTO_KEY_MAX;
	}
	return 0;
}

static int
known_type(uint32_t type)
{
	return type >= MSG_HELLO && type < MSG_TYPE_MAX;
}

/* Append a whole frame. */
int
proto_frame(struct pbuf *b, uint32_t type, const void *payload, size_t len)
{
	uint32_t	hdr[2] = { type, (uint32_t)len };

	if (len > proto_limit(type) || !known_type(type)) {
		errno = EMSGSIZE;
		return -1;
	}
	if (pbuf_reserve(b, PROTO_HEADER_SIZE + len) == -1)
		return -1;
	pbuf_add(b, hdr, sizeof(hdr));
	return pbuf_add(b, payload, len);
}

/*
 * Find the first frame in data. Returns its total size, 0 if more bytes are
 * needed, or -1 with errstr if the header is invalid (unknown type, payload
 * over the type's limit): the peer cannot be trusted after that.
 */
int
proto_next(const uint8_t *data, size_t len, uint32_t *type,
    const uint8_t **payload, uint32_t *plen, const char **errstr)
{
	uint32_t	hdr[2];

	if (len < PROTO_HEADER_SIZE)
		return 0;
	memcpy(hdr, data, sizeof(hdr));
	if (!known_type(hdr[0])) {
		*errstr = "unknown message type";
		return -1;
	}
	if (hdr[1] > proto_limit(hdr[0])) {
		*errstr = "message too long for its type";
		return -1;
	}
	if (len - PROTO_HEADER_SIZE < hdr[1])
		return 0;
	*type = hdr[0];
	*payload = data + PROTO_HEADER_SIZE;
	*plen = hdr[1];
	return (int)(PROTO_HEADER_SIZE + hdr[1]);
}

/*
 * A frame under construction; the header is patched when it is finished.
 * Its place is kept relative to the unread data, which a later add may
 * slide to the front of the buffer.
 */
static size_t
frame_begin(struct pbuf *b, uint32_t type)
{
	uint32_t	hdr[2] = { type, 0 };
	size_t		at = b->len - b->off;

	if (pbuf_add(b, hdr, sizeof(hdr)) == -1)
		return SIZE_MAX;
	return at;
}

static int
frame_end(struct pbuf *b, size_t at, int failed)
{
	uint32_t	 hdr[2];
	uint8_t		*start;
	size_t		 len;

	if (at == SIZE_MAX) {
		errno = ENOMEM;
		return -1;
	}
	start = b->data + b->off + at;
	len = b->len - b->off - at - PROTO_HEADER_SIZE;
	memcpy(hdr, start, sizeof(hdr));
	if (failed || len > proto_limit(hdr[0])) {
		b->len = b->off + at;
		errno = failed ? ENOMEM : EMSGSIZE;
		return -1;
	}
	hdr[1] = (uint32_t)len;
	memcpy(start, hdr, sizeof(hdr));
	return 0;
}

/* Reading fields out of a payload; any shortfall marks the reader bad. */
struct reader {
	const uint8_t	*p;
	size_t		 left;
	int		 bad;
};

static void
get(struct reader *r, void *out, size_t n)
{
	if (r->bad || r->left < n) {
		r->bad = 1;
		memset(out, 0, n);
		return;
	}
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
}

static uint32_t
get_u32(struct reader *r)
{
	uint32_t	v;

	get(r, &v, sizeof(v));
	return v;
}

static uint64_t
get_u64(struct reader *r)
{
	uint64_t	v;

	get(r, &v, sizeof(v));
	return v;
}

static const char *
get_bytes(struct reader *r, uint32_t n)
{
	const char	*p = (const char *)r->p;

	if (r->bad || r->left < n) {
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

/* Check that s holds exactly n NUL-terminated strings. */
static int
count_strings(const char *s, uint32_t len, uint32_t n)
{
	uint32_t	found = 0, i;

	if (len > 0 && s[len - 1] != '\0')
		return -1;
	for (i = 0; i < len; i++)
		if (s[i] == '\0')
			found++;
	return found == n ? 0 : -1;
}

static int
put_u32(struct pbuf *b, uint32_t v)
{
	return pbuf_add(b, &v, sizeof(v));
}

static int
put_u64(struct pbuf *b, uint64_t v)
{
	return pbuf_add(b, &v, sizeof(v));
}

int
proto_encode_hello(struct pbuf *b)
{
	uint32_t	v[2] = { PROTOCOL_MAGIC, PROTOCOL_VERSION };

	return proto_frame(b, MSG_HELLO, v, sizeof(v));
}

/* Decode a peer's hello; its version is returned even if it differs. */
int
proto_decode_hello(const uint8_t *p, uint32_t len, uint32_t *version,
    const char **errstr)
{
	struct reader	r = { p, len, 0 };
	uint32_t	magic;

	magic = get_u32(&r);
	*version = get_u32(&r);
	if (r.bad || r.left != 0 || magic != PROTOCOL_MAGIC) {
		*errstr = "not an sfrun peer";
		return -1;
	}
	return 0;
}

int
proto_encode_run(struct pbuf *b, const struct proto_run *m)
{
	size_t	at, blen = 0;
	int	f = 0, i;

	if (m->url != NULL)
		blen = strlen(m->url) + strlen(m->prefix) +
		    strlen(m->password) + 3;
	if (blen > PROTO_BACKEND_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	at = frame_begin(b, MSG_RUN);
	f |= put_u32(b, m->flags);
	f |= put_u32(b, m->umask);
	f |= put_u64(b, m->join_window_ms);
	f |= put_u64(b, m->run_timeout_ms);
	f |= put_u64(b, m->kill_after_ms);
	f |= put_u64(b, m->linger_ms);
	f |= put_u32(b, m->tty_rows);
	f |= put_u32(b, m->tty_cols);
	for (i = 0; i < PROTO_NLIMITS; i++) {
		f |= put_u64(b, m->limits[i][0]);
		f |= put_u64(b, m->limits[i][1]);
	}
	f |= put_u32(b, m->keylen);
	f |= pbuf_add(b, m->key, m->keylen);
	f |= put_u32(b, m->argc);
	f |= put_u32(b, m->argvlen);
	f |= pbuf_add(b, m->argv, m->argvlen);
	f |= put_u32(b, m->envc);
	f |= put_u32(b, m->envlen);
	f |= pbuf_add(b, m->env, m->envlen);
	f |= put_u32(b, m->backend_flags);
	f |= put_u64(b, m->lease_ms);
	f |= put_u64(b, m->backend_linger_ms);
	f |= put_u32(b, (uint32_t)blen);
	if (m->url != NULL) {
		f |= pbuf_add(b, m->url, strlen(m->url) + 1);
		f |= pbuf_add(b, m->prefix, strlen(m->prefix) + 1);
		f |= pbuf_add(b, m->password, strlen(m->password) + 1);
	}
	return frame_end(b, at, f);
}

/* Decode and validate a run request; the strings point into p. */
int
proto_decode_run(const uint8_t *p, uint32_t len, struct proto_run *m,
    const char **errstr)
{
	struct reader	 r = { p, len, 0 };
	const char	*backend;
	uint32_t	 blen;
	int		 i;

	memset(m, 0, sizeof(*m));
	m->flags = get_u32(&r);
	m->umask = get_u32(&r);
	m->join_window_ms = get_u64(&r);
	m->run_timeout_ms = get_u64(&r);
	m->kill_after_ms = get_u64(&r);
	m->linger_ms = get_u64(&r);
	m->tty_rows = get_u32(&r);
	m->tty_cols = get_u32(&r);
	for (i = 0; i < PROTO_NLIMITS; i++) {
		m->limits[i][0] = get_u64(&r);
		m->limits[i][1] = get_u64(&r);
	}
	m->keylen = get_u32(&r);
	m->key = get_bytes(&r, m->keylen);
	m->argc = get_u32(&r);
	m->argvlen = get_u32(&r);
	m->argv = get_bytes(&r, m->argvlen);
	m->envc = get_u32(&r);
	m->envlen = get_u32(&r);
	m->env = get_bytes(&r, m->envlen);
	m->backend_flags = get_u32(&r);
	m->lease_ms = get_u64(&r);
	m->backend_linger_ms = get_u64(&r);
	blen = get_u32(&r);
	backend = get_bytes(&r, blen);
	if (r.bad || r.left != 0) {
		*errstr = "run request has the wrong length";
		return -1;
	}
	if (blen > 0) {
		if (blen > PROTO_BACKEND_MAX ||
		    count_strings(backend, blen, 3) == -1 || *backend == '\0' ||
		    (m->backend_flags & ~BACKEND_FLAGS_ALL) ||
		    m->lease_ms < PROTO_LEASE_MIN_MS) {
			*errstr = "run request has a bad backend";
			return -1;
		}
		m->url = backend;
		m->prefix = m->url + strlen(m->url) + 1;
		m->password = m->prefix + strlen(m->prefix) + 1;
	}
	if (m->flags & ~RUN_FLAGS_ALL) {
		*errstr = "run request has unknown flags";
		return -1;
	}
	if (m->umask > 0777) {
		*errstr = "run request has a bad umask";
		return -1;
	}
	if ((m->flags & RUN_TTY) ? m->tty_rows == 0 || m->tty_rows > 65535 ||
	    m->tty_cols == 0 || m->tty_cols > 65535 :
	    m->tty_rows != 0 || m->tty_cols != 0) {
		*errstr = "run request has a bad terminal size";
		return -1;
	}
	if (m->keylen == 0 || m->keylen > PROTO_KEY_MAX ||
	    memchr(m->key, '\0', m->keylen) != NULL) {
		*errstr = "run request has a bad key";
		return -1;
	}
	if (m->argc == 0 || m->argc > PROTO_ARGC_MAX ||
	    count_strings(m->argv, m->argvlen, m->argc) == -1) {
		*errstr = "run request has a bad command";
		return -1;
	}
	if (m->envc > PROTO_ENVC_MAX ||
	    count_strings(m->env, m->envlen, m->envc) == -1) {
		*errstr = "run request has a bad environment";
		return -1;
	}
	return 0;
}

/* A struct proto_joined as a frame of type (MSG_JOINED, MSG_BUSY). */
static int
encode_joined(struct pbuf *b, uint32_t type, const struct proto_joined *m)
{
	size_t	at = frame_begin(b, type);
	int	f = 0;

	f |= put_u64(b, m->run_id);
	f |= put_u64(b, m->age_ms);
	f |= put_u32(b, m->led);
	f |= put_u32(b, m->waiters);
	f |= put_u32(b, m->tty);
	return frame_end(b, at, f);
}

int
proto_encode_joined(struct pbuf *b, const struct proto_joined *m)
{
	return encode_joined(b, MSG_JOINED, m);
}

int
proto_encode_busy(struct pbuf *b, const struct proto_joined *m)
{
	return encode_joined(b, MSG_BUSY, m);
}

int
proto_decode_joined(const uint8_t *p, uint32_t len, struct proto_joined *m)
{
	struct reader	r = { p, len, 0 };

	m->run_id = get_u64(&r);
	m->age_ms = get_u64(&r);
	m->led = get_u32(&r);
	m->waiters = get_u32(&r);
	m->tty = get_u32(&r);
	return r.bad || r.left != 0 || m->led > JOIN_REPLAY || m->tty > 1 ?
	    -1 : 0;
}

int
proto_encode_role(struct pbuf *b, const struct proto_role *m)
{
	size_t	at = frame_begin(b, MSG_ROLE);
	size_t	n = strnlen(m->holder, sizeof(m->holder));
	int	f = n > PROTO_HOLDER_MAX ? -1 : 0;

	f |= put_u32(b, m->role);
	f |= put_u32(b, 0);
	f |= put_u64(b, m->gen);
	f |= pbuf_add(b, m->holder, n);
	return frame_end(b, at, f);
}

/*
 * A role: leader or follower with a fence and a holder (1 to
 * PROTO_HOLDER_MAX bytes, no NUL), or local with neither.
 */
int
proto_decode_role(const uint8_t *p, uint32_t len, struct proto_role *m)
{
	struct reader	 r = { p, len, 0 };
	const char	*s;
	uint32_t	 pad, n;

	m->role = get_u32(&r);
	pad = get_u32(&r);
	m->gen = get_u64(&r);
	n = r.bad ? 0 : (uint32_t)r.left;
	if (r.bad || pad != 0 || n > PROTO_HOLDER_MAX ||
	    (s = get_bytes(&r, n)) == NULL || memchr(s, '\0', n) != NULL)
		return -1;
	memcpy(m->holder, s, n);
	m->holder[n] = '\0';
	if (m->role == ROLE_LOCAL)
		return m->gen == 0 && n == 0 ? 0 : -1;
	return (m->role == ROLE_LEADER || m->role == ROLE_FOLLOWER) &&
	    m->gen != 0 && n != 0 ? 0 : -1;
}

int
proto_encode_record(struct pbuf *b, const struct proto_record *m)
{
	size_t	at = frame_begin(b, MSG_RECORD);
	int	f = 0;

	f |= put_u32(b, (uint32_t)m->pid);
	f |= put_u32(b, m->keylen);
	f |= put_u64(b, m->start);
	f |= put_u64(b, m->run_id);
	f |= pbuf_add(b, m->boot, PROTO_BOOT_ID_LEN);
	f |= pbuf_add(b, m->key, m->keylen);
	return frame_end(b, at, f);
}

/* A record: a real pid, a key of 1 to PROTO_KEY_MAX bytes, nothing after. */
int
proto_decode_record(const uint8_t *p, uint32_t len, struct proto_record *m)
{
	struct reader	 r = { p, len, 0 };
	const char	*boot;

	m->pid = (int32_t)get_u32(&r);
	m->keylen = get_u32(&r);
	m->start = get_u64(&r);
	m->run_id = get_u64(&r);
	boot = get_bytes(&r, PROTO_BOOT_ID_LEN);
	if (r.bad || m->keylen == 0 || m->keylen > PROTO_KEY_MAX ||
	    m->pid <= 0)
		return -1;
	memcpy(m->boot, boot, PROTO_BOOT_ID_LEN);
	m->boot[PROTO_BOOT_ID_LEN] = '\0';
	m->key = get_bytes(&r, m->keylen);
	return r.bad || r.left != 0 ? -1 : 0;
}

int
proto_encode_data(struct pbuf *b, uint64_t end)
{
	size_t	at = frame_begin(b, MSG_DATA);

	return frame_end(b, at, put_u64(b, end));
}

int
proto_decode_data(const uint8_t *p, uint32_t len, uint64_t *end)
{
	struct reader	r = { p, len, 0 };

	*end = get_u64(&r);
	return r.bad || r.left != 0 ? -1 : 0;
}

int
proto_encode_done(struct pbuf *b, const struct proto_done *m)
{
	size_t	at = frame_begin(b, MSG_DONE);
	int	f = 0;

	f |= put_u32(b, m->how);
	f |= put_u32(b, (uint32_t)m->value);
	if (m->how == DONE_FAILED || m->how == DONE_EXEC_FAILED ||
	    m->how == DONE_LOST)
		f |= pbuf_add(b, m->text, strnlen(m->text,
		    sizeof(m->text) - 1));
	return frame_end(b, at, f);
}

int
proto_decode_done(const uint8_t *p, uint32_t len, struct proto_done *m)
{
	struct reader	r = { p, len, 0 };
	size_t		n;

	m->how = get_u32(&r);
	m->value = (int32_t)get_u32(&r);
	if (r.bad || m->how < DONE_EXITED || m->how > DONE_UNFOLLOWED ||
	    (m->how == DONE_UNFOLLOWED && m->value != 0))
		return -1;
	if (m->how != DONE_FAILED && m->how != DONE_EXEC_FAILED &&
	    m->how != DONE_LOST && r.left != 0)
		return -1;	/* only these three carry text */
	n = r.left < sizeof(m->text) - 1 ? r.left : sizeof(m->text) - 1;
	if (memchr(r.p, '\0', n) != NULL)
		return -1;
	memcpy(m->text, r.p, n);
	m->text[n] = '\0';
	return 0;
}

int
proto_encode_status_run(struct pbuf *b, const struct proto_status_run *m)
{
	size_t		at;
	uint32_t	cmdlen = (uint32_t)strnlen(m->command, PROTO_COMMAND_MAX);
	uint32_t	holderlen = (uint32_t)strnlen(m->holder,
			    PROTO_HOLDER_MAX);
	uint32_t	cwdlen = (uint32_t)strnlen(m->cwd, PROTO_CWD_MAX);
	int		f = 0;

	if (m->keylen > PROTO_KEY_MAX || m->argvlen > PROTO_COMMAND_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	at = frame_begin(b, MSG_STATUS_RUN);
	f |= put_u64(b, m->run_id);
	f |= put_u64(b, m->age_ms);
	f |= put_u64(b, m->bytes);
	f |= put_u32(b, (uint32_t)m->pid);
	f |= put_u32(b, m->waiters);
	f |= put_u32(b, m->queued);
	f |= put_u32(b, m->flags);
	f |= put_u64(b, m->linger_ms);
	f |= put_u32(b, m->keylen);
	f |= pbuf_add(b, m->key, m->keylen);
	f |= put_u32(b, cmdlen);
	f |= pbuf_add(b, m->command, cmdlen);
	f |= put_u32(b, m->backend);
	f |= put_u64(b, m->gen);
	f |= put_u32(b, holderlen);
	f |= pbuf_add(b, m->holder, holderlen);
	f |= put_u32(b, m->argvlen);
	f |= pbuf_add(b, m->argv, m->argvlen);
	f |= put_u32(b, cwdlen);
	f |= pbuf_add(b, m->cwd, cwdlen);
	return frame_end(b, at, f);
}

int
proto_decode_status_run(const uint8_t *p, uint32_t len,
    struct proto_status_run *m)
{
	struct reader	 r = { p, len, 0 };
	const char	*s;
	uint32_t	 n;

	memset(m, 0, sizeof(*m));
	m->run_id = get_u64(&r);
	m->age_ms = get_u64(&r);
	m->bytes = get_u64(&r);
	m->pid = (int32_t)get_u32(&r);
	m->waiters = get_u32(&r);
	m->queued = get_u32(&r);
	m->flags = get_u32(&r);
	m->linger_ms = get_u64(&r);
	m->keylen = get_u32(&r);
	if (m->keylen > PROTO_KEY_MAX ||
	    (m->flags & ~(STATUS_DETACHED | STATUS_KEEP | STATUS_LINGER |
	    STATUS_TTY)))
		return -1;
	if ((s = get_bytes(&r, m->keylen)) != NULL) {
		if (memchr(s, '\0', m->keylen) != NULL)
			return -1;	/* keys never hold NUL */
		memcpy(m->key, s, m->keylen);
	}
	n = get_u32(&r);
	if (n > PROTO_COMMAND_MAX)
		return -1;
	if ((s = get_bytes(&r, n)) != NULL) {
		if (memchr(s, '\0', n) != NULL)
			return -1;
		memcpy(m->command, s, n);
	}
	m->backend = get_u32(&r);
	m->gen = get_u64(&r);
	n = get_u32(&r);
	if (m->backend > ROLE_LOCAL || n > PROTO_HOLDER_MAX)
		return -1;
	if ((s = get_bytes(&r, n)) != NULL) {
		if (memchr(s, '\0', n) != NULL)
			return -1;
		memcpy(m->holder, s, n);
	}
	/* argv: any bytes (NULs end its arguments). */
	m->argvlen = get_u32(&r);
	if (m->argvlen > PROTO_COMMAND_MAX)
		return -1;
	if ((s = get_bytes(&r, m->argvlen)) != NULL)
		memcpy(m->argv, s, m->argvlen);
	n = get_u32(&r);
	if (n > PROTO_CWD_MAX)
		return -1;
	if ((s = get_bytes(&r, n)) != NULL) {
		if (memchr(s, '\0', n) != NULL)
			return -1;
		memcpy(m->cwd, s, n);
	}
	return r.bad || r.left != 0 ? -1 : 0;
}

int
proto_encode_counters(struct pbuf *b, const struct proto_counters *m)
{
	size_t	at = frame_begin(b, MSG_STATUS_END);
	int	f = 0;

	f |= put_u64(b, m->runs_started);
	f |= put_u64(b, m->invocations_joined);
	f |= put_u64(b, m->invocations_total);
	f |= put_u32(b, (uint32_t)m->server_pid);
	f |= put_u32(b, m->protocol);
	return frame_end(b, at, f);
}

int
proto_decode_counters(const uint8_t *p, uint32_t len,
    struct proto_counters *m)
{
	struct reader	r = { p, len, 0 };

	m->runs_started = get_u64(&r);
	m->invocations_joined = get_u64(&r);
	m->invocations_total = get_u64(&r);
	m->server_pid = (int32_t)get_u32(&r);
	m->protocol = get_u32(&r);
	return r.bad || r.left != 0 ? -1 : 0;
}

int
proto_encode_u32(struct pbuf *b, uint32_t type, uint32_t v)
{
	return proto_frame(b, type, &v, sizeof(v));
}

int
proto_decode_u32(const uint8_t *p, uint32_t len, uint32_t *v)
{
	if (len != sizeof(*v))
		return -1;
	memcpy(v, p, sizeof(*v));
	return 0;
}

/* A frame whose payload is text (MSG_ERROR, MSG_FORGET), cut at the limit. */
int
proto_encode_text(struct pbuf *b, uint32_t type, const char *s, size_t len)
{
	if (len > proto_limit(type))
		len = proto_limit(type);
	return proto_frame(b, type, s, len);
}

/* Copy a text payload into out as a C string; -1 if it holds a NUL. */
int
proto_decode_text(const uint8_t *p, uint32_t len, char *out, size_t outlen)
{
	if (len >= outlen || memchr(p, '\0', len) != NULL)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

/* The host of a lease holder "host:pid:nonce" (the host may hold ':'). */
void
proto_holder_host(const char *holder, char *buf, size_t len)
{
	char	*c;

	strlcpy(buf, holder, len);
	if ((c = strrchr(buf, ':')) != NULL) {
		*c = '\0';
		if ((c = strrchr(buf, ':')) != NULL)
			*c = '\0';
	}
}
