/* SPDX-License-Identifier: ISC */
/* tentacle-send: the -y HTTP CONNECT proxy, as tentacle_client does it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "log.h"
#include "net.h"

#include "send.h"

#define PROXY_HDR_MAX	100	/* header lines we accept after the status */

/*
 * Split "[user:pass@]host:port" (host may be "[v6]") into its parts;
 * auth gets "user:pass" or "".
 */
int
proxy_parse(const char *proxy, char *host, size_t hlen, char *port,
    size_t plen, char *auth, size_t alen)
{
	const char *at = strrchr(proxy, '@'), *hp, *colon;
	size_t n;

	auth[0] = '\0';
	hp = proxy;
	if (at != NULL) {
		n = at - proxy;
		if (n >= alen || memchr(proxy, ':', n) == NULL)
			return -1;
		memcpy(auth, proxy, n);
		auth[n] = '\0';
		hp = at + 1;
	}
	if ((colon = strrchr(hp, ':')) == NULL || colon[1] == '\0' ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strlen(colon + 1) >= plen)
		return -1;
	strlcpy(port, colon + 1, plen);
	n = colon - hp;
	if (n >= 2 && hp[0] == '[' && hp[n - 1] == ']') {
		hp++;
		n -= 2;
	}
	if (n == 0 || n >= hlen)
		return -1;
	memcpy(host, hp, n);
	host[n] = '\0';
	return 0;
}

/*
 * Connect to the proxy, ask it for a tunnel to host:port and read its
 * answer up to the empty line; c then carries the Tentacle session.
 */
int
proxy_connect(const char *proxy, const char *host, const char *port,
    const char *src, int idle_ms, struct conn *c, char *err, size_t errlen)
{
	char phost[NI_MAXHOST], pport[16], auth[512], req[2048], line[NET_RBUF];
	unsigned char b64[700];
	size_t len;
	int fd, r, i, v6 = strchr(host, ':') != NULL;

	if (proxy_parse(proxy, phost, sizeof(phost), pport, sizeof(pport),
	    auth, sizeof(auth)) == -1) {
		snprintf(err, errlen, "-y: want [user:pass@]host:port");
		return -1;
	}
	if ((fd = net_connect_from(phost, pport, src, idle_ms, err,
	    errlen)) == -1)
		return -1;
	conn_init(c, fd, idle_ms);
	len = snprintf(req, sizeof(req), "CONNECT %s%s%s:%s HTTP/1.0\r\n",
	    v6 ? "[" : "", host, v6 ? "]" : "", port);
	if (auth[0] != '\0') {
		EVP_EncodeBlock(b64, (unsigned char *)auth, strlen(auth));
		len += snprintf(req + len, sizeof(req) - len,
		    "Proxy-Authorization: Basic %s\r\n", b64);
		explicit_bzero(b64, sizeof(b64));
	}
	explicit_bzero(auth, sizeof(auth));
	len += snprintf(req + len, sizeof(req) - len, "\r\n");
	r = conn_write(c, req, len);
	explicit_bzero(req, sizeof(req));
	if (r == -1) {
		snprintf(err, errlen, "proxy %s:%s: %s", phost, pport,
		    strerror(errno));
		goto bad;
	}
	for (i = 0; i <= PROXY_HDR_MAX; i++) {
		char vis[LOG_VISBUF];

		r = conn_readline(c, line, sizeof(line) - 1, &len);
		if (r != 1) {
			snprintf(err, errlen, "proxy %s:%s: %s", phost, pport,
			    r == 0 ? "closed the connection" : r == -2 ?
			    "header line too long" : strerror(errno));
			goto bad;
		}
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (i == 0) {
			/* "HTTP/1.x 200 ...": the tunnel is open. */
			const char *sp = memchr(line, ' ', len);

			if (strncmp(line, "HTTP/", 5) != 0 || sp == NULL ||
			    strncmp(sp + 1, "200", 3) != 0 ||
			    (sp[4] != ' ' && sp[4] != '\0')) {
				snprintf(err, errlen, "proxy %s:%s refused: %s",
				    phost, pport,
				    log_vis(vis, sizeof(vis), line, len));
				goto bad;
			}
		} else if (len == 0)
			break;
	}
	if (i > PROXY_HDR_MAX) {
		snprintf(err, errlen, "proxy %s:%s: too many header lines",
		    phost, pport);
		goto bad;
	}
	if (conn_buffered(c) != 0) {
		snprintf(err, errlen, "proxy %s:%s: data before the request",
		    phost, pport);
		goto bad;
	}
	return 0;
bad:
	conn_close(c);
	return -1;
}
