# SPDX-License-Identifier: ISC
# bench/summary.awk: results.tsv (round, metric, value) -> Markdown tables.
# Variables: n (files per small test), big (bytes in the big-file test).
# Medians over rounds; a ratio is computed per round (figure and baseline
# measured minutes apart at most) and the median of those is shown.
function sortv(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
}
function med(a, n) {
	if (n == 0)
		return ""
	sortv(a, n)
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function median(m,    a, n, r) {
	n = 0
	for (r = 1; r <= maxr; r++)
		if ((r, m) in v)
			a[++n] = v[r, m]
	return med(a, n)
}
function range(m,    r, lo, hi, any) {
	any = 0
	for (r = 1; r <= maxr; r++)
		if ((r, m) in v) {
			if (!any || v[r, m] < lo) lo = v[r, m]
			if (!any || v[r, m] > hi) hi = v[r, m]
			any = 1
		}
	return any ? sprintf("%s–%s", fmt(lo), fmt(hi)) : ""
}
function ratio(num, den,    a, n, r) {
	n = 0
	for (r = 1; r <= maxr; r++)
		if ((r, num) in v && (r, den) in v && v[r, den] > 0)
			a[++n] = v[r, num] / v[r, den]
	return med(a, n)
}
function fmt(x) {
	if (x == "")
		return "–"
	if (x >= 100)
		return sprintf("%.0f", x)
	if (x >= 10)
		return sprintf("%.1f", x)
	return sprintf("%.3g", x)
}
function pct(x) {
	return x == "" ? "–" : sprintf("%.0f%%", x * 100)
}
function have(m) {
	return median(m) != ""
}
# A figure against a baseline and a goal (ratio >= goal; goal 0: none).
function row(label, m, unit, base, goal,    x, q, ok) {
	if (!have(m))
		return
	x = median(m)
	q = ratio(m, base)
	ok = goal == 0 ? "(info)" : q >= goal ? "met" : \
	    sprintf("**missed** (%.0f%% of goal)", q / goal * 100)
	printf "| %s | %s %s | %s | %s | %s | %s | %s |\n", label, fmt(x),
	    unit, range(m), base, pct(q), goal == 0 ? "–" : \
	    ">= " pct(goal), ok
}
# An absolute figure against a ceiling (value < limit).
function cap(label, m, unit, limit,    x, hi, r) {
	if (!have(m))
		return
	x = median(m)
	hi = 0
	for (r = 1; r <= maxr; r++)
		if ((r, m) in v && v[r, m] > hi)
			hi = v[r, m]
	printf "| %s | %s %s | %s | %s | %s |\n", label, fmt(x), unit,
	    range(m), "< " limit " " unit, hi < limit ? "met" : \
	    x < limit ? "met (median)" : "**missed**"
}
function io(m, label) {
	if (!have(m ".flush"))
		return
	printf "| %s | %s | %s | %s | %s |\n", label, fmt(median(m ".wio")),
	    fmt(median(m ".flush")), fmt(median(m ".cpu")),
	    have(m ".ccpu") ? fmt(median(m ".ccpu")) : "–"
}
{
	v[$1, $2] = $3
	if ($1 > maxr)
		maxr = $1
}
END {
	print "### Raw baselines (same run, same filesystem)"
	print ""
	print "| baseline | median | range over rounds |"
	print "|---|---|---|"
	printf "| raw.durable1: create+write 2 KiB+fsync+rename+fsync dir, 1 writer | %s files/s (%s ms CPU/file) | %s |\n", fmt(median("raw.durable1")), fmt(median("raw.durable1.cpu")), range("raw.durable1")
	printf "| raw.durable8: the same, 8 writer threads | %s files/s | %s |\n", fmt(median("raw.durable8")), range("raw.durable8")
	printf "| raw.durables: tentacle-recv's disk work per file (data in an O_TMPFILE, event appended to an open segment, syncfs, linkat, syncfs), 1 writer | %s files/s (%s ms CPU/file) | %s |\n", fmt(median("raw.durables")), fmt(median("raw.durables.cpu")), range("raw.durables")
	printf "| raw.tcp: loopback TCP, one connection, 1 MiB writes | %s MB/s | %s |\n", fmt(median("raw.tcp")), range("raw.tcp")
	printf "| raw.tcpfile: the same, receiver writes a file and fsyncs it | %s MB/s | %s |\n", fmt(median("raw.tcpfile")), range("raw.tcpfile")
	printf "| raw.tls: TLS 1.3 bulk, one connection | %s MB/s | %s |\n", fmt(median("raw.tls")), range("raw.tls")
	printf "| raw.tlsfile: TLS 1.3, receiver writes + fsyncs | %s MB/s | %s |\n", fmt(median("raw.tlsfile")), range("raw.tlsfile")
	printf "| raw.tlshs: TLS 1.3 full handshakes, sequential | %s /s (server %s ms CPU each) | %s |\n", fmt(median("raw.tlshs")), fmt(median("raw.tlshs.cpu")), range("raw.tlshs")
	print ""
	print "### tentacle-recv against the baselines and the goals"
	print ""
	print "| test | median | range | baseline | ratio | goal | |"
	print "|---|---|---|---|---|---|---|"
	row("a. " n " × 2 KiB, conn per file, plain", "a.plain", "files/s", "raw.durable1", 0.80)
	row("a. the same, TLS 1.3", "a.tls", "files/s", "raw.durable1", 0.60)
	row("b. 8 clients, conn per file, plain", "b.plain8", "files/s", "raw.durable8", 1.00)
	row("b. 8 clients, conn per file, TLS 1.3", "b.tls8", "files/s", "raw.durable8", 0)
	row("c. " n " × 2 KiB, one session", "c.session", "files/s", "raw.durable1", 0.80)
	row("d. " big / 1e6 " MB file, plain (incl. fsync)", "d.big.plain", "MB/s", "raw.tcp", 0.70)
	row("d. " big / 1e6 " MB file, TLS 1.3 (incl. fsync)", "d.big.tls", "MB/s", "raw.tcp", 0.50)
	row("e. stock layout (-s), conn per file, plain", "e.stock", "files/s", "raw.durable1", 0)
	row("f. tentacle-send, one process per file", "f.send", "files/s", "raw.durable1", 0)
	row("Perl tentacle_server (no fsync), conn per file", "perl.plain", "files/s", "raw.durable1", 0)
	print ""
	print "Against the ceilings that include the same disk work:"
	print ""
	print "| test | median | range | baseline | ratio | goal | |"
	print "|---|---|---|---|---|---|---|"
	row("a. plain", "a.plain", "files/s", "raw.durables", 0)
	row("a. TLS 1.3", "a.tls", "files/s", "raw.durables", 0)
	row("c. one session", "c.session", "files/s", "raw.durables", 0)
	row("e. stock layout", "e.stock", "files/s", "raw.durable1", 0)
	row("d. plain", "d.big.plain", "MB/s", "raw.tcpfile", 0)
	row("d. TLS 1.3", "d.big.tls", "MB/s", "raw.tlsfile", 0)
	print ""
	print "### Server CPU and memory"
	print ""
	print "| figure | median | range | goal | |"
	print "|---|---|---|---|---|"
	cap("a. CPU per connection, plain", "a.plain.cpu", "ms", 1)
	cap("a. CPU per connection, TLS 1.3", "a.tls.cpu", "ms", 1)
	cap("b. CPU per connection, 8 clients, plain", "b.plain8.cpu", "ms", 1)
	cap("b. CPU per connection, 8 clients, TLS 1.3", "b.tls8.cpu", "ms", 1)
	cap("c. CPU per file, one session", "c.session.cpu", "ms", 1)
	cap("e. CPU per connection, stock layout", "e.stock.cpu", "ms", 1)
	cap("d. RSS growth (VmHWM − start RSS), plain", "d.big.plain.rss", "MiB", 32)
	cap("d. RSS growth (VmHWM − start RSS), TLS", "d.big.tls.rss", "MiB", 32)
	if (have("raw.durable1.flush")) {
		print ""
		print "### Disk requests per file (block device counters; medians)"
		print ""
		print "| run | write requests | flush requests | server (raw: process) CPU ms/file | client CPU ms/file |"
		print "|---|---|---|---|---|"
		io("raw.durable1", "raw.durable1 (1 writer)")
		io("raw.durables", "raw.durables (tentacle-recv's disk work)")
		io("a.plain", "a. conn per file, plain")
		io("a.tls", "a. conn per file, TLS")
		io("c.session", "c. one session")
		io("e.stock", "e. stock layout")
		io("raw.durable8", "raw.durable8 (8 writers)")
		io("b.plain8", "b. 8 clients, plain")
	}
	print ""
	printf "For scale: raw.durable1 spends %s ms CPU per file and raw.durables %s ms in the kernel's filesystem code alone; a TLS 1.3 server handshake costs %s ms.\n", fmt(median("raw.durable1.cpu")), fmt(median("raw.durables.cpu")), fmt(median("raw.tlshs.cpu"))
}
