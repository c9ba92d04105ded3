/* SPDX-License-Identifier: ISC */
/*
 * The sealed audit log (spec/audit.md §5, doc/AUDIT.md): one
 * implementation of the on-disk format, the hash chain, the RFC 6962
 * Merkle tree with inclusion and consistency proofs, C2SP signed-note
 * checkpoints (Ed25519), key certificates, verifier keys, and the strict
 * JSON check of events.  audit-sign writes with it, audit-verify and
 * audit-export read with it.
 *
 * Segment file:  header (AL_SEGHDR_LEN) then frames.
 * Frame:         "OAF1" len(BE32) body[len] chain(32) crc32c(BE32)
 * Body:          type flags rsvd(2) seq(BE64) time_ns(BE64) uid gid pid
 *                (BE32 each) srclen(BE16) src[srclen] payload
 * Leaf:          SHA-256(0x00 || "octo-audit/v1\0" || body)
 * Chain:         c_i = SHA-256(0x02 || c_{i-1} || leaf_i),
 *                c_{-1} = SHA-256("octo-audit/v1 chain" || log_id)
 * Checkpoint frames (type AL_CHECKPOINT) are not leaves: their payload
 * is the signed note, their seq the tree size they cover.
 */
#ifndef OCTO_AUDITLOG_H
#define OCTO_AUDITLOG_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#define AL_HASH		32
#define AL_LOGID	16
#define AL_PK		32
#define AL_SIG		64
#define AL_KEYID	4
#define AL_FRAME_MAGIC	"OAF1"
#define AL_SEG_MAGIC	"OCTOASEG"
#define AL_SEGHDR_LEN	80
#define AL_BODY_FIXED	34	/* body bytes before src */
#define AL_FRAME_OVER	44	/* magic, len, chain, crc */
#define AL_BODY_MAX	(1024 * 1024)
#define AL_SRC_MAX	1024
#define AL_EVENT_MAX	(64 * 1024)
#define AL_ORIGIN_MAX	256
#define AL_JSON_DEPTH	64
#define AL_TREE_MAXH	64
#define AL_VERSION	1
#define AL_SIG_ED25519	0x01	/* signed-note key type: the log's keys */
#define AL_SIG_COSIG	0x04	/* tlog-cosignature/v1 Ed25519 witness keys */

enum al_type {
	AL_RECORD = 1,		/* a producer's event (JSON) */
	AL_KEYCERT = 2,		/* next epoch key, signed by the current one */
	AL_BOOT = 3,		/* a start of audit-sign */
	AL_SEGLINK = 4,		/* first leaf of every segment */
	AL_GAP = 5,
	AL_RECOVERY = 6,	/* unsealed frames kept after a crash */
	AL_WITNESS = 7,
	AL_PRUNE = 8,
	AL_CHECKPOINT = 16	/* signed note; not a leaf */
};

/* al_frame_parse() results. */
#define AL_OK		0
#define AL_SHORT	1	/* not enough bytes (a torn or growing tail) */
#define AL_BADMAGIC	2
#define AL_BADLEN	3
#define AL_BADCRC	4
#define AL_BADBODY	5	/* CRC fine, fields inconsistent */

/* A growable byte buffer. */
struct al_buf {
	unsigned char	*p;
	size_t		 len, cap;
};

void	al_buf_put(struct al_buf *, const void *, size_t);
void	al_buf_puts(struct al_buf *, const char *);
void	al_buf_printf(struct al_buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	al_buf_free(struct al_buf *);

/* A parsed frame; pointers point into the parsed buffer. */
struct al_frame {
	uint8_t		 type, flags;
	uint64_t	 seq, time_ns;
	uint32_t	 uid, gid, pid;
	const char	*src;
	size_t		 srclen;
	const char	*payload;
	size_t		 paylen;
	const unsigned char *body;
	size_t		 bodylen;
	unsigned char	 chain[AL_HASH];
	size_t		 framelen;
};

int	al_frame_parse(const void *buf, size_t len, struct al_frame *);
/*
 * After al_frame_parse() returned rc for the n bytes at p, the end of a
 * log: 1 if they are a torn write (a prefix of a frame, its length
 * reaching past the end, or zeros), 0 if damage (a whole frame with a
 * bad CRC, a bad magic or length).
 */
int	al_tail_torn(const unsigned char *p, size_t n, int rc);
const char *al_frame_error(int);
/* Append the frame (body from f's fields, f->chain) to out. */
void	al_frame_encode(struct al_buf *out, const struct al_frame *);
/*
 * Append a leaf frame: its leaf hash and the chain step from prev are
 * computed, stored in the frame and returned in leaf and chain.
 */
void	al_leaf_append(struct al_buf *out, const struct al_frame *,
	    const unsigned char prev[AL_HASH], unsigned char leaf[AL_HASH],
	    unsigned char chain[AL_HASH]);
const char *al_type_name(int type);

/* Hashing. */
void	al_sha256(const void *, size_t, unsigned char out[AL_HASH]);
void	al_leaf_hash(const struct al_frame *, unsigned char out[AL_HASH]);
void	al_chain_init(const unsigned char log_id[AL_LOGID],
	    unsigned char out[AL_HASH]);
void	al_chain_step(const unsigned char prev[AL_HASH],
	    const unsigned char leaf[AL_HASH], unsigned char out[AL_HASH]);
void	al_node_hash(const unsigned char l[AL_HASH],
	    const unsigned char r[AL_HASH], unsigned char out[AL_HASH]);
uint32_t al_crc32c(uint32_t crc, const void *, size_t);

/* Encodings. */
size_t	al_b64_encode(const unsigned char *, size_t, char *out, size_t outlen);
/* Strict standard base64; -1 if bad or longer than max. */
ssize_t	al_b64_decode(const char *, size_t, unsigned char *out, size_t max);
void	al_hex(const unsigned char *, size_t, char *out);
int	al_unhex(const char *, size_t, unsigned char *out, size_t n);
void	al_be32(unsigned char *, uint32_t);
void	al_be64(unsigned char *, uint64_t);
uint32_t al_get32(const unsigned char *);
uint64_t al_get64(const unsigned char *);

/*
 * The RFC 6962 tree as the writer keeps it: the compact range (one
 * perfect subtree hash per set bit of size, largest first).
 */
struct al_tree {
	uint64_t	 size;
	int		 n;
	unsigned char	 h[AL_TREE_MAXH][AL_HASH];
};

void	al_tree_init(struct al_tree *);
void	al_tree_append(struct al_tree *, const unsigned char leaf[AL_HASH]);
void	al_tree_root(const struct al_tree *, unsigned char out[AL_HASH]);
/* Merkle Tree Hash of leaves[0..n) (RFC 6962 §2.1). */
void	al_mth(const unsigned char (*leaves)[AL_HASH], uint64_t n,
	    unsigned char out[AL_HASH]);
/* RFC 9162 §2.1.3.1 / §2.1.4.1: returns the number of hashes, -1 bad. */
int	al_inclusion_proof(const unsigned char (*leaves)[AL_HASH], uint64_t n,
	    uint64_t m, unsigned char (*path)[AL_HASH], int max);
int	al_consistency_proof(const unsigned char (*leaves)[AL_HASH],
	    uint64_t n, uint64_t m, unsigned char (*path)[AL_HASH], int max);
/*
 * The same proof from old->size to n without every leaf: old is the
 * compact range at the old size, nl the leaf hashes from there to n.
 */
int	al_consistency_proof_cr(const struct al_tree *old,
	    const unsigned char (*nl)[AL_HASH], uint64_t n,
	    unsigned char (*path)[AL_HASH], int max);
/* RFC 9162 §2.1.3.2 / §2.1.4.2: 0 valid, -1 not. */
int	al_inclusion_verify(uint64_t index, uint64_t size,
	    const unsigned char leaf[AL_HASH],
	    const unsigned char (*path)[AL_HASH], int npath,
	    const unsigned char root[AL_HASH]);
int	al_consistency_verify(uint64_t m, uint64_t n,
	    const unsigned char root1[AL_HASH],
	    const unsigned char root2[AL_HASH],
	    const unsigned char (*path)[AL_HASH], int npath);

/* Ed25519 (OpenSSL EVP). */
int	al_ed25519_keygen(unsigned char sk[32], unsigned char pk[AL_PK]);
int	al_ed25519_sign(const unsigned char sk[32], const void *, size_t,
	    unsigned char sig[AL_SIG]);
int	al_ed25519_verify(const unsigned char pk[AL_PK], const void *, size_t,
	    const unsigned char sig[AL_SIG]);
/* C2SP signed-note key id: SHA-256(name || "\n" || 0x01 || pk)[:4]. */
void	al_keyid(const char *name, const unsigned char pk[AL_PK],
	    unsigned char out[AL_KEYID]);
/* Verifier key "name+hex(keyid)+base64(0x01||pk)". */
int	al_vkey_format(const char *name, const unsigned char pk[AL_PK],
	    char *out, size_t outlen);
int	al_vkey_parse(const char *s, char *name, size_t namelen,
	    unsigned char pk[AL_PK]);

/* A checkpoint: C2SP tlog-checkpoint with our extension lines. */
struct al_ckpt {
	char		 origin[AL_ORIGIN_MAX];
	uint64_t	 size;
	unsigned char	 root[AL_HASH];
	uint64_t	 epoch;
	unsigned char	 chain[AL_HASH];
	unsigned char	 prev[AL_HASH];
	uint64_t	 time_ns;
	size_t		 bodylen;	/* bytes of the signed body */
	unsigned char	 keyid[AL_KEYID];
	unsigned char	 sig[AL_SIG];
	int		 have_sig;	/* a signature line by origin */
};

/* Append the signed note for c (body, blank line, signature line). */
int	al_ckpt_sign(const struct al_ckpt *, const unsigned char sk[32],
	    const unsigned char pk[AL_PK], struct al_buf *out);
int	al_ckpt_parse(const char *note, size_t len, struct al_ckpt *,
	    char *err, size_t errlen);
/* 0: the signature by origin verifies under pk (key id too). */
int	al_ckpt_verify(const char *note, const struct al_ckpt *,
	    const unsigned char pk[AL_PK]);
/* SHA-256 of the note's body, the "prev" of the next checkpoint. */
void	al_ckpt_body_hash(const char *note, const struct al_ckpt *,
	    unsigned char out[AL_HASH]);

/*
 * Witness cosignatures, C2SP tlog-cosignature v1 (Ed25519): key id
 * SHA-256(name || "\n" || 0x04 || pk)[:4], vkey type 0x04, the line
 * "— <name> base64(keyid || BE64(time) || sig)" over the message
 * "cosignature/v1\ntime <time>\n" || the checkpoint's body.
 */
int	al_cosig_vkey_format(const char *name, const unsigned char pk[AL_PK],
	    char *out, size_t outlen);
int	al_cosig_vkey_parse(const char *s, char *name, size_t namelen,
	    unsigned char pk[AL_PK]);
void	al_cosig_message(const char *body, size_t bodylen, uint64_t t,
	    struct al_buf *out);
void	al_cosig_line(const char *name, const unsigned char pk[AL_PK],
	    uint64_t t, const unsigned char sig[AL_SIG], struct al_buf *out);
/* 0 and *t if the note (len bytes, parsed into c) carries a valid
 * cosignature by name and pk; -1 if not. */
int	al_cosig_verify(const char *note, size_t len, const struct al_ckpt *,
	    const char *name, const unsigned char pk[AL_PK], uint64_t *t);

/* The note in a (possibly damaged) checkpoint frame; 0 found, -1 not. */
int	al_note_in_frame(const unsigned char *, size_t, const char **note,
	    size_t *nlen);

/* Key certificate: the next epoch's public key, signed by the current. */
struct al_keycert {
	char		 origin[AL_ORIGIN_MAX];
	uint64_t	 epoch;
	uint64_t	 not_before;
	unsigned char	 pk[AL_PK];
	unsigned char	 sig[AL_SIG];
	size_t		 signed_len;
};

int	al_keycert_make(const char *origin, uint64_t epoch, uint64_t nb,
	    const unsigned char pk[AL_PK], const unsigned char sk_prev[32],
	    struct al_buf *out);
int	al_keycert_parse(const char *, size_t, struct al_keycert *);
int	al_keycert_verify(const char *, const struct al_keycert *,
	    const unsigned char pk_prev[AL_PK]);

/* "key value" lines of the internal leaves (SEGLINK, BOOT, RECOVERY). */
int	al_kv_get(const char *text, size_t len, const char *key, int nth,
	    char *out, size_t outlen);
int	al_kv_u64(const char *text, size_t len, const char *key,
	    uint64_t *out);

/* Segment header. */
struct al_seghdr {
	uint32_t	 version;
	unsigned char	 log_id[AL_LOGID];
	uint64_t	 segno;
	uint64_t	 first_seq;
	unsigned char	 prev[AL_HASH];	/* body hash of the last checkpoint */
};

void	al_seghdr_encode(const struct al_seghdr *,
	    unsigned char out[AL_SEGHDR_LEN]);
int	al_seghdr_parse(const unsigned char *, size_t, struct al_seghdr *);
/* "0000000001.seg" */
void	al_seg_name(uint64_t segno, char *out, size_t outlen);
/* The segment numbers in dirfd, sorted; -1 and errno on error. */
int	al_seg_list(int dirfd, uint64_t **segnos, size_t *n);
/* Read a whole file below dirfd (no links followed). */
int	al_read_file(int dirfd, const char *name, unsigned char **buf,
	    size_t *len);

/*
 * Events: one JSON object (RFC 8259), valid UTF-8, no control bytes,
 * nesting at most AL_JSON_DEPTH, at most AL_EVENT_MAX bytes.
 * 0 valid; -1 with why (and *at, the byte offset).
 */
int	al_json_check(const char *, size_t, size_t *at, char *why,
	    size_t whylen);
/* A top-level string member's raw (still escaped) text; 1 found. */
int	al_json_member(const char *, size_t, const char *key,
	    const char **val, size_t *vallen);
/* The raw text of the member at a dotted path ("octo.data"); 1 found. */
int	al_json_get(const char *, size_t, const char *path,
	    const char **val, size_t *vallen);
/* A JSON string's inside decoded to UTF-8 (NUL-terminated); -1 bad. */
ssize_t	al_json_unescape(const char *, size_t, char *out, size_t max);

#endif
