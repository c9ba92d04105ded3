/* SPDX-License-Identifier: ISC */
/*
 * The signed manifest beside every served file, FILE.sig: what the file
 * is for (the agent's key, or the collection's or command's name), its
 * name, size and SHA-256, a serial that only grows and the time, signed
 * with Ed25519.  A signature over the bytes alone would let web01's file
 * pass as db01's, and any older version pass forever; the manifest binds
 * both.  The format (one "Key: value" per line, in this order):
 *
 *	Octospool-Manifest: 1
 *	Agent: 238cd44ae5e05cc2dd832a79a3f5ddab	(or Collection:, Command:)
 *	File: 238cd44ae5e05cc2dd832a79a3f5ddab.conf
 *	Size: 1234
 *	Sha256: 9a...
 *	Serial: 1796572800000001
 *	Time: 2026-12-06T15:30:00Z
 *	Key: 1f2e3d4c5b6a7988
 *	Signature: <base64 of 64 bytes, over every line before this one>
 *
 * so that `sed '$d'` gives the signed bytes to openssl (conf-dist(8)).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "xalloc.h"

#include "confdist.h"

#define MAGIC		"Octospool-Manifest: 1\n"
#define SERIAL_FILE	".serial"

/* Indexed by enum cd_kind. */
static const char *const kinds[] = { "Agent", "Collection", "Command" };

const char *
manifest_kind_name(enum cd_kind k)
{
	return (size_t)k < sizeof(kinds) / sizeof(kinds[0]) ? kinds[k] : "?";
}

/* The next serial: above every one given before, not below the time in
 * microseconds (a lost .serial does not restart the count), and not
 * below floor (the cluster's newest for the file, plus one).  The served
 * tree is locked.  0 or -1 (errno). */
int
out_serial_next(struct cd_out *o, unsigned long long floor,
    unsigned long long *serial)
{
	struct timespec ts;
	unsigned long long last = 0, now;
	char *cur, buf[32];
	size_t len;
	int n;

	if ((cur = out_read(o->dirfd, SERIAL_FILE, 31, &len)) != NULL) {
		char *end;

		errno = 0;
		last = strtoull(cur, &end, 10);
		if (errno != 0 || end == cur || (*end != '\n' && *end != '\0'))
			last = 0;
		free(cur);
	} else if (errno != ENOENT)
		return -1;
	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return -1;
	now = (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000;
	*serial = last + 1 > now ? last + 1 : now;
	if (*serial < floor)
		*serial = floor;
	n = snprintf(buf, sizeof(buf), "%llu\n", *serial);
	return out_write(o->dirfd, SERIAL_FILE, buf, (size_t)n);
}

/* The signed text for m (everything but the Signature line). */
static int
manifest_body(const struct cd_manifest *m, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s%s: %s\nFile: %s\nSize: %lld\n"
	    "Sha256: %s\nSerial: %llu\nTime: %s\nKey: %s\n", MAGIC,
	    manifest_kind_name(m->kind), m->subject, m->file, m->size,
	    m->sha256, m->serial, m->time, m->keyid);

	return n < 0 || (size_t)n >= len ? -1 : n;
}

int
manifest_make(struct cd_manifest *m, enum cd_kind kind, const char *subject,
    const char *file, const void *data, size_t len, unsigned long long serial,
    EVP_PKEY *key, char *out, size_t outlen)
{
	unsigned char sig[CD_SIG_LEN];
	char b64[CD_SIG_LEN * 2];
	time_t now = time(NULL);
	struct tm tm;
	int n;

	memset(m, 0, sizeof(*m));
	m->kind = kind;
	if (strlcpy(m->subject, subject, sizeof(m->subject)) >=
	    sizeof(m->subject) || strlcpy(m->file, file, sizeof(m->file)) >=
	    sizeof(m->file) || gmtime_r(&now, &tm) == NULL ||
	    strftime(m->time, sizeof(m->time), "%Y-%m-%dT%H:%M:%SZ",
	    &tm) == 0 || sig_keyid(key, m->keyid) == -1)
		return -1;
	m->size = (long long)len;
	m->serial = serial;
	sha256_hex(data, len, m->sha256);
	if ((n = manifest_body(m, out, outlen)) == -1 ||
	    sig_sign(key, out, (size_t)n, sig) == -1 ||
	    EVP_EncodeBlock((unsigned char *)b64, sig, CD_SIG_LEN) != 88)
		return -1;
	if ((size_t)n + 11 + 88 + 2 > outlen)
		return -1;
	return n + snprintf(out + n, outlen - n, "Signature: %s\n", b64);
}

/* "Key: " at *p, its value into dst (at most dlen - 1 bytes). */
static int
take(const char **p, const char *end, const char *key, char *dst,
    size_t dlen)
{
	size_t kl = strlen(key), vl;
	const char *nl;

	if ((size_t)(end - *p) < kl + 2 || memcmp(*p, key, kl) != 0 ||
	    (*p)[kl] != ':' || (*p)[kl + 1] != ' ' ||
	    (nl = memchr(*p, '\n', end - *p)) == NULL)
		return -1;
	vl = nl - (*p + kl + 2);
	if (vl == 0 || vl >= dlen)
		return -1;
	memcpy(dst, *p + kl + 2, vl);
	dst[vl] = '\0';
	for (size_t i = 0; i < vl; i++)
		if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f)
			return -1;
	*p = nl + 1;
	return 0;
}

static int
all_of(const char *s, const char *set, size_t want)
{
	size_t l = strlen(s);

	return l > 0 && strspn(s, set) == l && (want == 0 || l == want);
}

int
manifest_parse(const char *buf, size_t len, struct cd_manifest *m,
    EVP_PKEY *pub, char *err, size_t errlen)
{
	const char *p = buf, *end = buf + len, *signed_end;
	char kind[16], size[24], serial[24], b64[96];
	unsigned char raw[72];
	size_t ml = sizeof(MAGIC) - 1;
	int k;

	memset(m, 0, sizeof(*m));
	if (len == CD_SIG_LEN && memcmp(buf, MAGIC, ml) != 0) {
		snprintf(err, errlen, "old-style signature of the bytes alone "
		    "(not bound to an agent or a serial)");
		return -1;
	}
	if (len > CD_MANIFEST_MAX || len < ml || memcmp(buf, MAGIC, ml) != 0) {
		snprintf(err, errlen, "not a signed manifest");
		return -1;
	}
	p += ml;
	/* The kind: the first line after the magic names it. */
	for (k = 0; k < (int)(sizeof(kinds) / sizeof(kinds[0])); k++)
		if (take(&p, end, kinds[k], m->subject, sizeof(m->subject)) ==
		    0)
			break;
	if (k == (int)(sizeof(kinds) / sizeof(kinds[0]))) {
		snprintf(err, errlen, "manifest: no Agent, Collection or "
		    "Command line");
		return -1;
	}
	m->kind = (enum cd_kind)k;
	snprintf(kind, sizeof(kind), "%s", kinds[k]);
	if (take(&p, end, "File", m->file, sizeof(m->file)) == -1 ||
	    take(&p, end, "Size", size, sizeof(size)) == -1 ||
	    !all_of(size, "0123456789", 0) || strlen(size) > 18 ||
	    take(&p, end, "Sha256", m->sha256, sizeof(m->sha256)) == -1 ||
	    !all_of(m->sha256, "0123456789abcdef", 64) ||
	    take(&p, end, "Serial", serial, sizeof(serial)) == -1 ||
	    !all_of(serial, "0123456789", 0) || strlen(serial) > 19 ||
	    take(&p, end, "Time", m->time, sizeof(m->time)) == -1 ||
	    take(&p, end, "Key", m->keyid, sizeof(m->keyid)) == -1 ||
	    !all_of(m->keyid, "0123456789abcdef", SIG_KEYID_LEN)) {
		snprintf(err, errlen, "manifest: malformed or missing line "
		    "after %s", kind);
		return -1;
	}
	/* At most 18 and 19 digits: both fit. */
	m->size = strtoll(size, NULL, 10);
	m->serial = strtoull(serial, NULL, 10);
	if (m->kind == CD_AGENT && !all_of(m->subject, "0123456789abcdef",
	    CD_KEY_LEN)) {
		snprintf(err, errlen, "manifest: Agent is not an agent key");
		return -1;
	}
	signed_end = p;
	if (take(&p, end, "Signature", b64, sizeof(b64)) == -1 ||
	    strlen(b64) != 88 || p != end ||
	    EVP_DecodeBlock(raw, (const unsigned char *)b64, 88) != 66) {
		snprintf(err, errlen, "manifest: bad Signature line (it is the "
		    "last line)");
		return -1;
	}
	if (pub != NULL) {
		char id[SIG_KEYID_LEN + 1];

		if (sig_keyid(pub, id) == -1 || strcmp(id, m->keyid) != 0) {
			snprintf(err, errlen, "signed by key %s, not by %s",
			    m->keyid, id);
			return -1;
		}
		if (sig_verify(pub, buf, signed_end - buf, raw, CD_SIG_LEN) !=
		    1) {
			snprintf(err, errlen, "BAD signature");
			return -1;
		}
	}
	return 0;
}

int
manifest_binds(const struct cd_manifest *m, enum cd_kind kind,
    const char *subject, const char *file, const void *data, size_t len,
    char *err, size_t errlen)
{
	char sha[65];

	if ((kind == CD_ANY ? m->kind == CD_AGENT : m->kind != kind) ||
	    strcmp(m->subject, subject) != 0) {
		snprintf(err, errlen, "the manifest is for %s %.64s, not %s "
		    "%.64s", manifest_kind_name(m->kind), m->subject,
		    kind == CD_ANY ? "collection or command" :
		    manifest_kind_name(kind), subject);
		return 0;
	}
	if (strcmp(m->file, file) != 0) {
		snprintf(err, errlen, "the manifest is for file %.100s, not "
		    "%.100s", m->file, file);
		return 0;
	}
	sha256_hex(data, len, sha);
	if (m->size != (long long)len || strcmp(m->sha256, sha) != 0) {
		snprintf(err, errlen, "the file is not the one the manifest "
		    "signs (size %zu, SHA-256 %s)", len, sha);
		return 0;
	}
	return 1;
}

/*
 * What a served file name says its manifest is for: "<key>.conf" and
 * "<key>.md5" an agent, "NAME.zip" a collection, "NAME.rcmd" a command,
 * and "NAME.md5" a collection or a command (kind CD_ANY).  -1: none.
 */
int
manifest_expect(const char *file, enum cd_kind *kind, char *subject,
    size_t slen)
{
	static const struct {
		const char *sfx;
		enum cd_kind kind;
	} t[] = {
		{ ".conf", CD_AGENT }, { ".md5", CD_AGENT },
		{ ".zip", CD_COLLECTION }, { ".rcmd", CD_COMMAND },
		{ ".md5", CD_ANY },
	};
	size_t l = strlen(file);

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t sl = strlen(t[i].sfx), nl = l - sl;

		if (l <= sl || strcmp(file + nl, t[i].sfx) != 0 || nl >= slen)
			continue;
		if (t[i].kind == CD_AGENT && (nl != CD_KEY_LEN ||
		    strspn(file, "0123456789abcdef") != CD_KEY_LEN))
			continue;
		*kind = t[i].kind;
		memcpy(subject, file, nl);
		subject[nl] = '\0';
		return 0;
	}
	return -1;
}
