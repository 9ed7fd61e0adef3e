#!/usr/bin/env bash
# Soak test: for SOAK_SECS (default 300) a mix of 50 keys, random joiners,
# --timeout waiters, Ctrl-C'd waiters and --forget, against one private
# server. At the end the server's descriptors and memory must be back to
# their idle values, with no zombies and no spool files left, and every
# waiter that completed must have got byte-identical output for its run.
# Bounded: at most SOAK_MAX clients at once, SOAK_SECS of new clients.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
sfrun="$top/build/sfrun"
sfrund="$top/build/sfrund"
secs=${SOAK_SECS:-300}
max=${SOAK_MAX:-40}

dir=$(mktemp -d)
chmod 700 "$dir"
mkdir "$dir/out" "$dir/tmp"
export SFRUN_SOCKET="$dir/soak.sock" TMPDIR="$dir/tmp" SFRUN_TMPDIR="$dir/tmp"
spid=
cleanup() {
	jobs -p | xargs -r kill -KILL 2>/dev/null
	[ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

# A daemon, not a child of this script: `wait` below waits for clients only.
"$sfrund" -i 0 || { echo "soak: no server"; exit 1; }
spid=$(cat "$SFRUN_SOCKET.pid")

# fds / rss / zombies / spools of the server, one line.
probe() {
	local fds=0 spools=0 rss zombies fd
	for fd in /proc/"$spid"/fd/*; do
		fds=$((fds + 1))
		case $(readlink "$fd") in *"(deleted)"*) spools=$((spools + 1)) ;; esac
	done
	rss=$(awk '/^VmRSS/ { print $2 }' /proc/"$spid"/status)
	zombies=$(ps -o stat= --ppid "$spid" | awk '/^Z/ { n++ } END { print n + 0 }')
	echo "$fds $rss $zombies $spools"
}

# Warm the server up once, then take the idle baseline (which holds the
# one spare spool the server keeps ready).
"$sfrun" -k warm -- true
read -r fd0 rss0 _ spools0 < <(probe)

# One client: key from 50; the command prints its run id, then random
# bytes (sized by the key) and sleeps a little, so that joiners overlap.
client() {
	local n=$1 k=$((RANDOM % 50)) kind=$((RANDOM % 10)) rc=0
	# shellcheck disable=SC2016 # expanded by the run's shell
	local cmd='echo "run $SFRUN_RUN_ID"; head -c $(( (KEYN + 1) * 3000 )) /dev/urandom | od -An -tx1; sleep 1.$((RANDOM % 5))'
	case $kind in
	0) # gives up quickly
		KEYN=$k "$sfrun" -q -t 0.1 -k "k$k" -c "$cmd" >"$dir/out/$n" 2>/dev/null || rc=$? ;;
	1) # interrupted like a Ctrl-C (a background job starts with SIGINT
	   # ignored, so python puts back the default before the exec)
		KEYN=$k python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$sfrun" -q -k "k$k" -c "$cmd" \
		    >"$dir/out/$n" 2>/dev/null &
		local p=$!
		sleep 0.$((RANDOM % 9))
		kill -INT "$p" 2>/dev/null
		wait "$p" || rc=$? ;;
	2) # forgets the key's run
		"$sfrun" -q --forget "k$k" >/dev/null 2>&1; rc=forget ;;
	*) # an ordinary caller
		KEYN=$k "$sfrun" -q -k "k$k" -c "$cmd" >"$dir/out/$n" 2>/dev/null || rc=$? ;;
	esac
	echo "$rc" >"$dir/out/$n.rc"
}

started=0
end=$((SECONDS + secs))
while [ "$SECONDS" -lt "$end" ]; do
	while [ "$(jobs -pr | wc -l)" -ge "$max" ]; do sleep 0.01; done
	started=$((started + 1))
	client "$started" &
done
wait

# Wait (bounded) until no run is left in the server.
for _ in $(seq 300); do
	"$sfrun" --status --json | grep -q '"runs":\[\]' && break
	sleep 0.1
done
read -r fd1 rss1 zombies spools < <(probe)

# Every completed waiter of a run got the same bytes.
completed=0 mismatched=0 timeouts=0 interrupted=0
declare -A first
for rcf in "$dir"/out/*.rc; do
	f=${rcf%.rc}
	case $(cat "$rcf") in
	0) completed=$((completed + 1))
	   run=$(head -n 1 "$f")
	   if [ -z "${first[$run]:-}" ]; then
		first[$run]=$f
	   elif ! cmp -s "$f" "${first[$run]}"; then
		mismatched=$((mismatched + 1))
	   fi ;;
	124) timeouts=$((timeouts + 1)) ;;
	130) interrupted=$((interrupted + 1)) ;;
	esac
done
leftover=$(find "$TMPDIR" -type f | wc -l)

echo "soak: ${secs}s, $started clients: $completed completed in ${#first[@]} runs, $timeouts timed out, $interrupted interrupted"
echo "soak: server fds $fd0 -> $fd1, rss ${rss0}K -> ${rss1}K, zombies $zombies, open spools $spools0 -> $spools, spool files left $leftover"
echo "soak: $mismatched completed waiters got output differing from their run's"
ok=1
[ "$fd1" -eq "$fd0" ] || { echo "soak: FAIL descriptors not back to idle"; ok=0; }
[ "$rss1" -le $((rss0 + 1024)) ] || { echo "soak: FAIL memory not back to idle"; ok=0; }
if [ "$zombies" -ne 0 ] || [ "$spools" -ne "$spools0" ] ||
    [ "$leftover" -ne 0 ]; then
	echo "soak: FAIL leftovers"
	ok=0
fi
if [ "$mismatched" -ne 0 ] || [ "$completed" -eq 0 ]; then
	echo "soak: FAIL output"
	ok=0
fi
[ "$ok" -eq 1 ] && echo "soak: PASS"
[ "$ok" -eq 1 ]
