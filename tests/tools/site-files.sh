#!/bin/sh
# SPDX-License-Identifier: ISC
# site-files.sh DW: what an administrator puts into /etc/octospool after
# installing (octospool.conf(5)), into the mount namespace DW/ns/mnt of
# tests/deploy.bats, tests/package.bats and bench/e2e.sh: the TLS files
# (DW/pki from tools/mkcerts.sh, DW/db/tls from tools/mariadb.sh) and
# the database password files, each with the group of the one tool that
# reads it.
set -eu
DW=$1
ns() {
	nsenter --mount="$DW/ns/mnt" -- "$@"
}
ns install -d -m 0755 /etc/octospool/tls
ns install -m 0644 "$DW/pki/server.crt" /etc/octospool/tls/server.crt
ns install -m 0640 -g octospool-recv "$DW/pki/server.key" /etc/octospool/tls/server.key
ns install -m 0644 "$DW/pki/ca.crt" /etc/octospool/tls/agents-ca.crt
ns install -m 0644 "$DW/db/tls/ca.crt" /etc/octospool/tls/db-ca.crt
ns install -m 0644 "$DW/db/tls/client.crt" /etc/octospool/tls/db-client.crt
ns install -m 0640 -g octospool "$DW/db/tls/client.key" /etc/octospool/tls/db-client.key
ns install -m 0640 -g octospool-auth "$DW/db/secrets/octo_agent_auth.pw" /etc/octospool/agent-auth.pw
ns install -m 0640 -g octospool-db "$DW/db/secrets/octo_db_load.pw" /etc/octospool/db-load.pw
ns install -m 0640 -g octospool-admin "$DW/db/secrets/octo_admin.pw" /etc/octospool/db-admin.pw
ns install -m 0640 -g octospool-purge "$DW/db/secrets/octo_db_purge.pw" /etc/octospool/db-purge.pw
ns install -m 0640 -g octospool-conf "$DW/db/secrets/octo_conf_dist.pw" /etc/octospool/conf-dist.pw
