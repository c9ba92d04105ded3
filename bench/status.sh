#!/bin/sh
# SPDX-License-Identifier: ISC
# octospool-status on a spool of ITEMS waiting items (default 100000,
# spread over the six queues as they pile up in an outage: most in
# xml-validate), next to the floor of the same work measured in the same
# run: listing the same directories (ls -f, readdir only).  hyperfine,
# RUNS runs each after a warm-up; the database and tentacle-recv checks
# are off (--no-db --no-recv: they measure the network, not the spool).
#
#   sh bench/status.sh [ITEMS]
#
# Environment: RUNS (default 20), BENCH_TMPDIR (default /tmp), OCTO_BIN.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ITEMS=${1:-100000}
RUNS=${RUNS:-20}
BIN=${OCTO_BIN:-$ROOT/bin}
W=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/octo-bench-status.XXXXXX")
trap 'rm -rf "$W"' EXIT INT TERM
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine" >&2; exit 1; }

sh tools/mkspool.sh "$W/spool"
mkdir -p "$W/log/seg"
: > "$W/log/seg/0000000000000001.seg"
printf 'spool_dir %s\n[status]\naudit_log_dir %s/log\n' "$W/spool" "$W" \
    > "$W/o.conf"
# 80% in xml-validate, the rest spread; names as the spool makes them.
python3 - "$W/spool" "$ITEMS" <<'EOF'
import os, sys, time
spool, n = sys.argv[1], int(sys.argv[2])
queues = ["xml-validate"] * 8 + ["agent-auth", "db-load"]
t = int(time.time()) - 3600
for i in range(n):
    q = queues[i % len(queues)]
    name = "%d.%06d_%d_%08x.agent%d.%d.data" % (t + i // 100, i % 1000000,
        4242, i, i % 500, t)
    open(os.path.join(spool, q, "new", name), "w").close()
EOF
for q in xml-validate agent-auth db-load audit-sign conf-dist/submit \
    conf-dist/uploads; do
	printf 'stage=x time=2026-12-06T00:00:00Z epoch=%s pid=1 exit=0 seen=0 done=0 rejected=0 retried=0 ms=0\n' \
	    "$(date +%s)" > "$W/spool/$q/status"
done
echo "bench: $ITEMS items in $W/spool ($(df -PT "$W" | awk 'NR == 2 { print $2 }'))"
hyperfine -N --warmup 3 --runs "$RUNS" -i --export-markdown "$W/result.md" \
    -n "ls -f (the six queues' new/ cur/ reject/, readdir only)" \
    "sh -c 'for q in xml-validate agent-auth db-load audit-sign conf-dist/submit conf-dist/uploads; do for d in new cur reject; do ls -f $W/spool/\$q/\$d; done; done > /dev/null'" \
    -n "octospool-status --no-db --no-recv" \
    "$BIN/octospool-status -c $W/o.conf --no-db --no-recv"
cat "$W/result.md"
