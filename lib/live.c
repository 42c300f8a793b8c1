/* live: rows of node_live from the health module (see live.h). */
#include "live.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

void aigw_live_rows(struct aigw_health *h, const char *const *names, size_t n, uint64_t mono_ms,
		    int64_t wall_ms, int64_t pid, struct aigw_node_live **out)
{
	struct aigw_node_live *v = aigw_calloc(n ? n : 1, sizeof(*v));

	for (size_t i = 0; i < n; i++) {
		struct aigw_node_live *r = &v[i];
		struct aigw_health_status st;

		r->node = aigw_strdup(names[i]);
		r->updated_ms = wall_ms;
		r->pid = pid;
		r->latency_us = -1;
		if (aigw_health_status(h, names[i], mono_ms, &st)) {
			snprintf(r->state, sizeof(r->state), "%s",
				 aigw_health_state_name(AIGW_HEALTH_CLOSED));
			continue;
		}
		snprintf(r->state, sizeof(r->state), "%s", aigw_health_state_name(st.state));
		r->in_flight = st.in_flight;
		r->latency_us = st.latency_measured ? (int64_t)st.latency_us : -1;
		r->picks = (int64_t)st.picks;
		r->failures = st.consecutive_failures;
		if (st.retry_at_ms > mono_ms)
			r->retry_at_ms = wall_ms + (int64_t)(st.retry_at_ms - mono_ms);
		if (st.checks && st.checked)
			snprintf(r->checks, sizeof(r->checks), "%s", st.check_ok ? "ok" : "failing");
	}
	*out = v;
}

void aigw_live_tracker_release(struct aigw_live_tracker *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->names[i]);
	free(t->names);
	free(t->picks);
	free(t->weight);
	memset(t, 0, sizeof(*t));
}

void aigw_live_shares(struct aigw_live_tracker *t, struct aigw_node_live *rows, size_t n,
		      uint64_t mono_ms)
{
	struct aigw_live_tracker next = { 0 };
	double decay = 1.0, sum = 0;

	if (t->at_ms && mono_ms > t->at_ms)
		decay = exp(-(double)(mono_ms - t->at_ms) / AIGW_LIVE_SHARE_TAU_MS);
	next.n = n;
	next.names = aigw_calloc(n ? n : 1, sizeof(*next.names));
	next.picks = aigw_calloc(n ? n : 1, sizeof(*next.picks));
	next.weight = aigw_calloc(n ? n : 1, sizeof(*next.weight));
	next.at_ms = mono_ms;
	for (size_t i = 0; i < n; i++) {
		uint64_t picks = rows[i].picks > 0 ? (uint64_t)rows[i].picks : 0;
		uint64_t delta = picks;
		double w = 0;

		for (size_t j = 0; j < t->n; j++) {
			if (strcmp(t->names[j], rows[i].node))
				continue;
			/* Fewer picks than before: the node was made again. */
			delta = picks >= t->picks[j] ? picks - t->picks[j] : picks;
			w = t->weight[j] * decay;
			break;
		}
		next.names[i] = aigw_strdup(rows[i].node);
		next.picks[i] = picks;
		next.weight[i] = w + (double)delta;
		sum += next.weight[i];
	}
	for (size_t i = 0; i < n; i++)
		rows[i].share = sum > 0 ? next.weight[i] / sum : 0;
	aigw_live_tracker_release(t);
	*t = next;
}
