#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# tentacle-send against tentacle-recv: stock client options and behaviour.

load helpers

setup_file() {
	export CERTS="$BATS_FILE_TMPDIR/certs"
	mk_certs "$CERTS"
}

setup() {
	mk_tmp
	mk_spool "$T/spool"
	SP=$T/spool
	INBOX=$SP/xml-validate/new
	mkdir "$T/files"
	printf 'first' > "$T/files/one.1.data"
	printf 'second' > "$T/files/two.2.data"
	printf 'bad' > "$T/files/no-sequence.data"
}

teardown() {
	stop_recv
	rm -rf "$T"
}

@test "usage: -h 0, bad option 64, --version, no files 64" {
	run "$BIN/tentacle-send" -h
	assert_success
	assert_output --partial "usage: tentacle-send"
	run "$BIN/tentacle-send" --bogus x
	assert_equal "$status" 64
	run "$BIN/tentacle-send" --version
	assert_output --regexp '^tentacle-send [0-9]+\.[0-9]+\.[0-9]+$'
	run "$BIN/tentacle-send"
	assert_equal "$status" 64
}

@test "sends several files in order over one session" {
	start_recv -F "$T/empty.conf" --spool "$SP"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" "$T/files/one.1.data" "$T/files/two.2.data"
	assert_success
	assert_equal "$(body "$INBOX"/*.one.1.data)" "first"
	assert_equal "$(body "$INBOX"/*.two.2.data)" "second"
	# One session: both items came from the same peer port.
	p1=$(sed -n 's/^Peer: //p' "$INBOX"/*.one.1.data)
	p2=$(sed -n 's/^Peer: //p' "$INBOX"/*.two.2.data)
	assert_equal "$p1" "$p2"
}

@test "stops at the first refusal with exit 1; later files are not sent" {
	start_recv -F "$T/empty.conf" --spool "$SP"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" "$T/files/one.1.data" \
	    "$T/files/no-sequence.data" "$T/files/two.2.data"
	assert_equal "$status" 1
	assert_output --partial "invalid file name"
	assert_equal "$(count "$INBOX"/*.one.1.data)" 1
	assert_equal "$(count "$INBOX"/*.two.2.data)" 0
}

@test "a missing local file: exit 1 and nothing is sent" {
	start_recv -F "$T/empty.conf" --spool "$SP"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" "$T/files/one.1.data" "$T/files/nope.1.data"
	assert_equal "$status" 1
	assert_equal "$(count "$INBOX"/*)" 0
}

@test "-g fetches into the current directory atomically; names with / are refused" {
	start_recv -F "$T/empty.conf" --spool "$SP"
	printf 'conf-bytes' > "$SP/conf-dist/out/conf/abc.conf"
	printf '0123456789abcdef0123456789abcdef' > "$SP/conf-dist/out/md5/abc.md5"
	mkdir "$T/agent"
	cd "$T/agent"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -g abc.md5 abc.conf
	assert_success
	assert_equal "$(cat abc.conf)" "conf-bytes"
	assert_equal "$(cat abc.md5)" "0123456789abcdef0123456789abcdef"
	assert_equal "$(ls -A | wc -l)" 2
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -g ../evil.conf
	assert_equal "$status" 1
	assert_file_not_exists "$T/evil.conf"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -g missing.conf
	assert_equal "$status" 1
	assert_output --partial "file does not exist"
}

@test "-z sends with ZSEND and fetches with ZRECV" {
	start_recv -F "$T/empty.conf" --spool "$SP"
	head -c 100000 /dev/urandom > "$T/files/z.3.data"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -z "$T/files/z.3.data"
	assert_success
	body "$INBOX"/*.z.3.data > "$T/got"
	cmp "$T/files/z.3.data" "$T/got"
	cp "$T/files/z.3.data" "$SP/conf-dist/out/collections/col.zip"
	mkdir "$T/agent"
	cd "$T/agent"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -z -g col.zip
	assert_success
	cmp "$T/files/z.3.data" col.zip
}

@test "password: right one works, wrong or none exits 1 with nothing stored" {
	printf '[tentacle-recv]\npassword s3cret\nauth_fail_delay 0\n' > "$T/pw.conf"
	start_recv -F "$T/pw.conf" --spool "$SP"
	printf 's3cret\n' > "$T/pwfile"
	chmod 0600 "$T/pwfile"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" --password-file "$T/pwfile" "$T/files/one.1.data"
	assert_success
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -x wrong "$T/files/two.2.data"
	assert_equal "$status" 1
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" "$T/files/two.2.data"
	assert_equal "$status" 1
	assert_equal "$(count "$INBOX"/*.two.2.data)" 0
	assert_equal "$(count "$INBOX"/*.one.1.data)" 1
}

@test "TLS: -f verifies the server's CA and address; wrong CA or name fails" {
	start_recv -F "$T/empty.conf" --spool "$SP" -e "$CERTS/server.crt" -k "$CERTS/server.key"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -f "$CERTS/ca.crt" "$T/files/one.1.data"
	assert_success
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -f "$CERTS/other-ca.crt" "$T/files/two.2.data"
	assert_equal "$status" 1
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -c "$T/files/two.2.data"
	assert_success
	assert_output --partial "not authenticated"
	stop_recv
	start_recv -F "$T/empty.conf" --spool "$SP" -e "$CERTS/wrongname.crt" -k "$CERTS/wrongname.key"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -f "$CERTS/ca.crt" "$T/files/one.1.data"
	assert_equal "$status" 1
	assert_output --partial "mismatch"
}

@test "TLS with client certificates: the CA's client passes, others fail" {
	start_recv -F "$T/empty.conf" --spool "$SP" -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -e "$CERTS/client.crt" -k "$CERTS/client.key" \
	    -f "$CERTS/ca.crt" "$T/files/one.1.data"
	assert_success
	grep -q '^Client-Subject: CN=research-agent-01$' "$INBOX"/*.one.1.data
	for c in rogue other; do
		run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -e "$CERTS/$c.crt" -k "$CERTS/$c.key" \
		    "$T/files/two.2.data"
		assert_equal "$status" 1
	done
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -c "$T/files/two.2.data"
	assert_equal "$status" 1
	assert_equal "$(count "$INBOX"/*.two.2.data)" 0
}

@test "-x is wiped from the process arguments" {
	start_recv -F "$T/empty.conf" --spool "$SP" -x s3cret
	grep -qv s3cret "/proc/$RECV_PID/cmdline"
	run grep -c s3cret "/proc/$RECV_PID/cmdline"
	assert_output 0
}

@test "the real agent files arrive byte-identical" {
	start_recv -F "$T/empty.conf" --spool "$SP"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" "$DATA"/samples/*.data
	assert_success
	for f in "$DATA"/samples/*.data; do
		n=$(basename "$f")
		body "$INBOX"/*."$n" > "$T/got"
		cmp "$f" "$T/got"
	done
}

@test "--crl-file: a server whose certificate is revoked in the CRL is refused; without it, or before the revocation, it is not" {
	P=$T/pki
	sh "$TOOLS/mkcerts.sh" "$P" >/dev/null
	chmod 0755 "$P"
	start_recv -F "$T/empty.conf" --spool "$SP" -e "$P/server.crt" -k "$P/server.key"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -f "$P/ca.crt" --crl-file "$P/ca.crl" "$T/files/one.1.data"
	assert_success
	sh "$TOOLS/mkcerts.sh" revoke "$P" server
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -f "$P/ca.crt" --crl-file "$P/ca.crl" "$T/files/two.2.data"
	assert_equal "$status" 1
	assert_output --partial 'verify="certificate revoked"'
	assert_equal "$(count "$INBOX"/*.two.2.data)" 0
	# The same from the configuration file.
	printf '[tentacle-send]\nssl_ca %s\ncrl_file %s\n' "$P/ca.crt" "$P/ca.crl" > "$T/send.conf"
	run "$BIN/tentacle-send" --config "$T/send.conf" -a 127.0.0.1 -p "$PORT" "$T/files/two.2.data"
	assert_equal "$status" 1
	assert_output --partial 'verify="certificate revoked"'
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -f "$P/ca.crt" "$T/files/two.2.data"
	assert_success
	# A CRL needs the CA that signs it; and it must be one.
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -c --crl-file "$P/ca.crl" "$T/files/one.1.data"
	assert_equal "$status" 64
	run "$BIN/tentacle-send" -n -a 127.0.0.1 -p "$PORT" -f "$P/other-ca.crt" --crl-file "$P/ca.crl"
	assert_equal "$status" 78
	assert_output --partial "not signed by a CA of the CA file"
}

@test "--bind: the connection comes from the given local address" {
	start_recv -F "$T/empty.conf" --spool "$SP"
	run "$BIN/tentacle-send" --bind 127.0.0.2 -a 127.0.0.1 -p "$PORT" "$T/files/one.1.data"
	assert_success
	grep -q '^Peer: 127\.0\.0\.2 [0-9]*$' "$INBOX"/*.one.1.data
	run "$BIN/tentacle-send" --bind 192.0.2.1 -a 127.0.0.1 -p "$PORT" "$T/files/two.2.data"
	assert_equal "$status" 1
	assert_output --partial "from 192.0.2.1"
}
