#!/bin/sh
# SPDX-License-Identifier: ISC
# conf-verify.sh: check a file fetched from octospool's served tree
# against its signed manifest FILE.sig, with OpenSSL and POSIX tools only,
# for agent hosts (conf-dist(8), "Checking on the agent").
#
#   conf-verify.sh PUBKEY FILE [AGENT [STATEDIR]]
#
# PUBKEY   conf-dist's public key (sign.pub), copied to the agent host
# FILE     the fetched file (KEY.conf, KEY.md5, NAME.zip, NAME.rcmd...);
#          its manifest is FILE.sig
# AGENT    this agent's name: the manifest must be for md5(AGENT)
# STATEDIR where the last serial seen for each file name is kept: an
#          older serial (a rollback) is refused
#
# Exit 0 and "FILE: ok" when every check passes; otherwise exit 1 and the
# reason on stderr.  The checks, in order: the last line of FILE.sig is
# "Signature: <base64>" and is an Ed25519 signature, by PUBKEY, of every
# line before it; the manifest names this file; its Size and Sha256 are
# FILE's; with AGENT, its Agent line is md5(AGENT); with STATEDIR, its
# Serial is not below the last one seen for this name (then it is kept).
set -eu

fail() {
	echo "conf-verify: $file: $*" >&2
	exit 1
}

[ $# -ge 2 ] && [ $# -le 4 ] ||
    { echo "usage: conf-verify.sh PUBKEY FILE [AGENT [STATEDIR]]" >&2; exit 2; }
pub=$1 file=$2 agent=${3:-} statedir=${4:-}
name=${file##*/}
sig=$file.sig
[ -f "$file" ] || fail "no such file"
[ -f "$sig" ] || fail "no manifest $sig"
[ "$(wc -c < "$sig")" -le 1024 ] || fail "manifest too large"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. The signature: the last line; the signed bytes: every line before it.
last=$(tail -n 1 "$sig")
case $last in
"Signature: "*) ;;
*) fail "the last line of the manifest is not its Signature" ;;
esac
sed '$d' "$sig" > "$tmp/manifest"
printf '%s' "${last#Signature: }" | openssl base64 -d -A > "$tmp/sig"
openssl pkeyutl -verify -pubin -inkey "$pub" -rawin -in "$tmp/manifest" \
    -sigfile "$tmp/sig" > /dev/null 2>&1 || fail "BAD signature"

# 2. What it signs: this file, these bytes.
field() {
	sed -n "s/^$1: //p" "$tmp/manifest"
}
[ "$(sed -n 1p "$tmp/manifest")" = "Octospool-Manifest: 1" ] ||
    fail "not an octospool manifest"
[ "$(field File)" = "$name" ] ||
    fail "the manifest is for $(field File), not $name"
[ "$(field Size)" = "$(wc -c < "$file" | tr -d ' ')" ] ||
    fail "size differs from the manifest"
[ "$(field Sha256)" = "$(openssl dgst -sha256 -r "$file" | cut -c1-64)" ] ||
    fail "SHA-256 differs from the manifest"

# 3. For this agent.
if [ -n "$agent" ]; then
	key=$(printf '%s' "$agent" | openssl dgst -md5 -r | cut -c1-32)
	[ "$(field Agent)" = "$key" ] ||
	    fail "not for agent $agent (key $key)"
fi

# 4. Never older than what was seen before.
if [ -n "$statedir" ]; then
	serial=$(field Serial)
	case $serial in
	'' | *[!0-9]*) fail "bad Serial" ;;
	esac
	seen=0
	[ ! -f "$statedir/$name.serial" ] || seen=$(cat "$statedir/$name.serial")
	[ "$serial" -ge "$seen" ] ||
	    fail "ROLLBACK: serial $serial is older than $seen, seen before"
	printf '%s\n' "$serial" > "$statedir/.$name.serial.tmp"
	mv -f "$statedir/.$name.serial.tmp" "$statedir/$name.serial"
fi
echo "$file: ok"
