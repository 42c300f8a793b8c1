/* keys: see keys.h. */
#include "keys.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mem.h"

int aigw_keys_parse_expiry(const char *s, int64_t now, int64_t *out, struct aigw_err *err)
{
	int64_t ms, at;

	if (strcmp(s, "never") == 0) {
		*out = 0;
		return 0;
	}
	if (s[0] >= '0' && s[0] <= '9' && strchr(s, '-')) {
		if (aigw_parse_time(s, &at, err))
			return AIGW_EINVAL;
	} else {
		if (aigw_parse_duration_ms(s, &ms, NULL))
			return aigw_err_set(err, AIGW_EINVAL,
					    "'%s' is not an expiry (use a duration such as 30d, a date such as 2026-12-31, or never)",
					    s);
		if (ms == 0)
			return aigw_err_set(err, AIGW_EINVAL, "expiry '%s' is not in the future", s);
		at = now + (ms + 999) / 1000;
	}
	if (at <= now)
		return aigw_err_set(err, AIGW_EINVAL, "expiry '%s' is in the past", s);
	*out = at;
	return 0;
}

static void apply(struct aigw_key *k, const struct aigw_key_changes *c)
{
	if (c->name) {
		free(k->name);
		k->name = aigw_strdup(c->name);
	}
	if (c->rpm)
		k->rpm = *c->rpm;
	if (c->tpm)
		k->tpm = *c->tpm;
	if (c->budget_micro)
		k->budget_micro = *c->budget_micro;
	if (c->expires_at)
		k->expires_at = *c->expires_at;
	if (c->models) {
		aigw_strv_release(&k->models);
		aigw_strv_copy(&k->models, c->models);
	}
}

static void set_secret(struct aigw_key *k, const struct aigw_apikey *ak,
		       char secret[AIGW_APIKEY_LEN + 1])
{
	memcpy(k->display, ak->display, sizeof(k->display));
	memcpy(k->hash, ak->hash, sizeof(k->hash));
	memcpy(secret, ak->secret, AIGW_APIKEY_LEN + 1);
}

int aigw_keys_create(struct aigw_store *s, const struct aigw_key_changes *c,
		     struct aigw_key *out, char secret[AIGW_APIKEY_LEN + 1],
		     struct aigw_err *err)
{
	struct aigw_apikey ak;
	int rc;

	aigw_key_init(out);
	apply(out, c);
	out->created_at = aigw_clock_wall_s();
	if ((rc = aigw_key_validate(out, err)))
		goto fail;
	if ((rc = aigw_apikey_generate(&ak, err)))
		goto fail;
	set_secret(out, &ak, secret);
	memset(&ak, 0, sizeof(ak));
	/* BEGIN IMMEDIATE: the write lock is taken (and waited for) up front,
	 * as in every other write, so concurrent creators queue up instead
	 * of failing. */
	if ((rc = aigw_store_begin(s, err)))
		goto fail;
	if ((rc = aigw_store_key_insert(s, out, err)) || (rc = aigw_store_commit(s, err))) {
		aigw_store_rollback(s);
		goto fail;
	}
	return 0;
fail:
	memset(secret, 0, AIGW_APIKEY_LEN + 1);
	aigw_key_release(out);
	return rc;
}

int aigw_keys_update(struct aigw_store *s, const char *ref, const struct aigw_key_changes *c,
		     struct aigw_key *out, struct aigw_err *err)
{
	int rc;

	if ((rc = aigw_store_begin(s, err)))
		return rc;
	if ((rc = aigw_store_key_get(s, ref, out, err)))
		goto fail;
	if (out->revoked_at) {
		rc = aigw_err_set(err, AIGW_EFAIL, "key '%s' is revoked and cannot be changed", ref);
		goto fail;
	}
	apply(out, c);
	if ((rc = aigw_key_validate(out, err)) || (rc = aigw_store_key_update(s, out, err)))
		goto fail;
	if ((rc = aigw_store_commit(s, err)))
		goto fail;
	return 0;
fail:
	aigw_store_rollback(s);
	aigw_key_release(out);
	return rc;
}

int aigw_keys_rotate(struct aigw_store *s, const char *ref, struct aigw_key *out,
		     char secret[AIGW_APIKEY_LEN + 1], struct aigw_err *err)
{
	struct aigw_key old;
	struct aigw_apikey ak;
	int64_t now = aigw_clock_wall_s();
	int rc;

	aigw_key_init(out);
	if ((rc = aigw_store_begin(s, err)))
		return rc;
	if ((rc = aigw_store_key_get(s, ref, &old, err)))
		goto fail;
	if (old.revoked_at) {
		rc = aigw_err_set(err, AIGW_EFAIL, "key '%s' is revoked and cannot be rotated", ref);
		aigw_key_release(&old);
		goto fail;
	}
	if ((rc = aigw_apikey_generate(&ak, err))) {
		aigw_key_release(&old);
		goto fail;
	}
	*out = old; /* takes over old's strings */
	out->id = 0;
	out->created_at = now;
	out->revoked_at = 0;
	out->rotated_from = old.id;
	set_secret(out, &ak, secret);
	memset(&ak, 0, sizeof(ak));
	if ((rc = aigw_store_key_rotate(s, old.id, out, now, err)) ||
	    (rc = aigw_store_commit(s, err))) {
		memset(secret, 0, AIGW_APIKEY_LEN + 1);
		aigw_key_release(out);
		goto fail;
	}
	return 0;
fail:
	aigw_store_rollback(s);
	return rc;
}

/* Reads the key named by ref and applies act to it, in one transaction. */
static int change_key(struct aigw_store *s, const char *ref, struct aigw_key *out,
		      int (*act)(struct aigw_store *, struct aigw_key *, struct aigw_err *),
		      struct aigw_err *err)
{
	int rc;

	if ((rc = aigw_store_begin(s, err)))
		return rc;
	if ((rc = aigw_store_key_get(s, ref, out, err)))
		goto fail;
	if ((rc = act(s, out, err)) || (rc = aigw_store_commit(s, err))) {
		aigw_key_release(out);
		goto fail;
	}
	return 0;
fail:
	aigw_store_rollback(s);
	return rc;
}

static int revoke(struct aigw_store *s, struct aigw_key *k, struct aigw_err *err)
{
	if (k->revoked_at)
		return aigw_err_set(err, AIGW_EFAIL, "key '%s' is already revoked", k->name);
	k->revoked_at = aigw_clock_wall_s();
	return aigw_store_key_revoke(s, k->id, k->revoked_at, err);
}

static int delete(struct aigw_store *s, struct aigw_key *k, struct aigw_err *err)
{
	return aigw_store_key_delete(s, k->id, err);
}

int aigw_keys_revoke(struct aigw_store *s, const char *ref, struct aigw_key *out,
		     struct aigw_err *err)
{
	return change_key(s, ref, out, revoke, err);
}

int aigw_keys_delete(struct aigw_store *s, const char *ref, struct aigw_key *out,
		     struct aigw_err *err)
{
	return change_key(s, ref, out, delete, err);
}
