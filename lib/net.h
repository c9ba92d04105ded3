/* SPDX-License-Identifier: ISC */
/*
 * A connection with deadlines: every read and write waits at most
 * idle_ms for progress and never past the absolute deadline; the same
 * calls work over plain TCP and TLS.
 */
#ifndef OCTO_NET_H
#define OCTO_NET_H

#include <sys/socket.h>
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#define NET_RBUF	4096

struct conn {
	int		 fd;
	SSL		*ssl;
	int		 idle_ms;	/* no progress for this long: timeout */
	int64_t		 deadline_ms;	/* CLOCK_MONOTONIC ms; 0 = none */
	int		 quickack;	/* re-arm TCP_QUICKACK after reads */
	size_t		 rpos, rlen;
	unsigned char	 rbuf[NET_RBUF];
	uint64_t	 nread, nwritten;
};

int64_t	 net_now_ms(void);
void	 conn_init(struct conn *, int fd, int idle_ms);
/* Read what is there (at most len, at least 1 byte): >0, 0 EOF, -1. */
ssize_t	 conn_read(struct conn *, void *buf, size_t len);
/* Read exactly len bytes: 0 done, -1 error/timeout/EOF (errno EPIPE). */
int	 conn_readn(struct conn *, void *buf, size_t len);
/*
 * One LF-terminated line without the LF into line (NUL-terminated, may
 * contain NUL bytes: use *len).  1 line, 0 clean EOF, -1 error/timeout,
 * -2 longer than max bytes.
 */
int	 conn_readline(struct conn *, char *line, size_t max, size_t *len);
/* Bytes already buffered past the last line or block read. */
size_t	 conn_buffered(const struct conn *);
int	 conn_write(struct conn *, const void *buf, size_t len);
int	 conn_tls_accept(struct conn *, SSL_CTX *);
int	 conn_tls_connect(struct conn *, SSL_CTX *, const char *host,
	    int verify);
void	 conn_close(struct conn *);
void	 net_close_gently(int fd);
/* TCP connect to host:port with a timeout; returns fd or -1. */
int	 net_connect(const char *host, const char *port, int timeout_ms,
	    char *err, size_t errlen);
/* The same from the numeric local address src (NULL: any). */
int	 net_connect_from(const char *host, const char *port, const char *src,
	    int timeout_ms, char *err, size_t errlen);
/* Numeric peer address and port from getpeername. */
int	 net_peer(int fd, char *addr, size_t alen, int *port);

#endif
