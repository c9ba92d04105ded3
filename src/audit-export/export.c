/* SPDX-License-Identifier: ISC */
/*
 * The exporter's loop for one sink: read sealed groups (leaves and the
 * checkpoint that covers them) from the log, deliver a batch, and only
 * after the sink's acknowledgement replace the cursor.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "auditecs.h"
#include "auditlog.h"
#include "log.h"
#include "xalloc.h"

#include "export.h"

struct reader {
	int		 segdir;
	uint64_t	 segno;		/* 0: none open yet */
	int		 fd;
	off_t		 base;		/* file offset of pend.p[0] */
	struct al_buf	 pend;
	unsigned char	 log_id[AL_LOGID];
	int		 have_id;
	uint64_t	 want;		/* next leaf seq to export */
	uint64_t	 ckpt_size;	/* last checkpoint exported */
	size_t		 consumed;	/* bytes of whole groups in the batch */
};

static void
msleep(long long ms)
{
	while (ms > 0 && !ex_stop) {
		long long s = ms > 100 ? 100 : ms;
		struct timespec ts = { s / 1000, (s % 1000) * 1000000 };

		nanosleep(&ts, NULL);
		ms -= s;
	}
}

long long
ex_backoff(long long min, long long max, int attempt)
{
	long long cap = min;

	for (int i = 0; i < attempt && cap < max; i++)
		cap *= 2;
	if (cap > max)
		cap = max;
	return (long long)(arc4random_uniform((uint32_t)(cap > 0x7fffffff ?
	    0x7fffffff : cap)) + 1);
}

/* Cursors: state_dir/<sink>.cursor, text with a CRC, replaced atomically. */

static int
cursor_load(const struct ex_sink *s, uint64_t *next, uint64_t *ck,
    char *logid, size_t ll)
{
	char path[4096], buf[512], line[128];
	FILE *fp;
	size_t n;
	const char *crcl;
	uint32_t crc;
	uint64_t a, b;

	snprintf(path, sizeof(path), "%s/%s.cursor", s->cf->state_dir,
	    s->name);
	if ((fp = fopen(path, "re")) == NULL)
		return errno == ENOENT ? 0 : -1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	if ((crcl = strstr(buf, "crc ")) == NULL)
		goto bad;
	crc = al_crc32c(0, buf, crcl - buf);
	snprintf(line, sizeof(line), "crc %08x\n", crc);
	if (strcmp(crcl, line) != 0 ||
	    strncmp(buf, "octo-audit-cursor/v1\n", 21) != 0 ||
	    al_kv_get(buf, n, "log_id", 0, logid, ll) == -1 ||
	    al_kv_u64(buf, n, "next_seq", &a) == -1 ||
	    al_kv_u64(buf, n, "checkpoint_size", &b) == -1)
		goto bad;
	*next = a;
	*ck = b;
	return 1;
bad:
	log_warnx("event=cursor.bad sink=%s msg=\"unreadable cursor: export "
	    "restarts at seq 0 (receivers dedup by event.id)\"", s->name);
	return 0;
}

static void
cursor_store(const struct ex_sink *s, const char *logid, uint64_t next,
    uint64_t ck)
{
	char path[4096], tmp[4096], buf[512];
	int fd, dfd, n;

	n = snprintf(buf, sizeof(buf), "octo-audit-cursor/v1\nlog_id %s\n"
	    "next_seq %llu\ncheckpoint_size %llu\n", logid,
	    (unsigned long long)next, (unsigned long long)ck);
	n += snprintf(buf + n, sizeof(buf) - n, "crc %08x\n",
	    al_crc32c(0, buf, n));
	snprintf(path, sizeof(path), "%s/%s.cursor", s->cf->state_dir,
	    s->name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.cursor.tmp", s->cf->state_dir,
	    s->name);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0640)) == -1 || write(fd, buf, n) != n ||
	    fsync(fd) == -1 || close(fd) == -1 || rename(tmp, path) == -1)
		fatal(EX_IOERR, "event=cursor.write.fail sink=%s", s->name);
	if ((dfd = open(s->cf->state_dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || fsync(dfd) == -1)
		fatal(EX_IOERR, "event=cursor.sync.fail sink=%s", s->name);
	close(dfd);
}

/* Reading the log */

static int
open_segment(struct reader *r, uint64_t segno)
{
	char name[32];
	unsigned char h[AL_SEGHDR_LEN];
	struct al_seghdr sh;
	int fd;

	al_seg_name(segno, name, sizeof(name));
	if ((fd = openat(r->segdir, name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	if (pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    al_seghdr_parse(h, sizeof(h), &sh) == -1) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (r->have_id && memcmp(sh.log_id, r->log_id, AL_LOGID) != 0)
		fatalx(EX_CONFIG, "event=log.foreign segment=%s msg=\"the "
		    "segment belongs to another log\"", name);
	memcpy(r->log_id, sh.log_id, AL_LOGID);
	r->have_id = 1;
	if (r->fd != -1)
		close(r->fd);
	r->fd = fd;
	r->segno = segno;
	r->base = AL_SEGHDR_LEN;
	r->pend.len = 0;
	return 0;
}

/* Find the segment holding seq want (the last one starting at or before). */
static int
reader_position(struct reader *r)
{
	uint64_t *segs, pick = 0;
	size_t n;

	if (al_seg_list(r->segdir, &segs, &n) == -1)
		fatal(EX_IOERR, "event=log.list.fail");
	for (size_t i = 0; i < n; i++) {
		char name[32];
		unsigned char h[AL_SEGHDR_LEN];
		struct al_seghdr sh;
		int fd;

		al_seg_name(segs[i], name, sizeof(name));
		if ((fd = openat(r->segdir, name, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		if (pread(fd, h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
		    al_seghdr_parse(h, sizeof(h), &sh) == 0 &&
		    sh.first_seq <= r->want)
			pick = segs[i];
		close(fd);
	}
	free(segs);
	if (pick == 0)
		return 0;
	if (open_segment(r, pick) == -1)
		fatal(EX_IOERR, "event=segment.open.fail segment=%llu",
		    (unsigned long long)pick);
	return 1;
}

/*
 * Reload pend from base to the end of the file.  -1: the segment is now
 * shorter than what was consumed (audit-sign's recovery set a damaged
 * tail aside): read it again from the cursor.
 */
static int
reader_read(struct reader *r)
{
	struct stat sb;
	off_t want;

	if (fstat(r->fd, &sb) == -1)
		fatal(EX_IOERR, "event=segment.stat.fail");
	if (sb.st_size < r->base) {
		log_warnx("event=log.cut segment=%llu offset=%lld size=%lld "
		    "msg=\"the segment was cut back (recovery): reading it "
		    "again from the cursor\"", (unsigned long long)r->segno,
		    (long long)r->base, (long long)sb.st_size);
		r->pend.len = 0;
		return -1;
	}
	want = sb.st_size - r->base;
	r->pend.len = 0;
	if (want <= 0)
		return 0;
	al_buf_put(&r->pend, NULL, 0);
	if ((size_t)want + 1 > r->pend.cap) {
		r->pend.p = xreallocarray(r->pend.p, want + 1, 1);
		r->pend.cap = want + 1;
	}
	for (off_t got = 0; got < want;) {
		ssize_t n = pread(r->fd, r->pend.p + got, want - got,
		    r->base + got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			want = got;
			break;
		}
		got += n;
	}
	r->pend.len = want;
	return 0;
}

static void
batch_add(struct ex_batch *b, const struct al_frame *f,
    const struct reader *r)
{
	struct ex_item *it;
	char idh[2 * AL_LOGID + 1];

	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 256;
		b->it = xreallocarray(b->it, b->cap, sizeof(*b->it));
	}
	it = &b->it[b->n++];
	memset(it, 0, sizeof(*it));
	it->f = *f;
	al_hex(r->log_id, AL_LOGID, idh);
	if (f->type == AL_CHECKPOINT) {
		char err[128];

		if (al_ckpt_parse(f->payload, f->paylen, &it->ckpt, err,
		    sizeof(err)) == -1)
			fatalx(EX_DATAERR, "event=log.bad msg=\"checkpoint: "
			    "%s\"", err);
		snprintf(it->id, sizeof(it->id), "%s:checkpoint:%llu", idh,
		    (unsigned long long)f->seq);
		b->ckpt_size = f->seq;
		al_ckpt_body_hash(f->payload, &it->ckpt, b->ckpt_hash);
	} else {
		al_leaf_hash(f, it->leaf);
		snprintf(it->id, sizeof(it->id), "%s:%llu", idh,
		    (unsigned long long)f->seq);
		b->next_seq = f->seq + 1;
	}
}

/*
 * Build a batch of at most cap items from the sealed groups in pend.
 * Returns the item count (0: nothing sealed yet), -1 damaged log.
 */
static int
reader_batch(struct reader *r, struct ex_batch *b, size_t cap)
{
	size_t pos = 0;

	b->n = 0;
	b->next_seq = r->want;
	b->ckpt_size = r->ckpt_size;
	r->consumed = 0;
	for (;;) {
		size_t gstart = pos, added = b->n;
		int complete = 0, full = 0;

		/* One group: leaves up to and including a checkpoint. */
		while (pos < r->pend.len) {
			struct al_frame f;
			int rc = al_frame_parse(r->pend.p + pos,
			    r->pend.len - pos, &f);

			if (rc == AL_SHORT)
				break;
			if (rc != AL_OK) {
				/* A torn tail is cut by audit-sign: wait. */
				struct al_frame g;
				int later = 0;

				for (size_t p = pos + 1; p + 8 <= r->pend.len;
				    p++)
					if (memcmp(r->pend.p + p,
					    AL_FRAME_MAGIC, 4) == 0 &&
					    al_frame_parse(r->pend.p + p,
					    r->pend.len - p, &g) == AL_OK) {
						later = 1;
						break;
					}
				if (!later)
					break;
				log_warnx("event=log.damaged segment=%llu "
				    "offset=%lld msg=\"%s; run audit-verify\"",
				    (unsigned long long)r->segno,
				    (long long)(r->base + pos),
				    al_frame_error(rc));
				return -1;
			}
			pos += f.framelen;
			if (f.type == AL_CHECKPOINT) {
				complete = 1;
				break;
			}
		}
		if (!complete) {
			/* Unsealed or incomplete: nothing of it yet. */
			b->n = added;
			break;
		}
		/* Add the group's items the cursor has not passed. */
		for (size_t p = gstart; p < pos;) {
			struct al_frame f;

			al_frame_parse(r->pend.p + p, r->pend.len - p, &f);
			p += f.framelen;
			if (f.type == AL_CHECKPOINT) {
				if (f.seq > r->ckpt_size)
					batch_add(b, &f, r);
				break;
			}
			if (f.seq < b->next_seq)
				continue;
			if (b->n >= cap) {
				full = 1;
				break;
			}
			batch_add(b, &f, r);
		}
		if (full)
			break;
		r->consumed = pos;
		if (b->n >= cap)
			break;
	}
	return (int)b->n;
}

static void
reader_consume(struct reader *r, const struct ex_batch *b)
{
	r->want = b->next_seq;
	r->ckpt_size = b->ckpt_size;
	if (r->consumed > 0) {
		r->base += r->consumed;
		r->consumed = 0;
	}
}

/* At the end of a segment: is there a next one? */
static int
reader_advance(struct reader *r)
{
	struct stat sb;
	char name[32];

	if (fstat(r->fd, &sb) == -1 || r->base < sb.st_size)
		return 0;
	al_seg_name(r->segno + 1, name, sizeof(name));
	if (faccessat(r->segdir, name, F_OK, 0) == -1)
		return 0;
	if (open_segment(r, r->segno + 1) == -1)
		return 0;
	return 1;
}

int
ex_run_sink(const struct ex_conf *cf, struct ex_sink *s)
{
	struct reader r;
	struct ex_batch b;
	char path[4096], cur_id[2 * AL_LOGID + 8] = "";
	uint64_t next = 0, ck = 0;
	time_t fail_since = 0;
	int attempt = 0, rc = 0, have_cur;

	s->cf = cf;
	memset(&r, 0, sizeof(r));
	memset(&b, 0, sizeof(b));
	r.fd = -1;
	snprintf(path, sizeof(path), "%s/seg", cf->log_dir);
	if ((r.segdir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		fatal(EX_NOINPUT, "event=log.open.fail dir=%s", path);
	if ((have_cur = cursor_load(s, &next, &ck, cur_id, sizeof(cur_id))) ==
	    -1)
		fatal(EX_IOERR, "event=cursor.read.fail sink=%s", s->name);
	for (;;) {
		int n;

		if (ex_stop)
			break;
		if (r.segno == 0) {
			r.want = next;
			r.ckpt_size = ck;
			if (!reader_position(&r)) {
				if (!cf->follow)
					break;
				msleep(cf->poll_ms);
				continue;
			}
			al_hex(r.log_id, AL_LOGID, s->log_id_hex);
			if (have_cur && strcmp(cur_id, s->log_id_hex) != 0)
				fatalx(EX_CONFIG, "event=cursor.foreign sink=%s "
				    "msg=\"the cursor is for log %s, the log "
				    "is %s: move the cursor away to export the "
				    "new log\"", s->name, cur_id,
				    s->log_id_hex);
			if (s->ops->own_cursor) {
				uint64_t sn;
				int lc;

				while ((lc = s->ops->load_cursor(s, &sn)) ==
				    -1 && !ex_stop) {
					if (!cf->follow && fail_since != 0 &&
					    time(NULL) - fail_since >=
					    cf->retry_time) {
						rc = EX_TEMPFAIL;
						goto out;
					}
					if (fail_since == 0)
						fail_since = time(NULL);
					msleep(ex_backoff(cf->retry_min,
					    cf->retry_max, attempt++));
				}
				if (ex_stop)
					break;
				if (lc == 1 && sn != r.want) {
					/* The sink's own cursor wins. */
					r.want = sn;
					r.ckpt_size = sn;
					if (!reader_position(&r))
						continue;
				}
			}
			log_info("event=export.start sink=%s type=%s "
			    "next_seq=%llu", s->name, s->type,
			    (unsigned long long)r.want);
		}
		if (reader_read(&r) == -1) {
			r.segno = 0;
			continue;
		}
		n = reader_batch(&r, &b, cf->batch);
		if (n < 0) {
			rc = EX_DATAERR;
			break;
		}
		if (n == 0) {
			if (reader_advance(&r))
				continue;
			if (!cf->follow)
				break;
			msleep(cf->poll_ms);
			continue;
		}
		if (s->ops->deliver(s, &b) == 0) {
			if (!s->ops->own_cursor)
				cursor_store(s, s->log_id_hex, b.next_seq,
				    b.ckpt_size);
			next = b.next_seq;
			ck = b.ckpt_size;
			reader_consume(&r, &b);
			if (attempt > 0)
				log_info("event=sink.recovered sink=%s "
				    "attempts=%d", s->name, attempt);
			attempt = 0;
			fail_since = 0;
			log_debug("event=export.batch sink=%s items=%d "
			    "next_seq=%llu", s->name, n,
			    (unsigned long long)next);
			continue;
		}
		/* Not acknowledged: back off, then resend from the cursor. */
		if (fail_since == 0)
			fail_since = time(NULL);
		if (!cf->follow && time(NULL) - fail_since >= cf->retry_time) {
			rc = EX_TEMPFAIL;
			break;
		}
		{
			long long d = ex_backoff(cf->retry_min, cf->retry_max,
			    attempt++);

			log_warnx("event=sink.retry sink=%s attempt=%d "
			    "delay_ms=%lld next_seq=%llu", s->name, attempt, d,
			    (unsigned long long)r.want);
			msleep(d);
		}
	}
out:
	if (s->ops->close != NULL)
		s->ops->close(s);
	if (r.fd != -1)
		close(r.fd);
	close(r.segdir);
	al_buf_free(&r.pend);
	free(b.it);
	return rc;
}

/* Rendering: ECS JSON (lib/auditecs.c) */

void
ex_render_ecs(const struct ex_sink *s, const struct ex_item *it,
    struct al_buf *o)
{
	al_ecs_render(s->cf->hostname, s->log_id_hex, &it->f, it->leaf,
	    it->ckpt.epoch, it->id, o);
}
