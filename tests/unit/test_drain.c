/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/drain.c on a real temporary spool: batch commits
 * (outputs byte-identical, envelope kept, the batches' audit events in
 * the run's audit segment, with the prepare hook's events), rejects with their reason file and audit
 * event, retry (75, the rest untouched), a commit hook that fails, the
 * recovery of cur/, items over the size limit, a locked queue, and
 * crash points (a child stopped with PIPELINE_CRASH_AT, then a rerun).
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "drain.h"
#include "log.h"
#include "spool.h"

#include "check.h"

static char root[PATH_MAX];

/* root/rel in a static buffer (one of four in rotation). */
static const char *
P(const char *rel)
{
	static char buf[4][PATH_MAX + 64];
	static int k;
	char *p = buf[k++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", root, rel);
	return p;
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(path);
}

/* A fresh spool: in (consumer), out and audit (producers). */
static void
fresh(void)
{
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (mkdir(root, 0700) == -1 ||
	    spool_mkdirs(P("in"), SPOOL_CONSUME) == -1 ||
	    spool_mkdirs(P("out"), SPOOL_PRODUCE) == -1 ||
	    spool_mkdirs(P("audit"), SPOOL_PRODUCE) == -1) {
		printf("test_drain: setup: %s\n", strerror(errno));
		exit(2);
	}
}

static void
put(const char *dir, const char *name, const char *content)
{
	char path[PATH_MAX * 2];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/in/%s/%s", root, dir, name);
	if ((fp = fopen(path, "w")) == NULL || fputs(content, fp) == EOF ||
	    fclose(fp) == EOF) {
		printf("test_drain: %s: %s\n", path, strerror(errno));
		exit(2);
	}
}

/* Whole file, or NULL. */
static char *
slurp(const char *path)
{
	static char buf[65536];
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return buf;
}

static int
count(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Concatenated content of every file in dir (audit batches). */
static char *
cat_dir(const char *dir, int *nfiles)
{
	static char all[262144];
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	all[0] = '\0';
	*nfiles = 0;
	if (d == NULL)
		return all;
	while ((de = readdir(d)) != NULL) {
		char path[PATH_MAX + 256];
		const char *c;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((c = slurp(path)) != NULL && n + strlen(c) < sizeof(all)) {
			memcpy(all + n, c, strlen(c) + 1);
			n += strlen(c);
		}
		(*nfiles)++;
	}
	closedir(d);
	return all;
}

struct hctx {
	int	 calls, prepares;
	int	 retry_at;		/* call number that returns RETRY */
	int	 commit_fail;
	char	 body[64][128];		/* what the handler saw as body */
};

/* Pass items on unchanged; reject names with "bad"; retry on demand. */
static int
handler(struct drain *d, struct drain_item *it, void *arg)
{
	struct hctx *h = arg;

	h->calls++;
	if (h->calls <= 64)
		snprintf(h->body[h->calls - 1], sizeof(h->body[0]), "%.*s",
		    (int)it->bodylen, it->body);
	if (h->calls == h->retry_at)
		return DRAIN_RETRY;
	if (strstr(it->name, "bad") != NULL) {
		drain_reason(it, EX_DATAERR, "rule=test line=%d bad item", 7);
		return DRAIN_REJECT;
	}
	if (drain_output(d, it, it->data, it->len) == -1)
		return DRAIN_RETRY;
	return DRAIN_DONE;
}

static void
prepare(struct drain *d, void *arg)
{
	struct hctx *h = arg;
	struct audit_buf *ab = drain_audit(d);

	h->prepares++;
	audit_begin(ab, "test", "batch.summary", "ok");
	audit_num(ab, "calls", h->calls);
	audit_end(ab);
}

static int
commit_hook(struct drain *d, void *arg)
{
	struct hctx *h = arg;

	(void)d;
	return h->commit_fail ? -1 : 0;
}

static struct idset *run_producers;	/* test_producers sets it */

static void
opts_init(struct drain_opts *o, struct hctx *h, size_t batch, size_t max_item)
{
	memset(o, 0, sizeof(*o));
	o->stage = "test";
	o->batch = batch;
	o->max_item = max_item ? max_item : 1 << 20;
	o->prepare = prepare;
	o->commit = commit_hook;
	o->arg = h;
}

static int
run(struct hctx *h, size_t batch, size_t max_item, struct drain_stats *st)
{
	struct drain_opts o;
	struct drain *d;
	char err[256];
	int rc;

	opts_init(&o, h, batch, max_item);
	o.producers = run_producers;
	d = drain_open(P("in"), P("out"), P("audit"), &o,
	    err, sizeof(err));
	CHECK(d != NULL, "drain_open: %s", err);
	if (d == NULL)
		return -1;
	rc = drain_run(d, handler, h, st);
	drain_close(d);
	return rc;
}

static void
test_batches(void)
{
	struct drain_stats st;
	struct hctx h;
	char name[32], body[64], *c;
	int nf, nf0;

	fresh();
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "item%02d.1.data", i);
		snprintf(body, sizeof(body), "<x>%d</x>\n", i);
		put("new", name, body);
	}
	memset(&h, 0, sizeof(h));
	CHECK_INT("batches: rc", run(&h, 4, 0, &st), 0);
	CHECK_INT("seen", st.seen, 10);
	CHECK_INT("done", st.done, 10);
	CHECK_INT("batches", st.batches, 3);
	CHECK_INT("prepare once per commit", h.prepares, 3);
	CHECK_INT("out/new", count(P("out/new")), 10);
	CHECK_INT("out/tmp empty", count(P("out/tmp")), 0);
	CHECK_INT("in/new empty", count(P("in/new")), 0);
	CHECK_INT("in/cur empty", count(P("in/cur")), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "out/new/item%02d.1.data", i);
		snprintf(body, sizeof(body), "<x>%d</x>\n", i);
		c = slurp(P(name));
		CHECK(c != NULL && strcmp(c, body) == 0, "%s: got \"%s\"",
		    name, c ? c : "(none)");
	}
	/*
	 * The batches' events, appended to one segment (lib/auditseg) that
	 * the run hands on at its end: one file, a summary per batch, and
	 * nothing left in audit/tmp.
	 */
	c = cat_dir(P("audit/new"), &nf);
	/* Usually one (a slow disk may hand it on at 500 ms mid-run). */
	CHECK(nf >= 1 && nf <= 3, "audit segments: %d", nf);
	nf0 = nf;
	{
		int k = 0;

		for (const char *q = c; (q = strstr(q,
		    "\"action\":\"batch.summary\"")) != NULL; q++)
			k++;
		CHECK_INT("a summary event per batch", k, 3);
	}
	CHECK_INT("audit/tmp empty", count(P("audit/tmp")), 0);
	/* An empty queue: nothing at all, and no audit file. */
	memset(&h, 0, sizeof(h));
	CHECK_INT("empty: rc", run(&h, 4, 0, &st), 0);
	CHECK_INT("empty: calls", h.calls, 0);
	(void)cat_dir(P("audit/new"), &nf);
	CHECK_INT("empty: no new audit file", nf, nf0);
}

/* What batch_begin saw: each call's names, and the heads it peeked. */
struct bctx {
	int	 ncalls;
	size_t	 n[8];
	char	 first[8][32];
	char	 head[8][16];	/* drain_peek of the first name, 8 bytes */
	ssize_t	 got[8];
	ssize_t	 gone;		/* drain_peek of a name not in new/ */
	ssize_t	 link;		/* of a symbolic link in new/ */
	int	 handled_before;	/* handler calls when it was called */
	int	 refuse;	/* this call (1, 2...) returns EX_TEMPFAIL */
	struct hctx *h;
};

static int
batch_hook(struct drain *d, char *const *names, size_t n, void *arg)
{
	struct bctx *b = arg;
	int k = b->ncalls++;

	if (b->refuse == k + 1)
		return EX_TEMPFAIL;
	if (k >= 8)
		return 0;
	b->n[k] = n;
	snprintf(b->first[k], sizeof(b->first[k]), "%s", names[0]);
	memset(b->head[k], 0, sizeof(b->head[k]));
	b->got[k] = drain_peek(d, names[0], b->head[k], 8);
	b->gone = drain_peek(d, "no-such-item", b->head[7], 8);
	b->link = drain_peek(d, "link.1.data", b->head[7], 8);
	b->handled_before = b->h->calls;
	return 0;
}

/* A drain of in/ into out/, batches of 4, with batch_hook (its own
 * argument, not the handler's), refusing call refuse (0: none). */
static struct drain *
batch_drain(struct hctx *h, struct bctx *b, int refuse)
{
	struct drain_opts o;
	struct drain *d;
	char err[256];

	memset(h, 0, sizeof(*h));
	memset(b, 0, sizeof(*b));
	b->h = h;
	b->refuse = refuse;
	opts_init(&o, h, 4, 0);
	o.batch_begin = batch_hook;
	o.arg = b;
	o.prepare = NULL;
	o.commit = NULL;
	d = drain_open(P("in"), P("out"), P("audit"), &o, err, sizeof(err));
	CHECK(d != NULL, "drain_open: %s", err);
	return d;
}

/* The batch hook: called as each batch begins, with that batch's names
 * in order; drain_peek reads an unclaimed item's first bytes, and
 * nothing that is gone or not a regular file. */
static void
test_batch_begin(void)
{
	struct drain_stats st;
	struct drain *d;
	struct hctx h;
	struct bctx b;
	char name[32], body[64];

	fresh();
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "item%02d.1.data", i);
		snprintf(body, sizeof(body), "<x>%d</x>\n", i);
		put("new", name, body);
	}
	CHECK(symlink(P("in/new/item00.1.data"), P("in/link.1.data")) == 0,
	    "symlink: %s", strerror(errno));
	if ((d = batch_drain(&h, &b, 0)) == NULL)
		return;
	/* The link goes into new/ now: peeked, it is not read. */
	CHECK(rename(P("in/link.1.data"), P("in/new/link.1.data")) == 0,
	    "rename: %s", strerror(errno));
	CHECK_INT("batch_begin: rc", drain_run(d, handler, &h, &st), 0);
	drain_close(d);
	/* 11 names (the link sorts last and is rejected): 4, 4, 3. */
	CHECK_INT("batch_begin: calls", b.ncalls, 3);
	CHECK_INT("batch_begin: first batch", (int)b.n[0], 4);
	CHECK_INT("batch_begin: second batch", (int)b.n[1], 4);
	CHECK_INT("batch_begin: last batch", (int)b.n[2], 3);
	CHECK(strcmp(b.first[0], "item00.1.data") == 0 &&
	    strcmp(b.first[1], "item04.1.data") == 0 &&
	    strcmp(b.first[2], "item08.1.data") == 0, "first names: %s %s %s",
	    b.first[0], b.first[1], b.first[2]);
	CHECK_INT("batch_begin: before the batch's items", b.handled_before,
	    8);
	CHECK_INT("drain_peek: 8 bytes", (int)b.got[0], 8);
	CHECK(memcmp(b.head[0], "<x>0</x>", 8) == 0 &&
	    memcmp(b.head[1], "<x>4</x>", 8) == 0, "drain_peek: \"%s\" "
	    "\"%s\"", b.head[0], b.head[1]);
	CHECK_INT("drain_peek: gone", (int)b.gone, -1);
	CHECK_INT("drain_peek: a symbolic link", (int)b.link, -1);
	CHECK_INT("batch_begin: done", (int)st.done, 10);

	/*
	 * A hook that fails (db-load's agent query: a conflict) ends the
	 * pass with its code before the batch's first item is claimed: the
	 * batch before is committed, the rest stays in new/, nothing in
	 * cur/; the next pass takes it.
	 */
	fresh();
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "item%02d.1.data", i);
		put("new", name, "<x/>\n");
	}
	if ((d = batch_drain(&h, &b, 2)) == NULL)
		return;
	CHECK_INT("batch_begin refuses: rc", drain_run(d, handler, &h, &st),
	    EX_TEMPFAIL);
	CHECK_INT("batch_begin refuses: handled", h.calls, 4);
	CHECK_INT("batch_begin refuses: done", (int)st.done, 4);
	CHECK_INT("batch_begin refuses: retried", (int)st.retried, 0);
	CHECK_INT("batch_begin refuses: left in new/", count(P("in/new")), 6);
	CHECK_INT("batch_begin refuses: nothing in cur/", count(P("in/cur")),
	    0);
	CHECK_INT("batch_begin refuses: handed on", count(P("out/new")), 4);
	b.refuse = 0;
	CHECK_INT("batch_begin refuses: next pass", drain_run(d, handler, &h,
	    &st), 0);
	CHECK_INT("batch_begin refuses: next pass done", (int)st.done, 6);
	CHECK_INT("batch_begin refuses: all handed on", count(P("out/new")),
	    10);
	drain_close(d);
}

static void
test_envelope_kept(void)
{
	static const char item[] = "Octospool-Envelope: 1\n"
	    "Original-Name: a.1.data\nPeer: 192.0.2.7 1234\n"
	    "Received: 2026-11-27T22:00:00Z\nReceiver: h tentacle-recv\n"
	    "Tls: none\nAuth: none\nSha256: "
	    "0000000000000000000000000000000000000000000000000000000000000000"
	    "\n\n<agent_data/>\n";
	struct drain_stats st;
	struct hctx h;
	char *c;

	fresh();
	put("new", "e.1.data", item);
	memset(&h, 0, sizeof(h));
	CHECK_INT("envelope: rc", run(&h, 0, 0, &st), 0);
	CHECK(strcmp(h.body[0], "<agent_data/>\n") == 0,
	    "handler saw body \"%s\"", h.body[0]);
	c = slurp(P("out/new/e.1.data"));
	CHECK(c != NULL && strcmp(c, item) == 0, "item passed on changed");
}

static void
test_reject(void)
{
	struct drain_stats st;
	struct hctx h;
	char *c;
	int nf;

	fresh();
	put("new", "a-good.1.data", "good\n");
	put("new", "b-bad.1.data", "bad\n");
	put("new", "c-bad-envelope.1.data", "Octospool-Envelope: 1\nx\n\n");
	memset(&h, 0, sizeof(h));
	CHECK_INT("reject: rc", run(&h, 0, 0, &st), 0);
	CHECK_INT("rejected", st.rejected, 2);
	CHECK_INT("done", st.done, 1);
	CHECK_INT("handler not called for a bad envelope", h.calls, 2);
	c = slurp(P("in/reject/b-bad.1.data"));
	CHECK(c != NULL && strcmp(c, "bad\n") == 0, "rejected item kept");
	c = slurp(P("in/reject/b-bad.1.data.reason"));
	CHECK(c != NULL && strstr(c, "item=b-bad.1.data\nstage=test\ncode=65\n")
	    && strstr(c, "\nreason=rule=test line=7 bad item\n"),
	    "reason file: %s", c ? c : "(none)");
	c = slurp(P("in/reject/c-bad-envelope.1.data.reason"));
	CHECK(c != NULL && strstr(c, "reason=rule=envelope line=0 envelope: "),
	    "envelope reason: %s", c ? c : "(none)");
	c = cat_dir(P("audit/new"), &nf);
	{
		char want[256];

		snprintf(want, sizeof(want), "\"action\":\"item.rejected\","
		    "\"outcome\":\"refused\",\"item\":\"b-bad.1.data\","
		    "\"reason\":\"rule=test line=7 bad item\",\"owner_uid\":%u}",
		    (unsigned)getuid());
		CHECK(strstr(c, want) != NULL, "reject audit event: %s", c);
	}
	CHECK_INT("in/new and cur empty", count(P("in/new")) +
	    count(P("in/cur")), 0);
}

static void
test_retry(void)
{
	struct drain_stats st;
	struct hctx h;
	char name[32];

	fresh();
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "r%d.1.data", i);
		put("new", name, "x\n");
	}
	memset(&h, 0, sizeof(h));
	h.retry_at = 3;
	CHECK_INT("retry: rc", run(&h, 0, 0, &st), EX_TEMPFAIL);
	CHECK_INT("retry: stops at the third", h.calls, 3);
	CHECK_INT("the two before are committed", count(P("out/new")),
	    2);
	CHECK_INT("the rest waits in new/", count(P("in/new")), 4);
	CHECK_INT("cur/ empty", count(P("in/cur")), 0);
	memset(&h, 0, sizeof(h));
	CHECK_INT("rerun: rc", run(&h, 0, 0, &st), 0);
	CHECK_INT("rerun: all out", count(P("out/new")), 6);
	/* A failing commit hook gives the whole batch back. */
	fresh();
	put("new", "c1.1.data", "x\n");
	put("new", "c2-bad.1.data", "x\n");
	memset(&h, 0, sizeof(h));
	h.commit_fail = 1;
	CHECK_INT("commit fails: rc", run(&h, 0, 0, &st), EX_TEMPFAIL);
	CHECK_INT("commit fails: both back", count(P("in/new")), 2);
	CHECK_INT("commit fails: not rejected", count(P("in/reject")), 0);
	CHECK_INT("commit fails: stats", st.retried, 2);
}

static void
test_recover_and_limits(void)
{
	struct drain_stats st;
	struct hctx h;
	char big[2048];
	int fd;

	fresh();
	put("cur", "left.1.data", "left over\n");	/* a crashed run's */
	put("tmp", "old.tmp", "x");
	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put("new", "big.1.data", big);
	memset(&h, 0, sizeof(h));
	CHECK_INT("recover: rc", run(&h, 0, 1000, &st), 0);
	CHECK(slurp(P("out/new/left.1.data")) != NULL,
	    "cur/ item recovered and processed");
	CHECK_INT("big: rejected unread", h.calls, 1);
	CHECK(strstr(slurp(P("in/reject/big.1.data.reason")),
	    "reason=rule=size line=0 item of 2047 bytes exceeds the limit of "
	    "1000\n") != NULL, "size reason");
	/* A queue locked by another consumer: 0, nothing touched. */
	put("new", "w.1.data", "x\n");
	fd = open(P("in/lock"), O_RDWR);
	CHECK(fd != -1 && flock(fd, LOCK_EX) == 0, "flock");
	memset(&h, 0, sizeof(h));
	CHECK_INT("locked: rc", run(&h, 0, 0, &st), 0);
	CHECK_INT("locked: no call", h.calls, 0);
	CHECK(slurp(P("in/new/w.1.data")) != NULL, "locked: left");
	close(fd);
}

/* A child drains with PIPELINE_CRASH_AT=point; then a rerun. */
static void
test_crash_points(void)
{
	static const char *const points[] = { "claimed", "handled", "synced",
	    "published", "committed" };

	for (size_t p = 0; p < sizeof(points) / sizeof(points[0]); p++) {
		struct drain_stats st;
		struct hctx h;
		char name[32];
		int status, in, out, rej;
		pid_t pid;

		fresh();
		for (int i = 0; i < 5; i++) {
			snprintf(name, sizeof(name), "k%d%s.1.data", i,
			    i == 2 ? "-bad" : "");
			put("new", name, "k\n");
		}
		fflush(stdout);
		if ((pid = fork()) == 0) {
			memset(&h, 0, sizeof(h));
			setenv("PIPELINE_CRASH_AT", points[p], 1);
			run(&h, 0, 0, &st);
			_exit(0);
		}
		waitpid(pid, &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 99,
		    "%s: child exit %d", points[p], WEXITSTATUS(status));
		in = count(P("in/new")) + count(P("in/cur"));
		out = count(P("out/new"));
		CHECK(in == 5 && (out == 0 || out == 4), "%s: in %d out %d",
		    points[p], in, out);
		memset(&h, 0, sizeof(h));
		CHECK_INT(points[p], run(&h, 0, 0, &st), 0);
		out = count(P("out/new"));
		rej = count(P("in/reject"));
		CHECK(out == 4 && rej == 2 && count(P("in/new")) == 0 &&
		    count(P("in/cur")) == 0 &&
		    count(P("out/tmp")) == 0, "%s after rerun: out %d "
		    "reject %d", points[p], out, rej);
	}
}

static int ev_from;	/* handler_ev: items numbered below have no event */

/* handler, with an event of about 150 bytes per item from ev_from on. */
static int
handler_ev(struct drain *d, struct drain_item *it, void *arg)
{
	struct audit_buf *ab = drain_audit(d);

	if (atoi(it->name + 4) < ev_from)
		return handler(d, it, arg);
	audit_begin(ab, "test", "item.seen", "ok");
	audit_str(ab, "item", it->name);
	audit_str(ab, "pad", "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789");
	audit_end(ab);
	return handler(d, it, arg);
}

/*
 * A batch whose events fill more than a segment (audit-sign's max_file):
 * as many segments, whole events each, none over the cap, every event
 * once, nothing left in audit/tmp.
 */
/* One lingering-mode pass (idle_exit 0) with fn; segments capped at
 * audit_max bytes (0: as configured). */
static int
run_linger(struct hctx *h, drain_handler *fn, size_t batch, size_t audit_max,
    struct drain_stats *st)
{
	struct drain_linger lo;
	struct drain_opts o;
	struct drain *d;
	char err[256];
	int rc;

	opts_init(&o, h, batch, 0);
	memset(&lo, 0, sizeof(lo));
	lo.idle_exit = 0;
	lo.audit_max = audit_max;
	d = drain_open(P("in"), P("out"), P("audit"), &o, err, sizeof(err));
	CHECK(d != NULL, "drain_open: %s", err);
	if (d == NULL)
		return -1;
	rc = drain_linger(d, fn, h, &lo, st);
	drain_close(d);
	return rc;
}

/* One pass over the items in batches of batch, segments capped at 1 KiB. */
static int
run_split(struct drain_stats *st, size_t batch)
{
	struct hctx h;

	memset(&h, 0, sizeof(h));
	return run_linger(&h, handler_ev, batch, 1024, st);
}

/* A fresh spool with 40 items in new/. */
static void
fresh40(void)
{
	char name[32];

	fresh();
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "item%02d.1.data", i);
		put("new", name, "<x/>\n");
	}
}

/* A fresh spool with 100 items named <pre>NNN.1.data in new/. */
static void
fresh100(const char *pre)
{
	char name[64];

	fresh();
	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "%s%03d.1.data", pre, i);
		put("new", name, "<x/>\n");
	}
}

/* How many of the 40 items' events audit/new holds once, and at all. */
static void
split_events(int *once, int *seen)
{
	const char *c;
	int nf;

	c = cat_dir(P("audit/new"), &nf);
	*once = *seen = 0;
	for (int i = 0; i < 40; i++) {
		char want[64];
		const char *at;

		snprintf(want, sizeof(want), "\"item\":\"item%02d.1.data\"", i);
		if ((at = strstr(c, want)) == NULL)
			continue;
		(*seen)++;
		if (strstr(at + 1, want) == NULL)
			(*once)++;
	}
}

static void
test_audit_split(void)
{
	struct drain_stats st;
	char path[PATH_MAX + 64];
	int nf, k = 0, seen = 0, big = 0, status;
	DIR *dir;
	struct dirent *de;
	pid_t pid;

	fresh40();
	CHECK_INT("split: rc", run_split(&st, 64), 0);
	CHECK_INT("split: done", st.done, 40);
	CHECK_INT("split: one batch", st.batches, 1);
	CHECK_INT("split: out/new", count(P("out/new")), 40);
	CHECK_INT("split: audit/tmp empty", count(P("audit/tmp")), 0);
	(void)cat_dir(P("audit/new"), &nf);
	CHECK(nf >= 6, "split: %d segments for ~6 KB of events", nf);
	split_events(&k, &seen);
	CHECK_INT("split: every event once", k, 40);
	if ((dir = opendir(P("audit/new"))) != NULL) {
		while ((de = readdir(dir)) != NULL) {
			struct stat sb;
			char *body;

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", P("audit/new"),
			    de->d_name);
			body = slurp(path);
			if (stat(path, &sb) == -1 || sb.st_size > 1024 ||
			    body == NULL || body[0] == '\0' ||
			    body[strlen(body) - 1] != '\n')
				big++;
		}
		closedir(dir);
	}
	CHECK_INT("split: segments within the cap, whole lines", big, 0);

	/*
	 * Two batches of 20: the first has only its summary event, which
	 * stays in the open segment; the second's events fill three, so
	 * that segment is handed on first.  Killed after the second's first
	 * full part is synced: the first batch is done and its event in
	 * audit/new, the part waits in audit/tmp, nothing of the second is
	 * published; the rerun hands the part on and redoes the batch:
	 * every event at least once, none lost.
	 */
	ev_from = 20;
	fresh40();
	fflush(stdout);
	if ((pid = fork()) == 0) {
		setenv("PIPELINE_CRASH_AT", "audit.part", 1);
		_exit(run_split(&st, 20) == 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 99,
	    "audit.part: child exit %d", WEXITSTATUS(status));
	CHECK_INT("audit.part: a part in audit/tmp", count(P("audit/tmp")), 1);
	CHECK_INT("audit.part: the first batch's segment", count(P("audit/new")),
	    1);
	CHECK(strstr(cat_dir(P("audit/new"), &nf), "batch.summary") != NULL &&
	    strstr(cat_dir(P("audit/new"), &nf), "item.seen") == NULL,
	    "audit.part: audit/new holds the first batch's event alone");
	CHECK_INT("audit.part: the first batch's outputs", count(P("out/new")),
	    20);
	CHECK_INT("audit.part: rerun", run_split(&st, 64), 0);
	CHECK_INT("audit.part: outputs", count(P("out/new")), 40);
	CHECK_INT("audit.part: audit/tmp empty", count(P("audit/tmp")), 0);
	split_events(&k, &seen);
	CHECK_INT("audit.part: every event at least once", seen, 20);

	/*
	 * Another run of the stage starts while a lingering one's synced
	 * parts wait, unlocked, in audit/tmp (paused there): it finds the
	 * queue busy and leaves them alone.  Its start once handed them on
	 * as a dead run's, the first run's batch then went back and was
	 * done again: every event twice.
	 */
	ev_from = 0;
	fresh40();
	fflush(stdout);
	if ((pid = fork()) == 0) {
		setenv("PIPELINE_PAUSE_AT", "audit.part", 1);
		setenv("PIPELINE_PAUSE_FILE", P("pause"), 1);
		_exit(run_split(&st, 64) == 0 ? 0 : 1);
	}
	for (int i = 0; i < 15000 && access(P("pause"), F_OK) == -1; i++)
		usleep(2000);	/* up to 30 s: ASan on a busy machine */
	CHECK_INT("second run: a part waits", count(P("audit/tmp")) >= 1, 1);
	CHECK_INT("second run: rc", run_split(&st, 64), 0);
	CHECK_INT("second run: busy", st.seen, 0);
	CHECK_INT("second run: audit/new untouched", count(P("audit/new")), 0);
	status = -1;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		(void)unlink(P("pause"));	/* again at each part */
		usleep(2000);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "second run: first run's exit %d", WEXITSTATUS(status));
	CHECK_INT("second run: outputs", count(P("out/new")), 40);
	CHECK_INT("second run: audit/tmp empty", count(P("audit/tmp")), 0);
	split_events(&k, &seen);
	CHECK_INT("second run: every event once", k, 40);
}

/*
 * A dead run's segment whose tail is not events (old blocks read back
 * after a power failure): the next start keeps the whole, valid lines
 * before the first bad one and hands that on, never a file audit-sign
 * would refuse whole.
 */
static void
test_seg_recover(void)
{
	static const char good[] =
	    "{\"ts\":\"2026-12-07T00:00:00Z\",\"action\":\"a\"}\n"
	    "{\"ts\":\"2026-12-07T00:00:01Z\",\"action\":\"b\"}\n";
	struct drain_stats st;
	struct hctx h;
	const char *c;
	char path[PATH_MAX + 64];
	FILE *fp;
	int nf;

	fresh();
	snprintf(path, sizeof(path), "%s/%s", P("audit/tmp"),
	    "1796620465.564100_4194_e51928eb.test.seg");
	if ((fp = fopen(path, "w")) == NULL || fprintf(fp, "%sold block\n"
	    "{\"x\":1}\npartial", good) < 0 || fclose(fp) == EOF) {
		printf("test_drain: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	memset(&h, 0, sizeof(h));
	CHECK_INT("seg recover: rc", run(&h, 0, 0, &st), 0);
	CHECK_INT("seg recover: audit/tmp empty", count(P("audit/tmp")), 0);
	c = cat_dir(P("audit/new"), &nf);
	CHECK(nf == 1 && strcmp(c, good) == 0, "seg recover: %d files, "
	    "\"%s\"", nf, c);

	/*
	 * A name of ours linked to another queue's item (an item is not
	 * JSON: cut to nothing, it would be emptied): left alone.  And a
	 * file longer than audit-sign takes any (64 MiB): not read, handed
	 * on whole for audit-sign to refuse.
	 */
	fresh();
	put("new", "linked.1.data", "<agent_data/>\n");
	snprintf(path, sizeof(path), "%s/%s", P("audit/tmp"),
	    "1796620465.564100_4194_e51928ec.test.seg");
	CHECK_INT("seg link: link", link(P("in/new/linked.1.data"), path), 0);
	(void)unlink(P("in/new/linked.1.data"));
	if (link(path, P("out/tmp/keep")) == -1) {
		printf("test_drain: link: %s\n", strerror(errno));
		exit(2);
	}
	snprintf(path, sizeof(path), "%s/%s", P("audit/tmp"),
	    "1796620465.564100_4194_e51928ed.test.seg");
	if ((fp = fopen(path, "w")) == NULL ||
	    ftruncate(fileno(fp), (64LL << 20) + 1) == -1 || fclose(fp) == EOF) {
		printf("test_drain: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	memset(&h, 0, sizeof(h));
	CHECK_INT("seg link: rc", run(&h, 0, 0, &st), 0);
	c = slurp(P("out/tmp/keep"));
	CHECK(c != NULL && strcmp(c, "<agent_data/>\n") == 0,
	    "seg link: the linked item kept whole: \"%s\"", c ? c : "(gone)");
	CHECK_INT("seg link: left in audit/tmp", count(P("audit/tmp")), 1);
	snprintf(path, sizeof(path), "%s/%s", P("audit/new"),
	    "1796620465.564100_4194_e51928ed.test.seg");
	{
		struct stat sb;

		CHECK(stat(path, &sb) == 0 && sb.st_size == (64LL << 20) + 1,
		    "seg oversize: handed on whole");
	}
}

/* Items owned by anyone but the queue's producers: rejected unread. */
static void
test_producers(void)
{
	struct idset ids;
	struct drain_stats st;
	struct hctx h;
	char list[64], err[256], *c;
	int nf;

	snprintf(list, sizeof(list), "%u", (unsigned)getuid() + 1);
	CHECK_INT("idset_parse", idset_parse(&ids, list, err, sizeof(err)), 0);
	CHECK_INT("idset_match other", idset_match(&ids, getuid()), 0);
	CHECK_INT("idset_match own", idset_match(&ids, getuid() + 1), 1);
	CHECK_INT("idset_parse bad user", idset_parse(&ids,
	    "no-such-user-octo", err, sizeof(err)), -1);
	CHECK_INT("idset_parse bad group", idset_parse(&ids,
	    "@no-such-group-octo", err, sizeof(err)), -1);
	CHECK_INT("idset_parse empty", idset_parse(&ids, " , ", err,
	    sizeof(err)), -1);
	CHECK_INT("idset_parse root", idset_parse(&ids, "root", err,
	    sizeof(err)), 0);
	CHECK_INT("root is uid 0", idset_match(&ids, 0), 1);
	/* The running user is not a producer: its item is refused. */
	snprintf(list, sizeof(list), "%u", (unsigned)getuid() + 1);
	idset_parse(&ids, list, err, sizeof(err));
	put("new", "p-stranger.1.data", "<agent_data/>\n");
	memset(&h, 0, sizeof(h));
	run_producers = &ids;
	CHECK_INT("producers: rc", run(&h, 0, 0, &st), 0);
	CHECK_INT("producers: rejected", st.rejected, 1);
	CHECK_INT("producers: handler not called", h.calls, 0);
	c = slurp(P("in/reject/p-stranger.1.data.reason"));
	CHECK(c != NULL && strstr(c, "code=77\n") &&
	    strstr(c, "reason=rule=producer line=0 owner uid "),
	    "producer reason: %s", c ? c : "(none)");
	c = cat_dir(P("audit/new"), &nf);
	CHECK(strstr(c, "\"item\":\"p-stranger.1.data\",\"reason\":"
	    "\"rule=producer line=0 owner uid ") != NULL,
	    "producer audit event: %s", c);
	/* The producer's own item passes. */
	snprintf(list, sizeof(list), "%u", (unsigned)getuid());
	idset_parse(&ids, list, err, sizeof(err));
	put("new", "q-own.1.data", "<agent_data/>\n");
	memset(&h, 0, sizeof(h));
	CHECK_INT("producer: rc", run(&h, 0, 0, &st), 0);
	CHECK_INT("producer: done", st.done, 1);
	CHECK_INT("producer: handler called", h.calls, 1);
	run_producers = NULL;
}

/*
 * What an outside review of lib/drain found: an item given back keeps
 * none of the events its handler recorded; a backlog is read scan_max
 * names at a time, all of it in one pass, in order; an item that cannot
 * be opened for lack of descriptors is given back, never rejected; a
 * batch larger than the descriptors allow is capped, not given back at
 * every run; a name too long for its reason file beside it is rejected
 * under a short name and blocks nothing.
 */
static void
test_hardening(void)
{
	struct drain_stats st;
	struct hctx h;
	struct rlimit rl;
	char name[300], *c;
	int nf, k, seen, status;
	pid_t pid;

	/* Item 3's handler records its event, then asks for a retry. */
	ev_from = 0;
	fresh40();
	memset(&h, 0, sizeof(h));
	h.retry_at = 3;
	CHECK_INT("retry: rc", run_linger(&h, handler_ev, 64, 0, &st), EX_TEMPFAIL);
	CHECK_INT("retry: done", st.done, 2);
	c = cat_dir(P("audit/new"), &nf);
	CHECK(strstr(c, "\"item\":\"item01.1.data\"") != NULL &&
	    strstr(c, "\"item\":\"item02.1.data\"") == NULL,
	    "retry: item02's event recorded though it was given back: %s", c);
	CHECK_INT("retry: item02 back in new/",
	    access(P("in/new/item02.1.data"), F_OK), 0);

	/* 40 items, 7 names read at a time: one pass takes them all. */
	fresh40();
	memset(&h, 0, sizeof(h));
	setenv("PIPELINE_SCAN_MAX", "7", 1);
	CHECK_INT("scan max: rc", run_linger(&h, handler_ev, 16, 0, &st), 0);
	unsetenv("PIPELINE_SCAN_MAX");
	CHECK_INT("scan max: done", st.done, 40);
	CHECK_INT("scan max: out/new", count(P("out/new")), 40);
	split_events(&k, &seen);
	CHECK_INT("scan max: every event once", k, 40);
	{
		char **names;
		size_t n;
		int more;
		struct spool q;

		fresh40();
		CHECK_INT("scan_max open", spool_open(&q, P("in"),
		    SPOOL_CONSUME), 0);
		CHECK_INT("scan_max", spool_scan_max(&q, 10, &names, &n,
		    &more), 0);
		CHECK(n == 10 && more == 1 && strcmp(names[0],
		    "item00.1.data") == 0 && strcmp(names[9],
		    "item09.1.data") == 0, "scan_max: the 10 oldest, sorted "
		    "(%zu, more %d, %s .. %s)", n, more, n ? names[0] : "",
		    n ? names[n - 1] : "");
		spool_names_free(names, n);
		spool_close(&q);
	}

	/*
	 * Descriptors run out in the middle of a batch (the limit lowered
	 * after the drain sized its batch; no audit queue, so that the
	 * commit needs none): the items that cannot be read are given back,
	 * never rejected, and a rerun takes every one.
	 */
	fresh100("fs");
	fflush(stdout);
	if ((pid = fork()) == 0) {
		struct drain_opts o;
		struct drain *d;
		char err[256];
		int rc;

		memset(&h, 0, sizeof(h));
		opts_init(&o, &h, 100, 0);
		if ((d = drain_open(P("in"), P("out"), NULL, &o, err,
		    sizeof(err))) == NULL)
			_exit(3);
		rl.rlim_cur = rl.rlim_max = 48;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			_exit(3);
		rc = drain_run(d, handler, &h, &st);
		_exit(rc == EX_TEMPFAIL && st.rejected == 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "fd-starved: child exit %d", WEXITSTATUS(status));
	CHECK_INT("fd-starved: nothing rejected", count(P("in/reject")), 0);
	memset(&h, 0, sizeof(h));
	CHECK_INT("fd-starved: rerun", run(&h, 0, 0, &st), 0);
	CHECK_INT("fd-starved: every item through", count(P("out/new")), 100);
	CHECK_INT("fd-starved: nothing left", count(P("in/new")) +
	    count(P("in/cur")), 0);

	/* 64 descriptors, a batch of 100: capped, every item through. */
	fresh100("fd");
	fflush(stdout);
	if ((pid = fork()) == 0) {
		rl.rlim_cur = rl.rlim_max = 64;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			_exit(3);
		memset(&h, 0, sizeof(h));
		_exit(run_linger(&h, handler_ev, 100, 0, &st) == 0 &&
		    st.done == 100 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "batch cap: child exit %d", WEXITSTATUS(status));
	CHECK_INT("batch cap: out/new", count(P("out/new")), 100);
	CHECK_INT("batch cap: nothing rejected", count(P("in/reject")), 0);

	/* A claim never replaces an item of that name already in cur/
	 * (claimed earlier in the batch): it waits for the next pass. */
	{
		struct spool q;

		fresh();
		put("cur", "twice.1.data", "first\n");
		put("new", "twice.1.data", "second\n");
		CHECK_INT("claim twice: open", spool_open(&q, P("in"),
		    SPOOL_CONSUME), 0);
		CHECK_INT("claim twice: not now", spool_claim(&q,
		    "twice.1.data"), 1);
		c = slurp(P("in/cur/twice.1.data"));
		CHECK(c != NULL && strcmp(c, "first\n") == 0,
		    "claim twice: cur/ kept: %s", c ? c : "(gone)");
		CHECK_INT("claim twice: still in new/",
		    access(P("in/new/twice.1.data"), F_OK), 0);
		spool_close(&q);
	}

	/* A name of 250 bytes, refused: under a short name in reject/,
	 * its reason beside it naming it whole; the next item goes on. */
	fresh();
	memset(name, 'b', 250);
	memcpy(name, "bad-", 4);
	name[250] = '\0';
	put("new", name, "<x/>\n");
	put("new", "zz-after.1.data", "<x/>\n");
	memset(&h, 0, sizeof(h));
	CHECK_INT("long name: rc", run(&h, 0, 0, &st), 0);
	CHECK_INT("long name: rejected", st.rejected, 1);
	CHECK_INT("long name: the next one done", st.done, 1);
	CHECK_INT("long name: cur/ empty", count(P("in/cur")), 0);
	CHECK_INT("long name: item and reason", count(P("in/reject")), 2);
	c = cat_dir(P("in/reject"), &nf);
	CHECK(strstr(c, "item=bad-bbbb") != NULL && strstr(c, name) != NULL,
	    "long name: the reason names it whole: %.80s", c);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(600);	/* a pause point or a child that never ends */
	log_init("test_drain", 0, 0);
	if ((size_t)snprintf(root, sizeof(root), "%s/test_drain.XXXXXX",
	    tmp ? tmp : "/tmp") >= sizeof(root) || mkdtemp(root) == NULL) {
		printf("test_drain: mkdtemp: %s\n", strerror(errno));
		return 2;
	}
	test_batches();
	test_batch_begin();
	test_envelope_kept();
	test_reject();
	test_retry();
	test_recover_and_limits();
	test_crash_points();
	test_producers();
	test_audit_split();
	test_seg_recover();
	test_hardening();
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_report("test_drain");
}
