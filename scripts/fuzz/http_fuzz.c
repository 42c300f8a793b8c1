/* http_fuzz: libFuzzer target for lib/http.c.
 *
 * The first input byte picks what to do with the rest:
 *   bits 0-1  mode: 0 request stream, 1 response stream, 2 chunked body,
 *             3 writers read back by the parsers
 *   bit 2     small limits (so that 413 and 431 are reachable)
 *   bits 3-7  step - 1: the size of the pieces the input arrives in
 * Modes 0-2 run the parsers twice, on the whole input and on pieces of
 * step bytes, each call on a fresh heap copy of exactly the unconsumed
 * bytes (so ASan sees any read past the end), and abort when the two runs
 * tell different stories: splitting must never change a verdict. Slices
 * handed back are checked to lie inside the bytes that were passed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http.h"
#include "mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "check failed: %s (line %d)\n",   \
				#cond, __LINE__);                          \
			abort();                                           \
		}                                                          \
	} while (0)

static void check_inside(struct aigw_http_slice s, const char *base,
			 size_t len)
{
	if (!s.len)
		return;
	CHECK(s.ptr >= base && s.ptr + s.len <= base + len);
}

static void put_slice(struct aigw_buf *out, const char *tag,
		      struct aigw_http_slice s)
{
	aigw_buf_printf(out, " %s=%zu:", tag, s.len);
	if (s.len)
		aigw_buf_append(out, s.ptr, s.len);
}

static void put_headers(struct aigw_buf *out,
			const struct aigw_http_header *h, size_t n,
			const char *base, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		check_inside(h[i].name, base, len);
		check_inside(h[i].value, base, len);
		CHECK(h[i].name.len > 0);
		put_slice(out, "n", h[i].name);
		put_slice(out, "v", h[i].value);
	}
}

/* Parses one head at the front of buf: a request or a response. */
static int parse_head(int mode, struct aigw_http_request *req,
		      struct aigw_http_response *res, const char *buf,
		      size_t n, const struct aigw_http_limits *limits,
		      size_t *consumed, struct aigw_http_error *err,
		      struct aigw_buf *out)
{
	int rc;

	if (mode == 0) {
		rc = aigw_http_parse_request(req, buf, n, limits, consumed,
					     err);
		if (rc == 0 || (rc == AIGW_EINVAL && err->status == 417)) {
			CHECK(*consumed == req->head_len && *consumed <= n);
			check_inside(req->target, buf, n);
			check_inside(req->path, buf, n);
			check_inside(req->query, buf, n);
			check_inside(req->host, buf, n);
			aigw_buf_printf(out, "req m=%d v=%d ka=%d ex=%d fr=%d "
					"cl=%llu hl=%zu", req->method,
					req->version_minor, req->keep_alive,
					req->expect_continue, req->framing,
					(unsigned long long)req->content_length,
					req->head_len);
			put_slice(out, "t", req->target);
			put_slice(out, "p", req->path);
			put_slice(out, "q", req->query);
			put_headers(out, req->headers, req->header_count, buf,
				    n);
		} else {
			CHECK(*consumed == 0);
		}
	} else {
		rc = aigw_http_parse_response(res, buf, n, limits, consumed,
					      err);
		if (rc == 0) {
			CHECK(*consumed == res->head_len && *consumed <= n);
			check_inside(res->reason, buf, n);
			aigw_buf_printf(out, "res s=%d v=%d ka=%d fr=%d cl=%llu "
					"hl=%zu", res->status,
					res->version_minor, res->keep_alive,
					res->framing,
					(unsigned long long)res->content_length,
					res->head_len);
			put_headers(out, res->headers, res->header_count, buf,
				    n);
		} else {
			CHECK(*consumed == 0);
		}
	}
	return rc;
}

/* Runs a stream of messages (mode 0, 1) or one chunked body (mode 2)
 * arriving step bytes at a time, writing down every verdict. */
static void run(int mode, const char *raw, size_t len, size_t step,
		const struct aigw_http_limits *limits, struct aigw_buf *out)
{
	struct aigw_http_request req;
	struct aigw_http_response res;
	struct aigw_http_body body;
	struct aigw_http_header trailers[4];
	struct aigw_http_error err;
	bool in_body = mode == 2;
	size_t base = 0, avail = step < len ? step : len, messages = 0;
	int rc;

	aigw_http_request_init(&req);
	aigw_http_response_init(&res, AIGW_HTTP_GET);
	if (mode == 2) {
		aigw_http_body_init(&body, AIGW_HTTP_BODY_CHUNKED, 0, limits);
		body.trailers = trailers;
		body.trailers_cap = 4;
	}
	for (;;) {
		size_t n = avail - base, consumed = 0;
		char *copy = aigw_malloc(n);

		if (n)
			memcpy(copy, raw + base, n);
		if (!in_body) {
			rc = parse_head(mode, &req, &res, copy, n, limits,
					&consumed, &err, out);
			if (rc == 0) {
				int framing = mode ? res.framing : req.framing;
				uint64_t length = mode ? res.content_length
						       : req.content_length;

				base += consumed;
				in_body = true;
				aigw_http_body_init(&body, framing, length,
						    limits);
				body.trailers = trailers;
				body.trailers_cap = 4;
				aigw_buf_puts(out, " body=");
				free(copy);
				continue;
			}
		} else {
			struct aigw_http_slice piece;

			rc = aigw_http_body_decode(&body, copy, n, &consumed,
						   &piece, &err);
			CHECK(consumed <= n);
			if (rc == 0 || rc == AIGW_AGAIN) {
				check_inside(piece, copy, consumed);
				if (piece.len)
					aigw_buf_append(out, piece.ptr,
							piece.len);
			} else {
				CHECK(piece.len == 0);
			}
			base += consumed;
			if (rc == 0) {
				CHECK(aigw_http_body_done(&body));
				put_headers(out, trailers, body.trailer_count,
					    copy, consumed);
				aigw_buf_printf(out, " total=%llu end\n",
						(unsigned long long)body.total);
				free(copy);
				/* A final response not followed by more
				 * bytes, or a bounded number of messages. */
				if (base == len || mode == 2 || ++messages > 64)
					return;
				in_body = false;
				aigw_http_request_init(&req);
				aigw_http_response_init(&res, AIGW_HTTP_GET);
				continue;
			}
			if (rc == AIGW_AGAIN && consumed && base < avail) {
				free(copy);
				continue;
			}
		}
		free(copy);
		if (rc != AIGW_AGAIN) {
			CHECK(rc == AIGW_EINVAL && err.reason);
			CHECK(err.status >= 400 && err.status <= 505);
			aigw_buf_printf(out, " error %d %d %s\n", err.status,
					err.close, err.reason);
			return;
		}
		if (avail == len) {
			if (in_body) {
				rc = aigw_http_body_eof(&body, &err);
				aigw_buf_printf(out, " eof %d total=%llu\n", rc,
						(unsigned long long)body.total);
			} else {
				aigw_buf_puts(out, " incomplete\n");
			}
			return;
		}
		avail = avail + step < len ? avail + step : len;
	}
}

/* Mode 3: whatever the writers accept must read back as written. */
static void writers(const char *raw, size_t len, size_t step)
{
	struct aigw_buf wire = AIGW_BUF_INIT, body = AIGW_BUF_INIT;
	struct aigw_http_response res;
	struct aigw_http_body dec;
	struct aigw_http_error err;
	const char *colon = memchr(raw, ':', len);
	size_t head, used;
	int header_rc = AIGW_EINVAL;

	CHECK(aigw_http_write_status(&wire, 200) == 0);
	if (colon)
		header_rc = aigw_http_write_header(&wire, raw,
						   (size_t)(colon - raw),
						   colon + 1,
						   len - (size_t)(colon - raw) -
							   1);
	CHECK(aigw_http_write_header(&wire, "Transfer-Encoding", 17, "chunked",
				     7) == 0);
	aigw_buf_puts(&wire, "\r\n");
	for (size_t off = 0; off < len; off += step)
		aigw_http_write_chunk(&wire, raw + off,
				      len - off < step ? len - off : step);
	aigw_http_write_last_chunk(&wire);

	aigw_http_response_init(&res, AIGW_HTTP_GET);
	if (aigw_http_parse_response(&res, wire.data, wire.len, NULL, &head,
				     &err)) {
		/* Only a header the parser rejects on meaning (a second
		 * Transfer-Encoding, a Content-Length...) may fail here. */
		CHECK(header_rc == 0 && err.status == 502);
		goto out;
	}
	CHECK(res.framing == AIGW_HTTP_BODY_CHUNKED);
	CHECK(res.header_count == (header_rc == 0 ? 2u : 1u));
	if (header_rc == 0) {
		struct aigw_http_slice v = res.headers[0].value;
		const char *value = colon + 1;
		size_t value_len = len - (size_t)(colon - raw) - 1;

		CHECK(res.headers[0].name.len == (size_t)(colon - raw));
		CHECK(!memcmp(res.headers[0].name.ptr, raw,
			      res.headers[0].name.len));
		/* The parser trims SP/HTAB around values. */
		while (value_len && (*value == ' ' || *value == '\t')) {
			value++;
			value_len--;
		}
		while (value_len && (value[value_len - 1] == ' ' ||
				     value[value_len - 1] == '\t'))
			value_len--;
		CHECK(v.len == value_len && !memcmp(v.ptr, value, v.len));
	}
	aigw_http_body_init(&dec, res.framing, 0, NULL);
	CHECK(aigw_http_body_append(&dec, wire.data + head, wire.len - head,
				    &used, &body, &err) == 0);
	CHECK(head + used == wire.len);
	CHECK(body.len == len && (!len || !memcmp(body.data, raw, len)));
out:
	aigw_buf_release(&wire);
	aigw_buf_release(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aigw_http_limits limits = AIGW_HTTP_LIMITS_INIT;
	struct aigw_buf whole = AIGW_BUF_INIT, split = AIGW_BUF_INIT;
	const char *raw = (const char *)data + 1;
	size_t len, step;
	int mode;

	if (size < 1)
		return 0;
	mode = data[0] & 3;
	step = (size_t)(data[0] >> 3) + 1;
	len = size - 1;
	if (data[0] & 4) {
		limits.max_header_bytes = 256;
		limits.max_headers = 4;
		limits.max_body_bytes = 64;
	}
	if (mode == 3) {
		writers(raw, len, step);
		return 0;
	}
	run(mode, raw, len, len ? len : 1, &limits, &whole);
	run(mode, raw, len, step, &limits, &split);
	if (whole.len != split.len || memcmp(whole.data, split.data, whole.len)) {
		fprintf(stderr, "whole:\n%s\nin pieces of %zu:\n%s\n",
			whole.data, step, split.data);
		abort();
	}
	aigw_buf_release(&whole);
	aigw_buf_release(&split);
	return 0;
}
