/* stats_test: the questions of `aigw stats` against a request log written
 * by the real writer (aigw_reqlog_start/push/stop), so the rollups are the
 * ones serve makes. Every window is also answered from raw rows alone (by
 * SQL, and by bucketing raw latencies into the same histogram), and the
 * answers must match: counts and sums exactly, percentiles exactly as the
 * histogram of the raw rows gives them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "testutil.h"
#include "mem.h"
#include "reqlog.h"
#include "stats.h"
#include "store.h"
#include "str.h"

/* A minute boundary, so row times below land in known minutes. */
#define T0 ((int64_t)28333334 * 60000)
#define ROWS 4000
#define MINUTES 10

struct fixture {
	char dir[64];
	char db[128];
	struct aigw_store *store;
};

/* Row i of the fixture: every field derived from i. */
static void make_row(struct aigw_reqlog_row *row, int i)
{
	aigw_reqlog_row_init(row);
	/* Spread over MINUTES minutes, back and forth across boundaries. */
	row->ts_ms = T0 + (int64_t)(i % MINUTES) * 60000 + ((int64_t)i * 7919) % 60000;
	snprintf(row->request_id, sizeof(row->request_id), "r%d", i);
	if (i % 17)
		snprintf(row->route, sizeof(row->route), "route-%d", i % 3);
	snprintf(row->node, sizeof(row->node), "node-%d", i % 2);
	snprintf(row->model, sizeof(row->model), "model-%d", i % 4);
	if (i % 5) {
		row->key_id = 1 + i % 5;
		snprintf(row->key_name, sizeof(row->key_name), "key-%d", i % 5);
	}
	row->status = i % 10 == 0 ? 502 : i % 10 == 1 ? 429 : i % 29 == 0 ? 0 : 200;
	row->latency_us = 500 + (int64_t)(i % 997) * 53;
	if (i % 3)
		row->ttfb_us = 100 + (i % 313) * 7;
	row->prompt_tokens = 10 + i % 20;
	row->completion_tokens = i % 7 ? 30 + i % 40 : AIGW_REQLOG_NONE;
	/* model-3 is never priced: its cost is unknown, not 0. */
	row->cost_micro = i % 4 == 3 ? AIGW_REQLOG_NONE : 7 * (i % 11);
	if (row->status == 200 && i % 13 == 0)
		aigw_strlcpy(row->error, "stream_reset", sizeof(row->error));
}

static int setup(void **state)
{
	struct fixture *f = aigw_calloc(1, sizeof(*f));
	struct aigw_reqlog *log = NULL;
	struct aigw_reqlog_row row;
	struct aigw_err err = { 0 };

	if (!aigw_test_tmpdir(f->dir, sizeof(f->dir), "stats-test")) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/aigw.db", f->dir);
	/* Small batches: a minute's rollup is summed over many transactions. */
	if (aigw_reqlog_start(&log, f->db, 8192, 97, 5, &err))
		return -1;
	for (int i = 0; i < ROWS; i++) {
		make_row(&row, i);
		if (!aigw_reqlog_push(log, &row))
			return -1;
	}
	aigw_reqlog_stop(log);
	if (aigw_store_open(&f->store, f->db, 0, &err))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aigw_store_close(f->store);
	aigw_test_rmtree(f->dir);
	free(f);
	return 0;
}

/* ------------------------------------------------------------- helpers */

static sqlite3 *raw_open(const struct fixture *f)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	return db;
}

/* What the raw rows of [since, until) say, with an optional extra
 * condition, as the writer would count them. */
struct expect {
	int64_t requests, errors, latency_sum, ttfb_count, ttfb_sum, prompt, completion, cost,
		priced;
	uint64_t latency[AIGW_REQLOG_HIST_BUCKETS], ttfb[AIGW_REQLOG_HIST_BUCKETS];
};

static void expect_raw(const struct fixture *f, int64_t since, int64_t until, const char *cond,
		       struct expect *e)
{
	sqlite3 *db = raw_open(f);
	sqlite3_stmt *st;
	char sql[1024];

	memset(e, 0, sizeof(*e));
	snprintf(sql, sizeof(sql),
		 "SELECT count(*), coalesce(sum(status >= 400 OR status < 100 OR error IS NOT NULL), 0),"
		 " coalesce(sum(latency_us), 0), count(ttfb_us), coalesce(sum(ttfb_us), 0),"
		 " coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),"
		 " coalesce(sum(cost_micro), 0), count(cost_micro)"
		 " FROM request_log WHERE ts_ms >= %lld AND ts_ms < %lld AND (%s)",
		 (long long)since, (long long)until, cond);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	e->requests = sqlite3_column_int64(st, 0);
	e->errors = sqlite3_column_int64(st, 1);
	e->latency_sum = sqlite3_column_int64(st, 2);
	e->ttfb_count = sqlite3_column_int64(st, 3);
	e->ttfb_sum = sqlite3_column_int64(st, 4);
	e->prompt = sqlite3_column_int64(st, 5);
	e->completion = sqlite3_column_int64(st, 6);
	e->cost = sqlite3_column_int64(st, 7);
	e->priced = sqlite3_column_int64(st, 8);
	sqlite3_finalize(st);
	snprintf(sql, sizeof(sql),
		 "SELECT latency_us, ttfb_us FROM request_log"
		 " WHERE ts_ms >= %lld AND ts_ms < %lld AND (%s)",
		 (long long)since, (long long)until, cond);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		e->latency[aigw_reqlog_hist_bucket((uint64_t)sqlite3_column_int64(st, 0))]++;
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			e->ttfb[aigw_reqlog_hist_bucket((uint64_t)sqlite3_column_int64(st, 1))]++;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void assert_group(const struct aigw_stats_group *g, const struct expect *e)
{
	assert_int_equal(g->requests, e->requests);
	assert_int_equal(g->errors, e->errors);
	assert_int_equal(g->latency_sum_us, e->latency_sum);
	assert_int_equal(g->ttfb_count, e->ttfb_count);
	assert_int_equal(g->ttfb_sum_us, e->ttfb_sum);
	assert_int_equal(g->prompt_tokens, e->prompt);
	assert_int_equal(g->completion_tokens, e->completion);
	assert_int_equal(g->cost_micro, e->cost);
	assert_int_equal(g->priced, e->priced);
	assert_memory_equal(g->latency, e->latency, sizeof(e->latency));
	assert_memory_equal(g->ttfb, e->ttfb, sizeof(e->ttfb));
}

static void summary_ok(struct fixture *f, int64_t since, int64_t until, enum aigw_stats_by by,
		       struct aigw_stats_result *r)
{
	struct aigw_stats_query q = { since, until, by, 0 };
	struct aigw_err err = { 0 };

	if (aigw_stats_summary(f->store, &q, r, &err))
		fail_msg("summary: %s", err.msg);
}

/* ---------------------------------------------------------------- tests */

static void test_windows_equal_raw_rows(void **state)
{
	struct fixture *f = *state;
	/* Whole minutes only, partial edges on both sides, within one
	 * minute, across one boundary, and the whole log. */
	static const struct {
		int64_t since, until;
		bool rollups, raw;
	} windows[] = {
		{ T0, T0 + MINUTES * 60000, true, false },
		{ T0 + 12345, T0 + 7 * 60000 + 999, true, true },
		{ T0 + 60000 + 1, T0 + 60000 + 59999, false, true },
		{ T0 + 59000, T0 + 61000, false, true },
		{ T0 - 3600000, T0 + 3600000, true, false },
		{ T0 + 30000, T0 + 10 * 60000, true, true },
	};

	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
		struct aigw_stats_result r;
		struct expect e;

		summary_ok(f, windows[i].since, windows[i].until, AIGW_STATS_BY_NONE, &r);
		expect_raw(f, windows[i].since, windows[i].until, "1", &e);
		assert_true(e.requests > 0);
		assert_int_equal(r.n, 1);
		assert_group(&r.total, &e);
		assert_group(&r.groups[0], &e);
		assert_int_equal(r.rollup_rows > 0, windows[i].rollups);
		assert_int_equal(r.raw_rows > 0, windows[i].raw);
		/* Percentiles are the histogram's: within ~6% of the rows'. */
		assert_int_equal(aigw_stats_latency_p(&r.total, 99),
				 (int64_t)aigw_reqlog_hist_percentile(e.latency, 99));
		aigw_stats_result_release(&r);
	}
}

static void test_group_by_each_column(void **state)
{
	struct fixture *f = *state;
	int64_t since = T0 + 25000, until = T0 + 8 * 60000 + 5000;
	struct aigw_stats_result r;
	struct expect e;

	summary_ok(f, since, until, AIGW_STATS_BY_ROUTE, &r);
	assert_int_equal(r.n, 4); /* three routes and rows without one */
	for (size_t i = 0; i < r.n; i++) {
		char cond[128];
		if (r.groups[i].label)
			snprintf(cond, sizeof(cond), "route = '%s'", r.groups[i].label);
		else
			snprintf(cond, sizeof(cond), "route IS NULL");
		expect_raw(f, since, until, cond, &e);
		assert_group(&r.groups[i], &e);
		if (i)
			assert_true(r.groups[i - 1].requests >= r.groups[i].requests);
	}
	assert_null(r.groups[3].label); /* the fewest: i % 17 == 0 */
	aigw_stats_result_release(&r);

	summary_ok(f, since, until, AIGW_STATS_BY_KEY, &r);
	assert_int_equal(r.n, 5);
	for (size_t i = 0; i < r.n; i++) {
		char cond[128];
		if (r.groups[i].key_id) {
			char label[32];
			snprintf(label, sizeof(label), "key-%lld", (long long)r.groups[i].key_id - 1);
			assert_string_equal(r.groups[i].label, label);
			snprintf(cond, sizeof(cond), "key_id = %lld", (long long)r.groups[i].key_id);
		} else {
			assert_null(r.groups[i].label);
			snprintf(cond, sizeof(cond), "key_id IS NULL");
		}
		expect_raw(f, since, until, cond, &e);
		assert_group(&r.groups[i], &e);
	}
	aigw_stats_result_release(&r);

	summary_ok(f, since, until, AIGW_STATS_BY_STATUS, &r);
	assert_int_equal(r.n, 4);
	assert_string_equal(r.groups[0].label, "2xx");
	assert_string_equal(r.groups[1].label, "4xx");
	assert_string_equal(r.groups[2].label, "5xx");
	assert_string_equal(r.groups[3].label, "none");
	expect_raw(f, since, until, "status BETWEEN 400 AND 499", &e);
	assert_group(&r.groups[1], &e);
	expect_raw(f, since, until, "status = 0", &e);
	assert_group(&r.groups[3], &e);
	assert_int_equal(r.groups[3].errors, r.groups[3].requests);
	aigw_stats_result_release(&r);

	/* Cost: model-3 is never priced, so its cost is unknown (priced 0),
	 * while the others are known. */
	summary_ok(f, since, until, AIGW_STATS_BY_MODEL, &r);
	assert_int_equal(r.n, 4);
	for (size_t i = 0; i < r.n; i++) {
		char cond[128];
		snprintf(cond, sizeof(cond), "model = '%s'", r.groups[i].label);
		expect_raw(f, since, until, cond, &e);
		assert_group(&r.groups[i], &e);
		if (strcmp(r.groups[i].label, "model-3") == 0) {
			assert_int_equal(r.groups[i].priced, 0);
			assert_int_equal(r.groups[i].cost_micro, 0);
		} else {
			assert_int_equal(r.groups[i].priced, r.groups[i].requests);
		}
	}
	assert_true(r.total.priced > 0 && r.total.priced < r.total.requests);
	aigw_stats_result_release(&r);

	summary_ok(f, since, until, AIGW_STATS_BY_NODE, &r);
	assert_int_equal(r.n, 2);
	expect_raw(f, since, until, "node = 'node-1'", &e);
	assert_group(strcmp(r.groups[0].label, "node-1") == 0 ? &r.groups[0] : &r.groups[1], &e);
	aigw_stats_result_release(&r);
}

static void test_timeseries_buckets(void **state)
{
	struct fixture *f = *state;
	struct aigw_stats_query q = { T0 - 120000 + 30000, T0 + 12 * 60000, AIGW_STATS_BY_TIME,
				      2 * 60000 };
	struct aigw_stats_result r;
	struct aigw_err err = { 0 };
	struct expect e;

	assert_int_equal(aigw_stats_summary(f->store, &q, &r, &err), 0);
	/* [T0-90s, T0+12m) in 2-minute buckets from T0-2m: 7 buckets. */
	assert_int_equal(r.n, 7);
	assert_int_equal(r.groups[0].bucket_ms, T0 - 120000);
	assert_int_equal(r.groups[0].requests, 0); /* before the log: empty, still there */
	for (size_t i = 1; i < r.n; i++) {
		int64_t b = r.groups[i].bucket_ms;
		assert_int_equal(b, T0 + (int64_t)(i - 1) * 120000);
		expect_raw(f, b, b + 120000, "1", &e);
		assert_group(&r.groups[i], &e);
	}
	assert_int_equal(r.groups[6].requests, 0);
	expect_raw(f, q.since_ms, q.until_ms, "1", &e);
	assert_group(&r.total, &e);
	aigw_stats_result_release(&r);
}

static void test_bad_queries(void **state)
{
	struct fixture *f = *state;
	struct aigw_stats_result r;
	struct aigw_err err = { 0 };
	struct aigw_stats_query q = { T0, T0, AIGW_STATS_BY_NONE, 0 };

	assert_int_equal(aigw_stats_summary(f->store, &q, &r, &err), AIGW_EINVAL);
	assert_string_equal(err.msg, "the window is empty (until is not after since)");
	aigw_stats_result_release(&r);
	q = (struct aigw_stats_query){ T0, T0 + 60000, AIGW_STATS_BY_TIME, 90000 };
	assert_int_equal(aigw_stats_summary(f->store, &q, &r, &err), AIGW_EINVAL);
	assert_string_equal(err.msg, "the interval must be a whole number of minutes");
	aigw_stats_result_release(&r);
	q = (struct aigw_stats_query){ 0, T0, AIGW_STATS_BY_TIME, 60000 };
	assert_int_equal(aigw_stats_summary(f->store, &q, &r, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "more than 10000"));
	aigw_stats_result_release(&r);
}

static void test_empty_window_and_no_ttfb(void **state)
{
	struct fixture *f = *state;
	struct aigw_stats_result r;

	summary_ok(f, T0 - 7200000, T0 - 3600000, AIGW_STATS_BY_ROUTE, &r);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.total.requests, 0);
	assert_int_equal(aigw_stats_latency_p(&r.total, 50), -1);
	assert_int_equal(aigw_stats_ttfb_p(&r.total, 50), -1);
	aigw_stats_result_release(&r);
}

static void test_tail_and_after(void **state)
{
	struct fixture *f = *state;
	struct aigw_stats_row *rows;
	struct aigw_err err = { 0 };
	size_t n;

	assert_int_equal(aigw_stats_tail(f->store, 3, &rows, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_int_equal(rows[0].id, ROWS - 2);
	assert_int_equal(rows[2].id, ROWS);
	assert_string_equal(rows[2].request_id, "r3999");
	/* i = 3999: route-0, no key (3999 % 5 == 4: key-4, id 5), status 200 */
	assert_string_equal(rows[2].route, "route-0");
	assert_int_equal(rows[2].key_id, 5);
	assert_string_equal(rows[2].key_name, "key-4");
	assert_int_equal(rows[2].cost_micro, AIGW_REQLOG_NONE); /* model-3 */
	assert_int_equal(rows[2].ttfb_us, AIGW_REQLOG_NONE);    /* 3999 % 3 == 0 */
	free(rows);

	assert_int_equal(aigw_stats_after(f->store, ROWS - 5, 2, &rows, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].id, ROWS - 4);
	assert_int_equal(rows[1].id, ROWS - 3);
	free(rows);
	assert_int_equal(aigw_stats_after(f->store, ROWS, 100, &rows, &n, &err), 0);
	assert_int_equal(n, 0);
	free(rows);
}

static void test_parse_time(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int64_t want; /* ms; INT64_MIN: refused */
	} cases[] = {
		{ "1h", 1800000000000 - 3600000 },
		{ "90s", 1800000000000 - 90000 },
		{ "1h30m", 1800000000000 - 5400000 },
		{ "7d", 1800000000000 - 7 * 86400000LL },
		{ "1795000000", 1795000000000 },
		{ "0", 0 },
		{ "2026-11-23", 1795392000000 },
		{ "2026-11-23T01:45:00Z", 1795398300000 },
		{ "2026-11-23t01:45:00z", 1795398300000 },
		{ "2026-11-23T03:45:00+02:00", 1795398300000 },
		{ "2026-11-22T23:45:00-02:00", 1795398300000 },
		{ "2026-11-23T01:45:00.25Z", 1795398300250 },
		{ "2026-11-23T01:45:00.123456Z", 1795398300123 },
		{ "", INT64_MIN },
		{ "yesterday", INT64_MIN },
		{ "1", 1000 },
		{ "-5m", INT64_MIN },
		{ "2026-13-01", INT64_MIN },
		{ "2026-11-23T01:45:00", INT64_MIN },
		{ "2026-11-23T01:45:00+2", INT64_MIN },
		{ "2026-11-23T01:45:00.Z", INT64_MIN },
		{ "2026-11-23T25:45:00Z", INT64_MIN },
		{ "99999999999999999999", INT64_MIN },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aigw_err err = { 0 };
		int64_t got = 0;
		int rc = aigw_stats_parse_time(cases[i].in, 1800000000000, &got, &err);
		if (cases[i].want == INT64_MIN) {
			if (rc != AIGW_EINVAL)
				fail_msg("'%s' was accepted as %lld", cases[i].in, (long long)got);
			assert_non_null(strstr(err.msg, "is not a time"));
		} else {
			if (rc)
				fail_msg("'%s': %s", cases[i].in, err.msg);
			if (got != cases[i].want)
				fail_msg("'%s': %lld, want %lld", cases[i].in, (long long)got,
					 (long long)cases[i].want);
		}
	}
}

static void test_malformed_histogram_is_reported(void **state)
{
	struct fixture *f = *state;
	struct aigw_stats_result r;
	struct aigw_err err = { 0 };
	struct aigw_stats_query q = { T0, T0 + 60000, AIGW_STATS_BY_NONE, 0 };
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "UPDATE request_rollup SET latency_hist = x'07'"
				      " WHERE minute = (SELECT min(minute) FROM request_rollup)",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(aigw_stats_summary(f->store, &q, &r, &err), AIGW_EFAIL);
	assert_non_null(strstr(err.msg, "malformed latency histogram"));
	aigw_stats_result_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test_setup_teardown(test_windows_equal_raw_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_by_each_column, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeseries_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_window_and_no_ttfb, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tail_and_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_histogram_is_reported, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
