/* SPDX-License-Identifier: ISC */
/*
 * Ed25519 keys and signatures: PEM key files (private keys readable by
 * their owner only), raw 64-byte signatures over the message bytes.
 */
#ifndef OCTO_SIG_H
#define OCTO_SIG_H

#include <sys/types.h>

#include <stddef.h>

#include <openssl/evp.h>

#define SIG_LEN		64	/* Ed25519 signature */
#define SIG_KEYID_LEN	16	/* hex digits of a key id */

EVP_PKEY *sig_load_private(const char *path, char *err, size_t errlen);
EVP_PKEY *sig_load_public(const char *path, char *err, size_t errlen);
int	 sig_sign(EVP_PKEY *, const void *, size_t, unsigned char *sig);
/* 1 valid, 0 not. */
int	 sig_verify(EVP_PKEY *, const void *, size_t, const unsigned char *,
	    size_t siglen);
/* A new key pair as PEM files (private 0600, public 0644), owned by uid
 * and gid unless uid is -1; force replaces existing files. */
int	 sig_keygen(const char *priv, const char *pub, uid_t, gid_t,
	    int force, char *err, size_t errlen);
/* The key id: the first 8 bytes of SHA-256 of the raw public key, in
 * hex (SIG_KEYID_LEN digits and a NUL); -1 on error. */
int	 sig_keyid(EVP_PKEY *, char id[SIG_KEYID_LEN + 1]);

#endif
