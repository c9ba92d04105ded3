/* SPDX-License-Identifier: ISC */
/* Whole-buffer I/O on descriptors: the loops every tool needs once. */
#ifndef OCTO_IO_H
#define OCTO_IO_H

#include <sys/types.h>

#include <stddef.h>

/* Write all of buf; -1 with errno (EIO for a zero-length write). */
int	io_write_all(int fd, const void *buf, size_t len);
/*
 * Read into buf until len bytes or the end of the file: the count read
 * (less than len only at the end), or -1 with errno.
 */
ssize_t	io_read_full(int fd, void *buf, size_t len);
/*
 * Read all of fd into a NUL-terminated malloc'd *bufp, refusing more
 * than max bytes: the length, -1 with errno, or -2 if too big.
 */
ssize_t	io_read_bounded(int fd, char **bufp, size_t max);

#endif
