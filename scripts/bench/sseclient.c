/* Benchmark helper for scripts/bench/capacity.sh: N concurrent streamed
 * chat completions against one address, each read event by event to
 * "data: [DONE]", from one epoll loop. While they run it samples the
 * VmRSS of a process every 100 ms.
 *
 *   sseclient HOST:PORT N KEY [PID]
 *
 * Prints one "name value" line per figure: completed, failed, per-stream
 * duration (connect to [DONE]) min/median/max, time to the first event,
 * the largest gap between two events of one stream, events received, and
 * the peak and last RSS of PID. Not a test; C11 and POSIX only.
 *
 * Build: cc -O2 -o sseclient sseclient.c */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { CONNECTING, SENDING, HEAD, BODY, DONE, FAILED };
enum chunk { C_SIZE, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF, C_END };

struct client {
	int fd;
	enum state st;
	size_t sent;
	char head[8192];
	size_t head_len;
	bool chunked;
	enum chunk cs;
	size_t chunk_left;
	char line[512]; /* start of the current SSE line (enough to see [DONE]) */
	size_t line_len;
	bool event_has_data;
	double t0, t_conn, t_first, t_last_event, t_done, max_gap;
	long events;
	const char *why; /* failure reason */
};

static char request[2048];
static size_t request_len;
static struct sockaddr_in addr;
static int ep;
static long rss_peak_kb, rss_last_kb, rss_first_kb;
static int rss_pid;
static int open_clients;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long rss_kb(int pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	char *p = strstr(buf, "VmRSS:");
	return p ? strtol(p + 6, NULL, 10) : -1;
}

static void sample_rss(void)
{
	if (!rss_pid)
		return;
	long r = rss_kb(rss_pid);
	if (r < 0)
		return;
	if (!rss_first_kb)
		rss_first_kb = r;
	rss_last_kb = r;
	if (r > rss_peak_kb)
		rss_peak_kb = r;
}

static void fail(struct client *c, const char *why)
{
	if (c->st == DONE || c->st == FAILED)
		return;
	c->st = FAILED;
	c->why = why;
	open_clients--;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void finish(struct client *c, double t)
{
	c->st = DONE;
	c->t_done = t;
	open_clients--;
	close(c->fd);
	c->fd = -1;
}

/* One complete SSE line (without its LF; a CR is tolerated). */
static void sse_line(struct client *c, double t)
{
	size_t n = c->line_len;
	if (n && c->line[n - 1] == '\r')
		n--;
	if (n == 0) { /* blank line: end of an event */
		if (c->event_has_data) {
			if (c->events == 0)
				c->t_first = t;
			else if (t - c->t_last_event > c->max_gap)
				c->max_gap = t - c->t_last_event;
			c->t_last_event = t;
			c->events++;
		}
		c->event_has_data = false;
		return;
	}
	if (n >= 5 && memcmp(c->line, "data:", 5) == 0) {
		c->event_has_data = true;
		const char *v = c->line + 5;
		size_t vn = n - 5;
		if (vn && *v == ' ')
			v++, vn--;
		if (vn == 6 && memcmp(v, "[DONE]", 6) == 0) {
			/* the last event: count it now, the stream is over */
			if (t - c->t_last_event > c->max_gap && c->events)
				c->max_gap = t - c->t_last_event;
			c->st = DONE;
		}
	}
}

static void sse_bytes(struct client *c, const char *p, size_t n, double t)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			sse_line(c, t);
			c->line_len = 0;
			if (c->st == DONE)
				return;
		} else if (c->line_len < sizeof(c->line)) {
			c->line[c->line_len++] = p[i];
		}
	}
}

/* Body bytes as they came off the socket: unchunked when needed. */
static void body_bytes(struct client *c, const char *p, size_t n, double t)
{
	if (!c->chunked) {
		sse_bytes(c, p, n, t);
		return;
	}
	size_t i = 0;
	while (i < n && c->cs != C_END) {
		char ch = p[i];
		switch (c->cs) {
		case C_SIZE:
			if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')) {
				int d = ch <= '9' ? ch - '0' : (ch | 32) - 'a' + 10;
				c->chunk_left = c->chunk_left * 16 + (size_t)d;
			} else if (ch == '\r') {
				c->cs = C_SIZE_LF;
			} else {
				c->cs = C_EXT;
			}
			i++;
			break;
		case C_EXT:
			if (ch == '\r')
				c->cs = C_SIZE_LF;
			i++;
			break;
		case C_SIZE_LF:
			if (ch != '\n') {
				fail(c, "bad chunk size line");
				return;
			}
			i++;
			c->cs = c->chunk_left ? C_DATA : C_END;
			break;
		case C_DATA: {
			size_t take = n - i < c->chunk_left ? n - i : c->chunk_left;
			sse_bytes(c, p + i, take, t);
			i += take;
			c->chunk_left -= take;
			if (!c->chunk_left)
				c->cs = C_DATA_CR;
			break;
		}
		case C_DATA_CR:
			if (ch != '\r') {
				fail(c, "bad chunk end");
				return;
			}
			c->cs = C_DATA_LF;
			i++;
			break;
		case C_DATA_LF:
			if (ch != '\n') {
				fail(c, "bad chunk end");
				return;
			}
			c->cs = C_SIZE;
			i++;
			break;
		case C_END:
			break;
		}
	}
}

static void on_readable(struct client *c)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(c->fd, buf, sizeof(buf));
		double t = now();
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			fail(c, "read error");
			return;
		}
		if (n == 0) {
			fail(c, c->st == HEAD ? "closed before the head" : "closed before [DONE]");
			return;
		}
		const char *p = buf;
		size_t len = (size_t)n;
		if (c->st == HEAD) {
			size_t room = sizeof(c->head) - 1 - c->head_len;
			size_t take = len < room ? len : room;
			memcpy(c->head + c->head_len, p, take);
			c->head_len += take;
			c->head[c->head_len] = 0;
			char *end = strstr(c->head, "\r\n\r\n");
			if (!end) {
				if (c->head_len == sizeof(c->head) - 1)
					fail(c, "head too large");
				continue;
			}
			size_t head_size = (size_t)(end + 4 - c->head);
			int status = 0;
			if (sscanf(c->head, "HTTP/1.%*d %d", &status) != 1 || status != 200) {
				fail(c, "status not 200");
				return;
			}
			*end = 0;
			for (char *h = strstr(c->head, "\r\n"); h; h = strstr(h + 2, "\r\n"))
				if (strncasecmp(h + 2, "transfer-encoding:", 18) == 0 &&
				    strcasestr(h + 20, "chunked"))
					c->chunked = true;
			c->st = BODY;
			/* bytes of this read after the head */
			size_t before = c->head_len - take; /* head bytes from earlier reads */
			size_t used = head_size - before;
			p += used;
			len -= used;
		}
		if (c->st == BODY && len)
			body_bytes(c, p, len, t);
		if (c->st == DONE) {
			finish(c, t);
			return;
		}
		if (c->st == FAILED)
			return;
	}
}

static void on_writable(struct client *c)
{
	if (c->st == CONNECTING) {
		int e = 0;
		socklen_t el = sizeof(e);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el);
		if (e) {
			fail(c, "connect failed");
			return;
		}
		c->t_conn = now();
		c->st = SENDING;
	}
	while (c->st == SENDING) {
		ssize_t n = write(c->fd, request + c->sent, request_len - c->sent);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			fail(c, "write error");
			return;
		}
		c->sent += (size_t)n;
		if (c->sent == request_len) {
			c->st = HEAD;
			struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: sseclient HOST:PORT N KEY [PID]\n");
		return 2;
	}
	char host[256];
	snprintf(host, sizeof(host), "%s", argv[1]);
	char *colon = strrchr(host, ':');
	if (!colon)
		return 2;
	*colon = 0;
	int port = atoi(colon + 1);
	int n = atoi(argv[2]);
	const char *key = argv[3];
	rss_pid = argc > 4 ? atoi(argv[4]) : 0;

	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	const char *body = "{\"model\":\"mock-1\",\"stream\":true,\"messages\":"
			   "[{\"role\":\"user\",\"content\":\"tell me a story\"}]}";
	request_len = (size_t)snprintf(request, sizeof(request),
				       "POST /v1/chat/completions HTTP/1.1\r\n"
				       "Host: %s\r\n"
				       "Authorization: Bearer %s\r\n"
				       "Content-Type: application/json\r\n"
				       "Accept: text/event-stream\r\n"
				       "Content-Length: %zu\r\n\r\n%s",
				       argv[1], key, strlen(body), body);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
		fprintf(stderr, "sseclient: %s is not an IPv4 address\n", host);
		return 2;
	}

	ep = epoll_create1(0);
	struct client *cl = calloc((size_t)n, sizeof(*cl));
	sample_rss();
	double start = now();
	open_clients = n;
	for (int i = 0; i < n; i++) {
		struct client *c = &cl[i];
		c->t0 = now();
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (c->fd < 0) {
			fail(c, "socket failed (ulimit -n?)");
			continue;
		}
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 && errno != EINPROGRESS) {
			fail(c, "connect failed");
			continue;
		}
		c->st = CONNECTING;
		struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}

	double next_sample = now() + 0.1, deadline = start + 120;
	struct epoll_event evs[256];
	while (open_clients > 0 && now() < deadline) {
		int timeout = (int)((next_sample - now()) * 1000);
		int k = epoll_wait(ep, evs, 256, timeout > 0 ? timeout : 0);
		for (int i = 0; i < k; i++) {
			struct client *c = evs[i].data.ptr;
			if (c->st == CONNECTING || c->st == SENDING)
				on_writable(c);
			else if (c->st == HEAD || c->st == BODY)
				on_readable(c);
		}
		if (now() >= next_sample) {
			sample_rss();
			next_sample += 0.1;
		}
	}
	double wall = now() - start;
	sample_rss();

	int done = 0, failed = 0, unfinished = 0;
	double *dur = calloc((size_t)n, sizeof(double)), *ttfe = calloc((size_t)n, sizeof(double));
	double max_gap = 0, max_conn = 0;
	long events = 0;
	for (int i = 0; i < n; i++) {
		struct client *c = &cl[i];
		events += c->events;
		if (c->st == DONE) {
			dur[done] = c->t_done - c->t0;
			ttfe[done] = c->t_first - c->t0;
			done++;
			if (c->max_gap > max_gap)
				max_gap = c->max_gap;
			if (c->t_conn - c->t0 > max_conn)
				max_conn = c->t_conn - c->t0;
		} else if (c->st == FAILED) {
			if (failed < 5)
				fprintf(stderr, "sseclient: stream %d failed: %s\n", i, c->why);
			failed++;
		} else {
			unfinished++;
		}
	}
	qsort(dur, (size_t)done, sizeof(double), cmp_double);
	qsort(ttfe, (size_t)done, sizeof(double), cmp_double);
	printf("streams %d\n", n);
	printf("completed %d\n", done);
	printf("failed %d\n", failed);
	printf("unfinished_after_deadline %d\n", unfinished);
	printf("wall_s %.2f\n", wall);
	printf("events %ld\n", events);
	if (done) {
		printf("duration_min_s %.3f\n", dur[0]);
		printf("duration_median_s %.3f\n", dur[done / 2]);
		printf("duration_max_s %.3f\n", dur[done - 1]);
		printf("first_event_median_s %.3f\n", ttfe[done / 2]);
		printf("first_event_max_s %.3f\n", ttfe[done - 1]);
		printf("connect_max_s %.3f\n", max_conn);
		printf("max_gap_s %.3f\n", max_gap);
	}
	if (rss_pid) {
		printf("rss_start_kb %ld\n", rss_first_kb);
		printf("rss_peak_kb %ld\n", rss_peak_kb);
		printf("rss_end_kb %ld\n", rss_last_kb);
	}
	return 0;
}
