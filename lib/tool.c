/* SPDX-License-Identifier: ISC */
/* The skeleton every tool shares: options, configuration, privileges. */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include "conf.h"
#include "drain.h"
#include "log.h"
#include "priv.h"
#include "tool.h"
#include "xalloc.h"

static volatile sig_atomic_t *stop_flag;

void
tool_usage(const struct tool *t, FILE *fp, int ex)
{
	fputs(t->usage, fp);
	exit(ex);
}

int
tool_getopt(struct tool *t, int argc, char *const argv[],
    const char *optstring, const struct option *lopts)
{
	int ch;

	while ((ch = getopt_long(argc, argv, optstring, lopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			t->conffile = optarg;
			break;
		case 'd':
			t->fg = 1;
			break;
		case 'h':
			tool_usage(t, stdout, EX_OK);
		case 'n':
			t->check = 1;
			break;
		case 'V':
			printf("%s %s\n", t->name, VERSION);
			exit(EX_OK);
		case 'v':
			t->verbose++;
			break;
		case '?':
		case ':':
			tool_usage(t, stderr, EX_USAGE);
		default:
			return ch;
		}
	}
	return -1;
}

void
tool_log_init(const struct tool *t, int facility, int foreground)
{
	log_init(t->name, facility, foreground);
	log_setverbose(t->verbose > 0);
}

struct conf *
tool_conf_load(struct tool *t)
{
	char err[512];

	if (t->conffile == NULL && access(CONF_DEFAULT, F_OK) == 0)
		t->conffile = CONF_DEFAULT;
	if (t->conffile != NULL &&
	    (t->conf = conf_load(t->conffile, err, sizeof(err))) == NULL)
		tool_conf_fatal(NULL, err);
	return t->conf;
}

void
tool_conf_check(const struct tool *t, const char *const *known)
{
	char err[512];

	if (t->conf != NULL &&
	    conf_check(t->conf, t->section, known, err, sizeof(err)) == -1)
		tool_conf_fatal(NULL, err);
}

void
tool_conf_fatal(const char *key, const char *msg)
{
	if (key != NULL)
		fatalx(EX_CONFIG, "event=config.error key=%s msg=\"%s\"", key,
		    msg);
	fatalx(EX_CONFIG, "event=config.error msg=\"%s\"", msg);
}

long long
tool_num(const struct tool *t, const char *key, long long min,
    long long max, long long def)
{
	char err[512];
	long long v = def;

	if (conf_num(t->conf, t->section, key, min, max, &v, err,
	    sizeof(err)) == -1)
		tool_conf_fatal(key, err);
	return v;
}

int
tool_bool(const struct tool *t, const char *key, int def)
{
	char err[512];
	int v = def;

	if (conf_bool(t->conf, t->section, key, &v, err, sizeof(err)) == -1)
		tool_conf_fatal(key, err);
	return v;
}

char *
tool_str(const struct tool *t, const char *key, const char *def)
{
	const char *v = conf_get(t->conf, t->section, key);

	if (v != NULL && *v != '\0')
		return xstrdup(v);
	return def ? xstrdup(def) : NULL;
}

char *
tool_path(const struct tool *t, const char *key, const char *dir,
    const char *leaf)
{
	char *p = key != NULL ? tool_str(t, key, NULL) : NULL;

	if (p == NULL && asprintf(&p, "%s/%s", dir, leaf) == -1)
		fatal(EX_OSERR, "asprintf");
	return p;
}

void
tool_linger_conf(const struct tool *t, struct drain_linger *lo,
    int batch_wait_def, int busy_wait_def)
{
	char err[512];

	if (drain_linger_conf(lo, t->conf, t->section, batch_wait_def,
	    busy_wait_def, err, sizeof(err)) == -1)
		tool_conf_fatal(NULL, err);
}

void
tool_idset(struct idset *set, const char *list, const char *key)
{
	char err[512];

	if (idset_parse(set, list, err, sizeof(err)) == -1)
		tool_conf_fatal(key, err);
}

static void
tool_on_stop(int sig)
{
	(void)sig;
	*stop_flag = 1;
}

void
tool_catch_stop(volatile sig_atomic_t *flag)
{
	struct sigaction sa;

	stop_flag = flag;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tool_on_stop;
	if (sigemptyset(&sa.sa_mask) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1)
		fatal(EX_OSERR, "event=sigaction.fail");
}

void
tool_drop_privileges(const char *user)
{
	char err[512];

	if (geteuid() == 0 && priv_drop(user, err, sizeof(err)) == -1)
		fatalx(EX_NOPERM, "event=priv.fail msg=\"%s\"", err);
	if (priv_check_not_root() == -1)
		fatalx(EX_NOPERM, "event=priv.fail msg=\"refusing to run as "
		    "root\"");
}

void
tool_no_core(void)
{
	struct rlimit rl = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &rl);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

struct drain *
tool_drain_open(const char *spool_dir, const char *in, const char *out,
    const char *audit, const struct drain_opts *o)
{
	struct drain *d;
	char inp[4096], outp[4096], err[512];

	if ((size_t)snprintf(inp, sizeof(inp), "%s/%s", spool_dir, in) >=
	    sizeof(inp) || (out != NULL && (size_t)snprintf(outp,
	    sizeof(outp), "%s/%s", spool_dir, out) >= sizeof(outp)))
		tool_conf_fatal(NULL, "spool_dir too long");
	if ((d = drain_open(inp, out ? outp : NULL, audit, o, err,
	    sizeof(err))) == NULL)
		fatalx(EX_IOERR, "event=drain.open.fail msg=\"%s\"", err);
	return d;
}
