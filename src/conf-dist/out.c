/* SPDX-License-Identifier: ISC */
/*
 * The served tree spool/conf-dist/out/{conf,md5,collections}: only
 * conf-dist writes it, one file at a time by temp + fsync + rename +
 * fsync(dir), the signature before the file it signs.  Also the audit
 * hand-off and the digests.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "io.h"
#include "audit.h"
#include "spool.h"
#include "xalloc.h"

#include "confdist.h"

void
cd_crash_point(const char *point)
{
	const char *at = getenv("PIPELINE_CRASH_AT");

	/* Never in a set-id process: the environment is not ours. */
	if (at != NULL && getuid() == geteuid() && strcmp(at, point) == 0)
		_exit(99);
}

static int
sub_open(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
}

int
out_open(struct cd_out *o, const char *path, char *err, size_t errlen)
{
	o->dirfd = o->conffd = o->md5fd = o->collfd = o->cmdfd = o->lockfd =
	    -1;
	if ((o->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 || (o->conffd = sub_open(o->dirfd, "conf")) == -1 ||
	    (o->md5fd = sub_open(o->dirfd, "md5")) == -1 ||
	    (o->collfd = sub_open(o->dirfd, "collections")) == -1 ||
	    (o->cmdfd = sub_open(o->dirfd, "commands")) == -1) {
		snprintf(err, errlen, "served tree %s: %s", path,
		    strerror(errno));
		out_close(o);
		return -1;
	}
	return 0;
}

void
out_close(struct cd_out *o)
{
	int *fds[] = { &o->dirfd, &o->conffd, &o->md5fd, &o->collfd,
	    &o->cmdfd, &o->lockfd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] != -1)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* One publisher at a time: conf and md5 of a pair must not interleave. */
int
out_lock(struct cd_out *o)
{
	if (o->lockfd == -1 && (o->lockfd = openat(o->dirfd, ".lock",
	    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
		return -1;
	return flock(o->lockfd, LOCK_EX);
}

void
out_unlock(struct cd_out *o)
{
	if (o->lockfd != -1)
		(void)flock(o->lockfd, LOCK_UN);
}

char *
out_read(int dirfd, const char *name, size_t max, size_t *len)
{
	struct stat sb;
	size_t got = 0;
	char *buf;
	int fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK)) == -1)
		return NULL;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    (size_t)sb.st_size > max) {
		close(fd);
		errno = EFBIG;
		return NULL;
	}
	buf = xmalloc(sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, sb.st_size - got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
}

int
out_write(int dirfd, const char *name, const void *buf, size_t len)
{
	char tmp[512];
	int fd, saved;

	/* A hidden name: no Tentacle filter serves ".name.XXXXXXXX". */
	if ((size_t)snprintf(tmp, sizeof(tmp), ".%s.%08x", name,
	    arc4random()) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0644)) == -1)
		return -1;
	if (fchmod(fd, 0644) == -1 || io_write_all(fd, buf, len) == -1 ||
	    fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	if (close(fd) == -1 || renameat(dirfd, tmp, dirfd, name) == -1) {
		saved = errno;
		unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	return fsync(dirfd);
}

int
out_sign(struct cd_out *o, struct cd_pub *p, size_t n,
    unsigned long long floor, EVP_PKEY *key, enum cd_kind kind,
    const char *subject)
{
	for (size_t i = 0; i < n; i++) {
		struct cd_manifest m;
		int len;

		if (out_serial_next(o, floor, &p[i].serial) == -1)
			return -1;
		if ((len = manifest_make(&m, kind, subject, p[i].name,
		    p[i].buf, p[i].len, p[i].serial, key, p[i].sig,
		    sizeof(p[i].sig))) == -1) {
			errno = EINVAL;
			return -1;
		}
		p[i].siglen = (size_t)len;
	}
	return 0;
}

int
out_put(const struct cd_pub *p)
{
	char sname[512];

	if ((size_t)snprintf(sname, sizeof(sname), "%s.sig", p->name) >=
	    sizeof(sname)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (out_write(p->dirfd, sname, p->sig, p->siglen) == -1)
		return -1;
	return out_write(p->dirfd, p->name, p->buf, p->len);
}

int
out_is_current(int dirfd, const char *name, const void *buf, size_t len,
    EVP_PKEY *key, enum cd_kind kind, const char *subject)
{
	struct cd_manifest m;
	char sname[512], err[256], *cur, *sig;
	size_t clen, slen;
	int ok;

	snprintf(sname, sizeof(sname), "%s.sig", name);
	if ((cur = out_read(dirfd, name, len + 1, &clen)) == NULL)
		return 0;
	ok = clen == len && memcmp(cur, buf, len) == 0;
	free(cur);
	if (!ok)
		return 0;
	if ((sig = out_read(dirfd, sname, CD_MANIFEST_MAX, &slen)) == NULL)
		return 0;
	ok = manifest_parse(sig, slen, &m, key, err, sizeof(err)) == 0 &&
	    manifest_binds(&m, kind, subject, name, buf, len, err,
	    sizeof(err));
	free(sig);
	return ok;
}

static void
digest_hex(const char *alg, const void *p, size_t len, char *hex,
    size_t mdlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t got = 0;

	if (EVP_Q_digest(NULL, alg, NULL, p, len, md, &got) != 1 ||
	    got != mdlen) {
		hex[0] = '\0';
		return;
	}
	for (size_t i = 0; i < got; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

void
md5_hex(const void *p, size_t len, char hex[33])
{
	digest_hex("MD5", p, len, hex, 16);
}

void
sha256_hex(const void *p, size_t len, char hex[65])
{
	digest_hex("SHA256", p, len, hex, 32);
}

/* ---- audit ---- */

void
audit_raw(struct audit_buf *ab, const char *s)
{
	size_t n = strlen(s);

	if (ab->len + n + 1 > ab->cap) {
		size_t cap = ab->cap ? ab->cap : 1024;

		while (cap < ab->len + n + 1)
			cap *= 2;
		ab->buf = xreallocarray(ab->buf, cap, 1);
		ab->cap = cap;
	}
	memcpy(ab->buf + ab->len, s, n);
	ab->len += n;
	ab->buf[ab->len] = '\0';
}

void
audit_jstr(struct audit_buf *ab, const char *s, size_t len, size_t max)
{
	int cut = len > max;

	if (cut) {
		/* Do not split a UTF-8 sequence: back up to its start. */
		len = max;
		while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
			len--;
	}
	audit_raw(ab, "\"");
	audit_json_escape(ab, s, len);
	if (cut)
		audit_raw(ab, "...");
	audit_raw(ab, "\"");
}

int
audit_commit(const char *audit_spool, struct audit_buf *ab)
{
	char name[SPOOL_NAME_MAX];

	return spool_put(audit_spool, CD_TOOL, SPOOL_MODE, NULL, 0, ab->buf,
	    ab->len, name, sizeof(name));
}
