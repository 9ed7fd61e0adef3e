#!/usr/bin/env bats
# rediss://: the backend over TLS, against Debian's redis-server listening
# with TLS only (--port 0 --tls-port), with a CA and certificates made by
# openssl for the test (tls_certs in redis.bash). The server is verified
# (CA, host name); a client certificate is given when it asks for one.

bats_require_minimum_version 1.5.0
load helper
load redis

# tls_refused WHAT: the last hrun exited 125 with one line naming WHAT, printed nothing, ran nothing.
tls_refused() {
	refused
	grep -qi -- "$1" <<<"$stderr"
	[ ! -e count ]
}

@test "TLS: 3 hosts coalesce one run through a TLS-only redis-server (CA from SFRUN_REDIS_CACERT)" {
	redis_restart_tls
	start_hosts 1 2 3
	lead_follow "2 3" K -k K -c "$HCMD"
	finish_h1
	outs_are "$(printf 'start h1\nend h1')" 2 3
	[ "$(cat count)" = "h1 1" ]
	no_lease K
	# The same again by the address (in the certificate as an IP).
	BACKEND="rediss://127.0.0.1:$REDIS_PORT"
	touch go.h2
	hrun 2 -k K -c "$HCMD"
	[ "$status" -eq 22 ]
	[ "$(fence_of K)" = 2 ]
	# The server speaks nothing but TLS: plain redis:// to it fails.
	BACKEND="redis://127.0.0.1:$REDIS_PORT"
	hrun 1 -k P -c 'echo run >>count; echo WRONG'
	[ "$status" -eq 125 ]
	[ -z "$output" ]
	[ "$(count_lines count)" = 2 ]
}

@test "TLS: a server certificate from another CA is 125, one line, nothing runs" {
	redis_restart_tls
	start_hosts 1
	SFRUN_REDIS_CACERT="$REDIS_TLS_DIR/wrongca.crt" hrun 1 -k K -c 'echo run >>count; echo WRONG'
	tls_refused certificate
	# Without SFRUN_REDIS_CACERT: the system's store does not know the CA.
	unset SFRUN_REDIS_CACERT
	hrun 1 -k K -c 'echo run >>count; echo WRONG'
	tls_refused certificate
	# --fallback local does not run over a refused certificate either.
	hrun 1 --fallback local -k K -c 'echo run >>count; echo WRONG'
	tls_refused certificate
	# A CA file that is not one.
	echo nothing >"$BATS_TEST_TMPDIR/bad.crt"
	SFRUN_REDIS_CACERT="$BATS_TEST_TMPDIR/bad.crt" hrun 1 -k K -c 'echo run >>count; echo WRONG'
	tls_refused SFRUN_REDIS_CACERT
	[ -z "$(lease_of K)" ]
}

@test "TLS: a certificate for another host name is 125, one line, nothing runs" {
	redis_restart_tls other
	start_hosts 1
	hrun 1 -k K -c 'echo run >>count; echo WRONG'
	tls_refused 'certificate'
	grep -qi 'mismatch' <<<"$stderr"
	BACKEND="rediss://127.0.0.1:$REDIS_PORT"
	hrun 1 -k K -c 'echo run >>count; echo WRONG'
	tls_refused 'mismatch'
}

@test "TLS: a server that requires a client certificate: 125 without one, works with SFRUN_REDIS_CERT/KEY" {
	redis_restart_tls server yes
	start_hosts 1 2
	hrun 1 -k K -c 'echo run >>count; echo WRONG'
	tls_refused 'client certificate'
	export SFRUN_REDIS_CERT="$REDIS_TLS_DIR/client.crt"
	export SFRUN_REDIS_KEY="$REDIS_TLS_DIR/client.key"
	lead_follow 2 K -k K -c "$HCMD"
	finish_h1
	outs_are "$(printf 'start h1\nend h1')" 2
	# The certificate and key in one file: SFRUN_REDIS_KEY may be left out.
	cat "$SFRUN_REDIS_CERT" "$SFRUN_REDIS_KEY" >"$BATS_TEST_TMPDIR/both.pem"
	unset SFRUN_REDIS_KEY
	touch go.h2
	SFRUN_REDIS_CERT="$BATS_TEST_TMPDIR/both.pem" hrun 2 -k K -c "$HCMD"
	[ "$status" -eq 22 ]
	# A key that does not match the certificate is refused.
	SFRUN_REDIS_KEY="$REDIS_TLS_DIR/server.key" hrun 2 -k K2 -c 'echo run >>count2; echo WRONG'
	refused
	grep -q SFRUN_REDIS_KEY <<<"$stderr"
	[ ! -e count2 ]
}
