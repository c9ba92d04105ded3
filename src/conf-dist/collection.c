/* SPDX-License-Identifier: ISC */
/*
 * Collections: a directory of plugins and scripts that agents listing
 * "file_collection NAME" download as collections/NAME.zip when
 * md5/NAME.md5 changes, unzip into <confdir>/collections/NAME and put
 * on their PATH.  The zip is built here from a copy of every file, so
 * the audited SHA-256 list is exactly what the archive holds.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "audit.h"
#include "log.h"
#include "xalloc.h"
#include "zip.h"

#include "confdist.h"

#define COLL_NAME_MAX	64
#define COLL_DEPTH_MAX	16

struct coll_file {
	char	*path;
	off_t	 size;
	time_t	 mtime;
	mode_t	 mode;
	char	 sha[65];
};

struct coll {
	struct coll_file *f;
	size_t		 n;
	off_t		 total;
	int		 blob;		/* every file's bytes, in order */
	char		 why[512];
};

/* c->why = "<path, escaped>: msg". */
static void
why_path(struct coll *c, const char *rel, const char *msg)
{
	char v[LOG_VISBUF];

	snprintf(c->why, sizeof(c->why), "%.300s: %s",
	    log_vis(v, sizeof(v), rel, strlen(rel)), msg);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
copy_in(struct coll *c, int fd, const char *rel, const struct stat *sb)
{
	unsigned char buf[65536], md[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct coll_file *f;
	off_t left = sb->st_size;
	unsigned int ml = 0;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		snprintf(c->why, sizeof(c->why), "out of memory");
		return -1;
	}
	while (left > 0) {
		ssize_t n = read(fd, buf, left > (off_t)sizeof(buf) ?
		    sizeof(buf) : (size_t)left);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || write(c->blob, buf, n) != n) {
			why_path(c, rel, n == 0 ? "changed while read" :
			    strerror(errno));
			EVP_MD_CTX_free(ctx);
			return -1;
		}
		EVP_DigestUpdate(ctx, buf, n);
		left -= n;
	}
	EVP_DigestFinal_ex(ctx, md, &ml);
	EVP_MD_CTX_free(ctx);
	c->f = xreallocarray(c->f, c->n + 1, sizeof(*c->f));
	f = &c->f[c->n++];
	f->path = xstrdup(rel);
	f->size = sb->st_size;
	f->mtime = sb->st_mtime;
	f->mode = sb->st_mode & 0755;
	for (unsigned i = 0; i < ml; i++)
		snprintf(f->sha + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* Copy every regular file under dirfd (sorted, depth first). */
static int
walk(struct coll *c, int dirfd, const char *prefix, int depth)
{
	char **names = NULL, rel[4096];
	size_t n = 0;
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	if (depth > COLL_DEPTH_MAX) {
		why_path(c, prefix, "too many directory levels");
		return -1;
	}
	if ((fd = dup(dirfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		why_path(c, prefix[0] ? prefix : ".", strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct stat sb;
		int efd;

		if ((size_t)snprintf(rel, sizeof(rel), "%s%s%s", prefix,
		    prefix[0] ? "/" : "", names[i]) >= sizeof(rel)) {
			snprintf(c->why, sizeof(c->why), "path too long");
			rc = -1;
			break;
		}
		/* Never follow a link: what is audited is what is in DIR. */
		if ((efd = openat(dirfd, names[i], O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC | O_NONBLOCK)) == -1 || fstat(efd, &sb) == -1) {
			why_path(c, rel, errno == ELOOP ?
			    "a symbolic link (refused)" : strerror(errno));
			if (efd != -1)
				close(efd);
			rc = -1;
			break;
		}
		if (S_ISDIR(sb.st_mode))
			rc = walk(c, efd, rel, depth + 1);
		else if (!S_ISREG(sb.st_mode)) {
			why_path(c, rel, "not a regular file or directory");
			rc = -1;
		} else if ((long long)c->n >= cd_cf.coll_max_files ||
		    c->total + sb.st_size > cd_cf.coll_max_size) {
			snprintf(c->why, sizeof(c->why), "more than "
			    "collection_max_files (%lld) or "
			    "collection_max_size (%lld bytes)",
			    cd_cf.coll_max_files, cd_cf.coll_max_size);
			rc = -1;
		} else {
			c->total += sb.st_size;
			rc = copy_in(c, efd, rel, &sb);
		}
		close(efd);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* A collection or command name the agent accepts and nobody can
 * confuse; what is "collections" or "commands". */
int
cd_name_ok(const char *what, const char *name, char *why, size_t whylen)
{
	const char *kind = strcmp(what, "commands") == 0 ? "command" :
	    "collection";
	size_t l = strlen(name);

	if (l == 0 || l > COLL_NAME_MAX ||
	    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_.-") != l || name[0] == '.' || name[0] == '-' ||
	    strstr(name, "..") != NULL) {
		snprintf(why, whylen, "%s names are 1..%d of [A-Za-z0-9_.-], "
		    "no '/', no '..', not starting with '.' or '-'", kind,
		    COLL_NAME_MAX);
		return 0;
	}
	/* <32 hex>... is an agent's key in md5/: never a collection. */
	if (strspn(name, "0123456789abcdefABCDEF") >= 32) {
		snprintf(why, whylen, "a name starting with 32 hex digits "
		    "is an agent key");
		return 0;
	}
	return 1;
}

static void
coll_free(struct coll *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->f[i].path);
	free(c->f);
	if (c->blob != -1)
		close(c->blob);
}

int
cmd_collection_publish(const char *name, const char *dir)
{
	struct cd_who who;
	struct coll c;
	struct cd_out o;
	struct audit_buf ab;
	struct zip_member *m = NULL;
	char why[512], zname[128], mname[128], md5[33], sha[65];
	char oldmd5[33] = "", err[512], *old, *zip = MAP_FAILED;
	const char *outcome;
	size_t oldlen;
	off_t zlen = 0;
	int dfd, zfd = -1, rc = EX_OK, current;

	memset(&c, 0, sizeof(c));
	c.blob = -1;
	memset(&o, -1, sizeof(o));
	audit_buf_init(&ab);
	if (!cd_am_service())
		fatalx(EX_NOPERM, "event=collection.refused reason=\"run "
		    "collection publish as root or as %s\"", cd_cf.user);
	who_init(&who, getuid(), "direct", NULL);
	if (!cd_name_ok("collections", name, why, sizeof(why)) ||
	    !acl_collection_ok(&cd_cf, &who, name, why, sizeof(why))) {
		rc = strstr(why, "acl_") ? EX_NOPERM : EX_DATAERR;
		goto refuse;
	}
	/* Read DIR as the caller (root reads before it drops). */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(why, sizeof(why), "%s: %s", dir, strerror(errno));
		rc = EX_NOINPUT;
		goto refuse;
	}
	if ((c.blob = memfd_create("conf-dist-collection", MFD_CLOEXEC)) ==
	    -1 || (zfd = memfd_create("conf-dist-zip", MFD_CLOEXEC)) == -1)
		fatal(EX_OSERR, "event=memfd");
	if (walk(&c, dfd, "", 0) == -1) {
		close(dfd);
		snprintf(why, sizeof(why), "%s", c.why);
		rc = EX_DATAERR;
		goto refuse;
	}
	close(dfd);
	if (c.n == 0) {
		snprintf(why, sizeof(why), "%s holds no files", dir);
		rc = EX_DATAERR;
		goto refuse;
	}
	m = xcalloc(c.n, sizeof(*m));
	for (size_t i = 0; i < c.n; i++) {
		m[i].name = c.f[i].path;
		m[i].fd = c.blob;	/* the files follow one another */
		m[i].size = c.f[i].size;
		m[i].mtime = c.f[i].mtime;
		m[i].mode = c.f[i].mode;
	}
	if (lseek(c.blob, 0, SEEK_SET) == -1 ||
	    zip_create_multi(m, c.n, zfd, &zlen, err, sizeof(err)) !=
	    ZIP_OK) {
		snprintf(why, sizeof(why), "zip: %.400s", err);
		rc = EX_DATAERR;
		goto refuse;
	}
	cd_become_service();
	if ((zip = mmap(NULL, zlen, PROT_READ, MAP_PRIVATE, zfd, 0)) ==
	    MAP_FAILED)
		fatal(EX_OSERR, "event=mmap");
	md5_hex(zip, zlen, md5);
	sha256_hex(zip, zlen, sha);
	snprintf(zname, sizeof(zname), "%s.zip", name);
	snprintf(mname, sizeof(mname), "%s.md5", name);
	if (out_open(&o, cd_cf.out_dir, err, sizeof(err)) == -1 ||
	    out_lock(&o) == -1)
		fatalx(EX_IOERR, "event=collection.fail msg=\"%s\"", err);
	if ((old = out_read(o.md5fd, mname, 64, &oldlen)) != NULL) {
		snprintf(oldmd5, sizeof(oldmd5), "%.32s", old);
		free(old);
	}
	if (cd_shelf_taken(&o, CD_COLLECTION, name, why, sizeof(why))) {
		rc = EX_DATAERR;
		out_close(&o);
		goto refuse;
	}
	current = out_is_current(o.collfd, zname, zip, zlen,
	    cd_signing_key(), CD_COLLECTION, name) && out_is_current(o.md5fd,
	    mname, md5, 32, cd_signing_key(), CD_COLLECTION, name);
	outcome = current ? "unchanged" : "published";
	audit_begin(&ab, CD_TOOL, "collection.publish", outcome);
	audit_str(&ab, "collection", name);
	cd_audit_who(&ab, &who);
	audit_str(&ab, "md5", md5);
	audit_str(&ab, "sha256", sha);
	audit_num(&ab, "size", (long long)zlen);
	audit_str(&ab, "old_md5", oldmd5[0] ? oldmd5 : NULL);
	audit_num(&ab, "nfiles", (long long)c.n);
	audit_raw(&ab, ",\"files\":[");
	for (size_t i = 0; i < c.n; i++) {
		char mode[8];

		if (ab.len - ab.start > AUDIT_EVENT_MAX - 4096) {
			audit_raw(&ab, "]");
			audit_num(&ab, "files_omitted", (long long)(c.n - i));
			goto listed;
		}
		snprintf(mode, sizeof(mode), "%04o", (unsigned)c.f[i].mode);
		audit_raw(&ab, i ? ",{\"path\":" : "{\"path\":");
		audit_jstr(&ab, c.f[i].path, strlen(c.f[i].path), 1024);
		audit_raw(&ab, ",\"sha256\":\"");
		audit_raw(&ab, c.f[i].sha);
		audit_raw(&ab, "\"");
		audit_num(&ab, "size", (long long)c.f[i].size);
		audit_str(&ab, "mode", mode);
		audit_raw(&ab, "}");
	}
	audit_raw(&ab, "]");
listed:
	audit_end(&ab);
	if (audit_commit(cd_cf.audit_spool, &ab) == -1)
		fatal(EX_TEMPFAIL, "event=audit.fail action=collection.publish");
	log_info("event=collection.publish outcome=%s collection=%s "
	    "submitter=%s uid=%u files=%zu md5=%s", outcome, name, who.name,
	    (unsigned)who.uid, c.n, md5);
	if (!current) {
		/* The zip first, the md5 last, as for configurations. */
		struct cd_pub pub[2] = {
			{ .dirfd = o.collfd, .dir = "collections",
			    .name = zname, .buf = zip, .len = zlen },
			{ .dirfd = o.md5fd, .dir = "md5", .name = mname,
			    .buf = md5, .len = 32 },
		};
		if ((rc = cd_publish_serve(&o, pub, 2, CD_COLLECTION, name, err,
		    sizeof(err))) != EX_OK) {
			log_warnx("event=collection.fail collection=%s msg=\"%s\"",
			    name, err);
			goto out;
		}
	}
	if (coll_acl_sync(&o, err, sizeof(err)) == -1) {
		log_warnx("event=collection.fail collection=%s msg=\"access "
		    "lists: %s\"", name, err);
		rc = EX_IOERR;
		goto out;
	}
	printf("conf-dist: collection %s %s (%zu files, md5 %s)\n", name,
	    outcome, c.n, md5);
	goto out;
refuse:
	{
		char v[LOG_VISBUF];

		log_vis(v, sizeof(v), name, strlen(name));
		fprintf(stderr, "conf-dist: collection %s: refused: %s\n", v,
		    why);
		log_warnx("event=collection.publish outcome=refused "
		    "collection=\"%s\" submitter=%s reason=\"%s\"", v,
		    who.name, why);
	}
	/* The event file's owner is the producer: be conf-dist first
	 * (a no-op if it already is). */
	cd_become_service();
	cd_audit_refusal("collection.publish", "collection", name, &who, why);
out:
	if (zip != MAP_FAILED)
		munmap(zip, zlen);
	if (zfd != -1)
		close(zfd);
	free(m);
	coll_free(&c);
	out_close(&o);
	audit_buf_free(&ab);
	return rc;
}

/*
 * Collection access lists: collections/NAME.acl holds, sorted, one
 * lowercase md5hex(agent_name) per line for every agent whose published
 * configuration lists "file_collection NAME"; tentacle-recv serves
 * NAME.zip and NAME.md5 to a client certificate only if its agent is
 * there.  Recomputed whole from the published conf/ files (they are
 * small and their file name is already md5hex(agent_name)): no state
 * to drift, and any later publish repairs an interrupted one.  Called
 * with the served tree locked.
 */
struct acl_pair {
	char	*coll;
	char	 key[CD_KEY_LEN + 1];
};

static int
pair_cmp(const void *a, const void *b)
{
	const struct acl_pair *x = a, *y = b;
	int c = strcmp(x->coll, y->coll);

	return c ? c : strcmp(x->key, y->key);
}

/* "<32 lowercase hex><suffix>" exactly. */
static int
is_key_name(const char *name, const char *suffix)
{
	size_t l = strlen(name);

	return l == CD_KEY_LEN + strlen(suffix) &&
	    strspn(name, "0123456789abcdef") == CD_KEY_LEN &&
	    strcmp(name + CD_KEY_LEN, suffix) == 0;
}

/* The names in dirfd, sorted; NULL (errno) on error. */
static char **
dir_names(int dirfd, size_t *np)
{
	char **names = NULL;
	struct dirent *de;
	size_t n = 0;
	DIR *d;
	int fd;

	if ((fd = dup(dirfd)) == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return NULL;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')	/* ., .., temporaries */
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	*np = n;
	return names != NULL ? names : xcalloc(1, sizeof(*names));
}

static void
names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Is s (NAME) in the sorted names as NAME + suffix? */
static int
names_have(char **names, size_t n, const char *s, const char *suffix)
{
	char want[COLL_NAME_MAX + 16];

	snprintf(want, sizeof(want), "%s%s", s, suffix);
	return bsearch(&(const char *){ want }, names, n, sizeof(*names),
	    name_cmp) != NULL;
}

/* Write NAME.acl from pairs[from..to) unless it already says that. */
static int
acl_write(int collfd, const char *coll, const struct acl_pair *p,
    size_t from, size_t to, int *changed)
{
	char fname[COLL_NAME_MAX + 8], *cur, *buf;
	size_t len = 0, clen;
	int rc;

	snprintf(fname, sizeof(fname), "%s.acl", coll);
	buf = xmalloc((to - from) * (CD_KEY_LEN + 1) + 1);
	for (size_t i = from; i < to; i++) {
		memcpy(buf + len, p[i].key, CD_KEY_LEN);
		len += CD_KEY_LEN;
		buf[len++] = '\n';
	}
	cur = out_read(collfd, fname, len + 1, &clen);
	if (cur != NULL && clen == len && memcmp(cur, buf, len) == 0) {
		free(cur);
		free(buf);
		return 0;
	}
	free(cur);
	rc = out_write(collfd, fname, buf, len);
	free(buf);
	if (rc == 0) {
		*changed = 1;
		log_info("event=collection.acl collection=%s agents=%zu", coll,
		    to - from);
	}
	return rc;
}

/* A shelf of named things that agents list in their configuration. */
struct shelf {
	const char	*token;		/* "file_collection", "cmd_file" */
	const char	*dir;		/* "collections", "commands" */
	const char	*suffix;	/* ".zip", ".rcmd" */
	int		 dirfd;
	struct acl_pair	*p;
	size_t		 np;
};

/* Bring dir/NAME.acl in line with the pairs of one shelf. */
static int
shelf_sync(struct shelf *sh, int *changed, char *err, size_t errlen)
{
	char **names, fname[COLL_NAME_MAX + 8], why[256];
	size_t n, i, j, sl = strlen(sh->suffix);
	struct acl_pair *p = sh->p;
	size_t np;
	int rc = -1;

	if (sh->np > 0)
		qsort(p, sh->np, sizeof(*p), pair_cmp);
	/* An agent listing a name twice is listed once. */
	for (i = j = 0; i < sh->np; i++) {
		if (j > 0 && pair_cmp(&p[i], &p[j - 1]) == 0) {
			free(p[i].coll);
			continue;
		}
		p[j++] = p[i];
	}
	np = sh->np = j;
	/* Every name listed by an agent, even if not published yet. */
	for (i = 0; i < np; i = j) {
		for (j = i + 1; j < np && strcmp(p[j].coll, p[i].coll) == 0;
		    j++)
			;
		if (acl_write(sh->dirfd, p[i].coll, p, i, j, changed) == -1) {
			snprintf(err, errlen, "%s/%s.acl: %s", sh->dir,
			    p[i].coll, strerror(errno));
			return -1;
		}
	}
	if ((names = dir_names(sh->dirfd, &n)) == NULL) {
		snprintf(err, errlen, "%s/: %s", sh->dir, strerror(errno));
		return -1;
	}
	/* Published, listed by nobody: an empty list. */
	for (i = 0; i < n; i++) {
		size_t l = strlen(names[i]);
		char *name;
		int listed = 0;

		if (l <= sl || strcmp(names[i] + l - sl, sh->suffix) != 0)
			continue;
		name = xstrdup(names[i]);
		name[l - sl] = '\0';
		for (j = 0; j < np && !listed; j++)
			listed = strcmp(p[j].coll, name) == 0;
		if (!listed && cd_name_ok(sh->dir, name, why, sizeof(why)) &&
		    acl_write(sh->dirfd, name, p, 0, 0, changed) == -1) {
			snprintf(err, errlen, "%s/%s.acl: %s", sh->dir, name,
			    strerror(errno));
			free(name);
			goto out;
		}
		free(name);
	}
	/* Lists of names neither published nor listed: gone. */
	for (i = 0; i < n; i++) {
		size_t l = strlen(names[i]);
		int listed = 0;

		if (l <= 4 || strcmp(names[i] + l - 4, ".acl") != 0)
			continue;
		snprintf(fname, sizeof(fname), "%.*s", (int)(l - 4), names[i]);
		for (j = 0; j < np && !listed; j++)
			listed = strcmp(p[j].coll, fname) == 0;
		if (listed || names_have(names, n, fname, sh->suffix))
			continue;
		if (unlinkat(sh->dirfd, names[i], 0) == -1 &&
		    errno != ENOENT) {
			snprintf(err, errlen, "%s/%s: %s", sh->dir, names[i],
			    strerror(errno));
			goto out;
		}
		*changed = 1;
	}
	if (*changed && fsync(sh->dirfd) == -1) {
		snprintf(err, errlen, "%s/: fsync: %s", sh->dir,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	names_free(names, n);
	return rc;
}

int
coll_acl_sync(struct cd_out *o, char *err, size_t errlen)
{
	struct shelf sh[2] = {
		{ "file_collection", "collections", ".zip", o->collfd, NULL, 0 },
		{ "cmd_file", "commands", ".rcmd", o->cmdfd, NULL, 0 },
	};
	char **confs, why[256];
	size_t nconfs, i, j, k;
	int rc = -1;

	if ((confs = dir_names(o->conffd, &nconfs)) == NULL) {
		snprintf(err, errlen, "conf/: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < nconfs; i++) {
		struct ac_msgs ignore;
		struct agentconf *ac;
		size_t len;
		char *buf;

		if (!is_key_name(confs[i], ".conf"))
			continue;
		if ((buf = out_read(o->conffd, confs[i], cd_cf.max_size * 4 + 1,
		    &len)) == NULL) {
			if (errno == ENOENT)
				continue;
			snprintf(err, errlen, "conf/%s: %s", confs[i],
			    strerror(errno));
			goto out;
		}
		memset(&ignore, 0, sizeof(ignore));
		ac = ac_parse(buf, len, &ignore);
		ac_msgs_free(&ignore);
		for (j = 0; ac != NULL && j < ac->n; j++)
			for (k = 0; k < 2; k++) {
				struct shelf *s = &sh[k];

				if (strcmp(ac->lines[j].key, s->token) != 0 ||
				    !cd_name_ok(s->dir, ac->lines[j].val, why,
				    sizeof(why)))
					continue;
				s->p = xreallocarray(s->p, s->np + 1,
				    sizeof(*s->p));
				s->p[s->np].coll = xstrdup(ac->lines[j].val);
				memcpy(s->p[s->np].key, confs[i], CD_KEY_LEN);
				s->p[s->np].key[CD_KEY_LEN] = '\0';
				s->np++;
			}
		ac_free(ac);
		free(buf);
	}
	for (k = 0; k < 2; k++) {
		int changed = 0;

		if (shelf_sync(&sh[k], &changed, err, errlen) == -1)
			goto out;
	}
	rc = 0;
out:
	for (k = 0; k < 2; k++) {
		for (i = 0; i < sh[k].np; i++)
			free(sh[k].p[i].coll);
		free(sh[k].p);
	}
	names_free(confs, nconfs);
	return rc;
}

/*
 * Collections and commands share md5/: md5/NAME.md5 is the MD5 of
 * collections/NAME.zip or of commands/NAME.rcmd, never both.  Is NAME
 * already the other kind's?  1 yes (why set), 0 no.
 */
int
cd_shelf_taken(struct cd_out *o, enum cd_kind kind, const char *name,
    char *why, size_t whylen)
{
	char other[COLL_NAME_MAX + 8];
	struct stat sb;
	int fd = kind == CD_COLLECTION ? o->cmdfd : o->collfd;

	snprintf(other, sizeof(other), "%s%s", name, kind == CD_COLLECTION ?
	    ".rcmd" : ".zip");
	if (fstatat(fd, other, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		return 0;
	snprintf(why, whylen, "%s is already a %s (md5/%s.md5 is shared)",
	    name, kind == CD_COLLECTION ? "command" : "collection", name);
	return 1;
}
