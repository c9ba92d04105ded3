/* SPDX-License-Identifier: ISC */
/*
 * ZIP archives.  Single-member ones as Tentacle's ZSEND/ZRECV carry them
 * (IO::Compress::Zip: deflate or stored, streamed with a data
 * descriptor).  Both directions work file to file in bounded memory.
 */
#ifndef OCTO_ZIP_H
#define OCTO_ZIP_H

#include <sys/types.h>

#include <stddef.h>

#define ZIP_OK		0
#define ZIP_NOTZIP	1	/* input does not start with a local header */
#define ZIP_BAD		-1	/* malformed, unsupported, CRC mismatch */
#define ZIP_TOOBIG	-2	/* inflated size would exceed the limit */
#define ZIP_IOERR	-3	/* read or write failed (errno set) */

/*
 * Inflate the one member of the archive in infd (insize bytes, read
 * with pread from offset 0) into outfd.  Stops as soon as more than
 * max_out bytes would be written.  *outlen gets the inflated size.
 * More than one member, encryption, or methods other than stored and
 * deflate are ZIP_BAD.  err gets a short reason.
 */
int	zip_extract_single(int infd, off_t insize, int outfd, off_t max_out,
	    off_t *outlen, char *err, size_t errlen);
/*
 * Write a ZIP archive with one deflated member called member (no
 * directory part is allowed) holding the insize bytes of infd to outfd
 * (which must be seekable); *outlen gets the archive size.
 */
int	zip_create_single(int infd, off_t insize, int outfd,
	    const char *member, off_t *outlen, char *err, size_t errlen);

/* One member of a multi-member archive. */
struct zip_member {
	const char	*name;	/* relative path, '/' between components */
	int		 fd;	/* read sequentially from its current offset */
	off_t		 size;	/* bytes to read */
	time_t		 mtime;	/* stored as DOS time (UTC) and "UT" field */
	mode_t		 mode;	/* permission bits kept (made by Unix) */
};

/*
 * Write an archive of the n members (deflated, in the given order) to
 * outfd (seekable, not O_APPEND), as Info-ZIP unzip expects (conf-dist
 * collections).  Names must be relative, with no empty, "." or ".."
 * component, no backslash or control byte, no name twice and none that
 * is another's directory: ZIP_BAD.  No ZIP64: an archive that would
 * reach 4 GiB, or more than 65535 members, is ZIP_TOOBIG.  The same
 * members with the same mtimes give the same bytes.
 */
int	zip_create_multi(const struct zip_member *m, size_t n, int outfd,
	    off_t *outlen, char *err, size_t errlen);

#endif
