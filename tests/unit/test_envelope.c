/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/envelope.c: format then parse round trips with
 * hostile values, the Sha256 placeholder, bare agent files, and
 * malformed envelopes.  Parsed buffers are heap copies of exactly len
 * bytes so that ASan sees any read past the end.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

#include "check.h"

/* Parse a heap copy of exactly len bytes of buf. */
static int
parse(const char *buf, size_t len, struct envelope *e, char *err,
    size_t errlen)
{
	char *copy = malloc(len ? len : 1);
	int rc;

	if (copy == NULL)
		return -2;
	memcpy(copy, buf, len);
	err[0] = '\0';
	rc = envelope_parse(copy, len, e, err, errlen);
	free(copy);
	return rc;
}

static const char fp_hex[] =
    "3f0c2b1a9e8d7c6b5a4f3e2d1c0b0a99887766554433221100ffeeddccbbaa98";
static const char body_sha[] =
    "9a9b9c9d9e9f00112233445566778899aabbccddeeff00112233445566778899";

static void
base(struct envelope *e)
{
	memset(e, 0, sizeof(*e));
	strlcpy(e->name, "238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data",
	    sizeof(e->name));
	strlcpy(e->peer, "192.0.2.7", sizeof(e->peer));
	e->port = 53422;
	strlcpy(e->received, "2026-11-28T10:00:00.123456Z",
	    sizeof(e->received));
	strlcpy(e->receiver, "host1 tentacle-recv", sizeof(e->receiver));
	strlcpy(e->tls, "TLSv1.3", sizeof(e->tls));
	strlcpy(e->cipher, "TLS_AES_256_GCM_SHA384", sizeof(e->cipher));
	strlcpy(e->subject, "CN=web01,O=Example", sizeof(e->subject));
	strlcpy(e->fingerprint, fp_hex, sizeof(e->fingerprint));
	strlcpy(e->auth, "password", sizeof(e->auth));
}

/* Check every field of b against a (as the formatter writes them). */
static void
same(const char *what, const struct envelope *a, const struct envelope *b)
{
	char w[128];

#define F(f) do {							\
	snprintf(w, sizeof(w), "%s: " #f, what);			\
	CHECK_STR(w, b->f, a->f);					\
} while (0)
	F(name);
	F(peer);
	F(received);
	F(receiver);
	F(tls);
	F(cipher);
	F(subject);
	F(fingerprint);
	F(bound);
	F(auth);
#undef F
	snprintf(w, sizeof(w), "%s: port", what);
	CHECK_INT(w, b->port, a->port);
}

static void
test_roundtrip(void)
{
	static char ctl[40], high[200], n255[256], n1023[1024], mix[256];
	static const char *const names[] = {
		"plain.data",
		"name with spaces.data",
		"trailing space ",
		" leading space",
		"  ",
		"new\nline",
		"cr\rhere",
		"crlf\r\n\r\nSha256: 00\n\nbody",
		"x\nPeer: 6.6.6.6 1\nOriginal-Name: evil",
		"back\\slash\\\\double\\",
		"\\n literal backslash-n",
		"\\000 not a NUL",
		"\xc3\xa9t\xc3\xa9.txt",
		"tab\there",
		"a: b",
		"colon:",
		"del\x7f",
		"\"quoted\"",
		ctl, high, n255, n1023, mix,
	};
	struct envelope e, p;
	char buf[ENVELOPE_MAX + 1024], err[256], what[64], body[] =
	    "<?xml version=\"1.0\"?>\n<agent_data/>\n";
	size_t off;

	for (int i = 1; i < 0x20; i++)
		ctl[i - 1] = (char)i;
	memcpy(ctl + 31, "x", 2);
	for (int i = 0; i < 128; i++)
		high[i] = (char)(0x80 + i);
	high[128] = '\0';
	memset(n255, 'n', 255);
	memcpy(n255 + 100, " \t\\\n", 4);
	n255[255] = '\0';
	memset(n1023, 'a', 1023);
	n1023[1023] = '\0';
	for (int i = 0; i < 255; i++)
		mix[i] = (char)(1 + (i * 37) % 255);
	mix[255] = '\0';

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ssize_t n;
		int rc, lines = 0, raw = 0;

		snprintf(what, sizeof(what), "round trip #%zu", i);
		base(&e);
		strlcpy(e.name, names[i], sizeof(e.name));
		/* Hostile text in the other free-form fields too. */
		if (i % 2)
			strlcpy(e.subject, names[i], sizeof(e.subject));
		if (i % 3 == 0)
			strlcpy(e.receiver, names[i], sizeof(e.receiver));
		n = envelope_format(&e, buf, sizeof(buf) - sizeof(body), &off,
		    NULL);
		CHECK(n > 0, "%s: envelope_format: got %zd, want > 0", what,
		    n);
		if (n <= 0)
			continue;
		/* Every field on one line: no raw control bytes. */
		for (ssize_t k = 0; k < n; k++) {
			unsigned char c = buf[k];

			if (c == '\n')
				lines++;
			else if (c < 0x20 || c == 0x7f)
				raw++;
		}
		CHECK_INT(what, raw, 0);
		CHECK_INT(what, lines, 11);
		memcpy(buf + n, body, sizeof(body) - 1);
		rc = parse(buf, n + sizeof(body) - 1, &p, err, sizeof(err));
		CHECK(rc == 1, "%s: envelope_parse: got %d (%s), want 1", what,
		    rc, err);
		if (rc != 1)
			continue;
		same(what, &e, &p);
		CHECK_INT(what, p.hdrlen, n);
		CHECK(memcmp(buf + p.hdrlen, body, sizeof(body) - 1) == 0,
		    "%s: body does not start at hdrlen", what);
	}

	/*
	 * Values that fit their field decoded must parse, however long
	 * their escaped form.  tls_peer_identity gives RFC 2253 subjects
	 * with bytes over 0x7f as \XX: 150 "\C3\A9" are 900 bytes,
	 * 1,200 once vis doubles the backslashes.
	 */
	base(&e);
	e.subject[0] = '\0';
	strlcat(e.subject, "CN=", sizeof(e.subject));
	for (int i = 0; i < 150; i++)
		strlcat(e.subject, "\\C3\\A9", sizeof(e.subject));
	{
		ssize_t n = envelope_format(&e, buf, sizeof(buf), NULL, NULL);
		int rc = parse(buf, n > 0 ? n : 0, &p, err, sizeof(err));

		CHECK(rc == 1, "%zu-byte subject, %zu escaped: got %d (%s), "
		    "want 1", strlen(e.subject), strlen(e.subject) + 300, rc,
		    err);
		if (rc == 1)
			same("long escaped subject", &e, &p);
	}

	/* No client certificate: no Client-* lines, "none" TLS. */
	base(&e);
	e.fingerprint[0] = e.subject[0] = e.tls[0] = e.cipher[0] = '\0';
	e.auth[0] = '\0';
	{
		ssize_t n = envelope_format(&e, buf, sizeof(buf), NULL, NULL);
		int rc;

		CHECK(n > 0, "plain: envelope_format: got %zd", n);
		buf[n > 0 ? n : 0] = '\0';
		CHECK(strstr(buf, "Client-") == NULL, "plain: got Client-* "
		    "lines, want none");
		CHECK(strstr(buf, "\nTls: none\n") != NULL, "plain: want "
		    "\"Tls: none\"");
		CHECK(strstr(buf, "\nAuth: none\n") != NULL, "plain: want "
		    "\"Auth: none\"");
		rc = parse(buf, n, &p, err, sizeof(err));
		CHECK_INT("plain: parse", rc, 1);
		CHECK_STR("plain: tls", p.tls, "none");
		CHECK_STR("plain: cipher", p.cipher, "");
		CHECK_STR("plain: auth", p.auth, "none");
		CHECK_STR("plain: fingerprint", p.fingerprint, "");
		CHECK_STR("plain: subject", p.subject, "");
		CHECK_INT("plain: port", p.port, 53422);
	}
}

static void
test_sha(void)
{
	struct envelope e, p;
	char buf[ENVELOPE_MAX], err[256];
	size_t off = 0;
	ssize_t n;
	int rc;

	base(&e);
	n = envelope_format(&e, buf, sizeof(buf), &off, NULL);
	CHECK(n > 74, "format: got %zd", n);
	if (n <= 74)
		return;
	CHECK_INT("Sha256 offset + 64 + 2 is the end", off + 64 + 2, n);
	CHECK(off >= 8 && memcmp(buf + off - 9, "\nSha256: ", 9) == 0,
	    "Sha256 offset: got \"%.*s\" before it, want \"\\nSha256: \"",
	    8, buf + off - 8);
	{
		int zeros = 0;

		for (int i = 0; i < 64; i++)
			zeros += buf[off + i] == '0';
		CHECK_INT("placeholder zeros", zeros, 64);
	}
	CHECK(memcmp(buf + off + 64, "\n\n", 2) == 0,
	    "placeholder not followed by the blank line");
	rc = parse(buf, n, &p, err, sizeof(err));
	CHECK_INT("parse with placeholder", rc, 1);
	CHECK_INT("placeholder sha256 length", strlen(p.sha256), 64);

	/* The writer fills the digest in place after the body. */
	memcpy(buf + off, body_sha, 64);
	rc = parse(buf, n, &p, err, sizeof(err));
	CHECK_INT("parse with filled digest", rc, 1);
	CHECK_STR("filled digest", p.sha256, body_sha);

	/* A digest given up front is written as is; a bad one is not. */
	strlcpy(e.sha256, body_sha, sizeof(e.sha256));
	n = envelope_format(&e, buf, sizeof(buf), &off, NULL);
	CHECK(n > 0 && memcmp(buf + off, body_sha, 64) == 0,
	    "given digest not written at the offset");
	strlcpy(e.sha256, "abc", sizeof(e.sha256));
	n = envelope_format(&e, buf, sizeof(buf), &off, NULL);
	CHECK(n > 0 && strspn(buf + off, "0") == 64,
	    "short digest: want the zero placeholder");

	/* Buffers too small fail; the exact size plus one works. */
	base(&e);
	n = envelope_format(&e, buf, sizeof(buf), NULL, NULL);
	CHECK_INT("format into 10 bytes", envelope_format(&e, buf, 10, NULL,
	    NULL), -1);
	CHECK_INT("format into 0 bytes", envelope_format(&e, buf, 0, NULL,
	    NULL), -1);
	CHECK_INT("format into len - 1", envelope_format(&e, buf, n - 1,
	    NULL, NULL), -1);
	CHECK_INT("format into len + 1", envelope_format(&e, buf, n + 1,
	    NULL, NULL), n);
}

static void
test_bare(void)
{
	static const struct {
		const char *text;
	} t[] = {
		{ "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<agent_data/>" },
		{ "" },
		{ "<agent_data/>" },
		{ "Octospool-Envelope: 2\nOriginal-Name: x\n\n" },
		{ "Octospool-Envelope: 1" },		/* no newline */
		{ "octospool-envelope: 1\n" },
		{ "Octospool-Env" },
		{ " Octospool-Envelope: 1\n" },
		{ "\xef\xbb\xbfOctospool-Envelope: 1\n" },
	};
	struct envelope e;
	char err[256], what[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(what, sizeof(what), "bare #%zu", i);
		memset(&e, 0x55, sizeof(e));
		CHECK_INT(what, parse(t[i].text, strlen(t[i].text), &e, err,
		    sizeof(err)), 0);
		CHECK_INT(what, e.hdrlen, 0);
	}
}

#define MAGIC	"Octospool-Envelope: 1\n"
#define REQ	"Original-Name: a.data\nPeer: 192.0.2.1 41121\n"

static void
test_malformed(void)
{
	static const struct {
		const char *text, *err;
	} t[] = {
		{ MAGIC, "no end within" },
		{ MAGIC REQ, "no end within" },
		{ MAGIC REQ "Auth: none", "unterminated line" },
		{ MAGIC "Original-Name:x\nPeer: 1.2.3.4 5\n\n",
		  "malformed line" },
		{ MAGIC REQ "NoColonHere\n\n", "malformed line" },
		{ MAGIC REQ "Auth:\n\n", "malformed line" },
		{ MAGIC REQ ": value\n\nbody", NULL },	/* empty key: ignored */
		{ MAGIC REQ "Sha256: xyz\n\n", "bad Sha256" },
		/* 63 digits, then upper case. */
		{ MAGIC REQ "Sha256: 9a9b9c9d9e9f00112233445566778899aabbccdd"
		  "eeff0011223344556677889\n\n", "bad Sha256" },
		{ MAGIC REQ "Sha256: 9A9B9C9D9E9F00112233445566778899AABBCCDD"
		  "EEFF00112233445566778899\n\n", "bad Sha256" },
		{ MAGIC REQ "Sha256: 9a9b9c9d9e9f00112233445566778899aabbccdd"
		  "eeff001122334455667788990\n\n", "bad value for Sha256" },
		{ MAGIC REQ "Sha256: 9a9b9c9d9e9f00112233445566778899aabbccdd"
		  "eeff0011223344556677889g\n\n", "bad Sha256" },
		{ MAGIC REQ "Client-Sha256: abc\n\n", "bad Client-Sha256" },
		{ MAGIC REQ "Client-Bound: 238CD44AE5E05CC2DD832A79A3F5DDAB\n\n",
		  "bad Client-Bound" },
		{ MAGIC REQ "Client-Bound: 238cd44a\n\n", "bad Client-Bound" },
		{ MAGIC REQ "Client-Bound: 238cd44ae5e05cc2dd832a79a3f5ddab0\n\n",
		  "bad value for Client-Bound" },
		{ MAGIC "Peer: 192.0.2.1 41121\n\n", "missing Original-Name" },
		{ MAGIC "Original-Name: a\n\n",
		  "missing Original-Name or Peer" },
		{ MAGIC "Original-Name: a\nPeer: 192.0.2.1\n\n", "bad Peer" },
		{ MAGIC REQ "Auth: passwordpasswordpassword\n\n",
		  "bad value for Auth" },
		{ MAGIC REQ "Original-Name: a\\000b.data\n\n",
		  "bad value for Original-Name" },
		{ MAGIC REQ "Received: \\0\n\n", "bad value for Received" },
	};
	struct envelope e;
	char err[256], what[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc;

		snprintf(what, sizeof(what), "malformed #%zu", i);
		rc = parse(t[i].text, strlen(t[i].text), &e, err, sizeof(err));
		if (t[i].err == NULL) {
			CHECK(rc == 1, "%s: got %d (%s), want 1", what, rc,
			    err);
			continue;
		}
		CHECK(rc == -1, "%s: \"%s\": got %d, want -1 (%s)", what,
		    check_show(t[i].text, 0), rc, t[i].err);
		CHECK(strstr(err, t[i].err) != NULL, "%s: got error \"%s\", "
		    "want \"%s\"", what, err, t[i].err);
	}
}

/* Unknown keys, order, and the ENVELOPE_MAX bound. */
static void
test_limits(void)
{
	struct envelope e;
	char *buf = malloc(4 * ENVELOPE_MAX), err[256];
	size_t n;
	int rc;

	if (buf == NULL)
		return;
	n = strlcpy(buf, MAGIC "X-Future: whatever: really\nPeer: 10.0.0.1 9\n"
	    "Original-Name: u.data\nX-Other: \\777\n\nbody", 4 * ENVELOPE_MAX);
	rc = parse(buf, n, &e, err, sizeof(err));
	CHECK(rc == 1, "unknown keys: got %d (%s), want 1", rc, err);
	CHECK_STR("unknown keys: name", e.name, "u.data");
	CHECK_STR("unknown keys: peer", e.peer, "10.0.0.1");
	CHECK_INT("unknown keys: hdrlen", e.hdrlen, n - 4);

	/* Filler lines: a header of exactly ENVELOPE_MAX bytes is fine. */
	n = strlcpy(buf, MAGIC REQ, 4 * ENVELOPE_MAX);
	while (n + 100 < ENVELOPE_MAX) {
		memcpy(buf + n, "X-Pad: ", 7);
		memset(buf + n + 7, 'p', 80);
		buf[n + 87] = '\n';
		n += 88;
	}
	/* One last filler so that the blank line is byte ENVELOPE_MAX. */
	memcpy(buf + n, "X-Pad: ", 7);
	memset(buf + n + 7, 'p', ENVELOPE_MAX - 2 - n - 7);
	n = ENVELOPE_MAX - 2;
	buf[n++] = '\n';
	buf[n++] = '\n';
	memcpy(buf + n, "body", 4);
	rc = parse(buf, n + 4, &e, err, sizeof(err));
	CHECK(rc == 1, "header of ENVELOPE_MAX bytes: got %d (%s), want 1",
	    rc, err);
	CHECK_INT("header of ENVELOPE_MAX bytes: hdrlen", e.hdrlen,
	    ENVELOPE_MAX);

	/* One byte more and the blank line is past ENVELOPE_MAX. */
	memmove(buf + 101, buf + 100, n + 4 - 100);
	rc = parse(buf, n + 5, &e, err, sizeof(err));
	CHECK(rc == -1, "header of ENVELOPE_MAX + 1 bytes: got %d (hdrlen "
	    "%zu), want -1", rc, e.hdrlen);

	/* Lines that never end in a blank one. */
	n = strlcpy(buf, MAGIC REQ, 4 * ENVELOPE_MAX);
	while (n + 100 < 3 * ENVELOPE_MAX) {
		memcpy(buf + n, "X-Pad: pppp\n", 12);
		n += 12;
	}
	buf[n++] = '\n';
	rc = parse(buf, n, &e, err, sizeof(err));
	CHECK(rc == -1, "many lines, blank after 3*ENVELOPE_MAX: got %d, "
	    "want -1", rc);

	/* One huge line that straddles ENVELOPE_MAX. */
	n = strlcpy(buf, MAGIC REQ "X-Pad: ", 4 * ENVELOPE_MAX);
	memset(buf + n, 'p', 2 * ENVELOPE_MAX);
	n += 2 * ENVELOPE_MAX;
	buf[n++] = '\n';
	buf[n++] = '\n';
	memcpy(buf + n, "body", 4);
	rc = parse(buf, n + 4, &e, err, sizeof(err));
	CHECK(rc == -1, "one %d-byte line, blank line at byte %zu: got %d "
	    "(hdrlen %zu), want -1", 2 * ENVELOPE_MAX, n, rc, e.hdrlen);
	free(buf);
}

/* agent-auth's decisions for db-load: Auth-Create, -Learn, -Module-Cap. */
static void
test_auth_keys(void)
{
	static const struct {
		const char *text;
		int rc, create, learn, have_cap;
		long cap;
	} t[] = {
		{ MAGIC REQ "\n", 1, ENVELOPE_UNSET, ENVELOPE_UNSET, 0, 0 },
		{ MAGIC REQ "Auth-Create: yes\nAuth-Learn: no\n"
		  "Auth-Module-Cap: 200\n\n", 1, ENVELOPE_YES, ENVELOPE_NO, 1,
		  200 },
		{ MAGIC REQ "Auth-Create: no\nAuth-Learn: yes\n"
		  "Auth-Module-Cap: 0\n\n", 1, ENVELOPE_NO, ENVELOPE_YES, 1, 0 },
		{ MAGIC REQ "Auth-Module-Cap: 2147483647\n\n", 1,
		  ENVELOPE_UNSET, ENVELOPE_UNSET, 1, 2147483647L },
		{ MAGIC REQ "Auth-Create: YES\n\n", -1, 0, 0, 0, 0 },
		{ MAGIC REQ "Auth-Create: yes \n\n", -1, 0, 0, 0, 0 },
		{ MAGIC REQ "Auth-Learn: 1\n\n", -1, 0, 0, 0, 0 },
		{ MAGIC REQ "Auth-Module-Cap: 2147483648\n\n", -1, 0, 0, 0, 0 },
		{ MAGIC REQ "Auth-Module-Cap: -1\n\n", -1, 0, 0, 0, 0 },
		{ MAGIC REQ "Auth-Module-Cap: 1e3\n\n", -1, 0, 0, 0, 0 },
		{ MAGIC REQ "Auth-Module-Cap: \n\n", -1, 0, 0, 0, 0 },
	};
	struct envelope e, p;
	char buf[ENVELOPE_MAX], err[256], what[64];
	ssize_t n;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc;

		snprintf(what, sizeof(what), "auth keys #%zu", i);
		rc = parse(t[i].text, strlen(t[i].text), &e, err, sizeof(err));
		CHECK(rc == t[i].rc, "%s: got %d (%s), want %d", what, rc, err,
		    t[i].rc);
		if (rc != 1 || t[i].rc != 1)
			continue;
		CHECK_INT(what, e.auth_create, t[i].create);
		CHECK_INT(what, e.auth_learn, t[i].learn);
		CHECK_INT(what, e.have_module_cap, t[i].have_cap);
		CHECK_INT(what, e.module_cap, t[i].cap);
	}
	/* The writer's side: the keys round-trip, before Sha256. */
	base(&e);
	e.auth_create = ENVELOPE_YES;
	e.auth_learn = ENVELOPE_NO;
	e.have_module_cap = 1;
	e.module_cap = 42;
	n = envelope_format(&e, buf, sizeof(buf) - 1, NULL, NULL);
	CHECK(n > 0, "format with auth keys: got %zd", n);
	if (n <= 0)
		return;
	buf[n] = '\0';
	CHECK(strstr(buf, "\nAuth-Create: yes\nAuth-Learn: no\n"
	    "Auth-Module-Cap: 42\nSha256: ") != NULL, "auth keys: not "
	    "written before Sha256: %s", check_show(buf, 0));
	CHECK_INT("auth keys round trip", parse(buf, n, &p, err,
	    sizeof(err)), 1);
	same("auth keys round trip", &e, &p);
	CHECK_INT("round trip create", p.auth_create, ENVELOPE_YES);
	CHECK_INT("round trip learn", p.auth_learn, ENVELOPE_NO);
	CHECK_INT("round trip cap", p.module_cap, 42);
	/* Client-Bound: written after the certificate, round-trips. */
	strlcpy(e.bound, "238cd44ae5e05cc2dd832a79a3f5ddab", sizeof(e.bound));
	n = envelope_format(&e, buf, sizeof(buf) - 1, NULL, NULL);
	CHECK(n > 0, "format with Client-Bound: got %zd", n);
	if (n > 0) {
		buf[n] = '\0';
		CHECK(strstr(buf, "\nClient-Bound: 238cd44ae5e05cc2dd832a79a3f5"
		    "ddab\nAuth: ") != NULL, "Client-Bound not written: %s",
		    check_show(buf, 0));
		CHECK_INT("Client-Bound round trip", parse(buf, n, &p, err,
		    sizeof(err)), 1);
		same("Client-Bound round trip", &e, &p);
	}
	strlcpy(e.bound, "238CD44AE5E05CC2DD832A79A3F5DDAB", sizeof(e.bound));
	CHECK_INT("upper-case Client-Bound refused", envelope_format(&e, buf,
	    sizeof(buf), NULL, NULL), -1);
	e.bound[0] = '\0';
	e.module_cap = -5;
	CHECK_INT("negative cap refused", envelope_format(&e, buf,
	    sizeof(buf), NULL, NULL), -1);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_roundtrip();
	test_sha();
	test_bare();
	test_malformed();
	test_limits();
	test_auth_keys();
	return check_report("test_envelope");
}
