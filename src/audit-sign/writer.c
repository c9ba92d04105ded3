/* SPDX-License-Identifier: ISC */
/*
 * The writer of the sealed log: segments, group commit with a signed
 * checkpoint before every fdatasync, epoch keys in two slots, crash
 * recovery.  spec/audit.md §5.3-5.6; the format is lib/auditlog.h.
 */
#define OPENSSL_SUPPRESS_DEPRECATED	/* SHA256_*: see lib/auditlog.c */

#include <sys/file.h>
#include <sys/mman.h>
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

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "auditlog.h"
#include "drain.h"
#include "log.h"
#include "xalloc.h"

#include "sign.h"

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= n;
		off += n;
	}
	return 0;
}

/* Key slots */

static void
slot_encode(const struct key_slot *s, unsigned char out[SIGN_SLOT_LEN])
{
	memset(out, 0, SIGN_SLOT_LEN);
	if (!s->valid)
		return;
	memcpy(out, SIGN_SLOT_MAGIC, 4);
	al_be32(out + 4, AL_VERSION);
	al_be64(out + 8, s->epoch);
	al_be64(out + 16, s->not_before);
	memcpy(out + 24, s->sk, 32);
	memcpy(out + 56, s->pk, AL_PK);
	memcpy(out + 88, s->log_id, AL_LOGID);
	al_be32(out + SIGN_SLOT_LEN - 4, al_crc32c(0, out, SIGN_SLOT_LEN - 4));
}

static void
slot_decode(const unsigned char in[SIGN_SLOT_LEN], struct key_slot *s)
{
	memset(s, 0, sizeof(*s));
	if (memcmp(in, SIGN_SLOT_MAGIC, 4) != 0 ||
	    al_get32(in + 4) != AL_VERSION ||
	    al_get32(in + SIGN_SLOT_LEN - 4) !=
	    al_crc32c(0, in, SIGN_SLOT_LEN - 4))
		return;
	s->epoch = al_get64(in + 8);
	s->not_before = al_get64(in + 16);
	memcpy(s->sk, in + 24, 32);
	memcpy(s->pk, in + 56, AL_PK);
	memcpy(s->log_id, in + 88, AL_LOGID);
	s->valid = 1;
}

/* Key material in one page: locked (no swap) and left out of dumps. */
static struct keys *
keys_alloc(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct keys *k = mmap(NULL, pg, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (k == MAP_FAILED)
		fatal(EX_OSERR, "event=mmap.fail");
	if (mlock(k, pg) == -1)
		log_debug("event=mlock.fail msg=\"key page may be swapped\"");
	(void)madvise(k, pg, MADV_DONTDUMP);
	memset(k, 0, sizeof(*k));
	return k;
}

static void
keys_free(struct keys *k)
{
	if (k == NULL)
		return;
	OPENSSL_cleanse(k, sizeof(*k));
	munmap(k, sysconf(_SC_PAGESIZE));
}

static int
write_slot(struct writer *w, int ix)
{
	unsigned char b[SIGN_SLOT_LEN];

	slot_encode(&w->k->slot[ix], b);
	if (pwrite_all(w->keyfd, b, sizeof(b), ix * SIGN_SLOT_LEN) == -1 ||
	    fdatasync(w->keyfd) == -1)
		fatal(EX_IOERR, "event=keys.write.fail slot=%d", ix);
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}

/* Zero a slot on disk and in memory (the erasure of spec §5.3 step 5). */
static void
erase_slot(struct writer *w, int ix)
{
	OPENSSL_cleanse(&w->k->slot[ix], sizeof(w->k->slot[ix]));
	w->k->slot[ix].valid = 0;
	write_slot(w, ix);
}

int
writer_keygen(const char *key_dir, const char *name, char *vkey, size_t vlen,
    char *err, size_t errlen)
{
	struct keys *k = keys_alloc();
	unsigned char b[2 * SIGN_SLOT_LEN];
	char origin[AL_ORIGIN_MAX], idh[2 * AL_LOGID + 1];
	int dfd = -1, fd = -1, rc = -1;
	struct key_slot *s = &k->slot[0];

	if (mkdir(key_dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", key_dir, strerror(errno));
		goto out;
	}
	if ((dfd = open(key_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", key_dir, strerror(errno));
		goto out;
	}
	if (al_ed25519_keygen(s->sk, s->pk) == -1 ||
	    RAND_bytes(s->log_id, AL_LOGID) != 1) {
		snprintf(err, errlen, "key generation failed");
		goto out;
	}
	s->valid = 1;
	s->epoch = 0;
	s->not_before = now_ns();
	al_hex(s->log_id, AL_LOGID, idh);
	if ((size_t)snprintf(origin, sizeof(origin), "%s/%s", name, idh) >=
	    sizeof(origin) || al_vkey_format(origin, s->pk, vkey, vlen) == -1) {
		snprintf(err, errlen, "bad log name \"%s\" (no spaces or '+')",
		    name);
		goto out;
	}
	slot_encode(&k->slot[0], b);
	slot_encode(&k->slot[1], b + SIGN_SLOT_LEN);
	if ((fd = openat(dfd, "slots", O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "%s/slots: %s%s", key_dir,
		    strerror(errno), errno == EEXIST ? " (keys exist; a new "
		    "log needs a new directory)" : "");
		goto out;
	}
	if (pwrite_all(fd, b, sizeof(b), 0) == -1 || fsync(fd) == -1 ||
	    close(fd) == -1) {
		fd = -1;
		snprintf(err, errlen, "%s/slots: %s", key_dir, strerror(errno));
		goto out;
	}
	if ((fd = openat(dfd, "vkey", O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0644)) == -1 || fchmod(fd, 0644) == -1 ||
	    dprintf(fd, "%s\n", vkey) < 0 || fsync(fd) == -1 ||
	    close(fd) == -1 || fsync(dfd) == -1) {
		fd = -1;
		snprintf(err, errlen, "%s/vkey: %s", key_dir, strerror(errno));
		goto out;
	}
	fd = -1;
	rc = 0;
out:
	OPENSSL_cleanse(b, sizeof(b));
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	keys_free(k);
	return rc;
}

/* Recovery */

/* What lies after the last whole frame recovery keeps. */
enum { TAIL_NONE, TAIL_TORN, TAIL_DAMAGED };

#define ASIDE_MAX	4
#define ASIDE_DATA_MAX	16384	/* bytes of a set-aside tail in RECOVERY */

/* Bytes recovery moved out of a segment (seg/torn-*.bin, damaged-*.bin). */
struct aside {
	char		 file[96];
	uint64_t	 segno;
	size_t		 off, len;
	unsigned char	 sha[AL_HASH];
	unsigned char	*head;		/* a copy of the first bytes */
	size_t		 headlen;
	int		 torn;		/* a partial frame (else damage) */
};

struct scan {
	struct al_seghdr hdr;
	struct al_tree	 tree;
	unsigned char	 chain[AL_HASH];
	unsigned char	 prev[AL_HASH];
	uint64_t	 epoch;
	uint64_t	 last_ckpt_time;
	uint64_t	 born;
	uint64_t	 kc_epoch;	/* an uncovered KEYCERT, 0 none */
	unsigned char	 kc_pk[AL_PK];
	size_t		 sealed_end;	/* after the last checkpoint, 0 none */
	size_t		 valid_end;	/* after the last frame kept */
	uint64_t	 unsealed_first, unsealed_count;
	SHA256_CTX	 unsealed_md;
	int		 seglink;	/* the segment's SEGLINK was read */
	int		 tail;		/* TAIL_* after valid_end */
	int		 damaged;	/* a checkpoint lies past the damage */
	char		 why[160];
};

static int
u64_from_kv(const char *t, size_t l, const char *key, uint64_t *v)
{
	return al_kv_u64(t, l, key, v);
}

static int
hash_from_kv(const char *t, size_t l, const char *key, int nth,
    unsigned char out[AL_HASH])
{
	char v[128];

	if (al_kv_get(t, l, key, nth, v, sizeof(v)) == -1)
		return -1;
	return al_b64_decode(v, strlen(v), out, AL_HASH) == AL_HASH ? 0 : -1;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_hash(const void *a, const void *b)
{
	return memcmp(a, b, AL_HASH);
}

static void
dedup_key(const char *src, size_t sl, const char *p, size_t pl,
    unsigned char out[AL_HASH])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, src, sl);
	SHA256_Update(&c, "", 1);
	SHA256_Update(&c, p, pl);
	SHA256_Final(out, &c);
}

/* A sealed record whose spool item is still queued: remember it. */
static void
note_dup(struct writer *w, const struct al_frame *f, char **queued,
    size_t nq)
{
	char name[AL_SRC_MAX + 1], *key = name;
	const char *hash;

	if (nq == 0 || f->srclen < 7 || memcmp(f->src, "spool:", 6) != 0)
		return;
	if ((hash = memrchr(f->src, '#', f->srclen)) == NULL)
		return;
	memcpy(name, f->src + 6, hash - f->src - 6);
	name[hash - f->src - 6] = '\0';
	if (bsearch(&key, queued, nq, sizeof(*queued), cmp_str) == NULL)
		return;
	w->dedup = xreallocarray(w->dedup, w->ndedup + 1, sizeof(*w->dedup));
	dedup_key(f->src, f->srclen, f->payload, f->paylen,
	    w->dedup[w->ndedup++]);
}

/* Does a CRC-valid checkpoint frame start after from? */
static int
ckpt_after(const unsigned char *buf, size_t len, size_t from)
{
	struct al_frame f;

	for (size_t p = from + 1; p + 8 <= len; p++)
		if (memcmp(buf + p, AL_FRAME_MAGIC, 4) == 0 &&
		    al_frame_parse(buf + p, len - p, &f) == AL_OK &&
		    f.type == AL_CHECKPOINT)
			return 1;
	return 0;
}

/*
 * Replay one segment into sc: every leaf against the chain and tree,
 * every checkpoint's size, root, chain and epoch.  Returns 0 (sc
 * describes it: what is kept, what lies after), or -1 if the segment was
 * never started (no readable header and SEGLINK, and no checkpoint).
 */
static int
scan_segment(struct writer *w, const unsigned char *buf, size_t len,
    struct scan *sc, char **queued, size_t nq)
{
	struct al_frame f;
	size_t pos = AL_SEGHDR_LEN;
	int rc = AL_OK;

	memset(sc, 0, sizeof(*sc));
	SHA256_Init(&sc->unsealed_md);
	if (al_seghdr_parse(buf, len, &sc->hdr) == -1 ||
	    memcmp(sc->hdr.log_id, w->k->slot[w->k->cur].log_id, AL_LOGID))
		goto incomplete;
	while (pos < len) {
		unsigned char leaf[AL_HASH], ch[AL_HASH];

		if ((rc = al_frame_parse(buf + pos, len - pos, &f)) != AL_OK)
			break;
		if (!sc->seglink) {
			/* The SEGLINK: the state at the segment's start. */
			const char *t = f.payload;
			size_t tl = f.paylen, n;
			uint64_t v;

			if (f.type != AL_SEGLINK ||
			    f.seq != sc->hdr.first_seq ||
			    u64_from_kv(t, tl, "epoch", &sc->epoch) == -1 ||
			    u64_from_kv(t, tl, "first_seq", &v) == -1 ||
			    v != f.seq ||
			    hash_from_kv(t, tl, "chain", 0, sc->chain) == -1 ||
			    hash_from_kv(t, tl, "prev", 0, sc->prev) == -1)
				goto incomplete;
			al_tree_init(&sc->tree);
			for (n = 0; n < 64; n++)
				if (hash_from_kv(t, tl, "frontier", n,
				    sc->tree.h[n]) == -1)
					break;
			sc->tree.n = n;
			sc->tree.size = f.seq;
			if ((int)n != __builtin_popcountll(f.seq))
				goto incomplete;
			sc->born = f.time_ns;
			sc->seglink = 1;
		}
		if (f.type != AL_CHECKPOINT) {
			if (f.seq != sc->tree.size) {
				snprintf(sc->why, sizeof(sc->why), "seq %llu "
				    "where %llu was due", (unsigned long long)
				    f.seq, (unsigned long long)sc->tree.size);
				rc = AL_BADBODY;
				break;
			}
			al_leaf_hash(&f, leaf);
			al_chain_step(sc->chain, leaf, ch);
			if (memcmp(ch, f.chain, AL_HASH) != 0) {
				snprintf(sc->why, sizeof(sc->why), "chain "
				    "mismatch at seq %llu",
				    (unsigned long long)f.seq);
				rc = AL_BADBODY;
				break;
			}
			memcpy(sc->chain, ch, AL_HASH);
			al_tree_append(&sc->tree, leaf);
			if (f.type == AL_KEYCERT) {
				struct al_keycert kc;

				if (al_keycert_parse(f.payload, f.paylen, &kc)
				    == 0 && kc.epoch == sc->epoch + 1) {
					sc->kc_epoch = kc.epoch;
					memcpy(sc->kc_pk, kc.pk, AL_PK);
				}
			}
			if (f.type == AL_RECOVERY) {
				uint64_t sw;

				/* An earlier recovery went on with the next
				 * key (doc/AUDIT.md, "Recovery"). */
				if (al_kv_u64(f.payload, f.paylen,
				    "epoch_switch", &sw) == 0 &&
				    sc->kc_epoch != 0 && sw == sc->kc_epoch) {
					sc->epoch = sw;
					sc->kc_epoch = 0;
				}
			}
			if (f.type == AL_RECORD)
				note_dup(w, &f, queued, nq);
			if (sc->unsealed_count++ == 0)
				sc->unsealed_first = f.seq;
			SHA256_Update(&sc->unsealed_md, leaf, AL_HASH);
		} else {
			struct al_ckpt c;
			unsigned char root[AL_HASH];
			char err[128];

			al_tree_root(&sc->tree, root);
			if (al_ckpt_parse(f.payload, f.paylen, &c, err,
			    sizeof(err)) == -1 || f.seq != sc->tree.size ||
			    c.size != sc->tree.size ||
			    memcmp(c.root, root, AL_HASH) != 0 ||
			    memcmp(c.chain, sc->chain, AL_HASH) != 0 ||
			    c.epoch != sc->epoch) {
				snprintf(sc->why, sizeof(sc->why), "checkpoint "
				    "at size %llu does not match the log",
				    (unsigned long long)f.seq);
				rc = AL_BADBODY;
				break;
			}
			if (sc->kc_epoch != 0) {
				sc->epoch = sc->kc_epoch;
				sc->kc_epoch = 0;
			}
			al_ckpt_body_hash(f.payload, &c, sc->prev);
			sc->last_ckpt_time = c.time_ns;
			sc->sealed_end = pos + f.framelen;
			sc->unsealed_count = 0;
			SHA256_Init(&sc->unsealed_md);
		}
		pos += f.framelen;
	}
	sc->valid_end = pos;
	if (!sc->seglink)
		goto incomplete;
	if (pos < len) {
		sc->tail = al_tail_torn(buf + pos, len - pos, rc) ? TAIL_TORN :
		    TAIL_DAMAGED;
		if (sc->why[0] == '\0')
			snprintf(sc->why, sizeof(sc->why), "%s",
			    al_frame_error(rc));
		/* Damage followed by a checkpoint is never cut away. */
		sc->damaged = ckpt_after(buf, len, pos);
	}
	return 0;
incomplete:
	/* Unreadable start: incomplete only if no checkpoint is anywhere. */
	if (ckpt_after(buf, len, 0)) {
		sc->damaged = 1;
		snprintf(sc->why, sizeof(sc->why), "bad segment start");
		return 0;
	}
	return -1;
}

/*
 * Move bytes out of the log for forensics (seg/torn-*.bin for a torn
 * write, seg/damaged-*.bin for damage) and describe them in a for the
 * RECOVERY leaf.  The file is synced before the log is cut.
 */
static void
set_aside(struct writer *w, uint64_t segno, size_t off,
    const unsigned char *p, size_t n, int torn, struct aside *a)
{
	char name[96];
	int fd;

	snprintf(name, sizeof(name), "%s-%010llu-%zu-%llu.bin", torn ?
	    "torn" : "damaged", (unsigned long long)segno, off,
	    (unsigned long long)now_ns());
	if ((fd = openat(w->segdirfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0640)) == -1 ||
	    pwrite_all(fd, p, n, 0) == -1 || fsync(fd) == -1 ||
	    close(fd) == -1 || fsync(w->segdirfd) == -1)
		fatal(EX_IOERR, "event=aside.save.fail file=%s", name);
	log_warnx("event=log.%s segment=%llu offset=%zu bytes=%zu saved=%s",
	    torn ? "torn" : "damaged", (unsigned long long)segno, off, n,
	    name);
	if (a == NULL)
		return;
	memset(a, 0, sizeof(*a));
	strlcpy(a->file, name, sizeof(a->file));
	a->segno = segno;
	a->off = off;
	a->len = n;
	a->torn = torn;
	al_sha256(p, n, a->sha);
	a->headlen = n < ASIDE_DATA_MAX ? n : ASIDE_DATA_MAX;
	a->head = xmalloc(a->headlen + 1);
	memcpy(a->head, p, a->headlen);
}

static void
leaf_raw(struct writer *w, int type, uint32_t uid, uint32_t gid,
    uint32_t pid, const char *src, size_t srclen, const char *payload,
    size_t paylen)
{
	struct al_frame f;
	unsigned char leaf[AL_HASH];

	memset(&f, 0, sizeof(f));
	f.type = type;
	f.seq = w->tree.size;
	f.time_ns = now_ns();
	f.uid = uid;
	f.gid = gid;
	f.pid = pid;
	f.src = src;
	f.srclen = srclen;
	f.payload = payload;
	f.paylen = paylen;
	al_leaf_append(&w->pend, &f, w->chain, leaf, w->chain);
	al_tree_append(&w->tree, leaf);
	if (type == AL_RECORD)
		w->pend_records++;
}

static void
own_leaf(struct writer *w, int type, const struct al_buf *b)
{
	leaf_raw(w, type, geteuid(), getegid(), getpid(), "audit-sign", 10,
	    (const char *)b->p, b->len);
}

/* The BOOT leaf: this start of audit-sign, once per process. */
static void
boot_leaf(struct writer *w)
{
	struct al_buf b = { 0 };
	char bid[64] = "-";
	FILE *fp = fopen("/proc/sys/kernel/random/boot_id", "re");

	if (fp != NULL) {
		if (fgets(bid, sizeof(bid), fp) == NULL)
			strlcpy(bid, "-", sizeof(bid));
		bid[strcspn(bid, "\n")] = '\0';
		fclose(fp);
	}
	al_buf_printf(&b, "octo-audit/v1 boot\nreason %s\n"
	    "boot_id %s\npid %d\nepoch %llu\nepoch_seconds %llu\n"
	    "last_checkpoint_time %llu\nversion %s\n", w->boot_reason,
	    bid, (int)getpid(), (unsigned long long)w->epoch,
	    (unsigned long long)(w->cf.epoch_ns / 1000000000ULL),
	    (unsigned long long)w->last_ckpt_time, VERSION);
	w->booted = 1;
	own_leaf(w, AL_BOOT, &b);
	al_buf_free(&b);
}

/* Start a batch: the SEGLINK of a new segment and the BOOT come first. */
static void
batch_start(struct writer *w, int type)
{
	uint64_t now = now_ns();

	if (w->pend.len != 0)
		return;
	w->pend_first = w->tree.size;
	w->rotating = w->segfd == -1 || (type == AL_RECORD &&
	    ((uint64_t)w->segoff >= w->cf.seg_max ||
	    now - w->seg_born >= w->cf.seg_age_ns));
	if (w->rotating) {
		struct al_buf b = { 0 };
		char v[64], idh[2 * AL_LOGID + 1];

		al_hex(w->k->slot[w->k->cur].log_id, AL_LOGID, idh);
		al_buf_printf(&b, "octo-audit/v1 seglink\nlog_id %s\n"
		    "segment %llu\nfirst_seq %llu\nepoch %llu\n", idh,
		    (unsigned long long)w->segno + 1,
		    (unsigned long long)w->tree.size,
		    (unsigned long long)w->epoch);
		al_b64_encode(w->prev, AL_HASH, v, sizeof(v));
		al_buf_printf(&b, "prev %s\n", v);
		al_b64_encode(w->chain, AL_HASH, v, sizeof(v));
		al_buf_printf(&b, "chain %s\n", v);
		for (int i = 0; i < w->tree.n; i++) {
			al_b64_encode(w->tree.h[i], AL_HASH, v, sizeof(v));
			al_buf_printf(&b, "frontier %s\n", v);
		}
		own_leaf(w, AL_SEGLINK, &b);
		al_buf_free(&b);
	}
	if (!w->booted)
		boot_leaf(w);
}

void
writer_leaf(struct writer *w, int type, uint32_t uid, uint32_t gid,
    uint32_t pid, const char *src, size_t srclen, const char *payload,
    size_t paylen)
{
	if (w->dead)
		return;
	batch_start(w, type);
	leaf_raw(w, type, uid, gid, pid, src, srclen, payload, paylen);
}

void
writer_boot(struct writer *w)
{
	if (!w->dead && !w->booted)
		batch_start(w, AL_BOOT);
}

int
writer_is_dup(const struct writer *w, const char *src, size_t srclen,
    const char *payload, size_t paylen)
{
	unsigned char k[AL_HASH];

	if (w->ndedup == 0)
		return 0;
	dedup_key(src, srclen, payload, paylen, k);
	return bsearch(k, w->dedup, w->ndedup, AL_HASH, cmp_hash) != NULL;
}

/* After the handover checkpoint is durable: switch keys, erase the old. */
static void
epoch_switch(struct writer *w, uint64_t kc_epoch)
{
	int old = w->k->cur, nw = !old;

	if (!w->k->slot[nw].valid || w->k->slot[nw].epoch != kc_epoch)
		fatalx(EX_SOFTWARE, "event=keys.mismatch epoch=%llu",
		    (unsigned long long)kc_epoch);
	w->epoch = kc_epoch;
	w->k->cur = nw;
	erase_slot(w, old);
	drain_crash_point("handover-erased");
	w->epoch_deadline = mono_ms() + (int64_t)(w->cf.epoch_ns / 1000000);
	log_info("event=epoch.start epoch=%llu", (unsigned long long)w->epoch);
}

int
writer_commit(struct writer *w)
{
	struct al_ckpt c;
	struct al_frame f;
	struct al_buf note = { 0 };
	struct key_slot *ks = &w->k->slot[w->k->cur];
	unsigned char hdr[AL_SEGHDR_LEN];
	uint64_t kc_epoch = 0;
	int fd;
	off_t off;

	if (w->dead)
		return -1;
	if (w->pend.len == 0)
		return 0;
	/* A KEYCERT in this batch: this checkpoint is the handover. */
	for (size_t p = 0; p < w->pend.len;) {
		struct al_frame g;

		if (al_frame_parse(w->pend.p + p, w->pend.len - p, &g) !=
		    AL_OK)
			fatalx(EX_SOFTWARE, "event=batch.corrupt");
		if (g.type == AL_KEYCERT) {
			struct al_keycert kc;

			if (al_keycert_parse(g.payload, g.paylen, &kc) == 0)
				kc_epoch = kc.epoch;
		}
		p += g.framelen;
	}
	memset(&c, 0, sizeof(c));
	strlcpy(c.origin, w->origin, sizeof(c.origin));
	c.size = w->tree.size;
	al_tree_root(&w->tree, c.root);
	c.epoch = w->epoch;
	memcpy(c.chain, w->chain, AL_HASH);
	memcpy(c.prev, w->prev, AL_HASH);
	c.time_ns = now_ns();
	if (ks->epoch != w->epoch ||
	    al_ckpt_sign(&c, ks->sk, ks->pk, &note) == -1)
		fatalx(EX_SOFTWARE, "event=sign.fail epoch=%llu",
		    (unsigned long long)w->epoch);
	memset(&f, 0, sizeof(f));
	f.type = AL_CHECKPOINT;
	f.seq = c.size;
	f.time_ns = c.time_ns;
	f.payload = (const char *)note.p;
	f.paylen = note.len;
	memcpy(f.chain, w->chain, AL_HASH);
	al_frame_encode(&w->pend, &f);
	if (w->rotating) {
		struct al_seghdr h;
		char name[32];

		memset(&h, 0, sizeof(h));
		h.version = AL_VERSION;
		memcpy(h.log_id, ks->log_id, AL_LOGID);
		h.segno = w->segno + 1;
		h.first_seq = w->pend_first;
		memcpy(h.prev, w->prev, AL_HASH);
		al_seghdr_encode(&h, hdr);
		al_seg_name(h.segno, name, sizeof(name));
		if ((fd = openat(w->segdirfd, name, O_WRONLY | O_CREAT |
		    O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640)) == -1)
			fatal(EX_IOERR, "event=segment.create.fail file=%s",
			    name);
		if (pwrite_all(fd, hdr, sizeof(hdr), 0) == -1)
			goto wfail;
		off = AL_SEGHDR_LEN;
	} else {
		fd = w->segfd;
		off = w->segoff;
	}
	if (pwrite_all(fd, w->pend.p, w->pend.len, off) == -1)
		goto wfail;
	drain_crash_point("sealed-written");
	/* fsyncgate: a failed sync is never retried; the process ends. */
	if (fdatasync(fd) == -1)
		fatal(EX_IOERR, "event=fdatasync.fail msg=\"nothing of this "
		    "batch is acknowledged\"");
	if (w->rotating) {
		if (fsync(w->segdirfd) == -1)
			fatal(EX_IOERR, "event=fsync.fail dir=seg");
		if (w->segfd != -1)
			close(w->segfd);
		w->segfd = fd;
		w->segno++;
		w->seg_born = c.time_ns;
		w->segoff = AL_SEGHDR_LEN + w->pend.len;
		log_info("event=segment.new segment=%llu first_seq=%llu",
		    (unsigned long long)w->segno,
		    (unsigned long long)w->pend_first);
	} else
		w->segoff += w->pend.len;
	drain_crash_point("sealed");
	{
		struct al_ckpt pc;
		char e[128];

		if (al_ckpt_parse((const char *)note.p, note.len, &pc, e,
		    sizeof(e)) == -1)
			fatalx(EX_SOFTWARE, "event=checkpoint.bad msg=\"%s\"", e);
		al_ckpt_body_hash((const char *)note.p, &pc, w->prev);
	}
	w->last_ckpt_time = c.time_ns;
	w->sealed_records += w->pend_records;
	log_debug("event=commit size=%llu records=%zu bytes=%zu",
	    (unsigned long long)c.size, w->pend_records, w->pend.len);
	w->pend.len = 0;
	w->pend_records = 0;
	w->rotating = 0;
	al_buf_free(&note);
	if (kc_epoch != 0)
		epoch_switch(w, kc_epoch);
	return 0;
wfail:
	{
		int e = errno;

		if (w->rotating) {
			char name[32];

			close(fd);
			al_seg_name(w->segno + 1, name, sizeof(name));
			unlinkat(w->segdirfd, name, 0);
		} else if (ftruncate(fd, w->segoff) == -1)
			log_warn("event=truncate.fail");
		al_buf_free(&note);
		w->dead = 1;
		errno = e;
		if (e == ENOSPC || e == EDQUOT || e == EFBIG) {
			log_warnx("event=log.full msg=\"%s: nothing of this "
			    "batch is acknowledged\"", strerror(e));
			return -1;
		}
		fatal(EX_IOERR, "event=write.fail");
	}
}

int
writer_epoch_due(const struct writer *w)
{
	return mono_ms() >= w->epoch_deadline;
}

int64_t
writer_epoch_left(const struct writer *w)
{
	int64_t l = w->epoch_deadline - mono_ms();

	return l < 0 ? 0 : l;
}

int
writer_handover(struct writer *w)
{
	struct key_slot *cur, *nx;
	struct al_buf b = { 0 };
	int ni;

	if (w->dead || writer_commit(w) == -1)
		return -1;
	cur = &w->k->slot[w->k->cur];
	ni = !w->k->cur;
	nx = &w->k->slot[ni];
	memset(nx, 0, sizeof(*nx));
	if (al_ed25519_keygen(nx->sk, nx->pk) == -1)
		fatalx(EX_SOFTWARE, "event=keygen.fail");
	nx->valid = 1;
	nx->epoch = w->epoch + 1;
	nx->not_before = now_ns();
	memcpy(nx->log_id, cur->log_id, AL_LOGID);
	write_slot(w, ni);			/* step 2 */
	drain_crash_point("handover-slot");
	if (al_keycert_make(w->origin, nx->epoch, nx->not_before, nx->pk,
	    cur->sk, &b) == -1)		/* step 3 */
		fatalx(EX_SOFTWARE, "event=keycert.fail");
	writer_leaf(w, AL_KEYCERT, geteuid(), getegid(), getpid(),
	    "audit-sign", 10, (const char *)b.p, b.len);
	al_buf_free(&b);
	return writer_commit(w);		/* step 4, then 5 */
}

/* Read keys/slots and keys/vkey. */
static int
load_keys(struct writer *w, char *err, size_t errlen)
{
	unsigned char b[2 * SIGN_SLOT_LEN];
	char path[4096], line[512], name[AL_ORIGIN_MAX], idh[2 * AL_LOGID + 1];
	FILE *fp;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/slots", w->cf.key_dir);
	if ((w->keyfd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s (run audit-sign --keygen)", path,
		    strerror(errno));
		return -1;
	}
	if ((n = pread(w->keyfd, b, sizeof(b), 0)) != (ssize_t)sizeof(b)) {
		snprintf(err, errlen, "%s: short file", path);
		return -1;
	}
	slot_decode(b, &w->k->slot[0]);
	slot_decode(b + SIGN_SLOT_LEN, &w->k->slot[1]);
	OPENSSL_cleanse(b, sizeof(b));
	if (!w->k->slot[0].valid && !w->k->slot[1].valid) {
		snprintf(err, errlen, "%s: no valid key slot", path);
		return -1;
	}
	w->k->cur = w->k->slot[0].valid ? 0 : 1;
	snprintf(path, sizeof(path), "%s/vkey", w->cf.key_dir);
	if ((fp = fopen(path, "re")) == NULL ||
	    fgets(line, sizeof(line), fp) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return -1;
	}
	fclose(fp);
	line[strcspn(line, "\n")] = '\0';
	if (al_vkey_parse(line, name, sizeof(name), w->pk0) == -1) {
		snprintf(err, errlen, "%s: not a verifier key", path);
		return -1;
	}
	al_hex(w->k->slot[w->k->cur].log_id, AL_LOGID, idh);
	if (strlen(name) < 2 * AL_LOGID + 2 ||
	    strcmp(name + strlen(name) - 2 * AL_LOGID, idh) != 0) {
		snprintf(err, errlen, "%s: origin does not name log_id %s",
		    path, idh);
		return -1;
	}
	strlcpy(w->origin, name, sizeof(w->origin));
	return 0;
}

/*
 * Make the slots agree with the log's epoch (spec §5.5, last item).
 * *switched: the handover checkpoint that covers the log's last KEYCERT
 * is gone or damaged, but its key was already erased, which happens only
 * after that checkpoint was durable: recovery seals with the next key.
 */
static int
reconcile_keys(struct writer *w, uint64_t kc_epoch,
    const unsigned char kc_pk[AL_PK], int *switched, char *err,
    size_t errlen)
{
	struct keys *k = w->k;
	int ix = -1;

	*switched = 0;
	for (int i = 0; i < 2; i++)
		if (k->slot[i].valid && k->slot[i].epoch == w->epoch)
			ix = i;
	for (int i = 0; i < 2 && ix == -1 && kc_epoch == w->epoch + 1; i++)
		if (k->slot[i].valid && k->slot[i].epoch == kc_epoch &&
		    memcmp(k->slot[i].pk, kc_pk, AL_PK) == 0) {
			log_warnx("event=log.recover epoch=%llu msg=\"the "
			    "handover checkpoint of epoch %llu is lost or "
			    "damaged and its key erased: sealing goes on with "
			    "the key of epoch %llu\"",
			    (unsigned long long)kc_epoch,
			    (unsigned long long)w->epoch,
			    (unsigned long long)kc_epoch);
			w->epoch = kc_epoch;
			*switched = 1;
			ix = i;
		}
	if (ix == -1) {
		snprintf(err, errlen, "no key for the log's epoch %llu (slots: "
		    "%s%llu, %s%llu): key file lost or log replaced",
		    (unsigned long long)w->epoch,
		    k->slot[0].valid ? "" : "empty/",
		    (unsigned long long)k->slot[0].epoch,
		    k->slot[1].valid ? "" : "empty/",
		    (unsigned long long)k->slot[1].epoch);
		return -1;
	}
	k->cur = ix;
	if (w->epoch == 0 && w->tree.size > 0 &&
	    memcmp(k->slot[ix].pk, w->pk0, AL_PK) != 0) {
		snprintf(err, errlen, "epoch 0 key is not the root key of "
		    "keys/vkey");
		return -1;
	}
	if (k->slot[!ix].valid) {
		struct key_slot *o = &k->slot[!ix];

		if (o->epoch < w->epoch) {
			log_info("event=keys.erase epoch=%llu msg=\"finishing "
			    "an interrupted handover\"",
			    (unsigned long long)o->epoch);
			erase_slot(w, !ix);
		} else if (o->epoch == w->epoch + 1 && kc_epoch == o->epoch &&
		    memcmp(kc_pk, o->pk, AL_PK) == 0) {
			/* Its KEYCERT is unsealed: the recovery seals it. */
		} else if (o->epoch == w->epoch + 1 && kc_epoch == 0) {
			log_info("event=keys.drop epoch=%llu msg=\"handover "
			    "not sealed; redone later\"",
			    (unsigned long long)o->epoch);
			erase_slot(w, !ix);
		} else {
			snprintf(err, errlen, "key slot for epoch %llu does not "
			    "fit the log (epoch %llu)",
			    (unsigned long long)o->epoch,
			    (unsigned long long)w->epoch);
			return -1;
		}
	} else if (kc_epoch != 0 && !*switched) {
		snprintf(err, errlen, "unsealed KEYCERT for epoch %llu but no "
		    "key slot for it", (unsigned long long)kc_epoch);
		return -1;
	}
	return 0;
}

/*
 * The RECOVERY leaf (doc/AUDIT.md, "Recovery"): the records kept that no
 * checkpoint in the log covers any more (re-sealed by this recovery, the
 * same bytes), what was set aside and where, and a switch to the next
 * epoch's key when the old one was already erased.
 */
static void
recovery_leaf(struct writer *w, struct scan *sc, const struct aside *a,
    int naside, int switched)
{
	struct al_buf b = { 0 };
	unsigned char h[AL_HASH];
	char hb[64];
	const char *cause = "unsealed";

	for (int i = 0; i < naside; i++)
		cause = !a[i].torn ? "damaged" : strcmp(cause, "damaged") ?
		    "torn" : cause;
	SHA256_Final(h, &sc->unsealed_md);
	al_b64_encode(h, AL_HASH, hb, sizeof(hb));
	w->boot_reason = "crash";
	al_buf_printf(&b, "octo-audit/v1 recovery\ncount %llu\n"
	    "first_seq %llu\nlast_seq %llu\nhash %s\ntorn %s\nversion 2\n"
	    "cause %s\n", (unsigned long long)sc->unsealed_count,
	    (unsigned long long)(sc->unsealed_count ? sc->unsealed_first :
	    w->tree.size), (unsigned long long)(sc->unsealed_count ?
	    sc->unsealed_first + sc->unsealed_count - 1 : w->tree.size), hb,
	    naside > 0 ? "yes" : "no", cause);
	for (int i = 0; i < naside; i++) {
		size_t bl = ((a[i].headlen + 2) / 3) * 4 + 1;
		char *d = xmalloc(bl);

		al_b64_encode(a[i].sha, AL_HASH, hb, sizeof(hb));
		al_buf_printf(&b, "aside %s %llu %zu %zu %s\n", a[i].file,
		    (unsigned long long)a[i].segno, a[i].off, a[i].len, hb);
		al_b64_encode(a[i].head, a[i].headlen, d, bl);
		al_buf_puts(&b, "aside_data ");
		al_buf_puts(&b, d);
		al_buf_puts(&b, "\n");
		free(d);
	}
	if (switched)
		al_buf_printf(&b, "epoch_switch %llu\n",
		    (unsigned long long)w->epoch);
	log_warnx("event=log.recover kept=%llu set_aside=%d cause=%s%s",
	    (unsigned long long)sc->unsealed_count, naside, cause, switched ?
	    " epoch_switch=yes" : "");
	w->pend_first = w->tree.size;
	/* The kept frames are already on disk, before pend.  The RECOVERY
	 * comes first, right after the records it names, then the BOOT. */
	w->booted = 1;
	writer_leaf(w, AL_RECOVERY, geteuid(), getegid(), getpid(),
	    "audit-sign", 10, (const char *)b.p, b.len);
	boot_leaf(w);
	al_buf_free(&b);
}

int
writer_open(struct writer *w, const struct writer_conf *cf, char **queued,
    size_t nq, char *err, size_t errlen)
{
	uint64_t *segs = NULL;
	size_t nsegs = 0;
	int dfd;
	struct scan sc;
	struct aside aside[ASIDE_MAX];
	int have = 0, naside = 0, switched = 0, rc = -1;
	uint64_t kc_epoch = 0;
	unsigned char kc_pk[AL_PK];

	memset(w, 0, sizeof(*w));
	w->cf = *cf;
	w->lockfd = w->segdirfd = w->segfd = w->keyfd = -1;
	w->boot_reason = "clean";
	w->k = keys_alloc();
	if (mkdir(cf->log_dir, 0750) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", cf->log_dir, strerror(errno));
		return -1;
	}
	if ((dfd = open(cf->log_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		snprintf(err, errlen, "%s: %s", cf->log_dir, strerror(errno));
		return -1;
	}
	w->lockfd = openat(dfd, "LOCK", O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
	if (w->lockfd == -1) {
		snprintf(err, errlen, "%s/LOCK: %s", cf->log_dir,
		    strerror(errno));
		close(dfd);
		return -1;
	}
	if (flock(w->lockfd, LOCK_EX | LOCK_NB) == -1) {
		close(dfd);
		if (errno == EWOULDBLOCK)
			return 1;
		snprintf(err, errlen, "flock: %s", strerror(errno));
		return -1;
	}
	if (mkdirat(dfd, "seg", 0750) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "%s/seg: %s", cf->log_dir,
		    strerror(errno));
		close(dfd);
		return -1;
	}
	w->segdirfd = openat(dfd, "seg", O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
	close(dfd);
	if (w->segdirfd == -1) {
		snprintf(err, errlen, "%s/seg: %s", cf->log_dir,
		    strerror(errno));
		return -1;
	}
	if (load_keys(w, err, errlen) == -1)
		return -1;
	if (al_seg_list(w->segdirfd, &segs, &nsegs) == -1) {
		snprintf(err, errlen, "%s/seg: %s", cf->log_dir,
		    strerror(errno));
		return -1;
	}
	while (nsegs > 0 && !have) {
		char name[32];
		unsigned char *buf;
		size_t len;
		uint64_t sn = segs[nsegs - 1];

		al_seg_name(sn, name, sizeof(name));
		if (al_read_file(w->segdirfd, name, &buf, &len) == -1) {
			snprintf(err, errlen, "seg/%s: %s", name,
			    strerror(errno));
			free(segs);
			goto out;
		}
		w->ndedup = 0;
		if (scan_segment(w, buf, len, &sc, queued, nq) == -1) {
			/* Never completed: its batch was not acknowledged. */
			if (nsegs == 1 && sn != 1) {
				snprintf(err, errlen, "seg/%s is the only "
				    "segment and has no checkpoint", name);
				free(buf);
				free(segs);
				goto out;
			}
			set_aside(w, sn, 0, buf, len, 1, naside < ASIDE_MAX ?
			    &aside[naside] : NULL);
			naside += naside < ASIDE_MAX;
			if (unlinkat(w->segdirfd, name, 0) == -1 ||
			    fsync(w->segdirfd) == -1)
				fatal(EX_IOERR, "event=segment.remove.fail");
			free(buf);
			nsegs--;
			continue;
		}
		if (sc.damaged) {
			snprintf(err, errlen, "seg/%s is damaged at offset %zu "
			    "before a checkpoint (%s): refusing to cut sealed "
			    "records; run audit-verify", name, sc.valid_end,
			    sc.why[0] ? sc.why : "bad frame");
			free(buf);
			free(segs);
			goto out;
		}
		w->segfd = openat(w->segdirfd, name, O_WRONLY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (w->segfd == -1) {
			snprintf(err, errlen, "seg/%s: %s", name,
			    strerror(errno));
			free(buf);
			free(segs);
			goto out;
		}
		if (sc.valid_end < len) {
			/* Only bytes no durable checkpoint covers that we
			 * could read: a partial frame, or damage at the end. */
			log_warnx("event=log.recover segment=%llu offset=%zu "
			    "msg=\"%s\"", (unsigned long long)sn, sc.valid_end,
			    sc.why);
			set_aside(w, sn, sc.valid_end, buf + sc.valid_end,
			    len - sc.valid_end, sc.tail == TAIL_TORN,
			    naside < ASIDE_MAX ? &aside[naside] : NULL);
			naside += naside < ASIDE_MAX;
			if (ftruncate(w->segfd, sc.valid_end) == -1 ||
			    fdatasync(w->segfd) == -1)
				fatal(EX_IOERR, "event=truncate.fail");
		}
		free(buf);
		w->segno = sn;
		w->segoff = sc.valid_end;
		w->seg_born = sc.born;
		w->tree = sc.tree;
		memcpy(w->chain, sc.chain, AL_HASH);
		memcpy(w->prev, sc.prev, AL_HASH);
		w->epoch = sc.epoch;
		w->last_ckpt_time = sc.last_ckpt_time;
		kc_epoch = sc.kc_epoch;
		memcpy(kc_pk, sc.kc_pk, AL_PK);
		have = 1;
	}
	free(segs);
	if (!have) {
		/* A new log: epoch 0 under the root key. */
		struct key_slot *s = &w->k->slot[w->k->cur];

		if (!s->valid || s->epoch != 0 || w->k->slot[!w->k->cur].valid ||
		    memcmp(s->pk, w->pk0, AL_PK) != 0) {
			snprintf(err, errlen, "the log is empty but the keys "
			    "are past epoch 0: the log was removed (a new log "
			    "needs audit-sign --keygen)");
			goto out;
		}
		al_chain_init(s->log_id, w->chain);
		w->epoch = 0;
		w->segno = 0;
	}
	if (reconcile_keys(w, kc_epoch, kc_pk, &switched, err, errlen) == -1)
		goto out;
	if (switched)
		kc_epoch = 0;	/* the recovery checkpoint is the new key's */
	if (w->ndedup > 1)
		qsort(w->dedup, w->ndedup, AL_HASH, cmp_hash);
	{
		/* The epoch's remaining time, measured from its start. */
		uint64_t nb = w->k->slot[w->k->cur].not_before, now = now_ns();
		int64_t left = (int64_t)(w->cf.epoch_ns / 1000000);

		if (now >= nb)
			left -= (int64_t)((now - nb) / 1000000);
		if (left < 0)
			left = 0;
		w->epoch_deadline = mono_ms() + left;
	}
	if (have && (naside > 0 || sc.unsealed_count > 0 || switched)) {
		recovery_leaf(w, &sc, aside, naside, switched);
		if (writer_commit(w) == -1) {
			snprintf(err, errlen, "log disk full during recovery");
			goto out;
		}
		if (kc_epoch != 0 && w->epoch != kc_epoch)
			epoch_switch(w, kc_epoch);
	}
	rc = 0;
out:
	for (int i = 0; i < naside; i++)
		free(aside[i].head);
	return rc;
}

void
writer_close(struct writer *w)
{
	if (w->segfd != -1)
		close(w->segfd);
	if (w->segdirfd != -1)
		close(w->segdirfd);
	if (w->keyfd != -1)
		close(w->keyfd);
	if (w->lockfd != -1)
		close(w->lockfd);
	al_buf_free(&w->pend);
	free(w->dedup);
	keys_free(w->k);
	w->k = NULL;
}
