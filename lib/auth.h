/* auth: who is calling, and may they use this model?
 *
 * The presented secret (Authorization: Bearer, or x-api-key) is hashed
 * with SHA-256 and looked up in the snapshot's key index; the secret
 * itself is never stored, logged or compared. The verdict carries the
 * HTTP status and the OpenAI-shaped error fields to answer with. */
#ifndef AIGW_AUTH_H
#define AIGW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "key.h"
#include "snapshot.h"

enum aigw_auth_verdict {
	AIGW_AUTH_OK,
	AIGW_AUTH_MISSING,      /* 401: no key presented */
	AIGW_AUTH_UNKNOWN,      /* 401: no such key */
	AIGW_AUTH_REVOKED,      /* 401 */
	AIGW_AUTH_EXPIRED,      /* 401 */
	AIGW_AUTH_MODEL_DENIED, /* 403: the model is outside the key's globs */
};

struct aigw_auth_result {
	enum aigw_auth_verdict verdict;
	const struct aigw_key *key; /* the key found (also when refused), or NULL */
	int status;                 /* 200, 401 or 403 */
	const char *type;           /* OpenAI error type */
	const char *code;           /* OpenAI error code */
	const char *message;
};

/* Picks the presented secret from the two headers (either may be NULL):
 * "Bearer <token>" (scheme case-insensitive) or the x-api-key value.
 * Returns the token slice, or NULL with *len 0 when none is usable. */
const char *aigw_auth_token(const char *authorization, size_t authorization_len,
			    const char *x_api_key, size_t x_api_key_len, size_t *len);

/* Decides on a token (may be NULL) for a model (NULL when the request
 * names none) at time now (Unix seconds). */
void aigw_auth_check(const struct aigw_snapshot *s, const char *token, size_t len,
		     const char *model, int64_t now, struct aigw_auth_result *out);

/* A worker's memory of the last few tokens it verified, so a client that
 * sends the same key on every request does not cost a SHA-256 each time.
 * Only tokens of existing keys are kept (so unknown tokens cannot flood
 * it), they are compared in constant time, and the cache empties itself
 * when the snapshot it was filled from is replaced. One per thread. */
#define AIGW_AUTH_CACHE_SLOTS 8
struct aigw_auth_cache {
	const struct aigw_snapshot *snap;
	unsigned next;
	struct {
		char token[AIGW_APIKEY_LEN];
		const struct aigw_key *key;
	} slot[AIGW_AUTH_CACHE_SLOTS];
};

/* aigw_auth_check through a cache (which may be NULL). */
void aigw_auth_check_cached(struct aigw_auth_cache *cache, const struct aigw_snapshot *s,
			    const char *token, size_t len, const char *model, int64_t now,
			    struct aigw_auth_result *out);

#endif
