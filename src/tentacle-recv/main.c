/* SPDX-License-Identifier: ISC */
/*
 * tentacle-recv: the Tentacle server.  Accepts the stock tentacle_server
 * options, stores agent files atomically into the octospool spool (or
 * the stock layout with -s), serves remote configuration read-only.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "log.h"
#include "priv.h"
#include "tentacle.h"
#include "tls.h"
#include "xalloc.h"

#include "recv.h"

#define SECTION		"tentacle-recv"
#define MAX_LISTEN	16
#define DEFAULT_SPOOL	"/var/spool/octospool"
#define DEFAULT_STAMP_KEY "/etc/octospool/keys/tentacle-recv.key"
#define DEFAULT_USER	"octospool-recv"
#define DEFAULT_FILTERS	".*\\.conf:conf;.*\\.md5:md5;.*\\.zip:collections;" \
			".*\\.rcmd:commands"
#define DEFAULT_DATA	"^.*[._][0-9]+\\.data$"

struct recv_conf recv_cf;
struct store	 recv_store;

static volatile sig_atomic_t got_stop, got_hup;
static int	 sigpipe_fd[2] = { -1, -1 };
static pthread_mutex_t ctx_mu = PTHREAD_MUTEX_INITIALIZER;

/* Every key the [tentacle-recv] section may hold. */
static const char *const known_keys[] = {
	/* stock tentacle_server keys */
	"addresses", "port", "directory", "max_connections", "max_size",
	"overwrite", "filters", "insecure", "password", "ssl_cert", "ssl_key",
	"ssl_ca", "ssl_password", "ssl_version", "ssl_cipher", "timeout",
	"retries", "proxy_ip", "proxy_port", "daemon", "log_file", "verbose",
	"quiet", "use_libwrap", "block_size", "invalid_chars",
	/* octospool keys */
	"spool_dir", "served_dir", "user", "port_file", "password_file",
	"ssl_password_file", "ssl_ciphersuites", "client_cert",
	"max_per_source", "session_timeout", "min_rate", "auth_fail_delay",
	"auth_fail_limit", "auth_fail_window", "auth_block_time", "file_mode",
	"name_max", "data_pattern", "audit", "audit_spool", "syslog_facility",
	"pid_file", "syslog", "stamp_key", "crl_file", "tls_fail_limit",
	"fail_log_burst", "fail_log_total", "fail_log_interval", "proxy_from",
	NULL
};

/* Command-line values, by config key; they win over the file. */
static struct { const char *key; char *val; } cli[64];
static int ncli;

static void
cli_set(const char *key, const char *val)
{
	for (int i = 0; i < ncli; i++)
		if (strcmp(cli[i].key, key) == 0) {
			free(cli[i].val);
			cli[i].val = xstrdup(val);
			return;
		}
	if (ncli < (int)(sizeof(cli) / sizeof(cli[0]))) {
		cli[ncli].key = key;
		cli[ncli++].val = xstrdup(val);
	}
}

static const struct conf *the_conf;
static int askpass;

static const char *
cli_get(const char *key)
{
	for (int i = 0; i < ncli; i++)
		if (strcmp(cli[i].key, key) == 0)
			return cli[i].val;
	return NULL;
}

/* A setting: command line, else [tentacle-recv] or top of the file. */
static const char *
get(const char *key)
{
	const char *v = cli_get(key);

	return v != NULL ? v : conf_get(the_conf, SECTION, key);
}

static long long
get_num(const char *key, long long min, long long max, long long def)
{
	const char *v = get(key), *es = NULL;
	long long n;

	if (v == NULL)
		return def;
	n = strtonum(v, min, max, &es);
	if (es != NULL)
		fatalx(EX_CONFIG, "event=config.error key=%s msg=\"value is "
		    "%s (want %lld..%lld)\"", key, es, min, max);
	return n;
}

static int
get_bool(const char *key, int def)
{
	const char *v = get(key);

	if (v == NULL)
		return def;
	if (!strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") ||
	    !strcasecmp(v, "true"))
		return 1;
	if (!strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "off") ||
	    !strcasecmp(v, "false") || *v == '\0')
		return 0;
	fatalx(EX_CONFIG, "event=config.error key=%s msg=\"not a boolean\"",
	    key);
}

static char *
get_str(const char *key, const char *def)
{
	const char *v = get(key);

	return v != NULL && *v != '\0' ? xstrdup(v) : def ? xstrdup(def) :
	    NULL;
}

static void __attribute__((noreturn))
usage(FILE *fp, int ex)
{
	fprintf(fp,
	    "usage: tentacle-recv [-dhInoqTvVw] [-a address[,address...]] "
	    "[-c max_conn]\n"
	    "\t[-e cert] [-F config] [-f ca] [-i filters] [-k key] "
	    "[-l log_file]\n"
	    "\t[-m max_size] [-p port] [-r retries] [-s storage_dir] "
	    "[-t timeout]\n"
	    "\t[-u ciphers] [-x password] [-z ssl_version]\n"
	    "\t[--config file] [--spool dir] [--user user] [--port-file file]\n"
	    "\t[--password-file file] [--client-cert none|optional|require]\n"
	    "\t[--max-per-source n] [--session-timeout s] [--min-rate B/s]\n"
	    "\t[--served-dir dir] [--audit-spool dir] [--pid-file file]\n"
	    "\t[--stamp-key file|none] [--crl-file file]\n"
	    "\t[--proxy-from address[/prefix][,...]]\n"
	    "\t[--version] [--help]\n"
	    "See tentacle-recv(8).\n");
	exit(ex);
}

/* The syslog facility named by syslog_facility (default daemon). */
static int
facility(void)
{
	static const struct { const char *name; int fac; } tab[] = {
		{ "daemon", LOG_DAEMON }, { "user", LOG_USER },
		{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV },
		{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
		{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
		{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
		{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
	};
	const char *v = get("syslog_facility");

	if (v == NULL)
		return LOG_DAEMON;
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strcmp(tab[i].name, v) == 0)
			return tab[i].fac;
	fatalx(EX_CONFIG, "event=config.error key=syslog_facility "
	    "msg=\"unknown facility\"");
}

/* Make a relative path absolute: -d changes to / before using it. */
static char *
abs_path(char *p)
{
	char cwd[4096], *a;

	if (p == NULL || p[0] == '/')
		return p;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		fatal(EX_OSERR, "event=getcwd.fail");
	if (asprintf(&a, "%s/%s", cwd, p) == -1)
		fatal(EX_OSERR, "event=oom");
	free(p);
	return a;
}

/* First line of a file holding a secret; refuse group/world access. */
static char *
read_secret(const char *path)
{
	char buf[1024];
	struct stat sb;
	FILE *fp;
	size_t n;

	if ((fp = fopen(path, "re")) == NULL)
		fatal(EX_CONFIG, "event=config.error file=%s", path);
	if (fstat(fileno(fp), &sb) == -1 || (sb.st_mode & 0007) != 0)
		fatalx(EX_CONFIG, "event=config.error file=%s msg=\"secret "
		    "file must not be world-accessible\"", path);
	if (fgets(buf, sizeof(buf), fp) == NULL)
		fatalx(EX_CONFIG, "event=config.error file=%s msg=\"empty\"",
		    path);
	fclose(fp);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return xstrdup(buf);
}

/* Turn every setting into recv_cf; config errors exit 78. */
static void
configure(void)
{
	struct recv_conf *cf = &recv_cf;
	char err[512], *pw = NULL, *v;
	long long t, r;

	if (the_conf != NULL &&
	    conf_check(the_conf, SECTION, known_keys, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.error msg=\"%s\"", err);
	if (get("proxy_ip") != NULL)
		fatalx(EX_CONFIG, "event=config.error msg=\"proxy mode (-b) is "
		    "not supported: run tentacle-recv behind a TCP load "
		    "balancer instead\"");
	if (get_bool("insecure", 0))
		log_warnx("event=config.warn msg=\"-I/insecure ignored: LS and "
		    "MV are never served\"");
	if (get("block_size") != NULL)
		log_warnx("event=config.warn msg=\"block_size ignored: data is "
		    "read in 64 KiB blocks\"");
	if (get_bool("use_libwrap", 0))
		log_warnx("event=config.warn msg=\"-T/use_libwrap ignored: use "
		    "max_per_source and a firewall\"");
	cf->addresses = get_str("addresses", "0.0.0.0");
	cf->port = get_str("port", TENTACLE_PORT);
	cf->port_file = abs_path(get_str("port_file", NULL));
	cf->pid_file = abs_path(get_str("pid_file", NULL));
	cf->max_conn = get_num("max_connections", 1, 4096, 100);
	cf->max_per_source = get_num("max_per_source", 1, 100000, 16);
	if ((v = get_str("proxy_from", NULL)) != NULL) {
		/* Balancers whose PROXY header is believed, and required. */
		if (proxy_acl_parse(&cf->proxy, v, err, sizeof(err)) == -1)
			fatalx(EX_CONFIG, "event=config.error key=proxy_from "
			    "msg=\"%s\"", err);
		cf->have_proxy = 1;
		free(v);
	}
	cf->storage_dir = get_str("directory", NULL);
	cf->layout = cf->storage_dir ? LAYOUT_STOCK : LAYOUT_OCTOSPOOL;
	cf->spool_dir = get_str("spool_dir", DEFAULT_SPOOL);
	if (cf->layout == LAYOUT_OCTOSPOOL) {
		char *d;

		if (asprintf(&d, "%s/conf-dist/out", cf->spool_dir) == -1)
			fatal(EX_OSERR, "asprintf");
		cf->served_dir = get_str("served_dir", d);
		free(d);
		cf->filters = get_str("filters", DEFAULT_FILTERS);
		cf->audit = get_bool("audit", 1);
		if (asprintf(&d, "%s/audit-sign", cf->spool_dir) == -1)
			fatal(EX_OSERR, "asprintf");
		cf->audit_spool = get_str("audit_spool", d);
		free(d);
		/* Every envelope is stamped: the facts in it are believed
		 * downstream only under this key's signature. */
		cf->stamp_key = get_str("stamp_key", DEFAULT_STAMP_KEY);
		if (strcmp(cf->stamp_key, "none") == 0) {
			free(cf->stamp_key);
			cf->stamp_key = NULL;
		}
	} else {
		cf->filters = get_str("filters", NULL);
		cf->audit_spool = get_str("audit_spool", NULL);
		cf->audit = cf->audit_spool != NULL && get_bool("audit", 1);
	}
	cf->audit_seg_max = auditseg_max(the_conf);
	cf->data_pattern = get_str("data_pattern", DEFAULT_DATA);
	cf->overwrite = get_bool("overwrite", 0);
	cf->max_size = get_num("max_size", 1, 1LL << 40, TENTACLE_MAX_SIZE);
	cf->name_max = get_num("name_max", 1, 255, 255);
	if ((v = get_str("file_mode", "0640")) != NULL) {
		char *end;
		unsigned long m = strtoul(v, &end, 8);

		if (*end != '\0' || m > 0666 || (m & 0400) == 0)
			fatalx(EX_CONFIG, "event=config.error key=file_mode "
			    "msg=\"want an octal mode <= 0666 with owner "
			    "read\"");
		cf->file_mode = m;
		free(v);
	}
	strlcpy(cf->bad_chars, TENTACLE_BAD_CHARS, sizeof(cf->bad_chars));
	if ((v = get_str("invalid_chars", NULL)) != NULL) {
		/* Only ever adds characters to the forbidden set. */
		for (char *p = v; *p; p++)
			if (strchr(cf->bad_chars, *p) == NULL &&
			    strlen(cf->bad_chars) + 1 < sizeof(cf->bad_chars)) {
				size_t l = strlen(cf->bad_chars);

				cf->bad_chars[l] = *p;
				cf->bad_chars[l + 1] = '\0';
			}
		free(v);
	}
	/* Time limits: stock -t/-r give the idle time, t*(r+1) seconds. */
	t = get_num("timeout", 1, 3600, 1);
	r = get_num("retries", 0, 100, 3);
	cf->idle_ms = (int)(t * (r + 1) * 1000);
	cf->session_ms = get_num("session_timeout", 1, 86400, 600) * 1000;
	cf->min_rate = get_num("min_rate", 0, 1LL << 30, 16384);
	cf->auth_fail_delay_ms = get_num("auth_fail_delay", 0, 10000, 1000);
	cf->auth_fail_limit = get_num("auth_fail_limit", 1, 100000, 5);
	cf->auth_fail_window_s = get_num("auth_fail_window", 1, 86400, 60);
	cf->auth_block_s = get_num("auth_block_time", 0, 86400, 60);
	cf->tls_fail_limit = get_num("tls_fail_limit", 0, 100000, 20);
	cf->fail_log_burst = get_num("fail_log_burst", 0, 1000, 5);
	cf->fail_log_total = get_num("fail_log_total", 0, 100000, 100);
	cf->fail_log_interval_s = get_num("fail_log_interval", 1, 86400, 60);
	/* Password: only its token is kept in memory; -x wins. */
	if (cli_get("password") == NULL &&
	    (v = get_str("password_file", NULL)) != NULL) {
		pw = read_secret(v);
		free(v);
	} else
		pw = get_str("password", NULL);
	if (pw != NULL) {
		if (*pw == '\0')
			fatalx(EX_CONFIG, "event=config.error key=password "
			    "msg=\"empty\"");
		if (tentacle_token(pw, cf->token) == -1)
			fatalx(EX_SOFTWARE, "event=md5.fail");
		cf->have_password = 1;
		explicit_bzero(pw, strlen(pw));
		free(pw);
	}
	/* TLS */
	cf->tls.cert = get_str("ssl_cert", NULL);
	cf->tls.key = get_str("ssl_key", NULL);
	cf->tls.ca = abs_path(get_str("ssl_ca", NULL));
	/* Read again on SIGHUP, after -d has changed to /: absolute. */
	cf->tls.crl = abs_path(get_str("crl_file", NULL));
	cf->tls.key_pass = get_str("ssl_password", NULL);
	cf->tls.key_pass_file = get_str("ssl_password_file", NULL);
	cf->tls.ask_tty = askpass;
	cf->tls.ciphers = get_str("ssl_cipher", NULL);
	cf->tls.ciphersuites = get_str("ssl_ciphersuites", NULL);
	if ((v = get_str("ssl_version", NULL)) != NULL) {
		/* Stock names too; anything older than 1.2 is refused. */
		if (!strcmp(v, "TLSv1_2") || !strcmp(v, "TLSv1.2"))
			cf->tls.min_version = "TLSv1.2";
		else if (!strcmp(v, "TLSv1_3") || !strcmp(v, "TLSv1.3"))
			cf->tls.min_version = "TLSv1.3";
		else
			fatalx(EX_CONFIG, "event=config.error key=ssl_version "
			    "msg=\"only TLSv1_2 or TLSv1_3\"");
		free(v);
	}
	cf->tls_on = cf->tls.cert != NULL;
	if ((v = get_str("client_cert", NULL)) != NULL) {
		if (!strcmp(v, "none"))
			cf->tls.client_mode = TLS_CLIENT_NONE;
		else if (!strcmp(v, "optional"))
			cf->tls.client_mode = TLS_CLIENT_OPTIONAL;
		else if (!strcmp(v, "require"))
			cf->tls.client_mode = TLS_CLIENT_REQUIRE;
		else
			fatalx(EX_CONFIG, "event=config.error key=client_cert "
			    "msg=\"none, optional or require\"");
		free(v);
	} else
		cf->tls.client_mode = cf->tls.ca ? TLS_CLIENT_REQUIRE :
		    TLS_CLIENT_NONE;
	if (!cf->tls_on && (cf->tls.key || cf->tls.ca || cf->tls.crl))
		fatalx(EX_CONFIG, "event=config.error msg=\"-k, -f and "
		    "--crl-file need -e (a certificate)\"");
	if (cf->tls.crl != NULL && cf->tls.client_mode == TLS_CLIENT_NONE)
		fatalx(EX_CONFIG, "event=config.error msg=\"--crl-file needs "
		    "client certificates (-f, client_cert optional or "
		    "require)\"");
	if (cf->tls_on && (cf->ssl_ctx = tls_server_ctx(&cf->tls, err,
	    sizeof(err))) == NULL)
		fatalx(EX_CONFIG, "event=config.error msg=\"TLS: %s\"", err);
	cf->user = get_str("user", NULL);
	cf->daemon = get_bool("daemon", 0);
	cf->log_file = abs_path(get_str("log_file", NULL));
	cf->verbose = get_num("verbose", 0, 2, 0);
	cf->quiet = get_bool("quiet", 0);
	if (gethostname(cf->hostname, sizeof(cf->hostname)) == -1)
		strlcpy(cf->hostname, "localhost", sizeof(cf->hostname));
	cf->hostname[sizeof(cf->hostname) - 1] = '\0';
}

/* Bind every address in the comma list; returns the number bound. */
static int
listen_all(int *fds, int max)
{
	char *list = xstrdup(recv_cf.addresses), *a, *save = NULL;
	int n = 0;

	for (a = strtok_r(list, ",", &save); a != NULL && n < max;
	    a = strtok_r(NULL, ",", &save)) {
		struct addrinfo hints, *res, *ai;
		const char *host = strcmp(a, "0") == 0 ? "0.0.0.0" : a;
		int rc, one = 1;

		while (*host == ' ')
			host++;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
		if ((rc = getaddrinfo(host, recv_cf.port, &hints, &res)) != 0)
			fatalx(EX_CONFIG, "event=config.error address=%s "
			    "msg=\"%s\"", host, gai_strerror(rc));
		for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
			int fd = socket(ai->ai_family, ai->ai_socktype |
			    SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);

			if (fd == -1)
				continue;
			(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
			    sizeof(one));
			if (ai->ai_family == AF_INET6)
				(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
				    &one, sizeof(one));
			if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
			    listen(fd, 511) == -1) {
				log_warn("event=listen.fail address=%s port=%s",
				    host, recv_cf.port);
				close(fd);
				continue;
			}
			fds[n++] = fd;
		}
		freeaddrinfo(res);
	}
	free(list);
	return n;
}

/* systemd socket activation: LISTEN_PID/LISTEN_FDS, fds from 3. */
static int
listen_inherited(int *fds, int max)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	int n;

	if (pid == NULL || nfds == NULL || atoi(pid) != getpid())
		return 0;
	n = atoi(nfds);
	if (n > max)
		n = max;
	for (int i = 0; i < n; i++) {
		fds[i] = 3 + i;
		(void)fcntl(fds[i], F_SETFD, FD_CLOEXEC);
		(void)fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) |
		    O_NONBLOCK);
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return n;
}

/* Write one line to path with a temp file and a rename. */
static void
write_small_file(const char *path, const char *line)
{
	char tmp[4096];
	FILE *fp;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		fatalx(EX_CONFIG, "event=config.error msg=\"path too long\"");
	if ((fp = fopen(tmp, "we")) == NULL || fprintf(fp, "%s\n", line) < 0 ||
	    fclose(fp) == EOF || rename(tmp, path) == -1)
		fatal(EX_CANTCREAT, "event=write.fail file=%s", path);
}

/* Publish the bound port (for -p 0), for tests and scripts. */
static void
write_port_file(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[NI_MAXSERV];

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sl, NULL, 0, port,
	    sizeof(port), NI_NUMERICSERV) != 0)
		fatal(EX_OSERR, "event=port_file.fail");
	write_small_file(recv_cf.port_file, port);
}

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = 1;
	(void)!write(sigpipe_fd[1], &c, 1);
	errno = saved;
}

static void
signals(void)
{
	struct sigaction sa;

	if (pipe2(sigpipe_fd, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal(EX_OSERR, "pipe");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGXFSZ, &sa, NULL);	/* a size limit is EFBIG, not death */
}

/* The context for a new session, referenced: reloads may replace it. */
SSL_CTX *
recv_tls_ctx(void)
{
	SSL_CTX *ctx;

	pthread_mutex_lock(&ctx_mu);
	ctx = recv_cf.ssl_ctx;
	SSL_CTX_up_ref(ctx);
	pthread_mutex_unlock(&ctx_mu);
	return ctx;
}

/* Say what the CRLs of ctx cover, and warn of what fails closed. */
static void
tls_log_crl(SSL_CTX *ctx, const char *event)
{
	struct tls_crl_info ci;

	if (recv_cf.tls.crl == NULL || tls_crl_info(ctx, &ci) == -1)
		return;
	log_info("event=%s crl_file=%s crls=%d revoked=%ld check=%s "
	    "next_update=%s", event, recv_cf.tls.crl, ci.ncrl, ci.nrevoked,
	    ci.chain ? "chain" : "leaf", ci.next_update[0] ? ci.next_update :
	    "-");
	if (ci.nexpired > 0)
		log_warnx("event=tls.crl.expired crl_file=%s expired=%d "
		    "next_update=%s msg=\"a CRL is past its nextUpdate: every "
		    "client certificate of its CA is refused until a fresh "
		    "CRL is installed and SIGHUP sent\"", recv_cf.tls.crl,
		    ci.nexpired, ci.next_update);
	if (ci.nocrl[0] != '\0')
		log_warnx("event=tls.crl.missing crl_file=%s ca=\"%s\" "
		    "msg=\"no CRL for this CA: its client certificates are "
		    "refused\"", recv_cf.tls.crl, ci.nocrl);
}

/*
 * SIGHUP: read the CA and CRL files again into a new context (same
 * certificate and key) for new sessions; sessions in flight keep the
 * one they started with.  If that fails the old context stays.
 */
static void
tls_reload(void)
{
	char err[512];
	SSL_CTX *ctx, *old;

	if (!recv_cf.tls_on)
		return;
	if ((ctx = tls_server_ctx_renew(&recv_cf.tls, recv_cf.ssl_ctx, err,
	    sizeof(err))) == NULL) {
		log_warnx("event=tls.reload.fail reason=\"%s\" msg=\"the CA "
		    "and CRL files in use stay in use\"", err);
		return;
	}
	pthread_mutex_lock(&ctx_mu);
	old = recv_cf.ssl_ctx;
	recv_cf.ssl_ctx = ctx;
	pthread_mutex_unlock(&ctx_mu);
	SSL_CTX_free(old);
	log_info("event=tls.reload ca=%s crl_file=%s", recv_cf.tls.ca ?
	    recv_cf.tls.ca : "-", recv_cf.tls.crl ? recv_cf.tls.crl : "-");
	tls_log_crl(ctx, "tls.crl");
}

/* Accept, admit or refuse at once, and hand off to a session thread. */
/*
 * Session threads are kept for the next connection instead of being
 * created and torn down per connection (a thread's creation, exit and
 * stack release were a fifth of the CPU of a one-file connection): a
 * thread that finishes a session waits up to POOL_IDLE_S for another,
 * and at most POOL_IDLE_MAX wait at once; the rest exit.  The number of
 * sessions is bounded as before (source_admit), not by the pool.
 */
#define POOL_IDLE_S	10
#define POOL_IDLE_MAX	16

static struct {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct accepted	*head, **tail;
	int		 idle;		/* threads waiting for a connection */
	int		 pending;	/* connections queued for them */
} pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL,
    &pool.head, 0, 0 };

static void *
pool_worker(void *arg)
{
	struct accepted *a = arg;

	for (;;) {
		struct timespec ts;
		int rc = 0;

		ERR_clear_error();	/* nothing of the last session */
		session_main(a);
		pthread_mutex_lock(&pool.mu);
		if (pool.idle >= POOL_IDLE_MAX && pool.head == NULL) {
			pthread_mutex_unlock(&pool.mu);
			return NULL;
		}
		pool.idle++;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += POOL_IDLE_S;
		while (pool.head == NULL && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&pool.cv, &pool.mu, &ts);
		pool.idle--;
		if ((a = pool.head) == NULL) {
			pthread_mutex_unlock(&pool.mu);
			return NULL;
		}
		if ((pool.head = a->next) == NULL)
			pool.tail = &pool.head;
		pool.pending--;
		pthread_mutex_unlock(&pool.mu);
	}
}

/* Run a's session on a waiting thread, else on a new one.  0 or -1. */
static int
pool_run(struct accepted *a, pthread_attr_t *attr)
{
	pthread_t tid;

	pthread_mutex_lock(&pool.mu);
	if (pool.idle > pool.pending) {
		a->next = NULL;
		*pool.tail = a;
		pool.tail = &a->next;
		pool.pending++;
		pthread_cond_signal(&pool.cv);
		pthread_mutex_unlock(&pool.mu);
		return 0;
	}
	pthread_mutex_unlock(&pool.mu);
	return pthread_create(&tid, attr, pool_worker, a) == 0 ? 0 : -1;
}

static void
accept_one(int lfd, pthread_attr_t *attr)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct accepted *a;
	const char *why = NULL;
	int fd, record = 0;

	fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			log_warn("event=accept.fail");
			usleep(100000);	/* no busy loop on fd exhaustion */
		}
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->fd = fd;
	if (getnameinfo((struct sockaddr *)&ss, sl, a->addr, sizeof(a->addr),
	    NULL, 0, NI_NUMERICHOST) != 0)
		strlcpy(a->addr, "unknown", sizeof(a->addr));
	a->port = ss.ss_family == AF_INET ?
	    ntohs(((struct sockaddr_in *)&ss)->sin_port) :
	    ss.ss_family == AF_INET6 ?
	    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) : 0;
	/*
	 * A balancer's connection counts globally now; its client's address
	 * is admitted once the session has read the PROXY header.
	 */
	a->balancer = recv_cf.have_proxy &&
	    proxy_acl_match(&recv_cf.proxy, (struct sockaddr *)&ss);
	if (!(a->balancer ? source_admit_global(a->addr, &why, &record) :
	    source_admit(a->addr, &why, &record))) {
		/* Refused before TLS, cheaply; a flood of them is folded. */
		if (record)
			log_info("event=conn.refused peer=%s port=%d "
			    "reason=\"%s\"", a->addr, a->port, why);
		net_close_gently(fd);
		free(a);
		return;
	}
	if (pool_run(a, attr) == -1) {
		log_warnx("event=conn.refused peer=%s port=%d reason=\"no "
		    "thread\"", a->addr, a->port);
		if (a->balancer)
			source_release_global();
		else
			source_release(a->addr);
		close(fd);
		free(a);
	}
}

int
main(int argc, char *argv[])
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 1 },
		{ "config", required_argument, NULL, 'F' },
		{ "spool", required_argument, NULL, 2 },
		{ "user", required_argument, NULL, 3 },
		{ "port-file", required_argument, NULL, 4 },
		{ "password-file", required_argument, NULL, 5 },
		{ "client-cert", required_argument, NULL, 6 },
		{ "max-per-source", required_argument, NULL, 7 },
		{ "session-timeout", required_argument, NULL, 8 },
		{ "min-rate", required_argument, NULL, 9 },
		{ "served-dir", required_argument, NULL, 10 },
		{ "audit-spool", required_argument, NULL, 11 },
		{ "pid-file", required_argument, NULL, 12 },
		{ "stamp-key", required_argument, NULL, 13 },
		{ "crl-file", required_argument, NULL, 14 },
		{ "proxy-from", required_argument, NULL, 15 },
		{ NULL, 0, NULL, 0 }
	};
	const char *conffile = NULL;
	char err[512];
	int lfds[MAX_LISTEN], nl, ch, check = 0, verbose = 0;
	pthread_attr_t attr;
	struct conf *conf = NULL;

	log_init("tentacle-recv", LOG_DAEMON, 1);
	while ((ch = getopt_long(argc, argv,
	    "a:b:c:de:F:f:g:hIi:k:l:m:nop:qr:Ss:Tt:u:vVwx:z:", lopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'a': cli_set("addresses", optarg); break;
		case 'b': cli_set("proxy_ip", optarg); break;
		case 'c': cli_set("max_connections", optarg); break;
		case 'd': cli_set("daemon", "1"); break;
		case 'e': cli_set("ssl_cert", optarg); break;
		case 'F': conffile = optarg; break;
		case 'f': cli_set("ssl_ca", optarg); break;
		case 'g': cli_set("proxy_port", optarg); break;
		case 'h': usage(stdout, EX_OK);
		case 'I': cli_set("insecure", "1"); break;
		case 'i': cli_set("filters", optarg); break;
		case 'k': cli_set("ssl_key", optarg); break;
		case 'l': cli_set("log_file", optarg); break;
		case 'm': cli_set("max_size", optarg); break;
		case 'n': check = 1; break;
		case 'o': cli_set("overwrite", "1"); break;
		case 'p': cli_set("port", optarg); break;
		case 'q': cli_set("quiet", "1"); break;
		case 'r': cli_set("retries", optarg); break;
		case 'S':
			fatalx(EX_USAGE, "event=usage msg=\"-S (Win32 service) "
			    "is not supported\"");
		case 's': cli_set("directory", optarg); break;
		case 'T': cli_set("use_libwrap", "1"); break;
		case 't': cli_set("timeout", optarg); break;
		case 'u': cli_set("ssl_cipher", optarg); break;
		case 'v': verbose = verbose < 1 ? 1 : verbose; break;
		case 'V': verbose = 2; break;
		case 'w':
			askpass = 1;	/* OpenSSL asks on the terminal */
			break;
		case 'x':
			cli_set("password", optarg);
			log_warnx("event=config.warn msg=\"a password on the "
			    "command line is visible to other users; use "
			    "--password-file\"");
			explicit_bzero(optarg, strlen(optarg));
			break;
		case 'z': cli_set("ssl_version", optarg); break;
		case 1:
			printf("tentacle-recv %s\n", VERSION);
			exit(EX_OK);
		case 2: cli_set("spool_dir", optarg); break;
		case 3: cli_set("user", optarg); break;
		case 4: cli_set("port_file", optarg); break;
		case 5: cli_set("password_file", optarg); break;
		case 6: cli_set("client_cert", optarg); break;
		case 7: cli_set("max_per_source", optarg); break;
		case 8: cli_set("session_timeout", optarg); break;
		case 9: cli_set("min_rate", optarg); break;
		case 10: cli_set("served_dir", optarg); break;
		case 11: cli_set("audit_spool", optarg); break;
		case 12: cli_set("pid_file", optarg); break;
		case 13: cli_set("stamp_key", optarg); break;
		case 14: cli_set("crl_file", optarg); break;
		case 15: cli_set("proxy_from", optarg); break;
		default:
			usage(stderr, EX_USAGE);
		}
	}
	if (optind != argc)
		usage(stderr, EX_USAGE);
	if (verbose) {
		char vb[2] = { '0' + verbose, 0 };

		cli_set("verbose", vb);
	}
	if (conffile == NULL && access(CONF_DEFAULT, F_OK) == 0)
		conffile = CONF_DEFAULT;
	if (conffile != NULL &&
	    (conf = conf_load(conffile, err, sizeof(err))) == NULL)
		fatalx(EX_CONFIG, "event=config.error msg=\"%s\"", err);
	the_conf = conf;
	configure();
	log_init("tentacle-recv", facility(), 1);
	log_setsyslog(get_bool("syslog", 0));
	log_setverbose(recv_cf.verbose);
	log_setquiet(recv_cf.quiet);
	if (recv_cf.log_file && log_setfile(recv_cf.log_file) == -1)
		fatal(EX_CANTCREAT, "event=config.error file=%s",
		    recv_cf.log_file);
	umask(027);
	if (store_init(&recv_store, &recv_cf, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.error msg=\"%s\"", err);
	if (recv_cf.tls_on)
		tls_log_crl(recv_cf.ssl_ctx, "tls.crl");
	if (check) {
		printf("tentacle-recv: configuration ok (%s layout)\n",
		    recv_cf.layout == LAYOUT_STOCK ? "stock" : "octospool");
		exit(EX_OK);
	}
	if ((nl = listen_inherited(lfds, MAX_LISTEN)) == 0 &&
	    (nl = listen_all(lfds, MAX_LISTEN)) == 0)
		fatalx(EX_UNAVAILABLE, "event=listen.fail msg=\"no address "
		    "could be bound\"");
	if (recv_cf.port_file)
		write_port_file(lfds[0]);
	/* Give up root now that the sockets, keys and directories are open. */
	if (geteuid() == 0) {
		const char *user = recv_cf.user ? recv_cf.user : DEFAULT_USER;

		if (priv_drop(user, err, sizeof(err)) == -1)
			fatalx(EX_NOPERM, "event=priv.fail msg=\"%s\"", err);
	}
	if (priv_check_not_root() == -1)
		fatalx(EX_NOPERM, "event=priv.fail msg=\"refusing to run as "
		    "root\"");
	if (recv_cf.daemon) {
		if (daemon(0, 0) == -1)
			fatal(EX_OSERR, "event=daemon.fail");
		log_init("tentacle-recv", facility(), 0);
	}
	if (recv_cf.pid_file) {
		char pid[32];

		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		write_small_file(recv_cf.pid_file, pid);
	}
	signals();
	if (store_start(&recv_store) == -1)
		fatal(EX_OSERR, "event=audit.fail what=start");
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 1024 * 1024);
	log_info("event=server.start layout=%s listen=%d tls=%s "
	    "client_cert=%s password=%s max_size=%lld proxy_from=\"%s\"",
	    recv_cf.layout ==
	    LAYOUT_STOCK ? "stock" : "octospool", nl, recv_cf.tls_on ? "on" :
	    "off", recv_cf.tls.client_mode == TLS_CLIENT_REQUIRE ? "require" :
	    recv_cf.tls.client_mode == TLS_CLIENT_OPTIONAL ? "optional" :
	    "none", recv_cf.have_password ? "on" : "off", recv_cf.max_size,
	    recv_cf.have_proxy ? get("proxy_from") : "-");
	source_init();
	while (!got_stop) {
		struct pollfd pfd[MAX_LISTEN + 1];

		for (int i = 0; i < nl; i++) {
			pfd[i].fd = lfds[i];
			pfd[i].events = POLLIN;
		}
		pfd[nl].fd = sigpipe_fd[0];
		pfd[nl].events = POLLIN;
		/* Wake up for the summaries of folded failures too. */
		if (poll(pfd, nl + 1, source_summary_wait_ms()) == -1) {
			if (errno == EINTR)
				continue;
			fatal(EX_OSERR, "event=poll.fail");
		}
		source_summary(0);
		if (pfd[nl].revents) {
			char buf[16];

			while (read(sigpipe_fd[0], buf, sizeof(buf)) > 0)
				;
			if (got_hup) {
				got_hup = 0;
				if (recv_cf.log_file &&
				    log_setfile(recv_cf.log_file) == -1)
					log_warn("event=log.reopen.fail");
				tls_reload();
			}
		}
		for (int i = 0; i < nl; i++)
			if (pfd[i].revents & POLLIN)
				accept_one(lfds[i], &attr);
	}
	for (int i = 0; i < nl; i++)
		close(lfds[i]);
	source_summary(1);	/* what was folded since the last one */
	store_stop(&recv_store);
	log_info("event=server.stop audit_groups=%lu audit_events=%lu "
	    "audit_segments=%lu dir_syncs=%llu dir_syncfs=%llu health_checks=%lu",
	    recv_store.aud.rounds, recv_store.aud.events,
	    recv_store.aud.seg.handoffs, (unsigned long long)recv_store.sync.rounds,
	    (unsigned long long)recv_store.sync.syncfs_rounds,
	    session_health_checks());
	/* Sessions in flight end here, at once and unanswered: their
	 * clients send those files again, and nothing is published before
	 * it is durable, so nothing half stored is visible. */
	_exit(EX_OK);
}
