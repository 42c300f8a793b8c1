/* stats: questions about the request log, for `aigw stats`.
 *
 * Every function here reads an open store and never writes to it (prune is
 * aigw_reqlog_prune). A window [since_ms, until_ms) is answered from two
 * sources that together count every row once: the per-minute rollups
 * (request_rollup) for the minutes that lie wholly inside the window, and
 * the raw rows (request_log, by its index on ts_ms) for the partial minutes
 * at its edges. Counts and sums equal what the raw rows alone would give;
 * percentiles come from the merged latency histograms, so they carry the
 * histogram's precision (about 6%, see reqlog.h) whichever source a row
 * came from (raw rows are put into the same buckets). */
#ifndef AIGW_STATS_H
#define AIGW_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "reqlog.h"
#include "store.h"

/* What rows are grouped by. */
enum aigw_stats_by {
	AIGW_STATS_BY_NONE,   /* one group: every row */
	AIGW_STATS_BY_ROUTE,
	AIGW_STATS_BY_NODE,
	AIGW_STATS_BY_KEY,    /* by key id; the label is the key's name */
	AIGW_STATS_BY_MODEL,
	AIGW_STATS_BY_STATUS, /* by status class: "2xx", "5xx", "none" (no status sent) */
	AIGW_STATS_BY_TIME,   /* by bucket of bucket_ms (timeseries) */
};
/* Names of ROUTE..STATUS for the command line, NULL-terminated; index
 * i is enum value i + 1. */
extern const char *const aigw_stats_by_names[];

struct aigw_stats_query {
	int64_t since_ms, until_ms; /* the window, [since, until) */
	enum aigw_stats_by by;
	/* BY_TIME: bucket width, a whole number of minutes; buckets start at
	 * multiples of it since the epoch (so 1h buckets start on the hour). */
	int64_t bucket_ms;
};

/* One group's totals. */
struct aigw_stats_group {
	/* The group's label: a route, node or model name, a key's name (its
	 * id in decimal when the log has no name for it), a status class.
	 * NULL for rows without one (no route matched, no key) and for
	 * BY_NONE and BY_TIME. Heap-owned. */
	char *label;
	int64_t key_id;     /* BY_KEY: 0 for requests without a key */
	int64_t bucket_ms;  /* BY_TIME: the bucket's start */
	int64_t requests, errors; /* errors: status >= 400, none sent, or an error code */
	int64_t latency_sum_us;
	int64_t ttfb_count, ttfb_sum_us;
	int64_t bytes_in, bytes_out;
	int64_t prompt_tokens, completion_tokens;
	/* cost_micro sums the rows whose price was known; priced counts them.
	 * priced == 0 means the cost is unknown (not 0). */
	int64_t cost_micro, priced;
	uint64_t latency[AIGW_REQLOG_HIST_BUCKETS]; /* histogram counts */
	uint64_t ttfb[AIGW_REQLOG_HIST_BUCKETS];
};

struct aigw_stats_result {
	struct aigw_stats_group *groups; /* see aigw_stats_query */
	size_t n;
	struct aigw_stats_group total;   /* every row of the window */
	/* Where rows came from, for tests and curiosity. */
	int64_t rollup_rows, raw_rows;
};

/* Most buckets a timeseries may have, so a typo like --every 1m --since
 * 10y is refused rather than answered with millions of lines. */
#define AIGW_STATS_MAX_BUCKETS 10000

/* Answers q. Groups come sorted: BY_TIME by bucket (every bucket of the
 * window, empty ones included), BY_STATUS by class, the others by
 * requests, most first, then label. Returns 0, AIGW_EINVAL for a bad
 * query (empty window, bucket not whole minutes, too many buckets), or the
 * store's error. *out is zeroed first and must be released with
 * aigw_stats_result_release, also on failure. */
int aigw_stats_summary(struct aigw_store *s, const struct aigw_stats_query *q,
		       struct aigw_stats_result *out, struct aigw_err *err);
void aigw_stats_result_release(struct aigw_stats_result *r);

/* Percentile p (0..100) of a group's latency or TTFB histogram in
 * microseconds; -1 when the group has no such values. */
int64_t aigw_stats_latency_p(const struct aigw_stats_group *g, double p);
int64_t aigw_stats_ttfb_p(const struct aigw_stats_group *g, double p);

/* ---- raw rows (tail) ---- */

struct aigw_stats_row {
	int64_t id, ts_ms, key_id; /* key_id 0: none */
	int64_t status, latency_us;
	/* Optional numbers are AIGW_REQLOG_NONE (-1) when unknown. */
	int64_t ttfb_us, prompt_tokens, completion_tokens, cost_micro;
	bool stream;
	char request_id[40];
	char key_name[65], route[65], node[65], model[129], error[48]; /* "" when absent */
};

/* The last n rows of the log (by id), oldest first. *out is heap-owned;
 * free() it. */
int aigw_stats_tail(struct aigw_store *s, size_t n, struct aigw_stats_row **out,
		    size_t *count, struct aigw_err *err);
/* Up to max rows with id > after_id, oldest first (for following). */
int aigw_stats_after(struct aigw_store *s, int64_t after_id, size_t max,
		     struct aigw_stats_row **out, size_t *count, struct aigw_err *err);

/* ---- values on the command line ---- */

/* Parses a point in time: a duration back from now_ms ("1h", "30m", "7d"),
 * a date or RFC 3339 time ("2026-11-23", "2026-11-23T01:45:00Z",
 * "2026-11-23T03:45:00.250+02:00"), or Unix seconds ("1795000000"). */
int aigw_stats_parse_time(const char *s, int64_t now_ms, int64_t *out_ms,
			  struct aigw_err *err);

#endif
