/* SPDX-License-Identifier: ISC */
/* The spool hand-off; the one place that knows the on-disk protocol. */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "io.h"
#include "spool.h"
#include "xalloc.h"

static const char *const spool_sub[] = { "tmp", "new", "cur", "reject" };

static int
spool_opendir(int at, const char *name)
{
	return openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
}

/*
 * A directory stream on dirfd's directory, through a new open, not a
 * dup(): a dup shares the descriptor's offset, and a second reading
 * would go on from where the first one ended.  NULL with errno set.
 */
static DIR *
spool_dirstream(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return d;
}

/* Close every descriptor the spool holds, keeping errno. */
void
spool_close(struct spool *sp)
{
	int saved = errno;
	int *fds[] = { &sp->dirfd, &sp->tmpfd, &sp->newfd, &sp->curfd,
	    &sp->rejfd, &sp->lockfd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
	errno = saved;
}

/* Open the queue at path for producing or consuming. */
int
spool_open(struct spool *sp, const char *path, int how)
{
	sp->dirfd = sp->tmpfd = sp->newfd = sp->curfd = sp->rejfd =
	    sp->lockfd = -1;
	if (strlcpy(sp->path, path, sizeof(sp->path)) >= sizeof(sp->path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((sp->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto fail;
	if ((sp->tmpfd = spool_opendir(sp->dirfd, "tmp")) == -1 ||
	    (sp->newfd = spool_opendir(sp->dirfd, "new")) == -1)
		goto fail;
	if (how & SPOOL_CONSUME) {
		if ((sp->curfd = spool_opendir(sp->dirfd, "cur")) == -1 ||
		    (sp->rejfd = spool_opendir(sp->dirfd, "reject")) == -1)
			goto fail;
		sp->lockfd = openat(sp->dirfd, "lock", O_RDWR | O_CREAT |
		    O_CLOEXEC | O_NOFOLLOW, 0600);
		if (sp->lockfd == -1)
			goto fail;
	}
	return 0;
fail:
	spool_close(sp);
	return -1;
}

/* Make the directories of a queue that do not exist yet. */
int
spool_mkdirs(const char *path, int how)
{
	char sub[PATH_MAX];
	size_t nsub = (how & SPOOL_CONSUME) ? 4 : 2;

	if (mkdir(path, 0755) == -1 && errno != EEXIST)
		return -1;
	for (size_t i = 0; i < nsub; i++) {
		mode_t m = i < 2 ? 03770 : 0700;

		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path,
		    spool_sub[i]) >= sizeof(sub)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (mkdir(sub, m) == -1) {
			if (errno != EEXIST)
				return -1;
			continue;	/* existing: leave its mode alone */
		}
		if (chmod(sub, m) == -1)	/* whatever the umask */
			return -1;
	}
	return 0;
}

/*
 * A unique, sortable item name.  The tag (usually the sender's file name)
 * is reduced to [A-Za-z0-9._-] so that ls shows what the item is; the
 * name is never parsed, the original travels inside the item.
 */
int
spool_mkname(char *buf, size_t len, const char *tag)
{
	char host[64], t[161];
	struct timeval tv;
	size_t i;
	int n;

	if (tag == NULL || *tag == '\0') {
		if (gethostname(host, sizeof(host)) == -1)
			strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		tag = host;
	}
	for (i = 0; tag[i] != '\0' && i < sizeof(t) - 1; i++) {
		unsigned char ch = tag[i];

		t[i] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
		    ch == '_' ? ch : '_';
	}
	t[i] = '\0';
	if (t[0] == '.')
		t[0] = '_';
	gettimeofday(&tv, NULL);
	n = snprintf(buf, len, "%lld.%06ld_%d_%08x.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (int)getpid(), arc4random(), t);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* Create tmp/name exclusively with exactly the given mode (read-write). */
int
spool_create(struct spool *sp, const char *name, mode_t mode)
{
	int fd = openat(sp->tmpfd, name, O_RDWR | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, mode);

	if (fd == -1)
		return -1;
	if (fchmod(fd, mode) == -1) {
		int saved = errno;

		close(fd);
		unlinkat(sp->tmpfd, name, 0);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Make tmp/name visible as new/name; the rename is the commit. */
int
spool_commit(struct spool *sp, int fd, const char *name)
{
	int rc = fsync(fd);

	if (close(fd) == -1 || rc == -1) {
		int saved = errno;

		unlinkat(sp->tmpfd, name, 0);
		errno = saved;
		return -1;
	}
	if (renameat(sp->tmpfd, name, sp->newfd, name) == -1) {
		int saved = errno;

		unlinkat(sp->tmpfd, name, 0);
		errno = saved;
		return -1;
	}
	return fsync(sp->newfd);	/* Linux: make the rename durable */
}

int
spool_put(const char *path, const char *tag, mode_t mode, const void *head,
    size_t headlen, const void *body, size_t bodylen, char *name,
    size_t namelen)
{
	struct spool q;
	int fd, rc = -1, saved;

	if (spool_open(&q, path, SPOOL_PRODUCE) == -1)
		return -1;
	if (spool_mkname(name, namelen, tag) == -1 ||
	    (fd = spool_create(&q, name, mode)) == -1)
		goto out;
	if (io_write_all(fd, head, headlen) == -1 ||
	    io_write_all(fd, body, bodylen) == -1) {
		spool_abort(&q, fd, name);
		goto out;
	}
	rc = spool_commit(&q, fd, name);
out:
	saved = errno;
	spool_close(&q);
	errno = saved;
	return rc;
}

/* Rename tmp/name to new/name without syncing (batch commits). */
int
spool_publish(struct spool *sp, const char *name)
{
	return renameat(sp->tmpfd, name, sp->newfd, name);
}

int
spool_sync(struct spool *sp)
{
	return fsync(sp->newfd);
}

/* Give up on tmp/name: close and remove it, keeping errno. */
int
spool_abort(struct spool *sp, int fd, const char *name)
{
	int saved = errno;

	if (fd >= 0)
		close(fd);
	unlinkat(sp->tmpfd, name, 0);
	errno = saved;
	return 0;
}

/* Take the queue lock: 0 taken, 1 held by another consumer, -1 error. */
int
spool_lock(struct spool *sp)
{
	if (flock(sp->lockfd, LOCK_EX | LOCK_NB) == -1)
		return errno == EWOULDBLOCK ? 1 : -1;
	return 0;
}

/*
 * After a crash: move every cur/ item back to new/.  Returns the count,
 * or -1 if new/ could not be synced or an item could not be moved (the
 * others are moved and synced).
 */
int
spool_recover(struct spool *sp)
{
	char **names;
	size_t n;
	int moved = 0, failed = 0;
	/* A stream of its own (a second recovery reads from the start). */
	DIR *d = spool_dirstream(sp->curfd);
	struct dirent *de;

	if (d == NULL)
		return -1;
	names = NULL;
	n = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	for (size_t i = 0; i < n; i++)
		if (renameat(sp->curfd, names[i], sp->newfd, names[i]) == 0)
			moved++;
		else if (errno != ENOENT)
			failed = errno;
	spool_names_free(names, n);
	if (moved > 0 && fsync(sp->newfd) == -1)
		return -1;
	if (failed) {
		errno = failed;	/* what was moved is synced; not all was */
		return -1;
	}
	return moved;
}

static int
spool_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
spool_names_sort(char **names, size_t *n)
{
	size_t k = 0;

	if (*n > 1)
		qsort(names, *n, sizeof(*names), spool_cmp);
	for (size_t i = 0; i < *n; i++) {
		if (k > 0 && strcmp(names[k - 1], names[i]) == 0)
			free(names[i]);
		else
			names[k++] = names[i];
	}
	*n = k;
}

/* Sort names[0..*n) and keep the first max of them. */
static void
spool_cut(char **names, size_t *n, size_t max)
{
	if (*n > 1)
		qsort(names, *n, sizeof(*names), spool_cmp);
	for (size_t i = max; i < *n; i++)
		free(names[i]);
	if (*n > max)
		*n = max;
}

/*
 * The names in new/, sorted; dot files are ignored.  At most max of
 * them, the first in order (the oldest: names begin with their time):
 * gathered up to twice max, then sorted and cut to max, so a backlog of
 * millions costs 2 * max names of memory, not millions; *more says
 * whether some were left for the next scan.
 */
int
spool_scan_max(struct spool *sp, size_t max, char ***namesp, size_t *np,
    int *more)
{
	char **names = NULL;
	size_t n = 0, cap = 0, lim;
	DIR *d;
	struct dirent *de;

	*more = 0;
	if (max == 0)
		max = 1;
	lim = max > SIZE_MAX / 2 ? SIZE_MAX : 2 * max;
	if ((d = spool_dirstream(sp->newfd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == lim) {
			spool_cut(names, &n, max);
			*more = 1;
		}
		/* After a cut, names[max - 1] is the last one kept. */
		if (*more && strcmp(de->d_name, names[max - 1]) >= 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if (cap > lim)
				cap = lim;
			names = xreallocarray(names, cap, sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > max)
		*more = 1;
	spool_cut(names, &n, max);
	*namesp = names;
	*np = n;
	return 0;
}

int
spool_scan(struct spool *sp, char ***namesp, size_t *np)
{
	int more;

	return spool_scan_max(sp, SIZE_MAX, namesp, np, &more);
}

void
spool_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/*
 * Claim new/name: 0 ours, 1 not now (gone to another consumer, or an
 * item of that name still in cur/, claimed earlier in the batch: never
 * replaced, it waits for the next pass), -1 error.
 */
int
spool_claim(struct spool *sp, const char *name)
{
	if (renameat2(sp->newfd, name, sp->curfd, name,
	    RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EINVAL &&	/* a file system without it */
	    renameat(sp->newfd, name, sp->curfd, name) == 0)
		return 0;
	return errno == ENOENT || errno == EEXIST ? 1 : -1;
}

/* Open a claimed item for reading; links are never followed. */
int
spool_open_cur(struct spool *sp, const char *name)
{
	return openat(sp->curfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK);
}

int
spool_done(struct spool *sp, const char *name)
{
	return unlinkat(sp->curfd, name, 0);
}

/* Temporary failure: give the item back to new/. */
int
spool_retry(struct spool *sp, const char *name)
{
	if (renameat(sp->curfd, name, sp->newfd, name) == -1)
		return -1;
	return fsync(sp->newfd);
}

/*
 * Permanent failure: write reject/name.reason (tmp + rename), then move
 * cur/name to reject/.  The reason is one line; control bytes become '?'.
 * A name too long for ".reason" after it (a producer may make names of
 * up to 255 bytes) goes to reject/ as its first 200 bytes, '~' and 16 hex
 * digits of its SHA-256: the same name again after a crash, and never a
 * queue blocked by a name; item= keeps it whole.
 */
int
spool_reject(struct spool *sp, const char *name, const char *stage, int code,
    const char *fmt, ...)
{
	char rname[NAME_MAX + 1], short_name[NAME_MAX + 1], reason[1024],
	    buf[2048], ts[32];
	const char *to = name;	/* its name in reject/ */
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;
	int fd, len;

	struct stat sb;

	if (strlen(name) + sizeof(".reason") - 1 > NAME_MAX) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		char hex[17];

		if (EVP_Digest(name, strlen(name), md, &mdlen, EVP_sha256(),
		    NULL) != 1 || mdlen < 8 || OPENSSL_buf2hexstr_ex(hex,
		    sizeof(hex), NULL, md, 8, '\0') != 1) {
			errno = EIO;
			return -1;
		}
		snprintf(short_name, sizeof(short_name), "%.200s~%s", name,
		    hex);
		to = short_name;
	}
	if ((size_t)snprintf(rname, sizeof(rname), "%s.reason", to) >=
	    sizeof(rname)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (fstatat(sp->curfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;	/* nothing to reject: no orphan reason */
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	for (char *p = reason; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	len = snprintf(buf, sizeof(buf), "item=%s\nstage=%s\ncode=%d\n"
	    "time=%s\nreason=%s\n", name, stage, code, ts, reason);
	if (len < 0 || (size_t)len >= sizeof(buf))
		len = sizeof(buf) - 1;
	unlinkat(sp->tmpfd, rname, 0);
	if ((fd = spool_create(sp, rname, SPOOL_MODE)) == -1)
		return -1;
	if (io_write_all(fd, buf, (size_t)len) == -1) {
		spool_abort(sp, fd, rname);
		return -1;
	}
	if (fsync(fd) == -1 || close(fd) == -1) {
		spool_abort(sp, -1, rname);
		return -1;
	}
	if (renameat(sp->tmpfd, rname, sp->rejfd, rname) == -1) {
		spool_abort(sp, -1, rname);
		return -1;
	}
	if (renameat(sp->curfd, name, sp->rejfd, to) == -1)
		return -1;
	return fsync(sp->rejfd);
}

int
spool_name_ends(const char *name, const char *suffix)
{
	size_t l = strlen(name), s = strlen(suffix);

	return l > s && strcmp(name + l - s, suffix) == 0;
}

/* Is name ".status.<pid>", the temporary name of spool_status_put? */
static int
spool_status_tmp(const char *name)
{
	static const char pfx[] = ".status.";
	const char *pid = name + sizeof(pfx) - 1;

	return strncmp(name, pfx, sizeof(pfx) - 1) == 0 && *pid != '\0' &&
	    strspn(pid, "0123456789") == strlen(pid);
}

/*
 * Remove what dirfd holds that was not written for maxage seconds: in
 * tmp/ anything but a segment (a segment holds acknowledged events until
 * its producer hands it on: never aged out); in the queue's directory
 * only the regular files named ".status.<pid>" that a killed consumer
 * left (a live one writes its own every ten seconds while idle and once
 * a second while busy; one aged out during a pass of over a minute is
 * made again by spool_status_put).  Only the
 * queue's consumer may remove the latter; others fail quietly.
 */
static int
spool_age_out(int dirfd, time_t now, time_t maxage, int status)
{
	DIR *d = spool_dirstream(dirfd);
	struct dirent *de;
	struct stat st;
	int removed = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (status ? !spool_status_tmp(de->d_name) :
		    spool_name_ends(de->d_name, SPOOL_SEG_SUFFIX))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    (status && !S_ISREG(st.st_mode)))
			continue;
		if (now - st.st_mtime > maxage &&
		    unlinkat(dirfd, de->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

/* Remove tmp/ files older than maxage seconds (left by crashed writers),
 * and, after SPOOL_STATUS_MAXAGE, the status lines' temporary files. */
int
spool_clean_tmp(struct spool *sp, time_t maxage)
{
	time_t now = time(NULL);
	int st = spool_age_out(sp->dirfd, now, SPOOL_STATUS_MAXAGE, 1);
	int tmp = spool_age_out(sp->tmpfd, now, maxage, 0);

	return tmp == -1 ? -1 : tmp + (st > 0 ? st : 0);
}

/* This process's .status.<pid> (spool_status_tmp names it). */
static void
spool_status_name(char *buf, size_t len)
{
	snprintf(buf, len, ".status.%ld", (long)getpid());
}

/*
 * Open <queue>/.status.<pid> to write a line into: the one a former call
 * left (spool_status_put: no inode made or freed), if it is a regular
 * file of ours with one link, else a fresh one.
 */
static int
spool_status_open(struct spool *sp, const char *tmp)
{
	struct stat st;
	int fd;

	/* O_NONBLOCK: a FIFO put there never blocks the open. */
	fd = openat(sp->dirfd, tmp, O_WRONLY | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0644);
	if (fd != -1 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_nlink == 1 && st.st_uid == geteuid() &&
	    ((st.st_mode & 07777) == 0644 || fchmod(fd, 0644) == 0))
		return fd;
	if (fd != -1)
		close(fd);
	if (unlinkat(sp->dirfd, tmp, 0) == -1 && errno == EISDIR)
		(void)unlinkat(sp->dirfd, tmp, AT_REMOVEDIR);
	if ((fd = openat(sp->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644)) == -1)
		return -1;
	if (fchmod(fd, 0644) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The consumer's last run, for octospool-status: one line in
 * <queue>/status, replaced whole (no fsync: advisory).  The line is
 * written to .status.<pid>, which then trades places with status
 * (RENAME_EXCHANGE): it keeps the former line, to be written over by the
 * next call, so that a drain writing a line a second makes and frees no
 * inode for it (ext4 without a journal walks its inode table to make
 * one).  Where there is no status yet, or no RENAME_EXCHANGE, a plain
 * rename.  spool_status_end removes .status.<pid>.
 */
int
spool_status_put(struct spool *sp, const char *stage, int exitcode,
    unsigned long seen, unsigned long done, unsigned long rejected,
    unsigned long retried, long long ms)
{
	char line[512], tmp[64];
	struct timespec ts;
	struct tm tm;
	char when[32];
	int fd, n, rc = -1;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1 ||
	    gmtime_r(&ts.tv_sec, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	n = snprintf(line, sizeof(line), "stage=%s time=%s epoch=%lld "
	    "pid=%ld exit=%d seen=%lu done=%lu rejected=%lu retried=%lu "
	    "ms=%lld\n", stage, when, (long long)ts.tv_sec, (long)getpid(),
	    exitcode, seen, done, rejected, retried, ms);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	spool_status_name(tmp, sizeof(tmp));
	if ((fd = spool_status_open(sp, tmp)) == -1)
		return -1;
	if (pwrite(fd, line, (size_t)n, 0) == n && ftruncate(fd, n) == 0 &&
	    close(fd) == 0) {
		fd = -1;
		rc = renameat2(sp->dirfd, tmp, sp->dirfd, "status",
		    RENAME_EXCHANGE);
		if (rc == -1 && (errno == ENOENT || errno == EINVAL))
			rc = renameat(sp->dirfd, tmp, sp->dirfd, "status");
	}
	if (fd != -1)
		close(fd);
	if (rc == -1)
		(void)unlinkat(sp->dirfd, tmp, 0);
	return rc;
}

void
spool_status_end(struct spool *sp)
{
	char tmp[64];

	spool_status_name(tmp, sizeof(tmp));
	(void)unlinkat(sp->dirfd, tmp, 0);
}
