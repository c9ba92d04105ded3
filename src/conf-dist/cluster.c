/* SPDX-License-Identifier: ISC */
/*
 * Remote configuration on every node ("cluster db").  A publication (a
 * file and its .md5, each with its signed manifest) goes into the
 * database (octo_conf_file, octo_conf_head) in one transaction before
 * this node serves it; "conf-dist sync" on every node serves what the
 * database holds and it does not, after checking each manifest against
 * the cluster's keys, that it binds the file, and that its serial is
 * above the one served.  The database says what the cluster serves, each
 * node's tree follows it, and a node that was down catches up at its
 * first pass.  A node never serves anything no key of the cluster signed,
 * whatever the database holds.  See conf-dist(8) and doc/SCALING.md.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "db.h"
#include "log.h"
#include "tool.h"
#include "xalloc.h"

#include "confdist.h"

#define PUB_TRIES	6	/* a publication meeting conflicts */
#define SYNC_LIST_MAX	200	/* files named in one sync event */

#define CL		"cluster database"

static struct db_stmt *st_lock, *st_file, *st_head, *st_now, *st_changed,
    *st_get;

/* One try at putting a publication into the database. */
static int
cl_put(struct cd_out *o, struct cd_pub *p, size_t n, enum cd_kind kind,
    const char *subject, char *err, size_t errlen)
{
	unsigned long long floor = 0;
	struct db_val v[6];
	int r;

	if ((r = cd_db_open(CL, err, errlen)) != 0)
		return r;
	if (db_begin(cd_db()) == -1)
		return cd_db_fail(CL, "begin", err, errlen);
	/* The files' rows in the head table, locked: a publication for the
	 * same files elsewhere waits, or fails certification and retries. */
	if (cd_db_stmt(&st_lock, "SELECT serial FROM octo_conf_head WHERE dir = ? "
	    "AND name = ? FOR UPDATE") == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		v[0] = DB_TEXT(p[i].dir);
		v[1] = DB_TEXT(p[i].name);
		if (db_stmt_exec(st_lock, v, 2) == -1)
			goto fail;
		while ((r = db_stmt_fetch(st_lock)) == 1)
			if (db_col_uint(st_lock, 0) >= floor)
				floor = db_col_uint(st_lock, 0) + 1;
		if (r == -1)
			goto fail;
	}
	if (out_sign(o, p, n, floor, cd_signing_key(), kind, subject) == -1) {
		snprintf(err, errlen, "sign: %s", strerror(errno));
		(void)db_rollback(cd_db());
		return -1;
	}
	if (cd_db_stmt(&st_file, "INSERT INTO octo_conf_file (dir, name, serial, "
	    "body, manifest, node, published_at) VALUES (?, ?, ?, ?, ?, ?, "
	    "UNIX_TIMESTAMP())") == NULL ||
	    cd_db_stmt(&st_head, "INSERT INTO octo_conf_head (dir, name, serial, "
	    "file_id, changed_at) VALUES (?, ?, ?, ?, UNIX_TIMESTAMP()) "
	    "ON DUPLICATE KEY UPDATE serial = VALUES(serial), "
	    "file_id = VALUES(file_id), changed_at = VALUES(changed_at)") ==
	    NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		unsigned long long id;

		v[0] = DB_TEXT(p[i].dir);
		v[1] = DB_TEXT(p[i].name);
		v[2] = DB_UINT(p[i].serial);
		v[3] = DB_BLOB(p[i].buf, p[i].len);
		v[4] = DB_BLOB(p[i].sig, p[i].siglen);
		v[5] = DB_TEXT(cd_cf.node);
		if (db_stmt_exec(st_file, v, 6) == -1)
			goto fail;
		id = db_stmt_insert_id(st_file);
		v[3] = DB_UINT(id);
		if (db_stmt_exec(st_head, v, 4) == -1)
			goto fail;
	}
	if (db_commit(cd_db()) == -1)
		return cd_db_fail(CL, "commit", err, errlen);
	log_info("event=cluster.put %s=%s files=%zu serial=%llu server=%s",
	    manifest_kind_name(kind), subject, n, p[n - 1].serial,
	    db_server(cd_db()));
	return 0;
fail:
	r = cd_db_fail(CL, "publish", err, errlen);
	if (cd_db() != NULL && r == -2)
		(void)db_rollback(cd_db());
	return r;
}

int
cd_publish(struct cd_out *o, struct cd_pub *p, size_t n, enum cd_kind kind,
    const char *subject, char *err, size_t errlen)
{
	int r;

	if (!cd_cf.cluster_db) {
		if (out_sign(o, p, n, 0, cd_signing_key(), kind,
		    subject) == -1) {
			snprintf(err, errlen, "sign: %s", strerror(errno));
			return -1;
		}
		return 0;
	}
	for (int t = 1;; t++) {
		r = cl_put(o, p, n, kind, subject, err, errlen);
		/* A conflict, a lock wait, a node leaving the cluster: again,
		 * through the next server; a server that does not answer
		 * at all has had db_connect's whole retry_time. */
		if (r != -2 || !cd_db_retry() || t == PUB_TRIES)
			break;
		log_warnx("event=cluster.retry try=%d msg=\"%s\"", t, err);
	}
	if (r == 0)
		cd_crash_point("cluster-put");
	return r;
}

int
cd_publish_serve(struct cd_out *o, struct cd_pub *p, size_t n,
    enum cd_kind kind, const char *subject, char *err, size_t errlen)
{
	static const char *const points[] = { "conf-published",
	    "md5-published" };
	int r;

	if ((r = cd_publish(o, p, n, kind, subject, err, errlen)) != 0)
		return r == -2 ? EX_TEMPFAIL : r == -3 ? EX_CONFIG : EX_IOERR;
	/* In order: the file before its md5, so a new md5 always has its
	 * file. */
	for (size_t i = 0; i < n; i++) {
		if (out_put(&p[i]) == -1) {
			snprintf(err, errlen, "serve %s: %s", p[i].name,
			    strerror(errno));
			return EX_IOERR;
		}
		if (i < sizeof(points) / sizeof(points[0]))
			cd_crash_point(points[i]);
	}
	return EX_OK;
}

/* ---- keys ---- */

void
cd_keys_load(struct cd_keys *ks, char *const *paths, size_t n)
{
	char err[512];

	memset(ks, 0, sizeof(*ks));
	ks->k = xcalloc(n + 1, sizeof(*ks->k));
	ks->id = xcalloc(n + 1, sizeof(*ks->id));
	for (size_t i = 0; i < n; i++) {
		if ((ks->k[ks->n] = sig_load_public(paths[i], err,
		    sizeof(err))) == NULL)
			fatalx(EX_CONFIG, "event=key.error msg=\"%s\"", err);
		if (sig_keyid(ks->k[ks->n], ks->id[ks->n]) == -1)
			fatalx(EX_CONFIG, "event=key.error path=%s", paths[i]);
		ks->n++;
	}
}

void
cd_keys_free(struct cd_keys *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		EVP_PKEY_free(ks->k[i]);
	free(ks->k);
	free(ks->id);
	memset(ks, 0, sizeof(*ks));
}

int
cd_manifest_check(const struct cd_keys *ks, const char *buf, size_t len,
    struct cd_manifest *m, char *err, size_t errlen)
{
	if (manifest_parse(buf, len, m, NULL, err, errlen) == -1)
		return -1;
	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(ks->id[i], m->keyid) == 0)
			return manifest_parse(buf, len, m, ks->k[i], err,
			    errlen);
	snprintf(err, errlen, "signed by key %s, which is not one of the "
	    "cluster's", m->keyid);
	return -1;
}

/* ---- sync: serve what the database holds ---- */

/* The serial served for each file, "dir/name" (sorted). */
struct served {
	char			*key;
	unsigned long long	 serial;
};

struct sync {
	struct cd_out	 o;
	struct cd_keys	 keys;
	struct served	*s;
	size_t		 n, cap;
	struct served	*refused;	/* said once per file and serial */
	size_t		 nrefused;
};

static const char *const sync_dirs[] = { "conf", "collections", "commands",
    "md5" };

static int
served_cmp(const void *a, const void *b)
{
	return strcmp(((const struct served *)a)->key,
	    ((const struct served *)b)->key);
}

static struct served *
served_find(struct served *s, size_t n, const char *key)
{
	struct served k = { .key = (char *)key };

	return n == 0 ? NULL : bsearch(&k, s, n, sizeof(*s), served_cmp);
}

static void
served_set(struct sync *y, const char *key, unsigned long long serial)
{
	struct served *f = served_find(y->s, y->n, key);
	size_t i;

	if (f != NULL) {
		f->serial = serial;
		return;
	}
	if (y->n == y->cap) {
		y->cap = y->cap ? y->cap * 2 : 256;
		y->s = xreallocarray(y->s, y->cap, sizeof(*y->s));
	}
	for (i = y->n; i > 0 && strcmp(y->s[i - 1].key, key) > 0; i--)
		y->s[i] = y->s[i - 1];
	y->s[i].key = xstrdup(key);
	y->s[i].serial = serial;
	y->n++;
}

static int
dir_fd(const struct cd_out *o, const char *dir)
{
	return strcmp(dir, "conf") == 0 ? o->conffd :
	    strcmp(dir, "md5") == 0 ? o->md5fd :
	    strcmp(dir, "collections") == 0 ? o->collfd :
	    strcmp(dir, "commands") == 0 ? o->cmdfd : -1;
}

/* The serial of the manifest served beside name in dir (0: none). */
static unsigned long long
served_serial(int dirfd, const char *name)
{
	struct cd_manifest m;
	char sname[512], err[256], *sig;
	size_t len;
	unsigned long long serial = 0;

	if ((size_t)snprintf(sname, sizeof(sname), "%s.sig", name) >=
	    sizeof(sname) || (sig = out_read(dirfd, sname, CD_MANIFEST_MAX,
	    &len)) == NULL)
		return 0;
	if (manifest_parse(sig, len, &m, NULL, err, sizeof(err)) == 0)
		serial = m.serial;
	free(sig);
	return serial;
}

/* What this node serves, from its manifests (read once per process). */
static int
served_load(struct sync *y)
{
	for (size_t d = 0; d < sizeof(sync_dirs) / sizeof(sync_dirs[0]);
	    d++) {
		int fd = dup(dir_fd(&y->o, sync_dirs[d]));
		struct dirent *de;
		DIR *dp;

		if (fd == -1 || (dp = fdopendir(fd)) == NULL) {
			if (fd != -1)
				close(fd);
			return -1;
		}
		while ((de = readdir(dp)) != NULL) {
			size_t l = strlen(de->d_name);
			char name[256], key[300];

			if (de->d_name[0] == '.' || l <= 4 || l - 4 >=
			    sizeof(name) || strcmp(de->d_name + l - 4,
			    ".sig") != 0)
				continue;
			memcpy(name, de->d_name, l - 4);
			name[l - 4] = '\0';
			snprintf(key, sizeof(key), "%s/%s", sync_dirs[d], name);
			served_set(y, key, served_serial(dirfd(dp), name));
		}
		closedir(dp);
	}
	return 0;
}

/* Is a head row's file one this node could serve: a known directory, a
 * served name of the right kind for it? */
static int
row_name_ok(const char *dir, const char *name, char *why, size_t whylen)
{
	enum cd_kind kind;
	char subject[256];
	size_t l = strlen(name);
	const char *sfx = strrchr(name, '.');

	if (l == 0 || l > 255 || name[0] == '.' || strchr(name, '/') != NULL ||
	    sfx == NULL || manifest_expect(name, &kind, subject,
	    sizeof(subject)) == -1) {
		snprintf(why, whylen, "not a name conf-dist serves");
		return 0;
	}
	if ((strcmp(dir, "conf") == 0 && strcmp(sfx, ".conf") == 0) ||
	    (strcmp(dir, "md5") == 0 && strcmp(sfx, ".md5") == 0) ||
	    (strcmp(dir, "collections") == 0 && strcmp(sfx, ".zip") == 0) ||
	    (strcmp(dir, "commands") == 0 && strcmp(sfx, ".rcmd") == 0))
		return 1;
	snprintf(why, whylen, "not a name served in %s/", dir);
	return 0;
}

/* The largest file a directory holds. */
static size_t
dir_max(const char *dir)
{
	if (strcmp(dir, "md5") == 0)
		return 32;
	if (strcmp(dir, "collections") == 0)
		return (size_t)cd_cf.coll_max_size;
	return (size_t)cd_cf.max_size;
}

struct todo {
	char			 dir[16];
	char			 name[256];
	unsigned long long	 serial;
	unsigned long long	 id;
	long long		 blen, mlen;	/* -1: no such file row */
};

static int
todo_cmp(const void *a, const void *b)
{
	const struct todo *x = a, *y = b;
	int mx = strcmp(x->dir, "md5") == 0, my = strcmp(y->dir, "md5") == 0;

	/* The md5 files last, as a publisher writes them: a new md5 is
	 * never served before the file it describes. */
	if (mx != my)
		return mx - my;
	return x->serial < y->serial ? -1 : x->serial > y->serial;
}

static void
sync_refuse(struct sync *y, struct audit_buf *ab, size_t *nref,
    const struct todo *t, const char *node, const char *why)
{
	char key[300];

	snprintf(key, sizeof(key), "%s/%s", t->dir, t->name);
	for (size_t i = 0; i < y->nrefused; i++)
		if (y->refused[i].serial == t->serial &&
		    strcmp(y->refused[i].key, key) == 0)
			return;
	y->refused = xreallocarray(y->refused, y->nrefused + 1,
	    sizeof(*y->refused));
	y->refused[y->nrefused].key = xstrdup(key);
	y->refused[y->nrefused++].serial = t->serial;
	log_warnx("event=sync.refused file=%s serial=%llu node=\"%s\" "
	    "reason=\"%s\"", key, t->serial, node, why);
	if ((*nref)++ < SYNC_LIST_MAX) {
		audit_raw(ab, *nref > 1 ? ",{\"file\":" : "{\"file\":");
		audit_jstr(ab, key, strlen(key), 300);
		audit_num(ab, "serial", (long long)t->serial);
		audit_str(ab, "node", node);
		audit_str(ab, "reason", why);
		audit_raw(ab, "}");
	}
}

/* Serve one file of the database: 1 served, 0 nothing to do, -1 refused
 * (why), -2/-3 database, -4 the served tree (err). */
static int
sync_one(struct sync *y, const struct todo *t, char *node, size_t nodelen,
    char *why, size_t whylen, char *err, size_t errlen)
{
	struct cd_manifest m;
	struct cd_pub p;
	struct db_val v[1];
	enum cd_kind kind;
	char subject[256], key[300];
	const char *body, *man;
	size_t blen, mlen;
	unsigned long long cur;
	int r, fd;

	snprintf(node, nodelen, "?");
	if (t->blen < 0 || t->mlen < 0) {
		snprintf(why, whylen, "no row %llu in octo_conf_file", t->id);
		return -1;
	}
	if ((unsigned long long)t->blen > dir_max(t->dir) ||
	    t->mlen > CD_MANIFEST_MAX) {
		snprintf(why, whylen, "%lld bytes and a manifest of %lld, more "
		    "than %s/ takes", t->blen, t->mlen, t->dir);
		return -1;
	}
	if (cd_db_stmt(&st_get, "SELECT body, manifest, node, serial FROM "
	    "octo_conf_file WHERE id = ?") == NULL)
		return cd_db_fail(CL, "prepare", err, errlen);
	v[0] = DB_UINT(t->id);
	if (db_stmt_exec(st_get, v, 1) == -1)
		return cd_db_fail(CL, "read a file", err, errlen);
	if ((r = db_stmt_fetch(st_get)) != 1) {
		if (r == -1)
			return cd_db_fail(CL, "read a file", err, errlen);
		snprintf(why, whylen, "no row %llu in octo_conf_file", t->id);
		return -1;
	}
	body = db_col_text(st_get, 2, &blen);
	log_vis(node, nodelen, body, blen);
	body = db_col_text(st_get, 0, &blen);
	man = db_col_text(st_get, 1, &mlen);
	r = -1;
	if (db_col_uint(st_get, 3) != t->serial) {
		snprintf(why, whylen, "the file row's serial is not the head's");
		goto done;
	}
	/* Read again: the row may have changed since the sizes. */
	if (blen > dir_max(t->dir) || mlen > CD_MANIFEST_MAX) {
		snprintf(why, whylen, "%zu bytes, more than %s/ takes", blen,
		    t->dir);
		goto done;
	}
	if (cd_manifest_check(&y->keys, man, mlen, &m, why, whylen) == -1)
		goto done;
	if (manifest_expect(t->name, &kind, subject, sizeof(subject)) == -1 ||
	    !manifest_binds(&m, kind, subject, t->name, body, blen, why,
	    whylen))
		goto done;
	if (m.serial != t->serial) {
		snprintf(why, whylen, "the manifest's serial %llu is not the "
		    "row's", m.serial);
		goto done;
	}
	fd = dir_fd(&y->o, t->dir);
	snprintf(key, sizeof(key), "%s/%s", t->dir, t->name);
	/* What is served now, read again under the lock: another conf-dist
	 * of this node may have published since. */
	if ((cur = served_serial(fd, t->name)) >= m.serial) {
		served_set(y, key, cur);
		r = 0;
		goto done;
	}
	memset(&p, 0, sizeof(p));
	p.dirfd = fd;
	p.dir = t->dir;
	p.name = t->name;
	p.buf = body;
	p.len = blen;
	memcpy(p.sig, man, mlen);
	p.siglen = mlen;
	if (out_put(&p) == -1) {
		snprintf(err, errlen, "serve %s: %s", key, strerror(errno));
		r = -4;
		goto done;
	}
	served_set(y, key, m.serial);
	r = 1;
done:
	/* The row's buffers were in use until here. */
	while (db_stmt_fetch(st_get) == 1)
		;
	return r;
}

/* A cd_db_* failure as an exit code: 75 for now, 78 configuration. */
static int
dbcode(int r)
{
	return r == -2 ? EX_TEMPFAIL : EX_CONFIG;
}

/*
 * One pass: the head rows changed since since (DB clock; 0: all), each
 * one newer than what is served, checked and served.  One audit event
 * lists what was served and what was refused.  0, or an exit code.
 */
static int
sync_pass(struct sync *y, long long since, long long *dbnow, size_t *nserved)
{
	struct audit_buf ab, rb;
	struct todo *t = NULL;
	struct db_val v[1];
	size_t nt = 0, ns = 0, nref = 0, listed = 0;
	char err[512], why[512], node[256];
	int r, rc = EX_OK, acl = 0;

	*nserved = 0;
	if ((r = cd_db_open(CL, err, sizeof(err))) != 0)
		goto dbfail;
	if (cd_db_stmt(&st_now, "SELECT UNIX_TIMESTAMP()") == NULL ||
	    db_stmt_exec(st_now, NULL, 0) == -1 ||
	    db_stmt_fetch(st_now) != 1) {
		r = cd_db_fail(CL, "clock", err, sizeof(err));
		goto dbfail;
	}
	*dbnow = db_col_int(st_now, 0);
	while (db_stmt_fetch(st_now) == 1)
		;
	/* The sizes first: a row too large is refused before it is read. */
	if (cd_db_stmt(&st_changed, "SELECT h.dir, h.name, h.serial, h.file_id, "
	    "COALESCE(LENGTH(f.body), -1), COALESCE(LENGTH(f.manifest), -1) "
	    "FROM octo_conf_head h LEFT JOIN octo_conf_file f ON "
	    "f.id = h.file_id WHERE h.changed_at >= ?") == NULL) {
		r = cd_db_fail(CL, "prepare", err, sizeof(err));
		goto dbfail;
	}
	v[0] = DB_INT(since);
	if (db_stmt_exec(st_changed, v, 1) == -1) {
		r = cd_db_fail(CL, "read the head", err, sizeof(err));
		goto dbfail;
	}
	audit_buf_init(&ab);
	audit_buf_init(&rb);
	while ((r = db_stmt_fetch(st_changed)) == 1) {
		struct todo x;
		struct served *f;
		const char *s;
		size_t l;
		char key[300];

		memset(&x, 0, sizeof(x));
		s = db_col_text(st_changed, 0, &l);
		if (l >= sizeof(x.dir))
			continue;
		memcpy(x.dir, s, l);
		s = db_col_text(st_changed, 1, &l);
		if (l >= sizeof(x.name))
			continue;
		memcpy(x.name, s, l);
		x.serial = db_col_uint(st_changed, 2);
		x.id = db_col_uint(st_changed, 3);
		x.blen = db_col_int(st_changed, 4);
		x.mlen = db_col_int(st_changed, 5);
		if (!row_name_ok(x.dir, x.name, why, sizeof(why))) {
			sync_refuse(y, &rb, &nref, &x, "?", why);
			continue;
		}
		snprintf(key, sizeof(key), "%s/%s", x.dir, x.name);
		if ((f = served_find(y->s, y->n, key)) != NULL &&
		    f->serial >= x.serial)
			continue;
		t = xreallocarray(t, nt + 1, sizeof(*t));
		t[nt++] = x;
	}
	if (r == -1) {
		rc = dbcode(cd_db_fail(CL, "read the head", err, sizeof(err)));
		log_warnx("event=sync.fail msg=\"%s\"", err);
		goto out;
	}
	if (nt == 0 && nref == 0)
		goto out;
	qsort(t, nt, sizeof(*t), todo_cmp);
	audit_begin(&ab, CD_TOOL, "config.sync", "served");
	audit_str(&ab, "node", cd_cf.node);
	audit_raw(&ab, ",\"files\":[");
	if (out_lock(&y->o) == -1) {
		log_warn("event=sync.lock");
		rc = EX_IOERR;
		goto out;
	}
	for (size_t i = 0; i < nt; i++) {
		char key[300];

		r = sync_one(y, &t[i], node, sizeof(node), why, sizeof(why),
		    err, sizeof(err));
		if (r == -1) {
			sync_refuse(y, &rb, &nref, &t[i], node, why);
			continue;
		}
		if (r < -1) {
			/* The database (-2, -3) or the served tree (-4):
			 * what was served so far is audited below. */
			log_warnx("event=sync.fail msg=\"%s\"", err);
			rc = r == -4 ? EX_IOERR : dbcode(r);
			break;
		}
		if (r == 0)
			continue;
		ns++;
		if (strcmp(t[i].dir, "md5") != 0)
			acl = 1;
		snprintf(key, sizeof(key), "%s/%s", t[i].dir, t[i].name);
		log_info("event=sync.served file=%s serial=%llu node=\"%s\"",
		    key, t[i].serial, node);
		if (listed++ < SYNC_LIST_MAX) {
			audit_raw(&ab, listed > 1 ? ",{\"file\":" :
			    "{\"file\":");
			audit_jstr(&ab, key, strlen(key), 300);
			audit_num(&ab, "serial", (long long)t[i].serial);
			audit_str(&ab, "node", node);
			audit_raw(&ab, "}");
		}
	}
	if (acl && coll_acl_sync(&y->o, why, sizeof(why)) == -1) {
		log_warnx("event=sync.fail msg=\"collection access lists: %s\"",
		    why);
		rc = EX_IOERR;
	}
	out_unlock(&y->o);
	audit_raw(&ab, "]");
	if (listed > SYNC_LIST_MAX)
		audit_num(&ab, "files_omitted",
		    (long long)(listed - SYNC_LIST_MAX));
	if (nref > 0) {
		audit_raw(&ab, ",\"refused\":[");
		audit_raw(&ab, rb.buf != NULL ? rb.buf : "");
		audit_raw(&ab, "]");
		if (nref > SYNC_LIST_MAX)
			audit_num(&ab, "refused_omitted",
			    (long long)(nref - SYNC_LIST_MAX));
	}
	audit_end(&ab);
	if ((ns > 0 || nref > 0) && audit_commit(cd_cf.audit_spool,
	    &ab) == -1) {
		log_warn("event=audit.fail action=config.sync");
		rc = EX_TEMPFAIL;
	}
	*nserved = ns;
out:
	free(t);
	audit_buf_free(&ab);
	audit_buf_free(&rb);
	return rc;
dbfail:
	log_warnx("event=sync.fail msg=\"%s\"", err);
	return dbcode(r);
}

static volatile sig_atomic_t sync_stop;

int
cmd_sync(int argc, char **argv)
{
	struct sync y;
	char err[512];
	char **paths;
	long long dbnow = 0, last = 0, next_full = 0;
	size_t np = 0, nserved;
	int ch, follow = 0, rc = EX_OK;
	struct timespec ts;

	optind = 1;
	while ((ch = getopt(argc, argv, "f")) != -1) {
		if (ch != 'f')
			return EX_USAGE;
		follow = 1;
	}
	if (optind != argc)
		return EX_USAGE;
	if (!cd_cf.cluster_db)
		fatalx(EX_CONFIG, "event=config.error key=cluster msg=\"sync "
		    "needs cluster db\"");
	memset(&y, 0, sizeof(y));
	/* Keys and the password while root may read them, then the user. */
	paths = xcalloc(cd_cf.ncluster_pubkeys + 1, sizeof(*paths));
	paths[np++] = cd_cf.sign_pubkey;
	for (size_t i = 0; i < cd_cf.ncluster_pubkeys; i++)
		paths[np++] = cd_cf.cluster_pubkeys[i];
	cd_keys_load(&y.keys, paths, np);
	free(paths);
	cd_become_service();
	if (out_open(&y.o, cd_cf.out_dir, err, sizeof(err)) == -1)
		fatalx(EX_IOERR, "event=sync.fail msg=\"%s\"", err);
	if (served_load(&y) == -1)
		fatal(EX_IOERR, "event=sync.fail msg=\"reading the served "
		    "tree\"");
	tool_catch_stop(&sync_stop);
	log_info("event=sync.start node=\"%s\" keys=%zu served=%zu follow=%d",
	    cd_cf.node, y.keys.n, y.n, follow);
	do {
		/* Everything at the start and every cluster_full seconds;
		 * between, what changed since the last good pass began,
		 * looking back far enough for replication delays and the
		 * nodes' clocks (database time, UNIX_TIMESTAMP()). */
		long long since = last == 0 || last >= next_full ? 0 :
		    last - cd_cf.cluster_lookback;

		rc = sync_pass(&y, since, &dbnow, &nserved);
		if (rc == EX_OK) {
			if (since == 0)
				next_full = dbnow + cd_cf.cluster_full;
			last = dbnow;
		}
		if (!follow || sync_stop)
			break;
		ts.tv_sec = cd_cf.cluster_poll;
		ts.tv_nsec = 0;
		while (!sync_stop && nanosleep(&ts, &ts) == -1 &&
		    errno == EINTR)
			;
	} while (!sync_stop);
	out_close(&y.o);
	cd_keys_free(&y.keys);
	for (size_t i = 0; i < y.n; i++)
		free(y.s[i].key);
	free(y.s);
	for (size_t i = 0; i < y.nrefused; i++)
		free(y.refused[i].key);
	free(y.refused);
	log_info("event=sync.done rc=%d", rc);
	return follow && sync_stop ? EX_OK : rc;
}
