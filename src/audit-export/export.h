/* SPDX-License-Identifier: ISC */
/* audit-export internals: the reader, cursors, rendering and the sinks. */
#ifndef AUDIT_EXPORT_H
#define AUDIT_EXPORT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "auditlog.h"

#define EX_MAX_SINKS	16

struct conf;
struct ex_sink;

/* One exported item: a leaf, or a checkpoint (type AL_CHECKPOINT). */
struct ex_item {
	struct al_frame	 f;
	unsigned char	 leaf[AL_HASH];
	struct al_ckpt	 ckpt;		/* checkpoints */
	char		 id[80];	/* dedup id */
};

struct ex_batch {
	struct ex_item	*it;
	size_t		 n, cap;
	uint64_t	 next_seq;	/* cursor after the batch */
	uint64_t	 ckpt_size;
	unsigned char	 ckpt_hash[AL_HASH];
};

struct ex_sink_ops {
	/* Deliver the batch; 0 acknowledged, -1 temporary failure. */
	int	(*deliver)(struct ex_sink *, const struct ex_batch *);
	/* The sink's own cursor (SQL); 1 found, 0 none, -1 failure. */
	int	(*load_cursor)(struct ex_sink *, uint64_t *next_seq);
	void	(*close)(struct ex_sink *);
	int	 own_cursor;	/* the cursor lives in the sink */
};

struct ex_conf;

struct ex_sink {
	char		 name[64];
	char		 section[160];
	char		*type;
	const struct ex_sink_ops *ops;
	const struct ex_conf *cf;
	char		 log_id_hex[2 * AL_LOGID + 1];
	/* jsonl */
	char		*path;
	int		 fd;
	/* syslog */
	char		*host, *port, *ca, *cert, *key, *server_name, *sd_id;
	char		*min_version;
	int		 facility;
	int		 connect_timeout, ack_timeout;
	void		*tls;		/* SSL_CTX */
	void		*conn;		/* struct conn */
	/* witness */
	char		*wqueue, *wcosigned;
	void		*wit;		/* struct wsink */
	/* sql */
	void		*db;		/* struct db */
	void		*dbconf;	/* struct db_conf */
	void		*st_ins, *st_cur_get, *st_cur_ins, *st_cur_upd;
};

struct ex_conf {
	char		*user, *log_dir, *state_dir, *hostname;
	long long	 batch, retry_min, retry_max, retry_time, poll_ms;
	int		 follow;
	struct ex_sink	 sinks[EX_MAX_SINKS];
	int		 nsinks;
};

extern volatile sig_atomic_t ex_stop;

int	ex_run_sink(const struct ex_conf *, struct ex_sink *);
/* One ECS JSON object for an item, no newline. */
void	ex_render_ecs(const struct ex_sink *, const struct ex_item *,
	    struct al_buf *);
/* Backoff with full jitter: a random delay in [0, min(max, min*2^n)). */
long long ex_backoff(long long min, long long max, int attempt);

long long ex_get_num(const struct conf *, const char *sec, const char *key,
	    long long min, long long max, long long def);
char	*ex_get_str(const struct conf *, const char *sec, const char *key,
	    const char *def);

void	sink_jsonl_conf(struct ex_sink *, const struct conf *);
void	sink_syslog_conf(struct ex_sink *, const struct conf *);
void	sink_sql_conf(struct ex_sink *, const struct conf *);
void	sink_witness_conf(struct ex_sink *, const struct conf *);
/* RFC 5424 message for an item (exposed for tests through the sink). */
void	sink_syslog_render(const struct ex_sink *, const struct ex_item *,
	    struct al_buf *);

#endif
