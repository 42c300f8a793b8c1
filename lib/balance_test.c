/* Tests for balance: selection shares per policy, latency estimates,
 * failure penalty, learning and forgetting, cost preference, slow start,
 * and a small simulation comparing the policies. Clocks are given and
 * randomness is seeded, so every run is the same. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "rand.h"
#include "route.h"

#define C(w) { (w), true, -1, 0 }

static void test_round_robin_cycles_and_skips(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_candidate c[3] = { C(1), C(1), C(1) };
	int seen[3] = { 0 };
	(void)state;

	aigw_balancer_init(&b, AIGW_POLICY_ROUND_ROBIN, 3);
	for (int i = 0; i < 300; i++)
		seen[aigw_balance_pick(&b, c)]++;
	assert_int_equal(seen[0], 100);
	assert_int_equal(seen[1], 100);
	assert_int_equal(seen[2], 100);
	c[1].eligible = false;
	for (int i = 0; i < 50; i++)
		assert_int_not_equal(aigw_balance_pick(&b, c), 1);
	c[0].eligible = c[2].eligible = false;
	assert_int_equal(aigw_balance_pick(&b, c), -1);
	aigw_balancer_release(&b);
}

static void test_weighted_exact_shares_interleaved(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_candidate c[3] = { C(5), C(1), C(1) };
	int seen[3] = { 0 }, run = 0, longest = 0, last = -1;
	(void)state;

	aigw_balancer_init(&b, AIGW_POLICY_WEIGHTED, 3);
	/* Over every window of sum-of-weights picks, exact shares. */
	for (int round = 0; round < 10; round++) {
		memset(seen, 0, sizeof(seen));
		for (int i = 0; i < 7; i++) {
			int p = aigw_balance_pick(&b, c);
			seen[p]++;
			run = p == last ? run + 1 : 1;
			last = p;
			if (run > longest)
				longest = run;
		}
		assert_int_equal(seen[0], 5);
		assert_int_equal(seen[1], 1);
		assert_int_equal(seen[2], 1);
	}
	/* smooth: the heavy node never takes all five in a row */
	assert_true(longest < 5);
	aigw_balancer_release(&b);
}

static void test_weighted_skips_ineligible(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_candidate c[2] = { C(3), { 1, false, -1, 0 } };
	(void)state;

	aigw_balancer_init(&b, AIGW_POLICY_WEIGHTED, 2);
	for (int i = 0; i < 20; i++)
		assert_int_equal(aigw_balance_pick(&b, c), 0);
	/* Back again: shares resume without a burst towards node 1. */
	c[1].eligible = true;
	int ones = 0;
	for (int i = 0; i < 8; i++)
		ones += aigw_balance_pick(&b, c) == 1;
	assert_int_equal(ones, 2);
	c[0].eligible = c[1].eligible = false;
	assert_int_equal(aigw_balance_pick(&b, c), -1);
	aigw_balancer_release(&b);
}

static void test_empty(void **state)
{
	struct aigw_balancer b;
	(void)state;
	aigw_balancer_init(&b, AIGW_POLICY_WEIGHTED, 0);
	assert_int_equal(aigw_balance_pick(&b, NULL), -1);
	aigw_balancer_release(&b);
}

static const int all_policies[] = { AIGW_POLICY_ROUND_ROBIN, AIGW_POLICY_WEIGHTED,
				    AIGW_POLICY_LEAST_CONN,  AIGW_POLICY_P2C,
				    AIGW_POLICY_PEAK_EWMA,   AIGW_POLICY_ADAPTIVE };

static struct aigw_balance_obs ok_ms(double ms)
{
	struct aigw_balance_obs o = { (uint64_t)(ms * 1000), 0, false, false, -1 };
	return o;
}

static struct aigw_balance_obs failed_ms(double ms)
{
	struct aigw_balance_obs o = { (uint64_t)(ms * 1000), 0, true, false, -1 };
	return o;
}

static void init_seeded(struct aigw_balancer *b, int policy, size_t n, uint64_t seed)
{
	struct aigw_balance_params p;
	aigw_balance_params_default(&p);
	p.seed = seed;
	aigw_balancer_init2(b, policy, n, &p);
}

static void test_ineligible_never_picked(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(all_policies) / sizeof(all_policies[0]); k++) {
		struct aigw_balancer b;
		struct aigw_balance_candidate c[4] = { C(1), C(2), C(1), C(1) };
		struct aigw_balance_obs o = ok_ms(10);

		init_seeded(&b, all_policies[k], 4, 7);
		c[1].eligible = c[3].eligible = false;
		for (int i = 0; i < 500; i++) {
			int p = aigw_balance_pick_at(&b, c, (uint64_t)i);
			assert_true(p == 0 || p == 2);
			aigw_balance_observe(&b, p, &o, (uint64_t)i);
		}
		c[0].eligible = c[2].eligible = false;
		assert_int_equal(aigw_balance_pick_at(&b, c, 1000), -1);
		/* a lone candidate in slow start is still picked */
		c[3].eligible = true;
		c[3].since_ms = 1000;
		assert_int_equal(aigw_balance_pick_at(&b, c, 1000), 3);
		aigw_balancer_release(&b);
	}
}

static void test_least_conn_uneven(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_candidate c[3] = { C(1), C(1), C(1) };
	struct aigw_balance_obs o = ok_ms(10);
	int seen[3] = { 0 };
	(void)state;

	aigw_balancer_init(&b, AIGW_POLICY_LEAST_CONN, 3);
	b.node[0].in_flight = 3;
	b.node[1].in_flight = 1;
	for (int i = 0; i < 100; i++) {
		int p = aigw_balance_pick_at(&b, c, 0);
		assert_int_equal(p, 2);
		aigw_balance_observe(&b, p, &o, 0);
	}
	/* Picks that stay in flight fill the least loaded first. */
	for (int i = 0; i < 4; i++)
		seen[aigw_balance_pick_at(&b, c, 0)]++;
	assert_int_equal(seen[0], 0);
	assert_int_equal(seen[1], 2);
	assert_int_equal(seen[2], 2);
	assert_int_equal(b.node[1].in_flight, 3);
	assert_int_equal(b.node[2].in_flight, 2);
	/* Equal load: round robin ... */
	b.node[0].in_flight = b.node[1].in_flight = b.node[2].in_flight = 1;
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 300; i++) {
		int p = aigw_balance_pick_at(&b, c, 0);
		seen[p]++;
		aigw_balance_observe(&b, p, &o, 0);
	}
	assert_int_equal(seen[0], 100);
	assert_int_equal(seen[1], 100);
	assert_int_equal(seen[2], 100);
	/* ... unless weights differ. */
	c[1].weight = 2;
	for (int i = 0; i < 30; i++) {
		int p = aigw_balance_pick_at(&b, c, 0);
		assert_int_equal(p, 1);
		aigw_balance_release_pick(&b, p);
	}
	aigw_balancer_release(&b);
}

static void test_p2c_shares(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_candidate c[3] = { C(1), C(1), C(1) };
	struct aigw_balance_obs o = ok_ms(10);
	int seen[3] = { 0 };
	(void)state;

	init_seeded(&b, AIGW_POLICY_P2C, 3, 42);
	for (int i = 0; i < 3000; i++) {
		int p = aigw_balance_pick_at(&b, c, 0);
		seen[p]++;
		aigw_balance_observe(&b, p, &o, 0);
	}
	for (int i = 0; i < 3; i++)
		assert_true(seen[i] > 900 && seen[i] < 1100);
	/* A loaded node loses every comparison. */
	b.node[0].in_flight = 10;
	memset(seen, 0, sizeof(seen));
	for (int i = 0; i < 3000; i++) {
		int p = aigw_balance_pick_at(&b, c, 0);
		seen[p]++;
		aigw_balance_observe(&b, p, &o, 0);
	}
	assert_int_equal(seen[0], 0);
	assert_true(seen[1] > 1300 && seen[2] > 1300);
	/* Held picks spread: never more than one apart. */
	b.node[0].in_flight = 0;
	for (int i = 0; i < 30; i++)
		aigw_balance_pick_at(&b, c, 0);
	for (int i = 0; i < 3; i++)
		assert_true(b.node[i].in_flight >= 9 && b.node[i].in_flight <= 11);
	aigw_balancer_release(&b);
}

static void test_peak_ewma_peak_and_decay(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_candidate c[2] = { C(1), C(1) };
	struct aigw_balance_obs o;
	double score[2];
	const char *why[2];
	(void)state;

	aigw_balancer_init(&b, AIGW_POLICY_PEAK_EWMA, 2);
	/* unmeasured: the default, then the mean of the measured */
	aigw_balance_explain(&b, c, 0, score, why);
	assert_true(fabs(score[0] - 100) < 1e-9);
	o = ok_ms(10);
	aigw_balance_observe(&b, 0, &o, 0);
	aigw_balance_explain(&b, c, 0, score, why);
	assert_true(fabs(score[1] - 10) < 1e-9);
	assert_non_null(strstr(why[1], "unmeasured"));
	/* a peak is adopted at once */
	o = ok_ms(100);
	aigw_balance_observe(&b, 0, &o, 1000);
	aigw_balance_explain(&b, c, 1000, score, why);
	assert_true(fabs(score[0] - 100) < 1e-9);
	/* one tau later a low sample pulls it 1 - 1/e of the way */
	o = ok_ms(10);
	aigw_balance_observe(&b, 0, &o, 11000);
	aigw_balance_explain(&b, c, 11000, score, why);
	assert_true(fabs(score[0] - (10 + 90 * exp(-1))) < 1e-6);
	/* a sample right after barely moves it */
	aigw_balance_observe(&b, 0, &o, 11001);
	aigw_balance_explain(&b, c, 11001, score, why);
	assert_true(score[0] > 10 + 90 * exp(-1) - 0.01);
	/* in flight multiplies */
	b.node[0].in_flight = 2;
	aigw_balance_explain(&b, c, 11001, score, why);
	assert_true(score[0] > 3 * (10 + 90 * exp(-1) - 0.01));
	c[1].eligible = false;
	aigw_balance_explain(&b, c, 11001, score, why);
	assert_string_equal(why[1], "not eligible");
	aigw_balancer_release(&b);
}

/* Node 0 answers 503 in 1 ms, the others succeed in 50 ms; every answer
 * is observed at once. */
static int fast_failer_share(int policy)
{
	struct aigw_balancer b;
	struct aigw_balance_candidate c[3] = { C(1), C(1), C(1) };
	int seen[3] = { 0 };

	init_seeded(&b, policy, 3, 3);
	for (int i = 0; i < 3000; i++) {
		uint64_t now = (uint64_t)i * 10;
		int p = aigw_balance_pick_at(&b, c, now);
		struct aigw_balance_obs o = p == 0 ? failed_ms(1) : ok_ms(50);
		seen[p]++;
		aigw_balance_observe(&b, p, &o, now);
	}
	aigw_balancer_release(&b);
	return seen[0];
}

static void test_failure_penalty(void **state)
{
	(void)state;
	assert_int_equal(fast_failer_share(AIGW_POLICY_ROUND_ROBIN), 1000);
	assert_true(fast_failer_share(AIGW_POLICY_PEAK_EWMA) < 30);
	assert_true(fast_failer_share(AIGW_POLICY_ADAPTIVE) < 300);
}

static void test_penalty_does_not_compound(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_obs o = ok_ms(50);
	(void)state;

	aigw_balancer_init(&b, AIGW_POLICY_PEAK_EWMA, 1);
	aigw_balance_observe(&b, 0, &o, 0);
	o = failed_ms(1);
	for (int i = 0; i < 100; i++)
		aigw_balance_observe(&b, 0, &o, (uint64_t)i);
	assert_true(fabs(b.node[0].ewma_us - 1e6) < 1);
	aigw_balancer_release(&b);
}

/* ---- a small simulation: open loop arrivals, latencies per node ---- */

struct sim {
	int policy;
	double base_ms[3];
	int slow_node;           /* -1: none */
	double slow_factor;
	uint64_t slow_from_ms, slow_to_ms;
	double fail_share[3];    /* answers that are fast 503s */
	int requests;
	double interarrival_ms;
	uint64_t seed;
	/* out */
	int *picks;              /* requests entries, may be NULL */
	double mean_ms, p99_ms;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct sim_pending {
	int node;
	uint64_t end_us, latency_us;
	bool failed;
};

static double sim_unit(uint64_t *rng)
{
	return (double)(aigw_rand_xorshift64(rng) >> 11) * (1.0 / 9007199254740992.0);
}

static void simulate(struct sim *s)
{
	struct aigw_balancer b;
	struct aigw_balance_candidate c[3] = { C(1), C(1), C(1) };
	struct sim_pending pend[4096];
	size_t n_pend = 0;
	uint64_t rng = s->seed;
	double total = 0;
	static double lats[20000];

	init_seeded(&b, s->policy, 3, s->seed);
	for (int k = 0; k < s->requests; k++) {
		uint64_t t_us = (uint64_t)((double)k * s->interarrival_ms * 1000);
		struct sim_pending *q;
		double lat;
		int p;

		for (;;) { /* answers due by now, in order */
			size_t first = n_pend;
			for (size_t j = 0; j < n_pend; j++)
				if (pend[j].end_us <= t_us &&
				    (first == n_pend || pend[j].end_us < pend[first].end_us))
					first = j;
			if (first == n_pend)
				break;
			struct aigw_balance_obs o = { pend[first].latency_us, 0, pend[first].failed,
						      false, -1 };
			aigw_balance_observe(&b, pend[first].node, &o, pend[first].end_us / 1000);
			pend[first] = pend[--n_pend];
		}
		p = aigw_balance_pick_at(&b, c, t_us / 1000);
		assert_true(p >= 0 && p < 3 && n_pend < 4096);
		if (s->picks)
			s->picks[k] = p;
		lat = s->base_ms[p] * (0.7 + 0.6 * sim_unit(&rng));
		if (sim_unit(&rng) < 0.02)
			lat *= 3; /* a tail */
		if (p == s->slow_node && t_us / 1000 >= s->slow_from_ms && t_us / 1000 < s->slow_to_ms)
			lat *= s->slow_factor;
		q = &pend[n_pend++];
		q->node = p;
		q->failed = sim_unit(&rng) < s->fail_share[p];
		if (q->failed)
			lat = 1;
		q->latency_us = (uint64_t)(lat * 1000);
		q->end_us = t_us + q->latency_us;
		total += lat;
		if (k < 20000)
			lats[k] = lat;
	}
	s->mean_ms = total / s->requests;
	qsort(lats, (size_t)(s->requests < 20000 ? s->requests : 20000), sizeof(double), cmp_double);
	s->p99_ms = lats[(int)((s->requests < 20000 ? s->requests : 20000) * 0.99)];
	aigw_balancer_release(&b);
}

static double share(const int *picks, int from, int to, int node)
{
	int k = 0;
	for (int i = from; i < to; i++)
		k += picks[i] == node;
	return (double)k / (to - from);
}

/* 100 requests/s over three equal nodes; node 2 is 8x slower from 10 s to
 * 30 s, then recovers. */
static void test_adaptive_learns_and_recovers(void **state)
{
	static int picks[6000];
	struct sim s = { AIGW_POLICY_ADAPTIVE, { 50, 50, 50 }, 2, 8, 10000, 30000, { 0, 0, 0 },
			 6000, 10, 11, picks, 0, 0 };
	(void)state;

	simulate(&s);
	assert_true(share(picks, 0, 1000, 2) > 0.25);
	/* within 500 answers of the slowdown (5 s) its share is under 10% */
	assert_true(share(picks, 1500, 3000, 2) < 0.10);
	/* and within 1500 answers of the recovery it is back */
	assert_true(share(picks, 4500, 6000, 2) > 0.25);
	print_message("adaptive: slow node share %.3f at 15-30 s, %.3f at 45-60 s\n",
		      share(picks, 1500, 3000, 2), share(picks, 4500, 6000, 2));
}

static void test_adaptive_avoids_failing(void **state)
{
	static int picks[6000];
	struct sim s = { AIGW_POLICY_ADAPTIVE, { 50, 50, 50 }, -1, 1, 0, 0, { 0.3, 0, 0 },
			 6000, 10, 5, picks, 0, 0 };
	(void)state;

	simulate(&s);
	print_message("failing share %.3f\n", share(picks, 1000, 6000, 0));
	assert_true(share(picks, 1000, 6000, 0) < 0.2);
}

/* A node that answers ten times faster but fails 30% of the time in 1 ms
 * (the routing proof's errors scenario): every failure costs the client a
 * retry and the route a token of its retry budget, so it must not draw
 * the traffic its speed alone would earn. */
static void test_adaptive_avoids_fast_failing(void **state)
{
	static int picks[12000];
	struct sim s = { AIGW_POLICY_ADAPTIVE, { 2, 20, 20 }, -1, 1, 0, 0, { 0.3, 0, 0 },
			 12000, 5, 7, picks, 0, 0 };
	(void)state;

	simulate(&s);
	print_message("fast failing share %.3f at 0-10 s, %.3f at 10-60 s\n",
		      share(picks, 0, 2000, 0), share(picks, 2000, 12000, 0));
	assert_true(share(picks, 0, 2000, 0) < 0.2);
	assert_true(share(picks, 2000, 12000, 0) < 0.1);
}

/* The offline version of the routing proof: 200 requests/s for 60 s,
 * node 1 8x slower in the middle third. */
static void test_simulation_slow_middle_third(void **state)
{
	double mean[6];
	(void)state;

	for (size_t k = 0; k < 6; k++) {
		struct sim s = { all_policies[k], { 40, 50, 60 }, 1, 8, 20000, 40000, { 0, 0, 0 },
				 12000, 5, 1234, NULL, 0, 0 };
		simulate(&s);
		mean[k] = s.mean_ms;
		print_message("%-12s mean %.1f ms, p99 %.1f ms\n", aigw_policy_names[all_policies[k]],
			      mean[k], s.p99_ms);
	}
	assert_true(mean[5] < 0.75 * mean[0]);   /* adaptive vs round_robin */
	assert_true(mean[5] <= mean[3]);         /* adaptive vs p2c */
}

/* The same with a milder slowdown (4x) on slower nodes, as in the
 * routing proof's slow-4x mix: at this load the fast nodes hold several
 * requests each, and a rule that only multiplied latency by requests in
 * flight would keep a few percent of the traffic, the p99, on the slow
 * node. Adaptive's p99 stays near peak_ewma's, far below p2c's. */
static void test_simulation_slow_4x(void **state)
{
	static int picks[12000];
	double slow_share[6];
	(void)state;

	for (size_t k = 0; k < 6; k++) {
		struct sim s = { all_policies[k], { 50, 50, 60 }, 0, 4, 20000, 40000, { 0, 0, 0 },
				 12000, 5, 99, picks, 0, 0 };
		simulate(&s);
		/* the spell's requests after the first second of it */
		slow_share[k] = share(picks, 4200, 8000, 0);
		print_message("%-12s 4x: slow node share %.4f, after %.3f, mean %.1f ms\n",
			      aigw_policy_names[all_policies[k]], slow_share[k],
			      share(picks, 9000, 12000, 0), s.mean_ms);
	}
	assert_true(slow_share[5] < 0.01);
	assert_true(slow_share[5] < 0.2 * slow_share[3]); /* adaptive vs p2c */
}

/* What one balancer learned moves to another (a rebuilt route whose nodes
 * are listed in another order): the slow node stays avoided, and nothing
 * counts as in flight on the new one. */
static void test_carry_keeps_learning(void **state)
{
	struct aigw_balancer a, b;
	struct aigw_balance_candidate c[3] = { C(1), C(1), C(1) };
	struct aigw_balance_obs fast = { 20000, 0, false, false, -1 };
	struct aigw_balance_obs slow = { 200000, 0, false, false, -1 };
	int seen[3] = { 0 };
	(void)state;

	aigw_balancer_init(&a, AIGW_POLICY_PEAK_EWMA, 2);
	aigw_balancer_init(&b, AIGW_POLICY_PEAK_EWMA, 3);
	a.node[0].in_flight = 1;
	aigw_balance_observe(&a, 0, &slow, 1000);
	a.node[1].in_flight = 3;
	aigw_balance_observe(&a, 1, &fast, 1000);
	/* new order: 0 is new, 1 was a's 1, 2 was a's 0 */
	aigw_balance_carry(&b, 1, &a, 1);
	aigw_balance_carry(&b, 2, &a, 0);
	aigw_balance_carry(&b, 5, &a, 0); /* out of range: ignored */
	assert_int_equal(b.node[1].in_flight, 0);
	assert_true(b.node[2].measured);
	assert_false(b.node[0].measured);
	for (int k = 0; k < 30; k++) {
		int i = aigw_balance_pick_at(&b, c, 1000);
		seen[i]++;
		aigw_balance_observe(&b, i, i == 2 ? &slow : &fast, 1000);
	}
	assert_int_equal(seen[2], 0);
	assert_true(seen[1] > 0);
	aigw_balancer_release(&a);
	aigw_balancer_release(&b);
}

/* adaptive: a request pending far longer than its node's answers take is
 * evidence before its answer comes: the node is avoided at once. */
static void test_adaptive_pending_age(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_params p;
	struct aigw_balance_candidate c[2] = { C(1), C(1) };
	struct aigw_balance_obs fast = { 20000, 0, false, false, -1 };
	(void)state;

	aigw_balance_params_default(&p);
	p.adaptive_epsilon = 0;
	aigw_balancer_init2(&b, AIGW_POLICY_ADAPTIVE, 2, &p);
	for (int i = 0; i < 2; i++) { /* both answer in 20 ms */
		b.node[i].in_flight++;
		aigw_balance_observe(&b, i, &fast, 900);
	}
	c[1].eligible = false;
	assert_int_equal(aigw_balance_pick_at(&b, c, 1000), 0); /* pending from 1000 */
	c[1].eligible = true;
	c[0].eligible = false;
	assert_int_equal(aigw_balance_pick_at(&b, c, 1190), 1);
	assert_int_equal(aigw_balance_pick_at(&b, c, 1190), 1);
	c[0].eligible = true;
	/* 0: one in flight for 200 ms; 1: two for 10 ms. By in flight and
	 * answers alone 0 would win (20 x 2 < 20 x 3). */
	assert_int_equal(aigw_balance_pick_at(&b, c, 1200), 1);
	/* its answer comes (slow) and ends the pending pick */
	struct aigw_balance_obs slow = { 250000, 0, false, false, -1 };
	aigw_balance_observe(&b, 0, &slow, 1250);
	assert_int_equal(b.node[0].pending_n, 0);
	aigw_balance_release_pick(&b, 1);
	assert_int_equal(b.node[1].pending_n, 2);
	aigw_balancer_release(&b);
}

static void test_prefer_cheap_within_bound(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_params p;
	struct aigw_balance_candidate c[3] = { { 1, true, 10, 0 }, { 1, true, 1, 0 },
					       { 1, true, 0.5, 0 } };
	struct aigw_balance_obs o;
	(void)state;

	aigw_balance_params_default(&p);
	p.prefer_cheap = true;
	p.cheap_explore = 0;
	aigw_balancer_init2(&b, AIGW_POLICY_ROUND_ROBIN, 3, &p);
	o = ok_ms(50);
	aigw_balance_observe(&b, 0, &o, 0);
	o = ok_ms(60);
	aigw_balance_observe(&b, 1, &o, 0);
	o = ok_ms(200);
	aigw_balance_observe(&b, 2, &o, 0);
	/* node 2 is cheapest but too slow; node 1 is within 1.5x */
	for (int i = 0; i < 30; i++) {
		int k = aigw_balance_pick_at(&b, c, 0);
		assert_int_equal(k, 1);
		aigw_balance_release_pick(&b, k);
	}
	/* node 1 slows past the bound: the next cheapest near enough */
	o = ok_ms(100);
	aigw_balance_observe(&b, 1, &o, 0);
	for (int i = 0; i < 30; i++)
		assert_int_equal(aigw_balance_pick_at(&b, c, 0), 0);
	/* costs unknown: no preference */
	c[0].cost = c[1].cost = c[2].cost = -1;
	int seen[3] = { 0 };
	for (int i = 0; i < 30; i++)
		seen[aigw_balance_pick_at(&b, c, 0)]++;
	assert_int_equal(seen[0], 10);
	assert_int_equal(seen[1], 10);
	assert_int_equal(seen[2], 10);
	aigw_balancer_release(&b);

	/* by default 2% of picks ignore the preference (the others' latency
	 * stays known): those go to any node, two in three to a dearer one */
	p.cheap_explore = 0.02;
	aigw_balancer_init2(&b, AIGW_POLICY_ROUND_ROBIN, 3, &p);
	for (int i = 0; i < 3; i++) {
		o = ok_ms(50);
		aigw_balance_observe(&b, i, &o, 0);
	}
	c[0].cost = 10;
	c[1].cost = 1;
	c[2].cost = 5;
	int other = 0;
	for (int i = 0; i < 10000; i++) {
		int k = aigw_balance_pick_at(&b, c, 0);
		other += k != 1;
		aigw_balance_release_pick(&b, k);
	}
	assert_in_range(other, 80, 260);
	aigw_balancer_release(&b);

	/* nodes not measured yet are picked first, the cheapest included */
	p.cheap_explore = 0;
	aigw_balancer_init2(&b, AIGW_POLICY_ROUND_ROBIN, 3, &p);
	int first[3] = { 0 };
	for (int i = 0; i < 3; i++) {
		int k = aigw_balance_pick_at(&b, c, 0);
		first[k]++;
		o = ok_ms(k == 1 ? 300 : 50); /* the cheapest is slow */
		aigw_balance_observe(&b, k, &o, 0);
	}
	assert_true(first[0] == 1 && first[1] == 1 && first[2] == 1);
	for (int i = 0; i < 20; i++)
		assert_int_equal(aigw_balance_pick_at(&b, c, 0), 2); /* cost 5, fast */
	aigw_balancer_release(&b);
}

/* A cheap node measured once in a slow moment is not left out for good:
 * the exploring picks go to any node, not to the one the policy favours,
 * so its estimate is refreshed and it takes the traffic back. */
static void test_prefer_cheap_refreshes_a_stale_estimate(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_params p;
	struct aigw_balance_candidate c[2] = { { 1, true, 250, 0 }, { 1, true, 15, 0 } };
	struct aigw_balance_obs o;
	int cheap_late = 0;
	(void)state;

	aigw_balance_params_default(&p);
	p.prefer_cheap = true;
	aigw_balancer_init2(&b, AIGW_POLICY_PEAK_EWMA, 2, &p);
	o = ok_ms(10);
	aigw_balance_observe(&b, 0, &o, 0);
	o = ok_ms(40); /* one slow answer: past the bound of 1.5x */
	aigw_balance_observe(&b, 1, &o, 0);
	/* a pick every 10 ms for a minute, every answer 10 ms: the 40 ms peak
	 * decays (10 s time constant) within about 20 s of fresh samples */
	for (uint64_t t = 1; t <= 6000; t++) {
		int k = aigw_balance_pick_at(&b, c, t * 10);
		assert_true(k == 0 || k == 1);
		o = ok_ms(10);
		aigw_balance_observe(&b, k, &o, t * 10);
		cheap_late += t > 4000 && k == 1;
	}
	assert_in_range(cheap_late, 1900, 2000);
	aigw_balancer_release(&b);
}

static double slow_start_share(int policy, uint64_t now_ms)
{
	struct aigw_balancer b;
	struct aigw_balance_candidate c[3] = { C(1), C(1), { 1, true, -1, 1000 } };
	struct aigw_balance_obs o = ok_ms(10);
	int seen = 0;

	init_seeded(&b, policy, 3, 9);
	for (int i = 0; i < 3000; i++) {
		int p = aigw_balance_pick_at(&b, c, now_ms);
		seen += p == 2;
		aigw_balance_observe(&b, p, &o, now_ms);
	}
	aigw_balancer_release(&b);
	return seen / 3000.0;
}

static void test_slow_start_ramp(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof(all_policies) / sizeof(all_policies[0]); k++) {
		int policy = all_policies[k];
		double s0 = slow_start_share(policy, 1000);
		double s50 = slow_start_share(policy, 1000 + 15000);
		double s100 = slow_start_share(policy, 1000 + 30000);
		print_message("%-12s slow start shares %.3f %.3f %.3f\n", aigw_policy_names[policy],
			      s0, s50, s100);
		assert_true(s0 == 0);
		assert_true(s50 > 0.08 && s50 < 0.25);
		assert_true(s100 > 0.28 && s100 < 0.39);
	}
	/* a clock behind since_ms (the former interface) means no slow start */
	assert_true(slow_start_share(AIGW_POLICY_ROUND_ROBIN, 0) > 0.33);
}

static void test_explain_slow_start(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_candidate c[2] = { C(1), { 1, true, -1, 1000 } };
	double score[2];
	const char *why[2];
	(void)state;

	aigw_balancer_init(&b, AIGW_POLICY_ADAPTIVE, 2);
	aigw_balance_explain(&b, c, 2000, score, why);
	assert_non_null(strstr(why[1], "slow start"));
	assert_non_null(strstr(why[0], "evidence"));
	assert_true(score[0] > 0);
	aigw_balancer_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_robin_cycles_and_skips),
		cmocka_unit_test(test_weighted_exact_shares_interleaved),
		cmocka_unit_test(test_weighted_skips_ineligible),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_ineligible_never_picked),
		cmocka_unit_test(test_least_conn_uneven),
		cmocka_unit_test(test_p2c_shares),
		cmocka_unit_test(test_peak_ewma_peak_and_decay),
		cmocka_unit_test(test_failure_penalty),
		cmocka_unit_test(test_penalty_does_not_compound),
		cmocka_unit_test(test_adaptive_learns_and_recovers),
		cmocka_unit_test(test_adaptive_avoids_failing),
		cmocka_unit_test(test_adaptive_avoids_fast_failing),
		cmocka_unit_test(test_simulation_slow_4x),
		cmocka_unit_test(test_simulation_slow_middle_third),
		cmocka_unit_test(test_prefer_cheap_within_bound),
		cmocka_unit_test(test_prefer_cheap_refreshes_a_stale_estimate),
		cmocka_unit_test(test_carry_keeps_learning),
		cmocka_unit_test(test_adaptive_pending_age),
		cmocka_unit_test(test_slow_start_ramp),
		cmocka_unit_test(test_explain_slow_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
