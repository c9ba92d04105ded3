/* SPDX-License-Identifier: ISC */
/* tentacle-recv: shared declarations between main, session and store. */
#ifndef RECV_H
#define RECV_H

#include <sys/types.h>

#include <pthread.h>
#include <regex.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "audit.h"
#include "auditseg.h"
#include "net.h"
#include "proxy.h"
#include "spool.h"
#include "stamp.h"
#include "tls.h"

#define RECV_MAX_FILTERS	16
#define RECV_MAX_DIRS		32
#define RECV_IO_BLOCK		(64 * 1024)

enum recv_layout {
	LAYOUT_OCTOSPOOL,	/* spool/<next stage>/new, served tree ro */
	LAYOUT_STOCK		/* -s DIR as tentacle_server stores */
};

struct recv_filter {
	regex_t	 re;
	char	*pattern;
	char	*dir;		/* one path component */
	int	 dirfd;		/* stock: DIR/dir; octospool: served/dir */
	int	 dirix;		/* index in the syncer's table, or -1 */
	int	 upload;	/* octospool: SEND goes to the upload queue */
};

struct recv_conf {
	/* what the listener does */
	char	*addresses;
	char	*port;
	char	*port_file;
	char	*pid_file;
	int	 max_conn;
	int	 max_per_source;
	struct proxy_acl proxy;		/* balancers: PROXY header required */
	int	 have_proxy;
	/* storage */
	enum recv_layout layout;
	char	*storage_dir;		/* stock layout */
	char	*spool_dir;		/* octospool layout */
	char	*served_dir;
	char	*data_pattern;
	regex_t	 data_re;
	char	*filters;
	struct recv_filter filter[RECV_MAX_FILTERS];
	int	 nfilters;
	int	 overwrite;
	long long max_size;
	size_t	 name_max;
	mode_t	 file_mode;
	char	 bad_chars[256];
	int	 audit;
	char	*audit_spool;
	size_t	 audit_seg_max;		/* a segment's size: audit-sign's max_file */
	char	*stamp_key;		/* octospool layout; NULL: none */
	/* authentication and TLS */
	int	 have_password;
	char	 token[33];
	int	 tls_on;
	struct tls_opts tls;
	SSL_CTX	*ssl_ctx;
	/* time limits, in milliseconds unless said */
	int	 idle_ms;
	int	 session_ms;
	long long min_rate;		/* bytes/s in the data phase */
	int	 auth_fail_delay_ms;
	int	 auth_fail_limit;
	int	 auth_fail_window_s;
	int	 auth_block_s;
	int	 tls_fail_limit;	/* failed handshakes that block; 0 none */
	int	 fail_log_burst;	/* pre-auth failures recorded, per source */
	int	 fail_log_total;	/* ... and for all sources together */
	int	 fail_log_interval_s;	/* their refill time and summary period */
	/* process */
	char	*user;
	int	 daemon;
	char	*log_file;
	int	 verbose;
	int	 quiet;
	char	 hostname[256];
};

/* The group-commit directory syncer. */
struct syncer {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	uint64_t	 req, done;
	int		 broken;	/* errno of a failed fsync: sticky */
	uint32_t	 dirty;
	int		 busy;
	int		 fds[RECV_MAX_DIRS];
	dev_t		 devs[RECV_MAX_DIRS];	/* their file systems */
	int		 nfds;
	/*
	 * The spool's file system (the audit queue's): a round whose
	 * directories all live there is one syncfs(fsfd) instead of an
	 * fsync per directory.  -1: fsync only.
	 */
	int		 fsfd;
	dev_t		 fsdev;
	uint64_t	 rounds, syncfs_rounds;
};

/* Where an accepted SEND goes. */
struct route {
	int		 kind;		/* ROUTE_* */
	struct spool	*queue;		/* octospool: queue to produce into */
	int		 dirfd;		/* stock: directory to store into */
	int		 dirix;		/* syncer index of the final dir */
	const char	*what;		/* "data", "upload", dir name */
	const char	*bound;		/* Client-Bound key of an upload, or NULL */
};
#define ROUTE_NONE	0
#define ROUTE_QUEUE	1
#define ROUTE_DIR	2

/*
 * Audit events committed in groups: sessions queue their events and one
 * of them appends every queued event to this process's open segment
 * (audit-sign/tmp/<name>.tentacle-recv.seg, locked while we live:
 * lib/auditseg) and syncs it once for all of them.  A segment is handed
 * on (renamed into audit-sign/new) when it is idle for AUDITSEG_IDLE_MS,
 * older than AUDITSEG_AGE_MS or before it outgrows audit_seg_max
 * (audit-sign's max_file), and at stop; a dead process's segment is
 * handed on at the next start (store_start).
 */
struct audit_wait;
struct auditor {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;		/* a round or a hand-off ended */
	pthread_cond_t	 flush_cv;	/* CLOCK_MONOTONIC: the hand-off */
	struct audit_wait *head, **tail;
	int		 busy;
	struct auditseg	 seg;		/* changed only by a round's leader,
					 * the flusher or store_stop */
	int		 closed;	/* stopping: no more rounds */
	/*
	 * A descriptor of its own for the round's syncfs(): a write-back
	 * error is reported once to each open file, and a segment opened
	 * after it (or the syncer's) would never hear of it.  -1: none.
	 */
	int		 fsfd;
	unsigned long	 rounds, events;	/* statistics */
};
struct store {
	struct recv_conf *cf;
	struct auditor	 aud;
	struct spool	 data_q;	/* spool/xml-validate */
	struct spool	 upload_q;	/* spool/conf-dist/uploads */
	struct spool	 audit_q;	/* spool/audit-sign */
	int		 have_audit;
	int		 audit_ix;
	int		 stock_dirfd;	/* -s DIR */
	int		 stock_ix;
	int		 anon_ok;	/* O_TMPFILE + linkat work here */
	struct stamp_signer stamp;	/* signs every envelope */
	int		 have_stamp;
	struct syncer	 sync;
};

/* What a session knows about its peer, for logs, envelope and audit. */
struct peer {
	char	addr[64];
	int	port;
	char	tls[32];
	char	cipher[64];
	char	subject[1024];
	char	fp[65];
	int	authed;			/* a password was checked */
	char	via[64];		/* the balancer it came through, or "" */
	int	balancer;		/* the balancer itself (LOCAL) */
};

extern struct recv_conf	 recv_cf;
extern struct store	 recv_store;

/* store.c */
int	store_init(struct store *, struct recv_conf *, char *err, size_t);
int	store_route_send(struct store *, const char *name, struct route *);
int	store_route_recv(struct store *, const char *name);
int	store_exists(struct store *, const struct route *, const char *name);
/*
 * Receive size bytes (or, with zip, a ZIP blob of size bytes) from c and
 * store them durably under name.  Returns 0 stored, and otherwise the
 * reply to send: a static string (such as "exists") or NULL meaning
 * close the connection without a reply; *why gets a log reason.
 */
int	store_receive(struct store *, struct conn *, const struct peer *,
	    const struct route *, const char *name, long long size, int zip,
	    const char **why, char *id, size_t idlen, char *sha, size_t *outlen);
void	store_audit(struct store *, const struct peer *, const char *action,
	    const char *outcome, const char *name, size_t namelen,
	    const char *reason, const char *id, long long size,
	    const char *sha);
int	store_data_by_syncfs(const struct store *, int dirix);
/* Commit the events of ab to the audit segment, best effort (logs why not). */
void	store_audit_events(struct store *, struct audit_buf *,
	    const char *action);
int	store_scratch(int dirfd);
void	auditor_init(struct auditor *);
/* After the fork and the privilege drop: recover, start the hand-off. */
int	store_start(struct store *);
/* Stop: hand on the open segment; no event is committed afterwards. */
void	store_stop(struct store *);
int	syncer_add(struct syncer *, int fd);
int	syncer_sync(struct syncer *, uint32_t mask);

/* An accepted connection handed to its session thread. */
struct accepted {
	int	fd;
	int	port;
	char	addr[64];
	int	balancer;	/* from a proxy_from address: header first */
	struct accepted *next;	/* main.c's queue of the thread pool */
};

/* main.c: the TLS context of new sessions (a reference: SSL_CTX_free it). */
SSL_CTX	*recv_tls_ctx(void);

/* session.c */
void	*session_main(void *);	/* takes a malloc'd struct accepted */
/* Balancer health checks seen (connections that sent no client byte). */
unsigned long session_health_checks(void);

/* source.c: per-address accounting, blocks and failure folding. */
enum fail_kind {
	FAIL_TLS,		/* a failed TLS handshake */
	FAIL_REVOKED,		/* ... with a revoked certificate */
	FAIL_PASS,		/* a wrong or missing PASS */
	FAIL_BLOCKED,		/* refused: the address is blocked */
	FAIL_LIMIT,		/* refused: over a connection limit */
	FAIL_PROXY,		/* a balancer's connection without a header */
	FAIL_NKINDS
};
void	 source_init(void);
/* May addr open one more session?  1 yes (counted); 0 no: *why set, and
 * *record 1 if the refusal may be logged on its own (source_failure). */
int	 source_admit(const char *addr, const char **why, int *record);
void	 source_release(const char *addr);
/* A balancer's connection: the global count only, before its header. */
int	 source_admit_global(const char *addr, const char **why, int *record);
/* ... then the carried address: its block and max_per_source only. */
int	 source_admit_carried(const char *addr, const char **why,
	    int *record);
/* Give back what source_admit_global took (source_release: both). */
void	 source_release_global(void);
/* Count a pre-authentication failure: 1 log and audit it on its own, 0
 * it is folded into the next summary (a token bucket per address and
 * kind, and one per kind for all addresses). */
int	 source_failure(const char *addr, enum fail_kind);
/* Before a PASS comparison: 1 reserved, 0 refused (blocked, or failures
 * and comparisons in flight at auth_fail_limit; *why set). */
int	 source_auth_reserve(const char *addr, const char **why);
/* After it (reserved 0: a first line that is not PASS): a failure
 * counts; 1 if it blocked the address. */
int	 source_auth_done(const char *addr, int reserved, int ok);
/* A failed handshake that sent bytes; 1 if it blocked the address. */
int	 source_tls_failed(const char *addr);
/* Write the summary of folded failures when due (final: now). */
void	 source_summary(int final);
int	 source_summary_wait_ms(void);

#define STORE_OK	0
#define STORE_EXISTS	1	/* reply: file already exists */
#define STORE_CLOSE	2	/* close without a reply */
#define STORE_ZIPERR	3	/* ZSEND ERR */

#endif
