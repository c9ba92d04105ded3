/* SPDX-License-Identifier: ISC */
/*
 * The agents and modules the open transaction has locked and read: a
 * file for an agent already seen in the batch needs no SELECT.  The
 * cache lives exactly as long as the transaction; a file rolled back to
 * its savepoint drops its agent, which is then read again.
 */
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#include "dbload.h"

struct dl_agent *
dl_agent_find(struct dl_run *run, const char *nombre, size_t len)
{
	for (size_t i = 0; i < run->nagents; i++) {
		struct dl_agent *a = run->agents[i];

		if (a->nombre_len == len && memcmp(a->nombre, nombre, len) == 0)
			return a;
	}
	return NULL;
}

struct dl_agent *
dl_agent_find_id(struct dl_run *run, unsigned long long id)
{
	for (size_t i = 0; i < run->nagents; i++)
		if (run->agents[i]->id == id)
			return run->agents[i];
	return NULL;
}

struct dl_agent *
dl_agent_add(struct dl_run *run, struct dl_agent *a)
{
	if (run->nagents == run->capagents) {
		run->capagents = run->capagents ? run->capagents * 2 : 64;
		run->agents = xreallocarray(run->agents, run->capagents,
		    sizeof(*run->agents));
	}
	run->agents[run->nagents++] = a;
	return a;
}

void
dl_module_free(struct dl_module *m)
{
	if (m == NULL)
		return;
	free(m->nombre);
	free(m->plain);
	free(m->descripcion);
	free(m->extended_info);
	free(m->crit_instr);
	free(m->warn_instr);
	free(m->unk_instr);
	free(m->datos);
	pandora_re_free(m->re_warning);
	pandora_re_free(m->re_critical);
	free(m);
}

void
dl_agent_free(struct dl_agent *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->nmods; i++)
		dl_module_free(a->mods[i]);
	free(a->mods);
	free(a->nombre);
	free(a->direccion);
	free(a->os_version);
	free(a->agent_version);
	free(a);
}

void
dl_agent_drop(struct dl_run *run, struct dl_agent *a)
{
	for (size_t i = 0; i < run->nagents; i++)
		if (run->agents[i] == a) {
			run->agents[i] = run->agents[--run->nagents];
			dl_agent_free(a);
			return;
		}
}

void
dl_agents_clear(struct dl_run *run)
{
	for (size_t i = 0; i < run->nagents; i++)
		dl_agent_free(run->agents[i]);
	run->nagents = 0;
}

static int
mod_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	if (c != 0)
		return c;
	return al < bl ? -1 : al > bl;
}

/* Index of the first module not less than nombre. */
static size_t
mod_lower(const struct dl_agent *a, const char *nombre, size_t len)
{
	size_t lo = 0, hi = a->nmods;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct dl_module *m = a->mods[mid];

		if (mod_cmp(m->nombre, m->nombre_len, nombre, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct dl_module *
dl_module_find(struct dl_agent *a, const char *nombre, size_t len)
{
	size_t i = mod_lower(a, nombre, len);

	if (i < a->nmods && a->mods[i]->nombre_len == len &&
	    memcmp(a->mods[i]->nombre, nombre, len) == 0)
		return a->mods[i];
	return NULL;
}

struct dl_module *
dl_module_by_id(struct dl_agent *a, unsigned long long id)
{
	for (size_t i = 0; i < a->nmods; i++)
		if (a->mods[i]->id == id)
			return a->mods[i];
	return NULL;
}

void
dl_module_add(struct dl_agent *a, struct dl_module *m)
{
	size_t i = mod_lower(a, m->nombre, m->nombre_len);

	if (a->nmods == a->capmods) {
		a->capmods = a->capmods ? a->capmods * 2 : 32;
		a->mods = xreallocarray(a->mods, a->capmods, sizeof(*a->mods));
	}
	memmove(a->mods + i + 1, a->mods + i, (a->nmods - i) *
	    sizeof(*a->mods));
	a->mods[i] = m;
	a->nmods++;
}

/* One threshold, decoded; an empty one is no threshold, as Pandora. */
static struct pandora_re *
rule_new(const char *raw, const struct dl_conf *cf)
{
	struct pandora_re *re;
	char *dec;

	if (raw == NULL || *raw == '\0')
		return NULL;
	/* The console stores thresholds entity-encoded; the server decodes
	 * them before use (safe_output).  Compiled, and an invalid one
	 * reported, at its first match (load.c). */
	dec = pandora_safe_output(raw, strlen(raw), NULL);
	re = pandora_re_new(dec, cf->re_max_pattern, NULL);
	free(dec);
	return re;
}

void
dl_module_set_regex(struct dl_module *m, const char *warn, const char *crit,
    const struct dl_conf *cf)
{
	pandora_re_free(m->re_warning);
	pandora_re_free(m->re_critical);
	m->re_warning = rule_new(warn, cf);
	m->re_critical = rule_new(crit, cf);
	m->re_told[0] = m->re_told[1] = 0;
	m->thr.str_warning = m->re_warning;
	m->thr.str_critical = m->re_critical;
	m->thr.max_subject = cf->re_max_subject;
}
