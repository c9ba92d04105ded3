/* SPDX-License-Identifier: ISC */
/*
 * tentacle-recv storage: where an upload goes, how it becomes durable
 * (temp file, fsync, atomic publish, group-committed directory sync),
 * and the audit event that must exist before SEND OK is sent.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/uio.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "io.h"
#include "envelope.h"
#include "log.h"
#include "spool.h"
#include "tentacle.h"
#include "xalloc.h"
#include "zip.h"

#include "recv.h"

#define STORE_WRITE_BEHIND	(8 * 1024 * 1024)

static int	store_probe_anon(int);

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE	(1 << 0)
#endif

int
syncer_add(struct syncer *s, int fd)
{
	struct stat sb;

	if (s->nfds >= RECV_MAX_DIRS)
		return -1;
	s->fds[s->nfds] = fd;
	/* Unknown: never counted as the spool's file system. */
	s->devs[s->nfds] = fstat(fd, &sb) == 0 ? sb.st_dev : (dev_t)-1;
	return s->nfds++;
}

/* The directories of mask all on the syncfs file system? */
static int
syncer_one_fs(const struct syncer *s, uint32_t mask)
{
	if (s->fsfd < 0 || mask == 0)
		return 0;
	for (int i = 0; i < s->nfds; i++)
		if ((mask & (1u << i)) && s->devs[i] != s->fsdev)
			return 0;
	return 1;
}

/*
 * Can the audit round's syncfs() stand for the fsync of a file stored
 * through route directory index ix?  Only on the same file system.
 */
int
store_data_by_syncfs(const struct store *st, int ix)
{
	return st->have_audit && ix >= 0 && syncer_one_fs(&st->sync,
	    1u << ix);
}

/*
 * A sync failed (s->mu held): after it the kernel may have dropped the
 * dirty state, so nothing since can be proven durable.  Sticky: every
 * later SEND OK is refused until an operator restarts us.
 */
static void
syncer_break(struct syncer *s, int err, const char *what)
{
	if (s->broken)
		return;
	s->broken = err;
	log_warnx("event=sync.broken error=\"%s\" msg=\"%s failed: no "
	    "further file is acknowledged; restart after fixing the "
	    "storage\"", strerror(err), what);
}

/*
 * Make the directories in mask durable.  One caller at a time runs the
 * fsyncs for every request made so far; the others wait for a round
 * that started after their request, so each SEND OK still follows its
 * own rename's durability (group commit).
 */
int
syncer_sync(struct syncer *s, uint32_t mask)
{
	uint64_t my;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	s->dirty |= mask;
	my = ++s->req;
	while (s->done < my && !s->broken) {
		if (!s->busy) {
			uint64_t target = s->req;
			uint32_t m = s->dirty;
			int err = 0;

			s->dirty = 0;
			s->busy = 1;
			pthread_mutex_unlock(&s->mu);
			/*
			 * One syncfs() when every directory is on the
			 * spool's file system (one journal commit covers
			 * them all), else an fsync per directory.
			 */
			if (syncer_one_fs(s, m)) {
				if (syncfs(s->fsfd) == -1)
					err = errno;
			} else
				for (int i = 0; i < s->nfds; i++)
					if ((m & (1u << i)) &&
					    fsync(s->fds[i]) == -1)
						err = errno;
			pthread_mutex_lock(&s->mu);
			s->rounds++;
			if (syncer_one_fs(s, m))
				s->syncfs_rounds++;
			s->busy = 0;
			if (err)
				syncer_break(s, err, "directory sync");
			else
				s->done = target;
			pthread_cond_broadcast(&s->cv);
		} else
			pthread_cond_wait(&s->cv, &s->mu);
	}
	if (s->done < my || s->broken) {
		rc = -1;
		errno = s->broken ? s->broken : EIO;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* The errno of a failed sync that no file gets past, or 0. */
static int
syncer_broken(struct syncer *s)
{
	int b;

	pthread_mutex_lock(&s->mu);
	b = s->broken;
	pthread_mutex_unlock(&s->mu);
	return b;
}

static int
store_opendir(const char *path)
{
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/*
 * Remove our own temp files that a crash left in a stock directory
 * (".octospool.PID.RAND.tmp" older than an hour: another front end on a
 * shared directory may be writing a younger one right now).
 */
static void
store_clean_stock(int dirfd)
{
	time_t now = time(NULL);
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (strncmp(de->d_name, ".octospool.", 11) != 0 || l < 16 ||
		    strcmp(de->d_name + l - 4, ".tmp") != 0)
			continue;
		if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode) && now - sb.st_mtime > 3600 &&
		    unlinkat(dirfd, de->d_name, 0) == 0)
			log_info("event=tmp.removed name=\"%s\"", de->d_name);
	}
	closedir(d);
}

/* Compile "regex:dir;regex:dir" into anchored filters. */
static int
store_filters(struct recv_conf *cf, char *err, size_t errlen)
{
	char *s, *tok, *save = NULL;

	if (cf->filters == NULL || *cf->filters == '\0')
		return 0;
	s = xstrdup(cf->filters);
	for (tok = strtok_r(s, ";", &save); tok != NULL;
	    tok = strtok_r(NULL, ";", &save)) {
		struct recv_filter *f;
		char *colon = strchr(tok, ':'), *re;
		size_t dl;
		int rc;

		if (colon == NULL || colon == tok) {
			snprintf(err, errlen, "filters: '%s' is not "
			    "regex:dir", tok);
			goto bad;
		}
		*colon = '\0';
		dl = strlen(colon + 1);
		while (dl > 0 && colon[dl] == '/')	/* stock: strip one */
			colon[dl--] = '\0';
		if (cf->nfilters == RECV_MAX_FILTERS) {
			snprintf(err, errlen, "filters: more than %d",
			    RECV_MAX_FILTERS);
			goto bad;
		}
		/* A destination is one plain component: it cannot leave. */
		if (dl == 0 || strchr(colon + 1, '/') != NULL ||
		    colon[1] == '.' ||
		    tentacle_name_check(colon + 1, dl, NAME_MAX) != NULL) {
			snprintf(err, errlen, "filters: directory '%s' must be "
			    "a plain name", colon + 1);
			goto bad;
		}
		f = &cf->filter[cf->nfilters];
		memset(f, 0, sizeof(*f));
		f->dirfd = f->dirix = -1;
		if (asprintf(&re, "^(%s)$", tok) == -1)
			goto bad;
		rc = regcomp(&f->re, re, REG_EXTENDED | REG_NOSUB);
		free(re);
		if (rc != 0) {
			snprintf(err, errlen, "filters: bad regex '%s'", tok);
			goto bad;
		}
		f->pattern = xstrdup(tok);
		f->dir = xstrdup(colon + 1);
		cf->nfilters++;
	}
	free(s);
	return 0;
bad:
	free(s);
	return -1;
}

/* Does syncfs() report write-back errors here (Linux 5.8 and later)? */
static int
store_syncfs_reports(void)
{
	struct utsname u;
	int maj = 0, min = 0;

	if (uname(&u) == -1 || sscanf(u.release, "%d.%d", &maj, &min) != 2)
		return 0;
	if (maj > 5 || (maj == 5 && min >= 8))
		return 1;
	log_warnx("event=store.syncfs.off kernel=%s msg=\"syncfs() does not "
	    "report write-back errors before Linux 5.8: fsync for each "
	    "file\"", u.release);
	return 0;
}

int
store_init(struct store *st, struct recv_conf *cf, char *err, size_t errlen)
{
	char path[PATH_MAX];

	memset(st, 0, sizeof(*st));
	st->cf = cf;
	st->stock_dirfd = st->stock_ix = st->audit_ix = -1;
	st->sync.fsfd = -1;
	st->aud.fsfd = -1;
	pthread_mutex_init(&st->sync.mu, NULL);
	pthread_cond_init(&st->sync.cv, NULL);
	auditor_init(&st->aud);
	auditseg_init(&st->aud.seg, &st->audit_q, "tentacle-recv",
	    cf->audit_seg_max);
	if (store_filters(cf, err, errlen) == -1)
		return -1;
	if (cf->layout == LAYOUT_OCTOSPOOL && cf->stamp_key != NULL) {
		char kerr[512];

		if (stamp_signer_load(&st->stamp, "tentacle-recv",
		    cf->stamp_key, kerr, sizeof(kerr)) == -1) {
			snprintf(err, errlen, "stamp_key: %s", kerr);
			return -1;
		}
		st->have_stamp = 1;
	}
	if (cf->audit && cf->audit_spool != NULL) {
		if (spool_open(&st->audit_q, cf->audit_spool,
		    SPOOL_PRODUCE) == -1) {
			snprintf(err, errlen, "audit queue %s: %s",
			    cf->audit_spool, strerror(errno));
			return -1;
		}
		st->have_audit = 1;
		st->audit_ix = syncer_add(&st->sync, st->audit_q.newfd);
		/*
		 * syncfs() for the group (the data files' fsync left to the
		 * audit round) only where it reports write-back errors
		 * (Linux 5.8), with a descriptor of the audit round's own.
		 */
		if (st->audit_ix >= 0 &&
		    st->sync.devs[st->audit_ix] != (dev_t)-1 &&
		    store_syncfs_reports() &&
		    (st->aud.fsfd = openat(st->audit_q.tmpfd, ".", O_RDONLY |
		    O_DIRECTORY | O_CLOEXEC)) != -1) {
			st->sync.fsfd = st->audit_q.newfd;
			st->sync.fsdev = st->sync.devs[st->audit_ix];
		}
	}
	if (cf->layout == LAYOUT_STOCK) {
		if ((st->stock_dirfd = store_opendir(cf->storage_dir)) == -1) {
			snprintf(err, errlen, "%s: %s", cf->storage_dir,
			    strerror(errno));
			return -1;
		}
		st->stock_ix = syncer_add(&st->sync, st->stock_dirfd);
		store_clean_stock(st->stock_dirfd);
		st->anon_ok = store_probe_anon(st->stock_dirfd);
		for (int i = 0; i < cf->nfilters; i++) {
			struct recv_filter *f = &cf->filter[i];

			f->dirfd = openat(st->stock_dirfd, f->dir, O_RDONLY |
			    O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
			if (f->dirfd == -1) {
				snprintf(err, errlen, "filter directory %s/%s: "
				    "%s", cf->storage_dir, f->dir,
				    strerror(errno));
				return -1;
			}
			f->dirix = syncer_add(&st->sync, f->dirfd);
			store_clean_stock(f->dirfd);
		}
		return 0;
	}
	/* octospool layout */
	snprintf(path, sizeof(path), "%s/xml-validate", cf->spool_dir);
	if (spool_open(&st->data_q, path, SPOOL_PRODUCE) == -1) {
		snprintf(err, errlen, "queue %s: %s", path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/conf-dist/uploads", cf->spool_dir);
	if (spool_open(&st->upload_q, path, SPOOL_PRODUCE) == -1) {
		snprintf(err, errlen, "queue %s: %s", path, strerror(errno));
		return -1;
	}
	syncer_add(&st->sync, st->data_q.newfd);	/* index 0 or 1 */
	syncer_add(&st->sync, st->upload_q.newfd);
	(void)spool_clean_tmp(&st->data_q, SPOOL_TMP_MAXAGE);
	st->anon_ok = store_probe_anon(st->data_q.newfd) &&
	    store_probe_anon(st->upload_q.newfd);
	(void)spool_clean_tmp(&st->upload_q, SPOOL_TMP_MAXAGE);
	if (regcomp(&cf->data_re, cf->data_pattern, REG_EXTENDED |
	    REG_NOSUB) != 0) {
		snprintf(err, errlen, "data_pattern: bad regex");
		return -1;
	}
	for (int i = 0; i < cf->nfilters; i++) {
		struct recv_filter *f = &cf->filter[i];

		f->upload = strcmp(f->dir, "conf") == 0 ||
		    strcmp(f->dir, "md5") == 0;
		snprintf(path, sizeof(path), "%s/%s", cf->served_dir, f->dir);
		/* Served directories are read-only for us: O_RDONLY. */
		f->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (f->dirfd == -1)
			log_warn("event=config.warn dir=%s "
			    "msg=\"served directory missing: RECV of these "
			    "names answers 'does not exist'\"", path);
	}
	return 0;
}

static int
store_match(const regex_t *re, const char *name)
{
	return regexec(re, name, 0, NULL, 0) == 0;
}

static struct recv_filter *
store_filter(struct store *st, const char *name)
{
	for (int i = 0; i < st->cf->nfilters; i++)
		if (store_match(&st->cf->filter[i].re, name))
			return &st->cf->filter[i];
	return NULL;
}

/* Decide where SEND name goes: 0 fine, -1 refused (invalid name). */
int
store_route_send(struct store *st, const char *name, struct route *r)
{
	struct recv_filter *f = store_filter(st, name);

	memset(r, 0, sizeof(*r));
	if (st->cf->layout == LAYOUT_STOCK) {
		r->kind = ROUTE_DIR;
		r->dirfd = f ? f->dirfd : st->stock_dirfd;
		r->dirix = f ? f->dirix : st->stock_ix;
		r->what = f ? f->dir : ".";
		return 0;
	}
	r->kind = ROUTE_QUEUE;
	if (store_match(&st->cf->data_re, name)) {
		r->queue = &st->data_q;
		r->dirix = 0 + (st->have_audit ? 1 : 0);
		r->what = "data";
		return 0;
	}
	if (f != NULL && f->upload) {
		r->queue = &st->upload_q;
		r->dirix = 1 + (st->have_audit ? 1 : 0);
		r->what = "upload";
		return 0;
	}
	return -1;
}

/* The directory fd RECV may serve name from, or -1: never the inbox. */
int
store_route_recv(struct store *st, const char *name)
{
	struct recv_filter *f = store_filter(st, name);

	return f ? f->dirfd : -1;
}

/* Stock layout without overwrite: is there anything at name already? */
int
store_exists(struct store *st, const struct route *r, const char *name)
{
	struct stat sb;

	if (r->kind != ROUTE_DIR || st->cf->overwrite)
		return 0;
	return fstatat(r->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

/* An anonymous scratch file next to dirfd for ZIP blobs. */
int
store_scratch(int dirfd)
{
	int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd == -1 && (errno == EOPNOTSUPP || errno == EISDIR ||
	    errno == EINVAL)) {
		char n[64];

		snprintf(n, sizeof(n), ".octospool-scratch.%08x", arc4random());
		fd = openat(dirfd, n, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd != -1)
			unlinkat(dirfd, n, 0);
	}
	return fd;
}

/* SHA-256 over the bytes of fd from off to the end, as hex. */
static int
store_hash_file(int fd, off_t off, char *hex)
{
	unsigned char buf[RECV_IO_BLOCK], md[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int ml = 0;
	ssize_t n;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -1;
	}
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		EVP_DigestUpdate(ctx, buf, n);
		off += n;
	}
	if (n < 0 || EVP_DigestFinal_ex(ctx, md, &ml) != 1) {
		EVP_MD_CTX_free(ctx);
		return -1;
	}
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < ml; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* ---- audit events, committed in groups ---- */

/* One session's events, waiting to be written. */
struct audit_wait {
	const char	*buf;
	size_t		 len;
	int		 result;	/* 1 pending, 0 durable, -1 failed */
	struct audit_wait *next;
};

void
auditor_init(struct auditor *a)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->flush_cv, &ca);
	pthread_condattr_destroy(&ca);
	a->head = NULL;
	a->tail = &a->head;
	a->busy = 0;
}

/*
 * Append the events of batch to the segment and make them durable.
 * syncfs(): the events and, with them, the data of every session of
 * this round that left its fsync to us (store_data_by_syncfs: written
 * before it queued its event, on this file system).  The segment
 * (lib/auditseg) changes only here, in store_stop and in the flusher,
 * each holding the round (busy) or the mutex with no round.
 */
static int
auditor_write(struct store *st, const struct audit_wait *batch,
    size_t bytes)
{
	struct auditseg *seg = &st->aud.seg;
	size_t total = 0;
	struct iovec iov[64];
	const struct audit_wait *w = batch;

	/* Within audit-sign's max_file; its name in tmp/ synced by the
	 * round's syncfs() or at open. */
	if (auditseg_room(seg, bytes, st->sync.fsfd < 0) == -1)
		return -1;
	while (w != NULL) {
		int k = 0;

		for (; w != NULL && k < 64; w = w->next, k++) {
			iov[k].iov_base = (void *)(uintptr_t)w->buf;
			iov[k].iov_len = w->len;
		}
		if (auditseg_write(seg, iov, k, &total) == -1)
			return -1;
	}
	if ((st->sync.fsfd >= 0 ? syncfs(st->aud.fsfd) : fdatasync(seg->fd)) ==
	    -1) {
		int e = errno;

		/*
		 * This round's events are not provably durable: cut them
		 * off, hand on what earlier rounds synced, start a new
		 * segment.  This round's sessions get no SEND OK.
		 */
		log_warn("event=audit.fail what=sync name=%s", seg->name);
		auditseg_cut(seg);
		(void)auditseg_handoff(seg);
		if (st->sync.fsfd >= 0) {
			/*
			 * The syncfs() wrote back other sessions' data too,
			 * and reports its error once: whose data was lost is
			 * unknown, so, as after a failed fsync (syncer_sync),
			 * no later file is acknowledged until a restart.
			 */
			pthread_mutex_lock(&st->sync.mu);
			syncer_break(&st->sync, e ? e : EIO, "audit round sync");
			pthread_cond_broadcast(&st->sync.cv);
			pthread_mutex_unlock(&st->sync.mu);
		}
		errno = e;
		return -1;
	}
	auditseg_synced(seg, total);
	return 0;
}

/*
 * The hand-off thread: a segment goes on to audit-sign when no round
 * appended to it for AUDITSEG_IDLE_MS, or AUDITSEG_AGE_MS after it was
 * opened (auditseg_due), so that audit-sign sees events within a
 * fraction of a second while a busy receiver still writes one file per
 * AUDITSEG_AGE_MS.
 */
static void *
auditor_flusher(void *arg)
{
	struct store *st = arg;
	struct auditor *a = &st->aud;
	uint64_t period = auditseg_recover_period();
	uint64_t next_rec = auditseg_now() + period;

	pthread_mutex_lock(&a->mu);
	while (!a->closed) {
		uint64_t now = auditseg_now(), due;
		struct timespec ts;

		/* The segment changes during a round: read it only between. */
		if (a->busy) {
			pthread_cond_wait(&a->cv, &a->mu);
			continue;
		}
		/*
		 * Once a minute, what the start's recovery could not hand on
		 * (an I/O error, a full disk): tried again, between rounds,
		 * so that our own new segment is never taken for a dead one.
		 */
		if (now >= next_rec) {
			a->busy = 1;
			pthread_mutex_unlock(&a->mu);
			auditseg_recover(&st->audit_q, "tentacle-recv", 0);
			pthread_mutex_lock(&a->mu);
			a->busy = 0;
			pthread_cond_broadcast(&a->cv);
			next_rec = auditseg_now() + period;
			continue;
		}
		due = a->seg.fd == -1 ? next_rec : auditseg_due(&a->seg);
		if (due > next_rec)
			due = next_rec;
		if (now < due) {
			ts.tv_sec = (time_t)(due / 1000000000u);
			ts.tv_nsec = (long)(due % 1000000000u);
			pthread_cond_timedwait(&a->flush_cv, &a->mu, &ts);
			continue;
		}
		a->busy = 1;
		pthread_mutex_unlock(&a->mu);
		(void)auditseg_handoff(&a->seg);
		pthread_mutex_lock(&a->mu);
		a->busy = 0;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/*
 * Make buf (whole audit events) durable in this process's segment,
 * together with what other sessions queued meanwhile: one caller at a
 * time appends every queued event (up to audit_seg_max bytes) and
 * syncs once, the others wait for the round that took theirs.  0 or -1.
 */
static int
auditor_commit(struct store *st, const char *buf, size_t len)
{
	struct auditor *a = &st->aud;
	struct audit_wait w = { buf, len, 1, NULL };
	int r;

	pthread_mutex_lock(&a->mu);
	*a->tail = &w;
	a->tail = &w.next;
	while (w.result == 1) {
		struct audit_wait *batch, *last, *next;
		size_t bytes;
		int opened;

		if (a->closed) {
			/* Stopping: the segment is handed on; no more. */
			pthread_mutex_unlock(&a->mu);
			for (;;)
				pause();
		}
		if (a->busy) {
			pthread_cond_wait(&a->cv, &a->mu);
			continue;
		}
		/*
		 * Lead a round: take the queue, up to a segment's size cap
		 * (audit-sign refuses a bigger file whole).
		 */
		batch = last = a->head;
		bytes = batch->len;
		while (last->next != NULL && bytes + last->next->len <=
		    a->seg.max) {
			last = last->next;
			bytes += last->len;
		}
		a->head = last->next;
		if (a->head == NULL)
			a->tail = &a->head;
		last->next = NULL;
		a->busy = 1;
		opened = a->seg.fd == -1;
		pthread_mutex_unlock(&a->mu);
		r = auditor_write(st, batch, bytes);
		pthread_mutex_lock(&a->mu);
		a->rounds++;
		/* The waiters are blocked on the mutex: their entries live. */
		for (struct audit_wait *p = batch; p != NULL; p = next) {
			next = p->next;
			p->result = r;
			a->events++;
		}
		a->busy = 0;
		pthread_cond_broadcast(&a->cv);
		if (opened && a->seg.fd != -1)
			pthread_cond_signal(&a->flush_cv);
	}
	r = w.result;
	pthread_mutex_unlock(&a->mu);
	return r;
}

int
store_start(struct store *st)
{
	pthread_t tid;

	if (!st->have_audit)
		return 0;
	auditseg_recover(&st->audit_q, "tentacle-recv", 1);
	if (pthread_create(&tid, NULL, auditor_flusher, st) != 0)
		return -1;
	pthread_detach(tid);
	return 0;
}

void
store_stop(struct store *st)
{
	struct auditor *a = &st->aud;

	if (!st->have_audit)
		return;
	pthread_mutex_lock(&a->mu);
	while (a->busy)
		pthread_cond_wait(&a->cv, &a->mu);
	a->closed = 1;
	(void)auditseg_handoff(&a->seg);	/* failing: the next start's */
	pthread_cond_broadcast(&a->flush_cv);
	pthread_mutex_unlock(&a->mu);
}

static void
store_audit_fill(struct store *st, struct audit_buf *ab,
    const struct peer *p, const char *action, const char *outcome,
    const char *name, size_t namelen, const char *reason, const char *id,
    long long size, const char *sha, const char *bound)
{
	(void)st;
	audit_begin(ab, "tentacle-recv", action, outcome);
	audit_str(ab, "peer", p->addr);
	audit_num(ab, "port", p->port);
	if (p->via[0] != '\0')
		audit_str(ab, "via", p->via);	/* the balancer */
	if (name != NULL)
		audit_strn(ab, "name", name, namelen);
	if (id != NULL)
		audit_str(ab, "item", id);
	if (size >= 0)
		audit_num(ab, "size", size);
	if (sha != NULL)
		audit_str(ab, "sha256", sha);
	audit_str(ab, "tls", p->tls[0] ? p->tls : "none");
	if (p->fp[0]) {
		audit_str(ab, "cert_subject", p->subject);
		audit_str(ab, "cert_sha256", p->fp);
	}
	if (bound != NULL)
		audit_str(ab, "bound", bound);
	audit_str(ab, "auth", p->authed ? "password" : "none");
	if (reason != NULL)
		audit_str(ab, "reason", reason);
	audit_end(ab);
}

void
store_audit_events(struct store *st, struct audit_buf *ab, const char *action)
{
	if (!st->have_audit || ab->n == 0)
		return;
	if (auditor_commit(st, ab->buf, ab->len) == -1)
		log_warn("event=audit.fail action=%s", action);
}

/* A best-effort audit event (refusals), in the next group. */
void
store_audit(struct store *st, const struct peer *p, const char *action,
    const char *outcome, const char *name, size_t namelen,
    const char *reason, const char *id, long long size, const char *sha)
{
	struct audit_buf ab;

	if (!st->have_audit)
		return;
	audit_buf_init(&ab);
	store_audit_fill(st, &ab, p, action, outcome, name, namelen, reason,
	    id, size, sha, NULL);
	store_audit_events(st, &ab, action);
	audit_buf_free(&ab);
}

/*
 * Give the anonymous file fd its name: new/<tname> for a queue, or the
 * client's name in a stock directory (atomically refusing an existing
 * one; with overwrite through a hidden name and a rename).  0 or errno.
 */
static int
store_link_anon(struct store *st, int fd, const struct route *r,
    const char *name, const char *tname, int overwrite)
{
	char proc[64], hidden[64];
	int dirfd = r->kind == ROUTE_QUEUE ? r->queue->newfd : r->dirfd;

	(void)st;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (r->kind == ROUTE_QUEUE)
		return linkat(AT_FDCWD, proc, dirfd, tname,
		    AT_SYMLINK_FOLLOW) == -1 ? errno : 0;
	if (!overwrite)
		return linkat(AT_FDCWD, proc, dirfd, name,
		    AT_SYMLINK_FOLLOW) == -1 ? errno : 0;
	snprintf(hidden, sizeof(hidden), ".octospool.%d.%08x.tmp",
	    (int)getpid(), arc4random());
	if (linkat(AT_FDCWD, proc, dirfd, hidden, AT_SYMLINK_FOLLOW) == -1)
		return errno;
	if (renameat(dirfd, hidden, dirfd, name) == -1) {
		int e = errno;

		unlinkat(dirfd, hidden, 0);
		return e;
	}
	return 0;
}

/*
 * Can we create anonymous files in dirfd and link them in by name
 * (O_TMPFILE, /proc mounted)?  Tried once at start-up.
 */
static int
store_probe_anon(int dirfd)
{
	char proc[64], probe[64];
	int fd, ok;

	if ((fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
	    0600)) == -1)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	snprintf(probe, sizeof(probe), ".octospool-probe.%d.%08x",
	    (int)getpid(), arc4random());
	ok = linkat(AT_FDCWD, proc, dirfd, probe, AT_SYMLINK_FOLLOW) == 0;
	if (ok)
		unlinkat(dirfd, probe, 0);
	close(fd);
	return ok;
}

/* Receive exactly size bytes from c into fd, hashing them. */
static int
store_copy_in(struct conn *c, int fd, long long size, EVP_MD_CTX *md,
    const char **why)
{
	/* On the session thread's stack (1 MiB): a 64 KiB malloc() per
	 * file is freed past glibc's consolidation threshold, and
	 * malloc_consolidate() was 1.6% of the receiver's CPU
	 * when saturated. */
	unsigned char buf[RECV_IO_BLOCK];
	off_t pos = lseek(fd, 0, SEEK_CUR), flushed = pos;

	while (size > 0) {
		ssize_t n = conn_read(c, buf, size > RECV_IO_BLOCK ?
		    RECV_IO_BLOCK : (size_t)size);

		if (n <= 0) {
			*why = n == 0 ? "client closed during data" :
			    errno == ETIMEDOUT ? "timeout during data" :
			    "read error during data";
			return -1;
		}
		size -= n;
		if (md != NULL)
			EVP_DigestUpdate(md, buf, n);
		if (io_write_all(fd, buf, n) == -1) {
			/* Keep errno for the log; stop at once. */
			*why = errno == ENOSPC ? "disk full" :
			    errno == EDQUOT ? "quota exceeded" :
			    errno == EFBIG ? "file size limit" : "write error";
			return -1;
		}
		/* Big uploads: start writeback as we go, so the final
		 * fsync does not find the whole file still dirty. */
		pos += n;
		if (pos >= 0 && pos - flushed >= STORE_WRITE_BEHIND) {
			(void)sync_file_range(fd, flushed, pos - flushed,
			    SYNC_FILE_RANGE_WRITE);
			flushed = pos;
		}
	}
	return 0;
}

int
store_receive(struct store *st, struct conn *c, const struct peer *p,
    const struct route *r, const char *name, long long size, int zip,
    const char **why, char *id, size_t idlen, char *sha, size_t *outlen)
{
	struct recv_conf *cf = st->cf;
	struct envelope env;
	char hdr[ENVELOPE_MAX], tname[SPOOL_NAME_MAX];
	char zerr[128];
	unsigned char md[32];
	unsigned int ml = 0;
	EVP_MD_CTX *mdc = NULL;
	struct audit_buf ab;
	size_t sha_off = 0, stamp_off = 0;
	ssize_t hl = 0;
	int fd = -1, tmpdir = -1, zfd = -1, rc = STORE_CLOSE;
	int anon = 0, broken;
	uint32_t mask;
	off_t body, zlen = 0;

	audit_buf_init(&ab);
	*why = "internal error";
	/*
	 * 1. The temp file: anonymous (O_TMPFILE) in the final directory
	 * where the kernel allows it, linked in by name once complete; else
	 * named, in the queue's tmp/ or hidden in the target directory.
	 */
	if (r->kind == ROUTE_QUEUE &&
	    spool_mkname(tname, sizeof(tname), name) == -1)
		goto out;
	if (st->anon_ok) {
		tmpdir = r->kind == ROUTE_QUEUE ? r->queue->newfd : r->dirfd;
		fd = openat(tmpdir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
		    cf->file_mode);
		if (fd != -1 && fchmod(fd, cf->file_mode) == -1) {
			close(fd);
			fd = -1;
		}
		anon = fd != -1;
	}
	if (anon)
		;
	else if (r->kind == ROUTE_QUEUE) {
		tmpdir = r->queue->tmpfd;
		fd = spool_create(r->queue, tname, cf->file_mode);
	} else {
		snprintf(tname, sizeof(tname), ".octospool.%d.%08x.tmp",
		    (int)getpid(), arc4random());
		tmpdir = r->dirfd;
		fd = openat(tmpdir, tname, O_RDWR | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, cf->file_mode);
		if (fd != -1 && fchmod(fd, cf->file_mode) == -1) {
			close(fd);
			unlinkat(tmpdir, tname, 0);
			fd = -1;
		}
	}
	if (fd == -1) {
		*why = "cannot create temp file";
		log_warn("event=store.fail what=create");
		goto drain;
	}
	strlcpy(id, r->kind == ROUTE_QUEUE ? tname : name, idlen);
	/* 2. The envelope (octospool layout only). */
	if (r->kind == ROUTE_QUEUE) {
		struct timespec ts;
		struct tm tm;
		char t[32];

		memset(&env, 0, sizeof(env));
		strlcpy(env.name, name, sizeof(env.name));
		strlcpy(env.peer, p->addr, sizeof(env.peer));
		env.port = p->port;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(env.received, sizeof(env.received), "%.20s.%06dZ", t,
		    (int)(ts.tv_nsec / 1000) % 1000000);
		snprintf(env.receiver, sizeof(env.receiver), "%s tentacle-recv",
		    cf->hostname);
		strlcpy(env.tls, p->tls[0] ? p->tls : "none", sizeof(env.tls));
		strlcpy(env.cipher, p->cipher, sizeof(env.cipher));
		strlcpy(env.subject, p->subject, sizeof(env.subject));
		strlcpy(env.fingerprint, p->fp, sizeof(env.fingerprint));
		if (r->bound != NULL)
			strlcpy(env.bound, r->bound, sizeof(env.bound));
		strlcpy(env.auth, p->authed ? "password" : "none",
		    sizeof(env.auth));
		if (st->have_stamp)
			strlcpy(env.stamp_signer, st->stamp.name,
			    sizeof(env.stamp_signer));
		if ((hl = envelope_format(&env, hdr, sizeof(hdr),
		    &sha_off, &stamp_off)) == -1 ||
		    io_write_all(fd, hdr, hl) == -1) {
			*why = "cannot write envelope";
			goto drain;
		}
	}
	body = hl;
	/* 3. The data: straight into the file, or a ZIP blob to unpack. */
	if (zip) {
		if ((zfd = store_scratch(tmpdir)) == -1) {
			*why = "cannot create scratch file";
			goto drain;
		}
		if (store_copy_in(c, zfd, size, NULL, why) == -1)
			goto fail;
		switch (zip_extract_single(zfd, size, fd, cf->max_size,
		    &zlen, zerr, sizeof(zerr))) {
		case ZIP_OK:
			*outlen = zlen;
			break;
		case ZIP_NOTZIP:	/* stock: transparent, store as is */
			{
				unsigned char *buf = xmalloc(RECV_IO_BLOCK);
				off_t off = 0;
				ssize_t n;

				while ((n = pread(zfd, buf, RECV_IO_BLOCK,
				    off)) > 0) {
					if (io_write_all(fd, buf, n) == -1)
						break;
					off += n;
				}
				free(buf);
				if (off != size) {
					*why = "write error";
					goto fail;
				}
				*outlen = size;
			}
			break;
		case ZIP_IOERR:
			*why = "write error while unpacking";
			goto fail;
		default:
			*why = zerr[0] ? zerr : "bad zip";
			rc = STORE_ZIPERR;
			goto fail;
		}
		close(zfd);
		zfd = -1;
		if (store_hash_file(fd, body, sha) == -1) {
			*why = "cannot hash";
			goto fail;
		}
	} else {
		if ((mdc = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex(mdc, EVP_sha256(), NULL) != 1)
			goto fail;
		if (store_copy_in(c, fd, size, mdc, why) == -1)
			goto fail;
		if (EVP_DigestFinal_ex(mdc, md, &ml) != 1)
			goto fail;
		for (unsigned int i = 0; i < ml; i++)
			snprintf(sha + 2 * i, 3, "%02x", md[i]);
		*outlen = size;
	}
	if (r->kind == ROUTE_QUEUE) {
		/* The digest, then the stamp over the whole envelope. */
		size_t tail = hl - sha_off;

		memcpy(hdr + sha_off, sha, 64);
		if (st->have_stamp && stamp_fill(&st->stamp, hdr, hl,
		    stamp_off) == -1) {
			*why = "cannot stamp the envelope";
			log_warnx("event=store.fail what=stamp");
			goto fail;
		}
		if (pwrite(fd, hdr + sha_off, tail, sha_off) != (ssize_t)tail) {
			*why = "write error";
			goto fail;
		}
	}
	/*
	 * 4. Data durable: by its own fsync, or, on the spool's file
	 * system, by the syncfs() of the audit round that takes its event
	 * (step 5), one flush for the data and events of every session
	 * storing meanwhile.
	 */
	if (!store_data_by_syncfs(st, r->dirix) && fsync(fd) == -1) {
		*why = "fsync failed";
		goto fail;
	}
	/*
	 * 5. Its audit event durable in this process's segment before the
	 * file is published, appended with the events of every session that
	 * stored a file meanwhile (one sync for the group; the segment goes
	 * on to audit-sign/new later: auditor_flusher).
	 */
	if (st->have_audit) {
		store_audit_fill(st, &ab, p, "file.received", "stored", name,
		    strlen(name), NULL, id, *outlen, sha, r->bound);
		if (auditor_commit(st, ab.buf, ab.len) == -1) {
			*why = "cannot write audit event";
			goto fail;
		}
	}
	/*
	 * 6. Publish (the commit), then the directories in one round; not
	 * after a failed sync (syncer_sync, auditor_write): nothing since
	 * can be proven durable, so nothing is handed on either.
	 */
	if ((broken = syncer_broken(&st->sync)) != 0) {
		errno = broken;
		*why = "storage failed a sync earlier: restart after fixing it";
		goto fail;
	}
	if (!anon) {
		if (close(fd) == -1) {
			fd = -1;
			*why = "close failed";
			goto fail;
		}
		fd = -1;
	}
	mask = 1u << r->dirix;
	if (anon) {
		int e = store_link_anon(st, fd, r, name, tname, cf->overwrite);

		if (close(fd) == -1 && e == 0)
			e = errno;
		fd = -1;
		if (e == EEXIST && r->kind == ROUTE_DIR && !cf->overwrite) {
			*why = "file already exists";
			rc = STORE_EXISTS;
			goto fail;
		}
		if (e != 0) {
			errno = e;
			*why = "link failed";
			goto fail;
		}
	} else if (r->kind == ROUTE_QUEUE) {
		if (spool_publish(r->queue, tname) == -1) {
			*why = "rename failed";
			goto fail;
		}
	} else if (cf->overwrite) {
		if (renameat(tmpdir, tname, r->dirfd, name) == -1) {
			*why = "rename failed";
			goto fail;
		}
	} else if (renameat2(tmpdir, tname, r->dirfd, name,
	    RENAME_NOREPLACE) == -1) {
		int e = errno;

		if (e == EINVAL || e == ENOSYS) {
			/* No RENAME_NOREPLACE here: link is atomic too. */
			if (linkat(tmpdir, tname, r->dirfd, name, 0) == 0) {
				unlinkat(tmpdir, tname, 0);
				e = 0;
			} else
				e = errno;
		}
		if (e == EEXIST) {
			*why = "file already exists";
			rc = STORE_EXISTS;
			goto fail;
		}
		if (e != 0) {
			errno = e;
			*why = "rename failed";
			goto fail;
		}
	}
	if (syncer_sync(&st->sync, mask) == -1) {
		/* The file is visible but not provably durable: no OK. */
		*why = "directory fsync failed";
		rc = STORE_CLOSE;
		goto out;
	}
	rc = STORE_OK;
	goto out;
drain:
	/* Nothing was written: close without a reply, the client retries. */
	rc = STORE_CLOSE;
	goto out;
fail:
	if (fd != -1)
		close(fd);
	fd = -1;
	if (!anon && tmpdir != -1)
		unlinkat(tmpdir, tname, 0);
out:
	if (zfd != -1)
		close(zfd);
	if (fd != -1) {
		close(fd);
		if (!anon && tmpdir != -1)
			unlinkat(tmpdir, tname, 0);
	}
	EVP_MD_CTX_free(mdc);
	audit_buf_free(&ab);
	return rc;
}
