/* SPDX-License-Identifier: ISC */
/* Connection facts as a header block before the item body. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vis.h>

#include <openssl/evp.h>

#include "envelope.h"

#define ENV_VIS	(VIS_CSTYLE | VIS_OCTAL | VIS_TAB | VIS_NL | VIS_NOLOCALE)

/* Append "Key: vis(value)\n" to buf. */
static int
env_put(char *buf, size_t len, size_t *pos, const char *key, const char *val)
{
	char v[4 * 1024 + 1];
	int n;

	if (strnvis(v, val, sizeof(v), ENV_VIS) == -1)
		return -1;
	n = snprintf(buf + *pos, len - *pos, "%s: %s\n", key, v);
	if (n < 0 || (size_t)n >= len - *pos)
		return -1;
	*pos += n;
	return 0;
}

/* A signer name: a tool's name, [a-z0-9-], 1..ENVELOPE_SIGNER_MAX-1. */
static int
env_signer_ok(const char *s, size_t n)
{
	if (n == 0 || n >= ENVELOPE_SIGNER_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

ssize_t
envelope_format(const struct envelope *e, char *buf, size_t len,
    size_t *sha_off, size_t *stamp_off)
{
	char tmp[2048];
	size_t pos = 0;

	if (len < sizeof(ENVELOPE_MAGIC))
		return -1;
	memcpy(buf, ENVELOPE_MAGIC, sizeof(ENVELOPE_MAGIC) - 1);
	pos = sizeof(ENVELOPE_MAGIC) - 1;
	snprintf(tmp, sizeof(tmp), "%s %d", e->peer, e->port);
	if (env_put(buf, len, &pos, "Original-Name", e->name) == -1 ||
	    env_put(buf, len, &pos, "Peer", tmp) == -1 ||
	    env_put(buf, len, &pos, "Received", e->received) == -1 ||
	    env_put(buf, len, &pos, "Receiver", e->receiver) == -1)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s%s%s", e->tls[0] ? e->tls : "none",
	    e->cipher[0] ? " " : "", e->cipher);
	if (env_put(buf, len, &pos, "Tls", tmp) == -1)
		return -1;
	if (e->fingerprint[0] != '\0' &&
	    (env_put(buf, len, &pos, "Client-Subject", e->subject) == -1 ||
	    env_put(buf, len, &pos, "Client-Sha256", e->fingerprint) == -1))
		return -1;
	if (e->bound[0] != '\0' && (strlen(e->bound) != 32 ||
	    strspn(e->bound, "0123456789abcdef") != 32 ||
	    env_put(buf, len, &pos, "Client-Bound", e->bound) == -1))
		return -1;
	if (env_put(buf, len, &pos, "Auth", e->auth[0] ? e->auth : "none") ==
	    -1)
		return -1;
	if (e->auth_agent[0] != '\0' &&
	    env_put(buf, len, &pos, "Auth-Agent", e->auth_agent) == -1)
		return -1;
	if (e->have_auth_group) {
		if (e->auth_group > ENVELOPE_GROUP_MAX)
			return -1;
		snprintf(tmp, sizeof(tmp), "%lu", e->auth_group);
		if (env_put(buf, len, &pos, "Auth-Group", tmp) == -1)
			return -1;
	}
	if (e->auth_create != ENVELOPE_UNSET && env_put(buf, len, &pos,
	    "Auth-Create", e->auth_create == ENVELOPE_YES ? "yes" : "no") == -1)
		return -1;
	if (e->auth_learn != ENVELOPE_UNSET && env_put(buf, len, &pos,
	    "Auth-Learn", e->auth_learn == ENVELOPE_YES ? "yes" : "no") == -1)
		return -1;
	if (e->have_module_cap) {
		if (e->module_cap < 0 || e->module_cap > ENVELOPE_CAP_MAX)
			return -1;
		snprintf(tmp, sizeof(tmp), "%ld", e->module_cap);
		if (env_put(buf, len, &pos, "Auth-Module-Cap", tmp) == -1)
			return -1;
	}
	if (pos + 8 + 64 + 2 >= len)
		return -1;
	memcpy(buf + pos, "Sha256: ", 8);
	pos += 8;
	if (sha_off != NULL)
		*sha_off = pos;
	if (e->sha256[0] != '\0' && strlen(e->sha256) == 64)
		memcpy(buf + pos, e->sha256, 64);
	else
		memset(buf + pos, '0', 64);
	pos += 64;
	buf[pos++] = '\n';
	if (e->stamp_signer[0] != '\0') {
		/* "Stamp: <signer> <key id> <signature>": filled in later. */
		size_t sl = strlen(e->stamp_signer);

		if (!env_signer_ok(e->stamp_signer, sl) ||
		    pos + 7 + sl + 1 + 16 + 1 + 88 + 2 >= len)
			return -1;
		if (stamp_off != NULL)
			*stamp_off = pos;
		memcpy(buf + pos, "Stamp: ", 7);
		pos += 7;
		memcpy(buf + pos, e->stamp_signer, sl);
		pos += sl;
		buf[pos++] = ' ';
		memset(buf + pos, '0', 16);
		pos += 16;
		buf[pos++] = ' ';
		memset(buf + pos, 'A', 88);
		pos += 88;
		buf[pos++] = '\n';
	}
	buf[pos++] = '\n';
	return pos;
}

/* Decode one value into dst (cap dlen); -1 if it does not decode. */
static int
env_get(char *dst, size_t dlen, const char *val, size_t vlen)
{
	char *tmp = malloc(vlen + 1), *dec = malloc(vlen + 1);
	int n;

	if (tmp == NULL || dec == NULL) {
		free(tmp);
		free(dec);
		return -1;
	}
	memcpy(tmp, val, vlen);
	tmp[vlen] = '\0';
	/* Decoding never grows a value: dec has room; then check the fit. */
	n = strunvis(dec, tmp);
	free(tmp);
	if (n >= 0 && (size_t)n == strlen(dec) && (size_t)n + 1 <= dlen)
		memcpy(dst, dec, n + 1);
	else
		n = -1;
	free(dec);
	return n < 0 ? -1 : 0;	/* no NUL */
}

static int
env_hex64(const char *s)
{
	if (strlen(s) != 64)
		return 0;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return 0;
	return 1;
}

/*
 * "Stamp: <signer> <16 hex> <88 base64>" at line: the fields into e,
 * the signature decoded; -1 if malformed.
 */
static int
env_stamp(struct envelope *e, const char *v, const char *nl)
{
	const char *sp1, *sp2;
	unsigned char raw[67];
	char b64[89];
	size_t vl = nl - v;

	if ((sp1 = memchr(v, ' ', vl)) == NULL ||
	    !env_signer_ok(v, sp1 - v) ||
	    nl - (sp1 + 1) != 16 + 1 + 88 || sp1[17] != ' ')
		return -1;
	sp2 = sp1 + 17;
	for (int i = 1; i <= 16; i++)
		if (!((sp1[i] >= '0' && sp1[i] <= '9') ||
		    (sp1[i] >= 'a' && sp1[i] <= 'f')))
			return -1;
	memcpy(b64, sp2 + 1, 88);
	b64[88] = '\0';
	/* 64 bytes are 86 characters and "==": anything else is not ours. */
	if (b64[86] != '=' || b64[87] != '=' ||
	    strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/") != 86 ||
	    EVP_DecodeBlock(raw, (const unsigned char *)b64, 88) != 66)
		return -1;
	memcpy(e->stamp_signer, v, sp1 - v);
	e->stamp_signer[sp1 - v] = '\0';
	memcpy(e->stamp_keyid, sp1 + 1, 16);
	e->stamp_keyid[16] = '\0';
	memcpy(e->stamp_sig, raw, 64);
	return 0;
}

int
envelope_parse(const char *buf, size_t len, struct envelope *e, char *err,
    size_t errlen)
{
	size_t pos, ml = sizeof(ENVELOPE_MAGIC) - 1;
	int have_name = 0, have_peer = 0, have_stamp = 0;

	memset(e, 0, sizeof(*e));
	if (len < ml || memcmp(buf, ENVELOPE_MAGIC, ml) != 0)
		return 0;
	pos = ml;
	for (;;) {
		const char *line = buf + pos, *nl, *colon;
		size_t ll, kl;
		char *dst = NULL;
		size_t dlen = 0;

		if (pos >= len || pos >= ENVELOPE_MAX) {
			snprintf(err, errlen, "envelope: no end within %d "
			    "bytes", ENVELOPE_MAX);
			return -1;
		}
		if ((nl = memchr(line, '\n', len - pos)) == NULL) {
			snprintf(err, errlen, "envelope: unterminated line");
			return -1;
		}
		ll = nl - line;
		pos += ll + 1;
		if (ll == 0)
			break;
		if (have_stamp) {
			snprintf(err, errlen, "envelope: a line after the "
			    "Stamp");
			return -1;
		}
		if ((colon = memchr(line, ':', ll)) == NULL ||
		    colon + 1 >= nl || colon[1] != ' ') {
			snprintf(err, errlen, "envelope: malformed line");
			return -1;
		}
		kl = colon - line;
#define KEY(k)	(kl == sizeof(k) - 1 && memcmp(line, k, kl) == 0)
		if (KEY("Original-Name")) {
			dst = e->name;
			dlen = sizeof(e->name);
			have_name = 1;
		} else if (KEY("Peer")) {
			char tmp[128], *sp;
			const char *es = NULL;

			if (env_get(tmp, sizeof(tmp), colon + 2,
			    nl - colon - 2) == -1 ||
			    (sp = strrchr(tmp, ' ')) == NULL) {
				snprintf(err, errlen, "envelope: bad Peer");
				return -1;
			}
			*sp = '\0';
			e->port = (int)strtonum(sp + 1, 0, 65535, &es);
			if (es != NULL) {
				snprintf(err, errlen, "envelope: bad Peer port");
				return -1;
			}
			strlcpy(e->peer, tmp, sizeof(e->peer));
			have_peer = 1;
			continue;
		} else if (KEY("Received")) {
			dst = e->received;
			dlen = sizeof(e->received);
		} else if (KEY("Receiver")) {
			dst = e->receiver;
			dlen = sizeof(e->receiver);
		} else if (KEY("Tls")) {
			char tmp[160], *sp;

			if (env_get(tmp, sizeof(tmp), colon + 2,
			    nl - colon - 2) == -1) {
				snprintf(err, errlen, "envelope: bad Tls");
				return -1;
			}
			if ((sp = strchr(tmp, ' ')) != NULL) {
				*sp = '\0';
				strlcpy(e->cipher, sp + 1, sizeof(e->cipher));
			}
			strlcpy(e->tls, tmp, sizeof(e->tls));
			continue;
		} else if (KEY("Client-Subject")) {
			dst = e->subject;
			dlen = sizeof(e->subject);
		} else if (KEY("Client-Sha256")) {
			dst = e->fingerprint;
			dlen = sizeof(e->fingerprint);
		} else if (KEY("Client-Bound")) {
			dst = e->bound;
			dlen = sizeof(e->bound);
		} else if (KEY("Auth")) {
			dst = e->auth;
			dlen = sizeof(e->auth);
		} else if (KEY("Sha256")) {
			dst = e->sha256;
			dlen = sizeof(e->sha256);
		} else if (KEY("Auth-Create") || KEY("Auth-Learn")) {
			int *flag = KEY("Auth-Create") ? &e->auth_create :
			    &e->auth_learn;
			size_t vl = nl - colon - 2;

			/* Exactly "yes" or "no": a decision is never guessed. */
			if (vl == 3 && memcmp(colon + 2, "yes", 3) == 0)
				*flag = ENVELOPE_YES;
			else if (vl == 2 && memcmp(colon + 2, "no", 2) == 0)
				*flag = ENVELOPE_NO;
			else {
				snprintf(err, errlen, "envelope: bad %.*s (yes "
				    "or no)", (int)kl, line);
				return -1;
			}
			continue;
		} else if (KEY("Auth-Group")) {
			char tmp[16];
			const char *es = NULL;
			size_t vl = nl - colon - 2;

			if (vl == 0 || vl >= sizeof(tmp) ||
			    strspn(colon + 2, "0123456789") < vl) {
				snprintf(err, errlen, "envelope: bad Auth-Group");
				return -1;
			}
			memcpy(tmp, colon + 2, vl);
			tmp[vl] = '\0';
			e->auth_group = (unsigned long)strtonum(tmp, 0,
			    ENVELOPE_GROUP_MAX, &es);
			if (es != NULL) {
				snprintf(err, errlen, "envelope: bad Auth-Group");
				return -1;
			}
			e->have_auth_group = 1;
			continue;
		} else if (KEY("Auth-Agent")) {
			dst = e->auth_agent;
			dlen = sizeof(e->auth_agent);
		} else if (KEY("Stamp")) {
			if (env_stamp(e, colon + 2, nl) == -1) {
				snprintf(err, errlen, "envelope: bad Stamp");
				return -1;
			}
			e->stamp_off = line - buf;
			have_stamp = 1;
			continue;
		} else if (KEY("Auth-Module-Cap")) {
			char tmp[16];
			const char *es = NULL;
			size_t vl = nl - colon - 2;

			if (vl == 0 || vl >= sizeof(tmp) ||
			    strspn(colon + 2, "0123456789") < vl) {
				snprintf(err, errlen, "envelope: bad "
				    "Auth-Module-Cap");
				return -1;
			}
			memcpy(tmp, colon + 2, vl);
			tmp[vl] = '\0';
			e->module_cap = (long)strtonum(tmp, 0, ENVELOPE_CAP_MAX,
			    &es);
			if (es != NULL) {
				snprintf(err, errlen, "envelope: bad "
				    "Auth-Module-Cap");
				return -1;
			}
			e->have_module_cap = 1;
			continue;
		} else
			continue;	/* unknown keys: later versions add */
#undef KEY
		if (env_get(dst, dlen, colon + 2, nl - colon - 2) == -1) {
			snprintf(err, errlen, "envelope: bad value for %.*s",
			    (int)kl, line);
			return -1;
		}
	}
	if (!have_name || !have_peer) {
		snprintf(err, errlen, "envelope: missing Original-Name or Peer");
		return -1;
	}
	if (e->sha256[0] != '\0' && !env_hex64(e->sha256)) {
		snprintf(err, errlen, "envelope: bad Sha256");
		return -1;
	}
	if (e->fingerprint[0] != '\0' && !env_hex64(e->fingerprint)) {
		snprintf(err, errlen, "envelope: bad Client-Sha256");
		return -1;
	}
	if (e->bound[0] != '\0' && (strlen(e->bound) != 32 ||
	    strspn(e->bound, "0123456789abcdef") != 32)) {
		snprintf(err, errlen, "envelope: bad Client-Bound");
		return -1;
	}
	e->hdrlen = pos;
	return 1;
}
