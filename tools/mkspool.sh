#!/bin/sh
# SPDX-License-Identifier: ISC
# Create the octospool spool tree (what etc/tmpfiles.d/octospool.conf
# does on an installed system): mkspool.sh DIR [OWNER]
# Queues: tmp/ and new/ 3770 (the producers' group writes, the sticky bit
# keeps each producer to its own files, set-group-ID gives every item the
# queue's group so that the consumer reads it), cur/ reject/ 0700.
set -eu
dir=${1:?usage: mkspool.sh DIR [OWNER]}
owner=${2:-}
mkdir -p "$dir"
for q in xml-validate agent-auth db-load audit-sign audit-witness \
    conf-dist/uploads \
    conf-dist/submit; do
	mkdir -p "$dir/$q/tmp" "$dir/$q/new" "$dir/$q/cur" "$dir/$q/reject"
	chmod 3770 "$dir/$q/tmp" "$dir/$q/new"
	chmod 0700 "$dir/$q/cur" "$dir/$q/reject"
done
for d in conf md5 collections commands; do
	mkdir -p "$dir/conf-dist/out/$d"
	chmod 0755 "$dir/conf-dist/out/$d"
done
chmod 0755 "$dir" "$dir/conf-dist" "$dir/conf-dist/out"
if [ -n "$owner" ]; then
	chown -R "$owner" "$dir"
fi
