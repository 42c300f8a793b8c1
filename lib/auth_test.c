/* Tests for auth: token extraction and every verdict. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "mem.h"

static void test_token(void **state)
{
	size_t n;
	const char *t;
	(void)state;

	t = aigw_auth_token("Bearer abc", 10, NULL, 0, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(t, "abc", 3);
	t = aigw_auth_token("  bearer   abc  ", 16, NULL, 0, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(t, "abc", 3);
	t = aigw_auth_token("Basic abc", 9, "xyz", 3, &n); /* not bearer: x-api-key */
	assert_int_equal(n, 3);
	assert_memory_equal(t, "xyz", 3);
	assert_null(aigw_auth_token("Bearer ", 7, NULL, 0, &n));
	assert_int_equal(n, 0);
	assert_null(aigw_auth_token(NULL, 0, " ", 1, &n));
}

/* A snapshot with keys made by hand (no store needed), indexed the way
 * snapshot.c does: by the first 8 bytes of the hash. */
static struct aigw_snapshot *snap_with(struct aigw_key *keys, size_t n)
{
	struct aigw_snapshot *s = aigw_calloc(1, sizeof(*s));
	s->keys = keys;
	s->n_keys = n;
	s->key_mask = 15;
	s->key_slots = aigw_calloc(16, sizeof(uint32_t));
	for (size_t i = 0; i < n; i++) {
		uint64_t h;
		memcpy(&h, keys[i].hash, sizeof(h));
		size_t at = (size_t)h & s->key_mask;
		while (s->key_slots[at])
			at = (at + 1) & s->key_mask;
		s->key_slots[at] = (uint32_t)i + 1;
	}
	return s;
}

static void make_key(struct aigw_key *k, const char *secret, const char *models)
{
	aigw_key_init(k);
	k->name = aigw_strdup(secret);
	aigw_apikey_hash(secret, strlen(secret), k->hash);
	if (models)
		aigw_strv_split(&k->models, models, ',', NULL);
}

static void test_verdicts(void **state)
{
	struct aigw_key keys[4];
	struct aigw_snapshot *s;
	struct aigw_auth_result r;
	(void)state;

	make_key(&keys[0], "good", "gpt-*");
	make_key(&keys[1], "gone", NULL);
	keys[1].revoked_at = 100;
	make_key(&keys[2], "old", NULL);
	keys[2].expires_at = 1000;
	make_key(&keys[3], "any", NULL);
	s = snap_with(keys, 4);

	aigw_auth_check(s, NULL, 0, "gpt-4o", 500, &r);
	assert_int_equal(r.verdict, AIGW_AUTH_MISSING);
	assert_int_equal(r.status, 401);
	aigw_auth_check(s, "nope", 4, "gpt-4o", 500, &r);
	assert_int_equal(r.verdict, AIGW_AUTH_UNKNOWN);
	assert_string_equal(r.code, "invalid_api_key");
	aigw_auth_check(s, "gone", 4, "gpt-4o", 500, &r);
	assert_int_equal(r.verdict, AIGW_AUTH_REVOKED);
	assert_int_equal(r.status, 401);
	aigw_auth_check(s, "old", 3, "gpt-4o", 500, &r);
	assert_int_equal(r.verdict, AIGW_AUTH_OK);
	aigw_auth_check(s, "old", 3, "gpt-4o", 1000, &r);
	assert_int_equal(r.verdict, AIGW_AUTH_EXPIRED);
	aigw_auth_check(s, "good", 4, "claude-3", 500, &r);
	assert_int_equal(r.verdict, AIGW_AUTH_MODEL_DENIED);
	assert_int_equal(r.status, 403);
	aigw_auth_check(s, "good", 4, "gpt-4o", 500, &r);
	assert_int_equal(r.verdict, AIGW_AUTH_OK);
	assert_string_equal(r.key->name, "good");
	aigw_auth_check(s, "any", 3, "claude-3", 500, &r);
	assert_int_equal(r.verdict, AIGW_AUTH_OK);

	for (int i = 0; i < 4; i++)
		aigw_key_release(&keys[i]);
	free(s->key_slots);
	free(s);
}

static void test_cache(void **state)
{
	struct aigw_key keys[2];
	struct aigw_snapshot *s;
	struct aigw_auth_cache cache;
	struct aigw_auth_result r;
	char good[AIGW_APIKEY_LEN + 1], other[AIGW_APIKEY_LEN + 1];
	(void)state;

	memset(&cache, 0, sizeof(cache));
	memset(good, 'a', AIGW_APIKEY_LEN);
	memset(other, 'b', AIGW_APIKEY_LEN);
	good[AIGW_APIKEY_LEN] = other[AIGW_APIKEY_LEN] = '\0';
	make_key(&keys[0], good, "gpt-*");
	make_key(&keys[1], "unused", NULL);
	s = snap_with(keys, 2);
	for (int round = 0; round < 3; round++) {
		aigw_auth_check_cached(&cache, s, good, AIGW_APIKEY_LEN, "gpt-4o", 500, &r);
		assert_int_equal(r.verdict, AIGW_AUTH_OK);
		assert_ptr_equal(r.key, &keys[0]);
		/* the scope is checked on every request, cached or not */
		aigw_auth_check_cached(&cache, s, good, AIGW_APIKEY_LEN, "claude", 500, &r);
		assert_int_equal(r.verdict, AIGW_AUTH_MODEL_DENIED);
	}
	/* unknown tokens are refused and not remembered */
	aigw_auth_check_cached(&cache, s, other, AIGW_APIKEY_LEN, "gpt-4o", 500, &r);
	assert_int_equal(r.verdict, AIGW_AUTH_UNKNOWN);
	for (int i = 0; i < AIGW_AUTH_CACHE_SLOTS; i++)
		if (cache.slot[i].key)
			assert_ptr_equal(cache.slot[i].key, &keys[0]);
	/* revocation (a new snapshot) is seen at once */
	keys[0].revoked_at = 100;
	{
		struct aigw_snapshot *s2 = snap_with(keys, 2);
		aigw_auth_check_cached(&cache, s2, good, AIGW_APIKEY_LEN, "gpt-4o", 500, &r);
		assert_int_equal(r.verdict, AIGW_AUTH_REVOKED);
		assert_ptr_equal(cache.snap, s2);
		free(s2->key_slots);
		free(s2);
	}
	aigw_auth_check_cached(&cache, s, NULL, 0, "gpt-4o", 500, &r);
	assert_int_equal(r.verdict, AIGW_AUTH_MISSING);
	for (int i = 0; i < 2; i++)
		aigw_key_release(&keys[i]);
	free(s->key_slots);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
