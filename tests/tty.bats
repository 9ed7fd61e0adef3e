#!/usr/bin/env bats
# --tty: the command runs on a pseudo-terminal; its bytes reach every waiter
# on stdout, unchanged (no carriage returns added), while the run is in
# flight.

bats_require_minimum_version 1.5.0
load helper

# tsize: what `stty size` says of the command's terminal.
tsize() {
	"$SFRUN" --tty -k "size-$RANDOM" -- stty size -F /dev/stdout
}

@test "--tty: stdout and stderr are one terminal; its bytes go to the caller's stdout; the exit status is kept" {
	run --separate-stderr "$SFRUN" --tty -k t -- sh -c \
	    '[ -t 1 ] && echo out; [ -t 2 ] && echo err >&2; [ -t 0 ] || echo "stdin not a tty"; exit 7'
	echo "status=$status out=[$output] err=[$stderr]"
	[ "$status" -eq 7 ]
	[ "$output" = "out
err
stdin not a tty" ]
	[ -z "$stderr" ]
}

@test "--tty: no carriage return is added and bytes pass unchanged" {
	head -c 300000 /dev/urandom >bin
	printf 'a\nb\r\n\001\033[0m\n' >small
	"$SFRUN" --tty -k nl -- cat small >small.out
	cmp small small.out
	"$SFRUN" --tty -k bin -- cat bin >bin.out
	cmp bin bin.out
}

@test "--tty: sized like the leader's terminal, else LINES and COLUMNS, else 24x80; TERM the leader's, else xterm" {
	[ "$(env -u LINES -u COLUMNS "$SFRUN" --tty -k s1 -- stty size -F /dev/stdout)" = "24 80" ]
	[ "$(LINES=30 COLUMNS=100 tsize)" = "30 100" ]
	[ "$(LINES=oops COLUMNS=100 tsize)" = "24 100" ]
	# The leader on a terminal of 40x120 (made by script(1)): its size wins.
	script -qec "stty rows 40 cols 120; LINES=30 COLUMNS=100 $SFRUN --tty -k s4 -- stty size -F /dev/stdout" \
	    /dev/null </dev/null >script.out
	cat script.out
	[ "$(tr -d '\r' <script.out)" = "40 120" ]
	[ "$(TERM=vt220 "$SFRUN" --tty -k term1 -- sh -c 'echo $TERM')" = vt220 ]
	[ "$(env -u TERM "$SFRUN" --tty -k term2 -- sh -c 'echo $TERM')" = xterm ]
}

@test "--tty: a line-buffered program's lines reach the caller while the run is in flight" {
	# Python buffers a whole block when stdout is a pipe, a line on a terminal.
	spawn py "$SFRUN" --tty -k py -- python3 -c '
import os, time
print("one")
n = 0
while not os.path.exists("go") and n < 3000:
    time.sleep(0.02); n += 1
print("two")'
	local p=$LASTPID
	wait_for grep -q one py.out
	[ ! -e go ]
	[ "$(cat py.out)" = one ]
	touch go
	reaped "$p" 0
	[ "$(cat py.out)" = "one
two" ]
}

@test "--tty: two waiters get byte-identical output, from the first byte" {
	local p1 p2
	spawn_waiter a same 1 "$SFRUN" --tty -k same -c "echo first; seq 1000 >&2; $(gate go); echo last"
	p1=$LASTPID
	wait_for grep -q first a.out
	spawn_waiter b same 2 "$SFRUN" --tty -k same -c "echo other"
	p2=$LASTPID
	touch go
	reaped "$p1" 0
	reaped "$p2" 0
	cmp a.out b.out
	[ "$(head -n 1 b.out)" = first ]
	[ "$(tail -n 1 b.out)" = last ]
	[ ! -s a.err ]
	[ ! -s b.err ]
}

@test "--tty: death by signal reaches the caller" {
	run "$SFRUN" --tty -k sig -- sh -c 'kill -TERM $$'
	[ "$status" -eq 143 ]
}

@test "--tty: the terminal is not the command's controlling terminal: /dev/tty fails at once" {
	run --separate-stderr timeout 20 "$SFRUN" --tty -k ctty -- sh -c 'echo hi >/dev/tty'
	echo "status=$status err=[$stderr]"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
}

@test "--tty: a --tty caller joining a run without it gets that run's bytes, and -v says so; and the other way round" {
	local p1 p2
	spawn_waiter plain k1 1 "$SFRUN" -k k1 -c "echo out; echo err >&2; $(gate go)"
	p1=$LASTPID
	spawn_waiter tty k1 2 "$SFRUN" -v --tty -k k1 -c true
	p2=$LASTPID
	touch go
	reaped "$p1" 0
	reaped "$p2" 0
	[ "$(cat tty.out)" = out ]
	grep -q 'joined run .*not on a terminal (started without --tty)' tty.err
	grep -q '^err$' tty.err
	rm go
	spawn_waiter t2 k2 1 "$SFRUN" --tty -k k2 -c "echo out; echo err >&2; $(gate go)"
	p1=$LASTPID
	spawn_waiter p2 k2 2 "$SFRUN" -v -k k2 -c true
	p2=$LASTPID
	touch go
	reaped "$p1" 0
	reaped "$p2" 0
	[ "$(cat p2.out)" = "out
err" ]
	grep -q 'joined run .*, on a terminal$' p2.err
}

@test "--tty: --status shows a run on a terminal, in the table and in JSON" {
	spawn_waiter w st 1 "$SFRUN" --tty -k st -c "$(gate go)"
	local p=$LASTPID
	"$SFRUN" --status | grep -q '^st (tty) '
	[ "$(field st tty)" = True ]
	touch go
	reaped "$p" 0
	spawn_waiter w2 plain 1 "$SFRUN" -k plain -c "$(gate go2)"
	[ "$(field plain tty)" = False ]
	touch go2
}

@test "--tty: every terminal is closed and every run reaped: no descriptor left over 1000 runs (200 under the sanitizers)" {
	local pid before after n=1000
	# The sanitizer build starts each sfrun ten times slower: 200 there.
	[[ "$BUILD" != */sanitize ]] || n=200
	"$SFRUN" --tty -k warm -- true
	pid=$(server_pid)
	before=$(ls /proc/"$pid"/fd | wc -l)
	seq "$n" | xargs -P 4 -I{} "$SFRUN" --tty -k 'leak{}' -- echo {} >leak.out 2>leak.err || true
	cat leak.err
	[ "$(wc -l <leak.out)" = "$n" ]
	after=$(ls /proc/"$pid"/fd | wc -l)
	echo "descriptors: $before before, $after after"
	[ "$after" -le "$before" ]
	[ -z "$(ps -o pid= --ppid "$pid")" ]
}
