/* apikey_test: the base62 encoding (checked against an independent decoder
 * written here), SHA-256 test vectors, and the shape of generated secrets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "apikey.h"
#include "rand.h"

static const char digits62[] =
	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Decodes base62 by the opposite method to the encoder: multiply-add over
 * the digits into a 256-bit big-endian number. False on a bad digit or a
 * value that does not fit in 32 bytes. */
static bool decode62(const char *s, uint8_t out[32])
{
	memset(out, 0, 32);
	for (; *s; s++) {
		const char *d = strchr(digits62, *s);
		unsigned carry;

		if (!d)
			return false;
		carry = (unsigned)(d - digits62);
		for (int i = 31; i >= 0; i--) {
			unsigned cur = out[i] * 62u + carry;
			out[i] = (uint8_t)(cur & 0xff);
			carry = cur >> 8;
		}
		if (carry)
			return false;
	}
	return true;
}

static void encode(const uint8_t in[32], char out[AIGW_APIKEY_BODY_LEN + 1])
{
	memset(out, '#', AIGW_APIKEY_BODY_LEN + 1);
	aigw_apikey_base62(in, out);
	assert_int_equal(strlen(out), AIGW_APIKEY_BODY_LEN);
}

static void test_base62_zero(void **state)
{
	uint8_t zero[32] = { 0 };
	char out[AIGW_APIKEY_BODY_LEN + 1], want[AIGW_APIKEY_BODY_LEN + 1];
	(void)state;

	encode(zero, out);
	memset(want, '0', AIGW_APIKEY_BODY_LEN);
	want[AIGW_APIKEY_BODY_LEN] = '\0';
	assert_string_equal(out, want);
}

static void test_base62_small_values(void **state)
{
	static const struct {
		unsigned value;
		const char *tail; /* the last digits; all before them are '0' */
	} cases[] = {
		{ 1, "1" },   { 9, "9" },     { 10, "A" },   { 35, "Z" },    { 36, "a" },
		{ 61, "z" },  { 62, "10" },   { 63, "11" },  { 255, "47" },  { 256, "48" },
		{ 3843, "zz" }, { 3844, "100" }, { 65535, "H31" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t in[32] = { 0 };
		char out[AIGW_APIKEY_BODY_LEN + 1];
		size_t tl = strlen(cases[i].tail);

		in[31] = (uint8_t)(cases[i].value & 0xff);
		in[30] = (uint8_t)(cases[i].value >> 8);
		encode(in, out);
		assert_string_equal(out + AIGW_APIKEY_BODY_LEN - tl, cases[i].tail);
		for (size_t j = 0; j < AIGW_APIKEY_BODY_LEN - tl; j++)
			assert_int_equal(out[j], '0');
	}
}

static void test_base62_all_ones(void **state)
{
	uint8_t ones[32], back[32];
	char out[AIGW_APIKEY_BODY_LEN + 1];
	(void)state;

	memset(ones, 0xff, sizeof(ones));
	encode(ones, out);
	/* 2^256 - 1 in base62, worked out separately. */
	assert_string_equal(out, "yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp1");
	assert_true(decode62(out, back));
	assert_memory_equal(back, ones, 32);
	/* One more than the largest value does not fit: the decoder notices,
	 * so the check above is not vacuous. */
	assert_false(decode62("yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp2", back));
	/* 43 digits are needed: 62^42 < 2^256. */
	assert_int_not_equal(out[0], '0');
}

static void test_base62_round_trip_random(void **state)
{
	(void)state;
	for (int i = 0; i < 500; i++) {
		uint8_t x[32], y[32], back[32];
		char ex[AIGW_APIKEY_BODY_LEN + 1], ey[AIGW_APIKEY_BODY_LEN + 1];
		int by_value, by_text;

		assert_int_equal(aigw_rand_bytes(x, sizeof(x), NULL), 0);
		assert_int_equal(aigw_rand_bytes(y, sizeof(y), NULL), 0);
		if (i % 5 == 1)
			memset(x, 0, (size_t)(i % 32)); /* leading zero bytes */
		encode(x, ex);
		encode(y, ey);
		assert_true(decode62(ex, back));
		assert_memory_equal(back, x, 32);
		/* The alphabet is in ASCII order, so the text sorts like the
		 * numbers. */
		by_value = memcmp(x, y, 32);
		by_text = strcmp(ex, ey);
		assert_true((by_value < 0) == (by_text < 0) && (by_value > 0) == (by_text > 0));
	}
}

/* ------------------------------------------------------------- hashing */

static void hash_hex(const char *s, size_t len, char hex[65])
{
	uint8_t h[AIGW_APIKEY_HASH_LEN];
	aigw_apikey_hash(s, len, h);
	aigw_apikey_hex(h, hex);
}

static void test_sha256_vectors(void **state)
{
	char hex[65];
	(void)state;

	/* FIPS 180-2 examples. */
	hash_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hash_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	hash_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	/* Only len bytes are hashed. */
	hash_hex("abcdef", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_hex(void **state)
{
	uint8_t h[AIGW_APIKEY_HASH_LEN];
	char hex[65];
	(void)state;

	for (int i = 0; i < AIGW_APIKEY_HASH_LEN; i++)
		h[i] = (uint8_t)(i * 8 + 7);
	memset(hex, '#', sizeof(hex));
	aigw_apikey_hex(h, hex);
	assert_string_equal(hex, "070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff");
}

/* ------------------------------------------------------------- secrets */

static void test_generate(void **state)
{
	struct aigw_apikey a, b;
	uint8_t h[AIGW_APIKEY_HASH_LEN], raw[32];
	(void)state;

	memset(&a, 0x55, sizeof(a));
	assert_int_equal(aigw_apikey_generate(&a, NULL), 0);
	assert_int_equal(strlen(a.secret), 48);
	assert_int_equal(AIGW_APIKEY_LEN, 48);
	assert_memory_equal(a.secret, "aigw_", 5);
	assert_true(aigw_apikey_well_formed(a.secret));
	assert_int_equal(strlen(a.display), 11);
	assert_memory_equal(a.display, a.secret, 11);
	aigw_apikey_hash(a.secret, strlen(a.secret), h);
	assert_memory_equal(a.hash, h, sizeof(h));
	/* The body decodes to 32 bytes. */
	assert_true(decode62(a.secret + 5, raw));

	assert_int_equal(aigw_apikey_generate(&b, NULL), 0);
	assert_string_not_equal(a.secret, b.secret);
	assert_memory_not_equal(a.hash, b.hash, sizeof(a.hash));

	/* Many secrets: always well formed, and no two alike. */
	static char seen[200][AIGW_APIKEY_LEN + 1];
	for (int i = 0; i < 200; i++) {
		assert_int_equal(aigw_apikey_generate(&a, NULL), 0);
		assert_true(aigw_apikey_well_formed(a.secret));
		memcpy(seen[i], a.secret, sizeof(seen[i]));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
}

static void test_well_formed(void **state)
{
	char s[64];
	(void)state;

	snprintf(s, sizeof(s), "aigw_%s", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg");
	assert_int_equal(strlen(s), 48);
	assert_true(aigw_apikey_well_formed(s));

	/* Wrong prefix. */
	s[3] = 'x';
	assert_false(aigw_apikey_well_formed(s));
	s[3] = 'w';
	s[0] = 'A';
	assert_false(aigw_apikey_well_formed(s));
	s[0] = 'a';
	s[4] = '-';
	assert_false(aigw_apikey_well_formed(s));
	s[4] = '_';
	assert_true(aigw_apikey_well_formed(s));

	/* Wrong length, either way. */
	s[47] = '\0';
	assert_false(aigw_apikey_well_formed(s));
	s[47] = 'g';
	s[48] = 'h';
	s[49] = '\0';
	assert_false(aigw_apikey_well_formed(s));
	s[48] = '\0';
	assert_true(aigw_apikey_well_formed(s));

	/* Outside the alphabet. */
	static const char bad[] = "-_+/=. !\x80";
	for (const char *c = bad; *c; c++) {
		char t[64];
		memcpy(t, s, sizeof(t));
		t[20] = *c;
		if (aigw_apikey_well_formed(t))
			fail_msg("'%s' accepted", t);
	}
	assert_false(aigw_apikey_well_formed(""));
	assert_false(aigw_apikey_well_formed("aigw_"));
	assert_false(aigw_apikey_well_formed("sk-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base62_zero),
		cmocka_unit_test(test_base62_small_values),
		cmocka_unit_test(test_base62_all_ones),
		cmocka_unit_test(test_base62_round_trip_random),
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_well_formed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
