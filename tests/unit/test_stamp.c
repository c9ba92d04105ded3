/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/stamp.c and the Stamp line of lib/envelope.c: a
 * stamped envelope verifies; every altered byte before the Stamp, another
 * body, another signer, an unknown key, a malformed Stamp line or a line
 * after it does not; key rotation (two public keys) works.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "sig.h"
#include "stamp.h"

#include "check.h"

static char root[PATH_MAX];

static const char *
P(const char *rel)
{
	static char buf[4][PATH_MAX + 64];
	static int k;
	char *p = buf[k++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", root, rel);
	return p;
}

static const char body[] = "<?xml version=\"1.0\"?>\n<agent_data "
    "agent_name=\"web01\"/>\n";

/* A stamped item (envelope + body) into buf; its length. */
static size_t
make_item(const struct stamp_signer *s, char *buf, size_t cap,
    const char *agent)
{
	struct envelope e;
	size_t sha_off = 0, stamp_off = 0;
	ssize_t n;

	memset(&e, 0, sizeof(e));
	strlcpy(e.name, "web01.1.data", sizeof(e.name));
	strlcpy(e.peer, "192.0.2.7", sizeof(e.peer));
	e.port = 4000;
	strlcpy(e.received, "2026-12-06T10:00:00.000000Z",
	    sizeof(e.received));
	strlcpy(e.receiver, "host tentacle-recv", sizeof(e.receiver));
	strlcpy(e.subject, "CN=web01", sizeof(e.subject));
	memset(e.fingerprint, 'a', 64);
	strlcpy(e.auth, "none", sizeof(e.auth));
	if (agent != NULL) {
		strlcpy(e.auth_agent, agent, sizeof(e.auth_agent));
		e.have_auth_group = 1;
		e.auth_group = 8;
		e.auth_create = ENVELOPE_YES;
	}
	strlcpy(e.stamp_signer, s->name, sizeof(e.stamp_signer));
	stamp_sha256_hex(body, strlen(body), e.sha256);
	n = envelope_format(&e, buf, cap, &sha_off, &stamp_off);
	CHECK(n > 0, "envelope_format: %zd", n);
	if (n <= 0)
		return 0;
	CHECK_INT("stamp_fill", stamp_fill(s, buf, n, stamp_off), 0);
	memcpy(buf + n, body, strlen(body));
	return n + strlen(body);
}

/* Parse and check item; the stamp_check result (-2: does not parse). */
static int
check(const struct stamp_keys *k, const char *item, size_t len)
{
	struct envelope e;
	char err[256], sha[65];

	if (envelope_parse(item, len, &e, err, sizeof(err)) != 1)
		return -2;
	stamp_sha256_hex(item + e.hdrlen, len - e.hdrlen, sha);
	return stamp_check(k, item, &e, sha, err, sizeof(err));
}

static void
test_stamps(void)
{
	struct stamp_signer s, s2, other, loose;
	struct stamp_keys k, k2, wrongname, scratch;
	struct envelope e;
	char item[ENVELOPE_MAX * 2], copy[sizeof(item)], err[256], list[600];
	size_t len, hl;
	int bad = 0;

	CHECK_INT("keygen", sig_keygen(P("a.key"), P("a.pub"), (uid_t)-1,
	    (gid_t)-1, 0, err, sizeof(err)), 0);
	CHECK_INT("keygen 2", sig_keygen(P("b.key"), P("b.pub"), (uid_t)-1,
	    (gid_t)-1, 0, err, sizeof(err)), 0);
	CHECK_INT("signer", stamp_signer_load(&s, "tentacle-recv", P("a.key"),
	    err, sizeof(err)), 0);
	CHECK_INT("signer 2", stamp_signer_load(&s2, "tentacle-recv",
	    P("b.key"), err, sizeof(err)), 0);
	CHECK_INT("other signer", stamp_signer_load(&other, "agent-auth",
	    P("a.key"), err, sizeof(err)), 0);
	CHECK_INT("keys", stamp_keys_load(&k, "tentacle-recv", P("a.pub"), err,
	    sizeof(err)), 0);
	snprintf(list, sizeof(list), "%s %s", P("b.pub"), P("a.pub"));
	CHECK_INT("two keys", stamp_keys_load(&k2, "tentacle-recv", list, err,
	    sizeof(err)), 0);
	CHECK_INT("two keys loaded", k2.n, 2);
	CHECK_INT("keys for agent-auth", stamp_keys_load(&wrongname,
	    "agent-auth", P("a.pub"), err, sizeof(err)), 0);
	CHECK_INT("no such key file", stamp_keys_load(&scratch, "x",
	    P("missing.pub"), err, sizeof(err)), -1);
	CHECK_INT("no keys given", stamp_keys_load(&scratch, "x", "  ", err,
	    sizeof(err)), -1);
	chmod(P("a.key"), 0640);
	CHECK_INT("group-readable private key refused",
	    stamp_signer_load(&loose, "x", P("a.key"), err, sizeof(err)), -1);
	chmod(P("a.key"), 0600);

	len = make_item(&s, item, sizeof(item), NULL);
	CHECK_INT("valid", check(&k, item, len), 1);
	CHECK_INT("valid with rotation list", check(&k2, item, len), 1);
	CHECK_INT("parse", envelope_parse(item, len, &e, err, sizeof(err)), 1);
	CHECK(strcmp(e.stamp_signer, "tentacle-recv") == 0 &&
	    strcmp(e.stamp_keyid, s.keyid) == 0, "stamp fields: %s %s",
	    e.stamp_signer, e.stamp_keyid);
	hl = e.hdrlen;
	/* Every byte before the Stamp line matters. */
	for (size_t i = 0; i < e.stamp_off; i++) {
		int r;

		memcpy(copy, item, len);
		copy[i] ^= 0x01;
		r = check(&k, copy, len);
		if (r == 1)
			bad++;
	}
	CHECK_INT("no altered byte before the Stamp verifies", bad, 0);
	/* The signature and the key id, too. */
	memcpy(copy, item, len);
	copy[hl - 3] = copy[hl - 3] == 'A' ? 'B' : 'A';
	CHECK(check(&k, copy, len) != 1, "altered signature verifies");
	memcpy(copy, item, len);
	copy[e.stamp_off + 7 + 14 + 1] ^= 0x01;	/* first key id digit */
	CHECK(check(&k, copy, len) != 1, "altered key id verifies");
	/* Another body under the same envelope. */
	memcpy(copy, item, len);
	copy[len - 5] = 'X';
	CHECK_INT("other body", check(&k, copy, len), -1);
	/* Another signer's stamp, and a key nobody trusts. */
	len = make_item(&other, item, sizeof(item), "web01");
	CHECK_INT("agent-auth's stamp is not tentacle-recv's",
	    check(&k, item, len), -1);
	CHECK_INT("agent-auth's stamp, agent-auth's key",
	    check(&wrongname, item, len), 1);
	CHECK_INT("decision parsed", envelope_parse(item, len, &e, err,
	    sizeof(err)), 1);
	CHECK(strcmp(e.auth_agent, "web01") == 0 && e.have_auth_group &&
	    e.auth_group == 8, "decision: %s %lu", e.auth_agent, e.auth_group);
	len = make_item(&s2, item, sizeof(item), NULL);
	CHECK_INT("untrusted key", check(&k, item, len), -1);
	CHECK_INT("rotation: the new key", check(&k2, item, len), 1);
	/* Structure: a line after the Stamp, a bad Stamp, no Stamp. */
	{
		static const char *const bad_env[] = {
			"Octospool-Envelope: 1\nOriginal-Name: a\nPeer: p 1\n"
			"Stamp: x 0123456789abcdef AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			"AAAAAAAA==\nSha256: 00\n\n",
			"Octospool-Envelope: 1\nOriginal-Name: a\nPeer: p 1\n"
			"Stamp: x 0123456789abcdef short==\n\n",
			"Octospool-Envelope: 1\nOriginal-Name: a\nPeer: p 1\n"
			"Stamp: X 0123456789abcdef AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			"AAAAAAAA==\n\n",
			"Octospool-Envelope: 1\nOriginal-Name: a\nPeer: p 1\n"
			"Stamp: x 0123456789ABCDEF AAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			"AAAAAAAA==\n\n",
			"Octospool-Envelope: 1\nOriginal-Name: a\nPeer: p 1\n"
			"Auth-Group: 4294967296\n\n",
			"Octospool-Envelope: 1\nOriginal-Name: a\nPeer: p 1\n"
			"Auth-Group: -1\n\n",
		};

		for (size_t i = 0; i < sizeof(bad_env) / sizeof(bad_env[0]);
		    i++)
			CHECK_INT(bad_env[i], envelope_parse(bad_env[i],
			    strlen(bad_env[i]), &e, err, sizeof(err)), -1);
	}
	{
		const char *plain = "Octospool-Envelope: 1\nOriginal-Name: a\n"
		    "Peer: p 1\nSha256: 0000000000000000000000000000000000000"
		    "000000000000000000000000000\n\n";

		CHECK_INT("no stamp", check(&k, plain, strlen(plain)), 0);
	}
	stamp_signer_free(&s);
	stamp_signer_free(&s2);
	stamp_signer_free(&other);
	stamp_keys_free(&k);
	stamp_keys_free(&k2);
	stamp_keys_free(&wrongname);
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((size_t)snprintf(root, sizeof(root), "%s/test_stamp.XXXXXX",
	    tmp ? tmp : "/tmp") >= sizeof(root) || mkdtemp(root) == NULL) {
		printf("test_stamp: mkdtemp: %s\n", strerror(errno));
		return 2;
	}
	test_stamps();
	unlink(P("a.key"));
	unlink(P("a.pub"));
	unlink(P("b.key"));
	unlink(P("b.pub"));
	rmdir(root);
	return check_report("test_stamp");
}
