/* key: see key.h. */
#include "key.h"

#include <stdlib.h>
#include <string.h>

const char *const aigw_key_status_names[] = { "active", "expired", "revoked", NULL };

void aigw_key_init(struct aigw_key *k)
{
	memset(k, 0, sizeof(*k));
}

void aigw_key_release(struct aigw_key *k)
{
	free(k->name);
	aigw_strv_release(&k->models);
	aigw_key_init(k);
}

void aigw_keys_free(struct aigw_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		aigw_key_release(&keys[i]);
	free(keys);
}

enum aigw_key_status aigw_key_status(const struct aigw_key *k, int64_t now)
{
	if (k->revoked_at)
		return AIGW_KEY_REVOKED;
	if (k->expires_at && k->expires_at <= now)
		return AIGW_KEY_EXPIRED;
	return AIGW_KEY_ACTIVE;
}

int aigw_key_validate(const struct aigw_key *k, struct aigw_err *err)
{
	if (!k->name || !aigw_name_valid(k->name))
		return aigw_err_set(err, AIGW_EINVAL,
				    "invalid key name '%s' (1-64 of A-Z a-z 0-9 . _ -, not all digits)",
				    k->name ? k->name : "");
	if (k->rpm < 0 || k->rpm > AIGW_KEY_RATE_MAX)
		return aigw_err_set(err, AIGW_EINVAL, "rpm %lld is out of range (0..%lld)",
				    (long long)k->rpm, AIGW_KEY_RATE_MAX);
	if (k->tpm < 0 || k->tpm > AIGW_KEY_RATE_MAX)
		return aigw_err_set(err, AIGW_EINVAL, "tpm %lld is out of range (0..%lld)",
				    (long long)k->tpm, AIGW_KEY_RATE_MAX);
	if (k->budget_micro < 0 || k->budget_micro > AIGW_KEY_BUDGET_MAX)
		return aigw_err_set(err, AIGW_EINVAL, "budget is out of range");
	if (k->expires_at < 0)
		return aigw_err_set(err, AIGW_EINVAL, "expiry is out of range");
	for (size_t i = 0; i < k->models.n; i++)
		if (!aigw_glob_valid(k->models.v[i], err))
			return AIGW_EINVAL;
	return 0;
}

bool aigw_key_allows(const struct aigw_key *k, const char *model)
{
	if (k->models.n == 0)
		return true;
	if (!model)
		return false;
	for (size_t i = 0; i < k->models.n; i++)
		if (aigw_glob_match(k->models.v[i], model))
			return true;
	return false;
}
