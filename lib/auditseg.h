/* SPDX-License-Identifier: ISC */
/*
 * An audit segment: a producer's audit events appended to one open file
 * in audit-sign/tmp, <spool name>.<producer>.seg, locked with flock(2)
 * while the producer lives and made durable by the producer's own sync
 * (before anything the events describe is acknowledged or handed on).
 * It goes on to audit-sign by a rename into audit-sign/new (the
 * hand-off) when idle for AUDITSEG_IDLE_MS, AUDITSEG_AGE_MS after it was
 * opened, before an append would take it past audit-sign's max_file,
 * and at stop; a dead producer's segment is handed on by the next start
 * of the same producer (auditseg_recover).  tmp/ sweeps skip segments
 * (spool_clean_tmp).  tentacle-recv and the drains (lib/drain) use it.
 */
#ifndef OCTO_AUDITSEG_H
#define OCTO_AUDITSEG_H

#include <sys/types.h>
#include <sys/uio.h>

#include <stdint.h>

#include "spool.h"

#define AUDITSEG_IDLE_MS	200	/* handed on after this long idle */
#define AUDITSEG_AGE_MS		500	/* and at the latest at this age */

struct auditseg {
	struct spool	*q;		/* audit-sign's queue (produce) */
	char		 tag[64];	/* "<producer>.seg" */
	size_t		 max;		/* audit-sign's max_file */
	int		 fd;		/* -1: none open */
	char		 name[SPOOL_NAME_MAX];
	off_t		 len;		/* bytes of whole, synced events */
	uint64_t	 born, last;	/* monotonic ns */
	uint64_t	 retry_at;	/* a failed hand-off: again then */
	unsigned long	 handoffs;	/* statistics */
};

uint64_t	 auditseg_now(void);	/* CLOCK_MONOTONIC, ns */
void		 auditseg_init(struct auditseg *, struct spool *q,
		    const char *producer, size_t max);
/* Open a new segment (locked; its name in tmp/ synced if sync_dir). */
int		 auditseg_open(struct auditseg *, int sync_dir);
/*
 * Make an open segment ready for bytes more: the open one handed on
 * first if they would take it past max, a new one opened if none is.
 */
int		 auditseg_room(struct auditseg *, size_t bytes, int sync_dir);
/* Write iov at the end of the synced bytes plus *done; *done += bytes. */
int		 auditseg_write(struct auditseg *, const struct iovec *, int n,
		    size_t *done);
/* The bytes written since are synced: they count. */
void		 auditseg_synced(struct auditseg *, size_t bytes);
/* They are not: cut them off (or leave the segment to recovery). */
void		 auditseg_cut(struct auditseg *);
int		 auditseg_handoff(struct auditseg *);
void		 auditseg_abandon(struct auditseg *);
/*
 * Close a synced segment without handing it on: it stays in tmp/ under
 * its name (copied to name), for the caller to publish or remove; a
 * crash leaves it to auditseg_recover.
 */
void		 auditseg_detach(struct auditseg *, char *name, size_t len);
/* When the open segment is due to be handed on (UINT64_MAX: none). */
uint64_t	 auditseg_due(const struct auditseg *);
/*
 * A segment's size cap: audit-sign's max_file ([audit-sign] max_file in
 * cf, else its default), at 1 MiB at most.
 */
struct conf;
size_t		 auditseg_max(const struct conf *cf);
/*
 * Hand on the segments a dead producer left (ours, lock free), each cut
 * to its whole, valid events; report: log another user's segment under
 * our name (once, at start; a periodic pass stays quiet).
 */
void		 auditseg_recover(struct spool *q, const char *producer,
		    int report);
/*
 * How often a long-lived producer (tentacle-recv, a lingering drain)
 * runs auditseg_recover again, for what its start could not hand on:
 * a minute, in ns (PIPELINE_RECOVER_MS shortens it for tests).
 */
uint64_t	 auditseg_recover_period(void);

#endif
