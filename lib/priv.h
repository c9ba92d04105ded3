/* Privileges: drop root to a service user and prove it cannot return. */
#ifndef OCTO_PRIV_H
#define OCTO_PRIV_H

/* setgroups, setresgid, setresuid to user, then verify; -1 on failure. */
int	priv_drop(const char *user, char *err, size_t errlen);
/* -1 if any of the real, effective or saved uids or gids is 0. */
int	priv_check_not_root(void);

#endif
