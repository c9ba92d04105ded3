/* SPDX-License-Identifier: ISC */
/*
 * A drain: one run of a spool consumer.  It locks the queue, recovers
 * cur/, claims every item in new/ in name order, hands each to the
 * tool's handler, and commits in batches: outputs written to the next
 * queue's tmp/, made durable together with the audit events, renamed
 * into new/, one fsync per directory, and only then the inputs are
 * removed.  See doc/octospool-spool.5.
 */
#ifndef OCTO_DRAIN_H
#define OCTO_DRAIN_H

#include <stddef.h>

#include <sys/types.h>

#include "audit.h"
#include "envelope.h"
#include "priv.h"
#include "spool.h"

#define DRAIN_DONE	0	/* handled; input goes after the commit */
#define DRAIN_REJECT	1	/* permanent: reject/ with the reason */
#define DRAIN_RETRY	2	/* temporary: back to new/, stop, exit 75 */

#define DRAIN_BATCH	256
#define DRAIN_REASON_MAX 512

struct drain;

struct drain_item {
	const char	*name;		/* spool name of the item */
	uid_t		 owner;		/* the file's owner: its producer */
	char		*data;		/* whole item (NUL-terminated copy) */
	size_t		 len;
	struct envelope	 env;		/* env.hdrlen == 0: a bare agent file */
	const char	*body;		/* data + env.hdrlen */
	size_t		 bodylen;
	int		 code;		/* sysexits code for a reject */
	char		 reason[DRAIN_REASON_MAX];
};

typedef int drain_handler(struct drain *, struct drain_item *, void *arg);
/* Called once per batch after outputs and audit are durable and before
 * inputs are removed (db-load: COMMIT).  Returns 0, or -1 to give the
 * whole batch back (temporary failure). */
typedef int drain_commit_fn(struct drain *, void *arg);
/* Called at the start of every commit of a non-empty batch, before the
 * batch's audit events are written: the place for summary events. */
typedef void drain_prepare_fn(struct drain *, void *arg);
/*
 * Called as a batch begins with the names it will take, in order (at
 * most the batch size; some may be gone when they are claimed): a hint
 * for work done once per batch instead of once per item (db-load reads
 * the batch's agents in one query).  Nothing in the items is trusted
 * yet: read them with drain_peek().  Returns 0 to go on, or the pass's
 * exit code (EX_TEMPFAIL: a temporary failure, logged by the hook): the
 * pass then ends before the batch's first item is claimed, and every
 * item of it stays in new/.
 */
typedef int drain_batch_fn(struct drain *, char *const *names, size_t n,
		    void *arg);

struct drain_opts {
	const char	*stage;		/* tool name, for reasons and audit */
	size_t		 max_item;	/* bigger items are rejected unread */
	size_t		 batch;		/* items per commit; 0: DRAIN_BATCH */
	drain_commit_fn	*commit;
	drain_prepare_fn *prepare;	/* may be NULL */
	drain_batch_fn	*batch_begin;	/* may be NULL; arg as above */
	void		*arg;		/* for commit, prepare, batch_begin */
	/*
	 * The users whose items this queue takes (its producers); an item
	 * owned by anyone else is rejected unread ("rule=producer").  NULL:
	 * any owner (tests and tools without a configured producer).
	 */
	struct idset	*producers;
};

struct drain_stats {
	unsigned long	 seen, done, rejected, retried, batches;
	unsigned long	 passes;	/* drain_linger: passes made */
	int		 busy;		/* the queue was locked by another run */
};

/* How a drain lingers (drain_linger). */
struct drain_linger {
	int	 idle_exit;	/* seconds without an item before leaving;
				 * 0: one pass (the old behaviour) */
	int	 poll_ms;	/* rescan at least this often (0: 1000) */
	/*
	 * After a wake-up by a new item, wait this long for more items before
	 * the pass (0: none): fewer, fuller batches where latency matters
	 * less than the per-batch cost (audit-sign).
	 */
	int	 batch_wait_ms;
	/*
	 * After a wake-up less than this long after a pass that handled
	 * items ended, wait this long for more (0: never): under load the
	 * passes take several items each, paying a pass's syncs once, while
	 * an item after a quiet spell is taken at once.
	 */
	int	 busy_wait_ms;
	size_t	 audit_max;	/* audit segment cap (auditseg_max) */
	/* Before each pass (a new clock...) and after it (its log line). */
	void	(*before)(void *arg);
	void	(*after)(const struct drain_stats *, int rc, void *arg);
	void	*arg;
};

/*
 * Open a drain over the queue at in_path; out_path (the next stage's
 * queue) and audit_path may be NULL.  Returns NULL and sets err.
 */
struct drain	*drain_open(const char *in_path, const char *out_path,
		    const char *audit_path, const struct drain_opts *,
		    char *err, size_t errlen);
void		 drain_close(struct drain *);
/*
 * Drain everything present.  Returns 0 (also when the queue was locked
 * by another run), 75 after a temporary failure (items given back), 74
 * on an I/O error of the spool itself.
 */
int		 drain_run(struct drain *, drain_handler *, void *arg,
		    struct drain_stats *);
/*
 * Drain, and keep draining while work arrives: woken by inotify on new/
 * (and a rescan every poll_ms as a safety net), until idle_exit seconds
 * pass without an item, a pass fails (its code is returned), another run
 * holds the queue, or SIGTERM or SIGINT comes (the batch in hand is
 * committed first).  State the handler keeps in arg lives across passes.
 * total sums the passes.
 */
int		 drain_linger(struct drain *, drain_handler *, void *arg,
		    const struct drain_linger *, struct drain_stats *total);
/* The lingering keys of a drain's section, for its conf_check() list. */
#define DRAIN_LINGER_KEYS	"idle_exit", "poll_interval", "batch_wait", \
				"busy_wait"
#define DRAIN_IDLE_EXIT		30	/* seconds */
/*
 * Gathering defaults (octospool.conf(5), Lingering drains): busy_wait of
 * xml-validate, the first drain, which thus hands on batches at a
 * steady trickle, and of agent-auth; batch_wait of the three data drains,
 * so that a batch the stage before renamed in is taken whole.
 */
#define DRAIN_GATHER_WAIT	250	/* ms: xml-validate's busy_wait */
#define DRAIN_BUSY_WAIT		10	/* ms: agent-auth's busy_wait */
#define DRAIN_SETTLE_WAIT	1	/* ms: their and db-load's batch_wait */
struct conf;
/* idle_exit (seconds, default DRAIN_IDLE_EXIT, in the section or the top
 * part), poll_interval (ms), batch_wait and busy_wait (ms, defaults
 * batch_wait_def and busy_wait_def) into lo; -1 with err. */
int		 drain_linger_conf(struct drain_linger *, const struct conf *,
		    const char *section, int batch_wait_def, int busy_wait_def,
		    char *err, size_t errlen);
/*
 * After an inotify wake-up: wait for more items, lo->batch_wait_ms, or
 * lo->busy_wait_ms if longer and the wake-up comes less than that after
 * work_end (the monotonic ms at which the last pass that had items
 * ended; -1: none yet); never past until (monotonic ms: the rescan or
 * idle_exit; not the audit segment's hand-off, which comes when the
 * wait ends; -1: none).
 */
void		 drain_gather(const struct drain_linger *, int64_t work_end,
		    int64_t until);
/* Has SIGTERM or SIGINT asked drain_linger to stop? */
int		 drain_stopping(void);
/*
 * SIGTERM, SIGINT: a pass (drain_run) stops after the batch in hand and
 * drain_stopping() says so (drain_linger installs it; a tool with a
 * lingering loop of its own, audit-sign, calls it).
 */
void		 drain_catch_stop(void);
/* From a handler: pass the item on as buf (usually item->data). */
int		 drain_output(struct drain *, const struct drain_item *,
		    const void *buf, size_t len);
/*
 * From batch_begin: the first bytes (at most len) of the item name in
 * new/, not yet claimed, into buf; the count read, or -1 (gone, not a
 * regular file, not a producer's, unreadable).  Unchecked data: a hint.
 */
ssize_t		 drain_peek(struct drain *, const char *name, char *buf,
		    size_t len);
/* From a handler: the batch's audit buffer, to add events to. */
struct audit_buf *drain_audit(struct drain *);
/* Set item->code and item->reason (one line). */
void		 drain_reason(struct drain_item *, int code, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));
/*
 * Test hook: if PIPELINE_CRASH_AT names this point, _exit(99) here.
 * Points: claimed, handled, synced, published, committed.
 */
void		 drain_crash_point(const char *point);
/*
 * Test hook: if PIPELINE_PAUSE_AT names this point, create the file
 * PIPELINE_PAUSE_FILE and wait (at most 60 s) until it is gone, so that
 * a test can act at a known instant (another writer, a server restart).
 */
void		 drain_pause_point(const char *point);

#endif
