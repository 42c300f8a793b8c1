/* apikey: API key secrets. A secret is "aigw_" followed by 32 random bytes
 * in base62 (43 characters). Only its SHA-256 and a short display prefix
 * are ever stored; the secret itself is shown once, at creation. */
#ifndef AIGW_APIKEY_H
#define AIGW_APIKEY_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define AIGW_APIKEY_PREFIX "aigw_"
#define AIGW_APIKEY_BODY_LEN 43 /* ceil(256 / log2(62)) */
#define AIGW_APIKEY_LEN (5 + AIGW_APIKEY_BODY_LEN)
#define AIGW_APIKEY_HASH_LEN 32
/* "aigw_" plus the first 6 characters of the body: enough to tell keys apart
 * in a list, far too little to guess the rest (256-36 bits remain). */
#define AIGW_APIKEY_DISPLAY_LEN 11

struct aigw_apikey {
	char secret[AIGW_APIKEY_LEN + 1];
	char display[AIGW_APIKEY_DISPLAY_LEN + 1];
	uint8_t hash[AIGW_APIKEY_HASH_LEN];
};

/* Draws a fresh secret from the CSPRNG and fills in its hash and display
 * prefix. The caller should wipe key->secret once it has been shown. */
int aigw_apikey_generate(struct aigw_apikey *key, struct aigw_err *err);
/* Encodes 32 bytes as exactly 43 base62 characters plus NUL (big-endian). */
void aigw_apikey_base62(const uint8_t in[32], char out[AIGW_APIKEY_BODY_LEN + 1]);
void aigw_apikey_hash(const char *secret, size_t len,
		      uint8_t out[AIGW_APIKEY_HASH_LEN]);
/* Lowercase hex of a hash (65 bytes with the NUL). */
void aigw_apikey_hex(const uint8_t hash[AIGW_APIKEY_HASH_LEN], char out[65]);
/* Does s have the shape of a secret (prefix, length, alphabet)? */
int aigw_apikey_well_formed(const char *s);

#endif
