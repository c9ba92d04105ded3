/* SPDX-License-Identifier: ISC */
/* The PROXY protocol, versions 1 and 2, parsed strictly (receiver side). */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

static const unsigned char v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

int
proxy_v2_length(const unsigned char fixed[PROXY_V2_FIXED], const char **why)
{
	int cmd = fixed[12] & 0x0f, fam = fixed[13] >> 4, proto = fixed[13] & 0x0f;
	size_t len = (size_t)fixed[14] << 8 | fixed[15];

	if (memcmp(fixed, v2_sig, sizeof(v2_sig)) != 0)
		*why = "PROXY v2: bad signature";
	else if ((fixed[12] >> 4) != 2)
		*why = "PROXY v2: bad version";
	else if (cmd > 1)
		*why = "PROXY v2: unknown command";
	else if (fam > 3 || proto > 2)
		*why = "PROXY v2: unknown address family or protocol";
	else if (len > PROXY_V2_MAX)
		*why = "PROXY v2: address block too long";
	else
		return (int)len;
	return -1;
}

/* Numeric text of an address and a big-endian port. */
static void
put_addr(int af, const unsigned char *a, const unsigned char *p, char *out,
    size_t outlen, int *port)
{
	if (inet_ntop(af, a, out, outlen) == NULL)
		out[0] = '\0';
	*port = p[0] << 8 | p[1];
}

int
proxy_v2_parse(const unsigned char fixed[PROXY_V2_FIXED],
    const unsigned char *body, size_t len, struct proxy_hdr *h,
    const char **why)
{
	int n = proxy_v2_length(fixed, why), fam = fixed[13] >> 4;
	int proto = fixed[13] & 0x0f;

	if (n == -1)
		return -1;
	if ((size_t)n != len) {
		*why = "PROXY v2: truncated";
		return -1;
	}
	memset(h, 0, sizeof(*h));
	h->version = 2;
	h->family = AF_UNSPEC;
	if ((fixed[12] & 0x0f) == 0) {
		/* LOCAL: the balancer speaks for itself (health checks). */
		h->local = 1;
		return 0;
	}
	if (proto != 1 || (fam != 1 && fam != 2)) {
		*why = "PROXY v2: not TCP over IPv4 or IPv6";
		return -1;
	}
	if (fam == 1) {
		if (len < 12) {
			*why = "PROXY v2: address block too short";
			return -1;
		}
		h->family = AF_INET;
		put_addr(AF_INET, body, body + 8, h->src, sizeof(h->src),
		    &h->sport);
		put_addr(AF_INET, body + 4, body + 10, h->dst, sizeof(h->dst),
		    &h->dport);
	} else {
		if (len < 36) {
			*why = "PROXY v2: address block too short";
			return -1;
		}
		h->family = AF_INET6;
		put_addr(AF_INET6, body, body + 32, h->src, sizeof(h->src),
		    &h->sport);
		put_addr(AF_INET6, body + 16, body + 34, h->dst,
		    sizeof(h->dst), &h->dport);
	}
	/* Any TLVs after the addresses are ignored. */
	if (h->src[0] == '\0' || h->dst[0] == '\0') {
		*why = "PROXY v2: bad address";
		return -1;
	}
	return 0;
}

/* One v1 field: the bytes up to the next space (or the end) as text. */
static const char *
v1_field(const char *p, const char *end, char *out, size_t outlen)
{
	const char *sp = memchr(p, ' ', end - p);
	size_t l = (sp != NULL ? sp : end) - p;

	if (l == 0 || l >= outlen)
		return NULL;
	memcpy(out, p, l);
	out[l] = '\0';
	return sp != NULL ? sp + 1 : end;
}

/* A v1 port: 0..65535 in decimal, no sign, no leading zero. */
static int
v1_port(const char *s)
{
	size_t l = strlen(s);
	long v = 0;

	if (l == 0 || l > 5 || (l > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < l; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 65535 ? (int)v : -1;
}

int
proxy_v1_parse(const char *line, size_t len, struct proxy_hdr *h,
    const char **why)
{
	char proto[8], src[64], dst[64], sp[8], dp[8];
	unsigned char bin[16];
	const char *p, *end;
	int af;

	memset(h, 0, sizeof(*h));
	h->version = 1;
	h->family = AF_UNSPEC;
	if (len < 8 || len > PROXY_V1_MAX || line[len - 2] != '\r' ||
	    line[len - 1] != '\n') {
		*why = "PROXY v1: no CRLF within 107 bytes";
		return -1;
	}
	if (memcmp(line, "PROXY ", 6) != 0) {
		*why = "PROXY v1: bad signature";
		return -1;
	}
	end = line + len - 2;
	if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len - 2)) {
		*why = "PROXY v1: control character";
		return -1;
	}
	if (end - (line + 6) >= 7 && memcmp(line + 6, "UNKNOWN", 7) == 0 &&
	    (end - line == 13 || line[13] == ' ')) {
		/* The balancer could not tell: its own address stays. */
		h->local = 1;
		return 0;
	}
	if ((p = v1_field(line + 6, end, proto, sizeof(proto))) == NULL ||
	    (strcmp(proto, "TCP4") != 0 && strcmp(proto, "TCP6") != 0)) {
		*why = "PROXY v1: unknown protocol";
		return -1;
	}
	af = proto[3] == '4' ? AF_INET : AF_INET6;
	if ((p = v1_field(p, end, src, sizeof(src))) == NULL ||
	    (p = v1_field(p, end, dst, sizeof(dst))) == NULL ||
	    (p = v1_field(p, end, sp, sizeof(sp))) == NULL ||
	    (p = v1_field(p, end, dp, sizeof(dp))) == NULL || p != end ||
	    end[-1] == ' ') {
		*why = "PROXY v1: wrong number of fields";
		return -1;
	}
	if (inet_pton(af, src, bin) != 1 || inet_pton(af, dst, bin) != 1) {
		*why = "PROXY v1: bad address";
		return -1;
	}
	if ((h->sport = v1_port(sp)) == -1 || (h->dport = v1_port(dp)) == -1) {
		*why = "PROXY v1: bad port";
		return -1;
	}
	/* The canonical text, as getnameinfo gives for a direct peer. */
	if (inet_pton(af, src, bin) != 1 ||
	    inet_ntop(af, bin, h->src, sizeof(h->src)) == NULL ||
	    inet_pton(af, dst, bin) != 1 ||
	    inet_ntop(af, bin, h->dst, sizeof(h->dst)) == NULL) {
		*why = "PROXY v1: bad address";
		return -1;
	}
	h->family = af;
	return 0;
}

int
proxy_acl_parse(struct proxy_acl *acl, const char *list, char *err,
    size_t errlen)
{
	char item[128];
	const char *p = list;

	memset(acl, 0, sizeof(*acl));
	while (*p != '\0') {
		size_t l = strcspn(p, ", ");
		struct proxy_net *n;
		char *slash, *end;
		int max;

		if (l == 0) {
			p++;
			continue;
		}
		if (l >= sizeof(item) || acl->n == PROXY_ACL_MAX) {
			snprintf(err, errlen, l >= sizeof(item) ? "address too "
			    "long" : "more than %d addresses", PROXY_ACL_MAX);
			return -1;
		}
		memcpy(item, p, l);
		item[l] = '\0';
		p += l;
		n = &acl->net[acl->n];
		if ((slash = strchr(item, '/')) != NULL)
			*slash = '\0';
		if (inet_pton(AF_INET, item, n->addr) == 1)
			n->family = AF_INET;
		else if (inet_pton(AF_INET6, item, n->addr) == 1)
			n->family = AF_INET6;
		else {
			snprintf(err, errlen, "not a numeric address: %.64s",
			    item);
			return -1;
		}
		max = n->family == AF_INET ? 32 : 128;
		n->prefix = max;
		if (slash != NULL) {
			long v = strtol(slash + 1, &end, 10);

			if (slash[1] < '0' || slash[1] > '9' || *end != '\0' ||
			    v < 0 || v > max) {
				snprintf(err, errlen, "bad prefix length: "
				    "%.64s", slash + 1);
				return -1;
			}
			n->prefix = (int)v;
		}
		acl->n++;
	}
	if (acl->n == 0) {
		snprintf(err, errlen, "no address");
		return -1;
	}
	return 0;
}

/* Do the first bits of a and b agree? */
static int
prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((a[whole] ^ b[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

int
proxy_acl_match(const struct proxy_acl *acl, const struct sockaddr *sa)
{
	const unsigned char *a;
	int af = sa->sa_family;

	if (af == AF_INET)
		a = (const unsigned char *)
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (af == AF_INET6)
		a = (const unsigned char *)
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		return 0;
	for (int i = 0; i < acl->n; i++)
		if (acl->net[i].family == af &&
		    prefix_eq(a, acl->net[i].addr, acl->net[i].prefix))
			return 1;
	return 0;
}
