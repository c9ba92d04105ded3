-- SPDX-License-Identifier: ISC
-- octospool's own tables.  See doc/DATABASE.md.
--
-- Rules for this file:
-- - Every table is prefixed octo_ and created IF NOT EXISTS: the file is
--   safe to load again, and into a database created from Pandora's full
--   pandoradb.sql ("db-load --init" runs exactly this file).
-- - No foreign keys into Pandora's tables: the stock console deletes
--   agents and groups with plain DELETEs and must keep working.  The
--   id columns below refer to Pandora rows by convention only.
-- - Times are Unix seconds (BIGINT), like Pandora's utimestamp columns.
-- - Digests and fingerprints are lower-case hex, as sha256sum prints them.
-- - Changes are additive (new tables, new columns with defaults), so the
--   tools' accounts never need more than the grants in grants.sql.in.
-- - The schema has a version (octo_schema, at the end).  A change adds
--   its columns to the CREATE TABLE below (new databases) and, under
--   "Upgrades", the idempotent statements that bring an older database
--   to it (ADD COLUMN IF NOT EXISTS ...), then raises the version in the
--   last statement.  Loading this file into a database of any older
--   version therefore upgrades it in place, and loading it again changes
--   nothing; db-load --init refuses a database newer than it knows.
-- - Comments are whole lines starting with "--".  Elsewhere a semicolon
--   appears only at the end of the line that ends a statement, so a
--   loader may split the file there (lib/db runs one statement at a
--   time: multi-statements stay off).

-- Exactly-once loading: one row per agent file whose rows are in the
-- database.  db-load inserts it in the same transaction as the file's
-- rows.  A file whose digest is already here is a duplicate and is dropped.
-- Purging old rows (by loaded_at) is an administrator's job: db-load has
-- no DELETE grant.
CREATE TABLE IF NOT EXISTS `octo_loaded_file` (
  `sha256` CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
    COMMENT 'SHA-256 of the agent XML as loaded, lower-case hex',
  `item` VARBINARY(1024) NOT NULL DEFAULT ''
    COMMENT 'spool item name (bytes as on disk)',
  `id_agente` INT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'tagente.id_agente the file was loaded into',
  `loaded_at` BIGINT NOT NULL DEFAULT 0
    COMMENT 'Unix time of the load (loader clock)',
  `size` BIGINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'size of the XML in bytes',
  `node` VARCHAR(255) NOT NULL DEFAULT ''
    COMMENT 'octospool node whose db-load loaded it (schema 2)',
  PRIMARY KEY (`sha256`),
  KEY `loaded_at` (`loaded_at`),
  KEY `id_agente` (`id_agente`),
  CONSTRAINT `octo_loaded_file_hex` CHECK (`sha256` REGEXP '^[0-9a-f]{64}$')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Group credentials for agent-auth (placeholder: the columns are fixed,
-- their use is agent-auth's).  The group password is never stored, only
-- a KDF hash of it, and agent-auth checks it on every file.
CREATE TABLE IF NOT EXISTS `octo_group_credential` (
  `id_grupo` MEDIUMINT UNSIGNED NOT NULL
    COMMENT 'tgrupo.id_grupo',
  `kdf` VARCHAR(32) CHARACTER SET ascii NOT NULL DEFAULT 'scrypt'
    COMMENT 'KDF name, e.g. scrypt or argon2id',
  `kdf_params` VARCHAR(255) CHARACTER SET ascii NOT NULL DEFAULT ''
    COMMENT 'KDF cost parameters, e.g. N=131072,r=8,p=1',
  `salt` VARBINARY(64) NOT NULL DEFAULT ''
    COMMENT 'random salt, raw bytes',
  `hash` VARBINARY(128) NOT NULL DEFAULT ''
    COMMENT 'KDF output, raw bytes',
  `self_create` TINYINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT '1: unknown agents presenting this password may be created',
  `max_agents` INT UNSIGNED DEFAULT NULL
    COMMENT 'most agents self-creation may bring the group to, NULL: no limit',
  `cert_required` TINYINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT '1: agents of this group need a client certificate bound to them',
  `updated_at` BIGINT NOT NULL DEFAULT 0
    COMMENT 'Unix time of the last change',
  PRIMARY KEY (`id_grupo`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Per-agent policy (placeholder), read by agent-auth and db-load and
-- written by administrators.  No row means the defaults from the
-- configuration.
CREATE TABLE IF NOT EXISTS `octo_agent_policy` (
  `id_agente` INT UNSIGNED NOT NULL
    COMMENT 'tagente.id_agente',
  `cert_sha256` CHAR(64) CHARACTER SET ascii COLLATE ascii_bin DEFAULT NULL
    COMMENT 'bound TLS client certificate (SHA-256, hex), NULL: none',
  `cert_subject` VARCHAR(1024) DEFAULT NULL
    COMMENT 'bound client certificate subject (RFC 2253), NULL: any',
  `cert_cn` TINYINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT '1: the client certificate CN must equal the agent name',
  `read_only` TINYINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT '1: conf-dist refuses configuration changes for this agent',
  `no_learn` TINYINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT '1: db-load creates no new modules for this agent',
  `module_cap` INT UNSIGNED DEFAULT NULL
    COMMENT 'most modules db-load may create, NULL: configured default',
  `updated_at` BIGINT NOT NULL DEFAULT 0
    COMMENT 'Unix time of the last change',
  PRIMARY KEY (`id_agente`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Cursor of each SQL audit sink (placeholder): audit-export resumes from
-- the record after seq, and record_sha256 lets it check that the sealed log
-- it resumes still has the record it last shipped.
CREATE TABLE IF NOT EXISTS `octo_audit_export` (
  `sink` VARCHAR(64) CHARACTER SET ascii NOT NULL
    COMMENT 'sink name from the configuration',
  `seq` BIGINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'sequence number of the last record shipped',
  `record_sha256` CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT ''
    COMMENT 'chain hash of that record, hex',
  `updated_at` BIGINT NOT NULL DEFAULT 0
    COMMENT 'Unix time of the last update',
  PRIMARY KEY (`sink`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Records shipped by audit-export's SQL sink: one row per sealed leaf or
-- checkpoint of the audit log.  The primary key makes a resent batch a
-- no-op (INSERT IGNORE); the sink's cursor row in octo_audit_export
-- commits in the same transaction (doc/AUDIT.md, audit-export(8)).
CREATE TABLE IF NOT EXISTS `octo_audit_record` (
  `log_id` CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
    COMMENT 'log id, hex',
  `kind` VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
    COMMENT 'record, boot, keycert, seglink, recovery or checkpoint',
  `seq` BIGINT UNSIGNED NOT NULL
    COMMENT 'sequence number (checkpoints: the tree size)',
  `event_id` VARCHAR(80) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
    COMMENT 'dedup id <log_id>:<seq>',
  `time_ns` BIGINT UNSIGNED NOT NULL
    COMMENT 'acceptance time, Unix nanoseconds',
  `uid` INT UNSIGNED NOT NULL COMMENT 'producer uid (event file owner)',
  `gid` INT UNSIGNED NOT NULL COMMENT 'producer gid',
  `source` VARBINARY(1024) NOT NULL COMMENT 'spool item and line',
  `leaf` CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
    COMMENT 'leaf hash (checkpoints: the root), hex',
  `chain` CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
    COMMENT 'chain hash, hex',
  `payload` MEDIUMBLOB NOT NULL COMMENT 'the sealed bytes',
  `ecs` MEDIUMTEXT NOT NULL COMMENT 'ECS JSON rendering',
  PRIMARY KEY (`log_id`, `kind`, `seq`),
  KEY `time_ns` (`time_ns`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per agent name db-load created (schema 3), keyed as db-load's
-- name lock is (the SHA-256 of the name's collation weight, so that names
-- the database holds equal share a key), written in the transaction that
-- creates the agent.  GET_LOCK is local to a server: on a Galera cluster
-- two nodes creating the same new agent at once both write this row,
-- their transactions conflict at certification, and the loser's batch
-- runs again and finds the agent.  A row stays when the console deletes
-- the agent; creating it again overwrites the row.
CREATE TABLE IF NOT EXISTS `octo_agent_name` (
  `name_key` CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
    COMMENT 'SHA-256 (hex, 40 or 64 digits) of the name as db-load locks it',
  `id_agente` INT UNSIGNED NOT NULL DEFAULT 0
    COMMENT 'tagente.id_agente created',
  `node` VARCHAR(255) NOT NULL DEFAULT ''
    COMMENT 'server_name of the node that created it',
  `created_at` BIGINT NOT NULL DEFAULT 0
    COMMENT 'Unix time of the creation (database clock)',
  PRIMARY KEY (`name_key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Remote configuration shared by every node (schema 3): each file that
-- conf-dist published, with its signed manifest (FILE.sig), as it was
-- served.  conf-dist puts a publication (a file and its .md5) here in one
-- transaction before it serves it; every node's "conf-dist sync"
-- materialises the rows it does not serve yet, after checking the
-- signature against the cluster's keys and that the serial only grows
-- (conf-dist(8), doc/SCALING.md).  Rows are never changed.
CREATE TABLE IF NOT EXISTS `octo_conf_file` (
  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT
    COMMENT 'row id (not an order: Galera interleaves the ids of its nodes)',
  `dir` VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
    COMMENT 'directory of the served tree: conf, md5, collections, commands',
  `name` VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
    COMMENT 'served file name',
  `serial` BIGINT UNSIGNED NOT NULL
    COMMENT 'the manifest serial',
  `body` LONGBLOB NOT NULL
    COMMENT 'the file',
  `manifest` BLOB NOT NULL
    COMMENT 'its signed manifest, FILE.sig',
  `node` VARCHAR(255) NOT NULL DEFAULT ''
    COMMENT 'server_name of the publishing node',
  `published_at` BIGINT NOT NULL DEFAULT 0
    COMMENT 'Unix time of the publication (database clock)',
  PRIMARY KEY (`id`),
  UNIQUE KEY `file_serial` (`dir`, `name`, `serial`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The newest row of octo_conf_file for each served file (schema 3).  A
-- publishing transaction locks the rows of its files here, so two nodes
-- publishing for one agent at once are serialised (one of them meets a
-- lock wait or, on Galera, a certification conflict, and retries with a
-- higher serial).  "conf-dist sync" reads what changed since its last
-- pass by changed_at, and everything from time to time.
CREATE TABLE IF NOT EXISTS `octo_conf_head` (
  `dir` VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
    COMMENT 'as octo_conf_file.dir',
  `name` VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL
    COMMENT 'as octo_conf_file.name',
  `serial` BIGINT UNSIGNED NOT NULL
    COMMENT 'the newest serial',
  `file_id` BIGINT UNSIGNED NOT NULL
    COMMENT 'octo_conf_file.id of that serial',
  `changed_at` BIGINT NOT NULL DEFAULT 0
    COMMENT 'Unix time of the change (database clock)',
  PRIMARY KEY (`dir`, `name`),
  KEY `changed_at` (`changed_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- What each node last reported about itself (schema 3): the JSON of
-- "octospool-status --json" that "octospool-status --publish" writes,
-- read by "octospool-status --cluster" to show every node.
CREATE TABLE IF NOT EXISTS `octo_node` (
  `node` VARCHAR(255) NOT NULL
    COMMENT 'server_name of the node',
  `state` TINYINT UNSIGNED NOT NULL DEFAULT 0
    COMMENT '0 ok, 1 warning, 2 critical (the exit status of the report)',
  `version` VARCHAR(32) CHARACTER SET ascii NOT NULL DEFAULT ''
    COMMENT 'octospool version of the node',
  `report` MEDIUMTEXT NOT NULL
    COMMENT 'octospool-status --json of the node',
  `updated_at` BIGINT NOT NULL DEFAULT 0
    COMMENT 'Unix time of the report (database clock)',
  PRIMARY KEY (`node`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The version of the octo_* tables: one row, component 'octo'.  db-load
-- refuses to load into tables older or newer than the version it was
-- built for (db-load(8), UPGRADES); db-load --init upgrades them.
--   1  octospool 0.1.0: the tables above without the columns marked
--      "schema 2"; no octo_schema table
--   2  octospool 0.2.0: octo_schema; octo_loaded_file.node
--   3  octospool 0.3.0: octo_agent_name, octo_conf_file, octo_conf_head,
--      octo_node
CREATE TABLE IF NOT EXISTS `octo_schema` (
  `component` VARCHAR(32) CHARACTER SET ascii NOT NULL
    COMMENT 'octo: the octo_* tables of this file',
  `version` INT UNSIGNED NOT NULL
    COMMENT 'schema version, see the list above',
  `updated_at` BIGINT NOT NULL DEFAULT 0
    COMMENT 'Unix time of the last upgrade',
  PRIMARY KEY (`component`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Upgrades: idempotent, oldest first.
-- 1 -> 2
ALTER TABLE `octo_loaded_file` ADD COLUMN IF NOT EXISTS `node` VARCHAR(255)
  NOT NULL DEFAULT ''
  COMMENT 'octospool node whose db-load loaded it (schema 2)';
-- 2 -> 3: new tables only (above).

-- Last: the version reached (never lowered).
INSERT INTO `octo_schema` (`component`, `version`, `updated_at`)
  VALUES ('octo', 3, UNIX_TIMESTAMP())
  ON DUPLICATE KEY UPDATE `updated_at` = IF(`version` < VALUES(`version`),
    VALUES(`updated_at`), `updated_at`),
    `version` = GREATEST(`version`, VALUES(`version`));
