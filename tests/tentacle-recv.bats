#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# tentacle-recv: wire compatibility, names, storage, limits, TLS, logs.
# Spec references (B1, C3, ...) are the acceptance lists of tentacle.md §6.

load helpers

setup_file() {
	export CERTS="$BATS_FILE_TMPDIR/certs"
	mk_certs "$CERTS"
	# Two more agents of the same CA, for binding and planting.
	sh "$TOOLS/mkcerts.sh" client "$CERTS" victim victim-agent
	sh "$TOOLS/mkcerts.sh" client "$CERTS" evil evil-agent
}

setup() {
	mk_tmp
	mk_keys
	mk_spool "$T/spool"
	SP=$T/spool
	INBOX=$SP/xml-validate/new
}

teardown() {
	# A second receiver and HAProxy (the balancer test), by PID.
	for p in ${HAPROXY_PID:-} ${RECV1_PID:-}; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	stop_recv
	# D2f's strace, which ends with the receiver stop_recv stopped.
	if [ -n "${STRACE_PID:-}" ]; then
		kill "$STRACE_PID" 2>/dev/null || true
		wait "$STRACE_PID" 2>/dev/null || true
	fi
	rm -rf "$T"
}

# Start in the octospool layout with the given extra options.
recv_octo() {
	start_recv -F "$T/empty.conf" --spool "$SP" "$@"
}

# agent_key NAME: md5hex(NAME), the agent key of NAME.
agent_key() {
	printf %s "$1" | md5sum | cut -c1-32
}

# tls_as NAME STEPS...: tt-wire over TLS with the certificate NAME.
tls_as() {
	local c=$1
	shift
	wire --tls --cert "$CERTS/$c.crt" --key "$CERTS/$c.key" "$@"
}

# events: every audit event written so far, one per line.
handed_on() {
	segments_handed_on "$SP"
}
events() {
	handed_on
	cat "$SP"/audit-sign/new/* 2>/dev/null
}

# Start in the stock layout (-s DIR) with the given extra options.
recv_stock() {
	mkdir -p "$T/in"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$T/in"
	start_recv -F "$T/empty.conf" -s "$T/in" "$@"
}

@test "usage: -h exits 0, bad option 64, --version, stray argument 64" {
	run "$BIN/tentacle-recv" -h
	assert_success
	assert_output --partial "usage: tentacle-recv"
	run "$BIN/tentacle-recv" --bogus
	assert_equal "$status" 64
	run "$BIN/tentacle-recv" --version
	assert_success
	assert_output --regexp '^tentacle-recv [0-9]+\.[0-9]+\.[0-9]+$'
	run "$BIN/tentacle-recv" -F "$T/empty.conf" extra
	assert_equal "$status" 64
}

@test "config check: -n accepts a good config, 78 for unknown keys, proxy mode, bad TLS" {
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" --spool "$SP" "${RECV_STAMP[@]}"
	assert_success
	assert_output --partial "configuration ok (octospool layout)"
	# The octospool layout stamps every envelope: no key, no start.
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" --spool "$SP" --stamp-key "$T/none.key"
	assert_equal "$status" 78
	assert_output --partial "stamp_key: $T/none.key"
	cp "$KEYS/tentacle-recv.key" "$T/loose.key"
	chmod 0644 "$T/loose.key"
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" --spool "$SP" --stamp-key "$T/loose.key"
	assert_equal "$status" 78
	assert_output --partial "readable by its owner only"
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" --spool "$SP" --stamp-key none
	assert_success
	# The stock layout writes no envelope and needs no key.
	mkdir -p "$T/in"
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" -s "$T/in"
	assert_success
	printf '[tentacle-recv]\nmax_sise 10\n' > "$T/bad.conf"
	run "$BIN/tentacle-recv" -n -F "$T/bad.conf" --spool "$SP" "${RECV_STAMP[@]}"
	assert_equal "$status" 78
	assert_output --partial "unknown key 'max_sise'"
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" --spool "$SP" "${RECV_STAMP[@]}" -b 10.0.0.1
	assert_equal "$status" 78
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" --spool "$SP" "${RECV_STAMP[@]}" -e /nonexistent.crt
	assert_equal "$status" 78
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" --spool "$SP" "${RECV_STAMP[@]}" -f "$CERTS/ca.crt"
	assert_equal "$status" 78
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" --spool "$SP" "${RECV_STAMP[@]}" -e "$CERTS/server.crt" -k "$CERTS/server.key" -z TLSv1_1
	assert_equal "$status" 78
}

@test "B1: SEND gets SEND OK twice as separate replies; the item carries envelope and exact body" {
	recv_octo
	run wire 'send:SEND <a.1.data> SIZE 5\n' 'expect:SEND OK\n' nothing-pending \
	    'send:hello' 'expect:SEND OK\n' 'send:QUIT\n' expectclose
	assert_success
	assert_equal "$(count "$INBOX"/*.a.1.data)" 1
	f=$(echo "$INBOX"/*.a.1.data)
	run body "$f"
	assert_output "hello"
	run head -2 "$f"
	assert_line -n 0 "Octospool-Envelope: 1"
	assert_line -n 1 "Original-Name: a.1.data"
	run grep -c "^Sha256: $(printf hello | sha256sum | cut -c1-64)\$" "$f"
	assert_output 1
	run stat -c %a "$f"
	assert_output 640
}

@test "every envelope is stamped: openssl verifies it with the public key; one changed fact does not" {
	recv_octo
	run wire 'send:SEND <st.1.data> SIZE 5\n' 'expect:SEND OK\n' 'send:hello' \
	    'expect:SEND OK\n' 'send:QUIT\n' expectclose
	assert_success
	f=$(echo "$INBOX"/*.st.1.data)
	# The last line of the envelope, then the blank line and the body.
	run sed -n '/^$/q;p' "$f"
	assert_line --regexp '^Stamp: tentacle-recv [0-9a-f]{16} [A-Za-z0-9+/]{86}==$'
	[ "$(sed -n '/^$/q;p' "$f" | tail -1 | cut -c1-7)" = "Stamp: " ]
	# The recipe of octospool-spool(5), by hand.
	{ printf 'octospool-stamp 1\ntentacle-recv\n'; sed '/^Stamp: /,$d' "$f"; } > "$T/msg"
	sed -n 's/^Stamp: [^ ]* [^ ]* //p' "$f" | base64 -d > "$T/sig"
	run openssl pkeyutl -verify -pubin -inkey "$KEYS/tentacle-recv.pub" -rawin \
	    -in "$T/msg" -sigfile "$T/sig"
	assert_success
	assert_output --partial "Signature Verified Successfully"
	sed 's/^Peer: 127.0.0.1 /Peer: 127.0.0.2 /' "$T/msg" > "$T/msg2"
	run openssl pkeyutl -verify -pubin -inkey "$KEYS/tentacle-recv.pub" -rawin \
	    -in "$T/msg2" -sigfile "$T/sig"
	assert_failure
}

@test "B2: every error text is byte-exact and the session goes on" {
	recv_stock -m 10
	printf 'x' > "$T/in/exists.txt"
	run wire \
	    'send:SEND <a/b> SIZE 5\n' 'expect:SEND ERR (invalid file name)\n' \
	    'send:SEND <z.txt> SIZE 0\n' 'expect:SEND ERR (file is too big)\n' \
	    'send:SEND <z.txt> SIZE 11\n' 'expect:SEND ERR (file is too big)\n' \
	    'send:SEND <exists.txt> SIZE 1\n' 'expect:SEND ERR (file already exists)\n' \
	    'send:ZSEND <a:b> SIZE 5\n' 'expect:ZSEND ERR (invalid file name)\n' \
	    'send:ZSEND <z.txt> SIZE 0\n' 'expect:ZSEND ERR (file is too big)\n' \
	    'send:ZSEND <exists.txt> SIZE 1\n' 'expect:ZSEND ERR (file already exists)\n' \
	    'send:RECV <nope.txt>\n' 'expect:RECV ERR (file does not exist)\n' \
	    'send:RECV <../etc/passwd>\n' 'expect:RECV ERR (file has an invalid file name)\n' \
	    'send:ZRECV <nope.txt>\n' 'expect:ZRECV ERR (file does not exist)\n' \
	    'send:ZRECV <a*b>\n' 'expect:ZRECV ERR (file has an invalid file name)\n' \
	    'send:SEND <ok.txt> SIZE 2\n' 'expect:SEND OK\n' 'send:hi' 'expect:SEND OK\n' \
	    'send:QUIT\n' expectclose
	assert_success
	assert_file_exists "$T/in/ok.txt"
	assert_equal "$(cat "$T/in/ok.txt")" "hi"
	assert_equal "$(cat "$T/in/exists.txt")" "x"
}

@test "B3: PASS OK only for hex(md5(md5_raw(pw))); anything else is a silent close" {
	printf 's3cret\n' > "$T/pw"
	chmod 0640 "$T/pw"
	[ "$(id -u)" -eq 0 ] && chgrp "$RUN_GROUP" "$T/pw"
	recv_octo --password-file "$T/pw"
	run wire 'send:PASS 703b089710823916d4bb7ff2deff4d8f\n' 'expect:PASS OK\n' \
	    'send:SEND <p.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	run wire pass:s3cret 'expect:PASS OK\n'
	assert_success
	run wire 'send:PASS 00000000000000000000000000000000\n' expectclose
	assert_success
	run wire 'send:PASS 703B089710823916D4BB7FF2DEFF4D8F\n' expectclose
	assert_success
	run wire 'send:PASS s3cret\n' expectclose
	assert_success
	run wire 'send:SEND <q.1.data> SIZE 2\n' expectclose
	assert_success
	assert_equal "$(count "$INBOX"/*.q.1.data)" 0
	grep -q 'event=auth.fail .*reason="wrong password"' "$T/recv.log"
}

@test "B3/I4: PASS to a server without a password is refused (strict, as stock)" {
	recv_octo
	run wire 'send:PASS 703b089710823916d4bb7ff2deff4d8f\n' expectclose
	assert_success
}

@test "B4: RECV sends data only after RECV OK; another answer is used up" {
	recv_octo
	printf 'CONFDATA' > "$SP/conf-dist/out/conf/abc.conf"
	run wire 'send:RECV <abc.conf>\n' 'expect:RECV SIZE 8\n' nothing-pending \
	    'send:NO\n' expectsilence:300 \
	    'send:RECV <abc.conf>\n' 'expect:RECV SIZE 8\n' 'send:RECV OK\n' \
	    'expect:CONFDATA' 'send:QUIT\n' expectclose
	assert_success
	grep -q 'event=recv.notsent' "$T/recv.log"
	grep -q 'event=file.served name="abc.conf" size=8' "$T/recv.log"
}

@test "B5: QUIT, unknown verbs, lowercase, CRLF, SIZE -1, trailing space: closed with no reply" {
	recv_octo
	for l in 'QUIT\n' 'HELLO\n' 'send <a.1.data> SIZE 5\n' 'QUIT\r\n' \
	    'SEND <a.1.data> SIZE -1\n' 'SEND <a.1.data> SIZE 5 \n' '\n' '0\n' \
	    'SEND <a.1.data> SIZE\t5\n' 'SEND <a.1.data>  SIZE 5\n' \
	    'LS <>\n' 'MV <a.1.data>\n'; do
		run wire "send:$l" expectclose
		assert_success
	done
	assert_equal "$(count "$INBOX"/*)" 0
}

@test "B6: SIZE 05 is 5; bytes after a data block are the next command" {
	recv_octo
	run wire 'send:SEND <lz.1.data> SIZE 05\n' 'expect:SEND OK\n' \
	    'send:helloQUIT\n' 'expect:SEND OK\n' expectclose
	assert_success
	assert_equal "$(body "$INBOX"/*.lz.1.data)" "hello"
}

@test "B7: replies arrive alone; nothing is sent unasked" {
	recv_octo
	run wire expectsilence:300 'send:SEND <b7.1.data> SIZE 3\n' 'expect:SEND OK\n' \
	    nothing-pending expectsilence:200 'send:abc' 'expect:SEND OK\n' nothing-pending \
	    expectsilence:200
	assert_success
}

@test "B8: ZSEND of a real ZIP stores the content; ZRECV unzips with no directory part" {
	recv_octo
	head -c 30000 /dev/urandom > "$T/payload"
	"$BIN/tt-zip" stream "$T/payload" "$T/p.zip"
	size=$(stat -c %s "$T/p.zip")
	run wire "send:ZSEND <z.1.data> SIZE $size\\n" 'expect:ZSEND OK\n' \
	    "sendfile:$T/p.zip" 'expect:ZSEND OK\n'
	assert_success
	f=$(echo "$INBOX"/*.z.1.data)
	body "$f" > "$T/got"
	cmp "$T/payload" "$T/got"
	# Z2: not a ZIP is stored unchanged.
	run wire 'send:ZSEND <z2.1.data> SIZE 5\n' 'expect:ZSEND OK\n' 'send:hello' 'expect:ZSEND OK\n'
	assert_success
	assert_equal "$(body "$INBOX"/*.z2.1.data)" "hello"
	cp "$T/payload" "$SP/conf-dist/out/collections/c1.zip"
	zsize=$("$BIN/tt-wire" -a 127.0.0.1 -p "$PORT" 'send:ZRECV <c1.zip>\n' printline | sed 's/^ZRECV SIZE //')
	[ -n "$zsize" ]
	run wire 'send:ZRECV <c1.zip>\n' "expect:ZRECV SIZE $zsize\\n" 'send:ZRECV OK\n' \
	    "read:$zsize:$T/back.zip"
	assert_success
	run unzip -Z1 "$T/back.zip"
	assert_output "c1.zip"
	unzip -p "$T/back.zip" > "$T/back"
	cmp "$T/payload" "$T/back"
}

@test "C1: forbidden names are refused before SEND OK and nothing is created" {
	recv_stock
	for n in 'a?b' 'a[b' 'a]b' 'a/b' 'a\\b' 'a=b' 'a+b' 'a<b' 'a:b' 'a;b' \
	    "a'b" 'a,b' 'a*b' 'a~b' '.' '..' '' '.hidden' 'a\x01b' 'a\x1bb' \
	    'a\x7fb' 'a\tb' 'a\0b' "$(printf 'n%.0s' $(seq 1 256))"; do
		run wire "send:SEND <$n> SIZE 5\\n" 'expect:SEND ERR (invalid file name)\n'
		assert_success
	done
	assert_equal "$(ls -A "$T/in" | wc -l)" 0
}

@test "C2: spaces, UTF-8, shell characters and 200-byte names are stored byte-exact" {
	recv_stock
	long=$(printf 'L%.0s' $(seq 1 200))
	for n in 'a b.txt' 'été.txt' 'x|' 'a&b' '$(x)' '`x`' 'p!@#%{}.data' "$long"; do
		run wire "send:SEND <$n> SIZE 3\\n" 'expect:SEND OK\n' 'send:abc' 'expect:SEND OK\n'
		assert_success
		assert_file_exists "$T/in/$n"
		assert_equal "$(cat "$T/in/$n")" "abc"
	done
	assert_equal "$(ls -A "$T/in" | wc -l)" 8
}

@test "C3: no command execution through SEND or RECV names" {
	mkdir -p "$T/in/files"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$T/in" "$T/in/files"
	recv_stock -i '.*:files'
	cd "$T"
	for n in 'a&touch MARKER|' '$(touch MARKER)' '`touch MARKER`' 'touch MARKER|'; do
		run wire "send:SEND <$n> SIZE 4\\n" 'expect:SEND OK\n' 'send:data' 'expect:SEND OK\n'
		assert_success
		run wire "send:RECV <$n>\\n" 'expect:RECV SIZE 4\n' 'send:RECV OK\n' 'expect:data'
		assert_success
	done
	# Other jobs may remove their temp dirs while find walks: ignore that.
	run sh -c 'find / -xdev -name MARKER -newer "$1" -print -quit 2>/dev/null' _ "$T/empty.conf"
	assert_output ""
}

@test "C4: a trailing-space name never overwrites the name without it" {
	recv_stock
	printf 'orig' > "$T/in/t1.txt"
	run wire 'send:SEND <t1.txt > SIZE 7\n' 'expect:SEND OK\n' 'send:CHANGED' 'expect:SEND OK\n'
	assert_success
	assert_equal "$(cat "$T/in/t1.txt")" "orig"
	assert_equal "$(cat "$T/in/t1.txt ")" "CHANGED"
}

@test "C5: symlinks are neither written through nor served" {
	mkdir -p "$T/in/conf"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$T/in" "$T/in/conf"
	recv_stock -i '.*\.conf:conf'
	echo secret > "$T/outside"
	chmod 0644 "$T/outside"
	ln -s /dev/full "$T/in/full.txt"
	ln -s "$T/outside" "$T/in/conf/host.conf"
	run wire 'send:SEND <full.txt> SIZE 5\n' 'expect:SEND ERR (file already exists)\n' \
	    'send:RECV <host.conf>\n' 'expect:RECV ERR (file does not exist)\n'
	assert_success
	assert [ -L "$T/in/full.txt" ]
	assert_equal "$(cat "$T/outside")" "secret"
	stop_recv
	# With overwrite the link is replaced by a regular file, atomically.
	recv_stock -o -i '.*\.conf:conf'
	run wire 'send:SEND <full.txt> SIZE 5\n' 'expect:SEND OK\n' 'send:hello' 'expect:SEND OK\n'
	assert_success
	assert [ ! -L "$T/in/full.txt" ]
	assert_equal "$(cat "$T/in/full.txt")" "hello"
}

@test "C6: filters are anchored; data names never go to the review area" {
	recv_octo
	run wire 'send:SEND <x.conf.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ab' 'expect:SEND OK\n' \
	    'send:SEND <238cd44ae5e05cc2dd832a79a3f5ddab.conf> SIZE 2\n' 'expect:SEND OK\n' 'send:cd' 'expect:SEND OK\n' \
	    'send:SEND <b28-name-without-sequence-number.data> SIZE 2\n' 'expect:SEND ERR (invalid file name)\n' \
	    'send:SEND <x.zip> SIZE 2\n' 'expect:SEND ERR (invalid file name)\n'
	assert_success
	assert_equal "$(count "$INBOX"/*.x.conf.1.data)" 1
	assert_equal "$(count "$SP"/conf-dist/uploads/new/*.238cd44ae5e05cc2dd832a79a3f5ddab.conf)" 1
	# Agent uploads never reach the served tree.
	assert_equal "$(ls -A "$SP/conf-dist/out/conf" | wc -l)" 0
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" --spool "$SP" "${RECV_STAMP[@]}" -i '.*:../x'
	assert_equal "$status" 78
}

@test "D1: no final name exists while a transfer is in progress" {
	recv_stock
	"$BIN/tt-wire" -a 127.0.0.1 -p "$PORT" 'send:SEND <d1.1.data> SIZE 10\n' 'expect:SEND OK\n' \
	    'send:hello' sleep:1500 'send:world' 'expect:SEND OK\n' 3>&- &
	w=$!
	sleep 0.7
	assert_file_not_exists "$T/in/d1.1.data"
	# The transfer is in an anonymous file (O_TMPFILE), or where that is
	# not supported in a hidden temp that no data server would pick up.
	run ls -A "$T/in"
	[ -z "$output" ] || assert_output --regexp '^\.octospool\.[0-9]+\.[0-9a-f]+\.tmp$'
	wait $w
	assert_equal "$(cat "$T/in/d1.1.data")" "helloworld"
	assert_equal "$(ls -A "$T/in" | wc -l)" 1
}

@test "D2: SIGKILL at random points in 1000 transfers leaves only complete items" {
	total=0
	round=0
	while [ "$total" -lt 1000 ]; do
		round=$((round + 1))
		recv_octo
		"$BIN/tt-wire" -a 127.0.0.1 -p "$PORT" --flood 250 --size 2048 \
		    --name-prefix "r$round" --name-suffix .data >/dev/null 2>&1 3>&- &
		fl=$!
		sleep "0.$((RANDOM % 4 + 1))"
		kill -9 "$RECV_PID"
		wait "$RECV_PID" 2>/dev/null || true
		RECV_PID=
		wait $fl || true
		total=$((total + 250))
	done
	# Every item in new/ is whole: body size and digest match the envelope.
	n=0
	for f in "$INBOX"/*; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		want=$(sed -n 's/^Sha256: //p' "$f")
		got=$(body "$f" | sha256sum | cut -c1-64)
		[ "$want" = "$got" ] || fail "torn item $f"
		[ "$(body "$f" | wc -c)" -eq 2048 ] || fail "short item $f"
	done
	[ "$n" -gt 0 ]
	echo "# $n complete items after $round kills" >&3
}

@test "D2b: audit events are committed in groups; with SIGKILL at random points every queued item still has its stored event" {
	total=0
	round=0
	while [ "$total" -lt 1600 ]; do
		round=$((round + 1))
		recv_octo --max-per-source 32
		"$BIN/tt-wire" -a 127.0.0.1 -p "$PORT" --flood 50 --parallel 8 \
		    --separate --size 2048 --name-prefix "g$round" \
		    --name-suffix .data >/dev/null 2>&1 3>&- &
		fl=$!
		sleep "0.$((RANDOM % 4 + 2))"
		kill -9 "$RECV_PID"
		wait "$RECV_PID" 2>/dev/null || true
		RECV_PID=
		wait $fl || true
		total=$((total + 400))
	done
	# Every item in the queue has its "stored" event, durable before it:
	# handed on by the receiver, or by the next one from a killed one's
	# segment in audit-sign/tmp.
	recv_octo --max-per-source 32
	handed_on
	cat "$SP"/audit-sign/new/* > "$T/events"
	n=0
	for f in "$INBOX"/*; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		grep -q "\"action\":\"file.received\",\"outcome\":\"stored\".*\"item\":\"$(basename "$f")\"" "$T/events" ||
		    fail "no stored event for $(basename "$f")"
	done
	[ "$n" -gt 0 ]
	# Every event file holds whole JSON lines.
	python3 -c 'import json, sys
for l in open(sys.argv[1]): json.loads(l)' "$T/events"
	# A clean run: the events of concurrent uploads share rounds.
	"$BIN/tt-wire" -a 127.0.0.1 -p "$PORT" --flood 100 --parallel 8 \
	    --separate --size 2048 --name-prefix clean --name-suffix .data \
	    >/dev/null 2>&1 3>&-
	stop_recv
	line=$(grep 'event=server.stop' "$T/recv.log" | tail -1)
	groups=$(echo "$line" | sed -n 's/.*audit_groups=\([0-9]*\).*/\1/p')
	events=$(echo "$line" | sed -n 's/.*audit_events=\([0-9]*\).*/\1/p')
	syncs=$(echo "$line" | sed -n 's/.* dir_syncs=\([0-9]*\).*/\1/p')
	syncfs=$(echo "$line" | sed -n 's/.* dir_syncfs=\([0-9]*\).*/\1/p')
	echo "# $n items after $round kills; clean run: $events events in $groups rounds, $syncs directory rounds ($syncfs by one syncfs)" >&3
	[ "$events" -ge 800 ]
	[ "$groups" -lt "$events" ]
	# ... and segments: far fewer files than rounds.
	segs=$(echo "$line" | sed -n 's/.*audit_segments=\([0-9]*\).*/\1/p')
	echo "# clean run: $segs segment files" >&3
	[ "$segs" -ge 1 ] && [ "$segs" -lt "$groups" ]
	# The queues and the audit queue share the spool's file system: a
	# round of directory syncs is one syncfs().
	[ "$syncfs" -gt 0 ] && [ "$syncfs" -eq "$syncs" ]
}

# one_event: one file through a receiver that then stops; the events of
# its segment in $good, audit-sign/new emptied.
one_event() {
	recv_octo
	run wire 'send:SEND <seg.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	handed_on
	stop_recv
	good=$(cat "$SP"/audit-sign/new/*)
	rm -f "$SP"/audit-sign/new/*
}

# recovered_as NAME DROPPED: the dead segment NAME handed on (within 5 s)
# holding $good, DROPPED bytes cut off, as logged.
recovered_as() {
	for _ in $(seq 1 100); do
		[ -e "$SP/audit-sign/new/$1" ] && break
		sleep 0.05
	done
	run cat "$SP/audit-sign/new/$1"
	assert_output "$good"
	grep -q "event=audit.recovered name=$1 bytes=$(printf '%s\n' "$good" | wc -c) dropped=$2" "$T/recv.log"
}

@test "D2c: a killed receiver's audit segment is handed on at the next start, a torn last event cut off; a live one's and another user's are left alone" {
	one_event
	grep -q 'audit_segments=1 ' "$T/recv.log"
	# What SIGKILL leaves: whole synced events, maybe a torn last one.
	dead=1795816532.123456_4711_0badc0de.tentacle-recv.seg
	{ printf '%s\n' "$good"; printf '%s' '{"v":1,"tool":"tentacle-recv","act'; } > "$T/dead"
	install -m 0640 "$T/dead" "$SP/audit-sign/tmp/$dead"
	# A live receiver's segment (locked) and one of another user.
	live=1795816533.000000_4712_0badc0de.tentacle-recv.seg
	other=1795816534.000000_4713_0badc0de.tentacle-recv.seg
	printf '%s\n' "$good" > "$T/live"
	install -m 0640 "$T/live" "$SP/audit-sign/tmp/$live"
	install -m 0640 "$T/live" "$SP/audit-sign/tmp/$other"
	if [ "$(id -u)" -eq 0 ]; then
		chown "$RUN_USER" "$SP/audit-sign/tmp/$dead" "$SP/audit-sign/tmp/$live"
		chown daemon "$SP/audit-sign/tmp/$other"
	fi
	flock -x "$SP/audit-sign/tmp/$live" sleep 30 3>&- &
	holder=$!
	sleep 0.2
	recv_octo
	recovered_as "$dead" 34
	assert_file_exists "$SP/audit-sign/tmp/$live"
	[ "$(id -u)" -ne 0 ] || assert_file_exists "$SP/audit-sign/tmp/$other"
	kill "$holder"
	wait "$holder" 2>/dev/null || true
	stop_recv
	assert_file_exists "$SP/audit-sign/tmp/$live"
}

@test "D2e: a dead segment that appears while the receiver runs (a start could not hand it on) is handed on by the periodic pass, cut to its valid events" {
	one_event
	# The pass once every 300 ms here (once a minute as shipped).
	export PIPELINE_RECOVER_MS=300
	recv_octo
	unset PIPELINE_RECOVER_MS
	# Whole events, then old blocks read back after a power failure.
	dead=1795816540.123456_4714_0badc0de.tentacle-recv.seg
	{ printf '%s\n' "$good"; printf 'stale block\n{"v":1}\n'; } > "$T/dead"
	install -m 0640 "$T/dead" "$SP/audit-sign/tmp/$dead"
	[ "$(id -u)" -ne 0 ] || chown "$RUN_USER" "$SP/audit-sign/tmp/$dead"
	recovered_as "$dead" 20
	kill -0 "$RECV_PID"
	stop_recv
}

@test "D2f: an audit round whose syncfs() fails refuses its files and, as a failed directory fsync does, every later one until a restart" {
	# The audit round's syncfs() writes back every session's data; the
	# kernel reports its error once per open file.  Fails on the first
	# syncfs() of the process (strace's fault injection).  A failed
	# file gets no SEND OK: the connection is closed.
	RECV_WRAP=(strace -f -qq -o /dev/null -e trace=syncfs
	    -e inject=syncfs:error=EIO:when=1)
	recv_octo
	unset RECV_WRAP
	STRACE_PID=$RECV_PID
	# The receiver itself, for stop_recv (here and in teardown, also
	# when an assertion fails); strace ends with it.
	RECV_PID=$(pgrep -P "$STRACE_PID" -x tentacle-recv)
	[ -n "$RECV_PID" ]
	run wire 'send:SEND <eio1.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' \
	    'expectclose'
	assert_success
	grep -q 'event=audit.fail what=sync' "$T/recv.log"
	grep -q 'event=sync.broken' "$T/recv.log"
	# The next file: its own round's syncfs() succeeds, yet the error
	# may have cost its data too (written back by the failed one).
	run wire 'send:SEND <eio2.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' \
	    'expectclose'
	assert_success
	run ls "$SP/xml-validate/new"
	assert_output ""
	stop_recv
	wait "$STRACE_PID" || true
	STRACE_PID=
}

@test "D2d: audit segments stay within audit-sign's max_file; every event is handed on once" {
	printf '[audit-sign]\nmax_file 4096\n' > "$T/seg.conf"
	start_recv -F "$T/seg.conf" --spool "$SP" --max-per-source 32
	# 16 clients at once: rounds of many events, each within the cap.
	"$BIN/tt-wire" -a 127.0.0.1 -p "$PORT" --flood 25 --parallel 16 \
	    --separate --size 512 --name-prefix cap --name-suffix .data >/dev/null 2>&1 3>&-
	# Idle: the last segment is handed on (also after size-cap hand-offs).
	handed_on
	stop_recv
	run ls "$SP"/audit-sign/tmp
	assert_output ""
	n=0
	for f in "$SP"/audit-sign/new/*.tentacle-recv.seg; do
		n=$((n + 1))
		[ "$(stat -c %s "$f")" -le 4096 ] || fail "$f: $(stat -c %s "$f") bytes"
	done
	[ "$n" -gt 1 ]
	run sh -c "cat '$SP'/audit-sign/new/* | grep -c '\"action\":\"file.received\",\"outcome\":\"stored\"'"
	assert_output 400
	run sh -c "cat '$SP'/audit-sign/new/* | sort | uniq -d | wc -l"
	assert_output 0
}

@test "D3: 20 concurrent SENDs of one new name: exactly one succeeds" {
	recv_stock --max-per-source 32
	pids=()
	for i in $(seq 1 20); do
		"$BIN/tt-wire" -a 127.0.0.1 -p "$PORT" 'send:SEND <same.txt> SIZE 5\n' \
		    'expect:SEND OK\n' sleep:400 "send:abcd$((i % 10))" 'expectline:SEND OK' \
		    >/dev/null 2>&1 3>&- &
		pids+=($!)
	done
	ok=0
	for p in "${pids[@]}"; do
		wait "$p" && ok=$((ok + 1))
	done
	assert_equal "$ok" 1
	assert_equal "$(ls -A "$T/in" | wc -l)" 1
	# Every loser is told why, before or after its data.
	run grep -c 'event=file.refused verb=SEND name="same.txt" reason="file already exists' "$T/recv.log"
	assert_output 19
}

@test "D4: a write error (RLIMIT_FSIZE) gets no SEND OK, no final file, no temp" {
	mkdir -p "$T/in"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$T/in"
	(ulimit -f 64 && start_recv -F "$T/empty.conf" -s "$T/in" && echo "$RECV_PID $PORT" > "$T/pp"; wait) 3>&- &
	for _ in $(seq 1 100); do [ -s "$T/pp" ] && break; sleep 0.05; done
	read -r RECV_PID PORT < "$T/pp"
	run wire 'send:SEND <big.txt> SIZE 100000\n' 'expect:SEND OK\n' sendzeros:100000 expectclose
	assert_success
	assert_equal "$(ls -A "$T/in" | wc -l)" 0
	grep -q 'event=file.failed name="big.txt" reason="file size limit"' "$T/recv.log"
	# The server is still there.
	run wire 'send:SEND <small.txt> SIZE 5\n' 'expect:SEND OK\n' 'send:hello' 'expect:SEND OK\n'
	assert_success
}

@test "D4: disk full on a small tmpfs: no SEND OK, no final file, no temp" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to mount a tmpfs"
	mkdir -p "$T/small"
	mount -t tmpfs -o size=256k,mode=0755 tmpfs "$T/small"
	mk_spool "$T/small/spool"
	start_recv -F "$T/empty.conf" --spool "$T/small/spool"
	run wire 'send:SEND <full.1.data> SIZE 600000\n' 'expect:SEND OK\n' sendzeros:600000 expectclose
	st=$status
	nnew=$(ls -A "$T/small/spool/xml-validate/new" | wc -l)
	ntmp=$(ls -A "$T/small/spool/xml-validate/tmp" | wc -l)
	stop_recv
	umount "$T/small"
	assert_equal "$st" 0
	assert_equal "$nnew" 0
	assert_equal "$ntmp" 0
	grep -q 'reason="disk full"' "$T/recv.log"
}

@test "D5: files are 0640 whatever the umask; mtime is the time of receipt" {
	mkdir -p "$T/in"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$T/in"
	umask 000
	start_recv -F "$T/empty.conf" -s "$T/in"
	before=$(date +%s)
	run wire 'send:SEND <m.txt> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	run stat -c %a "$T/in/m.txt"
	assert_output 640
	[ "$(stat -c %Y "$T/in/m.txt")" -ge "$before" ]
	if [ "$(id -u)" -eq 0 ]; then
		assert_equal "$(stat -c %U "$T/in/m.txt")" "$RUN_USER"
	fi
}

@test "D6: 2,000,000 bytes are accepted, 2,000,001 refused before SEND OK" {
	recv_octo
	run wire 'send:SEND <max.1.data> SIZE 2000000\n' 'expect:SEND OK\n' sendzeros:2000000 'expect:SEND OK\n' \
	    'send:SEND <over.1.data> SIZE 2000001\n' 'expect:SEND ERR (file is too big)\n' \
	    'send:SEND <huge.1.data> SIZE 99999999999999999999999\n' 'expect:SEND ERR (file is too big)\n'
	assert_success
	assert_equal "$(count "$INBOX"/*.max.1.data)" 1
	assert_equal "$(count "$INBOX"/*.over.1.data)" 0
}

@test "D7: a zip bomb and a two-member archive are refused and nothing is kept" {
	recv_octo
	"$BIN/tt-zip" bomb 50000000 "$T/bomb.zip"
	size=$(stat -c %s "$T/bomb.zip")
	[ "$size" -lt 100000 ]
	run wire "send:ZSEND <bomb.1.data> SIZE $size\\n" 'expect:ZSEND OK\n' \
	    "sendfile:$T/bomb.zip" 'expect:ZSEND ERR\n'
	assert_success
	printf 'abc' > "$T/small"
	"$BIN/tt-zip" two "$T/small" "$T/two.zip"
	size=$(stat -c %s "$T/two.zip")
	run wire "send:ZSEND <two.1.data> SIZE $size\\n" 'expect:ZSEND OK\n' \
	    "sendfile:$T/two.zip" 'expect:ZSEND ERR\n' \
	    'send:SEND <after.1.data> SIZE 1\n' 'expect:SEND OK\n' 'send:x' 'expect:SEND OK\n'
	assert_success
	assert_equal "$(count "$INBOX"/*.bomb.1.data "$INBOX"/*.two.1.data)" 0
	assert_equal "$(ls -A "$SP/xml-validate/tmp" | wc -l)" 0
	grep -q 'name="bomb.1.data" reason="inflated size exceeds limit"' "$T/recv.log"
}

@test "D8: memory does not grow with file size (100 MB upload)" {
	export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=4"
	recv_octo -m 200000000
	run wire 'send:SEND <warm.1.data> SIZE 1000\n' 'expect:SEND OK\n' sendzeros:1000 'expect:SEND OK\n'
	assert_success
	before=$(awk '/VmHWM/ {print $2}' "/proc/$RECV_PID/status")
	run wire -t 60000 'send:SEND <big.1.data> SIZE 100000000\n' 'expect:SEND OK\n' \
	    sendzeros:100000000 'expect:SEND OK\n'
	assert_success
	after=$(awk '/VmHWM/ {print $2}' "/proc/$RECV_PID/status")
	echo "# VmHWM before=${before}kB after=${after}kB" >&3
	[ $((after - before)) -lt 32768 ]
}

@test "E1: an idle client is closed after the idle timeout (t*(r+1))" {
	recv_octo -t 1 -r 1
	run wire ms expectcloseafter:1500:3500
	assert_success
}

@test "E2: slowloris clients are cut off and cannot starve a real client" {
	recv_octo -c 12 --max-per-source 10
	pids=()
	for i in $(seq 1 10); do
		"$BIN/tt-wire" -b 127.0.0.2 -a 127.0.0.1 -p "$PORT" -t 20000 \
		    'sendslow:SEND <slow.1.data> SIZE 5\n:1000' >/dev/null 2>&1 3>&- &
		pids+=($!)
	done
	sleep 0.5
	# The real client from another address is served at once.
	run wire ms 'send:SEND <real.1.data> SIZE 4\n' 'expect:SEND OK\n' 'send:real' 'expect:SEND OK\n' ms
	assert_success
	# A line must be complete within the idle time: 4 s, not 20 bytes x 1 s.
	start=$(date +%s)
	for p in "${pids[@]}"; do wait "$p" || true; done
	[ $(( $(date +%s) - start )) -lt 8 ]
	[ "$(grep -c 'event=session.close .*reason="timeout"' "$T/recv.log")" -ge 10 ]
}

@test "E3: long lines close; split lines reassemble; two commands in one segment run in order" {
	recv_octo
	run wire "send:$(printf 'A%.0s' $(seq 1 1100))" expectclose
	assert_success
	run wire 'send:SEND <sp' sleep:200 'send:lit.1.data> SI' sleep:200 'send:ZE 2\n' 'expect:SEND OK\n' \
	    'send:ok' 'expect:SEND OK\n'
	assert_success
	run wire 'send:RECV <n1.conf>\nRECV <n2.conf>\n' 'expect:RECV ERR (file does not exist)\n' \
	    'expect:RECV ERR (file does not exist)\n'
	assert_success
	assert_equal "$(count "$INBOX"/*.split.1.data)" 1
}

@test "E4: a partial line then EOF frees the slot at once, without spinning" {
	recv_octo -c 1
	run wire 'send:SEND <part' close
	assert_success
	sleep 0.2
	run wire 'send:SEND <e4.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	t1=$(awk '{print $14 + $15}' "/proc/$RECV_PID/stat")
	sleep 1
	t2=$(awk '{print $14 + $15}' "/proc/$RECV_PID/stat")
	[ $((t2 - t1)) -lt 5 ]
}

@test "E5: global and per-source limits close the excess at once" {
	recv_octo -c 2 --max-per-source 1
	"$BIN/tt-wire" -a 127.0.0.1 -p "$PORT" -t 3000 expectsilence:2000 >/dev/null 2>&1 3>&- &
	a=$!
	sleep 0.2
	run wire ms expectcloseafter:0:500
	assert_success
	"$BIN/tt-wire" -b 127.0.0.2 -a 127.0.0.1 -p "$PORT" -t 3000 expectsilence:2000 >/dev/null 2>&1 3>&- &
	b=$!
	sleep 0.2
	run "$BIN/tt-wire" -b 127.0.0.3 -a 127.0.0.1 -p "$PORT" expectcloseafter:0:500
	assert_success
	wait $a $b || true
	grep -q 'reason="max_per_source reached"' "$T/recv.log"
	grep -q 'reason="max_connections reached"' "$T/recv.log"
}

@test "E6: repeated wrong passwords block the source and are logged; others still work" {
	printf '[tentacle-recv]\npassword s3cret\nauth_fail_limit 3\nauth_fail_delay 100\n' > "$T/pw.conf"
	start_recv -F "$T/pw.conf" --spool "$SP"
	for i in 1 2 3; do
		run wire pass:wrong expectclose
		assert_success
	done
	run wire ms expectcloseafter:0:300
	assert_success
	run "$BIN/tt-wire" -b 127.0.0.2 -a 127.0.0.1 -p "$PORT" pass:s3cret 'expect:PASS OK\n'
	assert_success
	grep -q 'event=source.blocked peer=127.0.0.1 fails=3' "$T/recv.log"
	grep -q 'reason="source blocked after failed passwords"' "$T/recv.log"
}

@test "F1: TLS 1.2 and 1.3 work; TLS 1.1 fails" {
	recv_octo -e "$CERTS/server.crt" -k "$CERTS/server.key"
	run wire --tls --tls-max 1.3 'send:SEND <t13.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	run wire --tls --tls-max 1.2 'send:SEND <t12.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	run wire --tls --tls-max 1.1 'send:QUIT\n'
	assert_equal "$status" 3
	grep -q "Tls: TLSv1.3 TLS_" "$INBOX"/*.t13.1.data
	grep -q "Tls: TLSv1.2 ECDHE-" "$INBOX"/*.t12.1.data
}

@test "F2: client certificates are checked against the configured CA only" {
	recv_octo -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt"
	run wire --tls --cert "$CERTS/client.crt" --key "$CERTS/client.key" \
	    'send:SEND <ok.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	f=$(echo "$INBOX"/*.ok.1.data)
	fp=$(openssl x509 -in "$CERTS/client.crt" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f)
	grep -q "^Client-Sha256: $fp\$" "$f"
	grep -q "^Client-Subject: CN=research-agent-01\$" "$f"
	for c in none other rogue; do
		if [ "$c" = none ]; then
			run wire --tls 'send:SEND <bad.1.data> SIZE 2\n' 'expect:SEND OK\n'
		else
			run wire --tls --cert "$CERTS/$c.crt" --key "$CERTS/$c.key" \
			    'send:SEND <bad.1.data> SIZE 2\n' 'expect:SEND OK\n'
		fi
		assert_failure
	done
	assert_equal "$(count "$INBOX"/*.bad.1.data)" 0
	stop_recv
	# Optional mode: no certificate is fine, a foreign one is not.
	recv_octo -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt" --client-cert optional
	run wire --tls 'send:SEND <opt.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	run wire --tls --cert "$CERTS/other.crt" --key "$CERTS/other.key" 'send:SEND <bad.1.data> SIZE 2\n' 'expect:SEND OK\n'
	assert_failure
}

@test "F3/F4: failed handshakes are logged with the peer; plain vs TLS mismatches close cleanly" {
	recv_octo -t 1 -r 1 -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt"
	run wire --tls 'send:SEND <f3.1.data> SIZE 2\n' 'expect:SEND OK\n'
	assert_equal "$status" 3
	grep -q 'event=tls.fail peer=127.0.0.1 port=[0-9]* reason=".*certificate' "$T/recv.log"
	run wire 'send:SEND <p.1.data> SIZE 2\n' expectclose
	assert_success
	grep -q 'event=tls.fail peer=127.0.0.1' "$T/recv.log"
	kill -0 "$RECV_PID"
	stop_recv
	recv_octo -t 1 -r 1
	run wire --tls 'send:QUIT\n'
	assert_equal "$status" 3
	kill -0 "$RECV_PID"
}

@test "G1/G2: one log record per file with peer, TLS identity, auth, size, digest; client bytes escaped" {
	recv_octo -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt" -x s3cret
	run wire --tls --cert "$CERTS/client.crt" --key "$CERTS/client.key" pass:s3cret 'expect:PASS OK\n' \
	    'send:SEND <g1.1.data> SIZE 5\n' 'expect:SEND OK\n' 'send:hello' 'expect:SEND OK\n' \
	    'send:SEND <e\x1b[31m.1.data> SIZE 1\n' 'expect:SEND ERR (invalid file name)\n' \
	    'send:X\n2026-01-01 00:00:00[log]FORGED ENTRY\n' expectclose
	assert_success
	run grep 'event=file.stored' "$T/recv.log"
	assert_output --regexp 'name="g1\.1\.data" dest=data size=5 sha256=2cf24dba[0-9a-f]{56} peer=127\.0\.0\.1 port=[0-9]+ tls=TLSv1\.3 subject="CN=research-agent-01" cert_sha256=[0-9a-f]{64} auth=password'
	grep -q 'name="e\\033\[31m.1.data" reason="control character in name"' "$T/recv.log"
	run grep -c '^2026-01-01 00:00:00\[log\]FORGED' "$T/recv.log"
	assert_output 0
	run grep -c 's3cret' "$T/recv.log"
	assert_output 0
}

@test "audit: every stored and refused file has a JSON event in audit-sign/new" {
	recv_octo
	run wire 'send:SEND <au.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n' \
	    'send:SEND <bad/name> SIZE 2\n' 'expect:SEND ERR (invalid file name)\n'
	assert_success
	item=$(basename "$(echo "$INBOX"/*.au.1.data)")
	handed_on
	cat "$SP"/audit-sign/new/* > "$T/events"
	run grep -c "\"action\":\"file.received\",\"outcome\":\"stored\".*\"item\":\"$item\"" "$T/events"
	assert_output 1
	run grep -c '"outcome":"refused".*"name":"bad/name".*"reason":"forbidden character in name"' "$T/events"
	assert_output 1
	assert_equal "$(ls -A "$SP/audit-sign/tmp" | wc -l)" 0
}

@test "I1: RECV and ZRECV serve only the read-only served tree, never the inbox" {
	recv_octo
	run wire 'send:SEND <in.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	item=$(basename "$(echo "$INBOX"/*.in.1.data)")
	printf 'abcd' > "$SP/conf-dist/out/md5/x.md5"
	run wire "send:RECV <$item>\\n" 'expect:RECV ERR (file does not exist)\n' \
	    'send:RECV <in.1.data>\n' 'expect:RECV ERR (file does not exist)\n' \
	    'send:RECV <x.md5>\n' 'expect:RECV SIZE 4\n' 'send:RECV OK\n' 'expect:abcd'
	assert_success
}

@test "privileges: started as root it runs as the service user" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	recv_octo
	run awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$RECV_PID/status"
	assert_output "$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)"
	run "$BIN/tentacle-recv" -F "$T/empty.conf" --spool "$SP" -a 127.0.0.1 -p 0 --user root \
	    "${RECV_STAMP[@]}"
	assert_equal "$status" 77
}

@test "A7: 2000 files in one session are all stored" {
	recv_octo
	run "$BIN/tt-wire" -a 127.0.0.1 -p "$PORT" --flood 2000 --size 2048 --name-prefix a7 --name-suffix .data
	assert_success
	assert_equal "$(ls "$INBOX" | wc -l)" 2000
}

@test "-d daemonizes like the stock server; the pid file names the daemon" {
	mkdir -p "$T/run"
	chmod 0777 "$T/run"
	user=()
	[ "$(id -u)" -eq 0 ] && user=(--user "$RUN_USER")
	run "$BIN/tentacle-recv" -d -F "$T/empty.conf" --spool "$SP" -a 127.0.0.1 -p 0 \
	    --port-file "$T/port" --pid-file "$T/run/pid" -l "$T/run/log" "${user[@]}" \
	    "${RECV_STAMP[@]}"
	assert_success
	for _ in $(seq 1 100); do [ -s "$T/run/pid" ] && break; sleep 0.05; done
	RECV_PID=$(cat "$T/run/pid")
	PORT=$(cat "$T/port")
	run wire 'send:SEND <dm.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	grep -q 'event=file.stored .*name="dm.1.data"' "$T/run/log"
	# Detached: its own session, no controlling terminal.
	run ps -o sid=,tty= -p "$RECV_PID"
	assert_output --regexp "^ *$RECV_PID +\\?"
}

# ---- issue 12: floods, parallel guessing, binding, revocation ----

# failure_summary PEER: from every source.failures event for PEER, the
# numbers "summaries failures unrecorded tls revoked pass blocked limit".
failure_summary() {
	python3 -c '
import json, os, sys
d, peer = sys.argv[1], sys.argv[2]
kinds = ("tls", "revoked", "pass", "blocked", "limit")
n, unrec, by = 0, 0, dict.fromkeys(kinds, 0)
for f in os.listdir(d):
    for line in open(os.path.join(d, f)):
        e = json.loads(line)
        if e["action"] == "source.failures" and e.get("peer") == peer:
            n += 1
            unrec += e["unrecorded"]
            for k in kinds:
                by[k] += e[k]
print(n, sum(by.values()), unrec, *(by[k] for k in kinds))' "$SP/audit-sign/new" "$1"
}

@test "pre-auth flood: 10,000 failed TLS handshakes from one address add at most 8 KiB of audit data, and a real client from another address uploads within 4 s each meanwhile" {
	# No block (tls_fail_limit 0) and 64 sessions allowed to the flooding
	# address: every one of the 10,000 is a real failed handshake.
	printf '[tentacle-recv]\ntls_fail_limit 0\n' > "$T/flood.conf"
	start_recv -F "$T/flood.conf" --spool "$SP" --max-per-source 64 \
	    -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt"
	printf '<agent_data/>\n' > "$T/real.1.data"
	"$BIN/tt-flood" -a 127.0.0.1 -p "$PORT" -n 10000 -c 48 -t 10000 \
	    > "$T/flood.out" 3>&- &
	fl=$!
	n=0
	max=0
	while kill -0 "$fl" 2>/dev/null || [ "$n" -eq 0 ]; do
		t0=$(date +%s%N)
		"$BIN/tentacle-send" --bind 127.0.0.2 -a 127.0.0.1 -p "$PORT" \
		    -e "$CERTS/client.crt" -k "$CERTS/client.key" -f "$CERTS/ca.crt" \
		    "$T/real.1.data" || fail "the real client failed during the flood"
		ms=$((($(date +%s%N) - t0) / 1000000))
		[ "$ms" -lt 4000 ] || fail "an upload took $ms ms during the flood"
		[ "$ms" -le "$max" ] || max=$ms
		n=$((n + 1))
	done
	wait "$fl" || fail "not every flood connection was closed: $(cat "$T/flood.out")"
	grep -q '^connections=10000 closed=10000 ' "$T/flood.out"
	assert_equal "$(count "$INBOX"/*.real.1.data)" "$n"
	# The summary of what was folded is written at shutdown at the latest.
	stop_recv
	flood_bytes=$(events | grep -v '"peer":"127.0.0.2"' | wc -c)
	flood_files=$(grep -L '"peer":"127.0.0.2"' "$SP"/audit-sign/new/* | wc -l)
	flood_log=$(grep -c 'peer=127\.0\.0\.1 ' "$T/recv.log")
	echo "# $(cat "$T/flood.out"); audit +$flood_bytes bytes in $flood_files files, $flood_log log lines; real client: $n uploads, slowest $max ms" >&3
	[ "$flood_bytes" -le 8192 ]
	[ "$flood_files" -le 16 ]
	[ "$flood_log" -le 24 ]
	# Every failure is accounted for: recorded on its own or folded.
	read -r nsum total unrec tls revoked pass blocked limit < <(failure_summary 127.0.0.1)
	[ "$nsum" -ge 1 ]
	assert_equal "$total" 10000
	assert_equal "$((tls + limit))" 10000
	recorded=$(grep -cE 'event=(tls\.fail|conn\.refused) peer=127\.0\.0\.1 ' "$T/recv.log")
	assert_equal "$unrec" "$((total - recorded))"
	assert_equal "$(events | grep -c '"action":"session.tls".*"peer":"127.0.0.1"')" \
	    "$(grep -c 'event=tls\.fail peer=127\.0\.0\.1 ' "$T/recv.log")"
	# One summary (the flood was shorter than fail_log_interval): its log line.
	[ "$nsum" -gt 1 ] || grep -q "event=source.failures peer=127.0.0.1 tls=$tls revoked=0 pass=0 blocked=0 limit=$limit proxy=0 unrecorded=$unrec " "$T/recv.log"
}

@test "failed TLS handshakes count toward the per-source block (tls_fail_limit); the blocked address is closed before TLS; a bare connect and close does not count" {
	printf '[tentacle-recv]\ntls_fail_limit 3\n' > "$T/tls.conf"
	start_recv -F "$T/tls.conf" --spool "$SP" -e "$CERTS/server.crt" -k "$CERTS/server.key"
	# Health checks and scans that send nothing do not block anyone.
	run "$BIN/tt-flood" -z -a 127.0.0.1 -p "$PORT" -n 10 -c 2
	assert_success
	run wire --tls 'send:SEND <ok.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	run "$BIN/tt-flood" -a 127.0.0.1 -p "$PORT" -n 3 -c 1
	assert_success
	grep -q 'event=source.blocked peer=127.0.0.1 fails=3 seconds=60 reason="failed TLS handshakes"' "$T/recv.log"
	events | grep -q '"action":"source.blocked","outcome":"blocked","peer":"127.0.0.1".*"reason":"too many failed TLS handshakes"'
	# Blocked: closed at once, before any TLS; other addresses go on.
	run wire ms expectcloseafter:0:300
	assert_success
	run wire --tls 'send:SEND <no.1.data> SIZE 2\n' 'expect:SEND OK\n'
	assert_failure
	grep -q 'event=conn.refused peer=127.0.0.1 port=[0-9]* reason="source blocked after failed TLS handshakes"' "$T/recv.log"
	run "$BIN/tt-wire" -b 127.0.0.2 -a 127.0.0.1 -p "$PORT" --tls 'send:SEND <two.1.data> SIZE 2\n' \
	    'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	assert_equal "$(count "$INBOX"/*.no.1.data)" 0
}

@test "parallel PASS guessing: 16 sessions from one address get at most auth_fail_limit comparisons; the right password is then refused while blocked" {
	printf '[tentacle-recv]\npassword s3cret\nauth_fail_limit 3\nauth_fail_delay 300\nfail_log_burst 5\n' > "$T/pw.conf"
	start_recv -F "$T/pw.conf" --spool "$SP"
	pids=()
	for i in $(seq 1 16); do
		"$BIN/tt-wire" -a 127.0.0.1 -p "$PORT" "pass:wrong$i" expectclose \
		    >/dev/null 2>&1 3>&- &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p"
	done
	# Three comparisons, each logged and audited; the others were closed
	# without one (in flight at the limit, or blocked).
	assert_equal "$(grep -c 'event=auth.fail .*reason="wrong password"' "$T/recv.log")" 3
	assert_equal "$(events | grep -c '"action":"session.auth","outcome":"refused".*"reason":"wrong or missing password"')" 3
	grep -q 'event=source.blocked peer=127.0.0.1 fails=3 ' "$T/recv.log"
	# The right password from that address, while it is blocked: refused.
	run wire pass:s3cret expectclose
	assert_success
	run "$BIN/tt-wire" -b 127.0.0.2 -a 127.0.0.1 -p "$PORT" pass:s3cret 'expect:PASS OK\n'
	assert_success
	stop_recv
	# 3 guesses compared, 13 + 1 sessions refused without comparing.
	read -r nsum total unrec tls revoked pass blocked limit < <(failure_summary 127.0.0.1)
	assert_equal "$pass" 3
	assert_equal "$blocked" 14
}

@test "commands are bound per agent: cert A gets its .rcmd, .sig and md5, cert B does not; the command's .acl is never served" {
	a=$(agent_key research-agent-01)
	ref=$(agent_key "restart web service")
	OUT=$SP/conf-dist/out
	printf 'commands:\n  - restart\n' > "$OUT/commands/$ref.rcmd"
	printf 'SIG' > "$OUT/commands/$ref.rcmd.sig"
	printf '%s' "$(md5sum < "$OUT/commands/$ref.rcmd" | cut -c1-32)" > "$OUT/md5/$ref.md5"
	printf '%s\n' "$a" > "$OUT/commands/$ref.acl"
	printf 'other: 1\n' > "$OUT/commands/cleanup.rcmd"
	printf '%s\n' "$(agent_key victim-agent)" > "$OUT/commands/cleanup.acl"
	recv_octo -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt" \
	    -i '.*\.conf:conf;.*\.md5:md5;.*\.rcmd:commands;.*\.rcmd\.sig:commands;.*\.acl:commands'
	size=$(stat -c %s "$OUT/commands/$ref.rcmd")
	run tls_as client "send:RECV <$ref.rcmd>\\n" "expect:RECV SIZE $size\\n" 'send:RECV OK\n' \
	    "read:$size:$T/got.rcmd" "send:RECV <$ref.rcmd.sig>\\n" 'expect:RECV SIZE 3\n' \
	    'send:RECV OK\n' 'expect:SIG' "send:RECV <$ref.md5>\\n" 'expect:RECV SIZE 32\n' \
	    'send:RECV OK\n' "read:32:$T/got.md5" \
	    'send:RECV <cleanup.rcmd>\n' 'expect:RECV ERR (file does not exist)\n' \
	    "send:RECV <$ref.acl>\\n" 'expect:RECV ERR (file does not exist)\n'
	assert_success
	cmp "$OUT/commands/$ref.rcmd" "$T/got.rcmd"
	cmp "$OUT/md5/$ref.md5" "$T/got.md5"
	for n in "$ref.rcmd" "$ref.rcmd.sig" "$ref.md5" "$ref.acl"; do
		run tls_as victim "send:RECV <$n>\\n" 'expect:RECV ERR (file does not exist)\n' \
		    "send:ZRECV <$n>\\n" 'expect:ZRECV ERR (file does not exist)\n'
		assert_success
	done
	run tls_as victim 'send:RECV <cleanup.rcmd>\n' 'expect:RECV SIZE 9\n' 'send:RECV OK\n' 'expect:other: 1\n'
	assert_success
	grep -q "event=recv.unbound name=\"$ref.rcmd\" peer=127.0.0.1 port=[0-9]* subject=\"CN=victim-agent\" reason=\"command not configured for this certificate's agent\"" "$T/recv.log"
	grep -q "event=recv.unbound name=\"$ref.md5\" .*subject=\"CN=victim-agent\"" "$T/recv.log"
	events | grep -q "\"action\":\"file.served\",\"outcome\":\"refused\".*\"name\":\"$ref.rcmd\".*\"cert_subject\":\"CN=victim-agent\".*\"reason\":\"command not configured for this certificate's agent\""
	assert_equal "$(events | grep -c "\"action\":\"file.served\",\"outcome\":\"sent\".*\"name\":\"$ref\\.")" 3
}

@test "with client certificates configured, a client without one gets no agent-keyed name, collection or command; other names still" {
	a=$(agent_key research-agent-01)
	OUT=$SP/conf-dist/out
	printf 'conf' > "$OUT/conf/$a.conf"
	printf '0123456789abcdef0123456789abcdef' > "$OUT/md5/$a.md5"
	printf 'zip' > "$OUT/collections/fc_1.zip"
	printf '0123456789abcdef0123456789abcdef' > "$OUT/md5/fc_1.md5"
	printf '%s\n' "$a" > "$OUT/collections/fc_1.acl"
	printf 'cmd' > "$OUT/commands/r1.rcmd"
	printf '%s\n' "$a" > "$OUT/commands/r1.acl"
	printf 'plain' > "$OUT/conf/plain.conf"
	recv_octo -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt" --client-cert optional
	for n in "$a.conf" "$a.md5" fc_1.zip fc_1.md5 r1.rcmd; do
		run wire --tls "send:RECV <$n>\\n" 'expect:RECV ERR (file does not exist)\n' \
		    "send:ZRECV <$n>\\n" 'expect:ZRECV ERR (file does not exist)\n'
		assert_success
		grep -q "event=recv.unbound name=\"$n\" peer=127.0.0.1 port=[0-9]* subject=\"\" reason=\"no client certificate\"" "$T/recv.log"
	done
	assert_equal "$(events | grep -c '"action":"file.served","outcome":"refused".*"reason":"no client certificate"')" 10
	run wire --tls 'send:RECV <plain.conf>\n' 'expect:RECV SIZE 5\n' 'send:RECV OK\n' 'expect:plain'
	assert_success
	# The agent's certificate gets them all.
	run tls_as client "send:RECV <$a.conf>\\n" 'expect:RECV SIZE 4\n' 'send:RECV OK\n' 'expect:conf' \
	    'send:RECV <fc_1.zip>\n' 'expect:RECV SIZE 3\n' 'send:RECV OK\n' 'expect:zip' \
	    'send:RECV <fc_1.md5>\n' 'expect:RECV SIZE 32\n' 'send:RECV OK\n' "read:32:$T/x" \
	    'send:RECV <r1.rcmd>\n' 'expect:RECV SIZE 3\n' 'send:RECV OK\n' 'expect:cmd'
	assert_success
	stop_recv
	# TLS without client certificates: the stock, weaker mode.
	recv_octo -e "$CERTS/server.crt" -k "$CERTS/server.key"
	run wire --tls "send:RECV <$a.conf>\\n" 'expect:RECV SIZE 4\n' 'send:RECV OK\n' 'expect:conf'
	assert_success
}

@test "upload planting: certificate evil-agent cannot upload <md5(victim-agent)>.conf; victim-agent's own upload carries Client-Bound in the stamped envelope" {
	v=$(agent_key victim-agent)
	UP=$SP/conf-dist/uploads/new
	recv_octo -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt"
	run tls_as evil "send:SEND <$v.conf> SIZE 5\\n" 'expect:SEND ERR (invalid file name)\n' \
	    "send:ZSEND <$v.md5> SIZE 5\\n" 'expect:ZSEND ERR (invalid file name)\n'
	assert_success
	assert_equal "$(ls -A "$UP" | wc -l)" 0
	grep -q "event=file.refused verb=SEND name=\"$v.conf\" reason=\"certificate not bound to this agent\"" "$T/recv.log"
	events | grep -q "\"action\":\"file.received\",\"outcome\":\"refused\".*\"name\":\"$v.conf\".*\"cert_subject\":\"CN=evil-agent\".*\"reason\":\"certificate not bound to this agent\""
	# Names that no agent's key starts are refused in any case.
	run tls_as victim 'send:SEND <victim-agent.conf> SIZE 5\n' 'expect:SEND ERR (invalid file name)\n' \
	    "send:SEND <$(echo "$v" | tr a-f A-F).conf> SIZE 5\\n" 'expect:SEND ERR (invalid file name)\n' \
	    "send:SEND <$v.conf> SIZE 5\\n" 'expect:SEND OK\n' 'send:conf!' 'expect:SEND OK\n' \
	    "send:SEND <$v.md5> SIZE 32\\n" 'expect:SEND OK\n' "send:$v" 'expect:SEND OK\n'
	assert_success
	grep -q 'name="victim-agent.conf" reason="upload name is not <md5(agent_name)>.conf or .md5"' "$T/recv.log"
	for f in "$UP"/*."$v".conf "$UP"/*."$v".md5; do
		assert_file_exists "$f"
		run grep -c "^Client-Bound: $v\$" "$f"
		assert_output 1
		grep -q '^Client-Subject: CN=victim-agent$' "$f"
		# The stamp covers the Client-Bound line.
		{ printf 'octospool-stamp 1\ntentacle-recv\n'; sed '/^Stamp: /,$d' "$f"; } > "$T/msg"
		sed -n 's/^Stamp: [^ ]* [^ ]* //p' "$f" | base64 -d > "$T/sig"
		run openssl pkeyutl -verify -pubin -inkey "$KEYS/tentacle-recv.pub" -rawin \
		    -in "$T/msg" -sigfile "$T/sig"
		assert_success
	done
	assert_equal "$(body "$UP"/*."$v".conf)" "conf!"
	events | grep -q "\"action\":\"file.received\",\"outcome\":\"stored\".*\"name\":\"$v.conf\".*\"bound\":\"$v\""
}

@test "uploads without a client certificate: accepted unverified (no Client-Bound) over TLS without a client CA, refused when certificates are configured" {
	v=$(agent_key victim-agent)
	UP=$SP/conf-dist/uploads/new
	recv_octo -e "$CERTS/server.crt" -k "$CERTS/server.key"
	run wire --tls "send:SEND <$v.conf> SIZE 2\\n" 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n' \
	    'send:SEND <plain.conf> SIZE 2\n' 'expect:SEND ERR (invalid file name)\n'
	assert_success
	f=$(echo "$UP"/*."$v".conf)
	assert_file_exists "$f"
	run grep -c '^Client-Bound:' "$f"
	assert_output 0
	stop_recv
	recv_octo -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt" --client-cert optional
	run wire --tls "send:SEND <$v.md5> SIZE 2\\n" 'expect:SEND ERR (invalid file name)\n'
	assert_success
	grep -q "event=file.refused verb=SEND name=\"$v.md5\" reason=\"no client certificate\"" "$T/recv.log"
	events | grep -q "\"outcome\":\"refused\".*\"name\":\"$v.md5\".*\"reason\":\"no client certificate\""
	assert_equal "$(count "$UP"/*."$v".md5)" 0
}

@test "CRL: a revoked client certificate fails the handshake after SIGHUP, logged and audited; another client still works; a bad CRL keeps the old one; an expired CRL fails closed" {
	P=$T/pki
	sh "$TOOLS/mkcerts.sh" "$P" >/dev/null
	sh "$TOOLS/mkcerts.sh" client "$P" second agent-02
	chmod 0755 "$P"
	[ "$(id -u)" -eq 0 ] && chgrp "$RUN_GROUP" "$P"/*.key
	cp "$P/ca.crl" "$T/crl.pem"
	chmod 0644 "$T/crl.pem"
	recv_octo -e "$P/server.crt" -k "$P/server.key" -f "$P/ca.crt" --crl-file "$T/crl.pem"
	grep -q "event=tls.crl crl_file=$T/crl.pem crls=1 revoked=0 check=chain " "$T/recv.log"
	as() {
		local c=$1
		shift
		wire --tls --cert "$P/$c.crt" --key "$P/$c.key" "$@"
	}
	run as client 'send:SEND <a.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	# Revoke it with openssl ca, install the new CRL, SIGHUP.
	sh "$TOOLS/mkcerts.sh" revoke "$P" client
	cp "$P/ca.crl" "$T/crl.pem"
	kill -HUP "$RECV_PID"
	for _ in $(seq 1 50); do grep -q 'event=tls.reload ' "$T/recv.log" && break; sleep 0.1; done
	grep -q "event=tls.crl crl_file=$T/crl.pem crls=1 revoked=1 " "$T/recv.log"
	run as client 'send:SEND <b.1.data> SIZE 2\n' 'expect:SEND OK\n'
	assert_equal "$status" 3
	serial=$(openssl x509 -in "$P/client.crt" -noout -serial | sed 's/^serial=//')
	grep -q "event=tls.fail peer=127.0.0.1 port=[0-9]* reason=\"certificate revoked\" subject=\"CN=research-agent-01\" serial=$serial depth=0 " "$T/recv.log"
	fp=$(openssl x509 -in "$P/client.crt" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f)
	events | grep -q "\"action\":\"session.tls\",\"outcome\":\"refused\".*\"cert_subject\":\"CN=research-agent-01\",\"cert_sha256\":\"$fp\".*\"reason\":\"TLS handshake failed: certificate revoked\""
	run as second 'send:SEND <c.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	assert_equal "$(count "$INBOX"/*.b.1.data)" 0
	# A CRL that does not load: the one in use stays in use.
	printf 'not a CRL\n' > "$T/crl.pem"
	kill -HUP "$RECV_PID"
	for _ in $(seq 1 50); do grep -q 'event=tls.reload.fail' "$T/recv.log" && break; sleep 0.1; done
	grep -q "event=tls.reload.fail reason=\"$T/crl.pem: no CRL in the file\"" "$T/recv.log"
	run as client 'send:SEND <d.1.data> SIZE 2\n' 'expect:SEND OK\n'
	assert_equal "$status" 3
	run as second 'send:SEND <e.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	# A CRL past its nextUpdate: every certificate of its CA is refused.
	sh "$TOOLS/mkcerts.sh" crl "$P" 1
	cp "$P/ca.crl" "$T/crl.pem"
	sleep 2
	kill -HUP "$RECV_PID"
	for _ in $(seq 1 50); do grep -q 'event=tls.crl.expired' "$T/recv.log" && break; sleep 0.1; done
	grep -q 'event=tls.crl.expired ' "$T/recv.log"
	run as second 'send:SEND <f.1.data> SIZE 2\n' 'expect:SEND OK\n'
	assert_equal "$status" 3
	grep -q 'event=tls.fail peer=127.0.0.1 port=[0-9]* reason="CRL has expired" subject="CN=agent-02"' "$T/recv.log"
	assert_equal "$(count "$INBOX"/*.f.1.data)" 0
}

@test "CRL config: --crl-file needs client certificates; a CRL not signed by the CA, or holding a certificate, is a config error (78)" {
	cp "$CERTS/ca.crl" "$T/crl.pem"
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" --spool "$SP" "${RECV_STAMP[@]}" \
	    -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt" --crl-file "$T/crl.pem"
	assert_success
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" --spool "$SP" "${RECV_STAMP[@]}" \
	    -e "$CERTS/server.crt" -k "$CERTS/server.key" --crl-file "$T/crl.pem"
	assert_equal "$status" 78
	assert_output --partial "needs client certificates"
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" --spool "$SP" "${RECV_STAMP[@]}" \
	    -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/other-ca.crt" --crl-file "$T/crl.pem"
	assert_equal "$status" 78
	assert_output --partial 'the CRL of CN=octospool test CA is not signed by a CA of the CA file'
	cat "$CERTS/ca.crl" "$CERTS/ca.crt" > "$T/mixed.pem"
	run "$BIN/tentacle-recv" -n -F "$T/empty.conf" --spool "$SP" "${RECV_STAMP[@]}" \
	    -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt" --crl-file "$T/mixed.pem"
	assert_equal "$status" 78
	assert_output --partial "only CRLs belong in it"
}

# The PROXY protocol (load balancers): tt-wire --preamble sends the header.
PP2_SIG='\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a'
PP2_LOCAL="$PP2_SIG"'\x20\x00\x00\x00'

# pp2 ADDR PORT: a PROXY v2 header (PROXY, TCP over IPv4, to 127.0.0.1).
pp2() {
	local a b c d
	IFS=. read -r a b c d <<< "$1"
	printf '%s\\x21\\x11\\x00\\x0c\\x%02x\\x%02x\\x%02x\\x%02x\\x7f\\x00\\x00\\x01\\x%02x\\x%02x\\xa0\\xa1' \
	    "$PP2_SIG" "$a" "$b" "$c" "$d" $(($2 >> 8)) $(($2 & 255))
}

# send_via HEADER NAME [tt-wire options]: one two-byte file after HEADER.
send_via() {
	local h=$1 n=$2
	shift 2
	wire "$@" --preamble "$h" "send:SEND <$n> SIZE 2\n" 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
}

@test "PROXY v2 and v1 from a configured balancer: the envelope, the log and the audit event carry the client's address" {
	recv_octo --proxy-from 10.9.9.9,127.0.0.0/8
	run send_via "$(pp2 192.0.2.7 53422)" pv2.1.data
	assert_success
	run send_via 'PROXY TCP4 198.51.100.9 127.0.0.1 40000 41121\r\n' pv1.1.data
	assert_success
	run send_via 'PROXY TCP6 2001:db8::7 ::1 4000 41121\r\n' pv6.1.data
	assert_success
	grep -q '^Peer: 192.0.2.7 53422$' "$INBOX"/*.pv2.1.data
	grep -q '^Peer: 198.51.100.9 40000$' "$INBOX"/*.pv1.1.data
	grep -q '^Peer: 2001:db8::7 4000$' "$INBOX"/*.pv6.1.data
	grep -q 'event=file.stored .*name="pv2.1.data" .*peer=192.0.2.7 port=53422 ' "$T/recv.log"
	events | grep -q '"action":"file.received","outcome":"stored","peer":"192.0.2.7","port":53422,"via":"127.0.0.1"'
	events | grep -q '"action":"file.received","outcome":"stored","peer":"2001:db8::7","port":4000,"via":"127.0.0.1"'
	# From a balancer, no header: refused without a reply, logged, audited.
	run wire 'send:SEND <nohdr.1.data> SIZE 2\n' expectclose
	assert_success
	grep -q 'event=proxy.refused peer=127.0.0.1 port=[0-9]* reason="no PROXY header"' "$T/recv.log"
	events | grep -q '"action":"session.proxy","outcome":"refused","peer":"127.0.0.1".*"reason":"no PROXY header"'
	assert_equal "$(count "$INBOX"/*.nohdr.1.data)" 0
	# Without proxy_from nothing changes: a header is a bad command.
	stop_recv
	recv_octo
	run send_via "$(pp2 192.0.2.7 53422)" plain.1.data
	assert_failure
	run wire 'send:SEND <plain.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	grep -q '^Peer: 127.0.0.1 ' "$INBOX"/*.plain.1.data
}

@test "PROXY headers are honoured only from proxy_from addresses: from anyone else they are garbage, as without the key" {
	printf '[tentacle-recv]\nproxy_from 127.0.0.2\n' > "$T/pp.conf"
	start_recv -F "$T/pp.conf" --spool "$SP"
	# 127.0.0.1 is not a balancer: the v1 line is an unknown command,
	# the v2 header garbage; nothing stored, no one impersonated.
	run send_via 'PROXY TCP4 192.0.2.66 127.0.0.1 1234 41121\r\n' forged1.1.data
	assert_failure
	grep -q 'event=session.close peer=127.0.0.1 port=[0-9]* reason="unknown command" line="PROXY TCP4 192.0.2.66' "$T/recv.log"
	run send_via "$(pp2 192.0.2.66 1234)" forged2.1.data
	assert_failure
	assert_equal "$(count "$INBOX"/*.forged*.data)" 0
	run grep -c '192.0.2.66' "$SP"/audit-sign/new/*
	refute_output --regexp ':[1-9]'
	# Without a header it is an ordinary client.
	run wire 'send:SEND <direct.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	grep -q '^Peer: 127.0.0.1 ' "$INBOX"/*.direct.1.data
	# The balancer 127.0.0.2 is believed.
	run send_via "$(pp2 192.0.2.8 999)" viaok.1.data -b 127.0.0.2
	assert_success
	grep -q '^Peer: 192.0.2.8 999$' "$INBOX"/*.viaok.1.data
	# A bad proxy_from is a configuration error.
	run "$BIN/tentacle-recv" -F "$T/empty.conf" --spool "$SP" --proxy-from 127.0.0.1/33 -n
	assert_equal "$status" 78
	run "$BIN/tentacle-recv" -F "$T/empty.conf" --spool "$SP" --proxy-from balancer.example -n
	assert_equal "$status" 78
}

@test "per-source limits and blocks apply to the carried address: two clients behind one balancer are limited separately" {
	printf '[tentacle-recv]\nproxy_from 127.0.0.1\nauth_fail_limit 2\nauth_fail_delay 0\nmax_per_source 1\n' > "$T/pp.conf"
	start_recv -F "$T/pp.conf" --spool "$SP" -x s3cret
	A=$(pp2 192.0.2.1 1000)
	B=$(pp2 192.0.2.2 2000)
	# One session of A held open: a second one of A is over max_per_source,
	# B is not.
	wire --preamble "$A" pass:s3cret 'expect:PASS OK\n' sleep:1500 3>&- &
	held=$!
	sleep 0.3
	run wire --preamble "$A" pass:s3cret expectclose
	assert_success
	grep -q 'event=conn.refused peer=192.0.2.1 port=1000 via=127.0.0.1 reason="max_per_source reached"' "$T/recv.log"
	run wire --preamble "$B" pass:s3cret 'expect:PASS OK\n'
	assert_success
	wait "$held"
	# Wrong passwords block A, not B, and not the balancer.
	for _ in 1 2; do
		run wire --preamble "$A" pass:wrong expectclose
		assert_success
	done
	grep -q 'event=source.blocked peer=192.0.2.1 fails=2 ' "$T/recv.log"
	events | grep -q '"action":"source.blocked","outcome":"blocked","peer":"192.0.2.1","port":1000,"via":"127.0.0.1"'
	run wire --preamble "$A" pass:s3cret expectclose
	assert_success
	run wire --preamble "$B" pass:s3cret 'expect:PASS OK\n' 'send:SEND <b.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	grep -q '^Peer: 192.0.2.2 2000$' "$INBOX"/*.b.1.data
	run wire --preamble "$PP2_LOCAL" pass:s3cret 'expect:PASS OK\n'
	assert_success
}

@test "malformed PROXY headers from a balancer are refused with a logged reason, quickly, without a crash" {
	printf '[tentacle-recv]\nproxy_from 127.0.0.1\nfail_log_burst 100\n' > "$T/pp.conf"
	start_recv -F "$T/pp.conf" --spool "$SP" -t 1 -r 0
	long=$(printf 'A%.0s' $(seq 1 120))
	while IFS='|' read -r hdr why; do
		run wire -t 3000 --preamble "$hdr" expectclose
		assert_success
		grep -qF "reason=\"$why\"" "$T/recv.log" || fail "no log of: $why"
	done <<EOT
\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0b\x21\x11\x00\x0c|PROXY v2: bad signature
$PP2_SIG\x31\x11\x00\x0c|PROXY v2: bad version
$PP2_SIG\x22\x11\x00\x0c|PROXY v2: unknown command
$PP2_SIG\x21\xff\xff\xff|PROXY v2: unknown address family or protocol
$PP2_SIG\x21\x11\xff\xff|PROXY v2: address block too long
$PP2_SIG\x21\x12\x00\x0c\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c|PROXY v2: not TCP over IPv4 or IPv6
$PP2_SIG\x21\x31\x00\x0c\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c|PROXY v2: not TCP over IPv4 or IPv6
$PP2_SIG\x21\x21\x00\x0c\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c|PROXY v2: address block too short
PROXY TCP4 $long|PROXY v1: no CRLF within 107 bytes
PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n|PROXY v1: no CRLF within 107 bytes
PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n|PROXY v1: unknown protocol
PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n|PROXY v1: bad address
PROXY TCP4 ::1 ::1 1 2\r\n|PROXY v1: bad address
PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n|PROXY v1: bad port
PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n|PROXY v1: bad port
PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n|PROXY v1: wrong number of fields
PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n|PROXY v1: wrong number of fields
PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n|PROXY v1: control character
GET / HTTP/1.0\r\n|no PROXY header
\x16\x03\x01\x02\x00\x01|no PROXY header
EOT
	# Truncated: the header stops, the balancer closes.
	run wire --preamble "$PP2_SIG"'\x21\x11\x00\x0c\x01\x02' shutwr expectclose
	assert_success
	grep -q 'reason="PROXY v2: truncated"' "$T/recv.log"
	run wire --preamble 'PROXY TCP4 1.2' shutwr expectclose
	assert_success
	grep -q 'reason="PROXY v1: truncated"' "$T/recv.log"
	# Slow: a header that trickles in is cut at the deadline (1 s).
	run wire 'sendslow:PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n:200' expectcloseafter:0:2500
	assert_success
	grep -q 'reason="PROXY header timeout"' "$T/recv.log"
	# Nothing was stored, nobody got blocked, and the server is alive.
	assert_equal "$(ls "$INBOX" | wc -l)" 0
	run send_via "$(pp2 192.0.2.3 3)" after.1.data
	assert_success
	kill -0 "$RECV_PID"
}

@test "balancer health checks (connect and close, or a LOCAL header) are counted and logged at debug level only, and block no one" {
	printf '[tentacle-recv]\nproxy_from 127.0.0.1\ntls_fail_limit 1\n' > "$T/pp.conf"
	start_recv -F "$T/pp.conf" --spool "$SP" -V -e "$CERTS/server.crt" -k "$CERTS/server.key"
	run "$BIN/tt-flood" -z -a 127.0.0.1 -p "$PORT" -n 10 -c 2
	assert_success
	for _ in 1 2 3 4 5; do
		run wire --preamble "$PP2_LOCAL" close
		assert_success
	done
	# A check that resets the connection (SO_LINGER 0) before any byte.
	python3 -c '
import socket, struct, sys, time
for _ in range(3):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    time.sleep(0.1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()' "$PORT"
	# LOCAL then a real session: the balancer's own address.
	run wire --tls --preamble "$PP2_LOCAL" 'send:SEND <local.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	grep -q '^Peer: 127.0.0.1 ' "$INBOX"/*.local.1.data
	run send_via "$(pp2 192.0.2.4 4)" after.1.data --tls
	assert_success
	sleep 0.3
	stop_recv
	assert_equal "$(grep -c 'event=proxy.check ' "$T/recv.log")" 18
	run grep -E 'event=(tls\.fail|proxy\.refused|source\.blocked|conn\.refused)' "$T/recv.log"
	assert_output ''
	grep -q 'event=server.stop .*health_checks=18' "$T/recv.log"
	run events
	refute_output --partial '"outcome":"refused"'
}

@test "TLS end to end through a PROXY header: the handshake after the header works, with client certificates" {
	recv_octo -e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt" --proxy-from 127.0.0.1
	run tls_as client --preamble "$(pp2 203.0.113.5 5555)" 'send:SEND <tls2.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	run tls_as client --preamble 'PROXY TCP4 203.0.113.6 127.0.0.1 6666 41121\r\n' 'send:SEND <tls1.1.data> SIZE 2\n' 'expect:SEND OK\n' 'send:ok' 'expect:SEND OK\n'
	assert_success
	f=$(echo "$INBOX"/*.tls2.1.data)
	grep -q '^Peer: 203.0.113.5 5555$' "$f"
	grep -q '^Client-Subject: CN=research-agent-01$' "$f"
	grep -q '^Peer: 203.0.113.6 6666$' "$INBOX"/*.tls1.1.data
	# A refused certificate is logged and audited with the carried address.
	run tls_as rogue --preamble "$(pp2 203.0.113.7 7777)" 'send:SEND <rogue.1.data> SIZE 2\n' 'expect:SEND OK\n'
	assert_failure
	grep -q 'event=tls.fail peer=203.0.113.7 port=7777 ' "$T/recv.log"
	events | grep -q '"action":"session.tls","outcome":"refused","peer":"203.0.113.7","port":7777,"via":"127.0.0.1"'
}

@test "a real HAProxy (mode tcp, send-proxy-v2, check) in front of two receivers: tentacle-send's files keep the client's address, TLS end to end" {
	command -v haproxy >/dev/null ||
	    skip "haproxy is not installed (tools/deps.sh installs it: apt-get install haproxy)"
	tls=(-e "$CERTS/server.crt" -k "$CERTS/server.key" -f "$CERTS/ca.crt")
	mk_spool "$T/spool2"
	recv_octo -V "${tls[@]}" --proxy-from 127.0.0.1
	RECV1_PID=$RECV_PID
	P1=$PORT
	start_recv -F "$T/empty.conf" --spool "$T/spool2" -V "${tls[@]}" --proxy-from 127.0.0.1
	P2=$PORT
	HP=$("$BIN/tt-wire" --freeport)
	cat > "$T/haproxy.cfg" <<EOT
global
	maxconn 200
defaults
	mode tcp
	timeout connect 2s
	timeout client 10s
	timeout server 10s
	timeout check 1s
frontend tentacle
	bind 127.0.0.1:$HP
	default_backend receivers
backend receivers
	balance roundrobin
	server r1 127.0.0.1:$P1 send-proxy-v2 check inter 200ms
	server r2 127.0.0.1:$P2 send-proxy-v2 check inter 200ms
EOT
	haproxy -c -q -f "$T/haproxy.cfg"
	haproxy -db -f "$T/haproxy.cfg" > "$T/haproxy.log" 2>&1 3>&- &
	HAPROXY_PID=$!
	for i in 1 2 3 4; do
		printf '<agent_data/>\n' > "$T/ha$i.1.data"
		for _ in $(seq 1 30); do
			"$BIN/tentacle-send" --bind 127.0.0.2 -a 127.0.0.1 -p "$HP" \
			    -e "$CERTS/client.crt" -k "$CERTS/client.key" -f "$CERTS/ca.crt" \
			    "$T/ha$i.1.data" 2>>"$T/send.log" && continue 2
			sleep 0.1
		done
		cat "$T/send.log" "$T/haproxy.log" >&2
		fail "ha$i.1.data was not delivered through HAProxy"
	done
	n1=$(count "$INBOX"/*.ha*.1.data)
	n2=$(count "$T/spool2/xml-validate/new"/*.ha*.1.data)
	assert_equal "$((n1 + n2))" 4
	[ "$n1" -ge 1 ] && [ "$n2" -ge 1 ] || fail "not balanced: $n1 and $n2"
	run grep -h '^Peer: ' "$INBOX"/*.ha*.1.data "$T/spool2/xml-validate/new"/*.ha*.1.data
	assert_equal "$(echo "$output" | grep -cE '^Peer: 127\.0\.0\.2 [0-9]+$')" 4
	run grep -h '^Client-Subject: ' "$INBOX"/*.ha*.1.data "$T/spool2/xml-validate/new"/*.ha*.1.data
	assert_equal "$(echo "$output" | grep -c '^Client-Subject: CN=research-agent-01$')" 4
	sleep 0.5
	kill "$HAPROXY_PID"
	wait "$HAPROXY_PID" || true
	HAPROXY_PID=
	kill "$RECV1_PID"
	wait "$RECV1_PID" || true
	RECV1_PID=
	stop_recv
	# HAProxy's checks: counted by both, none logged as a failure.
	[ "$(grep -c 'event=server.stop .*health_checks=[1-9]' "$T/recv.log")" -eq 2 ]
	run grep -E 'event=(tls\.fail|proxy\.refused|source\.blocked|conn\.refused)' "$T/recv.log"
	assert_output ''
}
