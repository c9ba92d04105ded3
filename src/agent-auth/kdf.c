/* SPDX-License-Identifier: ISC */
/*
 * Group password hashing for agent-auth: scrypt (new hashes) and
 * PBKDF2-HMAC-SHA256 (verify only) through OpenSSL's EVP_KDF, with
 * parameters never below OWASP's minimums.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "agentauth.h"

/* The least p OWASP accepts with r=8 for this N (a power of two). */
static unsigned int
scrypt_min_p(uint64_t n)
{
	if (n >= (1ULL << 17))
		return 1;
	if (n == (1ULL << 16))
		return 2;
	if (n == (1ULL << 15))
		return 3;
	if (n == (1ULL << 14))
		return 5;
	return 10;			/* 2^13 */
}

/*
 * Parse and check kdf/params: scrypt N, r, p or PBKDF2's iterations,
 * never below OWASP's minimums, bounded above.  0 good, -1 not.
 */
static int
kdf_parse(const char *kdf, const char *params, uint64_t *n, unsigned *r,
    unsigned *par, unsigned *iter)
{
	if (strcmp(kdf, "scrypt") == 0) {
		unsigned long long nn;

		if (sscanf(params, "N=%llu,r=%u,p=%u", &nn, r, par) != 3)
			return -1;
		*n = nn;
		/*
		 * OWASP's minimum: N=2^17 with p=1, or one of its
		 * equivalents N=2^16 p=2, 2^15 p=3, 2^14 p=5, 2^13 p=10
		 * (r=8 in all); bounded above.
		 */
		if (*n < (1ULL << 13) || *n > (1ULL << 22) ||
		    (*n & (*n - 1)) != 0 || *r < 8 || *r > 32 || *par < 1 ||
		    *par > 16 || *par < scrypt_min_p(*n))
			return -1;
		return 0;
	}
	if (strcmp(kdf, "pbkdf2-sha256") == 0)
		return sscanf(params, "i=%u", iter) == 1 && *iter >= 600000 &&
		    *iter <= 100000000 ? 0 : -1;
	return -1;
}

int
aa_kdf_params_ok(const char *kdf, const char *params)
{
	uint64_t n;
	unsigned r, par, iter;

	return kdf_parse(kdf, params, &n, &r, &par, &iter) == 0;
}

/* Derive outlen bytes with kdf/params; -1 on bad parameters or error. */
int
aa_kdf_derive(const char *kdf, const char *params, const unsigned char *salt,
    size_t saltlen, const char *pw, size_t pwlen, unsigned char *out,
    size_t outlen)
{
	OSSL_PARAM p[8], *pp = p;
	EVP_KDF *k = NULL;
	EVP_KDF_CTX *c = NULL;
	uint64_t n = 0, maxmem = 0;
	unsigned int r = 0, par = 0, iter = 0;
	static const char pwempty[1] = "";
	char md[] = "SHA256";
	int rc = -1;

	if (saltlen < 16 || outlen < 32 ||
	    kdf_parse(kdf, params, &n, &r, &par, &iter) == -1)
		return -1;
	if (strcmp(kdf, "scrypt") == 0) {
		maxmem = 128ULL * r * n * 2 + (1ULL << 20);
		k = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
		*pp++ = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
		*pp++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
		*pp++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P,
		    &par);
		*pp++ = OSSL_PARAM_construct_uint64(
		    OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	} else {
		k = EVP_KDF_fetch(NULL, "PBKDF2", NULL);
		*pp++ = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_ITER, &iter);
		*pp++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
		    md, 0);
	}
	*pp++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
	    (void *)(pwlen ? pw : pwempty), pwlen);
	*pp++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)salt, saltlen);
	*pp = OSSL_PARAM_construct_end();
	if (k != NULL && (c = EVP_KDF_CTX_new(k)) != NULL &&
	    EVP_KDF_derive(c, out, outlen, p) == 1)
		rc = 0;
	EVP_KDF_CTX_free(c);
	EVP_KDF_free(k);
	return rc;
}

/* A new hash of pw with a fresh salt and the default scrypt cost. */
int
aa_kdf_new(const char *pw, size_t pwlen, char *kdf, size_t kdflen,
    char *params, size_t paramslen, unsigned char *salt, size_t saltlen,
    unsigned char *hash, size_t hashlen)
{
	snprintf(kdf, kdflen, "scrypt");
	snprintf(params, paramslen, "N=%llu,r=8,p=%d",
	    (unsigned long long)AA_SCRYPT_N, AA_SCRYPT_P);
	if (RAND_bytes(salt, (int)saltlen) != 1)
		return -1;
	return aa_kdf_derive(kdf, params, salt, saltlen, pw, pwlen, hash,
	    hashlen);
}

/* 1 if pw matches the stored hash, 0 if not, -1 on bad parameters. */
int
aa_kdf_verify(const char *kdf, const char *params, const unsigned char *salt,
    size_t saltlen, const unsigned char *hash, size_t hashlen,
    const char *pw, size_t pwlen)
{
	unsigned char out[128];
	int ok;

	if (hashlen < 32 || hashlen > sizeof(out))
		return -1;
	if (aa_kdf_derive(kdf, params, salt, saltlen, pw, pwlen, out,
	    hashlen) == -1)
		return -1;
	ok = CRYPTO_memcmp(out, hash, hashlen) == 0;
	OPENSSL_cleanse(out, sizeof(out));
	return ok;
}
