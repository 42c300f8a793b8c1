/* Tests for bench: the option-value parsers, and whole runs against small
 * servers on threads of their own that answer in chosen ways (keep-alive,
 * close-delimited, chunked SSE streams, garbage, silence) so the engine's
 * counting and its failure taxonomy are checked without the mock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

/* ------------------------------------------------------------ parsers */

static void test_parse_rate(void **state)
{
	double f, t, s;
	(void)state;
	assert_int_equal(aigw_bench_parse_rate("250", &f, &t, &s, NULL), 0);
	assert_true(f == 250 && t == 250);
	assert_int_equal(aigw_bench_parse_rate("100:2000:100", &f, &t, &s, NULL), 0);
	assert_true(f == 100 && t == 2000 && s == 100);
	assert_int_equal(aigw_bench_parse_rate("0.5", &f, &t, &s, NULL), 0);
	static const char *const bad[] = { "", "0", "-1", "x", "1:2", "1:2:0", "2:1:1",
					   "1:2:3:4", "1::1", "1:100000:1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(aigw_bench_parse_rate(bad[i], &f, &t, &s, NULL), AIGW_EINVAL);
}

static void test_parse_slo(void **state)
{
	uint64_t ttft, e2e;
	struct aigw_err err;
	(void)state;
	assert_int_equal(aigw_bench_parse_slo("ttft=500ms,e2e=5s", &ttft, &e2e, NULL), 0);
	assert_true(ttft == 500000 && e2e == 5000000);
	assert_int_equal(aigw_bench_parse_slo("e2e=2s", &ttft, &e2e, NULL), 0);
	assert_true(ttft == 0 && e2e == 2000000);
	assert_int_equal(aigw_bench_parse_slo("tpot=1s", &ttft, &e2e, &err), AIGW_EINVAL);
	assert_string_equal(err.msg, "'tpot': unknown SLO (known: ttft, e2e)");
	assert_int_equal(aigw_bench_parse_slo("ttft", &ttft, &e2e, NULL), AIGW_EINVAL);
	assert_int_equal(aigw_bench_parse_slo("ttft=soon", &ttft, &e2e, NULL), AIGW_EINVAL);
	assert_int_equal(aigw_bench_parse_slo("", &ttft, &e2e, NULL), AIGW_EINVAL);
}

static void test_parse_dataset(void **state)
{
	struct aigw_strv v = AIGW_STRV_INIT;
	struct aigw_err err;
	const char *ok = "{\"a\":1}\r\n\n  \n{\"b\":2}";
	(void)state;
	assert_int_equal(aigw_bench_parse_dataset(ok, strlen(ok), &v, NULL), 0);
	assert_int_equal(v.n, 2);
	assert_string_equal(v.v[0], "{\"a\":1}");
	assert_string_equal(v.v[1], "{\"b\":2}");
	aigw_strv_release(&v);
	assert_int_equal(aigw_bench_parse_dataset("{}\n[1]\n", 7, &v, &err), AIGW_EINVAL);
	assert_string_equal(err.msg, "line 2: not a JSON object");
	aigw_strv_release(&v);
	assert_int_equal(aigw_bench_parse_dataset("\n\n", 2, &v, NULL), AIGW_EINVAL);
	aigw_strv_release(&v);
}

/* ------------------------------------------------------------ servers */

/* A server thread: accepts connections one after another and, for each
 * request head it reads, writes answer (or closes when answer is NULL). */
struct server {
	int fd, port;
	const char *answer;
	bool close_after;     /* close the connection after each answer */
	int requests;         /* heads seen */
	pthread_t thread;
};

static void *serve(void *arg)
{
	struct server *s = arg;
	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		char buf[8192];
		size_t have = 0;
		if (c < 0)
			return NULL;
		for (;;) {
			ssize_t n = read(c, buf + have, sizeof(buf) - 1 - have);
			char *end;
			if (n <= 0)
				break;
			have += (size_t)n;
			buf[have] = '\0';
			/* Requests here have small bodies: wait for the head and
			 * whatever Content-Length says. */
			while ((end = strstr(buf, "\r\n\r\n"))) {
				size_t head = (size_t)(end + 4 - buf), body = 0;
				char *cl = strstr(buf, "Content-Length: ");
				if (cl && cl < end)
					body = (size_t)atoi(cl + 16);
				if (have < head + body)
					break;
				s->requests++;
				if (!s->answer)
					goto closed;
				if (write(c, s->answer, strlen(s->answer)) < 0)
					goto closed;
				memmove(buf, buf + head + body, have - head - body);
				have -= head + body;
				buf[have] = '\0';
				if (s->close_after)
					goto closed;
			}
		}
closed:
		close(c);
	}
}

static void server_start(struct server *s, const char *answer, bool close_after)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);
	int one = 1;

	memset(s, 0, sizeof(*s));
	s->answer = answer;
	s->close_after = close_after;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 64), 0);
	getsockname(s->fd, (struct sockaddr *)&a, &l);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

static void run(struct server *s, struct aigw_bench_config *c, struct aigw_bench_result *r,
		const char *path)
{
	char url[128];
	struct aigw_err err = { 0 };
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
	c->url = url;
	assert_int_equal(aigw_bench_result_init(r, NULL), 0);
	if (aigw_bench_run(c, r, &err))
		fail_msg("run: %s", err.msg);
}

/* ------------------------------------------------------------ runs */

static void test_keep_alive_counts(void **state)
{
	struct server s;
	struct aigw_bench_config c;
	struct aigw_bench_result r;
	(void)state;
	server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false);
	aigw_bench_config_init(&c);
	c.requests = 50;
	c.body = "{\"x\":1}";
	c.body_len = strlen(c.body);
	run(&s, &c, &r, "/p");
	assert_int_equal(r.completed, 50);
	assert_int_equal(r.ok, 50);
	assert_int_equal(r.status[200], 50);
	assert_int_equal(r.errors, 0);
	assert_int_equal(aigw_hist_count(&r.latency), 50);
	assert_int_equal(s.requests, 50);
	assert_int_equal(r.bytes_in, 50 * 40);
	aigw_bench_result_release(&r);
	server_stop(&s);
}

static void test_close_delimited_and_connection_close(void **state)
{
	struct server s;
	struct aigw_bench_config c;
	struct aigw_bench_result r;
	(void)state;
	/* No length: the body ends when the server closes; the client must
	 * reconnect for the next request. */
	server_start(&s, "HTTP/1.1 404 Not Found\r\n\r\nnothing here", true);
	aigw_bench_config_init(&c);
	c.requests = 20;
	c.connections = 2;
	run(&s, &c, &r, "/");
	assert_int_equal(r.completed, 20);
	assert_int_equal(r.status[404], 20);
	assert_int_equal(r.errors, 20);
	assert_int_equal(r.failures[AIGW_BENCH_RESET], 0);
	aigw_bench_result_release(&r);
	server_stop(&s);
}

static void test_stream_tokens(void **state)
{
	struct server s;
	struct aigw_bench_config c;
	struct aigw_bench_result r;
	static const char answer[] =
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
		"1b\r\ndata: {\"choices\":[{\"delta\":\r\n"
		"14\r\n{\"content\":\"a\"}}]}\n\n\r\n"
		"30\r\ndata: {\"choices\":[{\"delta\":{\"content\":\" b\"}}]}\n\n\r\n"
		"36\r\ndata: {\"choices\":[],\"usage\":{\"completion_tokens\":7}}\n\n\r\n"
		"e\r\ndata: [DONE]\n\n\r\n"
		"0\r\n\r\n";
	(void)state;
	server_start(&s, answer, false);
	aigw_bench_config_init(&c);
	c.requests = 10;
	c.slo_ttft_us = 10 * 1000000ULL;
	run(&s, &c, &r, "/v1/chat/completions");
	assert_int_equal(r.ok, 10);
	assert_int_equal(r.streams, 10);
	assert_int_equal(r.output_tokens, 70); /* usage wins over the 2 deltas */
	assert_int_equal(aigw_hist_count(&r.ttft), 10);
	assert_int_equal(aigw_hist_count(&r.itl), 10);
	assert_int_equal(aigw_hist_count(&r.tpot), 10);
	assert_int_equal(r.goodput, 10);
	aigw_bench_result_release(&r);
	server_stop(&s);
}

static void test_failures(void **state)
{
	struct server s;
	struct aigw_bench_config c;
	struct aigw_bench_result r;
	int port;
	(void)state;

	server_start(&s, "garbage\r\n\r\n", false);
	aigw_bench_config_init(&c);
	c.requests = 5;
	run(&s, &c, &r, "/");
	assert_int_equal(r.failures[AIGW_BENCH_MALFORMED], 5);
	assert_int_equal(r.answers, 0);
	assert_false(aigw_bench_unreachable(&r));
	aigw_bench_result_release(&r);
	server_stop(&s);

	/* Closes without answering. */
	server_start(&s, NULL, true);
	run(&s, &c, &r, "/");
	assert_int_equal(r.failures[AIGW_BENCH_RESET], 5);
	aigw_bench_result_release(&r);
	server_stop(&s);

	/* Never answers: a head arrives, then silence. */
	server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", false);
	c.requests = 2;
	c.timeout_us = 50000;
	run(&s, &c, &r, "/");
	assert_int_equal(r.failures[AIGW_BENCH_TIMEOUT], 2);
	aigw_bench_result_release(&r);
	port = s.port;
	server_stop(&s);

	/* Nobody listens any more: every connection fails its first attempt,
	 * and the run ends at once. */
	c.timeout_us = 0;
	c.requests = 0;
	c.duration_us = 5000000;
	c.connections = 3;
	s.port = port;
	run(&s, &c, &r, "/");
	assert_int_equal(r.failures[AIGW_BENCH_CONNECT], 3);
	assert_true(aigw_bench_unreachable(&r));
	assert_true(r.elapsed_us < 1000000);
	aigw_bench_result_release(&r);
}

static void test_open_loop_rate(void **state)
{
	struct server s;
	struct aigw_bench_config c;
	struct aigw_bench_result r;
	(void)state;
	server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false);
	aigw_bench_config_init(&c);
	c.rate = 200;
	c.requests = 40;
	c.connections = 2;
	run(&s, &c, &r, "/");
	assert_int_equal(r.ok, 40);
	/* 40 requests due 5 ms apart: the last one is due at 195 ms. */
	assert_true(r.elapsed_us >= 195000);
	assert_true(r.elapsed_us < 1000000);
	aigw_bench_result_release(&r);
	server_stop(&s);
}

static void test_bad_config(void **state)
{
	struct aigw_bench_config c;
	struct aigw_bench_result r;
	struct aigw_err err;
	struct aigw_strv h = AIGW_STRV_INIT;
	(void)state;
	aigw_bench_config_init(&c);
	c.requests = 1;
	assert_int_equal(aigw_bench_result_init(&r, NULL), 0);
	c.url = "https://127.0.0.1:1/";
	c.ca_file = "/nonexistent/ca.pem";
	assert_int_equal(aigw_bench_run(&c, &r, &err), AIGW_ENOTFOUND);
	c.ca_file = NULL;
	c.url = "ftp://x/";
	assert_int_equal(aigw_bench_run(&c, &r, &err), AIGW_EINVAL);
	c.url = "http://127.0.0.1:1/";
	aigw_strv_push(&h, "no colon");
	c.headers = &h;
	assert_int_equal(aigw_bench_run(&c, &r, &err), AIGW_EINVAL);
	assert_string_equal(err.msg, "-H 'no colon': not a 'Name: value' header");
	aigw_strv_release(&h);
	aigw_strv_push(&h, "Content-Length: 5");
	assert_int_equal(aigw_bench_run(&c, &r, &err), AIGW_EINVAL);
	aigw_strv_release(&h);
	aigw_bench_result_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rate),
		cmocka_unit_test(test_parse_slo),
		cmocka_unit_test(test_parse_dataset),
		cmocka_unit_test(test_keep_alive_counts),
		cmocka_unit_test(test_close_delimited_and_connection_close),
		cmocka_unit_test(test_stream_tokens),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_open_loop_rate),
		cmocka_unit_test(test_bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
