/* SPDX-License-Identifier: ISC */
/* Logging: one line per event, key=value, to syslog and optionally stderr. */
#ifndef OCTO_LOG_H
#define OCTO_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_VIS_MAX	200	/* untrusted text is cut to this many bytes */

void	log_init(const char *prog, int facility, int foreground);
void	log_setverbose(int level);	/* 0 info, 1 +debug */
void	log_setsyslog(int on);		/* also to syslog in the foreground */
int	log_setfile(const char *path);	/* also append lines to this file */
void	log_setquiet(int quiet);	/* stderr: warnings only */
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fatal(int ex, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));
void	fatalx(int ex, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3), noreturn));
/* One line "prog: label: why" on stderr, control bytes made '?' (filters). */
void	log_say(const char *prog, const char *label, const char *why);
/* Escape untrusted bytes (strnvis, C style, quotes escaped) into dst. */
const char *log_vis(char *dst, size_t dstlen, const void *src, size_t len);

#define LOG_VISBUF	(LOG_VIS_MAX * 4 + 8)

#endif
