/* SPDX-License-Identifier: ISC */
/*
 * The witness sink: hands checkpoints to audit-witness as C2SP
 * tlog-witness add-checkpoint bodies ("old N", the RFC 9162 consistency
 * proof from the witness's latest cosigned size, "keycert" lines for the
 * log keys certified since, a blank line, the checkpoint note), written
 * into the witness's queue by the spool protocol.  The witness reads
 * nothing else: no record, no log.
 *
 * One submission is outstanding at a time, from the size the witness
 * published last (its cosigned_dir): an unclaimed one is replaced by a
 * newer one, a claimed one is waited for.  The proof comes from the
 * compact range at that size and the leaf hashes after it, which a walk
 * over the segments keeps; a walk goes at most WALK_MAX leaves beyond the
 * witness per submission, so memory stays bounded when it lags.
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

#include "auditlog.h"
#include "conf.h"
#include "log.h"
#include "net.h"
#include "spool.h"
#include "xalloc.h"

#include "export.h"

#define WALK_MAX	(1 << 18)	/* leaves per submission, at most */

struct kcert {
	uint64_t	 seq;
	char		*text;
};

/* A read position in the log, with the tree there. */
struct walk {
	int		 segdir;
	int		 fd;
	uint64_t	 segno;
	off_t		 off;
	struct al_tree	 tree;
	unsigned char	 chain[AL_HASH];
	/* Anchored at the witness's size: what a proof from there needs. */
	uint64_t	 anchor;
	struct al_tree	 at_anchor;
	unsigned char	(*hashes)[AL_HASH];	/* leaves anchor .. tree.size */
	size_t		 nhashes, caphashes;
	struct kcert	*kcs;		/* KEYCERTs in that range */
	size_t		 nkcs;
	/* The last checkpoint walked over. */
	uint64_t	 ck_size;
	struct al_buf	 ck_note;
	int		 valid;
};

struct wsink {
	struct walk	 w;
	char		 pending[256];	/* our unclaimed or claimed item */
	uint64_t	 pending_size;
	int64_t		 pending_ms;
};

static void
walk_reset(struct walk *w)
{
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
	for (size_t i = 0; i < w->nkcs; i++)
		free(w->kcs[i].text);
	w->nkcs = 0;
	w->nhashes = 0;
	w->ck_size = 0;
	w->ck_note.len = 0;
	w->valid = 0;
}

static int
open_seg(struct walk *w, uint64_t segno, struct al_seghdr *h)
{
	char name[32];
	unsigned char b[AL_SEGHDR_LEN];
	int fd;

	al_seg_name(segno, name, sizeof(name));
	if ((fd = openat(w->segdir, name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	if (pread(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b) ||
	    al_seghdr_parse(b, sizeof(b), h) == -1 || h->segno != segno) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (w->fd != -1)
		close(w->fd);
	w->fd = fd;
	w->segno = segno;
	w->off = AL_SEGHDR_LEN;
	return 0;
}

/* A leaf walked over: the tree, and past the anchor what a proof needs. */
static void
walk_leaf(struct walk *w, const struct al_frame *f,
    const unsigned char leaf[AL_HASH])
{
	if (w->tree.size >= w->anchor) {
		if (w->nhashes == w->caphashes) {
			w->caphashes = w->caphashes ? w->caphashes * 2 : 1024;
			w->hashes = xreallocarray(w->hashes, w->caphashes,
			    AL_HASH);
		}
		memcpy(w->hashes[w->nhashes++], leaf, AL_HASH);
		if (f->type == AL_KEYCERT) {
			w->kcs = xreallocarray(w->kcs, w->nkcs + 1,
			    sizeof(*w->kcs));
			w->kcs[w->nkcs].seq = f->seq;
			w->kcs[w->nkcs].text = xmalloc(f->paylen + 1);
			memcpy(w->kcs[w->nkcs].text, f->payload, f->paylen);
			w->kcs[w->nkcs++].text[f->paylen] = '\0';
		}
	}
	al_chain_step(w->chain, leaf, w->chain);
	al_tree_append(&w->tree, leaf);
	if (w->tree.size == w->anchor)
		w->at_anchor = w->tree;
}

/*
 * Walk frames forward.  Stops after the checkpoint for size target, or
 * after the first checkpoint once more than WALK_MAX leaves lie past the
 * anchor, or (to_anchor) right at the anchor.  0 stopped there, 1 the
 * sealed end came first, -1 the log does not read as it should.
 */
static int
walk_on(struct walk *w, uint64_t target, int to_anchor)
{
	unsigned char *buf = NULL;

	for (;;) {
		struct stat sb;
		size_t len, pos = 0;

		if (fstat(w->fd, &sb) == -1)
			return -1;
		if (sb.st_size < w->off) {
			free(buf);
			return -1;	/* cut back: start again */
		}
		len = sb.st_size - w->off;
		free(buf);
		buf = xmalloc(len + 1);
		if (len > 0 && pread(w->fd, buf, len, w->off) != (ssize_t)len) {
			free(buf);
			return -1;
		}
		while (pos < len) {
			struct al_frame f;
			unsigned char leaf[AL_HASH], ch[AL_HASH];

			if (to_anchor && w->tree.size == w->anchor)
				goto stop;
			if (al_frame_parse(buf + pos, len - pos, &f) != AL_OK)
				break;	/* not sealed yet, or damaged */
			if (f.type == AL_CHECKPOINT) {
				struct al_ckpt c;
				unsigned char root[AL_HASH];
				char err[128];

				pos += f.framelen;
				w->off += f.framelen;
				if (f.seq < w->tree.size || to_anchor)
					continue;
				al_tree_root(&w->tree, root);
				if (al_ckpt_parse(f.payload, f.paylen, &c, err,
				    sizeof(err)) == -1 || c.size !=
				    w->tree.size || memcmp(c.root, root,
				    AL_HASH) != 0) {
					log_warnx("event=witness.walk.bad "
					    "segment=%llu size=%llu msg=\"a "
					    "checkpoint does not match the log\"",
					    (unsigned long long)w->segno,
					    (unsigned long long)f.seq);
					free(buf);
					return -1;
				}
				w->ck_size = c.size;
				w->ck_note.len = 0;
				al_buf_put(&w->ck_note, f.payload, f.paylen);
				if (c.size >= target || w->nhashes > WALK_MAX)
					goto stop;
				continue;
			}
			al_leaf_hash(&f, leaf);
			al_chain_step(w->chain, leaf, ch);
			if (f.seq != w->tree.size ||
			    memcmp(ch, f.chain, AL_HASH) != 0) {
				log_warnx("event=witness.walk.bad segment=%llu "
				    "seq=%llu msg=\"a leaf does not fit the "
				    "chain\"", (unsigned long long)w->segno,
				    (unsigned long long)f.seq);
				free(buf);
				return -1;
			}
			walk_leaf(w, &f, leaf);
			pos += f.framelen;
			w->off += f.framelen;
		}
		if (to_anchor && w->tree.size == w->anchor)
			goto stop;
		/* The end of this segment: go on in the next one, if any. */
		{
			struct al_seghdr h;
			char name[32];

			al_seg_name(w->segno + 1, name, sizeof(name));
			if (pos < len || faccessat(w->segdir, name, F_OK, 0) ==
			    -1) {
				free(buf);
				return 1;
			}
			if (open_seg(w, w->segno + 1, &h) == -1 ||
			    h.first_seq != w->tree.size) {
				free(buf);
				return -1;
			}
		}
	}
stop:
	free(buf);
	return 0;
}

/* Position the walk at tree size s: the SEGLINK before it, then leaves. */
static int
walk_seek(struct walk *w, uint64_t s)
{
	uint64_t *segs, pick = 0;
	size_t n;
	struct al_seghdr h;
	struct al_frame f;
	unsigned char b[65536];
	ssize_t got;

	walk_reset(w);
	w->anchor = s;
	if (al_seg_list(w->segdir, &segs, &n) == -1)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (open_seg(w, segs[i], &h) == 0 && h.first_seq <= s)
			pick = segs[i];
	free(segs);
	if (pick == 0 || open_seg(w, pick, &h) == -1)
		return -1;
	/* The SEGLINK holds the tree state at the segment's start. */
	/* (At most 64 frontier lines: a few KiB.) */
	if ((got = pread(w->fd, b, sizeof(b), AL_SEGHDR_LEN)) <= 0 ||
	    al_frame_parse(b, got, &f) != AL_OK || f.type != AL_SEGLINK ||
	    f.seq != h.first_seq)
		return -1;
	{
		char v[128];
		int k;

		al_tree_init(&w->tree);
		for (k = 0; k < AL_TREE_MAXH; k++) {
			if (al_kv_get(f.payload, f.paylen, "frontier", k, v,
			    sizeof(v)) == -1)
				break;
			if (al_b64_decode(v, strlen(v), w->tree.h[k],
			    AL_HASH) != AL_HASH)
				return -1;
		}
		w->tree.n = k;
		w->tree.size = h.first_seq;
		if (k != __builtin_popcountll(h.first_seq) ||
		    al_kv_get(f.payload, f.paylen, "chain", 0, v, sizeof(v)) ==
		    -1 || al_b64_decode(v, strlen(v), w->chain, AL_HASH) !=
		    AL_HASH)
			return -1;
	}
	if (w->tree.size == s)
		w->at_anchor = w->tree;
	if (walk_on(w, UINT64_MAX, 1) != 0 || w->tree.size != s)
		return -1;
	w->valid = 1;
	return 0;
}

/* The anchor moves up to s within what was walked (the witness caught up). */
static void
walk_advance(struct walk *w, uint64_t s)
{
	size_t d = s - w->anchor, k = 0;

	for (size_t i = 0; i < d; i++)
		al_tree_append(&w->at_anchor, w->hashes[i]);
	memmove(w->hashes, w->hashes + d, (w->nhashes - d) * AL_HASH);
	w->nhashes -= d;
	for (size_t i = 0; i < w->nkcs; i++) {
		if (w->kcs[i].seq < s)
			free(w->kcs[i].text);
		else
			w->kcs[k++] = w->kcs[i];
	}
	w->nkcs = k;
	w->anchor = s;
}

/* The witness's latest cosigned size and root, from what it published. */
static int
witness_state(const struct ex_sink *s, uint64_t *size,
    unsigned char root[AL_HASH])
{
	char path[4096], err[128];
	unsigned char *buf;
	size_t len;
	struct al_ckpt c;

	snprintf(path, sizeof(path), "%s/%s.note", s->wcosigned,
	    s->log_id_hex);
	if (al_read_file(AT_FDCWD, path, &buf, &len) == -1) {
		if (errno != ENOENT)
			return -1;
		*size = 0;
		return 0;
	}
	if (al_ckpt_parse((char *)buf, len, &c, err, sizeof(err)) == -1) {
		free(buf);
		errno = EINVAL;
		return -1;
	}
	free(buf);
	*size = c.size;
	memcpy(root, c.root, AL_HASH);
	return 0;
}

/* Write the submission into the witness's queue (the spool protocol). */
static int
submit(struct ex_sink *s, const struct al_buf *b, char *name, size_t nl)
{
	return spool_put(s->wqueue, "witness", SPOOL_MODE, NULL, 0, b->p,
	    b->len, name, nl);
}

/*
 * Can a new submission go?  0 yes (an unclaimed one of ours was taken
 * back), -1 wait: the witness holds one of ours and has not answered.
 */
static int
take_back(struct ex_sink *s, struct wsink *ws, uint64_t wsize)
{
	char p[4096];

	if (ws->pending[0] == '\0')
		return 0;
	if (wsize >= ws->pending_size) {
		ws->pending[0] = '\0';	/* done */
		return 0;
	}
	snprintf(p, sizeof(p), "%s/new/%s", s->wqueue, ws->pending);
	if (unlink(p) == 0) {
		ws->pending[0] = '\0';
		return 0;
	}
	if (net_now_ms() - ws->pending_ms < s->ack_timeout)
		return -1;
	log_warnx("event=witness.nack sink=%s size=%llu msg=\"the witness "
	    "took the submission but did not cosign it (see its log); "
	    "submitting again from its state\"", s->name,
	    (unsigned long long)ws->pending_size);
	ws->pending[0] = '\0';
	return 0;
}

static int
witness_deliver(struct ex_sink *s, const struct ex_batch *b)
{
	struct wsink *ws = s->wit;
	struct walk *w;
	struct al_buf sub = { 0 };
	unsigned char root[AL_HASH], r2[AL_HASH];
	unsigned char (*path)[AL_HASH];
	uint64_t want = 0, wsize;
	int np, rc;

	for (size_t i = 0; i < b->n; i++)
		if (b->it[i].f.type == AL_CHECKPOINT)
			want = b->it[i].f.seq;
	if (want == 0)
		return 0;		/* leaves only: their checkpoint comes */
	if (ws == NULL) {
		char p[4096];

		ws = s->wit = xcalloc(1, sizeof(*ws));
		ws->w.fd = -1;
		snprintf(p, sizeof(p), "%s/seg", s->cf->log_dir);
		if ((ws->w.segdir = open(p, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1)
			fatal(EX_NOINPUT, "event=log.open.fail dir=%s", p);
	}
	w = &ws->w;
	if (witness_state(s, &wsize, root) == -1) {
		log_warn("event=witness.state.fail sink=%s dir=%s", s->name,
		    s->wcosigned);
		return -1;
	}
	if (wsize >= want) {
		ws->pending[0] = '\0';
		return 0;
	}
	if (take_back(s, ws, wsize) == -1)
		return -1;
	/* Walk from the witness's size (again, if it did not follow us). */
	if (!w->valid || wsize < w->anchor || wsize > w->tree.size) {
		if (walk_seek(w, wsize) == -1) {
			log_warnx("event=witness.seek.fail sink=%s size=%llu",
			    s->name, (unsigned long long)wsize);
			w->valid = 0;
			return -1;
		}
	} else if (wsize > w->anchor)
		walk_advance(w, wsize);
	if (wsize > 0) {
		al_tree_root(&w->at_anchor, r2);
		if (memcmp(r2, root, AL_HASH) != 0) {
			log_warnx("event=witness.diverged sink=%s size=%llu "
			    "msg=\"the log and the witness disagree about the "
			    "tree of this size: the log was rewritten or cut "
			    "back\"", s->name, (unsigned long long)wsize);
			return -1;
		}
	}
	/* Walk on to this batch's checkpoint, unless a lagging witness
	 * already has WALK_MAX leaves waiting for it. */
	if (w->ck_size <= wsize || (w->ck_size < want &&
	    w->nhashes <= WALK_MAX)) {
		if (walk_on(w, want, 0) == -1) {
			w->valid = 0;
			return -1;
		}
		if (w->ck_size <= wsize) {
			log_debug("event=witness.wait sink=%s msg=\"no newer "
			    "checkpoint read yet\"", s->name);
			return -1;
		}
	}
	path = xcalloc(AL_TREE_MAXH * 2, AL_HASH);
	np = al_consistency_proof_cr(&w->at_anchor,
	    (const unsigned char (*)[AL_HASH])w->hashes, w->ck_size, path,
	    AL_TREE_MAXH * 2);
	if (np < 0 || w->ck_size - wsize > w->nhashes) {
		free(path);
		w->valid = 0;
		return -1;
	}
	al_buf_printf(&sub, "old %llu\n", (unsigned long long)wsize);
	for (int i = 0; i < np; i++) {
		char h[64];

		al_b64_encode(path[i], AL_HASH, h, sizeof(h));
		al_buf_printf(&sub, "%s\n", h);
	}
	free(path);
	for (size_t i = 0; i < w->nkcs; i++) {
		size_t tl = strlen(w->kcs[i].text), bl = ((tl + 2) / 3) * 4 + 1;
		char *t;

		if (w->kcs[i].seq >= w->ck_size)
			break;
		t = xmalloc(bl);
		al_b64_encode((unsigned char *)w->kcs[i].text, tl, t, bl);
		al_buf_printf(&sub, "keycert %s\n", t);
		free(t);
	}
	al_buf_puts(&sub, "\n");
	al_buf_put(&sub, w->ck_note.p, w->ck_note.len);
	rc = submit(s, &sub, ws->pending, sizeof(ws->pending));
	al_buf_free(&sub);
	if (rc == -1) {
		log_warn("event=witness.submit.fail sink=%s", s->name);
		ws->pending[0] = '\0';
		return -1;
	}
	ws->pending_size = w->ck_size;
	ws->pending_ms = net_now_ms();
	log_debug("event=witness.submit sink=%s old=%llu size=%llu", s->name,
	    (unsigned long long)wsize, (unsigned long long)w->ck_size);
	/* Delivered once the witness has, or will have, this batch's. */
	return w->ck_size >= want ? 0 : -1;
}

static void
witness_close(struct ex_sink *s)
{
	struct wsink *ws = s->wit;

	if (ws == NULL)
		return;
	walk_reset(&ws->w);
	close(ws->w.segdir);
	free(ws->w.hashes);
	free(ws->w.kcs);
	al_buf_free(&ws->w.ck_note);
	free(ws);
	s->wit = NULL;
}

static const struct ex_sink_ops witness_ops = {
	witness_deliver, NULL, witness_close, 0
};

void
sink_witness_conf(struct ex_sink *s, const struct conf *c)
{
	static const char *const keys[] = { "type", "queue", "cosigned",
	    "ack_timeout", NULL };
	char err[512];

	if (conf_check(c, s->section, keys, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.error msg=\"%s\"", err);
	s->ops = &witness_ops;
	s->wqueue = ex_get_str(c, s->section, "queue",
	    "/var/spool/octospool/audit-witness");
	s->wcosigned = ex_get_str(c, s->section, "cosigned",
	    "/var/lib/octospool/witness-cosigned");
	s->ack_timeout = ex_get_num(c, s->section, "ack_timeout", 100,
	    3600000, 10000);
}
