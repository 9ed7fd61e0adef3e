#!/usr/bin/env bats
# The light versions of the storm and wide fan-out benchmarks, as
# correctness tests (not timed): many callers of one key at once get
# exactly one execution and every one of them the same bytes.

load helper

@test "storm: 300 concurrent callers of one key, one execution, identical output" {
	many 300 storm "$SFRUN" -k storm -c "echo ran >>count; $(gate go); seq 1 20000"
	WAIT_SECS=120 wait_for all_waiters 300
	touch go
	reap_all 0
	[ "$(count_lines count)" -eq 1 ]
	seq 1 20000 >want
	local i
	for i in $(seq 300); do
		cmp want "storm.$i.out"
		[ ! -s "storm.$i.err" ]
	done
}

@test "wide fan-out: 200 waiters of 1 MiB of random bytes, all byte-identical" {
	head -c 1048576 /dev/urandom >blob
	many 200 wide "$SFRUN" -k wide -c "echo ran >>count; $(gate go); cat blob"
	WAIT_SECS=120 wait_for all_waiters 200
	touch go
	reap_all 0
	[ "$(count_lines count)" -eq 1 ]
	local i
	for i in $(seq 200); do
		cmp blob "wide.$i.out"
	done
}
