/* SPDX-License-Identifier: ISC */
/*
 * The witness's one decision (C2SP tlog-witness add-checkpoint, with the
 * cosignature of tlog-cosignature v1): a checkpoint is cosigned only if
 * its log's key signed it (the key chain followed from the root key
 * through the key certificates submitted with it) and a consistency
 * proof shows it extends the latest checkpoint cosigned before.  The
 * state per log is replaced atomically before anything is answered, so
 * a crash never loses or rolls it back.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auditlog.h"
#include "sig.h"
#include "xalloc.h"

#include "witness.h"

#define STATE_HEAD	"octo-audit-witness-state/v1\n"

/* Next line of [*p, end) without its LF; -1 if none is complete. */
static int
line_next(const char **p, const char *end, const char **l, size_t *ll)
{
	const char *nl = memchr(*p, '\n', end - *p);

	if (nl == NULL)
		return -1;
	*l = *p;
	*ll = nl - *p;
	*p = nl + 1;
	return 0;
}

/* Replace dir/name with data: temporary file, fsync, rename, fsync dir. */
static int
write_atomic(const char *dir, const char *name, const void *data,
    size_t len, mode_t mode)
{
	char tmp[4096], path[4096];
	const unsigned char *p = data;
	int fd, dfd, rc = -1;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, mode)) == -1)
		return -1;
	if (fchmod(fd, mode) == -1)
		goto out;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		p += n;
		len -= n;
	}
	if (fsync(fd) == -1)
		goto out;
	rc = close(fd);
	fd = -1;
	if (rc == -1 || rename(tmp, path) == -1)
		return -1;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(dfd);
	close(dfd);
	return rc;
out:
	if (fd != -1) {
		int e = errno;

		close(fd);
		unlink(tmp);
		errno = e;
	}
	return -1;
}

static void
state_free(struct wstate *st)
{
	free(st->keys);
	al_buf_free(&st->note);
	memset(st, 0, sizeof(*st));
}

static void
put_b64(struct al_buf *o, const char *kw, const void *p, size_t n)
{
	size_t bl = ((n + 2) / 3) * 4 + 1;
	char *b = xmalloc(bl);

	al_b64_encode(p, n, b, bl);
	al_buf_printf(o, "%s ", kw);
	al_buf_puts(o, b);
	al_buf_puts(o, "\n");
	free(b);
}

/* A "kw base64" line's bytes (caller frees *out); -1 if not that. */
static ssize_t
get_b64(const char *l, size_t ll, const char *kw, unsigned char **out)
{
	size_t kl = strlen(kw);
	ssize_t n;

	if (ll < kl + 1 || memcmp(l, kw, kl) != 0 || l[kl] != ' ')
		return -1;
	*out = xmalloc(ll + 1);
	if ((n = al_b64_decode(l + kl + 1, ll - kl - 1, *out, ll)) < 0) {
		free(*out);
		*out = NULL;
	}
	return n;
}

/* "kw <decimal>" (no sign, no leading zero); l[ll] is its LF. */
static int
get_u64(const char *l, size_t ll, const char *kw, uint64_t *v)
{
	return al_kv_u64(l, ll + 1, kw, v);
}

/*
 * Read state_dir/<id>.state.  0 (st->have 0 if the witness never
 * cosigned for this log), -1 if it is unreadable or damaged: then the
 * witness cosigns nothing rather than start again from zero, which would
 * let a rolled-back log through.
 */
static int
state_load(const struct wconf *cf, const struct wlog *lg, struct wstate *st,
    char *why, size_t whylen)
{
	char name[64];
	unsigned char *buf, h[AL_HASH], *k = NULL;
	const char *p, *end, *l;
	size_t len, ll;
	ssize_t n;
	int dfd;

	memset(st, 0, sizeof(*st));
	st->keys = xcalloc(1, AL_PK);
	memcpy(st->keys[0], lg->pk0, AL_PK);
	st->nkeys = 1;
	snprintf(name, sizeof(name), "%s.state", lg->id);
	if ((dfd = open(cf->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		snprintf(why, whylen, "%s: %s", cf->state_dir, strerror(errno));
		return -1;
	}
	if (al_read_file(dfd, name, &buf, &len) == -1) {
		int e = errno;

		close(dfd);
		if (e == ENOENT)
			return 0;
		snprintf(why, whylen, "%s/%s: %s", cf->state_dir, name,
		    strerror(e));
		return -1;
	}
	close(dfd);
	p = (char *)buf;
	end = p + len;
#define BAD(m) do { snprintf(why, whylen, "%s/%s is damaged (%s): no " \
	"cosignature until an operator restores it", cf->state_dir, name, m); \
	goto bad; } while (0)
	/* The last line is the SHA-256 of everything before it. */
	{
		const char *s = len > 1 ? memrchr(buf, '\n', len - 1) : NULL;
		unsigned char want[AL_HASH];

		if (s == NULL || get_b64(s + 1, end - s - 2, "sha256", &k) !=
		    AL_HASH)
			BAD("no checksum");
		memcpy(want, k, AL_HASH);
		free(k);
		k = NULL;
		al_sha256(buf, s + 1 - (char *)buf, h);
		if (memcmp(h, want, AL_HASH) != 0)
			BAD("checksum");
		end = s + 1;
	}
	if ((size_t)(end - p) < sizeof(STATE_HEAD) - 1 ||
	    memcmp(p, STATE_HEAD, sizeof(STATE_HEAD) - 1) != 0)
		BAD("header");
	p += sizeof(STATE_HEAD) - 1;
	if (line_next(&p, end, &l, &ll) == -1 || ll != 7 + strlen(lg->origin) ||
	    memcmp(l, "origin ", 7) != 0 || memcmp(l + 7, lg->origin,
	    ll - 7) != 0)
		BAD("origin");
	if (line_next(&p, end, &l, &ll) == -1 ||
	    get_u64(l, ll, "size", &st->size) == -1 ||
	    line_next(&p, end, &l, &ll) == -1 ||
	    get_b64(l, ll, "root", &k) != AL_HASH)
		BAD("size or root");
	memcpy(st->root, k, AL_HASH);
	free(k);
	k = NULL;
	if (line_next(&p, end, &l, &ll) == -1 ||
	    get_u64(l, ll, "epoch", &st->epoch) == -1 ||
	    line_next(&p, end, &l, &ll) == -1 ||
	    get_u64(l, ll, "key_first", &st->kfirst) == -1)
		BAD("epoch");
	st->nkeys = 0;
	while (line_next(&p, end, &l, &ll) == 0 &&
	    (n = get_b64(l, ll, "key", &k)) != -1) {
		if (n != AL_PK)
			BAD("key");
		st->keys = xreallocarray(st->keys, st->nkeys + 1, AL_PK);
		memcpy(st->keys[st->nkeys++], k, AL_PK);
		free(k);
		k = NULL;
	}
	if (st->nkeys == 0 || st->epoch < st->kfirst ||
	    st->epoch >= st->kfirst + st->nkeys)
		BAD("keys");
	if (get_u64(l, ll, "time", &st->time) == -1 ||
	    line_next(&p, end, &l, &ll) == -1 ||
	    (n = get_b64(l, ll, "note", &k)) <= 0 || p != end)
		BAD("time or note");
	al_buf_put(&st->note, k, n);
	free(k);
	k = NULL;
#undef BAD
	free(buf);
	st->have = 1;
	return 0;
bad:
	free(k);
	free(buf);
	return -1;
}

static int
state_store(const struct wconf *cf, const struct wlog *lg,
    const struct wstate *st)
{
	struct al_buf o = { 0 };
	unsigned char h[AL_HASH];
	char name[64];
	int rc;

	al_buf_puts(&o, STATE_HEAD);
	al_buf_printf(&o, "origin %s\nsize %llu\n", lg->origin,
	    (unsigned long long)st->size);
	put_b64(&o, "root", st->root, AL_HASH);
	al_buf_printf(&o, "epoch %llu\nkey_first %llu\n",
	    (unsigned long long)st->epoch, (unsigned long long)st->kfirst);
	for (size_t i = 0; i < st->nkeys; i++)
		put_b64(&o, "key", st->keys[i], AL_PK);
	al_buf_printf(&o, "time %llu\n", (unsigned long long)st->time);
	put_b64(&o, "note", st->note.p, st->note.len);
	al_sha256(o.p, o.len, h);
	put_b64(&o, "sha256", h, AL_HASH);
	snprintf(name, sizeof(name), "%s.state", lg->id);
	rc = write_atomic(cf->state_dir, name, o.p, o.len, 0600);
	al_buf_free(&o);
	return rc;
}

/* The cosigned checkpoint, for audit-verify --witness and audit-export. */
static int
publish(const struct wconf *cf, const struct wlog *lg,
    const struct wstate *st)
{
	char name[64];

	snprintf(name, sizeof(name), "%s.note", lg->id);
	return write_atomic(cf->cosigned_dir, name, st->note.p, st->note.len,
	    0644);
}

/* Our cosignature line in a cosigned note, appended to out. */
static void
our_line(const struct wconf *cf, const struct al_buf *note,
    struct al_buf *out)
{
	const char *p = (const char *)note->p, *end = p + note->len, *l;
	size_t ll, nl = strlen(cf->name);

	while (line_next(&p, end, &l, &ll) == 0)
		if (ll > 5 + nl && memcmp(l, "\xe2\x80\x94 ", 4) == 0 &&
		    memcmp(l + 4, cf->name, nl) == 0 && l[4 + nl] == ' ') {
			al_buf_put(out, l, ll);
			al_buf_puts(out, "\n");
		}
}

/* The keys for epochs up to the newest certified, from the KEYCERTs. */
static int
follow_keys(struct wstate *st, const char *origin, char **kcs, size_t nkc,
    char *why, size_t whylen)
{
	for (size_t i = 0; i < nkc; i++) {
		struct al_keycert kc;
		uint64_t known = st->kfirst + st->nkeys - 1;

		if (al_keycert_parse(kcs[i], strlen(kcs[i]), &kc) == -1 ||
		    strcmp(kc.origin, origin) != 0) {
			snprintf(why, whylen, "rule=keycert a malformed key "
			    "certificate");
			return -1;
		}
		if (kc.epoch < st->kfirst)
			continue;	/* older than any key still held */
		if (kc.epoch <= known) {
			if (memcmp(kc.pk, st->keys[kc.epoch - st->kfirst],
			    AL_PK) != 0) {
				snprintf(why, whylen, "rule=keycert a second key "
				    "for epoch %llu (a forked key chain)",
				    (unsigned long long)kc.epoch);
				return -1;
			}
			continue;
		}
		if (kc.epoch != known + 1 || al_keycert_verify(kcs[i], &kc,
		    st->keys[known - st->kfirst]) == -1) {
			snprintf(why, whylen, "rule=keycert the key for epoch "
			    "%llu is not certified by the key of epoch %llu",
			    (unsigned long long)kc.epoch,
			    (unsigned long long)known);
			return -1;
		}
		st->keys = xreallocarray(st->keys, st->nkeys + 1, AL_PK);
		memcpy(st->keys[st->nkeys++], kc.pk, AL_PK);
	}
	return 0;
}

int
witness_add(const struct wconf *cf, const char *buf, size_t len,
    struct al_buf *cosig, char *why, size_t whylen)
{
	const char *p = buf, *end = buf + len, *l;
	size_t ll, nkc = 0;
	char **kcs = NULL, err[128], lockp[4096];
	unsigned char (*proof)[AL_HASH] = xcalloc(W_MAX_PROOF, AL_HASH);
	int np = 0, rc = W_REFUSED, lockfd = -1;
	uint64_t old;
	struct al_ckpt c;
	const struct wlog *lg = NULL;
	struct wstate st;

	memset(&st, 0, sizeof(st));
	/* old N, proof hashes, key certificates, a blank line, the note. */
	if (line_next(&p, end, &l, &ll) == -1 ||
	    get_u64(l, ll, "old", &old) == -1) {
		snprintf(why, whylen, "rule=format no \"old\" line");
		goto out;
	}
	for (;;) {
		unsigned char *k;
		ssize_t n;

		if (line_next(&p, end, &l, &ll) == -1) {
			snprintf(why, whylen, "rule=format no checkpoint");
			goto out;
		}
		if (ll == 0)
			break;
		if ((n = get_b64(l, ll, "keycert", &k)) > 0) {
			kcs = xreallocarray(kcs, nkc + 1, sizeof(*kcs));
			kcs[nkc] = xmalloc(n + 1);
			memcpy(kcs[nkc], k, n);
			kcs[nkc++][n] = '\0';
			free(k);
			continue;
		}
		if (np == W_MAX_PROOF || al_b64_decode(l, ll, proof[np],
		    AL_HASH) != AL_HASH) {
			snprintf(why, whylen, "rule=format a bad proof line");
			goto out;
		}
		np++;
	}
	if (al_ckpt_parse(p, end - p, &c, err, sizeof(err)) == -1) {
		snprintf(why, whylen, "rule=format %s", err);
		goto out;
	}
	for (int i = 0; i < cf->nlogs && lg == NULL; i++)
		if (strcmp(cf->logs[i].origin, c.origin) == 0)
			lg = &cf->logs[i];
	if (lg == NULL) {
		snprintf(why, whylen, "rule=origin a log this witness does not "
		    "follow");
		goto out;
	}
	/* From here to the state's replacement, one submission at a time. */
	snprintf(lockp, sizeof(lockp), "%s/LOCK", cf->state_dir);
	if ((lockfd = open(lockp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1 || flock(lockfd, LOCK_EX) == -1) {
		snprintf(why, whylen, "%s: %s", lockp, strerror(errno));
		rc = W_ERROR;
		goto out;
	}
	if (state_load(cf, lg, &st, why, whylen) == -1) {
		rc = W_ERROR;
		goto out;
	}
	if (follow_keys(&st, c.origin, kcs, nkc, why, whylen) == -1)
		goto out;
	if ((st.have && c.epoch < st.epoch) || c.epoch < st.kfirst ||
	    c.epoch >= st.kfirst + st.nkeys ||
	    al_ckpt_verify(p, &c, st.keys[c.epoch - st.kfirst]) == -1) {
		snprintf(why, whylen, "rule=signature the checkpoint for size "
		    "%llu is not signed by the log's key of epoch %llu",
		    (unsigned long long)c.size, (unsigned long long)c.epoch);
		goto out;
	}
	if (st.have && c.size == st.size && memcmp(c.root, st.root,
	    AL_HASH) == 0) {
		our_line(cf, &st.note, cosig);
		rc = W_DUPLICATE;
		goto out;
	}
	if (old > c.size) {
		snprintf(why, whylen, "rule=format old size %llu above the "
		    "checkpoint's %llu", (unsigned long long)old,
		    (unsigned long long)c.size);
		goto out;
	}
	if (st.have && c.size < st.size) {
		snprintf(why, whylen, "rule=rollback a checkpoint for size %llu "
		    "after one for %llu was cosigned",
		    (unsigned long long)c.size, (unsigned long long)st.size);
		goto out;
	}
	if (st.have && c.size == st.size) {
		snprintf(why, whylen, "rule=fork two roots for size %llu "
		    "(equivocation)", (unsigned long long)c.size);
		goto out;
	}
	if (old != (st.have ? st.size : 0)) {
		snprintf(why, whylen, "rule=conflict old size %llu, the latest "
		    "cosigned is %llu", (unsigned long long)old,
		    (unsigned long long)(st.have ? st.size : 0));
		goto out;
	}
	if (old == 0 ? np != 0 : al_consistency_verify(old, c.size, st.root,
	    c.root, (const unsigned char (*)[AL_HASH])proof, np) == -1) {
		snprintf(why, whylen, "rule=consistency the checkpoint for size "
		    "%llu does not extend the one for %llu",
		    (unsigned long long)c.size, (unsigned long long)old);
		goto out;
	}
	{
		struct al_buf m = { 0 };
		unsigned char sig[AL_SIG];
		size_t drop = c.epoch - st.kfirst;

		st.time = (uint64_t)time(NULL);
		al_cosig_message(p, c.bodylen, st.time, &m);
		if (sig_sign(cf->key, m.p, m.len, sig) == -1) {
			al_buf_free(&m);
			snprintf(why, whylen, "signing failed");
			rc = W_ERROR;
			goto out;
		}
		al_buf_free(&m);
		al_cosig_line(cf->name, cf->pk, st.time, sig, cosig);
		st.note.len = 0;
		al_buf_put(&st.note, p, end - p);
		al_buf_put(&st.note, cosig->p, cosig->len);
		st.have = 1;
		st.size = c.size;
		memcpy(st.root, c.root, AL_HASH);
		st.epoch = c.epoch;
		/* Keys older than this checkpoint's epoch are not needed. */
		memmove(st.keys, st.keys + drop, (st.nkeys - drop) * AL_PK);
		st.nkeys -= drop;
		st.kfirst = c.epoch;
	}
	if (state_store(cf, lg, &st) == -1 || publish(cf, lg, &st) == -1) {
		snprintf(why, whylen, "storing the state: %s", strerror(errno));
		cosig->len = 0;
		rc = W_ERROR;
		goto out;
	}
	rc = W_COSIGNED;
out:
	if (lockfd != -1)
		close(lockfd);
	for (size_t i = 0; i < nkc; i++)
		free(kcs[i]);
	free(kcs);
	free(proof);
	state_free(&st);
	return rc;
}
