/* SPDX-License-Identifier: ISC */
/*
 * audit-export: ships the sealed audit log to log managers.  It reads
 * the log read-only (no key access), exports only what a checkpoint
 * covers, and keeps one cursor per sink, replaced atomically after the
 * sink acknowledged; every record carries the dedup id <log_id>:<seq>.
 * Each sink runs in its own process, so a slow one never blocks the
 * others; failures back off exponentially with full jitter.  Sinks: a
 * JSON lines file (ECS), RFC 5424 syslog over TLS (RFC 5425 octet
 * counting), and SQL into MariaDB (cursor in the same transaction).
 * See audit-export(8) and doc/AUDIT.md.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "auditlog.h"
#include "conf.h"
#include "db.h"
#include "log.h"
#include "priv.h"
#include "tool.h"
#include "xalloc.h"

#include "export.h"

#define SECTION		"audit-export"
#define DEFAULT_USER	"octospool-auditx"
#define DEFAULT_LOG	"/var/lib/octospool/audit/log"
#define DEFAULT_STATE	"/var/lib/octospool/audit-export"

static const char *const known_keys[] = {
	"user", "log_dir", "state_dir", "sinks", "batch", "retry_min",
	"retry_max", "retry_time", "poll", "hostname", "spool_dir", NULL
};

volatile sig_atomic_t ex_stop;

static struct tool tool = { .name = "audit-export", .section = SECTION,
    .usage =
    "usage: audit-export [-dfhnVv] [-c file] [-s sink]\n"
    "  ships the sealed audit log to every configured sink (-s: one);\n"
    "  -f keeps following the log\n"
    "See audit-export(8).\n"
};

static long long
get_num(const char *sec, const char *key, long long min, long long max,
    long long def)
{
	char err[512];
	long long v = def;

	if (conf_num(tool.conf, sec, key, min, max, &v, err, sizeof(err)) ==
	    -1)
		fatalx(EX_CONFIG, "event=config.error section=%s key=%s "
		    "msg=\"%s\"", sec, key, err);
	return v;
}

static char *
get_str(const char *sec, const char *key, const char *def)
{
	const char *v = conf_get(tool.conf, sec, key);

	if (v != NULL && *v != '\0')
		return xstrdup(v);
	return def ? xstrdup(def) : NULL;
}

static void
configure(struct ex_conf *cf)
{
	char *list, *tok, *save;

	tool_conf_check(&tool, known_keys);
	cf->user = get_str(SECTION, "user", DEFAULT_USER);
	cf->log_dir = get_str(SECTION, "log_dir", DEFAULT_LOG);
	cf->state_dir = get_str(SECTION, "state_dir", DEFAULT_STATE);
	cf->batch = get_num(SECTION, "batch", 1, 65536, 1024);
	cf->retry_min = get_num(SECTION, "retry_min", 1, 3600000, 1000);
	cf->retry_max = get_num(SECTION, "retry_max", 1, 86400000, 60000);
	cf->retry_time = get_num(SECTION, "retry_time", 0, 86400 * 365, 60);
	cf->poll_ms = get_num(SECTION, "poll", 1, 60000, 100);
	if ((cf->hostname = get_str(SECTION, "hostname", NULL)) == NULL) {
		char h[256];

		if (gethostname(h, sizeof(h)) == -1)
			strlcpy(h, "-", sizeof(h));
		h[sizeof(h) - 1] = '\0';
		cf->hostname = xstrdup(h);
	}
	if ((list = get_str(SECTION, "sinks", NULL)) == NULL)
		return;
	for (tok = strtok_r(list, " ,", &save); tok != NULL;
	    tok = strtok_r(NULL, " ,", &save)) {
		struct ex_sink *s;
		char sec[160];

		if (cf->nsinks == EX_MAX_SINKS)
			fatalx(EX_CONFIG, "event=config.error key=sinks "
			    "msg=\"at most %d\"", EX_MAX_SINKS);
		for (const char *p = tok; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' &&
			    *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'
			    || *p == '_') || p - tok >= 60)
				fatalx(EX_CONFIG, "event=config.error "
				    "key=sinks msg=\"sink names: "
				    "[A-Za-z0-9_-], at most 60\"");
		s = &cf->sinks[cf->nsinks++];
		memset(s, 0, sizeof(*s));
		strlcpy(s->name, tok, sizeof(s->name));
		snprintf(sec, sizeof(sec), "%s.%s", SECTION, tok);
		strlcpy(s->section, sec, sizeof(s->section));
		if (!conf_has_section(tool.conf, sec))
			fatalx(EX_CONFIG, "event=config.error msg=\"sink %s "
			    "needs a [%s] section\"", tok, sec);
		s->type = get_str(sec, "type", NULL);
		if (s->type == NULL)
			fatalx(EX_CONFIG, "event=config.error section=%s "
			    "msg=\"type jsonl, syslog, sql or witness\"", sec);
		if (!strcmp(s->type, "jsonl"))
			sink_jsonl_conf(s, tool.conf);
		else if (!strcmp(s->type, "syslog"))
			sink_syslog_conf(s, tool.conf);
		else if (!strcmp(s->type, "sql"))
			sink_sql_conf(s, tool.conf);
		else if (!strcmp(s->type, "witness"))
			sink_witness_conf(s, tool.conf);
		else
			fatalx(EX_CONFIG, "event=config.error section=%s "
			    "msg=\"type jsonl, syslog, sql or witness\"", sec);
	}
	free(list);
}

long long
ex_get_num(const struct conf *c, const char *sec, const char *key,
    long long min, long long max, long long def)
{
	(void)c;
	return get_num(sec, key, min, max, def);
}

char *
ex_get_str(const struct conf *c, const char *sec, const char *key,
    const char *def)
{
	(void)c;
	return get_str(sec, key, def);
}

static void
cf_free(struct ex_conf *cf)
{
	free(cf->user);
	free(cf->log_dir);
	free(cf->state_dir);
	free(cf->hostname);
	for (int i = 0; i < cf->nsinks; i++) {
		struct ex_sink *s = &cf->sinks[i];

		free(s->type);
		free(s->path);
		free(s->host);
		free(s->port);
		free(s->ca);
		free(s->cert);
		free(s->key);
		free(s->server_name);
		free(s->sd_id);
		free(s->min_version);
		free(s->wqueue);
		free(s->wcosigned);
		if (s->dbconf != NULL) {
			db_conf_free(s->dbconf);
			free(s->dbconf);
		}
	}
}

static pid_t children[EX_MAX_SINKS];
static int child_sink[EX_MAX_SINKS];
static int nchildren;

static void
forward(int sig)
{
	ex_stop = 1;
	for (int i = 0; i < nchildren; i++)
		if (children[i] > 0)
			kill(children[i], sig);
}

int
main(int argc, char *argv[])
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *only = NULL;
	struct ex_conf cf;
	struct sigaction sa;
	int ch, follow = 0, rc = 0;

	while ((ch = tool_getopt(&tool, argc, argv, "c:dfhns:Vv", lopts)) !=
	    -1) {
		switch (ch) {
		case 'f':
			follow = 1;
			break;
		case 's':
			only = optarg;
			break;
		default:
			tool_usage(&tool, stderr, EX_USAGE);
		}
	}
	if (optind != argc)
		tool_usage(&tool, stderr, EX_USAGE);
	tool_log_init(&tool, LOG_AUTHPRIV, tool.fg || tool.check);
	tool_conf_load(&tool);
	memset(&cf, 0, sizeof(cf));
	configure(&cf);
	if (cf.nsinks == 0)
		fatalx(EX_CONFIG, "event=config.error msg=\"no sinks\"");
	if (tool.check) {
		printf("audit-export: configuration ok\n");
		cf_free(&cf);
		conf_free(tool.conf);
		exit(EX_OK);
	}
	umask(027);
	tool_drop_privileges(cf.user);
	cf.follow = follow;
	tool_catch_stop(&ex_stop);
	signal(SIGPIPE, SIG_IGN);
	/* One process per sink: a slow or dead sink blocks only itself. */
	for (int i = 0; i < cf.nsinks; i++) {
		pid_t pid;

		if (only != NULL && strcmp(only, cf.sinks[i].name) != 0)
			continue;
		if ((pid = fork()) == -1)
			fatal(EX_OSERR, "event=fork.fail");
		if (pid == 0) {
			int r;

			/* Never outlive the parent (SIGKILL included). */
			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(EX_TEMPFAIL);
			r = ex_run_sink(&cf, &cf.sinks[i]);

			conf_free(tool.conf);
			_exit(r);
		}
		child_sink[nchildren] = i;
		children[nchildren++] = pid;
	}
	if (nchildren == 0)
		fatalx(EX_USAGE, "event=config.error msg=\"no sink %s\"",
		    only ? only : "");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	for (int left = nchildren; left > 0;) {
		int st;
		pid_t p = waitpid(-1, &st, 0);

		if (p == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		left--;
		for (int i = 0; i < nchildren; i++)
			if (children[i] == p) {
				int code = WIFEXITED(st) ? WEXITSTATUS(st) :
				    EX_SOFTWARE;

				children[i] = 0;
				if (code != 0)
					log_warnx("event=sink.exit sink=%s "
					    "code=%d", cf.sinks[child_sink[i]].name,
					    code);
				if (code != 0 && (rc == 0 || code != EX_TEMPFAIL))
					rc = code;
			}
	}
	cf_free(&cf);
	conf_free(tool.conf);
	return rc;
}
