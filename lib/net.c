/* SPDX-License-Identifier: ISC */
/* Connections with idle timeouts and deadlines, over TCP or TLS. */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net.h"
#include "tls.h"

int64_t
net_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
conn_init(struct conn *c, int fd, int idle_ms)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->idle_ms = idle_ms;
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Wait for the socket; 0 ready, -1 with errno ETIMEDOUT or other. */
static int
conn_wait(struct conn *c, short ev)
{
	struct pollfd pfd = { .fd = c->fd, .events = ev };
	int timeout = c->idle_ms, r;

	if (c->deadline_ms > 0) {
		int64_t left = c->deadline_ms - net_now_ms();

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (left < timeout)
			timeout = (int)left;
	}
	do
		r = poll(&pfd, 1, timeout);
	while (r == -1 && errno == EINTR);
	if (r == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return r < 0 ? -1 : 0;
}

/* One read from the socket or TLS into buf: >0, 0 EOF, -1 error. */
static ssize_t
conn_rawread(struct conn *c, void *buf, size_t len)
{
	for (;;) {
		ssize_t n;
		short ev = POLLIN;

		if (c->ssl != NULL) {
			int r, e;

			ERR_clear_error();
			r = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX :
			    (int)len);
			if (r > 0)
				n = r;
			else {
				e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_ZERO_RETURN)
					return 0;
				if (e == SSL_ERROR_WANT_WRITE)
					ev = POLLOUT;
				else if (e != SSL_ERROR_WANT_READ) {
					if (e == SSL_ERROR_SYSCALL && errno == 0)
						return 0;	/* unclean EOF */
					if (errno == 0)
						errno = EPROTO;
					return -1;
				}
				n = -1;
				errno = EAGAIN;
			}
		} else
			n = read(c->fd, buf, len);
		if (n >= 0) {
			if (n > 0 && c->quickack) {
				int one = 1;

				(void)setsockopt(c->fd, IPPROTO_TCP,
				    TCP_QUICKACK, &one, sizeof(one));
			}
			c->nread += n;
			return n;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if (c->quickack) {
			int one = 1;

			/* Before sleeping too: the peer's next small write
			 * must not wait for our delayed ACK. */
			(void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK,
			    &one, sizeof(one));
		}
		if (conn_wait(c, ev) == -1)
			return -1;
	}
}

ssize_t
conn_read(struct conn *c, void *buf, size_t len)
{
	if (c->rpos < c->rlen) {
		size_t n = c->rlen - c->rpos;

		if (n > len)
			n = len;
		memcpy(buf, c->rbuf + c->rpos, n);
		c->rpos += n;
		return n;
	}
	return conn_rawread(c, buf, len);
}

int
conn_readn(struct conn *c, void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = conn_read(c, p, len);

		if (n == 0)
			errno = EPIPE;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

size_t
conn_buffered(const struct conn *c)
{
	return c->rlen - c->rpos;
}

int
conn_readline(struct conn *c, char *line, size_t max, size_t *len)
{
	for (;;) {
		unsigned char *nl = memchr(c->rbuf + c->rpos, '\n',
		    c->rlen - c->rpos);
		ssize_t n;

		if (nl != NULL) {
			size_t ll = nl - (c->rbuf + c->rpos);

			if (ll > max)
				return -2;
			memcpy(line, c->rbuf + c->rpos, ll);
			line[ll] = '\0';
			*len = ll;
			c->rpos += ll + 1;
			return 1;
		}
		if (c->rlen - c->rpos > max)
			return -2;
		if (c->rpos > 0) {
			memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
			c->rlen -= c->rpos;
			c->rpos = 0;
		}
		if (c->rlen == sizeof(c->rbuf))
			return -2;
		n = conn_rawread(c, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
		if (n == 0) {
			if (c->rlen > 0)
				errno = EPIPE;
			return c->rlen > 0 ? -1 : 0;
		}
		if (n < 0)
			return -1;
		c->rlen += n;
	}
}

int
conn_write(struct conn *c, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len > 0) {
		ssize_t n;
		short ev = POLLOUT;

		if (c->ssl != NULL) {
			int r, e;

			ERR_clear_error();
			r = SSL_write(c->ssl, p, len > INT32_MAX ? INT32_MAX :
			    (int)len);
			if (r > 0)
				n = r;
			else {
				e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ)
					ev = POLLIN;
				else if (e != SSL_ERROR_WANT_WRITE) {
					if (errno == 0)
						errno = EPIPE;
					return -1;
				}
				n = -1;
				errno = EAGAIN;
			}
		} else
			n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= n;
			c->nwritten += n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR)
			return -1;
		if (conn_wait(c, ev) == -1)
			return -1;
	}
	return 0;
}

/* Drive a handshake step until done, within the idle time and deadline. */
static int
conn_handshake(struct conn *c, int server)
{
	for (;;) {
		int r, e;

		ERR_clear_error();
		r = server ? SSL_accept(c->ssl) : SSL_connect(c->ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ) {
			if (conn_wait(c, POLLIN) == -1)
				return -1;
		} else if (e == SSL_ERROR_WANT_WRITE) {
			if (conn_wait(c, POLLOUT) == -1)
				return -1;
		} else {
			if (errno == 0 || e == SSL_ERROR_SSL)
				errno = EPROTO;
			return -1;
		}
	}
}

int
conn_tls_accept(struct conn *c, SSL_CTX *ctx)
{
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return -1;
	return conn_handshake(c, 1);
}

int
conn_tls_connect(struct conn *c, SSL_CTX *ctx, const char *host, int verify)
{
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return -1;
	if (tls_client_expect(c->ssl, host, verify) == -1)
		return -1;
	return conn_handshake(c, 0);
}

/*
 * Close with a FIN, not a RST: shut down our side, drop (a bounded
 * amount of) what the peer already sent, then close.  A client then
 * sees a clean end of stream, as with the stock server.
 */
void
net_close_gently(int fd)
{
	char junk[4096];

	(void)shutdown(fd, SHUT_WR);
	for (int i = 0; i < 16; i++)
		if (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) <= 0)
			break;
	close(fd);
}

/* Close without waiting for the peer: one close_notify at most. */
void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		net_close_gently(c->fd);
	c->fd = -1;
	ERR_clear_error();
}

/* Bind fd to the numeric address src (port 0) before it connects. */
static int
net_bind_source(int fd, int family, const char *src)
{
	struct addrinfo hints, *res;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	if (getaddrinfo(src, NULL, &hints, &res) != 0) {
		errno = EADDRNOTAVAIL;
		return -1;
	}
	rc = bind(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return rc;
}

int
net_connect(const char *host, const char *port, int timeout_ms, char *err,
    size_t errlen)
{
	return net_connect_from(host, port, NULL, timeout_ms, err, errlen);
}

int
net_connect_from(const char *host, const char *port, const char *src,
    int timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, r, saved = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct pollfd pfd;
		socklen_t sl = sizeof(saved);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		if (src != NULL && net_bind_source(fd, ai->ai_family, src) == -1)
			saved = errno;
		else if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		else if (errno == EINPROGRESS) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			do
				r = poll(&pfd, 1, timeout_ms);
			while (r == -1 && errno == EINTR);
			if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR,
			    &saved, &sl) == 0 && saved == 0)
				break;
			if (r == 0)
				saved = ETIMEDOUT;
		} else
			saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		snprintf(err, errlen, "cannot connect to %s:%s%s%s: %s", host,
		    port, src ? " from " : "", src ? src : "",
		    strerror(saved ? saved : ECONNREFUSED));
	return fd;
}

int
net_peer(int fd, char *addr, size_t alen, int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == -1)
		return -1;
	if (getnameinfo((struct sockaddr *)&ss, sl, addr, alen, NULL, 0,
	    NI_NUMERICHOST) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else
		*port = 0;
	return 0;
}
