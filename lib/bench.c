/* bench: the load generator (see bench.h). This file is the engine; the
 * reports and the parsers of option values are in bench_report.c. */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "bench_tls.h"
#include "clock.h"
#include "ev.h"
#include "http.h"
#include "rand.h"
#include "sse.h"
#include "url.h"

const char *const aigw_bench_failure_names[AIGW_BENCH_FAILURE_COUNT] = {
	"connect", "reset", "timeout", "malformed",
};

/* After a failed connect a connection waits this long before the next
 * attempt, so an unreachable target is not hammered in a tight loop. */
#define CONNECT_BACKOFF_US 10000
#define READ_CHUNK 16384

void aigw_bench_config_init(struct aigw_bench_config *c)
{
	memset(c, 0, sizeof(*c));
	c->connections = 1;
	c->timeout_us = 10 * 1000000ULL;
	c->seed = 1;
}

int aigw_bench_result_init(struct aigw_bench_result *r, struct aigw_err *err)
{
	memset(r, 0, sizeof(*r));
	if (aigw_hist_init(&r->latency, AIGW_HIST_HOUR_US, 3, err) ||
	    aigw_hist_init(&r->ttft, AIGW_HIST_HOUR_US, 3, err) ||
	    aigw_hist_init(&r->itl, AIGW_HIST_HOUR_US, 3, err) ||
	    aigw_hist_init(&r->tpot, AIGW_HIST_HOUR_US, 3, err) ||
	    aigw_hist_init(&r->tokens_per_sec, UINT64_C(1000000000000), 3, err)) {
		aigw_bench_result_release(r);
		return AIGW_EINVAL;
	}
	return 0;
}

void aigw_bench_result_release(struct aigw_bench_result *r)
{
	aigw_hist_release(&r->latency);
	aigw_hist_release(&r->ttft);
	aigw_hist_release(&r->itl);
	aigw_hist_release(&r->tpot);
	aigw_hist_release(&r->tokens_per_sec);
	free(r->seconds);
	r->seconds = NULL;
	r->n_seconds = r->cap_seconds = 0;
}

bool aigw_bench_unreachable(const struct aigw_bench_result *r)
{
	return r->answers == 0 && r->failures[AIGW_BENCH_CONNECT] > 0 &&
	       r->failures[AIGW_BENCH_CONNECT] == r->completed;
}

/* ------------------------------------------------------------ state */

enum conn_state {
	C_CLOSED,     /* no socket */
	C_BACKOFF,    /* no socket; waiting to try again after a failed connect */
	C_IDLE,       /* connected, no request (open loop: waiting for one) */
	C_CONNECTING, /* a request waits for the connect to finish */
	C_BUSY,       /* request sent (or being sent), reading the answer */
};

struct bench;

struct conn {
	struct bench *b;
	int fd;
	int state;
	bool ever_connected;
	struct aigw_ev_timer timer;   /* request timeout, or connect backoff */
	const struct aigw_buf *req;
	size_t sent;
	uint64_t start_us;            /* when the request was due */
	struct aigw_buf in;
	size_t in_off;
	bool head_done;
	bool streaming;
	struct aigw_http_body body;
	struct aigw_sse sse;
	uint64_t first_token_us, last_token_us;
	uint64_t tokens, usage_tokens;
	bool has_usage;
	bool in_idle_list;
	struct conn *next_idle;
	struct aigw_bench_tls *tls;   /* https:// targets */
	bool tls_ready;               /* handshake done */
	struct aigw_http_response res; /* last: 3 KB of header slots */
};

struct bench {
	const struct aigw_bench_config *c;
	struct aigw_bench_result *r;
	struct aigw_ev *ev;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct aigw_buf *reqs;        /* prebuilt requests */
	size_t n_reqs, next_req;
	int method;
	struct conn *conns;
	struct conn *idle;            /* open loop: connections free for a request */
	uint64_t issued;              /* requests started */
	uint64_t start_us, end_us;
	bool stopping;
	int connect_failures_before_any; /* first attempts that failed */
	bool any_connected;

	/* Open loop: requests due but not yet sent (their due times). */
	uint64_t *queue;
	size_t q_head, q_len, q_cap;
	uint64_t next_due_us;
	int arrival_fd;               /* a timerfd: the reactor's timers round to 1 ms */
	uint64_t rng;

	struct aigw_ev_timer tick, deadline;
	struct aigw_hist prev, diff;  /* per-second series from the cumulative histogram */
	uint64_t prev_completed, prev_errors;
	struct aigw_http_limits limits;
	bool tls;
	char host[256];
	struct aigw_bench_anchors anchors;
};

static void conn_dispatch(struct conn *k);
static void conn_fail(struct conn *k, int kind, const char *detail);

/* A uniform double in (0, 1]. */
static double uniform(uint64_t *s)
{
	return ((double)(aigw_rand_xorshift64(s) >> 11) + 1.0) / 9007199254740992.0;
}

/* ------------------------------------------------------------ requests */

static bool header_named(const char *line, const char *name)
{
	size_t n = strlen(name);
	return strncasecmp(line, name, n) == 0 && line[n] == ':';
}

/* Builds the bytes of one request, once, before the run. */
static int build_request(const struct aigw_bench_config *c, const struct aigw_url *u,
			 const char *method, const char *body, size_t body_len, bool has_body,
			 struct aigw_buf *out, struct aigw_err *err)
{
	bool host = false, type = false;
	size_t n = c->headers ? c->headers->n : 0;

	aigw_buf_printf(out, "%s %s HTTP/1.1\r\n", method, u->path[0] ? u->path : "/");
	for (size_t i = 0; i < n; i++) {
		const char *line = c->headers->v[i];
		const char *colon = strchr(line, ':');
		const char *v;

		if (!colon || colon == line)
			return aigw_err_set(err, AIGW_EINVAL,
					    "-H '%s': not a 'Name: value' header", line);
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (aigw_http_write_header(out, line, (size_t)(colon - line), v, strlen(v)))
			return aigw_err_set(err, AIGW_EINVAL,
					    "-H '%s': not a valid header name or value", line);
		if (header_named(line, "host"))
			host = true;
		if (header_named(line, "content-type"))
			type = true;
		if (header_named(line, "content-length") ||
		    header_named(line, "transfer-encoding"))
			return aigw_err_set(err, AIGW_EINVAL,
					    "-H '%s': the length of the body is set by aigw bench",
					    line);
	}
	if (!host) {
		bool v6 = strchr(u->host, ':') != NULL;
		if (u->port_given)
			aigw_buf_printf(out, "Host: %s%s%s:%d\r\n", v6 ? "[" : "", u->host,
					v6 ? "]" : "", u->port);
		else
			aigw_buf_printf(out, "Host: %s%s%s\r\n", v6 ? "[" : "", u->host,
					v6 ? "]" : "");
	}
	if (has_body) {
		if (!type)
			aigw_buf_puts(out, "Content-Type: application/json\r\n");
		aigw_buf_printf(out, "Content-Length: %zu\r\n", body_len);
	}
	aigw_buf_puts(out, "\r\n");
	if (has_body)
		aigw_buf_append(out, body, body_len);
	return 0;
}

/* With stream set, a JSON body that does not say whether to stream is
 * asked to, with usage in its last chunk: what an LLM benchmark means. */
static char *streamed_body(const char *body, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(body, len);
	char *s = NULL;

	if (j && cJSON_IsObject(j) && !cJSON_GetObjectItemCaseSensitive(j, "stream")) {
		cJSON *so = cJSON_CreateObject();
		cJSON_AddBoolToObject(j, "stream", 1);
		cJSON_AddBoolToObject(so, "include_usage", 1);
		cJSON_AddItemToObject(j, "stream_options", so);
		s = cJSON_PrintUnformatted(j);
	}
	cJSON_Delete(j);
	return s;
}

static int build_requests(struct bench *b, const struct aigw_url *u, struct aigw_err *err)
{
	const struct aigw_bench_config *c = b->c;
	size_t n = c->dataset && c->dataset->n ? c->dataset->n : 1;
	bool has_body = (c->dataset && c->dataset->n) || c->body;
	const char *method = c->method ? c->method : has_body ? "POST" : "GET";

	if (!*method || strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method))
		return aigw_err_set(err, AIGW_EINVAL, "method '%s': not an upper-case token",
				    method);
	b->method = strcmp(method, "HEAD") == 0 ? AIGW_HTTP_HEAD : AIGW_HTTP_GET;
	b->reqs = calloc(n, sizeof(*b->reqs));
	if (!b->reqs)
		return aigw_err_set(err, AIGW_EFAIL, "out of memory");
	b->n_reqs = n;
	for (size_t i = 0; i < n; i++) {
		const char *body = c->body;
		size_t len = c->body_len;
		char *owned = NULL;
		int rc;

		aigw_buf_init(&b->reqs[i]);
		if (c->dataset && c->dataset->n) {
			body = c->dataset->v[i];
			len = strlen(body);
		}
		if (c->stream && body && (owned = streamed_body(body, len))) {
			body = owned;
			len = strlen(owned);
		}
		rc = build_request(c, u, method, body, len, has_body, &b->reqs[i], err);
		free(owned);
		if (rc)
			return rc;
	}
	return 0;
}

static const struct aigw_buf *next_request(struct bench *b)
{
	size_t i;

	if (b->n_reqs == 1)
		return &b->reqs[0];
	if (b->c->dataset_random)
		i = (size_t)(aigw_rand_xorshift64(&b->rng) % b->n_reqs);
	else
		i = b->next_req++ % b->n_reqs;
	return &b->reqs[i];
}

/* ------------------------------------------------------------ accounting */

static void count_completed(struct bench *b)
{
	b->r->completed++;
	if (b->c->requests && b->r->completed >= b->c->requests && !b->stopping) {
		b->stopping = true;
		aigw_ev_stop(b->ev);
	}
}

/* Whether another request may start (closed loop). */
static bool may_issue(struct bench *b)
{
	if (b->stopping)
		return false;
	return !b->c->requests || b->issued < b->c->requests;
}

static void record_stream(struct conn *k, uint64_t now, uint64_t latency)
{
	struct aigw_bench_result *r = k->b->r;
	uint64_t tokens = k->has_usage ? k->usage_tokens : k->tokens;

	r->streams++;
	r->output_tokens += tokens;
	if (k->first_token_us && tokens > 1 && now >= k->first_token_us)
		aigw_hist_record(&r->tpot, (now - k->first_token_us) / (tokens - 1));
	if (latency > 0 && tokens > 0)
		aigw_hist_record(&r->tokens_per_sec, tokens * UINT64_C(1000000000) / latency);
}

static void record_answer(struct conn *k)
{
	struct bench *b = k->b;
	struct aigw_bench_result *r = b->r;
	uint64_t now = aigw_ev_now_us(b->ev);
	uint64_t latency = now > k->start_us ? now - k->start_us : 0;
	int status = k->res.status;
	bool ok = status >= 200 && status < 300;

	r->answers++;
	r->status[status]++;
	if (ok)
		r->ok++;
	else
		r->errors++;
	aigw_hist_record(&r->latency, latency);
	if (k->streaming && ok)
		record_stream(k, now, latency);
	if (ok && (!b->c->slo_e2e_us || latency <= b->c->slo_e2e_us) &&
	    (!b->c->slo_ttft_us ||
	     (k->first_token_us && k->first_token_us - k->start_us <= b->c->slo_ttft_us)))
		r->goodput++;
	count_completed(b);
}

/* ------------------------------------------------------------ streams */

/* One SSE event of an OpenAI stream: a content delta is a token; the
 * usage chunk says how many there were. */
static int on_event(const struct aigw_sse_event *e, void *arg)
{
	struct conn *k = arg;
	struct aigw_bench_result *r = k->b->r;
	uint64_t now = aigw_ev_now_us(k->b->ev);
	cJSON *j, *choices, *usage;

	if (e->data_len == 6 && memcmp(e->data, "[DONE]", 6) == 0)
		return 0;
	j = cJSON_ParseWithLength(e->data, e->data_len);
	if (!j)
		return 0; /* not JSON: a comment-like event some servers send */
	choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
	if (cJSON_IsArray(choices) && cJSON_GetArraySize(choices) > 0) {
		cJSON *c0 = cJSON_GetArrayItem(choices, 0);
		cJSON *delta = cJSON_GetObjectItemCaseSensitive(c0, "delta");
		cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
		if (!content)
			content = cJSON_GetObjectItemCaseSensitive(c0, "text");
		if (cJSON_IsString(content) && content->valuestring[0]) {
			if (!k->first_token_us) {
				k->first_token_us = now;
				aigw_hist_record(&r->ttft, now > k->start_us ? now - k->start_us : 0);
			} else {
				aigw_hist_record(&r->itl, now - k->last_token_us);
			}
			k->last_token_us = now;
			k->tokens++;
		}
	}
	usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
	if (cJSON_IsObject(usage)) {
		cJSON *ct = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
		if (cJSON_IsNumber(ct) && ct->valuedouble >= 0) {
			k->usage_tokens = (uint64_t)ct->valuedouble;
			k->has_usage = true;
		}
	}
	cJSON_Delete(j);
	return 0;
}

/* ------------------------------------------------------------ connections */

static void conn_close(struct conn *k)
{
	if (k->fd >= 0) {
		aigw_ev_del(k->b->ev, k->fd, AIGW_EV_READ | AIGW_EV_WRITE);
		close(k->fd);
		k->fd = -1;
	}
	aigw_ev_timer_stop(k->b->ev, &k->timer);
	if (k->streaming) {
		aigw_sse_release(&k->sse);
		k->streaming = false;
	}
	aigw_buf_reset(&k->in);
	k->in_off = 0;
	k->state = C_CLOSED;
}

static void conn_io(struct aigw_ev *ev, int fd, int mask, void *arg);

static int conn_connect(struct conn *k)
{
	struct bench *b = k->b;
	int one = 1;
	int fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		conn_fail(k, AIGW_BENCH_CONNECT, strerror(errno));
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	k->fd = fd;
	if (connect(fd, (struct sockaddr *)&b->addr, b->addrlen) < 0 && errno != EINPROGRESS) {
		conn_fail(k, AIGW_BENCH_CONNECT, strerror(errno));
		return -1;
	}
	k->state = C_CONNECTING;
	k->tls_ready = false;
	if (k->tls && aigw_bench_tls_start(k->tls, &b->anchors, b->host)) {
		conn_fail(k, AIGW_BENCH_CONNECT, "tls: cannot start a handshake");
		return -1;
	}
	if (aigw_ev_add(b->ev, fd, AIGW_EV_WRITE, conn_io, k, NULL)) {
		conn_fail(k, AIGW_BENCH_CONNECT, "cannot watch the socket");
		return -1;
	}
	return 0;
}

static void conn_timer(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct conn *k = arg;
	(void)ev;
	(void)t;
	if (k->state == C_BACKOFF) {
		k->state = C_CLOSED;
		conn_dispatch(k);
	} else {
		conn_fail(k, AIGW_BENCH_TIMEOUT, "no complete answer in time");
	}
}

static void tls_pump(struct conn *k);

/* Sends what is left of the request. */
static void conn_write(struct conn *k)
{
	const struct aigw_buf *q = k->req;

	if (k->tls) {
		tls_pump(k);
		return;
	}
	while (k->sent < q->len) {
		ssize_t n = send(k->fd, q->data + k->sent, q->len - k->sent, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				aigw_ev_add(k->b->ev, k->fd, AIGW_EV_WRITE, conn_io, k, NULL);
				return;
			}
			conn_fail(k, AIGW_BENCH_RESET, strerror(errno));
			return;
		}
		k->sent += (size_t)n;
	}
	if (aigw_ev_fd_mask(k->b->ev, k->fd) & AIGW_EV_WRITE)
		aigw_ev_del(k->b->ev, k->fd, AIGW_EV_WRITE);
}

/* Starts the request that k->req and k->start_us describe. */
static void conn_send(struct conn *k)
{
	struct bench *b = k->b;

	k->sent = 0;
	k->head_done = false;
	k->first_token_us = 0;
	aigw_http_response_init(&k->res, b->method);
	if (b->c->timeout_us)
		aigw_ev_timer_start(b->ev, &k->timer, b->c->timeout_us);
	if (k->fd < 0) {
		conn_connect(k);
		return;
	}
	k->state = C_BUSY;
	conn_write(k);
}

/* Gives k its next request, or leaves it idle. */
static void conn_dispatch(struct conn *k)
{
	struct bench *b = k->b;

	if (b->stopping || k->state == C_BACKOFF)
		return;
	if (b->c->rate > 0) {
		if (b->q_len == 0) {
			if (!k->in_idle_list) {
				k->in_idle_list = true;
				k->next_idle = b->idle;
				b->idle = k;
			}
			if (k->fd >= 0)
				k->state = C_IDLE;
			return;
		}
		k->start_us = b->queue[b->q_head];
		b->q_head = (b->q_head + 1) % b->q_cap;
		b->q_len--;
	} else {
		if (!may_issue(b)) {
			if (k->fd >= 0)
				k->state = C_IDLE;
			return;
		}
		k->start_us = aigw_ev_now_us(b->ev);
	}
	b->issued++;
	k->req = next_request(b);
	conn_send(k);
}

/* The request on k failed: count it, drop the connection, go on. */
static void conn_fail(struct conn *k, int kind, const char *detail)
{
	struct bench *b = k->b;
	struct aigw_bench_result *r = b->r;

	r->failures[kind]++;
	r->errors++;
	snprintf(r->last_failure, sizeof(r->last_failure), "%s", detail);
	conn_close(k);
	count_completed(b);
	if (kind == AIGW_BENCH_CONNECT) {
		if (!b->any_connected && !k->ever_connected &&
		    ++b->connect_failures_before_any >= b->c->connections && !b->stopping) {
			/* Every connection failed its first attempt and none ever
			 * got through: the target is not there. */
			b->stopping = true;
			aigw_ev_stop(b->ev);
			return;
		}
		k->state = C_BACKOFF;
		aigw_ev_timer_start(b->ev, &k->timer, CONNECT_BACKOFF_US);
		return;
	}
	conn_dispatch(k);
}

/* Parses what has arrived; returns false when k was closed. */
static bool conn_parse(struct conn *k)
{
	struct bench *b = k->b;
	struct aigw_http_error herr;

	for (;;) {
		const char *data = k->in.data + k->in_off;
		size_t len = k->in.len - k->in_off, consumed = 0;
		struct aigw_http_slice piece;
		int rc;

		if (!k->head_done) {
			rc = aigw_http_parse_response(&k->res, data, len, &b->limits, &consumed, &herr);
			if (rc == AIGW_AGAIN)
				return true;
			if (rc) {
				conn_fail(k, AIGW_BENCH_MALFORMED, herr.reason);
				return false;
			}
			k->in_off += consumed;
			if (k->res.status < 200) { /* interim: the real answer follows */
				aigw_http_response_init(&k->res, b->method);
				continue;
			}
			k->head_done = true;
			aigw_http_body_init(&k->body, k->res.framing, k->res.content_length, &b->limits);
			if (k->res.status == 429) {
				const struct aigw_http_slice *ra =
					aigw_http_response_header(&k->res, "retry-after");
				uint64_t s = 0;
				size_t i;
				for (i = 0; ra && i < ra->len && ra->ptr[i] >= '0' && ra->ptr[i] <= '9' &&
					    s < UINT64_C(1000000000);
				     i++)
					s = s * 10 + (uint64_t)(ra->ptr[i] - '0');
				if (ra && i == ra->len && i > 0) {
					struct aigw_bench_result *r = b->r;
					if (!r->retry_after_count || s < r->retry_after_min_s)
						r->retry_after_min_s = s;
					if (s > r->retry_after_max_s)
						r->retry_after_max_s = s;
					r->retry_after_count++;
				}
			}
			{
				const struct aigw_http_slice *ct =
					aigw_http_response_header(&k->res, "content-type");
				bool sse = ct && ct->len >= 17 &&
					   strncasecmp(ct->ptr, "text/event-stream", 17) == 0;
				if (sse || b->c->stream) {
					k->streaming = true;
					aigw_sse_init(&k->sse, 0);
					k->first_token_us = k->last_token_us = 0;
					k->tokens = k->usage_tokens = 0;
					k->has_usage = false;
				}
			}
			continue;
		}
		rc = aigw_http_body_decode(&k->body, data, len, &consumed, &piece, &herr);
		k->in_off += consumed;
		if (rc == AIGW_EINVAL) {
			conn_fail(k, AIGW_BENCH_MALFORMED, herr.reason);
			return false;
		}
		if (piece.len && k->streaming &&
		    aigw_sse_feed(&k->sse, piece.ptr, piece.len, on_event, k) < 0) {
			conn_fail(k, AIGW_BENCH_MALFORMED, "stream event too large");
			return false;
		}
		if (rc == 0)
			break;
		if (consumed == 0 || k->in_off == k->in.len)
			return true;
	}
	/* A complete answer. */
	aigw_ev_timer_stop(b->ev, &k->timer);
	if (k->in_off < k->in.len) {
		conn_fail(k, AIGW_BENCH_MALFORMED, "bytes after the answer");
		return false;
	}
	aigw_buf_reset(&k->in);
	k->in_off = 0;
	record_answer(k);
	if (k->streaming) {
		aigw_sse_release(&k->sse);
		k->streaming = false;
	}
	if (!k->res.keep_alive)
		conn_close(k);
	k->state = k->fd >= 0 ? C_IDLE : C_CLOSED;
	conn_dispatch(k);
	return false;
}

/* Makes room for at least want more bytes in k->in, dropping what was
 * consumed. */
static void in_room(struct conn *k, size_t want)
{
	if (k->in_off > 0 && k->in_off == k->in.len) {
		aigw_buf_reset(&k->in);
		k->in_off = 0;
	} else if (k->in_off > 0 && k->in.cap - k->in.len < want) {
		memmove(k->in.data, k->in.data + k->in_off, k->in.len - k->in_off);
		aigw_buf_truncate(&k->in, k->in.len - k->in_off);
		k->in_off = 0;
	}
	aigw_buf_grow(&k->in, want);
}

/* The peer closed the connection. */
static void conn_eof(struct conn *k)
{
	struct aigw_http_error herr;

	if (k->state != C_BUSY) { /* an idle keep-alive connection closed */
		conn_close(k);
		conn_dispatch(k);
		return;
	}
	if (k->head_done && k->body.framing == AIGW_HTTP_BODY_CLOSE &&
	    aigw_http_body_eof(&k->body, &herr) == 0) {
		k->res.keep_alive = false;
		/* Finish through the parser with an empty body left. */
		aigw_http_body_init(&k->body, AIGW_HTTP_BODY_NONE, 0, &k->b->limits);
		conn_parse(k);
		return;
	}
	conn_fail(k, AIGW_BENCH_RESET, "connection closed before the answer ended");
}

static void conn_read(struct conn *k)
{
	struct bench *b = k->b;

	for (;;) {
		ssize_t n;

		in_room(k, READ_CHUNK);
		n = recv(k->fd, k->in.data + k->in.len, k->in.cap - k->in.len - 1, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (k->state == C_BUSY)
				conn_fail(k, AIGW_BENCH_RESET, strerror(errno));
			else
				conn_close(k);
			return;
		}
		if (n == 0) {
			conn_eof(k);
			return;
		}
		k->in.len += (size_t)n;
		k->in.data[k->in.len] = '\0';
		b->r->bytes_in += (uint64_t)n;
		if (k->state != C_BUSY) {
			conn_fail(k, AIGW_BENCH_MALFORMED, "bytes before a request");
			return;
		}
		if (!conn_parse(k))
			return;
		if ((size_t)n < READ_CHUNK / 2)
			return; /* probably drained; level-triggered epoll says if not */
	}
}

/* Moves bytes between the socket, BearSSL and the request and answer
 * until nothing moves without waiting for the socket. */
static void tls_pump(struct conn *k)
{
	br_ssl_engine_context *eng = &k->tls->client.eng;
	struct bench *b = k->b;

	for (;;) {
		unsigned st = br_ssl_engine_current_state(eng);
		unsigned char *buf;
		size_t len;
		ssize_t n;

		if (st & BR_SSL_CLOSED) {
			int e = br_ssl_engine_last_error(eng);
			char why[128];
			if (e == BR_ERR_OK) {
				conn_eof(k);
				return;
			}
			snprintf(why, sizeof(why), "tls: %s (BearSSL error %d)",
				 aigw_bench_tls_error(e), e);
			if (k->state != C_BUSY)
				conn_close(k);
			else
				conn_fail(k, k->tls_ready ? AIGW_BENCH_MALFORMED : AIGW_BENCH_CONNECT,
					  why);
			return;
		}
		if ((st & (BR_SSL_SENDAPP | BR_SSL_RECVAPP)) && !k->tls_ready) {
			k->tls_ready = true;
			k->ever_connected = true;
			b->any_connected = true;
		}
		if (st & BR_SSL_SENDREC) {
			buf = br_ssl_engine_sendrec_buf(eng, &len);
			n = send(k->fd, buf, len, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					aigw_ev_add(b->ev, k->fd, AIGW_EV_WRITE, conn_io, k, NULL);
					return;
				}
				conn_fail(k, k->tls_ready ? AIGW_BENCH_RESET : AIGW_BENCH_CONNECT,
					  strerror(errno));
				return;
			}
			br_ssl_engine_sendrec_ack(eng, (size_t)n);
			continue;
		}
		if (aigw_ev_fd_mask(b->ev, k->fd) & AIGW_EV_WRITE)
			aigw_ev_del(b->ev, k->fd, AIGW_EV_WRITE);
		if (st & BR_SSL_RECVAPP) {
			buf = br_ssl_engine_recvapp_buf(eng, &len);
			if (k->state != C_BUSY) {
				conn_fail(k, AIGW_BENCH_MALFORMED, "bytes before a request");
				return;
			}
			in_room(k, len + 1);
			aigw_buf_append(&k->in, buf, len);
			br_ssl_engine_recvapp_ack(eng, len);
			b->r->bytes_in += len;
			if (!conn_parse(k))
				return;
			continue;
		}
		if ((st & BR_SSL_SENDAPP) && k->state == C_BUSY && k->sent < k->req->len) {
			buf = br_ssl_engine_sendapp_buf(eng, &len);
			if (len > k->req->len - k->sent)
				len = k->req->len - k->sent;
			memcpy(buf, k->req->data + k->sent, len);
			br_ssl_engine_sendapp_ack(eng, len);
			k->sent += len;
			if (k->sent == k->req->len)
				br_ssl_engine_flush(eng, 0);
			continue;
		}
		if (st & BR_SSL_RECVREC) {
			buf = br_ssl_engine_recvrec_buf(eng, &len);
			n = recv(k->fd, buf, len, 0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return;
				if (k->state == C_BUSY)
					conn_fail(k, k->tls_ready ? AIGW_BENCH_RESET : AIGW_BENCH_CONNECT,
						  strerror(errno));
				else
					conn_close(k);
				return;
			}
			if (n == 0) {
				if (!k->tls_ready && k->state == C_BUSY)
					conn_fail(k, AIGW_BENCH_CONNECT, "tls: closed during the handshake");
				else
					conn_eof(k);
				return;
			}
			br_ssl_engine_recvrec_ack(eng, (size_t)n);
			continue;
		}
		return;
	}
}

static void conn_io(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	struct conn *k = arg;
	(void)ev;
	(void)fd;

	if (k->state == C_CONNECTING) {
		int e = 0;
		socklen_t l = sizeof(e);
		if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &e, &l) < 0)
			e = errno;
		if (e) {
			conn_fail(k, AIGW_BENCH_CONNECT, strerror(e));
			return;
		}
		if (!k->tls) {
			k->ever_connected = true;
			k->b->any_connected = true;
		}
		k->state = C_BUSY;
		aigw_ev_add(k->b->ev, k->fd, AIGW_EV_READ, conn_io, k, NULL);
		conn_write(k);
		return;
	}
	if (k->tls) {
		tls_pump(k);
		return;
	}
	if ((mask & AIGW_EV_WRITE) && k->state == C_BUSY && k->sent < k->req->len) {
		conn_write(k);
		if (k->fd < 0)
			return;
	}
	if (mask & AIGW_EV_READ)
		conn_read(k);
}

/* ------------------------------------------------------------ timers */

static void queue_push(struct bench *b, uint64_t due)
{
	if (b->q_len == b->q_cap) {
		size_t cap = b->q_cap ? b->q_cap * 2 : 1024;
		uint64_t *q = malloc(cap * sizeof(*q));
		if (!q)
			abort();
		for (size_t i = 0; i < b->q_len; i++)
			q[i] = b->queue[(b->q_head + i) % b->q_cap];
		free(b->queue);
		b->queue = q;
		b->q_cap = cap;
		b->q_head = 0;
	}
	b->queue[(b->q_head + b->q_len) % b->q_cap] = due;
	b->q_len++;
}

static uint64_t gap_us(struct bench *b)
{
	double mean = 1e6 / b->c->rate;
	if (b->c->arrivals == AIGW_BENCH_POISSON)
		return (uint64_t)(-log(uniform(&b->rng)) * mean + 0.5);
	return (uint64_t)(mean + 0.5);
}

/* Arms the arrival timer for the monotonic time due_us, to the
 * microsecond: a request sent up to a millisecond late would count that
 * millisecond as the target's latency. */
static void arm_arrival(struct bench *b, uint64_t due_us)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (due_us == 0)
		due_us = 1; /* 0 would disarm */
	its.it_value.tv_sec = (time_t)(due_us / 1000000);
	its.it_value.tv_nsec = (long)(due_us % 1000000) * 1000;
	timerfd_settime(b->arrival_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Open loop: every request due by now joins the queue; idle connections
 * take them. */
static void on_arrival(struct aigw_ev *ev, int fd, int mask, void *arg)
{
	struct bench *b = arg;
	uint64_t now = aigw_ev_update_time(ev);
	uint64_t expirations;
	double exact = 0;

	(void)mask;
	if (read(fd, &expirations, sizeof(expirations)) < 0 && errno == EAGAIN)
		return;
	while (b->next_due_us <= now && !b->stopping &&
	       (!b->c->duration_us || b->next_due_us < b->start_us + b->c->duration_us) &&
	       (!b->c->requests || b->issued + b->q_len < b->c->requests)) {
		queue_push(b, b->next_due_us);
		if (b->c->arrivals == AIGW_BENCH_CONSTANT) {
			/* Exact schedule: due(i) = start + i / rate, no drift. */
			uint64_t i = b->issued + b->q_len;
			exact = (double)i * 1e6 / b->c->rate;
			b->next_due_us = b->start_us + (uint64_t)(exact + 0.5);
		} else {
			b->next_due_us += gap_us(b);
		}
	}
	while (b->q_len && b->idle) {
		struct conn *k = b->idle;
		b->idle = k->next_idle;
		k->in_idle_list = false;
		if (k->state == C_BACKOFF || k->state == C_BUSY || k->state == C_CONNECTING)
			continue;
		conn_dispatch(k);
	}
	if (b->q_len > (size_t)b->c->connections)
		b->r->lagged = true;
	if (!b->stopping && (!b->c->requests || b->issued + b->q_len < b->c->requests) &&
	    (!b->c->duration_us || b->next_due_us < b->start_us + b->c->duration_us))
		arm_arrival(b, b->next_due_us);
}

static void on_tick(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct bench *b = arg;
	struct aigw_bench_result *r = b->r;
	struct aigw_bench_second s = { 0 };
	struct aigw_hist_summary sum;
	uint64_t now = aigw_ev_update_time(ev);

	(void)t;
	aigw_hist_reset(&b->diff);
	aigw_hist_merge(&b->diff, &r->latency, NULL);
	aigw_hist_subtract(&b->diff, &b->prev, NULL);
	aigw_hist_summarize(&b->diff, &sum);
	aigw_hist_reset(&b->prev);
	aigw_hist_merge(&b->prev, &r->latency, NULL);
	s.completed = r->completed - b->prev_completed;
	s.errors = r->errors - b->prev_errors;
	s.p50_us = sum.p50;
	s.p99_us = sum.p99;
	s.max_us = sum.max;
	b->prev_completed = r->completed;
	b->prev_errors = r->errors;
	if (r->n_seconds == r->cap_seconds) {
		size_t cap = r->cap_seconds ? r->cap_seconds * 2 : 64;
		struct aigw_bench_second *v = realloc(r->seconds, cap * sizeof(*v));
		if (!v)
			abort();
		r->seconds = v;
		r->cap_seconds = cap;
	}
	r->seconds[r->n_seconds++] = s;
	if (b->c->progress) {
		struct aigw_bench_progress p = {
			now - b->start_us, r->completed, r->errors, (double)s.completed, s.p99_us,
		};
		b->c->progress(&p, b->c->progress_arg);
	}
	aigw_ev_timer_start(ev, &b->tick, 1000000 - (now - b->start_us) % 1000000);
}

/* A signal interrupts the wait; this runs before the next one. */
static void check_interrupted(struct aigw_ev *ev, void *arg)
{
	struct bench *b = arg;

	if (*b->c->interrupted && !b->stopping) {
		b->stopping = true;
		b->r->interrupted = true;
		aigw_ev_stop(ev);
	}
}

static void on_deadline(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct bench *b = arg;
	(void)t;
	b->stopping = true;
	aigw_ev_stop(ev);
}

/* ------------------------------------------------------------ the run */

static int resolve(struct bench *b, const struct aigw_url *u, struct aigw_err *err)
{
	struct addrinfo hints, *ai = NULL;
	char port[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", u->port);
	rc = getaddrinfo(u->host, port, &hints, &ai);
	if (rc || !ai)
		return aigw_err_set(err, AIGW_EFAIL, "cannot resolve '%s': %s", u->host,
				    rc ? gai_strerror(rc) : "no address");
	/* IPv4 first when a name has both ("localhost"): a test server on
	 * 127.0.0.1 is far more common than one on ::1 only. */
	{
		struct addrinfo *pick = ai;
		for (struct addrinfo *p = ai; p; p = p->ai_next)
			if (p->ai_family == AF_INET) {
				pick = p;
				break;
			}
		memcpy(&b->addr, pick->ai_addr, pick->ai_addrlen);
		b->addrlen = pick->ai_addrlen;
	}
	freeaddrinfo(ai);
	return 0;
}

static uint64_t tv_us(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
}

static void bench_free(struct bench *b)
{
	if (b->conns) {
		for (int i = 0; i < b->c->connections; i++) {
			conn_close(&b->conns[i]);
			aigw_buf_release(&b->conns[i].in);
			free(b->conns[i].tls);
		}
		free(b->conns);
	}
	for (size_t i = 0; i < b->n_reqs; i++)
		aigw_buf_release(&b->reqs[i]);
	free(b->reqs);
	free(b->queue);
	aigw_bench_anchors_release(&b->anchors);
	if (b->arrival_fd >= 0) {
		if (b->ev)
			aigw_ev_del(b->ev, b->arrival_fd, AIGW_EV_READ);
		close(b->arrival_fd);
	}
	aigw_hist_release(&b->prev);
	aigw_hist_release(&b->diff);
	aigw_ev_free(b->ev);
}

int aigw_bench_run(const struct aigw_bench_config *c, struct aigw_bench_result *r,
		   struct aigw_err *err)
{
	struct bench b;
	struct aigw_url u;
	struct rusage ru0, ru1;
	int rc;

	memset(&b, 0, sizeof(b));
	b.c = c;
	b.r = r;
	b.rng = c->seed ? c->seed : 1;
	b.arrival_fd = -1;
	if (c->connections < 1)
		return aigw_err_set(err, AIGW_EINVAL, "connections: must be at least 1");
	if (!c->requests && !c->duration_us)
		return aigw_err_set(err, AIGW_EINVAL, "give a number of requests or a duration");
	if ((rc = aigw_url_parse(c->url, &u, err)))
		return rc;
	b.tls = strcmp(u.scheme, "https") == 0;
	snprintf(b.host, sizeof(b.host), "%s", u.host);
	snprintf(r->url, sizeof(r->url), "%s", c->url);
	r->connections = c->connections;
	r->rate = c->rate;
	r->arrivals = c->arrivals;
	aigw_http_limits_init(&b.limits);
	b.limits.max_body_bytes = UINT64_C(1) << 40;
	if ((rc = build_requests(&b, &u, err)) || (rc = resolve(&b, &u, err)))
		goto out;
	if (b.tls && (rc = aigw_bench_anchors_load(&b.anchors,
						   c->ca_file ? c->ca_file : AIGW_BENCH_CA_BUNDLE,
						   err)))
		goto out;
	if (aigw_hist_init(&b.prev, AIGW_HIST_HOUR_US, 3, err) ||
	    aigw_hist_init(&b.diff, AIGW_HIST_HOUR_US, 3, err)) {
		rc = AIGW_EFAIL;
		goto out;
	}
	b.ev = aigw_ev_new(c->connections + 16, err);
	b.conns = calloc((size_t)c->connections, sizeof(*b.conns));
	if (!b.ev || !b.conns) {
		rc = aigw_err_set(err, AIGW_EFAIL, "cannot set up the event loop");
		goto out;
	}
	for (int i = 0; i < c->connections; i++) {
		struct conn *k = &b.conns[i];
		k->b = &b;
		k->fd = -1;
		aigw_buf_init(&k->in);
		if (b.tls && !(k->tls = malloc(sizeof(*k->tls)))) {
			rc = aigw_err_set(err, AIGW_EFAIL, "out of memory");
			goto out;
		}
		aigw_ev_timer_init(&k->timer, conn_timer, k);
	}
	aigw_ev_timer_init(&b.tick, on_tick, &b);
	aigw_ev_timer_init(&b.deadline, on_deadline, &b);
	if (c->rate > 0) {
		b.arrival_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (b.arrival_fd < 0 ||
		    aigw_ev_add(b.ev, b.arrival_fd, AIGW_EV_READ, on_arrival, &b, err)) {
			rc = aigw_err_set(err, AIGW_EFAIL, "cannot make a timer: %s", strerror(errno));
			goto out;
		}
	}

	if (c->interrupted)
		aigw_ev_set_before_sleep(b.ev, check_interrupted, &b);
	getrusage(RUSAGE_SELF, &ru0);
	b.start_us = aigw_ev_update_time(b.ev);
	aigw_ev_timer_start(b.ev, &b.tick, 1000000);
	if (c->duration_us)
		aigw_ev_timer_start(b.ev, &b.deadline, c->duration_us);
	if (c->rate > 0) {
		/* Every connection starts idle; each connects when it gets
		 * its first request. */
		for (int i = 0; i < c->connections; i++) {
			struct conn *k = &b.conns[i];
			k->in_idle_list = true;
			k->next_idle = b.idle;
			b.idle = k;
		}
		b.next_due_us = b.start_us;
		arm_arrival(&b, b.next_due_us);
	} else {
		for (int i = 0; i < c->connections && !b.stopping; i++)
			conn_dispatch(&b.conns[i]);
	}
	if (!b.stopping && (rc = aigw_ev_run(b.ev, err)))
		goto out;
	b.end_us = aigw_ev_update_time(b.ev);
	getrusage(RUSAGE_SELF, &ru1);
	r->elapsed_us = b.end_us - b.start_us;
	r->cpu_user_us = tv_us(ru1.ru_utime) - tv_us(ru0.ru_utime);
	r->cpu_system_us = tv_us(ru1.ru_stime) - tv_us(ru0.ru_stime);
	/* One thread: ~90% of a core busy means the generator, not the
	 * target, may be what limited the rate. */
	r->saturated = r->elapsed_us > 200000 &&
		       (r->cpu_user_us + r->cpu_system_us) * 10 >= r->elapsed_us * 9;
	rc = 0;
out:
	bench_free(&b);
	return rc;
}
