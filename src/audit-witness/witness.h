/* SPDX-License-Identifier: ISC */
/* audit-witness internals: the state per log and one submission. */
#ifndef AUDIT_WITNESS_H
#define AUDIT_WITNESS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "auditlog.h"

#define W_MAX_LOGS	16
#define W_MAX_PROOF	63	/* C2SP tlog-witness: at most 63 lines */

/* A log this witness follows: its verifier key (the trust anchor). */
struct wlog {
	char		 origin[AL_ORIGIN_MAX];
	unsigned char	 pk0[AL_PK];
	char		 id[2 * AL_LOGID + 1];	/* hex log id, file names */
};

struct wconf {
	char		*state_dir;
	char		*cosigned_dir;
	char		*name;		/* the witness's key name */
	EVP_PKEY	*key;
	unsigned char	 pk[AL_PK];
	struct wlog	 logs[W_MAX_LOGS];
	int		 nlogs;
};

/*
 * The latest checkpoint the witness cosigned for one log, and the log's
 * public keys from that checkpoint's epoch to the newest one certified.
 */
struct wstate {
	int		 have;
	uint64_t	 size;
	unsigned char	 root[AL_HASH];
	uint64_t	 epoch;
	uint64_t	 kfirst;	/* epoch of keys[0] */
	unsigned char	(*keys)[AL_PK];
	size_t		 nkeys;
	uint64_t	 time;		/* of the cosignature */
	struct al_buf	 note;		/* the cosigned checkpoint note */
};

#define W_COSIGNED	0	/* a new checkpoint cosigned */
#define W_DUPLICATE	1	/* the one already cosigned */
#define W_REFUSED	(-1)	/* why says which rule */
#define W_ERROR		(-2)	/* state or I/O: nothing decided */

/*
 * One submission (C2SP tlog-witness add-checkpoint body, plus "keycert"
 * lines): check it against the state, cosign, store the state and the
 * published cosigned checkpoint.  cosig gets the cosignature line.
 */
int	witness_add(const struct wconf *, const char *buf, size_t len,
	    struct al_buf *cosig, char *why, size_t whylen);

#endif
