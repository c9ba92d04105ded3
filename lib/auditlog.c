/* SPDX-License-Identifier: ISC */
/* The sealed audit log format, tree, notes and event check (auditlog.h). */
#define OPENSSL_SUPPRESS_DEPRECATED	/* SHA256_*: 3x faster on 100 B */

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "auditlog.h"
#include "xalloc.h"

#define AL_LEAF_PREFIX	"octo-audit/v1"	/* with its NUL: 14 bytes */
#define AL_CHAIN_PREFIX	"octo-audit/v1 chain"
#define AL_KEYCERT_HEAD	"octo-audit/v1 keycert\n"
#define AL_EMDASH	"\xe2\x80\x94"

/* Buffers */

void
al_buf_put(struct al_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xreallocarray(b->p, cap, 1);
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
al_buf_puts(struct al_buf *b, const char *s)
{
	al_buf_put(b, s, strlen(s));
}

void
al_buf_printf(struct al_buf *b, const char *fmt, ...)
{
	char small[512], *big = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		al_buf_put(b, small, n);
		return;
	}
	big = xmalloc(n + 1);
	va_start(ap, fmt);
	vsnprintf(big, n + 1, fmt, ap);
	va_end(ap);
	al_buf_put(b, big, n);
	free(big);
}

void
al_buf_free(struct al_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Integers and encodings */

void
al_be32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

void
al_be64(unsigned char *p, uint64_t v)
{
	al_be32(p, v >> 32);
	al_be32(p + 4, (uint32_t)v);
}

uint32_t
al_get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

uint64_t
al_get64(const unsigned char *p)
{
	return (uint64_t)al_get32(p) << 32 | al_get32(p + 4);
}

/* Base64 (RFC 4648 §4) through OpenSSL; the decoder is strict. */
size_t
al_b64_encode(const unsigned char *in, size_t n, char *out, size_t outlen)
{
	if (outlen < ((n + 2) / 3) * 4 + 1 || n > INT32_MAX / 2) {
		if (outlen > 0)
			out[0] = '\0';
		return 0;
	}
	return EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Only the canonical form is accepted (EVP_DecodeBlock alone would take
 * white space and stray padding): whole quads of the alphabet, '=' only
 * at the end, and zero bits under the padding.
 */
ssize_t
al_b64_decode(const char *s, size_t n, unsigned char *out, size_t max)
{
	size_t pad = 0, dl;
	unsigned char *tmp;
	int got;

	if (n % 4 != 0 || n > INT32_MAX / 2)
		return -1;
	if (n == 0)
		return 0;
	pad = s[n - 1] == '=' ? s[n - 2] == '=' ? 2 : 1 : 0;
	for (size_t i = 0; i < n - pad; i++)
		if (b64val((unsigned char)s[i]) < 0)
			return -1;
	if ((pad == 1 && (b64val((unsigned char)s[n - 2]) & 3)) ||
	    (pad == 2 && (b64val((unsigned char)s[n - 3]) & 15)))
		return -1;
	dl = n / 4 * 3 - pad;
	if (dl > max)
		return -1;
	tmp = xmalloc(n / 4 * 3 + 1);
	got = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
	if (got != (int)(n / 4 * 3)) {
		free(tmp);
		return -1;
	}
	memcpy(out, tmp, dl);
	free(tmp);
	return dl;
}

void
al_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
al_unhex(const char *s, size_t len, unsigned char *out, size_t n)
{
	if (len != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int a = hexval((unsigned char)s[2 * i]);
		int b = hexval((unsigned char)s[2 * i + 1]);

		if (a < 0 || b < 0)
			return -1;
		out[i] = a << 4 | b;
	}
	return 0;
}

/* CRC-32C (Castagnoli), hardware where the CPU has it */

static uint32_t crc_tab[8][256];
static int crc_ready;

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^
			    crc_tab[0][crc_tab[t - 1][i] & 0xff];
	crc_ready = 1;
}

static uint32_t
crc_soft(uint32_t crc, const unsigned char *p, size_t n)
{
	if (!crc_ready)
		crc_init();
	while (n >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
		    (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
		    (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;

		crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^
		    crc_tab[5][(lo >> 16) & 0xff] ^ crc_tab[4][lo >> 24] ^
		    crc_tab[3][hi & 0xff] ^ crc_tab[2][(hi >> 8) & 0xff] ^
		    crc_tab[1][(hi >> 16) & 0xff] ^ crc_tab[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n-- > 0)
		crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t
crc_hw(uint32_t crc, const unsigned char *p, size_t n)
{
	uint64_t c = crc;

	while (n >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		p += 8;
		n -= 8;
	}
	crc = (uint32_t)c;
	while (n-- > 0)
		crc = _mm_crc32_u8(crc, *p++);
	return crc;
}
#endif

uint32_t
al_crc32c(uint32_t crc, const void *buf, size_t n)
{
	crc = ~crc;
#if defined(__x86_64__)
	static int hw = -1;

	if (hw == -1) {
		__builtin_cpu_init();
		hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	}
	if (hw)
		return ~crc_hw(crc, buf, n);
#endif
	return ~crc_soft(crc, buf, n);
}

/* Hashes */

void
al_sha256(const void *p, size_t n, unsigned char out[AL_HASH])
{
	SHA256(p, n, out);
}

void
al_leaf_hash(const struct al_frame *f, unsigned char out[AL_HASH])
{
	SHA256_CTX c;
	static const unsigned char pre[] = "\0" AL_LEAF_PREFIX;

	SHA256_Init(&c);
	SHA256_Update(&c, pre, sizeof(pre));	/* 0x00, prefix, NUL */
	SHA256_Update(&c, f->body, f->bodylen);
	SHA256_Final(out, &c);
}

void
al_chain_init(const unsigned char log_id[AL_LOGID], unsigned char out[AL_HASH])
{
	SHA256_CTX c;

	SHA256_Init(&c);
	SHA256_Update(&c, AL_CHAIN_PREFIX, sizeof(AL_CHAIN_PREFIX) - 1);
	SHA256_Update(&c, log_id, AL_LOGID);
	SHA256_Final(out, &c);
}

void
al_chain_step(const unsigned char prev[AL_HASH],
    const unsigned char leaf[AL_HASH], unsigned char out[AL_HASH])
{
	unsigned char b[1 + 2 * AL_HASH];

	b[0] = 0x02;
	memcpy(b + 1, prev, AL_HASH);
	memcpy(b + 1 + AL_HASH, leaf, AL_HASH);
	SHA256(b, sizeof(b), out);
}

void
al_node_hash(const unsigned char l[AL_HASH], const unsigned char r[AL_HASH],
    unsigned char out[AL_HASH])
{
	unsigned char b[1 + 2 * AL_HASH];

	b[0] = 0x01;
	memcpy(b + 1, l, AL_HASH);
	memcpy(b + 1 + AL_HASH, r, AL_HASH);
	SHA256(b, sizeof(b), out);
}

/* Frames */

const char *
al_type_name(int type)
{
	switch (type) {
	case AL_RECORD:		return "record";
	case AL_KEYCERT:	return "keycert";
	case AL_BOOT:		return "boot";
	case AL_SEGLINK:	return "seglink";
	case AL_GAP:		return "gap";
	case AL_RECOVERY:	return "recovery";
	case AL_WITNESS:	return "witness";
	case AL_PRUNE:		return "prune";
	case AL_CHECKPOINT:	return "checkpoint";
	default:		return "unknown";
	}
}

const char *
al_frame_error(int e)
{
	switch (e) {
	case AL_OK:		return "ok";
	case AL_SHORT:		return "truncated frame";
	case AL_BADMAGIC:	return "bad frame magic";
	case AL_BADLEN:		return "bad frame length";
	case AL_BADCRC:		return "CRC mismatch";
	case AL_BADBODY:	return "bad frame fields";
	default:		return "?";
	}
}

int
al_frame_parse(const void *buf, size_t len, struct al_frame *f)
{
	const unsigned char *p = buf;
	uint32_t blen, crc;
	size_t flen;

	memset(f, 0, sizeof(*f));
	if (len < 8)
		return len >= 4 && memcmp(p, AL_FRAME_MAGIC, 4) != 0 ?
		    AL_BADMAGIC : AL_SHORT;
	if (memcmp(p, AL_FRAME_MAGIC, 4) != 0)
		return AL_BADMAGIC;
	blen = al_get32(p + 4);
	if (blen < AL_BODY_FIXED || blen > AL_BODY_MAX)
		return AL_BADLEN;
	flen = (size_t)blen + AL_FRAME_OVER;
	if (len < flen)
		return AL_SHORT;
	crc = al_crc32c(0, p, flen - 4);
	if (crc != al_get32(p + flen - 4))
		return AL_BADCRC;
	f->body = p + 8;
	f->bodylen = blen;
	f->type = f->body[0];
	f->flags = f->body[1];
	f->seq = al_get64(f->body + 4);
	f->time_ns = al_get64(f->body + 12);
	f->uid = al_get32(f->body + 20);
	f->gid = al_get32(f->body + 24);
	f->pid = al_get32(f->body + 28);
	f->srclen = (size_t)f->body[32] << 8 | f->body[33];
	if (f->body[2] != 0 || f->body[3] != 0 ||
	    AL_BODY_FIXED + f->srclen > blen)
		return AL_BADBODY;
	f->src = (const char *)f->body + AL_BODY_FIXED;
	f->payload = f->src + f->srclen;
	f->paylen = blen - AL_BODY_FIXED - f->srclen;
	memcpy(f->chain, p + 8 + blen, AL_HASH);
	f->framelen = flen;
	return AL_OK;
}

int
al_tail_torn(const unsigned char *p, size_t n, int rc)
{
	if (rc == AL_SHORT)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

void
al_frame_encode(struct al_buf *out, const struct al_frame *f)
{
	unsigned char h[8 + AL_BODY_FIXED], c[4];
	size_t start = out->len, blen = AL_BODY_FIXED + f->srclen + f->paylen;

	memcpy(h, AL_FRAME_MAGIC, 4);
	al_be32(h + 4, blen);
	h[8] = f->type;
	h[9] = f->flags;
	h[10] = h[11] = 0;
	al_be64(h + 12, f->seq);
	al_be64(h + 20, f->time_ns);
	al_be32(h + 28, f->uid);
	al_be32(h + 32, f->gid);
	al_be32(h + 36, f->pid);
	h[40] = f->srclen >> 8;
	h[41] = f->srclen & 0xff;
	al_buf_put(out, h, sizeof(h));
	al_buf_put(out, f->src, f->srclen);
	al_buf_put(out, f->payload, f->paylen);
	al_buf_put(out, f->chain, AL_HASH);
	al_be32(c, al_crc32c(0, out->p + start, out->len - start));
	al_buf_put(out, c, 4);
}

void
al_leaf_append(struct al_buf *out, const struct al_frame *f,
    const unsigned char prev[AL_HASH], unsigned char leaf[AL_HASH],
    unsigned char chain[AL_HASH])
{
	struct al_frame g = *f;
	struct al_frame p;
	size_t start = out->len;

	memset(g.chain, 0, AL_HASH);
	al_frame_encode(out, &g);
	/* Parse back the body just written (no copy), then patch. */
	memset(&p, 0, sizeof(p));
	p.body = out->p + start + 8;
	p.bodylen = out->len - start - AL_FRAME_OVER;
	al_leaf_hash(&p, leaf);
	al_chain_step(prev, leaf, chain);
	memcpy(out->p + out->len - 4 - AL_HASH, chain, AL_HASH);
	al_be32(out->p + out->len - 4, al_crc32c(0, out->p + start,
	    out->len - start - 4));
}

/* The Merkle tree */

void
al_tree_init(struct al_tree *t)
{
	memset(t, 0, sizeof(*t));
}

void
al_tree_append(struct al_tree *t, const unsigned char leaf[AL_HASH])
{
	uint64_t x = t->size;

	memcpy(t->h[t->n++], leaf, AL_HASH);
	t->size++;
	while (x & 1) {
		al_node_hash(t->h[t->n - 2], t->h[t->n - 1], t->h[t->n - 2]);
		t->n--;
		x >>= 1;
	}
}

void
al_tree_root(const struct al_tree *t, unsigned char out[AL_HASH])
{
	unsigned char r[AL_HASH];

	if (t->n == 0) {
		SHA256((const unsigned char *)"", 0, out);
		return;
	}
	memcpy(r, t->h[t->n - 1], AL_HASH);
	for (int i = t->n - 2; i >= 0; i--)
		al_node_hash(t->h[i], r, r);
	memcpy(out, r, AL_HASH);
}

/* The largest power of two smaller than n (n >= 2). */
static uint64_t
split(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

void
al_mth(const unsigned char (*leaves)[AL_HASH], uint64_t n,
    unsigned char out[AL_HASH])
{
	unsigned char l[AL_HASH], r[AL_HASH];
	uint64_t k;

	if (n == 0) {
		SHA256((const unsigned char *)"", 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves[0], AL_HASH);
		return;
	}
	k = split(n);
	al_mth(leaves, k, l);
	al_mth(leaves + k, n - k, r);
	al_node_hash(l, r, out);
}

static int
path_rec(const unsigned char (*lv)[AL_HASH], uint64_t n, uint64_t m,
    unsigned char (*path)[AL_HASH], int max, int *cnt)
{
	uint64_t k;

	if (n <= 1)
		return 0;
	k = split(n);
	if (m < k) {
		if (path_rec(lv, k, m, path, max, cnt) == -1)
			return -1;
		if (*cnt >= max)
			return -1;
		al_mth(lv + k, n - k, path[(*cnt)++]);
	} else {
		if (path_rec(lv + k, n - k, m - k, path, max, cnt) == -1)
			return -1;
		if (*cnt >= max)
			return -1;
		al_mth(lv, k, path[(*cnt)++]);
	}
	return 0;
}

int
al_inclusion_proof(const unsigned char (*leaves)[AL_HASH], uint64_t n,
    uint64_t m, unsigned char (*path)[AL_HASH], int max)
{
	int cnt = 0;

	if (m >= n)
		return -1;
	if (path_rec(leaves, n, m, path, max, &cnt) == -1)
		return -1;
	return cnt;
}

static int
subproof(const unsigned char (*lv)[AL_HASH], uint64_t n, uint64_t m, int b,
    unsigned char (*path)[AL_HASH], int max, int *cnt)
{
	uint64_t k;

	if (m == n) {
		if (!b) {
			if (*cnt >= max)
				return -1;
			al_mth(lv, n, path[(*cnt)++]);
		}
		return 0;
	}
	k = split(n);
	if (m <= k) {
		if (subproof(lv, k, m, b, path, max, cnt) == -1 ||
		    *cnt >= max)
			return -1;
		al_mth(lv + k, n - k, path[(*cnt)++]);
	} else {
		if (subproof(lv + k, n - k, m - k, 0, path, max, cnt) == -1 ||
		    *cnt >= max)
			return -1;
		al_mth(lv, k, path[(*cnt)++]);
	}
	return 0;
}

int
al_consistency_proof(const unsigned char (*leaves)[AL_HASH], uint64_t n,
    uint64_t m, unsigned char (*path)[AL_HASH], int max)
{
	int cnt = 0;

	if (m > n)
		return -1;
	if (m == 0 || m == n)
		return 0;
	if (subproof(leaves, n, m, 1, path, max, &cnt) == -1)
		return -1;
	return cnt;
}

/* Where the hashes of a consistency proof from a compact range come from. */
struct cr_src {
	const struct al_tree *old;	/* the compact range at size m */
	const unsigned char (*nl)[AL_HASH];	/* leaves m .. n-1 */
	uint64_t	 m;
};

/*
 * MTH(D[a:b]): within [0, m) it is one of the compact range's perfect
 * subtrees (a consistency proof needs no other), within [m, n) it is
 * computed from the new leaves; a range across m is never asked for.
 */
static int
cr_mth(const struct cr_src *s, uint64_t a, uint64_t b,
    unsigned char out[AL_HASH])
{
	uint64_t off = 0;
	int ix = 0;

	if (a >= s->m) {
		al_mth(s->nl + (a - s->m), b - a, out);
		return 0;
	}
	for (int bit = 63; bit >= 0 && b <= s->m; bit--) {
		uint64_t sz = 1ULL << bit;

		if (!(s->m & sz))
			continue;
		if (off == a && off + sz == b && ix < s->old->n) {
			memcpy(out, s->old->h[ix], AL_HASH);
			return 0;
		}
		off += sz;
		ix++;
	}
	return -1;
}

/* subproof() over absolute offsets, hashes from cr_mth(). */
static int
cr_subproof(const struct cr_src *s, uint64_t off, uint64_t n, uint64_t m,
    int b, unsigned char (*path)[AL_HASH], int max, int *cnt)
{
	uint64_t k;

	if (m == n) {
		if (!b) {
			if (*cnt >= max || cr_mth(s, off, off + n,
			    path[*cnt]) == -1)
				return -1;
			(*cnt)++;
		}
		return 0;
	}
	k = split(n);
	if (m <= k) {
		if (cr_subproof(s, off, k, m, b, path, max, cnt) == -1 ||
		    *cnt >= max || cr_mth(s, off + k, off + n, path[*cnt]) ==
		    -1)
			return -1;
	} else {
		if (cr_subproof(s, off + k, n - k, m - k, 0, path, max, cnt) ==
		    -1 || *cnt >= max || cr_mth(s, off, off + k, path[*cnt]) ==
		    -1)
			return -1;
	}
	(*cnt)++;
	return 0;
}

int
al_consistency_proof_cr(const struct al_tree *old,
    const unsigned char (*nl)[AL_HASH], uint64_t n,
    unsigned char (*path)[AL_HASH], int max)
{
	struct cr_src s = { old, nl, old->size };
	int cnt = 0;

	if (old->size > n)
		return -1;
	if (old->size == 0 || old->size == n)
		return 0;
	if (cr_subproof(&s, 0, n, old->size, 1, path, max, &cnt) == -1)
		return -1;
	return cnt;
}

int
al_inclusion_verify(uint64_t index, uint64_t size,
    const unsigned char leaf[AL_HASH], const unsigned char (*path)[AL_HASH],
    int npath, const unsigned char root[AL_HASH])
{
	unsigned char r[AL_HASH];
	uint64_t fn, sn;

	if (index >= size)
		return -1;
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, AL_HASH);
	for (int i = 0; i < npath; i++) {
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			al_node_hash(path[i], r, r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else
			al_node_hash(r, path[i], r);
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r, root, AL_HASH) == 0 ? 0 : -1;
}

static int
is_pow2(uint64_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

int
al_consistency_verify(uint64_t m, uint64_t n,
    const unsigned char root1[AL_HASH], const unsigned char root2[AL_HASH],
    const unsigned char (*path)[AL_HASH], int npath)
{
	unsigned char fr[AL_HASH], sr[AL_HASH];
	uint64_t fn, sn;
	int i = 0;

	if (m > n)
		return -1;
	if (m == n)
		return npath == 0 && memcmp(root1, root2, AL_HASH) == 0 ?
		    0 : -1;
	if (m == 0)
		return npath == 0 ? 0 : -1;
	if (npath == 0)
		return -1;
	if (is_pow2(m)) {
		memcpy(fr, root1, AL_HASH);
		memcpy(sr, root1, AL_HASH);
	} else {
		memcpy(fr, path[0], AL_HASH);
		memcpy(sr, path[0], AL_HASH);
		i = 1;
	}
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < npath; i++) {
		if (sn == 0)
			return -1;
		if ((fn & 1) || fn == sn) {
			al_node_hash(path[i], fr, fr);
			al_node_hash(path[i], sr, sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else
			al_node_hash(sr, path[i], sr);
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(fr, root1, AL_HASH) == 0 &&
	    memcmp(sr, root2, AL_HASH) == 0 ? 0 : -1;
}

/* Ed25519 */

int
al_ed25519_keygen(unsigned char sk[32], unsigned char pk[AL_PK])
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *k = NULL;
	size_t skl = 32, pkl = AL_PK;
	int rc = -1;

	if (c != NULL && EVP_PKEY_keygen_init(c) == 1 &&
	    EVP_PKEY_keygen(c, &k) == 1 &&
	    EVP_PKEY_get_raw_private_key(k, sk, &skl) == 1 &&
	    EVP_PKEY_get_raw_public_key(k, pk, &pkl) == 1 &&
	    skl == 32 && pkl == AL_PK)
		rc = 0;
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(c);
	return rc;
}

int
al_ed25519_sign(const unsigned char sk[32], const void *msg, size_t len,
    unsigned char sig[AL_SIG])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk,
	    32);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	size_t sl = AL_SIG;
	int rc = -1;

	if (k != NULL && c != NULL &&
	    EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestSign(c, sig, &sl, msg, len) == 1 && sl == AL_SIG)
		rc = 0;
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return rc;
}

int
al_ed25519_verify(const unsigned char pk[AL_PK], const void *msg, size_t len,
    const unsigned char sig[AL_SIG])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk,
	    AL_PK);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int rc = -1;

	if (k != NULL && c != NULL &&
	    EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestVerify(c, sig, AL_SIG, msg, len) == 1)
		rc = 0;
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return rc;
}

/* SHA-256(name || "\n" || type || pk)[:4]: signed-note key ids. */
static void
keyid_typed(const char *name, unsigned char type,
    const unsigned char pk[AL_PK], unsigned char out[AL_KEYID])
{
	unsigned char h[AL_HASH];
	SHA256_CTX c;
	const unsigned char mid[2] = { '\n', type };

	SHA256_Init(&c);
	SHA256_Update(&c, name, strlen(name));
	SHA256_Update(&c, mid, 2);
	SHA256_Update(&c, pk, AL_PK);
	SHA256_Final(h, &c);
	memcpy(out, h, AL_KEYID);
}

void
al_keyid(const char *name, const unsigned char pk[AL_PK],
    unsigned char out[AL_KEYID])
{
	keyid_typed(name, AL_SIG_ED25519, pk, out);
}

/* Names in notes: no spaces, no '+', no control bytes. */
static int
name_ok(const char *s, size_t n)
{
	if (n == 0 || n >= AL_ORIGIN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f || s[i] == '+')
			return 0;
	return 1;
}

/* A signed-note verifier key "name+hex(keyid)+base64(type||pk)". */
static int
vkey_format(const char *name, unsigned char type,
    const unsigned char pk[AL_PK], char *out, size_t outlen)
{
	unsigned char id[AL_KEYID], raw[1 + AL_PK];
	char idh[2 * AL_KEYID + 1], b[64];
	int n;

	if (!name_ok(name, strlen(name)))
		return -1;
	keyid_typed(name, type, pk, id);
	al_hex(id, AL_KEYID, idh);
	raw[0] = type;
	memcpy(raw + 1, pk, AL_PK);
	al_b64_encode(raw, sizeof(raw), b, sizeof(b));
	n = snprintf(out, outlen, "%s+%s+%s", name, idh, b);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static int
vkey_parse(const char *s, unsigned char type, char *name, size_t namelen,
    unsigned char pk[AL_PK])
{
	const char *p1 = strchr(s, '+'), *p2;
	unsigned char id[AL_KEYID], want[AL_KEYID], raw[1 + AL_PK];
	size_t nl, bl;

	if (p1 == NULL || (p2 = strchr(p1 + 1, '+')) == NULL)
		return -1;
	nl = p1 - s;
	if (!name_ok(s, nl) || nl >= namelen || p2 - p1 - 1 != 8)
		return -1;
	memcpy(name, s, nl);
	name[nl] = '\0';
	if (al_unhex(p1 + 1, 8, id, AL_KEYID) == -1)
		return -1;
	bl = strcspn(p2 + 1, "\r\n");
	if (p2[1 + bl] != '\0' && strcmp(p2 + 1 + bl, "\n") != 0)
		return -1;
	if (al_b64_decode(p2 + 1, bl, raw, sizeof(raw)) != (ssize_t)sizeof(raw)
	    || raw[0] != type)
		return -1;
	memcpy(pk, raw + 1, AL_PK);
	keyid_typed(name, type, pk, want);
	return memcmp(id, want, AL_KEYID) == 0 ? 0 : -1;
}

int
al_vkey_format(const char *name, const unsigned char pk[AL_PK], char *out,
    size_t outlen)
{
	return vkey_format(name, AL_SIG_ED25519, pk, out, outlen);
}

int
al_vkey_parse(const char *s, char *name, size_t namelen,
    unsigned char pk[AL_PK])
{
	return vkey_parse(s, AL_SIG_ED25519, name, namelen, pk);
}

/* Checkpoints */

int
al_ckpt_sign(const struct al_ckpt *c, const unsigned char sk[32],
    const unsigned char pk[AL_PK], struct al_buf *out)
{
	char root[64], chain[64], prev[64], sb[128];
	unsigned char id[AL_KEYID], sig[AL_SIG], raw[AL_KEYID + AL_SIG];
	size_t start = out->len;

	al_b64_encode(c->root, AL_HASH, root, sizeof(root));
	al_b64_encode(c->chain, AL_HASH, chain, sizeof(chain));
	al_b64_encode(c->prev, AL_HASH, prev, sizeof(prev));
	al_buf_printf(out, "%s\n%llu\n%s\nepoch %llu\nchain %s\nprev %s\n"
	    "time %llu\n", c->origin, (unsigned long long)c->size, root,
	    (unsigned long long)c->epoch, chain, prev,
	    (unsigned long long)c->time_ns);
	if (al_ed25519_sign(sk, out->p + start, out->len - start, sig) == -1)
		return -1;
	al_keyid(c->origin, pk, id);
	memcpy(raw, id, AL_KEYID);
	memcpy(raw + AL_KEYID, sig, AL_SIG);
	al_b64_encode(raw, sizeof(raw), sb, sizeof(sb));
	al_buf_printf(out, "\n" AL_EMDASH " %s %s\n", c->origin, sb);
	return 0;
}

/* Parse a decimal without sign or leading zeros. */
static int
parse_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Next line of [p, end) without its LF; -1 if no LF. */
static int
next_line(const char **p, const char *end, const char **line, size_t *len)
{
	const char *nl = memchr(*p, '\n', end - *p);

	if (nl == NULL)
		return -1;
	*line = *p;
	*len = nl - *p;
	*p = nl + 1;
	return 0;
}

static int
kw_hash(const char *line, size_t len, const char *kw, unsigned char *out)
{
	size_t kl = strlen(kw);

	if (len < kl + 1 || memcmp(line, kw, kl) != 0 || line[kl] != ' ')
		return -1;
	return al_b64_decode(line + kl + 1, len - kl - 1, out, AL_HASH) ==
	    AL_HASH ? 0 : -1;
}

static int
kw_u64(const char *line, size_t len, const char *kw, uint64_t *out)
{
	size_t kl = strlen(kw);

	if (len < kl + 1 || memcmp(line, kw, kl) != 0 || line[kl] != ' ')
		return -1;
	return parse_u64(line + kl + 1, len - kl - 1, out);
}

int
al_ckpt_parse(const char *note, size_t len, struct al_ckpt *c, char *err,
    size_t errlen)
{
	const char *p = note, *end = note + len, *l;
	size_t ll;

	memset(c, 0, sizeof(*c));
#define BAD(m) do { snprintf(err, errlen, "checkpoint: %s", m); return -1; } \
	while (0)
	if (len == 0 || memchr(note, '\0', len) != NULL)
		BAD("empty or NUL byte");
	if (next_line(&p, end, &l, &ll) == -1 || !name_ok(l, ll))
		BAD("bad origin line");
	memcpy(c->origin, l, ll);
	c->origin[ll] = '\0';
	if (next_line(&p, end, &l, &ll) == -1 ||
	    parse_u64(l, ll, &c->size) == -1)
		BAD("bad size line");
	if (next_line(&p, end, &l, &ll) == -1 ||
	    al_b64_decode(l, ll, c->root, AL_HASH) != AL_HASH)
		BAD("bad root line");
	if (next_line(&p, end, &l, &ll) == -1 ||
	    kw_u64(l, ll, "epoch", &c->epoch) == -1)
		BAD("bad epoch line");
	if (next_line(&p, end, &l, &ll) == -1 ||
	    kw_hash(l, ll, "chain", c->chain) == -1)
		BAD("bad chain line");
	if (next_line(&p, end, &l, &ll) == -1 ||
	    kw_hash(l, ll, "prev", c->prev) == -1)
		BAD("bad prev line");
	if (next_line(&p, end, &l, &ll) == -1 ||
	    kw_u64(l, ll, "time", &c->time_ns) == -1)
		BAD("bad time line");
	c->bodylen = p - note;
	if (next_line(&p, end, &l, &ll) == -1 || ll != 0)
		BAD("no blank line after the body");
	if (p == end)
		BAD("no signature");
	while (p < end) {
		const char *nm, *sp;
		unsigned char raw[AL_KEYID + AL_SIG + 8];
		ssize_t rl;

		if (next_line(&p, end, &l, &ll) == -1)
			BAD("unterminated signature line");
		if (ll < 4 || memcmp(l, AL_EMDASH " ", 4) != 0)
			BAD("bad signature line");
		nm = l + 4;
		if ((sp = memchr(nm, ' ', l + ll - nm)) == NULL ||
		    !name_ok(nm, sp - nm))
			BAD("bad signature line");
		rl = al_b64_decode(sp + 1, l + ll - sp - 1, raw, sizeof(raw));
		if (rl < AL_KEYID + 1)
			BAD("bad signature encoding");
		if ((size_t)(sp - nm) == strlen(c->origin) &&
		    memcmp(nm, c->origin, sp - nm) == 0 &&
		    rl == AL_KEYID + AL_SIG && !c->have_sig) {
			memcpy(c->keyid, raw, AL_KEYID);
			memcpy(c->sig, raw + AL_KEYID, AL_SIG);
			c->have_sig = 1;
		}
	}
	if (!c->have_sig)
		BAD("no signature by the origin");
#undef BAD
	return 0;
}

int
al_ckpt_verify(const char *note, const struct al_ckpt *c,
    const unsigned char pk[AL_PK])
{
	unsigned char id[AL_KEYID];

	if (!c->have_sig)
		return -1;
	al_keyid(c->origin, pk, id);
	if (memcmp(id, c->keyid, AL_KEYID) != 0)
		return -1;
	return al_ed25519_verify(pk, note, c->bodylen, c->sig);
}

void
al_ckpt_body_hash(const char *note, const struct al_ckpt *c,
    unsigned char out[AL_HASH])
{
	SHA256((const unsigned char *)note, c->bodylen, out);
}

/*
 * The signed note inside a checkpoint frame whose framing may be damaged
 * (a flipped length, magic or CRC): the note starts right after the
 * fixed body header and runs over its seven body lines, the blank line
 * and every signature line.  0 and the span, or -1 if none is there.
 */
int
al_note_in_frame(const unsigned char *p, size_t n, const char **note,
    size_t *nlen)
{
	size_t start = 8 + AL_BODY_FIXED, pos = start;
	const unsigned char *nl;
	int sigs = 0;

	for (int lines = 0; lines < 8; lines++) {
		if (pos >= n || (nl = memchr(p + pos, '\n', n - pos)) == NULL)
			return -1;
		pos = nl - p + 1;
	}
	if (p[pos - 2] != '\n')
		return -1;		/* the eighth line is not blank */
	while (pos + 4 <= n && memcmp(p + pos, AL_EMDASH " ", 4) == 0 &&
	    (nl = memchr(p + pos, '\n', n - pos)) != NULL) {
		pos = nl - p + 1;
		sigs++;
	}
	if (sigs == 0)
		return -1;
	*note = (const char *)p + start;
	*nlen = pos - start;
	return 0;
}

/* Witness cosignatures (C2SP tlog-cosignature, cosignature/v1) */

int
al_cosig_vkey_format(const char *name, const unsigned char pk[AL_PK],
    char *out, size_t outlen)
{
	return vkey_format(name, AL_SIG_COSIG, pk, out, outlen);
}

int
al_cosig_vkey_parse(const char *s, char *name, size_t namelen,
    unsigned char pk[AL_PK])
{
	return vkey_parse(s, AL_SIG_COSIG, name, namelen, pk);
}

void
al_cosig_message(const char *body, size_t bodylen, uint64_t t,
    struct al_buf *out)
{
	al_buf_printf(out, "cosignature/v1\ntime %llu\n",
	    (unsigned long long)t);
	al_buf_put(out, body, bodylen);
}

void
al_cosig_line(const char *name, const unsigned char pk[AL_PK], uint64_t t,
    const unsigned char sig[AL_SIG], struct al_buf *out)
{
	unsigned char raw[AL_KEYID + 8 + AL_SIG];
	char b[160];

	keyid_typed(name, AL_SIG_COSIG, pk, raw);
	al_be64(raw + AL_KEYID, t);
	memcpy(raw + AL_KEYID + 8, sig, AL_SIG);
	al_b64_encode(raw, sizeof(raw), b, sizeof(b));
	al_buf_printf(out, AL_EMDASH " %s %s\n", name, b);
}

int
al_cosig_verify(const char *note, size_t len, const struct al_ckpt *c,
    const char *name, const unsigned char pk[AL_PK], uint64_t *t)
{
	const char *p = note + c->bodylen + 1, *end = note + len, *l;
	unsigned char id[AL_KEYID];
	size_t ll, nl = strlen(name);
	int ok = -1;

	keyid_typed(name, AL_SIG_COSIG, pk, id);
	if (c->bodylen + 1 > len)
		return -1;
	while (ok == -1 && next_line(&p, end, &l, &ll) == 0) {
		unsigned char raw[AL_KEYID + 8 + AL_SIG + 1];
		struct al_buf m = { 0 };
		uint64_t ts;

		if (ll < 4 + nl + 1 || memcmp(l, AL_EMDASH " ", 4) != 0 ||
		    memcmp(l + 4, name, nl) != 0 || l[4 + nl] != ' ' ||
		    al_b64_decode(l + 5 + nl, ll - 5 - nl, raw, sizeof(raw)) !=
		    AL_KEYID + 8 + AL_SIG || memcmp(raw, id, AL_KEYID) != 0)
			continue;
		ts = al_get64(raw + AL_KEYID);
		if (ts > INT64_MAX)
			continue;
		al_cosig_message(note, c->bodylen, ts, &m);
		if (al_ed25519_verify(pk, m.p, m.len, raw + AL_KEYID + 8) ==
		    0) {
			*t = ts;
			ok = 0;
		}
		al_buf_free(&m);
	}
	return ok;
}

/* Key certificates */

int
al_keycert_make(const char *origin, uint64_t epoch, uint64_t nb,
    const unsigned char pk[AL_PK], const unsigned char sk_prev[32],
    struct al_buf *out)
{
	char k[64], s[128];
	unsigned char sig[AL_SIG];
	size_t start = out->len;

	al_b64_encode(pk, AL_PK, k, sizeof(k));
	al_buf_printf(out, AL_KEYCERT_HEAD "origin %s\nepoch %llu\n"
	    "not_before %llu\nkey %s\n", origin, (unsigned long long)epoch,
	    (unsigned long long)nb, k);
	if (al_ed25519_sign(sk_prev, out->p + start, out->len - start, sig) ==
	    -1)
		return -1;
	al_b64_encode(sig, AL_SIG, s, sizeof(s));
	al_buf_printf(out, "sig %s\n", s);
	return 0;
}

int
al_keycert_parse(const char *t, size_t len, struct al_keycert *kc)
{
	const char *p = t, *end = t + len, *l;
	size_t ll, hl = sizeof(AL_KEYCERT_HEAD) - 1;

	memset(kc, 0, sizeof(*kc));
	if (len < hl || memcmp(t, AL_KEYCERT_HEAD, hl) != 0)
		return -1;
	p += hl;
	if (next_line(&p, end, &l, &ll) == -1 || ll < 8 ||
	    memcmp(l, "origin ", 7) != 0 || !name_ok(l + 7, ll - 7))
		return -1;
	memcpy(kc->origin, l + 7, ll - 7);
	kc->origin[ll - 7] = '\0';
	if (next_line(&p, end, &l, &ll) == -1 ||
	    kw_u64(l, ll, "epoch", &kc->epoch) == -1 ||
	    next_line(&p, end, &l, &ll) == -1 ||
	    kw_u64(l, ll, "not_before", &kc->not_before) == -1 ||
	    next_line(&p, end, &l, &ll) == -1 || ll < 5 ||
	    memcmp(l, "key ", 4) != 0 ||
	    al_b64_decode(l + 4, ll - 4, kc->pk, AL_PK) != AL_PK)
		return -1;
	kc->signed_len = p - t;
	if (next_line(&p, end, &l, &ll) == -1 || ll < 5 ||
	    memcmp(l, "sig ", 4) != 0 ||
	    al_b64_decode(l + 4, ll - 4, kc->sig, AL_SIG) != AL_SIG ||
	    p != end)
		return -1;
	return 0;
}

int
al_keycert_verify(const char *t, const struct al_keycert *kc,
    const unsigned char pk_prev[AL_PK])
{
	return al_ed25519_verify(pk_prev, t, kc->signed_len, kc->sig);
}

int
al_kv_get(const char *t, size_t len, const char *key, int nth, char *out,
    size_t outlen)
{
	const char *p = t, *end = t + len, *l;
	size_t ll, kl = strlen(key);

	while (next_line(&p, end, &l, &ll) == 0) {
		if (ll > kl && memcmp(l, key, kl) == 0 && l[kl] == ' ' &&
		    nth-- == 0) {
			if (ll - kl - 1 >= outlen)
				return -1;
			memcpy(out, l + kl + 1, ll - kl - 1);
			out[ll - kl - 1] = '\0';
			return 0;
		}
	}
	return -1;
}

int
al_kv_u64(const char *t, size_t len, const char *key, uint64_t *out)
{
	char v[32];

	if (al_kv_get(t, len, key, 0, v, sizeof(v)) == -1)
		return -1;
	return parse_u64(v, strlen(v), out);
}

/* Segments */

void
al_seghdr_encode(const struct al_seghdr *h, unsigned char out[AL_SEGHDR_LEN])
{
	memcpy(out, AL_SEG_MAGIC, 8);
	al_be32(out + 8, h->version);
	memcpy(out + 12, h->log_id, AL_LOGID);
	al_be64(out + 28, h->segno);
	al_be64(out + 36, h->first_seq);
	memcpy(out + 44, h->prev, AL_HASH);
	al_be32(out + 76, al_crc32c(0, out, 76));
}

int
al_seghdr_parse(const unsigned char *p, size_t len, struct al_seghdr *h)
{
	if (len < AL_SEGHDR_LEN || memcmp(p, AL_SEG_MAGIC, 8) != 0 ||
	    al_get32(p + 76) != al_crc32c(0, p, 76))
		return -1;
	h->version = al_get32(p + 8);
	memcpy(h->log_id, p + 12, AL_LOGID);
	h->segno = al_get64(p + 28);
	h->first_seq = al_get64(p + 36);
	memcpy(h->prev, p + 44, AL_HASH);
	return h->version == AL_VERSION ? 0 : -1;
}

void
al_seg_name(uint64_t segno, char *out, size_t outlen)
{
	snprintf(out, outlen, "%010llu.seg", (unsigned long long)segno);
}

static int
u64cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
al_seg_list(int dirfd, uint64_t **segnos, size_t *np)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint64_t *v = NULL;
	size_t n = 0;
	DIR *d;
	struct dirent *de;

	if (fd == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		uint64_t s;

		if (strlen(de->d_name) != 14 ||
		    strcmp(de->d_name + 10, ".seg") != 0)
			continue;
		s = 0;
		for (int i = 0; i < 10; i++) {
			if (de->d_name[i] < '0' || de->d_name[i] > '9')
				goto next;
			s = s * 10 + (de->d_name[i] - '0');
		}
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = s;
next:		;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), u64cmp);
	*segnos = v;
	*np = n;
	return 0;
}

int
al_read_file(int dirfd, const char *name, unsigned char **bufp, size_t *lenp)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	unsigned char *buf;
	size_t got = 0;

	if (fd == -1)
		return -1;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, sb.st_size - got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int e = errno;

			free(buf);
			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		got += n;
	}
	close(fd);
	buf[got] = '\0';
	*bufp = buf;
	*lenp = got;
	return 0;
}

/* JSON */

/* Length of the valid UTF-8 sequence at s, 0 if invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned int c = s[0], cp;
	size_t l;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		l = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		l = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		l = 4, cp = c & 0x07;
	else
		return 0;
	if (n < l)
		return 0;
	for (size_t i = 1; i < l; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((l == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (l == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return l;
}

static int
hex4(const unsigned char *s, size_t n, unsigned int *v)
{
	*v = 0;
	if (n < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(s[i]);

		if (h < 0)
			return -1;
		*v = *v << 4 | h;
	}
	return 0;
}

/* A string at s[*i] == '"'; advances past the closing quote. */
static const char *
json_string(const unsigned char *s, size_t n, size_t *i)
{
	size_t p = *i + 1;

	while (p < n) {
		unsigned char c = s[p];
		size_t l;

		if (c == '"') {
			*i = p + 1;
			return NULL;
		}
		if (c < 0x20 || c == 0x7f) {
			*i = p;
			return "control character";
		}
		if (c == '\\') {
			unsigned int u, u2;

			if (p + 1 >= n)
				break;
			switch (s[p + 1]) {
			case '"': case '\\': case '/': case 'b': case 'f':
			case 'n': case 'r': case 't':
				p += 2;
				continue;
			case 'u':
				if (hex4(s + p + 2, n - p - 2, &u) == -1) {
					*i = p;
					return "bad \\u escape";
				}
				p += 6;
				if (u >= 0xdc00 && u <= 0xdfff) {
					*i = p - 6;
					return "lone low surrogate";
				}
				if (u >= 0xd800 && u <= 0xdbff) {
					if (p + 1 >= n || s[p] != '\\' ||
					    s[p + 1] != 'u' ||
					    hex4(s + p + 2, n - p - 2, &u2) ==
					    -1 || u2 < 0xdc00 || u2 > 0xdfff) {
						*i = p - 6;
						return "lone high surrogate";
					}
					p += 6;
				}
				continue;
			default:
				*i = p;
				return "bad escape";
			}
		}
		if ((l = utf8_seq(s + p, n - p)) == 0) {
			*i = p;
			return "invalid UTF-8";
		}
		p += l;
	}
	*i = p;
	return "unterminated string";
}

static const char *
json_number(const unsigned char *s, size_t n, size_t *i)
{
	size_t p = *i;

#define DIG(x) ((x) >= '0' && (x) <= '9')
	if (p < n && s[p] == '-')
		p++;
	if (p >= n || !DIG(s[p])) {
		*i = p;
		return "bad number";
	}
	if (s[p] == '0')
		p++;
	else
		while (p < n && DIG(s[p]))
			p++;
	if (p < n && s[p] == '.') {
		p++;
		if (p >= n || !DIG(s[p])) {
			*i = p;
			return "bad number";
		}
		while (p < n && DIG(s[p]))
			p++;
	}
	if (p < n && (s[p] == 'e' || s[p] == 'E')) {
		p++;
		if (p < n && (s[p] == '+' || s[p] == '-'))
			p++;
		if (p >= n || !DIG(s[p])) {
			*i = p;
			return "bad number";
		}
		while (p < n && DIG(s[p]))
			p++;
	}
#undef DIG
	*i = p;
	return NULL;
}

static void
skip_ws(const unsigned char *s, size_t n, size_t *i)
{
	while (*i < n && s[*i] == ' ')
		(*i)++;
}

int
al_json_check(const char *buf, size_t n, size_t *at, char *why,
    size_t whylen)
{
	const unsigned char *s = (const unsigned char *)buf;
	char stack[AL_JSON_DEPTH];
	int depth = 0;
	size_t i = 0;
	const char *e = NULL;

	if (n > AL_EVENT_MAX) {
		*at = AL_EVENT_MAX;
		snprintf(why, whylen, "event of %zu bytes exceeds %d", n,
		    AL_EVENT_MAX);
		return -1;
	}
	skip_ws(s, n, &i);
	if (i >= n || s[i] != '{') {
		e = "not a JSON object";
		goto bad;
	}
	for (;;) {
		/* A value is expected at s[i]. */
		skip_ws(s, n, &i);
		if (i >= n) {
			e = "unexpected end";
			goto bad;
		}
		switch (s[i]) {
		case '{':
		case '[':
			if (depth == AL_JSON_DEPTH) {
				e = "nested too deeply";
				goto bad;
			}
			stack[depth++] = s[i++];
			skip_ws(s, n, &i);
			if (i < n && s[i] == (stack[depth - 1] == '{' ? '}' :
			    ']')) {
				i++;
				depth--;
				goto after;
			}
			if (stack[depth - 1] == '{')
				goto key;
			continue;
		case '"':
			if ((e = json_string(s, n, &i)) != NULL)
				goto bad;
			goto after;
		case 't':
		case 'f':
		case 'n': {
			const char *lit = s[i] == 't' ? "true" : s[i] == 'f' ?
			    "false" : "null";
			size_t ll = strlen(lit);

			if (n - i < ll || memcmp(s + i, lit, ll) != 0) {
				e = "bad literal";
				goto bad;
			}
			i += ll;
			goto after;
		}
		default:
			if (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')) {
				if ((e = json_number(s, n, &i)) != NULL)
					goto bad;
				goto after;
			}
			e = s[i] < 0x20 || s[i] == 0x7f ? "control character" :
			    "unexpected character";
			goto bad;
		}
after:
		skip_ws(s, n, &i);
		if (depth == 0) {
			if (i != n) {
				e = s[i] < 0x20 || s[i] == 0x7f ?
				    "control character" : "trailing garbage";
				goto bad;
			}
			return 0;
		}
		if (i >= n) {
			e = "unexpected end";
			goto bad;
		}
		if (s[i] == ',') {
			i++;
			if (stack[depth - 1] == '{')
				goto key;
			continue;
		}
		if (s[i] == (stack[depth - 1] == '{' ? '}' : ']')) {
			i++;
			depth--;
			goto after;
		}
		e = s[i] < 0x20 || s[i] == 0x7f ? "control character" :
		    "expected ',' or end of container";
		goto bad;
key:
		skip_ws(s, n, &i);
		if (i >= n || s[i] != '"') {
			e = "expected a member name";
			goto bad;
		}
		if ((e = json_string(s, n, &i)) != NULL)
			goto bad;
		skip_ws(s, n, &i);
		if (i >= n || s[i] != ':') {
			e = "expected ':'";
			goto bad;
		}
		i++;
	}
bad:
	*at = i;
	snprintf(why, whylen, "%s at byte %zu", e, i);
	return -1;
}

/* Skip one valid value at s[*i]. */
static void
skip_value(const unsigned char *s, size_t n, size_t *i)
{
	int depth = 0;

	skip_ws(s, n, i);
	if (*i < n && s[*i] != '{' && s[*i] != '[') {
		if (s[*i] == '"')
			json_string(s, n, i);
		else
			while (*i < n && s[*i] != ',' && s[*i] != '}' &&
			    s[*i] != ']' && s[*i] != ' ')
				(*i)++;
		return;
	}
	while (*i < n) {
		unsigned char c = s[*i];

		if (c == '"')
			json_string(s, n, i);
		else {
			if (c == '{' || c == '[')
				depth++;
			else if (c == '}' || c == ']')
				depth--;
			(*i)++;
		}
		if (depth == 0)
			return;
	}
}

int
al_json_member(const char *buf, size_t n, const char *key, const char **val,
    size_t *vallen)
{
	const char *v;
	size_t vl;

	/* A string member only: its text follows the opening quote. */
	if (strchr(key, '.') != NULL || !al_json_get(buf, n, key, &v, &vl) ||
	    v == buf || v[-1] != '"')
		return 0;
	*val = v;
	*vallen = vl;
	return 1;
}

/*
 * The raw text of the member at a dotted path of nested objects ("a.b"):
 * a string's inside (still escaped), or any other value as written.
 * 1 found, 0 not.  Bounded by n on any input.
 */
int
al_json_get(const char *buf, size_t n, const char *path, const char **val,
    size_t *vallen)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0;
	const char *key = path;

	for (;;) {
		const char *dot = strchr(key, '.');
		size_t kl = dot ? (size_t)(dot - key) : strlen(key);
		int found = 0;

		skip_ws(s, n, &i);
		if (i >= n || s[i] != '{')
			return 0;
		i++;
		for (;;) {
			size_t ks, ke;

			skip_ws(s, n, &i);
			if (i >= n || s[i] != '"')
				return 0;
			ks = i + 1;
			if (json_string(s, n, &i) != NULL)
				return 0;
			ke = i - 1;
			skip_ws(s, n, &i);
			if (i >= n || s[i] != ':')
				return 0;
			i++;
			skip_ws(s, n, &i);
			if (ke - ks == kl && memcmp(s + ks, key, kl) == 0) {
				found = 1;
				break;
			}
			skip_value(s, n, &i);
			skip_ws(s, n, &i);
			if (i >= n || s[i] != ',')
				return 0;
			i++;
		}
		if (!found)
			return 0;
		if (dot == NULL) {
			size_t vs = i;

			if (i < n && s[i] == '"') {
				if (json_string(s, n, &i) != NULL)
					return 0;
				*val = buf + vs + 1;
				*vallen = i - vs - 2;
			} else {
				skip_value(s, n, &i);
				if (i > n || i == vs)
					return 0;
				*val = buf + vs;
				*vallen = i - vs;
			}
			return 1;
		}
		key = dot + 1;
	}
}

/*
 * Decode the inside of a JSON string (escapes, \u with surrogate pairs,
 * to UTF-8).  The result is NUL-terminated; -1 if malformed or longer
 * than max-1.
 */
ssize_t
al_json_unescape(const char *in, size_t n, char *out, size_t max)
{
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		unsigned int c = (unsigned char)in[i];

		if (c != '\\') {
			if (o + 1 >= max)
				return -1;
			out[o++] = c;
			i++;
			continue;
		}
		if (i + 1 >= n)
			return -1;
		switch (in[i + 1]) {
		case '"': case '\\': case '/':
			c = in[i + 1];
			break;
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case 'u': {
			unsigned int lo;

			if (hex4((const unsigned char *)in + i + 2, n - i - 2,
			    &c) == -1)
				return -1;
			if (c >= 0xd800 && c <= 0xdbff) {
				if (i + 12 > n || in[i + 6] != '\\' ||
				    in[i + 7] != 'u' || hex4((const unsigned
				    char *)in + i + 8, n - i - 8, &lo) == -1 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return -1;
				c = 0x10000 + ((c - 0xd800) << 10) +
				    (lo - 0xdc00);
				i += 6;
			} else if (c >= 0xdc00 && c <= 0xdfff)
				return -1;
			i += 4;
			break;
		}
		default:
			return -1;
		}
		i += 2;
		if (o + 5 >= max)
			return -1;
		if (c < 0x80)
			out[o++] = c;
		else if (c < 0x800) {
			out[o++] = 0xc0 | c >> 6;
			out[o++] = 0x80 | (c & 0x3f);
		} else if (c < 0x10000) {
			out[o++] = 0xe0 | c >> 12;
			out[o++] = 0x80 | ((c >> 6) & 0x3f);
			out[o++] = 0x80 | (c & 0x3f);
		} else {
			out[o++] = 0xf0 | c >> 18;
			out[o++] = 0x80 | ((c >> 12) & 0x3f);
			out[o++] = 0x80 | ((c >> 6) & 0x3f);
			out[o++] = 0x80 | (c & 0x3f);
		}
	}
	out[o] = '\0';
	return o;
}
