/* SPDX-License-Identifier: ISC */
/*
 * tt-stamp: stamp an item's envelope as a stage would, for the tests
 * that write envelopes by hand (what tentacle-recv or agent-auth would
 * have written).  Reads an item (envelope + body) on stdin, drops any
 * Stamp line and writes the item with "Stamp: SIGNER <key id> <sig>"
 * made with KEYFILE (lib/stamp.c) to stdout.  With -s, the Sha256 line
 * is set to the body's digest first.  Exit: 0, 1 error, 64 usage.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "io.h"
#include "stamp.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: tt-stamp [-s] KEYFILE SIGNER < item > item\n");
	exit(64);
}

int
main(int argc, char *argv[])
{
	struct stamp_signer s;
	struct envelope e;
	char ebuf[512], *in, *out, sha[65];
	size_t hl, pos = 0, stamp_off, sl, cap;
	ssize_t len;
	int ch, setsha = 0;

	while ((ch = getopt(argc, argv, "s")) != -1) {
		if (ch != 's')
			usage();
		setsha = 1;
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		usage();
	if (stamp_signer_load(&s, argv[1], argv[0], ebuf, sizeof(ebuf)) == -1)
		errx(1, "%s", ebuf);
	if ((len = io_read_bounded(STDIN_FILENO, &in, 1 << 26)) < 0)
		errx(1, "cannot read the item");
	if (envelope_parse(in, len, &e, ebuf, sizeof(ebuf)) != 1)
		errx(1, "no envelope: %s", ebuf);
	hl = e.hdrlen;
	sl = strlen(s.name);
	cap = hl + 7 + sl + 1 + SIG_KEYID_LEN + 1 + STAMP_B64_LEN + 2 +
	    (len - hl);
	out = malloc(cap);
	if (out == NULL)
		err(1, "malloc");
	stamp_sha256_hex(in + hl, len - hl, sha);
	/* The envelope's lines but its Stamp and the blank line. */
	for (size_t p = 0; p < hl - 1;) {
		char *nl = memchr(in + p, '\n', hl - 1 - p);
		size_t ll = nl ? (size_t)(nl - (in + p)) + 1 : hl - 1 - p;

		if (ll >= 7 && memcmp(in + p, "Stamp: ", 7) == 0) {
			p += ll;
			continue;
		}
		if (setsha && ll == 8 + 64 + 1 &&
		    memcmp(in + p, "Sha256: ", 8) == 0) {
			memcpy(out + pos, "Sha256: ", 8);
			memcpy(out + pos + 8, sha, 64);
			out[pos + 72] = '\n';
		} else
			memcpy(out + pos, in + p, ll);
		pos += ll;
		p += ll;
	}
	stamp_off = pos;
	pos += snprintf(out + pos, cap - pos, "Stamp: %s ", s.name);
	memset(out + pos, '0', SIG_KEYID_LEN);
	pos += SIG_KEYID_LEN;
	out[pos++] = ' ';
	memset(out + pos, 'A', STAMP_B64_LEN);
	pos += STAMP_B64_LEN;
	out[pos++] = '\n';
	if (stamp_fill(&s, out, pos, stamp_off) == -1)
		errx(1, "cannot stamp");
	out[pos++] = '\n';
	memcpy(out + pos, in + hl, len - hl);
	pos += len - hl;
	if (io_write_all(STDOUT_FILENO, out, pos) == -1)
		err(1, "write");
	free(in);
	free(out);
	stamp_signer_free(&s);
	return 0;
}
