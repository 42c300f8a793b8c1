/* balance: picks a node for a request among a route's candidates.
 *
 * One interface for every policy (DESIGN: select, observe): pick a
 * candidate (it counts as in flight), then observe how its answer went
 * (or release the pick when the request never reached the node). A
 * balancer is per route and per worker thread, so picking needs no locks;
 * the price is that each worker sees only its own traffic: in-flight
 * counts and latency estimates are those of the worker's own requests,
 * and with W workers each learns from about 1/W of the answers.
 *
 * Policies (enum aigw_policy in route.h):
 *   round_robin  each eligible candidate in turn.
 *   weighted     smooth weighted round robin: over any run of
 *                sum-of-weights picks each node gets exactly its weight,
 *                interleaved rather than in bursts.
 *   least_conn   fewest requests in flight; ties go to the higher
 *                weight, then round robin.
 *   p2c          power of two choices: two distinct eligible candidates
 *                drawn at random (seeded xorshift64), the one with fewer
 *                in flight wins (ties: higher weight, then the first drawn).
 *   peak_ewma    score = latency estimate * (in flight + 1), lowest wins
 *                (ties: round robin). The estimate adopts a higher sample
 *                at once and decays toward lower ones with time constant
 *                ewma_tau_ms: est += (1 - exp(-dt / tau)) * (sample - est),
 *                dt the time since the previous sample. A failure (connect
 *                error, 5xx, 429) is observed as the penalty latency
 *                max(ok * failure_penalty_factor, failure_penalty_ms),
 *                ok the same estimate over successful answers only (so
 *                repeated failures do not compound), and fast 503s and
 *                429s do not look attractive. A candidate
 *                nobody measured yet gets the mean of the measured ones
 *                (default_latency_ms when none is), so it is tried.
 *   adaptive     a Prequal-like rule over discounted evidence, with
 *                optimism. Per candidate the balancer keeps time-discounted
 *                sums (every weight decays by exp(-dt / adaptive_tau_ms)) of
 *                answers, a latency sample (adaptive_ttfb_weight * time to
 *                first byte + the rest * total latency; a failure's
 *                sample is the penalty max(ok * failure_penalty_factor,
 *                failure_penalty_ms), ok the discounted mean over
 *                successful answers only, so failing fast earns nothing:
 *                a failure costs the client a retry and the route a token
 *                of its retry budget), failures, 429s and cost. A
 *                successful answer over AIGW_ADAPTIVE_SHIFT times the
 *                node's mean says it changed: the older evidence is cut to
 *                AIGW_ADAPTIVE_SHIFT_KEEP answers' worth, so a node turning
 *                slow loses its traffic after an answer or two instead of
 *                once the faster past has faded. The latency
 *                estimate shrinks toward the best candidate's by a prior of
 *                adaptive_prior answers:
 *                  est = (sum_latency + prior * best) / (sum_weight + prior)
 *                so a node whose evidence has faded (it got little traffic
 *                for several time constants) looks nearly as good as the
 *                best and is tried again: that is how a recovered node is
 *                noticed, besides adaptive_epsilon of picks going to a
 *                uniformly random eligible candidate. The score, lowest
 *                wins, is
 *                  est * (est / best) * (in flight + 1)
 *                    * (1 + adaptive_error_weight * failure rate
 *                         + adaptive_rate_limit_weight * 429 rate)
 *                    * (1 + adaptive_cost_weight * cost / mean cost)
 *                (the cost factor only when answers carried a cost).
 *                Latency counts twice (est^2, in units of ms through the
 *                division by best): with in flight alone as the other
 *                factor, fast nodes that hold a few requests each would
 *                hand a node four times slower a few percent of the
 *                traffic, enough to be the p99.
 *
 * For every policy:
 *   slow start   a candidate whose since_ms lies within slow_start_ms of
 *                now takes part in a pick only with probability
 *                (now - since_ms) / slow_start_ms, so its share ramps up
 *                linearly over the window; when that leaves no candidate,
 *                the eligible ones all take part.
 *   prefer_cheap among the eligible candidates whose latency estimate (the
 *                peak EWMA, kept for every policy) is at most
 *                cheap_latency_bound times the best estimate, only the
 *                cheapest known cost (cost >= 0) takes part; the policy
 *                then picks among those. Candidates not measured yet are
 *                picked first (among them, by the policy), so that every
 *                latency is known.
 *                cheap_explore of the picks ignore the preference, so the
 *                estimates of the dearer nodes stay current.
 *
 * Parameters and their defaults (aigw_balance_params_default):
 *   slow_start_ms 30000, ewma_tau_ms 10000, failure_penalty_ms 1000,
 *   failure_penalty_factor 2, default_latency_ms 100,
 *   adaptive_tau_ms 2000, adaptive_epsilon 0.01, adaptive_prior 0.1,
 *   adaptive_ttfb_weight 0.5, adaptive_error_weight 8,
 *   adaptive_rate_limit_weight 8, adaptive_cost_weight 0,
 *   prefer_cheap false, cheap_latency_bound 1.5, cheap_explore 0.02,
 *   seed 0 (a fixed seed). */
#ifndef AIGW_BALANCE_H
#define AIGW_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* adaptive: a successful answer over AIGW_ADAPTIVE_SHIFT times a node's
 * mean cuts its older evidence to AIGW_ADAPTIVE_SHIFT_KEEP answers. */
#define AIGW_ADAPTIVE_SHIFT 2.0
#define AIGW_ADAPTIVE_SHIFT_KEEP 4.0

struct aigw_balance_candidate {
	int64_t weight;    /* >= 1 */
	bool eligible;     /* false: skip (disabled, draining, excluded by a retry) */
	double cost;       /* USD per million tokens; < 0 unknown */
	uint64_t since_ms; /* when it joined or recovered (clock of now_ms); 0: long ago */
};

struct aigw_balance_params {
	uint64_t slow_start_ms;            /* ramp window; 0: no slow start */
	double ewma_tau_ms;                /* peak EWMA decay time constant */
	double failure_penalty_ms;         /* least latency a failure counts as */
	double failure_penalty_factor;     /* a failure counts as est * this at least */
	double default_latency_ms;         /* estimate when no candidate is measured */
	double adaptive_tau_ms;            /* adaptive: evidence decay time constant */
	double adaptive_epsilon;           /* adaptive: share of random picks (0..1) */
	double adaptive_prior;             /* adaptive: pull toward the best, in answers */
	double adaptive_ttfb_weight;       /* adaptive: share of TTFB in a sample (0..1) */
	double adaptive_error_weight;      /* adaptive: score factor per failure rate */
	double adaptive_rate_limit_weight; /* adaptive: score factor per 429 rate */
	double adaptive_cost_weight;       /* adaptive: score factor per relative cost */
	bool prefer_cheap;                 /* pick the cheapest among the fast enough */
	double cheap_latency_bound;        /* "fast enough": est <= best * this */
	double cheap_explore;              /* share of picks without the preference */
	uint64_t seed;                     /* random picks; 0: a fixed default */
};

/* What the balancer knows of one candidate. */
struct aigw_balance_node {
	uint32_t in_flight;
	bool measured;      /* peak EWMA has a sample */
	double ewma_us;     /* peak EWMA of latency, failures as penalties */
	uint64_t ewma_ms;   /* time of its last sample */
	bool ok_measured;   /* the same over successful answers only, */
	double ok_ewma_us;  /* which the failure penalty is a multiple of */
	uint64_t ok_ewma_ms;
	/* picks in flight made with a clock: their number and the sum of
	 * their pick times (ms), for the mean age of what is pending */
	uint32_t pending_n;
	double pending_sum_ms;
	/* adaptive: time-discounted sums, as of adapt_ms */
	uint64_t adapt_ms;
	double sum_weight, sum_latency_us, sum_failed, sum_limited, sum_cost_weight, sum_cost;
	double sum_ok_weight, sum_ok_latency_us; /* successful answers only */
};

struct aigw_balancer {
	int policy;          /* enum aigw_policy */
	size_t n;
	uint64_t next;       /* round robin position (also tie breaks) */
	int64_t *current;    /* weighted: running scores, one per candidate */
	struct aigw_balance_node *node; /* one per candidate */
	bool *take_part;     /* scratch: candidates taking part in this pick */
	uint64_t rng;        /* xorshift64 state, never 0 */
	struct aigw_balance_params params;
};

void aigw_balance_params_default(struct aigw_balance_params *p);
/* n is the number of candidates the route has; policy from route.h; p
 * NULL for the defaults. */
void aigw_balancer_init2(struct aigw_balancer *b, int policy, size_t n,
			 const struct aigw_balance_params *p);
/* The same with the default parameters. */
void aigw_balancer_init(struct aigw_balancer *b, int policy, size_t n);
void aigw_balancer_release(struct aigw_balancer *b);

/* What the balancer from learned of its candidate j becomes what to knows
 * of its candidate i (estimates, sums and their clocks; not the requests in
 * flight, which end on the balancer they started on). For a rebuilt route
 * whose nodes stay: the learning survives a configuration change. */
void aigw_balance_carry(struct aigw_balancer *to, size_t i, const struct aigw_balancer *from,
			size_t j);

/* Index of the chosen candidate, or -1 when none is eligible; the pick
 * counts as in flight until observed or released. c has b->n entries;
 * now_ms is a monotonic clock in milliseconds (the one since_ms uses). */
int aigw_balance_pick_at(struct aigw_balancer *b, const struct aigw_balance_candidate *c,
			 uint64_t now_ms);
/* The former interface: aigw_balance_pick_at with now_ms 0 (no slow start,
 * no time decay between picks). */
int aigw_balance_pick(struct aigw_balancer *b, const struct aigw_balance_candidate *c);

/* How a picked request went. latency_us: until the answer ended (or
 * failed); ttfb_us: until its first byte, 0 unknown; failed: connect
 * error, timeout or 5xx; rate_limited: 429; cost: what the answer cost
 * (any unit, the same for every answer of the route), < 0 unknown. */
struct aigw_balance_obs {
	uint64_t latency_us, ttfb_us;
	bool failed;
	bool rate_limited;
	double cost;
};

/* Ends the in-flight pick idx and learns from it. An idx out of range is
 * ignored. */
void aigw_balance_observe(struct aigw_balancer *b, int idx, const struct aigw_balance_obs *o,
			  uint64_t now_ms);
/* A pick that never reached the node (aborted before sending): in flight
 * -1, nothing learned. */
void aigw_balance_release_pick(struct aigw_balancer *b, int idx);

/* For explanations (aigw route test, nodes list): per candidate (score and
 * why have b->n entries) its current score under the policy and a short
 * static reason. Scores: round_robin and weighted the weight (higher is
 * better); the others lower is better: least_conn and p2c the requests in
 * flight, peak_ewma and adaptive the score above in milliseconds. A
 * candidate in slow start or not eligible says so in why. */
void aigw_balance_explain(const struct aigw_balancer *b, const struct aigw_balance_candidate *c,
			  uint64_t now_ms, double *score, const char **why);

#endif
