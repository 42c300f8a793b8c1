/* live: the rows of node_live (store.h) that `aigw serve` publishes about
 * once a second, so the CLI (another process) can show what the gateway
 * knows of each node now: health state, requests in flight, the latency
 * estimate and the share of traffic.
 *
 * Share of traffic: the picks of each node (health.h counts them over
 * every worker) are weighted by age, each publish decaying what came
 * before by exp(-dt / AIGW_LIVE_SHARE_TAU_MS); a node's share is its
 * weighted picks over the sum of all nodes'. So it follows the last ten
 * seconds or so of traffic, and when traffic stops the shares stay what
 * they were (0 for every node until the first pick). */
#ifndef AIGW_LIVE_H
#define AIGW_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "health.h"
#include "store.h"

#define AIGW_LIVE_SHARE_TAU_MS 10000.0
/* The CLI trusts rows updated within this many ms of now. */
#define AIGW_LIVE_FRESH_MS 5000

/* Rows for names[0..n) from h at mono_ms (health's clock), stamped with
 * wall_ms and pid; share 0. *out is freed with aigw_node_live_free. */
void aigw_live_rows(struct aigw_health *h, const char *const *names, size_t n, uint64_t mono_ms,
		    int64_t wall_ms, int64_t pid, struct aigw_node_live **out);

/* What the share needs from the previous publish; zero-initialise. */
struct aigw_live_tracker {
	size_t n;
	char **names;
	uint64_t *picks;
	double *weight;
	uint64_t at_ms; /* mono ms of the previous publish; 0: none */
};

/* Sets rows[i].share from rows[i].picks (cumulative) and the tracker,
 * which then remembers these rows (nodes not among them are forgotten). */
void aigw_live_shares(struct aigw_live_tracker *t, struct aigw_node_live *rows, size_t n,
		      uint64_t mono_ms);
void aigw_live_tracker_release(struct aigw_live_tracker *t);

#endif
