/* SPDX-License-Identifier: ISC */
/* audit-sign internals: the writer of the sealed log and its keys. */
#ifndef AUDIT_SIGN_H
#define AUDIT_SIGN_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "auditlog.h"

#define SIGN_SLOT_LEN	128
#define SIGN_SLOT_MAGIC	"OAKS"

/* One key slot of keys/slots. */
struct key_slot {
	int		 valid;
	uint64_t	 epoch;
	uint64_t	 not_before;	/* CLOCK_REALTIME ns */
	unsigned char	 sk[32];
	unsigned char	 pk[AL_PK];
	unsigned char	 log_id[AL_LOGID];
};

/* Key material lives in one locked, undumpable page. */
struct keys {
	struct key_slot	 slot[2];
	int		 cur;		/* index of the signing slot */
};

struct writer_conf {
	const char	*log_dir;
	const char	*key_dir;
	uint64_t	 epoch_ns;	/* epoch length */
	uint64_t	 seg_max;	/* bytes */
	uint64_t	 seg_age_ns;
};

struct writer {
	struct writer_conf cf;
	struct keys	*k;
	char		 origin[AL_ORIGIN_MAX];
	unsigned char	 pk0[AL_PK];
	int		 lockfd, segdirfd, segfd, keyfd;
	uint64_t	 segno;
	off_t		 segoff;
	uint64_t	 seg_born;	/* time_ns of the segment's SEGLINK */
	struct al_tree	 tree;
	unsigned char	 chain[AL_HASH];
	unsigned char	 prev[AL_HASH];	/* body hash of the last checkpoint */
	uint64_t	 epoch;		/* the log's current epoch */
	uint64_t	 last_ckpt_time;
	int64_t		 epoch_deadline;	/* CLOCK_MONOTONIC ms */
	/* The batch being built: frames not yet written. */
	struct al_buf	 pend;
	int		 rotating;	/* pend starts a new segment */
	uint64_t	 pend_first;	/* first seq in pend */
	size_t		 pend_records;
	int		 dead;		/* a write failed: write nothing more */
	/* Startup facts for the BOOT leaf. */
	int		 booted;
	const char	*boot_reason;
	/* Dedup keys of sealed records whose items are still queued. */
	unsigned char	(*dedup)[AL_HASH];
	size_t		 ndedup;
	uint64_t	 sealed_records;
};

/* keys/slots and keys/vkey for a new log; prints nothing. */
int	writer_keygen(const char *key_dir, const char *name, char *vkey,
	    size_t vlen, char *err, size_t errlen);
/*
 * Open (or create) the log, lock it, recover from a crash: torn tail
 * aside, unsealed frames kept under a RECOVERY leaf, key slots
 * reconciled.  queued: sorted names in the input queue (for dedup).
 * Returns 0, 1 if another writer holds the lock, -1 (fatal, err set).
 */
int	writer_open(struct writer *, const struct writer_conf *,
	    char **queued, size_t nqueued, char *err, size_t errlen);
void	writer_close(struct writer *);
/* Was this record (src, payload) sealed before a crash? */
int	writer_is_dup(const struct writer *, const char *src, size_t srclen,
	    const char *payload, size_t paylen);
/* Add a leaf to the batch; RECORD leaves may start a new segment. */
void	writer_leaf(struct writer *, int type, uint32_t uid, uint32_t gid,
	    uint32_t pid, const char *src, size_t srclen, const char *payload,
	    size_t paylen);
/*
 * Seal the batch: checkpoint, write, fdatasync.  0 done (or nothing to
 * do), -1 the disk is full (nothing acknowledged; w->dead).  fsync and
 * other I/O errors are fatal (exit 74).
 */
int	writer_commit(struct writer *);
/* Write the BOOT leaf once (with the next commit). */
void	writer_boot(struct writer *);
int	writer_epoch_due(const struct writer *);
/* Epoch handover (spec §5.3 steps 1-5); -1 like writer_commit. */
int	writer_handover(struct writer *);
/* ms until the epoch ends (0: due). */
int64_t	writer_epoch_left(const struct writer *);

uint64_t now_ns(void);
int64_t	 mono_ms(void);

#endif
