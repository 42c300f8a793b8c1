/* Tests for live.c: rows from the health module and shares of traffic. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "health.h"
#include "live.h"
#include "node.h"

static struct aigw_health *two(void)
{
	struct aigw_err err = { 0 };
	struct aigw_health_conf c;
	struct aigw_health *h;
	struct aigw_node nodes[2];

	aigw_health_conf_init(&c);
	c.outlier_failures = 1000000; /* the breaker only */
	h = aigw_health_new(&c, &err);

	assert_non_null(h);
	memset(nodes, 0, sizeof(nodes));
	nodes[0].name = "a";
	nodes[0].url = "http://127.0.0.1:1";
	nodes[1].name = "b";
	nodes[1].url = "http://127.0.0.1:2";
	assert_int_equal(aigw_health_sync(h, nodes, 2, NULL, &err), 0);
	return h;
}

/* Rows carry state, in flight, latency, picks, failures and a wall clock
 * retry time; shares follow the picks since the previous publish and
 * older ones fade. */
static void test_rows_and_shares(void **state)
{
	static const char *const names[] = { "a", "b" };
	struct aigw_health *h = two();
	struct aigw_live_tracker t = { 0 };
	struct aigw_node_live *rows;
	(void)state;

	for (int i = 0; i < 3; i++)
		aigw_health_begin(h, "a");
	aigw_health_begin(h, "b");
	aigw_health_end(h, "a");
	aigw_health_latency(h, "a", 7000);
	for (int i = 0; i < 5; i++)
		aigw_health_record(h, "b", NULL, 0, 1000, AIGW_HEALTH_FAIL_5XX);
	aigw_health_record(h, "a", NULL, 0, 1000, AIGW_HEALTH_FAIL_5XX);
	aigw_health_record(h, "a", NULL, 0, 1000, AIGW_HEALTH_FAIL_5XX);
	aigw_live_rows(h, names, 2, 1000, 50000, 7, &rows);
	assert_string_equal(rows[0].node, "a");
	assert_string_equal(rows[0].state, "closed");
	assert_int_equal(rows[0].in_flight, 2);
	assert_int_equal(rows[0].latency_us, 7000);
	assert_int_equal(rows[0].picks, 3);
	assert_int_equal(rows[0].pid, 7);
	assert_int_equal(rows[0].updated_ms, 50000);
	assert_string_equal(rows[1].state, "open");
	assert_int_equal(rows[1].latency_us, -1);
	assert_int_equal(rows[0].failures, 2);
	assert_int_equal(rows[0].retry_at_ms, 0);
	assert_int_equal(rows[1].retry_at_ms, 50000 + 5000);
	aigw_live_shares(&t, rows, 2, 1000);
	assert_true(fabs(rows[0].share - 0.75) < 1e-9);
	assert_true(fabs(rows[1].share - 0.25) < 1e-9);
	aigw_node_live_free(rows, 2);

	/* No traffic since: the shares stay. */
	aigw_live_rows(h, names, 2, 2000, 51000, 7, &rows);
	aigw_live_shares(&t, rows, 2, 2000);
	assert_true(fabs(rows[0].share - 0.75) < 1e-9);
	aigw_node_live_free(rows, 2);

	/* A minute of traffic to b only: a's old picks have faded. */
	for (int i = 0; i < 100; i++)
		aigw_health_begin(h, "b");
	aigw_live_rows(h, names, 2, 62000, 111000, 7, &rows);
	aigw_live_shares(&t, rows, 2, 62000);
	assert_true(rows[0].share < 0.01);
	assert_true(rows[1].share > 0.99);
	aigw_node_live_free(rows, 2);

	/* A node that went away is forgotten; an unknown one reads closed. */
	aigw_live_rows(h, (const char *const[]){ "c" }, 1, 62000, 111000, 7, &rows);
	assert_string_equal(rows[0].state, "closed");
	aigw_live_shares(&t, rows, 1, 63000);
	assert_int_equal(t.n, 1);
	assert_true(rows[0].share == 0);
	aigw_node_live_free(rows, 1);
	aigw_live_tracker_release(&t);
	aigw_health_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_and_shares),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
