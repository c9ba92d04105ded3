/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for lib/agentxml.c: the value grammars (numbers, integers,
 * timestamps, types), the parsed representation of a full agent file
 * (root attributes, modules with their §1.5 children, datalists, custom
 * fields, inventory, log modules, events, command reports), module
 * refusals, file refusals by rule, and every limit.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentxml.h"

#include "check.h"

#define DECL	"<?xml version='1.0' encoding='UTF-8'?>\n"

static void
test_number(void)
{
	static const struct { const char *in; int ok; double want; } t[] = {
		{ "42", 1, 42 }, { "  12  ", 1, 12 }, { "+42", 1, 42 },
		{ "-0", 1, 0 }, { "3,14", 1, 3.14 }, { "0,008", 1, 0.008 },
		{ ".5", 1, 0.5 }, { ",5", 1, 0.5 }, { "5.", 1, 5 },
		{ "6.02e23", 1, 6.02e23 }, { "1E-6", 1, 1e-6 },
		{ "1.7976931348623157e308", 1, 1.7976931348623157e308 },
		{ "9223372036854775808", 1, 9223372036854775808.0 },
		{ "\t\n7\r\n", 1, 7 },
		{ "NaN", 0, 0 }, { "nan", 0, 0 }, { "Inf", 0, 0 },
		{ "-Infinity", 0, 0 }, { "1e999", 0, 0 }, { "-1e999", 0, 0 },
		{ "0x1F", 0, 0 }, { "12abc", 0, 0 }, { "", 0, 0 }, { " ", 0, 0 },
		{ "twelve", 0, 0 }, { "1.2.3", 0, 0 }, { "1,2,3", 0, 0 },
		{ "e5", 0, 0 }, { "1e", 0, 0 }, { "1e+", 0, 0 }, { "+", 0, 0 },
		{ ".", 0, 0 }, { "1 2", 0, 0 }, { "--1", 0, 0 }, { "1_000", 0, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		double v = -1;
		int rc = agentxml_number(t[i].in, &v);

		CHECK((rc == 0) == t[i].ok, "number \"%s\": got rc %d, want %s",
		    t[i].in, rc, t[i].ok ? "ok" : "refused");
		if (t[i].ok && rc == 0)
			CHECK(fabs(v - t[i].want) <= fabs(t[i].want) * 1e-12,
			    "number \"%s\": got %.17g, want %.17g", t[i].in, v,
			    t[i].want);
	}
}

static void
test_integer(void)
{
	static const struct { const char *in; long long min, max; int ok;
	    long long want; } t[] = {
		{ "300", 1, 31536000, 1, 300 }, { " 300 ", 1, 100000, 1, 300 },
		{ "+1", -12, 14, 1, 1 }, { "-12", -12, 14, 1, -12 },
		{ "14", -12, 14, 1, 14 }, { "15", -12, 14, 0, 0 },
		{ "-13", -12, 14, 0, 0 }, { "300; DELETE FROM tevento", 1, 1000,
		0, 0 }, { "3.0", 0, 10, 0, 0 }, { "", 0, 10, 0, 0 },
		{ "99999999999999999999", 0, 10, 0, 0 }, { "0x10", 0, 100, 0, 0 },
		{ "1 0", 0, 100, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		long long v = -99;
		int rc = agentxml_integer(t[i].in, t[i].min, t[i].max, &v);

		CHECK((rc == 0) == t[i].ok, "integer \"%s\" in [%lld, %lld]: "
		    "got rc %d, want %s", t[i].in, t[i].min, t[i].max, rc,
		    t[i].ok ? "ok" : "refused");
		if (t[i].ok && rc == 0)
			CHECK_INT(t[i].in, v, t[i].want);
	}
}

static void
test_time(void)
{
	static const struct { const char *in; long long want; } t[] = {
		{ "2024/03/28 10:15:00", 1711620900 },
		{ "2024-03-28 10:15:00", 1711620900 },
		{ "2026/11/27 21:55:32", 1795816532 },
		{ "2024/02/29 00:00:00", 1709164800 },
		{ "1970/01/01 00:00:00", 0 },
		{ "2099/01/01 00:00:00", 4070908800 },
		{ "2024/13/45 25:61:61", -1 }, { "2023/02/29 00:00:00", -1 },
		{ "2100/02/29 00:00:00", -1 }, { "2024/04/31 00:00:00", -1 },
		{ "0000-00-00 00:00:00", -1 }, { "1969/12/31 23:59:59", -1 },
		{ "2024-3-8 6:5:0", -1 }, { "2024/03-28 10:15:00", -1 },
		{ "2024/03/28 10:15:00; DROP TABLE x", -1 },
		{ " 2024/03/28 10:15:00", -1 }, { "2024/03/28T10:15:00", -1 },
		{ "yesterday", -1 }, { "AUTO", -1 }, { "1711620000", -1 },
		{ "2024/03/28 24:00:00", -1 }, { "2024/03/28 10:60:00", -1 },
		{ "2024/03/28 10:15:60", -1 }, { "", -1 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		time_t v = 12345;
		int rc = agentxml_time(t[i].in, &v);

		if (t[i].want == -1)
			CHECK(rc == -1, "time \"%s\": got %lld, want refused",
			    t[i].in, (long long)v);
		else {
			CHECK(rc == 0, "time \"%s\": refused", t[i].in);
			CHECK_INT(t[i].in, v, t[i].want);
		}
	}
}

static void
test_types(void)
{
	static const char *const agent[] = { "generic_data", "generic_proc",
	    "generic_data_string", "generic_data_inc", "generic_data_inc_abs",
	    "async_proc", "async_data", "async_string" };
	static const char *const other[] = { "keep_alive", "remote_tcp_proc",
	    "log4x", "generic_foo", "", "GENERIC_DATA", " generic_data" };

	for (size_t i = 0; i < 8; i++) {
		enum agentxml_type ty = agentxml_type_of(agent[i]);

		CHECK(ty != AX_TYPE_NONE, "type %s refused", agent[i]);
		CHECK_STR("type name round trip", agentxml_type_name(ty),
		    agent[i]);
	}
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		CHECK_INT(other[i], agentxml_type_of(other[i]), AX_TYPE_NONE);
	CHECK_STR("tag name", agentxml_tag_name(AX_M_MIN_FF_EVENT_CRITICAL),
	    "min_ff_event_critical");
	CHECK_STR("attr name", agentxml_attr_name(AX_A_PARENT_AGENT_NAME),
	    "parent_agent_name");
}

/* A file with every part the parser keeps. */
static const char full[] = DECL
    "<agent_data agent_name='  web01  ' agent_alias='Web &amp; 01' "
    "group='Servers' interval='120' timestamp='2024/03/28 10:00:00' "
    "timezone_offset='+2' agent_mode='0' os_name='linux' "
    "latitude='40.4' custom_attr='kept' "
    "description='&amp;#38; &#38; &lt;x&gt; &apos;&quot;'>\n"
    "<custom_fields><field><name><![CDATA[Serial]]></name>"
    "<value><![CDATA[SN-1]]></value></field></custom_fields>\n"
    "<module>\n"
    " <name><![CDATA[Multi\r\nline ]]></name>\n"
    " <type>async_data</type>\n"
    " <description>d &lt;1&gt;</description>\n"
    " <min_critical>90</min_critical><post_process>0,5</post_process>\n"
    " <status>warning</status>\n"
    " <alert_template>A</alert_template><alert_template>B</alert_template>\n"
    " <vendor_field><![CDATA[<b>x</b>]]></vendor_field>\n"
    " <data>  4211,5 </data>\n"
    "</module>\n"
    "<module><name>dl</name><type>generic_data_string</type><datalist>\n"
    " <data><value>one</value><timestamp>2024-03-28 09:00:00</timestamp>"
    "</data>\n"
    " <data><value>two</value></data>\n"
    " <data><timestamp>2024/03/28 09:30:00</timestamp></data>\n"
    "</datalist></module>\n"
    "<module><name>bad</name><data>NaN</data></module>\n"
    "<inventory><inventory_module><name>Software</name><datalist>"
    "<data>a;1</data><data>b;2</data></datalist></inventory_module>"
    "</inventory>\n"
    "<log_module><source>auth</source><type>log</type>"
    "<encoding>base64</encoding><data>eA==</data></log_module>\n"
    "<events><event>e1</event><event>e2</event></events>\n"
    "<cmd_report><cmd_response><cmd_name>ls</cmd_name>"
    "<cmd_errorlevel>0</cmd_errorlevel></cmd_response></cmd_report>\n"
    "</agent_data>\n";

static void
test_full(void)
{
	struct agentxml_limits l;
	struct agent_data *ad;
	struct agent_module *m;
	struct agent_sample *s;
	char why[512];
	int rc;

	agentxml_limits_default(&l);
	l.now = 1711620000 + 3600;	/* 10:00 +2 h is 12:00; now 11:00 */
	l.max_future = 7200;
	rc = agentxml_parse(full, sizeof(full) - 1, &l, &ad, why, sizeof(why));
	CHECK(rc == 0, "full file refused: %s", why);
	if (rc != 0)
		return;
	CHECK_STR("agent_name trimmed", ad->agent_name, "web01");
	CHECK_STR("alias decoded", ad->attr[AX_A_AGENT_ALIAS], "Web & 01");
	CHECK_STR("group", ad->attr[AX_A_GROUP], "Servers");
	CHECK_STR("escaped escape", ad->attr[AX_A_DESCRIPTION],
	    "&#38; & <x> '\"");
	CHECK_INT("interval", ad->interval, 120);
	CHECK_INT("tz offset", ad->tz_offset, 2);
	CHECK_INT("agent_mode", ad->agent_mode, 0);
	CHECK_INT("ts kind", ad->ts_kind, AX_TS_SET);
	CHECK_INT("timestamp offset applied once", ad->timestamp,
	    1711620000 + 7200);
	CHECK(ad->attrs != NULL && strcmp(ad->attrs->name, "agent_name") == 0,
	    "attrs in document order");
	{
		const struct agent_kv *kv = ad->attrs;
		int n = 0;

		for (; kv != NULL; kv = kv->next, n++)
			if (strcmp(kv->name, "custom_attr") == 0)
				CHECK_STR("unknown root attribute kept",
				    kv->value, "kept");
		CHECK_INT("root attributes", n, 11);
	}
	CHECK_INT("modules", ad->nmodules, 3);
	CHECK_INT("refused modules", ad->nrefused, 1);
	m = ad->modules;
	CHECK_STR("name: CR/LF removed, trimmed", m->name, "Multiline");
	CHECK_STR("raw name kept (XML turns CR LF into LF)",
	    m->tag[AX_M_NAME], "Multi\nline ");
	CHECK_INT("type", m->type, AX_ASYNC_DATA);
	CHECK_INT("numeric", m->numeric, 1);
	CHECK_STR("description decoded", m->tag[AX_M_DESCRIPTION], "d <1>");
	CHECK_STR("min_critical", m->tag[AX_M_MIN_CRITICAL], "90");
	CHECK_INT("status", m->status, AX_STATUS_WARNING);
	CHECK(m->alert_templates && m->alert_templates->next &&
	    strcmp(m->alert_templates->next->value, "B") == 0,
	    "two alert templates in order");
	CHECK(m->extra && strcmp(m->extra->name, "vendor_field") == 0 &&
	    strcmp(m->extra->value, "<b>x</b>") == 0, "unknown tag kept");
	CHECK_INT("samples", m->nsamples, 1);
	CHECK(m->samples && fabs(m->samples->num - 4211.5) < 1e-9,
	    "decimal comma value parsed");
	CHECK(m->rule == NULL, "module 1 refused: %s", m->why);
	m = m->next;
	CHECK_INT("datalist samples", m->nsamples, 3);
	CHECK_INT("has_datalist", m->has_datalist, 1);
	s = m->samples;
	CHECK_STR("sample 1", s->value, "one");
	CHECK_INT("sample 1 time, offset applied", s->time,
	    1711616400 + 7200);
	s = s->next;
	CHECK(s->timestamp == NULL && s->time == 0, "sample 2 untimed");
	s = s->next;
	CHECK(s->value == NULL, "sample 3 without value kept, to be skipped");
	CHECK(m->rule == NULL, "module 2 refused: %s", m->why);
	m = m->next;
	CHECK_STR("module 3 rule", m->rule, "module.value");
	CHECK_STR("module 3 why", m->why, "generic_data value \"NaN\" is not "
	    "a finite number");
	CHECK_INT("module 3 index", m->index, 3);
	CHECK(ad->custom_fields && strcmp(ad->custom_fields->name, "Serial") ==
	    0 && strcmp(ad->custom_fields->value, "SN-1") == 0,
	    "custom field");
	CHECK(ad->inventory && strcmp(ad->inventory->name, "Software") == 0 &&
	    ad->inventory->rows && ad->inventory->rows->next &&
	    strcmp(ad->inventory->rows->next->value, "b;2") == 0, "inventory");
	CHECK(ad->logs && ad->logs->fields && strcmp(ad->logs->fields->name,
	    "source") == 0, "log_module");
	CHECK(ad->events && ad->events->next && strcmp(ad->events->next->value,
	    "e2") == 0, "events");
	CHECK(ad->cmds && ad->cmds->fields && ad->cmds->fields->next &&
	    strcmp(ad->cmds->fields->next->value, "0") == 0, "cmd_report");
	CHECK_INT("depth", ad->depth, 5);
	agentxml_free(ad);
	/* Later stages: no clock, the same modules refused. */
	l.now = 0;
	rc = agentxml_parse(full, sizeof(full) - 1, &l, &ad, why, sizeof(why));
	CHECK(rc == 0 && ad->nrefused == 1, "without a clock: %s", why);
	if (rc == 0)
		agentxml_free(ad);
}

static void
test_modules(void)
{
	static const struct { const char *mod, *rule; } t[] = {
		{ "<module><name>ok</name><data>1</data></module>", NULL },
		{ "<module><name>ok</name></module>", NULL },
		{ "<module><name>s</name><type>async_string</type>"
		    "<data> x </data></module>", NULL },
		{ "<module><data>1</data></module>", "module.name" },
		{ "<module><name> \t </name><data>1</data></module>",
		    "module.name" },
		{ "<module><name>a\tb</name><data>1</data></module>",
		    "module.name" },
		{ "<module><name>\xc2\x85</name><data>1</data></module>",
		    "module.name" },
		{ "<module><name>x</name><type>keep_alive</type></module>",
		    "module.type" },
		{ "<module><name>x</name><data>1e999</data></module>",
		    "module.value" },
		{ "<module><name>x</name><type>generic_data_string</type>"
		    "<data>  </data></module>", "module.value" },
		{ "<module><name>x</name><min>low</min></module>",
		    "module.option" },
		{ "<module><name>x</name><module_interval>-1</module_interval>"
		    "</module>", "module.option" },
		{ "<module><name>x</name><quiet>2</quiet></module>",
		    "module.option" },
		{ "<module><name>x</name><min></min><quiet> </quiet></module>",
		    NULL },
		{ "<module><name>x</name><status>BROKEN</status></module>",
		    NULL },
		{ "<module><name>x</name><data>1</data><datalist/></module>",
		    "module.data" },
		{ "<module><name>x</name><datalist><data><value>1</value>"
		    "<timestamp>2024-3-8 6:5:0</timestamp></data></datalist>"
		    "</module>", "module.timestamp" },
		{ "<module><name>x</name><timestamp>1711620000</timestamp>"
		    "<data>1</data></module>", NULL },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char buf[1024], why[512];
		struct agent_data *ad;
		int n, rc;

		n = snprintf(buf, sizeof(buf), DECL "<agent_data agent_name="
		    "'a'>%s</agent_data>", t[i].mod);
		rc = agentxml_parse(buf, n, NULL, &ad, why, sizeof(why));
		CHECK(rc == 0, "module %zu: file refused: %s", i, why);
		if (rc != 0)
			continue;
		if (t[i].rule == NULL)
			CHECK(ad->modules->rule == NULL, "module %zu: refused "
			    "(%s: %s), want accepted", i, ad->modules->rule,
			    ad->modules->why);
		else
			CHECK_STR(t[i].mod, ad->modules->rule, t[i].rule);
		agentxml_free(ad);
	}
}

static void
test_refusals(void)
{
	static const struct { const char *doc; const char *rule; } t[] = {
		{ "", "wellformed" },
		{ "\xff\xfe<\0a\0", "encoding" },
		{ DECL "<!DOCTYPE a [<!ENTITY x 'y'>]><agent_data agent_name="
		    "'a'/>", "doctype" },
		{ DECL "<!-- c --><!DOCTYPE a><agent_data agent_name='a'/>",
		    "doctype" },
		{ DECL "<?pi x?><agent_data agent_name='a'/>", "pi" },
		{ DECL "<agent_data agent_name='a'><?pi x?></agent_data>",
		    "pi" },
		{ DECL "<agent_data agent_name='a'>&x;</agent_data>", "entity" },
		{ DECL "<agent_data agent_name='a'>", "wellformed" },
		{ "<?xml version='1.0' encoding='UTF-16'?><agent_data/>",
		    "encoding" },
		{ "<?xml version='1.0' encoding='latin1'?><agent_data/>",
		    "encoding" },
		{ DECL "<agent_data agent_name='\xc3'/>", "encoding" },
		{ DECL "<agent_data agent_name='\xed\xa0\x80'/>", "encoding" },
		{ DECL "<agent_data agent_name='\xc0\xaf'/>", "encoding" },
		{ DECL "<agent_data agent_name='a\x01'/>", "control" },
		{ DECL "<agent_data/>", "agent_name" },
		{ DECL "<agent_data agent_name='a/b'/>", "agent_name" },
		{ DECL "<agent_data agent_name='a\\b'/>", "agent_name" },
		{ DECL "<agent_data agent_name='.a'/>", "agent_name" },
		{ DECL "<agent_data agent_name='a&#10;b'/>", "agent_name" },
		{ DECL "<server_data server_name='s'/>", "server" },
		{ DECL "<agent_data agent_name='a' ipam_source='1'/>", "server" },
		{ DECL "<agent_data agent_name='a' connection_source='1'/>",
		    "server" },
		{ DECL "<agentdata agent_name='a'/>", "root" },
		{ DECL "<agent_data agent_name='a' timestamp='2024/03/28'/>",
		    "timestamp" },
		{ DECL "<agent_data agent_name='a' interval='0'/>", "attribute" },
		{ DECL "<agent_data agent_name='a' group_id='x'/>", "attribute" },
		{ DECL "<agent_data agent_name='a' longitude='NaN'/>",
		    "attribute" },
		{ DECL "<agent_data agent_name='a' agent_alias='x\xc2\x9b'/>",
		    "attribute" },
		{ DECL "<agent_data agent_name='a'><module><name>x</name>"
		    "</module><foo/></agent_data>", "schema" },
		{ DECL "<a:agent_data xmlns:a='u' agent_name='a'/>", "schema" },
		{ DECL "<agent_data agent_name='a'><custom_fields><field>"
		    "<name>n</name></field></custom_fields></agent_data>",
		    "schema" },
		{ DECL "<agent_data agent_name='a'><inventory><inventory_module>"
		    "</inventory_module></inventory></agent_data>", "schema" },
		{ DECL "<agent_data agent_name='a'><log_module><source>a"
		    "</source><source>b</source></log_module></agent_data>",
		    "schema" },
		{ DECL "<agent_data agent_name='a'><module><name>x</name>"
		    "<datalist><data>text</data></datalist></module>"
		    "</agent_data>", "schema" },
		{ DECL "<agent_data agent_name='a'><module><name>x</name>"
		    "<datalist><data><value>1</value><value>2</value></data>"
		    "</datalist></module></agent_data>", "schema" },
		{ DECL "<agent_data agent_name='a'></agent_data><x/>",
		    "wellformed" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct agent_data *ad = (void *)1;
		char why[512], rule[32];
		size_t len = strlen(t[i].doc);
		int rc;

		if (i == 1)
			len = 6;	/* embedded NULs */
		rc = agentxml_parse(t[i].doc, len, NULL, &ad, why, sizeof(why));
		CHECK(rc == -1 && ad == NULL, "doc %zu accepted, want rule %s",
		    i, t[i].rule);
		if (rc == -1)
			CHECK(strcmp(agentxml_rule(why, rule, sizeof(rule)),
			    t[i].rule) == 0, "doc %zu: got \"%s\", want rule=%s",
			    i, why, t[i].rule);
		else if (ad != NULL)
			agentxml_free(ad);
	}
}

static void
test_limits(void)
{
	struct agentxml_limits l;
	struct agent_data *ad;
	char why[512], rule[32], *big;
	size_t n = 0;
	int rc;

	agentxml_limits_default(&l);
	CHECK_INT("default max_size", l.max_size, 2000000);
	CHECK_INT("default max_age", l.max_age, 604800);
	CHECK_INT("default max_future", l.max_future, 300);
	CHECK_INT("no clock by default", l.now, 0);
	/* modules */
	big = malloc(1 << 20);
	n = snprintf(big, 1 << 20, DECL "<agent_data agent_name='a'>");
	for (int i = 0; i < 20; i++)
		n += snprintf(big + n, (1 << 20) - n, "<module><name>m%d</name>"
		    "</module>", i);
	n += snprintf(big + n, (1 << 20) - n, "</agent_data>");
	l.max_modules = 20;
	rc = agentxml_parse(big, n, &l, &ad, why, sizeof(why));
	CHECK(rc == 0, "20 modules with max 20: %s", why);
	if (rc == 0)
		agentxml_free(ad);
	l.max_modules = 19;
	rc = agentxml_parse(big, n, &l, &ad, why, sizeof(why));
	CHECK(rc == -1 && strstr(why, "more than 19 modules"), "19: %s", why);
	l.max_modules = 100;
	l.max_elements = 40;
	rc = agentxml_parse(big, n, &l, &ad, why, sizeof(why));
	CHECK(rc == -1 && strstr(why, "more than 40 elements"), "elements: %s",
	    why);
	l.max_elements = 41;
	rc = agentxml_parse(big, n, &l, &ad, why, sizeof(why));
	CHECK(rc == 0, "41 elements: %s", why);
	if (rc == 0)
		agentxml_free(ad);
	l.max_size = n - 1;
	rc = agentxml_parse(big, n, &l, &ad, why, sizeof(why));
	CHECK(rc == -1 && !strcmp(agentxml_rule(why, rule, sizeof(rule)),
	    "size"), "size: %s", why);
	agentxml_limits_default(&l);
	l.max_depth = 3;
	rc = agentxml_parse(big, n, &l, &ad, why, sizeof(why));
	CHECK(rc == 0, "depth 3 is enough for module names: %s", why);
	if (rc == 0)
		agentxml_free(ad);
	l.max_depth = 2;
	rc = agentxml_parse(big, n, &l, &ad, why, sizeof(why));
	CHECK(rc == -1 && strstr(why, "nested deeper than 2"), "depth: %s",
	    why);
	agentxml_limits_default(&l);
	l.max_text = 2;
	rc = agentxml_parse(big, n, &l, &ad, why, sizeof(why));
	CHECK(rc == -1 && strstr(why, "longer than 2 bytes"), "text: %s", why);
	/* Window: a datalist sample outside it refuses the file. */
	agentxml_limits_default(&l);
	l.now = 1711620000;
	n = snprintf(big, 1 << 20, DECL "<agent_data agent_name='a' "
	    "timestamp='AUTO'><module><name>m</name><datalist><data><value>1"
	    "</value><timestamp>2024/03/20 00:00:00</timestamp></data>"
	    "</datalist></module></agent_data>");
	rc = agentxml_parse(big, n, &l, &ad, why, sizeof(why));
	CHECK(rc == -1 && !strcmp(agentxml_rule(why, rule, sizeof(rule)),
	    "window"), "old sample: %s", why);
	l.max_age = 30 * 86400;
	rc = agentxml_parse(big, n, &l, &ad, why, sizeof(why));
	CHECK(rc == 0 && ad->ts_kind == AX_TS_AUTO, "sample in window: %s",
	    why);
	if (rc == 0)
		agentxml_free(ad);
	free(big);
	CHECK_STR("rule of a reason", agentxml_rule("rule=doctype line=2 x",
	    rule, sizeof(rule)), "doctype");
	CHECK_STR("rule of nothing", agentxml_rule("no rule", rule,
	    sizeof(rule)), "");
}

/* Every corpus file that must pass, when run from the top directory. */
static void
test_corpus(void)
{
	static const char *const files[] = {
		"tests/data/samples/238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data",
		"tests/data/samples/79cdbf64a0c1c65acee02fc2040ff15c.1795816552.data",
		"tests/data/variants/v11-WIN-SRV-01.1804289383.data",
		"tests/data/variants/v14-inventory-customfields-events-log.1711620720.data",
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		FILE *fp = fopen(files[i], "rb");
		struct agent_data *ad;
		char buf[16384], why[512];
		size_t n;
		int rc;

		if (fp == NULL)
			continue;	/* not run from the top directory */
		n = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		rc = agentxml_parse(buf, n, NULL, &ad, why, sizeof(why));
		CHECK(rc == 0, "%s: %s", files[i], why);
		if (rc != 0)
			continue;
		if (i == 0) {
			CHECK_STR("sample agent", ad->agent_name,
			    "research-agent-01");
			CHECK_INT("sample modules", ad->nmodules, 15);
			CHECK_INT("sample refused", ad->nrefused, 0);
		}
		if (i == 2)
			CHECK_STR("latin-1 converted", ad->modules->next->name,
			    "Servicio de impresi\xc3\xb3n");
		agentxml_free(ad);
	}
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	setenv("TZ", "UTC", 1);
	tzset();
	agentxml_init();
	test_number();
	test_integer();
	test_time();
	test_types();
	test_full();
	test_modules();
	test_refusals();
	test_limits();
	test_corpus();
	return check_report("test_agentxml");
}
