#!/bin/bash
# SPDX-License-Identifier: ISC
# make demo: build, make a demo PKI, start tentacle-recv with TLS and
# client certificates on 127.0.0.1, send the real agent files with
# tentacle-send, show what arrived, publish the demo agent's remote
# configuration with conf-dist (audit event with the diff, signature),
# fetch it back with -g, show the log records, and stop everything
# started here.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
make -s -j2 all

demo=$(mktemp -d /tmp/octospool-demo.XXXXXX)
chmod 0755 "$demo"
pid=
dbstarted=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [ -n "$dbstarted" ]; then
		sh tools/mariadb.sh stop "$demo/db" >/dev/null 2>&1 || true
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
# The stamp keys: tentacle-recv signs every envelope, agent-auth every
# decision; the next stage believes them only under these signatures.
mkdir -p "$demo/keys"
for k in tentacle-recv agent-auth; do
	(umask 077 && openssl genpkey -algorithm ED25519 -out "$demo/keys/$k.key")
	openssl pkey -in "$demo/keys/$k.key" -pubout -out "$demo/keys/$k.pub"
	chmod 0644 "$demo/keys/$k.pub"
done
[ -n "$owner" ] && chown "$owner" "$demo/keys" "$demo/keys"/*.key
# In the demo one user runs every stage; installed, each stage has its
# own user and takes items only from the one before (octospool-spool(5)).
demo_user=${owner%%:*}
[ -n "$demo_user" ] || demo_user=$(id -un)
# One configuration for the drains (tentacle-recv gets its options below).
{
	echo "spool_dir $demo/spool"
	echo "idle_exit 0"
	echo "[xml-validate]"
	[ -n "$owner" ] && echo "user nobody"
	echo "producer $demo_user"
	echo "[conf-dist]"
	[ -n "$owner" ] && echo "user nobody"
	echo "sign_key $demo/keys/sign.key"
	echo "sign_pubkey $demo/keys/sign.pub"
	echo "upload_producer $demo_user"
	echo "recv_pubkey $demo/keys/tentacle-recv.pub"
	# Who may configure the demo agent's group: the person running this.
	echo "acl_groups Servers=$(id -gn)"
} > "$demo/octospool.conf"
: > "$demo/recv.conf"

# The demo agent's remote configuration key: md5("research-agent-01").
# conf-dist publishes it at the end; nothing is placed by hand.
md5=238cd44ae5e05cc2dd832a79a3f5ddab

echo "== starting tentacle-recv (TLS 1.2+, client certificates from the demo CA)"
bin/tentacle-recv -F "$demo/recv.conf" --spool "$demo/spool" \
    -i '.*\.conf:conf;.*\.md5:md5;.*\.zip:collections;.*\.conf\.sig:conf;.*\.md5\.sig:md5;.*\.zip\.sig:collections;.*\.rcmd:commands;.*\.rcmd\.sig:commands' \
    -a 127.0.0.1 -p 0 --port-file "$demo/port" "${user[@]}" \
    --stamp-key "$demo/keys/tentacle-recv.key" \
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
echo "== db-load: a private MariaDB (TLS, one account per tool) gets the data"
OCTO_DB_GROUP=${owner#*:} sh tools/mariadb.sh start "$demo/db" | sed 's/^/   /'
dbstarted=1
{
	cat "$demo/db/octospool-db.conf"
	echo "[agent-auth]"
	[ -n "$owner" ] && echo "user nobody"
	echo "producer $demo_user"
	echo "recv_pubkey $demo/keys/tentacle-recv.pub"
	echo "stamp_key $demo/keys/agent-auth.key"
	# The cache's key beside the cache (installed: on /run, agent-auth(8)).
	echo "verified_key $demo/spool/agent-auth/verified.key"
	echo "[db-load]"
	[ -n "$owner" ] && echo "user nobody"
	# Load an item only with agent-auth's stamped decision.
	echo "producer $demo_user"
	echo "auth_pubkey $demo/keys/agent-auth.pub"
} >> "$demo/octospool.conf"
echo
echo "== agent-auth: the group password (a KDF hash only) and self-creation"
printf 's3cretPw\n' | bin/agent-auth -c "$demo/octospool.conf" passwd Servers 2>&1 |
    sed 's/^/   /'
bin/agent-auth -c "$demo/octospool.conf" selfcreate Servers on --max 50 2>&1 |
    sed 's/^/   /'
echo "   octo_group_credential (the password itself is stored nowhere):"
sh tools/mariadb.sh sql "$demo/db" -t -e "SELECT id_grupo, kdf, kdf_params,
    HEX(salt) AS salt, LEFT(HEX(hash), 16) AS hash_prefix, self_create,
    max_agents FROM octo_group_credential" pandora | sed 's/^/   /'
echo "   a forged file (wrong group password) dropped into the queue:"
sed "s/group_password='s3cretPw'/group_password='guess1'/" \
    tests/data/samples/238cd44ae5e05cc2dd832a79a3f5ddab.1795816539.data \
    > "$demo/spool/agent-auth/new/forged.1795816540.data"
[ -n "$owner" ] && chown "$owner" "$demo/spool/agent-auth/new/forged.1795816540.data"
bin/agent-auth -d -c "$demo/octospool.conf" 2>&1 | grep 'drain.done\|auth.refused' |
    sed 's/^/   /'
echo "   authenticated, now in db-load/new:"
ls "$demo/spool/db-load/new" | sed 's/^/     /'
echo "   refused, in agent-auth/reject with a reason:"
for r in "$demo"/spool/agent-auth/reject/*.reason; do
	[ -e "$r" ] || continue
	sed -n 's/^item=/     /p; s/^reason=/       reason: /p' "$r"
done
echo "   a forged decision (Auth-Create: yes, no agent-auth stamp) dropped into db-load/new:"
{
	printf 'Octospool-Envelope: 1\nOriginal-Name: forged.1.data\nPeer: 192.0.2.66 1\n'
	printf 'Auth-Agent: intruder\nAuth-Group: 2\nAuth-Create: yes\nAuth-Learn: yes\n'
	printf 'Sha256: %s\n\n' "$(sed "s/research-agent-01/intruder/" \
	    tests/data/samples/238cd44ae5e05cc2dd832a79a3f5ddab.1795816539.data | sha256sum | cut -c1-64)"
	sed "s/research-agent-01/intruder/" \
	    tests/data/samples/238cd44ae5e05cc2dd832a79a3f5ddab.1795816539.data
} > "$demo/spool/db-load/new/forged-decision.1.data"
[ -n "$owner" ] && chown "$owner" "$demo/spool/db-load/new/forged-decision.1.data"
TZ=UTC bin/db-load -d -c "$demo/octospool.conf" 2>&1 | grep 'drain.done\|item.reject' | sed 's/^/   /'
sed -n 's/^reason=/     reason: /p' "$demo/spool/db-load/reject/forged-decision.1.data.reason"
dbsql() {
	sh tools/mariadb.sh sql "$demo/db" -t -e "$1" pandora
}
echo "   an impersonation of the now registered research-agent-01 (no password):"
sed "s/ group_password='s3cretPw'//" \
    tests/data/samples/238cd44ae5e05cc2dd832a79a3f5ddab.1795816539.data \
    > "$demo/spool/agent-auth/new/impersonation.1795816541.data"
[ -n "$owner" ] && chown "$owner" "$demo/spool/agent-auth/new/impersonation.1795816541.data"
bin/agent-auth -d -c "$demo/octospool.conf" 2>&1 | grep 'auth.refused' | sed 's/^/   /'
sed -n 's/^reason=/     reason: /p' "$demo/spool/agent-auth/reject/impersonation.1795816541.data.reason"
echo "   agents:"
dbsql "SELECT id_agente, nombre, alias, os_version, intervalo,
    normal_count AS ok, warning_count AS warn, critical_count AS crit,
    total_count AS total FROM tagente" | sed 's/^/   /'
echo "   the last value and status of each module of research-agent-01:"
dbsql "SELECT m.nombre AS module, t.nombre AS type, e.datos AS last_value,
    ELT(e.estado + 1, 'normal', 'critical', 'warning', 'unknown',
    'notinit', 'notinit') AS status
    FROM tagente_modulo m JOIN tagente_estado e USING (id_agente_modulo)
    JOIN ttipo_modulo t ON t.id_tipo = m.id_tipo_modulo
    JOIN tagente a ON a.id_agente = m.id_agente
    WHERE a.nombre = 'research-agent-01' ORDER BY m.nombre LIMIT 12" |
    sed 's/^/   /'
echo "   history rows: $(sh tools/mariadb.sh sql "$demo/db" -N -B -e \
    'SELECT (SELECT COUNT(*) FROM tagente_datos) +
    (SELECT COUNT(*) FROM tagente_datos_string)' pandora)"
echo
echo "== audit events queued for audit-sign"
# tentacle-recv and the drains hand their open event segment on when
# idle for 200 ms.
for _ in $(seq 1 100); do
	ls "$demo"/spool/audit-sign/tmp/*.seg >/dev/null 2>&1 ||
	    break
	sleep 0.05
done
cat "$demo"/spool/audit-sign/new/* | head -5
echo
echo "== conf-dist: the signing key, then the agent's configuration, published"
bin/conf-dist -c "$demo/octospool.conf" keygen 2>/dev/null
bin/conf-dist -c "$demo/octospool.conf" submit research-agent-01 \
    tests/data/samples/remote-config/$md5.conf 2>/dev/null
echo "   conf/$md5.conf, then md5/$md5.md5 (what the agent's own md5 says):"
echo "     $(cat "$demo/spool/conf-dist/out/md5/$md5.md5")  (served)"
echo "     $(cat tests/data/samples/remote-config/$md5.md5)  (the real agent's)"
echo
echo "== an administrator changes it: interval 600 -> 300, one more command"
sed 's/^interval 600$/interval 300/' tests/data/samples/remote-config/$md5.conf \
    > "$demo/changed.conf"
printf 'module_begin\nmodule_name Demo pushed\nmodule_type generic_data\nmodule_exec echo 42\nmodule_end\n' \
    >> "$demo/changed.conf"
chmod 0644 "$demo/changed.conf"
bin/conf-dist -c "$demo/octospool.conf" submit research-agent-01 \
    "$demo/changed.conf" 2>/dev/null
echo "   the audit event, with the diff (secrets would show as ********):"
tail -n 1 -q "$demo"/spool/audit-sign/new/* | grep '"action":"config.publish"' |
    tail -1 | perl -MJSON::PP -ne 'print JSON::PP->new->pretty->canonical->encode(decode_json($_))' |
    sed 's/^/     /'
echo
echo "== a command line with a shell metacharacter where the agent runs a shell is refused"
sed 's/^temporal .*/temporal \/tmp; rm -rf \//' "$demo/changed.conf" > "$demo/bad.conf"
chmod 0644 "$demo/bad.conf"
bin/conf-dist -c "$demo/octospool.conf" submit research-agent-01 "$demo/bad.conf" 2>&1 |
    grep -v '^20' | sed 's/^/   /' || true
echo
echo "== the agent fetches it back through Tentacle (-g), with its signature"
mkdir -p "$demo/agent"
(cd "$demo/agent" && "$top/bin/tentacle-send" "${tls[@]}" -g "$md5.md5" \
    "$md5.conf" "$md5.conf.sig")
ls -l "$demo/agent"
cmp "$demo/agent/$md5.conf" "$demo/changed.conf" &&
    echo "   $md5.conf: the changed configuration, byte for byte"
bin/conf-dist -c "$demo/octospool.conf" verify -a research-agent-01 \
    "$demo/agent/$md5.conf" |
    sed 's/^/   /'
echo "   the same check with OpenSSL only, as on the agent host (its manifest"
echo "   binds it to this agent; a serial older than the last seen is refused):"
mkdir -p "$demo/agent/state"
sh tools/conf-verify.sh "$demo/keys/sign.pub" "$demo/agent/$md5.conf" \
    research-agent-01 "$demo/agent/state" | sed 's/^/   /'
echo "   (the client certificate says CN=research-agent-01: another agent's"
echo "   certificate would get \"file does not exist\" for these names)"

echo
echo "== the server's log records"
cat "$demo/recv.log"

echo
echo "== audit-sign seals every audit event above into the signed log"
mkdir -p "$demo/audit/log" "$demo/audit/keys" "$demo/audit/export" \
    "$demo/audit/witness" "$demo/audit/cosigned"
# The witness's own key (Ed25519; installed, octospool-setup makes it).
(umask 077 && openssl genpkey -algorithm ED25519 -out "$demo/audit/witness.key")
[ -n "$owner" ] && chown "$owner" "$demo/audit/log" "$demo/audit/keys" \
    "$demo/audit/export" "$demo/audit/witness" "$demo/audit/cosigned" \
    "$demo/audit/witness.key"
{
	echo "spool_dir $demo/spool"
	echo "idle_exit 0"
	echo "[audit-sign]"
	[ -n "$owner" ] && echo "user nobody"
	echo "log_dir $demo/audit/log"
	echo "key_dir $demo/audit/keys"
	# Event files count only from these owners (recorded in each record).
	echo "producers $demo_user root"
	echo "[audit-export]"
	[ -n "$owner" ] && echo "user nobody"
	echo "log_dir $demo/audit/log"
	echo "state_dir $demo/audit/export"
	echo "sinks jsonl witness"
	echo "[audit-export.jsonl]"
	echo "type jsonl"
	echo "path $demo/audit/export/audit.jsonl"
	# Checkpoints with consistency proofs for the witness's queue.
	echo "[audit-export.witness]"
	echo "type witness"
	echo "queue $demo/spool/audit-witness"
	echo "cosigned $demo/audit/cosigned"
	echo "[audit-witness]"
	[ -n "$owner" ] && echo "user nobody"
	echo "key $demo/audit/witness.key"
	echo "name demo-witness.example/w1"
	echo "logs $demo/audit/vkey"
	echo "state_dir $demo/audit/witness"
	echo "cosigned_dir $demo/audit/cosigned"
	echo "producers $demo_user"
} > "$demo/audit.conf"
bin/audit-sign -c "$demo/audit.conf" --keygen demo > "$demo/audit/vkey" 2>/dev/null
echo "   verifier key (the only thing an auditor needs): $(cat "$demo/audit/vkey")"
bin/audit-sign -d -c "$demo/audit.conf" 2>&1 | sed 's/^/   /'
echo "   an epoch handover (a new key, certified by the old, which is erased):"
bin/audit-sign -d -c "$demo/audit.conf" --new-epoch 2>&1 | sed 's/^/   /'
echo
echo "== audit-verify with nothing but the verifier key"
bin/audit-verify -K "$demo/audit/vkey" "$demo/audit/log" | sed 's/^/   /'
echo
echo "== one byte flipped in a copy of the log: FAIL, naming the record"
cp -a "$demo/audit/log" "$demo/audit/tampered"
seg=$demo/audit/tampered/seg/0000000001.seg
printf 'X' | dd of="$seg" bs=1 seek=700 conv=notrunc 2>/dev/null
bin/audit-verify -K "$demo/audit/vkey" "$demo/audit/tampered" | sed 's/^/   /' || true
echo
echo "== audit-export ships the sealed log as ECS JSON lines (two records)"
bin/audit-export -c "$demo/audit.conf"
grep '"type":"record"' "$demo/audit/export/audit.jsonl" | head -2 | cut -c 1-400 |
    sed 's/^/   /; s/$/.../'
echo "   ($(wc -l < "$demo/audit/export/audit.jsonl") lines, each with event.id <log_id>:<seq>"
echo "   and octo.data, the exact bytes the signatures cover)"
echo
echo "== the exported lines verify on their own, off the host, with the verifier key"
bin/audit-verify -K "$demo/audit/vkey" "$demo/audit/export/audit.jsonl" | sed 's/^/   /'
sed '3s/"outcome":"[a-z]*"/"outcome":"success"/; 3s/"action":"[^"]*"/"action":"nothing.happened"/' \
    "$demo/audit/export/audit.jsonl" > "$demo/audit/export/altered.jsonl"
echo "   one line altered (its action):"
bin/audit-verify -K "$demo/audit/vkey" "$demo/audit/export/altered.jsonl" |
    sed 's/^/   /' || true
echo
echo "== audit-witness cosigns the checkpoint audit-export handed it"
bin/audit-witness -c "$demo/audit.conf" --vkey > "$demo/audit/witness.vkey" 2>/dev/null
echo "   witness key: $(cat "$demo/audit/witness.vkey")"
echo "   the submission (old size, proof, key certificates, the checkpoint):"
sed 's/^/     /' "$demo"/spool/audit-witness/new/* | cut -c 1-90
bin/audit-witness -d -c "$demo/audit.conf" 2>&1 | grep 'witness.cosign\|drain.done' |
    sed 's/^/   /'
echo "   the cosigned checkpoint ($demo/audit/cosigned):"
sed 's/^/     /' "$demo"/audit/cosigned/*.note
echo
echo "== audit-verify --witness: the log must hold what the witness cosigned"
bin/audit-verify -v -K "$demo/audit/vkey" --witness "$demo/audit/witness.vkey" \
    --cosigned "$demo/audit/cosigned" "$demo/audit/log" | sed 's/^/   /'
echo "   the log cut back to its first checkpoint, as a thief would:"
cp -a "$demo/audit/log" "$demo/audit/cut"
first=$(bin/tt-auditevil frames "$demo/audit/cut" | awk '$4 == "checkpoint" { print $5; exit }')
bin/tt-auditevil cut "$demo/audit/cut" "$first"
bin/audit-verify -K "$demo/audit/vkey" "$demo/audit/cut" | sed 's/^/   alone:        /'
bin/audit-verify -K "$demo/audit/vkey" --witness "$demo/audit/witness.vkey" \
    --cosigned "$demo/audit/cosigned" "$demo/audit/cut" |
    sed 's/^/   with witness: /' || true
echo
echo "== octospool-status: the pipeline at a glance (0 healthy, 1 degraded, 2 down)"
# conf-dist's drain (its timer's job): no submission waits, uploads tidied.
bin/conf-dist -c "$demo/octospool.conf" drain 2>/dev/null
{
	echo "[status]"
	echo "audit_log_dir $demo/audit/log"
	echo "recv_port $port"
} >> "$demo/octospool.conf"
rc=0
bin/octospool-status -c "$demo/octospool.conf" | sed 's/^/   /' || rc=$?
bin/octospool-status -c "$demo/octospool.conf" > /dev/null 2>&1 || rc=$?
echo "   exit $rc"
