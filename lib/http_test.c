/* http_test: the request and response parsers, the body decoder and the
 * writers, driven by tables: valid requests, every limit, every smuggling
 * shape, chunk edge cases, and the same messages split at every byte. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "http.h"
#include "mem.h"

/* A string literal with its length, so that tables can hold NUL bytes. */
#define S(lit) lit, sizeof(lit) - 1

static bool slice_is(struct aigw_http_slice s, const char *want)
{
	return s.len == strlen(want) && !memcmp(s.ptr, want, s.len);
}

static int parse_whole(struct aigw_http_request *req, const char *raw,
		       size_t len, const struct aigw_http_limits *limits,
		       size_t *consumed, struct aigw_http_error *err)
{
	aigw_http_request_init(req);
	return aigw_http_parse_request(req, raw, len, limits, consumed, err);
}

/* ------------------------------------------------------------ valid */

struct valid_case {
	const char *raw;
	int method;
	const char *method_name;
	const char *path;
	const char *query; /* NULL: no '?' */
	int minor;
	bool keep_alive;
	bool expect_continue;
	int framing;
	uint64_t content_length;
	const char *host; /* NULL: no Host field */
	size_t header_count;
};

static const struct valid_case valid_cases[] = {
	{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	  AIGW_HTTP_GET, "GET", "/", NULL, 1, true, false,
	  AIGW_HTTP_BODY_NONE, 0, "a", 1 },
	{ "GET /v1/models?limit=10&x=y HTTP/1.1\r\n"
	  "Host: api.example.com:8080\r\nUser-Agent: t/1.0\r\n\r\n",
	  AIGW_HTTP_GET, "GET", "/v1/models", "limit=10&x=y", 1, true, false,
	  AIGW_HTTP_BODY_NONE, 0, "api.example.com:8080", 2 },
	{ "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n",
	  AIGW_HTTP_GET, "GET", "/a", "", 1, true, false,
	  AIGW_HTTP_BODY_NONE, 0, "a", 1 },
	{ "GET /a?b?c=/d HTTP/1.1\r\nHost: a\r\n\r\n",
	  AIGW_HTTP_GET, "GET", "/a", "b?c=/d", 1, true, false,
	  AIGW_HTTP_BODY_NONE, 0, "a", 1 },
	{ "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\n"
	  "Content-Type: application/json\r\nContent-Length: 17\r\n\r\n",
	  AIGW_HTTP_POST, "POST", "/v1/chat/completions", NULL, 1, true,
	  false, AIGW_HTTP_BODY_LENGTH, 17, "a", 3 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
	  AIGW_HTTP_POST, "POST", "/", NULL, 1, true, false,
	  AIGW_HTTP_BODY_LENGTH, 0, "a", 2 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n",
	  AIGW_HTTP_POST, "POST", "/", NULL, 1, true, false,
	  AIGW_HTTP_BODY_LENGTH, 7, "a", 2 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 8388608\r\n\r\n",
	  AIGW_HTTP_POST, "POST", "/", NULL, 1, true, false,
	  AIGW_HTTP_BODY_LENGTH, 8388608, "a", 2 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
	  AIGW_HTTP_POST, "POST", "/", NULL, 1, true, false,
	  AIGW_HTTP_BODY_CHUNKED, 0, "a", 2 },
	{ "PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  CHUNKED \r\n\r\n",
	  AIGW_HTTP_PUT, "PUT", "/x", NULL, 1, true, false,
	  AIGW_HTTP_BODY_CHUNKED, 0, "a", 2 },
	/* keep-alive rules */
	{ "GET / HTTP/1.0\r\n\r\n",
	  AIGW_HTTP_GET, "GET", "/", NULL, 0, false, false,
	  AIGW_HTTP_BODY_NONE, 0, NULL, 0 },
	{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	  AIGW_HTTP_GET, "GET", "/", NULL, 0, true, false,
	  AIGW_HTTP_BODY_NONE, 0, NULL, 1 },
	{ "GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n",
	  AIGW_HTTP_GET, "GET", "/", NULL, 0, false, false,
	  AIGW_HTTP_BODY_NONE, 0, NULL, 1 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
	  AIGW_HTTP_GET, "GET", "/", NULL, 1, false, false,
	  AIGW_HTTP_BODY_NONE, 0, "a", 2 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade,,  CLOSE\r\n\r\n",
	  AIGW_HTTP_GET, "GET", "/", NULL, 1, false, false,
	  AIGW_HTTP_BODY_NONE, 0, "a", 2 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: foo\r\n"
	  "Connection: close\r\n\r\n",
	  AIGW_HTTP_GET, "GET", "/", NULL, 1, false, false,
	  AIGW_HTTP_BODY_NONE, 0, "a", 3 },
	{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n",
	  AIGW_HTTP_GET, "GET", "/", NULL, 1, true, false,
	  AIGW_HTTP_BODY_NONE, 0, "a", 2 },
	/* Expect */
	{ "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
	  "Content-Length: 3\r\n\r\n",
	  AIGW_HTTP_POST, "POST", "/", NULL, 1, true, true,
	  AIGW_HTTP_BODY_LENGTH, 3, "a", 3 },
	{ "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n",
	  AIGW_HTTP_POST, "POST", "/", NULL, 1, true, true,
	  AIGW_HTTP_BODY_NONE, 0, "a", 2 },
	{ "POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n",
	  AIGW_HTTP_POST, "POST", "/", NULL, 0, false, false,
	  AIGW_HTTP_BODY_NONE, 0, NULL, 1 },
	{ "POST / HTTP/1.0\r\nExpect: something-else\r\n\r\n",
	  AIGW_HTTP_POST, "POST", "/", NULL, 0, false, false,
	  AIGW_HTTP_BODY_NONE, 0, NULL, 1 },
	/* other methods and targets */
	{ "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	  AIGW_HTTP_OPTIONS, "OPTIONS", "*", NULL, 1, true, false,
	  AIGW_HTTP_BODY_NONE, 0, "a", 1 },
	{ "PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n",
	  AIGW_HTTP_OTHER, "PURGE", "/cache", NULL, 1, true, false,
	  AIGW_HTTP_BODY_NONE, 0, "a", 1 },
	{ "get / HTTP/1.1\r\nHost: a\r\n\r\n",
	  AIGW_HTTP_OTHER, "get", "/", NULL, 1, true, false,
	  AIGW_HTTP_BODY_NONE, 0, "a", 1 },
	{ "DELETE /k/1 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
	  AIGW_HTTP_DELETE, "DELETE", "/k/1", NULL, 1, true, false,
	  AIGW_HTTP_BODY_NONE, 0, "[::1]:8080", 1 },
	{ "HEAD /%7euser/a%20b HTTP/1.1\r\nHost:\r\n\r\n",
	  AIGW_HTTP_HEAD, "HEAD", "/%7euser/a%20b", NULL, 1, true, false,
	  AIGW_HTTP_BODY_NONE, 0, "", 1 },
	/* blank lines before the request line are skipped */
	{ "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	  AIGW_HTTP_GET, "GET", "/", NULL, 1, true, false,
	  AIGW_HTTP_BODY_NONE, 0, "a", 1 },
};

static void test_valid_requests(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]);
	     i++) {
		const struct valid_case *c = &valid_cases[i];
		struct aigw_http_request req;
		struct aigw_http_error err = { 0, false, NULL };
		size_t consumed = 99, len = strlen(c->raw);
		int rc = parse_whole(&req, c->raw, len, NULL, &consumed, &err);

		if (rc)
			fail_msg("case %zu: rc %d status %d (%s)", i, rc,
				 err.status, err.reason);
		assert_int_equal(consumed, len);
		assert_int_equal(req.head_len, len);
		assert_int_equal(req.method, c->method);
		assert_true(slice_is(req.method_name, c->method_name));
		assert_true(slice_is(req.path, c->path));
		if (c->query) {
			assert_non_null(req.query.ptr);
			assert_true(slice_is(req.query, c->query));
		} else {
			assert_null(req.query.ptr);
			assert_int_equal(req.query.len, 0);
		}
		assert_int_equal(req.version_minor, c->minor);
		if (req.keep_alive != c->keep_alive)
			fail_msg("case %zu: keep_alive %d", i, req.keep_alive);
		assert_int_equal(req.expect_continue, c->expect_continue);
		assert_int_equal(req.framing, c->framing);
		assert_int_equal(req.content_length, c->content_length);
		if (c->host)
			assert_true(slice_is(req.host, c->host));
		else
			assert_null(req.host.ptr);
		assert_int_equal(req.header_count, c->header_count);
	}
}

static void test_fields(void **state)
{
	static const char raw[] =
		"GET /x HTTP/1.1\r\n"
		"Host: a\r\n"
		"X-Spaced: \t spaced  value \t\r\n"
		"X-Empty:\r\n"
		"X-Utf8: caf\xc3\xa9\r\n"
		"x-multi: 1\r\n"
		"X-MULTI: 2\r\n"
		"Connection: Upgrade, keep-alive\r\n"
		"Upgrade: websocket\r\n"
		"\r\n";
	struct aigw_http_request req;
	const struct aigw_http_slice *v;
	size_t consumed;
	int i;

	(void)state;
	assert_int_equal(parse_whole(&req, raw, strlen(raw), NULL, &consumed,
				     NULL), 0);
	assert_int_equal(req.header_count, 8);
	assert_true(slice_is(req.headers[0].name, "Host"));
	v = aigw_http_request_header(&req, "x-spaced");
	assert_non_null(v);
	assert_true(slice_is(*v, "spaced  value"));
	v = aigw_http_request_header(&req, "X-EMPTY");
	assert_non_null(v);
	assert_int_equal(v->len, 0);
	v = aigw_http_request_header(&req, "x-utf8");
	assert_true(slice_is(*v, "caf\xc3\xa9"));
	assert_null(aigw_http_request_header(&req, "x-missing"));
	assert_null(aigw_http_request_header(&req, "x-multi-"));

	i = aigw_http_header_find(req.headers, req.header_count, "X-Multi", 0);
	assert_int_equal(i, 4);
	assert_true(slice_is(req.headers[i].value, "1"));
	i = aigw_http_header_find(req.headers, req.header_count, "X-Multi",
				  (size_t)i + 1);
	assert_int_equal(i, 5);
	assert_true(slice_is(req.headers[i].value, "2"));
	assert_int_equal(aigw_http_header_find(req.headers, req.header_count,
					       "X-Multi", (size_t)i + 1), -1);

	assert_true(aigw_http_has_token(req.headers, req.header_count,
					"connection", "upgrade"));
	assert_true(aigw_http_has_token(req.headers, req.header_count,
					"Connection", "KEEP-ALIVE"));
	assert_false(aigw_http_has_token(req.headers, req.header_count,
					 "connection", "close"));
	assert_false(aigw_http_has_token(req.headers, req.header_count,
					 "connection", "upgrad"));
	assert_true(req.keep_alive);
}

static void test_list_next(void **state)
{
	static const char value[] = " , a ,b\t,, c d ,";
	struct aigw_http_slice v = { value, strlen(value) }, item;
	const char *want[] = { "a", "b", "c d" };
	size_t pos = 0, n = 0;

	(void)state;
	while (aigw_http_list_next(v, &pos, &item)) {
		assert_true(n < 3);
		assert_true(slice_is(item, want[n]));
		n++;
	}
	assert_int_equal(n, 3);
	assert_int_equal(pos, v.len);
	v.len = 0;
	pos = 0;
	assert_false(aigw_http_list_next(v, &pos, &item));

	v.ptr = "abc";
	v.len = 3;
	assert_true(aigw_http_slice_eq(v, "ABC"));
	assert_false(aigw_http_slice_eq(v, "ab"));
	assert_false(aigw_http_slice_eq(v, "abcd"));
}

/* ------------------------------------------------------------ refused */

struct refusal {
	const char *raw;
	size_t len;
	int status;
	bool close;
};

/* Requests are short: Host is added where the case is not about it. */
static const struct refusal refusals[] = {
	/* Content-Length and Transfer-Encoding */
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Content-Length: 6\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Content-Length: 5\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n"),
	  400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,6\r\n\r\n"),
	  400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n"),
	  400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n"),
	  400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n"),
	  400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n"),
	  400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n"),
	  400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"),
	  400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 18446744073709551616\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 99999999999999999999999\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked, chunked\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
	  400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked, gzip\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: identity\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: xchunked\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked;q=1\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: \"chunked\"\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked,\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: , chunked\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n"),
	  400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chun ked\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: gzip, chunked\r\n\r\n"), 501, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), 501, true },
	/* whitespace around the colon, obs-fold, empty names */
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding : chunked\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding\t: chunked\r\n\r\n"), 400, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length : 5\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  continued\r\n\r\n"),
	  400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\tcontinued\r\n\r\n"),
	  400, true },
	{ S("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX-A 1\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n"), 400, true },
	/* bare LF and bare CR */
	{ S("GET / HTTP/1.1\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\nX-A: 1\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\n\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\n\n"), 400, true },
	{ S("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\rX-A: 1\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\n\rX\r\n\r\n"), 400, true },
	/* names and methods */
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX(A): 1\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX\"A: 1\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: 1\r\n\r\n"), 400, true },
	{ S("G(ET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GE\x01T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	/* control characters in values and target */
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x01z\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x7fz\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x1bz\r\n\r\n"), 400, true },
	{ S("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	/* NUL anywhere in the head */
	{ S("G\0T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\0\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\0\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n"), 400, true },
	{ S("\0GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	/* the request line */
	{ S("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400, true },
	{ S(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / \r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET /\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\n\r\n"), 400, true },
	{ S("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / http/1.1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/11\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505, true },
	{ S("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505, true },
	{ S("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505, true },
	/* Host */
	{ S("GET / HTTP/1.1\r\nX-A: 1\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"), 400, true },
	{ S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400, true },
	/* limits and expectations */
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 8388609\r\n\r\n"),
	  413, true },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n"),
	  417, false },
	{ S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Expect: 100-continue, foo\r\n\r\n"), 417, false },
};

static void test_refusals(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const struct refusal *c = &refusals[i];
		struct aigw_http_request req;
		struct aigw_http_error err = { 0, false, NULL };
		size_t consumed = 99;
		int rc = parse_whole(&req, c->raw, c->len, NULL, &consumed,
				     &err);

		if (rc != AIGW_EINVAL || err.status != c->status ||
		    err.close != c->close)
			fail_msg("case %zu: rc %d status %d close %d (%s)", i,
				 rc, err.status, err.close,
				 err.reason ? err.reason : "-");
		assert_non_null(err.reason);
		assert_int_equal(consumed, c->status == 417 ? c->len : 0);
	}
}

/* ------------------------------------------------------------ limits */

/* A GET whose head is exactly len bytes: the padding goes in one field. */
static char *head_of_size(size_t len)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
	char *s = aigw_malloc(len + 1);
	size_t pad = len - (sizeof(pre) - 1) - 4;

	memcpy(s, pre, sizeof(pre) - 1);
	memset(s + sizeof(pre) - 1, 'x', pad);
	memcpy(s + len - 4, "\r\n\r\n", 4);
	s[len] = '\0';
	return s;
}

static char *head_with_fields(size_t fields)
{
	struct aigw_buf b = AIGW_BUF_INIT;

	aigw_buf_puts(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (size_t i = 1; i < fields; i++)
		aigw_buf_printf(&b, "X-F%zu: %zu\r\n", i, i);
	aigw_buf_puts(&b, "\r\n");
	return aigw_buf_detach(&b);
}

static void test_limits(void **state)
{
	struct aigw_http_request req;
	struct aigw_http_error err;
	struct aigw_http_limits limits;
	size_t consumed;
	char *s;

	(void)state;
	aigw_http_limits_init(&limits);
	assert_int_equal(limits.max_header_bytes, 16384);
	assert_int_equal(limits.max_headers, 100);
	assert_int_equal(limits.max_body_bytes, 8388608);

	s = head_of_size(16384);
	assert_int_equal(parse_whole(&req, s, 16384, NULL, &consumed, &err), 0);
	assert_int_equal(consumed, 16384);
	free(s);

	s = head_of_size(16385);
	assert_int_equal(parse_whole(&req, s, 16385, NULL, &consumed, &err),
			 AIGW_EINVAL);
	assert_int_equal(err.status, 431);
	assert_true(err.close);
	/* Known as soon as 16 KiB arrived without the end of the head. */
	assert_int_equal(parse_whole(&req, s, 16384, NULL, &consumed, &err),
			 AIGW_EINVAL);
	assert_int_equal(err.status, 431);
	assert_int_equal(parse_whole(&req, s, 16383, NULL, &consumed, &err),
			 AIGW_AGAIN);
	free(s);

	/* One endless line: the same 431, without waiting for a newline. */
	s = aigw_malloc(20000);
	memset(s, 'a', 20000);
	memcpy(s, "GET /", 5);
	assert_int_equal(parse_whole(&req, s, 20000, NULL, &consumed, &err),
			 AIGW_EINVAL);
	assert_int_equal(err.status, 431);
	free(s);

	s = head_with_fields(100);
	assert_int_equal(parse_whole(&req, s, strlen(s), NULL, &consumed,
				     &err), 0);
	assert_int_equal(req.header_count, 100);
	assert_true(slice_is(req.headers[99].value, "99"));
	free(s);

	s = head_with_fields(101);
	assert_int_equal(parse_whole(&req, s, strlen(s), NULL, &consumed,
				     &err), AIGW_EINVAL);
	assert_int_equal(err.status, 431);
	assert_true(err.close);
	/* A lower limit from the caller. */
	limits.max_headers = 10;
	assert_int_equal(parse_whole(&req, s, strlen(s), &limits, &consumed,
				     &err), AIGW_EINVAL);
	assert_int_equal(err.status, 431);
	free(s);

	aigw_http_limits_init(&limits);
	limits.max_body_bytes = 100;
	s = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n";
	assert_int_equal(parse_whole(&req, s, strlen(s), &limits, &consumed,
				     &err), 0);
	s = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n";
	assert_int_equal(parse_whole(&req, s, strlen(s), &limits, &consumed,
				     &err), AIGW_EINVAL);
	assert_int_equal(err.status, 413);
	assert_true(err.close);

	limits.max_header_bytes = 30;
	s = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"; /* 27 bytes */
	assert_int_equal(parse_whole(&req, s, strlen(s), &limits, &consumed,
				     &err), 0);
	/* Blank lines before the request line count towards the limit. */
	s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	assert_int_equal(parse_whole(&req, s, strlen(s), &limits, &consumed,
				     &err), AIGW_EINVAL);
	assert_int_equal(err.status, 431);
}

static void test_incomplete(void **state)
{
	static const char raw[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	struct aigw_http_request req;
	size_t consumed = 99;

	(void)state;
	for (size_t n = 0; n < sizeof(raw) - 1; n++) {
		aigw_http_request_init(&req);
		assert_int_equal(aigw_http_parse_request(&req, raw, n, NULL,
							 &consumed, NULL),
				 AIGW_AGAIN);
		assert_int_equal(consumed, 0);
	}
	/* A finished head parses the same when asked again. */
	aigw_http_request_init(&req);
	assert_int_equal(aigw_http_parse_request(&req, raw, sizeof(raw) - 1,
						 NULL, &consumed, NULL), 0);
	assert_int_equal(aigw_http_parse_request(&req, raw, sizeof(raw) - 1,
						 NULL, &consumed, NULL), 0);
	assert_int_equal(consumed, sizeof(raw) - 1);
}

/* ------------------------------------------------------------ splits */

/* Feeds a stream of requests (heads and bodies) to the parsers as if it
 * arrived in pieces ending at cuts[0], cuts[1], ..., and writes down
 * everything the parsers said. Each call sees a fresh heap copy of exactly
 * the bytes not consumed yet, so that a read past the end shows under ASan
 * and state that points into an old buffer shows as a difference. */
static void run_requests(const char *raw, size_t len, const size_t *cuts,
			 size_t ncuts, struct aigw_buf *out)
{
	struct aigw_http_limits limits = AIGW_HTTP_LIMITS_INIT;
	struct aigw_http_request req;
	struct aigw_http_body body;
	struct aigw_http_header trailers[8];
	struct aigw_http_error err;
	bool in_body = false;
	size_t base = 0, cut = 0, avail = cuts[0];

	limits.max_body_bytes = 1000;
	aigw_http_request_init(&req);
	for (;;) {
		size_t n = avail - base, consumed;
		char *copy = aigw_malloc(n);
		int rc;

		memcpy(copy, raw + base, n);
		if (!in_body) {
			rc = aigw_http_parse_request(&req, copy, n, &limits,
						     &consumed, &err);
			if (rc == 0) {
				aigw_buf_printf(out, "[%.*s %.*s q=%.*s 1.%d "
						"ka=%d ex=%d fr=%d cl=%llu "
						"head=%zu",
						(int)req.method_name.len,
						req.method_name.ptr,
						(int)req.path.len,
						req.path.ptr,
						(int)req.query.len,
						req.query.ptr ? req.query.ptr
							      : "",
						req.version_minor,
						req.keep_alive,
						req.expect_continue,
						req.framing,
						(unsigned long long)
							req.content_length,
						req.head_len);
				for (size_t i = 0; i < req.header_count; i++)
					aigw_buf_printf(out, " %.*s=%.*s",
						(int)req.headers[i].name.len,
						req.headers[i].name.ptr,
						(int)req.headers[i].value.len,
						req.headers[i].value.ptr);
				aigw_buf_puts(out, "] body=");
				base += consumed;
				in_body = true;
				aigw_http_body_init(&body, req.framing,
						    req.content_length,
						    &limits);
				body.trailers = trailers;
				body.trailers_cap = 8;
				free(copy);
				continue;
			}
		} else {
			struct aigw_http_slice piece;

			rc = aigw_http_body_decode(&body, copy, n, &consumed,
						   &piece, &err);
			aigw_buf_append(out, piece.ptr, piece.len);
			base += consumed;
			if (rc == 0) {
				for (size_t i = 0; i < body.trailer_count; i++)
					aigw_buf_printf(out, " trailer %.*s=%.*s",
						(int)trailers[i].name.len,
						trailers[i].name.ptr,
						(int)trailers[i].value.len,
						trailers[i].value.ptr);
				aigw_buf_puts(out, " end\n");
				free(copy);
				if (base == len)
					return;
				in_body = false;
				aigw_http_request_init(&req);
				continue;
			}
			if (rc == AIGW_AGAIN && consumed && base < avail) {
				free(copy);
				continue;
			}
		}
		free(copy);
		if (rc != AIGW_AGAIN) {
			aigw_buf_printf(out, " error %d %d %s\n", err.status,
					err.close, err.reason);
			return;
		}
		if (avail == len) {
			aigw_buf_puts(out, " incomplete\n");
			return;
		}
		avail = cuts[++cut];
		assert_true(cut < ncuts);
	}
}

static void run_cut(const char *raw, size_t len, const size_t *cuts,
		    size_t ncuts, const struct aigw_buf *want, size_t at)
{
	struct aigw_buf got = AIGW_BUF_INIT;

	run_requests(raw, len, cuts, ncuts, &got);
	if (got.len != want->len || memcmp(got.data, want->data, got.len))
		fail_msg("split at %zu differs:\n%s\nwhole:\n%s", at, got.data,
			 want->data);
	aigw_buf_release(&got);
}

/* Whole, split in two at every byte, and one byte at a time. */
static void check_splits(const char *raw, size_t len, const char *expect)
{
	struct aigw_buf whole = AIGW_BUF_INIT;
	size_t *cuts = aigw_malloc(len * sizeof(*cuts));
	size_t two[2];

	run_requests(raw, len, &len, 1, &whole);
	if (expect && strcmp(whole.data, expect))
		fail_msg("got:\n%s\nwant:\n%s", whole.data, expect);
	for (size_t at = 1; at < len; at++) {
		two[0] = at;
		two[1] = len;
		run_cut(raw, len, two, 2, &whole, at);
	}
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	run_cut(raw, len, cuts, len, &whole, 0);
	free(cuts);
	aigw_buf_release(&whole);
}

static void test_splits(void **state)
{
	(void)state;
	check_splits(S("GET /v1/models?x=1 HTTP/1.1\r\nHost: a\r\n"
		       "User-Agent: t\r\n\r\n"),
		     "[GET /v1/models q=x=1 1.1 ka=1 ex=0 fr=0 cl=0 head=55 "
		     "Host=a User-Agent=t] body= end\n");
	check_splits(S("\r\nPOST /v1/chat HTTP/1.1\r\nHost: a\r\n"
		       "Content-Length: 11\r\n\r\nhello world"),
		     "[POST /v1/chat q= 1.1 ka=1 ex=0 fr=1 cl=11 head=57 "
		     "Host=a Content-Length=11] body=hello world end\n");
	check_splits(S("POST /c HTTP/1.1\r\nHost: a\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n"
		       "5;a=b;q=\"x;\\\"y\"\r\nhello\r\n"
		       "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
		       "0\r\nX-Sum: 42\r\nX-Other:  z \r\n\r\n"),
		     "[POST /c q= 1.1 ka=1 ex=0 fr=2 cl=0 head=57 Host=a "
		     "Transfer-Encoding=chunked] "
		     "body=helloabcdefghijklmnopqrstuvwxyz "
		     "trailer X-Sum=42 trailer X-Other=z end\n");
	/* Pipelined: a GET, a POST with a body, a chunked POST, a close. */
	check_splits(S("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
		       "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		       "\r\nhello"
		       "POST /3 HTTP/1.1\r\nHost: a\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
		       "GET /4 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
		     "[GET /1 q= 1.1 ka=1 ex=0 fr=0 cl=0 head=28 Host=a] "
		     "body= end\n"
		     "[POST /2 q= 1.1 ka=1 ex=0 fr=1 cl=5 head=48 Host=a "
		     "Content-Length=5] body=hello end\n"
		     "[POST /3 q= 1.1 ka=1 ex=0 fr=2 cl=0 head=57 Host=a "
		     "Transfer-Encoding=chunked] body=abc end\n"
		     "[GET /4 q= 1.1 ka=0 ex=0 fr=0 cl=0 head=47 Host=a "
		     "Connection=close] body= end\n");
	/* Refusals found at the same place however the bytes came. */
	check_splits(S("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
		       "GET /2 HTTP/1.1\r\nHost: a\r\nX: 1\nY: 2\r\n\r\n"),
		     "[GET /1 q= 1.1 ka=1 ex=0 fr=0 cl=0 head=28 Host=a] "
		     "body= end\n error 400 1 bare lf\n");
	check_splits(S("POST / HTTP/1.1\r\nHost: a\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n"
		       "5\r\nhelloX\r\n0\r\n\r\n"),
		     "[POST / q= 1.1 ka=1 ex=0 fr=2 cl=0 head=56 Host=a "
		     "Transfer-Encoding=chunked] body=hello "
		     "error 400 1 missing crlf after chunk data\n");
	check_splits(S("POST / HTTP/1.1\r\nHost: a\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n"
		       "5;x=\"a\nb\"\r\nhello\r\n0\r\n\r\n"),
		     "[POST / q= 1.1 ka=1 ex=0 fr=2 cl=0 head=56 Host=a "
		     "Transfer-Encoding=chunked] body= error 400 1 bare lf\n");
	check_splits(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
		     " error 400 1 content-length with transfer-encoding\n");
	check_splits(S("POST / HTTP/1.1\r\nHost: a\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n"
		       "3e8\r\n"), NULL);
	check_splits(S("POST / HTTP/1.1\r\nHost: a\r\n"
		       "Transfer-Encoding: chunked\r\n\r\n"
		       "3e9\r\n"),
		     "[POST / q= 1.1 ka=1 ex=0 fr=2 cl=0 head=56 Host=a "
		     "Transfer-Encoding=chunked] body= "
		     "error 413 1 body too large\n");
	check_splits(S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"
		       "hel"),
		     "[POST / q= 1.1 ka=1 ex=0 fr=1 cl=5 head=47 Host=a "
		     "Content-Length=5] body=hel incomplete\n");
}

/* ------------------------------------------------------------ chunks */

struct chunk_case {
	const char *raw;
	size_t len;
	const char *body;  /* decoded body when accepted */
	size_t body_len;
	size_t consumed;   /* when accepted: where the body ended */
	int status;        /* when refused */
};

#define OK_BODY(lit, body, used) { S(lit), S(body), used, 0 }
#define REFUSED(lit, status) { S(lit), NULL, 0, 0, status }

static const struct chunk_case chunk_cases[] = {
	OK_BODY("5\r\nhello\r\n0\r\n\r\n", "hello", 15),
	OK_BODY("0\r\n\r\n", "", 5),
	OK_BODY("0\r\n\r\nGET / HTTP/1.1\r\n", "", 5),
	OK_BODY("A\r\n0123456789\r\n0\r\n\r\n", "0123456789", 20),
	OK_BODY("a\r\n0123456789\r\n0\r\n\r\n", "0123456789", 20),
	OK_BODY("000005\r\nhello\r\n0000\r\n\r\n", "hello", 23),
	OK_BODY("5;ext\r\nhello\r\n0\r\n\r\n", "hello", 19),
	OK_BODY("5;a=1;b=\"q;\\\"x\\\\\"\r\nhello\r\n0;end=1\r\n\r\n",
		"hello", 37),
	OK_BODY("5 ; a = b \t;c\r\nhello\r\n0\r\n\r\n", "hello", 27),
	OK_BODY("5;a;b=\"\"\r\nhello\r\n0\r\n\r\n", "hello", 22),
	OK_BODY("2\r\nab\r\n2\r\ncd\r\n0\r\nA: 1\r\nB:2\r\n\r\n", "abcd",
		30),
	OK_BODY("2\r\n\r\n\r\n0\r\n\r\n", "\r\n", 12),
	OK_BODY("3\r\na\0b\r\n0\r\n\r\n", "a\0b", 13),
	REFUSED("5\r\nhelloX\r\n0\r\n\r\n", 400),
	REFUSED("5\r\nhello\n0\r\n\r\n", 400),
	REFUSED("5\r\nhello\rX0\r\n\r\n", 400),
	REFUSED("5\r\nhello0\r\n\r\n", 400),
	REFUSED("ffffffffffffffffff\r\n", 413),
	REFUSED("10000000000000000\r\n", 413),
	REFUSED("0x5\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("+5\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("-5\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED(" 5\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5 \r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5\n", 400),
	REFUSED("5\r\r\n", 400),
	REFUSED("\r\n", 400),
	REFUSED("g\r\n", 400),
	REFUSED("5;\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5;a=\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5;a=\"b\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5;a=b c\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5;a=b \r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5;a \r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5;a=\"b\" \r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5;a=b\"\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5;a=,\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5;a\0\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("5,6\r\nhello\r\n0\r\n\r\n", 400),
	REFUSED("0\r\n\n", 400),
	REFUSED("0\r\nA: 1\n\r\n", 400),
	REFUSED("0\r\nA : 1\r\n\r\n", 400),
	REFUSED("0\r\n A: 1\r\n\r\n", 400),
	REFUSED("0\r\nA: \x01\r\n\r\n", 400),
	REFUSED("0\r\n: 1\r\n\r\n", 400),
	REFUSED("0\r\nX\r\n\r\n", 400),
};

/* Decodes a chunked body arriving step bytes at a time. */
static int decode_chunked(const char *raw, size_t len, size_t step,
			  const struct aigw_http_limits *limits,
			  struct aigw_buf *out, size_t *used,
			  struct aigw_http_error *err)
{
	struct aigw_http_body body;
	size_t base = 0, avail = step < len ? step : len;
	int rc;

	aigw_http_body_init(&body, AIGW_HTTP_BODY_CHUNKED, 0, limits);
	for (;;) {
		size_t n = avail - base, consumed;
		char *copy = aigw_malloc(n);

		memcpy(copy, raw + base, n);
		rc = aigw_http_body_append(&body, copy, n, &consumed, out, err);
		free(copy);
		base += consumed;
		if (rc != AIGW_AGAIN || avail == len)
			break;
		avail = avail + step < len ? avail + step : len;
	}
	*used = base;
	if (rc == 0)
		assert_true(aigw_http_body_done(&body));
	return rc;
}

static void test_chunks(void **state)
{
	struct aigw_http_limits limits = AIGW_HTTP_LIMITS_INIT;

	(void)state;
	for (size_t i = 0; i < sizeof(chunk_cases) / sizeof(chunk_cases[0]);
	     i++) {
		const struct chunk_case *c = &chunk_cases[i];

		for (size_t step = 1; step <= c->len; step++) {
			struct aigw_buf out = AIGW_BUF_INIT;
			struct aigw_http_error err = { 0, false, NULL };
			size_t used;
			int rc = decode_chunked(c->raw, c->len, step, &limits,
						&out, &used, &err);

			if (c->body) {
				if (rc)
					fail_msg("case %zu step %zu: rc %d %s",
						 i, step, rc, err.reason);
				assert_int_equal(used, c->consumed);
				assert_int_equal(out.len, c->body_len);
				assert_memory_equal(out.data, c->body, out.len);
			} else if (rc != AIGW_EINVAL ||
				   err.status != c->status || !err.close) {
				fail_msg("case %zu step %zu: rc %d status %d",
					 i, step, rc, err.status);
			}
			aigw_buf_release(&out);
		}
	}
}

static void test_chunk_limits(void **state)
{
	struct aigw_http_limits limits = AIGW_HTTP_LIMITS_INIT;
	struct aigw_http_error err;
	struct aigw_buf out = AIGW_BUF_INIT, raw = AIGW_BUF_INIT;
	size_t used;

	(void)state;
	/* The limit is on the sum of the chunks. */
	limits.max_body_bytes = 10;
	assert_int_equal(decode_chunked(S("5\r\nabcde\r\n5\r\nfghij\r\n"
					  "0\r\n\r\n"), 64, &limits, &out,
					&used, &err), 0);
	aigw_buf_reset(&out);
	assert_int_equal(decode_chunked(S("6\r\nabcdef\r\n5\r\nghijk\r\n"
					  "0\r\n\r\n"), 64, &limits, &out,
					&used, &err), AIGW_EINVAL);
	assert_int_equal(err.status, 413);
	assert_true(err.close);
	assert_int_equal(out.len, 6); /* the first chunk went through */

	/* A chunk line is bounded, extensions included. */
	aigw_http_limits_init(&limits);
	aigw_buf_reset(&out);
	aigw_buf_puts(&raw, "5;x=");
	while (raw.len < AIGW_HTTP_CHUNK_LINE_MAX - 2)
		aigw_buf_putc(&raw, 'y');
	aigw_buf_puts(&raw, "\r\nhello\r\n0\r\n\r\n");
	assert_int_equal(decode_chunked(raw.data, raw.len, raw.len, &limits,
					&out, &used, &err), 0);
	aigw_buf_reset(&raw);
	aigw_buf_reset(&out);
	aigw_buf_puts(&raw, "5;x=");
	while (raw.len < AIGW_HTTP_CHUNK_LINE_MAX - 1)
		aigw_buf_putc(&raw, 'y');
	aigw_buf_puts(&raw, "\r\nhello\r\n0\r\n\r\n");
	assert_int_equal(decode_chunked(raw.data, raw.len, raw.len, &limits,
					&out, &used, &err), AIGW_EINVAL);
	assert_int_equal(err.status, 400);
	/* ... and refused without waiting for the end of it. */
	assert_int_equal(decode_chunked(raw.data, AIGW_HTTP_CHUNK_LINE_MAX,
					AIGW_HTTP_CHUNK_LINE_MAX, &limits,
					&out, &used, &err), AIGW_EINVAL);

	/* Trailers: bounded like a head, in bytes and in fields. */
	limits.max_header_bytes = 40;
	limits.max_headers = 2;
	aigw_buf_reset(&out);
	assert_int_equal(decode_chunked(S("0\r\nA: 1\r\nB: 2\r\n\r\n"), 64,
					&limits, &out, &used, &err), 0);
	assert_int_equal(decode_chunked(S("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
					64, &limits, &out, &used, &err),
			 AIGW_EINVAL);
	assert_int_equal(err.status, 431);
	assert_int_equal(decode_chunked(S("0\r\nA: 12345678901234567890"
					  "12345678901234567890\r\n\r\n"),
					64, &limits, &out, &used, &err),
			 AIGW_EINVAL);
	assert_int_equal(err.status, 431);
	aigw_buf_release(&out);
	aigw_buf_release(&raw);
}

/* The framings other than chunked, and the end of input. */
static void test_bodies(void **state)
{
	struct aigw_http_limits limits = AIGW_HTTP_LIMITS_INIT;
	struct aigw_http_body body;
	struct aigw_http_slice piece;
	struct aigw_http_error err;
	size_t consumed;

	(void)state;
	aigw_http_body_init(&body, AIGW_HTTP_BODY_NONE, 0, NULL);
	assert_int_equal(aigw_http_body_decode(&body, "GET", 3, &consumed,
					       &piece, &err), 0);
	assert_int_equal(consumed, 0);
	assert_int_equal(piece.len, 0);

	aigw_http_body_init(&body, AIGW_HTTP_BODY_LENGTH, 0, NULL);
	assert_true(aigw_http_body_done(&body));

	aigw_http_body_init(&body, AIGW_HTTP_BODY_LENGTH, 5, NULL);
	assert_int_equal(aigw_http_body_decode(&body, "hel", 3, &consumed,
					       &piece, &err), AIGW_AGAIN);
	assert_int_equal(consumed, 3);
	assert_true(piece.len == 3 && !memcmp(piece.ptr, "hel", 3));
	assert_int_equal(aigw_http_body_eof(&body, &err), AIGW_EINVAL);
	assert_int_equal(aigw_http_body_decode(&body, "loGET", 5, &consumed,
					       &piece, &err), 0);
	assert_int_equal(consumed, 2);
	assert_true(piece.len == 2 && !memcmp(piece.ptr, "lo", 2));
	assert_int_equal(body.total, 5);
	assert_int_equal(aigw_http_body_eof(&body, &err), 0);

	limits.max_body_bytes = 4;
	aigw_http_body_init(&body, AIGW_HTTP_BODY_LENGTH, 5, &limits);
	assert_int_equal(aigw_http_body_decode(&body, "hello", 5, &consumed,
					       &piece, &err), AIGW_EINVAL);
	assert_int_equal(err.status, 413);

	aigw_http_body_init(&body, AIGW_HTTP_BODY_CLOSE, 0, &limits);
	assert_int_equal(aigw_http_body_decode(&body, "abc", 3, &consumed,
					       &piece, &err), AIGW_AGAIN);
	assert_int_equal(piece.len, 3);
	assert_false(aigw_http_body_done(&body));
	assert_int_equal(aigw_http_body_decode(&body, "de", 2, &consumed,
					       &piece, &err), AIGW_AGAIN);
	assert_int_equal(consumed, 1);
	assert_true(piece.len == 1 && *piece.ptr == 'd');
	assert_int_equal(aigw_http_body_decode(&body, "e", 1, &consumed,
					       &piece, &err), AIGW_EINVAL);
	assert_int_equal(err.status, 413);
	aigw_http_body_init(&body, AIGW_HTTP_BODY_CLOSE, 0, &limits);
	assert_int_equal(aigw_http_body_eof(&body, NULL), 0);
	assert_true(aigw_http_body_done(&body));

	aigw_http_body_init(&body, AIGW_HTTP_BODY_CHUNKED, 0, NULL);
	assert_int_equal(aigw_http_body_decode(&body, "5\r\nhe", 5, &consumed,
					       &piece, &err), AIGW_AGAIN);
	assert_int_equal(aigw_http_body_eof(&body, &err), AIGW_EINVAL);
	assert_int_equal(err.status, 400);
}

/* ------------------------------------------------------------ responses */

struct response_case {
	const char *raw;
	int request_method;
	int status;
	const char *reason;
	int framing;
	bool keep_alive;
	const char *body; /* after the head, decoded; at EOF for CLOSE */
	size_t consumed;  /* head + body */
};

static const struct response_case response_cases[] = {
	{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1",
	  AIGW_HTTP_GET, 200, "OK", AIGW_HTTP_BODY_LENGTH, true, "hello", 43 },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "5\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
	  AIGW_HTTP_POST, 200, "OK", AIGW_HTTP_BODY_CHUNKED, true,
	  "hello world", 81 },
	{ "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it",
	  AIGW_HTTP_GET, 200, "OK", AIGW_HTTP_BODY_CLOSE, false, "all of it",
	  54 },
	{ "HTTP/1.1 200 OK\r\n\r\nuntil close",
	  AIGW_HTTP_GET, 200, "OK", AIGW_HTTP_BODY_CLOSE, false, "until close",
	  30 },
	{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz",
	  AIGW_HTTP_GET, 200, "OK", AIGW_HTTP_BODY_CLOSE, false, "zz", 46 },
	{ "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
	  "Content-Length: 2\r\n\r\nok",
	  AIGW_HTTP_GET, 200, "OK", AIGW_HTTP_BODY_LENGTH, true, "ok", 64 },
	{ "HTTP/1.1 404 Not Found\r\nConnection: close\r\n"
	  "Content-Length: 0\r\n\r\n",
	  AIGW_HTTP_GET, 404, "Not Found", AIGW_HTTP_BODY_LENGTH, false, "",
	  64 },
	{ "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
	  AIGW_HTTP_HEAD, 200, "OK", AIGW_HTTP_BODY_NONE, true, "", 40 },
	{ "HTTP/1.1 204 No Content\r\n\r\n",
	  AIGW_HTTP_DELETE, 204, "No Content", AIGW_HTTP_BODY_NONE, true, "",
	  27 },
	{ "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
	  AIGW_HTTP_GET, 304, "Not Modified", AIGW_HTTP_BODY_NONE, true, "",
	  48 },
	{ "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n",
	  AIGW_HTTP_POST, 100, "Continue", AIGW_HTTP_BODY_NONE, true, "", 25 },
	{ "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
	  AIGW_HTTP_GET, 200, "", AIGW_HTTP_BODY_LENGTH, true, "", 35 },
	{ "HTTP/1.1 599 Whatever It Is \r\nContent-Length: 0\r\n\r\n",
	  AIGW_HTTP_GET, 599, "Whatever It Is ", AIGW_HTTP_BODY_LENGTH, true,
	  "", 51 },
};

static const char *const bad_responses[] = {
	("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	 "Transfer-Encoding: chunked\r\n\r\n"),
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
	"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-A: 1\r\n b\r\n\r\n",
	"HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n",
	"HTTP/1.1 20 OK\r\n\r\n",
	"HTTP/1.1 2000 OK\r\n\r\n",
	"HTTP/1.1 099 OK\r\n\r\n",
	"HTTP/1.1 600 OK\r\n\r\n",
	"HTTP/1.1  200 OK\r\n\r\n",
	"HTTP/1.1 200 O\x01K\r\n\r\n",
	"HTTP/2 200\r\n\r\n",
	"HTTP/2.0 200 OK\r\n\r\n",
	"http/1.1 200 OK\r\n\r\n",
	"\r\nHTTP/1.1 200 OK\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
};

static void test_responses(void **state)
{
	(void)state;
	for (size_t i = 0;
	     i < sizeof(response_cases) / sizeof(response_cases[0]); i++) {
		const struct response_case *c = &response_cases[i];
		size_t len = strlen(c->raw);

		/* Whole, and with the head split at every byte. */
		for (size_t at = 1; at <= len; at++) {
			struct aigw_http_response res;
			struct aigw_http_body body;
			struct aigw_http_error err = { 0, false, NULL };
			struct aigw_buf out = AIGW_BUF_INIT;
			size_t head, used;
			int rc;

			aigw_http_response_init(&res, c->request_method);
			rc = aigw_http_parse_response(&res, c->raw, at, NULL,
						      &head, &err);
			if (rc == AIGW_AGAIN)
				rc = aigw_http_parse_response(&res, c->raw,
							      len, NULL, &head,
							      &err);
			if (rc)
				fail_msg("case %zu: rc %d %s", i, rc,
					 err.reason);
			assert_int_equal(res.status, c->status);
			assert_true(slice_is(res.reason, c->reason));
			assert_int_equal(res.framing, c->framing);
			assert_int_equal(res.keep_alive, c->keep_alive);
			assert_int_equal(head, res.head_len);

			aigw_http_body_init(&body, res.framing,
					    res.content_length, NULL);
			rc = aigw_http_body_append(&body, c->raw + head,
						   len - head, &used, &out,
						   &err);
			if (res.framing == AIGW_HTTP_BODY_CLOSE) {
				assert_int_equal(rc, AIGW_AGAIN);
				rc = aigw_http_body_eof(&body, &err);
			}
			assert_int_equal(rc, 0);
			assert_string_equal(out.data, c->body);
			assert_int_equal(head + used, c->consumed);
			aigw_buf_release(&out);
		}
	}

	for (size_t i = 0; i < sizeof(bad_responses) / sizeof(bad_responses[0]);
	     i++) {
		struct aigw_http_response res;
		struct aigw_http_error err = { 0, false, NULL };
		size_t head = 99;
		int rc;

		aigw_http_response_init(&res, AIGW_HTTP_GET);
		rc = aigw_http_parse_response(&res, bad_responses[i],
					      strlen(bad_responses[i]), NULL,
					      &head, &err);
		if (rc != AIGW_EINVAL || err.status != 502 || !err.close)
			fail_msg("bad response %zu: rc %d status %d", i, rc,
				 err.status);
		assert_int_equal(head, 0);
	}
}

static void test_response_lookup(void **state)
{
	static const char raw[] = "HTTP/1.1 429 Too Many Requests\r\n"
				  "Retry-After: 3\r\nContent-Length: 0\r\n\r\n";
	struct aigw_http_response res;
	const struct aigw_http_slice *v;
	size_t head;

	(void)state;
	aigw_http_response_init(&res, AIGW_HTTP_POST);
	assert_int_equal(aigw_http_parse_response(&res, raw, sizeof(raw) - 1,
						  NULL, &head, NULL), 0);
	v = aigw_http_response_header(&res, "retry-after");
	assert_non_null(v);
	assert_true(slice_is(*v, "3"));
	assert_null(aigw_http_response_header(&res, "x"));
	assert_int_equal(res.header_count, 2);
}

/* ------------------------------------------------------------ writers */

static void test_status_text(void **state)
{
	(void)state;
	assert_string_equal(aigw_http_status_text(200), "OK");
	assert_string_equal(aigw_http_status_text(404), "Not Found");
	assert_string_equal(aigw_http_status_text(413), "Content Too Large");
	assert_string_equal(aigw_http_status_text(431),
			    "Request Header Fields Too Large");
	assert_string_equal(aigw_http_status_text(502), "Bad Gateway");
	assert_string_equal(aigw_http_status_text(599), "");
	assert_string_equal(aigw_http_status_text(-1), "");
}

static void test_writers(void **state)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	char big[300];

	(void)state;
	assert_int_equal(aigw_http_response_head(&b, 200, "Content-Type",
						 "application/json",
						 "Content-Length", "2", NULL),
			 0);
	assert_string_equal(b.data, "HTTP/1.1 200 OK\r\n"
				    "Content-Type: application/json\r\n"
				    "Content-Length: 2\r\n\r\n");

	aigw_buf_reset(&b);
	assert_int_equal(aigw_http_response_head(&b, 503, NULL), 0);
	assert_string_equal(b.data, "HTTP/1.1 503 Service Unavailable\r\n\r\n");

	aigw_buf_reset(&b);
	assert_int_equal(aigw_http_write_status(&b, 599), 0);
	assert_int_equal(aigw_http_write_header(&b, "X-Tab", 5, "a\tb", 3), 0);
	assert_int_equal(aigw_http_write_header(&b, "X-Empty", 7, "", 0), 0);
	assert_string_equal(b.data, "HTTP/1.1 599 \r\nX-Tab: a\tb\r\n"
				    "X-Empty: \r\n");

	/* Refusals append nothing. */
	aigw_buf_reset(&b);
	aigw_buf_puts(&b, "keep");
	assert_int_equal(aigw_http_write_status(&b, 99), AIGW_EINVAL);
	assert_int_equal(aigw_http_write_status(&b, 600), AIGW_EINVAL);
	assert_int_equal(aigw_http_write_header(&b, "X", 1, "a\r\nSet: x", 9),
			 AIGW_EINVAL);
	assert_int_equal(aigw_http_write_header(&b, "X", 1, "a\nb", 3),
			 AIGW_EINVAL);
	assert_int_equal(aigw_http_write_header(&b, "X", 1, "a\0b", 3),
			 AIGW_EINVAL);
	assert_int_equal(aigw_http_write_header(&b, "X Y", 3, "a", 1),
			 AIGW_EINVAL);
	assert_int_equal(aigw_http_write_header(&b, "", 0, "a", 1),
			 AIGW_EINVAL);
	assert_int_equal(aigw_http_response_head(&b, 200, "X-A", "1",
						 "X-B", "2\r\n", NULL),
			 AIGW_EINVAL);
	assert_int_equal(aigw_http_response_head(&b, 200, "X-A", NULL),
			 AIGW_EINVAL);
	assert_int_equal(aigw_http_response_head(&b, 1000, NULL), AIGW_EINVAL);
	assert_string_equal(b.data, "keep");

	aigw_buf_reset(&b);
	aigw_http_write_chunk(&b, "hello", 5);
	aigw_http_write_chunk(&b, "", 0);
	aigw_http_write_last_chunk(&b);
	assert_string_equal(b.data, "5\r\nhello\r\n0\r\n\r\n");

	aigw_buf_reset(&b);
	memset(big, 'z', sizeof(big));
	aigw_http_write_chunk(&b, big, sizeof(big));
	assert_int_equal(b.len, 5 + 300 + 2);
	assert_memory_equal(b.data, "12c\r\nzzz", 8);
	assert_memory_equal(b.data + b.len - 3, "z\r\n", 3);
	aigw_buf_release(&b);
}

/* What the writers produce, the parsers read back. */
static void test_round_trip(void **state)
{
	struct aigw_buf wire = AIGW_BUF_INIT, out = AIGW_BUF_INIT;
	struct aigw_http_response res;
	struct aigw_http_body body;
	char piece[70000];
	size_t head, used;

	(void)state;
	for (size_t i = 0; i < sizeof(piece); i++)
		piece[i] = (char)(i * 7);
	assert_int_equal(aigw_http_response_head(&wire, 200,
						 "Transfer-Encoding", "chunked",
						 NULL), 0);
	aigw_http_write_chunk(&wire, piece, 1);
	aigw_http_write_chunk(&wire, piece + 1, 15);
	aigw_http_write_chunk(&wire, piece + 16, 16);
	aigw_http_write_chunk(&wire, piece + 32, sizeof(piece) - 32);
	aigw_http_write_last_chunk(&wire);

	aigw_http_response_init(&res, AIGW_HTTP_GET);
	assert_int_equal(aigw_http_parse_response(&res, wire.data, wire.len,
						  NULL, &head, NULL), 0);
	assert_int_equal(res.framing, AIGW_HTTP_BODY_CHUNKED);
	aigw_http_body_init(&body, res.framing, 0, NULL);
	assert_int_equal(aigw_http_body_append(&body, wire.data + head,
					       wire.len - head, &used, &out,
					       NULL), 0);
	assert_int_equal(head + used, wire.len);
	assert_int_equal(out.len, sizeof(piece));
	assert_memory_equal(out.data, piece, sizeof(piece));
	aigw_buf_release(&wire);
	aigw_buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_requests),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_list_next),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_splits),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_chunk_limits),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_responses),
		cmocka_unit_test(test_response_lookup),
		cmocka_unit_test(test_status_text),
		cmocka_unit_test(test_writers),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
