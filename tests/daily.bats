#!/usr/bin/env bats
# Daily use: --linger, socket activation, shell completions, make install,
# and the --status table.

bats_require_minimum_version 1.5.0
load helper

# lingering KEY: KEY's run has ended and lingers.
lingering() {
	[ "$(field "$1" lingering 2>/dev/null)" = True ]
}

# left_below KEY MS: KEY's lingering result has less than MS ms left.
left_below() {
	[ "$(field "$1" linger_left_ms 2>/dev/null)" -lt "$2" ]
}

# runs_are KEY N: the server holds N runs of KEY.
runs_are() {
	[ "$(runs_of "$1" 2>/dev/null)" = "$2" ]
}

# gets WANT RUNS ARGS...: sfrun ARGS... exits 0 printing WANT, and ./count
# then holds RUNS lines (so whether it ran the command or replayed a result).
gets() {
	local want=$1 runs=$2
	shift 2
	run timeout 30 "$SFRUN" "$@"
	echo "sfrun $*: status=$status output=[$output] runs=$(count_lines count)"
	[ "$status" -eq 0 ]
	[ "$output" = "$want" ]
	[ "$(count_lines count)" -eq "$runs" ]
}

# spools_with PID TEXT: how many of the spool files PID holds hold TEXT,
# as one record (after its 4-byte header).
spools_with() {
	local f n=0
	for f in /proc/"$1"/fd/*; do
		case $(readlink "$f" 2>/dev/null) in
		"$TMPDIR"/*" (deleted)")
			[ "$(tail -c +5 "$f" 2>/dev/null)" != "$2" ] || n=$((n + 1)) ;;
		esac
	done
	echo "$n"
}

# no_spool_with PID TEXT: none of the spool files PID holds holds TEXT.
no_spool_with() {
	[ "$(spools_with "$1" "$2")" = 0 ]
}

# --- --linger ---------------------------------------------------------------

@test "--linger: a caller within the window replays output and status, nothing runs twice" {
	run --separate-stderr timeout 30 "$SFRUN" --linger 600 -k L \
	    -c 'echo run >>count; echo out1; echo err1 >&2; echo out2; exit 3'
	echo "status=$status stdout=[$output] stderr=[$stderr]"
	[ "$status" -eq 3 ]
	[ "$output" = "$(printf 'out1\nout2')" ]
	[ "$stderr" = err1 ]
	[ "$(count_lines count)" -eq 1 ]
	lingering L

	run --separate-stderr timeout 30 "$SFRUN" -v -k L \
	    -c 'echo run >>count; echo WRONG; exit 9'
	echo "status=$status stdout=[$output] stderr=[$stderr]"
	[ "$status" -eq 3 ]
	[ "$output" = "$(printf 'out1\nout2')" ]
	[[ "$stderr" == err1$'\n'"sfrun: replayed run "* ||
	    "$stderr" == "sfrun: replayed run "*$'\n'err1 ]]
	[ "$(count_lines count)" -eq 1 ]

	# Any number of callers in the window get the same result.
	run --separate-stderr timeout 30 "$SFRUN" -k L -c 'echo run >>count; echo WRONG'
	[ "$status" -eq 3 ]
	[ "$output" = "$(printf 'out1\nout2')" ]
	[ "$(count_lines count)" -eq 1 ]
	[ "$(sjson 'd["counters"]["runs_started"]')" = 1 ]
	[ "$(sjson 'd["counters"]["invocations_joined"]')" = 2 ]
}

@test "--linger: a death by signal is replayed too" {
	run timeout 30 "$SFRUN" --linger 600 -k sig -c 'echo run >>count; echo x; kill -TERM $$'
	[ "$status" -eq 143 ]
	[ "$output" = x ]
	run timeout 30 "$SFRUN" -k sig -c 'echo run >>count; echo WRONG'
	[ "$status" -eq 143 ]
	[ "$output" = x ]
	[ "$(count_lines count)" -eq 1 ]
}

@test "--linger: a large output is replayed byte for byte" {
	head -c 3000000 /dev/urandom >big
	run timeout 30 "$SFRUN" --linger 600 -k big -c 'echo run >>count; cat big; cat big >&2'
	[ "$status" -eq 0 ]
	timeout 30 "$SFRUN" -k big -c 'echo run >>count; echo WRONG' >o.out 2>o.err
	cmp big o.out
	cmp big o.err
	[ "$(count_lines count)" -eq 1 ]
}

@test "--linger given by a joiner keeps the result of a run led without it" {
	spawn lead "$SFRUN" -k J -c "echo run >>count; echo \$SFRUN_RUN_ID; $(gate go)"
	local lead=$LASTPID
	wait_for grep -q . lead.out
	spawn_waiter join J 2 "$SFRUN" --linger 600 -k J -c 'echo run >>count; echo WRONG'
	local join=$LASTPID
	touch go
	reaped "$lead" 0
	reaped "$join" 0
	cmp lead.out join.out
	lingering J
	gets "$(cat lead.out)" 1 -k J -c 'echo run >>count; echo WRONG'
}

@test "--linger: after the window the next caller runs again and the spool is freed" {
	local pid
	# 8s: on a loaded machine a --status call can take seconds.
	run timeout 30 "$SFRUN" --linger 8 -k L -c 'echo run >>count; echo first'
	[ "$status" -eq 0 ]
	[ "$output" = first ]
	pid=$(server_pid)
	[ -n "$pid" ]
	# Still there right after the run: lingering, its spool held (told
	# from the spare spool the server makes ahead by what it holds).
	lingering L
	[ "$(spools_with "$pid" first)" = 1 ]
	# Gone once the window has passed (polled, not slept on).
	wait_for no_run L
	wait_for no_spool_with "$pid" first
	gets second 2 -k L -c 'echo run >>count; echo second'
	# Same server all along.
	[ "$(server_pid)" = "$pid" ]
}

@test "--forget drops a lingering result, and only that one" {
	gets first 1 --linger 600 -k L -c 'echo run >>count; echo first'
	gets other 2 --linger 600 -k M -c 'echo run >>count; echo other'
	lingering L
	run --separate-stderr timeout 30 "$SFRUN" --forget L
	echo "status=$status stdout=[$output] stderr=[$stderr]"
	[ "$status" -eq 0 ]
	no_run L
	lingering M
	gets second 3 -k L -c 'echo run >>count; echo second'
	# The second run had no --linger: nothing is left to forget.
	run timeout 30 "$SFRUN" --forget L
	[ "$status" -eq 1 ]
	# M still replays.
	gets other 3 -k M -c 'echo run >>count; echo WRONG'
}

@test "--status shows a lingering result with the time left" {
	run timeout 30 "$SFRUN" --linger 600 -k L -c 'echo done'
	[ "$status" -eq 0 ]
	run timeout 30 "$SFRUN" -d -k R -c "echo \$\$ >R.kill; $(gate go)"
	[ "$status" -eq 0 ]
	# JSON: lingering with the time left; the run in flight is not.
	[ "$(field L lingering)" = True ]
	local left
	left=$(field L linger_left_ms)
	echo "linger_left_ms=$left"
	[ "$left" -gt 500000 ]
	[ "$left" -le 600000 ]
	[ "$(field R lingering)" = False ]
	[ "$(field R linger_left_ms)" = 0 ]
	# The time left counts down.
	wait_for left_below L $((left - 300))
	# Human form: "L (ended, lingers 9m59s)" in the KEY column.
	run timeout 30 "$SFRUN" --status
	echo "$output"
	[ "$status" -eq 0 ]
	local row secs
	row=$(grep '^L ' <<<"$output")
	[[ "$row" =~ ^L\ \(ended,\ lingers\ ([0-9]+)m([0-9][0-9])s\) ]]
	secs=$((BASH_REMATCH[1] * 60 + 10#${BASH_REMATCH[2]}))
	[ "$secs" -gt 500 ]
	[ "$secs" -le 600 ]
	grep '^R ' <<<"$output"
	[ -z "$(grep '^R .*lingers' <<<"$output")" ]
}

@test "--status --json: a 50-day linger shows its time left in full (no 32-bit wrap)" {
	run timeout 30 "$SFRUN" --linger 50d -k L -c 'echo done'
	[ "$status" -eq 0 ]
	[ "$output" = "done" ]
	lingering L
	local left
	left=$(field L linger_left_ms)
	echo "linger_left_ms=$left"
	# 50 days are 4320000000 ms; a 32-bit field wraps at 4294967296.
	[ "$left" -gt 4294967296 ]
	[ "$left" -le 4320000000 ]
	# Human form: 50 days are 1200h, 2^32 ms about 1193h.
	run timeout 30 "$SFRUN" --status
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$(grep '^L ' <<<"$output")" =~ ^L\ \(ended,\ lingers\ ([0-9]+)h([0-9][0-9])m\) ]]
	[ "${BASH_REMATCH[1]}" -ge 1194 ]
	[ "${BASH_REMATCH[1]}" -le 1200 ]
}

@test "-n replays a lingering result, but exits 75 while that run is in flight" {
	spawn lead "$SFRUN" --linger 600 -k N \
	    -c "echo run >>count; echo out1; echo err1 >&2; $(gate go); echo out2; exit 3"
	local lead=$LASTPID
	wait_for grep -q out1 lead.out
	# In flight: busy, nothing on stdout, nothing run, not joined.
	run --separate-stderr timeout 30 "$SFRUN" -n -k N -c 'echo run >>count; echo WRONG'
	echo "status=$status stdout=[$output] stderr=[$stderr]"
	[ "$status" -eq 75 ]
	[ -z "$output" ]
	[ "$(count_lines count)" -eq 1 ]
	has_waiters N 1
	touch go
	reaped "$lead" 3
	[ "$(cat lead.out)" = "$(printf 'out1\nout2')" ]
	[ "$(cat lead.err)" = err1 ]
	lingering N
	# Ended and lingering: -n replays the result like any caller.
	run --separate-stderr timeout 30 "$SFRUN" -n -k N -c 'echo run >>count; echo WRONG; exit 9'
	echo "status=$status stdout=[$output] stderr=[$stderr]"
	[ "$status" -eq 3 ]
	[ "$output" = "$(printf 'out1\nout2')" ]
	[ "$stderr" = err1 ]
	[ "$(count_lines count)" -eq 1 ]
	[ "$(sjson 'd["counters"]["runs_started"]')" = 1 ]
	lingering N
}

@test "-w forces a fresh run over a lingering result older than the window" {
	gets first 1 --linger 600 -k L -c 'echo run >>count; echo first'
	# Younger than the window: replayed.
	gets first 1 -w 60 -k L -c 'echo run >>count; echo WRONG'
	wait_for older_than L 1500
	run --separate-stderr timeout 30 "$SFRUN" -v -w 1 -k L -c 'echo run >>count; echo second'
	echo "status=$status stdout=[$output] stderr=[$stderr]"
	[ "$status" -eq 0 ]
	[ "$output" = second ]
	[[ "$stderr" == "sfrun: led run "* ]]
	[ "$(count_lines count)" -eq 2 ]
	# The fresh run took the key over: the old result is not replayed.
	gets third 3 -k L -c 'echo run >>count; echo third'
}

@test "--stop-server does not wait for lingering results" {
	run timeout 30 "$SFRUN" --linger 600 -k L -c 'echo done'
	[ "$status" -eq 0 ]
	local pid
	pid=$(server_pid)
	[ -n "$pid" ]
	lingering L
	run timeout 30 "$SFRUN" --stop-server
	[ "$status" -eq 0 ]
	wait_for gone "$pid"
	[ ! -e "$SFRUN_SOCKET" ]
}

@test "sfrund exits 0 after its idle timeout and after --stop-server" {
	# Exit status 0 also means no LeakSanitizer report in a sanitizer build.
	local d
	idles_out idle.log 0.5 450

	# With a lingering result, a detached run in flight and a waiter on it
	# (idle timeout off: a server idling out before the first request
	# would make this racy).
	export SFRUN_NO_AUTOSTART=1
	foreground_server stop.log -i 0
	d=$LASTPID
	run timeout 30 "$SFRUN" --linger 600 -k L -c 'echo kept'
	[ "$status" -eq 0 ]
	[ "$output" = kept ]
	lingering L
	run timeout 30 "$SFRUN" -d -k R -c "echo \$\$ >R.kill; echo started; $(gate go); echo ended"
	[ "$status" -eq 0 ]
	spawn_waiter w R 1 "$SFRUN" -k R -c 'echo WRONG'
	local w=$LASTPID
	run timeout 30 "$SFRUN" --stop-server
	[ "$status" -eq 0 ]
	# The lingering result goes at once; the run in flight finishes.
	wait_for no_run L
	kill -0 "$d"
	touch go
	reaped "$w" 0
	[ "$(cat w.out)" = "$(printf 'started\nended')" ]
	reap_server "$d" stop.log
}

# --- socket activation ------------------------------------------------------

# activate LISTEN_PID_EXPR PATH: start sfrund -f -S $SFRUN_SOCKET in the
# background the way systemd does: a listening socket bound at PATH as
# descriptor 3, LISTEN_FDS=1 and LISTEN_PID set to the python expression
# (os.getpid() for the real thing). Its pid in $LASTPID, stderr in
# sfrund.err, the inode of the socket it bound in bound.ino.
activate() {
	spawn sfrund python3 -c '
import os, socket, sys
pidexpr, path, sfrund, sock = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(64)
open("bound.ino", "w").write("%d\n" % os.stat(path).st_ino)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(eval(pidexpr)))
os.execve(sfrund, [sfrund, "-f", "-S", sock], env)' "$1" "$2" "$SFRUND" "$SFRUN_SOCKET"
}

@test "socket activation: sfrund serves on the socket it is passed and leaves it in place" {
	activate 'os.getpid()' "$SFRUN_SOCKET"
	local pid=$LASTPID
	wait_for pidfile_is "$pid"
	local inode
	inode=$(cat bound.ino)
	run --separate-stderr timeout 30 env SFRUN_NO_AUTOSTART=1 "$SFRUN" -k x -- echo hi
	echo "status=$status stdout=[$output] stderr=[$stderr]"
	cat sfrund.err
	[ "$status" -eq 0 ]
	[ "$output" = hi ]
	[ "$(sjson 'd["server"]["pid"]')" = "$pid" ]
	# It did not bind a socket of its own over the one it was given.
	[ "$(stat -c %i "$SFRUN_SOCKET")" = "$inode" ]
	run timeout 30 env SFRUN_NO_AUTOSTART=1 "$SFRUN" --stop-server
	[ "$status" -eq 0 ]
	reap "$pid"
	cat sfrund.err
	[ "$RC" = 0 ]
	# systemd owns the socket: still there, same file; the pidfile is gone.
	[ -S "$SFRUN_SOCKET" ]
	[ "$(stat -c %i "$SFRUN_SOCKET")" = "$inode" ]
	[ ! -e "$SFRUN_SOCKET.pid" ]
}

@test "socket activation: LISTEN_FDS meant for another process is ignored" {
	activate 'os.getppid()' "$SOCKDIR/other.sock"
	local pid=$LASTPID
	wait_for pidfile_is "$pid"
	wait_for test -S "$SFRUN_SOCKET"
	run timeout 30 env SFRUN_NO_AUTOSTART=1 "$SFRUN" -k x -- echo hi
	[ "$status" -eq 0 ]
	[ "$output" = hi ]
	[ "$(sjson 'd["server"]["pid"]')" = "$pid" ]
	run timeout 30 env SFRUN_NO_AUTOSTART=1 "$SFRUN" --stop-server
	[ "$status" -eq 0 ]
	reaped "$pid" 0
	# Its own socket: removed at exit.
	[ ! -e "$SFRUN_SOCKET" ]
}

# --- bash completion --------------------------------------------------------

# comp MODE WORD...: complete the last WORD of the command line WORD...
# (WORD... starts with "sfrun") in a fresh bash that sourced the completion
# file, with the bash-completion package if MODE is "full"; prints COMPREPLY
# one item a line.
comp() {
	local mode=$1
	shift
	PATH="$BUILD:$PATH" timeout 30 bash --norc --noprofile -c '
mode=$1 file=$2
shift 2
if [ "$mode" = full ]; then
	source /usr/share/bash-completion/bash_completion || exit 3
fi
source "$file" || exit 4
declare -F _init_completion >/dev/null && [ "$mode" != full ] && exit 5
spec=$(complete -p sfrun) || exit 6
fn=$(sed -n "s/.* -F \([^ ]*\) .*/\1/p" <<<"$spec")
[ -n "$fn" ] || exit 7
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$fn" sfrun "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf "%s\n" "${COMPREPLY[@]}"' _ "$mode" "$TOP/contrib/completions/sfrun.bash" "$@"
}

# comp_has MODE ITEM WORD...: the completion of WORD... offers ITEM.
comp_has() {
	local mode=$1 item=$2
	shift 2
	comp "$mode" "$@" | grep -qxF -- "$item"
}

# check_completion MODE: the completions every mode must give.
check_completion() {
	local mode=$1
	# Options, filtered by what is typed.
	run comp "$mode" sfrun --ti
	echo "--ti: [$output]"
	[ "$status" -eq 0 ]
	[ "$output" = --timeout ]
	run comp "$mode" sfrun --st
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "--status --stop-server " ]
	comp_has "$mode" -k sfrun -
	comp_has "$mode" --linger sfrun -n -
	# Key names of the runs the server holds, escaped for the shell.
	run comp "$mode" sfrun --forget ''
	echo "--forget: [$output]"
	[ "$(sort <<<"$output" | tr '\n' '|')" = 'alpha|build\ cache|' ]
	run comp "$mode" sfrun --forget al
	[ "$output" = alpha ]
	comp_has "$mode" alpha sfrun -q -k ''
	comp_has "$mode" alpha sfrun --forget = ''
	# -S given on the line is the server asked.
	# (the default socket, in an empty private directory, has no server)
	local sock=$SFRUN_SOCKET
	mkdir -p "$BATS_TEST_TMPDIR/st"
	chmod 700 "$BATS_TEST_TMPDIR/st"
	output=$(unset SFRUN_SOCKET; SFRUN_TMPDIR="$BATS_TEST_TMPDIR/st" \
	    comp "$mode" sfrun -S "$sock" --forget al)
	[ "$output" = alpha ]
	output=$(unset SFRUN_SOCKET; SFRUN_TMPDIR="$BATS_TEST_TMPDIR/st" \
	    comp "$mode" sfrun --forget al)
	[ -z "$output" ]
	# Files after -S.
	comp_has "$mode" sockfile.x sfrun -S sockf
	# Commands after "--" and as the first word that is not an option.
	comp_has "$mode" printf sfrun -- print
	comp_has "$mode" printf sfrun -k x print
	comp_has "$mode" printf sfrun -v -t 5 print
	# Nothing of sfrun's own once the command has started.
	run comp "$mode" sfrun -k x ls --ti
	[ "$status" -eq 0 ]
	[ -z "$(grep -xF -- --timeout <<<"$output")" ]
	run comp "$mode" sfrun -- --ti
	[ -z "$(grep -xF -- --timeout <<<"$output")" ]
	# A duration: nothing to offer.
	run comp "$mode" sfrun -t ''
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

# keys_for_completion: two kept runs, "alpha" and "build cache", and a file.
keys_for_completion() {
	run timeout 30 "$SFRUN" -d -k alpha -c "echo \$\$ >a.kill; $(gate go)"
	[ "$status" -eq 0 ]
	run timeout 30 "$SFRUN" --keep --linger 600 -k 'build cache' -- true
	[ "$status" -eq 0 ]
	touch sockfile.x
}

@test "bash completion without the bash-completion package" {
	keys_for_completion
	check_completion plain
}

@test "bash completion with the bash-completion package" {
	[ -r /usr/share/bash-completion/bash_completion ] ||
	    skip "bash-completion is not installed"
	keys_for_completion
	check_completion full
	# There a command's own completion takes over after the command.
	run comp full sfrun -k x ls --colo
	echo "$output"
	grep -q -- '^--color' <<<"$output"
}

@test "bash completion offers every option sfrun --help lists" {
	local want got
	want=$("$SFRUN" --help | grep -oE '(^|[ ,])--?[a-zA-Z][a-z-]*' |
	    tr -d ' ,' | sort -u)
	[ -n "$want" ]
	echo "from --help: $want"
	got=$(comp plain sfrun - | sort -u)
	echo "completed: $got"
	[ -z "$(comm -23 <(echo "$want") <(echo "$got"))" ]
	# And the control options --help names in its synopsis.
	for o in --status --json --forget --stop-server --help --version; do
		grep -qxF -- "$o" <<<"$got"
	done
}

@test "the zsh completion parses" {
	command -v zsh >/dev/null || skip "zsh is not installed"
	run zsh -n "$TOP/contrib/completions/_sfrun"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	head -n 1 "$TOP/contrib/completions/_sfrun" | grep -qx '#compdef sfrun'
}

# --- make install -----------------------------------------------------------

# make_in VAR=VALUE...: run make in the source tree with only these
# installation variables (none from the environment), on the build the
# tests use (make check SANITIZE=1 tests build/sanitize).
make_in() {
	local san=
	[ "$BUILD" = "$TOP/build/sanitize" ] && san=SANITIZE=1
	env -u PREFIX -u BINDIR -u MANDIR -u DESTDIR -u UNITDIR \
	    -u BASHCOMPDIR -u ZSHCOMPDIR -u MAKEFLAGS -u MFLAGS -u SANITIZE \
	    make -s -C "$TOP" $san "$@"
}

@test "make install DESTDIR PREFIX=/usr gives exactly the packaged files; uninstall removes them" {
	local stage="$BATS_TEST_TMPDIR/stage"
	run make_in install DESTDIR="$stage" PREFIX=/usr
	echo "$output"
	[ "$status" -eq 0 ]
	run bash -c "cd '$stage' && find . ! -type d -printf '%m %p\n' | sort -k2"
	echo "$output"
	[ "$output" = "755 ./usr/bin/sfrun
755 ./usr/bin/sfrund
644 ./usr/lib/systemd/user/sfrund.service
644 ./usr/lib/systemd/user/sfrund.socket
644 ./usr/share/bash-completion/completions/sfrun
644 ./usr/share/man/man1/sfrun.1
644 ./usr/share/man/man1/sfrund.1
644 ./usr/share/zsh/site-functions/_sfrun" ]
	local u="$stage/usr/lib/systemd/user"
	grep -qx 'ExecStart=/usr/bin/sfrund -f' "$u/sfrund.service"
	grep -qx 'ListenStream=/tmp/sfrun-%U/default.sock' "$u/sfrund.socket"
	grep -qx 'SocketMode=0600' "$u/sfrund.socket"
	grep -qx 'DirectoryMode=0700' "$u/sfrund.socket"
	[ -z "$(grep '@[A-Z]*@' "$u/sfrund.service" "$u/sfrund.socket")" ]
	cmp "$TOP/contrib/completions/sfrun.bash" "$stage/usr/share/bash-completion/completions/sfrun"
	cmp "$TOP/contrib/completions/_sfrun" "$stage/usr/share/zsh/site-functions/_sfrun"
	cmp "$TOP/man/sfrun.1" "$stage/usr/share/man/man1/sfrun.1"
	# The installed sfrun starts the sfrund beside it.
	run timeout 30 env PATH=/usr/bin:/bin "$stage/usr/bin/sfrun" -k x -- echo hi
	[ "$status" -eq 0 ]
	[ "$output" = hi ]
	[ "$(readlink "/proc/$(server_pid)/exe")" = "$stage/usr/bin/sfrund" ]
	stop_server

	run make_in uninstall DESTDIR="$stage" PREFIX=/usr
	echo "$output"
	[ "$status" -eq 0 ]
	run find "$stage" ! -type d
	echo "left: [$output]"
	[ -z "$output" ]
}

@test "make install honours BINDIR in the service unit" {
	local stage="$BATS_TEST_TMPDIR/stage"
	run make_in install DESTDIR="$stage" PREFIX=/usr BINDIR=/opt/sf/bin
	[ "$status" -eq 0 ]
	[ -x "$stage/opt/sf/bin/sfrund" ]
	grep -qx 'ExecStart=/opt/sf/bin/sfrund -f' "$stage/usr/lib/systemd/user/sfrund.service"
	run make_in uninstall DESTDIR="$stage" PREFIX=/usr BINDIR=/opt/sf/bin
	[ "$status" -eq 0 ]
	run find "$stage" ! -type d
	[ -z "$output" ]
}

@test "the installed user units pass systemd-analyze verify" {
	command -v systemd-analyze >/dev/null || skip "no systemd-analyze"
	local prefix="$BATS_TEST_TMPDIR/prefix" rt="$BATS_TEST_TMPDIR/rt"
	mkdir -m 700 "$rt"
	run make_in install PREFIX="$prefix"
	[ "$status" -eq 0 ]
	run env XDG_RUNTIME_DIR="$rt" systemd-analyze verify --man=no --user \
	    "$prefix/lib/systemd/user/sfrund.socket" \
	    "$prefix/lib/systemd/user/sfrund.service"
	echo "status=$status [$output]"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

# --- the --status table -----------------------------------------------------

@test "--status: an aligned table, its cells matching --status --json" {
	local big
	# Runs in flight, kept and gated; one with 3000 bytes of output; one
	# whose key needs escaping; one taken over by -w (detached); one ended
	# and lingering.
	run timeout 30 "$SFRUN" -d -k a -c "echo \$\$ >a.kill; $(gate go)"
	[ "$status" -eq 0 ]
	run timeout 30 "$SFRUN" -d -k 'a much longer key' \
	    -c "echo \$\$ >b.kill; head -c 3000 /dev/zero | tr -c x x; $(gate go)"
	[ "$status" -eq 0 ]
	run timeout 30 "$SFRUN" -d -k "$(printf 'tab\there')" -c "echo \$\$ >t.kill; $(gate go)"
	[ "$status" -eq 0 ]
	run timeout 30 "$SFRUN" -d -k w -c "echo \$\$ >w1.kill; $(gate go)"
	[ "$status" -eq 0 ]
	run timeout 30 "$SFRUN" --linger 600 -k lingers -- true
	[ "$status" -eq 0 ]
	wait_for output_bytes_are 'a much longer key' 3000
	wait_for older_than w 1500
	run timeout 30 "$SFRUN" -d -w 1 -k w -c "echo \$\$ >w2.kill; $(gate go)"
	[ "$status" -eq 0 ]
	wait_for runs_are w 2

	timeout 30 "$SFRUN" --status --json >status.json
	timeout 30 "$SFRUN" --status >status.txt
	cat status.txt
	run python3 - status.txt status.json <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().split("\n")
d = json.load(open(sys.argv[2]))
assert lines[-1] == "", "ends with a newline"
lines = lines[:-1]
head, rows, last = lines[0], lines[1:-1], lines[-1]
cols = ["KEY", "RUN", "PID", "AGE", "WAITERS", "OUTPUT", "COMMAND"]
assert head.split() == cols, head
start = [head.index(c) for c in cols]
assert start[0] == 0
assert len(rows) == len(d["runs"]) == 6, (len(rows), len(d["runs"]))
def vis(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
byid = {r["run_id"]: r for r in d["runs"]}
seen = set()
for row in rows:
    # Every column starts where its header starts, after two spaces.
    for c, s in zip(cols[1:], start[1:]):
        assert row[s - 2:s] == "  " and row[s] != " ", (c, row)
    cell = [row[a:b].strip() for a, b in zip(start, start[1:] + [None])]
    r = byid[int(cell[1])]
    seen.add(r["run_id"])
    assert cell[2] == (str(r["pid"]) if r["pid"] else "-"), row
    assert cell[4] == str(r["waiters"]), row
    assert cell[6] == vis(r["command"]), row
    key = vis(r["key"])
    if r["lingering"]:
        assert cell[0].startswith(key + " (ended, lingers "), row
    elif not r["joinable"]:
        assert cell[0] == key + " (detached)", row
    else:
        assert cell[0] == key, row
    want = {0: "0B", 3000: "2.9K"}[r["output_bytes"]]
    assert cell[5] == want, (row, want)
assert len(seen) == 6
c = d["counters"]
assert last == "runs started %d, invocations joined %d, invocations total %d" % (
    c["runs_started"], c["invocations_joined"], c["invocations_total"]), last
print("ok")
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
	# The escaped key is one line, and the table has one row per run.
	grep -q '^tab\\there ' status.txt
	[ "$(wc -l <status.txt)" -eq 8 ]
}

@test "--status with no server prints the header and zero counters, starts nothing" {
	run --separate-stderr timeout 30 "$SFRUN" --status
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(head -n 1 <<<"$output" | tr -s ' ')" = "KEY RUN PID AGE WAITERS OUTPUT COMMAND" ]
	[ "$(wc -l <<<"$output")" -eq 2 ]
	[ -z "$(server_pid)" ]
	[ ! -e "$SFRUN_SOCKET" ]
}
