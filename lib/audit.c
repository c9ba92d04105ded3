/* SPDX-License-Identifier: ISC */
/* Audit events: JSON lines for spool/audit-sign (DESIGN.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "xalloc.h"

static void
ab_grow(struct audit_buf *ab, size_t need)
{
	size_t cap = ab->cap ? ab->cap : 1024;

	if (ab->len + need + 1 <= ab->cap)
		return;
	while (cap < ab->len + need + 1)
		cap *= 2;
	ab->buf = xreallocarray(ab->buf, cap, 1);
	ab->cap = cap;
}

static void
ab_put(struct audit_buf *ab, const char *s, size_t n)
{
	ab_grow(ab, n);
	memcpy(ab->buf + ab->len, s, n);
	ab->len += n;
	ab->buf[ab->len] = '\0';
}

void
audit_buf_init(struct audit_buf *ab)
{
	memset(ab, 0, sizeof(*ab));
}

void
audit_buf_free(struct audit_buf *ab)
{
	free(ab->buf);
	memset(ab, 0, sizeof(*ab));
}

void
audit_buf_reset(struct audit_buf *ab)
{
	ab->len = ab->start = 0;
	ab->n = 0;
	if (ab->buf)
		ab->buf[0] = '\0';
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned int c = s[0];
	size_t l;
	unsigned int cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		l = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		l = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		l = 4, cp = c & 0x07;
	else
		return 0;
	if (n < l)
		return 0;
	for (size_t i = 1; i < l; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((l == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (l == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return l;
}

void
audit_json_escape(struct audit_buf *ab, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		char esc[8];
		size_t l;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = c;
			ab_put(ab, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			ab_put(ab, esc, 6);
			i++;
		} else if ((l = utf8_len(p + i, len - i)) == 0) {
			ab_put(ab, "\\ufffd", 6);	/* not UTF-8 */
			i++;
		} else {
			ab_put(ab, s + i, l);
			i += l;
		}
	}
}

void
audit_begin(struct audit_buf *ab, const char *tool, const char *action,
    const char *outcome)
{
	struct timespec ts;
	struct tm tm;
	char t[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	ab->start = ab->len;
	ab_put(ab, "{\"ts\":\"", 7);
	ab_put(ab, t, strlen(t));
	snprintf(t, sizeof(t), ".%03ldZ\"", ts.tv_nsec / 1000000);
	ab_put(ab, t, strlen(t));
	audit_str(ab, "tool", tool);
	audit_str(ab, "action", action);
	audit_str(ab, "outcome", outcome);
	ab->head_end = ab->len;
}

void
audit_strn(struct audit_buf *ab, const char *key, const char *val, size_t len)
{
	ab_put(ab, ",\"", 2);
	audit_json_escape(ab, key, strlen(key));
	ab_put(ab, "\":", 2);
	if (val == NULL) {
		ab_put(ab, "null", 4);
		return;
	}
	ab_put(ab, "\"", 1);
	audit_json_escape(ab, val, len > AUDIT_VALUE_MAX ? AUDIT_VALUE_MAX :
	    len);
	ab_put(ab, "\"", 1);
}

void
audit_str(struct audit_buf *ab, const char *key, const char *val)
{
	audit_strn(ab, key, val, val ? strlen(val) : 0);
}

void
audit_num(struct audit_buf *ab, const char *key, long long val)
{
	char n[32];

	snprintf(n, sizeof(n), "%lld", val);
	ab_put(ab, ",\"", 2);
	audit_json_escape(ab, key, strlen(key));
	ab_put(ab, "\":", 2);
	ab_put(ab, n, strlen(n));
}

void
audit_end(struct audit_buf *ab)
{
	/* Too big: keep ts, tool, action, outcome and mark the cut. */
	if (ab->len - ab->start + 2 > AUDIT_EVENT_MAX &&
	    ab->head_end > ab->start) {
		ab->len = ab->head_end;
		ab->buf[ab->len] = '\0';
		ab_put(ab, ",\"truncated\":true", 17);
	}
	ab_put(ab, "}\n", 2);
	ab->n++;
}
