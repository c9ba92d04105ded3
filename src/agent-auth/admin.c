/* SPDX-License-Identifier: ISC */
/*
 * agent-auth administration: group credentials and agent policies,
 * written through the [db-admin] account, one transaction and one audit
 * event (invoking unix user, changed fields, never a secret) each.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <readpassphrase.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "audit.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "pandora.h"
#include "tool.h"
#include "xalloc.h"

#include "agentauth.h"

#define ADMIN_SECTION	"db-admin"
#define PW_MAX		1024

struct aa_change {
	const char	*field;
	char		 old[128], new[128];	/* "\1": null */
};

struct aa_adm {
	const struct aa_admin_ctx *ac;
	struct db	*db;
	const char	*cmd;
	const char	*target_kind;	/* "group" or "agent" */
	const char	*target;
	unsigned long	 id;
	struct aa_change ch[6];
	int		 nch;
};

static void
change(struct aa_adm *a, const char *field, const char *old, const char *new)
{
	struct aa_change *c = &a->ch[a->nch++];

	c->field = field;
	strlcpy(c->old, old ? old : "\1", sizeof(c->old));
	strlcpy(c->new, new ? new : "\1", sizeof(c->new));
}

static void
json_val(struct audit_buf *ab, const char *v)
{
	if (strcmp(v, "\1") == 0) {
		aa_audit_raw(ab, "null");
		return;
	}
	aa_audit_raw(ab, "\"");
	audit_json_escape(ab, v, strlen(v));
	aa_audit_raw(ab, "\"");
}

/* The audit event of a successful change; -1 if it cannot be written. */
static int
admin_audit(struct aa_adm *a)
{
	struct audit_buf ab;
	struct passwd *pw = getpwuid(getuid());
	char uid[32];
	int rc = 0;

	if (!a->ac->audit)
		return 0;
	audit_buf_init(&ab);
	audit_begin(&ab, "agent-auth", "admin.command", "ok");
	audit_str(&ab, "command", a->cmd);
	audit_str(&ab, "user", pw ? pw->pw_name : "?");
	snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
	audit_str(&ab, "uid", uid);
	audit_str(&ab, a->target_kind, a->target);
	audit_num(&ab, a->target_kind[0] == 'g' ? "group_id" : "agent_id",
	    (long long)a->id);
	aa_audit_raw(&ab, ",\"changes\":[");
	for (int i = 0; i < a->nch; i++) {
		aa_audit_raw(&ab, i ? ",{\"field\":\"" : "{\"field\":\"");
		aa_audit_raw(&ab, a->ch[i].field);
		aa_audit_raw(&ab, "\",\"old\":");
		json_val(&ab, a->ch[i].old);
		aa_audit_raw(&ab, ",\"new\":");
		json_val(&ab, a->ch[i].new);
		aa_audit_raw(&ab, "}");
	}
	aa_audit_raw(&ab, "]");
	audit_end(&ab);
	if (aa_audit_commit(a->ac->audit_spool, &ab) == -1)
		rc = -1;
	audit_buf_free(&ab);
	return rc;
}

static int
dberr(struct aa_adm *a, const char *what)
{
	char vis[LOG_VISBUF];
	enum db_class c = db_errclass(a->db);

	log_warnx("event=admin.db.fail command=%s step=%s class=%s msg=\"%s\"",
	    a->cmd, what, db_class_name(c), log_vis(vis, sizeof(vis),
	    db_error(a->db), strlen(db_error(a->db))));
	return c == DB_OK ? EX_SOFTWARE : db_class_exit(c) == EX_DATAERR ?
	    EX_DATAERR : db_class_exit(c);
}

/* Look a group up by name: 1 found (*id), 0 not, -1 error. */
static int
group_id(struct aa_adm *a, const char *name, unsigned long *id)
{
	size_t n;
	char *enc = pandora_safe_input(name, strlen(name), &n);
	struct db_stmt *st = db_prepare(a->db,
	    "SELECT id_grupo FROM tgrupo WHERE nombre = ? ORDER BY id_grupo "
	    "LIMIT 1");
	int r, found = 0;

	if (st == NULL || db_stmt_exec(st, (struct db_val[]){
	    DB_TEXTN(enc, n) }, 1) == -1) {
		free(enc);
		db_stmt_free(st);
		return -1;
	}
	free(enc);
	while ((r = db_stmt_fetch(st)) == 1) {
		*id = db_col_uint(st, 0);
		found = 1;
	}
	db_stmt_free(st);
	return r == -1 ? -1 : found;
}

static int
agent_id(struct aa_adm *a, const char *name, unsigned long *id)
{
	size_t n;
	char *enc = pandora_safe_input(name, strlen(name), &n);
	struct db_stmt *st = db_prepare(a->db,
	    "SELECT id_agente FROM tagente WHERE nombre = ? AND "
	    "nombre = BINARY ? ORDER BY id_agente LIMIT 1");
	int r, found = 0;

	/* Byte for byte, as every agent lookup (octospool-spool(5)). */
	if (st == NULL || db_stmt_exec(st, (struct db_val[]){
	    DB_TEXTN(enc, n), DB_TEXTN(enc, n) }, 2) == -1) {
		free(enc);
		db_stmt_free(st);
		return -1;
	}
	free(enc);
	while ((r = db_stmt_fetch(st)) == 1) {
		*id = db_col_uint(st, 0);
		found = 1;
	}
	db_stmt_free(st);
	return r == -1 ? -1 : found;
}

/* One column of a row as text ("\1" for NULL or no row). */
static int
read_col(struct aa_adm *a, const char *sql, unsigned long id, char *out,
    size_t outlen)
{
	struct db_stmt *st = db_prepare(a->db, sql);
	int r;

	strlcpy(out, "\1", outlen);
	if (st == NULL || db_stmt_exec(st, (struct db_val[]){ DB_UINT(id) },
	    1) == -1) {
		db_stmt_free(st);
		return -1;
	}
	while ((r = db_stmt_fetch(st)) == 1) {
		size_t n;
		const char *s = db_col_null(st, 0) ? NULL :
		    db_col_text(st, 0, &n);

		strlcpy(out, s ? s : "\1", outlen);
	}
	db_stmt_free(st);
	return r == -1 ? -1 : 0;
}

static int
exec1(struct aa_adm *a, const char *sql, const struct db_val *v, size_t n)
{
	struct db_stmt *st = db_prepare(a->db, sql);
	int rc = st == NULL ? -1 : db_stmt_exec(st, v, n);

	db_stmt_free(st);
	return rc;
}

/* Read the new password: terminal (twice, no echo) or a line of stdin. */
static int
read_password(char *pw, size_t len)
{
	if (isatty(STDIN_FILENO)) {
		char again[PW_MAX];

		if (readpassphrase("New group password: ", pw, len,
		    RPP_REQUIRE_TTY) == NULL ||
		    readpassphrase("Again: ", again, sizeof(again),
		    RPP_REQUIRE_TTY) == NULL)
			return -1;
		if (strcmp(pw, again) != 0) {
			OPENSSL_cleanse(again, sizeof(again));
			fprintf(stderr, "agent-auth: passwords differ\n");
			return -1;
		}
		OPENSSL_cleanse(again, sizeof(again));
	} else {
		size_t n;

		if (fgets(pw, len, stdin) == NULL)
			return -1;
		n = strcspn(pw, "\r\n");
		if (pw[n] == '\0' && n == len - 1) {
			fprintf(stderr, "agent-auth: password too long\n");
			return -1;
		}
		pw[n] = '\0';
	}
	if (pw[0] == '\0') {
		fprintf(stderr, "agent-auth: empty password refused\n");
		return -1;
	}
	return 0;
}

static int
onoff(const char *s)
{
	if (strcmp(s, "on") == 0 || strcmp(s, "yes") == 0)
		return 1;
	if (strcmp(s, "off") == 0 || strcmp(s, "no") == 0)
		return 0;
	return -1;
}

/* Make sure an octo_group_credential row exists for a->id. */
static int
ensure_cred(struct aa_adm *a)
{
	return exec1(a, "INSERT IGNORE INTO octo_group_credential "
	    "(id_grupo, updated_at) VALUES (?, ?)", (struct db_val[]){
	    DB_UINT(a->id), DB_INT((long long)time(NULL)) }, 2);
}

static int
ensure_policy(struct aa_adm *a)
{
	return exec1(a, "INSERT IGNORE INTO octo_agent_policy "
	    "(id_agente, updated_at) VALUES (?, ?)", (struct db_val[]){
	    DB_UINT(a->id), DB_INT((long long)time(NULL)) }, 2);
}

static int
cmd_list(struct aa_adm *a)
{
	struct db_stmt *st;
	int r;

	st = db_prepare(a->db, "SELECT g.id_grupo, g.nombre, "
	    "IF(LENGTH(COALESCE(c.hash, '')) > 0, 'set', 'none'), "
	    "COALESCE(c.kdf, '-'), COALESCE(c.self_create, 0), "
	    "COALESCE(CAST(c.max_agents AS CHAR), '-'), "
	    "COALESCE(c.cert_required, 0), "
	    "(SELECT COUNT(*) FROM tagente t WHERE t.id_grupo = g.id_grupo) "
	    "FROM tgrupo g LEFT JOIN octo_group_credential c "
	    "ON c.id_grupo = g.id_grupo ORDER BY g.id_grupo");
	if (st == NULL || db_stmt_exec(st, NULL, 0) == -1) {
		db_stmt_free(st);
		return dberr(a, "list");
	}
	printf("GROUP\tID\tPASSWORD\tKDF\tSELFCREATE\tMAX\tCERT\tAGENTS\n");
	while ((r = db_stmt_fetch(st)) == 1) {
		size_t n;
		const char *nm = db_col_text(st, 1, &n);
		char *dec = pandora_safe_output(nm, n, NULL);

		printf("%s\t%lld\t%s\t%s\t%s\t%s\t%s\t%lld\n", dec,
		    db_col_int(st, 0), db_col_text(st, 2, &n),
		    db_col_text(st, 3, &n), db_col_int(st, 4) ? "on" : "off",
		    db_col_text(st, 5, &n), db_col_int(st, 6) ? "on" : "off",
		    db_col_int(st, 7));
		free(dec);
	}
	db_stmt_free(st);
	if (r == -1)
		return dberr(a, "list");
	st = db_prepare(a->db, "SELECT a.nombre, a.id_agente, a.id_grupo, "
	    "COALESCE(p.cert_sha256, '-'), COALESCE(p.cert_cn, 0), "
	    "COALESCE(p.read_only, 0), COALESCE(p.no_learn, 0), "
	    "COALESCE(CAST(p.module_cap AS CHAR), '-') "
	    "FROM tagente a LEFT JOIN octo_agent_policy p "
	    "ON p.id_agente = a.id_agente ORDER BY a.id_agente");
	if (st == NULL || db_stmt_exec(st, NULL, 0) == -1) {
		db_stmt_free(st);
		return dberr(a, "list");
	}
	printf("\nAGENT\tID\tGROUP\tPIN\tCN\tREADONLY\tNOLEARN\tCAP\n");
	while ((r = db_stmt_fetch(st)) == 1) {
		size_t n;
		const char *nm = db_col_text(st, 0, &n);
		char *dec = pandora_safe_output(nm, n, NULL);
		char vis[LOG_VISBUF];

		printf("%s\t%lld\t%lld\t%s\t%s\t%s\t%s\t%s\n",
		    log_vis(vis, sizeof(vis), dec, strlen(dec)),
		    db_col_int(st, 1), db_col_int(st, 2),
		    db_col_text(st, 3, &n), db_col_int(st, 4) ? "on" : "off",
		    db_col_int(st, 5) ? "on" : "off",
		    db_col_int(st, 6) ? "on" : "off", db_col_text(st, 7, &n));
		free(dec);
	}
	db_stmt_free(st);
	return r == -1 ? dberr(a, "list") : EX_OK;
}

/* The change itself, inside the transaction; an exit code. */
static int
run_cmd(struct aa_adm *a, int argc, char **argv, long max, int have_max,
    int cn)
{
	const char *c = argv[0];
	char old[128], num[32];
	long long now = time(NULL);
	int f, r;

	if (strcmp(c, "group-add") == 0) {
		size_t n;
		char *enc;

		if (argc != 2)
			return EX_USAGE;
		a->target_kind = "group";
		a->target = argv[1];
		if ((r = group_id(a, argv[1], &a->id)) == -1)
			return dberr(a, "lookup");
		if (r == 1) {
			fprintf(stderr, "agent-auth: group exists\n");
			return EX_DATAERR;
		}
		enc = pandora_safe_input(argv[1], strlen(argv[1]), &n);
		r = exec1(a, "INSERT INTO tgrupo (nombre) VALUES (?)",
		    (struct db_val[]){ DB_TEXTN(enc, n) }, 1);
		free(enc);
		if (r == -1 || group_id(a, argv[1], &a->id) != 1)
			return dberr(a, "insert");
		change(a, "tgrupo.nombre", NULL, argv[1]);
		return EX_OK;
	}
	if (!strcmp(c, "passwd") || !strcmp(c, "selfcreate") ||
	    !strcmp(c, "certreq")) {
		a->target_kind = "group";
		if (argc < 2)
			return EX_USAGE;
		a->target = argv[1];
		if ((r = group_id(a, argv[1], &a->id)) == -1)
			return dberr(a, "lookup");
		if (r == 0) {
			fprintf(stderr, "agent-auth: no such group\n");
			return EX_DATAERR;
		}
		if (ensure_cred(a) == -1)
			return dberr(a, "insert");
	}
	if (strcmp(c, "passwd") == 0) {
		char pw[PW_MAX], kdf[33], params[256];
		unsigned char salt[AA_SALT_LEN], hash[AA_HASH_LEN];

		if (argc != 2)
			return EX_USAGE;
		if (read_col(a, "SELECT IF(LENGTH(hash) > 0, 'set', NULL) "
		    "FROM octo_group_credential WHERE id_grupo = ?", a->id,
		    old, sizeof(old)) == -1)
			return dberr(a, "read");
		if (read_password(pw, sizeof(pw)) == -1)
			return EX_DATAERR;
		r = aa_kdf_new(pw, strlen(pw), kdf, sizeof(kdf), params,
		    sizeof(params), salt, sizeof(salt), hash, sizeof(hash));
		OPENSSL_cleanse(pw, sizeof(pw));
		if (r == -1) {
			fprintf(stderr, "agent-auth: KDF failed\n");
			return EX_SOFTWARE;
		}
		r = exec1(a, "UPDATE octo_group_credential SET kdf = ?, "
		    "kdf_params = ?, salt = ?, hash = ?, updated_at = ? "
		    "WHERE id_grupo = ?", (struct db_val[]){ DB_TEXT(kdf),
		    DB_TEXT(params), DB_BLOB(salt, sizeof(salt)),
		    DB_BLOB(hash, sizeof(hash)), DB_INT(now),
		    DB_UINT(a->id) }, 6);
		OPENSSL_cleanse(hash, sizeof(hash));
		if (r == -1)
			return dberr(a, "update");
		/* The audit records that it changed, never the value. */
		change(a, "password", old, "set");
		change(a, "kdf", NULL, kdf);
		change(a, "kdf_params", NULL, params);
		return EX_OK;
	}
	if (strcmp(c, "selfcreate") == 0 || strcmp(c, "certreq") == 0) {
		const char *col = c[0] == 's' ? "self_create" : "cert_required";
		char sql[256];

		if (argc != 3 || (f = onoff(argv[2])) == -1 ||
		    (have_max && c[0] != 's'))
			return EX_USAGE;
		snprintf(sql, sizeof(sql), "SELECT %s FROM "
		    "octo_group_credential WHERE id_grupo = ?", col);
		if (read_col(a, sql, a->id, old, sizeof(old)) == -1)
			return dberr(a, "read");
		snprintf(sql, sizeof(sql), "UPDATE octo_group_credential SET "
		    "%s = ?, updated_at = ? WHERE id_grupo = ?", col);
		if (exec1(a, sql, (struct db_val[]){ DB_INT(f), DB_INT(now),
		    DB_UINT(a->id) }, 3) == -1)
			return dberr(a, "update");
		change(a, col, old, f ? "1" : "0");
		if (have_max) {
			if (read_col(a, "SELECT max_agents FROM "
			    "octo_group_credential WHERE id_grupo = ?", a->id,
			    old, sizeof(old)) == -1 ||
			    exec1(a, "UPDATE octo_group_credential SET "
			    "max_agents = ? WHERE id_grupo = ?",
			    (struct db_val[]){ DB_INT(max), DB_UINT(a->id) },
			    2) == -1)
				return dberr(a, "update");
			snprintf(num, sizeof(num), "%ld", max);
			change(a, "max_agents", old, num);
		}
		return EX_OK;
	}
	/* Agent policies. */
	if (strcmp(c, "pin") && strcmp(c, "unpin") && strcmp(c, "readonly") &&
	    strcmp(c, "nolearn") && strcmp(c, "cap"))
		return EX_USAGE;
	if (argc < 2)
		return EX_USAGE;
	a->target_kind = "agent";
	a->target = argv[1];
	if ((r = agent_id(a, argv[1], &a->id)) == -1)
		return dberr(a, "lookup");
	if (r == 0) {
		fprintf(stderr, "agent-auth: no such agent\n");
		return EX_DATAERR;
	}
	if (ensure_policy(a) == -1)
		return dberr(a, "insert");
	if (strcmp(c, "pin") == 0) {
		char fp[65], oldcn[16];
		size_t n = 0;

		if ((cn && argc != 2) || (!cn && argc != 3))
			return EX_USAGE;
		if (read_col(a, "SELECT cert_sha256 FROM octo_agent_policy "
		    "WHERE id_agente = ?", a->id, old, sizeof(old)) == -1 ||
		    read_col(a, "SELECT cert_cn FROM octo_agent_policy "
		    "WHERE id_agente = ?", a->id, oldcn, sizeof(oldcn)) == -1)
			return dberr(a, "read");
		if (cn) {
			if (exec1(a, "UPDATE octo_agent_policy SET cert_cn = 1, "
			    "updated_at = ? WHERE id_agente = ?",
			    (struct db_val[]){ DB_INT(now), DB_UINT(a->id) },
			    2) == -1)
				return dberr(a, "update");
			change(a, "cert_cn", oldcn, "1");
			return EX_OK;
		}
		for (const char *p = argv[2]; *p; p++) {
			if (*p == ':')
				continue;
			if (!isxdigit((unsigned char)*p) || n >= 64)
				return EX_USAGE;
			fp[n++] = tolower((unsigned char)*p);
		}
		fp[n] = '\0';
		if (n != 64) {
			fprintf(stderr, "agent-auth: want a SHA-256 "
			    "fingerprint (64 hex digits)\n");
			return EX_USAGE;
		}
		if (exec1(a, "UPDATE octo_agent_policy SET cert_sha256 = ?, "
		    "updated_at = ? WHERE id_agente = ?", (struct db_val[]){
		    DB_TEXT(fp), DB_INT(now), DB_UINT(a->id) }, 3) == -1)
			return dberr(a, "update");
		change(a, "cert_sha256", old, fp);
		return EX_OK;
	}
	if (strcmp(c, "unpin") == 0) {
		char oldcn[16];

		if (argc != 2)
			return EX_USAGE;
		if (read_col(a, "SELECT cert_sha256 FROM octo_agent_policy "
		    "WHERE id_agente = ?", a->id, old, sizeof(old)) == -1 ||
		    read_col(a, "SELECT cert_cn FROM octo_agent_policy "
		    "WHERE id_agente = ?", a->id, oldcn, sizeof(oldcn)) == -1 ||
		    exec1(a, "UPDATE octo_agent_policy SET cert_sha256 = NULL, "
		    "cert_cn = 0, updated_at = ? WHERE id_agente = ?",
		    (struct db_val[]){ DB_INT(now), DB_UINT(a->id) }, 2) == -1)
			return dberr(a, "update");
		change(a, "cert_sha256", old, NULL);
		change(a, "cert_cn", oldcn, "0");
		return EX_OK;
	}
	if (strcmp(c, "cap") == 0) {
		const char *es = NULL;
		long long v = -1;

		if (argc != 3)
			return EX_USAGE;
		if (strcmp(argv[2], "none") != 0) {
			v = strtonum(argv[2], 0, 2147483647LL, &es);
			if (es != NULL)
				return EX_USAGE;
		}
		if (read_col(a, "SELECT module_cap FROM octo_agent_policy "
		    "WHERE id_agente = ?", a->id, old, sizeof(old)) == -1 ||
		    exec1(a, "UPDATE octo_agent_policy SET module_cap = ?, "
		    "updated_at = ? WHERE id_agente = ?", (struct db_val[]){
		    v < 0 ? DB_NULL : DB_INT(v), DB_INT(now),
		    DB_UINT(a->id) }, 3) == -1)
			return dberr(a, "update");
		snprintf(num, sizeof(num), "%lld", v);
		change(a, "module_cap", old, v < 0 ? NULL : num);
		return EX_OK;
	}
	{
		const char *col = c[0] == 'r' ? "read_only" : "no_learn";
		char sql[256];

		if (argc != 3 || (f = onoff(argv[2])) == -1)
			return EX_USAGE;
		snprintf(sql, sizeof(sql), "SELECT %s FROM octo_agent_policy "
		    "WHERE id_agente = ?", col);
		if (read_col(a, sql, a->id, old, sizeof(old)) == -1)
			return dberr(a, "read");
		snprintf(sql, sizeof(sql), "UPDATE octo_agent_policy SET %s = ?, "
		    "updated_at = ? WHERE id_agente = ?", col);
		if (exec1(a, sql, (struct db_val[]){ DB_INT(f), DB_INT(now),
		    DB_UINT(a->id) }, 3) == -1)
			return dberr(a, "update");
		change(a, col, old, f ? "1" : "0");
		return EX_OK;
	}
}

/* Run one administrative command; an exit code. */
int
aa_admin(const struct aa_admin_ctx *ac, int argc, char **argv, long max,
    int have_max, int cn)
{
	struct db_conf dc;
	struct aa_adm a;
	char err[512];
	int rc;

	memset(&a, 0, sizeof(a));
	a.ac = ac;
	a.cmd = argv[0];
	if ((have_max && strcmp(argv[0], "selfcreate") != 0) ||
	    (cn && strcmp(argv[0], "pin") != 0)) {
		fprintf(stderr, "agent-auth: option not valid here\n");
		return EX_USAGE;
	}
	if (db_conf_load(&dc, ac->conf, ADMIN_SECTION, err, sizeof(err)) == -1)
		tool_conf_fatal(NULL, err);
	a.db = db_open(&dc);
	db_conf_free(&dc);
	if (a.db == NULL)
		fatalx(EX_SOFTWARE, "event=db.open.fail");
	if (db_connect(a.db) == -1) {
		rc = dberr(&a, "connect");
		db_close(a.db);
		return rc;
	}
	if (strcmp(argv[0], "list") == 0) {
		rc = argc == 1 ? cmd_list(&a) : EX_USAGE;
		db_close(a.db);
		return rc;
	}
	if (db_begin(a.db) == -1) {
		rc = dberr(&a, "begin");
		db_close(a.db);
		return rc;
	}
	rc = run_cmd(&a, argc, argv, max, have_max, cn);
	if (rc == EX_OK && admin_audit(&a) == -1) {
		log_warn("event=audit.fail command=%s", a.cmd);
		rc = EX_IOERR;
	}
	if (rc == EX_OK && db_commit(a.db) == -1)
		rc = dberr(&a, "commit");
	if (rc != EX_OK)
		(void)db_rollback(a.db);
	else {
		char vc[LOG_VISBUF], vt[LOG_VISBUF];

		log_info("event=admin.command command=%s %s=\"%s\" id=%lu "
		    "changes=%d uid=%u", log_vis(vc, sizeof(vc), a.cmd,
		    strlen(a.cmd)), a.target_kind, log_vis(vt, sizeof(vt),
		    a.target, strlen(a.target)), a.id, a.nch,
		    (unsigned)getuid());
	}
	db_close(a.db);
	if (rc == EX_USAGE)
		fprintf(stderr, "agent-auth: bad usage of %s; see agent-auth "
		    "-h\n", argv[0]);
	return rc;
}
