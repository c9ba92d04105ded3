/* SPDX-License-Identifier: ISC */
/*
 * The database connection (libmariadb): configuration, TLS-only TCP,
 * reconnect with backoff, prepared statements, transactions, and the
 * error classification table every tool uses.  See doc/DATABASE.md.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>
#include <errmsg.h>

#include "conf.h"
#include "db.h"
#include "tls.h"
#include "xalloc.h"

#define DB_PW_MAX	1024	/* longest password line we read */
#define DB_ERR_MAX	512
#define DB_COL_INIT	256	/* first buffer for a text column */
/*
 * Strict, whatever the server's global mode (Pandora's installer runs
 * MariaDB with sql_mode=""): a value that does not fit is an error, never
 * cut.  No NO_ZERO_DATE or NO_ZERO_IN_DATE: Pandora's tables declare zero
 * date defaults (tagente_modulo.last_compact TIMESTAMP NOT NULL DEFAULT 0)
 * that every INSERT not naming the column uses, and octospool never writes
 * a zero date itself, so it neither needs them accepted nor refused.
 */
#define DB_SQL_MODE	"STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO," \
			"NO_ENGINE_SUBSTITUTION"

struct db {
	struct db_conf	 conf;
	MYSQL		*m;
	unsigned long	 gen;		/* connections made so far */
	enum db_class	 errclass;
	unsigned int	 errcode;
	char		 errmsg[DB_ERR_MAX];
	char		 tlsbuf[128];
	unsigned int	 cur;		/* the server of the host list in use */
	char		 server[DB_HOST_MAX + 8];	/* "name:port" */
};

struct db_col {
	enum enum_field_types	 type;	/* as bound: LONGLONG, DOUBLE, STRING */
	my_bool			 unsig;
	union {
		long long		 i;
		unsigned long long	 u;
		double			 d;
	};
	char			*buf;	/* STRING: cap bytes */
	size_t			 cap;
	unsigned long		 len;
	my_bool			 isnull;
	my_bool			 err;
	char			 num[40];	/* a number as text */
};

struct db_stmt {
	struct db	*db;
	char		*sql;
	MYSQL_STMT	*st;
	unsigned long	 gen;		/* db generation it was prepared on */
	unsigned int	 nparam;
	MYSQL_BIND	*pbind;
	unsigned long	*plen;
	unsigned int	 ncol;
	MYSQL_BIND	*rbind;
	struct db_col	*cols;
};

/* ------------------------------------------------------------------ */
/* Error classification: the one table.                               */

struct db_errdef {
	unsigned int	 code;
	enum db_class	 cls;
	const char	*name;
};

/*
 * Numbers, not the header macros: the table must not depend on which
 * codes a given libmariadb's mysqld_error.h happens to define.  Unknown
 * client errors (2000-2999, 5000-5999) count as DB_TEMP, unknown server
 * errors as DB_BUG (the item stays queued; an operator looks).
 */
static const struct db_errdef db_errtab[] = {
	/* Retry later: the server is away, busy or read-only for now. */
	{ 1015, DB_TEMP, "ER_CANT_LOCK" },
	{ 1021, DB_TEMP, "ER_DISK_FULL" },
	{ 1030, DB_TEMP, "ER_GET_ERRNO" },
	{ 1037, DB_TEMP, "ER_OUTOFMEMORY" },
	{ 1038, DB_TEMP, "ER_OUT_OF_SORTMEMORY" },
	{ 1040, DB_TEMP, "ER_CON_COUNT_ERROR" },
	{ 1041, DB_TEMP, "ER_OUT_OF_RESOURCES" },
	{ 1047, DB_TEMP, "ER_UNKNOWN_COM_ERROR" },	/* Galera not ready */
	{ 1053, DB_TEMP, "ER_SERVER_SHUTDOWN" },
	{ 1114, DB_TEMP, "ER_RECORD_FILE_FULL" },
	{ 1135, DB_TEMP, "ER_CANT_CREATE_THREAD" },
	{ 1152, DB_TEMP, "ER_ABORTING_CONNECTION" },
	{ 1154, DB_TEMP, "ER_NET_READ_ERROR_FROM_PIPE" },
	{ 1155, DB_TEMP, "ER_NET_FCNTL_ERROR" },
	{ 1156, DB_TEMP, "ER_NET_PACKETS_OUT_OF_ORDER" },
	{ 1157, DB_TEMP, "ER_NET_UNCOMPRESS_ERROR" },
	{ 1158, DB_TEMP, "ER_NET_READ_ERROR" },
	{ 1159, DB_TEMP, "ER_NET_READ_INTERRUPTED" },
	{ 1160, DB_TEMP, "ER_NET_ERROR_ON_WRITE" },
	{ 1161, DB_TEMP, "ER_NET_WRITE_INTERRUPTED" },
	{ 1184, DB_TEMP, "ER_NEW_ABORTING_CONNECTION" },
	{ 1203, DB_TEMP, "ER_TOO_MANY_USER_CONNECTIONS" },
	{ 1205, DB_TEMP, "ER_LOCK_WAIT_TIMEOUT" },
	{ 1206, DB_TEMP, "ER_LOCK_TABLE_FULL" },
	{ 1213, DB_TEMP, "ER_LOCK_DEADLOCK" },
	{ 1226, DB_TEMP, "ER_USER_LIMIT_REACHED" },
	{ 1290, DB_TEMP, "ER_OPTION_PREVENTS_STATEMENT" },	/* read_only */
	{ 1317, DB_TEMP, "ER_QUERY_INTERRUPTED" },
	{ 1412, DB_TEMP, "ER_TABLE_DEF_CHANGED" },
	{ 1614, DB_TEMP, "ER_XA_RBDEADLOCK" },
	{ 1615, DB_TEMP, "ER_NEED_REPREPARE" },
	{ 1637, DB_TEMP, "ER_TOO_MANY_CONCURRENT_TRXS" },
	{ 1689, DB_TEMP, "ER_LOCK_ABORTED" },
	{ 1836, DB_TEMP, "ER_READ_ONLY_MODE" },
	{ 1874, DB_TEMP, "ER_INNODB_READ_ONLY" },
	{ 1927, DB_TEMP, "ER_CONNECTION_KILLED" },
	{ 1969, DB_TEMP, "ER_STATEMENT_TIMEOUT" },
	{ 2000, DB_TEMP, "CR_UNKNOWN_ERROR" },
	{ 2001, DB_TEMP, "CR_SOCKET_CREATE_ERROR" },
	{ 2002, DB_TEMP, "CR_CONNECTION_ERROR" },
	{ 2003, DB_TEMP, "CR_CONN_HOST_ERROR" },
	{ 2004, DB_TEMP, "CR_IPSOCK_ERROR" },
	{ 2005, DB_TEMP, "CR_UNKNOWN_HOST" },
	{ 2006, DB_TEMP, "CR_SERVER_GONE_ERROR" },
	{ 2008, DB_TEMP, "CR_OUT_OF_MEMORY" },
	{ 2012, DB_TEMP, "CR_SERVER_HANDSHAKE_ERR" },
	{ 2013, DB_TEMP, "CR_SERVER_LOST" },
	{ 2027, DB_TEMP, "CR_MALFORMED_PACKET" },
	{ 2055, DB_TEMP, "CR_SERVER_LOST_EXTENDED" },
	{ 2057, DB_TEMP, "CR_NEW_STMT_METADATA" },
	{ 5013, DB_TEMP, "CR_ERR_NET_READ" },
	{ 5014, DB_TEMP, "CR_ERR_NET_WRITE" },
	{ 5015, DB_TEMP, "CR_ERR_NET_UNCOMPRESS" },

	/* The value cannot be stored (strict mode): reject the item. */
	{ 1048, DB_DATA, "ER_BAD_NULL_ERROR" },
	{ 1118, DB_DATA, "ER_TOO_BIG_ROWSIZE" },
	{ 1153, DB_DATA, "ER_NET_PACKET_TOO_LARGE" },
	{ 1216, DB_DATA, "ER_NO_REFERENCED_ROW" },
	{ 1217, DB_DATA, "ER_ROW_IS_REFERENCED" },
	{ 1263, DB_DATA, "ER_WARN_NULL_TO_NOTNULL" },
	{ 1264, DB_DATA, "ER_WARN_DATA_OUT_OF_RANGE" },
	{ 1265, DB_DATA, "WARN_DATA_TRUNCATED" },
	{ 1292, DB_DATA, "ER_TRUNCATED_WRONG_VALUE" },
	{ 1300, DB_DATA, "ER_INVALID_CHARACTER_STRING" },
	{ 1365, DB_DATA, "ER_DIVISION_BY_ZERO" },
	{ 1366, DB_DATA, "ER_TRUNCATED_WRONG_VALUE_FOR_FIELD" },
	{ 1367, DB_DATA, "ER_ILLEGAL_VALUE_FOR_TYPE" },
	{ 1406, DB_DATA, "ER_DATA_TOO_LONG" },
	{ 1441, DB_DATA, "ER_DATETIME_FUNCTION_OVERFLOW" },
	{ 1451, DB_DATA, "ER_ROW_IS_REFERENCED_2" },
	{ 1452, DB_DATA, "ER_NO_REFERENCED_ROW_2" },
	{ 1525, DB_DATA, "ER_WRONG_VALUE" },
	{ 1690, DB_DATA, "ER_DATA_OUT_OF_RANGE" },
	{ 1977, DB_DATA, "ER_CANNOT_CONVERT_CHARACTER" },
	{ 2020, DB_DATA, "CR_NET_PACKET_TOO_LARGE" },
	{ 4025, DB_DATA, "ER_CONSTRAINT_FAILED" },

	/* Duplicate key: for octo_loaded_file it means "already loaded". */
	{ 1022, DB_DUP, "ER_DUP_KEY" },
	{ 1062, DB_DUP, "ER_DUP_ENTRY" },
	{ 1169, DB_DUP, "ER_DUP_UNIQUE" },
	{ 1586, DB_DUP, "ER_DUP_ENTRY_WITH_KEY_NAME" },

	/* The operator must act: login, TLS, grants, schema, server state. */
	{ 1005, DB_CONFIG, "ER_CANT_CREATE_TABLE" },
	{ 1044, DB_CONFIG, "ER_DBACCESS_DENIED_ERROR" },
	{ 1045, DB_CONFIG, "ER_ACCESS_DENIED_ERROR" },
	{ 1049, DB_CONFIG, "ER_BAD_DB_ERROR" },
	{ 1054, DB_CONFIG, "ER_BAD_FIELD_ERROR" },
	{ 1129, DB_CONFIG, "ER_HOST_IS_BLOCKED" },
	{ 1130, DB_CONFIG, "ER_HOST_NOT_PRIVILEGED" },
	{ 1142, DB_CONFIG, "ER_TABLEACCESS_DENIED_ERROR" },
	{ 1143, DB_CONFIG, "ER_COLUMNACCESS_DENIED_ERROR" },
	{ 1146, DB_CONFIG, "ER_NO_SUCH_TABLE" },
	{ 1193, DB_CONFIG, "ER_UNKNOWN_SYSTEM_VARIABLE" },
	{ 1194, DB_CONFIG, "ER_CRASHED_ON_USAGE" },
	{ 1227, DB_CONFIG, "ER_SPECIFIC_ACCESS_DENIED_ERROR" },
	{ 1231, DB_CONFIG, "ER_WRONG_VALUE_FOR_VAR" },
	{ 1251, DB_CONFIG, "ER_NOT_SUPPORTED_AUTH_MODE" },
	{ 1275, DB_CONFIG, "ER_SERVER_IS_IN_SECURE_AUTH_MODE" },
	{ 1698, DB_CONFIG, "ER_ACCESS_DENIED_NO_PASSWORD_ERROR" },
	{ 1820, DB_CONFIG, "ER_MUST_CHANGE_PASSWORD" },
	{ 1862, DB_CONFIG, "ER_MUST_CHANGE_PASSWORD_LOGIN" },
	{ 1873, DB_CONFIG, "ER_ACCESS_DENIED_CHANGE_USER_ERROR" },
	{ 4151, DB_CONFIG, "ER_ACCOUNT_HAS_BEEN_LOCKED" },
	{ 2007, DB_CONFIG, "CR_VERSION_ERROR" },
	{ 2019, DB_CONFIG, "CR_CANT_READ_CHARSET" },
	{ 2026, DB_CONFIG, "CR_SSL_CONNECTION_ERROR" },
	{ 2047, DB_CONFIG, "CR_CONN_UNKNOWN_PROTOCOL" },
	{ 2049, DB_CONFIG, "CR_SECURE_AUTH" },
	{ 2059, DB_CONFIG, "CR_AUTH_PLUGIN_CANNOT_LOAD" },
	{ 2061, DB_CONFIG, "CR_AUTH_PLUGIN_ERR" },
	{ 5004, DB_CONFIG, "CR_FILE_NOT_FOUND" },
	{ 5005, DB_CONFIG, "CR_FILE_READ" },
	{ 5008, DB_CONFIG, "CR_VERSION_MISMATCH" },
	{ 5010, DB_CONFIG, "CR_PLUGIN_NOT_ALLOWED" },
	{ 5012, DB_CONFIG, "CR_ERR_LOAD_PLUGIN" },

	/* Our SQL or our use of the API is wrong. */
	{ 1051, DB_BUG, "ER_BAD_TABLE_ERROR" },
	{ 1052, DB_BUG, "ER_NON_UNIQ_ERROR" },
	{ 1058, DB_BUG, "ER_WRONG_VALUE_COUNT" },
	{ 1064, DB_BUG, "ER_PARSE_ERROR" },
	{ 1066, DB_BUG, "ER_NONUNIQ_TABLE" },
	{ 1109, DB_BUG, "ER_UNKNOWN_TABLE" },
	{ 1136, DB_BUG, "ER_WRONG_VALUE_COUNT_ON_ROW" },
	{ 1192, DB_BUG, "ER_LOCK_OR_ACTIVE_TRANSACTION" },
	{ 1210, DB_BUG, "ER_WRONG_ARGUMENTS" },
	{ 1242, DB_BUG, "ER_SUBQUERY_NO_1_ROW" },
	{ 1243, DB_BUG, "ER_UNKNOWN_STMT_HANDLER" },
	{ 1295, DB_BUG, "ER_UNSUPPORTED_PS" },
	{ 1305, DB_BUG, "ER_SP_DOES_NOT_EXIST" },
	{ 1364, DB_BUG, "ER_NO_DEFAULT_FOR_FIELD" },
	{ 1390, DB_BUG, "ER_PS_MANY_PARAM" },
	{ 1792, DB_BUG, "ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION" },
	{ 2014, DB_BUG, "CR_COMMANDS_OUT_OF_SYNC" },
	{ 2030, DB_BUG, "CR_NO_PREPARE_STMT" },
	{ 2031, DB_BUG, "CR_PARAMS_NOT_BOUND" },
	{ 2034, DB_BUG, "CR_INVALID_PARAMETER_NO" },
	{ 2035, DB_BUG, "CR_INVALID_BUFFER_USE" },
	{ 2036, DB_BUG, "CR_UNSUPPORTED_PARAM_TYPE" },
	{ 2048, DB_BUG, "CR_INVALID_CONN_HANDLE" },
	{ 2051, DB_BUG, "CR_NO_DATA" },
	{ 2052, DB_BUG, "CR_NO_STMT_METADATA" },
	{ 2054, DB_BUG, "CR_NOT_IMPLEMENTED" },
	{ 2056, DB_BUG, "CR_STMT_CLOSED" },
	{ 2058, DB_BUG, "CR_ALREADY_CONNECTED" },
	{ 5006, DB_BUG, "CR_BULK_WITHOUT_PARAMETERS" },
	{ 5007, DB_BUG, "CR_INVALID_STMT" },
	{ 5009, DB_BUG, "CR_INVALID_PARAMETER" },
};

static const struct db_errdef *
db_errdef(unsigned int code)
{
	for (size_t i = 0; i < sizeof(db_errtab) / sizeof(db_errtab[0]); i++)
		if (db_errtab[i].code == code)
			return &db_errtab[i];
	return NULL;
}

/* The class of an error number; see the table above. */
enum db_class
db_classify(unsigned int code)
{
	const struct db_errdef *e;

	if (code == 0)
		return DB_OK;
	if ((e = db_errdef(code)) != NULL)
		return e->cls;
	if ((code >= 2000 && code <= 2999) || (code >= 5000 && code <= 5999))
		return DB_TEMP;
	return DB_BUG;
}

/* The symbolic name of a code in the table, or NULL. */
const char *
db_errname(unsigned int code)
{
	const struct db_errdef *e = db_errdef(code);

	return e ? e->name : NULL;
}

/* A class as a word for logs: "temp", "data", ... */
const char *
db_class_name(enum db_class c)
{
	switch (c) {
	case DB_OK:
		return "ok";
	case DB_TEMP:
		return "temp";
	case DB_DATA:
		return "data";
	case DB_DUP:
		return "dup";
	case DB_CONFIG:
		return "config";
	case DB_BUG:
		return "bug";
	}
	return "bug";
}

/* The sysexits code for a drain that stops on a class. */
int
db_class_exit(enum db_class c)
{
	switch (c) {
	case DB_OK:
		return EX_OK;
	case DB_TEMP:
		return EX_TEMPFAIL;
	case DB_DATA:
	case DB_DUP:
		return EX_DATAERR;
	case DB_CONFIG:
		return EX_CONFIG;
	case DB_BUG:
		return EX_SOFTWARE;
	}
	return EX_SOFTWARE;
}

/* Double the delay, at most max (and at least 1 ms). */
unsigned int
db_backoff(unsigned int prev, unsigned int max)
{
	unsigned int next = prev > max / 2 ? max : prev * 2;

	return next == 0 ? 1 : next;
}

/* ------------------------------------------------------------------ */
/* Configuration.                                                     */

const char *const db_conf_keys[] = {
	"host", "port", "socket", "protocol", "name", "user",
	"password_file", "ssl_ca", "ssl_cert", "ssl_key", "tls_version",
	"ssl_cipher", "connect_timeout", "read_timeout", "write_timeout",
	"lock_wait_timeout", "retry_time", "retry_delay", "retry_max_delay",
	NULL
};

/*
 * key from [section] only.  conf_get() falls back to the top part, where
 * "port" may well be a Tentacle setting; a value that is the very string
 * the top part holds came from there.
 */
static const char *
sect_get(const struct conf *c, const char *section, const char *key)
{
	const char *v = conf_get(c, section, key);

	if (v != NULL && v == conf_get(c, NULL, key))
		return NULL;
	return v;
}

/* [tool] db_key, else [db] key; *from says which, for messages. */
static const char *
db_get(const struct conf *c, const char *tool, const char *key,
    char *from, size_t fromlen)
{
	char k[64];
	const char *v;

	if (tool != NULL && *tool != '\0') {
		snprintf(k, sizeof(k), "db_%s", key);
		if ((v = sect_get(c, tool, k)) != NULL) {
			snprintf(from, fromlen, "[%s] %s", tool, k);
			return v;
		}
	}
	snprintf(from, fromlen, "[db] %s", key);
	return sect_get(c, "db", key);
}

static int
db_get_str(char **dst, const struct conf *c, const char *tool,
    const char *key, const char *def)
{
	char from[160];
	const char *v = db_get(c, tool, key, from, sizeof(from));

	free(*dst);
	*dst = NULL;
	if (v != NULL && *v != '\0')
		*dst = xstrdup(v);
	else if (def != NULL)
		*dst = xstrdup(def);
	return 0;
}

static int
db_get_num(unsigned int *dst, const struct conf *c, const char *tool,
    const char *key, long long min, long long max, unsigned int def,
    char *err, size_t errlen)
{
	char from[160];
	const char *v = db_get(c, tool, key, from, sizeof(from)), *es = NULL;
	long long n;

	*dst = def;
	if (v == NULL)
		return 0;
	n = strtonum(v, min, max, &es);
	if (es != NULL) {
		snprintf(err, errlen, "%s: value is %s (want %lld..%lld)",
		    from, es, min, max);
		return -1;
	}
	*dst = (unsigned int)n;
	return 0;
}

int
db_host_at(const char *list, unsigned int i, char *name, size_t namelen,
    unsigned int *port, unsigned int defport)
{
	const char *p = list, *e, *h, *he, *colon;
	const char *es = NULL;
	char num[8];
	size_t len;

	for (unsigned int k = 0; k < i; k++) {
		if ((p = strchr(p, ',')) == NULL)
			return 1;
		p++;
	}
	e = strchr(p, ',');
	len = e ? (size_t)(e - p) : strlen(p);
	if (len == 0)
		return -1;
	if (*p == '[') {		/* [v6] or [v6]:port */
		h = p + 1;
		if ((he = memchr(h, ']', len - 1)) == NULL || he == h)
			return -1;
		colon = he + 1 < p + len ? he + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return -1;
	} else {
		h = p;
		colon = memchr(p, ':', len);
		he = colon ? colon : p + len;
		if (colon != NULL && memchr(colon + 1, ':', (size_t)(p + len -
		    colon - 1)) != NULL)
			return -1;	/* a bare IPv6 address: brackets */
		if (he == h)
			return -1;
	}
	if ((size_t)(he - h) >= namelen)
		return -1;
	for (const char *c = h; c < he; c++)
		if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '-' ||
		    *c == '_' || (*p == '[' && (*c == ':' || *c == '%'))))
			return -1;
	memcpy(name, h, (size_t)(he - h));
	name[he - h] = '\0';
	*port = defport;
	if (colon != NULL) {
		size_t nl = (size_t)(p + len - colon - 1);

		if (nl == 0 || nl >= sizeof(num))
			return -1;
		memcpy(num, colon + 1, nl);
		num[nl] = '\0';
		*port = (unsigned int)strtonum(num, 1, 65535, &es);
		if (es != NULL)
			return -1;
	}
	return 0;
}

/* Parse the [db] settings for tool (NULL: [db] only) into dc. */
int
db_conf_load(struct db_conf *dc, const struct conf *c, const char *tool,
    char *err, size_t errlen)
{
	char *proto = NULL;
	unsigned int secs;

	memset(dc, 0, sizeof(*dc));
	db_get_str(&dc->host, c, tool, "host", NULL);
	db_get_str(&dc->socket, c, tool, "socket", NULL);
	db_get_str(&proto, c, tool, "protocol", NULL);
	db_get_str(&dc->name, c, tool, "name", "pandora");
	db_get_str(&dc->user, c, tool, "user", NULL);
	db_get_str(&dc->password_file, c, tool, "password_file", NULL);
	db_get_str(&dc->ssl_ca, c, tool, "ssl_ca", NULL);
	db_get_str(&dc->ssl_cert, c, tool, "ssl_cert", NULL);
	db_get_str(&dc->ssl_key, c, tool, "ssl_key", NULL);
	db_get_str(&dc->tls_version, c, tool, "tls_version",
	    "TLSv1.2,TLSv1.3");
	db_get_str(&dc->ssl_cipher, c, tool, "ssl_cipher",
	    TLS_DEFAULT_CIPHERS);
	if (db_get_num(&dc->port, c, tool, "port", 1, 65535, 3306,
	    err, errlen) == -1 ||
	    db_get_num(&dc->connect_timeout, c, tool, "connect_timeout",
	    1, 3600, 5, err, errlen) == -1 ||
	    db_get_num(&dc->read_timeout, c, tool, "read_timeout",
	    1, 86400, 30, err, errlen) == -1 ||
	    db_get_num(&dc->write_timeout, c, tool, "write_timeout",
	    1, 86400, 30, err, errlen) == -1 ||
	    db_get_num(&dc->lock_wait_timeout, c, tool, "lock_wait_timeout",
	    0, 86400, 10, err, errlen) == -1 ||
	    db_get_num(&secs, c, tool, "retry_time", 0, 86400, 30,
	    err, errlen) == -1 ||
	    db_get_num(&dc->retry_delay, c, tool, "retry_delay",
	    1, 60000, 100, err, errlen) == -1 ||
	    db_get_num(&dc->retry_max_delay, c, tool, "retry_max_delay",
	    1, 600000, 5000, err, errlen) == -1)
		goto bad;
	dc->retry_time = secs * 1000;
	if (dc->retry_max_delay < dc->retry_delay)
		dc->retry_max_delay = dc->retry_delay;

	if (proto == NULL)
		dc->protocol = dc->host != NULL ? DB_PROTO_TCP :
		    DB_PROTO_SOCKET;
	else if (strcmp(proto, "tcp") == 0)
		dc->protocol = DB_PROTO_TCP;
	else if (strcmp(proto, "socket") == 0)
		dc->protocol = DB_PROTO_SOCKET;
	else {
		snprintf(err, errlen, "db protocol: '%s' is not tcp or socket",
		    proto);
		goto bad;
	}
	free(proto);
	proto = NULL;

	if (dc->user == NULL) {
		snprintf(err, errlen, "db user: missing");
		goto bad;
	}
	if (dc->protocol == DB_PROTO_SOCKET) {
		if (dc->socket == NULL) {
			snprintf(err, errlen, "db: set host (TCP with TLS) or "
			    "socket");
			goto bad;
		}
		if (dc->socket[0] != '/') {
			snprintf(err, errlen, "db socket: not an absolute "
			    "path");
			goto bad;
		}
		return 0;
	}
	if (dc->host == NULL) {
		snprintf(err, errlen, "db host: missing for protocol tcp");
		goto bad;
	}
	for (unsigned int i = 0;; i++) {
		char name[DB_HOST_MAX];
		unsigned int port;
		int r = db_host_at(dc->host, i, name, sizeof(name), &port,
		    dc->port);

		if (r == 1)
			break;
		if (r == -1 || i >= DB_MAX_HOSTS) {
			snprintf(err, errlen, "db host: '%s': %s", dc->host,
			    r == -1 ? "not a list of names or addresses, "
			    "each with an optional :port ([addr]:port for "
			    "IPv6)" : "too many servers");
			goto bad;
		}
	}
	/* No way to turn verification off: no CA, no TCP. */
	if (dc->ssl_ca == NULL) {
		snprintf(err, errlen, "db ssl_ca: missing; TCP connections "
		    "need TLS with server certificate verification");
		goto bad;
	}
	if ((dc->ssl_cert == NULL) != (dc->ssl_key == NULL)) {
		snprintf(err, errlen, "db ssl_cert and ssl_key: set both or "
		    "neither");
		goto bad;
	}
	return 0;
bad:
	free(proto);
	db_conf_free(dc);
	return -1;
}

void
db_conf_free(struct db_conf *dc)
{
	free(dc->host);
	free(dc->socket);
	free(dc->name);
	free(dc->user);
	free(dc->password_file);
	free(dc->ssl_ca);
	free(dc->ssl_cert);
	free(dc->ssl_key);
	free(dc->tls_version);
	free(dc->ssl_cipher);
	memset(dc, 0, sizeof(*dc));
}

static char *
xstrdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void
db_conf_copy(struct db_conf *dst, const struct db_conf *src)
{
	*dst = *src;
	dst->host = xstrdup_or_null(src->host);
	dst->socket = xstrdup_or_null(src->socket);
	dst->name = xstrdup_or_null(src->name);
	dst->user = xstrdup_or_null(src->user);
	dst->password_file = xstrdup_or_null(src->password_file);
	dst->ssl_ca = xstrdup_or_null(src->ssl_ca);
	dst->ssl_cert = xstrdup_or_null(src->ssl_cert);
	dst->ssl_key = xstrdup_or_null(src->ssl_key);
	dst->tls_version = xstrdup_or_null(src->tls_version);
	dst->ssl_cipher = xstrdup_or_null(src->ssl_cipher);
}

int
db_conf_check(const struct conf *c, char *err, size_t errlen)
{
	return conf_check(c, "db", db_conf_keys, err, errlen);
}

/* The first line of path into buf; refuse files that others may read. */
int
db_read_password(const char *path, char *buf, size_t len, char *err,
    size_t errlen)
{
	char tmp[DB_PW_MAX + 2];
	struct stat st;
	size_t n = 0, l;
	ssize_t r;
	int fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(err, errlen, "password file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "password file %s: not a regular file",
		    path);
		goto out;
	}
	if (st.st_mode & S_IRWXO) {
		snprintf(err, errlen, "password file %s: mode %04o lets "
		    "others read it; chmod 0640", path,
		    (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	/* No stdio: no copy of the password left in a freed buffer. */
	while (n < sizeof(tmp) - 1 && memchr(tmp, '\n', n) == NULL) {
		r = read(fd, tmp + n, sizeof(tmp) - 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(err, errlen, "password file %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		n += r;
	}
	tmp[n] = '\0';
	l = strcspn(tmp, "\r\n");
	if (l == 0 || memchr(tmp, '\0', l) != NULL) {
		snprintf(err, errlen, "password file %s: the first line is "
		    "empty", path);
		goto out;
	}
	if (l >= len || l > DB_PW_MAX) {
		snprintf(err, errlen, "password file %s: the first line is "
		    "too long", path);
		goto out;
	}
	memcpy(buf, tmp, l);
	buf[l] = '\0';
	rc = 0;
out:
	explicit_bzero(tmp, sizeof(tmp));
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Connections.                                                       */

int
db_library_init(void)
{
	return mysql_library_init(0, NULL, NULL) == 0 ? 0 : -1;
}

void
db_library_end(void)
{
	mysql_library_end();
}

static void
db_seterr(struct db *d, enum db_class cls, unsigned int code,
    const char *fmt, ...)
{
	va_list ap;

	d->errclass = cls;
	d->errcode = code;
	va_start(ap, fmt);
	vsnprintf(d->errmsg, sizeof(d->errmsg), fmt, ap);
	va_end(ap);
}

static void
db_seterr_code(struct db *d, unsigned int code, const char *msg)
{
	enum db_class cls = db_classify(code);

	if (code == 0)		/* an error without a number: be careful */
		cls = DB_TEMP;
	/*
	 * By what happened, not by the error's family: a TLS error while
	 * connecting (a bad certificate, no common protocol) is the
	 * configuration's; on a connection that was up, it is the stream cut
	 * by a server going away ("Connection reset by peer"): try again.
	 */
	if (code == CR_SSL_CONNECTION_ERROR && d->m != NULL)
		cls = DB_TEMP;
	db_seterr(d, cls, code, "%s", msg && *msg ? msg : "unknown error");
}

static void
db_seterr_mysql(struct db *d, MYSQL *m)
{
	db_seterr_code(d, mysql_errno(m), mysql_error(m));
}

static void
db_seterr_stmt(struct db *d, MYSQL_STMT *st)
{
	db_seterr_code(d, mysql_stmt_errno(st), mysql_stmt_error(st));
}

enum db_class
db_errclass(const struct db *d)
{
	return d->errclass;
}

unsigned int
db_errno(const struct db *d)
{
	return d->errcode;
}

const char *
db_error(const struct db *d)
{
	return d->errmsg;
}

unsigned long
db_generation(const struct db *d)
{
	return d->gen;
}

struct db *
db_open(const struct db_conf *dc)
{
	struct db *d = xcalloc(1, sizeof(*d));

	db_conf_copy(&d->conf, dc);
	return d;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Set an option; libmariadb only fails on unknown options or memory. */
static int
db_opt(struct db *d, MYSQL *m, enum mysql_option o, const void *arg,
    const char *what)
{
	if (mysql_optionsv(m, o, arg) != 0) {
		db_seterr(d, DB_CONFIG, 0, "cannot set client option %s",
		    what);
		return -1;
	}
	return 0;
}

/* One connection attempt to host:port with every safety option set. */
static int
db_connect_host(struct db *d, const char *host, unsigned int port)
{
	const struct db_conf *c = &d->conf;
	char pw[DB_PW_MAX + 1] = "", init[256], perr[DB_ERR_MAX];
	unsigned int proto, zero = 0;
	my_bool on = 1, off = 0;
	MYSQL *m;

	if ((m = mysql_init(NULL)) == NULL) {
		db_seterr(d, DB_TEMP, 2008, "mysql_init: out of memory");
		return -1;
	}
	if (c->lock_wait_timeout > 0)
		snprintf(init, sizeof(init), "SET SESSION sql_mode='%s', "
		    "innodb_lock_wait_timeout=%u", DB_SQL_MODE,
		    c->lock_wait_timeout);
	else
		snprintf(init, sizeof(init), "SET SESSION sql_mode='%s'",
		    DB_SQL_MODE);
	proto = c->protocol == DB_PROTO_TCP ? MYSQL_PROTOCOL_TCP :
	    MYSQL_PROTOCOL_SOCKET;
	if (db_opt(d, m, MYSQL_OPT_CONNECT_TIMEOUT, &c->connect_timeout,
	    "connect_timeout") == -1 ||
	    db_opt(d, m, MYSQL_OPT_READ_TIMEOUT, &c->read_timeout,
	    "read_timeout") == -1 ||
	    db_opt(d, m, MYSQL_OPT_WRITE_TIMEOUT, &c->write_timeout,
	    "write_timeout") == -1 ||
	    db_opt(d, m, MYSQL_OPT_PROTOCOL, &proto, "protocol") == -1 ||
	    db_opt(d, m, MYSQL_SET_CHARSET_NAME, "utf8mb4", "charset") == -1 ||
	    db_opt(d, m, MYSQL_INIT_COMMAND, init, "init_command") == -1 ||
	    db_opt(d, m, MYSQL_OPT_LOCAL_INFILE, &zero, "local_infile") == -1 ||
	    db_opt(d, m, MYSQL_OPT_RECONNECT, &off, "reconnect") == -1)
		goto fail;
	if (c->protocol == DB_PROTO_TCP &&
	    (db_opt(d, m, MYSQL_OPT_SSL_ENFORCE, &on, "ssl_enforce") == -1 ||
	    db_opt(d, m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on,
	    "ssl_verify_server_cert") == -1 ||
	    db_opt(d, m, MYSQL_OPT_SSL_CA, c->ssl_ca, "ssl_ca") == -1 ||
	    (c->ssl_cert != NULL && (db_opt(d, m, MYSQL_OPT_SSL_CERT,
	    c->ssl_cert, "ssl_cert") == -1 || db_opt(d, m, MYSQL_OPT_SSL_KEY,
	    c->ssl_key, "ssl_key") == -1)) ||
	    db_opt(d, m, MARIADB_OPT_TLS_VERSION, c->tls_version,
	    "tls_version") == -1 ||
	    db_opt(d, m, MYSQL_OPT_SSL_CIPHER, c->ssl_cipher,
	    "ssl_cipher") == -1))
		goto fail;
	if (c->password_file != NULL && db_read_password(c->password_file,
	    pw, sizeof(pw), perr, sizeof(perr)) == -1) {
		db_seterr(d, DB_CONFIG, 0, "%s", perr);
		goto fail;
	}
	/* Never NULL: libmariadb would look at the environment. */
	if (mysql_real_connect(m, c->protocol == DB_PROTO_TCP ? host :
	    "localhost", c->user, pw, c->name,
	    c->protocol == DB_PROTO_TCP ? port : 0,
	    c->protocol == DB_PROTO_SOCKET ? c->socket : NULL,
	    CLIENT_FOUND_ROWS) == NULL) {
		db_seterr_mysql(d, m);
		goto fail;
	}
	explicit_bzero(pw, sizeof(pw));
	/* Belt and braces: TCP without TLS must be impossible. */
	if (c->protocol == DB_PROTO_TCP && mysql_get_ssl_cipher(m) == NULL) {
		db_seterr(d, DB_CONFIG, 2026, "connection is not encrypted");
		mysql_close(m);
		return -1;
	}
	d->m = m;
	d->gen++;
	d->errclass = DB_OK;
	d->errcode = 0;
	d->errmsg[0] = '\0';
	return 0;
fail:
	explicit_bzero(pw, sizeof(pw));
	mysql_close(m);
	return -1;
}

/*
 * One round: the socket, or each server of the host list in turn from
 * the one that worked last (db_reconnect after a temporary failure
 * starts from the next).  A temporary failure (down, unreachable, not
 * ready) moves on to the next server, and so does a read-only server
 * while another may be writable: it is used only when no writable one
 * answers (reads work there; writes fail as temporary).  Any other
 * failure (TLS, login, grants) stops the round: the operator's to see.
 */
/* 1 if the connected server is read-only, 0 if not, -1 unknown. */
static int
db_read_only(struct db *d)
{
	MYSQL_RES *res;
	MYSQL_ROW row;
	int ro = -1;

	if (mysql_query(d->m, "SELECT @@global.read_only") != 0 ||
	    (res = mysql_store_result(d->m)) == NULL)
		return -1;
	if ((row = mysql_fetch_row(res)) != NULL && row[0] != NULL)
		ro = strcmp(row[0], "0") != 0;
	mysql_free_result(res);
	return ro;
}

/* The value of one SHOW ... LIKE row into buf ("" if none); -1 on error. */
static int
db_show(struct db *d, const char *q, char *buf, size_t len)
{
	MYSQL_RES *res;
	MYSQL_ROW row;

	buf[0] = '\0';
	if (mysql_query(d->m, q) != 0 ||
	    (res = mysql_store_result(d->m)) == NULL)
		return -1;
	if ((row = mysql_fetch_row(res)) != NULL && row[1] != NULL)
		strlcpy(buf, row[1], len);
	mysql_free_result(res);
	return 0;
}

/*
 * 1 if the connected server is a Galera node that takes no queries (cut
 * off from the Primary Component, or joining: wsrep_on ON, wsrep_ready
 * OFF), else 0.  Such a node accepts the connection and a SELECT without
 * tables, then refuses every transaction (1047): it is passed over like
 * a server that is down.  SHOW works on it; on a server without Galera
 * (MySQL, MariaDB with wsrep off) the answer is 0.
 */
static int
db_galera_unready(struct db *d)
{
	char v[16];

	if (db_show(d, "SHOW GLOBAL VARIABLES LIKE 'wsrep\\_on'", v,
	    sizeof(v)) == -1 || strcasecmp(v, "ON") != 0)
		return 0;
	if (db_show(d, "SHOW GLOBAL STATUS LIKE 'wsrep\\_ready'", v,
	    sizeof(v)) == -1)
		return mysql_errno(d->m) == 1047;
	return strcasecmp(v, "OFF") == 0;
}

static int
db_connect_once(struct db *d)
{
	const struct db_conf *c = &d->conf;
	char name[DB_HOST_MAX];
	unsigned int n, port;
	int ro = -1;		/* the first read-only server passed over */

	if (c->protocol != DB_PROTO_TCP) {
		snprintf(d->server, sizeof(d->server), "%s", c->socket);
		return db_connect_host(d, NULL, 0);
	}
	for (n = 0; n < DB_MAX_HOSTS && db_host_at(c->host, n, name,
	    sizeof(name), &port, c->port) == 0; n++)
		;
	if (n == 0) {
		db_seterr(d, DB_CONFIG, 0, "db host: no server");
		return -1;
	}
	d->cur %= n;
	for (unsigned int k = 0; k < n; k++) {
		unsigned int i = (d->cur + k) % n;

		if (db_host_at(c->host, i, name, sizeof(name), &port,
		    c->port) != 0)
			continue;
		snprintf(d->server, sizeof(d->server), "%s:%u", name, port);
		if (db_connect_host(d, name, port) == 0) {
			if (n > 1 && db_galera_unready(d)) {
				mysql_close(d->m);
				d->m = NULL;
				db_seterr(d, DB_TEMP, 1047, "%s: Galera node "
				    "not ready (not in the Primary Component)",
				    d->server);
				continue;
			}
			/* A read-only server (a replica, a node being
			 * drained) only when no writable one answers. */
			if (n > 1 && ro == -1 && db_read_only(d) == 1) {
				ro = (int)i;
				mysql_close(d->m);
				d->m = NULL;
				db_seterr(d, DB_TEMP, 1290, "%s is read-only",
				    d->server);
				continue;
			}
			d->cur = i;
			return 0;
		}
		if (d->errclass != DB_TEMP)
			return -1;
	}
	if (ro != -1) {
		if (db_host_at(c->host, (unsigned int)ro, name, sizeof(name),
		    &port, c->port) == 0) {
			snprintf(d->server, sizeof(d->server), "%s:%u", name,
			    port);
			if (db_connect_host(d, name, port) == 0) {
				d->cur = (unsigned int)ro;
				return 0;
			}
		}
		return -1;
	}
	/* Next round: from the server after the one tried first. */
	d->cur = (d->cur + 1) % n;
	return -1;
}

const char *
db_server(const struct db *d)
{
	return d->server;
}

/* Connect; retry temporary failures with backoff within retry_time. */
int
db_connect(struct db *d)
{
	const struct db_conf *c = &d->conf;
	long long deadline = now_ms() + c->retry_time;
	unsigned int delay = c->retry_delay;
	struct timespec ts;
	long long left, wait;

	if (d->m != NULL)
		return 0;
	for (;;) {
		if (db_connect_once(d) == 0)
			return 0;
		if (d->errclass != DB_TEMP)
			return -1;
		left = deadline - now_ms();
		if (left <= 0)
			return -1;
		/* Jitter keeps several loaders from retrying in step. */
		wait = delay + arc4random_uniform(delay / 4 + 1);
		if (wait > left)
			wait = left;
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (wait % 1000) * 1000000L;
		if (nanosleep(&ts, NULL) == -1)
			return -1;	/* a signal: let the caller decide */
		delay = db_backoff(delay, c->retry_max_delay);
	}
}

/*
 * Close and connect again; the caller redoes its transaction.  After a
 * temporary failure (the server went away, or stays read-only or not
 * ready), a host list starts from the next server.
 */
int
db_reconnect(struct db *d)
{
	if (d->m != NULL) {
		mysql_close(d->m);
		d->m = NULL;
	}
	if (d->errclass == DB_TEMP && d->conf.protocol == DB_PROTO_TCP)
		d->cur++;	/* taken modulo the list by db_connect_once */
	return db_connect(d);
}

void
db_close(struct db *d)
{
	if (d == NULL)
		return;
	if (d->m != NULL)
		mysql_close(d->m);
	db_conf_free(&d->conf);
	free(d);
}

const char *
db_tls_cipher(struct db *d)
{
	const char *cipher, *ver = NULL;

	d->tlsbuf[0] = '\0';
	if (d->m == NULL || (cipher = mysql_get_ssl_cipher(d->m)) == NULL)
		return d->tlsbuf;
	if (mariadb_get_infov(d->m, MARIADB_CONNECTION_TLS_VERSION, &ver) != 0)
		ver = NULL;
	snprintf(d->tlsbuf, sizeof(d->tlsbuf), "%s%s%s", ver ? ver : "",
	    ver ? " " : "", cipher);
	return d->tlsbuf;
}

const char *
db_server_version(struct db *d)
{
	const char *v;

	return d->m != NULL && (v = mysql_get_server_info(d->m)) != NULL ?
	    v : "";
}

static int
db_need(struct db *d)
{
	if (d->m != NULL)
		return 0;
	db_seterr(d, DB_TEMP, 2006, "not connected");
	return -1;
}

char *
db_quote(struct db *d, const char *s)
{
	size_t n = strlen(s);
	char *out;

	if (d->m == NULL)
		return NULL;
	out = xmalloc(2 * n + 1);
	mysql_real_escape_string(d->m, out, s, n);
	return out;
}

/* Run one statement and throw away any result. */
int
db_exec(struct db *d, const char *sql)
{
	MYSQL_RES *res;

	if (db_need(d) == -1)
		return -1;
	if (mysql_real_query(d->m, sql, strlen(sql)) != 0) {
		db_seterr_mysql(d, d->m);
		return -1;
	}
	if (mysql_field_count(d->m) > 0) {
		if ((res = mysql_store_result(d->m)) == NULL) {
			db_seterr_mysql(d, d->m);
			return -1;
		}
		mysql_free_result(res);
	}
	return 0;
}

/*
 * A transaction.  With autocommit off (db_autocommit) and none open, as
 * the server's last reply tells, the first statement opens it: no
 * round trip.  Else START TRANSACTION (which also ends one left open).
 */
int
db_begin(struct db *d)
{
	unsigned int st;

	if (d->m != NULL && mariadb_get_infov(d->m,
	    MARIADB_CONNECTION_SERVER_STATUS, &st) == 0 &&
	    (st & (SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_IN_TRANS)) == 0)
		return 0;
	return db_exec(d, "START TRANSACTION");
}

int
db_autocommit(struct db *d, int on)
{
	if (d->m == NULL) {
		db_seterr(d, DB_BUG, 0, "autocommit: not connected");
		return -1;
	}
	if (mysql_autocommit(d->m, on ? 1 : 0) != 0) {
		db_seterr_mysql(d, d->m);
		return -1;
	}
	return 0;
}

int
db_commit(struct db *d)
{
	return db_exec(d, "COMMIT");
}

int
db_rollback(struct db *d)
{
	return db_exec(d, "ROLLBACK");
}

/* name is spliced into SQL, so only plain identifiers pass. */
static int
db_spname(struct db *d, const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != n ||
	    (name[0] >= '0' && name[0] <= '9')) {
		db_seterr(d, DB_BUG, 0, "bad savepoint name");
		return -1;
	}
	return 0;
}

static int
db_spexec(struct db *d, const char *verb, const char *name)
{
	char sql[128];

	if (db_spname(d, name) == -1)
		return -1;
	snprintf(sql, sizeof(sql), "%s %s", verb, name);
	return db_exec(d, sql);
}

int
db_savepoint(struct db *d, const char *name)
{
	return db_spexec(d, "SAVEPOINT", name);
}

int
db_rollback_to(struct db *d, const char *name)
{
	return db_spexec(d, "ROLLBACK TO SAVEPOINT", name);
}

int
db_release(struct db *d, const char *name)
{
	return db_spexec(d, "RELEASE SAVEPOINT", name);
}

/* ------------------------------------------------------------------ */
/* Prepared statements.                                               */

static void
stmt_reset(struct db_stmt *s)
{
	if (s->st != NULL)
		mysql_stmt_close(s->st);
	s->st = NULL;
	for (unsigned int i = 0; i < s->ncol; i++)
		free(s->cols[i].buf);
	free(s->cols);
	free(s->rbind);
	free(s->pbind);
	free(s->plen);
	s->cols = NULL;
	s->rbind = NULL;
	s->pbind = NULL;
	s->plen = NULL;
	s->ncol = s->nparam = 0;
}

/* Bind a result column according to its type: integer, real or text. */
static void
stmt_col_init(struct db_col *col, const MYSQL_FIELD *f)
{
	switch (f->type) {
	case MYSQL_TYPE_TINY:
	case MYSQL_TYPE_SHORT:
	case MYSQL_TYPE_LONG:
	case MYSQL_TYPE_INT24:
	case MYSQL_TYPE_LONGLONG:
	case MYSQL_TYPE_YEAR:
		col->type = MYSQL_TYPE_LONGLONG;
		col->unsig = (f->flags & UNSIGNED_FLAG) != 0;
		break;
	case MYSQL_TYPE_FLOAT:
	case MYSQL_TYPE_DOUBLE:
		col->type = MYSQL_TYPE_DOUBLE;
		break;
	default:
		col->type = MYSQL_TYPE_STRING;
		col->cap = DB_COL_INIT;
		col->buf = xmalloc(col->cap);
		break;
	}
}

static void
stmt_bind_cols(struct db_stmt *s)
{
	for (unsigned int i = 0; i < s->ncol; i++) {
		struct db_col *col = &s->cols[i];
		MYSQL_BIND *b = &s->rbind[i];

		memset(b, 0, sizeof(*b));
		b->buffer_type = col->type;
		b->is_null = &col->isnull;
		b->error = &col->err;
		b->length = &col->len;
		b->is_unsigned = col->unsig;
		if (col->type == MYSQL_TYPE_STRING) {
			b->buffer = col->buf;
			b->buffer_length = col->cap - 1;  /* room for NUL */
		} else if (col->type == MYSQL_TYPE_DOUBLE)
			b->buffer = &col->d;
		else
			b->buffer = &col->i;
	}
}

static int
stmt_prepare(struct db_stmt *s)
{
	struct db *d = s->db;
	MYSQL_RES *meta;
	MYSQL_FIELD *f;

	stmt_reset(s);
	if (db_need(d) == -1)
		return -1;
	if ((s->st = mysql_stmt_init(d->m)) == NULL) {
		db_seterr_mysql(d, d->m);
		return -1;
	}
	if (mysql_stmt_prepare(s->st, s->sql, strlen(s->sql)) != 0) {
		db_seterr_stmt(d, s->st);
		stmt_reset(s);
		return -1;
	}
	s->nparam = mysql_stmt_param_count(s->st);
	s->pbind = xcalloc(s->nparam, sizeof(*s->pbind));
	s->plen = xcalloc(s->nparam, sizeof(*s->plen));
	if ((meta = mysql_stmt_result_metadata(s->st)) != NULL) {
		s->ncol = mysql_num_fields(meta);
		f = mysql_fetch_fields(meta);
		s->cols = xcalloc(s->ncol, sizeof(*s->cols));
		s->rbind = xcalloc(s->ncol, sizeof(*s->rbind));
		for (unsigned int i = 0; i < s->ncol; i++)
			stmt_col_init(&s->cols[i], &f[i]);
		mysql_free_result(meta);
	} else if (mysql_stmt_errno(s->st) != 0) {
		db_seterr_stmt(d, s->st);
		stmt_reset(s);
		return -1;
	}
	s->gen = d->gen;
	return 0;
}

/* Prepare sql now (errors show at once) and again after reconnects. */
struct db_stmt *
db_prepare(struct db *d, const char *sql)
{
	struct db_stmt *s = xcalloc(1, sizeof(*s));

	s->db = d;
	s->sql = xstrdup(sql);
	if (stmt_prepare(s) == -1) {
		db_stmt_free(s);
		return NULL;
	}
	return s;
}

/* Execute with nval parameters; a result set is buffered client-side. */
int
db_stmt_exec(struct db_stmt *s, const struct db_val *val, size_t nval)
{
	struct db *d = s->db;

	if ((s->st == NULL || s->gen != d->gen) && stmt_prepare(s) == -1)
		return -1;
	if (nval != s->nparam) {
		db_seterr(d, DB_BUG, 2031, "statement takes %u parameters, "
		    "got %zu", s->nparam, nval);
		return -1;
	}
	if (mysql_stmt_free_result(s->st) != 0) {
		db_seterr_stmt(d, s->st);
		return -1;
	}
	for (size_t i = 0; i < nval; i++) {
		MYSQL_BIND *b = &s->pbind[i];

		memset(b, 0, sizeof(*b));
		switch (val[i].type) {
		case DB_T_NULL:
			b->buffer_type = MYSQL_TYPE_NULL;
			break;
		case DB_T_INT:
			b->buffer_type = MYSQL_TYPE_LONGLONG;
			b->buffer = (void *)&val[i].i;
			break;
		case DB_T_UINT:
			b->buffer_type = MYSQL_TYPE_LONGLONG;
			b->buffer = (void *)&val[i].u;
			b->is_unsigned = 1;
			break;
		case DB_T_DOUBLE:
			b->buffer_type = MYSQL_TYPE_DOUBLE;
			b->buffer = (void *)&val[i].d;
			break;
		case DB_T_TEXT:
		case DB_T_BLOB:
			b->buffer_type = val[i].type == DB_T_TEXT ?
			    MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
			b->buffer = (void *)(val[i].s.p ? val[i].s.p : "");
			s->plen[i] = val[i].s.len;
			b->buffer_length = s->plen[i];
			b->length = &s->plen[i];
			break;
		default:
			db_seterr(d, DB_BUG, 2036, "parameter %zu: bad type",
			    i + 1);
			return -1;
		}
	}
	if ((s->nparam > 0 && mysql_stmt_bind_param(s->st, s->pbind) != 0) ||
	    mysql_stmt_execute(s->st) != 0) {
		db_seterr_stmt(d, s->st);
		return -1;
	}
	if (s->ncol > 0) {
		stmt_bind_cols(s);
		if (mysql_stmt_bind_result(s->st, s->rbind) != 0 ||
		    mysql_stmt_store_result(s->st) != 0) {
			db_seterr_stmt(d, s->st);
			return -1;
		}
	}
	return 0;
}

/* The next row: 1, or 0 at the end, or -1; long text is fetched whole. */
int
db_stmt_fetch(struct db_stmt *s)
{
	struct db *d = s->db;
	int r, rebind = 0;

	if (s->st == NULL || s->ncol == 0)
		return 0;
	r = mysql_stmt_fetch(s->st);
	if (r == MYSQL_NO_DATA)
		return 0;
	if (r == 1) {
		db_seterr_stmt(d, s->st);
		return -1;
	}
	for (unsigned int i = 0; i < s->ncol; i++) {
		struct db_col *col = &s->cols[i];

		if (col->isnull || col->type != MYSQL_TYPE_STRING)
			continue;
		if (col->len >= col->cap) {
			free(col->buf);
			col->cap = (size_t)col->len + 1;
			col->buf = xmalloc(col->cap);
			s->rbind[i].buffer = col->buf;
			s->rbind[i].buffer_length = col->cap - 1;
			if (mysql_stmt_fetch_column(s->st, &s->rbind[i], i,
			    0) != 0) {
				db_seterr_stmt(d, s->st);
				return -1;
			}
			rebind = 1;
		}
		col->buf[col->len] = '\0';
	}
	if (r == MYSQL_DATA_TRUNCATED && !rebind) {
		db_seterr(d, DB_BUG, 0, "a numeric column does not fit");
		return -1;
	}
	if (rebind && mysql_stmt_bind_result(s->st, s->rbind) != 0) {
		db_seterr_stmt(d, s->st);
		return -1;
	}
	return 1;
}

unsigned int
db_col_count(const struct db_stmt *s)
{
	return s->ncol;
}

int
db_col_null(const struct db_stmt *s, unsigned int i)
{
	return i >= s->ncol || s->cols[i].isnull;
}

long long
db_col_int(const struct db_stmt *s, unsigned int i)
{
	const struct db_col *col;

	if (db_col_null(s, i))
		return 0;
	col = &s->cols[i];
	if (col->type == MYSQL_TYPE_LONGLONG)
		return col->unsig && col->u > (unsigned long long)LLONG_MAX ?
		    LLONG_MAX : col->i;
	if (col->type == MYSQL_TYPE_DOUBLE)
		return (long long)col->d;
	return strtoll(col->buf, NULL, 10);
}

unsigned long long
db_col_uint(const struct db_stmt *s, unsigned int i)
{
	const struct db_col *col;

	if (db_col_null(s, i))
		return 0;
	col = &s->cols[i];
	if (col->type == MYSQL_TYPE_LONGLONG)
		return !col->unsig && col->i < 0 ? 0 : col->u;
	if (col->type == MYSQL_TYPE_DOUBLE)
		return col->d < 0 ? 0 : (unsigned long long)col->d;
	return strtoull(col->buf, NULL, 10);
}

double
db_col_double(const struct db_stmt *s, unsigned int i)
{
	const struct db_col *col;

	if (db_col_null(s, i))
		return 0;
	col = &s->cols[i];
	if (col->type == MYSQL_TYPE_DOUBLE)
		return col->d;
	if (col->type == MYSQL_TYPE_LONGLONG)
		return col->unsig ? (double)col->u : (double)col->i;
	return strtod(col->buf, NULL);
}

const char *
db_col_text(struct db_stmt *s, unsigned int i, size_t *len)
{
	struct db_col *col;
	int n;

	if (db_col_null(s, i)) {
		if (len != NULL)
			*len = 0;
		return NULL;
	}
	col = &s->cols[i];
	if (col->type == MYSQL_TYPE_STRING) {
		if (len != NULL)
			*len = col->len;
		return col->buf;
	}
	if (col->type == MYSQL_TYPE_DOUBLE)
		n = snprintf(col->num, sizeof(col->num), "%.17g", col->d);
	else if (col->unsig)
		n = snprintf(col->num, sizeof(col->num), "%llu", col->u);
	else
		n = snprintf(col->num, sizeof(col->num), "%lld", col->i);
	if (len != NULL)
		*len = n > 0 ? (size_t)n : 0;
	return col->num;
}

unsigned long long
db_stmt_affected(const struct db_stmt *s)
{
	return s->st ? mysql_stmt_affected_rows(s->st) : 0;
}

unsigned long long
db_stmt_insert_id(const struct db_stmt *s)
{
	return s->st ? mysql_stmt_insert_id(s->st) : 0;
}

void
db_stmt_free(struct db_stmt *s)
{
	if (s == NULL)
		return;
	stmt_reset(s);
	free(s->sql);
	free(s);
}
