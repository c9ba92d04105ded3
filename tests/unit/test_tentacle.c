/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/tentacle.c: the PASS token and the file name check
 * that decides what tentacle-recv stores and serves.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tentacle.h"

#include "check.h"

/* A printable rendering of len bytes of s. */
static const char *
show(const char *s, size_t len)
{
	static char buf[1100];
	size_t o = 0;

	for (size_t i = 0; i < len && o < sizeof(buf) - 8; i++) {
		unsigned char c = s[i];

		if (c < 0x20 || c >= 0x7f || c == '\\')
			o += snprintf(buf + o, 8, "\\x%02x", c);
		else
			buf[o++] = c;
	}
	buf[o] = '\0';
	return buf;
}

static void
test_token(void)
{
	/* hex(md5(md5_raw(password))), as the stock client computes it. */
	static const struct {
		const char *pass, *want;
	} t[] = {
		{ "s3cret", "703b089710823916d4bb7ff2deff4d8f" },
		{ "", "59adb24ef3cdbe0297f05b395827453f" },
		{ "pandora", "9ba1c4c7aeebfa552d5f62f5bbabf51c" },
		{ "p\xc3\xa4ss w\"rd", "3e08075723bad2f469170d82a4737f1a" },
	};
	char out[TENTACLE_TOKEN_LEN + 1], what[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(what, sizeof(what), "tentacle_token(\"%s\")",
		    show(t[i].pass, strlen(t[i].pass)));
		memset(out, 'X', sizeof(out));
		CHECK_INT(what, tentacle_token(t[i].pass, out), 0);
		CHECK_STR(what, out, t[i].want);
		CHECK_INT("token length", strlen(out), TENTACLE_TOKEN_LEN);
	}
}

/* Check name (len bytes) against max: refused (1) or accepted (0). */
static void
name_case(const char *name, size_t len, size_t max, int refused,
    const char *reason)
{
	char *copy = malloc(len ? len : 1);
	const char *why;

	if (copy == NULL)
		return;
	memcpy(copy, name, len);	/* exact size: ASan sees overreads */
	why = tentacle_name_check(copy, len, max);
	if (refused) {
		CHECK(why != NULL, "name \"%s\" (%zu bytes, max %zu): got "
		    "accepted, want refused", show(name, len), len, max);
		if (why != NULL && reason != NULL)
			CHECK(strcmp(why, reason) == 0, "name \"%s\": got "
			    "reason \"%s\", want \"%s\"", show(name, len), why,
			    reason);
	} else
		CHECK(why == NULL, "name \"%s\" (%zu bytes, max %zu): got "
		    "refused (%s), want accepted", show(name, len), len, max,
		    why);
	free(copy);
}

static void
test_names(void)
{
	static const char bad[] = "?[]/\\=+<>:;',*~";
	static const char *const ok[] = {
		"a", "a b.txt", "\xc3\xa9t\xc3\xa9.txt", "x|", "a&b", "$(x)",
		"`x`", "p!@#%{}.data", "a..b", "name.", "-rf", "a\"b",
		"238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data",
		"\xff\xfe", "a-b_c", "x.conf", "x.md5", "^",
	};
	char name[600];

	/* Every forbidden character, alone, leading, inside, trailing. */
	CHECK_STR("TENTACLE_BAD_CHARS", TENTACLE_BAD_CHARS, bad);
	for (size_t i = 0; i < sizeof(bad) - 1; i++) {
		name[0] = bad[i];
		name_case(name, 1, 255, 1, "forbidden character in name");
		snprintf(name, sizeof(name), "ab%cc.data", bad[i]);
		name_case(name, strlen(name), 255, 1,
		    "forbidden character in name");
		snprintf(name, sizeof(name), "abc%c", bad[i]);
		name_case(name, strlen(name), 255, 1,
		    "forbidden character in name");
	}
	name_case("../etc/passwd", 13, 255, 1, NULL);
	name_case("a/../../b", 9, 255, 1, "forbidden character in name");
	name_case("C:\\x", 4, 255, 1, "forbidden character in name");

	/* Control bytes (NUL included) and DEL. */
	for (int c = 0; c < 0x20; c++) {
		snprintf(name, sizeof(name), "ab_c.data");
		name[2] = (char)c;
		name_case(name, 9, 255, 1, "control character in name");
		name[0] = (char)c;
		name_case(name, 1, 255, 1, "control character in name");
	}
	name_case("ab\x7f" "c", 4, 255, 1, "control character in name");
	name_case("\x7f", 1, 255, 1, "control character in name");
	name_case("name\n", 5, 255, 1, "control character in name");
	name_case("a\0b", 3, 255, 1, "control character in name");

	/* Dots, empty, too long. */
	name_case(".hidden", 7, 255, 1, "name starts with a dot");
	name_case(".", 1, 255, 1, "name starts with a dot");
	name_case("..", 2, 255, 1, "name starts with a dot");
	name_case("", 0, 255, 1, "empty name");
	memset(name, 'n', sizeof(name));
	name_case(name, 200, 255, 0, NULL);
	name_case(name, 255, 255, 0, NULL);
	name_case(name, 256, 255, 1, "name too long");
	name_case(name, 512, 255, 1, "name too long");
	name_case(name, 200, 200, 0, NULL);
	name_case(name, 201, 200, 1, "name too long");
	name_case(name, 2, 1, 1, "name too long");

	/* Shell-looking and UTF-8 names are data, not commands. */
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		name_case(ok[i], strlen(ok[i]), 255, 0, NULL);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_token();
	test_names();
	return check_report("test_tentacle");
}
