/* SPDX-License-Identifier: ISC */
/*
 * Audit events: one JSON object per line, written as a batch file into
 * spool/audit-sign/new with the spool hand-off (DESIGN.md).
 */
#ifndef OCTO_AUDIT_H
#define OCTO_AUDIT_H

#include <stddef.h>

#define AUDIT_EVENT_MAX		(64 * 1024)
#define AUDIT_VALUE_MAX		4096
/* audit-sign's max_file: the biggest queue item it takes (bytes). */
#define AUDIT_MAX_FILE_MIN	64
#define AUDIT_MAX_FILE_MAX	(64LL << 20)
#define AUDIT_MAX_FILE_DEF	(4LL << 20)

struct audit_buf {
	char	*buf;
	size_t	 len, cap;
	size_t	 start;		/* where the current event began */
	size_t	 head_end;	/* end of its ts/tool/action/outcome */
	int	 n;		/* events in the buffer */
};

void	audit_buf_init(struct audit_buf *);
void	audit_buf_free(struct audit_buf *);
void	audit_buf_reset(struct audit_buf *);
/* Start {"ts":...,"tool":...,"action":...,"outcome":... */
void	audit_begin(struct audit_buf *, const char *tool, const char *action,
	    const char *outcome);
/* A string field from untrusted bytes: valid UTF-8 JSON, capped. */
void	audit_strn(struct audit_buf *, const char *key, const char *val,
	    size_t len);
void	audit_str(struct audit_buf *, const char *key, const char *val);
void	audit_num(struct audit_buf *, const char *key, long long val);
/* Close the event; an event over AUDIT_EVENT_MAX is cut to its head. */
void	audit_end(struct audit_buf *);
/* JSON-escape len bytes of s into ab (no quotes); exposed for tests. */
void	audit_json_escape(struct audit_buf *, const char *s, size_t len);

#endif
