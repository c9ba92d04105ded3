/* SPDX-License-Identifier: ISC */
/*
 * octospool-status: the state of the pipeline at a glance.  Per queue
 * the items in new/, cur/ and reject/ and the age of the oldest waiting
 * item; per stage its last run (the status line each drain writes);
 * the database (reachable, TLS, schema check by db-load); the audit
 * log's last write; tentacle-recv listening and its connections.  Plain
 * text, JSON (--json) or a node_exporter textfile (--prometheus FILE).
 * Exit 0 healthy, 1 degraded, 2 down.  See octospool-status(8).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "conf.h"
#include "db.h"
#include "io.h"
#include "log.h"
#include "xalloc.h"

#define SECTION		"status"
#define DEFAULT_SPOOL	"/var/spool/octospool"
#define DEFAULT_AUDIT_LOG "/var/lib/octospool/audit/log"

#define OK		0
#define DEGRADED	1
#define DOWN		2

static const char *const known_keys[] = {
	"spool_dir", "queue_warn", "queue_age_warn", "queue_age_down",
	"reject_warn", "stage_age_warn", "audit_age_warn", "check_db",
	"cluster_min_size", "server_name", "node_stale",
	"check_recv", "audit_log_dir", "recv_address", "recv_port",
	DB_TOOL_KEYS, NULL
};

extern char **environ;

/* The queues and the stage that consumes each. */
static const struct {
	const char *dir;
	const char *stage;
} queues[] = {
	{ "xml-validate", "xml-validate" },
	{ "agent-auth", "agent-auth" },
	{ "db-load", "db-load" },
	{ "audit-sign", "audit-sign" },
	{ "conf-dist/submit", "conf-dist" },
	{ "conf-dist/uploads", "conf-dist" },
};
#define NQUEUES (sizeof(queues) / sizeof(queues[0]))

struct thresholds {
	long long queue_warn, queue_age_warn, queue_age_down, reject_warn;
	long long stage_age_warn, audit_age_warn;
	long long cluster_min_size;	/* Galera: fewer nodes is degraded */
};

struct qstate {
	int	 readable;		/* 0: the queue could not be read */
	long long n_new, n_cur, n_reject, oldest_age;	/* age -1: none */
	/* The stage's status line (spool_status_put). */
	int	 have_run;
	char	 run_time[32];
	long long run_epoch, run_exit, run_seen, run_done, run_rejected;
	long long run_retried, run_ms;
	int	 health;
	char	 why[160];
};

struct dbstate {
	int	 checked, reachable, schema_ok, schema_rc;
	char	 tls[96], version[64], error[200];
	char	 server[DB_HOST_MAX + 8];	/* the one that answered */
	int	 health;
	/* A Galera cluster (wsrep status variables), when the server is a
	 * node of one. */
	int	 cluster;
	long long cluster_size;
	char	 cluster_name[64], cluster_status[32], node_state[32];
	char	 node_ready[8], why[160];
};

struct auditstate {
	int	 checked, have_log;
	long long last_write_age, segments, waiting;
	int	 health;
	char	 why[160];
};

struct recvstate {
	int	 checked, listening;
	long long connections;
	char	 address[64];
	int	 port;
	int	 health;
};

/* What a node last said about itself (octo_node), and what it loaded. */
#define NODES_MAX	256
struct nodestate {
	char	 name[256];
	char	 version[32];
	int	 state;			/* its own report's health */
	int	 health;		/* DOWN too when its report is stale */
	long long report_age;		/* seconds */
	long long loaded;		/* files in the last 5 minutes */
	long long last_load_age;	/* -1: none in that time */
};

struct clusterstate {
	int	 checked, published;
	char	 error[200];
	struct nodestate n[NODES_MAX];
	size_t	 nn;
	int	 health;
};

static struct conf *cf;
static time_t now;

static void __attribute__((noreturn))
usage(FILE *fp, int ex)
{
	fprintf(fp, "usage: octospool-status [-hV] [-c file] [--json | "
	    "--prometheus FILE] [--no-db] [--no-recv]\n"
	    "                        [--publish] [--cluster]\n"
	    "Exit 0 healthy, 1 degraded, 2 down.  See octospool-status(8).\n");
	exit(ex);
}

static long long
num(const char *key, long long min, long long max, long long def)
{
	char err[256];
	long long v = def;

	if (conf_num(cf, SECTION, key, min, max, &v, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.error key=%s msg=\"%s\"", key,
		    err);
	return v;
}

static const char *
str(const char *key, const char *def)
{
	const char *v = conf_get(cf, SECTION, key);

	return v != NULL && *v != '\0' ? v : def;
}

static void
worse(int *h, int v)
{
	if (v > *h)
		*h = v;
}

static const char *
health_name(int h)
{
	return h == OK ? "ok" : h == DEGRADED ? "degraded" : "down";
}

/* ---- queues ---- */

/* The time in a spool name ("<seconds>.<usec>_..."), or -1. */
static long long
name_time(const char *name)
{
	char *end;
	long long t;

	errno = 0;
	t = strtoll(name, &end, 10);
	if (errno != 0 || end == name || *end != '.' || t < 0)
		return -1;
	return t;
}

/* Count a directory's items (not *.reason, not hidden); oldest time. */
static int
count_dir(int qfd, const char *sub, long long *n, long long *oldest)
{
	struct dirent *de;
	DIR *d;
	int fd;

	*n = 0;
	if (oldest != NULL)
		*oldest = -1;
	if ((fd = openat(qfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		long long t;

		if (de->d_name[0] == '.' ||
		    (l > 7 && strcmp(de->d_name + l - 7, ".reason") == 0))
			continue;
		(*n)++;
		if (oldest == NULL)
			continue;
		if ((t = name_time(de->d_name)) == -1) {
			/* Not a spool name (dropped by hand): its mtime. */
			struct stat sb;

			if (fstatat(dirfd(d), de->d_name, &sb,
			    AT_SYMLINK_NOFOLLOW) == -1)
				continue;
			t = sb.st_mtime;
		}
		if (*oldest == -1 || t < *oldest)
			*oldest = t;
	}
	closedir(d);
	return 0;
}

static void
read_run(int qfd, struct qstate *q)
{
	char *buf, *p, *save = NULL;
	ssize_t len;
	int fd;

	if ((fd = openat(qfd, "status", O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC | O_NONBLOCK)) == -1)
		return;
	len = io_read_bounded(fd, &buf, 1024);
	close(fd);
	if (len < 0)
		return;
	for (p = strtok_r(buf, " \n", &save); p != NULL;
	    p = strtok_r(NULL, " \n", &save)) {
		char *eq = strchr(p, '=');
		long long v;

		if (eq == NULL)
			continue;
		*eq++ = '\0';
		if (strcmp(p, "time") == 0) {
			strlcpy(q->run_time, eq, sizeof(q->run_time));
			continue;
		}
		v = strtoll(eq, NULL, 10);
		if (strcmp(p, "epoch") == 0)
			q->run_epoch = v;
		else if (strcmp(p, "exit") == 0)
			q->run_exit = v;
		else if (strcmp(p, "seen") == 0)
			q->run_seen = v;
		else if (strcmp(p, "done") == 0)
			q->run_done = v;
		else if (strcmp(p, "rejected") == 0)
			q->run_rejected = v;
		else if (strcmp(p, "retried") == 0)
			q->run_retried = v;
		else if (strcmp(p, "ms") == 0)
			q->run_ms = v;
	}
	q->have_run = q->run_epoch > 0;
	free(buf);
}

static void
check_queue(const char *spool, size_t i, const struct thresholds *t,
    struct qstate *q)
{
	char path[PATH_MAX];
	long long oldest;
	int fd;

	memset(q, 0, sizeof(*q));
	q->oldest_age = -1;
	snprintf(path, sizeof(path), "%s/%s", spool, queues[i].dir);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    count_dir(fd, "new", &q->n_new, &oldest) == -1) {
		snprintf(q->why, sizeof(q->why), "%.60s: %s", queues[i].dir,
		    strerror(errno));
		q->health = DOWN;
		if (fd != -1)
			close(fd);
		return;
	}
	q->readable = 1;
	if (oldest != -1)
		q->oldest_age = now > oldest ? now - oldest : 0;
	/* cur/ and reject/ are the consumer's alone (0700): maybe unknown. */
	if (count_dir(fd, "cur", &q->n_cur, NULL) == -1)
		q->n_cur = -1;
	if (count_dir(fd, "reject", &q->n_reject, NULL) == -1)
		q->n_reject = -1;
	read_run(fd, q);
	close(fd);
	if (q->oldest_age >= t->queue_age_down) {
		q->health = DOWN;
		snprintf(q->why, sizeof(q->why), "oldest item waits %llds "
		    "(queue_age_down %lld)", q->oldest_age, t->queue_age_down);
	} else if (q->oldest_age >= t->queue_age_warn) {
		q->health = DEGRADED;
		snprintf(q->why, sizeof(q->why), "oldest item waits %llds "
		    "(queue_age_warn %lld)", q->oldest_age, t->queue_age_warn);
	} else if (q->n_new >= t->queue_warn) {
		q->health = DEGRADED;
		snprintf(q->why, sizeof(q->why), "%lld items waiting "
		    "(queue_warn %lld)", q->n_new, t->queue_warn);
	} else if (q->n_reject >= t->reject_warn) {
		q->health = DEGRADED;
		snprintf(q->why, sizeof(q->why), "%lld items in reject/ "
		    "(reject_warn %lld)", q->n_reject, t->reject_warn);
	} else if (q->have_run && q->run_exit != 0) {
		q->health = DEGRADED;
		snprintf(q->why, sizeof(q->why), "last run exited %lld",
		    q->run_exit);
	} else if (q->have_run && now - q->run_epoch >= t->stage_age_warn) {
		q->health = DEGRADED;
		snprintf(q->why, sizeof(q->why), "last run %llds ago "
		    "(stage_age_warn %lld)", (long long)(now - q->run_epoch),
		    t->stage_age_warn);
	} else if (!q->have_run) {
		q->health = DEGRADED;
		snprintf(q->why, sizeof(q->why), "%s has not run yet",
		    queues[i].stage);
	}
}

/* ---- the database ---- */

/* db-load --check-schema, next to this program (no shell). */
static int
schema_check(const char *conffile)
{
	char self[PATH_MAX], prog[PATH_MAX + 16], *slash;
	char *argv[6];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	ssize_t n;
	int st, ac = 0;

	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) == -1)
		return -1;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return -1;
	*slash = '\0';
	snprintf(prog, sizeof(prog), "%s/db-load", self);
	argv[ac++] = prog;
	if (conffile != NULL) {
		argv[ac++] = (char *)"-c";
		argv[ac++] = (char *)conffile;
	}
	argv[ac++] = (char *)"--check-schema";
	argv[ac] = NULL;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -1;
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
	    O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null",
	    O_WRONLY, 0);
	if (posix_spawn(&pid, prog, &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	while (waitpid(pid, &st, 0) == -1)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The Galera state of the connected node, if it is one. */
static void
check_cluster(struct db *db, const struct thresholds *t, struct dbstate *s)
{
	struct db_stmt *st;
	int r;

	if ((st = db_prepare(db, "SELECT VARIABLE_NAME, VARIABLE_VALUE FROM "
	    "information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN "
	    "('WSREP_CLUSTER_SIZE', 'WSREP_CLUSTER_STATUS', "
	    "'WSREP_LOCAL_STATE_COMMENT', 'WSREP_READY') AND @@wsrep_on = 1 "
	    "UNION ALL SELECT "
	    "'CLUSTER_NAME', @@wsrep_cluster_name FROM DUAL WHERE "
	    "@@wsrep_on = 1")) == NULL || db_stmt_exec(st, NULL, 0) == -1) {
		db_stmt_free(st);
		return;		/* no wsrep: not a cluster node */
	}
	while ((r = db_stmt_fetch(st)) == 1) {
		const char *k = db_col_text(st, 0, NULL);
		const char *v = db_col_text(st, 1, NULL);

		if (k == NULL || v == NULL)
			continue;
		s->cluster = 1;
		if (strcasecmp(k, "WSREP_CLUSTER_SIZE") == 0)
			s->cluster_size = strtoll(v, NULL, 10);
		else if (strcasecmp(k, "WSREP_CLUSTER_STATUS") == 0)
			strlcpy(s->cluster_status, v, sizeof(s->cluster_status));
		else if (strcasecmp(k, "WSREP_LOCAL_STATE_COMMENT") == 0)
			strlcpy(s->node_state, v, sizeof(s->node_state));
		else if (strcasecmp(k, "WSREP_READY") == 0)
			strlcpy(s->node_ready, v, sizeof(s->node_ready));
		else if (strcasecmp(k, "CLUSTER_NAME") == 0)
			strlcpy(s->cluster_name, v, sizeof(s->cluster_name));
	}
	db_stmt_free(st);
	if (r == -1 || !s->cluster || s->cluster_status[0] == '\0')
		return;
	/* Not in the primary component, or not ready: no writes here. */
	if (strcmp(s->cluster_status, "Primary") != 0 ||
	    strcmp(s->node_ready, "ON") != 0) {
		snprintf(s->why, sizeof(s->why), "this node is %s, %s",
		    s->cluster_status, strcmp(s->node_ready, "ON") == 0 ?
		    "ready" : "not ready");
		s->health = DOWN;
	} else if (strcmp(s->node_state, "Synced") != 0) {
		snprintf(s->why, sizeof(s->why), "this node is %s",
		    s->node_state);
		worse(&s->health, DEGRADED);
	} else if (t->cluster_min_size > 0 &&
	    s->cluster_size < t->cluster_min_size) {
		snprintf(s->why, sizeof(s->why), "%lld of at least %lld nodes",
		    s->cluster_size, t->cluster_min_size);
		worse(&s->health, DEGRADED);
	}
}

/*
 * A connection with [status]'s account if it names one, else db-load's,
 * tried once (no retries): NULL with err if it cannot even be set up;
 * else the handle, *connected 0 when the server did not answer (its
 * db_error says why).
 */
static struct db *
status_db(struct db_conf *dc, int *connected, char *err, size_t errlen)
{
	struct db *db;

	if (db_conf_load(dc, cf, conf_get(cf, SECTION, "db_user") != NULL ?
	    SECTION : "db-load", err, errlen) == -1)
		return NULL;
	dc->retry_time = 0;
	if (db_library_init() == -1 || (db = db_open(dc)) == NULL) {
		snprintf(err, errlen, "cannot open the database library");
		db_conf_free(dc);
		return NULL;
	}
	*connected = db_connect(db) == 0;
	return db;
}

static void
check_db(const char *conffile, const struct thresholds *t, struct dbstate *s)
{
	struct db_conf dc;
	struct db *db;
	char v[LOG_VISBUF];
	int connected;

	memset(s, 0, sizeof(s[0]));
	s->checked = 1;
	if ((db = status_db(&dc, &connected, s->error,
	    sizeof(s->error))) == NULL) {
		s->health = DOWN;
		return;
	}
	if (!connected || db_exec(db, "SELECT 1") == -1) {
		const char *e = db_error(db);

		snprintf(s->error, sizeof(s->error), "%s",
		    log_vis(v, sizeof(v), e, strlen(e)));
		s->health = DOWN;
	} else {
		s->reachable = 1;
		snprintf(s->server, sizeof(s->server), "%s", db_server(db));
		snprintf(s->tls, sizeof(s->tls), "%s", db_tls_cipher(db));
		snprintf(s->version, sizeof(s->version), "%s",
		    db_server_version(db));
		check_cluster(db, t, s);
	}
	db_close(db);
	db_library_end();
	db_conf_free(&dc);
	if (!s->reachable)
		return;
	s->schema_rc = schema_check(conffile);
	s->schema_ok = s->schema_rc == 0;
	if (!s->schema_ok)
		worse(&s->health, s->schema_rc == EX_CONFIG ? DOWN : DEGRADED);
}

/* ---- the audit log ---- */

static void
check_audit(const char *logdir, const struct qstate *auditq,
    const struct thresholds *t, struct auditstate *s)
{
	char seg[PATH_MAX];
	struct dirent *de;
	time_t newest = 0;
	DIR *d;

	memset(s, 0, sizeof(*s));
	s->checked = 1;
	s->last_write_age = -1;
	s->waiting = auditq->readable ? auditq->n_new : -1;
	snprintf(seg, sizeof(seg), "%s/seg", logdir);
	if ((d = opendir(seg)) == NULL) {
		snprintf(s->why, sizeof(s->why), "%.100s: %s", seg,
		    strerror(errno));
		s->health = DEGRADED;
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat sb;

		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &sb,
		    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(sb.st_mode))
			continue;
		s->segments++;
		if (sb.st_mtime > newest)
			newest = sb.st_mtime;
	}
	closedir(d);
	s->have_log = s->segments > 0;
	if (!s->have_log) {
		snprintf(s->why, sizeof(s->why), "no segment yet");
		s->health = DEGRADED;
		return;
	}
	s->last_write_age = now > newest ? now - newest : 0;
	/* Events waiting and nothing sealed for long: audit-sign stalls. */
	if (s->waiting > 0 && s->last_write_age >= t->audit_age_warn) {
		s->health = DEGRADED;
		snprintf(s->why, sizeof(s->why), "%lld events waiting, last "
		    "seal %llds ago (audit_age_warn %lld)", s->waiting,
		    s->last_write_age, t->audit_age_warn);
	}
}

/* ---- tentacle-recv ---- */

/* Established TCP connections whose local port is port. */
static long long
count_conns(int port)
{
	static const char *const files[] = { "/proc/net/tcp",
	    "/proc/net/tcp6" };
	long long n = 0;

	for (size_t f = 0; f < 2; f++) {
		char line[512];
		FILE *fp = fopen(files[f], "re");

		if (fp == NULL)
			continue;
		while (fgets(line, sizeof(line), fp) != NULL) {
			char local[80], remote[80];
			unsigned int st, lport;
			char *colon;

			if (sscanf(line, "%*d: %79s %79s %x", local, remote,
			    &st) != 3 || (colon = strrchr(local, ':')) ==
			    NULL || sscanf(colon + 1, "%x", &lport) != 1)
				continue;
			if (st == 0x01 && (int)lport == port)	/* ESTABLISHED */
				n++;
		}
		fclose(fp);
	}
	return n;
}

static void
check_recv(struct recvstate *s)
{
	struct addrinfo hints, *res = NULL;
	const char *addr = str("recv_address", NULL), *port;
	char pbuf[16];
	int fd;

	memset(s, 0, sizeof(*s));
	s->checked = 1;
	if (addr == NULL) {
		/* Where tentacle-recv listens: its own first address. */
		const char *a = conf_get(cf, "tentacle-recv", "addresses");

		addr = a == NULL || strcmp(a, "0.0.0.0") == 0 ||
		    strncmp(a, "0.0.0.0,", 8) == 0 || *a == '\0' ?
		    "127.0.0.1" : a;
	}
	strlcpy(s->address, addr, sizeof(s->address));
	s->address[strcspn(s->address, ", ")] = '\0';
	if ((port = str("recv_port", NULL)) == NULL &&
	    (port = conf_get(cf, "tentacle-recv", "port")) == NULL)
		port = "41121";
	s->port = atoi(port);
	snprintf(pbuf, sizeof(pbuf), "%d", s->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(s->address, pbuf, &hints, &res) == 0 &&
	    (fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) != -1) {
		struct pollfd pfd = { fd, POLLOUT, 0 };
		int e = 0;
		socklen_t el = sizeof(e);

		if (connect(fd, res->ai_addr, res->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS && poll(&pfd, 1, 200) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) == 0 &&
		    e == 0))
			s->listening = 1;
		close(fd);
	}
	if (res != NULL)
		freeaddrinfo(res);
	s->connections = count_conns(s->port);
	/* Our own probe may still be counted: never below zero. */
	s->health = s->listening ? OK : DOWN;
}

/* ---- the nodes (octo_node) ---- */

static void
node_db_error(struct db *db, char *err, size_t errlen)
{
	char v[LOG_VISBUF];
	const char *e = db_error(db);

	snprintf(err, errlen, "%s", log_vis(v, sizeof(v), e, strlen(e)));
}

/*
 * --publish: this node's report (the JSON of --json) into octo_node, and
 * --cluster: every node's, with what each loaded in the last 5 minutes
 * (octo_loaded_file.node).  A node whose report is older than node_stale
 * seconds is down; the cluster is down when every node is, degraded when
 * any is not healthy.
 */
static void
check_nodes(const char *report, size_t rlen, int state, int publish,
    int list, struct clusterstate *c)
{
	struct db_conf dc;
	struct db *db;
	struct db_stmt *st = NULL;
	struct db_val v[4];
	char host[256];
	const char *name;
	long long stale = num("node_stale", 10, 86400, 180);
	size_t ndown = 0;
	int r, connected;

	memset(c, 0, sizeof(*c));
	c->checked = 1;
	if (gethostname(host, sizeof(host)) == -1)
		strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	name = str("server_name", host);
	if ((db = status_db(&dc, &connected, c->error,
	    sizeof(c->error))) == NULL) {
		c->health = DOWN;
		return;
	}
	if (!connected) {
		/* A report not published degrades; no view of the nodes is
		 * down. */
		node_db_error(db, c->error, sizeof(c->error));
		c->health = list ? DOWN : DEGRADED;
		goto out;
	}
	if (publish) {
		v[0] = DB_TEXT(name);
		v[1] = DB_INT(state);
		v[2] = DB_TEXT(VERSION);
		v[3] = DB_TEXTN(report, rlen);
		if ((st = db_prepare(db, "INSERT INTO octo_node (node, state, "
		    "version, report, updated_at) VALUES (?, ?, ?, ?, "
		    "UNIX_TIMESTAMP()) ON DUPLICATE KEY UPDATE state = "
		    "VALUES(state), version = VALUES(version), report = "
		    "VALUES(report), updated_at = VALUES(updated_at)")) ==
		    NULL || db_stmt_exec(st, v, 4) == -1) {
			node_db_error(db, c->error, sizeof(c->error));
			c->health = DEGRADED;
			goto out;
		}
		db_stmt_free(st);
		st = NULL;
		c->published = 1;
	}
	if (!list)
		goto out;
	if ((st = db_prepare(db, "SELECT n.node, n.state, n.version, "
	    "UNIX_TIMESTAMP() - n.updated_at, COALESCE(l.files, 0), "
	    "COALESCE(UNIX_TIMESTAMP() - l.last, -1) FROM octo_node n "
	    "LEFT JOIN (SELECT node, COUNT(*) AS files, MAX(loaded_at) AS "
	    "last FROM octo_loaded_file WHERE loaded_at >= UNIX_TIMESTAMP() "
	    "- 300 GROUP BY node) l ON l.node = n.node ORDER BY n.node")) ==
	    NULL || db_stmt_exec(st, NULL, 0) == -1) {
		node_db_error(db, c->error, sizeof(c->error));
		c->health = DOWN;
		goto out;
	}
	while ((r = db_stmt_fetch(st)) == 1 && c->nn < NODES_MAX) {
		struct nodestate *n = &c->n[c->nn++];
		const char *t;
		size_t l;

		t = db_col_text(st, 0, &l);
		log_vis(n->name, sizeof(n->name), t, l);
		t = db_col_text(st, 2, &l);
		log_vis(n->version, sizeof(n->version), t, l);
		n->state = (int)db_col_int(st, 1);
		if (n->state < OK || n->state > DOWN)
			n->state = DOWN;
		n->report_age = db_col_int(st, 3);
		n->loaded = db_col_int(st, 4);
		n->last_load_age = db_col_int(st, 5);
		n->health = n->report_age > stale ? DOWN : n->state;
		if (n->health == DOWN)
			ndown++;
		else
			worse(&c->health, n->health);
	}
	while (r == 1)
		r = db_stmt_fetch(st);
	if (r == -1) {
		node_db_error(db, c->error, sizeof(c->error));
		c->health = DOWN;
		goto out;
	}
	if (c->nn == 0) {
		snprintf(c->error, sizeof(c->error), "no node has published "
		    "a report (octospool-status --publish)");
		worse(&c->health, DEGRADED);
	} else if (ndown == c->nn)
		c->health = DOWN;
	else if (ndown > 0)
		worse(&c->health, DEGRADED);
out:
	if (st != NULL)
		db_stmt_free(st);
	db_close(db);
	db_library_end();
	db_conf_free(&dc);
}

/* ---- output ---- */

/* A JSON string, escaped as the audit events are (lib/audit). */
static void
jstr(FILE *fp, const char *s)
{
	struct audit_buf ab;

	audit_buf_init(&ab);
	audit_json_escape(&ab, s, strlen(s));
	fprintf(fp, "\"%.*s\"", (int)ab.len, ab.len ? ab.buf : "");
	audit_buf_free(&ab);
}

static void
out_nodes_text(const struct clusterstate *c)
{
	if (!c->checked)
		return;
	if (c->error[0] != '\0')
		printf("nodes: %s: %s\n", health_name(c->health), c->error);
	if (c->nn > 0)
		printf("nodes: %s, %zu node%s\n", health_name(c->health), c->nn,
		    c->nn == 1 ? "" : "s");
	for (size_t i = 0; i < c->nn; i++) {
		const struct nodestate *n = &c->n[i];
		char last[32] = "none";

		if (n->last_load_age >= 0)
			snprintf(last, sizeof(last), "%llds ago",
			    n->last_load_age);
		printf("node %s: %s%s, report %llds ago, octospool %s, "
		    "%lld files loaded in 5 min (last %s)\n", n->name,
		    health_name(n->health), n->health == DOWN &&
		    n->state != DOWN ? " (report too old)" : "",
		    n->report_age, n->version, n->loaded, last);
	}
}

static void
out_nodes_json(const struct clusterstate *c)
{
	if (!c->checked)
		return;
	printf(",\"nodes\":{\"health\":\"%s\",\"published\":%s,"
	    "\"error\":", health_name(c->health), c->published ? "true" :
	    "false");
	jstr(stdout, c->error);
	printf(",\"nodes\":[");
	for (size_t i = 0; i < c->nn; i++) {
		const struct nodestate *n = &c->n[i];

		printf("%s{\"node\":", i ? "," : "");
		jstr(stdout, n->name);
		printf(",\"health\":\"%s\",\"reported\":\"%s\","
		    "\"report_age\":%lld,\"version\":", health_name(n->health),
		    health_name(n->state), n->report_age);
		jstr(stdout, n->version);
		printf(",\"loaded_5min\":%lld,\"last_load_age\":%lld}",
		    n->loaded, n->last_load_age);
	}
	printf("]}");
}

static void
out_text(const struct qstate *q, const struct dbstate *db,
    const struct auditstate *au, const struct recvstate *rv, int h)
{
	printf("octospool: %s\n", health_name(h));
	printf("%-18s %8s %6s %7s %8s  %-24s %s\n", "queue", "new", "cur",
	    "reject", "oldest", "last run", "state");
	for (size_t i = 0; i < NQUEUES; i++) {
		char oldest[24] = "-", cur[24] = "?", rej[24] = "?";
		char run[48] = "never";

		if (q[i].oldest_age >= 0)
			snprintf(oldest, sizeof(oldest), "%llds",
			    q[i].oldest_age);
		if (q[i].n_cur >= 0)
			snprintf(cur, sizeof(cur), "%lld", q[i].n_cur);
		if (q[i].n_reject >= 0)
			snprintf(rej, sizeof(rej), "%lld", q[i].n_reject);
		if (q[i].have_run)
			snprintf(run, sizeof(run), "%s exit %lld",
			    q[i].run_time, q[i].run_exit);
		printf("%-18s %8lld %6s %7s %8s  %-24s %s%s%s\n",
		    queues[i].dir, q[i].readable ? q[i].n_new : -1, cur, rej,
		    oldest, run, health_name(q[i].health),
		    q[i].why[0] ? ": " : "", q[i].why);
	}
	if (db->checked && db->reachable)
		printf("database: %s, reachable (%s at %s), %s, schema %s\n",
		    health_name(db->health), db->version, db->server,
		    db->tls[0] ?
		    db->tls : "no TLS", db->schema_ok ? "ok" :
		    "refused by db-load --check-schema");
	else if (db->checked)
		printf("database: %s: %s\n", health_name(db->health),
		    db->error);
	if (db->checked && db->cluster)
		printf("cluster: Galera %s, %s, %lld node%s, this node %s%s%s\n",
		    db->cluster_name, db->cluster_status, db->cluster_size,
		    db->cluster_size == 1 ? "" : "s", db->node_state,
		    db->why[0] ? ": " : "", db->why);
	if (au->checked && au->have_log)
		printf("audit log: %s, %lld segments, last write %llds ago, "
		    "%lld events waiting%s%s\n", health_name(au->health),
		    au->segments, au->last_write_age, au->waiting,
		    au->why[0] ? ": " : "", au->why);
	else if (au->checked)
		printf("audit log: %s: %s\n", health_name(au->health),
		    au->why);
	if (rv->checked)
		printf("tentacle-recv: %s, %s:%d %s, %lld connections\n",
		    health_name(rv->health), rv->address, rv->port,
		    rv->listening ? "listening" : "not listening",
		    rv->connections);
}

static void
out_json(FILE *fp, const struct qstate *q, const struct dbstate *db,
    const struct auditstate *au, const struct recvstate *rv, int h)
{
	fprintf(fp, "{\"health\":\"%s\",\"time\":%lld,\"queues\":[",
	    health_name(h), (long long)now);
	for (size_t i = 0; i < NQUEUES; i++) {
		fprintf(fp, "%s{\"queue\":", i ? "," : "");
		jstr(fp, queues[i].dir);
		fprintf(fp, ",\"stage\":\"%s\",\"readable\":%s,\"new\":%lld,"
		    "\"cur\":%lld,\"reject\":%lld,\"oldest_age\":%lld,"
		    "\"health\":\"%s\",\"why\":", queues[i].stage,
		    q[i].readable ? "true" : "false", q[i].n_new, q[i].n_cur,
		    q[i].n_reject, q[i].oldest_age, health_name(q[i].health));
		jstr(fp, q[i].why);
		if (q[i].have_run)
			fprintf(fp, ",\"last_run\":{\"time\":\"%s\",\"epoch\":%lld,"
			    "\"exit\":%lld,\"seen\":%lld,\"done\":%lld,"
			    "\"rejected\":%lld,\"retried\":%lld,\"ms\":%lld}",
			    q[i].run_time, q[i].run_epoch, q[i].run_exit,
			    q[i].run_seen, q[i].run_done, q[i].run_rejected,
			    q[i].run_retried, q[i].run_ms);
		else
			fprintf(fp, ",\"last_run\":null");
		fprintf(fp, "}");
	}
	fprintf(fp, "]");
	if (db->checked) {
		fprintf(fp, ",\"database\":{\"health\":\"%s\",\"reachable\":%s,"
		    "\"tls\":", health_name(db->health),
		    db->reachable ? "true" : "false");
		jstr(fp, db->tls);
		fprintf(fp, ",\"version\":");
		jstr(fp, db->version);
		fprintf(fp, ",\"server\":");
		jstr(fp, db->server);
		fprintf(fp, ",\"schema_ok\":%s,\"error\":", db->schema_ok ? "true" :
		    "false");
		jstr(fp, db->error);
		if (db->cluster) {
			fprintf(fp, ",\"cluster\":{\"name\":");
			jstr(fp, db->cluster_name);
			fprintf(fp, ",\"status\":");
			jstr(fp, db->cluster_status);
			fprintf(fp, ",\"size\":%lld,\"node_state\":",
			    db->cluster_size);
			jstr(fp, db->node_state);
			fprintf(fp, ",\"ready\":%s,\"why\":",
			    strcmp(db->node_ready, "ON") == 0 ? "true" :
			    "false");
			jstr(fp, db->why);
			fprintf(fp, "}");
		}
		fprintf(fp, "}");
	}
	if (au->checked) {
		fprintf(fp, ",\"audit\":{\"health\":\"%s\",\"segments\":%lld,"
		    "\"last_write_age\":%lld,\"waiting\":%lld,\"why\":",
		    health_name(au->health), au->segments, au->last_write_age,
		    au->waiting);
		jstr(fp, au->why);
		fprintf(fp, "}");
	}
	if (rv->checked) {
		fprintf(fp, ",\"tentacle_recv\":{\"health\":\"%s\",\"address\":",
		    health_name(rv->health));
		jstr(fp, rv->address);
		fprintf(fp, ",\"port\":%d,\"listening\":%s,\"connections\":%lld}",
		    rv->port, rv->listening ? "true" : "false",
		    rv->connections);
	}
}

/* The node_exporter textfile: written whole, then renamed. */
/* A label value: \\, \" and \n escaped (the exposition format). */
static void
prom_label(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(fp, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", fp);
		else
			fputc(*s, fp);
	}
}

/* One gauge per node: its health (age 0) or its report's age (age 1). */
static void
prom_nodes(FILE *fp, const struct clusterstate *c, const char *name,
    const char *help, int age)
{
	fprintf(fp, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	for (size_t i = 0; i < c->nn; i++) {
		fprintf(fp, "%s{node=\"", name);
		prom_label(fp, c->n[i].name);
		fprintf(fp, "\"} %lld\n", age ? c->n[i].report_age :
		    (long long)c->n[i].health);
	}
}

static int
out_prometheus(const char *path, const struct qstate *q,
    const struct dbstate *db, const struct auditstate *au,
    const struct recvstate *rv, const struct clusterstate *c, int h)
{
	char tmp[PATH_MAX];
	FILE *fp;
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path,
	    (long)getpid()) >= sizeof(tmp))
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) == -1 || (fp = fdopen(fd, "w")) == NULL) {
		if (fd != -1) {
			close(fd);
			unlink(tmp);
		}
		return -1;
	}
	fprintf(fp, "# HELP octospool_health 0 healthy, 1 degraded, 2 down.\n"
	    "# TYPE octospool_health gauge\noctospool_health %d\n", h);
	fprintf(fp, "# HELP octospool_queue_items Items per queue "
	    "directory (-1: not readable).\n"
	    "# TYPE octospool_queue_items gauge\n");
	for (size_t i = 0; i < NQUEUES; i++) {
		fprintf(fp, "octospool_queue_items{queue=\"%s\",dir=\"new\"} "
		    "%lld\n", queues[i].dir, q[i].readable ? q[i].n_new : -1);
		fprintf(fp, "octospool_queue_items{queue=\"%s\",dir=\"cur\"} "
		    "%lld\n", queues[i].dir, q[i].n_cur);
		fprintf(fp, "octospool_queue_items{queue=\"%s\",dir=\"reject\"}"
		    " %lld\n", queues[i].dir, q[i].n_reject);
	}
	fprintf(fp, "# HELP octospool_queue_oldest_seconds Age of the "
	    "oldest waiting item (-1: none).\n"
	    "# TYPE octospool_queue_oldest_seconds gauge\n");
	for (size_t i = 0; i < NQUEUES; i++)
		fprintf(fp, "octospool_queue_oldest_seconds{queue=\"%s\"} "
		    "%lld\n", queues[i].dir, q[i].oldest_age);
	fprintf(fp, "# HELP octospool_stage_last_run_timestamp_seconds When "
	    "the stage last drained this queue.\n"
	    "# TYPE octospool_stage_last_run_timestamp_seconds gauge\n");
	for (size_t i = 0; i < NQUEUES; i++)
		if (q[i].have_run)
			fprintf(fp, "octospool_stage_last_run_timestamp_seconds"
			    "{queue=\"%s\",stage=\"%s\"} %lld\n",
			    queues[i].dir, queues[i].stage, q[i].run_epoch);
	fprintf(fp, "# HELP octospool_stage_last_run_exit Exit status of "
	    "the last run.\n# TYPE octospool_stage_last_run_exit gauge\n");
	for (size_t i = 0; i < NQUEUES; i++)
		if (q[i].have_run)
			fprintf(fp, "octospool_stage_last_run_exit{queue=\"%s\","
			    "stage=\"%s\"} %lld\n", queues[i].dir,
			    queues[i].stage, q[i].run_exit);
	if (db->checked)
		fprintf(fp, "# HELP octospool_db_up The database answers.\n"
		    "# TYPE octospool_db_up gauge\noctospool_db_up %d\n"
		    "# HELP octospool_db_schema_ok db-load accepts the "
		    "schema.\n# TYPE octospool_db_schema_ok gauge\n"
		    "octospool_db_schema_ok %d\n", db->reachable,
		    db->schema_ok);
	if (db->checked && db->cluster)
		fprintf(fp, "# HELP octospool_db_cluster_size Nodes in the "
		    "Galera cluster.\n# TYPE octospool_db_cluster_size gauge\n"
		    "octospool_db_cluster_size %lld\n"
		    "# HELP octospool_db_cluster_primary This node is in the "
		    "primary component and ready.\n"
		    "# TYPE octospool_db_cluster_primary gauge\n"
		    "octospool_db_cluster_primary %d\n", db->cluster_size,
		    strcmp(db->cluster_status, "Primary") == 0 &&
		    strcmp(db->node_ready, "ON") == 0);
	if (au->checked)
		fprintf(fp, "# HELP octospool_audit_last_write_seconds Age of "
		    "the audit log's last write.\n"
		    "# TYPE octospool_audit_last_write_seconds gauge\n"
		    "octospool_audit_last_write_seconds %lld\n",
		    au->last_write_age);
	if (rv->checked)
		fprintf(fp, "# HELP octospool_recv_up tentacle-recv accepts "
		    "connections.\n# TYPE octospool_recv_up gauge\n"
		    "octospool_recv_up %d\n"
		    "# HELP octospool_recv_connections Established "
		    "connections.\n# TYPE octospool_recv_connections gauge\n"
		    "octospool_recv_connections %lld\n", rv->listening,
		    rv->connections);
	if (c->checked && c->nn > 0) {
		prom_nodes(fp, c, "octospool_node_health", "Each node's health "
		    "(0, 1, 2; 2 when its report is older than node_stale).",
		    0);
		prom_nodes(fp, c, "octospool_node_report_age_seconds", "Age "
		    "of each node's last report.", 1);
	}
	if (fflush(fp) == EOF || ferror(fp)) {
		fclose(fp);
		unlink(tmp);
		return -1;
	}
	if (fclose(fp) == EOF || rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'j' },
		{ "prometheus", required_argument, NULL, 'P' },
		{ "no-db", no_argument, NULL, 'D' },
		{ "no-recv", no_argument, NULL, 'R' },
		{ "publish", no_argument, NULL, 'U' },
		{ "cluster", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 }
	};
	struct clusterstate cl;
	struct qstate q[NQUEUES];
	struct dbstate db;
	struct auditstate au;
	struct recvstate rv;
	struct thresholds t;
	const char *conffile = NULL, *prom = NULL, *spool;
	char err[512];
	int ch, json = 0, do_db, do_recv, no_db = 0, no_recv = 0, h = OK;
	int publish = 0, cluster = 0;

	while ((ch = getopt_long(argc, argv, "c:hV", lopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			conffile = optarg;
			break;
		case 'h':
			usage(stdout, EX_OK);
		case 'V':
			printf("octospool-status %s\n", VERSION);
			return EX_OK;
		case 'j':
			json = 1;
			break;
		case 'P':
			prom = optarg;
			break;
		case 'D':
			no_db = 1;
			break;
		case 'R':
			no_recv = 1;
			break;
		case 'U':
			publish = 1;
			break;
		case 'C':
			cluster = 1;
			break;
		default:
			usage(stderr, EX_USAGE);
		}
	}
	if (optind != argc)
		usage(stderr, EX_USAGE);
	log_init("octospool-status", LOG_DAEMON, 1);
	if (conffile == NULL && access(CONF_DEFAULT, F_OK) == 0)
		conffile = CONF_DEFAULT;
	if (conffile != NULL &&
	    (cf = conf_load(conffile, err, sizeof(err))) == NULL)
		fatalx(EX_CONFIG, "event=config.error msg=\"%s\"", err);
	if (cf == NULL && (cf = conf_parse("", 0, "(none)", err,
	    sizeof(err))) == NULL)
		fatalx(EX_CONFIG, "event=config.error msg=\"%s\"", err);
	if (conf_check(cf, SECTION, known_keys, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "event=config.error msg=\"%s\"", err);
	t.queue_warn = num("queue_warn", 1, 1LL << 40, 1000);
	t.queue_age_warn = num("queue_age_warn", 1, 1LL << 40, 300);
	t.queue_age_down = num("queue_age_down", 1, 1LL << 40, 3600);
	t.reject_warn = num("reject_warn", 1, 1LL << 40, 100);
	t.stage_age_warn = num("stage_age_warn", 1, 1LL << 40, 900);
	t.audit_age_warn = num("audit_age_warn", 1, 1LL << 40, 900);
	t.cluster_min_size = num("cluster_min_size", 0, 1024, 0);
	do_db = num("check_db", 0, 1, 1) && !no_db;
	do_recv = num("check_recv", 0, 1, 1) && !no_recv;
	spool = str("spool_dir", DEFAULT_SPOOL);
	now = time(NULL);

	for (size_t i = 0; i < NQUEUES; i++) {
		check_queue(spool, i, &t, &q[i]);
		worse(&h, q[i].health);
	}
	memset(&db, 0, sizeof(db));
	if (do_db) {
		check_db(conffile, &t, &db);
		worse(&h, db.health);
	}
	check_audit(str("audit_log_dir", conf_get(cf, "audit-sign",
	    "log_dir") ? conf_get(cf, "audit-sign", "log_dir") :
	    DEFAULT_AUDIT_LOG), &q[3], &t, &au);
	worse(&h, au.health);
	memset(&rv, 0, sizeof(rv));
	if (do_recv) {
		check_recv(&rv);
		worse(&h, rv.health);
	}
	memset(&cl, 0, sizeof(cl));
	if (publish || cluster) {
		char *report = NULL;
		size_t rlen = 0;
		FILE *mf;

		/* This node's report: what --json prints, without nodes. */
		if ((mf = open_memstream(&report, &rlen)) == NULL)
			fatal(EX_OSERR, "event=report.memstream");
		out_json(mf, q, &db, &au, &rv, h);
		fputc('}', mf);
		if (fclose(mf) == EOF)
			fatal(EX_OSERR, "event=report.memstream");
		check_nodes(report, rlen, h, publish, cluster, &cl);
		free(report);
		worse(&h, cl.health);
	}
	if (json) {
		out_json(stdout, q, &db, &au, &rv, h);
		out_nodes_json(&cl);
		printf("}\n");
	} else {
		out_text(q, &db, &au, &rv, h);
		out_nodes_text(&cl);
	}
	if (prom != NULL && out_prometheus(prom, q, &db, &au, &rv, &cl,
	    h) == -1)
		fatal(EX_CANTCREAT, "event=prometheus.write path=%s", prom);
	conf_free(cf);
	if (fflush(stdout) == EOF)
		return EX_IOERR;
	return h;
}
