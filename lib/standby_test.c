/* Tests for standby: the controller on a deterministic clock (on when the
 * forecast passes the threshold, off after the quiet period, not before,
 * a forecast ahead of the actual rate), its log lines and counters, the
 * settings' checks, the set (by name, configure, tick interval) and its
 * Prometheus text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "standby.h"

static char logged[4096];

static void sink(enum aigw_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level == AIGW_LOG_INFO && strlen(logged) + strlen(msg) + 2 < sizeof(logged)) {
		strcat(logged, msg);
		strcat(logged, "\n");
	}
}

static int setup(void **state)
{
	(void)state;
	logged[0] = '\0';
	aigw_log_set_sink(sink, NULL);
	aigw_log_set_level(AIGW_LOG_INFO);
	return 0;
}

/* capacity 10 req/s, threshold 0.8, quiet 3 s, horizon 2 s. */
static void small_conf(struct aigw_standby_conf *c)
{
	aigw_standby_conf_default(c);
	c->capacity = 10;
	c->quiet_ms = 3000;
	c->horizon_ms = 2000;
}

/* n requests in the second before now, then a tick at now. */
static int second(struct aigw_standby *s, uint64_t *now, int n)
{
	for (int i = 0; i < n; i++)
		aigw_standby_count(s);
	*now += 1000;
	return aigw_standby_tick(s, *now);
}

static void test_on_and_off(void **state)
{
	struct aigw_standby_conf c;
	struct aigw_standby s;
	uint64_t now = 1000000;
	(void)state;

	small_conf(&c);
	aigw_standby_init(&s, "chat", &c);
	assert_int_equal(aigw_standby_tick(&s, now), 0); /* starts the clock */
	/* 5 req/s: utilisation 0.5, stays off. */
	for (int i = 0; i < 10; i++)
		assert_int_equal(second(&s, &now, 5), 0);
	assert_false(aigw_standby_on(&s));
	assert_true(s.utilisation > 0.45 && s.utilisation < 0.55);
	assert_string_equal(logged, "");
	/* 20 req/s: on at the first such second. */
	assert_int_equal(second(&s, &now, 20), 1);
	assert_true(aigw_standby_on(&s));
	assert_int_equal(atomic_load(&s.changes_on), 1);
	assert_non_null(strstr(logged, "route chat: standby nodes on (forecast "));
	assert_non_null(strstr(logged, " > 0.80)"));
	/* Staying high changes nothing. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(second(&s, &now, 20), 0);
	/* Quiet: off only once 3 s below the threshold have passed. */
	int t = 0, r = 0;
	while (!r && t < 20) {
		r = second(&s, &now, 0);
		t++;
	}
	assert_int_equal(r, -1);
	assert_false(aigw_standby_on(&s));
	/* The forecast falls below 8 req/s within 2 ticks, then 3 s quiet. */
	assert_true(t >= 3 && t <= 5);
	assert_int_equal(atomic_load(&s.changes_off), 1);
	assert_non_null(strstr(logged, "route chat: standby nodes off after 3 s quiet"));
	aigw_standby_release(&s);
}

static void test_blip_keeps_it_on(void **state)
{
	struct aigw_standby_conf c;
	struct aigw_standby s;
	uint64_t now = 5000;
	(void)state;

	small_conf(&c);
	aigw_standby_init(&s, "r", &c);
	aigw_standby_tick(&s, now);
	/* The first rate, 30 req/s, is already 3 times the capacity. */
	assert_int_equal(second(&s, &now, 30), 1);
	/* Quiet for 2 s, busy again, quiet again: the quiet clock restarts. */
	assert_int_equal(second(&s, &now, 0), 0);
	assert_int_equal(second(&s, &now, 0), 0);
	assert_true(aigw_standby_on(&s));
	second(&s, &now, 40);
	assert_true(aigw_standby_on(&s));
	for (int i = 0; i < 2; i++)
		assert_int_equal(second(&s, &now, 0), 0);
	assert_true(aigw_standby_on(&s));
	assert_int_equal(atomic_load(&s.changes_on), 1);
	assert_int_equal(atomic_load(&s.changes_off), 0);
	/* The third quiet second completes the 3 s. */
	assert_int_equal(second(&s, &now, 0), -1);
	aigw_standby_release(&s);
}

static void test_forecast_leads(void **state)
{
	struct aigw_standby_conf c;
	struct aigw_standby s;
	uint64_t now = 0;
	int on_at = -1;
	(void)state;

	/* A ramp of +1 req/s each second: the rate passes 8 at second 8, a
	 * forecast 2 s ahead must say so earlier. */
	small_conf(&c);
	aigw_standby_init(&s, "ramp", &c);
	aigw_standby_tick(&s, now);
	for (int i = 1; i <= 12 && on_at < 0; i++)
		if (second(&s, &now, i) == 1)
			on_at = i;
	assert_true(on_at > 0 && on_at < 9);
	aigw_standby_release(&s);
}

static void test_uneven_ticks(void **state)
{
	struct aigw_standby_conf c;
	struct aigw_standby s;
	(void)state;

	small_conf(&c);
	aigw_standby_init(&s, "r", &c);
	aigw_standby_tick(&s, 1000);
	for (int i = 0; i < 10; i++)
		aigw_standby_count(&s);
	/* Ten requests over 2 s: 5 req/s. */
	assert_int_equal(aigw_standby_tick(&s, 3000), 0);
	assert_true(s.rate == 5);
	/* A tick at the same time or a clock going back changes nothing. */
	assert_int_equal(aigw_standby_tick(&s, 3000), 0);
	assert_int_equal(aigw_standby_tick(&s, 2000), 0);
	assert_false(aigw_standby_on(&s));
	aigw_standby_release(&s);
}

static void test_conf_validate(void **state)
{
	struct aigw_standby_conf c;
	struct aigw_err err = { 0 };
	(void)state;

	aigw_standby_conf_default(&c);
	assert_int_equal(aigw_standby_conf_validate(&c, &err), 0);
	assert_true(c.threshold == 0.8 && c.quiet_ms == 60000 && c.horizon_ms == 5000);
	c.threshold = 0;
	assert_int_equal(aigw_standby_conf_validate(&c, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "threshold"));
	aigw_standby_conf_default(&c);
	c.capacity = 0;
	assert_int_equal(aigw_standby_conf_validate(&c, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "capacity"));
	aigw_standby_conf_default(&c);
	c.alpha = 2;
	assert_int_equal(aigw_standby_conf_validate(&c, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "alpha"));
	aigw_standby_conf_default(&c);
	c.beta = -1;
	assert_int_equal(aigw_standby_conf_validate(&c, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "beta"));
}

static void test_set(void **state)
{
	struct aigw_standby_conf c;
	struct aigw_standby_set *set;
	struct aigw_standby *a, *b;
	struct aigw_buf out = AIGW_BUF_INIT;
	(void)state;

	small_conf(&c);
	set = aigw_standby_set_new(&c);
	b = aigw_standby_set_get(set, "zeta");
	a = aigw_standby_set_get(set, "alpha");
	assert_ptr_equal(aigw_standby_set_get(set, "zeta"), b);
	assert_true(a->conf.capacity == 10);
	/* Ticks only controllers whose interval has passed. */
	aigw_standby_set_tick(set, 1000, 1000);
	for (int i = 0; i < 50; i++)
		aigw_standby_count(a);
	aigw_standby_set_tick(set, 1500, 1000);
	assert_false(aigw_standby_on(a));
	aigw_standby_set_tick(set, 2000, 1000);
	assert_true(aigw_standby_on(a)); /* 50 req/s > 8 */
	assert_false(aigw_standby_on(b));
	/* New settings reach every controller, and new ones. */
	c.capacity = 1000;
	aigw_standby_set_configure(set, &c);
	assert_true(a->conf.capacity == 1000 && b->conf.capacity == 1000);
	assert_true(aigw_standby_set_get(set, "new")->conf.capacity == 1000);
	aigw_standby_set_write_prometheus(set, &out);
	assert_non_null(strstr(out.data, "# TYPE aigw_standby_changes_total counter\n"
					 "aigw_standby_changes_total{route=\"alpha\",to=\"on\"} 1\n"
					 "aigw_standby_changes_total{route=\"alpha\",to=\"off\"} 0\n"
					 "aigw_standby_changes_total{route=\"new\",to=\"on\"} 0\n"));
	assert_non_null(strstr(out.data, "aigw_standby_active{route=\"alpha\"} 1\n"
					 "aigw_standby_active{route=\"new\"} 0\n"
					 "aigw_standby_active{route=\"zeta\"} 0\n"));
	aigw_buf_release(&out);
	aigw_standby_set_free(set);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_on_and_off, setup),
		cmocka_unit_test_setup(test_blip_keeps_it_on, setup),
		cmocka_unit_test_setup(test_forecast_leads, setup),
		cmocka_unit_test_setup(test_uneven_ticks, setup),
		cmocka_unit_test_setup(test_conf_validate, setup),
		cmocka_unit_test_setup(test_set, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
