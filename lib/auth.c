/* auth: see auth.h. */
#include "auth.h"

#include <string.h>
#include <strings.h>

#include "apikey.h"

static void trim(const char **p, size_t *n)
{
	while (*n && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

const char *aigw_auth_token(const char *authorization, size_t authorization_len,
			    const char *x_api_key, size_t x_api_key_len, size_t *len)
{
	if (authorization) {
		const char *p = authorization;
		size_t n = authorization_len;
		trim(&p, &n);
		if (n > 7 && strncasecmp(p, "bearer ", 7) == 0) {
			p += 7;
			n -= 7;
			trim(&p, &n);
			if (n) {
				*len = n;
				return p;
			}
		}
	}
	if (x_api_key) {
		const char *p = x_api_key;
		size_t n = x_api_key_len;
		trim(&p, &n);
		if (n) {
			*len = n;
			return p;
		}
	}
	*len = 0;
	return NULL;
}

static void refuse(struct aigw_auth_result *out, enum aigw_auth_verdict v, int status,
		   const char *type, const char *code, const char *message)
{
	out->verdict = v;
	out->status = status;
	out->type = type;
	out->code = code;
	out->message = message;
}

/* The verdict once the key (or its absence) is known. */
static void decide(const struct aigw_key *k, const char *model, int64_t now,
		   struct aigw_auth_result *out)
{
	out->key = k;
	if (!k) {
		refuse(out, AIGW_AUTH_UNKNOWN, 401, "invalid_request_error", "invalid_api_key",
		       "invalid API key");
		return;
	}
	switch (aigw_key_status(k, now)) {
	case AIGW_KEY_REVOKED:
		refuse(out, AIGW_AUTH_REVOKED, 401, "invalid_request_error", "invalid_api_key",
		       "this API key has been revoked");
		return;
	case AIGW_KEY_EXPIRED:
		refuse(out, AIGW_AUTH_EXPIRED, 401, "invalid_request_error", "invalid_api_key",
		       "this API key has expired");
		return;
	case AIGW_KEY_ACTIVE:
		break;
	}
	if (k->models.n && model && !aigw_key_allows(k, model)) {
		refuse(out, AIGW_AUTH_MODEL_DENIED, 403, "permission_error", "model_not_allowed",
		       "this API key may not use the requested model");
		return;
	}
	refuse(out, AIGW_AUTH_OK, 200, NULL, NULL, NULL);
}

static bool missing(const char *token, size_t len, struct aigw_auth_result *out)
{
	if (token && len)
		return false;
	out->key = NULL;
	refuse(out, AIGW_AUTH_MISSING, 401, "invalid_request_error", "missing_api_key",
	       "no API key given: send it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'");
	return true;
}

void aigw_auth_check(const struct aigw_snapshot *s, const char *token, size_t len,
		     const char *model, int64_t now, struct aigw_auth_result *out)
{
	uint8_t hash[AIGW_APIKEY_HASH_LEN];

	if (missing(token, len, out))
		return;
	aigw_apikey_hash(token, len, hash);
	decide(aigw_snapshot_key(s, hash), model, now, out);
}

/* Equal in time that does not depend on where the bytes differ. */
static bool same(const char *a, const char *b, size_t n)
{
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

void aigw_auth_check_cached(struct aigw_auth_cache *cache, const struct aigw_snapshot *s,
			    const char *token, size_t len, const char *model, int64_t now,
			    struct aigw_auth_result *out)
{
	uint8_t hash[AIGW_APIKEY_HASH_LEN];
	const struct aigw_key *k;

	if (!cache || len != AIGW_APIKEY_LEN) {
		aigw_auth_check(s, token, len, model, now, out);
		return;
	}
	if (cache->snap != s) {
		memset(cache, 0, sizeof(*cache));
		cache->snap = s;
	}
	for (unsigned i = 0; i < AIGW_AUTH_CACHE_SLOTS; i++) {
		if (cache->slot[i].key && same(cache->slot[i].token, token, len)) {
			decide(cache->slot[i].key, model, now, out);
			return;
		}
	}
	aigw_apikey_hash(token, len, hash);
	k = aigw_snapshot_key(s, hash);
	if (k) {
		unsigned i = cache->next++ % AIGW_AUTH_CACHE_SLOTS;
		memcpy(cache->slot[i].token, token, len);
		cache->slot[i].key = k;
	}
	decide(k, model, now, out);
}
