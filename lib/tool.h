/* SPDX-License-Identifier: ISC */
/*
 * The skeleton every tool shares: the common options (-c -d -h -n -V -v,
 * --help, --version), the configuration file and the tool's section of
 * it (errors exit 78, "event=config.error"), the log, the privilege
 * drop, and the opening of its drain.  A tool's main.c keeps only its
 * own options, keys and work.
 */
#ifndef OCTO_TOOL_H
#define OCTO_TOOL_H

#include <getopt.h>
#include <signal.h>
#include <stdio.h>

struct conf;
struct drain;
struct drain_linger;
struct drain_opts;
struct idset;

struct tool {
	const char	*name;		/* program: -V, the log, messages */
	const char	*section;	/* its [section] of the file */
	const char	*usage;		/* the text of -h and of bad usage */
	/* Set by tool_getopt and tool_conf_load. */
	const char	*conffile;	/* -c; else CONF_DEFAULT if it exists */
	int		 check;		/* -n */
	int		 fg;		/* -d */
	int		 verbose;	/* -v, counted */
	struct conf	*conf;		/* NULL: no file */
};

/*
 * getopt_long with optstring and lopts.  Handles -c, -d, -h (usage on
 * stdout, 0), -n, -V ("name version"), -v and bad options (usage on
 * stderr, 64); returns the tool's own options, and -1 at the end.
 */
int		 tool_getopt(struct tool *, int argc, char *const argv[],
		    const char *optstring, const struct option *lopts);
/* The usage text on fp, then exit ex: -h stdout 0, bad usage stderr 64. */
void		 tool_usage(const struct tool *, FILE *fp, int ex)
		    __attribute__((noreturn));
/* log_init as the tool; -v turns on debug lines. */
void		 tool_log_init(const struct tool *, int facility,
		    int foreground);
/* Load -c, or CONF_DEFAULT when it exists (none: t->conf NULL); 78. */
struct conf	*tool_conf_load(struct tool *);
/* Refuse keys of the section that known does not list; 78. */
void		 tool_conf_check(const struct tool *,
		    const char *const *known);
/* "event=config.error [key=K ]msg=\"msg\"" and exit 78. */
void		 tool_conf_fatal(const char *key, const char *msg)
		    __attribute__((noreturn));
/* The section's key (else the top part's), or def; a bad value: 78. */
long long	 tool_num(const struct tool *, const char *key, long long min,
		    long long max, long long def);
int		 tool_bool(const struct tool *, const char *key, int def);
/* A copy of the value (an empty one counts as unset), or of def. */
char		*tool_str(const struct tool *, const char *key,
		    const char *def);
/* The value of key (NULL: none), else dir/leaf: a path under spool_dir. */
char		*tool_path(const struct tool *, const char *key,
		    const char *dir, const char *leaf);
/* idle_exit, poll_interval, batch_wait and busy_wait of the section
 * (drain_linger_conf); 78. */
void		 tool_linger_conf(const struct tool *, struct drain_linger *,
		    int batch_wait_def, int busy_wait_def);
/* A list of users (idset_parse) configured as key; 78. */
void		 tool_idset(struct idset *, const char *list, const char *key);
/* SIGTERM and SIGINT set *flag: finish what is in hand, then stop. */
void		 tool_catch_stop(volatile sig_atomic_t *flag);
/* Become user if started as root; never run as root: exit 77. */
void		 tool_drop_privileges(const char *user);
/* No core file, no ptrace by the same user: a key or a secret is in
 * memory. */
void		 tool_no_core(void);
/*
 * Open the drain of spool_dir/in into spool_dir/out (out NULL: none),
 * audit events to the audit queue (NULL: none): 78 for a path too long,
 * 74 if the queues cannot be opened.
 */
struct drain	*tool_drain_open(const char *spool_dir, const char *in,
		    const char *out, const char *audit,
		    const struct drain_opts *);

#endif
