/* store_routes: rows of the routes and route_nodes tables (see store.h). A
 * route's node pool is ordered, so it lives in its own table keyed by
 * position rather than in a joined column. */
#include "store.h"

#include <stdlib.h>

#include "clock.h"
#include "mem.h"
#include "store_internal.h"

#define ROUTE_SELECT \
	"SELECT id, name, path, method, model, headers, policy, retries, timeout_ms," \
	" fallback, created_at, updated_at, connect_timeout_ms, first_byte_timeout_ms," \
	" idle_timeout_ms, prefer_cheap FROM routes "
#define ROUTE_NODES_SELECT \
	"SELECT node FROM route_nodes WHERE route_id = ?1 ORDER BY position"

static int read_route(struct aigw_store *s, sqlite3_stmt *st, struct aigw_route *r,
		      struct aigw_err *err)
{
	aigw_route_init(r);
	r->id = sqlite3_column_int64(st, 0);
	r->name = store_column_dup(st, 1);
	r->path = store_column_dup(st, 2);
	r->method = store_column_dup(st, 3);
	r->model = store_column_dup(st, 4);
	store_split(&r->headers, (const char *)sqlite3_column_text(st, 5), '\n');
	r->retries = sqlite3_column_int64(st, 7);
	r->timeout_ms = sqlite3_column_int64(st, 8);
	r->fallback = store_column_dup(st, 9);
	r->created_at = sqlite3_column_int64(st, 10);
	r->updated_at = sqlite3_column_int64(st, 11);
	r->connect_timeout_ms = sqlite3_column_int64(st, 12);
	r->first_byte_timeout_ms = sqlite3_column_int64(st, 13);
	r->idle_timeout_ms = sqlite3_column_int64(st, 14);
	r->prefer_cheap = sqlite3_column_int64(st, 15);
	r->origin = AIGW_ORIGIN_DB;
	if (store_enum_value(s, aigw_policy_names, (const char *)sqlite3_column_text(st, 6),
			     "policy", &r->policy, err)) {
		aigw_route_release(r);
		return AIGW_EFAIL;
	}
	return 0;
}

/* Fills r->nodes with the statement from ROUTE_NODES_SELECT, which is
 * reset afterwards so a list can reuse it for every route. */
static int read_route_nodes(struct aigw_store *s, sqlite3_stmt *st, struct aigw_route *r,
			    struct aigw_err *err)
{
	int rc;

	sqlite3_bind_int64(st, 1, r->id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *node = sqlite3_column_text(st, 0);
		aigw_strv_push(&r->nodes, node ? (const char *)node : "");
	}
	rc = rc == SQLITE_DONE ? 0 : store_fail(s, rc, err);
	sqlite3_reset(st);
	return rc;
}

static int insert_route_nodes(struct aigw_store *s, const struct aigw_route *r,
			      int64_t id, struct aigw_err *err)
{
	sqlite3_stmt *st;
	int rc = 0;

	if (store_prepare(s, &st,
			  "INSERT INTO route_nodes (route_id, position, node) VALUES (?1, ?2, ?3)",
			  err))
		return AIGW_EFAIL;
	for (size_t i = 0; i < r->nodes.n && !rc; i++) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, (int64_t)i);
		store_bind_text(st, 3, r->nodes.v[i]);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? 0 : store_fail(s, rc, err);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return rc;
}

/* ----------------------------------------------------------------- api */

int aigw_store_route_insert(struct aigw_store *s, struct aigw_route *r, struct aigw_err *err)
{
	const char *policy = store_enum_name(aigw_policy_names, r->policy);
	struct store_tx tx;
	sqlite3_stmt *st;
	char *headers;
	int64_t created = 0, updated = 0, id = 0;
	int rc;

	if (!r->name)
		return aigw_err_set(err, AIGW_EINVAL, "route has no name");
	if (!r->path)
		return aigw_err_set(err, AIGW_EINVAL, "route '%s' has no path", r->name);
	if (!policy)
		return aigw_err_set(err, AIGW_EINVAL, "route '%s' has an unknown policy", r->name);
	if (store_join(&r->headers, '\n', "header condition", &headers, err))
		return AIGW_EINVAL;
	if ((rc = store_tx_start(s, &tx, err))) {
		free(headers);
		return rc;
	}
	if ((rc = store_prepare(s, &st,
				"INSERT INTO routes (name, path, method, model, headers, policy,"
				" retries, timeout_ms, fallback, created_at, updated_at,"
				" connect_timeout_ms, first_byte_timeout_ms, idle_timeout_ms, prefer_cheap)"
				" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
				" ?15)",
				err)))
		goto done;
	created = r->created_at ? r->created_at : aigw_clock_wall_s();
	updated = r->updated_at ? r->updated_at : created;
	store_bind_text(st, 1, r->name);
	store_bind_text(st, 2, r->path);
	store_bind_text(st, 3, r->method);
	store_bind_text(st, 4, r->model);
	store_bind_text(st, 5, headers);
	store_bind_text(st, 6, policy);
	sqlite3_bind_int64(st, 7, r->retries);
	sqlite3_bind_int64(st, 8, r->timeout_ms);
	store_bind_text(st, 9, r->fallback);
	sqlite3_bind_int64(st, 10, created);
	sqlite3_bind_int64(st, 11, updated);
	sqlite3_bind_int64(st, 12, r->connect_timeout_ms);
	sqlite3_bind_int64(st, 13, r->first_byte_timeout_ms);
	sqlite3_bind_int64(st, 14, r->idle_timeout_ms);
	sqlite3_bind_int64(st, 15, r->prefer_cheap);

	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		id = sqlite3_last_insert_rowid(s->db);
		rc = 0;
	} else if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		rc = aigw_err_set(err, AIGW_EEXIST, "a route named '%s' already exists", r->name);
	} else if (rc == SQLITE_CONSTRAINT_CHECK || rc == SQLITE_CONSTRAINT_NOTNULL) {
		rc = aigw_err_set(err, AIGW_EINVAL,
				  "route '%s' has a value the database refuses (%s)",
				  r->name, sqlite3_errmsg(s->db));
	} else {
		rc = store_fail(s, rc, err);
	}
	sqlite3_finalize(st);
	if (!rc)
		rc = insert_route_nodes(s, r, id, err);

done:
	free(headers);
	rc = store_tx_finish(s, &tx, rc, err);
	if (!rc) {
		r->id = id;
		r->created_at = created;
		r->updated_at = updated;
		r->origin = AIGW_ORIGIN_DB;
	}
	return rc;
}

int aigw_store_route_get(struct aigw_store *s, const char *name, struct aigw_route *out,
			 struct aigw_err *err)
{
	sqlite3_stmt *st, *nodes;
	int rc;

	aigw_route_init(out);
	if (!name)
		return aigw_err_set(err, AIGW_EINVAL, "no route given");
	if (store_prepare(s, &st, ROUTE_SELECT "WHERE name = ?1", err))
		return AIGW_EFAIL;
	store_bind_text(st, 1, name);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = read_route(s, st, out, err);
	else if (rc == SQLITE_DONE)
		rc = aigw_err_set(err, AIGW_ENOTFOUND, "no route named '%s'", name);
	else
		rc = store_fail(s, rc, err);
	sqlite3_finalize(st);
	if (rc)
		return rc;

	if (store_prepare(s, &nodes, ROUTE_NODES_SELECT, err)) {
		aigw_route_release(out);
		return AIGW_EFAIL;
	}
	rc = read_route_nodes(s, nodes, out, err);
	sqlite3_finalize(nodes);
	if (rc)
		aigw_route_release(out);
	return rc;
}

int aigw_store_route_list(struct aigw_store *s, struct aigw_route **out, size_t *n,
			  struct aigw_err *err)
{
	struct aigw_route *routes = NULL;
	size_t count = 0, cap = 0;
	sqlite3_stmt *st, *nodes;
	int rc;

	*out = NULL;
	*n = 0;
	if (store_prepare(s, &st, ROUTE_SELECT "ORDER BY name", err))
		return AIGW_EFAIL;
	if (store_prepare(s, &nodes, ROUTE_NODES_SELECT, err)) {
		sqlite3_finalize(st);
		return AIGW_EFAIL;
	}
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
			routes = aigw_realloc(routes, cap * sizeof(*routes));
		}
		if ((rc = read_route(s, st, &routes[count], err)))
			break;
		count++;
		if ((rc = read_route_nodes(s, nodes, &routes[count - 1], err)))
			break;
	}
	sqlite3_finalize(nodes);
	sqlite3_finalize(st);
	if (rc) {
		aigw_routes_free(routes, count);
		return rc;
	}
	*out = routes;
	*n = count;
	return 0;
}

int aigw_store_route_delete(struct aigw_store *s, const char *name, struct aigw_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (!name)
		return aigw_err_set(err, AIGW_EINVAL, "no route given");
	/* route_nodes rows go with it (ON DELETE CASCADE). Routes naming
	 * this one as their fallback keep the name, as with nodes. */
	if (store_prepare(s, &st, "DELETE FROM routes WHERE name = ?1", err))
		return AIGW_EFAIL;
	store_bind_text(st, 1, name);
	if ((rc = store_run(s, st, err)))
		return rc;
	if (!sqlite3_changes(s->db))
		return aigw_err_set(err, AIGW_ENOTFOUND, "no route named '%s'", name);
	return 0;
}
