# Shared set-up for the bats suites: every test gets its own socket
# directory (so its own server) and its own SFRUN_TMPDIR, and its server
# is stopped in teardown.
# The helpers below are the ones two or more suites use; a suite keeps its
# own helpers in the suite.

# shellcheck disable=SC2034 # the variables below are for the suites
TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
BUILD=${SFRUN_BUILD:-$TOP/build}	# make check SANITIZE=1 sets it
SFRUN="$BUILD/sfrun"
SFRUND="$BUILD/sfrund"

# A prefix that puts SIGINT back to its default before exec'ing the rest
# (a background job of a script starts with SIGINT ignored; a terminal's
# Ctrl-C reaches a foreground program with the default action).
SIGDFL=(python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])')

# scaled N M: N in the plain build, M under the sanitizers, where every call
# is several times slower and a few hundred calls find a memory error as
# surely as a thousand do.
scaled() {
	case $BUILD in
	*/sanitize) echo "$2" ;;
	*) echo "$1" ;;
	esac
}

# Pids of a test's background processes; teardown kills those still alive.
BGPIDS=()
# Gate files (names in $WORK) teardown creates to release gated commands.
GATES=(go)

setup() {
	SOCKDIR=$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/sock.XXXXXX")
	chmod 700 "$SOCKDIR"
	export SFRUN_SOCKET="$SOCKDIR/s.sock"
	export TMPDIR="$BATS_TEST_TMPDIR"
	# sfrun's own directory (default socket, spools): the test's too.
	export SFRUN_TMPDIR="$BATS_TEST_TMPDIR"
	unset SFRUN_NO_AUTOSTART
	WORK="$BATS_TEST_TMPDIR/work"
	mkdir -p "$WORK"
	cd "$WORK" || return 1
}

# Kill BGPIDS, release the GATES, kill the pids in $WORK/*.kill, stop the server.
teardown() {
	local p
	for p in "${BGPIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	for p in "${GATES[@]}"; do
		touch "$WORK/$p" 2>/dev/null || true
	done
	for p in "$WORK"/*.kill; do
		if [ -e "$p" ]; then
			kill -KILL "$(cat "$p")" 2>/dev/null || true
		fi
	done
	stop_server
}

# The pid of the server on $SFRUN_SOCKET, from its pidfile; empty if none.
server_pid() {
	local pid
	pid=$(cat "$SFRUN_SOCKET.pid" 2>/dev/null) || return 0
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
	return 0
}

# Stop this test's server for sure: TERM, then KILL it and its runs' process groups.
stop_server() {
	local pid runs r
	pid=$(server_pid)
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	# Still running: a run it waits for did not end. Its children are the
	# runs, each the leader of its own process group (setsid); they are
	# listed before the KILL, as they are re-parented after it.
	runs=$(ps -o pid= --ppid "$pid" 2>/dev/null)
	kill -KILL "$pid" 2>/dev/null
	for r in $runs; do
		kill -KILL -- "-$r" "$r" 2>/dev/null
	done
	return 0
}

# foreground_server LOG ARGS...: sfrund -f ARGS in the background (LOG), up; pid in $LASTPID.
foreground_server() {
	local log=$1
	shift
	"$SFRUND" -f -S "$SFRUN_SOCKET" "$@" >"$log" 2>&1 3>&- &
	LASTPID=$!
	BGPIDS+=("$LASTPID")
	wait_for test -S "$SFRUN_SOCKET"
}

# no_sanitizer_report LOG: LOG has no ASan/UBSan report.
no_sanitizer_report() {
	! grep -E 'Sanitizer|runtime error' "$1"
}

# one_line_125 PROGRAM ARGS...: PROGRAM (sfrun or sfrund) exits 125 with one
# line on stderr and nothing on stdout.
# shellcheck disable=SC2154 # status, stderr, stderr_lines: set by bats' run
one_line_125() {
	run --separate-stderr timeout 30 "$@"
	local args="$*"
	echo "${args:0:160}: status=$status stdout=[$output] stderr=[$stderr]"
	[ "$status" -eq 125 ]
	[ -z "$output" ]
	[ "${#stderr_lines[@]}" -eq 1 ]
}

# pidfile_is PID: the pidfile beside the socket names PID, and only that.
pidfile_is() {
	[ "$(tr -d '\n' <"$SFRUN_SOCKET.pid" 2>/dev/null | od -An -c | tr -d ' ')" = \
	    "$(printf %s "$1" | od -An -c | tr -d ' ')" ]
}

# proto_version: the protocol version this build speaks (from sfrun --version).
proto_version() {
	"$SFRUN" --version | sed -n 's/.*(protocol \([0-9]*\)).*/\1/p'
}

# reap_server PID LOG: sfrund PID exits 0, LOG has no sanitizer report, socket+pidfile gone.
reap_server() {
	reap "$1" 30
	cat "$2"
	echo "sfrund $1: exit $RC"
	[ "$RC" = 0 ]
	# (a bare "! grep" here could not fail: set -e ignores a negated command)
	no_sanitizer_report "$2" >/dev/null
	[ ! -e "$SFRUN_SOCKET" ]
	[ ! -e "$SFRUN_SOCKET.pid" ]
}

# idles_out LOG SECS MIN_MS: sfrund -f -i SECS exits cleanly by itself (reap_server), MIN_MS or more after its start.
idles_out() {
	local t0 t1
	t0=$(now_ms)
	foreground_server "$1" -i "$2"
	reap_server "$LASTPID" "$1"
	t1=$(now_ms)
	echo "idle exit took $((t1 - t0))ms"
	[ $((t1 - t0)) -ge "$3" ]
}

# wait_for CMD...: run CMD until it succeeds, for at most $WAIT_SECS (20s).
wait_for() {
	local deadline=$((SECONDS + ${WAIT_SECS:-20}))
	until "$@"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "timed out waiting for: $*" >&2
			return 1
		fi
		sleep 0.02
	done
}

# wait_file PATH: wait until PATH exists.
wait_file() {
	wait_for test -e "$1"
}

# count_lines FILE: the number of lines in FILE (0 if missing).
count_lines() {
	if [ -e "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi
}

# now_ms: the time in milliseconds.
now_ms() {
	date +%s%3N
}

# lines_are FILE N: FILE has exactly N lines.
lines_are() {
	[ "$(count_lines "$1")" = "$2" ]
}

# size_at_least FILE N: FILE holds at least N bytes.
size_at_least() {
	[ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ]
}

# gate NAME: shell code that waits (at most 60s) until ./NAME exists.
gate() {
	# shellcheck disable=SC2016 # expanded by the command's shell
	printf 'n=0; while [ ! -e %s ] && [ $n -lt 3000 ]; do sleep 0.02; n=$((n+1)); done' "$1"
}

# gategrep PATTERN FILE: shell code that waits (at most 60s) until FILE holds PATTERN.
gategrep() {
	# shellcheck disable=SC2016 # expanded by the command's shell
	printf 'n=0; until grep -q %s %s || [ $n -ge 3000 ]; do sleep 0.02; n=$((n+1)); done' "$1" "$2"
}

# spawn NAME CMD...: run CMD in the background (NAME.out, NAME.err); pid in $LASTPID.
spawn() {
	local name=$1
	shift
	"$@" >"$name.out" 2>"$name.err" 3>&- &
	LASTPID=$!
	BGPIDS+=("$LASTPID")
}

# spawn_waiter NAME KEY N CMD...: spawn NAME CMD... (a caller of KEY), then wait until KEY's run has N waiters; pid in $LASTPID.
spawn_waiter() {
	local name=$1 key=$2 n=$3
	shift 3
	spawn "$name" "$@"
	wait_for has_waiters "$key" "$n"
}

# reap PID [SECS]: wait at most SECS (30) for PID to end; its status in $RC.
reap() {
	local pid=$1 secs=${2:-30}
	local deadline=$((SECONDS + secs))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "pid $pid still running after ${secs}s" >&2
			kill -KILL "$pid" 2>/dev/null
			RC=timeout
			return 1
		fi
		sleep 0.02
	done
	RC=0
	wait "$pid" || RC=$?
}

# many N NAME CMD...: start N callers of CMD in the background, outputs in
# NAME.I.out; their pids in PIDS.
many() {
	local n=$1 name=$2 i
	shift 2
	PIDS=()
	for i in $(seq "$n"); do
		spawn "$name.$i" "$@"
		PIDS+=("$LASTPID")
	done
}

# reaped PID WANT [SECS]: reap PID (waiting at most SECS, 30); it must exit WANT.
reaped() {
	reap "$1" "${3:-30}"
	echo "pid $1: exit $RC (want $2)"
	[ "$RC" = "$2" ]
}

# reap_all EXPECTED: reap every pid in PIDS, each must exit EXPECTED.
reap_all() {
	local p
	for p in "${PIDS[@]}"; do
		reaped "$p" "$1"
	done
}

# gone PID: process PID no longer exists (or is a zombie).
gone() {
	! kill -0 "$1" 2>/dev/null ||
	    [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]
}

# sjson EXPR [ARG...]: python EXPR over `sfrun --status --json` (d; runs R; ARGs A).
sjson() {
	local expr=$1
	shift
	timeout 30 "$SFRUN" --status --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
R = d["runs"]
A = sys.argv[2:]
print(eval(sys.argv[1]))' "$expr" "$@"
}

# field KEY NAME: field NAME of KEY's joinable run in --status --json; fails if none.
field() {
	sjson '[r[A[1]] for r in R if r["key"] == A[0] and r["joinable"]][0]' "$1" "$2"
}

# has_waiters KEY N: KEY has a joinable run, and it has exactly N waiters.
has_waiters() {
	[ "$(field "$1" waiters 2>/dev/null)" = "$2" ]
}

# all_waiters N: all runs the server holds have N waiters together.
all_waiters() {
	[ "$(sjson 'sum(r["waiters"] for r in R)' 2>/dev/null)" = "$1" ]
}

# output_bytes_are KEY N: KEY's joinable run has N bytes of output so far.
output_bytes_are() {
	[ "$(field "$1" output_bytes 2>/dev/null)" = "$2" ]
}

# older_than KEY MS: KEY's joinable run started more than MS ms ago.
older_than() {
	[ "$(field "$1" age_ms 2>/dev/null)" -gt "$2" ] 2>/dev/null
}

# runs_of KEY: how many runs of KEY the server holds (in flight or lingering).
runs_of() {
	sjson 'len([r for r in R if r["key"] == A[0]])' "$1"
}

# no_run KEY: the server holds no run of KEY.
no_run() {
	[ "$(runs_of "$1" 2>/dev/null)" = 0 ]
}
