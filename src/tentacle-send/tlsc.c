/* SPDX-License-Identifier: ISC */
/* tentacle-send: the client TLS context and the -w key passphrase. */
#include <sys/mman.h>

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <readpassphrase.h>

#include "tls.h"

#include "send.h"

static char	tlsc_pass[1024];	/* -w passphrase, memory only */
static int	tlsc_havepass;

/* Prompt for the key passphrase on the terminal, without echo. */
int
tlsc_askpass(void)
{
	(void)mlock(tlsc_pass, sizeof(tlsc_pass));	/* best effort */
	if (readpassphrase("Enter PEM pass phrase: ", tlsc_pass,
	    sizeof(tlsc_pass), RPP_REQUIRE_TTY | RPP_ECHO_OFF) == NULL)
		return -1;
	tlsc_havepass = 1;
	return 0;
}

/* Wipe the passphrase once the key is loaded. */
void
tlsc_forget(void)
{
	explicit_bzero(tlsc_pass, sizeof(tlsc_pass));
	tlsc_havepass = 0;
}

/*
 * Hand OpenSSL the -w passphrase; without -w refuse, so that an
 * encrypted key fails instead of OpenSSL prompting on its own.
 */
static int
tlsc_pass_cb(char *buf, int size, int rwflag, void *u)
{
	size_t n;

	(void)rwflag;
	(void)u;
	if (!tlsc_havepass || size <= 0)
		return 0;
	n = strlen(tlsc_pass);
	if (n >= (size_t)size)
		return 0;
	memcpy(buf, tlsc_pass, n + 1);
	return (int)n;
}

/*
 * Build the client context: lib/tls sets versions, suites and the CA;
 * the certificate and key are loaded here, under our passphrase callback.
 */
SSL_CTX *
tlsc_ctx(const struct opts *o, char *err, size_t errlen)
{
	struct tls_opts to;
	SSL_CTX *ctx;
	char e[256];
	const char *key;

	memset(&to, 0, sizeof(to));
	to.ca = o->ca;
	to.crl = o->crl;
	to.verify = o->ca != NULL;
	if ((ctx = tls_client_ctx(&to, err, errlen)) == NULL)
		return NULL;
	SSL_CTX_set_default_passwd_cb(ctx, tlsc_pass_cb);
	if (o->cert == NULL)
		return ctx;
	key = o->key != NULL ? o->key : o->cert;
	if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
		snprintf(err, errlen, "%s: %s", o->cert, tls_error(e,
		    sizeof(e)));
		goto bad;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "%s: %s%s", key, tls_error(e, sizeof(e)),
		    o->askpass ? "" : " (if the key is encrypted, use -w)");
		goto bad;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s: key does not match %s: %s", key,
		    o->cert, tls_error(e, sizeof(e)));
		goto bad;
	}
	return ctx;
bad:
	SSL_CTX_free(ctx);
	return NULL;
}
