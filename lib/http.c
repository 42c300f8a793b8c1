/* http: see http.h.
 *
 * A head is parsed in two steps. find_end() looks for the blank line that
 * ends it with memchr, one line at a time, checking that every line ends in
 * CRLF; it remembers where it stopped, so bytes arriving one at a time cost
 * linear time. Once the whole head is there, one pass parses and checks it.
 * That pass needs no bounds checks: the head is known to end in CRLF CRLF,
 * and CR belongs to no character class, so every scanning loop stops at the
 * latest on the CR that ends its line. */
#include "http.h"

#include <stdarg.h>
#include <string.h>

#include "err.h"

/* ------------------------------------------------------------ characters */

enum {
	C_TCHAR = 1,  /* token: methods, field names, codings */
	C_VALUE = 2,  /* field-vchar, SP, HTAB, obs-text: field values */
	C_TARGET = 4, /* visible ASCII but '#': the request target */
	C_HOST = 8,   /* reg-name, IP literals and a port */
};

static const unsigned char char_class[256] = {
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  0,  0,  0,  /* 00 */
	 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 10 */
	 2, 15,  6,  3, 15, 15, 15, 15, 14, 14, 15, 15, 14, 15, 15,  6,  /* 20 */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 14,  6, 14,  6,  6,  /* 30 */
	 6, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  /* 40 */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14,  6, 14,  7, 15,  /* 50 */
	 7, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  /* 60 */
	15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,  6,  7,  6, 15,  0,  /* 70 */
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 80 */
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 90 */
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* a0 */
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* b0 */
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* c0 */
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* d0 */
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* e0 */
	 2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* f0 */
};

#define IS(c, cls) (char_class[(unsigned char)(c)] & (cls))

#define WORD_ONES 0x0101010101010101ull
#define WORD_HIGH 0x8080808080808080ull

/* Skips field-value bytes from p, never reading at or past end. Field
 * values are most of a head, so plain bytes (0x20-0x7e and obs-text) are
 * skipped eight at a time: a word is plain when no byte is below 0x20 and
 * none is DEL. The first word that is not (it holds the CR that ends the
 * line, or an HTAB) is finished one byte at a time. */
static const char *skip_value(const char *p, const char *end)
{
	while (end - p >= 8) {
		uint64_t w, del;

		memcpy(&w, p, 8);
		del = w ^ (0x7f * WORD_ONES);
		if (((w - 0x20 * WORD_ONES) & ~w & WORD_HIGH) ||
		    ((del - WORD_ONES) & ~del & WORD_HIGH))
			break;
		p += 8;
	}
	while (IS(*p, C_VALUE))
		p++;
	return p;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Case-insensitive compare of n bytes with a lowercase literal. */
static bool lower_eq(const char *s, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

static bool slice_is(struct aigw_http_slice s, const char *lit, size_t n)
{
	return s.len == n && lower_eq(s.ptr, lit, n);
}

#define SLICE_IS(s, lit) slice_is((s), (lit), sizeof(lit) - 1)

/* Every refusal goes through here so that callers can `return fail(...)`. */
static int fail(struct aigw_http_error *e, int status, bool close,
		const char *reason)
{
	e->status = status;
	e->close = close;
	e->reason = reason;
	return AIGW_EINVAL;
}

/* ------------------------------------------------------------ limits */

static const struct aigw_http_limits default_limits = AIGW_HTTP_LIMITS_INIT;

void aigw_http_limits_init(struct aigw_http_limits *l)
{
	*l = default_limits;
}

static size_t field_cap(const struct aigw_http_limits *l)
{
	return l->max_headers < AIGW_HTTP_MAX_HEADERS ? l->max_headers
						      : AIGW_HTTP_MAX_HEADERS;
}

/* ------------------------------------------------------------ heads */

/* Looks in data[0..len) for the blank line that ends a head or a trailer
 * section, resuming from *line (start of the line being read) and *pos
 * (first byte not yet searched). Every line must end in CRLF. With
 * skip_leading, blank lines before the first line are skipped (a server
 * should ignore them before a request line) and *start moves past them.
 * Returns 0 with *end just past the blank line, AIGW_AGAIN, or a refusal:
 * bare LF (400), or no blank line within the first max bytes (431). */
static int find_end(size_t *start, size_t *line, size_t *pos, const char *data,
		    size_t len, size_t max, bool skip_leading, size_t *end,
		    struct aigw_http_error *e)
{
	size_t limit = len < max ? len : max;

	while (*pos < limit) {
		const char *nl = memchr(data + *pos, '\n', limit - *pos);
		size_t at;

		if (!nl) {
			*pos = limit;
			break;
		}
		at = (size_t)(nl - data);
		if (at == *line || data[at - 1] != '\r')
			return fail(e, 400, true, "bare lf");
		if (at - 1 == *line) {
			if (!skip_leading || *line != *start) {
				*end = at + 1;
				return 0;
			}
			*start = at + 1;
		}
		*line = at + 1;
		*pos = at + 1;
	}
	if (len >= max)
		return fail(e, 431, true, "header section too large");
	return AIGW_AGAIN;
}

/* Facts that the framing, connection and expectation rules are decided on,
 * gathered while the field lines go by. */
struct facts {
	bool request;
	bool has_host;
	bool has_length;
	bool has_te;
	bool te_last_chunked;
	bool te_other;
	unsigned te_chunked;
	bool conn_close;
	bool conn_keep_alive;
	bool expect_continue;
	bool expect_other;
	uint64_t length;
	struct aigw_http_slice host;
};

/* Parses one field line at *pp (known to end in CRLF) into h. */
static int parse_field_line(const char **pp, const char *end_of_head,
			    struct aigw_http_header *h,
			    struct aigw_http_error *e)
{
	const char *p = *pp, *name = p, *value, *end;

	if (is_ows(*p))
		return fail(e, 400, true, "obs-fold");
	while (IS(*p, C_TCHAR))
		p++;
	if (*p != ':') {
		if (is_ows(*p))
			return fail(e, 400, true, "whitespace before colon");
		if (*p == '\r')
			return fail(e, 400, true, "missing colon in header line");
		return fail(e, 400, true, "invalid character in header name");
	}
	if (p == name)
		return fail(e, 400, true, "empty header name");
	h->name.ptr = name;
	h->name.len = (size_t)(p - name);
	p++;
	while (is_ows(*p))
		p++;
	value = p;
	p = skip_value(p, end_of_head);
	if (p[0] != '\r' || p[1] != '\n')
		return fail(e, 400, true, "invalid character in header value");
	end = p;
	while (end > value && is_ows(end[-1]))
		end--;
	h->value.ptr = value;
	h->value.len = (size_t)(end - value);
	*pp = p + 2;
	return 0;
}

static int note_content_length(struct facts *f, struct aigw_http_slice v,
			       struct aigw_http_error *e)
{
	uint64_t n = 0;

	/* Even an identical repeat is refused: no client sends one, and an
	 * intermediary may have joined two different lengths into it. */
	if (f->has_length)
		return fail(e, 400, true, "duplicate content-length");
	f->has_length = true;
	if (!v.len)
		return fail(e, 400, true, "invalid content-length");
	for (size_t i = 0; i < v.len; i++) {
		unsigned d;

		if (!is_digit(v.ptr[i]))
			return fail(e, 400, true, "invalid content-length");
		d = (unsigned)(v.ptr[i] - '0');
		if (n > (UINT64_MAX - d) / 10)
			return fail(e, 400, true, "content-length overflow");
		n = n * 10 + d;
	}
	f->length = n;
	return 0;
}

/* Transfer-Encoding is a list of codings, possibly over several lines.
 * Each element must be a bare token (no parameters: chunked takes none and
 * nothing else is supported); empty elements are refused too. */
static int note_transfer_encoding(struct facts *f, struct aigw_http_slice v,
				  struct aigw_http_error *e)
{
	size_t i = 0;

	f->has_te = true;
	for (;;) {
		size_t start;
		struct aigw_http_slice coding;

		while (i < v.len && is_ows(v.ptr[i]))
			i++;
		start = i;
		while (i < v.len && IS(v.ptr[i], C_TCHAR))
			i++;
		coding.ptr = v.ptr + start;
		coding.len = i - start;
		while (i < v.len && is_ows(v.ptr[i]))
			i++;
		if (!coding.len || (i < v.len && v.ptr[i] != ','))
			return fail(e, 400, true, "invalid transfer-encoding");
		if (SLICE_IS(coding, "chunked")) {
			f->te_chunked++;
			f->te_last_chunked = true;
		} else {
			f->te_other = true;
			f->te_last_chunked = false;
		}
		if (i == v.len)
			return 0;
		i++;
	}
}

/* Host: reg-name or IP literal and an optional port, which is all that may
 * appear in an authority without userinfo. Refusing the rest keeps '/',
 * '@', spaces and friends out of whatever later builds URLs from it. */
static int note_host(struct facts *f, struct aigw_http_slice v,
		     struct aigw_http_error *e)
{
	if (f->has_host)
		return fail(e, 400, true, "duplicate host");
	f->has_host = true;
	for (size_t i = 0; i < v.len; i++)
		if (!IS(v.ptr[i], C_HOST))
			return fail(e, 400, true, "invalid host");
	f->host = v;
	return 0;
}

static void note_connection(struct facts *f, struct aigw_http_slice v)
{
	struct aigw_http_slice item;
	size_t pos = 0;

	while (aigw_http_list_next(v, &pos, &item)) {
		if (SLICE_IS(item, "close"))
			f->conn_close = true;
		else if (SLICE_IS(item, "keep-alive"))
			f->conn_keep_alive = true;
	}
}

static void note_expect(struct facts *f, struct aigw_http_slice v)
{
	struct aigw_http_slice item;
	size_t pos = 0;

	while (aigw_http_list_next(v, &pos, &item)) {
		if (SLICE_IS(item, "100-continue"))
			f->expect_continue = true;
		else
			f->expect_other = true;
	}
}

/* Records what a field means for framing and the connection; fields that
 * do not matter here cost one switch on the length. */
static int note_field(struct facts *f, const struct aigw_http_header *h,
		      struct aigw_http_error *e)
{
	switch (h->name.len) {
	case 4:
		if (f->request && lower_eq(h->name.ptr, "host", 4))
			return note_host(f, h->value, e);
		break;
	case 6:
		if (f->request && lower_eq(h->name.ptr, "expect", 6))
			note_expect(f, h->value);
		break;
	case 10:
		if (lower_eq(h->name.ptr, "connection", 10))
			note_connection(f, h->value);
		break;
	case 14:
		if (lower_eq(h->name.ptr, "content-length", 14))
			return note_content_length(f, h->value, e);
		break;
	case 17:
		if (lower_eq(h->name.ptr, "transfer-encoding", 17))
			return note_transfer_encoding(f, h->value, e);
		break;
	}
	return 0;
}

/* Parses field lines from *pp up to and including the blank line, which
 * ends at end_of_head. Fields
 * are stored in headers when it is not NULL; more than cap of them is 431.
 * f, when not NULL, gathers their meaning. */
static int parse_fields(const char **pp, const char *end_of_head,
			struct aigw_http_header *headers,
			size_t cap, size_t *count, struct facts *f,
			struct aigw_http_error *e)
{
	const char *p = *pp;
	size_t n = 0;
	int rc;

	while (p[0] != '\r' || p[1] != '\n') {
		struct aigw_http_header h;

		rc = parse_field_line(&p, end_of_head, &h, e);
		if (rc)
			return rc;
		if (n == cap)
			return fail(e, 431, true, "too many header fields");
		if (headers)
			headers[n] = h;
		n++;
		if (f && (rc = note_field(f, &h, e)))
			return rc;
	}
	*pp = p + 2;
	*count = n;
	return 0;
}

/* Moves *pp past lit when the bytes there match it; stops at the first
 * difference, so it never reads past the CR that ends the line. */
static bool skip_literal(const char **pp, const char *lit)
{
	const char *p = *pp;

	while (*lit && *p == *lit) {
		p++;
		lit++;
	}
	if (*lit)
		return false;
	*pp = p;
	return true;
}

/* Parses "HTTP/d.d" at *pp into major and minor. */
static bool parse_version(const char **pp, int *major, int *minor)
{
	const char *p = *pp;

	if (!skip_literal(&p, "HTTP/"))
		return false;
	if (!is_digit(p[0]) || p[1] != '.' || !is_digit(p[2]))
		return false;
	*major = p[0] - '0';
	*minor = p[2] - '0';
	*pp = p + 3;
	return true;
}

/* ------------------------------------------------------------ requests */

void aigw_http_request_init(struct aigw_http_request *req)
{
	req->method = AIGW_HTTP_OTHER;
	req->method_name.ptr = NULL;
	req->method_name.len = 0;
	req->target = req->path = req->query = req->host = req->method_name;
	req->version_minor = 1;
	req->keep_alive = false;
	req->expect_continue = false;
	req->framing = AIGW_HTTP_BODY_NONE;
	req->content_length = 0;
	req->head_len = 0;
	req->header_count = 0;
	req->scan_start = req->scan_line = req->scan_pos = 0;
}

static int method_id(const char *m, size_t n)
{
	switch (n) {
	case 3:
		if (!memcmp(m, "GET", 3))
			return AIGW_HTTP_GET;
		if (!memcmp(m, "PUT", 3))
			return AIGW_HTTP_PUT;
		break;
	case 4:
		if (!memcmp(m, "POST", 4))
			return AIGW_HTTP_POST;
		if (!memcmp(m, "HEAD", 4))
			return AIGW_HTTP_HEAD;
		break;
	case 5:
		if (!memcmp(m, "PATCH", 5))
			return AIGW_HTTP_PATCH;
		if (!memcmp(m, "TRACE", 5))
			return AIGW_HTTP_TRACE;
		break;
	case 6:
		if (!memcmp(m, "DELETE", 6))
			return AIGW_HTTP_DELETE;
		break;
	case 7:
		if (!memcmp(m, "OPTIONS", 7))
			return AIGW_HTTP_OPTIONS;
		if (!memcmp(m, "CONNECT", 7))
			return AIGW_HTTP_CONNECT;
		break;
	}
	return AIGW_HTTP_OTHER;
}

/* method SP request-target SP HTTP-version CRLF, with exactly one SP
 * between the parts. */
static int parse_request_line(struct aigw_http_request *req, const char **pp,
			      struct aigw_http_error *e)
{
	const char *p = *pp, *start = p, *q;
	int major, minor;

	while (IS(*p, C_TCHAR))
		p++;
	if (p == start || *p != ' ') {
		if (*p == ' ' || *p == '\t')
			return fail(e, 400, true, "extra space in request line");
		return fail(e, 400, true, "invalid method");
	}
	req->method_name.ptr = start;
	req->method_name.len = (size_t)(p - start);
	req->method = method_id(start, req->method_name.len);

	start = ++p;
	while (IS(*p, C_TARGET))
		p++;
	if (p == start && is_ows(*p))
		return fail(e, 400, true, "extra space in request line");
	if (*p != ' ') {
		if (*p == '\r' && p[1] == '\n')
			return fail(e, 400, true, "missing http version");
		return fail(e, 400, true, "invalid character in request target");
	}
	req->target.ptr = start;
	req->target.len = (size_t)(p - start);

	p++;
	if (!parse_version(&p, &major, &minor)) {
		if (is_ows(*p))
			return fail(e, 400, true, "extra space in request line");
		return fail(e, 400, true, "invalid http version");
	}
	if (p[0] != '\r' || p[1] != '\n') {
		if (is_ows(*p))
			return fail(e, 400, true, "extra space in request line");
		return fail(e, 400, true, "invalid http version");
	}
	if (major != 1 || minor > 1)
		return fail(e, 505, true, "http version not supported");
	req->version_minor = minor;

	/* origin-form, or asterisk-form for OPTIONS; absolute-form is for
	 * proxies and authority-form for CONNECT, and the gateway is neither. */
	start = req->target.ptr;
	if (*start == '*') {
		if (req->target.len != 1 || req->method != AIGW_HTTP_OPTIONS)
			return fail(e, 400, true, "invalid request target");
	} else if (*start != '/') {
		return fail(e, 400, true, "request target is not origin-form");
	}
	req->path = req->target;
	q = memchr(start, '?', req->target.len);
	if (q) {
		req->path.len = (size_t)(q - start);
		req->query.ptr = q + 1;
		req->query.len = req->target.len - req->path.len - 1;
	} else {
		req->query.ptr = NULL;
		req->query.len = 0;
	}
	*pp = p + 2;
	return 0;
}

/* The framing rules of RFC 9112 section 6, minus everything ambiguous. */
static int request_framing(struct aigw_http_request *req, const struct facts *f,
			   const struct aigw_http_limits *limits,
			   struct aigw_http_error *e)
{
	if (req->version_minor == 1 && !f->has_host)
		return fail(e, 400, true, "missing host");
	if (f->has_te) {
		if (req->version_minor == 0)
			return fail(e, 400, true,
				    "transfer-encoding in http/1.0");
		if (f->has_length)
			return fail(e, 400, true,
				    "content-length with transfer-encoding");
		if (f->te_chunked > 1)
			return fail(e, 400, true, "chunked given twice");
		if (!f->te_last_chunked)
			return fail(e, 400, true,
				    "transfer-encoding does not end in chunked");
		if (f->te_other)
			return fail(e, 501, true,
				    "transfer-encoding not implemented");
		req->framing = AIGW_HTTP_BODY_CHUNKED;
	} else if (f->has_length) {
		if (f->length > limits->max_body_bytes)
			return fail(e, 413, true, "body too large");
		req->framing = AIGW_HTTP_BODY_LENGTH;
		req->content_length = f->length;
	} else {
		req->framing = AIGW_HTTP_BODY_NONE;
	}
	return 0;
}

int aigw_http_parse_request(struct aigw_http_request *req, const char *data,
			    size_t len, const struct aigw_http_limits *limits,
			    size_t *consumed, struct aigw_http_error *error)
{
	struct aigw_http_error ignored;
	struct facts f;
	const char *p;
	size_t end;
	int rc;

	if (!error)
		error = &ignored;
	if (!limits)
		limits = &default_limits;
	*consumed = 0;
	rc = find_end(&req->scan_start, &req->scan_line, &req->scan_pos, data,
		      len, limits->max_header_bytes, true, &end, error);
	if (rc)
		return rc;

	p = data + req->scan_start;
	rc = parse_request_line(req, &p, error);
	if (rc)
		return rc;
	memset(&f, 0, sizeof(f));
	f.request = true;
	rc = parse_fields(&p, data + end, req->headers, field_cap(limits),
			  &req->header_count, &f, error);
	if (rc)
		return rc;
	rc = request_framing(req, &f, limits, error);
	if (rc)
		return rc;

	req->host = f.host;
	if (req->version_minor == 1)
		req->keep_alive = !f.conn_close;
	else
		req->keep_alive = f.conn_keep_alive && !f.conn_close;
	req->head_len = end;

	/* HTTP/1.0 predates Expect: a server must ignore it there. */
	if (req->version_minor == 1) {
		req->expect_continue = f.expect_continue;
		if (f.expect_other) {
			*consumed = end;
			return fail(error, 417, false, "unsupported expectation");
		}
	}
	*consumed = end;
	return 0;
}

/* ------------------------------------------------------------ responses */

void aigw_http_response_init(struct aigw_http_response *res,
			     int request_method)
{
	res->status = 0;
	res->reason.ptr = NULL;
	res->reason.len = 0;
	res->version_minor = 1;
	res->keep_alive = false;
	res->framing = AIGW_HTTP_BODY_NONE;
	res->content_length = 0;
	res->head_len = 0;
	res->header_count = 0;
	res->request_method = request_method;
	res->scan_start = res->scan_line = res->scan_pos = 0;
}

/* HTTP-version SP 3DIGIT SP [ reason ] CRLF. The SP before an empty
 * reason is optional: servers that omit it are common and it leaves
 * nothing ambiguous. */
static int parse_status_line(struct aigw_http_response *res, const char **pp,
			     struct aigw_http_error *e)
{
	const char *p = *pp, *reason;
	int major, minor;

	if (!parse_version(&p, &major, &minor) || *p != ' ')
		return fail(e, 502, true, "invalid status line");
	if (major != 1 || minor > 1)
		return fail(e, 502, true, "http version not supported");
	p++;
	if (!is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2]))
		return fail(e, 502, true, "invalid status code");
	res->status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	if (res->status < 100 || res->status > 599)
		return fail(e, 502, true, "invalid status code");
	p += 3;
	if (*p == ' ')
		p++;
	else if (*p != '\r')
		return fail(e, 502, true, "invalid status line");
	reason = p;
	while (IS(*p, C_VALUE))
		p++;
	if (p[0] != '\r' || p[1] != '\n')
		return fail(e, 502, true, "invalid character in reason phrase");
	res->version_minor = minor;
	res->reason.ptr = reason;
	res->reason.len = (size_t)(p - reason);
	*pp = p + 2;
	return 0;
}

static int response_framing(struct aigw_http_response *res,
			    const struct facts *f, struct aigw_http_error *e)
{
	int status = res->status;

	/* Refused even where no body follows: a server that sends both is
	 * one whose framing the gateway will not guess at. */
	if (f->has_te && f->has_length)
		return fail(e, 502, true,
			    "content-length with transfer-encoding");
	if (f->has_te && res->version_minor == 0)
		return fail(e, 502, true, "transfer-encoding in http/1.0");
	if (f->te_chunked > 1)
		return fail(e, 502, true, "chunked given twice");
	if (res->request_method == AIGW_HTTP_HEAD || status < 200 ||
	    status == 204 || status == 304 ||
	    (res->request_method == AIGW_HTTP_CONNECT && status < 300)) {
		res->framing = AIGW_HTTP_BODY_NONE;
	} else if (f->has_te) {
		if (!f->te_last_chunked) {
			res->framing = AIGW_HTTP_BODY_CLOSE;
		} else if (f->te_other) {
			return fail(e, 502, true,
				    "transfer-encoding not implemented");
		} else {
			res->framing = AIGW_HTTP_BODY_CHUNKED;
		}
	} else if (f->has_length) {
		res->framing = AIGW_HTTP_BODY_LENGTH;
		res->content_length = f->length;
	} else {
		res->framing = AIGW_HTTP_BODY_CLOSE;
	}
	return 0;
}

int aigw_http_parse_response(struct aigw_http_response *res, const char *data,
			     size_t len, const struct aigw_http_limits *limits,
			     size_t *consumed, struct aigw_http_error *error)
{
	struct aigw_http_error ignored;
	struct facts f;
	const char *p;
	size_t end;
	int rc;

	if (!error)
		error = &ignored;
	if (!limits)
		limits = &default_limits;
	*consumed = 0;
	rc = find_end(&res->scan_start, &res->scan_line, &res->scan_pos, data,
		      len, limits->max_header_bytes, false, &end, error);
	if (rc == 0) {
		p = data;
		memset(&f, 0, sizeof(f));
		rc = parse_status_line(res, &p, error);
		if (!rc)
			rc = parse_fields(&p, data + end, res->headers,
					  field_cap(limits), &res->header_count,
					  &f, error);
		if (!rc)
			rc = response_framing(res, &f, error);
	}
	if (rc == AIGW_AGAIN)
		return rc;
	if (rc) {
		/* The status the gateway answers with, whatever the cause. */
		error->status = 502;
		error->close = true;
		return rc;
	}
	if (res->version_minor == 1)
		res->keep_alive = !f.conn_close;
	else
		res->keep_alive = f.conn_keep_alive && !f.conn_close;
	if (res->framing == AIGW_HTTP_BODY_CLOSE)
		res->keep_alive = false;
	res->head_len = end;
	*consumed = end;
	return 0;
}

/* ------------------------------------------------------------ fields */

bool aigw_http_slice_eq(struct aigw_http_slice s, const char *lit)
{
	for (size_t i = 0; i < s.len; i++)
		if (!lit[i] || lower((unsigned char)s.ptr[i]) !=
				       lower((unsigned char)lit[i]))
			return false;
	return lit[s.len] == '\0';
}

int aigw_http_header_find(const struct aigw_http_header *headers,
			  size_t count, const char *name, size_t from)
{
	for (size_t i = from; i < count; i++)
		if (aigw_http_slice_eq(headers[i].name, name))
			return (int)i;
	return -1;
}

const struct aigw_http_slice *
aigw_http_request_header(const struct aigw_http_request *req,
			 const char *name)
{
	int i = aigw_http_header_find(req->headers, req->header_count, name, 0);
	return i < 0 ? NULL : &req->headers[i].value;
}

const struct aigw_http_slice *
aigw_http_response_header(const struct aigw_http_response *res,
			  const char *name)
{
	int i = aigw_http_header_find(res->headers, res->header_count, name, 0);
	return i < 0 ? NULL : &res->headers[i].value;
}

bool aigw_http_list_next(struct aigw_http_slice value, size_t *pos,
			 struct aigw_http_slice *item)
{
	size_t i = *pos, start, end;

	while (i < value.len &&
	       (value.ptr[i] == ',' || is_ows(value.ptr[i])))
		i++;
	if (i == value.len) {
		*pos = i;
		return false;
	}
	start = i;
	while (i < value.len && value.ptr[i] != ',')
		i++;
	end = i;
	while (end > start && is_ows(value.ptr[end - 1]))
		end--;
	item->ptr = value.ptr + start;
	item->len = end - start;
	*pos = i;
	return true;
}

bool aigw_http_has_token(const struct aigw_http_header *headers, size_t count,
			 const char *name, const char *token)
{
	int i = -1;

	while ((i = aigw_http_header_find(headers, count, name,
					  (size_t)(i + 1))) >= 0) {
		struct aigw_http_slice item;
		size_t pos = 0;

		while (aigw_http_list_next(headers[i].value, &pos, &item))
			if (aigw_http_slice_eq(item, token))
				return true;
	}
	return false;
}

/* ------------------------------------------------------------ bodies */

enum body_state {
	B_DONE,
	B_LENGTH,
	B_CLOSE,
	B_SIZE,    /* expecting a chunk-size line */
	B_DATA,    /* inside chunk data */
	B_DATA_CR, /* the CRLF after chunk data */
	B_DATA_LF,
	B_TRAILER, /* after the last chunk: trailer fields and blank line */
};

void aigw_http_body_init(struct aigw_http_body *b, int framing,
			 uint64_t content_length,
			 const struct aigw_http_limits *limits)
{
	if (!limits)
		limits = &default_limits;
	b->framing = framing;
	b->total = 0;
	b->trailers = NULL;
	b->trailers_cap = 0;
	b->trailer_count = 0;
	b->remaining = 0;
	b->max_body = limits->max_body_bytes;
	b->max_trailer_bytes = limits->max_header_bytes;
	b->max_trailers = field_cap(limits);
	b->scan_line = b->scan_pos = 0;
	switch (framing) {
	case AIGW_HTTP_BODY_LENGTH:
		b->remaining = content_length;
		b->state = content_length ? B_LENGTH : B_DONE;
		break;
	case AIGW_HTTP_BODY_CHUNKED:
		b->state = B_SIZE;
		break;
	case AIGW_HTTP_BODY_CLOSE:
		b->state = B_CLOSE;
		break;
	default:
		b->state = B_DONE;
		break;
	}
}

/* Where parse_chunk_line stands inside the extensions. BWS may only come
 * before ';' and '=' (and after them), never before the CRLF. */
enum ext_state {
	X_END,          /* after the size or a whole extension */
	X_BWS_SEMI,     /* BWS there: ';' must follow */
	X_BEFORE_NAME,  /* after ';': BWS, then a token */
	X_NAME,
	X_BWS_NAME,     /* BWS after a name: '=' or ';' must follow */
	X_BEFORE_VALUE, /* after '=': BWS, then a token or a quoted-string */
	X_TOKEN,
	X_QUOTED,
	X_ESCAPE,       /* after a backslash in a quoted-string */
	X_CR,           /* CR seen, LF must follow */
};

/* Parses a chunk-size line at the start of data[0..len):
 *   1*HEXDIG *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted ) ] ) CRLF
 * left to right, so that the first bad byte is reported however the line
 * was split. Returns 0 with *size and *line_len, AIGW_AGAIN, or a refusal. */
static int parse_chunk_line(const char *data, size_t len, uint64_t *size,
			    size_t *line_len, struct aigw_http_error *e)
{
	size_t limit = len < AIGW_HTTP_CHUNK_LINE_MAX ? len
						      : AIGW_HTTP_CHUNK_LINE_MAX;
	enum ext_state st = X_END;
	uint64_t n = 0;
	size_t i = 0;
	int d;

	while (i < limit && (d = hex_value(data[i])) >= 0) {
		if (n > UINT64_MAX >> 4)
			return fail(e, 413, true, "chunk size overflow");
		n = n << 4 | (uint64_t)d;
		i++;
	}
	if (i == 0 && limit > 0)
		return fail(e, 400, true, "invalid chunk size");
	for (; i < limit; i++) {
		char c = data[i];

		if (c == '\n' && st != X_CR)
			return fail(e, 400, true, "bare lf");
		switch (st) {
		case X_END:
		case X_BWS_SEMI:
			if (c == ';')
				st = X_BEFORE_NAME;
			else if (is_ows(c))
				st = X_BWS_SEMI;
			else if (c == '\r' && st == X_END)
				st = X_CR;
			else
				return fail(e, 400, true, "invalid chunk line");
			break;
		case X_BEFORE_NAME:
			if (IS(c, C_TCHAR))
				st = X_NAME;
			else if (!is_ows(c))
				return fail(e, 400, true,
					    "invalid chunk extension");
			break;
		case X_NAME:
		case X_BWS_NAME:
			if (st == X_NAME && IS(c, C_TCHAR))
				break;
			if (c == '=')
				st = X_BEFORE_VALUE;
			else if (c == ';')
				st = X_BEFORE_NAME;
			else if (is_ows(c))
				st = X_BWS_NAME;
			else if (c == '\r' && st == X_NAME)
				st = X_CR;
			else
				return fail(e, 400, true,
					    "invalid chunk extension");
			break;
		case X_BEFORE_VALUE:
			if (c == '"')
				st = X_QUOTED;
			else if (IS(c, C_TCHAR))
				st = X_TOKEN;
			else if (!is_ows(c))
				return fail(e, 400, true,
					    "invalid chunk extension");
			break;
		case X_TOKEN:
			if (IS(c, C_TCHAR))
				break;
			if (c == ';')
				st = X_BEFORE_NAME;
			else if (c == '\r')
				st = X_CR;
			else if (is_ows(c))
				st = X_BWS_SEMI;
			else
				return fail(e, 400, true,
					    "invalid chunk extension");
			break;
		case X_QUOTED:
			if (c == '"')
				st = X_END;
			else if (c == '\\')
				st = X_ESCAPE;
			else if (!IS(c, C_VALUE))
				return fail(e, 400, true,
					    "invalid chunk extension");
			break;
		case X_ESCAPE:
			if (!IS(c, C_VALUE))
				return fail(e, 400, true,
					    "invalid chunk extension");
			st = X_QUOTED;
			break;
		case X_CR:
			if (c != '\n')
				return fail(e, 400, true, "bare cr in chunk line");
			*size = n;
			*line_len = i + 1;
			return 0;
		}
	}
	if (len >= AIGW_HTTP_CHUNK_LINE_MAX)
		return fail(e, 400, true, "chunk line too long");
	return AIGW_AGAIN;
}

int aigw_http_body_decode(struct aigw_http_body *b, const char *data,
			  size_t len, size_t *consumed,
			  struct aigw_http_slice *piece,
			  struct aigw_http_error *error)
{
	struct aigw_http_error ignored;
	size_t off = 0, n, end, start, line_len, count;
	uint64_t size;
	const char *p;
	int rc;

	if (!error)
		error = &ignored;
	piece->ptr = data;
	piece->len = 0;
	*consumed = 0;
	for (;;) {
		switch (b->state) {
		case B_DONE:
			*consumed = off;
			return 0;

		case B_LENGTH:
			if (b->remaining > b->max_body - b->total)
				return fail(error, 413, true, "body too large");
			n = len - off < b->remaining ? len - off
						     : (size_t)b->remaining;
			piece->ptr = data + off;
			piece->len = n;
			b->remaining -= n;
			b->total += n;
			*consumed = off + n;
			if (b->remaining)
				return AIGW_AGAIN;
			b->state = B_DONE;
			return 0;

		case B_CLOSE:
			/* Up to the limit, then refused, so that where the
			 * refusal comes does not depend on how bytes came. */
			n = len - off;
			if (n && b->total == b->max_body)
				return fail(error, 413, true, "body too large");
			if (n > b->max_body - b->total)
				n = (size_t)(b->max_body - b->total);
			piece->ptr = data + off;
			piece->len = n;
			b->total += n;
			*consumed = off + n;
			return AIGW_AGAIN;

		case B_SIZE:
			rc = parse_chunk_line(data + off, len - off, &size,
					      &line_len, error);
			if (rc == AIGW_AGAIN) {
				*consumed = off;
				return rc;
			}
			if (rc)
				return rc;
			if (size > b->max_body - b->total)
				return fail(error, 413, true, "body too large");
			off += line_len;
			if (size) {
				b->remaining = size;
				b->state = B_DATA;
			} else {
				b->scan_line = b->scan_pos = 0;
				b->state = B_TRAILER;
			}
			break;

		case B_DATA:
			n = len - off < b->remaining ? len - off
						     : (size_t)b->remaining;
			piece->ptr = data + off;
			piece->len = n;
			b->remaining -= n;
			b->total += n;
			*consumed = off + n;
			if (!b->remaining)
				b->state = B_DATA_CR;
			return AIGW_AGAIN;

		case B_DATA_CR:
		case B_DATA_LF:
			if (off == len) {
				*consumed = off;
				return AIGW_AGAIN;
			}
			if (data[off] != (b->state == B_DATA_CR ? '\r' : '\n'))
				return fail(error, 400, true,
					    "missing crlf after chunk data");
			off++;
			b->state = b->state == B_DATA_CR ? B_DATA_LF : B_SIZE;
			break;

		case B_TRAILER:
			/* Trailer bytes stay unconsumed until the section is
			 * whole, so that the fields can point into them. */
			start = 0;
			rc = find_end(&start, &b->scan_line, &b->scan_pos,
				      data + off, len - off,
				      b->max_trailer_bytes, false, &end, error);
			if (rc == AIGW_AGAIN) {
				*consumed = off;
				return rc;
			}
			if (rc)
				return rc;
			p = data + off;
			count = b->max_trailers;
			if (b->trailers && b->trailers_cap < count)
				count = b->trailers_cap;
			rc = parse_fields(&p, p + end, b->trailers, count,
					  &b->trailer_count, NULL, error);
			if (rc)
				return rc;
			off += end;
			b->state = B_DONE;
			break;
		}
	}
}

int aigw_http_body_append(struct aigw_http_body *b, const char *data,
			  size_t len, size_t *consumed, struct aigw_buf *out,
			  struct aigw_http_error *error)
{
	struct aigw_http_slice piece;
	size_t off = 0, n;
	int rc;

	for (;;) {
		rc = aigw_http_body_decode(b, data + off, len - off, &n, &piece,
					   error);
		off += n;
		if (piece.len)
			aigw_buf_append(out, piece.ptr, piece.len);
		if (rc != AIGW_AGAIN || n == 0 || off == len)
			break;
	}
	*consumed = off;
	return rc;
}

bool aigw_http_body_done(const struct aigw_http_body *b)
{
	return b->state == B_DONE;
}

int aigw_http_body_eof(struct aigw_http_body *b, struct aigw_http_error *error)
{
	struct aigw_http_error ignored;

	if (b->state == B_CLOSE)
		b->state = B_DONE;
	if (b->state == B_DONE)
		return 0;
	return fail(error ? error : &ignored, 400, true, "truncated body");
}

/* ------------------------------------------------------------ writers */

const char *aigw_http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 425: return "Too Early";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 451: return "Unavailable For Legal Reasons";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "";
	}
}

int aigw_http_write_status(struct aigw_buf *out, int status)
{
	const char *text = aigw_http_status_text(status);
	size_t text_len = strlen(text);
	char *p;

	if (status < 100 || status > 599)
		return AIGW_EINVAL;
	aigw_buf_grow(out, 15 + text_len);
	p = out->data + out->len;
	memcpy(p, "HTTP/1.1 ", 9);
	p[9] = (char)('0' + status / 100);
	p[10] = (char)('0' + status / 10 % 10);
	p[11] = (char)('0' + status % 10);
	p[12] = ' ';
	memcpy(p + 13, text, text_len);
	memcpy(p + 13 + text_len, "\r\n", 2);
	out->len += 15 + text_len;
	out->data[out->len] = '\0';
	return 0;
}

int aigw_http_write_header(struct aigw_buf *out, const char *name,
			   size_t name_len, const char *value,
			   size_t value_len)
{
	char *p;

	if (!name_len)
		return AIGW_EINVAL;
	for (size_t i = 0; i < name_len; i++)
		if (!IS(name[i], C_TCHAR))
			return AIGW_EINVAL;
	for (size_t i = 0; i < value_len; i++)
		if (!IS(value[i], C_VALUE))
			return AIGW_EINVAL;
	aigw_buf_grow(out, name_len + value_len + 4);
	p = out->data + out->len;
	memcpy(p, name, name_len);
	p += name_len;
	*p++ = ':';
	*p++ = ' ';
	if (value_len)
		memcpy(p, value, value_len);
	p += value_len;
	*p++ = '\r';
	*p++ = '\n';
	out->len += name_len + value_len + 4;
	out->data[out->len] = '\0';
	return 0;
}

int aigw_http_response_head(struct aigw_buf *out, int status, ...)
{
	size_t mark = out->len;
	const char *name, *value;
	va_list ap;
	int rc;

	rc = aigw_http_write_status(out, status);
	if (rc)
		return rc;
	va_start(ap, status);
	while ((name = va_arg(ap, const char *))) {
		value = va_arg(ap, const char *);
		if (!value)
			rc = AIGW_EINVAL;
		else
			rc = aigw_http_write_header(out, name, strlen(name),
						    value, strlen(value));
		if (rc)
			break;
	}
	va_end(ap);
	if (rc) {
		aigw_buf_truncate(out, mark);
		return rc;
	}
	aigw_buf_append(out, "\r\n", 2);
	return 0;
}

void aigw_http_write_chunk(struct aigw_buf *out, const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char line[2 * sizeof(size_t) + 2];
	size_t i = sizeof(line);

	if (!len)
		return;
	line[--i] = '\n';
	line[--i] = '\r';
	for (size_t n = len; n; n >>= 4)
		line[--i] = digits[n & 15];
	aigw_buf_grow(out, sizeof(line) - i + len + 2);
	aigw_buf_append(out, line + i, sizeof(line) - i);
	aigw_buf_append(out, data, len);
	aigw_buf_append(out, "\r\n", 2);
}

void aigw_http_write_last_chunk(struct aigw_buf *out)
{
	aigw_buf_append(out, "0\r\n\r\n", 5);
}
