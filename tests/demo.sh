#!/usr/bin/env bash
# make demo: ten concurrent invocations of one slow command, one execution.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
sfrun="$top/build/sfrun"
dir=$(mktemp -d)
chmod 700 "$dir"
export SFRUN_SOCKET="$dir/demo.sock"
trap '"$sfrun" -q --stop-server; rm -rf "$dir"' EXIT

cat >"$dir/slow.sh" <<'SH'
#!/bin/sh
# The "expensive" command: counts its executions, takes two seconds.
echo "run $SFRUN_RUN_ID started (pid $$)" >>"$COUNT_FILE"
echo "building... (pid $$)"
sleep 1
echo "still building..."
echo "a warning on stderr" >&2
sleep 1
echo "done"
exit 3
SH
chmod +x "$dir/slow.sh"
export COUNT_FILE="$dir/executions"

echo "Starting 10 concurrent: sfrun -v -k build -- ./slow.sh (it exits 3)"
for i in $(seq 10); do
	( cd "$dir" && rc=0 && "$sfrun" -v -k build -- ./slow.sh \
	    >"$dir/out.$i" 2>"$dir/err.$i" || rc=$?; echo "$rc" >"$dir/status.$i" ) &
	sleep 0.05
done
wait

for i in $(seq 10); do
	printf '%-3s status %s, %s; stdout: %s\n' "$i:" "$(cat "$dir/status.$i")" \
	    "$(grep -o 'led\|joined' "$dir/err.$i")" \
	    "$(tr '\n' '|' <"$dir/out.$i")"
done
n=$(wc -l <"$COUNT_FILE")
echo
echo "The command ran $n time(s) for 10 callers:"
cat "$COUNT_FILE"
same=$(cat "$dir"/out.* | sort | uniq -c | awk '$1 == 10' | wc -l)
echo "Every caller got the same $same lines of stdout and exit status 3."
[ "$n" -eq 1 ]
