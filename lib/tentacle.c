/* SPDX-License-Identifier: ISC */
/* Tentacle protocol pieces shared by tentacle-recv and tentacle-send. */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "tentacle.h"

int
tentacle_token(const char *password, char *out)
{
	unsigned char m1[EVP_MAX_MD_SIZE], m2[EVP_MAX_MD_SIZE];
	unsigned int l1 = 0, l2 = 0;

	if (EVP_Digest(password, strlen(password), m1, &l1, EVP_md5(),
	    NULL) != 1 || EVP_Digest(m1, l1, m2, &l2, EVP_md5(), NULL) != 1 ||
	    l2 != 16)
		return -1;
	for (unsigned int i = 0; i < l2; i++)
		snprintf(out + 2 * i, 3, "%02x", m2[i]);
	return 0;
}

const char *
tentacle_name_check(const char *name, size_t len, size_t max)
{
	if (len == 0)
		return "empty name";
	if (len > max)
		return "name too long";
	if (name[0] == '.')
		return "name starts with a dot";
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = name[i];

		if (ch < 0x20 || ch == 0x7f)
			return "control character in name";
		if (strchr(TENTACLE_BAD_CHARS, ch) != NULL)
			return "forbidden character in name";
	}
	return NULL;
}
