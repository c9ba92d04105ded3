/* SPDX-License-Identifier: ISC */
/* tentacle-send: pieces shared by the files of this tool only. */
#ifndef TENTACLE_SEND_H
#define TENTACLE_SEND_H

#include <sys/types.h>

#include <netdb.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "log.h"
#include "net.h"

/* 64 KiB data blocks: tentacle_client's 1 KiB ones stall on delayed ACK. */
#define SEND_BLOCK	(64 * 1024)
#define ZRECV_MAX	(1024LL * 1024 * 1024)	/* unpacked ZRECV limit */

/* Exit codes beyond sysexits.h: 1 is what agents take as "retry later". */
#define EX_FAIL		1

/* What a transfer step returns. */
#define XFER_OK		0
#define XFER_REFUSED	1	/* the server said no: the session may QUIT */
#define XFER_BROKEN	(-1)	/* the session is unusable: just close */

struct opts {
	char		*address;
	char		*port;
	char		*proxy;		/* -y [user:pass@]host:port */
	char		*password;	/* NULL: no PASS */
	char		*password_file;
	char		*cert;
	char		*key;
	char		*ca;
	char		*crl;		/* --crl-file: CRLs of -f's CAs */
	char		*bind;		/* --bind: local source address */
	int		 tls;
	int		 askpass;	/* -w */
	int		 get;		/* -g */
	int		 zip;		/* -z */
	int		 verbose;
	int		 quiet;
	int		 timeout;	/* seconds per wait */
	int		 retries;
	int		 idle_ms;	/* timeout * (retries + 1) */
};

struct session {
	struct conn	 c;
	int		 dirfd;		/* -g: the current directory */
	const struct opts *o;
	char		 server[LOG_VISBUF + 16];	/* "host:port" */
	unsigned	 nfiles;
};

extern int	 send_quiet;

/* Warnings and errors for the user, unless -q. */
#define say_warnx(...) do {						\
	if (!send_quiet)						\
		log_warnx(__VA_ARGS__);					\
} while (0)
#define say_warn(...) do {						\
	if (!send_quiet)						\
		log_warn(__VA_ARGS__);					\
} while (0)

/* xfer.c */
int	 xfer_pass(struct session *, const char *token);
int	 xfer_send(struct session *, const char *path);
int	 xfer_recv(struct session *, const char *name);
void	 xfer_quit(struct session *);
const char *xfer_basename(const char *path);
const char *xfer_neterr(char *buf, size_t len);
int	 xfer_tmp_anon(const char *dir);
void	 xfer_signals(void);

/* proxy.c */
int	 proxy_connect(const char *proxy, const char *host, const char *port,
	    const char *src, int idle_ms, struct conn *, char *err,
	    size_t errlen);
int	 proxy_parse(const char *proxy, char *host, size_t hlen, char *port,
	    size_t plen, char *auth, size_t alen);

/* tlsc.c */
SSL_CTX	*tlsc_ctx(const struct opts *, char *err, size_t errlen);
int	 tlsc_askpass(void);
void	 tlsc_forget(void);

#endif
