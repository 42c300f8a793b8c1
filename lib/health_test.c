/* Tests for health: the breaker, outlier ejection and its share of a pool,
 * recovery times, reloads, the retry budget and backoff (deterministic
 * clock), active checks against a server thread on 127.0.0.1, and a
 * multi-threaded smoke test. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "health.h"
#include "mem.h"
#include "rand.h"

/* ------------------------------------------------------------- helpers */

static void make_node(struct aigw_node *n, const char *name, const char *url)
{
	aigw_node_init(n);
	n->name = aigw_strdup(name);
	n->url = aigw_strdup(url);
}

/* A module over nodes a, b, c (http://127.0.0.1:1) with conf. */
static struct aigw_health *three(const struct aigw_health_conf *conf)
{
	struct aigw_node nodes[3];
	struct aigw_err err = { 0 };
	struct aigw_health *h = aigw_health_new(conf, &err);

	assert_non_null(h);
	make_node(&nodes[0], "a", "http://127.0.0.1:1");
	make_node(&nodes[1], "b", "http://127.0.0.1:1");
	make_node(&nodes[2], "c", "http://127.0.0.1:1");
	assert_int_equal(aigw_health_sync(h, nodes, 3, NULL, &err), 0);
	for (int i = 0; i < 3; i++)
		aigw_node_release(&nodes[i]);
	return h;
}

/* Breaker tests: outlier ejection out of the way. */
static struct aigw_health_conf breaker_only(void)
{
	struct aigw_health_conf c;
	aigw_health_conf_init(&c);
	c.outlier_failures = 1000000;
	c.breaker_failures = 5;
	c.open_base_ms = 1000;
	c.open_max_ms = 8000;
	return c;
}

static enum aigw_health_state state_of(struct aigw_health *h, const char *node, uint64_t now)
{
	struct aigw_health_status st;
	assert_int_equal(aigw_health_status(h, node, now, &st), 0);
	return st.state;
}

static void fail_n(struct aigw_health *h, const char *node, int times, uint64_t now)
{
	for (int i = 0; i < times; i++)
		aigw_health_record(h, node, NULL, 0, now, AIGW_HEALTH_FAIL_5XX);
}

/* In flight and picks count over every caller; unknown nodes are no-ops. */
static void test_in_flight_and_picks(void **state)
{
	struct aigw_health *h = three(NULL);
	struct aigw_health_status st;
	(void)state;

	aigw_health_begin(h, "a");
	aigw_health_begin(h, "a");
	aigw_health_begin(h, "b");
	aigw_health_end(h, "a");
	aigw_health_begin(h, "nope");
	aigw_health_end(h, "nope");
	assert_int_equal(aigw_health_in_flight(h, "a"), 1);
	assert_int_equal(aigw_health_in_flight(h, "b"), 1);
	assert_int_equal(aigw_health_in_flight(h, "c"), 0);
	assert_int_equal(aigw_health_in_flight(h, "nope"), 0);
	assert_int_equal(aigw_health_status(h, "a", 0, &st), 0);
	assert_int_equal(st.in_flight, 1);
	assert_int_equal(st.picks, 2);
	aigw_health_free(h);
}

/* The latency estimate: none until a sample, then the first sample, then
 * a fifth of the way toward each next one; unknown nodes are no-ops. */
static void test_latency_ewma(void **state)
{
	struct aigw_health *h = three(NULL);
	struct aigw_health_status st;
	(void)state;

	assert_int_equal(aigw_health_status(h, "a", 0, &st), 0);
	assert_false(st.latency_measured);
	assert_int_equal(st.latency_us, 0);
	aigw_health_latency(h, "a", 10000);
	aigw_health_latency(h, "nope", 5);
	assert_int_equal(aigw_health_status(h, "a", 0, &st), 0);
	assert_true(st.latency_measured);
	assert_int_equal(st.latency_us, 10000);
	aigw_health_latency(h, "a", 20000);
	assert_int_equal(aigw_health_status(h, "a", 0, &st), 0);
	assert_int_equal(st.latency_us, 12000);
	aigw_health_latency(h, "a", 2000);
	assert_int_equal(aigw_health_status(h, "a", 0, &st), 0);
	assert_int_equal(st.latency_us, 10000);
	/* Many equal samples converge on them. */
	for (int i = 0; i < 100; i++)
		aigw_health_latency(h, "a", 50000);
	assert_int_equal(aigw_health_status(h, "a", 0, &st), 0);
	assert_int_equal(st.latency_us, 50000);
	assert_int_equal(aigw_health_status(h, "b", 0, &st), 0);
	assert_false(st.latency_measured);
	aigw_health_free(h);
}

/* ------------------------------------------------------------- breaker */

static void test_breaker_opens_after_n(void **state)
{
	struct aigw_health_conf c = breaker_only();
	struct aigw_health *h = three(&c);
	bool probe = true;

	(void)state;
	assert_true(aigw_health_allow(h, "a", 100, &probe));
	assert_false(probe);
	fail_n(h, "a", 4, 100);
	assert_true(aigw_health_allow(h, "a", 100, NULL));
	/* A success resets the count. */
	aigw_health_record(h, "a", NULL, 0, 100, AIGW_HEALTH_OK);
	fail_n(h, "a", 4, 100);
	assert_true(aigw_health_allow(h, "a", 100, NULL));
	aigw_health_record(h, "a", NULL, 0, 100, AIGW_HEALTH_FAIL_CONNECT);
	assert_false(aigw_health_allow(h, "a", 100, NULL));
	assert_int_equal(state_of(h, "a", 100), AIGW_HEALTH_OPEN);
	assert_false(aigw_health_allow(h, "a", 1099, NULL));
	/* Other nodes are not touched; unknown nodes are allowed. */
	assert_true(aigw_health_allow(h, "b", 100, NULL));
	assert_true(aigw_health_allow(h, "nobody", 100, NULL));
	aigw_health_free(h);
}

static void test_breaker_half_open_probes(void **state)
{
	struct aigw_health_conf c = breaker_only();
	struct aigw_health *h = three(&c);
	struct aigw_health_status st;
	bool probe = false;

	(void)state;
	fail_n(h, "a", 5, 0);
	assert_int_equal(aigw_health_status(h, "a", 500, &st), 0);
	assert_int_equal(st.state, AIGW_HEALTH_OPEN);
	assert_int_equal(st.retry_at_ms, 1000);
	/* Open time over: one probe at a time. */
	assert_true(aigw_health_allow(h, "a", 1000, &probe));
	assert_true(probe);
	assert_int_equal(state_of(h, "a", 1000), AIGW_HEALTH_HALF_OPEN);
	assert_false(aigw_health_allow(h, "a", 1001, &probe));
	assert_false(probe);
	/* The probe fails: open again for twice as long. */
	aigw_health_record(h, "a", NULL, 0, 1100, AIGW_HEALTH_FAIL_TIMEOUT);
	assert_int_equal(state_of(h, "a", 1100), AIGW_HEALTH_OPEN);
	assert_false(aigw_health_allow(h, "a", 3099, NULL));
	assert_true(aigw_health_allow(h, "a", 3100, &probe));
	assert_true(probe);
	aigw_health_record(h, "a", NULL, 0, 3100, AIGW_HEALTH_FAIL_5XX);
	assert_false(aigw_health_allow(h, "a", 7099, NULL));
	assert_true(aigw_health_allow(h, "a", 7100, &probe));
	aigw_health_record(h, "a", NULL, 0, 7100, AIGW_HEALTH_FAIL_5XX);
	/* 8 s: the cap. */
	assert_int_equal(aigw_health_status(h, "a", 7100, &st), 0);
	assert_int_equal(st.retry_at_ms, 15100);
	assert_true(aigw_health_allow(h, "a", 15100, &probe));
	aigw_health_record(h, "a", NULL, 0, 15100, AIGW_HEALTH_FAIL_5XX);
	assert_int_equal(aigw_health_status(h, "a", 15100, &st), 0);
	assert_int_equal(st.retry_at_ms, 23100);
	/* A probe success closes it, and it counts as recovered. */
	assert_true(aigw_health_allow(h, "a", 23100, &probe));
	assert_true(probe);
	aigw_health_record(h, "a", NULL, 0, 23150, AIGW_HEALTH_OK);
	assert_int_equal(state_of(h, "a", 23150), AIGW_HEALTH_CLOSED);
	assert_true(aigw_health_allow(h, "a", 23151, &probe));
	assert_false(probe);
	assert_int_equal(aigw_health_since_ms(h, "a"), 23150);
	/* The open time starts again from the base. */
	fail_n(h, "a", 5, 30000);
	assert_int_equal(aigw_health_status(h, "a", 30000, &st), 0);
	assert_int_equal(st.retry_at_ms, 31000);
	aigw_health_free(h);
}

static void test_breaker_more_probes(void **state)
{
	struct aigw_health_conf c = breaker_only();
	struct aigw_health *h;
	bool probe;

	(void)state;
	c.half_open_probes = 2;
	h = three(&c);
	fail_n(h, "b", 5, 0);
	assert_true(aigw_health_allow(h, "b", 1000, &probe));
	assert_true(aigw_health_allow(h, "b", 1000, &probe));
	assert_false(aigw_health_allow(h, "b", 1000, &probe));
	/* Probes that never report free their slots after a while. */
	assert_true(aigw_health_allow(h, "b", 1000 + 30000, &probe));
	assert_true(probe);
	aigw_health_free(h);
}

static void test_rate_limited_is_not_a_failure(void **state)
{
	struct aigw_health_conf c = breaker_only();
	struct aigw_health *h;

	(void)state;
	c.outlier_failures = 5;
	h = three(&c);
	for (int i = 0; i < 100; i++)
		aigw_health_record(h, "a", NULL, 0, 10, AIGW_HEALTH_RATE_LIMITED);
	assert_true(aigw_health_allow(h, "a", 10, NULL));
	assert_int_equal(state_of(h, "a", 10), AIGW_HEALTH_CLOSED);
	/* Nor does it break a run of failures. */
	fail_n(h, "a", 2, 10);
	aigw_health_record(h, "a", NULL, 0, 10, AIGW_HEALTH_RATE_LIMITED);
	fail_n(h, "a", 3, 10);
	assert_false(aigw_health_allow(h, "a", 10, NULL));
	aigw_health_free(h);
}

/* A rest after a 429: until its end, only ever extended, per node; not a
 * state of the breaker; unknown nodes are no-ops. */
static void test_rest(void **state)
{
	struct aigw_health *h = three(NULL);
	(void)state;

	assert_int_equal(aigw_health_resting_ms(h, "a", 100), 0);
	aigw_health_rest(h, "a", 1100);
	assert_int_equal(aigw_health_resting_ms(h, "a", 100), 1000);
	assert_int_equal(aigw_health_resting_ms(h, "a", 1099), 1);
	assert_int_equal(aigw_health_resting_ms(h, "a", 1100), 0);
	assert_int_equal(aigw_health_resting_ms(h, "b", 100), 0);
	/* a shorter Retry-After does not cut a longer rest short */
	aigw_health_rest(h, "a", 3000);
	aigw_health_rest(h, "a", 2000);
	assert_int_equal(aigw_health_resting_ms(h, "a", 1000), 2000);
	assert_true(aigw_health_allow(h, "a", 1000, NULL));
	assert_int_equal(state_of(h, "a", 1000), AIGW_HEALTH_CLOSED);
	aigw_health_rest(h, "nope", 5000);
	assert_int_equal(aigw_health_resting_ms(h, "nope", 0), 0);
	aigw_health_free(h);
}

/* ------------------------------------------------------------- outlier */

static struct aigw_health_conf outlier_only(void)
{
	struct aigw_health_conf c;
	aigw_health_conf_init(&c);
	c.breaker_failures = 1000000;
	return c;
}

static const char *const pool3[] = { "a", "b", "c" };

static void eject(struct aigw_health *h, const char *node, uint64_t now)
{
	for (int i = 0; i < 5; i++)
		aigw_health_record(h, node, pool3, 3, now, AIGW_HEALTH_FAIL_5XX);
}

static void test_ejection_grows(void **state)
{
	struct aigw_health_conf c = outlier_only();
	struct aigw_health *h = three(&c);
	struct aigw_health_status st;
	uint64_t now = 1000;

	(void)state;
	assert_int_equal(aigw_health_since_ms(h, "a"), 0);
	for (int i = 0; i < 4; i++)
		aigw_health_record(h, "a", pool3, 3, now, AIGW_HEALTH_FAIL_5XX);
	assert_true(aigw_health_allow(h, "a", now, NULL));
	aigw_health_record(h, "a", pool3, 3, now, AIGW_HEALTH_FAIL_CONNECT);
	assert_false(aigw_health_allow(h, "a", now, NULL));
	assert_int_equal(aigw_health_status(h, "a", now, &st), 0);
	assert_int_equal(st.state, AIGW_HEALTH_EJECTED);
	assert_int_equal(st.ejections, 1);
	assert_int_equal(st.retry_at_ms, now + 30000);
	/* The time it comes back is exposed for slow start. */
	assert_int_equal(aigw_health_since_ms(h, "a"), now + 30000);
	assert_false(aigw_health_allow(h, "a", now + 29999, NULL));
	now += 30000;
	assert_true(aigw_health_allow(h, "a", now, NULL));
	assert_int_equal(state_of(h, "a", now), AIGW_HEALTH_CLOSED);
	assert_int_equal(aigw_health_since_ms(h, "a"), now);
	/* Ejected again: 60 s, then 90 s... up to 300 s. */
	for (unsigned k = 2; k <= 12; k++) {
		uint64_t want = 30000ull * k > 300000 ? 300000 : 30000ull * k;
		eject(h, "a", now);
		assert_int_equal(aigw_health_status(h, "a", now, &st), 0);
		assert_int_equal(st.ejections, k);
		assert_int_equal(st.retry_at_ms, now + want);
		now += want;
		assert_true(aigw_health_allow(h, "a", now, NULL));
	}
	/* A success resets the run of failures. */
	for (int i = 0; i < 4; i++)
		aigw_health_record(h, "a", pool3, 3, now, AIGW_HEALTH_FAIL_5XX);
	aigw_health_record(h, "a", pool3, 3, now, AIGW_HEALTH_OK);
	aigw_health_record(h, "a", pool3, 3, now, AIGW_HEALTH_FAIL_5XX);
	assert_true(aigw_health_allow(h, "a", now, NULL));
	/* Clear of ejection for eject_max_ms: the count starts over. */
	now += 300000;
	eject(h, "a", now);
	assert_int_equal(aigw_health_status(h, "a", now, &st), 0);
	assert_int_equal(st.ejections, 1);
	assert_int_equal(st.retry_at_ms, now + 30000);
	aigw_health_free(h);
}

static void test_ejection_share(void **state)
{
	struct aigw_health_conf c = outlier_only();
	struct aigw_health *h = three(&c);
	int ejected;

	(void)state;
	eject(h, "a", 0);
	eject(h, "b", 0);
	eject(h, "c", 0);
	ejected = 0;
	for (int i = 0; i < 3; i++)
		ejected += state_of(h, pool3[i], 0) == AIGW_HEALTH_EJECTED;
	assert_int_equal(ejected, 1);
	assert_false(aigw_health_allow(h, "a", 0, NULL));
	assert_true(aigw_health_allow(h, "b", 0, NULL));
	assert_true(aigw_health_allow(h, "c", 0, NULL));
	/* b keeps failing: once a is back, the next failure ejects b. */
	aigw_health_record(h, "b", pool3, 3, 30000, AIGW_HEALTH_FAIL_5XX);
	assert_int_equal(state_of(h, "a", 30000), AIGW_HEALTH_CLOSED);
	assert_int_equal(state_of(h, "b", 30000), AIGW_HEALTH_EJECTED);
	assert_int_equal(state_of(h, "c", 30000), AIGW_HEALTH_CLOSED);
	/* Without a pool there is no share to keep. */
	eject(h, "c", 30000);
	aigw_health_record(h, "c", NULL, 0, 30000, AIGW_HEALTH_FAIL_5XX);
	assert_int_equal(state_of(h, "c", 30000), AIGW_HEALTH_EJECTED);
	aigw_health_free(h);
}

static void test_ejection_share_of_one(void **state)
{
	struct aigw_health_conf c = outlier_only();
	struct aigw_health *h = three(&c);
	const char *const alone[] = { "a" };
	const char *const two[] = { "a", "b" };

	(void)state;
	/* A pool of one node never loses it to ejection. */
	for (int i = 0; i < 20; i++)
		aigw_health_record(h, "a", alone, 1, 0, AIGW_HEALTH_FAIL_5XX);
	assert_true(aigw_health_allow(h, "a", 0, NULL));
	/* Of two at 50%, one. */
	for (int i = 0; i < 5; i++) {
		aigw_health_record(h, "a", two, 2, 0, AIGW_HEALTH_FAIL_5XX);
		aigw_health_record(h, "b", two, 2, 0, AIGW_HEALTH_FAIL_5XX);
	}
	assert_false(aigw_health_allow(h, "a", 0, NULL));
	assert_true(aigw_health_allow(h, "b", 0, NULL));
	aigw_health_free(h);
}

/* ---------------------------------------------------------------- sync */

static void test_sync_keeps_unchanged(void **state)
{
	struct aigw_health_conf c = breaker_only();
	struct aigw_health *h = three(&c);
	struct aigw_node nodes[3];
	struct aigw_health_status st;
	struct aigw_health_check_conf bad[3];
	struct aigw_err err = { 0 };

	(void)state;
	fail_n(h, "a", 5, 0);
	fail_n(h, "b", 5, 0);
	fail_n(h, "c", 5, 0);
	/* a unchanged, b with another URL, c gone, d new. */
	make_node(&nodes[0], "a", "http://127.0.0.1:1");
	make_node(&nodes[1], "b", "http://127.0.0.1:2");
	make_node(&nodes[2], "d", "http://127.0.0.1:1");
	assert_int_equal(aigw_health_sync(h, nodes, 3, NULL, &err), 0);
	assert_int_equal(state_of(h, "a", 10), AIGW_HEALTH_OPEN);
	assert_int_equal(state_of(h, "b", 10), AIGW_HEALTH_CLOSED);
	assert_int_equal(state_of(h, "d", 10), AIGW_HEALTH_CLOSED);
	assert_int_equal(aigw_health_status(h, "c", 10, &st), AIGW_ENOTFOUND);
	assert_true(aigw_health_allow(h, "c", 10, NULL));
	/* The same again publishes nothing new and keeps everything. */
	assert_int_equal(aigw_health_sync(h, nodes, 3, NULL, &err), 0);
	assert_int_equal(state_of(h, "a", 10), AIGW_HEALTH_OPEN);
	/* Bad check confs are refused, and nothing changes. */
	for (int i = 0; i < 3; i++)
		aigw_health_check_conf_init(&bad[i]);
	bad[1].enabled = true;
	snprintf(bad[1].path, sizeof(bad[1].path), "%s", "health");
	assert_int_equal(aigw_health_sync(h, nodes, 3, bad, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "must start with '/'"));
	snprintf(bad[1].path, sizeof(bad[1].path), "%s", "/a b");
	assert_int_equal(aigw_health_sync(h, nodes, 3, bad, &err), AIGW_EINVAL);
	bad[1].path[0] = '\0';
	bad[1].timeout_ms = 0;
	assert_int_equal(aigw_health_sync(h, nodes, 3, bad, &err), AIGW_EINVAL);
	free(nodes[0].url);
	nodes[0].url = NULL;
	assert_int_equal(aigw_health_sync(h, nodes, 3, NULL, &err), AIGW_EINVAL);
	assert_int_equal(state_of(h, "a", 10), AIGW_HEALTH_OPEN);
	/* Removed and added back: a fresh start. */
	assert_int_equal(aigw_health_sync(h, nodes + 1, 2, NULL, &err), 0);
	nodes[0].url = aigw_strdup("http://127.0.0.1:1");
	assert_int_equal(aigw_health_sync(h, nodes, 3, NULL, &err), 0);
	assert_int_equal(state_of(h, "a", 10), AIGW_HEALTH_CLOSED);
	for (int i = 0; i < 3; i++)
		aigw_node_release(&nodes[i]);
	aigw_health_free(h);
	aigw_health_free(NULL);
}

static void test_bad_conf(void **state)
{
	struct aigw_health_conf c;
	struct aigw_err err = { 0 };

	(void)state;
	aigw_health_conf_init(&c);
	c.max_eject_percent = 101;
	assert_null(aigw_health_new(&c, &err));
	assert_int_equal(err.code, AIGW_EINVAL);
	assert_string_equal(aigw_health_state_name(AIGW_HEALTH_HALF_OPEN), "half-open");
}

/* ---------------------------------------------------- budget, backoff */

static void test_retry_budget(void **state)
{
	struct aigw_retry_budget b;
	int allowed = 0;

	(void)state;
	aigw_retry_budget_init(&b, -1, -1, -1, 1000); /* the defaults */
	for (int i = 0; i < 100; i++)
		aigw_retry_budget_deposit(&b);
	while (aigw_retry_budget_withdraw(&b, 1000))
		allowed++;
	/* 20% of 100 plus the floor of 3 a second, saved up over 10 s and
	 * full at the start. */
	assert_int_equal(allowed, 50);
	assert_false(aigw_retry_budget_withdraw(&b, 1000));
	/* The floor comes back with time, ten seconds' worth at most. */
	assert_false(aigw_retry_budget_withdraw(&b, 1300));
	assert_true(aigw_retry_budget_withdraw(&b, 1340));
	allowed = 0;
	while (aigw_retry_budget_withdraw(&b, 60000))
		allowed++;
	assert_int_equal(allowed, 30);
	/* The cap holds. */
	for (int i = 0; i < 10000; i++)
		aigw_retry_budget_deposit(&b);
	allowed = 0;
	while (aigw_retry_budget_withdraw(&b, 60000))
		allowed++;
	assert_int_equal(allowed, 100);
	aigw_retry_budget_release(&b);
	/* No floor, no ratio: no retries. */
	aigw_retry_budget_init(&b, 0, 10, 0, 0);
	aigw_retry_budget_deposit(&b);
	assert_false(aigw_retry_budget_withdraw(&b, 100000));
	aigw_retry_budget_release(&b);
}

static void test_backoff(void **state)
{
	uint64_t rng = 12345, top = 0;

	(void)state;
	for (int attempt = -1; attempt < 70; attempt++) {
		uint64_t limit = attempt <= 0 ? 100 : (attempt >= 20 ? 10000 : 100ull << attempt);
		if (limit > 10000)
			limit = 10000;
		for (int i = 0; i < 200; i++) {
			uint64_t w = aigw_backoff_ms(attempt, 100, 10000, &rng);
			assert_true(w <= limit);
			if (attempt == 30 && w > top)
				top = w;
		}
	}
	/* Uniform over the range: it gets near the cap. */
	assert_true(top > 9000);
	assert_int_equal(aigw_backoff_ms(5, 0, 1000, &rng), 0);
	assert_true(aigw_backoff_ms(63, UINT64_MAX / 2, UINT64_MAX, &rng) <= UINT64_MAX);
}

/* ------------------------------------------------- check server thread */

struct check_server {
	int fd, port;
	atomic_int status; /* answered; 0: accept and never answer */
	atomic_int requests;
	char last[1024];
	pthread_mutex_t lock;
	pthread_t thread;
	atomic_bool stop;
};

static void *check_serve(void *arg)
{
	struct check_server *s = arg;
	int held[64], n_held = 0;

	while (!atomic_load(&s->stop)) {
		char req[1024], out[256];
		int c = accept(s->fd, NULL, NULL), status, len;
		ssize_t got;
		if (c < 0)
			continue;
		if (atomic_load(&s->stop)) {
			close(c);
			break;
		}
		got = read(c, req, sizeof(req) - 1);
		req[got > 0 ? got : 0] = '\0';
		atomic_fetch_add(&s->requests, 1);
		pthread_mutex_lock(&s->lock);
		snprintf(s->last, sizeof(s->last), "%s", req);
		pthread_mutex_unlock(&s->lock);
		status = atomic_load(&s->status);
		if (status == 0) {
			if (n_held < 64)
				held[n_held++] = c;
			else
				close(c);
			continue;
		}
		len = snprintf(out, sizeof(out),
			       "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
			       status);
		assert_true(write(c, out, (size_t)len) == len);
		close(c);
	}
	while (n_held)
		close(held[--n_held]);
	return NULL;
}

static void check_server_start(struct check_server *s, int status)
{
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof(sa);
	int one = 1;

	memset(s, 0, sizeof(*s));
	atomic_store(&s->status, status);
	pthread_mutex_init(&s->lock, NULL);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->fd, 16), 0);
	getsockname(s->fd, (struct sockaddr *)&sa, &sl);
	s->port = ntohs(sa.sin_port);
	pthread_create(&s->thread, NULL, check_serve, s);
}

static void check_server_stop(struct check_server *s)
{
	struct sockaddr_in sa = { 0 };
	int c = socket(AF_INET, SOCK_STREAM, 0);

	atomic_store(&s->stop, true);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)s->port);
	connect(c, (struct sockaddr *)&sa, sizeof(sa));
	close(c);
	pthread_join(s->thread, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Waits up to 10 s for node to be allowed (or not). */
static bool wait_allowed(struct aigw_health *h, const char *node, bool want)
{
	for (int i = 0; i < 1000; i++) {
		if (aigw_health_allow(h, node, aigw_clock_mono_ms(), NULL) == want)
			return true;
		sleep_ms(10);
	}
	return false;
}

static struct aigw_health *checked(const struct check_server *s, const char *path, int provider,
				   uint64_t timeout_ms)
{
	struct aigw_health *h = aigw_health_new(NULL, NULL);
	struct aigw_node node;
	struct aigw_health_check_conf check;
	char url[64];

	assert_non_null(h);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", s->port);
	make_node(&node, "n", url);
	node.provider = provider;
	aigw_health_check_conf_init(&check);
	check.enabled = true;
	check.interval_ms = 30;
	check.timeout_ms = timeout_ms;
	snprintf(check.path, sizeof(check.path), "%s", path);
	assert_int_equal(aigw_health_sync(h, &node, 1, &check, NULL), 0);
	aigw_node_release(&node);
	return h;
}

static void test_checks_down_and_up(void **state)
{
	struct check_server s;
	struct aigw_health *h;
	struct aigw_health_status st;
	int before;

	(void)state;
	check_server_start(&s, 500);
	h = checked(&s, "/healthz", AIGW_PROVIDER_OPENAI, 1000);
	assert_true(wait_allowed(h, "n", false));
	assert_true(atomic_load(&s.requests) >= 3);
	assert_int_equal(aigw_health_status(h, "n", aigw_clock_mono_ms(), &st), 0);
	assert_int_equal(st.state, AIGW_HEALTH_DOWN);
	assert_true(st.checks && st.checked && !st.check_ok);
	assert_int_equal(st.check_status, 500);
	assert_true(st.check_fails >= 3);
	assert_string_equal(st.check_error, "status 500");
	pthread_mutex_lock(&s.lock);
	assert_non_null(strstr(s.last, "GET /healthz HTTP/1.1\r\n"));
	assert_non_null(strstr(s.last, "Host: 127.0.0.1:"));
	pthread_mutex_unlock(&s.lock);
	/* Back after two passing checks in a row. */
	before = atomic_load(&s.requests);
	atomic_store(&s.status, 200);
	assert_true(wait_allowed(h, "n", true));
	assert_true(atomic_load(&s.requests) - before >= 2);
	assert_int_equal(aigw_health_status(h, "n", aigw_clock_mono_ms(), &st), 0);
	assert_int_equal(st.state, AIGW_HEALTH_CLOSED);
	assert_true(st.check_ok && st.check_passes >= 2);
	assert_true(st.since_ms > 0);
	assert_true(st.since_ms == aigw_health_since_ms(h, "n"));
	aigw_health_free(h);
	check_server_stop(&s);
}

static void test_checks_timeout(void **state)
{
	struct check_server s;
	struct aigw_health *h;
	struct aigw_health_status st;

	(void)state;
	check_server_start(&s, 0);
	/* The default path of an ollama node, taken from the URL's origin. */
	h = checked(&s, "", AIGW_PROVIDER_OLLAMA, 50);
	assert_true(wait_allowed(h, "n", false));
	assert_int_equal(aigw_health_status(h, "n", aigw_clock_mono_ms(), &st), 0);
	assert_int_equal(st.check_status, 0);
	assert_non_null(strstr(st.check_error, "no answer within 50 ms"));
	pthread_mutex_lock(&s.lock);
	assert_non_null(strstr(s.last, "GET /api/tags HTTP/1.1\r\n"));
	pthread_mutex_unlock(&s.lock);
	aigw_health_free(h);
	check_server_stop(&s);
}

static void test_checks_refused_and_disabled(void **state)
{
	struct check_server s;
	struct aigw_health *h;
	struct aigw_health_status st;
	struct aigw_node node;
	int port;

	(void)state;
	/* Nobody listens any more: connections are refused. */
	check_server_start(&s, 200);
	port = s.port;
	check_server_stop(&s);
	s.port = port;
	h = checked(&s, "/", AIGW_PROVIDER_HTTP, 500);
	assert_true(wait_allowed(h, "n", false));
	assert_int_equal(aigw_health_status(h, "n", aigw_clock_mono_ms(), &st), 0);
	assert_non_null(strstr(st.check_error, "connect"));
	/* Checks turned off: the node is no longer down. */
	{
		char url[64];
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/v1", port);
		make_node(&node, "n", url);
	}
	assert_int_equal(aigw_health_sync(h, &node, 1, NULL, NULL), 0);
	assert_true(aigw_health_allow(h, "n", aigw_clock_mono_ms(), NULL));
	aigw_node_release(&node);
	aigw_health_free(h);
}

/* ------------------------------------------------------------- threads */

struct worker {
	struct aigw_health *h;
	struct aigw_retry_budget *budget;
	int id;
	int allowed, retries;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t rng = 0x9e3779b97f4a7c15ull + (uint64_t)w->id;

	for (int i = 0; i < 20000; i++) {
		const char *node = pool3[i % 3];
		uint64_t now = (uint64_t)i;
		bool probe;
		enum aigw_health_outcome o = AIGW_HEALTH_OK;

		if (aigw_health_allow(w->h, node, now, &probe))
			w->allowed++;
		/* c fails often, a now and then. */
		if (node[0] == 'c' && aigw_rand_xorshift64(&rng) % 4 != 0)
			o = AIGW_HEALTH_FAIL_5XX;
		else if (node[0] == 'a' && aigw_rand_xorshift64(&rng) % 50 == 0)
			o = AIGW_HEALTH_FAIL_TIMEOUT;
		else if (aigw_rand_xorshift64(&rng) % 20 == 0)
			o = AIGW_HEALTH_RATE_LIMITED;
		aigw_health_record(w->h, node, pool3, 3, now, o);
		if (i < 1000)
			aigw_retry_budget_deposit(w->budget);
	}
	for (int i = 0; i < 1000; i++)
		if (aigw_retry_budget_withdraw(w->budget, 0))
			w->retries++;
	return NULL;
}

static void test_threads(void **state)
{
	struct aigw_health_conf c;
	struct aigw_health *h;
	struct aigw_retry_budget budget;
	struct worker w[4];
	pthread_t t[4];
	int retries = 0, ejected = 0;

	(void)state;
	aigw_health_conf_init(&c);
	c.eject_base_ms = 100;
	c.eject_max_ms = 1000;
	c.open_base_ms = 50;
	c.open_max_ms = 400;
	h = three(&c);
	aigw_retry_budget_init(&budget, 0.2, 10000, 3, 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .h = h, .budget = &budget, .id = i };
		pthread_create(&t[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_true(w[i].allowed > 0 && w[i].allowed <= 20000);
		retries += w[i].retries;
	}
	/* 4000 requests: 800 retries, plus the floor's 10 s of 3 a second. */
	assert_int_equal(retries, 830);
	for (int i = 0; i < 3; i++) {
		struct aigw_health_status st;
		assert_int_equal(aigw_health_status(h, pool3[i], 20000, &st), 0);
		assert_true(st.state <= AIGW_HEALTH_DOWN);
		ejected += st.ejections > 0;
	}
	assert_true(ejected >= 1);
	aigw_retry_budget_release(&budget);
	aigw_health_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_flight_and_picks),
		cmocka_unit_test(test_latency_ewma),
		cmocka_unit_test(test_breaker_opens_after_n),
		cmocka_unit_test(test_breaker_half_open_probes),
		cmocka_unit_test(test_breaker_more_probes),
		cmocka_unit_test(test_rate_limited_is_not_a_failure),
		cmocka_unit_test(test_rest),
		cmocka_unit_test(test_ejection_grows),
		cmocka_unit_test(test_ejection_share),
		cmocka_unit_test(test_ejection_share_of_one),
		cmocka_unit_test(test_sync_keeps_unchanged),
		cmocka_unit_test(test_bad_conf),
		cmocka_unit_test(test_retry_budget),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_checks_down_and_up),
		cmocka_unit_test(test_checks_timeout),
		cmocka_unit_test(test_checks_refused_and_disabled),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
