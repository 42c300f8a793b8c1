/* keys: the operations on API keys, with their rules. The CLI and the
 * admin API both call these, so a key is validated the same way whichever
 * door it comes through. */
#ifndef AIGW_KEYS_H
#define AIGW_KEYS_H

#include <stdint.h>

#include "apikey.h"
#include "err.h"
#include "key.h"
#include "store.h"

/* Fields to set; NULL pointers leave a field as it is (update) or at its
 * default (create). */
struct aigw_key_changes {
	const char *name;
	const int64_t *rpm, *tpm;      /* 0 removes the limit */
	const int64_t *budget_micro;   /* 0 removes the budget */
	const int64_t *expires_at;     /* 0: never */
	const struct aigw_strv *models;/* empty: every model */
};

/* Parses --expires: a duration from now ("30d"), a date ("2026-12-31",
 * end of that day UTC is not implied: midnight starts it), or "never" (0).
 * Expiry in the past is refused. */
int aigw_keys_parse_expiry(const char *s, int64_t now, int64_t *out, struct aigw_err *err);

/* Creates a key. secret receives the only copy of the secret. */
int aigw_keys_create(struct aigw_store *s, const struct aigw_key_changes *c,
		     struct aigw_key *out, char secret[AIGW_APIKEY_LEN + 1],
		     struct aigw_err *err);
int aigw_keys_update(struct aigw_store *s, const char *ref, const struct aigw_key_changes *c,
		     struct aigw_key *out, struct aigw_err *err);
/* New secret, same name and policy; the old key is revoked in the same
 * transaction. A revoked key cannot be rotated. */
int aigw_keys_rotate(struct aigw_store *s, const char *ref, struct aigw_key *out,
		     char secret[AIGW_APIKEY_LEN + 1], struct aigw_err *err);
int aigw_keys_revoke(struct aigw_store *s, const char *ref, struct aigw_key *out,
		     struct aigw_err *err);
int aigw_keys_delete(struct aigw_store *s, const char *ref, struct aigw_key *out,
		     struct aigw_err *err);

#endif
