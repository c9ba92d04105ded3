/* SPDX-License-Identifier: ISC */
/*
 * conf-dist: publishes Pandora agent configurations and collections
 * into the tree that tentacle-recv serves (spool/conf-dist/out), for
 * authorised users only (unix group ACL), never for read-only agents,
 * after a lint of the tokens the agent hands to a shell, with an
 * Ed25519 signature beside every file and an audit event that lists
 * every changed token.  See conf-dist(8).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include "audit.h"
#include "conf.h"
#include "envelope.h"
#include "log.h"
#include "priv.h"
#include "spool.h"
#include "stamp.h"
#include "tool.h"
#include "xalloc.h"

#include "confdist.h"

#define DEFAULT_SPOOL	"/var/spool/octospool"
#define DEFAULT_USER	"octospool-conf"
#define DEFAULT_KEY	"/etc/octospool/conf-dist/sign.key"
#define DEFAULT_PUBKEY	"/etc/octospool/conf-dist/sign.pub"
#define SUBMIT_MAGIC	"Octospool-Conf-Dist: 1\n"
#define HEADER_MAX	2048
#define CHANGES_BUDGET	(AUDIT_EVENT_MAX - 12 * 1024)

static const char *const known_keys[] = {
	"spool_dir", "user", "audit_spool", "sign_key", "sign_pubkey",
	"acl_agents", "acl_groups", "acl_collections", "acl_commands",
	"readonly_agents", "upload_max_age", "upload_max_items",
	"lint_allow", "max_size", "collection_max_size",
	"collection_max_files", "registry", "upload_producer", "recv_pubkey",
	"cluster", "cluster_pubkeys", "server_name", "cluster_poll",
	"cluster_full", "cluster_lookback", DB_TOOL_KEYS, NULL
};

struct cd_conf	 cd_cf;
static EVP_PKEY *sign_key;

/* What one decision on a configuration ended in. */
struct outcome {
	int	 rc;			/* sysexits code */
	char	 reason[512];
};

static struct tool tool = { .name = "conf-dist", .section = CD_SECTION,
    .usage =
    "usage: conf-dist [-dhnVv] [-c file] command [args]\n"
    "  submit AGENT FILE          publish FILE as AGENT's configuration\n"
    "  lint [AGENT] FILE          check FILE only (exit 0 or 65)\n"
    "  drain                      process the submission queue\n"
    "  verify [-a AGENT] [-k pubkey] [-s STATE] FILE...\n"
    "                             check FILE against its manifest FILE.sig\n"
    "  collection publish NAME DIR\n"
    "  command publish REF FILE\n"
    "  uploads                    list agent uploads\n"
    "  adopt [-pU] AGENT          publish an upload without secrets\n"
    "                             (-p: print it, publish nothing;\n"
    "                             -U: accept one sent without a\n"
    "                             client certificate)\n"
    "  keygen [-f]                make the Ed25519 signing key\n"
    "  sync [-f]                  serve what the cluster's database\n"
    "                             holds (-f: keep following it)\n"
    "See conf-dist(8).\n"
};

/* ---- configuration ---- */

/* A list of words separated by blanks or commas. */
static void
get_list(const char *key, char ***list, size_t *n)
{
	const char *v = conf_get(tool.conf, CD_SECTION, key);
	char *copy, *save = NULL, *w;

	*list = NULL;
	*n = 0;
	if (v == NULL)
		return;
	copy = xstrdup(v);
	for (w = strtok_r(copy, " \t,", &save); w != NULL;
	    w = strtok_r(NULL, " \t,", &save)) {
		*list = xreallocarray(*list, *n + 1, sizeof(**list));
		(*list)[(*n)++] = xstrdup(w);
	}
	free(copy);
}

/* A key that is "db" (1) or "none" (0, the default); else 78. */
static int
db_or_none(const char *key)
{
	char *v = tool_str(&tool, key, "none");
	int db = strcmp(v, "db") == 0;

	if (!db && strcmp(v, "none") != 0)
		fatalx(EX_CONFIG, "event=config.error key=%s msg=\"want db "
		    "or none\"", key);
	free(v);
	return db;
}

static void
configure(struct cd_conf *cf)
{
	char err[512], host[256];

	memset(cf, 0, sizeof(*cf));
	cf->conf = tool.conf;
	tool_conf_check(&tool, known_keys);
	cf->spool_dir = tool_str(&tool, "spool_dir", DEFAULT_SPOOL);
	cf->user = tool_str(&tool, "user", DEFAULT_USER);
	cf->audit_spool = tool_path(&tool, "audit_spool", cf->spool_dir,
	    "audit-sign");
	cf->out_dir = tool_path(&tool, NULL, cf->spool_dir, "conf-dist/out");
	cf->submit_dir = tool_path(&tool, NULL, cf->spool_dir,
	    "conf-dist/submit");
	cf->uploads_dir = tool_path(&tool, NULL, cf->spool_dir,
	    "conf-dist/uploads");
	cf->sign_key = tool_str(&tool, "sign_key", DEFAULT_KEY);
	cf->sign_pubkey = tool_str(&tool, "sign_pubkey", DEFAULT_PUBKEY);
	cf->upload_producer = tool_str(&tool, "upload_producer",
	    "octospool-recv");
	cf->recv_pubkey = tool_str(&tool, "recv_pubkey",
	    "/etc/octospool/keys/tentacle-recv.pub");
	if (strcmp(cf->recv_pubkey, "none") == 0) {
		free(cf->recv_pubkey);
		cf->recv_pubkey = NULL;
	}
	if (acl_parse(&cf->acl_agents, conf_get(tool.conf, CD_SECTION,
	    "acl_agents"), "acl_agents", err, sizeof(err)) == -1 ||
	    acl_parse(&cf->acl_groups, conf_get(tool.conf, CD_SECTION,
	    "acl_groups"), "acl_groups", err, sizeof(err)) == -1 ||
	    acl_parse(&cf->acl_collections, conf_get(tool.conf, CD_SECTION,
	    "acl_collections"), "acl_collections", err, sizeof(err)) == -1 ||
	    acl_parse(&cf->acl_commands, conf_get(tool.conf, CD_SECTION,
	    "acl_commands"), "acl_commands", err, sizeof(err)) == -1)
		tool_conf_fatal(NULL, err);
	get_list("readonly_agents", &cf->readonly, &cf->nreadonly);
	get_list("lint_allow", &cf->lint_allow, &cf->nallow);
	cf->max_size = tool_num(&tool, "max_size", 1, 64LL << 20, 1 << 20);
	cf->coll_max_size = tool_num(&tool, "collection_max_size", 1, 1LL << 30,
	    64LL << 20);
	cf->coll_max_files = tool_num(&tool, "collection_max_files", 1, 65000,
	    10000);
	cf->upload_max_age = tool_num(&tool, "upload_max_age", 0,
	    10LL * 366 * 86400, 14 * 86400);
	cf->upload_max_items = tool_num(&tool, "upload_max_items", 1, 100000,
	    1000);
	cf->registry_db = db_or_none("registry");
	cf->cluster_db = db_or_none("cluster");
	get_list("cluster_pubkeys", &cf->cluster_pubkeys,
	    &cf->ncluster_pubkeys);
	if (gethostname(host, sizeof(host)) == -1)
		strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	cf->node = tool_str(&tool, "server_name", host);
	cf->cluster_poll = tool_num(&tool, "cluster_poll", 1, 3600, 2);
	cf->cluster_full = tool_num(&tool, "cluster_full", 10, 86400, 300);
	cf->cluster_lookback = tool_num(&tool, "cluster_lookback", 1, 86400,
	    120);
	if ((cf->registry_db || cf->cluster_db) && db_conf_load(&cf->db,
	    tool.conf, CD_SECTION, err, sizeof(err)) == -1)
		tool_conf_fatal(NULL, err);
}

static void
unconfigure(struct cd_conf *cf)
{
	free(cf->spool_dir);
	free(cf->user);
	free(cf->audit_spool);
	free(cf->out_dir);
	free(cf->submit_dir);
	free(cf->uploads_dir);
	free(cf->sign_key);
	free(cf->sign_pubkey);
	free(cf->upload_producer);
	free(cf->recv_pubkey);
	acl_free(&cf->acl_agents);
	acl_free(&cf->acl_groups);
	acl_free(&cf->acl_collections);
	acl_free(&cf->acl_commands);
	for (size_t i = 0; i < cf->nreadonly; i++)
		free(cf->readonly[i]);
	free(cf->readonly);
	for (size_t i = 0; i < cf->nallow; i++)
		free(cf->lint_allow[i]);
	free(cf->lint_allow);
	for (size_t i = 0; i < cf->ncluster_pubkeys; i++)
		free(cf->cluster_pubkeys[i]);
	free(cf->cluster_pubkeys);
	free(cf->node);
	if (cf->registry_db || cf->cluster_db)
		db_conf_free(&cf->db);
	cd_db_close();
	EVP_PKEY_free(sign_key);
	sign_key = NULL;
}

/* ---- identity and privileges ---- */

/* Are we the service (its user, or root who becomes it)? */
int
cd_am_service(void)
{
	struct passwd *pw;

	if (geteuid() == 0)
		return 1;
	errno = 0;
	return (pw = getpwnam(cd_cf.user)) != NULL && pw->pw_uid == geteuid();
}

void
cd_become_service(void)
{
	tool_drop_privileges(cd_cf.user);
}

EVP_PKEY *
cd_signing_key(void)
{
	char err[512];

	if (sign_key == NULL &&
	    (sign_key = sig_load_private(cd_cf.sign_key, err,
	    sizeof(err))) == NULL)
		fatalx(EX_CONFIG, "event=key.error msg=\"%s\" hint=\"conf-dist "
		    "keygen makes one\"", err);
	return sign_key;
}

/* The fields that say who asked, for every event. */
void
cd_audit_who(struct audit_buf *ab, const struct cd_who *w)
{
	audit_str(ab, "submitter", w->name);
	audit_num(ab, "uid", (long long)w->uid);
	audit_str(ab, "via", w->via);
	if (w->item != NULL)
		audit_str(ab, "item", w->item);
	if (w->sudo_user[0] != '\0')
		audit_str(ab, "sudo_user", w->sudo_user);
}

/* A refusal event: action, the subject as field = name, who, why. */
void
cd_audit_refusal(const char *action, const char *field, const char *name,
    const struct cd_who *w, const char *why)
{
	struct audit_buf ab;

	audit_buf_init(&ab);
	audit_begin(&ab, CD_TOOL, action, "refused");
	audit_str(&ab, field, name);
	cd_audit_who(&ab, w);
	audit_str(&ab, "reason", why);
	audit_end(&ab);
	if (audit_commit(cd_cf.audit_spool, &ab) == -1)
		log_warn("event=audit.fail action=%s", action);
	audit_buf_free(&ab);
}

/* An agent name we can work with: no control bytes, no '/', sane size. */
static int
agent_ok(const char *a, char *why, size_t whylen)
{
	size_t l = strlen(a);

	if (l == 0 || l > CD_AGENT_MAX) {
		snprintf(why, whylen, "agent name of %zu bytes (1..%d)", l,
		    CD_AGENT_MAX);
		return 0;
	}
	for (size_t i = 0; i < l; i++)
		if ((unsigned char)a[i] < 0x20 || a[i] == 0x7f ||
		    a[i] == '/') {
			snprintf(why, whylen, "control character or '/' in "
			    "the agent name");
			return 0;
		}
	if (a[0] == ' ' || a[l - 1] == ' ') {
		snprintf(why, whylen, "agent name starts or ends with a "
		    "blank");
		return 0;
	}
	return 1;
}

/* Read a whole file the caller names (as the caller). */
char *
cd_read_input(const char *path, size_t max, size_t *len)
{
	struct stat sb;
	size_t got = 0, cap = 65536;
	char *buf;
	int fd;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		fatal(EX_NOINPUT, "event=input.error path=\"%s\"", path);
	if (fstat(fd, &sb) == -1 || (!S_ISREG(sb.st_mode) &&
	    fd != STDIN_FILENO))
		fatalx(EX_NOINPUT, "event=input.error path=\"%s\" msg=\"not a "
		    "regular file\"", path);
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t n;

		if (got == cap) {
			if (cap > max)
				break;
			cap *= 2;
			buf = xreallocarray(buf, cap + 1, 1);
		}
		n = read(fd, buf + got, cap - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			fatal(EX_IOERR, "event=input.error path=\"%s\"", path);
		if (n == 0)
			break;
		got += n;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	if (got > max)
		fatalx(EX_DATAERR, "event=input.error path=\"%s\" msg=\"larger "
		    "than max_size %zu\"", path, max);
	buf[got] = '\0';
	*len = got;
	return buf;
}

static void
print_msgs(const char *label, const struct ac_msgs *m)
{
	char v[LOG_VISBUF];

	for (size_t i = 0; i < m->n; i++)
		fprintf(stderr, "%s: %s\n", log_vis(v, sizeof(v), label,
		    strlen(label)), m->msg[i]);
	if (m->total > m->n)
		fprintf(stderr, "%s: ... and %zu more\n", label,
		    m->total - m->n);
}

/* ---- publishing one agent configuration ---- */

struct pub_req {
	const char	*agent;
	const char	*buf;		/* the configuration to publish */
	size_t		 len;
	const struct cd_who *who;
	const char	*action;	/* config.publish, config.adopt */
	/* adopt: where the configuration came from */
	const struct envelope *upload;
	const char	*upload_item;
	const char	*upload_bound;	/* "yes", "unverified" */
	size_t		 stripped;
	char *const	*consumed;	/* upload items this adoption removes */
	size_t		 nconsumed;
};

static void
audit_lint(struct audit_buf *ab, const struct ac_msgs *m)
{
	audit_raw(ab, ",\"lint\":[");
	for (size_t i = 0; i < m->n; i++) {
		if (i > 0)
			audit_raw(ab, ",");
		audit_jstr(ab, m->msg[i], strlen(m->msg[i]), 512);
	}
	audit_raw(ab, "]");
	if (m->total > m->n)
		audit_num(ab, "lint_omitted", (long long)(m->total - m->n));
}

static void
audit_groups(struct audit_buf *ab, const char *const *g, size_t n)
{
	audit_raw(ab, ",\"groups\":[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			audit_raw(ab, ",");
		audit_jstr(ab, g[i], strlen(g[i]), 256);
	}
	audit_raw(ab, "]");
}

/* A best-effort follow-up event when publishing failed after the audit. */
static void
audit_failed(const struct pub_req *rq, const char *key, const char *why)
{
	struct audit_buf ab;

	audit_buf_init(&ab);
	audit_begin(&ab, CD_TOOL, rq->action, "failed");
	audit_str(&ab, "agent", rq->agent);
	audit_str(&ab, "key", key);
	cd_audit_who(&ab, rq->who);
	audit_str(&ab, "reason", why);
	audit_end(&ab);
	if (audit_commit(cd_cf.audit_spool, &ab) == -1)
		log_warn("event=audit.fail action=%s", rq->action);
	audit_buf_free(&ab);
}

static void
add_group(const char **g, size_t *n, const char *s)
{
	if (s == NULL || *s == '\0')
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(g[i], s) == 0)
			return;
	g[(*n)++] = s;
}

/*
 * Every collection (file_collection) and command (cmd_file) the
 * configuration gives the agent must be one who may grant: acl_collections
 * and acl_commands, as for publishing them.  1 yes; 0 no, with why.
 */
static int
grants_ok(const struct agentconf *ac, const struct cd_who *who, char *why,
    size_t whylen)
{
	char w[400];

	for (size_t i = 0; i < ac->n; i++) {
		const struct ac_line *l = &ac->lines[i];
		int ok = 1;

		if (strcmp(l->key, "file_collection") == 0)
			ok = acl_collection_ok(&cd_cf, who, l->val, w,
			    sizeof(w));
		else if (strcmp(l->key, "cmd_file") == 0)
			ok = acl_command_ok(&cd_cf, who, l->val, w, sizeof(w));
		if (!ok) {
			snprintf(why, whylen, "line %u: %s may not be granted: "
			    "%s", l->lineno, l->key, w);
			return 0;
		}
	}
	return 1;
}

/*
 * Decide on one configuration and publish it: ACL, read-only, lint,
 * audit (durable first), then conf/<key>.conf (+.sig) and only then
 * md5/<key>.md5 (+.sig).  Fills out; returns out->rc.
 */
static int
publish_config(const struct pub_req *rq, struct outcome *out)
{
	struct cd_out o;
	struct cd_facts facts;
	struct ac_msgs msgs;
	struct agentconf *newac = NULL, *oldac = NULL;
	struct audit_buf ab;
	const char *groups[3], *outcome = "failed";
	char key[CD_KEY_LEN + 1], md5[33], oldmd5[33] = "", sha[65];
	char cname[64], mname[64], err[512], why[512] = "", v[LOG_VISBUF];
	char *old = NULL;
	size_t oldlen = 0, ngroups = 0, nchanges = 0;
	int r, current = 0, ungrouped;
	struct cd_pub pub[2];

	memset(&msgs, 0, sizeof(msgs));
	memset(pub, 0, sizeof(pub));
	memset(&o, -1, sizeof(o));
	audit_buf_init(&ab);
	out->rc = EX_OK;
	out->reason[0] = '\0';
	md5_hex(rq->agent, strlen(rq->agent), key);
	md5_hex(rq->buf, rq->len, md5);
	sha256_hex(rq->buf, rq->len, sha);
	snprintf(cname, sizeof(cname), "%s.conf", key);
	pub[0].dir = "conf";
	pub[0].name = cname;
	pub[0].buf = rq->buf;
	pub[0].len = rq->len;
	pub[1].dir = "md5";
	pub[1].name = mname;
	pub[1].buf = md5;
	pub[1].len = 32;
	snprintf(mname, sizeof(mname), "%s.md5", key);
	if (out_open(&o, cd_cf.out_dir, err, sizeof(err)) == -1) {
		out->rc = EX_IOERR;
		snprintf(out->reason, sizeof(out->reason), "%s", err);
		goto done;
	}
	if (out_lock(&o) == -1) {
		out->rc = EX_IOERR;
		snprintf(out->reason, sizeof(out->reason), "lock: %s",
		    strerror(errno));
		goto done;
	}
	if ((r = registry_lookup(&cd_cf, rq->agent, &facts, err,
	    sizeof(err))) < 0) {
		out->rc = r == -1 ? EX_TEMPFAIL : EX_CONFIG;
		snprintf(out->reason, sizeof(out->reason), "%s", err);
		goto done;
	}
	if ((old = out_read(o.conffd, cname, cd_cf.max_size * 4 + 1,
	    &oldlen)) == NULL && errno != ENOENT) {
		out->rc = EX_IOERR;
		snprintf(out->reason, sizeof(out->reason), "%s: %s", cname,
		    strerror(errno));
		goto done;
	}
	if (old != NULL) {
		struct ac_msgs ignore;

		memset(&ignore, 0, sizeof(ignore));
		oldac = ac_parse(old, oldlen, &ignore);
		ac_msgs_free(&ignore);
		md5_hex(old, oldlen, oldmd5);
	}
	newac = ac_parse(rq->buf, rq->len, &msgs);
	ac_lint(newac, rq->agent, cd_cf.lint_allow, cd_cf.nallow, &msgs);
	/* Every group the agent is in or would be moved to. */
	add_group(groups, &ngroups, facts.have_group ? facts.group : NULL);
	add_group(groups, &ngroups, oldac ? oldac->group : NULL);
	add_group(groups, &ngroups, newac->group);

	/* Known to exist, in no known group: nobody's to claim by naming one. */
	ungrouped = (facts.exists || old != NULL) && !facts.have_group &&
	    (oldac == NULL || oldac->group == NULL);
	if (!acl_agent_ok(&cd_cf, rq->who, rq->agent, groups, ngroups,
	    ungrouped, why, sizeof(why)) || !grants_ok(newac, rq->who, why,
	    sizeof(why))) {
		out->rc = EX_NOPERM;
		outcome = "refused";
	} else if (facts.read_only) {
		out->rc = EX_NOPERM;
		snprintf(why, sizeof(why), "agent is read-only (%s)",
		    facts.ro_source);
		outcome = "refused";
	} else if (msgs.total > 0) {
		out->rc = EX_DATAERR;
		snprintf(why, sizeof(why), "lint: %s", msgs.msg[0]);
		outcome = "refused";
	} else {
		/* Same bytes, signed with this key: nothing to do. */
		current = out_is_current(o.conffd, cname, rq->buf, rq->len,
		    cd_signing_key(), CD_AGENT, key) && out_is_current(o.md5fd,
		    mname, md5, 32, cd_signing_key(), CD_AGENT, key);
		outcome = current ? "unchanged" : "published";
	}
	snprintf(out->reason, sizeof(out->reason), "%s", why);

	audit_begin(&ab, CD_TOOL, rq->action, outcome);
	audit_str(&ab, "agent", rq->agent);
	audit_str(&ab, "key", key);
	cd_audit_who(&ab, rq->who);
	audit_groups(&ab, groups, ngroups);
	if (why[0] != '\0')
		audit_str(&ab, "reason", why);
	if (facts.read_only)
		audit_str(&ab, "read_only", facts.ro_source);
	if (msgs.n > 0)
		audit_lint(&ab, &msgs);
	audit_str(&ab, "md5", md5);
	audit_str(&ab, "sha256", sha);
	audit_num(&ab, "size", (long long)rq->len);
	audit_str(&ab, "old_md5", oldmd5[0] ? oldmd5 : NULL);
	if (rq->upload != NULL) {
		audit_str(&ab, "upload", rq->upload_item);
		audit_str(&ab, "upload_peer", rq->upload->peer);
		if (rq->upload->subject[0] != '\0')
			audit_str(&ab, "upload_cert_subject",
			    rq->upload->subject);
		audit_str(&ab, "upload_cert_bound", rq->upload_bound);
		audit_num(&ab, "secrets_stripped", (long long)rq->stripped);
		audit_raw(&ab, ",\"uploads_removed\":[");
		for (size_t i = 0; i < rq->nconsumed; i++) {
			if (i > 0)
				audit_raw(&ab, ",");
			audit_jstr(&ab, rq->consumed[i],
			    strlen(rq->consumed[i]), 256);
		}
		audit_raw(&ab, "]");
	}
	ac_diff_audit(&ab, oldac, newac, CHANGES_BUDGET, &nchanges);
	audit_end(&ab);
	/* No event, no action: the event is durable before anything else. */
	if (audit_commit(cd_cf.audit_spool, &ab) == -1) {
		log_warn("event=audit.fail action=%s agent=\"%s\"", rq->action,
		    log_vis(v, sizeof(v), rq->agent, strlen(rq->agent)));
		out->rc = EX_TEMPFAIL;
		snprintf(out->reason, sizeof(out->reason), "cannot write the "
		    "audit event");
		goto done;
	}
	log_info("event=%s outcome=%s agent=\"%s\" key=%s submitter=%s "
	    "uid=%u via=%s changes=%zu md5=%s%s%s%s", rq->action, outcome,
	    log_vis(v, sizeof(v), rq->agent, strlen(rq->agent)), key,
	    rq->who->name, (unsigned)rq->who->uid, rq->who->via, nchanges,
	    md5, why[0] ? " reason=\"" : "", why[0] ? why : "",
	    why[0] ? "\"" : "");
	if (out->rc != EX_OK)
		goto done;
	if (current)
		goto acl;
	/* Signed, in a cluster put into the database first (cluster.c),
	 * then served: the conf first, the md5 last. */
	pub[0].dirfd = o.conffd;
	pub[1].dirfd = o.md5fd;
	if ((r = cd_publish_serve(&o, pub, 2, CD_AGENT, key, err,
	    sizeof(err))) != EX_OK) {
		snprintf(out->reason, sizeof(out->reason), "publish %s: %.400s",
		    cname, err);
		out->rc = r;
		goto fail;
	}
acl:
	/* Which agents may fetch which collection, from what is published. */
	if (coll_acl_sync(&o, err, sizeof(err)) == -1) {
		snprintf(out->reason, sizeof(out->reason), "collection access "
		    "lists: %.400s", err);
		goto fail;
	}
	goto done;
fail:
	if (out->rc == EX_OK)
		out->rc = EX_IOERR;
	log_warnx("event=publish.fail agent=\"%s\" reason=\"%s\"",
	    log_vis(v, sizeof(v), rq->agent, strlen(rq->agent)), out->reason);
	audit_failed(rq, key, out->reason);
done:
	if (out->rc == EX_OK && rq->who->via[0] == 'd')
		printf("conf-dist: %s %s (key %s, md5 %s, %zu changes)\n",
		    outcome, log_vis(v, sizeof(v), rq->agent,
		    strlen(rq->agent)), key, md5, nchanges);
	if (msgs.n > 0 && out->rc == EX_DATAERR)
		print_msgs(rq->agent, &msgs);
	ac_free(newac);
	ac_free(oldac);
	ac_msgs_free(&msgs);
	free(old);
	audit_buf_free(&ab);
	out_close(&o);
	return out->rc;
}

/* ---- uploads and adopt ---- */

/*
 * One upload in the review area, read one at a time: the connection
 * facts (envelope) and, when asked, the body.  untrusted says why it is
 * not believed at all (moved to reject/ by adopt and tidy).
 */
struct upload {
	char		 item[SPOOL_NAME_MAX];
	struct envelope	 env;
	time_t		 mtime;
	char		*body;
	size_t		 bodylen;
	char		 agent[CD_AGENT_MAX + 1];	/* from the body */
	char		 untrusted[400];
};

/*
 * Who may have written uploads/ (upload_producer) and whose stamp its
 * envelopes carry (recv_pubkey): an upload from anyone else, or whose
 * envelope is not stamped by tentacle-recv, is never listed as trusted
 * nor adopted.
 */
static struct idset up_producers;
static struct stamp_keys up_keys;
static int up_ready, up_have_keys;

static void
uploads_trust_init(void)
{
	char err[512];

	if (up_ready)
		return;
	tool_idset(&up_producers, cd_cf.upload_producer, "upload_producer");
	if (cd_cf.recv_pubkey != NULL) {
		if (stamp_keys_load(&up_keys, "tentacle-recv",
		    cd_cf.recv_pubkey, err, sizeof(err)) == -1)
			tool_conf_fatal("recv_pubkey", err);
		up_have_keys = 1;
	}
	up_ready = 1;
}

static void
upload_clear(struct upload *u)
{
	free(u->body);
	memset(u, 0, sizeof(*u));
}

/*
 * Read item name of q into u (keep: keep the body and its agent_name).
 * 1 read (u->untrusted set if it is not to be believed), 0 gone or not
 * a regular file (skip it).  At most one item is in memory at a time.
 */
static int
upload_load(struct spool *q, const char *name, struct upload *u, int keep)
{
	struct stat sb;
	char *data, err[256];
	size_t len;
	int e;

	memset(u, 0, sizeof(*u));
	if (strlcpy(u->item, name, sizeof(u->item)) >= sizeof(u->item) ||
	    fstatat(q->newfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !S_ISREG(sb.st_mode))
		return 0;
	u->mtime = sb.st_mtime;
	if (!idset_match(&up_producers, sb.st_uid)) {
		/* Not read at all: its owner may not write here. */
		snprintf(u->untrusted, sizeof(u->untrusted), "owner uid %u is "
		    "not the producer (%s)", (unsigned)sb.st_uid,
		    up_producers.text);
		return 1;
	}
	if ((data = out_read(q->newfd, name, cd_cf.max_size + ENVELOPE_MAX,
	    &len)) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(u->untrusted, sizeof(u->untrusted), "%s",
		    errno == EFBIG ? "larger than max_size" : strerror(errno));
		return 1;
	}
	if ((e = envelope_parse(data, len, &u->env, err, sizeof(err))) != 1) {
		snprintf(u->untrusted, sizeof(u->untrusted), "not an item of "
		    "tentacle-recv (%s)", e == 0 ? "no envelope" : err);
		memset(&u->env, 0, sizeof(u->env));
		free(data);
		return 1;
	}
	if (up_have_keys) {
		char sha[65], serr[200];
		int r;

		stamp_sha256_hex(data + u->env.hdrlen, len - u->env.hdrlen,
		    sha);
		if ((r = stamp_check(&up_keys, data, &u->env, sha, serr,
		    sizeof(serr))) != 1)
			snprintf(u->untrusted, sizeof(u->untrusted), "%s",
			    r == 0 ? "no stamp of tentacle-recv" : serr);
	} else {
		/* No key: the connection facts are not known. */
		u->env.subject[0] = u->env.fingerprint[0] = '\0';
		u->env.bound[0] = '\0';
	}
	if (u->untrusted[0] == '\0' && u->env.bound[0] != '\0' &&
	    strncmp(u->env.name, u->env.bound, CD_KEY_LEN) != 0)
		snprintf(u->untrusted, sizeof(u->untrusted), "its certificate "
		    "is bound to key %s, not to the key of its name",
		    u->env.bound);
	else if (u->untrusted[0] == '\0' && u->env.bound[0] == '\0' &&
	    u->env.fingerprint[0] != '\0')
		snprintf(u->untrusted, sizeof(u->untrusted), "sent with a "
		    "certificate (%.200s) that does not name the agent",
		    u->env.subject);
	if (keep && u->untrusted[0] == '\0') {
		u->bodylen = len - u->env.hdrlen;
		u->body = xmalloc(u->bodylen + 1);
		memcpy(u->body, data + u->env.hdrlen, u->bodylen);
		u->body[u->bodylen] = '\0';
		if (strlen(u->env.name) > 5 && strcmp(u->env.name +
		    strlen(u->env.name) - 5, ".conf") == 0) {
			struct ac_msgs m;
			struct agentconf *ac;

			memset(&m, 0, sizeof(m));
			ac = ac_parse(u->body, u->bodylen, &m);
			if (ac->agent_name != NULL)
				strlcpy(u->agent, ac->agent_name,
				    sizeof(u->agent));
			ac_free(ac);
			ac_msgs_free(&m);
		}
	}
	free(data);
	return 1;
}

/* "yes" bound to its key's certificate; "unverified" no certificate. */
static const char *
upload_binding(const struct upload *u)
{
	return u->env.bound[0] != '\0' ? "yes" : "unverified";
}

static int
cmd_uploads(void)
{
	struct spool q;
	struct upload u;
	char **names, v1[LOG_VISBUF], v2[LOG_VISBUF], v3[LOG_VISBUF];
	size_t n, shown = 0;

	if (!cd_am_service())
		fatalx(EX_NOPERM, "event=uploads.refused reason=\"run as root "
		    "or as %s\"", cd_cf.user);
	uploads_trust_init();
	cd_become_service();
	if (spool_open(&q, cd_cf.uploads_dir, SPOOL_PRODUCE) == -1)
		fatal(EX_IOERR, "event=uploads.open path=%s",
		    cd_cf.uploads_dir);
	if (spool_scan(&q, &names, &n) == -1)
		fatal(EX_IOERR, "event=uploads.scan");
	for (size_t i = 0; i < n; i++) {
		const char *nm, *match = "-";
		char key[33];

		if (upload_load(&q, names[i], &u, 1) == 0)
			continue;
		shown++;
		nm = u.env.name;
		if (u.untrusted[0] != '\0') {
			printf("%s untrusted=\"%s\"\n", u.item,
			    log_vis(v1, sizeof(v1), u.untrusted,
			    strlen(u.untrusted)));
			upload_clear(&u);
			continue;
		}
		if (u.agent[0] != '\0') {
			md5_hex(u.agent, strlen(u.agent), key);
			match = strncmp(nm, key, 32) == 0 ? "yes" : "NO";
		}
		printf("%s name=%s agent=\"%s\" key_matches=%s cert_bound=%s "
		    "peer=%s cert=\"%s\" received=%s size=%zu\n", u.item,
		    log_vis(v1, sizeof(v1), nm, strlen(nm)),
		    log_vis(v2, sizeof(v2), u.agent, strlen(u.agent)),
		    match, upload_binding(&u), u.env.peer,
		    log_vis(v3, sizeof(v3), u.env.subject,
		    strlen(u.env.subject)), u.env.received, u.bodylen);
		upload_clear(&u);
	}
	if (shown == 0)
		printf("conf-dist: no uploads\n");
	spool_names_free(names, n);
	spool_close(&q);
	return EX_OK;
}

/* An upload nobody may trust: to reject/ with its reason and event. */
static void
upload_reject(struct spool *q, const struct upload *u, const struct cd_who *who)
{
	struct audit_buf ab;

	audit_buf_init(&ab);
	audit_begin(&ab, CD_TOOL, "item.rejected", "refused");
	audit_str(&ab, "item", u->item);
	cd_audit_who(&ab, who);
	audit_str(&ab, "reason", u->untrusted);
	audit_end(&ab);
	if (audit_commit(cd_cf.audit_spool, &ab) == -1)
		log_warn("event=audit.fail item=%s", u->item);
	else if (spool_claim(q, u->item) != 0 ||
	    spool_reject(q, u->item, CD_TOOL, EX_NOPERM, "rule=producer "
	    "line=0 %s", u->untrusted) == -1)
		log_warn("event=upload.reject.fail item=%s", u->item);
	audit_buf_free(&ab);
}

/* ---- keeping the review area small ---- */

struct tidy_item {
	char	 item[SPOOL_NAME_MAX];
	char	 name[64];		/* original name, "" unknown */
	time_t	 mtime;
	const char *why;		/* removed because, or NULL */
};

/*
 * Remove uploads older than upload_max_age, every upload but the newest
 * of each original name (an agent uploads again at every interval until
 * something is published), then the oldest beyond upload_max_items; one
 * audit event lists them (durable before anything is removed).  Untrusted
 * items go to reject/ with their own event (reject) or are left to the
 * caller.  The queue is locked.
 */
static void
uploads_tidy(struct spool *q, const struct cd_who *who, int reject)
{
	struct tidy_item *t;
	struct audit_buf ab;
	struct upload u;
	char **names;
	size_t n, k = 0, kept = 0, nexp = 0, nsup = 0, ncap = 0, listed = 0;
	time_t now = time(NULL);

	if (spool_scan(q, &names, &n) == -1) {
		log_warn("event=uploads.scan");
		return;
	}
	t = xcalloc(n + 1, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		if (upload_load(q, names[i], &u, 0) == 0)
			continue;
		if (u.untrusted[0] != '\0') {
			if (reject)
				upload_reject(q, &u, who);
			upload_clear(&u);
			continue;
		}
		strlcpy(t[k].item, u.item, sizeof(t[k].item));
		strlcpy(t[k].name, u.env.name, sizeof(t[k].name));
		t[k].mtime = u.mtime;
		upload_clear(&u);
		k++;
	}
	spool_names_free(names, n);
	/* Sorted oldest first: a later item of the same name supersedes. */
	for (size_t i = 0; i < k; i++) {
		if (cd_cf.upload_max_age > 0 &&
		    now - t[i].mtime > cd_cf.upload_max_age) {
			t[i].why = "expired";
			nexp++;
			continue;
		}
		for (size_t j = i + 1; j < k && t[i].why == NULL; j++)
			if (strcmp(t[i].name, t[j].name) == 0) {
				t[i].why = "superseded";
				nsup++;
			}
		if (t[i].why == NULL)
			kept++;
	}
	for (size_t i = 0; i < k && kept > (size_t)cd_cf.upload_max_items;
	    i++)
		if (t[i].why == NULL) {
			t[i].why = "over upload_max_items";
			ncap++;
			kept--;
		}
	if (nexp + nsup + ncap == 0)
		goto out;
	audit_buf_init(&ab);
	audit_begin(&ab, CD_TOOL, "upload.removed", "removed");
	cd_audit_who(&ab, who);
	audit_num(&ab, "expired", (long long)nexp);
	audit_num(&ab, "superseded", (long long)nsup);
	audit_num(&ab, "over_cap", (long long)ncap);
	audit_num(&ab, "kept", (long long)kept);
	audit_num(&ab, "max_age", cd_cf.upload_max_age);
	audit_num(&ab, "max_items", cd_cf.upload_max_items);
	audit_raw(&ab, ",\"items\":[");
	for (size_t i = 0; i < k; i++) {
		if (t[i].why == NULL)
			continue;
		if (ab.len - ab.start > AUDIT_EVENT_MAX - 4096)
			break;
		audit_raw(&ab, listed++ ? ",{\"item\":" : "{\"item\":");
		audit_jstr(&ab, t[i].item, strlen(t[i].item), 256);
		audit_raw(&ab, ",\"name\":");
		audit_jstr(&ab, t[i].name, strlen(t[i].name), 64);
		audit_raw(&ab, ",\"why\":");
		audit_jstr(&ab, t[i].why, strlen(t[i].why), 64);
		audit_raw(&ab, "}");
	}
	audit_raw(&ab, "]");
	if (listed < nexp + nsup + ncap)
		audit_num(&ab, "items_omitted",
		    (long long)(nexp + nsup + ncap - listed));
	audit_end(&ab);
	if (audit_commit(cd_cf.audit_spool, &ab) == -1) {
		/* No event, no removal: next time. */
		log_warn("event=audit.fail action=upload.removed");
		audit_buf_free(&ab);
		goto out;
	}
	audit_buf_free(&ab);
	for (size_t i = 0; i < k; i++)
		if (t[i].why != NULL && (spool_claim(q, t[i].item) != 0 ||
		    spool_done(q, t[i].item) == -1))
			log_warn("event=upload.remove.fail item=%s", t[i].item);
	log_info("event=uploads.tidy expired=%zu superseded=%zu over_cap=%zu "
	    "kept=%zu", nexp, nsup, ncap, kept);
out:
	free(t);
}

/*
 * May this upload become agent's configuration?  Bound to the agent's
 * certificate (Client-Bound = its key): yes.  Sent without a client
 * certificate: only when the adopter says so (-U), recorded.  1 yes;
 * 0 no, with why.
 */
static int
upload_may_adopt(const struct upload *u, const char *key, int unverified_ok,
    char *why, size_t whylen)
{
	if (u->env.bound[0] != '\0') {
		if (strcmp(u->env.bound, key) == 0)
			return 1;
		snprintf(why, whylen, "the upload's certificate is bound to "
		    "key %s, not to this agent's %s", u->env.bound, key);
		return 0;
	}
	if (unverified_ok)
		return 1;
	snprintf(why, whylen, "the upload is not verified to come from the "
	    "agent: sent without a client certificate%s (adopt -U accepts "
	    "it, recorded in the audit event)", up_have_keys ? "" :
	    ", or its connection facts are not known (recv_pubkey none)");
	return 0;
}

/* Adopt the newest upload of agent's configuration; who asked for it. */
static int
adopt(const char *agent, const struct cd_who *who, int print_only,
    int unverified_ok, struct outcome *out)
{
	struct spool q;
	struct upload u;
	struct pub_req rq;
	struct agentconf *ac;
	struct ac_msgs m;
	char key[33], cname[64], mname[64], **names, **consumed = NULL;
	char *stripped, why[700] = "";
	size_t n, slen, nstripped, ncons = 0;
	ssize_t pick = -1;

	uploads_trust_init();
	memset(&u, 0, sizeof(u));
	md5_hex(agent, strlen(agent), key);
	snprintf(cname, sizeof(cname), "%s.conf", key);
	snprintf(mname, sizeof(mname), "%s.md5", key);
	if (spool_open(&q, cd_cf.uploads_dir, SPOOL_CONSUME) == -1)
		fatal(EX_IOERR, "event=uploads.open path=%s",
		    cd_cf.uploads_dir);
	if (spool_lock(&q) != 0)
		fatalx(EX_TEMPFAIL, "event=uploads.locked");
	if (!print_only)
		uploads_tidy(&q, who, 0);	/* untrusted: said below */
	if (spool_scan(&q, &names, &n) == -1)
		fatal(EX_IOERR, "event=uploads.scan");
	/* Headers only: which items are this agent's (newest wins). */
	for (size_t i = 0; i < n; i++) {
		if (upload_load(&q, names[i], &u, 0) == 0)
			continue;
		if (u.untrusted[0] != '\0') {
			/* Never adopted, set aside; said if it was a candidate. */
			if (strcmp(u.env.name, cname) == 0)
				snprintf(why, sizeof(why), "upload %s is "
				    "refused: %s", u.item, u.untrusted);
			if (!print_only)
				upload_reject(&q, &u, who);
		} else if (strcmp(u.env.name, cname) == 0 ||
		    strcmp(u.env.name, mname) == 0) {
			if (strcmp(u.env.name, cname) == 0)
				pick = i;
			consumed = xreallocarray(consumed, ncons + 1,
			    sizeof(*consumed));
			consumed[ncons++] = names[i];
		}
		upload_clear(&u);
	}
	/* Only the chosen one is read whole. */
	if (pick != -1 && (upload_load(&q, names[pick], &u, 1) == 0 ||
	    u.untrusted[0] != '\0')) {
		upload_clear(&u);
		pick = -1;
	}
	if (pick != -1 && print_only && !upload_may_adopt(&u, key,
	    unverified_ok, why, sizeof(why)))
		/* -p only shows it, and says what adopt would say. */
		fprintf(stderr, "conf-dist: note: %s\n", why);
	else if (pick == -1 || !upload_may_adopt(&u, key, unverified_ok, why,
	    sizeof(why))) {
		struct audit_buf ab;

		out->rc = pick == -1 && why[0] == '\0' ? EX_NOINPUT :
		    EX_NOPERM;
		if (pick == -1 && why[0] == '\0')
			snprintf(out->reason, sizeof(out->reason), "no upload "
			    "of %s", cname);
		else
			strlcpy(out->reason, why, sizeof(out->reason));
		if (print_only)
			goto done;
		audit_buf_init(&ab);
		audit_begin(&ab, CD_TOOL, "config.adopt", "refused");
		audit_str(&ab, "agent", agent);
		audit_str(&ab, "key", key);
		cd_audit_who(&ab, who);
		audit_str(&ab, "reason", out->reason);
		if (pick != -1) {
			audit_str(&ab, "upload", u.item);
			audit_str(&ab, "upload_peer", u.env.peer);
			audit_str(&ab, "upload_cert_bound", upload_binding(&u));
		}
		audit_end(&ab);
		if (audit_commit(cd_cf.audit_spool, &ab) == -1) {
			out->rc = EX_TEMPFAIL;
			snprintf(out->reason, sizeof(out->reason), "cannot "
			    "write the audit event");
		}
		audit_buf_free(&ab);
		goto done;
	}
	memset(&m, 0, sizeof(m));
	ac = ac_parse(u.body, u.bodylen, &m);
	stripped = ac_strip(u.body, u.bodylen, ac, agent, &slen, &nstripped);
	ac_free(ac);
	ac_msgs_free(&m);
	if (print_only) {
		fwrite(stripped, 1, slen, stdout);
		free(stripped);
		out->rc = EX_OK;
		goto done;
	}
	memset(&rq, 0, sizeof(rq));
	rq.agent = agent;
	rq.buf = stripped;
	rq.len = slen;
	rq.who = who;
	rq.action = "config.adopt";
	rq.upload = &u.env;
	rq.upload_item = u.item;
	rq.upload_bound = upload_binding(&u);
	rq.stripped = nstripped;
	rq.consumed = consumed;
	rq.nconsumed = ncons;
	if (publish_config(&rq, out) == EX_OK) {
		/* Adopted: the uploads of this agent are used up. */
		for (size_t i = 0; i < ncons; i++)
			if (spool_claim(&q, consumed[i]) == 0)
				(void)spool_done(&q, consumed[i]);
	}
	free(stripped);
done:
	upload_clear(&u);
	free(consumed);
	spool_names_free(names, n);
	spool_close(&q);
	return out->rc;
}

/* The uploads' upkeep from the drain (the timer runs it). */
static void
uploads_upkeep(void)
{
	struct spool q;
	struct cd_who who;

	if (spool_open(&q, cd_cf.uploads_dir, SPOOL_CONSUME) == -1) {
		log_warn("event=uploads.open path=%s", cd_cf.uploads_dir);
		return;
	}
	who_init(&who, geteuid(), "drain", NULL);
	if (spool_lock(&q) == 0) {
		uploads_tidy(&q, &who, 1);
		/* As a drain's clean-up: old tmp/ files, and the status
		 * line's temporary file a killed run left. */
		(void)spool_clean_tmp(&q, SPOOL_TMP_MAXAGE);
		/* The review area's upkeep is this queue's "run". */
		(void)spool_status_put(&q, CD_TOOL, 0, 0, 0, 0, 0, 0);
		spool_status_end(&q);
	}
	spool_close(&q);
}

/* ---- the submission queue ---- */

static void
queue_item(const char *agent, const char *action, const char *buf,
    size_t len)
{
	char name[SPOOL_NAME_MAX], hdr[HEADER_MAX], v[LOG_VISBUF];
	int hl;

	hl = snprintf(hdr, sizeof(hdr), "%sAction: %s\nAgent: %s\n\n",
	    SUBMIT_MAGIC, action, agent);
	if (hl < 0 || (size_t)hl >= sizeof(hdr))
		fatalx(EX_SOFTWARE, "event=queue.header");
	/*
	 * 0644 inside a 1770 directory: only the queue's owner (conf-dist)
	 * and its group (the submitters) can reach it.  Ownership is the
	 * submitter's identity, so the file is ours alone to change.
	 */
	if (spool_put(cd_cf.submit_dir, agent, 0644, hdr, (size_t)hl, buf, len,
	    name, sizeof(name)) == -1) {
		if (errno == EACCES || errno == EPERM)
			fatal(EX_NOPERM, "event=queue.open path=%s msg=\"not "
			    "allowed to submit? (group of %s/new)\"",
			    cd_cf.submit_dir, cd_cf.submit_dir);
		fatal(EX_IOERR, "event=queue.write path=%s", cd_cf.submit_dir);
	}
	printf("conf-dist: queued %s for %s as %s; conf-dist.service decides "
	    "(journal and audit log)\n", action, log_vis(v, sizeof(v), agent,
	    strlen(agent)), name);
}

/* Split a queued item: 1 with header, 0 bare file, -1 malformed. */
static int
item_parse(char *data, size_t len, char *action, size_t alen, char *agent,
    size_t aglen, size_t *hdrlen)
{
	size_t ml = sizeof(SUBMIT_MAGIC) - 1, pos;

	*hdrlen = 0;
	action[0] = agent[0] = '\0';
	if (len < ml || memcmp(data, SUBMIT_MAGIC, ml) != 0)
		return 0;
	pos = ml;
	for (;;) {
		char *line = data + pos, *nl;
		size_t ll;

		if (pos >= len || pos >= HEADER_MAX ||
		    (nl = memchr(line, '\n', len - pos)) == NULL)
			return -1;
		ll = nl - line;
		pos += ll + 1;
		if (ll == 0)
			break;
		*nl = '\0';
		if (strncmp(line, "Action: ", 8) == 0)
			strlcpy(action, line + 8, alen);
		else if (strncmp(line, "Agent: ", 7) == 0)
			strlcpy(agent, line + 7, aglen);
		else
			return -1;
	}
	*hdrlen = pos;
	return 1;
}

/* Handle one claimed item; out says what became of it. */
static void
drain_one(struct spool *q, const char *name, struct outcome *out)
{
	struct cd_who who;
	struct stat sb;
	struct pub_req rq;
	char action[32], agent[CD_AGENT_MAX + 2], why[256], *data = NULL;
	size_t len, hl = 0;
	int fd, h;

	out->rc = EX_OK;
	out->reason[0] = '\0';
	if ((fd = spool_open_cur(q, name)) == -1 || fstat(fd, &sb) == -1) {
		if (fd != -1)
			close(fd);
		out->rc = EX_IOERR;
		snprintf(out->reason, sizeof(out->reason), "open: %s",
		    strerror(errno));
		return;
	}
	close(fd);
	/* A second link, or anyone else able to write it: whose is it? */
	if (!S_ISREG(sb.st_mode) || sb.st_nlink != 1 ||
	    (sb.st_mode & 022) != 0) {
		out->rc = EX_NOPERM;
		snprintf(out->reason, sizeof(out->reason), "not a regular file "
		    "with one link, writable by its owner only");
		return;
	}
	who_init(&who, sb.st_uid, "queue", name);
	if ((data = out_read(q->curfd, name, cd_cf.max_size + HEADER_MAX,
	    &len)) == NULL) {
		out->rc = errno == EFBIG ? EX_DATAERR : EX_IOERR;
		snprintf(out->reason, sizeof(out->reason), "read: %s",
		    errno == EFBIG ? "larger than max_size" : strerror(errno));
		goto audit_refusal;
	}
	h = item_parse(data, len, action, sizeof(action), agent,
	    sizeof(agent), &hl);
	if (h == -1) {
		out->rc = EX_DATAERR;
		snprintf(out->reason, sizeof(out->reason), "malformed "
		    "submission header");
		goto audit_refusal;
	}
	if (h == 0) {
		/* A bare configuration dropped in: its agent_name says who. */
		struct ac_msgs m;
		struct agentconf *ac;

		memset(&m, 0, sizeof(m));
		ac = ac_parse(data, len, &m);
		strlcpy(action, "submit", sizeof(action));
		if (ac->agent_name != NULL)
			strlcpy(agent, ac->agent_name, sizeof(agent));
		ac_free(ac);
		ac_msgs_free(&m);
		if (agent[0] == '\0') {
			out->rc = EX_DATAERR;
			snprintf(out->reason, sizeof(out->reason), "no "
			    "agent_name in a file dropped into the queue");
			goto audit_refusal;
		}
	}
	if (!agent_ok(agent, why, sizeof(why))) {
		out->rc = EX_DATAERR;
		snprintf(out->reason, sizeof(out->reason), "%s", why);
		goto audit_refusal;
	}
	if (strcmp(action, "adopt") == 0 ||
	    strcmp(action, "adopt-unverified") == 0) {
		adopt(agent, &who, 0, action[5] == '-', out);
		goto done;
	}
	if (strcmp(action, "submit") != 0) {
		out->rc = EX_DATAERR;
		snprintf(out->reason, sizeof(out->reason), "unknown action");
		goto audit_refusal;
	}
	memset(&rq, 0, sizeof(rq));
	rq.agent = agent;
	rq.buf = data + hl;
	rq.len = len - hl;
	rq.who = &who;
	rq.action = "config.publish";
	publish_config(&rq, out);
	goto done;
audit_refusal:
	{
		struct audit_buf ab;

		audit_buf_init(&ab);
		audit_begin(&ab, CD_TOOL, "config.publish", "refused");
		cd_audit_who(&ab, &who);
		audit_str(&ab, "reason", out->reason);
		audit_end(&ab);
		if (audit_commit(cd_cf.audit_spool, &ab) == -1) {
			out->rc = EX_TEMPFAIL;
			snprintf(out->reason, sizeof(out->reason), "cannot "
			    "write the audit event");
		}
		audit_buf_free(&ab);
	}
done:
	free(data);
}

static int
cmd_drain(void)
{
	struct spool q;
	struct outcome out;
	char **names;
	size_t n, done = 0, refused = 0;
	int rc = EX_OK, l;

	uploads_trust_init();	/* an adopt may come; keys while readable */
	cd_become_service();
	if (spool_open(&q, cd_cf.submit_dir, SPOOL_CONSUME) == -1)
		fatal(EX_IOERR, "event=queue.open path=%s", cd_cf.submit_dir);
	if ((l = spool_lock(&q)) == 1) {
		spool_close(&q);
		return EX_OK;
	}
	if (l == -1 || spool_recover(&q) == -1)
		fatal(EX_IOERR, "event=queue.recover");
	(void)spool_clean_tmp(&q, SPOOL_TMP_MAXAGE);
	if (spool_scan(&q, &names, &n) == -1)
		fatal(EX_IOERR, "event=queue.scan");
	for (size_t i = 0; i < n && rc == EX_OK; i++) {
		if (spool_claim(&q, names[i]) != 0)
			continue;
		drain_one(&q, names[i], &out);
		switch (out.rc) {
		case EX_OK:
			if (spool_done(&q, names[i]) == -1)
				rc = EX_IOERR;
			done++;
			break;
		case EX_NOPERM:
		case EX_DATAERR:
		case EX_NOINPUT:
			if (spool_reject(&q, names[i], CD_TOOL, out.rc, "%s",
			    out.reason) == -1)
				rc = EX_IOERR;
			refused++;
			break;
		default:
			/* Temporary, I/O or configuration: keep it. */
			if (spool_retry(&q, names[i]) == -1)
				log_warn("event=queue.retry item=%s", names[i]);
			log_warnx("event=queue.stop item=%s code=%d "
			    "reason=\"%s\"", names[i], out.rc, out.reason);
			rc = out.rc == EX_CONFIG ? EX_CONFIG : out.rc ==
			    EX_IOERR ? EX_IOERR : EX_TEMPFAIL;
			break;
		}
	}
	spool_names_free(names, n);
	(void)spool_status_put(&q, CD_TOOL, rc, n, done, refused, 0, 0);
	spool_status_end(&q);
	spool_close(&q);
	uploads_upkeep();
	log_info("event=drain.done items=%zu published=%zu refused=%zu rc=%d",
	    n, done, refused, rc);
	return rc;
}

/* ---- commands ---- */

static int
cmd_submit(const char *agent, const char *path)
{
	struct cd_who who;
	struct pub_req rq;
	struct outcome out;
	char why[256], *buf;
	const char *su;
	size_t len;

	if (!agent_ok(agent, why, sizeof(why)))
		fatalx(EX_USAGE, "event=submit.refused reason=\"%s\"", why);
	buf = cd_read_input(path, cd_cf.max_size, &len);
	if (!cd_am_service()) {
		/* Not the service: the queue, where the file's owner is us. */
		struct ac_msgs m;
		struct agentconf *ac;

		memset(&m, 0, sizeof(m));
		ac = ac_parse(buf, len, &m);
		ac_lint(ac, agent, cd_cf.lint_allow, cd_cf.nallow, &m);
		ac_free(ac);
		if (m.total > 0) {
			print_msgs(agent, &m);
			ac_msgs_free(&m);
			free(buf);
			return EX_DATAERR;
		}
		queue_item(agent, "submit", buf, len);
		free(buf);
		return EX_OK;
	}
	who_init(&who, getuid(), "direct", NULL);
	if (who.uid == 0 && (su = getenv("SUDO_USER")) != NULL &&
	    getuid() == geteuid())
		strlcpy(who.sudo_user, su, sizeof(who.sudo_user));
	cd_become_service();
	memset(&rq, 0, sizeof(rq));
	rq.agent = agent;
	rq.buf = buf;
	rq.len = len;
	rq.who = &who;
	rq.action = "config.publish";
	publish_config(&rq, &out);
	if (out.rc != EX_OK)
		fprintf(stderr, "conf-dist: %s: refused: %s\n", agent,
		    out.reason);
	free(buf);
	return out.rc;
}

static int
cmd_adopt(int argc, char **argv)
{
	struct cd_who who;
	struct outcome out;
	char why[256];
	int ch, print_only = 0, unverified_ok = 0;

	optind = 1;
	while ((ch = getopt(argc, argv, "pU")) != -1) {
		if (ch == 'p')
			print_only = 1;
		else if (ch == 'U')
			unverified_ok = 1;
		else
			tool_usage(&tool, stderr, EX_USAGE);
	}
	if (argc - optind != 1)
		tool_usage(&tool, stderr, EX_USAGE);
	if (!agent_ok(argv[optind], why, sizeof(why)))
		fatalx(EX_USAGE, "event=adopt.refused reason=\"%s\"", why);
	if (!cd_am_service()) {
		if (print_only)
			fatalx(EX_NOPERM, "event=adopt.refused reason=\"-p "
			    "needs the conf-dist user\"");
		queue_item(argv[optind], unverified_ok ? "adopt-unverified" :
		    "adopt", NULL, 0);
		return EX_OK;
	}
	who_init(&who, getuid(), "direct", NULL);
	uploads_trust_init();
	cd_become_service();
	adopt(argv[optind], &who, print_only, unverified_ok, &out);
	if (out.rc != EX_OK)
		fprintf(stderr, "conf-dist: adopt %s: %s\n", argv[optind],
		    out.reason);
	return out.rc;
}

static int
cmd_lint(int argc, char **argv)
{
	struct ac_msgs m;
	struct agentconf *ac;
	const char *agent, *path;
	char *buf;
	size_t len;
	int rc;

	if (argc == 2) {
		agent = NULL;
		path = argv[1];
	} else if (argc == 3) {
		agent = argv[1];
		path = argv[2];
	} else
		tool_usage(&tool, stderr, EX_USAGE);
	buf = cd_read_input(path, cd_cf.max_size, &len);
	memset(&m, 0, sizeof(m));
	ac = ac_parse(buf, len, &m);
	if (agent == NULL)
		agent = ac->agent_name ? ac->agent_name : "";
	ac_lint(ac, agent, cd_cf.lint_allow, cd_cf.nallow, &m);
	rc = m.total > 0 ? EX_DATAERR : EX_OK;
	print_msgs(path, &m);
	if (rc == EX_OK)
		printf("%s: ok\n", path);
	ac_free(ac);
	ac_msgs_free(&m);
	free(buf);
	return rc;
}

/*
 * The verifier's memory of serials (verify -s): "<file> <serial>" lines.
 * The serial of name, 0 if never seen; -1 on a read error.
 */
static int
state_get(const char *path, const char *name, unsigned long long *serial,
    char **text, size_t *len)
{
	char *p, *e;
	size_t nl = strlen(name);

	*serial = 0;
	if ((*text = out_read(AT_FDCWD, path, 1 << 20, len)) == NULL) {
		if (errno != ENOENT)
			return -1;
		*text = xstrdup("");
		*len = 0;
		return 0;
	}
	for (p = *text, e = *text + *len; p < e; ) {
		char *eol = memchr(p, '\n', e - p);

		if (eol == NULL)
			eol = e;
		if ((size_t)(eol - p) > nl + 1 && memcmp(p, name, nl) == 0 &&
		    p[nl] == ' ')
			*serial = strtoull(p + nl + 1, NULL, 10);
		p = eol + 1;
	}
	return 0;
}

/* Record serial for name in the state file (others kept). */
static int
state_put(const char *path, const char *name, unsigned long long serial,
    const char *text, size_t len)
{
	char *dir = xstrdup(path), *base, *out, *p, *e, line[320];
	size_t nl = strlen(name), olen = 0;
	int dfd, rc;

	out = xmalloc(len + sizeof(line));
	for (p = (char *)text, e = (char *)text + len; p < e; ) {
		char *eol = memchr(p, '\n', e - p);

		if (eol == NULL)
			eol = e;
		if (!((size_t)(eol - p) > nl && memcmp(p, name, nl) == 0 &&
		    p[nl] == ' ') && eol > p) {
			memcpy(out + olen, p, eol - p);
			olen += eol - p;
			out[olen++] = '\n';
		}
		p = eol + 1;
	}
	olen += snprintf(out + olen, sizeof(line), "%s %llu\n", name, serial);
	if ((base = strrchr(dir, '/')) != NULL) {
		*base++ = '\0';
		dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		base = dir;
		dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	rc = dfd == -1 ? -1 : out_write(dfd, base, out, olen);
	if (dfd != -1)
		close(dfd);
	free(out);
	free(dir);
	return rc;
}

/* Check one served file against its manifest FILE.sig: 1 ok, 0 not
 * (a line on stdout says why). */
static int
verify_one(const struct cd_keys *keys, const char *path, const char *agent,
    const char *state)
{
	struct cd_manifest m;
	enum cd_kind kind;
	unsigned long long seen = 0;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char *sigpath, *buf, *sig, *st = NULL, subject[256], err[400];
	char key[CD_KEY_LEN + 1];
	size_t len, slen, stlen = 0;
	int ok = 0;

	if (asprintf(&sigpath, "%s.sig", path) == -1)
		fatalx(EX_OSERR, "event=oom");
	buf = out_read(AT_FDCWD, path, (size_t)1 << 30, &len);
	sig = out_read(AT_FDCWD, sigpath, CD_MANIFEST_MAX, &slen);
	if (buf == NULL || sig == NULL) {
		printf("%s: %s\n", path, buf == NULL ? "cannot read" :
		    "no signature");
		goto out;
	}
	if (manifest_expect(base, &kind, subject, sizeof(subject)) == -1) {
		printf("%s: REFUSED: not a name conf-dist serves\n", path);
		goto out;
	}
	if (cd_manifest_check(keys, sig, slen, &m, err, sizeof(err)) == -1) {
		printf("%s: %s%s\n", path, strncmp(err, "BAD", 3) == 0 ? "" :
		    "REFUSED: ", err);
		goto out;
	}
	if (!manifest_binds(&m, kind, subject, base, buf, len, err,
	    sizeof(err))) {
		printf("%s: REFUSED: %s\n", path, err);
		goto out;
	}
	if (agent != NULL) {
		md5_hex(agent, strlen(agent), key);
		if (m.kind != CD_AGENT || strcmp(m.subject, key) != 0) {
			printf("%s: REFUSED: not agent %s's (its key is %s)\n",
			    path, agent, key);
			goto out;
		}
	}
	if (state != NULL) {
		if (state_get(state, base, &seen, &st, &stlen) == -1)
			fatal(EX_IOERR, "event=verify.state path=%s", state);
		if (m.serial < seen) {
			printf("%s: ROLLBACK: serial %llu is older than %llu, "
			    "seen before\n", path, m.serial, seen);
			goto out;
		}
		if (m.serial > seen && state_put(state, base, m.serial, st,
		    stlen) == -1)
			fatal(EX_IOERR, "event=verify.state path=%s", state);
	}
	printf("%s: signature ok (%s %s, serial %llu, %s)\n", path,
	    manifest_kind_name(m.kind), m.subject, m.serial, m.time);
	ok = 1;
out:
	free(st);
	free(buf);
	free(sig);
	free(sigpath);
	return ok;
}

static int
cmd_verify(int argc, char **argv)
{
	const char *agent = NULL, *state = NULL;
	struct cd_keys keys;
	char **paths;
	size_t np = 0;
	int ch, rc = EX_OK;

	/* Without -k: this node's key and the cluster's. */
	paths = xcalloc((size_t)argc + cd_cf.ncluster_pubkeys + 1,
	    sizeof(*paths));
	optind = 1;
	while ((ch = getopt(argc, argv, "a:k:s:")) != -1) {
		switch (ch) {
		case 'a':
			agent = optarg;
			break;
		case 'k':
			paths[np++] = optarg;
			break;
		case 's':
			state = optarg;
			break;
		default:
			tool_usage(&tool, stderr, EX_USAGE);
		}
	}
	if (optind >= argc)
		tool_usage(&tool, stderr, EX_USAGE);
	if (np == 0) {
		paths[np++] = cd_cf.sign_pubkey;
		for (size_t i = 0; i < cd_cf.ncluster_pubkeys; i++)
			paths[np++] = cd_cf.cluster_pubkeys[i];
	}
	cd_keys_load(&keys, paths, np);
	free(paths);
	for (int i = optind; i < argc; i++)
		if (!verify_one(&keys, argv[i], agent, state))
			rc = EX_DATAERR;
	cd_keys_free(&keys);
	return rc;
}

static int
cmd_keygen(int argc, char **argv)
{
	struct passwd *pw;
	char err[512];
	uid_t uid = (uid_t)-1;
	gid_t gid = (gid_t)-1;
	int ch, force = 0;

	optind = 1;
	while ((ch = getopt(argc, argv, "f")) != -1) {
		if (ch != 'f')
			tool_usage(&tool, stderr, EX_USAGE);
		force = 1;
	}
	if (optind != argc)
		tool_usage(&tool, stderr, EX_USAGE);
	if (geteuid() == 0) {
		/* Root makes the key for the service user, who owns it. */
		if ((pw = getpwnam(cd_cf.user)) == NULL)
			fatalx(EX_CONFIG, "event=keygen.fail msg=\"no user "
			    "%s\"", cd_cf.user);
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (sig_keygen(cd_cf.sign_key, cd_cf.sign_pubkey, uid, gid, force,
	    err, sizeof(err)) == -1)
		fatalx(EX_CANTCREAT, "event=keygen.fail msg=\"%s\"", err);
	log_info("event=keygen key=%s pubkey=%s", cd_cf.sign_key,
	    cd_cf.sign_pubkey);
	printf("conf-dist: wrote %s (0600) and %s\n", cd_cf.sign_key,
	    cd_cf.sign_pubkey);
	return EX_OK;
}

static int
cmd_check(void)
{
	char err[512];
	EVP_PKEY *k;

	if (access(cd_cf.sign_key, F_OK) == -1)
		printf("conf-dist: no signing key %s yet (conf-dist keygen)\n",
		    cd_cf.sign_key);
	else if (cd_am_service() || access(cd_cf.sign_key, R_OK) == 0) {
		if ((k = sig_load_private(cd_cf.sign_key, err,
		    sizeof(err))) == NULL)
			tool_conf_fatal(NULL, err);
		EVP_PKEY_free(k);
	}
	/* The other nodes' keys must load (exits 78 naming the bad one). */
	if (cd_cf.cluster_db) {
		struct cd_keys ks;

		cd_keys_load(&ks, cd_cf.cluster_pubkeys,
		    cd_cf.ncluster_pubkeys);
		printf("conf-dist: cluster db as %s, %zu other node key%s\n",
		    cd_cf.node, ks.n, ks.n == 1 ? "" : "s");
		cd_keys_free(&ks);
	}
	printf("conf-dist: configuration ok\n");
	return EX_OK;
}

int
main(int argc, char *argv[])
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int rc = EX_USAGE;

	/* Every option is a common one. */
	if (tool_getopt(&tool, argc, argv, "+c:dhnVv", lopts) != -1)
		tool_usage(&tool, stderr, EX_USAGE);
	argc -= optind;
	argv += optind;
	if (argc == 0 && !tool.check)
		tool_usage(&tool, stderr, EX_USAGE);
	/* The drain is a service; every other command talks to a person. */
	tool_log_init(&tool, LOG_DAEMON, tool.fg || argc == 0 ||
	    (strcmp(argv[0], "drain") != 0 && strcmp(argv[0], "sync") != 0));
	log_setsyslog(1);
	/*
	 * Set-id, the caller would choose the configuration (the ACL) and
	 * have the service read files for it (the signing key): no.  The
	 * queue is how other users submit.
	 */
	if (getuid() != geteuid() || getgid() != getegid())
		fatalx(EX_NOPERM, "event=priv.refused msg=\"conf-dist does not "
		    "run set-user-ID or set-group-ID; submissions go through "
		    "the queue\"");
	tool_conf_load(&tool);
	configure(&cd_cf);
	umask(022);
	if (tool.check)
		rc = cmd_check();
	else if (strcmp(argv[0], "submit") == 0 && argc == 3)
		rc = cmd_submit(argv[1], argv[2]);
	else if (strcmp(argv[0], "lint") == 0)
		rc = cmd_lint(argc, argv);
	else if (strcmp(argv[0], "drain") == 0 && argc == 1)
		rc = cmd_drain();
	else if (strcmp(argv[0], "sync") == 0) {
		if ((rc = cmd_sync(argc, argv)) == EX_USAGE)
			tool_usage(&tool, stderr, EX_USAGE);
	}
	else if (strcmp(argv[0], "verify") == 0)
		rc = cmd_verify(argc, argv);
	else if (strcmp(argv[0], "collection") == 0 && argc == 4 &&
	    strcmp(argv[1], "publish") == 0)
		rc = cmd_collection_publish(argv[2], argv[3]);
	else if (strcmp(argv[0], "command") == 0 && argc == 4 &&
	    strcmp(argv[1], "publish") == 0)
		rc = cmd_command_publish(argv[2], argv[3]);
	else if (strcmp(argv[0], "uploads") == 0 && argc == 1)
		rc = cmd_uploads();
	else if (strcmp(argv[0], "adopt") == 0)
		rc = cmd_adopt(argc, argv);
	else if (strcmp(argv[0], "keygen") == 0)
		rc = cmd_keygen(argc, argv);
	else
		tool_usage(&tool, stderr, EX_USAGE);
	unconfigure(&cd_cf);
	conf_free(tool.conf);
	if (fflush(stdout) != 0 && rc == EX_OK)
		rc = EX_IOERR;
	return rc;
}
