/* SPDX-License-Identifier: ISC */
/*
 * The ECS JSON line of one exported item (doc/AUDIT.md, "Export"): what
 * audit-export ships and what audit-verify checks an exported line
 * against, byte for byte.  Every line carries octo.data, the exact bytes
 * the signatures cover (a leaf's body, a checkpoint's note), in base64.
 */
#ifndef OCTO_AUDITECS_H
#define OCTO_AUDITECS_H

#include <stddef.h>
#include <stdint.h>

#include "auditlog.h"

/*
 * Append the line (no newline) for f: a leaf with its leaf hash, or a
 * checkpoint (f->type AL_CHECKPOINT, epoch from its note); id is the
 * dedup id "<log_id>:<seq>" or "<log_id>:checkpoint:<size>".
 */
void	al_ecs_render(const char *hostname, const char *log_id_hex,
	    const struct al_frame *f, const unsigned char leaf[AL_HASH],
	    uint64_t epoch, const char *id, struct al_buf *o);
/* Append s as the inside of a JSON string (", \, control bytes escaped). */
void	al_json_escape(struct al_buf *o, const char *s, size_t n);

#endif
