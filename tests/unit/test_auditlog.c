/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/auditlog.c: CRC-32C and base64 known answers, the
 * RFC 6962 known-answer roots of spec/audit.md Appendix D, the compact
 * range against the recursive Merkle Tree Hash, inclusion proofs for
 * every (i, n <= 64) and consistency proofs for every (m <= n <= 64)
 * against a brute-force reference written here (and every proof with
 * one bit flipped rejected), frames, segment headers, checkpoints
 * (signed notes), key certificates, verifier keys, and the JSON check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "auditlog.h"

#include "check.h"

static const char *
hexs(const unsigned char *h, size_t n)
{
	static char buf[4][129];
	static int slot;
	char *b = buf[slot++ & 3];

	al_hex(h, n > 64 ? 64 : n, b);
	return b;
}

/* Reference: the RFC 6962 definitions, literally, over raw leaf data. */
static void
ref_leaf(const unsigned char *d, size_t n, unsigned char out[32])
{
	unsigned char b[64];

	b[0] = 0;
	memcpy(b + 1, d, n);
	SHA256(b, n + 1, out);
}

static void
ref_mth(unsigned char (*lh)[32], int n, unsigned char out[32])
{
	unsigned char l[32], r[32], b[65];
	int k = 1;

	if (n == 0) {
		SHA256((const unsigned char *)"", 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, lh[0], 32);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	ref_mth(lh, k, l);
	ref_mth(lh + k, n - k, r);
	b[0] = 1;
	memcpy(b + 1, l, 32);
	memcpy(b + 33, r, 32);
	SHA256(b, 65, out);
}

static void
test_known_answers(void)
{
	static const struct { const char *hex; } leaves[] = {
		{ "" }, { "00" }, { "10" }, { "2021" }, { "3031" },
		{ "40414243" }, { "5051525354555657" },
		{ "606162636465666768696a6b6c6d6e6f" },
	};
	static const char *roots[] = {
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	};
	unsigned char lh[8][32], root[32], d[32];
	struct al_tree t;

	al_tree_init(&t);
	for (int n = 0; n <= 8; n++) {
		char hx[65];

		al_tree_root(&t, root);
		al_hex(root, 32, hx);
		CHECK(strcmp(hx, roots[n]) == 0, "root(%d): got %s, want %s",
		    n, hx, roots[n]);
		al_mth((const unsigned char (*)[32])lh, n, root);
		al_hex(root, 32, hx);
		CHECK(strcmp(hx, roots[n]) == 0, "mth(%d): got %s, want %s",
		    n, hx, roots[n]);
		if (n == 8)
			break;
		size_t l = strlen(leaves[n].hex) / 2;
		al_unhex(leaves[n].hex, 2 * l, d, l);
		ref_leaf(d, l, lh[n]);
		al_tree_append(&t, lh[n]);
	}
	/* CRC-32C check value, base64 of RFC 4648 test vectors. */
	CHECK_INT("crc32c(123456789)", al_crc32c(0, "123456789", 9),
	    0xe3069283);
	{
		char b[16];
		unsigned char o[16];

		al_b64_encode((const unsigned char *)"fooba", 5, b, sizeof(b));
		CHECK(strcmp(b, "Zm9vYmE=") == 0, "b64: got %s", b);
		CHECK_INT("b64 decode", al_b64_decode("Zm9vYmE=", 8, o, 16), 5);
		CHECK_INT("b64 non-canonical", al_b64_decode("Zm9vYmF=", 8, o,
		    16), -1);
		CHECK_INT("b64 bad char", al_b64_decode("Zm9v*mE=", 8, o, 16),
		    -1);
		CHECK_INT("b64 bad length", al_b64_decode("Zm9", 3, o, 16),
		    -1);
	}
}

static void
test_tree_and_proofs(void)
{
	enum { N = 300 };
	static unsigned char lh[N][32];
	unsigned char root[32], want[32], path[64][32];
	struct al_tree t;

	for (int i = 0; i < N; i++) {
		unsigned char d[4] = { i >> 8, i, 0xaa, 0x55 };

		ref_leaf(d, 4, lh[i]);
	}
	al_tree_init(&t);
	for (int n = 1; n <= N; n++) {
		al_tree_append(&t, lh[n - 1]);
		al_tree_root(&t, root);
		ref_mth(lh, n, want);
		CHECK(memcmp(root, want, 32) == 0, "compact root(%d) %s != %s",
		    n, hexs(root, 32), hexs(want, 32));
	}
	/* Inclusion: every (i, n <= 64). */
	for (int n = 1; n <= 64; n++) {
		ref_mth(lh, n, root);
		for (int i = 0; i < n; i++) {
			int np = al_inclusion_proof((const unsigned char (*)[32])
			    lh, n, i, path, 64);
			int ok = np >= 0 && al_inclusion_verify(i, n, lh[i],
			    (const unsigned char (*)[32])path, np, root) == 0;

			CHECK(ok, "inclusion(%d, %d) did not verify", i, n);
			/* Wrong leaf, index, size, and each bit of the path. */
			CHECK(al_inclusion_verify(i, n, lh[(i + 1) % N],
			    (const unsigned char (*)[32])path, np, root) == -1,
			    "inclusion(%d, %d) with another leaf verified", i,
			    n);
			if (n > 1)
				CHECK(al_inclusion_verify((i + 1) % n, n, lh[i],
				    (const unsigned char (*)[32])path, np,
				    root) == -1, "inclusion(%d, %d) at another "
				    "index verified", i, n);
			for (int k = 0; k < np; k++) {
				path[k][k % 32] ^= 1;
				CHECK(al_inclusion_verify(i, n, lh[i],
				    (const unsigned char (*)[32])path, np,
				    root) == -1, "inclusion(%d, %d) with hash %d "
				    "flipped verified", i, n, k);
				path[k][k % 32] ^= 1;
			}
			if (np > 0)
				CHECK(al_inclusion_verify(i, n, lh[i],
				    (const unsigned char (*)[32])path, np - 1,
				    root) == -1, "inclusion(%d, %d) short path "
				    "verified", i, n);
		}
	}
	/* Consistency: every (m <= n <= 64). */
	for (int n = 1; n <= 64; n++) {
		unsigned char r2[32];

		ref_mth(lh, n, r2);
		for (int m = 1; m <= n; m++) {
			unsigned char r1[32];
			int np = al_consistency_proof(
			    (const unsigned char (*)[32])lh, n, m, path, 64);

			ref_mth(lh, m, r1);
			CHECK(np >= 0 && al_consistency_verify(m, n, r1, r2,
			    (const unsigned char (*)[32])path, np) == 0,
			    "consistency(%d, %d) did not verify", m, n);
			for (int k = 0; k < np; k++) {
				path[k][0] ^= 0x80;
				CHECK(al_consistency_verify(m, n, r1, r2,
				    (const unsigned char (*)[32])path, np) ==
				    -1, "consistency(%d, %d) with hash %d "
				    "flipped verified", m, n, k);
				path[k][0] ^= 0x80;
			}
			{
				/* From the compact range at m and the new
				 * leaves only (the witness sink's way). */
				struct al_tree cr;
				unsigned char p2[64][32];
				int n2;

				al_tree_init(&cr);
				for (int i = 0; i < m; i++)
					al_tree_append(&cr, lh[i]);
				n2 = al_consistency_proof_cr(&cr,
				    (const unsigned char (*)[32])lh + m, n, p2,
				    64);
				CHECK(n2 == np && (np <= 0 || memcmp(p2, path,
				    (size_t)np * 32) == 0), "consistency(%d, "
				    "%d) from the compact range: %d hashes, "
				    "want %d", m, n, n2, np);
			}
			if (m < n) {
				unsigned char bad[32];

				memcpy(bad, r1, 32);
				bad[5] ^= 1;
				CHECK(al_consistency_verify(m, n, bad, r2,
				    (const unsigned char (*)[32])path, np) ==
				    -1, "consistency(%d, %d) wrong first root",
				    m, n);
				CHECK(al_consistency_verify(m, n, r1, r1,
				    (const unsigned char (*)[32])path, np) ==
				    -1 || memcmp(r1, r2, 32) == 0,
				    "consistency(%d, %d) wrong second root", m,
				    n);
			}
		}
	}
}

/* Compact-range consistency proofs at sizes past 64, against the full. */
static void
test_proof_cr_large(void)
{
	enum { N = 1100 };
	static unsigned char lh[N][32];
	static const int ms[] = { 1, 2, 63, 64, 65, 255, 256, 257, 511, 700,
	    1023, 1024 };
	unsigned char p1[64][32], p2[64][32], r1[32], r2[32];

	for (int i = 0; i < N; i++) {
		unsigned char d[4] = { i >> 8, i, 0x5a, 0xa5 };

		ref_leaf(d, 4, lh[i]);
	}
	for (size_t k = 0; k < sizeof(ms) / sizeof(ms[0]); k++)
		for (int n = ms[k]; n <= N; n += 97) {
			struct al_tree cr;
			int m = ms[k], n1, n2;

			al_tree_init(&cr);
			for (int i = 0; i < m; i++)
				al_tree_append(&cr, lh[i]);
			n1 = al_consistency_proof((const unsigned char (*)[32])
			    lh, n, m, p1, 64);
			n2 = al_consistency_proof_cr(&cr,
			    (const unsigned char (*)[32])lh + m, n, p2, 64);
			ref_mth(lh, m, r1);
			ref_mth(lh, n, r2);
			CHECK(n1 == n2 && (n1 <= 0 || memcmp(p1, p2, (size_t)n1 *
			    32) == 0) && al_consistency_verify(m, n, r1, r2,
			    (const unsigned char (*)[32])p2, n2) == 0,
			    "consistency(%d, %d) from the compact range", m, n);
		}
}

static void
test_frames(void)
{
	struct al_frame f, g;
	struct al_buf b = { 0 };
	unsigned char lh1[32], lh2[32];
	int rc;

	memset(&f, 0, sizeof(f));
	f.type = AL_RECORD;
	f.seq = 42;
	f.time_ns = 1795816800123456789ULL;
	f.uid = 1001;
	f.gid = 1002;
	f.src = "spool:x#1";
	f.srclen = strlen(f.src);
	f.payload = "{\"a\":1}";
	f.paylen = 7;
	memset(f.chain, 0xcd, 32);
	al_frame_encode(&b, &f);
	CHECK_INT("frame length", b.len, AL_FRAME_OVER + AL_BODY_FIXED + 9 + 7);
	rc = al_frame_parse(b.p, b.len, &g);
	CHECK_INT("frame parse", rc, AL_OK);
	CHECK(g.seq == 42 && g.uid == 1001 && g.gid == 1002 &&
	    g.time_ns == f.time_ns && g.srclen == 9 && g.paylen == 7 &&
	    memcmp(g.payload, "{\"a\":1}", 7) == 0 &&
	    memcmp(g.chain, f.chain, 32) == 0, "frame fields differ");
	/* The leaf covers the body: a different seq is a different leaf. */
	al_leaf_hash(&g, lh1);
	f.seq = 43;
	{
		struct al_buf b2 = { 0 };

		al_frame_encode(&b2, &f);
		al_frame_parse(b2.p, b2.len, &g);
		al_leaf_hash(&g, lh2);
		CHECK(memcmp(lh1, lh2, 32) != 0, "leaf ignores seq");
		al_buf_free(&b2);
	}
	CHECK_INT("short", al_frame_parse(b.p, b.len - 1, &g), AL_SHORT);
	b.p[20] ^= 1;
	CHECK_INT("bit flip", al_frame_parse(b.p, b.len, &g), AL_BADCRC);
	b.p[20] ^= 1;
	b.p[0] = 'X';
	CHECK_INT("magic", al_frame_parse(b.p, b.len, &g), AL_BADMAGIC);
	b.p[0] = 'O';
	al_be32(b.p + 4, 5);
	CHECK_INT("length", al_frame_parse(b.p, b.len, &g), AL_BADLEN);
	al_buf_free(&b);

	{
		struct al_seghdr h, h2;
		unsigned char enc[AL_SEGHDR_LEN];

		memset(&h, 0, sizeof(h));
		h.version = AL_VERSION;
		memset(h.log_id, 7, 16);
		h.segno = 3;
		h.first_seq = 999;
		memset(h.prev, 9, 32);
		al_seghdr_encode(&h, enc);
		CHECK_INT("seghdr parse", al_seghdr_parse(enc, sizeof(enc),
		    &h2), 0);
		CHECK(h2.segno == 3 && h2.first_seq == 999 &&
		    memcmp(h2.prev, h.prev, 32) == 0, "seghdr fields");
		enc[30] ^= 4;
		CHECK_INT("seghdr flip", al_seghdr_parse(enc, sizeof(enc),
		    &h2), -1);
	}
}

static void
test_notes(void)
{
	unsigned char sk[32], pk[32], sk2[32], pk2[32], pk3[32];
	struct al_ckpt c, d;
	struct al_buf b = { 0 }, kb = { 0 };
	struct al_keycert kc;
	char err[256], vk[256], name[256];

	CHECK_INT("keygen", al_ed25519_keygen(sk, pk), 0);
	CHECK_INT("keygen 2", al_ed25519_keygen(sk2, pk2), 0);
	memset(&c, 0, sizeof(c));
	strcpy(c.origin, "test.example/0123456789abcdef0123456789abcdef");
	c.size = 17;
	memset(c.root, 1, 32);
	c.epoch = 3;
	memset(c.chain, 2, 32);
	memset(c.prev, 3, 32);
	c.time_ns = 1795816800000000001ULL;
	CHECK_INT("sign", al_ckpt_sign(&c, sk, pk, &b), 0);
	CHECK_INT("parse", al_ckpt_parse((char *)b.p, b.len, &d, err,
	    sizeof(err)), 0);
	CHECK(d.size == 17 && d.epoch == 3 && d.time_ns == c.time_ns &&
	    memcmp(d.root, c.root, 32) == 0 &&
	    memcmp(d.prev, c.prev, 32) == 0 && strcmp(d.origin, c.origin) == 0,
	    "checkpoint fields differ");
	CHECK_INT("verify", al_ckpt_verify((char *)b.p, &d, pk), 0);
	CHECK_INT("verify other key", al_ckpt_verify((char *)b.p, &d, pk2),
	    -1);
	/* The body is signed: change the size digit. */
	b.p[strlen(c.origin) + 1] = '8';
	CHECK_INT("parse edited", al_ckpt_parse((char *)b.p, b.len, &d, err,
	    sizeof(err)), 0);
	CHECK_INT("verify edited", al_ckpt_verify((char *)b.p, &d, pk), -1);
	/* Malformed notes. */
	CHECK_INT("no sig", al_ckpt_parse("o\n1\nAAAA\n", 9, &d, err,
	    sizeof(err)), -1);
	CHECK_INT("leading zero", al_ckpt_parse("o\n01\n", 5, &d, err,
	    sizeof(err)), -1);
	al_buf_free(&b);

	CHECK_INT("vkey", al_vkey_format(c.origin, pk, vk, sizeof(vk)), 0);
	CHECK_INT("vkey parse", al_vkey_parse(vk, name, sizeof(name), pk3), 0);
	CHECK(memcmp(pk, pk3, 32) == 0 && strcmp(name, c.origin) == 0,
	    "vkey round trip");
	vk[strlen(c.origin) + 2] ^= 1;	/* key id */
	CHECK_INT("vkey bad id", al_vkey_parse(vk, name, sizeof(name), pk3),
	    -1);

	CHECK_INT("keycert", al_keycert_make(c.origin, 4, 99, pk2, sk, &kb), 0);
	CHECK_INT("keycert parse", al_keycert_parse((char *)kb.p, kb.len, &kc),
	    0);
	CHECK(kc.epoch == 4 && kc.not_before == 99 &&
	    memcmp(kc.pk, pk2, 32) == 0, "keycert fields");
	CHECK_INT("keycert verify", al_keycert_verify((char *)kb.p, &kc, pk),
	    0);
	CHECK_INT("keycert verify by new key", al_keycert_verify((char *)kb.p,
	    &kc, pk2), -1);
	al_buf_free(&kb);

	/* A witness cosignature (tlog-cosignature v1) on a checkpoint. */
	{
		struct al_buf n = { 0 }, m = { 0 };
		unsigned char sig[64];
		uint64_t t = 0;
		const char *w = "witness.example/w1";

		CHECK_INT("sign", al_ckpt_sign(&c, sk, pk, &n), 0);
		al_ckpt_parse((char *)n.p, n.len, &d, err, sizeof(err));
		al_cosig_message((char *)n.p, d.bodylen, 1679315147, &m);
		CHECK(m.len == d.bodylen + 31 && memcmp(m.p, "cosignature/v1\n"
		    "time 1679315147\n", 31) == 0, "cosignature message");
		CHECK_INT("cosig sign", al_ed25519_sign(sk2, m.p, m.len, sig),
		    0);
		al_cosig_line(w, pk2, 1679315147, sig, &n);
		CHECK_INT("cosigned note parses", al_ckpt_parse((char *)n.p,
		    n.len, &d, err, sizeof(err)), 0);
		CHECK_INT("cosig verify", al_cosig_verify((char *)n.p, n.len, &d,
		    w, pk2, &t), 0);
		CHECK(t == 1679315147, "cosig time %llu", (unsigned long long)t);
		CHECK_INT("cosig other name", al_cosig_verify((char *)n.p,
		    n.len, &d, "witness.example/w2", pk2, &t), -1);
		CHECK_INT("cosig other key", al_cosig_verify((char *)n.p, n.len,
		    &d, w, pk, &t), -1);
		CHECK_INT("log key is no cosigner", al_cosig_verify((char *)n.p,
		    n.len, &d, c.origin, pk, &t), -1);
		n.p[strlen(c.origin) + 1] = '9';	/* the size, signed */
		CHECK_INT("cosig edited body", al_cosig_verify((char *)n.p,
		    n.len, &d, w, pk2, &t), -1);
		CHECK_INT("cosig vkey", al_cosig_vkey_format(w, pk2, vk,
		    sizeof(vk)), 0);
		CHECK_INT("cosig vkey parse", al_cosig_vkey_parse(vk, name,
		    sizeof(name), pk3), 0);
		CHECK(memcmp(pk3, pk2, 32) == 0, "cosig vkey round trip");
		CHECK_INT("a cosigner vkey is no log vkey", al_vkey_parse(vk,
		    name, sizeof(name), pk3), -1);
		al_buf_free(&n);
		al_buf_free(&m);
	}
}

static void
test_json(void)
{
	static const struct { const char *in; int ok; } t[] = {
		{ "{}", 1 },
		{ "{\"a\":1}", 1 },
		{ "{\"a\":[1,2.5,-0,1e9,true,false,null,{\"b\":\"c\"}]}", 1 },
		{ " {\"a\" : \"x\" } ", 1 },
		{ "{\"u\":\"\\u00e9\\ud83d\\ude00\\n\"}", 1 },
		{ "{\"u\":\"\xc3\xa9\xf0\x9f\x98\x80\"}", 1 },
		{ "[]", 0 },
		{ "\"x\"", 0 },
		{ "{\"a\":1}x", 0 },
		{ "{\"a\":1}{}", 0 },
		{ "{\"a\":01}", 0 },
		{ "{\"a\":1.}", 0 },
		{ "{\"a\":.5}", 0 },
		{ "{\"a\":+1}", 0 },
		{ "{\"a\":tru}", 0 },
		{ "{\"a\":1,}", 0 },
		{ "{\"a\"}", 0 },
		{ "{a:1}", 0 },
		{ "{\"a\":\"\t\"}", 0 },
		{ "{\"a\":\"x\x7f\"}", 0 },
		{ "{\"a\":1}\r", 0 },
		{ "{\"a\":\"\\x\"}", 0 },
		{ "{\"a\":\"\\ud800\"}", 0 },
		{ "{\"a\":\"\\udc00\"}", 0 },
		{ "{\"a\":\"\xc0\xaf\"}", 0 },
		{ "{\"a\":\"\xed\xa0\x80\"}", 0 },
		{ "{\"a\":\"\xf4\x90\x80\x80\"}", 0 },
		{ "{\"a\":\"\xff\"}", 0 },
		{ "{\"a\":\"abc", 0 },
		{ "{\"a\":[1,2}", 0 },
		{ "{\"a\":{\"b\":1]}", 0 },
		{ "", 0 },
	};
	char why[128], deep[400];
	size_t at;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = al_json_check(t[i].in, strlen(t[i].in), &at, why,
		    sizeof(why));

		CHECK((rc == 0) == t[i].ok, "json #%zu \"%s\": got %s (%s)", i,
		    t[i].in, rc == 0 ? "valid" : "invalid",
		    rc == 0 ? "" : why);
	}
	/* A NUL byte inside. */
	CHECK(al_json_check("{\"a\":\"\0\"}", 9, &at, why, sizeof(why)) == -1,
	    "json with NUL accepted");
	/* Depth: 64 levels fine, 65 refused. */
	for (int d = 63; d <= 64; d++) {
		size_t o = 0;

		deep[o++] = '{';
		for (int i = 0; i < d; i++) {
			memcpy(deep + o, "\"a\":{", 5);
			o += 5;
		}
		for (int i = 0; i <= d; i++)
			deep[o++] = '}';
		CHECK((al_json_check(deep, o, &at, why, sizeof(why)) == 0) ==
		    (d < 64), "depth %d", d + 1);
	}
	/* 64 KiB cap. */
	{
		size_t n = AL_EVENT_MAX + 1;
		char *big = malloc(n);

		memset(big, 'x', n);
		memcpy(big, "{\"a\":\"", 6);
		memcpy(big + n - 2, "\"}", 2);
		CHECK(al_json_check(big, n, &at, why, sizeof(why)) == -1,
		    "over 64 KiB accepted");
		memcpy(big + 1, "{\"a\":\"", 6);
		CHECK(al_json_check(big + 1, n - 1, &at, why, sizeof(why)) == 0,
		    "exactly 64 KiB refused: %s", why);
		free(big);
	}
	/* Members. */
	{
		const char *ev = "{\"x\":{\"action\":\"no\"},\"list\":[1,\"a\"],"
		    "\"action\":\"agent.auth\",\"outcome\":\"ok\\\"\"}";
		const char *v;
		size_t vl;

		CHECK(al_json_member(ev, strlen(ev), "action", &v, &vl) == 1 &&
		    vl == 10 && memcmp(v, "agent.auth", 10) == 0,
		    "member action");
		CHECK(al_json_member(ev, strlen(ev), "outcome", &v, &vl) == 1 &&
		    vl == 4, "member outcome (escaped) len %zu", vl);
		CHECK(al_json_member(ev, strlen(ev), "nope", &v, &vl) == 0,
		    "member absent");
	}
}

int
main(void)
{
	test_known_answers();
	test_tree_and_proofs();
	test_proof_cr_large();
	test_frames();
	test_notes();
	test_json();
	return check_report("test_auditlog");
}
