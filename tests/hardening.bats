#!/usr/bin/env bats
# Hardening: the security boundary (other users, the socket directory,
# symlinks, whose environment a run gets), fault injection (a full spool
# filesystem, few descriptors, fork failing, a stalled client) and protocol
# robustness (truncated, oversized, out-of-order and random frames).
#
# The tests that need root (mount, chown, setpriv) skip when not root.

bats_require_minimum_version 1.5.0
load helper

# The helper's teardown, kept under another name: this suite's teardown
# runs it first (it stops the server, which may hold files on a mount),
# then unmounts MOUNTS and removes CLEANUP (directories outside the test's
# own, made for other users to reach).
eval "helper_$(declare -f teardown)"
MOUNTS=()
CLEANUP=()

teardown() {
	local m
	helper_teardown
	for m in "${MOUNTS[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	for m in "${CLEANUP[@]}"; do
		rm -rf "$m"
	done
}

# need_root WHY: skip unless root.
need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root ($1)"
}

# need_tool NAME: skip unless NAME is on PATH.
need_tool() {
	command -v "$1" >/dev/null 2>&1 || skip "needs $1"
}

# need_nobody: skip unless this can run the build's programs as nobody.
need_nobody() {
	need_root "setpriv to another user"
	need_tool setpriv
	id nobody >/dev/null 2>&1 || skip "needs a user nobody"
	as_nobody test -x "$SFRUN" -a -x "$SFRUND" -a -x "$PY" ||
	    skip "nobody cannot execute $SFRUND or $PY"
}

# A python3 that other users can run too (not a shim in root's home).
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

# as_nobody CMD...: run CMD as nobody, from /.
as_nobody() {
	(cd / && exec setpriv --reuid=nobody --regid="$(id -g nobody)" \
	    --clear-groups "$@")
}

# public_dir: a new directory under /tmp that others can pass through
# (0711), removed in teardown; its path in $PUBLIC.
public_dir() {
	PUBLIC=$(mktemp -d /tmp/sfrun-hardening.XXXXXX)
	CLEANUP+=("$PUBLIC")
	chmod 711 "$PUBLIC"
}

# nfds PID: how many descriptors PID has open.
nfds() {
	ls "/proc/$1/fd" 2>/dev/null | wc -l
}

# nfds_are PID N: PID has N descriptors open.
nfds_are() {
	[ "$(nfds "$1")" = "$2" ]
}

# runs_started: the server's runs_started counter.
runs_started() {
	sjson 'd["counters"]["runs_started"]'
}

# normal_run PID: a plain run works (exit 0, its output) on the server PID,
# which is still the one in the pidfile.
normal_run() {
	run --separate-stderr timeout 30 env SFRUN_NO_AUTOSTART=1 "$SFRUN" \
	    -k "normal-$RANDOM" -c 'echo ok'
	echo "normal run: status=$status stdout=[$output] stderr=[$stderr]"
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
	kill -0 "$1"
	[ "$(server_pid)" = "$1" ]
}

# reap_clients N: reap clients c1..cN (their pids in PIDS); each must have
# been served (exit 0, "done" on stdout, nothing on stderr) or refused
# cleanly (exit 125, one line "sfrun: ..." on stderr, nothing on stdout).
# Counts in SERVED and REFUSED.
reap_clients() {
	local i bad=0 t0 t1
	SERVED=0 REFUSED=0
	t0=$(now_ms)
	for i in $(seq "$1"); do
		reap "${PIDS[$((i - 1))]}"
		echo "client $i: exit $RC stdout=[$(cat "c$i.out")] stderr=[$(cat "c$i.err")]"
		if [ "$RC" = 0 ] && [ "$(cat "c$i.out")" = "done" ] && [ ! -s "c$i.err" ]; then
			SERVED=$((SERVED + 1))
		elif [ "$RC" = 125 ] && [ ! -s "c$i.out" ] &&
		    [ "$(count_lines "c$i.err")" = 1 ] && grep -q '^sfrun: ' "c$i.err"; then
			REFUSED=$((REFUSED + 1))
		else
			echo "client $i: neither served nor refused cleanly"
			bad=$((bad + 1))
		fi
	done
	t1=$(now_ms)
	echo "served $SERVED, refused $REFUSED, bad $bad; all ended $((t1 - t0))ms after the release"
	echo "pidfile: $(od -An -c "$SFRUN_SOCKET.pid" | tr -s ' ' | tr '\n' ' ')"
	[ "$bad" = 0 ]
}

# The protocol version this build speaks, for the hand-made frames below.
SFRUN_PROTO=$(proto_version)
export SFRUN_PROTO

# Python helpers for speaking the protocol by hand (no single quote in the
# python code of this file: it is quoted for the shell). Frames are two native
# u32 (type, payload length) and the payload.
PYLIB='
import os, random, resource, socket, struct, sys, time
MAGIC = 0x75726673
PROTO = int(os.environ["SFRUN_PROTO"])
M64 = (1 << 64) - 1
HELLO, RUN, STATUS, FORGET, STOP, JOINED, DATA, DONE, BUSY, ERROR = range(1, 11)

def frame(t, p=b"", n=None):
    return struct.pack("=II", t, len(p) if n is None else n) + p

def hello(version=PROTO, magic=MAGIC):
    return frame(HELLO, struct.pack("=II", magic, version))

def run_payload(key, argv, env=None, flags=0, umask=0o022):
    if env is None:
        env = ["%s=%s" % kv for kv in os.environ.items()]
    p = struct.pack("=II", flags, umask) + struct.pack("=QQQQ", 0, 0, 5000, 0)
    p += struct.pack("=II", 0, 0)              # no terminal (--tty)
    for i in range(16):
        try:
            c, m = resource.getrlimit(i)
        except (ValueError, OSError):
            c = m = resource.RLIM_INFINITY
        p += struct.pack("=QQ", c & M64, m & M64)
    k = key.encode()
    a = b"".join(s.encode() + b"\0" for s in argv)
    e = b"".join(s.encode() + b"\0" for s in env)
    p += struct.pack("=I", len(k)) + k
    p += struct.pack("=II", len(argv), len(a)) + a
    p += struct.pack("=II", len(env), len(e)) + e
    p += struct.pack("=IQQI", 0, 0, 0, 0)      # no backend
    return p

def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    return s

def send(s, data, fds=(), shut=True):
    """Send data (fds on its first byte); then shut down writing."""
    try:
        if fds:
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                    struct.pack("%di" % len(fds), *fds))]
            n = s.sendmsg([data], anc)
            s.sendall(data[n:])
        elif data:
            s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
    except (BrokenPipeError, ConnectionResetError):
        pass

def drain(s, secs):
    """Read until EOF or secs pass: (bytes, eof, seconds taken)."""
    t0 = time.monotonic()
    got = b""
    while True:
        left = t0 + secs - time.monotonic()
        if left <= 0:
            return got, False, time.monotonic() - t0
        s.settimeout(left)
        try:
            b = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            b = b""
        if not b:
            return got, True, time.monotonic() - t0
        got += b

def frames(data):
    out = []
    while len(data) >= 8:
        t, n = struct.unpack_from("=II", data)
        if len(data) < 8 + n:
            break
        out.append((t, data[8:8 + n]))
        data = data[8 + n:]
    return out
'

# py SCRIPT ARGS...: python3 with PYLIB, then SCRIPT.
py() {
	local script=$1
	shift
	timeout 120 "$PY" -c "$PYLIB$script" "$@"
}

# --- the security boundary -----------------------------------------------------

@test "a connection from another uid is refused at once and runs nothing" {
	need_nobody
	public_dir
	mkdir -m 700 "$PUBLIC/sock"
	export SFRUN_SOCKET="$PUBLIC/sock/s.sock"
	foreground_server "$WORK/srv.log" -i 0
	local pid=$LASTPID

	# The hand-made run request works for the server's own user (so that
	# the same request from nobody being refused means something).
	py '
s = connect(sys.argv[1])
cwd = os.open(sys.argv[2], os.O_RDONLY | os.O_DIRECTORY)
send(s, hello() + frame(RUN, run_payload("probe", ["/bin/sh", "-c", "echo ran >by-owner"])), [cwd], shut=False)
got, eof, secs = drain(s, 20)
print("owner:", [t for t, _ in frames(got)], eof)
assert [t for t, _ in frames(got)][:2] == [HELLO, JOINED], got
assert frames(got)[-1][0] == DONE
' "$SFRUN_SOCKET" "$WORK"
	[ "$(cat "$WORK/by-owner")" = ran ]

	# Reachable on purpose: the directory 0711, the socket 0777.
	chmod 711 "$PUBLIC/sock"
	chmod 777 "$SFRUN_SOCKET"
	local script='
results = []
for req, fds in ((hello() + frame(STATUS), False),
                 (hello() + frame(RUN, run_payload("evil", ["/bin/sh", "-c", "echo ran >" + sys.argv[2]])), True)):
    s = connect(sys.argv[1])
    cwd = [os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)] if fds else []
    send(s, req, cwd, shut=False)
    got, eof, secs = drain(s, 15)
    print("bytes=%d eof=%s secs=%.2f" % (len(got), eof, secs))
    results.append((len(got), eof, secs))
assert all(n == 0 and eof and secs < 5 for n, eof, secs in results), results
'
	run as_nobody timeout 60 "$PY" -c "$PYLIB$script" "$SFRUN_SOCKET" "$WORK/by-nobody"
	echo "$output"
	[ "$status" -eq 0 ]
	wait_for grep -q "refused a connection from another user" "$WORK/srv.log"
	[ "$(grep -c "refused a connection from another user" "$WORK/srv.log")" -eq 2 ]
	[ ! -e "$WORK/by-nobody" ]

	chmod 700 "$PUBLIC/sock"
	[ "$(runs_started)" = 1 ]	# the owner's probe only
	normal_run "$pid"
	no_sanitizer_report "$WORK/srv.log"
}

@test "a socket directory owned by another user is refused by sfrun and sfrund" {
	need_root "chown"
	mkdir -m 700 theirs
	chown nobody theirs
	export SFRUN_SOCKET="$WORK/theirs/s.sock"
	one_line_125 "$SFRUN" -k x -- touch marker
	[[ "$stderr" == sfrun:*theirs* ]]
	SFRUN_NO_AUTOSTART=1 one_line_125 "$SFRUN" -k x -- touch marker
	one_line_125 "$SFRUND" -f -S "$SFRUN_SOCKET" -i 1
	[[ "$stderr" == sfrund:*theirs* ]]
	one_line_125 "$SFRUND" -S "$SFRUN_SOCKET" -i 1
	[ ! -e marker ]
	[ -z "$(ls -A theirs)" ]
	[ "$(stat -c %U:%a theirs)" = nobody:700 ]
}

@test "a socket directory of another user with their server in it is refused" {
	need_nobody
	public_dir
	mkdir -m 700 "$PUBLIC/theirs"
	chown nobody "$PUBLIC/theirs"
	export SFRUN_SOCKET="$PUBLIC/theirs/s.sock"
	(cd / && TMPDIR="$PUBLIC/theirs" exec setpriv --reuid=nobody \
	    --regid="$(id -g nobody)" --clear-groups \
	    "$SFRUND" -f -S "$SFRUN_SOCKET" -i 0) >"$WORK/theirs.log" 2>&1 3>&- &
	local pid=$!
	BGPIDS+=("$pid")
	wait_for test -S "$SFRUN_SOCKET"
	# Their server would take the command, and the environment with it.
	one_line_125 "$SFRUN" -k x -- touch "$WORK/marker"
	[[ "$stderr" == *"owned by"* ]]
	SFRUN_NO_AUTOSTART=1 one_line_125 "$SFRUN" -k x -- touch "$WORK/marker"
	[ ! -e "$WORK/marker" ]
	# Not even a connection reached it (it would have refused root anyway).
	[ -z "$(grep -v listening "$WORK/theirs.log")" ]
	kill -0 "$pid"
}

@test "a socket directory open to group or other is refused by sfrun and sfrund" {
	mkdir -m 700 open
	export SFRUN_SOCKET="$WORK/open/s.sock"
	local mode
	for mode in 750 705 770 707 710 701 711 777 1777 2750; do
		chmod "$mode" open
		one_line_125 "$SFRUN" -k x -- touch marker
		[[ "$stderr" == sfrun:*open* ]]
		one_line_125 "$SFRUND" -f -S "$SFRUN_SOCKET" -i 1
		[[ "$stderr" == sfrund:*open* ]]
		[ ! -e marker ]
		[ -z "$(ls -A open)" ]
		# Refused, not silently "fixed".
		[ "$(stat -c %a open)" = "$mode" ]
	done
}

@test "a server's directory opened up later: the client no longer connects" {
	foreground_server srv.log -i 0
	local pid=$LASTPID
	chmod 750 "$SOCKDIR"
	SFRUN_NO_AUTOSTART=1 one_line_125 "$SFRUN" -k x -- touch marker
	one_line_125 "$SFRUN" -k x -- touch marker
	[ ! -e marker ]
	chmod 700 "$SOCKDIR"
	[ "$(runs_started)" = 0 ]
	normal_run "$pid"
}

@test "a symlinked socket directory is refused, even with a live server behind it" {
	mkdir -m 700 real
	ln -s real link
	export SFRUN_SOCKET="$WORK/real/s.sock"
	foreground_server srv.log -i 0
	local pid=$LASTPID
	one_line_125 "$SFRUN" -S "$WORK/link/s.sock" -k x -- touch marker
	[[ "$stderr" == *"symbolic link"* ]]
	SFRUN_NO_AUTOSTART=1 one_line_125 "$SFRUN" -S "$WORK/link/s.sock" -k x -- touch marker
	one_line_125 "$SFRUND" -f -S "$WORK/link/s.sock" -i 1
	[[ "$stderr" == *"symbolic link"* ]]
	one_line_125 "$SFRUND" -S "$WORK/link/s.sock" -i 1
	[ ! -e marker ]
	[ -L link ]
	[ "$(runs_started)" = 0 ]
	normal_run "$pid"
	# A dangling one is refused as well, and nothing is created behind it.
	ln -s nowhere dangling
	one_line_125 "$SFRUN" -S "$WORK/dangling/s.sock" -k x -- touch marker
	one_line_125 "$SFRUND" -f -S "$WORK/dangling/s.sock" -i 1
	[ ! -e nowhere ]
	[ ! -e marker ]
}

@test "a socket path that is a symlink to a live server's socket is refused" {
	foreground_server srv.log -i 0
	local pid=$LASTPID
	ln -s s.sock "$SOCKDIR/link.sock"
	SFRUN_NO_AUTOSTART=1 one_line_125 "$SFRUN" -S "$SOCKDIR/link.sock" -k x -- touch marker
	[[ "$stderr" == *"is not a socket; refusing it"* ]]
	# With autostart on, nothing replaces the link either.
	one_line_125 "$SFRUN" -S "$SOCKDIR/link.sock" -k x -- touch marker
	[[ "$stderr" == *"is not a socket; refusing it"* ]]
	[ -L "$SOCKDIR/link.sock" ]
	[ "$(readlink "$SOCKDIR/link.sock")" = s.sock ]
	# sfrund does not follow it, remove it or bind through it.
	run --separate-stderr timeout 30 "$SFRUND" -f -S "$SOCKDIR/link.sock" -i 1
	echo "sfrund: status=$status stderr=[$stderr]"
	[ "$status" -ne 0 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[ -L "$SOCKDIR/link.sock" ]
	[ ! -e marker ]
	[ "$(runs_started)" = 0 ]
	normal_run "$pid"
	no_sanitizer_report srv.log
}

@test "a dangling symlink or a plain file at the socket path is refused and left alone" {
	ln -s "$WORK/planted.sock" "$SOCKDIR/s.sock"
	one_line_125 "$SFRUN" -k x -- touch marker
	[[ "$stderr" == *"is not a socket; refusing it"* ]]
	run --separate-stderr timeout 30 "$SFRUND" -f -S "$SFRUN_SOCKET" -i 1
	echo "sfrund: status=$status stderr=[$stderr]"
	[ "$status" -ne 0 ]
	[ ! -e "$WORK/planted.sock" ]
	[ -L "$SOCKDIR/s.sock" ]
	rm "$SOCKDIR/s.sock"
	echo precious >"$SOCKDIR/s.sock"
	one_line_125 "$SFRUN" -k x -- touch marker
	[[ "$stderr" == *"is not a socket; refusing it"* ]]
	run --separate-stderr timeout 30 "$SFRUND" -f -S "$SFRUN_SOCKET" -i 1
	[ "$status" -ne 0 ]
	[ "$(cat "$SOCKDIR/s.sock")" = precious ]
	[ ! -e marker ]
}

@test "a run gets the invoker's environment, PATH, cwd and umask, not the server's" {
	mkdir -p "$BATS_TEST_TMPDIR/srvdir" bin
	printf '#!/bin/sh\necho found\n' >bin/hardening-probe
	chmod 755 bin/hardening-probe
	(cd "$BATS_TEST_TMPDIR/srvdir" && umask 077 &&
	    FOO=server SERVERONLY=yes exec "$SFRUND" -f -S "$SFRUN_SOCKET" -i 0) \
	    >srv.log 2>&1 3>&- &
	local pid=$!
	BGPIDS+=("$pid")
	wait_for test -S "$SFRUN_SOCKET"
	# The server really has the other values.
	tr '\0' '\n' <"/proc/$pid/environ" | grep -qx FOO=server
	[ "$(readlink "/proc/$pid/cwd")" != "$(pwd -P)" ]
	local rc=0
	(umask 022 && FOO=client PATH="$WORK/bin:$PATH" SFRUN_NO_AUTOSTART=1 \
	    timeout 30 "$SFRUN" -k env -c 'echo "FOO=$FOO"
echo "SERVERONLY=${SERVERONLY-unset}"
pwd -P
umask
hardening-probe') >env.out 2>env.err || rc=$?
	cat env.out env.err
	[ "$rc" = 0 ]
	[ "$(cat env.out)" = "$(printf 'FOO=client\nSERVERONLY=unset\n%s\n0022\nfound' "$(pwd -P)")" ]
	# Also from another directory, and with an argv command found on PATH.
	mkdir sub
	(cd sub && FOO=again PATH="$WORK/bin:$PATH" SFRUN_NO_AUTOSTART=1 \
	    timeout 30 "$SFRUN" -k env2 -- hardening-probe) >probe.out 2>&1 || rc=$?
	[ "$rc" = 0 ]
	[ "$(cat probe.out)" = found ]
	(cd sub && FOO=again SFRUN_NO_AUTOSTART=1 timeout 30 "$SFRUN" -k env3 -- \
	    sh -c 'echo "$FOO $(pwd -P)"') >sub.out 2>&1 || rc=$?
	[ "$rc" = 0 ]
	[ "$(cat sub.out)" = "again $(cd sub && pwd -P)" ]
	[ "$(server_pid)" = "$pid" ]
}

# --- fault injection -------------------------------------------------------------

@test "spool on a full filesystem: every waiter gets what fit, then 125 at once, naming it; the server lives on" {
	need_root "mount a tmpfs"
	need_tool mount
	mkdir small
	mount -t tmpfs -o size=128k,mode=700 hardening-spool "$WORK/small" ||
	    skip "cannot mount a tmpfs here"
	MOUNTS+=("$WORK/small")
	(SFRUN_TMPDIR="$WORK/small" exec "$SFRUND" -f -S "$SFRUN_SOCKET" -i 0) >srv.log 2>&1 3>&- &
	local pid=$!
	BGPIDS+=("$pid")
	wait_for test -S "$SFRUN_SOCKET"
	export SFRUN_NO_AUTOSTART=1
	# 1 MB of output into 128 KB, with a leader and a joiner; the command
	# would go on for long after (it is ended when the spool fails).
	spawn_waiter lead big 1 "$SFRUN" -k big -c "echo start; $(gate go); head -c 1048576 /dev/zero | tr '\\0' x; echo end; sleep 120"
	local lead=$LASTPID
	spawn_waiter join big 2 "$SFRUN" -k big -c 'echo WRONG'
	local join=$LASTPID
	touch go
	local p
	for p in lead join; do
		reap "${!p}"	# $lead, $join
		echo "$p: exit $RC, $(wc -c <$p.out) bytes, stderr: $(cat $p.err)"
		[ "$RC" = 125 ]
		[ "$(count_lines $p.err)" = 1 ]
		grep -qE "^sfrun: run [0-9]+ failed: the server could not keep the output in $WORK/small: No space left on device\$" $p.err
		[ "$(head -n 1 $p.out)" = start ]
		[ "$(wc -c <$p.out)" -le 131072 ]
		[ "$(wc -c <$p.out)" -gt 6 ]	# more than "start\n" fit
	done
	cmp lead.out join.out
	kill -0 "$pid"
	# The failed spool is freed: small runs fit again, on the same server.
	normal_run "$pid"
	wait_for no_run big
	normal_run "$pid"
	no_sanitizer_report srv.log
}

# The servers below log to srv.log; their pid and idle descriptor count
# are in the caller's locals pid and base.

# settled: the server $pid, just up, serves a normal run (no autostart from
# now on) and has written its pidfile; sets base.
settled() {
	export SFRUN_NO_AUTOSTART=1
	normal_run "$pid"
	wait_for pidfile_is "$pid"
	base=$(nfds "$pid")
}

# idle_server: a foreground server with no idle timeout, settled.
idle_server() {
	foreground_server srv.log -i 0
	pid=$LASTPID
	settled
}

# low_fd_server: a foreground server under `ulimit -n 24`, settled.
low_fd_server() {
	(ulimit -n 24 && exec "$SFRUND" -f -S "$SFRUN_SOCKET" -i 0) >srv.log 2>&1 3>&- &
	pid=$!
	BGPIDS+=("$pid")
	wait_for test -S "$SFRUN_SOCKET"
	settled
}

# recovered: the server $pid serves a normal run again, its pidfile still
# names it, it holds no more descriptors than when idle ($base), and
# srv.log has no sanitizer report.
recovered() {
	normal_run "$pid"
	pidfile_is "$pid"
	wait_for nfds_are "$pid" "$base"
	no_sanitizer_report srv.log
}

@test "few descriptors on the server, 20 runs at once: each served or a clean 125, none hangs; it recovers" {
	local pid base
	low_fd_server
	echo "idle descriptors: $base"
	local i PIDS=()
	for i in $(seq 20); do
		spawn "c$i" "$SFRUN" -k "k$i" -c "$(gate go); echo done"
		PIDS+=("$LASTPID")
	done
	# The server ran out: a client was refused, or accept had to pause.
	ran_out() {
		grep -qE 'accept: Too many open files; pausing|out of descriptors' srv.log ||
		    grep -qs 'Too many open files' c*.err
	}
	wait_for ran_out
	touch go
	cat srv.log
	reap_clients 20
	[ "$SERVED" -ge 1 ]
	recovered
}

@test "few descriptors on the server, 30 joiners: accept pauses, each served or a clean 125; it recovers" {
	local pid base
	low_fd_server
	# One key: every client that gets in joins the one run, a descriptor
	# each, until accept runs out and pauses; the rest wait in the backlog.
	local i PIDS=()
	for i in $(seq 30); do
		spawn "c$i" "$SFRUN" -k one -c "echo run >>count; $(gate go); echo done"
		PIDS+=("$LASTPID")
	done
	wait_for grep -qE 'accept: Too many open files; pausing|out of descriptors' srv.log
	touch go
	cat srv.log
	reap_clients 30
	echo "$(count_lines count) runs"
	[ "$SERVED" -ge 1 ]
	recovered
}

@test "fork failing (RLIMIT_NPROC): a clean 125 'cannot fork', the server lives" {
	need_nobody
	public_dir
	local sd="$PUBLIC/nb"
	mkdir -m 700 "$sd"
	chown nobody "$sd"
	export SFRUN_SOCKET="$sd/s.sock" SFRUN_NO_AUTOSTART=1
	(cd / && ulimit -u 1 && TMPDIR="$sd" exec setpriv --reuid=nobody \
	    --regid="$(id -g nobody)" --clear-groups \
	    "$SFRUND" -f -S "$SFRUN_SOCKET" -i 0) >srv.log 2>&1 3>&- &
	local pid=$!
	BGPIDS+=("$pid")
	wait_for test -S "$SFRUN_SOCKET"
	local n
	for n in 1 2; do
		run --separate-stderr as_nobody timeout 30 "$SFRUN" -k "f$n" -- touch "$sd/ran"
		echo "try $n: status=$status stdout=[$output] stderr=[$stderr]"
		[ "$status" -eq 125 ]
		[ -z "$output" ]
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ "$stderr" == "sfrun: "*"cannot fork"* ]]
		[ ! -e "$sd/ran" ]
	done
	run --separate-stderr as_nobody timeout 30 "$SFRUN" --status --json
	echo "status: $output $stderr"
	[ "$status" -eq 0 ]
	[ "$("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["server"]["pid"], len(d["runs"]))' "$output")" = "$pid 0" ]
	kill -0 "$pid"
	no_sanitizer_report srv.log
}

@test "clients that send part of a frame and stall are dropped after the timeout, blocking nobody" {
	foreground_server srv.log -i 0
	local pid=$LASTPID
	export SFRUN_NO_AUTOSTART=1
	spawn stall py '
half_header = struct.pack("=II", HELLO, 8)[:4]
half_run = hello() + struct.pack("=II", RUN, 400) + b"x" * 100
socks = []
for name, data in (("nothing", b""), ("half-header", half_header),
                   ("half-run", half_run)):
    s = connect(sys.argv[1])
    send(s, data, shut=False)
    socks.append((name, s, time.monotonic()))
open("stalled", "w").close()
for name, s, t0 in socks:
    got, eof, _ = drain(s, 30 - (time.monotonic() - t0))
    secs = time.monotonic() - t0
    open("eof." + name, "w").write("%.1f\n" % secs)
    print("%s: eof=%s after %.1fs, frames %s" % (name, eof, secs, [t for t, _ in frames(got)]))
    assert eof and 8 <= secs <= 22, (name, eof, secs)
    assert [t for t, _ in frames(got)] in ([], [HELLO]), got
' "$SFRUN_SOCKET"
	local stall=$LASTPID
	wait_file stalled
	local t0 t1
	t0=$(now_ms)
	normal_run "$pid"
	spawn_waiter other other 1 "$SFRUN" -k other -c "$(gate go); echo other"
	local other=$LASTPID
	touch go
	reap "$other"
	t1=$(now_ms)
	echo "runs beside the stalled clients took $((t1 - t0))ms"
	[ "$RC" = 0 ]
	[ "$(cat other.out)" = other ]
	[ $((t1 - t0)) -lt 5000 ]
	# They were still connected meanwhile.
	[ -z "$(ls eof.* 2>/dev/null)" ]
	reaped "$stall" 0 40 || { cat stall.out stall.err; false; }
	cat srv.log
	[ "$(grep -c 'dropped: no whole request in time' srv.log)" = 3 ]
	normal_run "$pid"
	no_sanitizer_report srv.log
}

# --- protocol robustness -----------------------------------------------------

@test "truncated, oversized and out-of-order frames drop only that client" {
	local pid base
	idle_server
	py '
path, work = sys.argv[1], sys.argv[2]
cwd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
filefd = os.open("/dev/null", os.O_RDONLY)
def marker(name):
    return ["/bin/sh", "-c", "echo ran >>" + work + "/ran." + name]
def runf(name, **kw):
    return frame(RUN, run_payload("k-" + name, marker(name), **kw))
good_run = runf("good")
fails = []
def case(name, data, fds=(), shut=True, secs=15, want=None, answers=(HELLO, ERROR)):
    s = connect(path)
    send(s, data, fds, shut)
    got, eof, took = drain(s, secs)
    s.close()
    types = [t for t, _ in frames(got)]
    ok = eof and all(t in answers for t in types) and (want is None or types == want)
    print("%-34s eof=%-5s %.2fs frames=%s%s" % (name, eof, took, types, "" if ok else "  <-- FAIL"))
    if not ok:
        fails.append(name)

# Truncated: every prefix of HELLO+STATUS, and cuts through a run request.
hs = hello() + frame(STATUS)
for n in range(len(hs)):
    case("truncated hello+status %d/%d" % (n, len(hs)), hs[:n])
req = hello() + good_run
for n in (9, 16, 20, 24, 40, 100, 300, len(req) // 2, len(req) - 1):
    case("truncated hello+run %d/%d" % (n, len(req)), req[:n], [cwd])
# Oversized length headers: dropped at the header, not after the stall.
for t, n in ((HELLO, 9), (HELLO, 0xffffffff), (RUN, (16 << 20) + 1),
             (RUN, 0xffffffff), (STATUS, 1), (STOP, 0x7fffffff),
             (FORGET, 1025), (FORGET, 0xffffffff)):
    pre = b"" if t == HELLO else hello()
    case("oversized type %d len %#x" % (t, n), pre + struct.pack("=II", t, n) + b"x" * 64,
         shut=False, secs=5)
# Unknown types.
for t in (0, 14, 99, 0xffffffff):
    case("unknown type %#x first" % t, frame(t, b"abcd"), shut=False, secs=5)
    case("unknown type %#x after hello" % t, hello() + frame(t, b"abcd"), shut=False, secs=5)
# Out of order.
case("run before hello", runf("before-hello"), [cwd], shut=False, want=[])
case("status before hello", frame(STATUS), shut=False, want=[])
case("stop before hello", frame(STOP), shut=False, want=[])
case("data from a client", hello() + frame(DATA, struct.pack("=Q", 10)), shut=False, want=[HELLO, ERROR])
for t in (JOINED, DONE, BUSY, ERROR, 11, 12, 13):
    case("server message %d from a client" % t, hello() + frame(t), shut=False)
case("two hellos", hello() + hello(), shut=False, want=[HELLO, ERROR])
case("two hellos then run", hello() + hello() + runf("two-hellos"), [cwd], shut=False)
case("hello with a bad magic", hello(magic=0x12345678), shut=False, want=[])
case("hello of another version", hello(version=PROTO + 1), shut=False, want=[HELLO, ERROR])
case("hello of another version then run", hello(version=PROTO + 1) + runf("v2"), [cwd], shut=False)
case("hello too short", frame(HELLO, b"\x73\x66\x72\x75"), shut=False, want=[])
case("hello with trailing bytes", frame(HELLO, struct.pack("=III", 0x75726673, PROTO, 0)), shut=False)
# Run requests that must not run.
case("run without a cwd", hello() + runf("no-cwd"), shut=False, want=[HELLO, ERROR])
case("run with a file for cwd", hello() + runf("file-cwd"), [filefd], shut=False, want=[HELLO, ERROR])
case("run with many fds", hello() + runf("many-fds"), [cwd] * 20, shut=False)
case("run with bad flags", hello() + runf("flags", flags=0x80), [cwd], shut=False, want=[HELLO, ERROR])
case("run with a bad umask", hello() + runf("umask", umask=0o7777), [cwd], shut=False, want=[HELLO, ERROR])
b = run_payload("k-backend", marker("backend"))[:-24]
for name, tail in (("a short lease", struct.pack("=IQQ", 0, 1000, 1)),
                   ("unknown backend flags", struct.pack("=IQQ", 0x80, 15000, 1))):
    blk = b"redis://127.0.0.1:1\0p\0\0"
    case("run with %s" % name, hello() + frame(RUN, b + tail + struct.pack("=I", len(blk)) + blk), [cwd], shut=False, want=[HELLO, ERROR])
blk = b"redis://127.0.0.1:1\0p\0"
case("run with two backend strings", hello() + frame(RUN, b + struct.pack("=IQQI", 0, 15000, 1, len(blk)) + blk), [cwd], shut=False, want=[HELLO, ERROR])
p = run_payload("k-trail", marker("trail"))
case("run with trailing bytes", hello() + frame(RUN, p + b"zz"), [cwd], shut=False, want=[HELLO, ERROR])
case("run one byte short", hello() + frame(RUN, p[:-1]), [cwd], shut=False, want=[HELLO, ERROR])
p = run_payload("k-nul", marker("nul"))
case("run with a NUL in the key", hello() + frame(RUN, p.replace(b"k-nul", b"k\0nul", 1)), [cwd], shut=False, want=[HELLO, ERROR])
p = bytearray(run_payload("k-argc", marker("argc")))
argc_at = 8 + 32 + 8 + 256 + 4 + len("k-argc")
for name, argc in (("zero", 0), ("too big", 4), ("huge", 0xffffffff)):
    q = bytearray(p)
    struct.pack_into("=I", q, argc_at, argc)
    case("run with argc %s" % name, hello() + frame(RUN, bytes(q)), [cwd], shut=False, want=[HELLO, ERROR])
q = bytearray(p)
struct.pack_into("=I", q, argc_at + 4, 0xfffffff0)
case("run with a huge argv length", hello() + frame(RUN, bytes(q)), [cwd], shut=False, want=[HELLO, ERROR])
case("forget with an empty key", hello() + frame(FORGET), shut=False, want=[HELLO, ERROR])
case("run after a status", hello() + frame(STATUS) + runf("after-status"), [cwd], shut=False,
     answers=(HELLO, 11, 12, ERROR))
# A client that talks while it waits for its run is dropped, and as the
# only waiter of its run it takes the run down with it.
s = connect(path)
send(s, hello() + frame(RUN, run_payload("k-waiting", ["/bin/sh", "-c", "sleep 5; echo ran >>" + work + "/ran.waiting"])), [cwd], shut=False)
got = b""
while [t for t, _ in frames(got)][:2] != [HELLO, JOINED]:
    b = s.recv(65536)
    assert b, got
    got += b
send(s, frame(STATUS), shut=False)
got, eof, took = drain(s, 5)
print("%-34s eof=%-5s %.2fs frames=%s" % ("data while waiting", eof, took, [t for t, _ in frames(got)]))
if not eof or DONE in [t for t, _ in frames(got)]:
    fails.append("data while waiting")
s.close()
print("failed:", fails)
sys.exit(1 if fails else 0)
' "$SFRUN_SOCKET" "$WORK"
	echo "the server: pid $(server_pid), was $pid"
	[ "$(server_pid)" = "$pid" ]
	# The run of the client dropped while waiting was cancelled.
	wait_for no_run k-waiting
	# Nothing ran: no request in error, none after a bad or missing hello.
	ls ran.* 2>/dev/null || true
	[ -z "$(ls ran.* 2>/dev/null)" ]
	[ "$(runs_started)" = 2 ]	# the normal run and k-waiting
	# No descriptor (passed cwd, spool, connection) was kept.
	recovered
}

@test "200 random frames (fixed seed), each on its own connection: the server serves on" {
	local pid base started
	idle_server
	started=$(runs_started)
	py '
path, work = sys.argv[1], sys.argv[2]
rng = random.Random(20240611)
cwd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
hung = 0
for i in range(200):
    data = b""
    if rng.random() < 0.5:
        data += hello()
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        t = rng.choice([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, rng.getrandbits(32)])
        body = rng.randbytes(rng.randint(0, 600))
        if kind < 0.4:
            data += frame(t, body)
        elif kind < 0.7:
            data += frame(t, body, n=rng.choice([len(body) + 1, len(body) * 2, rng.getrandbits(32), rng.getrandbits(16)]))
        elif kind < 0.85:
            data += frame(RUN, bytearray(run_payload("r%d" % i, ["/bin/sh", "-c", "echo ran >>" + work + "/ran.random"])))[:rng.randint(8, 400)]
        else:
            data += rng.randbytes(rng.randint(1, 64))
    if rng.random() < 0.3:
        cut = rng.randint(0, len(data))
        data = data[:cut]
    s = connect(path)
    send(s, data, [cwd] if rng.random() < 0.3 else [])
    got, eof, took = drain(s, 15)
    s.close()
    if not eof:
        hung += 1
        print("connection %d: no EOF after %.1fs, %d bytes sent" % (i, took, len(data)))
print("random frames: %d connections, %d not closed" % (200, hung))
sys.exit(1 if hung else 0)
' "$SFRUN_SOCKET" "$WORK"
	[ "$(server_pid)" = "$pid" ]
	[ ! -e ran.random ]
	[ "$(runs_started)" = "$started" ]
	recovered
}

@test "a server of another user says so; an unreachable directory is 'cannot use'" {
	need_nobody
	public_dir
	mkdir -m 700 "$PUBLIC/theirs"
	chown nobody "$PUBLIC/theirs"
	# Root's listener in nobody's directory, refusing as sfrund does.
	"$PY" -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777); s.listen(8)
s.settimeout(60)
while True:
    c, _ = s.accept()
    c.close()
' "$PUBLIC/theirs/s.sock" 3>&- &
	BGPIDS+=("$!")
	wait_for test -S "$PUBLIC/theirs/s.sock"
	run --separate-stderr as_nobody env SFRUN_SOCKET="$PUBLIC/theirs/s.sock" \
	    SFRUN_NO_AUTOSTART=1 timeout 30 "$SFRUN" -k x -- true
	echo "status=$status stderr=[$stderr]"
	[ "$status" -eq 125 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == *"belongs to another user (uid 0)"* ]]
	# A directory that exists but that nobody cannot reach.
	mkdir -m 700 "$PUBLIC/root-only"
	mkdir -m 700 "$PUBLIC/root-only/d"
	run --separate-stderr as_nobody env SFRUN_SOCKET="$PUBLIC/root-only/d/s.sock" \
	    timeout 30 "$SFRUN" -k x -- true
	echo "status=$status stderr=[$stderr]"
	[ "$status" -eq 125 ]
	[ "$stderr" = "sfrun: cannot use $PUBLIC/root-only/d: Permission denied" ]
}
