/* SPDX-License-Identifier: ISC */
/*
 * Single-member ZIP archives for ZSEND/ZRECV, file to file in bounded
 * memory.  The extractor is strict: the archive must be exactly one
 * member at offset 0, its data (and data descriptor), then a central
 * directory with one entry that agrees with the local header, then the
 * end record.  Anything else is ZIP_BAD, so no two readers can disagree
 * about what the archive holds.
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
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "zip.h"

#define ZIP_CHUNK	(64 * 1024)	/* read and write unit */

#define ZIP_SIG_LOCAL	0x04034b50U	/* PK\3\4 */
#define ZIP_SIG_CENTRAL	0x02014b50U	/* PK\1\2 */
#define ZIP_SIG_END	0x06054b50U	/* PK\5\6 */
#define ZIP_SIG_END64	0x06064b50U	/* PK\6\6 */
#define ZIP_SIG_LOC64	0x07064b50U	/* PK\6\7 */
#define ZIP_SIG_DESC	0x08074b50U	/* PK\7\8 */

#define ZIP_LOCAL_LEN	30
#define ZIP_CENTRAL_LEN	46
#define ZIP_END_LEN	22
#define ZIP_END64_LEN	56
#define ZIP_LOC64_LEN	20
#define ZIP_MAX_COMMENT	0xffff

#define ZIP_FLAG_ENCRYPT	0x0001
#define ZIP_FLAG_DESC		0x0008
#define ZIP_FLAG_CDENCRYPT	0x2000

#define ZIP_STORE	0
#define ZIP_DEFLATE	8

#define ZIP_X_ZIP64	0x0001	/* extra field: 64-bit sizes */
#define ZIP_X_TIME	0x5455	/* extra field: "UT" Unix mtime */

#define ZIP_SAT16	0xffffU
#define ZIP_SAT32	0xffffffffU

/* Everything the reader needs to pass around. */
struct zip_rd {
	int		 fd;
	uint64_t	 size;
	char		*err;
	size_t		 errlen;
};

/* What a local header or central directory entry says about the member. */
struct zip_ent {
	unsigned	 flags;
	unsigned	 method;
	uint32_t	 crc;
	uint64_t	 csize;
	uint64_t	 usize;
	uint64_t	 lhoff;		/* central directory only */
	uint64_t	 dataoff;	/* local header only */
};

/* What extracting the data produced. */
struct zip_res {
	uLong		 crc;
	uint64_t	 consumed;
	uint64_t	 produced;
};

static void zip_err(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill err with a reason, keeping errno for the caller. */
static void
zip_err(char *err, size_t errlen, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

/* Little-endian 16-bit value at p. */
static uint16_t
zip_get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Little-endian 32-bit value at p. */
static uint32_t
zip_get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* Little-endian 64-bit value at p. */
static uint64_t
zip_get64(const unsigned char *p)
{
	return (uint64_t)zip_get32(p) | (uint64_t)zip_get32(p + 4) << 32;
}

/* Store a little-endian 16-bit value; returns the next byte. */
static unsigned char *
zip_put16(unsigned char *p, unsigned v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	return p + 2;
}

/* Store a little-endian 32-bit value; returns the next byte. */
static unsigned char *
zip_put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
	return p + 4;
}

/* Store a little-endian 64-bit value; returns the next byte. */
static unsigned char *
zip_put64(unsigned char *p, uint64_t v)
{
	p = zip_put32(p, (uint32_t)v);
	return zip_put32(p, (uint32_t)(v >> 32));
}

/* Write all of buf, retrying short writes; -1 with errno on failure. */
static int
zip_write_full(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes at off, which must lie inside the archive. */
static int
zip_read(struct zip_rd *rd, void *buf, size_t len, uint64_t off,
    const char *what)
{
	unsigned char *p = buf;
	ssize_t n;

	if (off > rd->size || len > rd->size - off) {
		zip_err(rd->err, rd->errlen, "truncated %s", what);
		return ZIP_BAD;
	}
	while (len > 0) {
		if ((n = pread(rd->fd, p, len, (off_t)off)) == -1) {
			if (errno == EINTR)
				continue;
			zip_err(rd->err, rd->errlen, "read: %s",
			    strerror(errno));
			return ZIP_IOERR;
		}
		if (n == 0) {
			/* The file is shorter than the caller said. */
			zip_err(rd->err, rd->errlen, "truncated %s", what);
			return ZIP_BAD;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return ZIP_OK;
}

/*
 * Find the ZIP64 extra field among the len bytes of extra fields at off;
 * its data (at most sizeof(out) bytes of it) goes to out, *outlen gets
 * the full data size, or 0 if there is none.
 */
static int
zip_find_zip64(struct zip_rd *rd, uint64_t off, uint64_t len,
    unsigned char out[32], size_t *outlen)
{
	unsigned char h[4];
	uint64_t end = off + len;
	unsigned id, sz;
	int rc;

	*outlen = 0;
	/* Fewer than 4 bytes left is padding (zipalign writes some). */
	while (end - off >= 4) {
		if ((rc = zip_read(rd, h, 4, off, "extra field")) != ZIP_OK)
			return rc;
		id = zip_get16(h);
		sz = zip_get16(h + 2);
		off += 4;
		if (sz > end - off) {
			zip_err(rd->err, rd->errlen, "bad extra field");
			return ZIP_BAD;
		}
		if (id == ZIP_X_ZIP64) {
			if (*outlen != 0) {
				zip_err(rd->err, rd->errlen,
				    "duplicate zip64 extra field");
				return ZIP_BAD;
			}
			if ((rc = zip_read(rd, out, sz < 32 ? sz : 32, off,
			    "extra field")) != ZIP_OK)
				return rc;
			*outlen = sz;
			if (sz == 0) {
				zip_err(rd->err, rd->errlen,
				    "bad zip64 extra field");
				return ZIP_BAD;
			}
		}
		off += sz;
	}
	return ZIP_OK;
}

/*
 * Take the 8-byte values of a ZIP64 extra field for the fields that are
 * saturated, in the order the format fixes: size, compressed size,
 * local header offset.
 */
static int
zip_apply_zip64(struct zip_rd *rd, const unsigned char *x, size_t xlen,
    uint64_t *usize, uint64_t *csize, uint64_t *lhoff)
{
	uint64_t *f[3] = { usize, csize, lhoff };
	size_t pos = 0;

	for (size_t i = 0; i < 3; i++) {
		if (f[i] == NULL || *f[i] != ZIP_SAT32)
			continue;
		if (xlen < pos + 8 || pos + 8 > 32) {
			zip_err(rd->err, rd->errlen,
			    "short zip64 extra field");
			return ZIP_BAD;
		}
		*f[i] = zip_get64(x + pos);
		pos += 8;
	}
	return ZIP_OK;
}

/*
 * Locate the end record and read the central directory, which must hold
 * exactly one entry for a member at offset 0; *cdoff gets where the
 * central directory starts, which is where the member must end.
 */
static int
zip_read_central(struct zip_rd *rd, struct zip_ent *ce, uint64_t *cdoff)
{
	unsigned char *tail, b[ZIP_END64_LEN], x[32];
	uint64_t tlen, eoff, base, ndisk, ntot, cdsize, limit, u, c;
	unsigned disk, cddisk, nlen, elen, clen, start;
	size_t xlen;
	int64_t i;
	int rc, z64;

	if (rd->size < ZIP_END_LEN) {
		zip_err(rd->err, rd->errlen, "truncated archive");
		return ZIP_BAD;
	}
	tlen = rd->size < ZIP_END_LEN + ZIP_MAX_COMMENT ? rd->size :
	    ZIP_END_LEN + ZIP_MAX_COMMENT;
	base = rd->size - tlen;
	if ((tail = malloc(tlen)) == NULL) {
		zip_err(rd->err, rd->errlen, "out of memory");
		return ZIP_IOERR;
	}
	if ((rc = zip_read(rd, tail, tlen, base, "archive")) != ZIP_OK) {
		free(tail);
		return rc;
	}
	/* The last signature whose comment runs exactly to the end. */
	for (i = (int64_t)(tlen - ZIP_END_LEN); i >= 0; i--)
		if (zip_get32(tail + i) == ZIP_SIG_END &&
		    zip_get16(tail + i + 20) ==
		    tlen - (uint64_t)i - ZIP_END_LEN)
			break;
	if (i < 0) {
		free(tail);
		zip_err(rd->err, rd->errlen,
		    "no end of central directory record");
		return ZIP_BAD;
	}
	eoff = base + (uint64_t)i;
	disk = zip_get16(tail + i + 4);
	cddisk = zip_get16(tail + i + 6);
	ndisk = zip_get16(tail + i + 8);
	ntot = zip_get16(tail + i + 10);
	cdsize = zip_get32(tail + i + 12);
	*cdoff = zip_get32(tail + i + 16);
	free(tail);
	limit = eoff;
	z64 = disk == ZIP_SAT16 || cddisk == ZIP_SAT16 ||
	    ndisk == ZIP_SAT16 || ntot == ZIP_SAT16 || cdsize == ZIP_SAT32 ||
	    *cdoff == ZIP_SAT32;

	/* A ZIP64 end record, if a locator points to one, is the truth. */
	if (eoff >= ZIP_LOC64_LEN) {
		if ((rc = zip_read(rd, b, ZIP_LOC64_LEN, eoff - ZIP_LOC64_LEN,
		    "zip64 locator")) != ZIP_OK)
			return rc;
		if (zip_get32(b) == ZIP_SIG_LOC64) {
			uint64_t zoff = zip_get64(b + 8);

			if (zoff <= eoff - ZIP_LOC64_LEN &&
			    eoff - ZIP_LOC64_LEN - zoff >= ZIP_END64_LEN) {
				if ((rc = zip_read(rd, b, ZIP_END64_LEN, zoff,
				    "zip64 end record")) != ZIP_OK)
					return rc;
			} else
				memset(b, 0, sizeof(b));
			if (zip_get32(b) == ZIP_SIG_END64) {
				disk = zip_get32(b + 16) != 0;
				cddisk = zip_get32(b + 20) != 0;
				ndisk = zip_get64(b + 24);
				ntot = zip_get64(b + 32);
				cdsize = zip_get64(b + 40);
				*cdoff = zip_get64(b + 48);
				limit = zoff;
				z64 = 0;
			}
		}
	}
	if (z64) {
		zip_err(rd->err, rd->errlen, "missing zip64 end record");
		return ZIP_BAD;
	}
	if (disk != 0 || cddisk != 0) {
		zip_err(rd->err, rd->errlen, "multi-disk archive");
		return ZIP_BAD;
	}
	if (ndisk > 1 || ntot > 1) {
		zip_err(rd->err, rd->errlen, "more than one member");
		return ZIP_BAD;
	}
	if (ndisk != 1 || ntot != 1) {
		zip_err(rd->err, rd->errlen, "central directory is empty");
		return ZIP_BAD;
	}
	if (*cdoff > limit || cdsize != limit - *cdoff ||
	    cdsize < ZIP_CENTRAL_LEN) {
		zip_err(rd->err, rd->errlen, "bad central directory bounds");
		return ZIP_BAD;
	}

	if ((rc = zip_read(rd, b, ZIP_CENTRAL_LEN, *cdoff,
	    "central directory")) != ZIP_OK)
		return rc;
	if (zip_get32(b) != ZIP_SIG_CENTRAL) {
		zip_err(rd->err, rd->errlen, "bad central directory signature");
		return ZIP_BAD;
	}
	ce->flags = zip_get16(b + 8);
	ce->method = zip_get16(b + 10);
	ce->crc = zip_get32(b + 16);
	c = zip_get32(b + 20);
	u = zip_get32(b + 24);
	nlen = zip_get16(b + 28);
	elen = zip_get16(b + 30);
	clen = zip_get16(b + 32);
	start = zip_get16(b + 34);
	ce->lhoff = zip_get32(b + 42);
	if (cdsize != (uint64_t)ZIP_CENTRAL_LEN + nlen + elen + clen) {
		zip_err(rd->err, rd->errlen, "bad central directory size");
		return ZIP_BAD;
	}
	if ((rc = zip_find_zip64(rd, *cdoff + ZIP_CENTRAL_LEN + nlen, elen,
	    x, &xlen)) != ZIP_OK)
		return rc;
	if (u == ZIP_SAT32 || c == ZIP_SAT32 || ce->lhoff == ZIP_SAT32) {
		if (xlen == 0) {
			zip_err(rd->err, rd->errlen,
			    "missing zip64 extra field");
			return ZIP_BAD;
		}
		if ((rc = zip_apply_zip64(rd, x, xlen, &u, &c, &ce->lhoff)) !=
		    ZIP_OK)
			return rc;
	}
	ce->csize = c;
	ce->usize = u;
	if (start != 0 || ce->lhoff != 0) {
		zip_err(rd->err, rd->errlen, "member not at start of archive");
		return ZIP_BAD;
	}
	return ZIP_OK;
}

/* Read the local header at offset 0 and find where the data starts. */
static int
zip_read_local(struct zip_rd *rd, struct zip_ent *le, uint64_t cdoff)
{
	unsigned char b[ZIP_LOCAL_LEN], x[32];
	unsigned nlen, elen;
	size_t xlen;
	int rc;

	if ((rc = zip_read(rd, b, ZIP_LOCAL_LEN, 0, "local header")) !=
	    ZIP_OK)
		return rc;
	le->flags = zip_get16(b + 6);
	le->method = zip_get16(b + 8);
	le->crc = zip_get32(b + 14);
	le->csize = zip_get32(b + 18);
	le->usize = zip_get32(b + 22);
	le->lhoff = 0;
	nlen = zip_get16(b + 26);
	elen = zip_get16(b + 28);
	le->dataoff = (uint64_t)ZIP_LOCAL_LEN + nlen + elen;
	if (le->dataoff > cdoff) {
		zip_err(rd->err, rd->errlen, "truncated local header");
		return ZIP_BAD;
	}
	if ((rc = zip_find_zip64(rd, ZIP_LOCAL_LEN + nlen, elen, x, &xlen)) !=
	    ZIP_OK)
		return rc;
	if ((le->flags & ZIP_FLAG_DESC) == 0 &&
	    (le->usize == ZIP_SAT32 || le->csize == ZIP_SAT32)) {
		if (xlen == 0) {
			zip_err(rd->err, rd->errlen,
			    "missing zip64 extra field");
			return ZIP_BAD;
		}
		/*
		 * The format wants both sizes in a local ZIP64 field;
		 * accept one if only one is saturated.
		 */
		if (xlen >= 16) {
			le->usize = zip_get64(x);
			le->csize = zip_get64(x + 8);
		} else if ((rc = zip_apply_zip64(rd, x, xlen, &le->usize,
		    &le->csize, NULL)) != ZIP_OK)
			return rc;
	}
	return ZIP_OK;
}

/* Account for and write one piece of output, refusing to pass max_out. */
static int
zip_emit(struct zip_rd *rd, int outfd, off_t max_out, struct zip_res *res,
    const unsigned char *buf, size_t len)
{
	if (len == 0)
		return ZIP_OK;
	if (len > (uint64_t)max_out - res->produced) {
		zip_err(rd->err, rd->errlen, "inflated size exceeds limit");
		return ZIP_TOOBIG;
	}
	if (zip_write_full(outfd, buf, len) == -1) {
		zip_err(rd->err, rd->errlen, "write: %s", strerror(errno));
		return ZIP_IOERR;
	}
	res->crc = crc32(res->crc, buf, (uInt)len);
	res->produced += len;
	return ZIP_OK;
}

/* Copy a stored member of csize bytes at off. */
static int
zip_copy(struct zip_rd *rd, uint64_t off, uint64_t csize, int outfd,
    off_t max_out, struct zip_res *res)
{
	unsigned char *buf;
	size_t n;
	int rc = ZIP_OK;

	if (csize > (uint64_t)max_out) {
		zip_err(rd->err, rd->errlen, "inflated size exceeds limit");
		return ZIP_TOOBIG;
	}
	if ((buf = malloc(ZIP_CHUNK)) == NULL) {
		zip_err(rd->err, rd->errlen, "out of memory");
		return ZIP_IOERR;
	}
	while (res->consumed < csize) {
		n = csize - res->consumed < ZIP_CHUNK ?
		    (size_t)(csize - res->consumed) : ZIP_CHUNK;
		if ((rc = zip_read(rd, buf, n, off + res->consumed,
		    "member data")) != ZIP_OK)
			break;
		res->consumed += n;
		if ((rc = zip_emit(rd, outfd, max_out, res, buf, n)) != ZIP_OK)
			break;
	}
	free(buf);
	return rc;
}

/*
 * Inflate the raw deflate stream at off, reading at most limit bytes of
 * it; res->consumed gets the length of the stream.
 */
static int
zip_inflate(struct zip_rd *rd, uint64_t off, uint64_t limit, int outfd,
    off_t max_out, struct zip_res *res)
{
	unsigned char *in, *out;
	z_stream zs;
	uint64_t pos = 0;
	size_t n;
	int rc = ZIP_OK, zr, saved;

	memset(&zs, 0, sizeof(zs));
	in = malloc(ZIP_CHUNK);
	out = malloc(ZIP_CHUNK);
	if (in == NULL || out == NULL ||
	    inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
		free(in);
		free(out);
		errno = ENOMEM;
		zip_err(rd->err, rd->errlen, "out of memory");
		return ZIP_IOERR;
	}
	for (;;) {
		if (zs.avail_in == 0) {
			n = limit - pos < ZIP_CHUNK ? (size_t)(limit - pos) :
			    ZIP_CHUNK;
			if (n == 0) {
				zip_err(rd->err, rd->errlen,
				    "truncated deflate data");
				rc = ZIP_BAD;
				break;
			}
			if ((rc = zip_read(rd, in, n, off + pos,
			    "member data")) != ZIP_OK)
				break;
			pos += n;
			zs.next_in = in;
			zs.avail_in = (uInt)n;
		}
		zs.next_out = out;
		zs.avail_out = ZIP_CHUNK;
		zr = inflate(&zs, Z_NO_FLUSH);
		if (zr == Z_MEM_ERROR) {
			errno = ENOMEM;
			zip_err(rd->err, rd->errlen, "out of memory");
			rc = ZIP_IOERR;
			break;
		}
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			zip_err(rd->err, rd->errlen, "bad deflate data: %s",
			    zs.msg != NULL ? zs.msg : "error");
			rc = ZIP_BAD;
			break;
		}
		if ((rc = zip_emit(rd, outfd, max_out, res, out,
		    ZIP_CHUNK - zs.avail_out)) != ZIP_OK)
			break;
		if (zr == Z_STREAM_END)
			break;
	}
	res->consumed = pos - zs.avail_in;
	saved = errno;
	inflateEnd(&zs);
	free(in);
	free(out);
	errno = saved;
	return rc;
}

/*
 * Read the data descriptor that must fill the gap between the member's
 * data and the central directory; the gap's length tells its layout
 * (signature or not, 4- or 8-byte sizes), and the sizes must match.
 */
static int
zip_read_desc(struct zip_rd *rd, uint64_t pos, uint64_t cdoff,
    const struct zip_res *res, uint32_t *crc)
{
	unsigned char b[24];
	uint64_t gap = cdoff - pos, c, u;
	size_t skip, w;
	int rc;

	switch (gap) {
	case 12:
		skip = 0;
		w = 4;
		break;
	case 16:
		skip = 4;
		w = 4;
		break;
	case 20:
		skip = 0;
		w = 8;
		break;
	case 24:
		skip = 4;
		w = 8;
		break;
	default:
		/* Look for a second member behind any descriptor layout. */
		for (size_t len = 12; len <= 24; len += 4)
			if (gap > len + 4 && zip_read(rd, b, 4, pos + len,
			    "archive") == ZIP_OK &&
			    zip_get32(b) == ZIP_SIG_LOCAL) {
				zip_err(rd->err, rd->errlen,
				    "more than one member");
				return ZIP_BAD;
			}
		zip_err(rd->err, rd->errlen, "bad data descriptor");
		return ZIP_BAD;
	}
	if ((rc = zip_read(rd, b, (size_t)gap, pos, "data descriptor")) !=
	    ZIP_OK)
		return rc;
	if (skip != 0 && zip_get32(b) != ZIP_SIG_DESC) {
		zip_err(rd->err, rd->errlen, "bad data descriptor signature");
		return ZIP_BAD;
	}
	*crc = zip_get32(b + skip);
	c = w == 8 ? zip_get64(b + skip + 4) : zip_get32(b + skip + 4);
	u = w == 8 ? zip_get64(b + skip + 4 + w) :
	    zip_get32(b + skip + 4 + w);
	if (c != res->consumed || u != res->produced) {
		zip_err(rd->err, rd->errlen, "data descriptor sizes mismatch");
		return ZIP_BAD;
	}
	return ZIP_OK;
}

/*
 * Inflate the one member of the archive in infd into outfd, never
 * writing more than max_out bytes (a negative max_out is refused).
 */
int
zip_extract_single(int infd, off_t insize, int outfd, off_t max_out,
    off_t *outlen, char *err, size_t errlen)
{
	struct zip_rd rd = { infd, 0, err, errlen };
	struct zip_ent ce, le;
	struct zip_res res;
	unsigned char sig[4];
	uint64_t cdoff, csize, end;
	uint32_t crc;
	int rc;

	memset(&res, 0, sizeof(res));
	res.crc = crc32(0L, Z_NULL, 0);
	if (outlen != NULL)
		*outlen = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (insize < 0 || max_out < 0) {
		errno = EINVAL;
		zip_err(err, errlen, "invalid size or limit");
		return ZIP_BAD;
	}
	rd.size = (uint64_t)insize;
	if (insize < 4) {
		zip_err(err, errlen, "not a zip archive");
		return ZIP_NOTZIP;
	}
	if ((rc = zip_read(&rd, sig, 4, 0, "archive")) != ZIP_OK)
		return rc;
	if (zip_get32(sig) != ZIP_SIG_LOCAL) {
		zip_err(err, errlen, "not a zip archive");
		return ZIP_NOTZIP;
	}

	if ((rc = zip_read_central(&rd, &ce, &cdoff)) != ZIP_OK)
		return rc;
	if ((rc = zip_read_local(&rd, &le, cdoff)) != ZIP_OK)
		return rc;
	if (((le.flags | ce.flags) &
	    (ZIP_FLAG_ENCRYPT | ZIP_FLAG_CDENCRYPT)) != 0) {
		zip_err(err, errlen, "encrypted member");
		return ZIP_BAD;
	}
	if (le.method != ZIP_STORE && le.method != ZIP_DEFLATE) {
		zip_err(err, errlen, "unsupported method %u", le.method);
		return ZIP_BAD;
	}
	if (ce.method != le.method) {
		zip_err(err, errlen, "central directory method mismatch");
		return ZIP_BAD;
	}
	/* Refuse a bomb the directory admits to before writing anything. */
	if (ce.usize > (uint64_t)max_out) {
		zip_err(err, errlen, "inflated size exceeds limit");
		return ZIP_TOOBIG;
	}

	if (le.method == ZIP_STORE) {
		/* With a descriptor only the central directory has the size. */
		csize = (le.flags & ZIP_FLAG_DESC) ? ce.csize : le.csize;
		if (csize > cdoff - le.dataoff) {
			zip_err(err, errlen, "truncated member data");
			return ZIP_BAD;
		}
		rc = zip_copy(&rd, le.dataoff, csize, outfd, max_out, &res);
	} else {
		csize = (le.flags & ZIP_FLAG_DESC) ? cdoff - le.dataoff :
		    le.csize;
		if (csize > cdoff - le.dataoff) {
			zip_err(err, errlen, "truncated member data");
			return ZIP_BAD;
		}
		rc = zip_inflate(&rd, le.dataoff, csize, outfd, max_out, &res);
	}
	if (outlen != NULL)
		*outlen = (off_t)res.produced;
	if (rc != ZIP_OK)
		return rc;

	end = le.dataoff + res.consumed;
	if (le.flags & ZIP_FLAG_DESC) {
		if ((rc = zip_read_desc(&rd, end, cdoff, &res, &crc)) !=
		    ZIP_OK)
			return rc;
		end = cdoff;
	} else {
		crc = le.crc;
		if (res.consumed != le.csize || res.produced != le.usize) {
			zip_err(err, errlen, "member sizes mismatch");
			return ZIP_BAD;
		}
	}
	if (crc != res.crc) {
		zip_err(err, errlen, "crc mismatch");
		return ZIP_BAD;
	}
	if (ce.crc != res.crc || ce.csize != res.consumed ||
	    ce.usize != res.produced) {
		zip_err(err, errlen,
		    "central directory disagrees with local header");
		return ZIP_BAD;
	}
	if (end != cdoff) {
		if (cdoff - end >= 4 && zip_read(&rd, sig, 4, end,
		    "archive") == ZIP_OK && zip_get32(sig) == ZIP_SIG_LOCAL)
			zip_err(err, errlen, "more than one member");
		else
			zip_err(err, errlen, "garbage after member");
		return ZIP_BAD;
	}
	return ZIP_OK;
}

/* Is this a name we are willing to put into an archive? */
static int
zip_member_ok(const char *member)
{
	size_t len;

	if (member == NULL || (len = strlen(member)) == 0 || len > 0xffff)
		return 0;
	if (strchr(member, '/') != NULL || strchr(member, '\\') != NULL)
		return 0;
	return strcmp(member, ".") != 0 && strcmp(member, "..") != 0;
}

/* Pack the current time (UTC) into DOS date and time fields. */
static void
zip_dos_time(time_t now, unsigned *dtime, unsigned *ddate)
{
	struct tm tm;

	/*
	 * UTC, not local time: localtime_r may want /etc/localtime, which
	 * a sandboxed caller cannot open.  The "UT" extra field carries
	 * the exact time for readers that look at it.
	 */
	if (gmtime_r(&now, &tm) == NULL || tm.tm_year < 80) {
		*dtime = 0;
		*ddate = (1 << 5) | 1;		/* 1980-01-01 */
		return;
	}
	if (tm.tm_year > 80 + 127)
		tm.tm_year = 80 + 127;
	*dtime = (unsigned)(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2);
	*ddate = (unsigned)((tm.tm_year - 80) << 9 | (tm.tm_mon + 1) << 5 |
	    tm.tm_mday);
}

/* Write all of buf at an absolute offset. */
static int
zip_pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = pwrite(fd, p, len, off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Deflate insize bytes read sequentially from infd into outfd, counting
 * the compressed size and the CRC.
 */
static int
zip_deflate(int infd, off_t insize, int outfd, uLong *crc, uint64_t *csize,
    uint64_t limit, z_stream *zs, char *err, size_t errlen)
{
	unsigned char *in, *out;
	off_t done = 0;
	size_t want, have;
	ssize_t n;
	int flush, zr = Z_OK, rc = ZIP_OK, saved;

	in = malloc(ZIP_CHUNK);
	out = malloc(ZIP_CHUNK);
	if (in == NULL || out == NULL) {
		free(in);
		free(out);
		errno = ENOMEM;
		zip_err(err, errlen, "out of memory");
		return ZIP_IOERR;
	}
	do {
		n = 0;
		if (done < insize) {
			want = insize - done < ZIP_CHUNK ?
			    (size_t)(insize - done) : ZIP_CHUNK;
			while ((n = read(infd, in, want)) == -1 &&
			    errno == EINTR)
				;
			if (n == -1) {
				zip_err(err, errlen, "read: %s",
				    strerror(errno));
				rc = ZIP_IOERR;
				break;
			}
			if (n == 0) {
				zip_err(err, errlen,
				    "input shorter than its size");
				rc = ZIP_BAD;
				break;
			}
			*crc = crc32(*crc, in, (uInt)n);
			done += n;
		}
		flush = done == insize ? Z_FINISH : Z_NO_FLUSH;
		zs->next_in = in;
		zs->avail_in = (uInt)n;
		do {
			zs->next_out = out;
			zs->avail_out = ZIP_CHUNK;
			zr = deflate(zs, flush);
			if (zr == Z_STREAM_ERROR) {
				zip_err(err, errlen, "deflate failed");
				rc = ZIP_BAD;
				goto done;
			}
			have = ZIP_CHUNK - zs->avail_out;
			if (have > limit - *csize) {
				zip_err(err, errlen, "archive too big");
				rc = ZIP_BAD;
				goto done;
			}
			if (zip_write_full(outfd, out, have) == -1) {
				zip_err(err, errlen, "write: %s",
				    strerror(errno));
				rc = ZIP_IOERR;
				goto done;
			}
			*csize += have;
		} while (zs->avail_out == 0);
	} while (flush != Z_FINISH);
	if (rc == ZIP_OK && zr != Z_STREAM_END) {
		zip_err(err, errlen, "deflate did not finish");
		rc = ZIP_BAD;
	}
done:
	saved = errno;
	free(in);
	free(out);
	errno = saved;
	return rc;
}

/*
 * Write an archive with one deflated member holding insize bytes read
 * from infd's current offset; the local header is patched with pwrite
 * once the CRC and sizes are known.  ZIP64 fields are used only when a
 * size could reach 4 GiB.
 */
int
zip_create_single(int infd, off_t insize, int outfd, const char *member,
    off_t *outlen, char *err, size_t errlen)
{
	unsigned char hdr[ZIP_CENTRAL_LEN + 9 + 20], *p;
	unsigned char tail[ZIP_END64_LEN + ZIP_LOC64_LEN + ZIP_END_LEN];
	unsigned dtime, ddate, ver;
	uint64_t csize = 0, cdoff, cdsize;
	size_t nlen;
	time_t now = time(NULL);
	uLong crc = crc32(0L, Z_NULL, 0);
	z_stream zs;
	off_t start;
	int rc, z64, saved, fl;

	if (outlen != NULL)
		*outlen = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!zip_member_ok(member)) {
		errno = EINVAL;
		zip_err(err, errlen, "bad member name");
		return ZIP_BAD;
	}
	if (insize < 0) {
		errno = EINVAL;
		zip_err(err, errlen, "invalid size");
		return ZIP_BAD;
	}
	nlen = strlen(member);
	if ((start = lseek(outfd, 0, SEEK_CUR)) == -1) {
		zip_err(err, errlen, "output: %s", strerror(errno));
		return ZIP_IOERR;
	}
	/* On Linux pwrite appends with O_APPEND: the patch would miss. */
	if ((fl = fcntl(outfd, F_GETFL)) == -1 || (fl & O_APPEND) != 0) {
		if (fl != -1)
			errno = EINVAL;
		zip_err(err, errlen, "output: %s", fl == -1 ? strerror(errno) :
		    "opened for appending");
		return ZIP_IOERR;
	}
	memset(&zs, 0, sizeof(zs));
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS,
	    8, Z_DEFAULT_STRATEGY) != Z_OK) {
		errno = ENOMEM;
		zip_err(err, errlen, "out of memory");
		return ZIP_IOERR;
	}
	/* Decide now: the local header's layout cannot change later. */
	z64 = (uint64_t)insize >= ZIP_SAT32 ||
	    deflateBound(&zs, (uLong)insize) >= ZIP_SAT32;
	ver = z64 ? 45 : 20;
	zip_dos_time(now, &dtime, &ddate);

	/* Local header; CRC and sizes are patched in below. */
	p = zip_put32(hdr, ZIP_SIG_LOCAL);
	p = zip_put16(p, ver);
	p = zip_put16(p, 0);
	p = zip_put16(p, ZIP_DEFLATE);
	p = zip_put16(p, dtime);
	p = zip_put16(p, ddate);
	p = zip_put32(p, 0);
	p = zip_put32(p, z64 ? ZIP_SAT32 : 0);
	p = zip_put32(p, z64 ? ZIP_SAT32 : 0);
	p = zip_put16(p, (unsigned)nlen);
	p = zip_put16(p, z64 ? 9 + 20 : 9);
	if (zip_write_full(outfd, hdr, ZIP_LOCAL_LEN) == -1 ||
	    zip_write_full(outfd, member, nlen) == -1)
		goto ioerr;
	p = zip_put16(hdr, ZIP_X_TIME);
	p = zip_put16(p, 5);
	*p++ = 1;				/* mtime present */
	p = zip_put32(p, (uint32_t)now);
	if (z64) {
		p = zip_put16(p, ZIP_X_ZIP64);
		p = zip_put16(p, 16);
		p = zip_put64(p, 0);
		p = zip_put64(p, 0);
	}
	if (zip_write_full(outfd, hdr, (size_t)(p - hdr)) == -1)
		goto ioerr;

	rc = zip_deflate(infd, insize, outfd, &crc, &csize,
	    z64 ? UINT64_MAX / 2 : ZIP_SAT32 - 1, &zs, err, errlen);
	saved = errno;
	deflateEnd(&zs);
	errno = saved;
	if (rc != ZIP_OK)
		return rc;

	/* Patch CRC and sizes into the local header. */
	zip_put32(hdr, (uint32_t)crc);
	zip_put32(hdr + 4, z64 ? ZIP_SAT32 : (uint32_t)csize);
	zip_put32(hdr + 8, z64 ? ZIP_SAT32 : (uint32_t)insize);
	if (zip_pwrite_full(outfd, hdr, 12, start + 14) == -1)
		goto ioerr2;
	if (z64) {
		zip_put64(hdr, (uint64_t)insize);
		zip_put64(hdr + 8, csize);
		if (zip_pwrite_full(outfd, hdr, 16,
		    start + ZIP_LOCAL_LEN + (off_t)nlen + 9 + 4) == -1)
			goto ioerr2;
	}

	/* Central directory: one entry, a regular file of mode 0644. */
	cdoff = ZIP_LOCAL_LEN + nlen + (z64 ? 9 + 20 : 9) + csize;
	p = zip_put32(hdr, ZIP_SIG_CENTRAL);
	p = zip_put16(p, 3 << 8 | ver);		/* made by Unix */
	p = zip_put16(p, ver);
	p = zip_put16(p, 0);
	p = zip_put16(p, ZIP_DEFLATE);
	p = zip_put16(p, dtime);
	p = zip_put16(p, ddate);
	p = zip_put32(p, (uint32_t)crc);
	p = zip_put32(p, z64 ? ZIP_SAT32 : (uint32_t)csize);
	p = zip_put32(p, z64 ? ZIP_SAT32 : (uint32_t)insize);
	p = zip_put16(p, (unsigned)nlen);
	p = zip_put16(p, z64 ? 9 + 20 : 9);
	p = zip_put16(p, 0);			/* comment */
	p = zip_put16(p, 0);			/* disk */
	p = zip_put16(p, 0);			/* internal attributes */
	p = zip_put32(p, (uint32_t)(S_IFREG | 0644) << 16);
	p = zip_put32(p, 0);			/* local header offset */
	if (zip_write_full(outfd, hdr, ZIP_CENTRAL_LEN) == -1 ||
	    zip_write_full(outfd, member, nlen) == -1)
		goto ioerr2;
	p = zip_put16(hdr, ZIP_X_TIME);
	p = zip_put16(p, 5);
	*p++ = 1;
	p = zip_put32(p, (uint32_t)now);
	if (z64) {
		p = zip_put16(p, ZIP_X_ZIP64);
		p = zip_put16(p, 16);
		p = zip_put64(p, (uint64_t)insize);
		p = zip_put64(p, csize);
	}
	if (zip_write_full(outfd, hdr, (size_t)(p - hdr)) == -1)
		goto ioerr2;
	cdsize = ZIP_CENTRAL_LEN + nlen + (z64 ? 9 + 20 : 9);

	/* End records; the ZIP64 pair only when an offset needs it. */
	p = tail;
	if (z64 || cdoff >= ZIP_SAT32) {
		p = zip_put32(p, ZIP_SIG_END64);
		p = zip_put64(p, ZIP_END64_LEN - 12);
		p = zip_put16(p, 3 << 8 | 45);
		p = zip_put16(p, 45);
		p = zip_put32(p, 0);
		p = zip_put32(p, 0);
		p = zip_put64(p, 1);
		p = zip_put64(p, 1);
		p = zip_put64(p, cdsize);
		p = zip_put64(p, cdoff);
		p = zip_put32(p, ZIP_SIG_LOC64);
		p = zip_put32(p, 0);
		p = zip_put64(p, cdoff + cdsize);
		p = zip_put32(p, 1);
	}
	p = zip_put32(p, ZIP_SIG_END);
	p = zip_put16(p, 0);
	p = zip_put16(p, 0);
	p = zip_put16(p, 1);
	p = zip_put16(p, 1);
	p = zip_put32(p, (uint32_t)cdsize);
	p = zip_put32(p, cdoff >= ZIP_SAT32 ? ZIP_SAT32 : (uint32_t)cdoff);
	p = zip_put16(p, 0);
	if (zip_write_full(outfd, tail, (size_t)(p - tail)) == -1)
		goto ioerr2;
	if (outlen != NULL)
		*outlen = (off_t)(cdoff + cdsize + (uint64_t)(p - tail));
	return ZIP_OK;

ioerr:
	saved = errno;
	deflateEnd(&zs);
	errno = saved;
ioerr2:
	zip_err(err, errlen, "write: %s", strerror(errno));
	return ZIP_IOERR;
}

/* ---- several members (conf-dist collections) ---- */

/*
 * A path we put into a multi-member archive: relative, '/' between
 * components, none empty, "." or "..", no backslash, no control byte.
 */
static int
zip_path_ok(const char *name)
{
	const char *p = name, *c;
	size_t len;

	if (name == NULL || (len = strlen(name)) == 0 || len > 0xffff ||
	    name[0] == '/')
		return 0;
	for (c = name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
			return 0;
	for (;;) {
		size_t cl = strcspn(p, "/");

		if (cl == 0 || (cl == 1 && p[0] == '.') ||
		    (cl == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (p[cl] == '\0')
			return 1;
		p += cl + 1;
	}
}

static int
zip_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* No name twice, and no name that is also a directory of another. */
static int
zip_names_unique(const struct zip_member *m, size_t n, char *err,
    size_t errlen)
{
	const char **s;
	char *dir;
	int ok = 1;

	if ((s = calloc(n ? n : 1, sizeof(*s))) == NULL) {
		zip_err(err, errlen, "out of memory");
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		s[i] = m[i].name;
	qsort(s, n, sizeof(*s), zip_name_cmp);
	for (size_t i = 1; i < n && ok; i++)
		if (strcmp(s[i - 1], s[i]) == 0) {
			zip_err(err, errlen, "member %s twice", s[i]);
			ok = 0;
		}
	for (size_t i = 0; i < n && ok; i++) {
		if ((dir = strdup(s[i])) == NULL) {
			ok = 0;
			break;
		}
		for (char *sl = strrchr(dir, '/'); sl != NULL && ok;
		    sl = strrchr(dir, '/')) {
			const char *key = dir;

			*sl = '\0';
			if (bsearch(&key, s, n, sizeof(*s), zip_name_cmp) !=
			    NULL) {
				zip_err(err, errlen, "member %s is also a "
				    "directory", dir);
				ok = 0;
			}
		}
		free(dir);
	}
	free(s);
	return ok;
}

int
zip_create_multi(const struct zip_member *m, size_t n, int outfd,
    off_t *outlen, char *err, size_t errlen)
{
	struct zip_cd {
		uint32_t	 crc;
		uint64_t	 csize, usize, off;
		unsigned	 dtime, ddate;
	} *cd = NULL;
	unsigned char hdr[ZIP_CENTRAL_LEN + 9], *p;
	uint64_t pos = 0, cdsize = 0;
	off_t start;
	z_stream zs;
	int rc = ZIP_OK, fl, saved;

	if (outlen != NULL)
		*outlen = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (n == 0 || n > 0xffff) {
		errno = EINVAL;
		zip_err(err, errlen, n == 0 ? "no members" :
		    "more than 65535 members");
		return n == 0 ? ZIP_BAD : ZIP_TOOBIG;
	}
	for (size_t i = 0; i < n; i++)
		if (!zip_path_ok(m[i].name) || m[i].size < 0) {
			errno = EINVAL;
			zip_err(err, errlen, "bad member name or size");
			return ZIP_BAD;
		}
	if (!zip_names_unique(m, n, err, errlen)) {
		errno = EINVAL;
		return ZIP_BAD;
	}
	if ((start = lseek(outfd, 0, SEEK_CUR)) == -1 ||
	    (fl = fcntl(outfd, F_GETFL)) == -1 || (fl & O_APPEND) != 0) {
		if (start != -1 && fl != -1)
			errno = EINVAL;
		zip_err(err, errlen, "output: %s", strerror(errno));
		return ZIP_IOERR;
	}
	if ((cd = calloc(n, sizeof(*cd))) == NULL) {
		zip_err(err, errlen, "out of memory");
		return ZIP_IOERR;
	}
	for (size_t i = 0; i < n && rc == ZIP_OK; i++) {
		size_t nlen = strlen(m[i].name);
		uLong crc = crc32(0L, Z_NULL, 0);
		uint64_t csize = 0;

		/* Without ZIP64 every size and offset is below 4 GiB. */
		if ((uint64_t)m[i].size >= ZIP_SAT32 ||
		    pos + ZIP_LOCAL_LEN + nlen + 9 >= ZIP_SAT32) {
			zip_err(err, errlen, "archive would need ZIP64");
			rc = ZIP_TOOBIG;
			break;
		}
		cd[i].off = pos;
		cd[i].usize = (uint64_t)m[i].size;
		zip_dos_time(m[i].mtime, &cd[i].dtime, &cd[i].ddate);
		p = zip_put32(hdr, ZIP_SIG_LOCAL);
		p = zip_put16(p, 20);
		p = zip_put16(p, 0);
		p = zip_put16(p, ZIP_DEFLATE);
		p = zip_put16(p, cd[i].dtime);
		p = zip_put16(p, cd[i].ddate);
		p = zip_put32(p, 0);			/* patched below */
		p = zip_put32(p, 0);
		p = zip_put32(p, 0);
		p = zip_put16(p, (unsigned)nlen);
		p = zip_put16(p, 9);
		if (zip_write_full(outfd, hdr, ZIP_LOCAL_LEN) == -1 ||
		    zip_write_full(outfd, m[i].name, nlen) == -1)
			goto ioerr;
		p = zip_put16(hdr, ZIP_X_TIME);
		p = zip_put16(p, 5);
		*p++ = 1;
		p = zip_put32(p, (uint32_t)m[i].mtime);
		if (zip_write_full(outfd, hdr, 9) == -1)
			goto ioerr;
		memset(&zs, 0, sizeof(zs));
		if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
		    -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
			errno = ENOMEM;
			zip_err(err, errlen, "out of memory");
			rc = ZIP_IOERR;
			break;
		}
		rc = zip_deflate(m[i].fd, m[i].size, outfd, &crc, &csize,
		    ZIP_SAT32 - 1 - (pos + ZIP_LOCAL_LEN + nlen + 9), &zs, err,
		    errlen);
		saved = errno;
		deflateEnd(&zs);
		errno = saved;
		if (rc == ZIP_BAD && err != NULL &&
		    strcmp(err, "archive too big") == 0)
			rc = ZIP_TOOBIG;
		if (rc != ZIP_OK)
			break;
		cd[i].crc = (uint32_t)crc;
		cd[i].csize = csize;
		zip_put32(hdr, cd[i].crc);
		zip_put32(hdr + 4, (uint32_t)csize);
		zip_put32(hdr + 8, (uint32_t)cd[i].usize);
		if (zip_pwrite_full(outfd, hdr, 12, start + (off_t)pos + 14) ==
		    -1)
			goto ioerr;
		pos += ZIP_LOCAL_LEN + nlen + 9 + csize;
	}
	if (rc != ZIP_OK)
		goto out;
	/* Central directory: regular files, made by Unix, with modes. */
	for (size_t i = 0; i < n; i++) {
		size_t nlen = strlen(m[i].name);

		p = zip_put32(hdr, ZIP_SIG_CENTRAL);
		p = zip_put16(p, 3 << 8 | 20);
		p = zip_put16(p, 20);
		p = zip_put16(p, 0);
		p = zip_put16(p, ZIP_DEFLATE);
		p = zip_put16(p, cd[i].dtime);
		p = zip_put16(p, cd[i].ddate);
		p = zip_put32(p, cd[i].crc);
		p = zip_put32(p, (uint32_t)cd[i].csize);
		p = zip_put32(p, (uint32_t)cd[i].usize);
		p = zip_put16(p, (unsigned)nlen);
		p = zip_put16(p, 9);
		p = zip_put16(p, 0);
		p = zip_put16(p, 0);
		p = zip_put16(p, 0);
		p = zip_put32(p, (uint32_t)(S_IFREG | (m[i].mode & 0777)) <<
		    16);
		p = zip_put32(p, (uint32_t)cd[i].off);
		if (zip_write_full(outfd, hdr, ZIP_CENTRAL_LEN) == -1 ||
		    zip_write_full(outfd, m[i].name, nlen) == -1)
			goto ioerr;
		p = zip_put16(hdr, ZIP_X_TIME);
		p = zip_put16(p, 5);
		*p++ = 1;
		p = zip_put32(p, (uint32_t)m[i].mtime);
		if (zip_write_full(outfd, hdr, 9) == -1)
			goto ioerr;
		cdsize += ZIP_CENTRAL_LEN + nlen + 9;
	}
	if (pos + cdsize >= ZIP_SAT32) {
		zip_err(err, errlen, "archive would need ZIP64");
		rc = ZIP_TOOBIG;
		goto out;
	}
	p = zip_put32(hdr, ZIP_SIG_END);
	p = zip_put16(p, 0);
	p = zip_put16(p, 0);
	p = zip_put16(p, (unsigned)n);
	p = zip_put16(p, (unsigned)n);
	p = zip_put32(p, (uint32_t)cdsize);
	p = zip_put32(p, (uint32_t)pos);
	p = zip_put16(p, 0);
	if (zip_write_full(outfd, hdr, ZIP_END_LEN) == -1)
		goto ioerr;
	if (outlen != NULL)
		*outlen = (off_t)(pos + cdsize + ZIP_END_LEN);
	goto out;
ioerr:
	zip_err(err, errlen, "write: %s", strerror(errno));
	rc = ZIP_IOERR;
out:
	saved = errno;
	free(cd);
	errno = saved;
	return rc;
}
