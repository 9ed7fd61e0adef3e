#!/usr/bin/env bats
# The coalescing core: one execution per key in flight, output and status
# for every waiter, the run's environment, keys, auto-start.

bats_require_minimum_version 1.5.0
load helper

# group N KEY SHELLCMD: start N waiters of KEY running SHELLCMD, the first
# alone (so that it leads), and wait until the server counts all N. They
# write NAME.out/.err with NAME = KEY.1 .. KEY.N; pids in PIDS.
group() {
	local n=$1 key=$2 cmd=$3 i
	PIDS=()
	spawn "$key.1" "$SFRUN" -k "$key" -c "$cmd"
	PIDS+=("$LASTPID")
	wait_for has_waiters "$key" 1
	for i in $(seq 2 "$n"); do
		spawn "$key.$i" "$SFRUN" -k "$key" -c "$cmd"
		PIDS+=("$LASTPID")
	done
	wait_for has_waiters "$key" "$n"
}

# wstatus CMD...: run CMD (with core dumps allowed) and print how it ended:
# "exit N" or "signal S core C".
wstatus() {
	python3 -c '
import os, resource, sys
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_CORE,
        (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    os.execv(sys.argv[1], sys.argv[1:])
_, st = os.waitpid(pid, 0)
if os.WIFSIGNALED(st):
    print("signal %d core %d" % (os.WTERMSIG(st), os.WCOREDUMP(st)))
else:
    print("exit %d" % os.WEXITSTATUS(st))' "$@"
}

@test "20 concurrent callers of one key: one execution, identical output" {
	local cmd i
	cmd="echo run >>count; $(gate go); echo out-\$SFRUN_RUN_ID; echo err-line >&2"
	many 20 c "$SFRUN" -k k20 -c "$cmd"
	wait_for has_waiters k20 20
	[ "$(count_lines count)" -eq 1 ]
	touch go
	reap_all 0
	[ "$(count_lines count)" -eq 1 ]
	[ "$(count_lines c.1.out)" -eq 1 ]
	[[ "$(cat c.1.out)" == out-* ]]
	for i in $(seq 2 20); do
		cmp c.1.out "c.$i.out"
	done
	for i in $(seq 20); do
		[ "$(cat "c.$i.err")" = err-line ]
	done
	[ "$(sjson 'd["counters"]["runs_started"]')" = 1 ]
	[ "$(sjson 'd["counters"]["invocations_joined"]')" = 19 ]
	[ "$(sjson 'd["counters"]["invocations_total"]')" = 20 ]
}

@test "a late joiner gets everything from the first byte, then live" {
	spawn lead "$SFRUN" -k late -c "echo part1; echo e1 >&2; $(gate go); echo part2; echo e2 >&2"
	local lead=$LASTPID
	wait_for grep -q part1 lead.out
	wait_for grep -q e1 lead.err
	spawn_waiter join late 2 "$SFRUN" -k late -c 'echo WRONG; echo WRONG >&2'
	local join=$LASTPID
	wait_for grep -q part1 join.out
	touch go
	reaped "$lead" 0
	reaped "$join" 0
	[ "$(cat lead.out)" = "$(printf 'part1\npart2')" ]
	[ "$(cat lead.err)" = "$(printf 'e1\ne2')" ]
	cmp lead.out join.out
	cmp lead.err join.err
}

@test "10 MiB of random bytes arrive byte-identical at 5 waiters" {
	head -c 10485760 /dev/urandom >data
	# Half before the late joiners arrive, half after.
	spawn w.1 "$SFRUN" -k big -c "head -c 5242880 data; $(gate go); tail -c +5242881 data"
	PIDS=("$LASTPID")
	wait_for size_at_least w.1.out 5242880
	local i
	for i in 2 3 4 5; do
		spawn "w.$i" "$SFRUN" -k big -c 'echo WRONG'
		PIDS+=("$LASTPID")
	done
	wait_for has_waiters big 5
	touch go
	reap_all 0
	for i in 1 2 3 4 5; do
		cmp data "w.$i.out"
		[ ! -s "w.$i.err" ]
	done
}

@test "stdout and stderr stay separate and ordered within each stream" {
	local cmd
	cmd="$(gate go); i=0; while [ \$i -lt 300 ]; do echo out\$i; echo err\$i >&2; i=\$((i+1)); done"
	group 3 sep "$cmd"
	touch go
	reap_all 0
	seq 0 299 | sed 's/^/out/' >want.out
	seq 0 299 | sed 's/^/err/' >want.err
	local i
	for i in 1 2 3; do
		cmp want.out "sep.$i.out"
		cmp want.err "sep.$i.err"
	done
}

@test "the order between stdout and stderr is kept, also on replay" {
	# Each write waits until the leader has printed the previous one, so
	# the order is known; the joiner arrives afterwards and gets a replay.
	local cmd
	cmd="echo o1; $(gategrep o1 lead.both)
echo e1 >&2; $(gategrep e1 lead.both)
echo o2; $(gategrep o2 lead.both)
$(gate go); echo e2 >&2"
	"$SFRUN" -k ord -c "$cmd" >lead.both 2>&1 3>&- &
	local lead=$!
	BGPIDS+=("$lead")
	wait_for grep -q o2 lead.both
	"$SFRUN" -k ord -c "$cmd" >join.both 2>&1 3>&- &
	local join=$!
	BGPIDS+=("$join")
	wait_for has_waiters ord 2
	touch go
	reaped "$lead" 0
	reaped "$join" 0
	printf 'o1\ne1\no2\ne2\n' >want
	cmp want lead.both
	cmp want join.both
}

@test "many switches between stdout and stderr: every waiter gets each stream exact and one order" {
	# Lines of every length, some records long enough to be copied with
	# splice, thousands of switches: the leader and a late joiner, both
	# with 2>&1 (one into a file, one into a pipe), must see the same
	# interleaving, and a joiner with two files each stream exact.
	local cmd n
	n=$(scaled 4000 1000)
	head -c 40000 /dev/zero | tr '\0' x >big.out
	head -c 40000 /dev/zero | tr '\0' y >big.err
	echo >>big.out
	echo >>big.err
	cmd="$(gate go); i=0; while [ \$i -lt $n ]; do echo o\$i; echo e\$i\$i >&2; if [ \$((i % 500)) = 0 ]; then cat big.out; cat big.err >&2; fi; i=\$((i+1)); done; $(gate go2)"
	GATES+=(go2)
	"$SFRUN" -k sw -c "$cmd" >lead.both 2>&1 3>&- &
	local lead=$!
	BGPIDS+=("$lead")
	wait_for has_waiters sw 1
	spawn sep "$SFRUN" -k sw -c "$cmd"
	local sep=$LASTPID
	wait_for has_waiters sw 2
	touch go
	i=0
	: >want.out
	: >want.err
	while [ "$i" -lt "$n" ]; do
		echo "o$i" >>want.out
		echo "e$i$i" >>want.err
		if [ $((i % 500)) = 0 ]; then
			cat big.out >>want.out
			cat big.err >>want.err
		fi
		i=$((i + 1))
	done
	local total=$(($(stat -c %s want.out) + $(stat -c %s want.err)))
	wait_for output_bytes_are sw "$total"
	("$SFRUN" -k sw -c "$cmd" 2>&1 3>&- | cat >late.both) &
	local late=$!
	BGPIDS+=("$late")
	wait_for has_waiters sw 3
	touch go2
	reaped "$lead" 0
	reaped "$sep" 0
	reaped "$late" 0
	cmp want.out sep.out
	cmp want.err sep.err
	cmp lead.both late.both
	grep '^[ox]' lead.both >lead.out
	grep '^[ey]' lead.both >lead.err
	cmp want.out lead.out
	cmp want.err lead.err
	# The streams are interleaved: each pipe holds less than the output
	# of either, so the server took each several times.
	[ "$(cut -c1 lead.both | tr ox oo | tr ey ee | uniq | wc -l)" -ge 4 ]
}

@test "exit code 0 reaches leader and joiners" {
	group 3 ex0 "$(gate go); exit 0"
	touch go
	reap_all 0
}

@test "exit code 3 reaches leader and joiners" {
	group 3 ex3 "$(gate go); exit 3"
	touch go
	reap_all 3
}

@test "exit code 255 reaches leader and joiners" {
	group 3 ex255 "$(gate go); exit 255"
	touch go
	reap_all 255
}

# death KEY SIG: a run killed by SIG ends every waiter by SIG, without core.
death() {
	local key=$1 sig=$2 signum i
	signum=$(kill -l "$sig")
	local cmd
	cmd="$(gate go); kill -$sig \$\$; sleep 5"
	PIDS=()
	wstatus "$SFRUN" -k "$key" -c "$cmd" >"$key.1.st" 2>"$key.1.err" 3>&- &
	PIDS+=("$!")
	BGPIDS+=("$!")
	wait_for has_waiters "$key" 1
	for i in 2 3; do
		wstatus "$SFRUN" -k "$key" -c "$cmd" >"$key.$i.st" 2>"$key.$i.err" 3>&- &
		PIDS+=("$!")
		BGPIDS+=("$!")
	done
	wait_for has_waiters "$key" 3
	touch go
	reap_all 0
	for i in 1 2 3; do
		echo "waiter $i: $(cat "$key.$i.st")"
		[ "$(cat "$key.$i.st")" = "signal $signum core 0" ]
	done
	# And as the shell sees it: $? = 128+S.
	rm -f go
	spawn sh.1 "$SFRUN" -k "$key" -c "$cmd"
	PIDS=("$LASTPID")
	wait_for has_waiters "$key" 1
	touch go
	reap_all $((128 + signum))
}

@test "death by SIGSEGV reaches leader and joiners as SIGSEGV, no core" {
	death segv SEGV
}

@test "death by SIGTERM reaches leader and joiners as SIGTERM" {
	death term TERM
}

@test "a command not found exits 127" {
	run -127 --separate-stderr timeout 30 "$SFRUN" -k nf -- ./no-such-command arg
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 127 ]
	[ -n "$stderr" ]
	run -127 --separate-stderr timeout 30 "$SFRUN" -k nf2 -- no-such-command-in-path-xyz
	[ "$status" -eq 127 ]
	run -127 --separate-stderr timeout 30 "$SFRUN" -k nf3 -c 'no-such-command-xyz'
	[ "$status" -eq 127 ]
}

@test "a command found but not executable exits 126" {
	printf '#!/bin/sh\ntouch marker\n' >noexec
	chmod 644 noexec
	run --separate-stderr timeout 30 "$SFRUN" -k ne -- ./noexec
	echo "status=$status stderr=$stderr"
	[ "$status" -eq 126 ]
	[ -n "$stderr" ]
	[ ! -e marker ]
	mkdir adir
	run --separate-stderr timeout 30 "$SFRUN" -k ne2 -- ./adir
	[ "$status" -eq 126 ]
}

@test "the run gets the leader's environment, not a joiner's" {
	local cmd
	cmd="$(gate go); echo \"v=\$LEADER_VAR\"; echo \"j=\${JOINER_VAR-unset}\""
	LEADER_VAR=from-leader spawn env.1 "$SFRUN" -k env -c "$cmd"
	PIDS=("$LASTPID")
	wait_for has_waiters env 1
	LEADER_VAR=from-joiner JOINER_VAR=x spawn env.2 "$SFRUN" -k env -c "$cmd"
	PIDS+=("$LASTPID")
	wait_for has_waiters env 2
	touch go
	reap_all 0
	[ "$(cat env.1.out)" = "$(printf 'v=from-leader\nj=unset')" ]
	cmp env.1.out env.2.out
}

@test "SFRUN_KEY and SFRUN_RUN_ID are set; sequential runs run again with new ids" {
	run timeout 30 "$SFRUN" -k 'my key' -c 'echo run >>count; echo "$SFRUN_KEY"; echo "$SFRUN_RUN_ID"'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "my key" ]
	[[ "${lines[1]}" =~ ^[0-9]+$ ]]
	local id1=${lines[1]}
	run timeout 30 "$SFRUN" -k 'my key' -c 'echo run >>count; echo "$SFRUN_KEY"; echo "$SFRUN_RUN_ID"'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "my key" ]
	[[ "${lines[1]}" =~ ^[0-9]+$ ]]
	[ "${lines[1]}" != "$id1" ]
	[ "$(count_lines count)" -eq 2 ]
}

@test "the run gets the leader's working directory" {
	mkdir -p lead/dir join
	cd lead/dir
	spawn "$WORK/cwd.1" "$SFRUN" -k cwd -c "$(gate "$WORK/go"); pwd -P"
	local p1=$LASTPID
	cd "$WORK/join"
	wait_for has_waiters cwd 1
	spawn "$WORK/cwd.2" "$SFRUN" -k cwd -c 'pwd -P'
	local p2=$LASTPID
	cd "$WORK"
	wait_for has_waiters cwd 2
	touch go
	reaped "$p1" 0
	reaped "$p2" 0
	local want
	want=$(cd lead/dir && pwd -P)
	[ "$(cat cwd.1.out)" = "$want" ]
	[ "$(cat cwd.2.out)" = "$want" ]
}

@test "the run gets the leader's umask" {
	local saved
	saved=$(umask)
	umask 027
	spawn um.1 "$SFRUN" -k um -c "umask; $(gate go); touch made"
	local p1=$LASTPID
	umask 000
	wait_for has_waiters um 1
	spawn um.2 "$SFRUN" -k um -c "umask"
	local p2=$LASTPID
	umask "$saved"
	wait_for has_waiters um 2
	touch go
	reaped "$p1" 0
	reaped "$p2" 0
	[ "$(cat um.1.out)" = 0027 ]
	[ "$(cat um.2.out)" = 0027 ]
	[ "$(stat -c %a made)" = 640 ]
}

@test "the run gets the leader's resource limits" {
	run timeout 30 bash -c 'ulimit -n 200 && ulimit -S -s 4096 && exec "$0" -k rl -c "ulimit -n; ulimit -S -s"' "$SFRUN"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '200\n4096')" ]
}

@test "the run's stdin is /dev/null" {
	run timeout 30 bash -c 'echo from-stdin | "$0" -k in -c "cat; readlink /proc/self/fd/0"' "$SFRUN"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = /dev/null ]
}

@test "the run has its own process group and session" {
	run timeout 30 "$SFRUN" -k pg -c 'ps -o pid=,pgid=,sid= -p $$'
	echo "$output"
	[ "$status" -eq 0 ]
	read -r pid pgid sid <<<"$output"
	[ "$pid" = "$pgid" ]
	[ "$pid" = "$sid" ]
}

@test "the run does not inherit stray descriptors" {
	run timeout 30 "$SFRUN" -k fds -c 'ls /proc/$$/fd'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo $output)" = "0 1 2" ]
}

@test "different keys do not coalesce" {
	spawn a "$SFRUN" -k ka -c "echo a >>count; $(gate go); echo a"
	local a=$LASTPID
	spawn b "$SFRUN" -k kb -c "echo b >>count; $(gate go); echo b"
	local b=$LASTPID
	wait_for lines_are count 2
	wait_for has_waiters ka 1
	wait_for has_waiters kb 1
	touch go
	reaped "$a" 0
	reaped "$b" 0
	[ "$(cat a.out)" = a ]
	[ "$(cat b.out)" = b ]
}

@test "sequential runs of one key run again" {
	local i
	for i in 1 2 3; do
		run timeout 30 "$SFRUN" -k seq -c 'echo run >>count; echo hi'
		[ "$status" -eq 0 ]
		[ "$output" = hi ]
	done
	[ "$(count_lines count)" -eq 3 ]
}

# cmd_sh: write ./cmd.sh, which counts itself in ./count, waits for ./go
# and prints "ARGC:ARGS".
cmd_sh() {
	printf '#!/bin/sh\necho run >>count\n%s\necho "$#:$*"\n' "$(gate go)" >cmd.sh
	chmod +x cmd.sh
}

# call_twice ARGS...: d.1, then (once it waits) d.2 call sfrun ARGS... with
# no key; waits until both wait; pids in the caller's p1 and p2.
call_twice() {
	spawn d.1 "$SFRUN" "$@"
	p1=$LASTPID
	wait_for all_waiters 1
	spawn d.2 "$SFRUN" "$@"
	p2=$LASTPID
	wait_for all_waiters 2
}

# ran_once P1 P2: released, the callers P1 and P2 exit 0, and what they
# waited for ran once.
ran_once() {
	touch go
	reaped "$1" 0
	reaped "$2" 0
	[ "$(count_lines count)" -eq 1 ]
}

# ran_apart P1 P2: the callers P1 and P2 lead a run each (two counted, two
# held, both waiting); released, both exit 0.
ran_apart() {
	wait_for lines_are count 2
	wait_for all_waiters 2
	[ "$(sjson 'len(R)')" = 2 ]
	touch go
	reaped "$1" 0
	reaped "$2" 0
}

@test "default key: the same argv in the same directory coalesces" {
	cmd_sh
	local p1 p2
	call_twice ./cmd.sh a 'b c'
	[ "$(sjson 'len(R)')" = 1 ]
	[[ "$(sjson 'R[0]["key"]')" =~ ^auto-[0-9a-f]{64}$ ]]
	ran_once "$p1" "$p2"
	[ "$(cat d.1.out)" = "2:a b c" ]
	cmp d.1.out d.2.out
}

@test "default key: -c strings coalesce too" {
	local p1 p2
	call_twice -c "echo run >>count; $(gate go); echo hi"
	[ "$(sjson 'len(R)')" = 1 ]
	ran_once "$p1" "$p2"
	[ "$(cat d.1.out)" = hi ]
	cmp d.1.out d.2.out
}

@test "default key: argument boundaries matter (a \"b c\" vs a b c)" {
	cmd_sh
	spawn d.1 "$SFRUN" ./cmd.sh a 'b c'
	local p1=$LASTPID
	spawn d.2 "$SFRUN" ./cmd.sh a b c
	local p2=$LASTPID
	ran_apart "$p1" "$p2"
	[ "$(cat d.1.out)" = "2:a b c" ]
	[ "$(cat d.2.out)" = "3:a b c" ]
}

@test "default key: the same argv in another directory does not coalesce" {
	mkdir one two
	local cmd
	cmd="echo run >>$WORK/count; $(gate "$WORK/go"); pwd"
	cd one
	spawn "$WORK/d.1" "$SFRUN" -c "$cmd"
	local p1=$LASTPID
	cd ../two
	spawn "$WORK/d.2" "$SFRUN" -c "$cmd"
	local p2=$LASTPID
	cd "$WORK"
	ran_apart "$p1" "$p2"
	[ "$(cat d.1.out)" = "$WORK/one" ]
	[ "$(cat d.2.out)" = "$WORK/two" ]
}

# servers: the pids of the sfrund processes serving this test's socket: by
# environment, command line, or a descriptor on a socket bound to its path.
servers() {
	local p fd l i match inodes exe
	exe=$(readlink -f "$SFRUND")
	inodes=$(awk -v path="$SFRUN_SOCKET" '$8 == path { print $7 }' /proc/net/unix)
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$exe" ] || continue
		match=0
		tr '\0' '\n' <"$p/environ" 2>/dev/null |
		    grep -qxF "SFRUN_SOCKET=$SFRUN_SOCKET" && match=1
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null |
		    grep -qF "$SFRUN_SOCKET" && match=1
		for fd in "$p"/fd/*; do
			l=$(readlink "$fd" 2>/dev/null) || continue
			for i in $inodes; do
				[ "$l" != "socket:[$i]" ] || match=1
			done
		done
		[ "$match" = 0 ] || echo "${p#/proc/}"
	done
}

@test "10 clients auto-starting at once yield exactly one server" {
	[ -z "$(server_pid)" ]
	[ ! -e "$SFRUN_SOCKET" ]
	many 10 as "$SFRUN" -k as -c "echo run >>count; $(gate go); echo done"
	wait_for has_waiters as 10
	local pids i
	pids=$(servers)
	echo "servers: $pids; pidfile: $(server_pid)"
	[ "$(echo "$pids" | wc -w)" -eq 1 ]
	[ "$pids" = "$(server_pid)" ]
	touch go
	reap_all 0
	[ "$(count_lines count)" -eq 1 ]
	for i in $(seq 10); do
		[ "$(cat "as.$i.out")" = "done" ]
		[ ! -s "as.$i.err" ]
	done
	[ "$(servers | wc -w)" -eq 1 ]
}

@test "the server is a daemon: sfrun returns while it lives on" {
	run timeout 30 "$SFRUN" -k d -- true
	[ "$status" -eq 0 ]
	pid=$(server_pid)
	[ -n "$pid" ]
	[ -S "$SFRUN_SOCKET" ]
	# Not a child of this shell, not in this session.
	[ "$(ps -o sid= -p "$pid" | tr -d ' ')" != "$(ps -o sid= -p $$ | tr -d ' ')" ]
}

@test "-c runs its string with /bin/sh -c" {
	run timeout 30 "$SFRUN" -k sh -c 'echo "$0"; readlink /proc/$$/exe'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = /bin/sh ]
	[ "${lines[1]}" = "$(readlink -f /bin/sh)" ]
}

@test "--status shows a -c run as /bin/sh -c STRING" {
	spawn_waiter st stc 1 "$SFRUN" -k stc -c "$(gate go); echo hi"
	local p=$LASTPID
	run sjson 'R[0]["command"]'
	echo "$output"
	[[ "$output" == "/bin/sh -c n=0; while"* ]]
	touch go
	reaped "$p" 0
}
