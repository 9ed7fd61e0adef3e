#!/usr/bin/env bash
# The valgrind pass: a memcheck'd sfrund serves memcheck'd sfrun clients
# through a representative set of scenarios (coalescing, late join, signal
# and exec failures, timeouts, no-join, detach, linger, forget, status,
# garbage on the socket, stop). Any invalid read or write, or a definite
# leak, in either program fails it. TAP on stdout. Under valgrind 3.19 the
# server has no pidfd_open, so this also covers its SIGCHLD fallback.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${SFRUN_BUILD:-$top/build}
dir=$(mktemp -d)
chmod 700 "$dir"
mkdir "$dir/vg" "$dir/tmp"
export SFRUN_SOCKET="$dir/vg.sock" TMPDIR="$dir/tmp" SFRUN_TMPDIR="$dir/tmp"
export SFRUN_NO_AUTOSTART=1
exec </dev/null
# valgrind keeps its own descriptors just under the open-file limit, and is
# not made for the near-unbounded limits some containers give (2^30): each
# process it runs would carry a descriptor table that size. Bounded here.
if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -gt 4096 ]; then
	ulimit -n 4096
fi
vg=(valgrind -q --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite --show-leak-kinds=definite
    --trace-children=no --child-silent-after-fork=yes
    --log-file="$dir/vg/%p.log")
n=0
failed=0
spid=

cleanup() {
	jobs -p | xargs -r kill -KILL 2>/dev/null
	touch "$dir/go"
	rm -rf "$dir"
}
trap cleanup EXIT

# check NAME COND...: one TAP line.
check() {
	local name=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - valgrind: $name"
	else
		echo "not ok $n - valgrind: $name"
		failed=$((failed + 1))
	fi
}

# The client as make check builds it for memcheck: linked dynamically, so
# that valgrind can replace its malloc and free (build/sfrun is static).
client=$build/memcheck/sfrun
if [[ ! -x $client ]]; then
	echo "not ok 1 - valgrind: no $client (make check builds it)"
	exit 1
fi
# Each memcheck'd call is bounded: a hang is that check's failure (status
# 137: timeout's KILL), not the end of the whole pass.
sfrun() { timeout -s KILL 180 "${vg[@]}" "$client" "$@"; }

# reap PID: wait for PID to exit (bounded; then it is killed); its status.
reap() {
	local i
	for i in $(seq 1200); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1"
}

# bg CMD...: run CMD in the background, remembering its pid in pids.
pids=()
bg() {
	"$@" &
	pids+=("$!")
}

# clients: wait for the background clients (never for the server).
clients() {
	local p
	for p in "${pids[@]}"; do
		wait "$p"
	done
	pids=()
}

# wait_waiters KEY N: until the run of KEY has N waiters (bounded).
wait_waiters() {
	local i
	for i in $(seq 600); do
		"$build/sfrun" --status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
sys.exit(0 if any(r["key"] == sys.argv[1] and r["waiters"] >= int(sys.argv[2])
    for r in d["runs"]) else 1)' "$1" "$2" && return 0
		sleep 0.05
	done
	return 1
}

if ! command -v valgrind >/dev/null; then
	echo "ok 1 - valgrind: skipped, valgrind is not installed # SKIP"
	echo "1..1"
	exit 0
fi

"${vg[@]}" "$build/sfrund" -f -i 0 2>"$dir/sfrund.err" &
spid=$!
for _ in $(seq 600); do [ -S "$SFRUN_SOCKET" ] && break; sleep 0.05; done
check "server starts" test -S "$SFRUN_SOCKET"

out=$(sfrun -k a -c 'echo out; echo err >&2; exit 3' 2>"$dir/err"); rc=$?
check "a run: output, status" test "$out/$(cat "$dir/err")/$rc" = "out/err/3"

gate="while [ ! -e $dir/go ]; do sleep 0.05; done"
for i in 1 2 3; do
	bg sfrun -k j -c "echo early; $gate; echo late" >"$dir/j$i" 2>&1
done
check "three joiners share one run" wait_waiters j 3
touch "$dir/go"
clients
check "three joiners, one output" test "$(cat "$dir"/j1 "$dir"/j2 "$dir"/j3 | sort | uniq -c | awk '{print $1}' | sort -u)" = 3
rm -f "$dir/go"

bg sfrun -k late -c "echo first; $gate; echo second" >"$dir/l1"
check "the first caller is waiting" wait_waiters late 1
bg sfrun -k late -- true >"$dir/l2"
check "the late caller joined it" wait_waiters late 2
touch "$dir/go"
clients
check "late joiner gets everything" cmp -s "$dir/l1" "$dir/l2"
rm -f "$dir/go"

sfrun -k sig -c 'kill -TERM $$'; rc=$?
check "death by signal" test "$rc" = 143
sfrun -k nf -- /nonexistent/cmd 2>/dev/null; rc=$?
check "command not found: 127" test "$rc" = 127
sfrun -k nx -- /etc/passwd 2>/dev/null; rc=$?
check "not executable: 126" test "$rc" = 126

bg sfrun -k to -c "$gate"
check "a run holds the key" wait_waiters to 1
sfrun -q -t 0.3 -k to -- true; rc=$?
check "--timeout: 124" test "$rc" = 124
sfrun -n -k to -- true >"$dir/busy"; rc=$?
check "--no-join: 75, no output" test "$rc/$(cat "$dir/busy")" = "75/"
touch "$dir/go"
clients
rm -f "$dir/go"
sfrun -q --run-timeout 0.3 -k rt -- sleep 30; rc=$?
check "--run-timeout: 124" test "$rc" = 124

sfrun -d -k det -c "echo done >$dir/detached"; rc=$?
for _ in $(seq 600); do [ -s "$dir/detached" ] && break; sleep 0.05; done
check "--detach returns, the run completes" test "$rc/$(cat "$dir/detached")" = "0/done"

sfrun --linger 30 -k lg -c 'echo once' >/dev/null
out=$(sfrun -k lg -c 'echo twice')
check "--linger replays" test "$out" = once
sfrun --status >/dev/null && sfrun --status --json >/dev/null
check "--status and --json" test $? = 0
sfrun -q --forget lg; rc1=$?
sfrun -q --forget lg; rc2=$?
check "--forget: 0, then 1" test "$rc1/$rc2" = "0/1"

# A run that closes its output before it exits: only its exit (SIGCHLD
# here, without pidfd_open) tells the server it ended.
sfrun -q -k closed -c 'exec >&- 2>&-; sleep 0.3; exit 3'; rc=$?
check "a run that closes its output first is reaped at its exit" test "$rc" = 3

# Backend runs: the server's side of a bridge (its reports, its end).
if command -v redis-server >/dev/null; then
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
	    --dir "$dir" >/dev/null &
	rpid=$!
	for _ in $(seq 200); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && break
		sleep 0.05
	done
	# shellcheck disable=SC2016 # expanded by the command's shell
	out=$(sfrun --backend "redis://127.0.0.1:$port" -k be -c 'echo "led $SFRUN_FENCE"; exit 4'); rc=$?
	check "backend: a run led through redis" test "$out/$rc" = "led 1/4"
	kill "$rpid"
	reap "$rpid"
	sfrun -q --backend "redis://127.0.0.1:$port" -k be -- true; rc=$?
	check "backend: redis down, 125" test "$rc" = 125
	out=$(sfrun -q --backend "redis://127.0.0.1:$port" --fallback local -k be -c 'echo alone' 2>/dev/null); rc=$?
	check "backend: --fallback local" test "$out/$rc" = "alone/0"
else
	check "backend: skipped, redis-server is not installed # SKIP" true
fi

python3 - "$SFRUN_SOCKET" <<'PY'
import os, random, socket, struct, sys
random.seed(7)
frames = [b"", b"\x01", struct.pack("=II", 99, 0), struct.pack("=II", 2, 1 << 30),
          struct.pack("=II", 1, 8) + b"sfru\x02\x00\x00\x00" + struct.pack("=II", 2, 3) + b"abc"]
frames += [os.urandom(random.randrange(1, 300)) for _ in range(30)]
for f in frames:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(f)
    s.shutdown(socket.SHUT_WR)
    s.settimeout(15)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
PY
out=$(sfrun -k after -- echo alive)
check "garbage frames, then a normal run" test "$out" = alive

sfrun --stop-server; reap "$spid"; rc=$?
check "server exits cleanly (no leak, no invalid access)" test "$rc" = 0
# Reports are "==pid==" lines; "--pid--" ones are notices (valgrind 3.19
# does not know pidfd_open, which sends the server down its SIGCHLD path).
errs=$(cat "$dir"/vg/*.log 2>/dev/null | grep '^==')
check "no valgrind report from any process" test -z "$errs"
[ -z "$errs" ] || printf '# %s\n' "${errs//$'\n'/$'\n'# }" | head -40
echo "1..$n"
[ "$failed" -eq 0 ]
