/* SPDX-License-Identifier: ISC */
/*
 * tentacle-recv sessions: one thread per connection, strict lock-step
 * Tentacle (spec §2), every reply its own write, deadlines everywhere.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "net.h"
#include "tentacle.h"
#include "tls.h"
#include "xalloc.h"
#include "zip.h"

#include "recv.h"

static unsigned long health_checks;	/* atomic */

/* The largest collection access list read (conf-dist writes 33 bytes
 * per agent). */
#define RECV_ACL_MAX	(1024 * 1024)

struct session {
	struct conn	 c;
	struct peer	 p;
	int64_t		 session_end;
	char		 line[TENTACLE_LINE_MAX + 1];
	size_t		 linelen;
	char		 vis[LOG_VISBUF];
	char		 bound[33];	/* Client-Bound of the current upload */
};

static int
reply(struct session *s, const char *text)
{
	/* Each reply is its own write; nothing ever follows in it. */
	return conn_write(&s->c, text, strlen(text));
}

/* The line phase: a whole command line within the idle time. */
static void
arm_line(struct session *s)
{
	int64_t d = net_now_ms() + recv_cf.idle_ms;

	s->c.deadline_ms = d < s->session_end ? d : s->session_end;
}

/* The data phase: idle time plus size at the minimum rate. */
static void
arm_data(struct session *s, long long size)
{
	int64_t d = net_now_ms() + recv_cf.idle_ms;

	if (recv_cf.min_rate > 0)
		d += size * 1000 / recv_cf.min_rate;
	else
		d = 0;
	s->c.deadline_ms = d;
}

static const char *
vis(struct session *s, const char *p, size_t len)
{
	return log_vis(s->vis, sizeof(s->vis), p, len);
}

/* Parse "VERB <name> SIZE n": 1 ok, 0 not this form; size -1 if huge. */
static int
parse_send(char *line, size_t len, const char *verb, char **name,
    size_t *namelen, long long *size)
{
	size_t vl = strlen(verb), i, ds;
	const char *mark = "> SIZE ";
	char *last = NULL;
	long long n = 0;

	if (len < vl + 2 || memcmp(line, verb, vl) != 0 || line[vl] != ' ' ||
	    line[vl + 1] != '<')
		return 0;
	/* Greedy as the Perl regex: the last "> SIZE " followed by digits. */
	for (i = vl + 2; i + 7 <= len; i++)
		if (memcmp(line + i, mark, 7) == 0)
			last = line + i;
	if (last == NULL)
		return 0;
	ds = last + 7 - line;
	if (ds >= len)
		return 0;
	for (i = ds; i < len; i++) {
		if (line[i] < '0' || line[i] > '9')
			return 0;
		if (n >= 0 && n <= (1LL << 50))
			n = n * 10 + (line[i] - '0');
		else
			n = -1;
	}
	*name = line + vl + 2;
	*namelen = last - *name;
	*size = n > (1LL << 50) ? -1 : n;
	return 1;
}

/* Parse "VERB <name>": 1 ok, 0 not this form. */
static int
parse_get(char *line, size_t len, const char *verb, char **name,
    size_t *namelen)
{
	size_t vl = strlen(verb);

	if (len < vl + 3 || memcmp(line, verb, vl) != 0 || line[vl] != ' ' ||
	    line[vl + 1] != '<' || line[len - 1] != '>')
		return 0;
	*name = line + vl + 2;
	*namelen = len - vl - 3;
	return 1;
}

/* Name checks shared by every verb; NULL if the name may be used. */
static const char *
name_ok(const char *name, size_t len)
{
	const char *why;

	if (memchr(name, '\0', len) != NULL)
		return "NUL in name";
	if ((why = tentacle_name_check(name, len, recv_cf.name_max)) != NULL)
		return why;
	for (size_t i = 0; i < len; i++)
		if (strchr(recv_cf.bad_chars, name[i]) != NULL &&
		    name[i] != '\0')
			return "forbidden character in name";
	return NULL;
}

static void
log_refused(struct session *s, const char *verb, const char *name,
    size_t len, const char *why)
{
	log_info("event=file.refused verb=%s name=\"%s\" reason=\"%s\" "
	    "peer=%s port=%d", verb, vis(s, name, len), why, s->p.addr,
	    s->p.port);
	store_audit(&recv_store, &s->p, "file.received", "refused", name, len,
	    why, NULL, -1, NULL);
}

/* Did the client present a certificate (the agent-identifying mode)? */
static int
has_cert(struct session *s)
{
	return s->c.ssl != NULL && s->p.fp[0] != '\0';
}

/*
 * Are client certificates asked for?  Then every agent has one, and a
 * client without one gets no agent's files and uploads for no agent.
 */
static int
certs_configured(void)
{
	return recv_cf.tls_on && recv_cf.tls.client_mode != TLS_CLIENT_NONE;
}

/*
 * md5hex (lowercase) of every name the verified peer certificate vouches
 * for (commonName, DNS subjectAltName): how many, 0 if none or not
 * verified.
 */
static int
cert_keys(struct session *s, char keys[][33], int max)
{
	char names[TLS_NAMES_MAX][TLS_NAME_LEN];
	unsigned char md[16];
	size_t mdlen;
	int n, k = 0;

	if (SSL_get_verify_result(s->c.ssl) != X509_V_OK)
		return 0;
	n = tls_peer_names(s->c.ssl, names, TLS_NAMES_MAX);
	for (int i = 0; i < n && k < max; i++) {
		if (EVP_Q_digest(NULL, "MD5", NULL, names[i], strlen(names[i]),
		    md, &mdlen) != 1 || mdlen != sizeof(md))
			return 0;
		for (size_t b = 0; b < sizeof(md); b++)
			snprintf(keys[k] + 2 * b, 3, "%02x", md[b]);
		k++;
	}
	return k;
}

/* Is the 32-digit key at the start of name one of keys? */
static int
key_listed(const char *name, char keys[][33], int nkeys)
{
	for (int i = 0; i < nkeys; i++)
		if (memcmp(keys[i], name, 32) == 0)
			return 1;
	return 0;
}

/* Does name start with an agent key, "<32 hex digits>."? */
static int
agent_keyed(const char *name, size_t namelen)
{
	return namelen >= 33 && name[32] == '.' &&
	    strspn(name, "0123456789abcdefABCDEF") >= 32;
}

/*
 * Agent uploads (octospool layout) are bound to the certificate that
 * sends them: "<md5hex(agent_name)>.conf" or ".md5", lowercase, is
 * accepted from a certificate one of whose names (commonName, DNS
 * subjectAltName) hashes to that key, and *bound gets the key for the
 * envelope's Client-Bound; without client certificates configured it is
 * accepted unverified (*bound NULL).  NULL, or why it is refused.
 */
static const char *
upload_bound(struct session *s, const char *name, size_t namelen,
    const char **bound)
{
	char keys[TLS_NAMES_MAX][33];

	*bound = NULL;
	if ((namelen != 37 || strcmp(name + 32, ".conf") != 0) &&
	    (namelen != 36 || strcmp(name + 32, ".md5") != 0))
		return "upload name is not <md5(agent_name)>.conf or .md5";
	if (strspn(name, "0123456789abcdef") != 32)
		return "upload name is not <md5(agent_name)>.conf or .md5";
	if (has_cert(s)) {
		if (!key_listed(name, keys, cert_keys(s, keys, TLS_NAMES_MAX)))
			return "certificate not bound to this agent";
		memcpy(s->bound, name, 32);
		s->bound[32] = '\0';
		*bound = s->bound;
		return NULL;
	}
	return certs_configured() ? "no client certificate" : NULL;
}

/* The filter directory name behind a RECV dirfd ("collections", ...). */
static const char *
filter_dir(int dirfd)
{
	for (int i = 0; i < recv_cf.nfilters; i++)
		if (recv_cf.filter[i].dirfd == dirfd)
			return recv_cf.filter[i].dir;
	return "";
}

/* The served directory of the filter named dir, or -1. */
static int
served_dirfd(const char *dir)
{
	for (int i = 0; i < recv_cf.nfilters; i++)
		if (recv_cf.filter[i].dirfd >= 0 &&
		    strcmp(recv_cf.filter[i].dir, dir) == 0)
			return recv_cf.filter[i].dirfd;
	return -1;
}

static int
has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t l = strlen(suffix);

	return len >= l && memcmp(s + len - l, suffix, l) == 0;
}

/* Does dir/<base>.acl (written by conf-dist) list one of keys? */
static int
acl_lists(const char *dir, const char *base, char keys[][33], int nkeys)
{
	char fname[TENTACLE_LINE_MAX + 8], *buf, *p, *e;
	struct stat sb;
	size_t got = 0;
	int cfd, fd, ok = 0;

	if (nkeys <= 0 || (cfd = served_dirfd(dir)) == -1 ||
	    (size_t)snprintf(fname, sizeof(fname), "%s.acl", base) >=
	    sizeof(fname))
		return 0;
	if ((fd = openat(cfd, fname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY)) == -1)
		return 0;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > RECV_ACL_MAX) {
		close(fd);
		return 0;
	}
	buf = xmalloc(sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, buf + got, sb.st_size - got);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	/* One md5hex(agent_name) per line; anything else matches nothing. */
	for (p = buf, e = buf + got; p < e && !ok; ) {
		char *nl = memchr(p, '\n', e - p);
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(e - p);

		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		for (int i = 0; i < nkeys && !ok; i++)
			ok = ll == 32 && memcmp(p, keys[i], 32) == 0;
		p = nl ? nl + 1 : e;
	}
	free(buf);
	return ok;
}

/*
 * Does dir/NAME.acl list one of keys, where name is NAME followed by one
 * of the suffixes sfx (the first that fits)?
 */
static int
acl_grants(const char *dir, const char *name, size_t namelen,
    const char *const *sfx, char keys[][33], int nkeys)
{
	char base[TENTACLE_LINE_MAX + 1];

	for (; *sfx != NULL; sfx++) {
		size_t l = strlen(*sfx);

		if (namelen <= l || !has_suffix(name, namelen, *sfx))
			continue;
		memcpy(base, name, namelen - l);
		base[namelen - l] = '\0';
		return acl_lists(dir, base, keys, nkeys);
	}
	return 0;
}

/*
 * Served names that belong to some agents only.  A name that starts
 * with an agent key, "<md5hex(agent_name)>." (<key>.conf, .md5,
 * .conf.sig, ...), belongs to that agent.  collections/NAME.zip (.sig,
 * .md5) and commands/NAME.rcmd (.sig) belong to the agents whose
 * published configuration uses them ("file_collection NAME", "cmd_file
 * NAME"): conf-dist lists md5hex of their names in collections/NAME.acl
 * and commands/NAME.acl; md5/NAME.md5 (.sig) is the collection's or the
 * command's.  A client with a certificate gets such a name only if md5
 * of one of the certificate's names (commonName, DNS subjectAltName) is
 * the key or is listed; a client without one gets none of them when
 * client certificates are configured, and all of them otherwise (the
 * stock, weaker mode).  NULL: may be served; else why not.
 */
static const char *
recv_denied(struct session *s, const char *name, size_t namelen,
    const char *dir)
{
	static const char *const coll_sfx[] = { ".zip", ".md5", ".zip.sig",
	    ".md5.sig", NULL };
	static const char *const cmd_sfx[] = { ".rcmd", ".rcmd.sig", NULL };
	static const char *const md5_sfx[] = { ".md5", ".md5.sig", NULL };
	char keys[TLS_NAMES_MAX][33];
	int in_coll = strcmp(dir, "collections") == 0;
	int in_cmd = strcmp(dir, "commands") == 0;
	int in_md5 = strcmp(dir, "md5") == 0;
	int keyed = !in_coll && !in_cmd && agent_keyed(name, namelen);
	int nkeys;

	if (!keyed && !in_coll && !in_cmd && !in_md5)
		return NULL;
	if (!has_cert(s))
		return certs_configured() ? "no client certificate" : NULL;
	nkeys = cert_keys(s, keys, TLS_NAMES_MAX);
	if ((keyed && key_listed(name, keys, nkeys)) ||
	    (in_coll && acl_grants("collections", name, namelen, coll_sfx,
	    keys, nkeys)) ||
	    (in_cmd && acl_grants("commands", name, namelen, cmd_sfx, keys,
	    nkeys)) ||
	    (in_md5 && (acl_grants("collections", name, namelen, md5_sfx,
	    keys, nkeys) || acl_grants("commands", name, namelen, md5_sfx,
	    keys, nkeys))))
		return NULL;
	return keyed ? "certificate not bound to this agent" :
	    in_coll ? "collection not configured for this certificate's agent" :
	    in_cmd ? "command not configured for this certificate's agent" :
	    "collection or command not configured for this certificate's "
	    "agent";
}

/* SEND and ZSEND.  Returns 0 to continue the session, -1 to close it. */
static int
do_send(struct session *s, char *name, size_t namelen, long long size,
    int zip)
{
	const char *v = zip ? "ZSEND" : "SEND", *why;
	char rbuf[64], id[SPOOL_NAME_MAX], sha[65] = "";
	struct route r;
	size_t outlen = 0;
	int rc;

	name[namelen] = '\0';	/* the '>' of the line: safe to cut */
	if ((why = name_ok(name, namelen)) != NULL ||
	    store_route_send(&recv_store, name, &r) == -1 ||
	    (r.queue == &recv_store.upload_q &&
	    (why = upload_bound(s, name, namelen, &r.bound)) != NULL)) {
		if (why == NULL)
			why = "name matches no accepted pattern";
		log_refused(s, v, name, namelen, why);
		snprintf(rbuf, sizeof(rbuf), "%s ERR (invalid file name)\n", v);
		return reply(s, rbuf);
	}
	if (size < 1 || size > recv_cf.max_size) {
		log_refused(s, v, name, namelen, size < 1 ? "empty file" :
		    "file too big");
		snprintf(rbuf, sizeof(rbuf), "%s ERR (file is too big)\n", v);
		return reply(s, rbuf);
	}
	if (store_exists(&recv_store, &r, name)) {
		log_refused(s, v, name, namelen, "file already exists");
		snprintf(rbuf, sizeof(rbuf), "%s ERR (file already exists)\n",
		    v);
		return reply(s, rbuf);
	}
	snprintf(rbuf, sizeof(rbuf), "%s OK\n", v);
	if (reply(s, rbuf) == -1)
		return -1;
	arm_data(s, size);
	rc = store_receive(&recv_store, &s->c, &s->p, &r, name, size, zip,
	    &why, id, sizeof(id), sha, &outlen);
	arm_line(s);
	switch (rc) {
	case STORE_OK:
		log_info("event=file.stored id=%s name=\"%s\" dest=%s size=%zu "
		    "sha256=%s peer=%s port=%d tls=%s subject=\"%s\" "
		    "cert_sha256=%s auth=%s%s%s", id, vis(s, name, namelen),
		    r.what, outlen, sha, s->p.addr, s->p.port,
		    s->p.tls[0] ? s->p.tls : "none", s->p.subject,
		    s->p.fp[0] ? s->p.fp : "-",
		    s->p.authed ? "password" : "none",
		    r.bound ? " bound=" : "", r.bound ? r.bound : "");
		return reply(s, rbuf);
	case STORE_EXISTS:
		/* Lost the no-overwrite race after the audit event: say so. */
		log_refused(s, v, name, namelen,
		    "file already exists (lost a concurrent upload; the "
		    "'stored' event for this item is void)");
		snprintf(rbuf, sizeof(rbuf), "%s ERR (file already exists)\n",
		    v);
		return reply(s, rbuf);
	case STORE_ZIPERR:
		log_refused(s, v, name, namelen, why);
		snprintf(rbuf, sizeof(rbuf), "%s ERR\n", v);
		return reply(s, rbuf);
	default:
		log_warnx("event=file.failed name=\"%s\" reason=\"%s\" "
		    "peer=%s port=%d errno=\"%s\"", vis(s, name, namelen), why,
		    s->p.addr, s->p.port, strerror(errno));
		store_audit(&recv_store, &s->p, "file.received", "failed",
		    name, namelen, why, NULL, size, NULL);
		return -1;
	}
}

/* Wait for "<VERB> OK"; anything else is used up and logged. */
static int
await_ok(struct session *s, const char *verb, int *ok)
{
	char want[16];
	int r;

	snprintf(want, sizeof(want), "%s OK", verb);
	arm_line(s);
	r = conn_readline(&s->c, s->line, TENTACLE_LINE_MAX, &s->linelen);
	if (r != 1)
		return -1;
	*ok = s->linelen == strlen(want) && memcmp(s->line, want,
	    s->linelen) == 0;
	return 0;
}

/* Send len bytes of fd to the client. */
static int
send_fd(struct session *s, int fd, off_t len)
{
	unsigned char *buf = xmalloc(RECV_IO_BLOCK);
	off_t off = 0;

	arm_data(s, len);
	while (off < len) {
		ssize_t n = pread(fd, buf, RECV_IO_BLOCK, off);

		if (n <= 0 || conn_write(&s->c, buf, n) == -1) {
			free(buf);
			return -1;
		}
		off += n;
	}
	free(buf);
	arm_line(s);
	return 0;
}

/* RECV and ZRECV: read-only, from the served directories only. */
static int
do_recv(struct session *s, char *name, size_t namelen, int zip)
{
	const char *v = zip ? "ZRECV" : "RECV", *why, *dir;
	char rbuf[96], zerr[128], nm[TENTACLE_LINE_MAX + 1];
	struct stat sb;
	off_t zlen = 0;
	int dirfd, fd = -1, zfd = -1, ok = 0, rc = 0, unbound = 0;

	name[namelen] = '\0';
	if (namelen > 0 && (why = name_ok(name, namelen)) != NULL) {
		log_info("event=recv.refused name=\"%s\" reason=\"%s\" "
		    "peer=%s port=%d", vis(s, name, namelen), why, s->p.addr,
		    s->p.port);
		snprintf(rbuf, sizeof(rbuf),
		    "%s ERR (file has an invalid file name)\n", v);
		return reply(s, rbuf);
	}
	/* The name lives in the line buffer that the next read reuses. */
	memcpy(nm, name, namelen + 1);
	name = nm;
	dirfd = namelen ? store_route_recv(&recv_store, name) : -1;
	dir = dirfd >= 0 ? filter_dir(dirfd) : "";
	if (dirfd >= 0 && (strcmp(dir, "collections") == 0 ||
	    strcmp(dir, "commands") == 0) && has_suffix(name, namelen, ".acl"))
		dirfd = -1;	/* conf-dist's access lists: never served */
	why = dirfd >= 0 ? recv_denied(s, name, namelen, dir) : NULL;
	if (why != NULL) {
		/* Answered exactly as a missing file; logged as what it is. */
		log_info("event=recv.unbound name=\"%s\" peer=%s port=%d "
		    "subject=\"%s\" reason=\"%s\"", vis(s, name, namelen),
		    s->p.addr, s->p.port, s->p.subject, why);
		store_audit(&recv_store, &s->p, "file.served", "refused", name,
		    namelen, why, NULL, -1, NULL);
		dirfd = -1;
		unbound = 1;
	}
	if (dirfd >= 0)
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_CLOEXEC | O_NOCTTY);
	if (fd == -1 || fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		if (!unbound)
			log_info("event=recv.missing name=\"%s\" peer=%s "
			    "port=%d", vis(s, name, namelen), s->p.addr,
			    s->p.port);
		if (fd != -1)
			close(fd);
		snprintf(rbuf, sizeof(rbuf), "%s ERR (file does not exist)\n",
		    v);
		return reply(s, rbuf);
	}
	if (zip) {
		zfd = store_scratch(recv_cf.layout == LAYOUT_STOCK ?
		    recv_store.stock_dirfd : recv_store.data_q.tmpfd);
		if (zfd == -1 || zip_create_single(fd, sb.st_size, zfd, name,
		    &zlen, zerr, sizeof(zerr)) != ZIP_OK) {
			log_warnx("event=recv.fail name=\"%s\" reason=\"zip: "
			    "%s\"", vis(s, name, namelen), zfd == -1 ?
			    strerror(errno) : zerr);
			rc = -1;
			goto out;
		}
	}
	snprintf(rbuf, sizeof(rbuf), "%s SIZE %lld\n", v,
	    (long long)(zip ? zlen : sb.st_size));
	if (reply(s, rbuf) == -1 || await_ok(s, v, &ok) == -1) {
		rc = -1;
		goto out;
	}
	if (!ok) {
		log_info("event=recv.notsent name=\"%s\" reason=\"no %s OK\" "
		    "peer=%s port=%d", vis(s, name, namelen), v, s->p.addr,
		    s->p.port);
		goto out;
	}
	if (send_fd(s, zip ? zfd : fd, zip ? zlen : sb.st_size) == -1) {
		rc = -1;
		goto out;
	}
	store_audit(&recv_store, &s->p, "file.served", "sent", name, namelen,
	    NULL, NULL, (long long)sb.st_size, NULL);
	log_info("event=file.served name=\"%s\" size=%lld zip=%d peer=%s "
	    "port=%d tls=%s subject=\"%s\"", vis(s, name, namelen),
	    (long long)sb.st_size, zip, s->p.addr, s->p.port,
	    s->p.tls[0] ? s->p.tls : "none", s->p.subject);
out:
	if (fd != -1)
		close(fd);
	if (zfd != -1)
		close(zfd);
	return rc;
}

/*
 * A pre-authentication refusal of kind k: counted, and logged (event)
 * and audited (action) unless folded into the next summary.
 */
static void
refuse_recorded(struct session *s, enum fail_kind k, const char *event,
    const char *action, const char *why)
{
	if (!source_failure(s->p.addr, k))
		return;
	log_warnx("event=%s peer=%s port=%d reason=\"%s\"", event, s->p.addr,
	    s->p.port, why);
	store_audit(&recv_store, &s->p, action, "refused", NULL, 0, why, NULL,
	    -1, NULL);
}

/*
 * PASS: the right token, or a delayed close with no reply.  Each
 * comparison is reserved first (source_auth_reserve), so that parallel
 * sessions from one address get no more guesses than auth_fail_limit.
 */
static int
do_auth(struct session *s)
{
	const char *why;
	int r, reserved = 0, ok = 0, blocked;

	arm_line(s);
	r = conn_readline(&s->c, s->line, TENTACLE_LINE_MAX, &s->linelen);
	if (r != 1) {
		if (source_failure(s->p.addr, FAIL_PASS))
			log_info("event=auth.fail peer=%s port=%d reason=\"%s\"",
			    s->p.addr, s->p.port, r == 0 ? "closed" :
			    "no PASS line");
		return -1;
	}
	if (s->linelen >= 5 && memcmp(s->line, "PASS ", 5) == 0) {
		if (!source_auth_reserve(s->p.addr, &why)) {
			/* Blocked meanwhile: closed without comparing. */
			refuse_recorded(s, FAIL_BLOCKED, "auth.refused",
			    "session.auth", why);
			return -1;
		}
		reserved = 1;
		ok = s->linelen == 5 + TENTACLE_TOKEN_LEN &&
		    CRYPTO_memcmp(s->line + 5, recv_cf.token,
		    TENTACLE_TOKEN_LEN) == 0;
		why = "wrong password";
	} else
		why = "first command is not PASS";
	/* The balancer itself (LOCAL) is never blocked: not a strike. */
	blocked = source_auth_done(s->p.addr, reserved, ok || s->p.balancer);
	if (ok) {
		s->p.authed = 1;
		log_debug("event=auth.ok peer=%s port=%d", s->p.addr,
		    s->p.port);
		return reply(s, "PASS OK\n");
	}
	if (source_failure(s->p.addr, FAIL_PASS)) {
		log_warnx("event=auth.fail peer=%s port=%d reason=\"%s\"",
		    s->p.addr, s->p.port, why);
		store_audit(&recv_store, &s->p, "session.auth", "refused", NULL,
		    0, "wrong or missing password", NULL, -1, NULL);
	}
	if (blocked)
		store_audit(&recv_store, &s->p, "source.blocked", "blocked",
		    NULL, 0, "too many wrong passwords", NULL, -1, NULL);
	/* Slow down guessing; the slot stays taken meanwhile. */
	usleep(recv_cf.auth_fail_delay_ms * 1000);
	return -1;
}

unsigned long
session_health_checks(void)
{
	return __atomic_load_n(&health_checks, __ATOMIC_RELAXED);
}

/* A balancer's health check: counted, logged at debug level only. */
static void
health_check(struct session *s, const char *how)
{
	__atomic_add_fetch(&health_checks, 1, __ATOMIC_RELAXED);
	log_debug("event=proxy.check peer=%s port=%d how=%s", s->p.addr,
	    s->p.port, how);
}

/*
 * A failed handshake: it counts toward the address's block if the client
 * sent anything (a bare connect and close, as from a health check, does
 * not), and is logged and audited on its own unless folded.
 */
static void
tls_failed(struct session *s, int timed_out)
{
	struct tls_verify_fail vf;
	char e[256], sv[LOG_VISBUF];
	const char *why;
	uint64_t got = s->c.ssl != NULL ?
	    BIO_number_read(SSL_get_rbio(s->c.ssl)) : 0;
	int have_vf = s->c.ssl != NULL && tls_verify_failure(s->c.ssl, &vf);
	enum fail_kind k = have_vf && vf.error == X509_V_ERR_CERT_REVOKED ?
	    FAIL_REVOKED : FAIL_TLS;
	int blocked;

	if (s->p.balancer && got == 0) {
		/* LOCAL header, then nothing: HAProxy's check. */
		health_check(s, "local");
		return;
	}
	blocked = got > 0 && !s->p.balancer && source_tls_failed(s->p.addr);
	if (timed_out)
		why = "handshake timeout";
	else if (have_vf)
		why = X509_verify_cert_error_string(vf.error);
	else
		why = tls_error(e, sizeof(e));
	ERR_clear_error();
	if (source_failure(s->p.addr, k)) {
		char reason[320];

		if (have_vf) {
			/* The certificate that failed, for the record. */
			strlcpy(s->p.subject, vf.subject, sizeof(s->p.subject));
			strlcpy(s->p.fp, vf.fp, sizeof(s->p.fp));
			log_info("event=tls.fail peer=%s port=%d reason=\"%s\" "
			    "subject=\"%s\" serial=%s depth=%d cert_sha256=%s",
			    s->p.addr, s->p.port, why, log_vis(sv, sizeof(sv),
			    vf.subject, strlen(vf.subject)), vf.serial[0] ?
			    vf.serial : "-", vf.depth, vf.fp[0] ? vf.fp : "-");
		} else
			log_info("event=tls.fail peer=%s port=%d reason=\"%s\"",
			    s->p.addr, s->p.port, why);
		snprintf(reason, sizeof(reason), "TLS handshake failed: %s",
		    why);
		store_audit(&recv_store, &s->p, "session.tls", "refused", NULL,
		    0, reason, NULL, -1, NULL);
	}
	if (blocked)
		store_audit(&recv_store, &s->p, "source.blocked", "blocked",
		    NULL, 0, "too many failed TLS handshakes", NULL, -1, NULL);
}

static void
session_loop(struct session *s)
{
	for (;;) {
		char *name;
		size_t nl;
		long long size;
		int r;

		arm_line(s);
		r = conn_readline(&s->c, s->line, TENTACLE_LINE_MAX,
		    &s->linelen);
		if (r == 0)
			return;
		if (r == -2) {
			log_info("event=session.close peer=%s port=%d "
			    "reason=\"line too long\"", s->p.addr, s->p.port);
			return;
		}
		if (r == -1) {
			log_info("event=session.close peer=%s port=%d "
			    "reason=\"%s\"", s->p.addr, s->p.port,
			    errno == ETIMEDOUT ? "timeout" : strerror(errno));
			return;
		}
		if (parse_send(s->line, s->linelen, "SEND", &name, &nl, &size))
			r = do_send(s, name, nl, size, 0);
		else if (parse_send(s->line, s->linelen, "ZSEND", &name, &nl,
		    &size))
			r = do_send(s, name, nl, size, 1);
		else if (parse_get(s->line, s->linelen, "RECV", &name, &nl))
			r = do_recv(s, name, nl, 0);
		else if (parse_get(s->line, s->linelen, "ZRECV", &name, &nl))
			r = do_recv(s, name, nl, 1);
		else if (s->linelen == 4 && memcmp(s->line, "QUIT", 4) == 0) {
			log_debug("event=session.quit peer=%s port=%d",
			    s->p.addr, s->p.port);
			return;
		} else {
			const char *what = (s->linelen >= 3 &&
			    (memcmp(s->line, "LS ", 3) == 0 ||
			    memcmp(s->line, "MV ", 3) == 0)) ?
			    "LS/MV are not supported" : "unknown command";

			log_info("event=session.close peer=%s port=%d "
			    "reason=\"%s\" line=\"%s\"", s->p.addr, s->p.port,
			    what, vis(s, s->line, s->linelen));
			return;
		}
		if (r == -1)
			return;
	}
}

/* Why a header read failed: the deadline, or the peer. */
static const char *
proxy_short(const char *eof)
{
	return errno == ETIMEDOUT ? "PROXY header timeout" :
	    errno == EPIPE ? eof : "PROXY header read error";
}

/*
 * Read the PROXY header of a balancer's connection exactly: never a byte
 * of what follows it (the TLS ClientHello).  v2 is read as its fixed 16
 * bytes then its stated length (at most PROXY_V2_MAX), v1 one byte at a
 * time up to its LF (at most PROXY_V1_MAX).  1 read into h, 0 closed
 * before any byte (a health check), -1 refused with *why.
 */
static int
proxy_read(struct session *s, struct proxy_hdr *h, const char **why)
{
	static const char v1_sig[] = "PROXY ";
	unsigned char fixed[PROXY_V2_FIXED], body[PROXY_V2_MAX];
	char line[PROXY_V1_MAX];
	size_t n = 0;
	ssize_t r;
	int len;

	arm_line(s);
	/* Closed or reset before a byte: a plain TCP health check. */
	if ((r = conn_read(&s->c, fixed, 1)) == 0 ||
	    (r < 0 && errno == ECONNRESET))
		return 0;
	if (r < 0) {
		*why = proxy_short("");
		return -1;
	}
	if (fixed[0] == 0x0d) {
		if (conn_readn(&s->c, fixed + 1, PROXY_V2_FIXED - 1) == -1) {
			*why = proxy_short("PROXY v2: truncated");
			return -1;
		}
		if ((len = proxy_v2_length(fixed, why)) == -1)
			return -1;
		if (len > 0 && conn_readn(&s->c, body, len) == -1) {
			*why = proxy_short("PROXY v2: truncated");
			return -1;
		}
		return proxy_v2_parse(fixed, body, len, h, why) == 0 ? 1 : -1;
	}
	line[n++] = (char)fixed[0];
	for (;;) {
		if (n <= 6 && line[n - 1] != v1_sig[n - 1]) {
			*why = "no PROXY header";
			return -1;
		}
		if (line[n - 1] == '\n' || n == sizeof(line))
			break;
		if ((r = conn_read(&s->c, line + n, 1)) <= 0) {
			if (r == 0)
				errno = EPIPE;
			*why = proxy_short("PROXY v1: truncated");
			return -1;
		}
		n++;
	}
	return proxy_v1_parse(line, n, h, why) == 0 ? 1 : -1;
}

/*
 * A balancer's connection: its header names the client, who is then
 * admitted (block, max_per_source) and known by that address; LOCAL
 * keeps the balancer's own.  0 go on (*slot: a per-source slot is
 * held), -1 close without a reply.
 */
static int
proxy_accept(struct session *s, int *slot)
{
	struct proxy_hdr h;
	const char *why = NULL;
	int r, record = 0;

	if ((r = proxy_read(s, &h, &why)) == 0) {
		health_check(s, "connect");
		return -1;
	}
	if (r == -1) {
		/* Counted and folded as other pre-authentication failures;
		 * never a strike: that would block the balancer. */
		refuse_recorded(s, FAIL_PROXY, "proxy.refused", "session.proxy",
		    why);
		return -1;
	}
	if (h.local) {
		s->p.balancer = 1;
		log_debug("event=proxy.local peer=%s port=%d version=%d",
		    s->p.addr, s->p.port, h.version);
		return 0;
	}
	strlcpy(s->p.via, s->p.addr, sizeof(s->p.via));
	strlcpy(s->p.addr, h.src, sizeof(s->p.addr));
	s->p.port = h.sport;
	if (!source_admit_carried(s->p.addr, &why, &record)) {
		if (record)
			log_info("event=conn.refused peer=%s port=%d via=%s "
			    "reason=\"%s\"", s->p.addr, s->p.port, s->p.via,
			    why);
		return -1;
	}
	*slot = 1;
	log_debug("event=proxy.ok peer=%s port=%d via=%s version=%d",
	    s->p.addr, s->p.port, s->p.via, h.version);
	return 0;
}

/* Thread body: TLS, PASS, then commands until QUIT, EOF or a limit. */
void *
session_main(void *arg)
{
	struct session *s = xcalloc(1, sizeof(*s));
	struct accepted *a = arg;
	int one = 1, balancer = a->balancer, slot = !balancer;

	conn_init(&s->c, a->fd, recv_cf.idle_ms);
	s->c.quickack = 1;
	(void)setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	strlcpy(s->p.addr, a->addr, sizeof(s->p.addr));
	s->p.port = a->port;
	free(a);
	s->session_end = net_now_ms() + recv_cf.session_ms;
	log_debug("event=session.open peer=%s port=%d", s->p.addr, s->p.port);
	if (balancer && proxy_accept(s, &slot) == -1)
		goto out;
	if (recv_cf.tls_on) {
		SSL_CTX *ctx = recv_tls_ctx();
		int rc, timed_out;

		arm_line(s);
		rc = conn_tls_accept(&s->c, ctx);
		timed_out = rc == -1 && errno == ETIMEDOUT;
		SSL_CTX_free(ctx);	/* the session's SSL holds its own */
		if (rc == -1) {
			tls_failed(s, timed_out);
			goto out;
		}
		strlcpy(s->p.tls, SSL_get_version(s->c.ssl), sizeof(s->p.tls));
		strlcpy(s->p.cipher, SSL_get_cipher_name(s->c.ssl),
		    sizeof(s->p.cipher));
		tls_peer_identity(s->c.ssl, s->p.subject, sizeof(s->p.subject),
		    s->p.fp, sizeof(s->p.fp));
		log_debug("event=tls.ok peer=%s port=%d version=%s cipher=%s "
		    "subject=\"%s\"", s->p.addr, s->p.port, s->p.tls,
		    s->p.cipher, s->p.subject);
	}
	if (recv_cf.have_password && do_auth(s) == -1)
		goto out;
	session_loop(s);
out:
	conn_close(&s->c);
	if (slot)
		source_release(s->p.addr);
	else
		source_release_global();
	free(s);
	return NULL;
}
