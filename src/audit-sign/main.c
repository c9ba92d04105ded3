/* SPDX-License-Identifier: ISC */
/*
 * audit-sign: drains spool/audit-sign into the sealed audit log.  Every
 * event file is checked (owner, links, mode; each line one JSON object,
 * UTF-8, at most 64 KiB), its events become RECORD leaves with the file
 * owner as the producer, and each batch is sealed by a signed checkpoint
 * before one fdatasync; only then are the files removed.  Epoch keys
 * are handed over and erased every epoch.  With "-" it seals JSON lines
 * from standard input; with -f it stays and follows the queue.
 * See audit-sign(8) and doc/AUDIT.md.
 */
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include "audit.h"
#include "auditlog.h"
#include "conf.h"
#include "drain.h"
#include "log.h"
#include "priv.h"
#include "spool.h"
#include "tool.h"
#include "xalloc.h"

#include "sign.h"

#define SECTION		"audit-sign"
#define DEFAULT_SPOOL	"/var/spool/octospool"
#define DEFAULT_USER	"octospool-audit"
#define AUDIT_BATCH_WAIT_MS 100	/* batch_wait: see tool_linger_conf */
#define DEFAULT_LOG	"/var/lib/octospool/audit/log"
#define DEFAULT_KEYS	"/var/lib/octospool/audit/keys"
#define DEFAULT_PRODUCERS "octospool-recv octospool-xml octospool-auth " \
	"octospool-db octospool-conf root @octospool-admin"

static const char *const known_keys[] = {
	"spool_dir", "user", "log_dir", "key_dir", "name", "epoch", "batch",
	"max_file", "segment_size", "segment_age", "producers",
	"commit_interval", DRAIN_LINGER_KEYS, NULL
};

struct sign_conf {
	struct drain_linger linger;	/* idle_exit, poll_interval */
	char		*spool_dir;
	char		*queue;		/* spool_dir/audit-sign */
	char		*user;
	char		*log_dir;
	char		*key_dir;
	char		*name;
	long long	 epoch;		/* seconds */
	long long	 batch;
	long long	 max_file;
	long long	 seg_max;
	long long	 seg_age;
	long long	 commit_ms;	/* stdin mode: T_commit */
	char		*producer_list;
	struct idset	 producers;	/* whose event files count */
	int		 any_producer;	/* "producers any": tests only */
};

struct run {
	struct writer	*w;
	struct sign_conf *cf;
	int		 curfd;		/* queue's cur/, for the owner */
	unsigned long	 events, dups;
};


static struct tool tool = { .name = "audit-sign", .section = SECTION,
    .usage =
    "usage: audit-sign [-defhnVv] [-c file]\n"
    "       audit-sign [-dv] [-c file] -            (seal JSON lines "
    "from stdin)\n"
    "       audit-sign [-c file] --keygen [name]    (new log: keys "
    "and verifier key)\n"
    "See audit-sign(8).\n"
};

static void
configure(struct sign_conf *cf)
{
	char *p;

	tool_conf_check(&tool, known_keys);
	cf->spool_dir = tool_str(&tool, "spool_dir", DEFAULT_SPOOL);
	if (asprintf(&cf->queue, "%s/audit-sign", cf->spool_dir) == -1)
		fatal(EX_OSERR, "asprintf");
	cf->user = tool_str(&tool, "user", DEFAULT_USER);
	cf->log_dir = tool_str(&tool, "log_dir", DEFAULT_LOG);
	cf->key_dir = tool_str(&tool, "key_dir", DEFAULT_KEYS);
	cf->name = tool_str(&tool, "name", NULL);
	cf->epoch = tool_num(&tool, "epoch", 1, 86400, 60);
	cf->batch = tool_num(&tool, "batch", 1, 4096, DRAIN_BATCH);
	cf->max_file = tool_num(&tool, "max_file", AUDIT_MAX_FILE_MIN,
	    AUDIT_MAX_FILE_MAX, AUDIT_MAX_FILE_DEF);
	cf->seg_max = tool_num(&tool, "segment_size", 4096, 1LL << 40,
	    64LL << 20);
	cf->seg_age = tool_num(&tool, "segment_age", 1, 366LL * 86400, 3600);
	cf->commit_ms = tool_num(&tool, "commit_interval", 1, 10000, 20);
	/* Fewer, fuller batches: one checkpoint and sync for the events
	 * every stage queued about one file (nothing waits on the seal). */
	tool_linger_conf(&tool, &cf->linger, AUDIT_BATCH_WAIT_MS, 0);
	/* The shipped users, root and the administrators' group. */
	cf->producer_list = tool_str(&tool, "producers", DEFAULT_PRODUCERS);
	for (p = cf->name; p != NULL && *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '+' || *p == 0x7f)
			fatalx(EX_CONFIG, "event=config.error key=name "
			    "msg=\"no spaces, '+' or control characters\"");
}

/* The producers, by name, while the user database is at hand. */
static void
load_producers(struct sign_conf *cf)
{
	if (strcmp(cf->producer_list, "any") == 0)
		cf->any_producer = 1;
	else
		tool_idset(&cf->producers, cf->producer_list, "producers");
}

static void
writer_setup(const struct sign_conf *cf, struct writer_conf *wc)
{
	memset(wc, 0, sizeof(*wc));
	wc->log_dir = cf->log_dir;
	wc->key_dir = cf->key_dir;
	wc->epoch_ns = (uint64_t)cf->epoch * 1000000000ULL;
	wc->seg_max = cf->seg_max;
	wc->seg_age_ns = (uint64_t)cf->seg_age * 1000000000ULL;
}

/* Names in cur/ and new/ (sorted): sealed ones are not sealed twice. */
static void
queued_names(const char *queue, char ***names, size_t *n)
{
	static const char *const sub[] = { "cur", "new" };
	char path[4096];

	*names = NULL;
	*n = 0;
	for (int i = 0; i < 2; i++) {
		DIR *d;
		struct dirent *de;

		snprintf(path, sizeof(path), "%s/%s", queue, sub[i]);
		if ((d = opendir(path)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			*names = xreallocarray(*names, *n + 1, sizeof(**names));
			(*names)[(*n)++] = xstrdup(de->d_name);
		}
		closedir(d);
	}
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), (int (*)(const void *,
		    const void *))strcmp);
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
open_writer(struct sign_conf *cf, struct writer *w)
{
	struct writer_conf wc;
	char err[512], **names;
	size_t n;
	int rc;

	writer_setup(cf, &wc);
	queued_names(cf->queue, &names, &n);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_name);
	rc = writer_open(w, &wc, names, n, err, sizeof(err));
	spool_names_free(names, n);
	if (rc == 1) {
		log_debug("event=log.busy msg=\"another audit-sign runs\"");
		writer_close(w);
		exit(EX_OK);
	}
	if (rc == -1)
		fatalx(errno == EACCES ? EX_NOPERM : EX_CONFIG,
		    "event=log.open.fail msg=\"%s\"", err);
}

/* Split and check every line first: a file is sealed whole or refused. */
static int
check_events(const char *data, size_t len, char *why, size_t whylen)
{
	size_t pos = 0, line = 0;

	if (len == 0) {
		snprintf(why, whylen, "rule=empty line=0 no events");
		return -1;
	}
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - data - pos) : len - pos, at;
		char w[160];

		line++;
		if (ll == 0) {
			snprintf(why, whylen, "rule=empty line=%zu empty line",
			    line);
			return -1;
		}
		if (al_json_check(data + pos, ll, &at, w, sizeof(w)) == -1) {
			snprintf(why, whylen, "rule=json line=%zu %s", line, w);
			return -1;
		}
		pos += ll + 1;
	}
	return 0;
}

/* The drain handler: one event file. */
static int
handle(struct drain *d, struct drain_item *it, void *arg)
{
	struct run *r = arg;
	struct stat sb;
	char why[DRAIN_REASON_MAX], src[AL_SRC_MAX];
	size_t pos = 0, line = 0;

	(void)d;
	if (fstatat(r->curfd, it->name, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
		drain_reason(it, EX_DATAERR, "rule=unreadable line=0 %s",
		    strerror(errno));
		return DRAIN_REJECT;
	}
	/* The owner is the producer (lib/drain checked it against the
	 * producers list): nobody else may have written the file. */
	if (sb.st_nlink != 1) {
		drain_reason(it, EX_NOPERM, "rule=links line=0 %lu hard links: "
		    "the owner may not be the writer", (unsigned long)
		    sb.st_nlink);
		return DRAIN_REJECT;
	}
	if (sb.st_mode & 022) {
		drain_reason(it, EX_NOPERM, "rule=mode line=0 mode %04o: "
		    "writable by others than the owner", (unsigned)
		    (sb.st_mode & 07777));
		return DRAIN_REJECT;
	}
	if (strlen(it->name) + 32 > sizeof(src)) {
		drain_reason(it, EX_DATAERR, "rule=name line=0 name too long");
		return DRAIN_REJECT;
	}
	if (check_events(it->data, it->len, why, sizeof(why)) == -1) {
		drain_reason(it, EX_DATAERR, "%s", why);
		return DRAIN_REJECT;
	}
	while (pos < it->len) {
		const char *nl = memchr(it->data + pos, '\n', it->len - pos);
		size_t ll = nl ? (size_t)(nl - it->data - pos) : it->len - pos;
		int sl;

		line++;
		sl = snprintf(src, sizeof(src), "spool:%s#%zu", it->name, line);
		if (writer_is_dup(r->w, src, sl, it->data + pos, ll))
			r->dups++;
		else {
			writer_leaf(r->w, AL_RECORD, sb.st_uid, sb.st_gid, 0,
			    src, sl, it->data + pos, ll);
			r->events++;
		}
		pos += ll + 1;
	}
	return DRAIN_DONE;
}

/* Before the inputs go: seal the batch (and the drain's refusals). */
static int
commit(struct drain *d, void *arg)
{
	struct run *r = arg;
	struct audit_buf *ab = drain_audit(d);

	/* The drain's item.rejected events become our own records. */
	for (size_t pos = 0; pos < ab->len;) {
		const char *nl = memchr(ab->buf + pos, '\n', ab->len - pos);
		size_t ll = nl ? (size_t)(nl - ab->buf - pos) : ab->len - pos;

		if (ll > 0)
			writer_leaf(r->w, AL_RECORD, geteuid(), getegid(),
			    getpid(), "audit-sign", 10, ab->buf + pos, ll);
		pos += ll + 1;
	}
	return writer_commit(r->w);
}

static int
drain_once(struct sign_conf *cf, struct writer *w, struct drain *d,
    unsigned long *seen)
{
	struct drain_stats st;
	struct run r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.w = w;
	r.cf = cf;
	{
		char p[4096];

		snprintf(p, sizeof(p), "%s/cur", cf->queue);
		if ((r.curfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
		    -1)
			fatal(EX_IOERR, "event=queue.open.fail dir=%s", p);
	}
	rc = drain_run(d, handle, &r, &st);
	*seen = st.seen;
	close(r.curfd);
	/* The dedup keys served the first run after a crash. */
	free(w->dedup);
	w->dedup = NULL;
	w->ndedup = 0;
	if (rc == EX_TEMPFAIL && w->dead)
		log_warnx("event=drain.giveback msg=\"log disk full: events "
		    "stay queued\"");
	if (st.seen > 0 || rc != 0)
		log_info("event=drain.done stage=audit-sign files=%lu "
		    "rejected=%lu retried=%lu events=%lu duplicates=%lu "
		    "batches=%lu sealed=%llu exit=%d", st.seen, st.rejected,
		    st.retried, r.events, r.dups, st.batches,
		    (unsigned long long)w->sealed_records, rc);
	return rc;
}

static struct drain *
open_drain(struct sign_conf *cf, struct run *r)
{
	struct drain_opts o;

	memset(&o, 0, sizeof(o));
	o.stage = "audit-sign";
	o.max_item = cf->max_file;
	o.batch = cf->batch;
	o.commit = commit;
	o.arg = r;
	o.producers = cf->any_producer ? NULL : &cf->producers;
	return tool_drain_open(cf->spool_dir, "audit-sign", NULL, NULL, &o);
}

/* Drain mode, once (-f: follow the queue, hand over every epoch). */
static int
drain_mode(struct sign_conf *cf, int follow, int new_epoch)
{
	struct writer w;
	struct drain *d;
	struct run r;
	int64_t last_work, work_end = -1;	/* of the last pass with items */
	int rc = 0, ifd = -1, linger;

	open_writer(cf, &w);
	memset(&r, 0, sizeof(r));
	r.w = &w;
	r.cf = cf;
	d = open_drain(cf, &r);
	if (new_epoch && writer_handover(&w) == -1)
		rc = EX_TEMPFAIL;
	/*
	 * -f follows the queue for good; otherwise the drain lingers while
	 * events arrive and exits after idle_exit seconds without one
	 * (octospool-spool(5), Lingering): the open segment is read once per
	 * process, not once per burst.
	 */
	linger = follow || cf->linger.idle_exit > 0;
	if (linger) {
		char p[4096];

		/* SIGTERM: the batch in hand is sealed, the rest stays. */
		drain_catch_stop();
		snprintf(p, sizeof(p), "%s/new", cf->queue);
		if ((ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
		    inotify_add_watch(ifd, p, IN_MOVED_TO | IN_CLOSE_WRITE) ==
		    -1)
			fatal(EX_OSERR, "event=inotify.fail dir=%s", p);
	}
	if (follow) {
		/* A daemon's start is an event of its own. */
		writer_boot(&w);
		if (rc == 0 && writer_commit(&w) == -1)
			rc = EX_TEMPFAIL;
	}
	last_work = mono_ms();
	for (;;) {
		unsigned long seen = 0;
		int64_t now, wait;

		if (rc == 0 && writer_epoch_due(&w) &&
		    writer_handover(&w) == -1)
			rc = EX_TEMPFAIL;
		if (rc == 0)
			rc = drain_once(cf, &w, d, &seen);
		now = mono_ms();
		if (seen > 0)
			last_work = work_end = now;
		if (rc != 0 || !linger || drain_stopping())
			break;
		wait = writer_epoch_left(&w);
		if (wait > cf->linger.poll_ms)
			wait = cf->linger.poll_ms;	/* safety net rescan */
		if (!follow) {
			int64_t idle = last_work +
			    (int64_t)cf->linger.idle_exit * 1000 - now;

			if (idle <= 0)
				break;
			if (wait > idle)
				wait = idle;
		}
		{
			struct pollfd pfd = { ifd, POLLIN, 0 };
			char ev[4096];

			if (poll(&pfd, 1, (int)wait) > 0 &&
			    !drain_stopping()) {
				/* Woken by an event: let the others that
				 * belong to its file come (the epoch's
				 * hand-over waits for them, as it did). */
				drain_gather(&cf->linger, work_end, -1);
				while (read(ifd, ev, sizeof(ev)) > 0)
					;
			}
			if (drain_stopping())
				break;
		}
	}
	if (ifd != -1)
		close(ifd);
	drain_close(d);
	writer_close(&w);
	return rc;
}

/* Producer identity of standard input: the peer of a socket, else us. */
static void
stdin_identity(uint32_t *uid, uint32_t *gid, uint32_t *pid)
{
	struct ucred uc;
	socklen_t l = sizeof(uc);

	if (getsockopt(STDIN_FILENO, SOL_SOCKET, SO_PEERCRED, &uc, &l) == 0) {
		*uid = uc.uid;
		*gid = uc.gid;
		*pid = uc.pid;
		return;
	}
	*uid = getuid();
	*gid = getgid();
	*pid = getppid();
}

/*
 * Filter mode: JSON lines on stdin, sealed in batches (batch lines or
 * commit_interval ms); after each commit "<seq> <leaf>" per line on
 * stdout.  Bad lines are reported on stderr and skipped (exit 65).
 */
static int
stdin_mode(struct sign_conf *cf, uint32_t uid, uint32_t gid, uint32_t pid)
{
	struct writer w;
	struct al_buf in = { 0 }, acks = { 0 };
	size_t lineno = 0, npend = 0;
	int64_t first_ms = 0;
	int bad = 0, eof = 0;

	open_writer(cf, &w);
	while (!eof || in.len > 0 || npend > 0) {
		char buf[65536];
		char *nl;
		int timeout = -1;

		if (npend > 0) {
			int64_t el = mono_ms() - first_ms;

			timeout = el >= cf->commit_ms ? 0 :
			    (int)(cf->commit_ms - el);
		}
		if (!eof) {
			struct pollfd pfd = { STDIN_FILENO, POLLIN, 0 };
			int64_t el = writer_epoch_left(&w);

			if (timeout == -1 || el < timeout)
				timeout = el > 1000 ? 1000 : (int)el;
			if (poll(&pfd, 1, timeout) > 0) {
				ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

				if (n == -1 && errno != EINTR && errno !=
				    EAGAIN)
					fatal(EX_IOERR, "event=stdin.read.fail");
				if (n == 0)
					eof = 1;
				if (n > 0)
					al_buf_put(&in, buf, n);
			}
		}
		/* Complete lines (the last one also at EOF). */
		while (in.len > 0 && ((nl = memchr(in.p, '\n', in.len)) !=
		    NULL || eof)) {
			size_t ll = nl ? (size_t)(nl - (char *)in.p) : in.len;
			char why[160], src[64];
			size_t at;
			int sl;

			lineno++;
			if (ll > AL_EVENT_MAX ||
			    al_json_check((char *)in.p, ll, &at, why,
			    sizeof(why)) == -1) {
				if (ll > AL_EVENT_MAX)
					snprintf(why, sizeof(why), "event of "
					    "%zu bytes exceeds %d", ll,
					    AL_EVENT_MAX);
				fprintf(stderr, "audit-sign: stdin line %zu "
				    "refused: %s\n", lineno, why);
				bad = 1;
			} else {
				sl = snprintf(src, sizeof(src), "stdin#%zu",
				    lineno);
				if (npend == 0)
					first_ms = mono_ms();
				writer_leaf(&w, AL_RECORD, uid, gid, pid, src,
				    sl, (char *)in.p, ll);
				al_buf_printf(&acks, "%llu\n",
				    (unsigned long long)(w.tree.size - 1));
				npend++;
			}
			ll += nl ? 1 : 0;
			memmove(in.p, in.p + ll, in.len - ll);
			in.len -= ll;
		}
		if (in.len > AL_EVENT_MAX + 1) {
			fprintf(stderr, "audit-sign: stdin line %zu refused: "
			    "longer than %d bytes\n", lineno + 1,
			    AL_EVENT_MAX);
			bad = 1;
			/* Skip to the end of that line. */
			while (!eof) {
				ssize_t n = read(STDIN_FILENO, buf,
				    sizeof(buf));
				char *e;

				if (n <= 0) {
					eof = 1;
					break;
				}
				if ((e = memchr(buf, '\n', n)) != NULL) {
					in.len = 0;
					al_buf_put(&in, e + 1, buf + n - e - 1);
					break;
				}
			}
			if (eof)
				in.len = 0;
			lineno++;
		}
		if ((npend > 0 && (npend >= (size_t)cf->batch || eof ||
		    mono_ms() - first_ms >= cf->commit_ms)) ||
		    writer_epoch_due(&w)) {
			if (writer_commit(&w) == -1)
				fatalx(EX_TEMPFAIL, "event=log.full msg=\"not "
				    "acknowledged: %zu events\"", npend);
			if (acks.len > 0 &&
			    fwrite(acks.p, 1, acks.len, stdout) != acks.len)
				fatal(EX_IOERR, "event=stdout.fail");
			fflush(stdout);
			acks.len = 0;
			npend = 0;
			if (writer_epoch_due(&w) && writer_handover(&w) == -1)
				fatalx(EX_TEMPFAIL, "event=log.full");
		}
	}
	writer_close(&w);
	al_buf_free(&in);
	al_buf_free(&acks);
	return bad ? EX_DATAERR : EX_OK;
}

static int
keygen_mode(struct sign_conf *cf, const char *name)
{
	char vkey[512], err[512], host[256];

	if (name == NULL)
		name = cf->name;
	if (name == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			strlcpy(host, "octospool", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		for (char *p = host; *p; p++)
			if ((unsigned char)*p <= ' ' || *p == '+' || *p == '/')
				*p = '_';
		name = host;
	}
	if (writer_keygen(cf->key_dir, name, vkey, sizeof(vkey), err,
	    sizeof(err)) == -1)
		fatalx(EX_CANTCREAT, "event=keygen.fail msg=\"%s\"", err);
	printf("%s\n", vkey);
	log_info("event=keygen.done key_dir=%s", cf->key_dir);
	return EX_OK;
}

int
main(int argc, char *argv[])
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "keygen", no_argument, NULL, 1 },
		{ "new-epoch", no_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 }
	};
	struct sign_conf cf;
	int ch, follow = 0, keygen = 0, rc, new_epoch = 0;

	while ((ch = tool_getopt(&tool, argc, argv, "c:defhnVv", lopts)) !=
	    -1) {
		switch (ch) {
		case 'e':
			new_epoch = 1;
			break;
		case 'f':
			follow = 1;
			break;
		case 1:
			keygen = 1;
			break;
		default:
			tool_usage(&tool, stderr, EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1 || (argc == 1 && !keygen && strcmp(argv[0], "-") != 0) ||
	    (follow && (argc > 0 || keygen)) || (new_epoch && (argc > 0 ||
	    keygen)))
		tool_usage(&tool, stderr, EX_USAGE);
	tool_log_init(&tool, LOG_AUTHPRIV, tool.fg || tool.check || keygen ||
	    argc == 1);
	tool_conf_load(&tool);
	memset(&cf, 0, sizeof(cf));
	configure(&cf);
	if (tool.check) {
		load_producers(&cf);
		printf("audit-sign: configuration ok\n");
		exit(EX_OK);
	}
	umask(027);
	tool_no_core();
	if (keygen) {
		tool_drop_privileges(cf.user);
		rc = keygen_mode(&cf, argc == 1 ? argv[0] : NULL);
	} else if (argc == 1) {
		uint32_t uid, gid, pid;

		stdin_identity(&uid, &gid, &pid);
		tool_drop_privileges(cf.user);
		rc = stdin_mode(&cf, uid, gid, pid);
	} else {
		load_producers(&cf);
		tool_drop_privileges(cf.user);
		rc = drain_mode(&cf, follow, new_epoch);
	}
	conf_free(tool.conf);
	free(cf.producer_list);
	free(cf.spool_dir);
	free(cf.queue);
	free(cf.user);
	free(cf.log_dir);
	free(cf.key_dir);
	free(cf.name);
	return rc;
}
