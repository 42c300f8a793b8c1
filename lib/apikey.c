/* apikey: see apikey.h. */
#include "apikey.h"

#include <bearssl.h>
#include <string.h>

#include "rand.h"

static const char alphabet[] =
	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

void aigw_apikey_base62(const uint8_t in[32], char out[AIGW_APIKEY_BODY_LEN + 1])
{
	uint8_t num[32];
	memcpy(num, in, 32);
	/* Long division of the 256-bit big-endian number by 62, least
	 * significant digit first, padded to a fixed width so every key has
	 * the same length. */
	for (int pos = AIGW_APIKEY_BODY_LEN - 1; pos >= 0; pos--) {
		unsigned rem = 0;
		for (int i = 0; i < 32; i++) {
			unsigned cur = (rem << 8) | num[i];
			num[i] = (uint8_t)(cur / 62);
			rem = cur % 62;
		}
		out[pos] = alphabet[rem];
	}
	out[AIGW_APIKEY_BODY_LEN] = '\0';
}

void aigw_apikey_hash(const char *secret, size_t len,
		      uint8_t out[AIGW_APIKEY_HASH_LEN])
{
	br_sha256_context ctx;
	br_sha256_init(&ctx);
	br_sha256_update(&ctx, secret, len);
	br_sha256_out(&ctx, out);
}

void aigw_apikey_hex(const uint8_t hash[AIGW_APIKEY_HASH_LEN], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < AIGW_APIKEY_HASH_LEN; i++) {
		out[2 * i] = hex[hash[i] >> 4];
		out[2 * i + 1] = hex[hash[i] & 15];
	}
	out[64] = '\0';
}

int aigw_apikey_generate(struct aigw_apikey *key, struct aigw_err *err)
{
	uint8_t raw[32];
	int rc = aigw_rand_bytes(raw, sizeof(raw), err);

	if (rc)
		return rc;
	memcpy(key->secret, AIGW_APIKEY_PREFIX, 5);
	aigw_apikey_base62(raw, key->secret + 5);
	memcpy(key->display, key->secret, AIGW_APIKEY_DISPLAY_LEN);
	key->display[AIGW_APIKEY_DISPLAY_LEN] = '\0';
	aigw_apikey_hash(key->secret, AIGW_APIKEY_LEN, key->hash);
	memset(raw, 0, sizeof(raw));
	return 0;
}

int aigw_apikey_well_formed(const char *s)
{
	if (strncmp(s, AIGW_APIKEY_PREFIX, 5) != 0 || strlen(s) != AIGW_APIKEY_LEN)
		return 0;
	for (const char *p = s + 5; *p; p++)
		if (!strchr(alphabet, *p))
			return 0;
	return 1;
}
