# SPDX-License-Identifier: ISC
# bench/e2e-report.awk: the tables of make bench-e2e, from what
# bench/e2e.sh left in DIR (bench/.build/e2e-run): results.tsv (the raw
# rates), snap.* (e2e units' accounting), <phase>/send.*.tsv (the
# clients), trace.tsv (the items through the queues), db-items, db-rows,
# db-load.done and left (the checks).  Run with gawk -f, no input files;
# variables: dir agents files paced modules clients rate rawbatch ncpu.
# A failed check prints a line starting with "**check failed".

function kv(line, key,    n, i, f, p) {
	n = split(line, f, /[ \t]/)
	for (i = 1; i <= n; i++)
		if (index(f[i], key "=") == 1)
			return substr(f[i], length(key) + 2) + 0
	return ""
}

# The agent's file name inside a spool item name: <sec>.<usec>_<pid>_
# <rand8>.<original>.
function orig(item,    p) {
	p = index(item, ".")
	item = substr(item, p + 1)
	p = index(item, ".")
	return substr(item, p + 1)
}

function readfile(path, arr,    line, n) {
	n = 0
	while ((getline line < path) > 0)
		arr[++n] = line
	close(path)
	return n
}

# snapshot TAG into S[TAG, unit, field] and S[TAG, "mariadbd", ...].
function snap(tag,    path, line, f) {
	path = dir "/snap." tag
	while ((getline line < path) > 0) {
		split(line, f, "\t")
		if (f[1] == "unit") {
			S[tag, f[2], "starts"] = f[3]
			S[tag, f[2], "fail"] = f[5]
			S[tag, f[2], "cpu"] = f[6]
			S[tag, f[2], "rss"] = f[7]
		} else if (f[1] == "mariadbd") {
			S[tag, "mariadbd", "cpu"] = f[2]
			S[tag, "mariadbd", "rss"] = f[4]
		} else
			S[tag, f[1]] = f[2]
	}
	close(path)
}

# The clients of PHASE: send end time per file, CPU, failures.
function sends(phase,    cmd, path, line, f, n) {
	cmd = "ls " dir "/" phase "/send.*.tsv"
	while ((cmd | getline path) > 0) {
		while ((getline line < path) > 0) {
			split(line, f, "\t")
			PHASE[f[1]] = phase
			SEND0[f[1]] = f[2]
			SEND1[f[1]] = f[3]
			NSENT[phase]++
			CCPU[phase] += f[5]
			if (f[4] != 0)
				SENDFAIL[phase]++
			if (FIRST[phase] == "" || f[2] < FIRST[phase])
				FIRST[phase] = f[2]
			if (LASTSEND[phase] == "" || f[3] > LASTSEND[phase])
				LASTSEND[phase] = f[3]
		}
		close(path)
	}
	close(cmd)
}

function pct(arr, n, p,    k) {
	if (n == 0)
		return "–"
	k = int(p / 100 * n)
	if (k < p / 100 * n)
		k++
	if (k < 1)
		k = 1
	return arr[k]
}

function ms(us) {
	return us == "–" ? us : sprintf("%.0f", us / 1000)
}

# Latency and throughput of PHASE into LAT[phase, ...].
function phase_stats(phase,    name, n, a, b, c, d, e, nb, nc, nd, ne, last) {
	n = nb = nc = nd = ne = 0
	delete a
	last = ""
	for (name in PHASE) {
		if (PHASE[name] != phase || !((name, "db") in T))
			continue
		a[++n] = T[name, "db"] - SEND1[name]
		if (last == "" || T[name, "db"] > last)
			last = T[name, "db"]
		if ((name, "recv") in T)
			b[++nb] = T[name, "recv"] - SEND1[name]
		if ((name, "xv") in T && (name, "recv") in T)
			c[++nc] = T[name, "xv"] - T[name, "recv"]
		if ((name, "aa") in T && (name, "xv") in T)
			d[++nd] = T[name, "aa"] - T[name, "xv"]
		if ((name, "aa") in T)
			e[++ne] = T[name, "db"] - T[name, "aa"]
	}
	asort(a)
	asort(b)
	asort(c)
	asort(d)
	asort(e)
	LAT[phase, "n"] = n
	LAT[phase, "p50"] = pct(a, n, 50)
	LAT[phase, "p99"] = pct(a, n, 99)
	LAT[phase, "max"] = n ? a[n] : "–"
	LAT[phase, "recv"] = pct(b, nb, 50)
	LAT[phase, "xv"] = pct(c, nc, 50)
	LAT[phase, "aa"] = pct(d, nd, 50)
	LAT[phase, "db"] = pct(e, ne, 50)
	LAT[phase, "secs"] = n ? (last - FIRST[phase]) / 1e6 : 0
	LAT[phase, "rate"] = LAT[phase, "secs"] > 0 ? n / LAT[phase, "secs"] : 0
	LAT[phase, "sendrate"] = n ? NSENT[phase] / \
	    ((LASTSEND[phase] - FIRST[phase]) / 1e6) : 0
}

# db-load's passes ending between snapshots A and B (its drain.done
# log lines, UTC): count, files, the largest, milliseconds busy.
function passes(a, b,    t0, t1, i, f, t, sec) {
	t0 = S[a, "time_us"] / 1e6
	t1 = S[b, "time_us"] / 1e6
	for (i = 1; i <= NDONE; i++) {
		split(DONE[i], f, /[-T:Z ]/)
		t = mktime(f[1] " " f[2] " " f[3] " " f[4] " " f[5] " " \
		    int(f[6])) + f[6] - int(f[6])
		if (t <= t0 || t > t1)
			continue
		P[a, "n"]++
		P[a, "files"] += kv(DONE[i], "seen")
		P[a, "ms"] += kv(DONE[i], "ms")
		if (kv(DONE[i], "seen") > P[a, "max"])
			P[a, "max"] = kv(DONE[i], "seen")
	}
	P[a, "busy"] = t1 > t0 ? P[a, "ms"] / 10 / (t1 - t0) : 0
}

# CPU ms per file of UNIT between snapshots A and B, over N files.
function cpu(unit, a, b, n) {
	return (S[b, unit, "cpu"] - S[a, unit, "cpu"]) / 1000 / n
}

function check(ok, what) {
	if (!ok) {
		FAILED++
		printf "**check failed: %s**\n\n", what
	}
}

BEGIN {
	OFS = ""
	split("tentacle-recv xml-validate agent-auth db-load audit-sign", U, " ")

	# ---- raw rates and the ceiling ----
	n = readfile(dir "/results.tsv", res)
	for (i = 1; i <= n; i++) {
		split(res[i], f, "\t")
		RAW[f[2]] = f[3]
	}
	# The TLS exchange, measured before and after the saturated phase:
	# the time per file is the mean of the two (their rates' harmonic
	# mean), the CPU per file the mean.
	tls1_rate = kv(RAW["tls.clients"], "rate")
	tls1_cpu = kv(RAW["tls.clients"], "client_cpu_ms") + \
	    kv(RAW["tls.server"], "cpu_ms") / kv(RAW["tls.server"], "files")
	tls2_rate = kv(RAW["tls2.clients"], "rate")
	tls_rate = tls1_rate
	tls_cpu = tls1_cpu
	if (tls1_rate > 0 && tls2_rate > 0 && \
	    kv(RAW["tls2.server"], "files") > 0) {
		tls2_cpu = kv(RAW["tls2.clients"], "client_cpu_ms") + \
		    kv(RAW["tls2.server"], "cpu_ms") / \
		    kv(RAW["tls2.server"], "files")
		tls_rate = 2 / (1 / tls1_rate + 1 / tls2_rate)
		tls_cpu = (tls1_cpu + tls2_cpu) / 2
	}
	d2_rate = kv(RAW["durable1"], "rate")
	d2_cpu = kv(RAW["durable1"], "cpu_ms")
	h_rate = kv(RAW["handoff"], "rate")
	h_cpu = kv(RAW["handoff"], "cpu_ms")
	hn_rate = kv(RAW["handoff.noout"], "rate")
	hn_cpu = kv(RAW["handoff.noout"], "cpu_ms")
	db_rate = kv(RAW["db.insert"], "values_per_s") / modules
	db_cpu = kv(RAW["db.insert"], "mariadbd_cpu_ms") + \
	    kv(RAW["db.insert"], "client_cpu_ms")
	split("tls d2 h hn db", C, " ")
	RATE["tls"] = tls_rate; TIMES["tls"] = 1; CPU["tls"] = tls_cpu
	RATE["d2"] = d2_rate; TIMES["d2"] = 1; CPU["d2"] = d2_cpu
	RATE["h"] = h_rate; TIMES["h"] = 2; CPU["h"] = h_cpu
	RATE["hn"] = hn_rate; TIMES["hn"] = 1; CPU["hn"] = hn_cpu
	RATE["db"] = db_rate; TIMES["db"] = 1; CPU["db"] = db_cpu
	WHAT["tls"] = "TLS 1.3 + Tentacle exchange, one connection per file, " \
	    "the same " clients " clients (`e2e tlsraw`: no disk)"
	if (tls1_rate > 0 && tls2_rate > 0)
		WHAT["tls"] = WHAT["tls"] sprintf(", before and after the " \
		    "saturated phase: %.0f and %.0f files/s", tls1_rate,
		    tls2_rate)
	WHAT["d2"] = "the durable write of the item: created, written, " \
	    "fsynced, renamed, its directory fsynced (`raw durable`, " \
	    clients " writers)"
	WHAT["h"] = "a drain's hand-off, batches of " rawbatch \
	    " (`raw handoff`): xml-validate, agent-auth"
	WHAT["hn"] = "db-load's side of its queue, batches of " rawbatch \
	    " (`raw handoff noout`)"
	WHAT["db"] = "the database: one " modules "-row INSERT into " \
	    "tagente_datos per file, COMMIT per 1,024 (`db-raw insert`)"
	T_SUM = 0
	C_SUM = 0
	for (i = 1; i <= 5; i++) {
		k = C[i]
		TPF[k] = RATE[k] > 0 ? TIMES[k] * 1000 / RATE[k] : 0
		T_SUM += TPF[k]
		C_SUM += TIMES[k] * CPU[k]
	}
	CEIL = T_SUM > 0 ? 1000 / T_SUM : 0
	CPUB = C_SUM > 0 ? ncpu * 1000 / C_SUM : 0

	print "### The same-run ceiling"
	print ""
	print "| component | raw rate (files/s) | CPU ms/file | paid per file | ms per file | share |"
	print "|---|---:|---:|---:|---:|---:|"
	for (i = 1; i <= 5; i++) {
		k = C[i]
		printf "| %s | %.0f | %.3f | %d | %.3f | %.0f%% |\n", WHAT[k],
		    RATE[k], CPU[k], TIMES[k], TPF[k], 100 * TPF[k] / T_SUM
	}
	printf "| **ceiling** = 1 / Σ (paid × 1 / raw rate) | **%.0f files/s** | %.3f | | %.3f | 100%% |\n\n",
	    CEIL, C_SUM, T_SUM
	printf "CPU bound (every component overlapped perfectly on %d CPUs: " \
	    "%d / Σ paid × CPU): %.0f files/s.\n\n", ncpu, ncpu, CPUB

	# ---- the runs ----
	snap("sat0"); snap("sat1"); snap("paced0"); snap("paced1")
	snap("final")
	sends("warm"); sends("sat"); sends("paced")
	while ((getline line < (dir "/trace.tsv")) > 0) {
		split(line, f, "\t")
		name = orig(f[3])
		if (f[2] ~ /^rej:/) {
			if (f[3] !~ /\.reason$/) {
				REJ++
				REJECTED = REJECTED " " f[2] ":" name
			}
			continue
		}
		if ((name, f[2]) in T) {
			if (f[2] == "db")
				TWICE++
			continue
		}
		T[name, f[2]] = f[1]
	}
	close(dir "/trace.tsv")
	phase_stats("sat")
	phase_stats("paced")
	NDONE = readfile(dir "/db-load.done", DONE)
	passes("sat0", "sat1")
	passes("paced0", "paced1")

	print "### Results"
	print ""
	print "| | saturated | paced |"
	print "|---|---:|---:|"
	printf "| files | %d | %d |\n", LAT["sat", "n"], LAT["paced", "n"]
	printf "| files/s, first send to last COMMIT | **%.1f** | %.1f |\n",
	    LAT["sat", "rate"], LAT["paced", "rate"]
	printf "| files/s accepted by tentacle-recv (clients' rate) | %.1f | %.1f |\n",
	    LAT["sat", "sendrate"], LAT["paced", "sendrate"]
	printf "| values/s (%d per file) | %.0f | %.0f |\n", modules,
	    LAT["sat", "rate"] * modules, LAT["paced", "rate"] * modules
	printf "| ratio to the ceiling (%.0f files/s) | **%.2f** | |\n",
	    CEIL, LAT["sat", "rate"] / CEIL
	printf "| ratio to the CPU bound (%.0f files/s) | %.2f | |\n",
	    CPUB, LAT["sat", "rate"] / CPUB
	if (tls1_rate > 0 && tls2_rate > 0) {
		# The ceiling with one TLS measurement only, before or after.
		t_oth = T_SUM - TPF["tls"]
		printf "| ratio to the ceiling with the TLS exchange measured before / after only (%.0f / %.0f files/s) | %.2f / %.2f | |\n",
		    1000 / (t_oth + 1000 / tls1_rate),
		    1000 / (t_oth + 1000 / tls2_rate),
		    LAT["sat", "rate"] * (t_oth + 1000 / tls1_rate) / 1000,
		    LAT["sat", "rate"] * (t_oth + 1000 / tls2_rate) / 1000
		printf "| the clients' CPU per file: TLS exchange before / saturated / after (ms) | %.3f / %.3f / %.3f | |\n",
		    kv(RAW["tls.clients"], "client_cpu_ms"),
		    kv(RAW["sat.clients"], "client_cpu_ms"),
		    kv(RAW["tls2.clients"], "client_cpu_ms")
	}
	printf "| latency send → status row, p50 / p99 / max (ms) | %s / %s / %s | **%s / %s** / %s |\n",
	    ms(LAT["sat", "p50"]), ms(LAT["sat", "p99"]), ms(LAT["sat", "max"]),
	    ms(LAT["paced", "p50"]), ms(LAT["paced", "p99"]),
	    ms(LAT["paced", "max"])
	printf "| p50 (ms): send end → in xml-validate/new | %s | %s |\n",
	    ms(LAT["sat", "recv"]), ms(LAT["paced", "recv"])
	printf "| p50 (ms): → agent-auth/new (xml-validate) | %s | %s |\n",
	    ms(LAT["sat", "xv"]), ms(LAT["paced", "xv"])
	printf "| p50 (ms): → db-load/new (agent-auth) | %s | %s |\n",
	    ms(LAT["sat", "aa"]), ms(LAT["paced", "aa"])
	printf "| p50 (ms): → COMMIT (db-load) | %s | %s |\n",
	    ms(LAT["sat", "db"]), ms(LAT["paced", "db"])
	printf "| db-load: passes, files per pass (mean / max), busy | %d, %.1f / %d, %.0f%% | %d, %.1f / %d, %.0f%% |\n",
	    P["sat0", "n"], P["sat0", "files"] / (P["sat0", "n"] ? P["sat0", "n"] : 1),
	    P["sat0", "max"], P["sat0", "busy"], P["paced0", "n"],
	    P["paced0", "files"] / (P["paced0", "n"] ? P["paced0", "n"] : 1),
	    P["paced0", "max"], P["paced0", "busy"]
	print ""

	print "### CPU and memory per stage"
	print ""
	print "CPU: user + system of every process of the stage (unit runner, its " \
	    "namespace set-up and the program), per file loaded in the phase; " \
	    "starts: unit starts in the phase (0: it lingered from before)."
	print ""
	print "| stage | starts (sat / paced) | CPU ms/file saturated | CPU ms/file paced | paced / saturated | peak RSS MiB |"
	print "|---|---:|---:|---:|---:|---:|"
	ns = LAT["sat", "n"]
	np = LAT["paced", "n"]
	tot_s = tot_p = 0
	maxrss = 0
	for (i = 1; i <= 5; i++) {
		u = U[i]
		cs = cpu(u, "sat0", "sat1", ns)
		cp = cpu(u, "paced0", "paced1", np)
		tot_s += cs
		tot_p += cp
		rss = S["final", u, "rss"] / 1024
		if (rss > maxrss) {
			maxrss = rss
			maxrss_u = u
		}
		printf "| %s | %d / %d | %.3f | %.3f | %.2f | %.1f |\n",
		    u, S["sat1", u, "starts"] - S["sat0", u, "starts"],
		    S["paced1", u, "starts"] - S["paced0", u, "starts"],
		    cs, cp, (cs > 0 ? cp / cs : 0), rss
		FAILS += S["final", u, "fail"]
	}
	printf "| **the stages** | | **%.3f** | **%.3f** | **%.2f** | |\n",
	    tot_s, tot_p, tot_p / tot_s
	ms_ = (S["sat1", "mariadbd", "cpu"] - S["sat0", "mariadbd", "cpu"]) / 1000 / ns
	mp = (S["paced1", "mariadbd", "cpu"] - S["paced0", "mariadbd", "cpu"]) / 1000 / np
	printf "| mariadbd (not a stage) | | %.3f | %.3f | %.2f | %.1f |\n",
	    ms_, mp, (ms_ > 0 ? mp / ms_ : 0), S["final", "mariadbd", "rss"] / 1024
	printf "| stages + mariadbd | | %.3f | %.3f | %.2f | |\n",
	    tot_s + ms_, tot_p + mp, (tot_p + mp) / (tot_s + ms_)
	printf "| clients (tentacle-send) | | %.3f | %.3f | | |\n\n",
	    CCPU["sat"] / 1000 / NSENT["sat"], CCPU["paced"] / 1000 / NSENT["paced"]
	printf "A unit start, measured after the run (20 each): the sandbox " \
	    "alone (`tt-unitrun -x audit-sign.service -- /bin/true`) %.2f ms " \
	    "of CPU, %.2f ms wall; a whole audit-sign run on an empty queue " \
	    "%.2f ms of CPU, %.2f ms wall, with a sealed log of %.1f MB.  " \
	    "audit-sign was started %.2f times per file saturated, %.2f " \
	    "paced.\n\n",
	    kv(RAW["sandbox"], "cpu_ms"), kv(RAW["sandbox"], "wall_ms"),
	    kv(RAW["audit-sign"], "cpu_ms"), kv(RAW["audit-sign"], "wall_ms"),
	    kv(RAW["audit-log"], "bytes") / 1e6,
	    (S["sat1", "audit-sign", "starts"] - S["sat0", "audit-sign", "starts"]) / ns,
	    (S["paced1", "audit-sign", "starts"] - S["paced0", "audit-sign", "starts"]) / np

	# ---- goals ----
	print "### Goals"
	print ""
	print "| goal | measured | |"
	print "|---|---|---|"
	r = LAT["sat", "rate"] / CEIL
	printf "| saturated ≥ 0.8 × the same-run ceiling | %.2f × (%.1f of %.0f files/s) | %s |\n",
	    r, LAT["sat", "rate"], CEIL, (r >= 0.8 ? "met" : "**missed**")
	p99 = LAT["paced", "p99"] / 1000
	printf "| paced %d files/s: p99 send → status row ≤ 500 ms | %.0f ms | %s |\n",
	    rate, p99, (p99 <= 500 ? "met" : "**missed**")
	r = tot_p / tot_s
	printf "| paced: CPU per file ≤ 1.5 × saturated (the stages) | %.2f × (%.3f / %.3f ms) | %s |\n",
	    r, tot_p, tot_s, (r <= 1.5 ? "met" : "**missed**")
	printf "| no stage's peak RSS above 64 MiB | %.1f MiB (%s) | %s |\n",
	    maxrss, maxrss_u, (maxrss <= 64 ? "met" : "**missed**")
	ra = kv(RAW["recv.alone"], "rate")
	if (ra > 0 && tls1_rate > 0) {
		# Against the measurement right after it, not the mean.
		r = ra / tls1_rate
		printf "| tentacle-recv alone (as its unit starts it, no stage running): ≥ 0.8 × the minimal TLS server, the same %d clients and %d files | %.2f × (%.0f of %.0f files/s) | %s |\n",
		    clients, kv(RAW["recv.alone"], "files"), r, ra, tls1_rate,
		    (r >= 0.8 ? "met" : "**missed**")
	}
	print ""

	# ---- checks ----
	want = agents + files + paced
	n = readfile(dir "/db-items", items)
	for (i = 1; i <= n; i++) {
		name = orig(items[i])
		INDB[name]++
		if (INDB[name] == 2)
			DUPS++
		if (!(name in PHASE))
			EXTRA++
	}
	for (name in PHASE)
		if (!(name in INDB))
			MISSING++
	nsent = NSENT["warm"] + NSENT["sat"] + NSENT["paced"]
	fails = SENDFAIL["warm"] + SENDFAIL["sat"] + SENDFAIL["paced"]
	m = readfile(dir "/db-rows", rows)
	for (i = 1; i <= m; i++) {
		split(rows[i], f, "\t")
		ROWS[f[1]] = f[2]
		ROWDUPS += f[3]
	}
	for (i = 1; i <= NDONE; i++) {
		DLDUP += kv(DONE[i], "duplicates")
		DLREJ += kv(DONE[i], "rejected")
	}
	m = readfile(dir "/left", left)
	for (i = 1; i <= m; i++) {
		split(left[i], f, "\t")
		LEFT += f[2]
	}
	# gen-agents.sh: of every 5 modules one generic_proc (always 1: no
	# history row after the first), one generic_data_inc (no row for
	# an agent's first sample); the others one row per file.
	nproc = int((modules + 3) / 5)
	ninc = int((modules + 1) / 5)
	ndata = modules - nproc - ninc
	# tagente_datos_inc keeps one raw counter per module.
	want_rows = want * ndata + agents * nproc + want * ninc
	got_rows = ROWS["tagente_datos"] + ROWS["tagente_datos_string"] + \
	    ROWS["tagente_datos_inc"]

	print "### Checks"
	print ""
	printf "- files sent: %d of %d, failed sends: %d; loaded (octo_loaded_file): %d; " \
	    "missing: %d, loaded twice: %d, not ours: %d\n", nsent, want, fails,
	    n, MISSING, DUPS + 0, EXTRA + 0
	printf "- trace: %d COMMITs seen twice, %d items refused%s; inotify overflows: %d\n",
	    TWICE + 0, REJ + 0, (REJ ? " (" REJECTED " )" : ""),
	    S["final", "overflows"]
	printf "- db-load: duplicates=%d rejected=%d; history rows %d (want %d), " \
	    "duplicate (module, utimestamp) rows: %d\n", DLDUP, DLREJ, got_rows,
	    want_rows, ROWDUPS
	printf "- items left in the queues (new, cur, reject): %d; unit runs that failed: %d\n\n",
	    LEFT, FAILS
	check(nsent == want && fails == 0, "not every file was sent")
	check(n == want && MISSING == 0 && DUPS == 0 && EXTRA == 0,
	    "octo_loaded_file does not hold every file exactly once")
	check(TWICE == 0 && REJ == 0, "an item was refused or committed twice")
	check(DLDUP == 0 && DLREJ == 0 && ROWDUPS == 0 && got_rows == want_rows,
	    "db-load saw duplicates or the history rows are not as sent")
	check(LEFT == 0 && FAILS == 0, "items left in a queue or a unit failed")
	check(S["final", "overflows"] == 0, "the trace lost events")
	if (!FAILED)
		print "All checks passed: every file loaded exactly once, no duplicate row."
}
