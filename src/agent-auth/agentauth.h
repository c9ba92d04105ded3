/* SPDX-License-Identifier: ISC */
/* agent-auth: shared declarations of its files.  See agent-auth(8). */
#ifndef AGENTAUTH_H
#define AGENTAUTH_H

#include <stddef.h>

/*
 * New hashes: scrypt N=2^15, r=8, p=3 (32 MiB), one of OWASP's
 * equivalent settings to N=2^17, r=8, p=1 (128 MiB) at a quarter of the
 * memory.  Verification accepts any of OWASP's pairs (aa_kdf_derive).
 */
#define AA_SCRYPT_N	32768ULL	/* 2^15 */
#define AA_SCRYPT_P	3
#define AA_SALT_LEN	16
#define AA_HASH_LEN	32

int	aa_kdf_derive(const char *kdf, const char *params,
	    const unsigned char *salt, size_t saltlen, const char *pw,
	    size_t pwlen, unsigned char *out, size_t outlen);
int	aa_kdf_new(const char *pw, size_t pwlen, char *kdf, size_t kdflen,
	    char *params, size_t paramslen, unsigned char *salt,
	    size_t saltlen, unsigned char *hash, size_t hashlen);
/* The stored parameters are ones we verify with (OWASP's minimums). */
int	aa_kdf_params_ok(const char *kdf, const char *params);
int	aa_kdf_verify(const char *kdf, const char *params,
	    const unsigned char *salt, size_t saltlen,
	    const unsigned char *hash, size_t hashlen, const char *pw,
	    size_t pwlen);

struct conf;
struct audit_buf;
struct aa_admin_ctx {
	const struct conf *conf;
	const char	*audit_spool;
	int		 audit;
};
int	aa_admin(const struct aa_admin_ctx *, int argc, char **argv,
	    long max, int have_max, int cn);

/* Shared helpers (main.c). */
void	aa_audit_raw(struct audit_buf *, const char *s);
int	aa_audit_commit(const char *audit_spool, struct audit_buf *);

#endif
