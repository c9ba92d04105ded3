/* SPDX-License-Identifier: ISC */
/*
 * The spool hand-off: spool/<tool>/{tmp,new,cur,reject} and lock.
 * Produce: tmp/N, fsync, rename to new/N, fsync new/.  Consume: flock,
 * cur/ back to new/, claim by rename new/N -> cur/N, then done, retry or
 * reject with a reason file.  See doc/octospool-spool.5.
 */
#ifndef OCTO_SPOOL_H
#define OCTO_SPOOL_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <time.h>

#define SPOOL_PRODUCE	0x01	/* tmp/ and new/ */
#define SPOOL_CONSUME	0x02	/* everything, plus the lock file */
#define SPOOL_NAME_MAX	240
#define SPOOL_MODE	0640
#define SPOOL_TMP_MAXAGE (36 * 3600)
#define SPOOL_STATUS_MAXAGE	60	/* s: a killed consumer's .status.<pid> */
/*
 * tmp/ files with this suffix are segments: appended to and synced by a
 * producer that holds flock(LOCK_EX) on them (the audit events of
 * tentacle-recv and of the drains: lib/auditseg), handed on by rename,
 * recovered by that producer at its next start; spool_clean_tmp never
 * ages them out.
 */
#define SPOOL_SEG_SUFFIX ".seg"
/* Does name end in suffix (and hold more than it)? */
int	spool_name_ends(const char *name, const char *suffix);

struct spool {
	char	path[PATH_MAX];
	int	dirfd;
	int	tmpfd;
	int	newfd;
	int	curfd;
	int	rejfd;
	int	lockfd;
};

int	spool_open(struct spool *, const char *path, int how);
void	spool_close(struct spool *);
/* Create the queue directories that are missing (tests, -n, setup). */
int	spool_mkdirs(const char *path, int how);
/* A unique, sortable name: <sec>.<usec>_<pid>_<rand8>.<tag>. */
int	spool_mkname(char *buf, size_t len, const char *tag);
int	spool_create(struct spool *, const char *name, mode_t mode);
int	spool_commit(struct spool *, int fd, const char *name);
/*
 * A producer's whole hand-off of one item: open the queue at path,
 * write head then body (either may be empty) to tmp/<name> (mode),
 * fsync, rename into new/, sync new/.  name (namelen, SPOOL_NAME_MAX)
 * gets the item's name, made from tag.  0, or -1 with errno; nothing
 * is left in tmp/ on failure.
 */
int	spool_put(const char *path, const char *tag, mode_t mode,
	    const void *head, size_t headlen, const void *body, size_t bodylen,
	    char *name, size_t namelen);
int	spool_publish(struct spool *, const char *name);
int	spool_sync(struct spool *);
int	spool_abort(struct spool *, int fd, const char *name);
int	spool_lock(struct spool *);
int	spool_recover(struct spool *);
int	spool_scan(struct spool *, char ***names, size_t *n);
int	spool_scan_max(struct spool *, size_t max, char ***names, size_t *n,
	    int *more);
void	spool_names_free(char **, size_t);
/* Sort names[0..*n) in the order of spool_scan, each name once. */
void	spool_names_sort(char **, size_t *n);
int	spool_claim(struct spool *, const char *name);
int	spool_open_cur(struct spool *, const char *name);
int	spool_done(struct spool *, const char *name);
int	spool_retry(struct spool *, const char *name);
int	spool_reject(struct spool *, const char *name, const char *stage,
	    int code, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
int	spool_clean_tmp(struct spool *, time_t maxage);
/* Record the consumer's last run in <queue>/status (octospool-status). */
int	spool_status_put(struct spool *, const char *stage, int exitcode,
	    unsigned long seen, unsigned long done, unsigned long rejected,
	    unsigned long retried, long long ms);
/* Remove the .status.<pid> spool_status_put keeps between lines. */
void	spool_status_end(struct spool *);

#endif
