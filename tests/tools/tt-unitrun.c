/* SPDX-License-Identifier: ISC */
/*
 * tt-unitrun: start a command the way systemd starts a .service unit, as
 * far as identity and file-system view go, so that deployment tests can
 * run each stage "as its unit declares" on a host where systemd is not
 * PID 1.  The model is systemd 252 (Debian 12): exec_child() in
 * src/core/execute.c, setup_namespace() in src/core/namespace.c and
 * get_user_creds() in src/basic/user-util.c.
 *
 *	tt-unitrun [-nv] [-E VAR=VALUE]... [-x] UNITFILE [-- ARG...]
 *
 * Only [Service] is read, and of it only the keys in unit_assign(); all
 * else (seccomp, capabilities, PrivateDevices=, ProtectProc=, drop-ins,
 * ...) is ignored.  Without -x the first ExecStart= runs with ARG...
 * appended; with -x ARG... runs instead, with the unit's identity and
 * sandbox.  -E adds environment after Environment=.  -n checks the unit,
 * prints the effective settings and runs nothing; -v logs each step and
 * also prints the warnings systemd would log for ignored assignments.
 *
 * The child does what systemd's does, in systemd's order: setsid, signal
 * dispositions reset (SIGPIPE ignored unless IgnoreSIGPIPE=no), umask and
 * resource limits; PrivateNetwork=; the mount namespace (one table, sorted
 * and pruned as systemd prunes it, bind mounts first, then read-only flags
 * that are only ever turned on); setgroups and setresgid; PrivateUsers=
 * (the parent, still root outside, writes "deny" to setgroups and then the
 * gid and uid maps, as systemd's helper process does; the groups already
 * set are kept); executable lookup; setresuid; chdir; NoNewPrivileges=;
 * execve.  Known differences from systemd: PrivateTmp= mounts a fresh
 * tmpfs rather than /tmp/systemd-private-*; stdin, stdout and stderr are
 * inherited (systemd gives /dev/null and the journal); only the first
 * ExecStart= runs; specifiers other than %% and $VAR expansion are refused
 * (exit 78) rather than expanded; no INVOCATION_ID, JOURNAL_STREAM or
 * other manager variables; no DefaultLimit*= from system.conf; making a
 * regular file inaccessible needs open_tree() on a detached mount (Linux
 * 6.15 or later).
 *
 * Exit: the child's status, or 128+N if it died of signal N; 64 usage;
 * 77 not root; 78 a unit-file problem (unknown user or group, no
 * ExecStart= without -x, a missing path without a "-" prefix, an
 * unsupported specifier or $VAR); 71 a setup failure, with the failing
 * system call named on stderr.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <net/if.h>

#include <ctype.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#define UR_DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define UR_NOBODY	65534

enum { PS_NO, PS_YES, PS_FULL, PS_STRICT };
enum { PH_NO, PH_YES, PH_RO, PH_TMPFS };
enum { LIM_NOFILE, LIM_CORE, LIM_MAX };

/* Mount table modes, in systemd's order of priority for one path. */
enum {
	M_INACCESSIBLE,
	M_PRIVATE_TMP,
	M_READONLY,
	M_READWRITE,
	M_TMPFS,
	M_RW_IMPLICIT
};

static const char *const ps_name[] = { "no", "yes", "full", "strict" };
static const char *const ph_name[] = { "no", "yes", "read-only", "tmpfs" };
static const char *const mode_name[] = { "inaccessible", "private-tmp",
    "read-only", "read-write", "tmpfs", "rw-implicit" };

/* A growable NULL-terminated array of owned strings. */
struct ur_strv {
	char		**v;
	size_t		  n;
	size_t		  cap;
};

/* The [Service] settings this tool honours, as assigned in the file. */
struct ur_unit {
	const char	 *file;
	int		  warn;
	char		 *exec;
	int		  exec_line;
	int		  exec_extra;
	char		 *user;
	char		 *group;
	struct ur_strv	  supp;
	mode_t		  umask;
	int		  private_users;
	int		  private_tmp;
	int		  private_network;
	int		  nnp;
	int		  ignore_sigpipe;
	int		  protect_system;
	int		  protect_home;
	struct ur_strv	  rw;		/* "/p" or "-/p" */
	struct ur_strv	  ro;
	struct ur_strv	  inacc;
	struct ur_strv	  env;
	char		 *workdir;
	int		  lim_set[LIM_MAX];
	struct rlimit	  lim[LIM_MAX];
};

/* One entry of the mount table. */
struct ur_mnt {
	char		 *path;
	int		  mode;
	int		  ignore;	/* the path may be missing */
	int		  ro;		/* read-only beyond what mode says */
	mode_t		  tmode;	/* root mode of a tmpfs */
	int		  skipped;	/* missing when applied */
};

/* The mount table. */
struct ur_mnts {
	struct ur_mnt	 *v;
	size_t		  n;
	size_t		  cap;
};

/* Everything the child needs, worked out by the parent before fork. */
struct ur_run {
	char		**argv;
	const char	 *path;		/* absolute, or a name */
	int		  search_env;	/* look it up in env's PATH */
	struct ur_strv	  env;
	int		  sandbox;	/* not "+" */
	int		  set_ids;	/* neither "+" nor "!" */
	char		 *user;		/* NULL: User= unset */
	uid_t		  uid;
	char		 *home;		/* NULL: no $HOME */
	char		 *shell;	/* NULL: no $SHELL */
	char		 *group;
	gid_t		  gid;
	gid_t		 *groups;
	int		  ngroups;
	mode_t		  umask;
	int		  ignore_sigpipe;
	int		  lim_set[LIM_MAX];
	struct rlimit	  lim[LIM_MAX];
	const char	 *workdir;	/* NULL: "/" */
	int		  workdir_ok;	/* "-": chdir may fail */
	int		  private_users;
	int		  private_network;
	int		  nnp;
	int		  need_ns;
	struct ur_mnts	  mnts;
	int		  c2p[2];	/* PrivateUsers= handshake */
	int		  p2c[2];
};

static int verbose;
static volatile sig_atomic_t child_pid;
static int inacc_tree = -1;
/* Static, so that LeakSanitizer sees them as reachable at exit. */
static struct ur_unit unit;
static struct ur_run run;
static struct ur_strv extra_env;

/* Print the synopsis and exit. */
static void __attribute__((noreturn))
usage(FILE *fp, int ex)
{
	fprintf(fp, "usage: %s [-nv] [-E VAR=VALUE]... [-x] UNITFILE "
	    "[-- ARG...]\n", getprogname());
	exit(ex);
}

/* Allocate n objects of size sz or exit 71. */
static void *
u_alloc(size_t n, size_t sz)
{
	void *p;

	if ((p = calloc(n == 0 ? 1 : n, sz == 0 ? 1 : sz)) == NULL)
		err(EX_OSERR, "calloc");
	return p;
}

/* Resize p to n objects of size sz or exit 71. */
static void *
u_realloc(void *p, size_t n, size_t sz)
{
	if ((p = reallocarray(p, n, sz)) == NULL)
		err(EX_OSERR, "reallocarray");
	return p;
}

/* Copy s or exit 71. */
static char *
u_strdup(const char *s)
{
	char *p;

	if ((p = strdup(s)) == NULL)
		err(EX_OSERR, "strdup");
	return p;
}

/* Format into a new string or exit 71. */
static char * __attribute__((format(printf, 1, 2)))
u_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (rc == -1)
		err(EX_OSERR, "vasprintf");
	return s;
}

/* Log one setup step to stderr when -v is given. */
static void __attribute__((format(printf, 1, 2)))
vlog(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	fprintf(stderr, "%s: ", getprogname());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Report a failed system call in the child and exit 71. */
static void __attribute__((noreturn, format(printf, 1, 2)))
child_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	_exit(EX_OSERR);
}

/* Report a setup failure without errno in the child and exit 71. */
static void __attribute__((noreturn, format(printf, 1, 2)))
child_failx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx(fmt, ap);
	va_end(ap);
	_exit(EX_OSERR);
}

/* Append s, which the array then owns, keeping the array NULL-terminated. */
static void
strv_add(struct ur_strv *sv, char *s)
{
	if (sv->n + 2 > sv->cap) {
		sv->cap = sv->cap == 0 ? 8 : sv->cap * 2;
		sv->v = u_realloc(sv->v, sv->cap, sizeof(*sv->v));
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

/* Empty the array, as an empty list assignment does. */
static void
strv_reset(struct ur_strv *sv)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	sv->n = 0;
	if (sv->v != NULL)
		sv->v[0] = NULL;
}

/* Set NAME=VALUE in env, replacing an earlier value of NAME. */
static void
env_put(struct ur_strv *env, const char *assign)
{
	size_t i, len = strcspn(assign, "=");

	for (i = 0; i < env->n; i++) {
		if (strncmp(env->v[i], assign, len) == 0 &&
		    env->v[i][len] == '=') {
			free(env->v[i]);
			env->v[i] = u_strdup(assign);
			return;
		}
	}
	strv_add(env, u_strdup(assign));
}

/* Look NAME up in env; NULL if it is not set. */
static const char *
env_get(const struct ur_strv *env, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < env->n; i++)
		if (strncmp(env->v[i], name, len) == 0 &&
		    env->v[i][len] == '=')
			return env->v[i] + len + 1;
	return NULL;
}

/* Tell whether s is NAME=VALUE with a name systemd accepts. */
static int
env_valid(const char *s)
{
	const char *p;

	if (*s == '\0' || *s == '=' || isdigit((unsigned char)*s))
		return 0;
	for (p = s; *p != '=' && *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return 0;
	return *p == '=';
}

/* Strip systemd's whitespace from both ends of s, in place. */
static char *
str_strip(char *s)
{
	size_t len;

	s += strspn(s, " \t\n\r");
	len = strlen(s);
	while (len > 0 && strchr(" \t\n\r", s[len - 1]) != NULL)
		s[--len] = '\0';
	return s;
}

/* Parse a systemd boolean; -1 if s is none. */
static int
parse_bool(const char *s)
{
	static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
	static const char *const no[] = { "0", "no", "n", "false", "f", "off" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	return -1;
}

/* Parse one limit value: a number (with K..E for bytes) or "infinity". */
static int
parse_rlim_one(const char *s, int bytes, rlim_t *out)
{
	static const char suffix[] = "KMGTPE";
	const char *p;
	rlim_t v = 0, mul = 1;
	size_t i;

	if (strcmp(s, "infinity") == 0) {
		*out = RLIM_INFINITY;
		return 0;
	}
	if (!isdigit((unsigned char)*s))
		return -1;
	for (p = s; isdigit((unsigned char)*p); p++) {
		if (v > (RLIM_INFINITY - 1 - (rlim_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (rlim_t)(*p - '0');
	}
	if (*p != '\0') {
		if (!bytes || p[1] != '\0' || strchr(suffix, *p) == NULL)
			return -1;
		for (i = 0; i <= (size_t)(strchr(suffix, *p) - suffix); i++)
			mul *= 1024;
		if (v != 0 && v > (RLIM_INFINITY - 1) / mul)
			return -1;
		v *= mul;
	}
	*out = v;
	return 0;
}

/*
 * Parse Limit*=: one value for both limits, or SOFT:HARD; rl is left alone on
 * error.
 */
static int
parse_rlimit(const char *s, int bytes, struct rlimit *rl)
{
	struct rlimit v;
	char *soft, *hard;
	int rc = -1;

	soft = u_strdup(s);
	if ((hard = strchr(soft, ':')) != NULL)
		*hard++ = '\0';
	if (parse_rlim_one(soft, bytes, &v.rlim_cur) == 0) {
		if (hard == NULL) {
			v.rlim_max = v.rlim_cur;
			rc = 0;
		} else if (parse_rlim_one(hard, bytes, &v.rlim_max) == 0 &&
		    v.rlim_cur <= v.rlim_max)
			rc = 0;
	}
	free(soft);
	if (rc == 0)
		*rl = v;
	return rc;
}

/* Value of one hex digit. */
static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	return tolower(c) - 'a' + 10;
}

/*
 * Decode the C escape whose backslash is at **pp, leaving *pp on its last
 * character; -1 if systemd would refuse it.
 */
static int
word_unescape(const char **pp)
{
	const char *p = *pp + 1;
	int c;

	switch (*p) {
	case 'a':
		c = '\a';
		break;
	case 'b':
		c = '\b';
		break;
	case 'f':
		c = '\f';
		break;
	case 'n':
		c = '\n';
		break;
	case 'r':
		c = '\r';
		break;
	case 't':
		c = '\t';
		break;
	case 'v':
		c = '\v';
		break;
	case 's':
		c = ' ';
		break;
	case '\\':
	case '"':
	case '\'':
	case ';':
		c = *p;
		break;
	case 'x':
		if (!isxdigit((unsigned char)p[1]) ||
		    !isxdigit((unsigned char)p[2]))
			return -1;
		c = hexval(p[1]) * 16 + hexval(p[2]);
		p += 2;
		break;
	default:
		if (p[0] < '0' || p[0] > '3' || p[1] < '0' || p[1] > '7' ||
		    p[2] < '0' || p[2] > '7')
			return -1;
		c = (p[0] - '0') * 64 + (p[1] - '0') * 8 + (p[2] - '0');
		p += 2;
		break;
	}
	if (c == 0)
		return -1;
	*pp = p;
	return c;
}

/*
 * Cut the next word off *pp, unquoting and unescaping as systemd's
 * extract_first_word does; 1 for a word, 0 at the end, -1 on bad syntax.
 */
static int
word_next(const char **pp, char **out)
{
	const char *p = *pp;
	char *buf, q = '\0';
	size_t n = 0;
	int c;

	p += strspn(p, " \t\n\r");
	if (*p == '\0') {
		*pp = p;
		return 0;
	}
	buf = u_alloc(strlen(p) + 1, 1);
	for (; *p != '\0'; p++) {
		if (q == '\0' && strchr(" \t\n\r", *p) != NULL)
			break;
		if (q == '\0' && (*p == '\'' || *p == '"')) {
			q = *p;
			continue;
		}
		if (q != '\0' && *p == q) {
			q = '\0';
			continue;
		}
		if (*p == '\\') {
			if ((c = word_unescape(&p)) == -1)
				goto bad;
			buf[n++] = (char)c;
			continue;
		}
		buf[n++] = *p;
	}
	if (q != '\0')
		goto bad;
	buf[n] = '\0';
	*pp = p;
	*out = buf;
	return 1;
bad:
	free(buf);
	return -1;
}

/* Resolve the only specifier supported, %%, in place; -1 on any other. */
static int
unspecify(char *s)
{
	char *r = s, *w = s;

	while (*r != '\0') {
		if (*r == '%') {
			if (r[1] != '%')
				return -1;
			r++;
		}
		*w++ = *r++;
	}
	*w = '\0';
	return 0;
}

/* Turn $$ into $ in place; -1 if a variable would be expanded. */
static int
undollar(char *s)
{
	char *r = s, *w = s;

	while (*r != '\0') {
		if (*r == '$') {
			if (r[1] != '$')
				return -1;
			r++;
		}
		*w++ = *r++;
	}
	*w = '\0';
	return 0;
}

/*
 * Normalize an absolute path as systemd's path_simplify does; NULL if it is
 * relative or has "..".
 */
static char *
path_clean(const char *in)
{
	const char *p = in;
	char *out, *o;
	size_t len;

	if (*p != '/')
		return NULL;
	out = o = u_alloc(strlen(in) + 2, 1);
	while (*p != '\0') {
		p += strspn(p, "/");
		if (*p == '\0')
			break;
		len = strcspn(p, "/");
		if (len == 1 && p[0] == '.') {
			p += len;
			continue;
		}
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			free(out);
			return NULL;
		}
		*o++ = '/';
		memcpy(o, p, len);
		o += len;
		p += len;
	}
	if (o == out)
		*o++ = '/';
	*o = '\0';
	return out;
}

/*
 * Compare two normalized paths component by component, as systemd's
 * path_compare does, so that a parent sorts right before its children.
 */
static int
path_cmp(const char *a, const char *b)
{
	size_t la, lb;
	int c;

	for (;;) {
		a += strspn(a, "/");
		b += strspn(b, "/");
		if (*a == '\0' || *b == '\0')
			return (*a != '\0') - (*b != '\0');
		la = strcspn(a, "/");
		lb = strcspn(b, "/");
		if ((c = memcmp(a, b, la < lb ? la : lb)) != 0)
			return c;
		if (la != lb)
			return la < lb ? -1 : 1;
		a += la;
		b += lb;
	}
}

/* Tell whether path is prefix or lies below it. */
static int
path_under(const char *path, const char *prefix)
{
	size_t len = strlen(prefix);

	if (strcmp(prefix, "/") == 0)
		return 1;
	return strncmp(path, prefix, len) == 0 &&
	    (path[len] == '\0' || path[len] == '/');
}

/* Print a warning for an assignment systemd would ignore, when asked to. */
static void __attribute__((format(printf, 3, 4)))
unit_warn(const struct ur_unit *u, int line, const char *fmt, ...)
{
	va_list ap;

	if (!u->warn)
		return;
	fprintf(stderr, "%s: %s:%d: ", getprogname(), u->file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Refuse the unit file and exit 78. */
static void __attribute__((noreturn, format(printf, 3, 4)))
unit_fatal(const struct ur_unit *u, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s:%d: ", getprogname(), u->file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EX_CONFIG);
}

/*
 * Assign a single-valued name (User=, Group=, WorkingDirectory=); empty unsets
 * it.
 */
static void
assign_str(struct ur_unit *u, int line, const char *key, char **dst,
    const char *val)
{
	char *v;

	free(*dst);
	*dst = NULL;
	if (*val == '\0')
		return;
	v = u_strdup(val);
	if (unspecify(v) == -1)
		unit_fatal(u, line, "%s=%s: specifiers are not supported",
		    key, val);
	*dst = v;
}

/*
 * Add the words of a list assignment; an empty one resets the list.  kind: 'g'
 * group names, 'p' paths, 'e' environment.
 */
static void
assign_list(struct ur_unit *u, int line, const char *key,
    struct ur_strv *sv, const char *val, int kind)
{
	const char *p = val, *w;
	char *word, *clean;
	int rc, ignore;

	if (*val == '\0') {
		strv_reset(sv);
		return;
	}
	while ((rc = word_next(&p, &word)) == 1) {
		if (unspecify(word) == -1)
			unit_fatal(u, line, "%s=: \"%s\": specifiers are not "
			    "supported", key, word);
		switch (kind) {
		case 'p':
			w = word;
			ignore = 0;
			if (*w == '-') {
				ignore = 1;
				w++;
			}
			if (*w == '+')
				w++;
			if ((clean = path_clean(w)) == NULL) {
				unit_warn(u, line, "%s=: \"%s\" is not a "
				    "normalized absolute path, ignoring", key,
				    word);
				free(word);
				continue;
			}
			strv_add(sv, u_printf("%s%s", ignore ? "-" : "",
			    clean));
			free(clean);
			free(word);
			break;
		case 'e':
			if (!env_valid(word)) {
				unit_warn(u, line, "%s=: invalid assignment "
				    "\"%s\", ignoring", key, word);
				free(word);
				continue;
			}
			strv_add(sv, word);
			break;
		default:
			strv_add(sv, word);
			break;
		}
	}
	if (rc == -1)
		unit_warn(u, line, "%s=: invalid syntax, ignoring the rest: %s",
		    key, val);
}

/* Assign a boolean, which systemd ignores with a warning when invalid. */
static void
assign_bool(struct ur_unit *u, int line, const char *key, int *dst,
    const char *val)
{
	int b;

	if ((b = parse_bool(val)) == -1)
		unit_warn(u, line, "%s=%s: not a boolean, ignoring", key, val);
	else
		*dst = b;
}

/* Apply one Key=Value line of [Service]; keys not honoured are ignored. */
static void
unit_assign(struct ur_unit *u, int line, const char *key, const char *val)
{
	unsigned long m;
	char *end;
	int b, lim;

	if (strcmp(key, "ExecStart") == 0) {
		if (*val == '\0') {
			free(u->exec);
			u->exec = NULL;
			u->exec_extra = 0;
		} else if (u->exec == NULL) {
			u->exec = u_strdup(val);
			u->exec_line = line;
		} else
			u->exec_extra++;
	} else if (strcmp(key, "User") == 0)
		assign_str(u, line, key, &u->user, val);
	else if (strcmp(key, "Group") == 0)
		assign_str(u, line, key, &u->group, val);
	else if (strcmp(key, "WorkingDirectory") == 0) {
		assign_str(u, line, key, &u->workdir, val);
		if (u->workdir != NULL) {
			end = u->workdir + (*u->workdir == '-');
			if (strcmp(end, "~") != 0 && *end != '/') {
				unit_warn(u, line, "%s=%s: not an absolute "
				    "path, ignoring", key, val);
				free(u->workdir);
				u->workdir = NULL;
			}
		}
	} else if (strcmp(key, "SupplementaryGroups") == 0)
		assign_list(u, line, key, &u->supp, val, 'g');
	else if (strcmp(key, "ReadWritePaths") == 0)
		assign_list(u, line, key, &u->rw, val, 'p');
	else if (strcmp(key, "ReadOnlyPaths") == 0)
		assign_list(u, line, key, &u->ro, val, 'p');
	else if (strcmp(key, "InaccessiblePaths") == 0)
		assign_list(u, line, key, &u->inacc, val, 'p');
	else if (strcmp(key, "Environment") == 0)
		assign_list(u, line, key, &u->env, val, 'e');
	else if (strcmp(key, "UMask") == 0) {
		errno = 0;
		m = strtoul(val, &end, 8);
		if (*val == '\0' || *end != '\0' || errno != 0 || m > 07777)
			unit_warn(u, line, "%s=%s: not an octal mode, ignoring",
			    key, val);
		else
			u->umask = (mode_t)m;
	} else if (strcmp(key, "PrivateUsers") == 0)
		assign_bool(u, line, key, &u->private_users, val);
	else if (strcmp(key, "PrivateTmp") == 0)
		assign_bool(u, line, key, &u->private_tmp, val);
	else if (strcmp(key, "PrivateNetwork") == 0)
		assign_bool(u, line, key, &u->private_network, val);
	else if (strcmp(key, "NoNewPrivileges") == 0)
		assign_bool(u, line, key, &u->nnp, val);
	else if (strcmp(key, "IgnoreSIGPIPE") == 0)
		assign_bool(u, line, key, &u->ignore_sigpipe, val);
	else if (strcmp(key, "ProtectSystem") == 0) {
		if ((b = parse_bool(val)) != -1)
			u->protect_system = b ? PS_YES : PS_NO;
		else if (strcmp(val, "full") == 0)
			u->protect_system = PS_FULL;
		else if (strcmp(val, "strict") == 0)
			u->protect_system = PS_STRICT;
		else
			unit_warn(u, line, "%s=%s: invalid, ignoring", key,
			    val);
	} else if (strcmp(key, "ProtectHome") == 0) {
		if ((b = parse_bool(val)) != -1)
			u->protect_home = b ? PH_YES : PH_NO;
		else if (strcmp(val, "read-only") == 0)
			u->protect_home = PH_RO;
		else if (strcmp(val, "tmpfs") == 0)
			u->protect_home = PH_TMPFS;
		else
			unit_warn(u, line, "%s=%s: invalid, ignoring", key,
			    val);
	} else if (strcmp(key, "LimitNOFILE") == 0 ||
	    strcmp(key, "LimitCORE") == 0) {
		lim = strcmp(key, "LimitCORE") == 0 ? LIM_CORE : LIM_NOFILE;
		if (parse_rlimit(val, lim == LIM_CORE, &u->lim[lim]) == -1)
			unit_warn(u, line, "%s=%s: invalid, ignoring", key,
			    val);
		else
			u->lim_set[lim] = 1;
	}
}

/* Handle one logical line: a section header or an assignment. */
static void
unit_line(struct ur_unit *u, int line, char *s, int *in_service)
{
	char *eq, *key, *val;
	size_t len;

	s = str_strip(s);
	if (*s == '\0')
		return;
	if (*s == '[') {
		len = strlen(s);
		if (s[len - 1] != ']')
			unit_fatal(u, line, "invalid section header: %s", s);
		*in_service = strcmp(s, "[Service]") == 0;
		return;
	}
	if (!*in_service)
		return;
	if ((eq = strchr(s, '=')) == NULL) {
		unit_warn(u, line, "missing '=', ignoring line");
		return;
	}
	*eq = '\0';
	key = str_strip(s);
	val = str_strip(eq + 1);
	unit_assign(u, line, key, val);
}

/*
 * Read the unit file line by line, joining continuation lines and skipping
 * comments as systemd's config parser does.
 */
static void
unit_load(struct ur_unit *u)
{
	FILE *fp;
	char *buf = NULL, *cont = NULL, *p, *s;
	size_t cap = 0;
	ssize_t len;
	int line = 0, cont_line = 0, in_service = 0, esc;

	if ((fp = fopen(u->file, "re")) == NULL) {
		warn("%s", u->file);
		exit(EX_CONFIG);
	}
	while ((len = getline(&buf, &cap, fp)) != -1) {
		line++;
		if (memchr(buf, '\0', (size_t)len) != NULL)
			unit_fatal(u, line, "NUL byte in line");
		buf[strcspn(buf, "\n")] = '\0';
		p = buf + strspn(buf, " \t\n\r");
		if (*p == '#' || *p == ';')
			continue;
		if (cont != NULL) {
			s = u_printf("%s%s", cont, buf);
			free(cont);
			cont = NULL;
		} else {
			s = u_strdup(buf);
			cont_line = line;
		}
		esc = 0;
		for (p = s; *p != '\0'; p++)
			esc = esc ? 0 : *p == '\\';
		if (esc) {
			p[-1] = ' ';
			cont = s;
			continue;
		}
		unit_line(u, cont_line, s, &in_service);
		free(s);
	}
	if (ferror(fp)) {
		warn("%s", u->file);
		exit(EX_CONFIG);
	}
	if (cont != NULL) {
		unit_line(u, cont_line, cont, &in_service);
		free(cont);
	}
	free(buf);
	if (fclose(fp) == EOF)
		err(EX_OSERR, "fclose %s", u->file);
}

/* Tell whether systemd synthesizes the nobody user and group here. */
static int
nobody_synth(void)
{
	return access("/etc/systemd/dont-synthesize-nobody", F_OK) == -1;
}

/* Tell whether a login shell is one of systemd's placeholders. */
static int
shell_placeholder(const char *sh)
{
	static const char *const nologin[] = { "/bin/nologin",
	    "/sbin/nologin", "/usr/bin/nologin", "/usr/sbin/nologin",
	    "/bin/false", "/usr/bin/false", "/bin/true", "/usr/bin/true" };
	size_t i;

	if (*sh != '/')
		return 1;
	for (i = 0; i < sizeof(nologin) / sizeof(nologin[0]); i++)
		if (strcmp(sh, nologin[i]) == 0)
			return 1;
	return 0;
}

/* Parse a decimal user or group id; -1 if s is not one. */
static int
parse_id(const char *s, unsigned int *id)
{
	const char *errstr;
	long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtonum(s, 0, UINT32_MAX - 1, &errstr);
	if (errstr != NULL)
		return -1;
	*id = (unsigned int)v;
	return 0;
}

/*
 * Resolve User= as get_user_creds(USER_CREDS_CLEAN) does: root and nobody are
 * synthesized, $HOME and $SHELL are dropped when they say nothing.
 */
static void
user_lookup(const struct ur_unit *u, struct ur_run *r)
{
	struct passwd *pw;
	unsigned int id;
	const char *name = u->user;

	if (strcmp(name, "root") == 0 || strcmp(name, "0") == 0) {
		r->user = u_strdup("root");
		r->uid = 0;
		r->gid = 0;
		r->home = u_strdup("/root");
		r->shell = u_strdup("/bin/sh");
		return;
	}
	if (nobody_synth() && (strcmp(name, "nobody") == 0 ||
	    strcmp(name, "65534") == 0)) {
		r->user = u_strdup("nobody");
		r->uid = UR_NOBODY;
		r->gid = UR_NOBODY;
		return;
	}
	errno = 0;
	if (parse_id(name, &id) == 0)
		pw = getpwuid((uid_t)id);
	else
		pw = getpwnam(name);
	if (pw == NULL) {
		fprintf(stderr, "%s: %s: User=%s: %s\n", getprogname(),
		    u->file, name, errno != 0 ? strerror(errno) :
		    "no such user");
		exit(EX_CONFIG);
	}
	r->user = u_strdup(pw->pw_name);
	r->uid = pw->pw_uid;
	r->gid = pw->pw_gid;
	if (pw->pw_dir[0] == '/' && pw->pw_dir[strspn(pw->pw_dir, "/")] !=
	    '\0')
		r->home = u_strdup(pw->pw_dir);
	if (pw->pw_shell[0] != '\0' && !shell_placeholder(pw->pw_shell))
		r->shell = u_strdup(pw->pw_shell);
}

/* Resolve a group name or number as get_group_creds() does, or exit 78. */
static gid_t
group_lookup(const struct ur_unit *u, const char *key, const char *name)
{
	struct group *gr;
	unsigned int id;

	if (strcmp(name, "root") == 0 || strcmp(name, "0") == 0)
		return 0;
	if (nobody_synth() && (strcmp(name, "nogroup") == 0 ||
	    strcmp(name, "65534") == 0))
		return UR_NOBODY;
	errno = 0;
	if (parse_id(name, &id) == 0)
		gr = getgrgid((gid_t)id);
	else
		gr = getgrnam(name);
	if (gr == NULL) {
		fprintf(stderr, "%s: %s: %s=%s: %s\n", getprogname(), u->file,
		    key, name, errno != 0 ? strerror(errno) :
		    "no such group");
		exit(EX_CONFIG);
	}
	return gr->gr_gid;
}

/*
 * Work out uid, gid and the supplementary groups as exec_child() does:
 * initgroups() for User= unless the gid is 0, then SupplementaryGroups=.
 */
static void
ident_resolve(const struct ur_unit *u, struct ur_run *r)
{
	struct group *gr;
	long ngmax;
	size_t i;
	int n;

	if (u->user != NULL)
		user_lookup(u, r);
	if (u->group != NULL)
		r->gid = group_lookup(u, "Group", u->group);
	if ((gr = getgrgid(r->gid)) != NULL)
		r->group = u_strdup(gr->gr_name);
	else
		r->group = u_printf("%u", (unsigned int)r->gid);
	if (!r->set_ids)
		return;
	if ((ngmax = sysconf(_SC_NGROUPS_MAX)) <= 0 || ngmax > INT_MAX)
		ngmax = 65536;
	r->groups = u_alloc((size_t)ngmax, sizeof(*r->groups));
	if (r->user != NULL && r->gid != 0) {
		n = (int)ngmax;
		if (getgrouplist(r->user, r->gid, r->groups, &n) == -1) {
			fprintf(stderr, "%s: %s: User=%s: more than %ld "
			    "groups\n", getprogname(), u->file, r->user, ngmax);
			exit(EX_CONFIG);
		}
		r->ngroups = n;
	}
	for (i = 0; i < u->supp.n; i++) {
		if (r->ngroups >= ngmax) {
			fprintf(stderr, "%s: %s: SupplementaryGroups=: more "
			    "than %ld groups\n", getprogname(), u->file, ngmax);
			exit(EX_CONFIG);
		}
		r->groups[r->ngroups++] = group_lookup(u,
		    "SupplementaryGroups", u->supp.v[i]);
	}
}

/*
 * Split ExecStart= into the executable and argv, honouring its prefixes as
 * load-fragment.c does; ARG... is appended.
 */
static void
exec_parse(const struct ur_unit *u, struct ur_run *r, char **args,
    int nargs)
{
	struct ur_strv av = { NULL, 0, 0 };
	const char *p;
	char *path, *word = NULL;
	int at = 0, colon = 0, plus = 0, bang = 0, dash = 0, rc, i;

	if (u->exec == NULL) {
		fprintf(stderr, "%s: %s: no ExecStart=\n", getprogname(),
		    u->file);
		exit(EX_CONFIG);
	}
	if (u->exec_extra > 0)
		unit_warn(u, u->exec_line, "%d more ExecStart= ignored: only "
		    "the first runs", u->exec_extra);
	for (p = u->exec; *p != '\0' && strchr("-@:+!", *p) != NULL; p++) {
		if ((*p == '-' && dash++) || (*p == '@' && at++) ||
		    (*p == ':' && colon++) || (*p == '+' && plus++) ||
		    (*p == '!' && bang > 0 && p[-1] != '!'))
			unit_fatal(u, u->exec_line, "ExecStart=: repeated "
			    "prefix '%c'", *p);
		if (*p == '!')
			bang++;
	}
	if (bang > 2 || (plus && bang))
		unit_fatal(u, u->exec_line, "ExecStart=: conflicting prefixes");
	/* "!!" only matters on kernels without ambient capabilities. */
	r->sandbox = !plus;
	r->set_ids = !plus && bang != 1;
	if ((rc = word_next(&p, &path)) != 1)
		unit_fatal(u, u->exec_line, "ExecStart=: %s", rc == 0 ?
		    "no executable" : "invalid syntax");
	if (at && (rc = word_next(&p, &word)) != 1)
		unit_fatal(u, u->exec_line, "ExecStart=: %s", rc == 0 ?
		    "\"@\" without argv[0]" : "invalid syntax");
	strv_add(&av, at ? word : u_strdup(path));
	while ((rc = word_next(&p, &word)) == 1) {
		if (strcmp(word, ";") == 0)
			unit_fatal(u, u->exec_line, "ExecStart=: several "
			    "commands on one line are not supported");
		strv_add(&av, word);
	}
	if (rc == -1)
		unit_fatal(u, u->exec_line, "ExecStart=: invalid syntax");
	if (unspecify(path) == -1)
		unit_fatal(u, u->exec_line, "ExecStart=: specifiers are not "
		    "supported");
	for (i = 0; i < (int)av.n; i++)
		if (unspecify(av.v[i]) == -1 ||
		    (!colon && undollar(av.v[i]) == -1))
			unit_fatal(u, u->exec_line, "ExecStart=: \"%s\": "
			    "specifiers and variables are not supported "
			    "(use \":\" or $$)", av.v[i]);
	if (!colon && undollar(path) == -1)
		unit_fatal(u, u->exec_line, "ExecStart=: variables are not "
		    "supported");
	if (*path != '/' && strchr(path, '/') != NULL)
		unit_fatal(u, u->exec_line, "ExecStart=: \"%s\" is neither an "
		    "absolute path nor a file name", path);
	for (i = 0; i < nargs; i++)
		strv_add(&av, u_strdup(args[i]));
	r->path = path;
	r->argv = av.v;
}

/* Add one entry to the mount table. */
static void
mnts_add(struct ur_mnts *ms, const char *path, int mode, int ignore, int ro,
    mode_t tmode)
{
	if (ms->n == ms->cap) {
		ms->cap = ms->cap == 0 ? 16 : ms->cap * 2;
		ms->v = u_realloc(ms->v, ms->cap, sizeof(*ms->v));
	}
	ms->v[ms->n++] = (struct ur_mnt){ u_strdup(path), mode, ignore, ro,
	    tmode, 0 };
}

/*
 * Add ReadWritePaths= and friends, whose entries carry a "-" prefix when
 * optional.
 */
static void
mnts_add_list(struct ur_mnts *ms, const struct ur_strv *sv, int mode)
{
	size_t i;

	for (i = 0; i < sv->n; i++)
		mnts_add(ms, sv->v[i] + (sv->v[i][0] == '-'), mode,
		    sv->v[i][0] == '-', 0, 0);
}

/* Order entries by path, parents first, then by priority of mode. */
static int
mnt_cmp(const void *va, const void *vb)
{
	const struct ur_mnt *a = va, *b = vb;
	int c;

	if ((c = path_cmp(a->path, b->path)) != 0)
		return c;
	return (a->mode > b->mode) - (a->mode < b->mode);
}

/* Tell whether an entry ends up read-only, as mount_entry_read_only() says. */
static int
mnt_ro(const struct ur_mnt *m)
{
	return m->ro || m->mode == M_READONLY || m->mode == M_INACCESSIBLE;
}

/*
 * Build the mount table as setup_namespace() does: the tables for
 * ProtectSystem= and ProtectHome=, the path lists, PrivateTmp=, symlinks
 * resolved, then sorted, de-duplicated, and cleared of entries masked by an
 * inaccessible parent or made redundant by a parent of the same mode.
 */
static void
mnts_plan(const struct ur_unit *u, struct ur_run *r)
{
	static const char *const home[] = { "/home", "/run/user", "/root" };
	static const char *const split[] = { "/lib", "/lib64", "/bin",
	    "/sbin" };
	struct ur_mnts *ms = &r->mnts;
	struct ur_mnt *m;
	const char *clear;
	size_t i, j, k;
	char *real;

	r->need_ns = u->rw.n > 0 || (r->sandbox && (u->private_tmp ||
	    u->protect_system != PS_NO || u->protect_home != PH_NO ||
	    u->ro.n > 0 || u->inacc.n > 0));
	if (!r->need_ns)
		return;
	mnts_add_list(ms, &u->rw, M_READWRITE);
	if (r->sandbox) {
		mnts_add_list(ms, &u->ro, M_READONLY);
		mnts_add_list(ms, &u->inacc, M_INACCESSIBLE);
		if (u->private_tmp) {
			mnts_add(ms, "/tmp", M_PRIVATE_TMP, 0, 0, 01777);
			mnts_add(ms, "/var/tmp", M_PRIVATE_TMP, 0, 0, 01777);
		}
		for (i = 0; i < 3 && u->protect_home != PH_NO; i++) {
			if (u->protect_home == PH_YES)
				mnts_add(ms, home[i], M_INACCESSIBLE, 1, 0, 0);
			else if (u->protect_home == PH_RO)
				mnts_add(ms, home[i], M_READONLY, 1, 0, 0);
			else
				mnts_add(ms, home[i], M_TMPFS, 1, 1,
				    i == 2 ? 0700 : 0755);
		}
		switch (u->protect_system) {
		case PS_STRICT:
			mnts_add(ms, "/", M_READONLY, 0, 0, 0);
			mnts_add(ms, "/proc", M_RW_IMPLICIT, 0, 0, 0);
			mnts_add(ms, "/sys", M_RW_IMPLICIT, 0, 0, 0);
			mnts_add(ms, "/dev", M_RW_IMPLICIT, 0, 0, 0);
			for (i = 0; i < 3; i++)
				mnts_add(ms, home[i], M_RW_IMPLICIT, 1, 0, 0);
			break;
		case PS_FULL:
			mnts_add(ms, "/etc", M_READONLY, 0, 0, 0);
			/* FALLTHROUGH */
		case PS_YES:
			mnts_add(ms, "/usr", M_READONLY, 0, 0, 0);
			mnts_add(ms, "/boot", M_READONLY, 1, 0, 0);
			mnts_add(ms, "/efi", M_READONLY, 1, 0, 0);
			/* Debian's systemd 252 is built with split-usr. */
			for (i = 0; i < 4; i++)
				mnts_add(ms, split[i], M_READONLY, 1, 0, 0);
			break;
		}
	}
	/* Without LoadCredential= systemd hides the credentials tree. */
	mnts_add(ms, "/run/credentials", M_INACCESSIBLE, 1, 0, 0);

	for (i = j = 0; i < ms->n; i++) {
		m = &ms->v[i];
		if ((real = realpath(m->path, NULL)) == NULL) {
			if (errno == ENOENT && m->ignore) {
				vlog("mount plan: %s: missing, ignored",
				    m->path);
				free(m->path);
				continue;
			}
			if (errno == ENOENT) {
				fprintf(stderr, "%s: %s: %s (%s): %s\n",
				    getprogname(), u->file, m->path,
				    mode_name[m->mode], strerror(errno));
				exit(EX_CONFIG);
			}
			err(EX_OSERR, "realpath %s", m->path);
		}
		free(m->path);
		m->path = real;
		ms->v[j++] = *m;
	}
	ms->n = j;
	qsort(ms->v, ms->n, sizeof(*ms->v), mnt_cmp);

	/* drop_duplicates(): the first one wins, its ro is or-ed. */
	for (i = j = 0; i < ms->n; i++) {
		if (j > 0 && strcmp(ms->v[j - 1].path, ms->v[i].path) == 0) {
			ms->v[j - 1].ro |= mnt_ro(&ms->v[i]);
			free(ms->v[i].path);
			continue;
		}
		ms->v[j++] = ms->v[i];
	}
	ms->n = j;
	/* drop_inaccessible(): nothing below an inaccessible path. */
	for (i = j = 0, clear = NULL; i < ms->n; i++) {
		if (clear != NULL && path_under(ms->v[i].path, clear)) {
			vlog("mount plan: %s is masked by %s", ms->v[i].path,
			    clear);
			free(ms->v[i].path);
			continue;
		}
		clear = ms->v[i].mode == M_INACCESSIBLE ? ms->v[i].path : NULL;
		ms->v[j++] = ms->v[i];
	}
	ms->n = j;
	/* drop_nop(): the nearest kept parent has the same mode. */
	for (i = j = 0; i < ms->n; i++) {
		m = &ms->v[i];
		if (m->mode == M_READONLY || m->mode == M_READWRITE ||
		    m->mode == M_RW_IMPLICIT) {
			for (k = j; k > 0; k--)
				if (path_under(m->path, ms->v[k - 1].path))
					break;
			if (k > 0 && ms->v[k - 1].mode == m->mode) {
				vlog("mount plan: %s (%s) is redundant",
				    m->path, mode_name[m->mode]);
				free(m->path);
				continue;
			}
		}
		ms->v[j++] = *m;
	}
	ms->n = j;
	for (i = 0; i < ms->n; i++)
		vlog("mount plan: %s: %s%s", ms->v[i].path,
		    mode_name[ms->v[i].mode],
		    ms->v[i].ro && ms->v[i].mode != M_TMPFS ? ", read-only" :
		    "");
}

/*
 * Build the environment as build_environment() does, plus the test variables
 * passed through, Environment= and -E.
 */
static void
env_build(const struct ur_unit *u, struct ur_run *r, const struct ur_strv *xenv)
{
	static const char *const pass[] = { "TZ", "ASAN_OPTIONS",
	    "UBSAN_OPTIONS", "LSAN_OPTIONS", "PIPELINE_CRASH_AT" };
	char *s, **e;
	size_t i;

	env_put(&r->env, "PATH=" UR_DEFAULT_PATH);
	if (r->user != NULL) {
		if (r->home != NULL) {
			env_put(&r->env, s = u_printf("HOME=%s", r->home));
			free(s);
		}
		env_put(&r->env, s = u_printf("LOGNAME=%s", r->user));
		free(s);
		env_put(&r->env, s = u_printf("USER=%s", r->user));
		free(s);
		if (r->shell != NULL) {
			env_put(&r->env, s = u_printf("SHELL=%s", r->shell));
			free(s);
		}
	}
	for (e = environ; *e != NULL; e++) {
		for (i = 0; i < sizeof(pass) / sizeof(pass[0]); i++)
			if (strncmp(*e, pass[i], strlen(pass[i])) == 0 &&
			    (*e)[strlen(pass[i])] == '=')
				env_put(&r->env, *e);
		if (strncmp(*e, "OCTO_", 5) == 0 && env_valid(*e))
			env_put(&r->env, *e);
	}
	for (i = 0; i < u->env.n; i++)
		env_put(&r->env, u->env.v[i]);
	for (i = 0; i < xenv->n; i++)
		env_put(&r->env, xenv->v[i]);
}

/* Print the effective settings for -n, one key=value a line. */
static void
settings_print(const struct ur_unit *u, const struct ur_run *r)
{
	size_t i;
	int j;

	printf("exec=%s", r->path);
	for (j = 1; r->argv[j] != NULL; j++)
		printf(" %s", r->argv[j]);
	printf("\nuser=%s\nuid=%u\ngroup=%s\ngid=%u\ngroups=",
	    r->user != NULL ? r->user : "root", (unsigned int)r->uid,
	    r->group, (unsigned int)r->gid);
	for (j = 0; j < r->ngroups; j++)
		printf("%s%u", j > 0 ? "," : "", (unsigned int)r->groups[j]);
	printf("\numask=%04o\n", (unsigned int)r->umask);
	printf("private_users=%s\n", u->private_users ? "yes" : "no");
	printf("private_tmp=%s\n", u->private_tmp ? "yes" : "no");
	printf("private_network=%s\n", u->private_network ? "yes" : "no");
	printf("protect_system=%s\n", ps_name[u->protect_system]);
	printf("protect_home=%s\n", ph_name[u->protect_home]);
	printf("no_new_privileges=%s\n", u->nnp ? "yes" : "no");
	for (i = 0; i < u->rw.n; i++)
		printf("rw=%s\n", u->rw.v[i]);
	for (i = 0; i < u->ro.n; i++)
		printf("ro=%s\n", u->ro.v[i]);
	for (i = 0; i < u->inacc.n; i++)
		printf("inaccessible=%s\n", u->inacc.v[i]);
	if (fflush(stdout) == EOF || ferror(stdout))
		err(EX_IOERR, "stdout");
}

/*
 * Set a resource limit, or the closest one allowed, as setrlimit_closest()
 * does.
 */
static int
rlimit_closest(int res, const struct rlimit *want)
{
	struct rlimit have, fixed;

	if (setrlimit(res, want) == 0)
		return 0;
	if (errno != EPERM)
		return -1;
	if (getrlimit(res, &have) == -1)
		return -1;
	if (have.rlim_max == RLIM_INFINITY) {
		errno = EPERM;
		return -1;
	}
	fixed.rlim_cur = want->rlim_cur < have.rlim_max ? want->rlim_cur :
	    have.rlim_max;
	fixed.rlim_max = want->rlim_max < have.rlim_max ? want->rlim_max :
	    have.rlim_max;
	if (fixed.rlim_cur == have.rlim_cur && fixed.rlim_max == have.rlim_max)
		return 0;
	return setrlimit(res, &fixed);
}

/*
 * Reset every signal to its default, as systemd does for a new service, and
 * ignore SIGPIPE if IgnoreSIGPIPE= says so.
 */
static void
child_signals(int ignore_sigpipe)
{
	struct sigaction sa;
	sigset_t none;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	/* Signals reserved by the C library fail with EINVAL. */
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL);
	if (ignore_sigpipe) {
		sa.sa_handler = SIG_IGN;
		if (sigaction(SIGPIPE, &sa, NULL) == -1)
			child_fail("sigaction(SIGPIPE)");
	}
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) == -1)
		child_fail("sigprocmask");
}

/* Enter a new network namespace and bring up lo, as loopback_setup() does. */
static void
child_network(void)
{
	struct ifreq ifr;
	int fd;

	vlog("unshare(CLONE_NEWNET)");
	if (unshare(CLONE_NEWNET) == -1)
		child_fail("unshare(CLONE_NEWNET)");
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		child_fail("socket(AF_INET)");
	memset(&ifr, 0, sizeof(ifr));
	strlcpy(ifr.ifr_name, "lo", sizeof(ifr.ifr_name));
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == -1)
		child_fail("ioctl(SIOCGIFFLAGS, lo)");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	vlog("ioctl(SIOCSIFFLAGS, lo, IFF_UP)");
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) == -1)
		child_fail("ioctl(SIOCSIFFLAGS, lo)");
	if (close(fd) == -1)
		child_fail("close");
}

/*
 * Tell whether path is the root of a mount; -1 with errno if it cannot be
 * looked at.
 */
static int
mount_root(const char *path)
{
	struct statx sx;

	if (statx(AT_FDCWD, path, AT_NO_AUTOMOUNT, STATX_TYPE, &sx) == -1)
		return -1;
	if ((sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) == 0)
		return 0;	/* cannot tell: a bind mount is harmless */
	return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

/*
 * Mount an empty mode-0000 regular file over path, from one detached tmpfs, as
 * systemd's /run/systemd/inaccessible/reg is used.
 */
static void
child_inaccessible_file(const char *path)
{
	int fs, fd, tree;

	if (inacc_tree == -1) {
		if ((fs = fsopen("tmpfs", FSOPEN_CLOEXEC)) == -1)
			child_fail("fsopen(tmpfs)");
		if (fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0000",
		    0) == -1 ||
		    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == -1)
			child_fail("fsconfig(tmpfs)");
		inacc_tree = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID |
		    MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
		if (inacc_tree == -1)
			child_fail("fsmount(tmpfs)");
		if (close(fs) == -1)
			child_fail("close");
		fd = openat(inacc_tree, "reg", O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0);
		if (fd == -1)
			child_fail("openat(reg)");
		if (fchmod(fd, 0) == -1)
			child_fail("fchmod(reg)");
		if (close(fd) == -1)
			child_fail("close");
	}
	tree = open_tree(inacc_tree, "reg", OPEN_TREE_CLONE |
	    OPEN_TREE_CLOEXEC);
	if (tree == -1)
		child_fail("open_tree(reg) for %s (Linux 6.15 or later needed)",
		    path);
	if (move_mount(tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) == -1)
		child_fail("move_mount(reg, %s)", path);
	if (close(tree) == -1)
		child_fail("close");
}

/*
 * Handle a table entry whose path is gone inside the namespace (hidden by an
 * earlier mount, say PrivateTmp=): skip it if it may be missing, else refuse
 * the unit, as systemd does with 226/NAMESPACE.
 */
static void
child_missing(struct ur_mnt *m)
{
	if (m->ignore) {
		vlog("%s: missing in the namespace, ignored", m->path);
		m->skipped = 1;
		return;
	}
	warnx("%s (%s): missing in the service's namespace (hidden by "
	    "an earlier mount, such as PrivateTmp=)", m->path,
	    mode_name[m->mode]);
	_exit(EX_CONFIG);
}

/* Establish one entry of the mount table, as apply_one_mount() does. */
static void
child_mount_one(struct ur_mnt *m)
{
	struct stat st;
	char opt[32];
	int rc;

	switch (m->mode) {
	case M_INACCESSIBLE:
		if (lstat(m->path, &st) == -1) {
			if (errno == ENOENT) {
				child_missing(m);
				return;
			}
			child_fail("lstat %s", m->path);
		}
		if (S_ISLNK(st.st_mode))
			child_failx("%s: a symbolic link cannot be made "
			    "inaccessible", m->path);
		if (!S_ISDIR(st.st_mode)) {
			vlog("mount empty mode-0000 file on %s", m->path);
			child_inaccessible_file(m->path);
			return;
		}
		vlog("mount tmpfs mode=0000 on %s", m->path);
		if (mount("tmpfs", m->path, "tmpfs", MS_NOSUID | MS_NODEV |
		    MS_NOEXEC, "mode=0000") == -1)
			child_fail("mount(tmpfs, %s, mode=0000)", m->path);
		return;
	case M_PRIVATE_TMP:
	case M_TMPFS:
		snprintf(opt, sizeof(opt), "mode=%04o", (unsigned int)m->tmode);
		vlog("mount tmpfs %s on %s", opt, m->path);
		if (mount("tmpfs", m->path, "tmpfs", m->mode == M_TMPFS ?
		    MS_NODEV | MS_STRICTATIME : 0, opt) == -1) {
			if (errno == ENOENT) {
				child_missing(m);
				return;
			}
			child_fail("mount(tmpfs, %s, %s)", m->path, opt);
		}
		return;
	default:
		if ((rc = mount_root(m->path)) == -1) {
			if (errno == ENOENT) {
				child_missing(m);
				return;
			}
			child_fail("statx %s", m->path);
		}
		if (rc == 1)
			return;
		vlog("mount(%s, %s, MS_BIND|MS_REC)", m->path, m->path);
		if (mount(m->path, m->path, NULL, MS_BIND | MS_REC, NULL) == -1)
			child_fail("mount(%s, %s, MS_BIND|MS_REC)", m->path,
			    m->path);
		return;
	}
}

/*
 * Read the mount points of this namespace from /proc/self/mountinfo, unescaped
 * and without repeats.
 */
static void
child_mountinfo(struct ur_strv *mps)
{
	FILE *fp;
	char *line = NULL, *p, *w, *mp;
	size_t cap = 0, i;
	int f, dup;

	if ((fp = fopen("/proc/self/mountinfo", "re")) == NULL)
		child_fail("fopen /proc/self/mountinfo");
	while (getline(&line, &cap, fp) != -1) {
		p = line;
		for (f = 0; f < 4 && p != NULL; f++)
			if ((p = strchr(p, ' ')) != NULL)
				p++;
		if (p == NULL)
			continue;
		p[strcspn(p, " \n")] = '\0';
		mp = w = u_strdup(p);
		for (p = mp; *p != '\0'; p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' &&
			    p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
			    p[3] <= '7') {
				*w++ = (char)((p[1] - '0') * 64 +
				    (p[2] - '0') * 8 + (p[3] - '0'));
				p += 3;
			} else
				*w++ = *p;
		}
		*w = '\0';
		for (i = 0, dup = 0; i < mps->n && !dup; i++)
			dup = strcmp(mps->v[i], mp) == 0;
		if (dup)
			free(mp);
		else
			strv_add(mps, mp);
	}
	if (ferror(fp))
		child_fail("read /proc/self/mountinfo");
	free(line);
	if (fclose(fp) == EOF)
		child_fail("fclose /proc/self/mountinfo");
}

/*
 * Make one mount read-only with mount_setattr(2), never turning the flag off.
 */
static int
child_set_ro(const char *path)
{
	struct mount_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.attr_set = MOUNT_ATTR_RDONLY;
	return mount_setattr(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW |
	    AT_NO_AUTOMOUNT, &attr, sizeof(attr));
}

/*
 * Make prefix and every mount below it read-only except the subtrees of other
 * table entries, as bind_remount_recursive_with_mountinfo() does with its deny
 * list.
 */
static void
child_ro_tree(const char *prefix, const struct ur_mnts *ms,
    const struct ur_strv *mps)
{
	size_t i, k;
	int denied;

	vlog("mount_setattr(%s, MOUNT_ATTR_RDONLY) and its submounts",
	    prefix);
	if (child_set_ro(prefix) == -1)
		child_fail("mount_setattr(%s, MOUNT_ATTR_RDONLY)", prefix);
	for (i = 0; i < mps->n; i++) {
		if (strcmp(mps->v[i], prefix) == 0 ||
		    !path_under(mps->v[i], prefix))
			continue;
		for (k = 0, denied = 0; k < ms->n && !denied; k++)
			denied = strcmp(ms->v[k].path, prefix) != 0 &&
			    path_under(ms->v[k].path, prefix) &&
			    path_under(mps->v[i], ms->v[k].path);
		if (denied)
			continue;
		/* Hidden under another mount: nothing to reach there. */
		if (child_set_ro(mps->v[i]) == -1 && errno != ENOENT &&
		    errno != EINVAL && errno != ENOTDIR && errno != EACCES)
			child_fail("mount_setattr(%s, MOUNT_ATTR_RDONLY)",
			    mps->v[i]);
	}
}

/*
 * Set up the mount namespace as setup_namespace() does: rslave, every mount in
 * table order, then the read-only flags, then rshared again.
 */
static void
child_mounts(struct ur_run *r)
{
	struct ur_strv mps = { NULL, 0, 0 };
	struct ur_mnt *m;
	size_t i;

	vlog("unshare(CLONE_NEWNS)");
	if (unshare(CLONE_NEWNS) == -1)
		child_fail("unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) == -1)
		child_fail("mount(/, MS_REC|MS_SLAVE)");
	for (i = 0; i < r->mnts.n; i++)
		child_mount_one(&r->mnts.v[i]);
	child_mountinfo(&mps);
	for (i = 0; i < r->mnts.n; i++) {
		m = &r->mnts.v[i];
		if (m->skipped || !mnt_ro(m))
			continue;
		if (m->mode == M_TMPFS) {
			vlog("mount_setattr(%s, MOUNT_ATTR_RDONLY)", m->path);
			if (child_set_ro(m->path) == -1)
				child_fail("mount_setattr(%s, "
				    "MOUNT_ATTR_RDONLY)", m->path);
		} else
			child_ro_tree(m->path, &r->mnts, &mps);
	}
	strv_reset(&mps);
	free(mps.v);
	if (inacc_tree != -1 && close(inacc_tree) == -1)
		child_fail("close");
	if (mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL) == -1)
		child_fail("mount(/, MS_REC|MS_SHARED)");
}

/* Enter a new user namespace and wait until the parent has written its maps. */
static void
child_userns(struct ur_run *r)
{
	ssize_t n;
	char c;

	vlog("unshare(CLONE_NEWUSER)");
	if (unshare(CLONE_NEWUSER) == -1)
		child_fail("unshare(CLONE_NEWUSER)");
	if (write(r->c2p[1], "u", 1) != 1)
		child_fail("write to parent");
	while ((n = read(r->p2c[0], &c, 1)) == -1 && errno == EINTR)
		continue;
	if (n == -1)
		child_fail("read from parent");
	if (n != 1 || c != 'g')
		child_failx("the parent could not write the uid and gid maps");
	if (close(r->c2p[1]) == -1 || close(r->p2c[0]) == -1)
		child_fail("close");
}

/*
 * Find the executable as find_executable_full() does: a name is looked up in
 * the fixed search path, or in $PATH for -x.
 */
static const char *
child_find(const struct ur_run *r)
{
	const char *dirs, *d;
	struct stat st;
	size_t len;
	char *p;

	if (strchr(r->path, '/') != NULL)
		return r->path;
	dirs = r->search_env ? env_get(&r->env, "PATH") : UR_DEFAULT_PATH;
	for (d = dirs != NULL ? dirs : ""; *d != '\0'; d += len) {
		d += strspn(d, ":");
		if ((len = strcspn(d, ":")) == 0 || *d != '/')
			continue;
		p = u_printf("%.*s/%s", (int)len, d, r->path);
		if (access(p, X_OK) == 0 && stat(p, &st) == 0 &&
		    S_ISREG(st.st_mode))
			return p;
		free(p);
	}
	child_failx("%s: no executable found in %s", r->path,
	    dirs != NULL ? dirs : "(no PATH)");
}

/* Become the service, in exec_child()'s order, and exec it. */
static void __attribute__((noreturn))
child_run(struct ur_run *r)
{
	static const int res[LIM_MAX] = { RLIMIT_NOFILE, RLIMIT_CORE };
	const char *exe, *wd;
	int i;

	child_signals(r->ignore_sigpipe);
	if (r->private_users &&
	    (close(r->c2p[0]) == -1 || close(r->p2c[1]) == -1))
		child_fail("close");
	if (setsid() == -1)
		child_fail("setsid");
	if (chdir("/") == -1)
		child_fail("chdir /");
	umask(r->umask);
	for (i = 0; i < LIM_MAX; i++) {
		if (!r->sandbox || !r->lim_set[i])
			continue;
		vlog("setrlimit(%s)", i == LIM_CORE ? "RLIMIT_CORE" :
		    "RLIMIT_NOFILE");
		if (rlimit_closest(res[i], &r->lim[i]) == -1)
			child_fail("setrlimit(%s)", i == LIM_CORE ?
			    "RLIMIT_CORE" : "RLIMIT_NOFILE");
	}
	if (r->sandbox && r->private_network)
		child_network();
	if (r->need_ns)
		child_mounts(r);
	if (r->set_ids) {
		vlog("setgroups(%d groups), setresgid(%u)", r->ngroups,
		    (unsigned int)r->gid);
		if (setgroups((size_t)r->ngroups, r->groups) == -1)
			child_fail("setgroups");
		if (setresgid(r->gid, r->gid, r->gid) == -1)
			child_fail("setresgid(%u)", (unsigned int)r->gid);
	} else if (setgroups(0, NULL) == -1)	/* PID 1 has none */
		child_fail("setgroups");
	if (r->sandbox && r->private_users)
		child_userns(r);
	exe = child_find(r);
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == -1)
		child_fail("close_range");
	if (r->set_ids) {
		vlog("setresuid(%u)", (unsigned int)r->uid);
		if (setresuid(r->uid, r->uid, r->uid) == -1)
			child_fail("setresuid(%u)", (unsigned int)r->uid);
	}
	if (r->workdir != NULL) {
		wd = r->workdir;
		if (strcmp(wd, "~") == 0 && (wd = r->home) == NULL &&
		    !r->workdir_ok)
			child_failx("WorkingDirectory=~: the user has no home");
		vlog("chdir(%s)", wd != NULL ? wd : "~");
		if (wd != NULL && chdir(wd) == -1 && !r->workdir_ok)
			child_fail("chdir %s", wd);
	}
	if (r->sandbox && r->nnp) {
		vlog("prctl(PR_SET_NO_NEW_PRIVS)");
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
			child_fail("prctl(PR_SET_NO_NEW_PRIVS)");
	}
	vlog("execve(%s)", exe);
	execve(exe, r->argv, r->env.v);
	child_fail("execve %s", exe);
}

/* Write one /proc/PID file of the user namespace setup. */
static int
proc_write(pid_t pid, const char *file, const char *data)
{
	const char *p;
	char path[64];
	ssize_t n;
	int fd, saved;

	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, file);
	if (verbose) {
		fprintf(stderr, "%s: write %s: ", getprogname(), path);
		for (p = data; *p != '\0'; p++) {
			if (*p == '\n')
				fputs("\\n", stderr);
			else
				fputc(*p, stderr);
		}
		fputc('\n', stderr);
	}
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1) {
		warn("open %s", path);
		return -1;
	}
	n = write(fd, data, strlen(data));
	saved = errno;
	if (close(fd) == -1 || n != (ssize_t)strlen(data)) {
		if (n == -1)
			errno = saved;
		warn("write %s", path);
		return -1;
	}
	return 0;
}

/*
 * Write the maps of the child's new user namespace as systemd's helper does:
 * root and the service's ids map to themselves, all else is nobody, and
 * setgroups() is denied (the groups already set stay).
 */
static int
parent_maps(pid_t pid, const struct ur_run *r)
{
	char map[64];

	if (proc_write(pid, "setgroups", "deny\n") == -1)
		return -1;
	if (r->gid != 0)
		snprintf(map, sizeof(map), "0 0 1\n%u %u 1\n",
		    (unsigned int)r->gid, (unsigned int)r->gid);
	else
		snprintf(map, sizeof(map), "0 0 1\n");
	if (proc_write(pid, "gid_map", map) == -1)
		return -1;
	if (r->uid != 0)
		snprintf(map, sizeof(map), "0 0 1\n%u %u 1\n",
		    (unsigned int)r->uid, (unsigned int)r->uid);
	else
		snprintf(map, sizeof(map), "0 0 1\n");
	return proc_write(pid, "uid_map", map);
}

/* Pass a signal the runner gets on to the service. */
static void
parent_forward(int sig)
{
	int saved = errno;

	if (child_pid > 0)
		(void)kill((pid_t)child_pid, sig);
	errno = saved;
}

/*
 * Fork the service, do the parent's part of PrivateUsers=, forward signals and
 * return the service's exit status.
 */
static int
parent_run(struct ur_run *r)
{
	static const int fwd[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct sigaction sa;
	sigset_t set, old;
	pid_t pid;
	ssize_t n;
	size_t i;
	int status;
	char c;

	sigemptyset(&set);
	for (i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaddset(&set, fwd[i]);
	if (r->private_users && (pipe2(r->c2p, O_CLOEXEC) == -1 ||
	    pipe2(r->p2c, O_CLOEXEC) == -1))
		err(EX_OSERR, "pipe2");
	if (fflush(stdout) == EOF || fflush(stderr) == EOF)
		err(EX_IOERR, "fflush");
	if (sigprocmask(SIG_BLOCK, &set, &old) == -1)
		err(EX_OSERR, "sigprocmask");
	if ((pid = fork()) == -1)
		err(EX_OSERR, "fork");
	if (pid == 0)
		child_run(r);
	child_pid = pid;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = parent_forward;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		if (sigaction(fwd[i], &sa, NULL) == -1)
			err(EX_OSERR, "sigaction");
	/* A service gone before the handshake ends must not kill us. */
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		err(EX_OSERR, "sigaction");
	if (sigprocmask(SIG_SETMASK, &old, NULL) == -1)
		err(EX_OSERR, "sigprocmask");

	if (r->private_users) {
		if (close(r->c2p[1]) == -1 || close(r->p2c[0]) == -1)
			err(EX_OSERR, "close");
		while ((n = read(r->c2p[0], &c, 1)) == -1 && errno == EINTR)
			continue;
		if (n == 1 && c == 'u') {
			if (parent_maps(pid, r) == -1) {
				(void)kill(pid, SIGKILL);
				(void)waitpid(pid, &status, 0);
				exit(EX_OSERR);
			}
			if (write(r->p2c[1], "g", 1) != 1 && errno != EPIPE)
				warn("write to child");
		}
		if (close(r->c2p[0]) == -1 || close(r->p2c[1]) == -1)
			err(EX_OSERR, "close");
	}

	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			err(EX_OSERR, "waitpid");
	child_pid = 0;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EX_OSERR;
}

/* Parse the command line, load the unit, then print it (-n) or run it. */
int
main(int argc, char *argv[])
{
	struct ur_unit *u = &unit;
	struct ur_run *r = &run;
	char **args;
	int ch, nflag = 0, xflag = 0, nargs;

	while ((ch = getopt(argc, argv, "+E:hnvx")) != -1) {
		switch (ch) {
		case 'E':
			if (!env_valid(optarg)) {
				warnx("-E %s: not VAR=VALUE", optarg);
				usage(stderr, EX_USAGE);
			}
			strv_add(&extra_env, u_strdup(optarg));
			break;
		case 'h':
			usage(stdout, EX_OK);
		case 'n':
			nflag = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'x':
			xflag = 1;
			break;
		default:
			usage(stderr, EX_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (argc > 1 && strcmp(argv[1], "--") != 0))
		usage(stderr, EX_USAGE);
	args = argv + 2;
	nargs = argc > 1 ? argc - 2 : 0;
	if (xflag && nargs == 0) {
		warnx("-x needs a command after --");
		usage(stderr, EX_USAGE);
	}
	if (xflag && args[0][0] != '/' && strchr(args[0], '/') != NULL) {
		warnx("%s: give an absolute path or a name to look up in "
		    "PATH", args[0]);
		usage(stderr, EX_USAGE);
	}
	if (!nflag && geteuid() != 0)
		errx(EX_NOPERM, "must run as root");

	u->file = argv[0];
	u->warn = verbose || nflag;
	u->umask = 0022;
	u->ignore_sigpipe = 1;
	unit_load(u);

	r->c2p[0] = r->c2p[1] = r->p2c[0] = r->p2c[1] = -1;
	if (xflag) {
		r->sandbox = r->set_ids = 1;
		r->path = args[0];
		r->search_env = strchr(args[0], '/') == NULL;
		r->argv = args;
	} else
		exec_parse(u, r, args, nargs);
	ident_resolve(u, r);
	r->umask = u->umask;
	r->ignore_sigpipe = u->ignore_sigpipe;
	memcpy(r->lim_set, u->lim_set, sizeof(r->lim_set));
	memcpy(r->lim, u->lim, sizeof(r->lim));
	if (u->workdir != NULL) {
		r->workdir_ok = u->workdir[0] == '-';
		r->workdir = u->workdir + r->workdir_ok;
		/* acquire_home(): without User= "~" is root's home. */
		if (strcmp(r->workdir, "~") == 0 && r->user == NULL)
			r->workdir = "/root";
	}
	r->private_users = r->sandbox && u->private_users;
	r->private_network = u->private_network;
	r->nnp = u->nnp;
	mnts_plan(u, r);
	env_build(u, r, &extra_env);
	if (nflag) {
		settings_print(u, r);
		return EX_OK;
	}
	return parent_run(r);
}
