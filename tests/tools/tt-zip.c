/* SPDX-License-Identifier: ISC */
/*
 * tt-zip: make and unpack ZIP archives for the bats tests.  create and
 * extract go through lib/zip.c; stream, bomb and two are written here
 * independently, in the streaming form IO::Compress::Zip uses (general
 * purpose bit 3, zero sizes in the local header, a signed data
 * descriptor), so they test the extractor rather than agree with it.
 * extract leaves whatever it wrote in OUT on failure, so tests can check
 * that a bomb stopped at the limit.  Exit: 0 ok, 1 error, 2 not a zip,
 * 64 usage.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <zlib.h>

#include "zip.h"

#define TZ_CHUNK	(64 * 1024)
#define TZ_MAXMEMB	2
#define TZ_SAT32	0xffffffffU

/* Where a member's bytes come from: a file at an offset, or zeros. */
struct tz_src {
	int		 fd;		/* -1: zeros */
	uint64_t	 size;
};

/* What the central directory needs to know about a written member. */
struct tz_memb {
	char		 name[256];
	uint32_t	 crc;
	uint64_t	 csize;
	uint64_t	 usize;
	uint64_t	 lhoff;
	int		 z64;
};

/* A streaming archive writer: it never seeks. */
struct tz_zw {
	int		 fd;
	uint64_t	 off;
	struct tz_memb	 m[TZ_MAXMEMB];
	int		 n;
};

/* Print the synopsis and exit 64. */
static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: tt-zip create MEMBER IN OUT\n"
	    "       tt-zip extract IN OUT [MAX]\n"
	    "       tt-zip stream IN OUT\n"
	    "       tt-zip bomb SIZE OUT\n"
	    "       tt-zip two IN OUT\n");
	exit(EX_USAGE);
}

/* Store a little-endian 16-bit value; returns the next byte. */
static unsigned char *
tz_put16(unsigned char *p, unsigned v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	return p + 2;
}

/* Store a little-endian 32-bit value; returns the next byte. */
static unsigned char *
tz_put32(unsigned char *p, uint32_t v)
{
	p = tz_put16(p, v & 0xffff);
	return tz_put16(p, v >> 16);
}

/* Store a little-endian 64-bit value; returns the next byte. */
static unsigned char *
tz_put64(unsigned char *p, uint64_t v)
{
	p = tz_put32(p, (uint32_t)v);
	return tz_put32(p, (uint32_t)(v >> 32));
}

/* Append len bytes to the archive or die. */
static void
tz_write(struct tz_zw *zw, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(zw->fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "write");
		}
		p += n;
		len -= (size_t)n;
		zw->off += (uint64_t)n;
	}
}

/* Fill buf with the next n bytes of the source at offset pos. */
static void
tz_src_read(const struct tz_src *src, unsigned char *buf, size_t n,
    uint64_t pos)
{
	ssize_t r;

	if (src->fd == -1) {
		memset(buf, 0, n);
		return;
	}
	while (n > 0) {
		if ((r = pread(src->fd, buf, n, (off_t)pos)) == -1) {
			if (errno == EINTR)
				continue;
			err(1, "read");
		}
		if (r == 0)
			errx(1, "input shrank");
		buf += r;
		n -= (size_t)r;
		pos += (uint64_t)r;
	}
}

/* Write one deflated member in streaming form, with a data descriptor. */
static void
tz_add(struct tz_zw *zw, const char *name, const struct tz_src *src)
{
	unsigned char hdr[64], *p, *in, *out;
	struct tz_memb *m;
	uint64_t pos = 0;
	size_t nlen = strlen(name), n;
	uLong crc = crc32(0L, Z_NULL, 0);
	z_stream zs;
	int flush, zr;

	if (zw->n == TZ_MAXMEMB || nlen >= sizeof(m->name))
		errx(1, "too many members or name too long");
	m = &zw->m[zw->n++];
	memcpy(m->name, name, nlen + 1);
	m->lhoff = zw->off;
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS,
	    8, Z_DEFAULT_STRATEGY) != Z_OK)
		errx(1, "deflateInit2");
	m->z64 = src->size >= TZ_SAT32 ||
	    deflateBound(&zs, (uLong)src->size) >= TZ_SAT32;

	/* As IO::Compress::Zip: sizes unknown, ZIP64 field of zeros. */
	p = tz_put32(hdr, 0x04034b50);
	p = tz_put16(p, m->z64 ? 45 : 20);
	p = tz_put16(p, 0x0008);
	p = tz_put16(p, 8);
	p = tz_put16(p, 0);			/* 00:00 */
	p = tz_put16(p, (45 << 9) | (1 << 5) | 1);	/* 2025-01-01 */
	p = tz_put32(p, 0);
	p = tz_put32(p, m->z64 ? TZ_SAT32 : 0);
	p = tz_put32(p, m->z64 ? TZ_SAT32 : 0);
	p = tz_put16(p, (unsigned)nlen);
	p = tz_put16(p, m->z64 ? 20 : 0);
	tz_write(zw, hdr, (size_t)(p - hdr));
	tz_write(zw, name, nlen);
	if (m->z64) {
		p = tz_put16(hdr, 0x0001);
		p = tz_put16(p, 16);
		p = tz_put64(p, 0);
		p = tz_put64(p, 0);
		tz_write(zw, hdr, (size_t)(p - hdr));
	}

	if ((in = malloc(TZ_CHUNK)) == NULL || (out = malloc(TZ_CHUNK)) ==
	    NULL)
		err(1, "malloc");
	m->csize = 0;
	do {
		n = src->size - pos < TZ_CHUNK ? (size_t)(src->size - pos) :
		    TZ_CHUNK;
		tz_src_read(src, in, n, pos);
		crc = crc32(crc, in, (uInt)n);
		pos += n;
		flush = pos == src->size ? Z_FINISH : Z_NO_FLUSH;
		zs.next_in = in;
		zs.avail_in = (uInt)n;
		do {
			zs.next_out = out;
			zs.avail_out = TZ_CHUNK;
			if ((zr = deflate(&zs, flush)) == Z_STREAM_ERROR)
				errx(1, "deflate");
			tz_write(zw, out, TZ_CHUNK - zs.avail_out);
			m->csize += TZ_CHUNK - zs.avail_out;
		} while (zs.avail_out == 0);
	} while (flush != Z_FINISH);
	if (zr != Z_STREAM_END)
		errx(1, "deflate did not finish");
	deflateEnd(&zs);
	free(in);
	free(out);
	m->crc = (uint32_t)crc;
	m->usize = src->size;

	p = tz_put32(hdr, 0x08074b50);
	p = tz_put32(p, m->crc);
	if (m->z64) {
		p = tz_put64(p, m->csize);
		p = tz_put64(p, m->usize);
	} else {
		p = tz_put32(p, (uint32_t)m->csize);
		p = tz_put32(p, (uint32_t)m->usize);
	}
	tz_write(zw, hdr, (size_t)(p - hdr));
}

/* Write the central directory and the end records, then close. */
static void
tz_finish(struct tz_zw *zw)
{
	unsigned char hdr[128], *p;
	uint64_t cdoff = zw->off, cdsize;
	int z64 = 0;

	for (int i = 0; i < zw->n; i++) {
		struct tz_memb *m = &zw->m[i];
		size_t nlen = strlen(m->name);
		int big = m->z64 || m->lhoff >= TZ_SAT32;

		z64 |= big;
		p = tz_put32(hdr, 0x02014b50);
		p = tz_put16(p, 3 << 8 | (big ? 45 : 20));
		p = tz_put16(p, big ? 45 : 20);
		p = tz_put16(p, 0x0008);
		p = tz_put16(p, 8);
		p = tz_put16(p, 0);
		p = tz_put16(p, (45 << 9) | (1 << 5) | 1);
		p = tz_put32(p, m->crc);
		p = tz_put32(p, big ? TZ_SAT32 : (uint32_t)m->csize);
		p = tz_put32(p, big ? TZ_SAT32 : (uint32_t)m->usize);
		p = tz_put16(p, (unsigned)nlen);
		p = tz_put16(p, big ? 28 : 0);
		p = tz_put16(p, 0);
		p = tz_put16(p, 0);
		p = tz_put16(p, 0);
		p = tz_put32(p, (uint32_t)0100644 << 16);
		p = tz_put32(p, big ? TZ_SAT32 : (uint32_t)m->lhoff);
		tz_write(zw, hdr, (size_t)(p - hdr));
		tz_write(zw, m->name, nlen);
		if (big) {
			p = tz_put16(hdr, 0x0001);
			p = tz_put16(p, 24);
			p = tz_put64(p, m->usize);
			p = tz_put64(p, m->csize);
			p = tz_put64(p, m->lhoff);
			tz_write(zw, hdr, (size_t)(p - hdr));
		}
	}
	cdsize = zw->off - cdoff;
	p = hdr;
	if (z64 || cdoff >= TZ_SAT32) {
		p = tz_put32(p, 0x06064b50);
		p = tz_put64(p, 44);
		p = tz_put16(p, 3 << 8 | 45);
		p = tz_put16(p, 45);
		p = tz_put32(p, 0);
		p = tz_put32(p, 0);
		p = tz_put64(p, (uint64_t)zw->n);
		p = tz_put64(p, (uint64_t)zw->n);
		p = tz_put64(p, cdsize);
		p = tz_put64(p, cdoff);
		p = tz_put32(p, 0x07064b50);
		p = tz_put32(p, 0);
		p = tz_put64(p, cdoff + cdsize);
		p = tz_put32(p, 1);
	}
	p = tz_put32(p, 0x06054b50);
	p = tz_put16(p, 0);
	p = tz_put16(p, 0);
	p = tz_put16(p, (unsigned)zw->n);
	p = tz_put16(p, (unsigned)zw->n);
	p = tz_put32(p, (uint32_t)cdsize);
	p = tz_put32(p, cdoff >= TZ_SAT32 ? TZ_SAT32 : (uint32_t)cdoff);
	p = tz_put16(p, 0);
	tz_write(zw, hdr, (size_t)(p - hdr));
	if (zw->fd != STDOUT_FILENO && close(zw->fd) == -1)
		err(1, "close");
}

/* Open OUT for writing ("-" is stdout) and start an archive on it. */
static void
tz_open(struct tz_zw *zw, const char *path)
{
	memset(zw, 0, sizeof(*zw));
	if (strcmp(path, "-") == 0)
		zw->fd = STDOUT_FILENO;
	else if ((zw->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0644)) == -1)
		err(1, "%s", path);
}

/* Open IN for reading and learn its size. */
static int
tz_open_in(const char *path, off_t *size)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		err(1, "%s", path);
	if (fstat(fd, &st) == -1)
		err(1, "%s", path);
	if (!S_ISREG(st.st_mode))
		errx(1, "%s: not a regular file", path);
	*size = st.st_size;
	return fd;
}

/* The last path component, used as the member name. */
static const char *
tz_base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL && s[1] != '\0' ? s + 1 : path;
}

/* create MEMBER IN OUT: the library's writer. */
static int
cmd_create(int argc, char **argv)
{
	char why[128];
	off_t size, outlen;
	int in, out, rc;

	if (argc != 4)
		usage();
	in = tz_open_in(argv[2], &size);
	if ((out = open(argv[3], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		err(1, "%s", argv[3]);
	rc = zip_create_single(in, size, out, argv[1], &outlen, why,
	    sizeof(why));
	if (rc != ZIP_OK)
		errx(1, "create: %s", why);
	if (close(out) == -1)
		err(1, "close");
	close(in);
	return 0;
}

/* extract IN OUT [MAX]: the library's reader; 2 means not a zip. */
static int
cmd_extract(int argc, char **argv)
{
	const char *errstr;
	char why[128];
	off_t size, outlen, max = LLONG_MAX;
	int in, out, rc;

	if (argc != 3 && argc != 4)
		usage();
	if (argc == 4) {
		max = strtonum(argv[3], 0, LLONG_MAX, &errstr);
		if (errstr != NULL) {
			warnx("MAX is %s: %s", errstr, argv[3]);
			usage();
		}
	}
	in = tz_open_in(argv[1], &size);
	if ((out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		err(1, "%s", argv[2]);
	rc = zip_extract_single(in, size, out, max, &outlen, why,
	    sizeof(why));
	if (rc == ZIP_NOTZIP) {
		warnx("extract: %s", why);
		return 2;
	}
	if (rc != ZIP_OK)
		errx(1, "extract: %s", why);
	if (close(out) == -1)
		err(1, "close");
	close(in);
	return 0;
}

/* stream IN OUT, two IN OUT: members in the streaming form. */
static int
cmd_stream(int argc, char **argv, int members)
{
	struct tz_zw zw;
	struct tz_src src;
	off_t size;

	if (argc != 3)
		usage();
	src.fd = tz_open_in(argv[1], &size);
	src.size = (uint64_t)size;
	tz_open(&zw, argv[2]);
	for (int i = 0; i < members; i++)
		tz_add(&zw, i == 0 ? tz_base(argv[1]) : "second", &src);
	tz_finish(&zw);
	close(src.fd);
	return 0;
}

/* bomb SIZE OUT: SIZE zero bytes, deflated in bounded memory. */
static int
cmd_bomb(int argc, char **argv)
{
	struct tz_zw zw;
	struct tz_src src;
	const char *errstr;

	if (argc != 3)
		usage();
	src.fd = -1;
	src.size = (uint64_t)strtonum(argv[1], 0, LLONG_MAX, &errstr);
	if (errstr != NULL) {
		warnx("SIZE is %s: %s", errstr, argv[1]);
		usage();
	}
	tz_open(&zw, argv[2]);
	tz_add(&zw, "zeros", &src);
	tz_finish(&zw);
	return 0;
}

/* Dispatch on the subcommand. */
int
main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	argc--;
	argv++;
	if (strcmp(argv[0], "create") == 0)
		return cmd_create(argc, argv);
	if (strcmp(argv[0], "extract") == 0)
		return cmd_extract(argc, argv);
	if (strcmp(argv[0], "stream") == 0)
		return cmd_stream(argc, argv, 1);
	if (strcmp(argv[0], "bomb") == 0)
		return cmd_bomb(argc, argv);
	if (strcmp(argv[0], "two") == 0)
		return cmd_stream(argc, argv, 2);
	usage();
}
