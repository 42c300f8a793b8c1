/* balance: picks a node for a request among a route's candidates.
 *
 * One interface for every policy (DESIGN: select, observe): a balancer is
 * per route and per worker thread, so picking needs no locks. This issue
 * has round_robin and weighted (smooth weighted round robin: over any run
 * of sum-of-weights picks each node gets exactly its weight, interleaved
 * rather than in bursts). The adaptive policies of the routing work add
 * the other half of the interface, observing each answer. */
#ifndef AIGW_BALANCE_H
#define AIGW_BALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aigw_balance_candidate {
	int64_t weight;   /* >= 1 */
	bool eligible;    /* false: skip (disabled, draining, excluded by a retry) */
};

struct aigw_balancer {
	int policy;          /* enum aigw_policy */
	size_t n;
	uint64_t next;       /* round_robin position */
	int64_t *current;    /* weighted: running scores, one per candidate */
};

/* n is the number of candidates the route has; policy from route.h. */
void aigw_balancer_init(struct aigw_balancer *b, int policy, size_t n);
void aigw_balancer_release(struct aigw_balancer *b);
/* Index of the chosen candidate, or -1 when none is eligible. c has b->n
 * entries. */
int aigw_balance_pick(struct aigw_balancer *b, const struct aigw_balance_candidate *c);

#endif
