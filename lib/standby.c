/* standby: see standby.h. */
#include "standby.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "metrics.h"

void aigw_standby_conf_default(struct aigw_standby_conf *c)
{
	c->threshold = 0.8;
	c->quiet_ms = 60000;
	c->horizon_ms = 5000;
	c->capacity = 100;
	c->alpha = 0.5;
	c->beta = 0.3;
}

int aigw_standby_conf_validate(const struct aigw_standby_conf *c, struct aigw_err *err)
{
	struct aigw_holt h;

	if (!(c->threshold > 0 && c->threshold <= 1000))
		return aigw_err_set(err, AIGW_EINVAL,
				    "threshold must be a utilisation above 0 (0.8 is 80%%), not %g",
				    c->threshold);
	if (!(c->capacity > 0 && c->capacity <= 1e9))
		return aigw_err_set(err, AIGW_EINVAL,
				    "capacity must be a rate above 0 requests/s, not %g", c->capacity);
	if (c->quiet_ms < 0 || c->horizon_ms < 0)
		return aigw_err_set(err, AIGW_EINVAL, "quiet and horizon cannot be negative");
	return aigw_holt_init(&h, c->alpha, c->beta, err);
}

void aigw_standby_init(struct aigw_standby *s, const char *route,
		       const struct aigw_standby_conf *conf)
{
	memset(s, 0, sizeof(*s));
	s->route = aigw_strdup(route);
	atomic_init(&s->count, 0);
	atomic_init(&s->active, false);
	atomic_init(&s->changes_on, 0);
	atomic_init(&s->changes_off, 0);
	s->conf = *conf;
	aigw_holt_init(&s->holt, conf->alpha, conf->beta, NULL);
}

void aigw_standby_release(struct aigw_standby *s)
{
	free(s->route);
	s->route = NULL;
}

void aigw_standby_configure(struct aigw_standby *s, const struct aigw_standby_conf *conf)
{
	if (conf->alpha != s->conf.alpha || conf->beta != s->conf.beta)
		aigw_holt_init(&s->holt, conf->alpha, conf->beta, NULL);
	s->conf = *conf;
}

int aigw_standby_tick(struct aigw_standby *s, uint64_t now_ms)
{
	uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
	uint64_t dt;

	if (!s->started || now_ms < s->last_ms) {
		s->started = true;
		s->last_ms = now_ms;
		s->last_count = count;
		return 0;
	}
	dt = now_ms - s->last_ms;
	if (!dt)
		return 0;
	s->rate = (double)(count - s->last_count) * 1000.0 / (double)dt;
	s->last_ms = now_ms;
	s->last_count = count;
	aigw_holt_update(&s->holt, s->rate);
	/* The horizon in intervals of the length of this one. */
	s->forecast = aigw_holt_forecast(&s->holt, (double)s->conf.horizon_ms / (double)dt);
	s->utilisation = s->forecast / s->conf.capacity;
	if (s->utilisation > s->conf.threshold) {
		s->quiet_since_ms = 0;
		if (aigw_standby_on(s))
			return 0;
		atomic_store(&s->active, true);
		atomic_fetch_add(&s->changes_on, 1);
		aigw_log_info("route %s: standby nodes on (forecast %.1f req/s, "
			      "utilisation %.2f > %.2f)", s->route, s->forecast, s->utilisation,
			      s->conf.threshold);
		return 1;
	}
	if (!aigw_standby_on(s))
		return 0;
	if (!s->quiet_since_ms) {
		/* Below since this tick's interval began. */
		s->quiet_since_ms = now_ms - dt;
		if (!s->quiet_since_ms)
			s->quiet_since_ms = 1;
	}
	if (now_ms - s->quiet_since_ms < (uint64_t)s->conf.quiet_ms)
		return 0;
	atomic_store(&s->active, false);
	atomic_fetch_add(&s->changes_off, 1);
	aigw_log_info("route %s: standby nodes off after %.0f s quiet (forecast %.1f req/s, "
		      "utilisation %.2f <= %.2f)", s->route,
		      (double)(now_ms - s->quiet_since_ms) / 1000.0, s->forecast, s->utilisation,
		      s->conf.threshold);
	s->quiet_since_ms = 0;
	return -1;
}

/* ------------------------------------------------------ the set */

struct aigw_standby_set {
	pthread_mutex_t mu;
	struct aigw_standby_conf conf;
	struct aigw_standby **v;
	size_t n, cap;
};

struct aigw_standby_set *aigw_standby_set_new(const struct aigw_standby_conf *conf)
{
	struct aigw_standby_set *set = aigw_calloc(1, sizeof(*set));

	pthread_mutex_init(&set->mu, NULL);
	if (conf)
		set->conf = *conf;
	else
		aigw_standby_conf_default(&set->conf);
	return set;
}

void aigw_standby_set_free(struct aigw_standby_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++) {
		aigw_standby_release(set->v[i]);
		free(set->v[i]);
	}
	free(set->v);
	pthread_mutex_destroy(&set->mu);
	free(set);
}

struct aigw_standby *aigw_standby_set_get(struct aigw_standby_set *set, const char *route)
{
	struct aigw_standby *s = NULL;

	pthread_mutex_lock(&set->mu);
	for (size_t i = 0; i < set->n && !s; i++)
		if (strcmp(set->v[i]->route, route) == 0)
			s = set->v[i];
	if (!s) {
		if (set->n == set->cap) {
			set->cap = set->cap ? set->cap * 2 : 8;
			set->v = aigw_realloc(set->v, set->cap * sizeof(*set->v));
		}
		s = aigw_malloc(sizeof(*s));
		aigw_standby_init(s, route, &set->conf);
		set->v[set->n++] = s;
	}
	pthread_mutex_unlock(&set->mu);
	return s;
}

void aigw_standby_set_configure(struct aigw_standby_set *set,
				const struct aigw_standby_conf *conf)
{
	pthread_mutex_lock(&set->mu);
	set->conf = *conf;
	for (size_t i = 0; i < set->n; i++)
		aigw_standby_configure(set->v[i], conf);
	pthread_mutex_unlock(&set->mu);
}

void aigw_standby_set_tick(struct aigw_standby_set *set, uint64_t now_ms, uint64_t interval_ms)
{
	pthread_mutex_lock(&set->mu);
	for (size_t i = 0; i < set->n; i++) {
		struct aigw_standby *s = set->v[i];
		if (!s->started || now_ms - s->last_ms >= interval_ms)
			aigw_standby_tick(s, now_ms);
	}
	pthread_mutex_unlock(&set->mu);
}

static int by_route(const void *a, const void *b)
{
	return strcmp((*(struct aigw_standby *const *)a)->route,
		      (*(struct aigw_standby *const *)b)->route);
}

void aigw_standby_set_write_prometheus(struct aigw_standby_set *set, struct aigw_buf *out)
{
	struct aigw_standby **v;
	size_t n;

	pthread_mutex_lock(&set->mu);
	n = set->n;
	v = aigw_calloc(n ? n : 1, sizeof(*v));
	if (n)
		memcpy(v, set->v, n * sizeof(*v));
	pthread_mutex_unlock(&set->mu);
	/* Controllers are never freed before the set: safe unlocked. */
	qsort(v, n, sizeof(*v), by_route);
	aigw_buf_puts(out, "# HELP aigw_standby_changes_total Times a route's standby nodes were "
			   "switched on or off by the load forecast.\n"
			   "# TYPE aigw_standby_changes_total counter\n");
	for (size_t i = 0; i < n; i++) {
		for (int on = 1; on >= 0; on--) {
			aigw_buf_puts(out, "aigw_standby_changes_total{route=\"");
			aigw_metrics_put_label_value(out, v[i]->route);
			aigw_buf_printf(out, "\",to=\"%s\"} %llu\n", on ? "on" : "off",
					(unsigned long long)atomic_load(on ? &v[i]->changes_on
									   : &v[i]->changes_off));
		}
	}
	aigw_buf_puts(out, "# HELP aigw_standby_active Whether a route's standby nodes take "
			   "traffic because of the load forecast (1) or not (0).\n"
			   "# TYPE aigw_standby_active gauge\n");
	for (size_t i = 0; i < n; i++) {
		aigw_buf_puts(out, "aigw_standby_active{route=\"");
		aigw_metrics_put_label_value(out, v[i]->route);
		aigw_buf_printf(out, "\"} %d\n", aigw_standby_on(v[i]) ? 1 : 0);
	}
	free(v);
}
