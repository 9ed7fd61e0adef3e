#!/usr/bin/env bats
# The Redis backend, end to end: hosts simulated by separate servers (own
# socket, own SFRUN_HOST_ID) meeting on a redis-server of the test's own.
# Covers the failure table of DISTRIBUTED.md: N hosts, late follower, leader
# killed, leader paused, Redis paused, Redis restarted, Redis down, password
# and ACL, key collision, no leaks; and the stream format, SFRUN_FENCE,
# --status, bad options, the password kept out of ps.

bats_require_minimum_version 1.5.0
load helper
load redis

# has_role N KEY: KEY's run on host N is a leader or a follower by now.
has_role() {
	case $(bfield "$1" "$2" role 2>/dev/null) in
	leader | follower) return 0 ;;
	esac
	return 1
}

# only_fences N: Redis holds N keys, every one a fence counter.
only_fences() {
	local keys
	keys=$(rcli --raw --scan)
	[ "$(printf '%s\n' "$keys" | grep -c .)" = "$1" ] &&
	    ! printf '%s\n' "$keys" | grep -v '^sfrun:{[0-9a-f]\{64\}}:fence$'
}

# leak_loop N P: 10 rounds of `sfrun -- true` on host N for the keys P0..P49.
leak_loop() {
	local n=$1 p=$2 i k rc
	host_env "$n"
	for i in $(seq "$LEAK_ROUNDS"); do
		for k in $(seq 0 49); do
			rc=0
			timeout 30 env "${HENV[@]}" "$SFRUN" --backend-linger 1s \
			    -k "$p$k" -- true || rc=$?
			if [ "$rc" != 0 ]; then
				echo "round $i key $p$k: exit $rc"
				return 1
			fi
		done
	done
}

# --- N hosts, late follower --------------------------------------------------

@test "10 hosts, 50 MiB of binary output: one execution, the same bytes and status everywhere" {
	local i cmd
	head -c $((50 << 20)) /dev/urandom >big
	head -c 300000 /dev/urandom >err.bin
	start_hosts $(seq 10)
	cmd="echo \$SFRUN_HOST_ID >>count; $(gate go); cat big; cat err.bin >&2; exit 3"
	# All ten at once: the election races.
	hspawn_hosts "$(seq 10)" -k big -c "$cmd"
	for i in $(seq 10); do
		wait_for has_role "$i" big
	done
	local leaders=0
	for i in $(seq 10); do
		[ "$(bfield "$i" big role)" = leader ] && leaders=$((leaders + 1))
	done
	echo "leaders: $leaders"
	[ "$leaders" = 1 ]
	[ "$(count_lines count)" = 1 ]
	touch go
	reap_hosts 3 120
	[ "$(count_lines count)" = 1 ]
	local want
	want=$(sha256sum <big)
	for i in $(seq 10); do
		[ "$(sha256sum <"h$i.out")" = "$want" ]
		cmp err.bin "h$i.err"
	done
}

@test "a follower joining mid-run gets the full replay, then the rest live" {
	local cmd p1 p2
	head -c 200000 /dev/urandom >part
	start_hosts 1 2
	cmd="echo \$SFRUN_HOST_ID >>count; cat part; $(gate go); echo tail"
	hspawn h1 1 -k late -c "$cmd"
	p1=$LASTPID
	wait_for size_at_least h1.out 200000
	hspawn h2 2 -k late -c "$cmd"
	p2=$LASTPID
	# All of it replayed while the run still waits on its gate.
	wait_for size_at_least h2.out 200000
	role_is 2 late follower
	[ ! -e go ]
	touch go
	reaped "$p1" 0
	reaped "$p2" 0
	{ cat part; echo tail; } >want
	cmp want h1.out
	cmp want h2.out
	[ "$(cat count)" = h1 ]
}

@test "-v names each host's part: the leader leads for every host, a follower host names the host it follows; --status keeps the leader's run" {
	start_hosts 1 2
	lead 1 vk -v -k vk -c "$HCMD"
	hspawn h2 2 -v -k vk -c "$HCMD"
	local p2=$LASTPID
	wait_for follows 2 vk
	# The leader's run goes on without its waiters (for the other
	# hosts'); the follower's ends with its last.
	[ "$(SFRUN_SOCKET=$(hsock 1) field vk keep)" = True ]
	[ "$(SFRUN_SOCKET=$(hsock 2) field vk keep)" = False ]
	# A second caller on the follower host joins that host's run.
	hspawn h2b 2 -v -k vk -c "$HCMD"
	local p2b=$LASTPID
	wait_for grep -q following h2b.err
	touch go.h1
	reaped "$LEADER" 21
	reaped "$p2" 21
	reaped "$p2b" 21
	cat h1.err h2.err h2b.err
	grep -q '^sfrun: led run [0-9]* (key vk), .*, for every host (fence 1)$' h1.err
	grep -q "^sfrun: followed h1's run of key vk (fence 1) as run [0-9]*, " h2.err
	grep -q "^sfrun: joined run [0-9]* (key vk), .*, following h1's run (fence 1)$" h2b.err
	[ "$(grep -c '^sfrun: ' h2.err)" = 1 ]
	! grep -q led h2.err
}

@test "a follower host's --run-timeout ends its callers with 124 at its time; the run goes on for the others" {
	start_hosts 1 2 3
	lead 1 rt -k rt -c "$HCMD"
	follow "3" rt -k rt -c "$HCMD"
	local p3=${PIDS[0]}
	local t0 t1
	t0=$(now_ms)
	hrun 2 --run-timeout 1 -k rt -c "$HCMD"
	t1=$(now_ms)
	echo "took $((t1 - t0))ms"
	[ "$status" -eq 124 ]
	[[ "$stderr" == *"--run-timeout"*"stopped following"* ]]
	[ $((t1 - t0)) -lt 30000 ]
	# Nothing of host 2's ended the run: the leader and host 3 go on.
	[ "$(role_is 1 rt leader && echo yes)" = yes ]
	touch go.h1
	reaped "$LEADER" 21
	reaped "$p3" 21
	[ "$(wc -l <count)" -eq 1 ]
}

# --- leader killed -----------------------------------------------------------

@test "leader killed: the followers exit 75 within lease + block time" {
	local n t0 t1
	start_hosts 1 2 3
	lead_follow "2 3" K --lease 3s -k K -c "$HCMD"
	host_signal KILL 1
	t0=$(now_ms)
	reap_hosts 75
	t1=$(now_ms)
	echo "followers done after $((t1 - t0)) ms"
	# The lease (3s) runs out, then at most one XREAD BLOCK (2s), plus slack.
	[ $((t1 - t0)) -lt 9000 ]
	for n in 2 3; do
		grep -q 'leader' "h$n.err"
		grep -q 'lost' "h$n.err"
	done
	outs_are "start h1" 2 3
	# The leader's own waiter lost its server: 125, never a hang.
	reap_leader 125
	[ "$(cat count)" = "h1 1" ]
}

@test "leader killed, --on-leader-loss rerun: one follower reruns, the others follow it; -v says each host's new part" {
	local n
	start_hosts 1 2 3 4
	lead_follow "2 3 4" K --lease 3s --on-leader-loss rerun -v -k K -c "$HCMD"
	host_signal KILL 1
	# Every follower on the new generation before it ends.
	rerun_on K 2
	[[ "$(lease_of K)" == "2 h$X:"* ]]
	finish_rerun
	[ "$(count_lines count)" = 2 ]
	[ "$(fence_of K)" = 2 ]
	no_lease K
	reap_leader 125
	for n in 2 3 4; do
		cat "h$n.err"
		grep -q "^sfrun: followed h1's run of key K (fence 1) as run " "h$n.err"
		if [ "$n" = "$X" ]; then
			grep -qx "sfrun: run [0-9]* (key K) now runs here, for every host (fence 2)" "h$n.err"
		else
			grep -qx "sfrun: run [0-9]* (key K) now follows h$X's run (fence 2)" "h$n.err"
		fi
	done
}

# --- leader paused -----------------------------------------------------------

# pause_leader LEASE: hosts 1 to 3 run K with --lease LEASE and rerun (a
# false loss would show as a second execution), h1 leading; then h1 is
# stopped. Its lease's value in LEASE1.
pause_leader() {
	start_hosts 1 2 3
	lead_follow "2 3" K --lease "$1" --on-leader-loss rerun -k K -c "$HCMD"
	LEASE1=$(lease_of K)
	[[ "$LEASE1" == "1 h1:"* ]] || return 1
	host_signal STOP 1
	wait_for host_stopped 1
}

@test "leader paused for less than the lease: no failover, one execution" {
	pause_leader 6s
	# The pause itself, 2.5s: longer than a follower's XREAD BLOCK (2s),
	# so each checks the lease during it; shorter than what is left of a
	# 6s lease renewed every 2s (at least 4s).
	sleep 2.5
	host_signal CONT 1
	# Still the one leader, its lease untouched.
	[ "$(lease_of K)" = "$LEASE1" ]
	role_is 1 K leader 1
	finish_h1
	outs_are "$(printf 'start h1\nend h1')" 1 2 3
	lacks 'lost|lease' h1.err h2.err h3.err
	[ "$(cat count)" = "h1 1" ]
	[ "$(fence_of K)" = 1 ]
}

@test "leader paused longer than the lease, rerun: a new generation; the stale leader's finish leaves its lease alone" {
	local lease2
	pause_leader 3s
	# The lease runs out (3s), a follower takes generation 2.
	rerun_on K 2
	lease2=$(lease_of K)
	echo "lease of generation 2: $lease2"
	[[ "$lease2" == "2 h$X:"* ]]
	# The stale leader resumes and finishes while generation 2 is gated.
	host_signal CONT 1
	touch go.h1
	reap_leader 21
	outs_are "$(printf 'start h1\nend h1')" 1
	grep -q lease h1.err
	# Its bridge is done (x appended, its lease not deleted): h1 has no child left.
	wait_for only_server 1
	[ "$(lease_of K)" = "$lease2" ]
	finish_rerun
	[ "$(count_lines count)" = 2 ]
	[ "$(fence_of K)" = 2 ]
	# Generation 2 deleted its own lease at its end.
	wait_for no_lease K
}

# --- Redis paused, restarted, down -------------------------------------------

@test "Redis paused (CLIENT PAUSE 1500 ALL) mid-run: no false loss, one execution" {
	local n t0 t1 cmd
	head -c 500000 /dev/urandom >blob
	start_hosts 1 2 3
	cmd="echo \$SFRUN_HOST_ID >>count; echo start; $(gate go); cat blob; echo end"
	# rerun: a false loss would show as a second execution. A 6s lease is
	# renewed every 2s, so a renewal held up 1.5s still comes in time.
	lead_follow "2 3" K --lease 6s --on-leader-loss rerun -k K -c "$cmd"
	# t0 before the pause begins: no follower can end before t0 + 1.5s.
	t0=$(now_ms)
	[ "$(rcli CLIENT PAUSE 1500 ALL)" = OK ]
	touch go
	reap "${PIDS[0]}" 30
	t1=$(now_ms)
	echo "h2: exit $RC after $((t1 - t0)) ms"
	[ "$RC" = 0 ]
	# The pause held the output back from the followers.
	[ $((t1 - t0)) -ge 1450 ]
	reaped "${PIDS[1]}" 0 30
	reap_leader 0
	{ echo start; cat blob; echo end; } >want
	for n in 1 2 3; do
		cmp want "h$n.out"
	done
	lacks 'lost|lease' h1.err h2.err h3.err
	[ "$(cat count)" = h1 ]
	[ "$(fence_of K)" = 1 ]
}

@test "connections killed mid-run (CLIENT KILL): an I/O error is no lost leader, one execution" {
	local n killed cmd
	head -c 2000000 /dev/urandom >blob
	start_hosts 1 2 3
	cmd="echo \$SFRUN_HOST_ID >>count; echo start; $(gate go); cat blob; echo end"
	# rerun: a false loss would show as a second execution.
	lead_follow "2 3" K --lease 3s --on-leader-loss rerun -k K -c "$cmd"
	killed=$(rcli CLIENT KILL TYPE normal SKIPME yes)
	echo "killed $killed connections"
	[ "$killed" -ge 3 ]
	touch go
	# Once more while the output flows.
	wait_for size_at_least h1.out 100000
	rcli CLIENT KILL TYPE normal SKIPME yes
	reap_leader 0
	reap_hosts 0
	{ echo start; cat blob; echo end; } >want
	for n in 1 2 3; do
		cmp want "h$n.out"
	done
	lacks lost h1.err h2.err h3.err
	[ "$(cat count)" = h1 ]
	[ "$(fence_of K)" = 1 ]
}

# redis_busy: Redis answers BUSY (a script has run past busy-reply-threshold).
redis_busy() {
	rcli PING 2>&1 | grep -q '^BUSY'
}

@test "Redis busy in a script mid-run (BUSY): answers that say 'not now' are retried, one execution" {
	local lua
	start_hosts 1 2 3
	# rerun: a false loss would show as a second execution. A 9s lease is
	# renewed every 3s and counts for 8s: 3s of BUSY fit in it.
	lead_follow "2 3" K --lease 9s --on-leader-loss rerun -k K -c "$HCMD"
	[ "$(rcli CONFIG SET busy-reply-threshold 100)" = OK ]
	lua="local t = redis.call('TIME')
while true do
  local n = redis.call('TIME')
  if (n[1] - t[1]) * 1000000 + (n[2] - t[2]) >= 3000000 then return 1 end
end"
	rcli EVAL "$lua" 0 >busy.out 2>&1 &
	BGPIDS+=("$!")
	wait_for redis_busy
	# The leader's last output, its x record and its lease script all meet
	# BUSY, and so does any follower's lease check.
	finish_h1
	[ "$(cat busy.out)" = 1 ]
	outs_are "$(printf 'start h1\nend h1')" 1 2 3
	lacks 'lost|lease|BUSY' h1.err h2.err h3.err
	[ "$(cat count)" = "h1 1" ]
	[ "$(fence_of K)" = 1 ]
}

@test "Redis restarted mid-run: the followers exit 75, nothing hangs, the servers still answer" {
	local s1 s2 s3
	start_hosts 1 2 3
	s1=$(hpid 1) s2=$(hpid 2) s3=$(hpid 3)
	lead_follow "2 3" K --lease 3s -k K -c "$HCMD"
	redis_shutdown
	redis_start
	reap_hosts 75
	grep -q 'lost its leader, or redis restarted' h2.err
	grep -q 'lost its leader, or redis restarted' h3.err
	outs_are "start h1" 2 3
	# The leader's command goes on and ends normally.
	touch go.h1
	reap_leader 21
	outs_are "$(printf 'start h1\nend h1')" 1
	[ "$(cat count)" = "h1 1" ]
	# Its bridge re-created nothing in the new Redis (no lease, no stream).
	wait_for only_server 1
	[ "$(rcli DBSIZE)" = 0 ]
	# Same servers, all answering.
	[ "$(hpid 1)" = "$s1" ]
	[ "$(hpid 2)" = "$s2" ]
	[ "$(hpid 3)" = "$s3" ]
	hosts_answer 1 2 3
}

@test "a follower host more than --backend-linger behind the end: 75, and its callers are told the log left redis, not that the leader was lost" {
	# 2 MB is more than 16 entries (an XREAD's COUNT) of 64 KiB: a reply
	# already sent when host 2 stopped cannot hold the end.
	local cmd
	cmd="echo start; $(gate go.h1); head -c 2000000 /dev/zero | tr '\\0' x; echo; echo end"
	start_hosts 1 2
	lead_follow 2 K --backend-linger 1s -k K -c "$cmd"
	wait_for grep -q start h2.out
	host_signal STOP 2
	wait_for host_stopped 2
	touch go.h1
	reap_leader 0
	[ "$(wc -c <h1.out)" = 2000011 ]
	# The log lingers 1s after the end, then goes.
	wait_for eval '[ -z "$(streams_of K)" ]'
	host_signal CONT 2
	reap_hosts 75
	grep -q "left redis before this host read its end: the run ended more than --backend-linger ago" h2.err
	lacks 'lost its leader before' h2.err
	[ "$(head -n 1 h2.out)" = start ]
	[ "$(wc -c <h2.out)" -lt 2000011 ]
}

@test "Redis restarted mid-run, rerun: one follower reruns, the other follows it" {
	local n s2 s3
	start_hosts 1 2 3
	s2=$(hpid 2) s3=$(hpid 3)
	lead_follow "2 3" K --lease 3s --on-leader-loss rerun -k K -c "$HCMD"
	redis_shutdown
	redis_start
	# The fence went with the restart: the generation may start at 1 again.
	rerun_on K
	for n in 2 3; do
		if [ "$n" != "$X" ]; then
			wait_for follows_host "$n" K "h$X"
		fi
	done
	finish_rerun
	touch go.h1
	reap_leader 21
	[ "$(count_lines count)" = 2 ]
	[ "$(hpid 2)" = "$s2" ]
	[ "$(hpid 3)" = "$s3" ]
	hosts_answer 1 2 3
}

@test "Redis down at start: exit 125 with one line naming redis, nothing runs" {
	redis_stop
	BACKEND="redis://127.0.0.1:$REDIS_PORT"
	start_hosts 1
	hrun 1 -k K -c 'echo run >>count; echo WRONG'
	refused
	grep -qi redis <<<"$stderr"
	hrun 1 --fallback fail -k K -c 'echo run >>count; echo WRONG'
	refused
	[ ! -e count ]
}

@test "Redis down at start, --fallback local: the command runs here, with a warning" {
	local p
	redis_stop
	BACKEND="redis://127.0.0.1:$REDIS_PORT"
	start_hosts 1
	hrun 1 --fallback local -k K -c 'echo run >>count; echo here; exit 4'
	[ "$status" -eq 4 ]
	[ "$output" = here ]
	grep -qi redis <<<"$stderr"
	[ "$(count_lines count)" = 1 ]
	# --status calls such a run local.
	hspawn l 1 --fallback local -k L -c "$(gate go); echo later"
	p=$LASTPID
	wait_for role_is 1 L local
	touch go
	reaped "$p" 0
	[ "$(cat l.out)" = later ]
}

@test "cancelling a --fallback local run ends the command's whole process group, children that ignore SIGTERM too" {
	local p a b
	redis_stop
	BACKEND="redis://127.0.0.1:$REDIS_PORT"
	start_hosts 1
	# The same command a local run has fully killed: two children that
	# inherit the ignored SIGTERM, so only the SIGKILL after --kill-after
	# to the whole group ends them.
	hspawn c 1 --fallback local --kill-after 1 -k G -c "trap '' TERM; sleep 300 & echo \$! >a.pid; sleep 301 & echo \$! >b.pid; echo started; wait"
	p=$LASTPID
	wait_for grep -q started c.out
	a=$(cat a.pid)
	b=$(cat b.pid)
	kill -KILL "$p"
	reaped "$p" 137
	if ! wait_for gone "$a" || ! wait_for gone "$b"; then
		ps -o pid,ppid,pgid,cmd -p "$a,$b" || true
		kill -KILL "$a" "$b" 2>/dev/null || true
		return 1
	fi
	wait_for no_run_on 1 G
}

# --- passwords and ACL -------------------------------------------------------

@test "requirepass: no password or a wrong one is 125 with one line, nothing runs" {
	requirepass adm1n-pw
	start_hosts 1
	hrun 1 -k K -c 'echo run >>count; echo WRONG'
	refused
	grep -qiE 'auth|pass' <<<"$stderr"
	SFRUN_REDIS_PASSWORD=wrong hrun 1 -k K -c 'echo run >>count; echo WRONG'
	refused
	grep -qiE 'auth|pass' <<<"$stderr"
	[ ! -e count ]
	[ "$(rcli DBSIZE)" = 0 ]
}

@test "requirepass: SFRUN_REDIS_PASSWORD and SFRUN_REDIS_PASSWORD_FILE work" {
	requirepass adm1n-pw
	printf 'adm1n-pw\n' >"$BATS_TEST_TMPDIR/pw"
	chmod 600 "$BATS_TEST_TMPDIR/pw"
	start_hosts 1 2
	# A leader with the one, a follower with the other.
	SFRUN_REDIS_PASSWORD=adm1n-pw lead 1 K -k K -c "$HCMD"
	SFRUN_REDIS_PASSWORD_FILE="$BATS_TEST_TMPDIR/pw" follow 2 K -k K -c "$HCMD"
	finish_h1
	outs_are "$(printf 'start h1\nend h1')" 2
	# And each alone.
	touch go.h2
	SFRUN_REDIS_PASSWORD=adm1n-pw hrun 2 -k K -c "$HCMD"
	[ "$status" -eq 22 ]
	SFRUN_REDIS_PASSWORD_FILE="$BATS_TEST_TMPDIR/pw" hrun 1 -k K -c "$HCMD"
	[ "$status" -eq 21 ]
	[ "$(count_lines count)" = 3 ]
	[ "$(fence_of K)" = 3 ]
	# The command never sees the password.
	SFRUN_REDIS_PASSWORD=adm1n-pw hrun 1 -k E -c 'echo "pw=${SFRUN_REDIS_PASSWORD-unset}"'
	[ "$status" -eq 0 ]
	[ "$output" = pw=unset ]
}

@test "SFRUN_REDIS_PASSWORD_FILE: a first line over 255 bytes is 125 with one line; 255 bytes work" {
	local pw
	pw=$(head -c 255 /dev/zero | tr '\0' p)
	requirepass "$pw"
	start_hosts 1
	printf '%sq\n' "$pw" >"$BATS_TEST_TMPDIR/pw"
	SFRUN_REDIS_PASSWORD_FILE="$BATS_TEST_TMPDIR/pw" hrun 1 -k K -c 'echo run >>count; echo WRONG'
	refused
	grep -q 'too long' <<<"$stderr"
	[ ! -e count ]
	printf '%s\r\n' "$pw" >"$BATS_TEST_TMPDIR/pw"
	SFRUN_REDIS_PASSWORD_FILE="$BATS_TEST_TMPDIR/pw" hrun 1 -k K -c 'echo run >>count; echo right'
	[ "$status" -eq 0 ]
	[ "$output" = right ]
	[ "$(cat count)" = run ]
}

@test "a restricted ACL user (~sfrun:*) leads and follows; one limited to another prefix gets 125" {
	acl_user sfrun user-pw 'sfrun:*'
	acl_user other other-pw 'other:*'
	requirepass adm1n-pw
	start_hosts 1 2
	BACKEND="redis://sfrun@127.0.0.1:$REDIS_PORT"
	SFRUN_REDIS_PASSWORD=user-pw lead_follow 2 K --lease 3s -k K -c "$HCMD"
	# The 3s lease runs down, then is renewed (every 1s) under the ACL.
	wait_for lease_ttl_is below K 2500
	wait_for lease_ttl_is above K 2500
	finish_h1
	outs_are "$(printf 'start h1\nend h1')" 2
	[ "$(cat count)" = "h1 1" ]
	no_lease K
	# The other user may not touch sfrun:*.
	BACKEND="redis://other@127.0.0.1:$REDIS_PORT"
	SFRUN_REDIS_PASSWORD=other-pw hrun 1 -k K2 -c 'echo run >>count2; echo WRONG'
	refused
	[ ! -e count2 ]
}

@test "a password in --backend is refused (125, names SFRUN_REDIS_PASSWORD); in SFRUN_BACKEND it works" {
	acl_user sfrun user-pw 'sfrun:*'
	start_hosts 1
	unset BACKEND
	hrun 1 --backend "redis://sfrun:user-pw@127.0.0.1:$REDIS_PORT" -k K \
	    -c 'echo run >>count; echo WRONG'
	refused
	grep -q SFRUN_REDIS_PASSWORD <<<"$stderr"
	[ ! -e count ]
	BACKEND="redis://sfrun:user-pw@127.0.0.1:$REDIS_PORT"
	hrun 1 -k K -c 'echo run >>count; echo ok'
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
	[ "$(count_lines count)" = 1 ]
	[ "$(fence_of K)" = 1 ]
}

@test "the password is not in ps while a backend run is in flight" {
	local pw args f
	pw="pw-$RANDOM-$RANDOM-secret"
	acl_user sfrun "$pw" 'sfrun:*'
	# No start_hosts: the servers are autostarted by these invocations.
	BACKEND="redis://sfrun:$pw@127.0.0.1:$REDIS_PORT"
	lead 1 K -k K -c "$HCMD"
	BACKEND="redis://sfrun@127.0.0.1:$REDIS_PORT"
	SFRUN_REDIS_PASSWORD=$pw follow 2 K -k K -c "$HCMD"
	wait_for bridges_are 1 1
	wait_for bridges_are 2 1
	args=$(ps -eo args)
	grep sfrun <<<"$args"
	[ "$(grep -c sfrun-bridge <<<"$args")" -ge 2 ]
	[ -z "$(grep -F -- "$pw" <<<"$args")" ]
	args=$(for f in /proc/[0-9]*/cmdline; do
		tr '\0' ' ' <"$f" 2>/dev/null
		echo
	done)
	grep -q sfrun-bridge <<<"$args"
	[ -z "$(grep -F -- "$pw" <<<"$args")" ]
	finish_h1
}

# --- collision, leaks, fence, the stream --------------------------------------

@test "key collision: the same key with another argv on another host exits 125 'collision', runs nothing" {
	start_hosts 1 2
	lead 1 K -k K -c "$HCMD"
	hrun 2 -k K -c 'echo other >>count; echo WRONG'
	[ "$status" -eq 125 ]
	grep -q collision <<<"$stderr"
	[[ "$output" != *WRONG* ]]
	[ "$(cat count)" = "h1 1" ]
	touch go.h1
	reap_leader 21
	[ "$(cat count)" = "h1 1" ]
}

@test "--no-join across hosts: 75 at once, nothing printed, nothing run" {
	start_hosts 1 2
	lead 1 K -k K -c "$HCMD"
	hrun 2 -n -k K -c "$HCMD"
	[ "$status" -eq 75 ]
	[ -z "$output" ]
	[ "$(cat count)" = "h1 1" ]
	touch go.h1
	reap_leader 21
	[ "$(cat count)" = "h1 1" ]
}

@test "--run-timeout on the leader's host: x record timeout:15, every host exits 124" {
	# Host 2 must reach the run before the leader's timeout; on a loaded
	# machine that can take seconds. A try where it came too late (and
	# ran a generation of its own) is no verdict: again, with a longer
	# timeout. Host 2 has the same --run-timeout, counted from its own
	# start: whichever ends it first, it exits 124.
	local s t0 t1 rt k cmd='echo start; sleep 60'
	start_hosts 1 2
	for rt in 2 5 12 30; do
		k=T$rt
		t0=$(now_ms)
		lead 1 "$k" --run-timeout "$rt" --backend-linger 60s -k "$k" -c "$cmd"
		hspawn_hosts 2 --run-timeout "$rt" --backend-linger 60s -k "$k" -c "$cmd"
		reap_leader 124
		reap_hosts 124
		t1=$(now_ms)
		s=$(streams_of "$k")
		[ "$(wc -l <<<"$s")" -eq 1 ] && break
		echo "host 2 came after the $rt s run had ended: again, longer"
	done
	echo "h2: done after $((t1 - t0)) ms"
	[ $((t1 - t0)) -lt $((rt * 1000 + 13000)) ]
	outs_are start 1 2
	one_line "$s"
	stream_dump "$s" st
	[ "$(cat st.x)" = timeout:15 ]
}

@test "no leaks: 1000 runs (300 under the sanitizers) on 2 hosts leave only the fence keys after the linger" {
	local p1 p2 keys want t0
	LEAK_ROUNDS=$(scaled 10 3)
	start_hosts 1 2
	t0=$SECONDS
	leak_loop 1 a >loop1.log 2>&1 &
	p1=$!
	BGPIDS+=("$p1")
	leak_loop 2 b >loop2.log 2>&1 &
	p2=$!
	BGPIDS+=("$p2")
	reaped "$p1" 0 150 || { cat loop1.log; false; }
	reaped "$p2" 0 150 || { cat loop2.log; false; }
	echo "$((LEAK_ROUNDS * 100)) runs in $((SECONDS - t0))s"
	# --backend-linger 1s: the streams expire soon after.
	WAIT_SECS=30 wait_for only_fences 100
	keys=$(rcli --raw --scan | sort)
	want=$(for k in $(seq 0 49); do rkey "a$k" fence; echo; rkey "b$k" fence; echo; done | sort)
	[ "$keys" = "$want" ]
	# Every run was a generation of its own: each key ran LEAK_ROUNDS times.
	# shellcheck disable=SC2086 # key names, no blanks
	[ "$(rcli --raw MGET $keys | sort -u)" = "$LEAK_ROUNDS" ]
	# No connection, no bridge left behind.
	wait_for connected_clients_are 1
	bridges_are 1 0
	bridges_are 2 0
}

@test "SFRUN_FENCE: the command gets its generation, one more per run, per key" {
	start_hosts 1 2
	# shellcheck disable=SC2016 # expanded by the command's shell
	local cmd='echo "fence=$SFRUN_FENCE"'
	hrun 1 -k F -c "$cmd"
	[ "$status" -eq 0 ]
	[ "$output" = fence=1 ]
	hrun 2 -k F -c "$cmd"
	[ "$status" -eq 0 ]
	[ "$output" = fence=2 ]
	hrun 1 -k F -c "$cmd"
	[ "$status" -eq 0 ]
	[ "$output" = fence=3 ]
	[ "$(fence_of F)" = 3 ]
	hrun 2 -k G -c "$cmd"
	[ "$status" -eq 0 ]
	[ "$output" = fence=1 ]
	[ "$(fence_of G)" = 1 ]
}

@test "the stream: header 0-1, o/e chunks of at most 64 KiB with increasing ids, one x record" {
	local s t0 t1 script n i argv1 argv2 id
	head -c 200000 /dev/urandom >blob
	start_hosts 1
	script='cat blob; printf e1 >&2; printf o2; exit 4'
	t0=$(now_ms)
	hrun 1 --backend-linger 60s -k S -- sh -c "$script"
	t1=$(now_ms)
	[ "$status" -eq 4 ]
	[ "$stderr" = e1 ]
	s=$(streams_of S)
	echo "stream: $s"
	one_line "$s"
	[[ "$s" == "$(rkey S out:1:)"?* ]]
	stream_dump "$s" st
	cat st.ids st.header
	# The header: exactly those fields.
	[ "$(head -n 1 st.ids | tr ' ' '\n' | sort | tr '\n' ' ')" = "0-1 argv command gen host pid start " ]
	grep -qx 'host=h1' st.header
	grep -qx 'gen=1' st.header
	grep -qx 'pid=[0-9]\+' st.header
	local start
	start=$(sed -n 's/^start=//p' st.header)
	[ "$start" -ge $((t0 - 1000)) ]
	[ "$start" -le $((t1 + 1000)) ]
	grep -q '^command=.*cat blob' st.header
	# argv: the sha256 of the NUL-joined argv (with or without a last NUL).
	argv1=$(printf 'sh\0-c\0%s' "$script" | sha256sum | cut -d' ' -f1)
	argv2=$(printf 'sh\0-c\0%s\0' "$script" | sha256sum | cut -d' ' -f1)
	grep -qxE "argv=($argv1|$argv2)" st.header
	# The chunks: ids 0-2, 0-3, ... one field each, o or e, then one x last.
	n=$(wc -l <st.ids)
	for i in $(seq 2 "$n"); do
		id=$(sed -n "${i}p" st.ids)
		if [ "$i" -lt "$n" ]; then
			[[ "$id" =~ ^0-$i\ [oe]$ ]]
		else
			[ "$id" = "0-$i x" ]
		fi
	done
	[ "$(cat st.maxchunk)" -le 65536 ]
	{ cat blob; printf o2; } >want
	cmp want st.o
	[ "$(cat st.e)" = e1 ]
	[ "$(cat st.x)" = exit:4 ]
	# It expires after the linger; the lease is gone, the fence stays.
	local ttl
	ttl=$(rcli PTTL "$s")
	echo "PTTL $ttl"
	[ "$ttl" -gt 0 ]
	[ "$ttl" -le 60000 ]
	no_lease S
	[ "$(fence_of S)" = 1 ]
}

@test "death by a signal: x record signal:15, the leader and the followers die of it" {
	local p1 p2 s cmd
	start_hosts 1 2
	cmd="printf before; $(gate go); kill -TERM \$\$; sleep 5"
	hspawn_st h1 1 --backend-linger 60s -k sig -c "$cmd"
	p1=$LASTPID
	wait_for role_is 1 sig leader
	hspawn_st h2 2 --backend-linger 60s -k sig -c "$cmd"
	p2=$LASTPID
	wait_for role_is 2 sig follower
	wait_for grep -q before h2.out
	touch go
	reap "$p1"
	reap "$p2"
	cat h1.st h2.st h1.err h2.err
	[ "$(cat h1.st)" = "signal 15" ]
	[ "$(cat h2.st)" = "signal 15" ]
	[ "$(cat h1.out)" = before ]
	[ "$(cat h2.out)" = before ]
	s=$(streams_of sig)
	one_line "$s"
	stream_dump "$s" st
	[ "$(cat st.x)" = signal:15 ]
}

# --- --status, options, URLs ---------------------------------------------------

@test "an x record with a stop signal is refused (125, one line), never raised" {
	local s
	start_hosts 1 2
	lead 1 K -k K -c "$HCMD"
	s=$(streams_of K)
	one_line "$s"
	# Forged: no command ends by SIGSTOP; raised, it would stop the
	# follower's bridge, and its waiters with it, for good.
	[ -n "$(rcli XADD "$s" 0-99 x "signal:$(kill -l STOP)")" ]
	hrun 2 -k K -c "$HCMD"
	[ "$status" -eq 125 ]
	one_line "$stderr"
	grep -q 'unknown record' <<<"$stderr"
	[ "$(cat count)" = "h1 1" ]
	touch go.h1
	reap_leader 21
}

@test "--status and --status --json show the leader on one host and the follower on another" {
	local p3 holder row
	# No start_hosts: each host's server is autostarted, with the
	# SFRUN_HOST_ID of the invocation.
	lead 1 ST -k ST -c "$HCMD"
	wait_for role_is 1 ST leader 1
	hspawn_hosts 2 -k ST -c "$HCMD"
	wait_for role_is 2 ST follower 1
	hspawn loc 1 --backend none -k LOC -c "$(gate go)"
	p3=$LASTPID
	SFRUN_SOCKET=$(hsock 1) wait_for has_waiters LOC 1
	holder=$(bfield 1 ST holder)
	echo "holder: $holder"
	[[ "$holder" =~ ^h1:[0-9]+:.+ ]]
	[ "$(bfield 2 ST holder)" = "$holder" ]
	[ "$(lease_of ST)" = "1 $holder" ]
	[ "$(hjson 1 '[r["backend"] for r in R if r["key"] == A[0]][0]' LOC)" = None ]
	SFRUN_NO_AUTOSTART=1 hrun 1 --status
	[ "$status" -eq 0 ]
	grep -qi backend <<<"$output"
	row=$(grep -E '^ST[[:space:]]' <<<"$output")
	[[ "$row" == *"leader g1"* ]]
	row=$(grep -E '^LOC[[:space:]]' <<<"$output")
	[[ "$row" != *leader* && "$row" != *follower* ]]
	SFRUN_NO_AUTOSTART=1 hrun 2 --status
	[ "$status" -eq 0 ]
	row=$(grep -E '^ST[[:space:]]' <<<"$output")
	[[ "$row" =~ follower\ g1\ (of\ )?h1 ]]
	touch go
	finish_h1
	reaped "$p3" 0
}

@test "bad --backend, --on-leader-loss, --fallback, --lease: 125, one line, nothing runs" {
	local bad
	start_hosts 1
	for bad in "--backend=http://127.0.0.1:$REDIS_PORT" --backend=redis:// \
	    --backend=redis://127.0.0.1:99999 "--backend=redis://127.0.0.1:$REDIS_PORT/x" \
	    --backend=unix:// --backend=127.0.0.1 \
	    --on-leader-loss=maybe --fallback=maybe --lease=1x; do
		hrun 1 "$bad" -k B -c 'echo run >>count; echo WRONG'
		refused
	done
	BACKEND='bogus://x'
	hrun 1 -k B -c 'echo run >>count; echo WRONG'
	refused
	[ ! -e count ]
	[ "$(rcli DBSIZE)" = 0 ]
}

@test "URLs: /db, unix:// with ?db=, --backend-prefix; --backend wins over SFRUN_BACKEND; none" {
	local dead
	start_hosts 1 2
	BACKEND="redis://127.0.0.1:$REDIS_PORT/3"
	hrun 1 -k D -c 'echo db'
	[ "$status" -eq 0 ]
	[ "$(rcli -n 3 --raw GET "$(rkey D fence)")" = 1 ]
	[ -z "$(fence_of D)" ]
	# A leader over the unix socket, a follower over TCP, in db 5.
	BACKEND="unix://$REDIS_SOCK?db=5"
	lead 1 U -k U -c "$HCMD"
	BACKEND="redis://127.0.0.1:$REDIS_PORT/5"
	follow 2 U -k U -c "$HCMD"
	finish_h1
	[ "$(cat count)" = "h1 1" ]
	[ "$(rcli -n 5 --raw GET "$(rkey U fence)")" = 1 ]
	# Another prefix.
	BACKEND=$REDIS_URL
	hrun 1 --backend-prefix 'sfrun:t1:' -k P -c 'echo prefixed'
	[ "$status" -eq 0 ]
	[ "$(PREFIX='sfrun:t1:' fence_of P)" = 1 ]
	[ -z "$(fence_of P)" ]
	# The option wins over the environment.
	dead=$(free_port)
	BACKEND="redis://127.0.0.1:$dead"
	hrun 1 --backend "$REDIS_URL" -k W -c 'echo wins'
	[ "$status" -eq 0 ]
	[ "$output" = wins ]
	[ "$(fence_of W)" = 1 ]
	# none, or an empty SFRUN_BACKEND: no backend at all.
	hrun 1 --backend none -k N -c 'echo local'
	[ "$status" -eq 0 ]
	[ "$output" = local ]
	BACKEND=
	hrun 1 -k E -c 'echo local'
	[ "$status" -eq 0 ]
	[ "$output" = local ]
	[ -z "$(fence_of N)" ]
	[ -z "$(fence_of E)" ]
}

# --- two levels ----------------------------------------------------------------

@test "local coalescing first: one bridge per host for any number of local waiters" {
	local n i
	start_hosts 1 2
	PIDS=()
	hspawn h1.1 1 -k K -c "$HCMD"
	PIDS+=("$LASTPID")
	wait_for role_is 1 K leader
	for i in 2 3; do
		hspawn "h1.$i" 1 -k K -c "$HCMD"
		PIDS+=("$LASTPID")
	done
	for i in 1 2 3; do
		hspawn "h2.$i" 2 -k K -c "$HCMD"
		PIDS+=("$LASTPID")
	done
	wait_for role_is 2 K follower
	SFRUN_SOCKET=$(hsock 1) wait_for has_waiters K 3
	SFRUN_SOCKET=$(hsock 2) wait_for has_waiters K 3
	bridges_are 1 1
	bridges_are 2 1
	[ "$(cat count)" = "h1 1" ]
	touch go.h1
	reap_all 21
	for n in 1 2; do
		for i in 1 2 3; do
			[ "$(cat "h$n.$i.out")" = "$(printf 'start h1\nend h1')" ]
		done
	done
	[ "$(cat count)" = "h1 1" ]
}

@test "a host's server under ulimit -n 64: 40 concurrent backend calls of distinct keys all run, each once" {
	# Both limits 64 for the server, its bridges and their commands: a
	# backend run holds more descriptors than a local one (its bridge's
	# side socket and pipes, its command's, the kept directory), so only
	# a few fit. The server takes calls only as descriptors allow; the
	# others wait, and none fails for it.
	local i bad=0
	(ulimit -n 64; start_hosts 1)
	[ "$(awk '/^Max open files/ { print $4, $5 }' "/proc/$(hpid 1)/limits")" = "64 64" ]
	host_env 1
	for i in $(seq 40); do
		env "${HENV[@]}" "$SFRUN" -k "key$i" -c "echo run >>count.$i; $(gate go); echo $i" >"o.$i" 2>"e.$i" 3>&- &
		BGPIDS+=("$!")
	done
	# The server is out of descriptors with runs held at the gate: the
	# other calls wait to be accepted.
	wait_for grep -q "out of descriptors" h1.log
	wait_for eval '[ "$(ls count.* 2>/dev/null | wc -l)" -ge 2 ]'
	touch go
	for i in $(seq 40); do
		# BGPIDS ends with the 40 calls, the last one's first.
		reap "${BGPIDS[-$((41 - i))]}" 60
		[ "$RC" = 0 ] && [ "$(cat "o.$i")" = "$i" ] &&
		    [ "$(cat "count.$i")" = run ] ||
		    { echo "call $i: $RC $(cat "e.$i")"; bad=$((bad + 1)); }
	done
	echo "$bad of 40 failed"
	[ "$bad" = 0 ]
	hosts_answer 1
}

@test "-v: a replayed backend run says 'replayed' and nothing of a new part" {
	start_hosts 1
	hrun 1 -v --linger 30s -k L -c 'echo once >>count; echo hi'
	[ "$status" -eq 0 ]
	hrun 1 -v --linger 30s -k L -c 'echo once >>count; echo hi'
	[ "$status" -eq 0 ]
	[ "$output" = hi ]
	grep -q '^sfrun: replayed run [0-9]* (key L), which ended ' <<<"$stderr"
	[ "$(grep -c '^sfrun: ' <<<"$stderr")" = 1 ]
	[ "$(cat count)" = once ]
}

@test "the leader's caller gives up (--timeout): its line says the run goes on for the other hosts" {
	start_hosts 1 2
	lead 1 K --timeout 2s -k K -c "$HCMD"
	follow 2 K -k K -c "$HCMD"
	reaped "$LEADER" 124
	grep -q "run [0-9]* (key K) goes on for the other hosts (this host leads it)$" h1.err
	role_is 1 K leader
	touch go.h1
	reap_hosts 21
	outs_are "$(printf 'start h1\nend h1')" 2
}

@test "the leader's bridge killed mid-run: its callers never exit 0, the command is ended" {
	local p b c
	start_hosts 1
	# A command that would exit 0 on SIGTERM: its status must not stand
	# for a run whose output no longer reached anyone.
	hspawn l 1 -k K -c "trap 'exit 0' TERM; echo \$\$ >cmd.pid; echo start; $(gate go); echo end"
	p=$LASTPID
	wait_for grep -q start l.out
	c=$(cat cmd.pid)
	b=$(bridge_pids 1)
	[ -n "$b" ]
	kill -KILL "$b"
	reaped "$p" 125
	grep -q bridge l.err
	wait_for gone "$c"
	[ "$(cat l.out)" = start ]
}

@test "a run led here goes on when its local waiters leave: the followers get all of it" {
	start_hosts 1 2
	lead_follow 2 K -k K -c "$HCMD"
	kill -KILL "$LEADER"
	reap "$LEADER"
	SFRUN_SOCKET=$(hsock 1) wait_for all_waiters 0
	role_is 1 K leader
	touch go.h1
	reap_hosts 21
	outs_are "$(printf 'start h1\nend h1')" 2
	[ "$(cat count)" = "h1 1" ]
}

# --- --tty -------------------------------------------------------------------

@test "--tty with a backend: the leading host makes the terminal; every host gets its bytes on stdout" {
	local cmd p1 p2
	start_hosts 1 2
	cmd="[ -t 1 ] && [ -t 2 ] && echo \"tty on \$SFRUN_HOST_ID\"; echo err >&2; $(gate go); printf 'a\\nb\\n'"
	hspawn h1 1 --tty -k tb -c "$cmd"
	p1=$LASTPID
	wait_for grep -q 'tty on h1' h1.out
	hspawn h2 2 --tty -k tb -c "$cmd"
	p2=$LASTPID
	wait_for grep -q 'tty on h1' h2.out
	role_is 2 tb follower
	touch go
	reaped "$p1" 0
	reaped "$p2" 0
	printf 'tty on h1\nerr\na\nb\n' >want
	cmp want h1.out
	cmp want h2.out
	[ ! -s h1.err ]
	[ ! -s h2.err ]
}

# --- --fresh -----------------------------------------------------------------

# hqueued_is N KEY Q: on host N, Q --fresh callers wait for the end of KEY's run.
hqueued_is() {
	[ "$(hjson "$1" '[r["queued"] for r in R if r["key"] == A[0]][0]' "$2" 2>/dev/null)" = "$3" ]
}

@test "--fresh with a backend holds per host: a caller queued behind its host's run leads the next generation" {
	local pa pq
	start_hosts 1
	hspawn a 1 -k fr -c "$HCMD"
	pa=$LASTPID
	wait_for role_is 1 fr leader 1
	hspawn q 1 --fresh -k fr -c "$HCMD"
	pq=$LASTPID
	wait_for hqueued_is 1 fr 1
	[ ! -s q.out ]
	touch go.h1
	reaped "$pa" 21
	reaped "$pq" 21
	[ "$(cat count)" = "h1 1
h1 2" ]
	[ "$(cat q.out)" = "start h1
end h1" ]
}

# bridge_pids N: the pids of host N's sfrun-bridge processes, one a line.
bridge_pids() {
	local pid p
	pid=$(hpid "$1")
	[ -n "$pid" ] || return 0
	for p in $(tree "$pid"); do
		case $(ps -o args= -p "$p" 2>/dev/null) in
		*sfrun-bridge*) echo "$p" ;;
		esac
	done
}

# no_secret_in_environ PW PID...: no PID's /proc environment holds PW.
no_secret_in_environ() {
	local pw=$1 p
	shift
	for p in "$@"; do
		if tr '\0' '\n' <"/proc/$p/environ" | grep -F -- "$pw"; then
			echo "pid $p ($(ps -o args= -p "$p")) has the password"
			return 1
		fi
	done
}

@test "a password in SFRUN_BACKEND reaches neither the command nor a bridge's environment (leader, follower, --fallback local)" {
	local pw show
	pw="pw-$RANDOM-$RANDOM-secret"
	requirepass "$pw"
	start_hosts 1 2
	BACKEND="redis://:$pw@127.0.0.1:$REDIS_PORT"
	# The command shows its own environment and its parent's (the bridge).
	show='env; tr "\0" "\n" </proc/$PPID/environ'
	lead 1 K -k K -c "echo start; $show; $(gate go.h1); echo done"
	follow 2 K -k K -c "echo start; $show; $(gate go.h1); echo done"
	# shellcheck disable=SC2046 # pids, one a line
	no_secret_in_environ "$pw" $(bridge_pids 1) $(bridge_pids 2)
	touch go.h1
	reap_leader 0
	reap_hosts 0
	grep -q "^SFRUN_BACKEND=redis://127.0.0.1:$REDIS_PORT\$" h1.out
	grep -q '^SFRUN_FENCE=1$' h1.out
	lacks "$pw" h1.out h1.err h2.out h2.err
	# Redis down: the run is this host's alone, without the password too.
	redis_stop
	hrun 1 --fallback local -k L -c "$show"
	[ "$status" -eq 0 ]
	grep -q "^SFRUN_BACKEND=redis://127.0.0.1:$REDIS_PORT\$" <<<"$output"
	lacks "$pw" <<<"$output$stderr"
}
