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

static const struct conf *the_conf;
volatile sig_atomic_t ex_stop;

static void __attribute__((noreturn))
usage(FILE *fp, int ex)
{
	fprintf(fp,
	    "usage: audit-export [-dfhnVv] [-c file] [-s sink]\n"
	    "  ships the sealed audit log to every configured sink (-s: one);\n"
	    "  -f keeps following the log\n"
	    "See audit-export(8).\n");
	exit(ex);
}

static long long
get_num(const char *sec, const char *key, long long min, long long max,
    long long def)
{
	char err[512];
	long long v = def;

	if (conf_num(the_conf, sec, key, min, max, &v, err, sizeof(err)) ==
	    -1)
		fatalx(EX_CONFIG, "event=config.error section=%s key=%s "
		    "msg=\"%s\"", sec, key, err);
	return v;
}

static char *
get_str(const char *sec, const char *key, const char *def)
{
	const char *v = conf_get(the_conf, sec, key);

	if (v != NULL && *v != '\0')
		return xstrdup(v);
	return def ? xstrdup(def) : NULL;
}

static void
configure(struct ex_conf *cf)
{
	char err[512], *list, *tok, *save;

	if (the_conf != NULL &&
	    conf_check(the_conf, SECTION, known_keys, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.error msg=\"%s\"", err);
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
		if (!conf_has_section(the_conf, sec))
			fatalx(EX_CONFIG, "event=config.error msg=\"sink %s "
			    "needs a [%s] section\"", tok, sec);
		s->type = get_str(sec, "type", NULL);
		if (s->type == NULL)
			fatalx(EX_CONFIG, "event=config.error section=%s "
			    "msg=\"type jsonl, syslog, sql or witness\"", sec);
		if (!strcmp(s->type, "jsonl"))
			sink_jsonl_conf(s, the_conf);
		else if (!strcmp(s->type, "syslog"))
			sink_syslog_conf(s, the_conf);
		else if (!strcmp(s->type, "sql"))
			sink_sql_conf(s, the_conf);
		else if (!strcmp(s->type, "witness"))
			sink_witness_conf(s, the_conf);
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

static void
drop_privileges(const struct ex_conf *cf)
{
	char err[512];

	if (geteuid() == 0 && priv_drop(cf->user, err, sizeof(err)) == -1)
		fatalx(EX_NOPERM, "event=priv.fail msg=\"%s\"", err);
	if (priv_check_not_root() == -1)
		fatalx(EX_NOPERM, "event=priv.fail msg=\"refusing to run as "
		    "root\"");
}

static void
on_stop(int sig)
{
	(void)sig;
	ex_stop = 1;
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
	const char *conffile = NULL, *only = NULL;
	struct ex_conf cf;
	struct conf *conf = NULL;
	struct sigaction sa;
	char err[512];
	int ch, check = 0, fg = 0, verbose = 0, follow = 0, rc = 0;

	while ((ch = getopt_long(argc, argv, "c:dfhns:Vv", lopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'c':
			conffile = optarg;
			break;
		case 'd':
			fg = 1;
			break;
		case 'f':
			follow = 1;
			break;
		case 'h':
			usage(stdout, EX_OK);
		case 'n':
			check = 1;
			break;
		case 's':
			only = optarg;
			break;
		case 'V':
			printf("audit-export %s\n", VERSION);
			exit(EX_OK);
		case 'v':
			verbose++;
			break;
		default:
			usage(stderr, EX_USAGE);
		}
	}
	if (optind != argc)
		usage(stderr, EX_USAGE);
	log_init("audit-export", LOG_AUTHPRIV, fg || check);
	log_setverbose(verbose > 0 ? 1 : 0);
	if (conffile == NULL && access(CONF_DEFAULT, F_OK) == 0)
		conffile = CONF_DEFAULT;
	if (conffile != NULL &&
	    (conf = conf_load(conffile, err, sizeof(err))) == NULL)
		fatalx(EX_CONFIG, "event=config.error msg=\"%s\"", err);
	the_conf = conf;
	memset(&cf, 0, sizeof(cf));
	configure(&cf);
	if (cf.nsinks == 0)
		fatalx(EX_CONFIG, "event=config.error msg=\"no sinks\"");
	if (check) {
		printf("audit-export: configuration ok\n");
		cf_free(&cf);
		conf_free(conf);
		exit(EX_OK);
	}
	umask(027);
	drop_privileges(&cf);
	cf.follow = follow;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
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

			conf_free(conf);
			_exit(r);
		}
		child_sink[nchildren] = i;
		children[nchildren++] = pid;
	}
	if (nchildren == 0)
		fatalx(EX_USAGE, "event=config.error msg=\"no sink %s\"",
		    only ? only : "");
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
	conf_free(conf);
	return rc;
}
