/* SPDX-License-Identifier: ISC */
/*
 * Agent data files (Pandora FMS agent XML) parsed into plain structs,
 * hardened: checked from memory with libxml2's SAX2 parser, no DOCTYPE,
 * no entities, no PIs, no network, bounded in size, depth, elements,
 * attributes, text and modules, encodings UTF-8, ISO-8859-1 and
 * US-ASCII only.  The structure (what xml-validate calls the schema)
 * and the value rules are checked while parsing.  See xml-validate(8)
 * for every rule; etc/agent_data.xsd describes the same structure.
 *
 * A file is either refused as a whole (agentxml_parse() returns -1 with
 * a one-line reason starting "rule=NAME") or accepted; an accepted file
 * may still hold modules that were refused one by one (module->rule is
 * not NULL).  Module rules depend only on the module's own bytes, never
 * on the clock or the configuration, so every stage that parses the
 * same item with this API drops exactly the same modules.
 *
 * All strings are UTF-8, NUL-terminated, owned by the agent_data and
 * freed with it; text values are exactly what the parser delivered
 * (entities and CDATA decoded, nothing trimmed) unless said otherwise.
 */
#ifndef OCTO_AGENTXML_H
#define OCTO_AGENTXML_H

#include <stddef.h>
#include <time.h>

/* Defaults and hard caps of the limits (xml-validate(8)). */
#define AGENTXML_MAX_SIZE	2000000		/* bytes of XML */
#define AGENTXML_MAX_SIZE_CAP	(64 * 1024 * 1024)
#define AGENTXML_MAX_DEPTH	16
#define AGENTXML_MAX_DEPTH_CAP	256
#define AGENTXML_MAX_ELEMENTS	100000
#define AGENTXML_MAX_ATTRS	64
#define AGENTXML_MAX_MODULES	10000
#define AGENTXML_MAX_TEXT	(1024 * 1024)	/* bytes of one value */
#define AGENTXML_MAX_AGE	(7 * 86400)
#define AGENTXML_MAX_FUTURE	300
#define AGENTXML_NAME_MAX	600		/* agent and module names */

struct agentxml_limits {
	size_t		 max_size;
	unsigned	 max_depth;
	unsigned long	 max_elements;
	unsigned	 max_attrs;	/* per element */
	unsigned	 max_modules;
	size_t		 max_text;	/* one text or attribute value */
	/*
	 * Acceptance window for the agent's timestamps (root and datalist,
	 * timezone_offset applied): [now - max_age, now + max_future].
	 * now == 0: no window check (stages after xml-validate).
	 */
	time_t		 now;
	long		 max_age;
	long		 max_future;
};

/* Module types an agent may send (spec §1.6); anything else is refused. */
enum agentxml_type {
	AX_TYPE_NONE = 0,
	AX_GENERIC_DATA,
	AX_GENERIC_PROC,
	AX_GENERIC_DATA_STRING,
	AX_GENERIC_DATA_INC,
	AX_GENERIC_DATA_INC_ABS,
	AX_ASYNC_PROC,
	AX_ASYNC_DATA,
	AX_ASYNC_STRING
};

/* Root attributes with a meaning (spec §1.3); index of agent_data.attr[]. */
enum agentxml_attr {
	AX_A_AGENT_NAME, AX_A_AGENT_ALIAS, AX_A_DESCRIPTION, AX_A_GROUP,
	AX_A_GROUP_PASSWORD, AX_A_GROUP_ID, AX_A_OS_NAME, AX_A_OS_VERSION,
	AX_A_INTERVAL, AX_A_VERSION, AX_A_TIMESTAMP, AX_A_TIMEZONE_OFFSET,
	AX_A_CUSTOM_ID, AX_A_URL_ADDRESS, AX_A_ADDRESS, AX_A_PARENT_AGENT_NAME,
	AX_A_SECONDARY_GROUPS, AX_A_AGENT_MODE, AX_A_LATITUDE, AX_A_LONGITUDE,
	AX_A_ALTITUDE, AX_A_POSITION_DESCRIPTION, AX_A_SATELLITE_SERVER,
	AX_A__COUNT
};

/*
 * Single-valued text children of <module> (spec §1.5); index of
 * agent_module.tag[].  <data>, <datalist> and the repeatable
 * <alert_template> are kept apart; unknown tags go to extra.
 */
enum agentxml_tag {
	AX_M_NAME, AX_M_TYPE, AX_M_DESCRIPTION, AX_M_MODULE_INTERVAL,
	AX_M_CRON_INTERVAL, AX_M_CRONTAB, AX_M_MIN, AX_M_MAX,
	AX_M_POST_PROCESS, AX_M_MIN_WARNING, AX_M_MAX_WARNING,
	AX_M_MIN_CRITICAL, AX_M_MAX_CRITICAL, AX_M_STR_WARNING,
	AX_M_STR_CRITICAL, AX_M_WARNING_INVERSE, AX_M_CRITICAL_INVERSE,
	AX_M_MIN_FF_EVENT, AX_M_MIN_FF_EVENT_NORMAL, AX_M_MIN_FF_EVENT_WARNING,
	AX_M_MIN_FF_EVENT_CRITICAL, AX_M_EACH_FF, AX_M_FF_TYPE, AX_M_FF_TIMEOUT,
	AX_M_MODULE_FF_INTERVAL, AX_M_UNIT, AX_M_MODULE_GROUP, AX_M_CUSTOM_ID,
	AX_M_TAGS, AX_M_CRITICAL_INSTRUCTIONS, AX_M_WARNING_INSTRUCTIONS,
	AX_M_UNKNOWN_INSTRUCTIONS, AX_M_QUIET, AX_M_DISABLED, AX_M_STATUS,
	AX_M_TIMESTAMP, AX_M_MODULE_PARENT, AX_M_MODULE_PARENT_UNLINK,
	AX_M_SEVERITY, AX_M_MESSAGE, AX_M_STACKTRACE,
	AX_M_MIN_WARNING_FORCED, AX_M_MAX_WARNING_FORCED,
	AX_M_MIN_CRITICAL_FORCED, AX_M_MAX_CRITICAL_FORCED,
	AX_M_STR_WARNING_FORCED, AX_M_STR_CRITICAL_FORCED,
	AX_M_WARNING_INVERSE_FORCED, AX_M_CRITICAL_INVERSE_FORCED,
	AX_M__COUNT
};

enum agentxml_status {
	AX_STATUS_NONE = 0,	/* absent or not one of the three: ignored */
	AX_STATUS_NORMAL, AX_STATUS_WARNING, AX_STATUS_CRITICAL
};

enum agentxml_tskind {
	AX_TS_NONE = 0,		/* no timestamp attribute: server time */
	AX_TS_AUTO,		/* timestamp='AUTO': server time */
	AX_TS_SET		/* agent_data.timestamp holds it */
};

/* A name/value pair, in document order. */
struct agent_kv {
	const char	*name;
	const char	*value;
	size_t		 len;		/* of value */
	unsigned	 line;
	struct agent_kv	*next;
};

/* One sample: <data> of a module, or one <datalist><data> entry. */
struct agent_sample {
	const char	*value;		/* NULL: entry without <value> (skip) */
	size_t		 len;
	const char	*timestamp;	/* raw; NULL: use the agent's time */
	time_t		 time;		/* of timestamp, offset applied */
	double		 num;		/* the value, numeric types */
	struct agent_sample *next;
};

struct agent_module {
	unsigned	 index;		/* 1-based position among modules */
	unsigned	 line;
	const char	*tag[AX_M__COUNT];	/* raw text; NULL: absent */
	const char	*name;		/* CR/LF removed, trimmed */
	const char	*type_name;	/* trimmed; "generic_data" if absent */
	enum agentxml_type type;
	int		 numeric;	/* samples are numbers */
	int		 has_datalist;	/* samples come from <datalist> */
	struct agent_sample *samples;	/* document order */
	unsigned	 nsamples;
	struct agent_kv	*alert_templates;
	struct agent_kv	*extra;		/* unknown children (extended_info) */
	enum agentxml_status status;
	/* Refused: rule name and one-line reason; the module must be
	 * skipped by every stage. */
	const char	*rule;
	const char	*why;
	struct agent_module *next;
};

struct agent_inventory {
	const char	*name;
	struct agent_kv	*rows;		/* <datalist><data> text, name "data" */
	unsigned	 line;
	struct agent_inventory *next;
};

/* <log_module>, and <cmd_report><cmd_response>: their text children. */
struct agent_group {
	struct agent_kv	*fields;	/* name = tag, in document order */
	unsigned	 line;
	struct agent_group *next;
};

struct agent_data {
	const char	*attr[AX_A__COUNT];	/* raw values; NULL: absent */
	struct agent_kv	*attrs;		/* every root attribute, in order */
	const char	*agent_name;	/* trimmed */
	enum agentxml_tskind ts_kind;
	time_t		 timestamp;	/* AX_TS_SET: offset applied */
	int		 tz_offset;	/* hours, [-12, 14] */
	long		 interval;	/* seconds; 300 if absent */
	int		 agent_mode;	/* 0, 1, 2; -1 if absent */
	struct agent_module *modules;	/* document order */
	unsigned	 nmodules, nrefused;
	struct agent_kv	*custom_fields;	/* name -> value */
	struct agent_inventory *inventory;
	struct agent_group *logs;	/* <log_module> */
	struct agent_kv	*events;	/* <events><event> text */
	struct agent_group *cmds;	/* <cmd_report><cmd_response> */
	unsigned long	 elements;	/* counted while parsing */
	unsigned	 depth;		/* deepest nesting seen */
	struct ax_arena	*arena;
};

/* Once per process, before any parse: libxml2 set up, its output off. */
void	agentxml_init(void);
/* The defaults above. */
void	agentxml_limits_default(struct agentxml_limits *);
/*
 * Parse and check one agent file.  0: accepted, *out set (free it with
 * agentxml_free); -1: refused, why holds "rule=NAME [line=N] [attr=A]
 * [module=I] message" on one line, *out is NULL.
 */
int	agentxml_parse(const char *buf, size_t len,
	    const struct agentxml_limits *, struct agent_data **out,
	    char *why, size_t whylen);
void	agentxml_free(struct agent_data *);
/* The rule name of a reason from agentxml_parse ("doctype", ...). */
const char *agentxml_rule(const char *why, char *buf, size_t len);

/* Value grammars, shared with later stages (xml-validate(8)). */
/* A finite number: [+-]?(D+([.,]D*)?|[.,]D+)([eE][+-]?D+)?, spaces around. */
int	agentxml_number(const char *s, double *out);
/* A decimal integer in [min, max], optional sign, spaces around. */
int	agentxml_integer(const char *s, long long min, long long max,
	    long long *out);
/* YYYY/MM/DD HH:MM:SS or YYYY-MM-DD HH:MM:SS, range-checked, local time. */
int	agentxml_time(const char *s, time_t *out);
/* The type of a module type name, AX_TYPE_NONE if not an agent type. */
enum agentxml_type agentxml_type_of(const char *name);
const char *agentxml_type_name(enum agentxml_type);
/* The tag names, for messages and for db-load's column mapping. */
const char *agentxml_tag_name(enum agentxml_tag);
const char *agentxml_attr_name(enum agentxml_attr);

#endif
