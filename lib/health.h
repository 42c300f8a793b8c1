/* health: whether a node may take requests, for `aigw serve` — a circuit
 * breaker per node, passive outlier ejection, active health checks, and
 * the retry budget and backoff the gateway uses when it retries.
 *
 * Worker threads ask aigw_health_allow before every upstream request and
 * tell aigw_health_record how it ended. Like lib/accounts.h, the node table
 * is an immutable array sorted by name, swapped in by aigw_health_sync
 * (old tables and the states of removed nodes are kept until
 * aigw_health_free, so a call racing a sync reads memory that stays
 * valid). The common path — a closed, not ejected, not down node — reads
 * atomics only; a success on such a node writes nothing unless a failure
 * count has to be reset. Transitions of the breaker take a per-node mutex,
 * ejections a mutex of the module (they look at the whole pool).
 *
 * Circuit breaker (per node, whatever pool it serves): closed; after
 * breaker_failures consecutive failures (FAIL_CONNECT, FAIL_5XX,
 * FAIL_TIMEOUT; RATE_LIMITED is neither a failure nor a success) it opens
 * for open_base_ms. After that time allow turns it half-open and lets
 * half_open_probes requests through at a time (allow sets *probe). Any
 * success recorded while half-open closes it (and resets the open time);
 * any failure opens it again for twice the previous open time, at most
 * open_max_ms. A probe that never reports (the request was abandoned)
 * frees its slot after PROBE_STALE_MS (30 s).
 *
 * Outlier ejection (per pool): outlier_failures consecutive failures (the
 * same three outcomes: 5xx and gateway failures) eject the node for
 * eject_base_ms times the number of its ejections, at most eject_max_ms.
 * The caller passes the pool (the names of the route's candidate nodes)
 * to aigw_health_record: a node is not ejected when that would leave more
 * than max_eject_percent of the pool ejected (floor of the share, but at
 * least one node of a pool of two or more); its failure count then keeps
 * growing and the next failure tries again. A node stays ejected for every
 * pool (ejection is a property of the node; the share is checked against
 * the pool of the request that tipped it). The ejection count goes back to
 * zero when a node stays clear of ejection for eject_max_ms after its last
 * return.
 *
 * Active checks: one background thread owned by the module GETs the
 * check URL of every node whose aigw_health_check_conf is enabled, once
 * per interval, one node after another. The URL is the node URL's
 * scheme://host:port followed by the conf's path, or by default
 * "/v1/models" for openai, openai-compatible and azure nodes, "/api/tags"
 * for ollama and "/" for the others. A check passes when an answer's
 * status line arrives within the timeout and its status is below 500 (a
 * 401 or 404 still proves the server answers; providers want keys the
 * checker does not send). http:// goes through a small blocking HTTP/1.1
 * client, https:// through libcurl (curl_dl.h). unhealthy_threshold
 * failed checks in a row make the node down (allow refuses it) until
 * healthy_threshold checks in a row pass. The timeout bounds connecting
 * and waiting for the answer, not the name lookup (getaddrinfo blocks the
 * check thread, not a worker). Check times are on
 * aigw_clock_mono_ms(), the clock every now_ms below should come from.
 *
 * Recovery: aigw_health_since_ms tells since when a node is usable again
 * (its ejection ended, its breaker closed after half-open, or its checks
 * brought it back), so the balancer can ramp it up slowly. */
#ifndef AIGW_HEALTH_H
#define AIGW_HEALTH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "node.h"

/* ------------------------------------------------------ configuration */

/* Thresholds of the breaker and of outlier ejection, for every node. */
struct aigw_health_conf {
	unsigned breaker_failures;  /* consecutive failures that open; default 5 */
	uint64_t open_base_ms;      /* first open time; default 5000 */
	uint64_t open_max_ms;       /* open time doubles up to this; default 60000 */
	unsigned half_open_probes;  /* probes at a time; default 1 */
	unsigned outlier_failures;  /* consecutive failures that eject; default 5;
				     * 0 in a conf given to new: the default */
	uint64_t eject_base_ms;     /* default 30000 */
	uint64_t eject_max_ms;      /* default 300000 */
	unsigned max_eject_percent; /* of a pool; default 50; 100 at most */
};

/* Fills the defaults above. */
void aigw_health_conf_init(struct aigw_health_conf *c);

#define AIGW_HEALTH_PATH_MAX 256

/* Active checks of one node; aigw_health_check_conf_init gives
 * enabled=false and the defaults. */
struct aigw_health_check_conf {
	bool enabled;
	uint64_t interval_ms;          /* default 10000 */
	uint64_t timeout_ms;           /* connect to status line; default 2000 */
	char path[AIGW_HEALTH_PATH_MAX]; /* "" : by provider (see above); else
					  * must start with '/' */
	unsigned healthy_threshold;    /* default 2 */
	unsigned unhealthy_threshold;  /* default 3 */
};

void aigw_health_check_conf_init(struct aigw_health_check_conf *c);

/* ------------------------------------------------------------- module */

/* Lives as long as `aigw serve`. */
struct aigw_health;

/* Starts the check thread; conf NULL: defaults (a zero field of conf also
 * takes its default). NULL with err on failure (bad conf, no thread). */
struct aigw_health *aigw_health_new(const struct aigw_health_conf *conf, struct aigw_err *err);
/* Stops the check thread (a check in flight is waited for, up to its
 * timeout) and frees. NULL is a no-op. */
void aigw_health_free(struct aigw_health *h);

/* Called whenever the gateway builds a new snapshot: nodes[0..n) are the
 * nodes now, checks[i] (checks NULL: none enabled) their active checks.
 * State is keyed by node name and URL: a node whose name and URL did not
 * change keeps its breaker, ejection and check state (a changed check
 * conf is taken over, and its counts start again when the path changes);
 * nodes that went away are forgotten. AIGW_EINVAL (nothing changed) for a
 * node without name or URL, or a bad check conf. Safe while other threads
 * allow and record; calls to sync must not overlap. */
int aigw_health_sync(struct aigw_health *h, const struct aigw_node *nodes, size_t n,
		     const struct aigw_health_check_conf *checks, struct aigw_err *err);

/* May a request go to the node now? False while the node is down, ejected,
 * or its breaker is open (or half-open with every probe slot taken).
 * *probe (out, may be NULL) is set when the request is a half-open probe:
 * its outcome must be recorded. An unknown node is allowed. */
bool aigw_health_allow(struct aigw_health *h, const char *node, uint64_t now_ms, bool *probe);

enum aigw_health_outcome {
	AIGW_HEALTH_OK,
	AIGW_HEALTH_FAIL_CONNECT,
	AIGW_HEALTH_FAIL_5XX,
	AIGW_HEALTH_FAIL_TIMEOUT,
	AIGW_HEALTH_RATE_LIMITED, /* 429: the node is fine, the account is not */
};

/* How a request to node ended. pool[0..n_pool) names the nodes of the
 * route the request came through (node among them or not), for the
 * ejection share; pool NULL: no share limit. Unknown nodes are ignored. */
void aigw_health_record(struct aigw_health *h, const char *node, const char *const *pool,
			size_t n_pool, uint64_t now_ms, enum aigw_health_outcome outcome);

/* A node answered 429 with its only credential: it rests until until_ms
 * (its Retry-After), for every worker; an earlier time than the current
 * rest changes nothing. A rest is neither a failure nor a state of the
 * breaker: the gateway skips a resting node and, when every node rests,
 * says when one is back. Unknown nodes: no-op. */
void aigw_health_rest(struct aigw_health *h, const char *node, uint64_t until_ms);
/* How long the node still rests at now_ms; 0: it does not. */
uint64_t aigw_health_resting_ms(struct aigw_health *h, const char *node, uint64_t now_ms);

/* Since when the node is usable again after an ejection, an open breaker
 * or failed checks: a time after now_ms while it is still ejected (when
 * its ejection ends); 0 for a node that never failed, or an unknown one
 * (the balancer knows itself when it added a node). */
uint64_t aigw_health_since_ms(struct aigw_health *h, const char *node);

enum aigw_health_state {
	AIGW_HEALTH_CLOSED,
	AIGW_HEALTH_OPEN,
	AIGW_HEALTH_HALF_OPEN,
	AIGW_HEALTH_EJECTED,
	AIGW_HEALTH_DOWN,
};

/* "closed", "open", "half-open", "ejected", "down". */
const char *aigw_health_state_name(enum aigw_health_state s);

#define AIGW_HEALTH_CHECK_ERROR_MAX 128

/* For `aigw nodes list` and metrics. */
struct aigw_health_status {
	enum aigw_health_state state;  /* down, else ejected, else the breaker */
	unsigned consecutive_failures; /* as counted for the breaker */
	unsigned ejections;            /* that count toward the ejection time */
	uint64_t retry_at_ms;          /* when open or ejected ends; 0: not */
	uint64_t since_ms;             /* aigw_health_since_ms */
	int64_t in_flight;             /* aigw_health_in_flight */
	uint64_t picks;                /* aigw_health_begin calls since it was added */
	bool latency_measured;         /* aigw_health_latency was called */
	uint64_t latency_us;           /* its estimate; 0 when not measured */
	bool checks;                   /* active checks enabled */
	bool checked;                  /* at least one check ran */
	bool check_ok;                 /* the last check passed */
	int check_status;              /* its HTTP status; 0: no answer */
	uint64_t checked_at_ms;        /* mono ms of the last check */
	unsigned check_passes, check_fails; /* in a row */
	char check_error[AIGW_HEALTH_CHECK_ERROR_MAX]; /* why it failed; "" */
};

/* Requests in flight on a node over every worker: begin when a node is
 * picked for an attempt, end when the attempt ends however it ends. Each
 * begin also counts a pick (for shares of traffic). Unknown nodes: no-ops,
 * in flight 0. */
void aigw_health_begin(struct aigw_health *h, const char *node);
void aigw_health_end(struct aigw_health *h, const char *node);
int64_t aigw_health_in_flight(struct aigw_health *h, const char *node);

/* A latency estimate per node over every worker, for `aigw nodes list`
 * and `aigw route test` (the balancers' own estimates are per worker and
 * not readable from other threads). The gateway reports the latency of
 * every answered attempt (not of failures, whose latency says little);
 * the estimate is an exponentially weighted moving average that moves
 * AIGW_HEALTH_LATENCY_ALPHA of the way toward each sample (the first
 * sample is taken as is), so the last ten or so answers dominate. No
 * lock: workers racing may lose a sample. Unknown nodes: no-op. */
#define AIGW_HEALTH_LATENCY_ALPHA 0.2
void aigw_health_latency(struct aigw_health *h, const char *node, uint64_t latency_us);

/* Fills *out for node at now_ms; AIGW_ENOTFOUND for an unknown node. */
int aigw_health_status(struct aigw_health *h, const char *node, uint64_t now_ms,
		       struct aigw_health_status *out);

/* -------------------------------------------------------- retry budget */

/* A route's budget of retries: every request deposits ratio tokens (up to
 * cap), every retry withdraws one; besides, min_per_s retries a second are
 * always allowed (a second bucket refilled continuously, holding
 * AIGW_RETRY_FLOOR_WINDOW_S seconds' worth and full at the start, as in
 * Finagle's budget: a burst of failures at startup, before any request
 * deposited, can still be retried). So over any window retries stay
 * within about ratio of the traffic plus the floor, and a quiet route can
 * still retry. Caller-allocated; thread-safe (a tiny mutex). */
struct aigw_retry_budget {
	pthread_mutex_t lock;
	double ratio, cap, min_per_s;
	double tokens;       /* from requests */
	double floor_tokens; /* from the per-second floor */
	uint64_t floor_at_ms;
};

#define AIGW_RETRY_RATIO_DEFAULT 0.2
#define AIGW_RETRY_CAP_DEFAULT 100.0
#define AIGW_RETRY_MIN_PER_S_DEFAULT 3.0
#define AIGW_RETRY_FLOOR_WINDOW_S 10.0

/* ratio in [0, 1], cap >= 0, min_per_s >= 0 (negative or NaN: the
 * default); the floor bucket starts full at now_ms. */
void aigw_retry_budget_init(struct aigw_retry_budget *b, double ratio, double cap,
			    double min_per_s, uint64_t now_ms);
void aigw_retry_budget_release(struct aigw_retry_budget *b);
/* One request went out (retries do not deposit). */
void aigw_retry_budget_deposit(struct aigw_retry_budget *b);
/* May one retry go out now? Takes a token when it may. */
bool aigw_retry_budget_withdraw(struct aigw_retry_budget *b, uint64_t now_ms);

/* ------------------------------------------------------------- backoff */

/* Full jitter: uniform in [0, min(cap_ms, base_ms * 2^attempt)] (attempt
 * 0 is the first retry; negative counts as 0). *rng is an xorshift64 state
 * (rand.h; not 0). */
uint64_t aigw_backoff_ms(int attempt, uint64_t base_ms, uint64_t cap_ms, uint64_t *rng);

#endif
