# Set-up for the Redis backend suite, loaded after helper.bash: every test
# gets its own redis-server on a free port of 127.0.0.1 (and a unix socket),
# and any number of simulated hosts, each an sfrund of its own (socket
# $SOCKDIR/hN.sock, SFRUN_HOST_ID=hN, log $WORK/hN.log). Teardown stops the
# hosts, their runs and bridges, and the redis-server.
# shellcheck disable=SC2154 # SOCKDIR, WORK, BATS_*: set by helper.bash and bats
# shellcheck disable=SC2034 # the variables below are for the suite

REDIS_SERVER=$(command -v redis-server || true)
REDIS_CLI=$(command -v redis-cli || true)

# The gates the suite's commands wait on; teardown creates them all.
GATES=(go)
for _h in $(seq 10); do
	GATES+=("go.h$_h")
done
unset _h

# Host N's own backend URL, if it has one (a proxy of tests/faults.bats).
HOST_BACKEND=()

# The command most tests run, the same argv on every host: it appends
# "HOST FENCE" to ./count, prints "start HOST", waits for ./go.HOST, prints
# "end HOST" and exits 20+N on host hN (so a waiter's status tells which
# host ran what it got).
# shellcheck disable=SC2016 # expanded by the command's shell
HCMD='echo "$SFRUN_HOST_ID $SFRUN_FENCE" >>count; echo "start $SFRUN_HOST_ID"; '"$(gate 'go.$SFRUN_HOST_ID')"'; echo "end $SFRUN_HOST_ID"; exit $((20 + ${SFRUN_HOST_ID#h}))'

# Keep helper.bash's setup and teardown under other names and extend them.
eval "helper_$(declare -f setup)"
eval "helper_$(declare -f teardown)"

setup() {
	helper_setup
	if [ -z "$REDIS_SERVER" ] || [ -z "$REDIS_CLI" ]; then
		skip "redis-server not installed"
	fi
	REDIS_DIR="$BATS_TEST_TMPDIR/redis"
	REDIS_SOCK="$REDIS_DIR/redis.sock"
	REDIS_PID=
	REDIS_ADMIN_PASS=
	REDIS_TLS_DIR=
	mkdir -p "$REDIS_DIR"
	redis_start_free
	REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
	BACKEND=$REDIS_URL
}

teardown() {
	local g
	for g in "${GATES[@]}"; do
		touch "$WORK/$g" 2>/dev/null || true
	done
	stop_hosts
	helper_teardown
	redis_stop
	# A sanitizer report in a host's log fails the test.
	if ! no_sanitizer_report <(cat "$WORK"/h*.log 2>/dev/null) >/dev/null; then
		cat "$WORK"/h*.log
		return 1
	fi
	return 0
}

# --- Redis -------------------------------------------------------------------

# free_port: a TCP port of 127.0.0.1 nothing listens on (just now).
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# rcli ARGS...: redis-cli against this test's redis (as the admin, if it
# has a password; over TLS with the test's CA and client certificate, if
# it is the TLS one).
rcli() {
	local tls=()
	if [ -n "${REDIS_TLS_DIR:-}" ]; then
		tls=(--tls --cacert "$REDIS_TLS_DIR/ca.crt"
		    --cert "$REDIS_TLS_DIR/client.crt"
		    --key "$REDIS_TLS_DIR/client.key")
	fi
	if [ -n "$REDIS_ADMIN_PASS" ]; then
		REDISCLI_AUTH=$REDIS_ADMIN_PASS timeout 20 "$REDIS_CLI" \
		    -h 127.0.0.1 -p "$REDIS_PORT" "${tls[@]}" "$@"
	else
		timeout 20 "$REDIS_CLI" -h 127.0.0.1 -p "$REDIS_PORT" \
		    "${tls[@]}" "$@"
	fi
}

# redis_up: this test's redis answers PING.
redis_up() {
	[ "$(rcli PING 2>/dev/null)" = PONG ]
}

# redis_start: start redis-server on $REDIS_PORT (empty, no persistence),
# wait until it answers; fails if it exits before that. With REDIS_TLS_DIR
# set it listens on that port with TLS only, with the certificate
# ${REDIS_TLS_CERT:-server} and client certificates
# ${REDIS_TLS_CLIENTS:-optional} (see tls_certs).
redis_start() {
	local listen=(--port "$REDIS_PORT")
	if [ -n "${REDIS_TLS_DIR:-}" ]; then
		listen=(--port 0 --tls-port "$REDIS_PORT"
		    --tls-cert-file "$REDIS_TLS_DIR/${REDIS_TLS_CERT:-server}.crt"
		    --tls-key-file "$REDIS_TLS_DIR/${REDIS_TLS_CERT:-server}.key"
		    --tls-ca-cert-file "$REDIS_TLS_DIR/ca.crt"
		    --tls-auth-clients "${REDIS_TLS_CLIENTS:-optional}")
	fi
	"$REDIS_SERVER" "${listen[@]}" --bind 127.0.0.1 --save '' \
	    --appendonly no --daemonize no --dir "$REDIS_DIR" \
	    --unixsocket "$REDIS_SOCK" --unixsocketperm 700 \
	    --logfile "$REDIS_DIR/redis.log" </dev/null 3>&- &
	REDIS_PID=$!
	local deadline=$((SECONDS + 20))
	until redis_up; do
		if ! kill -0 "$REDIS_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
			tail -n 5 "$REDIS_DIR/redis.log" >&2
			kill -KILL "$REDIS_PID" 2>/dev/null || true
			wait "$REDIS_PID" 2>/dev/null || true
			REDIS_PID=
			return 1
		fi
		sleep 0.02
	done
}

# redis_start_free: start redis on a free port (another try if it was taken meanwhile).
redis_start_free() {
	local try
	for try in 1 2 3 4 5; do
		REDIS_PORT=$(free_port)
		redis_start && return 0
		echo "redis-server did not start on port $REDIS_PORT (try $try)" >&2
	done
	return 1
}

# redis_stop: stop this test's redis-server (no save), for sure.
redis_stop() {
	[ -n "${REDIS_PID:-}" ] || return 0
	kill -TERM "$REDIS_PID" 2>/dev/null || true
	local deadline=$((SECONDS + 10))
	while kill -0 "$REDIS_PID" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			kill -KILL "$REDIS_PID" 2>/dev/null || true
			break
		fi
		sleep 0.02
	done
	wait "$REDIS_PID" 2>/dev/null || true
	REDIS_PID=
	return 0
}

# tls_certs DIR: in DIR, made by openssl: a CA (ca.crt, ca.key); signed by
# it, server.crt for localhost and 127.0.0.1, other.crt for other.example
# only, client.crt (a client's); and another CA, wrongca.crt. Keys beside
# them (NAME.key), unencrypted. EC keys: quick to make.
tls_certs() {
	local d=$1 name san
	mkdir -p "$d"
	tls_ca "$d/ca" sfrun-test-ca
	tls_ca "$d/wrongca" sfrun-wrong-ca
	for name in server other client; do
		case $name in
		server) san='subjectAltName=DNS:localhost,IP:127.0.0.1' ;;
		other) san='subjectAltName=DNS:other.example' ;;
		client) san='extendedKeyUsage=clientAuth' ;;
		esac
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		    -nodes -keyout "$d/$name.key" -out "$d/$name.csr" \
		    -subj "/CN=$name" 2>/dev/null
		openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" \
		    -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		    -extfile <(printf '%s\n' "$san") -out "$d/$name.crt" 2>/dev/null
	done
	[ -s "$d/server.crt" ] && [ -s "$d/other.crt" ] && [ -s "$d/client.crt" ]
}

# tls_ca PATH CN: a self-signed CA certificate PATH.crt, its key PATH.key.
tls_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$1.key" -out "$1.crt" -days 2 -subj "/CN=$2" \
	    -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}

# redis_restart_tls [SERVER-CERT] [CLIENTS]: stop this test's redis, start it
# again TLS-only (on a free port) with the test's certificates (tls_certs
# into $BATS_FILE_TMPDIR/tls, once per file), the certificate SERVER-CERT
# (server) and client certificates CLIENTS (optional, or yes). BACKEND and
# REDIS_URL become rediss://localhost:PORT; SFRUN_REDIS_CACERT is the CA.
redis_restart_tls() {
	redis_stop
	REDIS_TLS_DIR=$BATS_FILE_TMPDIR/tls
	[ -s "$REDIS_TLS_DIR/client.crt" ] || tls_certs "$REDIS_TLS_DIR"
	REDIS_TLS_CERT=${1:-server}
	REDIS_TLS_CLIENTS=${2:-optional}
	redis_start_free
	REDIS_URL="rediss://localhost:$REDIS_PORT"
	BACKEND=$REDIS_URL
	export SFRUN_REDIS_CACERT="$REDIS_TLS_DIR/ca.crt"
}

# redis_shutdown: SHUTDOWN NOSAVE, and wait until the server has exited.
redis_shutdown() {
	rcli SHUTDOWN NOSAVE >/dev/null 2>&1 || true
	reap "$REDIS_PID" 20
	REDIS_PID=
}

# rpy EXPR [ARG...]: python EXPR with call(*args) talking RESP to this
# test's redis (bytes in, bytes out; A = the ARGs).
rpy() {
	local expr=$1
	shift
	REDISCLI_AUTH=$REDIS_ADMIN_PASS REDIS_PORT=$REDIS_PORT timeout 30 python3 -c '
import json, os, socket, sys
s = socket.create_connection(("127.0.0.1", int(os.environ["REDIS_PORT"])), 10)
f = s.makefile("rwb")
def parse():
    line = f.readline()
    t, rest = line[:1], line[1:-2]
    if t == b"+": return rest
    if t == b"-": raise Exception(rest.decode())
    if t == b":": return int(rest)
    if t == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if t == b"*":
        n = int(rest)
        return None if n < 0 else [parse() for _ in range(n)]
    raise Exception("bad reply %r" % line)
def call(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    f.write(out)
    f.flush()
    return parse()
if os.environ.get("REDISCLI_AUTH"):
    call("AUTH", os.environ["REDISCLI_AUTH"])
A = sys.argv[2:]
exec(sys.argv[1])' "$expr" "$@"
}

# khash KEY: the sha256 hex of KEY, as in the Redis key names.
khash() {
	printf '%s' "$1" | sha256sum | cut -d' ' -f1
}

# rkey KEY SUFFIX: the Redis key P{sha256(KEY)}:SUFFIX (P = ${PREFIX:-sfrun:}).
rkey() {
	printf '%s{%s}:%s' "${PREFIX:-sfrun:}" "$(khash "$1")" "$2"
}

# lease_of KEY: the value of KEY's lease in Redis (empty if none).
lease_of() {
	rcli --raw GET "$(rkey "$1" lease)"
}

# no_lease KEY: KEY has no lease in Redis.
no_lease() {
	[ -z "$(lease_of "$1")" ]
}

# lease_ttl_is below|above KEY MS: the lease's PTTL is below or above MS.
lease_ttl_is() {
	local t
	t=$(rcli PTTL "$(rkey "$2" lease)") || return 1
	case $1 in
	below) [ "$t" -ge 0 ] && [ "$t" -lt "$3" ] ;;
	above) [ "$t" -gt "$3" ] ;;
	esac
}

# fence_of KEY: KEY's fence counter in Redis (empty if none).
fence_of() {
	rcli --raw GET "$(rkey "$1" fence)"
}

# streams_of KEY: the names of KEY's output streams in Redis, one a line.
streams_of() {
	rcli --raw --scan --pattern "$(rkey "$1" 'out:*')" | sort
}

# stream_dump STREAM OUT: STREAM's entries: OUT.ids (one "ID FIELD..." a
# line), OUT.header ("field=value" lines of entry 0-1), OUT.o, OUT.e (the
# o and e chunks, concatenated), OUT.maxchunk (the largest one's size) and
# OUT.x (the x records, one a line).
stream_dump() {
	rpy '
ents = call("XRANGE", A[0], "-", "+")
ids = open(A[1] + ".ids", "w")
hdr = open(A[1] + ".header", "wb")
o = open(A[1] + ".o", "wb")
e = open(A[1] + ".e", "wb")
x = open(A[1] + ".x", "wb")
big = 0
for eid, kv in ents:
    fields = kv[0::2]
    ids.write(" ".join(v.decode() for v in [eid] + fields) + "\n")
    for k, v in zip(kv[0::2], kv[1::2]):
        if eid == b"0-1":
            hdr.write(k + b"=" + v + b"\n")
        elif k == b"o":
            o.write(v)
            big = max(big, len(v))
        elif k == b"e":
            e.write(v)
            big = max(big, len(v))
        elif k == b"x":
            x.write(v + b"\n")
open(A[1] + ".maxchunk", "w").write("%d\n" % big)' "$1" "$2"
}

# connected_clients_are N: this test's redis has N clients (this query's included).
connected_clients_are() {
	[ "$(rcli INFO clients | tr -d '\r' | sed -n 's/^connected_clients://p')" = "$1" ]
}

# --- Hosts -------------------------------------------------------------------

# hsock N: host N's server socket.
hsock() {
	printf '%s/h%s.sock' "$SOCKDIR" "$1"
}

# host_env N: HENV, the environment of an invocation on host N (its socket,
# its SFRUN_HOST_ID, and SFRUN_BACKEND: ${HOST_BACKEND[N]} if set, else
# $BACKEND unless BACKEND is unset).
host_env() {
	HENV=("SFRUN_SOCKET=$(hsock "$1")" "SFRUN_HOST_ID=h$1")
	if [ -n "${HOST_BACKEND[$1]:-}" ]; then
		HENV+=("SFRUN_BACKEND=${HOST_BACKEND[$1]}")
	elif [ -n "${BACKEND+set}" ]; then
		HENV+=("SFRUN_BACKEND=$BACKEND")
	fi
}

# start_hosts N...: start sfrund -f for each host N (log $WORK/hN.log), wait until they listen.
start_hosts() {
	local n sock
	for n in "$@"; do
		sock=$(hsock "$n")
		SFRUN_HOST_ID="h$n" "$SFRUND" -f -S "$sock" >"$WORK/h$n.log" 2>&1 </dev/null 3>&- &
		BGPIDS+=("$!")
	done
	for n in "$@"; do
		wait_for test -S "$(hsock "$n")"
	done
}

# hspawn NAME N ARGS...: sfrun ARGS on host N in the background (NAME.out,
# NAME.err); pid (sfrun's own) in $LASTPID.
hspawn() {
	local name=$1 n=$2
	shift 2
	host_env "$n"
	spawn "$name" env "${HENV[@]}" "$SFRUN" "$@"
}

# hspawn_st NAME N ARGS...: as hspawn, and how sfrun ended goes to NAME.st:
# "exit N" or "signal S" (a python parent waits for it).
hspawn_st() {
	local name=$1 n=$2
	shift 2
	host_env "$n"
	python3 -c '
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp("env", ["env"] + sys.argv[2:])
_, st = os.waitpid(pid, 0)
with open(sys.argv[1], "w") as f:
    if os.WIFSIGNALED(st):
        f.write("signal %d\n" % os.WTERMSIG(st))
    else:
        f.write("exit %d\n" % os.WEXITSTATUS(st))' "$name.st" "${HENV[@]}" "$SFRUN" "$@" \
	    >"$name.out" 2>"$name.err" 3>&- &
	LASTPID=$!
	BGPIDS+=("$LASTPID")
}

# hrun N ARGS...: bats' run (stderr apart) of sfrun ARGS on host N, bounded.
hrun() {
	local n=$1
	shift
	host_env "$n"
	run --separate-stderr timeout 60 env "${HENV[@]}" "$SFRUN" "$@"
	echo "h$n: sfrun $*: status=$status stdout=[${output:0:300}] stderr=[${stderr:0:300}]"
}

# hjson N EXPR [ARG...]: sjson against host N's server (never autostarts one).
hjson() {
	local n=$1
	shift
	SFRUN_NO_AUTOSTART=1 SFRUN_SOCKET=$(hsock "$n") sjson "$@"
}

# bfield N KEY NAME: field NAME of the backend part of KEY's run on host N.
bfield() {
	hjson "$1" '[(r.get("backend") or {}).get(A[1]) for r in R if r["key"] == A[0]][-1]' "$2" "$3"
}

# follows_host N KEY HOST: host N's run of KEY follows a lease held by HOST.
follows_host() {
	[ "$(bfield "$1" "$2" holder 2>/dev/null | cut -d: -f1)" = "$3" ]
}

# role_is N KEY ROLE [GEN]: KEY's run on host N has that backend role (and generation).
role_is() {
	[ "$(bfield "$1" "$2" role 2>/dev/null)" = "$3" ] || return 1
	[ -z "${4:-}" ] || [ "$(bfield "$1" "$2" gen 2>/dev/null)" = "$4" ]
}

# hpid N: the pid of host N's server (empty if none).
hpid() {
	SFRUN_SOCKET=$(hsock "$1") server_pid
}

# tree PID: PID and all its descendants, one a line.
tree() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
	{ kids[$2] = kids[$2] " " $1 }
	END {
		n = split(root, q, " ")
		for (i = 1; i <= n; i++) {
			print q[i]
			m = split(kids[q[i]], k, " ")
			for (j = 1; j <= m; j++)
				q[++n] = k[j]
		}
	}'
}

# host_signal SIG N: send SIG to host N's server, then to its descendants
# (bridges, runs) and the process groups they lead (a run is a group of its
# own). The server first: killed, it can no longer tell its waiters how the
# run ended (a host dies at once).
host_signal() {
	local sig=$1 pid pids p g
	pid=$(hpid "$2")
	[ -n "$pid" ] || return 1
	pids=" $(tree "$pid" | tr '\n' ' ')"
	kill "-$sig" "$pid" 2>/dev/null || true
	for p in $pids; do
		g=$(ps -o pgid= -p "$p" 2>/dev/null | tr -d ' ')
		# Only groups led by one of them: never the suite's own.
		case $pids in
		*" $g "*) kill "-$sig" -- "-$g" 2>/dev/null || true ;;
		esac
	done
	for p in $pids; do
		kill "-$sig" "$p" 2>/dev/null || true
	done
	return 0
}

# host_stopped N: host N's server is stopped, and every process under it
# too, or held by one that is: a child that exited as its shell stopped
# stays a zombie (Z), and a shell that forked with vfork(2) (dash does)
# waits in D until its child, stopped before its exec, goes on.
host_stopped() {
	local pid p
	pid=$(hpid "$1")
	[ -n "$pid" ] || return 1
	[ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = T ] || return 1
	for p in $(tree "$pid"); do
		case $(ps -o stat= -p "$p" 2>/dev/null | cut -c1) in
		T | Z) ;;
		D) [[ "$(ps -o stat= --ppid "$p" 2>/dev/null)" == *T* ]] ||
			return 1 ;;
		*) return 1 ;;
		esac
	done
}

# bridge_pids N: the sfrun-bridge processes under host N's server (never
# another test's), one a line.
bridge_pids() {
	local pid p
	pid=$(hpid "$1")
	[ -n "$pid" ] || return 0
	for p in $(tree "$pid"); do
		case $(ps -o args= -p "$p" 2>/dev/null) in
		*sfrun-bridge*) echo "$p" ;;
		esac
	done
}

# bridges N: how many sfrun-bridge processes run under host N's server.
bridges() {
	bridge_pids "$1" | wc -l
}

# bridges_are N COUNT: host N's server has COUNT bridges.
bridges_are() {
	[ "$(bridges "$1")" = "$2" ]
}

# only_server N: host N's server has no child process left.
only_server() {
	local pid
	pid=$(hpid "$1")
	[ -n "$pid" ] && [ "$(tree "$pid" | wc -l)" = 1 ]
}

# stop_hosts: stop every host's server (any socket in $SOCKDIR): TERM them
# all, then KILL what is left of them, their bridges and runs.
stop_hosts() {
	local pidfile pid pids=() trees=() deadline alive p
	[ -n "${SOCKDIR:-}" ] || return 0
	for pidfile in "$SOCKDIR"/*.sock.pid; do
		[ -e "$pidfile" ] || continue
		pid=$(cat "$pidfile" 2>/dev/null)
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			pids+=("$pid")
		fi
	done
	[ "${#pids[@]}" -gt 0 ] || return 0
	# A host a test left stopped (SIGSTOP) must go on to stop.
	for p in "${pids[@]}"; do
		# shellcheck disable=SC2046 # pids, one a line
		kill -CONT $(tree "$p") 2>/dev/null || true
	done
	kill -TERM "${pids[@]}" 2>/dev/null || true
	deadline=$((SECONDS + 5))
	while [ "$SECONDS" -lt "$deadline" ]; do
		alive=0
		for p in "${pids[@]}"; do
			gone "$p" || alive=1
		done
		[ "$alive" = 0 ] && return 0
		sleep 0.05
	done
	# Listed before the KILL: the runs are re-parented after it.
	for p in "${pids[@]}"; do
		# shellcheck disable=SC2207 # pids, one a line
		trees+=($(tree "$p"))
	done
	for p in "${trees[@]}"; do
		kill -KILL -- "-$p" 2>/dev/null || true
		kill -KILL "$p" 2>/dev/null || true
	done
	return 0
}

# --- Leaders, followers, reruns ----------------------------------------------

# acl_user NAME PASS PATTERN: a Redis user NAME (password PASS) with the
# commands sfrun needs, on the keys matching PATTERN only.
acl_user() {
	rcli ACL SETUSER "$1" on ">$2" resetkeys "~$3" -@all +auth +select \
	    +eval +get +set +incr +del +xadd +xread +pexpire +ping
}

# requirepass PASS: this test's redis wants PASS (rcli then gives it).
requirepass() {
	rcli CONFIG SET requirepass "$1"
	REDIS_ADMIN_PASS=$1
}

# refused: the last hrun exited 125, printed nothing, and one line on stderr.
refused() {
	[ "$status" -eq 125 ]
	[ -z "$output" ]
	one_line "$stderr"
}

# follows N KEY: KEY's run on host N is a follower that has the leader's first line.
follows() {
	role_is "$1" "$2" follower && grep -q '^start' "h$1.out"
}

# lead N KEY ARGS...: hspawn hN N ARGS..., until it leads KEY; its pid in $LEADER, N in $LEADER_HOST.
lead() {
	LEADER_HOST=$1
	hspawn "h$1" "$1" "${@:3}"
	LEADER=$LASTPID
	wait_for role_is "$1" "$2" leader
}

# hspawn_hosts "N..." ARGS...: hspawn hN N ARGS... on each host; pids in PIDS, hosts in HOSTS.
hspawn_hosts() {
	local n
	PIDS=() HOSTS=()
	for n in $1; do
		hspawn "h$n" "$n" "${@:2}"
		PIDS+=("$LASTPID")
		HOSTS+=("$n")
	done
}

# follow "N..." KEY ARGS...: hspawn_hosts, then wait until each of them follows KEY.
follow() {
	local n
	hspawn_hosts "$1" "${@:3}"
	for n in "${HOSTS[@]}"; do
		wait_for follows "$n" "$2"
	done
}

# lead_follow "N..." KEY ARGS...: lead 1 KEY ARGS..., then follow "N..." KEY ARGS....
lead_follow() {
	lead 1 "$2" "${@:3}"
	follow "$@"
}

# show_host N: what host N's sfrun printed so far (its first 300 bytes of each).
show_host() {
	echo "h$1: stdout: [$(head -c 300 "h$1.out" | tr -d '\0')] stderr: [$(head -c 300 "h$1.err" | tr -d '\0')]"
}

# reaped_host PID N RC [SECS]: reaped PID RC [SECS], PID being host N's
# sfrun; what it printed is shown either way.
reaped_host() {
	local ok=0
	echo "h$2:"
	reaped "$1" "$3" "${4:-30}" || ok=1
	show_host "$2"
	[ "$ok" = 0 ]
}

# reap_leader RC: reap $LEADER (30s), which must exit RC.
reap_leader() {
	echo "the leader:"
	reaped_host "$LEADER" "$LEADER_HOST" "$1"
}

# reap_hosts RC [SECS]: as reap_all, for hspawn_hosts' PIDS: SECS (30) each, each host shown.
reap_hosts() {
	local i
	for i in "${!PIDS[@]}"; do
		reaped_host "${PIDS[$i]}" "${HOSTS[$i]}" "$1" "${2:-30}"
	done
}

# finish_h1: release host 1's $HCMD (go.h1); $LEADER and every host in HOSTS exit 21.
finish_h1() {
	touch go.h1
	reap_leader 21
	reap_hosts 21
}

# outs_are TEXT N...: each host N's sfrun printed TEXT (hN.out).
outs_are() {
	local n
	for n in "${@:2}"; do
		[ "$(cat "h$n.out")" = "$1" ]
	done
}

# rerun_host: the host that ran the second execution (from ./count), as N.
rerun_host() {
	local h
	h=$(sed -n '2s/ .*//p' count)
	echo "${h#h}"
}

# rerun_on KEY [GEN]: after a leader loss, wait for the rerun; X = its host,
# one of HOSTS (its fence GEN, if given); then X leads KEY and the other
# HOSTS follow it (in generation GEN, if given).
rerun_on() {
	local key=$1 gen=${2:-} n
	wait_for lines_are count 2
	X=$(rerun_host)
	echo "rerun on h$X"
	[[ " ${HOSTS[*]} " == *" $X "* ]]
	[ -z "$gen" ] || [ "$(sed -n 2p count)" = "h$X $gen" ]
	for n in "${HOSTS[@]}"; do
		if [ "$n" = "$X" ]; then
			wait_for role_is "$n" "$key" leader "$gen"
		else
			wait_for role_is "$n" "$key" follower "$gen"
		fi
	done
}

# finish_rerun: release host X's run; every host in HOSTS exits 20+X with
# the lost run's first line, then all of X's.
finish_rerun() {
	touch "go.h$X"
	reap_hosts $((20 + X))
	outs_are "$(printf 'start h1\nstart h%s\nend h%s' "$X" "$X")" "${HOSTS[@]}"
}

# hosts_answer N...: each host N's server still answers --status.
hosts_answer() {
	local n
	for n in "$@"; do
		SFRUN_NO_AUTOSTART=1 hrun "$n" --status
		[ "$status" -eq 0 ]
	done
}

# lacks ERE FILE...: no line of the FILEs matches ERE (those that do are shown).
lacks() {
	! grep -E -- "$1" "${@:2}"
}

# one_line TEXT: TEXT is exactly one non-empty line.
one_line() {
	[ -n "$1" ] && [ "$(printf '%s\n' "$1" | wc -l)" = 1 ]
}

# fenced KEY: KEY has a fence counter in Redis (a lease was taken).
fenced() {
	[ -n "$(fence_of "$1")" ]
}

# eval_paused: an EVAL waits in Redis, held by CLIENT PAUSE.
eval_paused() {
	rcli CLIENT LIST | grep -q 'flags=b .*cmd=eval'
}

# no_run_on N KEY: host N's server holds no run of KEY.
no_run_on() {
	[ "$(hjson "$1" 'len([r for r in R if r["key"] == A[0]])' "$2" 2>/dev/null)" = 0 ]
}
