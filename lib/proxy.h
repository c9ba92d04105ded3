/* SPDX-License-Identifier: ISC */
/*
 * The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2),
 * receiving side: strict parsers of the header a TCP load balancer puts
 * before the client's bytes, and the list of balancer addresses it is
 * believed from.  Pure functions: reading the bytes is the caller's.
 */
#ifndef OCTO_PROXY_H
#define OCTO_PROXY_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#define PROXY_V1_MAX	107	/* the longest v1 line, CRLF included */
#define PROXY_V2_FIXED	16	/* signature, ver/cmd, family, length */
#define PROXY_V2_MAX	512	/* the longest v2 address block taken */
#define PROXY_ACL_MAX	32	/* balancer addresses or networks */

/* What a header says. */
struct proxy_hdr {
	int	 version;	/* 1 or 2 */
	int	 local;		/* LOCAL (v2) or UNKNOWN (v1): no addresses */
	int	 family;	/* AF_INET or AF_INET6; AF_UNSPEC if local */
	char	 src[64];	/* numeric source address */
	int	 sport;
	char	 dst[64];
	int	 dport;
};

struct proxy_net {
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];
	int		 prefix;	/* bits */
};

struct proxy_acl {
	struct proxy_net net[PROXY_ACL_MAX];
	int		 n;
};

/*
 * The first 16 bytes of a v2 header: the number of address bytes that
 * follow (0..PROXY_V2_MAX), or -1 with *why (bad signature, version,
 * command, family or length).
 */
int	proxy_v2_length(const unsigned char fixed[PROXY_V2_FIXED],
	    const char **why);
/* A whole v2 header (fixed part, then len address bytes): 0 or -1. */
int	proxy_v2_parse(const unsigned char fixed[PROXY_V2_FIXED],
	    const unsigned char *body, size_t len, struct proxy_hdr *,
	    const char **why);
/* A v1 line of len bytes, CRLF included: 0 or -1 with *why. */
int	proxy_v1_parse(const char *line, size_t len, struct proxy_hdr *,
	    const char **why);

/* "ADDR[/PREFIX][,...]" (IPv4 or IPv6): 0, or -1 with a message. */
int	proxy_acl_parse(struct proxy_acl *, const char *list, char *err,
	    size_t errlen);
/* Is sa (AF_INET or AF_INET6) one of the balancers? */
int	proxy_acl_match(const struct proxy_acl *, const struct sockaddr *sa);

#endif
