/* SPDX-License-Identifier: ISC */
/*
 * The one database connection module (libmariadb): configuration from the
 * [db] section with per-tool db_* overrides, TCP only with TLS and server
 * certificate verification (unix socket without), password from a file,
 * reconnect with bounded exponential backoff, prepared statements,
 * transactions and savepoints, and the one table that says which MySQL
 * errors mean "retry later" and which mean "this data cannot be stored".
 * See doc/DATABASE.md.
 */
#ifndef OCTO_DB_H
#define OCTO_DB_H

#include <stddef.h>
#include <string.h>

struct conf;

/* What an error means for the caller; db_class_exit() maps it to sysexits. */
enum db_class {
	DB_OK = 0,
	DB_TEMP,	/* retry later: server down or gone, lock wait, deadlock */
	DB_DATA,	/* the value cannot be stored: reject the item */
	DB_DUP,		/* duplicate key: the caller decides (exactly-once) */
	DB_CONFIG,	/* settings, TLS, login, grants or schema: operator */
	DB_BUG		/* our SQL or our use of the API is wrong */
};

#define DB_PROTO_TCP	0
#define DB_PROTO_SOCKET	1

/* A parsed [db] configuration; every string is owned (db_conf_free). */
struct db_conf {
	char		*host;		/* TCP: a name or address, or a list of
					 * them, "a,b:3307,[::1]:3308": the
					 * servers tried in turn (db_host_at) */
	unsigned int	 port;		/* TCP port, default 3306 */
	char		*socket;	/* unix socket path */
	int		 protocol;	/* DB_PROTO_* */
	char		*name;		/* database, default "pandora" */
	char		*user;
	char		*password_file;	/* first line; not world-accessible */
	char		*ssl_ca;	/* required for TCP: the only trust */
	char		*ssl_cert;	/* optional client certificate */
	char		*ssl_key;
	char		*tls_version;	/* default "TLSv1.2,TLSv1.3" */
	char		*ssl_cipher;	/* TLS 1.2 list, default AEAD+(EC)DHE */
	unsigned int	 connect_timeout;	/* seconds */
	unsigned int	 read_timeout;		/* seconds */
	unsigned int	 write_timeout;		/* seconds */
	unsigned int	 lock_wait_timeout;	/* seconds, session InnoDB */
	unsigned int	 retry_time;	/* ms: total reconnect budget, 0 once */
	unsigned int	 retry_delay;	/* ms: first backoff delay */
	unsigned int	 retry_max_delay;	/* ms: backoff cap */
};

/* Keys allowed in [db]; in a tool's section the same keys with "db_". */
extern const char *const db_conf_keys[];
/* For a tool's conf_check() list: its per-tool override keys. */
#define DB_TOOL_KEYS \
	"db_host", "db_port", "db_socket", "db_protocol", "db_name", \
	"db_user", "db_password_file", "db_ssl_ca", "db_ssl_cert", \
	"db_ssl_key", "db_tls_version", "db_ssl_cipher", \
	"db_connect_timeout", \
	"db_read_timeout", "db_write_timeout", "db_lock_wait_timeout", \
	"db_retry_time", "db_retry_delay", "db_retry_max_delay"

#define DB_MAX_HOSTS	16	/* servers in one host list */
#define DB_HOST_MAX	256	/* one name or address */

/*
 * Server i (from 0) of a host list: its name in name (brackets of an
 * IPv6 address taken off) and its port (defport without ":port").
 * 0, 1 past the end, -1 malformed.
 */
int		 db_host_at(const char *list, unsigned int i, char *name,
		    size_t namelen, unsigned int *port, unsigned int defport);

/* Settings for tool: [tool] db_KEY, else [db] KEY, else the default. */
int		 db_conf_load(struct db_conf *, const struct conf *,
		    const char *tool, char *err, size_t errlen);
void		 db_conf_free(struct db_conf *);
/* Fail on unknown keys in the [db] section. */
int		 db_conf_check(const struct conf *, char *err, size_t errlen);
/* The first line of a password file that others cannot read; -1 if bad. */
int		 db_read_password(const char *path, char *buf, size_t len,
		    char *err, size_t errlen);

/* The class of a MySQL/MariaDB error number (server or client). */
enum db_class	 db_classify(unsigned int code);
/* Symbolic name of a known error number ("ER_LOCK_DEADLOCK"), or NULL. */
const char	*db_errname(unsigned int code);
const char	*db_class_name(enum db_class);
/* The exit code a drain uses for a class: 75, 65, 78, 70 (0 for DB_OK). */
int		 db_class_exit(enum db_class);
/* The backoff delay after prev ms (doubling, capped at max). */
unsigned int	 db_backoff(unsigned int prev, unsigned int max);

/* Once per process, before threads (mysql_library_init/_end). */
int		 db_library_init(void);
void		 db_library_end(void);

struct db;
struct db_stmt;

struct db	*db_open(const struct db_conf *);	/* copies; no connect */
/* Connect, retrying temporary failures for retry_time; 0 or -1. */
int		 db_connect(struct db *);
/* Drop the connection (an open transaction is lost) and connect again. */
int		 db_reconnect(struct db *);
void		 db_close(struct db *);
/* The server of the connection, or of the last attempt: "name:port". */
const char	*db_server(const struct db *);

/* The last error: class, error number, text (untrusted: log it escaped). */
enum db_class	 db_errclass(const struct db *);
unsigned int	 db_errno(const struct db *);
const char	*db_error(const struct db *);
/* TLS version and cipher of the connection, "" on a unix socket. */
const char	*db_tls_cipher(struct db *);
/* The server's version string, "" when not connected. */
const char	*db_server_version(struct db *);
/* How many times this handle has connected (prepared statements redo). */
unsigned long	 db_generation(const struct db *);

/* A statement without parameters or results (SET, DDL). */
int		 db_exec(struct db *, const char *sql);
/* s as the contents of a quoted SQL string literal (no quotes), escaped
 * for the connection's character set; malloc'd, NULL if not connected. */
char		*db_quote(struct db *, const char *s);
int		 db_begin(struct db *);
/*
 * Autocommit for the session (on at every connection): off, a
 * transaction opens with its first statement and db_begin sends
 * nothing; a statement outside db_begin ... db_commit then opens one
 * too, holding its locks until the next commit or rollback.
 */
int		 db_autocommit(struct db *, int on);
int		 db_commit(struct db *);
int		 db_rollback(struct db *);
/* Savepoint names: [A-Za-z_][A-Za-z0-9_]*, at most 64 characters. */
int		 db_savepoint(struct db *, const char *name);
int		 db_rollback_to(struct db *, const char *name);
int		 db_release(struct db *, const char *name);

/* Parameters of a prepared statement. */
enum db_type { DB_T_NULL, DB_T_INT, DB_T_UINT, DB_T_DOUBLE, DB_T_TEXT,
    DB_T_BLOB };

struct db_val {
	enum db_type	 type;
	union {
		long long		 i;
		unsigned long long	 u;
		double			 d;
		struct {
			const void	*p;
			size_t		 len;
		}			 s;
	};
};

#define DB_NULL		((struct db_val){ .type = DB_T_NULL })
#define DB_INT(x)	((struct db_val){ .type = DB_T_INT, .i = (x) })
#define DB_UINT(x)	((struct db_val){ .type = DB_T_UINT, .u = (x) })
#define DB_DOUBLE(x)	((struct db_val){ .type = DB_T_DOUBLE, .d = (x) })
#define DB_TEXT(x)	((struct db_val){ .type = DB_T_TEXT, \
			    .s = { (x), strlen(x) } })
#define DB_TEXTN(x, n)	((struct db_val){ .type = DB_T_TEXT, .s = { (x), (n) } })
#define DB_BLOB(x, n)	((struct db_val){ .type = DB_T_BLOB, .s = { (x), (n) } })

/*
 * Prepare once, execute many times.  After a reconnect the statement is
 * prepared again on its next execution.  Results are buffered, so other
 * statements may run while rows are read.  Errors are reported on the db.
 */
struct db_stmt	*db_prepare(struct db *, const char *sql);
int		 db_stmt_exec(struct db_stmt *, const struct db_val *,
		    size_t nval);
/* 1: a row is ready, 0: no more rows, -1: error. */
int		 db_stmt_fetch(struct db_stmt *);
unsigned int	 db_col_count(const struct db_stmt *);
int		 db_col_null(const struct db_stmt *, unsigned int col);
long long	 db_col_int(const struct db_stmt *, unsigned int col);
unsigned long long db_col_uint(const struct db_stmt *, unsigned int col);
double		 db_col_double(const struct db_stmt *, unsigned int col);
/* Valid until the next fetch; NUL-terminated; numbers are formatted. */
const char	*db_col_text(struct db_stmt *, unsigned int col, size_t *len);
unsigned long long db_stmt_affected(const struct db_stmt *);
unsigned long long db_stmt_insert_id(const struct db_stmt *);
void		 db_stmt_free(struct db_stmt *);

#endif
