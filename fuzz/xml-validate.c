/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for xml-validate's entry point: an item (envelope
 * or bare agent XML) through envelope_parse and agentxml_parse with the
 * default limits and a fixed clock, then a walk over everything the
 * parse returned; also the value grammars on the raw bytes.
 * Build and run: make fuzz (seeds: tests/data/{samples,variants,bad}).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agentxml.h"
#include "envelope.h"

static size_t
walk_kv(const struct agent_kv *kv)
{
	size_t n = 0;

	for (; kv != NULL; kv = kv->next)
		n += strlen(kv->name) + (kv->value ? strlen(kv->value) : 0) +
		    kv->len;
	return n;
}

/* Touch every string so that ASan sees any bad pointer or length. */
static size_t
walk(const struct agent_data *ad)
{
	size_t n = strlen(ad->agent_name) + walk_kv(ad->attrs) +
	    walk_kv(ad->custom_fields) + walk_kv(ad->events);

	for (int i = 0; i < AX_A__COUNT; i++)
		if (ad->attr[i] != NULL)
			n += strlen(ad->attr[i]);
	for (const struct agent_module *m = ad->modules; m; m = m->next) {
		for (int i = 0; i < AX_M__COUNT; i++)
			if (m->tag[i] != NULL)
				n += strlen(m->tag[i]);
		if (m->name != NULL)
			n += strlen(m->name);
		if (m->type_name != NULL)
			n += strlen(m->type_name);
		if (m->why != NULL)
			n += strlen(m->why) + strlen(m->rule);
		for (const struct agent_sample *s = m->samples; s; s = s->next)
			if (s->value != NULL)
				n += memchr(s->value, '\0', s->len + 1) != NULL;
		n += walk_kv(m->alert_templates) + walk_kv(m->extra);
	}
	for (const struct agent_inventory *v = ad->inventory; v; v = v->next)
		n += strlen(v->name) + walk_kv(v->rows);
	for (const struct agent_group *g = ad->logs; g; g = g->next)
		n += walk_kv(g->fields);
	for (const struct agent_group *g = ad->cmds; g; g = g->next)
		n += walk_kv(g->fields);
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct agentxml_limits l;
	struct agent_data *ad;
	struct envelope env;
	char why[512], err[256], *s;
	const char *body = (const char *)data;
	size_t len = size;
	volatile size_t sink;
	int e;

	if (!init) {
		setenv("TZ", "UTC", 1);
		tzset();
		agentxml_init();
		init = 1;
	}
	agentxml_limits_default(&l);
	l.now = 1711629000;
	l.max_size = 1 << 20;
	e = envelope_parse(body, len, &env, err, sizeof(err));
	if (e == 1) {
		body += env.hdrlen;
		len -= env.hdrlen;
	}
	if (e != -1 && agentxml_parse(body, len, &l, &ad, why,
	    sizeof(why)) == 0) {
		sink = walk(ad);
		(void)sink;
		agentxml_free(ad);
	} else if (e != -1 && strncmp(why, "rule=", 5) != 0)
		abort();	/* every refusal names its rule */
	/* The grammars, on the bytes as a string. */
	if ((s = malloc(size + 1)) != NULL) {
		double d;
		long long i;
		time_t t;

		memcpy(s, data, size);
		s[size] = '\0';
		(void)agentxml_number(s, &d);
		(void)agentxml_integer(s, -12, 14, &i);
		(void)agentxml_time(s, &t);
		(void)agentxml_type_of(s);
		free(s);
	}
	return 0;
}
