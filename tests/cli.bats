#!/usr/bin/env bats
# The command line: usage errors, --help/--version, the socket directory's
# checks, and what happens with no server.

bats_require_minimum_version 1.5.0
load helper

# sfrun_125 ARGS...: sfrun ARGS must exit 125 with exactly one line on
# stderr, nothing on stdout (one_line_125), and must not have run anything
# (the commands in these tests would create ./marker).
sfrun_125() {
	one_line_125 "$SFRUN" "$@"
	[ ! -e marker ]
}

# usage_error ARGS...: like sfrun_125, the line is "sfrun: ...", and no
# server was started.
usage_error() {
	sfrun_125 "$@"
	[[ "${stderr_lines[0]}" == sfrun:* ]]
	[ ! -e "$SFRUN_SOCKET" ]
}

# A string of N copies of "a".
repeat_a() {
	printf 'a%.0s' $(seq "$1")
}

@test "an unknown option is a usage error" {
	usage_error --no-such-option -- touch marker
}

@test "an unknown short option is a usage error" {
	usage_error -Z -k x -- touch marker
}

@test "a bad duration is a usage error" {
	local d
	for d in abc 5x -1 1.2.3 '' 1s2 ms 10years; do
		usage_error -t "$d" -k x -- touch marker
	done
	usage_error --run-timeout 2q -k x -- touch marker
	usage_error -w soon -k x -- touch marker
	usage_error --kill-after x -k x -- touch marker
	usage_error --linger 1z -k x -- touch marker
}

@test "durations with every suffix and fractions are accepted" {
	local d
	for d in 0 1 1.5s 200ms 2m 1h 1d 0.25; do
		rm -f marker
		run timeout 30 "$SFRUN" -t "$d" -k "dur$d" -- touch marker
		echo "duration $d: status=$status output=$output"
		[ "$status" -eq 0 ]
		[ -e marker ]
	done
}

@test "an empty key is a usage error" {
	usage_error -k '' -- touch marker
}

@test "a 1025-byte key is a usage error" {
	usage_error -k "$(repeat_a 1025)" -- touch marker
}

@test "a 1024-byte key is accepted" {
	run timeout 30 "$SFRUN" -k "$(repeat_a 1024)" -- touch marker
	echo "$output"
	[ "$status" -eq 0 ]
	[ -e marker ]
}

@test "a missing command is a usage error" {
	usage_error -k x
	usage_error -k x --
	usage_error
}

@test "-c takes no further arguments" {
	usage_error -k x -c 'touch marker' extra
	usage_error -c 'touch marker' -- extra
}

@test "-c without its argument is a usage error" {
	usage_error -k x -c
}

@test "-k without its argument is a usage error" {
	usage_error -k
}

@test "--forget without a key is a usage error" {
	usage_error --forget
	usage_error --forget ''
}

@test "--help prints usage on stdout and exits 0" {
	run --separate-stderr timeout 30 "$SFRUN" --help
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *sfrun* ]]
	[[ "$output" == *--key* ]]
	[[ "$output" == *--timeout* ]]
	[ ! -e "$SFRUN_SOCKET" ]
	run --separate-stderr timeout 30 "$SFRUN" -h
	[ "$status" -eq 0 ]
	[[ "$output" == *--key* ]]
}

@test "--version prints the version and exits 0" {
	run --separate-stderr timeout 30 "$SFRUN" --version
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" =~ [0-9]+\.[0-9]+\.[0-9]+ ]]
	run --separate-stderr timeout 30 "$SFRUN" -V
	[ "$status" -eq 0 ]
	[[ "$output" =~ [0-9]+\.[0-9]+\.[0-9]+ ]]
}

@test "options stop at the first non-option: the command's own options pass through" {
	run timeout 30 "$SFRUN" -k pass printf '%s|' -k -t --bogus
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "-k|-t|--bogus|" ]
}

@test "a socket directory open to group and other is refused" {
	mkdir -m 755 open
	export SFRUN_SOCKET="$WORK/open/s.sock"
	sfrun_125 -k x -- touch marker
	[ ! -e open/s.sock ]
	chmod 710 open
	sfrun_125 -k x -- touch marker
	chmod 701 open
	sfrun_125 -k x -- touch marker
}

@test "sfrund refuses a socket directory open to group and other" {
	mkdir -m 755 open
	run --separate-stderr timeout 30 "$SFRUND" -f -S "$WORK/open/s.sock" -i 1
	echo "status=$status stderr=[$stderr]"
	[ "$status" -eq 125 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[ ! -e open/s.sock ]
}

@test "a symlinked socket directory is refused" {
	mkdir -m 700 real
	ln -s real link
	export SFRUN_SOCKET="$WORK/link/s.sock"
	sfrun_125 -k x -- touch marker
	[ ! -e real/s.sock ]
}

@test "a socket directory owned by another user is refused" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to chown"
	mkdir -m 700 theirs
	chown nobody theirs
	export SFRUN_SOCKET="$WORK/theirs/s.sock"
	sfrun_125 -k x -- touch marker
	[ ! -e theirs/s.sock ]
}

@test "a missing -S directory is created 0700" {
	export SFRUN_SOCKET="$WORK/new/s.sock"
	run timeout 30 "$SFRUN" -k x -- touch marker
	echo "$output"
	[ "$status" -eq 0 ]
	[ -e marker ]
	[ "$(stat -c %a new)" = 700 ]
	[ -S new/s.sock ]
}

@test "-S overrides SFRUN_SOCKET" {
	mkdir -m 700 other
	run timeout 30 "$SFRUN" -S "$WORK/other/o.sock" -k x -- touch marker
	echo "$output"
	[ "$status" -eq 0 ]
	[ -S other/o.sock ]
	[ ! -e "$SFRUN_SOCKET" ]
	export SFRUN_SOCKET="$WORK/other/o.sock"	# so teardown stops it
}

@test "the default socket lives in SFRUN_TMPDIR/sfrun-UID, created 0700" {
	mkdir -m 700 st
	unset SFRUN_SOCKET
	export SFRUN_TMPDIR="$WORK/st"
	run timeout 30 "$SFRUN" -k x -- touch marker
	SFRUN_SOCKET="$WORK/st/sfrun-$(id -u)/default.sock"	# for teardown
	export SFRUN_SOCKET
	echo "$output"
	[ "$status" -eq 0 ]
	[ -e marker ]
	[ -d "st/sfrun-$(id -u)" ]
	[ ! -L "st/sfrun-$(id -u)" ]
	[ "$(stat -c %a "st/sfrun-$(id -u)")" = 700 ]
	[ -S "$SFRUN_SOCKET" ]
}

@test "an existing default directory open to others is refused" {
	mkdir -m 700 st
	mkdir -m 777 "st/sfrun-$(id -u)"
	unset SFRUN_SOCKET
	export SFRUN_TMPDIR="$WORK/st"
	sfrun_125 -k x -- touch marker
	[ ! -e "st/sfrun-$(id -u)/default.sock" ]
	SFRUN_SOCKET="$WORK/st/sfrun-$(id -u)/default.sock"
	export SFRUN_SOCKET
}

@test "SFRUN_NO_AUTOSTART=1 with no server exits 125" {
	SFRUN_NO_AUTOSTART=1 sfrun_125 -k x -- touch marker
	[[ "$stderr" == *"no server"* ]]
	[ ! -e "$SFRUN_SOCKET" ]
	[ -z "$(server_pid)" ]
}

@test "SFRUN_NO_AUTOSTART=1 with a stale socket exits 125 at once" {
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SFRUN_SOCKET"
	[ -S "$SFRUN_SOCKET" ]
	SFRUN_NO_AUTOSTART=1 sfrun_125 -k x -- touch marker
}

@test "SFRUN_NO_AUTOSTART=1 uses a running server" {
	run timeout 30 "$SFRUN" -k a -- true
	[ "$status" -eq 0 ]
	[ -n "$(server_pid)" ]
	SFRUN_NO_AUTOSTART=1 run timeout 30 "$SFRUN" -k x -- touch marker
	[ "$status" -eq 0 ]
	[ -e marker ]
}

@test "--status with no server prints no runs and starts no server" {
	run --separate-stderr timeout 30 "$SFRUN" --status --json
	echo "status=$status output=$output stderr=$stderr"
	[ "$status" -eq 0 ]
	python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["runs"] == [], d' "$output"
	run timeout 30 "$SFRUN" --status
	[ "$status" -eq 0 ]
	[ ! -e "$SFRUN_SOCKET" ]
	[ -z "$(server_pid)" ]
}

@test "a server speaking another protocol version is a clear error naming both" {
	# A fake server: answer MSG_HELLO (type 1) with magic "sfru" and version 99.
	python3 -c '
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(8)
s.settimeout(30)
c, _ = s.accept()
c.sendall(struct.pack("=IIII", 1, 8, 0x75726673, 99))
c.settimeout(30)
try:
    while c.recv(65536):
        pass
except OSError:
    pass
' "$SFRUN_SOCKET" 3>&- &
	BGPIDS+=("$!")
	wait_for test -S "$SFRUN_SOCKET"
	SFRUN_NO_AUTOSTART=1 sfrun_125 -k x -- touch marker
	ours=$(proto_version)
	[ -n "$ours" ]
	[[ "$stderr" == *"speaks version $ours,"* ]]
	[[ "$stderr" == *"speaks 99"* ]]
}

@test "a bad record in the spool is a clear error, after the good ones" {
	# A fake server hands over a spool whose second record claims more
	# bytes than the file is announced to hold.
	python3 -c '
import socket, struct, sys, tempfile
path, version = sys.argv[1], int(sys.argv[2])
def frame(t, p):
    return struct.pack("=II", t, len(p)) + p
s = socket.socket(socket.AF_UNIX)
s.bind(path); s.listen(8)
s.settimeout(30)
c, _ = s.accept()
c.settimeout(30)
good = b"good\n"
spool = struct.pack("=I", len(good)) + good
spool += struct.pack("=I", (1 << 31) | 1000) + b"x"
f = tempfile.TemporaryFile()
f.write(spool)
f.flush()
c.sendall(frame(1, struct.pack("=II", 0x75726673, version)) +
    frame(6, struct.pack("=QQIII", 1, 0, 1, 1, 0)))
c.sendmsg([frame(7, struct.pack("=Q", len(spool)))],
    [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", f.fileno()))])
try:
    while c.recv(65536):
        pass
except OSError:
    pass
' "$SFRUN_SOCKET" "$(proto_version)" 3>&- &
	BGPIDS+=("$!")
	wait_for test -S "$SFRUN_SOCKET"
	SFRUN_NO_AUTOSTART=1 run --separate-stderr timeout 30 "$SFRUN" -k x -- true
	echo "status=$status stdout=[$output] stderr=[$stderr]"
	[ "$status" -eq 125 ]
	[ "$output" = good ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == *"broke the protocol: no valid record at byte 9 "* ]]
}

@test "the server survives garbage on its socket" {
	run timeout 30 "$SFRUN" -k a -- true
	[ "$status" -eq 0 ]
	pid=$(server_pid)
	[ -n "$pid" ]
	timeout 30 python3 -c '
import os, socket, struct, sys
path = sys.argv[1]
def send(b):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(5)
    try:
        s.sendall(b)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.close()
send(os.urandom(4096))
send(b"\xff" * 8)
send(struct.pack("=II", 1, 0xffffffff))                  # huge length
send(struct.pack("=II", 1, 8) + struct.pack("=II", 0x75726673, 2) +
     struct.pack("=II", 2, 3) + b"abc")                   # short MSG_RUN
send(struct.pack("=II", 1, 8) + struct.pack("=II", 0x75726673, 2) +
     struct.pack("=II", 77, 0))                           # unknown type
send(struct.pack("=II", 1, 8) + struct.pack("=II", 0x75726673, 2) +
     struct.pack("=II", 4, 2000) + b"k" * 2000)           # oversized forget key
send(b"")
' "$SFRUN_SOCKET"
	[ "$(server_pid)" = "$pid" ]
	run timeout 30 "$SFRUN" -k b -- touch marker
	[ "$status" -eq 0 ]
	[ -e marker ]
	[ "$(server_pid)" = "$pid" ]
}
