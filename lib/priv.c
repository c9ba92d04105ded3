/* SPDX-License-Identifier: ISC */
/* Privileges: drop root to a service user and prove it cannot return. */
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "priv.h"

int
priv_drop(const char *user, char *err, size_t errlen)
{
	struct passwd *pw;
	uid_t r, e, s, uid;
	gid_t rg, eg, sg, gid;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "no such user '%s'", user);
		return -1;
	}
	uid = pw->pw_uid;	/* pw is static: initgroups may reuse it */
	gid = pw->pw_gid;
	if (uid == 0) {
		snprintf(err, errlen, "user '%s' is root", user);
		return -1;
	}
	/* The user's own groups: octospool producers write by group. */
	if (initgroups(user, gid) == -1 ||
	    setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1) {
		snprintf(err, errlen, "cannot become '%s': %s", user,
		    strerror(errno));
		return -1;
	}
	if (getresuid(&r, &e, &s) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    r != uid || e != uid || s != uid ||
	    rg != gid || eg != gid || sg != gid ||
	    setuid(0) != -1) {
		snprintf(err, errlen, "privileges not fully dropped");
		return -1;
	}
	return 0;
}

int
priv_check_not_root(void)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;

	if (getresuid(&r, &e, &s) == -1 || getresgid(&rg, &eg, &sg) == -1)
		return -1;
	return (r == 0 || e == 0 || s == 0) ? -1 : 0;
}

int
idset_parse(struct idset *s, const char *list, char *err, size_t errlen)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	if (copy == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	strlcpy(s->text, list, sizeof(s->text));
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t,", &save)) {
		const char *es = NULL;

		if (tok[0] == '@') {
			struct group *gr = getgrnam(tok + 1);

			if (gr == NULL) {
				snprintf(err, errlen, "no group '%s'", tok + 1);
				goto out;
			}
			if (s->ngid == IDSET_MAX) {
				snprintf(err, errlen, "at most %d groups",
				    IDSET_MAX);
				goto out;
			}
			s->gid[s->ngid++] = gr->gr_gid;
			continue;
		}
		if (s->nuid == IDSET_MAX) {
			snprintf(err, errlen, "at most %d users", IDSET_MAX);
			goto out;
		}
		if (tok[0] >= '0' && tok[0] <= '9') {
			s->uid[s->nuid] = (uid_t)strtonum(tok, 0,
			    UINT32_MAX - 1, &es);
			if (es != NULL) {
				snprintf(err, errlen, "uid %s: %s", tok, es);
				goto out;
			}
		} else {
			struct passwd *pw = getpwnam(tok);

			if (pw == NULL) {
				snprintf(err, errlen, "no user '%s'", tok);
				goto out;
			}
			s->uid[s->nuid] = pw->pw_uid;
		}
		s->nuid++;
	}
	if (s->nuid == 0 && s->ngid == 0)
		snprintf(err, errlen, "no user given");
	else
		rc = 0;
out:
	free(copy);
	return rc;
}

/* Is uid a member of any group of the set (primary or listed)? */
static int
idset_member(const struct idset *s, uid_t uid)
{
	struct passwd *pw;
	char name[256];
	gid_t prim;

	if ((pw = getpwuid(uid)) == NULL)
		return 0;
	prim = pw->pw_gid;
	if (strlcpy(name, pw->pw_name, sizeof(name)) >= sizeof(name))
		return 0;
	for (int i = 0; i < s->ngid; i++) {
		struct group *gr;

		if (prim == s->gid[i])
			return 1;
		if ((gr = getgrgid(s->gid[i])) == NULL)
			continue;
		for (char **m = gr->gr_mem; *m != NULL; m++)
			if (strcmp(*m, name) == 0)
				return 1;
	}
	return 0;
}

int
idset_match(struct idset *s, uid_t uid)
{
	int ok;

	for (int i = 0; i < s->nuid; i++)
		if (s->uid[i] == uid)
			return 1;
	if (s->ngid == 0)
		return 0;
	for (int i = 0; i < s->nseen; i++)
		if (s->seen[i] == uid)
			return s->seen_ok[i];
	ok = idset_member(s, uid);
	if (s->nseen < IDSET_MAX) {
		s->seen[s->nseen] = uid;
		s->seen_ok[s->nseen++] = ok;
	}
	return ok;
}
