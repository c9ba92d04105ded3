/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/log.c: log_vis escaping of untrusted bytes (no
 * control character, quote or newline reaches a log line; input is cut
 * at LOG_VIS_MAX and marked) and the line format written to a log file
 * and to stderr.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <vis.h>

#include "log.h"

#include "check.h"

static void
test_vis_table(void)
{
	static const struct {
		const char	*in;
		size_t		 len;
		const char	*want;
	} t[] = {
		{ "", 0, "" },
		{ "hello", 5, "hello" },
		{ "a b", 3, "a b" },
		{ "a\"b", 3, "a\\\"b" },
		{ "a\\b", 3, "a\\\\b" },
		{ "\\n", 2, "\\\\n" },
		{ "\n\r\t", 3, "\\n\\r\\t" },
		{ "\v\b\a\f", 4, "\\v\\b\\a\\f" },
		{ "\x1b[31mred", 8, "\\033[31mred" },
		{ "\x01\x1f\x7f", 3, "\\001\\037\\177" },
		{ "\xc3\xa9t\xc3\xa9", 5, "\\303\\251t\\303\\251" },
		{ "\xff\xfe\x80", 3, "\\377\\376\\200" },
		{ "a\0b", 3, "a\\0b" },
		{ "\0" "1", 2, "\\0001" },
		{ "'`$(x)|&;<>", 11, "'`$(x)|&;<>" },
		{ "x\" event=forged", 15, "x\\\" event=forged" },
		{ "line\nevent=forged", 17, "line\\nevent=forged" },
		{ "%s%n", 4, "%s%n" },
	};
	char out[LOG_VISBUF], what[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *r;

		snprintf(what, sizeof(what), "log_vis #%zu", i);
		memset(out, '#', sizeof(out));
		r = log_vis(out, sizeof(out), t[i].in, t[i].len);
		CHECK(r == out, "%s: returns %p, want dst %p", what,
		    (const void *)r, (void *)out);
		CHECK_STR(what, out, t[i].want);
	}
}

static void
test_vis_cut(void)
{
	static const struct {
		int		 byte;
		size_t		 len;
		const char	*unit;	/* the byte escaped */
		size_t		 reps;	/* units in the output */
		int		 marked;	/* ends with "..." */
	} t[] = {
		{ 'a', 199, "a", 199, 0 }, { 'a', 200, "a", 200, 0 },
		{ 'a', 201, "a", 200, 1 }, { 'a', 5000, "a", 200, 1 },
		{ 0x01, 200, "\\001", 200, 0 }, { 0x01, 201, "\\001", 200, 1 },
		{ 0xff, 4096, "\\377", 200, 1 }, { '"', 300, "\\\"", 200, 1 },
	};
	char in[5000], out[LOG_VISBUF], want[LOG_VISBUF], what[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t o = 0;

		snprintf(what, sizeof(what), "cut #%zu (%zu x 0x%02x)", i,
		    t[i].len, t[i].byte);
		memset(in, t[i].byte, t[i].len);
		for (size_t k = 0; k < t[i].reps; k++)
			o += strlcpy(want + o, t[i].unit, sizeof(want) - o);
		if (t[i].marked)
			strlcat(want, "...", sizeof(want));
		memset(out, '#', sizeof(out));
		log_vis(out, sizeof(out), in, t[i].len);
		CHECK_INT(what, strlen(out), strlen(want));
		CHECK_STR(what, out, want);
	}
}

/* 1 if s has only printable ASCII and every '"' is escaped. */
static int
clean(const char *s)
{
	for (size_t i = 0; s[i] != '\0'; i++) {
		unsigned char c = s[i];

		if (c < 0x20 || c > 0x7e)
			return 0;
		if (c == '\\' && s[i + 1] != '\0') {
			i++;	/* skip the escaped character */
			continue;
		}
		if (c == '"')
			return 0;
	}
	return 1;
}

/* Every byte alone, then random buffers: clean and reversible. */
static void
test_vis_property(void)
{
	char in[LOG_VIS_MAX], out[LOG_VISBUF], back[LOG_VISBUF];
	int bad_clean = 0, bad_back = 0;
	unsigned seed = 12345;

	for (int b = 0; b < 256; b++) {
		in[0] = (char)b;
		log_vis(out, sizeof(out), in, 1);
		if (!clean(out)) {
			bad_clean++;
			printf("byte 0x%02x: got \"%s\", not clean\n", b,
			    check_show(out, 0));
		}
		if (strunvis(back, out) != 1 || back[0] != in[0])
			bad_back++;
	}
	CHECK_INT("single bytes not clean", bad_clean, 0);
	CHECK_INT("single bytes not reversible", bad_back, 0);

	bad_clean = bad_back = 0;
	for (int r = 0; r < 2000; r++) {
		size_t len;
		int n;

		seed = seed * 1103515245 + 12345;
		len = (seed >> 8) % (LOG_VIS_MAX + 1);
		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245 + 12345;
			/* Bias towards the interesting bytes. */
			in[i] = (seed >> 16) % 3 == 0 ? "\"\\\n\r\t\0\x7f\xff"
			    [(seed >> 20) % 8] : (char)(seed >> 16);
		}
		log_vis(out, sizeof(out), in, len);
		if (!clean(out))
			bad_clean++;
		n = strunvis(back, out);
		if (n != (int)len || memcmp(back, in, len) != 0)
			bad_back++;
	}
	CHECK_INT("random buffers not clean", bad_clean, 0);
	CHECK_INT("random buffers not reversible", bad_back, 0);
}

/*
 * Destinations smaller than the escaped text: nothing is written past
 * dstlen, the result is terminated, and no escape is cut in half.
 */
static void
test_vis_small(void)
{
	static const char in[] = "ab\x01" "cd\"ef";
	const char *full = "ab\\001cd\\\"ef";
	char big[64], back[64], what[128], first[256] = "";
	int r, nbad = 0;

	memset(big, '#', sizeof(big));
	log_vis(big, 0, in, sizeof(in) - 1);
	CHECK_INT("dstlen 0: untouched", big[0], '#');

	for (size_t d = 1; d <= strlen(full) + 1; d++) {
		int bad = 0;

		memset(big, '#', sizeof(big));
		log_vis(big, d, in, sizeof(in) - 1);
		for (size_t k = d; k < sizeof(big); k++)
			if (big[k] != '#')
				bad |= 1;
		/* A cut output may end in the "..." marker: drop it. */
		if (memchr(big, '\0', d) != NULL && strlen(big) < strlen(full) &&
		    strlen(big) >= 3 && strcmp(big + strlen(big) - 3, "...") == 0)
			big[strlen(big) - 3] = '\0';
		if (memchr(big, '\0', d) == NULL)
			bad |= 2;
		else if (strncmp(full, big, strlen(big)) != 0 ||
		    (r = strunvis(back, big)) < 0 ||
		    (size_t)r > sizeof(in) - 1 || memcmp(back, in, r) != 0)
			bad |= 4;
		if (bad != 0 && nbad++ == 0) {
			snprintf(what, sizeof(what), "%s%s%s",
			    bad & 1 ? " writes past dstlen" : "",
			    bad & 2 ? ", not terminated within dstlen" : "",
			    bad & 4 ? ", not whole escapes" : "");
			snprintf(first, sizeof(first), "dstlen %zu: got "
			    "\"%s\"%s", d, check_show(big, 0), what);
		}
	}
	CHECK(nbad == 0, "log_vis(dst, dstlen, \"ab\\x01cd\\\"ef\", 9), "
	    "dstlen 1..%zu: got %d sizes wrong (first: %s), want 0: a "
	    "terminated, whole-escape prefix within dst[0..dstlen-1]",
	    strlen(full) + 1, nbad, first);
}

/* Read path into buf (NUL-terminated); returns the length. */
static size_t
slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n;

	buf[0] = '\0';
	if (fd == -1)
		return 0;
	while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	return got;
}

/* Count the lines of buf and check each against re; returns the count. */
static int
check_lines(const char *buf, regex_t *re, const char *what)
{
	int n = 0;
	char line[9000];

	for (const char *p = buf, *nl; (nl = strchr(p, '\n')) != NULL;
	    p = nl + 1) {
		size_t ll = nl - p;

		n++;
		if (ll >= sizeof(line)) {
			CHECK(0, "%s: line %d is %zu bytes long", what, n, ll);
			continue;
		}
		memcpy(line, p, ll);
		line[ll] = '\0';
		CHECK(regexec(re, line, 0, NULL, 0) == 0, "%s: line %d: got "
		    "\"%s\", want <time> test_log[pid]: ...", what, n,
		    check_show(line, 0));
	}
	return n;
}

static void
test_lines(const char *dir)
{
	char path[PATH_MAX + 16], epath[PATH_MAX + 16], pat[128];
	char *buf = malloc(64 * 1024), big[10000];
	regex_t re;
	int devnull, saved, efd, st;
	pid_t pid;

	if (buf == NULL)
		return;
	snprintf(path, sizeof(path), "%s/log", dir);
	snprintf(epath, sizeof(epath), "%s/stderr", dir);
	snprintf(pat, sizeof(pat), "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
	    "[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z test_log\\[[0-9]+\\]: event=");
	if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) != 0) {
		CHECK(0, "regcomp");
		free(buf);
		return;
	}

	/* Not in the foreground and no tty: only syslog and the file. */
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	devnull = open("/dev/null", O_WRONLY);
	dup2(devnull, STDERR_FILENO);
	log_init("test_log", LOG_USER, 0);
	dup2(saved, STDERR_FILENO);
	close(devnull);

	CHECK_INT("log_setfile in a missing directory", log_setfile(
	    "/nonexistent-dir/x/log"), -1);
	CHECK_INT("log_setfile", log_setfile(path), 0);
	log_setverbose(0);
	log_info("event=t.info v=%s", "a\nb\rc");
	log_debug("event=t.debug1");
	log_setverbose(1);
	log_debug("event=t.debug2");
	errno = ENOENT;
	log_warn("event=t.warn");
	CHECK_INT("log_warn keeps errno", errno, ENOENT);
	log_warnx("event=t.warnx");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("event=t.big v=%s", big);
	fflush(stdout);
	if ((pid = fork()) == 0)
		fatalx(75, "event=t.fatalx");
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 75, "fatalx: got status 0x%x, want exit 75",
	    st);
	if ((pid = fork()) == 0) {
		errno = EACCES;
		fatal(77, "event=t.fatal");
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 77, "fatal: got status 0x%x, want exit 77",
	    st);

	slurp(path, buf, 64 * 1024);
	CHECK_INT("log file lines", check_lines(buf, &re, "log file"), 7);
	snprintf(pat, sizeof(pat), " test_log[%d]: event=t.info v=a b c\n",
	    (int)getpid());
	CHECK(strstr(buf, pat) != NULL, "newline and CR in a value: want "
	    "\"%s\"", check_show(pat, 0));
	CHECK(strstr(buf, "t.debug1") == NULL, "debug without -v: logged");
	CHECK(strstr(buf, ": event=t.debug2\n") != NULL,
	    "debug with -v: not logged");
	CHECK(strstr(buf, ": event=t.warn error=\"No such file or "
	    "directory\"\n") != NULL, "log_warn: want error=\"strerror\"");
	CHECK(strstr(buf, ": event=t.warnx\n") != NULL,
	    "log_warnx: want no error=");
	CHECK(strstr(buf, ": event=t.fatalx\n") != NULL, "fatalx: not logged");
	CHECK(strstr(buf, ": event=t.fatal error=\"Permission denied\"\n") !=
	    NULL, "fatal: want error=\"Permission denied\"");
	{
		const char *b = strstr(buf, "event=t.big v=");
		const char *e = b ? strchr(b, '\n') : NULL;

		CHECK(b != NULL && e != NULL && e - b > 8000 && e - b < 8300,
		    "long message: got %td bytes, want it cut below 8300",
		    b && e ? e - b : (ptrdiff_t)-1);
	}

	/* Foreground: a copy on stderr; quiet keeps only warnings. */
	efd = open(epath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fflush(stderr);
	dup2(efd, STDERR_FILENO);
	log_init("test_log", LOG_USER, 1);
	log_info("event=t.fg.info");
	log_setquiet(1);
	log_info("event=t.fg.quiet.info");
	log_warnx("event=t.fg.quiet.warnx");
	log_setquiet(0);
	dup2(saved, STDERR_FILENO);
	close(efd);
	close(saved);
	slurp(epath, buf, 64 * 1024);
	CHECK_INT("stderr lines", check_lines(buf, &re, "stderr"), 2);
	CHECK(strstr(buf, "event=t.fg.info\n") != NULL,
	    "foreground: info not on stderr");
	CHECK(strstr(buf, "t.fg.quiet.info") == NULL,
	    "quiet: info on stderr");
	CHECK(strstr(buf, "event=t.fg.quiet.warnx\n") != NULL,
	    "quiet: warning not on stderr");

	regfree(&re);
	free(buf);
	unlink(path);
	unlink(epath);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	char dir[PATH_MAX];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (t == NULL || *t == '\0')
		t = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/test_log.XXXXXX", t) >=
	    sizeof(dir) || mkdtemp(dir) == NULL) {
		printf("test_log: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_vis_table();
	test_vis_cut();
	test_vis_property();
	test_vis_small();
	test_lines(dir);
	if (rmdir(dir) == -1)
		printf("test_log: cannot remove %s: %s\n", dir,
		    strerror(errno));
	return check_report("test_log");
}
