/* Tests for geo: CIDR parsing (good and bad), longest-prefix lookups over
 * IPv4 and IPv6, nearness by default and as configured, and the tier and
 * spill-over rule of aigw_geo_filter. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "geo.h"

static void test_parse_cidr(void **state)
{
	struct aigw_geo_prefix p;
	struct aigw_err err;
	(void)state;

	assert_int_equal(aigw_geo_parse_cidr("10.0.0.0/8", &p, &err), 0);
	assert_int_equal(p.bits, 96 + 8);
	assert_int_equal(p.addr[10], 0xff);
	assert_int_equal(p.addr[12], 10);
	assert_int_equal(aigw_geo_parse_cidr("127.0.0.1", &p, &err), 0);
	assert_int_equal(p.bits, 128);
	assert_int_equal(aigw_geo_parse_cidr("0.0.0.0/0", &p, &err), 0);
	assert_int_equal(p.bits, 96);
	assert_int_equal(aigw_geo_parse_cidr("2001:db8::/32", &p, &err), 0);
	assert_int_equal(p.bits, 32);
	assert_int_equal(aigw_geo_parse_cidr("::1/128", &p, &err), 0);
	assert_int_equal(aigw_geo_parse_cidr("::/0", &p, &err), 0);
	assert_int_equal(p.bits, 0);
}

static void test_parse_cidr_bad(void **state)
{
	static const char *const bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8",
		"10.0.0.0/8x", "10.0.0/8", "10.0.0.256/32", "eu-west", "2001:db8::/129",
		"2001:db8:::/32", "10.0.0.0/0008", "10.0.0.0 /8", NULL,
	};
	struct aigw_geo_prefix p;
	struct aigw_err err;
	(void)state;

	for (size_t i = 0; bad[i]; i++) {
		aigw_err_clear(&err);
		if (aigw_geo_parse_cidr(bad[i], &p, &err) != AIGW_EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_non_null(strstr(err.msg, "prefix"));
	}
	/* Host bits past the length: refused with the prefix meant. */
	assert_int_equal(aigw_geo_parse_cidr("10.1.2.3/16", &p, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "did you mean 10.1.0.0/16?"));
	assert_int_equal(aigw_geo_parse_cidr("2001:db8::1/32", &p, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "did you mean 2001:db8::/32?"));
}

static void test_add_prefix_checks(void **state)
{
	struct aigw_geo g;
	struct aigw_err err;
	(void)state;

	aigw_geo_init(&g);
	assert_int_equal(aigw_geo_add_prefix(&g, "10.0.0.0/8", "eu-west", &err), 0);
	assert_int_equal(aigw_geo_add_prefix(&g, "10.0.0.0/8", "us-east", &err), AIGW_EEXIST);
	assert_int_equal(aigw_geo_add_prefix(&g, "192.168.0.0/16", "bad region!", &err),
			 AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "region"));
	assert_int_equal(aigw_geo_add_prefix(&g, "192.168.0.0/16", "12345", &err), AIGW_EINVAL);
	assert_int_equal(aigw_geo_add_prefix(&g, "nope", "us-east", &err), AIGW_EINVAL);
	assert_int_equal(g.n_prefixes, 1);
	aigw_geo_release(&g);
}

static void test_lookup_longest_prefix(void **state)
{
	struct aigw_geo g, copy;
	struct aigw_err err;
	(void)state;

	aigw_geo_init(&g);
	assert_null(aigw_geo_lookup(&g, "10.1.2.3"));
	/* Added short to long and back: the order written does not matter. */
	assert_int_equal(aigw_geo_add_prefix(&g, "10.0.0.0/8", "eu", &err), 0);
	assert_int_equal(aigw_geo_add_prefix(&g, "10.1.2.0/24", "eu-west-1", &err), 0);
	assert_int_equal(aigw_geo_add_prefix(&g, "10.1.0.0/16", "eu-west", &err), 0);
	assert_int_equal(aigw_geo_add_prefix(&g, "127.0.0.1/32", "home", &err), 0);
	assert_int_equal(aigw_geo_add_prefix(&g, "2001:db8::/32", "v6-wide", &err), 0);
	assert_int_equal(aigw_geo_add_prefix(&g, "2001:db8:1::/48", "v6-narrow", &err), 0);
	assert_int_equal(aigw_geo_add_prefix(&g, "::1", "v6-home", &err), 0);

	assert_string_equal(aigw_geo_lookup(&g, "10.1.2.3"), "eu-west-1");
	assert_string_equal(aigw_geo_lookup(&g, "10.1.3.3"), "eu-west");
	assert_string_equal(aigw_geo_lookup(&g, "10.2.0.1"), "eu");
	assert_null(aigw_geo_lookup(&g, "11.0.0.1"));
	assert_string_equal(aigw_geo_lookup(&g, "127.0.0.1"), "home");
	assert_null(aigw_geo_lookup(&g, "127.0.0.2"));
	/* An IPv4 client on a dual-stack socket. */
	assert_string_equal(aigw_geo_lookup(&g, "::ffff:10.1.2.9"), "eu-west-1");
	assert_string_equal(aigw_geo_lookup(&g, "2001:db8:1::5"), "v6-narrow");
	assert_string_equal(aigw_geo_lookup(&g, "2001:db8:2::5"), "v6-wide");
	assert_string_equal(aigw_geo_lookup(&g, "::1"), "v6-home");
	assert_null(aigw_geo_lookup(&g, "2001:db9::1"));
	assert_null(aigw_geo_lookup(&g, "not an address"));
	assert_null(aigw_geo_lookup(&g, NULL));

	aigw_geo_copy(&copy, &g);
	aigw_geo_release(&g);
	assert_string_equal(aigw_geo_lookup(&copy, "10.1.3.3"), "eu-west");
	assert_string_equal(aigw_geo_lookup(&copy, "2001:db8:1::5"), "v6-narrow");
	aigw_geo_release(&copy);

	/* A catch-all. */
	aigw_geo_init(&g);
	assert_int_equal(aigw_geo_add_prefix(&g, "0.0.0.0/0", "any4", &err), 0);
	assert_int_equal(aigw_geo_add_prefix(&g, "::/0", "any", &err), 0);
	assert_string_equal(aigw_geo_lookup(&g, "8.8.8.8"), "any4");
	assert_string_equal(aigw_geo_lookup(&g, "2001:db8::1"), "any");
	aigw_geo_release(&g);
}

static void test_distance_default(void **state)
{
	(void)state;

	assert_int_equal(aigw_geo_distance(NULL, "eu-west", "eu-west"), 0);
	assert_int_equal(aigw_geo_distance(NULL, "eu-west", "EU-West"), 0);
	assert_int_equal(aigw_geo_distance(NULL, "eu-west", "eu-central"), 1);
	assert_int_equal(aigw_geo_distance(NULL, "us-east-1", "us-east-2"), 1);
	assert_int_equal(aigw_geo_distance(NULL, "us-east-1", "us-west-1"), 2);
	assert_int_equal(aigw_geo_distance(NULL, "eu-west", "us-east"), 2);
	assert_int_equal(aigw_geo_distance(NULL, "eu", "eu-west"), 2);
	assert_int_equal(aigw_geo_distance(NULL, "local", "lab"), 2);
	assert_int_equal(aigw_geo_distance(NULL, "eu-west", NULL), 2);
	assert_int_equal(aigw_geo_distance(NULL, NULL, "eu-west"), 2);
}

static void test_distance_configured(void **state)
{
	struct aigw_geo g;
	struct aigw_strv v = AIGW_STRV_INIT, none = AIGW_STRV_INIT;
	struct aigw_err err;
	(void)state;

	aigw_geo_init(&g);
	aigw_strv_push(&v, "eu-central");
	aigw_strv_push(&v, "uk");
	assert_int_equal(aigw_geo_add_near(&g, "eu-west", &v, &err), 0);
	assert_int_equal(aigw_geo_add_near(&g, "us-east", &none, &err), 0);
	assert_int_equal(aigw_geo_add_near(&g, "EU-WEST", &none, &err), AIGW_EEXIST);
	aigw_strv_push(&v, "not valid");
	assert_int_equal(aigw_geo_add_near(&g, "ap-south", &v, &err), AIGW_EINVAL);

	assert_int_equal(aigw_geo_distance(&g, "eu-west", "uk"), 1);
	assert_int_equal(aigw_geo_distance(&g, "uk", "eu-west"), 1); /* symmetric */
	assert_int_equal(aigw_geo_distance(&g, "eu-central", "eu-west"), 1);
	/* uk is configured, so the default does not make it near anything else */
	assert_int_equal(aigw_geo_distance(&g, "uk", "eu-central"), 2);
	/* us-east has an (empty) entry: the default no longer applies to it */
	assert_int_equal(aigw_geo_distance(&g, "us-east", "us-west"), 2);
	/* Regions geo.near says nothing about keep the default. */
	assert_int_equal(aigw_geo_distance(&g, "ap-south", "ap-east"), 1);
	assert_int_equal(aigw_geo_distance(&g, "eu-west", "eu-west"), 0);
	aigw_strv_release(&v);
	aigw_geo_release(&g);
}

#define CAND(region, inflight, maxc, lat) { true, (region), (inflight), (maxc), (lat) }

static void test_filter_same_region_preferred(void **state)
{
	struct aigw_geo g;
	struct aigw_geo_cand c[4] = {
		CAND("us-east", 0, 0, 0), CAND("eu-central", 0, 0, 0),
		CAND("eu-west", 0, 0, 0), CAND(NULL, 0, 0, 0),
	};
	(void)state;

	aigw_geo_init(&g);
	assert_int_equal(aigw_geo_filter(&g, "eu-west", c, 4), 0);
	assert_false(c[0].eligible);
	assert_false(c[1].eligible);
	assert_true(c[2].eligible);
	assert_false(c[3].eligible);
	aigw_geo_release(&g);
}

static void test_filter_near_tier(void **state)
{
	struct aigw_geo_cand c[3] = {
		CAND("us-east", 0, 0, 0), CAND("eu-central", 0, 0, 0), CAND("eu-north", 0, 0, 0),
	};
	(void)state;

	/* No node in eu-west: both near ones take part. */
	assert_int_equal(aigw_geo_filter(NULL, "eu-west", c, 3), 1);
	assert_false(c[0].eligible);
	assert_true(c[1].eligible);
	assert_true(c[2].eligible);
}

static void test_filter_spills_when_full(void **state)
{
	struct aigw_geo_cand c[3] = {
		CAND("eu-west", 1, 1, 0), CAND("eu-central", 5, 0, 0), CAND("us-east", 0, 0, 0),
	};
	struct aigw_geo_cand d[3] = {
		CAND("eu-west", 1, 1, 0), CAND("eu-west", 0, 1, 0), CAND("us-east", 0, 0, 0),
	};
	(void)state;

	assert_int_equal(aigw_geo_filter(NULL, "eu-west", c, 3), 1);
	assert_false(c[0].eligible);
	assert_true(c[1].eligible);
	assert_false(c[2].eligible);
	/* One of two same-region nodes full: the other takes it, alone. */
	assert_int_equal(aigw_geo_filter(NULL, "eu-west", d, 3), 0);
	assert_false(d[0].eligible);
	assert_true(d[1].eligible);
	assert_false(d[2].eligible);
	/* Below the limit it is not full. */
	c[0] = (struct aigw_geo_cand)CAND("eu-west", 1, 2, 0);
	c[1].eligible = c[2].eligible = true;
	assert_int_equal(aigw_geo_filter(NULL, "eu-west", c, 3), 0);
	assert_true(c[0].eligible);
}

static void test_filter_spills_when_slow(void **state)
{
	struct aigw_geo g;
	struct aigw_geo_cand c[2] = {
		CAND("eu-west", 0, 0, 400000), CAND("us-east", 0, 0, 100000),
	};
	(void)state;

	aigw_geo_init(&g);
	/* 4x the best, default factor 3: slow, spill to us-east. */
	assert_int_equal(aigw_geo_filter(&g, "eu-west", c, 2), 2);
	assert_false(c[0].eligible);
	assert_true(c[1].eligible);
	/* 2.9x is not slow. */
	c[0] = (struct aigw_geo_cand)CAND("eu-west", 0, 0, 290000);
	c[1].eligible = true;
	assert_int_equal(aigw_geo_filter(&g, "eu-west", c, 2), 0);
	assert_true(c[0].eligible);
	assert_false(c[1].eligible);
	/* The factor is configurable. */
	g.spill_latency_factor = 2;
	c[1].eligible = true;
	assert_int_equal(aigw_geo_filter(&g, "eu-west", c, 2), 2);
	assert_false(c[0].eligible);
	/* An unmeasured node is never slow, and an ineligible one's estimate
	 * is not the best. */
	c[0] = (struct aigw_geo_cand)CAND("eu-west", 0, 0, 0);
	c[1].eligible = true;
	assert_int_equal(aigw_geo_filter(&g, "eu-west", c, 2), 0);
	c[0] = (struct aigw_geo_cand)CAND("eu-west", 0, 0, 400000);
	c[1].eligible = false;
	assert_int_equal(aigw_geo_filter(&g, "eu-west", c, 2), 0);
	assert_true(c[0].eligible);
	/* Among fast nodes a large ratio is not slowness: a best under 20 ms
	 * counts as 20 ms, so 8 ms against 1 ms stays, 45 ms against 1 ms
	 * (over 2x 20 ms) spills. */
	c[0] = (struct aigw_geo_cand)CAND("eu-west", 0, 0, 8000);
	c[1] = (struct aigw_geo_cand)CAND("us-east", 0, 0, 1000);
	assert_int_equal(aigw_geo_filter(&g, "eu-west", c, 2), 0);
	assert_true(c[0].eligible);
	assert_false(c[1].eligible);
	c[0] = (struct aigw_geo_cand)CAND("eu-west", 0, 0, 45000);
	c[1].eligible = true;
	assert_int_equal(aigw_geo_filter(&g, "eu-west", c, 2), 2);
	assert_false(c[0].eligible);
	aigw_geo_release(&g);
}

static void test_filter_no_usable_tier(void **state)
{
	struct aigw_geo_cand c[2] = {
		CAND("eu-west", 1, 1, 0), CAND("us-east", 3, 3, 0),
	};
	(void)state;

	/* Everything full: nothing filtered, the policy decides. */
	assert_int_equal(aigw_geo_filter(NULL, "eu-west", c, 2), -1);
	assert_true(c[0].eligible);
	assert_true(c[1].eligible);
	/* Nothing eligible at all. */
	c[0].eligible = c[1].eligible = false;
	assert_int_equal(aigw_geo_filter(NULL, "eu-west", c, 2), -1);
	assert_int_equal(aigw_geo_filter(NULL, "eu-west", c, 0), -1);
}

static void test_filter_unknown_client(void **state)
{
	struct aigw_geo_cand c[2] = {
		CAND("eu-west", 1, 1, 900000), CAND("us-east", 0, 0, 100000),
	};
	(void)state;

	assert_int_equal(aigw_geo_filter(NULL, NULL, c, 2), -1);
	assert_int_equal(aigw_geo_filter(NULL, "", c, 2), -1);
	assert_true(c[0].eligible);
	assert_true(c[1].eligible);
}

static void test_filter_nodes_without_region(void **state)
{
	struct aigw_geo_cand c[3] = {
		CAND(NULL, 0, 0, 0), CAND(NULL, 0, 0, 0), CAND("us-east", 0, 0, 0),
	};
	(void)state;

	/* No node anywhere near: every node is tier 2, all take part. */
	assert_int_equal(aigw_geo_filter(NULL, "eu-west", c, 3), 2);
	assert_true(c[0].eligible && c[1].eligible && c[2].eligible);
	/* A matching region wins over the region-less ones. */
	assert_int_equal(aigw_geo_filter(NULL, "us-east", c, 3), 0);
	assert_false(c[0].eligible);
	assert_false(c[1].eligible);
	assert_true(c[2].eligible);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_cidr),
		cmocka_unit_test(test_parse_cidr_bad),
		cmocka_unit_test(test_add_prefix_checks),
		cmocka_unit_test(test_lookup_longest_prefix),
		cmocka_unit_test(test_distance_default),
		cmocka_unit_test(test_distance_configured),
		cmocka_unit_test(test_filter_same_region_preferred),
		cmocka_unit_test(test_filter_near_tier),
		cmocka_unit_test(test_filter_spills_when_full),
		cmocka_unit_test(test_filter_spills_when_slow),
		cmocka_unit_test(test_filter_no_usable_tier),
		cmocka_unit_test(test_filter_unknown_client),
		cmocka_unit_test(test_filter_nodes_without_region),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
