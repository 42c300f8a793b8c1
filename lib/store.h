/* store: the SQLite state file (keys, nodes, routes now; request logs,
 * cache and ledger later).
 *
 * Opening applies WAL, foreign keys and a busy timeout, then brings the
 * schema forward with the migrations in store.c (PRAGMA user_version). A
 * file that is not SQLite, belongs to another program (application_id), or
 * has a newer schema than this binary knows is refused untouched. Every
 * multi-row change runs inside one BEGIN IMMEDIATE transaction, so two
 * processes writing at once serialise instead of failing or losing rows.
 *
 * Row functions here only store and fetch; the rules that span sources
 * (YAML and database) live in the ops modules (keys.c, nodes.c, routes.c). */
#ifndef AIGW_STORE_H
#define AIGW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "key.h"
#include "node.h"
#include "route.h"

struct aigw_store;

/* The schema version this binary writes (PRAGMA user_version). */
#define AIGW_STORE_SCHEMA_VERSION 7
/* PRAGMA application_id: "aigw" in ASCII. */
#define AIGW_STORE_APPLICATION_ID 0x61696777

enum {
	/* Create the file (0600) when it does not exist. Without it a missing
	 * file opens as an empty in-memory database, so read-only commands
	 * work on a fresh machine and write nothing. */
	AIGW_STORE_CREATE = 1 << 0,
	/* Create missing parent directories (0700): for the default location
	 * only; a --db path whose directory is missing is a mistake. */
	AIGW_STORE_MKDIR = 1 << 1,
};

/* Resolves the database path: flag, then $AIGW_DB, then
 * $XDG_STATE_HOME/aigw/aigw.db, then $HOME/.local/state/aigw/aigw.db.
 * *is_default is set when neither flag nor env named it. */
int aigw_store_path(const char *flag, char *out, size_t n, int *is_default,
		    struct aigw_err *err);

int aigw_store_open(struct aigw_store **out, const char *path, int flags,
		    struct aigw_err *err);
void aigw_store_close(struct aigw_store *s); /* NULL is a no-op */
const char *aigw_store_filename(const struct aigw_store *s);
int aigw_store_schema_version(struct aigw_store *s, int *out, struct aigw_err *err);
/* PRAGMA data_version: changes when another connection commits. */
int aigw_store_data_version(struct aigw_store *s, int64_t *out, struct aigw_err *err);
/* A counter every write to keys, nodes, routes or route_nodes raises (by
 * triggers, whichever connection or program writes): what a snapshot is
 * built from changed exactly when it moved. */
int aigw_store_config_version(struct aigw_store *s, int64_t *out, struct aigw_err *err);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Row functions below do not open
 * transactions themselves unless they say so; callers doing more than one
 * write wrap them. rollback is safe to call when no transaction is open. */
int aigw_store_begin(struct aigw_store *s, struct aigw_err *err);
int aigw_store_commit(struct aigw_store *s, struct aigw_err *err);
void aigw_store_rollback(struct aigw_store *s);

/* ---- keys ----
 * ref is an id (all digits) or a name. A name resolves to the active key
 * of that name, else the most recently created revoked one. */
int aigw_store_key_insert(struct aigw_store *s, struct aigw_key *k, struct aigw_err *err);
int aigw_store_key_get(struct aigw_store *s, const char *ref, struct aigw_key *out,
		       struct aigw_err *err);
int aigw_store_key_list(struct aigw_store *s, struct aigw_key **out, size_t *n,
			struct aigw_err *err);
/* Rewrites name, rpm, tpm, budget, models and expires_at of row k->id. */
int aigw_store_key_update(struct aigw_store *s, const struct aigw_key *k,
			  struct aigw_err *err);
int aigw_store_key_revoke(struct aigw_store *s, int64_t id, int64_t at,
			  struct aigw_err *err);
/* In one transaction: revoke old_id and insert newk (rotated_from set). */
int aigw_store_key_rotate(struct aigw_store *s, int64_t old_id, struct aigw_key *newk,
			  int64_t at, struct aigw_err *err);
int aigw_store_key_delete(struct aigw_store *s, int64_t id, struct aigw_err *err);

/* ---- nodes (database nodes only; YAML nodes never reach the store) ---- */
int aigw_store_node_insert(struct aigw_store *s, struct aigw_node *n, struct aigw_err *err);
int aigw_store_node_get(struct aigw_store *s, const char *name, struct aigw_node *out,
			struct aigw_err *err);
int aigw_store_node_list(struct aigw_store *s, struct aigw_node **out, size_t *n,
			 struct aigw_err *err);
/* Rewrites every field of the row named n->name. */
int aigw_store_node_update(struct aigw_store *s, const struct aigw_node *n,
			   struct aigw_err *err);
int aigw_store_node_delete(struct aigw_store *s, const char *name, struct aigw_err *err);

/* ---- routes ---- */
int aigw_store_route_insert(struct aigw_store *s, struct aigw_route *r, struct aigw_err *err);
int aigw_store_route_get(struct aigw_store *s, const char *name, struct aigw_route *out,
			 struct aigw_err *err);
int aigw_store_route_list(struct aigw_store *s, struct aigw_route **out, size_t *n,
			  struct aigw_err *err);
int aigw_store_route_delete(struct aigw_store *s, const char *name, struct aigw_err *err);

/* ---- node_live: a running serve's view of its nodes ----
 * Written by `aigw serve` about once a second (the whole table replaced),
 * read by the CLI. Times are wall clock milliseconds. */
#define AIGW_LIVE_STATE_MAX 16
#define AIGW_LIVE_CHECKS_MAX 16
struct aigw_node_live {
	char *node;
	int64_t updated_ms;  /* wall clock ms of the publish */
	int64_t pid;         /* of the serve that wrote it */
	char state[AIGW_LIVE_STATE_MAX];   /* aigw_health_state_name */
	int64_t in_flight;
	int64_t latency_us;  /* latency estimate; -1: none yet */
	int64_t picks;       /* since serve started */
	double share;        /* of the picks over the last interval, 0..1 */
	int64_t failures;    /* consecutive */
	int64_t retry_at_ms; /* wall clock ms when open/ejected ends; 0: not */
	char checks[AIGW_LIVE_CHECKS_MAX]; /* "ok", "failing", "" (no checks) */
};

void aigw_node_live_release(struct aigw_node_live *r);
void aigw_node_live_free(struct aigw_node_live *v, size_t n);
/* Replaces every row with rows[0..n) in one transaction (n 0: clears). */
int aigw_store_node_live_put(struct aigw_store *s, const struct aigw_node_live *rows, size_t n,
			     struct aigw_err *err);
/* All rows, by node name. */
int aigw_store_node_live_list(struct aigw_store *s, struct aigw_node_live **out, size_t *n,
			      struct aigw_err *err);
/* The row of node among v[0..n) when it was updated within fresh_ms of
 * now_ms (wall clock); NULL otherwise. */
const struct aigw_node_live *aigw_node_live_find(const struct aigw_node_live *v, size_t n,
						 const char *node, int64_t now_ms,
						 int64_t fresh_ms);

#endif
