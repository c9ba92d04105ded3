/* SPDX-License-Identifier: ISC */
/*
 * db-load: the last stage.  Drains spool/db-load into MariaDB, exactly
 * once: every file is a savepoint in a batch transaction and records its
 * SHA-256 in octo_loaded_file with its rows; COMMIT happens in the
 * drain's commit step, after the batch's audit events are durable and
 * before the inputs are removed.  With a FILE operand it loads one file;
 * with --init it creates octospool's tables.  See db-load(8).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "agentxml.h"
#include "audit.h"
#include "conf.h"
#include "db.h"
#include "drain.h"
#include "envelope.h"
#include "log.h"
#include "priv.h"
#include "spool.h"
#include "stamp.h"
#include "tool.h"
#include "xalloc.h"

#include "dbload.h"

#define DEFAULT_SPOOL	"/var/spool/octospool"
#define DEFAULT_USER	"octospool-db"
#define DEFAULT_PRODUCER "octospool-auth"
#define DEFAULT_AUTH_PUB "/etc/octospool/keys/agent-auth.pub"

/* Every key the [db-load] section may hold. */
static const char *const known_keys[] = {
	"spool_dir", "user", "audit", "audit_spool", "batch", "allow_create",
	"autocreate_group", "autocreate_group_force", "module_cap",
	"update_parent", "server_name", "max_size", "regex_max_pattern",
	"regex_max_subject", "regex_budget", "event_precision", "producer",
	"auth_pubkey", DRAIN_LINGER_KEYS, DB_TOOL_KEYS,
	"cache_ttl",	/* 0.3.0's: accepted, ignored (db-load(8)) */
	NULL
};

static const char *const admin_keys[] = { DB_TOOL_KEYS, "grant_host",
    "grant_require", "upgrade_on_install", NULL };

static struct stamp_keys auth_keys;	/* agent-auth's stamps */
static int have_auth_keys;
static struct idset producers;

static struct tool tool = { .name = "db-load", .section = DL_SECTION,
    .usage =
    "usage: db-load [-dhnVv] [-c file] [FILE]\n"
    "       db-load [-c file] --init [--dba section] [--print]\n"
    "       db-load [-c file] --init --auto\n"
    "       db-load [-c file] --check-schema\n"
    "  without FILE: drain spool/db-load into the database\n"
    "  with FILE (- for stdin): load one item, exit 0, 65, 75 or 77\n"
    "  --init: octospool's tables and accounts on an existing Pandora\n"
    "          database ([db-admin], or the section of --dba); --print:\n"
    "          the SQL instead; upgrades older octo_* tables in place;\n"
    "          --auto: only if [db-admin] upgrade_on_install names\n"
    "          the section to use (the package's postinst)\n"
    "  --check-schema: does the database have what db-load needs?\n"
    "See db-load(8).\n"
};

/* The configuration into cf; errors exit 78. */
static void
configure(struct dl_conf *cf)
{
	char err[512], host[256];

	tool_conf_check(&tool, known_keys);
	if (tool.conf != NULL && db_conf_check(tool.conf, err, sizeof(err)) ==
	    -1)
		tool_conf_fatal(NULL, err);
	cf->spool_dir = tool_str(&tool, "spool_dir", DEFAULT_SPOOL);
	cf->user = tool_str(&tool, "user", DEFAULT_USER);
	cf->audit = tool_bool(&tool, "audit", 1);
	cf->audit_spool = tool_path(&tool, "audit_spool", cf->spool_dir,
	    "audit-sign");
	/* Bigger than the drain's default: an agent's modules are read once
	 * per batch and its status rows written once. */
	cf->batch = tool_num(&tool, "batch", 1, 4096, DL_BATCH);
	tool_linger_conf(&tool, &cf->linger, DRAIN_SETTLE_WAIT, 0);
	if (conf_get(tool.conf, tool.section, "cache_ttl") != NULL)
		log_warnx("event=conf.ignored key=cache_ttl msg=\"db-load "
		    "keeps its agents for one transaction; remove the key "
		    "(db-load(8))\"");
	cf->allow_create = tool_bool(&tool, "allow_create", 0);
	cf->group = (int)tool_num(&tool, "autocreate_group", -1, 16777215, 10);
	cf->group_force = tool_bool(&tool, "autocreate_group_force", 0);
	cf->module_cap = (long)tool_num(&tool, "module_cap", 0, 2147483647L,
	    1000);
	cf->update_parent = tool_bool(&tool, "update_parent", 0);
	cf->max_size = (size_t)tool_num(&tool, "max_size", 1,
	    AGENTXML_MAX_SIZE_CAP, AGENTXML_MAX_SIZE);
	cf->re_max_pattern = (size_t)tool_num(&tool, "regex_max_pattern", 1,
	    65536, PANDORA_RE_MAX_PATTERN);
	cf->re_max_subject = (size_t)tool_num(&tool, "regex_max_subject", 1,
	    AGENTXML_MAX_SIZE_CAP, PANDORA_RE_MAX_SUBJECT);
	cf->re_budget_ns = tool_num(&tool, "regex_budget", 1, 60000,
	    PANDORA_RE_BUDGET_MS) * 1000000LL;
	cf->event_precision = (int)tool_num(&tool, "event_precision", 0, 15, 1);
	if (gethostname(host, sizeof(host)) == -1)
		strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	cf->server_name = tool_str(&tool, "server_name", host);
	if (strlen(cf->server_name) > 100)
		fatalx(EX_CONFIG, "event=config.error section=%s key=server_name "
		    "msg=\"longer than tagente.server_name's 100 characters\"",
		    DL_SECTION);
	cf->producer = tool_str(&tool, "producer", DEFAULT_PRODUCER);
	cf->auth_pubkey = tool_str(&tool, "auth_pubkey", DEFAULT_AUTH_PUB);
	if (strcmp(cf->auth_pubkey, "none") == 0) {
		free(cf->auth_pubkey);
		cf->auth_pubkey = NULL;
	}
	if (db_conf_load(&cf->db, tool.conf, DL_SECTION, err, sizeof(err)) ==
	    -1)
		tool_conf_fatal(NULL, err);
}

static void
conf_release(struct dl_conf *cf)
{
	free(cf->spool_dir);
	free(cf->user);
	free(cf->audit_spool);
	free(cf->server_name);
	free(cf->producer);
	free(cf->auth_pubkey);
	db_conf_free(&cf->db);
	stamp_keys_free(&auth_keys);
}

/* agent-auth's public keys and the queue's producer, while readable. */
static void
load_keys(const struct dl_conf *cf, int drain)
{
	char err[512];

	if (cf->auth_pubkey != NULL) {
		if (stamp_keys_load(&auth_keys, "agent-auth", cf->auth_pubkey,
		    err, sizeof(err)) == -1)
			tool_conf_fatal("auth_pubkey", err);
		have_auth_keys = 1;
	}
	if (drain)
		tool_idset(&producers, cf->producer, "producer");
}

static void
run_free(struct dl_run *run)
{
	dl_agents_clear(run);
	free(run->agents);
	dl_rows_clear(run);
	dl_stmts_free(&run->st);
	if (run->db != NULL)
		db_close(run->db);
	free(run->lat_ms);
}

static void
note_latency(struct dl_run *run, const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (run->nlat == run->caplat) {
		run->caplat = run->caplat ? run->caplat * 2 : 1024;
		run->lat_ms = xreallocarray(run->lat_ms, run->caplat,
		    sizeof(*run->lat_ms));
	}
	run->lat_ms[run->nlat++] = (t1.tv_sec - t0->tv_sec) * 1e3 +
	    (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * The Auth-* keys are agent-auth's decision: believed only under its
 * stamp (auth_pubkey), which signs the agent, the group and the body's
 * digest.  With a key configured, an item without a valid decision is
 * refused (-1, reason set); with auth_pubkey none, no decision counts
 * and the configuration (allow_create, ...) decides.  *envp is the
 * envelope to load with.
 */
static int
check_decision(const char *data, const struct envelope *env,
    const char *body, size_t bodylen, struct envelope *copy,
    const struct envelope **envp, int *code, char *reason, size_t rlen)
{
	char sha[65], err[256];
	int r;

	*envp = env;
	if (!have_auth_keys) {
		*copy = *env;
		copy->auth_create = copy->auth_learn = ENVELOPE_UNSET;
		copy->have_module_cap = copy->have_auth_group = 0;
		copy->auth_agent[0] = '\0';
		*envp = copy;
		return 0;
	}
	*code = EX_NOPERM;
	if (env->hdrlen == 0) {
		snprintf(reason, rlen, "rule=auth line=0 no decision of "
		    "agent-auth (a bare agent file; see auth_pubkey)");
		return -1;
	}
	stamp_sha256_hex(body, bodylen, sha);
	if ((r = stamp_check(&auth_keys, data, env, sha, err,
	    sizeof(err))) != 1) {
		snprintf(reason, rlen, "rule=stamp line=0 %s", r == 0 ?
		    "the envelope carries no stamp of agent-auth" : err);
		return -1;
	}
	if (env->auth_agent[0] == '\0' || !env->have_auth_group ||
	    env->auth_create == ENVELOPE_UNSET) {
		snprintf(reason, rlen, "rule=auth line=0 the decision of "
		    "agent-auth names no agent or group");
		return -1;
	}
	return 0;
}

/* The drain handler: one item. */
static int
handle(struct drain *d, struct drain_item *it, void *arg)
{
	struct dl_run *run = arg;
	struct dl_result res;
	struct timespec t0;
	char reason[DRAIN_REASON_MAX], vis[LOG_VISBUF];
	enum dl_outcome rc;
	int code = EX_DATAERR;

	const struct envelope *env = &it->env;
	struct envelope copy;

	reason[0] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run->files++;
	if (check_decision(it->data, &it->env, it->body, it->bodylen, &copy,
	    &env, &code, reason, sizeof(reason)) == -1) {
		drain_reason(it, code, "%s", reason);
		return DRAIN_REJECT;
	}
	rc = dl_load(run, it->name, env, it->body, it->bodylen,
	    drain_audit(d), &res, &code, reason, sizeof(reason));
	note_latency(run, &t0);
	switch (rc) {
	case DL_LOADED:
		log_debug("event=file.loaded id=%s agent_id=%llu modules=%u "
		    "created=%u values=%lu refused=%lu events=%lu "
		    "regex_ms=%.3f", it->name, res.agent_id, res.modules,
		    res.modules_created, res.values, res.values_refused,
		    res.events, res.regex_ns / 1e6);
		return DRAIN_DONE;
	case DL_DUPLICATE:
		return DRAIN_DONE;
	case DL_SKIPPED:
		return DRAIN_DONE;
	case DL_REJECT:
		drain_reason(it, code, "%s", reason);
		return DRAIN_REJECT;
	default:
		log_info("event=item.retry id=%s reason=\"%s\"", it->name,
		    log_vis(vis, sizeof(vis), reason, strnlen(reason,
		    sizeof(reason))));
		return DRAIN_RETRY;
	}
}

/*
 * A batch begins: read its files' agents in one query (dl_prefetch),
 * named by the envelopes' Auth-Agent.  Unchecked here (the stamp is
 * checked file by file): a wrong name only reads an agent no file uses.
 * If the query fails for a reason that would fail the batch's first
 * file (a conflict, a lost connection, a fatal error: logged), the
 * batch is not started: EX_TEMPFAIL ends the pass with its items in
 * new/ (drain_mode runs a conflict again; run->exit_code wins).
 */
static int
batch_begin(struct drain *d, char *const *names, size_t n, void *arg)
{
	struct dl_run *run = arg;
	char buf[ENVELOPE_MAX], err[256], **agents;
	enum dl_outcome rc;
	size_t na = 0;

	/* No decision counts (no Auth-Agent), or no index to read by. */
	if (n == 0 || !have_auth_keys || (run->schema_checked &&
	    !run->schema.agent_name_index))
		return 0;
	agents = xcalloc(n, sizeof(*agents));
	for (size_t i = 0; i < n; i++) {
		struct envelope env;
		ssize_t got = drain_peek(d, names[i], buf, sizeof(buf));

		if (got <= 0 || envelope_parse(buf, (size_t)got, &env, err,
		    sizeof(err)) != 1 || env.auth_agent[0] == '\0')
			continue;
		agents[na++] = xstrdup(env.auth_agent);
	}
	rc = dl_prefetch(run, agents, na);
	for (size_t i = 0; i < na; i++)
		free(agents[i]);
	free(agents);
	if (rc == DL_LOADED)
		return 0;
	log_info("event=batch.retry items=%zu msg=\"the batch's agent query "
	    "failed: given back unclaimed\"", n);
	return EX_TEMPFAIL;
}

/* Before the batch's audit events are written: a lost transaction's
 * events are not true, the batch comes back whole. */
static void
prepare(struct drain *d, void *arg)
{
	struct dl_run *run = arg;

	if (run->broken)
		audit_buf_reset(drain_audit(d));
}

/* After outputs and audit are durable: COMMIT (-1 gives it back). */
static int
commit(struct drain *d, void *arg)
{
	struct timespec t0, t1;
	int rc;

	(void)d;
	drain_pause_point("precommit");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = dl_commit(arg);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_debug("event=batch.commit rc=%d ms=%.3f", rc,
	    (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
	return rc;
}

/*
 * A pass of the lingering drain: the connection and its prepared
 * statements stay (the agents read go with each transaction: dl_commit);
 * the statistics are the pass's.
 */
static void
pass_begin(void *arg)
{
	struct dl_run *run = arg;

	run->loaded = run->duplicates = run->values = 0;
	run->nlat = 0;
	clock_gettime(CLOCK_MONOTONIC, run->t0);
}

static void
pass_end(const struct drain_stats *st, int rc, void *arg)
{
	struct dl_run *run = arg;
	struct timespec t1;
	double ms, p50 = 0, p99 = 0, pmax = 0;

	/*
	 * A transaction still open here holds locks and nothing to commit:
	 * a batch's agent query (dl_prefetch) whose items were all gone
	 * when claimed, or a batch the drain gave back.  End it now, not
	 * when the next file comes.
	 */
	if (run->in_txn)
		dl_abort(run);
	if (run->exit_code != 0 && (rc == 0 || rc == EX_TEMPFAIL))
		rc = run->exit_code;
	if (st->seen == 0 && rc == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - run->t0->tv_sec) * 1e3 +
	    (t1.tv_nsec - run->t0->tv_nsec) / 1e6;
	if (run->nlat > 0) {
		qsort(run->lat_ms, run->nlat, sizeof(*run->lat_ms), dbl_cmp);
		p50 = run->lat_ms[run->nlat / 2];
		p99 = run->lat_ms[(run->nlat * 99) / 100];
		pmax = run->lat_ms[run->nlat - 1];
	}
	log_info("event=drain.done stage=%s seen=%lu loaded=%lu "
	    "duplicates=%lu rejected=%lu retried=%lu batches=%lu "
	    "values=%lu ms=%.0f values_per_s=%.0f file_ms_p50=%.3f "
	    "file_ms_p99=%.3f file_ms_max=%.3f exit=%d", DL_STAGE,
	    st->seen, run->loaded, run->duplicates, st->rejected,
	    st->retried, st->batches, run->values, ms,
	    ms > 0 ? run->values * 1000.0 / ms : 0, p50, p99, pmax, rc);
}

static int
drain_mode(struct dl_conf *cf)
{
	struct drain_opts o;
	struct drain_stats st;
	struct dl_run run;
	struct drain *d;
	struct timespec t0;
	int rc;

	memset(&run, 0, sizeof(run));
	run.cf = cf;
	memset(&o, 0, sizeof(o));
	o.stage = DL_STAGE;
	o.max_item = cf->max_size + ENVELOPE_MAX;
	o.batch = cf->batch;
	o.commit = commit;
	o.prepare = prepare;
	o.batch_begin = batch_begin;
	o.arg = &run;
	o.producers = &producers;
	d = tool_drain_open(cf->spool_dir, "db-load", NULL,
	    cf->audit ? cf->audit_spool : NULL, &o);
	run.t0 = &t0;
	cf->linger.before = pass_begin;
	cf->linger.after = pass_end;
	cf->linger.arg = &run;
	for (unsigned int tries = 0;; tries++) {
		struct timespec ts;
		long ms;

		run.conflicts = 0;
		rc = drain_linger(d, handle, &run, &cf->linger, &st);
		/*
		 * Another loader (another node of a cluster) held the rows:
		 * the batch went back whole; run it again after a short,
		 * jittered wait, a few times, before giving up with 75.
		 */
		if (rc != EX_TEMPFAIL || run.conflicts == 0 ||
		    run.exit_code != 0 || tries + 1 >= DL_CONFLICT_TRIES ||
		    drain_stopping())
			break;
		/* The batch's transaction is gone: start clean. */
		run.broken = 1;
		dl_abort(&run);
		ms = (25L << tries) + (long)arc4random_uniform(50U << tries);
		log_info("event=db.conflict.retry try=%u wait_ms=%ld",
		    tries + 1, ms);
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000L;
		(void)nanosleep(&ts, NULL);
	}
	drain_close(d);
	if (run.in_txn) {
		/* Only after an I/O error of the spool: nothing committed. */
		run.broken = 1;
		dl_abort(&run);
	}
	if (run.exit_code != 0 && (rc == 0 || rc == EX_TEMPFAIL))
		rc = run.exit_code;
	run_free(&run);
	return rc;
}

/* A reason on stderr: one line, no control characters. */
#define say(label, why)	log_say("db-load", (label), (why))

/* Write ab as one durable file into the audit queue (-1 on failure). */
static int
audit_write(const struct dl_conf *cf, const struct audit_buf *ab)
{
	char name[SPOOL_NAME_MAX];

	if (!cf->audit || ab->len == 0)
		return 0;
	return spool_put(cf->audit_spool, DL_STAGE, SPOOL_MODE, NULL, 0,
	    ab->buf, ab->len, name, sizeof(name));
}

/* Filter mode: one item from path ("-": stdin). */
static int
filter_mode(struct dl_conf *cf, const char *path, int verbose)
{
	const char *label = strcmp(path, "-") == 0 ? "stdin" : path;
	const char *base = strcmp(path, "-") == 0 ? "stdin" :
	    strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	struct envelope env;
	struct audit_buf ab;
	struct dl_result res;
	struct dl_run run;
	char reason[DRAIN_REASON_MAX] = "", err[256], *buf;
	enum dl_outcome rc;
	const struct envelope *envp = &env;
	struct envelope copy;
	ssize_t len;
	int fd, code = EX_DATAERR, ex;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		say(label, strerror(errno));
		return EX_NOINPUT;
	}
	len = io_read_bounded(fd, &buf, cf->max_size + ENVELOPE_MAX);
	if (fd != STDIN_FILENO)
		close(fd);
	if (len == -2) {
		say(label, "rule=size line=0 the item exceeds the size limit");
		return EX_DATAERR;
	}
	if (len == -1) {
		say(label, strerror(errno));
		return EX_IOERR;
	}
	load_keys(cf, 0);
	tool_drop_privileges(cf->user);
	if (envelope_parse(buf, len, &env, err, sizeof(err)) == -1) {
		snprintf(reason, sizeof(reason), "rule=envelope line=0 %s",
		    err);
		say(label, reason);
		free(buf);
		return EX_DATAERR;
	}
	if (check_decision(buf, &env, buf + env.hdrlen, len - env.hdrlen,
	    &copy, &envp, &code, reason, sizeof(reason)) == -1) {
		say(label, reason);
		free(buf);
		return code;
	}
	memset(&run, 0, sizeof(run));
	run.cf = cf;
	audit_buf_init(&ab);
	rc = dl_load(&run, base, envp, buf + env.hdrlen, len - env.hdrlen,
	    &ab, &res, &code, reason, sizeof(reason));
	switch (rc) {
	case DL_LOADED:
	case DL_DUPLICATE:
	case DL_SKIPPED:
	case DL_REJECT:
		if (rc == DL_REJECT && cf->audit) {
			audit_begin(&ab, DL_STAGE, "item.rejected", "refused");
			audit_str(&ab, "item", base);
			audit_str(&ab, "reason", reason);
			audit_end(&ab);
		}
		/* The events are durable before the commit, as in the
		 * drain: no success without its audit record. */
		if (audit_write(cf, &ab) == -1) {
			say(label, "cannot write the audit events");
			run.broken = 1;
			dl_abort(&run);
			ex = EX_IOERR;
			break;
		}
		if (dl_commit(&run) == -1) {
			ex = run.exit_code ? run.exit_code : EX_TEMPFAIL;
			say(label, "commit failed: try again later");
			break;
		}
		if (rc == DL_REJECT) {
			say(label, reason);
			ex = code;
		} else {
			ex = EX_OK;
			if (rc == DL_DUPLICATE)
				say(label, "duplicate: already loaded");
			else if (rc == DL_SKIPPED)
				say(label, "skipped: the agent is disabled");
			else if (verbose) {
				char line[256];

				snprintf(line, sizeof(line), "loaded: "
				    "agent_id=%llu modules=%u created=%u "
				    "values=%lu refused=%lu events=%lu "
				    "regex_ms=%.3f", res.agent_id, res.modules,
				    res.modules_created, res.values,
				    res.values_refused, res.events,
				    res.regex_ns / 1e6);
				say(label, line);
			}
		}
		break;
	case DL_RETRY:
		dl_abort(&run);
		say(label, "database unavailable: try again later");
		ex = EX_TEMPFAIL;
		break;
	default:
		dl_abort(&run);
		say(label, "database refused (configuration or bug): see the "
		    "log");
		ex = run.exit_code ? run.exit_code : EX_SOFTWARE;
		break;
	}
	audit_buf_free(&ab);
	run_free(&run);
	free(buf);
	return ex;
}

/* The statements of a SQL text ("--" lines are comments, ";" at the end
 * of a line ends a statement), each to fn; -1 as soon as fn fails. */
static int
sql_each(const char *p, int (*fn)(const char *, void *), void *arg)
{
	char *buf = xmalloc(strlen(p) + 1);
	size_t sl = 0;
	int rc = 0;

	while (*p != '\0' && rc == 0) {
		const char *nl = strchr(p, '\n');
		size_t ll = nl ? (size_t)(nl - p) : strlen(p);

		if (!(ll >= 2 && p[0] == '-' && p[1] == '-')) {
			memcpy(buf + sl, p, ll);
			sl += ll;
			buf[sl++] = ' ';
			if (ll > 0 && p[ll - 1] == ';') {
				sl -= 2;	/* the ';' and the space */
				buf[sl] = '\0';
				rc = fn(buf, arg);
				sl = 0;
			}
		}
		p += ll + (nl ? 1 : 0);
	}
	free(buf);
	return rc;
}

/* One role of grants.sql.in: its block, its account and password. */
struct init_role {
	const char	*role;		/* "-- role: NAME" */
	const char	*section;	/* where db_user and the password are */
	char		*user;		/* NULL: the role is not configured */
	char		*pwfile;
};

struct init_ctx {
	struct db	*db;
	int		 print;
	const char	*dbname, *host, *require;
	struct init_role *role;		/* the block being filled in */
	char		*pw_quoted;	/* its password, escaped */
	int		 n;
};

/* Replace every occurrence of key in s (malloc'd result). */
static char *
subst(const char *s, const char *key, const char *val)
{
	size_t kl = strlen(key), vl = strlen(val), n = 0;
	const char *p;
	char *out, *o;

	for (p = s; (p = strstr(p, key)) != NULL; p += kl)
		n++;
	out = o = xmalloc(strlen(s) + n * vl + 1);
	for (p = s; *p != '\0';) {
		if (strncmp(p, key, kl) == 0) {
			memcpy(o, val, vl);
			o += vl;
			p += kl;
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

static int
init_run(const char *stmt, void *arg)
{
	struct init_ctx *c = arg;

	c->n++;
	if (c->print) {
		printf("%s;\n", stmt);
		return 0;
	}
	return db_exec(c->db, stmt);
}

/* One grants statement: the placeholders filled in, then run. */
static int
init_grant(const char *stmt, void *arg)
{
	struct init_ctx *c = arg;
	char *a = subst(stmt, "@DB@", c->dbname), *b, *d, *e, *f;
	int rc;

	b = subst(a, "@USER@", c->role->user);
	d = subst(b, "@HOST@", c->host);
	e = subst(d, "@REQUIRE@", c->require);
	f = subst(e, "@PW@", c->print ? "@PW@" : c->pw_quoted);
	rc = init_run(f, c);
	explicit_bzero(f, strlen(f));
	free(a);
	free(b);
	free(d);
	free(e);
	free(f);
	return rc;
}

/*
 * --init: on an existing Pandora database (checked first), octospool's
 * own tables (etc/sql/octo.sql) and the tools' accounts with their
 * grants (etc/sql/grants.sql.in): never a change to a Pandora table.
 * Runs as [db-admin] (or --dba SECTION: a database administrator's
 * account for the first installation); with --print, the SQL instead,
 * the passwords left as @PW@.
 */
static int
init_mode(const char *section, int print)
{
	struct init_role roles[] = {
		{ "admin", DL_ADMIN_SECTION, NULL, NULL },
		{ "db-load", DL_SECTION, NULL, NULL },
		{ "agent-auth", "agent-auth", NULL, NULL },
		{ "audit-export", "audit-export", NULL, NULL },
		{ "db-purge", "db-purge", NULL, NULL },
		{ "conf-dist", "conf-dist", NULL, NULL },
		{ "status", "status", NULL, NULL },
	};
	struct db_conf dc, rc_;
	struct init_ctx c;
	struct dl_run run;
	struct dl_conf cf;
	char err[512], vis[LOG_VISBUF], host_buf[128];
	const char *host, *require;
	int r, n = 0, nr = (int)(sizeof(roles) / sizeof(roles[0]));
	unsigned from = 0, to = 0;

	memset(&c, 0, sizeof(c));
	c.print = print;
	if (tool.conf != NULL && conf_check(tool.conf, DL_ADMIN_SECTION,
	    admin_keys, err, sizeof(err)) == -1)
		tool_conf_fatal(NULL, err);
	if (db_conf_load(&dc, tool.conf, section, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.error section=%s msg=\"%s\"",
		    section, err);
	c.dbname = dc.name;
	/* The accounts' host part and TLS demand (grant_host, grant_require
	 * in [db-admin]): defaults for the tools' own connections. */
	host = conf_get(tool.conf, DL_ADMIN_SECTION, "grant_host");
	require = conf_get(tool.conf, DL_ADMIN_SECTION, "grant_require");
	if (host == NULL) {
		struct db_conf own;

		if (db_conf_load(&own, tool.conf, DL_SECTION, err,
		    sizeof(err)) == 0) {
			snprintf(host_buf, sizeof(host_buf), "%s",
			    own.protocol == DB_PROTO_SOCKET ? "localhost" :
			    "%");
			if (require == NULL)
				require = own.protocol == DB_PROTO_SOCKET ?
				    "NONE" : own.ssl_cert ? "X509" : "SSL";
			db_conf_free(&own);
		} else
			strlcpy(host_buf, "%", sizeof(host_buf));
		host = host_buf;
	}
	if (require == NULL)
		require = "SSL";
	if (strcspn(host, "'\\`") != strlen(host) || (strcmp(require, "SSL") !=
	    0 && strcmp(require, "X509") != 0 && strcmp(require, "NONE") != 0))
		fatalx(EX_CONFIG, "event=config.error section=%s msg=\"grant_host "
		    "without quotes, grant_require SSL, X509 or NONE\"",
		    DL_ADMIN_SECTION);
	c.host = host;
	c.require = require;
	for (int i = 0; i < nr; i++) {
		/* The account running --init exists already. */
		if (strcmp(roles[i].section, section) == 0)
			continue;
		if (db_conf_load(&rc_, tool.conf, roles[i].section, err,
		    sizeof(err)) == -1) {
			log_info("event=init.skip role=%s section=%s msg=\"%s\"",
			    roles[i].role, roles[i].section, err);
			continue;
		}
		roles[i].user = xstrdup(rc_.user);
		roles[i].pwfile = rc_.password_file ?
		    xstrdup(rc_.password_file) : NULL;
		db_conf_free(&rc_);
	}
	memset(&run, 0, sizeof(run));
	memset(&cf, 0, sizeof(cf));
	cf.db = dc;
	run.cf = &cf;
	run.init = 1;
	if (!print) {
		/* The Pandora tables first: nothing is made on a database
		 * that db-load could not load into. */
		if (dl_check_schema(&run, &n) == -1)
			goto dberr;
		if (n != 0) {
			log_warnx("event=init.refused msg=\"the database lacks "
			    "what db-load needs: nothing created\"");
			r = EX_CONFIG;
			goto out;
		}
		c.db = run.db;
		/* Then the octo_* tables' version: octo.sql brings any older
		 * one to DL_OCTO_SCHEMA; a newer one is left alone. */
		if (dl_octo_version(c.db, &from) == -1)
			goto dberr;
		if (from > DL_OCTO_SCHEMA) {
			log_warnx("event=init.refused version=%u known=%u "
			    "msg=\"the octo_* tables are newer than this "
			    "db-load: nothing changed\"", from, DL_OCTO_SCHEMA);
			r = EX_CONFIG;
			goto out;
		}
		if (from != 0 && from < DL_OCTO_SCHEMA)
			log_info("event=init.upgrade from=%u to=%u", from,
			    DL_OCTO_SCHEMA);
	} else
		printf("-- octospool: db-load --init for database %s\n"
		    "-- Replace each @PW@ with the password in the file named "
		    "above its block;\n-- feed the result to mariadb on "
		    "standard input, never on a command line.\n\n", dc.name);
	if (sql_each(dl_octo_sql, init_run, &c) == -1)
		goto dberr;
	if (!print) {
		if (dl_octo_version(c.db, &to) == -1)
			goto dberr;
		if (to != DL_OCTO_SCHEMA) {
			log_warnx("event=init.fail version=%u known=%u msg=\"the "
			    "octo_* tables did not reach this db-load's "
			    "version\"", to, DL_OCTO_SCHEMA);
			r = EX_SOFTWARE;
			goto out;
		}
	}
	for (int i = 0; i < nr; i++) {
		const char *p, *q;
		char *block, pw[1025];

		if (roles[i].user == NULL)
			continue;
		/* The role's block: from its marker to the next one. */
		{
			char mark[64];

			snprintf(mark, sizeof(mark), "-- role: %s\n",
			    roles[i].role);
			if ((p = strstr(dl_grants_sql, mark)) == NULL)
				fatalx(EX_SOFTWARE, "event=init.bug role=%s",
				    roles[i].role);
			p += strlen(mark);
			q = strstr(p, "-- role: ");
			block = xmalloc((q ? (size_t)(q - p) : strlen(p)) +
			    1);
			memcpy(block, p, q ? (size_t)(q - p) : strlen(p));
			block[q ? (size_t)(q - p) : strlen(p)] = '\0';
		}
		c.role = &roles[i];
		if (print)
			printf("-- role %s: account %s, password in %s\n",
			    roles[i].role, roles[i].user, roles[i].pwfile ?
			    roles[i].pwfile : "(no db_password_file)");
		else {
			if (roles[i].pwfile == NULL ||
			    db_read_password(roles[i].pwfile, pw, sizeof(pw),
			    err, sizeof(err)) == -1) {
				log_warnx("event=init.fail role=%s msg=\"%s\"",
				    roles[i].role, roles[i].pwfile ? err :
				    "no db_password_file");
				free(block);
				r = EX_CONFIG;
				goto out;
			}
			c.pw_quoted = db_quote(c.db, pw);
			explicit_bzero(pw, sizeof(pw));
		}
		r = sql_each(block, init_grant, &c);
		if (c.pw_quoted != NULL) {
			explicit_bzero(c.pw_quoted, strlen(c.pw_quoted));
			free(c.pw_quoted);
			c.pw_quoted = NULL;
		}
		free(block);
		if (r == -1)
			goto dberr;
		if (!print)
			log_info("event=init.account role=%s user=%s host=%s "
			    "require=%s", roles[i].role, roles[i].user,
			    c.host, c.require);
	}
	if (!print) {
		log_info("event=init.done statements=%d version=%u", c.n, to);
		if (from != 0 && from < to)
			printf("db-load: octo_* tables upgraded from version %u "
			    "to %u\n", from, to);
		printf("db-load: octo_* tables (version %u) and accounts ready "
		    "(%d statements)\n", to, c.n);
	}
	r = EX_OK;
	goto out;
dberr:
	if (run.db != NULL) {
		log_warnx("event=init.fail class=%s errno=%u msg=\"%s\"%s",
		    db_class_name(db_errclass(run.db)), db_errno(run.db),
		    log_vis(vis, sizeof(vis), db_error(run.db),
		    strlen(db_error(run.db))), db_errno(run.db) == 1227 ||
		    db_errno(run.db) == 1044 ? " hint=\"creating accounts "
		    "needs a database administrator: --dba SECTION, or apply "
		    "--print by hand\"" : "");
		r = db_class_exit(db_errclass(run.db));
		if (r == EX_OK)
			r = EX_SOFTWARE;
	} else
		r = EX_SOFTWARE;
out:
	for (int i = 0; i < nr; i++) {
		free(roles[i].user);
		free(roles[i].pwfile);
	}
	dl_stmts_free(&run.st);
	if (run.db != NULL)
		db_close(run.db);
	db_conf_free(&dc);
	return r;
}

/* --check-schema: what the configured database lacks for db-load. */
static int
check_schema_mode(struct dl_conf *cf)
{
	struct dl_run run;
	char vis[LOG_VISBUF];
	int n = 0, r;

	memset(&run, 0, sizeof(run));
	run.cf = cf;
	if (dl_check_schema(&run, &n) == -1) {
		log_warnx("event=schema.fail class=%s errno=%u msg=\"%s\"",
		    db_class_name(db_errclass(run.db)), db_errno(run.db),
		    log_vis(vis, sizeof(vis), db_error(run.db),
		    strlen(db_error(run.db))));
		r = db_class_exit(db_errclass(run.db));
	} else if (n != 0) {
		printf("db-load: the database lacks what db-load needs: see "
		    "the schema.problem lines\n");
		r = EX_CONFIG;
	} else {
		printf("db-load: the database has every table, column and "
		    "module type db-load needs\n");
		r = EX_OK;
	}
	run_free(&run);
	return r;
}

int
main(int argc, char *argv[])
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "init", no_argument, NULL, 1 },
		{ "print-init-sql", no_argument, NULL, 2 },
		{ "print", no_argument, NULL, 3 },
		{ "dba", required_argument, NULL, 4 },
		{ "check-schema", no_argument, NULL, 5 },
		{ "auto", no_argument, NULL, 6 },
		{ NULL, 0, NULL, 0 }
	};
	const char *dba = DL_ADMIN_SECTION;
	struct dl_conf cf;
	int ch, init = 0, print = 0, rc, have_dba = 0, schema = 0;
	int autoinit = 0;

	while ((ch = tool_getopt(&tool, argc, argv, "c:dhnVv", lopts)) !=
	    -1) {
		switch (ch) {
		case 1:
			init = 1;
			break;
		case 2:
			fputs(dl_octo_sql, stdout);
			exit(EX_OK);
		case 3:
			print = 1;
			break;
		case 4:
			dba = optarg;
			have_dba = 1;
			break;
		case 5:
			schema = 1;
			break;
		case 6:
			autoinit = 1;
			break;
		default:
			tool_usage(&tool, stderr, EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1 || ((init || schema) && argc > 0) || (init && schema) ||
	    ((print || have_dba || autoinit) && !init) ||
	    (autoinit && (print || have_dba)))
		tool_usage(&tool, stderr, EX_USAGE);
	tool_log_init(&tool, LOG_DAEMON, tool.fg || tool.check || argc == 1 ||
	    init || schema);
	tool_conf_load(&tool);
	memset(&cf, 0, sizeof(cf));
	configure(&cf);
	if (tool.check) {
		load_keys(&cf, 1);
		printf("db-load: configuration ok\n");
		exit(EX_OK);
	}
	umask(027);
	if (db_library_init() == -1)
		fatalx(EX_SOFTWARE, "event=db.init.fail");
	agentxml_init();
	if (autoinit) {
		/* The package's postinst: only what the administrator asked
		 * for in [db-admin] upgrade_on_install (a section whose
		 * account may create tables and grant, e.g. root over the
		 * socket). */
		const char *sec = conf_get(tool.conf, DL_ADMIN_SECTION,
		    "upgrade_on_install");

		if (sec == NULL || strcmp(sec, "no") == 0) {
			printf("db-load: [%s] upgrade_on_install is not set: "
			    "nothing done (db-load --init creates or upgrades "
			    "the octo_* tables)\n", DL_ADMIN_SECTION);
			exit(EX_OK);
		}
		dba = sec;
	}
	if (init)
		rc = init_mode(dba, print);
	else if (schema)
		rc = check_schema_mode(&cf);
	else if (argc == 1)
		rc = filter_mode(&cf, argv[0], tool.verbose);
	else {
		load_keys(&cf, 1);
		tool_drop_privileges(cf.user);
		rc = drain_mode(&cf);
	}
	db_library_end();
	conf_release(&cf);
	conf_free(tool.conf);
	return rc;
}
