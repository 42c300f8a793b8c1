/* store_nodes: rows of the nodes table (see store.h). Only nodes added from
 * the command line or by joining live here; YAML nodes never do. */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "clock.h"
#include "mem.h"
#include "records.h"
#include "store_internal.h"

#define NODE_SELECT \
	"SELECT id, name, url, provider, type, region, weight, models, api_key_env," \
	" max_concurrency, standby, state, created_at, updated_at, accounts, cost FROM nodes "

/* The accounts column (see migration 3); text NULL leaves n as read. */
static int read_accounts(const char *text, struct aigw_node *n, struct aigw_err *err)
{
	static const char *const fields[] = { "api_key_env", "token_url", "client_id_env",
					      "client_secret_env", "scope", "proxy", NULL };
	struct aigw_account *accounts;
	const cJSON *item;
	cJSON *root;
	size_t count = 0;

	if (!text)
		return 0;
	root = cJSON_Parse(text);
	if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) > AIGW_NODE_ACCOUNTS_MAX) {
		cJSON_Delete(root);
		return aigw_err_set(err, AIGW_EFAIL,
				    "node '%s' has unreadable accounts in the database", n->name);
	}
	accounts = aigw_calloc((size_t)cJSON_GetArraySize(root) + 1, sizeof(*accounts));
	cJSON_ArrayForEach(item, root) {
		struct aigw_account *a = &accounts[count++];
		char **slots[] = { &a->api_key_env, &a->token_url, &a->client_id_env,
				   &a->client_secret_env, &a->scope, &a->proxy };
		for (size_t i = 0; fields[i]; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, fields[i]);
			if (cJSON_IsString(v))
				*slots[i] = aigw_strdup(v->valuestring);
		}
	}
	cJSON_Delete(root);
	aigw_node_set_accounts_take(n, accounts, count);
	return 0;
}

/* Fails only when a row holds an enum name this binary does not know. */
static int read_node(struct aigw_store *s, sqlite3_stmt *st, struct aigw_node *n,
		     struct aigw_err *err)
{
	aigw_node_init(n);
	n->id = sqlite3_column_int64(st, 0);
	n->name = store_column_dup(st, 1);
	n->url = store_column_dup(st, 2);
	n->region = store_column_dup(st, 5);
	n->weight = sqlite3_column_int64(st, 6);
	store_split(&n->models, (const char *)sqlite3_column_text(st, 7), ',');
	n->api_key_env = store_column_dup(st, 8);
	n->max_concurrency = sqlite3_column_int64(st, 9);
	n->standby = sqlite3_column_int64(st, 10) != 0;
	n->cost = sqlite3_column_int64(st, 15);
	n->created_at = sqlite3_column_int64(st, 12);
	n->updated_at = sqlite3_column_int64(st, 13);
	n->origin = AIGW_ORIGIN_DB;
	aigw_node_normalize(n);
	if (read_accounts((const char *)sqlite3_column_text(st, 14), n, err) ||
	    store_enum_value(s, aigw_provider_names, (const char *)sqlite3_column_text(st, 3),
			     "provider", &n->provider, err) ||
	    store_enum_value(s, aigw_node_type_names, (const char *)sqlite3_column_text(st, 4),
			     "node type", &n->type, err) ||
	    store_enum_value(s, aigw_node_state_names, (const char *)sqlite3_column_text(st, 11),
			     "node state", &n->state, err)) {
		aigw_node_release(n);
		return AIGW_EFAIL;
	}
	return 0;
}

/* Binds ?1 (name) to ?11 (state) and ?14 (accounts), shared by insert and
 * update. *models is the joined list, which the caller frees. */
static int bind_node(sqlite3_stmt *st, const struct aigw_node *n, char **models,
		     struct aigw_err *err)
{
	const char *key_env = n->n_accounts ? n->accounts[0].api_key_env : n->api_key_env;
	char *accounts = NULL;

	const char *provider = store_enum_name(aigw_provider_names, n->provider);
	const char *type = store_enum_name(aigw_node_type_names, n->type);
	const char *state = store_enum_name(aigw_node_state_names, n->state);

	*models = NULL;
	if (!provider)
		return aigw_err_set(err, AIGW_EINVAL, "node '%s' has an unknown provider", n->name);
	if (!type)
		return aigw_err_set(err, AIGW_EINVAL, "node '%s' has an unknown type", n->name);
	if (!state)
		return aigw_err_set(err, AIGW_EINVAL, "node '%s' has an unknown state", n->name);
	if (store_join(&n->models, ',', "model pattern", models, err))
		return AIGW_EINVAL;
	store_bind_text(st, 1, n->name);
	store_bind_text(st, 2, n->url);
	store_bind_text(st, 3, provider);
	store_bind_text(st, 4, type);
	store_bind_text(st, 5, n->region);
	sqlite3_bind_int64(st, 6, n->weight);
	store_bind_text(st, 7, *models);
	store_bind_text(st, 8, key_env);
	sqlite3_bind_int64(st, 9, n->max_concurrency);
	sqlite3_bind_int(st, 10, n->standby ? 1 : 0);
	store_bind_text(st, 11, state);
	sqlite3_bind_int64(st, 15, n->cost);
	if (!aigw_node_accounts_plain(n)) {
		cJSON *a = aigw_accounts_json(n->accounts, n->n_accounts);
		accounts = cJSON_PrintUnformatted(a);
		cJSON_Delete(a);
	}
	/* SQLITE_TRANSIENT: sqlite copies the text, so it can go now. */
	store_bind_text(st, 14, accounts);
	cJSON_free(accounts);
	return 0;
}

static int node_write_failed(struct aigw_store *s, int rc, const struct aigw_node *n,
			     struct aigw_err *err)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
		return aigw_err_set(err, AIGW_EEXIST, "a node named '%s' already exists", n->name);
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		return aigw_err_set(err, AIGW_EINVAL,
				    "node '%s' has a value the database refuses (%s)",
				    n->name, sqlite3_errmsg(s->db));
	default:
		return store_fail(s, rc, err);
	}
}

static int check_node(const struct aigw_node *n, struct aigw_err *err)
{
	if (!n->name)
		return aigw_err_set(err, AIGW_EINVAL, "node has no name");
	if (!n->url)
		return aigw_err_set(err, AIGW_EINVAL, "node '%s' has no url", n->name);
	return 0;
}

/* ----------------------------------------------------------------- api */

int aigw_store_node_insert(struct aigw_store *s, struct aigw_node *n, struct aigw_err *err)
{
	sqlite3_stmt *st;
	char *models;
	int64_t created, updated;
	int rc;

	if ((rc = check_node(n, err)))
		return rc;
	if (store_prepare(s, &st,
			  "INSERT INTO nodes (name, url, provider, type, region, weight, models,"
			  " api_key_env, max_concurrency, standby, state, created_at, updated_at, accounts,"
			  " cost) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
			  " ?15)", err))
		return AIGW_EFAIL;
	if ((rc = bind_node(st, n, &models, err))) {
		sqlite3_finalize(st);
		return rc;
	}
	created = n->created_at ? n->created_at : aigw_clock_wall_s();
	updated = n->updated_at ? n->updated_at : created;
	sqlite3_bind_int64(st, 12, created);
	sqlite3_bind_int64(st, 13, updated);

	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		n->id = sqlite3_last_insert_rowid(s->db);
		n->created_at = created;
		n->updated_at = updated;
		n->origin = AIGW_ORIGIN_DB;
		rc = 0;
	} else {
		rc = node_write_failed(s, rc, n, err);
	}
	sqlite3_finalize(st);
	free(models);
	return rc;
}

int aigw_store_node_get(struct aigw_store *s, const char *name, struct aigw_node *out,
			struct aigw_err *err)
{
	sqlite3_stmt *st;
	int rc;

	aigw_node_init(out);
	if (!name)
		return aigw_err_set(err, AIGW_EINVAL, "no node given");
	if (store_prepare(s, &st, NODE_SELECT "WHERE name = ?1", err))
		return AIGW_EFAIL;
	store_bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = read_node(s, st, out, err);
	else if (rc == SQLITE_DONE)
		rc = aigw_err_set(err, AIGW_ENOTFOUND, "no node named '%s'", name);
	else
		rc = store_fail(s, rc, err);
	sqlite3_finalize(st);
	return rc;
}

int aigw_store_node_list(struct aigw_store *s, struct aigw_node **out, size_t *n,
			 struct aigw_err *err)
{
	struct aigw_node *nodes = NULL;
	size_t count = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	if (store_prepare(s, &st, NODE_SELECT "ORDER BY name", err))
		return AIGW_EFAIL;
	for (;;) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE) {
			rc = 0;
			break;
		}
		if (rc != SQLITE_ROW) {
			rc = store_fail(s, rc, err);
			break;
		}
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			nodes = aigw_realloc(nodes, cap * sizeof(*nodes));
		}
		if ((rc = read_node(s, st, &nodes[count], err)))
			break;
		count++;
	}
	sqlite3_finalize(st);
	if (rc) {
		aigw_nodes_free(nodes, count);
		return rc;
	}
	*out = nodes;
	*n = count;
	return 0;
}

int aigw_store_node_update(struct aigw_store *s, const struct aigw_node *n,
			   struct aigw_err *err)
{
	sqlite3_stmt *st;
	char *models;
	int rc;

	if ((rc = check_node(n, err)))
		return rc;
	if (store_prepare(s, &st,
			  "UPDATE nodes SET url = ?2, provider = ?3, type = ?4, region = ?5,"
			  " weight = ?6, models = ?7, api_key_env = ?8, max_concurrency = ?9,"
			  " standby = ?10, state = ?11, updated_at = ?12, accounts = ?14, cost = ?15"
			  " WHERE name = ?1", err))
		return AIGW_EFAIL;
	if ((rc = bind_node(st, n, &models, err))) {
		sqlite3_finalize(st);
		return rc;
	}
	/* The struct usually comes from a get, so its updated_at is the old
	 * one; an update is always stamped now. */
	sqlite3_bind_int64(st, 12, aigw_clock_wall_s());

	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = sqlite3_changes(s->db) ? 0 :
			aigw_err_set(err, AIGW_ENOTFOUND, "no node named '%s'", n->name);
	else
		rc = node_write_failed(s, rc, n, err);
	sqlite3_finalize(st);
	free(models);
	return rc;
}

int aigw_store_node_delete(struct aigw_store *s, const char *name, struct aigw_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (!name)
		return aigw_err_set(err, AIGW_EINVAL, "no node given");
	/* Routes naming the node keep the name: it may be re-added, or
	 * defined in aigw.yaml; the route checks report dangling names. */
	if (store_prepare(s, &st, "DELETE FROM nodes WHERE name = ?1", err))
		return AIGW_EFAIL;
	store_bind_text(st, 1, name);
	if ((rc = store_run(s, st, err)))
		return rc;
	if (!sqlite3_changes(s->db))
		return aigw_err_set(err, AIGW_ENOTFOUND, "no node named '%s'", name);
	return 0;
}
