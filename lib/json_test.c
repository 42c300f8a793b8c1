/* Tests for json: validity over a table of documents, members, strings. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "json.h"

static const struct {
	const char *text;
	int valid;
} docs[] = {
	{ "{}", 1 },
	{ "  {\"a\":1}\n", 1 },
	{ "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi \\\"x\\\" \\u00e9\"}]}", 1 },
	{ "{\"n\":-0.5e+10,\"z\":0,\"a\":[],\"o\":{},\"t\":true,\"f\":false,\"x\":null}", 1 },
	{ "{\"deep\":[[[[{\"a\":[1,2,{\"b\":\"c\"}]}]]]]}", 1 },
	{ "", 0 },
	{ "[]", 0 },                  /* not an object */
	{ "{", 0 },
	{ "{\"a\":1,}", 0 },          /* trailing comma */
	{ "{\"a\" 1}", 0 },
	{ "{'a':1}", 0 },
	{ "{\"a\":01}", 0 },          /* leading zero */
	{ "{\"a\":1.}", 0 },
	{ "{\"a\":tru}", 0 },
	{ "{\"a\":\"\\x\"}", 0 },     /* bad escape */
	{ "{\"a\":\"\\u12\"}", 0 },
	{ "{\"a\":\"tab\there\"}", 0 }, /* raw control character */
	{ "{\"a\":1} {}", 0 },        /* trailing garbage */
	{ "{\"a\":[1,2}", 0 },
	{ "{\"a\":{\"b\":1]}", 0 },
};

static void test_validity(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		int rc = aigw_json_object(docs[i].text, strlen(docs[i].text), NULL, NULL);
		if ((rc == 0) != docs[i].valid)
			fail_msg("doc %zu '%s': got %d", i, docs[i].text, rc);
	}
}

static void test_depth_limit(void **state)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	(void)state;
	aigw_buf_puts(&b, "{\"a\":");
	for (int i = 0; i < 200; i++)
		aigw_buf_putc(&b, '[');
	for (int i = 0; i < 200; i++)
		aigw_buf_putc(&b, ']');
	aigw_buf_putc(&b, '}');
	assert_int_equal(aigw_json_object(b.data, b.len, NULL, NULL), -1);
	aigw_buf_release(&b);
}

static int collect(const struct aigw_json_member *m, void *arg)
{
	struct aigw_buf *out = arg;
	aigw_buf_printf(out, "%.*s=%.*s;", (int)m->key_len, m->key, (int)m->value_len, m->value);
	return 0;
}

static int stop_at_b(const struct aigw_json_member *m, void *arg)
{
	(void)arg;
	return aigw_json_key_is(m, "b") ? 7 : 0;
}

static void test_members(void **state)
{
	const char *t = "{ \"a\" : 1 , \"b\":{\"x\":[1, 2]}, \"c\" : \"s\\\"t\" }";
	struct aigw_buf out = AIGW_BUF_INIT;
	(void)state;
	assert_int_equal(aigw_json_object(t, strlen(t), collect, &out), 0);
	assert_string_equal(out.data, "a=1;b={\"x\":[1, 2]};c=\"s\\\"t\";");
	aigw_buf_release(&out);
	assert_int_equal(aigw_json_object(t, strlen(t), stop_at_b, NULL), 7);
	/* a stop does not skip validation of the rest */
	assert_int_equal(aigw_json_object("{\"b\":1,\"c\":}", 12, stop_at_b, NULL), -1);
}

static void test_strings_and_numbers(void **state)
{
	char out[16];
	uint64_t n;
	(void)state;
	assert_true(aigw_json_string("\"gpt-4o\"", 8, out, sizeof(out)));
	assert_string_equal(out, "gpt-4o");
	const char *s = "\"a\\n\\u00e9\\ud83d\\ude00\"";
	assert_true(aigw_json_string(s, strlen(s), out, sizeof(out)));
	assert_string_equal(out, "a\n\xc3\xa9\xf0\x9f\x98\x80");
	assert_false(aigw_json_string("\"0123456789abcdef\"", 18, out, sizeof(out))); /* too long */
	assert_false(aigw_json_string("12", 2, out, sizeof(out)));
	assert_true(aigw_json_uint("1234", 4, &n));
	assert_int_equal(n, 1234);
	assert_false(aigw_json_uint("-1", 2, &n));
	assert_false(aigw_json_uint("1.5", 3, &n));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validity),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_strings_and_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
