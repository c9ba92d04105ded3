/* SPDX-License-Identifier: ISC */
/* Tentacle protocol pieces shared by tentacle-recv and tentacle-send. */
#ifndef OCTO_TENTACLE_H
#define OCTO_TENTACLE_H

#include <stddef.h>

#define TENTACLE_PORT		"41121"
#define TENTACLE_LINE_MAX	1024
#define TENTACLE_MAX_SIZE	2000000
#define TENTACLE_TOKEN_LEN	32
/* The stock server's forbidden name characters (spec §2.5). */
#define TENTACLE_BAD_CHARS	"?[]/\\=+<>:;',*~"

/* hex(md5(md5_raw(password))): what PASS carries.  out has 33 bytes. */
int	tentacle_token(const char *password, char *out);
/*
 * A file name fit to store or serve: 1..max bytes, none of the
 * forbidden characters, no byte below 0x20, no 0x7f, not starting with
 * '.'.  Returns NULL if fine, else a short reason.
 */
const char *tentacle_name_check(const char *name, size_t len, size_t max);

#endif
