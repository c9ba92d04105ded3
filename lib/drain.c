/* SPDX-License-Identifier: ISC */
/* One run of a spool consumer, committing in batches (drain.h). */
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "auditseg.h"
#include "conf.h"
#include "io.h"
#include "drain.h"
#include "log.h"
#include "xalloc.h"

/* Out of what the process has, not something about the item. */
#define DRAIN_OUT_OF(e)	((e) == EMFILE || (e) == ENFILE || (e) == ENOMEM)
/* A failed spool operation's exit: a full disk passes (75), else 74. */
#define DRAIN_IO_EXIT(e)	((e) == ENOSPC || (e) == EDQUOT ? \
				    EX_TEMPFAIL : EX_IOERR)
/* From this many outputs in a batch on, one syncfs() replaces fsyncs. */
#define DRAIN_SYNCFS_MIN	4
/*
 * The status line: at most one a second while items keep coming (the
 * passes in between add up), one after a pass that failed, one every
 * DRAIN_STATUS_IDLE_MS while idle (octospool-status sees the drain
 * alive).  tmp/ is swept for abandoned items once a minute.
 */
#define DRAIN_STATUS_MS		1000
#define DRAIN_STATUS_IDLE_MS	10000
#define DRAIN_CLEAN_MS		60000

struct pending {
	char	*name;		/* input name (also the output name) */
	int	 outfd;		/* -1: no output for this item */
	int	 reject;	/* reject/ at the commit, with code, reason */
	int	 code;
	char	*reason;
};

struct drain {
	struct drain_opts opts;
	struct spool	 in, out, audit;
	int		 have_out, have_audit;
	struct pending	*pend;
	size_t		 npend;
	struct audit_buf ab;
	struct auditseg	 seg;		/* the batches' events (auditseg.h) */
	int		 seg_samefs;	/* on the outputs' file system */
	/* The full segments of a batch split over several, synced, in
	 * audit-sign/tmp until the batch's last part is synced. */
	char		**parts;
	size_t		 nparts, capparts;
	uint64_t	 recover_at;	/* lingering: the next recovery pass */
	int		 seg_recovered;	/* the first pass's, with the lock */
	size_t		 scan_max;	/* names read from new/ at a time */
	struct drain_stats *st;
	/* Between passes of one process (drain_linger, drain_run): */
	struct drain_stats sacc;	/* passes since the last status line */
	long long	 sacc_ms;
	int		 sacc_rc, sowed;	/* a line is owed */
	int64_t		 status_at, cleaned_at;	/* monotonic ms; 0: never */
	int		 recovered;	/* cur/ given back since the lock */
	/*
	 * Lingering with inotify on new/ (drain_linger): the names it
	 * reported since the last pass.  While hint_ok, they are all that
	 * can have come since new/ was last read, and a pass takes them
	 * instead of reading new/ again (drain_pass), which it still does
	 * every scan_every ms, after an overflow and after a pass that
	 * left items there.
	 */
	char		**hint;
	size_t		 nhint, caphint;
	int		 hint_ok, watching;
	int64_t		 scanned_at;	/* monotonic ms */
	int		 scan_every;
	const char	*hint_skip;	/* tests: names never hinted */
};

/* At most this many names hinted; more, and new/ is read. */
#define DRAIN_HINT_MAX	4096

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write the passes summed since the last line to <queue>/status. */
static void
drain_status_put(struct drain *d)
{
	if (spool_status_put(&d->in, d->opts.stage, d->sacc_rc, d->sacc.seen,
	    d->sacc.done, d->sacc.rejected, d->sacc.retried, d->sacc_ms) == -1)
		log_debug("event=status.write.fail stage=%s", d->opts.stage);
	memset(&d->sacc, 0, sizeof(d->sacc));
	d->sacc_ms = 0;
	d->sacc_rc = 0;
	d->sowed = 0;
}

void
drain_crash_point(const char *point)
{
	const char *at = getenv("PIPELINE_CRASH_AT");

	if (at != NULL && strcmp(at, point) == 0)
		_exit(99);
}

void
drain_pause_point(const char *point)
{
	const char *at = getenv("PIPELINE_PAUSE_AT");
	const char *file = getenv("PIPELINE_PAUSE_FILE");
	struct timespec ts = { 0, 10 * 1000000L };
	int fd;

	if (at == NULL || file == NULL || strcmp(at, point) != 0)
		return;
	if ((fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) == -1)
		return;
	close(fd);
	for (int i = 0; i < 6000 && access(file, F_OK) == 0; i++)
		nanosleep(&ts, NULL);
}

/*
 * A batch keeps each output open until its commit: no more of them than
 * the descriptors leave room for (the units set LimitNOFILE=1024; batch
 * takes up to 4096), with 64 for the queues, the segment, the database
 * and the item being read.
 */
static void
drain_fit_batch(struct drain *d)
{
	struct rlimit rl;
	size_t room;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return;
	room = rl.rlim_cur > 128 ? (size_t)rl.rlim_cur - 64 :
	    (size_t)rl.rlim_cur / 2;
	if (room < 1)
		room = 1;
	if (d->opts.batch <= room)
		return;
	log_warnx("event=drain.batch.capped stage=%s batch=%zu to=%zu "
	    "msg=\"open files limit %llu\"", d->opts.stage, d->opts.batch,
	    room, (unsigned long long)rl.rlim_cur);
	d->opts.batch = room;
}

struct drain *
drain_open(const char *in_path, const char *out_path, const char *audit_path,
    const struct drain_opts *o, char *err, size_t errlen)
{
	struct drain *d = xcalloc(1, sizeof(*d));

	d->opts = *o;
	if (d->opts.batch == 0)
		d->opts.batch = DRAIN_BATCH;
	d->scan_max = d->opts.batch * 16 > 65536 ? d->opts.batch * 16 : 65536;
	{
		const char *e = getenv("PIPELINE_SCAN_MAX"), *es = NULL;
		long long v;	/* tests */

		if (e != NULL) {
			v = strtonum(e, 1, INT_MAX, &es);
			if (es == NULL)
				d->scan_max = (size_t)v;
		}
	}
	/* Tests: names with this in them are not hinted, as if inotify
	 * had lost their events (only new/'s reading finds them). */
	d->hint_skip = getenv("PIPELINE_HINT_SKIP");
	d->in.dirfd = d->out.dirfd = d->audit.dirfd = -1;
	if (spool_open(&d->in, in_path, SPOOL_CONSUME) == -1) {
		snprintf(err, errlen, "queue %s: %s", in_path, strerror(errno));
		goto bad;
	}
	if (out_path != NULL) {
		if (spool_open(&d->out, out_path, SPOOL_PRODUCE) == -1) {
			snprintf(err, errlen, "queue %s: %s", out_path,
			    strerror(errno));
			goto bad;
		}
		d->have_out = 1;
		drain_fit_batch(d);
	}
	if (audit_path != NULL) {
		if (spool_open(&d->audit, audit_path, SPOOL_PRODUCE) == -1) {
			snprintf(err, errlen, "audit queue %s: %s", audit_path,
			    strerror(errno));
			goto bad;
		}
		d->have_audit = 1;
		auditseg_init(&d->seg, &d->audit, d->opts.stage,
		    auditseg_max(NULL));
		if (d->have_out) {
			struct stat a, b;

			d->seg_samefs = fstat(d->audit.tmpfd, &a) == 0 &&
			    fstat(d->out.tmpfd, &b) == 0 && a.st_dev == b.st_dev;
		}
	}
	d->pend = xcalloc(d->opts.batch, sizeof(*d->pend));
	audit_buf_init(&d->ab);
	return d;
bad:
	drain_close(d);
	return NULL;
}

void
drain_close(struct drain *d)
{
	if (d == NULL)
		return;
	if (d->in.dirfd != -1) {
		if (d->sowed)
			drain_status_put(d);
		spool_status_end(&d->in);
		spool_close(&d->in);
	}
	if (d->have_out)
		spool_close(&d->out);
	if (d->have_audit) {
		/*
		 * The last segment goes on, and new/ is synced once for every
		 * hand-off of the process (those on idle are not synced when
		 * made): a power failure must not put one back in tmp/, where
		 * only the next start of this stage would hand it on.  A
		 * failed hand-off: that start does.
		 */
		(void)auditseg_handoff(&d->seg);
		if (d->seg.handoffs > 0 && spool_sync(&d->audit) == -1)
			log_warn("event=audit.fail what=sync stage=%s",
			    d->opts.stage);
		if (d->seg.fd != -1)
			close(d->seg.fd);
		spool_close(&d->audit);
	}
	free(d->parts);
	free(d->pend);
	spool_names_free(d->hint, d->nhint);
	audit_buf_free(&d->ab);
	free(d);
}

struct audit_buf *
drain_audit(struct drain *d)
{
	return &d->ab;
}

void
drain_reason(struct drain_item *it, int code, const char *fmt, ...)
{
	va_list ap;

	it->code = code;
	va_start(ap, fmt);
	vsnprintf(it->reason, sizeof(it->reason), fmt, ap);
	va_end(ap);
}

int
drain_output(struct drain *d, const struct drain_item *it, const void *buf,
    size_t len)
{
	struct pending *p = &d->pend[d->npend];
	int fd;

	if (!d->have_out) {
		errno = EINVAL;
		return -1;
	}
	unlinkat(d->out.tmpfd, it->name, 0);	/* a leftover from a crash */
	if ((fd = spool_create(&d->out, it->name, SPOOL_MODE)) == -1)
		return -1;
	if (io_write_all(fd, buf, len) == -1) {
		spool_abort(&d->out, fd, it->name);
		return -1;
	}
	/* No sync_file_range() here: the batch's one syncfs() writes back
	 * everything at once, faster than starting it file by file. */
	p->outfd = fd;
	return 0;
}

/* drain.h: the head of an unclaimed item, for batch_begin. */
ssize_t
drain_peek(struct drain *d, const char *name, char *buf, size_t len)
{
	struct stat sb;
	ssize_t got = -1;
	int fd;

	if ((fd = openat(d->in.newfd, name, O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (d->opts.producers == NULL ||
	    idset_match(d->opts.producers, sb.st_uid)))
		got = io_read_full(fd, buf, len);
	close(fd);
	return got;
}

/*
 * Read the claimed item whole, up to max bytes; an item whose owner is
 * not one of the queue's producers is not read (*stranger set).  0 read
 * (or not to be), -2 not now: the process is out of descriptors or
 * memory (given back, tried again); -1 anything else about the item (a
 * link, not a regular file, not ours to read, a lease its producer
 * holds, an I/O error, fewer bytes than its size): rejected, kept whole
 * in reject/ with the reason, never handled half read and never given
 * back for ever at the head of the queue.
 */
static int
drain_read(struct drain *d, struct drain_item *it, int *toobig,
    int *stranger)
{
	struct stat sb;
	size_t got;
	ssize_t n;
	int fd;

	*toobig = *stranger = 0;
	if ((fd = spool_open_cur(&d->in, it->name)) == -1)
		return DRAIN_OUT_OF(errno) ? -2 : -1;
	if (fstat(fd, &sb) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return DRAIN_OUT_OF(errno) ? -2 : -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	it->owner = sb.st_uid;
	if (d->opts.producers != NULL &&
	    !idset_match(d->opts.producers, sb.st_uid)) {
		close(fd);
		*stranger = 1;
		return 0;
	}
	if ((size_t)sb.st_size > d->opts.max_item) {
		close(fd);
		*toobig = 1;
		it->len = sb.st_size;
		return 0;
	}
	it->data = xmalloc(sb.st_size + 1);
	if ((n = io_read_full(fd, it->data, sb.st_size)) < sb.st_size) {
		int e = n == -1 ? errno : ENODATA;	/* short */

		close(fd);
		free(it->data);
		it->data = NULL;
		errno = e;
		return DRAIN_OUT_OF(e) ? -2 : -1;
	}
	got = (size_t)n;
	close(fd);
	it->data[got] = '\0';
	it->len = got;
	return 0;
}

/* Give every pending item of the batch back to new/ (temporary failure). */
static void
drain_giveback(struct drain *d)
{
	for (size_t i = 0; i < d->npend; i++) {
		struct pending *p = &d->pend[i];

		if (p->outfd >= 0)
			close(p->outfd);
		if (p->outfd != -1)
			unlinkat(d->out.tmpfd, p->name, 0);
		p->outfd = -1;
		if (spool_retry(&d->in, p->name) == -1)
			log_warn("event=spool.retry.fail id=%s", p->name);
		if (p->reject)
			d->st->rejected--;	/* decided again next run */
		else
			d->st->done--;
		d->st->retried++;
		free(p->name);
		free(p->reason);
		p->reason = NULL;
		p->reject = 0;
	}
	d->npend = 0;
	audit_buf_reset(&d->ab);
}

/* Remove the batch's outputs from tmp/, open (>= 0) or closed (-2). */
static void
drain_drop_outputs(struct drain *d)
{
	for (size_t i = 0; i < d->npend; i++) {
		struct pending *p = &d->pend[i];

		if (p->outfd >= 0)
			close(p->outfd);
		if (p->outfd != -1)
			unlinkat(d->out.tmpfd, p->name, 0);
		p->outfd = -1;
	}
}

/*
 * How much of the n bytes of events at p go into one segment of at most
 * max bytes: whole lines (events), as many as fit; an event alone over
 * max goes alone (audit-sign refuses it, as it would anywhere).
 */
static size_t
drain_audit_cut(const char *p, size_t n, size_t max)
{
	const char *nl;

	if (n <= max)
		return n;
	for (size_t i = max; i > 0; i--)
		if (p[i - 1] == '\n')
			return i;
	nl = memchr(p, '\n', n);
	return nl != NULL ? (size_t)(nl - p) + 1 : n;
}

/*
 * The parts of a split batch (drain_audit_prepare): published into
 * audit-sign/new once its last part is synced, or removed from tmp/ when
 * the batch goes back.  -1: a rename failed (the rest stay listed, to be
 * removed).
 */
static int
drain_parts_end(struct drain *d, int publish)
{
	size_t i;

	for (i = 0; i < d->nparts; i++) {
		if (publish && spool_publish(&d->audit, d->parts[i]) == -1) {
			log_warn("event=audit.fail what=handoff stage=%s "
			    "name=%s", d->opts.stage, d->parts[i]);
			memmove(d->parts, d->parts + i, (d->nparts - i) *
			    sizeof(*d->parts));
			d->nparts -= i;
			return -1;
		}
		if (!publish)
			(void)unlinkat(d->audit.tmpfd, d->parts[i], 0);
		free(d->parts[i]);
	}
	d->nparts = 0;
	return 0;
}

/*
 * Append the batch's audit events to the stage's open segment in
 * audit-sign/tmp (lib/auditseg), opened if none is, handed on first if
 * they would take it past audit-sign's max_file.  Events that fill more
 * than a segment go into as many fresh ones, whole lines each (the open
 * one, which holds earlier batches' events, handed on first): each full
 * part is synced and closed in tmp/, the last one stays open, and
 * drain_commit publishes the parts once that last one is synced with
 * the outputs, or removes them if the batch goes back (a crash leaves
 * them to recovery: the batch is redone, its events recorded twice,
 * never lost).  0 nothing to write, 1 written (not yet synced: *bytes),
 * -1 failed (the batch goes back).
 */
static int
drain_audit_prepare(struct drain *d, size_t *bytes, int by_syncfs)
{
	const char *p = d->ab.buf;
	size_t left = d->ab.len;

	*bytes = 0;
	if (!d->have_audit || left == 0)
		return 0;
	if (left > d->seg.max && d->seg.fd != -1 && d->seg.len > 0 &&
	    auditseg_handoff(&d->seg) == -1)
		return -1;
	for (;;) {
		size_t n = drain_audit_cut(p, left, d->seg.max);
		struct iovec iov = { (void *)(uintptr_t)p, n };
		char name[SPOOL_NAME_MAX];

		/* Its name in tmp/: durable here unless syncfs() covers it. */
		if (auditseg_room(&d->seg, n, !by_syncfs) == -1 ||
		    auditseg_write(&d->seg, &iov, 1, bytes) == -1)
			goto fail;
		p += n;
		left -= n;
		if (left == 0)
			return 1;
		/* A full part: synced, kept in tmp/ until the last one is. */
		if (fdatasync(d->seg.fd) == -1) {
			log_warn("event=audit.fail what=sync stage=%s name=%s",
			    d->opts.stage, d->seg.name);
			auditseg_cut(&d->seg);
			goto fail;
		}
		auditseg_synced(&d->seg, *bytes);
		*bytes = 0;
		auditseg_detach(&d->seg, name, sizeof(name));
		if (d->nparts == d->capparts) {
			d->capparts = d->capparts ? d->capparts * 2 : 8;
			d->parts = xreallocarray(d->parts, d->capparts,
			    sizeof(*d->parts));
		}
		d->parts[d->nparts++] = xstrdup(name);
		drain_crash_point("audit.part");
		drain_pause_point("audit.part");
	}
fail:
	(void)drain_parts_end(d, 0);
	return -1;
}

/* Hand the audit segment on when it is due (auditseg_due). */
static void
drain_seg_tick(struct drain *d)
{
	if (d->have_audit && d->seg.fd != -1 &&
	    auditseg_now() >= auditseg_due(&d->seg))
		(void)auditseg_handoff(&d->seg);
}

/*
 * Commit the batch: its audit events and outputs durable, the outputs
 * renamed and their directory synced, the tool's own commit, then the
 * inputs removed.
 */
static int
drain_commit(struct drain *d)
{
	size_t nout = 0, abytes;
	int have_a, fs_synced = 0, rc = 0;

	if (d->npend > 0 && d->opts.prepare != NULL)
		d->opts.prepare(d, d->opts.arg);
	if (d->npend == 0 && d->ab.len == 0)
		return 0;
	for (size_t i = 0; i < d->npend; i++)
		if (d->pend[i].outfd >= 0)
			nout++;
	/* The events first, into the segment: synced with the outputs. */
	if ((have_a = drain_audit_prepare(d, &abytes, nout >= DRAIN_SYNCFS_MIN &&
	    d->seg_samefs)) == -1) {
		log_warn("event=audit.fail stage=%s", d->opts.stage);
		drain_drop_outputs(d);
		drain_giveback(d);
		return EX_TEMPFAIL;
	}
	/*
	 * Make the outputs durable: one syncfs() of the next queue's file
	 * system for a batch (errors since drain_open are reported, Linux
	 * >= 5.8), fsync() each for a handful.  Not one sync per item:
	 * that caps a stage near the disk's flush rate.
	 */
	if (nout >= DRAIN_SYNCFS_MIN) {
		if (syncfs(d->out.tmpfd) == -1) {
			log_warn("event=drain.sync.fail stage=%s",
			    d->opts.stage);
			goto unsynced;
		}
		fs_synced = 1;
	}
	for (size_t i = 0; i < d->npend; i++) {
		struct pending *p = &d->pend[i];
		int fd = p->outfd;

		if (fd < 0)
			continue;
		p->outfd = -2;	/* closed, in tmp/ */
		if ((nout < DRAIN_SYNCFS_MIN && fsync(fd) == -1) ||
		    close(fd) == -1) {
			log_warn("event=drain.sync.fail id=%s", p->name);
			/* The whole batch is given back with this one. */
			goto unsynced;
		}
	}
	/* The events: by that syncfs() if on its file system, else here. */
	if (have_a == 1 && !(fs_synced && d->seg_samefs) &&
	    fdatasync(d->seg.fd) == -1) {
		log_warn("event=audit.fail what=sync stage=%s name=%s",
		    d->opts.stage, d->seg.name);
		goto unsynced;
	}
	/* A split batch's full parts go on now that the last is synced. */
	if (have_a == 1 && drain_parts_end(d, 1) == -1)
		goto unsynced;
	if (have_a == 1)
		auditseg_synced(&d->seg, abytes);
	drain_crash_point("synced");
	drain_pause_point("synced");
	/*
	 * The events are durable before any output is visible: an output
	 * never exists without its event.
	 */
	for (size_t i = 0; i < d->npend; i++)
		if (d->pend[i].outfd == -2 &&
		    spool_publish(&d->out, d->pend[i].name) == -1) {
			log_warn("event=spool.publish.fail id=%s",
			    d->pend[i].name);
			return EX_IOERR;
		}
	if (d->have_out && spool_sync(&d->out) == -1) {
		log_warn("event=spool.sync.fail");
		return EX_IOERR;
	}
	drain_crash_point("published");
	if (d->opts.commit != NULL && d->opts.commit(d, d->opts.arg) == -1) {
		for (size_t i = 0; i < d->npend; i++)
			d->pend[i].outfd = -1;
		drain_giveback(d);
		return EX_TEMPFAIL;
	}
	drain_crash_point("committed");
	/*
	 * Inputs go only now: the outputs and the audit events (also those
	 * of the rejects) are durable.  A crash before this point leaves
	 * the inputs in cur/, and the next run decides them again.
	 */
	for (size_t i = 0; i < d->npend; i++) {
		struct pending *p = &d->pend[i];

		if (p->reject) {
			if (spool_reject(&d->in, p->name, d->opts.stage,
			    p->code, "%s", p->reason) == -1) {
				log_warn("event=spool.reject.fail id=%s",
				    p->name);
				rc = DRAIN_IO_EXIT(errno);
			}
		} else if (spool_done(&d->in, p->name) == -1) {
			log_warn("event=spool.done.fail id=%s", p->name);
			d->recovered = 0;	/* left in cur/: next pass */
		}
		free(p->name);
		free(p->reason);
		p->reason = NULL;
		p->reject = 0;
	}
	d->npend = 0;
	d->st->batches++;
	audit_buf_reset(&d->ab);
	drain_seg_tick(d);	/* a long pass hands it on as well */
	return rc;
unsynced:
	/*
	 * Nothing of this batch is provably durable: its events are cut off
	 * the segment (what earlier batches synced goes on), its outputs
	 * removed, its inputs given back.
	 */
	if (have_a == 1) {
		auditseg_cut(&d->seg);
		(void)auditseg_handoff(&d->seg);
		(void)drain_parts_end(d, 0);
	}
	drain_drop_outputs(d);
	drain_giveback(d);
	return EX_TEMPFAIL;
}

static int drain_pass(struct drain *, drain_handler *, void *,
    struct drain_stats *);

/*
 * Record a pass in <queue>/status (spool_status_put): after a failure at
 * once, else at most every DRAIN_STATUS_MS, summing the passes between;
 * an owed line goes out with the next pass that finds nothing, and an
 * idle drain's line is renewed every DRAIN_STATUS_IDLE_MS.  Each line
 * replaces a file, which costs an inode: not one per pass of one item.
 */
static void
drain_status(struct drain *d, const struct drain_stats *st, int rc,
    long long ms)
{
	int64_t now = mono_ms(), since = now - d->status_at;

	d->sacc.seen += st->seen;
	d->sacc.done += st->done;
	d->sacc.rejected += st->rejected;
	d->sacc.retried += st->retried;
	d->sacc_ms += ms;
	if (rc != 0 || d->sacc_rc == 0)
		d->sacc_rc = rc;
	if (st->seen > 0)
		d->sowed = 1;
	if (d->status_at != 0 && rc == 0 && !(d->sowed &&
	    (since >= DRAIN_STATUS_MS || st->seen == 0)) &&
	    since < DRAIN_STATUS_IDLE_MS)
		return;
	drain_status_put(d);
	d->status_at = now;
}

/* One pass, and its record in <queue>/status for octospool-status. */
int
drain_run(struct drain *d, drain_handler *fn, void *arg,
    struct drain_stats *st)
{
	int64_t t0 = mono_ms();
	int rc = drain_pass(d, fn, arg, st);

	if (!st->busy)
		drain_status(d, st, rc, (long long)(mono_ms() - t0));
	return rc;
}

/* ---- lingering ---- */

static volatile sig_atomic_t drain_stop;

static void
drain_on_stop(int sig)
{
	(void)sig;
	drain_stop = 1;
}

int
drain_linger_conf(struct drain_linger *lo, const struct conf *cf,
    const char *section, int batch_wait_def, int busy_wait_def, char *err,
    size_t errlen)
{
	long long idle = DRAIN_IDLE_EXIT, poll_ms = 1000, bw = batch_wait_def;
	long long busy = busy_wait_def;

	memset(lo, 0, sizeof(*lo));
	if (cf != NULL && (conf_num(cf, section, "idle_exit", 0, 86400, &idle,
	    err, errlen) == -1 || conf_num(cf, section, "poll_interval", 10,
	    60000, &poll_ms, err, errlen) == -1 || conf_num(cf, section,
	    "batch_wait", 0, 1000, &bw, err, errlen) == -1 || conf_num(cf,
	    section, "busy_wait", 0, 1000, &busy, err, errlen) == -1))
		return -1;
	lo->idle_exit = (int)idle;
	lo->poll_ms = (int)poll_ms;
	lo->batch_wait_ms = (int)bw;
	lo->busy_wait_ms = (int)busy;
	lo->audit_max = auditseg_max(cf);
	return 0;
}

void
drain_gather(const struct drain_linger *lo, int64_t work_end,
    int64_t until)
{
	int64_t now = mono_ms(), ms = lo->batch_wait_ms;

	/* Busy: this wake-up closely follows a pass that had items. */
	if (lo->busy_wait_ms > ms && work_end >= 0 &&
	    now - work_end < lo->busy_wait_ms)
		ms = lo->busy_wait_ms;
	if (until >= 0 && ms > until - now)
		ms = until - now;	/* the deadline the wait was for */
	if (ms > 0 && !drain_stop)
		(void)poll(NULL, 0, (int)ms);	/* EINTR: go */
}

/* The hints are dropped: the next pass reads new/. */
static void
drain_hint_drop(struct drain *d)
{
	spool_names_free(d->hint, d->nhint);
	d->hint = NULL;
	d->nhint = d->caphint = 0;
	d->hint_ok = 0;
}

/*
 * The inotify events in buf[0..len): the names of items created or
 * renamed into new/ (dot files aside, as spool_scan) kept for the next
 * pass; an overflow, or the watch gone, drops them.
 */
static void
drain_hint_read(struct drain *d, const char *buf, size_t len)
{
	struct inotify_event ev;
	size_t off = 0, nl;

	while (off < len) {
		if (len - off < sizeof(ev)) {
			drain_hint_drop(d);	/* never the kernel's doing */
			return;
		}
		memcpy(&ev, buf + off, sizeof(ev));
		off += sizeof(ev);
		if (ev.len > len - off) {
			drain_hint_drop(d);
			return;
		}
		if (ev.mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_UNMOUNT)) {
			drain_hint_drop(d);
			if (ev.mask & (IN_IGNORED | IN_UNMOUNT))
				d->watching = 0;	/* no more events */
		} else if (d->hint_ok && (ev.mask & (IN_CREATE | IN_MOVED_TO)) &&
		    ev.len > 0 && (nl = strnlen(buf + off, ev.len)) > 0 &&
		    buf[off] != '.') {
			/*
			 * An item's name comes with its creation or its
			 * rename in; IN_CLOSE_WRITE (the watch's wake-up for
			 * a file written in place) may name an anonymous
			 * file's "#<inode>" once it is linked in.
			 */
			if (d->nhint == DRAIN_HINT_MAX) {
				drain_hint_drop(d);	/* new/ is read */
			} else if (d->hint_skip != NULL &&
			    memmem(buf + off, nl, d->hint_skip,
			    strlen(d->hint_skip)) != NULL) {
				/* tests: a lost event */
			} else {
				if (d->nhint == d->caphint) {
					d->caphint = d->caphint ?
					    d->caphint * 2 : 16;
					d->hint = xreallocarray(d->hint,
					    d->caphint, sizeof(*d->hint));
				}
				d->hint[d->nhint++] = xstrndup(buf + off, nl);
			}
		}
		off += ev.len;
	}
}

int
drain_stopping(void)
{
	return drain_stop != 0;
}

void
drain_catch_stop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = drain_on_stop;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
}

int
drain_linger(struct drain *d, drain_handler *fn, void *arg,
    const struct drain_linger *lo, struct drain_stats *total)
{
	struct drain_stats st;
	char path[PATH_MAX + 8];
	int64_t last_work, t0, until;
	int64_t work_end = -1;	/* of the last pass with items */
	int rc = 0, ifd = -1, poll_ms = lo->poll_ms > 0 ? lo->poll_ms : 1000;

	memset(total, 0, sizeof(*total));
	if (lo->audit_max > 0)
		d->seg.max = lo->audit_max;
	drain_catch_stop();
	d->recover_at = auditseg_now() + auditseg_recover_period();
	if (lo->idle_exit > 0) {
		snprintf(path, sizeof(path), "%s/new", d->in.path);
		if ((ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
		    inotify_add_watch(ifd, path, IN_MOVED_TO | IN_CREATE |
		    IN_CLOSE_WRITE) == -1) {
			/* The poll alone still finds the work. */
			log_warn("event=inotify.fail stage=%s dir=%s",
			    d->opts.stage, path);
			if (ifd != -1)
				close(ifd);
			ifd = -1;
		}
	}
	d->watching = ifd != -1;
	d->scan_every = poll_ms;
	last_work = mono_ms();
	for (;;) {
		int64_t now, left;

		if (lo->before != NULL)
			lo->before(lo->arg);
		t0 = mono_ms();
		rc = drain_pass(d, fn, arg, &st);
		now = mono_ms();
		total->seen += st.seen;
		total->done += st.done;
		total->rejected += st.rejected;
		total->retried += st.retried;
		total->batches += st.batches;
		total->passes++;
		if (st.busy) {
			/* Another run holds the queue (it lingers): leave. */
			total->busy = 1;
			break;
		}
		drain_status(d, &st, rc, (long long)(now - t0));
		drain_seg_tick(d);
		/*
		 * A drain that lingers for days under steady load: once a
		 * minute, between passes (no batch's parts are in tmp/ then),
		 * the dead segments its start could not hand on.
		 */
		if (d->have_audit && auditseg_now() >= d->recover_at) {
			auditseg_recover(&d->audit, d->opts.stage, 0);
			d->recover_at = auditseg_now() +
			    auditseg_recover_period();
		}
		if (lo->after != NULL)
			lo->after(&st, rc, lo->arg);
		if (st.seen > 0)
			last_work = work_end = now;
		if (rc != 0 || drain_stop || lo->idle_exit <= 0)
			break;
		left = last_work + (int64_t)lo->idle_exit * 1000 - now;
		if (left <= 0)
			break;
		if (left > poll_ms)
			left = poll_ms;
		/*
		 * A gathering wake-up may run past the segment's hand-off
		 * below (its events are durable; only their move on to
		 * audit-sign waits), never past the rescan or idle_exit.
		 */
		until = now + left;
		/* Wake up for the segment's hand-off as well. */
		if (d->have_audit && d->seg.fd != -1) {
			uint64_t due = auditseg_due(&d->seg), ns = auditseg_now();
			int64_t ms = due > ns ? (int64_t)((due - ns + 999999) /
			    1000000) : 0;

			if (ms < left)
				left = ms;
		}
		{
			struct pollfd pfd = { ifd, POLLIN, 0 };
			char buf[4096];
			ssize_t got;

			if (poll(&pfd, ifd == -1 ? 0 : 1, (int)left) > 0) {
				drain_gather(lo, work_end, until);	/* woken */
				while ((got = read(ifd, buf, sizeof(buf))) > 0)
					drain_hint_read(d, buf, (size_t)got);
				if (got == -1 && errno != EAGAIN &&
				    errno != EINTR)
					drain_hint_drop(d);
			}
		}
		drain_seg_tick(d);
		if (drain_stop)
			break;
	}
	if (ifd != -1)
		close(ifd);
	d->watching = 0;
	drain_hint_drop(d);
	return rc;
}

/*
 * Claim, read and hand each of the n names to fn, committing every full
 * batch; the last, partial batch is the caller's.
 */
static int
drain_items(struct drain *d, drain_handler *fn, void *arg, char **names,
    size_t n, size_t *claimed)
{
	struct drain_stats *st = d->st;
	size_t hinted = 0;	/* names given to batch_begin so far */
	int rc = 0, r;

	*claimed = 0;
	/* A stop request ends the loop; the batch in hand is committed. */
	for (size_t i = 0; i < n && rc == 0 && !drain_stop; i++) {
		struct drain_item it;
		char vis[LOG_VISBUF];
		int toobig, stranger, rr, amark_n = d->ab.n;
		size_t amark = d->ab.len;	/* this item's events from here */

		if (d->npend == 0 && i >= hinted &&
		    d->opts.batch_begin != NULL) {
			size_t k = n - i < d->opts.batch ? n - i :
			    d->opts.batch;

			hinted = i + k;
			if ((r = d->opts.batch_begin(d, names + i, k,
			    d->opts.arg)) != 0) {
				rc = r;	/* nothing of this batch claimed */
				break;
			}
			drain_pause_point("hinted");
		}
		if ((r = spool_claim(&d->in, names[i])) == 1) {
			/* One of that name still in cur/: it stays in new/
			 * for the next pass, which must read new/ to see it. */
			if (errno == EEXIST)
				d->hint_ok = 0;
			continue;
		}
		if (r == -1) {
			log_warn("event=spool.claim.fail id=%s", names[i]);
			rc = DRAIN_IO_EXIT(errno);
			break;
		}
		drain_crash_point("claimed");
		(*claimed)++;
		st->seen++;
		memset(&it, 0, sizeof(it));
		it.owner = (uid_t)-1;	/* not known until read */
		it.name = names[i];
		d->pend[d->npend].outfd = -1;
		d->pend[d->npend].reject = 0;
		d->pend[d->npend].reason = NULL;
		if ((rr = drain_read(d, &it, &toobig, &stranger)) == -2) {
			log_warn("event=item.read.fail stage=%s id=%s "
			    "msg=\"given back, tried again\"", d->opts.stage,
			    it.name);
			r = DRAIN_RETRY;
		} else if (rr == -1) {
			drain_reason(&it, EX_DATAERR, "rule=unreadable line=0 %s",
			    strerror(errno));
			r = DRAIN_REJECT;
		} else if (stranger) {
			drain_reason(&it, EX_NOPERM, "rule=producer line=0 "
			    "owner uid %u is not a producer of this queue (%s)",
			    (unsigned)it.owner, d->opts.producers->text);
			r = DRAIN_REJECT;
		} else if (toobig) {
			drain_reason(&it, EX_DATAERR, "rule=size line=0 item "
			    "of %zu bytes exceeds the limit of %zu", it.len,
			    d->opts.max_item);
			r = DRAIN_REJECT;
		} else {
			char err[256];
			int e = envelope_parse(it.data, it.len, &it.env, err,
			    sizeof(err));

			if (e == -1) {
				drain_reason(&it, EX_DATAERR, "rule=envelope "
				    "line=0 %s", err);
				r = DRAIN_REJECT;
			} else {
				it.body = it.data + it.env.hdrlen;
				it.bodylen = it.len - it.env.hdrlen;
				r = fn(d, &it, arg);
			}
		}
		drain_crash_point("handled");
		switch (r) {
		case DRAIN_DONE:
			d->pend[d->npend++].name = xstrdup(it.name);
			st->done++;
			break;
		case DRAIN_REJECT:
			if (d->pend[d->npend].outfd >= 0) {
				spool_abort(&d->out, d->pend[d->npend].outfd,
				    it.name);
				d->pend[d->npend].outfd = -1;
			}
			log_info("event=item.reject stage=%s id=%s code=%d "
			    "reason=\"%s\"", d->opts.stage, it.name,
			    it.code ? it.code : EX_DATAERR,
			    log_vis(vis, sizeof(vis), it.reason,
			    strlen(it.reason)));
			audit_begin(&d->ab, d->opts.stage, "item.rejected",
			    "refused");
			audit_str(&d->ab, "item", it.name);
			if (it.env.hdrlen > 0) {
				audit_str(&d->ab, "name", it.env.name);
				audit_str(&d->ab, "peer", it.env.peer);
			}
			audit_str(&d->ab, "reason", it.reason);
			if (it.owner != (uid_t)-1)
				audit_num(&d->ab, "owner_uid",
				    (long long)it.owner);
			audit_end(&d->ab);
			/* Moved to reject/ at the commit, after its event. */
			d->pend[d->npend].reject = 1;
			d->pend[d->npend].code = it.code ? it.code : EX_DATAERR;
			d->pend[d->npend].reason = xstrdup(it.reason);
			d->pend[d->npend++].name = xstrdup(it.name);
			st->rejected++;
			break;
		default:
			if (d->pend[d->npend].outfd >= 0) {
				spool_abort(&d->out, d->pend[d->npend].outfd,
				    it.name);
				d->pend[d->npend].outfd = -1;
			}
			/* What the handler recorded of it did not happen. */
			d->ab.len = amark;
			d->ab.n = amark_n;
			if (spool_retry(&d->in, it.name) == -1)
				log_warn("event=spool.retry.fail id=%s",
				    it.name);
			st->retried++;
			rc = EX_TEMPFAIL;
			break;
		}
		free(it.data);
		if (d->npend == d->opts.batch) {
			int c = drain_commit(d);

			if (c != 0 && rc == 0)
				rc = c;
		}
	}
	return rc;
}

static int
drain_pass(struct drain *d, drain_handler *fn, void *arg,
    struct drain_stats *st)
{
	char **names = NULL;
	size_t n = 0;
	int rc = 0, r;

	memset(st, 0, sizeof(*st));
	d->st = st;
	if ((r = spool_lock(&d->in)) != 0) {
		if (r == 1) {
			log_debug("event=drain.busy stage=%s", d->opts.stage);
			st->busy = 1;
			return 0;
		}
		log_warn("event=spool.lock.fail stage=%s", d->opts.stage);
		return EX_IOERR;
	}
	/*
	 * cur/ holds a dead run's claims only when we take the lock: we keep
	 * it from here on, and an item that stays there (a failed pass, an
	 * input that could not be removed, a recovery that moved not all)
	 * asks for another recovery.  Once, then, and after those.
	 */
	if (!d->recovered) {
		if ((r = spool_recover(&d->in)) > 0)
			log_info("event=drain.recover stage=%s items=%d",
			    d->opts.stage, r);
		else if (r == -1)
			log_warn("event=drain.recover.fail stage=%s",
			    d->opts.stage);
		d->recovered = r >= 0;
	}
	/*
	 * What a killed run of this stage left in audit-sign/tmp (ours,
	 * unlocked): only with the queue's lock, which a lingering run of
	 * the stage holds while a batch's synced parts wait there unlocked
	 * (drain_audit_prepare).  Once; later, once a minute (drain_linger).
	 */
	if (d->have_audit && !d->seg_recovered) {
		auditseg_recover(&d->audit, d->opts.stage, 1);
		d->seg_recovered = 1;
	}
	if (d->cleaned_at == 0 || mono_ms() - d->cleaned_at >= DRAIN_CLEAN_MS) {
		(void)spool_clean_tmp(&d->in, SPOOL_TMP_MAXAGE);
		d->cleaned_at = mono_ms();
	}
	if (d->watching && d->hint_ok &&
	    mono_ms() - d->scanned_at < d->scan_every) {
		/*
		 * Lingering: what inotify named since new/ was last read is
		 * all that can have come (drain_hint_read), so new/ is not
		 * read again, which costs as much as the directory ever
		 * grew (a directory keeps its size after a backlog).
		 */
		size_t claimed;

		names = d->hint;
		n = d->nhint;
		d->hint = NULL;
		d->nhint = d->caphint = 0;
		spool_names_sort(names, &n);
		log_debug("event=drain.hinted stage=%s names=%zu",
		    d->opts.stage, n);
		rc = drain_items(d, fn, arg, names, n, &claimed);
		spool_names_free(names, n);
		if (rc != 0 || drain_stop)
			d->hint_ok = 0;	/* some may be left in new/ */
	} else {
		int more = 1;

		/* From here on inotify's names are the news. */
		drain_hint_drop(d);
		d->hint_ok = d->watching;
		d->scanned_at = mono_ms();
		/*
		 * The oldest scan_max names at a time, scanned again while
		 * more wait: a backlog of millions costs 2 * scan_max names
		 * of memory.
		 */
		while (more && rc == 0 && !drain_stop) {
			size_t claimed;

			if (spool_scan_max(&d->in, d->scan_max, &names, &n,
			    &more) == -1) {
				log_warn("event=spool.scan.fail stage=%s",
				    d->opts.stage);
				rc = EX_IOERR;
				break;
			}
			log_debug("event=drain.scan stage=%s names=%zu more=%d",
			    d->opts.stage, n, more);
			rc = drain_items(d, fn, arg, names, n, &claimed);
			spool_names_free(names, n);
			if (claimed == 0)
				break;	/* all gone or waiting: the next pass */
		}
		if (more || rc != 0 || drain_stop)
			d->hint_ok = 0;	/* left in new/: read it again */
	}
	if (rc == 0 || rc == EX_TEMPFAIL) {
		int c = drain_commit(d);

		if (c != 0 && rc == 0)
			rc = c;
	} else
		drain_giveback(d);
	if (rc != 0)
		d->recovered = 0;	/* what it could not give back */
	return rc;
}
