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

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "log.h"
#include "net.h"
#include "tentacle.h"
#include "tls.h"
#include "xalloc.h"
#include "zip.h"

#include "recv.h"

/* The largest collection access list read (conf-dist writes 33 bytes
 * per agent). */
#define RECV_ACL_MAX	(1024 * 1024)

/* Per-source accounting: connections, failed passwords, blocks. */
#define SRC_SLOTS	8192	/* > the max_connections cap */

struct source {
	char	addr[64];
	int	active;
	int	fails;
	int64_t	fail_start;
	int64_t	blocked_until;
	int64_t	last;
};

static struct source	 src_tab[SRC_SLOTS];
static int		 src_active_total;
static pthread_mutex_t	 src_mu = PTHREAD_MUTEX_INITIALIZER;

/* The slot for addr, or a free (or idle, oldest) one; with src_mu held. */
static struct source *
source_get(const char *addr)
{
	struct source *freeslot = NULL, *oldest = NULL;
	int64_t now = net_now_ms();

	for (int i = 0; i < SRC_SLOTS; i++) {
		struct source *s = &src_tab[i];

		if (s->addr[0] && strcmp(s->addr, addr) == 0)
			return s;
		if (s->active != 0)
			continue;
		if (s->blocked_until < now && (s->fails == 0 ||
		    now - s->fail_start > recv_cf.auth_fail_window_s * 1000LL) &&
		    (freeslot == NULL || s->last < freeslot->last))
			freeslot = s;
		if (oldest == NULL || s->last < oldest->last)
			oldest = s;
	}
	/*
	 * Full of remembered failures (many addresses): forget the oldest
	 * rather than refuse everyone new.  Its block is lost, logged.
	 */
	if (freeslot == NULL && (freeslot = oldest) != NULL)
		log_warnx("event=source.evict peer=%s", oldest->addr);
	if (freeslot != NULL) {
		memset(freeslot, 0, sizeof(*freeslot));
		strlcpy(freeslot->addr, addr, sizeof(freeslot->addr));
	}
	return freeslot;
}

/* May addr open one more session?  1 yes (counted), 0 no (why set). */
int
source_admit(const char *addr, const char **why)
{
	struct source *s;
	int ok = 0;

	pthread_mutex_lock(&src_mu);
	if (src_active_total >= recv_cf.max_conn)
		*why = "max_connections reached";
	else if ((s = source_get(addr)) == NULL)
		*why = "source table full";
	else if (s->blocked_until > net_now_ms())
		*why = "source blocked after failed passwords";
	else if (s->active >= recv_cf.max_per_source)
		*why = "max_per_source reached";
	else {
		s->active++;
		s->last = net_now_ms();
		src_active_total++;
		ok = 1;
	}
	pthread_mutex_unlock(&src_mu);
	return ok;
}

void
source_release(const char *addr)
{
	struct source *s;

	pthread_mutex_lock(&src_mu);
	if ((s = source_get(addr)) != NULL && s->active > 0) {
		s->active--;
		s->last = net_now_ms();
	}
	src_active_total--;
	pthread_mutex_unlock(&src_mu);
}

/* Count a wrong password; too many block the source: returns 1 then. */
int
source_auth_failed(const char *addr)
{
	struct source *s;
	int64_t now = net_now_ms();
	int blocked = 0;

	pthread_mutex_lock(&src_mu);
	if ((s = source_get(addr)) != NULL) {
		s->last = now;
		if (now - s->fail_start > recv_cf.auth_fail_window_s * 1000LL) {
			s->fail_start = now;
			s->fails = 0;
		}
		if (++s->fails >= recv_cf.auth_fail_limit) {
			blocked = 1;
			s->blocked_until = now + recv_cf.auth_block_s * 1000LL;
			log_warnx("event=source.blocked peer=%s fails=%d "
			    "seconds=%d", addr, s->fails, recv_cf.auth_block_s);
		}
	}
	pthread_mutex_unlock(&src_mu);
	return blocked;
}

struct session {
	struct conn	 c;
	struct peer	 p;
	int64_t		 session_end;
	char		 line[TENTACLE_LINE_MAX + 1];
	size_t		 linelen;
	char		 vis[LOG_VISBUF];
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
	    store_route_send(&recv_store, name, &r) == -1) {
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
		    "cert_sha256=%s auth=%s", id, vis(s, name, namelen),
		    r.what, outlen, sha, s->p.addr, s->p.port,
		    s->p.tls[0] ? s->p.tls : "none", s->p.subject,
		    s->p.fp[0] ? s->p.fp : "-",
		    s->p.authed ? "password" : "none");
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

/* Did the client present a certificate (the agent-identifying mode)? */
static int
has_cert(struct session *s)
{
	return s->c.ssl != NULL && s->p.fp[0] != '\0';
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

/* Does name start with an agent key, "<32 hex digits>."? */
static int
agent_keyed(const char *name, size_t namelen)
{
	return namelen >= 33 && name[32] == '.' &&
	    strspn(name, "0123456789abcdefABCDEF") >= 32;
}

/*
 * Remote configuration is bound to the agent's certificate.  A name
 * that starts with 32 hex digits and a dot (<md5(agent_name)>.conf,
 * .md5, .conf.sig, ...) belongs to that agent: a client that presented
 * a certificate gets it only if md5 of one of the certificate's names
 * (commonName or DNS subjectAltName) is that prefix.  Other names
 * (collections: recv_coll_ok) and clients without a certificate (the
 * stock, weaker mode) are not restricted here.  1: may be served.
 */
static int
recv_bound_ok(struct session *s, const char *name, size_t namelen)
{
	char keys[TLS_NAMES_MAX][33];
	int n;

	if (!has_cert(s) || !agent_keyed(name, namelen))
		return 1;
	n = cert_keys(s, keys, TLS_NAMES_MAX);
	for (int i = 0; i < n; i++)
		if (memcmp(keys[i], name, 32) == 0)
			return 1;
	return 0;
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

/* The served collections directory, or -1. */
static int
collections_dirfd(void)
{
	for (int i = 0; i < recv_cf.nfilters; i++)
		if (recv_cf.filter[i].dirfd >= 0 &&
		    strcmp(recv_cf.filter[i].dir, "collections") == 0)
			return recv_cf.filter[i].dirfd;
	return -1;
}

static int
has_suffix(const char *s, size_t len, const char *suffix)
{
	size_t l = strlen(suffix);

	return len >= l && memcmp(s + len - l, suffix, l) == 0;
}

/* Does collections/<coll>.acl (written by conf-dist) list one of keys? */
static int
acl_lists(const char *coll, char keys[][33], int nkeys)
{
	char fname[TENTACLE_LINE_MAX + 8], *buf, *p, *e;
	struct stat sb;
	size_t got = 0;
	int cfd, fd, ok = 0;

	if (nkeys <= 0 || (cfd = collections_dirfd()) == -1 ||
	    (size_t)snprintf(fname, sizeof(fname), "%s.acl", coll) >=
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
 * Collections go to the agents configured to use them.  With a client
 * certificate, collections/NAME.zip (and .sig) and the collection's
 * md5/NAME.md5 (and .sig) are served only if collections/NAME.acl,
 * which conf-dist keeps from the published configurations, lists md5
 * of one of the certificate's names.  Anything else in collections/
 * is not served to a certificate; agent-keyed names in md5/ are
 * recv_bound_ok's.  Without a certificate: not restricted (stock).
 * 1: may be served.
 */
static int
recv_coll_ok(struct session *s, const char *name, size_t namelen,
    const char *dir)
{
	static const char *const sfx[] = { ".zip", ".md5", ".zip.sig",
	    ".md5.sig" };
	char keys[TLS_NAMES_MAX][33], coll[TENTACLE_LINE_MAX + 1];
	int in_coll = strcmp(dir, "collections") == 0;

	if (!has_cert(s) || (!in_coll && (strcmp(dir, "md5") != 0 ||
	    agent_keyed(name, namelen))))
		return 1;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		size_t l = strlen(sfx[i]);

		if (!has_suffix(name, namelen, sfx[i]) || namelen <= l ||
		    (!in_coll && strncmp(sfx[i], ".md5", 4) != 0))
			continue;
		memcpy(coll, name, namelen - l);
		coll[namelen - l] = '\0';
		return acl_lists(coll, keys, cert_keys(s, keys,
		    TLS_NAMES_MAX));
	}
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
	if (dirfd >= 0 && strcmp(dir, "collections") == 0 &&
	    has_suffix(name, namelen, ".acl"))
		dirfd = -1;	/* conf-dist's access lists: never served */
	if (dirfd >= 0 && !recv_bound_ok(s, name, namelen))
		why = "certificate not bound to this agent";
	else if (dirfd >= 0 && !recv_coll_ok(s, name, namelen, dir))
		why = "collection not configured for this certificate's agent";
	else
		why = NULL;
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

/* PASS: right token or a delayed close with no reply. */
static int
do_auth(struct session *s)
{
	int r;

	arm_line(s);
	r = conn_readline(&s->c, s->line, TENTACLE_LINE_MAX, &s->linelen);
	if (r == 1 && s->linelen == 5 + TENTACLE_TOKEN_LEN &&
	    memcmp(s->line, "PASS ", 5) == 0 &&
	    CRYPTO_memcmp(s->line + 5, recv_cf.token, TENTACLE_TOKEN_LEN) ==
	    0) {
		s->p.authed = 1;
		log_debug("event=auth.ok peer=%s port=%d", s->p.addr,
		    s->p.port);
		return reply(s, "PASS OK\n");
	}
	if (r != 1) {
		log_info("event=auth.fail peer=%s port=%d reason=\"%s\"",
		    s->p.addr, s->p.port, r == 0 ? "closed" : "no PASS line");
		return -1;
	}
	log_warnx("event=auth.fail peer=%s port=%d reason=\"%s\"", s->p.addr,
	    s->p.port, s->linelen >= 5 && memcmp(s->line, "PASS ", 5) == 0 ?
	    "wrong password" : "first command is not PASS");
	store_audit(&recv_store, &s->p, "session.auth", "refused", NULL, 0,
	    "wrong or missing password", NULL, -1, NULL);
	if (source_auth_failed(s->p.addr))
		store_audit(&recv_store, &s->p, "source.blocked", "blocked",
		    NULL, 0, "too many wrong passwords", NULL, -1, NULL);
	/* Slow down guessing; the slot stays taken meanwhile. */
	usleep(recv_cf.auth_fail_delay_ms * 1000);
	return -1;
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

/* Thread body: TLS, PASS, then commands until QUIT, EOF or a limit. */
void *
session_main(void *arg)
{
	struct session *s = xcalloc(1, sizeof(*s));
	struct accepted *a = arg;
	int one = 1;

	conn_init(&s->c, a->fd, recv_cf.idle_ms);
	s->c.quickack = 1;
	(void)setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	strlcpy(s->p.addr, a->addr, sizeof(s->p.addr));
	s->p.port = a->port;
	free(a);
	s->session_end = net_now_ms() + recv_cf.session_ms;
	log_debug("event=session.open peer=%s port=%d", s->p.addr, s->p.port);
	if (recv_cf.tls_on) {
		char e[256];

		arm_line(s);
		if (conn_tls_accept(&s->c, recv_cf.ssl_ctx) == -1) {
			log_info("event=tls.fail peer=%s port=%d reason=\"%s\"",
			    s->p.addr, s->p.port, errno == ETIMEDOUT ?
			    "handshake timeout" : tls_error(e, sizeof(e)));
			store_audit(&recv_store, &s->p, "session.tls",
			    "refused", NULL, 0, "TLS handshake failed", NULL,
			    -1, NULL);
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
	source_release(s->p.addr);
	free(s);
	return NULL;
}
