/* upstream: HTTP transfers to nodes, through libcurl's multi-socket API
 * driven by a worker's ev loop (CURLMOPT_SOCKETFUNCTION registers curl's
 * sockets with the reactor, CURLMOPT_TIMERFUNCTION arms one reactor timer).
 *
 * One aigw_upstream per worker thread: its multi handle keeps the
 * connection cache, so connections to each node are reused across
 * requests, and HTTP/2 is used (multiplexed) with upstreams that offer it
 * over TLS. TLS peers are verified. A transfer streams its response to the
 * caller piece by piece; the caller may pause it (backpressure: the bytes
 * stay in libcurl and the socket is not read) and resume it, or abort it
 * at once (the client went away).
 *
 * Two transports sit behind this interface: plain http:// nodes are
 * spoken to by a built-in HTTP/1.1 client on the same loop (a keep-alive
 * pool per host:port, lib/http's strict response parser), https:// nodes
 * through libcurl (TLS, HTTP/2). libcurl's own work per request was
 * measured (callgrind) at more than all of nginx's per proxied request;
 * over TLS it is small next to the cryptography. */
#ifndef AIGW_UPSTREAM_H
#define AIGW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ev.h"
#include "str.h"

struct aigw_upstream;
struct aigw_xfer;

/* How a transfer ended. */
enum aigw_xfer_outcome {
	AIGW_XFER_OK,       /* a complete response (any status) */
	AIGW_XFER_CONNECT,  /* could not connect (refused, unreachable, DNS) */
	AIGW_XFER_TIMEOUT,  /* a timeout expired */
	AIGW_XFER_FAILED,   /* anything else: reset, malformed response, TLS */
};

struct aigw_xfer_result {
	enum aigw_xfer_outcome outcome;
	char message[256];     /* libcurl's reason when not OK */
	bool head_received;    /* did a response head arrive (bytes reached us)? */
	uint64_t ttfb_us;      /* start to response head; 0 if none */
	uint64_t total_us;     /* start to end */
	uint64_t bytes_in;     /* response body bytes delivered */
};

struct aigw_xfer_ops {
	/* The response head: status and header lines ("Name: value", no CRLF).
	 * 1xx interim heads are not reported. Return 0 to go on; anything else
	 * aborts the transfer (on_done then reports AIGW_XFER_FAILED). */
	int (*on_head)(struct aigw_xfer *x, int status, const struct aigw_strv *headers,
		       void *arg);
	/* Body bytes. Return 0 when all were taken, or AIGW_AGAIN to pause:
	 * then none of these bytes are taken, the socket is no longer read,
	 * and the same bytes come again after aigw_upstream_resume. */
	int (*on_data)(struct aigw_xfer *x, const char *data, size_t len, void *arg);
	/* The end. x is freed after this returns. Not called after abort. */
	void (*on_done)(struct aigw_xfer *x, const struct aigw_xfer_result *res, void *arg);
};

struct aigw_xfer_request {
	const char *method;               /* "GET", "POST", ... */
	const char *url;
	const char *fields;               /* header lines "Name: value\r\n"; may be NULL */
	size_t fields_len;
	const void *body;                 /* borrowed until on_done or abort */
	size_t body_len;
	int64_t connect_timeout_ms;       /* 0: 10 s */
	int64_t timeout_ms;               /* whole transfer; 0: none */
	const struct aigw_xfer_ops *ops;
	void *arg;
	/* Outbound HTTP proxy "http://host:port" (the account's), or NULL.
	 * http:// requests go to it in absolute form ("POST http://node/path
	 * HTTP/1.1"), on keep-alive connections pooled apart from direct
	 * ones; https:// requests tunnel through it with CONNECT (libcurl).
	 * Copied before aigw_upstream_start returns. */
	const char *proxy;
	/* false: http:// goes through the built-in HTTP/1.1 client and
	 * https:// through libcurl; true: libcurl for both. */
	bool force_curl;
};

/* Creates the upstream of one worker on its loop. */
struct aigw_upstream *aigw_upstream_new(struct aigw_ev *ev, struct aigw_err *err);
/* Aborts every live transfer (no callbacks) and frees. NULL is a no-op. */
void aigw_upstream_free(struct aigw_upstream *u);

/* Starts a transfer. The request's strings are copied or handed to libcurl
 * before this returns, except body (borrowed). Callbacks run on the loop. */
int aigw_upstream_start(struct aigw_upstream *u, const struct aigw_xfer_request *req,
			struct aigw_xfer **out, struct aigw_err *err);
/* Resumes a paused transfer. Pending bytes may be delivered to on_data
 * before this returns. */
void aigw_upstream_resume(struct aigw_xfer *x);
/* Stops a transfer now: the connection is dropped and no more callbacks
 * come. Safe to call from inside the transfer's own callbacks. */
void aigw_upstream_abort(struct aigw_xfer *x);
/* Transfers in progress. */
size_t aigw_upstream_active(const struct aigw_upstream *u);

#endif
