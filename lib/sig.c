/* SPDX-License-Identifier: ISC */
/*
 * Ed25519 keys and signatures (OpenSSL EVP, pure Ed25519 over the bytes),
 * shared by conf-dist's published files and the envelope stamps: PEM
 * files as "openssl genpkey -algorithm ED25519" writes them.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "sig.h"

static const char *
ossl_err(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (e == 0)
		return "unknown OpenSSL error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* Open a key file: regular, not a link; a private key must be 0600. */
static FILE *
key_open(const char *path, int private, char *err, size_t errlen)
{
	struct stat sb;
	FILE *fp;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	if (private && (sb.st_mode & 077) != 0) {
		snprintf(err, errlen, "%s: mode %04o: a signing key must be "
		    "0600 (readable by its owner only)", path,
		    (unsigned)(sb.st_mode & 07777));
		close(fd);
		return NULL;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
	}
	return fp;
}

static EVP_PKEY *
key_check(EVP_PKEY *k, const char *path, char *err, size_t errlen)
{
	if (k == NULL) {
		snprintf(err, errlen, "%s: %s", path, ossl_err());
		return NULL;
	}
	if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "%s: not an Ed25519 key", path);
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

EVP_PKEY *
sig_load_private(const char *path, char *err, size_t errlen)
{
	FILE *fp = key_open(path, 1, err, errlen);
	EVP_PKEY *k;

	if (fp == NULL)
		return NULL;
	k = PEM_read_PrivateKey(fp, NULL, NULL, (void *)"");
	fclose(fp);
	return key_check(k, path, err, errlen);
}

EVP_PKEY *
sig_load_public(const char *path, char *err, size_t errlen)
{
	FILE *fp = key_open(path, 0, err, errlen);
	EVP_PKEY *k;

	if (fp == NULL)
		return NULL;
	k = PEM_read_PUBKEY(fp, NULL, NULL, NULL);
	fclose(fp);
	return key_check(k, path, err, errlen);
}

int
sig_sign(EVP_PKEY *key, const void *buf, size_t len, unsigned char *sig)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t slen = SIG_LEN;
	int ok;

	ok = ctx != NULL &&
	    EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, key, NULL) ==
	    1 && EVP_DigestSign(ctx, sig, &slen, buf, len) == 1 &&
	    slen == SIG_LEN;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 0 : -1;
}

/* 1 valid, 0 not. */
int
sig_verify(EVP_PKEY *pub, const void *buf, size_t len,
    const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx;
	int ok;

	if (siglen != SIG_LEN || (ctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	ok = EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, pub,
	    NULL) == 1 && EVP_DigestVerify(ctx, sig, siglen, buf, len) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* Write a PEM through a new file: O_EXCL unless force, exact mode. */
static int
pem_out(const char *path, EVP_PKEY *k, int private, mode_t mode, uid_t uid,
    gid_t gid, int force, char *err, size_t errlen)
{
	FILE *fp;
	int fd, ok;

	if (force && unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode)) == -1) {
		snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
		    errno == EEXIST ? " (keygen -f replaces it)" : "");
		return -1;
	}
	if (fchmod(fd, mode) == -1 ||
	    (uid != (uid_t)-1 && fchown(fd, uid, gid) == -1) ||
	    (fp = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	ok = private ? PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL,
	    NULL) : PEM_write_PUBKEY(fp, k);
	if (!ok || fflush(fp) != 0 || fsync(fileno(fp)) == -1) {
		snprintf(err, errlen, "%s: cannot write the key", path);
		fclose(fp);
		unlink(path);
		return -1;
	}
	if (fclose(fp) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

int
sig_keygen(const char *priv, const char *pub, uid_t uid, gid_t gid,
    int force, char *err, size_t errlen)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	int rc = -1;

	if (k == NULL) {
		snprintf(err, errlen, "keygen: %s", ossl_err());
		return -1;
	}
	if (pem_out(priv, k, 1, 0600, uid, gid, force, err, errlen) == 0) {
		if (pem_out(pub, k, 0, 0644, uid, gid, force, err, errlen) ==
		    0)
			rc = 0;
		else
			unlink(priv);
	}
	EVP_PKEY_free(k);
	return rc;
}

int
sig_keyid(EVP_PKEY *k, char id[SIG_KEYID_LEN + 1])
{
	static const char hx[] = "0123456789abcdef";
	unsigned char raw[32], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t rl = sizeof(raw);

	if (EVP_PKEY_get_raw_public_key(k, raw, &rl) != 1 || rl != 32 ||
	    EVP_Digest(raw, rl, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < SIG_KEYID_LEN / 2) {
		ERR_clear_error();
		return -1;
	}
	for (int i = 0; i < SIG_KEYID_LEN / 2; i++) {
		id[2 * i] = hx[md[i] >> 4];
		id[2 * i + 1] = hx[md[i] & 15];
	}
	id[SIG_KEYID_LEN] = '\0';
	return 0;
}
