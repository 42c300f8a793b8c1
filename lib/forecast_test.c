/* Tests for forecast: Holt's smoothing on constant, ramp and step series,
 * the forecast's floor at 0, and parameter checks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "forecast.h"

static void test_constant_converges(void **state)
{
	struct aigw_holt h;
	(void)state;

	assert_int_equal(aigw_holt_init(&h, 0.5, 0.3, NULL), 0);
	assert_true(aigw_holt_forecast(&h, 5) == 0);
	for (int i = 0; i < 50; i++)
		aigw_holt_update(&h, 10);
	assert_true(fabs(h.level - 10) < 1e-9);
	assert_true(fabs(h.trend) < 1e-9);
	assert_true(fabs(aigw_holt_forecast(&h, 5) - 10) < 1e-9);
}

static void test_ramp_extrapolated(void **state)
{
	struct aigw_holt h;
	(void)state;

	assert_int_equal(aigw_holt_init(&h, 0.5, 0.3, NULL), 0);
	/* 0, 2, 4, ...: the trend settles at 2 per interval. */
	for (int i = 0; i < 60; i++)
		aigw_holt_update(&h, 2.0 * i);
	assert_true(fabs(h.trend - 2) < 1e-3);
	assert_true(fabs(h.level - 118) < 0.1);
	/* Five intervals ahead: 128. */
	assert_true(fabs(aigw_holt_forecast(&h, 5) - 128) < 0.1);
	/* A forecast ahead of a rising series is above its level. */
	assert_true(aigw_holt_forecast(&h, 5) > aigw_holt_forecast(&h, 0));
}

static void test_step(void **state)
{
	struct aigw_holt h;
	double f1;
	(void)state;

	assert_int_equal(aigw_holt_init(&h, 0.5, 0.3, NULL), 0);
	for (int i = 0; i < 20; i++)
		aigw_holt_update(&h, 1);
	aigw_holt_update(&h, 100);
	/* First step: level = 0.5*100 + 0.5*1 = 50.5, trend = 0.3*49.5 = 14.85. */
	assert_true(fabs(h.level - 50.5) < 1e-6);
	assert_true(fabs(h.trend - 14.85) < 1e-6);
	f1 = aigw_holt_forecast(&h, 5);
	assert_true(fabs(f1 - (50.5 + 5 * 14.85)) < 1e-6);
	/* It settles at the new level. */
	for (int i = 0; i < 100; i++)
		aigw_holt_update(&h, 100);
	assert_true(fabs(aigw_holt_forecast(&h, 5) - 100) < 1e-3);
	/* And a drop to nothing forecasts 0, never below. */
	for (int i = 0; i < 3; i++)
		aigw_holt_update(&h, 0);
	assert_true(h.level + 5 * h.trend < 0);
	assert_true(aigw_holt_forecast(&h, 5) == 0);
}

static void test_bad_observations(void **state)
{
	struct aigw_holt h;
	(void)state;

	assert_int_equal(aigw_holt_init(&h, 1, 0, NULL), 0);
	aigw_holt_update(&h, -5);
	assert_true(h.level == 0);
	aigw_holt_update(&h, NAN);
	assert_true(h.level == 0);
	aigw_holt_update(&h, 7);
	assert_true(h.level == 7);
	assert_true(aigw_holt_forecast(&h, -3) == 7);
}

static void test_parameters(void **state)
{
	struct aigw_holt h = { .alpha = 0.25, .beta = 0.25 };
	struct aigw_err err = { 0 };
	(void)state;

	assert_int_equal(aigw_holt_init(&h, 0, 0.3, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "alpha"));
	assert_int_equal(aigw_holt_init(&h, 1.5, 0.3, &err), AIGW_EINVAL);
	assert_int_equal(aigw_holt_init(&h, NAN, 0.3, &err), AIGW_EINVAL);
	assert_int_equal(aigw_holt_init(&h, 0.5, -0.1, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "beta"));
	assert_int_equal(aigw_holt_init(&h, 0.5, 1.1, &err), AIGW_EINVAL);
	/* Unchanged by a refusal. */
	assert_true(h.alpha == 0.25 && h.beta == 0.25);
	assert_int_equal(aigw_holt_init(&h, 1, 1, &err), 0);
	assert_int_equal(aigw_holt_init(&h, 0.1, 0, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constant_converges),
		cmocka_unit_test(test_ramp_extrapolated),
		cmocka_unit_test(test_step),
		cmocka_unit_test(test_bad_observations),
		cmocka_unit_test(test_parameters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
