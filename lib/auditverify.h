/* SPDX-License-Identifier: ISC */
/*
 * The verifier of the sealed audit log (spec/audit.md §5.7): one pass
 * over the segments with only the root public key, every finding with
 * its sequence number and kind.  audit-verify is its command line; the
 * tests run it in-process (tests/tools/tt-auditevil flipall).
 */
#ifndef OCTO_AUDITVERIFY_H
#define OCTO_AUDITVERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "auditlog.h"

#define V_PASS		0
#define V_FAIL		1
#define V_POLICY	2
#define V_USAGE		3
#define MAX_EXT		64
#define MAX_EPOCHS	(1 << 20)
#define MAX_XOTHERS	256	/* other logs' ids remembered (xsplit) */

/* One finding: the first FAIL decides the verdict in strict mode. */
struct finding {
	int		 level;		/* V_FAIL, V_POLICY, 0 warning/note */
	const char	*kind;
	uint64_t	 seq;
	int		 have_seq;
	uint64_t	 segno;
	size_t		 offset;
	char		 msg[256];
};

struct ext_ckpt {
	char		*file;
	struct al_ckpt	 c;
	int		 seen;		/* the local log reached its size */
	unsigned char	 local_root[AL_HASH];
	char		*note;		/* the note (its signature checked) */
	size_t		 notelen;
	int		 cosigned;	/* by the --witness key */
	uint64_t	 cosig_time;	/* its timestamp (Unix seconds) */
};

/* Lines of another log in a shared export (xsplit): its id, how many. */
struct xother {
	char		 id[2 * AL_LOGID + 1];
	uint64_t	 lines;
};

struct verifier {
	/* options */
	int		 forensic, quiet, json, verbose, keep;
	int		 have_now, strict_liveness;
	int		 xmode;		/* exported lines: offset = line */
	/*
	 * Exported lines of several logs (one sink fed by several nodes):
	 * lines whose octo.log_id is another log's are passed over and
	 * counted in xothers instead of failing.
	 */
	int		 xsplit;
	struct xother	*xothers;
	size_t		 nxothers;
	uint64_t	 xothers_lost;	/* lines of logs beyond MAX_XOTHERS */
	uint64_t	 now_ns, max_age_ns;
	struct ext_ckpt	 ext[MAX_EXT];
	int		 next;
	/* --witness: its key; a cosigned checkpoint is required */
	int		 have_witness;
	char		 wname[AL_ORIGIN_MAX];
	unsigned char	 wpk[AL_PK];
	char		 wwhere[256];	/* where cosigned notes were looked for */
	/* trust anchor */
	char		 origin[AL_ORIGIN_MAX];
	unsigned char	 pk0[AL_PK];
	unsigned char	 log_id[AL_LOGID];
	/* state */
	unsigned char	(*pks)[AL_PK];	/* pk per epoch */
	char		**keycerts;	/* keycert text per epoch (1..) */
	size_t		 nkeycerts;
	uint64_t	 epoch;
	uint64_t	 kc_epoch;	/* uncovered KEYCERT */
	struct al_tree	 tree;
	unsigned char	 chain[AL_HASH];
	unsigned char	 prev[AL_HASH];
	uint64_t	 sealed;	/* size of the last checkpoint */
	uint64_t	 last_ckpt_time, last_rec_time, epoch_seconds;
	uint64_t	 checkpoints, records, boots, recoveries, segments;
	uint64_t	 recovered_first, recovered_last;
	uint64_t	 damaged_checkpoints;	/* set aside, unverifiable */
	int		 boot_since_ckpt;
	void		*since_md;	/* EVP_MD_CTX: leaves since sealed */
	int		 since_bad;	/* since_md failed: no RECOVERY passes */
	/* for proofs */
	unsigned char	(*leaves)[AL_HASH];
	size_t		 nleaves, capleaves;
	struct { uint64_t size, epoch; char *note; } *ckpts;
	size_t		 nckpts;
	/* findings */
	struct finding	*f;
	size_t		 nf;
	int		 verdict;
	int		 stop;
};

/* Set origin, pk0, log_id and the epoch-0 key from a verifier key. */
int	av_init(struct verifier *, const char *vkey);
/* Verify the log under logdir; the verdict is v->verdict (V_*). */
void	av_verify_log(struct verifier *, const char *logdir);
/*
 * Verify audit-export's JSON lines: a file, or every file of a
 * directory (in the order of their first items of this log); gaps are
 * deletions.  With xsplit, other logs' lines are skipped (xothers).
 */
void	av_verify_export(struct verifier *, const char *path);
void	av_free(struct verifier *);

#endif
