/* SPDX-License-Identifier: ISC */
/*
 * tt-flood: a flood of connections that fail before authentication, for
 * the tentacle-recv tests.  It opens -n connections, at most -c at a
 * time; on each it sends a line that is not a TLS ClientHello (or, with
 * -z, nothing at all: it only shuts down its sending side, as a health
 * check or a port scan would) and waits for the server to close it (EOF
 * or a reset) within -t ms, then closes its end.
 *
 *	tt-flood [-z] [-a addr] [-p port] [-b bindaddr] [-n count]
 *	    [-c parallel] [-t timeout_ms]
 *
 * Prints "connections=N closed=C timeouts=T failed=F ms=E" on stdout:
 * closed by the server, not closed within the time, not connected.
 * Exit 0 if the server closed every one, 1 if not, 64 usage.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FLOOD_MAX_PARALLEL	1000
#define FLOOD_LINE		"OCTOSPOOL FLOOD: NOT A TLS CLIENT HELLO\r\n"

enum { FREE, CONNECTING, WAITING };

struct slot {
	int	 fd;
	int	 state;
	int64_t	 deadline;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: tt-flood [-z] [-a addr] [-p port] "
	    "[-b bindaddr] [-n count] [-c parallel] [-t timeout_ms]\n");
	exit(64);
}

static long
num(const char *s, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || n < min || n > max)
		usage();
	return n;
}

static struct addrinfo *
resolve(const char *host, const char *port, int flags)
{
	struct addrinfo hints, *res;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = flags | AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		fprintf(stderr, "tt-flood: cannot resolve %s\n", host);
		exit(64);
	}
	return res;
}

/* Start one connection: its socket, or -1 (counted as failed). */
static int
start(const struct addrinfo *to, const struct addrinfo *from)
{
	int fd = socket(to->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);

	if (fd == -1)
		return -1;
	if ((from != NULL && bind(fd, from->ai_addr, from->ai_addrlen) == -1) ||
	    (connect(fd, to->ai_addr, to->ai_addrlen) == -1 &&
	    errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char *argv[])
{
	const char *addr = "127.0.0.1", *port = "41121", *bindaddr = NULL;
	long n = 1000, par = 64, timeout = 10000, started = 0, done = 0;
	long closed = 0, timeouts = 0, failed = 0;
	struct addrinfo *to, *from = NULL;
	struct slot *slots;
	struct pollfd *pfd;
	int ch, zero = 0;
	int64_t t0;

	while ((ch = getopt(argc, argv, "a:b:c:n:p:t:z")) != -1) {
		switch (ch) {
		case 'a': addr = optarg; break;
		case 'b': bindaddr = optarg; break;
		case 'c': par = num(optarg, 1, FLOOD_MAX_PARALLEL); break;
		case 'n': n = num(optarg, 1, 10000000); break;
		case 'p': port = optarg; break;
		case 't': timeout = num(optarg, 1, 3600000); break;
		case 'z': zero = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	to = resolve(addr, port, 0);
	if (bindaddr != NULL)
		from = resolve(bindaddr, NULL, AI_NUMERICHOST | AI_PASSIVE);
	if ((slots = calloc(par, sizeof(*slots))) == NULL ||
	    (pfd = calloc(par, sizeof(*pfd))) == NULL) {
		perror("tt-flood");
		return 1;
	}
	t0 = now_ms();
	while (done < n) {
		int64_t now = now_ms();
		int wait = 1000;

		for (long i = 0; i < par; i++) {
			struct slot *sl = &slots[i];

			if (sl->state == FREE && started < n) {
				started++;
				if ((sl->fd = start(to, from)) == -1) {
					failed++;
					done++;
				} else {
					sl->state = CONNECTING;
					sl->deadline = now + timeout;
				}
			}
			pfd[i].fd = sl->state == FREE ? -1 : sl->fd;
			pfd[i].events = sl->state == CONNECTING ? POLLOUT :
			    POLLIN;
			pfd[i].revents = 0;
			if (sl->state != FREE && sl->deadline - now < wait)
				wait = sl->deadline - now > 0 ?
				    (int)(sl->deadline - now) : 0;
		}
		if (poll(pfd, par, wait) == -1 && errno != EINTR) {
			perror("tt-flood: poll");
			return 1;
		}
		now = now_ms();
		for (long i = 0; i < par; i++) {
			struct slot *sl = &slots[i];
			char buf[4096];
			int err = 0, end = 0;
			socklen_t el = sizeof(err);
			ssize_t r;

			if (sl->state == FREE)
				continue;
			if (sl->state == CONNECTING && pfd[i].revents) {
				if (getsockopt(sl->fd, SOL_SOCKET, SO_ERROR,
				    &err, &el) == -1 || err != 0) {
					failed++;
					end = 1;
				} else {
					/* Loopback takes the line at once; a
					 * reset already here is a close. */
					if ((zero ? shutdown(sl->fd, SHUT_WR) :
					    send(sl->fd, FLOOD_LINE,
					    strlen(FLOOD_LINE), MSG_NOSIGNAL)) ==
					    -1 && errno != EAGAIN) {
						closed++;
						end = 1;
					} else
						sl->state = WAITING;
				}
			} else if (sl->state == WAITING && pfd[i].revents) {
				while ((r = recv(sl->fd, buf, sizeof(buf),
				    MSG_DONTWAIT)) > 0)
					;	/* an alert, say: drop it */
				if (r == 0 || (errno != EAGAIN &&
				    errno != EWOULDBLOCK && errno != EINTR)) {
					closed++;
					end = 1;
				}
			}
			if (!end && now >= sl->deadline) {
				if (sl->state == CONNECTING)
					failed++;
				else
					timeouts++;
				end = 1;
			}
			if (end) {
				close(sl->fd);
				sl->state = FREE;
				done++;
			}
		}
	}
	printf("connections=%ld closed=%ld timeouts=%ld failed=%ld ms=%lld\n",
	    n, closed, timeouts, failed, (long long)(now_ms() - t0));
	freeaddrinfo(to);
	if (from != NULL)
		freeaddrinfo(from);
	free(slots);
	free(pfd);
	return closed == n ? 0 : 1;
}
