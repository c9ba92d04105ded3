/* SPDX-License-Identifier: ISC */
/*
 * audit-verify: the offline verifier of a sealed audit log.  It needs
 * only the public root key (the verifier key printed by audit-sign
 * --keygen) and reports PASS, or FAIL with the first failing sequence
 * number and the kind of tamper.  "prove" writes inclusion and
 * consistency proofs, "check" verifies them.  --set verifies the logs
 * of several nodes (each with its own key, from a log directory or an
 * export that may hold several logs' lines) with a verdict per log and
 * one for the set.  Exit: 0 PASS, 1 FAIL (tamper), 2 unsealed, torn or
 * stale (policy), 3 usage or I/O.  See audit-verify(8) and
 * spec/audit.md §5.7.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auditlog.h"
#include "auditverify.h"
#include "xalloc.h"

/* Where audit-witness publishes what it cosigned (audit-witness(8)). */
#define DEFAULT_COSIGNED	"/var/lib/octospool/witness-cosigned"
#define SET_MAX		64	/* logs in a --set file */
#define SET_LINE	4096	/* bytes in one line of it */
#define SET_NAME	64	/* bytes in a log's name there */
#define VKEY_LINE	512	/* bytes in a verifier key (file) */

static void __attribute__((noreturn))
usage(FILE *fp, int ex)
{
	fprintf(fp,
	    "usage: audit-verify [-FjqVv] -k vkey|-K file [--now[=secs]] "
	    "[--max-age secs]\n"
	    "\t[--checkpoint file]... [--witness key [--cosigned path]...]\n"
	    "\t[--strict-liveness] logdir|export.jsonl|exportdir\n"
	    "       audit-verify [-FjqVv] --set file [options] [export]\n"
	    "       audit-verify prove inclusion seq [--size n] logdir\n"
	    "       audit-verify prove consistency m n logdir\n"
	    "       audit-verify check [-k vkey|-K file] prooffile\n"
	    "See audit-verify(8).  Exit: 0 PASS, 1 FAIL, 2 unsealed/stale, "
	    "3 usage/IO.\n");
	exit(ex);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("audit-verify: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(V_USAGE);
}

/* The first line of a key file, without its newline; dies if too long. */
static void
read_key_line(const char *file, char *line, size_t len)
{
	FILE *fp = fopen(file, "re");

	if (fp == NULL)
		die("%s: %s", file, strerror(errno));
	if (fgets(line, len, fp) == NULL)
		die("%s: empty", file);
	if (strchr(line, '\n') == NULL && !feof(fp) && getc(fp) != EOF)
		die("%s: the first line is longer than %zu bytes", file,
		    len - 2);
	fclose(fp);
	line[strcspn(line, "\r\n")] = '\0';
}

static void
load_vkey(struct verifier *v, const char *vkey, const char *vkeyfile)
{
	char line[VKEY_LINE];

	if (vkeyfile != NULL) {
		read_key_line(vkeyfile, line, sizeof(line));
		vkey = line;
	}
	if (vkey == NULL)
		die("the verifier key is needed: -k vkey or -K file");
	if (av_init(v, vkey) == -1)
		die("not a verifier key (<name>/<log id>+<id>+<key>): %s",
		    vkey);
}

/* How load_ext takes a note that does not fit. */
#define EXT_STRICT	0	/* dies: not a note, another log's */
#define EXT_QUIET	1	/* passes over both (a directory) */
#define EXT_OURS	2	/* passes over another log's (--set) */

/*
 * A checkpoint kept elsewhere (--checkpoint, or a witness's cosigned one
 * with --cosigned).  In a directory (EXT_QUIET), notes of other logs and
 * files that are no notes are passed over.  1 taken, 0 passed over.
 */
static int
load_ext(struct verifier *v, const char *file, int quiet)
{
	unsigned char *buf;
	size_t len;
	char err[128];
	struct ext_ckpt *e;

	if (v->next == MAX_EXT)
		die("at most %d checkpoints kept elsewhere", MAX_EXT);
	if (al_read_file(AT_FDCWD, file, &buf, &len) == -1)
		die("%s: %s", file, strerror(errno));
	e = &v->ext[v->next];
	if (al_ckpt_parse((char *)buf, len, &e->c, err, sizeof(err)) == -1) {
		free(buf);
		if (quiet == EXT_QUIET)
			return 0;
		die("%s: %s", file, err);
	}
	if (strcmp(e->c.origin, v->origin) != 0) {
		free(buf);
		if (quiet != EXT_STRICT)
			return 0;
		die("%s: a checkpoint of another log", file);
	}
	v->next++;
	e->file = xstrdup(file);
	e->note = (char *)buf;
	e->notelen = len;
	if (v->have_witness && al_cosig_verify(e->note, len, &e->c, v->wname,
	    v->wpk, &e->cosig_time) == 0)
		e->cosigned = 1;
	return 1;
}

/* --cosigned: a note, or every note in a directory. */
static void
load_cosigned(struct verifier *v, const char *path)
{
	struct stat sb;
	DIR *d;
	struct dirent *de;

	if (stat(path, &sb) == -1) {
		if (errno == ENOENT)
			return;		/* reported as unwitnessed */
		die("%s: %s", path, strerror(errno));
	}
	if (!S_ISDIR(sb.st_mode)) {
		load_ext(v, path, v->xsplit ? EXT_OURS : EXT_STRICT);
		return;
	}
	if ((d = opendir(path)) == NULL)
		die("%s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char p[4096];
		struct stat fs;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", path, de->d_name) >=
		    sizeof(p))
			die("%s/%s: path too long", path, de->d_name);
		if (stat(p, &fs) == 0 && S_ISREG(fs.st_mode))
			load_ext(v, p, EXT_QUIET);
	}
	closedir(d);
}

/* --witness: a cosigner verifier key, or a file that holds one. */
static void
load_witness(struct verifier *v, const char *arg)
{
	char line[VKEY_LINE];

	if (access(arg, F_OK) == 0)
		read_key_line(arg, line, sizeof(line));
	else if (strlcpy(line, arg, sizeof(line)) >= sizeof(line))
		die("--witness: longer than %zu bytes", sizeof(line) - 1);
	if (al_cosig_vkey_parse(line, v->wname, sizeof(v->wname), v->wpk) ==
	    -1)
		die("--witness %s: not a witness key "
		    "(<name>+<id>+<key>, as audit-witness --vkey prints)", arg);
	v->have_witness = 1;
}

/* A log directory (it has seg/), else exported JSON lines. */
static int
is_log(const char *path)
{
	char p[4096];
	struct stat sb;

	if ((size_t)snprintf(p, sizeof(p), "%s/seg", path) >= sizeof(p))
		die("%s: path too long", path);
	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void
json_str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c < 0x20)
			fprintf(fp, "\\u%04x", c);
		else
			fputc(c, fp);
	}
	fputc('"', fp);
}

/* " kind=K segment=S offset=O: message" (exported lines: " line=N"). */
static int where_lines;

static void
print_where(const struct finding *f)
{
	if (where_lines)
		printf(" kind=%s line=%zu: %s\n", f->kind, f->offset, f->msg);
	else
		printf(" kind=%s segment=%llu offset=%zu: %s\n", f->kind,
		    (unsigned long long)f->segno, f->offset, f->msg);
}

static const char *
verdict_name(int v)
{
	return v == V_PASS ? "PASS" : v == V_FAIL ? "FAIL" : v == V_POLICY ?
	    "UNSEALED" : "ERROR";
}

/* The log's name in a set ("name "), or "" alone. */
static const char *member_name = "";
static const char *member_sep = "";

static void
print_report(struct verifier *v)
{
	const struct finding *first = NULL;
	char t[64] = "-";

	for (size_t i = 0; i < v->nf && first == NULL; i++)
		if (v->f[i].level == V_FAIL)
			first = &v->f[i];
	for (size_t i = 0; i < v->nf && first == NULL; i++)
		if (v->f[i].level == V_POLICY)
			first = &v->f[i];
	if (v->last_ckpt_time) {
		time_t s = v->last_ckpt_time / 1000000000ULL;
		struct tm tm;

		gmtime_r(&s, &tm);
		strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	if (v->json) {
		putchar('{');
		if (*member_name != '\0') {
			printf("\"name\":");
			json_str(stdout, member_name);
			putchar(',');
		}
		printf("\"verdict\":\"%s\",\"origin\":", verdict_name(
		    v->verdict));
		json_str(stdout, v->origin);
		printf(",\"size\":%llu,\"sealed\":%llu,\"records\":%llu,"
		    "\"checkpoints\":%llu,\"epoch\":%llu,\"segments\":%llu,"
		    "\"boots\":%llu,\"recoveries\":%llu,\"damaged\":%llu,"
		    "\"last_checkpoint\":"
		    "\"%s\"", (unsigned long long)v->tree.size,
		    (unsigned long long)v->sealed,
		    (unsigned long long)v->records,
		    (unsigned long long)v->checkpoints,
		    (unsigned long long)v->epoch,
		    (unsigned long long)v->segments,
		    (unsigned long long)v->boots,
		    (unsigned long long)v->recoveries,
		    (unsigned long long)v->damaged_checkpoints, t);
		if (first != NULL && first->have_seq)
			printf(",\"first_failing_seq\":%llu",
			    (unsigned long long)first->seq);
		printf(",\"findings\":[");
		for (size_t i = 0; i < v->nf; i++) {
			const struct finding *f = &v->f[i];

			printf("%s{\"level\":\"%s\",\"kind\":\"%s\",", i ? "," :
			    "", f->level == V_FAIL ? "fail" : f->level ==
			    V_POLICY ? "policy" : "note", f->kind);
			if (f->have_seq)
				printf("\"seq\":%llu,",
				    (unsigned long long)f->seq);
			if (v->xmode)
				printf("\"line\":%zu,\"message\":", f->offset);
			else
				printf("\"segment\":%llu,\"offset\":%zu,"
				    "\"message\":", (unsigned long long)f->segno,
				    f->offset);
			json_str(stdout, f->msg);
			putchar('}');
		}
		printf("]}\n");
		return;
	}
	if (v->quiet && v->verdict == V_PASS)
		return;
	where_lines = v->xmode;
	if (first == NULL)
		printf("audit-verify: %s%sPASS origin=%s records=%llu size=%llu "
		    "checkpoints=%llu epoch=%llu segments=%llu boots=%llu "
		    "recoveries=%llu damaged=%llu last_checkpoint=%s\n",
		    member_name, member_sep, v->origin,
		    (unsigned long long)v->records,
		    (unsigned long long)v->sealed,
		    (unsigned long long)v->checkpoints,
		    (unsigned long long)v->epoch,
		    (unsigned long long)v->segments,
		    (unsigned long long)v->boots,
		    (unsigned long long)v->recoveries,
		    (unsigned long long)v->damaged_checkpoints, t);
	else {
		printf("audit-verify: %s%s%s", member_name, member_sep,
		    verdict_name(v->verdict));
		if (first->have_seq)
			printf(" seq=%llu", (unsigned long long)first->seq);
		print_where(first);
	}
	for (size_t i = 0; i < v->nf; i++) {
		const struct finding *f = &v->f[i];

		if (f == first || (!v->verbose && !v->forensic &&
		    f->level == 0 && strcmp(f->kind, "recovered") != 0 &&
		    strcmp(f->kind, "damaged-checkpoint") != 0))
			continue;
		printf("  %s", f->level == V_FAIL ? "FAIL" : f->level ==
		    V_POLICY ? "UNSEALED" : "note");
		if (f->have_seq)
			printf(" seq=%llu", (unsigned long long)f->seq);
		print_where(f);
	}
}

/* Proofs */

static void
put_hash(FILE *fp, const char *kw, const unsigned char h[AL_HASH])
{
	char b[64];

	al_b64_encode(h, AL_HASH, b, sizeof(b));
	fprintf(fp, "%s %s\n", kw, b);
}

static void
put_text(FILE *fp, const char *kw, const char *t)
{
	size_t l = strlen(t);
	char *b = xmalloc(((l + 2) / 3) * 4 + 1);

	al_b64_encode((const unsigned char *)t, l, b, ((l + 2) / 3) * 4 + 1);
	fprintf(fp, "%s %s\n", kw, b);
	free(b);
}

static int
find_ckpt(const struct verifier *v, uint64_t size)
{
	for (size_t i = 0; i < v->nckpts; i++)
		if (v->ckpts[i].size == size)
			return (int)i;
	return -1;
}

static void
put_keycerts(const struct verifier *v, uint64_t epoch)
{
	for (uint64_t e = 1; e <= epoch; e++)
		put_text(stdout, "keycert", v->keycerts[e]);
}

static int
prove(struct verifier *v, int argc, char **argv)
{
	const char *what, *logdir, *es = NULL;
	unsigned char (*path)[AL_HASH] = xcalloc(AL_TREE_MAXH * 2, AL_HASH);
	uint64_t a, b = 0;
	int np, ia, ib, have_size = 0;

	if (argc < 3)
		usage(stderr, V_USAGE);
	what = argv[0];
	a = strtonum(argv[1], 0, INT64_MAX, &es);
	if (es != NULL)
		die("%s: %s", argv[1], es);
	if (strcmp(what, "inclusion") == 0) {
		if (argc == 5 && strcmp(argv[2], "--size") == 0) {
			b = strtonum(argv[3], 1, INT64_MAX, &es);
			if (es != NULL)
				die("%s: %s", argv[3], es);
			have_size = 1;
			logdir = argv[4];
		} else if (argc == 3)
			logdir = argv[2];
		else
			usage(stderr, V_USAGE);
	} else if (strcmp(what, "consistency") == 0 && argc == 4) {
		b = strtonum(argv[2], 1, INT64_MAX, &es);
		if (es != NULL)
			die("%s: %s", argv[2], es);
		logdir = argv[3];
	} else
		usage(stderr, V_USAGE);
	v->keep = 1;
	av_verify_log(v, logdir);
	if (v->verdict == V_FAIL) {
		print_report(v);
		free(path);
		return V_FAIL;
	}
	if (strcmp(what, "inclusion") == 0) {
		if (!have_size) {
			if (v->nckpts == 0)
				die("no checkpoint");
			b = v->ckpts[v->nckpts - 1].size;
		}
		if ((ib = find_ckpt(v, b)) == -1)
			die("no checkpoint for size %llu", (unsigned long long)b);
		if (a >= b)
			die("seq %llu is not below size %llu",
			    (unsigned long long)a, (unsigned long long)b);
		np = al_inclusion_proof((const unsigned char (*)[AL_HASH])
		    v->leaves, b, a, path, AL_TREE_MAXH * 2);
		printf("octo-audit-proof/v1 inclusion\nindex %llu\nsize %llu\n",
		    (unsigned long long)a, (unsigned long long)b);
		put_hash(stdout, "leaf", v->leaves[a]);
		for (int i = 0; i < np; i++)
			put_hash(stdout, "path", path[i]);
		put_keycerts(v, v->ckpts[ib].epoch);
		put_text(stdout, "checkpoint", v->ckpts[ib].note);
	} else {
		if ((ia = find_ckpt(v, a)) == -1 || (ib = find_ckpt(v, b)) ==
		    -1 || a > b)
			die("sizes %llu and %llu must both be checkpoint sizes, "
			    "the first not larger", (unsigned long long)a,
			    (unsigned long long)b);
		np = al_consistency_proof((const unsigned char (*)[AL_HASH])
		    v->leaves, b, a, path, AL_TREE_MAXH * 2);
		printf("octo-audit-proof/v1 consistency\nold %llu\nnew %llu\n",
		    (unsigned long long)a, (unsigned long long)b);
		for (int i = 0; i < np; i++)
			put_hash(stdout, "path", path[i]);
		put_keycerts(v, v->ckpts[ib].epoch);
		put_text(stdout, "checkpoint", v->ckpts[ia].note);
		put_text(stdout, "checkpoint", v->ckpts[ib].note);
	}
	free(path);
	return V_PASS;
}

/* Decode a "kw base64" line's text (NUL-terminated, caller frees). */
static char *
b64_text(const char *s)
{
	size_t l = strlen(s);
	char *o = xmalloc(l + 1);
	ssize_t n = al_b64_decode(s, l, (unsigned char *)o, l);

	if (n < 0) {
		free(o);
		return NULL;
	}
	o[n] = '\0';
	return o;
}

static int
check_note(const char *note, unsigned char (*pks)[AL_PK], uint64_t nepochs,
    const char *origin, struct al_ckpt *c)
{
	char err[128];

	if (al_ckpt_parse(note, strlen(note), c, err, sizeof(err)) == -1) {
		printf("audit-verify: FAIL kind=proof: %s\n", err);
		return -1;
	}
	if (strcmp(c->origin, origin) != 0 || c->epoch >= nepochs ||
	    al_ckpt_verify(note, c, pks[c->epoch]) == -1) {
		printf("audit-verify: FAIL kind=signature: checkpoint for size "
		    "%llu does not verify under the epoch %llu key\n",
		    (unsigned long long)c->size, (unsigned long long)c->epoch);
		return -1;
	}
	return 0;
}

static int
check(struct verifier *v, const char *file)
{
	unsigned char *buf, (*path)[AL_HASH] = xcalloc(AL_TREE_MAXH * 2,
	    AL_HASH), leaf[AL_HASH];
	unsigned char (*pks)[AL_PK] = xcalloc(1, AL_PK);
	char *notes[2] = { NULL, NULL }, *line, *save, *kind = NULL;
	uint64_t idx = 0, size = 0, oldn = 0, newn = 0, nepochs = 1;
	size_t len;
	int np = 0, nn = 0, have_leaf = 0, rc = V_FAIL;
	struct al_ckpt c1, c2;

	if (al_read_file(AT_FDCWD, file, &buf, &len) == -1)
		die("%s: %s", file, strerror(errno));
	memcpy(pks[0], v->pk0, AL_PK);
	for (line = strtok_r((char *)buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');
		const char *es = NULL;

		if (kind == NULL) {
			if (strncmp(line, "octo-audit-proof/v1 ", 20) != 0)
				die("%s: not a proof", file);
			kind = line + 20;
			continue;
		}
		if (sp == NULL)
			die("%s: bad line", file);
		*sp++ = '\0';
		if (!strcmp(line, "index"))
			idx = strtonum(sp, 0, INT64_MAX, &es);
		else if (!strcmp(line, "size"))
			size = strtonum(sp, 1, INT64_MAX, &es);
		else if (!strcmp(line, "old"))
			oldn = strtonum(sp, 0, INT64_MAX, &es);
		else if (!strcmp(line, "new"))
			newn = strtonum(sp, 1, INT64_MAX, &es);
		else if (!strcmp(line, "leaf"))
			have_leaf = al_b64_decode(sp, strlen(sp), leaf,
			    AL_HASH) == AL_HASH;
		else if (!strcmp(line, "path")) {
			if (np == AL_TREE_MAXH * 2 || al_b64_decode(sp,
			    strlen(sp), path[np++], AL_HASH) != AL_HASH)
				die("%s: bad path", file);
		} else if (!strcmp(line, "keycert")) {
			struct al_keycert kc;
			char *t = b64_text(sp);

			if (t == NULL || al_keycert_parse(t, strlen(t), &kc) ==
			    -1 || kc.epoch != nepochs ||
			    strcmp(kc.origin, v->origin) != 0 ||
			    al_keycert_verify(t, &kc, pks[nepochs - 1]) == -1) {
				printf("audit-verify: FAIL kind=key-epoch: key "
				    "certificate %llu does not chain to the root "
				    "key\n", (unsigned long long)nepochs);
				free(t);
				goto out;
			}
			pks = xreallocarray(pks, nepochs + 1, AL_PK);
			memcpy(pks[nepochs++], kc.pk, AL_PK);
			free(t);
		} else if (!strcmp(line, "checkpoint")) {
			if (nn == 2 || (notes[nn++] = b64_text(sp)) == NULL)
				die("%s: bad checkpoint", file);
		} else
			die("%s: unknown line \"%s\"", file, line);
		if (es != NULL)
			die("%s: %s: %s", file, line, es);
	}
	if (kind == NULL)
		die("%s: empty", file);
	if (!strcmp(kind, "inclusion")) {
		if (nn != 1 || !have_leaf)
			die("%s: incomplete inclusion proof", file);
		if (check_note(notes[0], pks, nepochs, v->origin, &c1) == -1)
			goto out;
		if (c1.size != size || al_inclusion_verify(idx, size, leaf,
		    (const unsigned char (*)[AL_HASH])path, np, c1.root) == -1) {
			printf("audit-verify: FAIL kind=proof: leaf %llu is not "
			    "in the tree of size %llu\n",
			    (unsigned long long)idx, (unsigned long long)size);
			goto out;
		}
		printf("audit-verify: PASS inclusion of seq %llu in the signed "
		    "tree of size %llu (epoch %llu)\n", (unsigned long long)idx,
		    (unsigned long long)size, (unsigned long long)c1.epoch);
	} else if (!strcmp(kind, "consistency")) {
		if (nn != 2)
			die("%s: incomplete consistency proof", file);
		if (check_note(notes[0], pks, nepochs, v->origin, &c1) == -1 ||
		    check_note(notes[1], pks, nepochs, v->origin, &c2) == -1)
			goto out;
		if (c1.size != oldn || c2.size != newn ||
		    al_consistency_verify(oldn, newn, c1.root, c2.root,
		    (const unsigned char (*)[AL_HASH])path, np) == -1) {
			printf("audit-verify: FAIL kind=equivocation: the tree "
			    "of size %llu is not a prefix of the tree of size "
			    "%llu\n", (unsigned long long)oldn,
			    (unsigned long long)newn);
			goto out;
		}
		printf("audit-verify: PASS the signed tree of size %llu is a "
		    "prefix of the signed tree of size %llu\n",
		    (unsigned long long)oldn, (unsigned long long)newn);
	} else
		die("%s: unknown proof kind %s", file, kind);
	rc = V_PASS;
out:
	free(notes[0]);
	free(notes[1]);
	free(pks);
	free(path);
	free(buf);
	return rc;
}

/* The options that apply to every log verified (one, or each of a set). */
struct vopts {
	int		 forensic, json, quiet, verbose;
	int		 have_now, strict_liveness;
	uint64_t	 now_ns, max_age_ns;
	char		**exts;		/* --checkpoint */
	int		 next;
	int		*ext_used;	/* --set: a log of the set took it */
	char		**cos;		/* --cosigned */
	int		 ncos;
	const char	*witness;
};

/* Set v up for one log from its verifier key and the options. */
static void
verifier_setup(struct verifier *v, const struct vopts *o, const char *vkey,
    const char *vkeyfile, int set)
{
	load_vkey(v, vkey, vkeyfile);
	v->forensic = o->forensic;
	v->json = o->json;
	v->quiet = o->quiet;
	v->verbose = o->verbose;
	v->have_now = o->have_now;
	v->now_ns = o->now_ns;
	v->max_age_ns = o->max_age_ns;
	v->strict_liveness = o->strict_liveness;
	v->xsplit = set;
	if (o->witness != NULL) {
		load_witness(v, o->witness);
		if (o->ncos == 0)
			load_cosigned(v, DEFAULT_COSIGNED);
		for (int i = 0; i < o->ncos; i++)
			load_cosigned(v, o->cos[i]);
		snprintf(v->wwhere, sizeof(v->wwhere), "%s%s",
		    o->ncos ? o->cos[0] : DEFAULT_COSIGNED, o->ncos > 1 ?
		    ", ..." : "");
	}
	/* In a set, a checkpoint kept elsewhere is its own log's. */
	for (int i = 0; i < o->next; i++)
		if (load_ext(v, o->exts[i], set ? EXT_OURS : EXT_STRICT) &&
		    set)
			o->ext_used[i] = 1;
}

/* Verify a log directory, or exported lines, and print the report. */
static void
verify_path(struct verifier *v, const char *path)
{
	if (is_log(path))
		av_verify_log(v, path);
	else
		av_verify_export(v, path);
	print_report(v);
}

/* The worse of two exit statuses: FAIL, then error, then policy. */
static int
worse(int a, int b)
{
	static const int rank[] = { 0, 3, 1, 2 };	/* by V_* */

	return rank[b] > rank[a] ? b : a;
}

/* One log of a --set file. */
struct member {
	char		 name[SET_NAME + 1];
	char		 vkey[VKEY_LINE];
	char		*path;		/* NULL: the operand */
	unsigned char	 log_id[AL_LOGID];
	int		 verdict;
};

/* A log's name in a set: letters, digits, '.', '_', '-', 1..SET_NAME. */
static int
valid_name(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= SET_NAME && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/*
 * Read a --set file: one log a line, "name vkey [path]" separated by
 * blanks, where vkey is a verifier key or a file holding one and path
 * a log directory or exported lines (default: the operand); '#' starts
 * a comment line.  Two lines with one name or one log id are refused:
 * no log can stand for another.
 */
static struct member *
set_load(const char *file, size_t *nm)
{
	FILE *fp = fopen(file, "re");
	struct member *m = NULL;
	char *line = NULL;
	size_t cap = 0, n = 0, lineno = 0;
	ssize_t len;

	if (fp == NULL)
		die("%s: %s", file, strerror(errno));
	while ((len = getline(&line, &cap, fp)) != -1) {
		char *f[4], *save, *t;
		int nf = 0;
		struct member *x;
		struct verifier tmp;
		char origin[AL_ORIGIN_MAX];
		unsigned char pk[AL_PK];

		lineno++;
		if ((size_t)len > SET_LINE)
			die("%s:%zu: longer than %d bytes", file, lineno,
			    SET_LINE);
		if (memchr(line, '\0', len) != NULL)
			die("%s:%zu: a NUL byte", file, lineno);
		line[strcspn(line, "\r\n")] = '\0';
		for (t = strtok_r(line, " \t", &save); t != NULL && nf < 4;
		    t = strtok_r(NULL, " \t", &save))
			f[nf++] = t;
		if (nf == 0 || f[0][0] == '#')
			continue;
		if (nf < 2 || nf > 3)
			die("%s:%zu: not \"name vkey [path]\"", file, lineno);
		if (!valid_name(f[0]))
			die("%s:%zu: the name must be 1 to %d of A-Z a-z 0-9 . _ -",
			    file, lineno, SET_NAME);
		if (n == SET_MAX)
			die("%s: at most %d logs", file, SET_MAX);
		m = xreallocarray(m, n + 1, sizeof(*m));
		x = &m[n];
		memset(x, 0, sizeof(*x));
		strlcpy(x->name, f[0], sizeof(x->name));
		/* The key itself, or a file that holds it. */
		if (al_vkey_parse(f[1], origin, sizeof(origin), pk) == 0) {
			if (strlcpy(x->vkey, f[1], sizeof(x->vkey)) >=
			    sizeof(x->vkey))
				die("%s:%zu: the key is too long", file, lineno);
		} else
			read_key_line(f[1], x->vkey, sizeof(x->vkey));
		memset(&tmp, 0, sizeof(tmp));
		if (av_init(&tmp, x->vkey) == -1)
			die("%s:%zu: not a verifier key (<name>/<log id>+<id>+"
			    "<key>)", file, lineno);
		memcpy(x->log_id, tmp.log_id, AL_LOGID);
		av_free(&tmp);
		x->path = nf == 3 ? xstrdup(f[2]) : NULL;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(m[i].name, x->name) == 0)
				die("%s:%zu: the name %s twice", file, lineno,
				    x->name);
			if (memcmp(m[i].log_id, x->log_id, AL_LOGID) == 0)
				die("%s:%zu: %s and %s have one log id: each "
				    "node's log has its own key", file, lineno,
				    m[i].name, x->name);
		}
		n++;
	}
	if (ferror(fp))
		die("%s: %s", file, strerror(errno));
	free(line);
	fclose(fp);
	if (n == 0)
		die("%s: no log", file);
	*nm = n;
	return m;
}

/* Lines of a log outside the set in an export, reported once per path. */
struct unlisted {
	const char	*path;
	char		 id[2 * AL_LOGID + 1];
	uint64_t	 lines;
};

/* The other logs v saw in the export at path that the set does not name. */
static void
set_unlisted(const struct verifier *v, const char *path,
    const struct member *m, size_t nm, struct unlisted **u, size_t *nu)
{
	for (size_t i = 0; i < v->nxothers; i++) {
		const struct xother *x = &v->xothers[i];
		unsigned char id[AL_LOGID];
		size_t k;

		if (al_unhex(x->id, strlen(x->id), id, AL_LOGID) == -1)
			continue;
		for (k = 0; k < nm; k++)
			if (memcmp(m[k].log_id, id, AL_LOGID) == 0)
				break;
		if (k < nm)
			continue;	/* the set's: verified on its own */
		for (k = 0; k < *nu; k++)
			if (strcmp((*u)[k].path, path) == 0 &&
			    strcmp((*u)[k].id, x->id) == 0)
				break;
		if (k < *nu)
			continue;
		*u = xreallocarray(*u, *nu + 1, sizeof(**u));
		(*u)[*nu].path = path;
		strlcpy((*u)[*nu].id, x->id, sizeof((*u)[*nu].id));
		(*u)[(*nu)++].lines = x->lines;
	}
}

/*
 * --set: every log of the file against its own key, a verdict line
 * each (prefixed with its name), then the set's.  The exit status is
 * the worst: 1 if any log FAILs, else 3 if one could not be read, else
 * 2 (policy: unsealed, stale, unwitnessed, or an export holding lines
 * of a log the set does not name), else 0.
 */
static int
set_run(const char *file, const char *operand, struct vopts *o)
{
	struct member *m;
	struct unlisted *u = NULL;
	size_t nm, nu = 0, cnt[4] = { 0, 0, 0, 0 };
	int rc = V_PASS;

	m = set_load(file, &nm);
	for (size_t i = 0; i < nm; i++)
		if (m[i].path == NULL && operand == NULL)
			die("%s: %s has no path and no export was given", file,
			    m[i].name);
	o->ext_used = xcalloc(o->next ? o->next : 1, sizeof(int));
	for (size_t i = 0; i < nm; i++) {
		struct verifier *v = xcalloc(1, sizeof(*v));
		const char *path = m[i].path ? m[i].path : operand;

		verifier_setup(v, o, m[i].vkey, NULL, 1);
		member_name = m[i].name;
		member_sep = " ";
		verify_path(v, path);
		m[i].verdict = v->verdict;
		cnt[v->verdict]++;
		rc = worse(rc, v->verdict);
		if (v->xmode)
			set_unlisted(v, path, m, nm, &u, &nu);
		av_free(v);
		free(v);
		fflush(stdout);
	}
	member_name = member_sep = "";
	for (int i = 0; i < o->next; i++)
		if (!o->ext_used[i]) {
			printf("audit-verify: ERROR --checkpoint %s: a checkpoint "
			    "of no log of the set\n", o->exts[i]);
			rc = worse(rc, V_USAGE);
		}
	for (size_t i = 0; i < nu; i++) {
		if (!o->json)
			printf("audit-verify: UNSEALED kind=unlisted log_id=%s "
			    "lines=%llu: %s holds lines of a log the set does "
			    "not name (not verified)\n", u[i].id,
			    (unsigned long long)u[i].lines, u[i].path);
		rc = worse(rc, V_POLICY);
	}
	if (o->json) {
		printf("{\"set\":\"%s\",\"logs\":%zu,\"pass\":%zu,\"fail\":%zu,"
		    "\"policy\":%zu,\"error\":%zu,\"unlisted\":[",
		    verdict_name(rc), nm, cnt[V_PASS], cnt[V_FAIL],
		    cnt[V_POLICY], cnt[V_USAGE]);
		for (size_t i = 0; i < nu; i++)
			printf("%s{\"log_id\":\"%s\",\"lines\":%llu}", i ? "," :
			    "", u[i].id, (unsigned long long)u[i].lines);
		printf("],\"not_passed\":[");
		for (size_t i = 0, k = 0; i < nm; i++)
			if (m[i].verdict != V_PASS) {
				printf("%s", k++ ? "," : "");
				json_str(stdout, m[i].name);
			}
		printf("]}\n");
	} else if (!(o->quiet && rc == V_PASS)) {
		int k = 0;

		printf("audit-verify: set %s logs=%zu pass=%zu fail=%zu "
		    "unsealed=%zu error=%zu unlisted=%zu", verdict_name(rc), nm,
		    cnt[V_PASS], cnt[V_FAIL], cnt[V_POLICY], cnt[V_USAGE], nu);
		for (size_t i = 0; i < nm; i++)
			if (m[i].verdict != V_PASS)
				printf("%s%s=%s", k++ ? "," : " not_passed=",
				    m[i].name, verdict_name(m[i].verdict));
		putchar('\n');
	}
	for (size_t i = 0; i < nm; i++)
		free(m[i].path);
	free(m);
	free(u);
	free(o->ext_used);
	return rc;
}

int
main(int argc, char *argv[])
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "now", optional_argument, NULL, 1 },
		{ "max-age", required_argument, NULL, 2 },
		{ "checkpoint", required_argument, NULL, 3 },
		{ "strict-liveness", no_argument, NULL, 4 },
		{ "witness", required_argument, NULL, 5 },
		{ "cosigned", required_argument, NULL, 6 },
		{ "set", required_argument, NULL, 7 },
		{ "forensic", no_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct verifier v;
	struct vopts o;
	const char *vkey = NULL, *vkeyfile = NULL, *es = NULL, *setfile = NULL;
	int ch, rc;

	memset(&v, 0, sizeof(v));
	memset(&o, 0, sizeof(o));
	while ((ch = getopt_long(argc, argv, "+FhjK:k:qVv", lopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'F':
			o.forensic = 1;
			break;
		case 'h':
			usage(stdout, 0);
		case 'j':
			o.json = 1;
			break;
		case 'K':
			vkeyfile = optarg;
			break;
		case 'k':
			vkey = optarg;
			break;
		case 'q':
			o.quiet = 1;
			break;
		case 'V':
			printf("audit-verify %s\n", VERSION);
			exit(0);
		case 'v':
			o.verbose = 1;
			break;
		case 1:
			o.have_now = 1;
			if (optarg == NULL)
				o.now_ns = (uint64_t)time(NULL) * 1000000000ULL;
			else {
				o.now_ns = strtonum(optarg, 1, INT64_MAX /
				    1000000000, &es) * 1000000000ULL;
				if (es != NULL)
					die("--now %s: %s", optarg, es);
			}
			break;
		case 2:
			o.max_age_ns = strtonum(optarg, 1, INT64_MAX /
			    1000000000, &es) * 1000000000ULL;
			if (es != NULL)
				die("--max-age %s: %s", optarg, es);
			break;
		case 3:
			o.exts = xreallocarray(o.exts, o.next + 1,
			    sizeof(*o.exts));
			o.exts[o.next++] = optarg;
			break;
		case 4:
			o.strict_liveness = 1;
			break;
		case 5:
			o.witness = optarg;
			break;
		case 6:
			o.cos = xreallocarray(o.cos, o.ncos + 1, sizeof(*o.cos));
			o.cos[o.ncos++] = optarg;
			break;
		case 7:
			setfile = optarg;
			break;
		default:
			usage(stderr, V_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	if (o.ncos > 0 && o.witness == NULL)
		die("--cosigned needs --witness");
	if (setfile != NULL) {
		if (vkey != NULL || vkeyfile != NULL)
			die("--set names the keys: no -k or -K");
		if (argc > 1 || (argc == 1 && (strcmp(argv[0], "prove") == 0 ||
		    strcmp(argv[0], "check") == 0)))
			usage(stderr, V_USAGE);
		rc = set_run(setfile, argc == 1 ? argv[0] : NULL, &o);
		free(o.exts);
		free(o.cos);
		return rc;
	}
	if (argc == 0)
		usage(stderr, V_USAGE);
	if (strcmp(argv[0], "check") == 0) {
		int k;

		/* Options may also follow "check". */
		optind = 0;
		while ((k = getopt(argc, argv, "K:k:")) != -1) {
			if (k == 'K')
				vkeyfile = optarg;
			else if (k == 'k')
				vkey = optarg;
			else
				usage(stderr, V_USAGE);
		}
		if (argc - optind != 1)
			usage(stderr, V_USAGE);
		load_vkey(&v, vkey, vkeyfile);
		rc = check(&v, argv[optind]);
		av_free(&v);
		return rc;
	}
	if (strcmp(argv[0], "prove") == 0) {
		int k;

		optind = 0;
		while ((k = getopt(argc, argv, "+K:k:")) != -1) {
			if (k == 'K')
				vkeyfile = optarg;
			else if (k == 'k')
				vkey = optarg;
			else
				usage(stderr, V_USAGE);
		}
		load_vkey(&v, vkey, vkeyfile);
		v.quiet = 1;
		rc = prove(&v, argc - optind, argv + optind);
		av_free(&v);
		return rc;
	}
	if (argc != 1)
		usage(stderr, V_USAGE);
	verifier_setup(&v, &o, vkey, vkeyfile, 0);
	verify_path(&v, argv[0]);
	rc = v.verdict;
	free(o.exts);
	free(o.cos);
	av_free(&v);
	return rc;
}
