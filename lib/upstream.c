/* upstream: see upstream.h. */
#include "upstream.h"

#include <errno.h>
#include <stddef.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "curl_dl.h"
#include "http.h"
#include "url.h"
#include "mem.h"

struct aigw_xfer {
	struct aigw_upstream *up;
	CURL *easy;
	struct curl_slist *headers;
	const struct aigw_xfer_ops *ops;
	void *arg;
	struct aigw_strv head;   /* header lines of the current response head */
	struct aigw_xfer_result result;
	uint64_t started_us;
	int in_callback;         /* depth: abort must not remove the handle then */
	bool aborted;
	bool paused;
	struct aigw_xfer *next;  /* live list */
	struct aigw_xfer **pprev;
	char errbuf[CURL_ERROR_SIZE];

	/* The native HTTP/1.1 transport (http:// URLs); easy is NULL then. */
	bool native;
	struct h1conn *conn;
	struct h1pool *pool;
	int method;              /* enum aigw_http_method, for the response */
	struct aigw_buf out;     /* the request as sent */
	size_t out_off;
	struct aigw_buf in;      /* bytes received, from in_off on unread */
	size_t in_off;
	struct aigw_http_body body;
	bool head_done;
	bool reused;             /* on a pooled connection: one retry if it was stale */
	bool pending;            /* a decoded piece waits for resume */
	size_t pending_off, pending_len, pending_consumed;
	struct aigw_ev_timer timer;
	uint64_t timeout_us;
	/* Last: a recycled transfer is zeroed up to here (its 100 header
	 * slots are 3 KB that aigw_http_response_init does not need). */
	struct aigw_http_response res;
};

/* A kept-alive connection to a node, idle in its pool or busy with x. */
struct h1conn {
	int fd;
	bool connecting;
	struct h1pool *pool;
	struct aigw_xfer *x;
	struct h1conn *next_idle;
};

/* Idle connections and the resolved address of one host:port. Through
 * a proxy, host:port is the proxy's and origin names the node the
 * connections carry requests for ("" when direct): a proxy's connections
 * are not shared between nodes, nor with direct ones. */
struct h1pool {
	char host[256];
	int port;
	char origin[300];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct h1conn *idle;
	size_t n_idle;
	struct h1pool *next;
};

struct aigw_upstream {
	struct aigw_ev *ev;
	struct h1pool *pools;
	CURLM *multi;
	struct aigw_ev_timer timer;
	struct aigw_xfer *live;
	size_t active;
	CURL **spare;            /* easy handles kept for reuse */
	size_t n_spare;
	struct aigw_xfer *free_x; /* finished transfers kept for reuse */
	size_t n_free_x;
};

#define SPARE_MAX 64

static const struct aigw_http_limits answer_limits = {
	16 * 1024, AIGW_HTTP_MAX_HEADERS, UINT64_MAX,
};
/* Finished transfers kept per worker, with their buffers when these are
 * no larger than XFER_BUF_KEEP: a busy worker then allocates nothing per
 * transfer. */
#define XFER_FREE_MAX 64
#define XFER_BUF_KEEP (32 * 1024)

/* ------------------------------------------------------ reactor glue */

static void check_done(struct aigw_upstream *u);

static void socket_ready(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	struct aigw_upstream *u = arg;
	int flags = 0, running;
	(void)ev;

	if (mask & AIGW_EV_READ)
		flags |= CURL_CSELECT_IN;
	if (mask & AIGW_EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(u->multi, fd, flags, &running);
	check_done(u);
}

/* CURLMOPT_SOCKETFUNCTION: curl says which directions it waits on. */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct aigw_upstream *u = userp;
	(void)easy;
	(void)socketp;

	if (what == CURL_POLL_REMOVE) {
		aigw_ev_del(u->ev, s, AIGW_EV_READ | AIGW_EV_WRITE);
		return 0;
	}
	int want = (what & CURL_POLL_IN ? AIGW_EV_READ : 0) |
		   (what & CURL_POLL_OUT ? AIGW_EV_WRITE : 0);
	aigw_ev_del(u->ev, s, (AIGW_EV_READ | AIGW_EV_WRITE) & ~want);
	if (want && aigw_ev_add(u->ev, s, want, socket_ready, u, NULL))
		return -1;
	return 0;
}

static void timer_fired(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct aigw_upstream *u = arg;
	int running;
	(void)ev;
	(void)t;

	curl_multi_socket_action(u->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(u);
}

/* CURLMOPT_TIMERFUNCTION: one timer for the whole multi handle. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct aigw_upstream *u = userp;
	(void)multi;

	aigw_ev_timer_stop(u->ev, &u->timer);
	if (timeout_ms >= 0)
		aigw_ev_timer_start(u->ev, &u->timer, (uint64_t)timeout_ms * 1000);
	return 0;
}

/* ------------------------------------------------------------ life */

struct aigw_upstream *aigw_upstream_new(struct aigw_ev *ev, struct aigw_err *err)
{
	struct aigw_upstream *u = aigw_calloc(1, sizeof(*u));
	(void)err;

	u->ev = ev;
	aigw_ev_timer_init(&u->timer, timer_fired, u);
	u->spare = aigw_malloc(SPARE_MAX * sizeof(*u->spare));
	return u;
}

/* libcurl (and the TLS library under it) is set up on the first https://
 * transfer: a gateway in front of plain-HTTP nodes never pays for it in
 * start-up time or memory. */
static int curl_ready(struct aigw_upstream *u, struct aigw_err *err)
{
	if (u->multi)
		return 0;
	if (aigw_curl_load(err))
		return AIGW_EFAIL;
	u->multi = curl_multi_init();
	if (!u->multi)
		return aigw_err_set(err, AIGW_EFAIL, "cannot create a libcurl multi handle");
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
	curl_multi_setopt(u->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	/* Enough idle connections kept for a busy worker's node pool. */
	curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 512L);
	return 0;
}

static void conn_close(struct aigw_upstream *u, struct h1conn *c)
{
	aigw_ev_del(u->ev, c->fd, AIGW_EV_READ | AIGW_EV_WRITE);
	close(c->fd);
	free(c);
}

static struct aigw_xfer *xfer_new(struct aigw_upstream *u)
{
	struct aigw_xfer *x = u->free_x;
	struct aigw_buf out, in;

	if (!x) {
		x = aigw_calloc(1, sizeof(*x));
		aigw_buf_init(&x->out);
		aigw_buf_init(&x->in);
		return x;
	}
	u->free_x = x->next;
	u->n_free_x--;
	out = x->out;
	in = x->in;
	memset(x, 0, offsetof(struct aigw_xfer, res));
	x->out = out;
	x->in = in;
	return x;
}

static void xfer_free(struct aigw_xfer *x)
{
	aigw_buf_release(&x->out);
	aigw_buf_release(&x->in);
	free(x);
}

static void xfer_release(struct aigw_xfer *x)
{
	struct aigw_upstream *u = x->up;

	if (x->native) {
		aigw_ev_timer_stop(u->ev, &x->timer);
		if (x->conn)
			conn_close(u, x->conn); /* not handed back: its state is unknown */
		if (x->out.len)
			memset(x->out.data, 0, x->out.len); /* it held the credential */
		aigw_buf_reset_keep(&x->out, XFER_BUF_KEEP);
		aigw_buf_reset_keep(&x->in, XFER_BUF_KEEP);
	} else {
		curl_multi_remove_handle(u->multi, x->easy);
		if (u->n_spare < SPARE_MAX) {
			curl_easy_reset(x->easy);
			u->spare[u->n_spare++] = x->easy;
		} else {
			curl_easy_cleanup(x->easy);
		}
	}
	if (x->headers)
		curl_slist_free_all(x->headers);
	aigw_strv_release(&x->head);
	*x->pprev = x->next;
	if (x->next)
		x->next->pprev = x->pprev;
	u->active--;
	if (u->n_free_x < XFER_FREE_MAX) {
		x->next = u->free_x;
		u->free_x = x;
		u->n_free_x++;
	} else {
		xfer_free(x);
	}
}

void aigw_upstream_free(struct aigw_upstream *u)
{
	if (!u)
		return;
	while (u->live)
		xfer_release(u->live);
	while (u->pools) {
		struct h1pool *p = u->pools;
		u->pools = p->next;
		while (p->idle) {
			struct h1conn *c = p->idle;
			p->idle = c->next_idle;
			conn_close(u, c);
		}
		free(p);
	}
	while (u->free_x) {
		struct aigw_xfer *x = u->free_x;
		u->free_x = x->next;
		xfer_free(x);
	}
	for (size_t i = 0; i < u->n_spare; i++)
		curl_easy_cleanup(u->spare[i]);
	free(u->spare);
	aigw_ev_timer_stop(u->ev, &u->timer);
	if (u->multi)
		curl_multi_cleanup(u->multi);
	free(u);
}

size_t aigw_upstream_active(const struct aigw_upstream *u)
{
	return u->active;
}

/* ------------------------------------------------------- callbacks */

static size_t header_cb(char *data, size_t size, size_t n, void *arg)
{
	struct aigw_xfer *x = arg;
	size_t len = size * n, l = len;
	long status = 0;
	int rc;

	if (x->aborted)
		return 0;
	while (l && (data[l - 1] == '\n' || data[l - 1] == '\r'))
		l--;
	if (l == 0) {
		/* End of a head: interim 1xx heads are skipped. */
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200) {
			x->result.head_received = true;
			x->result.ttfb_us = aigw_clock_mono_us() - x->started_us;
			x->in_callback++;
			rc = x->ops->on_head ? x->ops->on_head(x, (int)status, &x->head, x->arg) : 0;
			x->in_callback--;
			if (rc || x->aborted)
				return 0; /* CURLE_WRITE_ERROR ends the transfer */
		}
		aigw_strv_release(&x->head);
		return len;
	}
	if (memcmp(data, "HTTP/", 5) == 0) {
		aigw_strv_release(&x->head); /* a new head (after a 1xx) */
		return len;
	}
	aigw_strv_push_n(&x->head, data, l);
	return len;
}

static size_t write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct aigw_xfer *x = arg;
	size_t len = size * n;
	int rc;

	if (x->aborted)
		return 0;
	x->in_callback++;
	rc = x->ops->on_data ? x->ops->on_data(x, data, len, x->arg) : 0;
	x->in_callback--;
	if (x->aborted)
		return 0;
	if (rc == AIGW_AGAIN) {
		x->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	x->result.bytes_in += len;
	return len;
}

static enum aigw_xfer_outcome outcome_of(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return AIGW_XFER_OK;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return AIGW_XFER_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return AIGW_XFER_TIMEOUT;
	default:
		return AIGW_XFER_FAILED;
	}
}

static void check_done(struct aigw_upstream *u)
{
	CURLMsg *msg;
	int queued;

	while ((msg = curl_multi_info_read(u->multi, &queued))) {
		struct aigw_xfer *x = NULL;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (!x)
			continue;
		x->result.outcome = outcome_of(msg->data.result);
		x->result.total_us = aigw_clock_mono_us() - x->started_us;
		if (msg->data.result != CURLE_OK)
			aigw_strlcpy(x->result.message,
				     x->errbuf[0] ? x->errbuf : curl_easy_strerror(msg->data.result),
				     sizeof(x->result.message));
		if (!x->aborted && x->ops->on_done) {
			x->in_callback++;
			x->ops->on_done(x, &x->result, x->arg);
			x->in_callback--;
		}
		xfer_release(x);
	}
}

/* ------------------------------------------------------- transfers */


/* ------------------------------------------- native HTTP/1.1 transport */

/* For plain http:// nodes (local model servers, the mock) the gateway
 * speaks HTTP/1.1 itself on the worker's reactor: a kept-alive connection
 * pool per host:port, lib/http's strict response parser, and pausing by
 * not reading the socket. libcurl stays for https:// (TLS, HTTP/2), where
 * its cost is small next to the cryptography. Measured with callgrind,
 * libcurl's own work per proxied request was more than all of nginx's. */

#define IDLE_MAX 64
#define READ_CHUNK 16384

/* What native_process left behind: ready for more bytes, paused by the
 * receiver, or ended (and freed). */
enum { P_MORE, P_PAUSED, P_GONE };
static int native_process(struct aigw_xfer *x);
static void native_finish(struct aigw_xfer *x, enum aigw_xfer_outcome outcome, const char *msg);
static int native_connect(struct aigw_xfer *x);

/* The pool for url, reached directly or (proxy not NULL) through proxy. */
static struct h1pool *pool_for(struct aigw_upstream *u, const struct aigw_url *target,
			       const struct aigw_url *proxy, struct aigw_err *err)
{
	const struct aigw_url *url = proxy ? proxy : target;
	struct h1pool *p;
	char port[8], origin[300] = "";
	struct addrinfo hints = { 0 }, *ai = NULL;
	int rc;

	if (proxy)
		snprintf(origin, sizeof(origin), "%s:%d", target->host, target->port);
	for (p = u->pools; p; p = p->next)
		if (p->port == url->port && strcmp(p->host, url->host) == 0 &&
		    strcmp(p->origin, origin) == 0)
			return p;
	/* Resolved once per worker and kept: names of nodes are stable, and
	 * a lookup must not stall the loop on every request. */
	snprintf(port, sizeof(port), "%d", url->port);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(url->host, port, &hints, &ai);
	if (rc != 0 || !ai) {
		aigw_err_set(err, AIGW_EFAIL, "cannot resolve '%s': %s", url->host, gai_strerror(rc));
		return NULL;
	}
	p = aigw_calloc(1, sizeof(*p));
	aigw_strlcpy(p->host, url->host, sizeof(p->host));
	p->port = url->port;
	aigw_strlcpy(p->origin, origin, sizeof(p->origin));
	memcpy(&p->addr, ai->ai_addr, ai->ai_addrlen);
	p->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	p->next = u->pools;
	u->pools = p;
	return p;
}

/* An idle pooled connection became readable: the node closed it (or sent
 * something unasked). Either way it is of no use any more. */
static void idle_ready(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	struct h1conn *c = arg, **pp;
	(void)ev;
	(void)fd;
	(void)mask;
	for (pp = &c->pool->idle; *pp; pp = &(*pp)->next_idle) {
		if (*pp == c) {
			*pp = c->next_idle;
			c->pool->n_idle--;
			break;
		}
	}
	aigw_ev_del(ev, c->fd, AIGW_EV_READ | AIGW_EV_WRITE);
	close(c->fd);
	free(c);
}

static void conn_park(struct aigw_upstream *u, struct h1conn *c)
{
	if (c->pool->n_idle >= IDLE_MAX) {
		conn_close(u, c);
		return;
	}
	c->x = NULL;
	aigw_ev_del(u->ev, c->fd, AIGW_EV_WRITE);
	/* Still watched for reading unless the transfer was paused: then
	 * (and only then) it has to be registered again. */
	if (aigw_ev_set_fn(u->ev, c->fd, idle_ready, c) &&
	    aigw_ev_add(u->ev, c->fd, AIGW_EV_READ, idle_ready, c, NULL)) {
		conn_close(u, c);
		return;
	}
	c->next_idle = c->pool->idle;
	c->pool->idle = c;
	c->pool->n_idle++;
}

static void native_timeout(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct aigw_xfer *x = arg;
	(void)ev;
	(void)t;
	native_finish(x, AIGW_XFER_TIMEOUT,
		      x->conn && x->conn->connecting ? "connection timed out" : "operation timed out");
}

/* Ends the transfer: reports it (unless aborted) and frees it. */
static void native_finish(struct aigw_xfer *x, enum aigw_xfer_outcome outcome, const char *msg)
{
	x->result.outcome = outcome;
	x->result.total_us = aigw_clock_mono_us() - x->started_us;
	if (msg)
		aigw_strlcpy(x->result.message, msg, sizeof(x->result.message));
	if (outcome == AIGW_XFER_OK && x->conn && x->res.keep_alive &&
	    x->res.framing != AIGW_HTTP_BODY_CLOSE && x->in_off == x->in.len) {
		conn_park(x->up, x->conn);
		x->conn = NULL;
	}
	if (!x->aborted && x->ops->on_done) {
		x->in_callback++;
		x->ops->on_done(x, &x->result, x->arg);
		x->in_callback--;
	}
	xfer_release(x);
}

static void native_fail_errno(struct aigw_xfer *x, enum aigw_xfer_outcome outcome, int e)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "%s", strerror(e));
	native_finish(x, outcome, msg);
}

/* A failure before any byte of the answer on a connection taken from the
 * pool is most likely the node having closed it meanwhile: the request
 * goes again, once, on a new connection. */
static bool retry_stale(struct aigw_xfer *x)
{
	if (!x->reused || x->in.len > 0 || x->head_done)
		return false;
	conn_close(x->up, x->conn);
	x->conn = NULL;
	x->reused = false;
	x->out_off = 0;
	return native_connect(x) == 0;
}

static void native_io(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	struct h1conn *c = arg;
	struct aigw_xfer *x = c->x;
	(void)ev;

	if (c->connecting && (mask & AIGW_EV_WRITE)) {
		int e = 0;
		socklen_t l = sizeof(e);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l);
		if (e) {
			native_fail_errno(x, AIGW_XFER_CONNECT, e);
			return;
		}
		c->connecting = false;
		/* Connected: from now on only the transfer's own limit counts. */
		aigw_ev_timer_stop(ev, &x->timer);
		if (x->timeout_us) {
			uint64_t spent = aigw_clock_mono_us() - x->started_us;
			aigw_ev_timer_start(ev, &x->timer,
					    x->timeout_us > spent ? x->timeout_us - spent : 1);
		}
	}
	if ((mask & AIGW_EV_WRITE) && x->out_off < x->out.len) {
		ssize_t n = send(fd, x->out.data + x->out_off, x->out.len - x->out_off,
				 MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			if (!retry_stale(x))
				native_fail_errno(x, AIGW_XFER_FAILED, errno);
			return;
		}
		if (n > 0)
			x->out_off += (size_t)n;
		if (x->out_off == x->out.len)
			aigw_ev_del(ev, fd, AIGW_EV_WRITE);
	}
	if (mask & AIGW_EV_READ) {
		for (;;) {
			ssize_t n;
			if (x->in_off > 0 && x->in_off == x->in.len) {
				aigw_buf_reset(&x->in);
				x->in_off = 0;
			}
			aigw_buf_grow(&x->in, READ_CHUNK);
			n = read(fd, x->in.data + x->in.len, READ_CHUNK);
			if (n > 0) {
				x->in.len += (size_t)n;
				x->in.data[x->in.len] = '\0';
				/* Hand each piece on before reading more, so a receiver
				 * that pauses stops the reading at once and at most one
				 * chunk waits here (backpressure, bounded memory). */
				if (native_process(x) != P_MORE || (size_t)n < READ_CHUNK)
					return;
				continue;
			}
			if (n == 0) {
				struct aigw_http_error he;
				if (native_process(x) != P_MORE)
					return; /* finished, freed, or waits for resume */
				if (retry_stale(x))
					return;
				if (x->head_done && aigw_http_body_eof(&x->body, &he) == 0) {
					native_finish(x, AIGW_XFER_OK, NULL);
					return;
				}
				native_finish(x, AIGW_XFER_FAILED,
					      "the node closed the connection before the answer ended");
				return;
			}
			if (errno == EAGAIN || errno == EINTR)
				return;
			if (!retry_stale(x))
				native_fail_errno(x, AIGW_XFER_FAILED, errno);
			return;
		}
	}
}

/* Runs a callback of the transfer's owner; true when the transfer was
 * aborted meanwhile (then it is freed here and must not be touched). */
static bool call_out(struct aigw_xfer *x, int rc_is_abort)
{
	if (x->aborted || rc_is_abort) {
		if (!x->aborted)
			native_finish(x, AIGW_XFER_FAILED, "aborted by the receiver");
		else
			xfer_release(x);
		return true;
	}
	return false;
}

/* Parses what arrived and hands it on: the head, then body pieces. */
static int native_process(struct aigw_xfer *x)
{
	for (;;) {
		const char *data = x->in.data + x->in_off;
		size_t avail = x->in.len - x->in_off, used = 0;
		struct aigw_http_error he;
		struct aigw_http_slice piece;
		int rc;

		if (x->pending) {
			/* Redeliver the piece the receiver paused on. */
			x->in_callback++;
			rc = x->ops->on_data ? x->ops->on_data(x, x->in.data + x->pending_off,
							       x->pending_len, x->arg) : 0;
			x->in_callback--;
			if (call_out(x, rc != 0 && rc != AIGW_AGAIN))
				return P_GONE;
			if (rc == AIGW_AGAIN) {
				x->paused = true;
				aigw_ev_del(x->up->ev, x->conn->fd, AIGW_EV_READ);
				return P_PAUSED;
			}
			x->result.bytes_in += x->pending_len;
			x->in_off += x->pending_consumed;
			x->pending = false;
			continue;
		}
		if (!x->head_done) {
			rc = aigw_http_parse_response(&x->res, data, avail, NULL, &used, &he);
			if (rc == AIGW_AGAIN)
				return P_MORE;
			if (rc) {
				native_finish(x, AIGW_XFER_FAILED, he.reason ? he.reason
									   : "malformed answer");
				return P_GONE;
			}
			x->in_off += used;
			if (x->res.status < 200) {
				aigw_http_response_init(&x->res, x->method);
				continue;
			}
			x->head_done = true;
			x->result.head_received = true;
			x->result.ttfb_us = aigw_clock_mono_us() - x->started_us;
			aigw_strv_release(&x->head);
			for (size_t i = 0; i < x->res.header_count; i++) {
				const struct aigw_http_header *h = &x->res.headers[i];
				struct aigw_buf line = AIGW_BUF_INIT;
				aigw_buf_grow(&line, h->name.len + 2 + h->value.len);
				aigw_buf_append(&line, h->name.ptr, h->name.len);
				aigw_buf_append(&line, ": ", 2);
				aigw_buf_append(&line, h->value.ptr, h->value.len);
				aigw_strv_push_take(&x->head, aigw_buf_detach(&line));
			}
			/* The request-side body limit does not apply: an answer
			 * (a long stream above all) may be any size. */
			aigw_http_body_init(&x->body, x->res.framing, x->res.content_length,
					    &answer_limits);
			x->body.total = 0;
			x->in_callback++;
			rc = x->ops->on_head ? x->ops->on_head(x, x->res.status, &x->head, x->arg) : 0;
			x->in_callback--;
			if (call_out(x, rc != 0))
				return P_GONE;
			if (x->res.framing == AIGW_HTTP_BODY_NONE) {
				native_finish(x, AIGW_XFER_OK, NULL);
				return P_GONE;
			}
			continue;
		}
		if (aigw_http_body_done(&x->body)) {
			native_finish(x, AIGW_XFER_OK, NULL);
			return P_GONE;
		}
		if (avail == 0)
			return P_MORE;
		rc = aigw_http_body_decode(&x->body, data, avail, &used, &piece, &he);
		if (rc != 0 && rc != AIGW_AGAIN) {
			native_finish(x, AIGW_XFER_FAILED, he.reason ? he.reason : "malformed body");
			return P_GONE;
		}
		if (piece.len) {
			x->pending = true;
			x->pending_off = (size_t)(piece.ptr - x->in.data);
			x->pending_len = piece.len;
			x->pending_consumed = used;
			continue;
		}
		x->in_off += used;
		if (rc == AIGW_AGAIN && used == 0)
			return P_MORE;
	}
}

static int native_connect(struct aigw_xfer *x)
{
	struct aigw_upstream *u = x->up;
	struct h1pool *p = x->pool;
	struct h1conn *c = p->idle;
	int fd, one = 1;

	if (c) {
		ssize_t n;
		p->idle = c->next_idle;
		p->n_idle--;
		x->reused = true;
		c->x = x;
		x->conn = c;
		/* The idle connection is watched for reading already: hand it
		 * over and write the request at once. Only what the socket does
		 * not take waits for writability; an error shows on the next
		 * iteration as readiness (retry_stale() takes it from there). */
		aigw_ev_set_fn(u->ev, c->fd, native_io, c);
		do
			n = send(c->fd, x->out.data, x->out.len, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n > 0)
			x->out_off = (size_t)n;
		if (x->out_off < x->out.len &&
		    aigw_ev_add(u->ev, c->fd, AIGW_EV_WRITE, native_io, c, NULL)) {
			conn_close(u, c);
			x->conn = NULL;
			return -1;
		}
		return 0;
	} else {
		fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = aigw_calloc(1, sizeof(*c));
		c->fd = fd;
		c->pool = p;
		if (connect(fd, (struct sockaddr *)&p->addr, p->addrlen) < 0) {
			if (errno != EINPROGRESS) {
				int e = errno;
				close(fd);
				free(c);
				errno = e;
				return -1;
			}
			c->connecting = true;
		}
	}
	c->x = x;
	x->conn = c;
	if (aigw_ev_add(u->ev, c->fd, AIGW_EV_READ | AIGW_EV_WRITE, native_io, c, NULL)) {
		conn_close(u, c);
		x->conn = NULL;
		return -1;
	}
	return 0;
}

static int native_start(struct aigw_upstream *u, struct aigw_xfer *x,
			const struct aigw_xfer_request *req, struct aigw_err *err)
{
	struct aigw_url url, proxy;
	bool body = req->body_len || strcmp(req->method, "POST") == 0 ||
		    strcmp(req->method, "PUT") == 0 || strcmp(req->method, "PATCH") == 0;
	const char *via = req->proxy && *req->proxy ? req->proxy : NULL;
	char authority[300];

	if (aigw_url_parse(req->url, &url, err))
		return AIGW_EINVAL;
	if (via && aigw_url_parse(via, &proxy, err))
		return AIGW_EINVAL;
	if (!(x->pool = pool_for(u, &url, via ? &proxy : NULL, err)))
		return AIGW_EFAIL;
	x->native = true;
	x->method = strcmp(req->method, "HEAD") == 0 ? AIGW_HTTP_HEAD : AIGW_HTTP_GET;
	aigw_http_response_init(&x->res, x->method);
	aigw_buf_puts(&x->out, req->method);
	aigw_buf_putc(&x->out, ' ');
	/* The authority goes after Host: and, through a proxy, also into the
	 * request line (absolute form, RFC 9112 section 3.2.2). */
	snprintf(authority, sizeof(authority), "%s%s%s", strchr(url.host, ':') ? "[" : "",
		 url.host, strchr(url.host, ':') ? "]" : "");
	if (url.port_given)
		snprintf(authority + strlen(authority), sizeof(authority) - strlen(authority),
			 ":%d", url.port);
	if (via) {
		aigw_buf_puts(&x->out, "http://");
		aigw_buf_puts(&x->out, authority);
	}
	aigw_buf_puts(&x->out, url.path[0] ? url.path : "/");
	aigw_buf_puts(&x->out, " HTTP/1.1\r\nHost: ");
	aigw_buf_puts(&x->out, authority);
	aigw_buf_puts(&x->out, "\r\n");
	if (req->fields_len)
		aigw_buf_append(&x->out, req->fields, req->fields_len);
	if (body) {
		aigw_buf_puts(&x->out, "Content-Length: ");
		aigw_buf_put_u64(&x->out, req->body_len);
		aigw_buf_puts(&x->out, "\r\n");
	}
	aigw_buf_puts(&x->out, "\r\n");
	if (req->body_len)
		aigw_buf_append(&x->out, req->body, req->body_len);
	aigw_ev_timer_init(&x->timer, native_timeout, x);
	x->timeout_us = (uint64_t)(req->timeout_ms ? req->timeout_ms : 0) * 1000;
	if (native_connect(x)) {
		int e = errno;
		return aigw_err_set(err, AIGW_EFAIL, "cannot connect to %s:%d: %s", x->pool->host,
				    x->pool->port, strerror(e));
	}
	{
		uint64_t connect_us = (uint64_t)(req->connect_timeout_ms ? req->connect_timeout_ms
									 : 10000) * 1000;
		uint64_t t = x->timeout_us;
		/* One timer: the whole transfer's limit, or the connect limit
		 * when that comes first. */
		if (x->conn->connecting && (!t || connect_us < t))
			t = connect_us;
		if (t)
			aigw_ev_timer_start(u->ev, &x->timer, t);
	}
	return 0;
}

static void link_live(struct aigw_upstream *u, struct aigw_xfer *x)
{
	x->next = u->live;
	if (u->live)
		u->live->pprev = &x->next;
	u->live = x;
	x->pprev = &u->live;
	u->active++;
}

int aigw_upstream_start(struct aigw_upstream *u, const struct aigw_xfer_request *req,
			struct aigw_xfer **out, struct aigw_err *err)
{
	struct aigw_xfer *x = xfer_new(u);
	CURL *e;
	CURLMcode mrc;

	if (!req->force_curl && strncmp(req->url, "http://", 7) == 0) {
		int rc;
		x->up = u;
		x->ops = req->ops;
		x->arg = req->arg;
		x->started_us = aigw_clock_mono_us();
		link_live(u, x);
		if ((rc = native_start(u, x, req, err))) {
			x->native = true;
			xfer_release(x);
			return rc;
		}
		*out = x;
		return 0;
	}
	if (curl_ready(u, err)) {
		xfer_free(x);
		return AIGW_EFAIL;
	}
	e = u->n_spare ? u->spare[--u->n_spare] : curl_easy_init();
	if (!e) {
		xfer_free(x);
		return aigw_err_set(err, AIGW_EFAIL, "cannot create a libcurl handle");
	}
	x->up = u;
	x->easy = e;
	x->ops = req->ops;
	x->arg = req->arg;
	x->started_us = aigw_clock_mono_us();
	/* libcurl wants one string per line. */
	for (const char *p = req->fields, *end = p ? p + req->fields_len : NULL; p && p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t l = (size_t)((eol ? eol : end) - p);
		if (l && p[l - 1] == '\r')
			l--;
		if (l) {
			char *line = aigw_strndup(p, l);
			x->headers = curl_slist_append(x->headers, line);
			memset(line, 0, l);
			free(line);
		}
		p = eol ? eol + 1 : end;
	}
	/* No "Expect: 100-continue" round trip before bodies: the nodes are
	 * ours to talk to and the extra round trip is pure latency. */
	x->headers = curl_slist_append(x->headers, "Expect:");

	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(req->connect_timeout_ms ? req->connect_timeout_ms : 10000));
	if (req->timeout_ms)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
	/* Only http and https, redirects passed through to the client. */
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	/* No proxy unless a node asks for one: an empty string also stops
	 * libcurl from reading the proxy variables of the environment on
	 * every transfer. */
	curl_easy_setopt(e, CURLOPT_PROXY, req->proxy ? req->proxy : "");
	if (req->body_len || strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0 ||
	    strcmp(req->method, "PATCH") == 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);

	link_live(u, x);
	mrc = curl_multi_add_handle(u->multi, e);
	if (mrc != CURLM_OK) {
		int rc = aigw_err_set(err, AIGW_EFAIL, "cannot start transfer: %s",
				      curl_multi_strerror(mrc));
		xfer_release(x);
		return rc;
	}
	*out = x;
	return 0;
}

void aigw_upstream_resume(struct aigw_xfer *x)
{
	if (!x->paused || x->aborted)
		return;
	x->paused = false;
	if (x->native) {
		aigw_ev_add(x->up->ev, x->conn->fd, AIGW_EV_READ, native_io, x->conn, NULL);
		native_process(x);
		return;
	}
	x->in_callback++;
	curl_easy_pause(x->easy, CURLPAUSE_CONT);
	x->in_callback--;
	if (!x->in_callback)
		check_done(x->up);
}

void aigw_upstream_abort(struct aigw_xfer *x)
{
	if (x->aborted)
		return;
	x->aborted = true;
	/* Inside a callback of this transfer libcurl still holds the handle:
	 * the callback's return value fails the transfer, and check_done
	 * frees it without calling on_done. */
	if (!x->in_callback)
		xfer_release(x);
}
