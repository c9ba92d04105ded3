/* SPDX-License-Identifier: ISC */
/*
 * xml-validate: the second stage.  Drains spool/xml-validate into
 * spool/agent-auth: every item is parsed with lib/agentxml (hardened
 * libxml2 SAX2, structure and value rules); valid items move on byte
 * for byte, envelope and all; refused ones go to reject/ with a reason.
 * With a FILE operand it is a filter for one item.  See xml-validate(8).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <regex.h>
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
#include "drain.h"
#include "envelope.h"
#include "log.h"
#include "priv.h"
#include "tool.h"
#include "xalloc.h"

#define SECTION		"xml-validate"
#define STAGE		"xml-validate"
#define DEFAULT_SPOOL	"/var/spool/octospool"
#define DEFAULT_USER	"octospool-xml"
#define DEFAULT_PRODUCER "octospool-recv"
#define DEFAULT_NAMEPAT	"[._][0-9]+\\.data$"
#define FILE_NAME_MAX	255

/* Every key the [xml-validate] section may hold. */
static const char *const known_keys[] = {
	"spool_dir", "user", "max_size", "max_depth", "max_elements",
	"max_attributes", "max_modules", "max_text", "max_age", "max_future",
	"now", "module_errors", "name_pattern", "audit", "audit_spool",
	"batch", "producer", DRAIN_LINGER_KEYS, NULL
};

struct xv_conf {
	struct agentxml_limits lim;
	char		*spool_dir;
	char		*user;
	char		*audit_spool;
	char		*producer;		/* who writes our queue */
	struct idset	 producers;
	int		 audit;
	int		 reject_modules;	/* module_errors reject */
	int		 have_pattern;
	regex_t		 name_re;
	size_t		 batch;
	int		 now_fixed;		/* --now or now: not the clock */
	struct drain_linger linger;		/* idle_exit, poll_interval */
};

/* Accepted items per agent in the current batch (one audit event each). */
struct xv_count {
	char		*agent;
	unsigned long	 files, modules, refused;
};

struct xv_run {
	struct xv_conf	*cf;
	struct timespec	*t0;		/* the pass's start */
	struct xv_count	*cnt;
	size_t		 ncnt, capcnt;
	unsigned long	 modules_refused;
};

static const char *cli_now;

static struct tool tool = { .name = "xml-validate", .section = SECTION,
    .usage =
    "usage: xml-validate [-dhnVv] [-c file] [--now epoch] [-o out] "
    "[FILE]\n"
    "  without FILE: drain spool/xml-validate into spool/agent-auth\n"
    "  with FILE (- for stdin): check one item, exit 0 or 65\n"
    "See xml-validate(8).\n"
};

/* Turn the configuration into cf; errors exit 78. */
static void
configure(struct xv_conf *cf)
{
	const char *pat;
	char *v;

	tool_conf_check(&tool, known_keys);
	agentxml_limits_default(&cf->lim);
	cf->lim.max_size = tool_num(&tool, "max_size", 1, AGENTXML_MAX_SIZE_CAP,
	    AGENTXML_MAX_SIZE);
	cf->lim.max_depth = tool_num(&tool, "max_depth", 2,
	    AGENTXML_MAX_DEPTH_CAP, AGENTXML_MAX_DEPTH);
	cf->lim.max_elements = tool_num(&tool, "max_elements", 1, 10000000,
	    AGENTXML_MAX_ELEMENTS);
	cf->lim.max_attrs = tool_num(&tool, "max_attributes", 1, 1000,
	    AGENTXML_MAX_ATTRS);
	cf->lim.max_modules = tool_num(&tool, "max_modules", 1, 1000000,
	    AGENTXML_MAX_MODULES);
	cf->lim.max_text = tool_num(&tool, "max_text", 1, AGENTXML_MAX_SIZE_CAP,
	    AGENTXML_MAX_TEXT);
	cf->lim.max_age = tool_num(&tool, "max_age", 0, 10LL * 366 * 86400,
	    AGENTXML_MAX_AGE);
	cf->lim.max_future = tool_num(&tool, "max_future", 0, 366 * 86400,
	    AGENTXML_MAX_FUTURE);
	cf->batch = tool_num(&tool, "batch", 1, 4096, DRAIN_BATCH);
	tool_linger_conf(&tool, &cf->linger, DRAIN_SETTLE_WAIT,
	    DRAIN_GATHER_WAIT);
	if (cli_now != NULL || conf_get(tool.conf, SECTION, "now") != NULL) {
		const char *es = NULL, *s = cli_now ? cli_now :
		    conf_get(tool.conf, SECTION, "now");

		cf->lim.now = strtonum(s, 1, 1LL << 40, &es);
		if (es != NULL)
			fatalx(EX_CONFIG, "event=config.error key=now "
			    "msg=\"want seconds since 1970: %s\"", es);
		cf->now_fixed = 1;
	}
	if ((v = tool_str(&tool, "module_errors", "drop")) != NULL) {
		if (!strcmp(v, "drop"))
			cf->reject_modules = 0;
		else if (!strcmp(v, "reject"))
			cf->reject_modules = 1;
		else
			fatalx(EX_CONFIG, "event=config.error key=module_errors "
			    "msg=\"drop or reject\"");
		free(v);
	}
	/* An empty name_pattern is set, to nothing: only the path checks. */
	if ((pat = conf_get(tool.conf, SECTION, "name_pattern")) == NULL)
		pat = DEFAULT_NAMEPAT;
	if (*pat != '\0') {
		if (regcomp(&cf->name_re, pat, REG_EXTENDED | REG_NOSUB) != 0)
			fatalx(EX_CONFIG, "event=config.error key=name_pattern "
			    "msg=\"bad regular expression\"");
		cf->have_pattern = 1;
	}
	cf->audit = tool_bool(&tool, "audit", 1);
	cf->spool_dir = tool_str(&tool, "spool_dir", DEFAULT_SPOOL);
	cf->audit_spool = tool_path(&tool, "audit_spool", cf->spool_dir,
	    "audit-sign");
	cf->user = tool_str(&tool, "user", DEFAULT_USER);
	cf->producer = tool_str(&tool, "producer", DEFAULT_PRODUCER);
}

/* The original file name must look like agent data and not like a path. */
static int
check_name(const struct xv_conf *cf, const char *name, char *why,
    size_t whylen)
{
	size_t n = strlen(name);
	const char *bad = NULL;

	if (n == 0 || n > FILE_NAME_MAX)
		bad = "is empty or longer than 255 bytes";
	else if (name[0] == '.')
		bad = "starts with '.'";
	else if (strstr(name, "..") != NULL)
		bad = "contains \"..\"";
	else if (strpbrk(name, "/\\") != NULL)
		bad = "contains '/' or '\\'";
	else
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
				bad = "holds a control character";
	if (bad == NULL && cf->have_pattern &&
	    regexec(&cf->name_re, name, 0, NULL, 0) != 0)
		bad = "does not match name_pattern";
	if (bad == NULL)
		return 0;
	snprintf(why, whylen, "rule=name line=0 file name %s", bad);
	return -1;
}

/* Reason text for the first refused module. */
static void
first_refused(const struct agent_data *ad, char *why, size_t whylen)
{
	for (const struct agent_module *m = ad->modules; m; m = m->next)
		if (m->rule != NULL) {
			snprintf(why, whylen, "rule=%s line=%u module=%u %s "
			    "(module_errors reject)", m->rule, m->line,
			    m->index, m->why);
			return;
		}
}

static void
count_agent(struct xv_run *run, const struct agent_data *ad)
{
	struct xv_count *c = NULL;

	for (size_t i = 0; i < run->ncnt; i++)
		if (strcmp(run->cnt[i].agent, ad->agent_name) == 0) {
			c = &run->cnt[i];
			break;
		}
	if (c == NULL) {
		if (run->ncnt == run->capcnt) {
			run->capcnt = run->capcnt ? run->capcnt * 2 : 32;
			run->cnt = xreallocarray(run->cnt, run->capcnt,
			    sizeof(*run->cnt));
		}
		c = &run->cnt[run->ncnt++];
		memset(c, 0, sizeof(*c));
		c->agent = xstrdup(ad->agent_name);
	}
	c->files++;
	c->modules += ad->nmodules;
	c->refused += ad->nrefused;
}

/* Before each commit: one event per agent with what was accepted. */
static void
flush_counts(struct drain *d, void *arg)
{
	struct xv_run *run = arg;
	struct audit_buf *ab = drain_audit(d);

	for (size_t i = 0; i < run->ncnt; i++) {
		struct xv_count *c = &run->cnt[i];

		if (run->cf->audit) {
			audit_begin(ab, STAGE, "xml.accepted", "ok");
			audit_str(ab, "agent", c->agent);
			audit_num(ab, "files", c->files);
			audit_num(ab, "modules", c->modules);
			audit_num(ab, "modules_refused", c->refused);
			audit_end(ab);
		}
		free(c->agent);
	}
	run->ncnt = 0;
}

/* Log and audit the modules of an accepted item that were refused. */
static void
report_modules(struct drain *d, const struct drain_item *it,
    const struct agent_data *ad, const struct xv_conf *cf)
{
	struct audit_buf *ab = drain_audit(d);
	char vis[LOG_VISBUF], list[2048];
	size_t pos = 0;

	list[0] = '\0';
	for (const struct agent_module *m = ad->modules; m; m = m->next) {
		int n;

		if (m->rule == NULL)
			continue;
		log_info("event=module.refused stage=%s id=%s module=%u "
		    "line=%u rule=%s reason=\"%s\"", STAGE, it->name, m->index,
		    m->line, m->rule, log_vis(vis, sizeof(vis), m->why,
		    strlen(m->why)));
		n = snprintf(list + pos, sizeof(list) - pos, "%s%u %s: %s",
		    pos ? "; " : "", m->index, m->rule, m->why);
		if (n > 0 && (size_t)n < sizeof(list) - pos)
			pos += n;
	}
	if (!cf->audit)
		return;
	audit_begin(ab, STAGE, "xml.modules_refused", "refused");
	audit_str(ab, "item", it->name);
	audit_str(ab, "agent", ad->agent_name);
	if (it->env.hdrlen > 0)
		audit_str(ab, "peer", it->env.peer);
	audit_num(ab, "modules_refused", ad->nrefused);
	audit_str(ab, "modules", list);
	audit_end(ab);
}

/* The drain handler: one item. */
static int
handle(struct drain *d, struct drain_item *it, void *arg)
{
	struct xv_run *run = arg;
	struct xv_conf *cf = run->cf;
	struct agent_data *ad;
	char why[DRAIN_REASON_MAX];

	if (check_name(cf, it->env.hdrlen > 0 ? it->env.name : it->name, why,
	    sizeof(why)) == -1 ||
	    agentxml_parse(it->body, it->bodylen, &cf->lim, &ad, why,
	    sizeof(why)) == -1) {
		drain_reason(it, EX_DATAERR, "%s", why);
		return DRAIN_REJECT;
	}
	if (ad->nrefused > 0 && cf->reject_modules) {
		first_refused(ad, why, sizeof(why));
		agentxml_free(ad);
		drain_reason(it, EX_DATAERR, "%s", why);
		return DRAIN_REJECT;
	}
	if (drain_output(d, it, it->data, it->len) == -1) {
		log_warn("event=output.fail stage=%s id=%s", STAGE, it->name);
		agentxml_free(ad);
		return DRAIN_RETRY;
	}
	if (ad->nrefused > 0) {
		report_modules(d, it, ad, cf);
		run->modules_refused += ad->nrefused;
	}
	log_debug("event=item.accept stage=%s id=%s modules=%u refused=%u",
	    STAGE, it->name, ad->nmodules, ad->nrefused);
	count_agent(run, ad);
	agentxml_free(ad);
	return DRAIN_DONE;
}

/* Each pass of a lingering drain: the clock, then its log line. */
static void
pass_begin(void *arg)
{
	struct xv_run *run = arg;

	if (!run->cf->now_fixed)
		run->cf->lim.now = time(NULL);
	clock_gettime(CLOCK_MONOTONIC, run->t0);
}

static void
pass_end(const struct drain_stats *st, int rc, void *arg)
{
	struct xv_run *run = arg;
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (st->seen > 0 || rc != 0)
		log_info("event=drain.done stage=%s seen=%lu accepted=%lu "
		    "rejected=%lu retried=%lu batches=%lu modules_refused=%lu "
		    "ms=%lld exit=%d", STAGE, st->seen, st->done, st->rejected,
		    st->retried, st->batches, run->modules_refused,
		    (long long)((t1.tv_sec - run->t0->tv_sec) * 1000 +
		    (t1.tv_nsec - run->t0->tv_nsec) / 1000000), rc);
	run->modules_refused = 0;
}

static int
drain_mode(struct xv_conf *cf)
{
	struct drain_opts o;
	struct drain_stats st;
	struct xv_run run;
	struct drain *d;
	struct timespec t0;
	int rc;

	memset(&run, 0, sizeof(run));
	run.cf = cf;
	memset(&o, 0, sizeof(o));
	o.stage = STAGE;
	o.max_item = cf->lim.max_size + ENVELOPE_MAX;
	o.batch = cf->batch;
	o.producers = &cf->producers;
	o.prepare = flush_counts;
	o.arg = &run;
	d = tool_drain_open(cf->spool_dir, "xml-validate", "agent-auth",
	    cf->audit ? cf->audit_spool : NULL, &o);
	run.t0 = &t0;
	cf->linger.before = pass_begin;
	cf->linger.after = pass_end;
	cf->linger.arg = &run;
	rc = drain_linger(d, handle, &run, &cf->linger, &st);
	drain_close(d);
	free(run.cnt);
	return rc;
}

/* A reason on stderr: one line, no control characters. */
#define say(label, why)	log_say("xml-validate", (label), (why))

/* Filter mode: one item from path ("-": stdin); exit 0 or 65. */
static int
filter_mode(struct xv_conf *cf, const char *path, const char *outpath,
    int verbose)
{
	const char *label = strcmp(path, "-") == 0 ? "stdin" : path;
	struct envelope env;
	struct agent_data *ad;
	char why[DRAIN_REASON_MAX], err[256], *buf;
	const char *base;
	ssize_t len;
	int fd, e;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		snprintf(why, sizeof(why), "%s", strerror(errno));
		say(label, why);
		return EX_NOINPUT;
	}
	len = io_read_bounded(fd, &buf, cf->lim.max_size + ENVELOPE_MAX);
	if (fd != STDIN_FILENO)
		close(fd);
	if (len == -2) {
		snprintf(why, sizeof(why), "rule=size line=0 the item exceeds "
		    "the limit of %zu bytes (max_size %zu + envelope)",
		    cf->lim.max_size + ENVELOPE_MAX, cf->lim.max_size);
		say(label, why);
		return EX_DATAERR;
	}
	if (len == -1) {
		snprintf(why, sizeof(why), "read: %s", strerror(errno));
		say(label, why);
		return EX_IOERR;
	}
	/* The parse runs without root, as in drain mode. */
	tool_drop_privileges(cf->user);
	if (!cf->now_fixed)
		cf->lim.now = time(NULL);
	if ((e = envelope_parse(buf, len, &env, err, sizeof(err))) == -1) {
		snprintf(why, sizeof(why), "rule=envelope line=0 %s", err);
		say(label, why);
		free(buf);
		return EX_DATAERR;
	}
	base = e == 1 ? env.name : strcmp(path, "-") == 0 ? NULL :
	    strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if ((base != NULL && check_name(cf, base, why, sizeof(why)) == -1) ||
	    agentxml_parse(buf + env.hdrlen, len - env.hdrlen, &cf->lim, &ad,
	    why, sizeof(why)) == -1) {
		say(label, why);
		free(buf);
		return EX_DATAERR;
	}
	for (const struct agent_module *m = ad->modules; m; m = m->next)
		if (m->rule != NULL) {
			snprintf(why, sizeof(why), "module %u (line %u) "
			    "refused: rule=%s %s", m->index, m->line, m->rule,
			    m->why);
			say(label, why);
		}
	if (ad->nrefused > 0 && cf->reject_modules) {
		first_refused(ad, why, sizeof(why));
		say(label, why);
		agentxml_free(ad);
		free(buf);
		return EX_DATAERR;
	}
	if (verbose) {
		snprintf(why, sizeof(why), "valid: agent_name=%s modules=%u "
		    "refused=%u", ad->agent_name, ad->nmodules, ad->nrefused);
		say(label, why);
	}
	agentxml_free(ad);
	if (outpath != NULL) {
		int ofd = strcmp(outpath, "-") == 0 ? STDOUT_FILENO :
		    open(outpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
		    O_NOFOLLOW, 0640);

		if (ofd == -1) {
			snprintf(why, sizeof(why), "%s: %s", outpath,
			    strerror(errno));
			say(label, why);
			free(buf);
			return EX_CANTCREAT;
		}
		if (io_write_all(ofd, buf, len) == -1 ||
		    (ofd != STDOUT_FILENO && (fsync(ofd) == -1 ||
		    close(ofd) == -1))) {
			snprintf(why, sizeof(why), "%s: %s", outpath,
			    strerror(errno));
			say(label, why);
			free(buf);
			return EX_IOERR;
		}
	}
	free(buf);
	return EX_OK;
}

int
main(int argc, char *argv[])
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "now", required_argument, NULL, 1 },
		{ NULL, 0, NULL, 0 }
	};
	const char *outpath = NULL;
	struct xv_conf cf;
	int ch, rc;

	while ((ch = tool_getopt(&tool, argc, argv, "c:dhno:Vv", lopts)) !=
	    -1) {
		switch (ch) {
		case 'o':
			outpath = optarg;
			break;
		case 1:
			cli_now = optarg;
			break;
		default:
			tool_usage(&tool, stderr, EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1 || (argc == 0 && outpath != NULL))
		tool_usage(&tool, stderr, EX_USAGE);
	/* A filter talks to whoever runs it: errors always on stderr. */
	tool_log_init(&tool, LOG_DAEMON, tool.fg || tool.check || argc == 1);
	tool_conf_load(&tool);
	memset(&cf, 0, sizeof(cf));
	configure(&cf);
	if (tool.check) {
		tool_idset(&cf.producers, cf.producer, "producer");
		printf("xml-validate: configuration ok\n");
		exit(EX_OK);
	}
	umask(027);
	agentxml_init();
	if (argc == 1)
		rc = filter_mode(&cf, argv[0], outpath, tool.verbose);
	else {
		tool_idset(&cf.producers, cf.producer, "producer");
		tool_drop_privileges(cf.user);
		rc = drain_mode(&cf);
	}
	conf_free(tool.conf);
	free(cf.producer);
	if (cf.have_pattern)
		regfree(&cf.name_re);
	free(cf.spool_dir);
	free(cf.user);
	free(cf.audit_spool);
	return rc;
}
