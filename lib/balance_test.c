/* Tests for balance: selection shares and skipping of ineligible nodes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "balance.h"
#include "route.h"

static void test_round_robin_cycles_and_skips(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_candidate c[3] = { { 1, true }, { 1, true }, { 1, true } };
	int seen[3] = { 0 };
	(void)state;

	aigw_balancer_init(&b, AIGW_POLICY_ROUND_ROBIN, 3);
	for (int i = 0; i < 300; i++)
		seen[aigw_balance_pick(&b, c)]++;
	assert_int_equal(seen[0], 100);
	assert_int_equal(seen[1], 100);
	assert_int_equal(seen[2], 100);
	c[1].eligible = false;
	for (int i = 0; i < 50; i++)
		assert_int_not_equal(aigw_balance_pick(&b, c), 1);
	c[0].eligible = c[2].eligible = false;
	assert_int_equal(aigw_balance_pick(&b, c), -1);
	aigw_balancer_release(&b);
}

static void test_weighted_exact_shares_interleaved(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_candidate c[3] = { { 5, true }, { 1, true }, { 1, true } };
	int seen[3] = { 0 }, run = 0, longest = 0, last = -1;
	(void)state;

	aigw_balancer_init(&b, AIGW_POLICY_WEIGHTED, 3);
	/* Over every window of sum-of-weights picks, exact shares. */
	for (int round = 0; round < 10; round++) {
		memset(seen, 0, sizeof(seen));
		for (int i = 0; i < 7; i++) {
			int p = aigw_balance_pick(&b, c);
			seen[p]++;
			run = p == last ? run + 1 : 1;
			last = p;
			if (run > longest)
				longest = run;
		}
		assert_int_equal(seen[0], 5);
		assert_int_equal(seen[1], 1);
		assert_int_equal(seen[2], 1);
	}
	/* smooth: the heavy node never takes all five in a row */
	assert_true(longest < 5);
	aigw_balancer_release(&b);
}

static void test_weighted_skips_ineligible(void **state)
{
	struct aigw_balancer b;
	struct aigw_balance_candidate c[2] = { { 3, true }, { 1, false } };
	(void)state;

	aigw_balancer_init(&b, AIGW_POLICY_WEIGHTED, 2);
	for (int i = 0; i < 20; i++)
		assert_int_equal(aigw_balance_pick(&b, c), 0);
	/* Back again: shares resume without a burst towards node 1. */
	c[1].eligible = true;
	int ones = 0;
	for (int i = 0; i < 8; i++)
		ones += aigw_balance_pick(&b, c) == 1;
	assert_int_equal(ones, 2);
	c[0].eligible = c[1].eligible = false;
	assert_int_equal(aigw_balance_pick(&b, c), -1);
	aigw_balancer_release(&b);
}

static void test_empty(void **state)
{
	struct aigw_balancer b;
	(void)state;
	aigw_balancer_init(&b, AIGW_POLICY_WEIGHTED, 0);
	assert_int_equal(aigw_balance_pick(&b, NULL), -1);
	aigw_balancer_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_robin_cycles_and_skips),
		cmocka_unit_test(test_weighted_exact_shares_interleaved),
		cmocka_unit_test(test_weighted_skips_ineligible),
		cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
