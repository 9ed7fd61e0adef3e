#!/usr/bin/env bats
# --fresh: a run that started after this invocation arrived. With a run of
# the key in flight, wait for its end (without its output); then every
# --fresh invocation that arrived meanwhile shares ONE new run.

bats_require_minimum_version 1.5.0
load helper

# The command of these tests: run N (counted in ./count) logs "start N" and
# "end N" to ./log around a wait for ./goN, and prints "run N" and $MARK.
# shellcheck disable=SC2016 # expanded by the command's shell
CMD='echo x >>count; n=$(wc -l <count); echo "start $n" >>log; echo "run $n${MARK:+ $MARK}"; k=0; while [ ! -e go$n ] && [ $k -lt 3000 ]; do sleep 0.02; k=$((k+1)); done; echo "end $n" >>log'

# queued_is KEY N: N --fresh callers wait for the end of KEY's run.
queued_is() {
	[ "$(field "$1" queued 2>/dev/null)" = "$2" ]
}

# in_flight KEY: "first" leads run 1 of KEY and waits on it; pid in $LASTPID.
in_flight() {
	spawn_waiter first "$1" 1 "$SFRUN" -k "$1" -c "$CMD"
}

# run_id_is KEY ID: KEY's joinable run is run ID.
run_id_is() {
	[ "$(field "$1" run_id 2>/dev/null)" = "$2" ]
}

@test "--fresh: five callers arriving during a run share exactly one next run, which starts after the first ended" {
	local p0 i pids=()
	in_flight f
	p0=$LASTPID
	for i in 1 2 3 4 5; do
		spawn "fresh$i" "$SFRUN" --fresh -k f -c "$CMD"
		pids+=("$LASTPID")
	done
	wait_for queued_is f 5
	# A plain caller arriving now joins the run in flight.
	spawn plain "$SFRUN" -k f -c "$CMD"
	wait_for has_waiters f 2
	"$SFRUN" --status | grep -q '^f  *1  .* 2+5  '
	touch go1
	reaped "$p0" 0
	[ "$(cat first.out)" = "run 1" ]
	[ "$(cat plain.out)" = "run 1" ]
	wait_for run_id_is f 2
	wait_for has_waiters f 5
	# A plain caller arriving now joins the fresh run.
	spawn late "$SFRUN" -k f -c "$CMD"
	wait_for has_waiters f 6
	touch go2
	for i in 1 2 3 4 5; do
		reaped "${pids[$((i - 1))]}" 0
		[ "$(cat "fresh$i.out")" = "run 2" ]
	done
	reap "$LASTPID"
	[ "$(cat late.out)" = "run 2" ]
	[ "$(cat log)" = "start 1
end 1
start 2
end 2" ]
}

@test "--fresh: with no run in flight it leads at once; a lingering result is never fresh" {
	run "$SFRUN" --fresh --linger 30s -k l -c 'echo x >>count; wc -l <count'
	[ "$status" -eq 0 ]
	[ "$output" = 1 ]
	run "$SFRUN" --linger 30s -k l -c 'echo x >>count; wc -l <count'
	[ "$output" = 1 ]	# the plain caller gets the replay
	run "$SFRUN" --fresh --linger 30s -k l -c 'echo x >>count; wc -l <count'
	[ "$status" -eq 0 ]
	[ "$output" = 2 ]
	run "$SFRUN" -k l -c 'echo x >>count; wc -l <count'
	[ "$output" = 2 ]
}

@test "--fresh: Ctrl-C of a queued caller ends that caller only" {
	local p0 p1 p2
	in_flight c
	p0=$LASTPID
	spawn q1 "$SFRUN" --fresh -k c -c "$CMD"
	p1=$LASTPID
	spawn q2 "${SIGDFL[@]}" "$SFRUN" --fresh -k c -c "$CMD"
	p2=$LASTPID
	wait_for queued_is c 2
	kill -INT "$p2"
	reaped "$p2" 130
	wait_for queued_is c 1
	[ ! -s q2.out ]
	touch go1
	reaped "$p0" 0
	wait_for run_id_is c 2
	touch go2
	reaped "$p1" 0
	[ "$(cat q1.out)" = "run 2" ]
	[ "$(wc -l <count)" = 2 ]
}

@test "--fresh: the queue's leader leaving before its run starts: the next one leads, with its environment" {
	local p0 p1 p2
	in_flight q
	p0=$LASTPID
	MARK=first spawn q1 "$SFRUN" --fresh -k q -c "$CMD"
	p1=$LASTPID
	wait_for queued_is q 1
	MARK=second spawn q2 "$SFRUN" --fresh -k q -c "$CMD"
	p2=$LASTPID
	wait_for queued_is q 2
	kill -TERM "$p1"
	reaped "$p1" 143
	wait_for queued_is q 1
	touch go1 go2
	reaped "$p0" 0
	reaped "$p2" 0
	[ "$(cat q2.out)" = "run 2 second" ]
	[ "$(wc -l <count)" = 2 ]
}

@test "--fresh: the last waiter of the run in flight leaving cancels it; the queued callers' run follows its end" {
	local p0 p1
	spawn_waiter first x 1 "${SIGDFL[@]}" "$SFRUN" -k x -c "trap 'echo term >>log; exit 1' TERM; $CMD"
	p0=$LASTPID
	spawn q1 "$SFRUN" --fresh -k x -c "$CMD"
	p1=$LASTPID
	wait_for queued_is x 1
	kill -INT "$p0"
	reaped "$p0" 130
	wait_for grep -q 'start 2' log
	touch go2
	reaped "$p1" 0
	[ "$(cat q1.out)" = "run 2" ]
	[ "$(head -n 2 log)" = "start 1
term" ]
}

@test "--fresh: -n exits with the conflict status while a run is in flight; --timeout counts from arrival" {
	local p0 t0 t1
	in_flight n
	p0=$LASTPID
	run --separate-stderr "$SFRUN" -n --fresh -k n -c "$CMD"
	[ "$status" -eq 75 ]
	[ -z "$output" ]
	t0=$(now_ms)
	run --separate-stderr "$SFRUN" -t 0.5 --fresh -k n -c "$CMD"
	t1=$(now_ms)
	echo "status=$status after $((t1 - t0))ms: $stderr"
	[ "$status" -eq 124 ]
	[ -z "$output" ]
	wait_for queued_is n 0
	touch go1
	reaped "$p0" 0
	[ "$(wc -l <count)" = 1 ]
}

@test "--fresh -d: returns once the fresh run has started, which then runs without a waiter" {
	local p0 pd
	in_flight d
	p0=$LASTPID
	spawn det "$SFRUN" -d --fresh -k d -c "$CMD"
	pd=$LASTPID
	wait_for queued_is d 1
	kill -0 "$pd"	# still waiting for the run in flight to end
	touch go1
	reaped "$p0" 0
	reaped "$pd" 0
	[ ! -s det.out ]
	wait_for grep -q 'start 2' log
	touch go2
	wait_for grep -q 'end 2' log
}

@test "--fresh: --status --json counts the queued callers" {
	local p0
	in_flight s
	p0=$LASTPID
	[ "$(field s queued)" = 0 ]
	spawn q1 "$SFRUN" --fresh -k s -c "$CMD"
	wait_for queued_is s 1
	[ "$(field s waiters)" = 1 ]
	touch go1 go2
	reaped "$p0" 0
}

@test "--fresh: a caller queued when the server hands over gets the next run, which starts after the first ended" {
	local p0
	in_flight h
	p0=$LASTPID
	spawn q "$SFRUN" --fresh -k h -c "$CMD"
	local q=$LASTPID
	wait_for queued_is h 1
	run timeout 30 "$SFRUN" --stop-server
	[ "$status" -eq 0 ]
	# The queued caller starts over with the server that takes over,
	# which waits for the old server's run of the key to end.
	touch go1
	reaped "$p0" 0
	[ "$(cat first.out)" = "run 1" ]
	wait_for grep -q 'start 2' log
	touch go2
	reaped "$q" 0
	[ "$(cat q.out)" = "run 2" ]
	[ "$(cat log)" = "start 1
end 1
start 2
end 2" ]
}
