/* SPDX-License-Identifier: ISC */
/* The ECS JSON line of an exported item (auditecs.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auditecs.h"
#include "auditlog.h"
#include "xalloc.h"

/* JSON string escaping: the reverse of al_json_unescape. */
void
al_json_escape(struct al_buf *o, const char *s, size_t n)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			al_buf_put(o, e, 2);
		} else if (c == '\n')
			al_buf_put(o, "\\n", 2);
		else if (c < 0x20 || c == 0x7f) {
			char e[6] = { '\\', 'u', '0', '0', hx[c >> 4],
			    hx[c & 15] };

			al_buf_put(o, e, 6);
		} else
			al_buf_put(o, &s[i], 1);
	}
}

/* ISO 8601 UTC with milliseconds, as ECS @timestamp wants. */
static void
iso_time(uint64_t ns, char *out, size_t len)
{
	time_t s = ns / 1000000000ULL;
	struct tm tm;
	char b[32];

	gmtime_r(&s, &tm);
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%03lluZ", b,
	    (unsigned long long)(ns % 1000000000ULL) / 1000000);
}

/* ECS event.outcome from a producer's outcome word. */
static const char *
ecs_outcome(const char *v, size_t n)
{
	static const char *const ok[] = { "ok", "success", "stored",
	    "accepted", "done", "loaded", "published" };
	static const char *const bad[] = { "refused", "failure", "failed",
	    "error", "denied", "rejected" };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strlen(ok[i]) == n && memcmp(ok[i], v, n) == 0)
			return "success";
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strlen(bad[i]) == n && memcmp(bad[i], v, n) == 0)
			return "failure";
	return "unknown";
}

/* The exact bytes a signature covers, in base64: "data":"...". */
static void
put_data(struct al_buf *o, const void *p, size_t n)
{
	size_t bl = ((n + 2) / 3) * 4 + 1;
	char *b = xmalloc(bl);

	al_b64_encode(p, n, b, bl);
	al_buf_puts(o, ",\"data\":\"");
	al_buf_puts(o, b);
	al_buf_puts(o, "\"");
	free(b);
}

void
al_ecs_render(const char *hostname, const char *log_id_hex,
    const struct al_frame *f, const unsigned char leaf[AL_HASH],
    uint64_t epoch, const char *id, struct al_buf *o)
{
	char t[40], h[2 * AL_HASH + 1];

	iso_time(f->time_ns, t, sizeof(t));
	al_buf_printf(o, "{\"@timestamp\":\"%s\",\"ecs\":{\"version\":"
	    "\"8.11.0\"},\"event\":{\"id\":\"%s\",", t, id);
	if (f->type == AL_CHECKPOINT) {
		al_buf_printf(o, "\"kind\":\"state\",\"action\":"
		    "\"audit.checkpoint\",\"created\":\"%s\"},", t);
		al_buf_printf(o, "\"observer\":{\"hostname\":\"");
		al_json_escape(o, hostname, strlen(hostname));
		al_buf_printf(o, "\",\"product\":\"octospool\",\"type\":"
		    "\"audit\"},\"octo\":{\"log_id\":\"%s\",\"type\":"
		    "\"checkpoint\",\"size\":%llu,\"epoch\":%llu,"
		    "\"checkpoint\":\"", log_id_hex,
		    (unsigned long long)f->seq, (unsigned long long)epoch);
		al_json_escape(o, f->payload, f->paylen);
		al_buf_printf(o, "\",\"time_ns\":%llu",
		    (unsigned long long)f->time_ns);
		put_data(o, f->payload, f->paylen);
		al_buf_puts(o, "}}");
		return;
	}
	if (f->type == AL_RECORD) {
		const char *v;
		size_t vl;

		al_buf_puts(o, "\"kind\":\"event\",\"action\":\"");
		if (al_json_member(f->payload, f->paylen, "action", &v, &vl))
			al_buf_put(o, v, vl);
		else
			al_buf_puts(o, "audit.record");
		al_buf_puts(o, "\",\"outcome\":\"");
		if (al_json_member(f->payload, f->paylen, "outcome", &v, &vl))
			al_buf_puts(o, ecs_outcome(v, vl));
		else
			al_buf_puts(o, "unknown");
		al_buf_puts(o, "\",");
	} else
		al_buf_printf(o, "\"kind\":\"state\",\"action\":\"audit.%s\",",
		    al_type_name(f->type));
	al_buf_printf(o, "\"sequence\":%llu,\"created\":\"%s\"},"
	    "\"user\":{\"id\":\"%u\"},\"group\":{\"id\":\"%u\"},",
	    (unsigned long long)f->seq, t, f->uid, f->gid);
	if (f->pid != 0)
		al_buf_printf(o, "\"process\":{\"pid\":%u},", f->pid);
	al_buf_puts(o, "\"observer\":{\"hostname\":\"");
	al_json_escape(o, hostname, strlen(hostname));
	al_hex(leaf, AL_HASH, h);
	al_buf_printf(o, "\",\"product\":\"octospool\",\"type\":\"audit\"},"
	    "\"octo\":{\"log_id\":\"%s\",\"seq\":%llu,\"type\":\"%s\","
	    "\"leaf\":\"%s\",", log_id_hex, (unsigned long long)f->seq,
	    al_type_name(f->type), h);
	al_hex(f->chain, AL_HASH, h);
	al_buf_printf(o, "\"chain\":\"%s\",\"source\":\"", h);
	al_json_escape(o, f->src, f->srclen);
	if (f->type == AL_RECORD) {
		/* The producer's event, byte for byte (it is valid JSON). */
		al_buf_puts(o, "\",\"event\":");
		al_buf_put(o, f->payload, f->paylen);
	} else {
		al_buf_puts(o, "\",\"text\":\"");
		al_json_escape(o, f->payload, f->paylen);
		al_buf_puts(o, "\"");
	}
	/* Full precision and the leaf's exact bytes: a log manager can
	 * recompute the leaf hash (audit-verify does, from the line). */
	al_buf_printf(o, ",\"time_ns\":%llu", (unsigned long long)f->time_ns);
	put_data(o, f->body, f->bodylen);
	al_buf_puts(o, "}}");
}
