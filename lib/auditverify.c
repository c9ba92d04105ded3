/* SPDX-License-Identifier: ISC */
/* The sealed log's verifier (auditverify.h). */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "auditecs.h"
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
	v->since_bad = EVP_DigestInit_ex(v->since_md, EVP_sha256(), NULL) !=
	    1;
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

/*
 * What a set-aside tail says: an authentic checkpoint for exactly the
 * records kept (1: they are proven by it), an authentic one that does not
 * match them (FAIL: they were altered after they were sealed), a note
 * that does not verify (-1: a damaged checkpoint), or nothing (0).
 */
static int
aside_note(struct verifier *v, const struct al_frame *f, size_t off,
    const unsigned char *d, size_t dl, struct al_ckpt *c)
{
	unsigned char root[AL_HASH];
	const char *note;
	size_t nl;
	char err[128];

	if (al_note_in_frame(d, dl, &note, &nl) == -1)
		return 0;
	if (al_ckpt_parse(note, nl, c, err, sizeof(err)) == -1 ||
	    strcmp(c->origin, v->origin) != 0 || c->epoch != v->epoch ||
	    al_ckpt_verify(note, c, v->pks[v->epoch]) == -1)
		return -1;
	al_tree_root(&v->tree, root);
	if (c->size == f->seq && memcmp(c->root, root, AL_HASH) == 0 &&
	    memcmp(c->chain, v->chain, AL_HASH) == 0 &&
	    memcmp(c->prev, v->prev, AL_HASH) == 0)
		return 1;
	report(v, V_FAIL, "content", 1, v->sealed, off, "records %llu..%llu "
	    "were altered after they were sealed: the checkpoint for size "
	    "%llu that recovery set aside (RECOVERY at seq %llu) is authentic "
	    "(epoch %llu) and does not match them",
	    (unsigned long long)v->sealed, (unsigned long long)(f->seq ?
	    f->seq - 1 : 0), (unsigned long long)c->size,
	    (unsigned long long)f->seq, (unsigned long long)c->epoch);
	return 2;
}

/*
 * A RECOVERY leaf (doc/AUDIT.md, "Recovery").  Version 2 names exactly
 * the records after the last checkpoint (checked: range and hash), the
 * bytes set aside, and a switch to the next epoch's key; a checkpoint
 * among the bytes set aside is verified here.
 */
static void
on_recovery(struct verifier *v, const struct al_frame *f, size_t off)
{
	const char *t = f->payload;
	size_t l = f->paylen;
	uint64_t a = 0, b = 0, cnt = 0, ver = 1, sw = 0;
	char cause[32] = "unsealed", hb[64];
	int proven = 0, damaged = 0, asides = 0;
	struct al_ckpt c;

	v->recoveries++;
	if (al_kv_u64(t, l, "count", &cnt) == -1 ||
	    al_kv_u64(t, l, "first_seq", &a) == -1 ||
	    al_kv_u64(t, l, "last_seq", &b) == -1) {
		report(v, V_FAIL, "recovery", 1, f->seq, off, "malformed "
		    "RECOVERY leaf");
		return;
	}
	(void)al_kv_u64(t, l, "version", &ver);
	if (ver >= 2) {
		unsigned char want[AL_HASH], got[AL_HASH];
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		unsigned int hl = 0;

		memset(got, 0, sizeof(got));
		if (md == NULL || v->since_bad ||
		    EVP_MD_CTX_copy_ex(md, v->since_md) != 1 ||
		    EVP_DigestFinal_ex(md, got, &hl) != 1)
			hl = 0;
		EVP_MD_CTX_free(md);
		if (cnt != f->seq - v->sealed || (cnt > 0 && (a != v->sealed ||
		    b != f->seq - 1)) || al_kv_get(t, l, "hash", 0, hb,
		    sizeof(hb)) == -1 || al_b64_decode(hb, strlen(hb), want,
		    AL_HASH) != AL_HASH || hl != AL_HASH ||
		    (cnt > 0 && memcmp(want, got, AL_HASH) != 0)) {
			report(v, V_FAIL, "recovery", 1, f->seq, off, "the "
			    "RECOVERY leaf at seq %llu misstates the records "
			    "after the last checkpoint (%llu..%llu)",
			    (unsigned long long)f->seq,
			    (unsigned long long)v->sealed,
			    (unsigned long long)f->seq - 1);
			return;
		}
		(void)al_kv_get(t, l, "cause", 0, cause, sizeof(cause));
		for (int i = 0;; i++) {
			char *bd;
			unsigned char *d;
			ssize_t dl;
			size_t bl;
			int r;

			/* The buffer holds any value: -1 is "no more". */
			bl = l + 1;
			bd = xmalloc(bl);
			if (al_kv_get(t, l, "aside_data", i, bd, bl) == -1) {
				free(bd);
				break;
			}
			asides++;
			d = xmalloc(strlen(bd) + 1);
			dl = al_b64_decode(bd, strlen(bd), d, strlen(bd));
			r = dl < 0 ? 0 : aside_note(v, f, off, d, dl, &c);
			free(bd);
			free(d);
			if (r == 2)
				return;
			if (r == 1)
				proven = 1;
			if (r == -1)
				damaged = 1;
		}
		if (al_kv_u64(t, l, "epoch_switch", &sw) == 0 &&
		    (v->kc_epoch == 0 || sw != v->kc_epoch)) {
			report(v, V_FAIL, "key-epoch", 1, f->seq, off, "the "
			    "RECOVERY leaf switches to epoch %llu without a key "
			    "certificate for it", (unsigned long long)sw);
			return;
		}
	}
	if (cnt > 0 && proven)
		report(v, 0, "recovered", 1, a, off, "records %llu..%llu: their "
		    "checkpoint's frame was damaged and set aside at recovery; "
		    "its signature (epoch %llu) verifies and it matches them",
		    (unsigned long long)a, (unsigned long long)b,
		    (unsigned long long)c.epoch);
	else if (cnt > 0 && (damaged || strcmp(cause, "damaged") == 0)) {
		v->damaged_checkpoints++;
		report(v, 0, "damaged-checkpoint", 1, a, off, "records "
		    "%llu..%llu lost their seal: what covered them was damaged "
		    "and set aside at recovery (%s); they are sealed only by the "
		    "recovery checkpoint (epoch %llu), no better than its key, "
		    "unless a witness cosigned them", (unsigned long long)a,
		    (unsigned long long)b, damaged ? "a checkpoint whose "
		    "signature fails" : "a damaged frame",
		    (unsigned long long)(sw ? sw : v->epoch));
	} else if (cnt > 0)
		report(v, 0, "recovered", 1, a, off, "records %llu..%llu were "
		    "written but not sealed before a crash%s: authentic only "
		    "from the restart key on", (unsigned long long)a,
		    (unsigned long long)b, asides ? " (a torn write set aside)" :
		    "");
	if (cnt > 0) {
		if (v->recovered_last == 0 && v->recovered_first == 0)
			v->recovered_first = a;
		v->recovered_last = b;
	}
	if (sw != 0) {
		if (!proven)
			report(v, 0, "damaged-checkpoint", 1, f->seq, off, "the "
			    "handover checkpoint of epoch %llu is lost or "
			    "damaged and its key was erased: the recovery is "
			    "sealed with the key of epoch %llu",
			    (unsigned long long)v->epoch,
			    (unsigned long long)sw);
		v->epoch = sw;
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
	if (f->type == AL_RECOVERY)
		on_recovery(v, f, off);	/* before it joins the tree */
	memcpy(v->chain, ch, AL_HASH);
	al_tree_append(&v->tree, leaf);
	if (EVP_DigestUpdate(v->since_md, leaf, AL_HASH) != 1)
		v->since_bad = 1;
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
	case AL_SEGLINK:
		if (off != AL_SEGHDR_LEN && !v->xmode)
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
			if (last && !frames_follow(buf, len, pos) &&
			    al_tail_torn(buf + pos, len - pos, rc)) {
				report(v, V_POLICY, "torn", 1, v->tree.size, pos,
				    "%zu bytes at the end of seg/%s are a partial "
				    "frame (%s): a torn write; audit-sign "
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
	if ((v->since_md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(v->since_md, EVP_sha256(), NULL) != 1)
		return -1;
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
	for (int i = 0; i < v->next; i++) {
		free(v->ext[i].file);
		free(v->ext[i].note);
	}
	EVP_MD_CTX_free(v->since_md);
	free(v->xothers);
	memset(v, 0, sizeof(*v));
}

/* After the last item: the unsealed tail, external anchors, freshness. */
static void
finish(struct verifier *v)
{
	if (v->tree.size > v->sealed)
		report(v, V_POLICY, "unsealed", 1, v->sealed, 0, "%llu records "
		    "after the last checkpoint (seq %llu..%llu) are not "
		    "sealed", (unsigned long long)(v->tree.size - v->sealed),
		    (unsigned long long)v->sealed,
		    (unsigned long long)v->tree.size - 1);
	for (int i = 0; i < v->next; i++) {
		struct ext_ckpt *e = &v->ext[i];

		/* Kept elsewhere, so signed by the log's key of its epoch
		 * (where the key chain reaches that far). */
		if (e->note != NULL && e->c.epoch <= v->epoch &&
		    al_ckpt_verify(e->note, &e->c, v->pks[e->c.epoch]) == -1) {
			report(v, V_FAIL, "signature", 1, e->c.size, 0, "%s: the "
			    "checkpoint for size %llu is not signed by the log's "
			    "key of epoch %llu", e->file,
			    (unsigned long long)e->c.size,
			    (unsigned long long)e->c.epoch);
			continue;
		}
		if (e->c.size > v->sealed)
			report(v, V_FAIL, "truncation", 1, v->sealed, 0,
			    "local log truncated below %s size %llu "
			    "(%s); it is sealed to %llu only", e->cosigned ?
			    "the cosigned" : "witnessed",
			    (unsigned long long)e->c.size, e->file,
			    (unsigned long long)v->sealed);
		else if (e->seen && memcmp(e->local_root, e->c.root, AL_HASH)
		    != 0)
			report(v, V_FAIL, "equivocation", 1, e->c.size, 0,
			    "two roots for size %llu: the local log and %s "
			    "disagree (records rewritten after %s)",
			    (unsigned long long)e->c.size, e->file,
			    e->cosigned ? "the witness cosigned them" :
			    "that checkpoint was kept");
	}
	if (v->have_witness) {
		const struct ext_ckpt *best = NULL;
		uint64_t now = v->have_now ? v->now_ns / 1000000000ULL :
		    (uint64_t)time(NULL);
		uint64_t age = (v->max_age_ns ? v->max_age_ns :
		    2 * (v->epoch_seconds ? v->epoch_seconds : 60) *
		    1000000000ULL) / 1000000000ULL;

		for (int i = 0; i < v->next; i++)
			if (v->ext[i].cosigned && (best == NULL ||
			    v->ext[i].cosig_time > best->cosig_time))
				best = &v->ext[i];
		if (best == NULL)
			report(v, V_POLICY, "unwitnessed", 0, 0, 0, "no "
			    "checkpoint of this log cosigned by the witness %s "
			    "(looked in %s)", v->wname, v->wwhere);
		else if (best->cosig_time + age < now)
			report(v, V_POLICY, "stale", 1, best->c.size, 0, "the "
			    "newest cosignature by %s (size %llu) is %llu s old "
			    "(limit %llu s): the witness stopped seeing "
			    "checkpoints", v->wname,
			    (unsigned long long)best->c.size,
			    (unsigned long long)(now - best->cosig_time),
			    (unsigned long long)age);
		else if (!v->quiet && best->c.size <= v->sealed)
			report(v, 0, "witnessed", 1, best->c.size, 0, "%s "
			    "cosigned size %llu %llu s ago; the log is "
			    "consistent with it", v->wname,
			    (unsigned long long)best->c.size,
			    (unsigned long long)(now > best->cosig_time ?
			    now - best->cosig_time : 0));
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
	if (!v->stop)
		finish(v);
}

/* Exported JSON lines (audit-verify FILE|DIR) */

struct xfile {
	char		*path;
	uint64_t	 first;		/* the first item's seq (or size) */
};

/* One exported line turned back into its frame; buf owns the bytes. */
struct xline {
	struct al_frame	 f;
	unsigned char	 leaf[AL_HASH];
	uint64_t	 epoch;
	unsigned char	*buf;
};

static int
xfile_cmp(const void *a, const void *b)
{
	const struct xfile *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* Is s (n bytes) a log id: 32 lowercase hex digits? */
static int
is_log_id(const char *s, size_t n)
{
	if (n != 2 * AL_LOGID)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return 0;
	return 1;
}

/* One more line of the log id (2 * AL_LOGID hex digits) in xothers. */
static void
xother_count(struct verifier *v, const char *id)
{
	for (size_t i = 0; i < v->nxothers; i++)
		if (memcmp(v->xothers[i].id, id, 2 * AL_LOGID) == 0) {
			v->xothers[i].lines++;
			return;
		}
	if (v->nxothers == MAX_XOTHERS) {
		v->xothers_lost++;
		return;
	}
	v->xothers = xreallocarray(v->xothers, v->nxothers + 1,
	    sizeof(*v->xothers));
	memcpy(v->xothers[v->nxothers].id, id, 2 * AL_LOGID);
	v->xothers[v->nxothers].id[2 * AL_LOGID] = '\0';
	v->xothers[v->nxothers++].lines = 1;
}

/*
 * Decode a line: octo.data holds the exact bytes the signatures cover
 * (a leaf's body, a checkpoint's note); the whole line must be exactly
 * what audit-export renders from them, so no field can be altered.
 * 0 done, -1 or -2 (altered) with why, 1 another log's line (xsplit).
 */
static int
xline_parse(struct verifier *v, const char *line, size_t len,
    struct xline *x, char *why, size_t whylen)
{
	const char *val;
	size_t vl, dl;
	char type[16], lid[2 * AL_LOGID + 1], host[512], id[96];
	struct al_buf r = { 0 };
	ssize_t n;

	memset(x, 0, sizeof(*x));
	al_hex(v->log_id, AL_LOGID, lid);
	if (v->xsplit && al_json_get(line, len, "octo.log_id", &val, &vl) &&
	    is_log_id(val, vl) && memcmp(val, lid, vl) != 0) {
		xother_count(v, val);
		return 1;
	}
	if (!al_json_get(line, len, "octo.data", &val, &vl)) {
		snprintf(why, whylen, "no octo.data (not an item of "
		    "audit-export, or exported before it carried the data)");
		return -1;
	}
	x->buf = xmalloc(vl + 64);
	if ((n = al_b64_decode(val, vl, x->buf + 8, vl)) <= 0) {
		snprintf(why, whylen, "octo.data is not base64");
		return -1;
	}
	dl = n;
	if (!al_json_get(line, len, "octo.type", &val, &vl) ||
	    vl >= sizeof(type) || !al_json_get(line, len, "octo.log_id", &val,
	    &vl) || vl != 2 * AL_LOGID || memcmp(val, lid, vl) != 0) {
		snprintf(why, whylen, "no octo.type, or octo.log_id is not "
		    "this log's");
		return -1;
	}
	al_json_get(line, len, "octo.type", &val, &vl);
	memcpy(type, val, vl);
	type[vl] = '\0';
	if (!al_json_get(line, len, "observer.hostname", &val, &vl) ||
	    al_json_unescape(val, vl, host, sizeof(host)) == -1) {
		snprintf(why, whylen, "no observer.hostname");
		return -1;
	}
	if (strcmp(type, "checkpoint") == 0) {
		struct al_ckpt c;
		char err[128];

		if (al_ckpt_parse((char *)x->buf + 8, dl, &c, err,
		    sizeof(err)) == -1) {
			snprintf(why, whylen, "octo.data: %s", err);
			return -1;
		}
		x->f.type = AL_CHECKPOINT;
		x->f.seq = c.size;
		x->f.time_ns = c.time_ns;
		x->f.payload = (char *)x->buf + 8;
		x->f.paylen = dl;
		memcpy(x->f.chain, c.chain, AL_HASH);
		x->epoch = c.epoch;
		snprintf(id, sizeof(id), "%s:checkpoint:%llu", lid,
		    (unsigned long long)c.size);
	} else {
		unsigned char *p = x->buf;

		/* A frame around the body, so that it is parsed as the
		 * log's frames are. */
		if (!al_json_get(line, len, "octo.chain", &val, &vl) ||
		    al_unhex(val, vl, p + 8 + dl, AL_HASH) == -1) {
			snprintf(why, whylen, "no octo.chain");
			return -1;
		}
		memcpy(p, AL_FRAME_MAGIC, 4);
		al_be32(p + 4, dl);
		al_be32(p + 8 + dl + AL_HASH, al_crc32c(0, p, 8 + dl +
		    AL_HASH));
		if (dl > AL_BODY_MAX || al_frame_parse(p, dl + AL_FRAME_OVER,
		    &x->f) != AL_OK ||
		    x->f.type == AL_CHECKPOINT ||
		    strcmp(type, al_type_name(x->f.type)) != 0) {
			snprintf(why, whylen, "octo.data is not a leaf of "
			    "type %s", type);
			return -1;
		}
		al_leaf_hash(&x->f, x->leaf);
		snprintf(id, sizeof(id), "%s:%llu", lid,
		    (unsigned long long)x->f.seq);
	}
	al_ecs_render(host, lid, &x->f, x->leaf, x->epoch, id, &r);
	if (r.len != len || memcmp(r.p, line, len) != 0) {
		snprintf(why, whylen, "the line is not what its data renders "
		    "(a field was altered)");
		al_buf_free(&r);
		return -2;
	}
	al_buf_free(&r);
	return 0;
}

/* Resynchronise after a gap on a SEGLINK: its frontier, chain, prev. */
static int
xresync(struct verifier *v, const struct al_frame *f)
{
	const char *t = f->payload;
	size_t l = f->paylen;
	struct al_tree tr;
	unsigned char ch[AL_HASH], pv[AL_HASH];
	uint64_t e;
	int n;

	if (f->type != AL_SEGLINK ||
	    al_kv_u64(t, l, "epoch", &e) == -1 ||
	    kv_hash(t, l, "chain", 0, ch) == -1 ||
	    kv_hash(t, l, "prev", 0, pv) == -1)
		return -1;
	al_tree_init(&tr);
	for (n = 0; n < AL_TREE_MAXH; n++)
		if (kv_hash(t, l, "frontier", n, tr.h[n]) == -1)
			break;
	if (n != __builtin_popcountll(f->seq))
		return -1;
	if (e != v->epoch)
		return -2;	/* key certificates were lost in the gap */
	tr.n = n;
	tr.size = f->seq;
	v->tree = tr;
	memcpy(v->chain, ch, AL_HASH);
	memcpy(v->prev, pv, AL_HASH);
	v->sealed = f->seq;
	v->kc_epoch = 0;
	v->since_bad = EVP_DigestInit_ex(v->since_md, EVP_sha256(), NULL) !=
	    1;
	return 0;
}

struct xstate {
	unsigned char	(*seen)[16];	/* leaf hash prefix by seq */
	size_t		 nseen;
	struct { uint64_t size; unsigned char h[16]; } *ck;
	size_t		 nck;
	int		 lost;		/* after a gap, until a SEGLINK */
	uint64_t	 gap_from;
};

/* One item of the export, in log order (duplicates compared). */
static void
xitem(struct verifier *v, struct xstate *xs, struct xline *x,
    const char *file, size_t lineno)
{
	struct al_frame *f = &x->f;

	if (f->type == AL_CHECKPOINT) {
		unsigned char h[AL_HASH];

		al_sha256(f->payload, f->paylen, h);
		for (size_t i = xs->nck; i-- > 0;)
			if (xs->ck[i].size == f->seq) {
				if (memcmp(xs->ck[i].h, h, 16) != 0)
					report(v, V_FAIL, "equivocation", 1,
					    f->seq, lineno, "%s line %zu: a "
					    "second, different checkpoint for "
					    "size %llu", file, lineno,
					    (unsigned long long)f->seq);
				return;
			}
		if (xs->lost)
			return;
		if (f->seq != v->tree.size) {
			report(v, V_FAIL, f->seq > v->tree.size ? "deletion" :
			    "order", 1, v->tree.size, lineno, "%s line %zu: "
			    "checkpoint for size %llu where %llu records "
			    "precede it in the export", file, lineno,
			    (unsigned long long)f->seq,
			    (unsigned long long)v->tree.size);
			if (f->seq > v->tree.size) {
				xs->lost = 1;
				xs->gap_from = f->seq;
			}
			return;
		}
		on_checkpoint(v, f, lineno);
		xs->ck = xreallocarray(xs->ck, xs->nck + 1, sizeof(*xs->ck));
		xs->ck[xs->nck].size = f->seq;
		memcpy(xs->ck[xs->nck++].h, h, 16);
		return;
	}
	if (f->seq < v->tree.size && !xs->lost) {
		static const unsigned char zero[16];

		if (f->seq < xs->nseen && memcmp(xs->seen[f->seq], zero, 16)
		    != 0 && memcmp(xs->seen[f->seq], x->leaf, 16) != 0)
			report(v, V_FAIL, "equivocation", 1, f->seq, lineno,
			    "%s line %zu: a second, different record for seq "
			    "%llu", file, lineno, (unsigned long long)f->seq);
		return;
	}
	if (xs->lost || f->seq > v->tree.size) {
		int r;

		if (!xs->lost) {
			report(v, V_FAIL, "deletion", 1, v->tree.size, lineno,
			    "records %llu..%llu are missing from the export "
			    "(a gap before %s line %zu)",
			    (unsigned long long)v->tree.size,
			    (unsigned long long)f->seq - 1, file, lineno);
			xs->gap_from = f->seq;
			xs->lost = 1;
		}
		if (f->seq < xs->gap_from)
			return;
		if ((r = xresync(v, f)) == -1)
			return;		/* wait for a SEGLINK */
		if (r == -2) {
			report(v, V_FAIL, "key-epoch", 1, f->seq, lineno,
			    "key certificates were in the gap: the rest of the "
			    "export cannot be verified");
			v->stop = 1;
			return;
		}
		xs->lost = 0;
	}
	if (f->type == AL_SEGLINK) {
		struct al_seghdr h;
		uint64_t sn;

		memset(&h, 0, sizeof(h));
		h.segno = al_kv_u64(f->payload, f->paylen, "segment", &sn) ==
		    0 && (v->segments == 0 || sn == v->segments + 1) ? sn :
		    v->segments + 1;
		h.first_seq = f->seq;
		memcpy(h.prev, v->prev, AL_HASH);
		check_seglink(v, f, &h, lineno);
		v->segments = h.segno;
		if (v->stop)
			return;
	}
	on_leaf(v, f, lineno);
	if (f->seq + 1 > xs->nseen) {
		size_t nn = xs->nseen ? xs->nseen : 1024;

		while (nn < f->seq + 1)
			nn *= 2;
		xs->seen = xreallocarray(xs->seen, nn, 16);
		memset(xs->seen + xs->nseen, 0, (nn - xs->nseen) * 16);
		xs->nseen = nn;
	}
	memcpy(xs->seen[f->seq], x->leaf, 16);
}

/* Does the file start like a JSON object? */
static int
first_is_json(const char *path)
{
	FILE *fp = fopen(path, "re");
	int c;

	if (fp == NULL)
		return 0;
	c = getc(fp);
	fclose(fp);
	return c == '{';
}

/*
 * The seq (or checkpoint size) of a file's first item of this log (lid,
 * with xsplit) or its first item at all, for the order of the files.
 */
static uint64_t
xfile_first(const char *path, const char *lid)
{
	FILE *fp = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	const char *val;
	size_t vl;
	uint64_t r = UINT64_MAX;

	if (fp == NULL)
		return r;
	while ((n = getline(&line, &cap, fp)) > 0) {
		if (lid != NULL && (!al_json_get(line, n, "octo.log_id", &val,
		    &vl) || vl != strlen(lid) || memcmp(val, lid, vl) != 0))
			continue;
		if (al_json_get(line, n, "octo.seq", &val, &vl) ||
		    al_json_get(line, n, "octo.size", &val, &vl)) {
			r = 0;
			for (size_t i = 0; i < vl && i < 20 && val[i] >= '0' &&
			    val[i] <= '9'; i++)
				r = r * 10 + (val[i] - '0');
		}
		break;
	}
	free(line);
	fclose(fp);
	return r;
}

void
av_verify_export(struct verifier *v, const char *path)
{
	struct xfile *xf = NULL;
	size_t nxf = 0;
	struct xstate xs;
	struct stat sb;
	uint64_t items = 0;
	char lid[2 * AL_LOGID + 1];

	memset(&xs, 0, sizeof(xs));
	v->xmode = 1;
	al_hex(v->log_id, AL_LOGID, lid);
	if (stat(path, &sb) == -1) {
		report(v, V_FAIL, "io", 0, 0, 0, "%s: %s", path,
		    strerror(errno));
		v->verdict = V_USAGE;
		return;
	}
	if (S_ISDIR(sb.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;

		if (d == NULL) {
			report(v, V_FAIL, "io", 0, 0, 0, "%s: %s", path,
			    strerror(errno));
			v->verdict = V_USAGE;
			return;
		}
		while ((de = readdir(d)) != NULL) {
			char *p;
			struct stat fs;

			if (de->d_name[0] == '.' || asprintf(&p, "%s/%s", path,
			    de->d_name) == -1)
				continue;
			/* Files of JSON lines only (not a cursor beside). */
			if (stat(p, &fs) == -1 || !S_ISREG(fs.st_mode) ||
			    !first_is_json(p)) {
				free(p);
				continue;
			}
			xf = xreallocarray(xf, nxf + 1, sizeof(*xf));
			xf[nxf].path = p;
			xf[nxf++].first = xfile_first(p, v->xsplit ? lid :
			    NULL);
		}
		closedir(d);
	} else {
		xf = xcalloc(1, sizeof(*xf));
		xf[0].path = xstrdup(path);
		nxf = 1;
	}
	if (nxf > 1)
		qsort(xf, nxf, sizeof(*xf), xfile_cmp);
	al_tree_init(&v->tree);
	al_chain_init(v->log_id, v->chain);
	for (size_t i = 0; i < nxf && !v->stop; i++) {
		FILE *fp = fopen(xf[i].path, "re");
		char *line = NULL, why[160];
		size_t cap = 0, lineno = 0;
		ssize_t n;

		if (fp == NULL) {
			report(v, V_FAIL, "io", 0, 0, 0, "%s: %s", xf[i].path,
			    strerror(errno));
			break;
		}
		while (!v->stop && (n = getline(&line, &cap, fp)) > 0) {
			struct xline x;
			int r;

			lineno++;
			if (line[n - 1] != '\n') {
				report(v, V_POLICY, "torn", 0, 0, lineno, "%s "
				    "line %zu is cut short (an export killed "
				    "while writing; audit-export writes it "
				    "again)", xf[i].path, lineno);
				break;
			}
			if ((r = xline_parse(v, line, n - 1, &x, why,
			    sizeof(why))) == 1)
				continue;	/* another log's (xsplit) */
			if (r != 0)
				report(v, V_FAIL, r == -2 ? "content" :
				    "corrupt-line", 0, 0, lineno, "%s line %zu: "
				    "%s", xf[i].path, lineno, why);
			else {
				items++;
				xitem(v, &xs, &x, xf[i].path, lineno);
			}
			free(x.buf);
		}
		free(line);
		fclose(fp);
	}
	for (size_t i = 0; i < nxf; i++)
		free(xf[i].path);
	free(xf);
	free(xs.seen);
	free(xs.ck);
	if (items == 0 && !v->stop)
		report(v, V_FAIL, "truncation", 0, 0, 0, "%s: no exported "
		    "item of this log", path);
	if (xs.lost && !v->stop)
		report(v, V_FAIL, "deletion", 1, xs.gap_from, 0, "nothing "
		    "from seq %llu on is verified: no SEGLINK after the gap "
		    "to resume from", (unsigned long long)xs.gap_from);
	if (!v->stop)
		finish(v);
}
