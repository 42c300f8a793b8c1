/* base_test: the small modules everything else stands on: buf, pool, err,
 * clock, rand and url. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "mem.h"
#include "pool.h"
#include "rand.h"
#include "url.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- buf */

static void test_buf_init_release_empty(void **state)
{
	struct aigw_buf a = AIGW_BUF_INIT, b;
	(void)state;

	aigw_buf_init(&b);
	assert_string_equal(a.data, "");
	assert_string_equal(b.data, "");
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	/* Releasing a buffer that never allocated frees nothing (the static
	 * "" would crash free) and leaves it usable. */
	aigw_buf_release(&a);
	aigw_buf_release(&b);
	aigw_buf_release(&b);
	assert_string_equal(b.data, "");
	aigw_buf_reset(&a);
	assert_string_equal(a.data, "");
	aigw_buf_truncate(&a, 0);
	assert_int_equal(a.len, 0);
	aigw_buf_puts(&a, "x");
	assert_string_equal(a.data, "x");
	aigw_buf_release(&a);
	assert_int_equal(a.cap, 0);
	assert_string_equal(a.data, "");
}

static void test_buf_append_growth(void **state)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	char expect[16];
	(void)state;

	/* Many KB through every appender, checking content as it grows. */
	for (int i = 0; i < 20000; i++) {
		switch (i % 4) {
		case 0: aigw_buf_append(&b, "ab", 2); break;
		case 1: aigw_buf_puts(&b, "cd"); break;
		case 2: aigw_buf_putc(&b, 'e'); aigw_buf_putc(&b, 'f'); break;
		case 3: aigw_buf_printf(&b, "%02d", i % 100); break;
		}
		assert_true(b.cap > b.len);
		assert_int_equal(b.data[b.len], '\0');
	}
	assert_int_equal(b.len, 40000);
	assert_int_equal(strlen(b.data), b.len);
	for (int i = 0; i < 20000; i++) {
		switch (i % 4) {
		case 0: memcpy(expect, "ab", 2); break;
		case 1: memcpy(expect, "cd", 2); break;
		case 2: memcpy(expect, "ef", 2); break;
		case 3: snprintf(expect, sizeof(expect), "%02d", i % 100); break;
		}
		if (memcmp(b.data + 2 * i, expect, 2) != 0)
			fail_msg("byte %d: want %.2s, have %.2s", 2 * i, expect, b.data + 2 * i);
	}
	/* Binary data with NULs is kept whole. */
	aigw_buf_reset(&b);
	aigw_buf_append(&b, "a\0b", 3);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "a\0b\0", 4);
	aigw_buf_append(&b, NULL, 0);
	assert_int_equal(b.len, 3);
	aigw_buf_release(&b);
}

static void test_buf_printf_large(void **state)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	char *big = aigw_malloc(50001);
	(void)state;

	memset(big, 'z', 50000);
	big[50000] = '\0';
	/* One printf larger than every capacity step at once. */
	aigw_buf_printf(&b, "<%s|%d>", big, 42);
	assert_int_equal(b.len, 50000 + 5);
	assert_int_equal(b.data[0], '<');
	assert_int_equal(b.data[50000], 'z');
	assert_string_equal(b.data + 50001, "|42>");
	aigw_buf_printf(&b, "%s", "");
	assert_int_equal(b.len, 50005);
	aigw_buf_printf(&b, "%c%s", 'x', big);
	assert_int_equal(b.len, 100006);
	assert_int_equal(strlen(b.data), 100006);
	free(big);
	aigw_buf_release(&b);
}

static void test_buf_grow_truncate_reset(void **state)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	size_t cap;
	char *data;
	(void)state;

	aigw_buf_grow(&b, 1000);
	assert_true(b.cap >= 1001);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	cap = b.cap;
	data = b.data;
	aigw_buf_grow(&b, 10); /* already enough room: no change */
	assert_int_equal(b.cap, cap);
	assert_ptr_equal(b.data, data);

	aigw_buf_puts(&b, "hello world");
	aigw_buf_truncate(&b, 5);
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "hello");
	aigw_buf_truncate(&b, 50); /* longer than len: nothing happens */
	assert_string_equal(b.data, "hello");
	aigw_buf_truncate(&b, 0);
	assert_string_equal(b.data, "");

	aigw_buf_puts(&b, "again");
	aigw_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(b.cap, cap); /* capacity kept for reuse */
	aigw_buf_puts(&b, "x");
	assert_ptr_equal(b.data, data);
	aigw_buf_release(&b);
}

static void test_buf_detach(void **state)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	char *s;
	(void)state;

	/* An empty buffer still hands out a heap string the caller frees. */
	s = aigw_buf_detach(&b);
	assert_string_equal(s, "");
	free(s);

	aigw_buf_printf(&b, "%s-%d", "key", 7);
	s = aigw_buf_detach(&b);
	assert_string_equal(s, "key-7");
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	assert_string_equal(b.data, "");
	/* The buffer is usable again and independent of s. */
	aigw_buf_puts(&b, "other");
	assert_string_equal(s, "key-7");
	free(s);
	aigw_buf_release(&b);
}

/* --------------------------------------------------------------- pool */

static void test_pool_alignment(void **state)
{
	struct aigw_pool *p = aigw_pool_new(256);
	(void)state;

	for (size_t i = 0; i < 3000; i++) {
		size_t n = i % 37; /* includes 0 and odd sizes */
		unsigned char *ptr = aigw_pool_alloc(p, n);
		assert_non_null(ptr);
		if ((uintptr_t)ptr % alignof(max_align_t) != 0)
			fail_msg("allocation %zu of %zu bytes at %p is misaligned", i, n,
				 (void *)ptr);
		memset(ptr, 0xab, n); /* ASan checks the bytes are ours */
	}
	aigw_pool_free(p);
}

static void test_pool_distinct_and_oversized(void **state)
{
	struct aigw_pool *p = aigw_pool_new(1024);
	unsigned char *small[64], *big, *after;
	(void)state;

	for (int i = 0; i < 64; i++) {
		small[i] = aigw_pool_alloc(p, 40);
		memset(small[i], i, 40);
	}
	/* Bigger than a block: served on its own and fully writable. */
	big = aigw_pool_alloc(p, 100000);
	assert_true((uintptr_t)big % alignof(max_align_t) == 0);
	memset(big, 0xee, 100000);
	after = aigw_pool_alloc(p, 40);
	memset(after, 0x77, 40);
	/* Nothing overwrote anything else. */
	for (int i = 0; i < 64; i++)
		for (int j = 0; j < 40; j++)
			if (small[i][j] != (unsigned char)i)
				fail_msg("allocation %d was overwritten", i);
	assert_int_equal(big[0], 0xee);
	assert_int_equal(big[99999], 0xee);

	unsigned char *z = aigw_pool_calloc(p, 300);
	for (int i = 0; i < 300; i++)
		assert_int_equal(z[i], 0);
	aigw_pool_free(p);
	aigw_pool_free(NULL); /* no-op */
}

static void test_pool_strings(void **state)
{
	struct aigw_pool *p = aigw_pool_new(0);
	char src[] = "hello";
	char *a, *b, *c, *d, *e;
	(void)state;

	a = aigw_pool_strdup(p, src);
	src[0] = 'J';
	assert_string_equal(a, "hello"); /* a copy */
	b = aigw_pool_strndup(p, "abcdef", 3);
	assert_string_equal(b, "abc");
	c = aigw_pool_strndup(p, "ab", 10); /* n past the end stops at NUL */
	assert_string_equal(c, "ab");
	d = aigw_pool_printf(p, "%s:%d:%d", "aigw.yaml", 12, 5);
	assert_string_equal(d, "aigw.yaml:12:5");
	e = aigw_pool_strdup(p, "");
	assert_string_equal(e, "");

	char *long_str = aigw_malloc(10001);
	memset(long_str, 'q', 10000);
	long_str[10000] = '\0';
	char *f = aigw_pool_printf(p, "[%s]", long_str);
	assert_int_equal(strlen(f), 10002);
	assert_int_equal(f[10001], ']');
	free(long_str);
	assert_string_equal(a, "hello");
	aigw_pool_free(p);
}

struct hook_log {
	int order[16];
	int n;
};

static struct hook_log hook_log;

static void hook(void *arg)
{
	hook_log.order[hook_log.n++] = (int)(intptr_t)arg;
}

static void close_file(void *arg)
{
	fclose(arg);
}

static void test_pool_cleanup_order(void **state)
{
	struct aigw_pool *p = aigw_pool_new(128);
	(void)state;

	memset(&hook_log, 0, sizeof(hook_log));
	for (intptr_t i = 1; i <= 5; i++) {
		aigw_pool_cleanup(p, hook, (void *)i);
		aigw_pool_alloc(p, 100); /* hooks spread over several blocks */
	}
	assert_int_equal(hook_log.n, 0);
	aigw_pool_free(p);
	assert_int_equal(hook_log.n, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(hook_log.order[i], 5 - i); /* reverse order */

	/* A hook that releases a real resource (ASan/LSan would see a leak). */
	p = aigw_pool_new(0);
	FILE *f = tmpfile();
	assert_non_null(f);
	aigw_pool_cleanup(p, close_file, f);
	aigw_pool_free(p);
}

static void test_pool_reset(void **state)
{
	struct aigw_pool *p = aigw_pool_new(512);
	void *first, *again;
	(void)state;

	memset(&hook_log, 0, sizeof(hook_log));
	first = aigw_pool_alloc(p, 16);
	aigw_pool_cleanup(p, hook, (void *)(intptr_t)1);
	aigw_pool_cleanup(p, hook, (void *)(intptr_t)2);
	for (int i = 0; i < 50; i++)
		aigw_pool_alloc(p, 64);
	aigw_pool_reset(p);
	/* Reset runs the hooks (reverse order) and only once. */
	assert_int_equal(hook_log.n, 2);
	assert_int_equal(hook_log.order[0], 2);
	assert_int_equal(hook_log.order[1], 1);
	assert_int_equal(aigw_pool_used(p), 0);
	/* The first block is reused: the next allocation lands where the
	 * first one did. */
	again = aigw_pool_alloc(p, 16);
	assert_ptr_equal(again, first);
	aigw_pool_free(p);
	assert_int_equal(hook_log.n, 2); /* not run a second time */
}

/* An oversized allocation made while the first block is still the current
 * one must not make reset keep the oversized block in its place. */
static void test_pool_reset_after_oversized(void **state)
{
	struct aigw_pool *p = aigw_pool_new(512);
	unsigned char *first, *again;
	(void)state;

	first = aigw_pool_alloc(p, 16);
	memset(aigw_pool_alloc(p, 100000), 1, 100000);
	aigw_pool_alloc(p, 16);
	aigw_pool_reset(p);
	again = aigw_pool_alloc(p, 16);
	assert_ptr_equal(again, first);
	/* The kept block is the ordinary one: filling it needs a new block,
	 * and everything handed out is writable. */
	for (int i = 0; i < 100; i++)
		memset(aigw_pool_alloc(p, 100), 2, 100);
	aigw_pool_reset(p);
	assert_ptr_equal(aigw_pool_alloc(p, 16), first);
	aigw_pool_free(p);
}

static void test_pool_used(void **state)
{
	struct aigw_pool *p = aigw_pool_new(256);
	size_t total = 0;
	(void)state;

	assert_int_equal(aigw_pool_used(p), 0);
	for (size_t n = 1; n < 200; n += 13) {
		aigw_pool_alloc(p, n);
		total += n;
		assert_int_equal(aigw_pool_used(p), total);
	}
	aigw_pool_alloc(p, 5000); /* oversized counts too */
	total += 5000;
	assert_int_equal(aigw_pool_used(p), total);
	aigw_pool_strdup(p, "abc");
	total += 4;
	assert_int_equal(aigw_pool_used(p), total);
	aigw_pool_reset(p);
	assert_int_equal(aigw_pool_used(p), 0);
	aigw_pool_alloc(p, 7);
	assert_int_equal(aigw_pool_used(p), 7);
	aigw_pool_free(p);
}

/* ----------------------------------------------------------------- err */

static void test_err(void **state)
{
	struct aigw_err err;
	char big[2 * AIGW_ERR_MSG_MAX];
	(void)state;

	aigw_err_clear(&err);
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");

	assert_int_equal(aigw_err_set(&err, AIGW_ENOTFOUND, "no key named '%s'", "ci"),
			 AIGW_ENOTFOUND);
	assert_int_equal(err.code, AIGW_ENOTFOUND);
	assert_string_equal(err.msg, "no key named 'ci'");

	aigw_err_prefix(&err, "%s:%d", "nodes.jsonl", 3);
	assert_string_equal(err.msg, "nodes.jsonl:3: no key named 'ci'");
	assert_int_equal(err.code, AIGW_ENOTFOUND); /* prefix keeps the code */
	aigw_err_prefix(&err, "import");
	assert_string_equal(err.msg, "import: nodes.jsonl:3: no key named 'ci'");

	/* NULL err: still returns the code, and nothing crashes. */
	assert_int_equal(aigw_err_set(NULL, AIGW_EINVAL, "x %d", 1), AIGW_EINVAL);
	aigw_err_prefix(NULL, "p");
	aigw_err_clear(NULL);

	/* Long messages and prefixes are truncated, never overflow. */
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	aigw_err_set(&err, AIGW_EFAIL, "%s", big);
	assert_int_equal(strlen(err.msg), AIGW_ERR_MSG_MAX - 1);
	aigw_err_prefix(&err, "%s", big);
	assert_int_equal(strlen(err.msg), AIGW_ERR_MSG_MAX - 1);
	aigw_err_set(&err, AIGW_EFAIL, "tail");
	aigw_err_prefix(&err, "%.*s", AIGW_ERR_MSG_MAX - 4, big);
	assert_int_equal(strlen(err.msg), AIGW_ERR_MSG_MAX - 1);

	aigw_err_clear(&err);
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");
}

static void test_err_name(void **state)
{
	(void)state;
	assert_string_equal(aigw_err_name(AIGW_OK), "ok");
	assert_string_equal(aigw_err_name(AIGW_EINVAL), "invalid value");
	assert_string_equal(aigw_err_name(AIGW_ENOTFOUND), "not found");
	assert_string_equal(aigw_err_name(AIGW_ECONFIG), "config error");
	assert_string_equal(aigw_err_name(AIGW_EEXIST), "already exists");
	assert_string_equal(aigw_err_name(AIGW_EBUSY), "busy");
	assert_string_equal(aigw_err_name(AIGW_AGAIN), "try again");
	assert_string_equal(aigw_err_name(AIGW_EFAIL), "failure");
	assert_string_equal(aigw_err_name(-99), "failure");
}

/* --------------------------------------------------------------- clock */

static void test_clock_monotonic(void **state)
{
	uint64_t prev = aigw_clock_mono_ns();
	uint64_t us0 = aigw_clock_mono_us(), ms0 = aigw_clock_mono_ms();
	struct timespec nap = { 0, 2000000 };
	(void)state;

	for (int i = 0; i < 10000; i++) {
		uint64_t now = aigw_clock_mono_ns();
		assert_true(now >= prev);
		prev = now;
	}
	nanosleep(&nap, NULL);
	/* The three units agree and time moved forward by the nap. */
	assert_true(aigw_clock_mono_ns() - prev >= 2000000);
	assert_true(aigw_clock_mono_us() - us0 >= 2000);
	assert_true(aigw_clock_mono_ms() - ms0 >= 2);
	uint64_t ns = aigw_clock_mono_ns(), us = aigw_clock_mono_us();
	assert_true(us >= ns / 1000 && us - ns / 1000 < 1000000);
}

static void test_clock_wall_override(void **state)
{
	int64_t real = (int64_t)time(NULL);
	(void)state;

	unsetenv("AIGW_NOW");
	assert_true(aigw_clock_wall_s() - real <= 2 && real - aigw_clock_wall_s() <= 2);
	assert_true(aigw_clock_wall_ms() / 1000 - real <= 2);

	setenv("AIGW_NOW", "1795398300", 1);
	assert_int_equal(aigw_clock_wall_s(), 1795398300);
	assert_int_equal(aigw_clock_wall_ms(), 1795398300000LL);
	setenv("AIGW_NOW", "0", 1);
	assert_int_equal(aigw_clock_wall_s(), 0);
	/* Not a whole number: ignored, the real clock is used. */
	setenv("AIGW_NOW", "12x", 1);
	assert_true(aigw_clock_wall_s() - real <= 2 && real - aigw_clock_wall_s() <= 2);
	setenv("AIGW_NOW", "", 1);
	assert_true(aigw_clock_wall_s() - real <= 2 && real - aigw_clock_wall_s() <= 2);
	unsetenv("AIGW_NOW");
}

/* ---------------------------------------------------------------- rand */

static void test_rand_bytes(void **state)
{
	uint8_t a[32], b[32], zero[32] = { 0 }, big[100000];
	size_t counts[256] = { 0 };
	(void)state;

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	assert_int_equal(aigw_rand_bytes(a, sizeof(a), NULL), 0);
	assert_int_equal(aigw_rand_bytes(b, sizeof(b), NULL), 0);
	assert_memory_not_equal(a, zero, sizeof(a));
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(aigw_rand_bytes(a, 0, NULL), 0);

	/* A large draw is filled everywhere: every byte value turns up, none
	 * wildly more often than the others. */
	assert_int_equal(aigw_rand_bytes(big, sizeof(big), NULL), 0);
	for (size_t i = 0; i < sizeof(big); i++)
		counts[big[i]]++;
	for (int v = 0; v < 256; v++)
		if (counts[v] < 200 || counts[v] > 600)
			fail_msg("byte value %d drawn %zu times in 100000", v, counts[v]);
	assert_memory_not_equal(big + sizeof(big) - 32, zero, 32);
}

static void test_rand_below(void **state)
{
	uint64_t v, seen[7] = { 0 };
	(void)state;

	for (int i = 0; i < 2000; i++) {
		assert_int_equal(aigw_rand_below(7, &v, NULL), 0);
		assert_true(v < 7);
		seen[v]++;
	}
	for (int i = 0; i < 7; i++)
		if (seen[i] < 150)
			fail_msg("value %d drawn only %llu times in 2000", i,
				 (unsigned long long)seen[i]);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(aigw_rand_below(1, &v, NULL), 0);
		assert_int_equal(v, 0);
		assert_int_equal(aigw_rand_below(2, &v, NULL), 0);
		assert_true(v < 2);
	}
	/* A bound just over half the range: rejection must keep it in range. */
	uint64_t bound = UINT64_MAX / 2 + 2;
	for (int i = 0; i < 100; i++) {
		assert_int_equal(aigw_rand_below(bound, &v, NULL), 0);
		assert_true(v < bound);
	}
	assert_int_equal(aigw_rand_below(UINT64_MAX, &v, NULL), 0);
	assert_true(v < UINT64_MAX);
}

/* ----------------------------------------------------------------- url */

struct url_case {
	const char *in;
	const char *scheme, *host; /* NULL scheme: an error is expected */
	int port;
	bool port_given;
	const char *path;
	const char *error; /* fragment of the message */
};

static const struct url_case url_cases[] = {
	{ "http://example.com", "http", "example.com", 80, false, "", NULL },
	{ "https://example.com", "https", "example.com", 443, false, "", NULL },
	{ "https://api.openai.com/v1", "https", "api.openai.com", 443, false, "/v1", NULL },
	{ "http://localhost:11434", "http", "localhost", 11434, true, "", NULL },
	{ "http://127.0.0.1:8000/v1/", "http", "127.0.0.1", 8000, true, "/v1/", NULL },
	{ "http://host/", "http", "host", 80, false, "/", NULL },
	{ "http://host:1", "http", "host", 1, true, "", NULL },
	{ "http://host:65535/x", "http", "host", 65535, true, "/x", NULL },
	{ "https://host:443", "https", "host", 443, true, "", NULL },
	{ "http://[::1]:8080/x", "http", "::1", 8080, true, "/x", NULL },
	{ "http://[2001:db8::1]", "http", "2001:db8::1", 80, false, "", NULL },
	{ "http://[::ffff:1.2.3.4]/", "http", "::ffff:1.2.3.4", 80, false, "/", NULL },
	{ "https://my_host.internal/api?version=2", "https", "my_host.internal", 443, false,
	  "/api?version=2", NULL },
	{ "http://edge-1.lan.:9000", "http", "edge-1.lan.", 9000, true, "", NULL },

	{ "", NULL, NULL, 0, false, NULL, "must start with http:// or https://" },
	{ "example.com", NULL, NULL, 0, false, NULL, "must start with http://" },
	{ "ftp://example.com", NULL, NULL, 0, false, NULL, "must start with http://" },
	{ "HTTP://example.com", NULL, NULL, 0, false, NULL, "must start with http://" },
	{ "http:/example.com", NULL, NULL, 0, false, NULL, "must start with http://" },
	{ "http://", NULL, NULL, 0, false, NULL, "has no host" },
	{ "http:///path", NULL, NULL, 0, false, NULL, "has no host" },
	{ "http://:80", NULL, NULL, 0, false, NULL, "has no host" },
	{ "http://user:pw@host", NULL, NULL, 0, false, NULL, "must not carry credentials" },
	{ "https://key@api.openai.com/v1", NULL, NULL, 0, false, NULL, "credentials" },
	{ "http://host:0", NULL, NULL, 0, false, NULL, "invalid port (1..65535)" },
	{ "http://host:65536", NULL, NULL, 0, false, NULL, "invalid port" },
	{ "http://host:99999999999", NULL, NULL, 0, false, NULL, "invalid port" },
	{ "http://host:", NULL, NULL, 0, false, NULL, "invalid port" },
	{ "http://host:8o", NULL, NULL, 0, false, NULL, "invalid port" },
	{ "http://host:-1", NULL, NULL, 0, false, NULL, "invalid port" },
	{ "http://host:80:80", NULL, NULL, 0, false, NULL, "invalid port" },
	{ "http://host/a#frag", NULL, NULL, 0, false, NULL, "must not have a fragment" },
	{ "http://host#frag", NULL, NULL, 0, false, NULL, "fragment" },
	{ "http://host?x=1", NULL, NULL, 0, false, NULL, "malformed path" },
	{ "http://ho st", NULL, NULL, 0, false, NULL, "space or control character" },
	{ "http://host/a b", NULL, NULL, 0, false, NULL, "space or control character" },
	{ "http://host/\t", NULL, NULL, 0, false, NULL, "space or control character" },
	{ "http://host/\x7f", NULL, NULL, 0, false, NULL, "control character" },
	{ "http://ho$t", NULL, NULL, 0, false, NULL, "invalid character in its host" },
	{ "http://h\xc3\xa9st", NULL, NULL, 0, false, NULL, "invalid character" },
	{ "http://-host", NULL, NULL, 0, false, NULL, "malformed host" },
	{ "http://host-", NULL, NULL, 0, false, NULL, "malformed host" },
	{ "http://.host", NULL, NULL, 0, false, NULL, "malformed host" },
	{ "http://a..b", NULL, NULL, 0, false, NULL, "malformed host" },
	{ "http://[::1", NULL, NULL, 0, false, NULL, "malformed IPv6 host" },
	{ "http://[]", NULL, NULL, 0, false, NULL, "malformed IPv6 host" },
	{ "http://[::g]", NULL, NULL, 0, false, NULL, "malformed IPv6 host" },
	{ "http://[::1]x", NULL, NULL, 0, false, NULL, "malformed host" },
	{ "http://[::1]:0", NULL, NULL, 0, false, NULL, "invalid port" },
};

static void test_url_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ELEMS(url_cases); i++) {
		const struct url_case *c = &url_cases[i];
		struct aigw_url u;
		struct aigw_err err = { 0, "" };
		int rc = aigw_url_parse(c->in, &u, &err);

		if (!c->scheme) {
			if (rc != AIGW_EINVAL)
				fail_msg("url '%s': accepted, want error '%s'", c->in, c->error);
			if (!strstr(err.msg, c->error))
				fail_msg("url '%s': message '%s' lacks '%s'", c->in, err.msg,
					 c->error);
			continue;
		}
		if (rc != 0)
			fail_msg("url '%s': refused: %s", c->in, err.msg);
		assert_string_equal(u.scheme, c->scheme);
		assert_string_equal(u.host, c->host);
		assert_int_equal(u.port, c->port);
		assert_int_equal(u.port_given, c->port_given);
		assert_string_equal(u.path, c->path);
	}
}

static void test_url_lengths(void **state)
{
	struct aigw_url u;
	struct aigw_err err;
	char s[2200];
	(void)state;

	/* The longest host that fits (255) and one that does not. */
	memcpy(s, "http://", 7);
	memset(s + 7, 'h', 255);
	s[7 + 255] = '\0';
	assert_int_equal(aigw_url_parse(s, &u, &err), 0);
	assert_int_equal(strlen(u.host), 255);
	s[7 + 255] = 'h';
	s[7 + 256] = '\0';
	assert_int_equal(aigw_url_parse(s, &u, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "host that is too long"));
	/* Far longer: the reason must still be in the message. */
	memset(s + 7, 'h', 1500);
	s[7 + 1500] = '\0';
	assert_int_equal(aigw_url_parse(s, &u, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "host that is too long"));

	/* Paths up to 1023 bytes fit the struct; longer ones are refused. */
	snprintf(s, sizeof(s), "http://h/");
	memset(s + 9, 'p', 1022);
	s[9 + 1022] = '\0';
	assert_int_equal(aigw_url_parse(s, &u, &err), 0);
	assert_int_equal(strlen(u.path), 1023);
	s[9 + 1022] = 'p';
	s[9 + 1023] = '\0';
	assert_int_equal(aigw_url_parse(s, &u, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "path that is too long"));

	/* NULL err is allowed. */
	assert_int_equal(aigw_url_parse("gopher://x", &u, NULL), AIGW_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_init_release_empty),
		cmocka_unit_test(test_buf_append_growth),
		cmocka_unit_test(test_buf_printf_large),
		cmocka_unit_test(test_buf_grow_truncate_reset),
		cmocka_unit_test(test_buf_detach),
		cmocka_unit_test(test_pool_alignment),
		cmocka_unit_test(test_pool_distinct_and_oversized),
		cmocka_unit_test(test_pool_strings),
		cmocka_unit_test(test_pool_cleanup_order),
		cmocka_unit_test(test_pool_reset),
		cmocka_unit_test(test_pool_reset_after_oversized),
		cmocka_unit_test(test_pool_used),
		cmocka_unit_test(test_err),
		cmocka_unit_test(test_err_name),
		cmocka_unit_test(test_clock_monotonic),
		cmocka_unit_test(test_clock_wall_override),
		cmocka_unit_test(test_rand_bytes),
		cmocka_unit_test(test_rand_below),
		cmocka_unit_test(test_url_table),
		cmocka_unit_test(test_url_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
