/* balance: see balance.h. */
#include "balance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "rand.h"
#include "route.h"

#define DEFAULT_SEED 0x9e3779b97f4a7c15ULL

void aigw_balance_params_default(struct aigw_balance_params *p)
{
	memset(p, 0, sizeof(*p));
	p->slow_start_ms = 30000;
	p->ewma_tau_ms = 10000;
	p->failure_penalty_ms = 1000;
	p->failure_penalty_factor = 2;
	p->default_latency_ms = 100;
	p->adaptive_tau_ms = 2000;
	p->adaptive_epsilon = 0.01;
	p->adaptive_prior = 0.1;
	p->adaptive_ttfb_weight = 0.5;
	p->adaptive_error_weight = 8;
	p->adaptive_rate_limit_weight = 8;
	p->adaptive_cost_weight = 0;
	p->prefer_cheap = false;
	p->cheap_latency_bound = 1.5;
	p->cheap_explore = 0.02;
	p->seed = 0;
}

void aigw_balancer_init2(struct aigw_balancer *b, int policy, size_t n,
			 const struct aigw_balance_params *p)
{
	b->policy = policy;
	b->n = n;
	b->next = 0;
	b->current = policy == AIGW_POLICY_WEIGHTED ? aigw_calloc(n ? n : 1, sizeof(int64_t))
						    : NULL;
	b->node = aigw_calloc(n ? n : 1, sizeof(*b->node));
	b->take_part = aigw_calloc(n ? n : 1, sizeof(*b->take_part));
	if (p)
		b->params = *p;
	else
		aigw_balance_params_default(&b->params);
	b->rng = b->params.seed ? b->params.seed : DEFAULT_SEED;
}

void aigw_balancer_init(struct aigw_balancer *b, int policy, size_t n)
{
	aigw_balancer_init2(b, policy, n, NULL);
}

void aigw_balancer_release(struct aigw_balancer *b)
{
	free(b->current);
	free(b->node);
	free(b->take_part);
	b->current = NULL;
	b->node = NULL;
	b->take_part = NULL;
	b->n = 0;
}

void aigw_balance_carry(struct aigw_balancer *to, size_t i, const struct aigw_balancer *from,
			size_t j)
{
	if (i >= to->n || j >= from->n)
		return;
	to->node[i] = from->node[j];
	to->node[i].in_flight = 0;
	to->node[i].pending_n = 0;
	to->node[i].pending_sum_ms = 0;
}

/* ---- estimates shared by the policies ---- */

/* Uniform in [0, 1). */
static double rand_unit(struct aigw_balancer *b)
{
	return (double)(aigw_rand_xorshift64(&b->rng) >> 11) * (1.0 / 9007199254740992.0);
}

/* Share of its normal traffic a candidate in slow start may take: 1 when
 * it is not in slow start (or the clock runs behind since_ms, as with the
 * former interface's now 0). */
static double ramp(const struct aigw_balancer *b, const struct aigw_balance_candidate *c,
		   uint64_t now_ms)
{
	uint64_t window = b->params.slow_start_ms;
	if (!window || !c->since_ms || now_ms < c->since_ms || now_ms - c->since_ms >= window)
		return 1;
	return (double)(now_ms - c->since_ms) / (double)window;
}

/* The peak EWMA, or for a candidate nobody measured the mean of those
 * measured (the default when none is), so it gets tried. */
static double ewma_estimate(const struct aigw_balancer *b, size_t i)
{
	double sum = 0;
	size_t k = 0;

	if (b->node[i].measured)
		return b->node[i].ewma_us;
	for (size_t j = 0; j < b->n; j++) {
		if (b->node[j].measured) {
			sum += b->node[j].ewma_us;
			k++;
		}
	}
	return k ? sum / (double)k : b->params.default_latency_ms * 1000;
}

static double adaptive_decay(const struct aigw_balancer *b, const struct aigw_balance_node *nd,
			     uint64_t now_ms)
{
	if (now_ms <= nd->adapt_ms || b->params.adaptive_tau_ms <= 0)
		return 1;
	return exp(-(double)(now_ms - nd->adapt_ms) / b->params.adaptive_tau_ms);
}

static void adaptive_scale(struct aigw_balance_node *nd, double f)
{
	nd->sum_weight *= f;
	nd->sum_latency_us *= f;
	nd->sum_failed *= f;
	nd->sum_limited *= f;
	nd->sum_ok_weight *= f;
	nd->sum_ok_latency_us *= f;
	nd->sum_cost_weight *= f;
	nd->sum_cost *= f;
}

static void adaptive_age(const struct aigw_balancer *b, struct aigw_balance_node *nd,
			 uint64_t now_ms)
{
	adaptive_scale(nd, adaptive_decay(b, nd, now_ms));
	if (now_ms > nd->adapt_ms)
		nd->adapt_ms = now_ms;
}

/* Plain discounted mean latency; false when there is no evidence left. */
static bool adaptive_mean(const struct aigw_balance_node *nd, double *mean)
{
	if (nd->sum_weight < 1e-9)
		return false;
	*mean = nd->sum_latency_us / nd->sum_weight;
	return true;
}

/* The adaptive score of every taking-part candidate (lower is better),
 * into score[]. Shrinking each estimate toward the best one by the prior
 * is the optimism that retries a node whose evidence has faded. */
static void adaptive_scores(const struct aigw_balancer *b,
			    const bool *take_part, uint64_t now_ms, double *score)
{
	const struct aigw_balance_params *p = &b->params;
	double best = -1, cost_sum = 0, mean;
	size_t cost_k = 0;

	for (size_t i = 0; i < b->n; i++) {
		const struct aigw_balance_node *nd = &b->node[i];
		if (take_part[i] && adaptive_mean(nd, &mean) && (best < 0 || mean < best))
			best = mean;
		if (take_part[i] && nd->sum_cost_weight > 1e-9) {
			cost_sum += nd->sum_cost / nd->sum_cost_weight;
			cost_k++;
		}
	}
	if (best < 0)
		best = p->default_latency_ms * 1000;
	for (size_t i = 0; i < b->n; i++) {
		const struct aigw_balance_node *nd = &b->node[i];
		double f = adaptive_decay(b, nd, now_ms), weight = nd->sum_weight * f;
		double est, failed, limited, s;

		if (!take_part[i])
			continue;
		est = (nd->sum_latency_us * f + p->adaptive_prior * best) / (weight + p->adaptive_prior);
		if (nd->pending_n && now_ms) {
			double age_us = ((double)now_ms - nd->pending_sum_ms / nd->pending_n) * 1000;
			if (2 * age_us > est)
				est = 2 * age_us;
		}
		failed = nd->sum_failed * f / (weight + p->adaptive_prior);
		limited = nd->sum_limited * f / (weight + p->adaptive_prior);
		s = est * (est / best) * ((double)nd->in_flight + 1) *
		    (1 + p->adaptive_error_weight * failed + p->adaptive_rate_limit_weight * limited);
		if (p->adaptive_cost_weight > 0 && cost_k && cost_sum > 0 && nd->sum_cost_weight > 1e-9)
			s *= 1 + p->adaptive_cost_weight * (nd->sum_cost / nd->sum_cost_weight) /
					 (cost_sum / (double)cost_k);
		score[i] = s;
	}
}

/* ---- choosing who takes part ---- */

/* Eligible candidates, thinned by slow start and by the cost preference;
 * false when none is eligible. */
static bool choose_takers(struct aigw_balancer *b, const struct aigw_balance_candidate *c,
			  uint64_t now_ms)
{
	bool *take = b->take_part, any = false, any_eligible = false;
	double best = -1, cheapest = -1;

	for (size_t i = 0; i < b->n; i++) {
		double r = c[i].eligible ? ramp(b, &c[i], now_ms) : 0;
		any_eligible |= c[i].eligible;
		take[i] = c[i].eligible && (r >= 1 || rand_unit(b) < r);
		any |= take[i];
	}
	if (!any_eligible)
		return false;
	if (!any)
		for (size_t i = 0; i < b->n; i++)
			take[i] = c[i].eligible;
	if (!b->params.prefer_cheap)
		return true;
	/* a few picks ignore the preference and go to any candidate at
	 * random, so that every latency the bound is judged on stays fresh
	 * (left to the policy they would go to the node that already looks
	 * fastest, and a cheap node once slow would never be measured again) */
	if (rand_unit(b) < b->params.cheap_explore) {
		size_t n = 0, k;
		for (size_t i = 0; i < b->n; i++)
			n += take[i];
		k = (size_t)(rand_unit(b) * (double)n);
		for (size_t i = 0, seen = 0; i < b->n; i++)
			if (take[i])
				take[i] = seen++ == k;
		return true;
	}
	/* the bound needs every latency: candidates not measured yet are
	 * tried first (the policy picks among them) */
	for (size_t i = 0; i < b->n; i++) {
		if (take[i] && !b->node[i].measured) {
			for (size_t j = 0; j < b->n; j++)
				take[j] = take[j] && !b->node[j].measured;
			return true;
		}
		if (take[i] && (best < 0 || b->node[i].ewma_us < best))
			best = b->node[i].ewma_us;
	}
	for (size_t i = 0; i < b->n; i++) {
		bool near = best < 0 || b->node[i].ewma_us <= best * b->params.cheap_latency_bound;
		if (take[i] && near && c[i].cost >= 0 && (cheapest < 0 || c[i].cost < cheapest))
			cheapest = c[i].cost;
	}
	if (cheapest < 0)
		return true; /* no known cost among the fast enough: no preference */
	for (size_t i = 0; i < b->n; i++) {
		bool near = best < 0 || b->node[i].ewma_us <= best * b->params.cheap_latency_bound;
		take[i] = take[i] && near && c[i].cost >= 0 && c[i].cost <= cheapest;
	}
	return true;
}

/* ---- the policies, each over b->take_part ---- */

static int pick_round_robin(struct aigw_balancer *b)
{
	for (size_t tries = 0; tries < b->n; tries++) {
		size_t i = (size_t)(b->next++ % b->n);
		if (b->take_part[i])
			return (int)i;
	}
	return -1;
}

/* Smooth weighted round robin: every eligible candidate's score grows by
 * its weight, the highest score wins and pays back the total. Scores of
 * ineligible candidates stand still, so a node that comes back does not
 * receive a burst of catch-up traffic. */
static int pick_weighted(struct aigw_balancer *b, const struct aigw_balance_candidate *c)
{
	int64_t total = 0;
	int best = -1;

	for (size_t i = 0; i < b->n; i++) {
		if (!b->take_part[i])
			continue;
		b->current[i] += c[i].weight;
		total += c[i].weight;
		if (best < 0 || b->current[i] > b->current[best])
			best = (int)i;
	}
	if (best >= 0)
		b->current[best] -= total;
	return best;
}

static int pick_least_conn(struct aigw_balancer *b, const struct aigw_balance_candidate *c)
{
	size_t start = (size_t)(b->next++ % b->n);
	int best = -1;

	for (size_t k = 0; k < b->n; k++) {
		size_t i = (start + k) % b->n;
		if (!b->take_part[i])
			continue;
		if (best < 0 || b->node[i].in_flight < b->node[best].in_flight ||
		    (b->node[i].in_flight == b->node[best].in_flight && c[i].weight > c[best].weight))
			best = (int)i;
	}
	return best;
}

/* The k-th (from 0) taking-part candidate. */
static int nth_taker(const struct aigw_balancer *b, size_t k)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->take_part[i] && k-- == 0)
			return (int)i;
	return -1;
}

static size_t count_takers(const struct aigw_balancer *b)
{
	size_t m = 0;
	for (size_t i = 0; i < b->n; i++)
		m += b->take_part[i];
	return m;
}

static int pick_p2c(struct aigw_balancer *b, const struct aigw_balance_candidate *c)
{
	size_t m = count_takers(b), x, y;
	int first, second;

	if (m <= 1)
		return m ? nth_taker(b, 0) : -1;
	x = (size_t)(aigw_rand_xorshift64(&b->rng) % m);
	y = (size_t)(aigw_rand_xorshift64(&b->rng) % (m - 1));
	if (y >= x)
		y++;
	first = nth_taker(b, x);
	second = nth_taker(b, y);
	if (b->node[second].in_flight < b->node[first].in_flight ||
	    (b->node[second].in_flight == b->node[first].in_flight &&
	     c[second].weight > c[first].weight))
		return second;
	return first;
}

/* Lowest score among the takers; ties go round robin. */
static int lowest(struct aigw_balancer *b, const double *score)
{
	size_t start = (size_t)(b->next++ % b->n);
	int best = -1;

	for (size_t k = 0; k < b->n; k++) {
		size_t i = (start + k) % b->n;
		if (b->take_part[i] && (best < 0 || score[i] < score[best]))
			best = (int)i;
	}
	return best;
}

static int pick_scored(struct aigw_balancer *b, uint64_t now_ms)
{
	double stack[16], *score = b->n <= 16 ? stack : aigw_calloc(b->n, sizeof(double));
	int best;

	if (b->policy == AIGW_POLICY_ADAPTIVE) {
		if (rand_unit(b) < b->params.adaptive_epsilon) {
			best = nth_taker(b, (size_t)(aigw_rand_xorshift64(&b->rng) % count_takers(b)));
			goto out;
		}
		adaptive_scores(b, b->take_part, now_ms, score);
	} else {
		for (size_t i = 0; i < b->n; i++)
			score[i] = ewma_estimate(b, i) * ((double)b->node[i].in_flight + 1);
	}
	best = lowest(b, score);
out:
	if (score != stack)
		free(score);
	return best;
}

int aigw_balance_pick_at(struct aigw_balancer *b, const struct aigw_balance_candidate *c,
			 uint64_t now_ms)
{
	int i;

	if (b->n == 0 || !c || !choose_takers(b, c, now_ms))
		return -1;
	switch (b->policy) {
	case AIGW_POLICY_WEIGHTED:
		i = pick_weighted(b, c);
		break;
	case AIGW_POLICY_LEAST_CONN:
		i = pick_least_conn(b, c);
		break;
	case AIGW_POLICY_P2C:
		i = pick_p2c(b, c);
		break;
	case AIGW_POLICY_PEAK_EWMA:
	case AIGW_POLICY_ADAPTIVE:
		i = pick_scored(b, now_ms);
		break;
	default:
		i = pick_round_robin(b);
		break;
	}
	if (i >= 0) {
		b->node[i].in_flight++;
		if (now_ms) {
			b->node[i].pending_n++;
			b->node[i].pending_sum_ms += (double)now_ms;
		}
	}
	return i;
}

int aigw_balance_pick(struct aigw_balancer *b, const struct aigw_balance_candidate *c)
{
	return aigw_balance_pick_at(b, c, 0);
}

/* ---- observing ---- */

/* One pending pick ends; started_ms < 0: unknown (the mean is taken). */
static void pending_end(struct aigw_balance_node *nd, double started_ms)
{
	if (!nd->pending_n)
		return;
	if (started_ms < 0 || nd->pending_n == 1)
		started_ms = nd->pending_sum_ms / nd->pending_n;
	nd->pending_n--;
	nd->pending_sum_ms -= started_ms;
	if (!nd->pending_n || nd->pending_sum_ms < 0)
		nd->pending_sum_ms = 0;
}

void aigw_balance_release_pick(struct aigw_balancer *b, int idx)
{
	if (idx < 0 || (size_t)idx >= b->n)
		return;
	if (b->node[idx].in_flight)
		b->node[idx].in_flight--;
	pending_end(&b->node[idx], -1);
}

/* Adopts a higher sample at once, decays toward a lower one with time
 * constant tau. */
static void peak_update(double *ewma, uint64_t *at_ms, bool *measured, double sample,
			uint64_t now_ms, double tau_ms)
{
	if (!*measured || sample >= *ewma) {
		*ewma = sample;
	} else {
		double dt = now_ms > *at_ms ? (double)(now_ms - *at_ms) : 0;
		double keep = tau_ms > 0 ? exp(-dt / tau_ms) : 0;
		*ewma = *ewma * keep + sample * (1 - keep);
	}
	*measured = true;
	if (now_ms > *at_ms)
		*at_ms = now_ms;
}

/* What a failure (or a 429) counts as: never less than
 * failure_penalty_factor times ok_us, the node's estimate over its
 * successful answers (0: none yet), nor than failure_penalty_ms, so that
 * failing fast earns nothing and failures do not compound. */
static double failure_sample(const struct aigw_balance_params *p, double sample, double ok_us)
{
	double penalty = ok_us * p->failure_penalty_factor;

	if (penalty < p->failure_penalty_ms * 1000)
		penalty = p->failure_penalty_ms * 1000;
	return sample < penalty ? penalty : sample;
}

static void observe_ewma(struct aigw_balancer *b, struct aigw_balance_node *nd,
			 const struct aigw_balance_obs *o, uint64_t now_ms)
{
	const struct aigw_balance_params *p = &b->params;
	double sample = (double)o->latency_us;

	if (o->failed || o->rate_limited) {
		sample = failure_sample(p, sample, nd->ok_measured ? nd->ok_ewma_us : 0);
	} else {
		peak_update(&nd->ok_ewma_us, &nd->ok_ewma_ms, &nd->ok_measured, sample, now_ms,
			    p->ewma_tau_ms);
	}
	peak_update(&nd->ewma_us, &nd->ewma_ms, &nd->measured, sample, now_ms, p->ewma_tau_ms);
}

static void observe_adaptive(struct aigw_balancer *b, struct aigw_balance_node *nd,
			     const struct aigw_balance_obs *o, uint64_t now_ms)
{
	const struct aigw_balance_params *p = &b->params;
	double sample = (double)o->latency_us;

	if (o->ttfb_us)
		sample = p->adaptive_ttfb_weight * (double)o->ttfb_us +
			 (1 - p->adaptive_ttfb_weight) * (double)o->latency_us;
	adaptive_age(b, nd, now_ms);
	if (o->failed || o->rate_limited) {
		sample = failure_sample(p, sample, nd->sum_ok_weight > 1e-9
							   ? nd->sum_ok_latency_us / nd->sum_ok_weight
							   : 0);
	} else {
		double mean;
		/* an answer over twice the mean says the node changed: older
		 * evidence is cut to a few answers' worth, so a node that turns
		 * slow loses its traffic within an answer or two instead of
		 * waiting for the old evidence to fade */
		if (adaptive_mean(nd, &mean) && sample > AIGW_ADAPTIVE_SHIFT * mean &&
		    nd->sum_weight > AIGW_ADAPTIVE_SHIFT_KEEP)
			adaptive_scale(nd, AIGW_ADAPTIVE_SHIFT_KEEP / nd->sum_weight);
		nd->sum_ok_weight += 1;
		nd->sum_ok_latency_us += sample;
	}
	nd->sum_weight += 1;
	nd->sum_latency_us += sample;
	nd->sum_failed += o->failed;
	nd->sum_limited += o->rate_limited;
	if (o->cost >= 0) {
		nd->sum_cost_weight += 1;
		nd->sum_cost += o->cost;
	}
}

void aigw_balance_observe(struct aigw_balancer *b, int idx, const struct aigw_balance_obs *o,
			  uint64_t now_ms)
{
	struct aigw_balance_node *nd;

	if (idx < 0 || (size_t)idx >= b->n || !o)
		return;
	nd = &b->node[idx];
	if (nd->in_flight)
		nd->in_flight--;
	pending_end(nd, (double)now_ms - (double)o->latency_us / 1000);
	observe_ewma(b, nd, o, now_ms);
	if (b->policy == AIGW_POLICY_ADAPTIVE)
		observe_adaptive(b, nd, o, now_ms);
}

/* ---- explaining ---- */

void aigw_balance_explain(const struct aigw_balancer *b, const struct aigw_balance_candidate *c,
			  uint64_t now_ms, double *score, const char **why)
{
	double stack[16], *adaptive = NULL;
	bool stack_take[16], *take = NULL;

	if (b->policy == AIGW_POLICY_ADAPTIVE && b->n) {
		adaptive = b->n <= 16 ? stack : aigw_calloc(b->n, sizeof(double));
		take = b->n <= 16 ? stack_take : aigw_calloc(b->n, sizeof(bool));
		for (size_t i = 0; i < b->n; i++)
			take[i] = c[i].eligible;
		adaptive_scores(b, take, now_ms, adaptive);
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct aigw_balance_node *nd = &b->node[i];
		switch (b->policy) {
		case AIGW_POLICY_WEIGHTED:
			score[i] = (double)c[i].weight;
			why[i] = "weight (smooth weighted round robin)";
			break;
		case AIGW_POLICY_LEAST_CONN:
			score[i] = nd->in_flight;
			why[i] = "requests in flight";
			break;
		case AIGW_POLICY_P2C:
			score[i] = nd->in_flight;
			why[i] = "requests in flight, compared between two random candidates";
			break;
		case AIGW_POLICY_PEAK_EWMA:
			score[i] = ewma_estimate(b, i) * ((double)nd->in_flight + 1) / 1000;
			why[i] = nd->measured ? "peak latency estimate x (in flight + 1)"
					      : "unmeasured: mean latency of the others x (in flight + 1)";
			break;
		case AIGW_POLICY_ADAPTIVE:
			score[i] = c[i].eligible ? adaptive[i] / 1000 : 0;
			why[i] = nd->sum_weight * adaptive_decay(b, nd, now_ms) < b->params.adaptive_prior
					 ? "little recent evidence: estimated near the best, to be tried"
					 : "discounted latency x (in flight + 1) x error and 429 rates";
			break;
		default:
			score[i] = (double)c[i].weight;
			why[i] = "round robin";
			break;
		}
		if (!c[i].eligible)
			why[i] = "not eligible";
		else if (ramp(b, &c[i], now_ms) < 1)
			why[i] = "slow start: takes part in a share of the picks";
	}
	if (adaptive && adaptive != stack)
		free(adaptive);
	if (take && take != stack_take)
		free(take);
}
