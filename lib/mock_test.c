/* Tests for mock: the request decoding the dialects share (JSON walkers
 * on absent values, query parameters, model names from paths) and the
 * tool-call arguments: pieces, escaping once or twice, decoded words. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "mock_internal.h"

static struct jv jv_of(const char *s)
{
	struct jv v = { s, strlen(s) };
	return v;
}

static void test_walkers_absent(void **state)
{
	struct jv none = { NULL, 0 }, key, val, obj = jv_of("{\"a\":[1,2],\"b\":\"x\"}");
	size_t it = 0;

	(void)state;
	assert_int_equal(mock_j_type(none), 0);
	assert_null(mock_j_get(none, "a").p);
	assert_false(mock_j_next(none, &it, &key, &val));
	/* a string, a number or an array has no members */
	assert_null(mock_j_get(mock_j_get(obj, "b"), "a").p);
	assert_null(mock_j_get(mock_j_get(obj, "a"), "a").p);
	assert_null(mock_j_get(jv_of("7"), "a").p);
	assert_int_equal(mock_j_type(mock_j_get(obj, "a")), '[');
	assert_true(mock_j_str_is(mock_j_get(obj, "b"), "x"));
	it = 0;
	assert_false(mock_j_next(jv_of("\"ab\""), &it, NULL, &val));
}

/* The arguments of a call on text (a JSON string value), all pieces
 * joined, escaped `level` times. */
static void args_of(struct aigw_buf *b, const char *text, int level, int *pieces)
{
	struct job j;
	struct jv first = jv_of("\"search\""), none = { NULL, 0 };

	memset(&j, 0, sizeof(j));
	mock_tool_pick(&j, first, none, false, jv_of(text), true);
	assert_true(j.tool);
	assert_int_equal(j.n_events, j.n_tokens);
	*pieces = mock_tool_pieces(&j);
	assert_int_equal(j.n_tokens, *pieces);
	aigw_buf_reset(b);
	for (int i = 0; i < *pieces; i++)
		mock_put_tool_piece(b, &j, i, level);
	aigw_buf_putc(b, '\0');
}

static void test_tool_arguments(void **state)
{
	static const struct {
		const char *text, *plain, *once;
		int pieces;
	} cases[] = {
		{ "\"weather in paris\"", "{\"query\": \"weather in paris\"}",
		  "{\\\"query\\\": \\\"weather in paris\\\"}", 5 },
		/* extra spaces go; at most 6 words */
		{ "\"  one\\ttwo\\n three four five six seven\"",
		  "{\"query\": \"one two three four five six\"}", NULL, 8 },
		/* quotes and backslashes escaped once, then twice */
		{ "\"say \\\"hi\\\" a\\\\b\"", "{\"query\": \"say \\\"hi\\\" a\\\\b\"}",
		  "{\\\"query\\\": \\\"say \\\\\\\"hi\\\\\\\" a\\\\\\\\b\\\"}", 5 },
		/* \u escapes decode to UTF-8, a surrogate pair to one character */
		{ "\"caf\\u00e9 \\ud83d\\ude00\"", "{\"query\": \"caf\xc3\xa9 \xf0\x9f\x98\x80\"}", NULL,
		  4 },
		/* a control character stays escaped */
		{ "\"a\\u0001b\"", "{\"query\": \"a\\u0001b\"}", "{\\\"query\\\": \\\"a\\\\u0001b\\\"}", 3 },
		/* no words: still three pieces */
		{ "\"\"", "{\"query\": \"\"}", NULL, 3 },
		{ "\"   \"", "{\"query\": \"\"}", NULL, 3 },
	};
	struct aigw_buf b;
	int pieces;

	(void)state;
	aigw_buf_init(&b);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		args_of(&b, cases[c].text, 0, &pieces);
		assert_string_equal(b.data, cases[c].plain);
		assert_int_equal(pieces, cases[c].pieces);
		if (cases[c].once) {
			args_of(&b, cases[c].text, 1, &pieces);
			assert_string_equal(b.data, cases[c].once);
		}
	}
	aigw_buf_release(&b);
}

static void test_tool_choice(void **state)
{
	struct job j;
	struct jv first = jv_of("\"a\""), forced = jv_of("\"b\""), none = { NULL, 0 };
	struct jv text = jv_of("\"x y\"");

	(void)state;
	memset(&j, 0, sizeof(j));
	mock_tool_pick(&j, first, forced, false, text, false);
	assert_true(j.tool);
	assert_true(mock_j_str_is(j.tool_name, "b"));
	assert_int_equal(j.n_tokens, 4);
	assert_int_equal(j.n_events, 1);
	/* "none", no tools, or no user text: no call */
	memset(&j, 0, sizeof(j));
	mock_tool_pick(&j, first, none, true, text, true);
	assert_false(j.tool);
	mock_tool_pick(&j, none, none, false, text, true);
	assert_false(j.tool);
	mock_tool_pick(&j, first, none, false, none, true);
	assert_false(j.tool);
}

static void test_query_param(void **state)
{
	struct aigw_server_req req;
	const char *v;
	size_t n;

	(void)state;
	memset(&req, 0, sizeof(req));
	assert_false(mock_query_param(&req, "key", &v, &n));
	req.query.ptr = "alt=sse&key=abc&empty=&flag";
	req.query.len = strlen(req.query.ptr);
	assert_true(mock_query_param(&req, "key", &v, &n));
	assert_int_equal(n, 3);
	assert_memory_equal(v, "abc", 3);
	assert_true(mock_query_param(&req, "alt", &v, &n));
	assert_memory_equal(v, "sse", 3);
	assert_true(mock_query_param(&req, "empty", &v, &n));
	assert_int_equal(n, 0);
	assert_true(mock_query_param(&req, "flag", &v, &n));
	assert_int_equal(n, 0);
	assert_false(mock_query_param(&req, "ke", &v, &n));
	assert_false(mock_query_param(&req, "api-version", &v, &n));
	/* a leading '?' is skipped */
	req.query.ptr = "?api-version=2024-10-21";
	req.query.len = strlen(req.query.ptr);
	assert_true(mock_query_param(&req, "api-version", &v, &n));
	assert_int_equal(n, 10);
}

static void test_dialect_names(void **state)
{
	(void)state;
	assert_int_equal(aigw_mock_dialect_parse("openai"), AIGW_MOCK_OPENAI);
	assert_int_equal(aigw_mock_dialect_parse("anthropic"), AIGW_MOCK_ANTHROPIC);
	assert_int_equal(aigw_mock_dialect_parse("gemini"), AIGW_MOCK_GEMINI);
	assert_int_equal(aigw_mock_dialect_parse("ollama"), AIGW_MOCK_OLLAMA);
	assert_int_equal(aigw_mock_dialect_parse("azure"), AIGW_MOCK_AZURE);
	assert_int_equal(aigw_mock_dialect_parse("Azure"), -1);
	assert_int_equal(aigw_mock_dialect_parse(""), -1);
}

static void test_new_checks(void **state)
{
	struct aigw_mock_config c;
	struct aigw_mock *m = NULL;
	struct aigw_err err = { 0 };

	(void)state;
	aigw_mock_config_init(&c);
	for (int d = 0; d < AIGW_MOCK_DIALECTS; d++) {
		c.dialect = d;
		assert_int_equal(aigw_mock_new(&m, &c, &err), 0);
		aigw_mock_free(m);
	}
	c.dialect = AIGW_MOCK_DIALECTS;
	assert_int_equal(aigw_mock_new(&m, &c, &err), AIGW_EINVAL);
	assert_null(m);
	aigw_mock_config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_walkers_absent),
		cmocka_unit_test(test_tool_arguments),
		cmocka_unit_test(test_tool_choice),
		cmocka_unit_test(test_query_param),
		cmocka_unit_test(test_dialect_names),
		cmocka_unit_test(test_new_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
