#!/bin/bash
# make demo: build, make a demo PKI, start tentacle-recv with TLS and
# client certificates on 127.0.0.1, send the real agent files with
# tentacle-send, fetch a remote configuration back with -g, show what
# arrived and the log records, and stop everything started here.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
make -s -j2 all

demo=$(mktemp -d /tmp/octospool-demo.XXXXXX)
chmod 0755 "$demo"
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	echo
	echo "demo: stopped tentacle-recv; files left in $demo for a look"
}
trap cleanup EXIT

user=()
owner=""
if [ "$(id -u)" -eq 0 ]; then
	user=(--user nobody)
	owner=nobody:nogroup
fi
sh tools/mkspool.sh "$demo/spool" "$owner"
sh tools/mkcerts.sh "$demo/pki" research-agent-01 >/dev/null
chmod 0755 "$demo/pki"
[ -n "$owner" ] && chgrp nogroup "$demo/pki"/*.key
# One configuration for the drains (tentacle-recv gets its options below).
{
	echo "spool_dir $demo/spool"
	echo "[xml-validate]"
	[ -n "$owner" ] && echo "user nobody"
} > "$demo/octospool.conf"
: > "$demo/recv.conf"

# A remote configuration to serve, as conf-dist will publish it.
md5=238cd44ae5e05cc2dd832a79a3f5ddab
cp tests/data/samples/remote-config/$md5.conf "$demo/spool/conf-dist/out/conf/"
cp tests/data/samples/remote-config/$md5.md5 "$demo/spool/conf-dist/out/md5/"

echo "== starting tentacle-recv (TLS 1.2+, client certificates from the demo CA)"
bin/tentacle-recv -F "$demo/recv.conf" --spool "$demo/spool" \
    -a 127.0.0.1 -p 0 --port-file "$demo/port" "${user[@]}" \
    -e "$demo/pki/server.crt" -k "$demo/pki/server.key" \
    -f "$demo/pki/ca.crt" 2>"$demo/recv.log" &
pid=$!
for _ in $(seq 1 100); do
	[ -s "$demo/port" ] && break
	sleep 0.05
done
port=$(cat "$demo/port")
echo "   listening on 127.0.0.1:$port (pid $pid)"

tls=(-a 127.0.0.1 -p "$port" -e "$demo/pki/client.crt"
    -k "$demo/pki/client.key" -f "$demo/pki/ca.crt")
echo
echo "== sending the real agent files over Tentacle/TLS"
bin/tentacle-send "${tls[@]}" -v tests/data/samples/*.data
echo
echo "== fetching the agent's remote configuration back (-g)"
mkdir -p "$demo/agent"
(cd "$demo/agent" && "$top/bin/tentacle-send" "${tls[@]}" -g "$md5.md5" "$md5.conf")
ls -l "$demo/agent"
cmp "$demo/agent/$md5.conf" "$demo/spool/conf-dist/out/conf/$md5.conf" &&
    echo "   $md5.conf: identical to the served copy"

echo
echo "== a hostile name is refused before any data is accepted"
bin/tentacle-send "${tls[@]}" "tests/data/bad/b28-name-without-sequence-number.data" ||
    echo "   (tentacle-send exited $?: the server refused the name)"

echo
echo "== a hostile file with a proper name gets in, for xml-validate to judge"
bin/tentacle-send "${tls[@]}" tests/data/bad/b02-xxe-local-file.1711622060.data
echo
echo "== what arrived in spool/xml-validate/new (the next stage's queue)"
ls -l "$demo/spool/xml-validate/new"
echo
echo "== the envelope of one item (connection facts travel with the data)"
first=$(ls "$demo/spool/xml-validate/new" | head -1)
sed '/^$/q' "$demo/spool/xml-validate/new/$first"
echo
echo "== xml-validate drains its queue into spool/agent-auth/new"
# The samples carry fixed 2026 dates: judge them at a fixed time.
bin/xml-validate -d -c "$demo/octospool.conf" --now 1795816600 2>&1 | tail -4
echo "   accepted, now in agent-auth/new:"
ls "$demo/spool/agent-auth/new" | sed 's/^/     /'
echo "   refused, in xml-validate/reject with a reason:"
for r in "$demo"/spool/xml-validate/reject/*.reason; do
	[ -e "$r" ] || continue
	sed -n 's/^item=/     /p; s/^reason=/       reason: /p' "$r"
done
echo
echo "== audit events queued for audit-sign"
cat "$demo"/spool/audit-sign/new/* | head -5
echo
echo "== the server's log records"
cat "$demo/recv.log"
