/* The sealed log's verifier (auditverify.h). */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditlog.h"
#include "auditverify.h"
#include "xalloc.h"

static void __attribute__((format(printf, 7, 8)))
report(struct verifier *v, int level, const char *kind, int have_seq,
    uint64_t seq, size_t off, const char *fmt, ...)
{
	struct finding *f;
	va_list ap;

	v->f = xreallocarray(v->f, v->nf + 1, sizeof(*v->f));
	f = &v->f[v->nf++];
	memset(f, 0, sizeof(*f));
	f->level = level;
	f->kind = kind;
	f->have_seq = have_seq;
	f->seq = seq;
	f->segno = v->segments;
	f->offset = off;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
	if (level == V_FAIL && v->verdict != V_FAIL)
		v->verdict = V_FAIL;
	else if (level == V_POLICY && v->verdict == V_PASS)
		v->verdict = V_POLICY;
	if (level == V_FAIL && !v->forensic)
		v->stop = 1;
}

static void
keep_leaf(struct verifier *v, const unsigned char leaf[AL_HASH])
{
	if (!v->keep)
		return;
	if (v->nleaves == v->capleaves) {
		v->capleaves = v->capleaves ? v->capleaves * 2 : 4096;
		v->leaves = xreallocarray(v->leaves, v->capleaves, AL_HASH);
	}
	memcpy(v->leaves[v->nleaves++], leaf, AL_HASH);
}

static void
ext_snapshot(struct verifier *v)
{
	for (int i = 0; i < v->next; i++)
		if (!v->ext[i].seen && v->ext[i].c.size == v->tree.size) {
			al_tree_root(&v->tree, v->ext[i].local_root);
			v->ext[i].seen = 1;
		}
}

static int
kv_hash(const char *t, size_t l, const char *key, int nth,
    unsigned char out[AL_HASH])
{
	char b[128];

	if (al_kv_get(t, l, key, nth, b, sizeof(b)) == -1)
		return -1;
	return al_b64_decode(b, strlen(b), out, AL_HASH) == AL_HASH ? 0 : -1;
}

/* The first leaf of a segment repeats its header and the tree state. */
static void
check_seglink(struct verifier *v, const struct al_frame *f,
    const struct al_seghdr *h, size_t off)
{
	const char *t = f->payload;
	size_t l = f->paylen;
	char idh[2 * AL_LOGID + 1], got[64];
	unsigned char hb[AL_HASH];
	uint64_t x;
	int n;

	al_hex(v->log_id, AL_LOGID, idh);
	if (f->type != AL_SEGLINK) {
		report(v, V_FAIL, "segment-link", 1, f->seq, off, "segment %llu "
		    "does not start with a SEGLINK leaf",
		    (unsigned long long)h->segno);
		return;
	}
	if (al_kv_get(t, l, "log_id", 0, got, sizeof(got)) == -1 ||
	    strcmp(got, idh) != 0 ||
	    al_kv_u64(t, l, "segment", &x) == -1 || x != h->segno ||
	    al_kv_u64(t, l, "first_seq", &x) == -1 || x != h->first_seq ||
	    kv_hash(t, l, "prev", 0, hb) == -1 ||
	    memcmp(hb, h->prev, AL_HASH) != 0) {
		report(v, V_FAIL, "segment-link", 1, f->seq, off, "SEGLINK of "
		    "segment %llu does not repeat its header",
		    (unsigned long long)h->segno);
		return;
	}
	if (al_kv_u64(t, l, "epoch", &x) == -1 || x != v->epoch) {
		report(v, V_FAIL, "key-epoch", 1, f->seq, off, "SEGLINK says "
		    "epoch %llu, the key chain is at %llu",
		    (unsigned long long)x, (unsigned long long)v->epoch);
		return;
	}
	if (kv_hash(t, l, "chain", 0, hb) == -1 ||
	    memcmp(hb, v->chain, AL_HASH) != 0) {
		report(v, V_FAIL, "segment-link", 1, f->seq, off, "SEGLINK chain "
		    "differs from the previous segment's");
		return;
	}
	for (n = 0; n < AL_TREE_MAXH; n++) {
		if (kv_hash(t, l, "frontier", n, hb) == -1)
			break;
		if (n >= v->tree.n || memcmp(hb, v->tree.h[n], AL_HASH) != 0) {
			report(v, V_FAIL, "segment-link", 1, f->seq, off,
			    "SEGLINK frontier differs from the tree");
			return;
		}
	}
	if (n != v->tree.n)
		report(v, V_FAIL, "segment-link", 1, f->seq, off, "SEGLINK "
		    "frontier incomplete");
}

static void
on_checkpoint(struct verifier *v, const struct al_frame *f, size_t off)
{
	struct al_ckpt c;
	unsigned char root[AL_HASH];
	char err[128];
	const unsigned char *pk;

	if (al_ckpt_parse(f->payload, f->paylen, &c, err, sizeof(err)) == -1) {
		report(v, V_FAIL, "checkpoint", 1, f->seq, off, "malformed "
		    "checkpoint: %s", err);
		return;
	}
	if (strcmp(c.origin, v->origin) != 0) {
		report(v, V_FAIL, "trust-anchor", 1, f->seq, off, "checkpoint "
		    "origin is not the verifier key's (another log)");
		return;
	}
	/* Every byte of the frame is checked: the header repeats the note. */
	if (c.size != f->seq || f->flags != 0 || f->uid != 0 || f->gid != 0 ||
	    f->pid != 0 || f->srclen != 0 || f->time_ns != c.time_ns ||
	    memcmp(f->chain, c.chain, AL_HASH) != 0) {
		report(v, V_FAIL, "checkpoint", 1, f->seq, off, "checkpoint "
		    "frame header and its note disagree (altered)");
		return;
	}
	if (c.size < v->sealed) {
		report(v, V_FAIL, "order", 1, c.size, off, "checkpoint for size "
		    "%llu after one for %llu (replayed checkpoint)",
		    (unsigned long long)c.size, (unsigned long long)v->sealed);
		return;
	}
	if (c.size != v->tree.size) {
		report(v, V_FAIL, "deletion", 1, v->tree.size, off, "checkpoint "
		    "covers %llu records but %llu precede it",
		    (unsigned long long)c.size,
		    (unsigned long long)v->tree.size);
		return;
	}
	if (c.epoch != v->epoch) {
		report(v, V_FAIL, "key-epoch", 1, c.size, off, "checkpoint at "
		    "size %llu claims epoch %llu; the key chain is at epoch "
		    "%llu", (unsigned long long)c.size,
		    (unsigned long long)c.epoch, (unsigned long long)v->epoch);
		return;
	}
	pk = v->pks[v->epoch];
	if (al_ckpt_verify(f->payload, &c, pk) == -1) {
		if (v->checkpoints == 0 && v->epoch == 0)
			report(v, V_FAIL, "trust-anchor", 1, c.size, off,
			    "first checkpoint is not signed by the root key: "
			    "the log is not the one the verifier key names");
		else
			report(v, V_FAIL, "signature", 1, c.size, off,
			    "checkpoint at size %llu: bad signature for epoch "
			    "%llu", (unsigned long long)c.size,
			    (unsigned long long)v->epoch);
		return;
	}
	al_tree_root(&v->tree, root);
	if (memcmp(root, c.root, AL_HASH) != 0) {
		report(v, V_FAIL, "content", 1, v->sealed, off, "root mismatch "
		    "at the checkpoint for size %llu: records %llu..%llu were "
		    "altered, removed, inserted or reordered",
		    (unsigned long long)c.size, (unsigned long long)v->sealed,
		    (unsigned long long)(c.size ? c.size - 1 : 0));
		return;
	}
	if (memcmp(c.chain, v->chain, AL_HASH) != 0) {
		report(v, V_FAIL, "content", 1, v->sealed, off, "chain mismatch "
		    "at the checkpoint for size %llu",
		    (unsigned long long)c.size);
		return;
	}
	if (memcmp(c.prev, v->prev, AL_HASH) != 0) {
		report(v, V_FAIL, "checkpoint-link", 1, c.size, off,
		    "checkpoint at size %llu does not link to the previous "
		    "checkpoint (one was removed or replayed)",
		    (unsigned long long)c.size);
		return;
	}
	if (v->last_ckpt_time != 0 && c.time_ns < v->last_ckpt_time)
		report(v, 0, "clock", 1, c.size, off, "checkpoint time goes "
		    "back %.3f s (clock step)",
		    (v->last_ckpt_time - c.time_ns) / 1e9);
	if (v->last_rec_time > c.time_ns)
		report(v, 0, "clock", 1, c.size, off, "a record is newer than "
		    "its checkpoint");
	if (v->last_ckpt_time != 0 && v->epoch_seconds > 0 &&
	    !v->boot_since_ckpt && c.time_ns > v->last_ckpt_time &&
	    c.time_ns - v->last_ckpt_time > (v->epoch_seconds * 2 + 5) *
	    1000000000ULL)
		report(v, v->strict_liveness ? V_FAIL : 0, "liveness", 1,
		    c.size, off, "%.0f s between checkpoints without a BOOT "
		    "(epoch %llu s)", (c.time_ns - v->last_ckpt_time) / 1e9,
		    (unsigned long long)v->epoch_seconds);
	al_ckpt_body_hash(f->payload, &c, v->prev);
	v->sealed = c.size;
	v->last_ckpt_time = c.time_ns;
	v->checkpoints++;
	v->boot_since_ckpt = 0;
	if (v->keep) {
		v->ckpts = xreallocarray(v->ckpts, v->nckpts + 1,
		    sizeof(*v->ckpts));
		v->ckpts[v->nckpts].size = c.size;
		v->ckpts[v->nckpts].epoch = c.epoch;
		v->ckpts[v->nckpts].note = xmalloc(f->paylen + 1);
		memcpy(v->ckpts[v->nckpts].note, f->payload, f->paylen);
		v->ckpts[v->nckpts].note[f->paylen] = '\0';
		v->nckpts++;
	}
	if (v->kc_epoch != 0) {
		/* The handover checkpoint: from now on the new key. */
		v->epoch = v->kc_epoch;
		v->kc_epoch = 0;
	}
}

static void
on_leaf(struct verifier *v, const struct al_frame *f, size_t off)
{
	unsigned char leaf[AL_HASH], ch[AL_HASH];

	if (f->seq != v->tree.size) {
		if (f->seq > v->tree.size)
			report(v, V_FAIL, "deletion", 1, v->tree.size, off,
			    "seq gap: record %llu missing (next is %llu)",
			    (unsigned long long)v->tree.size,
			    (unsigned long long)f->seq);
		else
			report(v, V_FAIL, "order", 1, v->tree.size, off,
			    "seq %llu where %llu was due (reordered or "
			    "replayed record)", (unsigned long long)f->seq,
			    (unsigned long long)v->tree.size);
		return;
	}
	al_leaf_hash(f, leaf);
	al_chain_step(v->chain, leaf, ch);
	if (memcmp(ch, f->chain, AL_HASH) != 0) {
		report(v, V_FAIL, "content", 1, f->seq, off, "record %llu does "
		    "not match its chain hash (altered)",
		    (unsigned long long)f->seq);
		if (!v->forensic)
			return;
	}
	memcpy(v->chain, ch, AL_HASH);
	al_tree_append(&v->tree, leaf);
	keep_leaf(v, leaf);
	ext_snapshot(v);
	switch (f->type) {
	case AL_RECORD:
		v->records++;
		if (f->time_ns < v->last_rec_time)
			report(v, 0, "clock", 1, f->seq, off, "record time "
			    "goes back (clock step)");
		v->last_rec_time = f->time_ns;
		break;
	case AL_KEYCERT: {
		struct al_keycert kc;
		char *t;

		if (al_keycert_parse(f->payload, f->paylen, &kc) == -1) {
			report(v, V_FAIL, "key-epoch", 1, f->seq, off,
			    "malformed KEYCERT");
			break;
		}
		if (kc.epoch != v->epoch + 1 || v->kc_epoch != 0 ||
		    strcmp(kc.origin, v->origin) != 0) {
			report(v, V_FAIL, "key-epoch", 1, f->seq, off, "KEYCERT "
			    "for epoch %llu while the key chain is at epoch "
			    "%llu", (unsigned long long)kc.epoch,
			    (unsigned long long)v->epoch);
			break;
		}
		if (al_keycert_verify(f->payload, &kc, v->pks[v->epoch]) ==
		    -1) {
			report(v, V_FAIL, "key-epoch", 1, f->seq, off, "KEYCERT "
			    "for epoch %llu is not signed by the epoch %llu key",
			    (unsigned long long)kc.epoch,
			    (unsigned long long)v->epoch);
			break;
		}
		if (kc.epoch >= MAX_EPOCHS) {
			report(v, V_FAIL, "key-epoch", 1, f->seq, off, "too "
			    "many epochs");
			break;
		}
		v->pks = xreallocarray(v->pks, kc.epoch + 1, AL_PK);
		memcpy(v->pks[kc.epoch], kc.pk, AL_PK);
		v->keycerts = xreallocarray(v->keycerts, kc.epoch + 1,
		    sizeof(*v->keycerts));
		for (size_t e = v->nkeycerts; e <= kc.epoch; e++)
			v->keycerts[e] = NULL;
		v->nkeycerts = kc.epoch + 1;
		t = xmalloc(f->paylen + 1);
		memcpy(t, f->payload, f->paylen);
		t[f->paylen] = '\0';
		v->keycerts[kc.epoch] = t;
		v->kc_epoch = kc.epoch;
		break;
	}
	case AL_BOOT: {
		uint64_t es;

		v->boots++;
		v->boot_since_ckpt = 1;
		if (al_kv_u64(f->payload, f->paylen, "epoch_seconds", &es) ==
		    0)
			v->epoch_seconds = es;
		break;
	}
	case AL_RECOVERY: {
		uint64_t a, b, cnt;

		v->recoveries++;
		if (al_kv_u64(f->payload, f->paylen, "count", &cnt) == 0 &&
		    cnt > 0 &&
		    al_kv_u64(f->payload, f->paylen, "first_seq", &a) == 0 &&
		    al_kv_u64(f->payload, f->paylen, "last_seq", &b) == 0) {
			report(v, 0, "recovered", 1, a, off, "records %llu..%llu "
			    "were written but not sealed before a crash: "
			    "authentic only from the restart key on",
			    (unsigned long long)a, (unsigned long long)b);
			if (v->recovered_last == 0 && v->recovered_first == 0)
				v->recovered_first = a;
			v->recovered_last = b;
		}
		break;
	}
	case AL_SEGLINK:
		if (off != AL_SEGHDR_LEN)
			report(v, V_FAIL, "segment-link", 1, f->seq, off,
			    "SEGLINK inside a segment");
		break;
	default:
		break;
	}
}

/* Is there another parseable frame after off?  (torn tail vs damage) */
static int
frames_follow(const unsigned char *buf, size_t len, size_t off)
{
	struct al_frame f;

	for (size_t p = off + 1; p + 8 <= len; p++)
		if (memcmp(buf + p, AL_FRAME_MAGIC, 4) == 0 &&
		    al_frame_parse(buf + p, len - p, &f) == AL_OK)
			return 1;
	return 0;
}

static void
verify_segment(struct verifier *v, int segdir, uint64_t segno, int last)
{
	struct al_seghdr h;
	unsigned char *buf;
	size_t len, pos;
	char name[32];
	uint64_t ckpts_before = v->checkpoints;

	v->segments = segno;
	al_seg_name(segno, name, sizeof(name));
	if (al_read_file(segdir, name, &buf, &len) == -1) {
		report(v, V_FAIL, "io", 0, 0, 0, "seg/%s: %s", name,
		    strerror(errno));
		return;
	}
	if (al_seghdr_parse(buf, len, &h) == -1) {
		report(v, V_FAIL, "segment-link", 1, v->tree.size, 0,
		    "seg/%s: bad segment header", name);
		goto out;
	}
	if (memcmp(h.log_id, v->log_id, AL_LOGID) != 0) {
		report(v, V_FAIL, "trust-anchor", 1, v->tree.size, 0, "seg/%s "
		    "belongs to another log", name);
		goto out;
	}
	if (h.segno != segno || h.first_seq != v->tree.size ||
	    memcmp(h.prev, v->prev, AL_HASH) != 0) {
		report(v, V_FAIL, "segment-link", 1, v->tree.size, 0,
		    "seg/%s (header: segment %llu, first seq %llu) does not "
		    "follow segment %llu ending at seq %llu: a segment was "
		    "removed, swapped or replayed", name,
		    (unsigned long long)h.segno,
		    (unsigned long long)h.first_seq,
		    (unsigned long long)segno - 1,
		    (unsigned long long)v->tree.size);
		if (!v->forensic)
			goto out;
	}
	pos = AL_SEGHDR_LEN;
	while (pos < len && !v->stop) {
		struct al_frame f;
		int rc = al_frame_parse(buf + pos, len - pos, &f);

		if (rc != AL_OK) {
			if (last && !frames_follow(buf, len, pos)) {
				report(v, V_POLICY, "torn", 1, v->tree.size, pos,
				    "%zu bytes at the end of seg/%s are not a "
				    "whole frame (%s): a torn write; audit-sign "
				    "recovers it at its next start", len - pos,
				    name, al_frame_error(rc));
				break;
			}
			report(v, V_FAIL, "corrupt-frame", 1, v->tree.size, pos,
			    "seg/%s offset %zu: %s in the frame of seq %llu "
			    "(bit flip or overwrite)", name, pos,
			    al_frame_error(rc),
			    (unsigned long long)v->tree.size);
			if (!v->forensic)
				break;
			/* Forensic: resynchronise at the next frame. */
			{
				size_t p;
				struct al_frame g;

				for (p = pos + 1; p + 8 <= len; p++)
					if (memcmp(buf + p, AL_FRAME_MAGIC, 4)
					    == 0 && al_frame_parse(buf + p,
					    len - p, &g) == AL_OK)
						break;
				pos = p + 8 <= len ? p : len;
			}
			continue;
		}
		if (pos == AL_SEGHDR_LEN)
			check_seglink(v, &f, &h, pos);
		if (v->stop)
			break;
		if (f.type != AL_CHECKPOINT && f.seq > v->tree.size) {
			/* Swapped, or missing?  The next frame tells. */
			struct al_frame g;

			if (pos + f.framelen < len && al_frame_parse(buf + pos +
			    f.framelen, len - pos - f.framelen, &g) == AL_OK &&
			    g.type != AL_CHECKPOINT && g.seq == v->tree.size) {
				report(v, V_FAIL, "order", 1, v->tree.size, pos,
				    "records %llu and %llu are swapped",
				    (unsigned long long)v->tree.size,
				    (unsigned long long)f.seq);
				if (!v->forensic)
					break;
			}
		}
		if (f.type == AL_CHECKPOINT)
			on_checkpoint(v, &f, pos);
		else
			on_leaf(v, &f, pos);
		pos += f.framelen;
	}
	if (!v->stop && v->checkpoints == ckpts_before)
		report(v, last ? V_POLICY : V_FAIL, "unsealed", 1,
		    h.first_seq, 0, "seg/%s holds no checkpoint: nothing in it "
		    "is sealed", name);
out:
	free(buf);
}

int
av_init(struct verifier *v, const char *vkey)
{
	const char *idh;

	if (al_vkey_parse(vkey, v->origin, sizeof(v->origin), v->pk0) == -1)
		return -1;
	idh = strrchr(v->origin, '/');
	if (idh == NULL || al_unhex(idh + 1, strlen(idh + 1), v->log_id,
	    AL_LOGID) == -1)
		return -1;
	v->pks = xcalloc(1, AL_PK);
	memcpy(v->pks[0], v->pk0, AL_PK);
	v->keycerts = xcalloc(1, sizeof(*v->keycerts));
	v->nkeycerts = 1;
	return 0;
}

void
av_free(struct verifier *v)
{
	for (size_t e = 0; e < v->nkeycerts; e++)
		free(v->keycerts[e]);
	free(v->keycerts);
	free(v->pks);
	free(v->leaves);
	for (size_t i = 0; i < v->nckpts; i++)
		free(v->ckpts[i].note);
	free(v->ckpts);
	free(v->f);
	for (int i = 0; i < v->next; i++)
		free(v->ext[i].file);
	memset(v, 0, sizeof(*v));
}

/* Walk the whole log. */
void
av_verify_log(struct verifier *v, const char *logdir)
{
	char path[4096];
	uint64_t *segs;
	size_t n;
	int sd;

	snprintf(path, sizeof(path), "%s/seg", logdir);
	if ((sd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    al_seg_list(sd, &segs, &n) == -1) {
		report(v, V_FAIL, "io", 0, 0, 0, "%s: %s", path,
		    strerror(errno));
		v->verdict = V_USAGE;
		if (sd != -1)
			close(sd);
		return;
	}
	al_tree_init(&v->tree);
	al_chain_init(v->log_id, v->chain);
	if (n == 0)
		report(v, V_FAIL, "truncation", 0, 0, 0, "no segment: the log "
		    "is empty or was removed");
	else if (segs[0] != 1)
		report(v, V_FAIL, "truncation", 1, 0, 0, "the log starts at "
		    "segment %llu: earlier segments were removed",
		    (unsigned long long)segs[0]);
	for (size_t i = 0; i < n && !v->stop; i++) {
		if (i > 0 && segs[i] != segs[i - 1] + 1) {
			report(v, V_FAIL, "segment-link", 1, v->tree.size, 0,
			    "segment %llu is missing",
			    (unsigned long long)segs[i - 1] + 1);
			if (!v->forensic)
				break;
		}
		verify_segment(v, sd, segs[i], i == n - 1);
	}
	free(segs);
	close(sd);
	if (v->stop)
		return;
	if (v->tree.size > v->sealed)
		report(v, V_POLICY, "unsealed", 1, v->sealed, 0, "%llu records "
		    "after the last checkpoint (seq %llu..%llu) are not "
		    "sealed", (unsigned long long)(v->tree.size - v->sealed),
		    (unsigned long long)v->sealed,
		    (unsigned long long)v->tree.size - 1);
	for (int i = 0; i < v->next; i++) {
		struct ext_ckpt *e = &v->ext[i];

		if (e->c.size > v->sealed)
			report(v, V_FAIL, "truncation", 1, v->sealed, 0,
			    "local log truncated below witnessed size %llu "
			    "(%s); it is sealed to %llu only",
			    (unsigned long long)e->c.size, e->file,
			    (unsigned long long)v->sealed);
		else if (e->seen && memcmp(e->local_root, e->c.root, AL_HASH)
		    != 0)
			report(v, V_FAIL, "equivocation", 1, e->c.size, 0,
			    "two roots for size %llu: the local log and %s "
			    "disagree", (unsigned long long)e->c.size,
			    e->file);
		else if (e->c.size == 0 && v->sealed > 0) {
			/* The empty tree is consistent with anything. */
		}
	}
	if (v->have_now && v->checkpoints > 0) {
		uint64_t age = v->max_age_ns ? v->max_age_ns :
		    2 * (v->epoch_seconds ? v->epoch_seconds : 60) *
		    1000000000ULL;

		if (v->last_ckpt_time + age < v->now_ns)
			report(v, V_POLICY, "stale", 1, v->sealed, 0, "the last "
			    "checkpoint is %.0f s old (limit %.0f s): logging "
			    "stopped or the log was cut back",
			    (v->now_ns - v->last_ckpt_time) / 1e9, age / 1e9);
	}
}

