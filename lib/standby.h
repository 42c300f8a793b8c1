/* standby: when a route's standby nodes take traffic.
 *
 * Standby nodes of a route always take a request no active node can take
 * (the gateway's fallback). Besides, one controller per route switches
 * them on ahead of a rise in load, from a short-term forecast:
 *
 *   - workers count the route's requests (one relaxed atomic add each);
 *   - about once a second the control thread ticks: the rate of the
 *     interval (requests / seconds) feeds Holt's smoothing (forecast.h),
 *     and the forecast `horizon` ahead gives the utilisation of the
 *     route's active pool:
 *
 *         utilisation = forecast rate (req/s) / capacity (req/s)
 *
 *     where capacity is the rate the active nodes of a route are taken to
 *     serve (the `standby: capacity` directive);
 *   - utilisation > threshold switches standby on; it goes back off once
 *     the utilisation has stayed at or below the threshold for `quiet`.
 *
 * Each change is logged at info ("route chat: standby nodes on (forecast
 * 180.2 req/s, utilisation 0.91 > 0.80)") and counted (exported as
 * aigw_standby_changes_total{route,to} and aigw_standby_active{route}).
 *
 * Controllers live in a set, by route name, for the gateway's life: a
 * reload keeps what they learned. */
#ifndef AIGW_STANDBY_H
#define AIGW_STANDBY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "forecast.h"

/* aigw.yaml's `standby:` section. */
struct aigw_standby_conf {
	double threshold;     /* utilisation that switches standby on; default 0.8 */
	int64_t quiet_ms;     /* below threshold this long switches it off; 60 s */
	int64_t horizon_ms;   /* how far ahead the forecast looks; 5 s */
	double capacity;      /* requests/s of a route's active pool; 100 */
	double alpha, beta;   /* Holt's smoothing: 0.5, 0.3 */
};

void aigw_standby_conf_default(struct aigw_standby_conf *c);
/* EINVAL with a message naming the setting (threshold > 0, capacity > 0,
 * 0 < alpha <= 1, 0 <= beta <= 1, quiet and horizon >= 0). */
int aigw_standby_conf_validate(const struct aigw_standby_conf *c, struct aigw_err *err);

/* One route's controller. */
struct aigw_standby {
	char *route;
	/* Any thread. */
	atomic_uint_fast64_t count;        /* requests counted so far */
	atomic_bool active;                /* standby nodes take traffic */
	atomic_uint_fast64_t changes_on, changes_off;
	/* The ticking thread only. */
	struct aigw_standby_conf conf;
	struct aigw_holt holt;
	bool started;
	uint64_t last_ms, last_count;
	uint64_t quiet_since_ms;           /* 0: not below the threshold */
	double rate, forecast, utilisation; /* of the last tick */
};

/* conf is copied (it must be valid). */
void aigw_standby_init(struct aigw_standby *s, const char *route,
		       const struct aigw_standby_conf *conf);
void aigw_standby_release(struct aigw_standby *s);

/* A request for the route (workers; relaxed). */
static inline void aigw_standby_count(struct aigw_standby *s)
{
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

static inline bool aigw_standby_on(const struct aigw_standby *s)
{
	return atomic_load_explicit(&s->active, memory_order_relaxed);
}

/* Changes the settings; what was learned stays unless alpha or beta
 * changed (the smoothing starts again). */
void aigw_standby_configure(struct aigw_standby *s, const struct aigw_standby_conf *conf);

/* One control step at now_ms (monotonic). The first call only starts the
 * clock. Returns 1 when standby went on, -1 when it went off, else 0. */
int aigw_standby_tick(struct aigw_standby *s, uint64_t now_ms);

/* ------------------------------------------------------ the set */

struct aigw_standby_set;

struct aigw_standby_set *aigw_standby_set_new(const struct aigw_standby_conf *conf);
void aigw_standby_set_free(struct aigw_standby_set *set);
/* The route's controller, made on first sight; valid as long as the set.
 * Any thread. */
struct aigw_standby *aigw_standby_set_get(struct aigw_standby_set *set, const char *route);
/* New settings for every controller, present and future. */
void aigw_standby_set_configure(struct aigw_standby_set *set,
				const struct aigw_standby_conf *conf);
/* Ticks every controller whose last tick is at least interval_ms old. */
void aigw_standby_set_tick(struct aigw_standby_set *set, uint64_t now_ms,
			   uint64_t interval_ms);
/* aigw_standby_changes_total{route,to} and aigw_standby_active{route} in
 * Prometheus text, routes in name order. */
void aigw_standby_set_write_prometheus(struct aigw_standby_set *set, struct aigw_buf *out);

#endif
