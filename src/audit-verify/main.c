/* SPDX-License-Identifier: ISC */
/*
 * audit-verify: the offline verifier of a sealed audit log.  It needs
 * only the public root key (the verifier key printed by audit-sign
 * --keygen) and reports PASS, or FAIL with the first failing sequence
 * number and the kind of tamper.  "prove" writes inclusion and
 * consistency proofs, "check" verifies them.  Exit: 0 PASS, 1 FAIL
 * (tamper), 2 unsealed, torn or stale (policy), 3 usage or I/O.
 * See audit-verify(8) and spec/audit.md §5.7.
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

static void __attribute__((noreturn))
usage(FILE *fp, int ex)
{
	fprintf(fp,
	    "usage: audit-verify [-FjqVv] -k vkey|-K file [--now[=secs]] "
	    "[--max-age secs]\n"
	    "\t[--checkpoint file]... [--witness key [--cosigned path]...]\n"
	    "\t[--strict-liveness] logdir|export.jsonl|exportdir\n"
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

static void
load_vkey(struct verifier *v, const char *vkey, const char *vkeyfile)
{
	char line[512];

	if (vkeyfile != NULL) {
		FILE *fp = fopen(vkeyfile, "re");

		if (fp == NULL)
			die("%s: %s", vkeyfile, strerror(errno));
		if (fgets(line, sizeof(line), fp) == NULL)
			die("%s: empty", vkeyfile);
		fclose(fp);
		line[strcspn(line, "\r\n")] = '\0';
		vkey = line;
	}
	if (vkey == NULL)
		die("the verifier key is needed: -k vkey or -K file");
	if (av_init(v, vkey) == -1)
		die("not a verifier key (<name>/<log id>+<id>+<key>): %s",
		    vkey);
}

/*
 * A checkpoint kept elsewhere (--checkpoint, or a witness's cosigned one
 * with --cosigned).  In a directory (quiet), notes of other logs and
 * files that are no notes are passed over.
 */
static void
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
	if (al_ckpt_parse((char *)buf, len, &e->c, err, sizeof(err)) == -1 ||
	    strcmp(e->c.origin, v->origin) != 0) {
		free(buf);
		if (quiet)
			return;
		die("%s: %s", file, strcmp(e->c.origin, v->origin) ? "a "
		    "checkpoint of another log" : err);
	}
	v->next++;
	e->file = xstrdup(file);
	e->note = (char *)buf;
	e->notelen = len;
	if (v->have_witness && al_cosig_verify(e->note, len, &e->c, v->wname,
	    v->wpk, &e->cosig_time) == 0)
		e->cosigned = 1;
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
		load_ext(v, path, 0);
		return;
	}
	if ((d = opendir(path)) == NULL)
		die("%s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char p[4096];
		struct stat fs;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		if (stat(p, &fs) == 0 && S_ISREG(fs.st_mode))
			load_ext(v, p, 1);
	}
	closedir(d);
}

/* --witness: a cosigner verifier key, or a file that holds one. */
static void
load_witness(struct verifier *v, const char *arg)
{
	char line[512];
	FILE *fp;

	strlcpy(line, arg, sizeof(line));
	if ((fp = fopen(arg, "re")) != NULL) {
		if (fgets(line, sizeof(line), fp) == NULL)
			line[0] = '\0';
		fclose(fp);
		line[strcspn(line, "\r\n")] = '\0';
	}
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

	snprintf(p, sizeof(p), "%s/seg", path);
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
	return v == V_PASS ? "PASS" : v == V_FAIL ? "FAIL" : "UNSEALED";
}

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
		printf("{\"verdict\":\"%s\",\"origin\":", verdict_name(
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
		printf("audit-verify: PASS origin=%s records=%llu size=%llu "
		    "checkpoints=%llu epoch=%llu segments=%llu boots=%llu "
		    "recoveries=%llu damaged=%llu last_checkpoint=%s\n",
		    v->origin, (unsigned long long)v->records,
		    (unsigned long long)v->sealed,
		    (unsigned long long)v->checkpoints,
		    (unsigned long long)v->epoch,
		    (unsigned long long)v->segments,
		    (unsigned long long)v->boots,
		    (unsigned long long)v->recoveries,
		    (unsigned long long)v->damaged_checkpoints, t);
	else {
		printf("audit-verify: %s", verdict_name(v->verdict));
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
		{ "forensic", no_argument, NULL, 'F' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct verifier v;
	const char *vkey = NULL, *vkeyfile = NULL, *es = NULL;
	char **exts = NULL, **cos = NULL;
	const char *witness = NULL;
	int ch, next = 0, ncos = 0, rc;

	memset(&v, 0, sizeof(v));
	while ((ch = getopt_long(argc, argv, "+FhjK:k:qVv", lopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'F':
			v.forensic = 1;
			break;
		case 'h':
			usage(stdout, 0);
		case 'j':
			v.json = 1;
			break;
		case 'K':
			vkeyfile = optarg;
			break;
		case 'k':
			vkey = optarg;
			break;
		case 'q':
			v.quiet = 1;
			break;
		case 'V':
			printf("audit-verify %s\n", VERSION);
			exit(0);
		case 'v':
			v.verbose = 1;
			break;
		case 1:
			v.have_now = 1;
			if (optarg == NULL)
				v.now_ns = (uint64_t)time(NULL) * 1000000000ULL;
			else {
				v.now_ns = strtonum(optarg, 1, INT64_MAX /
				    1000000000, &es) * 1000000000ULL;
				if (es != NULL)
					die("--now %s: %s", optarg, es);
			}
			break;
		case 2:
			v.max_age_ns = strtonum(optarg, 1, INT64_MAX /
			    1000000000, &es) * 1000000000ULL;
			if (es != NULL)
				die("--max-age %s: %s", optarg, es);
			break;
		case 3:
			exts = xreallocarray(exts, next + 1, sizeof(*exts));
			exts[next++] = optarg;
			break;
		case 4:
			v.strict_liveness = 1;
			break;
		case 5:
			witness = optarg;
			break;
		case 6:
			cos = xreallocarray(cos, ncos + 1, sizeof(*cos));
			cos[ncos++] = optarg;
			break;
		default:
			usage(stderr, V_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
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
	load_vkey(&v, vkey, vkeyfile);
	if (ncos > 0 && witness == NULL)
		die("--cosigned needs --witness");
	if (witness != NULL) {
		load_witness(&v, witness);
		if (ncos == 0)
			load_cosigned(&v, DEFAULT_COSIGNED);
		for (int i = 0; i < ncos; i++)
			load_cosigned(&v, cos[i]);
		snprintf(v.wwhere, sizeof(v.wwhere), "%s%s",
		    ncos ? cos[0] : DEFAULT_COSIGNED, ncos > 1 ? ", ..." : "");
	}
	for (int i = 0; i < next; i++)
		load_ext(&v, exts[i], 0);
	if (is_log(argv[0]))
		av_verify_log(&v, argv[0]);
	else
		av_verify_export(&v, argv[0]);
	print_report(&v);
	rc = v.verdict;
	free(exts);
	free(cos);
	av_free(&v);
	return rc;
}
