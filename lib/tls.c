/* TLS contexts (OpenSSL 3): TLS 1.2+, AEAD with (EC)DHE, own CA only. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
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

/* What both sides share: versions, suites, no compression, no renego. */
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
	/* Never let OpenSSL prompt on a terminal unless asked to (-w). */
	if (o->key_pass_file != NULL || o->key_pass != NULL || !o->ask_tty) {
		SSL_CTX_set_default_passwd_cb(ctx, tls_pass_cb);
		SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)o);
	}
	if (o->cert != NULL && *o->cert != '\0') {
		if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
			snprintf(err, errlen, "%s: %s", o->cert,
			    tls_error(e, sizeof(e)));
			goto bad;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, o->key && *o->key ?
		    o->key : o->cert, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(err, errlen, "%s: %s", o->key ? o->key :
			    o->cert, tls_error(e, sizeof(e)));
			goto bad;
		}
	}
	/* Only the configured CA file is trusted: never the system store. */
	if (o->ca != NULL && *o->ca != '\0' &&
	    SSL_CTX_load_verify_file(ctx, o->ca) != 1) {
		snprintf(err, errlen, "%s: %s", o->ca, tls_error(e, sizeof(e)));
		goto bad;
	}
	return ctx;
bad:
	SSL_CTX_free(ctx);
	return NULL;
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
	if (o->client_mode != TLS_CLIENT_NONE &&
	    (o->ca == NULL || *o->ca == '\0')) {
		snprintf(err, errlen, "client certificates need a CA (-f)");
		return NULL;
	}
	if ((ctx = tls_ctx_common(TLS_server_method(), o, err, errlen)) == NULL)
		return NULL;
	switch (o->client_mode) {
	case TLS_CLIENT_REQUIRE:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		break;
	case TLS_CLIENT_OPTIONAL:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		break;
	default:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		break;
	}
	SSL_CTX_set_verify_depth(ctx, 5);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* No TLS 1.3 tickets either: no resumption, nothing to send. */
	SSL_CTX_set_num_tickets(ctx, 0);
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
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	X509 *cert;
	BIO *b;
	char *p;
	long n;

	if (slen)
		subject[0] = '\0';
	if (fplen)
		fp[0] = '\0';
	if ((cert = SSL_get1_peer_certificate(ssl)) == NULL)
		return 0;
	if ((b = BIO_new(BIO_s_mem())) != NULL) {
		if (X509_NAME_print_ex(b, X509_get_subject_name(cert), 0,
		    XN_FLAG_RFC2253) >= 0 && (n = BIO_get_mem_data(b, &p)) > 0) {
			if ((size_t)n >= slen)
				n = slen - 1;
			memcpy(subject, p, n);
			subject[n] = '\0';
		}
		BIO_free(b);
	}
	if (X509_digest(cert, EVP_sha256(), md, &mdlen) == 1 &&
	    fplen >= 2 * mdlen + 1)
		for (unsigned int i = 0; i < mdlen; i++)
			snprintf(fp + 2 * i, 3, "%02x", md[i]);
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
