/* server_test: the HTTP/1.1 server core driven over real sockets on
 * 127.0.0.1: keep-alive, pipelining in order, chunked bodies, 100-continue,
 * refusals that close, timeouts, streaming with backpressure, client
 * aborts, asynchronous answers, graceful stop, and the counters. Each test
 * runs its own server in a thread, with timeouts of a few hundred
 * milliseconds so the whole file stays fast. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "ev.h"
#include "http.h"
#include "server.h"

/* ------------------------------------------------------------ shared state */

/* What the handlers report to the test thread. */
static atomic_int aborted_calls;
static atomic_int drained_calls;
static atomic_int full_seen;
static atomic_ullong stream_bytes;
static atomic_int init_calls, fini_calls;

struct slow {
	struct aigw_server_req *req;
	struct aigw_ev_timer timer;
	int ticks;
	const char *answer;
};

static void slow_fire(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct slow *sl = arg;
	(void)ev;
	(void)t;
	aigw_server_respond(sl->req, 200, "Content-Type: text/plain\r\n", 26, sl->answer,
			    strlen(sl->answer));
}

static void stop_timer_on_abort(struct aigw_server_req *req, void *arg)
{
	struct slow *sl = arg;
	aigw_ev_timer_stop(req->ev, &sl->timer);
	atomic_fetch_add(&aborted_calls, 1);
}

static long query_ms(const struct aigw_server_req *req)
{
	if (req->query.ptr && req->query.len > 3 && !memcmp(req->query.ptr, "ms=", 3))
		return strtol(req->query.ptr + 3, NULL, 10);
	return 50;
}

/* /stream: writes 16 KiB pieces until the server says FULL, then waits
 * for drained, writes a last piece and finishes. */
static char piece16k[16384];

static void stream_drained(struct aigw_server_req *req, void *arg)
{
	(void)arg;
	atomic_fetch_add(&drained_calls, 1);
	aigw_server_stream_write(req, "end", 3);
	atomic_fetch_add(&stream_bytes, 3);
	aigw_server_stream_finish(req);
}

static void count_abort(struct aigw_server_req *req, void *arg)
{
	(void)req;
	(void)arg;
	atomic_fetch_add(&aborted_calls, 1);
}

/* /tick: one small piece every 10 ms, forever, until the client leaves. */
static void tick_fire(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct slow *sl = arg;
	int rc = aigw_server_stream_write(sl->req, "data: tick\n\n", 12);
	if (rc < 0)
		return; /* client gone: the aborted callback comes next */
	aigw_ev_timer_start(ev, t, 10000);
}

/* /late: the head now, the body 300 ms later. */
static void late_fire(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct slow *sl = arg;
	(void)ev;
	(void)t;
	aigw_server_stream_write(sl->req, "late", 4);
	aigw_server_stream_finish(sl->req);
}

static bool path_is(const struct aigw_server_req *req, const char *p)
{
	return req->path.len == strlen(p) && !memcmp(req->path.ptr, p, req->path.len);
}

static void handler(struct aigw_server_req *req, void *arg)
{
	(void)arg;
	if (path_is(req, "/hello")) {
		aigw_server_respond(req, 200, "Content-Type: text/plain\r\n", 26, "hello", 5);
	} else if (path_is(req, "/echo")) {
		aigw_server_respond(req, 200, NULL, 0, req->body, req->body_len);
	} else if (path_is(req, "/late")) {
		struct slow *sl = aigw_pool_calloc(req->pool, sizeof(*sl));
		sl->req = req;
		aigw_server_on_aborted(req, stop_timer_on_abort, sl);
		aigw_server_stream_start(req, 200, NULL, 0, -1);
		aigw_ev_timer_init(&sl->timer, late_fire, sl);
		aigw_ev_timer_start(req->ev, &sl->timer, 300000);
	} else if (path_is(req, "/empty")) {
		/* streamed answers with no body at all: the head alone */
		aigw_server_stream_start(req, 200, NULL, 0, 0);
		aigw_server_stream_finish(req);
	} else if (path_is(req, "/slow") || path_is(req, "/hang") || path_is(req, "/tick")) {
		struct slow *sl = aigw_pool_calloc(req->pool, sizeof(*sl));
		sl->req = req;
		sl->answer = "slow";
		aigw_server_on_aborted(req, stop_timer_on_abort, sl);
		if (path_is(req, "/slow")) {
			aigw_ev_timer_init(&sl->timer, slow_fire, sl);
			aigw_ev_timer_start(req->ev, &sl->timer, (uint64_t)query_ms(req) * 1000);
		} else if (path_is(req, "/tick")) {
			aigw_server_stream_start(req, 200, "Content-Type: text/event-stream\r\n", 33,
						 -1);
			aigw_ev_timer_init(&sl->timer, tick_fire, sl);
			aigw_ev_timer_start(req->ev, &sl->timer, 0);
		}
	} else if (path_is(req, "/stream")) {
		uint64_t total = 0;
		int rc = 0;
		aigw_server_on_drained(req, stream_drained, NULL);
		aigw_server_on_aborted(req, count_abort, NULL);
		aigw_server_stream_start(req, 200, "Content-Type: application/octet-stream\r\n", 40,
					 -1);
		while (rc == 0 && total < (256u << 20)) {
			rc = aigw_server_stream_write(req, piece16k, sizeof(piece16k));
			total += sizeof(piece16k);
		}
		atomic_fetch_add(&stream_bytes, total);
		if (rc == AIGW_SERVER_FULL)
			atomic_store(&full_seen, 1);
	} else if (path_is(req, "/fixed")) {
		/* a streamed body with a Content-Length */
		aigw_server_stream_start(req, 200, NULL, 0, 10);
		aigw_server_stream_write(req, "01234", 5);
		if (aigw_server_stream_write(req, "0123456789", 10) != AIGW_EINVAL)
			aigw_server_stream_write(req, "overflow", 8); /* shows in the body */
		aigw_server_stream_write(req, "56789", 5);
		aigw_server_stream_finish(req);
	} else if (path_is(req, "/teapot")) {
		aigw_server_respond_error(req, 418, "Retry-After: 1\r\n", 16, NULL, "teapot",
					  "i am a \"teapot\"");
	} else {
		aigw_server_respond_error(req, 404, NULL, 0, NULL, NULL, "no such path");
	}
}

static int worker_init(struct aigw_server *s, struct aigw_ev *ev, int worker, void *arg,
		       void **data, struct aigw_err *err)
{
	(void)s;
	(void)ev;
	(void)arg;
	(void)err;
	atomic_fetch_add(&init_calls, 1);
	*data = (void *)(intptr_t)(worker + 100);
	return 0;
}

static void worker_fini(struct aigw_server *s, struct aigw_ev *ev, int worker, void *arg,
			void *data)
{
	(void)s;
	(void)ev;
	(void)arg;
	assert_int_equal((intptr_t)data, worker + 100);
	atomic_fetch_add(&fini_calls, 1);
}

/* ------------------------------------------------------------ harness */

struct running {
	struct aigw_server *s;
	pthread_t thread;
	int rc;
	atomic_int done;
};

static void *run_thread(void *arg)
{
	struct running *r = arg;
	struct aigw_err err = { 0 };
	r->rc = aigw_server_run(r->s, &err);
	atomic_store(&r->done, 1);
	return NULL;
}

static void test_config(struct aigw_server_config *c)
{
	aigw_server_config_init(c);
	c->listen = "127.0.0.1:0";
	c->workers = 1;
	c->handler = handler;
	c->header_timeout_ms = 300;
	c->body_timeout_ms = 300;
	c->idle_timeout_ms = 300;
	c->limits.max_header_bytes = 2048;
	c->limits.max_body_bytes = 100000;
	c->worker_init = worker_init;
	c->worker_fini = worker_fini;
}

static struct running *start(const struct aigw_server_config *c)
{
	struct running *r = calloc(1, sizeof(*r));
	struct aigw_err err = { 0 };

	atomic_store(&aborted_calls, 0);
	atomic_store(&drained_calls, 0);
	atomic_store(&full_seen, 0);
	atomic_store(&stream_bytes, 0);
	if (aigw_server_new(&r->s, c, &err))
		fail_msg("aigw_server_new: %s", err.msg);
	assert_int_equal(pthread_create(&r->thread, NULL, run_thread, r), 0);
	return r;
}

static struct running *start_default(void)
{
	struct aigw_server_config c;
	test_config(&c);
	return start(&c);
}

static void finish(struct running *r)
{
	aigw_server_stop(r->s, 0);
	pthread_join(r->thread, NULL);
	assert_int_equal(r->rc, 0);
	aigw_server_free(r->s);
	free(r);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Waits up to 3 s for *flag to reach want. */
static void wait_for(atomic_int *flag, int want)
{
	for (int i = 0; i < 3000 && atomic_load(flag) < want; i++)
		sleep_ms(1);
	assert_true(atomic_load(flag) >= want);
}

static void wait_in_flight(struct aigw_server *s, uint64_t want)
{
	struct aigw_server_stats st;
	for (int i = 0; i < 3000; i++) {
		aigw_server_stats(s, &st);
		if (st.in_flight == want)
			return;
		sleep_ms(1);
	}
	fail_msg("in flight never reached %llu", (unsigned long long)want);
}

/* A blocking client socket with a 3 s receive timeout and its own buffer
 * (responses may arrive together). */
struct client {
	int fd;
	struct aigw_buf in;
};

static void client_open(struct client *cl, struct aigw_server *s)
{
	struct sockaddr_in a;
	struct timeval tv = { 3, 0 };

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)aigw_server_port(s));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cl->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(cl->fd >= 0);
	setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(cl->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	aigw_buf_init(&cl->in);
}

static void client_close(struct client *cl)
{
	if (cl->fd >= 0)
		close(cl->fd);
	cl->fd = -1;
	aigw_buf_release(&cl->in);
}

static void client_send(struct client *cl, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(cl->fd, data, len, MSG_NOSIGNAL);
		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

static void client_sends(struct client *cl, const char *s)
{
	client_send(cl, s, strlen(s));
}

/* Reads more into the client's buffer; returns bytes read (0 at EOF). */
static ssize_t client_fill(struct client *cl)
{
	char buf[65536];
	ssize_t n = recv(cl->fd, buf, sizeof(buf), 0);
	if (n < 0)
		fail_msg("recv: %s", strerror(errno));
	aigw_buf_append(&cl->in, buf, (size_t)n);
	return n;
}

struct reply {
	int status;
	bool keep_alive;
	struct aigw_buf head;
	struct aigw_buf body;
};

static void reply_release(struct reply *rp)
{
	aigw_buf_release(&rp->head);
	aigw_buf_release(&rp->body);
}

static void consume(struct client *cl, size_t n)
{
	memmove(cl->in.data, cl->in.data + n, cl->in.len - n);
	aigw_buf_truncate(&cl->in, cl->in.len - n);
}

/* Reads one response (to a request made with method). */
static void read_reply(struct client *cl, int method, struct reply *rp)
{
	struct aigw_http_response res;
	struct aigw_http_body body;
	size_t consumed;
	int rc;

	aigw_buf_init(&rp->head);
	aigw_buf_init(&rp->body);
	aigw_http_response_init(&res, method);
	while ((rc = aigw_http_parse_response(&res, cl->in.data, cl->in.len, NULL, &consumed,
					      NULL)) == AIGW_AGAIN)
		if (client_fill(cl) == 0)
			fail_msg("eof before a response head");
	assert_int_equal(rc, 0);
	rp->status = res.status;
	rp->keep_alive = res.keep_alive;
	aigw_buf_append(&rp->head, cl->in.data, consumed);
	consume(cl, consumed);
	aigw_http_body_init(&body, res.framing, res.content_length, NULL);
	for (;;) {
		rc = aigw_http_body_append(&body, cl->in.data, cl->in.len, &consumed, &rp->body,
					   NULL);
		consume(cl, consumed);
		if (rc == 0)
			break;
		assert_int_equal(rc, AIGW_AGAIN);
		if (client_fill(cl) == 0) {
			assert_int_equal(aigw_http_body_eof(&body, NULL), 0);
			break;
		}
	}
}

/* True when the server closed the connection (after what was read). */
static bool server_closed(struct client *cl)
{
	char c;
	ssize_t n = recv(cl->fd, &c, 1, 0);
	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static bool head_has(const struct reply *rp, const char *line)
{
	return strstr(rp->head.data, line) != NULL;
}

/* ------------------------------------------------------------ tests */

static void test_keep_alive_and_workers(void **state)
{
	struct running *r;
	struct client cl;
	struct reply rp;
	struct aigw_server_stats st;

	(void)state;
	atomic_store(&init_calls, 0);
	atomic_store(&fini_calls, 0);
	r = start_default();
	client_open(&cl, r->s);
	for (int i = 0; i < 3; i++) {
		client_sends(&cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
		read_reply(&cl, AIGW_HTTP_GET, &rp);
		assert_int_equal(rp.status, 200);
		assert_true(rp.keep_alive);
		assert_string_equal(rp.body.data, "hello");
		assert_true(head_has(&rp, "Content-Length: 5\r\n"));
		assert_true(head_has(&rp, "\r\nDate: "));
		assert_false(head_has(&rp, "Connection"));
		reply_release(&rp);
	}
	aigw_server_stats(r->s, &st);
	assert_int_equal(st.requests, 3);
	assert_int_equal(st.connections, 1);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(st.in_flight, 0);
	/* HEAD: the length of the body that GET would send, no body */
	client_sends(&cl, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_HEAD, &rp);
	assert_int_equal(rp.status, 200);
	assert_true(head_has(&rp, "Content-Length: 5\r\n"));
	assert_int_equal(rp.body.len, 0);
	reply_release(&rp);
	/* Connection: close is honoured and said */
	client_sends(&cl, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_true(head_has(&rp, "Connection: close\r\n"));
	assert_true(server_closed(&cl));
	reply_release(&rp);
	client_close(&cl);
	finish(r);
	assert_int_equal(atomic_load(&init_calls), 1);
	assert_int_equal(atomic_load(&fini_calls), 1);
}

static void test_http10(void **state)
{
	struct running *r = start_default();
	struct client cl;
	struct reply rp;

	(void)state;
	client_open(&cl, r->s);
	client_sends(&cl, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_int_equal(rp.status, 200);
	assert_true(head_has(&rp, "Connection: keep-alive\r\n"));
	reply_release(&rp);
	client_sends(&cl, "GET /hello HTTP/1.0\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_true(head_has(&rp, "Connection: close\r\n"));
	assert_string_equal(rp.body.data, "hello");
	assert_true(server_closed(&cl));
	reply_release(&rp);
	client_close(&cl);
	/* a stream to an HTTP/1.0 client is close-delimited, not chunked */
	client_open(&cl, r->s);
	client_sends(&cl, "GET /fixed HTTP/1.0\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_string_equal(rp.body.data, "0123456789");
	assert_true(head_has(&rp, "Content-Length: 10\r\n"));
	reply_release(&rp);
	client_close(&cl);
	finish(r);
}

static void test_pipelined_in_order(void **state)
{
	struct running *r = start_default();
	struct client cl;
	struct reply rp;

	(void)state;
	client_open(&cl, r->s);
	/* the first is answered last in time, yet comes first */
	client_sends(&cl, "GET /slow?ms=100 HTTP/1.1\r\nHost: x\r\n\r\n"
			  "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
			  "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nping"
			  "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_string_equal(rp.body.data, "slow");
	reply_release(&rp);
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_string_equal(rp.body.data, "hello");
	reply_release(&rp);
	read_reply(&cl, AIGW_HTTP_POST, &rp);
	assert_string_equal(rp.body.data, "ping");
	reply_release(&rp);
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_int_equal(rp.status, 404);
	assert_true(head_has(&rp, "Content-Type: application/json\r\n"));
	assert_string_equal(rp.body.data, "{\"error\":{\"message\":\"no such path\","
					  "\"type\":\"invalid_request_error\",\"code\":\"not_found\"}}\n");
	reply_release(&rp);
	/* a pipeline that arrives byte by byte */
	{
		const char *two = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
				  "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
		for (const char *p = two; *p; p++)
			client_send(&cl, p, 1);
		read_reply(&cl, AIGW_HTTP_POST, &rp);
		assert_string_equal(rp.body.data, "abc");
		reply_release(&rp);
		read_reply(&cl, AIGW_HTTP_GET, &rp);
		assert_string_equal(rp.body.data, "hello");
		reply_release(&rp);
	}
	client_close(&cl);
	finish(r);
}

static void test_chunked_request_body(void **state)
{
	struct running *r = start_default();
	struct client cl;
	struct reply rp;
	struct aigw_buf big = AIGW_BUF_INIT, want = AIGW_BUF_INIT;

	(void)state;
	client_open(&cl, r->s);
	client_sends(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_POST, &rp);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.body.data, "hello world");
	reply_release(&rp);
	/* a body larger than the first buffer, in many chunks, then a
	 * pipelined request right behind it */
	aigw_buf_puts(&big, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 500; i++) {
		char piece[64];
		int n = snprintf(piece, sizeof(piece), "chunk %03d|", i);
		aigw_buf_printf(&big, "%x\r\n%s\r\n", n, piece);
		aigw_buf_puts(&want, piece);
	}
	aigw_buf_puts(&big, "0\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	client_send(&cl, big.data, big.len);
	read_reply(&cl, AIGW_HTTP_POST, &rp);
	assert_int_equal(rp.body.len, want.len);
	assert_memory_equal(rp.body.data, want.data, want.len);
	reply_release(&rp);
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_string_equal(rp.body.data, "hello");
	reply_release(&rp);
	/* a large Content-Length body */
	aigw_buf_reset(&big);
	aigw_buf_printf(&big, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
			want.len * 2);
	aigw_buf_append(&big, want.data, want.len);
	aigw_buf_append(&big, want.data, want.len);
	client_send(&cl, big.data, big.len);
	read_reply(&cl, AIGW_HTTP_POST, &rp);
	assert_int_equal(rp.body.len, want.len * 2);
	reply_release(&rp);
	aigw_buf_release(&big);
	aigw_buf_release(&want);
	client_close(&cl);
	finish(r);
}

static void test_expect_continue(void **state)
{
	struct running *r = start_default();
	struct client cl;
	struct reply rp;

	(void)state;
	client_open(&cl, r->s);
	client_sends(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
			  "Expect: 100-continue\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_POST, &rp);
	assert_int_equal(rp.status, 100);
	assert_string_equal(rp.head.data, "HTTP/1.1 100 Continue\r\n\r\n");
	reply_release(&rp);
	client_sends(&cl, "hello");
	read_reply(&cl, AIGW_HTTP_POST, &rp);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.body.data, "hello");
	reply_release(&rp);
	/* refused before the body: no 100, the refusal, and close */
	client_sends(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 999999\r\n"
			  "Expect: 100-continue\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_POST, &rp);
	assert_int_equal(rp.status, 413);
	reply_release(&rp);
	assert_true(server_closed(&cl));
	client_close(&cl);
	finish(r);
}

/* Sends raw and expects one answer with status, then the close. */
static void expect_refusal(struct aigw_server *s, const char *raw, int status, const char *code)
{
	struct client cl;
	struct reply rp;

	client_open(&cl, s);
	client_sends(&cl, raw);
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_int_equal(rp.status, status);
	assert_true(head_has(&rp, "Connection: close\r\n"));
	assert_true(head_has(&rp, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(rp.body.data, code));
	assert_non_null(strstr(rp.body.data, "{\"error\":{\"message\":\""));
	reply_release(&rp);
	assert_true(server_closed(&cl));
	client_close(&cl);
}

static void test_refusals_close(void **state)
{
	struct running *r = start_default();
	struct aigw_buf big = AIGW_BUF_INIT;
	struct aigw_server_stats st;

	(void)state;
	aigw_buf_puts(&big, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
	for (int i = 0; i < 3000; i++)
		aigw_buf_putc(&big, 'a');
	aigw_buf_puts(&big, "\r\n\r\n");
	expect_refusal(r->s, big.data, 431, "\"code\":\"request_header_fields_too_large\"");
	expect_refusal(r->s, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100001\r\n\r\n",
		       413, "\"code\":\"request_too_large\"");
	expect_refusal(r->s, "GET /hello HTTP/1.1\nHost: x\r\n\r\n", 400, "bare lf");
	expect_refusal(r->s,
		       "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n",
		       400, "content-length with transfer-encoding");
	expect_refusal(r->s, "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505,
		       "http_version_not_supported");
	expect_refusal(r->s, "GET / HTTP/1.1\r\nHost: x\r\nExpect: tea\r\n\r\n", 417,
		       "expectation_failed");
	expect_refusal(r->s,
		       "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		       501, "not_implemented");
	/* a chunked body over the limit: 413 once the limit is crossed */
	aigw_buf_reset(&big);
	aigw_buf_puts(&big, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 11; i++) {
		aigw_buf_puts(&big, "2710\r\n");
		for (int j = 0; j < 10000; j++)
			aigw_buf_putc(&big, 'z');
		aigw_buf_puts(&big, "\r\n");
	}
	expect_refusal(r->s, big.data, 413, "body too large");
	aigw_buf_release(&big);
	aigw_server_stats(r->s, &st);
	assert_int_equal(st.requests, 0);
	finish(r);
}

static void test_timeouts(void **state)
{
	struct running *r = start_default();
	struct client cl;
	struct reply rp;
	uint64_t t0;

	(void)state;
	/* head started, never finished: 408 after the header timeout */
	client_open(&cl, r->s);
	t0 = aigw_clock_mono_ms();
	client_sends(&cl, "GET /hello HTTP/1.1\r\nHost:");
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_int_equal(rp.status, 408);
	assert_non_null(strstr(rp.body.data, "request_timeout"));
	assert_true(aigw_clock_mono_ms() - t0 >= 290);
	assert_true(aigw_clock_mono_ms() - t0 < 2000);
	reply_release(&rp);
	assert_true(server_closed(&cl));
	client_close(&cl);
	/* body started, never finished: 408 after the body timeout */
	client_open(&cl, r->s);
	client_sends(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
	read_reply(&cl, AIGW_HTTP_POST, &rp);
	assert_int_equal(rp.status, 408);
	reply_release(&rp);
	assert_true(server_closed(&cl));
	client_close(&cl);
	/* idle keep-alive: closed silently after the idle timeout */
	client_open(&cl, r->s);
	client_sends(&cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	reply_release(&rp);
	t0 = aigw_clock_mono_ms();
	assert_int_equal(client_fill(&cl), 0);
	assert_true(aigw_clock_mono_ms() - t0 >= 290);
	assert_int_equal(cl.in.len, 0);
	client_close(&cl);
	/* a connection that never speaks: closed silently, no 408 */
	client_open(&cl, r->s);
	assert_int_equal(client_fill(&cl), 0);
	client_close(&cl);
	finish(r);
}

static void test_async_response(void **state)
{
	struct running *r = start_default();
	struct client cl;
	struct reply rp;
	uint64_t t0;

	(void)state;
	client_open(&cl, r->s);
	t0 = aigw_clock_mono_ms();
	client_sends(&cl, "GET /slow?ms=120 HTTP/1.1\r\nHost: x\r\n\r\n");
	wait_in_flight(r->s, 1);
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_true(aigw_clock_mono_ms() - t0 >= 120);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.body.data, "slow");
	reply_release(&rp);
	wait_in_flight(r->s, 0);
	/* error helper with extra headers and escaping */
	client_sends(&cl, "GET /teapot HTTP/1.1\r\nHost: x\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_int_equal(rp.status, 418);
	assert_true(head_has(&rp, "Retry-After: 1\r\n"));
	assert_string_equal(rp.body.data, "{\"error\":{\"message\":\"i am a \\\"teapot\\\"\","
					  "\"type\":\"invalid_request_error\",\"code\":\"teapot\"}}\n");
	reply_release(&rp);
	/* a streamed body with a Content-Length */
	client_sends(&cl, "GET /fixed HTTP/1.1\r\nHost: x\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_true(head_has(&rp, "Content-Length: 10\r\n"));
	assert_false(head_has(&rp, "chunked"));
	assert_string_equal(rp.body.data, "0123456789");
	reply_release(&rp);
	client_close(&cl);
	finish(r);
}

/* A streamed head waits for the body only within one loop iteration: with
 * the body 300 ms away, the head arrives at once; the body then follows
 * on the same connection; and a stream that ends with no body still gets
 * its head out. */
static void test_stream_head_not_held(void **state)
{
	struct running *r = start_default();
	struct client cl;
	struct reply rp;
	uint64_t t0;
	char head[512];
	ssize_t n;

	(void)state;
	client_open(&cl, r->s);
	t0 = aigw_clock_mono_ms();
	client_sends(&cl, "GET /late HTTP/1.1\r\nHost: x\r\n\r\n");
	n = recv(cl.fd, head, sizeof(head) - 1, 0);
	assert_true(n > 0);
	head[n] = '\0';
	assert_true(aigw_clock_mono_ms() - t0 < 250);
	assert_true(strncmp(head, "HTTP/1.1 200 OK\r\n", 17) == 0);
	assert_non_null(strstr(head, "Transfer-Encoding: chunked\r\n"));
	assert_null(strstr(head, "late"));
	aigw_buf_append(&cl.in, head, (size_t)n);
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_true(aigw_clock_mono_ms() - t0 >= 300);
	assert_string_equal(rp.body.data, "late");
	reply_release(&rp);
	client_sends(&cl, "GET /empty HTTP/1.1\r\nHost: x\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_int_equal(rp.status, 200);
	assert_true(head_has(&rp, "Content-Length: 0\r\n"));
	assert_int_equal(rp.body.len, 0);
	reply_release(&rp);
	client_close(&cl);
	finish(r);
}

static void test_stream_backpressure(void **state)
{
	struct running *r = start_default();
	struct client cl;
	struct reply rp;
	(void)state;
	client_open(&cl, r->s);
	client_sends(&cl, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
	/* the client reads nothing: the handler is told to pause */
	wait_for(&full_seen, 1);
	sleep_ms(50);
	assert_int_equal(atomic_load(&drained_calls), 0);
	{
		struct aigw_server_stats st;
		aigw_server_stats(r->s, &st);
		assert_int_equal(st.in_flight, 1);
	}
	/* now it reads: drained fires, the stream ends, every byte arrives */
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_int_equal(rp.status, 200);
	assert_true(head_has(&rp, "Transfer-Encoding: chunked\r\n"));
	assert_int_equal(atomic_load(&drained_calls), 1);
	assert_int_equal(rp.body.len, atomic_load(&stream_bytes));
	assert_memory_equal(rp.body.data + rp.body.len - 3, "end", 3);
	reply_release(&rp);
	/* the connection is still usable */
	client_sends(&cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_string_equal(rp.body.data, "hello");
	reply_release(&rp);
	client_close(&cl);
	assert_int_equal(atomic_load(&aborted_calls), 0);
	finish(r);
}

static void test_client_abort(void **state)
{
	struct running *r = start_default();
	struct client cl;
	struct aigw_server_stats st;

	(void)state;
	/* waiting for an answer that never comes: the close is noticed */
	client_open(&cl, r->s);
	client_sends(&cl, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n");
	wait_in_flight(r->s, 1);
	client_close(&cl);
	wait_for(&aborted_calls, 1);
	wait_in_flight(r->s, 0);
	/* mid-stream: the stream stops, the callback fires once */
	client_open(&cl, r->s);
	client_sends(&cl, "GET /tick HTTP/1.1\r\nHost: x\r\n\r\n");
	while (!strstr(cl.in.data, "tick"))
		assert_true(client_fill(&cl) > 0);
	client_close(&cl);
	wait_for(&aborted_calls, 2);
	sleep_ms(50);
	assert_int_equal(atomic_load(&aborted_calls), 2);
	wait_in_flight(r->s, 0);
	aigw_server_stats(r->s, &st);
	assert_int_equal(st.connections, 0);
	assert_int_equal(st.requests, 0);
	finish(r);
}

static void test_graceful_stop(void **state)
{
	struct running *r = start_default();
	struct client cl, idle;
	struct reply rp;
	uint64_t t0;

	(void)state;
	client_open(&idle, r->s);
	client_sends(&idle, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	read_reply(&idle, AIGW_HTTP_GET, &rp);
	reply_release(&rp);
	client_open(&cl, r->s);
	client_sends(&cl, "GET /slow?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n");
	wait_in_flight(r->s, 1);
	t0 = aigw_clock_mono_ms();
	aigw_server_stop(r->s, 5000);
	/* the idle connection goes at once */
	assert_int_equal(client_fill(&idle), 0);
	client_close(&idle);
	/* the one in flight gets its answer, marked as the last */
	read_reply(&cl, AIGW_HTTP_GET, &rp);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.body.data, "slow");
	assert_true(head_has(&rp, "Connection: close\r\n"));
	reply_release(&rp);
	assert_true(server_closed(&cl));
	client_close(&cl);
	pthread_join(r->thread, NULL);
	assert_true(aigw_clock_mono_ms() - t0 < 1500);
	assert_int_equal(r->rc, 0);
	assert_int_equal(atomic_load(&aborted_calls), 0);
	/* nothing listens any more */
	{
		struct sockaddr_in a;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)aigw_server_port(r->s));
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_not_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
		close(fd);
	}
	aigw_server_free(r->s);
	free(r);

	/* past the grace period what is left is aborted */
	r = start_default();
	client_open(&cl, r->s);
	client_sends(&cl, "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n");
	wait_in_flight(r->s, 1);
	t0 = aigw_clock_mono_ms();
	aigw_server_stop(r->s, 100);
	pthread_join(r->thread, NULL);
	assert_true(aigw_clock_mono_ms() - t0 >= 90);
	assert_true(aigw_clock_mono_ms() - t0 < 1500);
	assert_int_equal(atomic_load(&aborted_calls), 1);
	assert_true(server_closed(&cl));
	client_close(&cl);
	aigw_server_free(r->s);
	free(r);

	/* a stop before run makes run return at once */
	{
		struct aigw_server_config c;
		struct aigw_server *s;
		test_config(&c);
		c.workers = 3;
		assert_int_equal(aigw_server_new(&s, &c, NULL), 0);
		assert_int_equal(aigw_server_workers(s), 3);
		aigw_server_stop(s, 1000);
		assert_int_equal(aigw_server_run(s, NULL), 0);
		aigw_server_free(s);
	}
}

static void test_many_workers_and_limits(void **state)
{
	struct aigw_server_config c;
	struct running *r;
	struct client cl[8], extra;
	struct reply rp;
	struct aigw_err err = { 0 };
	struct aigw_server *other;
	char addr[64];

	(void)state;
	test_config(&c);
	c.workers = 4;
	c.max_connections = 8;
	r = start(&c);
	/* port 0 was resolved once for all workers */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", aigw_server_port(r->s));
	assert_string_equal(aigw_server_address(r->s), addr);
	for (int i = 0; i < 8; i++) {
		client_open(&cl[i], r->s);
		client_sends(&cl[i], "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
		read_reply(&cl[i], AIGW_HTTP_GET, &rp);
		assert_string_equal(rp.body.data, "hello");
		reply_release(&rp);
	}
	/* over the limit: accepted and closed at once */
	client_open(&extra, r->s);
	assert_true(server_closed(&extra));
	client_close(&extra);
	for (int i = 0; i < 8; i++)
		client_close(&cl[i]);
	/* the port is in use */
	c.listen = addr;
	c.workers = 1;
	assert_int_equal(aigw_server_new(&other, &c, &err), AIGW_EFAIL);
	assert_non_null(strstr(err.msg, "cannot listen on"));
	assert_non_null(strstr(err.msg, "in use"));
	assert_null(other);
	finish(r);
	/* configuration errors */
	test_config(&c);
	c.handler = NULL;
	assert_int_equal(aigw_server_new(&other, &c, &err), AIGW_EINVAL);
	test_config(&c);
	c.low_water = c.high_water + 1;
	assert_int_equal(aigw_server_new(&other, &c, &err), AIGW_EINVAL);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_alive_and_workers),
		cmocka_unit_test(test_http10),
		cmocka_unit_test(test_pipelined_in_order),
		cmocka_unit_test(test_chunked_request_body),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_refusals_close),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_async_response),
		cmocka_unit_test(test_stream_head_not_held),
		cmocka_unit_test(test_stream_backpressure),
		cmocka_unit_test(test_client_abort),
		cmocka_unit_test(test_graceful_stop),
		cmocka_unit_test(test_many_workers_and_limits),
	};
	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
