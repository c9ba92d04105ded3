/* Privileges: drop root to a service user and prove it cannot return. */
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
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
