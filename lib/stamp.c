/* SPDX-License-Identifier: ISC */
/* Envelope stamps: a stage's Ed25519 signature over its envelope. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "stamp.h"
#include "xalloc.h"

/* The signed message: the domain, the signer, then hdr[0..len). */
static unsigned char *
stamp_message(const char *signer, const char *hdr, size_t len, size_t *mlen)
{
	size_t dl = sizeof(STAMP_DOMAIN) - 1, sl = strlen(signer);
	unsigned char *m = xmalloc(dl + sl + 1 + len);

	memcpy(m, STAMP_DOMAIN, dl);
	memcpy(m + dl, signer, sl);
	m[dl + sl] = '\n';
	memcpy(m + dl + sl + 1, hdr, len);
	*mlen = dl + sl + 1 + len;
	return m;
}

int
stamp_signer_load(struct stamp_signer *s, const char *signer,
    const char *path, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	if (strlcpy(s->name, signer, sizeof(s->name)) >= sizeof(s->name)) {
		snprintf(err, errlen, "signer name too long");
		return -1;
	}
	if ((s->key = sig_load_private(path, err, errlen)) == NULL)
		return -1;
	if (sig_keyid(s->key, s->keyid) == -1) {
		snprintf(err, errlen, "%s: no key id", path);
		stamp_signer_free(s);
		return -1;
	}
	return 0;
}

void
stamp_signer_free(struct stamp_signer *s)
{
	EVP_PKEY_free(s->key);
	s->key = NULL;
}

int
stamp_keys_load(struct stamp_keys *k, const char *signer, const char *paths,
    char *err, size_t errlen)
{
	char *list = xstrdup(paths), *save = NULL, *p;

	memset(k, 0, sizeof(*k));
	strlcpy(k->name, signer, sizeof(k->name));
	for (p = strtok_r(list, " \t,", &save); p != NULL;
	    p = strtok_r(NULL, " \t,", &save)) {
		if (k->n == STAMP_KEYS_MAX) {
			snprintf(err, errlen, "at most %d keys", STAMP_KEYS_MAX);
			goto bad;
		}
		if ((k->key[k->n] = sig_load_public(p, err, errlen)) == NULL)
			goto bad;
		if (sig_keyid(k->key[k->n], k->keyid[k->n]) == -1) {
			snprintf(err, errlen, "%s: no key id", p);
			k->n++;
			goto bad;
		}
		k->n++;
	}
	free(list);
	if (k->n == 0) {
		snprintf(err, errlen, "no public key given");
		return -1;
	}
	return 0;
bad:
	free(list);
	stamp_keys_free(k);
	return -1;
}

void
stamp_keys_free(struct stamp_keys *k)
{
	for (int i = 0; i < k->n; i++)
		EVP_PKEY_free(k->key[i]);
	k->n = 0;
}

int
stamp_fill(const struct stamp_signer *s, char *hdr, size_t hdrlen,
    size_t stamp_off)
{
	unsigned char sig[SIG_LEN], *m;
	char b64[STAMP_B64_LEN + 1];
	size_t sl = strlen(s->name), mlen;
	char *p = hdr + stamp_off;
	int rc;

	/* The placeholder envelope_format() wrote for this signer. */
	if (stamp_off + 7 + sl + 1 + SIG_KEYID_LEN + 1 + STAMP_B64_LEN + 1 >
	    hdrlen || memcmp(p, "Stamp: ", 7) != 0 ||
	    memcmp(p + 7, s->name, sl) != 0 || p[7 + sl] != ' ')
		return -1;
	m = stamp_message(s->name, hdr, stamp_off, &mlen);
	rc = sig_sign(s->key, m, mlen, sig);
	free(m);
	if (rc == -1 || EVP_EncodeBlock((unsigned char *)b64, sig, SIG_LEN) !=
	    STAMP_B64_LEN)
		return -1;
	p += 7 + sl + 1;
	memcpy(p, s->keyid, SIG_KEYID_LEN);
	p += SIG_KEYID_LEN + 1;
	memcpy(p, b64, STAMP_B64_LEN);
	return 0;
}

int
stamp_check(const struct stamp_keys *k, const char *data,
    const struct envelope *e, const char *body_sha, char *err, size_t errlen)
{
	unsigned char *m;
	size_t mlen;
	int i, ok;

	if (e->hdrlen == 0 || e->stamp_signer[0] == '\0')
		return 0;
	if (strcmp(e->stamp_signer, k->name) != 0) {
		snprintf(err, errlen, "stamped by %s, not by %s",
		    e->stamp_signer, k->name);
		return -1;
	}
	for (i = 0; i < k->n; i++)
		if (strcmp(k->keyid[i], e->stamp_keyid) == 0)
			break;
	if (i == k->n) {
		snprintf(err, errlen, "stamp key %s of %s is not trusted",
		    e->stamp_keyid, k->name);
		return -1;
	}
	m = stamp_message(k->name, data, e->stamp_off, &mlen);
	ok = sig_verify(k->key[i], m, mlen, e->stamp_sig, SIG_LEN);
	free(m);
	if (ok != 1) {
		snprintf(err, errlen, "the stamp of %s does not verify: the "
		    "envelope was altered", k->name);
		return -1;
	}
	if (e->sha256[0] == '\0' || body_sha == NULL ||
	    CRYPTO_memcmp(e->sha256, body_sha, 64) != 0) {
		snprintf(err, errlen, "the body does not match the stamped "
		    "Sha256");
		return -1;
	}
	return 1;
}

void
stamp_sha256_hex(const void *buf, size_t len, char hex[65])
{
	static const char hx[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int ml = 0;

	if (EVP_Digest(buf, len, md, &ml, EVP_sha256(), NULL) != 1 ||
	    ml != 32) {
		memset(hex, '0', 64);	/* never matches a real Sha256 line */
		hex[64] = '\0';
		hex[0] = 'x';
		return;
	}
	for (unsigned int i = 0; i < 32; i++) {
		hex[2 * i] = hx[md[i] >> 4];
		hex[2 * i + 1] = hx[md[i] & 15];
	}
	hex[64] = '\0';
}
