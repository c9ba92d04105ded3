/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/zip.c: round trips, the streaming (data descriptor)
 * and ZIP64 forms, and hostile archives (bombs, two members, bad CRCs,
 * truncation, random corruption).  Archives other than the library's
 * own are built here with zlib, so reader and writer do not share bugs.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "zip.h"

#include "check.h"

#define TB_SAT32	0xffffffffU
#define TB_CHUNK	(64 * 1024)

static int cur_failed;
static const char *cur_name;

/* Report one failed expectation of the current test case. */
static void __attribute__((format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", cur_name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	cur_failed = 1;
}

/* Start a test case. */
static void
begin(const char *name)
{
	cur_name = name;
	cur_failed = 0;
}

/* Count the current test case as passed or failed. */
static void
end(void)
{
	if (cur_failed)
		failed++;
	else
		passed++;
}

/* Compare two integers and complain in the "got X, want Y" form. */
static void
expect(const char *what, long long got, long long want)
{
	if (got != want)
		fail("%s: got %lld, want %lld", what, got, want);
}

/* The name of a return code, for messages. */
static const char *
rc_name(int rc)
{
	switch (rc) {
	case ZIP_OK:
		return "ZIP_OK";
	case ZIP_NOTZIP:
		return "ZIP_NOTZIP";
	case ZIP_BAD:
		return "ZIP_BAD";
	case ZIP_TOOBIG:
		return "ZIP_TOOBIG";
	case ZIP_IOERR:
		return "ZIP_IOERR";
	}
	return "?";
}

/* Compare return codes by name, which reads better than numbers. */
static void
expect_rc(int got, int want, const char *why)
{
	if (got != want)
		fail("rc: got %s, want %s (reason \"%s\")", rc_name(got),
		    rc_name(want), why);
}

/* An unlinked temporary file; it goes away when the descriptor closes. */
static int
tmpfd(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	snprintf(path, sizeof(path), "%s/test_zip.XXXXXX", dir);
	if ((fd = mkstemp(path)) == -1) {
		perror(path);
		exit(2);
	}
	unlink(path);
	return fd;
}

/* A temporary file holding len bytes of buf. */
static int
tmpfd_with(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	int fd = tmpfd();
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) <= 0) {
			perror("write");
			exit(2);
		}
		p += n;
		len -= (size_t)n;
	}
	return fd;
}

/* The size of an open file. */
static off_t
fd_size(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == -1) {
		perror("fstat");
		exit(2);
	}
	return st.st_size;
}

/* Read the whole of a temporary file into a fresh buffer. */
static unsigned char *
fd_slurp(int fd, size_t *len)
{
	unsigned char *buf;
	size_t sz = (size_t)fd_size(fd);
	ssize_t n;

	if ((buf = malloc(sz + 1)) == NULL)
		exit(2);
	if (sz > 0 && (n = pread(fd, buf, sz, 0)) != (ssize_t)sz) {
		perror("pread");
		exit(2);
	}
	*len = sz;
	return buf;
}

/* A growing byte buffer for building archives. */
struct tb_buf {
	unsigned char	*p;
	size_t		 len;
	size_t		 cap;
};

/* Append len bytes to b. */
static void
tb_add(struct tb_buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 64;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			exit(2);
	}
	if (len > 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

/* Append a little-endian 16-bit value. */
static void
tb_16(struct tb_buf *b, unsigned v)
{
	unsigned char x[2] = { v & 0xff, (v >> 8) & 0xff };

	tb_add(b, x, 2);
}

/* Append a little-endian 32-bit value. */
static void
tb_32(struct tb_buf *b, uint32_t v)
{
	tb_16(b, v & 0xffff);
	tb_16(b, v >> 16);
}

/* Append a little-endian 64-bit value. */
static void
tb_64(struct tb_buf *b, uint64_t v)
{
	tb_32(b, (uint32_t)v);
	tb_32(b, (uint32_t)(v >> 32));
}

/* Overwrite a little-endian 32-bit value in place. */
static void
tb_put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

/* How to build a test archive. */
struct tb_opt {
	int		 method;	/* 0 stored, 8 deflate */
	int		 desc;		/* general purpose bit 3 */
	int		 sig;		/* descriptor signature */
	int		 z64;		/* ZIP64 extra, 8-byte sizes, end64 */
	int		 members;	/* local members written (0 means 1) */
	int		 cd_entries;	/* central entries (0: = members) */
	unsigned	 flags;		/* extra general purpose bits */
	unsigned	 method_id;	/* method number written, 0: method */
	uint64_t	 cd_usize;	/* central size to claim, 0: true */
	int		 no_cd;		/* stop after the member data */
	uint32_t	 cd_crc_xor;	/* make the central CRC differ */
};

/* Where the interesting fields of a built archive are. */
struct tb_info {
	size_t		 lh_crc;	/* CRC field of the local header */
	size_t		 data;		/* first data byte */
	size_t		 csize;
	size_t		 desc;		/* data descriptor, if any */
	size_t		 cd;		/* central directory */
	size_t		 eocd;		/* end record */
	uint32_t	 crc;
};

/* Compress (or store) len bytes of data (NULL: zeros) into out. */
static uint32_t
tb_body(struct tb_buf *out, const unsigned char *data, size_t len,
    int method)
{
	static const unsigned char zeros[TB_CHUNK];
	unsigned char obuf[TB_CHUNK];
	uLong crc = crc32(0L, Z_NULL, 0);
	z_stream zs;
	size_t pos = 0, n;
	int flush;

	memset(&zs, 0, sizeof(zs));
	if (method == 8 && deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		exit(2);
	do {
		const unsigned char *in;

		n = len - pos < TB_CHUNK ? len - pos : TB_CHUNK;
		in = data != NULL ? data + pos : zeros;
		crc = crc32(crc, in, (uInt)n);
		pos += n;
		if (method != 8) {
			tb_add(out, in, n);
			continue;
		}
		flush = pos == len ? Z_FINISH : Z_NO_FLUSH;
		zs.next_in = (unsigned char *)(uintptr_t)in;
		zs.avail_in = (uInt)n;
		do {
			zs.next_out = obuf;
			zs.avail_out = sizeof(obuf);
			deflate(&zs, flush);
			tb_add(out, obuf, sizeof(obuf) - zs.avail_out);
		} while (zs.avail_out == 0);
	} while (pos < len);
	if (method == 8)
		deflateEnd(&zs);
	return (uint32_t)crc;
}

/* Build an archive of data (NULL: len zeros) as opt says. */
static void
tb_build(struct tb_buf *b, const struct tb_opt *o, const unsigned char *data,
    size_t len, struct tb_info *info)
{
	struct tb_buf body = { NULL, 0, 0 };
	int members = o->members ? o->members : 1;
	int entries = o->cd_entries ? o->cd_entries : members;
	unsigned method = o->method_id ? o->method_id : (unsigned)o->method;
	unsigned flags = (o->desc ? 0x0008 : 0) | o->flags;
	unsigned ver = o->z64 ? 45 : 20;
	size_t lhoff[2] = { 0, 0 }, cdoff, cdsize;
	const char *name = "member.txt";
	uint32_t crc;

	memset(info, 0, sizeof(*info));
	crc = tb_body(&body, data, len, o->method);
	info->crc = crc;
	info->csize = body.len;
	for (int m = 0; m < members; m++) {
		lhoff[m < 2 ? m : 1] = b->len;
		tb_32(b, 0x04034b50);
		tb_16(b, ver);
		tb_16(b, flags);
		tb_16(b, method);
		tb_16(b, 0);
		tb_16(b, (45 << 9) | (1 << 5) | 1);
		if (m == 0)
			info->lh_crc = b->len;
		tb_32(b, o->desc ? 0 : crc);
		if (o->z64) {
			tb_32(b, TB_SAT32);
			tb_32(b, TB_SAT32);
		} else {
			tb_32(b, o->desc ? 0 : (uint32_t)body.len);
			tb_32(b, o->desc ? 0 : (uint32_t)len);
		}
		tb_16(b, (unsigned)strlen(name));
		tb_16(b, o->z64 ? 20 : 0);
		tb_add(b, name, strlen(name));
		if (o->z64) {
			tb_16(b, 0x0001);
			tb_16(b, 16);
			tb_64(b, o->desc ? 0 : len);
			tb_64(b, o->desc ? 0 : body.len);
		}
		if (m == 0)
			info->data = b->len;
		tb_add(b, body.p, body.len);
		if (o->desc) {
			if (m == 0)
				info->desc = b->len;
			if (o->sig)
				tb_32(b, 0x08074b50);
			tb_32(b, crc);
			if (o->z64) {
				tb_64(b, body.len);
				tb_64(b, len);
			} else {
				tb_32(b, (uint32_t)body.len);
				tb_32(b, (uint32_t)len);
			}
		}
	}
	free(body.p);
	if (o->no_cd)
		return;

	cdoff = info->cd = b->len;
	for (int e = 0; e < entries; e++) {
		tb_32(b, 0x02014b50);
		tb_16(b, 3 << 8 | ver);
		tb_16(b, ver);
		tb_16(b, flags);
		tb_16(b, method);
		tb_16(b, 0);
		tb_16(b, (45 << 9) | (1 << 5) | 1);
		tb_32(b, crc ^ o->cd_crc_xor);
		if (o->z64) {
			tb_32(b, TB_SAT32);
			tb_32(b, TB_SAT32);
		} else {
			tb_32(b, (uint32_t)info->csize);
			tb_32(b, (uint32_t)(o->cd_usize ? o->cd_usize : len));
		}
		tb_16(b, (unsigned)strlen(name));
		tb_16(b, o->z64 ? 20 : 0);
		tb_16(b, 0);
		tb_16(b, 0);
		tb_16(b, 0);
		tb_32(b, (uint32_t)0100644 << 16);
		tb_32(b, (uint32_t)lhoff[e < members ? (e < 2 ? e : 1) : 0]);
		tb_add(b, name, strlen(name));
		if (o->z64) {
			tb_16(b, 0x0001);
			tb_16(b, 16);
			tb_64(b, o->cd_usize ? o->cd_usize : len);
			tb_64(b, info->csize);
		}
	}
	cdsize = b->len - cdoff;
	if (o->z64) {
		size_t z = b->len;

		tb_32(b, 0x06064b50);
		tb_64(b, 44);
		tb_16(b, 3 << 8 | 45);
		tb_16(b, 45);
		tb_32(b, 0);
		tb_32(b, 0);
		tb_64(b, (uint64_t)entries);
		tb_64(b, (uint64_t)entries);
		tb_64(b, cdsize);
		tb_64(b, cdoff);
		tb_32(b, 0x07064b50);
		tb_32(b, 0);
		tb_64(b, z);
		tb_32(b, 1);
	}
	info->eocd = b->len;
	tb_32(b, 0x06054b50);
	tb_16(b, 0);
	tb_16(b, 0);
	tb_16(b, o->z64 ? 0xffff : (unsigned)entries);
	tb_16(b, o->z64 ? 0xffff : (unsigned)entries);
	tb_32(b, o->z64 ? TB_SAT32 : (uint32_t)cdsize);
	tb_32(b, o->z64 ? TB_SAT32 : (uint32_t)cdoff);
	tb_16(b, 0);
}

/* Extract the archive held in buf; returns rc, *out gets the output fd. */
static int
run_extract(const unsigned char *buf, size_t len, off_t max_out,
    int *outfd, off_t *outlen, char *why, size_t whylen)
{
	int in = tmpfd_with(buf, len), rc;

	*outfd = tmpfd();
	rc = zip_extract_single(in, (off_t)len, *outfd, max_out, outlen,
	    why, whylen);
	close(in);
	return rc;
}

/* Check that outfd holds exactly want (NULL: wantlen zeros). */
static void
expect_content(int outfd, const unsigned char *want, size_t wantlen)
{
	unsigned char *got;
	size_t len;

	got = fd_slurp(outfd, &len);
	expect("output size", (long long)len, (long long)wantlen);
	if (len == wantlen) {
		for (size_t i = 0; i < len; i++) {
			unsigned char w = want != NULL ? want[i] : 0;

			if (got[i] != w) {
				fail("output byte %zu: got %u, want %u", i,
				    got[i], w);
				break;
			}
		}
	}
	free(got);
}

/* Check that the reason mentions want (if not NULL). */
static void
expect_reason(const char *why, const char *want)
{
	if (want != NULL && strstr(why, want) == NULL)
		fail("reason: got \"%s\", want \"%s\"", why, want);
}

/* Round trips through zip_create_single and zip_extract_single. */
static void
test_round_trips(void)
{
	static const struct {
		const char	*name;
		size_t		 len;
		int		 kind;	/* 0 text, 1 random, 2 zeros */
	} t[] = {
		{ "round trip empty", 0, 0 },
		{ "round trip 1 byte", 1, 0 },
		{ "round trip hello", 6, 0 },
		{ "round trip 1 MiB random", 1 << 20, 1 },
		{ "round trip 3 MiB zeros", 3 << 20, 2 },
		{ "round trip 200 KiB text", 200 << 10, 0 },
	};
	unsigned char *data;
	char why[128];
	off_t outlen, zlen;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int in, zfd, out, rc;

		begin(t[i].name);
		if ((data = malloc(t[i].len + 1)) == NULL)
			exit(2);
		for (size_t j = 0; j < t[i].len; j++)
			data[j] = t[i].kind == 1 ? (unsigned char)random() :
			    t[i].kind == 2 ? 0 : "hello\nworld "[j % 12];
		in = tmpfd_with(data, t[i].len);
		lseek(in, 0, SEEK_SET);
		zfd = tmpfd();
		rc = zip_create_single(in, (off_t)t[i].len, zfd, "hello.txt",
		    &zlen, why, sizeof(why));
		expect_rc(rc, ZIP_OK, why);
		expect("archive size", (long long)fd_size(zfd),
		    (long long)zlen);
		out = tmpfd();
		rc = zip_extract_single(zfd, zlen, out, (off_t)t[i].len,
		    &outlen, why, sizeof(why));
		expect_rc(rc, ZIP_OK, why);
		expect("outlen", (long long)outlen, (long long)t[i].len);
		expect_content(out, data, t[i].len);
		close(out);
		if (t[i].len > 0) {
			/* One byte under the exact size must be refused. */
			out = tmpfd();
			rc = zip_extract_single(zfd, zlen, out,
			    (off_t)t[i].len - 1, &outlen, why, sizeof(why));
			expect_rc(rc, ZIP_TOOBIG, why);
			expect_reason(why, "inflated size exceeds limit");
			if (fd_size(out) > (off_t)t[i].len - 1)
				fail("wrote %lld bytes past the limit",
				    (long long)fd_size(out));
			close(out);
		}
		close(in);
		close(zfd);
		free(data);
		end();
	}
}

/* zip_create_single refuses names with a directory part. */
static void
test_create_names(void)
{
	static const struct {
		const char	*member;
		int		 rc;
	} t[] = {
		{ "a/b", ZIP_BAD },
		{ "/etc/passwd", ZIP_BAD },
		{ "a\\b", ZIP_BAD },
		{ "", ZIP_BAD },
		{ "..", ZIP_BAD },
		{ ".", ZIP_BAD },
		{ "ok.txt", ZIP_OK },
		{ "..ok", ZIP_OK },
	};
	char why[128], name[64];
	off_t zlen;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int in = tmpfd_with("x", 1), out = tmpfd(), rc;

		snprintf(name, sizeof(name), "create member \"%s\"",
		    t[i].member);
		begin(name);
		lseek(in, 0, SEEK_SET);
		rc = zip_create_single(in, 1, out, t[i].member, &zlen, why,
		    sizeof(why));
		expect_rc(rc, t[i].rc, why);
		if (rc != ZIP_OK && fd_size(out) != 0)
			fail("refused, but wrote %lld bytes",
			    (long long)fd_size(out));
		close(in);
		close(out);
		end();
	}
	begin("create from input shorter than insize");
	{
		int in = tmpfd_with("abc", 3), out = tmpfd(), rc;

		lseek(in, 0, SEEK_SET);
		rc = zip_create_single(in, 10, out, "x", &zlen, why,
		    sizeof(why));
		expect_rc(rc, ZIP_BAD, why);
		close(in);
		close(out);
	}
	end();
}

/* Mutations applied to a built archive before extracting it. */
enum tb_mut {
	MUT_NONE,
	MUT_FLIP_LH_CRC,	/* change the local header CRC */
	MUT_FLIP_DESC_CRC,	/* change the data descriptor CRC */
	MUT_FLIP_DATA,		/* change the first data byte */
	MUT_TRUNC_HALF,		/* cut the archive in half */
	MUT_TRUNC_EOCD,		/* cut the last byte */
	MUT_APPEND,		/* garbage after the end record */
	MUT_PREPEND_GAP,	/* garbage between data and directory */
};

static const struct {
	const char	*name;
	struct tb_opt	 opt;
	size_t		 len;		/* input size */
	int		 zeros;		/* input is zeros, else text */
	enum tb_mut	 mut;
	off_t		 max_out;
	int		 rc;
	const char	*reason;	/* substring of err, or NULL */
} built[] = {
	{ "deflate, sizes in header", { .method = 8 }, 5000, 0, MUT_NONE,
	    1 << 20, ZIP_OK, NULL },
	{ "stored, sizes in header", { .method = 0 }, 5000, 0, MUT_NONE,
	    1 << 20, ZIP_OK, NULL },
	{ "deflate, descriptor with signature",
	    { .method = 8, .desc = 1, .sig = 1 }, 5000, 0, MUT_NONE,
	    1 << 20, ZIP_OK, NULL },
	{ "deflate, descriptor without signature",
	    { .method = 8, .desc = 1 }, 5000, 0, MUT_NONE, 1 << 20, ZIP_OK,
	    NULL },
	{ "deflate, descriptor, empty member",
	    { .method = 8, .desc = 1, .sig = 1 }, 0, 0, MUT_NONE, 1 << 20,
	    ZIP_OK, NULL },
	{ "deflate, zip64 descriptor with signature",
	    { .method = 8, .desc = 1, .sig = 1, .z64 = 1 }, 5000, 0,
	    MUT_NONE, 1 << 20, ZIP_OK, NULL },
	{ "deflate, zip64 descriptor without signature",
	    { .method = 8, .desc = 1, .z64 = 1 }, 5000, 0, MUT_NONE,
	    1 << 20, ZIP_OK, NULL },
	{ "deflate, zip64 sizes in header", { .method = 8, .z64 = 1 }, 5000,
	    0, MUT_NONE, 1 << 20, ZIP_OK, NULL },
	{ "stored, descriptor (size from directory)",
	    { .method = 0, .desc = 1, .sig = 1 }, 5000, 0, MUT_NONE,
	    1 << 20, ZIP_OK, NULL },
	{ "stored, zip64 descriptor", { .method = 0, .desc = 1, .z64 = 1 },
	    5000, 0, MUT_NONE, 1 << 20, ZIP_OK, NULL },
	{ "bomb: 50 MB of zeros, limit 2000000",
	    { .method = 8, .desc = 1, .sig = 1 }, 50000000, 1, MUT_NONE,
	    2000000, ZIP_TOOBIG, "inflated size exceeds limit" },
	{ "bomb whose directory lies about the size",
	    { .method = 8, .desc = 1, .sig = 1, .cd_usize = 1000 }, 50000000,
	    1, MUT_NONE, 2000000, ZIP_TOOBIG, "inflated size exceeds limit" },
	{ "stored bomb, sizes in header", { .method = 0 }, 3000000, 1,
	    MUT_NONE, 2000000, ZIP_TOOBIG, "inflated size exceeds limit" },
	{ "two members", { .method = 8, .members = 2 }, 100, 0, MUT_NONE,
	    1 << 20, ZIP_BAD, "more than one member" },
	{ "two members, streamed", { .method = 8, .desc = 1, .sig = 1,
	    .members = 2 }, 100, 0, MUT_NONE, 1 << 20, ZIP_BAD,
	    "more than one member" },
	{ "two local members, directory lists one",
	    { .method = 8, .members = 2, .cd_entries = 1 }, 100, 0, MUT_NONE,
	    1 << 20, ZIP_BAD, "more than one member" },
	{ "two streamed members, directory lists one",
	    { .method = 8, .desc = 1, .sig = 1, .members = 2,
	    .cd_entries = 1 }, 100, 0, MUT_NONE, 1 << 20, ZIP_BAD,
	    "more than one member" },
	{ "one member, directory lists two",
	    { .method = 8, .cd_entries = 2 }, 100, 0, MUT_NONE, 1 << 20,
	    ZIP_BAD, "more than one member" },
	{ "corrupted CRC in local header", { .method = 8 }, 5000, 0,
	    MUT_FLIP_LH_CRC, 1 << 20, ZIP_BAD, "crc mismatch" },
	{ "corrupted CRC in descriptor",
	    { .method = 8, .desc = 1, .sig = 1 }, 5000, 0, MUT_FLIP_DESC_CRC,
	    1 << 20, ZIP_BAD, "crc mismatch" },
	{ "corrupted stored data", { .method = 0 }, 5000, 0, MUT_FLIP_DATA,
	    1 << 20, ZIP_BAD, "crc mismatch" },
	{ "corrupted deflate data", { .method = 8 }, 5000, 0, MUT_FLIP_DATA,
	    1 << 20, ZIP_BAD, NULL },
	{ "truncated in half", { .method = 8 }, 5000, 0, MUT_TRUNC_HALF,
	    1 << 20, ZIP_BAD, NULL },
	{ "truncated streamed in half", { .method = 8, .desc = 1, .sig = 1 },
	    5000, 0, MUT_TRUNC_HALF, 1 << 20, ZIP_BAD, NULL },
	{ "last byte missing", { .method = 8 }, 5000, 0, MUT_TRUNC_EOCD,
	    1 << 20, ZIP_BAD, NULL },
	{ "no central directory", { .method = 8, .desc = 1, .sig = 1,
	    .no_cd = 1 }, 5000, 0, MUT_NONE, 1 << 20, ZIP_BAD, NULL },
	{ "garbage after end record", { .method = 8 }, 5000, 0, MUT_APPEND,
	    1 << 20, ZIP_BAD, NULL },
	{ "garbage before central directory", { .method = 8 }, 5000, 0,
	    MUT_PREPEND_GAP, 1 << 20, ZIP_BAD, NULL },
	{ "directory CRC differs from the member's",
	    { .method = 8, .cd_crc_xor = 1 }, 100, 0, MUT_NONE, 1 << 20,
	    ZIP_BAD, "central directory disagrees" },
	{ "directory size differs from the member's",
	    { .method = 8, .desc = 1, .sig = 1, .cd_usize = 99 }, 100, 0,
	    MUT_NONE, 1 << 20, ZIP_BAD, "central directory disagrees" },
	{ "zip64 directory size differs from the member's",
	    { .method = 8, .z64 = 1, .cd_usize = 101 }, 100, 0, MUT_NONE,
	    1 << 20, ZIP_BAD, "central directory disagrees" },
	{ "encrypted", { .method = 8, .flags = 1 }, 100, 0, MUT_NONE,
	    1 << 20, ZIP_BAD, "encrypted" },
	{ "method 12 (bzip2)", { .method = 8, .method_id = 12 }, 100, 0,
	    MUT_NONE, 1 << 20, ZIP_BAD, "unsupported method 12" },
	{ "method 14 (lzma)", { .method = 0, .method_id = 14 }, 100, 0,
	    MUT_NONE, 1 << 20, ZIP_BAD, "unsupported method 14" },
};

/* Change one byte of buf so that it surely differs. */
static void
flip(struct tb_buf *b, size_t off)
{
	if (off < b->len)
		b->p[off] ^= 0x5a;
}

/* The table of hand-built archives, good and hostile. */
static void
test_built(void)
{
	unsigned char *data;
	struct tb_info info;
	char why[128];
	off_t outlen;

	for (size_t i = 0; i < sizeof(built) / sizeof(built[0]); i++) {
		struct tb_buf b = { NULL, 0, 0 };
		int out, rc;

		begin(built[i].name);
		data = NULL;
		if (!built[i].zeros) {
			if ((data = malloc(built[i].len + 1)) == NULL)
				exit(2);
			for (size_t j = 0; j < built[i].len; j++)
				data[j] = (unsigned char)(j * 7 + j / 251);
		}
		tb_build(&b, &built[i].opt, data, built[i].len, &info);
		switch (built[i].mut) {
		case MUT_NONE:
			break;
		case MUT_FLIP_LH_CRC:
			flip(&b, info.lh_crc);
			break;
		case MUT_FLIP_DESC_CRC:
			flip(&b, info.desc + (built[i].opt.sig ? 4 : 0));
			break;
		case MUT_FLIP_DATA:
			flip(&b, info.data + info.csize / 2);
			break;
		case MUT_TRUNC_HALF:
			b.len /= 2;
			break;
		case MUT_TRUNC_EOCD:
			b.len--;
			break;
		case MUT_APPEND:
			tb_add(&b, "junk", 4);
			break;
		case MUT_PREPEND_GAP: {
			/* Junk before the directory; offsets fixed. */
			struct tb_buf c = { NULL, 0, 0 };

			tb_add(&c, b.p, info.cd);
			tb_add(&c, "junk", 4);
			tb_add(&c, b.p + info.cd, b.len - info.cd);
			tb_put32(c.p + info.eocd + 4 + 16,
			    (uint32_t)info.cd + 4);
			free(b.p);
			b = c;
			break;
		}
		}
		rc = run_extract(b.p, b.len, built[i].max_out, &out, &outlen,
		    why, sizeof(why));
		expect_rc(rc, built[i].rc, why);
		expect_reason(why, built[i].reason);
		if (rc == ZIP_OK) {
			expect("outlen", (long long)outlen,
			    (long long)built[i].len);
			expect_content(out, data, built[i].len);
		}
		if (fd_size(out) > built[i].max_out)
			fail("output %lld bytes, limit %lld",
			    (long long)fd_size(out),
			    (long long)built[i].max_out);
		if (rc != ZIP_OK && rc != ZIP_NOTZIP && why[0] == '\0')
			fail("no reason given");
		close(out);
		free(b.p);
		free(data);
		end();
	}
}

/* Inputs that are not ZIP archives pass through as ZIP_NOTZIP. */
static void
test_notzip(void)
{
	static const struct {
		const char	*name;
		const char	*data;
		size_t		 len;
	} t[] = {
		{ "not a zip: text", "hello", 5 },
		{ "not a zip: empty", "", 0 },
		{ "not a zip: PK\\3 only", "PK\3", 3 },
		{ "not a zip: central header first", "PK\1\2xxxxxxxxxxxxxxxx",
		    20 },
		{ "not a zip: end record only",
		    "PK\5\6\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22 },
	};
	char why[128];
	off_t outlen;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int out, rc;

		begin(t[i].name);
		rc = run_extract((const unsigned char *)t[i].data, t[i].len,
		    1000, &out, &outlen, why, sizeof(why));
		expect_rc(rc, ZIP_NOTZIP, why);
		expect("output size", (long long)fd_size(out), 0);
		close(out);
		end();
	}
}

/* Every proper prefix of a valid archive is refused. */
static void
test_truncations(void)
{
	static const struct tb_opt opts[] = {
		{ .method = 8 },
		{ .method = 8, .desc = 1, .sig = 1 },
		{ .method = 0, .desc = 1, .z64 = 1 },
	};
	static const char *names[] = {
		"every truncation of a deflate archive",
		"every truncation of a streamed archive",
		"every truncation of a stored zip64 archive",
	};
	unsigned char data[300];
	struct tb_info info;
	char why[128];
	off_t outlen;

	for (size_t j = 0; j < sizeof(data); j++)
		data[j] = (unsigned char)(j % 17 + 'a');
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		struct tb_buf b = { NULL, 0, 0 };

		begin(names[i]);
		tb_build(&b, &opts[i], data, sizeof(data), &info);
		for (size_t len = 0; len < b.len && !cur_failed; len++) {
			int out, rc, want = len < 4 ? ZIP_NOTZIP : ZIP_BAD;

			rc = run_extract(b.p, len, 1 << 20, &out, &outlen,
			    why, sizeof(why));
			if (rc != want)
				fail("length %zu of %zu: got %s, want %s (%s)",
				    len, b.len, rc_name(rc), rc_name(want),
				    why);
			close(out);
		}
		free(b.p);
		end();
	}
	begin("every truncation of a zip_create_single archive");
	{
		int in = tmpfd_with(data, sizeof(data)), zfd = tmpfd(), rc;
		unsigned char *z;
		size_t zlen;
		off_t n;

		lseek(in, 0, SEEK_SET);
		rc = zip_create_single(in, sizeof(data), zfd, "d", &n, why,
		    sizeof(why));
		expect_rc(rc, ZIP_OK, why);
		z = fd_slurp(zfd, &zlen);
		for (size_t len = 0; len < zlen && !cur_failed; len++) {
			int out, want = len < 4 ? ZIP_NOTZIP : ZIP_BAD;

			rc = run_extract(z, len, 1 << 20, &out, &n, why,
			    sizeof(why));
			if (rc != want)
				fail("length %zu of %zu: got %s, want %s (%s)",
				    len, zlen, rc_name(rc), rc_name(want),
				    why);
			close(out);
		}
		free(z);
		close(in);
		close(zfd);
	}
	end();
}

/*
 * Random byte changes never crash, never pass the limit, and never
 * yield content other than the original.
 */
static void
test_corruption(void)
{
	static const struct tb_opt opts[] = {
		{ .method = 8 },
		{ .method = 8, .desc = 1, .sig = 1 },
		{ .method = 0, .desc = 1 },
		{ .method = 8, .desc = 1, .z64 = 1 },
	};
	unsigned char data[2000];
	struct tb_info info;
	char why[128];
	off_t outlen, limit = 4000;

	begin("random corruption");
	srandom(12345);
	for (size_t j = 0; j < sizeof(data); j++)
		data[j] = (unsigned char)("abcab\n"[random() % 6]);
	for (int iter = 0; iter < 4000 && !cur_failed; iter++) {
		struct tb_buf b = { NULL, 0, 0 };
		int out, rc, nflip = 1 + (int)(random() % 3);

		tb_build(&b, &opts[iter % 4], data, sizeof(data), &info);
		for (int k = 0; k < nflip; k++)
			b.p[random() % b.len] ^= (unsigned char)(1 +
			    random() % 255);
		rc = run_extract(b.p, b.len, limit, &out, &outlen, why,
		    sizeof(why));
		if (rc == ZIP_OK)
			expect_content(out, data, sizeof(data));
		else if (rc != ZIP_BAD && rc != ZIP_NOTZIP &&
		    rc != ZIP_TOOBIG)
			fail("iteration %d: got %s (%s)", iter, rc_name(rc),
			    why);
		if (fd_size(out) > limit)
			fail("iteration %d: output past the limit", iter);
		close(out);
		free(b.p);
	}
	end();
}

/* Archives made by other writers extract. */
static void
test_foreign(void)
{
	/* printf hello | zip -q - - | cat: descriptor, ZIP64 local field. */
	static const unsigned char pipe_zip[] = {
		0x50, 0x4b, 0x03, 0x04, 0x2d, 0x00, 0x08, 0x00, 0x08, 0x00,
		0x1c, 0x01, 0x7c, 0x5d, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x14, 0x00,
		0x2d, 0x01, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x4b, 0x49, 0x2c, 0x49, 0x04, 0x00, 0x50, 0x4b, 0x07,
		0x08, 0x63, 0xf3, 0xf3, 0xad, 0x06, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x50, 0x4b, 0x01, 0x02, 0x1e, 0x03, 0x2d, 0x00, 0x08,
		0x00, 0x08, 0x00, 0x1c, 0x01, 0x7c, 0x5d, 0x63, 0xf3, 0xf3,
		0xad, 0x06, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
		0x00, 0x80, 0x11, 0x00, 0x00, 0x00, 0x00, 0x2d, 0x50, 0x4b,
		0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
		0x2f, 0x00, 0x00, 0x00, 0x51, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	/* IO::Compress::Zip 2.106 zip(): streamed, 4-byte descriptor. */
	static const unsigned char perl_zip[] = {
		0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x08, 0x00, 0x08, 0x00,
		0xe2, 0x00, 0x7c, 0x5d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x1c, 0x00,
		0x69, 0x6e, 0x2e, 0x74, 0x78, 0x74, 0x55, 0x54, 0x09, 0x00,
		0x03, 0x28, 0x1b, 0x0a, 0x6b, 0x28, 0x1b, 0x0a, 0x6b, 0x75,
		0x78, 0x0b, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x04,
		0x00, 0x00, 0x00, 0x00, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xe7,
		0x02, 0x00, 0x50, 0x4b, 0x07, 0x08, 0x20, 0x30, 0x3a, 0x36,
		0x08, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x50, 0x4b,
		0x01, 0x02, 0x14, 0x03, 0x14, 0x00, 0x08, 0x00, 0x08, 0x00,
		0xe2, 0x00, 0x7c, 0x5d, 0x20, 0x30, 0x3a, 0x36, 0x08, 0x00,
		0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x06, 0x00, 0x18, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xa4, 0x81,
		0x00, 0x00, 0x00, 0x00, 0x69, 0x6e, 0x2e, 0x74, 0x78, 0x74,
		0x55, 0x54, 0x05, 0x00, 0x01, 0x28, 0x1b, 0x0a, 0x6b, 0x75,
		0x78, 0x0b, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x04,
		0x00, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00,
		0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x4c, 0x00, 0x00, 0x00,
		0x58, 0x00, 0x00, 0x00, 0x00, 0x00,
	};
	/* The same with Zip64 => 1: 8-byte descriptor, end64 records. */
	static const unsigned char perl64_zip[] = {
		0x50, 0x4b, 0x03, 0x04, 0x2d, 0x00, 0x08, 0x00, 0x08, 0x00,
		0xe2, 0x00, 0x7c, 0x5d, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x06, 0x00, 0x30, 0x00,
		0x69, 0x6e, 0x2e, 0x74, 0x78, 0x74, 0x01, 0x00, 0x10, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x55, 0x54, 0x09, 0x00,
		0x03, 0x28, 0x1b, 0x0a, 0x6b, 0x28, 0x1b, 0x0a, 0x6b, 0x75,
		0x78, 0x0b, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x04,
		0x00, 0x00, 0x00, 0x00, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xe7,
		0x02, 0x00, 0x50, 0x4b, 0x07, 0x08, 0x20, 0x30, 0x3a, 0x36,
		0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x4b, 0x01, 0x02,
		0x2d, 0x03, 0x2d, 0x00, 0x08, 0x00, 0x08, 0x00, 0xe2, 0x00,
		0x7c, 0x5d, 0x20, 0x30, 0x3a, 0x36, 0x08, 0x00, 0x00, 0x00,
		0x06, 0x00, 0x00, 0x00, 0x06, 0x00, 0x18, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xa4, 0x81, 0x00, 0x00,
		0x00, 0x00, 0x69, 0x6e, 0x2e, 0x74, 0x78, 0x74, 0x55, 0x54,
		0x05, 0x00, 0x01, 0x28, 0x1b, 0x0a, 0x6b, 0x75, 0x78, 0x0b,
		0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00,
		0x00, 0x00, 0x50, 0x4b, 0x06, 0x06, 0x2c, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x2d, 0x03, 0x2d, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x4c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x4b,
		0x06, 0x07, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x50, 0x4b,
		0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
		0x4c, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00,
	};
	static const struct {
		const char		*name;
		const unsigned char	*zip;
		size_t			 len;
		const char		*want;
	} t[] = {
		{ "Info-ZIP zip from a pipe", pipe_zip, sizeof(pipe_zip),
		    "data" },
		{ "IO::Compress::Zip default", perl_zip, sizeof(perl_zip),
		    "hello\n" },
		{ "IO::Compress::Zip Zip64", perl64_zip, sizeof(perl64_zip),
		    "hello\n" },
	};
	char why[128];
	off_t outlen;
	int out, rc;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		begin(t[i].name);
		rc = run_extract(t[i].zip, t[i].len, 100, &out, &outlen, why,
		    sizeof(why));
		expect_rc(rc, ZIP_OK, why);
		expect_content(out, (const unsigned char *)t[i].want,
		    strlen(t[i].want));
		close(out);
		end();
	}
}

/* Errors on the output descriptor are ZIP_IOERR with errno kept. */
static void
test_ioerr(void)
{
	struct tb_opt o = { .method = 8 };
	struct tb_buf b = { NULL, 0, 0 };
	struct tb_info info;
	unsigned char data[100] = { 0 };
	char why[128];
	off_t outlen;
	int in, out, rc;

	begin("unwritable output");
	tb_build(&b, &o, data, sizeof(data), &info);
	in = tmpfd_with(b.p, b.len);
	if ((out = open("/dev/null", O_RDONLY)) == -1)
		exit(2);
	errno = 0;
	rc = zip_extract_single(in, (off_t)b.len, out, 1000, &outlen, why,
	    sizeof(why));
	expect_rc(rc, ZIP_IOERR, why);
	expect("errno", errno, EBADF);
	close(out);
	end();

	begin("create into unwritable output");
	lseek(in, 0, SEEK_SET);
	out = open("/dev/null", O_RDONLY);
	errno = 0;
	rc = zip_create_single(in, (off_t)b.len, out, "x", &outlen, why,
	    sizeof(why));
	expect_rc(rc, ZIP_IOERR, why);
	expect("errno", errno, EBADF);
	close(out);
	end();

	begin("insize larger than the file");
	out = tmpfd();
	rc = zip_extract_single(in, (off_t)b.len + 100, out, 1000, &outlen,
	    why, sizeof(why));
	expect_rc(rc, ZIP_BAD, why);
	close(out);
	end();
	close(in);
	free(b.p);
}

/*
 * Opt-in (TEST_ZIP_BIG=1): a 4.5 GiB sparse file needs ZIP64; with
 * TEST_ZIP_KEEP=path the archive is kept there for unzip -t.
 */
static void
test_big(void)
{
	off_t size = (off_t)9 << 29, zlen, outlen;
	const char *keep = getenv("TEST_ZIP_KEEP");
	char why[128];
	int in, zfd, out, rc;

	if (getenv("TEST_ZIP_BIG") == NULL)
		return;
	begin("4.5 GiB round trip (zip64)");
	in = tmpfd();
	if (ftruncate(in, size) == -1)
		exit(2);
	if (keep == NULL)
		zfd = tmpfd();
	else if ((zfd = open(keep, O_RDWR | O_CREAT | O_TRUNC, 0644)) == -1) {
		perror(keep);
		exit(2);
	}
	rc = zip_create_single(in, size, zfd, "big", &zlen, why,
	    sizeof(why));
	expect_rc(rc, ZIP_OK, why);
	out = tmpfd();
	rc = zip_extract_single(zfd, zlen, out, size, &outlen, why,
	    sizeof(why));
	expect_rc(rc, ZIP_OK, why);
	expect("outlen", (long long)outlen, (long long)size);
	expect("output size", (long long)fd_size(out), (long long)size);
	close(out);
	out = tmpfd();
	rc = zip_extract_single(zfd, zlen, out, size - 1, &outlen, why,
	    sizeof(why));
	expect_rc(rc, ZIP_TOOBIG, why);
	close(in);
	close(zfd);
	close(out);
	end();
}

/* ---- zip_create_multi ---- */

static unsigned
le16(const unsigned char *p)
{
	return p[0] | p[1] << 8;
}

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

struct multi_want {
	const char	*name;
	const unsigned char *data;
	size_t		 len;
	mode_t		 mode;
};

/*
 * Read the archive back with an independent walk (end record, central
 * directory, local headers, raw inflate) and compare with want.
 */
static void
check_multi(const unsigned char *z, size_t zlen, const struct multi_want *w,
    size_t n)
{
	const unsigned char *e;
	size_t cdoff, off;

	if (zlen < 22 || le32(z + zlen - 22) != 0x06054b50U) {
		fail("no end record at the end");
		return;
	}
	e = z + zlen - 22;
	expect("entries on disk", le16(e + 8), (long long)n);
	expect("entries", le16(e + 10), (long long)n);
	cdoff = le32(e + 16);
	expect("cd size + offset + 22", (long long)(cdoff + le32(e + 12) + 22),
	    (long long)zlen);
	off = cdoff;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *c = z + off, *l, *data;
		size_t nlen, lho, csize, usize;
		unsigned char *out;
		z_stream zs;
		uLong crc;

		if (off + 46 > zlen || le32(c) != 0x02014b50U) {
			fail("member %zu: no central entry", i);
			return;
		}
		nlen = le16(c + 28);
		if (nlen != strlen(w[i].name) || memcmp(c + 46, w[i].name,
		    nlen) != 0)
			fail("member %zu: name differs from %s", i, w[i].name);
		expect("made by Unix", le16(c + 4) >> 8, 3);
		expect("method deflate", le16(c + 10), 8);
		expect("external mode", (le32(c + 38) >> 16) & 07777,
		    (long long)(w[i].mode & 0777));
		expect("regular file", ((le32(c + 38) >> 16) & S_IFMT) ==
		    S_IFREG, 1);
		csize = le32(c + 20);
		usize = le32(c + 24);
		expect("usize", (long long)usize, (long long)w[i].len);
		lho = le32(c + 42);
		l = z + lho;
		if (lho + 30 > cdoff || le32(l) != 0x04034b50U) {
			fail("member %zu: no local header", i);
			return;
		}
		expect("local crc = central crc", le32(l + 14), le32(c + 16));
		expect("local csize", le32(l + 18), (long long)csize);
		expect("local usize", le32(l + 22), (long long)usize);
		expect("no data descriptor", le16(l + 6) & 8, 0);
		data = l + 30 + le16(l + 26) + le16(l + 28);
		if (data + csize > z + cdoff) {
			fail("member %zu: data past the directory", i);
			return;
		}
		out = malloc(usize + 1);
		memset(&zs, 0, sizeof(zs));
		inflateInit2(&zs, -MAX_WBITS);
		zs.next_in = (unsigned char *)data;
		zs.avail_in = (uInt)csize;
		zs.next_out = out;
		zs.avail_out = (uInt)usize + 1;
		expect("inflate ends", inflate(&zs, Z_FINISH), Z_STREAM_END);
		expect("inflated", (long long)zs.total_out, (long long)usize);
		inflateEnd(&zs);
		if (usize != w[i].len || memcmp(out, w[i].data, usize) != 0)
			fail("member %s: content differs", w[i].name);
		crc = crc32(crc32(0L, Z_NULL, 0), out, (uInt)usize);
		expect("crc", (long long)crc, le32(c + 16));
		free(out);
		off += 46 + nlen + le16(c + 30) + le16(c + 32);
	}
	expect("directory walked to the end record", (long long)off,
	    (long long)(zlen - 22));
}

static void
test_multi(void)
{
	static const unsigned char a[] = "#!/bin/sh\necho plugin a\n";
	unsigned char *big = malloc(200000), *z1, *z2;
	struct multi_want w[3] = {
		{ "plugins/a.sh", a, sizeof(a) - 1, 0755 },
		{ "empty.txt", (const unsigned char *)"", 0, 0644 },
		{ "data/deep/big.bin", NULL, 200000, 0600 },
	};
	struct zip_member m[3];
	size_t l1, l2;
	off_t zlen;
	char why[128];
	int fds[3], zfd, rc;

	for (size_t i = 0; i < 200000; i++)
		big[i] = (i % 7 == 0) ? (unsigned char)random() : 'x';
	w[2].data = big;
	begin("multi: three members read back independently");
	for (int i = 0; i < 3; i++) {
		fds[i] = tmpfd_with(w[i].data, w[i].len);
		lseek(fds[i], 0, SEEK_SET);
		m[i].name = w[i].name;
		m[i].fd = fds[i];
		m[i].size = (off_t)w[i].len;
		m[i].mtime = 1700000000;
		m[i].mode = w[i].mode;
	}
	zfd = tmpfd();
	rc = zip_create_multi(m, 3, zfd, &zlen, why, sizeof(why));
	expect_rc(rc, ZIP_OK, why);
	expect("outlen is the file size", (long long)zlen,
	    (long long)fd_size(zfd));
	z1 = fd_slurp(zfd, &l1);
	check_multi(z1, l1, w, 3);
	close(zfd);
	end();

	begin("multi: same input, same bytes");
	for (int i = 0; i < 3; i++)
		lseek(fds[i], 0, SEEK_SET);
	zfd = tmpfd();
	rc = zip_create_multi(m, 3, zfd, &zlen, why, sizeof(why));
	expect_rc(rc, ZIP_OK, why);
	z2 = fd_slurp(zfd, &l2);
	if (l1 != l2 || memcmp(z1, z2, l1) != 0)
		fail("two runs differ");
	free(z2);
	close(zfd);
	end();

	begin("multi: a member shorter than its size");
	lseek(fds[0], 0, SEEK_SET);
	m[0].size = (off_t)w[0].len + 10;
	zfd = tmpfd();
	rc = zip_create_multi(m, 1, zfd, &zlen, why, sizeof(why));
	expect_rc(rc, ZIP_BAD, why);
	m[0].size = (off_t)w[0].len;
	close(zfd);
	end();

	begin("multi: output opened for appending");
	zfd = tmpfd();
	fcntl(zfd, F_SETFL, O_APPEND);
	lseek(fds[0], 0, SEEK_SET);
	rc = zip_create_multi(m, 1, zfd, &zlen, why, sizeof(why));
	expect_rc(rc, ZIP_IOERR, why);
	close(zfd);
	end();

	{
		static const struct {
			const char *a, *b;
		} bad[] = {
			{ "../x", NULL }, { "/abs", NULL }, { "a//b", NULL },
			{ "a/./b", NULL }, { "a/../b", NULL }, { "a\\b", NULL },
			{ "", NULL }, { "x/", NULL }, { "tab\there", NULL },
			{ "same", "same" }, { "dir", "dir/file" },
			{ "p/q/r", "p/q" },
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct zip_member bm[2];
			size_t bn = bad[i].b ? 2 : 1;

			begin("multi: bad member names");
			memset(bm, 0, sizeof(bm));
			bm[0].name = bad[i].a;
			bm[0].fd = fds[1];
			bm[1].name = bad[i].b;
			bm[1].fd = fds[1];
			zfd = tmpfd();
			rc = zip_create_multi(bm, bn, zfd, &zlen, why,
			    sizeof(why));
			if (rc != ZIP_BAD)
				fail("name \"%s\"%s%s: got %s, want ZIP_BAD",
				    bad[i].a, bad[i].b ? " with " : "",
				    bad[i].b ? bad[i].b : "", rc_name(rc));
			expect("nothing written", (long long)fd_size(zfd), 0);
			close(zfd);
			end();
		}
	}
	begin("multi: no members");
	zfd = tmpfd();
	expect_rc(zip_create_multi(m, 0, zfd, &zlen, why, sizeof(why)),
	    ZIP_BAD, why);
	close(zfd);
	end();
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	free(z1);
	free(big);
}

/* Run every table and report. */
int
main(void)
{
	srandom(1);
	test_round_trips();
	test_create_names();
	test_notzip();
	test_built();
	test_truncations();
	test_corruption();
	test_foreign();
	test_ioerr();
	test_big();
	test_multi();
	return check_report("test_zip");
}
