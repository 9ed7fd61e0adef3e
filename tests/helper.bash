# Shared set-up for the bats suites: every test gets its own socket
# directory (so its own server), and its server is stopped in teardown.

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
BUILD=${SFRUN_BUILD:-$TOP/build}	# make check SANITIZE=1 sets it
SFRUN="$BUILD/sfrun"
SFRUND="$BUILD/sfrund"

setup() {
	SOCKDIR=$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/sock.XXXXXX")
	chmod 700 "$SOCKDIR"
	export SFRUN_SOCKET="$SOCKDIR/s.sock"
	export TMPDIR="$BATS_TEST_TMPDIR"
	unset SFRUN_NO_AUTOSTART
	WORK="$BATS_TEST_TMPDIR/work"
	mkdir -p "$WORK"
	cd "$WORK" || return 1
}

teardown() {
	stop_server
}

# The pid of the server on $SFRUN_SOCKET, from its pidfile; empty if none.
server_pid() {
	local pid
	pid=$(cat "$SFRUN_SOCKET.pid" 2>/dev/null) || return 0
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
	return 0
}

# Stop this test's server for sure: TERM, then KILL, waiting for it to go.
stop_server() {
	local pid i
	pid=$(server_pid)
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
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
