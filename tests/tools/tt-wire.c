/* SPDX-License-Identifier: ISC */
/*
 * tt-wire: a raw Tentacle client for the wire tests.  It sends exact
 * bytes with controlled segmentation (one step, one write) and reports
 * exactly what came back, so bats tests can check replies byte for byte,
 * closes and their timing.  It is also the load generator (--flood) and
 * hands out free ports (--freeport).  See tests/tools/README.md.
 *
 * Exit codes: 0 all steps passed, 1 a step failed, 2 cannot connect,
 * 3 TLS failure (handshake or an alert from the peer), 64 usage.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define EXIT_STEP	1
#define EXIT_CONN	2
#define EXIT_TLS	3
#define EXIT_USAGE	64
#define EXIT_BUG	70

#define DEFAULT_ADDR	"127.0.0.1"
#define DEFAULT_PORT	"41121"
#define DEFAULT_TIMEOUT	5000
#define LINE_MAX_BYTES	65536		/* expectline gives up after this */
#define SHOW_MAX	2048		/* bytes shown in a message */
#define SLURP_MAX	512		/* extra bytes shown on a failure */
#define SLURP_MS	200		/* ...if they come this fast */
#define CHUNK		(26 * 40330)	/* big sends; a multiple of 26 */

/* Results of a read or a wait, besides a positive byte count. */
#define RD_EOF		0
#define RD_RESET	(-1)
#define RD_TIMEOUT	(-2)
#define RD_DATA		1		/* wait only: bytes are readable */

enum arg_kind {
	A_NONE,		/* keyword */
	A_TEXT,		/* keyword:TEXT */
	A_PATH,		/* keyword:PATH */
	A_NUM,		/* keyword:N */
	A_NUM_BYTE,	/* keyword:N:BYTE */
	A_TEXT_NUM,	/* keyword:TEXT:N (split at the last colon) */
	A_NUM_NUM,	/* keyword:N:N */
	A_NUM_PATH	/* keyword:N:PATH */
};

enum step_kind {
	S_SEND, S_SENDFILE, S_SENDZEROS, S_SENDBYTES, S_SENDSLOW, S_PASS,
	S_EXPECT, S_EXPECTLINE, S_EXPECTCLOSE, S_EXPECTCLOSEAFTER,
	S_EXPECTSILENCE, S_NOTHING_PENDING, S_READ, S_SLEEP, S_CLOSE,
	S_SHUTWR, S_BYTEWISE, S_MS, S_PRINTLINE
};

static const struct step_def {
	const char	*name;
	enum step_kind	 kind;
	enum arg_kind	 arg;
} step_defs[] = {
	{ "send",		S_SEND,			A_TEXT },
	{ "sendfile",		S_SENDFILE,		A_PATH },
	{ "sendzeros",		S_SENDZEROS,		A_NUM },
	{ "sendbytes",		S_SENDBYTES,		A_NUM_BYTE },
	{ "sendslow",		S_SENDSLOW,		A_TEXT_NUM },
	{ "pass",		S_PASS,			A_TEXT },
	{ "expect",		S_EXPECT,		A_TEXT },
	{ "expectline",		S_EXPECTLINE,		A_TEXT },
	{ "expectclose",	S_EXPECTCLOSE,		A_NONE },
	{ "expectcloseafter",	S_EXPECTCLOSEAFTER,	A_NUM_NUM },
	{ "expectsilence",	S_EXPECTSILENCE,	A_NUM },
	{ "nothing-pending",	S_NOTHING_PENDING,	A_NONE },
	{ "read",		S_READ,			A_NUM_PATH },
	{ "sleep",		S_SLEEP,		A_NUM },
	{ "close",		S_CLOSE,		A_NONE },
	{ "shutwr",		S_SHUTWR,		A_NONE },
	{ "bytewise",		S_BYTEWISE,		A_NONE },
	{ "ms",			S_MS,			A_NONE },
	{ "printline",		S_PRINTLINE,		A_NONE },
};

struct step {
	const struct step_def	*def;
	unsigned char		*text;		/* decoded, NUL-terminated */
	size_t			 len;
	long long		 n1, n2;
	char			*path;
	unsigned char		 byte;
};

struct opts {
	const char	*addr, *port, *bind;
	int		 timeout_ms;
	int		 retry_ms;
	int		 tls;
	const char	*cert, *key, *ca;
	int		 tls_min, tls_max;
	const char	*password;		/* flood only */
	long long	 flood;			/* files per client, or -1 */
	const char	*prefix, *suffix, *data;
	long long	 size;
	int		 separate, parallel, stats;
	unsigned char	*pre;			/* --preamble, decoded */
	size_t		 prelen;
};

struct wire {
	int		 fd;
	SSL		*ssl;
	int		 timeout_ms;
	int64_t		 t0;		/* when the TCP connect completed */
	int		 bytewise;
	int		 cut_step;	/* a send the peer cut short, or 0 */
};

/*
 * Global so that everything stays reachable when a failure exits from
 * deep inside a step: the ASan build must not report leaks then.
 */
static char		 where[160];	/* what we are doing, for messages */
static SSL_CTX		*tls_ctx;
static struct step	*steps;
static size_t		 nsteps, stepcap;
static unsigned char	*bigbuf;	/* CHUNK bytes for big sends */
static unsigned char	*expbuf;	/* expect's buffer */
static size_t		 expcap;
static unsigned char	*flood_data;	/* --data contents */
static pid_t		*flood_pids;
static int64_t		 step_start;	/* when the current step began */

static void usage(FILE *, int) __attribute__((noreturn));

/* Print "tt-wire: <where>: message" to stderr and exit with code. */
static void __attribute__((noreturn, format(printf, 2, 3)))
failx(int code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("tt-wire: ", stderr);
	if (where[0] != '\0')
		fprintf(stderr, "%s: ", where);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* Milliseconds on the monotonic clock. */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep ms milliseconds, resuming after signals. */
static void
sleep_ms(long long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		failx(EXIT_BUG, "out of memory");
	return p;
}

/*
 * Show bytes as a C string body: printable ASCII as is, the rest escaped.
 * Returns one of a few static buffers, so two calls fit in one message.
 */
static const char *
vis(const unsigned char *p, size_t len)
{
	static char bufs[3][SHOW_MAX * 4 + 64];
	static int which;
	char *out = bufs[which], *o = out;
	size_t show = len > SHOW_MAX ? SHOW_MAX : len;

	which = (which + 1) % 3;
	for (size_t i = 0; i < show; i++) {
		unsigned char c = p[i];

		switch (c) {
		case '\n':	*o++ = '\\'; *o++ = 'n'; break;
		case '\r':	*o++ = '\\'; *o++ = 'r'; break;
		case '\t':	*o++ = '\\'; *o++ = 't'; break;
		case '\\':	*o++ = '\\'; *o++ = '\\'; break;
		case '"':	*o++ = '\\'; *o++ = '"'; break;
		default:
			if (c >= 0x20 && c < 0x7f)
				*o++ = (char)c;
			else
				o += sprintf(o, "\\x%02x", c);
		}
	}
	if (show < len)
		o += sprintf(o, "...(%zu more bytes)", len - show);
	*o = '\0';
	return out;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode C escapes (\n \r \t \0 \e \\ \xHH) from s[0..len) into a new
 * NUL-terminated buffer.  Returns NULL on a bad escape.
 */
static unsigned char *
unescape(const char *s, size_t len, size_t *outlen)
{
	unsigned char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		if (s[i] != '\\') {
			*o++ = (unsigned char)s[i];
			continue;
		}
		if (++i == len)
			goto bad;
		switch (s[i]) {
		case 'n':	*o++ = '\n'; break;
		case 'r':	*o++ = '\r'; break;
		case 't':	*o++ = '\t'; break;
		case '0':	*o++ = '\0'; break;
		case 'e':	*o++ = 0x1b; break;
		case '\\':	*o++ = '\\'; break;
		case 'x': {
			int hi, lo;

			if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				goto bad;
			*o++ = (unsigned char)(hi << 4 | lo);
			i += 2;
			break;
		}
		default:
			goto bad;
		}
	}
	*o = '\0';
	*outlen = (size_t)(o - out);
	return out;
bad:
	free(out);
	return NULL;
}

/* Parse a decimal integer in [min, max]; NULL if fine, else why not. */
static const char *
parse_num(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if ((*s < '0' || *s > '9') && *s != '-')
		return "not a number";
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return "not a number";
	if (errno == ERANGE || v < min || v > max)
		return "out of range";
	*out = v;
	return NULL;
}

/* Parse n[0..len) as a number for step text src, or exit 64. */
static long long
step_num(const char *src, const char *s, size_t len, long long min,
    long long max)
{
	char tmp[32];
	const char *why;
	long long v = 0;

	if (len >= sizeof(tmp))
		failx(EXIT_USAGE, "\"%s\": number out of range", src);
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if ((why = parse_num(tmp, min, max, &v)) != NULL)
		failx(EXIT_USAGE, "\"%s\": number \"%s\" %s", src, tmp, why);
	return v;
}

/* Turn one script word into a step, or exit 64. */
static void
step_parse(const char *src, struct step *st)
{
	const char *colon = strchr(src, ':'), *arg, *sep;
	size_t klen = colon != NULL ? (size_t)(colon - src) : strlen(src);
	size_t alen, n;

	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < sizeof(step_defs) / sizeof(step_defs[0]); i++)
		if (strlen(step_defs[i].name) == klen &&
		    strncmp(step_defs[i].name, src, klen) == 0)
			st->def = &step_defs[i];
	if (st->def == NULL)
		failx(EXIT_USAGE, "\"%s\": unknown step", src);
	if (st->def->arg == A_NONE) {
		if (colon != NULL)
			failx(EXIT_USAGE, "\"%s\": takes no argument", src);
		return;
	}
	if (colon == NULL)
		failx(EXIT_USAGE, "\"%s\": needs an argument", src);
	arg = colon + 1;
	alen = strlen(arg);
	switch (st->def->arg) {
	case A_TEXT:
		if ((st->text = unescape(arg, alen, &st->len)) == NULL)
			failx(EXIT_USAGE, "\"%s\": bad escape", src);
		break;
	case A_PATH:
		if (alen == 0)
			failx(EXIT_USAGE, "\"%s\": empty path", src);
		st->path = strdup(arg);
		break;
	case A_NUM:
		st->n1 = step_num(src, arg, alen, 0,
		    st->def->kind == S_SENDZEROS ? LLONG_MAX / 2 : INT_MAX);
		break;
	case A_NUM_BYTE:
	case A_NUM_NUM:
	case A_NUM_PATH:
		if ((sep = strchr(arg, ':')) == NULL)
			failx(EXIT_USAGE, "\"%s\": needs two arguments", src);
		st->n1 = step_num(src, arg, (size_t)(sep - arg), 0,
		    st->def->arg == A_NUM_NUM ? INT_MAX : LLONG_MAX / 2);
		sep++;
		if (st->def->arg == A_NUM_NUM) {
			st->n2 = step_num(src, sep, strlen(sep), st->n1,
			    INT_MAX);
		} else if (st->def->arg == A_NUM_PATH) {
			if (*sep == '\0')
				failx(EXIT_USAGE, "\"%s\": empty path", src);
			st->path = strdup(sep);
		} else {
			unsigned char *b = unescape(sep, strlen(sep), &n);
			int ok = b != NULL && n == 1;

			if (ok)
				st->byte = b[0];
			free(b);
			if (!ok)
				failx(EXIT_USAGE,
				    "\"%s\": BYTE must be one byte", src);
		}
		break;
	case A_TEXT_NUM:
		if ((sep = strrchr(arg, ':')) == NULL)
			failx(EXIT_USAGE, "\"%s\": needs TEXT:MS", src);
		if ((st->text = unescape(arg, (size_t)(sep - arg),
		    &st->len)) == NULL)
			failx(EXIT_USAGE, "\"%s\": bad escape", src);
		st->n1 = step_num(src, sep + 1, strlen(sep + 1), 0, INT_MAX);
		break;
	case A_NONE:
		break;
	}
	if ((st->def->arg == A_PATH || st->def->arg == A_NUM_PATH) &&
	    st->path == NULL)
		failx(EXIT_BUG, "out of memory");
}

/* Append the step written src to the global list. */
static void
step_add(const char *src)
{
	if (nsteps == stepcap) {
		stepcap = stepcap * 2 + 16;
		if ((steps = realloc(steps, stepcap * sizeof(*steps))) == NULL)
			failx(EXIT_BUG, "out of memory");
	}
	step_parse(src, &steps[nsteps++]);
}

/* Free the step list. */
static void
steps_free(void)
{
	for (size_t i = 0; i < nsteps; i++) {
		free(steps[i].text);
		free(steps[i].path);
	}
	free(steps);
	steps = NULL;
	nsteps = stepcap = 0;
}

/* The shared buffer for big sends, CHUNK bytes. */
static unsigned char *
big_buf(void)
{
	if (bigbuf == NULL)
		bigbuf = xmalloc(CHUNK);
	return bigbuf;
}

/* Wait until fd is ready for events or the deadline passes: 1 or 0. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int rc;

	for (;;) {
		left = deadline - now_ms();
		if (left < 0)
			left = 0;
		if (left > INT_MAX)
			left = INT_MAX;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, (int)left);
		if (rc > 0)
			return 1;
		if (rc == 0 && left == 0)
			return 0;
		if (rc == -1 && errno != EINTR)
			failx(EXIT_BUG, "poll: %s", strerror(errno));
	}
}

/* Exit 3 with the reason OpenSSL gives for the last failure. */
static void __attribute__((noreturn))
tls_fail(struct wire *w, const char *what, int sslerr)
{
	int saved = errno;
	unsigned long e = ERR_peek_last_error();
	const char *reason = NULL;
	char buf[256];
	long vr;

	if (e != 0) {
		reason = ERR_reason_error_string(e);
		if (reason == NULL) {
			ERR_error_string_n(e, buf, sizeof(buf));
			reason = buf;
		}
	} else if (sslerr == SSL_ERROR_ZERO_RETURN ||
	    (sslerr == SSL_ERROR_SYSCALL && saved == 0))
		reason = "connection closed by peer";
	else if (sslerr == SSL_ERROR_SYSCALL)
		reason = strerror(saved);
	else {
		snprintf(buf, sizeof(buf), "SSL_get_error %d, errno %d",
		    sslerr, saved);
		reason = buf;
	}
	/* Only a verifying client has a verify result worth showing. */
	if (w->ssl != NULL &&
	    (SSL_get_verify_mode(w->ssl) & SSL_VERIFY_PEER) &&
	    (vr = SSL_get_verify_result(w->ssl)) != X509_V_OK)
		failx(EXIT_TLS, "tls %s: %s (%s)", what, reason,
		    X509_verify_cert_error_string(vr));
	failx(EXIT_TLS, "tls %s: %s", what, reason);
}

/*
 * Read at most len bytes, waiting no later than deadline: the count,
 * RD_EOF, RD_RESET or RD_TIMEOUT.  A TLS alert from the peer exits 3.
 */
static ssize_t
w_read(struct wire *w, void *buf, size_t len, int64_t deadline)
{
	ssize_t n;
	short ev;
	int e;

	if (len > INT_MAX)
		len = INT_MAX;
	for (;;) {
		if (w->ssl == NULL) {
			n = read(w->fd, buf, len);
			if (n > 0)
				return n;
			if (n == 0)
				return RD_EOF;
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET)
				return RD_RESET;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				failx(EXIT_STEP, "read: %s", strerror(errno));
			ev = POLLIN;
		} else {
			ERR_clear_error();
			errno = 0;
			n = SSL_read(w->ssl, buf, (int)len);
			if (n > 0)
				return n;
			switch ((e = SSL_get_error(w->ssl, (int)n))) {
			case SSL_ERROR_WANT_READ:
				ev = POLLIN;
				break;
			case SSL_ERROR_WANT_WRITE:
				ev = POLLOUT;
				break;
			case SSL_ERROR_ZERO_RETURN:
				return RD_EOF;
			case SSL_ERROR_SYSCALL:
				if (errno == ECONNRESET)
					return RD_RESET;
				if (errno == 0 || errno == EPIPE)
					return RD_EOF;
				failx(EXIT_STEP, "read: %s", strerror(errno));
			default:
				tls_fail(w, "read", e);
			}
		}
		if (!wait_fd(w->fd, ev, deadline))
			return RD_TIMEOUT;
	}
}

/*
 * Wait for something to read without taking it: RD_DATA, RD_EOF,
 * RD_RESET or RD_TIMEOUT.  A deadline of now polls once.
 */
static int
w_wait(struct wire *w, int64_t deadline)
{
	unsigned char c;
	ssize_t n;
	short ev;
	int e;

	for (;;) {
		if (w->ssl == NULL) {
			n = recv(w->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
			if (n > 0)
				return RD_DATA;
			if (n == 0)
				return RD_EOF;
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET)
				return RD_RESET;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				failx(EXIT_STEP, "recv: %s", strerror(errno));
			ev = POLLIN;
		} else {
			if (SSL_pending(w->ssl) > 0)
				return RD_DATA;
			ERR_clear_error();
			errno = 0;
			n = SSL_peek(w->ssl, &c, 1);
			if (n > 0)
				return RD_DATA;
			/* Session tickets and the like end up here. */
			switch ((e = SSL_get_error(w->ssl, (int)n))) {
			case SSL_ERROR_WANT_READ:
				ev = POLLIN;
				break;
			case SSL_ERROR_WANT_WRITE:
				ev = POLLOUT;
				break;
			case SSL_ERROR_ZERO_RETURN:
				return RD_EOF;
			case SSL_ERROR_SYSCALL:
				if (errno == ECONNRESET)
					return RD_RESET;
				if (errno == 0 || errno == EPIPE)
					return RD_EOF;
				failx(EXIT_STEP, "read: %s", strerror(errno));
			default:
				tls_fail(w, "read", e);
			}
		}
		if (!wait_fd(w->fd, ev, deadline))
			return RD_TIMEOUT;
	}
}

/*
 * Write all of buf in one write()/SSL_write() call if the kernel takes
 * it, looping only for big buffers.  0, RD_RESET if the peer has gone,
 * or RD_TIMEOUT after timeout_ms without progress.
 */
static int
w_write(struct wire *w, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;
	short ev;
	int e;

	while (len > 0) {
		size_t chunk = len > (1U << 30) ? (1U << 30) : len;

		if (w->ssl == NULL) {
			n = write(w->fd, p, chunk);
			if (n > 0) {
				p += n;
				len -= (size_t)n;
				continue;
			}
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && (errno == EPIPE || errno == ECONNRESET))
				return RD_RESET;
			if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
				failx(EXIT_STEP, "write: %s", strerror(errno));
			ev = POLLOUT;
		} else {
			ERR_clear_error();
			errno = 0;
			n = SSL_write(w->ssl, p, (int)chunk);
			if (n > 0) {
				p += n;
				len -= (size_t)n;
				continue;
			}
			switch ((e = SSL_get_error(w->ssl, (int)n))) {
			case SSL_ERROR_WANT_READ:
				ev = POLLIN;
				break;
			case SSL_ERROR_WANT_WRITE:
				ev = POLLOUT;
				break;
			case SSL_ERROR_ZERO_RETURN:
				return RD_RESET;
			case SSL_ERROR_SYSCALL:
				if (errno == EPIPE || errno == ECONNRESET ||
				    errno == 0)
					return RD_RESET;
				failx(EXIT_STEP, "write: %s", strerror(errno));
			default:
				tls_fail(w, "write", e);
			}
		}
		if (!wait_fd(w->fd, ev, now_ms() + w->timeout_ms))
			return RD_TIMEOUT;
	}
	return 0;
}

/*
 * Collect what else arrives (up to SLURP_MAX more bytes, until EOF, a
 * quiet SLURP_MS, or an LF) to show it in a failure message.  Returns
 * the new length; *endp gets RD_EOF/RD_RESET, or 1 if still open.
 */
static size_t
slurp(struct wire *w, unsigned char *buf, size_t have, int *endp)
{
	size_t cap = have + SLURP_MAX;
	ssize_t n;

	*endp = 1;
	if (memchr(buf, '\n', have) != NULL)
		return have;
	while (have < cap) {
		n = w_read(w, buf + have, 1, now_ms() + SLURP_MS);
		if (n == RD_TIMEOUT)
			break;
		if (n <= 0) {
			*endp = (int)n;
			break;
		}
		if (buf[have++] == '\n')
			break;
	}
	return have;
}

/* How a read ended, as a suffix for "got ..." messages. */
static const char *
end_str(int end)
{
	static char buf[64];

	switch (end) {
	case RD_EOF:
		return " then EOF";
	case RD_RESET:
		return " then connection reset";
	case RD_TIMEOUT:
		snprintf(buf, sizeof(buf), " then nothing for %lld ms",
		    (long long)(now_ms() - step_start));
		return buf;
	default:
		return "";
	}
}

/* A note for failed reads when an earlier send was cut short. */
static const char *
cut_note(struct wire *w)
{
	static char note[96];

	if (w->cut_step == 0)
		return "";
	snprintf(note, sizeof(note),
	    " (the peer had already closed during step %d)", w->cut_step);
	return note;
}

/* Fail if bytes are readable right now, showing them. */
static void
check_pending(struct wire *w, const char *context)
{
	static unsigned char buf[SLURP_MAX + 1];
	size_t n;
	int end;

	if (w_wait(w, now_ms()) != RD_DATA)
		return;
	n = slurp(w, buf, 0, &end);
	failx(EXIT_STEP, "%sbytes already pending: \"%s\"%s", context,
	    vis(buf, n), end_str(end));
}

/* Read exactly len bytes and compare them with want. */
static void
do_expect(struct wire *w, const unsigned char *want, size_t wlen)
{
	unsigned char *got;
	int64_t deadline = now_ms() + w->timeout_ms;
	size_t have = 0;
	ssize_t n = 1;
	int end = 1;

	if (expcap < wlen + SLURP_MAX + 1) {
		free(expbuf);
		expcap = wlen + SLURP_MAX + 1;
		expbuf = xmalloc(expcap);
	}
	got = expbuf;

	while (have < wlen) {
		n = w_read(w, got + have, w->bytewise ? 1 : wlen - have,
		    deadline);
		if (n <= 0)
			break;
		if (memcmp(got + have, want + have, (size_t)n) != 0) {
			have += (size_t)n;
			have = slurp(w, got, have, &end);
			break;
		}
		have += (size_t)n;
	}
	if (n <= 0)
		end = (int)n;
	if (have != wlen || memcmp(got, want, wlen) != 0)
		failx(EXIT_STEP, "got \"%s\"%s, want \"%s\"%s",
		    vis(got, have), end_str(end), vis(want, wlen),
		    end <= 0 ? cut_note(w) : "");
	if (w->bytewise)
		check_pending(w, "bytewise: after the reply, ");
}

/* Read one line up to LF, byte by byte, and compare it without the LF. */
static void
do_expectline(struct wire *w, const unsigned char *want, size_t wlen)
{
	static unsigned char got[LINE_MAX_BYTES + 1];
	int64_t deadline = now_ms() + w->timeout_ms;
	size_t have = 0;
	ssize_t n;

	for (;;) {
		if (have == LINE_MAX_BYTES)
			failx(EXIT_STEP, "got \"%s\" and no LF, want \"%s\\n\"",
			    vis(got, have), vis(want, wlen));
		n = w_read(w, got + have, 1, deadline);
		if (n <= 0)
			failx(EXIT_STEP, "got \"%s\"%s, want \"%s\\n\"%s",
			    vis(got, have), end_str((int)n), vis(want, wlen),
			    cut_note(w));
		if (got[have] == '\n')
			break;
		have++;
	}
	if (want == NULL) {	/* printline: show it, no comparison */
		fwrite(got, 1, have, stdout);
		putchar('\n');
		return;
	}
	if (have != wlen || memcmp(got, want, wlen) != 0)
		failx(EXIT_STEP, "got \"%s\\n\", want \"%s\\n\"",
		    vis(got, have), vis(want, wlen));
	if (w->bytewise)
		check_pending(w, "bytewise: after the line, ");
}

/*
 * Wait for the peer to close with no bytes first.  Returns the ms it
 * took; fails if bytes came, or nothing happened before deadline.
 */
static int64_t
do_expectclose(struct wire *w, int64_t start, int64_t deadline)
{
	static unsigned char buf[SLURP_MAX + 1];
	size_t n;
	int end, ev;

	ev = w_wait(w, deadline);
	if (ev == RD_EOF || ev == RD_RESET) {
		w->cut_step = 0;
		return now_ms() - start;
	}
	if (ev == RD_TIMEOUT)
		failx(EXIT_STEP, "no close within %lld ms (still open)",
		    (long long)(deadline - start));
	n = slurp(w, buf, 0, &end);
	failx(EXIT_STEP, "got \"%s\"%s, want a close with no bytes",
	    vis(buf, n), end_str(end));
}

/* Read exactly n bytes into path ("-" is stdout). */
static void
do_read(struct wire *w, long long want, const char *path)
{
	static unsigned char buf[65536];
	size_t bufsz = sizeof(buf);
	long long have = 0;
	ssize_t n;
	int fd;

	if (strcmp(path, "-") == 0)
		fd = STDOUT_FILENO;
	else if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		failx(EXIT_STEP, "%s: %s", path, strerror(errno));
	while (have < want) {
		size_t chunk = w->bytewise ? 1 : bufsz;

		if ((long long)chunk > want - have)
			chunk = (size_t)(want - have);
		n = w_read(w, buf, chunk, now_ms() + w->timeout_ms);
		if (n == RD_TIMEOUT)
			failx(EXIT_STEP, "got %lld of %lld bytes then nothing "
			    "for %d ms", have, want, w->timeout_ms);
		if (n <= 0)
			failx(EXIT_STEP, "got %lld of %lld bytes%s%s", have,
			    want, end_str((int)n), cut_note(w));
		for (ssize_t off = 0, m; off < n; off += m)
			if ((m = write(fd, buf + off, (size_t)(n - off))) <= 0)
				failx(EXIT_STEP, "%s: %s", path,
				    strerror(errno));
		have += n;
	}
	if (fd != STDOUT_FILENO && close(fd) == -1)
		failx(EXIT_STEP, "%s: %s", path, strerror(errno));
}

/*
 * Send buf with w_write; a peer that has gone is remembered rather than
 * fatal, since a later expectclose may be exactly what the test wants.
 */
static void
send_buf(struct wire *w, int stepno, const void *buf, size_t len)
{
	int rc;

	if (len == 0 || w->cut_step != 0)
		return;
	rc = w_write(w, buf, len);
	if (rc == RD_RESET)
		w->cut_step = stepno;
	else if (rc == RD_TIMEOUT)
		failx(EXIT_STEP, "peer stopped reading: no write progress "
		    "for %d ms", w->timeout_ms);
}

/* Send n copies of byte: in one write up to CHUNK bytes. */
static void
send_fill(struct wire *w, int stepno, long long n, unsigned char byte)
{
	size_t sz = n > CHUNK ? CHUNK : (size_t)n;
	unsigned char *buf = big_buf();

	memset(buf, byte, sz);
	while (n > 0 && w->cut_step == 0) {
		size_t chunk = n > (long long)sz ? sz : (size_t)n;

		send_buf(w, stepno, buf, chunk);
		n -= (long long)chunk;
	}
}

/* Send a file's bytes: in one write up to CHUNK bytes. */
static void
send_file(struct wire *w, int stepno, const char *path)
{
	unsigned char *buf = big_buf();
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		failx(EXIT_USAGE, "%s: %s", path, strerror(errno));
	for (;;) {
		size_t have = 0;

		/* Fill the whole chunk so small files go in one write. */
		while (have < CHUNK &&
		    (n = read(fd, buf + have, CHUNK - have)) != 0) {
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1)
				failx(EXIT_USAGE, "%s: %s", path,
				    strerror(errno));
			have += (size_t)n;
		}
		if (have == 0)
			break;
		send_buf(w, stepno, buf, have);
		if (have < CHUNK)
			break;
	}
	close(fd);
}

/* Send text one byte per write with ms between; stop if the peer goes. */
static void
send_slow(struct wire *w, const unsigned char *text, size_t len,
    long long ms)
{
	int ev;

	for (size_t i = 0; i < len; i++) {
		if (i > 0)
			sleep_ms(ms);
		ev = w_wait(w, now_ms());
		if (ev == RD_EOF || ev == RD_RESET)
			return;
		if (w_write(w, text + i, 1) != 0)
			return;
	}
}

/* hex(md5(md5_raw(password))), the PASS token; out has 33 bytes. */
static void
wire_token(const unsigned char *pw, size_t len, char *out)
{
	unsigned char m1[EVP_MAX_MD_SIZE], m2[EVP_MAX_MD_SIZE];
	unsigned int l1 = 0, l2 = 0;

	if (EVP_Digest(pw, len, m1, &l1, EVP_md5(), NULL) != 1 ||
	    EVP_Digest(m1, l1, m2, &l2, EVP_md5(), NULL) != 1 || l2 != 16)
		failx(EXIT_BUG, "md5 failed");
	for (unsigned int i = 0; i < l2; i++)
		snprintf(out + 2 * i, 3, "%02x", m2[i]);
}

/* Resolve host (numeric service port) for a stream socket, or exit 2. */
static struct addrinfo *
resolve(const char *host, const char *port, int family, int flags)
{
	struct addrinfo hints, *res;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = flags;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0)
		failx(EXIT_CONN, "%s: %s", host, gai_strerror(rc));
	return res;
}

/* Try one TCP connect within the timeout: fd, or -1 with errno set. */
static int
try_connect(const struct opts *o, const struct addrinfo *ai)
{
	struct addrinfo *bres;
	socklen_t sl = sizeof(int);
	int fd, err = 0, one = 1;

	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		failx(EXIT_CONN, "socket: %s", strerror(errno));
	if (o->bind != NULL) {
		bres = resolve(o->bind, NULL, ai->ai_family, AI_PASSIVE);
		err = bind(fd, bres->ai_addr, bres->ai_addrlen) == -1 ?
		    errno : 0;
		freeaddrinfo(bres);
		if (err != 0)
			failx(EXIT_CONN, "bind %s: %s", o->bind,
			    strerror(err));
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		if (errno != EINPROGRESS)
			err = errno;
		else if (!wait_fd(fd, POLLOUT, now_ms() + o->timeout_ms))
			err = ETIMEDOUT;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1)
			err = errno;
	}
	if (err != 0) {
		close(fd);
		errno = err;
		return -1;
	}
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		failx(EXIT_CONN, "TCP_NODELAY: %s", strerror(errno));
	return fd;
}

/* Connect (retrying refusals for retry_ms), then start TLS if asked. */
static void
wire_open(struct wire *w, const struct opts *o)
{
	struct addrinfo *res, *ai;
	int64_t start = now_ms(), deadline;
	int fd = -1, err = 0, e, rc;
	short ev;

	memset(w, 0, sizeof(*w));
	w->timeout_ms = o->timeout_ms;
	res = resolve(o->addr, o->port, AF_UNSPEC, AI_NUMERICSERV);
	for (;;) {
		for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next)
			if ((fd = try_connect(o, ai)) == -1)
				err = errno;
		if (fd != -1 || err != ECONNREFUSED ||
		    now_ms() - start >= o->retry_ms)
			break;
		sleep_ms(50);
	}
	freeaddrinfo(res);
	if (fd == -1)
		failx(EXIT_CONN, "connect %s port %s: %s", o->addr, o->port,
		    strerror(err));
	w->fd = fd;
	w->t0 = now_ms();
	if (o->prelen > 0 && write(fd, o->pre, o->prelen) != (ssize_t)o->prelen)
		failx(EXIT_CONN, "preamble: %s", strerror(errno));
	if (!o->tls)
		return;
	if ((w->ssl = SSL_new(tls_ctx)) == NULL || !SSL_set_fd(w->ssl, fd))
		tls_fail(w, "setup", SSL_ERROR_SSL);
	deadline = now_ms() + o->timeout_ms;
	for (;;) {
		ERR_clear_error();
		errno = 0;
		if ((rc = SSL_connect(w->ssl)) == 1)
			return;
		switch ((e = SSL_get_error(w->ssl, rc))) {
		case SSL_ERROR_WANT_READ:
			ev = POLLIN;
			break;
		case SSL_ERROR_WANT_WRITE:
			ev = POLLOUT;
			break;
		default:
			tls_fail(w, "handshake", e);
		}
		if (!wait_fd(fd, ev, deadline))
			failx(EXIT_TLS, "tls handshake: timeout after %d ms",
			    o->timeout_ms);
	}
}

/* Close our side; TLS says close_notify first, without waiting. */
static void
wire_close(struct wire *w)
{
	if (w->fd == -1)
		return;
	if (w->ssl != NULL) {
		ERR_clear_error();
		(void)SSL_shutdown(w->ssl);
		SSL_free(w->ssl);
		w->ssl = NULL;
	}
	if (close(w->fd) == -1)
		failx(EXIT_STEP, "close: %s", strerror(errno));
	w->fd = -1;
}

/* Map "1.0".."1.3" to an OpenSSL version, or exit 64. */
static int
tls_version(const char *s)
{
	if (strcmp(s, "1.0") == 0)
		return TLS1_VERSION;
	if (strcmp(s, "1.1") == 0)
		return TLS1_1_VERSION;
	if (strcmp(s, "1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(s, "1.3") == 0)
		return TLS1_3_VERSION;
	failx(EXIT_USAGE, "bad TLS version \"%s\" (1.0, 1.1, 1.2 or 1.3)", s);
}

/* Exit 64 naming the file and OpenSSL's reason. */
static void __attribute__((noreturn))
tls_setup_fail(const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	failx(EXIT_USAGE, "%s %s: %s", what, path,
	    r != NULL ? r : "failed");
}

/* The client context: versions, client certificate, server CA. */
static SSL_CTX *
tls_setup(const struct opts *o)
{
	SSL_CTX *ctx;
	int old;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		tls_setup_fail("SSL_CTX_new", "");
	/* EOF without close_notify is a plain close to us. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* A max below the system MinProtocol would leave nothing to offer. */
	if (o->tls_max != 0 && o->tls_min == 0)
		SSL_CTX_set_min_proto_version(ctx, 0);
	if (o->tls_min != 0 &&
	    !SSL_CTX_set_min_proto_version(ctx, o->tls_min))
		tls_setup_fail("--tls-min", "");
	if (o->tls_max != 0 &&
	    !SSL_CTX_set_max_proto_version(ctx, o->tls_max))
		tls_setup_fail("--tls-max", "");
	old = (o->tls_min != 0 && o->tls_min <= TLS1_1_VERSION) ||
	    (o->tls_max != 0 && o->tls_max <= TLS1_1_VERSION);
	if (old) {
		/* TLS 1.0/1.1 need SHA-1 signatures: allow them. */
		SSL_CTX_set_security_level(ctx, 0);
		if (!SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0"))
			tls_setup_fail("cipher list", "");
	}
	if (o->cert != NULL) {
		if (!SSL_CTX_use_certificate_chain_file(ctx, o->cert))
			tls_setup_fail("--cert", o->cert);
		if (!SSL_CTX_use_PrivateKey_file(ctx,
		    o->key != NULL ? o->key : o->cert, SSL_FILETYPE_PEM))
			tls_setup_fail("--key",
			    o->key != NULL ? o->key : o->cert);
		if (!SSL_CTX_check_private_key(ctx))
			tls_setup_fail("--key", "does not match --cert");
	} else if (o->key != NULL)
		failx(EXIT_USAGE, "--key needs --cert");
	if (o->ca != NULL) {
		if (!SSL_CTX_load_verify_locations(ctx, o->ca, NULL))
			tls_setup_fail("--ca", o->ca);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

/* Fail with 64 if the connection is already closed. */
static void
need_conn(const struct wire *w)
{
	if (w->fd == -1)
		failx(EXIT_USAGE, "the connection is already closed");
}

/* Run one step. */
static void
step_run(struct wire *w, const struct step *st, int stepno)
{
	int64_t start = now_ms(), took;
	char line[5 + 32 + 2];

	step_start = start;
	if (st->def->kind != S_SLEEP && st->def->kind != S_MS &&
	    st->def->kind != S_BYTEWISE)
		need_conn(w);
	switch (st->def->kind) {
	case S_SEND:
		send_buf(w, stepno, st->text, st->len);
		break;
	case S_SENDFILE:
		send_file(w, stepno, st->path);
		break;
	case S_SENDZEROS:
		send_fill(w, stepno, st->n1, 0);
		break;
	case S_SENDBYTES:
		send_fill(w, stepno, st->n1, st->byte);
		break;
	case S_SENDSLOW:
		send_slow(w, st->text, st->len, st->n1);
		break;
	case S_PASS:
		memcpy(line, "PASS ", 5);
		wire_token(st->text, st->len, line + 5);
		line[5 + 32] = '\n';
		send_buf(w, stepno, line, 5 + 32 + 1);
		break;
	case S_EXPECT:
		do_expect(w, st->text, st->len);
		break;
	case S_EXPECTLINE:
		do_expectline(w, st->text, st->len);
		break;
	case S_PRINTLINE:
		do_expectline(w, NULL, 0);
		break;
	case S_EXPECTCLOSE:
		do_expectclose(w, start, start + w->timeout_ms);
		break;
	case S_EXPECTCLOSEAFTER:
		took = do_expectclose(w, start, start + st->n2);
		if (took < st->n1)
			failx(EXIT_STEP, "closed after %" PRId64 " ms, want "
			    "%lld..%lld ms", took, st->n1, st->n2);
		printf("closed after %" PRId64 " ms\n", took);
		fflush(stdout);
		break;
	case S_EXPECTSILENCE:
		switch (w_wait(w, start + st->n1)) {
		case RD_TIMEOUT:
			break;
		case RD_DATA:
			check_pending(w, "");
			break;
		default:
			failx(EXIT_STEP, "closed after %" PRId64 " ms, want "
			    "silence for %lld ms", now_ms() - start, st->n1);
		}
		break;
	case S_NOTHING_PENDING:
		check_pending(w, "");
		break;
	case S_READ:
		do_read(w, st->n1, st->path);
		break;
	case S_SLEEP:
		sleep_ms(st->n1);
		break;
	case S_CLOSE:
		wire_close(w);
		break;
	case S_SHUTWR:
		if (w->ssl != NULL) {
			ERR_clear_error();
			(void)SSL_shutdown(w->ssl);
		}
		if (shutdown(w->fd, SHUT_WR) == -1 && errno != ENOTCONN)
			failx(EXIT_STEP, "shutdown: %s", strerror(errno));
		break;
	case S_BYTEWISE:
		w->bytewise = 1;
		break;
	case S_MS:
		printf("%" PRId64 "\n", now_ms() - w->t0);
		fflush(stdout);
		break;
	}
}

/* Append steps from a script file: one a line, '#' and blanks skipped. */
static void
script_load(const char *path)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	static char *line;	/* static: reachable if a step is bad */
	static size_t lcap;
	ssize_t n;

	if (fp == NULL)
		failx(EXIT_USAGE, "%s: %s", path, strerror(errno));
	while ((n = getline(&line, &lcap, fp)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if (strlen(line) != (size_t)n)
			failx(EXIT_USAGE, "%s: NUL byte in script (use \\0)",
			    path);
		step_add(line);
	}
	free(line);
	line = NULL;
	lcap = 0;
	if (ferror(fp))
		failx(EXIT_USAGE, "%s: read error", path);
	if (fp != stdin)
		fclose(fp);
}

/* Print a free TCP port on addr (bind port 0, ask, close). */
static int
freeport(const char *addr)
{
	struct sockaddr_storage ss;
	struct addrinfo *ai = resolve(addr, "0",
	    AF_UNSPEC, AI_PASSIVE | AI_NUMERICSERV);
	socklen_t sl = sizeof(ss);
	char port[NI_MAXSERV];
	int fd;

	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sl, NULL, 0, port,
	    sizeof(port), NI_NUMERICSERV) != 0)
		failx(EXIT_CONN, "free port on %s: %s", addr, strerror(errno));
	close(fd);
	freeaddrinfo(ai);
	printf("%s\n", port);
	return 0;
}

/* Expect exactly want from the peer, else fail with what came. */
static void
flood_expect(struct wire *w, const char *want)
{
	step_start = now_ms();
	do_expect(w, (const unsigned char *)want, strlen(want));
}

/* Send QUIT and wait for the server to close first. */
static void
flood_quit(struct wire *w)
{
	int64_t start = now_ms();

	if (w_write(w, "QUIT\n", 5) == RD_TIMEOUT)
		failx(EXIT_STEP, "QUIT: write timeout");
	do_expectclose(w, start, start + w->timeout_ms);
	wire_close(w);
}

/* Open a session: connect, TLS, and PASS if we have a password. */
static void
flood_open(struct wire *w, const struct opts *o)
{
	char line[5 + 32 + 2];

	wire_open(w, o);
	if (o->password == NULL)
		return;
	memcpy(line, "PASS ", 5);
	wire_token((const unsigned char *)o->password, strlen(o->password),
	    line + 5);
	line[5 + 32] = '\n';
	if (w_write(w, line, 5 + 32 + 1) != 0)
		failx(EXIT_STEP, "PASS: peer closed");
	flood_expect(w, "PASS OK\n");
}

/* CHUNK bytes of the default content: 'A' + offset % 26. */
static const unsigned char *
data_pattern(void)
{
	static unsigned char *buf;

	if (buf == NULL) {
		buf = xmalloc(CHUNK);
		for (size_t j = 0; j < CHUNK; j++)
			buf[j] = (unsigned char)('A' + j % 26);
	}
	return buf;
}

/* One client of the flood: o->flood files in lock-step, as worker k. */
static void
flood_worker(const struct opts *o, int k, const unsigned char *data,
    size_t datalen)
{
	struct wire w;
	char line[4096];
	long long size = data != NULL ? (long long)datalen : o->size;
	int n;

	w.fd = -1;
	for (long long i = 0; i < o->flood; i++) {
		snprintf(where, sizeof(where), "flood client %d file %lld",
		    k, i);
		if (w.fd == -1)
			flood_open(&w, o);
		n = snprintf(line, sizeof(line),
		    "SEND <%s%d_%lld%s> SIZE %lld\n", o->prefix, k, i,
		    o->suffix, size);
		if (n < 0 || (size_t)n >= sizeof(line))
			failx(EXIT_USAGE, "name prefix or suffix too long");
		if (w_write(&w, line, (size_t)n) != 0)
			failx(EXIT_STEP, "SEND: peer closed or timeout");
		flood_expect(&w, "SEND OK\n");
		for (long long off = 0; off < size; ) {
			size_t chunk = size - off > CHUNK ? CHUNK :
			    (size_t)(size - off);

			/* The pattern repeats every 26 bytes; CHUNK too. */
			if (w_write(&w, data != NULL ? data + off :
			    data_pattern(), chunk) != 0)
				failx(EXIT_STEP,
				    "data: peer closed or timeout");
			off += (long long)chunk;
		}
		flood_expect(&w, "SEND OK\n");
		if (o->separate)
			flood_quit(&w);
	}
	snprintf(where, sizeof(where), "flood client %d", k);
	if (w.fd != -1)
		flood_quit(&w);
}

/* Run the flood: parallel clients, each with o->flood files. */
static int
flood(const struct opts *o)
{
	unsigned char *data = NULL;
	size_t datalen = 0;
	int64_t start = now_ms();
	double secs;
	long long total, size = o->size;
	int rc = 0, status;
	FILE *fp;

	if (o->data != NULL) {
		if ((fp = fopen(o->data, "r")) == NULL)
			failx(EXIT_USAGE, "%s: %s", o->data, strerror(errno));
		for (size_t cap = 0, n = 1; n > 0; datalen += n) {
			if (datalen == cap) {
				cap = cap * 2 + 65536;
				if ((data = realloc(data, cap)) == NULL)
					failx(EXIT_BUG, "out of memory");
				flood_data = data;
			}
			n = fread(data + datalen, 1, cap - datalen, fp);
		}
		if (ferror(fp) || datalen == 0)
			failx(EXIT_USAGE, "%s: unreadable or empty", o->data);
		fclose(fp);
		size = (long long)datalen;
	}
	if (o->parallel == 1)
		flood_worker(o, 0, data, datalen);
	else {
		flood_pids = xmalloc(sizeof(pid_t) * (size_t)o->parallel);
		fflush(stdout);
		fflush(stderr);
		for (int k = 0; k < o->parallel; k++) {
			if ((flood_pids[k] = fork()) == -1)
				failx(EXIT_BUG, "fork: %s", strerror(errno));
			if (flood_pids[k] == 0) {
				flood_worker(o, k, data, datalen);
				exit(0);
			}
		}
		for (int k = 0; k < o->parallel; k++) {
			while (waitpid(flood_pids[k], &status, 0) == -1)
				if (errno != EINTR)
					failx(EXIT_BUG, "waitpid: %s",
					    strerror(errno));
			if (rc == 0 && WIFEXITED(status))
				rc = WEXITSTATUS(status);
			else if (rc == 0)
				rc = EXIT_BUG;
		}
		free(flood_pids);
		flood_pids = NULL;
	}
	free(data);
	flood_data = NULL;
	if (rc != 0)
		return rc;
	total = o->flood * o->parallel;
	secs = (double)(now_ms() - start) / 1000.0;
	printf("sent %lld\n", total);
	if (o->stats)
		fprintf(stderr, "tt-wire: flood: %lld files of %lld bytes, "
		    "%d client(s), %s: %.3f s, %.1f files/s, %.2f MB/s\n",
		    total, size, o->parallel, o->separate ?
		    "one connection per file" : "one connection per client",
		    secs, secs > 0 ? (double)total / secs : 0.0,
		    secs > 0 ? (double)total * (double)size / secs / 1e6 : 0.0);
	return 0;
}

static void
usage(FILE *fp, int code)
{
	fputs(
"usage: tt-wire [-a addr] [-p port] [-b bindaddr] [-t timeout_ms]\n"
"               [-r retry_ms] [--tls [--cert C [--key K]] [--ca CA]\n"
"               [--tls-min V] [--tls-max V]] [--preamble BYTES]\n"
"               [-f script] step ...\n"
"       tt-wire --flood N [-a addr] [-p port] [--tls ...] [-x password]\n"
"               [--name-prefix X] [--name-suffix Y] [--size S | --data FILE]\n"
"               [--separate] [--parallel K] [--stats]\n"
"       tt-wire --freeport [-a addr]\n"
"steps (TEXT takes \\n \\r \\t \\0 \\e \\\\ \\xHH):\n"
"  send:TEXT  sendfile:PATH  sendzeros:N  sendbytes:N:BYTE  sendslow:TEXT:MS\n"
"  pass:PASSWORD  expect:TEXT  expectline:TEXT  expectclose\n"
"  expectcloseafter:MIN_MS:MAX_MS  expectsilence:MS  nothing-pending\n"
"  read:N:PATH  sleep:MS  close  shutwr  bytewise  ms  printline\n"
"exit: 0 ok, 1 step failed, 2 cannot connect, 3 TLS failure, 64 usage\n",
	    fp);
	exit(code);
}

/* Parse an option's number in [min, max], or exit 64. */
static long long
opt_num(const char *name, const char *s, long long min, long long max)
{
	const char *why;
	long long v = 0;

	if ((why = parse_num(s, min, max, &v)) != NULL)
		failx(EXIT_USAGE, "%s \"%s\": %s", name, s, why);
	return v;
}

int
main(int argc, char *argv[])
{
	enum {
		O_TLS = 256, O_CERT, O_KEY, O_CA, O_TLSMAX, O_TLSMIN,
		O_FREEPORT, O_FLOOD, O_PREFIX, O_SUFFIX, O_SIZE, O_DATA,
		O_SEPARATE, O_PARALLEL, O_STATS, O_PREAMBLE
	};
	static const struct option lopts[] = {
		{ "tls",	no_argument,		NULL, O_TLS },
		{ "cert",	required_argument,	NULL, O_CERT },
		{ "key",	required_argument,	NULL, O_KEY },
		{ "ca",		required_argument,	NULL, O_CA },
		{ "tls-max",	required_argument,	NULL, O_TLSMAX },
		{ "tls-min",	required_argument,	NULL, O_TLSMIN },
		{ "freeport",	no_argument,		NULL, O_FREEPORT },
		{ "flood",	required_argument,	NULL, O_FLOOD },
		{ "name-prefix", required_argument,	NULL, O_PREFIX },
		{ "name-suffix", required_argument,	NULL, O_SUFFIX },
		{ "size",	required_argument,	NULL, O_SIZE },
		{ "data",	required_argument,	NULL, O_DATA },
		{ "separate",	no_argument,		NULL, O_SEPARATE },
		{ "parallel",	required_argument,	NULL, O_PARALLEL },
		{ "stats",	no_argument,		NULL, O_STATS },
		{ "preamble",	required_argument,	NULL, O_PREAMBLE },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	struct opts o;
	static struct wire w;
	const char *script = NULL;
	int ch, want_freeport = 0, flood_only = 0;

	memset(&o, 0, sizeof(o));
	o.addr = DEFAULT_ADDR;
	o.port = DEFAULT_PORT;
	o.timeout_ms = DEFAULT_TIMEOUT;
	o.flood = -1;
	o.prefix = "tt";
	o.suffix = "";
	o.size = 2048;
	o.parallel = 1;
	/* '+': stop at the first step, so steps never look like options. */
	while ((ch = getopt_long(argc, argv, "+a:b:f:hp:r:t:x:", lopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'a':
			o.addr = optarg;
			break;
		case 'b':
			o.bind = optarg;
			break;
		case 'f':
			script = optarg;
			break;
		case 'h':
			usage(stdout, 0);
		case 'p':
			opt_num("-p", optarg, 1, 65535);
			o.port = optarg;
			break;
		case 'r':
			o.retry_ms = (int)opt_num("-r", optarg, 0, INT_MAX);
			break;
		case 't':
			o.timeout_ms = (int)opt_num("-t", optarg, 1, INT_MAX);
			break;
		case 'x':
			o.password = optarg;
			flood_only = 1;
			break;
		case O_TLS:
			o.tls = 1;
			break;
		case O_CERT:
			o.cert = optarg;
			break;
		case O_KEY:
			o.key = optarg;
			break;
		case O_CA:
			o.ca = optarg;
			break;
		case O_TLSMAX:
			o.tls_max = tls_version(optarg);
			break;
		case O_TLSMIN:
			o.tls_min = tls_version(optarg);
			break;
		case O_FREEPORT:
			want_freeport = 1;
			break;
		case O_FLOOD:
			o.flood = opt_num("--flood", optarg, 1, LLONG_MAX / 2);
			break;
		case O_PREFIX:
			o.prefix = optarg;
			flood_only = 1;
			break;
		case O_SUFFIX:
			o.suffix = optarg;
			flood_only = 1;
			break;
		case O_SIZE:
			o.size = opt_num("--size", optarg, 1, LLONG_MAX / 2);
			flood_only = 1;
			break;
		case O_DATA:
			o.data = optarg;
			flood_only = 1;
			break;
		case O_SEPARATE:
			o.separate = 1;
			flood_only = 1;
			break;
		case O_PARALLEL:
			o.parallel = (int)opt_num("--parallel", optarg, 1,
			    4096);
			flood_only = 1;
			break;
		case O_STATS:
			o.stats = 1;
			flood_only = 1;
			break;
		case O_PREAMBLE:
			/* Raw bytes before anything else, TLS included: a
			 * PROXY protocol header as a balancer sends it. */
			free(o.pre);
			if ((o.pre = unescape(optarg, strlen(optarg),
			    &o.prelen)) == NULL)
				failx(EXIT_USAGE, "--preamble: bad escape");
			break;
		default:
			usage(stderr, EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;

	if (want_freeport) {
		if (argc != 0 || o.flood != -1)
			usage(stderr, EXIT_USAGE);
		return freeport(o.addr);
	}
	if (!o.tls && (o.cert != NULL || o.key != NULL || o.ca != NULL ||
	    o.tls_min != 0 || o.tls_max != 0))
		failx(EXIT_USAGE, "TLS options need --tls");
	if (o.tls_min != 0 && o.tls_max != 0 && o.tls_min > o.tls_max)
		failx(EXIT_USAGE, "--tls-min is above --tls-max");
	if (o.flood == -1 && flood_only)
		failx(EXIT_USAGE, "-x, --name-*, --size, --data, --separate, "
		    "--parallel and --stats need --flood");
	if (o.flood != -1 && (argc != 0 || script != NULL))
		failx(EXIT_USAGE, "--flood takes no steps");

	/* A peer that has gone must show up as EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (o.tls)
		tls_ctx = tls_setup(&o);
	if (o.flood != -1) {
		ch = flood(&o);
		free(o.pre);
		free(bigbuf);
		free(expbuf);
		SSL_CTX_free(tls_ctx);
		return ch;
	}

	if (script != NULL)
		script_load(script);
	for (int i = 0; i < argc; i++)
		step_add(argv[i]);
	if (nsteps == 0)
		usage(stderr, EXIT_USAGE);

	wire_open(&w, &o);
	for (size_t i = 0; i < nsteps; i++) {
		snprintf(where, sizeof(where), "step %zu %s", i + 1,
		    steps[i].def->name);
		step_run(&w, &steps[i], (int)i + 1);
	}
	where[0] = '\0';
	if (w.cut_step != 0)
		failx(EXIT_STEP, "step %d %s: the peer closed the connection "
		    "while we were sending", w.cut_step,
		    steps[w.cut_step - 1].def->name);
	if (w.fd != -1)
		wire_close(&w);
	steps_free();
	free(bigbuf);
	free(expbuf);
	free(o.pre);
	SSL_CTX_free(tls_ctx);
	return 0;
}
