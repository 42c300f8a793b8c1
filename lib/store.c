/* store: see store.h. This file opens the database, refuses files that are
 * not ours, applies the migrations and holds the helpers the row modules
 * (store_keys.c, store_nodes.c, store_routes.c) share. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "mem.h"
#include "store_internal.h"

/* Long enough for a second aigw to finish a batch of writes, short enough
 * that a stuck process is reported rather than waited on forever. */
#define BUSY_TIMEOUT_MS 5000

/* ------------------------------------------------------------ migrations
 *
 * migrations[N] brings a database from schema version N-1 to N. Each runs
 * in its own BEGIN IMMEDIATE transaction together with
 * `PRAGMA user_version = N`, so a crash leaves the database at N-1 or N and
 * never in between, and two processes opening a fresh file at once apply
 * it exactly once (the second re-reads user_version under the lock and
 * finds nothing to do).
 *
 * A shipped entry is never edited: databases out there already ran it, and
 * editing it would leave them with a schema the new text does not
 * describe. Changes are new entries appended at the end, with
 * AIGW_STORE_SCHEMA_VERSION raised to match. The path planned so far:
 *
 *   v1  keys, nodes, routes, route_nodes (below)
 *   v2  request_log: one row per request (time, key, route, node, model,
 *       status, latency, tokens, cost) with indexes on time and on each
 *       grouping column, for `aigw stats --since D --by X`
 *   v3  nodes.accounts: a node's accounts as a JSON array (below)
 *   v4  routes.connect_timeout_ms, first_byte_timeout_ms, idle_timeout_ms
 *       (below)
 *   v5  config_version: a counter raised by triggers on every write to
 *       keys, nodes, routes and route_nodes (below)
 *   v6  nodes.cost, routes.prefer_cheap (below)
 *   v7  node_live: what a running serve knows of each node (below)
 *   v8  cache: response cache entries (request hash, body, expiry)
 *   v9  ledger: spend per key and period, for budgets that survive restarts
 *
 * Enum columns hold the names used on the command line and in aigw.yaml
 * (e.g. 'openai', 'draining') so that `sqlite3 aigw.db` is readable without
 * aigw. Only sets that are closed get a CHECK: providers, node types and
 * balancing policies will grow, and SQLite cannot change a CHECK without
 * rebuilding the table, so those are checked when rows are read instead.
 * List columns are joined text: models with ',' (patterns cannot contain
 * one), header conditions with '\n' (values may contain commas). */
static const char *const migrations[] = {
	[0] = NULL, /* version 0 is the empty database */
	[1] =
	"CREATE TABLE keys ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  display TEXT NOT NULL,"
	"  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
	"  rpm INTEGER NOT NULL DEFAULT 0 CHECK (rpm >= 0),"
	"  tpm INTEGER NOT NULL DEFAULT 0 CHECK (tpm >= 0),"
	"  budget_micro INTEGER NOT NULL DEFAULT 0 CHECK (budget_micro >= 0),"
	"  models TEXT NOT NULL DEFAULT '',"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL DEFAULT 0 CHECK (expires_at >= 0),"
	"  revoked_at INTEGER NOT NULL DEFAULT 0 CHECK (revoked_at >= 0),"
	"  rotated_from INTEGER REFERENCES keys(id) ON DELETE SET NULL"
	");"
	/* Names are unique among live keys only: a revoked key keeps its name
	 * for the audit trail, and rotation revokes and reuses it. */
	"CREATE UNIQUE INDEX keys_live_name ON keys(name) WHERE revoked_at = 0;"
	"CREATE INDEX keys_name ON keys(name);"
	"CREATE TABLE nodes ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  url TEXT NOT NULL,"
	"  provider TEXT NOT NULL,"
	"  type TEXT NOT NULL,"
	"  region TEXT,"
	"  weight INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 1),"
	"  models TEXT NOT NULL DEFAULT '',"
	"  api_key_env TEXT,"
	"  max_concurrency INTEGER NOT NULL DEFAULT 0 CHECK (max_concurrency >= 0),"
	"  standby INTEGER NOT NULL DEFAULT 0 CHECK (standby IN (0, 1)),"
	"  state TEXT NOT NULL DEFAULT 'enabled'"
	"    CHECK (state IN ('enabled', 'disabled', 'draining')),"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	"CREATE TABLE routes ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE,"
	"  path TEXT NOT NULL CHECK (substr(path, 1, 1) = '/'),"
	"  method TEXT,"
	"  model TEXT,"
	"  headers TEXT NOT NULL DEFAULT '',"
	"  policy TEXT NOT NULL,"
	"  retries INTEGER NOT NULL DEFAULT 0 CHECK (retries >= 0),"
	"  timeout_ms INTEGER NOT NULL DEFAULT 0 CHECK (timeout_ms >= 0),"
	"  fallback TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	/* node is a name, not a foreign key: a route may point at a node
	 * defined in aigw.yaml, which never reaches the database. */
	"CREATE TABLE route_nodes ("
	"  route_id INTEGER NOT NULL REFERENCES routes(id) ON DELETE CASCADE,"
	"  position INTEGER NOT NULL CHECK (position >= 0),"
	"  node TEXT NOT NULL,"
	"  PRIMARY KEY (route_id, position)"
	") WITHOUT ROWID;",
	/* v2: the request log (lib/reqlog.c writes it, one writer thread per
	 * server). Text columns hold names, not ids, and key_id is no
	 * foreign key: deleting a key, node or route keeps its history.
	 * Optional numbers are NULL when unknown (cost_micro NULL is "no
	 * price", not free).
	 *
	 * One index only, on time. Every index is paid on each insert and
	 * the writer must keep up with 20,000 rows/s; the grouped questions
	 * (`aigw stats --since D --by route|node|key|model|status`) are
	 * answered from request_rollup, whose primary key starts with the
	 * minute, so per-column indexes on the raw rows would buy nothing
	 * they need. What does read raw rows goes by time: tail (by id),
	 * the partial minutes at the edges of a window, prune. And ts_ms
	 * grows with id, so this index is appended to, not scattered into. */
	[2] =
	"CREATE TABLE request_log ("
	"  id INTEGER PRIMARY KEY,"
	"  ts_ms INTEGER NOT NULL,"
	"  request_id TEXT NOT NULL,"
	"  key_id INTEGER,"
	"  key_name TEXT,"
	"  route TEXT,"
	"  node TEXT,"
	"  model TEXT,"
	"  status INTEGER NOT NULL,"
	"  stream INTEGER NOT NULL DEFAULT 0 CHECK (stream IN (0, 1)),"
	"  latency_us INTEGER NOT NULL,"
	"  upstream_us INTEGER,"
	"  ttfb_us INTEGER,"
	"  bytes_in INTEGER,"
	"  bytes_out INTEGER,"
	"  prompt_tokens INTEGER,"
	"  completion_tokens INTEGER,"
	"  cost_micro INTEGER,"
	"  error TEXT"
	");"
	"CREATE INDEX request_log_ts ON request_log(ts_ms);"
	/* Per-minute sums kept by the writer in the same transaction as the
	 * raw rows, so an hour's summary reads a few thousand rows instead of
	 * millions. minute is ts_ms / 60000. Absent names are '' and no key
	 * is key_id 0 (ids start at 1): primary key columns cannot be NULL,
	 * or rows without a route would never meet their upsert. Latency and
	 * TTFB distributions are histogram blobs (format in reqlog.h), so
	 * percentiles over any window come from merged rollups. errors counts
	 * rows with status >= 400 or an error code (a stream that broke after
	 * its 200); priced counts rows whose cost was known. */
	"CREATE TABLE request_rollup ("
	"  minute INTEGER NOT NULL,"
	"  route TEXT NOT NULL,"
	"  node TEXT NOT NULL,"
	"  key_id INTEGER NOT NULL,"
	"  model TEXT NOT NULL,"
	"  status_class INTEGER NOT NULL,"
	"  key_name TEXT,"
	"  requests INTEGER NOT NULL,"
	"  errors INTEGER NOT NULL,"
	"  latency_sum_us INTEGER NOT NULL,"
	"  latency_hist BLOB,"
	"  ttfb_count INTEGER NOT NULL,"
	"  ttfb_sum_us INTEGER NOT NULL,"
	"  ttfb_hist BLOB,"
	"  bytes_in INTEGER NOT NULL,"
	"  bytes_out INTEGER NOT NULL,"
	"  prompt_tokens INTEGER NOT NULL,"
	"  completion_tokens INTEGER NOT NULL,"
	"  cost_micro INTEGER NOT NULL,"
	"  priced INTEGER NOT NULL,"
	"  PRIMARY KEY (minute, route, node, key_id, model, status_class)"
	") WITHOUT ROWID;",
	/* v3: several accounts per node. The column holds a JSON array of
	 * account objects (the shape of aigw_accounts_json) and is NULL when
	 * the node has at most one account with only an api_key_env, which
	 * stays in api_key_env: rows written before read the same, and a
	 * one-key node looks as it always did in `sqlite3 aigw.db`. When the
	 * array is set, api_key_env repeats its first account's variable. */
	[3] =
	"ALTER TABLE nodes ADD COLUMN accounts TEXT;",
	/* v4: a route's narrower timeouts, beside timeout_ms. 0 is the default
	 * as in timeout_ms, so routes written before keep their behaviour. */
	[4] =
	"ALTER TABLE routes ADD COLUMN connect_timeout_ms INTEGER NOT NULL DEFAULT 0"
	"  CHECK (connect_timeout_ms >= 0);"
	"ALTER TABLE routes ADD COLUMN first_byte_timeout_ms INTEGER NOT NULL DEFAULT 0"
	"  CHECK (first_byte_timeout_ms >= 0);"
	"ALTER TABLE routes ADD COLUMN idle_timeout_ms INTEGER NOT NULL DEFAULT 0"
	"  CHECK (idle_timeout_ms >= 0);",
	/* v5: a counter of configuration changes. PRAGMA data_version moves
	 * on every commit of another connection, the request log's writer
	 * included, so a running gateway that rebuilt its snapshot on each
	 * move did so about once a second under traffic (and its balancers
	 * forgot what they had learned). The triggers bump n on any write to
	 * the tables a snapshot is built from; serve rebuilds only when n
	 * changed. */
	[5] =
	"CREATE TABLE config_version ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  n INTEGER NOT NULL"
	");"
	"INSERT INTO config_version VALUES (1, 0);"
	"CREATE TRIGGER keys_ins_config AFTER INSERT ON keys"
	"  BEGIN UPDATE config_version SET n = n + 1; END;"
	"CREATE TRIGGER keys_upd_config AFTER UPDATE ON keys"
	"  BEGIN UPDATE config_version SET n = n + 1; END;"
	"CREATE TRIGGER keys_del_config AFTER DELETE ON keys"
	"  BEGIN UPDATE config_version SET n = n + 1; END;"
	"CREATE TRIGGER nodes_ins_config AFTER INSERT ON nodes"
	"  BEGIN UPDATE config_version SET n = n + 1; END;"
	"CREATE TRIGGER nodes_upd_config AFTER UPDATE ON nodes"
	"  BEGIN UPDATE config_version SET n = n + 1; END;"
	"CREATE TRIGGER nodes_del_config AFTER DELETE ON nodes"
	"  BEGIN UPDATE config_version SET n = n + 1; END;"
	"CREATE TRIGGER routes_ins_config AFTER INSERT ON routes"
	"  BEGIN UPDATE config_version SET n = n + 1; END;"
	"CREATE TRIGGER routes_upd_config AFTER UPDATE ON routes"
	"  BEGIN UPDATE config_version SET n = n + 1; END;"
	"CREATE TRIGGER routes_del_config AFTER DELETE ON routes"
	"  BEGIN UPDATE config_version SET n = n + 1; END;"
	"CREATE TRIGGER route_nodes_ins_config AFTER INSERT ON route_nodes"
	"  BEGIN UPDATE config_version SET n = n + 1; END;"
	"CREATE TRIGGER route_nodes_upd_config AFTER UPDATE ON route_nodes"
	"  BEGIN UPDATE config_version SET n = n + 1; END;"
	"CREATE TRIGGER route_nodes_del_config AFTER DELETE ON route_nodes"
	"  BEGIN UPDATE config_version SET n = n + 1; END;",
	/* v6: a node's price and a route's cost preference. -1 and 0 are
	 * "unknown" and "off", so rows written before keep their behaviour. */
	[6] =
	"ALTER TABLE nodes ADD COLUMN cost INTEGER NOT NULL DEFAULT -1 CHECK (cost >= -1);"
	"ALTER TABLE routes ADD COLUMN prefer_cheap INTEGER NOT NULL DEFAULT 0"
	"  CHECK (prefer_cheap >= 0);",
	/* v7: what a running `aigw serve` knows of each node now, published
	 * about once a second for `aigw nodes list` and `aigw route test`
	 * (another process). Replaced whole on every publish, deleted when
	 * serve stops. No config_version trigger: it is not configuration. */
	[7] =
	"CREATE TABLE node_live ("
	"  node TEXT PRIMARY KEY,"
	"  updated_ms INTEGER NOT NULL,"
	"  pid INTEGER,"
	"  state TEXT NOT NULL,"
	"  in_flight INTEGER NOT NULL DEFAULT 0,"
	"  latency_us INTEGER,"
	"  picks INTEGER NOT NULL DEFAULT 0,"
	"  share REAL NOT NULL DEFAULT 0,"
	"  failures INTEGER NOT NULL DEFAULT 0,"
	"  retry_at_ms INTEGER,"
	"  checks TEXT"
	");",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == AIGW_STORE_SCHEMA_VERSION + 1,
	       "AIGW_STORE_SCHEMA_VERSION must match the last migration");

/* -------------------------------------------------------------- helpers */

/* strerror starts with a capital; aigw messages do not. */
static void errno_text(int e, char *out, size_t n)
{
	aigw_strlcpy(out, strerror(e), n);
	if (out[0] >= 'A' && out[0] <= 'Z')
		out[0] = (char)(out[0] - 'A' + 'a');
}

/* The directory a path lives in, for messages and mkdir; a new string. */
static char *parent_dir(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return aigw_strdup(".");
	while (slash > path && slash[-1] == '/')
		slash--;
	if (slash == path)
		return aigw_strdup("/");
	return aigw_strndup(path, (size_t)(slash - path));
}

int store_fail(struct aigw_store *s, int rc, struct aigw_err *err)
{
	const char *path = s->path;
	char why[128];

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return aigw_err_set(err, AIGW_EBUSY, "database is locked");
	case SQLITE_NOTADB:
		return aigw_err_set(err, AIGW_EFAIL,
				    "'%s' is not an aigw database (file is not a database)", path);
	case SQLITE_READONLY:
		return aigw_err_set(err, AIGW_EFAIL,
				    "database '%s' is read-only (check the permissions of the file and its directory)",
				    path);
	case SQLITE_CANTOPEN:
		return aigw_err_set(err, AIGW_EFAIL,
				    "cannot open database '%s' (check that it and its directory are readable and writable)",
				    path);
	case SQLITE_IOERR:
		errno_text(sqlite3_system_errno(s->db), why, sizeof(why));
		return aigw_err_set(err, AIGW_EFAIL, "i/o error on database '%s': %s",
				    path, sqlite3_system_errno(s->db) ? why : sqlite3_errmsg(s->db));
	case SQLITE_FULL:
		return aigw_err_set(err, AIGW_EFAIL, "cannot write to database '%s': disk full",
				    path);
	case SQLITE_CORRUPT:
		return aigw_err_set(err, AIGW_EFAIL, "database '%s' is corrupt", path);
	default:
		return aigw_err_set(err, AIGW_EFAIL, "database '%s': %s", path,
				    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
	}
}

int store_prepare(struct aigw_store *s, sqlite3_stmt **st, const char *sql,
		  struct aigw_err *err)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(*st);
		*st = NULL;
		return store_fail(s, rc, err);
	}
	return 0;
}

int store_run(struct aigw_store *s, sqlite3_stmt *st, struct aigw_err *err)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE || rc == SQLITE_ROW) {
		sqlite3_finalize(st);
		return 0;
	}
	/* Map before finalizing: finalize would reset the handle's message. */
	rc = store_fail(s, rc, err);
	sqlite3_finalize(st);
	return rc;
}

int store_exec(struct aigw_store *s, const char *sql, struct aigw_err *err)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : store_fail(s, rc, err);
}

int store_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (!s)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

char *store_column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *text = sqlite3_column_text(st, i);
	if (!text)
		return NULL;
	return aigw_strndup((const char *)text, (size_t)sqlite3_column_bytes(st, i));
}

int store_join(const struct aigw_strv *sv, char sep, const char *what,
	       char **out, struct aigw_err *err)
{
	char sepstr[2] = { sep, '\0' };

	*out = NULL;
	for (size_t i = 0; i < sv->n; i++) {
		/* An empty item would vanish on the way back: "a,,b" splits
		 * into three items but "" into none. */
		if (!sv->v[i][0])
			return aigw_err_set(err, AIGW_EINVAL, "empty %s", what);
		if (strchr(sv->v[i], sep))
			return aigw_err_set(err, AIGW_EINVAL, "%s '%s' contains '%s'", what,
					    sv->v[i], sep == '\n' ? "\\n" : sepstr);
	}
	*out = aigw_strv_join(sv, sepstr);
	return 0;
}

void store_split(struct aigw_strv *sv, const char *s, char sep)
{
	sv->v = NULL;
	sv->n = 0;
	if (!s || !*s)
		return;
	for (;;) {
		const char *end = strchr(s, sep);
		char *item = end ? aigw_strndup(s, (size_t)(end - s)) : aigw_strdup(s);
		aigw_strv_push(sv, item);
		free(item);
		if (!end)
			break;
		s = end + 1;
	}
}

const char *store_enum_name(const char *const *names, int value)
{
	if (value < 0)
		return NULL;
	for (int i = 0; names[i]; i++)
		if (i == value)
			return names[i];
	return NULL;
}

int store_enum_value(struct aigw_store *s, const char *const *names,
		     const char *name, const char *what, int *out,
		     struct aigw_err *err)
{
	for (int i = 0; name && names[i]; i++) {
		if (strcmp(names[i], name) == 0) {
			*out = i;
			return 0;
		}
	}
	return aigw_err_set(err, AIGW_EFAIL,
			    "database '%s' has unknown %s '%s' (written by a newer aigw?)",
			    s->path, what, name ? name : "");
}

int store_tx_start(struct aigw_store *s, struct store_tx *tx, struct aigw_err *err)
{
	tx->began = tx->savepoint = false;
	if (sqlite3_get_autocommit(s->db)) {
		int rc = aigw_store_begin(s, err);
		tx->began = rc == 0;
		return rc;
	}
	if (store_exec(s, "SAVEPOINT aigw_rows", err))
		return AIGW_EFAIL;
	tx->savepoint = true;
	return 0;
}

int store_tx_finish(struct aigw_store *s, struct store_tx *tx, int rc,
		    struct aigw_err *err)
{
	if (tx->began) {
		if (rc == 0)
			rc = aigw_store_commit(s, err);
		else
			aigw_store_rollback(s);
	} else if (tx->savepoint) {
		if (rc == 0) {
			rc = store_exec(s, "RELEASE aigw_rows", err);
		} else {
			/* ROLLBACK TO keeps the savepoint open; RELEASE ends it.
			 * Both fail harmlessly when SQLite already rolled back
			 * the whole transaction (after an I/O error). */
			sqlite3_exec(s->db, "ROLLBACK TO aigw_rows", NULL, NULL, NULL);
			sqlite3_exec(s->db, "RELEASE aigw_rows", NULL, NULL, NULL);
		}
	}
	tx->began = tx->savepoint = false;
	return rc;
}

/* Runs a PRAGMA (or any query) that returns one integer. */
static int query_int(struct aigw_store *s, const char *sql, int64_t *out,
		     struct aigw_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (store_prepare(s, &st, sql, err))
		return AIGW_EFAIL;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = 0;
	} else if (rc == SQLITE_DONE) {
		*out = 0;
		rc = 0;
	} else {
		rc = store_fail(s, rc, err);
	}
	sqlite3_finalize(st);
	return rc;
}

/* ----------------------------------------------------------------- path */

int aigw_store_path(const char *flag, char *out, size_t n, int *is_default,
		    struct aigw_err *err)
{
	const char *env;
	int len;
	int dflt = 0;

	if (flag && *flag) {
		len = snprintf(out, n, "%s", flag);
	} else if ((env = getenv("AIGW_DB")) && *env) {
		len = snprintf(out, n, "%s", env);
	} else if ((env = getenv("XDG_STATE_HOME")) && env[0] == '/') {
		/* The XDG spec says relative values are to be ignored. */
		len = snprintf(out, n, "%s/aigw/aigw.db", env);
		dflt = 1;
	} else if ((env = getenv("HOME")) && *env) {
		len = snprintf(out, n, "%s/.local/state/aigw/aigw.db", env);
		dflt = 1;
	} else {
		if (n)
			out[0] = '\0';
		return aigw_err_set(err, AIGW_EFAIL,
				    "no place for the database: set AIGW_DB, XDG_STATE_HOME or HOME");
	}
	if (len < 0 || (size_t)len >= n) {
		if (n)
			out[0] = '\0';
		return aigw_err_set(err, AIGW_EINVAL, "database path is longer than %zu bytes",
				    n ? n - 1 : 0);
	}
	if (is_default)
		*is_default = dflt;
	return 0;
}

/* ----------------------------------------------------------------- open */

/* mkdir -p with 0700: the state directory holds key hashes, which are no
 * one else's business. Existing directories keep their mode. */
static int mkdir_parents(const char *dbpath, const char *dir, struct aigw_err *err)
{
	char *copy = aigw_strdup(dir);
	char why[128];
	int rc = 0;

	for (char *p = copy + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
			errno_text(errno, why, sizeof(why));
			rc = aigw_err_set(err, AIGW_EFAIL,
					  "cannot open database '%s': cannot create directory '%s': %s",
					  dbpath, copy, why);
			break;
		}
		*p = saved;
		if (!saved)
			break;
	}
	free(copy);
	return rc;
}

static int open_handle(struct aigw_store *s, const char *file, int flags,
		       struct aigw_err *err)
{
	int rc = sqlite3_open_v2(file, &s->db, flags, NULL);
	if (rc != SQLITE_OK)
		return store_fail(s, rc, err);
	sqlite3_extended_result_codes(s->db, 1);
	return 0;
}

/* Finds or creates the file and opens a handle on it; a missing file
 * without CREATE becomes an in-memory database so nothing is written. */
static int open_file(struct aigw_store *s, int flags, struct aigw_err *err)
{
	const char *path = s->path;
	struct stat st;
	char why[128];
	char *dir;
	int rc = 0, fd;

	if (strcmp(path, ":memory:") == 0)
		goto memory;
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return aigw_err_set(err, AIGW_EFAIL,
					    "cannot open database '%s': it is a directory", path);
		return open_handle(s, path, SQLITE_OPEN_READWRITE, err);
	}
	if (errno != ENOENT) {
		errno_text(errno, why, sizeof(why));
		return aigw_err_set(err, AIGW_EFAIL, "cannot open database '%s': %s", path, why);
	}

	dir = parent_dir(path);
	if (stat(dir, &st) != 0) {
		if (errno != ENOENT) {
			errno_text(errno, why, sizeof(why));
			rc = aigw_err_set(err, AIGW_EFAIL,
					  "cannot open database '%s': directory '%s': %s",
					  path, dir, why);
		} else if (!(flags & AIGW_STORE_MKDIR)) {
			rc = aigw_err_set(err, AIGW_EFAIL,
					  "cannot open database '%s': directory '%s' does not exist",
					  path, dir);
		} else if (flags & AIGW_STORE_CREATE) {
			rc = mkdir_parents(path, dir, err);
		}
	} else if (!S_ISDIR(st.st_mode)) {
		rc = aigw_err_set(err, AIGW_EFAIL,
				  "cannot open database '%s': '%s' is not a directory", path, dir);
	}
	if (rc) {
		free(dir);
		return rc;
	}
	if (!(flags & AIGW_STORE_CREATE)) {
		free(dir);
		goto memory;
	}

	/* Created here rather than by SQLite so the mode is 0600 from the
	 * first instant, whatever the umask; O_EXCL makes a file another
	 * process created meanwhile simply get opened. */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST) {
		errno_text(errno, why, sizeof(why));
		if (errno == EACCES || errno == EROFS)
			rc = aigw_err_set(err, AIGW_EFAIL,
					  "cannot create database '%s': directory '%s' is not writable",
					  path, dir);
		else
			rc = aigw_err_set(err, AIGW_EFAIL, "cannot create database '%s': %s",
					  path, why);
		free(dir);
		return rc;
	}
	if (fd >= 0)
		close(fd);
	free(dir);
	return open_handle(s, path, SQLITE_OPEN_READWRITE, err);

memory:
	s->memory = true;
	return open_handle(s, ":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			   SQLITE_OPEN_MEMORY, err);
}

static int refuse_newer(struct aigw_store *s, int64_t version, struct aigw_err *err)
{
	return aigw_err_set(err, AIGW_EFAIL,
			    "database '%s' has schema version %lld, newer than this aigw supports (%d); upgrade aigw",
			    s->path, (long long)version, AIGW_STORE_SCHEMA_VERSION);
}

/* Refuses files that are not ours before anything is written to them:
 * these are plain reads, so a refused file stays byte for byte as it was. */
static int check_owner(struct aigw_store *s, struct aigw_err *err)
{
	int64_t app, version, tables = 0;
	int rc;

	/* One read transaction, so the three values come from the same
	 * snapshot: read apart, they could straddle another process's
	 * migration (old application_id, new user_version). */
	if ((rc = store_exec(s, "BEGIN", err)))
		return rc;
	if (!(rc = query_int(s, "PRAGMA application_id", &app, err)) &&
	    !(rc = query_int(s, "PRAGMA user_version", &version, err)))
		rc = query_int(s, "SELECT count(*) FROM sqlite_master", &tables, err);
	aigw_store_rollback(s);
	if (rc)
		return rc;
	if (app != 0 && app != AIGW_STORE_APPLICATION_ID)
		return aigw_err_set(err, AIGW_EFAIL,
				    "'%s' belongs to another program (application_id 0x%08x)",
				    s->path, (unsigned)(uint32_t)app);
	if (app == 0 && version != 0)
		return aigw_err_set(err, AIGW_EFAIL,
				    "'%s' belongs to another program (user_version %lld without the aigw application_id)",
				    s->path, (long long)version);
	if (app == 0 && tables)
		return aigw_err_set(err, AIGW_EFAIL,
				    "'%s' belongs to another program (it has tables but no aigw application_id)",
				    s->path);
	if (version > AIGW_STORE_SCHEMA_VERSION)
		return refuse_newer(s, version, err);
	if (version < 0)
		return aigw_err_set(err, AIGW_EFAIL,
				    "database '%s' has an invalid schema version %lld",
				    s->path, (long long)version);
	return 0;
}

static int migrate(struct aigw_store *s, struct aigw_err *err)
{
	char sql[64];
	int64_t version, found = -1; /* found: the version the first step started from */
	int rc;

	for (;;) {
		/* The unlocked read spares every open a write lock in the
		 * usual case of an up-to-date database. */
		if (query_int(s, "PRAGMA user_version", &version, err))
			return AIGW_EFAIL;
		if (version > AIGW_STORE_SCHEMA_VERSION)
			return refuse_newer(s, version, err); /* upgraded meanwhile */
		if (version == AIGW_STORE_SCHEMA_VERSION) {
			/* A new database is not news, not even its later
			 * steps; an upgraded one is worth a line (one, however
			 * many steps it took). */
			if (found > 0)
				aigw_log_info("database '%s' upgraded to schema version %d",
					      aigw_store_filename(s), (int)version);
			return 0;
		}
		if ((rc = aigw_store_begin(s, err)))
			return rc;
		/* Another process may have migrated while we waited for the
		 * lock; only what is still pending is applied. */
		if ((rc = query_int(s, "PRAGMA user_version", &version, err)))
			goto fail;
		if (version >= AIGW_STORE_SCHEMA_VERSION) {
			aigw_store_rollback(s);
			continue; /* re-checked above, outside the transaction */
		}
		if (found < 0)
			found = version;
		if ((rc = store_exec(s, migrations[version + 1], err)))
			goto fail;
		/* PRAGMAs take no bound parameters; the numbers are our own
		 * constants, never outside input. */
		if (version == 0) {
			snprintf(sql, sizeof(sql), "PRAGMA application_id = %d",
				 AIGW_STORE_APPLICATION_ID);
			if ((rc = store_exec(s, sql, err)))
				goto fail;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", (int)version + 1);
		if ((rc = store_exec(s, sql, err)))
			goto fail;
		if ((rc = aigw_store_commit(s, err)))
			goto prefix;
	}

fail:
	aigw_store_rollback(s);
prefix:
	aigw_err_prefix(err, "cannot upgrade database to schema version %d",
			(int)version + 1);
	return rc;
}

int aigw_store_open(struct aigw_store **out, const char *path, int flags,
		    struct aigw_err *err)
{
	struct aigw_store *s;
	int64_t ignored;
	int rc;

	*out = NULL;
	if (!path || !*path)
		return aigw_err_set(err, AIGW_EINVAL, "no database path given");
	s = aigw_calloc(1, sizeof(*s));
	s->path = aigw_strdup(path);

	rc = open_file(s, flags, err);
	if (!rc) {
		sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
		rc = store_exec(s, "PRAGMA foreign_keys = ON", err);
	}
	if (!rc)
		rc = check_owner(s, err);
	/* WAL lets readers (the server) go on while the CLI writes. The
	 * result is not checked: a read-only file stays in its old mode and
	 * still serves reads; writes to it fail with their own message. */
	if (!rc && !s->memory) {
		/* Switching a new file to WAL needs an exclusive lock, and
		 * SQLite does not wait for it (no busy handler) when waiting
		 * could deadlock with another process opening the same new
		 * file: retry briefly. Once one of them has switched, the mode
		 * is in the file and the others' pragma takes no lock. */
		for (int tries = 0;; tries++) {
			rc = query_int(s, "PRAGMA journal_mode = WAL", &ignored, err);
			if (rc != AIGW_EBUSY || tries * 10 >= BUSY_TIMEOUT_MS)
				break;
			usleep(10000);
		}
	}
	if (!rc)
		rc = migrate(s, err);
	if (rc) {
		aigw_store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void aigw_store_close(struct aigw_store *s)
{
	if (!s)
		return;
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

const char *aigw_store_filename(const struct aigw_store *s)
{
	return s->path;
}

int aigw_store_schema_version(struct aigw_store *s, int *out, struct aigw_err *err)
{
	int64_t v;
	int rc = query_int(s, "PRAGMA user_version", &v, err);

	*out = rc ? 0 : (int)v;
	return rc;
}

int aigw_store_data_version(struct aigw_store *s, int64_t *out, struct aigw_err *err)
{
	return query_int(s, "PRAGMA data_version", out, err);
}

int aigw_store_config_version(struct aigw_store *s, int64_t *out, struct aigw_err *err)
{
	return query_int(s, "SELECT n FROM config_version", out, err);
}

/* --------------------------------------------------------- transactions */

int aigw_store_begin(struct aigw_store *s, struct aigw_err *err)
{
	if (!sqlite3_get_autocommit(s->db))
		return aigw_err_set(err, AIGW_EFAIL,
				    "a transaction is already open on database '%s'", s->path);
	/* IMMEDIATE takes the write lock now, through the busy handler, so
	 * two writers queue up instead of one failing halfway through. */
	return store_exec(s, "BEGIN IMMEDIATE", err);
}

int aigw_store_commit(struct aigw_store *s, struct aigw_err *err)
{
	int rc = store_exec(s, "COMMIT", err);

	/* A failed COMMIT can leave the transaction open; ending it here
	 * keeps the handle usable and the caller's error path simple. */
	if (rc)
		aigw_store_rollback(s);
	return rc;
}

void aigw_store_rollback(struct aigw_store *s)
{
	if (s && s->db && !sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}
