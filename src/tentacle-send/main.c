/* SPDX-License-Identifier: ISC */
/*
 * tentacle-send: a Tentacle client that agents and scripts can use in
 * place of the stock tentacle_client, options and exit status included.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf.h"
#include "log.h"
#include "net.h"
#include "tentacle.h"
#include "tls.h"
#include "xalloc.h"

#include "send.h"

#define PROG		"tentacle-send"
#define SECTION		"tentacle-send"
#define DEF_ADDRESS	"127.0.0.1"
#define DEF_TIMEOUT	1
#define DEF_RETRIES	3
#define MAX_TIMEOUT	3600
#define MAX_RETRIES	100

enum {
	OPT_CONFIG = 256,
	OPT_PASSFILE,
	OPT_CRL,
	OPT_BIND
};

int	send_quiet;

static const struct option lopts[] = {
	{ "bind",		required_argument,	NULL, OPT_BIND },
	{ "config",		required_argument,	NULL, OPT_CONFIG },
	{ "crl-file",		required_argument,	NULL, OPT_CRL },
	{ "help",		no_argument,		NULL, 'h' },
	{ "password-file",	required_argument,	NULL, OPT_PASSFILE },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL,			0,			NULL, 0 }
};

static const char *const conf_keys[] = {
	"address", "port", "password_file", "ssl", "ssl_cert", "ssl_key",
	"ssl_ca", "crl_file", "timeout", "retries", NULL
};

/* Print the synopsis (and for -h the options) to fp and exit with ex. */
static void __attribute__((noreturn))
usage(FILE *fp, int ex)
{
	fprintf(fp,
	    "usage: %s [-cnqVvwz] [-a address] [-e cert] [-f ca] [-k key] "
	    "[-p port]\n"
	    "\t[-r retries] [-t seconds] [-x password] [-y proxy] "
	    "[--bind address]\n"
	    "\t[--config file] [--crl-file file] [--password-file file] "
	    "file ...\n"
	    "       %s -g [options] name ...\n", PROG, PROG);
	if (ex != EX_OK)
		exit(ex);
	fprintf(fp,
	    "  -a address  server address (default " DEF_ADDRESS ")\n"
	    "  -c          TLS without a client certificate\n"
	    "  -e cert     client certificate (PEM); enables TLS\n"
	    "  -f ca       verify the server against this CA and -a; "
	    "enables TLS\n"
	    "  -g          get the named files into the current directory\n"
	    "  -h          this help\n"
	    "  -k key      private key for -e (default: in the -e file)\n"
	    "  -n          check options, configuration and TLS files, "
	    "then exit\n"
	    "  -p port     server port (default " TENTACLE_PORT ")\n"
	    "  -q          quiet: no warnings or error messages\n"
	    "  -r retries  network retries (default %d)\n"
	    "  -t seconds  network timeout per try (default %d)\n"
	    "  -V          print the version\n"
	    "  -v          verbose: one line per event on stderr\n"
	    "  -w          ask for the key passphrase on the terminal\n"
	    "  -x password server password (visible to other users: "
	    "prefer --password-file)\n"
	    "  -y proxy    HTTP CONNECT proxy [user:pass@]host:port\n"
	    "  -z          compress (ZSEND, ZRECV)\n"
	    "  --bind address        connect from this local address\n"
	    "  --config file         read [" SECTION "] of this "
	    "octospool.conf\n"
	    "  --crl-file file       refuse a server certificate revoked "
	    "in these CRLs\n"
	    "  --password-file file  the server password is its first "
	    "line\n"
	    "  --help, --version\n",
	    DEF_RETRIES, DEF_TIMEOUT);
	exit(ex);
}

/* Complain about the command line and exit 64. */
static void __attribute__((noreturn, format(printf, 1, 2)))
badusage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", PROG);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr, EX_USAGE);
}

/* Overwrite a secret in argv so that ps and /proc no longer show it. */
static void
scrub(char *arg)
{
	explicit_bzero(arg, strlen(arg));
}

/* A number option in [min, max], or exit 64. */
static int
numopt(int ch, const char *arg, int min, int max)
{
	const char *es = NULL;
	int n = (int)strtonum(arg, min, max, &es);

	if (es != NULL)
		badusage("-%c %s: %s (want %d..%d)", ch, arg, es, min, max);
	return n;
}

/* Read the password from the first line of path; warn if others can read. */
static char *
read_password_file(const char *path)
{
	char buf[1024], vis[LOG_VISBUF], *pw;
	struct stat st;
	ssize_t r;
	size_t n = 0;
	int fd;

	log_vis(vis, sizeof(vis), path, strlen(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		fatal(EX_NOINPUT, "event=password.fail file=\"%s\"", vis);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		fatalx(EX_NOINPUT, "event=password.fail file=\"%s\" "
		    "reason=\"not a regular file\"", vis);
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		say_warnx("event=password.file file=\"%s\" mode=%04o "
		    "warning=\"the password file is open to group or others: "
		    "chmod 600 it\"", vis, (unsigned)(st.st_mode & 07777));
	/* No stdio: no copy of the password left in a freed buffer. */
	while (n < sizeof(buf) - 1 && memchr(buf, '\n', n) == NULL) {
		r = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			fatal(EX_NOINPUT, "event=password.fail file=\"%s\"",
			    vis);
		if (r == 0)
			break;
		n += r;
	}
	close(fd);
	buf[n] = '\0';
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	if (n == 0)
		fatalx(EX_CONFIG, "event=password.fail file=\"%s\" "
		    "reason=\"the first line is empty\"", vis);
	pw = xstrdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return pw;
}

/* A string option from the configuration, unless the command line set it. */
static void
conf_str(const struct conf *cf, const char *key, char **dst)
{
	const char *v;

	if (*dst == NULL && (v = conf_get(cf, SECTION, key)) != NULL &&
	    *v != '\0')
		*dst = xstrdup(v);
}

/* Fill what the command line left open from --config (command line wins). */
static void
load_config(const char *path, struct opts *o)
{
	char err[512];
	struct conf *cf;
	long long v;
	int b = 0, r;

	if ((cf = conf_load(path, err, sizeof(err))) == NULL)
		fatalx(EX_CONFIG, "event=config.fail error=\"%s\"", err);
	if (conf_check(cf, SECTION, conf_keys, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.fail error=\"%s\"", err);
	conf_str(cf, "address", &o->address);
	conf_str(cf, "port", &o->port);
	if (o->password == NULL)
		conf_str(cf, "password_file", &o->password_file);
	conf_str(cf, "ssl_cert", &o->cert);
	conf_str(cf, "ssl_key", &o->key);
	conf_str(cf, "ssl_ca", &o->ca);
	conf_str(cf, "crl_file", &o->crl);
	if (conf_bool(cf, SECTION, "ssl", &b, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.fail error=\"%s\"", err);
	else if (b)
		o->tls = 1;
	if ((r = conf_num(cf, SECTION, "timeout", 1, MAX_TIMEOUT, &v, err,
	    sizeof(err))) == -1)
		fatalx(EX_CONFIG, "event=config.fail error=\"%s\"", err);
	if (r == 1 && o->timeout < 0)
		o->timeout = (int)v;
	if ((r = conf_num(cf, SECTION, "retries", 0, MAX_RETRIES, &v, err,
	    sizeof(err))) == -1)
		fatalx(EX_CONFIG, "event=config.fail error=\"%s\"", err);
	if (r == 1 && o->retries < 0)
		o->retries = (int)v;
	if (o->port != NULL && strtonum(o->port, 1, 65535, NULL) == 0)
		fatalx(EX_CONFIG, "event=config.fail error=\"%s: port %s: "
		    "want 1..65535\"", path, o->port);
	conf_free(cf);
}

/* A local TLS file that must be readable before anything else happens. */
static void
need_file(const char *what, const char *path)
{
	char vis[LOG_VISBUF];

	if (path != NULL && access(path, R_OK) == -1) {
		log_vis(vis, sizeof(vis), path, strlen(path));
		fatal(EX_NOINPUT, "event=tls.fail %s=\"%s\"", what, vis);
	}
}

/*
 * Check every operand before connecting: a file to send must be a
 * readable regular file whose name cannot break the command line; a
 * name to get must stay inside the current directory.
 */
static int
check_operands(const struct opts *o, int argc, char **argv)
{
	char vis[LOG_VISBUF];
	int bad = 0;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *name, *why;
		struct stat st;
		int fd;

		log_vis(vis, sizeof(vis), a, strlen(a));
		if (o->get) {
			if (strchr(a, '/') != NULL)
				why = "a name with '/': files are only "
				    "written to the current directory";
			else
				why = tentacle_name_check(a, strlen(a),
				    NAME_MAX);
			if (why != NULL) {
				say_warnx("event=recv.refused name=\"%s\" "
				    "reason=\"%s\"", vis, why);
				bad = 1;
			}
			continue;
		}
		if ((fd = open(a, O_RDONLY | O_CLOEXEC | O_NOCTTY |
		    O_NONBLOCK)) == -1) {
			say_warn("event=file.missing path=\"%s\"", vis);
			bad = 1;
			continue;
		}
		if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
			say_warnx("event=file.missing path=\"%s\" "
			    "reason=\"not a regular file\"", vis);
			bad = 1;
			close(fd);
			continue;
		}
		close(fd);
		name = xfer_basename(a);
		why = NULL;
		if (*name == '\0')
			why = "empty file name";
		else if (strlen(name) > TENTACLE_LINE_MAX - 32)
			why = "name too long";
		else
			for (const char *p = name; *p != '\0'; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					why = "control character in the name";
		if (why != NULL) {
			say_warnx("event=file.refused path=\"%s\" "
			    "reason=\"%s\"", vis, why);
			bad = 1;
		}
	}
	if (o->get && !bad && access(".", W_OK | X_OK) == -1) {
		say_warn("event=recv.fail reason=\"the current directory is "
		    "not writable\"");
		bad = 1;
	}
	return bad ? -1 : 0;
}

/* "host:port", with brackets around an IPv6 address. */
static void
server_label(const struct opts *o, char *buf, size_t len)
{
	char vis[LOG_VISBUF];
	int v6 = strchr(o->address, ':') != NULL;

	log_vis(vis, sizeof(vis), o->address, strlen(o->address));
	snprintf(buf, len, "%s%s%s:%s", v6 ? "[" : "", vis, v6 ? "]" : "",
	    o->port);
}

/* Connect (through -y if given) and start TLS; exit 1 if that fails. */
static void
session_open(struct session *s, SSL_CTX *ctx)
{
	const struct opts *o = s->o;
	char err[512], e[256];
	int fd, one = 1;

	if (o->proxy != NULL) {
		if (proxy_connect(o->proxy, o->address, o->port, o->bind,
		    o->idle_ms, &s->c, err, sizeof(err)) == -1) {
			say_warnx("event=conn.fail server=%s error=\"%s\"",
			    s->server, err);
			exit(EX_FAIL);
		}
		fd = s->c.fd;
	} else {
		fd = net_connect_from(o->address, o->port, o->bind,
		    o->idle_ms, err, sizeof(err));
		if (fd == -1) {
			say_warnx("event=conn.fail server=%s error=\"%s\"",
			    s->server, err);
			exit(EX_FAIL);
		}
		conn_init(&s->c, fd, o->idle_ms);
	}
	/*
	 * Every write is a whole line or a big block: send it now.  ACK at
	 * once, too, so that a server with Nagle on (tentacle_server writes
	 * RECV data in 1 KiB blocks) never waits ~40 ms for our delayed ACK.
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->c.quickack = 1;
	if (o->verbose)
		log_info("event=conn.open server=%s tls=%s verify=%s crl=%s%s",
		    s->server, ctx != NULL ? "yes" : "no",
		    o->ca != NULL ? "yes" : "no", o->crl != NULL ? "yes" : "no",
		    o->proxy != NULL ? " proxy=yes" : "");
	if (ctx == NULL)
		return;
	if (conn_tls_connect(&s->c, ctx, o->address, o->ca != NULL) == -1) {
		int saved = errno;
		long vr = s->c.ssl != NULL ? SSL_get_verify_result(s->c.ssl) :
		    X509_V_OK;

		if (ERR_peek_error() != 0)
			tls_error(e, sizeof(e));
		else
			strlcpy(e, strerror(saved), sizeof(e));
		if (vr != X509_V_OK)
			say_warnx("event=tls.fail server=%s error=\"%s\" "
			    "verify=\"%s\"", s->server, e,
			    X509_verify_cert_error_string(vr));
		else
			say_warnx("event=tls.fail server=%s error=\"%s\"",
			    s->server, e);
		conn_close(&s->c);
		exit(EX_FAIL);
	}
	if (o->verbose) {
		char subj[256], fp[EVP_MAX_MD_SIZE * 2 + 1], vis[LOG_VISBUF];

		tls_peer_identity(s->c.ssl, subj, sizeof(subj), fp, sizeof(fp));
		log_info("event=tls.ok server=%s version=%s cipher=%s "
		    "peer=\"%s\" sha256=%s", s->server,
		    SSL_get_version(s->c.ssl), SSL_get_cipher_name(s->c.ssl),
		    log_vis(vis, sizeof(vis), subj, strlen(subj)), fp);
	}
}

static SSL_CTX *send_ctx;

/* At exit, on every path: the TLS context goes too (leak checkers). */
static void
ctx_free_atexit(void)
{
	SSL_CTX_free(send_ctx);
	send_ctx = NULL;
}

/* Release the option strings (the password is already wiped). */
static void
opts_free(struct opts *o)
{
	free(o->address);
	free(o->port);
	free(o->proxy);
	free(o->password);
	free(o->password_file);
	free(o->cert);
	free(o->key);
	free(o->ca);
	free(o->crl);
	free(o->bind);
}

/* Leave after a failure; QUIT first if the server still listens. */
static void __attribute__((noreturn))
session_fail(struct session *s, int rc)
{
	if (rc == XFER_REFUSED)
		xfer_quit(s);
	conn_close(&s->c);
	exit(EX_FAIL);
}

/* Parse, check everything local, then run one session over all operands. */
int
main(int argc, char *argv[])
{
	struct opts o;
	struct session s;
	SSL_CTX *ctx = NULL;
	const char *config = NULL;
	char token[TENTACLE_TOKEN_LEN + 1];
	int ch, check = 0, crl_cli = 0, rc;

	memset(&o, 0, sizeof(o));
	o.timeout = o.retries = -1;
	log_init(PROG, LOG_USER, 1);
	while ((ch = getopt_long(argc, argv, "+a:ce:f:ghk:np:qr:t:Vvwx:y:z",
	    lopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			free(o.address);
			o.address = xstrdup(optarg);
			break;
		case 'c':
			o.tls = 1;
			break;
		case 'e':
			free(o.cert);
			o.cert = xstrdup(optarg);
			break;
		case 'f':
			free(o.ca);
			o.ca = xstrdup(optarg);
			break;
		case 'g':
			o.get = 1;
			break;
		case 'h':
			usage(stdout, EX_OK);
		case 'k':
			free(o.key);
			o.key = xstrdup(optarg);
			break;
		case 'n':
			check = 1;
			break;
		case 'p':
			(void)numopt(ch, optarg, 1, 65535);
			free(o.port);
			o.port = xstrdup(optarg);
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'r':
			o.retries = numopt(ch, optarg, 0, MAX_RETRIES);
			break;
		case 't':
			o.timeout = numopt(ch, optarg, 1, MAX_TIMEOUT);
			break;
		case 'V':
			printf("%s %s\n", PROG, VERSION);
			exit(EX_OK);
		case 'v':
			o.verbose = 1;
			break;
		case 'w':
			o.askpass = 1;
			break;
		case 'x':
			if (o.password != NULL) {
				explicit_bzero(o.password, strlen(o.password));
				free(o.password);
			}
			o.password = xstrdup(optarg);
			scrub(optarg);
			break;
		case 'y':
			free(o.proxy);
			o.proxy = xstrdup(optarg);
			if (strchr(optarg, '@') != NULL)
				scrub(optarg);
			break;
		case 'z':
			o.zip = 1;
			break;
		case OPT_CONFIG:
			config = optarg;
			break;
		case OPT_PASSFILE:
			free(o.password_file);
			o.password_file = xstrdup(optarg);
			break;
		case OPT_CRL:
			free(o.crl);
			o.crl = xstrdup(optarg);
			crl_cli = 1;
			break;
		case OPT_BIND:
			free(o.bind);
			o.bind = xstrdup(optarg);
			break;
		default:
			usage(stderr, EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	send_quiet = o.quiet;
	log_setquiet(!o.verbose);

	if (argc == 0 && !check)
		badusage("no %s given", o.get ? "names" : "files");
	if (o.password != NULL && o.password_file != NULL)
		badusage("-x and --password-file are mutually exclusive");
	if (config != NULL)
		load_config(config, &o);
	if (o.address == NULL)
		o.address = xstrdup(DEF_ADDRESS);
	if (o.port == NULL)
		o.port = xstrdup(TENTACLE_PORT);
	if (o.timeout < 0)
		o.timeout = DEF_TIMEOUT;
	if (o.retries < 0)
		o.retries = DEF_RETRIES;
	o.idle_ms = o.timeout * (o.retries + 1) * 1000;
	if (o.key != NULL && o.cert == NULL)
		badusage("-k needs -e");
	if (o.askpass && o.cert == NULL)
		badusage("-w needs -e");
	if (o.crl != NULL && o.ca == NULL) {
		if (crl_cli)
			badusage("--crl-file needs -f (the CA that signs the "
			    "CRLs)");
		fatalx(EX_CONFIG, "event=config.fail error=\"crl_file needs "
		    "ssl_ca (the CA that signs the CRLs)\"");
	}
	if (o.cert != NULL || o.ca != NULL)
		o.tls = 1;
	if (o.proxy != NULL) {
		char h[NI_MAXHOST], p[16], a[512];

		if (proxy_parse(o.proxy, h, sizeof(h), p, sizeof(p), a,
		    sizeof(a)) == -1)
			badusage("-y: want [user:pass@]host:port");
		if (a[0] != '\0')
			say_warnx("event=proxy.password warning=\"a proxy "
			    "password on the command line is visible to other "
			    "users\"");
		explicit_bzero(a, sizeof(a));
	}
	if (o.password != NULL)
		say_warnx("event=password.cmdline warning=\"a password given "
		    "with -x is visible to other users (ps, /proc): use "
		    "--password-file\"");
	else if (o.password_file != NULL)
		o.password = read_password_file(o.password_file);

	memset(&s, 0, sizeof(s));
	s.o = &o;
	s.dirfd = -1;
	server_label(&o, s.server, sizeof(s.server));

	/* Local problems first: before a passphrase prompt or a connection. */
	if (check_operands(&o, argc, argv) == -1) {
		say_warnx("event=session.abort server=%s reason=\"local "
		    "problems above: nothing was %s\"", s.server,
		    o.get ? "fetched" : "sent");
		exit(EX_FAIL);
	}
	if (o.tls) {
		char err[512];

		need_file("cert", o.cert);
		need_file("key", o.key);
		need_file("ca", o.ca);
		if (o.askpass && tlsc_askpass() == -1)
			fatal(EX_CONFIG, "event=tls.fail reason=\"cannot read "
			    "the passphrase from the terminal\"");
		ctx = tlsc_ctx(&o, err, sizeof(err));
		send_ctx = ctx;
		atexit(ctx_free_atexit);
		tlsc_forget();
		if (ctx == NULL)
			fatalx(EX_CONFIG, "event=tls.fail error=\"%s\"", err);
		if (o.ca == NULL)
			say_warnx("event=tls.unverified server=%s "
			    "warning=\"the server is not authenticated (no "
			    "-f): anyone on the path can pose as it\"",
			    s.server);
	}
	if (check) {
		if (o.verbose)
			log_info("event=config.ok server=%s tls=%s", s.server,
			    o.tls ? "yes" : "no");
		exit(EX_OK);
	}
	if (o.get && (s.dirfd = open(".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		fatal(EX_FAIL, "event=recv.fail reason=\"cannot open the "
		    "current directory\"");
	xfer_signals();

	session_open(&s, ctx);
	if (o.password != NULL) {
		if (tentacle_token(o.password, token) == -1)
			fatalx(EX_SOFTWARE, "event=auth.fail reason=\"MD5 "
			    "unavailable\"");
		explicit_bzero(o.password, strlen(o.password));
		rc = xfer_pass(&s, token);
		explicit_bzero(token, sizeof(token));
		if (rc != XFER_OK)
			session_fail(&s, rc);
	}
	for (int i = 0; i < argc; i++) {
		rc = o.get ? xfer_recv(&s, argv[i]) : xfer_send(&s, argv[i]);
		if (rc != XFER_OK)
			session_fail(&s, rc);
	}
	xfer_quit(&s);
	conn_close(&s.c);
	if (o.verbose)
		log_info("event=session.done server=%s files=%u", s.server,
		    s.nfiles);
	opts_free(&o);
	return EX_OK;
}
