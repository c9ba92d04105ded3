/* SPDX-License-Identifier: ISC */
/*
 * Envelope stamps: the stage that writes an envelope signs it, so that
 * the facts in it (the connection, agent-auth's decision) can be
 * believed wherever the item travels: through a queue, a pipe, another
 * node.  The stamp is the envelope's last line,
 *
 *	Stamp: <signer> <key id> <base64 Ed25519 signature>
 *
 * and signs "octospool-stamp 1\n<signer>\n" followed by every byte of
 * the envelope before the Stamp line (its Sha256 line binds the body).
 * See octospool-spool(5).
 */
#ifndef OCTO_STAMP_H
#define OCTO_STAMP_H

#include <stddef.h>

#include <openssl/evp.h>

#include "envelope.h"
#include "sig.h"

#define STAMP_DOMAIN	"octospool-stamp 1\n"
#define STAMP_KEYS_MAX	8	/* public keys per trust list (rotation) */
#define STAMP_B64_LEN	88	/* base64 of SIG_LEN bytes */

/* The stage's private key. */
struct stamp_signer {
	EVP_PKEY	*key;
	char		 keyid[SIG_KEYID_LEN + 1];
	char		 name[ENVELOPE_SIGNER_MAX];
};

/* The public keys a consumer believes for one signer. */
struct stamp_keys {
	EVP_PKEY	*key[STAMP_KEYS_MAX];
	char		 keyid[STAMP_KEYS_MAX][SIG_KEYID_LEN + 1];
	int		 n;
	char		 name[ENVELOPE_SIGNER_MAX];
};

/* Load the signer's private key from path; -1 with err. */
int	stamp_signer_load(struct stamp_signer *, const char *signer,
	    const char *path, char *err, size_t errlen);
void	stamp_signer_free(struct stamp_signer *);
/* Load one or more public keys (a space-separated list of files). */
int	stamp_keys_load(struct stamp_keys *, const char *signer,
	    const char *paths, char *err, size_t errlen);
void	stamp_keys_free(struct stamp_keys *);
/*
 * Fill the Stamp placeholder that envelope_format() reserved at
 * stamp_off in hdr (the envelope as it will be written, Sha256 filled
 * in): sign hdr[0..stamp_off) and write the line's value in place.
 */
int	stamp_fill(const struct stamp_signer *, char *hdr, size_t hdrlen,
	    size_t stamp_off);
/*
 * Check the stamp of a parsed envelope (data: the item's bytes): signed
 * by keys' signer with one of its keys, and its Sha256 equal to
 * body_sha (64 hex digits of the body's digest).  1 valid; 0 no stamp;
 * -1 invalid, with the reason in err.
 */
int	stamp_check(const struct stamp_keys *, const char *data,
	    const struct envelope *, const char *body_sha, char *err,
	    size_t errlen);
/* SHA-256 of buf as 64 lowercase hex digits and a NUL. */
void	stamp_sha256_hex(const void *buf, size_t len, char hex[65]);

#endif
