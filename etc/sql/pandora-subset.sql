-- octospool: the subset of the Pandora FMS schema that ingestion touches.
--
-- Source: Pandora FMS, https://github.com/pandorafms/pandorafms
--   schema: pandora_console/pandoradb.sql
--           (commit 001ffc1799f2cf399ec0bf6541cfd0fb57f7f27f)
--   rows:   pandora_console/pandoradb_data.sql and the migrations in
--           pandora_console/extras/mr/*.sql (see ttipo_modulo below)
-- Copyright (c) 2005-2023 Pandora FMS, https://pandorafms.com
-- Licence: GNU General Public License version 2 (as the original files).
--
-- The CREATE TABLE statements are copied unchanged from pandoradb.sql:
-- same table names, column names, types, defaults, indexes, engine and
-- character set, so that db-load writes rows that the stock Pandora
-- console reads, and so that db-load works unchanged against a database
-- created from Pandora's full pandoradb.sql.  Do not edit them; to follow
-- a newer Pandora release, copy the new definitions and update the
-- checked-in column list tests/data/db/schema-columns.txt.
--
-- Only Pandora's own tables are here.  octospool's tables are in octo.sql.
-- The file is idempotent (CREATE TABLE IF NOT EXISTS, INSERT IGNORE).

-- ---------------------------------------------------------------------
-- Table `tagente`
-- ---------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS `tagente` (
  `id_agente` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  `nombre` VARCHAR(600) NOT NULL DEFAULT '',
  `direccion` VARCHAR(100) DEFAULT NULL,
  `comentarios` VARCHAR(255) DEFAULT '',
  `id_grupo` INT UNSIGNED NOT NULL DEFAULT 0,
  `ultimo_contacto` DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00',
  `modo` TINYINT NOT NULL DEFAULT 0,
  `intervalo` INT UNSIGNED NOT NULL DEFAULT 300,
  `id_os` INT UNSIGNED DEFAULT 0,
  `os_version` VARCHAR(100) DEFAULT '',
  `agent_version` VARCHAR(100) DEFAULT '',
  `ultimo_contacto_remoto` DATETIME DEFAULT '1970-01-01 00:00:00',
  `disabled` TINYINT NOT NULL DEFAULT 0,
  `remote` TINYINT NOT NULL DEFAULT 0,
  `id_parent` INT UNSIGNED DEFAULT 0,
  `custom_id` VARCHAR(255) DEFAULT '',
  `server_name` VARCHAR(100) DEFAULT '',
  `cascade_protection` TINYINT NOT NULL DEFAULT 0,
  `cascade_protection_module` INT UNSIGNED NOT NULL DEFAULT 0,
  `timezone_offset` TINYINT NULL DEFAULT 0 COMMENT 'nuber of hours of diference with the server timezone',
  `icon_path` VARCHAR(127) NULL DEFAULT NULL COMMENT 'path in the server to the image of the icon representing the agent' ,
  `update_gis_data` TINYINT NOT NULL DEFAULT 1 COMMENT 'set it to one to update the position data (altitude, longitude, latitude) when getting information from the agent or to 0 to keep the last value and do not update it',
  `url_address` MEDIUMTEXT NULL,
  `quiet` TINYINT NOT NULL DEFAULT 0,
  `normal_count` BIGINT NOT NULL DEFAULT 0,
  `warning_count` BIGINT NOT NULL DEFAULT 0,
  `critical_count` BIGINT NOT NULL DEFAULT 0,
  `unknown_count` BIGINT NOT NULL DEFAULT 0,
  `notinit_count` BIGINT NOT NULL DEFAULT 0,
  `total_count` BIGINT NOT NULL DEFAULT 0,
  `fired_count` BIGINT NOT NULL DEFAULT 0,
  `update_module_count` TINYINT NOT NULL DEFAULT 0,
  `update_alert_count` TINYINT NOT NULL DEFAULT 0,
  `update_secondary_groups` TINYINT NOT NULL DEFAULT 0,
  `alias` VARCHAR(600) NOT NULL DEFAULT '',
  `transactional_agent` TINYINT NOT NULL DEFAULT 0,
  `alias_as_name` TINYINT NOT NULL DEFAULT 0,
  `safe_mode_module` INT UNSIGNED NOT NULL DEFAULT 0,
  `cps` INT NOT NULL DEFAULT 0,
  `satellite_server` INT NOT NULL DEFAULT 0,
  `fixed_ip` TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY  (`id_agente`),
  KEY `nombre` (`nombre`(255)),
  KEY `direccion` (`direccion`),
  KEY `disabled` (`disabled`),
  KEY `id_grupo` (`id_grupo`)
) ENGINE=InnoDB  DEFAULT CHARSET=UTF8MB4 ;

-- ---------------------------------------------------------------------
-- Table `tagente_datos`
-- ---------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS `tagente_datos` (
  `id_agente_modulo` INT UNSIGNED NOT NULL DEFAULT 0,
  `datos` DOUBLE DEFAULT NULL,
  `utimestamp` BIGINT DEFAULT 0,
  KEY `data_index1` (`id_agente_modulo`, `utimestamp`),
  KEY `idx_utimestamp` USING BTREE (`utimestamp`)
) ENGINE=InnoDB  DEFAULT CHARSET=UTF8MB4 ;

-- ---------------------------------------------------------------------
-- Table `tagente_datos_inc`
-- ---------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS `tagente_datos_inc` (
  `id_agente_modulo` INT UNSIGNED NOT NULL DEFAULT 0,
  `datos` DOUBLE DEFAULT NULL,
  `utimestamp` INT UNSIGNED DEFAULT 0,
  KEY `data_inc_index_1` (`id_agente_modulo`)
) ENGINE=InnoDB DEFAULT CHARSET=UTF8MB4;

-- ---------------------------------------------------------------------
-- Table `tagente_datos_string`
-- ---------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS `tagente_datos_string` (
  `id_agente_modulo` INT UNSIGNED NOT NULL DEFAULT 0,
  `datos` MEDIUMTEXT,
  `utimestamp` INT UNSIGNED NOT NULL DEFAULT 0,
  KEY `data_string_index_1` (`id_agente_modulo`, `utimestamp`),
  KEY `idx_utimestamp` USING BTREE (`utimestamp`)
) ENGINE=InnoDB DEFAULT CHARSET=UTF8MB4;

-- -----------------------------------------------------
-- Table `tagente_estado`
-- -----------------------------------------------------
CREATE TABLE IF NOT EXISTS `tagente_estado` (
  `id_agente_estado` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  `id_agente_modulo` INT NOT NULL DEFAULT 0,
  `datos` MEDIUMTEXT,
  `timestamp` DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00',
  `estado` INT NOT NULL DEFAULT 0,
  `known_status` TINYINT DEFAULT 0,
  `id_agente` INT NOT NULL DEFAULT 0,
  `last_try` DATETIME DEFAULT NULL,
  `utimestamp` BIGINT NOT NULL DEFAULT 0,
  `current_interval` INT UNSIGNED NOT NULL DEFAULT 0,
  `running_by` SMALLINT UNSIGNED DEFAULT 0,
  `last_execution_try` BIGINT NOT NULL DEFAULT 0,
  `status_changes` TINYINT UNSIGNED DEFAULT 0,
  `last_status` TINYINT DEFAULT 0,
  `last_known_status` TINYINT DEFAULT 0,
  `last_error` INT NOT NULL DEFAULT 0,
  `ff_start_utimestamp` BIGINT DEFAULT 0,
  `ff_normal` INT UNSIGNED DEFAULT 0,
  `ff_warning` INT UNSIGNED DEFAULT 0,
  `ff_critical` INT UNSIGNED DEFAULT 0,
  `last_dynamic_update` BIGINT NOT NULL DEFAULT 0,
  `last_unknown_update` BIGINT NOT NULL DEFAULT 0,
  `last_status_change` BIGINT NOT NULL DEFAULT 0,
  `warning_count` INT UNSIGNED DEFAULT 0,
  PRIMARY KEY  (`id_agente_estado`),
  KEY `status_index_1` (`id_agente_modulo`),
  KEY `idx_agente` (`id_agente`),
  KEY `running_by` (`running_by`)
) ENGINE=InnoDB  DEFAULT CHARSET=UTF8MB4;

-- -----------------------------------------------------
-- Table `tagente_modulo`
-- -----------------------------------------------------
-- id_modulo now uses tmodule 
-- ---------------------------
-- 1 - Data server modules (agent related modules)
-- 2 - Network server modules
-- 4 - Plugin server
-- 5 - Predictive server
-- 6 - WMI server
-- 7 - WEB Server (enteprise)

CREATE TABLE IF NOT EXISTS `tagente_modulo` (
  `id_agente_modulo` INT UNSIGNED NOT NULL AUTO_INCREMENT,
  `id_agente` INT UNSIGNED NOT NULL DEFAULT 0,
  `id_tipo_modulo` SMALLINT NOT NULL DEFAULT 0,
  `descripcion` TEXT,
  `extended_info` TEXT,
  `nombre` TEXT,
  `unit` TEXT,
  `id_policy_module` INT UNSIGNED NOT NULL DEFAULT 0,
  `max` BIGINT DEFAULT 0,
  `min` BIGINT DEFAULT 0,
  `module_interval` INT UNSIGNED DEFAULT 0,
  `cron_interval` VARCHAR(100) DEFAULT '',
  `module_ff_interval` INT UNSIGNED DEFAULT 0,
  `tcp_port` INT UNSIGNED DEFAULT 0,
  `tcp_send` TEXT,
  `tcp_rcv` TEXT,
  `snmp_community` VARCHAR(100) DEFAULT '',
  `snmp_oid` VARCHAR(255) DEFAULT '0',
  `ip_target` VARCHAR(100) DEFAULT '',
  `id_module_group` INT UNSIGNED DEFAULT 0,
  `flag` TINYINT UNSIGNED DEFAULT 1,
  `id_modulo` INT UNSIGNED DEFAULT 0,
  `disabled` TINYINT UNSIGNED NOT NULL DEFAULT 0,
  `id_export` SMALLINT UNSIGNED DEFAULT 0,
  `plugin_user` TEXT,
  `plugin_pass` TEXT,
  `plugin_parameter` TEXT,
  `id_plugin` INT DEFAULT 0,
  `post_process` DOUBLE DEFAULT 0,
  `prediction_module` BIGINT DEFAULT 0,
  `max_timeout` INT UNSIGNED DEFAULT 0,
  `max_retries` INT UNSIGNED DEFAULT 0,
  `custom_id` VARCHAR(255) DEFAULT '',
  `history_data` TINYINT UNSIGNED DEFAULT 1,
  `min_warning` DOUBLE DEFAULT 0,
  `max_warning` DOUBLE DEFAULT 0,
  `str_warning` TEXT,
  `min_critical` DOUBLE DEFAULT 0,
  `max_critical` DOUBLE DEFAULT 0,
  `str_critical` TEXT,
  `min_ff_event` INT UNSIGNED DEFAULT 0,
  `delete_pending` INT UNSIGNED DEFAULT 0,
  `policy_linked` TINYINT UNSIGNED NOT NULL DEFAULT 0,
  `policy_adopted` TINYINT UNSIGNED NOT NULL DEFAULT 0,
  `custom_string_1` MEDIUMTEXT,
  `custom_string_2` TEXT,
  `custom_string_3` TEXT,
  `custom_integer_1` INT DEFAULT 0,
  `custom_integer_2` INT DEFAULT 0,
  `wizard_level` ENUM('basic','advanced','nowizard') DEFAULT 'nowizard',
  `macros` TEXT,
  `critical_instructions` TEXT,
  `warning_instructions` TEXT,
  `unknown_instructions` TEXT,
  `quiet` TINYINT NOT NULL DEFAULT 0,
  `critical_inverse` TINYINT UNSIGNED DEFAULT 0,
  `warning_inverse` TINYINT UNSIGNED DEFAULT 0,
  `id_category` INT DEFAULT 0,
  `disabled_types_event` TEXT,
  `module_macros` TEXT,
  `min_ff_event_normal` INT UNSIGNED DEFAULT 0,
  `min_ff_event_warning` INT UNSIGNED DEFAULT 0,
  `min_ff_event_critical` INT UNSIGNED DEFAULT 0,
  `ff_type` TINYINT UNSIGNED DEFAULT 0,
  `each_ff` TINYINT UNSIGNED DEFAULT 0,
  `ff_timeout` INT UNSIGNED DEFAULT 0,
  `dynamic_interval` INT UNSIGNED DEFAULT 0,
  `dynamic_max` INT DEFAULT 0,
  `dynamic_min` INT DEFAULT 0,
  `dynamic_next` BIGINT NOT NULL DEFAULT 0,
  `dynamic_two_tailed` TINYINT UNSIGNED DEFAULT 0,
  `prediction_sample_window` INT DEFAULT 0,
  `prediction_samples` INT DEFAULT 0,
  `prediction_threshold` INT DEFAULT 0,
  `parent_module_id` INT UNSIGNED NOT NULL DEFAULT 0,
  `cps` INT NOT NULL DEFAULT 0,
  `debug_content` TEXT,
  `percentage_critical` TINYINT UNSIGNED DEFAULT 0,
  `percentage_warning` TINYINT UNSIGNED DEFAULT 0,
  `warning_time` INT UNSIGNED DEFAULT 0,
  PRIMARY KEY  (`id_agente_modulo`),
  KEY `main_idx` (`id_agente_modulo`,`id_agente`),
  KEY `tam_agente` (`id_agente`),
  KEY `id_tipo_modulo` (`id_tipo_modulo`),
  KEY `disabled` (`disabled`),
  KEY `module` (`id_modulo`),
  KEY `nombre` (`nombre` (255)),
  KEY `module_group` (`id_module_group`) using btree
) ENGINE=InnoDB  DEFAULT CHARSET=UTF8MB4;
-- snmp_oid is also used for WMI query

-- ---------------------------------------------------------------------
-- Table `tevento`
-- ---------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS `tevento` (
  `id_evento` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `id_agente` INT NOT NULL DEFAULT 0,
  `id_usuario` VARCHAR(255) NOT NULL DEFAULT '0',
  `id_grupo` MEDIUMINT NOT NULL DEFAULT 0,
  `estado` TINYINT UNSIGNED NOT NULL DEFAULT 0,
  `timestamp` DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00',
  `evento` TEXT,
  `utimestamp` BIGINT NOT NULL DEFAULT 0,
  `event_type` ENUM('going_unknown','unknown','alert_fired','alert_recovered','alert_ceased','alert_manual_validation','recon_host_detected','system','error','new_agent','going_up_warning','going_up_critical','going_down_warning','going_down_normal','going_down_critical','going_up_normal', 'configuration_change', 'ncm') DEFAULT 'unknown',
  `id_agentmodule` INT NOT NULL DEFAULT 0,
  `id_alert_am` INT NOT NULL DEFAULT 0,
  `criticity` INT UNSIGNED NOT NULL DEFAULT 0,
  `user_comment` TEXT,
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
  PRIMARY KEY  (`id_evento`),
  KEY `idx_agente` (`id_agente`),
  KEY `idx_agentmodule` (`id_agentmodule`),
  KEY `idx_utimestamp` USING BTREE (`utimestamp`),
  INDEX `agente_modulo_estado`(`estado`, `id_agentmodule`)
) ENGINE=InnoDB DEFAULT CHARSET=UTF8MB4;
-- Criticity: 0 - Maintance (grey)
-- Criticity: 1 - Informational (blue)
-- Criticity: 2 - Normal (green) (status 0)
-- Criticity: 3 - Warning (yellow) (status 2)
-- Criticity: 4 - Critical (red) (status 1)

-- ---------------------------------------------------------------------
-- Table `tgrupo`
-- ---------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS `tgrupo` (
  `id_grupo` MEDIUMINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `nombre` VARCHAR(100) NOT NULL DEFAULT '',
  `icon` VARCHAR(50) DEFAULT 'world',
  `parent` MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
  `propagate` TINYINT UNSIGNED NOT NULL DEFAULT 0,
  `disabled` TINYINT UNSIGNED NOT NULL DEFAULT 0,
  `custom_id` VARCHAR(255) DEFAULT '',
  `id_skin` INT UNSIGNED NOT NULL DEFAULT 0,
  `description` TEXT,
  `contact` TEXT,
  `other` TEXT,
  `password` VARCHAR(45) DEFAULT '',
  `max_agents` INT UNSIGNED NOT NULL DEFAULT 0,
   PRIMARY KEY  (`id_grupo`),
   KEY `parent_index` (`parent`)
) ENGINE=InnoDB DEFAULT CHARSET=UTF8MB4;

-- ----------------------------------------------------------------------
-- Table `ttipo_modulo`
-- ----------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS `ttipo_modulo` (
  `id_tipo` SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT,
  `nombre` VARCHAR(100) NOT NULL DEFAULT '',
  `categoria` INT NOT NULL DEFAULT 0,
  `descripcion` VARCHAR(100) NOT NULL DEFAULT '',
  `icon` VARCHAR(100) DEFAULT NULL,
  PRIMARY KEY  (`id_tipo`)
) ENGINE=InnoDB DEFAULT CHARSET=UTF8MB4;

-- ---------------------------------------------------------------------
-- Standard rows
-- ---------------------------------------------------------------------

-- Dumping data for table `tgrupo` (pandoradb_data.sql)
INSERT IGNORE INTO `tgrupo` (`id_grupo`, `nombre`, `icon`, `parent`, `propagate`, `disabled`, `custom_id`, `id_skin`, `other`) VALUES 
(2,'Servers','server_database',0,0,0,'',1,''),
(4,'Firewalls','firewall',0,0,0,'',1,''),
(8,'Databases','database_gear',0,0,0,'',1,''),
(9,'Network','transmit',0,0,0,'',1,''),
(10,'Unknown','world',0,0,0,'',1,''),
(11,'Workstations','computer',0,0,0,'',1,''),
(12,'Applications','applications',0,0,0,'',1,''),
(13,'Web','world',0,0,0,'',1,'');

-- Dumping data for table `ttipo_modulo`: the rows of pandoradb_data.sql
-- as changed by the migrations of a current installation:
--   pandoradb_data.sql: 1-4, 6-11, 15-18, 21-23, 24 (log4x), 100
--   + 5 generic_data_inc_abs (6.0 migration)
--   + 25 web_analysis, 34-37 remote_cmd* (7.0 migrations)
--   + 38 web_server_status_code_string (extras/mr)
--   - 24 log4x (extras/mr/29.sql: DELETE ... WHERE nombre LIKE 'log4x')
-- Identifiers 30 and 31 are reserved for Enterprise data types (and
-- 30-33, the Enterprise web types, are not in the open-source data).
INSERT IGNORE INTO `ttipo_modulo` VALUES 
(1,'generic_data',0,'Generic numeric','mod_data.png'),
(2,'generic_proc',1,'Generic boolean','mod_proc.png'),
(3,'generic_data_string',2,'Generic string','mod_string.png'),
(4,'generic_data_inc',0,'Generic numeric incremental','mod_data_inc.png'),
(5,'generic_data_inc_abs',0,'Generic numeric incremental (absolute)','mod_data_inc_abs.png'),
(6,'remote_icmp_proc',4,'Remote ICMP network agent, boolean data','mod_icmp_proc.png'),
(7,'remote_icmp',3,'Remote ICMP network agent (latency)','mod_icmp_data.png'),
(8,'remote_tcp',3,'Remote TCP network agent, numeric data','mod_tcp_data.png'),
(9,'remote_tcp_proc',4,'Remote TCP network agent, boolean data','mod_tcp_proc.png'),
(10,'remote_tcp_string',5,'Remote TCP network agent, alphanumeric data','mod_tcp_string.png'),
(11,'remote_tcp_inc',3,'Remote TCP network agent, incremental data','mod_tcp_inc.png'),
(15,'remote_snmp',3,'Remote SNMP network agent, numeric data','mod_snmp_data.png'),
(16,'remote_snmp_inc',3,'Remote SNMP network agent, incremental data','mod_snmp_inc.png'),
(17,'remote_snmp_string',5,'Remote SNMP network agent, alphanumeric data','mod_snmp_string.png'),
(18,'remote_snmp_proc',4,'Remote SNMP network agent, boolean data','mod_snmp_proc.png'),
(21,'async_proc', 7, 'Asyncronous proc data', 'mod_async_proc.png'),
(22,'async_data', 6, 'Asyncronous numeric data', 'mod_async_data.png'),
(23,'async_string', 8, 'Asyncronous string data', 'mod_async_string.png'),
(25,'web_analysis', 8, 'Web analysis data', 'module-wux.png'),
(34,'remote_cmd', 10, 'Remote execution, numeric data', 'mod_remote_cmd.png'),
(35,'remote_cmd_proc', 10, 'Remote execution, boolean data', 'mod_remote_cmd_proc.png'),
(36,'remote_cmd_string', 10, 'Remote execution, alphanumeric data', 'mod_remote_cmd_string.png'),
(37,'remote_cmd_inc', 10, 'Remote execution, incremental data', 'mod_remote_cmd_inc.png'),
(38,'web_server_status_code_string',9,'Remote HTTP module to check server status code','mod_web_data.png'),
(100,'keep_alive',-1,'KeepAlive','mod_keepalive.png');
