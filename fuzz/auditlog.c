/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for the sealed audit log's parsers (lib/auditlog.c,
 * spec/audit.md AT-25): frames, checkpoint notes, key certificates,
 * verifier keys, segment headers, "key value" leaf payloads, the
 * JSON event check, the JSON reader of exported lines (on any input:
 * audit-verify runs it on lines it has not checked), the note in a
 * damaged checkpoint frame and witness cosignatures and keys.  The first
 * byte picks the parser.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auditlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char pk[AL_PK] = { 1, 2, 3 };
	unsigned char h[AL_HASH];
	char *s, err[128], name[AL_ORIGIN_MAX];
	size_t n;

	if (size < 1)
		return 0;
	n = size - 1;
	s = malloc(n + 1);
	memcpy(s, data + 1, n);
	s[n] = '\0';
	switch (data[0] % 9) {
	case 0: {
		struct al_frame f;

		if (al_frame_parse(s, n, &f) == AL_OK) {
			al_leaf_hash(&f, h);
			if (f.type == AL_CHECKPOINT) {
				struct al_ckpt c;

				if (al_ckpt_parse(f.payload, f.paylen, &c, err,
				    sizeof(err)) == 0)
					al_ckpt_body_hash(f.payload, &c, h);
			}
		}
		break;
	}
	case 1: {
		struct al_ckpt c;

		if (al_ckpt_parse(s, n, &c, err, sizeof(err)) == 0)
			(void)al_ckpt_verify(s, &c, pk);
		break;
	}
	case 2: {
		struct al_keycert kc;

		if (al_keycert_parse(s, n, &kc) == 0)
			(void)al_keycert_verify(s, &kc, pk);
		break;
	}
	case 3: {
		unsigned char k[AL_PK];

		(void)al_vkey_parse(s, name, sizeof(name), k);
		break;
	}
	case 4: {
		size_t at, vl;
		const char *v;

		if (al_json_check(s, n, &at, err, sizeof(err)) == 0) {
			(void)al_json_member(s, n, "action", &v, &vl);
			(void)al_json_member(s, n, "outcome", &v, &vl);
		}
		break;
	}
	case 5: {
		struct al_seghdr sh;

		(void)al_seghdr_parse((const unsigned char *)s, n, &sh);
		break;
	}
	case 7: {
		const char *v;
		size_t vl;
		char *u = malloc(n + 1);

		if (al_json_get(s, n, "octo.data", &v, &vl) == 1)
			(void)al_json_unescape(v, vl, u, n + 1);
		if (al_json_get(s, n, "observer.hostname", &v, &vl) == 1)
			(void)al_json_unescape(v, vl, u, n + 1);
		(void)al_json_unescape(s, n, u, n + 1);
		free(u);
		break;
	}
	case 8: {
		const char *note;
		size_t nl;
		struct al_ckpt c;
		uint64_t t;
		unsigned char k[AL_PK];

		if (al_note_in_frame((const unsigned char *)s, n, &note, &nl) ==
		    0 && al_ckpt_parse(note, nl, &c, err, sizeof(err)) == 0)
			(void)al_cosig_verify(note, nl, &c, "w.example/w1", pk,
			    &t);
		if (al_ckpt_parse(s, n, &c, err, sizeof(err)) == 0)
			(void)al_cosig_verify(s, n, &c, "w.example/w1", pk, &t);
		(void)al_cosig_vkey_parse(s, name, sizeof(name), k);
		(void)al_tail_torn((const unsigned char *)s, n, AL_BADCRC);
		break;
	}
	default: {
		uint64_t v;
		char out[256];

		(void)al_kv_u64(s, n, "first_seq", &v);
		(void)al_kv_get(s, n, "frontier", 1, out, sizeof(out));
		break;
	}
	}
	free(s);
	return 0;
}
