/* SPDX-License-Identifier: ISC */
/*
 * e2e: the helpers of bench/e2e.sh (make bench-e2e), built by it into
 * bench/.build/e2e.  Not installed.
 *
 *   e2e send LIST OUTDIR RATE -- SENDER ARG...
 *	The clients.  LIST has one line per file: "worker<TAB>file<TAB>cert
 *	<TAB>key".  One process per worker (the workers are numbered from
 *	0); each runs, for each of its files in order, SENDER ARG... -e cert
 *	-k key file as a new process (one connection per file, as agents
 *	do) and waits for it.  RATE 0: every worker sends back to back;
 *	RATE R > 0: the j-th line of LIST (counting from 0) is sent at
 *	t0 + j / R (a worker that is late sends at once).  Each worker
 *	writes OUTDIR/send.W.tsv: "file<TAB>start_us<TAB>end_us<TAB>exit
 *	<TAB>cpu_us" (CLOCK_REALTIME before the spawn and after the wait;
 *	the sender's user + system CPU).  Prints one line of key=value.
 *
 *   e2e tlsraw CERT KEY CA PORTFILE
 *	A minimal Tentacle server over TLS: no disk, no parsing beyond the
 *	command line, no logs.  TLS 1.2+ with the client certificate
 *	required and verified against CA, no tickets and no session cache
 *	(as tentacle-recv).  SEND <name> SIZE <n>: "SEND OK", n bytes read
 *	and dropped, "SEND OK"; QUIT: close_notify and close.  16 threads
 *	accept on 127.0.0.1, port 0 (written to PORTFILE).  On SIGTERM it
 *	prints "connections=N files=F cpu_ms=C" and exits.
 *
 *   e2e units [-a ARG] NSFILE RUNNER UNITDIR SPOOL LOGDIR OUT MARIADB_PID
 *	LONG_UNIT STAGE...
 *	Starts LONG_UNIT (tentacle-recv) and runs the path units of the
 *	STAGEs (xml-validate agent-auth db-load audit-sign): each unit is
 *	started as "RUNNER UNITDIR/<unit>.service [-- ARG]" (tt-unitrun) in
 *	the mount namespace NSFILE whenever SPOOL/<stage>/new is not empty
 *	and the stage does not run, as DirectoryNotEmpty= does.  Standard
 *	error goes to LOGDIR/<unit>.log.  It accounts every process it
 *	started (wait4 of the runner: the runner and the service; /proc
 *	of the running ones), and traces the items through the
 *	queues into OUT/trace.tsv: "time_us<TAB>point<TAB>name", point one
 *	of recv (in xml-validate/new), xv (agent-auth/new), aa (db-load/new),
 *	db (unlinked from db-load/cur: after db-load's COMMIT), rej:<queue>.
 *	SIGUSR1: write OUT/snap.N (N from 1): per unit starts, exits,
 *	failures, CPU (finished processes plus the running ones) and peak
 *	RSS, and mariadbd's CPU and RSS.  SIGTERM: stop every unit (SIGTERM,
 *	passed on by the runner), wait, write OUT/snap.final, exit.
 *
 *   e2e cpu N -- CMD ARG...
 *	Runs CMD N times, one after the other; prints its mean CPU (user +
 *	system, with its children) and wall time per run, and the largest
 *	peak RSS.
 */
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define PROG "e2e"
#include "util.h"

extern char **environ;

#define MAX_UNITS	8
#define TLS_THREADS	16

/* CLOCK_REALTIME in microseconds: the clock both ends of a latency use. */
static int64_t
real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A struct timeval in microseconds. */
static int64_t
tv_us(struct timeval tv)
{
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* ------------------------------------------------------------------ */
/* send: the clients                                                  */

struct job {
	int	 worker;
	long	 seq;
	char	*file, *cert, *key;
};

/* Run one sender process for one file; returns its wait status. */
static int
send_one(char **argv, int argc, const struct job *j, int devnull, int errfd,
    int64_t *cpu_us)
{
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	pid_t pid;
	int st;

	argv[argc] = "-e";
	argv[argc + 1] = j->cert;
	argv[argc + 2] = "-k";
	argv[argc + 3] = j->key;
	argv[argc + 4] = j->file;
	argv[argc + 5] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, devnull, 0);
	posix_spawn_file_actions_adddup2(&fa, devnull, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	if ((errno = posix_spawn(&pid, argv[0], &fa, NULL, argv,
	    environ)) != 0)
		die("spawn %s", argv[0]);
	posix_spawn_file_actions_destroy(&fa);
	while (wait4(pid, &st, 0, &ru) == -1)
		if (errno != EINTR)
			die("wait4");
	*cpu_us = tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
	return st;
}

/* One worker: its files in order, on the schedule, logged to OUTDIR. */
static void __attribute__((noreturn))
send_worker(int w, struct job *jobs, long njobs, const char *outdir,
    double rate, double t0, char **argv, int argc)
{
	struct timespec ts;
	char path[PATH_MAX];
	FILE *out;
	int devnull, errfd, fail = 0;

	snprintf(path, sizeof(path), "%s/send.%d.tsv", outdir, w);
	if ((out = fopen(path, "w")) == NULL)
		die("%s", path);
	snprintf(path, sizeof(path), "%s/send.err", outdir);
	if ((devnull = open("/dev/null", O_RDWR)) == -1 ||
	    (errfd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644)) == -1)
		die("%s", path);
	for (long i = 0; i < njobs; i++) {
		const struct job *j = &jobs[i];
		double at = t0 + (rate > 0 ? (double)j->seq / rate : 0);
		int64_t s0, s1, cpu;
		int st;

		if (j->worker != w)
			continue;
		ts.tv_sec = (time_t)at;
		ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
		    NULL) == EINTR)
			continue;
		s0 = real_us();
		st = send_one(argv, argc, j, devnull, errfd, &cpu);
		s1 = real_us();
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fail = 1;
		fprintf(out, "%s\t%lld\t%lld\t%d\t%lld\n",
		    strrchr(j->file, '/') ? strrchr(j->file, '/') + 1 :
		    j->file, (long long)s0, (long long)s1,
		    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
		    (long long)cpu);
	}
	if (fclose(out) == EOF)
		die("write %s/send.%d.tsv", outdir, w);
	_exit(fail);
}

/* Read LIST into jobs; returns the count, sets the number of workers. */
static long
send_list(const char *list, struct job **jobsp, int *nworkers)
{
	struct job *jobs = NULL;
	size_t cap = 0;
	long n = 0;
	char *line = NULL;
	size_t lcap = 0;
	ssize_t len;
	FILE *fp;

	if ((fp = fopen(list, "r")) == NULL)
		die("%s", list);
	*nworkers = 0;
	while ((len = getline(&line, &lcap, fp)) != -1) {
		char *f[4], *p = line;
		int k;

		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		for (k = 0; k < 4 && p != NULL; k++)
			f[k] = strsep(&p, "\t");
		if (k != 4 || p != NULL)
			die("%s: line %ld: want 4 fields", list, n + 1);
		if ((size_t)n == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((jobs = realloc(jobs, cap * sizeof(*jobs))) == NULL)
				die("realloc");
		}
		jobs[n].worker = atoi(f[0]);
		if (jobs[n].worker < 0 || jobs[n].worker > 1000)
			die("%s: bad worker %s", list, f[0]);
		jobs[n].seq = n;
		if ((jobs[n].file = strdup(f[1])) == NULL ||
		    (jobs[n].cert = strdup(f[2])) == NULL ||
		    (jobs[n].key = strdup(f[3])) == NULL)
			die("strdup");
		if (jobs[n].worker + 1 > *nworkers)
			*nworkers = jobs[n].worker + 1;
		n++;
	}
	free(line);
	fclose(fp);
	*jobsp = jobs;
	return n;
}

static pid_t *send_pids;
static int send_n;

/* SIGTERM or SIGINT: stop the workers too (by PID), then exit. */
static void
send_stop(int sig)
{
	for (int w = 0; w < send_n; w++)
		if (send_pids[w] > 0)
			kill(send_pids[w], SIGTERM);
	_exit(128 + sig);
}

/* The clients: one process per worker, one sender process per file. */
static void
cmd_send(int argc, char **argv)
{
	struct job *jobs;
	struct rusage ru;
	char **sargv;
	double rate, t0, t1;
	long njobs;
	int nworkers, sargc, failed = 0;

	if (argc < 5 || strcmp(argv[3], "--") != 0)
		die("usage: send LIST OUTDIR RATE -- SENDER ARG...");
	rate = atof(argv[2]);
	njobs = send_list(argv[0], &jobs, &nworkers);
	sargc = argc - 4;
	if ((sargv = calloc((size_t)sargc + 6, sizeof(*sargv))) == NULL)
		die("calloc");
	memcpy(sargv, argv + 4, (size_t)sargc * sizeof(*sargv));
	if ((send_pids = calloc((size_t)nworkers, sizeof(*send_pids))) == NULL)
		die("calloc");
	send_n = nworkers;
	signal(SIGTERM, send_stop);
	signal(SIGINT, send_stop);
	/* A common start, a little ahead, so that every worker is ready. */
	t0 = now() + 0.2;
	for (int w = 0; w < nworkers; w++) {
		pid_t pid = fork();

		if (pid == -1)
			die("fork");
		if (pid == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			send_worker(w, jobs, njobs, argv[1], rate, t0, sargv,
			    sargc);
		}
		send_pids[w] = pid;
	}
	for (int w = 0; w < nworkers; w++) {
		int st;

		if (wait(&st) == -1)
			die("wait");
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			failed++;
	}
	t1 = now();
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("files=%ld workers=%d secs=%.3f rate=%.1f failed_workers=%d "
	    "client_cpu_ms=%.3f\n", njobs, nworkers, t1 - t0, (double)njobs /
	    (t1 - t0), failed, (double)(tv_us(ru.ru_utime) +
	    tv_us(ru.ru_stime)) / 1000.0 / (double)njobs);
	exit(failed ? 1 : 0);
}

/* ------------------------------------------------------------------ */
/* tlsraw: the raw TLS + Tentacle exchange                            */

static SSL_CTX *raw_ctx;
static int raw_lfd;
static long raw_conns, raw_files;
static pthread_mutex_t raw_mtx = PTHREAD_MUTEX_INITIALIZER;

/* Read one line (without LF) into buf; -1 on EOF, error or overlong. */
static int
raw_line(SSL *ssl, char *buf, size_t len)
{
	size_t n = 0;

	for (;;) {
		char c;

		if (SSL_read(ssl, &c, 1) != 1)
			return -1;
		if (c == '\n')
			break;
		if (n + 1 >= len)
			return -1;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return 0;
}

/* One connection: the Tentacle exchange, data dropped. */
static void
raw_session(int fd)
{
	static const char ok[] = "SEND OK\n";
	char line[1100], buf[65536], name[1025];
	long files = 0;
	SSL *ssl;

	if ((ssl = SSL_new(raw_ctx)) == NULL || !SSL_set_fd(ssl, fd) ||
	    SSL_accept(ssl) != 1)
		goto out;
	while (raw_line(ssl, line, sizeof(line)) == 0) {
		long long size, left;

		if (strcmp(line, "QUIT") == 0) {
			SSL_shutdown(ssl);
			break;
		}
		if (sscanf(line, "SEND <%1024[^>]> SIZE %lld", name,
		    &size) != 2 || size < 0 ||
		    SSL_write(ssl, ok, sizeof(ok) - 1) <= 0)
			break;
		for (left = size; left > 0; ) {
			int n = SSL_read(ssl, buf, left > (long long)sizeof(buf) ?
			    (int)sizeof(buf) : (int)left);

			if (n <= 0)
				goto out;
			left -= n;
		}
		if (SSL_write(ssl, ok, sizeof(ok) - 1) <= 0)
			break;
		files++;
	}
out:
	SSL_free(ssl);
	close(fd);
	pthread_mutex_lock(&raw_mtx);
	raw_conns++;
	raw_files += files;
	pthread_mutex_unlock(&raw_mtx);
}

/* One of the server's threads: accept and serve, forever. */
static void *
raw_thread(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(raw_lfd, NULL, NULL), one = 1;

		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		raw_session(fd);
	}
	return NULL;
}

/* The raw TLS + Tentacle server, until SIGTERM. */
static void
cmd_tlsraw(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	struct rusage ru;
	pthread_t tid;
	sigset_t set;
	FILE *fp;
	int sig, one = 1;

	if (argc != 4)
		die("usage: tlsraw CERT KEY CA PORTFILE");
	if ((raw_ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(raw_ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(raw_ctx, argv[0]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(raw_ctx, argv[1],
	    SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_file(raw_ctx, argv[2]) != 1) {
		ERR_print_errors_fp(stderr);
		die("TLS set-up");
	}
	SSL_CTX_set_options(raw_ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(raw_ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_verify_depth(raw_ctx, 5);
	SSL_CTX_set_session_cache_mode(raw_ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(raw_ctx, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((raw_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(raw_lfd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 ||
	    bind(raw_lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(raw_lfd, 128) == -1 ||
	    getsockname(raw_lfd, (struct sockaddr *)&sa, &sl) == -1)
		die("listen");
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < TLS_THREADS; i++)
		if (pthread_create(&tid, NULL, raw_thread, NULL) != 0)
			die("pthread_create");
	if ((fp = fopen(argv[3], "w")) == NULL ||
	    fprintf(fp, "%d\n", ntohs(sa.sin_port)) < 0 || fclose(fp) == EOF)
		die("%s", argv[3]);
	sigwait(&set, &sig);
	getrusage(RUSAGE_SELF, &ru);
	pthread_mutex_lock(&raw_mtx);
	printf("connections=%ld files=%ld cpu_ms=%.1f\n", raw_conns, raw_files,
	    (double)(tv_us(ru.ru_utime) + tv_us(ru.ru_stime)) / 1000.0);
	fflush(stdout);
	_exit(0);
}

/* ------------------------------------------------------------------ */
/* units: tentacle-recv, the path units, accounting and the trace     */

struct unit {
	const char	*name;
	int		 is_long;	/* tentacle-recv: started once */
	int		 wd_new;	/* inotify on <queue>/new (path unit) */
	int		 want;		/* new/ had an event while running */
	pid_t		 pid;		/* the runner, 0: not running */
	long		 starts, exits, failures;
	int64_t		 cpu_us;	/* finished: runner + service */
	long		 maxrss_kb;	/* finished: the largest */
	int		 logfd;
};

/* A traced directory: which point an event in it marks. */
struct watch {
	int		 wd;
	const char	*point;
};

static struct unit units[MAX_UNITS];
static int nunits;
static struct watch watches[16];
static int nwatches;
static const char *u_ns, *u_runner, *u_unitdir, *u_spool, *u_out, *u_arg;
static pid_t u_mariadb;
static FILE *u_trace;
static long u_overflows;

/* The unit's queue directory, SPOOL/<unit>/SUB. */
static void
unit_dir(char *buf, size_t len, const struct unit *u, const char *sub)
{
	snprintf(buf, len, "%s/%s/%s", u_spool, u->name, sub);
}

/* Does SPOOL/<unit>/new hold an entry? */
static int
unit_pending(const struct unit *u)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int any = 0;

	unit_dir(path, sizeof(path), u, "new");
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			any = 1;
			break;
		}
	closedir(d);
	return any;
}

/* Start the unit's runner in the deployment's mount namespace. */
static void
unit_start(struct unit *u)
{
	char unitfile[PATH_MAX];
	char *argv[6];
	int n = 0, nsfd;
	pid_t pid;

	snprintf(unitfile, sizeof(unitfile), "%s/%s.service", u_unitdir,
	    u->name);
	argv[n++] = (char *)u_runner;
	argv[n++] = unitfile;
	if (!u->is_long && u_arg != NULL) {
		argv[n++] = "--";
		argv[n++] = (char *)u_arg;
	}
	argv[n] = NULL;
	if ((pid = fork()) == -1)
		die("fork");
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if ((nsfd = open(u_ns, O_RDONLY | O_CLOEXEC)) == -1 ||
		    setns(nsfd, CLONE_NEWNS) == -1 || chdir("/") == -1) {
			perror("e2e: setns");
			_exit(71);
		}
		if (dup2(u->logfd, 2) == -1)
			_exit(71);
		execv(u_runner, argv);
		perror("e2e: exec");
		_exit(71);
	}
	u->pid = pid;
	u->starts++;
	u->want = 0;
}

/* utime + stime (+ cutime + cstime) of PID in microseconds, or -1. */
static int64_t
proc_cpu_us(pid_t pid, int children)
{
	char path[64], buf[2048], *p;
	unsigned long long v[4];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* Fields after the command's closing parenthesis: 14..17. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3]) != 4)
		return -1;
	return (int64_t)(v[0] + v[1] + (children ? v[2] + v[3] : 0)) *
	    1000000 / sysconf(_SC_CLK_TCK);
}

/* A value in kB from /proc/PID/status (VmHWM, VmRSS), or 0. */
static long
proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long kb = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			kb = atol(line + klen + 1);
			break;
		}
	fclose(fp);
	return kb;
}

/* The service: the runner's child (tt-unitrun forks it), or 0. */
static pid_t
unit_service(const struct unit *u)
{
	char path[64];
	long child = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)u->pid,
	    (int)u->pid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(fp, "%ld", &child) != 1)
		child = 0;
	fclose(fp);
	return (pid_t)child;
}

/* Reap every finished runner, account it, restart it if work waits. */
static void
units_reap(int restart)
{
	for (;;) {
		struct rusage ru;
		struct unit *u = NULL;
		pid_t pid;
		int st;

		if ((pid = wait4(-1, &st, WNOHANG, &ru)) <= 0)
			return;
		for (int i = 0; i < nunits; i++)
			if (units[i].pid == pid)
				u = &units[i];
		if (u == NULL)
			continue;
		u->pid = 0;
		u->exits++;
		/* Stopped by us: tt-unitrun reports the SIGTERM as 143. */
		if ((!WIFEXITED(st) || WEXITSTATUS(st) != 0) &&
		    (restart || !WIFEXITED(st) || WEXITSTATUS(st) != 143))
			u->failures++;
		u->cpu_us += tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
		if (ru.ru_maxrss > u->maxrss_kb)
			u->maxrss_kb = ru.ru_maxrss;
		/* DirectoryNotEmpty= is checked again when the unit ends. */
		u->want = 0;
		if (restart && !u->is_long && unit_pending(u))
			unit_start(u);
	}
}

/* Write OUT/snap.TAG: the accounting so far, finished and running. */
static void
units_snapshot(const char *tag)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	FILE *fp;

	if (u_trace != NULL && fflush(u_trace) == EOF)
		die("trace");
	snprintf(path, sizeof(path), "%s/snap.%s", u_out, tag);
	snprintf(tmp, sizeof(tmp), "%s/.snap.%s", u_out, tag);
	if ((fp = fopen(tmp, "w")) == NULL)
		die("%s", tmp);
	fprintf(fp, "time_us\t%lld\n", (long long)real_us());
	fprintf(fp, "overflows\t%ld\n", u_overflows);
	for (int i = 0; i < nunits; i++) {
		struct unit *u = &units[i];
		int64_t cpu = u->cpu_us, c;
		long rss = u->maxrss_kb, hwm;
		pid_t svc;

		if (u->pid > 0) {
			if ((c = proc_cpu_us(u->pid, 0)) > 0)
				cpu += c;
			if ((svc = unit_service(u)) > 0) {
				if ((c = proc_cpu_us(svc, 1)) > 0)
					cpu += c;
				if ((hwm = proc_status_kb(svc, "VmHWM")) > rss)
					rss = hwm;
			}
		}
		fprintf(fp, "unit\t%s\t%ld\t%ld\t%ld\t%lld\t%ld\t%d\n",
		    u->name, u->starts, u->exits, u->failures, (long long)cpu,
		    rss, u->pid > 0);
	}
	if (u_mariadb > 0)
		fprintf(fp, "mariadbd\t%lld\t%ld\t%ld\n",
		    (long long)proc_cpu_us(u_mariadb, 0),
		    proc_status_kb(u_mariadb, "VmRSS"),
		    proc_status_kb(u_mariadb, "VmHWM"));
	if (fclose(fp) == EOF || rename(tmp, path) == -1)
		die("%s", path);
}

/* Trace (and path-unit) watch on SPOOL/QUEUE/SUB. */
static int
watch_add(int ifd, const char *queue, const char *sub, uint32_t mask,
    const char *point)
{
	char path[PATH_MAX];
	int wd;

	snprintf(path, sizeof(path), "%s/%s/%s", u_spool, queue, sub);
	if ((wd = inotify_add_watch(ifd, path, mask)) == -1)
		die("inotify %s", path);
	if (point != NULL) {
		if (nwatches == (int)(sizeof(watches) / sizeof(watches[0])))
			die("too many watches");
		watches[nwatches].wd = wd;
		watches[nwatches].point = point;
		nwatches++;
	}
	return wd;
}

/* Handle a buffer of inotify events: trace them, note work for units. */
static void
units_events(const char *buf, ssize_t len)
{
	int64_t now = real_us();

	for (const char *p = buf; p < buf + len; ) {
		const struct inotify_event *ev = (const void *)p;

		p += sizeof(*ev) + ev->len;
		if (ev->mask & IN_Q_OVERFLOW) {
			u_overflows++;
			for (int i = 0; i < nunits; i++)
				units[i].want = 1;
			continue;
		}
		for (int i = 0; i < nunits; i++)
			if (units[i].wd_new == ev->wd)
				units[i].want = 1;
		if (ev->len == 0 || ev->name[0] == '.')
			continue;
		for (int i = 0; i < nwatches; i++)
			if (watches[i].wd == ev->wd)
				fprintf(u_trace, "%lld\t%s\t%s\n",
				    (long long)now, watches[i].point,
				    ev->name);
	}
}

/* Stop every unit (SIGTERM, then SIGKILL after 60 s) and reap them. */
static void
units_stop(void)
{
	double end = now() + 60;
	int running;

	for (int i = 0; i < nunits; i++)
		if (units[i].pid > 0)
			kill(units[i].pid, SIGTERM);
	do {
		struct timespec ts = { 0, 20 * 1000000L };

		units_reap(0);
		running = 0;
		for (int i = 0; i < nunits; i++)
			running += units[i].pid > 0;
		if (running && now() > end) {
			for (int i = 0; i < nunits; i++) {
				pid_t svc;

				if (units[i].pid <= 0)
					continue;
				if ((svc = unit_service(&units[i])) > 0)
					kill(svc, SIGKILL);
				kill(units[i].pid, SIGKILL);
			}
			end = now() + 3600;
		}
		if (running)
			nanosleep(&ts, NULL);
	} while (running);
}

/* tentacle-recv, the path units, the accounting and the trace. */
static void
cmd_units(int argc, char **argv)
{
	static const struct {
		const char *queue, *sub, *point;
		uint32_t mask;
	} traced[] = {
		{ "xml-validate", "new", "recv", IN_CREATE | IN_MOVED_TO },
		{ "agent-auth", "new", "xv", IN_CREATE | IN_MOVED_TO },
		{ "db-load", "new", "aa", IN_CREATE | IN_MOVED_TO },
		{ "db-load", "cur", "db", IN_DELETE },
		{ "xml-validate", "reject", "rej:xml-validate", IN_MOVED_TO },
		{ "agent-auth", "reject", "rej:agent-auth", IN_MOVED_TO },
		{ "db-load", "reject", "rej:db-load", IN_MOVED_TO },
	};
	char buf[65536] __attribute__((aligned(8)));
	char path[PATH_MAX];
	struct pollfd pfd[2];
	sigset_t set;
	int ifd, sfd, snaps = 0;

	if (argc >= 2 && strcmp(argv[0], "-a") == 0) {
		u_arg = argv[1];
		argc -= 2;
		argv += 2;
	}
	if (argc < 9 || argc - 7 > MAX_UNITS)
		die("usage: units [-a ARG] NSFILE RUNNER UNITDIR SPOOL LOGDIR "
		    "OUT MARIADB_PID LONG_UNIT STAGE...");
	u_ns = argv[0];
	u_runner = argv[1];
	u_unitdir = argv[2];
	u_spool = argv[3];
	u_out = argv[5];
	u_mariadb = (pid_t)atol(argv[6]);
	snprintf(path, sizeof(path), "%s/trace.tsv", u_out);
	if ((u_trace = fopen(path, "w")) == NULL)
		die("%s", path);
	setvbuf(u_trace, NULL, _IOFBF, 1 << 20);

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) == -1 ||
	    (ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK)) == -1)
		die("signalfd/inotify");
	for (size_t i = 0; i < sizeof(traced) / sizeof(traced[0]); i++)
		watch_add(ifd, traced[i].queue, traced[i].sub, traced[i].mask,
		    traced[i].point);
	for (int i = 7; i < argc; i++) {
		struct unit *u = &units[nunits++];

		u->name = argv[i];
		u->is_long = i == 7;
		snprintf(path, sizeof(path), "%s/%s.log", argv[4], u->name);
		if ((u->logfd = open(path, O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0644)) == -1)
			die("%s", path);
		/* The same inode as a traced watch: inotify returns its wd. */
		u->wd_new = u->is_long ? -1 : watch_add(ifd, u->name, "new",
		    IN_CREATE | IN_MOVED_TO, NULL);
	}
	unit_start(&units[0]);
	for (int i = 1; i < nunits; i++)
		if (unit_pending(&units[i]))
			unit_start(&units[i]);

	pfd[0].fd = ifd;
	pfd[0].events = POLLIN;
	pfd[1].fd = sfd;
	pfd[1].events = POLLIN;
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n;
		int stop = 0;

		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		while ((n = read(ifd, buf, sizeof(buf))) > 0)
			units_events(buf, n);
		/* bench/e2e.sh counts the loaded items in the trace. */
		if (fflush(u_trace) == EOF)
			die("trace");
		while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
				stop = 1;
			else if (si.ssi_signo == SIGUSR1) {
				char tag[32];

				snprintf(tag, sizeof(tag), "%d", ++snaps);
				units_snapshot(tag);
			}
		}
		units_reap(!stop);
		if (stop)
			break;
		for (int i = 1; i < nunits; i++) {
			struct unit *u = &units[i];

			if (u->pid != 0 || !u->want)
				continue;
			u->want = 0;
			if (unit_pending(u))
				unit_start(u);
		}
	}
	units_stop();
	while (read(ifd, buf, sizeof(buf)) > 0)
		continue;
	units_snapshot("final");
	if (fclose(u_trace) == EOF)
		die("trace");
	exit(0);
}

/* ------------------------------------------------------------------ */
/* cpu: what one start of a command costs                             */

/* Run a command N times; its mean CPU and wall time, its peak RSS. */
static void
cmd_cpu(int argc, char **argv)
{
	struct rusage ru;
	int64_t cpu = 0;
	double t0, wall = 0;
	long n, maxrss = 0;
	int st, fails = 0;

	if (argc < 3 || strcmp(argv[1], "--") != 0 || (n = atol(argv[0])) < 1)
		die("usage: cpu N -- CMD ARG...");
	for (long i = 0; i < n; i++) {
		pid_t pid;

		t0 = now();
		if ((pid = fork()) == -1)
			die("fork");
		if (pid == 0) {
			execvp(argv[2], argv + 2);
			perror("e2e: exec");
			_exit(127);
		}
		while (wait4(pid, &st, 0, &ru) == -1)
			if (errno != EINTR)
				die("wait4");
		wall += now() - t0;
		cpu += tv_us(ru.ru_utime) + tv_us(ru.ru_stime);
		if (ru.ru_maxrss > maxrss)
			maxrss = ru.ru_maxrss;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fails++;
	}
	printf("runs=%ld failed=%d cpu_ms=%.3f wall_ms=%.3f maxrss_kb=%ld\n",
	    n, fails, (double)cpu / 1000.0 / (double)n,
	    wall * 1000.0 / (double)n, maxrss);
	exit(fails ? 1 : 0);
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		die("usage: e2e send|tlsraw|units|cpu ...");
	if (strcmp(argv[1], "send") == 0)
		cmd_send(argc - 2, argv + 2);
	else if (strcmp(argv[1], "tlsraw") == 0)
		cmd_tlsraw(argc - 2, argv + 2);
	else if (strcmp(argv[1], "units") == 0)
		cmd_units(argc - 2, argv + 2);
	else if (strcmp(argv[1], "cpu") == 0)
		cmd_cpu(argc - 2, argv + 2);
	else
		die("unknown mode %s", argv[1]);
	return 0;
}
