/* SPDX-License-Identifier: ISC */
/*
 * Privileges: drop root to a service user and prove it cannot return;
 * sets of users that a queue's consumer accepts as producers.
 */
#ifndef OCTO_PRIV_H
#define OCTO_PRIV_H

#include <sys/types.h>

#define IDSET_MAX	32

/*
 * A set of users: user names or uids, and "@group" for every member of
 * a group (its primary group or listed in the group database).
 */
struct idset {
	uid_t	uid[IDSET_MAX];
	int	nuid;
	gid_t	gid[IDSET_MAX];
	int	ngid;
	char	text[256];		/* as configured, for messages */
	/* membership answers already looked up */
	uid_t	seen[IDSET_MAX];
	int	seen_ok[IDSET_MAX];
	int	nseen;
};

/* setgroups, setresgid, setresuid to user, then verify; -1 on failure. */
int	priv_drop(const char *user, char *err, size_t errlen);
/* -1 if any of the real, effective or saved uids or gids is 0. */
int	priv_check_not_root(void);
/* Parse "user uid @group ..." (spaces or commas); -1 with err. */
int	idset_parse(struct idset *, const char *list, char *err,
	    size_t errlen);
/* 1 if uid is in the set, 0 if not. */
int	idset_match(struct idset *, uid_t uid);

#endif
