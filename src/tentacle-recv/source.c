/* SPDX-License-Identifier: ISC */
/*
 * tentacle-recv per-source accounting: sessions per address, wrong
 * passwords and failed TLS handshakes that block an address, the PASS
 * attempts in flight, and the folding of pre-authentication failures
 * into periodic summaries, so that a flood of them costs a bounded
 * number of log records and audit events (and so of disk) whatever its
 * size.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "log.h"
#include "net.h"

#include "recv.h"

#define SRC_SLOTS	8192	/* > the max_connections cap */
#define SUMMARY_TOP	16	/* sources with a summary event of their own */

static const char *const kind_name[FAIL_NKINDS] = {
	"tls", "revoked", "pass", "blocked", "limit", "proxy"
};

/* Failures of one kind or another since the last summary. */
struct tally {
	long	count[FAIL_NKINDS];	/* all, recorded one by one or not */
	long	unrecorded;		/* folded: no record of their own */
	time_t	first, last;		/* wall clock */
};

struct source {
	char		 addr[64];
	int		 active;	/* sessions */
	int		 inflight;	/* PASS comparisons reserved */
	int		 fails;		/* wrong passwords ... */
	int64_t		 fail_start;	/* ... in the window from here */
	int		 tls_fails;	/* failed handshakes ... */
	int64_t		 tls_start;
	int64_t		 blocked_until;
	const char	*block_why;
	int64_t		 last;
	int64_t		 tat[FAIL_NKINDS];	/* its token buckets */
	struct tally	 t;
};

static struct source	 src_tab[SRC_SLOTS];
static int		 src_used;	/* slots [0, src_used) were used */
static int		 src_active_total;
static int64_t		 glob_tat[FAIL_NKINDS];	/* all sources together */
static struct tally	 forgotten;	/* of sources whose slot was reused */
static long		 forgotten_sources;
static int64_t		 summary_due;	/* CLOCK_MONOTONIC ms */
static pthread_mutex_t	 src_mu = PTHREAD_MUTEX_INITIALIZER;

/* Add the failures of b to a. */
static void
tally_add(struct tally *a, const struct tally *b)
{
	for (int k = 0; k < FAIL_NKINDS; k++)
		a->count[k] += b->count[k];
	a->unrecorded += b->unrecorded;
	if (b->first != 0 && (a->first == 0 || b->first < a->first))
		a->first = b->first;
	if (b->last > a->last)
		a->last = b->last;
}

/* Can s be given to another address without losing anything? */
static int
source_idle(const struct source *s, int64_t now)
{
	int64_t w = recv_cf.auth_fail_window_s * 1000LL;

	return s->active == 0 && s->inflight == 0 && s->blocked_until < now &&
	    (s->fails == 0 || now - s->fail_start > w) &&
	    (s->tls_fails == 0 || now - s->tls_start > w) &&
	    s->t.unrecorded == 0;
}

/* The slot for addr, or a free (or idle, oldest) one; with src_mu held. */
static struct source *
source_get(const char *addr)
{
	struct source *freeslot = NULL, *oldest = NULL;
	int64_t now = net_now_ms();

	for (int i = 0; i < src_used; i++) {
		struct source *s = &src_tab[i];

		if (strcmp(s->addr, addr) == 0)
			return s;
		if (s->active != 0 || s->inflight != 0)
			continue;
		if (source_idle(s, now) &&
		    (freeslot == NULL || s->last < freeslot->last))
			freeslot = s;
		if (oldest == NULL || s->last < oldest->last)
			oldest = s;
	}
	if (freeslot == NULL && src_used < SRC_SLOTS)
		freeslot = &src_tab[src_used++];
	/*
	 * Full of remembered failures (many addresses): forget the oldest
	 * rather than refuse everyone new.  Its block is lost, logged; its
	 * folded failures go into the next summary as a forgotten source.
	 */
	if (freeslot == NULL && (freeslot = oldest) != NULL) {
		log_warnx("event=source.evict peer=%s", oldest->addr);
		if (oldest->t.unrecorded > 0) {
			tally_add(&forgotten, &oldest->t);
			forgotten_sources++;
		}
	}
	if (freeslot != NULL) {
		memset(freeslot, 0, sizeof(*freeslot));
		strlcpy(freeslot->addr, addr, sizeof(freeslot->addr));
	}
	return freeslot;
}

/*
 * A token bucket kept as the time it is full again (GCRA): each record
 * costs interval/burst ms of credit and at most burst fit in one
 * interval.  Does it have room for one more at now?
 */
static int64_t
bucket_cost(int burst)
{
	int64_t c = recv_cf.fail_log_interval_s * 1000LL / burst;

	return c > 0 ? c : 1;
}

static int
bucket_room(int64_t tat, int64_t now, int burst)
{
	if (burst <= 0)
		return 0;
	return (tat > now ? tat : now) + bucket_cost(burst) - now <=
	    recv_cf.fail_log_interval_s * 1000LL;
}

static void
bucket_take(int64_t *tat, int64_t now, int burst)
{
	*tat = (*tat > now ? *tat : now) + bucket_cost(burst);
}

/*
 * Count a failure of kind k for s (NULL: a source that has no slot);
 * 1 if it may have a log record and an audit event of its own, 0 if it
 * is folded into the next summary.  With src_mu held.
 */
static int
source_count(struct source *s, enum fail_kind k)
{
	struct tally *t = s != NULL ? &s->t : &forgotten;
	int64_t now = net_now_ms();
	time_t wall = time(NULL);
	int rec;

	t->count[k]++;
	if (t->first == 0)
		t->first = wall;
	t->last = wall;
	rec = s != NULL && bucket_room(s->tat[k], now, recv_cf.fail_log_burst) &&
	    bucket_room(glob_tat[k], now, recv_cf.fail_log_total);
	if (rec) {
		bucket_take(&s->tat[k], now, recv_cf.fail_log_burst);
		bucket_take(&glob_tat[k], now, recv_cf.fail_log_total);
	} else
		t->unrecorded++;
	return rec;
}

int
source_failure(const char *addr, enum fail_kind k)
{
	int rec;

	pthread_mutex_lock(&src_mu);
	rec = source_count(source_get(addr), k);
	pthread_mutex_unlock(&src_mu);
	return rec;
}

/*
 * Admission: the global count (global), the address's block and
 * max_per_source (local); on success what was checked is counted.
 */
static int
admit(const char *addr, int global, int local, const char **why,
    int *record)
{
	struct source *s = NULL;
	enum fail_kind k = FAIL_LIMIT;
	int ok = 0;

	pthread_mutex_lock(&src_mu);
	if (global && src_active_total >= recv_cf.max_conn)
		*why = "max_connections reached";
	else if ((s = source_get(addr)) == NULL)
		*why = "source table full";
	else if (local && s->blocked_until > net_now_ms()) {
		*why = s->block_why;
		k = FAIL_BLOCKED;
	} else if (local && s->active >= recv_cf.max_per_source)
		*why = "max_per_source reached";
	else {
		if (local) {
			s->active++;
			s->last = net_now_ms();
		}
		if (global)
			src_active_total++;
		ok = 1;
	}
	if (!ok) {
		if (s == NULL)
			s = source_get(addr);
		*record = source_count(s, k);
	}
	pthread_mutex_unlock(&src_mu);
	return ok;
}

int
source_admit(const char *addr, const char **why, int *record)
{
	return admit(addr, 1, 1, why, record);
}

int
source_admit_global(const char *addr, const char **why, int *record)
{
	return admit(addr, 1, 0, why, record);
}

int
source_admit_carried(const char *addr, const char **why, int *record)
{
	return admit(addr, 0, 1, why, record);
}

void
source_release_global(void)
{
	pthread_mutex_lock(&src_mu);
	src_active_total--;
	pthread_mutex_unlock(&src_mu);
}

void
source_release(const char *addr)
{
	struct source *s;

	pthread_mutex_lock(&src_mu);
	if ((s = source_get(addr)) != NULL && s->active > 0) {
		s->active--;
		s->last = net_now_ms();
	}
	src_active_total--;
	pthread_mutex_unlock(&src_mu);
}

/*
 * One more failure in s's window (*n failures since *start): at limit,
 * block s for auth_block_time.  1 if this blocked it; with src_mu held.
 */
static int
source_strike(struct source *s, int64_t now, int *n, int64_t *start,
    int limit, const char *why, const char *what)
{
	s->last = now;
	if (now - *start > recv_cf.auth_fail_window_s * 1000LL) {
		*start = now;
		*n = 0;
	}
	if (++*n < limit || s->blocked_until > now)
		return 0;
	s->blocked_until = now + recv_cf.auth_block_s * 1000LL;
	s->block_why = why;
	log_warnx("event=source.blocked peer=%s fails=%d seconds=%d "
	    "reason=\"%s\"", s->addr, *n, recv_cf.auth_block_s, what);
	return 1;
}

int
source_auth_reserve(const char *addr, const char **why)
{
	struct source *s;
	int64_t now = net_now_ms();
	int ok = 0, fails;

	pthread_mutex_lock(&src_mu);
	if ((s = source_get(addr)) == NULL)
		*why = "source table full";
	else if (s->blocked_until > now)
		*why = s->block_why;
	else {
		fails = now - s->fail_start > recv_cf.auth_fail_window_s *
		    1000LL ? 0 : s->fails;
		if (fails + s->inflight >= recv_cf.auth_fail_limit)
			*why = "password attempts in flight reach the limit";
		else {
			s->inflight++;
			ok = 1;
		}
	}
	pthread_mutex_unlock(&src_mu);
	return ok;
}

int
source_auth_done(const char *addr, int reserved, int ok)
{
	struct source *s;
	int64_t now = net_now_ms();
	int blocked = 0;

	pthread_mutex_lock(&src_mu);
	if ((s = source_get(addr)) != NULL) {
		s->last = now;
		if (reserved && s->inflight > 0)
			s->inflight--;
		if (!ok)
			blocked = source_strike(s, now, &s->fails,
			    &s->fail_start, recv_cf.auth_fail_limit,
			    "source blocked after failed passwords",
			    "wrong passwords");
	}
	pthread_mutex_unlock(&src_mu);
	return blocked;
}

int
source_tls_failed(const char *addr)
{
	struct source *s;
	int64_t now = net_now_ms();
	int blocked = 0;

	if (recv_cf.tls_fail_limit == 0)
		return 0;
	pthread_mutex_lock(&src_mu);
	if ((s = source_get(addr)) != NULL)
		blocked = source_strike(s, now, &s->tls_fails, &s->tls_start,
		    recv_cf.tls_fail_limit,
		    "source blocked after failed TLS handshakes",
		    "failed TLS handshakes");
	pthread_mutex_unlock(&src_mu);
	return blocked;
}

void
source_init(void)
{
	summary_due = net_now_ms() + recv_cf.fail_log_interval_s * 1000LL;
}

int
source_summary_wait_ms(void)
{
	int64_t left;

	pthread_mutex_lock(&src_mu);
	left = summary_due - net_now_ms();
	pthread_mutex_unlock(&src_mu);
	return left < 0 ? 0 : left > 3600000 ? 3600000 : (int)left;
}

/* A wall-clock time as "YYYY-MM-DDTHH:MM:SSZ". */
static const char *
iso_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strlcpy(buf, "-", len);
	return buf;
}

/* One summary record: a log line and an audit event in ab. */
static void
summary_one(struct audit_buf *ab, const char *addr, long nsources,
    const struct tally *t)
{
	char f[32], l[32], counts[160];
	size_t n = 0;

	counts[0] = '\0';
	for (int k = 0; k < FAIL_NKINDS; k++)
		n += snprintf(counts + n, n < sizeof(counts) ?
		    sizeof(counts) - n : 0, "%s=%ld ", kind_name[k],
		    t->count[k]);
	iso_time(t->first, f, sizeof(f));
	iso_time(t->last, l, sizeof(l));
	if (addr != NULL)
		log_warnx("event=source.failures peer=%s %sunrecorded=%ld "
		    "first=%s last=%s", addr, counts, t->unrecorded, f, l);
	else
		log_warnx("event=source.failures sources=%ld %sunrecorded=%ld "
		    "first=%s last=%s", nsources, counts, t->unrecorded, f, l);
	audit_begin(ab, "tentacle-recv", "source.failures", "refused");
	if (addr != NULL)
		audit_str(ab, "peer", addr);
	else
		audit_num(ab, "sources", nsources);
	for (int k = 0; k < FAIL_NKINDS; k++)
		audit_num(ab, kind_name[k], t->count[k]);
	audit_num(ab, "unrecorded", t->unrecorded);
	audit_str(ab, "first", f);
	audit_str(ab, "last", l);
	audit_num(ab, "interval", recv_cf.fail_log_interval_s);
	audit_end(ab);
}

void
source_summary(int final)
{
	struct { char addr[64]; struct tally t; } top[SUMMARY_TOP];
	struct tally rest;
	struct audit_buf ab;
	long nrest = 0;
	int ntop = 0;

	pthread_mutex_lock(&src_mu);
	if (!final && net_now_ms() < summary_due) {
		pthread_mutex_unlock(&src_mu);
		return;
	}
	/* The sources with the most folded failures get a record each. */
	rest = forgotten;
	nrest = forgotten_sources;
	for (int i = 0; i < src_used; i++) {
		struct source *s = &src_tab[i];
		int min = 0;

		if (s->t.unrecorded > 0) {
			if (ntop < SUMMARY_TOP) {
				strlcpy(top[ntop].addr, s->addr,
				    sizeof(top[ntop].addr));
				top[ntop++].t = s->t;
			} else {
				for (int j = 1; j < ntop; j++)
					if (top[j].t.unrecorded <
					    top[min].t.unrecorded)
						min = j;
				if (top[min].t.unrecorded < s->t.unrecorded) {
					tally_add(&rest, &top[min].t);
					strlcpy(top[min].addr, s->addr,
					    sizeof(top[min].addr));
					top[min].t = s->t;
				} else
					tally_add(&rest, &s->t);
				nrest++;
			}
		}
		memset(&s->t, 0, sizeof(s->t));
	}
	memset(&forgotten, 0, sizeof(forgotten));
	forgotten_sources = 0;
	summary_due = net_now_ms() + recv_cf.fail_log_interval_s * 1000LL;
	pthread_mutex_unlock(&src_mu);
	if (ntop == 0 && rest.unrecorded == 0)
		return;
	audit_buf_init(&ab);
	for (int i = 0; i < ntop; i++)
		summary_one(&ab, top[i].addr, 1, &top[i].t);
	if (rest.unrecorded > 0)
		summary_one(&ab, NULL, nrest, &rest);
	store_audit_events(&recv_store, &ab, "source.failures");
	audit_buf_free(&ab);
}
