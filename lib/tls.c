/* SPDX-License-Identifier: ISC */
/* TLS contexts (OpenSSL 3): TLS 1.2+, AEAD with (EC)DHE, own CA only. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"

const char *
tls_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		strlcpy(buf, "unknown TLS error", len);
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* Passphrase callback: the configured one, or a file's first line. */
static int
tls_pass_cb(char *buf, int size, int rwflag, void *u)
{
	const struct tls_opts *o = u;
	FILE *fp;
	size_t n;

	(void)rwflag;
	if (size <= 0)
		return 0;
	if (o->key_pass != NULL) {
		n = strlcpy(buf, o->key_pass, size);
		return n >= (size_t)size ? 0 : (int)n;
	}
	if (o->key_pass_file == NULL ||
	    (fp = fopen(o->key_pass_file, "re")) == NULL)
		return 0;
	if (fgets(buf, size, fp) == NULL) {
		fclose(fp);
		return 0;
	}
	fclose(fp);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return (int)n;
}

/* The text of a certificate name (RFC 2253) into buf; "" on failure. */
static void
tls_name_text(const X509_NAME *name, char *buf, size_t len)
{
	BIO *b;
	char *p;
	long n;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (name == NULL || (b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(b, &p)) > 0) {
		if ((size_t)n >= len)
			n = len - 1;
		memcpy(buf, p, n);
		buf[n] = '\0';
	}
	BIO_free(b);
}

/* An ASN1_TIME as "YYYY-MM-DDTHH:MM:SSZ" into buf ("" if unreadable). */
static void
tls_time_text(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;

	if (len > 0)
		buf[0] = '\0';
	if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The SHA-256 fingerprint of crt as lowercase hex ("" on failure). */
static void
tls_fingerprint(const X509 *crt, char *fp, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (len > 0)
		fp[0] = '\0';
	if (X509_digest(crt, EVP_sha256(), md, &mdlen) == 1 &&
	    len >= 2 * mdlen + 1)
		for (unsigned int i = 0; i < mdlen; i++)
			snprintf(fp + 2 * i, 3, "%02x", md[i]);
}

/* ---- why a peer certificate failed, kept with its SSL ---- */

static int		 tls_vf_idx = -1;
static pthread_once_t	 tls_vf_once = PTHREAD_ONCE_INIT;

static void
tls_vf_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	OPENSSL_free(ptr);
}

static void
tls_vf_init(void)
{
	tls_vf_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, tls_vf_free);
}

/* Verification callback: remember the first failure, for the log. */
static int
tls_verify_cb(int ok, X509_STORE_CTX *xs)
{
	struct tls_verify_fail *vf;
	const ASN1_INTEGER *sn;
	BIGNUM *bn;
	char *hex;
	X509 *crt;
	SSL *ssl;

	if (ok)
		return 1;
	ssl = X509_STORE_CTX_get_ex_data(xs,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl == NULL || pthread_once(&tls_vf_once, tls_vf_init) != 0 ||
	    tls_vf_idx < 0 || SSL_get_ex_data(ssl, tls_vf_idx) != NULL)
		return 0;
	if ((vf = OPENSSL_zalloc(sizeof(*vf))) == NULL)
		return 0;
	vf->error = X509_STORE_CTX_get_error(xs);
	vf->depth = X509_STORE_CTX_get_error_depth(xs);
	if ((crt = X509_STORE_CTX_get_current_cert(xs)) != NULL) {
		tls_name_text(X509_get_subject_name(crt), vf->subject,
		    sizeof(vf->subject));
		if ((sn = X509_get0_serialNumber(crt)) != NULL &&
		    (bn = ASN1_INTEGER_to_BN(sn, NULL)) != NULL) {
			if ((hex = BN_bn2hex(bn)) != NULL) {
				strlcpy(vf->serial, hex, sizeof(vf->serial));
				OPENSSL_free(hex);
			}
			BN_free(bn);
		}
		tls_fingerprint(crt, vf->fp, sizeof(vf->fp));
	}
	if (SSL_set_ex_data(ssl, tls_vf_idx, vf) != 1)
		OPENSSL_free(vf);
	return 0;
}

int
tls_verify_failure(SSL *ssl, struct tls_verify_fail *vf)
{
	const struct tls_verify_fail *got;

	memset(vf, 0, sizeof(*vf));
	if (ssl == NULL || pthread_once(&tls_vf_once, tls_vf_init) != 0 ||
	    tls_vf_idx < 0 ||
	    (got = SSL_get_ex_data(ssl, tls_vf_idx)) == NULL)
		return 0;
	*vf = *got;
	return 1;
}

/* ---- certificate revocation lists ---- */

/* Does a CA certificate in st sign crl? */
static int
tls_crl_signed(X509_STORE *st, X509_CRL *crl)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);
	int ok = 0;

	for (int i = 0; !ok && i < sk_X509_OBJECT_num(objs); i++) {
		X509 *ca = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
		EVP_PKEY *pk;

		if (ca == NULL || X509_NAME_cmp(X509_get_subject_name(ca),
		    X509_CRL_get_issuer(crl)) != 0 ||
		    (pk = X509_get0_pubkey(ca)) == NULL)
			continue;
		ok = X509_CRL_verify(crl, pk) == 1;
	}
	ERR_clear_error();
	return ok;
}

/* A CA certificate of st that has no CRL in st, or NULL. */
static X509 *
tls_ca_without_crl(X509_STORE *st)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(st);

	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509 *ca = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
		int have = 0;

		if (ca == NULL)
			continue;
		for (int j = 0; !have && j < sk_X509_OBJECT_num(objs); j++) {
			X509_CRL *crl = X509_OBJECT_get0_X509_CRL(
			    sk_X509_OBJECT_value(objs, j));

			have = crl != NULL && X509_NAME_cmp(
			    X509_CRL_get_issuer(crl),
			    X509_get_subject_name(ca)) == 0;
		}
		if (!have)
			return ca;
	}
	return NULL;
}

/*
 * Add the CRLs of path to ctx's store (after the CA file) and turn
 * revocation checking on: the leaf, or every level when each CA has a
 * CRL (a chain level without one would fail "unable to get certificate
 * CRL").  OpenSSL reads and checks them all.
 */
static int
tls_load_crl(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_INFO) *inf = NULL;
	unsigned long flags = X509_V_FLAG_CRL_CHECK;
	char e[256], who[256];
	BIO *b;
	int n = 0, rc = -1;

	if ((b = BIO_new_file(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, tls_error(e, sizeof(e)));
		return -1;
	}
	inf = PEM_X509_INFO_read_bio(b, NULL, NULL, NULL);
	BIO_free(b);
	if (inf == NULL) {
		snprintf(err, errlen, "%s: %s", path, tls_error(e, sizeof(e)));
		return -1;
	}
	for (int i = 0; i < sk_X509_INFO_num(inf); i++) {
		X509_INFO *xi = sk_X509_INFO_value(inf, i);

		if (xi->x509 != NULL || xi->x_pkey != NULL) {
			snprintf(err, errlen, "%s: holds a certificate or a "
			    "key: only CRLs belong in it", path);
			goto out;
		}
		if (xi->crl == NULL)
			continue;
		if (!tls_crl_signed(st, xi->crl)) {
			tls_name_text(X509_CRL_get_issuer(xi->crl), who,
			    sizeof(who));
			snprintf(err, errlen, "%s: the CRL of %s is not "
			    "signed by a CA of the CA file", path, who);
			goto out;
		}
		if (X509_STORE_add_crl(st, xi->crl) != 1) {
			snprintf(err, errlen, "%s: %s", path,
			    tls_error(e, sizeof(e)));
			goto out;
		}
		n++;
	}
	if (n == 0) {
		snprintf(err, errlen, "%s: no CRL in the file", path);
		goto out;
	}
	if (tls_ca_without_crl(st) == NULL)
		flags |= X509_V_FLAG_CRL_CHECK_ALL;
	if (X509_STORE_set_flags(st, flags) != 1 ||
	    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), flags) != 1) {
		snprintf(err, errlen, "%s: %s", path, tls_error(e, sizeof(e)));
		goto out;
	}
	rc = 0;
out:
	sk_X509_INFO_pop_free(inf, X509_INFO_free);
	return rc;
}

int
tls_crl_info(SSL_CTX *ctx, struct tls_crl_info *ci)
{
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	STACK_OF(X509_OBJECT) *objs;
	const ASN1_TIME *first = NULL;
	X509 *ca;

	memset(ci, 0, sizeof(*ci));
	if (st == NULL || X509_STORE_lock(st) != 1)
		return -1;
	objs = X509_STORE_get0_objects(st);
	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509_CRL *crl = X509_OBJECT_get0_X509_CRL(
		    sk_X509_OBJECT_value(objs, i));
		const ASN1_TIME *next;
		int nrev;

		if (crl == NULL)
			continue;
		ci->ncrl++;
		if ((nrev = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl))) > 0)
			ci->nrevoked += nrev;
		if ((next = X509_CRL_get0_nextUpdate(crl)) == NULL)
			continue;
		if (X509_cmp_current_time(next) < 0)
			ci->nexpired++;
		if (first == NULL || ASN1_TIME_compare(next, first) < 0)
			first = next;
	}
	tls_time_text(first, ci->next_update, sizeof(ci->next_update));
	if (ci->ncrl > 0 && (ca = tls_ca_without_crl(st)) != NULL)
		tls_name_text(X509_get_subject_name(ca), ci->nocrl,
		    sizeof(ci->nocrl));
	X509_STORE_unlock(st);
	ci->chain = (X509_VERIFY_PARAM_get_flags(SSL_CTX_get0_param(ctx)) &
	    X509_V_FLAG_CRL_CHECK_ALL) != 0;
	ERR_clear_error();
	return ci->ncrl > 0 ? 0 : -1;
}

/* ---- contexts ---- */

/*
 * What both sides share: versions, suites, no compression, no renego,
 * the CA file as the only trust store, and the CRLs.
 */
static SSL_CTX *
tls_ctx_common(const SSL_METHOD *m, const struct tls_opts *o, char *err,
    size_t errlen)
{
	char e[256];
	SSL_CTX *ctx;
	int minv = TLS1_2_VERSION;

	if (o->min_version != NULL && *o->min_version != '\0') {
		if (strcmp(o->min_version, "TLSv1.2") == 0)
			minv = TLS1_2_VERSION;
		else if (strcmp(o->min_version, "TLSv1.3") == 0)
			minv = TLS1_3_VERSION;
		else {
			snprintf(err, errlen, "ssl_version: %s: want TLSv1.2 "
			    "or TLSv1.3", o->min_version);
			return NULL;
		}
	}
	if (o->crl != NULL && *o->crl != '\0' &&
	    (o->ca == NULL || *o->ca == '\0')) {
		snprintf(err, errlen, "a CRL needs the CA file that signs it "
		    "(-f)");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(m)) == NULL) {
		snprintf(err, errlen, "SSL_CTX_new: %s", tls_error(e, sizeof(e)));
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, minv) ||
	    !SSL_CTX_set_cipher_list(ctx, o->ciphers && *o->ciphers ?
	    o->ciphers : TLS_DEFAULT_CIPHERS) ||
	    (o->ciphersuites && *o->ciphersuites &&
	    !SSL_CTX_set_ciphersuites(ctx, o->ciphersuites))) {
		snprintf(err, errlen, "cipher or version setting: %s",
		    tls_error(e, sizeof(e)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Only the configured CA file is trusted: never the system store. */
	if (o->ca != NULL && *o->ca != '\0' &&
	    SSL_CTX_load_verify_file(ctx, o->ca) != 1) {
		snprintf(err, errlen, "%s: %s", o->ca, tls_error(e, sizeof(e)));
		goto bad;
	}
	if (o->crl != NULL && *o->crl != '\0' &&
	    tls_load_crl(ctx, o->crl, err, errlen) == -1)
		goto bad;
	return ctx;
bad:
	SSL_CTX_free(ctx);
	return NULL;
}

/* The certificate (chain) and key of o, if any. */
static int
tls_load_keypair(SSL_CTX *ctx, const struct tls_opts *o, char *err,
    size_t errlen)
{
	char e[256];

	/* Never let OpenSSL prompt on a terminal unless asked to (-w). */
	if (o->key_pass_file != NULL || o->key_pass != NULL || !o->ask_tty) {
		SSL_CTX_set_default_passwd_cb(ctx, tls_pass_cb);
		SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)o);
	}
	if (o->cert == NULL || *o->cert == '\0')
		return 0;
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
		snprintf(err, errlen, "%s: %s", o->cert, tls_error(e,
		    sizeof(e)));
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, o->key && *o->key ? o->key :
	    o->cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s: %s", o->key ? o->key : o->cert,
		    tls_error(e, sizeof(e)));
		return -1;
	}
	return 0;
}

/* The server's side: client certificates per o->client_mode, no cache. */
static void
tls_server_setup(SSL_CTX *ctx, const struct tls_opts *o)
{
	switch (o->client_mode) {
	case TLS_CLIENT_REQUIRE:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, tls_verify_cb);
		break;
	case TLS_CLIENT_OPTIONAL:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, tls_verify_cb);
		break;
	default:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		break;
	}
	SSL_CTX_set_verify_depth(ctx, 5);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* No TLS 1.3 tickets either: no resumption, nothing to send. */
	SSL_CTX_set_num_tickets(ctx, 0);
}

/* Can a server context be made from o? */
static int
tls_server_check(const struct tls_opts *o, char *err, size_t errlen)
{
	if (o->client_mode != TLS_CLIENT_NONE &&
	    (o->ca == NULL || *o->ca == '\0')) {
		snprintf(err, errlen, "client certificates need a CA (-f)");
		return -1;
	}
	return 0;
}

/* A server context; client certificates per o->client_mode. */
SSL_CTX *
tls_server_ctx(const struct tls_opts *o, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (o->cert == NULL || *o->cert == '\0') {
		snprintf(err, errlen, "TLS needs a certificate (-e)");
		return NULL;
	}
	if (tls_server_check(o, err, errlen) == -1 ||
	    (ctx = tls_ctx_common(TLS_server_method(), o, err, errlen)) == NULL)
		return NULL;
	if (tls_load_keypair(ctx, o, err, errlen) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	tls_server_setup(ctx, o);
	return ctx;
}

SSL_CTX *
tls_server_ctx_renew(const struct tls_opts *o, SSL_CTX *old, char *err,
    size_t errlen)
{
	STACK_OF(X509) *chain = NULL;
	X509 *crt = SSL_CTX_get0_certificate(old);
	EVP_PKEY *key = SSL_CTX_get0_privatekey(old);
	SSL_CTX *ctx;
	char e[256];

	if (crt == NULL || key == NULL) {
		snprintf(err, errlen, "no certificate or key to keep");
		return NULL;
	}
	if (tls_server_check(o, err, errlen) == -1 ||
	    (ctx = tls_ctx_common(TLS_server_method(), o, err, errlen)) == NULL)
		return NULL;
	if (SSL_CTX_get0_chain_certs(old, &chain) != 1 ||
	    SSL_CTX_use_certificate(ctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    (chain != NULL && SSL_CTX_set1_chain(ctx, chain) != 1) ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "certificate: %s", tls_error(e,
		    sizeof(e)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	tls_server_setup(ctx, o);
	return ctx;
}

/* A client context; with o->verify the server is checked against o->ca. */
SSL_CTX *
tls_client_ctx(const struct tls_opts *o, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (o->verify && (o->ca == NULL || *o->ca == '\0')) {
		snprintf(err, errlen, "server verification needs a CA (-f)");
		return NULL;
	}
	if ((ctx = tls_ctx_common(TLS_client_method(), o, err, errlen)) == NULL)
		return NULL;
	if (tls_load_keypair(ctx, o, err, errlen) == -1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, o->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
	    NULL);
	SSL_CTX_set_verify_depth(ctx, 5);
	return ctx;
}

/* SNI for names, and the name or address the certificate must carry. */
int
tls_client_expect(SSL *ssl, const char *host, int verify)
{
	unsigned char addr[16];
	int isip = inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1;

	if (!isip && SSL_set_tlsext_host_name(ssl, host) != 1)
		return -1;
	if (!verify)
		return 0;
	if (isip) {
		X509_VERIFY_PARAM *p = SSL_get0_param(ssl);

		return X509_VERIFY_PARAM_set1_ip_asc(p, host) == 1 ? 0 : -1;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return SSL_set1_host(ssl, host) == 1 ? 0 : -1;
}

int
tls_peer_identity(SSL *ssl, char *subject, size_t slen, char *fp,
    size_t fplen)
{
	X509 *cert;

	if (slen)
		subject[0] = '\0';
	if (fplen)
		fp[0] = '\0';
	if ((cert = SSL_get1_peer_certificate(ssl)) == NULL)
		return 0;
	tls_name_text(X509_get_subject_name(cert), subject, slen);
	tls_fingerprint(cert, fp, fplen);
	X509_free(cert);
	return 1;
}

/* Add len bytes of s to names unless unusable or already there. */
static int
tls_name_add(char names[][TLS_NAME_LEN], int n, int max,
    const unsigned char *s, int len)
{
	if (n >= max || len <= 0 || len >= TLS_NAME_LEN)
		return n;
	for (int i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return n;	/* NUL or control: not a name */
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == (size_t)len &&
		    memcmp(names[i], s, len) == 0)
			return n;
	memcpy(names[n], s, len);
	names[n][len] = '\0';
	return n + 1;
}

int
tls_cert_names(X509 *crt, char names[][TLS_NAME_LEN], int max)
{
	X509_NAME *subj = X509_get_subject_name(crt);
	GENERAL_NAMES *gens;
	int n = 0, i = -1;

	while (subj != NULL &&
	    (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0) {
		ASN1_STRING *as = X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(subj, i));
		unsigned char *u = NULL;
		int len = as ? ASN1_STRING_to_UTF8(&u, as) : -1;

		if (len > 0)
			n = tls_name_add(names, n, max, u, len);
		OPENSSL_free(u);
	}
	gens = X509_get_ext_d2i(crt, NID_subject_alt_name, NULL, NULL);
	for (int k = 0; gens != NULL && k < sk_GENERAL_NAME_num(gens); k++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, k);

		if (g->type == GEN_DNS)
			n = tls_name_add(names, n, max,
			    ASN1_STRING_get0_data(g->d.dNSName),
			    ASN1_STRING_length(g->d.dNSName));
	}
	GENERAL_NAMES_free(gens);
	return n;
}

int
tls_peer_names(SSL *ssl, char names[][TLS_NAME_LEN], int max)
{
	X509 *crt;
	int n;

	if (ssl == NULL || (crt = SSL_get1_peer_certificate(ssl)) == NULL)
		return 0;
	n = tls_cert_names(crt, names, max);
	X509_free(crt);
	return n;
}
