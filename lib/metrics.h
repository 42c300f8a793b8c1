/* metrics: what serve, bench and stats measure, kept so that the same
 * number means the same thing in all three.
 *
 * Three parts:
 *
 *  - struct aigw_hist, a log-linear histogram of uint64 values (latencies
 *    in microseconds, usually) with a fixed number of significant decimal
 *    digits and fixed memory however many values are recorded. bench and
 *    stats compute their percentiles with it.
 *
 *  - struct aigw_metrics, a registry of Prometheus metric families
 *    (counters, gauges, fixed-bucket histograms) with labels, sharded per
 *    thread, and its text exposition (format 0.0.4) for serve's /metrics.
 *
 *  - small shared formatting: a percentile summary and a duration printer.
 *
 * Threads. Everything here follows one rule: each piece of memory that is
 * written on a hot path has exactly one writer thread. Counts are
 * _Atomic uint64_t; the writer updates them with a relaxed load followed by
 * a relaxed store (a plain load/add/store, no lock prefix, no fence), and
 * other threads read them with relaxed loads. A reader therefore never sees
 * a torn value, but a snapshot taken while the writer runs is "consistent
 * enough" rather than exact: a value recorded during the snapshot may be
 * counted in one field (a bucket) and not yet in another (the total). Code
 * that needs self-consistent numbers merges into its own histogram, whose
 * total is recomputed from the buckets it read. */
#ifndef AIGW_METRICS_H
#define AIGW_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* ------------------------------------------------------------ histogram */

/* One hour in microseconds: a sensible highest value for latencies. */
#define AIGW_HIST_HOUR_US UINT64_C(3600000000)

/* Values are grouped in buckets whose width is at most 1/2^sub_bits of
 * their lowest value (1/1024 for three digits), so every bucket spans less
 * than 0.1% and any value reported from it is within 0.1% of every value
 * it holds. Values below 2^(sub_bits+1) get a bucket each (exact).
 *
 * Index of v: with top = max(log2(v), sub_bits) and shift = top - sub_bits,
 * index = (shift << sub_bits) + (v >> shift): one count-leading-zeros and
 * three integer operations. Memory is 8 bytes per bucket, 2^sub_bits
 * buckets per power of two above 2^(sub_bits+1): up to one hour in
 * microseconds that is 23,221 buckets (181 KiB) with three digits and
 * 3,287 (26 KiB) with two. Three digits over 32 powers of two cannot fit
 * in less: use two where many histograms live at once.
 *
 * Single writer: record, record_n, record_corrected, reset, merge and
 * subtract (into this histogram) must come from one thread at a time. Any
 * thread may read concurrently (count, min, max, mean, percentiles,
 * iteration, or as the source of a merge into its own histogram). */
struct aigw_hist {
	_Atomic uint64_t *counts; /* n_buckets, allocated once by init */
	uint32_t n_buckets;
	unsigned sub_bits;
	unsigned digits;
	uint64_t highest;         /* highest trackable value; larger ones clamp */
	_Atomic uint64_t total;   /* values recorded */
	_Atomic uint64_t sum;     /* of the values recorded (wraps past 2^64) */
	_Atomic uint64_t min;     /* UINT64_MAX while empty */
	_Atomic uint64_t max;     /* 0 while empty */
	_Atomic uint64_t clamped; /* values above highest, recorded as highest */
};

/* Allocates the counts for values 0..highest (highest >= 1) with digits
 * significant decimal digits (1..5; 3 is the usual choice). Unlike most
 * aigw init functions this one allocates: the whole point is to allocate
 * once, here, and never again. Returns AIGW_EINVAL for a bad argument. */
int aigw_hist_init(struct aigw_hist *h, uint64_t highest, unsigned digits,
		   struct aigw_err *err);
/* Frees the counts. Safe on a zeroed struct and twice in a row. */
void aigw_hist_release(struct aigw_hist *h);
/* Forgets every value; keeps the configuration and memory. */
void aigw_hist_reset(struct aigw_hist *h);

/* Records one value (n values). No loop, no floating point, no allocation.
 * A value above the highest trackable one is recorded as that one and
 * counted in clamped. */
void aigw_hist_record(struct aigw_hist *h, uint64_t value);
void aigw_hist_record_n(struct aigw_hist *h, uint64_t value, uint64_t n);

/* Records value, then corrects for coordinated omission the way
 * HdrHistogram's recordValueWithExpectedInterval and wrk2 do: a load
 * generator that waits for each answer before sending the next one stops
 * sending during a stall, so the requests that would have been sent every
 * expected_interval during it never get measured. When value exceeds the
 * interval, the missing samples value - k*interval (k = 1, 2, ...) are
 * back-filled for as long as they stay >= interval. One 1 s value with a
 * 10 ms interval thus records 100 values: 1 s, 990 ms, ..., 10 ms. An
 * interval of 0 records value alone. The cost is bounded by the number of
 * buckets, not the number of back-filled samples. */
void aigw_hist_record_corrected(struct aigw_hist *h, uint64_t value,
				uint64_t expected_interval);

/* Adds src's counts to dst. Both need the same highest value and digits
 * (AIGW_EINVAL otherwise). src may be written concurrently by its owner:
 * dst's total is the sum of the bucket counts read, so dst stays
 * self-consistent. dst and src may not be the same histogram. */
int aigw_hist_merge(struct aigw_hist *dst, const struct aigw_hist *src,
		    struct aigw_err *err);
/* Removes from dst the counts of src, an earlier snapshot (a merge) of
 * the same cumulative histogram, leaving what was recorded in between:
 * how bench builds its per-second series from cumulative per-thread
 * histograms. min and max become the bounds of the lowest and highest
 * non-empty buckets. Same configuration required. */
int aigw_hist_subtract(struct aigw_hist *dst, const struct aigw_hist *src,
		       struct aigw_err *err);

uint64_t aigw_hist_count(const struct aigw_hist *h);
/* Exact smallest and largest values recorded (0 when empty). */
uint64_t aigw_hist_min(const struct aigw_hist *h);
uint64_t aigw_hist_max(const struct aigw_hist *h);
/* Exact mean of the values recorded (0 when empty). */
double aigw_hist_mean(const struct aigw_hist *h);
uint64_t aigw_hist_clamped(const struct aigw_hist *h);
/* Bytes used by the counts: fixed at init. */
size_t aigw_hist_memory(const struct aigw_hist *h);

/* The value at percentile p (0..100): the highest value equivalent to the
 * smallest recorded value with at least round(p% of count) values (at least
 * one) at or below it, i.e. the upper bound of that value's bucket, which is
 * within 0.1% (with three digits) of every value in the bucket. The result
 * is clamped to [min, max] so p100 is exactly max; p0 is exactly min.
 * 0 when empty. */
uint64_t aigw_hist_value_at_percentile(const struct aigw_hist *h, double p);

/* The range of values a bucket holds (both bounds included) and the
 * bucket of a value; values equivalent to v are lowest(v)..highest(v). */
uint64_t aigw_hist_lowest_equivalent(const struct aigw_hist *h, uint64_t v);
uint64_t aigw_hist_highest_equivalent(const struct aigw_hist *h, uint64_t v);

/* Walks the non-empty buckets from the lowest values up, for CSV/JSON
 * output or to build cumulative buckets at other boundaries:
 *
 *	struct aigw_hist_iter it;
 *	aigw_hist_iter_init(&it, h);
 *	while (aigw_hist_iter_next(&it))
 *		use(it.low, it.high, it.count, it.cumulative);
 */
struct aigw_hist_iter {
	const struct aigw_hist *hist;
	uint32_t next_index;
	uint64_t low, high;  /* the bucket's values, both included */
	uint64_t count;      /* values recorded in this bucket */
	uint64_t cumulative; /* values recorded in this and all lower buckets */
};

void aigw_hist_iter_init(struct aigw_hist_iter *it, const struct aigw_hist *h);
bool aigw_hist_iter_next(struct aigw_hist_iter *it);

/* What bench and stats print for a distribution, computed in one pass. */
struct aigw_hist_summary {
	uint64_t count;
	uint64_t min;
	double mean;
	uint64_t p50, p90, p99, p999;
	uint64_t max;
};

void aigw_hist_summarize(const struct aigw_hist *h, struct aigw_hist_summary *out);

/* Formats a duration in microseconds for people with three significant
 * digits at most: "0us", "850us", "1ms", "1.25ms", "12.5ms", "125ms", "1.25s",
 * "12.5s", "2.5m", "1.5h". out is always terminated. */
void aigw_format_us(uint64_t us, char *out, size_t n);

/* ------------------------------------------------------------- registry */

enum aigw_metric_type {
	AIGW_METRIC_COUNTER,
	AIGW_METRIC_GAUGE,
	AIGW_METRIC_HISTOGRAM,
};

#define AIGW_METRICS_MAX_FAMILIES 64
#define AIGW_METRICS_MAX_LABELS 8
#define AIGW_METRICS_MAX_BOUNDS 32
#define AIGW_METRICS_DEFAULT_MAX_SERIES 1000
/* The label value of every label of a family's overflow series. */
#define AIGW_METRICS_OVERFLOW "other"

/* Default latency buckets, in microseconds, exported in seconds:
 * 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60. */
extern const uint64_t aigw_metrics_latency_bounds_us[];
extern const size_t aigw_metrics_latency_bounds_n;

/* A metric family. Strings are copied. */
struct aigw_metric_desc {
	const char *name; /* [a-zA-Z_:][a-zA-Z0-9_:]*, unique */
	const char *help;
	enum aigw_metric_type type;
	const char *const *labels; /* label names, [a-zA-Z_][a-zA-Z0-9_]* */
	size_t n_labels;           /* 0..AIGW_METRICS_MAX_LABELS */
	/* Distinct label tuples kept apart; the ones seen after that all go to
	 * the overflow series, whose labels are all "other". 0: the default. */
	uint32_t max_series;
	/* Histograms: the upper bounds of the buckets (increasing, in the unit
	 * observed); +Inf is implicit. NULL: aigw_metrics_latency_bounds_us,
	 * and a scale of 1e6 unless one is given. */
	const uint64_t *bounds;
	size_t n_bounds; /* 1..AIGW_METRICS_MAX_BOUNDS */
	/* Exported value = stored value / scale (e.g. 1e6 to record
	 * microseconds and export seconds). 0 means 1. */
	double scale;
};

struct aigw_metrics;

/* A thread's handle on the registry: all the recording calls go through
 * one, and each shard must be used by one thread at a time. */
struct aigw_metrics_shard {
	struct aigw_metrics *metrics;
	unsigned index;
};

/* A registry with n_shards shards (>= 1): serve uses one per worker, plus
 * one per other thread that records (the log writer, the main thread). */
struct aigw_metrics *aigw_metrics_new(unsigned n_shards);
void aigw_metrics_free(struct aigw_metrics *m);
struct aigw_metrics_shard *aigw_metrics_shard(struct aigw_metrics *m, unsigned index);

/* Registers a family and returns its id (>= 0), or AIGW_EINVAL for a bad
 * description, AIGW_EEXIST for a name already taken. Families must all be
 * registered before the registry is shared with other threads; everything
 * a family needs in every shard is allocated here. */
int aigw_metrics_family(struct aigw_metrics *m, const struct aigw_metric_desc *desc,
			struct aigw_err *err);

/* family is an id returned by aigw_metrics_family and series one returned
 * by aigw_metrics_series; the recording calls do not check them. */

/* The series of a label tuple (n_labels values, NULL when there are none),
 * created the first time the tuple is seen: a hash of the tuple and an
 * open-addressing probe, lock-free; only the first sight of a new tuple
 * takes the registry's mutex and allocates. Once the family holds
 * max_series tuples, new ones return the overflow series without locking.
 * The returned id stays valid as long as the registry: callers that see
 * the same tuple often may keep it. Any thread may call this. */
uint32_t aigw_metrics_series(struct aigw_metrics *m, int family,
			     const char *const *label_values);

/* Recording by series id (counter add, gauge add/set, histogram observe).
 * A gauge's exported value is the sum of its shards' values, so set only
 * makes sense for a gauge that one shard owns. */
void aigw_metrics_add(struct aigw_metrics_shard *s, int family, uint32_t series,
		      uint64_t n);
void aigw_metrics_gauge_add(struct aigw_metrics_shard *s, int family, uint32_t series,
			    int64_t delta);
void aigw_metrics_gauge_set(struct aigw_metrics_shard *s, int family, uint32_t series,
			    int64_t value);
void aigw_metrics_observe(struct aigw_metrics_shard *s, int family, uint32_t series,
			  uint64_t value);

/* The same by label tuple: lookup then record. */
void aigw_metrics_inc(struct aigw_metrics_shard *s, int family,
		      const char *const *label_values, uint64_t n);
void aigw_metrics_gauge(struct aigw_metrics_shard *s, int family,
			const char *const *label_values, int64_t delta);
void aigw_metrics_observe_labels(struct aigw_metrics_shard *s, int family,
				 const char *const *label_values, uint64_t value);

/* Sum over shards of one series' value (counters and gauges; a gauge's
 * value is the int64_t of the result), or of a histogram series' count. */
uint64_t aigw_metrics_value(const struct aigw_metrics *m, int family, uint32_t series);
/* Distinct series of a family, the overflow series excepted. */
uint32_t aigw_metrics_series_count(const struct aigw_metrics *m, int family);

/* Appends the Prometheus text exposition (version 0.0.4) of every family
 * to out: families sorted by name, series by label values, so that the
 * output is deterministic. A family with no series yet prints its HELP and
 * TYPE lines only. Safe while other threads record. */
void aigw_metrics_write_prometheus(const struct aigw_metrics *m, struct aigw_buf *out);
/* Appends s as the exposition escapes a label value (\\, \" and \n), for
 * series written outside the registry. */
void aigw_metrics_put_label_value(struct aigw_buf *out, const char *s);

#endif
