/* SPDX-License-Identifier: ISC */
/* Whole-buffer I/O on descriptors: the loops every tool needs once. */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "io.h"
#include "xalloc.h"

int
io_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

ssize_t
io_read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		got += n;
	}
	return (ssize_t)got;
}

ssize_t
io_read_bounded(int fd, char **bufp, size_t max)
{
	size_t cap = 65536, len = 0;
	struct stat sb;
	char *buf;

	/* A regular file says its size: refuse before reading it. */
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (size_t)sb.st_size > max)
		return -2;
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (cap > max) {
				free(buf);
				return -2;
			}
			cap *= 2;
			buf = xreallocarray(buf, cap + 1, 1);
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int saved = errno;

			free(buf);
			errno = saved;
			return -1;
		}
		if (n == 0)
			break;
		len += n;
		if (len > max) {
			free(buf);
			return -2;
		}
	}
	buf[len] = '\0';
	*bufp = buf;
	return len;
}
