/* store_keys: rows of the keys table (see store.h). Only hashes and display
 * prefixes are stored; the secret never reaches this file. */
#include "store.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "mem.h"
#include "store_internal.h"

#define KEY_SELECT \
	"SELECT id, name, display, hash, rpm, tpm, budget_micro, models," \
	" created_at, expires_at, revoked_at, rotated_from FROM keys "

static void read_key(sqlite3_stmt *st, struct aigw_key *k)
{
	const unsigned char *display = sqlite3_column_text(st, 2);
	const void *hash = sqlite3_column_blob(st, 3);

	aigw_key_init(k);
	k->id = sqlite3_column_int64(st, 0);
	k->name = store_column_dup(st, 1);
	aigw_strlcpy(k->display, display ? (const char *)display : "", sizeof(k->display));
	if (hash && sqlite3_column_bytes(st, 3) == (int)sizeof(k->hash))
		memcpy(k->hash, hash, sizeof(k->hash));
	k->rpm = sqlite3_column_int64(st, 4);
	k->tpm = sqlite3_column_int64(st, 5);
	k->budget_micro = sqlite3_column_int64(st, 6);
	store_split(&k->models, (const char *)sqlite3_column_text(st, 7), ',');
	k->created_at = sqlite3_column_int64(st, 8);
	k->expires_at = sqlite3_column_int64(st, 9);
	k->revoked_at = sqlite3_column_int64(st, 10);
	k->rotated_from = sqlite3_column_int64(st, 11); /* NULL reads as 0 */
}

/* Steps a statement expected to yield at most one key and finalizes it.
 * Returns ENOTFOUND without a message: the caller knows what was asked. */
static int fetch_key(struct aigw_store *s, sqlite3_stmt *st, struct aigw_key *out,
		     struct aigw_err *err)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		read_key(st, out);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		rc = AIGW_ENOTFOUND;
	} else {
		rc = store_fail(s, rc, err);
	}
	sqlite3_finalize(st);
	return rc;
}

static int get_by_id(struct aigw_store *s, int64_t id, struct aigw_key *out,
		     struct aigw_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (store_prepare(s, &st, KEY_SELECT "WHERE id = ?1", err))
		return AIGW_EFAIL;
	sqlite3_bind_int64(st, 1, id);
	rc = fetch_key(s, st, out, err);
	if (rc == AIGW_ENOTFOUND)
		aigw_err_set(err, rc, "no key with id %lld", (long long)id);
	return rc;
}


/* Explains a failed write to the keys table. Called before the statement
 * is finalized, while the handle still holds the failure. */
static int key_write_failed(struct aigw_store *s, int rc, const struct aigw_key *k,
			    struct aigw_err *err)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
		/* Only the live-name index and the hash are unique, and a
		 * revoked row is outside the name index. */
		if (k->revoked_at == 0 &&
		    strstr(sqlite3_errmsg(s->db), "keys.name"))
			return aigw_err_set(err, AIGW_EEXIST, "a key named '%s' already exists",
					    k->name);
		return aigw_err_set(err, AIGW_EEXIST,
				    "a key with the same secret hash already exists");
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return aigw_err_set(err, AIGW_EINVAL,
				    "key '%s' replaces key %lld, which does not exist",
				    k->name, (long long)k->rotated_from);
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		return aigw_err_set(err, AIGW_EINVAL,
				    "key '%s' has a value the database refuses (%s)",
				    k->name, sqlite3_errmsg(s->db));
	default:
		return store_fail(s, rc, err);
	}
}

/* ----------------------------------------------------------------- api */

int aigw_store_key_insert(struct aigw_store *s, struct aigw_key *k, struct aigw_err *err)
{
	sqlite3_stmt *st;
	char *models;
	int64_t created;
	int rc;

	if (!k->name)
		return aigw_err_set(err, AIGW_EINVAL, "key has no name");
	if (store_join(&k->models, ',', "model pattern", &models, err))
		return AIGW_EINVAL;
	if (store_prepare(s, &st,
			  "INSERT INTO keys (name, display, hash, rpm, tpm, budget_micro,"
			  " models, created_at, expires_at, revoked_at, rotated_from)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", err)) {
		free(models);
		return AIGW_EFAIL;
	}
	created = k->created_at ? k->created_at : aigw_clock_wall_s();
	store_bind_text(st, 1, k->name);
	store_bind_text(st, 2, k->display);
	sqlite3_bind_blob(st, 3, k->hash, sizeof(k->hash), SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, k->rpm);
	sqlite3_bind_int64(st, 5, k->tpm);
	sqlite3_bind_int64(st, 6, k->budget_micro);
	store_bind_text(st, 7, models);
	sqlite3_bind_int64(st, 8, created);
	sqlite3_bind_int64(st, 9, k->expires_at);
	sqlite3_bind_int64(st, 10, k->revoked_at);
	if (k->rotated_from)
		sqlite3_bind_int64(st, 11, k->rotated_from);
	else
		sqlite3_bind_null(st, 11);

	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		k->id = sqlite3_last_insert_rowid(s->db);
		k->created_at = created;
		rc = 0;
	} else {
		rc = key_write_failed(s, rc, k, err);
	}
	sqlite3_finalize(st);
	free(models);
	return rc;
}

int aigw_store_key_get(struct aigw_store *s, const char *ref, struct aigw_key *out,
		       struct aigw_err *err)
{
	sqlite3_stmt *st;
	int rc;

	aigw_key_init(out);
	if (!ref)
		return aigw_err_set(err, AIGW_EINVAL, "no key given");
	if (aigw_str_all_digits(ref)) {
		char *end;
		long long id;

		errno = 0;
		id = strtoll(ref, &end, 10);
		if (errno == ERANGE)
			return aigw_err_set(err, AIGW_ENOTFOUND, "no key with id %s", ref);
		return get_by_id(s, id, out, err);
	}
	/* The live key first; else the newest revoked one, so `keys show`
	 * still finds a name after it was revoked. */
	if (store_prepare(s, &st,
			  KEY_SELECT "WHERE name = ?1"
			  " ORDER BY revoked_at = 0 DESC, created_at DESC, id DESC LIMIT 1",
			  err))
		return AIGW_EFAIL;
	store_bind_text(st, 1, ref);
	rc = fetch_key(s, st, out, err);
	if (rc == AIGW_ENOTFOUND)
		aigw_err_set(err, rc, "no key named '%s'", ref);
	return rc;
}

int aigw_store_key_list(struct aigw_store *s, struct aigw_key **out, size_t *n,
			struct aigw_err *err)
{
	struct aigw_key *keys = NULL;
	size_t count = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	if (store_prepare(s, &st, KEY_SELECT "ORDER BY id", err))
		return AIGW_EFAIL;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			keys = aigw_realloc(keys, cap * sizeof(*keys));
		}
		read_key(st, &keys[count++]);
	}
	if (rc != SQLITE_DONE) {
		rc = store_fail(s, rc, err);
		sqlite3_finalize(st);
		aigw_keys_free(keys, count);
		return rc;
	}
	sqlite3_finalize(st);
	*out = keys;
	*n = count;
	return 0;
}

int aigw_store_key_update(struct aigw_store *s, const struct aigw_key *k,
			  struct aigw_err *err)
{
	sqlite3_stmt *st;
	char *models;
	int rc;

	if (!k->name)
		return aigw_err_set(err, AIGW_EINVAL, "key has no name");
	if (store_join(&k->models, ',', "model pattern", &models, err))
		return AIGW_EINVAL;
	if (store_prepare(s, &st,
			  "UPDATE keys SET name = ?2, rpm = ?3, tpm = ?4, budget_micro = ?5,"
			  " models = ?6, expires_at = ?7 WHERE id = ?1", err)) {
		free(models);
		return AIGW_EFAIL;
	}
	sqlite3_bind_int64(st, 1, k->id);
	store_bind_text(st, 2, k->name);
	sqlite3_bind_int64(st, 3, k->rpm);
	sqlite3_bind_int64(st, 4, k->tpm);
	sqlite3_bind_int64(st, 5, k->budget_micro);
	store_bind_text(st, 6, models);
	sqlite3_bind_int64(st, 7, k->expires_at);

	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = sqlite3_changes(s->db) ? 0 :
			aigw_err_set(err, AIGW_ENOTFOUND, "no key with id %lld", (long long)k->id);
	else if (rc == SQLITE_CONSTRAINT_UNIQUE)
		/* Only a live key's new name can collide here. */
		rc = aigw_err_set(err, AIGW_EEXIST, "a key named '%s' already exists", k->name);
	else
		rc = key_write_failed(s, rc, k, err);
	sqlite3_finalize(st);
	free(models);
	return rc;
}

int aigw_store_key_revoke(struct aigw_store *s, int64_t id, int64_t at,
			  struct aigw_err *err)
{
	struct aigw_key old;
	sqlite3_stmt *st;
	int rc;

	/* revoked_at = 0 means live, so a revocation needs a real time. */
	if (at <= 0)
		at = aigw_clock_wall_s();
	if (store_prepare(s, &st,
			  "UPDATE keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at = 0", err))
		return AIGW_EFAIL;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, at);
	if ((rc = store_run(s, st, err)))
		return rc;
	if (sqlite3_changes(s->db))
		return 0;

	/* Nothing changed: say whether the key is missing or already gone,
	 * keeping the first revocation time rather than overwriting it. */
	if ((rc = get_by_id(s, id, &old, err)))
		return rc;
	rc = aigw_err_set(err, AIGW_EINVAL, "key '%s' (id %lld) is already revoked",
			  old.name, (long long)id);
	aigw_key_release(&old);
	return rc;
}

/* The new key takes the old one's name and policy (limits, budget, model
 * scope, expiry) from the row itself, so a rotation can never quietly
 * widen or drop what the key was allowed; the caller supplies only the new
 * secret's display and hash; its created_at is the rotation time `at`.
 * On success newk holds the stored row. */
int aigw_store_key_rotate(struct aigw_store *s, int64_t old_id, struct aigw_key *newk,
			  int64_t at, struct aigw_err *err)
{
	struct store_tx tx;
	struct aigw_key old;
	int rc;

	if (at <= 0)
		at = aigw_clock_wall_s();
	if ((rc = store_tx_start(s, &tx, err)))
		return rc;
	rc = get_by_id(s, old_id, &old, err);
	if (rc)
		return store_tx_finish(s, &tx, rc, err);
	if (old.revoked_at) {
		rc = aigw_err_set(err, AIGW_EINVAL,
				  "key '%s' (id %lld) is revoked and cannot be rotated",
				  old.name, (long long)old_id);
		goto done;
	}
	if ((rc = aigw_store_key_revoke(s, old_id, at, err)))
		goto done;

	free(newk->name);
	newk->name = aigw_strdup(old.name);
	newk->rpm = old.rpm;
	newk->tpm = old.tpm;
	newk->budget_micro = old.budget_micro;
	aigw_strv_release(&newk->models);
	aigw_strv_copy(&newk->models, &old.models);
	newk->expires_at = old.expires_at;
	newk->revoked_at = 0;
	newk->rotated_from = old_id;
	newk->created_at = at;
	rc = aigw_store_key_insert(s, newk, err);

done:
	aigw_key_release(&old);
	rc = store_tx_finish(s, &tx, rc, err);
	if (rc)
		newk->id = 0; /* the row was rolled back */
	return rc;
}

int aigw_store_key_delete(struct aigw_store *s, int64_t id, struct aigw_err *err)
{
	sqlite3_stmt *st;
	int rc;

	/* Keys rotated from this one keep their rows; their rotated_from
	 * becomes NULL (ON DELETE SET NULL). */
	if (store_prepare(s, &st, "DELETE FROM keys WHERE id = ?1", err))
		return AIGW_EFAIL;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = store_run(s, st, err)))
		return rc;
	if (!sqlite3_changes(s->db))
		return aigw_err_set(err, AIGW_ENOTFOUND, "no key with id %lld", (long long)id);
	return 0;
}
