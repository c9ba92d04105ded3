#!/bin/sh
# SPDX-License-Identifier: ISC
# Install the Debian packages octospool needs to build, test and demo,
# when they are missing.  Run as root on Debian 12; as a normal user it
# only says what is missing.
set -eu
pkgs="gcc make pkg-config libssl-dev libmariadb-dev libxml2-dev libbsd-dev
zlib1g-dev libpcre2-dev bats bats-assert bats-support bats-file mariadb-server
mariadb-client mandoc openssl perl libio-socket-ssl-perl unzip zip
hyperfine procps iproute2 util-linux time clang libclang-rt-dev
python3 python3-cryptography rsyslog rsyslog-openssl faketime strace"
# The Debian package: its build (debian/control's Build-Depends) and
# tests/package.bats.
pkgs="$pkgs dpkg-dev debhelper lintian git"
# tests/tentacle-recv.bats: a real HAProxy in front of two receivers;
# tests/status.bats and tests/cluster.bats: Galera nodes (mariadb-server
# depends on galera-4 too), joined by rsync SST.
pkgs="$pkgs haproxy galera-4 rsync"
# make bench-purge: pandora_db.pl's method in Perl DBI.
pkgs="$pkgs libdbd-mariadb-perl"
missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run as root: apt-get install$missing" >&2
	exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Keep the system MariaDB from starting: tests run a private one.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
