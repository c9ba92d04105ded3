/* SPDX-License-Identifier: ISC */
/*
 * raw: the raw limits that `make bench` and `make bench-e2e` report next
 * to octospool's figures, measured in the same run, on the same
 * filesystem and the same loopback.  Built by bench/build.sh into
 * bench/.build/raw (not installed).
 *
 *   raw durable DIR N WRITERS SIZE
 *       N files in all, split over WRITERS threads.  Each file: create
 *       DIR/tmp/NAME (O_EXCL), write SIZE bytes, fsync, close, rename to
 *       DIR/new/NAME, fsync DIR/new.  No group commit: every writer syncs
 *       its own rename.  This is the spool hand-off and nothing else.
 *   raw durable2 DIR N WRITERS SIZE
 *       The same work tentacle-recv does per stored file in the octospool
 *       layout with audit on, without network or parsing: data file and a
 *       ~400-byte event file, each created, written and fsynced, both
 *       renamed, both new/ directories fsynced (DIR/q1 and DIR/q2).
 *       (Before the audit segment.)
 *   raw durables DIR N WRITERS SIZE
 *       tentacle-recv's disk work since the audit segment: the data in an
 *       O_TMPFILE in DIR/q1/new, a 400-byte event appended to an open
 *       file in DIR/q2/tmp, one syncfs(), linkat, one syncfs().
 *   raw durables-fsync DIR N WRITERS SIZE
 *       The same with fsync(data) + fdatasync(segment) and fsync(new/).
 *   raw handoff DIR N BATCH SIZE [noout]
 *       One drain's hand-off of N items, as lib/drain commits a batch,
 *       without parsing: N files of SIZE bytes are made in DIR/in/new
 *       first (not timed).  Then, per batch of BATCH items: each claimed
 *       (rename new/N -> cur/N) and read, its output written to
 *       DIR/out/tmp/N; 200 bytes of audit events per item appended to an
 *       open segment in DIR/audit/tmp (lib/auditseg); one syncfs() for
 *       both (below 4 outputs: fsync of each and fdatasync of the
 *       segment); the outputs renamed to DIR/out/new, that directory
 *       fsynced; the inputs unlinked from cur/; the segment renamed to
 *       DIR/audit/new every 500 ms, as a busy drain hands it on (until
 *       2026-12-07: one audit file per batch, fsynced, renamed, its
 *       directory fsynced).  With "noout" there are no outputs (db-load's
 *       side of its queue).
 *   raw tcp BYTES [DIR]
 *       One loopback TCP connection: a child reads 64 KiB at a time (the
 *       server's block) and discards, the parent writes BYTES in 1 MiB
 *       writes, shuts down and waits for the child's one-byte ack.  With
 *       DIR the child writes what it reads to DIR/bigfile and fsyncs it
 *       before the ack (the ceiling for a durable upload).
 *   raw tls BYTES CERT KEY [DIR]
 *       The same through TLS 1.3 (server CERT/KEY, no tickets).
 *   raw tls-hs N CERT KEY
 *       N sequential full TLS 1.3 handshakes over loopback (no tickets, no
 *       session cache, as tentacle-recv), each followed by a one-byte
 *       round trip so the server has finished too.  Also reports the
 *       server process's CPU per handshake.
 *
 * Output: one line of key=value pairs on stdout (rate, secs, ...);
 * durable* also give cpu_ms, the process's CPU per file.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define PROG "raw"
#include "util.h"

#define RD_BLOCK	(64 * 1024)
#define WR_BLOCK	(1024 * 1024)

static long long
num(const char *s)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0)
		die("bad number '%s'", s);
	return n;
}

static void
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write");
		p += n;
		len -= (size_t)n;
	}
}

static int
opendir_at(int at, const char *name)
{
	int fd;

	if (mkdirat(at, name, 0755) == -1 && errno != EEXIST)
		die("mkdir %s", name);
	if ((fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("open %s", name);
	return fd;
}

/* ---- durable writes ---- */

struct queue {
	int	tmpfd, newfd;
};

struct dw {
	pthread_t	 tid;
	int		 id;
	long long	 n;
	size_t		 size;
	int		 shape2;	/* 0 one file, 1 two, 2/3 segment */
	int		 segfd;
	struct queue	*q;		/* q[0] data, q[1] events */
	const char	*buf;
	pthread_barrier_t *bar;
};

/* create + write + fsync + close + rename + (optionally) fsync new/ */
static void
put(struct queue *q, const char *name, const char *buf, size_t len,
    int syncdir)
{
	int fd = openat(q->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0640);

	if (fd == -1)
		die("create %s", name);
	write_all(fd, buf, len);
	if (fsync(fd) == -1 || close(fd) == -1)
		die("fsync %s", name);
	if (syncdir) {
		if (renameat(q->tmpfd, name, q->newfd, name) == -1)
			die("rename %s", name);
		if (fsync(q->newfd) == -1)
			die("fsync dir");
	}
}

/*
 * tentacle-recv's disk work since the audit segment: the data in an
 * anonymous file in new/, its 400-byte event appended to an open
 * segment in the events' tmp/, one flush for both (syncfs, shape 2; or
 * fsync and fdatasync, shape 3), the data linked in, one flush of new/
 * (syncfs, or fsync of the directory).
 */
static void
seg_put(struct dw *w, const char *name)
{
	char proc[64];
	int fd, sync_fs = w->shape2 == 2;

	if (w->segfd == -1) {
		char sn[64];

		snprintf(sn, sizeof(sn), "w%d.seg", w->id);
		if ((w->segfd = openat(w->q[1].tmpfd, sn, O_WRONLY | O_CREAT |
		    O_APPEND | O_CLOEXEC, 0640)) == -1)
			die("segment");
	}
	if ((fd = openat(w->q[0].newfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
	    0640)) == -1)
		die("O_TMPFILE");
	write_all(fd, w->buf, w->size);
	write_all(w->segfd, w->buf, 400);
	if (sync_fs ? syncfs(fd) == -1 :
	    fsync(fd) == -1 || fdatasync(w->segfd) == -1)
		die("sync");
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, proc, w->q[0].newfd, name, AT_SYMLINK_FOLLOW) ==
	    -1)
		die("linkat %s", name);
	if ((sync_fs ? syncfs(fd) : fsync(w->q[0].newfd)) == -1)
		die("sync dir");
	close(fd);
}

static void *
dw_main(void *arg)
{
	struct dw *w = arg;
	char name[64], ev[64];

	pthread_barrier_wait(w->bar);
	for (long long i = 0; i < w->n; i++) {
		snprintf(name, sizeof(name), "w%d_%lld.data", w->id, i);
		if (!w->shape2) {
			put(&w->q[0], name, w->buf, w->size, 1);
			continue;
		}
		if (w->shape2 >= 2) {
			seg_put(w, name);
			continue;
		}
		/* tentacle-recv order: event fsynced, data fsynced, both
		 * renamed, both directories fsynced. */
		snprintf(ev, sizeof(ev), "w%d_%lld.event", w->id, i);
		put(&w->q[1], ev, w->buf, 400, 0);
		put(&w->q[0], name, w->buf, w->size, 0);
		if (renameat(w->q[1].tmpfd, ev, w->q[1].newfd, ev) == -1 ||
		    renameat(w->q[0].tmpfd, name, w->q[0].newfd, name) == -1)
			die("rename");
		if (fsync(w->q[0].newfd) == -1 || fsync(w->q[1].newfd) == -1)
			die("fsync dir");
	}
	return NULL;
}

static void
durable(int argc, char **argv, int shape2)
{
	pthread_barrier_t bar;
	struct rusage ru;
	struct queue q[2];
	struct dw *w;
	long long n, nw;
	size_t size;
	char *buf;
	double t0, t1, cpu;
	int dfd;

	if (argc != 4)
		die("usage: durable DIR N WRITERS SIZE");
	n = num(argv[1]);
	nw = num(argv[2]);
	size = (size_t)num(argv[3]);
	if (nw < 1 || nw > 256 || n < nw)
		die("bad writer count");
	if ((dfd = open(argv[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("%s", argv[0]);
	for (int i = 0; i < (shape2 ? 2 : 1); i++) {
		int qd = opendir_at(dfd, i == 0 ? "q1" : "q2");

		q[i].tmpfd = opendir_at(qd, "tmp");
		q[i].newfd = opendir_at(qd, "new");
		close(qd);
	}
	if ((buf = malloc(size < 400 ? 400 : size)) == NULL)
		die("malloc");
	for (size_t j = 0; j < (size < 400 ? 400 : size); j++)
		buf[j] = (char)('A' + j % 26);
	w = calloc((size_t)nw, sizeof(*w));
	pthread_barrier_init(&bar, NULL, (unsigned)nw + 1);
	for (int i = 0; i < nw; i++) {
		w[i].id = i;
		w[i].n = n / nw + (i < n % nw ? 1 : 0);
		w[i].size = size;
		w[i].shape2 = shape2;
		w[i].segfd = -1;
		w[i].q = q;
		w[i].buf = buf;
		w[i].bar = &bar;
		if (pthread_create(&w[i].tid, NULL, dw_main, &w[i]) != 0)
			die("pthread_create");
	}
	pthread_barrier_wait(&bar);
	t0 = now();
	for (int i = 0; i < nw; i++)
		pthread_join(w[i].tid, NULL);
	t1 = now();
	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	printf("rate=%.1f secs=%.3f files=%lld writers=%lld size=%zu "
	    "cpu_ms=%.3f\n", (double)n / (t1 - t0), t1 - t0, n, nw, size,
	    cpu * 1000.0 / (double)n);
}

/* ---- a drain's hand-off ---- */

/* User + system seconds of a getrusage() result. */
static double
ru_secs(const struct rusage *ru)
{
	return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec /
	    1e6 + (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec /
	    1e6;
}

/* A drain's hand-off of N items in batches, as lib/drain commits them. */
static void
handoff(int argc, char **argv)
{
	struct rusage ru0, ru;
	struct queue in, out, au;
	int incur, dfd, *ofd, noout, segfd = -1;
	off_t seglen = 0;
	double segborn = 0;
	char segname[64];
	long long n, batch;
	size_t size;
	char *buf, name[64];
	double t0, t1, cpu;

	if (argc != 4 && !(argc == 5 && strcmp(argv[4], "noout") == 0))
		die("usage: handoff DIR N BATCH SIZE [noout]");
	n = num(argv[1]);
	batch = num(argv[2]);
	size = (size_t)num(argv[3]);
	noout = argc == 5;
	if (n < 1 || batch < 1)
		die("bad count");
	if ((dfd = open(argv[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("%s", argv[0]);
	{
		int qi = opendir_at(dfd, "in"), qo = opendir_at(dfd, "out"),
		    qa = opendir_at(dfd, "audit");

		in.tmpfd = opendir_at(qi, "tmp");
		in.newfd = opendir_at(qi, "new");
		incur = opendir_at(qi, "cur");
		out.tmpfd = opendir_at(qo, "tmp");
		out.newfd = opendir_at(qo, "new");
		au.tmpfd = opendir_at(qa, "tmp");
		au.newfd = opendir_at(qa, "new");
		close(qi);
		close(qo);
		close(qa);
	}
	if ((buf = malloc(size + 200 * (size_t)batch)) == NULL ||
	    (ofd = calloc((size_t)batch, sizeof(*ofd))) == NULL)
		die("malloc");
	for (size_t j = 0; j < size + 200 * (size_t)batch; j++)
		buf[j] = (char)('A' + j % 26);
	for (long long i = 0; i < n; i++) {
		int fd;

		snprintf(name, sizeof(name), "item%lld.data", i);
		if ((fd = openat(in.newfd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0640)) == -1)
			die("create %s", name);
		write_all(fd, buf, size);
		close(fd);
	}
	if (syncfs(dfd) == -1)
		die("syncfs");

	getrusage(RUSAGE_SELF, &ru0);
	t0 = now();
	for (long long b = 0; b < n; b += batch) {
		long long m = n - b < batch ? n - b : batch;
		int fd;

		for (long long k = 0; k < m; k++) {
			ssize_t r;

			snprintf(name, sizeof(name), "item%lld.data", b + k);
			if (renameat(in.newfd, name, incur, name) == -1 ||
			    (fd = openat(incur, name, O_RDONLY | O_CLOEXEC)) ==
			    -1)
				die("claim %s", name);
			while ((r = read(fd, buf, size)) > 0)
				continue;
			close(fd);
			if (noout)
				continue;
			if ((ofd[k] = openat(out.tmpfd, name, O_WRONLY |
			    O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0640)) == -1)
				die("create %s", name);
			write_all(ofd[k], buf, size);
		}
		if (segfd == -1) {
			snprintf(segname, sizeof(segname), "seg%lld.seg", b);
			if ((segfd = openat(au.tmpfd, segname, O_WRONLY |
			    O_CREAT | O_EXCL | O_CLOEXEC, 0640)) == -1 ||
			    fsync(au.tmpfd) == -1)
				die("segment");
			seglen = 0;
			segborn = now();
		}
		if (pwrite(segfd, buf, 200 * (size_t)m, seglen) !=
		    (ssize_t)(200 * (size_t)m))
			die("append");
		seglen += 200 * (off_t)m;
		if (!noout && m >= 4 && syncfs(out.tmpfd) == -1)
			die("syncfs");
		for (long long k = 0; k < m && !noout; k++)
			if ((m < 4 && fsync(ofd[k]) == -1) ||
			    close(ofd[k]) == -1)
				die("fsync");
		if ((noout || m < 4) && fdatasync(segfd) == -1)
			die("fdatasync");
		for (long long k = 0; k < m && !noout; k++) {
			snprintf(name, sizeof(name), "item%lld.data", b + k);
			if (renameat(out.tmpfd, name, out.newfd, name) == -1)
				die("rename %s", name);
		}
		if (!noout && fsync(out.newfd) == -1)
			die("fsync dir");
		for (long long k = 0; k < m; k++) {
			snprintf(name, sizeof(name), "item%lld.data", b + k);
			if (unlinkat(incur, name, 0) == -1)
				die("unlink %s", name);
		}
		if (now() - segborn >= 0.5 || b + m >= n) {
			if (renameat(au.tmpfd, segname, au.newfd, segname) ==
			    -1 || close(segfd) == -1)
				die("hand-off");
			segfd = -1;
		}
	}
	t1 = now();
	getrusage(RUSAGE_SELF, &ru);
	cpu = ru_secs(&ru) - ru_secs(&ru0);
	printf("rate=%.1f secs=%.3f files=%lld batch=%lld size=%zu "
	    "cpu_ms=%.3f\n", (double)n / (t1 - t0), t1 - t0, n, batch, size,
	    cpu * 1000.0 / (double)n);
}

/* ---- loopback TCP / TLS ---- */

static SSL_CTX *
tls_ctx(int server, const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() :
	    TLS_client_method());

	if (ctx == NULL)
		die("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (server && (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)) {
		ERR_print_errors_fp(stderr);
		die("certificate %s / %s", cert, key);
	}
	if (server)
		SSL_CTX_set_num_tickets(ctx, 0);
	return ctx;
}

static int
listen_lo(int *port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(fd, 128) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == -1)
		die("listen");
	*port = ntohs(sa.sin_port);
	return fd;
}

static int
connect_lo(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		die("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Child: accept one, read to EOF (into DIR/bigfile + fsync), ack. */
static void
sink(int lfd, SSL_CTX *ctx, const char *dir)
{
	char *buf = malloc(RD_BLOCK);
	int fd = accept(lfd, NULL, NULL), out = -1, dfd = -1;
	long long total = 0;
	SSL *ssl = NULL;

	if (fd == -1 || buf == NULL)
		die("accept");
	if (dir != NULL) {
		if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) == -1 ||
		    (out = openat(dfd, "bigfile", O_WRONLY | O_CREAT |
		    O_TRUNC | O_CLOEXEC, 0640)) == -1)
			die("create %s/bigfile", dir);
	}
	if (ctx != NULL) {
		if ((ssl = SSL_new(ctx)) == NULL || !SSL_set_fd(ssl, fd) ||
		    SSL_accept(ssl) != 1) {
			ERR_print_errors_fp(stderr);
			die("SSL_accept");
		}
	}
	for (;;) {
		ssize_t n = ssl ? SSL_read(ssl, buf, RD_BLOCK) :
		    read(fd, buf, RD_BLOCK);

		if (n == -1 && errno == EINTR && ssl == NULL)
			continue;
		if (n <= 0)
			break;
		total += n;
		if (out != -1)
			write_all(out, buf, (size_t)n);
	}
	if (out != -1 && (fsync(out) == -1 || close(out) == -1 ||
	    fsync(dfd) == -1))
		die("fsync bigfile");
	if (ssl != NULL) {
		SSL_write(ssl, "K", 1);
		SSL_shutdown(ssl);
	} else
		write_all(fd, "K", 1);
	close(fd);
	_exit(total > 0 ? 0 : 1);
}

static void
stream(int argc, char **argv, int tls)
{
	long long bytes, left;
	const char *dir;
	SSL_CTX *sctx = NULL, *cctx = NULL;
	SSL *ssl = NULL;
	char *buf, ack;
	double t0, t1;
	int lfd, port, fd, st;
	pid_t pid;

	if (argc < (tls ? 3 : 1) || argc > (tls ? 4 : 2))
		die(tls ? "usage: tls BYTES CERT KEY [DIR]" :
		    "usage: tcp BYTES [DIR]");
	bytes = num(argv[0]);
	dir = argc == (tls ? 4 : 2) ? argv[argc - 1] : NULL;
	if (tls) {
		sctx = tls_ctx(1, argv[1], argv[2]);
		cctx = tls_ctx(0, NULL, NULL);
	}
	lfd = listen_lo(&port);
	if ((pid = fork()) == -1)
		die("fork");
	if (pid == 0)
		sink(lfd, sctx, dir);
	close(lfd);
	if ((buf = malloc(WR_BLOCK)) == NULL)
		die("malloc");
	memset(buf, 'A', WR_BLOCK);
	t0 = now();
	fd = connect_lo(port);
	if (tls) {
		if ((ssl = SSL_new(cctx)) == NULL || !SSL_set_fd(ssl, fd) ||
		    SSL_connect(ssl) != 1) {
			ERR_print_errors_fp(stderr);
			die("SSL_connect");
		}
	}
	for (left = bytes; left > 0; ) {
		size_t chunk = left > WR_BLOCK ? WR_BLOCK : (size_t)left;

		if (ssl != NULL) {
			int n = SSL_write(ssl, buf, (int)chunk);

			if (n <= 0)
				die("SSL_write");
			left -= n;
		} else {
			write_all(fd, buf, chunk);
			left -= (long long)chunk;
		}
	}
	if (ssl != NULL) {
		SSL_shutdown(ssl);	/* close_notify: the sink's EOF */
		if (SSL_read(ssl, &ack, 1) != 1)
			die("no ack");
	} else {
		shutdown(fd, SHUT_WR);
		if (read(fd, &ack, 1) != 1)
			die("no ack");
	}
	t1 = now();
	if (waitpid(pid, &st, 0) == -1 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		die("sink failed");
	if (dir != NULL) {
		char p[4096];

		snprintf(p, sizeof(p), "%s/bigfile", dir);
		unlink(p);
	}
	printf("rate=%.1f secs=%.3f bytes=%lld unit=MB/s\n",
	    (double)bytes / 1e6 / (t1 - t0), t1 - t0, bytes);
}

static void
handshakes(int argc, char **argv)
{
	struct rusage ru;
	SSL_CTX *sctx, *cctx;
	long long n;
	double t0, t1, cpu;
	int lfd, port, st;
	pid_t pid;
	char b;

	if (argc != 3)
		die("usage: tls-hs N CERT KEY");
	n = num(argv[0]);
	sctx = tls_ctx(1, argv[1], argv[2]);
	cctx = tls_ctx(0, NULL, NULL);
	lfd = listen_lo(&port);
	if ((pid = fork()) == -1)
		die("fork");
	if (pid == 0) {
		for (long long i = 0; i < n; i++) {
			int fd = accept(lfd, NULL, NULL);
			SSL *ssl;

			if (fd == -1 || (ssl = SSL_new(sctx)) == NULL ||
			    !SSL_set_fd(ssl, fd) || SSL_accept(ssl) != 1 ||
			    SSL_read(ssl, &b, 1) != 1 ||
			    SSL_write(ssl, &b, 1) != 1)
				_exit(1);
			SSL_shutdown(ssl);
			SSL_free(ssl);
			close(fd);
		}
		_exit(0);
	}
	close(lfd);
	t0 = now();
	for (long long i = 0; i < n; i++) {
		int fd = connect_lo(port);
		SSL *ssl = SSL_new(cctx);

		if (ssl == NULL || !SSL_set_fd(ssl, fd) ||
		    SSL_connect(ssl) != 1 || SSL_write(ssl, "Q", 1) != 1 ||
		    SSL_read(ssl, &b, 1) != 1) {
			ERR_print_errors_fp(stderr);
			die("handshake %lld", i);
		}
		SSL_shutdown(ssl);
		SSL_free(ssl);
		close(fd);
	}
	t1 = now();
	if (wait4(pid, &st, 0, &ru) == -1 || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0)
		die("tls server failed");
	cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	printf("rate=%.1f secs=%.3f handshakes=%lld server_cpu_ms=%.3f "
	    "version=%s\n", (double)n / (t1 - t0), t1 - t0, n,
	    cpu * 1000.0 / (double)n, "TLSv1.3");
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		die("usage: raw durable|durable2|durables|durables-fsync|handoff|"
		    "tcp|tls|tls-hs ...");
	if (strcmp(argv[1], "durable") == 0)
		durable(argc - 2, argv + 2, 0);
	else if (strcmp(argv[1], "durable2") == 0)
		durable(argc - 2, argv + 2, 1);
	else if (strcmp(argv[1], "durables") == 0)
		durable(argc - 2, argv + 2, 2);
	else if (strcmp(argv[1], "durables-fsync") == 0)
		durable(argc - 2, argv + 2, 3);
	else if (strcmp(argv[1], "handoff") == 0)
		handoff(argc - 2, argv + 2);
	else if (strcmp(argv[1], "tcp") == 0)
		stream(argc - 2, argv + 2, 0);
	else if (strcmp(argv[1], "tls") == 0)
		stream(argc - 2, argv + 2, 1);
	else if (strcmp(argv[1], "tls-hs") == 0)
		handshakes(argc - 2, argv + 2);
	else
		die("unknown mode %s", argv[1]);
	return 0;
}
