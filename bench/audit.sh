#!/bin/sh
# SPDX-License-Identifier: ISC
# bench/audit.sh: the sealed audit log's throughput, next to the raw
# fdatasync rate of the same filesystem measured in the same run.
#
#   1. raw: 4 KiB appends, each followed by fdatasync (the limit of one
#      sync per commit), rate and p50/p99 latency;
#   2. seal: BENCH_AUDIT_EVENTS events of 256 bytes, queued as files of
#      BENCH_AUDIT_PER_FILE events, drained by one audit-sign run
#      (validation, chain, tree, one signed checkpoint + fdatasync per
#      batch, unlinks): events/s;
#   3. ack latency: audit-sign -f running, a producer writes one file of
#      10 events every 10 ms (1,000 events/s) for BENCH_AUDIT_SECS
#      seconds; latency from the rename into new/ to the file's removal
#      (sealed and durable): p50, p99, max;
#   4. verify: audit-verify over the log of step 2: records/s.
#
# Environment: BENCH_TMPDIR (the filesystem under test, default /tmp),
# OCTO_BIN (default bin/), BENCH_AUDIT_EVENTS (default 500000),
# BENCH_AUDIT_PER_FILE (default 500), BENCH_AUDIT_SECS (default 5).
# Run as root: the tools drop to "nobody".
set -eu
cd "$(dirname "$0")/.."
BIN=${OCTO_BIN:-$(pwd)/bin}
EVENTS=${BENCH_AUDIT_EVENTS:-500000}
PER=${BENCH_AUDIT_PER_FILE:-500}
SECS=${BENCH_AUDIT_SECS:-5}
W=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/octo-audit-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
chmod 0755 "$W"
U=nobody
[ "$(id -u)" -eq 0 ] || U=$(id -un)

echo "bench/audit: work dir $W ($(df -PT "$W" | awk 'NR == 2 { print $2 }')), $(nproc) CPUs"

# 1. Raw fdatasync.
python3 - "$W/raw" <<'EOF'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
buf = b"x" * 4096
lat = []
t0 = time.perf_counter()
for _ in range(1000):
    a = time.perf_counter()
    os.write(fd, buf)
    os.fdatasync(fd)
    lat.append(time.perf_counter() - a)
el = time.perf_counter() - t0
lat.sort()
print("raw fdatasync: %.0f syncs/s  p50 %.3f ms  p99 %.3f ms" %
      (len(lat) / el, lat[len(lat) // 2] * 1e3, lat[int(len(lat) * .99)] * 1e3))
EOF

# The log and its queue.
sh tools/mkspool.sh "$W/spool"
mkdir -p "$W/log" "$W/keys"
chown -R "$U" "$W/spool" "$W/log" "$W/keys" 2>/dev/null || true
cat > "$W/a.conf" <<EOF
spool_dir $W/spool
idle_exit 0
[audit-sign]
user $U
log_dir $W/log
key_dir $W/keys
batch 256
producers any
EOF
"$BIN/audit-sign" -c "$W/a.conf" --keygen bench > "$W/vkey" 2>/dev/null

# 2. Sustained sealing: the queue filled first (producers' cost apart).
python3 - "$W/spool/audit-sign" "$EVENTS" "$PER" "$U" <<'EOF'
import os, pwd, sys
q, n, per, user = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pw = pwd.getpwnam(user)
head = '{"ts":"2026-11-27T10:00:00.123Z","tool":"bench","action":"file.received","outcome":"stored","item":"%08d.%04d","pad":"'
files = 0
for f in range(0, n, per):
    lines = []
    for i in range(min(per, n - f)):
        s = head % (f, i)
        lines.append(s + "x" * (254 - len(s) - 2) + '"}')
    data = ("\n".join(lines) + "\n").encode()
    name = "%010d.bench" % f
    p = os.path.join(q, "tmp", name)
    with open(p, "wb") as fh:
        fh.write(data)
    os.chmod(p, 0o640)
    os.chown(p, pw.pw_uid, pw.pw_gid)
    os.rename(p, os.path.join(q, "new", name))
    files += 1
print("queued %d events of 256 bytes in %d files" % (n, files))
EOF
sync
t0=$(date +%s.%N)
"$BIN/audit-sign" -c "$W/a.conf" 2>/dev/null
t1=$(date +%s.%N)
left=$(find "$W/spool/audit-sign/new" -type f | wc -l)
awk -v a="$t0" -v b="$t1" -v n="$EVENTS" -v l="$left" 'BEGIN {
    printf "seal: %d events in %.2f s = %.0f events/s (files left: %d)\n",
        n, b - a, n / (b - a), l }'

# 4. Verify (the log of step 2).
t0=$(date +%s.%N)
out=$("$BIN/audit-verify" -K "$W/vkey" "$W/log")
t1=$(date +%s.%N)
echo "$out" | sed 's/^/  /'
size=$(echo "$out" | sed -n 's/.* size=\([0-9]*\) .*/\1/p')
awk -v a="$t0" -v b="$t1" -v n="$size" 'BEGIN {
    printf "verify: %d records in %.2f s = %.0f records/s\n", n, b - a, n / (b - a) }'

# 3. Ack latency at 1,000 events/s against audit-sign -f.
"$BIN/audit-sign" -f -c "$W/a.conf" 2>/dev/null &
sp=$!
sleep 0.5
python3 - "$W/spool/audit-sign" "$SECS" "$U" <<'EOF'
import os, pwd, sys, time
q, secs, user = sys.argv[1], float(sys.argv[2]), sys.argv[3]
pw = pwd.getpwnam(user)
ev = ('{"ts":"2026-11-27T10:00:00.123Z","tool":"bench","action":"x","outcome":"ok","pad":"' + "y" * 170 + '"}\n') * 10
pending, lat = {}, []
start = time.perf_counter()
k = 0
while True:
    now = time.perf_counter()
    if now - start < secs and now >= start + k * 0.010:
        name = "%012d.lat" % k
        p = os.path.join(q, "tmp", name)
        with open(p, "w") as fh:
            fh.write(ev)
        os.chmod(p, 0o640)
        os.chown(p, pw.pw_uid, pw.pw_gid)
        os.rename(p, os.path.join(q, "new", name))
        pending[name] = time.perf_counter()
        k += 1
    for name in list(pending):
        if not os.path.exists(os.path.join(q, "new", name)) and \
                not os.path.exists(os.path.join(q, "cur", name)):
            lat.append(time.perf_counter() - pending.pop(name))
    if now - start >= secs and not pending:
        break
    if now - start > secs + 30:
        break
    time.sleep(0.0005)
lat.sort()
n = len(lat)
print("ack latency at 1000 events/s (%d files of 10 events): p50 %.2f ms  p99 %.2f ms  max %.2f ms" %
      (n, lat[n // 2] * 1e3, lat[int(n * .99)] * 1e3, lat[-1] * 1e3))
EOF
kill "$sp"
wait "$sp" 2>/dev/null || true
"$BIN/audit-verify" -K "$W/vkey" "$W/log" | sed 's/^/  final: /'
