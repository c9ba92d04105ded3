-- SPDX-License-Identifier: ISC
-- octospool: the Pandora FMS tables and columns that its tools read and
-- write, and nothing else, for the tests and the demo.
--
-- Written for octospool from the list of columns db-load checks when it
-- connects (src/db-load/schema.c) and doc/DATABASE.md, which says what
-- each one holds.  The names, types and defaults are those a Pandora
-- FMS installation has (checked against Pandora's own schemas of July
-- 2023 and of 7.0NG.776 by tests/pandora.bats); the columns a Pandora
-- database has besides these are not here, and the tools never assume
-- they are absent either: they leave them to their defaults.
--
-- On a real installation the tables are Pandora's, made by its
-- installer: load this file only into a database of octospool's own
-- (tools/mariadb.sh does, for tests and the demo).  Idempotent.

-- Agents.  nombre is the agent name as Pandora stores it (entity
-- encoded); the counters are the status of its modules.
CREATE TABLE IF NOT EXISTS `tagente` (
  `id_agente` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  `nombre` VARCHAR(600) NOT NULL DEFAULT '',
  `alias` VARCHAR(600) NOT NULL DEFAULT '',
  `direccion` VARCHAR(100) DEFAULT NULL,
  `comentarios` VARCHAR(255) DEFAULT '',
  `id_grupo` INT UNSIGNED NOT NULL DEFAULT 0,
  `id_os` INT UNSIGNED DEFAULT 0,
  `server_name` VARCHAR(100) DEFAULT '',
  `intervalo` INT UNSIGNED NOT NULL DEFAULT 300,
  `id_parent` INT UNSIGNED DEFAULT 0,
  `modo` TINYINT NOT NULL DEFAULT 0,
  `custom_id` VARCHAR(255) DEFAULT '',
  `url_address` MEDIUMTEXT NULL,
  `timezone_offset` TINYINT NULL DEFAULT 0,
  `disabled` TINYINT NOT NULL DEFAULT 0,
  `quiet` TINYINT NOT NULL DEFAULT 0,
  `fixed_ip` TINYINT NOT NULL DEFAULT 0,
  `os_version` VARCHAR(100) DEFAULT '',
  `agent_version` VARCHAR(100) DEFAULT '',
  `ultimo_contacto` DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00',
  `ultimo_contacto_remoto` DATETIME DEFAULT '1970-01-01 00:00:00',
  `normal_count` BIGINT NOT NULL DEFAULT 0,
  `warning_count` BIGINT NOT NULL DEFAULT 0,
  `critical_count` BIGINT NOT NULL DEFAULT 0,
  `unknown_count` BIGINT NOT NULL DEFAULT 0,
  `notinit_count` BIGINT NOT NULL DEFAULT 0,
  `total_count` BIGINT NOT NULL DEFAULT 0,
  `update_module_count` TINYINT NOT NULL DEFAULT 0,
  `update_alert_count` TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (`id_agente`),
  KEY `nombre` (`nombre`(255)),
  KEY `id_grupo` (`id_grupo`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Modules: their definition (thresholds, flip-flop, instructions).
CREATE TABLE IF NOT EXISTS `tagente_modulo` (
  `id_agente_modulo` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  `id_agente` INT UNSIGNED NOT NULL DEFAULT 0,
  `id_tipo_modulo` SMALLINT NOT NULL DEFAULT 0,
  `nombre` TEXT,
  `descripcion` TEXT,
  `extended_info` TEXT,
  `unit` TEXT,
  `id_modulo` INT UNSIGNED DEFAULT 0,
  `module_interval` INT UNSIGNED DEFAULT 0,
  `cron_interval` VARCHAR(100) DEFAULT '',
  `max` BIGINT DEFAULT 0,
  `min` BIGINT DEFAULT 0,
  `post_process` DOUBLE DEFAULT 0,
  `min_warning` DOUBLE DEFAULT 0,
  `max_warning` DOUBLE DEFAULT 0,
  `str_warning` TEXT,
  `min_critical` DOUBLE DEFAULT 0,
  `max_critical` DOUBLE DEFAULT 0,
  `str_critical` TEXT,
  `warning_inverse` TINYINT UNSIGNED DEFAULT 0,
  `critical_inverse` TINYINT UNSIGNED DEFAULT 0,
  `percentage_warning` TINYINT UNSIGNED DEFAULT 0,
  `percentage_critical` TINYINT UNSIGNED DEFAULT 0,
  `min_ff_event` INT UNSIGNED DEFAULT 0,
  `min_ff_event_normal` INT UNSIGNED DEFAULT 0,
  `min_ff_event_warning` INT UNSIGNED DEFAULT 0,
  `min_ff_event_critical` INT UNSIGNED DEFAULT 0,
  `ff_type` TINYINT UNSIGNED DEFAULT 0,
  `each_ff` TINYINT UNSIGNED DEFAULT 0,
  `ff_timeout` INT UNSIGNED DEFAULT 0,
  `module_ff_interval` INT UNSIGNED DEFAULT 0,
  `custom_id` VARCHAR(255) DEFAULT '',
  `critical_instructions` TEXT,
  `warning_instructions` TEXT,
  `unknown_instructions` TEXT,
  `disabled_types_event` TEXT,
  `module_macros` TEXT,
  `quiet` TINYINT NOT NULL DEFAULT 0,
  `disabled` TINYINT UNSIGNED NOT NULL DEFAULT 0,
  `history_data` TINYINT UNSIGNED DEFAULT 1,
  `delete_pending` INT UNSIGNED DEFAULT 0,
  `id_policy_module` INT UNSIGNED NOT NULL DEFAULT 0,
  `policy_adopted` TINYINT UNSIGNED NOT NULL DEFAULT 0,
  `policy_linked` TINYINT UNSIGNED NOT NULL DEFAULT 0,
  `parent_module_id` INT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (`id_agente_modulo`),
  KEY `tam_agente` (`id_agente`),
  KEY `id_tipo_modulo` (`id_tipo_modulo`),
  KEY `nombre` (`nombre`(255))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The last value and status of each module.
CREATE TABLE IF NOT EXISTS `tagente_estado` (
  `id_agente_estado` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  `id_agente_modulo` INT NOT NULL DEFAULT 0,
  `id_agente` INT NOT NULL DEFAULT 0,
  `datos` MEDIUMTEXT,
  `estado` INT NOT NULL DEFAULT 0,
  `known_status` TINYINT DEFAULT 0,
  `last_status` TINYINT DEFAULT 0,
  `last_known_status` TINYINT DEFAULT 0,
  `status_changes` TINYINT UNSIGNED DEFAULT 0,
  `utimestamp` BIGINT NOT NULL DEFAULT 0,
  `timestamp` DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00',
  `current_interval` INT UNSIGNED NOT NULL DEFAULT 0,
  `last_execution_try` BIGINT NOT NULL DEFAULT 0,
  `last_try` DATETIME,
  `ff_start_utimestamp` BIGINT DEFAULT 0,
  `ff_normal` INT UNSIGNED DEFAULT 0,
  `ff_warning` INT UNSIGNED DEFAULT 0,
  `ff_critical` INT UNSIGNED DEFAULT 0,
  `last_status_change` BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (`id_agente_estado`),
  KEY `status_index_1` (`id_agente_modulo`),
  KEY `idx_agente` (`id_agente`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- History: numbers, strings, and the last raw value of each counter.
CREATE TABLE IF NOT EXISTS `tagente_datos` (
  `id_agente_modulo` INT UNSIGNED NOT NULL DEFAULT 0,
  `datos` DOUBLE DEFAULT NULL,
  `utimestamp` BIGINT DEFAULT 0,
  KEY `data_index1` (`id_agente_modulo`, `utimestamp`),
  KEY `idx_utimestamp` (`utimestamp`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `tagente_datos_string` (
  `id_agente_modulo` INT UNSIGNED NOT NULL DEFAULT 0,
  `datos` MEDIUMTEXT,
  `utimestamp` INT UNSIGNED NOT NULL DEFAULT 0,
  KEY `data_string_index_1` (`id_agente_modulo`, `utimestamp`),
  KEY `idx_utimestamp` (`utimestamp`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `tagente_datos_inc` (
  `id_agente_modulo` INT UNSIGNED NOT NULL DEFAULT 0,
  `datos` DOUBLE DEFAULT NULL,
  `utimestamp` INT UNSIGNED DEFAULT 0,
  KEY `data_inc_index_1` (`id_agente_modulo`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Events: a module's status changes and new agents.
CREATE TABLE IF NOT EXISTS `tevento` (
  `id_evento` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `id_agente` INT NOT NULL DEFAULT 0,
  `id_usuario` VARCHAR(255) NOT NULL DEFAULT '0',
  `id_grupo` MEDIUMINT NOT NULL DEFAULT 0,
  `estado` TINYINT UNSIGNED NOT NULL DEFAULT 0,
  `timestamp` DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00',
  `evento` TEXT,
  `utimestamp` BIGINT NOT NULL DEFAULT 0,
  `event_type` ENUM('going_unknown', 'unknown', 'alert_fired',
    'alert_recovered', 'alert_ceased', 'alert_manual_validation',
    'recon_host_detected', 'system', 'error', 'new_agent',
    'going_up_warning', 'going_up_critical', 'going_down_warning',
    'going_down_normal', 'going_down_critical', 'going_up_normal',
    'configuration_change', 'ncm') DEFAULT 'unknown',
  `id_agentmodule` INT NOT NULL DEFAULT 0,
  `id_alert_am` INT NOT NULL DEFAULT 0,
  `criticity` INT UNSIGNED NOT NULL DEFAULT 0,
  `tags` TEXT,
  `source` TINYTEXT,
  `id_extra` TINYTEXT,
  `critical_instructions` TEXT,
  `warning_instructions` TEXT,
  `unknown_instructions` TEXT,
  `owner_user` VARCHAR(100) NOT NULL DEFAULT '',
  `ack_utimestamp` BIGINT NOT NULL DEFAULT 0,
  `custom_data` TEXT,
  `data` TINYTEXT,
  `module_status` INT NOT NULL DEFAULT 0,
  `event_custom_id` TEXT,
  PRIMARY KEY (`id_evento`),
  KEY `idx_agente` (`id_agente`),
  KEY `idx_agentmodule` (`id_agentmodule`),
  KEY `idx_utimestamp` (`utimestamp`),
  KEY `agente_modulo_estado` (`estado`, `id_agentmodule`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Groups and module types, looked up by name or id.
CREATE TABLE IF NOT EXISTS `tgrupo` (
  `id_grupo` MEDIUMINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `nombre` VARCHAR(100) NOT NULL DEFAULT '',
  PRIMARY KEY (`id_grupo`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS `ttipo_modulo` (
  `id_tipo` SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `nombre` VARCHAR(100) NOT NULL DEFAULT '',
  PRIMARY KEY (`id_tipo`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The console's settings, token = value; db-purge reads its retention
-- settings here (days_purge, string_purge, event_purge, days_compact,
-- step_compact).  A new installation's rows are not loaded: without
-- them db-purge takes octospool.conf's [db-purge] values.
CREATE TABLE IF NOT EXISTS `tconfig` (
  `id_config` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  `token` VARCHAR(100) NOT NULL DEFAULT '',
  `value` TEXT,
  PRIMARY KEY (`id_config`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- A new installation's groups, under the numbers Pandora gives them.
INSERT IGNORE INTO `tgrupo` (`id_grupo`, `nombre`) VALUES
  (2, 'Servers'), (4, 'Firewalls'), (8, 'Databases'), (9, 'Network'),
  (10, 'Unknown'), (11, 'Workstations'), (12, 'Applications'), (13, 'Web');

-- The module types an agent sends, under Pandora's numbers (db-load
-- looks them up by name), and the console's keep-alive type.
INSERT IGNORE INTO `ttipo_modulo` (`id_tipo`, `nombre`) VALUES
  (1, 'generic_data'), (2, 'generic_proc'), (3, 'generic_data_string'),
  (4, 'generic_data_inc'), (5, 'generic_data_inc_abs'),
  (21, 'async_proc'), (22, 'async_data'), (23, 'async_string'),
  (100, 'keep_alive');
