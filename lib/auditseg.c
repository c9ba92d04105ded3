/* SPDX-License-Identifier: ISC */
/* A producer's open audit segment in audit-sign/tmp (auditseg.h). */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "auditlog.h"
#include "auditseg.h"
#include "conf.h"
#include "log.h"
#include "xalloc.h"


uint64_t
auditseg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

size_t
auditseg_max(const struct conf *cf)
{
	char err[256];
	long long m = AUDIT_MAX_FILE_DEF;

	if (cf == NULL || conf_num(cf, "audit-sign", "max_file",
	    AUDIT_MAX_FILE_MIN, AUDIT_MAX_FILE_MAX, &m, err, sizeof(err)) == -1)
		m = AUDIT_MAX_FILE_DEF;	/* audit-sign refuses to start */
	return m < (1LL << 20) ? (size_t)m : (size_t)1 << 20;
}

void
auditseg_init(struct auditseg *s, struct spool *q, const char *producer,
    size_t max)
{
	memset(s, 0, sizeof(*s));
	s->q = q;
	snprintf(s->tag, sizeof(s->tag), "%s%s", producer, SPOOL_SEG_SUFFIX);
	s->max = max;
	s->fd = -1;
}

/*
 * Hand the open segment on: rename it into audit-sign/new and close it
 * (which drops its lock).  Its events are durable already, so the
 * rename needs no sync of its own: a crash before a later sync (the
 * producer's next, audit-sign's own on claiming it) commits it puts the
 * segment back in tmp/, where the next start finds it (auditseg_recover);
 * on a file system that commits metadata changes in order (ext4's
 * journal, as octospool-spool(5) assumes) nothing audit-sign does with
 * new/<segment> can become durable before the rename.
 */
int
auditseg_handoff(struct auditseg *s)
{
	if (s->fd == -1)
		return 0;
	if (s->len == 0)	/* nothing in it: audit-sign refuses empty */
		unlinkat(s->q->tmpfd, s->name, 0);
	else if (spool_publish(s->q, s->name) == -1) {
		/*
		 * Keep it open, locked and durable in tmp/: tried again in a
		 * second; an append that would take it past the size cap
		 * fails meanwhile (nothing goes on without a way on).
		 */
		log_warn("event=audit.fail what=handoff name=%s "
		    "msg=\"kept in tmp/, tried again in 1 s\"", s->name);
		s->retry_at = auditseg_now() + 1000000000ull;
		return -1;
	} else
		s->handoffs++;
	close(s->fd);
	s->fd = -1;
	s->len = 0;
	s->retry_at = 0;
	return 0;
}

/*
 * A segment we cannot bring back to whole, synced events: leave it in
 * tmp/ (never aged out there: spool_clean_tmp) for the next start's
 * auditseg_recover, which cuts a torn tail, and go on with a new one.
 */
void
auditseg_abandon(struct auditseg *s)
{
	log_warn("event=audit.fail what=truncate name=%s "
	    "msg=\"left in tmp/ for the next start\"", s->name);
	close(s->fd);
	s->fd = -1;
	s->len = 0;
	s->retry_at = 0;
}

void
auditseg_detach(struct auditseg *s, char *name, size_t len)
{
	snprintf(name, len, "%s", s->name);
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	s->len = 0;
	s->retry_at = 0;
}

int
auditseg_open(struct auditseg *s, int sync_dir)
{
	struct stat sb;
	int fd = -1;

	/*
	 * Its name is visible before it is locked: a producer starting now
	 * may take a fresh, empty segment for a dead one's and remove it
	 * (auditseg_recover).  So lock, then make sure it is still linked;
	 * if not, or if that producer holds the lock, try another name.
	 */
	for (int tries = 0; fd == -1; tries++) {
		if (tries == 3 || spool_mkname(s->name, sizeof(s->name),
		    s->tag) == -1 || (fd = spool_create(s->q, s->name,
		    SPOOL_MODE)) == -1)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) == -1 ||
		    fstat(fd, &sb) == -1 || sb.st_nlink == 0) {
			close(fd);	/* the other one removes it */
			fd = -1;
		}
	}
	/* Its name in tmp/ durable: by the producer's syncfs() or here. */
	if (sync_dir && fsync(s->q->tmpfd) == -1) {
		spool_abort(s->q, fd, s->name);
		return -1;
	}
	s->fd = fd;
	s->len = 0;
	s->born = s->last = auditseg_now();
	s->retry_at = 0;
	return 0;
}

int
auditseg_room(struct auditseg *s, size_t bytes, int sync_dir)
{
	if (s->fd != -1 && s->len > 0 && (size_t)s->len + bytes > s->max &&
	    auditseg_handoff(s) == -1)
		return -1;
	if (s->fd == -1 && auditseg_open(s, sync_dir) == -1) {
		log_warn("event=audit.fail what=segment name=%s", s->tag);
		return -1;
	}
	return 0;
}

int
auditseg_write(struct auditseg *s, const struct iovec *iov, int n,
    size_t *done)
{
	size_t want = 0;
	ssize_t r;

	for (int i = 0; i < n; i++)
		want += iov[i].iov_len;
	r = pwritev(s->fd, iov, n, s->len + (off_t)*done);
	if (r != (ssize_t)want) {
		if (r >= 0)
			errno = ENOSPC;
		log_warn("event=audit.fail what=append name=%s", s->name);
		auditseg_cut(s);
		return -1;
	}
	*done += want;
	return 0;
}

void
auditseg_synced(struct auditseg *s, size_t bytes)
{
	s->len += (off_t)bytes;
	s->last = auditseg_now();
}

/*
 * Bytes after the synced ones are not provably durable (after a
 * write-back error they may read back as anything): cut them off;
 * failing that, leave the segment to the next start's recovery.
 */
void
auditseg_cut(struct auditseg *s)
{
	if (s->fd == -1)
		return;
	if (ftruncate(s->fd, s->len) == -1 || fsync(s->fd) == -1)
		auditseg_abandon(s);
}

uint64_t
auditseg_due(const struct auditseg *s)
{
	uint64_t due;

	if (s->fd == -1)
		return UINT64_MAX;
	due = s->last + AUDITSEG_IDLE_MS * 1000000ull;
	if (s->born + AUDITSEG_AGE_MS * 1000000ull < due)
		due = s->born + AUDITSEG_AGE_MS * 1000000ull;
	if (s->retry_at > due)
		due = s->retry_at;	/* a failed hand-off */
	return due;
}

/*
 * A segment that a dead producer left in audit-sign/tmp (we can take its
 * lock): cut it before its first line that is not a whole, valid event
 * (recover_valid: a torn last event, NULs, old blocks; never synced, so
 * never behind anything the producer acknowledged or handed on), sync,
 * and hand it on.  Only our own user's files.
 */
/* The length of the longest prefix of the len bytes of fd made of whole,
 * valid event lines (al_json_check: no NUL, no torn JSON; not empty);
 * -1 on a read error. */
static off_t
recover_valid(int fd, off_t len)
{
	char *buf = xmalloc(len > 0 ? (size_t)len : 1);
	size_t pos = 0;
	ssize_t n;

	for (off_t got = 0; got < len; got += n)
		if ((n = pread(fd, buf + got, (size_t)(len - got), got)) <= 0) {
			free(buf);
			return -1;
		}
	while (pos < (size_t)len) {
		const char *nl = memchr(buf + pos, '\n', (size_t)len - pos);
		size_t ll = nl ? (size_t)(nl - buf) - pos : (size_t)len - pos, at;
		char why[160];

		if (nl == NULL || ll == 0 ||
		    al_json_check(buf + pos, ll, &at, why, sizeof(why)) == -1)
			break;
		pos += ll + 1;
	}
	free(buf);
	return (off_t)pos;
}

static void
recover_one(struct spool *q, const char *name, int report)
{
	off_t keep;
	struct stat sb, at;
	int fd;

	fd = openat(q->tmpfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK);
	if (fd == -1)
		return;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return;
	}
	if (sb.st_uid != geteuid()) {
		if (report)
			log_warnx("event=audit.recover.skip name=%s owner=%lu "
			    "msg=\"another user's segment under our name: "
			    "its events wait until that user's run hands it "
			    "on\"", name, (unsigned long)sb.st_uid);
		close(fd);
		return;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);	/* its writer is alive */
		return;
	}
	/*
	 * Ours now, but what we saw before the lock may be stale: its
	 * writer, alive then, may have appended and handed it on (renamed
	 * into new/, where audit-sign may read it) since.  So look again,
	 * at the file this name still names, with no other link (a link
	 * into another queue would have us cut that queue's item).
	 */
	if (fstat(fd, &sb) == -1 || fstatat(q->tmpfd, name, &at,
	    AT_SYMLINK_NOFOLLOW) == -1 || at.st_dev != sb.st_dev ||
	    at.st_ino != sb.st_ino) {
		close(fd);	/* handed on meanwhile: not dead */
		return;
	}
	if (sb.st_nlink != 1) {
		/* Its events wait (audit-sign refuses it too, rule=links):
		 * said at every pass, once a minute, until someone looks. */
		log_warnx("event=audit.recover.skip name=%s links=%lu "
		    "msg=\"more than one link (a hard-link backup?): left "
		    "alone, its events wait\"", name,
		    (unsigned long)sb.st_nlink);
		close(fd);
		return;
	}
	/*
	 * Whole lines audit-sign would take, up to the first it would not:
	 * a torn last event, bytes never synced (NULs), or, after a power
	 * failure, old blocks read back, newlines and all (audit-sign
	 * refuses a file whole).  Longer than audit-sign takes any file: no
	 * segment of ours, not read; handed on whole, for audit-sign to
	 * refuse with its reason (reject/).
	 */
	if (sb.st_size > AUDIT_MAX_FILE_MAX) {
		keep = sb.st_size;
		log_warnx("event=audit.recover.oversize name=%s bytes=%lld "
		    "msg=\"handed on uncut, for audit-sign to refuse\"", name,
		    (long long)sb.st_size);
	} else if ((keep = recover_valid(fd, sb.st_size)) == -1) {
		log_warn("event=audit.recover.fail name=%s what=read", name);
		close(fd);
		return;
	}
	if ((keep < sb.st_size && ftruncate(fd, keep) == -1) ||
	    fsync(fd) == -1) {
		log_warn("event=audit.recover.fail name=%s what=truncate", name);
		close(fd);
		return;
	}
	if (keep == 0) {
		unlinkat(q->tmpfd, name, 0);
		close(fd);
		if (sb.st_size > 0)
			log_warnx("event=audit.recovered name=%s bytes=0 "
			    "dropped=%lld msg=\"no whole event: removed\"",
			    name, (long long)sb.st_size);
		else
			log_info("event=audit.recovered name=%s bytes=0 "
			    "dropped=0 msg=\"empty segment removed\"", name);
		return;
	}
	if (spool_publish(q, name) == -1 || spool_sync(q) == -1) {
		log_warn("event=audit.recover.fail name=%s what=rename", name);
		close(fd);
		return;
	}
	close(fd);
	/* Dropped bytes were never acknowledged, but say so louder. */
	if (keep < sb.st_size)
		log_warnx("event=audit.recovered name=%s bytes=%lld "
		    "dropped=%lld", name, (long long)keep,
		    (long long)(sb.st_size - keep));
	else
		log_info("event=audit.recovered name=%s bytes=%lld dropped=0",
		    name, (long long)keep);
}

uint64_t
auditseg_recover_period(void)
{
	const char *e = getenv("PIPELINE_RECOVER_MS");	/* tests only */
	const char *es = NULL;
	long long ms;

	if (e != NULL) {
		ms = strtonum(e, 1, 3600000, &es);
		if (es == NULL)
			return (uint64_t)ms * 1000000ULL;
	}
	return 60ULL * 1000000000ULL;
}

void
auditseg_recover(struct spool *q, const char *producer, int report)
{
	char tag[80];
	int fd = openat(q->tmpfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		log_warn("event=audit.recover.fail what=scan");
		return;
	}
	snprintf(tag, sizeof(tag), ".%s%s", producer, SPOOL_SEG_SUFFIX);
	while ((de = readdir(d)) != NULL)
		if (spool_name_ends(de->d_name, tag))
			recover_one(q, de->d_name, report);
	closedir(d);
}
