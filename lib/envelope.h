/* SPDX-License-Identifier: ISC */
/*
 * Connection facts that travel with an item, as a header block before
 * the agent XML (like mail's Received: lines).  See
 * doc/octospool-spool.5.  Values are strvis-encoded on one line each.
 *
 *	Octospool-Envelope: 1
 *	Original-Name: 238cd44ae5e05cc2dd832a79a3f5ddab.1795816532.data
 *	Peer: 192.0.2.7 53422
 *	Received: 2026-11-28T10:00:00.123456Z
 *	Receiver: host1 tentacle-recv
 *	Tls: TLSv1.3 TLS_AES_256_GCM_SHA384
 *	Client-Subject: CN=web01,O=Example
 *	Client-Sha256: 3f...
 *	Client-Bound: 238cd44ae5e05cc2dd832a79a3f5ddab
 *	Auth: password
 *	Auth-Agent: web01		(agent-auth's decision, optional)
 *	Auth-Group: 8
 *	Auth-Create: yes
 *	Auth-Learn: no
 *	Auth-Module-Cap: 200
 *	Sha256: 9a...
 *	Stamp: tentacle-recv 1f2e... (base64 signature; lib/stamp.h)
 *	(empty line, then the body)
 *
 * Client-Bound is written by tentacle-recv for an agent-keyed name
 * ("<md5hex>.conf"): the verified client certificate has a name
 * (commonName or DNS subjectAltName) whose md5 is that key.  Absent: the
 * sender is not known to be that agent (no certificate: unverified).
 * The Auth-* keys are written by agent-auth only, for db-load: the agent
 * and the group (id_grupo) the decision was made for, whether an unknown
 * agent may be created, whether new modules may be learnt, and the most
 * modules the agent may have.  The Stamp line, always the last, is the
 * signature of the stage that wrote the envelope over everything before
 * it; facts count only under a stamp the reader trusts.
 */
#ifndef OCTO_ENVELOPE_H
#define OCTO_ENVELOPE_H

#include <sys/types.h>

#include <stddef.h>

#define ENVELOPE_MAGIC		"Octospool-Envelope: 1\n"
#define ENVELOPE_MAX		8192

/* Values of the yes/no Auth-* keys; 0 (memset) is "absent". */
#define ENVELOPE_UNSET		0
#define ENVELOPE_NO		1
#define ENVELOPE_YES		2
#define ENVELOPE_CAP_MAX	2147483647L
#define ENVELOPE_GROUP_MAX	4294967295UL
#define ENVELOPE_SIGNER_MAX	32	/* a tool name, [a-z0-9-] */

struct envelope {
	char	name[1024];		/* original file name, decoded */
	char	peer[64];
	int	port;
	char	received[40];
	char	receiver[320];
	char	tls[64];		/* "none" or version */
	char	cipher[64];
	char	subject[1024];		/* client certificate subject */
	char	fingerprint[65];	/* SHA-256 of client certificate */
	char	bound[33];		/* Client-Bound: md5hex, "" absent */
	char	auth[16];		/* "password" or "none" */
	char	sha256[65];		/* of the body */
	int	auth_create;		/* Auth-Create: ENVELOPE_YES/NO/UNSET */
	int	auth_learn;		/* Auth-Learn */
	int	have_module_cap;	/* Auth-Module-Cap present */
	long	module_cap;		/* 0..ENVELOPE_CAP_MAX */
	char	auth_agent[1024];	/* Auth-Agent, decoded; "" if absent */
	int	have_auth_group;	/* Auth-Group present */
	unsigned long auth_group;	/* 0..ENVELOPE_GROUP_MAX */
	/* The Stamp: format reserves a line for stamp_signer if set. */
	char	stamp_signer[ENVELOPE_SIGNER_MAX];
	char	stamp_keyid[17];
	unsigned char stamp_sig[64];
	size_t	stamp_off;		/* offset of the "Stamp: " line */
	size_t	hdrlen;			/* offset of the body */
};

/*
 * Format e into buf; *sha_off gets the offset of the 64 hex digits of
 * the Sha256 value so that the writer can fill it in after the body.
 * With e->stamp_signer set, a Stamp line of the final length is reserved
 * last and *stamp_off gets its offset, for stamp_fill().  Returns the
 * length or -1 if it does not fit.
 */
ssize_t	envelope_format(const struct envelope *e, char *buf, size_t len,
	    size_t *sha_off, size_t *stamp_off);
/*
 * Parse the start of an item: 1 envelope (e filled, e->hdrlen set),
 * 0 no envelope (a bare agent file; e->hdrlen = 0), -1 malformed.
 */
int	envelope_parse(const char *buf, size_t len, struct envelope *e,
	    char *err, size_t errlen);

#endif
