/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/tls.c: context options (versions, certificates,
 * keys and passphrases, CA rules), then in-memory handshakes between
 * the library's server and client contexts.  A throwaway CA, server and
 * client certificate are made at test time with the OpenSSL API.
 */
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"

#include "check.h"

static char dir[PATH_MAX];

/* dir/name in one of eight static buffers. */
static const char *
F(const char *name)
{
	static char buf[8][PATH_MAX + 64];
	static int k;
	char *p = buf[k++ % 8];

	snprintf(p, PATH_MAX + 64, "%s/%s", dir, name);
	return p;
}

/* ---- throwaway PKI ---- */

static EVP_PKEY *ca_key, *ca2_key, *srv_key, *cli_key, *other_key;
static X509 *ca_crt, *ca2_crt, *srv_crt, *cli_crt;

static int
add_ext(X509 *crt, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, crt, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(crt, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A certificate for key, signed by issuer (NULL: self-signed CA). */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, const char *o, X509 *issuer,
    EVP_PKEY *ikey, long serial, const char *san, int client)
{
	X509 *crt = X509_new();
	X509_NAME *nm;

	if (crt == NULL)
		return NULL;
	nm = X509_get_subject_name(crt);
	if (!X509_set_version(crt, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(crt), serial) ||
	    X509_gmtime_adj(X509_getm_notBefore(crt), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(crt), 86400) == NULL ||
	    !X509_set_pubkey(crt, key) ||
	    !X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC,
	    (const unsigned char *)o, -1, -1, 0) ||
	    !X509_set_issuer_name(crt, issuer ? X509_get_subject_name(issuer) :
	    nm))
		goto bad;
	if (issuer == NULL) {
		if (!add_ext(crt, crt, NID_basic_constraints,
		    "critical,CA:TRUE") ||
		    !add_ext(crt, crt, NID_key_usage,
		    "critical,keyCertSign,cRLSign") ||
		    !add_ext(crt, crt, NID_subject_key_identifier, "hash"))
			goto bad;
	} else {
		if (!add_ext(crt, issuer, NID_basic_constraints,
		    "critical,CA:FALSE") ||
		    !add_ext(crt, issuer, NID_ext_key_usage, client ?
		    "clientAuth" : "serverAuth") ||
		    (san != NULL && !add_ext(crt, issuer,
		    NID_subject_alt_name, san)))
			goto bad;
	}
	if (!X509_sign(crt, ikey ? ikey : key, EVP_sha256()))
		goto bad;
	return crt;
bad:
	X509_free(crt);
	return NULL;
}

static int
write_pem(const char *path, X509 *crt, EVP_PKEY *key, const char *pass)
{
	FILE *fp = fopen(path, "w");
	int ok = 1;

	if (fp == NULL)
		return 0;
	if (crt != NULL && !PEM_write_X509(fp, crt))
		ok = 0;
	if (key != NULL && !PEM_write_PrivateKey(fp, key, pass ?
	    EVP_aes_256_cbc() : NULL, (unsigned char *)pass, pass ?
	    (int)strlen(pass) : 0, NULL, NULL))
		ok = 0;
	if (fclose(fp) != 0)
		ok = 0;
	return ok;
}

static int
write_text(const char *path, const char *s)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		return 0;
	fputs(s, fp);
	return fclose(fp) == 0;
}

/* Make keys, certificates and files; 0 if anything failed. */
static int
make_pki(void)
{
	ca_key = EVP_EC_gen("P-256");
	ca2_key = EVP_EC_gen("P-256");
	srv_key = EVP_EC_gen("P-256");
	cli_key = EVP_EC_gen("P-256");
	other_key = EVP_EC_gen("P-256");
	if (!ca_key || !ca2_key || !srv_key || !cli_key || !other_key)
		return 0;
	ca_crt = make_cert(ca_key, "Test CA", "Test", NULL, NULL, 1, NULL, 0);
	ca2_crt = make_cert(ca2_key, "Rogue CA", "Rogue", NULL, NULL, 1, NULL,
	    0);
	if (!ca_crt || !ca2_crt)
		return 0;
	srv_crt = make_cert(srv_key, "localhost", "Test", ca_crt, ca_key, 2,
	    "DNS:localhost,IP:127.0.0.1", 0);
	cli_crt = make_cert(cli_key, "client01", "Test", ca_crt, ca_key, 3,
	    NULL, 1);
	if (!srv_crt || !cli_crt)
		return 0;
	return write_pem(F("ca.pem"), ca_crt, NULL, NULL) &&
	    write_pem(F("ca2.pem"), ca2_crt, NULL, NULL) &&
	    write_pem(F("srv.pem"), srv_crt, NULL, NULL) &&
	    write_pem(F("srv.key"), NULL, srv_key, NULL) &&
	    write_pem(F("srvenc.key"), NULL, srv_key, "hunter2") &&
	    write_pem(F("both.pem"), srv_crt, srv_key, NULL) &&
	    write_pem(F("other.key"), NULL, other_key, NULL) &&
	    write_pem(F("cli.pem"), cli_crt, NULL, NULL) &&
	    write_pem(F("cli.key"), NULL, cli_key, NULL) &&
	    write_text(F("garbage.pem"), "-----BEGIN CERTIFICATE-----\n"
	    "bm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n") &&
	    write_text(F("pass.txt"), "hunter2\nsecond line\n") &&
	    write_text(F("badpass.txt"), "hunter3\n");
}

static void
free_pki(void)
{
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(ca2_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(cli_key);
	EVP_PKEY_free(other_key);
	X509_free(ca_crt);
	X509_free(ca2_crt);
	X509_free(srv_crt);
	X509_free(cli_crt);
}

/* ---- contexts ---- */

/* Server options with the test certificate and key. */
static struct tls_opts
srv_opts(void)
{
	struct tls_opts o;

	memset(&o, 0, sizeof(o));
	o.cert = F("srv.pem");
	o.key = F("srv.key");
	return o;
}

static void
test_server_ctx(void)
{
	static const char *const bad_versions[] = {
		"TLSv1.1", "TLSv1", "TLSv1.0", "SSLv3", "SSLv2", "tlsv1.2",
		"1.2", "TLSv1.4", "TLSv1.2 ", "DTLSv1.2",
	};
	static const struct {
		const char	*v;
		int		 want;
	} good_versions[] = {
		{ NULL, TLS1_2_VERSION }, { "", TLS1_2_VERSION },
		{ "TLSv1.2", TLS1_2_VERSION }, { "TLSv1.3", TLS1_3_VERSION },
	};
	struct tls_opts o;
	char err[512], what[96];
	SSL_CTX *ctx;

	/* No certificate, no server. */
	memset(&o, 0, sizeof(o));
	err[0] = '\0';
	ctx = tls_server_ctx(&o, err, sizeof(err));
	CHECK(ctx == NULL, "server without cert: got a context, want NULL");
	CHECK_HAS("server without cert", err, "needs a certificate");
	SSL_CTX_free(ctx);
	o.cert = "";
	err[0] = '\0';
	ctx = tls_server_ctx(&o, err, sizeof(err));
	CHECK(ctx == NULL, "server with cert \"\": got a context, want NULL");
	CHECK_HAS("server with cert \"\"", err, "needs a certificate");
	SSL_CTX_free(ctx);

	/* Below TLS 1.2 (and anything unknown) is refused. */
	for (size_t i = 0; i < sizeof(bad_versions) / sizeof(bad_versions[0]);
	    i++) {
		o = srv_opts();
		o.min_version = bad_versions[i];
		snprintf(what, sizeof(what), "server min_version \"%s\"",
		    bad_versions[i]);
		err[0] = '\0';
		ctx = tls_server_ctx(&o, err, sizeof(err));
		CHECK(ctx == NULL, "%s: got a context, want NULL", what);
		CHECK_HAS(what, err, bad_versions[i]);
		SSL_CTX_free(ctx);
	}
	for (size_t i = 0; i < sizeof(good_versions) /
	    sizeof(good_versions[0]); i++) {
		o = srv_opts();
		o.min_version = good_versions[i].v;
		snprintf(what, sizeof(what), "server min_version %s%s%s",
		    good_versions[i].v ? "\"" : "", good_versions[i].v ?
		    good_versions[i].v : "NULL", good_versions[i].v ? "\"" :
		    "");
		err[0] = '\0';
		ctx = tls_server_ctx(&o, err, sizeof(err));
		CHECK(ctx != NULL, "%s: got NULL (%s), want a context", what,
		    err);
		if (ctx == NULL)
			continue;
		CHECK_INT(what, SSL_CTX_get_min_proto_version(ctx),
		    good_versions[i].want);
		CHECK((SSL_CTX_get_options(ctx) & (SSL_OP_NO_COMPRESSION |
		    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET)) ==
		    (SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
		    SSL_OP_NO_TICKET), "%s: compression, renegotiation or "
		    "tickets left on", what);
		CHECK_INT("no client certificate: verify mode",
		    SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);
		SSL_CTX_free(ctx);
	}

	/* Client certificates need a CA. */
	for (int mode = TLS_CLIENT_OPTIONAL; mode <= TLS_CLIENT_REQUIRE;
	    mode++) {
		o = srv_opts();
		o.client_mode = mode;
		err[0] = '\0';
		ctx = tls_server_ctx(&o, err, sizeof(err));
		CHECK(ctx == NULL, "client_mode %d without CA: got a context",
		    mode);
		CHECK_HAS("client_mode without CA", err, "need a CA");
		SSL_CTX_free(ctx);
		o.ca = F("ca.pem");
		ctx = tls_server_ctx(&o, err, sizeof(err));
		CHECK(ctx != NULL, "client_mode %d with CA: got NULL (%s)",
		    mode, err);
		if (ctx != NULL)
			CHECK_INT("client_mode verify mode",
			    SSL_CTX_get_verify_mode(ctx), mode ==
			    TLS_CLIENT_REQUIRE ? SSL_VERIFY_PEER |
			    SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER);
		SSL_CTX_free(ctx);
	}

	/* Bad files. */
	{
		static const struct {
			const char *cert, *key, *ca, *want;
		} t[] = {
			{ "missing.pem", "srv.key", NULL, "missing.pem" },
			{ "srv.pem", "missing.key", NULL, "missing.key" },
			{ "srv.pem", "other.key", NULL, "other.key" },
			{ "garbage.pem", "srv.key", NULL, "garbage.pem" },
			{ "srv.pem", "ca.pem", NULL, "ca.pem" },
			{ "srv.pem", "srv.key", "missing-ca.pem",
			  "missing-ca.pem" },
			{ "srv.pem", "srv.key", "garbage.pem", "garbage.pem" },
		};

		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			memset(&o, 0, sizeof(o));
			o.cert = F(t[i].cert);
			o.key = F(t[i].key);
			o.ca = t[i].ca ? F(t[i].ca) : NULL;
			snprintf(what, sizeof(what), "cert %s key %s ca %s",
			    t[i].cert, t[i].key, t[i].ca ? t[i].ca : "-");
			err[0] = '\0';
			ctx = tls_server_ctx(&o, err, sizeof(err));
			CHECK(ctx == NULL, "%s: got a context, want NULL",
			    what);
			CHECK_HAS(what, err, t[i].want);
			SSL_CTX_free(ctx);
		}
	}

	/* Key in the certificate file. */
	memset(&o, 0, sizeof(o));
	o.cert = F("both.pem");
	ctx = tls_server_ctx(&o, err, sizeof(err));
	CHECK(ctx != NULL, "key in the cert file: got NULL (%s)", err);
	SSL_CTX_free(ctx);

	/* Encrypted key: passphrase given, from a file, or wrong. */
	{
		static const struct {
			const char	*pass, *file;
			int		 ok;
		} t[] = {
			{ "hunter2", NULL, 1 },
			{ NULL, "pass.txt", 1 },
			{ "hunter3", NULL, 0 },
			{ NULL, "badpass.txt", 0 },
			{ NULL, "missing-pass.txt", 0 },
			{ "", NULL, 0 },
		};

		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			o = srv_opts();
			o.key = F("srvenc.key");
			o.key_pass = t[i].pass;
			o.key_pass_file = t[i].file ? F(t[i].file) : NULL;
			snprintf(what, sizeof(what), "encrypted key, pass %s "
			    "file %s", t[i].pass ? t[i].pass : "-",
			    t[i].file ? t[i].file : "-");
			err[0] = '\0';
			ctx = tls_server_ctx(&o, err, sizeof(err));
			CHECK((ctx != NULL) == t[i].ok, "%s: got %s (%s), "
			    "want %s", what, ctx ? "a context" : "NULL", err,
			    t[i].ok ? "a context" : "NULL");
			SSL_CTX_free(ctx);
		}
	}

	/* Cipher settings that match nothing are errors. */
	o = srv_opts();
	o.ciphers = "BOGUS-CIPHER";
	err[0] = '\0';
	ctx = tls_server_ctx(&o, err, sizeof(err));
	CHECK(ctx == NULL, "bogus cipher list: got a context");
	CHECK_HAS("bogus cipher list", err, "cipher or version");
	SSL_CTX_free(ctx);
	o = srv_opts();
	o.ciphersuites = "TLS_BOGUS";
	err[0] = '\0';
	ctx = tls_server_ctx(&o, err, sizeof(err));
	CHECK(ctx == NULL, "bogus ciphersuites: got a context");
	SSL_CTX_free(ctx);
	ERR_clear_error();
}

static void
test_client_ctx(void)
{
	struct tls_opts o;
	char err[512];
	SSL_CTX *ctx;

	memset(&o, 0, sizeof(o));
	o.verify = 1;
	err[0] = '\0';
	ctx = tls_client_ctx(&o, err, sizeof(err));
	CHECK(ctx == NULL, "client verify without CA: got a context");
	CHECK_HAS("client verify without CA", err, "needs a CA");
	SSL_CTX_free(ctx);
	o.ca = "";
	err[0] = '\0';
	ctx = tls_client_ctx(&o, err, sizeof(err));
	CHECK(ctx == NULL, "client verify with CA \"\": got a context");
	SSL_CTX_free(ctx);

	o.ca = F("ca.pem");
	ctx = tls_client_ctx(&o, err, sizeof(err));
	CHECK(ctx != NULL, "client verify with CA: got NULL (%s)", err);
	if (ctx != NULL) {
		CHECK_INT("client verify mode", SSL_CTX_get_verify_mode(ctx),
		    SSL_VERIFY_PEER);
		CHECK_INT("client min version",
		    SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	}
	SSL_CTX_free(ctx);

	memset(&o, 0, sizeof(o));
	ctx = tls_client_ctx(&o, err, sizeof(err));
	CHECK(ctx != NULL, "client without verify: got NULL (%s)", err);
	if (ctx != NULL)
		CHECK_INT("client no-verify mode", SSL_CTX_get_verify_mode(ctx),
		    SSL_VERIFY_NONE);
	SSL_CTX_free(ctx);

	o.min_version = "TLSv1.1";
	err[0] = '\0';
	ctx = tls_client_ctx(&o, err, sizeof(err));
	CHECK(ctx == NULL, "client min_version TLSv1.1: got a context");
	CHECK_HAS("client min_version TLSv1.1", err, "TLSv1.1");
	SSL_CTX_free(ctx);

	memset(&o, 0, sizeof(o));
	o.cert = F("cli.pem");
	o.key = F("srv.key");
	err[0] = '\0';
	ctx = tls_client_ctx(&o, err, sizeof(err));
	CHECK(ctx == NULL, "client cert with the wrong key: got a context");
	SSL_CTX_free(ctx);
	ERR_clear_error();
}

/* ---- handshakes ---- */

/* Run both ends over a BIO pair: 1 if both complete, 0 if either fails. */
static int
handshake(SSL *s, SSL *c)
{
	int sdone = 0, cdone = 0;

	for (int round = 0; round < 200 && !(sdone && cdone); round++) {
		int r, e;

		if (!cdone) {
			r = SSL_do_handshake(c);
			if (r == 1)
				cdone = 1;
			else {
				e = SSL_get_error(c, r);
				if (e != SSL_ERROR_WANT_READ &&
				    e != SSL_ERROR_WANT_WRITE)
					return 0;
			}
		}
		if (!sdone) {
			r = SSL_do_handshake(s);
			if (r == 1)
				sdone = 1;
			else {
				e = SSL_get_error(s, r);
				if (e != SSL_ERROR_WANT_READ &&
				    e != SSL_ERROR_WANT_WRITE)
					return 0;
			}
		}
	}
	/* TLS 1.3: the server learns of a refused client cert late. */
	if (sdone && cdone) {
		char b;
		int r = SSL_read(s, &b, 1);

		if (r <= 0 && SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
			return 0;
		r = SSL_read(c, &b, 1);
		if (r <= 0 && SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
			return 0;
	}
	return sdone && cdone;
}

struct hs {
	const char	*name;
	const char	*srv_min;	/* server options */
	int		 client_mode;
	const char	*cli_ca;	/* client options */
	int		 verify;
	const char	*host;
	const char	*cli_cert, *cli_key;
	int		 cli_max;	/* raw OpenSSL tweaks on the client */
	const char	*cli_ciphers;
	int		 want;		/* 1 handshake completes */
	int		 want_version;	/* when it does (0: any) */
	int		 want_peer;	/* server sees a client cert */
	int		 srv_weak;	/* 1 seclevel 0 and CBC suites, */
					/* 2 also min TLS 1.0 (control) */
};

static void
run_hs(const struct hs *h)
{
	struct tls_opts so = srv_opts(), co;
	SSL_CTX *sctx, *cctx;
	SSL *s = NULL, *c = NULL;
	BIO *sb = NULL, *cb = NULL;
	char err[512], subj[256], fp[65];
	int ok;

	so.min_version = h->srv_min;
	so.client_mode = h->client_mode;
	if (h->client_mode != TLS_CLIENT_NONE)
		so.ca = F("ca.pem");
	memset(&co, 0, sizeof(co));
	co.ca = h->cli_ca ? F(h->cli_ca) : NULL;
	co.verify = h->verify;
	co.cert = h->cli_cert ? F(h->cli_cert) : NULL;
	co.key = h->cli_key ? F(h->cli_key) : NULL;
	sctx = tls_server_ctx(&so, err, sizeof(err));
	CHECK(sctx != NULL, "%s: server context: %s", h->name, err);
	cctx = tls_client_ctx(&co, err, sizeof(err));
	CHECK(cctx != NULL, "%s: client context: %s", h->name, err);
	if (sctx == NULL || cctx == NULL)
		goto out;
	if (h->srv_weak) {
		/* Leave min_version as the only thing in the way. */
		SSL_CTX_set_security_level(sctx, 0);
		if (SSL_CTX_set_cipher_list(sctx, "DEFAULT:@SECLEVEL=0") != 1)
			CHECK(0, "%s: weak server cipher list", h->name);
		if (h->srv_weak == 2)
			SSL_CTX_set_min_proto_version(sctx, TLS1_VERSION);
	}
	if (h->cli_max != 0) {
		/* Make the client willing to go as low as asked. */
		SSL_CTX_set_security_level(cctx, 0);
		SSL_CTX_set_min_proto_version(cctx,
		    h->cli_max < TLS1_2_VERSION ? h->cli_max : TLS1_2_VERSION);
		SSL_CTX_set_max_proto_version(cctx, h->cli_max);
	}
	if (h->cli_ciphers != NULL &&
	    SSL_CTX_set_cipher_list(cctx, h->cli_ciphers) != 1) {
		CHECK(0, "%s: client cipher list refused", h->name);
		goto out;
	}
	if ((s = SSL_new(sctx)) == NULL || (c = SSL_new(cctx)) == NULL ||
	    BIO_new_bio_pair(&sb, 0, &cb, 0) != 1) {
		CHECK(0, "%s: SSL_new/BIO pair failed", h->name);
		goto out;
	}
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	CHECK_INT("tls_client_expect", tls_client_expect(c, h->host,
	    h->verify), 0);
	ok = handshake(s, c);
	CHECK(ok == h->want, "%s: handshake got %s, want %s", h->name,
	    ok ? "done" : "refused", h->want ? "done" : "refused");
	if (ok && h->want && h->srv_weak) {
		if (h->want_version != 0)
			CHECK(SSL_version(c) == h->want_version, "%s: got %s, "
			    "want version 0x%x", h->name, SSL_get_version(c),
			    h->want_version);
	} else if (ok && h->want) {
		const char *cipher = SSL_get_cipher_name(c);
		int pr;

		if (h->want_version != 0)
			CHECK(SSL_version(c) == h->want_version, "%s: got %s, "
			    "want version 0x%x", h->name, SSL_get_version(c),
			    h->want_version);
		CHECK(SSL_version(c) >= TLS1_2_VERSION, "%s: got %s, want "
		    "TLS 1.2 or later", h->name, SSL_get_version(c));
		CHECK(cipher != NULL && (strstr(cipher, "GCM") != NULL ||
		    strstr(cipher, "CHACHA20") != NULL), "%s: cipher %s is "
		    "not AEAD", h->name, cipher ? cipher : "(none)");
		CHECK(SSL_version(c) == TLS1_3_VERSION || (cipher != NULL &&
		    strncmp(cipher, "ECDHE-", 6) == 0), "%s: TLS 1.2 cipher "
		    "%s is not ECDHE", h->name, cipher ? cipher : "(none)");
		pr = tls_peer_identity(s, subj, sizeof(subj), fp, sizeof(fp));
		CHECK_INT("server sees a client certificate", pr,
		    h->want_peer);
		if (pr == 1 && h->want_peer) {
			unsigned char md[EVP_MAX_MD_SIZE];
			unsigned int mdlen = 0;
			char want_fp[65];

			X509_digest(cli_crt, EVP_sha256(), md, &mdlen);
			for (unsigned i = 0; i < mdlen && i < 32; i++)
				snprintf(want_fp + 2 * i, 3, "%02x", md[i]);
			CHECK(strcmp(subj, "O=Test,CN=client01") == 0 ||
			    strcmp(subj, "CN=client01,O=Test") == 0,
			    "%s: subject got \"%s\", want \"CN=client01,"
			    "O=Test\"", h->name, subj);
			CHECK(strcmp(fp, want_fp) == 0, "%s: fingerprint got "
			    "%s, want %s", h->name, fp, want_fp);
		}
		{
			char nm[TLS_NAMES_MAX][TLS_NAME_LEN];
			int nn = tls_peer_names(s, nm, TLS_NAMES_MAX);

			CHECK_INT("tls_peer_names count", nn, h->want_peer);
			if (nn == 1)
				CHECK(strcmp(nm[0], "client01") == 0, "%s: "
				    "peer name got \"%s\", want client01",
				    h->name, nm[0]);
		}
		if (pr == 0)
			CHECK(subj[0] == '\0' && fp[0] == '\0', "%s: no peer "
			    "but subject \"%s\" fp \"%s\"", h->name, subj, fp);
		/* And the client sees the server it expected. */
		pr = tls_peer_identity(c, subj, sizeof(subj), fp, sizeof(fp));
		CHECK(pr == 1 && strstr(subj, "CN=localhost") != NULL,
		    "%s: client peer got %d \"%s\"", h->name, pr, subj);
	}
out:
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(sctx);
	SSL_CTX_free(cctx);
	ERR_clear_error();
}

static void
test_handshakes(void)
{
	static const struct hs t[] = {
		{ "default, verified by name", NULL, TLS_CLIENT_NONE, "ca.pem",
		  1, "localhost", NULL, NULL, 0, NULL, 1, TLS1_3_VERSION, 0,
		  0 },
		{ "verified by IP", NULL, TLS_CLIENT_NONE, "ca.pem", 1,
		  "127.0.0.1", NULL, NULL, 0, NULL, 1, 0, 0, 0 },
		{ "wrong host name", NULL, TLS_CLIENT_NONE, "ca.pem", 1,
		  "example.org", NULL, NULL, 0, NULL, 0, 0, 0, 0 },
		{ "wrong IP", NULL, TLS_CLIENT_NONE, "ca.pem", 1,
		  "127.0.0.2", NULL, NULL, 0, NULL, 0, 0, 0, 0 },
		{ "partial wildcard-like name", NULL, TLS_CLIENT_NONE,
		  "ca.pem", 1, "localhost.example.org", NULL, NULL, 0, NULL,
		  0, 0, 0, 0 },
		{ "other CA", NULL, TLS_CLIENT_NONE, "ca2.pem", 1,
		  "localhost", NULL, NULL, 0, NULL, 0, 0, 0, 0 },
		{ "no verification", NULL, TLS_CLIENT_NONE, NULL, 0,
		  "example.org", NULL, NULL, 0, NULL, 1, 0, 0, 0 },
		{ "client capped at TLS 1.2", NULL, TLS_CLIENT_NONE, "ca.pem",
		  1, "localhost", NULL, NULL, TLS1_2_VERSION, NULL, 1,
		  TLS1_2_VERSION, 0, 0 },
		{ "TLS 1.2 CBC suite only", NULL, TLS_CLIENT_NONE, "ca.pem", 1,
		  "localhost", NULL, NULL, TLS1_2_VERSION,
		  "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384", 0, 0, 0,
		  0 },
		{ "TLS 1.2 static-key suite only", NULL, TLS_CLIENT_NONE,
		  NULL, 0, "localhost", NULL, NULL, TLS1_2_VERSION,
		  "AES128-GCM-SHA256:AES256-GCM-SHA384", 0, 0, 0, 0 },
		{ "client at TLS 1.1", NULL, TLS_CLIENT_NONE, NULL, 0,
		  "localhost", NULL, NULL, TLS1_1_VERSION,
		  "DEFAULT:@SECLEVEL=0", 0, 0, 0, 0 },
		{ "client at TLS 1.0", NULL, TLS_CLIENT_NONE, NULL, 0,
		  "localhost", NULL, NULL, TLS1_VERSION,
		  "DEFAULT:@SECLEVEL=0", 0, 0, 0, 0 },
		/*
		 * A server weakened everywhere but in its minimum version
		 * still refuses TLS 1.1 and 1.0; the control case with the
		 * minimum lowered shows that the client could connect.
		 */
		{ "weak server, client at TLS 1.1", NULL, TLS_CLIENT_NONE,
		  NULL, 0, "localhost", NULL, NULL, TLS1_1_VERSION,
		  "DEFAULT:@SECLEVEL=0", 0, 0, 0, 1 },
		{ "weak server, client at TLS 1.0", NULL, TLS_CLIENT_NONE,
		  NULL, 0, "localhost", NULL, NULL, TLS1_VERSION,
		  "DEFAULT:@SECLEVEL=0", 0, 0, 0, 1 },
		{ "weak server, client at TLS 1.2", NULL, TLS_CLIENT_NONE,
		  NULL, 0, "localhost", NULL, NULL, TLS1_2_VERSION,
		  "DEFAULT:@SECLEVEL=0", 1, TLS1_2_VERSION, 0, 1 },
		{ "control: min lowered, client at TLS 1.1", NULL,
		  TLS_CLIENT_NONE, NULL, 0, "localhost", NULL, NULL,
		  TLS1_1_VERSION, "DEFAULT:@SECLEVEL=0", 1, TLS1_1_VERSION, 0,
		  2 },
		{ "server TLS 1.3 only, client TLS 1.2", "TLSv1.3",
		  TLS_CLIENT_NONE, "ca.pem", 1, "localhost", NULL, NULL,
		  TLS1_2_VERSION, NULL, 0, 0, 0, 0 },
		{ "client cert required, none sent", NULL, TLS_CLIENT_REQUIRE,
		  "ca.pem", 1, "localhost", NULL, NULL, 0, NULL, 0, 0, 0, 0 },
		{ "client cert required and sent", NULL, TLS_CLIENT_REQUIRE,
		  "ca.pem", 1, "localhost", "cli.pem", "cli.key", 0, NULL, 1,
		  0, 1, 0 },
		{ "client cert required, TLS 1.2", NULL, TLS_CLIENT_REQUIRE,
		  "ca.pem", 1, "localhost", "cli.pem", "cli.key",
		  TLS1_2_VERSION, NULL, 1, TLS1_2_VERSION, 1, 0 },
		{ "client cert optional, none sent", NULL,
		  TLS_CLIENT_OPTIONAL, "ca.pem", 1, "localhost", NULL, NULL,
		  0, NULL, 1, 0, 0, 0 },
		{ "client cert optional and sent", NULL, TLS_CLIENT_OPTIONAL,
		  "ca.pem", 1, "localhost", "cli.pem", "cli.key", 0, NULL, 1,
		  0, 1, 0 },
		/* The server certificate is not a client certificate. */
		{ "client sends a server-only cert", NULL,
		  TLS_CLIENT_REQUIRE, "ca.pem", 1, "localhost", "srv.pem",
		  "srv.key", 0, NULL, 0, 0, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		run_hs(&t[i]);
}

/* ---- revocation ---- */

/* A CRL of issuer listing serial (0: none), valid from..to s from now. */
static int
write_crl(const char *path, X509 *issuer, EVP_PKEY *ikey, long serial,
    long from, long to)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	FILE *fp;
	int ok = crl != NULL && t != NULL &&
	    X509_CRL_set_version(crl, 1) &&
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) &&
	    X509_gmtime_adj(t, from) != NULL &&
	    X509_CRL_set1_lastUpdate(crl, t) &&
	    X509_gmtime_adj(t, to) != NULL &&
	    X509_CRL_set1_nextUpdate(crl, t);

	if (ok && serial != 0) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_INTEGER *sn = ASN1_INTEGER_new();

		ok = r != NULL && sn != NULL && ASN1_INTEGER_set(sn, serial) &&
		    X509_REVOKED_set_serialNumber(r, sn) &&
		    X509_gmtime_adj(t, from) != NULL &&
		    X509_REVOKED_set_revocationDate(r, t) &&
		    X509_CRL_add0_revoked(crl, r);
		ASN1_INTEGER_free(sn);
		if (!ok)
			X509_REVOKED_free(r);
	}
	ok = ok && X509_CRL_sort(crl) && X509_CRL_sign(crl, ikey,
	    EVP_sha256()) && (fp = fopen(path, "w")) != NULL;
	if (ok) {
		ok = PEM_write_X509_CRL(fp, crl) == 1;
		ok = fclose(fp) == 0 && ok;
	}
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	return ok;
}

/* A handshake between fresh SSLs of sctx and cctx; the server's SSL
 * goes to *sp (the caller frees it), 1 if it completed. */
static int
crl_handshake(SSL_CTX *sctx, SSL_CTX *cctx, SSL **sp)
{
	SSL *c = SSL_new(cctx);
	BIO *sb, *cb;
	int ok = 0;

	*sp = SSL_new(sctx);
	if (*sp != NULL && c != NULL && BIO_new_bio_pair(&sb, 0, &cb, 0) == 1) {
		SSL_set_bio(*sp, sb, sb);
		SSL_set_bio(c, cb, cb);
		SSL_set_accept_state(*sp);
		SSL_set_connect_state(c);
		ok = tls_client_expect(c, "localhost", 1) == 0 &&
		    handshake(*sp, c);
	}
	SSL_free(c);
	ERR_clear_error();
	return ok;
}

/* Server options requiring client certificates of ca, with crl; F()
 * reuses its buffers: call right before use. */
static struct tls_opts
crl_opts(const char *ca, const char *crl)
{
	struct tls_opts o = srv_opts();

	o.client_mode = TLS_CLIENT_REQUIRE;
	o.ca = F(ca);
	o.crl = F(crl);
	return o;
}

static void
test_crl(void)
{
	static const struct {
		const char	*crl;
		const char	*want;
	} bad[] = {
		{ "crl-rogue.pem", "not signed by a CA of the CA file" },
		{ "ca.pem", "only CRLs belong in it" },
		{ "pass.txt", "no CRL in the file" },
		{ "missing.pem", "missing.pem: " },
	};
	struct tls_opts so, co;
	struct tls_crl_info ci;
	struct tls_verify_fail vf;
	SSL_CTX *sctx, *sctx2, *cctx;
	SSL *s = NULL;
	char err[512];
	FILE *fp;

	if (!write_crl(F("crl-empty.pem"), ca_crt, ca_key, 0, -60, 86400) ||
	    !write_crl(F("crl-cli.pem"), ca_crt, ca_key, 3, -60, 86400) ||
	    !write_crl(F("crl-srv.pem"), ca_crt, ca_key, 2, -60, 86400) ||
	    !write_crl(F("crl-old.pem"), ca_crt, ca_key, 0, -7200, -3600) ||
	    !write_crl(F("crl-rogue.pem"), ca2_crt, ca2_key, 0, -60, 86400)) {
		CHECK(0, "cannot write the test CRLs");
		return;
	}
	memset(&co, 0, sizeof(co));
	co.ca = F("ca.pem");
	co.verify = 1;
	co.cert = F("cli.pem");
	co.key = F("cli.key");
	cctx = tls_client_ctx(&co, err, sizeof(err));
	CHECK(cctx != NULL, "client context: %s", err);
	if (cctx == NULL)
		return;

	/* Not revoked: fine; the info says what was loaded. */
	so = crl_opts("ca.pem", "crl-empty.pem");
	sctx = tls_server_ctx(&so, err, sizeof(err));
	CHECK(sctx != NULL, "server with an empty CRL: %s", err);
	if (sctx != NULL) {
		CHECK_INT("crl_info", tls_crl_info(sctx, &ci), 0);
		CHECK_INT("crl_info ncrl", ci.ncrl, 1);
		CHECK_INT("crl_info nrevoked", ci.nrevoked, 0);
		CHECK_INT("crl_info nexpired", ci.nexpired, 0);
		CHECK_INT("crl_info chain (every CA has a CRL)", ci.chain, 1);
		CHECK(ci.nocrl[0] == '\0', "crl_info nocrl got \"%s\"",
		    ci.nocrl);
		CHECK(strlen(ci.next_update) == 20, "crl_info next_update "
		    "got \"%s\"", ci.next_update);
		CHECK_INT("handshake, certificate not revoked",
		    crl_handshake(sctx, cctx, &s), 1);
		CHECK_INT("no verify failure", tls_verify_failure(s, &vf), 0);
		SSL_free(s);
		/* Renewed with the revoking CRL: new sessions refuse the
		 * client, the old context still takes it. */
		so = crl_opts("ca.pem", "crl-cli.pem");
		so.cert = so.key = NULL;	/* not read: kept from sctx */
		sctx2 = tls_server_ctx_renew(&so, sctx, err, sizeof(err));
		CHECK(sctx2 != NULL, "renew: %s", err);
		if (sctx2 != NULL) {
			CHECK(X509_cmp(SSL_CTX_get0_certificate(sctx2),
			    srv_crt) == 0, "renew keeps the certificate");
			CHECK_INT("renewed: revoked client refused",
			    crl_handshake(sctx2, cctx, &s), 0);
			CHECK_INT("renewed: verify failure noted",
			    tls_verify_failure(s, &vf), 1);
			CHECK_INT("verify error", vf.error,
			    X509_V_ERR_CERT_REVOKED);
			CHECK_INT("verify depth", vf.depth, 0);
			CHECK_HAS("failing subject", vf.subject, "CN=client01");
			CHECK(strcmp(vf.serial, "03") == 0, "serial got "
			    "\"%s\", want \"03\"", vf.serial);
			CHECK_INT("fingerprint length", strlen(vf.fp), 64);
			SSL_free(s);
			SSL_CTX_free(sctx2);
		}
		CHECK_INT("old context unchanged",
		    crl_handshake(sctx, cctx, &s), 1);
		SSL_free(s);
		SSL_CTX_free(sctx);
	}

	/* Past its nextUpdate: fail closed. */
	so = crl_opts("ca.pem", "crl-old.pem");
	sctx = tls_server_ctx(&so, err, sizeof(err));
	CHECK(sctx != NULL, "server with an expired CRL: %s", err);
	if (sctx != NULL) {
		CHECK_INT("crl_info", tls_crl_info(sctx, &ci), 0);
		CHECK_INT("crl_info nexpired", ci.nexpired, 1);
		CHECK_INT("handshake with an expired CRL",
		    crl_handshake(sctx, cctx, &s), 0);
		tls_verify_failure(s, &vf);
		CHECK_INT("verify error", vf.error,
		    X509_V_ERR_CRL_HAS_EXPIRED);
		SSL_free(s);
		SSL_CTX_free(sctx);
	}

	/* Two CAs, a CRL for one: the leaf only is checked. */
	if ((fp = fopen(F("two-cas.pem"), "w")) != NULL) {
		PEM_write_X509(fp, ca_crt);
		PEM_write_X509(fp, ca2_crt);
		fclose(fp);
	}
	so = crl_opts("two-cas.pem", "crl-empty.pem");
	sctx = tls_server_ctx(&so, err, sizeof(err));
	CHECK(sctx != NULL, "two CAs, one CRL: %s", err);
	if (sctx != NULL) {
		tls_crl_info(sctx, &ci);
		CHECK_INT("crl_info chain", ci.chain, 0);
		CHECK_HAS("crl_info nocrl", ci.nocrl, "Rogue CA");
		SSL_CTX_free(sctx);
	}

	/* Refused: another CA's CRL, certificates in the file, no CRL. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		so = crl_opts("ca.pem", bad[i].crl);
		sctx = tls_server_ctx(&so, err, sizeof(err));
		CHECK(sctx == NULL, "CRL file %s: got a context, want \"%s\"",
		    bad[i].crl, bad[i].want);
		CHECK_HAS(bad[i].crl, err, bad[i].want);
		SSL_CTX_free(sctx);
	}
	SSL_CTX_free(cctx);

	/* The client side: a server certificate revoked. */
	memset(&co, 0, sizeof(co));
	co.ca = F("ca.pem");
	co.verify = 1;
	co.crl = F("crl-srv.pem");
	cctx = tls_client_ctx(&co, err, sizeof(err));
	CHECK(cctx != NULL, "client with a CRL: %s", err);
	co.crl = F("crl-srv.pem");	/* for the last check below */
	so = srv_opts();
	sctx = tls_server_ctx(&so, err, sizeof(err));
	if (cctx != NULL && sctx != NULL) {
		CHECK_INT("client refuses a revoked server",
		    crl_handshake(sctx, cctx, &s), 0);
		SSL_free(s);
	}
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	co.ca = NULL;
	co.verify = 0;
	CHECK(tls_client_ctx(&co, err, sizeof(err)) == NULL,
	    "a CRL without a CA is refused");
	CHECK_HAS("its error", err, "needs the CA file");
	ERR_clear_error();
}

/* tls_cert_names: CNs and DNS SANs, deduplicated, hostile ones skipped. */
static void
test_cert_names(void)
{
	char nm[TLS_NAMES_MAX][TLS_NAME_LEN];
	static const unsigned char nul_cn[] = "web01\0.evil";
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *crt;
	int n;

	n = tls_cert_names(srv_crt, nm, TLS_NAMES_MAX);
	CHECK_INT("server cert: names (CN = DNS SAN, IP SAN ignored)", n, 1);
	CHECK(n >= 1 && strcmp(nm[0], "localhost") == 0, "server cert: got "
	    "\"%s\", want localhost", n >= 1 ? nm[0] : "");
	crt = make_cert(k, "web01", "Test", ca_crt, ca_key, 10,
	    "DNS:web01.example,DNS:alias,IP:10.0.0.1", 1);
	CHECK(crt != NULL, "cert with SANs made");
	if (crt != NULL) {
		n = tls_cert_names(crt, nm, TLS_NAMES_MAX);
		CHECK_INT("CN plus two DNS SANs", n, 3);
		CHECK(n == 3 && strcmp(nm[0], "web01") == 0 &&
		    strcmp(nm[1], "web01.example") == 0 &&
		    strcmp(nm[2], "alias") == 0, "names: got %s %s %s",
		    n > 0 ? nm[0] : "-", n > 1 ? nm[1] : "-",
		    n > 2 ? nm[2] : "-");
		CHECK_INT("max 2 stores 2", tls_cert_names(crt, nm, 2), 2);
		X509_free(crt);
	}
	/* A CN with an embedded NUL is no name at all. */
	crt = make_cert(k, "placeholder", "Test", ca_crt, ca_key, 11, NULL, 1);
	if (crt != NULL) {
		X509_NAME *sn = X509_NAME_new();

		X509_NAME_add_entry_by_NID(sn, NID_commonName, V_ASN1_UTF8STRING,
		    nul_cn, sizeof(nul_cn) - 1, -1, 0);
		X509_set_subject_name(crt, sn);
		X509_NAME_free(sn);
		CHECK_INT("CN with NUL skipped", tls_cert_names(crt, nm,
		    TLS_NAMES_MAX), 0);
		X509_free(crt);
	}
	EVP_PKEY_free(k);
}

static void
test_error_text(void)
{
	char buf[256];

	ERR_clear_error();
	CHECK(strcmp(tls_error(buf, sizeof(buf)), "unknown TLS error") == 0,
	    "tls_error with an empty queue: got \"%s\"", buf);
	ERR_raise(ERR_LIB_SSL, SSL_R_NO_CIPHER_MATCH);
	tls_error(buf, sizeof(buf));
	CHECK(strstr(buf, "no cipher match") != NULL, "tls_error: got \"%s\", "
	    "want \"no cipher match\"", buf);
	CHECK_INT("tls_error clears the queue", ERR_peek_error(), 0);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (t == NULL || *t == '\0')
		t = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/test_tls.XXXXXX", t) >=
	    sizeof(dir) || mkdtemp(dir) == NULL) {
		printf("test_tls: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	if (!make_pki()) {
		CHECK(0, "cannot make the test PKI: %s",
		    ERR_error_string(ERR_get_error(), NULL));
	} else {
		test_server_ctx();
		test_client_ctx();
		test_handshakes();
		test_crl();
		test_cert_names();
		test_error_text();
	}
	free_pki();
	if (nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS) == -1)
		printf("test_tls: cannot remove %s: %s\n", dir,
		    strerror(errno));
	return check_report("test_tls");
}
