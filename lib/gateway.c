/* gateway: see gateway.h. */
#include "gateway.h"

#include <cJSON.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "accounts.h"
#include "auth.h"
#include "health.h"
#include "balance.h"
#include "buf.h"
#include "clock.h"
#include "json.h"
#include "live.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "node.h"
#include "provider.h"
#include "provider/messages.h"
#include "provider/oai.h"
#include "rand.h"
#include "reqlog.h"
#include "server.h"
#include "snapshot.h"
#include "sse.h"
#include "standby.h"
#include "upstream.h"

/* Bytes of a plain (not streamed) answer kept to read its usage from. */
#define USAGE_BODY_MAX (1u << 20)
/* The largest answer translated whole (embeddings of many inputs are
 * the big ones); a larger one is a 502. */
#define TRANSLATE_BODY_MAX (64u << 20)

enum family {
	F_REQUESTS,
	F_DURATION,
	F_TTFB,
	F_IN_FLIGHT,
	F_TOKENS,
	F_COUNT
};

/* Metric series ids by route and node index of the worker's snapshot, so
 * that accounting a request does not hash label strings. Series ids stay
 * valid for the registry's life; the indices change with the snapshot, so
 * refresh() starts the cache over. UINT32_MAX: not looked up yet. Index 0
 * of each array stands for "none" (route or node -1). */
struct series_cache {
	size_t n_routes, n_nodes;
	uint32_t *duration;        /* [route + 1] */
	uint32_t *ttfb;            /* [node + 1] */
	uint32_t *tokens;          /* [(node + 1) * 2 + kind]: prompt, completion */
	struct req_series {
		int status;        /* -1: empty */
		uint32_t series;
	} *requests;               /* [(route + 1) * (n_nodes + 1) + node + 1] */
};

struct worker {
	struct aigw_gateway *gw;
	int index;
	struct aigw_upstream *up;
	struct aigw_snapshot *snap;      /* this worker's current state */
	uint64_t generation;
	struct aigw_balancer *balancers; /* one per route of snap */
	size_t n_balancers;
	struct aigw_metrics_shard *shard;
	uint64_t rng;                    /* request ids: splitmix64 state */
	struct aigw_auth_cache auth_cache;
	struct aigw_buf head;            /* response head lines being built */
	struct aigw_buf tx;              /* translated bytes on their way out */
	struct aigw_buf tx2;             /* ... and once more, for /v1/messages */
	struct series_cache series;      /* metric series ids of this snapshot */
	struct aigw_standby **standby;   /* the controller of each route of snap */
};

struct aigw_gateway {
	struct aigw_server *server;
	struct aigw_metrics *metrics;
	int family[F_COUNT];
	uint32_t in_flight;              /* the series of the unlabelled gauge */
	struct aigw_reqlog *log;
	struct aigw_accounts *accounts;  /* nodes' accounts: rotation, cooling, tokens */
	struct aigw_health *health;      /* circuit breakers and outlier ejection */
	struct aigw_retry_budget budget; /* retries as a share of recent requests */
	bool budget_ready;
	struct aigw_store *store;        /* control thread only */
	struct aigw_conf conf;           /* nodes and routes of the last reload */
	/* Settings a reload may change while requests run. */
	atomic_int auth;
	_Atomic int64_t upstream_timeout_ms;
	_Atomic int64_t slow_start_ms;
	struct aigw_health_check_conf check; /* every node's; control thread */
	/* Settings fixed at start (the listener and its limits): a reload
	 * that changes them says a restart is needed. */
	struct aigw_conf started;
	pthread_mutex_t mu;              /* guards latest */
	struct aigw_snapshot *latest;
	atomic_uint_fast64_t generation;
	/* The control thread's trimming state (aigw_gateway_trim_when_quiet). */
	uint64_t quiet_since_ms;
	int64_t seen_data_version;       /* poll's last look (poll's thread only) */
	uint64_t trimmed_at_requests;
	struct worker *workers;
	int n_workers;
	struct aigw_standby_set *standby; /* forecast-driven standby, by route name */
};

/* How an answer travels back to the client. */
enum answer_mode {
	RELAY,      /* byte for byte, as it comes (usage read on the side) */
	TRANSLATE,  /* a stream translated piece by piece */
	BUFFER,     /* collected whole, translated, then sent */
};

/* One request's state, from the handler to the log row. */
struct call {
	struct aigw_gateway *gw;
	struct worker *w;
	struct aigw_server_req *req;
	struct aigw_snapshot *snap;
	int route;                       /* index in snap, -1 */
	int node;                        /* index in snap, -1 */
	const struct aigw_key *key;
	bool ai, stream, sse;
	bool include_usage;              /* the client asked for the usage chunk */
	int api;                         /* enum aigw_api when ai */
	const char *body;                /* what goes upstream (the client's) */
	size_t body_len;
	/* The provider adapter's view of this call, for the current node. */
	bool adapted;                    /* the node speaks through an adapter */
	struct aigw_provider_call pcall;
	struct aigw_provider_req preq;
	enum answer_mode mode;
	struct aigw_pstream ps;
	bool ps_live;
	char call_id[48];
	/* POST /v1/messages: the client speaks Anthropic's API; its body is
	 * translated to OpenAI's (xbody) and the answer back (ms). */
	bool messages;
	bool native;                     /* ... to an Anthropic node: sent as it is */
	struct aigw_buf xbody;
	struct aigw_messages_stream ms;
	bool ms_live;
	int64_t cache_read_tokens, cache_write_tokens;
	char retry_after[32];            /* of a buffered answer */
	const char *build_error;         /* why an adapter refused the body */
	/* The node's account this attempt uses (credential wiped at the end). */
	struct aigw_account_use *use;
	uint64_t rest_wait_ms;           /* soonest a skipped node is back (429 rest, token) */
	bool builtin;                    /* /healthz, /readyz, /metrics: not logged */
	char request_id[40];
	char model[129];                 /* as the client named it */
	const char *upmodel;             /* what the node is asked for (aliases resolved) */
	char traceparent[64];
	int64_t ts_ms;
	struct aigw_xfer *xfer;
	struct aigw_buf up_fields;       /* upstream header lines, "Name: value\r\n" */
	char *url;
	int retries_left;
	bool *tried;                     /* per route candidate */
	int attempts;                    /* upstream attempts so far */
	int fallbacks;                   /* fallback routes taken */
	int retry_status;                /* a 429/5xx head given up for a retry */
	int cand;                        /* the attempt's candidate index in its route */
	bool attempt_open;               /* picked, outcome not yet reported */
	uint64_t attempt_start_us;
	struct aigw_ev_timer retry_timer; /* the backoff before the next attempt */
	struct aigw_ev_timer first_byte_timer; /* the route's first_byte_timeout */
	struct aigw_ev_timer idle_timer; /* the route's idle_timeout, between pieces */
	int64_t idle_ms;
	int status;
	bool head_sent, pause_next, done;
	bool done_upstream;              /* the upstream ended cleanly */
	uint64_t upstream_start_us, head_us;
	uint64_t first_token_us;         /* streams: the first content delta */
	uint64_t bytes_out;
	struct aigw_xfer_result res;
	struct aigw_sse sse_parser;
	struct aigw_buf body_copy;
	int64_t prompt_tokens, completion_tokens;
	const char *error;
	/* Geo-aware routing: the client's region, looked up once. */
	bool geo_looked;
	const char *geo_region;          /* NULL: unknown */
	char geo_header[65];             /* a region given in the header */
};

static void idle_late(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg);
static void end_attempt(struct call *c, enum aigw_health_outcome outcome);
static void drop_attempt(struct call *c);
static enum aigw_health_outcome outcome_of(const struct call *c,
					   const struct aigw_xfer_result *res);

/* ------------------------------------------------------------ snapshot */

static void publish(struct aigw_gateway *gw, struct aigw_snapshot *s)
{
	struct aigw_snapshot *old;

	pthread_mutex_lock(&gw->mu);
	old = gw->latest;
	gw->latest = s;
	atomic_fetch_add_explicit(&gw->generation, 1, memory_order_release);
	pthread_mutex_unlock(&gw->mu);
	aigw_snapshot_unref(old);
}

static void series_cache_release(struct series_cache *sc)
{
	free(sc->duration);
	free(sc->ttfb);
	free(sc->tokens);
	free(sc->requests);
	memset(sc, 0, sizeof(*sc));
}

static void series_cache_reset(struct series_cache *sc, size_t n_routes, size_t n_nodes)
{
	size_t nr = n_routes + 1, nn = n_nodes + 1;

	series_cache_release(sc);
	sc->n_routes = n_routes;
	sc->n_nodes = n_nodes;
	sc->duration = aigw_malloc(nr * sizeof(*sc->duration));
	sc->ttfb = aigw_malloc(nn * sizeof(*sc->ttfb));
	sc->tokens = aigw_malloc(2 * nn * sizeof(*sc->tokens));
	memset(sc->duration, 0xff, nr * sizeof(*sc->duration));
	memset(sc->ttfb, 0xff, nn * sizeof(*sc->ttfb));
	memset(sc->tokens, 0xff, 2 * nn * sizeof(*sc->tokens));
	/* One status per route and node pair: a pair that answers with
	 * several statuses looks the others up. Not for huge tables. */
	if (nr * nn <= 65536) {
		sc->requests = aigw_malloc(nr * nn * sizeof(*sc->requests));
		for (size_t i = 0; i < nr * nn; i++)
			sc->requests[i].status = -1;
	}
}

/* The series of labels in family f, through slot (UINT32_MAX: look up and
 * remember). */
static uint32_t cached_series(struct aigw_gateway *gw, int f, uint32_t *slot,
			      const char *const *labels)
{
	if (!slot)
		return aigw_metrics_series(gw->metrics, gw->family[f], labels);
	if (*slot == UINT32_MAX)
		*slot = aigw_metrics_series(gw->metrics, gw->family[f], labels);
	return *slot;
}

/* One balancer per route of the worker's new snapshot. What the old ones
 * learned carries over for every route (by name, same policy) and node
 * (by name) that stays, so a configuration change (a key created, a node
 * added) does not make the policies start again from nothing. */
static void rebuild_balancers(struct worker *w, const struct aigw_snapshot *old)
{
	struct aigw_balancer *prev = w->balancers;
	size_t n_prev = w->n_balancers;
	struct aigw_balance_params params;

	aigw_balance_params_default(&params);
	params.slow_start_ms = (uint64_t)atomic_load(&w->gw->slow_start_ms);

	w->n_balancers = w->snap->cat.n_routes;
	w->balancers = aigw_calloc(w->n_balancers ? w->n_balancers : 1, sizeof(*w->balancers));
	for (size_t i = 0; i < w->n_balancers; i++) {
		const struct aigw_route *r = &w->snap->cat.routes[i];
		params.prefer_cheap = r->prefer_cheap > 0;
		params.cheap_latency_bound = r->prefer_cheap > 0 ? (double)r->prefer_cheap / 100 : 1.5;
		aigw_balancer_init2(&w->balancers[i], r->policy, w->snap->routes[i].n, &params);
		for (size_t k = 0; old && k < n_prev && k < old->cat.n_routes; k++) {
			const struct aigw_route *o = &old->cat.routes[k];
			if (strcmp(o->name, r->name) != 0 || o->policy != r->policy)
				continue;
			for (size_t a = 0; a < w->snap->routes[i].n; a++)
				for (size_t b = 0; b < old->routes[k].n; b++)
					if (strcmp(r->nodes.v[a], o->nodes.v[b]) == 0)
						aigw_balance_carry(&w->balancers[i], a, &prev[k], b);
			break;
		}
	}
	for (size_t i = 0; i < n_prev; i++)
		aigw_balancer_release(&prev[i]);
	free(prev);
}

/* ------------------------------------------------------------ standby */

/* The worker's controllers, one per route of its snapshot (standby.h). */
static void standby_bind(struct worker *w)
{
	size_t n = w->snap->cat.n_routes;

	free(w->standby);
	w->standby = aigw_calloc(n ? n : 1, sizeof(*w->standby));
	for (size_t i = 0; i < n; i++)
		w->standby[i] = aigw_standby_set_get(w->gw->standby, w->snap->cat.routes[i].name);
}

/* The call's route's controller; NULL when the worker has moved to a
 * newer snapshot than the call's (its indices differ). */
static struct aigw_standby *standby_of(const struct call *c)
{
	if (c->route < 0 || c->snap != c->w->snap || !c->w->standby)
		return NULL;
	return c->w->standby[c->route];
}

/* A request reached its route (or a fallback route): counted for the
 * route's load forecast. */
static void standby_count(const struct call *c)
{
	struct aigw_standby *sb = standby_of(c);

	if (sb)
		aigw_standby_count(sb);
}

/* The forecast says the route's active nodes are (about to be) busy. */
static bool standby_on(const struct call *c)
{
	struct aigw_standby *sb = standby_of(c);

	return sb && aigw_standby_on(sb);
}

void aigw_gateway_tick(struct aigw_gateway *gw, uint64_t now_ms)
{
	aigw_standby_set_tick(gw->standby, now_ms, 1000);
}

/* Switches the worker to the latest snapshot if it changed: one atomic
 * load per request, the mutex only when there is something new. */
static void refresh(struct worker *w)
{
	struct aigw_gateway *gw = w->gw;
	uint64_t g = atomic_load_explicit(&gw->generation, memory_order_acquire);
	struct aigw_snapshot *old = w->snap;

	if (g == w->generation && w->snap)
		return;
	pthread_mutex_lock(&gw->mu);
	w->snap = aigw_snapshot_ref(gw->latest);
	w->generation = atomic_load_explicit(&gw->generation, memory_order_relaxed);
	pthread_mutex_unlock(&gw->mu);
	/* Cached keys point into the old snapshot, which may be freed now
	 * (and a new one may even land at the same address). */
	memset(&w->auth_cache, 0, sizeof(w->auth_cache));
	series_cache_reset(&w->series, w->snap->cat.n_routes, w->snap->cat.n_nodes);
	rebuild_balancers(w, old);
	standby_bind(w);
	aigw_snapshot_unref(old);
}

static void keep_conf(struct aigw_gateway *gw, const struct aigw_conf *conf)
{
	struct aigw_conf copy;

	memset(&copy, 0, sizeof(copy));
	copy.n_nodes = conf ? conf->n_nodes : 0;
	copy.n_routes = conf ? conf->n_routes : 0;
	copy.nodes = aigw_calloc(copy.n_nodes ? copy.n_nodes : 1, sizeof(*copy.nodes));
	copy.routes = aigw_calloc(copy.n_routes ? copy.n_routes : 1, sizeof(*copy.routes));
	for (size_t i = 0; i < copy.n_nodes; i++)
		aigw_node_copy(&copy.nodes[i], &conf->nodes[i]);
	for (size_t i = 0; i < copy.n_routes; i++)
		aigw_route_copy(&copy.routes[i], &conf->routes[i]);
	copy.n_aliases = conf ? conf->n_aliases : 0;
	copy.aliases = aigw_calloc(copy.n_aliases + 1, sizeof(*copy.aliases));
	for (size_t i = 0; i < copy.n_aliases; i++)
		aigw_alias_copy(&copy.aliases[i], &conf->aliases[i]);
	copy.n_prices = conf ? conf->n_prices : 0;
	copy.prices = aigw_calloc(copy.n_prices + 1, sizeof(*copy.prices));
	for (size_t i = 0; i < copy.n_prices; i++)
		aigw_price_copy(&copy.prices[i], &conf->prices[i]);
	if (conf)
		aigw_geo_copy(&copy.geo, &conf->geo);
	else
		aigw_geo_init(&copy.geo);
	aigw_conf_release(&gw->conf);
	gw->conf = copy;
}

/* Settings of aigw.yaml the balancers and the health module take from
 * the gateway: kept at the start and on SIGHUP (a database change reloads
 * with the nodes and routes only). */
static void keep_routing_conf(struct aigw_gateway *gw, const struct aigw_conf *conf)
{
	struct aigw_health_check_conf *k = &gw->check;

	atomic_store(&gw->slow_start_ms, conf->slow_start_ms);
	aigw_health_check_conf_init(k);
	k->enabled = conf->health_check_interval_ms > 0;
	if (k->enabled) {
		k->interval_ms = (uint64_t)conf->health_check_interval_ms;
		k->timeout_ms = (uint64_t)conf->health_check_timeout_ms;
		k->healthy_threshold = (unsigned)conf->health_check_healthy;
		k->unhealthy_threshold = (unsigned)conf->health_check_unhealthy;
		aigw_strlcpy(k->path, conf->health_check_path ? conf->health_check_path : "",
			     sizeof(k->path));
	}
}

/* The health module follows the snapshot's nodes, each checked as the
 * configuration says. */
static int sync_health(struct aigw_gateway *gw, const struct aigw_snapshot *s,
		       struct aigw_err *err)
{
	struct aigw_health_check_conf *checks =
		aigw_calloc(s->cat.n_nodes ? s->cat.n_nodes : 1, sizeof(*checks));
	int rc;

	for (size_t i = 0; i < s->cat.n_nodes; i++)
		checks[i] = gw->check;
	rc = aigw_health_sync(gw->health, s->cat.nodes, s->cat.n_nodes, checks, err);
	free(checks);
	return rc;
}

int aigw_gateway_reload(struct aigw_gateway *gw, const struct aigw_conf *conf,
			struct aigw_err *err)
{
	struct aigw_snapshot *s;
	int rc = aigw_snapshot_build(conf, gw->store, &s, err);

	if (rc)
		return rc;
	if (conf != &gw->conf) {
		/* A new file (SIGHUP): what can change while running does. */
		const struct aigw_conf *o = &gw->started;
		atomic_store(&gw->auth, conf->auth);
		atomic_store(&gw->upstream_timeout_ms, conf->upstream_timeout_ms);
		keep_routing_conf(gw, conf);
		/* (listen and workers may come from options, so they are not
		 * compared: they too only change at a start.) */
		if (o->max_header_bytes != conf->max_header_bytes ||
		    o->max_headers != conf->max_headers || o->max_body_bytes != conf->max_body_bytes ||
		    o->header_timeout_ms != conf->header_timeout_ms ||
		    o->body_timeout_ms != conf->body_timeout_ms ||
		    o->idle_timeout_ms != conf->idle_timeout_ms || o->log_queue != conf->log_queue)
			aigw_log_warn("limits, client timeouts and log_queue take effect at the "
				      "next start, not on reload");
		if (o->breaker_failures != conf->breaker_failures ||
		    o->breaker_open_ms != conf->breaker_open_ms ||
		    o->outlier_failures != conf->outlier_failures ||
		    o->outlier_ejection_ms != conf->outlier_ejection_ms ||
		    o->max_ejected_percent != conf->max_ejected_percent)
			aigw_log_warn("breaker and ejection settings take effect at the next "
				      "start, not on reload");
	}
	if (conf != &gw->conf)
		aigw_standby_set_configure(gw->standby, &conf->standby);
	for (size_t i = 0; i < s->cat.n_routes; i++)
		aigw_standby_set_get(gw->standby, s->cat.routes[i].name);
	keep_conf(gw, conf);
	if (gw->health && sync_health(gw, s, err)) {
		aigw_snapshot_unref(s);
		return AIGW_EFAIL;
	}
	if (gw->accounts && aigw_accounts_sync(gw->accounts, s->cat.nodes, s->cat.n_nodes, err)) {
		aigw_snapshot_unref(s);
		return AIGW_EFAIL;
	}
	for (size_t i = 0; i < s->cat.n_nodes; i++)
		if (s->nodes[i].credential_missing)
			aigw_log_warn("node '%s': environment variable '%s' is not set; "
				      "requests go out without credentials",
				      s->nodes[i].node->name, s->nodes[i].node->api_key_env);
	publish(gw, s);
	return 0;
}

/* Quiet for this long (nothing in flight at each look) before trimming. */
#define TRIM_QUIET_MS 1000

bool aigw_gateway_trim_when_quiet(struct aigw_gateway *gw)
{
	struct aigw_server_stats st;
	uint64_t now = aigw_clock_mono_ms();

	aigw_server_stats(gw->server, &st);
	if (st.in_flight) {
		gw->quiet_since_ms = 0;
		return false;
	}
	if (st.requests == gw->trimmed_at_requests)
		return false; /* nothing served since the last trim */
	if (!gw->quiet_since_ms) {
		gw->quiet_since_ms = now;
		return false;
	}
	if (now - gw->quiet_since_ms < TRIM_QUIET_MS)
		return false;
	malloc_trim(0);
	gw->trimmed_at_requests = st.requests;
	gw->quiet_since_ms = 0;
	return true;
}

int aigw_gateway_poll(struct aigw_gateway *gw, struct aigw_err *err)
{
	int64_t v, cv;
	int rc;

	if (!gw->store)
		return 0;
	/* data_version is the cheap look (no table read): it moves on any
	 * commit of another connection, the request log's writer included;
	 * only a moved config_version means the snapshot is stale. */
	if ((rc = aigw_store_data_version(gw->store, &v, err)))
		return rc;
	if (v == gw->seen_data_version)
		return 0;
	if ((rc = aigw_store_config_version(gw->store, &cv, err)))
		return rc;
	gw->seen_data_version = v;
	pthread_mutex_lock(&gw->mu);
	bool same = gw->latest && gw->latest->config_version == cv;
	pthread_mutex_unlock(&gw->mu);
	if (same)
		return 0;
	if ((rc = aigw_gateway_reload(gw, &gw->conf, err)))
		return rc;
	return 1;
}

/* Live state for the CLI (live.h): rows for every node of the current
 * snapshot, written through the gateway's store. */
int aigw_gateway_publish_live(struct aigw_gateway *gw, struct aigw_live_tracker *t,
			      struct aigw_err *err)
{
	struct aigw_snapshot *snap;
	struct aigw_node_live *rows;
	const char **names;
	uint64_t mono = aigw_clock_mono_ms();
	size_t n;
	int rc;

	if (!gw->store)
		return 0;
	pthread_mutex_lock(&gw->mu);
	snap = gw->latest ? aigw_snapshot_ref(gw->latest) : NULL;
	pthread_mutex_unlock(&gw->mu);
	n = snap ? snap->cat.n_nodes : 0;
	names = aigw_calloc(n ? n : 1, sizeof(*names));
	for (size_t i = 0; i < n; i++)
		names[i] = snap->cat.nodes[i].name;
	aigw_live_rows(gw->health, names, n, mono, aigw_clock_wall_ms(), (int64_t)getpid(), &rows);
	aigw_live_shares(t, rows, n, mono);
	rc = aigw_store_node_live_put(gw->store, rows, n, err);
	aigw_node_live_free(rows, n);
	free(names);
	aigw_snapshot_unref(snap);
	return rc;
}

int aigw_gateway_clear_live(struct aigw_gateway *gw, struct aigw_err *err)
{
	return gw->store ? aigw_store_node_live_put(gw->store, NULL, 0, err) : 0;
}

/* ------------------------------------------------------------ helpers */

static uint64_t next_random(struct worker *w)
{
	/* splitmix64: ids need to be unique, not secret; seeded from the
	 * kernel's CSPRNG per worker. */
	uint64_t z = (w->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Hot-path formatting without printf (which cost a fifth of a proxied
 * request's instructions). */
static void hex64(char *out, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = digits[v & 15];
}

static bool path_is(const struct aigw_server_req *req, const char *p)
{
	size_t n = strlen(p);
	return req->path.len == n && memcmp(req->path.ptr, p, n) == 0;
}

/* A request id from the client is kept when it is short and printable. */
static void request_id(struct call *c)
{
	const struct aigw_http_slice *h = aigw_server_req_header(c->req, "x-request-id");
	if (h && h->len > 0 && h->len < sizeof(c->request_id)) {
		bool ok = true;
		for (size_t i = 0; i < h->len; i++)
			if (h->ptr[i] <= 0x20 || h->ptr[i] >= 0x7f)
				ok = false;
		if (ok) {
			memcpy(c->request_id, h->ptr, h->len);
			c->request_id[h->len] = '\0';
			return;
		}
	}
	hex64(c->request_id, next_random(c->w));
	hex64(c->request_id + 16, next_random(c->w));
	c->request_id[32] = '\0';
}

/* W3C trace context: a valid incoming traceparent continues the trace
 * with a new parent id; otherwise a new trace starts. */
static void traceparent(struct call *c)
{
	const struct aigw_http_slice *h = aigw_server_req_header(c->req, "traceparent");
	char *t = c->traceparent; /* "00-" trace(32) "-" parent(16) "-01" */

	memcpy(t, "00-", 3);
	if (h && h->len == 55 && h->ptr[2] == '-' && h->ptr[35] == '-' && h->ptr[52] == '-') {
		memcpy(t + 3, h->ptr + 3, 32);
	} else {
		hex64(t + 3, next_random(c->w));
		hex64(t + 19, next_random(c->w));
	}
	t[35] = '-';
	hex64(t + 36, next_random(c->w));
	memcpy(t + 52, "-01", 4);
}

/* The common response headers: request id and the time spent here. */
static size_t extra_headers(struct call *c, char *out, size_t n)
{
	uint64_t now = aigw_clock_mono_us();
	uint64_t upstream = c->head_us ? c->head_us - c->upstream_start_us : 0;
	uint64_t spent = now - c->req->start_us;
	size_t id = strlen(c->request_id), w = 0;

	if (n < 14 + id + 22 + 20 + 3)
		return 0;
	memcpy(out, "x-request-id: ", 14);
	memcpy(out + 14, c->request_id, id);
	w = 14 + id;
	memcpy(out + w, "\r\nx-aigw-overhead-us: ", 22);
	w += 22;
	w += aigw_u64_dec(out + w, spent > upstream ? spent - upstream : 0);
	memcpy(out + w, "\r\n", 3);
	return w + 2;
}

/* ------------------------------------------------------------ ending */

static void account(struct call *c)
{
	if (c->builtin)
		return; /* health checks and scrapes are not traffic */

	struct aigw_gateway *gw = c->gw;
	const struct aigw_snapshot_route *r = c->route >= 0 ? &c->snap->routes[c->route] : NULL;
	const char *route = r ? r->route->name : "";
	const char *node = c->node >= 0 ? c->snap->nodes[c->node].node->name : "";
	uint64_t latency = aigw_clock_mono_us() - c->req->start_us;
	/* A transfer aborted after its head (client gone, drain) has no
	 * result: its time to first byte is still known. */
	bool have_ttfb = c->res.head_received || c->head_us;
	uint64_t ttfb = c->res.head_received ? c->res.ttfb_us
			: c->head_us ? c->head_us - c->upstream_start_us : 0;
	struct aigw_reqlog_row row;
	char status[24];

	/* The cache follows the worker's snapshot; a request that began on an
	 * older one (indices may differ) looks its series up by name. */
	struct series_cache *sc = c->snap == c->w->snap ? &c->w->series : NULL;
	size_t ri = (size_t)(c->route + 1), ni = (size_t)(c->node + 1);
	int code = c->status > 0 ? c->status : 0;

	status[aigw_u64_dec(status, (uint64_t)code)] = '\0';
	{
		const char *l[] = { route, node, status };
		struct req_series *rs = sc && sc->requests
						? &sc->requests[ri * (sc->n_nodes + 1) + ni] : NULL;
		uint32_t id;
		if (rs && rs->status == code) {
			id = rs->series;
		} else {
			id = aigw_metrics_series(gw->metrics, gw->family[F_REQUESTS], l);
			if (rs && rs->status < 0) {
				rs->status = code;
				rs->series = id;
			}
		}
		aigw_metrics_add(c->w->shard, gw->family[F_REQUESTS], id, 1);
	}
	{
		const char *l[] = { route };
		aigw_metrics_observe(c->w->shard, gw->family[F_DURATION],
				     cached_series(gw, F_DURATION, sc ? &sc->duration[ri] : NULL, l), latency);
	}
	if (have_ttfb) {
		const char *l[] = { node };
		aigw_metrics_observe(c->w->shard, gw->family[F_TTFB],
				     cached_series(gw, F_TTFB, sc ? &sc->ttfb[ni] : NULL, l), ttfb);
	}
	if (c->prompt_tokens >= 0) {
		const char *l[] = { node, "prompt" };
		aigw_metrics_add(c->w->shard, gw->family[F_TOKENS],
				 cached_series(gw, F_TOKENS, sc ? &sc->tokens[ni * 2] : NULL, l),
				 (uint64_t)c->prompt_tokens);
	}
	if (c->completion_tokens >= 0) {
		const char *l[] = { node, "completion" };
		aigw_metrics_add(c->w->shard, gw->family[F_TOKENS],
				 cached_series(gw, F_TOKENS, sc ? &sc->tokens[ni * 2 + 1] : NULL, l),
				 (uint64_t)c->completion_tokens);
	}

	aigw_reqlog_row_init(&row);
	row.ts_ms = c->ts_ms;
	row.status = c->status;
	row.stream = c->stream;
	row.latency_us = (int64_t)latency;
	if (c->upstream_start_us) {
		row.upstream_us = (int64_t)(c->res.total_us ? c->res.total_us
							    : aigw_clock_mono_us() - c->upstream_start_us);
		/* For a stream, the time to its first token is what people ask
		 * about (stats shows it as TTFT); the first byte is often only
		 * the role chunk. */
		if (c->first_token_us)
			row.ttfb_us = (int64_t)(c->first_token_us - c->upstream_start_us);
		else if (have_ttfb)
			row.ttfb_us = (int64_t)ttfb;
	}
	row.bytes_in = (int64_t)c->req->body_len;
	row.bytes_out = (int64_t)c->bytes_out;
	if (c->prompt_tokens >= 0)
		row.prompt_tokens = c->prompt_tokens;
	if (c->completion_tokens >= 0)
		row.completion_tokens = c->completion_tokens;
	if (c->ai && c->prompt_tokens >= 0) {
		const struct aigw_price *price = aigw_price_find(c->snap->prices, c->snap->n_prices,
								 c->upmodel);
		int64_t cost = aigw_price_cost_micro(price, c->prompt_tokens,
						     c->completion_tokens >= 0 ? c->completion_tokens : 0,
						     c->cache_read_tokens, c->cache_write_tokens);
		if (cost >= 0)
			row.cost_micro = cost;
	}
	if (c->key) {
		row.key_id = c->key->id;
		aigw_strlcpy(row.key_name, c->key->name, sizeof(row.key_name));
	}
	aigw_strlcpy(row.request_id, c->request_id, sizeof(row.request_id));
	aigw_strlcpy(row.route, route, sizeof(row.route));
	aigw_strlcpy(row.node, node, sizeof(row.node));
	aigw_strlcpy(row.model, c->upmodel ? c->upmodel : c->model, sizeof(row.model));
	if (c->error)
		aigw_strlcpy(row.error, c->error, sizeof(row.error));
	aigw_reqlog_push(gw->log, &row);
}

/* Runs when the request's pool is freed, however the request ended. */
static void call_cleanup(void *arg)
{
	struct call *c = arg;

	if (c->xfer) {
		aigw_upstream_abort(c->xfer);
		c->xfer = NULL;
	}
	drop_attempt(c);
	aigw_ev_timer_stop(c->req->ev, &c->retry_timer);
	aigw_ev_timer_stop(c->req->ev, &c->first_byte_timer);
	aigw_ev_timer_stop(c->req->ev, &c->idle_timer);
	if (!c->done) {
		/* The client went away first, or the drain's grace period ended
		 * the request. */
		bool cut = c->req->cut_by_server;
		if (!c->status)
			c->status = cut ? 503 : 499;
		c->error = c->error ? c->error : cut ? "shutdown" : "client_closed";
		account(c);
	}
	aigw_metrics_gauge_add(c->w->shard, c->gw->family[F_IN_FLIGHT], c->gw->in_flight, -1);
	if (c->use)
		memset(c->use, 0, sizeof(*c->use));
	/* The lines carry the node's credential: wipe before freeing. */
	if (c->up_fields.len)
		memset(c->up_fields.data, 0, c->up_fields.len);
	aigw_buf_release(&c->up_fields);
	aigw_provider_req_release(&c->preq);
	if (c->ps_live)
		aigw_pstream_release(&c->ps);
	if (c->ms_live)
		aigw_messages_stream_release(&c->ms);
	aigw_buf_release(&c->xbody);
	free(c->url);
	aigw_sse_release(&c->sse_parser);
	aigw_buf_release(&c->body_copy);
	aigw_snapshot_unref(c->snap);
}

/* Answers with an error of the gateway's own and ends the request. */
static void fail(struct call *c, int status, const char *type, const char *code,
		 const char *message, const char *more_headers)
{
	char h[320];
	size_t n = extra_headers(c, h, sizeof(h));

	if (more_headers)
		n += (size_t)snprintf(h + n, sizeof(h) - n, "%s", more_headers);
	c->status = status;
	c->error = code;
	c->done = true;
	account(c);
	if (c->messages) {
		/* An Anthropic client gets Anthropic's error shape. */
		struct aigw_buf b = AIGW_BUF_INIT;
		aigw_messages_error(&b, status, message);
		n += (size_t)snprintf(h + n, sizeof(h) - n, "Content-Type: application/json\r\n");
		aigw_server_respond(c->req, status, h, n, b.data, b.len);
		aigw_buf_release(&b);
		return;
	}
	aigw_server_respond_error(c->req, status, h, n, type, code, message);
}

/* ------------------------------------------------------------ usage */

static void take_usage(struct call *c, const struct aigw_usage *u)
{
	if (u->prompt_tokens >= 0)
		c->prompt_tokens = u->prompt_tokens;
	if (u->completion_tokens >= 0)
		c->completion_tokens = u->completion_tokens;
	if (u->cache_read_tokens >= 0)
		c->cache_read_tokens = u->cache_read_tokens;
	if (u->cache_write_tokens >= 0)
		c->cache_write_tokens = u->cache_write_tokens;
}

/* Reads "usage" from an OpenAI answer or stream chunk, in place. */
static void usage_from(struct call *c, const char *text, size_t len)
{
	struct aigw_usage u;

	aigw_usage_init(&u);
	aigw_oai_read_usage(text, len, &u);
	take_usage(c, &u);
}

/* A plain answer is the node's, and only its usage is read: the object
 * after the last "usage" key (OpenAI puts it last, at the top level) is
 * read alone instead of scanning the whole answer. An answer where that
 * fails is read in full. */
static void usage_from_answer(struct call *c, const char *text, size_t len)
{
	const char *p = NULL, *q = text, *end = text + len;
	struct aigw_usage u;

	while ((q = memmem(q, (size_t)(end - q), "\"usage\"", 7))) {
		p = q;
		q += 7;
	}
	if (p) {
		const char *v = p + 7, *close;
		while (v < end && (*v == ' ' || *v == ':' || *v == '\n' || *v == '\t' || *v == '\r'))
			v++;
		close = v < end && *v == '{' ? memchr(v, '}', (size_t)(end - v)) : NULL;
		/* usage holds numbers only (and details objects in some
		 * providers): the first '}' closes it unless it nests. */
		aigw_usage_init(&u);
		if (close && !memchr(v + 1, '{', (size_t)(close - v - 1)) &&
		    aigw_oai_read_usage_object(v, (size_t)(close - v + 1), &u) == 0) {
			take_usage(c, &u);
			return;
		}
	}
	usage_from(c, text, len);
}

/* A header name list with the lengths known up front: most names fail on
 * the length alone, which keeps these per-header, per-request tests cheap. */
struct name_len {
	const char *name;
	size_t len;
};
#define NAME_LEN(lit) { lit, sizeof(lit) - 1 }

static int sse_event(const struct aigw_sse_event *ev, void *arg)
{
	struct call *c = arg;

	if (!c->first_token_us && aigw_oai_chunk_has_output(ev->data, ev->data_len))
		c->first_token_us = aigw_clock_mono_us();
	/* Only chunks that mention usage are worth reading. */
	if (memmem(ev->data, ev->data_len, "\"usage\"", 7))
		usage_from(arg, ev->data, ev->data_len);
	return 0;
}

/* ------------------------------------------------------------ upstream */

static bool name_in(const char *name, size_t len, const struct name_len *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i].len == len && strncasecmp(name, set[i].name, len) == 0)
			return true;
	return false;
}

static bool hop_by_hop(const char *line, size_t name_len)
{
	static const struct name_len names[] = {
		NAME_LEN("connection"), NAME_LEN("keep-alive"), NAME_LEN("proxy-authenticate"),
		NAME_LEN("proxy-authorization"), NAME_LEN("te"), NAME_LEN("trailer"),
		NAME_LEN("trailers"), NAME_LEN("transfer-encoding"), NAME_LEN("upgrade"),
		NAME_LEN("content-length"), NAME_LEN("date"), NAME_LEN("server"),
	};
	return name_in(line, name_len, names, sizeof(names) / sizeof(names[0]));
}

/* Answers worth asking another node for: rate limited, or the node
 * failed (500, 502, 503, 504; not 501, which another node of the same
 * kind would answer alike). */
static bool retryable_status(int status)
{
	return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static int route_index(const struct aigw_snapshot *s, const char *name)
{
	for (size_t i = 0; name && i < s->cat.n_routes; i++)
		if (strcmp(s->cat.routes[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Fallback routes followed at most this deep (the catalog refuses
 * cycles; this bounds a long chain). */
#define FALLBACK_DEPTH 4

/* Could a retry go anywhere: an untried node of the route that may take
 * the model, with retries left, or a fallback route? */
static bool can_retry(const struct call *c)
{
	const struct aigw_snapshot_route *r = &c->snap->routes[c->route];

	if (c->fallbacks < FALLBACK_DEPTH && route_index(c->snap, r->route->fallback) >= 0)
		return true;
	if (c->retries_left <= 0)
		return false;
	for (size_t j = 0; j < r->n; j++) {
		const struct aigw_node *n = r->node[j] >= 0 ? c->snap->nodes[r->node[j]].node : NULL;
		if (n && !c->tried[j] && n->state == AIGW_NODE_ENABLED && aigw_node_serves(n, c->upmodel))
			return true;
	}
	return false;
}

/* can_retry, and the retry budget has a token for it: retries stay a
 * bounded share of the traffic, so they cannot multiply an outage. */
static bool want_retry(struct call *c)
{
	if (!can_retry(c))
		return false;
	if (aigw_retry_budget_withdraw(&c->gw->budget, aigw_clock_mono_ms()))
		return true;
	aigw_log_info("request %s: retry budget spent; not retrying", c->request_id);
	return false;
}

/* Seconds of a Retry-After header, as milliseconds; 1000 when absent or
 * not a number of seconds (the date form is rare from APIs). */
static uint64_t retry_after_ms(const struct aigw_strv *headers)
{
	for (size_t i = 0; i < headers->n; i++) {
		const char *v;
		char *end;
		unsigned long long n;
		if (strncasecmp(headers->v[i], "retry-after:", 12) != 0)
			continue;
		v = headers->v[i] + 12;
		v += strspn(v, " \t");
		n = strtoull(v, &end, 10);
		if (end != v && n <= 86400)
			return n ? n * 1000 : 1000;
	}
	return 1000;
}

/* The node refused the account: a 429 rests it for its Retry-After; a
 * 401 on an OAuth2 token drops the token so that a new one is fetched. */
static void account_refused(struct call *c, int status, const struct aigw_strv *headers)
{
	const char *node = c->snap->nodes[c->node].node->name;

	if (status == 429) {
		uint64_t ms = retry_after_ms(headers);
		aigw_accounts_cool(c->gw->accounts, node, c->use->index, aigw_clock_mono_ms() + ms);
		aigw_log_info("node '%s': account %d rate limited; resting it %llu ms", node,
			      c->use->index, (unsigned long long)ms);
	} else {
		aigw_accounts_reject_token(c->gw->accounts, node, c->use->index);
	}
}

/* The head of an answer that is translated: a 2xx stream starts at once
 * with the gateway's own headers; anything else is collected whole
 * (BUFFER) and answered when it ends. */
static int translated_head(struct call *c, int status, const struct aigw_strv *headers)
{
	struct aigw_buf *h = &c->w->head;
	struct aigw_err err;
	char extra[256];
	int rc;

	if (!c->stream || status < 200 || status > 299) {
		c->mode = BUFFER;
		for (size_t i = 0; i < headers->n; i++)
			if (strncasecmp(headers->v[i], "retry-after:", 12) == 0) {
				const char *v = headers->v[i] + 12;
				v += strspn(v, " \t");
				aigw_strlcpy(c->retry_after, v, sizeof(c->retry_after));
			}
		return 0;
	}
	if (!c->preq.passthrough) {
		if (aigw_pstream_init(&c->ps, &c->pcall, &err) < 0)
			return -1;
		c->ps_live = true;
	}
	if (c->messages) {
		aigw_messages_stream_init(&c->ms, c->model);
		c->ms_live = true;
	}
	c->mode = TRANSLATE;
	aigw_buf_puts(h, "Content-Type: text/event-stream; charset=utf-8\r\n"
			 "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
	aigw_buf_append(h, extra, extra_headers(c, extra, sizeof(extra)));
	rc = aigw_server_stream_start(c->req, status, h->data, h->len, -1);
	aigw_buf_reset_keep(h, 64 * 1024);
	c->head_sent = true;
	return rc == 0 ? 0 : -1;
}

static int on_head(struct aigw_xfer *x, int status, const struct aigw_strv *headers, void *arg)
{
	struct call *c = arg;
	struct aigw_buf *h = &c->w->head;
	char extra[256];
	int64_t length = -1;
	int rc;
	(void)x;

	aigw_buf_reset(h);
	c->head_us = aigw_clock_mono_us();
	c->status = status;
	aigw_ev_timer_stop(c->req->ev, &c->first_byte_timer);
	if (c->idle_ms) {
		aigw_ev_timer_init(&c->idle_timer, idle_late, c);
		aigw_ev_timer_start(c->req->ev, &c->idle_timer, (uint64_t)c->idle_ms * 1000);
	}
	if ((status == 429 || (status == 401 && c->use->bearer)) && c->use->index >= 0) {
		account_refused(c, status, headers);
	} else if (status == 429) {
		/* the node's only credential is rate limited: the node rests */
		uint64_t ms = retry_after_ms(headers);
		aigw_health_rest(c->gw->health, c->snap->nodes[c->node].node->name,
				 aigw_clock_mono_ms() + ms);
		aigw_log_info("node '%s': rate limited; resting it %llu ms",
			      c->snap->nodes[c->node].node->name, (unsigned long long)ms);
	}
	if (retryable_status(status) && want_retry(c)) {
		/* Nothing has reached the client: this answer is dropped and
		 * another node asked (on_done schedules it). */
		c->retry_status = status;
		end_attempt(c, status == 429 ? AIGW_HEALTH_RATE_LIMITED : AIGW_HEALTH_FAIL_5XX);
		return -1;
	}
	if (c->adapted && (!c->preq.passthrough || c->messages) && !c->native)
		return translated_head(c, status, headers);
	if (c->native && c->stream && status >= 200 && status < 300) {
		/* Relayed as it is; an adapter reads it on the side for the
		 * usage and the first token. */
		struct aigw_err err;
		if (aigw_pstream_init(&c->ps, &c->pcall, &err) == 0)
			c->ps_live = true;
	}
	for (size_t i = 0; i < headers->n; i++) {
		const char *line = headers->v[i], *colon = strchr(line, ':');
		if (colon && colon - line == 12 && strncasecmp(line, "content-type", 12) == 0 &&
		    strstr(colon, "text/event-stream"))
			c->sse = true;
	}
	for (size_t i = 0; i < headers->n; i++) {
		const char *line = headers->v[i], *colon = strchr(line, ':');
		size_t nl;
		if (!colon)
			continue;
		nl = (size_t)(colon - line);
		if (nl == 14 && strncasecmp(line, "content-length", 14) == 0)
			length = strtoll(colon + 1, NULL, 10);
		if (hop_by_hop(line, nl) || (nl == 12 && strncasecmp(line, "x-request-id", 12) == 0))
			continue;
		/* Streams get the gateway's own X-Accel-Buffering below, once. */
		if ((c->stream || c->sse) && nl == 17 &&
		    strncasecmp(line, "x-accel-buffering", 17) == 0)
			continue;
		aigw_buf_puts(h, line);
		aigw_buf_puts(h, "\r\n");
	}
	if (c->stream || c->sse)
		aigw_buf_puts(h, "X-Accel-Buffering: no\r\n");
	aigw_buf_append(h, extra, extra_headers(c, extra, sizeof(extra)));
	/* A HEAD answer has no body whatever its Content-Length says. */
	if (c->req->method == AIGW_HTTP_HEAD)
		length = -1;
	rc = aigw_server_stream_start(c->req, status, h->data, h->len, length);
	aigw_buf_reset_keep(h, 64 * 1024);
	c->head_sent = true;
	if (c->sse)
		aigw_sse_init(&c->sse_parser, 0);
	return rc == 0 ? 0 : -1;
}

/* Sends translated bytes: w->tx, or for /v1/messages w->tx translated
 * once more into w->tx2 (both are emptied). */
static int send_tx(struct call *c)
{
	struct aigw_buf *tx = &c->w->tx;
	int rc = 0;

	if (c->ms_live) {
		struct aigw_err err;
		aigw_buf_reset(&c->w->tx2);
		rc = aigw_messages_stream_feed(&c->ms, tx->data, tx->len, &c->w->tx2, &err);
		if (rc == 0 && c->done_upstream)
			rc = aigw_messages_stream_finish(&c->ms, &c->w->tx2, &err);
		if (rc < 0) {
			aigw_log_warn("request %s: %s", c->request_id, err.msg);
			c->error = c->error ? c->error : "upstream_malformed";
		}
		aigw_buf_reset_keep(tx, 256 * 1024);
		tx = &c->w->tx2;
		rc = 0;
	}

	if (tx->len) {
		rc = aigw_server_stream_write(c->req, tx->data, tx->len);
		c->bytes_out += tx->len;
		if (rc == AIGW_SERVER_FULL) {
			c->pause_next = true;
			rc = 0;
		}
	}
	aigw_buf_reset_keep(tx, 256 * 1024);
	return rc < 0 ? -1 : 0;
}


/* A piece of a translated stream: through the adapter, then out. */
static int translate_piece(struct call *c, const char *data, size_t len)
{
	struct aigw_err err;

	aigw_buf_reset(&c->w->tx);
	if (!c->ps_live) {
		/* OpenAI's own stream, for a /v1/messages client. */
		aigw_buf_append(&c->w->tx, data, len);
		aigw_sse_feed(&c->sse_parser, data, len, sse_event, c);
		return send_tx(c);
	}
	if (aigw_pstream_feed(&c->ps, data, len, &c->w->tx, &err) < 0) {
		aigw_log_warn("request %s: node '%s': %s", c->request_id,
			      c->snap->nodes[c->node].node->name, err.msg);
		c->error = "upstream_malformed";
		aigw_oai_stream_error(&c->w->tx, "server_error", "upstream_malformed",
				      "the upstream's stream could not be read");
		send_tx(c);
		return -1;
	}
	if (!c->first_token_us && c->ps.output)
		c->first_token_us = aigw_clock_mono_us();
	return send_tx(c);
}

static int on_data(struct aigw_xfer *x, const char *data, size_t len, void *arg)
{
	struct call *c = arg;
	int rc;
	(void)x;

	if (c->idle_ms)
		aigw_ev_timer_start(c->req->ev, &c->idle_timer, (uint64_t)c->idle_ms * 1000);
	if (c->mode == BUFFER) {
		if (c->body_copy.len + len > TRANSLATE_BODY_MAX) {
			c->error = "upstream_answer_too_large";
			return -1;
		}
		aigw_buf_append(&c->body_copy, data, len);
		return 0;
	}
	if (c->pause_next) {
		/* The last write filled the client's buffer: keep these bytes in
		 * libcurl until the client has read (backpressure). */
		c->pause_next = false;
		return AIGW_AGAIN;
	}
	if (c->mode == TRANSLATE)
		return translate_piece(c, data, len);
	rc = aigw_server_stream_write(c->req, data, len);
	if (rc < 0)
		return -1;
	c->bytes_out += len;
	if (rc == AIGW_SERVER_FULL)
		c->pause_next = true;
	if (c->ps_live) {
		struct aigw_err err;
		aigw_buf_reset(&c->w->tx);
		if (aigw_pstream_feed(&c->ps, data, len, &c->w->tx, &err) < 0) {
			aigw_pstream_release(&c->ps);
			c->ps_live = false;
		} else if (!c->first_token_us && c->ps.output) {
			c->first_token_us = aigw_clock_mono_us();
		}
		aigw_buf_reset_keep(&c->w->tx, 256 * 1024);
	} else if (c->sse && !c->native) {
		aigw_sse_feed(&c->sse_parser, data, len, sse_event, c);
	} else if (c->ai && c->body_copy.len + len <= USAGE_BODY_MAX) {
		aigw_buf_append(&c->body_copy, data, len);
	}
	return 0;
}

static void drained(struct aigw_server_req *req, void *arg)
{
	struct call *c = arg;
	(void)req;
	if (c->xfer)
		aigw_upstream_resume(c->xfer);
}

static int start_upstream(struct call *c);
static void no_node(struct call *c);
static void on_done(struct aigw_xfer *x, const struct aigw_xfer_result *res, void *arg);
static bool take_fallback(struct call *c);

/* A whole answer collected for translation: translated and sent. */
static void answer_translated(struct call *c)
{
	struct aigw_buf *tx = &c->w->tx;
	struct aigw_usage u;
	struct aigw_err err;
	int status = c->status;
	char h[384];
	size_t n;

	aigw_buf_reset(tx);
	if (c->preq.passthrough) {
		/* OpenAI's own answer, for a /v1/messages client. */
		aigw_buf_append(tx, c->body_copy.data, c->body_copy.len);
		if (status >= 200 && status < 300)
			usage_from_answer(c, c->body_copy.data, c->body_copy.len);
	} else if (aigw_provider_answer(&c->pcall, &status,
					c->body_copy.data ? c->body_copy.data : "",
					c->body_copy.len, tx, &u, &err) < 0) {
		aigw_log_warn("request %s: node '%s': %s", c->request_id,
			      c->snap->nodes[c->node].node->name, err.msg);
		fail(c, 502, "server_error", "upstream_malformed",
		     "the upstream's answer could not be read", NULL);
		return;
	} else {
		take_usage(c, &u);
	}
	if (c->messages) {
		struct aigw_buf *tx2 = &c->w->tx2;
		aigw_buf_reset(tx2);
		if (aigw_messages_answer(&status, tx->data ? tx->data : "", tx->len, tx2, &err) < 0) {
			aigw_log_warn("request %s: node '%s': %s", c->request_id,
				      c->snap->nodes[c->node].node->name, err.msg);
			fail(c, 502, "server_error", "upstream_malformed",
			     "the upstream's answer could not be read", NULL);
			return;
		}
		aigw_buf_reset(tx);
		aigw_buf_append(tx, tx2->data, tx2->len);
		aigw_buf_reset_keep(tx2, 256 * 1024);
	}
	n = extra_headers(c, h, sizeof(h));
	n += (size_t)snprintf(h + n, sizeof(h) - n, "Content-Type: application/json\r\n");
	if (c->retry_after[0])
		n += (size_t)snprintf(h + n, sizeof(h) - n, "Retry-After: %s\r\n", c->retry_after);
	c->status = status;
	c->bytes_out = tx->len;
	c->done = true;
	account(c);
	aigw_server_respond(c->req, status, h, n, tx->data, tx->len);
	aigw_buf_reset_keep(tx, 256 * 1024);
}

/* The backoff is over: the next attempt. */
static void retry_now(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct call *c = arg;
	(void)ev;
	(void)t;
	if (start_upstream(c) != 0)
		no_node(c);
}

/* Another attempt after a backoff with full jitter: uniform in
 * [0, min(RETRY_CAP_MS, RETRY_BASE_MS * 2^n)) for the n-th retry, so that
 * retries of many requests do not arrive together. */
#define RETRY_BASE_MS 25
#define RETRY_CAP_MS 1000

static void schedule_retry(struct call *c, const struct aigw_xfer_result *res)
{
	uint64_t delay_us = aigw_backoff_ms(c->attempts, RETRY_BASE_MS, RETRY_CAP_MS, &c->w->rng) * 1000;
	/* A retry within the route spends one of its retries; with none
	 * left it can only be its fallback route's turn. */
	if (c->retries_left > 0)
		c->retries_left--;
	else
		take_fallback(c);
	c->attempts++;
	if (c->retry_status)
		aigw_log_info("request %s: node '%s' answered %d; retrying in %llu ms",
			      c->request_id, c->snap->nodes[c->node].node->name, c->retry_status,
			      (unsigned long long)(delay_us / 1000));
	else
		aigw_log_info("request %s: node '%s' failed: %s; retrying in %llu ms",
			      c->request_id, c->snap->nodes[c->node].node->name, res->message,
			      (unsigned long long)(delay_us / 1000));
	c->retry_status = 0;
	c->status = 0;
	c->head_us = 0;
	aigw_buf_reset(&c->body_copy);
	aigw_ev_timer_init(&c->retry_timer, retry_now, c);
	aigw_ev_timer_start(c->req->ev, &c->retry_timer, delay_us);
}

static void on_done(struct aigw_xfer *x, const struct aigw_xfer_result *res, void *arg)
{
	struct call *c = arg;
	(void)x;

	c->xfer = NULL;
	c->res = *res;
	aigw_ev_timer_stop(c->req->ev, &c->first_byte_timer);
	aigw_ev_timer_stop(c->req->ev, &c->idle_timer);
	end_attempt(c, outcome_of(c, res));
	if (res->outcome != AIGW_XFER_OK && !c->head_sent) {
		/* Nothing reached the client: another node may answer (connect
		 * errors, a timeout or a failure before the answer's head, or
		 * a 429/5xx head given up in on_head, whose retry is paid). */
		if (c->retry_status || (!res->head_received && want_retry(c))) {
			schedule_retry(c, res);
			return;
		}
		if (res->outcome == AIGW_XFER_TIMEOUT)
			fail(c, 504, "server_error", "upstream_timeout",
			     "the upstream did not answer in time", NULL);
		else if (res->outcome == AIGW_XFER_CONNECT)
			fail(c, 502, "server_error", "upstream_unreachable",
			     "the upstream refused the connection or could not be reached", NULL);
		else
			fail(c, 502, "server_error", "upstream_error",
			     "the upstream failed before answering", NULL);
		return;
	}
	if (c->mode == BUFFER) {
		answer_translated(c);
		return;
	}
	if (c->mode == TRANSLATE) {
		struct aigw_err err;
		aigw_buf_reset(&c->w->tx);
		if (c->ps_live && res->outcome == AIGW_XFER_OK && !c->error &&
		    aigw_pstream_finish(&c->ps, &c->w->tx, &err) < 0) {
			c->error = "upstream_malformed";
			aigw_log_warn("request %s: %s", c->request_id, err.msg);
		}
		if (res->outcome != AIGW_XFER_OK && !c->error)
			aigw_oai_stream_error(&c->w->tx, "server_error", "upstream_failed_midway",
					      "the upstream's stream ended early");
		if (c->ps_live)
			take_usage(c, &c->ps.usage);
		c->done_upstream = res->outcome == AIGW_XFER_OK && !c->error;
		send_tx(c);
	} else if (c->native && c->ps_live) {
		take_usage(c, &c->ps.usage);
	} else if (c->native && c->body_copy.len && c->status >= 200 && c->status < 300) {
		struct aigw_usage u;
		struct aigw_err err;
		int st = c->status;
		aigw_buf_reset(&c->w->tx);
		if (aigw_provider_answer(&c->pcall, &st, c->body_copy.data, c->body_copy.len,
					 &c->w->tx, &u, &err) == 0)
			take_usage(c, &u);
		aigw_buf_reset_keep(&c->w->tx, 256 * 1024);
	} else if (!c->sse && c->ai && c->body_copy.len) {
		usage_from_answer(c, c->body_copy.data, c->body_copy.len);
	}
	if (res->outcome != AIGW_XFER_OK && !c->error)
		c->error = res->outcome == AIGW_XFER_TIMEOUT ? "upstream_timeout_midway"
							     : "upstream_failed_midway";
	c->done = true;
	account(c);
	aigw_server_stream_finish(c->req);
}

static const struct aigw_xfer_ops xfer_ops = { on_head, on_data, on_done };

/* No node took the request: a body no adapter could translate is the
 * client's mistake (400); otherwise the route is out of nodes (503). */
static void no_node(struct call *c)
{
	char ra[40];

	if (c->build_error) {
		fail(c, 400, "invalid_request_error", "unsupported_request", c->build_error, NULL);
	} else if (c->rest_wait_ms) {
		/* Rate limited upstream on every account: say when one is back. */
		snprintf(ra, sizeof(ra), "Retry-After: %llu\r\n",
			 (unsigned long long)((c->rest_wait_ms + 999) / 1000));
		fail(c, 429, "rate_limit_error", "upstream_rate_limited",
		     "the route's nodes are rate limited upstream; retry later", ra);
	} else {
		fail(c, 503, "server_error", "no_node_available",
		     "no node of this route can take the request now", "Retry-After: 1\r\n");
	}
}

/* The client's region, once per request: the geo.region_header header
 * when it holds a valid region name, else the geo.regions entry of the
 * client's address; NULL when neither says. */
static const char *client_region(struct call *c)
{
	const struct aigw_geo *g = &c->snap->geo;
	const struct aigw_http_slice *h;

	if (c->geo_looked)
		return c->geo_region;
	c->geo_looked = true;
	h = g->region_header ? aigw_server_req_header(c->req, g->region_header) : NULL;
	if (h && h->len && h->len < sizeof(c->geo_header)) {
		memcpy(c->geo_header, h->ptr, h->len);
		c->geo_header[h->len] = '\0';
		if (aigw_geo_region_valid(c->geo_header))
			c->geo_region = c->geo_header;
	}
	if (!c->geo_region)
		c->geo_region = aigw_geo_lookup(g, c->req->peer);
	if (c->geo_region)
		aigw_log_debug("request %s: client region %s (from the %s)", c->request_id,
			       c->geo_region, c->geo_region == c->geo_header ? "header" : "address");
	return c->geo_region;
}

/* Geo-aware routing (lib/geo.h): keeps the candidates of the nearest
 * region tier that has a node neither full nor slow. In flight counts
 * are over every worker; latency estimates are the route balancer's.
 * cut[j] is set for each candidate it made ineligible; returns whether
 * there is any. */
static bool geo_filter(struct call *c, struct aigw_balance_candidate *cand, size_t n,
		       bool *cut)
{
	bool any = false;
	const struct aigw_snapshot_route *r = &c->snap->routes[c->route];
	const struct aigw_balancer *b = c->snap == c->w->snap ? &c->w->balancers[c->route] : NULL;
	const char *region = client_region(c);
	struct aigw_geo_cand g[64];

	memset(cut, 0, n * sizeof(*cut));
	if (!region)
		return false;
	for (size_t j = 0; j < n; j++) {
		const struct aigw_node *node = r->node[j] >= 0 ? c->snap->nodes[r->node[j]].node : NULL;
		g[j].eligible = cand[j].eligible;
		g[j].region = node ? node->region : NULL;
		g[j].in_flight = node ? aigw_health_in_flight(c->gw->health, node->name) : 0;
		g[j].max_concurrency = node ? node->max_concurrency : 0;
		g[j].latency_us = b && j < b->n && b->node[j].measured ? b->node[j].ewma_us : 0;
	}
	if (aigw_geo_filter(&c->snap->geo, region, g, n) < 0)
		return false;
	for (size_t j = 0; j < n; j++) {
		cut[j] = cand[j].eligible && !g[j].eligible;
		any |= cut[j];
		cand[j].eligible = g[j].eligible;
	}
	return any;
}

/* Every candidate geo_filter kept was refused (by its breaker, ejection or
 * checks): the ones it cut come back, and the filter chooses again among
 * them (the next nearest tier). False when it had cut none. */
static bool geo_spill(struct call *c, struct aigw_balance_candidate *cand, size_t n, bool *cut)
{
	bool any = false;

	for (size_t j = 0; j < n; j++) {
		if (cut[j])
			cand[j].eligible = any = true;
		cut[j] = false;
	}
	if (any)
		geo_filter(c, cand, n, cut);
	return any;
}

/* Whether candidate j of the call's route may take the call: enabled, not
 * tried yet, serving the model. */
static bool available(const struct call *c, size_t j)
{
	int ni = c->snap->routes[c->route].node[j];
	const struct aigw_node *node = ni >= 0 ? c->snap->nodes[ni].node : NULL;

	return node && node->state == AIGW_NODE_ENABLED && !c->tried[j] &&
	       aigw_node_serves(node, c->upmodel);
}

/* Brings the available standby nodes in (every active one was refused);
 * false when there is none. */
static bool standby_in(const struct call *c, struct aigw_balance_candidate *cand, size_t n)
{
	const struct aigw_snapshot_route *r = &c->snap->routes[c->route];
	bool any = false;

	for (size_t j = 0; j < n; j++) {
		if (!cand[j].eligible && available(c, j) && c->snap->nodes[r->node[j]].node->standby)
			cand[j].eligible = any = true;
	}
	return any;
}

/* Picks a node not tried yet; -1 when none is left. */
static int pick(struct call *c)
{
	const struct aigw_snapshot_route *r = &c->snap->routes[c->route];
	struct aigw_balance_candidate cand[64];
	size_t n = r->n < 64 ? r->n : 64;
	bool any_active = false, standby = standby_on(c), cut[64];
	int i;

	/* Standby nodes take traffic when the load forecast says so, or when
	 * no active node can. */
	for (int pass = 0; pass < 2 && !any_active; pass++) {
		standby |= pass == 1;
		for (size_t j = 0; j < n; j++) {
			int ni = r->node[j];
			const struct aigw_node *node = ni >= 0 ? c->snap->nodes[ni].node : NULL;

			cand[j].eligible = available(c, j) && (standby || !node->standby);
			cand[j].weight = node ? node->weight : 1;
			cand[j].cost = node && node->cost >= 0 ? (double)node->cost : -1;
			cand[j].since_ms = node ? aigw_health_since_ms(c->gw->health, node->name) : 0;
			any_active |= cand[j].eligible;
		}
	}
	geo_filter(c, cand, n, cut);
	/* The breaker and the outlier detector are asked about the chosen
	 * node only (asking may take a half-open probe slot); a refused
	 * node is skipped and the policy asked again, over the next tier of
	 * nearness, then over the standby nodes. */
	for (;;) {
		uint64_t now = aigw_clock_mono_ms(), rest;
		const char *name;
		i = aigw_balance_pick_at(&c->w->balancers[c->route], cand, now);
		if (i < 0 && geo_spill(c, cand, n, cut))
			continue;
		if (i < 0 && !standby) {
			standby = true;
			if (standby_in(c, cand, n))
				continue;
		}
		if (i < 0)
			return -1;
		name = c->snap->nodes[r->node[i]].node->name;
		/* a node resting after a 429 (its Retry-After) is skipped, and
		 * when every node is, the client hears when one is back */
		rest = aigw_health_resting_ms(c->gw->health, name, now);
		if (!rest && aigw_health_allow(c->gw->health, name, now, NULL))
			break;
		if (rest && (!c->rest_wait_ms || rest < c->rest_wait_ms))
			c->rest_wait_ms = rest;
		aigw_balance_release_pick(&c->w->balancers[c->route], i);
		cand[i].eligible = false;
		c->tried[i] = true;
	}
	c->tried[i] = true;
	c->cand = i;
	aigw_health_begin(c->gw->health, c->snap->nodes[r->node[i]].node->name);
	return r->node[i];
}

/* The attempt's outcome, told to the route's balancer (so adaptive
 * policies learn) and to the health module (breakers, ejection). A
 * request that began on an older snapshot tells only the health module:
 * the worker's balancers follow its current snapshot. */
static void end_attempt(struct call *c, enum aigw_health_outcome outcome)
{
	const struct aigw_snapshot_route *r = &c->snap->routes[c->route];
	uint64_t now_us = aigw_clock_mono_us();

	if (!c->attempt_open)
		return;
	c->attempt_open = false;
	if (c->snap == c->w->snap) {
		struct aigw_balance_obs o = { 0 };
		o.latency_us = now_us - c->attempt_start_us;
		o.ttfb_us = c->first_token_us ? c->first_token_us - c->attempt_start_us
			    : c->head_us ? c->head_us - c->attempt_start_us : 0;
		o.failed = outcome != AIGW_HEALTH_OK && outcome != AIGW_HEALTH_RATE_LIMITED;
		o.rate_limited = outcome == AIGW_HEALTH_RATE_LIMITED;
		o.cost = -1;
		aigw_balance_observe(&c->w->balancers[c->route], c->cand, &o, now_us / 1000);
	}
	aigw_health_end(c->gw->health, c->snap->nodes[c->node].node->name);
	if (outcome == AIGW_HEALTH_OK)
		aigw_health_latency(c->gw->health, c->snap->nodes[c->node].node->name,
				    now_us - c->attempt_start_us);
	aigw_health_record(c->gw->health, c->snap->nodes[c->node].node->name,
			   (const char *const *)r->route->nodes.v, r->route->nodes.n, now_us / 1000,
			   outcome);
}

/* An attempt that ends without an answer worth judging (the client left):
 * the balancer forgets it was in flight. */
static void drop_attempt(struct call *c)
{
	if (!c->attempt_open)
		return;
	c->attempt_open = false;
	aigw_health_end(c->gw->health, c->snap->nodes[c->node].node->name);
	if (c->snap == c->w->snap)
		aigw_balance_release_pick(&c->w->balancers[c->route], c->cand);
}

static enum aigw_health_outcome outcome_of(const struct call *c,
					   const struct aigw_xfer_result *res)
{
	if (res->outcome == AIGW_XFER_CONNECT)
		return AIGW_HEALTH_FAIL_CONNECT;
	if (res->outcome == AIGW_XFER_TIMEOUT)
		return AIGW_HEALTH_FAIL_TIMEOUT;
	if (res->outcome == AIGW_XFER_FAILED && !res->head_received)
		return AIGW_HEALTH_FAIL_CONNECT;
	if (c->status == 429)
		return AIGW_HEALTH_RATE_LIMITED;
	if (c->status >= 500 || res->outcome == AIGW_XFER_FAILED)
		return AIGW_HEALTH_FAIL_5XX;
	return AIGW_HEALTH_OK;
}

/* Headers an adapter writes itself (or that would break translation). */
static bool skip_adapted_header(const struct aigw_http_header *h)
{
	static const struct name_len names[] = {
		NAME_LEN("authorization"), NAME_LEN("x-api-key"), NAME_LEN("api-key"),
		NAME_LEN("x-goog-api-key"), NAME_LEN("content-type"), NAME_LEN("accept-encoding"),
		NAME_LEN("anthropic-version"), NAME_LEN("accept"),
	};
	return name_in(h->name.ptr, h->name.len, names, sizeof(names) / sizeof(names[0]));
}

static bool skip_request_header(const struct aigw_http_header *h, bool strip_auth)
{
	static const struct name_len names[] = {
		NAME_LEN("connection"), NAME_LEN("keep-alive"), NAME_LEN("proxy-authorization"),
		NAME_LEN("proxy-connection"), NAME_LEN("te"), NAME_LEN("trailer"),
		NAME_LEN("transfer-encoding"), NAME_LEN("upgrade"), NAME_LEN("host"),
		NAME_LEN("content-length"), NAME_LEN("expect"), NAME_LEN("x-request-id"),
		NAME_LEN("traceparent"), NAME_LEN("x-forwarded-proto"),
	};
	static const struct name_len auth[] = { NAME_LEN("authorization"), NAME_LEN("x-api-key") };

	return name_in(h->name.ptr, h->name.len, names, sizeof(names) / sizeof(names[0])) ||
	       (strip_auth && name_in(h->name.ptr, h->name.len, auth, 2));
}

/* Writes the upstream request's header lines into one buffer, straight
 * from the parsed client headers (no per-line allocation). */
static void field(struct aigw_buf *b, const char *name, size_t nl, const char *value, size_t vl)
{
	aigw_buf_grow(b, nl + vl + 4);
	aigw_buf_append(b, name, nl);
	aigw_buf_append(b, ": ", 2);
	aigw_buf_append(b, value, vl);
	aigw_buf_append(b, "\r\n", 2);
}

static void build_headers(struct call *c)
{
	const struct aigw_http_request *http = c->req->http;
	struct aigw_buf *b = &c->up_fields;
	const char *cred = c->use->credential[0] ? c->use->credential : NULL;
	bool strip_auth = atomic_load_explicit(&c->gw->auth, memory_order_relaxed) ==
				  AIGW_AUTH_KEYS || cred;
	const char *xff = NULL;
	size_t xff_len = 0;

	if (b->len)
		memset(b->data, 0, b->len); /* a retry: the old lines may hold a secret */
	aigw_buf_reset(b);
	for (size_t i = 0; i < http->header_count; i++) {
		const struct aigw_http_header *h = &http->headers[i];
		if (skip_request_header(h, strip_auth) || (c->adapted && skip_adapted_header(h)))
			continue;
		if (aigw_http_slice_eq(h->name, "x-forwarded-for")) {
			xff = h->value.ptr;
			xff_len = h->value.len;
			continue;
		}
		field(b, h->name.ptr, h->name.len, h->value.ptr, h->value.len);
	}
	aigw_buf_puts(b, "X-Forwarded-For: ");
	if (xff) {
		aigw_buf_append(b, xff, xff_len);
		aigw_buf_puts(b, ", ");
	}
	aigw_buf_puts(b, c->req->peer);
	aigw_buf_puts(b, "\r\nX-Forwarded-Proto: http\r\n");
	field(b, "X-Request-Id", 12, c->request_id, strlen(c->request_id));
	field(b, "traceparent", 11, c->traceparent, strlen(c->traceparent));
	if (c->adapted)
		aigw_buf_append(b, c->preq.fields.data, c->preq.fields.len);
	/* An OAuth2 token is a bearer token whatever the provider. */
	if (cred && (!c->adapted || c->use->bearer)) {
		aigw_buf_puts(b, "Authorization: Bearer ");
		aigw_buf_puts(b, cred);
		aigw_buf_puts(b, "\r\n");
	}
}

/* The upstream URL: for AI providers the node's URL is the API base, so a
 * base ending in /v1 takes the request path without its /v1; a plain HTTP
 * node's URL is a prefix put before the whole path. */
static char *upstream_url(const struct aigw_node *node, const struct aigw_server_req *req)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	const char *target = req->target.ptr;
	size_t tl = req->target.len, bl = strlen(node->url);

	while (bl && node->url[bl - 1] == '/')
		bl--;
	aigw_buf_append(&b, node->url, bl);
	if (node->provider != AIGW_PROVIDER_HTTP && bl >= 3 &&
	    memcmp(node->url + bl - 3, "/v1", 3) == 0 && tl >= 4 && memcmp(target, "/v1/", 4) == 0) {
		target += 3;
		tl -= 3;
	}
	aigw_buf_append(&b, target, tl);
	return aigw_buf_detach(&b);
}

/* An Anthropic client to an Anthropic node: the client's own body goes,
 * so nothing is lost in translation (thinking, cache_control, citations);
 * only the model is renamed when an alias chose it. */
static void native_body(struct call *c)
{
	struct aigw_buf *b = &c->preq.body;

	aigw_buf_reset(b);
	c->preq.same_body = false;
	c->preq.passthrough = true;
	if (c->upmodel && strcmp(c->upmodel, c->model) != 0) {
		cJSON *root = cJSON_ParseWithLength(c->req->body, c->req->body_len);
		char *text;
		cJSON_ReplaceItemInObjectCaseSensitive(root, "model", cJSON_CreateString(c->upmodel));
		text = cJSON_PrintUnformatted(root);
		aigw_buf_puts(b, text);
		cJSON_free(text);
		cJSON_Delete(root);
	} else {
		aigw_buf_append(b, c->req->body, c->req->body_len);
	}
}

/* Builds the node's request through its provider's adapter. A body the
 * adapter cannot translate is remembered (the client gets a 400 when no
 * other node takes it). */
static int adapt(struct call *c, const struct aigw_snapshot_node *sn)
{
	struct aigw_provider_call *pc = &c->pcall;
	struct aigw_err err;

	aigw_provider_req_release(&c->preq);
	aigw_provider_req_init(&c->preq);
	memset(pc, 0, sizeof(*pc));
	pc->provider = sn->node->provider;
	pc->api = c->api;
	pc->base_url = sn->node->url;
	pc->credential = c->use->credential[0] && !c->use->bearer ? c->use->credential : NULL;
	pc->model = c->upmodel;
	pc->client_model = c->model;
	pc->stream = c->stream;
	pc->include_usage = c->include_usage;
	pc->created = c->ts_ms / 1000;
	pc->id = c->call_id;
	if (aigw_provider_build(pc, c->body, c->body_len, &c->preq, &err) < 0) {
		c->build_error = aigw_pool_strdup(c->req->pool, err.msg);
		return -1;
	}
	c->native = c->messages && pc->provider == AIGW_PROVIDER_ANTHROPIC;
	if (c->native)
		native_body(c);
	return 0;
}

/* The route's pool is exhausted: its fallback route, if it has one,
 * takes over with its own nodes and retries. */
static bool take_fallback(struct call *c)
{
	const struct aigw_route *from = c->snap->routes[c->route].route;
	int to = route_index(c->snap, from->fallback);

	if (to < 0 || c->fallbacks >= FALLBACK_DEPTH)
		return false;
	aigw_log_info("request %s: route '%s' has no node left; falling back to route '%s'",
		      c->request_id, from->name, from->fallback);
	c->fallbacks++;
	c->route = to;
	standby_count(c);
	c->retries_left = (int)c->snap->cat.routes[to].retries;
	c->tried = aigw_pool_calloc(c->req->pool, c->snap->routes[to].n + 1);
	return true;
}

/* The route's first_byte_timeout expired: the attempt is given up like
 * any failure before the first byte (retried elsewhere when it can be). */
static void first_byte_late(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct call *c = arg;
	struct aigw_xfer_result res = { 0 };
	(void)ev;
	(void)t;

	if (!c->xfer)
		return;
	aigw_upstream_abort(c->xfer);
	res.outcome = AIGW_XFER_TIMEOUT;
	snprintf(res.message, sizeof(res.message), "no answer within the route's first_byte_timeout");
	on_done(NULL, &res, c);
}

/* The route's idle_timeout expired between two pieces of an answer. */
static void idle_late(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct call *c = arg;
	struct aigw_xfer_result res = { 0 };
	(void)ev;
	(void)t;

	if (!c->xfer)
		return;
	aigw_upstream_abort(c->xfer);
	res.outcome = AIGW_XFER_TIMEOUT;
	res.head_received = true;
	snprintf(res.message, sizeof(res.message), "silent for longer than the route's idle_timeout");
	aigw_log_warn("request %s: node '%s' %s", c->request_id,
		      c->snap->nodes[c->node].node->name, res.message);
	on_done(NULL, &res, c);
}

static int start_upstream(struct call *c)
{
	const struct aigw_route *route = c->snap->routes[c->route].route;
	struct aigw_xfer_request xr = { 0 };
	struct aigw_err err;
	int ni;

	char method[16];
	size_t ml = c->req->method_name.len < 15 ? c->req->method_name.len : 15;

	memcpy(method, c->req->method_name.ptr, ml);
	method[ml] = '\0';
	while ((ni = pick(c)) >= 0) {
		const struct aigw_snapshot_node *sn = &c->snap->nodes[ni];
		uint64_t wait_ms = 0;
		c->node = ni;
		c->mode = RELAY;
		if (aigw_accounts_pick(c->gw->accounts, sn->node->name, aigw_clock_mono_ms(), c->use,
				       &wait_ms) < 0) {
			/* Every account of the node is resting after a 429 or
			 * waiting for a token: another node may take it. */
			if (!c->rest_wait_ms || wait_ms < c->rest_wait_ms)
				c->rest_wait_ms = wait_ms;
			c->attempt_open = true;
			drop_attempt(c);
			continue;
		}
		xr.proxy = c->use->proxy[0] ? c->use->proxy : NULL;
		c->adapted = c->ai && sn->node->provider != AIGW_PROVIDER_HTTP;
		xr.body = c->body;
		xr.body_len = c->body_len;
		if (c->adapted) {
			if (adapt(c, sn) < 0) {
				c->attempt_open = true;
				drop_attempt(c);
				continue;
			}
			if (!c->preq.same_body) {
				xr.body = c->preq.body.data;
				xr.body_len = c->preq.body.len;
			}
			xr.url = c->preq.url.data;
		} else {
			free(c->url);
			c->url = upstream_url(sn->node, c->req);
			xr.url = c->url;
		}
		build_headers(c);
		xr.method = method;
		xr.fields = c->up_fields.data;
		xr.fields_len = c->up_fields.len;
		xr.timeout_ms = route->timeout_ms ? route->timeout_ms
						  : atomic_load_explicit(&c->gw->upstream_timeout_ms,
									 memory_order_relaxed);
		xr.ops = &xfer_ops;
		xr.arg = c;
		if (!c->upstream_start_us)
			c->upstream_start_us = aigw_clock_mono_us();
		xr.connect_timeout_ms = route->connect_timeout_ms;
		c->attempt_start_us = aigw_clock_mono_us();
		if (aigw_upstream_start(c->w->up, &xr, &c->xfer, &err) == 0) {
			c->attempt_open = true;
			if (route->first_byte_timeout_ms) {
				aigw_ev_timer_init(&c->first_byte_timer, first_byte_late, c);
				aigw_ev_timer_start(c->req->ev, &c->first_byte_timer,
						    (uint64_t)route->first_byte_timeout_ms * 1000);
			}
			c->idle_ms = route->idle_timeout_ms;
			return 0;
		}
		aigw_log_warn("request %s: cannot start upstream transfer: %s", c->request_id, err.msg);
		c->attempt_open = true;
		drop_attempt(c);
	}
	if (take_fallback(c))
		return start_upstream(c);
	return -1;
}

/* ------------------------------------------------------------ built-ins */

static void respond_json(struct call *c, int status, const char *body)
{
	char h[256];
	size_t n = extra_headers(c, h, sizeof(h));
	n += (size_t)snprintf(h + n, sizeof(h) - n, "Content-Type: application/json\r\n");
	c->status = status;
	c->done = true;
	account(c);
	aigw_server_respond(c->req, status, h, n, body, strlen(body));
}

static void serve_models(struct call *c)
{
	cJSON *root = cJSON_CreateObject(), *data;
	char *text;

	cJSON_AddStringToObject(root, "object", "list");
	data = cJSON_AddArrayToObject(root, "data");
	for (size_t i = 0; i < c->snap->models.n; i++) {
		cJSON *m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "id", c->snap->models.v[i]);
		cJSON_AddStringToObject(m, "object", "model");
		cJSON_AddNumberToObject(m, "created", 0);
		cJSON_AddStringToObject(m, "owned_by", "aigw");
		cJSON_AddItemToArray(data, m);
	}
	text = cJSON_PrintUnformatted(root);
	respond_json(c, 200, text);
	cJSON_free(text);
	cJSON_Delete(root);
}

static void serve_metrics(struct call *c)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	struct aigw_server_stats st;
	struct aigw_reqlog_counters lc;
	char h[256];
	size_t n;

	aigw_metrics_write_prometheus(c->gw->metrics, &b);
	aigw_standby_set_write_prometheus(c->gw->standby, &b);
	aigw_server_stats(c->gw->server, &st);
	aigw_reqlog_counters(c->gw->log, &lc);
	aigw_buf_printf(&b,
			"# HELP aigw_connections Client connections open now.\n"
			"# TYPE aigw_connections gauge\naigw_connections %llu\n"
			"# HELP aigw_log_rows_dropped_total Request log rows lost (queue full or write failed).\n"
			"# TYPE aigw_log_rows_dropped_total counter\naigw_log_rows_dropped_total %llu\n"
			"# HELP aigw_log_rows_written_total Request log rows written.\n"
			"# TYPE aigw_log_rows_written_total counter\naigw_log_rows_written_total %llu\n",
			(unsigned long long)st.connections, (unsigned long long)lc.dropped,
			(unsigned long long)lc.written);
	n = extra_headers(c, h, sizeof(h));
	n += (size_t)snprintf(h + n, sizeof(h) - n,
			      "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
	c->status = 200;
	c->done = true;
	account(c);
	aigw_server_respond(c->req, 200, h, n, b.data, b.len);
	aigw_buf_release(&b);
}

static bool ready(const struct aigw_snapshot *s)
{
	for (size_t i = 0; i < s->cat.n_routes; i++)
		for (size_t j = 0; j < s->routes[i].n; j++)
			if (s->routes[i].node[j] >= 0 &&
			    s->nodes[s->routes[i].node[j]].node->state == AIGW_NODE_ENABLED)
				return true;
	return false;
}

/* ------------------------------------------------------------ pipeline */

/* Does any node of the route (in whatever state) serve the model? When
 * none does, the answer is 404, not a 503 that clients would retry. */
static bool route_serves(const struct aigw_snapshot *s, int route, const char *model)
{
	const struct aigw_snapshot_route *r = &s->routes[route];
	for (size_t j = 0; j < r->n; j++)
		if (r->node[j] >= 0 && aigw_node_serves(s->nodes[r->node[j]].node, model))
			return true;
	return false;
}

static bool is_ai_endpoint(const struct aigw_server_req *req)
{
	return req->method == AIGW_HTTP_POST &&
	       (path_is(req, "/v1/chat/completions") || path_is(req, "/v1/completions") ||
		path_is(req, "/v1/embeddings"));
}

struct decoded {
	struct call *c;
	int models;
	bool model_ok;
};

static int stream_option(const struct aigw_json_member *m, void *arg)
{
	struct call *c = arg;
	if (aigw_json_key_is(m, "include_usage"))
		c->include_usage = m->value_len == 4 && memcmp(m->value, "true", 4) == 0;
	return 0;
}

static int request_member(const struct aigw_json_member *m, void *arg)
{
	struct decoded *d = arg;

	if (aigw_json_key_is(m, "model")) {
		d->models++;
		d->model_ok = aigw_json_string(m->value, m->value_len, d->c->model,
					       sizeof(d->c->model));
	} else if (aigw_json_key_is(m, "stream")) {
		d->c->stream = m->value_len == 4 && memcmp(m->value, "true", 4) == 0;
	} else if (aigw_json_key_is(m, "stream_options") && m->value[0] == '{') {
		aigw_json_object(m->value, m->value_len, stream_option, d->c);
	}
	return 0;
}

/* Reads model and stream from an AI request body; 0, or answers 400. */
static int decode(struct call *c)
{
	struct decoded d = { c, 0, false };

	if (aigw_json_object(c->req->body, c->req->body_len, request_member, &d) < 0) {
		fail(c, 400, "invalid_request_error", "invalid_json",
		     "the request body is not a JSON object", NULL);
		return -1;
	}
	if (d.models > 1) {
		/* Providers read the last one; the key check would read another:
		 * refuse rather than guess. */
		fail(c, 400, "invalid_request_error", "invalid_model",
		     "the request names \"model\" more than once", NULL);
		return -1;
	}
	if (d.models == 0 || (d.model_ok && !c->model[0])) {
		c->model[0] = '\0';
		fail(c, 400, "invalid_request_error", "missing_model",
		     "the request must name a model (\"model\": \"...\")", NULL);
		return -1;
	}
	if (!d.model_ok) {
		c->model[0] = '\0';
		fail(c, 400, "invalid_request_error", "invalid_model",
		     "\"model\" must be a string of at most 128 bytes", NULL);
		return -1;
	}
	return 0;
}

/* Is some node of the route enabled and serving model? */
static bool route_live(const struct aigw_snapshot *s, int route, const char *model)
{
	const struct aigw_snapshot_route *r = &s->routes[route];
	for (size_t j = 0; j < r->n; j++) {
		const struct aigw_node *n = r->node[j] >= 0 ? s->nodes[r->node[j]].node : NULL;
		if (n && n->state == AIGW_NODE_ENABLED && aigw_node_serves(n, model))
			return true;
	}
	return false;
}

/* An alias: its first target that a route can serve now. When none can,
 * the first one some route serves at all (the request then gets that
 * route's answer, a 503 while its nodes are away); -1 when no route
 * serves any. c->upmodel is set to the target. */
static ssize_t resolve_alias(struct call *c, const struct aigw_alias *a,
			     struct aigw_route_request *rr)
{
	ssize_t first = -1;
	const char *first_model = NULL;

	for (size_t i = 0; i < a->targets.n; i++) {
		ssize_t r;
		rr->model = a->targets.v[i];
		r = aigw_route_match(c->snap->cat.routes, c->snap->cat.n_routes, rr, NULL);
		if (r < 0 || !route_serves(c->snap, (int)r, rr->model))
			continue;
		if (route_live(c->snap, (int)r, rr->model)) {
			c->upmodel = rr->model;
			return r;
		}
		if (first < 0) {
			first = r;
			first_model = rr->model;
		}
	}
	c->upmodel = first_model;
	return first;
}

/* POST /v1/messages: the Anthropic request becomes the OpenAI body the
 * rest of the pipeline works on. 0, or answers 400. */
static int decode_messages(struct call *c)
{
	struct aigw_err err;

	if (aigw_messages_request(c->req->body, c->req->body_len, &c->xbody, c->model,
				  sizeof(c->model), &c->stream, &err) < 0) {
		c->model[0] = '\0';
		fail(c, 400, "invalid_request_error", "invalid_request", err.msg, NULL);
		return -1;
	}
	c->body = c->xbody.data;
	c->body_len = c->xbody.len;
	c->include_usage = c->stream; /* the translated body asks for it */
	return 0;
}

static int authenticate(struct call *c)
{
	const struct aigw_http_slice *a = aigw_server_req_header(c->req, "authorization");
	const struct aigw_http_slice *x = aigw_server_req_header(c->req, "x-api-key");
	struct aigw_auth_result r;
	const char *token;
	size_t len;

	if (atomic_load_explicit(&c->gw->auth, memory_order_relaxed) == AIGW_AUTH_NONE)
		return 0;
	token = aigw_auth_token(a ? a->ptr : NULL, a ? a->len : 0, x ? x->ptr : NULL,
				x ? x->len : 0, &len);
	aigw_auth_check_cached(&c->w->auth_cache, c->snap, token, len,
			       c->model[0] ? c->model : NULL, aigw_clock_wall_s(), &r);
	c->key = r.key;
	if (r.verdict == AIGW_AUTH_OK)
		return 0;
	fail(c, r.status, r.type, r.code, r.message,
	     r.status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL);
	return -1;
}

static void handle(struct aigw_server_req *req, void *arg)
{
	struct aigw_gateway *gw = arg;
	struct worker *w = req->worker_data;
	struct call *c;
	struct aigw_route_request rr;
	struct aigw_strv headers = AIGW_STRV_INIT;
	const struct aigw_alias *alias;
	ssize_t route;
	char path[2048];

	refresh(w);
	c = aigw_pool_calloc(req->pool, sizeof(*c));
	c->gw = gw;
	c->w = w;
	c->req = req;
	c->snap = aigw_snapshot_ref(w->snap);
	c->route = c->node = -1;
	c->prompt_tokens = c->completion_tokens = -1;
	c->cache_read_tokens = c->cache_write_tokens = -1;
	aigw_provider_req_init(&c->preq);
	c->use = aigw_pool_calloc(req->pool, sizeof(*c->use));
	c->use->index = -1;
	c->ts_ms = aigw_clock_wall_ms();
	aigw_buf_init(&c->body_copy);
	aigw_buf_init(&c->xbody);
	aigw_buf_init(&c->up_fields);
	aigw_sse_init(&c->sse_parser, 0);
	aigw_pool_cleanup(req->pool, call_cleanup, c);
	aigw_metrics_gauge_add(w->shard, gw->family[F_IN_FLIGHT], gw->in_flight, 1);
	request_id(c);
	traceparent(c);
	memcpy(c->call_id, "chatcmpl-", 9);
	aigw_strlcpy(c->call_id + 9, c->request_id, sizeof(c->call_id) - 9);

	if (req->method == AIGW_HTTP_GET || req->method == AIGW_HTTP_HEAD) {
		c->builtin = true; /* until no built-in path matches */
		if (path_is(req, "/healthz")) {
			respond_json(c, 200, "{\"status\":\"ok\"}");
			return;
		}
		if (path_is(req, "/readyz")) {
			if (ready(c->snap))
				respond_json(c, 200, "{\"status\":\"ready\"}");
			else
				fail(c, 503, "server_error", "not_ready",
				     "no route has an enabled node", "Retry-After: 1\r\n");
			return;
		}
		if (path_is(req, "/metrics")) {
			serve_metrics(c);
			return;
		}
		c->builtin = false;
	}
	c->messages = req->method == AIGW_HTTP_POST && path_is(req, "/v1/messages");
	c->ai = c->messages || is_ai_endpoint(req);
	c->body = req->body;
	c->body_len = req->body_len;
	if (c->ai)
		c->api = path_is(req, "/v1/completions") ? AIGW_API_COMPLETIONS
			 : path_is(req, "/v1/embeddings") ? AIGW_API_EMBEDDINGS
							  : AIGW_API_CHAT;
	if (c->messages ? decode_messages(c) : c->ai && decode(c))
		return;
	if (authenticate(c))
		return;
	if (req->method == AIGW_HTTP_GET && path_is(req, "/v1/models")) {
		serve_models(c);
		return;
	}

	if (req->path.len >= sizeof(path)) {
		fail(c, 414, "invalid_request_error", "path_too_long", "the path is too long", NULL);
		return;
	}
	memcpy(path, req->path.ptr, req->path.len);
	path[req->path.len] = '\0';
	/* The header list is only built when some route looks at headers. */
	for (size_t i = 0; c->snap->header_routes && i < req->http->header_count; i++) {
		const struct aigw_http_header *h = &req->http->headers[i];
		char *line = aigw_pool_printf(req->pool, "%.*s: %.*s", (int)h->name.len,
					      h->name.ptr, (int)h->value.len, h->value.ptr);
		aigw_strv_push(&headers, line);
	}
	rr.method = aigw_pool_strndup(req->pool, req->method_name.ptr, req->method_name.len);
	rr.path = path;
	rr.model = c->model[0] ? c->model : NULL;
	rr.headers = &headers;
	c->upmodel = rr.model;
	alias = c->ai ? aigw_alias_find(c->snap->aliases, c->snap->n_aliases, c->model) : NULL;
	route = alias ? resolve_alias(c, alias, &rr)
		      : aigw_route_match(c->snap->cat.routes, c->snap->cat.n_routes, &rr, NULL);
	if (route < 0 && c->messages) {
		/* Routes written for OpenAI's chat path serve Anthropic's too. */
		rr.path = "/v1/chat/completions";
		route = alias ? resolve_alias(c, alias, &rr)
			      : aigw_route_match(c->snap->cat.routes, c->snap->cat.n_routes, &rr, NULL);
	}
	aigw_strv_release(&headers);
	if (route < 0 && alias) {
		char *m = aigw_pool_printf(req->pool, "no route serves any model of alias '%s'",
					   c->model);
		fail(c, 404, "invalid_request_error", "model_not_found", m, NULL);
		return;
	}
	if (route < 0) {
		if (c->ai) {
			char *m = aigw_pool_printf(req->pool, "no route serves model '%s'", c->model);
			fail(c, 404, "invalid_request_error", "model_not_found", m, NULL);
		} else {
			fail(c, 404, "invalid_request_error", "not_found", "no route matches this path",
			     NULL);
		}
		return;
	}
	c->route = (int)route;
	if (c->ai && !route_serves(c->snap, c->route, c->upmodel)) {
		char *m = aigw_pool_printf(req->pool, "no node of route '%s' serves model '%s'",
					   c->snap->cat.routes[route].name, c->upmodel);
		fail(c, 404, "invalid_request_error", "model_not_found", m, NULL);
		return;
	}
	standby_count(c);
	c->retries_left = (int)c->snap->cat.routes[route].retries;
	c->tried = aigw_pool_calloc(req->pool, c->snap->routes[route].n + 1);
	aigw_server_on_drained(req, drained, c);
	aigw_retry_budget_deposit(&gw->budget);
	if (start_upstream(c) != 0)
		no_node(c);
}

/* ------------------------------------------------------------ workers */

static int worker_init(struct aigw_server *s, struct aigw_ev *ev, int index, void *arg,
		       void **data, struct aigw_err *err)
{
	struct aigw_gateway *gw = arg;
	struct worker *w = &gw->workers[index];
	(void)s;

	w->gw = gw;
	w->index = index;
	w->shard = aigw_metrics_shard(gw->metrics, (unsigned)index);
	aigw_buf_init(&w->head);
	aigw_buf_init(&w->tx);
	aigw_buf_init(&w->tx2);
	if (aigw_rand_bytes(&w->rng, sizeof(w->rng), err))
		return AIGW_EFAIL;
	w->up = aigw_upstream_new(ev, err);
	if (!w->up)
		return AIGW_EFAIL;
	refresh(w);
	*data = w;
	return 0;
}

static void worker_fini(struct aigw_server *s, struct aigw_ev *ev, int index, void *arg,
			void *data)
{
	struct worker *w = data;
	(void)s;
	(void)ev;
	(void)index;
	(void)arg;

	aigw_upstream_free(w->up);
	w->up = NULL;
	aigw_buf_release(&w->head);
	aigw_buf_release(&w->tx);
	aigw_buf_release(&w->tx2);
	series_cache_release(&w->series);
	for (size_t i = 0; i < w->n_balancers; i++)
		aigw_balancer_release(&w->balancers[i]);
	free(w->balancers);
	w->balancers = NULL;
	free(w->standby);
	w->standby = NULL;
	w->n_balancers = 0;
	aigw_snapshot_unref(w->snap);
	w->snap = NULL;
}

/* ------------------------------------------------------------ life */

static const char *const l_route_node_status[] = { "route", "node", "status" };
static const char *const l_route[] = { "route" };
static const char *const l_node[] = { "node" };
static const char *const l_node_kind[] = { "node", "kind" };

static int register_metrics(struct aigw_gateway *gw, struct aigw_err *err)
{
	const struct aigw_metric_desc d[F_COUNT] = {
		[F_REQUESTS] = { "aigw_requests_total", "Requests answered, by route, node and status.",
				 AIGW_METRIC_COUNTER, l_route_node_status, 3, 0, NULL, 0, 0 },
		[F_DURATION] = { "aigw_request_duration_seconds",
				 "Time from the first byte of a request to the end of its answer.",
				 AIGW_METRIC_HISTOGRAM, l_route, 1, 0, NULL, 0, 0 },
		[F_TTFB] = { "aigw_upstream_ttfb_seconds",
			     "Time from sending a request upstream to its response head.",
			     AIGW_METRIC_HISTOGRAM, l_node, 1, 0, NULL, 0, 0 },
		[F_IN_FLIGHT] = { "aigw_requests_in_flight", "Requests being handled now.",
				  AIGW_METRIC_GAUGE, NULL, 0, 0, NULL, 0, 0 },
		[F_TOKENS] = { "aigw_tokens_total",
			       "Tokens reported by providers' usage, by node and kind (prompt, completion).",
			       AIGW_METRIC_COUNTER, l_node_kind, 2, 0, NULL, 0, 0 },
	};
	for (int i = 0; i < F_COUNT; i++) {
		int id = aigw_metrics_family(gw->metrics, &d[i], err);
		if (id < 0)
			return id;
		gw->family[i] = id;
	}
	/* Series 0 of a family without labels is never exported: record into
	 * the one made for the empty tuple (exported from now on, 0 at first). */
	gw->in_flight = aigw_metrics_series(gw->metrics, gw->family[F_IN_FLIGHT], NULL);
	return 0;
}

/* Breakers and ejection as aigw.yaml says (fixed at the start). */
static struct aigw_health *new_health(const struct aigw_conf *conf, struct aigw_err *err)
{
	struct aigw_health_conf hc;

	aigw_health_conf_init(&hc);
	hc.breaker_failures = (unsigned)conf->breaker_failures;
	hc.open_base_ms = (uint64_t)conf->breaker_open_ms;
	hc.open_max_ms = hc.open_base_ms * 12;
	hc.outlier_failures = (unsigned)conf->outlier_failures;
	hc.eject_base_ms = (uint64_t)conf->outlier_ejection_ms;
	hc.eject_max_ms = hc.eject_base_ms * 10;
	hc.max_eject_percent = (unsigned)conf->max_ejected_percent;
	if (!hc.max_eject_percent) /* 0 is "the default" to the module: no ejection */
		hc.outlier_failures = UINT_MAX;
	return aigw_health_new(&hc, err);
}

int aigw_gateway_new(struct aigw_gateway **out, const struct aigw_conf *conf,
		     const char *db_path, struct aigw_err *err)
{
	struct aigw_gateway *gw = aigw_calloc(1, sizeof(*gw));
	struct aigw_server_config sc;
	int rc;

	pthread_mutex_init(&gw->mu, NULL);
	gw->standby = aigw_standby_set_new(&conf->standby);
	atomic_init(&gw->auth, conf->auth);
	atomic_init(&gw->upstream_timeout_ms, conf->upstream_timeout_ms);
	atomic_init(&gw->slow_start_ms, 0);
	keep_routing_conf(gw, conf);
	gw->started = *conf;
	gw->started.health_check_path = NULL;
	gw->started.listen = NULL; /* only compared field by field below */
	gw->started.nodes = NULL;
	gw->started.routes = NULL;
	gw->started.path = NULL;
	gw->started.n_nodes = gw->started.n_routes = 0;
	aigw_server_config_init(&sc);
	sc.listen = conf->listen;
	sc.workers = (int)conf->workers;
	sc.limits.max_header_bytes = (size_t)conf->max_header_bytes;
	sc.limits.max_headers = (size_t)conf->max_headers;
	sc.limits.max_body_bytes = (uint64_t)conf->max_body_bytes;
	sc.header_timeout_ms = (uint64_t)conf->header_timeout_ms;
	sc.body_timeout_ms = (uint64_t)conf->body_timeout_ms;
	sc.idle_timeout_ms = (uint64_t)conf->idle_timeout_ms;
	sc.handler = handle;
	sc.handler_arg = gw;
	sc.worker_init = worker_init;
	sc.worker_fini = worker_fini;
	sc.worker_arg = gw;
	gw->started.aliases = NULL;
	gw->started.prices = NULL;
	gw->started.n_aliases = gw->started.n_prices = 0;
	memset(&gw->started.geo, 0, sizeof(gw->started.geo));
	if ((rc = aigw_store_open(&gw->store, db_path, 0, err)))
		goto fail;
	if (!(gw->accounts = aigw_accounts_new(err)) || !(gw->health = new_health(conf, err))) {
		rc = AIGW_EFAIL;
		goto fail;
	}
	/* Retries may add a fifth of the requests, plus 10 a second (so that
	 * light traffic is always retried): Finagle's defaults. */
	aigw_retry_budget_init(&gw->budget, 0.2, 100, 10, aigw_clock_mono_ms());
	gw->budget_ready = true;
	if ((rc = aigw_gateway_reload(gw, conf, err)))
		goto fail;
	if ((rc = aigw_reqlog_start(&gw->log, db_path, (size_t)conf->log_queue, 0, 0, err)))
		goto fail;
	if ((rc = aigw_server_new(&gw->server, &sc, err)))
		goto fail;
	gw->n_workers = aigw_server_workers(gw->server);
	gw->workers = aigw_calloc((size_t)gw->n_workers, sizeof(*gw->workers));
	gw->metrics = aigw_metrics_new((unsigned)gw->n_workers);
	if ((rc = register_metrics(gw, err)))
		goto fail;
	*out = gw;
	return 0;
fail:
	aigw_gateway_free(gw);
	*out = NULL;
	return rc;
}

const char *aigw_gateway_address(const struct aigw_gateway *gw)
{
	return aigw_server_address(gw->server);
}

int aigw_gateway_run(struct aigw_gateway *gw, struct aigw_err *err)
{
	return aigw_server_run(gw->server, err);
}

void aigw_gateway_stop(struct aigw_gateway *gw, uint64_t grace_ms)
{
	aigw_server_stop(gw->server, grace_ms);
}

void aigw_gateway_free(struct aigw_gateway *gw)
{
	if (!gw)
		return;
	aigw_server_free(gw->server);
	aigw_reqlog_stop(gw->log);
	aigw_metrics_free(gw->metrics);
	free(gw->workers);
	aigw_snapshot_unref(gw->latest);
	aigw_accounts_free(gw->accounts);
	aigw_health_free(gw->health);
	if (gw->budget_ready)
		aigw_retry_budget_release(&gw->budget);
	aigw_store_close(gw->store);
	aigw_conf_release(&gw->conf);
	aigw_standby_set_free(gw->standby);
	pthread_mutex_destroy(&gw->mu);
	free(gw);
}
