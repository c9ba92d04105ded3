/* SPDX-License-Identifier: ISC */
/*
 * The sinks of audit-export: JSON lines (ECS) in a file, RFC 5424
 * syslog over TLS with RFC 5425 octet counting, and SQL into MariaDB.
 * deliver() returns 0 only once the sink has the batch: the file is
 * fdatasync'ed, the peer's TCP stack acknowledged every byte, or the
 * transaction (rows and cursor) committed.
 */
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <linux/sockios.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "auditlog.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "net.h"
#include "tls.h"
#include "xalloc.h"

#include "export.h"

static void
sink_check(const struct conf *c, const struct ex_sink *s,
    const char *const *keys)
{
	char err[512];

	if (conf_check(c, s->section, keys, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.error msg=\"%s\"", err);
}

/* JSON lines */

/*
 * A kill during a write can leave half a line at the end of the file
 * (the kernel stops a write between pages on a fatal signal).  That
 * batch was never acknowledged, so it is sent again: cut the torn tail
 * back to the last newline before appending anything.
 */
static int
jsonl_repair(struct ex_sink *s)
{
	char buf[4096];
	struct stat sb;
	off_t end, pos;

	if (fstat(s->fd, &sb) == -1)
		return -1;
	if (!S_ISREG(sb.st_mode) || sb.st_size == 0)
		return 0;
	end = sb.st_size;
	for (pos = end; pos > 0;) {
		size_t chunk = pos > (off_t)sizeof(buf) ? sizeof(buf) :
		    (size_t)pos;
		ssize_t n = pread(s->fd, buf, chunk, pos - chunk);

		if (n != (ssize_t)chunk)
			return -1;
		for (size_t i = chunk; i-- > 0;)
			if (buf[i] == '\n') {
				off_t keep = pos - chunk + i + 1;

				if (keep == end)
					return 0;
				log_warnx("event=sink.repair sink=%s "
				    "msg=\"cut a torn last line\" bytes=%lld",
				    s->name, (long long)(end - keep));
				return ftruncate(s->fd, keep);
			}
		pos -= chunk;
	}
	log_warnx("event=sink.repair sink=%s msg=\"cut a torn last line\" "
	    "bytes=%lld", s->name, (long long)end);
	return ftruncate(s->fd, 0);
}

/* Drop the file after a failure (its lock goes with it). */
static int
jsonl_fail(struct ex_sink *s, struct al_buf *o)
{
	al_buf_free(o);
	if (s->fd != STDOUT_FILENO)
		close(s->fd);
	s->fd = -1;
	return -1;
}

/*
 * A regular file may be shared by the exporters of several nodes' logs
 * (one sink for all, each line naming its log): each batch is appended
 * under an exclusive flock(2), after the torn tail another exporter's
 * kill may have left is cut, so lines never interleave or merge.
 */
static int
jsonl_deliver(struct ex_sink *s, const struct ex_batch *b)
{
	struct al_buf o = { 0 };
	const unsigned char *p;
	size_t left;
	struct stat sb;
	int reg;

	if (s->fd == -1) {
		if (strcmp(s->path, "-") == 0)
			s->fd = STDOUT_FILENO;
		else if ((s->fd = open(s->path, O_RDWR | O_APPEND |
		    O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640)) == -1) {
			log_warn("event=sink.open.fail sink=%s", s->name);
			return -1;
		}
	}
	if (fstat(s->fd, &sb) == -1) {
		log_warn("event=sink.stat.fail sink=%s", s->name);
		return jsonl_fail(s, &o);
	}
	if ((reg = S_ISREG(sb.st_mode))) {
		if (flock(s->fd, LOCK_EX) == -1) {
			log_warn("event=sink.lock.fail sink=%s", s->name);
			return jsonl_fail(s, &o);
		}
		if (jsonl_repair(s) == -1) {
			log_warn("event=sink.repair.fail sink=%s", s->name);
			return jsonl_fail(s, &o);
		}
	}
	for (size_t i = 0; i < b->n; i++) {
		ex_render_ecs(s, &b->it[i], &o);
		al_buf_put(&o, "\n", 1);
	}
	p = o.p;
	left = o.len;
	while (left > 0) {
		ssize_t n = write(s->fd, p, left);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("event=sink.write.fail sink=%s", s->name);
			/* A partial line may remain: the resend repeats it. */
			return jsonl_fail(s, &o);
		}
		p += n;
		left -= n;
	}
	al_buf_free(&o);
	/* A file is acknowledged by its sync; a pipe cannot be. */
	if (reg && fdatasync(s->fd) == -1)
		fatal(EX_IOERR, "event=sink.sync.fail sink=%s", s->name);
	/* Delivered (synced); closing releases the lock if this fails. */
	if (reg && flock(s->fd, LOCK_UN) == -1) {
		log_warn("event=sink.unlock.fail sink=%s", s->name);
		close(s->fd);
		s->fd = -1;
	}
	return 0;
}

static void
jsonl_close(struct ex_sink *s)
{
	if (s->fd != -1 && s->fd != STDOUT_FILENO)
		close(s->fd);
	s->fd = -1;
}

static const struct ex_sink_ops jsonl_ops = {
	jsonl_deliver, NULL, jsonl_close, 0
};

void
sink_jsonl_conf(struct ex_sink *s, const struct conf *c)
{
	static const char *const keys[] = { "type", "path", NULL };

	sink_check(c, s, keys);
	s->ops = &jsonl_ops;
	s->fd = -1;
	if ((s->path = ex_get_str(c, s->section, "path", NULL)) == NULL)
		fatalx(EX_CONFIG, "event=config.error section=%s msg=\"path "
		    "needed\"", s->section);
}

/* Syslog over TLS (RFC 5424 messages, RFC 5425 framing) */

/* PRINTUSASCII only, at most max bytes, "-" if empty (RFC 5424 §6). */
static void
put_token(struct al_buf *o, const char *s, size_t n, size_t max)
{
	size_t w = 0;

	for (size_t i = 0; i < n && w < max; i++)
		if ((unsigned char)s[i] > 32 && (unsigned char)s[i] < 127) {
			al_buf_put(o, &s[i], 1);
			w++;
		}
	if (w == 0)
		al_buf_put(o, "-", 1);
}

/* An SD-PARAM value: '"', '\' and ']' escaped (RFC 5424 §6.3.3). */
static void
put_sdval(struct al_buf *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\' || s[i] == ']')
			al_buf_put(o, "\\", 1);
		al_buf_put(o, &s[i], 1);
	}
}

void
sink_syslog_render(const struct ex_sink *s, const struct ex_item *it,
    struct al_buf *o)
{
	const struct al_frame *f = &it->f;
	time_t sec = f->time_ns / 1000000000ULL;
	struct tm tm;
	char t[64], h[2 * AL_HASH + 1];
	const char *app = "octospool", *v, *msgid;
	size_t appl = 9, vl;
	int sev = 6;

	gmtime_r(&sec, &tm);
	strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
	if (f->type == AL_RECORD) {
		if (al_json_member(f->payload, f->paylen, "tool", &v, &vl)) {
			app = v;
			appl = vl;
		}
		if (al_json_member(f->payload, f->paylen, "outcome", &v, &vl) &&
		    ((vl == 7 && memcmp(v, "refused", 7) == 0) ||
		    (vl == 6 && memcmp(v, "failed", 6) == 0)))
			sev = 5;
		msgid = "record";
	} else
		msgid = al_type_name(f->type);
	al_buf_printf(o, "<%d>1 %s.%06lluZ ", s->facility * 8 + sev, t,
	    (unsigned long long)(f->time_ns % 1000000000ULL) / 1000);
	put_token(o, s->cf->hostname, strlen(s->cf->hostname), 255);
	al_buf_put(o, " ", 1);
	put_token(o, app, appl, 48);
	al_buf_printf(o, " - %s [%s id=\"", msgid, s->sd_id);
	put_sdval(o, it->id, strlen(it->id));
	al_buf_printf(o, "\" seq=\"%llu\"", (unsigned long long)f->seq);
	if (f->type != AL_CHECKPOINT) {
		al_hex(it->leaf, AL_HASH, h);
		al_buf_printf(o, " leaf=\"%s\" uid=\"%u\"", h, f->uid);
	}
	al_buf_puts(o, "] ");
	ex_render_ecs(s, it, o);
}

static void
syslog_drop(struct ex_sink *s)
{
	if (s->conn != NULL) {
		conn_close(s->conn);
		free(s->conn);
		s->conn = NULL;
	}
}

static int
syslog_connect(struct ex_sink *s)
{
	char err[256];
	struct conn *c;
	int fd;

	if (s->tls == NULL) {
		struct tls_opts o;

		memset(&o, 0, sizeof(o));
		o.ca = s->ca;
		o.cert = s->cert;
		o.key = s->key;
		o.min_version = s->min_version;
		o.verify = 1;
		if ((s->tls = tls_client_ctx(&o, err, sizeof(err))) == NULL)
			fatalx(EX_CONFIG, "event=config.error sink=%s "
			    "msg=\"TLS: %s\"", s->name, err);
	}
	if ((fd = net_connect(s->host, s->port, s->connect_timeout, err,
	    sizeof(err))) == -1) {
		log_warnx("event=sink.connect.fail sink=%s msg=\"%s\"",
		    s->name, err);
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	conn_init(c, fd, s->connect_timeout);
	if (conn_tls_connect(c, s->tls, s->server_name ? s->server_name :
	    s->host, 1) == -1) {
		log_warnx("event=sink.tls.fail sink=%s msg=\"%s\"", s->name,
		    tls_error(err, sizeof(err)));
		conn_close(c);
		free(c);
		return -1;
	}
	s->conn = c;
	log_info("event=sink.connected sink=%s host=%s port=%s", s->name,
	    s->host, s->port);
	return 0;
}

/* Wait until the peer's TCP stack acknowledged every byte we sent. */
static int
syslog_wait_ack(struct ex_sink *s)
{
	struct conn *c = s->conn;
	int64_t end = net_now_ms() + s->ack_timeout;

	for (;;) {
		int q = 0;
		char b;

		if (ioctl(c->fd, SIOCOUTQ, &q) == -1)
			return -1;
		if (q == 0)
			return 0;
		/* A closed peer (RST/FIN) is not an acknowledgement. */
		if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
			return -1;
		if (net_now_ms() > end || ex_stop)
			return -1;
		{
			struct timespec ts = { 0, 2000000 };

			nanosleep(&ts, NULL);
		}
	}
}

static int
syslog_deliver(struct ex_sink *s, const struct ex_batch *b)
{
	struct al_buf o = { 0 }, m = { 0 };

	if (s->conn == NULL && syslog_connect(s) == -1)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		m.len = 0;
		sink_syslog_render(s, &b->it[i], &m);
		al_buf_printf(&o, "%zu ", m.len);	/* octet counting */
		al_buf_put(&o, m.p, m.len);
	}
	al_buf_free(&m);
	if (conn_write(s->conn, o.p, o.len) == -1 || syslog_wait_ack(s) ==
	    -1) {
		log_warnx("event=sink.send.fail sink=%s msg=\"not acknowledged; "
		    "resent from the cursor after reconnecting\"", s->name);
		al_buf_free(&o);
		syslog_drop(s);
		return -1;
	}
	al_buf_free(&o);
	return 0;
}

static void
syslog_close(struct ex_sink *s)
{
	syslog_drop(s);
	if (s->tls != NULL)
		SSL_CTX_free(s->tls);
	s->tls = NULL;
}

static const struct ex_sink_ops syslog_ops = {
	syslog_deliver, NULL, syslog_close, 0
};

void
sink_syslog_conf(struct ex_sink *s, const struct conf *c)
{
	static const char *const keys[] = { "type", "host", "port", "ca",
	    "cert", "key", "server_name", "sd_id", "facility", "tls_version",
	    "connect_timeout", "ack_timeout", NULL };

	sink_check(c, s, keys);
	s->ops = &syslog_ops;
	if ((s->host = ex_get_str(c, s->section, "host", NULL)) == NULL ||
	    (s->ca = ex_get_str(c, s->section, "ca", NULL)) == NULL)
		fatalx(EX_CONFIG, "event=config.error section=%s msg=\"host "
		    "and ca needed (the server certificate is always "
		    "verified)\"", s->section);
	s->port = ex_get_str(c, s->section, "port", "6514");
	s->cert = ex_get_str(c, s->section, "cert", NULL);
	s->key = ex_get_str(c, s->section, "key", NULL);
	s->server_name = ex_get_str(c, s->section, "server_name", NULL);
	s->sd_id = ex_get_str(c, s->section, "sd_id", "octoAudit@32473");
	s->min_version = ex_get_str(c, s->section, "tls_version",
	    "TLSv1.2");
	s->facility = ex_get_num(c, s->section, "facility", 0, 23, 10);
	s->connect_timeout = ex_get_num(c, s->section, "connect_timeout",
	    100, 600000, 5000);
	s->ack_timeout = ex_get_num(c, s->section, "ack_timeout", 100,
	    600000, 10000);
	if (strchr(s->sd_id, '@') == NULL || strlen(s->sd_id) > 32 ||
	    strpbrk(s->sd_id, " =]\"") != NULL)
		fatalx(EX_CONFIG, "event=config.error section=%s msg=\"sd_id: "
		    "name@PEN, at most 32 characters\"", s->section);
}

/* SQL (MariaDB): rows and cursor in one transaction */

#define SQL_INSERT \
	"INSERT IGNORE INTO octo_audit_record (log_id, kind, seq, " \
	"event_id, time_ns, uid, gid, source, leaf, chain, payload, ecs) " \
	"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define SQL_CUR_GET "SELECT seq FROM octo_audit_export WHERE sink = ?"
#define SQL_CUR_SET \
	"INSERT INTO octo_audit_export (sink, seq, record_sha256, " \
	"updated_at) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE " \
	"seq = VALUES(seq), record_sha256 = VALUES(record_sha256), " \
	"updated_at = VALUES(updated_at)"

static void	sql_close(struct ex_sink *);

static int
sql_fail(struct ex_sink *s, const char *what)
{
	struct db *db = s->db;
	enum db_class cl = db_errclass(db);
	char vis[LOG_VISBUF];
	const char *e = db_error(db);

	log_warnx("event=sink.sql.fail sink=%s step=%s class=%s errno=%u "
	    "msg=\"%s\"", s->name, what, db_class_name(cl), db_errno(db),
	    log_vis(vis, sizeof(vis), e, strlen(e)));
	(void)db_rollback(db);
	if (cl == DB_TEMP) {
		/* Connect again (and prepare again) at the next attempt. */
		sql_close(s);
		return -1;
	}
	fatalx(db_class_exit(cl), "event=sink.sql.fatal sink=%s", s->name);
}

static int
sql_connect(struct ex_sink *s)
{
	if (s->db == NULL)
		s->db = db_open(s->dbconf);
	if (s->st_ins != NULL)
		return 0;
	/* Statements are prepared on a live connection (and again by lib/db
	 * after a reconnect). */
	if (db_connect(s->db) == -1)
		return sql_fail(s, "connect");
	if ((s->st_ins = db_prepare(s->db, SQL_INSERT)) == NULL ||
	    (s->st_cur_get = db_prepare(s->db, SQL_CUR_GET)) == NULL ||
	    (s->st_cur_upd = db_prepare(s->db, SQL_CUR_SET)) == NULL) {
		int r = sql_fail(s, "prepare");

		sql_close(s);
		return r;
	}
	return 0;
}

static int
sql_load_cursor(struct ex_sink *s, uint64_t *next)
{
	struct db_val v[] = { DB_TEXT(s->name) };
	int r;

	if (sql_connect(s) == -1)
		return -1;
	if (db_stmt_exec(s->st_cur_get, v, 1) == -1)
		return sql_fail(s, "cursor");
	if ((r = db_stmt_fetch(s->st_cur_get)) == -1)
		return sql_fail(s, "cursor");
	if (r == 0)
		return 0;
	*next = db_col_uint(s->st_cur_get, 0) + 1;
	while (db_stmt_fetch(s->st_cur_get) == 1)
		;
	return 1;
}

static int
sql_deliver(struct ex_sink *s, const struct ex_batch *b)
{
	struct al_buf ecs = { 0 };
	char leaf[2 * AL_HASH + 1], chain[2 * AL_HASH + 1];
	char lastchain[2 * AL_HASH + 1] = "";
	uint64_t last = 0;
	int have_last = 0;

	if (sql_connect(s) == -1)
		return -1;
	if (db_begin(s->db) == -1)
		return sql_fail(s, "begin");
	for (size_t i = 0; i < b->n; i++) {
		const struct ex_item *it = &b->it[i];
		const struct al_frame *f = &it->f;
		int ck = f->type == AL_CHECKPOINT;

		ecs.len = 0;
		ex_render_ecs(s, it, &ecs);
		al_hex(ck ? it->ckpt.root : it->leaf, AL_HASH, leaf);
		al_hex(f->chain, AL_HASH, chain);
		struct db_val v[] = {
			DB_TEXT(s->log_id_hex),
			DB_TEXT(al_type_name(f->type)),
			DB_UINT(f->seq),
			DB_TEXT(it->id),
			DB_UINT(f->time_ns),
			DB_UINT(f->uid),
			DB_UINT(f->gid),
			DB_BLOB(f->src, f->srclen),
			DB_TEXT(leaf),
			DB_TEXT(chain),
			DB_BLOB(f->payload, f->paylen),
			DB_TEXTN((const char *)ecs.p, ecs.len),
		};

		if (db_stmt_exec(s->st_ins, v, 12) == -1) {
			al_buf_free(&ecs);
			return sql_fail(s, "insert");
		}
		if (!ck) {
			last = f->seq;
			have_last = 1;
			memcpy(lastchain, chain, sizeof(lastchain));
		}
	}
	al_buf_free(&ecs);
	if (have_last) {
		struct db_val v[] = {
			DB_TEXT(s->name), DB_UINT(last), DB_TEXT(lastchain),
			DB_INT((long long)time(NULL)),
		};

		if (db_stmt_exec(s->st_cur_upd, v, 4) == -1)
			return sql_fail(s, "cursor");
	}
	if (db_commit(s->db) == -1)
		return sql_fail(s, "commit");
	return 0;
}

static void
sql_close(struct ex_sink *s)
{
	if (s->st_ins)
		db_stmt_free(s->st_ins);
	if (s->st_cur_get)
		db_stmt_free(s->st_cur_get);
	if (s->st_cur_upd)
		db_stmt_free(s->st_cur_upd);
	s->st_ins = s->st_cur_get = s->st_cur_upd = NULL;
	if (s->db)
		db_close(s->db);
	s->db = NULL;
}

static const struct ex_sink_ops sql_ops = {
	sql_deliver, sql_load_cursor, sql_close, 1
};

void
sink_sql_conf(struct ex_sink *s, const struct conf *c)
{
	static const char *const keys[] = { "type", DB_TOOL_KEYS, NULL };
	char err[512];
	struct db_conf *dc = xcalloc(1, sizeof(*dc));

	sink_check(c, s, keys);
	if (db_conf_check(c, err, sizeof(err)) == -1 ||
	    db_conf_load(dc, c, s->section, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.error section=%s msg=\"%s\"",
		    s->section, err);
	s->ops = &sql_ops;
	s->dbconf = dc;
}
