/* Tests for sse: events across arbitrary splits, line endings, fields. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "sse.h"

static int collect(const struct aigw_sse_event *ev, void *arg)
{
	struct aigw_buf *out = arg;
	aigw_buf_printf(out, "[%s|%s]", ev->event, ev->data);
	return 0;
}

static const struct {
	const char *in, *want;
} cases[] = {
	{ "data: {\"a\":1}\n\ndata: [DONE]\n\n", "[|{\"a\":1}][|[DONE]]" },
	{ "data: x\r\n\r\ndata: y\r\r", "[|x][|y]" },
	{ "event: message_start\ndata: {}\n\n", "[message_start|{}]" },
	{ ": keep-alive\n\ndata:no-space\n\n", "[|no-space]" },
	{ "data: a\ndata: b\n\n", "[|a\nb]" },
	{ "id: 7\nretry: 10\ndata: z\n\n", "[|z]" },
	{ "event: ping\n\n", "" },                  /* no data: nothing dispatched */
	{ "data: partial", "" },                    /* not finished */
	{ "data\n\n", "[|]" },                      /* a field with no colon */
};

static void test_whole_and_split(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t n = strlen(cases[c].in);
		/* Whole, then split at every point, then byte by byte. */
		for (size_t split = 0; split <= n + 1; split++) {
			struct aigw_sse p;
			struct aigw_buf out = AIGW_BUF_INIT;
			aigw_sse_init(&p, 0);
			if (split == n + 1) {
				for (size_t i = 0; i < n; i++)
					assert_int_equal(aigw_sse_feed(&p, cases[c].in + i, 1, collect, &out), 0);
			} else {
				assert_int_equal(aigw_sse_feed(&p, cases[c].in, split, collect, &out), 0);
				assert_int_equal(aigw_sse_feed(&p, cases[c].in + split, n - split, collect, &out), 0);
			}
			if (strcmp(out.data, cases[c].want) != 0)
				fail_msg("case %zu split %zu: got '%s' want '%s'", c, split, out.data,
					 cases[c].want);
			aigw_buf_release(&out);
			aigw_sse_release(&p);
		}
	}
}

static int stop_at_second(const struct aigw_sse_event *ev, void *arg)
{
	int *n = arg;
	(void)ev;
	return ++*n == 2 ? 42 : 0;
}

static void test_stop_and_limit(void **state)
{
	struct aigw_sse p;
	int n = 0;
	char big[300];
	(void)state;

	aigw_sse_init(&p, 0);
	assert_int_equal(aigw_sse_feed(&p, "data: 1\n\ndata: 2\n\ndata: 3\n\n", 27, stop_at_second, &n), 42);
	assert_int_equal(n, 2);
	aigw_sse_release(&p);

	aigw_sse_init(&p, 100);
	memset(big, 'x', sizeof(big));
	memcpy(big, "data: ", 6);
	assert_int_equal(aigw_sse_feed(&p, big, sizeof(big), NULL, NULL), -1);
	aigw_sse_release(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_and_split),
		cmocka_unit_test(test_stop_and_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
