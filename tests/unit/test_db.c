/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/db.c that need no server: the error classification
 * table, exit codes, the backoff schedule, [db] configuration with
 * per-tool overrides, and password files.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf.h"
#include "db.h"

#include "check.h"

static void
test_classify(void)
{
	static const struct {
		unsigned int	 code;
		enum db_class	 want;
		const char	*name;
	} t[] = {
		{ 0, DB_OK, NULL },
		/* Server away or busy: retry later. */
		{ 2002, DB_TEMP, "CR_CONNECTION_ERROR" },
		{ 2003, DB_TEMP, "CR_CONN_HOST_ERROR" },
		{ 2006, DB_TEMP, "CR_SERVER_GONE_ERROR" },
		{ 2013, DB_TEMP, "CR_SERVER_LOST" },
		{ 1053, DB_TEMP, "ER_SERVER_SHUTDOWN" },
		{ 1927, DB_TEMP, "ER_CONNECTION_KILLED" },
		{ 1205, DB_TEMP, "ER_LOCK_WAIT_TIMEOUT" },
		{ 1213, DB_TEMP, "ER_LOCK_DEADLOCK" },
		{ 1040, DB_TEMP, "ER_CON_COUNT_ERROR" },
		{ 1021, DB_TEMP, "ER_DISK_FULL" },
		{ 1290, DB_TEMP, "ER_OPTION_PREVENTS_STATEMENT" },
		{ 1836, DB_TEMP, "ER_READ_ONLY_MODE" },
		{ 1047, DB_TEMP, "ER_UNKNOWN_COM_ERROR" },
		{ 1969, DB_TEMP, "ER_STATEMENT_TIMEOUT" },
		{ 5013, DB_TEMP, "CR_ERR_NET_READ" },
		/* Values the schema cannot hold (strict mode). */
		{ 1406, DB_DATA, "ER_DATA_TOO_LONG" },
		{ 1264, DB_DATA, "ER_WARN_DATA_OUT_OF_RANGE" },
		{ 1366, DB_DATA, "ER_TRUNCATED_WRONG_VALUE_FOR_FIELD" },
		{ 1292, DB_DATA, "ER_TRUNCATED_WRONG_VALUE" },
		{ 1265, DB_DATA, "WARN_DATA_TRUNCATED" },
		{ 1048, DB_DATA, "ER_BAD_NULL_ERROR" },
		{ 1300, DB_DATA, "ER_INVALID_CHARACTER_STRING" },
		{ 1365, DB_DATA, "ER_DIVISION_BY_ZERO" },
		{ 4025, DB_DATA, "ER_CONSTRAINT_FAILED" },
		{ 1153, DB_DATA, "ER_NET_PACKET_TOO_LARGE" },
		/* Duplicates. */
		{ 1062, DB_DUP, "ER_DUP_ENTRY" },
		{ 1586, DB_DUP, "ER_DUP_ENTRY_WITH_KEY_NAME" },
		/* The operator must act. */
		{ 1045, DB_CONFIG, "ER_ACCESS_DENIED_ERROR" },
		{ 1044, DB_CONFIG, "ER_DBACCESS_DENIED_ERROR" },
		{ 1049, DB_CONFIG, "ER_BAD_DB_ERROR" },
		{ 1142, DB_CONFIG, "ER_TABLEACCESS_DENIED_ERROR" },
		{ 1146, DB_CONFIG, "ER_NO_SUCH_TABLE" },
		{ 1054, DB_CONFIG, "ER_BAD_FIELD_ERROR" },
		{ 2026, DB_CONFIG, "CR_SSL_CONNECTION_ERROR" },
		{ 4151, DB_CONFIG, "ER_ACCOUNT_HAS_BEEN_LOCKED" },
		/* Our own mistakes. */
		{ 1064, DB_BUG, "ER_PARSE_ERROR" },
		{ 1136, DB_BUG, "ER_WRONG_VALUE_COUNT_ON_ROW" },
		{ 1364, DB_BUG, "ER_NO_DEFAULT_FOR_FIELD" },
		{ 2014, DB_BUG, "CR_COMMANDS_OUT_OF_SYNC" },
		{ 2031, DB_BUG, "CR_PARAMS_NOT_BOUND" },
		/* Unknown numbers: client side retries, server side stops. */
		{ 1999, DB_BUG, NULL },
		{ 4999, DB_BUG, NULL },
		{ 9999, DB_BUG, NULL },
		{ 2999, DB_TEMP, NULL },
		{ 5999, DB_TEMP, NULL },
	};
	char what[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(what, sizeof(what), "db_classify(%u)", t[i].code);
		CHECK_STR(what, db_class_name(db_classify(t[i].code)),
		    db_class_name(t[i].want));
		snprintf(what, sizeof(what), "db_errname(%u)", t[i].code);
		CHECK_STR(what, db_errname(t[i].code), t[i].name);
	}
}

static void
test_class_exit(void)
{
	static const struct {
		enum db_class	 c;
		const char	*name;
		int		 ex;
	} t[] = {
		{ DB_OK, "ok", EX_OK },
		{ DB_TEMP, "temp", EX_TEMPFAIL },
		{ DB_DATA, "data", EX_DATAERR },
		{ DB_DUP, "dup", EX_DATAERR },
		{ DB_CONFIG, "config", EX_CONFIG },
		{ DB_BUG, "bug", EX_SOFTWARE },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECK_STR("db_class_name", db_class_name(t[i].c), t[i].name);
		CHECK_INT(t[i].name, db_class_exit(t[i].c), t[i].ex);
	}
}

static void
test_backoff(void)
{
	static const unsigned int want[] = { 100, 200, 400, 800, 1600, 3200,
	    5000, 5000 };
	unsigned int d = 100;

	for (size_t i = 1; i < sizeof(want) / sizeof(want[0]); i++) {
		d = db_backoff(d, 5000);
		CHECK_INT("db_backoff step", d, want[i]);
	}
	CHECK_INT("db_backoff(0)", db_backoff(0, 5000), 1);
	CHECK_INT("db_backoff(2500)", db_backoff(2500, 5000), 5000);
	CHECK_INT("db_backoff(2501)", db_backoff(2501, 5000), 5000);
	CHECK_INT("db_backoff(UINT_MAX)", db_backoff(UINT_MAX, UINT_MAX),
	    UINT_MAX);
	CHECK_INT("db_backoff(3, 4)", db_backoff(3, 4), 4);
}

static struct conf *
parse(const char *text)
{
	char err[256] = "";
	struct conf *c = conf_parse(text, strlen(text), "test.conf", err,
	    sizeof(err));

	CHECK(c != NULL, "conf_parse: %s", err);
	return c;
}

static const char full[] =
	"port 41121\n"			/* Tentacle's, not the database's */
	"user octospool\n"
	"[db]\n"
	"host db.example\n"
	"port 3307\n"
	"socket /run/mysqld/mysqld.sock\n"
	"ssl_ca /etc/octospool/db-ca.crt\n"
	"user default_user\n"
	"password_file /etc/octospool/default.pw\n"
	"read_timeout 60\n"
	"retry_time 2\n"
	"[db-load]\n"
	"db_user octo_db_load\n"
	"db_password_file /etc/octospool/db-load.pw\n"
	"db_ssl_cert /etc/octospool/db-client.crt\n"
	"db_ssl_key /etc/octospool/db-client.key\n"
	"[agent-auth]\n"
	"db_user octo_agent_auth\n"
	"db_protocol socket\n"
	"db_lock_wait_timeout 0\n"
	"db_ssl_cipher ECDHE-ECDSA-CHACHA20-POLY1305\n";

static void
test_conf_full(void)
{
	struct conf *c = parse(full);
	struct db_conf dc;
	char err[256] = "";

	if (c == NULL)
		return;
	CHECK_INT("load db-load", db_conf_load(&dc, c, "db-load", err,
	    sizeof(err)), 0);
	CHECK_STR("host", dc.host, "db.example");
	CHECK_INT("port", dc.port, 3307);
	CHECK_INT("protocol", dc.protocol, DB_PROTO_TCP);
	CHECK_STR("name", dc.name, "pandora");
	CHECK_STR("user", dc.user, "octo_db_load");
	CHECK_STR("password_file", dc.password_file,
	    "/etc/octospool/db-load.pw");
	CHECK_STR("ssl_ca", dc.ssl_ca, "/etc/octospool/db-ca.crt");
	CHECK_STR("ssl_cert", dc.ssl_cert, "/etc/octospool/db-client.crt");
	CHECK_STR("ssl_key", dc.ssl_key, "/etc/octospool/db-client.key");
	CHECK_STR("tls_version", dc.tls_version, "TLSv1.2,TLSv1.3");
	CHECK_HAS("ssl_cipher default", dc.ssl_cipher,
	    "ECDHE-ECDSA-AES256-GCM-SHA384");
	CHECK(strstr(dc.ssl_cipher, "CBC") == NULL &&
	    strstr(dc.ssl_cipher, "-SHA:") == NULL,
	    "ssl_cipher default: got %s, want AEAD suites only", dc.ssl_cipher);
	CHECK_INT("connect_timeout", dc.connect_timeout, 5);
	CHECK_INT("read_timeout", dc.read_timeout, 60);
	CHECK_INT("write_timeout", dc.write_timeout, 30);
	CHECK_INT("lock_wait_timeout", dc.lock_wait_timeout, 10);
	CHECK_INT("retry_time ms", dc.retry_time, 2000);
	CHECK_INT("retry_delay", dc.retry_delay, 100);
	CHECK_INT("retry_max_delay", dc.retry_max_delay, 5000);
	db_conf_free(&dc);

	CHECK_INT("load agent-auth", db_conf_load(&dc, c, "agent-auth", err,
	    sizeof(err)), 0);
	CHECK_INT("agent-auth protocol", dc.protocol, DB_PROTO_SOCKET);
	CHECK_STR("agent-auth socket", dc.socket, "/run/mysqld/mysqld.sock");
	CHECK_STR("agent-auth user", dc.user, "octo_agent_auth");
	CHECK_STR("agent-auth password_file from [db]", dc.password_file,
	    "/etc/octospool/default.pw");
	CHECK_INT("agent-auth lock_wait_timeout", dc.lock_wait_timeout, 0);
	CHECK_STR("agent-auth ssl_cipher", dc.ssl_cipher,
	    "ECDHE-ECDSA-CHACHA20-POLY1305");
	db_conf_free(&dc);

	/* No tool, or a tool without a section: [db] alone. */
	CHECK_INT("load NULL", db_conf_load(&dc, c, NULL, err, sizeof(err)),
	    0);
	CHECK_STR("NULL user", dc.user, "default_user");
	CHECK_INT("NULL port", dc.port, 3307);
	db_conf_free(&dc);
	CHECK_INT("load other", db_conf_load(&dc, c, "audit-export", err,
	    sizeof(err)), 0);
	CHECK_STR("other user", dc.user, "default_user");
	db_conf_free(&dc);
	CHECK_INT("db_conf_check", db_conf_check(c, err, sizeof(err)), 0);
	conf_free(c);

	/* The top part is never read: its port is Tentacle's. */
	c = parse("port 41121\nhost top.example\nssl_ca /x\n"
	    "[db]\nuser u\nsocket /s\n");
	if (c == NULL)
		return;
	CHECK_INT("top part ignored", db_conf_load(&dc, c, "x", err,
	    sizeof(err)), 0);
	CHECK_INT("top port", dc.port, 3306);
	CHECK(dc.host == NULL, "top host: got %s, want NULL", dc.host);
	CHECK_INT("top: socket protocol", dc.protocol, DB_PROTO_SOCKET);
	db_conf_free(&dc);
	conf_free(c);

	/* The same value at the top and in [db] still counts for [db]. */
	c = parse("port 3310\n[db]\nport 3310\nhost h\nssl_ca /ca\nuser u\n");
	if (c == NULL)
		return;
	CHECK_INT("same value", db_conf_load(&dc, c, NULL, err, sizeof(err)),
	    0);
	CHECK_INT("same value port", dc.port, 3310);
	db_conf_free(&dc);
	conf_free(c);
}

static void
test_conf_errors(void)
{
	static const struct {
		const char	*text;
		const char	*msg;
	} t[] = {
		{ "[db]\nhost h\nssl_ca /ca\n", "user" },
		{ "[db]\nuser u\n", "set host" },
		{ "[db]\nuser u\nhost h\n", "ssl_ca" },
		{ "[db]\nuser u\nhost h\nssl_ca /ca\nprotocol udp\n",
		    "not tcp or socket" },
		{ "[db]\nuser u\nsocket /s\nprotocol tcp\n", "host" },
		{ "[db]\nuser u\nsocket rel/s\n", "absolute" },
		{ "[db]\nuser u\nhost h\nssl_ca /ca\nport 0\n", "port" },
		{ "[db]\nuser u\nhost h\nssl_ca /ca\nport 65536\n", "port" },
		{ "[db]\nuser u\nhost h\nssl_ca /ca\nport 33x\n", "port" },
		{ "[db]\nuser u\nhost h\nssl_ca /ca\nssl_cert /c\n",
		    "ssl_cert and ssl_key" },
		{ "[db]\nuser u\nhost h\nssl_ca /ca\nssl_key /k\n",
		    "ssl_cert and ssl_key" },
		{ "[db]\nuser u\nsocket /s\nconnect_timeout 0\n",
		    "connect_timeout" },
		{ "[db]\nuser u\nsocket /s\nretry_time 86401\n",
		    "retry_time" },
		{ "[db]\nuser u\nsocket /s\n[t]\ndb_read_timeout -1\n",
		    "[t] db_read_timeout" },
		/* A tool may not switch verification off by dropping the CA. */
		{ "[db]\nuser u\nsocket /s\n[t]\ndb_protocol tcp\n"
		    "db_host h\n", "ssl_ca" },
	};
	struct db_conf dc;
	char err[256], what[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct conf *c = parse(t[i].text);

		if (c == NULL)
			continue;
		err[0] = '\0';
		snprintf(what, sizeof(what), "error case %zu", i);
		CHECK_INT(what, db_conf_load(&dc, c, "t", err, sizeof(err)),
		    -1);
		CHECK_HAS(what, err, t[i].msg);
		conf_free(c);
	}

	/* Unknown keys in [db]. */
	{
		struct conf *c = parse("[db]\nuser u\nsocket /s\npasword x\n");

		if (c != NULL) {
			CHECK_INT("check unknown",
			    db_conf_check(c, err, sizeof(err)), -1);
			CHECK_HAS("check unknown", err, "pasword");
			conf_free(c);
		}
	}
}

static void
put(const char *path, const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)
	    || fchmod(fd, mode) == -1 || close(fd) == -1)
		printf("test_db: cannot write %s: %s\n", path,
		    strerror(errno));
}

static void
test_password(const char *dir)
{
	static const struct {
		const char	*text;
		mode_t		 mode;
		const char	*want;	/* NULL: error containing msg */
		const char	*msg;
	} t[] = {
		{ "s3cret\n", 0600, "s3cret", NULL },
		{ "s3cret\n", 0640, "s3cret", NULL },
		{ "s3cret\n", 0400, "s3cret", NULL },
		{ "s3cret", 0600, "s3cret", NULL },
		{ "s3cret\r\nsecond line\n", 0600, "s3cret", NULL },
		{ "with space and 'quote'\n", 0600,
		    "with space and 'quote'", NULL },
		{ "s3cret\n", 0644, NULL, "0644" },
		{ "s3cret\n", 0604, NULL, "chmod 0640" },
		{ "s3cret\n", 0602, NULL, "0602" },
		{ "\nsecond\n", 0600, NULL, "empty" },
		{ "", 0600, NULL, "empty" },
	};
	char path[PATH_MAX], buf[64], err[256], what[64];

	if ((size_t)snprintf(path, sizeof(path), "%s/pw", dir) >=
	    sizeof(path))
		return;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc;

		put(path, t[i].text, t[i].mode);
		err[0] = '\0';
		strcpy(buf, "untouched");
		rc = db_read_password(path, buf, sizeof(buf), err,
		    sizeof(err));
		snprintf(what, sizeof(what), "password case %zu", i);
		if (t[i].want != NULL) {
			CHECK(rc == 0, "%s: got -1 (%s), want 0", what, err);
			CHECK_STR(what, buf, t[i].want);
		} else {
			CHECK_INT(what, rc, -1);
			CHECK_HAS(what, err, t[i].msg);
			CHECK_STR("buffer left alone", buf, "untouched");
		}
	}

	/* Longer than the caller's buffer. */
	put(path, "0123456789abcdef\n", 0600);
	CHECK_INT("too long", db_read_password(path, buf, 8, err,
	    sizeof(err)), -1);
	CHECK_HAS("too long", err, "too long");
	unlink(path);

	CHECK_INT("missing", db_read_password(path, buf, sizeof(buf), err,
	    sizeof(err)), -1);
	CHECK_HAS("missing", err, "No such file");
	CHECK_INT("directory", db_read_password(dir, buf, sizeof(buf), err,
	    sizeof(err)), -1);
	CHECK_HAS("directory", err, "not a regular file");
}

/* Host lists: each server's name and port, and what is refused. */
static void
test_host_list(void)
{
	static const struct {
		const char	*list;
		unsigned int	 i;
		int		 r;
		const char	*name;
		unsigned int	 port;
	} t[] = {
		{ "db1", 0, 0, "db1", 3306 },
		{ "db1", 1, 1, NULL, 0 },
		{ "db1,db2:3307,10.0.0.3", 0, 0, "db1", 3306 },
		{ "db1,db2:3307,10.0.0.3", 1, 0, "db2", 3307 },
		{ "db1,db2:3307,10.0.0.3", 2, 0, "10.0.0.3", 3306 },
		{ "db1,db2:3307,10.0.0.3", 3, 1, NULL, 0 },
		{ "[::1]:3308,[fe80::1%eth0]", 0, 0, "::1", 3308 },
		{ "[::1]:3308,[fe80::1%eth0]", 1, 0, "fe80::1%eth0", 3306 },
		{ "::1", 0, -1, NULL, 0 },
		{ "db1,,db2", 1, -1, NULL, 0 },
		{ "db1,", 1, -1, NULL, 0 },
		{ "db1:0", 0, -1, NULL, 0 },
		{ "db1:65536", 0, -1, NULL, 0 },
		{ "db1:33a", 0, -1, NULL, 0 },
		{ "db1:", 0, -1, NULL, 0 },
		{ ":3306", 0, -1, NULL, 0 },
		{ "[]:3306", 0, -1, NULL, 0 },
		{ "[::1]x", 0, -1, NULL, 0 },
		{ "db 1", 0, -1, NULL, 0 },
		{ "db1;DROP", 0, -1, NULL, 0 },
		{ "db'1", 0, -1, NULL, 0 },
	};
	char name[DB_HOST_MAX], what[128];
	unsigned int port;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = db_host_at(t[i].list, t[i].i, name, sizeof(name),
		    &port, 3306);

		snprintf(what, sizeof(what), "db_host_at(\"%s\", %u)",
		    t[i].list, t[i].i);
		CHECK_INT(what, r, t[i].r);
		if (r == 0 && t[i].r == 0) {
			CHECK_STR(what, name, t[i].name);
			CHECK_INT(what, port, t[i].port);
		}
	}
	/* A name longer than the buffer: refused, not cut. */
	CHECK_INT("db_host_at long", db_host_at("abcdefgh", 0, name, 8,
	    &port, 3306), -1);
}

int
main(void)
{
	const char *t = getenv("TMPDIR");
	char dir[PATH_MAX];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (t == NULL || *t == '\0')
		t = "/tmp";
	if ((size_t)snprintf(dir, sizeof(dir), "%s/test_db.XXXXXX", t) >=
	    sizeof(dir) || mkdtemp(dir) == NULL) {
		printf("test_db: mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_classify();
	test_class_exit();
	test_backoff();
	test_conf_full();
	test_conf_errors();
	test_host_list();
	test_password(dir);
	if (rmdir(dir) == -1)
		printf("test_db: cannot remove %s: %s\n", dir,
		    strerror(errno));
	return check_report("test_db");
}
