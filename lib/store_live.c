/* store_live: rows of the node_live table (see store.h), the live state a
 * running `aigw serve` publishes for the CLI. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "store_internal.h"

void aigw_node_live_release(struct aigw_node_live *r)
{
	if (!r)
		return;
	free(r->node);
	r->node = NULL;
}

void aigw_node_live_free(struct aigw_node_live *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		aigw_node_live_release(&v[i]);
	free(v);
}

static int put_rows(struct aigw_store *s, const struct aigw_node_live *rows, size_t n,
		    struct aigw_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = store_exec(s, "DELETE FROM node_live", err)))
		return rc;
	if (!n)
		return 0;
	if (store_prepare(s, &st,
			  "INSERT OR REPLACE INTO node_live (node, updated_ms, pid, state, in_flight,"
			  " latency_us, picks, share, failures, retry_at_ms, checks)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
			  err))
		return AIGW_EFAIL;
	rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct aigw_node_live *r = &rows[i];

		store_bind_text(st, 1, r->node ? r->node : "");
		sqlite3_bind_int64(st, 2, r->updated_ms);
		sqlite3_bind_int64(st, 3, r->pid);
		store_bind_text(st, 4, r->state);
		sqlite3_bind_int64(st, 5, r->in_flight);
		if (r->latency_us >= 0)
			sqlite3_bind_int64(st, 6, r->latency_us);
		else
			sqlite3_bind_null(st, 6);
		sqlite3_bind_int64(st, 7, r->picks);
		sqlite3_bind_double(st, 8, r->share);
		sqlite3_bind_int64(st, 9, r->failures);
		if (r->retry_at_ms > 0)
			sqlite3_bind_int64(st, 10, r->retry_at_ms);
		else
			sqlite3_bind_null(st, 10);
		store_bind_text(st, 11, r->checks[0] ? r->checks : NULL);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? 0 : store_fail(s, rc, err);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	sqlite3_finalize(st);
	return rc;
}

int aigw_store_node_live_put(struct aigw_store *s, const struct aigw_node_live *rows, size_t n,
			     struct aigw_err *err)
{
	struct store_tx tx;
	int rc;

	if ((rc = store_tx_start(s, &tx, err)))
		return rc;
	rc = put_rows(s, rows, n, err);
	return store_tx_finish(s, &tx, rc, err);
}

static void copy_text(char *dst, size_t cap, const unsigned char *src)
{
	snprintf(dst, cap, "%s", src ? (const char *)src : "");
}

int aigw_store_node_live_list(struct aigw_store *s, struct aigw_node_live **out, size_t *n,
			      struct aigw_err *err)
{
	struct aigw_node_live *v = NULL;
	size_t count = 0, cap = 0;
	sqlite3_stmt *st;
	int rc;

	*out = NULL;
	*n = 0;
	if (store_prepare(s, &st,
			  "SELECT node, updated_ms, pid, state, in_flight, latency_us, picks, share,"
			  " failures, retry_at_ms, checks FROM node_live ORDER BY node",
			  err))
		return AIGW_EFAIL;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct aigw_node_live *r;

		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			v = aigw_realloc(v, cap * sizeof(*v));
		}
		r = &v[count++];
		memset(r, 0, sizeof(*r));
		r->node = store_column_dup(st, 0);
		r->updated_ms = sqlite3_column_int64(st, 1);
		r->pid = sqlite3_column_int64(st, 2);
		copy_text(r->state, sizeof(r->state), sqlite3_column_text(st, 3));
		r->in_flight = sqlite3_column_int64(st, 4);
		r->latency_us = sqlite3_column_type(st, 5) == SQLITE_NULL
					? -1 : sqlite3_column_int64(st, 5);
		r->picks = sqlite3_column_int64(st, 6);
		r->share = sqlite3_column_double(st, 7);
		r->failures = sqlite3_column_int64(st, 8);
		r->retry_at_ms = sqlite3_column_int64(st, 9);
		copy_text(r->checks, sizeof(r->checks), sqlite3_column_text(st, 10));
	}
	rc = rc == SQLITE_DONE ? 0 : store_fail(s, rc, err);
	sqlite3_finalize(st);
	if (rc) {
		aigw_node_live_free(v, count);
		return rc;
	}
	*out = v;
	*n = count;
	return 0;
}

const struct aigw_node_live *aigw_node_live_find(const struct aigw_node_live *v, size_t n,
						 const char *node, int64_t now_ms,
						 int64_t fresh_ms)
{
	for (size_t i = 0; i < n; i++) {
		if (!v[i].node || strcmp(v[i].node, node))
			continue;
		if (v[i].updated_ms > now_ms + fresh_ms || now_ms - v[i].updated_ms > fresh_ms)
			return NULL;
		return &v[i];
	}
	return NULL;
}
