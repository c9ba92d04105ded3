/* SPDX-License-Identifier: ISC */
/*
 * db-load: the agent files of spool/db-load into the Pandora tables, one
 * savepoint per file inside a batch transaction, exactly once through
 * octo_loaded_file.  main.c: options, configuration, modes; load.c: one
 * file; cache.c: the agents and modules of the open transaction.
 */
#ifndef DBLOAD_H
#define DBLOAD_H

#include <sys/types.h>

#include <stddef.h>
#include <time.h>

#include "agentxml.h"
#include "audit.h"
#include "db.h"
#include "drain.h"
#include "envelope.h"
#include "pandora.h"

#define DL_STAGE	"db-load"
#define DL_SECTION	"db-load"
#define DL_ADMIN_SECTION "db-admin"
#define DL_SAVEPOINT	"octo_file"
#define DL_OCTO_SCHEMA	3	/* octo_schema version (etc/sql/octo.sql) */
#define DL_CONFLICT_TRIES 6	/* batches run again after a conflict */
#define DL_ER_NO_SUCH_INDEX 1176	/* ER_KEY_DOES_NOT_EXISTS: FORCE INDEX */
#define DL_BATCH	1024	/* files per transaction (default) */
#define DL_MAX_ROWS	256	/* rows per multi-row statement */
#define DL_EXACT_ROWS	32	/* up to this many: one statement of as many */
#define DL_FLUSH_BYTES	(8 * 1024 * 1024)	/* deferred history cap */
#define DL_STMT_BYTES	(1024 * 1024)	/* text per multi-row statement */
#define DL_MAX_STRING	(4 * 1024 * 1024)	/* longest string value */

/* The [db-load] settings. */
struct dl_conf {
	struct drain_linger linger;	/* idle_exit, poll_interval */
	char		*spool_dir;
	char		*user;
	char		*audit_spool;
	char		*server_name;	/* tagente.server_name at creation */
	int		 audit;
	int		 allow_create;	/* unknown agents may be created */
	int		 group;		/* autocreate_group (tgrupo id) */
	int		 group_force;	/* that group before the agent's */
	int		 update_parent;
	long		 module_cap;	/* default per-agent module cap */
	size_t		 batch;
	size_t		 max_size;	/* XML bytes, as xml-validate */
	size_t		 re_max_pattern;
	size_t		 re_max_subject;
	long long	 re_budget_ns;	/* matching per file */
	int		 event_precision;
	char		*producer;	/* the user who writes our queue */
	char		*auth_pubkey;	/* agent-auth's stamp key; NULL: none */
	struct db_conf	 db;
};

/* One module of the cached agent, with its tagente_estado row. */
struct dl_module {
	unsigned long long id;		/* id_agente_modulo */
	unsigned long long id_agente;
	char		*nombre;	/* as stored (entity-encoded) */
	size_t		 nombre_len;
	char		*plain;		/* safe_output(nombre), for events */
	int		 id_tipo;
	const char	*type;		/* ttipo_modulo name, "" if unknown */
	int		 disabled, id_modulo, history_data, quiet;
	unsigned long	 delete_pending;
	double		 min, max, post_process;
	struct pandora_thresholds thr;
	struct pandora_re *re_warning, *re_critical;
	unsigned long	 re_told[2];	/* str_critical, str_warning: the
					 * file that reported them */
	struct pandora_ff ff;
	unsigned long	 module_interval;
	char		*descripcion, *extended_info;
	char		*crit_instr, *warn_instr, *unk_instr;
	int		 policy_linked;
	/* tagente_estado */
	int		 have_estado;
	unsigned long long id_estado;
	char		*datos;
	size_t		 datos_len;
	struct pandora_estado st;
	long long	 e_utimestamp;		/* server time of last update */
	long long	 last_execution_try;
	long		 current_interval;
	char		 timestamp[24];		/* sample time, DATETIME */
	char		 last_try[24];		/* "" if NULL */
	long long	 last_try_t;
	int		 dirty;			/* estado to be written */
	int		 may_have_events;
	/* tagente_datos_inc: the last raw counter */
	int		 have_inc, inc_dirty, inc_in_db;
	double		 inc_datos;
	long long	 inc_t;
	int		 created;		/* in the current file */
};

/* One agent touched by the open transaction (its row is locked). */
struct dl_agent {
	unsigned long long id;
	char		*nombre;	/* entity-encoded, as looked up */
	size_t		 nombre_len;
	int		 id_grupo, modo, disabled, quiet, fixed_ip;
	long		 intervalo;
	int		 timezone_offset;
	unsigned long long id_parent;
	char		*direccion, *os_version, *agent_version;
	int		 policy_no_learn;
	int		 have_policy_cap;
	long		 policy_cap;
	int		 modules_loaded;
	int		 prefetched;	/* by dl_prefetch, no file used it yet */
	int		 dirty;		/* tagente to be written at commit */
	int		 recount;	/* counters to recount at commit: a
					 * status moved, a module created,
					 * or update_module_count was set
					 * (an undone file leaves it: one
					 * recount too many is harmless) */
	char		 remote_ts[24];	/* ultimo_contacto_remoto */
	char		 contact_ts[24];	/* ultimo_contacto */
	struct dl_module **mods;	/* sorted by nombre, bytewise */
	size_t		 nmods, capmods;
};

/* A history row waiting for the batch's multi-row INSERTs. */
struct dl_row {
	unsigned long long id;
	double		 v;
	char		*s;		/* string types: owned copy */
	size_t		 len;
	long long	 t;
};

/* Prepared statements, created on first use. */
struct dl_stmts {
	struct db_stmt	*agent_get, *agent_ins;
	struct db_stmt	*digest_ins;
	struct db_stmt	*mod_find, *mod_ins, *mod_upd_conf,
			*mod_parent;
	struct db_stmt	*estado_ins;
	struct db_stmt	*event_ins, *event_validate;
	struct db_stmt	*group_by_id, *group_by_name, *agent_by_name;
	struct db_stmt	*agent_fold;
	struct db_stmt	*lock_get;
	struct db_stmt	*name_claim;
	struct db_stmt	*name_check;
	struct db_stmt	*name_reclaim;
	struct db_stmt	*datos[DL_MAX_ROWS + 1];
	struct db_stmt	*strs[DL_MAX_ROWS + 1];
	struct db_stmt	*estado[DL_MAX_ROWS + 1];
	struct db_stmt	*incs_ins[DL_MAX_ROWS + 1];
	struct db_stmt	*incs_upd[DL_MAX_ROWS + 1];
	struct db_stmt	*agents[DL_MAX_ROWS + 1];
	struct db_stmt	*agent_pre[DL_MAX_ROWS + 1];
};

/* What one file did, for the log and the audit. */
struct dl_result {
	int		 duplicate;
	int		 skipped;	/* disabled agent */
	int		 agent_created;
	unsigned long long agent_id;
	unsigned	 modules, modules_created, modules_not_learnt,
			 modules_over_cap, modules_mismatch, modules_disabled;
	unsigned long	 values, values_refused, history, events;
	/* string thresholds that could not say: invalid, stopped by a
	 * limit, not run (the budget was spent); the time matching took */
	unsigned long	 regex_invalid, regex_limited, regex_skipped;
	long long	 regex_ns;
};

/* What the database has beyond what every supported schema has. */
struct dl_schema {
	int		 event_custom_id;	/* tevento.event_custom_id */
	int		 agent_name_index;	/* tagente's index nombre */
};

/* One run: connection, transaction, cache, statistics. */
struct dl_run {
	struct dl_conf	*cf;
	struct db	*db;
	struct dl_stmts	 st;
	int		 connected;
	int		 in_txn;
	int		 broken;	/* transaction lost: batch back */
	int		 exit_code;	/* non-temporary stop: 78, 70 */
	int		 locks;		/* GET_LOCK taken in this transaction */
	struct dl_schema schema;	/* checked at the first connection */
	int		 schema_checked;
	int		 schema_bad;	/* problems: stop with 78 */
	int		 init;		/* --init: the octo_* version unchecked */
	unsigned int	 conflicts;	/* deadlocks, lock waits: run again */
	char		 name_cs[64];	/* tagente.nombre's character set */
	char		 name_coll[64];	/* and collation ("": unknown) */
	struct dl_agent	**agents;
	size_t		 nagents, capagents;
	/* history deferred to the end of the batch (or DL_FLUSH_BYTES) */
	struct dl_row	*rows;
	size_t		 nrows, caprows, row_bytes;
	unsigned long	 serial;	/* files begun */
	/* statistics: committed, and pending in the open batch */
	unsigned long	 files, loaded, duplicates, values;
	unsigned long	 p_loaded, p_duplicates, p_values;
	double		*lat_ms;
	size_t		 nlat, caplat;
	struct timespec	*t0;		/* the pass's start */
};

/* The outcome of loading one file. */
enum dl_outcome {
	DL_LOADED = 0,
	DL_DUPLICATE,
	DL_SKIPPED,
	DL_REJECT,	/* reason and code set; the file is rolled back */
	DL_RETRY,	/* temporary: the transaction is lost */
	DL_FATAL	/* configuration or bug: stop (run->exit_code) */
};

/* load.c */
enum dl_outcome	 dl_load(struct dl_run *, const char *item,
		    const struct envelope *, const char *body, size_t len,
		    struct audit_buf *, struct dl_result *, int *code,
		    char *reason, size_t reasonlen);
int		 dl_begin(struct dl_run *);
enum dl_outcome	 dl_prefetch(struct dl_run *, char *const *names, size_t n);
int		 dl_commit(struct dl_run *);
void		 dl_rows_clear(struct dl_run *);
void		 dl_abort(struct dl_run *);
void		 dl_stmts_free(struct dl_stmts *);
/* Classify the db's last error: DL_RETRY, DL_FATAL or DL_REJECT. */
enum dl_outcome	 dl_dberr(struct dl_run *, const char *what, char *reason,
		    size_t reasonlen, int *code);

/* schema.c: check the database against what db-load needs; logs each
 * problem (event=schema.problem), counts them in *nproblems. */
int		 dl_schema_check(struct db *, struct dl_schema *,
		    int *nproblems);
int		 dl_schema_types(int (*type_id)(const char *), int *nproblems);
/* The octo_* tables' version (0: none, 1: before octo_schema), and the
 * check that it is DL_OCTO_SCHEMA (a problem logged and counted). */
int		 dl_octo_version(struct db *, unsigned *);
int		 dl_octo_check(struct db *, int *nproblems);
/* load.c: connect and check the schema (db-load --check-schema). */
int		 dl_check_schema(struct dl_run *, int *nproblems);
/* A temporary error that another writer caused (deadlock, lock wait). */
int		 dl_conflict(unsigned int dberrno);

/* cache.c */
struct dl_agent	*dl_agent_find(struct dl_run *, const char *nombre,
		    size_t len);
struct dl_agent	*dl_agent_find_id(struct dl_run *, unsigned long long id);
struct dl_agent	*dl_agent_add(struct dl_run *, struct dl_agent *);
void		 dl_agent_drop(struct dl_run *, struct dl_agent *);
void		 dl_agents_clear(struct dl_run *);
void		 dl_agent_free(struct dl_agent *);
struct dl_module *dl_module_find(struct dl_agent *, const char *nombre,
		    size_t len);
struct dl_module *dl_module_by_id(struct dl_agent *, unsigned long long id);
void		 dl_module_add(struct dl_agent *, struct dl_module *);
void		 dl_module_free(struct dl_module *);
/* The module's thresholds from its str_* columns (decoded; compiled at
 * their first match, under the budget of that file). */
void		 dl_module_set_regex(struct dl_module *, const char *warn,
		    const char *crit, const struct dl_conf *);

/* The embedded etc/sql/octo.sql and grants.sql.in (octo_sql.c). */
extern const char dl_octo_sql[];
extern const char dl_grants_sql[];

#endif
