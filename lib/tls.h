/* SPDX-License-Identifier: ISC */
/* TLS contexts (OpenSSL 3): TLS 1.2+, AEAD with (EC)DHE, own CA only. */
#ifndef OCTO_TLS_H
#define OCTO_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#define TLS_CLIENT_NONE		0	/* no client certificate asked for */
#define TLS_CLIENT_OPTIONAL	1	/* asked for; verified if sent */
#define TLS_CLIENT_REQUIRE	2	/* required and verified */

struct tls_opts {
	const char	*cert;		/* PEM certificate (chain) */
	const char	*key;		/* PEM private key */
	const char	*key_pass_file;	/* passphrase for key, first line */
	const char	*key_pass;	/* or the passphrase itself */
	int		 ask_tty;	/* else OpenSSL may ask on the terminal */
	const char	*ca;		/* PEM CA bundle: the only trust store */
	const char	*crl;		/* PEM CRLs of those CAs; NULL: none */
	const char	*ciphers;	/* TLS 1.2 list (AEAD+ECDHE default) */
	const char	*ciphersuites;	/* TLS 1.3 suites */
	const char	*min_version;	/* "TLSv1.2" (default) or "TLSv1.3" */
	int		 client_mode;	/* server: TLS_CLIENT_* */
	int		 verify;	/* client: verify the server against ca */
};

#define TLS_DEFAULT_CIPHERS \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256"

SSL_CTX	*tls_server_ctx(const struct tls_opts *, char *err, size_t errlen);
SSL_CTX	*tls_client_ctx(const struct tls_opts *, char *err, size_t errlen);
/*
 * A new server context for o with the certificate, chain and key of old
 * (already loaded: no passphrase is asked again) and the CA and CRL files
 * read again; old is left as it is.
 */
SSL_CTX	*tls_server_ctx_renew(const struct tls_opts *, SSL_CTX *old, char *err,
	    size_t errlen);

/*
 * With o->crl every CRL in that PEM file (nothing else may be there) must
 * be signed by a certificate of o->ca; a certificate listed in one fails
 * verification ("certificate revoked"), and so does every certificate
 * once its issuer's CRL is past its nextUpdate ("CRL has expired": fail
 * closed).  The leaf is checked; the whole chain too when every CA in
 * o->ca has a CRL in the file (X509_V_FLAG_CRL_CHECK_ALL).
 */
struct tls_crl_info {
	int	 ncrl;			/* CRLs loaded */
	long	 nrevoked;		/* serial numbers they list */
	int	 nexpired;		/* CRLs past their nextUpdate now */
	int	 chain;			/* 1: the whole chain is checked */
	char	 next_update[32];	/* the earliest nextUpdate, "" none */
	char	 nocrl[256];		/* a CA without a CRL, "" if none */
};
/* What the CRLs of ctx say; 0, or -1 if it has none. */
int	 tls_crl_info(SSL_CTX *, struct tls_crl_info *);

/* Why the peer's certificate failed verification (server contexts). */
struct tls_verify_fail {
	long	 error;			/* X509_V_ERR_* */
	int	 depth;			/* 0: the peer's own certificate */
	char	 subject[256];		/* RFC 2253, of the failing cert */
	char	 serial[84];		/* hexadecimal */
	char	 fp[65];		/* its SHA-256 fingerprint, hex */
};
/* 1 and vf filled if verification failed during the handshake, else 0. */
int	 tls_verify_failure(SSL *, struct tls_verify_fail *vf);
/* Client side: SNI and host name or IP address check for host. */
int	 tls_client_expect(SSL *, const char *host, int verify);
/* Subject (RFC 2253) and SHA-256 fingerprint of the peer; 1 if present. */
int	 tls_peer_identity(SSL *, char *subject, size_t slen, char *fp,
	    size_t fplen);
/*
 * The names a certificate vouches for: every subject commonName and every
 * DNS subjectAltName, as UTF-8, without duplicates.  A name holding a NUL
 * or a control character, or longer than TLS_NAME_LEN - 1, is skipped.
 * Returns how many were stored (at most max).
 */
#define TLS_NAME_LEN	256
#define TLS_NAMES_MAX	16
int	 tls_cert_names(X509 *, char names[][TLS_NAME_LEN], int max);
/* The same for the peer's certificate; 0 if it sent none. */
int	 tls_peer_names(SSL *, char names[][TLS_NAME_LEN], int max);
/* The oldest queued OpenSSL error as text (and clear the queue). */
const char *tls_error(char *buf, size_t len);

#endif
