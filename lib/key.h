/* key: an API key record as stored (never the secret itself). */
#ifndef AIGW_KEY_H
#define AIGW_KEY_H

#include <stdbool.h>
#include <stdint.h>

#include "apikey.h"
#include "str.h"

enum aigw_key_status {
	AIGW_KEY_ACTIVE,
	AIGW_KEY_EXPIRED,
	AIGW_KEY_REVOKED,
};
extern const char *const aigw_key_status_names[];

#define AIGW_KEY_RATE_MAX 1000000000LL
#define AIGW_KEY_BUDGET_MAX (1000000000LL * 1000000) /* one billion USD */

struct aigw_key {
	int64_t id;
	char *name;
	char display[AIGW_APIKEY_DISPLAY_LEN + 1]; /* "aigw_Ab3xYz" */
	uint8_t hash[AIGW_APIKEY_HASH_LEN];        /* SHA-256 of the secret */
	int64_t rpm;              /* requests per minute; 0: unlimited */
	int64_t tpm;              /* tokens per minute; 0: unlimited */
	int64_t budget_micro;     /* USD * 1e6; 0: no budget */
	struct aigw_strv models;  /* model globs in scope; empty: all */
	int64_t created_at;       /* Unix seconds */
	int64_t expires_at;       /* 0: never */
	int64_t revoked_at;       /* 0: not revoked */
	int64_t rotated_from;     /* id of the key this one replaced; 0: none */
};

void aigw_key_init(struct aigw_key *k);
void aigw_key_release(struct aigw_key *k);
void aigw_keys_free(struct aigw_key *keys, size_t n);
enum aigw_key_status aigw_key_status(const struct aigw_key *k, int64_t now);
/* Field checks (name, ranges, model globs). */
int aigw_key_validate(const struct aigw_key *k, struct aigw_err *err);
/* Is the model within the key's scope? */
bool aigw_key_allows(const struct aigw_key *k, const char *model);

#endif
