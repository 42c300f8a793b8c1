/* Tests for models: which price covers a model, costs, aliases. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "models.h"

static void test_covers(void **state)
{
	(void)state;
	assert_true(aigw_price_covers("gpt-4o", "gpt-4o") > 0);
	assert_true(aigw_price_covers("gpt-4o", "gpt-4o-2024-08-06") > 0);
	assert_int_equal(aigw_price_covers("gpt-4o", "gpt-4o-mini"), 0);
	assert_int_equal(aigw_price_covers("gpt-4o", "gpt-4"), 0);
	assert_int_equal(aigw_price_covers("gpt-4o", "gpt-4o-"), 0);
	assert_true(aigw_price_covers("my-*", "my-model") > 0);
	/* an exact name beats a glob with as many literal bytes */
	assert_true(aigw_price_covers("gpt-4o", "gpt-4o") > aigw_price_covers("gpt-4o*", "gpt-4o"));
}

static void test_find(void **state)
{
	const struct aigw_price *p;
	struct aigw_price over[] = { { (char *)"gpt-4o", 1, 2, -1, -1 } };
	(void)state;

	p = aigw_price_find(NULL, 0, "gpt-4o-mini-2024-07-18");
	assert_non_null(p);
	assert_string_equal(p->model, "gpt-4o-mini");
	p = aigw_price_find(NULL, 0, "claude-sonnet-4-5-20250929");
	assert_string_equal(p->model, "claude-sonnet-4-5");
	p = aigw_price_find(NULL, 0, "models/gemini-2.5-flash");
	assert_string_equal(p->model, "gemini-2.5-flash");
	assert_null(aigw_price_find(NULL, 0, "llama3"));
	assert_null(aigw_price_find(NULL, 0, ""));
	assert_null(aigw_price_find(NULL, 0, NULL));
	p = aigw_price_find(over, 1, "gpt-4o-2024-08-06");
	assert_ptr_equal(p, &over[0]);
}

static void test_cost(void **state)
{
	struct aigw_price p = { (char *)"m", 3.0, 15.0, 0.30, 3.75 };
	struct aigw_price q = { (char *)"m", 2.5, 10.0, -1, -1 };
	(void)state;

	/* 1000 fresh input, 200 cache reads, 100 cache writes, 50 output */
	assert_int_equal(aigw_price_cost_micro(&p, 1300, 50, 200, 100),
			 1000 * 3 + 200 * 0.3 + 100 * 3.75 + 50 * 15);
	/* cache prices default to the input price; unknown cache counts are 0 */
	assert_int_equal(aigw_price_cost_micro(&q, 100, 10, 40, -1), 100 * 2.5 + 10 * 10);
	assert_int_equal(aigw_price_cost_micro(&q, -1, 10, -1, -1), -1);
	assert_int_equal(aigw_price_cost_micro(&q, 10, -1, -1, -1), -1);
	assert_int_equal(aigw_price_cost_micro(NULL, 10, 10, -1, -1), -1);
	/* more cached than prompt (a provider's rounding) never goes negative */
	assert_true(aigw_price_cost_micro(&p, 10, 0, 20, 0) >= 0);
}

static void test_alias_validate(void **state)
{
	struct aigw_alias a = { 0 };
	(void)state;

	a.name = (char *)"fast";
	assert_int_not_equal(aigw_alias_validate(&a, NULL), 0); /* no target */
	aigw_strv_push(&a.targets, "fast");
	assert_int_not_equal(aigw_alias_validate(&a, NULL), 0); /* itself */
	aigw_strv_release(&a.targets);
	aigw_strv_push(&a.targets, "gpt-4o-mini");
	assert_int_equal(aigw_alias_validate(&a, NULL), 0);
	a.name = (char *)"bad name";
	assert_int_not_equal(aigw_alias_validate(&a, NULL), 0);
	aigw_strv_release(&a.targets);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_covers),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_cost),
		cmocka_unit_test(test_alias_validate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
