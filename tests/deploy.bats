#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The deployment test: octospool installed as an administrator installs
# it (make install, then octospool-setup: systemd-sysusers and
# systemd-tmpfiles from the shipped files, the keys), and every stage run
# exactly as its unit declares (tt-unitrun reads the unit files: User=,
# Group=, the group database, UMask=, PrivateUsers=, ProtectSystem= with
# ReadWritePaths=, PrivateTmp=, PrivateNetwork=), so that this test fails
# when a unit, sysusers.d or tmpfiles.d drifts.  Real agent files go over
# Tentacle/TLS with client certificates through the whole pipeline.
#
# Everything happens in a private mount namespace of this machine (kept in
# a file, entered with nsenter): /etc is a copy, /usr/local, /var/spool
# and /var/lib are empty directories; the users, the spool, the keys and
# the installed files vanish with it.  The private MariaDB runs on the
# host side, on 127.0.0.1, stopped by PID.  Root only (CI runs as root).

load helpers

MDB=$TOOLS/mariadb.sh
UNITS=/usr/local/lib/systemd/system
CONF=/etc/octospool/octospool.conf
PW='s3cretPw'
PW_LAB='lab-Pass-9'

# ns CMD...: run in the deployment's mount namespace.
ns() {
	nsenter --mount="$DW/ns/mnt" -- "$@"
}

# unit NAME [ARGS...]: run the unit's ExecStart= as the unit declares.
unit() {
	local u=$1
	shift
	ns "$BIN/tt-unitrun" "$UNITS/$u.service" ${1+--} "$@" 2>>"$DW/$u.log"
}

# as_unit NAME CMD...: run CMD with the identity and sandbox of unit NAME.
as_unit() {
	local u=$1
	shift
	ns "$BIN/tt-unitrun" -x "$UNITS/$u.service" -- "$@"
}

sql() {
	sh "$MDB" sql "$DW/db" -N -B -e "$1" pandora
}

# drains: every stage once, in the order of the pipeline, then the audit.
# "-d" only adds standard error to the log (no syslog daemon here): the
# drains run in the foreground anyway.
drains() {
	unit xml-validate -d
	unit agent-auth -d
	unit db-load -d
	unit audit-sign -d
}

# records: the sealed log as JSON lines (audit-export's JSON lines sink,
# run once with audit-export's identity), one record per line.
records() {
	as_unit audit-export /usr/local/sbin/audit-export -c "$CONF" \
	    2>>"$DW/audit-export.log" || return 1
	ns cat /var/lib/octospool/audit-export/audit.jsonl
}

# count ACTION [UID]: sealed records of that action (by that producer).
count_sealed() {
	records | python3 -c '
import json, sys
action, uid = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None
n = 0
for line in sys.stdin:
    r = json.loads(line)
    if r.get("octo", {}).get("type") != "record":
        continue
    if r["event"]["action"] != action:
        continue
    if uid is not None and r["user"]["id"] != uid:
        continue
    n += 1
print(n)' "$@"
}

# agent_files DIR: the real agent files with fresh timestamps (yesterday,
# inside the acceptance window), as the agents would send them today.
agent_files() {
	local d=$1 day
	day=$(date -u -d yesterday +%Y/%m/%d)
	mkdir -p "$d"
	for f in "$DATA"/samples/*.data; do
		sed "s#2026/11/27#$day#g" "$f" > "$d/$(basename "$f")"
	done
}

# send ARGS...: tentacle-send over TLS with the research-agent-01 client
# certificate (or CERT=name for another).
send() {
	local c=${CERT:-client}
	"$BIN/tentacle-send" -a 127.0.0.1 -p "$PORT" -e "$DW/pki/$c.crt" \
	    -k "$DW/pki/$c.key" -f "$DW/pki/ca.crt" "$@"
}

# client_cert NAME CN: another client certificate from the agents' CA.
client_cert() {
	(cd "$DW/pki" && umask 077 &&
	    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	    -out "$1.key" 2>/dev/null &&
	    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" \
	    2>/dev/null &&
	    printf 'extendedKeyUsage=clientAuth\n' > "$1.ext" &&
	    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key \
	    -CAcreateserial -days 30 -extfile "$1.ext" -out "$1.crt" \
	    2>/dev/null)
}

# agent XML for NAME in GROUP with PASSWORD and one module value.
agent_xml() {
	local ts
	ts=$(date -u -d '-1 hour' '+%Y/%m/%d %H:%M:%S')
	printf "<?xml version='1.0' encoding='UTF-8'?>\n"
	printf "<agent_data agent_name='%s' group='%s' group_password='%s'" "$1" "$2" "$3"
	printf " interval='300' version='7.0NG.776' os_name='linux' timestamp='%s'>\n" "$ts"
	printf '<module><name>Load</name><type>generic_data</type><data>%s</data></module>\n' "$4"
	printf '</agent_data>\n'
}

setup_file() {
	[ "$(id -u)" -eq 0 ] || skip "the deployment test installs users and runs units: root only"
	for c in systemd-sysusers systemd-tmpfiles nsenter unshare; do
		command -v "$c" >/dev/null || skip "$c is missing"
	done
	TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	DW=$(mktemp -d /tmp/octo-deploy.XXXXXX)
	chmod 0755 "$DW"
	export TOP DW
	# The namespace, kept in a file on a private tmpfs.
	mkdir -p "$DW/ns"
	mount -t tmpfs -o size=1m,mode=0700 octo-deploy-ns "$DW/ns"
	mount --make-private "$DW/ns"
	touch "$DW/ns/mnt"
	unshare --mount="$DW/ns/mnt" --propagation private true
	cp -a /etc "$DW/etc"
	mkdir -p "$DW/usr-local" "$DW/var-spool" "$DW/var-lib" "$DW/run"
	ns mount --bind "$DW/etc" /etc
	# /run too: systemd-tmpfiles makes agent-auth's key directory there.
	ns mount --bind "$DW/run" /run
	ns mount --bind "$DW/usr-local" /usr/local
	ns mount --bind "$DW/var-spool" /var/spool
	ns mount --bind "$DW/var-lib" /var/lib
	# The binaries under test: the release or the sanitizer build.
	build=release
	case $BIN in *build/asan/bin*) build=asan ;; esac
	# Only /usr/local is private here: every install path is named on
	# the command line, which beats the environment (perf(1), for one,
	# exports PREFIX=/usr) and a parent make's MAKEFLAGS.
	ns make -s -C "$TOP" install BUILD="$build" PREFIX=/usr/local \
	    SBINDIR=/usr/local/sbin BINDIR=/usr/local/bin \
	    MANDIR=/usr/local/share/man SYSCONFDIR=/etc DESTDIR= CONFFILE=no \
	    > "$DW/install.log" 2>&1
	# As an administrator installs: users, directories, keys.
	ns /usr/local/sbin/octospool-setup > "$DW/setup.log" 2>&1
	ns groupadd -f monitoring-admins
	ns groupadd -f dba
	# A person who administers octospool without being root.
	ns useradd -M -s /bin/sh octoadmin
	ns /usr/local/sbin/octospool-setup --admin octoadmin >> "$DW/setup.log"
	# The database: a private MariaDB on the host side (127.0.0.1).
	sh "$MDB" start "$DW/db" > "$DW/db.log" 2>&1
	# shellcheck disable=SC1091
	. "$DW/db/env"
	# TLS: the receiver's certificate, the agents' CA, the database's
	# CA and client certificate; the tools' database passwords, each
	# readable by its own tool's group only.
	sh "$TOOLS/mkcerts.sh" "$DW/pki" research-agent-01 > /dev/null
	client_cert web-upper WEB01
	sh "$BATS_TEST_DIRNAME/tools/site-files.sh" "$DW"
	# The configuration: the installed sample with this site's values.
	PORT=$("$BIN/tt-wire" --freeport)
	export PORT
	ns sed -i -E \
	    -e "s/^addresses .*/addresses 127.0.0.1/" \
	    -e "s/^port 41121$/port $PORT/" \
	    -e "s/^host db.example.com$/host 127.0.0.1/" \
	    -e "s/^port 3306$/port $MYSQL_PORT/" \
	    -e "s|^#ssl_cert /etc/octospool/tls/db-client.crt|ssl_cert /etc/octospool/tls/db-client.crt|" \
	    -e "s|^#ssl_key /etc/octospool/tls/db-client.key|ssl_key /etc/octospool/tls/db-client.key|" \
	    "$CONF"
	# The tests run each drain by hand, one pass each (a drain started
	# by its path unit lingers: idle_exit; tested on its own).
	ns sed -i -E 's/^idle_exit [0-9]+$/idle_exit 0/' "$CONF"
	run ns grep '^idle_exit' "$CONF"
	assert_output "idle_exit 0"
}

teardown_file() {
	[ -n "${DW:-}" ] || return 0
	# The lingering drain's runner, had its test failed half-way.
	if [ -s "$DW/linger.pid" ]; then
		kill "$(cat "$DW/linger.pid")" 2>/dev/null || true
	fi
	if [ -s "$DW/recv.pid" ]; then
		pid=$(cat "$DW/recv.pid")
		# The server the runner started, by PID, in case the runner
		# cannot pass the signal on.
		kids=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null || true)
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" $kids 2>/dev/null || true
	fi
	[ -d "$DW/db" ] && sh "$MDB" stop "$DW/db" > /dev/null 2>&1 || true
	umount "$DW/ns/mnt" 2>/dev/null || true
	umount "$DW/ns" 2>/dev/null || true
	# OCTO_KEEP=1 keeps the files (logs, spool, database) for a look.
	[ -n "${OCTO_KEEP:-}" ] || rm -rf "$DW"
}

@test "install as a user would: make install, octospool-setup (sysusers, tmpfiles, keys)" {
	grep -q 'made the stamp key of tentacle-recv' "$DW/setup.log"
	grep -q 'audit log verifier key' "$DW/setup.log"
	# The users, each with its own group, and the hand-off groups.
	for u in recv xml auth db conf audit auditx witness; do
		run ns id -gn "octospool-$u"
		assert_output "octospool-$u"
	done
	run ns id -Gn octospool-recv
	assert_output "octospool-recv octospool octospool-xmlq octospool-uploadq octospool-auditq"
	run ns id -Gn octospool-xml
	assert_output "octospool-xml octospool octospool-xmlq octospool-authq octospool-auditq"
	run ns id -Gn octospool-auth
	assert_output "octospool-auth octospool octospool-authq octospool-dbq octospool-auditq"
	run ns id -Gn octospool-db
	assert_output "octospool-db octospool octospool-dbq octospool-auditq"
	run ns id -Gn octoadmin
	assert_output "octoadmin octospool octospool-auditq octospool-admin"
	# The witness: its own user; only audit-export hands it anything.
	run ns id -Gn octospool-witness
	assert_output "octospool-witness octospool octospool-witnessq"
	run ns id -Gn octospool-auditx
	assert_output "octospool-auditx octospool octospool-witnessq octospool-audit"
	# The queues: consumer-owned, the hand-off group, 3770.
	run ns stat -c '%a %U %G %n' /var/spool/octospool/xml-validate/new \
	    /var/spool/octospool/agent-auth/new /var/spool/octospool/db-load/new \
	    /var/spool/octospool/audit-sign/new /var/spool/octospool/conf-dist/uploads/new \
	    /var/spool/octospool/audit-witness/new
	assert_output "3770 octospool-xml octospool-xmlq /var/spool/octospool/xml-validate/new
3770 octospool-auth octospool-authq /var/spool/octospool/agent-auth/new
3770 octospool-db octospool-dbq /var/spool/octospool/db-load/new
3770 octospool-audit octospool-auditq /var/spool/octospool/audit-sign/new
3770 octospool-conf octospool-uploadq /var/spool/octospool/conf-dist/uploads/new
3770 octospool-witness octospool-witnessq /var/spool/octospool/audit-witness/new"
	# The witness's state is its own, what it cosigns is public; its
	# key is its own, its verifier key printed.
	run ns stat -c '%a %U %n' /var/lib/octospool/witness \
	    /var/lib/octospool/witness-cosigned /etc/octospool/keys/audit-witness.key
	assert_output "700 octospool-witness /var/lib/octospool/witness
755 octospool-witness /var/lib/octospool/witness-cosigned
600 octospool-witness /etc/octospool/keys/audit-witness.key"
	grep -q 'audit witness key: ' "$DW/setup.log"
	ns grep -Eq '^[^+]+/audit-witness\+[0-9a-f]{8}\+' /etc/octospool/audit-witness.vkey
	# The stamp keys: private to their tool, public to all.
	run ns stat -c '%a %U %n' /etc/octospool/keys/tentacle-recv.key \
	    /etc/octospool/keys/agent-auth.key /etc/octospool/keys/agent-auth.pub
	assert_output "600 octospool-recv /etc/octospool/keys/tentacle-recv.key
600 octospool-auth /etc/octospool/keys/agent-auth.key
644 root /etc/octospool/keys/agent-auth.pub"
	run ns stat -c '%a %U %G' "$CONF"
	assert_output "640 root octospool"
	# Idempotent: a second run changes nothing and makes no new key.
	sum=$(ns sha256sum /etc/octospool/keys/tentacle-recv.pub)
	run ns /usr/local/sbin/octospool-setup
	assert_success
	[ "$(ns sha256sum /etc/octospool/keys/tentacle-recv.pub)" = "$sum" ]
	# Every tool accepts the configuration, as its unit runs it.
	for u in xml-validate agent-auth db-load audit-sign audit-witness; do
		run unit "$u" -n
		assert_success
	done
}

@test "tentacle-recv starts as its unit declares and takes the real agent files over TLS" {
	# nsenter itself (not the ns function, which would be a subshell):
	# it execs tt-unitrun, so $! is the runner's PID, stopped in
	# teardown_file (it passes SIGTERM on to the server).
	nsenter --mount="$DW/ns/mnt" -- "$BIN/tt-unitrun" \
	    "$UNITS/tentacle-recv.service" 2>>"$DW/recv.log" 3>&- &
	echo $! > "$DW/recv.pid"
	for _ in $(seq 1 100); do
		ss -ltn "sport = :$PORT" | grep -q LISTEN && break
		sleep 0.05
	done
	# Its process: the service user, its groups from the database.
	pid=$(pgrep -u "$(ns id -u octospool-recv)" -f '/usr/local/sbin/tentacle-recv' | head -1)
	[ -n "$pid" ]
	run awk '/^Uid:/ {print $2}' "/proc/$pid/status"
	assert_output "$(ns id -u octospool-recv)"
	# The administrators: root sets the group password, a member of
	# octospool-admin turns self-creation on.
	printf '%s\n' "$PW" | ns /usr/local/sbin/agent-auth -c "$CONF" passwd Servers
	ns /usr/local/sbin/agent-auth -c "$CONF" group-add Lab
	printf '%s\n' "$PW_LAB" | ns /usr/local/sbin/agent-auth -c "$CONF" passwd Lab
	run ns setpriv --reuid=octoadmin --regid=octoadmin --init-groups \
	    /usr/local/sbin/agent-auth -c "$CONF" selfcreate Servers on
	assert_success
	run ns setpriv --reuid=octoadmin --regid=octoadmin --init-groups \
	    /usr/local/sbin/agent-auth -c "$CONF" selfcreate Lab on
	assert_success
	agent_files "$DW/agent"
	run send "$DW"/agent/*.data
	assert_success
	[ "$(ns sh -c 'ls /var/spool/octospool/xml-validate/new | wc -l')" -eq 5 ]
	# Each item: owned by the receiver, the queue's group, 0640.
	run ns sh -c 'stat -c "%U %G %a" /var/spool/octospool/xml-validate/new/* | sort -u'
	assert_output "octospool-recv octospool-xmlq 640"
}

@test "the pipeline, each stage as its unit declares, loads the rows" {
	drains
	# The Unknown-group sample has no password: refused by agent-auth.
	run sql "SELECT nombre, id_grupo FROM tagente ORDER BY nombre"
	assert_output "$(printf 'research-agent-01\t2\nresearch-broker-01\t2')"
	[ "$(sql "SELECT COUNT(*) FROM tagente_datos")" -gt 0 ]
	[ "$(sql "SELECT COUNT(*) FROM octo_loaded_file")" -eq 4 ]
	[ "$(ns sh -c 'ls /var/spool/octospool/agent-auth/reject/*.reason | wc -l')" -eq 1 ]
	ns sh -c "grep -q '^reason=rule=auth-password ' /var/spool/octospool/agent-auth/reject/*.reason"
	for q in xml-validate agent-auth db-load; do
		[ "$(ns sh -c "ls /var/spool/octospool/$q/new | wc -l")" -eq 0 ]
	done
	# Each stage wrote its output as itself: agent-auth's items are
	# stamped and were owned by octospool-auth (db-load took them).
	grep -q 'event=drain.done stage=db-load seen=4 loaded=4 duplicates=0 rejected=0' "$DW/db-load.log"
	# agent-auth's verified-credential cache: on the spool, its key in
	# memory (/run, from the shipped tmpfiles.d), both its own, 0600.
	run ns stat -c '%U %a %s' /run/octospool/agent-auth/verified.key \
	    /var/spool/octospool/agent-auth/verified
	assert_output "octospool-auth 600 32
octospool-auth 600 $(ns stat -c %s /var/spool/octospool/agent-auth/verified)"
	run ns ls /var/spool/octospool/agent-auth
	refute_output --partial verified.key
	# History retention as its unit (and timer) runs it: its own user,
	# its own account; today's rows are kept.
	rows=$(sql "SELECT COUNT(*) FROM tagente_datos")
	unit db-purge -d
	grep -q 'event=run.done dry_run=0' "$DW/db-purge.log"
	[ "$(sql "SELECT COUNT(*) FROM tagente_datos")" -eq "$rows" ]
}

@test "every audit event is sealed with its producer's uid, admin commands included; audit-verify PASS" {
	unit audit-sign -d
	grep 'event=drain.done stage=audit-sign' "$DW/audit-sign.log" > "$DW/signs"
	! grep -v ' rejected=0 ' "$DW/signs" || false
	ns sh -c 'ls /var/spool/octospool/audit-sign/reject' > "$DW/audit-rejects"
	[ ! -s "$DW/audit-rejects" ]
	uid_recv=$(ns id -u octospool-recv)
	uid_xml=$(ns id -u octospool-xml)
	uid_auth=$(ns id -u octospool-auth)
	uid_db=$(ns id -u octospool-db)
	uid_admin=$(ns id -u octoadmin)
	[ "$(count_sealed file.received "$uid_recv")" -eq 5 ]
	[ "$(count_sealed xml.accepted "$uid_xml")" -ge 1 ]
	[ "$(count_sealed agent.auth "$uid_auth")" -ge 1 ]
	[ "$(count_sealed file.loaded "$uid_db")" -eq 4 ]
	# passwd x2 and group-add by root, selfcreate x2 by octoadmin.
	[ "$(count_sealed admin.command 0)" -eq 3 ]
	[ "$(count_sealed admin.command "$uid_admin")" -eq 2 ]
	records | grep '"action":"admin.command"' | grep "\"uid\":\"$uid_admin\"" |
	    grep -q '"command":"selfcreate"'
	run ns "$BIN/audit-verify" -K /etc/octospool/audit.vkey /var/lib/octospool/audit/log
	assert_success
	assert_output --partial "audit-verify: PASS"
}

@test "audit-witness, as its unit declares, cosigns the checkpoints audit-export hands it; audit-verify --witness passes" {
	unit audit-sign -d
	as_unit audit-export /usr/local/sbin/audit-export -c "$CONF" \
	    2>>"$DW/audit-export.log"
	# One submission waits, owned by audit-export's user; no record in it.
	run ns sh -c 'stat -c "%U %G %a" /var/spool/octospool/audit-witness/new/*'
	assert_output "octospool-auditx octospool-witnessq 640"
	run ns sh -c 'cat /var/spool/octospool/audit-witness/new/*'
	refute_output --partial '"action"'
	unit audit-witness -d
	grep -q 'event=drain.done stage=audit-witness files=1 cosigned=1 refused=0' "$DW/audit-witness.log"
	run ns sh -c 'ls /var/spool/octospool/audit-witness/new /var/spool/octospool/audit-witness/reject'
	refute_output --regexp '[0-9]\.witness'
	run ns sh -c 'stat -c "%a %U" /var/lib/octospool/witness/*.state /var/lib/octospool/witness-cosigned/*.note'
	assert_output "600 octospool-witness
644 octospool-witness"
	# The auditor's check: the log, its root key, the witness's key, a
	# cosignature no older than two epochs (the published one is read).
	run ns "$BIN/audit-verify" -K /etc/octospool/audit.vkey \
	    --witness /etc/octospool/audit-witness.vkey /var/lib/octospool/audit/log
	assert_success
	assert_output --partial "audit-verify: PASS"
	# The exported JSON lines verify with the same keys, off the host.
	ns cat /var/lib/octospool/audit-export/audit.jsonl > "$DW/export.jsonl"
	ns cp -r /var/lib/octospool/witness-cosigned "$DW/cosigned"
	run "$BIN/audit-verify" -K "$DW/etc/octospool/audit.vkey" \
	    --witness "$DW/etc/octospool/audit-witness.vkey" --cosigned "$DW/cosigned" \
	    "$DW/export.jsonl"
	assert_success
	# Least privilege: the witness cannot read the log or the export,
	# the exporter cannot touch the witness's state or what it
	# published, and neither can reach audit-sign's keys.
	run as_unit audit-witness /bin/sh -c 'cat /var/lib/octospool/audit/log/seg/0000000001.seg'
	assert_failure
	run as_unit audit-witness /bin/sh -c 'cat /var/lib/octospool/audit-export/audit.jsonl'
	assert_failure
	run as_unit audit-export /bin/sh -c 'ls /var/lib/octospool/witness'
	assert_failure
	run as_unit audit-export /bin/sh -c 'echo x > /var/lib/octospool/witness-cosigned/x'
	assert_failure
	run as_unit audit-witness /bin/sh -c 'ls /var/lib/octospool/audit/keys'
	assert_failure
}

@test "no service user can put an item into a queue it does not produce into" {
	before=$(sql "SELECT COUNT(*) FROM octo_loaded_file")
	rows=$(sql "SELECT COUNT(*) FROM tagente_datos")
	forged=$DW/forged.data
	agent_xml research-agent-01 Servers "$PW" 999 > "$forged"
	# Each queue: its one producer and its consumer.
	declare -A producer=([xml-validate]=tentacle-recv [agent-auth]=xml-validate
	    [db-load]=agent-auth [conf-dist/uploads]=tentacle-recv
	    [audit-witness]=audit-export)
	declare -A consumer=([xml-validate]=xml-validate [agent-auth]=agent-auth
	    [db-load]=db-load [conf-dist/uploads]=conf-dist
	    [audit-witness]=audit-witness)
	: > "$DW/created"
	for q in xml-validate agent-auth db-load conf-dist/uploads audit-witness; do
		for u in tentacle-recv xml-validate agent-auth db-load conf-dist audit-sign audit-export audit-witness; do
			[ "${producer[$q]}" = "$u" ] && continue
			user=$(sed -n 's/^User=//p' "$TOP/etc/systemd/$u.service")
			for d in tmp new; do
				# As the unit runs it (its sandbox and identity), and
				# as the bare user, as cron or a shell would.
				if as_unit "$u" /bin/sh -c \
				    "cat > /var/spool/octospool/$q/$d/evil-unit-$u.1.data" \
				    < "$forged" 2>/dev/null; then
					echo "$q $d $u unit" >> "$DW/created"
				fi
				if ns setpriv --reuid="$user" --regid="$user" --init-groups \
				    /bin/sh -c "cat > /var/spool/octospool/$q/$d/evil-user-$u.1.data" \
				    < "$forged" 2>/dev/null; then
					echo "$q $d $u user" >> "$DW/created"
				fi
			done
		done
	done
	# The file system refuses everyone but a queue's own consumer, who
	# owns the directory; the consumer then refuses its own items.
	while read -r q d u how; do
		echo "# $how $u could create $q/$d/" >&3
		[ "${consumer[$q]}" = "$u" ]
	done < "$DW/created"
	drains
	run as_unit conf-dist /usr/local/sbin/conf-dist -c "$CONF" uploads
	assert_success
	[ "$(echo "$output" | grep -c 'evil.*untrusted="owner uid')" -eq \
	    "$(grep -c '^conf-dist/uploads new ' "$DW/created")" ]
	# What got into a new/ went to reject/ unread, with its reason and
	# its audit event: nothing loaded.
	[ "$(sql "SELECT COUNT(*) FROM octo_loaded_file")" -eq "$before" ]
	[ "$(sql "SELECT COUNT(*) FROM tagente_datos")" -eq "$rows" ]
	unit audit-witness -d
	for q in xml-validate agent-auth db-load audit-witness; do
		want=$(grep -c "^$q new " "$DW/created" || true)
		got=$(ns sh -c "grep -l '^reason=rule=producer ' /var/spool/octospool/$q/reject/evil*.reason 2>/dev/null | wc -l")
		[ "$got" -eq "$want" ] || { echo "# $q: $got of $want rejected" >&3; false; }
		[ "$(ns sh -c "ls /var/spool/octospool/$q/new | grep -c evil" || true)" -eq 0 ]
	done
	unit audit-sign -d
	[ "$(count_sealed item.rejected "$(ns id -u octospool-xml)")" -ge 1 ]
	# Every service user but audit-export's may queue audit events (each
	# under its own uid); audit-export's may not, as unit or as user.
	run as_unit audit-export /bin/sh -c 'echo "{}" > /var/spool/octospool/audit-sign/new/x'
	assert_failure
	run ns setpriv --reuid=octospool-auditx --regid=octospool-auditx --init-groups \
	    /bin/sh -c 'echo "{}" > /var/spool/octospool/audit-sign/tmp/x'
	assert_failure
}

@test "a drain lingers as its unit runs it: items sent while it waits are taken at once, each by the name inotify gave (in the sandbox); its status line is its user's; SIGTERM through the runner ends it, exit 0, no .status.<pid> left" {
	# This test only: the drains linger (the shipped idle_exit), and the
	# safety-net rescan is a minute away, so only inotify can wake it.
	ns sed -i -E -e 's/^idle_exit 0$/idle_exit 30/' \
	    -e 's/^poll_interval [0-9]+$/poll_interval 60000/' "$CONF"
	# A status line in the making that a killed run left, as its user
	# left it: the drain's first clean-up removes it in its sandbox.
	ns sh -c 'q=/var/spool/octospool/xml-validate; echo x > $q/.status.4242 &&
	    chown octospool-xml: $q/.status.4242 &&
	    touch -d "2 minutes ago" $q/.status.4242'
	nsenter --mount="$DW/ns/mnt" -- "$BIN/tt-unitrun" \
	    "$UNITS/xml-validate.service" -- -d -v 2>>"$DW/xml-linger.log" 3>&- &
	pid=$!
	echo "$pid" > "$DW/linger.pid"
	sleep 1
	# Two items, one after the other: each pass takes the name inotify
	# gave, without reading new/ (event=drain.hinted).
	for a in linger01 linger02; do
		agent_xml $a Servers "$PW" 3 > "$DW/$a.1.data"
		run send "$DW/$a.1.data"
		assert_success
		got=
		for _ in $(seq 1 60); do
			got=$(ns sh -c 'ls /var/spool/octospool/agent-auth/new' | grep -c $a || true)
			[ "$got" -ge 1 ] && break
			sleep 0.05
		done
		assert_equal "$got" 1
	done
	[ "$(grep -c 'event=drain.hinted stage=xml-validate names=1$' "$DW/xml-linger.log")" -ge 2 ]
	run ns test -e /var/spool/octospool/xml-validate/.status.4242
	assert_failure
	# The status line: a regular file of the stage's user, 0644; the
	# drain keeps its .status.<pid> (the former line) while it runs.
	run ns sh -c 'cd /var/spool/octospool/xml-validate && stat -c "%U %a %F" status .status.*'
	assert_output "octospool-xml 644 regular file
octospool-xml 644 regular file"
	kill -0 "$pid"
	# The unit's stop: SIGTERM to the runner, passed on; the drain ends
	# (its status 0 is the runner's).
	kill -TERM "$pid"
	wait "$pid"
	rm -f "$DW/linger.pid"
	grep -q 'event=drain.done stage=xml-validate' "$DW/xml-linger.log"
	# Stopped: its .status.<pid> is gone, the line stays.
	run ns sh -c 'ls -A /var/spool/octospool/xml-validate | grep -c "^\.status\." || true'
	assert_output 0
	run ns test -f /var/spool/octospool/xml-validate/status
	assert_success
	ns sed -i -E -e 's/^idle_exit 30$/idle_exit 0/' \
	    -e 's/^poll_interval 60000$/poll_interval 1000/' "$CONF"
	run ns grep -E '^(idle_exit|poll_interval) ' "$CONF"
	assert_output "idle_exit 0
poll_interval 1000"
	# What it took goes on through the other stages as before.
	drains
}

@test "the shell pipeline works end to end for a new agent and a known one" {
	agent_xml pipe-new01 Servers "$PW" 7 > "$DW/pipe-new.1.data"
	agent_xml research-agent-01 Servers "$PW" 8 > "$DW/pipe-known.1.data"
	for f in pipe-new pipe-known; do
		run ns sh -c "/usr/local/sbin/xml-validate -c $CONF -o - $DW/$f.1.data |
		    /usr/local/sbin/agent-auth -c $CONF -o - - |
		    /usr/local/sbin/db-load -c $CONF -"
		assert_success
	done
	[ "$(sql "SELECT COUNT(*) FROM tagente WHERE nombre = 'pipe-new01'")" -eq 1 ]
	[ "$(sql "SELECT e.datos FROM tagente_estado e JOIN tagente_modulo m USING (id_agente_modulo) JOIN tagente a ON a.id_agente = m.id_agente WHERE a.nombre = 'pipe-new01'")" = 7.00000 ]
	# The same pipe with a forged decision in between: refused.
	agent_xml pipe-new02 Servers "$PW" 9 > "$DW/pipe-new.2.data"
	run ns sh -c "/usr/local/sbin/xml-validate -c $CONF -o - $DW/pipe-new.2.data |
	    /usr/local/sbin/agent-auth -c $CONF -o - - |
	    sed 's/^Auth-Group: 2\$/Auth-Group: 3/' |
	    /usr/local/sbin/db-load -c $CONF -"
	assert_equal "$status" 77
	assert_output --partial "rule=stamp"
}

@test "first contact from two groups for one new name: one agent, the other claim refused" {
	agent_xml newbie01 Servers "$PW" 1 > "$DW/race-servers.data"
	agent_xml newbie01 Lab "$PW_LAB" 666 > "$DW/race-lab.data"
	cp "$DW/race-servers.data" "$DW/newbie01.servers.1.data"
	cp "$DW/race-lab.data" "$DW/newbie01.lab.2.data"
	run send "$DW/newbie01.servers.1.data" "$DW/newbie01.lab.2.data"
	assert_success
	drains
	[ "$(sql "SELECT COUNT(*) FROM tagente WHERE nombre = 'newbie01'")" -eq 1 ]
	[ "$(sql "SELECT id_grupo FROM tagente WHERE nombre = 'newbie01'")" -eq 2 ]
	run ns sh -c 'grep -l "^reason=rule=auth-group " /var/spool/octospool/db-load/reject/*newbie01.lab*.reason'
	assert_success
	[ "$(sql "SELECT e.datos FROM tagente_estado e JOIN tagente_modulo m USING (id_agente_modulo) JOIN tagente a ON a.id_agente = m.id_agente WHERE a.nombre = 'newbie01'")" = 1.00000 ]
}

@test "a case variant of a bound agent's name and certificate is refused" {
	ns /usr/local/sbin/agent-auth -c "$CONF" pin research-agent-01 --cn
	# WEB01's certificate with research-agent-01's name: not bound.
	agent_xml research-agent-01 Servers "$PW" 5 > "$DW/research-agent-01.case.1.data"
	agent_xml RESEARCH-AGENT-01 Servers "$PW" 6 > "$DW/RESEARCH-AGENT-01.case.2.data"
	client_cert upper RESEARCH-AGENT-01
	CERT=web-upper run send "$DW/research-agent-01.case.1.data"
	assert_success
	CERT=upper run send "$DW/RESEARCH-AGENT-01.case.2.data"
	assert_success
	rows=$(sql "SELECT COUNT(*) FROM tagente_datos")
	drains
	run ns sh -c 'grep -h "^reason=" /var/spool/octospool/agent-auth/reject/*research-agent-01.case.1.data.reason'
	assert_output --partial "rule=auth-certificate"
	run ns sh -c 'grep -h "^reason=" /var/spool/octospool/db-load/reject/*RESEARCH-AGENT-01.case.2.data.reason'
	assert_output --partial "rule=name-collision"
	[ "$(sql "SELECT COUNT(*) FROM tagente WHERE nombre LIKE 'research-agent-01'")" -eq 1 ]
	[ "$(sql "SELECT COUNT(*) FROM tagente_datos")" -eq "$rows" ]
}

@test "remote configuration on two nodes, as the units declare: the drain puts a publication into the database, conf-sync serves another node's, signed with that node's key" {
	# This installation is node1; node2 is a second served tree and key
	# on this machine.  Each trusts the other's key; both publish
	# through the database with conf-dist's account.
	ns sh "$TOP/tools/mkspool.sh" /var/spool/node2
	ns chown -R octospool-conf:octospool-conf /var/spool/node2
	# cluster NODE OTHERKEY: the sed expression that turns the sample's
	# "cluster none" into this node's cluster settings.
	cluster() {
		echo "s|^cluster none\$|cluster db\nserver_name $1\ncluster_pubkeys /etc/octospool/conf-dist/$2\ndb_user octo_conf_dist\ndb_password_file /etc/octospool/conf-dist.pw|"
	}
	ns sh -c "sed -e 's|^spool_dir .*|spool_dir /var/spool/node2|' \
	    -e 's|^sign_key .*|sign_key /etc/octospool/conf-dist/node2.key|' \
	    -e 's|^sign_pubkey .*|sign_pubkey /etc/octospool/conf-dist/node2.pub|' \
	    -e 's|^acl_groups .*|acl_groups Servers=monitoring-admins,root|' \
	    -e '$(cluster node2 sign.pub)' $CONF > /etc/octospool/node2.conf"
	ns sed -i "$(cluster node1 node2.pub)" "$CONF"
	run ns grep -c '^cluster db$' "$CONF" /etc/octospool/node2.conf
	assert_output "$(printf '%s:1\n/etc/octospool/node2.conf:1' "$CONF")"
	run ns /usr/local/sbin/conf-dist -c /etc/octospool/node2.conf keygen
	assert_success
	# A member of monitoring-admins queues web01's configuration on
	# node1; the drain, as its unit runs it, publishes it through the
	# database (TCP, TLS) and serves it.
	ns useradd -M -N -g octospool-submit -G monitoring-admins,octospool -s /usr/sbin/nologin opsalice
	printf 'server_ip 127.0.0.1\nagent_name web01\ngroup Servers\ninterval 300\nremote_config 1\n' > "$DW/web01.conf"
	chmod 0644 "$DW/web01.conf"
	run ns setpriv --reuid=opsalice --regid=octospool-submit --init-groups \
	    /usr/local/sbin/conf-dist -c "$CONF" submit web01 "$DW/web01.conf"
	assert_success
	run as_unit conf-dist /usr/local/sbin/conf-dist -c "$CONF" -d drain
	assert_success
	w=$(printf %s web01 | md5sum | cut -c1-32)
	ns cmp "$DW/web01.conf" "/var/spool/octospool/conf-dist/out/conf/$w.conf"
	[ "$(sql "SELECT CONCAT(dir, ' ', node) FROM octo_conf_file WHERE name = '$w.conf'")" = "conf node1" ]
	# node2 publishes db01's; node1's conf-sync, as its unit runs it
	# (one pass), checks it against node2's key and serves it.
	printf 'server_ip 127.0.0.1\nagent_name db01\ngroup Servers\ninterval 300\nremote_config 1\n' > "$DW/db01.conf"
	chmod 0644 "$DW/db01.conf"
	run ns /usr/local/sbin/conf-dist -c /etc/octospool/node2.conf submit db01 "$DW/db01.conf"
	assert_success
	d=$(printf %s db01 | md5sum | cut -c1-32)
	run ns test -e "/var/spool/octospool/conf-dist/out/conf/$d.conf"
	assert_failure
	run as_unit conf-sync /usr/local/sbin/conf-dist -c "$CONF" -d sync
	assert_success
	assert_output --partial "event=sync.served file=conf/$d.conf"
	for f in "conf/$d.conf" "conf/$d.conf.sig" "md5/$d.md5" "md5/$d.md5.sig"; do
		ns cmp "/var/spool/node2/conf-dist/out/$f" "/var/spool/octospool/conf-dist/out/$f"
	done
	run ns stat -c %U "/var/spool/octospool/conf-dist/out/conf/$d.conf"
	assert_output octospool-conf
	run as_unit conf-dist /usr/local/sbin/conf-dist -c "$CONF" verify -a db01 \
	    "/var/spool/octospool/conf-dist/out/conf/$d.conf"
	assert_success
	# And node2 serves node1's.
	run ns /usr/local/sbin/conf-dist -c /etc/octospool/node2.conf -d sync
	assert_success
	ns cmp "$DW/web01.conf" "/var/spool/node2/conf-dist/out/conf/$w.conf"
	# node1's sync event is sealed with conf-dist's uid.
	unit audit-sign -d
	uid=$(ns id -u octospool-conf)
	[ "$(count_sealed config.sync "$uid")" -ge 1 ]
}

@test "a unit that hides file owners (PrivateUsers=yes) breaks the identity model: the runner shows it" {
	ns cp "$UNITS/db-load.service" /usr/local/lib/drifted.service
	ns sed -i 's/^# No PrivateUsers=.*/PrivateUsers=yes/' /usr/local/lib/drifted.service
	agent_xml research-broker-01 Servers "$PW" 3 > "$DW/research-broker-01.drift.1.data"
	run send "$DW/research-broker-01.drift.1.data"
	assert_success
	unit xml-validate -d
	unit agent-auth -d
	ns "$BIN/tt-unitrun" /usr/local/lib/drifted.service -- -d 2>>"$DW/drift.log"
	# Inside, agent-auth's items look owned by nobody: refused.
	run ns sh -c 'grep -h "^reason=" /var/spool/octospool/db-load/reject/*drift*.reason'
	assert_output --partial "rule=producer line=0 owner uid 65534"
}

@test "no stage wrote a sanitizer report (ASan+UBSan build) or crashed" {
	! grep -E 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' "$DW"/*.log || false
	! grep -E 'exit=7[01] |Segmentation|Aborted' "$DW"/*.log
}
