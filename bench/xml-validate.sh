#!/bin/bash
# SPDX-License-Identifier: ISC
# bench/xml-validate.sh: xml-validate's drain rate on 10,000 copies of the
# real agent samples (tests/data/samples, ~6.5 KB, 15 modules), durable
# hand-off included, next to raw rates measured in the same run on the
# same file system:
#   parse     libxml2 alone: xmlReadMemory (DOM, NONET) + xmlFreeDoc
#   sax       libxml2 alone: the same bytes through an empty SAX2 handler
#   xsd       DOM parse + xmlSchemaValidateDoc with etc/agent_data.xsd
#   agentxml  lib/agentxml: SAX2 + hand-written structure + value rules
#   fsync     durable writes, one fsync per file (batches of 256)
#   syncfs    durable writes, one syncfs per batch of 256 (what lib/drain does)
# Usage: bench/xml-validate.sh [N]   (default 10000; BENCH_DIR=dir to choose
# where the spool goes; RUNS=3 drain runs, the median is reported)
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
n=${1:-10000}
runs=${RUNS:-3}
make -s all >/dev/null
mkdir -p bench/.build
work=${BENCH_DIR:-$(mktemp -d /var/tmp/xvbench.XXXXXX)}
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT

cat > bench/.build/xv-raw.c <<'EOF'
/* Raw rates for bench/xml-validate.sh (see there). */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include "agentxml.h"

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void
quiet(void *c, const char *m, ...)
{
	(void)c; (void)m;
}

static char *buf[64];
static size_t len[64];
static int nf;

static void
load(int argc, char **argv, int first)
{
	for (int i = first; i < argc && nf < 64; i++) {
		FILE *fp = fopen(argv[i], "rb");

		buf[nf] = malloc(1 << 20);
		len[nf] = fread(buf[nf], 1, 1 << 20, fp);
		fclose(fp);
		nf++;
	}
}

static void
report(const char *what, long n, double secs)
{
	size_t bytes = 0;

	for (long i = 0; i < n; i++)
		bytes += len[i % nf];
	printf("%s files=%ld secs=%.3f rate=%.0f mbps=%.1f\n", what, n, secs,
	    n / secs, bytes / secs / 1e6);
}

int
main(int argc, char **argv)
{
	long n = atol(argv[2]);
	double t0;

	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, quiet);
	if (!strcmp(argv[1], "parse") || !strcmp(argv[1], "sax")) {
		xmlSAXHandler sax;

		load(argc, argv, 3);
		memset(&sax, 0, sizeof(sax));
		sax.initialized = XML_SAX2_MAGIC;
		t0 = now();
		for (long i = 0; i < n; i++) {
			if (argv[1][0] == 'p') {
				xmlDocPtr d = xmlReadMemory(buf[i % nf],
				    len[i % nf], NULL, NULL, XML_PARSE_NONET);
				if (d == NULL)
					return 1;
				xmlFreeDoc(d);
			} else
				xmlSAXUserParseMemory(&sax, NULL, buf[i % nf],
				    len[i % nf]);
		}
		report(argv[1], n, now() - t0);
	} else if (!strcmp(argv[1], "xsd")) {
		xmlSchemaParserCtxtPtr pc = xmlSchemaNewParserCtxt(argv[3]);
		xmlSchemaPtr s = xmlSchemaParse(pc);
		xmlSchemaValidCtxtPtr vc = xmlSchemaNewValidCtxt(s);

		load(argc, argv, 4);
		t0 = now();
		for (long i = 0; i < n; i++) {
			xmlDocPtr d = xmlReadMemory(buf[i % nf], len[i % nf],
			    NULL, NULL, XML_PARSE_NONET);
			if (d == NULL || xmlSchemaValidateDoc(vc, d) != 0)
				return 1;
			xmlFreeDoc(d);
		}
		report("xsd", n, now() - t0);
	} else if (!strcmp(argv[1], "agentxml")) {
		struct agentxml_limits l;
		char why[512];

		agentxml_init();
		agentxml_limits_default(&l);
		load(argc, argv, 3);
		t0 = now();
		for (long i = 0; i < n; i++) {
			struct agent_data *ad;

			if (agentxml_parse(buf[i % nf], len[i % nf], &l, &ad,
			    why, sizeof(why)) == -1) {
				fprintf(stderr, "%s\n", why);
				return 1;
			}
			agentxml_free(ad);
		}
		report("agentxml", n, now() - t0);
	} else if (!strcmp(argv[1], "copies")) {
		/* copies N DIR FILES: N items NNNNN.<name>, round robin. */
		load(argc, argv, 4);
		for (long i = 0; i < n; i++) {
			const char *f = argv[4 + i % nf], *base = strrchr(f, '/');
			char p[4200];
			FILE *fp;

			snprintf(p, sizeof(p), "%s/%05ld.%s", argv[3], i + 1,
			    base ? base + 1 : f);
			if ((fp = fopen(p, "wx")) == NULL ||
			    fwrite(buf[i % nf], 1, len[i % nf], fp) !=
			    len[i % nf] || fclose(fp) == EOF)
				return 1;
		}
	} else {
		/* fsync|syncfs N DIR FILE: durable copies of FILE. */
		int syncfs_mode = !strcmp(argv[1], "syncfs"), fds[256], dfd;
		char tmp[4096], nw[4096];

		load(argc, argv, 4);
		snprintf(tmp, sizeof(tmp), "%s/tmp", argv[3]);
		snprintf(nw, sizeof(nw), "%s/new", argv[3]);
		mkdir(tmp, 0755);
		mkdir(nw, 0755);
		dfd = open(nw, O_RDONLY | O_DIRECTORY);
		t0 = now();
		for (long b = 0; b < n; b += 256) {
			long e = b + 256 < n ? b + 256 : n;

			for (long i = b; i < e; i++) {
				char p[4200];

				snprintf(p, sizeof(p), "%s/%ld", tmp, i);
				fds[i - b] = open(p, O_CREAT | O_EXCL |
				    O_WRONLY, 0640);
				if (fds[i - b] == -1 || write(fds[i - b],
				    buf[0], len[0]) != (ssize_t)len[0])
					return 1;
			}
			if (syncfs_mode && syncfs(dfd) == -1)
				return 1;
			for (long i = b; i < e; i++) {
				char p[4200], q[4200];

				if (!syncfs_mode && fsync(fds[i - b]) == -1)
					return 1;
				close(fds[i - b]);
				snprintf(p, sizeof(p), "%s/%ld", tmp, i);
				snprintf(q, sizeof(q), "%s/%ld", nw, i);
				if (rename(p, q) == -1)
					return 1;
			}
			if (fsync(dfd) == -1)
				return 1;
		}
		report(argv[1], n, now() - t0);
	}
	return 0;
}
EOF
# shellcheck disable=SC2046
cc -O2 -Ilib $(pkg-config --cflags libxml-2.0) -o bench/.build/xv-raw \
    bench/.build/xv-raw.c build/release/libocto.a \
    $(pkg-config --libs libxml-2.0 libbsd-overlay) -lcrypto
raw=bench/.build/xv-raw
samples=(tests/data/samples/*.data)
bytes=$(cat "${samples[@]}" | wc -c)

echo "== raw rates ($n files each)"
"$raw" parse "$n" "${samples[@]}"
"$raw" sax "$n" "${samples[@]}"
"$raw" xsd "$n" etc/agent_data.xsd "${samples[@]}"
"$raw" agentxml "$n" "${samples[@]}"
rm -rf "$work/raw" && mkdir -p "$work/raw" && sync
"$raw" fsync "$n" "$work/raw" "${samples[0]}"
rm -rf "$work/raw" && mkdir -p "$work/raw" && sync
"$raw" syncfs "$n" "$work/raw" "${samples[0]}"
rm -rf "$work/raw"

echo "== xml-validate drain: $n items, $runs runs"
user=$(id -un)
[ "$(id -u)" -eq 0 ] && user=nobody
rates=()
for r in $(seq 1 "$runs"); do
	rm -rf "$work/spool"
	sh tools/mkspool.sh "$work/spool" >/dev/null
	printf 'spool_dir %s\nidle_exit 0\n[xml-validate]\nuser %s\nproducer %s\n' \
	    "$work/spool" "$user" "$user" > "$work/xv.conf"
	"$raw" copies "$n" "$work/spool/xml-validate/new" "${samples[@]}"
	[ "$(id -u)" -eq 0 ] && chown -R nobody "$work/spool"
	sync
	t0=$(date +%s%N)
	TZ=UTC bin/xml-validate -c "$work/xv.conf" --now 1795816800
	t1=$(date +%s%N)
	got=$(find "$work/spool/agent-auth/new" -type f | wc -l)
	[ "$got" -eq "$n" ] || { echo "only $got of $n passed on" >&2; exit 1; }
	awk -v n="$n" -v ns=$((t1 - t0)) -v b="$bytes" -v k="${#samples[@]}" \
	    'BEGIN { s = ns / 1e9; printf "drain files=%d secs=%.3f rate=%.0f mbps=%.1f\n", n, s, n / s, n * b / k / s / 1e6 }'
	rates+=("$(awk -v n="$n" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')")
done
printf '%s\n' "${rates[@]}" | sort -n | awk '{ a[NR] = $1 } END { print "drain median rate=" a[int((NR + 1) / 2)] }'
echo "== $(nproc) cores, $(uname -r), $(findmnt -no FSTYPE,OPTIONS --target "$work" | cut -c1-60)"
