/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/tool.c: the common options (-c -d -n -v, the tool's
 * own returned), values of the tool's section with the top part and the
 * defaults behind them, an empty value as unset, default paths under
 * the spool.  The exits (bad values, usage) are the bats suites' part.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "tool.h"

#include "check.h"

static const char text[] =
	"spool_dir /top\n"
	"batch 7\n"
	"[t]\n"
	"batch 9\n"
	"audit no\n"
	"user\n"
	"state_file /elsewhere/state\n";

static struct tool tool = { .name = "t", .section = "t",
    .usage = "usage: t [-dhnVv] [-c file] [-o out]\n" };

static void
test_getopt(void)
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	char *argv[] = { "t", "-d", "-c", "x.conf", "-vv", "-o", "out", "-n",
	    "arg", NULL };
	int ch, o = 0;

	while ((ch = tool_getopt(&tool, 9, argv, "c:dhno:Vv", lopts)) != -1) {
		CHECK_INT("own option", ch, 'o');
		CHECK_STR("its argument", optarg, "out");
		o++;
	}
	CHECK_INT("own options returned", o, 1);
	CHECK_STR("-c", tool.conffile, "x.conf");
	CHECK_INT("-d", tool.fg, 1);
	CHECK_INT("-n", tool.check, 1);
	CHECK_INT("-v counted", tool.verbose, 2);
	CHECK_INT("operand left", optind, 8);
}

static void
test_values(void)
{
	char err[256], *s;

	tool.conf = conf_parse(text, sizeof(text) - 1, "t.conf", err,
	    sizeof(err));
	CHECK(tool.conf != NULL, "conf_parse: %s", err);
	if (tool.conf == NULL)
		return;
	CHECK_INT("section first", tool_num(&tool, "batch", 1, 100, 5), 9);
	CHECK_INT("default", tool_num(&tool, "epoch", 1, 100, 60), 60);
	CHECK_INT("bool", tool_bool(&tool, "audit", 1), 0);
	CHECK_INT("bool default", tool_bool(&tool, "cert", 1), 1);
	s = tool_str(&tool, "spool_dir", "/var/spool");
	CHECK_STR("the top part", s, "/top");
	free(s);
	s = tool_str(&tool, "user", "octo");
	CHECK_STR("an empty value is unset", s, "octo");
	free(s);
	s = tool_str(&tool, "producer", NULL);
	CHECK_STR("no default", s, NULL);
	free(s);
	s = tool_path(&tool, "state_file", "/top", "t/failures");
	CHECK_STR("path set", s, "/elsewhere/state");
	free(s);
	s = tool_path(&tool, "audit_spool", "/top", "audit-sign");
	CHECK_STR("path under the spool", s, "/top/audit-sign");
	free(s);
	s = tool_path(&tool, NULL, "/top", "t/out");
	CHECK_STR("path without a key", s, "/top/t/out");
	free(s);
	conf_free(tool.conf);
	tool.conf = NULL;
	CHECK_INT("no file: default", tool_num(&tool, "batch", 1, 100, 5), 5);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_getopt();
	test_values();
	return check_report("test_tool");
}
