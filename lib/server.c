/* server: see server.h.
 *
 * A connection is a small state machine driven by its fd callback, its one
 * timer and the handler's calls:
 *
 *   IDLE --first byte--> HEAD --head parsed--> BODY --body read--> ACTIVE
 *     ^                                                               |
 *     |                                             handler finished  v
 *     +------------ output sent, keep-alive, nothing buffered ------ FLUSH
 *                   (pipelined bytes buffered: straight to HEAD)
 *
 * and CLOSING for a connection that answered for the last time: its output
 * is flushed, its write side shut, and what the client still sends is read
 * and dropped for a short while (a lingering close), so that closing with
 * unread input does not make the kernel reset the connection before the
 * client has read the answer.
 *
 * The input buffer holds the current request at offset 0: the head, then
 * the body (a chunked body is decoded in place: the decoded bytes are moved
 * down over the framing, which is always longer), then whatever the client
 * pipelined after it. The head's slices point into the buffer, so once the
 * head is parsed the buffer only grows by moving (the head is parsed again
 * before the handler sees it if it moved).
 *
 * Memory safety around callbacks: every function that calls the handler's
 * code or may close the connection holds a reference (busy); closing marks
 * the connection closed and unlinks it, and the memory goes when the last
 * reference is dropped. The aborted callback is only ever called from the
 * loop (fd callback or timer), never from inside a call the handler made:
 * a write that finds the client gone schedules it with a zero timer. */
#include "server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mem.h"

/* An input buffer of this size serves nearly every request; buffers of
 * exactly this size are recycled through a per-worker free list. */
#define IN_BLOCK 4096
/* Room kept after a Content-Length body, so that pipelined bytes and the
 * client's EOF can still be read while the handler works. */
#define IN_SLACK 1024
#define FREE_BUFS_MAX 64
#define FREE_REQS_MAX 64
#define REQ_POOL_BLOCK 4096
/* Accepts per readiness event: the listener stays ready (level-triggered)
 * if more are queued, and established connections get their turn. */
#define ACCEPT_BATCH 64
/* Out of fds: stop accepting for this long instead of spinning on a
 * listener that stays readable. */
#define ACCEPT_PAUSE_US 100000
/* Lingering close: read and drop at most this much for at most this long. */
#define LINGER_US 1000000
#define LINGER_BYTES (256 * 1024)
/* Bodies up to this size are copied behind the head and sent with it. */
#define SMALL_BODY 8192
/* The most pieces one conn_send() is given (a chunk: size line, data,
 * CRLF); a held head makes one more. */
#define SEND_IOV_MAX 3

enum conn_state { C_IDLE, C_HEAD, C_BODY, C_ACTIVE, C_FLUSH, C_CLOSING };

/* What the connection's one timer is armed for. */
enum timer_kind { T_NONE, T_HEADER, T_BODY, T_IDLE, T_SEND, T_LINGER, T_ABORT };

/* How the body of the response being sent is framed. */
enum resp_framing { F_NONE, F_LENGTH, F_CHUNKED, F_CLOSE };

enum resp_state { R_NONE, R_STREAM };

struct worker;
struct conn;

struct request {
	struct aigw_server_req pub;
	struct request *next_free;
	struct conn *conn;
	struct aigw_http_request http;
	struct aigw_http_body body;
	size_t body_len;   /* decoded bytes, at in + http.head_len */
	size_t raw_off;    /* next undecoded byte of the input buffer */
	bool moved;        /* the input buffer moved after the head was parsed */
	bool dispatched;   /* the handler has it (counted in flight) */
	bool in_handler;   /* inside the handler call itself */
	bool want_drain;   /* a write said FULL: call drained when low */
	int resp;          /* enum resp_state */
	int framing;       /* enum resp_framing */
	uint64_t remaining; /* F_LENGTH: bytes still owed */
	bool head_only;    /* HEAD, 204, 304: no body bytes go out */
	aigw_server_req_fn *drained_fn, *aborted_fn;
	void *drained_arg, *aborted_arg;
};

struct conn {
	struct worker *w;
	struct conn *prev, *next;
	int fd;            /* -1 once the socket is closed */
	int state;         /* enum conn_state */
	int busy;          /* references held by frames on the stack */
	bool closed;       /* unlinked; freed when busy drops to 0 */
	bool keep_alive;   /* for the request being answered */
	bool reading;      /* READ interest is registered */
	bool writing;      /* WRITE interest is registered */
	bool peer_eof;     /* the client shut its side */
	bool shut;         /* our write side is shut (lingering) */
	bool held;         /* out holds a response head not sent yet */
	struct conn *held_next; /* the worker's held list (holds a busy ref) */
	char *in;
	size_t in_len, in_cap;
	size_t req_end;    /* end of the current request's bytes in in */
	size_t lingered;   /* bytes dropped while lingering */
	struct aigw_buf out;
	size_t out_off;
	struct request *req;
	struct aigw_ev_timer timer;
	int timer_kind;
	char peer[INET6_ADDRSTRLEN];
};

/* Counters written by one worker only and read by any thread. */
struct counters {
	atomic_uint_fast64_t connections, accepted, requests, in_flight;
};

struct worker {
	struct aigw_server *s;
	int index;
	struct aigw_ev *ev;
	int listen_fd;
	bool accepting;
	bool accept_starved; /* out of fds: accepts paused */
	pthread_t thread;
	bool started;
	void *data;
	struct conn *conns;
	size_t n_conns;
	struct conn *held; /* conns whose response head waits in out */
	char *free_bufs[FREE_BUFS_MAX];
	int n_free_bufs;
	struct request *free_reqs;
	int n_free_reqs;
	struct aigw_buf scratch; /* response heads, error bodies */
	char date[64];           /* "Date: ...\r\n" */
	size_t date_len;
	time_t date_sec;
	struct aigw_ev_timer accept_timer, grace_timer;
	bool draining;
	uint64_t grace_deadline_us;
	struct counters n;
	char pad[64];            /* keeps workers' counters off shared lines */
};

struct aigw_server {
	struct aigw_server_config cfg;
	char *listen;
	struct worker *workers;
	int n_workers;
	atomic_bool stopping;
	atomic_uint_fast64_t grace_ms;
	atomic_size_t total_conns; /* kept only when max_connections is set */
	char address[80];
	int port;
	bool ran;
	pthread_mutex_t err_lock;
	int rc;
	struct aigw_err err;
};

static void conn_progress(struct conn *c);
static void conn_close(struct conn *c);

/* ------------------------------------------------------------ helpers */

static void counter_add(atomic_uint_fast64_t *v, int64_t d)
{
	/* One writer per counter: a plain load and store, no locked op. */
	uint_fast64_t cur = atomic_load_explicit(v, memory_order_relaxed);
	atomic_store_explicit(v, cur + (uint_fast64_t)d, memory_order_relaxed);
}

static const char *errno_text(int e, char *buf, size_t n)
{
	return strerror_r(e, buf, n);
}

static struct request *req_of(struct aigw_server_req *pub)
{
	return (struct request *)((char *)pub - offsetof(struct request, pub));
}

static size_t pending(const struct conn *c)
{
	return c->out.len - c->out_off;
}

/* JSON string contents: quotes, backslashes and control characters
 * escaped; other bytes as they are. */
static void json_escape(struct aigw_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			aigw_buf_putc(b, '\\');
			aigw_buf_putc(b, (char)ch);
		} else if (ch < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] };
			aigw_buf_append(b, e, sizeof(e));
		} else {
			aigw_buf_putc(b, (char)ch);
		}
	}
}

static const char *status_code_name(int status)
{
	switch (status) {
	case 400: return "bad_request";
	case 401: return "unauthorized";
	case 403: return "forbidden";
	case 404: return "not_found";
	case 405: return "method_not_allowed";
	case 408: return "request_timeout";
	case 409: return "conflict";
	case 413: return "request_too_large";
	case 415: return "unsupported_media_type";
	case 417: return "expectation_failed";
	case 422: return "unprocessable_entity";
	case 429: return "rate_limit_exceeded";
	case 431: return "request_header_fields_too_large";
	case 500: return "internal_error";
	case 501: return "not_implemented";
	case 502: return "bad_gateway";
	case 503: return "service_unavailable";
	case 504: return "gateway_timeout";
	case 505: return "http_version_not_supported";
	default: return status >= 500 ? "server_error" : "error";
	}
}

static void error_body(struct aigw_buf *b, int status, const char *type, const char *code,
		       const char *message)
{
	if (!type)
		type = status >= 500 ? "server_error" : "invalid_request_error";
	if (!code)
		code = status_code_name(status);
	aigw_buf_puts(b, "{\"error\":{\"message\":\"");
	json_escape(b, message ? message : aigw_http_status_text(status));
	aigw_buf_puts(b, "\",\"type\":\"");
	json_escape(b, type);
	aigw_buf_puts(b, "\",\"code\":\"");
	json_escape(b, code);
	aigw_buf_puts(b, "\"}}\n");
}

/* The cached Date line, rebuilt when the second changes. */
static void update_date(struct worker *w)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec == w->date_sec && w->date_len)
		return;
	w->date_sec = ts.tv_sec;
	gmtime_r(&ts.tv_sec, &tm);
	w->date_len = strftime(w->date, sizeof(w->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
}

/* ------------------------------------------------------------ config */

void aigw_server_config_init(struct aigw_server_config *c)
{
	memset(c, 0, sizeof(*c));
	c->listen = "127.0.0.1:8000";
	aigw_http_limits_init(&c->limits);
	c->header_timeout_ms = 10000;
	c->body_timeout_ms = 30000;
	c->idle_timeout_ms = 60000;
	c->send_timeout_ms = 60000;
	c->high_water = 64 * 1024;
	c->low_water = 16 * 1024;
	c->date_header = true;
}

/* ------------------------------------------------------------ buffers */

static void in_release(struct conn *c)
{
	struct worker *w = c->w;

	if (!c->in)
		return;
	if (c->in_cap == IN_BLOCK && w->n_free_bufs < FREE_BUFS_MAX)
		w->free_bufs[w->n_free_bufs++] = c->in;
	else
		free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
}

static void in_acquire(struct conn *c)
{
	struct worker *w = c->w;

	if (c->in)
		return;
	c->in = w->n_free_bufs ? w->free_bufs[--w->n_free_bufs] : aigw_malloc(IN_BLOCK);
	c->in_cap = IN_BLOCK;
	c->in_len = 0;
}

/* Moves the input into a buffer of cap bytes (cap > in_len). */
static void in_resize(struct conn *c, size_t cap)
{
	char *n = aigw_malloc(cap);
	size_t len = c->in_len;

	memcpy(n, c->in, len);
	in_release(c);
	c->in = n;
	c->in_cap = cap;
	c->in_len = len;
	if (c->req && c->state != C_HEAD)
		c->req->moved = true;
}

/* ------------------------------------------------------------ requests */

/* Gives the connection a request object for a new request (the one it
 * already has is reused between pipelined requests). */
static struct request *req_begin(struct conn *c)
{
	struct worker *w = c->w;
	struct request *r = c->req;

	if (!r) {
		r = w->free_reqs;
		if (r) {
			w->free_reqs = r->next_free;
			w->n_free_reqs--;
		} else {
			r = aigw_calloc(1, sizeof(*r));
			r->pub.pool = aigw_pool_new(REQ_POOL_BLOCK);
		}
		c->req = r;
	}
	r->conn = c;
	aigw_http_request_init(&r->http);
	r->body_len = r->raw_off = 0;
	r->moved = r->dispatched = r->in_handler = r->want_drain = false;
	r->resp = R_NONE;
	r->framing = F_NONE;
	r->remaining = 0;
	r->head_only = false;
	r->drained_fn = r->aborted_fn = NULL;
	r->drained_arg = r->aborted_arg = NULL;
	r->pub.user = NULL;
	r->pub.start_us = aigw_ev_now_us(w->ev);
	return r;
}

/* Ends the request's life: the pool's cleanups run now. */
static void req_reset(struct request *r)
{
	aigw_pool_reset(r->pub.pool);
	r->dispatched = false;
	r->drained_fn = r->aborted_fn = NULL;
	r->pub.user = NULL;
}

static void req_release(struct conn *c)
{
	struct worker *w = c->w;
	struct request *r = c->req;

	if (!r)
		return;
	c->req = NULL;
	req_reset(r);
	if (w->n_free_reqs < FREE_REQS_MAX) {
		r->next_free = w->free_reqs;
		w->free_reqs = r;
		w->n_free_reqs++;
	} else {
		aigw_pool_free(r->pub.pool);
		free(r);
	}
}

/* ------------------------------------------------------------ timers */

/* Arms the connection's timer for kind; a timeout of 0 means none. */
static void set_timer(struct conn *c, int kind, uint64_t ms)
{
	if (!ms && kind != T_ABORT) {
		c->timer_kind = T_NONE;
		aigw_ev_timer_stop(c->w->ev, &c->timer);
		return;
	}
	c->timer_kind = kind;
	aigw_ev_timer_start(c->w->ev, &c->timer, ms * 1000);
}

static void clear_timer(struct conn *c)
{
	c->timer_kind = T_NONE;
	aigw_ev_timer_stop(c->w->ev, &c->timer);
}

/* ------------------------------------------------------------ io interest */

static void on_conn_io(struct aigw_ev *ev, int fd, int mask, void *arg);

static void want_read(struct conn *c, bool on)
{
	if (c->fd < 0 || c->reading == on)
		return;
	c->reading = on;
	if (on)
		aigw_ev_add(c->w->ev, c->fd, AIGW_EV_READ, on_conn_io, c, NULL);
	else
		aigw_ev_del(c->w->ev, c->fd, AIGW_EV_READ);
}

static void want_write(struct conn *c, bool on)
{
	if (c->fd < 0 || c->writing == on)
		return;
	c->writing = on;
	if (on)
		aigw_ev_add(c->w->ev, c->fd, AIGW_EV_WRITE, on_conn_io, c, NULL);
	else
		aigw_ev_del(c->w->ev, c->fd, AIGW_EV_WRITE);
}

/* ------------------------------------------------------------ writing */

/* Shuts the socket without giving up the connection object: a request in
 * flight still has to be told (by the aborted callback). */
static void conn_kill_io(struct conn *c)
{
	if (c->fd < 0)
		return;
	aigw_ev_del(c->w->ev, c->fd, AIGW_EV_READ | AIGW_EV_WRITE);
	close(c->fd);
	c->fd = -1;
	c->reading = c->writing = false;
}

/* A call from the handler found the client gone: I/O stops now; the
 * aborted callback (or the close) comes from the loop. */
static void conn_broken_in_call(struct conn *c)
{
	conn_kill_io(c);
	if (c->timer_kind != T_ABORT)
		set_timer(c, T_ABORT, 0);
}

static void out_queued(struct conn *c)
{
	want_write(c, true);
	if (c->timer_kind == T_NONE && c->w->s->cfg.send_timeout_ms)
		set_timer(c, T_SEND, c->w->s->cfg.send_timeout_ms);
}

/* Sends iov; what the socket does not take waits in the output buffer.
 * Returns 0, or AIGW_EFAIL when the connection is broken (the caller
 * decides how to react). */
static int conn_send(struct conn *c, struct iovec *iov, int n)
{
	struct iovec all[1 + SEND_IOV_MAX];
	struct msghdr msg;
	size_t total = 0, skip, head = 0;
	ssize_t k;

	if (c->fd < 0)
		return AIGW_EFAIL;
	assert(n >= 1 && n <= SEND_IOV_MAX);
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (pending(c) && !c->held) {
		for (int i = 0; i < n; i++)
			aigw_buf_append(&c->out, iov[i].iov_base, iov[i].iov_len);
		return 0;
	}
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)n;
	if (c->held) {
		/* The held head goes first, in the same send. The list entry
		 * stays until the before-sleep hook drops it. */
		c->held = false;
		head = pending(c);
		all[0].iov_base = c->out.data + c->out_off;
		all[0].iov_len = head;
		memcpy(all + 1, iov, (size_t)n * sizeof(*iov));
		msg.msg_iov = all;
		msg.msg_iovlen = (size_t)n + 1;
	}
	do
		k = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
	while (k < 0 && errno == EINTR);
	if (k < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return AIGW_EFAIL;
		k = 0;
	}
	if (head) {
		if ((size_t)k < head) {
			c->out_off += (size_t)k;
			k = 0;
		} else {
			aigw_buf_reset(&c->out);
			c->out_off = 0;
			k -= (ssize_t)head;
		}
	}
	if ((size_t)k == total) {
		if (pending(c))
			out_queued(c);
		return 0;
	}
	skip = (size_t)k;
	for (int i = 0; i < n; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		aigw_buf_append(&c->out, (const char *)iov[i].iov_base + skip,
				iov[i].iov_len - skip);
		skip = 0;
	}
	out_queued(c);
	return 0;
}

/* Keeps the head of a streamed answer in out until the first piece of
 * the body: both then leave in one send (conn_send) instead of two, which
 * for a relayed answer is one system call and one client wake-up less. A
 * head still held when the loop is about to sleep is sent then
 * (flush_held), so holding never delays it past the current iteration. */
static void hold_head(struct conn *c)
{
	struct worker *w = c->w;

	c->held = true;
	c->busy++;
	c->held_next = w->held;
	w->held = c;
}

static int conn_flush(struct conn *c);

/* Sends a held head now, alone. Returns 0 or AIGW_EFAIL. */
static int release_held(struct conn *c)
{
	if (!c->held)
		return 0;
	c->held = false;
	if (conn_flush(c))
		return AIGW_EFAIL;
	if (pending(c))
		out_queued(c);
	return 0;
}

static void conn_close(struct conn *c);
static void conn_unref(struct conn *c);

/* The before-sleep hook: heads held during this iteration go out. */
static void flush_held(struct aigw_ev *ev, void *arg)
{
	struct worker *w = arg;
	struct conn *c = w->held;

	(void)ev;
	w->held = NULL;
	while (c) {
		struct conn *next = c->held_next;
		if (!c->closed && c->fd >= 0 && release_held(c))
			conn_close(c);
		c->held = false;
		conn_unref(c);
		c = next;
	}
}

/* Writes out what the output buffer holds. Returns 0 or AIGW_EFAIL. */
static int conn_flush(struct conn *c)
{
	bool progress = false;

	while (pending(c)) {
		ssize_t k = send(c->fd, c->out.data + c->out_off, pending(c), MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return AIGW_EFAIL;
		}
		c->out_off += (size_t)k;
		progress = true;
	}
	if (!pending(c)) {
		aigw_buf_reset(&c->out);
		c->out_off = 0;
		want_write(c, false);
		if (c->timer_kind == T_SEND)
			clear_timer(c);
	} else if (progress && c->timer_kind == T_SEND) {
		set_timer(c, T_SEND, c->w->s->cfg.send_timeout_ms);
	}
	return 0;
}

/* Appends the response head to b. */
static void put_head(struct conn *c, struct request *r, struct aigw_buf *b, int status,
		     const char *headers, size_t headers_len)
{
	struct worker *w = c->w;
	char num[24];

	aigw_http_write_status(b, status);
	if (w->s->cfg.date_header) {
		update_date(w);
		aigw_buf_append(b, w->date, w->date_len);
	}
	if (headers_len)
		aigw_buf_append(b, headers, headers_len);
	switch (r->framing) {
	case F_LENGTH:
		aigw_buf_append(b, "Content-Length: ", 16);
		aigw_buf_append(b, num, aigw_u64_dec(num, r->remaining));
		aigw_buf_append(b, "\r\n", 2);
		break;
	case F_CHUNKED:
		aigw_buf_append(b, "Transfer-Encoding: chunked\r\n", 28);
		break;
	default:
		break;
	}
	if (!c->keep_alive)
		aigw_buf_append(b, "Connection: close\r\n", 19);
	else if (r->http.version_minor == 0)
		aigw_buf_append(b, "Connection: keep-alive\r\n", 24);
	aigw_buf_append(b, "\r\n", 2);
}

static bool bodiless_status(int status)
{
	return status == 204 || status == 304;
}

/* ------------------------------------------------------------ errors */

/* Begins the lingering close: our side is done; read and drop what the
 * client still sends until it closes or the time is up. */
static void conn_linger(struct conn *c)
{
	c->state = C_CLOSING;
	in_release(c);
	req_release(c);
	if (c->fd < 0 || c->peer_eof) {
		conn_close(c);
		return;
	}
	shutdown(c->fd, SHUT_WR);
	c->shut = true;
	want_read(c, true);
	set_timer(c, T_LINGER, LINGER_US / 1000);
}

/* Answers an error the server found itself (a refused head, a timeout)
 * and closes the connection. No request is with the handler. */
static void conn_error(struct conn *c, int status, const char *reason)
{
	struct worker *w = c->w;
	struct aigw_buf *b = &w->scratch;
	char num[24];
	struct aigw_buf body = AIGW_BUF_INIT;
	struct iovec iov[2];

	c->keep_alive = false;
	c->state = C_CLOSING;
	clear_timer(c);
	error_body(&body, status, NULL, NULL, reason);
	aigw_buf_reset(b);
	aigw_http_write_status(b, status);
	if (w->s->cfg.date_header) {
		update_date(w);
		aigw_buf_append(b, w->date, w->date_len);
	}
	aigw_buf_puts(b, "Content-Type: application/json\r\nContent-Length: ");
	aigw_buf_append(b, num, aigw_u64_dec(num, body.len));
	aigw_buf_puts(b, "\r\nConnection: close\r\n\r\n");
	iov[0].iov_base = b->data;
	iov[0].iov_len = b->len;
	iov[1].iov_base = body.data;
	iov[1].iov_len = body.len;
	if (conn_send(c, iov, 2)) {
		aigw_buf_release(&body);
		conn_close(c);
		return;
	}
	aigw_buf_release(&body);
	if (!pending(c))
		conn_linger(c);
}

/* ------------------------------------------------------------ close */

static void conn_free(struct conn *c)
{
	in_release(c);
	req_release(c);
	aigw_buf_release(&c->out);
	free(c);
}

static void worker_check_drained(struct worker *w)
{
	if (w->draining && w->n_conns == 0)
		aigw_ev_stop(w->ev);
}

/* Closes the connection for good, from the loop. A request still with the
 * handler is aborted: its aborted callback runs here, unless the handler
 * is on the stack (then dispatch() does it when the handler returns). */
static void conn_close(struct conn *c)
{
	struct worker *w = c->w;
	struct request *r = c->req;

	if (c->closed)
		return;
	c->closed = true;
	c->busy++;
	clear_timer(c);
	conn_kill_io(c);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->n_conns--;
	counter_add(&w->n.connections, -1);
	if (w->s->cfg.max_connections)
		atomic_fetch_sub_explicit(&w->s->total_conns, 1, memory_order_relaxed);
	if (r && r->dispatched && !r->in_handler) {
		r->dispatched = false;
		counter_add(&w->n.in_flight, -1);
		if (r->aborted_fn)
			r->aborted_fn(&r->pub, r->aborted_arg);
		req_release(c);
	}
	worker_check_drained(w);
	if (--c->busy == 0)
		conn_free(c);
}

static void conn_unref(struct conn *c)
{
	if (--c->busy == 0 && c->closed)
		conn_free(c);
}

/* ------------------------------------------------------------ handling */

/* The request is complete: hand it to the handler. Returns true when the
 * handler answered during the call (the caller goes on to FLUSH). */
static bool dispatch(struct conn *c)
{
	struct worker *w = c->w;
	struct aigw_server *s = w->s;
	struct request *r = c->req;
	struct aigw_server_req *p = &r->pub;

	clear_timer(c);
	c->state = C_ACTIVE;
	c->req_end = r->raw_off;
	if (r->moved) {
		size_t consumed;
		aigw_http_request_init(&r->http);
		aigw_http_parse_request(&r->http, c->in, c->in_len, &s->cfg.limits, &consumed, NULL);
		r->moved = false;
	}
	p->method = r->http.method;
	p->method_name = r->http.method_name;
	p->target = r->http.target;
	p->path = r->http.path;
	p->query = r->http.query;
	p->http = &r->http;
	p->body = c->in + r->http.head_len;
	p->body_len = r->body_len;
	p->peer = c->peer;
	p->ev = w->ev;
	p->worker = w->index;
	p->worker_data = w->data;
	c->keep_alive = r->http.keep_alive && !w->draining;
	r->head_only = r->http.method == AIGW_HTTP_HEAD;
	r->dispatched = true;
	counter_add(&w->n.in_flight, 1);

	r->in_handler = true;
	s->cfg.handler(p, s->cfg.handler_arg);
	r->in_handler = false;

	if (c->closed) {
		/* Closed from the loop while the handler ran (it cannot be
		 * closed by its own calls): abort now that it is off the stack. */
		if (r->dispatched) {
			r->dispatched = false;
			counter_add(&w->n.in_flight, -1);
			if (r->aborted_fn)
				r->aborted_fn(p, r->aborted_arg);
		}
		return false;
	}
	if (r->dispatched)
		return false; /* answers later */
	req_reset(r);
	if (c->fd < 0) {
		conn_close(c);
		return false;
	}
	c->state = C_FLUSH;
	return true;
}

/* Parses the head. Returns true when the state moved on. */
static bool parse_head(struct conn *c)
{
	struct aigw_server *s = c->w->s;
	struct request *r = c->req;
	struct aigw_http_error perr;
	size_t consumed;
	int rc;

	rc = aigw_http_parse_request(&r->http, c->in, c->in_len, &s->cfg.limits, &consumed, &perr);
	if (rc == AIGW_AGAIN)
		return false;
	if (rc) {
		/* 417 comes with a sound head; closing is simpler than skipping
		 * its body, and always allowed. */
		conn_error(c, perr.status, perr.reason);
		return false;
	}
	r->raw_off = consumed;
	r->body_len = 0;
	if (r->http.framing == AIGW_HTTP_BODY_NONE)
		return dispatch(c);
	aigw_http_body_init(&r->body, r->http.framing, r->http.content_length, &s->cfg.limits);
	c->state = C_BODY;
	set_timer(c, T_BODY, s->cfg.body_timeout_ms);
	if (r->http.expect_continue && c->in_len == consumed &&
	    !(r->http.framing == AIGW_HTTP_BODY_LENGTH && r->http.content_length == 0)) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		struct iovec iov = { (void *)cont, sizeof(cont) - 1 };
		if (conn_send(c, &iov, 1)) {
			conn_close(c);
			return false;
		}
	}
	return true;
}

/* Decodes the body read so far. Returns true when the state moved on. */
static bool read_body(struct conn *c)
{
	struct request *r = c->req;
	struct aigw_http_error perr;
	struct aigw_http_slice piece;
	size_t consumed, dst;
	int rc;

	for (;;) {
		rc = aigw_http_body_decode(&r->body, c->in + r->raw_off, c->in_len - r->raw_off,
					   &consumed, &piece, &perr);
		if (piece.len) {
			memmove(c->in + r->http.head_len + r->body_len, piece.ptr, piece.len);
			r->body_len += piece.len;
		}
		r->raw_off += consumed;
		if (rc == 0)
			return dispatch(c);
		if (rc != AIGW_AGAIN) {
			conn_error(c, perr.status, perr.reason);
			return false;
		}
		if (consumed == 0 || r->raw_off == c->in_len)
			break;
	}
	/* Close the gap left by chunk framing so the buffer holds the head,
	 * the decoded body and the undecoded rest, in that order. */
	dst = r->http.head_len + r->body_len;
	if (dst < r->raw_off) {
		memmove(c->in + dst, c->in + r->raw_off, c->in_len - r->raw_off);
		c->in_len -= r->raw_off - dst;
		r->raw_off = dst;
	}
	return false;
}

/* The response went out: start the next request, wait, or close. Returns
 * true when the state moved on to HEAD. */
static bool next_request(struct conn *c)
{
	struct worker *w = c->w;
	size_t left;

	if (pending(c))
		return false;
	if (!c->keep_alive || w->draining || c->peer_eof) {
		conn_linger(c);
		return false;
	}
	left = c->in_len - c->req_end;
	if (left) {
		memmove(c->in, c->in + c->req_end, left);
		c->in_len = left;
		c->req_end = 0;
		req_begin(c);
		c->state = C_HEAD;
		set_timer(c, T_HEADER, w->s->cfg.header_timeout_ms);
		want_read(c, true);
		return true;
	}
	c->in_len = 0;
	c->req_end = 0;
	in_release(c);
	req_release(c);
	aigw_buf_release(&c->out);
	c->out_off = 0;
	c->state = C_IDLE;
	set_timer(c, T_IDLE, w->s->cfg.idle_timeout_ms);
	want_read(c, true);
	return false;
}

static void conn_progress(struct conn *c)
{
	bool more = true;

	c->busy++;
	while (more && !c->closed) {
		switch (c->state) {
		case C_HEAD: more = parse_head(c); break;
		case C_BODY: more = read_body(c); break;
		case C_FLUSH: more = next_request(c); break;
		default: more = false; break;
		}
	}
	conn_unref(c);
}

/* ------------------------------------------------------------ reading */

/* Makes room to read into while a request is being received. Returns
 * false when the request cannot grow (the parser refuses it first). */
static bool in_room(struct conn *c)
{
	struct aigw_server *s = c->w->s;
	size_t cap = c->in_cap, want;

	in_acquire(c);
	if (c->in_len < c->in_cap)
		return true;
	cap = c->in_cap;
	if (c->state == C_BODY && c->req->http.framing == AIGW_HTTP_BODY_LENGTH) {
		uint64_t need = c->req->http.head_len + c->req->http.content_length + IN_SLACK;
		want = cap * 2 < need ? cap * 2 : (size_t)need;
	} else if (c->state == C_BODY) {
		want = cap * 2;
	} else {
		size_t max = s->cfg.limits.max_header_bytes;
		want = cap * 2 < max ? cap * 2 : max;
	}
	if (want <= cap)
		return false;
	in_resize(c, want);
	return true;
}

static void read_lingering(struct conn *c)
{
	char sink[4096];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, sink, sizeof(sink), 0);
		if (n > 0) {
			c->lingered += (size_t)n;
			if (c->lingered > LINGER_BYTES) {
				conn_close(c);
				return;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		conn_close(c);
		return;
	}
}

static void read_request(struct conn *c)
{
	struct worker *w = c->w;
	ssize_t n;

	if (!in_room(c)) {
		conn_error(c, 431, "header section too large");
		return;
	}
	do
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (c->state == C_IDLE)
				in_release(c);
			return;
		}
		conn_close(c);
		return;
	}
	if (n == 0) {
		/* Between requests this is the normal end; within one, the
		 * client gave up and there is nobody to answer. */
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	if (c->state == C_IDLE) {
		c->state = C_HEAD;
		req_begin(c);
		if (c->timer_kind != T_HEADER)
			set_timer(c, T_HEADER, w->s->cfg.header_timeout_ms);
	}
	conn_progress(c);
}

/* While the handler works (or the answer is still going out), reading
 * goes on into the free room only: the request's slices must not move.
 * It catches pipelined bytes and, above all, the client going away. */
static void read_ahead(struct conn *c)
{
	ssize_t n;

	if (!c->in || c->in_len == c->in_cap) {
		want_read(c, false);
		return;
	}
	do
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		c->in_len += (size_t)n;
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n == 0 && c->state == C_FLUSH) {
		/* The answer is complete; the client may still read it. */
		c->peer_eof = true;
		want_read(c, false);
		return;
	}
	conn_close(c);
}

static void on_writable(struct conn *c)
{
	struct request *r;

	if (conn_flush(c)) {
		conn_close(c);
		return;
	}
	r = c->req;
	if (c->state == C_ACTIVE && r && r->want_drain &&
	    pending(c) < c->w->s->cfg.low_water) {
		r->want_drain = false;
		if (r->drained_fn) {
			r->drained_fn(&r->pub, r->drained_arg);
			if (c->closed)
				return;
		}
	}
	if (pending(c))
		return;
	if (c->state == C_FLUSH)
		conn_progress(c);
	else if (c->state == C_CLOSING && !c->shut)
		conn_linger(c);
}

static void on_conn_io(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	struct conn *c = arg;

	(void)ev;
	(void)fd;
	c->busy++;
	if (mask & AIGW_EV_WRITE)
		on_writable(c);
	if (!c->closed && c->fd >= 0 && (mask & AIGW_EV_READ) && c->reading) {
		switch (c->state) {
		case C_IDLE:
		case C_HEAD:
		case C_BODY:
			read_request(c);
			break;
		case C_ACTIVE:
		case C_FLUSH:
			read_ahead(c);
			break;
		case C_CLOSING:
			if (c->shut)
				read_lingering(c);
			else
				want_read(c, false);
			break;
		}
	}
	conn_unref(c);
}

static void on_conn_timer(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct conn *c = arg;
	int kind = c->timer_kind;

	(void)ev;
	(void)t;
	c->timer_kind = T_NONE;
	c->busy++;
	switch (kind) {
	case T_HEADER:
		if (c->state == C_HEAD)
			conn_error(c, 408, "request header timeout");
		else
			conn_close(c); /* a new connection that never spoke */
		break;
	case T_BODY:
		conn_error(c, 408, "request body timeout");
		break;
	default:
		/* idle, stuck output, lingering over, client gone */
		conn_close(c);
		break;
	}
	conn_unref(c);
}

/* ------------------------------------------------------------ accepting */

static void conn_new(struct worker *w, int fd, const struct sockaddr_storage *ss)
{
	struct conn *c = aigw_calloc(1, sizeof(*c));
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->w = w;
	c->fd = fd;
	c->state = C_IDLE;
	aigw_buf_init(&c->out);
	aigw_ev_timer_init(&c->timer, on_conn_timer, c);
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, c->peer,
			  sizeof(c->peer));
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, c->peer,
			  sizeof(c->peer));
	if (aigw_ev_add(w->ev, fd, AIGW_EV_READ, on_conn_io, c, NULL)) {
		close(fd);
		free(c);
		if (w->s->cfg.max_connections)
			atomic_fetch_sub_explicit(&w->s->total_conns, 1, memory_order_relaxed);
		return;
	}
	c->reading = true;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	counter_add(&w->n.connections, 1);
	counter_add(&w->n.accepted, 1);
	/* Until the first byte, the header timeout: a connection that never
	 * speaks is closed silently when it runs out. */
	set_timer(c, T_HEADER, w->s->cfg.header_timeout_ms);
}

static void on_accept(struct aigw_ev *ev, int fd, int mask, void *arg);

static void resume_accept(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct worker *w = arg;

	(void)t;
	if (w->listen_fd >= 0 && !w->accepting &&
	    aigw_ev_add(ev, w->listen_fd, AIGW_EV_READ, on_accept, w, NULL) == 0)
		w->accepting = true;
}

static void on_accept(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	struct worker *w = arg;
	struct aigw_server *s = w->s;

	(void)mask;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			char buf[128];
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* once per episode, not every pause */
				if (!w->accept_starved)
					aigw_log_warn("worker %d: accept: %s; pausing accepts",
						      w->index, errno_text(errno, buf, sizeof(buf)));
				w->accept_starved = true;
				aigw_ev_del(ev, fd, AIGW_EV_READ);
				w->accepting = false;
				aigw_ev_timer_start(ev, &w->accept_timer, ACCEPT_PAUSE_US);
				return;
			}
			continue; /* the client left before we got to it */
		}
		if (s->cfg.max_connections &&
		    atomic_fetch_add_explicit(&s->total_conns, 1, memory_order_relaxed) >=
			    s->cfg.max_connections) {
			atomic_fetch_sub_explicit(&s->total_conns, 1, memory_order_relaxed);
			close(cfd);
			continue;
		}
		w->accept_starved = false;
		conn_new(w, cfd, &ss);
	}
}

/* ------------------------------------------------------------ draining */

static void close_listener(struct worker *w)
{
	if (w->listen_fd < 0)
		return;
	aigw_ev_del(w->ev, w->listen_fd, AIGW_EV_READ);
	aigw_ev_timer_stop(w->ev, &w->accept_timer);
	close(w->listen_fd);
	w->listen_fd = -1;
	w->accepting = false;
}

static void abort_all(struct worker *w)
{
	/* Each close unlinks the head, so this cannot skip or revisit. */
	while (w->conns) {
		struct conn *c = w->conns;
		if (c->req)
			c->req->pub.cut_by_server = true;
		conn_close(c);
	}
}

static void on_grace_over(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct worker *w = arg;

	(void)t;
	abort_all(w);
	aigw_ev_stop(ev);
}

static void begin_drain(struct worker *w)
{
	struct aigw_server *s = w->s;
	uint64_t grace = atomic_load(&s->grace_ms);
	uint64_t now = aigw_ev_update_time(w->ev), deadline;

	if (grace > UINT64_MAX / 2000)
		grace = UINT64_MAX / 2000;
	deadline = now + grace * 1000;
	if (w->draining) {
		if (deadline >= w->grace_deadline_us)
			return;
	} else {
		struct conn *c, *next;
		w->draining = true;
		close_listener(w);
		for (c = w->conns; c; c = next) {
			next = c->next;
			if (c->state == C_IDLE) {
				conn_close(c);
			} else if (c->state != C_ACTIVE || !c->req || c->req->resp == R_NONE) {
				c->keep_alive = false;
			}
		}
	}
	w->grace_deadline_us = deadline;
	if (w->n_conns == 0)
		aigw_ev_stop(w->ev);
	else
		aigw_ev_timer_start(w->ev, &w->grace_timer, deadline - now);
}

static void on_wakeup(struct aigw_ev *ev, void *arg)
{
	struct worker *w = arg;

	(void)ev;
	if (atomic_load(&w->s->stopping))
		begin_drain(w);
}

/* ------------------------------------------------------------ handler API */

const struct aigw_http_slice *aigw_server_req_header(const struct aigw_server_req *req,
						     const char *name)
{
	return aigw_http_request_header(req->http, name);
}

size_t aigw_server_req_pending(const struct aigw_server_req *req)
{
	const struct request *r = (const struct request *)((const char *)req -
							   offsetof(struct request, pub));
	return pending(r->conn);
}

void aigw_server_on_drained(struct aigw_server_req *req, aigw_server_req_fn *fn, void *arg)
{
	struct request *r = req_of(req);
	r->drained_fn = fn;
	r->drained_arg = arg;
}

void aigw_server_on_aborted(struct aigw_server_req *req, aigw_server_req_fn *fn, void *arg)
{
	struct request *r = req_of(req);
	r->aborted_fn = fn;
	r->aborted_arg = arg;
}

/* The handler is ending the request: counted before the last bytes go
 * out, so that a client that has its answer sees it counted. */
static void request_count_done(struct request *r)
{
	struct worker *w = r->conn->w;

	r->dispatched = false;
	counter_add(&w->n.in_flight, -1);
	counter_add(&w->n.requests, 1);
}

/* The handler ended the request (request_count_done came first). */
static void request_done(struct request *r)
{
	struct conn *c = r->conn;

	if (r->in_handler)
		return; /* dispatch() goes on from here */
	c->busy++;
	req_reset(r);
	if (c->fd < 0) {
		conn_close(c);
	} else {
		c->state = C_FLUSH;
		conn_progress(c);
	}
	conn_unref(c);
}

static int check_start(struct request *r, int status)
{
	if (!r->dispatched || r->resp != R_NONE)
		return AIGW_EINVAL;
	if (status < 200 || status > 599)
		return AIGW_EINVAL;
	return 0;
}

int aigw_server_respond(struct aigw_server_req *req, int status, const char *headers,
			size_t headers_len, const void *body, size_t body_len)
{
	struct request *r = req_of(req);
	struct conn *c = r->conn;
	struct aigw_buf *b = &c->w->scratch;
	struct iovec iov[2];
	int rc;

	if ((rc = check_start(r, status)))
		return rc;
	if (bodiless_status(status)) {
		r->framing = F_NONE;
		body_len = 0;
	} else {
		r->framing = F_LENGTH;
		r->remaining = body_len;
	}
	request_count_done(r);
	if (c->fd < 0) {
		rc = AIGW_EFAIL;
	} else {
		size_t len = r->head_only ? 0 : body_len;
		aigw_buf_reset(b);
		put_head(c, r, b, status, headers, headers_len);
		/* A small body rides in the head's buffer: one contiguous send
		 * costs the kernel less than two pieces. */
		if (len && len <= SMALL_BODY) {
			aigw_buf_append(b, body, len);
			len = 0;
		}
		iov[0].iov_base = b->data;
		iov[0].iov_len = b->len;
		iov[1].iov_base = (void *)body;
		iov[1].iov_len = len;
		rc = conn_send(c, iov, len ? 2 : 1);
		if (rc)
			conn_kill_io(c);
	}
	request_done(r);
	return rc;
}

int aigw_server_respond_error(struct aigw_server_req *req, int status, const char *headers,
			      size_t headers_len, const char *type, const char *code,
			      const char *message)
{
	struct request *r = req_of(req);
	struct aigw_buf all = AIGW_BUF_INIT, body = AIGW_BUF_INIT;
	int rc;

	if ((rc = check_start(r, status)))
		return rc;
	error_body(&body, status, type, code, message);
	aigw_buf_puts(&all, "Content-Type: application/json\r\n");
	if (headers_len)
		aigw_buf_append(&all, headers, headers_len);
	rc = aigw_server_respond(req, status, all.data, all.len, body.data, body.len);
	aigw_buf_release(&all);
	aigw_buf_release(&body);
	return rc;
}

int aigw_server_stream_start(struct aigw_server_req *req, int status, const char *headers,
			     size_t headers_len, int64_t content_length)
{
	struct request *r = req_of(req);
	struct conn *c = r->conn;
	struct aigw_buf *b = &c->w->scratch;
	struct iovec iov;
	int rc;

	if ((rc = check_start(r, status)))
		return rc;
	r->resp = R_STREAM;
	if (bodiless_status(status)) {
		r->framing = F_NONE;
		r->head_only = true;
	} else if (content_length >= 0) {
		r->framing = F_LENGTH;
		r->remaining = (uint64_t)content_length;
	} else if (r->http.version_minor == 0) {
		r->framing = F_CLOSE; /* no chunked in HTTP/1.0 */
		c->keep_alive = false;
	} else {
		r->framing = F_CHUNKED;
	}
	if (c->fd < 0)
		return AIGW_EFAIL;
	if (!pending(c) && !r->head_only) {
		/* Built where it waits for the body (see hold_head). */
		aigw_buf_reset(&c->out);
		c->out_off = 0;
		put_head(c, r, &c->out, status, headers, headers_len);
		hold_head(c);
		return 0;
	}
	aigw_buf_reset(b);
	put_head(c, r, b, status, headers, headers_len);
	iov.iov_base = b->data;
	iov.iov_len = b->len;
	if (conn_send(c, &iov, 1)) {
		conn_broken_in_call(c);
		return AIGW_EFAIL;
	}
	return 0;
}

int aigw_server_stream_write(struct aigw_server_req *req, const void *data, size_t len)
{
	struct request *r = req_of(req);
	struct conn *c = r->conn;
	struct iovec iov[3];
	char line[24];
	int n = 0;

	if (!r->dispatched || r->resp != R_STREAM)
		return AIGW_EINVAL;
	if (r->framing == F_LENGTH) {
		if (len > r->remaining)
			return AIGW_EINVAL;
		r->remaining -= len;
	}
	if (c->fd < 0)
		return AIGW_EFAIL;
	if (len && !r->head_only && r->framing != F_NONE) {
		if (r->framing == F_CHUNKED) {
			static const char digits[] = "0123456789abcdef";
			size_t i = sizeof(line);
			line[--i] = '\n';
			line[--i] = '\r';
			for (size_t v = len; v; v >>= 4)
				line[--i] = digits[v & 15];
			iov[n].iov_base = line + i;
			iov[n++].iov_len = sizeof(line) - i;
		}
		iov[n].iov_base = (void *)data;
		iov[n++].iov_len = len;
		if (r->framing == F_CHUNKED) {
			iov[n].iov_base = (void *)"\r\n";
			iov[n++].iov_len = 2;
		}
		if (conn_send(c, iov, n)) {
			conn_broken_in_call(c);
			return AIGW_EFAIL;
		}
	}
	if (pending(c) > c->w->s->cfg.high_water) {
		r->want_drain = true;
		return AIGW_SERVER_FULL;
	}
	return 0;
}

int aigw_server_stream_finish(struct aigw_server_req *req)
{
	struct request *r = req_of(req);
	struct conn *c = r->conn;
	int rc = 0;

	if (!r->dispatched || r->resp != R_STREAM)
		return AIGW_EINVAL;
	request_count_done(r);
	if (c->fd < 0) {
		rc = AIGW_EFAIL;
	} else if (r->framing == F_CHUNKED && !r->head_only) {
		struct iovec iov = { (void *)"0\r\n\r\n", 5 };
		if (conn_send(c, &iov, 1)) {
			conn_kill_io(c);
			rc = AIGW_EFAIL;
		}
	} else if (r->framing == F_CLOSE || (r->framing == F_LENGTH && r->remaining)) {
		c->keep_alive = false; /* closing is the only way to say "the end" */
	}
	if (!rc && release_held(c)) {
		conn_kill_io(c);
		rc = AIGW_EFAIL;
	}
	if (c->timer_kind == T_ABORT)
		clear_timer(c); /* finished first: no aborted callback */
	request_done(r);
	return rc;
}

/* ------------------------------------------------------------ the server */

static void record_error(struct aigw_server *s, int rc, const struct aigw_err *err)
{
	pthread_mutex_lock(&s->err_lock);
	if (!s->rc) {
		s->rc = rc;
		if (err)
			s->err = *err;
		else
			aigw_err_set(&s->err, rc, "server failed");
	}
	pthread_mutex_unlock(&s->err_lock);
}

static void format_address(struct aigw_server *s, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		snprintf(s->address, sizeof(s->address), "%s", s->listen);
		return;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(s->address, sizeof(s->address), "[%s]:%d", host, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(s->address, sizeof(s->address), "%s:%d", host, ntohs(a->sin_port));
	}
}

/* "host:0" -> "host:PORT", for the listeners after the first. */
static char *with_port(const char *listen, int port)
{
	const char *colon = strrchr(listen, ':');
	size_t host_len = colon ? (size_t)(colon - listen) : strlen(listen);
	size_t n = host_len + 16;
	char *out = aigw_malloc(n);

	snprintf(out, n, "%.*s:%d", (int)host_len, listen, port);
	return out;
}

int aigw_server_new(struct aigw_server **out, const struct aigw_server_config *config,
		    struct aigw_err *err)
{
	struct aigw_server *s;
	long cores;
	int n;

	*out = NULL;
	if (!config->handler)
		return aigw_err_set(err, AIGW_EINVAL, "server: no handler");
	if (!config->listen || !*config->listen)
		return aigw_err_set(err, AIGW_EINVAL, "server: no listen address");
	if (config->workers < 0 || config->workers > 1024)
		return aigw_err_set(err, AIGW_EINVAL, "workers must be between 0 and 1024");
	if (config->limits.max_headers > AIGW_HTTP_MAX_HEADERS || !config->limits.max_header_bytes)
		return aigw_err_set(err, AIGW_EINVAL, "server: bad http limits");
	if (config->low_water > config->high_water)
		return aigw_err_set(err, AIGW_EINVAL, "server: low water above high water");
	n = config->workers;
	if (!n) {
		cores = sysconf(_SC_NPROCESSORS_ONLN);
		n = cores > 0 ? (int)(cores > 1024 ? 1024 : cores) : 1;
	}

	s = aigw_calloc(1, sizeof(*s));
	s->cfg = *config;
	s->listen = aigw_strdup(config->listen);
	s->cfg.listen = s->listen;
	s->n_workers = n;
	atomic_init(&s->stopping, false);
	atomic_init(&s->grace_ms, UINT64_MAX);
	atomic_init(&s->total_conns, 0);
	pthread_mutex_init(&s->err_lock, NULL);
	s->workers = aigw_calloc((size_t)n, sizeof(*s->workers));
	for (int i = 0; i < n; i++) {
		struct worker *w = &s->workers[i];
		w->s = s;
		w->index = i;
		w->listen_fd = -1;
		aigw_buf_init(&w->scratch);
		aigw_ev_timer_init(&w->accept_timer, resume_accept, w);
		aigw_ev_timer_init(&w->grace_timer, on_grace_over, w);
	}
	/* SO_REUSEPORT would let a second server bind a port already in use
	 * and quietly share its traffic. A first bind without it fails when
	 * the port is taken (with or without SO_REUSEPORT on the holder), and
	 * picks the port when 0 was asked for. One worker keeps that socket;
	 * several bind their SO_REUSEPORT listeners on the port it found. */
	{
		int probe, rc;
		rc = aigw_ev_listen_tcp(s->listen, false, config->backlog, &probe, &s->port, err);
		if (rc) {
			aigw_server_free(s);
			return rc;
		}
		format_address(s, probe);
		if (n == 1)
			s->workers[0].listen_fd = probe;
		else
			close(probe);
	}
	for (int i = 0; i < n; i++) {
		struct worker *w = &s->workers[i];
		if (w->listen_fd < 0) {
			char *addr = with_port(s->listen, s->port);
			int rc = aigw_ev_listen_tcp(addr, true, config->backlog, &w->listen_fd,
						    NULL, err);
			free(addr);
			if (rc) {
				aigw_server_free(s);
				return rc;
			}
		}
		w->ev = aigw_ev_new(1024, err);
		if (!w->ev) {
			aigw_server_free(s);
			return AIGW_EFAIL;
		}
		aigw_ev_set_wakeup_handler(w->ev, on_wakeup, w);
	}
	*out = s;
	return 0;
}

static void worker_release(struct worker *w)
{
	while (w->n_free_bufs)
		free(w->free_bufs[--w->n_free_bufs]);
	while (w->free_reqs) {
		struct request *r = w->free_reqs;
		w->free_reqs = r->next_free;
		aigw_pool_free(r->pub.pool);
		free(r);
	}
	w->n_free_reqs = 0;
	aigw_buf_release(&w->scratch);
}

void aigw_server_free(struct aigw_server *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n_workers; i++) {
		struct worker *w = &s->workers[i];
		if (w->listen_fd >= 0)
			close(w->listen_fd);
		worker_release(w);
		aigw_ev_free(w->ev);
	}
	pthread_mutex_destroy(&s->err_lock);
	free(s->workers);
	free(s->listen);
	free(s);
}

const char *aigw_server_address(const struct aigw_server *s)
{
	return s->address;
}

int aigw_server_port(const struct aigw_server *s)
{
	return s->port;
}

int aigw_server_workers(const struct aigw_server *s)
{
	return s->n_workers;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct aigw_server *s = w->s;
	struct aigw_err err = { 0 };
	int rc;

	if (s->cfg.worker_init) {
		rc = s->cfg.worker_init(s, w->ev, w->index, s->cfg.worker_arg, &w->data, &err);
		if (rc) {
			record_error(s, rc, &err);
			aigw_server_stop(s, 0);
			close_listener(w);
			return NULL;
		}
	}
	if (aigw_ev_add(w->ev, w->listen_fd, AIGW_EV_READ, on_accept, w, &err) == 0)
		w->accepting = true;
	else
		record_error(s, AIGW_EFAIL, &err);
	if (atomic_load(&s->stopping))
		begin_drain(w);
	aigw_ev_set_before_sleep(w->ev, flush_held, w);
	rc = aigw_ev_run(w->ev, &err);
	if (rc) {
		record_error(s, rc, &err);
		aigw_server_stop(s, 0);
	}
	flush_held(w->ev, w);
	abort_all(w);
	close_listener(w);
	aigw_ev_timer_stop(w->ev, &w->grace_timer);
	if (s->cfg.worker_fini)
		s->cfg.worker_fini(s, w->ev, w->index, s->cfg.worker_arg, w->data);
	return NULL;
}

int aigw_server_run(struct aigw_server *s, struct aigw_err *err)
{
	int rc = 0;

	if (s->ran)
		return aigw_err_set(err, AIGW_EINVAL, "server: already ran");
	s->ran = true;
	for (int i = 0; i < s->n_workers; i++) {
		struct worker *w = &s->workers[i];
		int e = pthread_create(&w->thread, NULL, worker_main, w);
		if (e) {
			char buf[128];
			struct aigw_err terr;
			aigw_err_set(&terr, AIGW_EFAIL, "cannot start worker thread: %s",
				     errno_text(e, buf, sizeof(buf)));
			record_error(s, AIGW_EFAIL, &terr);
			aigw_server_stop(s, 0);
			break;
		}
		w->started = true;
	}
	for (int i = 0; i < s->n_workers; i++)
		if (s->workers[i].started)
			pthread_join(s->workers[i].thread, NULL);
	pthread_mutex_lock(&s->err_lock);
	if (s->rc) {
		rc = s->rc;
		if (err)
			*err = s->err;
	}
	pthread_mutex_unlock(&s->err_lock);
	return rc;
}

void aigw_server_stop(struct aigw_server *s, uint64_t grace_ms)
{
	uint_fast64_t cur = atomic_load(&s->grace_ms);

	while (grace_ms < cur && !atomic_compare_exchange_weak(&s->grace_ms, &cur, grace_ms))
		;
	atomic_store(&s->stopping, true);
	for (int i = 0; i < s->n_workers; i++)
		aigw_ev_wakeup(s->workers[i].ev);
}

void aigw_server_stats(const struct aigw_server *s, struct aigw_server_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < s->n_workers; i++) {
		const struct counters *n = &s->workers[i].n;
		out->connections += atomic_load_explicit(&n->connections, memory_order_relaxed);
		out->accepted += atomic_load_explicit(&n->accepted, memory_order_relaxed);
		out->requests += atomic_load_explicit(&n->requests, memory_order_relaxed);
		out->in_flight += atomic_load_explicit(&n->in_flight, memory_order_relaxed);
	}
}
