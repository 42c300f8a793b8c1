/* Tests for upstream: transfers through libcurl on the ev loop against a
 * scripted HTTP server thread on 127.0.0.1. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "ev.h"
#include "curl_dl.h"
#include "upstream.h"

/* ---------------------------------------------------- scripted server */

enum mode { M_SMALL, M_BIG, M_SILENT, M_CONTINUE, M_ECHO, M_LATE, M_HUGE_CHUNKED };

struct server {
	int fd, port;
	enum mode mode;
	atomic_int accepts;
	atomic_int closed_early;  /* peer closed while we were writing */
	char last_request[8192];
	pthread_t thread;
	atomic_bool stop;
};

#define BIG_LEN (4u << 20)
/* M_HUGE_CHUNKED: a chunked answer of 3 * BIG_LEN, above any request body
 * limit (answers, streams above all, have none). */
#define HUGE_LEN (3 * BIG_LEN)

static size_t read_request(int c, char *buf, size_t cap)
{
	size_t got = 0;
	for (;;) {
		ssize_t n = read(c, buf + got, cap - 1 - got);
		char *end, *cl;
		if (n <= 0)
			return 0;
		got += (size_t)n;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		cl = strcasestr(buf, "content-length:");
		if (!cl || cl > end)
			return got;
		if (got >= (size_t)(end + 4 - buf) + (size_t)atoi(cl + 15))
			return got;
	}
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	char *big = malloc(BIG_LEN);
	memset(big, 'x', BIG_LEN);
	while (!s->stop) {
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		if (s->stop) {
			close(c);
			break;
		}
		s->accepts++;
		bool big_sent = false;
		for (;;) {
			char req[8192], head[256];
			size_t n = read_request(c, req, sizeof(req));
			if (!n) {
				/* The whole big answer fit in the socket buffers
				 * (they grow to megabytes on loopback) and the
				 * client then closed: closed early all the same. */
				if (big_sent)
					s->closed_early++;
				break;
			}
			memcpy(s->last_request, req, n + 1);
			if (s->mode == M_SILENT) {
				usleep(600000);
				break;
			}
			if (s->mode == M_LATE)
				usleep(600000); /* longer than the connect limit below */
			if (s->mode == M_SMALL || s->mode == M_LATE) {
				const char *r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: yes\r\n\r\nhello";
				if (write(c, r, strlen(r)) < 0)
					break;
			} else if (s->mode == M_CONTINUE) {
				const char *r = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
				if (write(c, r, strlen(r)) < 0)
					break;
			} else if (s->mode == M_ECHO) {
				char *body = strstr(req, "\r\n\r\n") + 4;
				int len = snprintf(head, sizeof(head),
						   "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
						   strlen(body));
				if (write(c, head, (size_t)len) < 0 || write(c, body, strlen(body)) < 0)
					break;
			} else if (s->mode == M_HUGE_CHUNKED) {
				const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
				bool ok = write(c, h, strlen(h)) > 0;
				for (unsigned sent = 0; ok && sent < HUGE_LEN; sent += 65536) {
					int len = snprintf(head, sizeof(head), "%x\r\n", 65536u);
					ok = write_all(c, head, (size_t)len) && write_all(c, big, 65536) &&
					     write_all(c, "\r\n", 2);
				}
				if (!ok || !write_all(c, "0\r\n\r\n", 5)) {
					s->closed_early++;
					break;
				}
			} else {
				int len = snprintf(head, sizeof(head),
						   "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", BIG_LEN);
				size_t off = 0;
				if (write(c, head, (size_t)len) < 0)
					break;
				while (off < BIG_LEN) {
					ssize_t w = write(c, big + off, BIG_LEN - off);
					if (w <= 0) {
						s->closed_early++;
						break;
					}
					off += (size_t)w;
				}
				big_sent = off == BIG_LEN;
			}
		}
		close(c);
	}
	free(big);
	return NULL;
}

static void server_start(struct server *s, enum mode mode)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);
	memset(s, 0, sizeof(*s));
	s->mode = mode;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 16), 0);
	getsockname(s->fd, (struct sockaddr *)&a, &l);
	s->port = ntohs(a.sin_port);
	pthread_create(&s->thread, NULL, serve, s);
}

static void server_stop(struct server *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port) };
	int c = socket(AF_INET, SOCK_STREAM, 0);
	s->stop = true;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	connect(c, (struct sockaddr *)&a, sizeof(a)); /* unblock accept */
	close(c);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

/* ------------------------------------------------------------ client */

/* Every test runs twice: on the built-in HTTP/1.1 client, then on libcurl. */
static bool use_curl;

static int on_curl(void **state)
{
	(void)state;
	use_curl = true;
	return 0;
}

/* libcurl is in this process's memory map exactly when use_curl says a
 * transfer needed it. */
static void test_libcurl_mapped(void **state)
{
	char line[512];
	bool mapped = false;
	FILE *fp = fopen("/proc/self/maps", "r");

	(void)state;
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		if (strstr(line, "/libcurl"))
			mapped = true;
	fclose(fp);
	assert_int_equal(mapped, use_curl);
	if (use_curl)
		assert_int_equal(aigw_curl_load(NULL), 0); /* again: a no-op */
}

struct client {
	struct aigw_ev *ev;
	struct aigw_upstream *up;
	struct aigw_xfer *x;
	int status;
	struct aigw_strv headers;
	struct aigw_buf body;
	struct aigw_xfer_result res;
	bool done;
	int pause_every;      /* pause on every Nth data call (0: never) */
	int calls;
	size_t abort_after;   /* abort once this many bytes arrived (0: never) */
	struct aigw_ev_timer resume;
};

static int on_head(struct aigw_xfer *x, int status, const struct aigw_strv *h, void *arg)
{
	struct client *c = arg;
	(void)x;
	c->status = status;
	aigw_strv_copy(&c->headers, h);
	return 0;
}

static void resume_fired(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct client *c = arg;
	(void)ev;
	(void)t;
	aigw_upstream_resume(c->x);
}

static int on_data(struct aigw_xfer *x, const char *data, size_t len, void *arg)
{
	struct client *c = arg;
	c->calls++;
	if (c->pause_every && c->calls % c->pause_every == 0) {
		aigw_ev_timer_start(c->ev, &c->resume, 1000);
		return AIGW_AGAIN;
	}
	aigw_buf_append(&c->body, data, len);
	if (c->abort_after && c->body.len >= c->abort_after) {
		aigw_upstream_abort(x);
		c->done = true;
	}
	return 0;
}

static void on_done(struct aigw_xfer *x, const struct aigw_xfer_result *res, void *arg)
{
	struct client *c = arg;
	(void)x;
	c->res = *res;
	c->done = true;
}

static const struct aigw_xfer_ops ops = { on_head, on_data, on_done };

static void client_init(struct client *c)
{
	memset(c, 0, sizeof(*c));
	c->ev = aigw_ev_new(64, NULL);
	c->up = aigw_upstream_new(c->ev, NULL);
	assert_non_null(c->up);
	aigw_buf_init(&c->body);
	aigw_ev_timer_init(&c->resume, resume_fired, c);
}

static void client_reset(struct client *c)
{
	aigw_strv_release(&c->headers);
	aigw_buf_reset(&c->body);
	c->done = false;
	c->status = 0;
	c->calls = 0;
	memset(&c->res, 0, sizeof(c->res));
}

static void client_free(struct client *c)
{
	aigw_strv_release(&c->headers);
	aigw_buf_release(&c->body);
	aigw_ev_timer_stop(c->ev, &c->resume);
	aigw_upstream_free(c->up);
	aigw_ev_free(c->ev);
}

static void run_until_done(struct client *c, int64_t limit_ms)
{
	uint64_t end = aigw_clock_mono_ms() + (uint64_t)limit_ms;
	while (!c->done && aigw_clock_mono_ms() < end)
		aigw_ev_run_once(c->ev, 50000, NULL);
	assert_true(c->done);
}

static int64_t connect_timeout_ms;

static void start(struct client *c, const char *method, int port, const char *path,
		  const char *body, int64_t timeout_ms)
{
	char url[128];
	struct aigw_xfer_request r = { 0 };
	struct aigw_err err;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	r.method = method;
	r.url = url;
	r.fields = "X-Trace: abc\r\n";
	r.fields_len = strlen(r.fields);
	r.body = body;
	r.body_len = body ? strlen(body) : 0;
	r.timeout_ms = timeout_ms;
	r.connect_timeout_ms = connect_timeout_ms;
	r.ops = &ops;
	r.arg = c;
	r.force_curl = use_curl;
	assert_int_equal(aigw_upstream_start(c->up, &r, &c->x, &err), 0);
}

/* -------------------------------------------------------------- tests */

static void test_get_and_reuse(void **state)
{
	struct server s;
	struct client c;
	(void)state;

	server_start(&s, M_SMALL);
	client_init(&c);
	for (int i = 0; i < 3; i++) {
		client_reset(&c);
		start(&c, "GET", s.port, "/v1/models", NULL, 5000);
		run_until_done(&c, 5000);
		assert_int_equal(c.res.outcome, AIGW_XFER_OK);
		assert_int_equal(c.status, 200);
		assert_string_equal(c.body.data, "hello");
		assert_true(aigw_strv_contains(&c.headers, "X-Test: yes"));
		assert_true(c.res.head_received);
		assert_true(c.res.ttfb_us > 0 && c.res.ttfb_us <= c.res.total_us);
		assert_non_null(strstr(s.last_request, "X-Trace: abc"));
		assert_null(strstr(s.last_request, "Expect:"));
	}
	/* three requests, one connection: the multi handle reuses it */
	assert_int_equal(s.accepts, 1);
	assert_int_equal(aigw_upstream_active(c.up), 0);
	client_free(&c);
	server_stop(&s);
}

static void test_post_body(void **state)
{
	struct server s;
	struct client c;
	(void)state;

	server_start(&s, M_ECHO);
	client_init(&c);
	start(&c, "POST", s.port, "/v1/chat/completions", "{\"model\":\"m\"}", 5000);
	run_until_done(&c, 5000);
	assert_int_equal(c.res.outcome, AIGW_XFER_OK);
	assert_string_equal(c.body.data, "{\"model\":\"m\"}");
	assert_non_null(strstr(s.last_request, "POST /v1/chat/completions HTTP/1.1"));
	client_free(&c);
	server_stop(&s);
}

/* Through a proxy (the scripted server plays it): the request line is in
 * absolute form and names the node (127.0.0.1:1, where nothing listens:
 * only the proxy is reached); connections to the proxy are pooled apart
 * from direct ones. */
static void test_proxy_absolute_form(void **state)
{
	struct aigw_xfer_request r = { 0 };
	struct aigw_err err;
	struct server s;
	struct client c;
	char proxy[64];
	(void)state;

	server_start(&s, M_ECHO);
	client_init(&c);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", s.port);
	for (int i = 0; i < 2; i++) {
		client_reset(&c);
		r.method = "POST";
		r.url = "http://127.0.0.1:1/v1/chat/completions?x=1";
		r.body = "{\"model\":\"m\"}";
		r.body_len = strlen(r.body);
		r.timeout_ms = 5000;
		r.ops = &ops;
		r.arg = &c;
		r.force_curl = use_curl;
		r.proxy = proxy;
		assert_int_equal(aigw_upstream_start(c.up, &r, &c.x, &err), 0);
		run_until_done(&c, 5000);
		assert_int_equal(c.res.outcome, AIGW_XFER_OK);
		assert_int_equal(c.status, 200);
		assert_string_equal(c.body.data, "{\"model\":\"m\"}");
		assert_non_null(strstr(s.last_request,
				       "POST http://127.0.0.1:1/v1/chat/completions?x=1 HTTP/1.1\r\n"));
		assert_non_null(strstr(s.last_request, "\r\nHost: 127.0.0.1:1\r\n"));
	}
	/* Kept alive: two requests, one connection to the proxy. */
	assert_int_equal(s.accepts, 1);
	/* The same node without the proxy ("" is none, as NULL) does not
	 * take the proxy's connection: it is refused. */
	client_reset(&c);
	r.proxy = "";
	if (aigw_upstream_start(c.up, &r, &c.x, &err) == 0) {
		run_until_done(&c, 5000);
		assert_int_equal(c.res.outcome, AIGW_XFER_CONNECT);
	}
	assert_int_equal(s.accepts, 1);
	client_free(&c);
	server_stop(&s);
}

/* https:// through a proxy asks it for a CONNECT tunnel (libcurl). The
 * fake proxy then speaks no TLS, so the transfer fails after that. */
static void test_proxy_connect_for_https(void **state)
{
	struct aigw_xfer_request r = { 0 };
	struct aigw_err err;
	struct server s;
	struct client c;
	char proxy[64];
	(void)state;

	server_start(&s, M_ECHO);
	client_init(&c);
	snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", s.port);
	r.method = "GET";
	r.url = "https://127.0.0.1:1/v1/models";
	r.timeout_ms = 1000;
	r.ops = &ops;
	r.arg = &c;
	r.proxy = proxy;
	assert_int_equal(aigw_upstream_start(c.up, &r, &c.x, &err), 0);
	run_until_done(&c, 5000);
	assert_int_not_equal(c.res.outcome, AIGW_XFER_OK);
	assert_non_null(strstr(s.last_request, "CONNECT 127.0.0.1:1 HTTP/1.1\r\n"));
	client_free(&c);
	server_stop(&s);
}

static void test_interim_head_skipped(void **state)
{
	struct server s;
	struct client c;
	(void)state;

	server_start(&s, M_CONTINUE);
	client_init(&c);
	start(&c, "POST", s.port, "/", "x", 5000);
	run_until_done(&c, 5000);
	assert_int_equal(c.status, 201);
	assert_string_equal(c.body.data, "ok");
	client_free(&c);
	server_stop(&s);
}

static void test_pause_resume_delivers_everything(void **state)
{
	struct server s;
	struct client c;
	(void)state;

	server_start(&s, M_BIG);
	client_init(&c);
	c.pause_every = 3;
	start(&c, "GET", s.port, "/big", NULL, 10000);
	run_until_done(&c, 10000);
	assert_int_equal(c.res.outcome, AIGW_XFER_OK);
	assert_int_equal(c.body.len, BIG_LEN);
	assert_int_equal(c.res.bytes_in, BIG_LEN);
	for (size_t i = 0; i < c.body.len; i += 4096)
		assert_int_equal(c.body.data[i], 'x');
	client_free(&c);
	server_stop(&s);
}

/* An answer larger than the 8 MiB request-body limit arrives whole: the
 * limits of what a client may send do not apply to what a node answers. */
static void test_huge_chunked_answer(void **state)
{
	struct server s;
	struct client c;
	(void)state;

	server_start(&s, M_HUGE_CHUNKED);
	client_init(&c);
	start(&c, "GET", s.port, "/huge", NULL, 20000);
	run_until_done(&c, 20000);
	assert_int_equal(c.res.outcome, AIGW_XFER_OK);
	assert_int_equal(c.body.len, HUGE_LEN);
	client_free(&c);
	server_stop(&s);
}

static void test_abort_drops_connection(void **state)
{
	struct server s;
	struct client c;
	uint64_t t0;
	(void)state;

	server_start(&s, M_BIG);
	client_init(&c);
	c.abort_after = 64 * 1024;
	start(&c, "GET", s.port, "/big", NULL, 10000);
	run_until_done(&c, 5000);
	assert_true(c.body.len < BIG_LEN);
	assert_int_equal(aigw_upstream_active(c.up), 0);
	/* The server sees the close soon (its writes fail, or, when the whole
	 * answer fit in the socket buffers, its next read ends): the socket
	 * was closed, not drained and kept. */
	t0 = aigw_clock_mono_ms();
	while (!s.closed_early && aigw_clock_mono_ms() - t0 < 3000)
		usleep(10000);
	assert_int_equal(s.closed_early, 1);
	client_free(&c);
	server_stop(&s);
}

static void test_connect_refused(void **state)
{
	struct server s;
	struct client c;
	int port;
	(void)state;

	server_start(&s, M_SMALL);
	port = s.port;
	server_stop(&s); /* nothing listens there now */
	client_init(&c);
	start(&c, "GET", port, "/", NULL, 5000);
	run_until_done(&c, 5000);
	assert_int_equal(c.res.outcome, AIGW_XFER_CONNECT);
	assert_false(c.res.head_received);
	assert_true(c.res.message[0] != '\0');
	client_free(&c);
}

static void test_timeout(void **state)
{
	struct server s;
	struct client c;
	(void)state;

	server_start(&s, M_SILENT);
	client_init(&c);
	start(&c, "GET", s.port, "/", NULL, 200);
	run_until_done(&c, 3000);
	assert_int_equal(c.res.outcome, AIGW_XFER_TIMEOUT);
	assert_true(c.res.total_us >= 190000);
	client_free(&c);
	server_stop(&s);
}

/* The connect limit ends with the connection: a slower answer on a fresh
 * connection is governed by the transfer's own limit only. */
static void test_connect_limit_is_not_the_transfer_limit(void **state)
{
	struct server s;
	struct client c;
	(void)state;

	server_start(&s, M_LATE);
	client_init(&c);
	connect_timeout_ms = 300;
	start(&c, "GET", s.port, "/", NULL, 5000);
	connect_timeout_ms = 0;
	run_until_done(&c, 5000);
	assert_int_equal(c.res.outcome, AIGW_XFER_OK);
	assert_string_equal(c.body.data, "hello");
	client_free(&c);
	server_stop(&s);
}

static void test_free_with_live_transfer(void **state)
{
	struct server s;
	struct client c;
	(void)state;

	server_start(&s, M_SILENT);
	client_init(&c);
	start(&c, "GET", s.port, "/", NULL, 5000);
	aigw_ev_run_once(c.ev, 20000, NULL);
	assert_int_equal(aigw_upstream_active(c.up), 1);
	client_free(&c); /* aborts without callbacks, frees everything */
	server_stop(&s);
}

int main(void)
{
	/* The scripted server writes to sockets the client closes on purpose. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_and_reuse),
		cmocka_unit_test(test_post_body),
		cmocka_unit_test(test_proxy_absolute_form),
		cmocka_unit_test(test_interim_head_skipped),
		cmocka_unit_test(test_pause_resume_delivers_everything),
		cmocka_unit_test(test_huge_chunked_answer),
		cmocka_unit_test(test_abort_drops_connection),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_connect_limit_is_not_the_transfer_limit),
		cmocka_unit_test(test_free_with_live_transfer),
	};
	const struct CMUnitTest mapped[] = {
		cmocka_unit_test(test_libcurl_mapped),
	};
	const struct CMUnitTest https_only[] = {
		cmocka_unit_test(test_proxy_connect_for_https),
	};
	int failed = cmocka_run_group_tests_name("native", tests, NULL, NULL);
	/* Only https:// (or force_curl) loads libcurl: after all the native
	 * transfers it is not in the process; after the curl ones it is. */
	use_curl = false;
	failed += cmocka_run_group_tests_name("libcurl not loaded", mapped, NULL, NULL);
	failed += cmocka_run_group_tests_name("curl", tests, on_curl, NULL);
	failed += cmocka_run_group_tests_name("https", https_only, on_curl, NULL);
	use_curl = true;
	return failed + cmocka_run_group_tests_name("libcurl loaded", mapped, NULL, NULL);
}
