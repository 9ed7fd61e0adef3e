#!/usr/bin/env bats
# The caller's side: closed and failing standard streams, nested calls,
# -d and -q, make's jobserver, -E, and the messages a person reads.

bats_require_minimum_version 1.5.0
load helper

# start_server: a server is running on $SFRUN_SOCKET (started by a run).
start_server() {
	timeout 30 "$SFRUN" -k "start-$RANDOM" -- true
	[ -n "$(server_pid)" ]
}

# closed_run REDIR ARGS...: sfrun ARGS with the stream REDIR closes
# (>&-, 2>&- or <&-); its status in $RC, its stdout in c.out where open.
closed_run() {
	local redir=$1
	shift
	RC=0
	case $redir in
	'>&-') timeout 30 "$SFRUN" "$@" >&- 2>c.err || RC=$? ;;
	'2>&-') timeout 30 "$SFRUN" "$@" 2>&- >c.out || RC=$? ;;
	'<&-') timeout 30 "$SFRUN" "$@" <&- >c.out 2>c.err || RC=$? ;;
	esac
	echo "$redir: exit $RC"
}

@test "a closed stdout: the output is discarded, the status is the command's" {
	start_server
	closed_run '>&-' -k x -- sh -c 'echo hi; sleep 0.2; exit 4'
	[ "$RC" -eq 4 ]
	[ ! -s c.err ]
}

@test "a closed stderr or stdin: the status is the command's" {
	start_server
	closed_run '2>&-' -k x -- sh -c 'echo out; echo err >&2; sleep 0.2; exit 4'
	[ "$RC" -eq 4 ]
	[ "$(cat c.out)" = out ]
	closed_run '<&-' -k y -- sh -c 'echo out; sleep 0.2; exit 5'
	[ "$RC" -eq 5 ]
	[ "$(cat c.out)" = out ]
}

@test "a server autostarted with stderr closed keeps its pidfile lock and fds 0-2 on /dev/null" {
	closed_run '2>&-' -k x -- true
	[ "$RC" -eq 0 ]
	local pid fd
	pid=$(server_pid)
	[ -n "$pid" ]
	for fd in 0 1 2; do
		echo "fd $fd: $(readlink "/proc/$pid/fd/$fd")"
		[ "$(readlink "/proc/$pid/fd/$fd")" = /dev/null ]
	done
	# The pidfile is still locked by the server.
	run flock -n -E 99 "$SFRUN_SOCKET.pid" true
	echo "flock: $status"
	[ "$status" -eq 99 ]
}

# full_run ARGS...: sfrun ARGS with stdout on /dev/full; status in $RC,
# stderr in f.err.
full_run() {
	RC=0
	timeout 30 "$SFRUN" "$@" >/dev/full 2>f.err || RC=$?
	echo "exit $RC stderr=[$(cat f.err)]"
}

@test "a write error on stdout: one line, exit 125" {
	[ -w /dev/full ] || skip "needs /dev/full"
	full_run -k g -- echo hi
	[ "$RC" -eq 125 ]
	[ "$(cat f.err)" = "sfrun: write error on stdout: No space left on device" ]
	# A larger output, and a command that goes on writing.
	full_run -k g2 -c 'head -c 300000 /dev/zero; echo more; exit 3'
	[ "$RC" -eq 125 ]
	[ "$(cat f.err)" = "sfrun: write error on stdout: No space left on device" ]
}

@test "a write error on stderr: exit 125" {
	[ -w /dev/full ] || skip "needs /dev/full"
	RC=0
	timeout 30 "$SFRUN" -k g -c 'echo out; echo err >&2' >o.out 2>/dev/full || RC=$?
	echo "exit $RC"
	[ "$RC" -eq 125 ]
}

@test "the caller whose stdout fails leaves; the other waiters are not affected" {
	[ -w /dev/full ] || skip "needs /dev/full"
	spawn_waiter lead wf 1 "$SFRUN" -k wf -c "echo one; $(gate go); echo two"
	local lead=$LASTPID
	wait_for grep -q one lead.out
	"$SFRUN" -k wf -c 'echo WRONG' >/dev/full 2>full.err 3>&- &
	local full=$!
	BGPIDS+=("$full")
	reaped "$full" 125
	grep -qx 'sfrun: write error on stdout: No space left on device' full.err
	wait_for has_waiters wf 1
	touch go
	reaped "$lead" 0
	[ "$(cat lead.out)" = "one
two" ]
}

@test "a broken pipe still kills the caller with SIGPIPE" {
	local rc
	rc=$(set +o pipefail; timeout 30 "$SFRUN" -k p -c 'yes | head -c 3000000' | head -c 1 >/dev/null
	    echo "${PIPESTATUS[0]}")
	echo "rc=$rc"
	[ "$rc" -eq 141 ]
}

@test "durations .5 and 5. are taken; too large means never" {
	run timeout 30 "$SFRUN" -t .5 -k d1 -- true
	[ "$status" -eq 0 ]
	run timeout 30 "$SFRUN" -t 5. -k d2 -- true
	[ "$status" -eq 0 ]
	run --separate-stderr timeout 30 "$SFRUN" -t .2 -k d3 -- sleep 5
	echo "status=$status stderr=[$stderr]"
	[ "$status" -eq 124 ]
	run timeout 30 "$SFRUN" -t 99999999999999999999999d -k d4 -c 'sleep 0.3; exit 3'
	echo "status=$status"
	[ "$status" -eq 3 ]
	local d
	for d in -1 nan inf 1e3 ' ' . .s; do
		one_line_125 "$SFRUN" -t "$d" -k x -- touch marker
	done
	[ ! -e marker ]
}

@test "-q silences notices, never the lines of 124, 125, 126 and 127" {
	run -127 --separate-stderr timeout 30 "$SFRUN" -q -k q1 -- ./no-such-command
	echo "status=$status stderr=[$stderr]"
	[ "$status" -eq 127 ]
	[[ "$stderr" == "sfrun: ./no-such-command: No such file or directory" ]]
	printf 'echo x\n' >noexec
	chmod 644 noexec
	run --separate-stderr timeout 30 "$SFRUN" -q -k q2 -- ./noexec
	[ "$status" -eq 126 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	run --separate-stderr timeout 30 "$SFRUN" -q -t 0.2 -k q3 -- sleep 5
	[ "$status" -eq 124 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == sfrun:*--timeout* ]]
	SFRUN_NO_AUTOSTART=1 SFRUN_SOCKET="$WORK/none/s.sock" \
	    one_line_125 "$SFRUN" -q -k q4 -- true
	# Notices are silenced: -v -q says nothing of its own.
	run --separate-stderr timeout 30 "$SFRUN" -q -v -k q5 -- true
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "--status on an unsafe directory prints one line" {
	mkdir -m 755 open
	SFRUN_SOCKET="$WORK/open/s.sock" one_line_125 "$SFRUN" --status
	SFRUN_SOCKET="$WORK/open/s.sock" one_line_125 "$SFRUN" --status --json
}

@test "-E sets the status of -n when the key is in flight" {
	spawn_waiter lead e 1 "$SFRUN" -k e -c "$(gate go)"
	local lead=$LASTPID
	run --separate-stderr timeout 30 "$SFRUN" -n -E 0 -k e -- touch marker
	[ "$status" -eq 0 ]
	[ -z "$output" ] && [ -z "$stderr" ]
	run timeout 30 "$SFRUN" -n --conflict-exit-code 3 -k e -- touch marker
	[ "$status" -eq 3 ]
	run timeout 30 "$SFRUN" -n -k e -- touch marker
	[ "$status" -eq 75 ]
	[ ! -e marker ]
	local n
	for n in 256 -1 x ''; do
		one_line_125 "$SFRUN" -n -E "$n" -k e2 -- touch marker
	done
	touch go
	reaped "$lead" 0
}

@test "SFRUN_NO_AUTOSTART takes 1, yes and true" {
	local v
	for v in 1 yes true YES True; do
		SFRUN_NO_AUTOSTART=$v one_line_125 "$SFRUN" -k x -- touch marker
		[[ "$stderr" == *"no server"* ]]
	done
	[ -z "$(server_pid)" ]
	SFRUN_NO_AUTOSTART=0 run timeout 30 "$SFRUN" -k x -- touch marker
	[ "$status" -eq 0 ]
	[ -e marker ]
}

@test "an oversized key's error quotes at most about 60 bytes of it" {
	local key
	key=$(printf 'k%.0s' $(seq 2000))
	one_line_125 "$SFRUN" -k "$key" -- touch marker
	echo "length ${#stderr}"
	[ "${#stderr}" -lt 200 ]
	[[ "$stderr" == *"longer than 1024"* ]]
	one_line_125 "$SFRUN" --forget "$key"
	[ "${#stderr}" -lt 200 ]
}

@test "a nested call on its own run's key is refused at once, naming the run" {
	run --separate-stderr timeout 30 "$SFRUN" -k nest -c \
	    "echo before; \"$SFRUN\" -k nest -- echo inner; echo \"inner exit \$?\""
	echo "status=$status output=[$output] stderr=[$stderr]"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = before ]
	[ "${lines[1]}" = "inner exit 125" ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == sfrun:*run\ [0-9]*nest* ]]
	# Through a grandchild in its own session, too.
	run --separate-stderr timeout 30 "$SFRUN" -k nest2 -c \
	    "setsid -w \"$SFRUN\" -k nest2 -- echo inner; echo \"inner exit \$?\""
	echo "status=$status output=[$output] stderr=[$stderr]"
	[ "$output" = "inner exit 125" ]
	# Another key inside a run is fine.
	run --separate-stderr timeout 30 "$SFRUN" -k outer -c "\"$SFRUN\" -k other -- echo inner"
	[ "$status" -eq 0 ]
	[ "$output" = inner ]
}

@test "-d returns once the command has started: 0, or 127/126 with the usual line" {
	run -127 --separate-stderr timeout 30 "$SFRUN" -d -k d1 -- ./no-such
	echo "status=$status stderr=[$stderr]"
	[ "$status" -eq 127 ]
	[ "$stderr" = "sfrun: ./no-such: No such file or directory" ]
	printf 'echo x\n' >noexec
	chmod 644 noexec
	run -126 --separate-stderr timeout 30 "$SFRUN" -d -k d2 -- ./noexec
	echo "status=$status stderr=[$stderr]"
	[ "$status" -eq 126 ]
	[ "$stderr" = "sfrun: ./noexec: Permission denied" ]
	# A command that starts: 0 at once, while it runs on.
	run --separate-stderr timeout 30 "$SFRUN" -d -k d3 -c "echo started >d3.out; $(gate go)"
	[ "$status" -eq 0 ]
	[ -z "$output" ] && [ -z "$stderr" ]
	wait_file d3.out
	[ "$(field d3 waiters)" = 0 ]
	# Joining it with -d returns at once too.
	run --separate-stderr timeout 5 "$SFRUN" -d -k d3 -- true
	[ "$status" -eq 0 ]
	touch go
	wait_for no_run d3
}

@test "make -j4: a sub-make run through sfrun keeps make's jobserver" {
	command -v make >/dev/null || skip "needs make"
	mkdir sub
	# Four jobs of 2 seconds, each noting when it started and ended.
	printf 'all: a b c d\na b c d:\n\t@date +%%s%%N >$@.start; sleep 2; date +%%s%%N >$@.end\n' >sub/Makefile
	printf 'all:\n\t+@"%s" -k sub -- $(MAKE) -s -C sub\n' "$SFRUN" >Makefile
	start_server
	local t0 t1
	t0=$(now_ms)
	run timeout 60 make -s -j4
	t1=$(now_ms)
	echo "status=$status took $((t1 - t0))ms output=[$output]"
	[ "$status" -eq 0 ]
	[[ "$output" != *jobserver* ]]
	# All four ran at once: each started before any ended (one at a
	# time, as without the jobserver, would take 8 seconds).
	local last_start first_end
	last_start=$(cat sub/*.start | sort -n | tail -1)
	first_end=$(cat sub/*.end | sort -n | head -1)
	echo "last start $last_start, first end $first_end"
	[ "$last_start" -lt "$first_end" ]
	[ $((t1 - t0)) -lt 8000 ]
}

@test "MAKEFLAGS naming descriptors that are not make's pipe: nothing is passed" {
	# make 4.3 leaves --jobserver-auth in MAKEFLAGS for a recipe it does
	# not treat as recursive, and closes the pipe: the numbers may then be
	# anything the recipe opened. Here 3 is a file and 4 another pipe.
	start_server
	(exec 4> >(cat >/dev/null)
	MAKEFLAGS=' -j2 --jobserver-auth=3,4' timeout 30 "$SFRUN" \
	    -k js -c 'ls /proc/self/fd | wc -l' 3>stray >fds.out)
	# 0, 1, 2 and ls's own directory: nothing else reached the command.
	[ "$(cat fds.out)" = 4 ]
	# Both ends of a pipe, but the wrong way round, is not one either.
	(exec 4> >(cat >/dev/null)
	MAKEFLAGS=' -j2 --jobserver-auth=4,3' timeout 30 "$SFRUN" \
	    -k js2 -c 'ls /proc/self/fd | wc -l' 3</proc/self/fd/4 \
	    >fds2.out)
	[ "$(cat fds2.out)" = 4 ]
}

# gated_run KEY: a run of KEY (any bytes) in flight until ./go exists.
gated_run() {
	spawn "g$RANDOM" "$SFRUN" -k "$1" -c "$(gate go)"
}

@test "--status shows a key printable in the locale as itself, the rest escaped, no two alike" {
	local k1 k2 k3 k4
	k1=$(printf 'caf\303\251')	# UTF-8 "café"
	k2=$(printf 'caf\351')		# Latin-1 "café": not UTF-8
	k3=$(printf 'a\nb')
	k4='a\nb'			# a backslash, then n
	gated_run "$k1"
	gated_run "$k2"
	gated_run "$k3"
	gated_run "$k4"
	wait_for all_waiters 4
	LC_ALL=C.UTF-8 timeout 30 "$SFRUN" --status >table
	cat table
	grep -q "^caf$(printf '\303\251') " table
	grep -qF 'caf\351 ' table
	grep -qF 'a\nb ' table
	grep -qF 'a\\nb ' table
	# In the C locale, nothing but ASCII goes out.
	LC_ALL=C timeout 30 "$SFRUN" --status >ctable
	[ -z "$(LC_ALL=C tr -d '\000-\177' <ctable)" ]
	grep -qF 'caf\303\251 ' ctable
	# JSON: every key reads back as its bytes (invalid bytes as lone
	# surrogates \udcXX, as Python's surrogateescape reads them).
	timeout 30 "$SFRUN" --status --json >status.json
	cat status.json
	python3 -c '
import json, sys
d = json.load(open("status.json"))
got = sorted(r["key"].encode("utf-8", "surrogateescape") for r in d["runs"])
want = sorted(a.encode("utf-8", "surrogateescape") for a in sys.argv[1:])
assert got == want, (got, want)
' "$k1" "$k2" "$k3" "$k4"
	touch go
}

@test "--status --json: argv as an array, the working directory, no pid for an ended run" {
	mkdir -p dir
	(cd dir && spawn "$WORK/a" "$SFRUN" -- sh -c "echo started; $(gate "$WORK/go")" sh 'two words')
	spawn lin "$SFRUN" --linger 1m -k lin -- echo 'ended'
	reaped "$LASTPID" 0
	wait_for grep -q started a.out
	timeout 30 "$SFRUN" --status --json >status.json
	cat status.json
	python3 -c '
import json, sys
d = json.load(open("status.json"))
auto = [r for r in d["runs"] if r["key"].startswith("auto-")][0]
assert auto["argv"][0] == "sh" and auto["argv"][3:] == ["sh", "two words"], auto
assert auto["cwd"] == sys.argv[1], auto
assert isinstance(auto["pid"], int) and auto["pid"] > 0, auto
lin = [r for r in d["runs"] if r["key"] == "lin"][0]
assert lin["lingering"] and lin["pid"] is None, lin
' "$WORK/dir"
	timeout 30 "$SFRUN" --status >table
	cat table
	grep -E '^lin \(ended, lingers [^)]*\) +[0-9]+ +- ' table
	touch go
}

@test "-v: a --linger replay says so and how long ago the run ended; -n -v says it skipped, naming the run" {
	run --separate-stderr timeout 30 "$SFRUN" -v --linger 1m -k lv -- echo out
	[ "$status" -eq 0 ]
	[[ "$stderr" =~ ^sfrun:\ led\ run\ ([0-9]+) ]]
	local id=${BASH_REMATCH[1]}
	run --separate-stderr timeout 30 "$SFRUN" -v -k lv -- echo WRONG
	echo "stderr=[$stderr]"
	[ "$output" = out ]
	[[ "$stderr" =~ ^sfrun:\ replayed\ run\ $id\ \(key\ lv\),\ which\ ended\ [0-9]+\.[0-9]{3}s\ ago$ ]]
	spawn_waiter lead sk 1 "$SFRUN" -k sk -c "$(gate go)"
	local lead=$LASTPID
	run --separate-stderr timeout 30 "$SFRUN" -n -v -k sk -- touch marker
	echo "status=$status stderr=[$stderr]"
	[ "$status" -eq 75 ]
	[[ "$stderr" =~ ^sfrun:\ skipped:\ run\ [0-9]+\ \(key\ sk\)\ is\ in\ flight,\ age\ [0-9.]+s,\ 1\ waiter\ \(--no-join\)$ ]]
	run --separate-stderr timeout 30 "$SFRUN" -n -q -v -k sk -- touch marker
	[ "$status" -eq 75 ]
	[ -z "$stderr" ]
	[ ! -e marker ]
	touch go
	reaped "$lead" 0
}

@test "the last waiter giving up with --timeout says what became of the run" {
	run --separate-stderr timeout 30 "$SFRUN" -t 1 -k t1 -c 'echo $$ >t1.pid; sleep 30'
	echo "status=$status stderr=[$stderr]"
	[ "$status" -eq 124 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" =~ ^sfrun:\ gave\ up\ waiting\ after\ 1\.000s\ \(--timeout\)\;\ run\ [0-9]+\ \(key\ t1\)\ was\ cancelled ]]
	# (a command that had not even started is gone too)
	[ ! -e t1.pid ] || wait_for gone "$(cat t1.pid)"
	run --separate-stderr timeout 30 "$SFRUN" --keep -t 1 -k t2 -c "$(gate go)"
	echo "status=$status stderr=[$stderr]"
	[ "$status" -eq 124 ]
	[[ "$stderr" =~ ^sfrun:\ gave\ up\ waiting\ after\ 1\.000s\ \(--timeout\)\;\ run\ [0-9]+\ \(key\ t2\)\ goes\ on\ \(--keep\)$ ]]
	spawn_waiter lead t3 1 "$SFRUN" -k t3 -c "$(gate go)"
	local lead=$LASTPID
	run --separate-stderr timeout 30 "$SFRUN" -t 1 -k t3 -- true
	echo "status=$status stderr=[$stderr]"
	[ "$status" -eq 124 ]
	[[ "$stderr" =~ ^sfrun:\ gave\ up\ waiting\ after\ 1\.000s\ \(--timeout\)\;\ run\ [0-9]+\ \(key\ t3\)\ goes\ on\ for\ those\ still\ waiting$ ]]
	has_waiters t3 1
	touch go
	reaped "$lead" 0
}

@test "callers sharing one open file (make -j >log) never write over each other's output" {
	# One open file for all: xargs's stdout. sendfile(2) would move its
	# offset without the file's lock, and lines were lost.
	seq 400 | xargs -P 4 -I{} "$SFRUN" -k 'shared{}' -- echo {} >shared.log
	[ "$(sort -n shared.log | tr '\n' ' ')" = "$(seq 400 | tr '\n' ' ')" ]
}
