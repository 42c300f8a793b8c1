/* server: the HTTP/1.1 server core that `aigw serve` and `aigw mock` run on.
 *
 * `workers` threads, each with its own ev loop and its own SO_REUSEPORT
 * listener; a connection lives and dies on the worker that accepted it, so
 * nothing on the request path takes a lock. The server reads and checks
 * requests (lib/http.c does the parsing: limits, smuggling defences), reads
 * the whole body, then hands the request to one handler callback. The
 * handler answers at once or later (from a timer or another fd callback on
 * the same worker), in one piece or as a stream with backpressure:
 *
 *   - aigw_server_respond(): status, headers, body, done;
 *   - aigw_server_stream_start() / _write() / _finish(): the body in pieces
 *     (chunked unless a Content-Length is given). _write() says when the
 *     connection's output buffer is above the high-water mark: the producer
 *     pauses (the gateway pauses its libcurl transfer) until the "drained"
 *     callback says the buffer fell below the low-water mark;
 *   - the "aborted" callback says the client went away first (the gateway
 *     aborts its upstream transfer).
 *
 * Pipelined requests are answered strictly in order: the next one is
 * parsed only after the current response has been finished and sent.
 * Errors the server answers itself (parse errors, timeouts) use OpenAI's
 * error shape {"error":{"message","type","code"}}.
 *
 * Memory: a connection waiting between requests keeps no buffer at all
 * (buffers go back to a per-worker free list), so idle keep-alive
 * connections cost a few hundred bytes each. Each request has an aigw_pool
 * that dies with it.
 *
 * The head of a streamed response (aigw_server_stream_start) waits for the
 * first piece of the body so that both leave in one send; a head no body
 * joins is sent before the loop next sleeps, never later.
 *
 * The server owns the wakeup handler and the before-sleep hook of its
 * loops; handlers may use everything else of the loop (fds, timers). */
#ifndef AIGW_SERVER_H
#define AIGW_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ev.h"
#include "http.h"
#include "pool.h"

struct aigw_server;
struct aigw_server_req;

/* Called on a worker thread for every complete request (head and body).
 * The handler owns req until it finishes the response (respond or
 * stream_finish) or until the aborted callback has run. */
typedef void aigw_server_handler_fn(struct aigw_server_req *req, void *arg);

/* Called on each worker thread before its loop runs (to create per-worker
 * state such as a curl multi handle on that loop). Whatever it stores in
 * *worker_data is passed to every request of that worker
 * (req->worker_data) and to the fini callback. Returns 0, or an AIGW_E*
 * code with err filled: the server then stops and aigw_server_run()
 * returns that error. */
typedef int aigw_server_worker_init_fn(struct aigw_server *server, struct aigw_ev *ev,
				       int worker, void *arg, void **worker_data,
				       struct aigw_err *err);
/* Called on the worker thread after its loop has ended and every
 * connection of the worker is closed. */
typedef void aigw_server_worker_fini_fn(struct aigw_server *server, struct aigw_ev *ev,
					int worker, void *arg, void *worker_data);

/* Callbacks of a request in flight (see aigw_server_on_drained and
 * aigw_server_on_aborted). */
typedef void aigw_server_req_fn(struct aigw_server_req *req, void *arg);

struct aigw_server_config {
	const char *listen;   /* "127.0.0.1:8000", "[::1]:0", ":8080" (copied) */
	int workers;          /* threads; 0: one per online core */
	int backlog;          /* listen backlog; 0: SOMAXCONN */
	struct aigw_http_limits limits;
	uint64_t header_timeout_ms; /* first byte of a request to end of head: 408 */
	uint64_t body_timeout_ms;   /* end of head to end of body: 408 */
	uint64_t idle_timeout_ms;   /* keep-alive wait for the next request: close */
	uint64_t send_timeout_ms;   /* output stuck (client not reading): abort */
	size_t max_connections;     /* over all workers; 0: unlimited */
	size_t high_water;          /* output bytes above which writes say "full" */
	size_t low_water;           /* output bytes below which "drained" fires */
	bool date_header;           /* send Date on every response */

	aigw_server_handler_fn *handler;
	void *handler_arg;
	aigw_server_worker_init_fn *worker_init; /* optional */
	aigw_server_worker_fini_fn *worker_fini; /* optional */
	void *worker_arg;
};

/* Fills c with the defaults: 127.0.0.1:8000, one worker per core, the
 * http limits of aigw_http_limits_init, timeouts 10 s / 30 s / 60 s / 60 s,
 * no connection limit, water marks 64 KiB / 16 KiB, Date on. The caller
 * sets at least handler. */
void aigw_server_config_init(struct aigw_server_config *c);

/* ------------------------------------------------------------ requests */

/* A request as the handler sees it. Every field is read-only for the
 * handler except user. Slices point into the connection's buffer and stay
 * valid until the request ends. */
struct aigw_server_req {
	int method;                          /* enum aigw_http_method */
	struct aigw_http_slice method_name;
	struct aigw_http_slice target;       /* path and query as sent */
	struct aigw_http_slice path;
	struct aigw_http_slice query;        /* ptr NULL when there is no '?' */
	const struct aigw_http_request *http; /* the whole parsed head */
	const char *body;                    /* decoded body (not NUL-terminated) */
	size_t body_len;
	const char *peer;                    /* client address: "127.0.0.1" */
	struct aigw_pool *pool;              /* freed when the request ends */
	struct aigw_ev *ev;                  /* the worker's loop */
	int worker;                          /* 0 .. workers - 1 */
	void *worker_data;                   /* from worker_init */
	uint64_t start_us;                   /* ev time of the head's first byte */
	void *user;                          /* free for the handler */
	/* Set before the aborted callback when the server itself ended the
	 * request (the drain's grace period ran out, or the server stopped)
	 * rather than the client leaving. */
	bool cut_by_server;
};

/* The value of the first header called name (case-insensitive), or NULL. */
const struct aigw_http_slice *aigw_server_req_header(const struct aigw_server_req *req,
						     const char *name);

/* ------------------------------------------------------------ responding */

/* The headers argument of the functions below is zero or more complete
 * field lines, each "Name: value\r\n" (aigw_http_write_header builds and
 * checks them; a constant string is fine), or NULL. The server writes
 * Content-Length or Transfer-Encoding, Connection and Date itself: headers
 * must not contain them. */

/* Answers with the whole response and ends the request: req and its pool
 * must not be used after this call. The body is copied only as far as the
 * socket does not take it at once. HEAD requests get the head only.
 * Returns 0; AIGW_EFAIL when the client is already gone (the request ends
 * all the same); AIGW_EINVAL for a status outside 200..599 or a request
 * whose response was already started. */
int aigw_server_respond(struct aigw_server_req *req, int status, const char *headers,
			size_t headers_len, const void *body, size_t body_len);

/* aigw_server_respond() with an error body in OpenAI's shape:
 * {"error":{"message":message,"type":type,"code":code}}. type NULL gives
 * "invalid_request_error" for 4xx and "server_error" for 5xx; code NULL
 * gives a name derived from the status ("not_found"). headers as above
 * (for Retry-After, Allow). */
int aigw_server_respond_error(struct aigw_server_req *req, int status, const char *headers,
			      size_t headers_len, const char *type, const char *code,
			      const char *message);

/* Sends the response head and starts a streamed body: chunked, or raw
 * bytes when content_length >= 0 (then exactly that many must follow), or
 * close-delimited for an HTTP/1.0 client. Returns 0, AIGW_EFAIL when the
 * client is gone (the aborted callback follows unless the handler
 * finishes first), AIGW_EINVAL as for respond. */
int aigw_server_stream_start(struct aigw_server_req *req, int status, const char *headers,
			     size_t headers_len, int64_t content_length);

/* What stream_write returns when the output buffer is above the high-water
 * mark: the data was taken, but the producer should pause until the
 * drained callback. */
#define AIGW_SERVER_FULL 1

/* Sends one piece of the body (as one chunk when chunked; an empty piece
 * sends nothing). Writes go to the socket at once when it takes them; the
 * rest waits in the connection's output buffer. Returns 0, or
 * AIGW_SERVER_FULL (see above), AIGW_EFAIL when the client is gone (the
 * aborted callback follows unless the handler finishes first), AIGW_EINVAL
 * when no stream was started or a Content-Length would be exceeded. */
int aigw_server_stream_write(struct aigw_server_req *req, const void *data, size_t len);

/* Ends the streamed body (the last chunk when chunked) and the request:
 * req and its pool must not be used after this call. A Content-Length
 * stream that is short is cut off by closing the connection (the client
 * sees the truncation). Returns 0, AIGW_EFAIL when the client is gone. */
int aigw_server_stream_finish(struct aigw_server_req *req);

/* Bytes waiting in the connection's output buffer. */
size_t aigw_server_req_pending(const struct aigw_server_req *req);

/* Sets fn(req, arg) to be called (on the worker thread, from the loop)
 * each time the output buffer falls below the low-water mark after a write
 * returned AIGW_SERVER_FULL. NULL removes it. */
void aigw_server_on_drained(struct aigw_server_req *req, aigw_server_req_fn *fn, void *arg);

/* Sets fn(req, arg) to be called when the client goes away (or the server
 * stops past its grace period) before the response is finished. It is
 * called from the loop, never from inside a call the handler made; after it
 * returns the request is freed (the pool's cleanups run). A handler that
 * answers asynchronously must set it (or a pool cleanup) to cancel its
 * pending work. */
void aigw_server_on_aborted(struct aigw_server_req *req, aigw_server_req_fn *fn, void *arg);

/* ------------------------------------------------------------ the server */

/* Creates a server and binds its listeners (one per worker, SO_REUSEPORT;
 * with port 0 the first picks the port and the others share it), so that a
 * port in use is reported here and the port is known before running.
 * Returns 0 and stores the server in *out, or AIGW_EINVAL (bad config) /
 * AIGW_EFAIL (cannot listen: "cannot listen on 127.0.0.1:80: Permission
 * denied") with err filled in. */
int aigw_server_new(struct aigw_server **out, const struct aigw_server_config *config,
		    struct aigw_err *err);

/* Frees a server that is not running (never run, or run returned). NULL
 * is a no-op. */
void aigw_server_free(struct aigw_server *s);

/* The bound address as "127.0.0.1:43123" or "[::1]:43123". */
const char *aigw_server_address(const struct aigw_server *s);
int aigw_server_port(const struct aigw_server *s);
int aigw_server_workers(const struct aigw_server *s);

/* Runs the workers and waits for them: returns after aigw_server_stop()
 * has drained them. Call once. Returns 0, or the error of a worker whose
 * init callback or loop failed (err filled). */
int aigw_server_run(struct aigw_server *s, struct aigw_err *err);

/* Graceful stop: every worker closes its listener and its idle
 * connections, lets requests in flight finish (their responses say
 * Connection: close) for up to grace_ms, then aborts what is left, and
 * aigw_server_run() returns. Callable from any thread, before or during
 * run, any number of times (a later call with a shorter grace shortens
 * it). Only atomics and eventfd writes: async-signal-safe. */
void aigw_server_stop(struct aigw_server *s, uint64_t grace_ms);

/* Counters summed over the workers; readable from any thread at any time
 * (relaxed atomics: each is exact, together they are a near snapshot). */
struct aigw_server_stats {
	uint64_t connections; /* open now */
	uint64_t accepted;    /* connections ever accepted */
	uint64_t requests;    /* responses finished */
	uint64_t in_flight;   /* handed to the handler and not finished */
};
void aigw_server_stats(const struct aigw_server *s, struct aigw_server_stats *out);

#endif
