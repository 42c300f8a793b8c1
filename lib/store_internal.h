/* store_internal: what store.c shares with the row modules (store_keys.c,
 * store_nodes.c, store_routes.c) and nothing else includes. It keeps the
 * sqlite3 handle and the error mapping in one place so every query reports
 * failures the same way. */
#ifndef AIGW_STORE_INTERNAL_H
#define AIGW_STORE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "err.h"
#include "store.h"
#include "str.h"

struct aigw_store {
	sqlite3 *db;
	char *path;  /* as given to aigw_store_open, for messages */
	bool memory; /* the file did not exist and CREATE was not asked for */
};

/* Turns a SQLite result code into an AIGW_E* code with a message naming
 * the database, so callers can write `return store_fail(s, rc, err)`. */
int store_fail(struct aigw_store *s, int rc, struct aigw_err *err);

/* sqlite3_prepare_v2 with the failure mapped; *st is NULL on failure. */
int store_prepare(struct aigw_store *s, sqlite3_stmt **st, const char *sql,
		  struct aigw_err *err);
/* Steps a statement that returns no row and finalizes it. */
int store_run(struct aigw_store *s, sqlite3_stmt *st, struct aigw_err *err);
/* Runs constant SQL (no values in it) such as BEGIN or a migration. */
int store_exec(struct aigw_store *s, const char *sql, struct aigw_err *err);

/* Binds a string, or NULL when s is NULL (optional columns). */
int store_bind_text(sqlite3_stmt *st, int i, const char *s);
/* A copy of a text column; NULL when the column is NULL. */
char *store_column_dup(sqlite3_stmt *st, int i);

/* Lists stored in one TEXT column. Items must not contain sep (refused
 * with EINVAL, naming what); splitting keeps items byte for byte. */
int store_join(const struct aigw_strv *sv, char sep, const char *what,
	       char **out, struct aigw_err *err);
void store_split(struct aigw_strv *sv, const char *s, char sep);

/* The name of an enum value for storage; NULL when out of range. */
const char *store_enum_name(const char *const *names, int value);
/* The enum value of a stored name; a name this binary does not know is a
 * database written by something newer, reported as EFAIL. */
int store_enum_value(struct aigw_store *s, const char *const *names,
		     const char *name, const char *what, int *out,
		     struct aigw_err *err);

/* Makes a group of writes atomic whether or not the caller already holds a
 * transaction: BEGIN IMMEDIATE when none is open, else a savepoint inside
 * the caller's, so a failure never leaves half the rows behind. */
struct store_tx {
	bool began;     /* we issued BEGIN IMMEDIATE */
	bool savepoint; /* we issued SAVEPOINT inside the caller's */
};
int store_tx_start(struct aigw_store *s, struct store_tx *tx, struct aigw_err *err);
/* Commits (or releases) when rc is 0, rolls back otherwise; returns rc, or
 * the commit's failure. */
int store_tx_finish(struct aigw_store *s, struct store_tx *tx, int rc,
		    struct aigw_err *err);

#endif
