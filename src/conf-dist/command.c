/* SPDX-License-Identifier: ISC */
/*
 * Remote commands: an agent whose configuration has "cmd_file REF"
 * fetches commands/REF.rcmd (the commands, YAML) and md5/REF.md5, runs
 * the commands once and reports them.  conf-dist publishes both, with
 * their signed manifests, for the users acl_commands allows; the audit
 * event carries the commands themselves, and commands/REF.acl (kept by
 * coll_acl_sync from the published configurations) says which agents'
 * certificates tentacle-recv serves them to.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"

#include "confdist.h"

#define CMD_AUDIT_TEXT	(8 * 1024)	/* the commands, in the event */

static void
command_refused(const char *ref, const struct cd_who *w, const char *why)
{
	char v[LOG_VISBUF];

	log_vis(v, sizeof(v), ref, strlen(ref));
	fprintf(stderr, "conf-dist: command %s: refused: %s\n", v, why);
	log_warnx("event=command.publish outcome=refused command=\"%s\" "
	    "submitter=%s reason=\"%s\"", v, w->name, why);
	cd_audit_refusal("command.publish", "command", ref, w, why);
}

int
cmd_command_publish(const char *ref, const char *path)
{
	struct cd_who who;
	struct cd_out o;
	struct audit_buf ab;
	char why[512], rname[128], mname[128], md5[33], sha[65];
	char oldmd5[33] = "", err[512], *buf, *old;
	const char *outcome;
	size_t len, oldlen;
	int rc = EX_OK, current;

	if (!cd_am_service())
		fatalx(EX_NOPERM, "event=command.refused reason=\"run command "
		    "publish as root or as %s\"", cd_cf.user);
	who_init(&who, getuid(), "direct", NULL);
	memset(&o, -1, sizeof(o));
	if (!cd_name_ok("commands", ref, why, sizeof(why)) ||
	    !acl_command_ok(&cd_cf, &who, ref, why, sizeof(why))) {
		/* The event file's owner is the producer: conf-dist. */
		cd_become_service();
		command_refused(ref, &who, why);
		return strstr(why, "acl_") != NULL ? EX_NOPERM : EX_DATAERR;
	}
	/* Read the file as the caller (root reads before it drops). */
	buf = cd_read_input(path, cd_cf.max_size, &len);
	cd_become_service();
	if (len == 0 || memchr(buf, '\0', len) != NULL) {
		command_refused(ref, &who, len == 0 ? "empty command file" :
		    "NUL byte in the command file");
		free(buf);
		return EX_DATAERR;
	}
	md5_hex(buf, len, md5);
	sha256_hex(buf, len, sha);
	snprintf(rname, sizeof(rname), "%s.rcmd", ref);
	snprintf(mname, sizeof(mname), "%s.md5", ref);
	if (out_open(&o, cd_cf.out_dir, err, sizeof(err)) == -1 ||
	    out_lock(&o) == -1)
		fatalx(EX_IOERR, "event=command.fail msg=\"%s\"", err);
	if (cd_shelf_taken(&o, CD_COMMAND, ref, why, sizeof(why))) {
		command_refused(ref, &who, why);
		rc = EX_DATAERR;
		goto out;
	}
	if ((old = out_read(o.md5fd, mname, 64, &oldlen)) != NULL) {
		snprintf(oldmd5, sizeof(oldmd5), "%.32s", old);
		free(old);
	}
	current = out_is_current(o.cmdfd, rname, buf, len, cd_signing_key(),
	    CD_COMMAND, ref) && out_is_current(o.md5fd, mname, md5, 32,
	    cd_signing_key(), CD_COMMAND, ref);
	outcome = current ? "unchanged" : "published";
	audit_buf_init(&ab);
	audit_begin(&ab, CD_TOOL, "command.publish", outcome);
	audit_str(&ab, "command", ref);
	cd_audit_who(&ab, &who);
	audit_str(&ab, "md5", md5);
	audit_str(&ab, "sha256", sha);
	audit_num(&ab, "size", (long long)len);
	audit_str(&ab, "old_md5", oldmd5[0] ? oldmd5 : NULL);
	/* What the agents will run: the auditor reads it here. */
	audit_raw(&ab, ",\"commands\":");
	audit_jstr(&ab, buf, len, CMD_AUDIT_TEXT);
	audit_end(&ab);
	if (audit_commit(cd_cf.audit_spool, &ab) == -1) {
		audit_buf_free(&ab);
		fatal(EX_TEMPFAIL, "event=audit.fail action=command.publish");
	}
	audit_buf_free(&ab);
	log_info("event=command.publish outcome=%s command=%s submitter=%s "
	    "uid=%u md5=%s", outcome, ref, who.name, (unsigned)who.uid, md5);
	/* The commands first, the md5 last, as for configurations. */
	if (!current) {
		struct cd_pub pub[2] = {
			{ .dirfd = o.cmdfd, .dir = "commands", .name = rname,
			    .buf = buf, .len = len },
			{ .dirfd = o.md5fd, .dir = "md5", .name = mname,
			    .buf = md5, .len = 32 },
		};
		if ((rc = cd_publish_serve(&o, pub, 2, CD_COMMAND, ref, err,
		    sizeof(err))) != EX_OK) {
			log_warnx("event=command.fail command=%s msg=\"%s\"",
			    ref, err);
			goto out;
		}
	}
	if (coll_acl_sync(&o, err, sizeof(err)) == -1) {
		log_warnx("event=command.fail command=%s msg=\"access lists: "
		    "%s\"", ref, err);
		rc = EX_IOERR;
		goto out;
	}
	printf("conf-dist: command %s %s (%zu bytes, md5 %s)\n", ref, outcome,
	    len, md5);
out:
	out_close(&o);
	free(buf);
	return rc;
}
