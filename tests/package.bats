#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The Debian package: "dpkg-buildpackage -us -uc -b" in a clean clone of
# this checkout's HEAD builds octospool_VERSION_ARCH.deb, lintian reports
# no error, "dpkg -i" installs it into the FHS paths and its maintainer
# scripts create the users, groups and directories (systemd-sysusers and
# systemd-tmpfiles on the shipped files) and enable nothing; then, as an
# administrator would, octospool-setup, the site's values in the installed
# configuration, and the pipeline from the installed paths: tentacle-recv
# and every drain started as its installed unit declares (tt-unitrun on
# /usr/lib/systemd/system/*.service: systemd is not PID 1 here), real
# agent files over Tentacle/TLS with the installed tentacle-send, rows in
# a private MariaDB made from the installed SQL files; finally
# "dpkg --purge": what it removes, and the data it keeps (README.md,
# "What purge keeps").
#
# Where: dpkg writes /usr, /etc and /var and its own database, and
# systemd-sysusers writes /etc/passwd and /etc/group.  None of that
# reaches this machine: everything after the build happens in a private
# mount namespace (kept in a file, entered with nsenter, as in
# tests/deploy.bats) in which /usr, /etc and /var are overlays of the
# machine's own, whose writes land in upper directories on a tmpfs in the
# test's temporary directory.  dpkg sees the machine's package database
# and installs for real, the purge is checked for real, and unmounting
# the namespace throws all of it away.  Chosen over a real install with a
# purge in teardown_file: a failure at any step, even of the purge, or a
# killed test leaves nothing installed and no users behind; the test
# cannot collide with deploy.bats (its own namespace over /usr/local), with
# another run, or with the machine's own dpkg; and what the purge leaves
# is exactly what the overlays recorded.  The build runs outside, in the
# temporary directory, and so does the private MariaDB, on 127.0.0.1; it
# and tentacle-recv are stopped by PID.
#
# Only committed work is built (a clone of HEAD).  Root only.  Skipped in
# the ASan+UBSan pass of make check: the package builds its own binaries
# from source, the same in both passes.

load helpers

MDB=$TOOLS/mariadb.sh
UNITS=/usr/lib/systemd/system
CONF=/etc/octospool/octospool.conf
PW='s3cretPw'

# ns CMD...: run in the namespace where the package is installed.
ns() {
	nsenter --mount="$DW/ns/mnt" -- "$@"
}

# unit NAME [ARGS...]: run the installed unit's ExecStart= as it declares.
unit() {
	local u=$1
	shift
	ns "$BIN/tt-unitrun" "$UNITS/$u.service" ${1+--} "$@" 2>>"$DW/$u.log"
}

sql() {
	sh "$MDB" sql "$DW/db" -N -B -e "$1" pandora
}

# agent_files DIR [DAY]: the real agent files with yesterday's date (or
# DAY, a date(1) string; inside the acceptance window), as the agents
# would send them today.
agent_files() {
	local d=$1 day
	day=$(date -u -d "${2:-yesterday}" +%Y/%m/%d)
	mkdir -p "$d"
	for f in "$DATA"/samples/*.data; do
		sed "s#2026/11/27#$day#g" "$f" > "$d/$(basename "$f")"
	done
}

# skip_why: why this machine or this pass cannot run the test, if it cannot.
skip_why() {
	local c
	[ "$(id -u)" -eq 0 ] || {
		echo "installs a package (in a private mount namespace): root only"
		return
	}
	case $BIN in
	*build/asan/bin*)
		echo "the package builds its own binaries: tested in the release pass only"
		return ;;
	esac
	for c in dpkg-buildpackage dh lintian git nsenter unshare \
	    systemd-sysusers systemd-tmpfiles; do
		command -v "$c" >/dev/null || {
			echo "$c is missing (tools/deps.sh installs it)"
			return
		}
	done
	[ -x "$BIN/tt-unitrun" ] || {
		echo "$BIN/tt-unitrun is missing: make all first"
		return
	}
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
	    echo "no overlay file system: cannot keep dpkg off this machine"
}

# Bats 1.8 (Debian 12) fails a file whose setup_file skips: each test
# skips instead, with the reason.
setup_file() {
	PKG_SKIP=$(skip_why)
	export PKG_SKIP
	[ -z "$PKG_SKIP" ] || return 0
	TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	DW=$(mktemp -d /tmp/octo-package.XXXXXX)
	chmod 0755 "$DW"
	export TOP DW
	if [ -n "$(git -C "$TOP" status --porcelain --untracked-files=no)" ]; then
		echo "# package.bats: uncommitted changes are not in the package (a clone of HEAD)" >&3
	fi
	# The build: a clean clone, as a distribution or a user would.
	git clone -q --no-hardlinks "$TOP" "$DW/src"
	git -C "$DW/src" checkout -q "$(git -C "$TOP" rev-parse HEAD)"
	# What this machine's dpkg says of octospool, before and after.
	HOST_STATUS=$(dpkg-query -W -f='${db:Status-Abbrev}' octospool 2>/dev/null || true)
	export HOST_STATUS
	VERSION=$(cd "$DW/src" && dpkg-parsechangelog -S Version)
	DEB=$DW/octospool_${VERSION}_$(dpkg --print-architecture).deb
	export VERSION DEB
	# Not make check's make flags: the build is a user's, from a shell.
	(cd "$DW/src" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	    DEB_BUILD_OPTIONS="parallel=2" dpkg-buildpackage -us -uc -b) \
	    > "$DW/build.log" 2>&1 || true
	# The namespace: /usr, /etc and /var as overlays whose writes land in
	# a tmpfs at $DW/ovl (an upper directory cannot be on an overlay, as
	# /tmp is on some machines).
	mkdir -p "$DW/ns" "$DW/ovl"
	mount -t tmpfs -o size=512m,mode=0755 octo-package-ovl "$DW/ovl"
	mount --make-private "$DW/ovl"
	mount -t tmpfs -o size=1m,mode=0700 octo-package-ns "$DW/ns"
	mount --make-private "$DW/ns"
	touch "$DW/ns/mnt"
	unshare --mount="$DW/ns/mnt" --propagation private true
	for d in usr etc var; do
		mkdir -p "$DW/ovl/$d/upper" "$DW/ovl/$d/work"
		ns mount -t overlay "octo-package-$d" -o \
		    "lowerdir=/$d,upperdir=$DW/ovl/$d/upper,workdir=$DW/ovl/$d/work" "/$d"
	done
	# A private /run: the postinst's systemd-tmpfiles makes agent-auth's
	# key directory there.
	ns mount -t tmpfs -o size=1m,mode=0755 octo-package-run /run
}

setup() {
	[ -z "$PKG_SKIP" ] || skip "$PKG_SKIP"
}

teardown_file() {
	[ -n "${DW:-}" ] || return 0
	# tentacle-recv, if a test stopped half-way: tt-unitrun, then the
	# server itself should it still run.
	if [ -s "$DW/recv.pid" ]; then
		kill "$(cat "$DW/recv.pid")" 2>/dev/null || true
		sleep 0.2
	fi
	# (the cron test's tentacle-recv is a daemon: only the child file)
	c=$(cat "$DW/recv.child" 2>/dev/null || true)
	if [ -n "$c" ] && ps -o args= -p "$c" | grep -q '^/usr/sbin/tentacle-recv '; then
		kill "$c" 2>/dev/null || true
	fi
	# The cron test's lock holder.
	c=$(cat "$DW/holder.pid" 2>/dev/null || true)
	[ -z "$c" ] || kill "$c" 2>/dev/null || true
	[ -d "$DW/db" ] && sh "$MDB" stop "$DW/db" > /dev/null 2>&1 || true
	# The installed package, its users and files go with the namespace.
	umount "$DW/ns/mnt" 2>/dev/null || true
	umount "$DW/ns" 2>/dev/null || true
	umount "$DW/ovl" 2>/dev/null || true
	# OCTO_KEEP=1 keeps the files (build log, overlays, logs) for a look.
	[ -n "${OCTO_KEEP:-}" ] || rm -rf "$DW"
}

@test "dpkg-buildpackage -us -uc -b in a clean clone builds octospool_VERSION_ARCH.deb" {
	[ -s "$DEB" ] || { tail -40 "$DW/build.log"; false; }
	# One version: the Makefile's is the package's.
	run sed -n 's/^VERSION *= *//p' "$DW/src/Makefile"
	assert_output "$VERSION"
	run dpkg-deb -f "$DEB" Package Version Architecture
	assert_output "Package: octospool
Version: $VERSION
Architecture: $(dpkg --print-architecture)"
	# The clone is left as it was: the build's files are ignored.
	run git -C "$DW/src" status --porcelain
	assert_output ""
	dpkg-deb -c "$DEB" > "$DW/contents"
	echo "# $(grep -c -v '/$' "$DW/contents") files in the package" >&3
}

@test "lintian reports no error" {
	run lintian --pedantic -I "${DEB%.deb}.changes"
	echo "$output" > "$DW/lintian.log"
	echo "# lintian: $(grep -c '^[EWIP]:' "$DW/lintian.log") tags," \
	    "$(grep -c '^E:' "$DW/lintian.log") errors" >&3
	refute_line --regexp '^E:'
	# 0: it ran, and found no error (1: errors, 2: it failed).
	assert_success
}

@test "dpkg -i: FHS paths, a conffile, users and directories from the maintainer scripts, nothing enabled" {
	run ns dpkg -i "$DEB"
	assert_success
	echo "$output" > "$DW/dpkg-i.log"
	# The postinst leaves the database alone unless told otherwise.
	assert_output --partial "db-load: [db-admin] upgrade_on_install is not set: nothing done"
	refute_output --partial "octo_* tables were not created"
	run ns dpkg-query -W -f='${db:Status-Abbrev}${Version}' octospool
	assert_output "ii $VERSION"
	for f in /usr/sbin/tentacle-recv /usr/sbin/xml-validate \
	    /usr/sbin/agent-auth /usr/sbin/db-load /usr/sbin/conf-dist \
	    /usr/sbin/audit-sign /usr/sbin/audit-verify /usr/sbin/audit-export \
	    /usr/sbin/octospool-status /usr/sbin/octospool-setup \
	    /usr/bin/tentacle-send; do
		ns test -x "$f"
	done
	for f in /usr/share/man/man8/tentacle-recv.8.gz /usr/share/man/man1/tentacle-send.1.gz \
	    /usr/share/man/man5/octospool.conf.5.gz /usr/share/man/man8/octospool-setup.8.gz \
	    $UNITS/tentacle-recv.service $UNITS/tentacle-recv.socket \
	    $UNITS/db-load.path $UNITS/db-load.timer \
	    /usr/lib/sysusers.d/octospool.conf /usr/lib/tmpfiles.d/octospool.conf \
	    /usr/share/octospool/sql/octo.sql /usr/share/octospool/octospool.conf.sample \
	    /usr/share/doc/octospool/copyright; do
		ns test -f "$f"
	done
	# Installed as built for /usr: units, setup and cron example.
	run ns grep -h '^ExecStart=' $UNITS/db-load.service $UNITS/tentacle-recv.service
	assert_output "ExecStart=/usr/sbin/db-load -c /etc/octospool/octospool.conf
ExecStart=/usr/sbin/tentacle-recv -F /etc/octospool/octospool.conf"
	ns grep -q '^sbindir=/usr/sbin$' /usr/sbin/octospool-setup
	ns grep -q '^sysusers=/usr/lib/sysusers.d/octospool.conf$' /usr/sbin/octospool-setup
	run ns grep -c '/usr/local' /usr/share/octospool/cron.d-octospool
	assert_output 0
	# The configuration: a conffile, the tools' group through a
	# statoverride.
	run ns cat /var/lib/dpkg/info/octospool.conffiles
	assert_output "/etc/octospool/octospool.conf"
	run ns stat -c '%a %U %G' "$CONF"
	assert_output "640 root octospool"
	run ns dpkg-statoverride --list "$CONF"
	assert_output "root octospool 640 $CONF"
	# systemd-sysusers ran: every user with its own group and its
	# hand-off groups; systemd-tmpfiles ran: the queues and key directories.
	run ns id -Gn octospool-recv
	assert_output "octospool-recv octospool octospool-xmlq octospool-uploadq octospool-auditq"
	run ns id -Gn octospool-db
	assert_output "octospool-db octospool octospool-dbq octospool-auditq"
	run ns stat -c '%a %U %G %n' /var/spool/octospool/xml-validate/new \
	    /var/spool/octospool/xml-validate/cur /var/spool/octospool/db-load/new \
	    /var/spool/octospool/conf-dist/out /etc/octospool/keys \
	    /var/lib/octospool/audit/keys
	assert_output "3770 octospool-xml octospool-xmlq /var/spool/octospool/xml-validate/new
700 octospool-xml octospool-xml /var/spool/octospool/xml-validate/cur
3770 octospool-db octospool-dbq /var/spool/octospool/db-load/new
750 octospool-conf octospool-recv /var/spool/octospool/conf-dist/out
755 root root /etc/octospool/keys
700 octospool-audit octospool-audit /var/lib/octospool/audit/keys"
	# Nothing enabled or started: no keys yet, no link to a unit.
	run ns find /etc/systemd/system -name 'tentacle-recv.*' -o -name 'db-load.*' \
	    -o -name 'audit-sign.*' -o -name 'xml-validate.*'
	assert_output ""
	run ns ls -A /etc/octospool/keys
	assert_output ""
	# All of it in the namespace's overlays; the machine is untouched.
	[ -x "$DW/ovl/usr/upper/sbin/tentacle-recv" ]
	grep -q '^octospool-recv:' "$DW/ovl/etc/upper/passwd"
	[ "$(dpkg-query -W -f='${db:Status-Abbrev}' octospool 2>/dev/null || true)" = "$HOST_STATUS" ]
}

@test "octospool-setup makes the keys; the site's values in the installed configuration" {
	run ns /usr/sbin/octospool-setup
	assert_success
	echo "$output" > "$DW/setup.log"
	assert_output --partial "made the stamp key of tentacle-recv"
	assert_output --partial "audit log verifier key"
	# The configuration is the package's: setup leaves it alone.
	refute_output --partial "installed $CONF"
	run ns stat -c '%a %U %n' /etc/octospool/keys/tentacle-recv.key \
	    /etc/octospool/keys/agent-auth.key /etc/octospool/conf-dist/sign.key
	assert_output "600 octospool-recv /etc/octospool/keys/tentacle-recv.key
600 octospool-auth /etc/octospool/keys/agent-auth.key
600 octospool-conf /etc/octospool/conf-dist/sign.key"
	# The database, made from the SQL files the package installed.
	OCTO_SQL_DIR=$DW/ovl/usr/upper/share/octospool/sql \
	    sh "$MDB" start "$DW/db" > "$DW/db.log" 2>&1
	# shellcheck disable=SC1091
	. "$DW/db/env"
	sh "$TOOLS/mkcerts.sh" "$DW/pki" research-agent-01 > /dev/null
	sh "$BATS_TEST_DIRNAME/tools/site-files.sh" "$DW"
	"$BIN/tt-wire" --freeport > "$DW/port"
	ns sed -i -E \
	    -e "s/^addresses .*/addresses 127.0.0.1/" \
	    -e "s/^port 41121$/port $(cat "$DW/port")/" \
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
	run ns stat -c '%a %U %G' "$CONF"
	assert_output "640 root octospool"
	# Every tool accepts it, as its installed unit runs it.
	for u in xml-validate agent-auth db-load audit-sign; do
		run unit "$u" -n
		assert_success
	done
}

@test "the pipeline from the installed paths: each stage as its unit declares, agent files over TLS, rows loaded" {
	PORT=$(cat "$DW/port")
	# nsenter itself, not through ns(): $! is then tt-unitrun's PID
	# (nsenter execs it), which passes SIGTERM on to tentacle-recv.
	nsenter --mount="$DW/ns/mnt" -- "$BIN/tt-unitrun" "$UNITS/tentacle-recv.service" \
	    2>>"$DW/recv.log" 3>&- &
	echo $! > "$DW/recv.pid"
	for _ in $(seq 1 100); do
		ss -ltn "sport = :$PORT" | grep -q LISTEN && break
		sleep 0.05
	done
	# The server: the installed binary, the unit's user, tt-unitrun's child.
	pid=$(pgrep -P "$(cat "$DW/recv.pid")" -u "$(ns id -u octospool-recv)" -f '^/usr/sbin/tentacle-recv ')
	[ -n "$pid" ]
	echo "$pid" > "$DW/recv.child"
	printf '%s\n' "$PW" | ns /usr/sbin/agent-auth -c "$CONF" passwd Servers
	ns /usr/sbin/agent-auth -c "$CONF" selfcreate Servers on
	agent_files "$DW/agent"
	run ns /usr/bin/tentacle-send -a 127.0.0.1 -p "$PORT" -e "$DW/pki/client.crt" \
	    -k "$DW/pki/client.key" -f "$DW/pki/ca.crt" "$DW"/agent/*.data
	assert_success
	run ns sh -c 'stat -c "%U %G %a" /var/spool/octospool/xml-validate/new/* | sort | uniq -c'
	assert_output "      5 octospool-recv octospool-xmlq 640"
	unit xml-validate -d
	unit agent-auth -d
	unit db-load -d
	unit audit-sign -d
	# The Unknown-group sample has no password: refused by agent-auth.
	run sql "SELECT nombre, id_grupo FROM tagente ORDER BY nombre"
	assert_output "$(printf 'research-agent-01\t2\nresearch-broker-01\t2')"
	[ "$(sql "SELECT COUNT(*) FROM octo_loaded_file")" -eq 4 ]
	[ "$(sql "SELECT COUNT(*) FROM tagente_datos")" -gt 0 ]
	for q in xml-validate agent-auth db-load audit-sign; do
		[ "$(ns sh -c "ls /var/spool/octospool/$q/new | wc -l")" -eq 0 ]
	done
	ns sh -c "grep -q '^reason=rule=auth-password ' /var/spool/octospool/agent-auth/reject/*.reason"
	grep -q 'event=drain.done stage=db-load seen=4 loaded=4 duplicates=0 rejected=0' "$DW/db-load.log"
	# The sealed log verifies with the key octospool-setup printed.
	run ns /usr/sbin/audit-verify -K /etc/octospool/audit.vkey /var/lib/octospool/audit/log
	assert_success
	assert_output --partial "audit-verify: PASS"
	# octospool-status, installed: the queues drained, the database and
	# db-load's schema check (the db-load beside it) up, the receiver
	# listening; conf-dist never ran, so at worst "degraded".
	run ns /usr/sbin/octospool-status -c "$CONF" --json
	echo "$output" > "$DW/status.json"
	[ "$status" -le 1 ]
	python3 - "$DW/status.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["database"]["health"] == "ok", s["database"]
assert s["tentacle_recv"]["health"] == "ok", s["tentacle_recv"]
for q in s["queues"]:
    if q["queue"] in ("xml-validate", "agent-auth", "db-load"):
        assert q["new"] == 0 and q["last_run"]["exit"] == 0, q
EOF
	# Stopped by PID, as systemd stops it: SIGTERM.
	kill "$(cat "$DW/recv.pid")"
	wait_gone "$pid"
	wait "$(cat "$DW/recv.pid")" 2>/dev/null || true
	: > "$DW/recv.pid"
	: > "$DW/recv.child"
	run grep -h -E 'ERROR: AddressSanitizer|runtime error:|Segmentation|exit=7[01] ' "$DW"/*.log
	assert_equal "$status" 1
}

@test "cron: the installed lines, run as cron runs them (root, the file's environment, sh -c, no terminal), take agent files end to end; a run that finds its queue locked leaves at once" {
	PORT=$(cat "$DW/port")
	# As octospool(7) says: the example into /etc/cron.d.
	ns install -m 0644 /usr/share/octospool/cron.d-octospool /etc/cron.d/octospool
	ns cat /etc/cron.d/octospool > "$DW/crontab"
	# Read it as cron reads a cron.d file: NAME=value lines are the
	# environment; a job is five time fields or @reboot, the user, the
	# command.  Every other line is a comment or empty.
	python3 - "$DW/crontab" "$DW/cron" <<'PY'
import re, sys
field = r"(\*|[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*)(/[0-9]+)?"
env, reboot, minute = [], [], []
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if not line.strip() or line.lstrip().startswith("#"):
        continue
    if re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", line):
        env.append(line)
        continue
    if line.startswith("@reboot"):
        _, user, cmd = line.split(None, 2)
        assert user == "root", line
        reboot.append(cmd)
        continue
    parts = line.split(None, 6)
    assert len(parts) == 7, line
    for f in parts[:5]:
        assert re.fullmatch(field, f), (f, line)
    assert parts[5] == "root", line
    minute.append(parts[6])
d = sys.argv[2]
open(d + ".env", "w").write("\n".join(env) + "\n")
open(d + ".reboot", "w").write("\n".join(reboot) + "\n")
open(d + ".jobs", "w").write("\n".join(minute) + "\n")
PY
	grep -qx 'PATH=/usr/sbin:/usr/bin:/sbin:/bin' "$DW/cron.env"
	# Every drain and the exporter from the installed paths with the
	# installed configuration; the daemon at boot; the node_exporter
	# line left for the administrator to enable.
	for t in xml-validate agent-auth db-load audit-sign conf-dist audit-export db-purge; do
		grep -q "^/usr/sbin/$t -c /etc/octospool/octospool.conf" "$DW/cron.jobs"
	done
	[ "$(wc -l < "$DW/cron.jobs")" -eq 7 ]
	grep -q '^#\*/5 \* \* \* \* root /usr/sbin/octospool-status ' "$DW/crontab"
	run cat "$DW/cron.reboot"
	assert_output "/usr/sbin/tentacle-recv -d -F /etc/octospool/octospool.conf"
	# cronjob CMD: as cron runs it: root, only the file's environment and
	# cron's own (HOME, LOGNAME), /bin/sh -c, in /, stdin from nowhere;
	# its output is what cron would mail.
	cronjob() {
		local -a e
		mapfile -t e < "$DW/cron.env"
		ns env -i -C / "${e[@]}" HOME=/root LOGNAME=root USER=root \
		    /bin/sh -c "$1" < /dev/null >> "$DW/cron.mail" 2>&1 3>&-
	}
	: > "$DW/cron.mail"
	# @reboot: tentacle-recv goes to the background as its own user.
	cronjob "$(cat "$DW/cron.reboot")"
	for _ in $(seq 1 100); do
		ss -ltn "sport = :$PORT" | grep -q LISTEN && break
		sleep 0.05
	done
	pid=$(pgrep -u "$(ns id -u octospool-recv)" -f '^/usr/sbin/tentacle-recv -d -F ')
	[ -n "$pid" ]
	echo "$pid" > "$DW/recv.child"
	agent_files "$DW/agent2" '-2 days'
	run ns /usr/bin/tentacle-send -a 127.0.0.1 -p "$PORT" -e "$DW/pki/client.crt" \
	    -k "$DW/pki/client.key" -f "$DW/pki/ca.crt" "$DW"/agent2/*.data
	assert_success
	# The first two stages; then db-load's line while the run before
	# still holds its queue (flock on the queue's lock file): it leaves
	# at once and the items stay.
	while IFS= read -r job; do
		case $job in
		*/xml-validate\ *|*/agent-auth\ *) cronjob "$job" ;;
		esac
	done < "$DW/cron.jobs"
	[ "$(ns sh -c "ls /var/spool/octospool/db-load/new | wc -l")" -eq 4 ]
	# (one process holds it: killing it lets the lock go)
	nsenter --mount="$DW/ns/mnt" -- python3 -c 'import fcntl, sys, time
f = open(sys.argv[1])
fcntl.flock(f, fcntl.LOCK_EX)
time.sleep(60)' /var/spool/octospool/db-load/lock 3>&- &
	holder=$!
	echo "$holder" > "$DW/holder.pid"
	for _ in $(seq 1 100); do
		ns flock -n /var/spool/octospool/db-load/lock true || break
		sleep 0.05
	done
	start=$(date +%s)
	cronjob "$(grep '^/usr/sbin/db-load ' "$DW/cron.jobs")"
	[ $(($(date +%s) - start)) -lt 10 ]
	[ "$(ns sh -c "ls /var/spool/octospool/db-load/new | wc -l")" -eq 4 ]
	[ "$(sql "SELECT COUNT(*) FROM octo_loaded_file")" -eq 4 ]
	kill "$holder"
	wait "$holder" || true
	: > "$DW/holder.pid"
	# The next minute: every line in turn; the pipeline drains.
	while IFS= read -r job; do
		cronjob "$job"
	done < "$DW/cron.jobs"
	[ "$(sql "SELECT COUNT(*) FROM octo_loaded_file")" -eq 8 ]
	for q in xml-validate agent-auth db-load audit-sign; do
		[ "$(ns sh -c "ls /var/spool/octospool/$q/new | wc -l")" -eq 0 ]
	done
	# Each tool became its own user: its status line is its user's file.
	run ns stat -c '%U %n' /var/spool/octospool/xml-validate/status \
	    /var/spool/octospool/db-load/status
	assert_output "octospool-xml /var/spool/octospool/xml-validate/status
octospool-db /var/spool/octospool/db-load/status"
	# Nothing for cron to mail.
	run cat "$DW/cron.mail"
	assert_output ""
	run ns /usr/sbin/audit-verify -K /etc/octospool/audit.vkey /var/lib/octospool/audit/log
	assert_success
	kill "$pid"
	wait_gone "$pid"
	: > "$DW/recv.child"
	# The administrator's file, not the package's: it goes back out
	# (the purge below counts what the package leaves).
	ns rm /etc/cron.d/octospool
}

@test "upgrade from 0.3.0: the postinst removes the cache key 0.3.0 kept on the spool, and the cache it keyed" {
	local a=/var/spool/octospool/agent-auth
	# The pipeline above verified a group password: the cache is on the
	# spool, its key in /run, agent-auth's, 0600.
	ns test -s "$a/verified"
	run ns stat -c '%U %a' /run/octospool/agent-auth/verified.key
	assert_output "octospool-auth 600"
	# What 0.3.0 left: its key beside the cache, as its agent-auth made it.
	ns sh -c "head -c 32 /dev/urandom > $a/verified.key"
	ns chown octospool-auth:octospool-auth "$a/verified.key"
	ns chmod 0600 "$a/verified.key"
	# And a directory where a file was (anyone's doing): said, left.
	ns mkdir "$a/verified.tmp"
	# dpkg runs the new postinst so on an upgrade from 0.3.0.
	run ns /var/lib/dpkg/info/octospool.postinst configure 0.3.0
	assert_success
	assert_output --partial "octospool: $a/verified.tmp is a directory: left alone"
	ns rmdir "$a/verified.tmp"
	ns test ! -e "$a/verified.key"
	ns test ! -e "$a/verified"
	# The key in memory and the rest of the queue stay.
	ns test -s /run/octospool/agent-auth/verified.key
	ns test -d "$a/new"
	ns sh -c "ls $a/reject/*.reason"
	# A configure of this version again (dpkg-reconfigure) removes nothing.
	ns sh -c "printf 'x' > $a/verified"
	run ns /var/lib/dpkg/info/octospool.postinst configure "$VERSION"
	assert_success
	ns test -e "$a/verified"
}

@test "dpkg --purge removes the package and what holds no data, keeps the data an administrator decides about" {
	dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' > "$DW/files"
	[ -s "$DW/files" ]
	# The administrator enabled units, as README.md says (systemctl makes
	# the links without systemd running).
	ns systemctl enable tentacle-recv.socket db-load.path db-load.timer 2>/dev/null
	ns test -L /etc/systemd/system/sockets.target.wants/tentacle-recv.socket
	ns test -L /etc/systemd/system/timers.target.wants/db-load.timer
	# agent-auth's cache (from the test above), one it was writing when
	# it died, 0.3.0's key for it, and the key in memory.
	local a=/var/spool/octospool/agent-auth
	ns sh -c "printf 'x' > $a/verified.tmp; printf 'k' > $a/verified.key"
	ns test -e "$a/verified"
	ns test -e /run/octospool/agent-auth/verified.key
	run ns dpkg --purge octospool
	assert_success
	echo "$output" > "$DW/purge.log"
	for f in verified verified.tmp verified.key; do
		ns test ! -e "$a/$f"
	done
	ns test ! -e /run/octospool
	run ns dpkg-query -W -f='${db:Status-Status}' octospool
	[ "$status" -ne 0 ] || [ "$output" = not-installed ]
	# Gone: every file of the package, the conffile and its statoverride,
	# the enablement links, the spool's bookkeeping and every directory
	# left empty.
	while read -r f; do
		if ns test -e "$f"; then
			echo "# still there: $f" >&3
			false
		fi
	done < "$DW/files"
	ns test ! -e "$CONF"
	run ns dpkg-statoverride --list "$CONF"
	assert_failure
	run ns find /etc/systemd/system -name 'tentacle-recv.*' -o -name 'db-load.*'
	assert_output ""
	for d in xml-validate db-load conf-dist agent-auth/new agent-auth/lock \
	    agent-auth/failures; do
		ns test ! -e "/var/spool/octospool/$d"
	done
	# Kept: the items in the spool (here agent-auth's refusal and its
	# reason), the audit log with its keys, the stamp and signing keys,
	# the verifier key, what the administrator put in /etc/octospool, and
	# the users and groups that own all of it.
	ns sh -c 'ls /var/spool/octospool/agent-auth/reject/*.data.reason'
	[ "$(ns sh -c 'ls /var/lib/octospool/audit/log/seg | wc -l')" -gt 0 ]
	[ -n "$(ns ls -A /var/lib/octospool/audit/keys)" ]
	for f in keys/tentacle-recv.key keys/tentacle-recv.pub keys/agent-auth.key \
	    conf-dist/sign.key audit.vkey db-load.pw agent-auth.pw db-admin.pw \
	    db-purge.pw tls/server.key; do
		ns test -f "/etc/octospool/$f"
	done
	for u in recv xml auth db conf audit auditx purge; do
		ns id "octospool-$u" > /dev/null
	done
	ns getent group octospool octospool-admin > /dev/null
	[ "$(ns stat -c %U /etc/octospool/keys/tentacle-recv.key)" = octospool-recv ]
	# And nothing else: what the package's life wrote, as the overlays
	# recorded it, is dpkg's own records, the user database, man-db's
	# cache, and the kept directories.
	run sh -c 'cd "$DW/ovl" && find usr/upper etc/upper var/upper ! -type d |
	    grep -v -E "^etc/upper/((passwd|group|shadow|gshadow)-?|\.pwd\.lock)$" |
	    grep -v -E "^var/upper/(lib/dpkg|log|cache/man)/" |
	    grep -v -E "^(var/upper/spool/octospool|var/upper/lib/octospool|etc/upper/octospool)/"'
	assert_output ""
}
