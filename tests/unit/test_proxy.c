/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/proxy.c: the PROXY protocol v1 and v2 parsers and
 * the balancer address list of tentacle-recv's proxy_from.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxy.h"

#include "check.h"

static const unsigned char sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* A v2 header: ver/cmd, family, stated length, then blen body bytes. */
static void
v2_case(int vc, int fam, int len, const unsigned char *body, size_t blen,
    const char *want_why, const char *want_src, int want_port)
{
	unsigned char fixed[PROXY_V2_FIXED];
	struct proxy_hdr h;
	const char *why = NULL;
	int rc;

	memcpy(fixed, sig, sizeof(sig));
	fixed[12] = vc;
	fixed[13] = fam;
	fixed[14] = len >> 8;
	fixed[15] = len & 0xff;
	rc = proxy_v2_length(fixed, &why);
	if (rc >= 0)
		rc = proxy_v2_parse(fixed, body, blen, &h, &why);
	CHECK_STR("v2 why", rc == -1 ? why : NULL, want_why);
	if (rc == 0 && want_src != NULL) {
		CHECK_STR("v2 src", h.src, want_src);
		CHECK_INT("v2 sport", h.sport, want_port);
	}
	if (rc == 0 && want_src == NULL)
		CHECK_INT("v2 local", h.local, 1);
}

static void
test_v2(void)
{
	unsigned char b4[12] = { 192, 0, 2, 7, 127, 0, 0, 1, 0xd0, 0xae,
	    0xa0, 0xa1 };
	unsigned char b6[40] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7, [31] = 1,
	    [32] = 0x0f, [33] = 0xa0, [34] = 0xa0, [35] = 0xa1 };
	unsigned char fixed[PROXY_V2_FIXED];
	const char *why = NULL;

	v2_case(0x21, 0x11, 12, b4, 12, NULL, "192.0.2.7", 53422);
	v2_case(0x21, 0x21, 36, b6, 36, NULL, "2001:db8::7", 4000);
	/* TLVs after the addresses are skipped. */
	v2_case(0x21, 0x21, 40, b6, 40, NULL, "2001:db8::7", 4000);
	v2_case(0x20, 0x00, 0, NULL, 0, NULL, NULL, 0);		/* LOCAL */
	v2_case(0x20, 0x11, 12, b4, 12, NULL, NULL, 0);		/* LOCAL */
	v2_case(0x11, 0x11, 12, b4, 12, "PROXY v2: bad version", NULL, 0);
	v2_case(0x22, 0x11, 12, b4, 12, "PROXY v2: unknown command", NULL, 0);
	v2_case(0x21, 0x41, 12, b4, 12,
	    "PROXY v2: unknown address family or protocol", NULL, 0);
	v2_case(0x21, 0x13, 12, b4, 12,
	    "PROXY v2: unknown address family or protocol", NULL, 0);
	v2_case(0x21, 0x12, 12, b4, 12, "PROXY v2: not TCP over IPv4 or IPv6",
	    NULL, 0);
	v2_case(0x21, 0x31, 12, b4, 12, "PROXY v2: not TCP over IPv4 or IPv6",
	    NULL, 0);
	v2_case(0x21, 0x00, 0, NULL, 0, "PROXY v2: not TCP over IPv4 or IPv6",
	    NULL, 0);
	v2_case(0x21, 0x11, 11, b4, 11, "PROXY v2: address block too short",
	    NULL, 0);
	v2_case(0x21, 0x21, 12, b4, 12, "PROXY v2: address block too short",
	    NULL, 0);
	v2_case(0x21, 0x11, PROXY_V2_MAX + 1, b4, 12,
	    "PROXY v2: address block too long", NULL, 0);
	v2_case(0x21, 0x11, 12, b4, 10, "PROXY v2: truncated", NULL, 0);
	memcpy(fixed, sig, sizeof(sig));
	fixed[11] = 0x0b;
	fixed[12] = 0x21;
	fixed[13] = 0x11;
	fixed[14] = 0;
	fixed[15] = 12;
	CHECK_INT("bad signature", proxy_v2_length(fixed, &why), -1);
	CHECK_STR("bad signature why", why, "PROXY v2: bad signature");
}

static void
v1_case(const char *line, const char *want_why, const char *want_src,
    int want_port)
{
	struct proxy_hdr h;
	const char *why = NULL;
	int rc = proxy_v1_parse(line, strlen(line), &h, &why);

	CHECK_STR(line, rc == -1 ? why : NULL, want_why);
	if (rc == 0 && want_src != NULL) {
		CHECK_STR("v1 src", h.src, want_src);
		CHECK_INT("v1 sport", h.sport, want_port);
	}
	if (rc == 0 && want_src == NULL)
		CHECK_INT("v1 unknown is local", h.local, 1);
}

static void
test_v1(void)
{
	char longl[200];

	v1_case("PROXY TCP4 192.0.2.7 127.0.0.1 53422 41121\r\n", NULL,
	    "192.0.2.7", 53422);
	v1_case("PROXY TCP6 2001:DB8:0::7 ::1 0 65535\r\n", NULL,
	    "2001:db8::7", 0);
	v1_case("PROXY UNKNOWN\r\n", NULL, NULL, 0);
	v1_case("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
	    NULL, NULL, 0);
	v1_case("PROXY UNKNOWNX\r\n", "PROXY v1: unknown protocol", NULL, 0);
	v1_case("PROXY TCP4 192.0.2.7 127.0.0.1 53422 41121\n",
	    "PROXY v1: no CRLF within 107 bytes", NULL, 0);
	v1_case("PROXY TCP4 192.0.2.7 127.0.0.1 53422 41121",
	    "PROXY v1: no CRLF within 107 bytes", NULL, 0);
	v1_case("proxy TCP4 192.0.2.7 127.0.0.1 1 2\r\n",
	    "PROXY v1: bad signature", NULL, 0);
	v1_case("PROXY UDP4 192.0.2.7 127.0.0.1 1 2\r\n",
	    "PROXY v1: unknown protocol", NULL, 0);
	v1_case("PROXY TCP4 192.0.2.7 127.0.0.1 1\r\n",
	    "PROXY v1: wrong number of fields", NULL, 0);
	v1_case("PROXY TCP4 192.0.2.7 127.0.0.1 1 2 \r\n",
	    "PROXY v1: wrong number of fields", NULL, 0);
	v1_case("PROXY TCP4 192.0.2.7  127.0.0.1 1 2\r\n",
	    "PROXY v1: wrong number of fields", NULL, 0);
	v1_case("PROXY TCP4 192.0.2.7 127.0.0.1 1 2\r\r\n",
	    "PROXY v1: control character", NULL, 0);
	v1_case("PROXY TCP4 2001:db8::7 127.0.0.1 1 2\r\n",
	    "PROXY v1: bad address", NULL, 0);
	v1_case("PROXY TCP6 192.0.2.7 ::1 1 2\r\n", "PROXY v1: bad address",
	    NULL, 0);
	v1_case("PROXY TCP4 192.0.2.07 127.0.0.1 1 2\r\n",
	    "PROXY v1: bad address", NULL, 0);
	v1_case("PROXY TCP4 192.0.2.7 127.0.0.1 65536 2\r\n",
	    "PROXY v1: bad port", NULL, 0);
	v1_case("PROXY TCP4 192.0.2.7 127.0.0.1 -1 2\r\n",
	    "PROXY v1: bad port", NULL, 0);
	v1_case("PROXY TCP4 192.0.2.7 127.0.0.1 1 02\r\n",
	    "PROXY v1: bad port", NULL, 0);
	memset(longl, 'A', sizeof(longl));
	memcpy(longl, "PROXY TCP4 ", 11);
	memcpy(longl + 106, "\r\n", 3);		/* 108 bytes */
	v1_case(longl, "PROXY v1: no CRLF within 107 bytes", NULL, 0);
}

/* Is text (numeric) in the list? */
static int
acl_has(const struct proxy_acl *acl, const char *text)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	memset(&s4, 0, sizeof(s4));
	memset(&s6, 0, sizeof(s6));
	if (inet_pton(AF_INET, text, &s4.sin_addr) == 1) {
		s4.sin_family = AF_INET;
		return proxy_acl_match(acl, (struct sockaddr *)&s4);
	}
	if (inet_pton(AF_INET6, text, &s6.sin6_addr) == 1) {
		s6.sin6_family = AF_INET6;
		return proxy_acl_match(acl, (struct sockaddr *)&s6);
	}
	return -1;
}

static void
test_acl(void)
{
	static const char *const bad[] = { "", ",", "host.example",
	    "10.0.0.1/33", "10.0.0.1/", "10.0.0.1/x", "::1/129", "10.0.0.1/-1",
	    "10.0.0.1/+8", "10.0.0.1 /8" };
	struct proxy_acl acl;
	char err[128];

	CHECK_INT("parse", proxy_acl_parse(&acl, "10.1.2.3, 192.168.0.0/23,"
	    "2001:db8::/32", err, sizeof(err)), 0);
	CHECK_INT("n", acl.n, 3);
	CHECK_INT("exact", acl_has(&acl, "10.1.2.3"), 1);
	CHECK_INT("exact, other", acl_has(&acl, "10.1.2.4"), 0);
	CHECK_INT("/23 low", acl_has(&acl, "192.168.0.1"), 1);
	CHECK_INT("/23 high", acl_has(&acl, "192.168.1.255"), 1);
	CHECK_INT("/23 out", acl_has(&acl, "192.168.2.0"), 0);
	CHECK_INT("v6 in", acl_has(&acl, "2001:db8:ffff::1"), 1);
	CHECK_INT("v6 out", acl_has(&acl, "2001:db9::1"), 0);
	CHECK_INT("mapped v4 is not v4", acl_has(&acl, "::ffff:10.1.2.3"), 0);
	CHECK_INT("/0", proxy_acl_parse(&acl, "0.0.0.0/0", err, sizeof(err)),
	    0);
	CHECK_INT("/0 any v4", acl_has(&acl, "203.0.113.9"), 1);
	CHECK_INT("/0 not v6", acl_has(&acl, "::1"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(proxy_acl_parse(&acl, bad[i], err, sizeof(err)) == -1,
		    "proxy_acl_parse(\"%s\"): accepted", bad[i]);
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_v2();
	test_v1();
	test_acl();
	return check_report("test_proxy");
}
