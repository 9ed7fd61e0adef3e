#!/usr/bin/env bats
# The network between hosts and Redis, failing: each simulated host reaches
# Redis through a loopback TCP proxy of its own (tests/faultproxy.py) that
# the test stops (SIGSTOP: a partition, packets vanish, sockets stay open),
# kills (connections cut) or arms to cut a connection right after an XADD
# or an XREAD reached Redis, before its reply comes back. The minimum lease
# (3s) keeps the waits short. The rows are those of sfrun(1), FAULTS.

bats_require_minimum_version 1.5.0
load helper
load redis

# A file of 160 KiB of random bytes, and a command that writes it in 40
# pieces of 4 KiB, 50 ms apart (40 XADDs or more on the leader's host), in
# three parts: after the gate go, then g1, then g2.
# shellcheck disable=SC2016 # expanded by the command's shell
PARTS='p() { i=$1; while [ $i -lt $2 ]; do dd if=blob bs=4096 skip=$i count=1 2>/dev/null; i=$((i+1)); sleep 0.05; done; }; '"$(gate go)"'; p 0 14; '"$(gate g1)"'; p 14 28; '"$(gate g2)"'; p 28 40'
GATES+=(g1 g2)

PROXY_PID=()
PROXY_PORT=()

# proxy_start N: host N reaches Redis through a proxy of its own (on the
# port it had, if it had one); waits until it listens.
proxy_start() {
	local n=$1
	[ -n "${PROXY_PORT[$n]:-}" ] || PROXY_PORT[n]=$(free_port)
	python3 "$TOP/tests/faultproxy.py" "${PROXY_PORT[$n]}" "$REDIS_PORT" \
	    "$WORK/proxy.h$n.log" </dev/null >>"$WORK/proxy.h$n.err" 2>&1 3>&- &
	PROXY_PID[n]=$!
	BGPIDS+=("$!")
	HOST_BACKEND[n]="redis://127.0.0.1:${PROXY_PORT[$n]}"
	wait_for proxy_listens "$n"
}

# proxy_listens N: host N's proxy answers on its port.
proxy_listens() {
	kill -0 "${PROXY_PID[$1]}" && (: </dev/tcp/127.0.0.1/"${PROXY_PORT[$1]}") 2>/dev/null
}

# proxies N...: start a proxy for each host N.
proxies() {
	local n
	for n in "$@"; do
		proxy_start "$n"
	done
}

# stopped PID: PID is stopped (state T).
stopped() {
	[ "$(ps -o stat= -p "$1" | cut -c1)" = T ]
}

# partition N: stop host N's proxy (nothing passes, nothing is closed).
partition() {
	kill -STOP "${PROXY_PID[$1]}"
	wait_for stopped "${PROXY_PID[$1]}"
}

# heal N: let host N's proxy go on.
heal() {
	kill -CONT "${PROXY_PID[$1]}"
}

# cut_all N: reset every connection of host N's proxy (SIGHUP), at once.
cut_all() {
	local before
	before=$(cuts "$1" all)
	kill -HUP "${PROXY_PID[$1]}"
	wait_for cut_more "$1" all "$before"
}

# proxy_kill N: kill host N's proxy (connections cut, none taken), start
# another on its port.
proxy_kill() {
	kill -KILL "${PROXY_PID[$1]}"
	reap "${PROXY_PID[$1]}" 10
	proxy_start "$1"
}

# cuts N CMD: how many connections host N's proxy cut after a CMD.
cuts() {
	grep -c "^cut $2\$" "$WORK/proxy.h$1.log" 2>/dev/null || true
}

# arm N XADD|XREAD: arm host N's proxy to cut the next connection right
# after that command reached Redis. ARMED: its cuts so far.
arm() {
	local sig=USR1
	ARMED=$(cuts "$1" "$2")
	[ "$2" = XADD ] || sig=USR2
	kill "-$sig" "${PROXY_PID[$1]}"
}

# cut_done N XADD|XREAD: wait until the armed cut was made.
cut_done() {
	wait_for cut_more "$1" "$2" "$ARMED"
}

# cut_more N CMD COUNT: host N's proxy made more than COUNT cuts after CMD.
cut_more() {
	[ "$(cuts "$1" "$2")" -gt "$3" ]
}

# sha FILE: the sha256 of FILE.
sha() {
	sha256sum <"$1" | cut -d' ' -f1
}

# last_line_is_ours FILE: FILE's last line is one of sfrun's own.
last_line_is_ours() {
	tail -n 1 "$1" | grep -q '^sfrun: '
}

# is_prefix_of A B: file A is a prefix of file B (an empty one too).
is_prefix_of() {
	cmp -s -n "$(stat -c %s "$1")" "$1" "$2"
}

@test "faults: the leader's host partitioned longer than the lease: followers 75 within lease + block, the leader's callers get everything, then the key works again" {
	local t0 took
	start_hosts 1 2 3
	proxies 1 2 3
	lead_follow "2 3" K --lease 3s -k K -c "$HCMD"
	partition 1
	t0=$SECONDS
	reap_hosts 75 20
	took=$((SECONDS - t0))
	echo "followers out after ${took}s"
	[ "$took" -le 12 ]
	for n in 2 3; do
		[ "$(head -n 1 "h$n.out")" = "start h1" ]
		grep -q 'lost its leader' "h$n.err"
	done
	# Still cut off, the leader's run ends: its callers get it all.
	touch go.h1
	reap_leader 21
	outs_are "$(printf 'start h1\nend h1')" 1
	heal 1
	touch go.h2 go.h3
	hrun 2 --lease 3s -k K -c "$HCMD"
	[ "$status" -eq 22 ]
	hrun 1 --lease 3s -k K -c "$HCMD"
	[ "$status" -eq 21 ]
	[ "$(cut -d' ' -f2 count | tr '\n' ' ')" = "1 2 3 " ]
}

@test "faults: a follower partitioned shorter than the lease misses nothing; nothing runs twice" {
	start_hosts 1 2 3
	proxies 1 2 3
	lead_follow "2 3" K --lease 3s -k K -c "$HCMD"
	partition 2
	sleep 1.5	# the fault: shorter than the lease
	heal 2
	finish_h1
	outs_are "$(printf 'start h1\nend h1')" 1 2 3
	[ "$(cat count)" = "h1 1" ]
}

@test "faults: a follower partitioned longer than the lease exits 75 (lost contact), the others get everything" {
	local t0 took
	start_hosts 1 2 3
	proxies 1 2 3
	lead_follow "2 3" K --lease 3s -k K -c "$HCMD"
	partition 3
	t0=$SECONDS
	reaped_host "${PIDS[1]}" 3 75 20
	took=$((SECONDS - t0))
	echo "h3 out after ${took}s"
	[ "$took" -le 12 ]
	[ "$(head -n 1 h3.out)" = "start h1" ]
	last_line_is_ours h3.err
	grep -q 'lost contact with redis' h3.err
	heal 3
	touch go.h1
	reap_leader 21
	reaped_host "${PIDS[0]}" 2 21
	outs_are "$(printf 'start h1\nend h1')" 1 2
	[ "$(cat count)" = "h1 1" ]
	touch go.h3
	hrun 3 --lease 3s -k K -c "$HCMD"
	[ "$status" -eq 23 ]
}

# parts_on_three_hosts: host 1 leads the run of K that prints ./blob in
# parts (PARTS), hosts 2 and 3 follow it; every host behind its proxy.
parts_on_three_hosts() {
	head -c $((40 * 4096)) /dev/urandom >blob
	start_hosts 1 2 3
	proxies 1 2 3
	lead 1 K --lease 3s -k K -c "$PARTS"
	hspawn_hosts "2 3" --lease 3s -k K -c "$PARTS"
	wait_for role_is 2 K follower
	wait_for role_is 3 K follower
}

# all_got_blob: every host's callers exit 0 with ./blob's bytes exactly.
all_got_blob() {
	local n
	reap_leader 0
	reap_hosts 0
	for n in 1 2 3; do
		[ "$(sha "h$n.out")" = "$(sha blob)" ]
	done
}

@test "faults: connections cut mid-XADD (and all at once): no chunk lost or doubled, by sha256" {
	parts_on_three_hosts
	arm 1 XADD
	touch go
	cut_done 1 XADD
	cut_all 1
	arm 1 XADD
	touch g1
	cut_done 1 XADD
	touch g2
	cut_all 1
	all_got_blob
	stream_dump "$(streams_of K)" st
	[ "$(sha st.o)" = "$(sha blob)" ]
	[ "$(cat st.x)" = exit:0 ]
}

@test "faults: connections cut mid-XREAD (and all at once): no chunk lost or doubled, by sha256" {
	parts_on_three_hosts
	arm 2 XREAD
	touch go
	cut_done 2 XREAD
	arm 3 XREAD
	cut_all 2
	touch g1
	cut_done 3 XREAD
	arm 2 XREAD
	touch g2
	cut_done 2 XREAD
	cut_all 3
	all_got_blob
}

# size_at_least FILE BYTES: FILE has at least BYTES bytes.
size_at_least() {
	[ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ]
}

@test "faults: Redis restarted without persistence mid-run: followers 75 with a prefix of the run's bytes, never a hang; the leader's callers get everything" {
	local t0 took n
	parts_on_three_hosts
	touch go
	wait_for size_at_least h2.out 4096
	redis_shutdown
	redis_start
	t0=$SECONDS
	touch g1
	reap_hosts 75 20
	took=$((SECONDS - t0))
	echo "followers out after ${took}s"
	[ "$took" -le 12 ]
	for n in 2 3; do
		is_prefix_of "h$n.out" blob
		last_line_is_ours "h$n.err"
	done
	touch g2
	reap_leader 0
	[ "$(sha h1.out)" = "$(sha blob)" ]
	# The key works again (a new fence: Redis forgot the old one).
	hrun 2 --lease 3s -k K -c "$PARTS"
	[ "$status" -eq 0 ]
	[ "$(fence_of K)" = 1 ]
}

# The soak's command: "run F", 20 KiB of blob in 10 pieces, "end F"; it
# appends its fence F to ./fences first.
# shellcheck disable=SC2016 # expanded by the command's shell
SOAKCMD='echo "$SFRUN_FENCE" >>fences; echo "run $SFRUN_FENCE"; i=0; while [ $i -lt 10 ]; do dd if=blob bs=2048 skip=$i count=1 2>/dev/null; i=$((i+1)); sleep 0.05; done; echo "end $SFRUN_FENCE"'

# soak_check OUT: a caller's NAME.out/.err/.st: either one whole run's bytes
# (of a fence in ./fences) and exit 0, or sfrun's own line last on stderr
# and a failing exit.
soak_check() {
	local f
	if [ "$(cat "$1.st")" = "exit 0" ]; then
		f=$(head -n 1 "$1.out" | sed -n 's/^run \([0-9]*\)$/\1/p')
		[ -n "$f" ] && grep -qx "$f" fences &&
		    cmp -s "$1.out" <(echo "run $f"; head -c 20480 blob; echo "end $f") &&
		    return 0
		echo "$1: exit 0 without one whole run's bytes"
		return 1
	fi
	last_line_is_ours "$1.err" && return 0
	echo "$1: $(cat "$1.st") without a line of sfrun's own last: $(tail -n 1 "$1.err")"
	return 1
}

# increasing FILE: FILE's numbers, one a line, strictly increase.
increasing() {
	sort -n -c -u "$1" && [ "$(sort -n "$1")" = "$(cat "$1")" ]
}

# soak ROUNDS: ROUNDS times, one run of a key by 3 hosts at once while a
# random host (or none) is partitioned for a random time up to 3 s;
# checks every caller (soak_check) and the fences (increasing).
soak() {
	local r n victim pids
	head -c 20480 /dev/urandom >blob
	start_hosts 1 2 3
	proxies 1 2 3
	for r in $(seq "$1"); do
		pids=()
		for n in 1 2 3; do
			hspawn_st "r$r.h$n" "$n" --lease 3s -k K -c "$SOAKCMD"
			pids+=("$LASTPID")
		done
		sleep "0.$((RANDOM % 10))"
		victim=$((RANDOM % 4))
		if [ "$victim" -gt 0 ]; then
			partition "$victim"
			sleep "$((RANDOM % 3)).$((RANDOM % 10))"
			heal "$victim"
		fi
		echo "round $r: partitioned h$victim"
		for n in 1 2 3; do
			reap "${pids[$((n - 1))]}" 40
			soak_check "r$r.h$n" || { show_soak "r$r.h$n"; return 1; }
		done
	done
	cat fences
	increasing fences
}

# show_soak NAME: what that caller got.
show_soak() {
	echo "$1: $(cat "$1.st") stdout: [$(head -c 100 "$1.out" | tr -d '\0')] stderr: [$(cat "$1.err")]"
}

@test "faults: 3 hosts, ${FAULT_ROUNDS:-2} runs with random partitions: every caller gets one whole run or sfrun's own line last; fences increase" {
	soak "${FAULT_ROUNDS:-2}"
}

@test "faults: the last caller leaving while the election is pending: the lease its bridge took is given back at once" {
	local p
	proxies 1
	start_hosts 1
	# The bridge's EVAL waits in Redis (PING still answers); the proxy is
	# then stopped so that the reply, once the EVAL has run, waits too.
	rcli CLIENT PAUSE 30000 WRITE
	hspawn c 1 --lease 30s -k P -c 'echo ran >>count'
	p=$LASTPID
	wait_for eval_paused
	partition 1
	kill -KILL "$p"
	reaped "$p" 137
	rcli CLIENT UNPAUSE
	wait_for fenced P
	[ -n "$(lease_of P)" ]
	heal 1
	# The bridge, told to leave, takes the reply and gives the lease
	# back: no other host waits out its 30 s.
	WAIT_SECS=10 wait_for no_lease P
	wait_for no_run_on 1 P
	[ ! -e count ]
}
