/* upstream: see upstream.h. */
#include "upstream.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
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
};

struct aigw_upstream {
	struct aigw_ev *ev;
	CURLM *multi;
	struct aigw_ev_timer timer;
	struct aigw_xfer *live;
	size_t active;
	CURL **spare;            /* easy handles kept for reuse */
	size_t n_spare;
};

#define SPARE_MAX 64

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

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
	struct aigw_upstream *u;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		aigw_err_set(err, AIGW_EFAIL, "cannot initialise libcurl: %s",
			     curl_easy_strerror(global_rc));
		return NULL;
	}
	u = aigw_calloc(1, sizeof(*u));
	u->ev = ev;
	u->multi = curl_multi_init();
	if (!u->multi) {
		free(u);
		aigw_err_set(err, AIGW_EFAIL, "cannot create a libcurl multi handle");
		return NULL;
	}
	aigw_ev_timer_init(&u->timer, timer_fired, u);
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
	curl_multi_setopt(u->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	/* Enough idle connections kept for a busy worker's node pool. */
	curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 512L);
	u->spare = aigw_malloc(SPARE_MAX * sizeof(*u->spare));
	return u;
}

static void xfer_release(struct aigw_xfer *x)
{
	struct aigw_upstream *u = x->up;

	curl_multi_remove_handle(u->multi, x->easy);
	if (u->n_spare < SPARE_MAX) {
		curl_easy_reset(x->easy);
		u->spare[u->n_spare++] = x->easy;
	} else {
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->headers);
	aigw_strv_release(&x->head);
	*x->pprev = x->next;
	if (x->next)
		x->next->pprev = x->pprev;
	u->active--;
	free(x);
}

void aigw_upstream_free(struct aigw_upstream *u)
{
	if (!u)
		return;
	while (u->live)
		xfer_release(u->live);
	for (size_t i = 0; i < u->n_spare; i++)
		curl_easy_cleanup(u->spare[i]);
	free(u->spare);
	aigw_ev_timer_stop(u->ev, &u->timer);
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

int aigw_upstream_start(struct aigw_upstream *u, const struct aigw_xfer_request *req,
			struct aigw_xfer **out, struct aigw_err *err)
{
	struct aigw_xfer *x = aigw_calloc(1, sizeof(*x));
	CURL *e = u->n_spare ? u->spare[--u->n_spare] : curl_easy_init();
	CURLMcode mrc;

	if (!e) {
		free(x);
		return aigw_err_set(err, AIGW_EFAIL, "cannot create a libcurl handle");
	}
	x->up = u;
	x->easy = e;
	x->ops = req->ops;
	x->arg = req->arg;
	x->started_us = aigw_clock_mono_us();
	for (size_t i = 0; req->headers && i < req->headers->n; i++)
		x->headers = curl_slist_append(x->headers, req->headers->v[i]);
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
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	if (req->body_len || strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0 ||
	    strcmp(req->method, "PATCH") == 0) {
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
	if (strcmp(req->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "POST") != 0)
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);

	x->next = u->live;
	if (u->live)
		u->live->pprev = &x->next;
	u->live = x;
	x->pprev = &u->live;
	u->active++;
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
