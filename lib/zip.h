/*
 * Single-member ZIP archives as Tentacle's ZSEND/ZRECV carry them
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

#endif
