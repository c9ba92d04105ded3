/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/spool.c: the spool protocol for real on disk in a
 * temporary directory (modes, names, O_EXCL and symlinks, commit, lock,
 * recover, scan, claim, reject with its reason file, retry, cleanup).
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"

#include "check.h"

static char root[PATH_MAX];

/* Join root, a and b into a static buffer (one of four in rotation). */
static const char *
P(const char *a, const char *b)
{
	static char buf[4][PATH_MAX];
	static int k;
	char *p = buf[k++ % 4];
	int n;

	if (b != NULL)
		n = snprintf(p, PATH_MAX, "%s/%s/%s", root, a, b);
	else
		n = snprintf(p, PATH_MAX, "%s/%s", root, a);
	if (n < 0 || n >= PATH_MAX) {
		fprintf(stderr, "path too long\n");
		exit(2);
	}
	return p;
}

/* 1 if the path exists (links not followed). */
static int
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The permission bits of path, or 0xffff if it cannot be stat'ed. */
static unsigned
mode_of(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return 0xffff;
	return st.st_mode & 07777;
}

/* Write s to path (created 0600). */
static int
put_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd == -1)
		return -1;
	n = write(fd, s, strlen(s));
	if (close(fd) == -1 || n != (ssize_t)strlen(s))
		return -1;
	return 0;
}

/* Read at most len-1 bytes of path into buf; "" on error. */
static const char *
get_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = -1;

	buf[0] = '\0';
	if (fd == -1)
		return buf;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

/* Make a fresh consumer queue at root/q and open it; 0 on success. */
static int
fresh(struct spool *sp, const char *q, int how)
{
	if (spool_mkdirs(P(q, NULL), SPOOL_CONSUME) == -1)
		return -1;
	return spool_open(sp, P(q, NULL), how);
}

static void
test_mkdirs(void)
{
	static const struct {
		const char	*sub;
		unsigned	 mode;
	} want[] = {
		{ "tmp", 03770 }, { "new", 03770 }, { "cur", 0700 },
		{ "reject", 0700 },
	};
	static const mode_t masks[] = { 0, 022, 077, 002 };
	char q[64];

	for (size_t m = 0; m < sizeof(masks) / sizeof(masks[0]); m++) {
		umask(masks[m]);
		snprintf(q, sizeof(q), "mk%zu", m);
		CHECK_INT("spool_mkdirs consume", spool_mkdirs(P(q, NULL),
		    SPOOL_CONSUME), 0);
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			char what[128];

			snprintf(what, sizeof(what), "umask %03o: %s/",
			    (unsigned)masks[m], want[i].sub);
			/* Exact modes whatever the umask: producers in the
			 * group must always be able to write tmp/ and new/. */
			CHECK_MODE(what, mode_of(P(q, want[i].sub)),
			    want[i].mode);
		}
		/* A second run leaves everything as it is. */
		CHECK_INT("spool_mkdirs again", spool_mkdirs(P(q, NULL),
		    SPOOL_CONSUME), 0);
	}
	umask(0);
	CHECK_INT("spool_mkdirs produce", spool_mkdirs(P("prod", NULL),
	    SPOOL_PRODUCE), 0);
	CHECK_INT("produce: tmp exists", exists(P("prod", "tmp")), 1);
	CHECK_INT("produce: new exists", exists(P("prod", "new")), 1);
	CHECK_INT("produce: cur exists", exists(P("prod", "cur")), 0);
	CHECK_INT("produce: reject exists", exists(P("prod", "reject")), 0);
	CHECK_MODE("produce: new/", mode_of(P("prod", "new")), 03770);
	errno = 0;
	CHECK_ERRNO("spool_mkdirs without parent", spool_mkdirs(
	    P("no-parent/q", NULL), SPOOL_CONSUME), -1, ENOENT);
}

static void
test_open(void)
{
	struct spool sp, pr;
	char longp[PATH_MAX + 16];
	int rc;

	umask(0);
	CHECK_INT("fresh consumer", fresh(&sp, "op", SPOOL_CONSUME), 0);
	CHECK(sp.dirfd >= 0 && sp.tmpfd >= 0 && sp.newfd >= 0 &&
	    sp.curfd >= 0 && sp.rejfd >= 0 && sp.lockfd >= 0,
	    "consumer fds: got %d %d %d %d %d %d, want all >= 0", sp.dirfd,
	    sp.tmpfd, sp.newfd, sp.curfd, sp.rejfd, sp.lockfd);
	CHECK_MODE("lock file", mode_of(P("op", "lock")), 0600);
	spool_close(&sp);
	CHECK(sp.dirfd == -1 && sp.lockfd == -1 && sp.tmpfd == -1,
	    "spool_close: got fds %d %d %d, want -1", sp.dirfd, sp.lockfd,
	    sp.tmpfd);

	CHECK_INT("producer open", spool_open(&pr, P("op", NULL),
	    SPOOL_PRODUCE), 0);
	CHECK(pr.curfd == -1 && pr.rejfd == -1 && pr.lockfd == -1,
	    "producer fds: got cur %d rej %d lock %d, want -1", pr.curfd,
	    pr.rejfd, pr.lockfd);
	errno = 0;
	CHECK_ERRNO("producer spool_lock", spool_lock(&pr), -1, EBADF);
	spool_close(&pr);

	errno = 0;
	CHECK_ERRNO("open missing queue", spool_open(&sp, P("nosuch", NULL),
	    SPOOL_CONSUME), -1, ENOENT);
	CHECK(sp.dirfd == -1 && sp.tmpfd == -1,
	    "failed open: got fds %d %d, want -1", sp.dirfd, sp.tmpfd);

	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	errno = 0;
	CHECK_ERRNO("open over-long path", spool_open(&sp, longp,
	    SPOOL_PRODUCE), -1, ENAMETOOLONG);

	/* A queue whose new/ is a symlink is refused. */
	CHECK_INT("mkdirs ln", spool_mkdirs(P("ln", NULL), SPOOL_CONSUME), 0);
	rmdir(P("ln", "new"));
	CHECK_INT("plant new/ symlink", symlink(P("op", "new"),
	    P("ln", "new")), 0);
	errno = 0;
	rc = spool_open(&sp, P("ln", NULL), SPOOL_PRODUCE);
	/* O_DIRECTORY|O_NOFOLLOW on a link: Linux says ENOTDIR. */
	CHECK(rc == -1 && (errno == ENOTDIR || errno == ELOOP),
	    "open with new/ a symlink: got %d (%s), want -1 (ENOTDIR or "
	    "ELOOP)", rc, strerror(errno));

	/* A lock that is a symlink is refused and its target not created. */
	CHECK_INT("mkdirs lk", spool_mkdirs(P("lk", NULL), SPOOL_CONSUME), 0);
	CHECK_INT("plant lock symlink", symlink(P("lk-target", NULL),
	    P("lk", "lock")), 0);
	errno = 0;
	CHECK_ERRNO("open with lock a symlink", spool_open(&sp, P("lk", NULL),
	    SPOOL_CONSUME), -1, ELOOP);
	CHECK_INT("lock symlink target created", exists(P("lk-target", NULL)),
	    0);
}

/* Split name into time prefix and tag; 0 if the form is right. */
static int
name_parts(const char *name, char *prefix, size_t plen, const char **tag)
{
	static regex_t re;
	static int compiled;
	regmatch_t m[4];

	if (!compiled) {
		if (regcomp(&re, "^([0-9]{10,}\\.[0-9]{6})_([0-9]+)_"
		    "[0-9a-f]{8}\\.(.*)$", REG_EXTENDED) != 0)
			return -1;
		compiled = 1;
	}
	if (regexec(&re, name, 4, m, 0) != 0)
		return -1;
	if ((size_t)(m[1].rm_eo - m[1].rm_so) >= plen)
		return -1;
	memcpy(prefix, name, m[1].rm_eo);
	prefix[m[1].rm_eo] = '\0';
	if (atol(name + m[2].rm_so) != (long)getpid())
		return -1;
	*tag = name + m[3].rm_so;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_mkname(void)
{
	static const struct {
		const char *tag, *want;
	} tags[] = {
		{ "agent.data", "agent.data" },
		{ "238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data",
		  "238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data" },
		{ "a b", "a_b" },
		{ "a/b\\c", "a_b_c" },
		{ "\xc3\xa9t\xc3\xa9.txt", "__t__.txt" },
		{ ".hidden", "_hidden" },
		{ "..", "_." },
		{ "../../etc/passwd", "_._.._etc_passwd" },
		{ "x;rm -rf *", "x_rm_-rf__" },
		{ "\n\t\r\x7f\xff", "_____" },
		{ "-_.ok-", "-_.ok-" },
		{ "$(id)`id`|&", "__id__id___" },
	};
	char name[SPOOL_NAME_MAX], prefix[64], host[64], hs[64], what[256];
	char big[400];
	const char *tag;
	size_t i;

	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		snprintf(what, sizeof(what), "mkname tag #%zu", i);
		CHECK_INT(what, spool_mkname(name, sizeof(name), tags[i].tag),
		    0);
		CHECK(name_parts(name, prefix, sizeof(prefix), &tag) == 0,
		    "%s: got \"%s\", want <sec>.<usec>_<pid>_<rand8>.<tag>",
		    what, name);
		if (name_parts(name, prefix, sizeof(prefix), &tag) == 0)
			CHECK_STR(what, tag, tags[i].want);
	}

	/* Long tags are cut to 160 bytes; the name still fits. */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_INT("mkname long tag", spool_mkname(name, sizeof(name), big), 0);
	if (name_parts(name, prefix, sizeof(prefix), &tag) == 0)
		CHECK_INT("long tag length", strlen(tag), 160);
	else
		CHECK(0, "long tag: got \"%s\", want the name form", name);
	CHECK(strlen(name) < SPOOL_NAME_MAX, "long tag: got length %zu, "
	    "want < %d", strlen(name), SPOOL_NAME_MAX);

	/* No tag: the host name, sanitised the same way. */
	if (gethostname(host, sizeof(host)) == -1)
		strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i]; i++) {
		unsigned char c = host[i];

		hs[i] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_') ? c : '_';
	}
	hs[i] = '\0';
	if (hs[0] == '.')
		hs[0] = '_';
	CHECK_INT("mkname NULL tag", spool_mkname(name, sizeof(name), NULL),
	    0);
	if (name_parts(name, prefix, sizeof(prefix), &tag) == 0)
		CHECK_STR("NULL tag", tag, hs);
	CHECK_INT("mkname empty tag", spool_mkname(name, sizeof(name), ""), 0);
	if (name_parts(name, prefix, sizeof(prefix), &tag) == 0)
		CHECK_STR("empty tag", tag, hs);

	errno = 0;
	CHECK_ERRNO("mkname small buffer", spool_mkname(name, 20, "x"), -1,
	    ENAMETOOLONG);

	/* 10,000 names: all distinct, and in time order as made. */
	{
		enum { N = 10000 };
		char **v = calloc(N, sizeof(*v)), **s = calloc(N, sizeof(*s));
		char pa[64], pb[64];
		const char *ta;
		int bad_form = 0, bad_order = 0, dups = 0;

		if (v == NULL || s == NULL) {
			CHECK(0, "calloc failed");
			free(v);
			free(s);
			return;
		}
		for (i = 0; i < N; i++) {
			v[i] = malloc(SPOOL_NAME_MAX);
			if (v[i] == NULL || spool_mkname(v[i], SPOOL_NAME_MAX,
			    "t") == -1) {
				bad_form++;
				if (v[i] != NULL)
					v[i][0] = '\0';
				continue;
			}
			if (name_parts(v[i], pa, sizeof(pa), &ta) == -1 ||
			    strcmp(ta, "t") != 0)
				bad_form++;
		}
		for (i = 0; i + 1 < N; i++) {
			if (name_parts(v[i], pa, sizeof(pa), &ta) == -1 ||
			    name_parts(v[i + 1], pb, sizeof(pb), &ta) == -1)
				continue;
			/* Same length prefixes: strcmp order is time order. */
			if (strlen(pa) != strlen(pb) || strcmp(pa, pb) > 0)
				bad_order++;
		}
		memcpy(s, v, N * sizeof(*s));
		qsort(s, N, sizeof(*s), cmp_str);
		for (i = 0; i + 1 < N; i++)
			if (strcmp(s[i], s[i + 1]) == 0)
				dups++;
		CHECK_INT("10000 names: malformed", bad_form, 0);
		CHECK_INT("10000 names: out of time order", bad_order, 0);
		CHECK_INT("10000 names: duplicates", dups, 0);
		for (i = 0; i < N; i++)
			free(v[i]);
		free(v);
		free(s);
	}
}

static void
test_create(void)
{
	static const struct {
		mode_t umask, mode;
	} modes[] = {
		{ 0, 0640 }, { 022, 0640 }, { 077, 0640 }, { 077, 0600 },
		{ 0777, 0644 }, { 002, 0660 }, { 077, 0400 },
	};
	struct spool sp;
	char name[SPOOL_NAME_MAX], what[128], buf[64];
	int fd, fd2;

	umask(0);
	if (fresh(&sp, "cr", SPOOL_CONSUME) == -1) {
		CHECK(0, "cannot make queue cr: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		snprintf(what, sizeof(what), "create %04o under umask %03o",
		    (unsigned)modes[i].mode, (unsigned)modes[i].umask);
		spool_mkname(name, sizeof(name), "mode");
		umask(modes[i].umask);
		fd = spool_create(&sp, name, modes[i].mode);
		umask(0);
		CHECK(fd >= 0, "%s: got %d (%s), want a descriptor", what, fd,
		    strerror(errno));
		CHECK_MODE(what, mode_of(P("cr/tmp", name)), modes[i].mode);
		if (fd >= 0)
			spool_abort(&sp, fd, name);
	}

	/* O_EXCL: the same name twice is refused and the first kept. */
	spool_mkname(name, sizeof(name), "excl");
	fd = spool_create(&sp, name, SPOOL_MODE);
	CHECK(fd >= 0, "first create: got %d, want a descriptor", fd);
	CHECK_INT("write first", write(fd, "first", 5), 5);
	errno = 0;
	fd2 = spool_create(&sp, name, SPOOL_MODE);
	CHECK_ERRNO("second create of the same name", fd2, -1, EEXIST);
	CHECK_STR("first file kept", get_file(P("cr/tmp", name), buf,
	    sizeof(buf)), "first");
	if (fd2 >= 0)
		close(fd2);
	spool_abort(&sp, fd, name);
	CHECK_INT("spool_abort removes tmp file", exists(P("cr/tmp", name)),
	    0);

	/*
	 * A symlink planted in tmp/ is never followed, dangling or not.
	 * O_CREAT|O_EXCL fails with EEXIST before O_NOFOLLOW's ELOOP.
	 */
	CHECK_INT("dangling link", symlink(P("victim-new", NULL),
	    P("cr/tmp", "evil1")), 0);
	errno = 0;
	fd = spool_create(&sp, "evil1", SPOOL_MODE);
	CHECK(fd == -1 && (errno == EEXIST || errno == ELOOP),
	    "create over dangling symlink: got %d (%s), want -1 "
	    "(EEXIST or ELOOP)", fd, strerror(errno));
	CHECK_INT("dangling link target created", exists(P("victim-new",
	    NULL)), 0);
	put_file(P("victim", NULL), "precious");
	chmod(P("victim", NULL), 0600);
	CHECK_INT("link to file", symlink(P("victim", NULL),
	    P("cr/tmp", "evil2")), 0);
	errno = 0;
	fd = spool_create(&sp, "evil2", 0666);
	CHECK(fd == -1 && (errno == EEXIST || errno == ELOOP),
	    "create over symlink to file: got %d (%s), want -1 "
	    "(EEXIST or ELOOP)", fd, strerror(errno));
	CHECK_STR("symlink target content", get_file(P("victim", NULL), buf,
	    sizeof(buf)), "precious");
	CHECK_MODE("symlink target mode", mode_of(P("victim", NULL)), 0600);
	spool_close(&sp);
}

static void
test_commit(void)
{
	struct spool sp;
	char name[SPOOL_NAME_MAX], n2[SPOOL_NAME_MAX], buf[64];
	int fd;

	umask(022);
	if (fresh(&sp, "cm", SPOOL_PRODUCE) == -1) {
		CHECK(0, "cannot make queue cm: %s", strerror(errno));
		return;
	}
	spool_mkname(name, sizeof(name), "commit");
	fd = spool_create(&sp, name, SPOOL_MODE);
	CHECK_INT("write", write(fd, "hello", 5), 5);
	CHECK_INT("in tmp before commit", exists(P("cm/tmp", name)), 1);
	CHECK_INT("in new before commit", exists(P("cm/new", name)), 0);
	CHECK_INT("spool_commit", spool_commit(&sp, fd, name), 0);
	CHECK_INT("in tmp after commit", exists(P("cm/tmp", name)), 0);
	CHECK_INT("in new after commit", exists(P("cm/new", name)), 1);
	CHECK_STR("committed content", get_file(P("cm/new", name), buf,
	    sizeof(buf)), "hello");
	CHECK_MODE("committed mode", mode_of(P("cm/new", name)), SPOOL_MODE);

	/* Committing a name that is not in tmp/ fails and closes fd. */
	spool_mkname(n2, sizeof(n2), "other");
	fd = spool_create(&sp, n2, SPOOL_MODE);
	errno = 0;
	CHECK_ERRNO("commit under a wrong name", spool_commit(&sp, fd,
	    "no-such-name"), -1, ENOENT);
	CHECK_INT("fd closed by failed commit", fcntl(fd, F_GETFD), -1);
	CHECK_INT("wrong name: nothing in new", exists(P("cm/new",
	    "no-such-name")), 0);
	unlink(P("cm/tmp", n2));

	/* Batch: publish several, then one sync. */
	for (int i = 0; i < 3; i++) {
		spool_mkname(n2, sizeof(n2), "batch");
		fd = spool_create(&sp, n2, SPOOL_MODE);
		CHECK_INT("batch write", write(fd, "b", 1), 1);
		CHECK_INT("batch fsync+close", fsync(fd) | close(fd), 0);
		CHECK_INT("spool_publish", spool_publish(&sp, n2), 0);
		CHECK_INT("published in new", exists(P("cm/new", n2)), 1);
		CHECK_INT("published not in tmp", exists(P("cm/tmp", n2)), 0);
	}
	CHECK_INT("spool_sync", spool_sync(&sp), 0);

	/* spool_abort keeps errno. */
	spool_mkname(n2, sizeof(n2), "abort");
	fd = spool_create(&sp, n2, SPOOL_MODE);
	errno = ENOSPC;
	CHECK_INT("spool_abort", spool_abort(&sp, fd, n2), 0);
	CHECK_INT("spool_abort keeps errno", errno, ENOSPC);
	CHECK_INT("aborted file gone", exists(P("cm/tmp", n2)), 0);
	spool_close(&sp);
	umask(0);
}

static void
test_lock(void)
{
	struct spool a, b;

	umask(0);
	if (fresh(&a, "lk2", SPOOL_CONSUME) == -1 ||
	    spool_open(&b, P("lk2", NULL), SPOOL_CONSUME) == -1) {
		CHECK(0, "cannot open queue lk2 twice: %s", strerror(errno));
		return;
	}
	CHECK_INT("first spool_lock", spool_lock(&a), 0);
	CHECK_INT("second open: spool_lock busy", spool_lock(&b), 1);
	CHECK_INT("first spool_lock again", spool_lock(&a), 0);
	spool_close(&a);
	CHECK_INT("lock after the holder closed", spool_lock(&b), 0);
	spool_close(&b);
}

static void
test_consume(void)
{
	static const char *const cur_items[] = { "c3", "c1", "c2" };
	static const char *const new_items[] = {
		"b", "a", "10", "9", "c.x", ".tmp", "..z", "a b",
	};
	static const char *const sorted[] = {
		"10", "9", "a", "a b", "b", "c.x",
	};
	struct spool sp;
	char **names, buf[128];
	size_t n, i;
	int fd;

	umask(0);
	if (fresh(&sp, "cs", SPOOL_CONSUME) == -1) {
		CHECK(0, "cannot make queue cs: %s", strerror(errno));
		return;
	}

	/* Empty queue. */
	names = (char **)1;
	n = 99;
	CHECK_INT("scan empty", spool_scan(&sp, &names, &n), 0);
	CHECK_INT("scan empty: count", n, 0);
	spool_names_free(names, n);

	/* Recovery moves every cur/ item back, but not dot files. */
	for (i = 0; i < 3; i++)
		put_file(P("cs/cur", cur_items[i]), cur_items[i]);
	put_file(P("cs/cur", ".partial"), "x");
	CHECK_INT("spool_recover count", spool_recover(&sp), 3);
	for (i = 0; i < 3; i++) {
		CHECK_INT("recovered: in new", exists(P("cs/new",
		    cur_items[i])), 1);
		CHECK_INT("recovered: not in cur", exists(P("cs/cur",
		    cur_items[i])), 0);
	}
	CHECK_INT("recover leaves dot file", exists(P("cs/cur", ".partial")),
	    1);
	CHECK_INT("second spool_recover", spool_recover(&sp), 0);
	for (i = 0; i < 3; i++)
		unlink(P("cs/new", cur_items[i]));

	/*
	 * An item that cannot be moved back (a directory holds its name in
	 * new/): -1 with the reason, the others moved all the same.
	 */
	put_file(P("cs/cur", cur_items[0]), cur_items[0]);
	put_file(P("cs/cur", cur_items[1]), cur_items[1]);
	CHECK(mkdir(P("cs/new", cur_items[0]), 0700) == 0, "mkdir: %s",
	    strerror(errno));
	errno = 0;
	CHECK_INT("spool_recover: one stuck", spool_recover(&sp), -1);
	CHECK_INT("spool_recover: errno", errno, EISDIR);
	CHECK_INT("stuck: still in cur", exists(P("cs/cur", cur_items[0])),
	    1);
	CHECK_INT("the other: in new", exists(P("cs/new", cur_items[1])), 1);
	rmdir(P("cs/new", cur_items[0]));
	CHECK_INT("then it goes", spool_recover(&sp), 1);
	unlink(P("cs/new", cur_items[0]));
	unlink(P("cs/new", cur_items[1]));

	/* Scan: sorted by name, dot files skipped. */
	for (i = 0; i < sizeof(new_items) / sizeof(new_items[0]); i++)
		put_file(P("cs/new", new_items[i]), new_items[i]);
	CHECK_INT("spool_scan", spool_scan(&sp, &names, &n), 0);
	CHECK_INT("scan count", n, sizeof(sorted) / sizeof(sorted[0]));
	for (i = 0; i < n && i < sizeof(sorted) / sizeof(sorted[0]); i++)
		CHECK_STR("scan order", names[i], sorted[i]);
	spool_names_free(names, n);

	/* Claim: 0 the first time, 1 once it is gone. */
	CHECK_INT("claim a", spool_claim(&sp, "a"), 0);
	CHECK_INT("claimed: in cur", exists(P("cs/cur", "a")), 1);
	CHECK_INT("claimed: not in new", exists(P("cs/new", "a")), 0);
	CHECK_INT("claim a again", spool_claim(&sp, "a"), 1);
	CHECK_INT("claim never existed", spool_claim(&sp, "nope"), 1);

	/* Open the claimed item: content; symlinks and FIFOs are safe. */
	fd = spool_open_cur(&sp, "a");
	CHECK(fd >= 0, "spool_open_cur: got %d, want a descriptor", fd);
	if (fd >= 0) {
		ssize_t r = read(fd, buf, sizeof(buf) - 1);

		buf[r > 0 ? r : 0] = '\0';
		CHECK_STR("open_cur content", buf, "a");
		close(fd);
	}
	put_file(P("target", NULL), "secret");
	CHECK_INT("plant cur/ symlink", symlink(P("target", NULL),
	    P("cs/cur", "link")), 0);
	errno = 0;
	CHECK_ERRNO("spool_open_cur on a symlink", spool_open_cur(&sp,
	    "link"), -1, ELOOP);
	CHECK_INT("mkfifo", mkfifo(P("cs/cur", "fifo"), 0600), 0);
	alarm(10);		/* a blocking open would hang here */
	fd = spool_open_cur(&sp, "fifo");
	alarm(0);
	CHECK(fd >= 0, "spool_open_cur on a FIFO: got %d (%s), want a "
	    "descriptor without blocking", fd, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(P("cs/cur", "link"));
	unlink(P("cs/cur", "fifo"));

	/* Done removes the item. */
	CHECK_INT("spool_done", spool_done(&sp, "a"), 0);
	CHECK_INT("done: gone from cur", exists(P("cs/cur", "a")), 0);
	errno = 0;
	CHECK_ERRNO("spool_done twice", spool_done(&sp, "a"), -1, ENOENT);

	/* Retry puts the item back in new/. */
	CHECK_INT("claim b", spool_claim(&sp, "b"), 0);
	CHECK_INT("spool_retry", spool_retry(&sp, "b"), 0);
	CHECK_INT("retry: in new", exists(P("cs/new", "b")), 1);
	CHECK_INT("retry: not in cur", exists(P("cs/cur", "b")), 0);
	CHECK_STR("retry: content", get_file(P("cs/new", "b"), buf,
	    sizeof(buf)), "b");
	errno = 0;
	CHECK_ERRNO("spool_retry unclaimed", spool_retry(&sp, "zz"), -1,
	    ENOENT);
	spool_close(&sp);
}

/* Split s into lines; returns the count (at most max). */
static size_t
split_lines(char *s, char **lines, size_t max)
{
	size_t n = 0;
	char *p = s, *nl;

	while (n < max && (nl = strchr(p, '\n')) != NULL) {
		*nl = '\0';
		lines[n++] = p;
		p = nl + 1;
	}
	return n;
}

static void
test_reject(void)
{
	static const struct {
		const char *reason, *want;
	} reasons[] = {
		{ "schema: bad", "reason=schema: bad" },
		{ "line1\nline2", "reason=line1?line2" },
		{ "cr\rtab\tdel\x7f" "bel\a" "esc\x1b[0m",
		  "reason=cr?tab?del?bel?esc?[0m" },
		{ "fake\nitem=other\ncode=0", "reason=fake?item=other?code=0" },
		{ "\xc3\xa9t\xc3\xa9 kept", "reason=\xc3\xa9t\xc3\xa9 kept" },
		{ "", "reason=" },
	};
	struct spool sp;
	char name[SPOOL_NAME_MAX], rpath[SPOOL_NAME_MAX + 16], buf[4096];
	char what[128], *lines[16];
	regex_t tre;
	size_t nl;
	int trx;

	umask(0);
	if (fresh(&sp, "rj", SPOOL_CONSUME) == -1) {
		CHECK(0, "cannot make queue rj: %s", strerror(errno));
		return;
	}
	trx = regcomp(&tre, "^time=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
	    "[0-9]{2}:[0-9]{2}Z$", REG_EXTENDED | REG_NOSUB);
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
		snprintf(what, sizeof(what), "reject #%zu", i);
		spool_mkname(name, sizeof(name), "bad.data");
		put_file(P("rj/new", name), "<xml/>");
		CHECK_INT("claim for reject", spool_claim(&sp, name), 0);
		CHECK_INT(what, spool_reject(&sp, name, "xml-validate", 65,
		    "%s", reasons[i].reason), 0);
		snprintf(rpath, sizeof(rpath), "%s.reason", name);
		CHECK_INT("rejected: item in reject/", exists(P("rj/reject",
		    name)), 1);
		CHECK_INT("rejected: not in cur/", exists(P("rj/cur", name)),
		    0);
		CHECK_STR("rejected: content kept", get_file(P("rj/reject",
		    name), buf, sizeof(buf)), "<xml/>");
		CHECK_INT("reason file in reject/", exists(P("rj/reject",
		    rpath)), 1);
		CHECK_INT("no reason file left in tmp/", exists(P("rj/tmp",
		    rpath)), 0);
		CHECK_MODE("reason file mode", mode_of(P("rj/reject", rpath)),
		    SPOOL_MODE);
		get_file(P("rj/reject", rpath), buf, sizeof(buf));
		CHECK(strlen(buf) > 0 && buf[strlen(buf) - 1] == '\n',
		    "%s: reason file does not end with a newline", what);
		nl = split_lines(buf, lines, 16);
		CHECK_INT("reason file lines", nl, 5);
		if (nl == 5) {
			char want[SPOOL_NAME_MAX + 8];

			snprintf(want, sizeof(want), "item=%s", name);
			CHECK_STR(what, lines[0], want);
			CHECK_STR(what, lines[1], "stage=xml-validate");
			CHECK_STR(what, lines[2], "code=65");
			CHECK(trx == 0 && regexec(&tre, lines[3], 0, NULL,
			    0) == 0, "%s: got \"%s\", want time=<ISO 8601>Z",
			    what, lines[3]);
			CHECK_STR(what, lines[4], reasons[i].want);
		}
	}
	if (trx == 0)
		regfree(&tre);

	/* A long reason is cut, still one line. */
	{
		char longr[3000];

		memset(longr, 'r', sizeof(longr) - 1);
		longr[sizeof(longr) - 1] = '\0';
		spool_mkname(name, sizeof(name), "long");
		put_file(P("rj/new", name), "x");
		spool_claim(&sp, name);
		CHECK_INT("reject long reason", spool_reject(&sp, name, "s", 1,
		    "%s", longr), 0);
		snprintf(rpath, sizeof(rpath), "%s.reason", name);
		get_file(P("rj/reject", rpath), buf, sizeof(buf));
		nl = split_lines(buf, lines, 16);
		CHECK_INT("long reason: lines", nl, 5);
		if (nl == 5)
			CHECK_INT("long reason: line length", strlen(lines[4]),
			    strlen("reason=") + 1023);
	}

	/* Rejecting twice (a crash between the renames) stays correct. */
	spool_mkname(name, sizeof(name), "twice");
	put_file(P("rj/new", name), "x");
	spool_claim(&sp, name);
	snprintf(rpath, sizeof(rpath), "%s.reason", name);
	put_file(P("rj/reject", rpath), "stale");
	put_file(P("rj/tmp", rpath), "stale tmp");
	CHECK_INT("reject over stale reason files", spool_reject(&sp, name,
	    "s", 2, "fresh"), 0);
	get_file(P("rj/reject", rpath), buf, sizeof(buf));
	CHECK(strstr(buf, "reason=fresh\n") != NULL,
	    "stale reason: got \"%.60s\", want the fresh reason", buf);

	/* An item that is not in cur/ cannot be rejected. */
	errno = 0;
	CHECK_ERRNO("reject unclaimed item", spool_reject(&sp, "gone", "s", 1,
	    "x"), -1, ENOENT);

	/* A name too long for NAME.reason is refused. */
	{
		char huge[SPOOL_NAME_MAX + 32];

		memset(huge, 'n', sizeof(huge) - 1);
		huge[sizeof(huge) - 1] = '\0';
		errno = 0;
		CHECK_ERRNO("reject over-long name", spool_reject(&sp, huge,
		    "s", 1, "x"), -1, ENAMETOOLONG);
	}
	spool_close(&sp);
}

/* Set the mtime of path (link itself) to now - age seconds. */
static int
age_file(const char *path, time_t age)
{
	struct timespec ts[2];

	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	return utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
}

static void
test_clean(void)
{
	static const struct {
		const char	*name;
		time_t		 age;
		int		 kind;	/* 0 file, 1 dir, 2 symlink */
		int		 gone;
	} items[] = {
		{ "old", SPOOL_TMP_MAXAGE + 3600, 0, 1 },
		{ ".old-dot", SPOOL_TMP_MAXAGE + 60, 0, 1 },
		{ "fresh", 0, 0, 0 },
		{ "almost", SPOOL_TMP_MAXAGE - 60, 0, 0 },
		{ "future", -3600, 0, 0 },
		{ "old-dir", SPOOL_TMP_MAXAGE + 3600, 1, 0 },
		/* A segment: its producer hands it on, never the clean. */
		{ "1.0_1_0.tentacle-recv.seg", SPOOL_TMP_MAXAGE + 3600, 0, 0 },
		{ "old.segment", SPOOL_TMP_MAXAGE + 3600, 0, 1 },
		{ "old-link", SPOOL_TMP_MAXAGE + 3600, 2, 1 },
	};
	struct spool sp;
	char what[128], buf[32];
	int want = 0;

	umask(0);
	if (fresh(&sp, "cl", SPOOL_CONSUME) == -1) {
		CHECK(0, "cannot make queue cl: %s", strerror(errno));
		return;
	}
	put_file(P("cl-target", NULL), "keep");
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		const char *p = P("cl/tmp", items[i].name);

		if (items[i].kind == 0)
			put_file(p, "x");
		else if (items[i].kind == 1)
			mkdir(p, 0700);
		else
			CHECK_INT("symlink", symlink(P("cl-target", NULL), p),
			    0);
		CHECK_INT("age", age_file(p, items[i].age), 0);
		want += items[i].gone;
	}
	/* A killed consumer's status line in the making: gone after a
	 * minute; a fresh one, the line itself and other names stay. */
	put_file(P("cl", ".status.12345"), "x");
	CHECK_INT("age", age_file(P("cl", ".status.12345"),
	    SPOOL_STATUS_MAXAGE + 60), 0);
	want++;
	put_file(P("cl", ".status.777"), "x");
	put_file(P("cl", ".status.x1"), "x");
	CHECK_INT("age", age_file(P("cl", ".status.x1"), 3600), 0);
	put_file(P("cl", "status"), "line");
	CHECK_INT("age", age_file(P("cl", "status"), 3600), 0);
	CHECK_INT("spool_clean_tmp count", spool_clean_tmp(&sp,
	    SPOOL_TMP_MAXAGE), want);
	CHECK_INT("old .status.<pid> removed", exists(P("cl", ".status.12345")),
	    0);
	CHECK_INT("fresh .status.<pid> kept", exists(P("cl", ".status.777")), 1);
	CHECK_INT("other name kept", exists(P("cl", ".status.x1")), 1);
	CHECK_INT("status kept", exists(P("cl", "status")), 1);
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		snprintf(what, sizeof(what), "after clean: tmp/%s exists",
		    items[i].name);
		CHECK_INT(what, exists(P("cl/tmp", items[i].name)),
		    !items[i].gone);
	}
	CHECK_STR("link target untouched", get_file(P("cl-target", NULL),
	    buf, sizeof(buf)), "keep");
	CHECK_INT("second clean", spool_clean_tmp(&sp, SPOOL_TMP_MAXAGE), 0);
	spool_close(&sp);
}

/* The inode of path, 0 if it cannot be stat'ed. */
static ino_t
ino_of(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 ? st.st_ino : 0;
}

/*
 * The status line: the first replaces nothing; from the second on it
 * trades places with .status.<pid>, which keeps the former line, so no
 * inode is made or freed; a .status.<pid> that is a symlink or has a
 * second link is never written through; spool_status_end removes it.
 */
static void
test_status(void)
{
	struct spool sp;
	char buf[512], tmp[64], want[32];
	ino_t a, b;

	CHECK_INT("status: fresh", fresh(&sp, "st", SPOOL_CONSUME), 0);
	snprintf(tmp, sizeof(tmp), ".status.%ld", (long)getpid());
	CHECK_INT("status: put 1", spool_status_put(&sp, "t", 0, 1, 1, 0, 0,
	    5), 0);
	CHECK(strstr(get_file(P("st", "status"), buf, sizeof(buf)),
	    "stage=t ") == buf && strstr(buf, " seen=1 ") != NULL,
	    "status: line 1: %s", buf);
	CHECK_INT("status: no temporary after the first", exists(P("st", tmp)),
	    0);
	CHECK_INT("status: put 2", spool_status_put(&sp, "t", 0, 22, 22, 0, 0,
	    5), 0);
	CHECK(strstr(get_file(P("st", "status"), buf, sizeof(buf)),
	    " seen=22 ") != NULL, "status: line 2: %s", buf);
	CHECK(strstr(get_file(P("st", tmp), buf, sizeof(buf)), " seen=1 ") !=
	    NULL, "status: the former line kept aside: %s", buf);
	CHECK_INT("status: mode", (int)mode_of(P("st", "status")), 0644);
	a = ino_of(P("st", "status"));
	b = ino_of(P("st", tmp));
	for (int i = 3; i < 6; i++) {
		snprintf(want, sizeof(want), " seen=%d ", i);
		CHECK_INT("status: put", spool_status_put(&sp, "t", 0,
		    (unsigned long)i, 0, 0, 0, 5), 0);
		CHECK(strstr(get_file(P("st", "status"), buf, sizeof(buf)),
		    want) != NULL && strchr(buf, '\n') == buf + strlen(buf) - 1,
		    "status: line %d whole: %s", i, buf);
		CHECK((ino_of(P("st", "status")) == a &&
		    ino_of(P("st", tmp)) == b) || (ino_of(P("st", "status")) ==
		    b && ino_of(P("st", tmp)) == a),
		    "status: put %d made no inode", i);
	}
	/* A symlink or a second link in its place: written around. */
	put_file(P("st-target", NULL), "keep");
	unlink(P("st", tmp));
	CHECK_INT("status: symlink", symlink(P("st-target", NULL), P("st",
	    tmp)), 0);
	CHECK_INT("status: put past a symlink", spool_status_put(&sp, "t", 0,
	    7, 0, 0, 0, 5), 0);
	CHECK_STR("status: symlink target untouched", get_file(P("st-target",
	    NULL), buf, sizeof(buf)), "keep");
	unlink(P("st", tmp));
	CHECK_INT("status: hard link", link(P("st-target", NULL), P("st", tmp)),
	    0);
	CHECK_INT("status: put past a hard link", spool_status_put(&sp, "t", 0,
	    8, 0, 0, 0, 5), 0);
	CHECK_STR("status: linked file untouched", get_file(P("st-target",
	    NULL), buf, sizeof(buf)), "keep");
	CHECK(strstr(get_file(P("st", "status"), buf, sizeof(buf)),
	    " seen=8 ") != NULL, "status: line 8: %s", buf);
	/* A FIFO (the open must not wait for a reader) or a directory. */
	unlink(P("st", tmp));
	CHECK_INT("status: fifo", mkfifo(P("st", tmp), 0644), 0);
	CHECK_INT("status: put past a fifo", spool_status_put(&sp, "t", 0, 9,
	    0, 0, 0, 5), 0);
	CHECK(strstr(get_file(P("st", "status"), buf, sizeof(buf)),
	    " seen=9 ") != NULL, "status: line 9: %s", buf);
	unlink(P("st", tmp));
	CHECK_INT("status: dir", mkdir(P("st", tmp), 0755), 0);
	CHECK_INT("status: put past a directory", spool_status_put(&sp, "t", 0,
	    10, 0, 0, 0, 5), 0);
	CHECK(strstr(get_file(P("st", "status"), buf, sizeof(buf)),
	    " seen=10 ") != NULL, "status: line 10: %s", buf);
	spool_status_end(&sp);
	CHECK_INT("status: end removes the temporary", exists(P("st", tmp)), 0);
	CHECK_INT("status: end keeps the line", exists(P("st", "status")), 1);
	spool_close(&sp);
}

/*
 * spool_scan_max against the whole sorted list: 300 names in random
 * order, read at many sizes (gathered to twice max, cut, and filtered by
 * the last kept): always the first max, sorted, and *more when some are
 * left.
 */
static void
test_scan_max(void)
{
	enum { N = 300 };
	static const size_t sizes[] = { 1, 2, 3, 7, 64, 149, 150, 151, 299,
	    300, 301, 100000 };
	char want[N][16], what[96], **names;
	struct spool sp;
	size_t n;
	int more;

	if (fresh(&sp, "sm", SPOOL_CONSUME) == -1) {
		CHECK(0, "cannot make queue sm: %s", strerror(errno));
		return;
	}
	srandom(42);
	for (unsigned i = 0; i < N; i++) {
		/* A repeat would name the same file: each is unique. */
		snprintf(want[i], sizeof(want[i]), "%08lu.%03u",
		    (unsigned long)random() % 100000000UL, i % 1000);
		put_file(P("sm/new", want[i]), "x");
	}
	qsort(want, N, sizeof(want[0]), (int (*)(const void *,
	    const void *))strcmp);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t max = sizes[k], exp = max < N ? max : N;
		int ok = 1;

		CHECK_INT("scan", spool_scan_max(&sp, max, &names, &n, &more),
		    0);
		snprintf(what, sizeof(what), "max %zu: count", max);
		CHECK_INT(what, (long long)n, (long long)exp);
		for (size_t i = 0; i < n && i < exp; i++)
			ok &= strcmp(names[i], want[i]) == 0;
		snprintf(what, sizeof(what), "max %zu: the first, in order",
		    max);
		CHECK(ok, "%s", what);
		snprintf(what, sizeof(what), "max %zu: more", max);
		CHECK_INT(what, more, max < N);
		spool_names_free(names, n);
	}
	spool_close(&sp);
}

/* Producer and consumer end to end, as two stages would run. */
static void
test_flow(void)
{
	enum { N = 50 };
	struct spool pr, co;
	char name[SPOOL_NAME_MAX], data[32], buf[32], **names;
	size_t n;
	int fd, ok = 0;

	umask(027);
	if (spool_mkdirs(P("fl", NULL), SPOOL_CONSUME) == -1 ||
	    spool_open(&pr, P("fl", NULL), SPOOL_PRODUCE) == -1 ||
	    spool_open(&co, P("fl", NULL), SPOOL_CONSUME) == -1) {
		CHECK(0, "cannot open queue fl: %s", strerror(errno));
		umask(0);
		return;
	}
	for (int i = 0; i < N; i++) {
		snprintf(data, sizeof(data), "item %d", i);
		spool_mkname(name, sizeof(name), "flow.data");
		if ((fd = spool_create(&pr, name, SPOOL_MODE)) == -1 ||
		    write(fd, data, strlen(data)) != (ssize_t)strlen(data) ||
		    spool_commit(&pr, fd, name) == -1)
			CHECK(0, "produce %d: %s", i, strerror(errno));
	}
	CHECK_INT("consumer lock", spool_lock(&co), 0);
	CHECK_INT("consumer recover", spool_recover(&co), 0);
	CHECK_INT("consumer scan", spool_scan(&co, &names, &n), 0);
	CHECK_INT("consumer sees all", n, N);
	for (size_t i = 0; i < n; i++) {
		snprintf(data, sizeof(data), "item %zu", i);
		if (spool_claim(&co, names[i]) != 0)
			continue;
		if ((fd = spool_open_cur(&co, names[i])) >= 0) {
			ssize_t r = read(fd, buf, sizeof(buf) - 1);

			buf[r > 0 ? r : 0] = '\0';
			close(fd);
			/* Sorted names are in production order. */
			if (strcmp(buf, data) == 0 &&
			    spool_done(&co, names[i]) == 0)
				ok++;
		}
	}
	spool_names_free(names, n);
	CHECK_INT("items consumed in order", ok, N);
	CHECK_INT("queue empty", spool_scan(&co, &names, &n), 0);
	CHECK_INT("queue empty: count", n, 0);
	spool_names_free(names, n);
	spool_close(&pr);
	spool_close(&co);
	umask(0);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	mode_t old = umask(0);

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (t == NULL || *t == '\0')
		t = "/tmp";
	if ((size_t)snprintf(root, sizeof(root), "%s/test_spool.XXXXXX", t) >=
	    sizeof(root) || mkdtemp(root) == NULL) {
		printf("test_spool: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_mkdirs();
	test_open();
	test_mkname();
	test_create();
	test_commit();
	test_lock();
	test_consume();
	test_reject();
	test_clean();
	test_status();
	test_scan_max();
	test_flow();
	umask(old);
	if (nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS) == -1)
		printf("test_spool: cannot remove %s: %s\n", root,
		    strerror(errno));
	return check_report("test_spool");
}
