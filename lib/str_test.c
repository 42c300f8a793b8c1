/* str_test: the string helpers, mostly as tables of input and expected
 * result: lists, globs, suggestions and the value parsers of the command
 * line and aigw.yaml. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mem.h"
#include "str.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Fails the test, naming the case, unless the message contains fragment. */
static void assert_msg_has(const struct aigw_err *err, const char *fragment, const char *input)
{
	if (!strstr(err->msg, fragment))
		fail_msg("input '%s': message '%s' lacks '%s'", input, err->msg, fragment);
}

/* ------------------------------------------------------------ basics */

static void test_strlcpy(void **state)
{
	char buf[6];
	(void)state;

	assert_int_equal(aigw_strlcpy(buf, "abc", sizeof(buf)), 3);
	assert_string_equal(buf, "abc");
	/* Exactly filling: five characters plus the terminator. */
	assert_int_equal(aigw_strlcpy(buf, "abcde", sizeof(buf)), 5);
	assert_string_equal(buf, "abcde");
	/* Truncation is reported by a result >= the size. */
	assert_int_equal(aigw_strlcpy(buf, "abcdefgh", sizeof(buf)), 8);
	assert_string_equal(buf, "abcde");
	assert_int_equal(aigw_strlcpy(buf, "", sizeof(buf)), 0);
	assert_string_equal(buf, "");
	/* A size of zero writes nothing at all. */
	memcpy(buf, "XYZ", 4);
	assert_int_equal(aigw_strlcpy(buf, "hello", 0), 5);
	assert_string_equal(buf, "XYZ");
	assert_int_equal(aigw_strlcpy(buf, "hello", 1), 5);
	assert_string_equal(buf, "");
}

static void test_prefix_suffix_eq(void **state)
{
	(void)state;
	assert_true(aigw_str_prefix("keys create", "keys"));
	assert_true(aigw_str_prefix("keys", "keys"));
	assert_true(aigw_str_prefix("keys", ""));
	assert_false(aigw_str_prefix("key", "keys"));
	assert_false(aigw_str_prefix("xkeys", "keys"));

	assert_true(aigw_str_suffix("aigw.yaml", ".yaml"));
	assert_true(aigw_str_suffix("aigw.yaml", ""));
	assert_true(aigw_str_suffix(".yaml", ".yaml"));
	assert_false(aigw_str_suffix("yaml", ".yaml"));
	assert_false(aigw_str_suffix("aigw.yml", ".yaml"));

	assert_true(aigw_str_eq(NULL, NULL));
	assert_false(aigw_str_eq("a", NULL));
	assert_false(aigw_str_eq(NULL, "a"));
	assert_true(aigw_str_eq("a", "a"));
	assert_false(aigw_str_eq("a", "b"));
	assert_true(aigw_str_all_digits("0"));
	assert_true(aigw_str_all_digits("1234567890"));
	assert_false(aigw_str_all_digits(""));
	assert_false(aigw_str_all_digits("12a"));
	assert_false(aigw_str_all_digits("-1"));
	assert_false(aigw_str_all_digits(" 1"));
}

/* -------------------------------------------------------------- strv */

static void test_strv_push_copy_eq_contains(void **state)
{
	struct aigw_strv a = AIGW_STRV_INIT, b = AIGW_STRV_INIT, empty = AIGW_STRV_INIT;
	char tmp[8];
	(void)state;

	/* Pushed strings are copied, not borrowed. */
	snprintf(tmp, sizeof(tmp), "one");
	aigw_strv_push(&a, tmp);
	snprintf(tmp, sizeof(tmp), "two");
	aigw_strv_push(&a, tmp);
	aigw_strv_push(&a, "three");
	assert_int_equal(a.n, 3);
	assert_string_equal(a.v[0], "one");
	assert_string_equal(a.v[1], "two");
	assert_null(a.v[3]);

	assert_true(aigw_strv_contains(&a, "two"));
	assert_false(aigw_strv_contains(&a, "tw"));
	assert_false(aigw_strv_contains(&empty, "one"));

	aigw_strv_copy(&b, &a);
	assert_true(aigw_strv_eq(&a, &b));
	assert_ptr_not_equal(a.v[0], b.v[0]);
	aigw_strv_release(&a);
	assert_null(a.v);
	assert_int_equal(a.n, 0);
	/* The copy survives the original. */
	assert_string_equal(b.v[2], "three");

	aigw_strv_push(&a, "one");
	aigw_strv_push(&a, "two");
	assert_false(aigw_strv_eq(&a, &b)); /* different lengths */
	aigw_strv_push(&a, "THREE");
	assert_false(aigw_strv_eq(&a, &b)); /* same length, different item */
	assert_true(aigw_strv_eq(&empty, &empty));
	assert_false(aigw_strv_eq(&empty, &a));

	aigw_strv_copy(&empty, &empty);
	assert_int_equal(empty.n, 0);

	aigw_strv_release(&a);
	aigw_strv_release(&b);
	aigw_strv_release(&a); /* twice is harmless */
}

struct split_case {
	const char *in;
	int rc;
	const char *want[4]; /* NULL-terminated items, or the error fragment in [0] */
};

static const struct split_case split_cases[] = {
	{ "a", 0, { "a", NULL } },
	{ "a,b,c", 0, { "a", "b", "c", NULL } },
	{ "a, b ,  c", 0, { "a", "b", "c", NULL } },
	{ "  gpt-4o  ", 0, { "gpt-4o", NULL } },
	{ "a b,c", 0, { "a b", "c", NULL } }, /* inner spaces stay */
	{ "", 0, { NULL } },
	{ "   ", 0, { NULL } },
	{ "a,,b", AIGW_EINVAL, { "empty item", NULL } },
	{ "a,", AIGW_EINVAL, { "empty item", NULL } },
	{ "a, ", AIGW_EINVAL, { "empty item", NULL } },
	{ ",a", AIGW_EINVAL, { "empty item", NULL } },
	{ ",", AIGW_EINVAL, { "empty item", NULL } },
	{ "a, ,b", AIGW_EINVAL, { "empty item", NULL } },
};

static void test_strv_split(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(split_cases); i++) {
		const struct split_case *c = &split_cases[i];
		struct aigw_strv sv = { (char **)"junk", 99 };
		struct aigw_err err = { 0, "" };
		int rc = aigw_strv_split(&sv, c->in, ',', &err);

		if (rc != c->rc)
			fail_msg("split '%s': rc %d, want %d", c->in, rc, c->rc);
		if (rc) {
			assert_int_equal(err.code, rc);
			char quoted[32];
			assert_msg_has(&err, c->want[0], c->in);
			snprintf(quoted, sizeof(quoted), "'%s'", c->in);
			assert_msg_has(&err, quoted, c->in);
			continue; /* sv untouched on error */
		}
		size_t n = 0;
		while (c->want[n])
			n++;
		if (sv.n != n)
			fail_msg("split '%s': %zu items, want %zu", c->in, sv.n, n);
		for (size_t j = 0; j < n; j++)
			assert_string_equal(sv.v[j], c->want[j]);
		if (n)
			assert_null(sv.v[n]);
		aigw_strv_release(&sv);
	}

	/* Another separator. */
	struct aigw_strv sv;
	assert_int_equal(aigw_strv_split(&sv, "x:y", ':', NULL), 0);
	assert_int_equal(sv.n, 2);
	assert_string_equal(sv.v[1], "y");
	aigw_strv_release(&sv);
	assert_int_equal(aigw_strv_split(&sv, "x::y", ':', NULL), AIGW_EINVAL);
}

static void test_strv_join(void **state)
{
	struct aigw_strv sv = AIGW_STRV_INIT;
	char *s;
	(void)state;

	s = aigw_strv_join(&sv, ", ");
	assert_string_equal(s, "");
	free(s);
	aigw_strv_push(&sv, "a");
	s = aigw_strv_join(&sv, ", ");
	assert_string_equal(s, "a");
	free(s);
	aigw_strv_push(&sv, "b");
	aigw_strv_push(&sv, "c");
	s = aigw_strv_join(&sv, ", ");
	assert_string_equal(s, "a, b, c");
	free(s);
	s = aigw_strv_join(&sv, "");
	assert_string_equal(s, "abc");
	free(s);

	/* join and split are inverse for well-formed items. */
	struct aigw_strv back;
	s = aigw_strv_join(&sv, ",");
	assert_int_equal(aigw_strv_split(&back, s, ',', NULL), 0);
	assert_true(aigw_strv_eq(&sv, &back));
	free(s);
	aigw_strv_release(&back);
	aigw_strv_release(&sv);
}

/* -------------------------------------------------------------- glob */

struct glob_case {
	const char *pattern, *s;
	bool match;
};

static const struct glob_case glob_cases[] = {
	{ "", "", true },
	{ "", "a", false },
	{ "*", "", true },
	{ "*", "anything", true },
	{ "**", "", true },
	{ "?", "", false },
	{ "?", "a", true },
	{ "?", "ab", false },
	{ "gpt-4o", "gpt-4o", true },
	{ "gpt-4o", "gpt-4o-mini", false },
	{ "gpt-4o", "gpt-4", false },
	{ "gpt-*", "gpt-4o", true },
	{ "gpt-*", "gpt-", true },
	{ "gpt-*", "gpt", false },
	{ "gpt-*", "xgpt-4", false },
	{ "*-mini", "gpt-4o-mini", true },
	{ "*-mini", "gpt-4o-minis", false },
	{ "claude-*-sonnet*", "claude-3-5-sonnet-20241022", true },
	{ "claude-*-sonnet*", "claude-3-5-haiku", false },
	{ "gpt-?o", "gpt-4o", true },
	{ "gpt-?o", "gpt-40o", false },
	{ "a*b*c", "abc", true },
	{ "a*b*c", "aXXbYYc", true },
	{ "a*b*c", "aXXbYY", false },
	{ "a*b", "abab", true },   /* needs backtracking past the first b */
	{ "a*ab", "aaab", true },
	{ "*a*", "bbb", false },
	{ "*?", "", false },
	{ "*?", "x", true },
	{ "?*?", "x", false },
	{ "?*?", "xy", true },
	{ "Gpt-*", "gpt-4", false }, /* case matters */
	{ "a*a*a*a*b", "aaaaaaaaab", true },
	{ "a*a*a*a*b", "aaaaaaaaaa", false },
};

static void test_glob_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(glob_cases); i++) {
		const struct glob_case *c = &glob_cases[i];
		if (aigw_glob_match(c->pattern, c->s) != c->match)
			fail_msg("glob '%s' against '%s': want %s", c->pattern, c->s,
				 c->match ? "match" : "no match");
	}
}

/* Patterns that make a naive backtracking matcher exponential must finish
 * at once (the whole binary has two seconds). */
static void test_glob_match_pathological(void **state)
{
	enum { LEN = 20000 };
	char *s = aigw_malloc(LEN + 2);
	uint64_t start;
	(void)state;

	memset(s, 'a', LEN);
	s[LEN] = '\0';
	start = aigw_clock_mono_ms();
	assert_false(aigw_glob_match("a*a*a*a*b", s));
	assert_false(aigw_glob_match("*a*a*a*a*a*a*a*a*a*a*b", s));
	assert_true(aigw_glob_match("a*a*a*a*a", s));
	assert_true(aigw_glob_match("*a", s));
	s[LEN] = 'b';
	s[LEN + 1] = '\0';
	assert_true(aigw_glob_match("a*a*a*a*b", s));
	assert_true(aigw_glob_match("*a*a*a*a*a*a*a*a*a*a*b", s));
	assert_false(aigw_glob_match("*a*a*a*a*a*a*a*a*a*a*c", s));
	assert_true(aigw_clock_mono_ms() - start < 1000);
	free(s);
}

struct overlap_case {
	const char *a, *b;
	bool overlap;
};

static const struct overlap_case overlap_cases[] = {
	{ "gpt-4o", "gpt-4o", true },
	{ "gpt-4o", "gpt-4", false },
	{ "gpt-*", "gpt-4o", true },
	{ "gpt-*", "claude-*", false },
	{ "gpt-*", "*-mini", true },    /* gpt-4o-mini */
	{ "*", "", true },
	{ "*", "anything*", true },
	{ "", "", true },
	{ "", "a", false },
	{ "", "?", false },
	{ "", "**", true },
	{ "?", "a", true },
	{ "?", "ab", false },
	{ "??", "a*", true },
	{ "???", "a?", false },
	{ "a*b", "*c", false },         /* one ends in b, the other in c */
	{ "a*b", "*b", true },
	{ "a*", "b*", false },
	{ "*a", "*b", false },
	{ "a*c", "*b*", true },         /* abc */
	{ "x*y*z", "*y*", true },
	{ "gpt-4?", "gpt-4o*", true },
	{ "gpt-4?", "gpt-4o-*", false },
	{ "claude-*-sonnet", "claude-3-*", true },
	{ "claude-*-sonnet", "claude-3-haiku", false },
	{ "a?c", "abc", true },
	{ "a?c", "abd", false },
};

static void test_glob_overlap(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(overlap_cases); i++) {
		const struct overlap_case *c = &overlap_cases[i];
		/* Overlap is symmetric: check both directions. */
		if (aigw_glob_overlap(c->a, c->b) != c->overlap)
			fail_msg("overlap('%s', '%s'): want %s", c->a, c->b,
				 c->overlap ? "true" : "false");
		if (aigw_glob_overlap(c->b, c->a) != c->overlap)
			fail_msg("overlap('%s', '%s'): want %s", c->b, c->a,
				 c->overlap ? "true" : "false");
	}
	/* A literal overlaps a glob exactly when the glob matches it. */
	for (size_t i = 0; i < N_ELEMS(glob_cases); i++) {
		const struct glob_case *c = &glob_cases[i];
		if (strchr(c->s, '*') || strchr(c->s, '?'))
			continue;
		if (aigw_glob_overlap(c->pattern, c->s) != c->match)
			fail_msg("overlap('%s', '%s') disagrees with glob_match", c->pattern,
				 c->s);
	}
}

static void test_glob_literals_valid(void **state)
{
	struct aigw_err err;
	char long_pattern[140];
	(void)state;

	assert_int_equal(aigw_glob_literals(""), 0);
	assert_int_equal(aigw_glob_literals("*"), 0);
	assert_int_equal(aigw_glob_literals("?*?"), 0);
	assert_int_equal(aigw_glob_literals("gpt-4o"), 6);
	assert_int_equal(aigw_glob_literals("gpt-*"), 4);
	assert_int_equal(aigw_glob_literals("gpt-4?"), 5);
	assert_int_equal(aigw_glob_literals("a*b?c"), 3);

	assert_true(aigw_glob_valid("gpt-*", &err));
	assert_true(aigw_glob_valid("*", &err));
	assert_true(aigw_glob_valid("models/gemini-1.5:latest", &err));

	assert_false(aigw_glob_valid("", &err));
	assert_int_equal(err.code, AIGW_EINVAL);
	assert_msg_has(&err, "empty pattern", "");
	assert_false(aigw_glob_valid("gpt 4", &err));
	assert_msg_has(&err, "'gpt 4'", "gpt 4");
	assert_false(aigw_glob_valid("a,b", &err));
	assert_msg_has(&err, "comma", "a,b");
	assert_false(aigw_glob_valid("a\tb", &err));
	assert_false(aigw_glob_valid("a\x7f", &err));
	assert_false(aigw_glob_valid("a\nb", &err));
	assert_true(aigw_glob_valid("x", NULL));

	memset(long_pattern, 'a', 128);
	long_pattern[128] = '\0';
	assert_true(aigw_glob_valid(long_pattern, &err));
	long_pattern[128] = 'a';
	long_pattern[129] = '\0';
	assert_false(aigw_glob_valid(long_pattern, &err));
	assert_msg_has(&err, "longer than 128", "129 a's");
}

/* -------------------------------------------------------- suggestions */

static void test_levenshtein(void **state)
{
	static const struct {
		const char *a, *b;
		size_t d;
	} cases[] = {
		{ "", "", 0 },         { "", "abc", 3 },        { "abc", "", 3 },
		{ "abc", "abc", 0 },   { "abc", "abd", 1 },     { "abc", "ab", 1 },
		{ "abc", "xabc", 1 },  { "name", "nmae", 2 },   { "kitten", "sitting", 3 },
		{ "flaw", "lawn", 2 }, { "create", "delete", 4 }, { "a", "b", 1 },
	};
	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		size_t d = aigw_levenshtein(cases[i].a, cases[i].b);
		if (d != cases[i].d)
			fail_msg("levenshtein('%s', '%s') = %zu, want %zu", cases[i].a,
				 cases[i].b, d, cases[i].d);
		/* symmetric */
		assert_int_equal(aigw_levenshtein(cases[i].b, cases[i].a), d);
	}
}

static void test_suggest(void **state)
{
	static const char *const verbs[] = { "create", "list", "show", "update",
					     "rotate", "revoke", "delete", NULL };
	static const char *const opts[] = { "--name", "--rpm", "--tpm", "--budget",
					    "--expires", "--models", NULL };
	static const char *const none[] = { NULL };
	(void)state;

	assert_string_equal(aigw_suggest("craete", verbs), "create");
	assert_string_equal(aigw_suggest("lst", verbs), "list");
	assert_string_equal(aigw_suggest("revok", verbs), "revoke");
	assert_string_equal(aigw_suggest("rotat", verbs), "rotate");
	assert_string_equal(aigw_suggest("show", verbs), "show");
	assert_string_equal(aigw_suggest("--nmae", opts), "--name");
	assert_string_equal(aigw_suggest("--budgte", opts), "--budget");
	/* A prefix of a longer candidate counts as close. */
	assert_string_equal(aigw_suggest("--exp", opts), "--expires");
	/* Far away words get no suggestion. */
	assert_null(aigw_suggest("frobnicate", verbs));
	assert_null(aigw_suggest("xyz", verbs));
	assert_null(aigw_suggest("--verbose", opts));
	assert_null(aigw_suggest("create", none));
}

/* ------------------------------------------------------------- parsing */

static void test_parse_int(void **state)
{
	static const struct {
		const char *s;
		int64_t min, max;
		int rc;
		int64_t want;
		const char *msg;
	} cases[] = {
		{ "0", 0, 10, 0, 0, NULL },
		{ "10", 0, 10, 0, 10, NULL },
		{ "11", 0, 10, AIGW_EINVAL, 0, "11 is out of range (0..10)" },
		{ "-1", 0, 10, AIGW_EINVAL, 0, "out of range" },
		{ "-5", -10, 10, 0, -5, NULL },
		{ "+7", 0, 10, 0, 7, NULL },
		{ "007", 0, 10, 0, 7, NULL },
		{ "9223372036854775807", INT64_MIN, INT64_MAX, 0, INT64_MAX, NULL },
		{ "-9223372036854775808", INT64_MIN, INT64_MAX, 0, INT64_MIN, NULL },
		{ "9223372036854775808", INT64_MIN, INT64_MAX, AIGW_EINVAL, 0, "not a number" },
		{ "99999999999999999999999", 0, 10, AIGW_EINVAL, 0, "not a number" },
		{ "", 0, 10, AIGW_EINVAL, 0, "'' is not a number" },
		{ " 5", 0, 10, AIGW_EINVAL, 0, "not a number" },
		{ "5 ", 0, 10, AIGW_EINVAL, 0, "not a number" },
		{ "5x", 0, 10, AIGW_EINVAL, 0, "'5x' is not a number" },
		{ "abc", 0, 10, AIGW_EINVAL, 0, "not a number" },
		{ "0x10", 0, 100, AIGW_EINVAL, 0, "not a number" },
		{ "1.5", 0, 10, AIGW_EINVAL, 0, "not a number" },
		{ "-", 0, 10, AIGW_EINVAL, 0, "not a number" },
	};
	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		struct aigw_err err = { 0, "" };
		int64_t out = 12345;
		int rc = aigw_parse_int(cases[i].s, cases[i].min, cases[i].max, &out, &err);
		if (rc != cases[i].rc)
			fail_msg("parse_int('%s'): rc %d, want %d", cases[i].s, rc, cases[i].rc);
		if (rc) {
			assert_int_equal(out, 12345); /* untouched */
			assert_msg_has(&err, cases[i].msg, cases[i].s);
		} else if (out != cases[i].want) {
			fail_msg("parse_int('%s') = %lld", cases[i].s, (long long)out);
		}
	}
}

static void test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		int rc;
		int64_t ms;
		const char *msg;
	} cases[] = {
		{ "250ms", 0, 250, NULL },
		{ "0ms", 0, 0, NULL },
		{ "0s", 0, 0, NULL },
		{ "30s", 0, 30000, NULL },
		{ "5m", 0, 300000, NULL },
		{ "2h", 0, 7200000, NULL },
		{ "30d", 0, 30LL * 86400000, NULL },
		{ "1h30m", 0, 5400000, NULL },
		{ "1m500ms", 0, 60500, NULL },
		{ "1d2h3m4s5ms", 0, 86400000LL + 7200000 + 180000 + 4000 + 5, NULL },
		{ "90s", 0, 90000, NULL },
		{ "5", AIGW_EINVAL, 0, "'5' is not a duration" },
		{ "5x", AIGW_EINVAL, 0, "'5x' is not a duration" },
		{ "", AIGW_EINVAL, 0, "empty duration" },
		{ "m", AIGW_EINVAL, 0, "'m' is not a duration" },
		{ "ms", AIGW_EINVAL, 0, "not a duration" },
		{ "1h30", AIGW_EINVAL, 0, "not a duration" },
		{ "-5s", AIGW_EINVAL, 0, "not a duration" },
		{ " 5s", AIGW_EINVAL, 0, "not a duration" },
		{ "5s ", AIGW_EINVAL, 0, "not a duration" },
		{ "5S", AIGW_EINVAL, 0, "not a duration" },
		{ "1.5h", AIGW_EINVAL, 0, "not a duration" },
		{ "5mss", AIGW_EINVAL, 0, "not a duration" },
		/* Overflow: in the digits, in the multiplication, in the sum. */
		{ "99999999999999999999ms", AIGW_EINVAL, 0, "too large" },
		{ "9223372036854775799ms", 0, INT64_MAX - 8, NULL },
		{ "106751991167301d", AIGW_EINVAL, 0, "too large" },
		{ "106751991d", 0, 106751991LL * 86400000, NULL },
		{ "106751991167d", 0, 106751991167LL * 86400000, NULL },
		{ "106751991168d", AIGW_EINVAL, 0, "too large" },
		{ "9223372036854775799ms8ms", 0, INT64_MAX, NULL },
		{ "9223372036854775799ms9ms", AIGW_EINVAL, 0, "too large" },
		{ "100000000000d100000000000d", AIGW_EINVAL, 0, "too large" },
	};
	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		struct aigw_err err = { 0, "" };
		int64_t out = -1;
		int rc = aigw_parse_duration_ms(cases[i].s, &out, &err);
		if (rc != cases[i].rc)
			fail_msg("duration '%s': rc %d, want %d (%s)", cases[i].s, rc,
				 cases[i].rc, err.msg);
		if (rc)
			assert_msg_has(&err, cases[i].msg, cases[i].s);
		else if (out != cases[i].ms)
			fail_msg("duration '%s' = %lld ms, want %lld", cases[i].s,
				 (long long)out, (long long)cases[i].ms);
	}
}

static void test_format_duration(void **state)
{
	static const struct {
		int64_t ms;
		const char *want;
	} cases[] = {
		{ 0, "0s" },          { 1, "1ms" },         { 999, "999ms" },
		{ 1000, "1s" },       { 1500, "1s500ms" },  { 60000, "1m" },
		{ 90000, "1m30s" },   { 3600000, "1h" },    { 5400000, "1h30m" },
		{ 86400000, "1d" },   { 30LL * 86400000, "30d" },
		{ 86400000LL + 1, "1d1ms" },
		{ 86400000LL + 3600000 + 60000 + 1000 + 1, "1d1h1m1s1ms" },
	};
	char buf[64];
	(void)state;

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		int64_t back;
		aigw_format_duration_ms(cases[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
		/* Every formatted duration parses back to the same value. */
		assert_int_equal(aigw_parse_duration_ms(buf, &back, NULL), 0);
		assert_int_equal(back, cases[i].ms);
	}
	/* A spread of values round-trips. */
	for (int64_t ms = 1; ms < INT64_MAX / 7; ms = ms * 7 + 3) {
		int64_t back;
		aigw_format_duration_ms(ms, buf, sizeof(buf));
		assert_int_equal(aigw_parse_duration_ms(buf, &back, NULL), 0);
		assert_int_equal(back, ms);
	}
	/* A small buffer truncates but stays terminated. */
	memset(buf, 'X', sizeof(buf));
	aigw_format_duration_ms(86400000LL + 3600000 + 60000, buf, 5);
	assert_true(strlen(buf) < 5);
	assert_true(aigw_str_prefix("1d1h1m", buf));
}

static void test_parse_usd(void **state)
{
	static const struct {
		const char *s;
		int rc;
		int64_t micro;
		const char *msg;
	} cases[] = {
		{ "12", 0, 12000000, NULL },
		{ "12.5", 0, 12500000, NULL },
		{ "$0.25", 0, 250000, NULL },
		{ "0", 0, 0, NULL },
		{ "0.000001", 0, 1, NULL },
		{ "0.123456", 0, 123456, NULL },
		{ "$100.00", 0, 100000000, NULL },
		{ "0.1234567", AIGW_EINVAL, 0, "more than 6 decimals" },
		{ "-1", AIGW_EINVAL, 0, "'-1' is not an amount in USD" },
		{ "", AIGW_EINVAL, 0, "is not an amount" },
		{ ".", AIGW_EINVAL, 0, "'.' is not an amount" },
		{ "$", AIGW_EINVAL, 0, "is not an amount" },
		{ "12.", AIGW_EINVAL, 0, "is not an amount" },
		{ "1,5", AIGW_EINVAL, 0, "is not an amount" },
		{ "12usd", AIGW_EINVAL, 0, "is not an amount" },
		{ "$$1", AIGW_EINVAL, 0, "is not an amount" },
		{ "1.2.3", AIGW_EINVAL, 0, "is not an amount" },
		{ " 1", AIGW_EINVAL, 0, "is not an amount" },
		{ "1000000000", 0, 1000000000LL * 1000000, NULL },
		/* Large amounts are refused, never wrapped. */
		{ "9999999999999", AIGW_EINVAL, 0, "too large" },
		{ "9999999999999.999999", AIGW_EINVAL, 0, "too large" },
		{ "99999999999999999999999", AIGW_EINVAL, 0, "too large" },
	};
	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		struct aigw_err err = { 0, "" };
		int64_t out = -7;
		int rc = aigw_parse_usd(cases[i].s, &out, &err);
		if (rc != cases[i].rc)
			fail_msg("usd '%s': rc %d, want %d (%s) = %lld", cases[i].s, rc,
				 cases[i].rc, err.msg, (long long)out);
		if (rc)
			assert_msg_has(&err, cases[i].msg, cases[i].s);
		else if (out != cases[i].micro)
			fail_msg("usd '%s' = %lld", cases[i].s, (long long)out);
	}
}

static void test_format_usd(void **state)
{
	static const struct {
		int64_t micro;
		const char *want;
	} cases[] = {
		{ 0, "0.00" },          { 12000000, "12.00" },  { 12500000, "12.50" },
		{ 250000, "0.25" },     { 1, "0.000001" },      { 1000, "0.001" },
		{ 123456, "0.123456" }, { 1234500, "1.2345" },  { 10000, "0.01" },
		{ 100000000, "100.00" },
	};
	char buf[32];
	(void)state;

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		int64_t back;
		aigw_format_usd(cases[i].micro, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
		assert_int_equal(aigw_parse_usd(buf, &back, NULL), 0);
		assert_int_equal(back, cases[i].micro);
	}
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *s;
		int rc;
		int64_t want;
	} cases[] = {
		{ "0", 0, 0 },
		{ "512", 0, 512 },
		{ "16KiB", 0, 16 * 1024 },
		{ "16k", 0, 16 * 1024 },
		{ "16KB", 0, 16 * 1024 },
		{ "8MiB", 0, 8 * 1048576 },
		{ "8m", 0, 8 * 1048576 },
		{ "1GiB", 0, 1073741824 },
		{ "2g", 0, 2147483648LL },
		{ "1gb", 0, 1073741824 },
		{ "", AIGW_EINVAL, 0 },
		{ "k", AIGW_EINVAL, 0 },
		{ "-1", AIGW_EINVAL, 0 },
		{ "16 KiB", AIGW_EINVAL, 0 },
		{ "1.5m", AIGW_EINVAL, 0 },
		{ "16x", AIGW_EINVAL, 0 },
		{ "1TiB", AIGW_EINVAL, 0 },
		{ "16kibibytes", AIGW_EINVAL, 0 },
		/* Too large for the unit: refused, never wrapped. */
		{ "99999999999999999999", AIGW_EINVAL, 0 },
		{ "9999999999999g", AIGW_EINVAL, 0 },
	};
	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		struct aigw_err err = { 0, "" };
		int64_t out = -7;
		int rc = aigw_parse_size(cases[i].s, &out, &err);
		if (rc != cases[i].rc)
			fail_msg("size '%s': rc %d, want %d, got %lld", cases[i].s, rc,
				 cases[i].rc, (long long)out);
		if (rc)
			assert_msg_has(&err, "is not a size", cases[i].s);
		else
			assert_int_equal(out, cases[i].want);
	}
}

static void test_parse_bool(void **state)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	static const char *const bad[] = { "", "TRUE", "y", "2", "truee", " true" };
	struct aigw_err err;
	bool b;
	(void)state;

	for (size_t i = 0; i < N_ELEMS(yes); i++) {
		b = false;
		assert_int_equal(aigw_parse_bool(yes[i], &b, &err), 0);
		assert_true(b);
		b = true;
		assert_int_equal(aigw_parse_bool(no[i], &b, &err), 0);
		assert_false(b);
	}
	for (size_t i = 0; i < N_ELEMS(bad); i++) {
		assert_int_equal(aigw_parse_bool(bad[i], &b, &err), AIGW_EINVAL);
		assert_msg_has(&err, "is not true or false", bad[i]);
	}
}

static void test_name_valid(void **state)
{
	char name[80];
	(void)state;

	assert_true(aigw_name_valid("prod"));
	assert_true(aigw_name_valid("a"));
	assert_true(aigw_name_valid("ci-bot.v2_x"));
	assert_true(aigw_name_valid("7eleven"));
	assert_true(aigw_name_valid("1a"));
	assert_true(aigw_name_valid("A-1"));

	assert_false(aigw_name_valid(""));
	assert_false(aigw_name_valid("123"));   /* would read as an id */
	assert_false(aigw_name_valid("0"));
	assert_false(aigw_name_valid("-prod"));
	assert_false(aigw_name_valid(".prod"));
	assert_false(aigw_name_valid("_prod"));
	assert_false(aigw_name_valid("pr od"));
	assert_false(aigw_name_valid("prod/1"));
	assert_false(aigw_name_valid("prod:1"));
	assert_false(aigw_name_valid("caf\xc3\xa9"));

	memset(name, 'a', 64);
	name[64] = '\0';
	assert_true(aigw_name_valid(name));
	name[64] = 'a';
	name[65] = '\0';
	assert_false(aigw_name_valid(name));
}

static void test_env_name_valid(void **state)
{
	(void)state;
	assert_true(aigw_env_name_valid("OPENAI_API_KEY"));
	assert_true(aigw_env_name_valid("_X"));
	assert_true(aigw_env_name_valid("x1"));
	assert_true(aigw_env_name_valid("_"));
	assert_false(aigw_env_name_valid(""));
	assert_false(aigw_env_name_valid("1X"));
	assert_false(aigw_env_name_valid("A-B"));
	assert_false(aigw_env_name_valid("A B"));
	assert_false(aigw_env_name_valid("$A"));
	assert_false(aigw_env_name_valid("A="));
}

/* ----------------------------------------------------------------- time */

static void test_format_time(void **state)
{
	char buf[32];
	(void)state;

	aigw_format_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	aigw_format_time(1795398300, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-23T01:45:00Z");
	aigw_format_time(1709164800, buf, sizeof(buf));
	assert_string_equal(buf, "2024-02-29T00:00:00Z");
	aigw_format_time(951868800 - 1, buf, sizeof(buf));
	assert_string_equal(buf, "2000-02-29T23:59:59Z");
}

static void test_parse_time(void **state)
{
	static const struct {
		const char *s;
		int rc;
		int64_t want;
	} cases[] = {
		{ "1970-01-01", 0, 0 },
		{ "1970-01-01T00:00:01Z", 0, 1 },
		{ "2026-11-23T01:45:00Z", 0, 1795398300 },
		{ "2026-11-23", 0, 1795398300 - (1 * 3600 + 45 * 60) },
		{ "2024-02-29", 0, 1709164800 },
		{ "2000-02-29", 0, 951868800 - 86400 },
		{ "2000-03-01", 0, 951868800 },
		{ "2026-12-31T23:59:59Z", 0, 1798761599 },
		{ "2023-02-29", AIGW_EINVAL, 0 },
		{ "1900-02-29", AIGW_EINVAL, 0 },
		{ "2100-02-29", AIGW_EINVAL, 0 },
		{ "2024-02-30", AIGW_EINVAL, 0 },
		{ "2024-04-31", AIGW_EINVAL, 0 },
		{ "2024-13-01", AIGW_EINVAL, 0 },
		{ "2024-00-01", AIGW_EINVAL, 0 },
		{ "2024-01-00", AIGW_EINVAL, 0 },
		{ "1969-12-31", AIGW_EINVAL, 0 },
		{ "2024-1-01", AIGW_EINVAL, 0 },
		{ "24-01-01", AIGW_EINVAL, 0 },
		{ "", AIGW_EINVAL, 0 },
		{ "tomorrow", AIGW_EINVAL, 0 },
		{ "2024-01-01T", AIGW_EINVAL, 0 },
		{ "2024-01-01T10:00:00", AIGW_EINVAL, 0 },  /* no Z: zone unknown */
		{ "2024-01-01T10:00Z", AIGW_EINVAL, 0 },
		{ "2024-01-01T24:00:00Z", AIGW_EINVAL, 0 },
		{ "2024-01-01T10:60:00Z", AIGW_EINVAL, 0 },
		{ "2024-01-01T10:00:00Zjunk", AIGW_EINVAL, 0 },
		{ "2024-01-01 10:00:00Z", AIGW_EINVAL, 0 },
		{ "2024-01-01x", AIGW_EINVAL, 0 },
		/* Negative fields must not slip through the range checks. */
		{ "2024-01-01T-1:00:00Z", AIGW_EINVAL, 0 },
		{ "2024-01-01T00:-1:00Z", AIGW_EINVAL, 0 },
		{ "2024-01-01T00:00:-1Z", AIGW_EINVAL, 0 },
	};
	(void)state;
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		struct aigw_err err = { 0, "" };
		int64_t out = -7;
		int rc = aigw_parse_time(cases[i].s, &out, &err);
		if (rc != cases[i].rc)
			fail_msg("time '%s': rc %d, want %d (got %lld)", cases[i].s, rc,
				 cases[i].rc, (long long)out);
		if (rc) {
			assert_int_equal(out, -7);
			assert_msg_has(&err, "is not a date", cases[i].s);
		} else if (out != cases[i].want) {
			fail_msg("time '%s' = %lld, want %lld", cases[i].s, (long long)out,
				 (long long)cases[i].want);
		}
	}
}

static void test_time_round_trip(void **state)
{
	char buf[32];
	(void)state;
	/* Every day from 1970 to past 2100 (leap years, the 2000 and 2100
	 * century rules), at a time of day that changes too. */
	for (int64_t t = 0; t < 4200000000LL; t += 86400 + 3607) {
		int64_t back;
		aigw_format_time(t, buf, sizeof(buf));
		if (aigw_parse_time(buf, &back, NULL) != 0 || back != t)
			fail_msg("round trip of %lld via '%s'", (long long)t, buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strlcpy),
		cmocka_unit_test(test_prefix_suffix_eq),
		cmocka_unit_test(test_strv_push_copy_eq_contains),
		cmocka_unit_test(test_strv_split),
		cmocka_unit_test(test_strv_join),
		cmocka_unit_test(test_glob_match),
		cmocka_unit_test(test_glob_match_pathological),
		cmocka_unit_test(test_glob_overlap),
		cmocka_unit_test(test_glob_literals_valid),
		cmocka_unit_test(test_levenshtein),
		cmocka_unit_test(test_suggest),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_parse_usd),
		cmocka_unit_test(test_format_usd),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_bool),
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_env_name_valid),
		cmocka_unit_test(test_format_time),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_time_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
