/* health: see health.h. */
#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "curl_dl.h"
#include "log.h"
#include "mem.h"
#include "rand.h"
#include "str.h"

#define PROBE_STALE_MS 30000
#define CHECK_IDLE_WAIT_MS 60000 /* no check due: look again at least this often */

/* --------------------------------------------------------------- state */

enum { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

/* One node. name and url are fixed once made; the breaker fields change
 * under lock (read without it), the check fields under aigw_health.lock. */
struct hnode {
	struct hnode *next_all;    /* every node ever made */
	char *name, *url;
	int provider;
	atomic_bool live;          /* in the latest sync */
	pthread_mutex_t lock;
	/* breaker */
	atomic_int breaker;
	atomic_uint failures;      /* consecutive, closed */
	_Atomic uint64_t open_until;
	_Atomic uint64_t open_ms;  /* the last open time */
	unsigned probes;           /* in flight (lock) */
	uint64_t probe_at;         /* last probe allowed (lock) */
	/* outlier ejection (aigw_health.eject_lock for the decision) */
	atomic_uint outlier_failures;
	atomic_uint ejections;
	_Atomic uint64_t ejected_until;
	_Atomic uint64_t recovered;  /* breaker closed or checks passed */
	_Atomic uint64_t rest_until; /* a 429's Retry-After (aigw_health_rest) */
	/* traffic, over every worker */
	_Atomic int64_t in_flight;
	_Atomic uint64_t picks;
	_Atomic double latency_us; /* EWMA of answered requests (aigw_health_latency) */
	atomic_bool latency_measured;
	/* active checks */
	atomic_bool down;
	struct aigw_health_check_conf check;
	uint64_t next_check;
	bool checked, check_ok;
	int check_status;
	uint64_t checked_at;
	unsigned check_passes, check_fails;
	char check_error[AIGW_HEALTH_CHECK_ERROR_MAX];
};

/* What allow reads: published whole, never changed, kept until the end. */
struct table {
	struct table *older;
	size_t n;
	struct hnode **nodes; /* sorted by name */
};

struct aigw_health {
	struct aigw_health_conf conf;
	_Atomic(struct table *) table;
	struct hnode *all;          /* under lock */
	pthread_mutex_t lock;
	pthread_mutex_t eject_lock;
	pthread_cond_t wake;
	bool stop;
	pthread_t thread;
};

void aigw_health_conf_init(struct aigw_health_conf *c)
{
	c->breaker_failures = 5;
	c->open_base_ms = 5000;
	c->open_max_ms = 60000;
	c->half_open_probes = 1;
	c->outlier_failures = 5;
	c->eject_base_ms = 30000;
	c->eject_max_ms = 300000;
	c->max_eject_percent = 50;
}

void aigw_health_check_conf_init(struct aigw_health_check_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->enabled = false;
	c->interval_ms = 10000;
	c->timeout_ms = 2000;
	c->healthy_threshold = 2;
	c->unhealthy_threshold = 3;
}

const char *aigw_health_state_name(enum aigw_health_state s)
{
	switch (s) {
	case AIGW_HEALTH_CLOSED: return "closed";
	case AIGW_HEALTH_OPEN: return "open";
	case AIGW_HEALTH_HALF_OPEN: return "half-open";
	case AIGW_HEALTH_EJECTED: return "ejected";
	case AIGW_HEALTH_DOWN: return "down";
	}
	return "unknown";
}

static void hnode_free(struct hnode *n)
{
	pthread_mutex_destroy(&n->lock);
	free(n->name);
	free(n->url);
	free(n);
}

static void table_free(struct table *t)
{
	free(t->nodes);
	free(t);
}

static int hnode_cmp(const void *a, const void *b)
{
	return strcmp((*(struct hnode *const *)a)->name, (*(struct hnode *const *)b)->name);
}

static int name_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(struct hnode *const *)elem)->name);
}

static struct hnode *find(struct aigw_health *h, const char *name)
{
	struct table *t = atomic_load_explicit(&h->table, memory_order_acquire);
	struct hnode **found;

	if (!t || !name)
		return NULL;
	found = bsearch(name, t->nodes, t->n, sizeof(*t->nodes), name_cmp);
	return found ? *found : NULL;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ----------------------------------------------------------- lifecycle */

static void *check_main(void *arg);

struct aigw_health *aigw_health_new(const struct aigw_health_conf *conf, struct aigw_err *err)
{
	struct aigw_health *h;
	struct aigw_health_conf c;

	aigw_health_conf_init(&c);
	if (conf) {
		if (conf->breaker_failures)
			c.breaker_failures = conf->breaker_failures;
		if (conf->open_base_ms)
			c.open_base_ms = conf->open_base_ms;
		if (conf->open_max_ms)
			c.open_max_ms = conf->open_max_ms;
		if (conf->half_open_probes)
			c.half_open_probes = conf->half_open_probes;
		if (conf->outlier_failures)
			c.outlier_failures = conf->outlier_failures;
		if (conf->eject_base_ms)
			c.eject_base_ms = conf->eject_base_ms;
		if (conf->eject_max_ms)
			c.eject_max_ms = conf->eject_max_ms;
		if (conf->max_eject_percent)
			c.max_eject_percent = conf->max_eject_percent;
	}
	if (c.max_eject_percent > 100) {
		aigw_err_set(err, AIGW_EINVAL, "max_eject_percent %u is over 100",
			     c.max_eject_percent);
		return NULL;
	}
	if (c.open_max_ms < c.open_base_ms)
		c.open_max_ms = c.open_base_ms;
	if (c.eject_max_ms < c.eject_base_ms)
		c.eject_max_ms = c.eject_base_ms;
	h = aigw_calloc(1, sizeof(*h));
	h->conf = c;
	atomic_init(&h->table, NULL);
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->eject_lock, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&h->wake, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (pthread_create(&h->thread, NULL, check_main, h) != 0) {
		aigw_err_set(err, AIGW_EFAIL, "cannot start the health check thread: %s",
			     strerror(errno));
		pthread_cond_destroy(&h->wake);
		pthread_mutex_destroy(&h->eject_lock);
		pthread_mutex_destroy(&h->lock);
		free(h);
		return NULL;
	}
	return h;
}

void aigw_health_free(struct aigw_health *h)
{
	struct table *t;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	pthread_cond_broadcast(&h->wake);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	t = atomic_load(&h->table);
	while (t) {
		struct table *older = t->older;
		table_free(t);
		t = older;
	}
	while (h->all) {
		struct hnode *next = h->all->next_all;
		hnode_free(h->all);
		h->all = next;
	}
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->eject_lock);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* ---------------------------------------------------------------- sync */

static int check_conf_valid(const struct aigw_health_check_conf *c, const char *node,
			    struct aigw_err *err)
{
	if (!c->enabled)
		return 0;
	if (c->interval_ms == 0 || c->timeout_ms == 0)
		return aigw_err_set(err, AIGW_EINVAL,
				    "node \"%s\": health check interval and timeout must be positive",
				    node);
	if (c->healthy_threshold == 0 || c->unhealthy_threshold == 0)
		return aigw_err_set(err, AIGW_EINVAL,
				    "node \"%s\": health check thresholds must be positive", node);
	if (memchr(c->path, '\0', sizeof(c->path)) == NULL)
		return aigw_err_set(err, AIGW_EINVAL, "node \"%s\": health check path too long",
				    node);
	if (c->path[0] && c->path[0] != '/')
		return aigw_err_set(err, AIGW_EINVAL,
				    "node \"%s\": health check path \"%s\" must start with '/'",
				    node, c->path);
	for (const char *p = c->path; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return aigw_err_set(err, AIGW_EINVAL,
					    "node \"%s\": health check path has a space or control character",
					    node);
	return 0;
}

static bool same_table(const struct table *x, const struct table *y)
{
	if (x->n != y->n)
		return false;
	for (size_t i = 0; i < x->n; i++)
		if (x->nodes[i] != y->nodes[i])
			return false;
	return true;
}

/* A live node of that name and URL; under lock. */
static struct hnode *reusable(struct aigw_health *h, const char *name, const char *url)
{
	for (struct hnode *n = h->all; n; n = n->next_all)
		if (atomic_load(&n->live) && strcmp(n->name, name) == 0 &&
		    strcmp(n->url, url) == 0)
			return n;
	return NULL;
}

static struct hnode *hnode_new(const struct aigw_node *src)
{
	struct hnode *n = aigw_calloc(1, sizeof(*n));

	n->name = aigw_strdup(src->name);
	n->url = aigw_strdup(src->url);
	n->provider = src->provider;
	atomic_init(&n->live, true);
	pthread_mutex_init(&n->lock, NULL);
	atomic_init(&n->breaker, BREAKER_CLOSED);
	atomic_init(&n->failures, 0);
	atomic_init(&n->open_until, 0);
	atomic_init(&n->open_ms, 0);
	atomic_init(&n->outlier_failures, 0);
	atomic_init(&n->ejections, 0);
	atomic_init(&n->ejected_until, 0);
	atomic_init(&n->recovered, 0);
	atomic_init(&n->in_flight, 0);
	atomic_init(&n->picks, 0);
	atomic_init(&n->down, false);
	aigw_health_check_conf_init(&n->check);
	return n;
}

/* A new check conf for n; under lock. Counts start again when what is
 * checked changes; a node that stops being checked is no longer down. */
static void set_check(struct hnode *n, const struct aigw_health_check_conf *c)
{
	bool restart = c->enabled != n->check.enabled || strcmp(c->path, n->check.path) != 0;

	n->check = *c;
	if (restart) {
		n->check_passes = n->check_fails = 0;
		n->next_check = 0;
		if (!c->enabled && atomic_load(&n->down)) {
			atomic_store(&n->down, false);
			atomic_store(&n->recovered, aigw_clock_mono_ms());
		}
	}
}

int aigw_health_sync(struct aigw_health *h, const struct aigw_node *nodes, size_t n,
		     const struct aigw_health_check_conf *checks, struct aigw_err *err)
{
	struct table *t;
	struct aigw_health_check_conf off;

	aigw_health_check_conf_init(&off);
	for (size_t i = 0; i < n; i++) {
		if (!nodes[i].name || !nodes[i].url)
			return aigw_err_set(err, AIGW_EINVAL, "node %zu has no name or url", i);
		if (checks && check_conf_valid(&checks[i], nodes[i].name, err) < 0)
			return AIGW_EINVAL;
	}
	t = aigw_calloc(1, sizeof(*t));
	t->nodes = aigw_calloc(n ? n : 1, sizeof(*t->nodes));
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < n; i++) {
		struct hnode *e = reusable(h, nodes[i].name, nodes[i].url);
		bool dup = false;

		for (size_t k = 0; k < t->n && !dup; k++)
			dup = strcmp(t->nodes[k]->name, nodes[i].name) == 0;
		if (dup)
			continue; /* names are unique in a snapshot; keep the first */
		if (!e) {
			e = hnode_new(&nodes[i]);
			e->next_all = h->all;
			h->all = e;
		}
		set_check(e, checks ? &checks[i] : &off);
		t->nodes[t->n++] = e;
	}
	/* The rest is gone (its memory stays: a caller may hold an older
	 * table). */
	for (struct hnode *e = h->all; e; e = e->next_all) {
		bool kept = false;
		for (size_t k = 0; k < t->n && !kept; k++)
			kept = t->nodes[k] == e;
		atomic_store(&e->live, kept);
	}
	qsort(t->nodes, t->n, sizeof(*t->nodes), hnode_cmp);
	t->older = atomic_load(&h->table);
	if (t->older && same_table(t, t->older)) {
		t->older = NULL;
		table_free(t);
	} else {
		atomic_store_explicit(&h->table, t, memory_order_release);
	}
	pthread_cond_broadcast(&h->wake);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/* ------------------------------------------------------ allow, record */

bool aigw_health_allow(struct aigw_health *h, const char *node, uint64_t now_ms, bool *probe)
{
	struct hnode *n = find(h, node);
	bool ok = false;

	if (probe)
		*probe = false;
	if (!n)
		return true;
	if (atomic_load_explicit(&n->down, memory_order_relaxed))
		return false;
	if (atomic_load_explicit(&n->ejected_until, memory_order_relaxed) > now_ms)
		return false;
	switch (atomic_load_explicit(&n->breaker, memory_order_acquire)) {
	case BREAKER_CLOSED:
		return true;
	case BREAKER_OPEN:
		if (atomic_load_explicit(&n->open_until, memory_order_relaxed) > now_ms)
			return false;
		break;
	default:
		break;
	}
	pthread_mutex_lock(&n->lock);
	switch (atomic_load(&n->breaker)) {
	case BREAKER_CLOSED:
		ok = true;
		break;
	case BREAKER_OPEN:
		if (atomic_load(&n->open_until) > now_ms)
			break;
		atomic_store(&n->breaker, BREAKER_HALF_OPEN);
		n->probes = 0;
		/* fall through */
	case BREAKER_HALF_OPEN:
		if (n->probes > 0 && now_ms >= n->probe_at + PROBE_STALE_MS)
			n->probes = 0; /* abandoned probes */
		if (n->probes < h->conf.half_open_probes) {
			n->probes++;
			n->probe_at = now_ms;
			ok = true;
			if (probe)
				*probe = true;
		}
		break;
	}
	pthread_mutex_unlock(&n->lock);
	return ok;
}

/* Ejects n unless the pool has its share ejected already. */
static void maybe_eject(struct aigw_health *h, struct hnode *n, const char *const *pool,
			size_t n_pool, uint64_t now_ms)
{
	const struct aigw_health_conf *c = &h->conf;

	pthread_mutex_lock(&h->eject_lock);
	if (pool && n_pool > 0) {
		size_t max = n_pool * c->max_eject_percent / 100, ejected = 0;
		if (max == 0 && n_pool >= 2 && c->max_eject_percent > 0)
			max = 1;
		for (size_t i = 0; i < n_pool; i++) {
			struct hnode *m = find(h, pool[i]);
			if (m && m != n && atomic_load(&m->ejected_until) > now_ms)
				ejected++;
		}
		if (ejected >= max) {
			pthread_mutex_unlock(&h->eject_lock);
			return;
		}
	}
	if (atomic_load(&n->ejected_until) <= now_ms) {
		uint64_t last = atomic_load(&n->ejected_until);
		unsigned count;
		uint64_t ms;

		/* A node that kept clear of ejection for a while starts over. */
		if (last && now_ms >= last + c->eject_max_ms)
			atomic_store(&n->ejections, 0);
		count = atomic_fetch_add(&n->ejections, 1) + 1;
		ms = count > c->eject_max_ms / c->eject_base_ms ? c->eject_max_ms
								 : c->eject_base_ms * count;
		atomic_store(&n->ejected_until, now_ms + min_u64(ms, c->eject_max_ms));
		atomic_store(&n->outlier_failures, 0);
		aigw_log_warn("node %s: ejected for %llu ms (ejection %u)", n->name,
			      (unsigned long long)min_u64(ms, c->eject_max_ms), count);
	}
	pthread_mutex_unlock(&h->eject_lock);
}

static void breaker_success(struct aigw_health *h, struct hnode *n, uint64_t now_ms)
{
	(void)h;
	if (atomic_load_explicit(&n->breaker, memory_order_acquire) != BREAKER_CLOSED) {
		pthread_mutex_lock(&n->lock);
		if (atomic_load(&n->breaker) == BREAKER_HALF_OPEN) {
			atomic_store(&n->breaker, BREAKER_CLOSED);
			atomic_store(&n->open_ms, 0);
			atomic_store(&n->recovered, now_ms);
			n->probes = 0;
			aigw_log_info("node %s: circuit closed (a probe succeeded)", n->name);
		}
		pthread_mutex_unlock(&n->lock);
	}
	if (atomic_load_explicit(&n->failures, memory_order_relaxed) != 0)
		atomic_store_explicit(&n->failures, 0, memory_order_relaxed);
}

static void open_breaker(struct aigw_health *h, struct hnode *n, uint64_t now_ms, uint64_t ms)
{
	(void)h;
	aigw_log_warn("node %s: circuit open for %llu ms", n->name, (unsigned long long)ms);
	atomic_store(&n->open_ms, ms);
	atomic_store(&n->open_until, now_ms + ms);
	atomic_store(&n->failures, 0);
	n->probes = 0;
	atomic_store_explicit(&n->breaker, BREAKER_OPEN, memory_order_release);
}

static void breaker_failure(struct aigw_health *h, struct hnode *n, uint64_t now_ms)
{
	const struct aigw_health_conf *c = &h->conf;
	int state = atomic_load_explicit(&n->breaker, memory_order_acquire);

	if (state == BREAKER_HALF_OPEN) {
		pthread_mutex_lock(&n->lock);
		if (atomic_load(&n->breaker) == BREAKER_HALF_OPEN) {
			uint64_t last = atomic_load(&n->open_ms);
			uint64_t ms = last ? (last > c->open_max_ms / 2 ? c->open_max_ms : last * 2)
					   : c->open_base_ms;
			open_breaker(h, n, now_ms, min_u64(ms, c->open_max_ms));
		}
		pthread_mutex_unlock(&n->lock);
	} else if (state == BREAKER_CLOSED) {
		unsigned count = atomic_fetch_add_explicit(&n->failures, 1, memory_order_relaxed) + 1;
		if (count >= c->breaker_failures) {
			pthread_mutex_lock(&n->lock);
			if (atomic_load(&n->breaker) == BREAKER_CLOSED &&
			    atomic_load(&n->failures) >= c->breaker_failures)
				open_breaker(h, n, now_ms, c->open_base_ms);
			pthread_mutex_unlock(&n->lock);
		}
	}
	/* Open: answers of requests let through before it opened. */
}

void aigw_health_record(struct aigw_health *h, const char *node, const char *const *pool,
			size_t n_pool, uint64_t now_ms, enum aigw_health_outcome outcome)
{
	struct hnode *n = find(h, node);

	if (!n)
		return;
	switch (outcome) {
	case AIGW_HEALTH_OK:
		breaker_success(h, n, now_ms);
		if (atomic_load_explicit(&n->outlier_failures, memory_order_relaxed) != 0)
			atomic_store_explicit(&n->outlier_failures, 0, memory_order_relaxed);
		break;
	case AIGW_HEALTH_FAIL_CONNECT:
	case AIGW_HEALTH_FAIL_5XX:
	case AIGW_HEALTH_FAIL_TIMEOUT:
		breaker_failure(h, n, now_ms);
		if (atomic_load(&n->ejected_until) <= now_ms &&
		    atomic_fetch_add(&n->outlier_failures, 1) + 1 >= h->conf.outlier_failures)
			maybe_eject(h, n, pool, n_pool, now_ms);
		break;
	case AIGW_HEALTH_RATE_LIMITED:
	default:
		break;
	}
}

void aigw_health_begin(struct aigw_health *h, const char *node)
{
	struct hnode *n = find(h, node);

	if (!n)
		return;
	atomic_fetch_add_explicit(&n->in_flight, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&n->picks, 1, memory_order_relaxed);
}

void aigw_health_end(struct aigw_health *h, const char *node)
{
	struct hnode *n = find(h, node);

	if (n)
		atomic_fetch_sub_explicit(&n->in_flight, 1, memory_order_relaxed);
}

void aigw_health_latency(struct aigw_health *h, const char *node, uint64_t latency_us)
{
	struct hnode *n = find(h, node);
	double v;

	if (!n)
		return;
	/* relaxed load and store, no lock on the answer's path: two workers
	 * racing may lose one sample, which this estimate can afford */
	v = (double)latency_us;
	if (atomic_load_explicit(&n->latency_measured, memory_order_relaxed)) {
		double old = atomic_load_explicit(&n->latency_us, memory_order_relaxed);
		v = old + AIGW_HEALTH_LATENCY_ALPHA * (v - old);
	}
	atomic_store_explicit(&n->latency_us, v, memory_order_relaxed);
	atomic_store_explicit(&n->latency_measured, true, memory_order_release);
}

int64_t aigw_health_in_flight(struct aigw_health *h, const char *node)
{
	struct hnode *n = find(h, node);
	int64_t v = n ? atomic_load_explicit(&n->in_flight, memory_order_relaxed) : 0;

	return v > 0 ? v : 0;
}

void aigw_health_rest(struct aigw_health *h, const char *node, uint64_t until_ms)
{
	struct hnode *n = find(h, node);
	uint64_t old;

	if (!n)
		return;
	old = atomic_load_explicit(&n->rest_until, memory_order_relaxed);
	while (old < until_ms &&
	       !atomic_compare_exchange_weak_explicit(&n->rest_until, &old, until_ms,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

uint64_t aigw_health_resting_ms(struct aigw_health *h, const char *node, uint64_t now_ms)
{
	struct hnode *n = find(h, node);
	uint64_t until;

	if (!n)
		return 0;
	until = atomic_load_explicit(&n->rest_until, memory_order_relaxed);
	return until > now_ms ? until - now_ms : 0;
}

uint64_t aigw_health_since_ms(struct aigw_health *h, const char *node)
{
	struct hnode *n = find(h, node);
	uint64_t a, b;

	if (!n)
		return 0;
	a = atomic_load(&n->recovered);
	b = atomic_load(&n->ejected_until);
	return a > b ? a : b;
}

int aigw_health_status(struct aigw_health *h, const char *node, uint64_t now_ms,
		       struct aigw_health_status *out)
{
	struct hnode *n = find(h, node);
	int breaker;

	memset(out, 0, sizeof(*out));
	if (!n)
		return AIGW_ENOTFOUND;
	pthread_mutex_lock(&n->lock);
	breaker = atomic_load(&n->breaker);
	out->consecutive_failures = atomic_load(&n->failures);
	out->ejections = atomic_load(&n->ejections);
	if (atomic_load(&n->down))
		out->state = AIGW_HEALTH_DOWN;
	else if (atomic_load(&n->ejected_until) > now_ms)
		out->state = AIGW_HEALTH_EJECTED;
	else if (breaker == BREAKER_OPEN && atomic_load(&n->open_until) <= now_ms)
		out->state = AIGW_HEALTH_HALF_OPEN; /* the next allow makes it so */
	else
		out->state = breaker == BREAKER_OPEN	  ? AIGW_HEALTH_OPEN
			     : breaker == BREAKER_HALF_OPEN ? AIGW_HEALTH_HALF_OPEN
							    : AIGW_HEALTH_CLOSED;
	if (atomic_load(&n->ejected_until) > now_ms)
		out->retry_at_ms = atomic_load(&n->ejected_until);
	if (breaker == BREAKER_OPEN && atomic_load(&n->open_until) > out->retry_at_ms)
		out->retry_at_ms = atomic_load(&n->open_until);
	pthread_mutex_unlock(&n->lock);
	out->latency_measured = atomic_load_explicit(&n->latency_measured, memory_order_acquire);
	out->latency_us = out->latency_measured ? (uint64_t)(atomic_load(&n->latency_us) + 0.5) : 0;
	out->since_ms = aigw_health_since_ms(h, node);
	out->in_flight = aigw_health_in_flight(h, node);
	out->picks = atomic_load_explicit(&n->picks, memory_order_relaxed);
	pthread_mutex_lock(&h->lock);
	out->checks = n->check.enabled;
	out->checked = n->checked;
	out->check_ok = n->check_ok;
	out->check_status = n->check_status;
	out->checked_at_ms = n->checked_at;
	out->check_passes = n->check_passes;
	out->check_fails = n->check_fails;
	aigw_strlcpy(out->check_error, n->check_error, sizeof(out->check_error));
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/* -------------------------------------------------------------- checks */

struct check_result {
	int status; /* 0: no answer */
	char error[AIGW_HEALTH_CHECK_ERROR_MAX];
};

/* Error text may be cut short: it is for people. */
static void check_error(struct check_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void check_error(struct check_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

static const char *default_path(int provider)
{
	switch (provider) {
	case AIGW_PROVIDER_OPENAI:
	case AIGW_PROVIDER_OPENAI_COMPATIBLE:
	case AIGW_PROVIDER_AZURE:
		return "/v1/models";
	case AIGW_PROVIDER_OLLAMA:
		return "/api/tags";
	default:
		return "/";
	}
}

/* Splits "http://host:port/..." into host, port and whether it is https;
 * IPv6 literals in brackets. -1 when the URL is not http(s). */
static int split_url(const char *url, char *host, size_t host_size, char *port,
		     size_t port_size, bool *https, size_t *origin_len)
{
	const char *p, *end, *colon = NULL;
	size_t len;

	if (strncasecmp(url, "http://", 7) == 0) {
		*https = false;
		p = url + 7;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		*https = true;
		p = url + 8;
	} else {
		return -1;
	}
	end = p + strcspn(p, "/?#");
	*origin_len = (size_t)(end - url);
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));
		if (!close)
			return -1;
		len = (size_t)(close - p - 1);
		if (len == 0 || len >= host_size)
			return -1;
		memcpy(host, p + 1, len);
		host[len] = '\0';
		colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		len = (size_t)((colon ? colon : end) - p);
		if (len == 0 || len >= host_size)
			return -1;
		memcpy(host, p, len);
		host[len] = '\0';
	}
	if (colon) {
		len = (size_t)(end - colon - 1);
		if (len == 0 || len >= port_size)
			return -1;
		memcpy(port, colon + 1, len);
		port[len] = '\0';
	} else {
		aigw_strlcpy(port, *https ? "443" : "80", port_size);
	}
	return 0;
}

static int remaining(uint64_t deadline)
{
	uint64_t now = aigw_clock_mono_ms();
	return now >= deadline ? 0 : (int)min_u64(deadline - now, 60000);
}

/* Waits for fd to be ready for events until deadline; 0 or -1. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int ms = remaining(deadline);
		int r;

		if (ms == 0)
			return -1;
		r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r == 0 || errno != EINTR)
			return -1;
	}
}

/* A GET over plain HTTP/1.1 that waits for the status line only. */
static void check_http(const char *host, const char *port, const char *path,
		       uint64_t timeout_ms, struct check_result *r)
{
	uint64_t deadline = aigw_clock_mono_ms() + timeout_ms;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char req[AIGW_HEALTH_PATH_MAX + 512];
	char answer[256];
	size_t got = 0, sent = 0, len;
	int fd = -1, rc;
	bool ipv6 = strchr(host, ':') != NULL;

	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0 || !ai) {
		check_error(r, "cannot resolve \"%s\": %s", host,
			 gai_strerror(rc));
		return;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		check_error(r, "socket: %s", strerror(errno));
		goto out;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (errno != EINPROGRESS) {
			check_error(r, "connect: %s", strerror(errno));
			goto out;
		}
		if (wait_fd(fd, POLLOUT, deadline) < 0) {
			check_error(r, "connect timed out");
			goto out;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
			check_error(r, "connect: %s", strerror(soerr));
			goto out;
		}
	}
	len = (size_t)snprintf(req, sizeof(req),
			       "GET %s HTTP/1.1\r\nHost: %s%s%s%s%s\r\nUser-Agent: aigw-health\r\n"
			       "Accept: */*\r\nConnection: close\r\n\r\n",
			       path, ipv6 ? "[" : "", host, ipv6 ? "]" : "", ":", port);
	if (len >= sizeof(req)) {
		check_error(r, "request too long");
		goto out;
	}
	while (sent < len) {
		ssize_t w = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) < 0) {
				check_error(r, "send timed out");
				goto out;
			}
		} else {
			check_error(r, "send: %s", strerror(errno));
			goto out;
		}
	}
	while (got < sizeof(answer) - 1 && !memchr(answer, '\n', got)) {
		ssize_t n = recv(fd, answer + got, sizeof(answer) - 1 - got, 0);
		if (n > 0) {
			got += (size_t)n;
		} else if (n == 0) {
			break;
		} else if (errno == EAGAIN || errno == EINTR) {
			if (wait_fd(fd, POLLIN, deadline) < 0) {
				check_error(r, "no answer within %llu ms",
					 (unsigned long long)timeout_ms);
				goto out;
			}
		} else {
			check_error(r, "recv: %s", strerror(errno));
			goto out;
		}
	}
	answer[got] = '\0';
	if (strncmp(answer, "HTTP/1.", 7) != 0 || got < 12 || answer[8] != ' ' ||
	    answer[9] < '1' || answer[9] > '5' || answer[10] < '0' || answer[10] > '9' ||
	    answer[11] < '0' || answer[11] > '9') {
		check_error(r, "%s", got ? "bad status line" : "connection closed");
		goto out;
	}
	r->status = (answer[9] - '0') * 100 + (answer[10] - '0') * 10 + (answer[11] - '0');
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
}

static size_t discard(char *data, size_t size, size_t n, void *ctx)
{
	(void)data;
	(void)ctx;
	return size * n;
}

static void check_https(const char *url, uint64_t timeout_ms, struct check_result *r)
{
	struct aigw_err err = { 0 };
	CURL *e;
	CURLcode rc;
	long status = 0;

	if (aigw_curl_load(&err) < 0) {
		check_error(r, "%s", err.msg);
		return;
	}
	e = curl_easy_init();
	if (!e) {
		check_error(r, "curl_easy_init failed");
		return;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "aigw-health");
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)(1024 * 1024));
	rc = curl_easy_perform(e);
	if (rc != CURLE_OK) {
		check_error(r, "%s", curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		r->status = (int)status;
	}
	curl_easy_cleanup(e);
}

static void run_check(const char *node_url, const char *path, uint64_t timeout_ms,
		      struct check_result *r)
{
	char host[256], port[16], url[2048];
	size_t origin_len;
	bool https;

	memset(r, 0, sizeof(*r));
	if (split_url(node_url, host, sizeof(host), port, sizeof(port), &https, &origin_len) < 0) {
		check_error(r, "url is not http(s)");
		return;
	}
	if (!https) {
		check_http(host, port, path, timeout_ms, r);
		return;
	}
	if (origin_len + strlen(path) >= sizeof(url)) {
		check_error(r, "url too long");
		return;
	}
	memcpy(url, node_url, origin_len);
	aigw_strlcpy(url + origin_len, path, sizeof(url) - origin_len);
	check_https(url, timeout_ms, r);
}

/* Applies a check's result to n; under lock. */
static void apply_check(struct hnode *n, const struct check_result *r, uint64_t now)
{
	bool ok = r->status >= 100 && r->status < 500;

	n->checked = true;
	n->check_ok = ok;
	n->check_status = r->status;
	n->checked_at = now;
	if (ok)
		snprintf(n->check_error, sizeof(n->check_error), "%s", "");
	else if (r->error[0])
		snprintf(n->check_error, sizeof(n->check_error), "%s", r->error);
	else
		snprintf(n->check_error, sizeof(n->check_error), "status %d", r->status);
	if (ok) {
		n->check_fails = 0;
		if (n->check_passes < UINT32_MAX)
			n->check_passes++;
		if (atomic_load(&n->down) && n->check_passes >= n->check.healthy_threshold) {
			atomic_store(&n->down, false);
			atomic_store(&n->recovered, now);
			aigw_log_info("node %s: up again after %u checks passed", n->name,
				      n->check_passes);
		}
	} else {
		n->check_passes = 0;
		if (n->check_fails < UINT32_MAX)
			n->check_fails++;
		if (n->check_fails >= n->check.unhealthy_threshold && !atomic_load(&n->down)) {
			atomic_store(&n->down, true);
			aigw_log_warn("node %s: down after %u failed checks (%s)", n->name,
				      n->check_fails, n->check_error);
		}
	}
}

static void *check_main(void *arg)
{
	struct aigw_health *h = arg;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		uint64_t now = aigw_clock_mono_ms(), next = now + CHECK_IDLE_WAIT_MS;
		struct hnode *due = NULL;

		for (struct hnode *n = h->all; n; n = n->next_all) {
			if (!atomic_load(&n->live) || !n->check.enabled)
				continue;
			if (n->next_check <= now) {
				if (!due || n->next_check < due->next_check)
					due = n;
			} else if (n->next_check < next) {
				next = n->next_check;
			}
		}
		if (due) {
			char *url = aigw_strdup(due->url);
			char path[AIGW_HEALTH_PATH_MAX];
			uint64_t timeout = due->check.timeout_ms;
			struct check_result r;

			aigw_strlcpy(path, due->check.path[0] ? due->check.path
							       : default_path(due->provider),
				     sizeof(path));
			due->next_check = now + due->check.interval_ms;
			pthread_mutex_unlock(&h->lock);
			run_check(url, path, timeout, &r);
			free(url);
			pthread_mutex_lock(&h->lock);
			/* The conf may have changed meanwhile: then the
			 * result is of the old one. */
			if (atomic_load(&due->live) && due->check.enabled &&
			    strcmp(path, due->check.path[0] ? due->check.path
							     : default_path(due->provider)) == 0)
				apply_check(due, &r, aigw_clock_mono_ms());
			continue;
		}
		{
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t wait = next - now;
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&h->wake, &h->lock, &ts);
		}
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* -------------------------------------------------------- retry budget */

void aigw_retry_budget_init(struct aigw_retry_budget *b, double ratio, double cap,
			    double min_per_s, uint64_t now_ms)
{
	pthread_mutex_init(&b->lock, NULL);
	b->ratio = ratio >= 0 && ratio <= 1 ? ratio : AIGW_RETRY_RATIO_DEFAULT;
	b->cap = cap >= 0 && isfinite(cap) ? cap : AIGW_RETRY_CAP_DEFAULT;
	b->min_per_s = min_per_s >= 0 && isfinite(min_per_s) ? min_per_s
							     : AIGW_RETRY_MIN_PER_S_DEFAULT;
	b->tokens = 0;
	b->floor_tokens = b->min_per_s * AIGW_RETRY_FLOOR_WINDOW_S;
	b->floor_at_ms = now_ms;
}

void aigw_retry_budget_release(struct aigw_retry_budget *b)
{
	pthread_mutex_destroy(&b->lock);
}

void aigw_retry_budget_deposit(struct aigw_retry_budget *b)
{
	pthread_mutex_lock(&b->lock);
	b->tokens += b->ratio;
	if (b->tokens > b->cap)
		b->tokens = b->cap;
	pthread_mutex_unlock(&b->lock);
}

bool aigw_retry_budget_withdraw(struct aigw_retry_budget *b, uint64_t now_ms)
{
	bool ok = false;

	pthread_mutex_lock(&b->lock);
	if (now_ms > b->floor_at_ms) {
		b->floor_tokens += (double)(now_ms - b->floor_at_ms) * b->min_per_s / 1000.0;
		if (b->floor_tokens > b->min_per_s * AIGW_RETRY_FLOOR_WINDOW_S)
			b->floor_tokens = b->min_per_s * AIGW_RETRY_FLOOR_WINDOW_S;
		b->floor_at_ms = now_ms;
	}
	/* A small epsilon: 0.2 added five times is not quite 1.0. */
	if (b->tokens >= 1.0 - 1e-9) {
		b->tokens -= 1.0;
		if (b->tokens < 0)
			b->tokens = 0;
		ok = true;
	} else if (b->floor_tokens >= 1.0 - 1e-9) {
		b->floor_tokens -= 1.0;
		if (b->floor_tokens < 0)
			b->floor_tokens = 0;
		ok = true;
	}
	pthread_mutex_unlock(&b->lock);
	return ok;
}

/* ------------------------------------------------------------- backoff */

uint64_t aigw_backoff_ms(int attempt, uint64_t base_ms, uint64_t cap_ms, uint64_t *rng)
{
	uint64_t limit = base_ms;

	if (attempt < 0)
		attempt = 0;
	for (int i = 0; i < attempt && limit < cap_ms; i++)
		limit = limit > UINT64_MAX / 2 ? UINT64_MAX : limit * 2;
	limit = min_u64(limit, cap_ms);
	if (limit == UINT64_MAX)
		return aigw_rand_xorshift64(rng);
	return aigw_rand_xorshift64(rng) % (limit + 1);
}
