/* SPDX-License-Identifier: ISC */
/* tentacle-send: the commands of one session, in strict lock-step. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* O_TMPFILE, mkostemp */
#endif

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "io.h"
#include "log.h"
#include "net.h"
#include "tentacle.h"
#include "tls.h"
#include "zip.h"

#include "send.h"

#define REPLY_MAX	TENTACLE_LINE_MAX

static unsigned char	xfer_buf[SEND_BLOCK];

/* The temp file -g is writing, so that a signal can still remove it. */
static volatile sig_atomic_t	xfer_tmp_live;
static int			xfer_tmp_dirfd = -1;
static char			xfer_tmp_name[64];

/* On SIGINT, SIGTERM or SIGHUP leave no temp file behind, then die of it. */
static void
xfer_onsig(int sig)
{
	if (xfer_tmp_live)
		(void)unlinkat(xfer_tmp_dirfd, xfer_tmp_name, 0);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Ignore SIGPIPE (a closed peer is an error, not a death) and clean up. */
void
xfer_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = xfer_onsig;
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGHUP, &sa, NULL);
}

/* The last path component: what the server is told the file is called. */
const char *
xfer_basename(const char *path)
{
	const char *p = strrchr(path, '/');

	return p != NULL ? p + 1 : path;
}

/*
 * An unnamed read-write temp file in dir, else in $TMPDIR, else in /tmp
 * (O_TMPFILE, or mkstemp and unlink where the file system lacks it).
 */
int
xfer_tmp_anon(const char *dir)
{
	const char *dirs[3];
	char path[PATH_MAX];
	int fd;

	dirs[0] = dir;
	dirs[1] = getenv("TMPDIR");
	dirs[2] = "/tmp";
	for (int i = 0; i < 3; i++) {
		if (dirs[i] == NULL || dirs[i][0] == '\0')
			continue;
		fd = open(dirs[i], O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd != -1)
			return fd;
		if ((size_t)snprintf(path, sizeof(path),
		    "%s/.tentacle-send.XXXXXXXX", dirs[i]) >= sizeof(path))
			continue;
		if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
			continue;
		(void)unlink(path);
		return fd;
	}
	return -1;
}

/* Copy len bytes of in (from offset 0) to out: a ZRECV that was no ZIP. */
static int
copy_fd(int in, int out, off_t len)
{
	if (lseek(in, 0, SEEK_SET) == -1 || lseek(out, 0, SEEK_SET) == -1 ||
	    ftruncate(out, 0) == -1)
		return -1;
	while (len > 0) {
		ssize_t n = read(in, xfer_buf, len > SEND_BLOCK ? SEND_BLOCK :
		    (size_t)len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		if (io_write_all(out, xfer_buf, n) == -1)
			return -1;
		len -= n;
	}
	return 0;
}

/* Is the reply line exactly want? */
static int
is_reply(const char *line, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(line, want, len) == 0;
}

/* Why a network step failed: the TLS error if there is one, else errno. */
const char *
xfer_neterr(char *buf, size_t len)
{
	int saved = errno;

	if (ERR_peek_error() != 0)
		return tls_error(buf, len);
	strlcpy(buf, saved == EPIPE ? "connection closed" : strerror(saved),
	    len);
	return buf;
}

/* Log a network step that failed; the session is then unusable. */
static void
xfer_netfail(struct session *s, const char *ev, const char *vis,
    const char *what)
{
	char e[256];

	xfer_neterr(e, sizeof(e));
	if (vis != NULL)
		say_warnx("event=%s.fail name=\"%s\" server=%s reason=\"%s\" "
		    "error=\"%s\"", ev, vis, s->server, what, e);
	else
		say_warnx("event=%s.fail server=%s reason=\"%s\" error=\"%s\"",
		    ev, s->server, what, e);
}

/*
 * Wait for one reply line; on EOF, timeout or an overlong line say why
 * and return -1: the session is then unusable.
 */
static int
xfer_reply(struct session *s, char *line, size_t *len, const char *ev,
    const char *vis)
{
	int r = conn_readline(&s->c, line, REPLY_MAX, len);

	if (r == 1)
		return 0;
	if (r == 0)
		say_warnx("event=%s.fail name=\"%s\" server=%s reason=\"the "
		    "server closed the connection\"", ev, vis, s->server);
	else if (r == -2)
		say_warnx("event=%s.fail name=\"%s\" server=%s reason=\"reply "
		    "line too long\"", ev, vis, s->server);
	else
		xfer_netfail(s, ev, vis, "no reply");
	return -1;
}

/* Log a reply that is not the one we wait for; the session may QUIT. */
static void
xfer_refused(struct session *s, const char *ev, const char *vis,
    const char *line, size_t len)
{
	char rvis[LOG_VISBUF];

	say_warnx("event=%s.refused name=\"%s\" server=%s reply=\"%s\"", ev,
	    vis, s->server, log_vis(rvis, sizeof(rvis), line, len));
}

/* Authenticate with the static token; the server closes if it is wrong. */
int
xfer_pass(struct session *s, const char *token)
{
	char line[REPLY_MAX + 1];
	size_t len;
	int r;

	snprintf(line, sizeof(line), "PASS %s\n", token);
	r = conn_write(&s->c, line, strlen(line));
	explicit_bzero(line, sizeof(line));
	if (r == -1) {
		xfer_netfail(s, "auth", NULL, "cannot send PASS");
		return XFER_BROKEN;
	}
	r = conn_readline(&s->c, line, REPLY_MAX, &len);
	if (r == 0 || (r == -1 && errno == EPIPE)) {
		say_warnx("event=auth.fail server=%s reason=\"the server "
		    "closed the connection: wrong password, or the server has "
		    "no password\"", s->server);
		return XFER_BROKEN;
	}
	if (r != 1) {
		xfer_netfail(s, "auth", NULL, "no reply to PASS");
		return XFER_BROKEN;
	}
	if (!is_reply(line, len, "PASS OK")) {
		char rvis[LOG_VISBUF];

		say_warnx("event=auth.refused server=%s reply=\"%s\"",
		    s->server, log_vis(rvis, sizeof(rvis), line, len));
		return XFER_REFUSED;
	}
	if (s->o->verbose)
		log_info("event=auth.ok server=%s", s->server);
	return XFER_OK;
}

/*
 * Stream exactly size bytes of fd from its current offset to the
 * server in large blocks; a file that shrinks under us breaks the session.
 */
static int
xfer_stream(struct session *s, int fd, off_t size, const char *vis)
{
	while (size > 0) {
		ssize_t n = read(fd, xfer_buf, size > SEND_BLOCK ?
		    SEND_BLOCK : (size_t)size);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				say_warnx("event=send.fail name=\"%s\" "
				    "reason=\"file shrank while sending\"",
				    vis);
			else
				say_warn("event=send.fail name=\"%s\" "
				    "reason=\"read error\"", vis);
			return -1;
		}
		if (conn_write(&s->c, xfer_buf, n) == -1) {
			xfer_netfail(s, "send", vis, "cannot send data");
			return -1;
		}
		size -= n;
	}
	return 0;
}

/*
 * SEND (or ZSEND) one file: command, wait for OK, data, wait for OK.
 * Nothing is sent after a refusal.
 */
int
xfer_send(struct session *s, const char *path)
{
	const struct opts *o = s->o;
	const char *name = xfer_basename(path);
	const char *verb = o->zip ? "ZSEND" : "SEND";
	char line[REPLY_MAX + 1], ok[16], vis[LOG_VISBUF], zerr[128];
	struct stat st;
	off_t size, zsize = 0;
	size_t len;
	int64_t t0 = net_now_ms();
	int fd, zfd = -1, sfd, rc = XFER_REFUSED;

	log_vis(vis, sizeof(vis), name, strlen(name));
	snprintf(ok, sizeof(ok), "%s OK", verb);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1 || fstat(fd, &st) == -1) {
		say_warn("event=send.fail name=\"%s\" reason=\"cannot open "
		    "the local file\"", vis);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		say_warnx("event=send.fail name=\"%s\" reason=\"not a regular "
		    "file\"", vis);
		goto out;
	}
	sfd = fd;
	size = st.st_size;
	if (o->zip) {
		int zr;

		if ((zfd = xfer_tmp_anon(NULL)) == -1) {
			say_warn("event=send.fail name=\"%s\" reason=\"no "
			    "temporary file for the ZIP\"", vis);
			goto out;
		}
		zr = zip_create_single(fd, st.st_size, zfd, name, &zsize,
		    zerr, sizeof(zerr));
		if (zr != ZIP_OK || lseek(zfd, 0, SEEK_SET) == -1) {
			say_warnx("event=send.fail name=\"%s\" reason=\"zip: "
			    "%s\"", vis, zr != ZIP_OK ? zerr : strerror(errno));
			goto out;
		}
		sfd = zfd;
		size = zsize;
	}
	if ((size_t)snprintf(line, sizeof(line), "%s <%s> SIZE %lld\n", verb,
	    name, (long long)size) >= sizeof(line)) {
		say_warnx("event=send.fail name=\"%s\" reason=\"name too "
		    "long\"", vis);
		goto out;
	}
	/* The command alone in its write; data only after the reply. */
	rc = XFER_BROKEN;
	if (conn_write(&s->c, line, strlen(line)) == -1) {
		xfer_netfail(s, "send", vis, "cannot send the command");
		goto out;
	}
	if (xfer_reply(s, line, &len, "send", vis) == -1)
		goto out;
	if (!is_reply(line, len, ok)) {
		xfer_refused(s, "send", vis, line, len);
		rc = XFER_REFUSED;
		goto out;
	}
	if (xfer_stream(s, sfd, size, vis) == -1)
		goto out;
	if (xfer_reply(s, line, &len, "send", vis) == -1)
		goto out;
	if (!is_reply(line, len, ok)) {
		xfer_refused(s, "send", vis, line, len);
		rc = XFER_REFUSED;
		goto out;
	}
	rc = XFER_OK;
	s->nfiles++;
	if (o->verbose)
		log_info("event=file.sent name=\"%s\" size=%lld wire=%lld "
		    "zip=%s server=%s ms=%lld", vis, (long long)st.st_size,
		    (long long)size, o->zip ? "yes" : "no", s->server,
		    (long long)(net_now_ms() - t0));
out:
	if (zfd != -1)
		close(zfd);
	if (fd != -1)
		close(fd);
	return rc;
}

/* A fresh dot-temp in the current directory: O_EXCL, never a symlink. */
static int
xfer_tmp_open(struct session *s)
{
	for (int i = 0; i < 10; i++) {
		int fd;

		snprintf(xfer_tmp_name, sizeof(xfer_tmp_name),
		    ".tentacle-send.%ld.%08x", (long)getpid(), arc4random());
		xfer_tmp_dirfd = s->dirfd;
		fd = openat(s->dirfd, xfer_tmp_name, O_WRONLY | O_CREAT |
		    O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0666);
		if (fd != -1) {
			xfer_tmp_live = 1;
			return fd;
		}
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

/* Remove the dot-temp, keeping errno. */
static void
xfer_tmp_drop(struct session *s)
{
	int saved = errno;

	if (xfer_tmp_live) {
		(void)unlinkat(s->dirfd, xfer_tmp_name, 0);
		xfer_tmp_live = 0;
	}
	errno = saved;
}

/* Parse "<VERB> SIZE <digits>" strictly; -1 if the line is anything else. */
static long long
recv_size(const char *line, size_t len, const char *verb)
{
	char want[32];
	const char *num, *es = NULL;
	size_t wl, nl;
	long long n;

	wl = snprintf(want, sizeof(want), "%s SIZE ", verb);
	if (len <= wl || memcmp(line, want, wl) != 0)
		return -1;
	num = line + wl;
	nl = len - wl;
	if (nl > 18 || strspn(num, "0123456789") != nl)
		return -1;
	n = strtonum(num, 0, LLONG_MAX, &es);
	return es != NULL ? -1 : n;
}

/*
 * RECV (or ZRECV) one file into ./name: it appears there complete or
 * not at all (temp file, fsync, rename, fsync of the directory).
 */
int
xfer_recv(struct session *s, const char *name)
{
	const struct opts *o = s->o;
	const char *verb = o->zip ? "ZRECV" : "RECV";
	char line[REPLY_MAX + 1], vis[LOG_VISBUF], zerr[128];
	long long size, left;
	off_t outlen = 0;
	size_t len;
	int64_t t0 = net_now_ms();
	int fd, zfd = -1, dfd, rc = XFER_REFUSED, r;

	log_vis(vis, sizeof(vis), name, strlen(name));
	if ((fd = xfer_tmp_open(s)) == -1) {
		say_warn("event=recv.fail name=\"%s\" reason=\"cannot create a "
		    "temporary file in the current directory\"", vis);
		return XFER_REFUSED;
	}
	dfd = fd;
	if (o->zip) {
		if ((zfd = xfer_tmp_anon(".")) == -1) {
			say_warn("event=recv.fail name=\"%s\" reason=\"no "
			    "temporary file for the ZIP\"", vis);
			goto out;
		}
		dfd = zfd;
	}
	if ((size_t)snprintf(line, sizeof(line), "%s <%s>\n", verb, name) >=
	    sizeof(line)) {
		say_warnx("event=recv.fail name=\"%s\" reason=\"name too "
		    "long\"", vis);
		goto out;
	}
	rc = XFER_BROKEN;
	if (conn_write(&s->c, line, strlen(line)) == -1) {
		xfer_netfail(s, "recv", vis, "cannot send the command");
		goto out;
	}
	if (xfer_reply(s, line, &len, "recv", vis) == -1)
		goto out;
	if ((size = recv_size(line, len, verb)) < 0) {
		xfer_refused(s, "recv", vis, line, len);
		rc = XFER_REFUSED;
		goto out;
	}
	snprintf(line, sizeof(line), "%s OK\n", verb);
	if (conn_write(&s->c, line, strlen(line)) == -1) {
		xfer_netfail(s, "recv", vis, "cannot acknowledge the size");
		goto out;
	}
	for (left = size; left > 0;) {
		ssize_t n = conn_read(&s->c, xfer_buf, left > SEND_BLOCK ?
		    SEND_BLOCK : (size_t)left);

		if (n <= 0) {
			if (n == 0)
				say_warnx("event=recv.fail name=\"%s\" "
				    "server=%s reason=\"the server closed the "
				    "connection after %lld of %lld bytes\"",
				    vis, s->server, size - left, size);
			else
				xfer_netfail(s, "recv", vis, "no data");
			goto out;
		}
		if (io_write_all(dfd, xfer_buf, n) == -1) {
			say_warn("event=recv.fail name=\"%s\" reason=\"cannot "
			    "write the local file\"", vis);
			goto out;
		}
		left -= n;
	}
	/* From here on the session is fine again: a local failure may QUIT. */
	rc = XFER_REFUSED;
	outlen = size;
	if (o->zip) {
		r = zip_extract_single(zfd, size, fd, ZRECV_MAX, &outlen, zerr,
		    sizeof(zerr));
		if (r == ZIP_NOTZIP) {
			/* tentacle_client unzips "transparently" too. */
			if (copy_fd(zfd, fd, size) == -1) {
				say_warn("event=recv.fail name=\"%s\" "
				    "reason=\"cannot write the local file\"",
				    vis);
				goto out;
			}
			outlen = size;
		} else if (r != ZIP_OK) {
			say_warnx("event=recv.fail name=\"%s\" reason=\"unzip: "
			    "%s\"", vis, zerr);
			goto out;
		}
	}
	r = fsync(fd);
	if (close(fd) == -1 || r == -1) {
		fd = -1;
		say_warn("event=recv.fail name=\"%s\" reason=\"cannot write "
		    "the local file\"", vis);
		goto out;
	}
	fd = -1;
	if (renameat(s->dirfd, xfer_tmp_name, s->dirfd, name) == -1) {
		say_warn("event=recv.fail name=\"%s\" reason=\"cannot rename "
		    "the temporary file\"", vis);
		goto out;
	}
	xfer_tmp_live = 0;
	if (fsync(s->dirfd) == -1)
		say_warn("event=recv.fsync name=\"%s\" reason=\"cannot fsync "
		    "the directory\"", vis);
	rc = XFER_OK;
	s->nfiles++;
	if (o->verbose)
		log_info("event=file.received name=\"%s\" size=%lld wire=%lld "
		    "zip=%s server=%s ms=%lld", vis, (long long)outlen, size,
		    o->zip ? "yes" : "no", s->server,
		    (long long)(net_now_ms() - t0));
out:
	if (zfd != -1)
		close(zfd);
	if (fd != -1)
		close(fd);
	if (rc != XFER_OK)
		xfer_tmp_drop(s);
	return rc;
}

/* Say goodbye; the server closes without a reply. */
void
xfer_quit(struct session *s)
{
	(void)conn_write(&s->c, "QUIT\n", 5);
}
