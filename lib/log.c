/* SPDX-License-Identifier: ISC */
/* Logging: one line per event, key=value, to syslog and optionally stderr. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <vis.h>

#include "log.h"

static const char *log_prog = "octospool";
static int log_fg;
static int log_syslog = 1;
static int log_verbose;
static int log_quiet;
static int log_fd = -1;
static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;

/*
 * In the foreground, lines go to stderr only (journald or a terminal
 * keeps them; sending them to syslog too would record each twice); in
 * the background to syslog, and to stderr as well if it is a terminal.
 * log_setsyslog(1) adds syslog in the foreground.
 */
void
log_init(const char *prog, int facility, int foreground)
{
	log_prog = prog;
	log_fg = foreground || isatty(STDERR_FILENO);
	log_syslog = !foreground;
	openlog(prog, LOG_PID | LOG_NDELAY, facility);
}

void
log_setsyslog(int on)
{
	log_syslog = on;
}

void
log_setverbose(int level)
{
	log_verbose = level;
}

void
log_setquiet(int quiet)
{
	log_quiet = quiet;
}

/* Append every line to path as well (tentacle_server -l compatibility). */
int
log_setfile(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOCTTY, 0640);

	if (fd == -1)
		return -1;
	if (log_fd != -1)
		close(log_fd);
	log_fd = fd;
	return 0;
}

/* Write one formatted line to every destination. */
static void
log_emit(int pri, const char *fmt, va_list ap, const char *errstr)
{
	char msg[8192], line[8300], ts[40];
	struct timespec now;
	struct tm tm;
	int n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* Never let a format argument break the one-line rule. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (log_syslog && errstr)
		syslog(pri, "%s error=\"%s\"", msg, errstr);
	else if (log_syslog)
		syslog(pri, "%s", msg);
	if (!log_fg && log_fd == -1)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %s[%d]: %s%s%s%s\n", ts,
	    now.tv_nsec / 1000000, log_prog, (int)getpid(), msg,
	    errstr ? " error=\"" : "", errstr ? errstr : "",
	    errstr ? "\"" : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	pthread_mutex_lock(&log_mtx);
	if (log_fg && (!log_quiet || pri <= LOG_WARNING))
		(void)!write(STDERR_FILENO, line, n);
	if (log_fd != -1)
		(void)!write(log_fd, line, n);
	pthread_mutex_unlock(&log_mtx);
}

void
log_say(const char *prog, const char *label, const char *why)
{
	char line[2048];
	size_t n;

	snprintf(line, sizeof(line) - 1, "%s: %s: %s", prog, label, why);
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	n = strlen(line);
	line[n] = '\n';
	(void)!write(STDERR_FILENO, line, n + 1);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (log_verbose < 1)
		return;
	va_start(ap, fmt);
	log_emit(LOG_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_WARNING, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(int ex, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, fmt, ap, strerror(saved));
	va_end(ap);
	exit(ex);
}

void
fatalx(int ex, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_CRIT, fmt, ap, NULL);
	va_end(ap);
	exit(ex);
}

/*
 * Escape untrusted bytes so that no control character, quote or newline
 * reaches a log line; input beyond LOG_VIS_MAX bytes is cut and marked.
 */
const char *
log_vis(char *dst, size_t dstlen, const void *src, size_t len)
{
	char tmp[LOG_VIS_MAX * 4 + 1];
	size_t cut = len > LOG_VIS_MAX ? LOG_VIS_MAX : len, o = 0, i = 0;

	if (dstlen == 0)
		return dst;
	/* Escape into a buffer that always fits (4 bytes per input byte). */
	if (strnvisx(tmp, sizeof(tmp), src, cut, VIS_CSTYLE | VIS_OCTAL |
	    VIS_TAB | VIS_NL | VIS_DQ | VIS_NOLOCALE) == -1)
		tmp[0] = '\0';
	/* Copy whole escapes only, so a cut never leaves half of one. */
	while (tmp[i] != '\0') {
		size_t tl = 1;

		if (tmp[i] == '\\') {
			tl = 2;
			if (tmp[i + 1] >= '0' && tmp[i + 1] <= '7' &&
			    tmp[i + 2] >= '0' && tmp[i + 2] <= '7' &&
			    tmp[i + 3] >= '0' && tmp[i + 3] <= '7')
				tl = 4;
			else if (tmp[i + 1] == '\0')
				tl = 1;
		}
		if (o + tl + 1 > dstlen) {
			cut = 0;	/* no room for "..." either */
			break;
		}
		memcpy(dst + o, tmp + i, tl);
		o += tl;
		i += tl;
	}
	dst[o] = '\0';
	if (cut < len && o + 4 <= dstlen)
		strlcat(dst, "...", dstlen);
	return dst;
}
