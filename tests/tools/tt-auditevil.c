/* SPDX-License-Identifier: ISC */
/*
 * tt-auditevil: the attacker of tests/audit.bats.  It edits a sealed log
 * and then repairs everything that needs no secret — CRCs, stored chain
 * hashes, sequence numbers — so that only the cryptography can catch the
 * tamper; with -r SLOTS it also re-signs checkpoints with a stolen
 * (current) key, recomputing their roots, chains and links.
 *
 *   tt-auditevil frames LOGDIR                 segno offset len type seq
 *   tt-auditevil flip FILE OFFSET [fix|BIT]    flip bit 0 or BIT (fix: bit 0
 *                  and the CRC repaired)
 *   tt-auditevil edit LOGDIR SEQ JSON [-r SLOTS]
 *   tt-auditevil delete LOGDIR SEQ [LAST] [-n] [-r SLOTS]   (-n renumber)
 *   tt-auditevil swap LOGDIR SEQ [-r SLOTS]    (SEQ and SEQ+1)
 *   tt-auditevil dup LOGDIR SEQ                (a copy of SEQ at the end)
 *   tt-auditevil cut LOGDIR SEQ                (drop SEQ and all after it)
 *   tt-auditevil forkkey LOGDIR SEQ -r SLOTS   (KEYCERT at SEQ: own key)
 *   tt-auditevil hasbytes FILE HEX             (exit 0 if FILE holds them)
 *   tt-auditevil sk SLOTS                      (hex of the valid slots' sk)
 *   tt-auditevil records LOGDIR                uid TAB gid TAB src TAB payload
 *   tt-auditevil lastnote LOGDIR               the last checkpoint note
 *   tt-auditevil flipall LOGDIR VKEYFILE       (AT-03: every byte of
 *                  segment 1 flipped, without and with CRC repair, each
 *                  verified in-process; prints counts, exit 1 if a PASS)
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditlog.h"
#include "auditverify.h"
#include "xalloc.h"

struct fr {
	uint64_t	 segno;
	unsigned char	*p;		/* a copy of the frame */
	size_t		 len;
	struct al_frame	 f;
};

struct seg {
	uint64_t	 segno;
	struct al_seghdr h;
};

static struct fr *frs;
static size_t nfr;
static struct seg *segs;
static size_t nsegs;
static unsigned char log_id[AL_LOGID];
static int segdir = -1;

static void __attribute__((noreturn))
die(const char *m)
{
	fprintf(stderr, "tt-auditevil: %s\n", m);
	exit(2);
}

static void
load(const char *logdir)
{
	char p[4096], name[32];
	uint64_t *sn;
	size_t n;

	snprintf(p, sizeof(p), "%s/seg", logdir);
	if ((segdir = open(p, O_RDONLY | O_DIRECTORY)) == -1 ||
	    al_seg_list(segdir, &sn, &n) == -1)
		die("cannot open the log");
	for (size_t i = 0; i < n; i++) {
		unsigned char *buf;
		size_t len, pos = AL_SEGHDR_LEN;

		al_seg_name(sn[i], name, sizeof(name));
		if (al_read_file(segdir, name, &buf, &len) == -1)
			die("read");
		segs = xreallocarray(segs, nsegs + 1, sizeof(*segs));
		segs[nsegs].segno = sn[i];
		if (al_seghdr_parse(buf, len, &segs[nsegs].h) == -1)
			die("bad header");
		memcpy(log_id, segs[nsegs].h.log_id, AL_LOGID);
		nsegs++;
		while (pos < len) {
			struct fr *f;
			struct al_frame g;

			if (al_frame_parse(buf + pos, len - pos, &g) != AL_OK)
				break;
			frs = xreallocarray(frs, nfr + 1, sizeof(*frs));
			f = &frs[nfr++];
			f->segno = sn[i];
			f->len = g.framelen;
			f->p = xmalloc(g.framelen);
			memcpy(f->p, buf + pos, g.framelen);
			al_frame_parse(f->p, f->len, &f->f);
			pos += g.framelen;
		}
		free(buf);
	}
	free(sn);
}

static long
find(uint64_t seq)
{
	for (size_t i = 0; i < nfr; i++)
		if (frs[i].f.type != AL_CHECKPOINT && frs[i].f.seq == seq)
			return (long)i;
	die("no such seq");
}

static void
set_frame(struct fr *f, const struct al_buf *b)
{
	free(f->p);
	f->p = xmalloc(b->len);
	memcpy(f->p, b->p, b->len);
	f->len = b->len;
	if (al_frame_parse(f->p, f->len, &f->f) != AL_OK)
		die("re-encode");
}

/* Rebuild chains, CRCs (and with sk: checkpoints), rewrite the files. */
static void
store(const unsigned char *sk, const unsigned char *pk, int renumber,
    long from)
{
	unsigned char chain[AL_HASH], prev[AL_HASH];
	struct al_tree t;
	uint64_t seq = 0;

	al_chain_init(log_id, chain);
	memset(prev, 0, sizeof(prev));
	al_tree_init(&t);
	for (size_t i = 0; i < nfr; i++) {
		struct fr *f = &frs[i];
		struct al_buf b = { 0 };
		struct al_frame g = f->f;

		if (g.type != AL_CHECKPOINT) {
			unsigned char leaf[AL_HASH];

			if (renumber)
				g.seq = seq;
			al_leaf_append(&b, &g, chain, leaf, chain);
			al_tree_append(&t, leaf);
			seq = g.seq + 1;
			set_frame(f, &b);
		} else if (sk != NULL && (long)i >= from) {
			struct al_ckpt c;
			struct al_buf note = { 0 };
			char err[128];

			if (al_ckpt_parse(g.payload, g.paylen, &c, err,
			    sizeof(err)) == -1)
				die(err);
			c.size = t.size;
			al_tree_root(&t, c.root);
			memcpy(c.chain, chain, AL_HASH);
			memcpy(c.prev, prev, AL_HASH);
			al_ckpt_sign(&c, sk, pk, &note);
			g.seq = c.size;
			g.payload = (const char *)note.p;
			g.paylen = note.len;
			memcpy(g.chain, chain, AL_HASH);
			al_frame_encode(&b, &g);
			set_frame(f, &b);
			al_ckpt_parse(f->f.payload, f->f.paylen, &c, err,
			    sizeof(err));
			al_ckpt_body_hash(f->f.payload, &c, prev);
			al_buf_free(&note);
		} else {
			struct al_ckpt c;
			char err[128];

			if (al_ckpt_parse(g.payload, g.paylen, &c, err,
			    sizeof(err)) == 0)
				al_ckpt_body_hash(g.payload, &c, prev);
		}
		al_buf_free(&b);
	}
	for (size_t s = 0; s < nsegs; s++) {
		char name[32];
		unsigned char hdr[AL_SEGHDR_LEN];
		int fd;

		al_seg_name(segs[s].segno, name, sizeof(name));
		if ((fd = openat(segdir, name, O_WRONLY | O_TRUNC)) == -1)
			die("open for writing");
		al_seghdr_encode(&segs[s].h, hdr);
		if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr))
			die("write");
		for (size_t i = 0; i < nfr; i++)
			if (frs[i].segno == segs[s].segno &&
			    write(fd, frs[i].p, frs[i].len) !=
			    (ssize_t)frs[i].len)
				die("write");
		close(fd);
	}
}

/* Recompute the CRC of the frame (or header) that holds off. */
static void
fix_crc(unsigned char *buf, size_t len, size_t off)
{
	size_t pos = AL_SEGHDR_LEN;

	if (off < AL_SEGHDR_LEN) {
		al_be32(buf + 76, al_crc32c(0, buf, 76));
		return;
	}
	while (pos + 8 <= len) {
		size_t fl = (size_t)al_get32(buf + pos + 4) + AL_FRAME_OVER;

		if (off < pos + fl) {
			if (pos + fl <= len)
				al_be32(buf + pos + fl - 4, al_crc32c(0,
				    buf + pos, fl - 4));
			return;
		}
		pos += fl;
	}
}

static int
flipall(const char *logdir, const char *vkeyfile)
{
	char path[4096], vkey[512];
	unsigned char *orig, *buf;
	size_t len;
	unsigned long n = 0, pass = 0, corrupt = 0, tamper = 0, policy = 0;
	FILE *fp;
	int fd;

	if ((fp = fopen(vkeyfile, "r")) == NULL ||
	    fgets(vkey, sizeof(vkey), fp) == NULL)
		die("vkey");
	fclose(fp);
	vkey[strcspn(vkey, "\n")] = '\0';
	snprintf(path, sizeof(path), "%s/seg/0000000001.seg", logdir);
	if (al_read_file(AT_FDCWD, path, &orig, &len) == -1)
		die("read");
	buf = xmalloc(len);
	for (size_t off = 0; off < len; off++)
		for (int fix = 0; fix < 2; fix++) {
			struct verifier v;

			memcpy(buf, orig, len);
			buf[off] ^= 1 << (off * 7 % 8);
			if (fix)
				fix_crc(buf, len, off);
			if ((fd = open(path, O_WRONLY | O_TRUNC)) == -1 ||
			    write(fd, buf, len) != (ssize_t)len)
				die("write");
			close(fd);
			if (fix && memcmp(buf, orig, len) == 0)
				continue;	/* a CRC byte: repair undid it */
			memset(&v, 0, sizeof(v));
			if (av_init(&v, vkey) == -1)
				die("vkey");
			av_verify_log(&v, logdir);
			n++;
			if (v.verdict == V_PASS) {
				pass++;
				printf("PASS with offset %zu flipped (fix=%d)\n",
				    off, fix);
			} else if (v.verdict == V_POLICY)
				policy++;
			else if (v.nf > 0 && (!strcmp(v.f[0].kind,
			    "corrupt-frame") || !strcmp(v.f[0].kind,
			    "segment-link")))
				corrupt++;
			else
				tamper++;
			av_free(&v);
		}
	if ((fd = open(path, O_WRONLY | O_TRUNC)) == -1 ||
	    write(fd, orig, len) != (ssize_t)len)
		die("restore");
	close(fd);
	printf("flips=%lu pass=%lu corrupt=%lu tamper=%lu unsealed=%lu\n", n,
	    pass, corrupt, tamper, policy);
	free(buf);
	free(orig);
	return pass == 0 ? 0 : 1;
}

/* The first valid slot of a stolen keys/slots file. */
static int
slot_key(const char *file, unsigned char sk[32], unsigned char pk[32],
    int which)
{
	unsigned char b[256];
	int fd = open(file, O_RDONLY), n = 0;

	if (fd == -1 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b))
		die("slots");
	close(fd);
	for (int i = 0; i < 2; i++) {
		const unsigned char *s = b + 128 * i;

		if (memcmp(s, "OAKS", 4) != 0)
			continue;
		if (which == -1 || n++ == which) {
			memcpy(sk, s + 24, 32);
			memcpy(pk, s + 56, 32);
			return 0;
		}
	}
	return -1;
}

int
main(int argc, char *argv[])
{
	unsigned char sk[32], pk[32], *skp = NULL, *pkp = NULL;
	const char *slots = NULL;
	int renumber = 0, ac = 0;
	char *av[8];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-r") && i + 1 < argc)
			slots = argv[++i];
		else if (!strcmp(argv[i], "-n"))
			renumber = 1;
		else if (ac < 8)
			av[ac++] = argv[i];
	}
	if (ac < 2)
		die("usage: see the comment at the top of tt-auditevil.c");
	if (slots != NULL) {
		if (slot_key(slots, sk, pk, -1) == -1)
			die("no valid slot");
		skp = sk;
		pkp = pk;
	}
	if (!strcmp(av[0], "sk")) {
		for (int i = 0; i < 2; i++) {
			char h[65];

			if (slot_key(av[1], sk, pk, i) == 0) {
				al_hex(sk, 32, h);
				printf("%s\n", h);
			}
		}
		return 0;
	}
	if (!strcmp(av[0], "hasbytes") && ac == 3) {
		unsigned char *buf, needle[64];
		size_t len, nl = strlen(av[2]) / 2;

		if (nl == 0 || nl > sizeof(needle) ||
		    al_unhex(av[2], 2 * nl, needle, nl) == -1)
			die("hex");
		if (al_read_file(AT_FDCWD, av[1], &buf, &len) == -1)
			die("read");
		{
			int found = memmem(buf, len, needle, nl) != NULL;

			free(buf);
			return found ? 0 : 1;
		}
	}
	if (!strcmp(av[0], "flip") && ac >= 3) {
		int fd = open(av[1], O_RDWR);
		long off = atol(av[2]);
		unsigned char *buf;
		size_t len;

		if (fd == -1 || al_read_file(AT_FDCWD, av[1], &buf, &len) == -1
		    || off < 0 || (size_t)off >= len)
			die("flip: bad file or offset");
		if (ac == 4 && av[3][0] >= '0' && av[3][0] <= '7' &&
		    av[3][1] == '\0')
			buf[off] ^= 1 << (av[3][0] - '0');
		else
			buf[off] ^= 1;
		if (ac == 4 && !strcmp(av[3], "fix")) {
			/* Recompute the CRC of the frame holding off. */
			size_t pos = AL_SEGHDR_LEN;

			if ((size_t)off < AL_SEGHDR_LEN)
				al_be32(buf + 76, al_crc32c(0, buf, 76));
			while (pos + 8 <= len && (size_t)off >= AL_SEGHDR_LEN) {
				size_t fl = al_get32(buf + pos + 4) +
				    AL_FRAME_OVER;

				if ((size_t)off < pos + fl) {
					if (pos + fl <= len)
						al_be32(buf + pos + fl - 4,
						    al_crc32c(0, buf + pos,
						    fl - 4));
					break;
				}
				pos += fl;
			}
		}
		if (pwrite(fd, buf, len, 0) != (ssize_t)len)
			die("write");
		close(fd);
		free(buf);
		return 0;
	}
	if (!strcmp(av[0], "flipall") && ac == 3)
		return flipall(av[1], av[2]);
	load(av[1]);
	if (!strcmp(av[0], "records") || !strcmp(av[0], "lastnote")) {
		long last = -1;

		for (size_t i = 0; i < nfr; i++) {
			const struct al_frame *f = &frs[i].f;

			if (f->type == AL_CHECKPOINT)
				last = (long)i;
			if (f->type == AL_RECORD && av[0][0] == 'r')
				printf("%u\t%u\t%.*s\t%.*s\n", f->uid, f->gid,
				    (int)f->srclen, f->src, (int)f->paylen,
				    f->payload);
		}
		if (av[0][0] == 'l' && last >= 0)
			fwrite(frs[last].f.payload, 1, frs[last].f.paylen,
			    stdout);
		for (size_t k = 0; k < nfr; k++)
			free(frs[k].p);
		free(frs);
		free(segs);
		return 0;
	}
	if (!strcmp(av[0], "frames")) {
		size_t off = AL_SEGHDR_LEN;
		uint64_t cur = nfr ? frs[0].segno : 0;

		for (size_t i = 0; i < nfr; i++) {
			if (frs[i].segno != cur) {
				cur = frs[i].segno;
				off = AL_SEGHDR_LEN;
			}
			printf("%llu %zu %zu %s %llu\n",
			    (unsigned long long)frs[i].segno, off, frs[i].len,
			    al_type_name(frs[i].f.type),
			    (unsigned long long)frs[i].f.seq);
			off += frs[i].len;
		}
		for (size_t k = 0; k < nfr; k++)
			free(frs[k].p);
		free(frs);
		free(segs);
		return 0;
	}
	if (ac < 3)
		die("missing SEQ");
	{
		uint64_t seq = strtoull(av[2], NULL, 10);
		long i = find(seq);

		if (!strcmp(av[0], "edit") && ac == 4) {
			struct al_frame g = frs[i].f;
			struct al_buf b = { 0 };
			unsigned char l[32], c[32];

			g.payload = av[3];
			g.paylen = strlen(av[3]);
			al_leaf_append(&b, &g, g.chain, l, c);
			set_frame(&frs[i], &b);
			al_buf_free(&b);
			store(skp, pkp, 0, i);
		} else if (!strcmp(av[0], "delete")) {
			uint64_t last = ac >= 4 ? strtoull(av[3], NULL, 10) :
			    seq;
			long j = find(last);

			for (long k = i; k <= j; k++)
				free(frs[k].p);
			memmove(frs + i, frs + j + 1, (nfr - j - 1) *
			    sizeof(*frs));
			nfr -= j - i + 1;
			store(skp, pkp, renumber, i);
		} else if (!strcmp(av[0], "swap")) {
			long j = find(seq + 1);
			struct fr t = frs[i];
			uint64_t si = frs[i].segno, sj = frs[j].segno;

			frs[i] = frs[j];
			frs[j] = t;
			frs[i].segno = si;
			frs[j].segno = sj;
			store(skp, pkp, 0, i);
		} else if (!strcmp(av[0], "dup")) {
			struct fr c = frs[i];

			c.segno = segs[nsegs - 1].segno;
			c.p = xmalloc(c.len);
			memcpy(c.p, frs[i].p, c.len);
			al_frame_parse(c.p, c.len, &c.f);
			frs = xreallocarray(frs, nfr + 1, sizeof(*frs));
			frs[nfr++] = c;
			store(skp, pkp, 0, i);
		} else if (!strcmp(av[0], "cut")) {
			for (size_t k = i; k < nfr; k++)
				free(frs[k].p);
			nfr = i;
			store(NULL, NULL, 0, 0);
		} else if (!strcmp(av[0], "forkkey") && skp != NULL) {
			struct al_keycert kc;
			struct al_buf kb = { 0 }, b = { 0 };
			struct al_frame g = frs[i].f;
			unsigned char nsk[32], npk[32], l[32], c[32];

			if (g.type != AL_KEYCERT ||
			    al_keycert_parse(g.payload, g.paylen, &kc) == -1)
				die("not a KEYCERT");
			al_ed25519_keygen(nsk, npk);
			al_keycert_make(kc.origin, kc.epoch, kc.not_before, npk,
			    sk, &kb);
			g.payload = (const char *)kb.p;
			g.paylen = kb.len;
			al_leaf_append(&b, &g, g.chain, l, c);
			set_frame(&frs[i], &b);
			al_buf_free(&b);
			al_buf_free(&kb);
			store(skp, pkp, 0, i);
		} else
			die("unknown command");
	}
	for (size_t k = 0; k < nfr; k++)
		free(frs[k].p);
	free(frs);
	free(segs);
	return 0;
}
