#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Packaging: make install, systemd units checked offline, manuals lint-clean.

load helpers

setup() {
	mk_tmp
}

teardown() {
	rm -rf "$T"
}

@test "make install puts binaries, manuals, samples and units under DESTDIR" {
	run make -s -C "$BATS_TEST_DIRNAME/.." install DESTDIR="$T/root" PREFIX=/usr
	assert_success
	for f in usr/sbin/tentacle-recv usr/bin/tentacle-send \
	    usr/share/man/man8/tentacle-recv.8 usr/share/man/man1/tentacle-send.1 \
	    usr/share/man/man5/octospool.conf.5 usr/share/man/man5/octospool-spool.5 \
	    etc/octospool/octospool.conf.sample \
	    usr/lib/systemd/system/tentacle-recv.service \
	    usr/lib/systemd/system/tentacle-recv.socket \
	    usr/sbin/audit-witness usr/share/man/man8/audit-witness.8 \
	    usr/lib/systemd/system/audit-witness.service \
	    usr/lib/systemd/system/audit-witness.path \
	    usr/lib/systemd/system/audit-witness.timer \
	    usr/lib/sysusers.d/octospool.conf usr/lib/tmpfiles.d/octospool.conf; do
		assert_file_exists "$T/root/$f"
	done
	run stat -c %a "$T/root/etc/octospool/octospool.conf.sample"
	assert_output 640
}

@test "the sample configuration parses" {
	mk_spool "$T/spool"
	mk_keys
	# The shipped users and keys need not exist here: the test's stand in.
	sed -E "s|/var/spool/octospool|$T/spool|; /^ssl_/d; /^client_cert/d;
	    s|/etc/octospool/keys/|$KEYS/|;
	    s/^(user|producer) octospool-[a-z]+\$/\1 $RUN_USER/;
	    s/^producers .*/producers $RUN_USER root/" \
	    "$BATS_TEST_DIRNAME/../etc/octospool.conf" > "$T/o.conf"
	run "$BIN/tentacle-recv" -n -F "$T/o.conf"
	assert_success
	run "$BIN/xml-validate" -n -c "$T/o.conf"
	assert_success
	run "$BIN/audit-sign" -n -c "$T/o.conf"
	assert_success
	# Unedited, the producer lists name the shipped users.
	grep -q '^producer octospool-recv$' "$BATS_TEST_DIRNAME/../etc/octospool.conf"
	grep -q '^producer octospool-xml$' "$BATS_TEST_DIRNAME/../etc/octospool.conf"
	grep -q '^producer octospool-auth$' "$BATS_TEST_DIRNAME/../etc/octospool.conf"
	grep -q '^producers octospool-recv octospool-xml octospool-auth octospool-db octospool-conf root @octospool-admin$' \
	    "$BATS_TEST_DIRNAME/../etc/octospool.conf"
}

@test "systemd units verify offline and each exposure is at most 2.0" {
	command -v systemd-analyze >/dev/null || fail "systemd-analyze missing"
	mkdir -p "$T/units"
	for u in "$BATS_TEST_DIRNAME"/../etc/systemd/*; do
		sed "s|/usr/local/sbin/|$(cd "$BIN" && pwd)/|" "$u" > "$T/units/$(basename "$u")"
	done
	cd "$T/units"
	run systemd-analyze verify --man=no ./*.service ./*.socket
	assert_success
	refute_output --partial "Unknown"
	for s in ./*.service; do
		score=$(systemd-analyze security --offline=yes "$s" 2>/dev/null |
		    sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
		echo "# $s exposure $score" >&3
		[ -n "$score" ]
		awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
	done
}
