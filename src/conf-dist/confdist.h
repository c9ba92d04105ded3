/* SPDX-License-Identifier: ISC */
/* conf-dist: shared declarations (see conf-dist(8)). */
#ifndef CONFDIST_H
#define CONFDIST_H

#include <sys/types.h>

#include <stddef.h>
#include <stdio.h>

#include <openssl/evp.h>

#include "audit.h"
#include "db.h"
#include "sig.h"

#define CD_SECTION	"conf-dist"
#define CD_TOOL		"conf-dist"
#define CD_AGENT_MAX	255		/* bytes of an agent name */
#define CD_KEY_LEN	32		/* md5 hex */
#define CD_MSG_MAX	32		/* lint messages kept */
#define CD_SIG_LEN	SIG_LEN		/* Ed25519 */

/* An ACL rule: a pattern (agent glob, Pandora group, collection glob)
 * and the unix groups (gids) whose members it admits. */
struct cd_rule {
	char	*pattern;
	gid_t	*gids;
	char	**gnames;
	size_t	 ngids;
};

struct cd_rules {
	struct cd_rule	*r;
	size_t		 n;
};

struct cd_conf {
	char		*spool_dir;
	char		*user;
	char		*audit_spool;
	char		*out_dir;	/* spool/conf-dist/out */
	char		*submit_dir;	/* spool/conf-dist/submit (queue) */
	char		*uploads_dir;	/* spool/conf-dist/uploads (queue) */
	char		*sign_key;
	char		*sign_pubkey;
	char		*upload_producer;	/* who writes uploads/ */
	char		*recv_pubkey;		/* NULL: "none" */
	struct cd_rules	 acl_agents;	/* agent name glob -> groups */
	struct cd_rules	 acl_groups;	/* Pandora group ("*": any) */
	struct cd_rules	 acl_collections;
	struct cd_rules	 acl_commands;
	char		**readonly;	/* agent name globs */
	size_t		 nreadonly;
	char		**lint_allow;	/* tokens exempt from the shell rules */
	size_t		 nallow;
	long long	 max_size;	/* agent configuration bytes */
	long long	 coll_max_size;	/* collection: all files */
	long long	 coll_max_files;
	long long	 upload_max_age;	/* seconds; 0: never expire */
	long long	 upload_max_items;
	int		 registry_db;	/* read groups, read_only from the DB */
	int		 cluster_db;	/* publications through the DB */
	char		**cluster_pubkeys;	/* the other nodes' keys */
	size_t		 ncluster_pubkeys;
	char		*node;		/* server_name */
	long long	 cluster_poll;	/* sync -f: seconds between passes */
	long long	 cluster_full;	/* seconds between full passes */
	long long	 cluster_lookback;	/* seconds a pass looks back */
	struct db_conf	 db;
	const struct conf *conf;
};

/* Who asks: the kernel's word (real uid, file owner), never the file's. */
struct cd_who {
	uid_t	 uid;
	gid_t	 gid;
	char	 name[64];
	gid_t	 groups[256];
	int	 ngroups;
	const char *via;		/* "direct" or "queue" */
	const char *item;		/* queue item name, or NULL */
	char	 sudo_user[64];		/* informational only */
};

/* What a served file is for (the manifest's second line). */
enum cd_kind {
	CD_AGENT,		/* Agent: <key> */
	CD_COLLECTION,		/* Collection: <name> */
	CD_COMMAND,		/* Command: <ref> */
	CD_ANY			/* expect: a collection or a command */
};

/* ---- main.c ---- */

extern struct cd_conf cd_cf;
int	 cd_am_service(void);
void	 cd_become_service(void);
EVP_PKEY *cd_signing_key(void);
void	 cd_audit_who(struct audit_buf *, const struct cd_who *);
/* A "refused" event for action: field = name, who, the reason. */
void	 cd_audit_refusal(const char *action, const char *field,
	    const char *name, const struct cd_who *, const char *why);
/* Read a whole file the caller names ("-": stdin), at most max bytes;
 * exits on error. */
char	*cd_read_input(const char *path, size_t max, size_t *len);

/* ---- collection.c, command.c ---- */

struct cd_out;
int	 cmd_collection_publish(const char *name, const char *dir);
int	 cmd_command_publish(const char *ref, const char *path);
/* A collection or command name (what: "collections", "commands"). */
int	 cd_name_ok(const char *what, const char *name, char *why,
	    size_t whylen);
/* Is name already the other kind's (they share md5/)?  1 yes. */
int	 cd_shelf_taken(struct cd_out *, enum cd_kind, const char *name,
	    char *why, size_t whylen);
/* Rewrite collections/NAME.acl and commands/NAME.acl (sorted
 * md5hex(agent_name) lines) from the published confs' file_collection
 * and cmd_file tokens; tree locked.  0 or -1. */
int	 coll_acl_sync(struct cd_out *, char *err, size_t errlen);

/* ---- agentconf.c: the agent configuration language ---- */

struct ac_line {
	unsigned	 lineno;
	char		*key;		/* token */
	char		*val;		/* value, trailing blanks removed */
	int		 module;	/* module block (1..), 0 global */
};

struct ac_module {
	char		*id;		/* "module[NAME]" or "module#N" */
	unsigned	 first_line;
};

struct agentconf {
	struct ac_line	*lines;
	size_t		 n;
	struct ac_module *mods;
	size_t		 nmods;
	const char	*agent_name;	/* last agent_name value, or NULL */
	const char	*group;		/* last group value, or NULL */
};

struct ac_msgs {
	char	*msg[CD_MSG_MAX];
	size_t	 n;			/* kept */
	size_t	 total;			/* found */
};

/* Parse (syntax errors go to msgs); NULL only if nothing could be read. */
struct agentconf *ac_parse(const char *buf, size_t len, struct ac_msgs *);
void	 ac_free(struct agentconf *);
/* The shell and identity rules for agent; messages carry line numbers. */
void	 ac_lint(const struct agentconf *, const char *agent,
	    char *const *allow, size_t nallow, struct ac_msgs *);
void	 ac_msg(struct ac_msgs *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 ac_msgs_free(struct ac_msgs *);
/* Is the token's value a secret that never goes into logs or audit? */
int	 ac_secret(const char *key);
/* Add the diff old -> new as "changes" to the audit event in ab. */
void	 ac_diff_audit(struct audit_buf *, const struct agentconf *old,
	    const struct agentconf *new, size_t budget, size_t *nchanges);
/* The configuration without secrets (adopt); agent_name added if absent. */
char	*ac_strip(const char *buf, size_t len, const struct agentconf *,
	    const char *agent, size_t *outlen, size_t *nstripped);

/* ---- manifest.c: the signed manifest FILE.sig ---- */

#define CD_MANIFEST_MAX	1024

struct cd_manifest {
	enum cd_kind	 kind;
	char		 subject[256];	/* agent key or name */
	char		 file[256];	/* the served name */
	long long	 size;
	char		 sha256[65];
	unsigned long long serial;
	char		 time[32];
	char		 keyid[SIG_KEYID_LEN + 1];
};

struct cd_out;
const char *manifest_kind_name(enum cd_kind);
/* Fill m and write the signed manifest text into out: its length, or
 * -1. */
int	 manifest_make(struct cd_manifest *m, enum cd_kind, const char *subject,
	    const char *file, const void *data, size_t len,
	    unsigned long long serial, EVP_PKEY *key, char *out, size_t outlen);
/* Parse a manifest and, with pub, check its signature and key id: 0 ok,
 * -1 with err. */
int	 manifest_parse(const char *buf, size_t len, struct cd_manifest *,
	    EVP_PKEY *pub, char *err, size_t errlen);
/* Is m for this kind and subject, this file name and these bytes?  1 yes;
 * 0 no, with err. */
int	 manifest_binds(const struct cd_manifest *, enum cd_kind,
	    const char *subject, const char *file, const void *data,
	    size_t len, char *err, size_t errlen);
/* What the served name says the manifest is for: 0, or -1 unknown. */
int	 manifest_expect(const char *file, enum cd_kind *, char *subject,
	    size_t slen);
/* The next serial, at least floor (served tree locked): 0, or -1 with
 * errno. */
int	 out_serial_next(struct cd_out *, unsigned long long floor,
	    unsigned long long *serial);

/* ---- out.c: the served tree, the audit queue, hashing ---- */

struct cd_out {
	int	 dirfd, conffd, md5fd, collfd, cmdfd, lockfd;
};

int	 out_open(struct cd_out *, const char *path, char *err, size_t);
void	 out_close(struct cd_out *);
int	 out_lock(struct cd_out *);
/* Read a served file whole (at most max bytes): NULL and errno ENOENT
 * if it does not exist. */
char	*out_read(int dirfd, const char *name, size_t max, size_t *len);
/* temp + fsync + rename + fsync(dir): the file appears whole or not. */
int	 out_write(int dirfd, const char *name, const void *buf, size_t len);
void	 out_unlock(struct cd_out *);
/* One file of a publication: where it is served, and its manifest. */
struct cd_pub {
	int		 dirfd;
	const char	*dir;		/* "conf", "md5", "collections",
					 * "commands" */
	const char	*name;
	const void	*buf;
	size_t		 len;
	unsigned long long serial;	/* set by out_sign */
	char		 sig[CD_MANIFEST_MAX];
	size_t		 siglen;
};
/* The manifests of n files for kind and subject, serials above every
 * one given before and at least floor.  Tree locked.  0, -1 (errno). */
int	 out_sign(struct cd_out *, struct cd_pub *, size_t n,
	    unsigned long long floor, EVP_PKEY *key, enum cd_kind,
	    const char *subject);
/* Serve one signed file: name.sig first, then name. */
int	 out_put(const struct cd_pub *);
/* Does the served name still hold exactly buf, with a name.sig that
 * this key signed for kind and subject? */
int	 out_is_current(int dirfd, const char *name, const void *buf,
	    size_t len, EVP_PKEY *key, enum cd_kind, const char *subject);
void	 md5_hex(const void *, size_t, char hex[33]);
void	 sha256_hex(const void *, size_t, char hex[65]);
/* Commit ab as one event file into the audit queue; -1 on failure. */
int	 audit_commit(const char *audit_spool, struct audit_buf *ab);
/* Raw JSON (already valid) into an event under construction. */
void	 audit_raw(struct audit_buf *, const char *s);
/* A JSON string value (quoted, escaped, cut to max bytes). */
void	 audit_jstr(struct audit_buf *, const char *s, size_t len,
	    size_t max);
/* Test hook (PIPELINE_CRASH_AT): _exit(99) at the named point. */
void	 cd_crash_point(const char *point);

/* ---- cluster.c: the served tree shared by every node (cluster db) ---- */

/* Sign a publication (out_sign) and, with "cluster db", put its files
 * into the database in one transaction first, above the cluster's
 * serials.  Tree locked.  0; -1 local I/O (errno); -2 the database, for
 * now (retry); -3 the database's configuration; err says why. */
int	 cd_publish(struct cd_out *, struct cd_pub *, size_t n, enum cd_kind,
	    const char *subject, char *err, size_t errlen);
/* cd_publish, then serve the files in order (the crash points of
 * PIPELINE_CRASH_AT after the first and the second): EX_OK, or
 * EX_TEMPFAIL, EX_CONFIG, EX_IOERR with err. */
int	 cd_publish_serve(struct cd_out *, struct cd_pub *, size_t n,
	    enum cd_kind, const char *subject, char *err, size_t errlen);
/* The keys a manifest may be signed with: sign_pubkey and, with "cluster
 * db", cluster_pubkeys.  Loaded once; exits 78 on a bad key file. */
struct cd_keys {
	EVP_PKEY	**k;
	char		(*id)[SIG_KEYID_LEN + 1];
	size_t		 n;
};
void	 cd_keys_load(struct cd_keys *, char *const *paths, size_t n);
void	 cd_keys_free(struct cd_keys *);
/* manifest_parse with whichever of the keys the manifest names. */
int	 cd_manifest_check(const struct cd_keys *, const char *buf,
	    size_t len, struct cd_manifest *, char *err, size_t errlen);
int	 cmd_sync(int argc, char **argv);

/* ---- dbconn.c: the one database connection (registry, cluster) ---- */

struct db;
struct db_stmt;
/* The connection (NULL before cd_db_open). */
struct db *cd_db(void);
/* Open or, after a temporary failure, connect again (the next server of
 * the list): 0; -2 temporary, -3 configuration, with err ("WHO: ..."). */
int	 cd_db_open(const char *who, char *err, size_t errlen);
/* The last statement's error into err ("WHO server: WHAT: ..."): -2
 * temporary (connect again before the next statement), -3 otherwise
 * (the connection closed). */
int	 cd_db_fail(const char *who, const char *what, char *err,
	    size_t errlen);
/* Did the last failure come after a connection (a retry may pass)? */
int	 cd_db_retry(void);
/* *slot prepared once per connection (freed by cd_db_close). */
struct db_stmt *cd_db_stmt(struct db_stmt **slot, const char *sql);
void	 cd_db_close(void);

/* ---- acl.c: who may configure what ---- */

int	 acl_parse(struct cd_rules *, const char *spec, const char *key,
	    char *err, size_t errlen);
void	 acl_free(struct cd_rules *);
int	 who_init(struct cd_who *, uid_t uid, const char *via,
	    const char *item);
/* Registry facts about an agent: its group (if known), read-only flag. */
struct cd_facts {
	char	 group[256];	/* "" unknown */
	int	 have_group;
	int	 exists;	/* a row in the registry */
	int	 read_only;
	const char *ro_source;	/* "registry", "config" */
};
/* 0 ok, -1 temporary (registry down: retry), -2 configuration. */
int	 registry_lookup(struct cd_conf *, const char *agent,
	    struct cd_facts *, char *err, size_t errlen);
/* May who configure agent, given the groups it is or will be in, and
 * whether it exists without a known group?  1 yes; 0 no, with why. */
int	 acl_agent_ok(const struct cd_conf *, const struct cd_who *,
	    const char *agent, const char *const *groups, size_t ngroups,
	    int exists_ungrouped, char *why, size_t whylen);
/* May who publish, or grant an agent, this collection / command? */
int	 acl_collection_ok(const struct cd_conf *, const struct cd_who *,
	    const char *name, char *why, size_t whylen);
int	 acl_command_ok(const struct cd_conf *, const struct cd_who *,
	    const char *ref, char *why, size_t whylen);
int	 glob_list_match(char *const *globs, size_t n, const char *s);

#endif
