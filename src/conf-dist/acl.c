/* SPDX-License-Identifier: ISC */
/*
 * Who may configure what.  The submitter is a uid the kernel vouches
 * for (the real uid of the process, or the owner of a queued file); its
 * groups come from the group database.  The [conf-dist] ACL maps agent
 * name patterns, Pandora groups and collection names to unix groups.
 * The registry (tagente, tgrupo, octo_agent_policy) says which group an
 * agent is in and whether it is read-only.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "pandora.h"
#include "xalloc.h"

#include "confdist.h"

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* "PATTERN=group[,group...]; PATTERN=..." */
int
acl_parse(struct cd_rules *rs, const char *spec, const char *key, char *err,
    size_t errlen)
{
	char *copy, *save = NULL, *rule;

	memset(rs, 0, sizeof(*rs));
	if (spec == NULL)
		return 0;
	copy = xstrdup(spec);
	for (rule = strtok_r(copy, ";", &save); rule != NULL;
	    rule = strtok_r(NULL, ";", &save)) {
		char *eq, *pat, *gl, *gsave = NULL, *g;
		struct cd_rule *r;

		if (*trim(rule) == '\0')
			continue;
		if ((eq = strrchr(rule, '=')) == NULL) {
			snprintf(err, errlen, "%s: '%s' is not PATTERN=GROUP"
			    "[,GROUP...]", key, trim(rule));
			goto bad;
		}
		*eq = '\0';
		pat = trim(rule);
		gl = trim(eq + 1);
		if (*pat == '\0' || *gl == '\0') {
			snprintf(err, errlen, "%s: empty pattern or group list",
			    key);
			goto bad;
		}
		rs->r = xreallocarray(rs->r, rs->n + 1, sizeof(*rs->r));
		r = &rs->r[rs->n++];
		memset(r, 0, sizeof(*r));
		r->pattern = xstrdup(pat);
		for (g = strtok_r(gl, ",", &gsave); g != NULL;
		    g = strtok_r(NULL, ",", &gsave)) {
			struct group *gr;

			g = trim(g);
			if (*g == '\0')
				continue;
			errno = 0;
			if ((gr = getgrnam(g)) == NULL) {
				/* Admits nobody: closed, but say so. */
				log_warnx("event=config.warn key=%s msg=\"no such "
				    "unix group '%s': the rule admits nobody "
				    "through it\"", key, g);
				continue;
			}
			r->gids = xreallocarray(r->gids, r->ngids + 1,
			    sizeof(*r->gids));
			r->gnames = xreallocarray(r->gnames, r->ngids + 1,
			    sizeof(*r->gnames));
			r->gids[r->ngids] = gr->gr_gid;
			r->gnames[r->ngids] = xstrdup(g);
			r->ngids++;
		}
	}
	free(copy);
	return 0;
bad:
	free(copy);
	acl_free(rs);
	return -1;
}

void
acl_free(struct cd_rules *rs)
{
	for (size_t i = 0; i < rs->n; i++) {
		for (size_t k = 0; k < rs->r[i].ngids; k++)
			free(rs->r[i].gnames[k]);
		free(rs->r[i].gnames);
		free(rs->r[i].gids);
		free(rs->r[i].pattern);
	}
	free(rs->r);
	memset(rs, 0, sizeof(*rs));
}

int
who_init(struct cd_who *w, uid_t uid, const char *via, const char *item)
{
	struct passwd *pw;

	memset(w, 0, sizeof(*w));
	w->uid = uid;
	w->via = via;
	w->item = item;
	errno = 0;
	if ((pw = getpwuid(uid)) == NULL) {
		/* No account: a uid without groups can be allowed nothing. */
		snprintf(w->name, sizeof(w->name), "uid:%u", (unsigned)uid);
		w->gid = (gid_t)-1;
		return 0;
	}
	strlcpy(w->name, pw->pw_name, sizeof(w->name));
	w->gid = pw->pw_gid;
	w->ngroups = sizeof(w->groups) / sizeof(w->groups[0]);
	if (getgrouplist(pw->pw_name, pw->pw_gid, w->groups, &w->ngroups) ==
	    -1) {
		/* More than we keep: the first ones, primary group first. */
		w->ngroups = sizeof(w->groups) / sizeof(w->groups[0]);
	}
	return 0;
}

static int
who_in(const struct cd_who *w, gid_t gid)
{
	for (int i = 0; i < w->ngroups; i++)
		if (w->groups[i] == gid)
			return 1;
	return 0;
}

static int
rule_admits(const struct cd_rule *r, const struct cd_who *w)
{
	for (size_t i = 0; i < r->ngids; i++)
		if (who_in(w, r->gids[i]))
			return 1;
	return 0;
}

int
glob_list_match(char *const *globs, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (fnmatch(globs[i], s, 0) == 0)
			return 1;
	return 0;
}

/* "g1,g2" of a rule, for messages. */
static void
rule_groups(const struct cd_rule *r, char *buf, size_t len)
{
	size_t pos = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->ngids && pos < len; i++)
		pos += snprintf(buf + pos, len - pos, "%s%s", i ? "," : "",
		    r->gnames[i]);
	if (r->ngids == 0)
		snprintf(buf, len, "none");
}

/*
 * An agent that an acl_agents glob matches is claimed: only the
 * acl_agents rules that match it decide, whatever its group.  Otherwise
 * every group the agent is or will be in (registry, published
 * configuration, submitted configuration) needs a group rule (or "*")
 * that admits who.  An agent that exists (registry row or published
 * configuration) without a known group needs a "*" rule: naming a group
 * in the submission must not be a way to take it over.  A new agent with
 * no group at all: only agent rules count.
 */
int
acl_agent_ok(const struct cd_conf *cf, const struct cd_who *w,
    const char *agent, const char *const *groups, size_t ngroups,
    int exists_ungrouped, char *why, size_t whylen)
{
	const struct cd_rule *claim = NULL;

	for (size_t i = 0; i < cf->acl_agents.n; i++) {
		if (fnmatch(cf->acl_agents.r[i].pattern, agent, 0) != 0)
			continue;
		if (rule_admits(&cf->acl_agents.r[i], w))
			return 1;
		if (claim == NULL)
			claim = &cf->acl_agents.r[i];
	}
	if (claim != NULL) {
		char g[256];

		rule_groups(claim, g, sizeof(g));
		snprintf(why, whylen, "agent is claimed by acl_agents rule "
		    "'%.100s' (groups %.100s), and user %s is in none of them",
		    claim->pattern, g, w->name);
		return 0;
	}
	if (exists_ungrouped || ngroups == 0) {
		/* No group to go by: only "*" (any group) admits. */
		for (size_t i = 0; i < cf->acl_groups.n; i++)
			if (strcmp(cf->acl_groups.r[i].pattern, "*") == 0 &&
			    rule_admits(&cf->acl_groups.r[i], w))
				return 1;
		if (exists_ungrouped)
			snprintf(why, whylen, "the agent exists with no known "
			    "group (registry, published configuration): only "
			    "acl_agents or an acl_groups '*' rule may configure "
			    "it, and user %s has neither", w->name);
		else
			snprintf(why, whylen, "user %s is in no group that "
			    "acl_agents allows for this agent, and the agent "
			    "has no known group", w->name);
		return 0;
	}
	for (size_t g = 0; g < ngroups; g++) {
		size_t i;

		for (i = 0; i < cf->acl_groups.n; i++) {
			const struct cd_rule *r = &cf->acl_groups.r[i];

			if ((strcmp(r->pattern, "*") == 0 ||
			    strcmp(r->pattern, groups[g]) == 0) &&
			    rule_admits(r, w))
				break;
		}
		if (i == cf->acl_groups.n) {
			snprintf(why, whylen, "user %s may not configure agents "
			    "of group '%s'", w->name, groups[g]);
			return 0;
		}
	}
	return 1;
}

/* A glob rule list (acl_collections, acl_commands) for name. */
static int
acl_glob_ok(const struct cd_rules *rs, const char *key, const char *what,
    const struct cd_who *w, const char *name, char *why, size_t whylen)
{
	for (size_t i = 0; i < rs->n; i++)
		if (fnmatch(rs->r[i].pattern, name, 0) == 0 &&
		    rule_admits(&rs->r[i], w))
			return 1;
	snprintf(why, whylen, "user %s is in no group that %s allows for "
	    "%s '%s'", w->name, key, what, name);
	return 0;
}

int
acl_collection_ok(const struct cd_conf *cf, const struct cd_who *w,
    const char *name, char *why, size_t whylen)
{
	return acl_glob_ok(&cf->acl_collections, "acl_collections",
	    "collection", w, name, why, whylen);
}

int
acl_command_ok(const struct cd_conf *cf, const struct cd_who *w,
    const char *ref, char *why, size_t whylen)
{
	return acl_glob_ok(&cf->acl_commands, "acl_commands", "command", w,
	    ref, why, whylen);
}

/* ---- the registry ---- */

static struct db_stmt *reg_st;

/* cd_db_* codes as registry_lookup's: -1 temporary, -2 configuration. */
static int
registry_code(int r)
{
	return r == -2 ? -1 : -2;
}

int
registry_lookup(struct cd_conf *cf, const char *agent, struct cd_facts *f,
    char *err, size_t errlen)
{
	struct db_val v[2];
	char *enc;
	size_t enclen;
	int r;

	memset(f, 0, sizeof(*f));
	if (glob_list_match(cf->readonly, cf->nreadonly, agent)) {
		f->read_only = 1;
		f->ro_source = "config";
	}
	if (!cf->registry_db)
		return 0;
	if ((r = cd_db_open("registry", err, errlen)) != 0)
		return registry_code(r);
	if (cd_db_stmt(&reg_st,
	    "SELECT g.nombre, COALESCE(p.read_only, 0) FROM tagente a "
	    "LEFT JOIN tgrupo g ON g.id_grupo = a.id_grupo "
	    "LEFT JOIN octo_agent_policy p ON p.id_agente = a.id_agente "
	    /* byte for byte, as agent-auth and db-load (octospool-spool(5)) */
	    "WHERE a.nombre = ? AND a.nombre = BINARY ? "
	    "ORDER BY a.id_agente") == NULL)
		return registry_code(cd_db_fail("registry", "prepare", err,
		    errlen));
	/* Pandora keeps names entity-encoded (safe_input). */
	enc = pandora_safe_input(agent, strlen(agent), &enclen);
	v[0] = DB_TEXTN(enc, enclen);
	v[1] = DB_TEXTN(enc, enclen);
	if (db_stmt_exec(reg_st, v, 2) == -1) {
		free(enc);
		return registry_code(cd_db_fail("registry", "query", err,
		    errlen));
	}
	free(enc);
	while ((r = db_stmt_fetch(reg_st)) == 1) {
		f->exists = 1;
		if (db_col_int(reg_st, 1) != 0) {
			f->read_only = 1;
			f->ro_source = "registry";
		}
		if (!f->have_group && !db_col_null(reg_st, 0)) {
			size_t gl, dl;
			const char *g = db_col_text(reg_st, 0, &gl);
			char *dec = pandora_safe_output(g, gl, &dl);

			strlcpy(f->group, dec, sizeof(f->group));
			free(dec);
			f->have_group = 1;
		}
	}
	if (r == -1)
		return registry_code(cd_db_fail("registry", "fetch", err,
		    errlen));
	return 0;
}
