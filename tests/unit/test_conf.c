/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/conf.c: sections and the top part, fallbacks, the
 * last occurrence winning, comments and white space, syntax errors with
 * file:line, numbers, booleans and conf_check.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

#include "check.h"

static const char good[] =
	"# octospool test configuration\n"
	"   # indented comment\n"
	"\n"
	"port 41121\n"
	"address 0.0.0.0   \t\n"
	"empty\n"
	"emptyws    \n"
	"dup first\n"
	"dup second\n"
	"tabbed\tvalue\n"
	"crlf yes\r\n"
	"inner   a  b   c  \n"
	"hash value # not a comment\n"
	"  indented 7\n"
	"[tentacle-recv]\n"
	"port 41122\n"
	"max_size 2000\n"
	"flag yes\n"
	"only_here 1\n"
	"[xml-validate]\n"
	"maxdepth 64\n"
	"port 9\n"
	"[tentacle-recv]\n"
	"max_size 3000\n"
	"last_line_without_newline ok";

static void
test_get(void)
{
	static const struct {
		const char *section, *key, *want;
	} t[] = {
		{ NULL, "port", "41121" },
		{ "", "port", "41121" },
		{ "tentacle-recv", "port", "41122" },
		{ "xml-validate", "port", "9" },
		{ "nosuch", "port", "41121" },
		/* A section key is not visible elsewhere. */
		{ NULL, "maxdepth", NULL },
		{ "tentacle-recv", "maxdepth", NULL },
		{ "xml-validate", "only_here", NULL },
		{ "nosuch", "max_size", NULL },
		/* Fallback from a section to the top part. */
		{ "xml-validate", "address", "0.0.0.0" },
		{ "tentacle-recv", "dup", "second" },
		/* Values. */
		{ NULL, "address", "0.0.0.0" },
		{ NULL, "empty", "" },
		{ NULL, "emptyws", "" },
		{ NULL, "dup", "second" },
		{ NULL, "tabbed", "value" },
		{ NULL, "crlf", "yes" },
		{ NULL, "inner", "a  b   c" },
		{ NULL, "hash", "value # not a comment" },
		{ NULL, "indented", "7" },
		{ NULL, "missing", NULL },
		/* The last occurrence wins, across repeated sections. */
		{ "tentacle-recv", "max_size", "3000" },
		{ "tentacle-recv", "flag", "yes" },
		{ "tentacle-recv", "last_line_without_newline", "ok" },
		/* Comments are not keys. */
		{ NULL, "#", NULL },
	};
	char err[256] = "", what[128];
	struct conf *c;

	c = conf_parse(good, sizeof(good) - 1, "good.conf", err, sizeof(err));
	CHECK(c != NULL, "conf_parse good: got NULL (%s), want a conf", err);
	if (c == NULL)
		return;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(what, sizeof(what), "conf_get(%s%s%s, %s)",
		    t[i].section ? "\"" : "", t[i].section ? t[i].section :
		    "NULL", t[i].section ? "\"" : "", t[i].key);
		CHECK_STR(what, conf_get(c, t[i].section, t[i].key),
		    t[i].want);
	}
	CHECK_INT("has tentacle-recv", conf_has_section(c, "tentacle-recv"),
	    1);
	CHECK_INT("has xml-validate", conf_has_section(c, "xml-validate"), 1);
	CHECK_INT("has nosuch", conf_has_section(c, "nosuch"), 0);
	CHECK_INT("has top part", conf_has_section(c, ""), 1);
	CHECK_STR("conf_get(NULL conf)", conf_get(NULL, "x", "port"), NULL);
	conf_free(c);
	conf_free(NULL);

	/* Empty input and comments only. */
	c = conf_parse("", 0, "empty", err, sizeof(err));
	CHECK(c != NULL, "empty config: got NULL (%s)", err);
	CHECK_STR("empty config: port", conf_get(c, NULL, "port"), NULL);
	CHECK_INT("empty config: has top part", conf_has_section(c, ""), 0);
	conf_free(c);
	c = conf_parse("# a\n\n   \n\t\n", 11, "comments", err, sizeof(err));
	CHECK(c != NULL, "comments only: got NULL (%s)", err);
	conf_free(c);
}

static void
test_errors(void)
{
	static const struct {
		const char	*text;
		size_t		 len;	/* 0: strlen(text) */
		const char	*want;
	} t[] = {
		{ "[unterminated\n", 0, "bad.conf:1: bad section" },
		{ "a 1\n[]\n", 0, "bad.conf:2: bad section" },
		{ "a 1\nb 2\n[\n", 0, "bad.conf:3: bad section" },
		{ "[x] trailing\n", 0, "bad.conf:1: bad section" },
		{ "# c\n\n[x\n", 0, "bad.conf:3: bad section" },
		{ "a 1\nb\0c\n", 8, "bad.conf:2: NUL byte" },
		{ "\0", 1, "bad.conf:1: NUL byte" },
		{ "a 1\n# comment \0 with NUL\n", 25, "bad.conf:2: NUL byte" },
		{ "=x\n", 0, "bad.conf:1: expected 'key value'" },
		{ "a 1\n1abc 2\n", 0, "bad.conf:2: expected 'key value'" },
		{ "-key v\n", 0, "bad.conf:1: expected 'key value'" },
		{ "[s]\n\"q\" 1\n", 0, "bad.conf:2: expected 'key value'" },
		{ "\xc3\xa9t\xc3\xa9 1\n", 0,
		  "bad.conf:1: expected 'key value'" },
	};
	char err[256], what[64];
	struct conf *c;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t len = t[i].len ? t[i].len : strlen(t[i].text);

		snprintf(what, sizeof(what), "error case #%zu", i);
		err[0] = '\0';
		c = conf_parse(t[i].text, len, "bad.conf", err, sizeof(err));
		CHECK(c == NULL, "%s: got a conf, want NULL", what);
		CHECK_STR(what, err, t[i].want);
		conf_free(c);
	}

	/* Line length: 4096 bytes is fine, 4097 is too long. */
	{
		char *buf = malloc(3 * 4200);
		size_t n;

		if (buf == NULL)
			return;
		memcpy(buf, "k ", 2);
		memset(buf + 2, 'v', 4094);
		buf[4096] = '\n';
		c = conf_parse(buf, 4097, "long.conf", err, sizeof(err));
		CHECK(c != NULL, "4096-byte line: got NULL (%s), want a conf",
		    err);
		if (c != NULL)
			CHECK_INT("4096-byte line: value length",
			    strlen(conf_get(c, NULL, "k")), 4094);
		conf_free(c);

		n = 0;
		memcpy(buf, "a 1\n", 4);
		n = 4;
		memcpy(buf + n, "k ", 2);
		memset(buf + n + 2, 'v', 4095);
		n += 4097;
		buf[n++] = '\n';
		err[0] = '\0';
		c = conf_parse(buf, n, "long.conf", err, sizeof(err));
		CHECK(c == NULL, "4097-byte line: got a conf, want NULL");
		CHECK_STR("4097-byte line", err, "long.conf:2: line too long");
		conf_free(c);

		/* A long comment is still a long line. */
		buf[0] = '#';
		memset(buf + 1, 'c', 5000);
		err[0] = '\0';
		c = conf_parse(buf, 5001, "long.conf", err, sizeof(err));
		CHECK(c == NULL, "5001-byte comment: got a conf, want NULL");
		CHECK_STR("5001-byte comment", err,
		    "long.conf:1: line too long");
		conf_free(c);

		/* A section name over 127 bytes does not fit. */
		buf[0] = '[';
		memset(buf + 1, 's', 128);
		buf[129] = ']';
		err[0] = '\0';
		c = conf_parse(buf, 130, "sec.conf", err, sizeof(err));
		CHECK(c == NULL, "128-byte section: got a conf, want NULL");
		CHECK_STR("128-byte section", err, "sec.conf:1: bad section");
		conf_free(c);
		memset(buf + 1, 's', 127);
		buf[128] = ']';
		buf[129] = '\n';
		memcpy(buf + 130, "k v\n", 4);
		c = conf_parse(buf, 134, "sec.conf", err, sizeof(err));
		CHECK(c != NULL, "127-byte section: got NULL (%s)", err);
		if (c != NULL) {
			char sec[128];

			memset(sec, 's', 127);
			sec[127] = '\0';
			CHECK_STR("127-byte section key", conf_get(c, sec,
			    "k"), "v");
		}
		conf_free(c);
		free(buf);
	}
}

static void
test_num_bool(void)
{
	static const char text[] =
		"n10 10\n" "n0 0\n" "n101 101\n" "nneg -5\n" "nabc abc\n"
		"nempty\n" "ntrail 12abc\n" "nhex 0x10\n"
		"nhuge 99999999999999999999\n" "nplus +7\n" "nspace 1 2\n"
		"b1 1\n" "b0 0\n" "byes yes\n" "bYES YES\n" "bon On\n"
		"btrue true\n" "bTrue True\n" "bno no\n" "boff off\n"
		"bfalse FALSE\n" "b2 2\n" "bempty\n" "by y\n" "byess yess\n"
		"[s]\n" "n10 20\n";
	static const struct {
		const char	*key;
		long long	 min, max;
		int		 rc;
		long long	 val;	/* when rc == 1 */
		const char	*err;	/* when rc == -1 */
	} nums[] = {
		{ "n10", 1, 100, 1, 10, NULL },
		{ "n10", 10, 10, 1, 10, NULL },
		{ "n0", 1, 100, -1, 0, "n0: value is too small (want 1..100)" },
		{ "n101", 1, 100, -1, 0, "n101: value is too large" },
		{ "nneg", -10, 10, 1, -5, NULL },
		{ "nneg", 0, 10, -1, 0, "too small" },
		{ "nabc", 0, 10, -1, 0, "nabc: value is invalid" },
		{ "nempty", 0, 10, -1, 0, "invalid" },
		{ "ntrail", 0, 100, -1, 0, "invalid" },
		{ "nhex", 0, 100, -1, 0, "invalid" },
		{ "nhuge", 0, LLONG_MAX, -1, 0, "too large" },
		{ "nplus", 0, 10, 1, 7, NULL },
		{ "nspace", 0, 10, -1, 0, "invalid" },
		{ "missing", 0, 10, 0, 0, NULL },
	};
	static const struct {
		const char *key;
		int rc, val;
	} bools[] = {
		{ "b1", 1, 1 }, { "byes", 1, 1 }, { "bYES", 1, 1 },
		{ "bon", 1, 1 }, { "btrue", 1, 1 }, { "bTrue", 1, 1 },
		{ "b0", 1, 0 }, { "bno", 1, 0 }, { "boff", 1, 0 },
		{ "bfalse", 1, 0 }, { "b2", -1, 0 }, { "bempty", -1, 0 },
		{ "by", -1, 0 }, { "byess", -1, 0 }, { "missing", 0, 0 },
	};
	char err[256], what[128];
	struct conf *c;
	long long v;
	int b;

	c = conf_parse(text, sizeof(text) - 1, "num.conf", err, sizeof(err));
	CHECK(c != NULL, "num.conf: got NULL (%s)", err);
	if (c == NULL)
		return;
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		snprintf(what, sizeof(what), "conf_num(%s, %lld..%lld)",
		    nums[i].key, nums[i].min, nums[i].max);
		v = -4242;
		err[0] = '\0';
		CHECK_INT(what, conf_num(c, NULL, nums[i].key, nums[i].min,
		    nums[i].max, &v, err, sizeof(err)), nums[i].rc);
		if (nums[i].rc == 1)
			CHECK_INT(what, v, nums[i].val);
		else
			CHECK_INT("value untouched", v, -4242);
		if (nums[i].rc == -1) {
			CHECK_HAS(what, err, nums[i].err);
			CHECK_HAS(what, err, "num.conf: ");
		}
	}
	CHECK_INT("conf_num in section", conf_num(c, "s", "n10", 0, 100, &v,
	    err, sizeof(err)), 1);
	CHECK_INT("conf_num in section: value", v, 20);
	CHECK_INT("conf_num fallback", conf_num(c, "other", "n10", 0, 100, &v,
	    err, sizeof(err)), 1);
	CHECK_INT("conf_num fallback: value", v, 10);

	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		snprintf(what, sizeof(what), "conf_bool(%s)", bools[i].key);
		b = 42;
		err[0] = '\0';
		CHECK_INT(what, conf_bool(c, NULL, bools[i].key, &b, err,
		    sizeof(err)), bools[i].rc);
		if (bools[i].rc == 1)
			CHECK_INT(what, b, bools[i].val);
		else
			CHECK_INT("value untouched", b, 42);
		if (bools[i].rc == -1) {
			char want[64];

			snprintf(want, sizeof(want), "num.conf: %s: not a "
			    "boolean", bools[i].key);
			CHECK_STR(what, err, want);
		}
	}
	conf_free(c);
}

static void
test_check(void)
{
	static const char text[] =
		"top_unknown 1\n"		/* 1 */
		"port 1\n"			/* 2 */
		"[tentacle-recv]\n"		/* 3 */
		"port 2\n"			/* 4 */
		"max_size 3\n"			/* 5 */
		"bogus 4\n"			/* 6 */
		"[xml-validate]\n"		/* 7 */
		"other_unknown 5\n"		/* 8 */
		"[tentacle-recv]\n"		/* 9 */
		"port 6\n"			/* 10 */
		"[agent-auth]\n"		/* 11 */
		"port 7\n"			/* 12 */
		"typo_key 8\n";			/* 13 */
	static const char *const recv_known[] = { "port", "max_size", NULL };
	static const char *const recv_all[] = { "port", "max_size", "bogus",
	    NULL };
	static const char *const xv_known[] = { "port", NULL };
	static const char *const none[] = { NULL };
	char err[256];
	struct conf *c;

	c = conf_parse(text, sizeof(text) - 1, "chk.conf", err, sizeof(err));
	CHECK(c != NULL, "chk.conf: got NULL (%s)", err);
	if (c == NULL)
		return;
	err[0] = '\0';
	CHECK_INT("conf_check unknown key in section", conf_check(c,
	    "tentacle-recv", recv_known, err, sizeof(err)), -1);
	CHECK_STR("conf_check message", err,
	    "chk.conf:6: unknown key 'bogus' in [tentacle-recv]");
	/* Unknown keys at the top and in other sections are not errors. */
	err[0] = '\0';
	CHECK_INT("conf_check all known", conf_check(c, "tentacle-recv",
	    recv_all, err, sizeof(err)), 0);
	CHECK_STR("conf_check all known: no message", err, "");
	CHECK_INT("conf_check other section", conf_check(c, "nosuch", none,
	    err, sizeof(err)), 0);
	err[0] = '\0';
	CHECK_INT("conf_check xml-validate", conf_check(c, "xml-validate",
	    xv_known, err, sizeof(err)), -1);
	CHECK_STR("conf_check xml-validate message", err,
	    "chk.conf:8: unknown key 'other_unknown' in [xml-validate]");
	err[0] = '\0';
	CHECK_INT("conf_check agent-auth", conf_check(c, "agent-auth",
	    xv_known, err, sizeof(err)), -1);
	CHECK_STR("conf_check agent-auth message", err,
	    "chk.conf:13: unknown key 'typo_key' in [agent-auth]");
	conf_free(c);
}

static void
test_load(const char *dir)
{
	char path[PATH_MAX + 32], err[PATH_MAX + 256];
	struct conf *c;
	FILE *fp;
	int fd;

	snprintf(path, sizeof(path), "%s/ok.conf", dir);
	if ((fp = fopen(path, "w")) == NULL) {
		CHECK(0, "fopen %s: %s", path, strerror(errno));
		return;
	}
	fputs("port 1\n[s]\nport 2\n[s\n", fp);
	fclose(fp);
	err[0] = '\0';
	c = conf_load(path, err, sizeof(err));
	CHECK(c == NULL, "conf_load bad file: got a conf, want NULL");
	{
		char want[PATH_MAX + 64];

		snprintf(want, sizeof(want), "%s:4: bad section", path);
		CHECK_STR("conf_load error names the file", err, want);
	}
	conf_free(c);

	if ((fp = fopen(path, "w")) == NULL)
		return;
	fputs("port 1\n[s]\nport 2\n", fp);
	fclose(fp);
	c = conf_load(path, err, sizeof(err));
	CHECK(c != NULL, "conf_load: got NULL (%s)", err);
	CHECK_STR("conf_load: [s] port", conf_get(c, "s", "port"), "2");
	conf_free(c);

	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	err[0] = '\0';
	c = conf_load(path, err, sizeof(err));
	CHECK(c == NULL, "conf_load missing: got a conf, want NULL");
	CHECK_HAS("conf_load missing", err, "missing.conf: No such file");
	conf_free(c);

	err[0] = '\0';
	c = conf_load(dir, err, sizeof(err));
	CHECK(c == NULL, "conf_load directory: got a conf, want NULL");
	CHECK_HAS("conf_load directory", err, "not a regular file");
	conf_free(c);

	/* Over 1 MiB is refused. */
	snprintf(path, sizeof(path), "%s/big.conf", dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1) {
		CHECK_INT("ftruncate", ftruncate(fd, 1024 * 1024 + 1), 0);
		close(fd);
	}
	err[0] = '\0';
	c = conf_load(path, err, sizeof(err));
	CHECK(c == NULL, "conf_load 1 MiB + 1: got a conf, want NULL");
	CHECK_HAS("conf_load 1 MiB + 1", err, "not a regular file of at most");
	conf_free(c);
	unlink(path);
	snprintf(path, sizeof(path), "%s/ok.conf", dir);
	unlink(path);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	char dir[PATH_MAX];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (t == NULL || *t == '\0')
		t = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/test_conf.XXXXXX", t) >=
	    sizeof(dir) || mkdtemp(dir) == NULL) {
		printf("test_conf: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_get();
	test_errors();
	test_num_bool();
	test_check();
	test_load(dir);
	if (rmdir(dir) == -1)
		printf("test_conf: cannot remove %s: %s\n", dir,
		    strerror(errno));
	return check_report("test_conf");
}
