#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# audit-sign, audit-verify, audit-export: spec/audit.md §6 acceptance
# tests (AT-nn in the names).  The attacker is tests/tools/tt-auditevil
# (it repairs CRCs, chains and sequence numbers, and re-signs with a
# stolen current key, so that only the cryptography catches a tamper);
# the independent verifier is tests/audit_verify.py; the TLS syslog
# receivers are a real rsyslog (when installed) and
# tests/audit_tls_sink.py.  Keep the whole file under about 2 minutes.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	mk_tmp
	mk_spool "$T/spool"
	Q=$T/spool/audit-sign
	mkdir -p "$T/log" "$T/keys" "$T/state"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER:$RUN_GROUP" "$T/log" "$T/keys" "$T/state"
	EPOCH=${EPOCH:-60}
	write_conf
	sign_q --keygen test.example > "$T/vkey"
}

teardown() {
	if [ -n "${BG_DB:-}" ]; then
		sh "$TOOLS/mariadb.sh" stop "$BG_DB" || true
		rm -rf "$BG_DB"
	fi
	for p in ${BG_PIDS:-}; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if mountpoint -q "$T/full" 2>/dev/null; then
		umount "$T/full" || true
	fi
	if [ -f "$T/err" ] && grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$T/err" >&2; then
		rm -rf "$T"
		return 1
	fi
	rm -rf "$T"
}

# write_conf [EXTRA LINES]: the test configuration.
write_conf() {
	{
		printf 'spool_dir %s\nidle_exit 0\n[audit-sign]\nuser %s\n' "$T/spool" "$RUN_USER"
		printf 'log_dir %s\nkey_dir %s\nepoch %s\n' "$T/log" "$T/keys" "$EPOCH"
		# The tests queue events as themselves (root, or the user).
		printf 'producers %s root\n' "$RUN_USER"
		printf '%s\n' "${SIGN_EXTRA:-}"
		printf '[audit-export]\nuser %s\nlog_dir %s\nstate_dir %s\n' \
		    "$RUN_USER" "$T/log" "$T/state"
		printf '%s\n' "${EXPORT_EXTRA:-}"
	} > "$T/a.conf"
}

sign_q() {
	"$BIN/audit-sign" -c "$T/a.conf" "$@" 2>>"$T/err"
}

sign() {
	"$BIN/audit-sign" -d -c "$T/a.conf" "$@" 2>>"$T/err"
}

# verify [OPTIONS]: audit-verify on $VLOG (default $T/log).
verify() {
	"$BIN/audit-verify" -K "$T/vkey" "$@" "${VLOG:-$T/log}"
}

# verify_x PATH [OPTIONS]: audit-verify on exported JSON lines.
verify_x() {
	local p=$1
	shift
	"$BIN/audit-verify" -K "$T/vkey" "$@" "$p"
}

# avr ARGS: audit-verify with the root key (prove, check).
avr() {
	"$BIN/audit-verify" -K "$T/vkey" "$@"
}

evil() {
	"$BIN/tt-auditevil" "$@"
}

# ev NAME N [SIZE]: an event file of N events (owned by the service user).
ev() {
	local name=$1 n=$2 pad=${3:-0} i
	for i in $(seq 1 "$n"); do
		printf '{"ts":"2026-11-27T10:00:00.123Z","tool":"test","action":"file.received","outcome":"ok","item":"%s","i":%d,"pad":"%*s"}\n' \
		    "$name" "$i" "$pad" ""
	done > "$Q/tmp/$name"
	chmod 0640 "$Q/tmp/$name"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$Q/tmp/$name"
	mv "$Q/tmp/$name" "$Q/new/$name"
}

# queued: files left in new/, cur/ and reject/ of the queue.
queued() {
	find "$Q/new" "$Q/cur" "$Q/reject" -type f | wc -l
}

# sealed_once N: a last run seals what is left; the queue is empty, the
# log verifies (its line in $output), and it holds N records, none twice.
sealed_once() {
	run sign
	assert_success
	[ "$(queued)" -eq 0 ]
	run verify
	assert_success
	evil records "$T/log" | cut -f4 | sort > "$T/recs"
	[ "$(wc -l < "$T/recs")" -eq "$1" ]
	[ -z "$(uniq -d "$T/recs")" ]
}

seg1() {
	echo "$T/log/seg/0000000001.seg"
}

# asan: the binaries carry AddressSanitizer.
asan() {
	ldd "$BIN/audit-sign" 2>/dev/null | grep -q libasan
}

@test "usage: -h 0, bad option 64, -V, -n config check, bad config 78" {
	run "$BIN/audit-sign" -h
	assert_success
	assert_output --partial "usage: audit-sign"
	run "$BIN/audit-sign" --bogus
	assert_equal "$status" 64
	run "$BIN/audit-sign" -V
	assert_output --regexp '^audit-sign [0-9]+\.[0-9]+\.[0-9]+$'
	run "$BIN/audit-sign" -n -c "$T/a.conf"
	assert_success
	printf '[audit-sign]\nepoch 0\n' > "$T/bad.conf"
	run "$BIN/audit-sign" -n -c "$T/bad.conf"
	assert_equal "$status" 78
	printf '[audit-sign]\nbogus 1\n' > "$T/bad.conf"
	run "$BIN/audit-sign" -n -c "$T/bad.conf"
	assert_equal "$status" 78
	run "$BIN/audit-verify" -h
	assert_success
	run "$BIN/audit-verify" --bogus
	assert_equal "$status" 3
	run "$BIN/audit-verify" "$T/log"
	assert_equal "$status" 3
	run "$BIN/audit-verify" -V
	assert_output --regexp '^audit-verify [0-9]+\.[0-9]+\.[0-9]+$'
}

@test "keygen: verifier key printed, slots 0600, a second keygen refused" {
	run cat "$T/vkey"
	assert_output --regexp '^test\.example/[0-9a-f]{32}\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$'
	[ "$(stat -c %a "$T/keys/slots")" = 600 ]
	[ "$(stat -c %a "$T/keys/vkey")" = 644 ]
	cmp "$T/vkey" "$T/keys/vkey"
	run sign_q --keygen other
	assert_equal "$status" 73
	cmp "$T/vkey" "$T/keys/vkey"
}

@test "AT-01 round trip: 10k events of mixed size, PASS, Python verifier and openssl agree" {
	for f in $(seq 1 40); do
		ev "f$f" 250 $(( (f * 37) % 400 ))
	done
	run sign
	assert_success
	[ "$(queued)" -eq 0 ]
	run verify
	assert_success
	assert_output --partial "PASS"
	assert_output --partial "records=10000"
	run python3 "$BATS_TEST_DIRNAME/audit_verify.py" "$T/vkey" "$T/log"
	assert_success
	assert_output --regexp '^PASS [0-9]+ 10000$'
	# openssl pkeyutl on the last checkpoint: body, signature, root key.
	evil lastnote "$T/log" > "$T/note"
	python3 - "$T" <<'EOF'
import base64, sys
t = sys.argv[1]
note = open(t + "/note", "rb").read()
body, sigs = note.split(b"\n\n", 1)
open(t + "/body", "wb").write(body + b"\n")
raw = base64.b64decode(sigs.split(b" ")[2].strip())
open(t + "/sig", "wb").write(raw[4:])
vk = open(t + "/vkey").read().strip().split("+", 2)[2]
pk = base64.b64decode(vk)[1:]
der = bytes.fromhex("302a300506032b6570032100") + pk
open(t + "/pk.pem", "w").write("-----BEGIN PUBLIC KEY-----\n" +
    base64.b64encode(der).decode() + "\n-----END PUBLIC KEY-----\n")
EOF
	run openssl pkeyutl -verify -pubin -inkey "$T/pk.pem" -rawin -in "$T/body" -sigfile "$T/sig"
	assert_success
	assert_output --partial "Signature Verified Successfully"
	echo x >> "$T/body"
	run openssl pkeyutl -verify -pubin -inkey "$T/pk.pem" -rawin -in "$T/body" -sigfile "$T/sig"
	assert_failure
}

@test "AT-02 Merkle known answers and all proofs for n <= 64 (unit test), prove/check round trip" {
	run "$BIN/unit/test_auditlog"
	assert_success
	assert_output --regexp 'test_auditlog: [0-9]+ passed, 0 failed'
	ev a 5
	sign
	ev b 5
	sign
	run avr prove inclusion 3 "$T/log"
	assert_success
	echo "$output" > "$T/p1"
	run avr check "$T/p1"
	assert_success
	assert_output --partial "PASS inclusion of seq 3"
	sizes=$(evil frames "$T/log" | awk '$4 == "checkpoint" { print $5 }')
	first=$(echo "$sizes" | head -1)
	last=$(echo "$sizes" | tail -1)
	run avr prove consistency "$first" "$last" "$T/log"
	assert_success
	echo "$output" > "$T/p2"
	run avr check "$T/p2"
	assert_success
	assert_output --partial "is a prefix of"
	# A corrupted proof is refused.
	sed -i 's/^index 3$/index 4/' "$T/p1"
	run avr check "$T/p1"
	assert_equal "$status" 1
}

@test "AT-03 a bit flip at every byte of a 64-record log is detected; torn vs tamper classified" {
	for f in $(seq 1 8); do ev "f$f" 8; done
	sign
	run verify
	assert_success
	cp "$(seg1)" "$T/orig.seg"
	run evil flipall "$T/log" "$T/vkey"
	echo "# $output" >&3
	assert_success
	assert_output --regexp 'pass=0 corrupt=[1-9][0-9]* tamper=[1-9][0-9]*'
	cmp "$(seg1)" "$T/orig.seg"
	# Classification: a flip without repair is a corrupt frame at its seq,
	# with the CRC repaired it is a tamper naming the record.
	off=$(evil frames "$T/log" | awk '$5 == 10 && $4 == "record" { print $2 + 80 }')
	evil flip "$(seg1)" "$off"
	run verify
	assert_equal "$status" 1
	assert_output --partial "FAIL seq=10 kind=corrupt-frame"
	cp "$T/orig.seg" "$(seg1)"
	evil flip "$(seg1)" "$off" fix
	run verify
	assert_equal "$status" 1
	assert_output --partial "FAIL seq=10 kind=content"
	assert_output --partial "record 10 does not match"
}

@test "AT-04 deletion of the first, a middle and the last sealed record is detected" {
	for f in 1 2 3; do ev "f$f" 10; done
	sign
	cp -a "$T/log" "$T/clean"
	last=$(evil frames "$T/log" | awk '$4 == "record" { s = $5 } END { print s }')
	for k in 2 15 "$last"; do
		rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
		evil delete "$T/log" "$k"
		run verify
		assert_equal "$status" 1
		assert_output --regexp "FAIL seq=$k kind=deletion"
		# Renumbered, so the sequence has no gap: the root catches it.
		rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
		evil delete "$T/log" "$k" -n
		run verify
		assert_equal "$status" 1
		assert_output --regexp "kind=(content|deletion)"
	done
}

@test "AT-05 reordering, replay of a record, swapped and replayed segments are detected" {
	for f in 1 2 3; do ev "f$f" 10; done
	sign
	cp -a "$T/log" "$T/clean"
	evil swap "$T/log" 7
	run verify
	assert_equal "$status" 1
	assert_output --partial "FAIL seq=7 kind=order"
	rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
	evil dup "$T/log" 7
	run verify
	assert_equal "$status" 1
	assert_output --partial "kind=order"
	# Several segments: swap two, replay an old one over a newer one.
	rm -rf "$T/log" "$T/keys"; mkdir "$T/log" "$T/keys"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$T/log" "$T/keys"
	SIGN_EXTRA="segment_size 4096" write_conf
	sign_q --keygen test.example > "$T/vkey"
	for f in $(seq 1 6); do ev "s$f" 12 100; sign; done
	n=$(ls "$T/log/seg" | wc -l)
	[ "$n" -ge 4 ]
	run verify
	assert_success
	cp -a "$T/log" "$T/clean2"
	mv "$T/log/seg/0000000002.seg" "$T/x"
	mv "$T/log/seg/0000000003.seg" "$T/log/seg/0000000002.seg"
	mv "$T/x" "$T/log/seg/0000000003.seg"
	run verify
	assert_equal "$status" 1
	assert_output --partial "kind=segment-link"
	rm -rf "$T/log"; cp -a "$T/clean2" "$T/log"
	cp "$T/log/seg/0000000002.seg" "$T/log/seg/0000000003.seg"
	run verify
	assert_equal "$status" 1
	assert_output --partial "kind=segment-link"
	rm -rf "$T/log"; cp -a "$T/clean2" "$T/log"
	rm "$T/log/seg/0000000002.seg"
	run verify
	assert_equal "$status" 1
	assert_output --partial "kind=segment-link"
}

@test "AT-06 truncation: unsealed tail, cut to a checkpoint (--now, --checkpoint), newest segment removed, new log" {
	ev a 10
	sign
	evil lastnote "$T/log" > "$T/old.note"
	ev b 10
	sign
	evil lastnote "$T/log" > "$T/witness.note"
	cp -a "$T/log" "$T/clean"
	# (a) The last checkpoint cut off: records remain unsealed.
	off=$(evil frames "$T/log" | awk '$4 == "checkpoint" { o = $2 } END { print o }')
	truncate -s "$off" "$(seg1)"
	run verify
	assert_equal "$status" 2
	assert_output --partial "kind=unsealed"
	# (b) A clean cut back to the earlier checkpoint passes alone ...
	rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
	first_b=$(evil frames "$T/log" | awk '$4 == "checkpoint" { n++; if (n == 1) c = 1; next } c == 1 { print $5; exit }')
	evil cut "$T/log" "$first_b"
	run verify
	assert_success
	# ... but not against the witnessed checkpoint, nor as fresh.
	run verify --checkpoint "$T/witness.note"
	assert_equal "$status" 1
	assert_output --partial "truncated below witnessed size"
	run verify --checkpoint "$T/old.note"
	assert_success
	run verify --now=$(( $(date +%s) + 3600 ))
	assert_equal "$status" 2
	assert_output --partial "kind=stale"
	run verify --now
	assert_success
	# Equivocation: a different history of the witnessed size.
	rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
	run verify --checkpoint "$T/witness.note"
	assert_success
	# (d) A new log with a new key does not pass the old verifier key.
	rm -rf "$T/log" "$T/keys"; mkdir "$T/log" "$T/keys"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$T/log" "$T/keys"
	sign_q --keygen test.example > "$T/vkey2"
	ev c 10
	sign
	run verify
	assert_equal "$status" 1
	assert_output --partial "kind=trust-anchor"
	# (c) The newest segment removed: caught with --now or a witness.
	rm -rf "$T/log" "$T/keys"; mkdir "$T/log" "$T/keys"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$T/log" "$T/keys"
	SIGN_EXTRA="segment_size 4096" write_conf
	sign_q --keygen test.example > "$T/vkey"
	for f in 1 2 3 4; do ev "s$f" 12 100; sign; done
	evil lastnote "$T/log" > "$T/w2.note"
	rm "$(ls -d "$T"/log/seg/*.seg | tail -1)"
	run verify
	assert_success
	run verify --checkpoint "$T/w2.note"
	assert_equal "$status" 1
	assert_output --partial "truncated below witnessed size"
	# An empty log directory is no log.
	rm -f "$T"/log/seg/*.seg
	run verify
	assert_equal "$status" 1
}

@test "AT-07 key compromise after the fact: old epochs cannot be rewritten with the stolen key" {
	sk0=$(evil sk "$T/keys/slots")
	for e in $(seq 1 11); do
		ev "e$e" 3
		sign --new-epoch
	done
	ev e12 3
	sign
	run verify
	assert_success
	assert_output --partial "epoch=11"
	# The stolen key directory holds no earlier secret key.
	cp -a "$T/keys" "$T/stolen"
	run evil hasbytes "$T/stolen/slots" "$sk0"
	assert_failure
	[ "$(evil sk "$T/stolen/slots" | wc -l)" -eq 1 ]
	cp -a "$T/log" "$T/clean"
	# (i) A record of epoch 3 edited, every later checkpoint re-signed.
	k=$(evil records "$T/log" | awk -F'\t' '/"e3"/ { print NR; exit }')
	seq3=$(evil frames "$T/log" | awk -v k="$k" '$4 == "record" && ++n == k { print $5 }')
	evil edit "$T/log" "$seq3" '{"tool":"forged"}' -r "$T/stolen/slots"
	run verify
	assert_equal "$status" 1
	assert_output --regexp "kind=(signature|key-epoch)"
	# (ii) Epochs 6-9 dropped, renumbered, re-signed.
	rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
	a=$(evil records "$T/log" | awk -F'\t' '/"e6"/ { print NR; exit }')
	b=$(evil records "$T/log" | awk -F'\t' '/"e10"/ { print NR; exit }')
	sa=$(evil frames "$T/log" | awk -v k="$a" '$4 == "record" && ++n == k { print $5 }')
	sb=$(evil frames "$T/log" | awk -v k="$b" '$4 == "record" && ++n == k { print $5 }')
	evil delete "$T/log" "$sa" $((sb - 1)) -n -r "$T/stolen/slots"
	run verify
	assert_equal "$status" 1
	assert_output --regexp "kind=(signature|key-epoch)"
	# (iii) A new key chain forked at epoch 4.
	rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
	kc=$(evil frames "$T/log" | awk '$4 == "keycert" { n++; if (n == 4) print $5 }')
	evil forkkey "$T/log" "$kc" -r "$T/stolen/slots"
	run verify
	assert_equal "$status" 1
	assert_output --partial "kind=key-epoch"
	# (iv) A record of the current epoch, re-signed with its own key:
	# inside the documented window (spec §5.14) without a witness.
	rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
	evil lastnote "$T/log" > "$T/w.note"
	k=$(evil records "$T/log" | awk -F'\t' '/"e12"/ { print NR; exit }')
	s12=$(evil frames "$T/log" | awk -v k="$k" '$4 == "record" && ++n == k { print $5 }')
	evil edit "$T/log" "$s12" '{"tool":"forged"}' -r "$T/stolen/slots"
	run verify
	assert_success
	run verify --checkpoint "$T/w.note"
	assert_equal "$status" 1
	assert_output --partial "kind=equivocation"
}

@test "AT-08 verification needs only the root key: no secret file is opened" {
	ev a 5
	sign
	chmod 000 "$T/keys"
	# LeakSanitizer cannot run under ptrace.
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 run strace -f -e trace=open,openat -o "$T/trace" "$BIN/audit-verify" -K "$T/vkey" "$T/log"
	chmod 700 "$T/keys"
	assert_success
	assert_output --partial PASS
	! grep -q "$T/keys" "$T/trace"
}

@test "AT-24 hostile events are refused with a reason, sealed as refusals, never split" {
	ev good 2
	printf '{"a":1}\n{"b":"x\ny"}\n' > "$Q/new/lf"
	printf '{"a":"x\r"}\n' > "$Q/new/cr"
	printf '{"a":"\0"}\n' > "$Q/new/nul"
	printf '{"a":"\377"}\n' > "$Q/new/utf8"
	printf '{"a":1} trailing\n' > "$Q/new/garbage"
	printf '[1,2]\n' > "$Q/new/array"
	: > "$Q/new/empty"
	head -c 70000 /dev/zero | tr '\0' x | sed 's/^/{"a":"/; s/$/"}/' > "$Q/new/big"
	head -c 5000000 /dev/zero | tr '\0' x > "$Q/new/huge"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$Q"/new/*
	chmod 0640 "$Q"/new/*
	run sign
	assert_success
	for f in lf cr nul utf8 garbage array empty big huge; do
		assert_file_exists "$Q/reject/$f"
		assert_file_exists "$Q/reject/$f.reason"
	done
	grep -q 'rule=json line=2' "$Q/reject/lf.reason"
	grep -q 'control character' "$Q/reject/cr.reason"
	grep -q 'invalid UTF-8' "$Q/reject/utf8.reason"
	grep -q 'trailing garbage' "$Q/reject/garbage.reason"
	grep -q 'not a JSON object' "$Q/reject/array.reason"
	grep -q 'exceeds 65536' "$Q/reject/big.reason"
	grep -q 'rule=size' "$Q/reject/huge.reason"
	run verify
	assert_success
	# Two good events, nine refusals sealed as audit-sign's own records.
	run evil records "$T/log"
	[ "$(echo "$output" | grep -c '"action":"file.received"')" -eq 2 ]
	[ "$(echo "$output" | grep -c '"action":"item.rejected"')" -eq 9 ]
	[ "$(echo "$output" | wc -l)" -eq 11 ]
}

@test "a drain's batch whose events exceed max_file goes into as many segments, each sealed whole: every event once, none refused" {
	SIGN_EXTRA="max_file 2048" write_conf
	# xml-validate on the same spool and configuration (it reads
	# [audit-sign] max_file as its segments' cap): 60 items of 60 agents
	# in one batch, an event per agent (xml.accepted).
	{
		cat "$T/a.conf"
		printf '[xml-validate]\nuser %s\nproducer %s\n' "$RUN_USER" "$RUN_USER"
	} > "$T/x.conf"
	sh "$TOOLS/gen-agents.sh" "$T/spool/xml-validate/tmp/g" 60 60 3 1795816500
	[ "$(id -u)" -ne 0 ] || chown -R "$RUN_USER" "$T/spool/xml-validate/tmp/g"
	mv "$T"/spool/xml-validate/tmp/g/* "$T/spool/xml-validate/new/"
	"$BIN/xml-validate" -d -c "$T/x.conf" --now 1795816800 2>>"$T/err"
	grep -q 'event=drain.done stage=xml-validate seen=60 .*batches=1 ' "$T/err"
	[ "$(ls "$T/spool/agent-auth/new" | wc -l)" -eq 60 ]
	# Several segments, none over the cap, each of whole events.
	[ "$(ls "$Q/new" | wc -l)" -ge 3 ]
	for f in "$Q"/new/*; do
		[ "$(stat -c %s "$f")" -le 2048 ]
		[ "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" = '\n' ]
	done
	run sign
	assert_success
	assert_equal "$(ls -A "$Q/reject" | wc -l)" 0
	run verify
	assert_success
	run evil records "$T/log"
	[ "$(echo "$output" | grep -c '"action":"xml.accepted"')" -eq 60 ]
	[ "$(echo "$output" | grep -c '"action":"item.rejected"')" -eq 0 ]
}

@test "forgery: producer identity is the file owner; other owners, links and writable files refused" {
	run id -u "$RUN_USER"
	uid=$output
	SIGN_EXTRA="producers $RUN_USER" write_conf
	# The content claims another tool and user: the owner is what counts.
	printf '{"tool":"db-load","actor":"root","producer_uid":0}\n' > "$Q/new/claim"
	chmod 0640 "$Q/new/claim"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$Q/new/claim"
	if [ "$(id -u)" -eq 0 ]; then
		printf '{"forged":1}\n' > "$Q/new/otheruser"
		chmod 0640 "$Q/new/otheruser"
		chown "daemon:$RUN_GROUP" "$Q/new/otheruser"
	fi
	printf '{"writable":1}\n' > "$Q/new/gw"
	chmod 0660 "$Q/new/gw"
	printf '{"linked":1}\n' > "$T/orig"
	chmod 0640 "$T/orig"
	ln "$T/orig" "$Q/new/hardlink" 2>/dev/null || cp "$T/orig" "$Q/new/hardlink"
	ln -s "$T/orig" "$Q/new/symlink"
	[ "$(id -u)" -eq 0 ] && chown -h "$RUN_USER" "$Q/new/gw" "$T/orig" "$Q/new/symlink"
	run sign
	assert_success
	if [ "$(id -u)" -eq 0 ]; then
		assert_file_exists "$Q/reject/otheruser"
		grep -q 'rule=producer' "$Q/reject/otheruser.reason"
	fi
	grep -q 'rule=mode' "$Q/reject/gw.reason"
	grep -q 'rule=links' "$Q/reject/hardlink.reason"
	assert_file_exists "$Q/reject/symlink.reason"
	run evil records "$T/log"
	assert_output --regexp "^$uid	[0-9]+	spool:claim#1	\{\"tool\":\"db-load\""
	refute_output --partial '"forged":1}'
	run verify
	assert_success
}

@test "stdin filter: JSON lines sealed, acks after the commit, bad lines refused (65)" {
	run sh -c "printf '{\"a\":1}\n{\"b\":2}\nnot json\n{\"c\":3}\n' | '$BIN/audit-sign' -c '$T/a.conf' - 2>'$T/stdin.err'"
	assert_equal "$status" 65
	assert_output "$(printf '2\n3\n4')"
	grep -q 'stdin line 3 refused' "$T/stdin.err"
	run verify
	assert_success
	assert_output --partial "records=3"
}

@test "torn tail and unsealed frames: verify reports them, audit-sign recovers (RECOVERY, BOOT)" {
	ev a 5
	sign
	ev b 5
	sign
	cp -a "$T/log" "$T/clean"
	# A torn write: the first 60 bytes of a frame at the end.
	rec=$(evil frames "$T/log" | awk '$4 == "record" { print $2; exit }')
	head -c $((rec + 60)) "$T/clean/seg/0000000001.seg" | tail -c 60 >> "$(seg1)"
	run verify
	assert_equal "$status" 2
	assert_output --partial "kind=torn"
	run sign
	assert_success
	ls "$T"/log/seg/torn-* >/dev/null
	run verify
	assert_success
	assert_output --partial "recoveries=1"
	# Bytes at the end that are no frame's beginning are damage, not a
	# torn write (exit 1); audit-sign sets them aside all the same.
	rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
	head -c 100 "$T/clean/seg/0000000001.seg" | tail -c 60 >> "$(seg1)"
	run verify
	assert_equal "$status" 1
	assert_output --partial "kind=corrupt-frame"
	run sign
	assert_success
	ls "$T"/log/seg/damaged-* >/dev/null
	run verify
	assert_success
	assert_output --partial "recoveries=1"
	# Frames written but never sealed (the checkpoint lost).
	rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
	off=$(evil frames "$T/log" | awk '$4 == "checkpoint" { o = $2 } END { print o }')
	truncate -s "$off" "$(seg1)"
	run sign
	assert_success
	run verify -v
	assert_success
	assert_output --partial "kind=recovered"
	assert_output --partial "not sealed before a crash"
	run evil records "$T/log"
	[ "$(echo "$output" | grep -c '"item":"b"')" -eq 5 ]
	# Damage before a checkpoint is not repaired away: audit-sign refuses.
	rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
	off=$(evil frames "$T/log" | awk '$4 == "record" && $5 == 4 { print $2 + 60 }')
	evil flip "$(seg1)" "$off"
	ev c 1
	run sign
	assert_equal "$status" 78
	assert_file_exists "$Q/new/c"
}

# flip_each_checkpoint_byte: for every byte of the log's last checkpoint
# frame, on a fresh copy of the log and keys: flip one bit, queue one
# event, run audit-sign (for every fourth byte once more, with a
# handover: the next start must find what the recovery left in order),
# and require that it succeeds, that the log
# verifies with every record it held before (same bytes, same order) and
# the new one, and that nothing is left queued.  Prints the failures.
flip_each_checkpoint_byte() {
	local off len i f rc want seg=$T/log/seg/0000000001.seg
	local -a got
	read -r off len <<<"$(evil frames "$T/log" | awk '$4 == "checkpoint" { o = $2; l = $3 } END { print o, l }')"
	cp "$seg" "$T/clean.seg"
	cp "$T/keys/slots" "$T/clean.slots"
	mapfile -t want < <(evil records "$T/log")
	mkdir -p "$T/stash"
	for i in $(seq 0 $((len - 1))); do
		printf '{"tool":"test","action":"flip","i":%d}\n' "$i" > "$T/stash/n$i"
	done
	chmod 0640 "$T"/stash/*
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$T"/stash/*
	# Few processes per byte: this loop runs a few hundred times.
	for ((i = 0; i < len; i++)); do
		cp "$T/clean.seg" "$seg"
		cp "$T/clean.slots" "$T/keys/slots"
		evil flip "$seg" $((off + i)) $((i % 8))
		mv "$T/stash/n$i" "$Q/new/n$i"
		sign_q
		rc=$?
		if [ "$rc" -ne 0 ]; then
			echo "byte $i: audit-sign exit $rc"
			continue
		fi
		# And the run after it starts cleanly from what it left (every
		# fourth byte: the test stays under a minute with ASan).
		if [ $((i % 4)) -eq 0 ]; then
			sign_q --new-epoch
			rc=$?
			if [ "$rc" -ne 0 ]; then
				echo "byte $i: the next audit-sign exit $rc"
				continue
			fi
		fi
		if ! verify -q > "$T/v.out"; then
			echo "byte $i: $(head -1 "$T/v.out")"
			continue
		fi
		mapfile -t got < <(evil records "$T/log")
		if [ "${#got[@]}" -ne $((${#want[@]} + 1)) ] ||
		    [ "${got[*]:0:${#want[@]}}" != "${want[*]}" ] ||
		    [[ ${got[-1]} != *"\"i\":$i}" ]]; then
			echo "byte $i: ${#got[@]} records, the sealed ones changed or the new one missing"
		fi
		for f in "$Q"/new/* "$Q"/cur/*; do
			[ -e "$f" ] && echo "byte $i: $f left in the queue"
		done
	done
}

# flip_and_time: flip_each_checkpoint_byte, timed, and no failure.
flip_and_time() {
	local len
	len=$(evil frames "$T/log" | awk '$4 == "checkpoint" { l = $3 } END { print l }')
	SECONDS=0
	run flip_each_checkpoint_byte
	echo "# every byte of the $len-byte checkpoint flipped in ${SECONDS}s" >&3
	assert_output ""
}

@test "recovery (issue 13.1): one bit flipped in each byte of the newest segment's only checkpoint: no sealed record is lost, sealing goes on" {
	ev a 3
	sign
	[ "$(evil frames "$T/log" | grep -c ' checkpoint ')" -eq 1 ]
	flip_and_time
	# What recovery says about it: the frame set aside, a RECOVERY
	# naming the records; a checkpoint whose signature fails leaves them
	# sealed by the recovery checkpoint only, and says so.
	run verify
	assert_success
	assert_output --regexp "kind=(recovered|damaged-checkpoint) .*records 0\\.\\.4"
}

@test "recovery (issue 13.2): an idle log ends with the handover checkpoint (its key erased): a bit flipped in any byte of it, sealing goes on with the next key" {
	ev a 3
	sign
	sign --new-epoch
	[ "$(evil sk "$T/keys/slots" | wc -l)" -eq 1 ]
	evil frames "$T/log" | tail -2 | awk '{ print $4 }' | tr '\n' ' ' | grep -q '^keycert checkpoint $'
	flip_and_time
	# The last state: recovery sealed with epoch 1's key (later ones
	# if runs handed over); and on it goes.
	run verify
	assert_success
	e=$(echo "$output" | sed -n 's/.* epoch=\([0-9]*\) .*/\1/p')
	[ "$e" -ge 1 ]
	# The independent verifier, written from doc/AUDIT.md, agrees.
	run python3 "$BATS_TEST_DIRNAME/audit_verify.py" "$T/vkey" "$T/log"
	assert_success
	run sign --new-epoch
	assert_success
	run verify
	assert_success
	assert_output --partial "epoch=$((e + 1)) "
}

@test "recovery (issue 13.3): a record of the last batch rewritten, the last checkpoint broken: FAIL, or a signed RECOVERY naming the records, never a clean PASS" {
	ev a 3
	sign
	ev b 3
	sign
	cp -a "$T/log" "$T/clean"
	k=$(evil frames "$T/log" | awk '$4 == "record" { s = $5 } END { print s }')
	first=$(evil frames "$T/log" | awk '$4 == "checkpoint" { n++; if (n == 1) print $5 }')
	for how in crc signature none; do
		rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
		# The attacker holds no key: CRC and chain repaired, the
		# checkpoint left as it is, then its frame broken.
		evil edit "$T/log" "$k" '{"tool":"test","action":"forged"}'
		read -r off len <<<"$(evil frames "$T/log" | awk '$4 == "checkpoint" { o = $2; l = $3 } END { print o, l }')"
		case $how in
		crc) evil flip "$(seg1)" $((off + len - 2)) ;;
		signature) evil flip "$(seg1)" $((off + len - 60)) ;;
		esac
		ev "w$how" 1
		run sign
		assert_success
		run verify
		echo "$output" | sed "s/^/# $how: /" >&3
		refute_output --partial "not sealed before a crash"
		if [ "$how" = signature ]; then
			# The authentic checkpoint is gone: the RECOVERY names
			# the records it covered, the verifier prints it.
			assert_success
			assert_output --regexp "kind=damaged-checkpoint .*records $first\\.\\.$k lost their seal"
		else
			assert_equal "$status" 1
			assert_output --regexp "FAIL seq=$first kind=content .*records $first\\.\\.$k were altered after they were sealed"
		fi
	done
}

@test "recovery (issue 13.4): a flip inside the last whole frame is corruption (1), a partial frame is torn (2)" {
	ev a 3
	sign
	ev b 2
	run env PIPELINE_CRASH_AT=sealed-written "$BIN/audit-sign" -c "$T/a.conf"
	off=$(evil frames "$T/log" | awk '$4 == "checkpoint" { o = $2 } END { print o }')
	truncate -s "$off" "$(seg1)"
	cp -a "$T/log" "$T/clean"
	# The last whole frame, a record after the last checkpoint.
	last=$(evil frames "$T/log" | tail -1 | awk '{ print $2 + 50 }')
	evil flip "$(seg1)" "$last"
	run verify
	assert_equal "$status" 1
	assert_output --partial "kind=corrupt-frame"
	refute_output --partial "kind=torn"
	# The checkpoint: whole, so a flip is corruption too.
	rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
	ev c 1
	sign
	off=$(evil frames "$T/log" | awk '$4 == "checkpoint" { o = $2 } END { print o + 100 }')
	evil flip "$(seg1)" "$off"
	run verify
	assert_equal "$status" 1
	assert_output --partial "kind=corrupt-frame"
	# A partial frame at the end is a torn write.
	rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
	size=$(stat -c %s "$(seg1)")
	truncate -s $((size - 7)) "$(seg1)"
	run verify
	assert_equal "$status" 2
	assert_output --partial "kind=torn"
}

@test "epochs: handover every epoch, old key erased, keys and log agree after a crash at each handover step" {
	sk0=$(evil sk "$T/keys/slots")
	sign --new-epoch
	run evil hasbytes "$T/keys/slots" "$sk0"
	assert_failure
	for p in handover-slot sealed-written sealed handover-erased; do
		ev "x$p" 2
		run env PIPELINE_CRASH_AT=$p "$BIN/audit-sign" -c "$T/a.conf" --new-epoch
		assert_equal "$status" 99
		run sign
		assert_success
		run verify
		assert_success
		[ "$(evil sk "$T/keys/slots" | wc -l)" -eq 1 ]
	done
	run evil records "$T/log"
	for p in handover-slot sealed-written sealed handover-erased; do
		[ "$(echo "$output" | grep -c "\"item\":\"x$p\"")" -eq 2 ]
	done
	# Follow mode hands over by itself every epoch (1 s here).
	EPOCH=1 write_conf
	"$BIN/audit-sign" -c "$T/a.conf" -f 2>>"$T/err" 3>&- &
	BG_PIDS=$!
	sleep 2.5
	kill -TERM "$BG_PIDS"
	wait "$BG_PIDS" || true
	BG_PIDS=
	run verify
	assert_success
	e=$(echo "$output" | sed -n 's/.* epoch=\([0-9]*\) .*/\1/p')
	[ "$e" -ge 6 ]
}

@test "crash points of the drain: nothing lost, nothing sealed twice" {
	for p in claimed handled sealed-written sealed committed; do
		ev "c$p" 3
		ev "d$p" 3
		run env PIPELINE_CRASH_AT=$p "$BIN/audit-sign" -c "$T/a.conf"
		assert_equal "$status" 99
	done
	sealed_once 30
}

@test "AT-10 SIGKILL at random instants under load: every acknowledged event present once, verify passes" {
	kills=${AUDIT_KILLS:-200}
	(
		for f in $(seq 1 400); do
			ev "p$f" 5
		done
	) 3>&- &
	prod=$!
	BG_PIDS=$prod
	for i in $(seq 1 "$kills"); do
		"$BIN/audit-sign" -c "$T/a.conf" -f 2>>"$T/kill.err" 3>&- &
		pid=$!
		sleep "0.0$((RANDOM % 40))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	wait "$prod"
	BG_PIDS=
	sealed_once 2000
	echo "# $output" >&3
}

@test "AT-12 fdatasync EIO: exit 74, nothing acknowledged, the restart recovers" {
	command -v strace >/dev/null || skip "strace missing"
	ev a 3
	sign
	ev b 4
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 \
	    run strace -f -o /dev/null -e trace=fdatasync -e inject=fdatasync:error=EIO:when=1 \
	    "$BIN/audit-sign" -c "$T/a.conf"
	assert_equal "$status" 74
	[ "$(queued)" -gt 0 ]
	run sign
	assert_success
	[ "$(queued)" -eq 0 ]
	run verify
	assert_success
	run evil records "$T/log"
	[ "$(echo "$output" | grep -c '"item":"b"')" -eq 4 ]
}

@test "AT-13 disk full: fail-closed (events stay queued, exit 75), no partial frame, then recovery" {
	mkdir "$T/full"
	mount -t tmpfs -o size=256k tmpfs "$T/full" 2>/dev/null || skip "cannot mount tmpfs"
	mkdir "$T/full/log"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$T/full/log"
	sed -i "s|^log_dir .*|log_dir $T/full/log|" "$T/a.conf"
	ev a 3
	sign
	dd if=/dev/zero of="$T/full/filler" bs=4k 2>/dev/null || true
	for f in 1 2 3; do ev "big$f" 40 200; done
	run sign
	assert_equal "$status" 75
	[ "$(ls "$Q/new" | wc -l)" -eq 3 ]
	VLOG=$T/full/log run verify
	assert_success
	rm "$T/full/filler"
	run sign
	assert_success
	[ "$(queued)" -eq 0 ]
	"$BIN/audit-verify" -K "$T/vkey" "$T/full/log"
	run evil records "$T/full/log"
	[ "$(echo "$output" | grep -c '"item":"big')" -eq 120 ]
}

@test "two writers: the second one finds the log locked and exits 0" {
	ev a 2
	"$BIN/audit-sign" -c "$T/a.conf" -f 2>>"$T/err" 3>&- &
	BG_PIDS=$!
	sleep 0.5
	run sign
	assert_success
	kill -TERM "$BG_PIDS"
	wait "$BG_PIDS" || true
	BG_PIDS=
	run verify
	assert_success
}

# export_conf SINK-SECTIONS...: [audit-export] with the given sinks.
export_conf() {
	local names=$1
	shift
	EXPORT_EXTRA="sinks $names
batch ${EX_BATCH:-1024}
retry_min 20
retry_max ${EX_RETRY_MAX:-200}
retry_time ${EX_RETRY_TIME:-2}
poll 20
hostname test-host
$*" write_conf
}

# ids FILE: the event.id values of a JSON lines file, in order.
ids() {
	python3 -c 'import json, sys
for l in open(sys.argv[1]):
    print(json.loads(l)["event"]["id"])' "$1"
}

# vkey_id FILE: the log id (hex) at the end of a verifier key's origin.
vkey_id() {
	sed 's|^[^/]*/\([0-9a-f]*\)+.*|\1|' "$1"
}

# sealed_ids [VKEY LOGDIR]: every id the log's checkpoints cover (leaves
# and checkpoints), in log order; default $T/vkey and $T/log.
sealed_ids() {
	evil frames "${2:-$T/log}" | awk -v id="$(vkey_id "${1:-$T/vkey}")" '
	    $4 == "checkpoint" { for (i = 0; i < n; i++) print id ":" q[i]; n = 0
	        print id ":checkpoint:" $5; next }
	    { q[n++] = $5 }'
}

# start_sink [ARGS]: the Python TLS receiver; sets SINK_PID, SINK_PORT.
start_sink() {
	rm -f "$T/sink.port"
	python3 "$BATS_TEST_DIRNAME/audit_tls_sink.py" "$T/pki/server.crt" \
	    "$T/pki/server.key" "$T/sink.port" "$T/sink.out" "$@" 2>>"$T/sink.err" 3>&- &
	SINK_PID=$!
	BG_PIDS="$BG_PIDS $SINK_PID"
	for _ in $(seq 1 100); do
		[ -s "$T/sink.port" ] && break
		sleep 0.05
	done
	SINK_PORT=$(cat "$T/sink.port")
	[ -n "$SINK_PORT" ]
}

# wait_lines FILE N: until FILE has at least N lines (10 s).
wait_lines() {
	for _ in $(seq 1 200); do
		[ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

@test "export JSON lines: only sealed items, ECS fields, dedup ids, owner as user.id, resume without repeats" {
	export_conf out "[audit-export.out]
type jsonl
path $T/state/out.jsonl"
	ev a 5
	sign
	run "$BIN/audit-export" -c "$T/a.conf"
	assert_success
	ids "$T/state/out.jsonl" > "$T/got"
	sealed_ids > "$T/want"
	diff "$T/want" "$T/got"
	run python3 - "$T/state/out.jsonl" "$(id -u "$RUN_USER")" <<'PY'
import json, sys
uid = sys.argv[2]
recs = [json.loads(l) for l in open(sys.argv[1])]
for r in recs:
    assert r["ecs"]["version"] and r["@timestamp"].endswith("Z"), r
ev = [r for r in recs if r["octo"]["type"] == "record"]
assert len(ev) == 5
for r in ev:
    assert r["event"]["action"] == "file.received" and r["event"]["outcome"] == "success", r
    assert r["user"]["id"] == uid, r
    assert r["octo"]["event"]["tool"] == "test", r
ck = [r for r in recs if r["octo"]["type"] == "checkpoint"]
assert len(ck) == 1 and ck[0]["octo"]["checkpoint"].count("\n") >= 8
print("ok")
PY
	assert_success
	# More events: the second run appends only what is new.
	ev b 3
	sign
	run "$BIN/audit-export" -c "$T/a.conf"
	assert_success
	ids "$T/state/out.jsonl" > "$T/got"
	sealed_ids > "$T/want"
	diff "$T/want" "$T/got"
	# Unsealed frames (checkpoint cut off) are not exported.
	n=$(wc -l < "$T/state/out.jsonl")
	ev c 2
	run env PIPELINE_CRASH_AT=sealed-written "$BIN/audit-sign" -c "$T/a.conf"
	off=$(evil frames "$T/log" | awk '$4 == "checkpoint" { o = $2 } END { print o }')
	truncate -s "$off" "$(seg1)"
	run "$BIN/audit-export" -c "$T/a.conf"
	assert_success
	[ "$(wc -l < "$T/state/out.jsonl")" -eq "$n" ]
}

@test "export (issue 13.5): exported JSON lines verify on their own with the root key, an altered line fails, a gap is a deletion" {
	export_conf out "[audit-export.out]
type jsonl
path $T/state/out.jsonl"
	ev a 4
	sign
	sign --new-epoch
	ev b 3
	sign
	run "$BIN/audit-export" -c "$T/a.conf"
	assert_success
	# Each line carries the exact leaf bytes and the full-precision time:
	# the leaf hash is recomputed from the line alone.
	run python3 - "$T/state/out.jsonl" <<'PY'
import base64, hashlib, json, sys
n = 0
for l in open(sys.argv[1]):
    o = json.loads(l)["octo"]
    d = base64.b64decode(o["data"])
    if o["type"] == "checkpoint":
        assert d.decode() == o["checkpoint"]
        continue
    assert hashlib.sha256(b"\0octo-audit/v1\0" + d).hexdigest() == o["leaf"], o
    assert int.from_bytes(d[12:20], "big") == o["time_ns"]
    n += 1
print(n)
PY
	assert_success
	[ "$output" -ge 9 ]
	run verify_x "$T/state/out.jsonl"
	assert_success
	assert_output --partial "audit-verify: PASS"
	assert_output --partial "records=7"
	assert_output --partial "epoch=1"
	# A directory of them, with a replayed batch (at least once) in it.
	mkdir "$T/x"
	head -5 "$T/state/out.jsonl" > "$T/x/a.jsonl"
	tail -n +3 "$T/state/out.jsonl" > "$T/x/b.jsonl"
	run verify_x "$T/x"
	assert_success
	# One field of one line altered: the line no longer is what its
	# data renders.
	sed '3s/"outcome":"success"/"outcome":"failure"/' "$T/state/out.jsonl" > "$T/alt.jsonl"
	! cmp -s "$T/alt.jsonl" "$T/state/out.jsonl" || false
	run verify_x "$T/alt.jsonl"
	assert_equal "$status" 1
	assert_output --partial "kind=content line=3"
	# The data altered too, and every leaf and chain hash after it
	# recomputed, so that each line is self-consistent: the signed root
	# of the checkpoint catches it.
	python3 - "$T/state/out.jsonl" "$T/alt.jsonl" <<'PY'
import base64, hashlib, json, sys
def h(*p):
    return hashlib.sha256(b"".join(p)).digest()
out, chain, done = [], None, False
for l in open(sys.argv[1]).read().splitlines():
    o = json.loads(l)["octo"]
    if o["type"] == "checkpoint":
        out.append(l)
        continue
    d = base64.b64decode(o["data"])
    if chain is None:
        chain = bytes.fromhex(o["chain"])
        prev = None
    n = l
    if not done and o["type"] == "record" and b'"i":2' in d:
        d2 = d.replace(b'"i":2', b'"i":7')
        n = n.replace(o["data"], base64.b64encode(d2).decode()).replace('"i":2', '"i":7')
        d, done = d2, True
    leaf = h(b"\0octo-audit/v1\0", d)
    if prev is not None:
        chain = h(b"\x02", prev, leaf)
    n = n.replace(o["leaf"], leaf.hex()).replace(o["chain"], chain.hex())
    prev = chain
    out.append(n)
assert done
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
	run verify_x "$T/alt.jsonl"
	assert_equal "$status" 1
	assert_output --partial "kind=content"
	assert_output --partial "root mismatch"
	# A line removed: a gap, a deletion.
	sed '4d' "$T/state/out.jsonl" > "$T/gap.jsonl"
	run verify_x "$T/gap.jsonl"
	assert_equal "$status" 1
	assert_output --partial "kind=deletion"
	assert_output --partial "missing from the export"
	# Another log's verifier key, or no exported item at all: FAIL.
	mkdir "$T/keys2"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$T/keys2"
	sed "s|^key_dir .*|key_dir $T/keys2|" "$T/a.conf" > "$T/b.conf"
	"$BIN/audit-sign" -c "$T/b.conf" --keygen other > "$T/vkey2" 2>/dev/null
	run "$BIN/audit-verify" -K "$T/vkey2" "$T/state/out.jsonl"
	assert_equal "$status" 1
	assert_output --partial "not this log's"
	run verify_x "$T/empty.conf"
	assert_equal "$status" 1
}

# witness_conf: a witness (its key, state and published directories) and
# audit-export's witness sink handing it checkpoints; sets WVKEY.
witness_conf() {
	mkdir -p "$T/wstate" "$T/wpub"
	(umask 077 && openssl genpkey -algorithm ED25519 -out "$T/wkey.pem" 2>/dev/null)
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$T/wkey.pem" "$T/wstate" "$T/wpub"
	export_conf "out wit" "[audit-export.out]
type jsonl
path $T/state/out.jsonl
[audit-export.wit]
type witness
queue $T/spool/audit-witness
cosigned $T/wpub
[audit-witness]
user $RUN_USER
state_dir $T/wstate
cosigned_dir $T/wpub
key $T/wkey.pem
name witness.test.example/w1
logs $T/vkey
producers $RUN_USER root"
	"$BIN/audit-witness" -c "$T/a.conf" --vkey > "$T/wvkey" 2>>"$T/err"
	WVKEY=$T/wvkey
}

# witness ARGS: audit-witness with the test configuration.
witness() {
	"$BIN/audit-witness" -d -c "$T/a.conf" "$@" 2>>"$T/err"
}

# witness_in < FILE: one submission on standard input (its log on stdout).
witness_in() {
	"$BIN/audit-witness" -c "$T/a.conf" - 2>&1
}

# verify_w [OPTIONS]: audit-verify requiring the witness's cosignature.
verify_w() {
	verify --witness "$WVKEY" --cosigned "$T/wpub" "$@"
}

@test "witness (issue 13.6, AT-09/AT-18): audit-export hands it the checkpoints, it cosigns (C2SP), audit-verify --witness catches truncation and a current-epoch rewrite" {
	witness_conf
	run cat "$WVKEY"
	assert_output --regexp '^witness\.test\.example/w1\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$'
	ev a 3
	sign
	sign --new-epoch
	ev b 2
	sign
	run "$BIN/audit-export" -c "$T/a.conf"
	assert_success
	# The witness sees only the submission: old size, proof, key
	# certificates, the checkpoint; never a record.
	run cat "$Q/../audit-witness/new/"*
	assert_output --regexp '^old 0'
	assert_output --partial "keycert "
	refute_output --partial '"i":'
	run witness
	assert_success
	[ "$(ls "$Q/../audit-witness/new" | wc -l)" -eq 0 ]
	run verify_w -v
	assert_success
	assert_output --partial "kind=witnessed"
	# The cosignature, checked independently: C2SP tlog-cosignature
	# v1 (key id over 0x04, "cosignature/v1\ntime T\n" + the body).
	run python3 - "$T/wpub" "$WVKEY" <<'PY'
import base64, glob, hashlib, sys, time
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
name, kid, b64 = open(sys.argv[2]).read().strip().split("+", 2)
raw = base64.b64decode(b64)
assert raw[0] == 4
pk = raw[1:]
assert hashlib.sha256(name.encode() + b"\n\x04" + pk).digest()[:4].hex() == kid
note = open(glob.glob(sys.argv[1] + "/*.note")[0], "rb").read()
body, sigs = note.split(b"\n\n", 1)
body += b"\n"
ok = 0
for line in sigs.decode().splitlines():
    dash, n, s = line.split(" ")
    if n != name:
        continue
    s = base64.b64decode(s)
    assert s[:4].hex() == kid and len(s) == 76
    t = int.from_bytes(s[4:12], "big")
    assert abs(t - time.time()) < 300
    Ed25519PublicKey.from_public_bytes(pk).verify(s[12:], b"cosignature/v1\ntime %d\n" % t + body)
    ok += 1
print(ok)
PY
	assert_success
	assert_output 1
	# Records of the current epoch, exported and cosigned in turn (the
	# sink submits from the witness's size with a consistency proof).
	ev c 2
	sign
	"$BIN/audit-export" -c "$T/a.conf"
	run cat "$Q/../audit-witness/new/"*
	assert_output --regexp '^old [1-9][0-9]*'
	witness
	run verify_w
	assert_success
	cp -a "$T/log" "$T/clean"
	# Cut back to an earlier checkpoint: a valid shorter log alone,
	# truncation against the witness.
	cut=$(evil frames "$T/log" | awk '$4 == "checkpoint" { n++; if (n == 2) print $5 }')
	evil cut "$T/log" "$cut"
	run verify
	assert_success
	run verify_w
	assert_equal "$status" 1
	assert_output --partial "kind=truncation"
	assert_output --partial "below the cosigned size"
	# A record of the current epoch rewritten with the stolen current
	# key: inside the window alone, equivocation against the witness.
	rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
	k=$(evil frames "$T/log" | awk '$4 == "record" { s = $5 } END { print s }')
	evil edit "$T/log" "$k" '{"tool":"forged"}' -r "$T/keys/slots"
	run verify
	assert_success
	run verify_w
	assert_equal "$status" 1
	assert_output --partial "kind=equivocation"
	# Freshness: a cosignature older than --max-age, or none at all.
	rm -rf "$T/log"; cp -a "$T/clean" "$T/log"
	run verify_w --max-age 60 --now=$(( $(date +%s) + 3600 ))
	assert_equal "$status" 2
	assert_output --partial "newest cosignature by witness.test.example/w1"
	mkdir "$T/nothing"
	run verify --witness "$WVKEY" --cosigned "$T/nothing"
	assert_equal "$status" 2
	assert_output --partial "kind=unwitnessed"
	# Exported lines verify against the witness too.
	run verify_x "$T/state/out.jsonl" --witness "$WVKEY" --cosigned "$T/wpub"
	assert_success
}

@test "witness (issue 13.6, AT-09): it refuses a fork and a rollback, moves forward only with a consistency proof, and keeps its state across runs" {
	witness_conf
	ev a 3
	sign
	"$BIN/audit-export" -c "$T/a.conf"
	witness
	for d in log keys state wpub; do cp -a "$T/$d" "$T/$d.1"; done
	# restore SUFFIX: the log, keys and export cursors saved as *.SUFFIX.
	restore() {
		for d in log keys state; do
			rm -rf "${T:?}/$d"
			cp -a "$T/$d.$1" "$T/$d"
		done
	}
	# History A goes on and is cosigned.
	ev fork-a 2
	sign
	"$BIN/audit-export" -c "$T/a.conf"
	cp "$Q"/../audit-witness/new/* "$T/sub-a"
	witness
	size_a=$(sed -n 2p "$T"/wpub/*.note)
	for d in log keys state; do cp -a "$T/$d" "$T/$d.a"; done
	# History B: the same start, other records, the same size; its
	# submission made against what the witness had published then.
	restore 1
	ev fork-b 2
	sign
	[ "$(evil frames "$T/log" | awk '$4 == "checkpoint" { s = $5 } END { print s }')" -eq "$size_a" ]
	sed -i "s|^cosigned .*|cosigned $T/wpub.1|" "$T/a.conf"
	"$BIN/audit-export" -c "$T/a.conf"
	mv "$Q"/../audit-witness/new/* "$T/sub-b"
	run witness_in < "$T/sub-b"
	assert_equal "$status" 65
	assert_output --partial "rule=fork"
	# A rollback: the first checkpoint again, from an empty witness view.
	restore 1
	rm -f "$T"/state/*.cursor
	mkdir "$T/wpub.0"
	sed -i "s|^cosigned .*|cosigned $T/wpub.0|" "$T/a.conf"
	"$BIN/audit-export" -c "$T/a.conf"
	mv "$Q"/../audit-witness/new/* "$T/sub-old"
	grep -q '^old 0$' "$T/sub-old"
	run witness_in < "$T/sub-old"
	assert_equal "$status" 65
	assert_output --partial "rule=rollback"
	# Nothing moved, and the state holds in a new process: the fork is
	# refused again, history A's checkpoint is what it cosigned.
	run witness_in < "$T/sub-b"
	assert_equal "$status" 65
	assert_output --partial "rule=fork"
	[ "$(sed -n 2p "$T"/wpub/*.note)" -eq "$size_a" ]
	run witness_in < "$T/sub-a"
	assert_success
	assert_output --regexp "^— witness\.test\.example/w1 "
	# History A goes on: the step needs a consistency proof that holds.
	restore a
	sed -i "s|^cosigned .*|cosigned $T/wpub|" "$T/a.conf"
	ev more 3
	sign
	"$BIN/audit-export" -c "$T/a.conf"
	mv "$Q"/../audit-witness/new/* "$T/sub-c"
	grep -q "^old $size_a$" "$T/sub-c"
	# The proof's first hash, its first character changed (A <-> B).
	sed '2{s/^A/B/;t;s/^./A/}' "$T/sub-c" > "$T/sub-bad"
	! cmp -s "$T/sub-c" "$T/sub-bad" || false
	run witness_in < "$T/sub-bad"
	assert_equal "$status" 65
	assert_output --partial "rule=consistency"
	awk 'body || NR == 1 || $0 == "" { print; if ($0 == "") body = 1; next }
	    !/^[A-Za-z0-9+\/]{43}=$/' "$T/sub-c" > "$T/sub-noproof"
	[ "$(wc -l < "$T/sub-noproof")" -lt "$(wc -l < "$T/sub-c")" ]
	run witness_in < "$T/sub-noproof"
	assert_equal "$status" 65
	assert_output --partial "rule=consistency"
	run witness_in < "$T/sub-c"
	assert_success
	[ "$(sed -n 2p "$T"/wpub/*.note)" -gt "$size_a" ]
	run verify_w
	assert_success
	[ "$(stat -c %a "$T"/wstate/*.state)" = 600 ]
	[ "$(stat -c %a "$T"/wpub/*.note)" = 644 ]
	# A damaged state is never taken for "nothing cosigned yet".
	printf 'x' >> "$T"/wstate/*.state
	run witness_in < "$T/sub-old"
	assert_equal "$status" 74
	assert_output --partial "damaged"
}

@test "AT-17 cursor lost, corrupted or rolled back: no loss, repeats carry the same ids" {
	export_conf out "[audit-export.out]
type jsonl
path $T/state/out.jsonl"
	ev a 4
	sign
	"$BIN/audit-export" -c "$T/a.conf"
	cp "$T/state/out.cursor" "$T/old.cursor"
	ev b 4
	sign
	"$BIN/audit-export" -c "$T/a.conf"
	rm "$T/state/out.cursor"
	"$BIN/audit-export" -c "$T/a.conf"
	echo garbage > "$T/state/out.cursor"
	run "$BIN/audit-export" -d -c "$T/a.conf"
	assert_success
	assert_output --partial "event=cursor.bad"
	cp "$T/old.cursor" "$T/state/out.cursor"
	"$BIN/audit-export" -c "$T/a.conf"
	ids "$T/state/out.jsonl" | sort -u > "$T/got"
	sealed_ids | sort > "$T/want"
	diff "$T/want" "$T/got"
	# A cursor edited by hand fails its CRC: export restarts at 0.
	sed -i 's/^next_seq .*/next_seq 999999/' "$T/state/out.cursor"
	run "$BIN/audit-export" -d -c "$T/a.conf"
	assert_success
	assert_output --partial "event=cursor.bad"
}

@test "AT-19/AT-20 syslog over TLS: RFC 5425 framing, one message per record, certificate checks" {
	mk_certs "$T/pki"
	start_sink
	export_conf "tls" "[audit-export.tls]
type syslog
host 127.0.0.1
port $SINK_PORT
ca $T/pki/ca.crt"
	ev a 3
	printf '{"tool":"x]y","action":"a\\"b","outcome":"ok","s":"line\\nbreak ] \\" \\\\ \xc3\xa9 %s"}\n' \
	    "$(head -c 8192 /dev/zero | tr '\0' z)" > "$Q/new/hostile"
	chmod 0640 "$Q/new/hostile"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$Q/new/hostile"
	sign
	run "$BIN/audit-export" -c "$T/a.conf"
	assert_success
	n=$(sealed_ids | wc -l)
	wait_lines "$T/sink.out" "$n"
	[ "$(wc -l < "$T/sink.out")" -eq "$n" ]
	run grep -c '^<86>1 [0-9T:.-]*Z test-host test - record \[octoAudit@32473 id="[0-9a-f]*:[0-9]*" seq="[0-9]*" leaf="[0-9a-f]\{64\}" uid="[0-9]*"\] {' "$T/sink.out"
	assert_output 3
	grep -q '^<86>1 .* test-host x]y - record ' "$T/sink.out"
	grep -q ' - checkpoint \[octoAudit@32473 id="[0-9a-f]*:checkpoint:[0-9]*" seq=' "$T/sink.out"
	# AT-20: another CA, a wrong host name, an old TLS peer: refused,
	# the cursor does not move, exit 75 after retry_time.
	for bad in "ca $T/pki/other-ca.crt" "server_name wrong.example"; do
		rm -f "$T/state/tls.cursor"
		export_conf "tls" "[audit-export.tls]
type syslog
host 127.0.0.1
port $SINK_PORT
ca $T/pki/ca.crt
$bad"
		sed -i '/^ca .*ca.crt$/{$!{N;s/^ca .*ca.crt\nca /ca /}}' "$T/a.conf"
		run "$BIN/audit-export" -d -c "$T/a.conf"
		assert_equal "$status" 75
		assert_output --partial "event=sink.tls.fail"
		assert_file_not_exists "$T/state/tls.cursor"
	done
	kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true
	start_sink --max-tls
	export_conf "tls" "[audit-export.tls]
type syslog
host 127.0.0.1
port $SINK_PORT
ca $T/pki/ca.crt"
	rm -f "$T/state/tls.cursor"
	run "$BIN/audit-export" -d -c "$T/a.conf"
	assert_equal "$status" 75
	assert_file_not_exists "$T/state/tls.cursor"
}

@test "AT-19a a real rsyslog (imtcp, ossl driver) stores every message byte-identical, none split or merged" {
	command -v rsyslogd >/dev/null || skip "rsyslog not installed"
	[ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so ] || skip "rsyslog-openssl not installed"
	mk_certs "$T/pki"
	start_sink
	mkdir -p "$T/rs"
	rport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat > "$T/rs/rsyslog.conf" <<CONF
global(workDirectory="$T/rs" maxMessageSize="64k"
    parser.escapeControlCharactersOnReceive="off"
    DefaultNetstreamDriverCAFile="$T/pki/ca.crt"
    DefaultNetstreamDriverCertFile="$T/pki/server.crt"
    DefaultNetstreamDriverKeyFile="$T/pki/server.key")
module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" port="$rport" address="127.0.0.1")
template(name="raw" type="string" string="%rawmsg%\n")
action(type="omfile" file="$T/rs/out" template="raw")
CONF
	rsyslogd -n -f "$T/rs/rsyslog.conf" -i "$T/rs/pid" 2>>"$T/rs/err" 3>&- &
	BG_PIDS="$BG_PIDS $!"
	for _ in $(seq 1 100); do
		ss -Htln "sport = :$rport" | grep -q . && break
		sleep 0.05
	done
	export_conf "rs py" "[audit-export.rs]
type syslog
host 127.0.0.1
port $rport
ca $T/pki/ca.crt
[audit-export.py]
type syslog
host 127.0.0.1
port $SINK_PORT
ca $T/pki/ca.crt"
	for f in 1 2 3; do ev "f$f" 20 $((f * 2000)); done
	printf '{"tool":"t","s":"a]b\\"c\\\\d \xe2\x82\xac \\u0007"}\n' > "$Q/new/odd"
	chmod 0640 "$Q/new/odd"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER" "$Q/new/odd"
	sign
	run "$BIN/audit-export" -c "$T/a.conf"
	assert_success
	n=$(sealed_ids | wc -l)
	wait_lines "$T/sink.out" "$n"
	wait_lines "$T/rs/out" "$n"
	[ "$(wc -l < "$T/rs/out")" -eq "$n" ]
	cmp "$T/sink.out" "$T/rs/out" || { cp "$T/sink.out" "$T/rs/out" /tmp/at/; false; }
	kill "$(cat "$T/rs/pid")" 2>/dev/null || true
}

@test "AT-10, lingering: audit-sign killed with SIGKILL at random instants while it lingers and events keep arriving: every event present once, verify passes" {
	SIGN_EXTRA=$'idle_exit 30' write_conf
	(
		for f in $(seq 1 200); do
			ev "l$f" 5
		done
	) 3>&- &
	prod=$!
	BG_PIDS=$prod
	kills=0
	while kill -0 "$prod" 2>/dev/null; do
		"$BIN/audit-sign" -c "$T/a.conf" 2>>"$T/kill.err" 3>&- &
		pid=$!
		sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
		kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
		wait "$pid" 2>/dev/null || true
	done
	wait "$prod"
	BG_PIDS=
	echo "# $kills lingering processes killed" >&3
	[ "$kills" -ge 5 ]
	SIGN_EXTRA= write_conf
	sealed_once 1000
}

@test "jsonl sink: a torn last line left by a kill is cut before anything is appended" {
	export_conf "out" "[audit-export.out]
type jsonl
path $T/state/out.jsonl"
	ev a 5
	sign
	# What a SIGKILL in the middle of a batch write leaves behind.
	printf '{"@timestamp":"2026-11-28T00:00:00Z","event":{"id":"x:1"' > "$T/state/out.jsonl"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER:$RUN_GROUP" "$T/state/out.jsonl"
	run "$BIN/audit-export" -d -c "$T/a.conf"
	assert_success
	assert_output --partial "event=sink.repair sink=out"
	ids "$T/state/out.jsonl" > "$T/got"
	sealed_ids > "$T/want"
	diff "$T/want" "$T/got"
}

@test "AT-14 exporter killed 200 times mid-batch: the sinks hold the sealed set, in order" {
	mk_certs "$T/pki"
	start_sink
	EX_BATCH=40 export_conf "out tls" "[audit-export.out]
type jsonl
path $T/state/out.jsonl
[audit-export.tls]
type syslog
host 127.0.0.1
port $SINK_PORT
ca $T/pki/ca.crt"
	for f in $(seq 1 30); do ev "f$f" 50; done
	sign
	kills=${AUDIT_KILLS:-200}
	for i in $(seq 1 "$kills"); do
		if [ "$i" -eq $((kills / 2)) ]; then
			for f in $(seq 31 40); do ev "f$f" 50; done
			sign
		fi
		"$BIN/audit-export" -f -c "$T/a.conf" 2>>"$T/kill.err" 3>&- &
		pid=$!
		sleep "0.0$((RANDOM % 30))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	run "$BIN/audit-export" -c "$T/a.conf"
	assert_success
	sealed_ids > "$T/want"
	n=$(wc -l < "$T/want")
	[ "$n" -gt 2000 ]
	ids "$T/state/out.jsonl" > "$T/got"
	# No loss; repeats only; first occurrences in log order.
	awk '!seen[$0]++' "$T/got" > "$T/first"
	diff "$T/want" "$T/first"
	echo "# jsonl lines $(wc -l < "$T/got") for $n sealed items" >&3
	wait_lines "$T/sink.out" "$n"
	sed 's/.* id="\([^"]*\)".*/\1/' "$T/sink.out" | awk '!seen[$0]++' > "$T/first2"
	diff "$T/want" "$T/first2"
}

@test "AT-15 receiver down for an accelerated hour (faketime x60): producers never blocked, backoff capped, drained" {
	command -v faketime >/dev/null || skip "faketime not installed"
	mk_certs "$T/pki"
	start_sink
	port=$SINK_PORT
	EX_RETRY_MAX=60000 export_conf "tls" "[audit-export.tls]
type syslog
host 127.0.0.1
port $port
ca $T/pki/ca.crt
connect_timeout 500"
	ev a 10
	sign
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
	    faketime -f '+0 x60' "$BIN/audit-export" -d -f -c "$T/a.conf" 2>"$T/ex.log" 3>&- &
	ex=$!
	BG_PIDS="$BG_PIDS $ex"
	wait_lines "$T/sink.out" "$(sealed_ids | wc -l)"
	kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true
	# An accelerated hour (60 s virtual per real second): producers keep
	# going, the signer never waits for the exporter.
	for f in $(seq 1 5); do
		ev "o$f" 20
		run sign
		assert_success
		sleep 0.6
	done
	grep -q 'event=sink.retry' "$T/ex.log"
	# Backoff capped at retry_max (60 s virtual).
	awk -F'delay_ms=' '/sink.retry/ { split($2, a, " "); if (a[1] > 60000) bad = 1 } END { exit bad }' "$T/ex.log"
	start_sink --port "$port"
	n=$(sealed_ids | wc -l)
	wait_lines "$T/sink.out" "$n"
	sed 's/.* id="\([^"]*\)".*/\1/' "$T/sink.out" | sort -u > "$T/got"
	sealed_ids | sort > "$T/want"
	diff "$T/want" "$T/got"
	# Logged after the delivery's cursor is stored: the sink may hold
	# the lines a moment before.
	for _ in $(seq 1 100); do
		grep -q 'event=sink.recovered' "$T/ex.log" && break
		sleep 0.05
	done
	grep -q 'event=sink.recovered' "$T/ex.log"
	# faketime runs the exporter as its child: stop that one first.
	pkill -TERM -P "$ex" 2>/dev/null || true
	kill "$ex" 2>/dev/null || true
	wait "$ex" 2>/dev/null || true
}

@test "AT-21 SQL sink into MariaDB: rows and cursor in one transaction, exactly once, resumes from the database" {
	command -v mariadbd >/dev/null || skip "mariadb-server not installed"
	DBDIR=$(mktemp -d /tmp/octo-db.XXXXXX)
	BG_DB=$DBDIR
	if ! OCTO_DB_GROUP=$RUN_GROUP sh "$TOOLS/mariadb.sh" start "$DBDIR" > "$T/db.log" 2>&1; then
		cat "$T/db.log" >&2
		sh "$TOOLS/mariadb.sh" stop "$DBDIR" || true
		rm -rf "$DBDIR"
		return 1
	fi
	sqlq() { sh "$TOOLS/mariadb.sh" sql "$DBDIR" -N -B -e "$1"; }
	# lib/db's own reconnect budget short: the exporter backs off itself.
	sed -n '/^\[db\]/,/^$/p' "$DBDIR/octospool-db.conf" |
	    sed 's/^retry_time .*/retry_time 0/; s/^connect_timeout .*/connect_timeout 2/' > "$T/db.part"
	export_conf db "[audit-export.db]
type sql
db_user octo_audit_export
db_password_file $DBDIR/secrets/octo_audit_export.pw
$(cat "$T/db.part")"
	for f in 1 2 3; do ev "f$f" 20; done
	sign
	run "$BIN/audit-export" -d -c "$T/a.conf"
	assert_success
	n=$(sealed_ids | wc -l)
	[ "$(sqlq 'SELECT COUNT(*) FROM octo_audit_record')" -eq "$n" ]
	# The same batch three times: no duplicate, cursor unchanged.
	for i in 1 2 3; do
		sqlq "UPDATE octo_audit_export SET seq = 0 WHERE sink = 'db'"
		run "$BIN/audit-export" -c "$T/a.conf"
		assert_success
	done
	[ "$(sqlq 'SELECT COUNT(*) FROM octo_audit_record')" -eq "$n" ]
	last=$(evil frames "$T/log" | awk '$4 != "checkpoint" { s = $5 } END { print s }')
	[ "$(sqlq "SELECT seq FROM octo_audit_export WHERE sink = 'db'")" -eq "$last" ]
	sqlq "SELECT COUNT(*) FROM octo_audit_record WHERE kind = 'record' AND JSON_VALUE(ecs, '\$.event.id') = CONCAT(log_id, ':', seq)" > "$T/c"
	[ "$(cat "$T/c")" -eq 60 ]
	# Killed mid-transaction many times while more events arrive.
	for f in $(seq 4 13); do ev "f$f" 20; done
	sign
	for i in $(seq 1 20); do
		"$BIN/audit-export" -f -c "$T/a.conf" 2>>"$T/kill.err" 3>&- &
		pid=$!
		sleep "0.0$((RANDOM % 50))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	run "$BIN/audit-export" -c "$T/a.conf"
	assert_success
	n=$(sealed_ids | wc -l)
	[ "$(sqlq 'SELECT COUNT(*) FROM octo_audit_record')" -eq "$n" ]
	[ "$(sqlq 'SELECT COUNT(*) FROM octo_audit_record WHERE kind = "record"')" -eq 260 ]
	# The database is down: exit 75 after retry_time, nothing lost after.
	sh "$TOOLS/mariadb.sh" stop "$DBDIR"
	ev late 5
	sign
	run "$BIN/audit-export" -c "$T/a.conf"
	assert_equal "$status" 75
	OCTO_DB_GROUP=$RUN_GROUP sh "$TOOLS/mariadb.sh" start "$DBDIR" >> "$T/db.log" 2>&1
	run "$BIN/audit-export" -c "$T/a.conf"
	assert_success
	[ "$(sqlq 'SELECT COUNT(*) FROM octo_audit_record WHERE kind = "record"')" -eq 265 ]
	sh "$TOOLS/mariadb.sh" stop "$DBDIR"
	rm -rf "$DBDIR"
	BG_DB=
}

@test "lingering: one audit-sign seals events that arrive while it runs (the segment read once), then exits when idle; a second run leaves at once" {
	SIGN_EXTRA=$'idle_exit 3\npoll_interval 5000' write_conf
	ev a 5
	"$BIN/audit-sign" -d -c "$T/a.conf" 2>>"$T/err" &
	pid=$!
	for _ in $(seq 1 100); do
		[ -z "$(ls -A "$Q/new")" ] && break
		sleep 0.05
	done
	# Later events: woken by inotify (the rescan is 5 s away).
	sleep 0.5
	ev b 7
	for _ in $(seq 1 60); do
		[ "$(find "$Q/new" "$Q/cur" -type f | wc -l)" -eq 0 ] && break
		sleep 0.05
	done
	assert_equal "$(find "$Q/new" "$Q/cur" -type f | wc -l)" 0
	kill -0 "$pid"
	# Another run while it lingers: the queue is held, it leaves.
	run sign_q
	assert_success
	wait "$pid"
	# One process, one read of the segment: two passes logged, one start.
	assert_equal "$(grep -c 'event=drain.done stage=audit-sign' "$T/err")" 2
	run verify
	assert_success
	assert_output --regexp 'PASS .*records=12 '
}

@test "lingering: SIGTERM seals the batch in hand and leaves the rest queued; a rerun seals it, nothing lost or doubled" {
	# 40 event files, 8 per batch: stopped at its first batch's sync,
	# told to stop, released: that batch is sealed and the process ends
	# (exit 0) with the other 32 files still in new/.
	SIGN_EXTRA=$'idle_exit 30\nbatch 8' write_conf
	for i in $(seq -w 1 40); do
		ev "e$i" 3
	done
	pause=$(pause_file "$T/p")
	PIPELINE_PAUSE_AT=synced PIPELINE_PAUSE_FILE=$pause \
	    "$BIN/audit-sign" -d -c "$T/a.conf" 2>>"$T/err" &
	pid=$!
	BG_PIDS="$pid"
	wait_pause "$pause" "$pid"
	kill -TERM "$pid"
	sleep 0.2
	rm -f "$pause"
	wait "$pid"
	BG_PIDS=
	assert_equal "$(ls "$Q/new" | wc -l)" 32
	assert_equal "$(find "$Q/cur" -type f | wc -l)" 0
	grep -q 'event=drain.done stage=audit-sign files=8 ' "$T/err"
	run verify
	assert_success
	assert_output --regexp 'PASS .*records=24 '
	SIGN_EXTRA='batch 8' write_conf
	sealed_once 120
}

@test "lingering: events queued a few ms apart after a wake-up are sealed as one batch (batch_wait, default 100 ms), also when the pass before found work; batch_wait 0 seals them as they come" {
	for bw in default 0; do
		rm -f "$T/err"
		extra=$'idle_exit 3\npoll_interval 5000'
		[ "$bw" = default ] || extra+=$'\nbatch_wait '$bw
		SIGN_EXTRA=$extra write_conf
		"$BIN/audit-sign" -d -c "$T/a.conf" 2>>"$T/err" &
		pid=$!
		sleep 0.5	# idle: the first pass found nothing
		# Two files' worth: four producers' items 10 ms apart, twice,
		# 400 ms apart (made ready first).  The second four wake a
		# drain whose pass before found work: they wait as well.
		mkdir -p "$T/ready/tmp" "$T/ready/new"
		for i in 1 2 3 4 5 6 7 8; do
			Q=$T/ready ev "w$bw$i" 1
		done
		for i in 1 2 3 4 5 6 7 8; do
			mv "$T/ready/new/w$bw$i" "$Q/new/"
			sleep 0.01
			[ "$i" -ne 4 ] || sleep 0.4
		done
		for _ in $(seq 1 60); do
			[ "$(queued)" -eq 0 ] && break
			sleep 0.05
		done
		assert_equal "$(queued)" 0
		kill "$pid"
		wait "$pid" || true
		batches=$(sed -n 's/.*event=drain.done stage=audit-sign files=[1-9].* batches=\([0-9]*\).*/\1/p' "$T/err" |
		    awk '{ s += $1 } END { print s + 0 }')
		echo "# batch_wait $bw: 8 items in $batches batches" >&3
		if [ "$bw" = default ]; then
			assert_equal "$batches" 2
		else
			[ "$batches" -ge 3 ]
		fi
	done
	run verify
	assert_success
	assert_output --regexp 'PASS .*records=16 '
}

# Scale-out (issue 16): several nodes, each with its own spool, log and
# key, one witness and one sink for all of them.

# node_conf N [LINES...]: node N in $T/nN (spool, log, key slots, export
# state), its configuration $T/nN.conf (audit-sign name
# nodeN.test.example, audit-export hostname nodeN, LINES appended to
# [audit-export]) and its verifier key $T/nN.vkey.
node_conf() {
	local n=$1 d=$T/n$1
	shift
	mk_spool "$d/spool"
	mkdir -p "$d/log" "$d/keys" "$d/state"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER:$RUN_GROUP" "$d/log" "$d/keys" "$d/state"
	{
		printf 'spool_dir %s\nidle_exit 0\n[audit-sign]\nuser %s\n' "$d/spool" "$RUN_USER"
		printf 'log_dir %s\nkey_dir %s\nepoch %s\n' "$d/log" "$d/keys" "$EPOCH"
		printf 'name node%s.test.example\nproducers %s root\n' "$n" "$RUN_USER"
		printf '[audit-export]\nuser %s\nlog_dir %s\nstate_dir %s\n' \
		    "$RUN_USER" "$d/log" "$d/state"
		printf 'hostname node%s\nretry_min 20\nretry_max 200\nretry_time 2\npoll 20\n' "$n"
		printf '%s\n' "$@"
	} > "$T/n$n.conf"
	"$BIN/audit-sign" -c "$T/n$n.conf" --keygen > "$T/n$n.vkey" 2>>"$T/err"
}

# site N SINKS: N nodes exporting to SINKS among "all" (one JSON lines
# file, $T/sink/all.jsonl, for every node), "tls" (the test receiver at
# $SINK_PORT) and "wit" (one witness for all: $T/w.conf, its queue in
# $T/wspool, what it cosigned in $T/wpub, its verifier key $T/wvkey).
site() {
	local n=$1 i logs=
	mkdir -p "$T/sink" "$T/wstate" "$T/wpub"
	mk_spool "$T/wspool"
	(umask 077 && openssl genpkey -algorithm ED25519 -out "$T/wkey.pem" 2>/dev/null)
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER:$RUN_GROUP" "$T/wkey.pem" "$T/wstate" "$T/wpub" "$T/sink"
	for i in $(seq 1 "$n"); do
		node_conf "$i" "sinks $2" \
		    "[audit-export.all]" "type jsonl" "path $T/sink/all.jsonl" \
		    "[audit-export.tls]" "type syslog" "host 127.0.0.1" \
		    "port ${SINK_PORT:-6514}" "ca $T/pki/ca.crt" \
		    "[audit-export.wit]" "type witness" \
		    "queue $T/wspool/audit-witness" "cosigned $T/wpub"
		logs="$logs $T/n$i.vkey"
	done
	printf 'spool_dir %s\nidle_exit 0\n[audit-witness]\nuser %s\nstate_dir %s\ncosigned_dir %s\nkey %s\nname witness.test.example/w1\nlogs%s\nproducers %s root\n' \
	    "$T/wspool" "$RUN_USER" "$T/wstate" "$T/wpub" "$T/wkey.pem" "$logs" "$RUN_USER" > "$T/w.conf"
	"$BIN/audit-witness" -c "$T/w.conf" --vkey > "$T/wvkey" 2>>"$T/err"
}

# node_ev N NAME COUNT: COUNT events queued on node N.
node_ev() {
	Q=$T/n$1/spool/audit-sign ev "$2" "$3"
}

# node_sign N [ARGS] and node_export N [ARGS]: node N's audit-sign and
# audit-export.
node_sign() {
	local n=$1
	shift
	"$BIN/audit-sign" -d -c "$T/n$n.conf" "$@" 2>>"$T/err"
}

node_export() {
	local n=$1
	shift
	"$BIN/audit-export" -c "$T/n$n.conf" "$@" 2>>"$T/err"
}

# node_id N: node N's log id (hex), from its verifier key.
node_id() {
	vkey_id "$T/n$1.vkey"
}

# node_sealed_ids N: every id node N's checkpoints cover, in log order.
node_sealed_ids() {
	sealed_ids "$T/n$1.vkey" "$T/n$1/log"
}

# site_witness [ARGS]: the witness drains its queue once; with "-", one
# submission from standard input (its log on standard output).
site_witness() {
	"$BIN/audit-witness" -d -c "$T/w.conf" "$@" 2>>"$T/err"
}

site_witness_in() {
	"$BIN/audit-witness" -c "$T/w.conf" - 2>&1
}

# note_size N: the size of node N's checkpoint the witness cosigned last.
note_size() {
	sed -n 2p "$T/wpub/$(node_id "$1").note"
}

@test "scale-out (issue 16): one witness cosigns three nodes' logs, each under its own key; a fork or a rollback of one is refused alone; no log passes as another's" {
	site 3 wit
	wq=$T/wspool/audit-witness
	for n in 1 2 3; do
		node_ev "$n" "a$n" $((n + 1))
		node_sign "$n"
		node_export "$n"
	done
	# One queue, three submissions: one per log, each its own origin.
	[ "$(ls "$wq/new" | wc -l)" -eq 3 ]
	for n in 1 2 3; do
		grep -lx "node$n.test.example/$(node_id "$n")" "$wq"/new/* > /dev/null
	done
	cp "$(grep -lx "node1.test.example/$(node_id 1)" "$wq"/new/*)" "$T/sub1-first"
	run site_witness
	assert_success
	[ "$(find "$wq/new" "$wq/reject" -type f | wc -l)" -eq 0 ]
	# A cosigned note per log id, each verifying under its node's key
	# and the witness's.
	[ "$(ls "$T/wpub" | wc -l)" -eq 3 ]
	for n in 1 2 3; do
		[ "$(head -1 "$T/wpub/$(node_id "$n").note")" = "node$n.test.example/$(node_id "$n")" ]
		run "$BIN/audit-verify" -K "$T/n$n.vkey" --witness "$T/wvkey" --cosigned "$T/wpub" -v "$T/n$n/log"
		assert_success
		assert_output --partial "kind=witnessed"
	done
	# Node 1 goes on (history A), node 2 too.
	for d in log keys state; do cp -a "$T/n1/$d" "$T/n1/$d.1"; done
	cp -a "$T/wpub" "$T/wpub.1"
	node_ev 1 fork-a 2
	node_sign 1
	node_export 1
	node_ev 2 b2 3
	node_sign 2
	node_export 2
	run site_witness
	assert_success
	size_a=$(note_size 1)
	size2=$(note_size 2)
	for d in log keys state; do cp -a "$T/n1/$d" "$T/n1/$d.a"; done
	# History B of node 1: the same start, other records, the same
	# size; submitted against what the witness had published then.
	for d in log keys state; do
		rm -rf "${T:?}/n1/$d"
		cp -a "$T/n1/$d.1" "$T/n1/$d"
	done
	node_ev 1 fork-b 2
	node_sign 1
	sed -i "s|^cosigned .*|cosigned $T/wpub.1|" "$T/n1.conf"
	node_export 1
	sub_b=$(grep -lx "node1.test.example/$(node_id 1)" "$wq"/new/*)
	mv "$sub_b" "$T/sub1-b"
	run site_witness_in < "$T/sub1-b"
	assert_equal "$status" 65
	assert_output --partial "rule=fork"
	# A rollback of node 1: its first checkpoint again.
	run site_witness_in < "$T/sub1-first"
	assert_equal "$status" 65
	assert_output --partial "rule=rollback"
	# Node 2's checkpoint presented as node 1's (origin and signature
	# line renamed): node 1's key did not sign it.
	node_ev 2 c2 1
	node_sign 2
	node_export 2
	sub2=$(grep -lx "node2.test.example/$(node_id 2)" "$wq"/new/*)
	mv "$sub2" "$T/sub2"
	sed "s|node2\.test\.example/$(node_id 2)|node1.test.example/$(node_id 1)|g" "$T/sub2" > "$T/sub2as1"
	grep -qx "node1.test.example/$(node_id 1)" "$T/sub2as1"
	run site_witness_in < "$T/sub2as1"
	assert_equal "$status" 65
	assert_output --partial "rule=signature"
	# Node 1's refusals touched nobody else: node 2 and node 3 go on
	# being cosigned, node 1 stays at history A.
	run site_witness_in < "$T/sub2"
	assert_success
	node_ev 3 b3 2
	node_sign 3
	node_export 3
	run site_witness
	assert_success
	[ "$(note_size 1)" -eq "$size_a" ]
	[ "$(note_size 2)" -gt "$size2" ]
	[ "$(note_size 3)" -gt 4 ]
	# History A of node 1 moves on with a consistency proof.
	for d in log keys state; do
		rm -rf "${T:?}/n1/$d"
		cp -a "$T/n1/$d.a" "$T/n1/$d"
	done
	sed -i "s|^cosigned .*|cosigned $T/wpub|" "$T/n1.conf"
	node_ev 1 more 2
	node_sign 1
	node_export 1
	run site_witness
	assert_success
	[ "$(note_size 1)" -gt "$size_a" ]
	for n in 1 2 3; do
		run "$BIN/audit-verify" -K "$T/n$n.vkey" --witness "$T/wvkey" --cosigned "$T/wpub" "$T/n$n/log"
		assert_success
	done
	# Each log verifies under its own key only.
	run "$BIN/audit-verify" -K "$T/n1.vkey" "$T/n2/log"
	assert_equal "$status" 1
	assert_output --partial "kind=trust-anchor"
	# One log id twice in the witness's list (a cloned node's keys
	# beside another key): refused at configuration time.
	sed -i "s|^logs .*|logs $T/n1.vkey $T/n2.vkey $T/n1.vkey|" "$T/w.conf"
	run "$BIN/audit-witness" -n -d -c "$T/w.conf"
	assert_equal "$status" 78
	assert_output --partial "is already followed"
}

# per_log FILE N: node N's ids in FILE (JSON lines, or the TLS receiver's
# syslog lines with SYSLOG=1), in the order they arrived.
per_log() {
	if [ -n "${SYSLOG:-}" ]; then
		sed 's/^[^[]*\[octoAudit@32473 id="\([^"]*\)".*/\1/' "$1"
	else
		ids "$1"
	fi | grep "^$(node_id "$2"):"
}

@test "scale-out (issue 16): two nodes export into one JSON lines file and one TLS receiver at once: every record once, separable by log id and node, nothing lost or repeated after a re-run" {
	mk_certs "$T/pki"
	start_sink --concurrent
	site 2 "all tls"
	for n in 1 2; do
		for f in 1 2 3; do node_ev "$n" "f$f" 40 100; done
		node_sign "$n"
	done
	# Both exporters follow their logs at the same time while both
	# nodes keep sealing (batches of 1024 lines, interleaved).
	pids=
	for n in 1 2; do
		"$BIN/audit-export" -f -c "$T/n$n.conf" 2>>"$T/err" 3>&- &
		pids="$pids $!"
	done
	BG_PIDS="$BG_PIDS $pids"
	for f in 4 5 6 7; do
		for n in 1 2; do node_ev "$n" "f$f" 30 2000; node_sign "$n"; done
	done
	for n in 1 2; do node_sealed_ids "$n" > "$T/want$n"; done
	want=$(cat "$T/want1" "$T/want2" | wc -l)
	wait_lines "$T/sink/all.jsonl" "$want"
	wait_lines "$T/sink.out" "$want"
	for p in $pids; do
		kill "$p"
		wait "$p" || true
	done
	# Every line whole (no two writers' bytes mixed), and each node's
	# items exactly once, in its log order, under its log id.
	python3 - "$T/sink/all.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    json.loads(l)
PY
	for n in 1 2; do
		per_log "$T/sink/all.jsonl" "$n" > "$T/got$n"
		diff "$T/want$n" "$T/got$n"
		SYSLOG=1 per_log "$T/sink.out" "$n" > "$T/tls$n"
		diff "$T/want$n" "$T/tls$n"
	done
	[ "$(wc -l < "$T/sink/all.jsonl")" -eq "$want" ]
	[ "$(wc -l < "$T/sink.out")" -eq "$want" ]
	# The two streams interleave in the shared file: only the ids keep
	# them apart.
	[ "$(ids "$T/sink/all.jsonl" | cut -d: -f1 | uniq | wc -l)" -gt 2 ]
	# Which node: octo.log_id (the log's id, in its verifier key),
	# event.id, observer.hostname (the node's) in the JSON; the
	# syslog HOSTNAME and the structured data's id.
	python3 - "$T/sink/all.jsonl" "$(node_id 1)" "$(node_id 2)" <<'PY'
import json, sys
ids = {sys.argv[2]: "node1", sys.argv[3]: "node2"}
seen = set()
for l in open(sys.argv[1]):
    r = json.loads(l)
    lid = r["octo"]["log_id"]
    assert r["event"]["id"].startswith(lid + ":"), r
    assert r["observer"]["hostname"] == ids[lid], r
    if r["octo"]["type"] == "checkpoint":
        assert r["octo"]["checkpoint"].startswith(ids[lid] + ".test.example/" + lid + "\n")
    seen.add(lid)
assert seen == set(ids), seen
PY
	for n in 1 2; do
		[ "$(grep -c "^<86>1 [^ ]* node$n [^ ]* - [a-z]* \[octoAudit@32473 id=\"$(node_id "$n"):" "$T/sink.out")" -eq "$(wc -l < "$T/want$n")" ]
	done
	# A re-run of both exporters adds nothing anywhere.
	cp "$T/sink/all.jsonl" "$T/all.before"
	cp "$T/sink.out" "$T/tls.before"
	for n in 1 2; do
		run node_export "$n"
		assert_success
	done
	sleep 0.3
	cmp "$T/all.before" "$T/sink/all.jsonl"
	cmp "$T/tls.before" "$T/sink.out"
	# Node 2's exporter killed in the middle of a batch, while node 1
	# goes on: the torn tail it leaves is cut under the file's lock
	# before node 1 appends, and the re-run repeats only node 2's
	# unacknowledged batch.
	printf '{"@timestamp":"2026-12-06T00:00:00Z","event":{"id":"%s:1' "$(node_id 2)" >> "$T/sink/all.jsonl"
	node_ev 1 g 3
	node_sign 1
	run node_export 1
	assert_success
	python3 - "$T/sink/all.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    json.loads(l)
PY
	node_sealed_ids 1 > "$T/want1"
	per_log "$T/sink/all.jsonl" 1 > "$T/got1"
	diff "$T/want1" "$T/got1"
	per_log "$T/sink/all.jsonl" 2 > "$T/got2"
	diff "$T/want2" "$T/got2"
}

# edit_line IN OUT LOGID MATCH FROM TO: IN into OUT, with FROM replaced
# by TO in the first record line of log LOGID that holds MATCH.
edit_line() {
	python3 - "$@" <<'PY'
import sys
src, dst, lid, match, a, b = sys.argv[1:7]
done = False
with open(dst, "w") as o:
    for l in open(src):
        if not done and '"log_id":"%s","seq"' % lid in l and match in l:
            l = l.replace(a, b)
            done = True
        o.write(l)
assert done
PY
}

@test "scale-out (issue 16): audit-verify --set checks every node's log against its own key: a verdict per log and one for the set; a tampered, missing or stale node is named; a merged export is split by log id" {
	site 3 "all wit"
	# Node 3 first: its exporter then stops, so that its newest
	# cosignature ages while it goes on sealing.
	node_ev 3 a 4
	node_sign 3
	node_export 3
	site_witness
	node_ev 3 late 2
	node_sign 3
	sleep 4
	for n in 1 2; do
		node_ev "$n" a 3
		node_sign "$n"
		node_sign "$n" --new-epoch
		node_ev "$n" b 2
		node_sign "$n"
		node_export "$n"
	done
	site_witness
	{
		echo "# the site's audit logs: name, verifier key, log"
		for n in 1 2 3; do
			printf 'node%s\t%s  %s\n' "$n" "$T/n$n.vkey" "$T/n$n/log"
		done
	} > "$T/set"
	# All good: a PASS line per node, then the set's.
	run "$BIN/audit-verify" --set "$T/set"
	assert_success
	for n in 1 2 3; do
		assert_line --regexp "^audit-verify: node$n PASS origin=node$n\.test\.example/$(node_id "$n") records=[0-9]+ "
	done
	assert_line "audit-verify: set PASS logs=3 pass=3 fail=0 unsealed=0 error=0 unlisted=0"
	run "$BIN/audit-verify" -q --set "$T/set"
	assert_success
	assert_output ""
	# The witness: node 3's newest cosignature is older than the limit
	# (its exporter stopped), the others are fresh.
	run "$BIN/audit-verify" --set "$T/set" --witness "$T/wvkey" --cosigned "$T/wpub" --max-age 3
	assert_equal "$status" 2
	assert_line --regexp "^audit-verify: node1 PASS "
	assert_line --regexp "^audit-verify: node2 PASS "
	assert_line --regexp "^audit-verify: node3 UNSEALED seq=[0-9]+ kind=stale .*newest cosignature by witness\.test\.example/w1"
	assert_line --regexp "^audit-verify: set UNSEALED logs=3 pass=2 fail=0 unsealed=1 error=0 unlisted=0 not_passed=node3=UNSEALED$"
	run "$BIN/audit-verify" --set "$T/set" --witness "$T/wvkey" --cosigned "$T/wpub"
	assert_success
	# A checkpoint kept elsewhere applies to its own log; one of no log
	# of the set is an error.
	evil lastnote "$T/n2/log" > "$T/n2.note"
	run "$BIN/audit-verify" --set "$T/set" --checkpoint "$T/n2.note"
	assert_success
	grep -v node2 "$T/set" > "$T/set.13"
	run "$BIN/audit-verify" --set "$T/set.13" --checkpoint "$T/n2.note"
	assert_equal "$status" 3
	assert_line --regexp "^audit-verify: node1 PASS "
	assert_line "audit-verify: ERROR --checkpoint $T/n2.note: a checkpoint of no log of the set"
	# The merged export: one file for all three nodes, split by log id,
	# each part verified under its node's key.
	node_export 3
	for n in 1 2 3; do printf 'node%s %s\n' "$n" "$(cat "$T/n$n.vkey")"; done > "$T/set.keys"
	run "$BIN/audit-verify" --set "$T/set.keys" "$T/sink/all.jsonl"
	assert_success
	for n in 1 2 3; do
		assert_line --regexp "^audit-verify: node$n PASS origin=node$n\.test\.example/"
	done
	run "$BIN/audit-verify" -j --set "$T/set.keys" "$T/sink/all.jsonl"
	assert_success
	python3 - <<PY
import json
lines = [json.loads(l) for l in """$output""".splitlines()]
assert [l.get("name") for l in lines[:3]] == ["node1", "node2", "node3"], lines
assert all(l["verdict"] == "PASS" for l in lines[:3])
assert lines[3]["set"] == "PASS" and lines[3]["logs"] == 3 and lines[3]["not_passed"] == []
PY
	# A node the set does not name: its lines are reported, not passed.
	head -2 "$T/set.keys" > "$T/set.12"
	run "$BIN/audit-verify" --set "$T/set.12" "$T/sink/all.jsonl"
	assert_equal "$status" 2
	assert_line --regexp "^audit-verify: UNSEALED kind=unlisted log_id=$(node_id 3) lines=[0-9]+: "
	assert_line --partial "set UNSEALED logs=2 pass=2 fail=0 unsealed=0 error=0 unlisted=1"
	# One line of node 2 altered in the merged file: node 2 FAILs,
	# named; the others pass.
	edit_line "$T/sink/all.jsonl" "$T/alt.jsonl" "$(node_id 2)" \
	    '"outcome":"success"' '"outcome":"success"' '"outcome":"failure"'
	run "$BIN/audit-verify" --set "$T/set.keys" "$T/alt.jsonl"
	assert_equal "$status" 1
	assert_line --regexp "^audit-verify: node1 PASS "
	assert_line --regexp "^audit-verify: node2 FAIL kind=content line=[0-9]+: "
	assert_line --regexp "^audit-verify: node3 PASS "
	assert_line "audit-verify: set FAIL logs=3 pass=2 fail=1 unsealed=0 error=0 unlisted=0 not_passed=node2=FAIL"
	# A line of node 2 relabelled as node 1's (its log id in every
	# field): node 1's key did not seal it, and node 2 misses it.
	edit_line "$T/sink/all.jsonl" "$T/moved.jsonl" "$(node_id 2)" \
	    '"type":"record"' "$(node_id 2)" "$(node_id 1)"
	run "$BIN/audit-verify" --set "$T/set.keys" "$T/moved.jsonl"
	assert_equal "$status" 1
	assert_line --regexp "^audit-verify: node1 FAIL seq=[0-9]+ kind=equivocation .*a second, different record"
	assert_line --regexp "^audit-verify: node2 FAIL seq=[0-9]+ kind=deletion "
	assert_line --regexp "^audit-verify: node3 PASS "
	# A record of node 2's log rewritten (CRC and chain repaired),
	# node 3's log missing: the set FAILs (the worst), both named.
	cp -a "$T/n2/log" "$T/n2/log.clean"
	k=$(evil frames "$T/n2/log" | awk '$4 == "record" { print $5; exit }')
	evil edit "$T/n2/log" "$k" '{"tool":"forged"}'
	mv "$T/n3/log" "$T/n3/log.gone"
	run "$BIN/audit-verify" --set "$T/set"
	assert_equal "$status" 1
	assert_line --regexp "^audit-verify: node1 PASS "
	assert_line --regexp "^audit-verify: node2 FAIL seq=[0-9]+ kind=content .*records [0-9.]+ were altered"
	assert_line --regexp "^audit-verify: node3 ERROR kind=io .*n3/log"
	assert_line "audit-verify: set FAIL logs=3 pass=1 fail=1 unsealed=0 error=1 unlisted=0 not_passed=node2=FAIL,node3=ERROR"
	# Node 3 alone missing: 3 (could not verify) outranks nothing worse.
	rm -rf "$T/n2/log"
	mv "$T/n2/log.clean" "$T/n2/log"
	run "$BIN/audit-verify" --set "$T/set"
	assert_equal "$status" 3
	assert_line --partial "set ERROR logs=3 pass=2 fail=0 unsealed=0 error=1"
	mv "$T/n3/log.gone" "$T/n3/log"
	# A node's line naming another node's log: the key decides, the
	# log is not the one its key names.
	sed "s|^node1\(.*\)n1/log$|node1\1n2/log|" "$T/set" > "$T/set.swap"
	grep -q "n1.vkey.*n2/log" "$T/set.swap"
	run "$BIN/audit-verify" --set "$T/set.swap"
	assert_equal "$status" 1
	assert_line --regexp "^audit-verify: node1 FAIL .*kind=trust-anchor"
	assert_line --partial "not_passed=node1=FAIL"
	# Hostile or wrong set files: usage errors (3), nothing verified.
	printf 'node1 %s %s\nnode1 %s %s\n' "$T/n1.vkey" "$T/n1/log" "$T/n2.vkey" "$T/n2/log" > "$T/bad"
	run "$BIN/audit-verify" --set "$T/bad"
	assert_equal "$status" 3
	assert_output --partial "the name node1 twice"
	printf 'node1 %s %s\nnode2 %s %s\n' "$T/n1.vkey" "$T/n1/log" "$T/n1.vkey" "$T/n2/log" > "$T/bad"
	run "$BIN/audit-verify" --set "$T/bad"
	assert_equal "$status" 3
	assert_output --partial "have one log id"
	printf 'node1 %s\n' "$T/n1.vkey" > "$T/bad"
	run "$BIN/audit-verify" --set "$T/bad"
	assert_equal "$status" 3
	assert_output --partial "no path and no export"
	for bad in "node/1 $T/n1.vkey $T/n1/log" "node1 notakey $T/n1/log" \
	    "node1 $T/n1.vkey $T/n1/log extra" "node1" \
	    "node1 $T/n1.vkey $(head -c 5000 /dev/zero | tr '\0' x)"; do
		printf '%s\n' "$bad" > "$T/bad"
		run "$BIN/audit-verify" --set "$T/bad"
		assert_equal "$status" 3
		refute_output --partial "PASS"
	done
	printf 'node1 %s %s\0\n' "$T/n1.vkey" "$T/n1/log" > "$T/bad"
	run "$BIN/audit-verify" --set "$T/bad"
	assert_equal "$status" 3
	: > "$T/bad"
	run "$BIN/audit-verify" --set "$T/bad"
	assert_equal "$status" 3
	run "$BIN/audit-verify" --set "$T/set" -K "$T/n1.vkey"
	assert_equal "$status" 3
}
