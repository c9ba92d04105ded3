/* SPDX-License-Identifier: ISC */
/*
 * agent-auth: the third stage.  Drains spool/agent-auth into
 * spool/db-load: every item is authenticated against the registry
 * (tagente, octo_group_credential, octo_agent_policy) through a
 * SELECT-only account, on every file: group password (KDF hash) of the
 * agent's registered group, or of the claimed group for a new agent
 * with self-creation enabled there; optional client-certificate
 * binding; a persistent failure limiter per agent name and peer.  The
 * decision goes on as Auth-* envelope keys for db-load.  With a
 * subcommand it administers the credentials.  See agent-auth(8).
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "io.h"
#include "agentxml.h"
#include "audit.h"
#include "conf.h"
#include "db.h"
#include "drain.h"
#include "envelope.h"
#include "log.h"
#include "pandora.h"
#include "priv.h"
#include "spool.h"
#include "stamp.h"
#include "tool.h"
#include "xalloc.h"

#include "agentauth.h"

#define SECTION		"agent-auth"
#define STAGE		"agent-auth"
#define DEFAULT_SPOOL	"/var/spool/octospool"
#define DEFAULT_USER	"octospool-auth"
#define DEFAULT_PRODUCER "octospool-xml"
#define DEFAULT_RECV_PUB "/etc/octospool/keys/tentacle-recv.pub"
#define DEFAULT_STAMP_KEY "/etc/octospool/keys/agent-auth.key"
/* The cache's key lives in memory (/run is a tmpfs): never in a backup,
 * a snapshot or on a stolen disk with the cache it unlocks. */
#define DEFAULT_VKEY	"/run/octospool/agent-auth/verified.key"
#define FAIL_MAX_ENTRIES 20000

static const char *const known_keys[] = {
	"spool_dir", "user", "audit", "audit_spool", "batch", "max_size",
	"fail_max", "fail_window", "fail_block", "state_file", "module_cap",
	"cert_required", "producer", "recv_pubkey", "stamp_key",
	"verified_cache", "verified_key", "verified_ttl", DRAIN_LINGER_KEYS,
	DB_TOOL_KEYS, NULL
};

struct aa_conf {
	char		*spool_dir;
	char		*user;
	char		*audit_spool;
	char		*state_file;
	char		*producer;		/* who writes our queue */
	char		*recv_pubkey;		/* NULL: "none" */
	char		*stamp_key;
	struct stamp_signer stamp;		/* signs our envelopes */
	struct stamp_keys recv_keys;		/* tentacle-recv's stamps */
	int		 have_recv_keys;
	struct idset	 producers;
	int		 audit;
	int		 cert_required;		/* every agent */
	size_t		 batch;
	size_t		 max_size;
	long long	 fail_max, fail_window, fail_block;
	long long	 module_cap;		/* -1: none */
	char		*verified_cache;	/* NULL: "none" */
	char		*verified_key;		/* its key, on a tmpfs */
	long long	 verified_ttl;		/* seconds */
	struct drain_linger linger;
	struct db_conf	 db;
};

/* A group's credential row, cached for the run. */
struct aa_group {
	unsigned long	 id;
	int		 have_cred;
	char		 kdf[33], params[256];
	unsigned char	 salt[64], hash[128];
	size_t		 saltlen, hashlen;
	int		 self_create, cert_required;
	long long	 max_agents;		/* -1: no limit */
	long long	 created;		/* allowed in this run */
};

/*
 * A verification result for the process's lifetime: (group, SHA-256 of
 * the stored credential, HMAC of the presented password under a key of
 * the process's own).  A changed credential (a new hash) never matches
 * an old result.  Successes are all kept (one per password that
 * verified); failures up to VER_FAIL_MAX, then a wrong password costs its
 * KDF run each time (the failure limits still count it).
 */
#define VER_FAIL_MAX	1024
struct aa_verified {
	unsigned long	 gid;
	unsigned char	 credsha[32];
	unsigned char	 pwsha[32];
	int		 ok;
};

/* The verified-credential cache on disk (verified_cache): one line per
 * success, "<gid> <hex HMAC> <expiry>", under a key of its own. */
struct aa_vcache {
	unsigned char	 key[32];
	int		 have_key;
	struct aa_vc_entry {
		unsigned long	 gid;
		unsigned char	 mac[32];
		long long	 expires;
	}		*e;
	size_t		 n;
	int		 dirty;
};

/* A registered agent's row, cached for the run. */
struct aa_agent {
	char		*name;
	unsigned long	 hash, gid;
	char		 pin[65];
	int		 cn, no_learn, have_cap;
	long long	 cap;
};

/* Failures of one agent name ('a') or peer ('p'). */
struct aa_fail {
	char		 kind;
	char		*key;
	long long	 first, until;
	long long	 count;
};

struct aa_run {
	struct aa_conf	*cf;
	struct db	*db;
	int		 connected;
	struct db_stmt	*st_agent, *st_gname, *st_cred, *st_count;
	struct aa_group	*groups;
	size_t		 ngroups;
	struct aa_verified *ver;
	size_t		 nver, nver_fail;
	unsigned char	 pwkey[32];	/* this process's: HMAC of passwords */
	EVP_MAC		*hmac;		/* fetched once (hmac256) */
	struct aa_fail	*fails;
	size_t		 nfails;
	int		 fails_dirty;
	struct aa_agent	*agents;
	size_t		 nagents, capagents;
	char		**created;		/* names allowed to be created */
	size_t		 ncreated;
	time_t		 now;
	unsigned long	 ok, refused, kdf_runs, cache_hits;
	struct aa_vcache vc;
	int		 filter;		/* filter mode: no queues */
	int		 outfd;			/* filter mode: -o, or -1 */
	int		 outerr;		/* filter mode: errno of -o */
};

static struct tool tool = { .name = "agent-auth", .section = SECTION,
    .usage =
    "usage: agent-auth [-dhnVv] [-c file]\n"
    "       agent-auth [-v] [-c file] [-o out] FILE|-\n"
    "       agent-auth [-c file] group-add NAME\n"
    "       agent-auth [-c file] passwd GROUP    (password on the "
    "terminal or stdin)\n"
    "       agent-auth [-c file] selfcreate GROUP on|off [--max N]\n"
    "       agent-auth [-c file] certreq GROUP on|off\n"
    "       agent-auth [-c file] pin AGENT SHA256|--cn\n"
    "       agent-auth [-c file] unpin AGENT\n"
    "       agent-auth [-c file] readonly|nolearn AGENT on|off\n"
    "       agent-auth [-c file] cap AGENT N|none\n"
    "       agent-auth [-c file] list\n"
    "  without a command: drain spool/agent-auth into spool/db-load\n"
    "  with FILE (\"-\": stdin): authenticate one item, no queues\n"
    "See agent-auth(8).\n"
};

/* Turn the configuration into cf; errors exit 78. */
static void
configure(struct aa_conf *cf, int need_db)
{
	char err[512];

	tool_conf_check(&tool, known_keys);
	if (tool.conf != NULL && db_conf_check(tool.conf, err, sizeof(err)) ==
	    -1)
		tool_conf_fatal(NULL, err);
	cf->batch = tool_num(&tool, "batch", 1, 4096, DRAIN_BATCH);
	cf->max_size = tool_num(&tool, "max_size", 1, 1LL << 30, 16LL << 20);
	cf->fail_max = tool_num(&tool, "fail_max", 1, 1000000, 5);
	cf->fail_window = tool_num(&tool, "fail_window", 1, 86400 * 7, 300);
	cf->fail_block = tool_num(&tool, "fail_block", 0, 86400 * 7, 900);
	cf->verified_ttl = tool_num(&tool, "verified_ttl", 60, 86400 * 366,
	    86400);
	tool_linger_conf(&tool, &cf->linger, DRAIN_SETTLE_WAIT,
	    DRAIN_BUSY_WAIT);
	cf->module_cap = tool_num(&tool, "module_cap", -1, ENVELOPE_CAP_MAX,
	    -1);
	cf->audit = tool_bool(&tool, "audit", 1);
	cf->cert_required = tool_bool(&tool, "cert_required", 0);
	cf->spool_dir = tool_str(&tool, "spool_dir", DEFAULT_SPOOL);
	cf->audit_spool = tool_path(&tool, "audit_spool", cf->spool_dir,
	    "audit-sign");
	cf->state_file = tool_path(&tool, "state_file", cf->spool_dir,
	    "agent-auth/failures");
	cf->verified_cache = tool_path(&tool, "verified_cache", cf->spool_dir,
	    "agent-auth/verified");
	if (strcmp(cf->verified_cache, "none") == 0) {
		free(cf->verified_cache);
		cf->verified_cache = NULL;
	}
	cf->verified_key = tool_str(&tool, "verified_key", DEFAULT_VKEY);
	cf->user = tool_str(&tool, "user", DEFAULT_USER);
	cf->producer = tool_str(&tool, "producer", DEFAULT_PRODUCER);
	cf->recv_pubkey = tool_str(&tool, "recv_pubkey", DEFAULT_RECV_PUB);
	if (strcmp(cf->recv_pubkey, "none") == 0) {
		free(cf->recv_pubkey);
		cf->recv_pubkey = NULL;
	}
	cf->stamp_key = tool_str(&tool, "stamp_key", DEFAULT_STAMP_KEY);
	if (need_db && db_conf_load(&cf->db, tool.conf, SECTION, err,
	    sizeof(err)) == -1)
		tool_conf_fatal(NULL, err);
}

/* ---- helpers shared with admin.c ------------------------------------ */

void
aa_audit_raw(struct audit_buf *ab, const char *s)
{
	size_t n = strlen(s);

	if (ab->len + n + 1 > ab->cap) {
		size_t cap = ab->cap ? ab->cap : 1024;

		while (cap < ab->len + n + 1)
			cap *= 2;
		ab->buf = xreallocarray(ab->buf, cap, 1);
		ab->cap = cap;
	}
	memcpy(ab->buf + ab->len, s, n);
	ab->len += n;
	ab->buf[ab->len] = '\0';
}

/* Write the events in ab as one batch file into the audit queue. */
int
aa_audit_commit(const char *audit_spool, struct audit_buf *ab)
{
	char name[SPOOL_NAME_MAX];

	return spool_put(audit_spool, STAGE, SPOOL_MODE, NULL, 0, ab->buf,
	    ab->len, name, sizeof(name));
}

/* ---- failure limiter ---------------------------------------------- */

static void
hexenc(char *dst, const unsigned char *s, size_t n)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		dst[2 * i] = hx[s[i] >> 4];
		dst[2 * i + 1] = hx[s[i] & 15];
	}
	dst[2 * n] = '\0';
}

static int
hexdec(char *dst, size_t dlen, const char *s)
{
	size_t n = strlen(s), i;

	if (n % 2 != 0 || n / 2 >= dlen)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned int v;

		if (!isxdigit((unsigned char)s[2 * i]) ||
		    !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		dst[i] = (char)v;
	}
	dst[i] = '\0';
	return 0;
}

/*
 * Load the limiter state; a missing file is an empty table.  A key is an
 * agent name (up to AGENTXML_NAME_MAX bytes, so 2 * that hex digits) or
 * a peer address; a longer or malformed line is skipped, never cut.
 */
#define FAIL_KEY_MAX	AGENTXML_NAME_MAX
static void
fails_load(struct aa_run *run)
{
	FILE *fp = fopen(run->cf->state_file, "re");
	char *line = NULL, key[FAIL_KEY_MAX + 1], kind;
	long long first, count, until;
	size_t cap = 0, linecap = 0;
	ssize_t len;

	if (fp == NULL) {
		if (errno != ENOENT)
			log_warn("event=state.read.fail file=%s",
			    run->cf->state_file);
		return;
	}
	while ((len = getline(&line, &linecap, fp)) != -1 &&
	    run->nfails < FAIL_MAX_ENTRIES) {
		char *hk, *rest;
		size_t hl;

		/* "K <hex key> first count until": kind, hex, 3 numbers. */
		if (len < 3 || (line[0] != 'a' && line[0] != 'p') ||
		    line[1] != ' ')
			continue;
		kind = line[0];
		hk = line + 2;
		hl = strcspn(hk, " ");
		if (hl == 0 || hl > 2 * FAIL_KEY_MAX || hk[hl] != ' ')
			continue;
		hk[hl] = '\0';
		rest = hk + hl + 1;
		if (sscanf(rest, "%lld %lld %lld", &first, &count, &until) != 3 ||
		    hexdec(key, sizeof(key), hk) == -1)
			continue;
		/* Expired entries are dropped. */
		if (until <= run->now && first + run->cf->fail_window <=
		    run->now)
			continue;
		if (run->nfails == cap) {
			cap = cap ? cap * 2 : 64;
			run->fails = xreallocarray(run->fails, cap,
			    sizeof(*run->fails));
		}
		run->fails[run->nfails++] = (struct aa_fail){ kind,
		    xstrdup(key), first, until, count };
	}
	free(line);
	fclose(fp);
}

/* Write the limiter state atomically (tmp + rename). */
static int
fails_save(struct aa_run *run)
{
	char tmp[4200];
	FILE *fp;
	int fd, rc = 0;

	if (!run->fails_dirty)
		return 0;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", run->cf->state_file)
	    >= sizeof(tmp))
		return -1;
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1 || (fp = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	for (size_t i = 0; i < run->nfails; i++) {
		struct aa_fail *f = &run->fails[i];
		size_t n = strlen(f->key);
		char *hk = xmalloc(2 * n + 1);

		if (f->until <= run->now && f->first + run->cf->fail_window <=
		    run->now) {
			free(hk);
			continue;
		}
		hexenc(hk, (const unsigned char *)f->key, n);
		fprintf(fp, "%c %s %lld %lld %lld\n", f->kind, *hk ? hk : "00",
		    f->first, f->count, f->until);
		free(hk);
	}
	if (fflush(fp) == EOF || fsync(fileno(fp)) == -1)
		rc = -1;
	if (fclose(fp) == EOF)
		rc = -1;
	if (rc == 0 && rename(tmp, run->cf->state_file) == -1)
		rc = -1;
	if (rc == -1)
		(void)unlink(tmp);
	return rc;
}

/* ---- the verified-credential cache on disk ---------------------------- */

/*
 * Its key: 32 random bytes in verified_key, 0600, ours, made on first
 * use (written under a name of its own, then linked into place: a crash
 * never leaves half a key; a short one of ours is replaced).  The
 * default is on /run, a tmpfs: the key survives restarts of the service,
 * not a reboot, and never reaches a backup, a snapshot or a stolen disk
 * with the cache, which with it would test a password at the speed of
 * HMAC instead of the KDF.  1 made now (the cache's entries are under a
 * lost key: dropped), 0 read, -1 none (no cache: each process then pays
 * the KDF once per credential, as before).
 */
static int
vc_key(struct aa_run *run)
{
	struct aa_vcache *vc = &run->vc;
	const char *kpath = run->cf->verified_key;
	char tmp[4200];
	struct stat sb;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", kpath,
	    (long)getpid()) >= sizeof(tmp))
		return -1;
	for (int tries = 0; tries < 3; tries++) {
		if ((fd = open(kpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
		    -1 && errno == ENOENT) {
			int lr, tfd = -1, bad;

			(void)unlink(tmp);
			bad = RAND_bytes(vc->key, sizeof(vc->key)) != 1 ||
			    (tfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL |
			    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1 ||
			    io_write_all(tfd, vc->key, sizeof(vc->key)) == -1 ||
			    fsync(tfd) == -1;
			if (tfd != -1 && close(tfd) == -1)
				bad = 1;
			if (bad) {
				log_warn("event=vcache.key.fail file=%s", kpath);
				if (tfd != -1)
					(void)unlink(tmp);
				break;
			}
			lr = link(tmp, kpath);
			(void)unlink(tmp);
			if (lr == 0)
				return 1;
			if (errno != EEXIST) {
				log_warn("event=vcache.key.fail file=%s", kpath);
				break;
			}
			continue;	/* another run made it: read that */
		}
		if (fd == -1 || fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
		    (sb.st_mode & 077) != 0 || sb.st_uid != geteuid()) {
			log_warnx("event=vcache.key.refused file=%s msg=\"not a "
			    "file of ours, mode 0600: no cache\"", kpath);
			if (fd != -1)
				close(fd);
			break;
		}
		if (sb.st_size != (off_t)sizeof(vc->key) ||
		    read(fd, vc->key, sizeof(vc->key)) !=
		    (ssize_t)sizeof(vc->key)) {
			/* Ours, but not 32 bytes: made again. */
			close(fd);
			log_warnx("event=vcache.key.replaced file=%s size=%lld",
			    kpath, (long long)sb.st_size);
			if (unlink(kpath) == -1 && errno != ENOENT)
				break;
			continue;
		}
		close(fd);
		return 0;
	}
	OPENSSL_cleanse(vc->key, sizeof(vc->key));
	return -1;
}

/*
 * 0.3.0 kept the key beside the cache, "<verified_cache>.key": with the
 * cache and the stored hashes it is the fast password oracle that a key
 * on /run avoids.  Ours, regular, and not the key configured now (not
 * the same file, whatever its name): removed, with the entries made
 * under it (1); the package's postinst does the same for the default
 * path only.
 */
static int
vc_old_key(const struct aa_run *run)
{
	char old[4200];
	struct stat sb, kb;

	if ((size_t)snprintf(old, sizeof(old), "%s.key",
	    run->cf->verified_cache) >= sizeof(old) ||
	    lstat(old, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != geteuid() || (stat(run->cf->verified_key, &kb) == 0 &&
	    kb.st_dev == sb.st_dev && kb.st_ino == sb.st_ino))
		return 0;
	if (unlink(old) == -1) {
		log_warn("event=vcache.key.old.fail file=%s", old);
		return 0;
	}
	log_info("event=vcache.key.old.removed file=%s msg=\"0.3.0's key "
	    "beside the cache, and its entries\"", old);
	return 1;
}

/* The key, then the entries that are still valid. */
static void
vc_load(struct aa_run *run)
{
	struct aa_vcache *vc = &run->vc;
	const char *path = run->cf->verified_cache;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *fp;
	int k, old;

	if (path == NULL)
		return;
	old = vc_old_key(run);
	if ((k = vc_key(run)) == -1)
		return;
	vc->have_key = 1;
	if (k == 1 || old) {
		vc->dirty = 1;	/* rewritten without the dead entries */
		return;
	}
	if ((fp = fopen(path, "re")) == NULL)
		return;
	while ((n = getline(&line, &cap, fp)) != -1 &&
	    vc->n < FAIL_MAX_ENTRIES) {
		struct aa_vc_entry e;
		char hex[65];
		unsigned long long gid;
		long long exp;
		size_t got = 0;

		if (sscanf(line, "%llu %64s %lld", &gid, hex, &exp) != 3 ||
		    exp <= run->now || strlen(hex) != 64 ||
		    OPENSSL_hexstr2buf_ex(e.mac, sizeof(e.mac), &got, hex,
		    '\0') != 1 || got != 32)
			continue;
		e.gid = (unsigned long)gid;
		/* A verified_ttl lowered since bounds the old entries too. */
		e.expires = exp < run->now + run->cf->verified_ttl ? exp :
		    run->now + run->cf->verified_ttl;
		vc->e = xreallocarray(vc->e, vc->n + 1, sizeof(*vc->e));
		vc->e[vc->n++] = e;
	}
	free(line);
	fclose(fp);
}

/* Write the cache (tmp + rename; losing it only costs KDF runs). */
static void
vc_save(struct aa_run *run)
{
	struct aa_vcache *vc = &run->vc;
	char tmp[4200], hex[65];
	FILE *fp;
	int fd;

	if (!vc->dirty || run->cf->verified_cache == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", run->cf->verified_cache);
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1 || (fp = fdopen(fd, "w")) == NULL) {
		if (fd != -1)
			close(fd);
		log_warn("event=vcache.write.fail file=%s", tmp);
		return;
	}
	for (size_t i = 0; i < vc->n; i++) {
		if (vc->e[i].expires <= run->now ||
		    OPENSSL_buf2hexstr_ex(hex, sizeof(hex), NULL, vc->e[i].mac,
		    32, '\0') != 1)
			continue;
		fprintf(fp, "%lu %s %lld\n", vc->e[i].gid, hex,
		    vc->e[i].expires);
	}
	if (fclose(fp) == EOF || rename(tmp, run->cf->verified_cache) == -1) {
		log_warn("event=vcache.write.fail file=%s",
		    run->cf->verified_cache);
		(void)unlink(tmp);
		return;
	}
	vc->dirty = 0;
}

static struct aa_fail *
fails_find(struct aa_run *run, char kind, const char *key, int create)
{
	for (size_t i = 0; i < run->nfails; i++)
		if (run->fails[i].kind == kind &&
		    strcmp(run->fails[i].key, key) == 0)
			return &run->fails[i];
	if (!create || run->nfails >= FAIL_MAX_ENTRIES)
		return NULL;
	run->fails = xreallocarray(run->fails, run->nfails + 1,
	    sizeof(*run->fails));
	run->fails[run->nfails] = (struct aa_fail){ kind, xstrdup(key),
	    run->now, 0, 0 };
	return &run->fails[run->nfails++];
}

static int
blocked(struct aa_run *run, char kind, const char *key)
{
	struct aa_fail *f;

	if (key == NULL || *key == '\0')
		return 0;
	f = fails_find(run, kind, key, 0);
	return f != NULL && f->until > run->now;
}

/* Count a failure; audit the start of a block. */
static void
fail_note(struct aa_run *run, struct drain *d, char kind, const char *key,
    const char *item)
{
	struct aa_fail *f;

	/* Filter mode reads the limiter state but never updates it. */
	if (run->filter || key == NULL || *key == '\0' ||
	    (f = fails_find(run, kind, key, 1)) == NULL)
		return;
	run->fails_dirty = 1;
	if (f->first + run->cf->fail_window <= run->now) {
		f->first = run->now;
		f->count = 0;
	}
	if (++f->count < run->cf->fail_max || f->until > run->now)
		return;
	f->until = run->now + run->cf->fail_block;
	log_warnx("event=auth.ratelimit stage=%s %s=\"%s\" failures=%lld "
	    "seconds=%lld", STAGE, kind == 'a' ? "agent" : "peer",
	    key, f->count, run->cf->fail_block);
	if (run->cf->audit) {
		struct audit_buf *ab = drain_audit(d);

		audit_begin(ab, STAGE, "agent.auth.ratelimit", "blocked");
		audit_str(ab, kind == 'a' ? "agent" : "peer", key);
		audit_num(ab, "failures", f->count);
		audit_num(ab, "window", run->cf->fail_window);
		audit_num(ab, "seconds", run->cf->fail_block);
		audit_str(ab, "item", item);
		audit_end(ab);
	}
}

/* ---- registry ----------------------------------------------------- */

/* A group's credential row (octo_group_credential c), as group_fill
 * reads it. */
#define CRED_COLS	"c.kdf, c.kdf_params, c.salt, c.hash, c.self_create, " \
			"c.max_agents, c.cert_required"

static int
db_ready(struct aa_run *run)
{
	if (run->connected)
		return 0;
	if (db_connect(run->db) == -1)
		return -1;
	/*
	 * The agent with its group's credential (column 6 on: CRED_COLS):
	 * a known agent's file costs one query.
	 */
	if ((run->st_agent = db_prepare(run->db,
	    "SELECT a.id_agente, a.id_grupo, p.cert_sha256, "
	    "COALESCE(p.cert_cn, 0), COALESCE(p.no_learn, 0), p.module_cap, "
	    "c.id_grupo IS NOT NULL, " CRED_COLS " "
	    "FROM tagente a LEFT JOIN octo_agent_policy p "
	    "ON p.id_agente = a.id_agente "
	    "LEFT JOIN octo_group_credential c ON c.id_grupo = a.id_grupo "
	    /* Names compare byte for byte (octospool-spool(5)): the
	     * first condition finds the rows through the index, the
	     * second drops those the collation merely folds together. */
	    "WHERE a.nombre = ? AND a.nombre = BINARY ? "
	    "ORDER BY a.id_agente LIMIT 1")) == NULL ||
	    (run->st_gname = db_prepare(run->db,
	    "SELECT id_grupo FROM tgrupo WHERE nombre = ? "
	    "ORDER BY id_grupo LIMIT 1")) == NULL ||
	    (run->st_cred = db_prepare(run->db,
	    "SELECT " CRED_COLS " FROM octo_group_credential c "
	    "WHERE c.id_grupo = ?")) == NULL ||
	    (run->st_count = db_prepare(run->db,
	    "SELECT COUNT(*) FROM tagente WHERE id_grupo = ?")) == NULL)
		return -1;
	run->connected = 1;
	return 0;
}

/* A group's credential row from the columns of s from o on (CRED_COLS). */
static void
group_fill(struct aa_group *g, struct db_stmt *s, unsigned o)
{
	const char *t;
	size_t n;

	g->have_cred = 1;
	t = db_col_text(s, o, &n);
	strlcpy(g->kdf, t ? t : "", sizeof(g->kdf));
	t = db_col_text(s, o + 1, &n);
	strlcpy(g->params, t ? t : "", sizeof(g->params));
	t = db_col_text(s, o + 2, &n);
	if (t != NULL && n <= sizeof(g->salt)) {
		memcpy(g->salt, t, n);
		g->saltlen = n;
	}
	t = db_col_text(s, o + 3, &n);
	if (t != NULL && n <= sizeof(g->hash)) {
		memcpy(g->hash, t, n);
		g->hashlen = n;
	}
	g->self_create = db_col_int(s, o + 4) != 0;
	if (!db_col_null(s, o + 5))
		g->max_agents = db_col_int(s, o + 5);
	g->cert_required = db_col_int(s, o + 6) != 0;
}

/* The group gid as read in this run, NULL if not yet. */
static struct aa_group *
group_find(struct aa_run *run, unsigned long gid)
{
	for (size_t i = 0; i < run->ngroups; i++)
		if (run->groups[i].id == gid)
			return &run->groups[i];
	return NULL;
}

/* Keep g (read in this run) for the run. */
static struct aa_group *
group_keep(struct aa_run *run, const struct aa_group *g)
{
	run->groups = xreallocarray(run->groups, run->ngroups + 1,
	    sizeof(*run->groups));
	run->groups[run->ngroups] = *g;
	return &run->groups[run->ngroups++];
}

/* A group without a credential row yet. */
static void
group_init(struct aa_group *g, unsigned long gid)
{
	memset(g, 0, sizeof(*g));
	g->id = gid;
	g->max_agents = -1;
}

/* The group's credential row, from the run cache or the database. */
static struct aa_group *
group_get(struct aa_run *run, unsigned long gid)
{
	struct aa_group g, *c;
	int r;

	if ((c = group_find(run, gid)) != NULL)
		return c;
	if (db_stmt_exec(run->st_cred, (struct db_val[]){ DB_UINT(gid) }, 1)
	    == -1)
		return NULL;
	group_init(&g, gid);
	while ((r = db_stmt_fetch(run->st_cred)) == 1)
		group_fill(&g, run->st_cred, 0);
	if (r == -1)
		return NULL;
	return group_keep(run, &g);
}

static unsigned long
name_hash(const char *s)
{
	unsigned long h = 1469598103934665603UL;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 1099511628211UL;
	return h;
}

static const struct aa_agent *
agent_cached(struct aa_run *run, const char *name)
{
	unsigned long h = name_hash(name);

	for (size_t i = 0; i < run->nagents; i++)
		if (run->agents[i].hash == h &&
		    strcmp(run->agents[i].name, name) == 0)
			return &run->agents[i];
	return NULL;
}

static void
agent_remember(struct aa_run *run, const char *name, unsigned long gid,
    const char *pin, int cn, int no_learn, int have_cap, long long cap)
{
	struct aa_agent *a;

	if (run->nagents == run->capagents) {
		run->capagents = run->capagents ? run->capagents * 2 : 64;
		run->agents = xreallocarray(run->agents, run->capagents,
		    sizeof(*run->agents));
	}
	a = &run->agents[run->nagents++];
	a->name = xstrdup(name);
	a->hash = name_hash(name);
	a->gid = gid;
	strlcpy(a->pin, pin, sizeof(a->pin));
	a->cn = cn;
	a->no_learn = no_learn;
	a->have_cap = have_cap;
	a->cap = cap;
}

/* SHA-256 of everything that makes a stored credential; -1 failed. */
static int
cred_digest(const struct aa_group *g, unsigned char out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int l = 0;
	int ok;

	ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(c, g->kdf, strlen(g->kdf) + 1) == 1 &&
	    EVP_DigestUpdate(c, g->params, strlen(g->params) + 1) == 1 &&
	    EVP_DigestUpdate(c, g->salt, g->saltlen) == 1 &&
	    EVP_DigestUpdate(c, g->hash, g->hashlen) == 1 &&
	    EVP_DigestFinal_ex(c, out, &l) == 1 && l == 32;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

/* HMAC-SHA256 under key of the n pieces in v (run->hmac: fetched once,
 * not for every file); 0 or -1. */
static int
hmac256(const struct aa_run *run, const unsigned char *key, size_t keylen,
    const struct iovec *v, int n, unsigned char out[32])
{
	OSSL_PARAM p[] = {
		OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
		OSSL_PARAM_construct_end()
	};
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(run->hmac);
	size_t ol = 0;
	int ok = c != NULL && EVP_MAC_init(c, key, keylen, p) == 1;

	for (int i = 0; ok && i < n; i++)
		ok = EVP_MAC_update(c, v[i].iov_base, v[i].iov_len) == 1;
	ok = ok && EVP_MAC_final(c, out, &ol, 32) == 1 && ol == 32;
	EVP_MAC_CTX_free(c);
	return ok ? 0 : -1;
}

/* The presented password as the process remembers it: HMAC-SHA256 under
 * its own random key (a memory image holds no fast hash of it). */
static int
pw_mac(struct aa_run *run, const char *pw, unsigned char out[32])
{
	struct iovec v = { (void *)(uintptr_t)pw, strlen(pw) };

	return hmac256(run, run->pwkey, sizeof(run->pwkey), &v, 1, out);
}

/*
 * The disk cache's MAC of (group, stored credential, password) under the
 * cache key: HMAC-SHA256(key, "octospool-verified 1" gid credsha pw).
 * Without the key an entry says nothing about the password; a changed
 * credential changes every MAC.
 */
static int
vc_mac(const struct aa_run *run, unsigned long gid,
    const unsigned char credsha[32], const char *pw, unsigned char out[32])
{
	char head[64];
	struct iovec v[3];

	snprintf(head, sizeof(head), "octospool-verified 1 %lu ", gid);
	v[0] = (struct iovec){ head, strlen(head) };
	v[1] = (struct iovec){ (void *)(uintptr_t)credsha, 32 };
	v[2] = (struct iovec){ (void *)(uintptr_t)pw, strlen(pw) };
	return hmac256(run, run->vc.key, sizeof(run->vc.key), v, 3, out);
}

static int
vc_lookup(struct aa_run *run, unsigned long gid,
    const unsigned char credsha[32], const char *pw)
{
	struct aa_vcache *vc = &run->vc;
	unsigned char mac[32];

	if (!vc->have_key || vc_mac(run, gid, credsha, pw, mac) == -1)
		return 0;
	for (size_t i = 0; i < vc->n; i++)
		if (vc->e[i].gid == gid && vc->e[i].expires > run->now &&
		    CRYPTO_memcmp(vc->e[i].mac, mac, 32) == 0)
			return 1;
	return 0;
}

static void
vc_add(struct aa_run *run, unsigned long gid, const unsigned char credsha[32],
    const char *pw)
{
	struct aa_vcache *vc = &run->vc;
	struct aa_vc_entry *e;

	if (!vc->have_key || vc->n >= FAIL_MAX_ENTRIES)
		return;
	vc->e = xreallocarray(vc->e, vc->n + 1, sizeof(*vc->e));
	e = &vc->e[vc->n];
	if (vc_mac(run, gid, credsha, pw, e->mac) == -1)
		return;
	e->gid = gid;
	e->expires = run->now + run->cf->verified_ttl;
	vc->n++;
	vc->dirty = 1;
}

/* 1 if pw is the group's password, 0 if not (or no password set). */
static int
group_verify(struct aa_run *run, struct aa_group *g, const char *pw)
{
	unsigned char sha[32], credsha[32];
	int ok, remember;

	if (!g->have_cred || g->hashlen == 0 || pw == NULL)
		return 0;
	/* Parameters below the minimum: refused, also from a cache. */
	if (!aa_kdf_params_ok(g->kdf, g->params)) {
		log_warnx("event=credential.bad stage=%s group=%lu "
		    "msg=\"stored KDF parameters unusable or below the "
		    "minimum\"", STAGE, g->id);
		return 0;
	}
	/* Without both digests no result is looked up or kept. */
	remember = pw_mac(run, pw, sha) == 0 && cred_digest(g, credsha) == 0;
	for (size_t i = 0; remember && i < run->nver; i++)
		if (run->ver[i].gid == g->id &&
		    CRYPTO_memcmp(run->ver[i].credsha, credsha, 32) == 0 &&
		    CRYPTO_memcmp(run->ver[i].pwsha, sha, sizeof(sha)) == 0)
			return run->ver[i].ok;
	if (remember && vc_lookup(run, g->id, credsha, pw)) {
		/* Verified by an earlier process: no KDF run. */
		ok = 1;
		run->cache_hits++;
	} else {
		ok = aa_kdf_verify(g->kdf, g->params, g->salt, g->saltlen,
		    g->hash, g->hashlen, pw, strlen(pw));
		run->kdf_runs++;
		if (ok == -1) {
			/* Checked above: a failure of the library, for this
			 * file only. */
			log_warnx("event=credential.fail stage=%s group=%lu "
			    "msg=\"the KDF failed\"", STAGE, g->id);
			return 0;
		}
		if (ok == 1 && remember)
			vc_add(run, g->id, credsha, pw);
	}
	if (!remember || (ok != 1 && run->nver_fail >= VER_FAIL_MAX))
		return ok;
	run->ver = xreallocarray(run->ver, run->nver + 1, sizeof(*run->ver));
	run->ver[run->nver].gid = g->id;
	memcpy(run->ver[run->nver].credsha, credsha, 32);
	memcpy(run->ver[run->nver].pwsha, sha, sizeof(sha));
	run->ver[run->nver].ok = ok;
	run->nver++;
	if (ok != 1)
		run->nver_fail++;
	return ok;
}

/* The CN of an RFC 2253 subject, or "" (cn of cap bytes). */
static void
subject_cn(const char *subj, char *cn, size_t cap)
{
	const char *p = subj;
	size_t n = 0;

	cn[0] = '\0';
	while (p != NULL && *p != '\0') {
		while (*p == ' ')
			p++;
		if (strncasecmp(p, "CN=", 3) == 0) {
			p += 3;
			while (*p != '\0' && *p != ',' && *p != '+' &&
			    n + 1 < cap) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				cn[n++] = *p++;
			}
			cn[n] = '\0';
			return;
		}
		/* Skip to the next unescaped separator. */
		while (*p != '\0' && *p != ',' && *p != '+') {
			if (*p == '\\' && p[1] != '\0')
				p++;
			p++;
		}
		if (*p != '\0')
			p++;
	}
}

/* ---- the drain ---------------------------------------------------- */

struct aa_decision {
	const char	*rule;		/* refusal category, NULL: accepted */
	int		 create;
	int		 no_learn;
	long long	 cap;		/* -1: none */
	unsigned long	 gid;
};

static void __attribute__((format(printf, 4, 5)))
refuse(struct aa_decision *dec, struct drain_item *it, const char *rule,
    const char *fmt, ...)
{
	char detail[400];
	va_list ap;

	dec->rule = rule;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	drain_reason(it, EX_NOPERM, "rule=auth-%s line=0 %s", rule, detail);
}

/* Certificate binding: 0 bound, -1 not. */
static int
cert_bound(const struct envelope *env, const char *agent, const char *pin,
    int want_cn)
{
	char cn[1024];

	if (env->hdrlen == 0 || env->fingerprint[0] == '\0')
		return -1;
	if (pin != NULL && *pin != '\0')
		return strcasecmp(pin, env->fingerprint) == 0 ? 0 : -1;
	(void)want_cn;
	subject_cn(env->subject, cn, sizeof(cn));
	return strcmp(cn, agent) == 0 ? 0 : -1;
}

/* Decide on one item; -1 on a database error (retry). */
static int
decide(struct aa_run *run, struct drain_item *it,
    const struct agent_data *ad, struct aa_decision *dec)
{
	const char *name = ad->agent_name;
	const char *pw = ad->attr[AX_A_GROUP_PASSWORD];
	const char *claimed = ad->attr[AX_A_GROUP];
	char *enc, pin[65];
	size_t enclen;
	int r, found = 0, pol_cn = 0, has_pin = 0, have_cred = 0;
	unsigned long gid = 0;
	struct aa_group *g, cred;
	const struct aa_agent *ca;

	memset(dec, 0, sizeof(*dec));
	dec->cap = run->cf->module_cap;
	pin[0] = '\0';
	if ((ca = agent_cached(run, name)) != NULL) {
		found = 1;
		gid = ca->gid;
		strlcpy(pin, ca->pin, sizeof(pin));
		has_pin = pin[0] != '\0';
		pol_cn = ca->cn;
		dec->no_learn = ca->no_learn;
		if (ca->have_cap)
			dec->cap = ca->cap;
		r = 0;
		goto known;
	}
	enc = pandora_safe_input(name, strlen(name), &enclen);
	if (db_stmt_exec(run->st_agent, (struct db_val[]){
	    DB_TEXTN(enc, enclen), DB_TEXTN(enc, enclen) }, 2) == -1) {
		free(enc);
		return -1;
	}
	free(enc);
	while ((r = db_stmt_fetch(run->st_agent)) == 1) {
		size_t n;
		const char *s;

		found = 1;
		gid = db_col_uint(run->st_agent, 1);
		if (!db_col_null(run->st_agent, 2) &&
		    (s = db_col_text(run->st_agent, 2, &n)) != NULL) {
			strlcpy(pin, s, sizeof(pin));
			has_pin = pin[0] != '\0';
		}
		pol_cn = db_col_int(run->st_agent, 3) != 0;
		dec->no_learn = db_col_int(run->st_agent, 4) != 0;
		if (!db_col_null(run->st_agent, 5))
			dec->cap = db_col_int(run->st_agent, 5);
		/* Its group's credential, read with it (group_get then
		 * finds it), unless this run read the group already. */
		if (group_find(run, gid) == NULL) {
			group_init(&cred, gid);
			if (db_col_int(run->st_agent, 6) != 0)
				group_fill(&cred, run->st_agent, 7);
			have_cred = 1;
		}
	}
	if (r != -1 && found) {
		agent_remember(run, name, gid, pin, pol_cn, dec->no_learn,
		    1, dec->cap);
		if (have_cred)
			(void)group_keep(run, &cred);
	}
known:
	if (r == -1)
		return -1;
	if (!found) {
		/* A new agent: the claimed group only, no fallback. */
		if (claimed == NULL || *claimed == '\0') {
			refuse(dec, it, "group", "new agent \"%s\" names no "
			    "group", name);
			return 0;
		}
		enc = pandora_safe_input(claimed, strlen(claimed), &enclen);
		if (db_stmt_exec(run->st_gname, (struct db_val[]){
		    DB_TEXTN(enc, enclen) }, 1) == -1) {
			free(enc);
			return -1;
		}
		free(enc);
		while ((r = db_stmt_fetch(run->st_gname)) == 1) {
			found = 2;
			gid = db_col_uint(run->st_gname, 0);
		}
		if (r == -1)
			return -1;
		if (found != 2) {
			refuse(dec, it, "group", "new agent claims group \"%s\", "
			    "which does not exist", claimed);
			return 0;
		}
	}
	dec->gid = gid;
	if ((g = group_get(run, gid)) == NULL)
		return -1;
	if (!group_verify(run, g, pw)) {
		if (found == 1)
			refuse(dec, it, "password", "group password does not "
			    "match the registered group of agent \"%s\" "
			    "(id_grupo %lu)", name, gid);
		else
			refuse(dec, it, "password", "group password does not "
			    "match the claimed group \"%s\" (id_grupo %lu)",
			    claimed, gid);
		return 0;
	}
	if ((run->cf->cert_required || g->cert_required || has_pin ||
	    pol_cn) && cert_bound(&it->env, name, has_pin ? pin : NULL,
	    pol_cn) == -1) {
		refuse(dec, it, "certificate", "agent \"%s\" requires a client "
		    "certificate bound to it (CN or pinned SHA-256)",
		    name);
		return 0;
	}
	if (found == 1)
		return 0;
	if (!g->self_create) {
		refuse(dec, it, "self-create", "new agent \"%s\": "
		    "self-creation is off for group %lu", name, gid);
		return 0;
	}
	/* Group limit: agents in the registry plus those let in now. */
	if (g->max_agents >= 0) {
		long long have = 0;
		int seen = 0;

		for (size_t i = 0; i < run->ncreated; i++)
			if (strcmp(run->created[i], name) == 0)
				seen = 1;
		if (db_stmt_exec(run->st_count, (struct db_val[]){
		    DB_UINT(gid) }, 1) == -1)
			return -1;
		while ((r = db_stmt_fetch(run->st_count)) == 1)
			have = db_col_int(run->st_count, 0);
		if (r == -1)
			return -1;
		if (!seen && have + g->created >= g->max_agents) {
			refuse(dec, it, "max-agents", "new agent \"%s\": "
			    "group %lu is at its max_agents", name, gid);
			return 0;
		}
		if (!seen) {
			g->created++;
			run->created = xreallocarray(run->created,
			    run->ncreated + 1, sizeof(*run->created));
			run->created[run->ncreated++] = xstrdup(name);
		}
	}
	dec->create = 1;
	return 0;
}

/* Pass the item on with its envelope and agent-auth's Auth-* keys. */
static int
emit(struct aa_run *run, struct drain *d, struct drain_item *it,
    const struct aa_decision *dec, const char *agent, const char *body_sha)
{
	struct envelope e = it->env;
	char hdr[ENVELOPE_MAX], *buf;
	size_t stamp_off = 0;
	ssize_t hl;
	int rc;

	/* The input's stamp is not ours to pass on: ours replaces it. */
	memset(e.stamp_keyid, 0, sizeof(e.stamp_keyid));
	memset(e.stamp_sig, 0, sizeof(e.stamp_sig));
	if (it->env.hdrlen == 0) {
		/* A bare agent file: a minimal envelope. */
		struct tm tm;
		char host[256];

		memset(&e, 0, sizeof(e));
		strlcpy(e.name, it->name, sizeof(e.name));
		strlcpy(e.peer, "local", sizeof(e.peer));
		gmtime_r(&run->now, &tm);
		strftime(e.received, sizeof(e.received), "%Y-%m-%dT%H:%M:%SZ",
		    &tm);
		if (gethostname(host, sizeof(host)) == -1)
			strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		snprintf(e.receiver, sizeof(e.receiver), "%s agent-auth", host);
		strlcpy(e.tls, "none", sizeof(e.tls));
		strlcpy(e.auth, "none", sizeof(e.auth));
	}
	/* Whatever Auth-* keys came in are replaced by this decision, which
	 * names the agent and the group it was made for, under our stamp. */
	if (strlcpy(e.auth_agent, agent, sizeof(e.auth_agent)) >=
	    sizeof(e.auth_agent)) {
		drain_reason(it, EX_DATAERR, "rule=envelope line=0 the agent "
		    "name does not fit the envelope");
		return -1;
	}
	e.have_auth_group = 1;
	e.auth_group = dec->gid;
	strlcpy(e.stamp_signer, run->cf->stamp.name, sizeof(e.stamp_signer));
	e.auth_create = dec->create ? ENVELOPE_YES : ENVELOPE_NO;
	e.auth_learn = dec->no_learn ? ENVELOPE_NO : ENVELOPE_YES;
	e.have_module_cap = dec->cap >= 0;
	e.module_cap = dec->cap >= 0 ? dec->cap : 0;
	memcpy(e.sha256, body_sha, sizeof(e.sha256));
	if ((hl = envelope_format(&e, hdr, sizeof(hdr), NULL,
	    &stamp_off)) == -1) {
		drain_reason(it, EX_DATAERR, "rule=envelope line=0 the "
		    "envelope does not fit");
		return -1;
	}
	if (stamp_fill(&run->cf->stamp, hdr, hl, stamp_off) == -1) {
		log_warnx("event=stamp.fail stage=%s id=%s", STAGE, it->name);
		return -2;
	}
	buf = xmalloc(hl + it->bodylen + 1);
	memcpy(buf, hdr, hl);
	memcpy(buf + hl, it->body, it->bodylen);
	if (run->filter) {
		rc = 0;
		if (run->outfd != -1 && io_write_all(run->outfd, buf,
		    hl + it->bodylen) == -1) {
			run->outerr = errno ? errno : EIO;
			rc = -1;
		}
	} else
		rc = drain_output(d, it, buf, hl + it->bodylen);
	free(buf);
	return rc == -1 ? -2 : 0;
}

static void
audit_item(struct aa_run *run, struct drain *d, const struct drain_item *it,
    const char *agent, const char *outcome, const char *reason,
    const struct aa_decision *dec)
{
	struct audit_buf *ab;

	if (!run->cf->audit || run->filter)
		return;
	ab = drain_audit(d);
	audit_begin(ab, STAGE, dec != NULL && dec->create ? "agent.create.auth"
	    : "agent.auth", outcome);
	if (agent != NULL)
		audit_str(ab, "agent", agent);
	if (it->env.hdrlen > 0) {
		audit_str(ab, "peer", it->env.peer);
		if (it->env.fingerprint[0] != '\0')
			audit_str(ab, "cert_sha256", it->env.fingerprint);
	}
	if (reason != NULL)
		audit_str(ab, "reason", reason);
	if (dec != NULL && reason == NULL) {
		audit_num(ab, "group", dec->gid);
		audit_str(ab, "learn", dec->no_learn ? "no" : "yes");
		if (dec->cap >= 0)
			audit_num(ab, "module_cap", dec->cap);
	}
	audit_str(ab, "item", it->name);
	audit_end(ab);
}

/* The drain handler: one item. */
static int
handle(struct drain *d, struct drain_item *it, void *arg)
{
	struct aa_run *run = arg;
	struct agentxml_limits lim;
	struct agent_data *ad;
	struct aa_decision dec;
	char why[DRAIN_REASON_MAX], vis[LOG_VISBUF], body_sha[65];
	const char *peer = it->env.hdrlen > 0 ? it->env.peer : NULL;
	int rc;

	/*
	 * The connection facts count only under tentacle-recv's stamp:
	 * an envelope without one, or one that does not verify, is not
	 * believed and the item is refused.  Without a configured key
	 * (recv_pubkey none) no fact is believed: no certificate.
	 */
	stamp_sha256_hex(it->body, it->bodylen, body_sha);
	if (it->env.hdrlen > 0 && run->cf->have_recv_keys) {
		char serr[256];

		if ((rc = stamp_check(&run->cf->recv_keys, it->data, &it->env,
		    body_sha, serr, sizeof(serr))) != 1) {
			drain_reason(it, EX_NOPERM, "rule=stamp line=0 %s",
			    rc == 0 ? "the envelope carries no stamp of "
			    "tentacle-recv: its facts cannot be believed" :
			    serr);
			audit_item(run, d, it, NULL, "refused",
			    "envelope not stamped by tentacle-recv", NULL);
			run->refused++;
			return DRAIN_REJECT;
		}
	} else if (it->env.hdrlen > 0) {
		it->env.subject[0] = it->env.fingerprint[0] = '\0';
		strlcpy(it->env.auth, "none", sizeof(it->env.auth));
	}
	agentxml_limits_default(&lim);
	lim.max_size = run->cf->max_size;
	lim.now = 0;		/* xml-validate checked the time window */
	if (agentxml_parse(it->body, it->bodylen, &lim, &ad, why,
	    sizeof(why)) == -1) {
		drain_reason(it, EX_DATAERR, "%s", why);
		audit_item(run, d, it, NULL, "refused", "unreadable agent data",
		    NULL);
		return DRAIN_REJECT;
	}
	if (blocked(run, 'a', ad->agent_name) || blocked(run, 'p', peer)) {
		drain_reason(it, EX_NOPERM, "rule=auth-ratelimit line=0 too "
		    "many failures from agent \"%s\" or peer %s: refused until "
		    "the block expires", ad->agent_name, peer ? peer : "-");
		audit_item(run, d, it, ad->agent_name, "refused",
		    "rate limited", NULL);
		run->refused++;
		agentxml_free(ad);
		return DRAIN_REJECT;
	}
	if (db_ready(run) == -1 || decide(run, it, ad, &dec) == -1) {
		log_warnx("event=db.fail stage=%s id=%s class=%s msg=\"%s\"",
		    STAGE, it->name, db_class_name(db_errclass(run->db)),
		    log_vis(vis, sizeof(vis), db_error(run->db),
		    strlen(db_error(run->db))));
		agentxml_free(ad);
		run->connected = 0;
		return DRAIN_RETRY;
	}
	if (dec.rule != NULL) {
		/* Filter mode: say() reports it, on one line. */
		if (!run->filter)
			log_info("event=auth.refused stage=%s id=%s "
			    "agent=\"%s\" rule=%s", STAGE, it->name,
			    log_vis(vis, sizeof(vis), ad->agent_name,
			    strlen(ad->agent_name)), dec.rule);
		audit_item(run, d, it, ad->agent_name, "refused", dec.rule,
		    NULL);
		fail_note(run, d, 'a', ad->agent_name, it->name);
		fail_note(run, d, 'p', peer, it->name);
		run->refused++;
		agentxml_free(ad);
		return DRAIN_REJECT;
	}
	if ((rc = emit(run, d, it, &dec, ad->agent_name, body_sha)) != 0) {
		agentxml_free(ad);
		if (rc == -1)
			return DRAIN_REJECT;
		log_warn("event=output.fail stage=%s id=%s", STAGE, it->name);
		return DRAIN_RETRY;
	}
	audit_item(run, d, it, ad->agent_name, "ok", NULL, &dec);
	run->ok++;
	agentxml_free(ad);
	return DRAIN_DONE;
}

/*
 * The keys of the stamps (ours to sign with, tentacle-recv's to check)
 * and the queue's producer, while the files are still readable.
 */
static void
load_keys(struct aa_conf *cf, int drain)
{
	char err[512];

	if (stamp_signer_load(&cf->stamp, STAGE, cf->stamp_key, err,
	    sizeof(err)) == -1)
		tool_conf_fatal("stamp_key", err);
	if (cf->recv_pubkey != NULL) {
		if (stamp_keys_load(&cf->recv_keys, "tentacle-recv",
		    cf->recv_pubkey, err, sizeof(err)) == -1)
			tool_conf_fatal("recv_pubkey", err);
		cf->have_recv_keys = 1;
	} else
		log_warnx("event=config.warn key=recv_pubkey msg=\"none: no "
		    "connection fact (client certificate) is believed\"");
	if (drain)
		tool_idset(&cf->producers, cf->producer, "producer");
}

static void
run_free(struct aa_run *run)
{
	db_stmt_free(run->st_agent);
	db_stmt_free(run->st_gname);
	db_stmt_free(run->st_cred);
	db_stmt_free(run->st_count);
	db_close(run->db);
	for (size_t i = 0; i < run->nfails; i++)
		free(run->fails[i].key);
	for (size_t i = 0; i < run->ncreated; i++)
		free(run->created[i]);
	for (size_t i = 0; i < run->nagents; i++)
		free(run->agents[i].name);
	free(run->agents);
	free(run->fails);
	free(run->created);
	free(run->groups);
	OPENSSL_cleanse(run->ver, run->nver * sizeof(*run->ver));
	free(run->ver);
	OPENSSL_cleanse(&run->vc.key, sizeof(run->vc.key));
	OPENSSL_cleanse(run->pwkey, sizeof(run->pwkey));
	EVP_MAC_free(run->hmac);
	free(run->vc.e);
}

/* A run's state: empty, with the key of its remembered passwords; no
 * core file of a process that holds passwords and keys. */
static void
run_init(struct aa_run *run, struct aa_conf *cf)
{
	memset(run, 0, sizeof(*run));
	run->cf = cf;
	tool_no_core();
	if (RAND_bytes(run->pwkey, sizeof(run->pwkey)) != 1 ||
	    (run->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		fatalx(EX_SOFTWARE, "event=crypto.fail");
}

/*
 * A pass of the lingering drain starts from fresh registry facts: the
 * group rows, agents and creation counts of the pass before are
 * forgotten (an administrator may have changed them); what stays is the
 * connection, the prepared statements, the limiter state and the
 * verification results (keyed by the stored credential, so a new
 * password never meets an old result).
 */
static void
pass_begin(void *arg)
{
	struct aa_run *run = arg;

	run->now = time(NULL);
	for (size_t i = 0; i < run->ncreated; i++)
		free(run->created[i]);
	run->ncreated = 0;
	for (size_t i = 0; i < run->nagents; i++)
		free(run->agents[i].name);
	run->nagents = 0;
	run->ngroups = 0;
	run->kdf_runs = run->cache_hits = 0;
}

static void
pass_end(const struct drain_stats *st, int rc, void *arg)
{
	struct aa_run *run = arg;

	if (fails_save(run) == -1)
		log_warn("event=state.write.fail file=%s", run->cf->state_file);
	else
		run->fails_dirty = 0;
	vc_save(run);
	if (st->seen > 0 || rc != 0)
		log_info("event=drain.done stage=%s seen=%lu accepted=%lu "
		    "rejected=%lu retried=%lu batches=%lu kdf=%lu "
		    "kdf_cached=%lu exit=%d", STAGE, st->seen, st->done,
		    st->rejected, st->retried, st->batches, run->kdf_runs,
		    run->cache_hits, rc);
}

static int
drain_mode(struct aa_conf *cf)
{
	struct drain_opts o;
	struct drain_stats st;
	struct aa_run run;
	struct drain *d;
	int rc;

	run_init(&run, cf);
	run.now = time(NULL);
	if ((run.db = db_open(&cf->db)) == NULL)
		fatalx(EX_SOFTWARE, "event=db.open.fail");
	fails_load(&run);
	vc_load(&run);
	memset(&o, 0, sizeof(o));
	o.stage = STAGE;
	o.max_item = cf->max_size + ENVELOPE_MAX;
	o.batch = cf->batch;
	o.producers = &cf->producers;
	d = tool_drain_open(cf->spool_dir, "agent-auth", "db-load",
	    cf->audit ? cf->audit_spool : NULL, &o);
	cf->linger.before = pass_begin;
	cf->linger.after = pass_end;
	cf->linger.arg = &run;
	rc = drain_linger(d, handle, &run, &cf->linger, &st);
	drain_close(d);
	run_free(&run);
	return rc;
}

/* A reason on stderr: one line, no control characters. */
#define say(label, why)	log_say("agent-auth", (label), (why))

/*
 * Filter mode: authenticate one item from path ("-": stdin) without the
 * queues, the audit queue or the limiter state (read, never written).
 * 0 would pass (the output item on outpath), 77 refused, 65 bad input,
 * 75 database unavailable, 66/73/74 for the files.
 */
static int
filter_mode(struct aa_conf *cf, const char *path, const char *outpath,
    int verbose)
{
	const char *label = strcmp(path, "-") == 0 ? "stdin" : path;
	struct drain_item it;
	struct aa_run run;
	char err[256], why[DRAIN_REASON_MAX + 64], *buf = NULL;
	const char *base;
	ssize_t len;
	int fd, e, h, rc;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		say(label, strerror(errno));
		return EX_NOINPUT;
	}
	len = io_read_bounded(fd, &buf, cf->max_size + ENVELOPE_MAX);
	if (fd != STDIN_FILENO)
		close(fd);
	if (len == -2) {
		snprintf(why, sizeof(why), "rule=size line=0 the item exceeds "
		    "the limit of %zu bytes", cf->max_size + ENVELOPE_MAX);
		say(label, why);
		return EX_DATAERR;
	}
	if (len == -1) {
		snprintf(why, sizeof(why), "read: %s", strerror(errno));
		say(label, why);
		return EX_IOERR;
	}
	memset(&it, 0, sizeof(it));
	if ((e = envelope_parse(buf, len, &it.env, err, sizeof(err))) == -1) {
		snprintf(why, sizeof(why), "rule=envelope line=0 %s", err);
		say(label, why);
		free(buf);
		return EX_DATAERR;
	}
	if (e != 1)
		memset(&it.env, 0, sizeof(it.env));
	base = strcmp(path, "-") == 0 ? "stdin" :
	    strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	it.name = e == 1 ? it.env.name : base;
	it.data = buf;
	it.len = len;
	it.body = buf + it.env.hdrlen;
	it.bodylen = len - it.env.hdrlen;
	/* The output file is opened before the privileges go. */
	run_init(&run, cf);
	run.filter = 1;
	run.outfd = -1;
	if (outpath != NULL && (run.outfd = strcmp(outpath, "-") == 0 ?
	    STDOUT_FILENO : open(outpath, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0640)) == -1) {
		snprintf(why, sizeof(why), "%s: %s", outpath, strerror(errno));
		say(label, why);
		free(buf);
		return EX_CANTCREAT;
	}
	load_keys(cf, 0);
	tool_drop_privileges(cf->user);
	run.now = time(NULL);
	if ((run.db = db_open(&cf->db)) == NULL)
		fatalx(EX_SOFTWARE, "event=db.open.fail");
	fails_load(&run);
	h = handle(NULL, &it, &run);
	switch (h) {
	case DRAIN_DONE:
		rc = EX_OK;
		if (run.outfd != -1 && run.outfd != STDOUT_FILENO &&
		    (fsync(run.outfd) == -1 || close(run.outfd) == -1)) {
			snprintf(why, sizeof(why), "%s: %s", outpath,
			    strerror(errno));
			say(label, why);
			rc = EX_IOERR;
		}
		run.outfd = -1;
		if (rc == EX_OK && verbose)
			say(label, "authenticated");
		break;
	case DRAIN_RETRY:
		if (run.outerr != 0) {
			snprintf(why, sizeof(why), "%s: %s", outpath,
			    strerror(run.outerr));
			say(label, why);
			rc = EX_IOERR;
		} else {
			say(label, "database unavailable, try again later");
			rc = EX_TEMPFAIL;
		}
		break;
	default:
		rc = it.code == EX_NOPERM ? EX_NOPERM : EX_DATAERR;
		if (rc == EX_DATAERR || verbose)
			say(label, it.reason);
		else
			/* Neutral: nothing on whether the agent exists. */
			say(label, "refused: the item is not authenticated");
		break;
	}
	/* A refused item leaves no output: emptied, and removed if the
	 * service user may. */
	if (run.outfd != -1 && run.outfd != STDOUT_FILENO) {
		(void)!ftruncate(run.outfd, 0);
		close(run.outfd);
	}
	if (rc != EX_OK && outpath != NULL && strcmp(outpath, "-") != 0)
		(void)unlink(outpath);
	run_free(&run);
	free(buf);
	return rc;
}

int
main(int argc, char *argv[])
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "max", required_argument, NULL, 1 },
		{ "cn", no_argument, NULL, 2 },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const commands[] = { "group-add", "passwd",
		"selfcreate", "certreq", "pin", "unpin", "readonly", "nolearn",
		"cap", "list", NULL };
	const char *es = NULL, *outpath = NULL;
	struct aa_conf cf;
	int ch, rc, have_max = 0, cn = 0, filter = 0;
	long max = 0;

	while ((ch = tool_getopt(&tool, argc, argv, "c:dhno:Vv", lopts)) !=
	    -1) {
		switch (ch) {
		case 'o':
			outpath = optarg;
			break;
		case 1:
			max = strtonum(optarg, 0, 1000000000, &es);
			if (es != NULL)
				tool_usage(&tool, stderr, EX_USAGE);
			have_max = 1;
			break;
		case 2:
			cn = 1;
			break;
		default:
			tool_usage(&tool, stderr, EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	/* An operand that is not a command is the filter's FILE. */
	if (argc > 0) {
		filter = 1;
		for (size_t i = 0; commands[i] != NULL; i++)
			if (strcmp(argv[0], commands[i]) == 0)
				filter = 0;
		if (filter && (argc != 1 || have_max || cn))
			tool_usage(&tool, stderr, EX_USAGE);
	}
	if (outpath != NULL && !filter)
		tool_usage(&tool, stderr, EX_USAGE);
	tool_log_init(&tool, LOG_DAEMON, tool.fg || tool.check || argc > 0);
	tool_conf_load(&tool);
	memset(&cf, 0, sizeof(cf));
	configure(&cf, argc == 0 || filter);
	if (tool.check) {
		load_keys(&cf, 1);
		printf("agent-auth: configuration ok\n");
		exit(EX_OK);
	}
	umask(027);
	if (db_library_init() == -1)
		fatalx(EX_SOFTWARE, "event=db.init.fail");
	if (filter) {
		agentxml_init();
		rc = filter_mode(&cf, argv[0], outpath, tool.verbose);
		db_conf_free(&cf.db);
	} else if (argc > 0) {
		struct aa_admin_ctx ac = { tool.conf, cf.audit_spool,
		    cf.audit };

		rc = aa_admin(&ac, argc, argv, max, have_max, cn);
	} else {
		if (have_max || cn)
			tool_usage(&tool, stderr, EX_USAGE);
		agentxml_init();
		load_keys(&cf, 1);
		tool_drop_privileges(cf.user);
		rc = drain_mode(&cf);
		db_conf_free(&cf.db);
	}
	db_library_end();
	conf_free(tool.conf);
	free(cf.spool_dir);
	free(cf.user);
	free(cf.audit_spool);
	free(cf.state_file);
	free(cf.verified_cache);
	free(cf.verified_key);
	free(cf.producer);
	free(cf.recv_pubkey);
	free(cf.stamp_key);
	stamp_signer_free(&cf.stamp);
	stamp_keys_free(&cf.recv_keys);
	return rc;
}
