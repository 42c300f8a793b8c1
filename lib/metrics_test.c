/* metrics_test: the histogram's precision, merging, coordinated-omission
 * correction and fixed memory; the sharded registry under real threads, its
 * series cap, and its exact Prometheus text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "metrics.h"
#include "rand.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Sanitizers make everything several times slower: the timing assertion
 * is skipped under them, and the slowest loop shrinks. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer) || \
	__has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* True when got is within 0.1% of want. */
static bool within_tenth_percent(uint64_t got, uint64_t want)
{
	uint64_t diff = got > want ? got - want : want - got;
	return diff * 1000 <= want;
}

static void assert_close(uint64_t got, uint64_t want, const char *what)
{
	if (!within_tenth_percent(got, want))
		fail_msg("%s: got %llu, want %llu within 0.1%%", what,
			 (unsigned long long)got, (unsigned long long)want);
}

static void init_hist(struct aigw_hist *h, uint64_t highest, unsigned digits)
{
	struct aigw_err err = { 0 };
	if (aigw_hist_init(h, highest, digits, &err))
		fail_msg("init: %s", err.msg);
}

/* Same buckets, same counts, same totals. */
static void assert_hist_equal(const struct aigw_hist *a, const struct aigw_hist *b)
{
	struct aigw_hist_iter ia, ib;

	assert_int_equal(aigw_hist_count(a), aigw_hist_count(b));
	assert_int_equal(a->sum, b->sum);
	assert_int_equal(aigw_hist_min(a), aigw_hist_min(b));
	assert_int_equal(aigw_hist_max(a), aigw_hist_max(b));
	assert_int_equal(aigw_hist_clamped(a), aigw_hist_clamped(b));
	aigw_hist_iter_init(&ia, a);
	aigw_hist_iter_init(&ib, b);
	for (;;) {
		bool more = aigw_hist_iter_next(&ia);
		assert_int_equal(more, aigw_hist_iter_next(&ib));
		if (!more)
			break;
		assert_int_equal(ia.low, ib.low);
		assert_int_equal(ia.count, ib.count);
	}
}

/* ------------------------------------------------------------ histogram */

static void test_hist_init_errors(void **state)
{
	struct aigw_hist h;
	struct aigw_err err = { 0 };
	(void)state;

	assert_int_equal(aigw_hist_init(&h, 1000, 0, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "1 to 5 digits"));
	assert_int_equal(aigw_hist_init(&h, 1000, 6, NULL), AIGW_EINVAL);
	assert_int_equal(aigw_hist_init(&h, 0, 3, NULL), AIGW_EINVAL);
	assert_int_equal(aigw_hist_init(&h, UINT64_MAX, 3, NULL), AIGW_EINVAL);
	assert_int_equal(aigw_hist_init(&h, INT64_MAX, 5, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "too large"));
	/* A failed init leaves a struct that release accepts, twice. */
	aigw_hist_release(&h);
	aigw_hist_release(&h);

	/* The footprints metrics.h documents, up to an hour: 181 KiB with
	 * three digits, 26 KiB with two. */
	init_hist(&h, AIGW_HIST_HOUR_US, 3);
	assert_int_equal(aigw_hist_memory(&h), 23221 * 8);
	assert_int_equal(aigw_hist_count(&h), 0);
	assert_int_equal(aigw_hist_min(&h), 0);
	assert_int_equal(aigw_hist_max(&h), 0);
	assert_int_equal(aigw_hist_value_at_percentile(&h, 99), 0);
	assert_true(aigw_hist_mean(&h) == 0.0);
	aigw_hist_release(&h);
	init_hist(&h, AIGW_HIST_HOUR_US, 2);
	assert_int_equal(aigw_hist_memory(&h), 3287 * 8);
	aigw_hist_release(&h);
}

/* Every bucket is narrower than 0.1% of its values, so the value reported
 * for a bucket (its upper bound) is within 0.1% of every value in it. */
static void test_hist_bucket_precision(void **state)
{
	struct aigw_hist h;
	uint64_t top = UINT64_C(1) << 40;
	(void)state;

	init_hist(&h, top, 3);
	for (uint64_t v = 0; v < 200000; v++) {
		uint64_t lo = aigw_hist_lowest_equivalent(&h, v);
		uint64_t hi = aigw_hist_highest_equivalent(&h, v);
		if (lo > v || hi < v || (hi - v) * 1000 > v)
			fail_msg("value %llu: bucket %llu..%llu", (unsigned long long)v,
				 (unsigned long long)lo, (unsigned long long)hi);
		if (v < 2048)
			assert_int_equal(lo, hi); /* small values are exact */
	}
	for (uint64_t v = 200000; v <= top; v += v / 8192 + 1) {
		uint64_t lo = aigw_hist_lowest_equivalent(&h, v);
		uint64_t hi = aigw_hist_highest_equivalent(&h, v);
		if (lo > v || hi < v || (hi - v) * 1000 > v || (v - lo) * 1000 > v)
			fail_msg("value %llu: bucket %llu..%llu", (unsigned long long)v,
				 (unsigned long long)lo, (unsigned long long)hi);
		/* Buckets tile the line: the next value starts the next one. */
		assert_int_equal(aigw_hist_lowest_equivalent(&h, hi + 1), hi + 1);
	}
	for (unsigned k = 11; k < 40; k++) {
		uint64_t p = UINT64_C(1) << k;
		assert_int_equal(aigw_hist_lowest_equivalent(&h, p), p);
		assert_int_equal(aigw_hist_highest_equivalent(&h, p - 1), p - 1);
	}
	aigw_hist_release(&h);

	/* Two digits: buckets within 1%. */
	init_hist(&h, AIGW_HIST_HOUR_US, 2);
	for (uint64_t v = 1; v <= AIGW_HIST_HOUR_US; v += v / 64 + 1)
		assert_true((aigw_hist_highest_equivalent(&h, v) - v) * 100 <= v);
	aigw_hist_release(&h);
}

static void test_hist_single_value_percentiles(void **state)
{
	struct aigw_hist h;
	uint64_t top = UINT64_C(1) << 40;
	static const double ps[] = { 0, 1, 50, 90, 99, 99.9, 100 };
	(void)state;

	init_hist(&h, top, 3);
	for (uint64_t v = 1; v <= top; v += v / 16 + 1) {
		aigw_hist_reset(&h);
		aigw_hist_record(&h, v);
		for (size_t i = 0; i < N_ELEMS(ps); i++)
			assert_close(aigw_hist_value_at_percentile(&h, ps[i]), v, "single value");
		assert_int_equal(aigw_hist_min(&h), v);
		assert_int_equal(aigw_hist_max(&h), v);

		/* Beside a far larger value, the lower one is reported from
		 * its bucket rather than clamped to min and max. */
		aigw_hist_record(&h, top);
		assert_close(aigw_hist_value_at_percentile(&h, 50), v, "low of two");
		assert_int_equal(aigw_hist_value_at_percentile(&h, 100), top);
		assert_int_equal(aigw_hist_value_at_percentile(&h, 0), v);
	}
	aigw_hist_release(&h);
}

static void test_hist_percentiles_of_a_million(void **state)
{
	struct aigw_hist h;
	struct aigw_hist_summary s;
	const uint64_t n = 1000000;
	static const double ps[] = { 0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 99.999, 100 };
	(void)state;

	init_hist(&h, AIGW_HIST_HOUR_US, 3);
	for (uint64_t v = 1; v <= n; v++)
		aigw_hist_record(&h, v);
	assert_int_equal(aigw_hist_count(&h), n);
	assert_int_equal(aigw_hist_min(&h), 1);
	assert_int_equal(aigw_hist_max(&h), n);
	assert_true(aigw_hist_mean(&h) == 500000.5);
	for (size_t i = 0; i < N_ELEMS(ps); i++) {
		/* Value v sits at rank v: the exact percentile is its rank. */
		uint64_t exact = (uint64_t)(ps[i] / 100.0 * (double)n + 0.5);
		char what[32];
		snprintf(what, sizeof(what), "p%g", ps[i]);
		assert_close(aigw_hist_value_at_percentile(&h, ps[i]), exact, what);
	}
	assert_int_equal(aigw_hist_value_at_percentile(&h, 0), 1);
	assert_int_equal(aigw_hist_value_at_percentile(&h, 100), n);
	assert_int_equal(aigw_hist_value_at_percentile(&h, 250), n);

	aigw_hist_summarize(&h, &s);
	assert_int_equal(s.count, n);
	assert_int_equal(s.min, 1);
	assert_true(s.mean == 500000.5);
	assert_close(s.p50, 500000, "summary p50");
	assert_close(s.p90, 900000, "summary p90");
	assert_close(s.p99, 990000, "summary p99");
	assert_close(s.p999, 999000, "summary p99.9");
	assert_int_equal(s.p50, aigw_hist_value_at_percentile(&h, 50));
	assert_int_equal(s.p999, aigw_hist_value_at_percentile(&h, 99.9));
	assert_int_equal(s.max, n);

	aigw_hist_reset(&h);
	aigw_hist_summarize(&h, &s);
	assert_int_equal(s.count, 0);
	assert_int_equal(s.p99, 0);
	aigw_hist_release(&h);
}

static void test_hist_iteration(void **state)
{
	struct aigw_hist h;
	struct aigw_hist_iter it;
	static const struct {
		uint64_t low, high, count, cumulative;
	} want[] = {
		{ 5, 5, 2, 2 },
		{ 1500, 1500, 1, 3 },
		{ 3000, 3001, 1, 4 },           /* width 2 above 2048 */
		{ 999936, 1000447, 3, 7 },      /* 1953 * 512, width 512 */
	};
	size_t i = 0;
	(void)state;

	init_hist(&h, AIGW_HIST_HOUR_US, 3);
	aigw_hist_iter_init(&it, &h);
	assert_false(aigw_hist_iter_next(&it));
	aigw_hist_record_n(&h, 5, 2);
	aigw_hist_record(&h, 1500);
	aigw_hist_record(&h, 3001);
	aigw_hist_record(&h, 1000000);
	aigw_hist_record_n(&h, 999936, 2);
	aigw_hist_iter_init(&it, &h);
	while (aigw_hist_iter_next(&it)) {
		assert_true(i < N_ELEMS(want));
		assert_int_equal(it.low, want[i].low);
		assert_int_equal(it.high, want[i].high);
		assert_int_equal(it.count, want[i].count);
		assert_int_equal(it.cumulative, want[i].cumulative);
		i++;
	}
	assert_int_equal(i, N_ELEMS(want));
	/* p100 is the exact max, not the bucket's upper bound. */
	assert_int_equal(aigw_hist_value_at_percentile(&h, 100), 1000000);
	assert_int_equal(aigw_hist_value_at_percentile(&h, 50), 3001);
	aigw_hist_release(&h);
}

static void test_hist_clamps_above_highest(void **state)
{
	struct aigw_hist h;
	(void)state;

	init_hist(&h, 1000000, 3);
	aigw_hist_record(&h, 10);
	aigw_hist_record(&h, 5000000);
	assert_int_equal(aigw_hist_count(&h), 2);
	assert_int_equal(aigw_hist_clamped(&h), 1);
	assert_int_equal(aigw_hist_max(&h), 1000000);
	assert_int_equal(aigw_hist_value_at_percentile(&h, 100), 1000000);
	aigw_hist_release(&h);
}

static void test_hist_merge_equals_recording_in_one(void **state)
{
	struct aigw_hist a, b, all, merged, other;
	struct aigw_err err = { 0 };
	uint64_t seed = 42;
	(void)state;

	init_hist(&a, AIGW_HIST_HOUR_US, 3);
	init_hist(&b, AIGW_HIST_HOUR_US, 3);
	init_hist(&all, AIGW_HIST_HOUR_US, 3);
	init_hist(&merged, AIGW_HIST_HOUR_US, 3);
	for (int i = 0; i < 200000; i++) {
		/* Log-uniform values, so every power of two gets some. */
		uint64_t r = aigw_rand_xorshift64(&seed);
		uint64_t v = (r >> 40) >> (r % 24);
		aigw_hist_record(i % 3 ? &a : &b, v);
		aigw_hist_record(&all, v);
	}
	aigw_hist_record(&b, 5000000000ULL); /* clamped, in b only */
	aigw_hist_record(&all, 5000000000ULL);

	assert_int_equal(aigw_hist_merge(&merged, &a, NULL), 0);
	assert_int_equal(aigw_hist_merge(&merged, &b, NULL), 0);
	assert_hist_equal(&merged, &all);
	assert_int_equal(aigw_hist_value_at_percentile(&merged, 99.9),
			 aigw_hist_value_at_percentile(&all, 99.9));
	assert_true(aigw_hist_mean(&merged) == aigw_hist_mean(&all));

	/* Merging an empty histogram changes nothing. */
	aigw_hist_reset(&a);
	assert_int_equal(aigw_hist_merge(&merged, &a, NULL), 0);
	assert_hist_equal(&merged, &all);

	init_hist(&other, AIGW_HIST_HOUR_US, 2);
	assert_int_equal(aigw_hist_merge(&merged, &other, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "differ"));
	aigw_hist_release(&other);
	init_hist(&other, 1000, 3);
	assert_int_equal(aigw_hist_merge(&other, &merged, NULL), AIGW_EINVAL);
	aigw_hist_release(&other);

	aigw_hist_release(&a);
	aigw_hist_release(&b);
	aigw_hist_release(&all);
	aigw_hist_release(&merged);
}

/* A per-second interval: the cumulative histogram now, minus its snapshot
 * a second ago, is what was recorded in between. */
static void test_hist_subtract_gives_the_interval(void **state)
{
	struct aigw_hist live, before, delta, ref;
	uint64_t seed = 7;
	(void)state;

	init_hist(&live, AIGW_HIST_HOUR_US, 3);
	init_hist(&before, AIGW_HIST_HOUR_US, 3);
	init_hist(&delta, AIGW_HIST_HOUR_US, 3);
	init_hist(&ref, AIGW_HIST_HOUR_US, 3);
	for (int i = 0; i < 10000; i++)
		aigw_hist_record(&live, aigw_rand_xorshift64(&seed) % 100000000);
	assert_int_equal(aigw_hist_merge(&before, &live, NULL), 0);
	for (int i = 0; i < 5000; i++) {
		uint64_t v = 1000 + aigw_rand_xorshift64(&seed) % 5000000;
		aigw_hist_record(&live, v);
		aigw_hist_record(&ref, v);
	}
	assert_int_equal(aigw_hist_merge(&delta, &live, NULL), 0);
	assert_int_equal(aigw_hist_subtract(&delta, &before, NULL), 0);

	assert_int_equal(aigw_hist_count(&delta), 5000);
	assert_int_equal(delta.sum, ref.sum);
	/* min and max are known to the bucket only. */
	assert_true(aigw_hist_min(&delta) <= aigw_hist_min(&ref));
	assert_true(aigw_hist_min(&delta) >=
		    aigw_hist_lowest_equivalent(&ref, aigw_hist_min(&ref)));
	assert_true(aigw_hist_max(&delta) >= aigw_hist_max(&ref));
	assert_true(aigw_hist_max(&delta) <=
		    aigw_hist_highest_equivalent(&ref, aigw_hist_max(&ref)));
	assert_close(aigw_hist_value_at_percentile(&delta, 99),
		     aigw_hist_value_at_percentile(&ref, 99), "interval p99");

	/* Nothing in between: empty. */
	aigw_hist_reset(&delta);
	assert_int_equal(aigw_hist_merge(&delta, &before, NULL), 0);
	assert_int_equal(aigw_hist_subtract(&delta, &before, NULL), 0);
	assert_int_equal(aigw_hist_count(&delta), 0);
	assert_int_equal(aigw_hist_min(&delta), 0);
	assert_int_equal(aigw_hist_max(&delta), 0);

	aigw_hist_release(&live);
	aigw_hist_release(&before);
	aigw_hist_release(&delta);
	aigw_hist_release(&ref);
}

/* What record_corrected must equal: the value, then value - k*interval for
 * as long as that stays >= interval, one record at a time. */
static void record_corrected_slowly(struct aigw_hist *h, uint64_t value, uint64_t interval)
{
	aigw_hist_record(h, value);
	if (!interval || value <= interval)
		return;
	for (uint64_t s = value - interval; s >= interval; s -= interval)
		aigw_hist_record(h, s);
}

static void test_hist_coordinated_omission(void **state)
{
	struct aigw_hist h, fast, slow;
	uint64_t seed = 99;
	(void)state;

	/* Requests every 10 ms; one took 1 s: the 99 requests that were not
	 * sent meanwhile would have waited 990 ms, 980 ms, ... 10 ms. */
	init_hist(&h, AIGW_HIST_HOUR_US, 3);
	for (int i = 0; i < 100; i++)
		aigw_hist_record_corrected(&h, 1000, 10000); /* fast: no back-fill */
	assert_int_equal(aigw_hist_count(&h), 100);
	aigw_hist_reset(&h);
	aigw_hist_record_corrected(&h, 1000000, 10000);
	assert_int_equal(aigw_hist_count(&h), 100);
	assert_int_equal(aigw_hist_min(&h), 10000);
	assert_int_equal(aigw_hist_max(&h), 1000000);
	assert_int_equal(h.sum, UINT64_C(10000) * 5050);
	assert_close(aigw_hist_value_at_percentile(&h, 50), 500000, "corrected p50");
	assert_close(aigw_hist_value_at_percentile(&h, 1), 10000, "corrected p1");
	assert_close(aigw_hist_value_at_percentile(&h, 90), 900000, "corrected p90");
	/* Interval 0: no correction. */
	aigw_hist_reset(&h);
	aigw_hist_record_corrected(&h, 1000000, 0);
	assert_int_equal(aigw_hist_count(&h), 1);

	/* Bucket-at-a-time back-filling equals one record per sample, for
	 * intervals finer and coarser than the buckets, and past highest. */
	init_hist(&fast, 3000000, 3);
	init_hist(&slow, 3000000, 3);
	for (int i = 0; i < (SANITIZED ? 40 : 200); i++) {
		uint64_t value = aigw_rand_xorshift64(&seed) % 5000000;
		uint64_t interval = 50 + aigw_rand_xorshift64(&seed) % (i % 2 ? 2000 : 200000);
		aigw_hist_record_corrected(&fast, value, interval);
		record_corrected_slowly(&slow, value, interval);
	}
	assert_hist_equal(&fast, &slow);
	assert_true(aigw_hist_clamped(&fast) > 0);

	/* One microsecond apart through an hour: 3.6e9 samples, yet quick. */
	aigw_hist_reset(&h);
	aigw_hist_record_corrected(&h, AIGW_HIST_HOUR_US, 1);
	assert_int_equal(aigw_hist_count(&h), AIGW_HIST_HOUR_US);
	assert_int_equal(aigw_hist_min(&h), 1);
	assert_int_equal(h.sum, AIGW_HIST_HOUR_US * (AIGW_HIST_HOUR_US + 1) / 2);
	assert_close(aigw_hist_value_at_percentile(&h, 50), AIGW_HIST_HOUR_US / 2, "hour p50");

	aigw_hist_release(&h);
	aigw_hist_release(&fast);
	aigw_hist_release(&slow);
}

/* Ten million values: the counts array is the one allocated at init, and
 * (optimised, without sanitizers) recording takes well under half a
 * second. */
static void test_hist_fixed_memory_and_speed(void **state)
{
	struct aigw_hist h;
	const uint64_t n = 10000000;
	const _Atomic uint64_t *counts;
	size_t memory;
	uint64_t seed = 12345, start, elapsed_ns;
	(void)state;

	init_hist(&h, AIGW_HIST_HOUR_US, 3);
	counts = h.counts;
	memory = aigw_hist_memory(&h);
	start = aigw_clock_mono_ns();
	for (uint64_t i = 0; i < n; i++)
		aigw_hist_record(&h, (aigw_rand_xorshift64(&seed) >> 33) % 2000000);
	elapsed_ns = aigw_clock_mono_ns() - start;
	assert_int_equal(aigw_hist_count(&h), n);
	assert_ptr_equal(h.counts, counts);
	assert_int_equal(aigw_hist_memory(&h), memory);
	assert_int_equal(h.n_buckets, 23221);
	print_message("# %llu records in %.1f ms (%.2f ns each)\n", (unsigned long long)n,
		      (double)elapsed_ns / 1e6, (double)elapsed_ns / (double)n);
#if defined(__OPTIMIZE__) && !SANITIZED
	assert_true(elapsed_ns < 500000000);
#endif
	aigw_hist_release(&h);
}

static void test_format_us(void **state)
{
	static const struct {
		uint64_t us;
		const char *want;
	} cases[] = {
		{ 0, "0us" },
		{ 850, "850us" },
		{ 999, "999us" },
		{ 1000, "1ms" },
		{ 1250, "1.25ms" },
		{ 12500, "12.5ms" },
		{ 125000, "125ms" },
		{ 999400, "999ms" },
		{ 999600, "1s" },
		{ 1250000, "1.25s" },
		{ 12500000, "12.5s" },
		{ 59000000, "59s" },
		{ 150000000, "2.5m" },
		{ 5400000000ULL, "1.5h" },
		{ 3600000000000ULL, "1000h" },
	};
	char out[32];
	(void)state;

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		aigw_format_us(cases[i].us, out, sizeof(out));
		if (strcmp(out, cases[i].want))
			fail_msg("%llu us: got '%s', want '%s'",
				 (unsigned long long)cases[i].us, out, cases[i].want);
	}
	aigw_format_us(1250, out, 4);
	assert_string_equal(out, "1.2");
}

/* ------------------------------------------------------------- registry */

static void test_metrics_family_errors(void **state)
{
	struct aigw_metrics *m = aigw_metrics_new(1);
	struct aigw_err err = { 0 };
	static const char *const le[] = { "le" };
	static const char *const twice[] = { "a", "a" };
	static const char *const reserved[] = { "__name" };
	static const uint64_t down[] = { 10, 5 };
	struct aigw_metric_desc d = { .name = "ok_total", .type = AIGW_METRIC_COUNTER };
	(void)state;

	assert_int_equal(aigw_metrics_family(m, &d, &err), 0);
	assert_int_equal(aigw_metrics_family(m, &d, &err), AIGW_EEXIST);
	assert_non_null(strstr(err.msg, "'ok_total'"));

	d.name = "9lives";
	assert_int_equal(aigw_metrics_family(m, &d, &err), AIGW_EINVAL);
	d.name = "bad-name";
	assert_int_equal(aigw_metrics_family(m, &d, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "invalid metric name 'bad-name'"));
	d.name = "ns:fine_total";
	assert_int_equal(aigw_metrics_family(m, &d, &err), 1);

	d = (struct aigw_metric_desc){ .name = "h", .type = AIGW_METRIC_HISTOGRAM,
				       .labels = le, .n_labels = 1 };
	assert_int_equal(aigw_metrics_family(m, &d, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "label name 'le'"));
	d.labels = twice;
	d.n_labels = 2;
	assert_int_equal(aigw_metrics_family(m, &d, &err), AIGW_EINVAL);
	d.labels = reserved;
	d.n_labels = 1;
	assert_int_equal(aigw_metrics_family(m, &d, &err), AIGW_EINVAL);
	d.n_labels = AIGW_METRICS_MAX_LABELS + 1;
	assert_int_equal(aigw_metrics_family(m, &d, &err), AIGW_EINVAL);
	d.n_labels = 0;
	d.bounds = down;
	d.n_bounds = 2;
	assert_int_equal(aigw_metrics_family(m, &d, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "increase"));
	d.n_bounds = 0;
	assert_int_equal(aigw_metrics_family(m, &d, &err), AIGW_EINVAL);
	d.bounds = NULL; /* the default latency buckets */
	assert_int_equal(aigw_metrics_family(m, &d, &err), 2);

	assert_null(aigw_metrics_shard(m, 1));
	assert_non_null(aigw_metrics_shard(m, 0));
	aigw_metrics_free(m);
	aigw_metrics_free(NULL);
}

static void test_metrics_series_cap(void **state)
{
	struct aigw_metrics *m = aigw_metrics_new(2);
	struct aigw_metrics_shard *s = aigw_metrics_shard(m, 1);
	struct aigw_buf out = AIGW_BUF_INIT;
	static const char *const labels[] = { "route", "node" };
	struct aigw_metric_desc d = { .name = "req_total", .help = "Requests.",
				      .type = AIGW_METRIC_COUNTER, .labels = labels,
				      .n_labels = 2, .max_series = 3 };
	const char *a[] = { "a", "n1" }, *b[] = { "b", "n1" }, *c[] = { "c", "n1" };
	const char *e[] = { "e", "n1" }, *f[] = { "f", "n2" };
	const char *other[] = { "other", "other" };
	int fam;
	uint32_t ia, ib, ic;
	(void)state;

	fam = aigw_metrics_family(m, &d, NULL);
	assert_true(fam >= 0);
	ia = aigw_metrics_series(m, fam, a);
	ib = aigw_metrics_series(m, fam, b);
	assert_int_not_equal(ia, 0);
	assert_int_not_equal(ia, ib);
	assert_int_equal(aigw_metrics_series(m, fam, a), ia); /* found again */
	ic = aigw_metrics_series(m, fam, c);
	assert_int_equal(aigw_metrics_series_count(m, fam), 3);
	/* The family is full: new tuples share the overflow series... */
	assert_int_equal(aigw_metrics_series(m, fam, e), 0);
	assert_int_equal(aigw_metrics_series(m, fam, f), 0);
	/* ...which a real tuple of all "other" also lands in... */
	assert_int_equal(aigw_metrics_series(m, fam, other), 0);
	/* ...while known tuples keep theirs. */
	assert_int_equal(aigw_metrics_series(m, fam, c), ic);
	assert_int_equal(aigw_metrics_series_count(m, fam), 3);

	aigw_metrics_inc(s, fam, a, 1);
	aigw_metrics_inc(s, fam, e, 2);
	aigw_metrics_inc(s, fam, f, 3);
	assert_int_equal(aigw_metrics_value(m, fam, 0), 5);
	assert_int_equal(aigw_metrics_value(m, fam, ia), 1);

	aigw_metrics_write_prometheus(m, &out);
	assert_string_equal(out.data,
			    "# HELP req_total Requests.\n"
			    "# TYPE req_total counter\n"
			    "req_total{route=\"a\",node=\"n1\"} 1\n"
			    "req_total{route=\"b\",node=\"n1\"} 0\n"
			    "req_total{route=\"c\",node=\"n1\"} 0\n"
			    "req_total{route=\"other\",node=\"other\"} 5\n");
	aigw_buf_release(&out);
	aigw_metrics_free(m);
}

static void test_metrics_prometheus_text(void **state)
{
	struct aigw_metrics *m = aigw_metrics_new(2);
	struct aigw_metrics_shard *s0 = aigw_metrics_shard(m, 0), *s1 = aigw_metrics_shard(m, 1);
	struct aigw_buf out = AIGW_BUF_INIT;
	static const char *const req_labels[] = { "route", "status" };
	static const char *const route_label[] = { "route" };
	static const uint64_t bounds_us[] = { 1000, 10000, 100000 };
	const struct aigw_metric_desc req = {
		.name = "aigw_requests_total", .help = "Requests answered.",
		.type = AIGW_METRIC_COUNTER, .labels = req_labels, .n_labels = 2,
	};
	const struct aigw_metric_desc inflight = {
		.name = "aigw_in_flight", .help = "Requests in flight.", .type = AIGW_METRIC_GAUGE,
	};
	const struct aigw_metric_desc latency = {
		.name = "aigw_latency_seconds", .help = "Latency \\ of \"requests\".\nSecond line.",
		.type = AIGW_METRIC_HISTOGRAM, .labels = route_label, .n_labels = 1,
		.bounds = bounds_us, .n_bounds = 3, .scale = 1e6,
	};
	const struct aigw_metric_desc empty = {
		.name = "aigw_empty_total", .help = "Nothing yet.", .type = AIGW_METRIC_COUNTER,
	};
	const struct aigw_metric_desc cost = {
		.name = "aigw_cost_usd_total", .help = "Spent.", .type = AIGW_METRIC_COUNTER,
		.scale = 1e6,
	};
	const struct aigw_metric_desc wait = {
		.name = "aigw_wait_seconds", .help = "Default buckets.",
		.type = AIGW_METRIC_HISTOGRAM,
	};
	const char *chat200[] = { "chat", "200" }, *chat429[] = { "chat", "429" };
	const char *weird[] = { "a\"b\\c\nd", "500" }, *chat[] = { "chat" };
	int f_req, f_in, f_lat, f_cost, f_wait;
	(void)state;

	f_req = aigw_metrics_family(m, &req, NULL);
	f_in = aigw_metrics_family(m, &inflight, NULL);
	f_lat = aigw_metrics_family(m, &latency, NULL);
	assert_true(aigw_metrics_family(m, &empty, NULL) >= 0);
	f_cost = aigw_metrics_family(m, &cost, NULL);
	f_wait = aigw_metrics_family(m, &wait, NULL);
	assert_true(f_req >= 0 && f_in >= 0 && f_lat >= 0 && f_cost >= 0 && f_wait >= 0);

	aigw_metrics_inc(s0, f_req, chat200, 3);
	aigw_metrics_inc(s1, f_req, chat200, 2);
	aigw_metrics_inc(s1, f_req, weird, 1);
	aigw_metrics_inc(s0, f_req, chat429, 1);
	aigw_metrics_gauge(s0, f_in, NULL, 5);
	aigw_metrics_gauge(s1, f_in, NULL, -7);
	aigw_metrics_observe_labels(s0, f_lat, chat, 500);
	aigw_metrics_observe_labels(s0, f_lat, chat, 1000); /* le is inclusive */
	aigw_metrics_observe_labels(s1, f_lat, chat, 5000);
	aigw_metrics_observe_labels(s1, f_lat, chat, 2000000);
	aigw_metrics_inc(s1, f_cost, NULL, 1250000);
	aigw_metrics_observe_labels(s0, f_wait, NULL, 30000);
	/* Wrong-type calls are ignored rather than corrupting values. */
	aigw_metrics_observe_labels(s0, f_req, chat200, 1);
	aigw_metrics_inc(s0, f_lat, chat, 1);

	assert_int_equal(aigw_metrics_value(m, f_lat, aigw_metrics_series(m, f_lat, chat)), 4);
	assert_int_equal((int64_t)aigw_metrics_value(m, f_in, aigw_metrics_series(m, f_in, NULL)),
			 -2);

	aigw_metrics_write_prometheus(m, &out);
	assert_string_equal(out.data,
		"# HELP aigw_cost_usd_total Spent.\n"
		"# TYPE aigw_cost_usd_total counter\n"
		"aigw_cost_usd_total 1.25\n"
		"# HELP aigw_empty_total Nothing yet.\n"
		"# TYPE aigw_empty_total counter\n"
		"# HELP aigw_in_flight Requests in flight.\n"
		"# TYPE aigw_in_flight gauge\n"
		"aigw_in_flight -2\n"
		"# HELP aigw_latency_seconds Latency \\\\ of \"requests\".\\nSecond line.\n"
		"# TYPE aigw_latency_seconds histogram\n"
		"aigw_latency_seconds_bucket{route=\"chat\",le=\"0.001\"} 2\n"
		"aigw_latency_seconds_bucket{route=\"chat\",le=\"0.01\"} 3\n"
		"aigw_latency_seconds_bucket{route=\"chat\",le=\"0.1\"} 3\n"
		"aigw_latency_seconds_bucket{route=\"chat\",le=\"+Inf\"} 4\n"
		"aigw_latency_seconds_sum{route=\"chat\"} 2.0065\n"
		"aigw_latency_seconds_count{route=\"chat\"} 4\n"
		"# HELP aigw_requests_total Requests answered.\n"
		"# TYPE aigw_requests_total counter\n"
		"aigw_requests_total{route=\"a\\\"b\\\\c\\nd\",status=\"500\"} 1\n"
		"aigw_requests_total{route=\"chat\",status=\"200\"} 5\n"
		"aigw_requests_total{route=\"chat\",status=\"429\"} 1\n"
		"# HELP aigw_wait_seconds Default buckets.\n"
		"# TYPE aigw_wait_seconds histogram\n"
		"aigw_wait_seconds_bucket{le=\"0.0005\"} 0\n"
		"aigw_wait_seconds_bucket{le=\"0.001\"} 0\n"
		"aigw_wait_seconds_bucket{le=\"0.0025\"} 0\n"
		"aigw_wait_seconds_bucket{le=\"0.005\"} 0\n"
		"aigw_wait_seconds_bucket{le=\"0.01\"} 0\n"
		"aigw_wait_seconds_bucket{le=\"0.025\"} 0\n"
		"aigw_wait_seconds_bucket{le=\"0.05\"} 1\n"
		"aigw_wait_seconds_bucket{le=\"0.1\"} 1\n"
		"aigw_wait_seconds_bucket{le=\"0.25\"} 1\n"
		"aigw_wait_seconds_bucket{le=\"0.5\"} 1\n"
		"aigw_wait_seconds_bucket{le=\"1\"} 1\n"
		"aigw_wait_seconds_bucket{le=\"2.5\"} 1\n"
		"aigw_wait_seconds_bucket{le=\"5\"} 1\n"
		"aigw_wait_seconds_bucket{le=\"10\"} 1\n"
		"aigw_wait_seconds_bucket{le=\"30\"} 1\n"
		"aigw_wait_seconds_bucket{le=\"60\"} 1\n"
		"aigw_wait_seconds_bucket{le=\"+Inf\"} 1\n"
		"aigw_wait_seconds_sum 0.03\n"
		"aigw_wait_seconds_count 1\n");
	aigw_buf_release(&out);
	aigw_metrics_free(m);
}

/* --------------------------------------------------------- real threads */

#define THREADS 4
#define ADDS 1000000
#define SHARED_TUPLES 64

struct worker {
	pthread_t thread;
	struct aigw_metrics_shard *shard;
	int requests, in_flight;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct aigw_metrics *m = w->shard->metrics;
	const char *tuple[] = { "chat", "200" };
	uint32_t series = aigw_metrics_series(m, w->requests, tuple);
	uint32_t gauge = aigw_metrics_series(m, w->in_flight, NULL);
	char name[16];

	for (int i = 0; i < ADDS; i++) {
		/* Mostly by cached id, as serve would; sometimes by labels. */
		if (i % 64 == 0)
			aigw_metrics_inc(w->shard, w->requests, tuple, 1);
		else
			aigw_metrics_add(w->shard, w->requests, series, 1);
		aigw_metrics_gauge_add(w->shard, w->in_flight, gauge, i % 2 ? -1 : 2);
	}
	/* Every thread meets the same new tuples at about the same time:
	 * each must be created once. */
	for (int i = 0; i < SHARED_TUPLES; i++) {
		const char *t[2] = { name, "200" };
		snprintf(name, sizeof(name), "r%d", i);
		aigw_metrics_inc(w->shard, w->requests, t, 1);
	}
	return NULL;
}

static void test_metrics_shards_across_threads(void **state)
{
	struct aigw_metrics *m = aigw_metrics_new(THREADS);
	struct worker workers[THREADS];
	struct aigw_buf out = AIGW_BUF_INIT;
	static const char *const labels[] = { "route", "status" };
	const struct aigw_metric_desc req = {
		.name = "requests_total", .help = "r", .type = AIGW_METRIC_COUNTER,
		.labels = labels, .n_labels = 2,
	};
	const struct aigw_metric_desc gauge = {
		.name = "in_flight", .help = "g", .type = AIGW_METRIC_GAUGE,
	};
	const char *tuple[] = { "chat", "200" };
	int f_req = aigw_metrics_family(m, &req, NULL);
	int f_gauge = aigw_metrics_family(m, &gauge, NULL);
	char name[16];
	(void)state;

	for (unsigned i = 0; i < THREADS; i++) {
		workers[i].shard = aigw_metrics_shard(m, i);
		workers[i].requests = f_req;
		workers[i].in_flight = f_gauge;
		assert_int_equal(pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]), 0);
	}
	/* The exporter reads while the workers write. */
	for (int i = 0; i < 20; i++) {
		aigw_buf_reset(&out);
		aigw_metrics_write_prometheus(m, &out);
		assert_non_null(strstr(out.data, "# TYPE requests_total counter\n"));
	}
	for (unsigned i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(workers[i].thread, NULL), 0);

	assert_int_equal(aigw_metrics_value(m, f_req, aigw_metrics_series(m, f_req, tuple)),
			 THREADS * ADDS);
	assert_int_equal(aigw_metrics_value(m, f_gauge, aigw_metrics_series(m, f_gauge, NULL)),
			 THREADS * ADDS / 2);
	assert_int_equal(aigw_metrics_series_count(m, f_req), 1 + SHARED_TUPLES);
	for (int i = 0; i < SHARED_TUPLES; i++) {
		const char *t[2] = { name, "200" };
		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(aigw_metrics_value(m, f_req, aigw_metrics_series(m, f_req, t)),
				 THREADS);
	}
	aigw_buf_reset(&out);
	aigw_metrics_write_prometheus(m, &out);
	assert_non_null(strstr(out.data, "requests_total{route=\"chat\",status=\"200\"} 4000000\n"));
	assert_non_null(strstr(out.data, "\nin_flight 2000000\n"));
	aigw_buf_release(&out);
	aigw_metrics_free(m);
}

/* Each thread owns a histogram; another thread merges them while they
 * record, and the final merge accounts for every value. */
struct hist_worker {
	pthread_t thread;
	struct aigw_hist hist;
	uint64_t n;
};

static void *hist_worker_main(void *arg)
{
	struct hist_worker *w = arg;
	for (uint64_t i = 1; i <= w->n; i++)
		aigw_hist_record(&w->hist, i);
	return NULL;
}

static void test_hist_shards_across_threads(void **state)
{
	struct hist_worker w[THREADS];
	struct aigw_hist total;
	(void)state;

	init_hist(&total, AIGW_HIST_HOUR_US, 3);
	for (unsigned i = 0; i < THREADS; i++) {
		init_hist(&w[i].hist, AIGW_HIST_HOUR_US, 3);
		w[i].n = 1000000;
		assert_int_equal(pthread_create(&w[i].thread, NULL, hist_worker_main, &w[i]), 0);
	}
	for (int round = 0; round < 5; round++) {
		aigw_hist_reset(&total);
		for (unsigned i = 0; i < THREADS; i++)
			assert_int_equal(aigw_hist_merge(&total, &w[i].hist, NULL), 0);
		/* A snapshot's total always agrees with its buckets. */
		struct aigw_hist_iter it;
		aigw_hist_iter_init(&it, &total);
		while (aigw_hist_iter_next(&it))
			;
		assert_int_equal(it.cumulative, aigw_hist_count(&total));
	}
	for (unsigned i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(w[i].thread, NULL), 0);
	aigw_hist_reset(&total);
	for (unsigned i = 0; i < THREADS; i++)
		assert_int_equal(aigw_hist_merge(&total, &w[i].hist, NULL), 0);
	assert_int_equal(aigw_hist_count(&total), THREADS * w[0].n);
	assert_int_equal(aigw_hist_max(&total), w[0].n);
	assert_close(aigw_hist_value_at_percentile(&total, 50), w[0].n / 2, "merged p50");
	for (unsigned i = 0; i < THREADS; i++)
		aigw_hist_release(&w[i].hist);
	aigw_hist_release(&total);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hist_init_errors),
		cmocka_unit_test(test_hist_bucket_precision),
		cmocka_unit_test(test_hist_single_value_percentiles),
		cmocka_unit_test(test_hist_percentiles_of_a_million),
		cmocka_unit_test(test_hist_iteration),
		cmocka_unit_test(test_hist_clamps_above_highest),
		cmocka_unit_test(test_hist_merge_equals_recording_in_one),
		cmocka_unit_test(test_hist_subtract_gives_the_interval),
		cmocka_unit_test(test_hist_coordinated_omission),
		cmocka_unit_test(test_hist_fixed_memory_and_speed),
		cmocka_unit_test(test_format_us),
		cmocka_unit_test(test_metrics_family_errors),
		cmocka_unit_test(test_metrics_series_cap),
		cmocka_unit_test(test_metrics_prometheus_text),
		cmocka_unit_test(test_metrics_shards_across_threads),
		cmocka_unit_test(test_hist_shards_across_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
