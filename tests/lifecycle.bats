#!/usr/bin/env bats
# The server's life (issue 13): one socket per user whatever the
# environment, a clean start, at most one run per key across a crash or a
# restart, no caller refused by an idle exit, a deleted socket or a stop,
# and bounded resources.

bats_require_minimum_version 1.5.0
load helper

# default_socket: the socket sfrun uses with no -S and no SFRUN_SOCKET.
default_socket() {
	echo "$SFRUN_TMPDIR/sfrun-$(id -u)/default.sock"
}

@test "cron and a login shell of one user reach one server, whatever XDG_RUNTIME_DIR and TMPDIR say" {
	export SFRUN_SOCKET
	SFRUN_SOCKET=$(default_socket)	# for the helpers and teardown
	mkdir -m 700 xdg t1 t2
	(unset SFRUN_SOCKET XDG_RUNTIME_DIR; TMPDIR="$WORK/t1" \
	    exec "$SFRUN" -k K -c "echo run >>count; $(gate go); echo out") \
	    >a.out 2>a.err 3>&- &
	local a=$!
	BGPIDS+=("$a")
	wait_for has_waiters K 1
	(unset SFRUN_SOCKET; XDG_RUNTIME_DIR="$WORK/xdg" TMPDIR="$WORK/t2" \
	    exec "$SFRUN" -k K -c "echo run >>count; $(gate go); echo out") \
	    >b.out 2>b.err 3>&- &
	local b=$!
	BGPIDS+=("$b")
	wait_for has_waiters K 2
	touch go
	reaped "$a" 0
	reaped "$b" 0
	[ "$(cat a.out)" = out ]
	[ "$(cat b.out)" = out ]
	lines_are count 1
	[ ! -e "xdg/sfrun" ]
	[ -z "$(find t1 t2 -mindepth 1)" ]
}

@test "a relative SFRUN_TMPDIR is refused with one line" {
	unset SFRUN_SOCKET
	SFRUN_TMPDIR=rel one_line_125 "$SFRUN" -k x -- touch marker
	[[ "$stderr" == *SFRUN_TMPDIR* ]]
	[ ! -e marker ]
}

# sig_bit SIGNAL FIELD PID: whether SIGNAL is set in FIELD (SigBlk,
# SigIgn) of /proc/PID/status: prints 1 or 0.
sig_bit() {
	python3 -c '
import signal, sys
n = getattr(signal, sys.argv[1]).value
for line in open("/proc/%s/status" % sys.argv[3]):
	k, v = line.split(":", 1)
	if k == sys.argv[2]:
		print((int(v, 16) >> (n - 1)) & 1)' "$1" "$2" "$3"
}

@test "an autostarted server starts clean, whoever started it; the command keeps its leader's limits" {
	mkdir -m 700 t1
	local hard
	hard=$(ulimit -Hn)
	[ "$hard" -gt 200 ] || skip "the hard open-file limit is too low here"
	# The first caller: SIGUSR2 blocked, SIGQUIT ignored, a low soft
	# open-file limit, its own TMPDIR, a working directory of its own.
	run timeout 30 python3 -c '
import os, resource, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
signal.signal(signal.SIGQUIT, signal.SIG_IGN)
h = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (100, h))
os.environ["TMPDIR"] = sys.argv[2]
os.execv(sys.argv[1], [sys.argv[1], "-k", "K", "-c", "ulimit -Sn; ulimit -Hn"])' \
	    "$SFRUN" "$WORK/t1"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '100\n%s' "$hard")" ]
	local pid fd
	pid=$(server_pid)
	[ -n "$pid" ]
	[ "$(readlink "/proc/$pid/cwd")" = / ]
	for fd in 0 1 2; do
		[ "$(readlink "/proc/$pid/fd/$fd")" = /dev/null ]
	done
	[ "$(sig_bit SIGUSR2 SigBlk "$pid")" = 0 ]
	[ "$(sig_bit SIGQUIT SigIgn "$pid")" = 0 ]
	grep -E '^Max open files' "/proc/$pid/limits" |
	    awk -v h="$hard" '{ exit !($4 == h && $5 == h) }'
	# Spools (the spare one is open already) are in SFRUN_TMPDIR only.
	ls -l "/proc/$pid/fd"
	ls -l "/proc/$pid/fd" | grep -q " $SFRUN_TMPDIR/.*(deleted)"
	! ls -l "/proc/$pid/fd" | grep -q " $WORK/t1"
}
