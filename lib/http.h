/* http: the strict HTTP/1.1 parser and writer of the gateway.
 *
 * Server side: an incremental request-head parser, a body decoder for
 * Content-Length and chunked bodies, and writers for the response head and
 * for chunked framing. Client side (load tester, tests): a response-head
 * parser that shares the header-line code and the body decoder.
 *
 * The parsers are strict on purpose. A gateway sits between clients and
 * upstreams that may read the same bytes differently; every ambiguity in
 * message framing (Content-Length with Transfer-Encoding, duplicated or
 * listed lengths, obs-fold, bare LF, stray whitespace, ...) is refused with
 * 400 and a request to close the connection instead of being "repaired".
 *
 * Memory: nothing here allocates except the writers, which append to a
 * struct aigw_buf. Parsed names and values are slices (pointer + length)
 * into the caller's input buffer: they stay valid while those bytes stay in
 * place. Parsing state is kept as offsets, never as pointers, so the caller
 * may move or grow its buffer between calls, as long as the unconsumed bytes
 * keep their order and the same prefix is passed again.
 *
 * Incremental use: pass everything received so far for the current message
 * (starting at its first byte); AIGW_AGAIN means "call again when more has
 * arrived". A message split into pieces at any byte boundary gives the
 * same result as when it arrives whole, and the bytes already looked at are
 * not scanned again, so a slow client costs linear time. */
#ifndef AIGW_HTTP_H
#define AIGW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* Capacity of the header arrays embedded in the request and response
 * structs: the ceiling for aigw_http_limits.max_headers. */
#ifndef AIGW_HTTP_MAX_HEADERS
#define AIGW_HTTP_MAX_HEADERS 100
#endif

/* A chunk-size line (size, extensions, CRLF) longer than this is refused:
 * extensions carry nothing the gateway uses and are a classic slow-read and
 * parser-confusion vector. */
#define AIGW_HTTP_CHUNK_LINE_MAX 1024

/* ------------------------------------------------------------ basics */

struct aigw_http_limits {
	size_t max_header_bytes; /* request/status line + fields + blank line */
	size_t max_headers;      /* field lines; at most AIGW_HTTP_MAX_HEADERS */
	uint64_t max_body_bytes; /* decoded body bytes */
};

#define AIGW_HTTP_LIMITS_INIT { 16 * 1024, 100, 8 * 1024 * 1024 }

/* Fills l with the defaults: 16 KiB of head, 100 fields, 8 MiB of body. */
void aigw_http_limits_init(struct aigw_http_limits *l);

/* A run of bytes inside the caller's buffer; not NUL-terminated. */
struct aigw_http_slice {
	const char *ptr;
	size_t len;
};

struct aigw_http_header {
	struct aigw_http_slice name;  /* as sent (case preserved) */
	struct aigw_http_slice value; /* without leading and trailing SP/HTAB */
};

/* What the parsers say when they refuse a message. Every protocol error
 * returns AIGW_EINVAL and fills this in. */
struct aigw_http_error {
	int status;         /* status to answer: 400, 413, 417, 431, 501, 505;
	                     * 502 for every error found in a response */
	bool close;         /* close the connection after answering: the
	                     * framing of what follows cannot be trusted */
	const char *reason; /* static, short, lowercase: "bare lf" */
};

enum aigw_http_method {
	AIGW_HTTP_OTHER = 0, /* a valid token that is none of the below */
	AIGW_HTTP_GET,
	AIGW_HTTP_HEAD,
	AIGW_HTTP_POST,
	AIGW_HTTP_PUT,
	AIGW_HTTP_DELETE,
	AIGW_HTTP_CONNECT,
	AIGW_HTTP_OPTIONS,
	AIGW_HTTP_TRACE,
	AIGW_HTTP_PATCH,
};

/* How the body of a message is delimited. */
enum aigw_http_framing {
	AIGW_HTTP_BODY_NONE = 0, /* no body follows the head */
	AIGW_HTTP_BODY_LENGTH,   /* exactly content_length bytes */
	AIGW_HTTP_BODY_CHUNKED,  /* Transfer-Encoding: chunked */
	AIGW_HTTP_BODY_CLOSE,    /* until the connection closes (responses) */
};

/* ------------------------------------------------------------ requests */

struct aigw_http_request {
	/* Results, valid after aigw_http_parse_request returned 0. */
	int method;                     /* enum aigw_http_method */
	struct aigw_http_slice method_name;
	struct aigw_http_slice target;  /* "/v1/chat?x=1" or "*" */
	struct aigw_http_slice path;    /* target up to '?' */
	struct aigw_http_slice query;   /* after '?'; ptr NULL when no '?' */
	int version_minor;              /* 0 or 1 (HTTP/1.x) */
	struct aigw_http_slice host;    /* Host value; ptr NULL when absent */
	bool keep_alive;                /* after version and Connection */
	bool expect_continue;           /* Expect: 100-continue (HTTP/1.1) */
	int framing;                    /* NONE, LENGTH or CHUNKED */
	uint64_t content_length;        /* when framing is LENGTH */
	size_t head_len;                /* bytes of the head, blank line included */
	size_t header_count;
	struct aigw_http_header headers[AIGW_HTTP_MAX_HEADERS];

	/* Private: where the search for the end of the head stands. */
	size_t scan_start, scan_line, scan_pos;
};

/* Prepares req for a new request: call it before the first
 * aigw_http_parse_request of every request, including each pipelined one.
 * Does not allocate and does not touch the header array. */
void aigw_http_request_init(struct aigw_http_request *req);

/* Parses the request head at the start of data[0..len), which holds
 * everything received so far for this request (empty lines before the
 * request line are skipped and counted in head_len).
 *
 * limits may be NULL for the defaults. On success returns 0, fills req and
 * sets *consumed to the head length: the body (see aigw_http_body_init)
 * starts at data + *consumed. Returns AIGW_AGAIN when the head is not
 * complete yet. Returns AIGW_EINVAL for a request that must be refused,
 * with error (optional) telling the status and whether to close.
 *
 * On AIGW_AGAIN and on refusals *consumed is 0, with one exception: 417
 * (an Expect other than 100-continue) comes with a complete, trustworthy
 * head, so req is filled, *consumed is the head length and error->close is
 * false: the caller may answer and skip the body as framed to keep the
 * connection. */
int aigw_http_parse_request(struct aigw_http_request *req, const char *data,
			    size_t len, const struct aigw_http_limits *limits,
			    size_t *consumed, struct aigw_http_error *error);

/* ------------------------------------------------------------ responses */

struct aigw_http_response {
	/* Results, valid after aigw_http_parse_response returned 0. */
	int status;                     /* 100..599 */
	struct aigw_http_slice reason;  /* may be empty */
	int version_minor;              /* 0 or 1 */
	bool keep_alive;
	int framing;                    /* NONE, LENGTH, CHUNKED or CLOSE */
	uint64_t content_length;        /* when framing is LENGTH */
	size_t head_len;
	size_t header_count;
	struct aigw_http_header headers[AIGW_HTTP_MAX_HEADERS];

	/* Private. */
	int request_method;
	size_t scan_start, scan_line, scan_pos;
};

/* Prepares res for the response to a request made with request_method
 * (enum aigw_http_method: the answer to HEAD, and a 2xx answer to CONNECT,
 * has no body whatever its fields say). Call before each response,
 * including after an interim 1xx one. */
void aigw_http_response_init(struct aigw_http_response *res,
			     int request_method);

/* Parses a response head like aigw_http_parse_request parses a request
 * head, with the same strictness (a Content-Length together with a
 * Transfer-Encoding, for instance, is refused). Every refusal has status
 * 502 and close set: for a gateway, a malformed upstream answer is a bad
 * gateway. A response with neither length nor chunked framing is
 * close-delimited (framing CLOSE, keep_alive false). */
int aigw_http_parse_response(struct aigw_http_response *res, const char *data,
			     size_t len, const struct aigw_http_limits *limits,
			     size_t *consumed, struct aigw_http_error *error);

/* ------------------------------------------------------------ fields */

/* Case-insensitive (ASCII) comparison of a slice with a NUL-terminated
 * string. */
bool aigw_http_slice_eq(struct aigw_http_slice s, const char *lit);

/* Index of the first header at or after index from whose name equals name
 * (case-insensitive), or -1. Loop with from = found + 1 to see repeated
 * fields. */
int aigw_http_header_find(const struct aigw_http_header *headers,
			  size_t count, const char *name, size_t from);

/* Value of the first header called name, or NULL. */
const struct aigw_http_slice *
aigw_http_request_header(const struct aigw_http_request *req,
			 const char *name);
const struct aigw_http_slice *
aigw_http_response_header(const struct aigw_http_response *res,
			  const char *name);

/* Iterates over the elements of a comma-separated field value
 * ("close, Upgrade"): *pos starts at 0; each call stores the next
 * element (trimmed of SP/HTAB; empty elements are skipped) in *item and
 * returns true, or returns false at the end. */
bool aigw_http_list_next(struct aigw_http_slice value, size_t *pos,
			 struct aigw_http_slice *item);

/* True when any of the named fields lists token (case-insensitive), e.g.
 * aigw_http_has_token(req->headers, req->header_count, "connection",
 * "upgrade"). */
bool aigw_http_has_token(const struct aigw_http_header *headers, size_t count,
			 const char *name, const char *token);

/* ------------------------------------------------------------ bodies */

/* An incremental body decoder for any framing. For chunked bodies it hands
 * back slices of chunk data inside the caller's buffer without copying;
 * the framing between them is consumed and never shown. */
struct aigw_http_body {
	int framing;       /* enum aigw_http_framing */
	uint64_t total;    /* body bytes handed back so far */

	/* Optional: set after aigw_http_body_init to keep the trailer fields
	 * of a chunked body. They point into the bytes of the call that
	 * completed the body. Without it trailers are checked and dropped. */
	struct aigw_http_header *trailers;
	size_t trailers_cap;
	size_t trailer_count;

	/* Private. */
	int state;
	uint64_t remaining;
	uint64_t max_body;
	size_t max_trailer_bytes, max_trailers;
	size_t scan_line, scan_pos;
};

/* Prepares b for a body framed as given (a request's or response's
 * framing and content_length). limits may be NULL for the defaults; its
 * max_body_bytes bounds the decoded size for every framing (413). */
void aigw_http_body_init(struct aigw_http_body *b, int framing,
			 uint64_t content_length,
			 const struct aigw_http_limits *limits);

/* Decodes from data[0..len), the bytes received after those consumed so
 * far. Sets *consumed (bytes the caller may drop) and *piece (body bytes,
 * possibly none, within data[0..*consumed)). Hands back at most one piece
 * per call.
 *
 * Returns 0 when the body is complete (*consumed then ends right after it:
 * a pipelined message may follow), AIGW_AGAIN when it is not: call again
 * with the rest if *consumed > 0 and bytes remain, else once more bytes
 * arrive. Returns AIGW_EINVAL on malformed framing (400, close) or a body
 * over the limit (413, close); trailer problems are reported as for a head
 * (400 or 431). */
int aigw_http_body_decode(struct aigw_http_body *b, const char *data,
			  size_t len, size_t *consumed,
			  struct aigw_http_slice *piece,
			  struct aigw_http_error *error);

/* The loop around aigw_http_body_decode for callers that want the body in
 * one buffer: decodes all it can from data[0..len), appending to out. Same
 * return values; *consumed covers every call. */
int aigw_http_body_append(struct aigw_http_body *b, const char *data,
			  size_t len, size_t *consumed, struct aigw_buf *out,
			  struct aigw_http_error *error);

/* True once the body has ended (never for a close-delimited one). */
bool aigw_http_body_done(const struct aigw_http_body *b);

/* Called when the peer closed the connection: returns 0 when the body is
 * complete (or is close-delimited, which ends here), else AIGW_EINVAL
 * ("truncated body"). */
int aigw_http_body_eof(struct aigw_http_body *b, struct aigw_http_error *error);

/* ------------------------------------------------------------ writers */

/* The reason phrase of a status code ("Not Found"), or "" for codes
 * without one. */
const char *aigw_http_status_text(int status);

/* Appends "HTTP/1.1 <status> <reason>\r\n". Returns AIGW_EINVAL (and
 * appends nothing) unless 100 <= status <= 599. */
int aigw_http_write_status(struct aigw_buf *out, int status);

/* Appends "name: value\r\n". Returns AIGW_EINVAL (and appends nothing)
 * when name is not a token or value holds CR, LF or another control
 * character: forwarded values cannot split the response. */
int aigw_http_write_header(struct aigw_buf *out, const char *name,
			   size_t name_len, const char *value,
			   size_t value_len);

/* Appends a whole response head: the status line, the name/value string
 * pairs that follow status (ended by NULL), and the blank line.
 *   aigw_http_response_head(&out, 200, "Content-Type", "text/plain",
 *                           "Content-Length", "2", NULL);
 * Returns AIGW_EINVAL (and appends nothing) when a write above would. */
int aigw_http_response_head(struct aigw_buf *out, int status, ...)
	__attribute__((sentinel));

/* Appends one chunk of a chunked body: hex size, CRLF, data, CRLF. An empty
 * piece appends nothing, since a zero-size chunk would end the body. */
void aigw_http_write_chunk(struct aigw_buf *out, const void *data, size_t len);

/* Appends the last chunk and the empty trailer section: "0\r\n\r\n". */
void aigw_http_write_last_chunk(struct aigw_buf *out);

#endif
