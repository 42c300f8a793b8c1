/* balance: see balance.h. */
#include "balance.h"

#include <stdlib.h>

#include "mem.h"
#include "route.h"

void aigw_balancer_init(struct aigw_balancer *b, int policy, size_t n)
{
	b->policy = policy;
	b->n = n;
	b->next = 0;
	b->current = policy == AIGW_POLICY_WEIGHTED ? aigw_calloc(n ? n : 1, sizeof(int64_t))
						    : NULL;
}

void aigw_balancer_release(struct aigw_balancer *b)
{
	free(b->current);
	b->current = NULL;
	b->n = 0;
}

static int pick_round_robin(struct aigw_balancer *b, const struct aigw_balance_candidate *c)
{
	for (size_t tries = 0; tries < b->n; tries++) {
		size_t i = (size_t)(b->next++ % b->n);
		if (c[i].eligible)
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
		if (!c[i].eligible)
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

int aigw_balance_pick(struct aigw_balancer *b, const struct aigw_balance_candidate *c)
{
	if (b->n == 0)
		return -1;
	if (b->policy == AIGW_POLICY_WEIGHTED)
		return pick_weighted(b, c);
	return pick_round_robin(b, c);
}
