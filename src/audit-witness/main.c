/* SPDX-License-Identifier: ISC */
/*
 * audit-witness: a witness for the sealed audit log (spec/audit.md §6,
 * AT-09 and AT-18; C2SP tlog-witness and tlog-cosignature v1).  It keeps,
 * per log, the latest checkpoint it cosigned; a new checkpoint is
 * cosigned only if the log's key chain signed it and an RFC 9162
 * consistency proof shows that it extends that one, so a fork (two
 * trees of one size) or a rollback is refused and alarmed.  Submissions
 * come as files in spool/audit-witness (audit-export's witness sink
 * writes them) or, one at a time, on standard input ("-", for a witness
 * on another host behind ssh).  The cosigned checkpoint is published in
 * cosigned_dir for audit-verify --witness.  It never reads the log.
 * See audit-witness(8) and doc/AUDIT.md.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "auditlog.h"
#include "conf.h"
#include "drain.h"
#include "log.h"
#include "priv.h"
#include "sig.h"
#include "tool.h"
#include "xalloc.h"

#include "witness.h"

#define SECTION		"audit-witness"
#define DEFAULT_SPOOL	"/var/spool/octospool"
#define DEFAULT_USER	"octospool-witness"
#define DEFAULT_STATE	"/var/lib/octospool/witness"
#define DEFAULT_PUB	"/var/lib/octospool/witness-cosigned"
#define DEFAULT_KEY	"/etc/octospool/keys/audit-witness.key"
#define DEFAULT_LOGS	"/etc/octospool/audit.vkey"
#define DEFAULT_PRODUCERS "octospool-auditx"
#define SUBMISSION_MAX	(16 << 20)

static const char *const known_keys[] = {
	"spool_dir", "user", "state_dir", "cosigned_dir", "key", "name",
	"logs", "producers", NULL
};

struct wopts {
	char		*spool_dir, *queue, *user, *key_path, *logs;
	char		*producer_list;
	struct idset	 producers;
	int		 any_producer;
};

static struct tool tool = { .name = "audit-witness", .section = SECTION,
    .usage =
    "usage: audit-witness [-dhnVv] [-c file]     (drain the queue)\n"
    "       audit-witness [-dv] [-c file] -      (one submission on "
    "stdin)\n"
    "       audit-witness [-c file] --vkey       (print the witness "
    "key)\n"
    "See audit-witness(8).\n"
};

/* One verifier key per log this witness follows (files). */
static void
load_logs(struct wconf *cf, const char *list)
{
	char *l = xstrdup(list), *tok, *save;

	for (tok = strtok_r(l, " ,", &save); tok != NULL;
	    tok = strtok_r(NULL, " ,", &save)) {
		struct wlog *lg;
		char line[512];
		const char *slash;
		FILE *fp;

		if (cf->nlogs == W_MAX_LOGS)
			fatalx(EX_CONFIG, "event=config.error key=logs "
			    "msg=\"at most %d\"", W_MAX_LOGS);
		if ((fp = fopen(tok, "re")) == NULL)
			fatal(EX_CONFIG, "event=config.error key=logs file=%s",
			    tok);
		if (fgets(line, sizeof(line), fp) == NULL)
			line[0] = '\0';
		fclose(fp);
		line[strcspn(line, "\r\n")] = '\0';
		lg = &cf->logs[cf->nlogs];
		if (al_vkey_parse(line, lg->origin, sizeof(lg->origin),
		    lg->pk0) == -1 || (slash = strrchr(lg->origin, '/')) ==
		    NULL || strlen(slash + 1) != 2 * AL_LOGID ||
		    strspn(slash + 1, "0123456789abcdef") != 2 * AL_LOGID)
			fatalx(EX_CONFIG, "event=config.error key=logs file=%s "
			    "msg=\"not an audit log verifier key\"", tok);
		strlcpy(lg->id, slash + 1, sizeof(lg->id));
		/* One state and one published note per log id: two keys
		 * for one id would let one log stand for the other. */
		for (int i = 0; i < cf->nlogs; i++)
			if (strcmp(cf->logs[i].id, lg->id) == 0)
				fatalx(EX_CONFIG, "event=config.error key=logs "
				    "file=%s msg=\"log id %s is already "
				    "followed: each log needs its own key\"",
				    tok, lg->id);
		cf->nlogs++;
	}
	free(l);
	if (cf->nlogs == 0)
		fatalx(EX_CONFIG, "event=config.error key=logs msg=\"no log\"");
}

static void
configure(struct wconf *cf, struct wopts *o)
{
	char host[256];

	tool_conf_check(&tool, known_keys);
	o->spool_dir = tool_str(&tool, "spool_dir", DEFAULT_SPOOL);
	if (asprintf(&o->queue, "%s/audit-witness", o->spool_dir) == -1)
		fatal(EX_OSERR, "asprintf");
	o->user = tool_str(&tool, "user", DEFAULT_USER);
	o->key_path = tool_str(&tool, "key", DEFAULT_KEY);
	o->logs = tool_str(&tool, "logs", DEFAULT_LOGS);
	o->producer_list = tool_str(&tool, "producers", DEFAULT_PRODUCERS);
	cf->state_dir = tool_str(&tool, "state_dir", DEFAULT_STATE);
	cf->cosigned_dir = tool_str(&tool, "cosigned_dir", DEFAULT_PUB);
	if (gethostname(host, sizeof(host)) == -1)
		strlcpy(host, "octospool", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '+' || *p == '/')
			*p = '_';
	strlcat(host, "/audit-witness", sizeof(host));
	cf->name = tool_str(&tool, "name", host);
	for (const char *p = cf->name; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '+' || *p == 0x7f)
			fatalx(EX_CONFIG, "event=config.error key=name "
			    "msg=\"no spaces, '+' or control characters\"");
}

/* The witness key (Ed25519 PEM, 0600) and its raw public half. */
static void
load_key(struct wconf *cf, const struct wopts *o)
{
	char err[512];
	size_t pl = AL_PK;

	if ((cf->key = sig_load_private(o->key_path, err, sizeof(err))) ==
	    NULL)
		fatalx(EX_CONFIG, "event=key.load.fail msg=\"%s\"", err);
	if (EVP_PKEY_get_raw_public_key(cf->key, cf->pk, &pl) != 1 ||
	    pl != AL_PK)
		fatalx(EX_CONFIG, "event=key.load.fail msg=\"%s: no Ed25519 "
		    "public key\"", o->key_path);
}

/* Log the outcome of one submission: a refusal is an alarm. */
static void
report(const char *src, int rc, const char *why, const struct al_buf *cosig)
{
	char vis[LOG_VISBUF];

	if (rc == W_COSIGNED)
		log_info("event=witness.cosign item=%s cosignature=\"%.*s\"",
		    src, (int)(cosig->len ? cosig->len - 1 : 0),
		    (const char *)cosig->p);
	else if (rc == W_DUPLICATE)
		log_debug("event=witness.duplicate item=%s", src);
	else
		log_warnx("event=witness.%s item=%s msg=\"%s\"", rc ==
		    W_REFUSED ? "refuse" : "error", src,
		    log_vis(vis, sizeof(vis), why, strlen(why)));
}

struct run {
	struct wconf	*cf;
	unsigned long	 cosigned, refused;
};

/* The drain handler: one submission file. */
static int
handle(struct drain *d, struct drain_item *it, void *arg)
{
	struct run *r = arg;
	struct al_buf cosig = { 0 };
	char why[DRAIN_REASON_MAX - 32];
	int rc;

	(void)d;
	rc = witness_add(r->cf, it->data, it->len, &cosig, why, sizeof(why));
	report(it->name, rc, why, &cosig);
	al_buf_free(&cosig);
	if (rc == W_ERROR) {
		/* Nothing decided: the item waits for the next run. */
		return DRAIN_RETRY;
	}
	if (rc == W_REFUSED) {
		r->refused++;
		drain_reason(it, EX_DATAERR, "%s", why);
		return DRAIN_REJECT;
	}
	r->cosigned += rc == W_COSIGNED;
	return DRAIN_DONE;
}

static int
drain_mode(struct wconf *cf, struct wopts *o)
{
	struct drain_opts dopt;
	struct drain_stats st;
	struct drain *d;
	struct run r;
	int rc;

	memset(&dopt, 0, sizeof(dopt));
	memset(&r, 0, sizeof(r));
	r.cf = cf;
	dopt.stage = "audit-witness";
	dopt.max_item = SUBMISSION_MAX;
	dopt.producers = o->any_producer ? NULL : &o->producers;
	d = tool_drain_open(o->spool_dir, "audit-witness", NULL, NULL, &dopt);
	rc = drain_run(d, handle, &r, &st);
	drain_close(d);
	if (st.seen > 0 || rc != 0)
		log_info("event=drain.done stage=audit-witness files=%lu "
		    "cosigned=%lu refused=%lu retried=%lu exit=%d", st.seen,
		    r.cosigned, r.refused, st.retried, rc);
	return rc;
}

/* One submission on standard input; the cosignature on standard output. */
static int
stdin_mode(struct wconf *cf)
{
	struct al_buf in = { 0 }, cosig = { 0 };
	char buf[65536], why[512];
	int rc;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			fatal(EX_IOERR, "event=stdin.read.fail");
		if (n == 0)
			break;
		if (in.len + n > SUBMISSION_MAX)
			fatalx(EX_DATAERR, "event=witness.refuse item=stdin "
			    "msg=\"rule=size larger than %d bytes\"",
			    SUBMISSION_MAX);
		al_buf_put(&in, buf, n);
	}
	rc = witness_add(cf, (const char *)in.p, in.len, &cosig, why,
	    sizeof(why));
	report("stdin", rc, why, &cosig);
	if (rc == W_COSIGNED || rc == W_DUPLICATE) {
		if (fwrite(cosig.p, 1, cosig.len, stdout) != cosig.len ||
		    fflush(stdout) == EOF)
			fatal(EX_IOERR, "event=stdout.fail");
	} else
		log_say("audit-witness", "refused", why);
	al_buf_free(&in);
	al_buf_free(&cosig);
	return rc >= 0 ? EX_OK : rc == W_REFUSED ? EX_DATAERR : EX_IOERR;
}

int
main(int argc, char *argv[])
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "vkey", no_argument, NULL, 1 },
		{ NULL, 0, NULL, 0 }
	};
	struct wconf cf;
	struct wopts o;
	int ch, vkey = 0, rc;

	while ((ch = tool_getopt(&tool, argc, argv, "c:dhnVv", lopts)) !=
	    -1) {
		switch (ch) {
		case 1:
			vkey = 1;
			break;
		default:
			tool_usage(&tool, stderr, EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1 || (argc == 1 && (strcmp(argv[0], "-") != 0 || vkey)))
		tool_usage(&tool, stderr, EX_USAGE);
	tool_log_init(&tool, LOG_AUTHPRIV, tool.fg || tool.check || vkey ||
	    argc == 1);
	tool_conf_load(&tool);
	memset(&cf, 0, sizeof(cf));
	memset(&o, 0, sizeof(o));
	configure(&cf, &o);
	if (strcmp(o.producer_list, "any") == 0)
		o.any_producer = 1;
	else
		tool_idset(&o.producers, o.producer_list, "producers");
	tool_no_core();	/* the key is in memory */
	umask(027);
	tool_drop_privileges(o.user);
	load_logs(&cf, o.logs);
	load_key(&cf, &o);
	if (tool.check) {
		printf("audit-witness: configuration ok\n");
		exit(EX_OK);
	}
	if (vkey) {
		char vk[512];

		if (al_cosig_vkey_format(cf.name, cf.pk, vk, sizeof(vk)) == -1)
			fatalx(EX_CONFIG, "event=config.error key=name");
		printf("%s\n", vk);
		rc = EX_OK;
	} else if (argc == 1)
		rc = stdin_mode(&cf);
	else
		rc = drain_mode(&cf, &o);
	EVP_PKEY_free(cf.key);
	conf_free(tool.conf);
	free(o.spool_dir);
	free(o.queue);
	free(o.user);
	free(o.key_path);
	free(o.logs);
	free(o.producer_list);
	free(cf.state_dir);
	free(cf.cosigned_dir);
	free(cf.name);
	return rc;
}
