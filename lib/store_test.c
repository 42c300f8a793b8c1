/* store_test: the SQLite store against real files in a fresh temporary
 * directory per test: opening and refusing, migrations, and the rows of
 * keys, nodes and routes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "mem.h"
#include "store.h"
#include "store_internal.h"

/* Sized so the compiler can see every path built from dir fits. */
struct fixture {
	char dir[64];
	char db[128];
};

static int setup(void **state)
{
	struct fixture *f = aigw_calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/aigw-store-test-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/aigw.db", f->dir);
	umask(022); /* so the modes checked below are the ones we asked for */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aigw_test_rmtree(f->dir);
	free(f);
	return 0;
}

/* ------------------------------------------------------------- helpers */

static char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *data;
	long n;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	assert_true(n >= 0);
	rewind(fp);
	data = aigw_malloc((size_t)n + 1);
	assert_int_equal(fread(data, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return data;
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Runs SQL on the file through a plain sqlite3 handle, as another program
 * (or a person with the sqlite3 shell) would. */
static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("raw sql failed: %s", msg ? msg : "?");
	sqlite3_close(db);
}

/* raw_exec for statements that are meant to fail: the SQLite code. */
static int raw_exec_rc(const char *path, const char *sql)
{
	sqlite3 *db;
	int rc;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc;
}

static int64_t raw_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Counts rows through the store's own handle, inside its transaction. */
static int64_t count_rows(struct aigw_store *s, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static struct aigw_store *open_ok(const char *path, int flags)
{
	struct aigw_store *s = NULL;
	struct aigw_err err = { 0 };
	int rc = aigw_store_open(&s, path, flags, &err);

	if (rc)
		fail_msg("open '%s': %s", path, err.msg);
	assert_non_null(s);
	return s;
}

/* Opening must fail with code and a message containing want, and must
 * leave the file exactly as it was. */
static void assert_refused(const char *path, int flags, int code, const char *want)
{
	struct aigw_store *s = (struct aigw_store *)0x1;
	struct aigw_err err = { 0 };
	size_t before_len, after_len;
	char *before = read_file(path, &before_len), *after;

	assert_int_equal(aigw_store_open(&s, path, flags, &err), code);
	assert_null(s);
	if (!strstr(err.msg, want))
		fail_msg("message '%s' lacks '%s'", err.msg, want);
	after = read_file(path, &after_len);
	assert_int_equal(before_len, after_len);
	assert_memory_equal(before, after, before_len);
	free(before);
	free(after);
}

static void make_key(struct aigw_key *k, const char *name, uint8_t seed)
{
	aigw_key_init(k);
	k->name = aigw_strdup(name);
	snprintf(k->display, sizeof(k->display), "aigw_%06u", (unsigned)seed);
	memset(k->hash, seed, sizeof(k->hash));
}

static void make_node(struct aigw_node *n, const char *name)
{
	aigw_node_init(n);
	n->name = aigw_strdup(name);
	n->url = aigw_strdup("https://api.example.com/v1");
}

static void make_route(struct aigw_route *r, const char *name, const char *const *nodes)
{
	aigw_route_init(r);
	r->name = aigw_strdup(name);
	r->path = aigw_strdup("/v1/chat/completions");
	for (size_t i = 0; nodes[i]; i++)
		aigw_strv_push(&r->nodes, nodes[i]);
}

/* ------------------------------------------------------------- path */

static const char *const path_vars[] = { "AIGW_DB", "XDG_STATE_HOME", "HOME" };

static void test_path_resolution(void **state)
{
	char out[256], tiny[8];
	struct aigw_err err = { 0 };
	char *saved[3];
	int dflt = -1;
	(void)state;

	for (size_t i = 0; i < 3; i++)
		saved[i] = getenv(path_vars[i]) ? aigw_strdup(getenv(path_vars[i])) : NULL;

	setenv("AIGW_DB", "/env/aigw.db", 1);
	setenv("XDG_STATE_HOME", "/xdg", 1);
	setenv("HOME", "/home/u", 1);

	assert_int_equal(aigw_store_path("/flag.db", out, sizeof(out), &dflt, &err), 0);
	assert_string_equal(out, "/flag.db");
	assert_int_equal(dflt, 0);

	assert_int_equal(aigw_store_path(NULL, out, sizeof(out), &dflt, &err), 0);
	assert_string_equal(out, "/env/aigw.db");
	assert_int_equal(dflt, 0);

	unsetenv("AIGW_DB");
	assert_int_equal(aigw_store_path(NULL, out, sizeof(out), &dflt, &err), 0);
	assert_string_equal(out, "/xdg/aigw/aigw.db");
	assert_int_equal(dflt, 1);

	/* A relative XDG_STATE_HOME is ignored, as the XDG spec says. */
	setenv("XDG_STATE_HOME", "relative", 1);
	assert_int_equal(aigw_store_path("", out, sizeof(out), &dflt, &err), 0);
	assert_string_equal(out, "/home/u/.local/state/aigw/aigw.db");
	assert_int_equal(dflt, 1);

	assert_int_equal(aigw_store_path(NULL, tiny, sizeof(tiny), NULL, &err), AIGW_EINVAL);

	unsetenv("XDG_STATE_HOME");
	unsetenv("HOME");
	assert_int_equal(aigw_store_path(NULL, out, sizeof(out), &dflt, &err), AIGW_EFAIL);
	assert_non_null(strstr(err.msg, "AIGW_DB"));

	for (size_t i = 0; i < 3; i++) {
		if (saved[i])
			setenv(path_vars[i], saved[i], 1);
		else
			unsetenv(path_vars[i]);
		free(saved[i]);
	}
}

/* ------------------------------------------------------------- opening */

static void test_create_and_reopen_keeps_rows(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_key k, got;
	struct aigw_err err = { 0 };
	int version;

	assert_string_equal(aigw_store_filename(s), f->db);
	make_key(&k, "alpha", 1);
	assert_int_equal(aigw_store_key_insert(s, &k, &err), 0);
	aigw_store_close(s);

	/* Reopened without CREATE: the file exists, so it is the file. */
	s = open_ok(f->db, 0);
	assert_int_equal(aigw_store_schema_version(s, &version, &err), 0);
	assert_int_equal(version, AIGW_STORE_SCHEMA_VERSION);
	assert_int_equal(aigw_store_key_get(s, "alpha", &got, &err), 0);
	assert_int_equal(got.id, k.id);
	aigw_key_release(&got);
	aigw_store_close(s);

	assert_int_equal(raw_int(f->db, "PRAGMA application_id"), AIGW_STORE_APPLICATION_ID);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), AIGW_STORE_SCHEMA_VERSION);
	/* WAL is a property of the file, visible to the next opener. */
	assert_int_equal(raw_int(f->db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	aigw_key_release(&k);
}

static void test_mkdir_creates_private_dirs_and_file(void **state)
{
	struct fixture *f = *state;
	char a[128], b[128], db[256];
	struct aigw_store *s;

	snprintf(a, sizeof(a), "%s/state", f->dir);
	snprintf(b, sizeof(b), "%s/state/aigw", f->dir);
	snprintf(db, sizeof(db), "%s/aigw.db", b);

	s = open_ok(db, AIGW_STORE_CREATE | AIGW_STORE_MKDIR);
	aigw_store_close(s);
	assert_int_equal(mode_of(a), 0700);
	assert_int_equal(mode_of(b), 0700);
	assert_int_equal(mode_of(db), 0600);
	/* The existing temp dir is not re-moded. */
	assert_int_equal(mode_of(f->dir), 0700);
}

static void test_missing_dir_without_mkdir_fails(void **state)
{
	struct fixture *f = *state;
	char dir[128], db[256], want[512];
	struct aigw_store *s = NULL;
	struct aigw_err err = { 0 };

	snprintf(dir, sizeof(dir), "%s/nope", f->dir);
	snprintf(db, sizeof(db), "%s/aigw.db", dir);
	assert_int_equal(aigw_store_open(&s, db, AIGW_STORE_CREATE, &err), AIGW_EFAIL);
	assert_null(s);
	snprintf(want, sizeof(want), "cannot open database '%s': directory '%s' does not exist",
		 db, dir);
	assert_string_equal(err.msg, want);
	assert_false(exists(dir));

	/* Without CREATE a read-only open of the default location on a fresh
	 * machine works, and still creates nothing. */
	s = open_ok(db, AIGW_STORE_MKDIR);
	aigw_store_close(s);
	assert_false(exists(dir));
}

static void test_file_created_0600_without_mkdir(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s;

	umask(0); /* even a permissive umask must not widen the file */
	s = open_ok(f->db, AIGW_STORE_CREATE);
	umask(022);
	aigw_store_close(s);
	assert_int_equal(mode_of(f->db), 0600);
}

static void test_unwritable_dir_is_clear(void **state)
{
	struct fixture *f = *state;
	char dir[128], db[256];
	int status;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/ro", f->dir);
	snprintf(db, sizeof(db), "%s/aigw.db", dir);
	assert_int_equal(mkdir(dir, 0555), 0);
	assert_int_equal(chmod(f->dir, 0755), 0);

	/* In a child, because root writes anywhere: it steps down to
	 * nobody first, for whom the 0555 directory is as closed as it is
	 * to any user. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct aigw_store *s = NULL;
		struct aigw_err err = { 0 };
		int rc;

		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(3);
		rc = aigw_store_open(&s, db, AIGW_STORE_CREATE, &err);
		if (rc != AIGW_EFAIL || !strstr(err.msg, "directory") ||
		    !strstr(err.msg, "is not writable")) {
			fprintf(stderr, "# child: rc %d: %s\n", rc, err.msg);
			_exit(1);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(exists(db));
	chmod(dir, 0700);
}

static void test_no_create_uses_memory(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, 0);
	struct aigw_key k, *keys;
	struct aigw_err err = { 0 };
	size_t n;
	int version;

	assert_int_equal(aigw_store_schema_version(s, &version, &err), 0);
	assert_int_equal(version, AIGW_STORE_SCHEMA_VERSION);
	assert_int_equal(aigw_store_key_list(s, &keys, &n, &err), 0);
	assert_int_equal(n, 0);
	/* Writes land in memory only. */
	make_key(&k, "ghost", 2);
	assert_int_equal(aigw_store_key_insert(s, &k, &err), 0);
	aigw_key_release(&k);
	aigw_store_close(s);
	assert_false(exists(f->db));
}

static void test_not_a_database_refused_untouched(void **state)
{
	struct fixture *f = *state;
	char junk[8192];
	char wal[256];

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)('a' + i % 26);
	write_file(f->db, junk, sizeof(junk));
	assert_refused(f->db, AIGW_STORE_CREATE, AIGW_EFAIL,
		       "is not an aigw database (file is not a database)");
	snprintf(wal, sizeof(wal), "%s-wal", f->db);
	assert_false(exists(wal));

	/* Shorter than a SQLite header, too. */
	write_file(f->db, "hello\n", 6);
	assert_refused(f->db, 0, AIGW_EFAIL, "is not an aigw database");
}

static void test_foreign_application_id_refused(void **state)
{
	struct fixture *f = *state;

	raw_exec(f->db, "PRAGMA application_id = 305419896; CREATE TABLE t (x);"
		 "INSERT INTO t VALUES (1);");
	assert_refused(f->db, AIGW_STORE_CREATE, AIGW_EFAIL,
		       "belongs to another program (application_id 0x12345678)");
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 0);
}

static void test_foreign_tables_refused(void **state)
{
	struct fixture *f = *state;

	/* No application_id, no user_version, but somebody's tables. */
	raw_exec(f->db, "CREATE TABLE notes (body TEXT);");
	assert_refused(f->db, AIGW_STORE_CREATE, AIGW_EFAIL, "belongs to another program");
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 0);
}

static void test_newer_schema_refused_untouched(void **state)
{
	struct fixture *f = *state;
	char want[512];

	aigw_store_close(open_ok(f->db, AIGW_STORE_CREATE));
	raw_exec(f->db, "PRAGMA user_version = 99;");
	snprintf(want, sizeof(want),
		 "database '%s' has schema version 99, newer than this aigw supports (%d); upgrade aigw",
		 f->db, AIGW_STORE_SCHEMA_VERSION);
	assert_refused(f->db, AIGW_STORE_CREATE, AIGW_EFAIL, want);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 99);
}

static void test_migrates_from_version_zero(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s;

	/* An empty file (as `touch` leaves) is an empty database. */
	write_file(f->db, "", 0);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 0);
	s = open_ok(f->db, 0);
	aigw_store_close(s);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), AIGW_STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(f->db, "PRAGMA application_id"), AIGW_STORE_APPLICATION_ID);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM sqlite_master WHERE name IN"
				 " ('keys', 'nodes', 'routes', 'route_nodes')"), 4);
	assert_int_equal(raw_int(f->db, "PRAGMA foreign_keys"), 0); /* per connection */

	/* Opening again applies nothing twice. */
	s = open_ok(f->db, 0);
	aigw_store_close(s);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), AIGW_STORE_SCHEMA_VERSION);
}

static void test_concurrent_first_open(void **state)
{
	struct fixture *f = *state;
	enum { CHILDREN = 6 };
	pid_t pids[CHILDREN];

	/* Several processes racing to create and migrate one fresh file:
	 * each must succeed, and the schema must be applied once. */
	for (int i = 0; i < CHILDREN; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct aigw_store *s = NULL;
			struct aigw_err err = { 0 };
			int rc = aigw_store_open(&s, f->db, AIGW_STORE_CREATE, &err);
			if (rc)
				fprintf(stderr, "# child: %s\n", err.msg);
			aigw_store_close(s);
			_exit(rc ? 1 : 0);
		}
	}
	for (int i = 0; i < CHILDREN; i++) {
		int status;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), AIGW_STORE_SCHEMA_VERSION);
	assert_int_equal(mode_of(f->db), 0600);
}

/* ------------------------------------------------------------- keys */

static void test_key_insert_and_get(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_err err = { 0 };
	struct aigw_key k, got;
	char ref[32];

	setenv("AIGW_NOW", "1700000000", 1);
	make_key(&k, "alpha", 7);
	k.rpm = 60;
	k.tpm = 100000;
	k.budget_micro = 12500000;
	k.expires_at = 1800000000;
	aigw_strv_push(&k.models, "gpt-4o*");
	aigw_strv_push(&k.models, "claude-*");
	assert_int_equal(aigw_store_key_insert(s, &k, &err), 0);
	assert_true(k.id > 0);
	assert_int_equal(k.created_at, 1700000000);

	snprintf(ref, sizeof(ref), "%lld", (long long)k.id);
	assert_int_equal(aigw_store_key_get(s, ref, &got, &err), 0);
	assert_string_equal(got.name, "alpha");
	assert_string_equal(got.display, k.display);
	assert_memory_equal(got.hash, k.hash, sizeof(k.hash));
	assert_int_equal(got.rpm, 60);
	assert_int_equal(got.tpm, 100000);
	assert_int_equal(got.budget_micro, 12500000);
	assert_int_equal(got.expires_at, 1800000000);
	assert_int_equal(got.created_at, 1700000000);
	assert_int_equal(got.revoked_at, 0);
	assert_int_equal(got.rotated_from, 0);
	assert_int_equal(got.models.n, 2);
	assert_string_equal(got.models.v[0], "gpt-4o*");
	assert_string_equal(got.models.v[1], "claude-*");
	aigw_key_release(&got);

	assert_int_equal(aigw_store_key_get(s, "alpha", &got, &err), 0);
	assert_int_equal(got.id, k.id);
	aigw_key_release(&got);

	assert_int_equal(aigw_store_key_get(s, "999", &got, &err), AIGW_ENOTFOUND);
	assert_string_equal(err.msg, "no key with id 999");
	assert_int_equal(aigw_store_key_get(s, "99999999999999999999999", &got, &err),
			 AIGW_ENOTFOUND);
	assert_int_equal(aigw_store_key_get(s, "beta", &got, &err), AIGW_ENOTFOUND);
	assert_string_equal(err.msg, "no key named 'beta'");

	/* A comma inside a pattern would split into two on the way back. */
	aigw_key_release(&k);
	make_key(&k, "gamma", 8);
	aigw_strv_push(&k.models, "a,b");
	assert_int_equal(aigw_store_key_insert(s, &k, &err), AIGW_EINVAL);

	unsetenv("AIGW_NOW");
	aigw_key_release(&k);
	aigw_store_close(s);
}

static void test_key_names_unique_among_live(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_err err = { 0 };
	struct aigw_key a, b, c, got, *keys;
	size_t n;

	make_key(&a, "svc", 1);
	a.created_at = 100;
	assert_int_equal(aigw_store_key_insert(s, &a, &err), 0);

	make_key(&b, "svc", 2);
	b.created_at = 200;
	assert_int_equal(aigw_store_key_insert(s, &b, &err), AIGW_EEXIST);
	assert_string_equal(err.msg, "a key named 'svc' already exists");

	/* The same secret twice is refused too, with its own message. */
	make_key(&c, "other", 1);
	assert_int_equal(aigw_store_key_insert(s, &c, &err), AIGW_EEXIST);
	assert_null(strstr(err.msg, "named"));

	assert_int_equal(aigw_store_key_revoke(s, a.id, 150, &err), 0);
	assert_int_equal(aigw_store_key_insert(s, &b, &err), 0);
	assert_int_not_equal(a.id, b.id);

	/* By name: the live one wins. */
	assert_int_equal(aigw_store_key_get(s, "svc", &got, &err), 0);
	assert_int_equal(got.id, b.id);
	aigw_key_release(&got);

	/* All revoked: the most recently created one. */
	assert_int_equal(aigw_store_key_revoke(s, b.id, 300, &err), 0);
	assert_int_equal(aigw_store_key_get(s, "svc", &got, &err), 0);
	assert_int_equal(got.id, b.id);
	assert_int_equal(got.revoked_at, 300);
	aigw_key_release(&got);

	/* A second revocation keeps the first time and says why. */
	assert_int_equal(aigw_store_key_revoke(s, b.id, 400, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "already revoked"));
	assert_int_equal(aigw_store_key_revoke(s, 12345, 400, &err), AIGW_ENOTFOUND);

	assert_int_equal(aigw_store_key_list(s, &keys, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(keys[0].id, a.id);
	assert_int_equal(keys[0].revoked_at, 150);
	assert_int_equal(keys[1].id, b.id);
	aigw_keys_free(keys, n);

	aigw_key_release(&a);
	aigw_key_release(&b);
	aigw_key_release(&c);
	aigw_store_close(s);
}

static void test_key_rotate(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_err err = { 0 };
	struct aigw_key old, newk, got;
	char ref[32];

	make_key(&old, "rotating", 1);
	old.rpm = 10;
	old.tpm = 20;
	old.budget_micro = 30;
	old.expires_at = 2000000000;
	aigw_strv_push(&old.models, "gpt-*");
	assert_int_equal(aigw_store_key_insert(s, &old, &err), 0);

	/* Only the new secret is supplied; policy comes from the old row. */
	aigw_key_init(&newk);
	snprintf(newk.display, sizeof(newk.display), "aigw_NEWNEW");
	memset(newk.hash, 0xee, sizeof(newk.hash));
	assert_int_equal(aigw_store_key_rotate(s, old.id, &newk, 5000, &err), 0);
	assert_true(newk.id > old.id);

	assert_int_equal(aigw_store_key_get(s, "rotating", &got, &err), 0);
	assert_int_equal(got.id, newk.id);
	assert_int_equal(got.rotated_from, old.id);
	assert_int_equal(got.rpm, 10);
	assert_int_equal(got.tpm, 20);
	assert_int_equal(got.budget_micro, 30);
	assert_int_equal(got.expires_at, 2000000000);
	assert_int_equal(got.created_at, 5000);
	assert_int_equal(got.models.n, 1);
	assert_string_equal(got.models.v[0], "gpt-*");
	assert_string_equal(got.display, "aigw_NEWNEW");
	aigw_key_release(&got);

	snprintf(ref, sizeof(ref), "%lld", (long long)old.id);
	assert_int_equal(aigw_store_key_get(s, ref, &got, &err), 0);
	assert_int_equal(got.revoked_at, 5000);
	aigw_key_release(&got);

	/* A revoked key cannot be rotated, and nothing is left behind. */
	aigw_key_release(&newk);
	aigw_key_init(&newk);
	memset(newk.hash, 0xdd, sizeof(newk.hash));
	assert_int_equal(aigw_store_key_rotate(s, old.id, &newk, 6000, &err), AIGW_EINVAL);
	assert_int_equal(newk.id, 0);
	assert_int_equal(aigw_store_key_rotate(s, 777, &newk, 6000, &err), AIGW_ENOTFOUND);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM keys"), 2);

	/* Inside the caller's transaction it joins it instead of failing. */
	assert_int_equal(aigw_store_begin(s, &err), 0);
	assert_int_equal(aigw_store_key_get(s, "rotating", &got, &err), 0);
	assert_int_equal(aigw_store_key_rotate(s, got.id, &newk, 7000, &err), 0);
	aigw_store_rollback(s);
	aigw_key_release(&got);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM keys"), 2);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM keys WHERE revoked_at = 0"), 1);

	aigw_key_release(&old);
	aigw_key_release(&newk);
	aigw_store_close(s);
}

static void test_key_update_and_delete(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_err err = { 0 };
	struct aigw_key a, b, c, got;

	make_key(&a, "a", 1);
	make_key(&b, "b", 2);
	assert_int_equal(aigw_store_key_insert(s, &a, &err), 0);
	assert_int_equal(aigw_store_key_insert(s, &b, &err), 0);

	free(a.name);
	a.name = aigw_strdup("a2");
	a.rpm = 99;
	a.expires_at = 42;
	aigw_strv_push(&a.models, "m1");
	assert_int_equal(aigw_store_key_update(s, &a, &err), 0);
	assert_int_equal(aigw_store_key_get(s, "a2", &got, &err), 0);
	assert_int_equal(got.rpm, 99);
	assert_int_equal(got.expires_at, 42);
	assert_int_equal(got.models.n, 1);
	aigw_key_release(&got);
	assert_int_equal(aigw_store_key_get(s, "a", &got, &err), AIGW_ENOTFOUND);

	free(a.name);
	a.name = aigw_strdup("b");
	assert_int_equal(aigw_store_key_update(s, &a, &err), AIGW_EEXIST);
	assert_string_equal(err.msg, "a key named 'b' already exists");

	a.id = 4242;
	assert_int_equal(aigw_store_key_update(s, &a, &err), AIGW_ENOTFOUND);
	assert_string_equal(err.msg, "no key with id 4242");

	/* Deleting a key that another was rotated from unlinks, not fails. */
	aigw_key_init(&c);
	memset(c.hash, 3, sizeof(c.hash));
	assert_int_equal(aigw_store_key_rotate(s, b.id, &c, 0, &err), 0);
	assert_int_equal(aigw_store_key_delete(s, b.id, &err), 0);
	assert_int_equal(aigw_store_key_get(s, "b", &got, &err), 0);
	assert_int_equal(got.id, c.id);
	assert_int_equal(got.rotated_from, 0);
	aigw_key_release(&got);
	assert_int_equal(aigw_store_key_delete(s, b.id, &err), AIGW_ENOTFOUND);

	aigw_key_release(&a);
	aigw_key_release(&b);
	aigw_key_release(&c);
	aigw_store_close(s);
}

/* ------------------------------------------------------------- nodes */

/* What version 6 left: no node_live table. */
#define BACK_TO_VERSION_SIX "DROP TABLE node_live; PRAGMA user_version = 6;"

/* What version 5 left: no node costs, no cost preference. */
#define BACK_TO_VERSION_FIVE \
	BACK_TO_VERSION_SIX \
	"ALTER TABLE nodes DROP COLUMN cost;" \
	"ALTER TABLE routes DROP COLUMN prefer_cheap; PRAGMA user_version = 5;"

/* What version 4 left: no config_version counter. */
#define BACK_TO_VERSION_FOUR \
	BACK_TO_VERSION_FIVE \
	"DROP TRIGGER keys_ins_config;" \
	"DROP TRIGGER keys_upd_config;" \
	"DROP TRIGGER keys_del_config;" \
	"DROP TRIGGER nodes_ins_config;" \
	"DROP TRIGGER nodes_upd_config;" \
	"DROP TRIGGER nodes_del_config;" \
	"DROP TRIGGER routes_ins_config;" \
	"DROP TRIGGER routes_upd_config;" \
	"DROP TRIGGER routes_del_config;" \
	"DROP TRIGGER route_nodes_ins_config;" \
	"DROP TRIGGER route_nodes_upd_config;" \
	"DROP TRIGGER route_nodes_del_config;" \
	"DROP TABLE config_version; PRAGMA user_version = 4;"

#define BACK_TO_VERSION_THREE \
	BACK_TO_VERSION_FOUR \
	"ALTER TABLE routes DROP COLUMN connect_timeout_ms;" \
	"ALTER TABLE routes DROP COLUMN first_byte_timeout_ms;" \
	"ALTER TABLE routes DROP COLUMN idle_timeout_ms; PRAGMA user_version = 3;"

/* A version 2 database (before accounts) with a node migrates to the
 * current version and reads the node back the same. */
static void test_migrates_nodes_from_version_two(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_err err = { 0 };
	struct aigw_node got;

	aigw_store_close(s);
	/* Back to what version 2 left: no accounts column. */
	raw_exec(f->db, BACK_TO_VERSION_THREE
		 "ALTER TABLE nodes DROP COLUMN accounts; PRAGMA user_version = 2;"
		 "INSERT INTO nodes (name, url, provider, type, region, weight, models,"
		 " api_key_env, max_concurrency, standby, state, created_at, updated_at)"
		 " VALUES ('old', 'http://10.0.0.5:8000', 'ollama', 'edge', 'eu', 3, 'llama3*,qwen2',"
		 " 'OLD_KEY', 4, 1, 'draining', 100, 200),"
		 " ('bare', 'http://10.0.0.6', 'openai', 'cloud', NULL, 1, '', NULL, 0, 0,"
		 " 'enabled', 100, 100);");
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 2);
	s = open_ok(f->db, 0);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), AIGW_STORE_SCHEMA_VERSION);
	assert_int_equal(aigw_store_node_get(s, "old", &got, &err), 0);
	assert_string_equal(got.url, "http://10.0.0.5:8000");
	assert_int_equal(got.provider, AIGW_PROVIDER_OLLAMA);
	assert_int_equal(got.type, AIGW_NODE_EDGE);
	assert_string_equal(got.region, "eu");
	assert_int_equal(got.weight, 3);
	assert_int_equal(got.models.n, 2);
	assert_string_equal(got.api_key_env, "OLD_KEY");
	assert_int_equal(got.n_accounts, 1);
	assert_string_equal(got.accounts[0].api_key_env, "OLD_KEY");
	assert_null(got.accounts[0].proxy);
	assert_int_equal(got.max_concurrency, 4);
	assert_true(got.standby);
	assert_int_equal(got.cost, -1); /* unknown, as before costs */
	assert_int_equal(got.state, AIGW_NODE_DRAINING);
	assert_int_equal(got.created_at, 100);
	assert_int_equal(got.updated_at, 200);
	/* Written back unchanged, it stays a one-column node. */
	assert_int_equal(aigw_store_node_update(s, &got, &err), 0);
	aigw_node_release(&got);
	assert_int_equal(aigw_store_node_get(s, "old", &got, &err), 0);
	got.cost = 250;
	assert_int_equal(aigw_store_node_update(s, &got, &err), 0);
	aigw_node_release(&got);
	assert_int_equal(aigw_store_node_get(s, "old", &got, &err), 0);
	assert_int_equal(got.cost, 250);
	aigw_node_release(&got);
	assert_int_equal(aigw_store_node_get(s, "bare", &got, &err), 0);
	assert_null(got.api_key_env);
	assert_int_equal(got.n_accounts, 0);
	aigw_node_release(&got);
	aigw_store_close(s);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM nodes WHERE accounts IS NULL"), 2);
}

/* A version 3 database (before the narrower route timeouts) with a route
 * migrates to 4; the route reads back with its timeout and zeros for the
 * new ones, and a route written afterwards keeps all four. */
/* config_version moves on every write to what a snapshot is built from,
 * by whichever program writes it, and not on the request log's writes;
 * a version 4 database gets the counter and its triggers. */
static void test_config_version(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_err err = { 0 };
	struct aigw_key k;
	int64_t v0, v1, v2, v3;

	aigw_store_close(s);
	raw_exec(f->db, BACK_TO_VERSION_FOUR);
	s = open_ok(f->db, 0);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), AIGW_STORE_SCHEMA_VERSION);
	assert_int_equal(aigw_store_config_version(s, &v0, &err), 0);
	make_key(&k, "one", 1);
	assert_int_equal(aigw_store_key_insert(s, &k, &err), 0);
	assert_int_equal(aigw_store_config_version(s, &v1, &err), 0);
	assert_true(v1 > v0);
	raw_exec(f->db, "INSERT INTO request_log (ts_ms, request_id, status, latency_us)"
			" VALUES (1, 'r', 200, 5)");
	assert_int_equal(aigw_store_config_version(s, &v2, &err), 0);
	assert_int_equal(v2, v1);
	raw_exec(f->db, "UPDATE keys SET name = 'renamed';"
			"INSERT INTO nodes (name, url, provider, type, weight, standby, state,"
			" created_at, updated_at) VALUES ('n', 'http://127.0.0.1:1', 'openai', 'cloud',"
			" 1, 0, 'enabled', 1, 1);"
			"DELETE FROM nodes WHERE name = 'n'");
	assert_int_equal(aigw_store_config_version(s, &v3, &err), 0);
	assert_int_equal(v3, v2 + 3);
	aigw_key_release(&k);
	aigw_store_close(s);
}

/* node_live: put replaces every row, list reads them back (NULLs as -1,
 * 0 and ""), find honours freshness; writing it leaves config_version
 * alone (it is not configuration). A version 6 database gets the table. */
static void test_node_live(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_err err = { 0 };
	struct aigw_node_live rows[2], *got;
	size_t n;
	int64_t v0, v1;

	aigw_store_close(s);
	raw_exec(f->db, BACK_TO_VERSION_SIX);
	s = open_ok(f->db, 0);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), AIGW_STORE_SCHEMA_VERSION);
	assert_int_equal(aigw_store_config_version(s, &v0, &err), 0);
	memset(rows, 0, sizeof(rows));
	rows[0].node = "a";
	rows[0].updated_ms = 1000000;
	rows[0].pid = 42;
	strcpy(rows[0].state, "closed");
	rows[0].in_flight = 3;
	rows[0].latency_us = 12345;
	rows[0].picks = 10;
	rows[0].share = 0.75;
	strcpy(rows[0].checks, "ok");
	rows[1].node = "b";
	rows[1].updated_ms = 1000000;
	strcpy(rows[1].state, "open");
	rows[1].latency_us = -1;
	rows[1].failures = 5;
	rows[1].retry_at_ms = 1005000;
	rows[1].share = 0.25;
	assert_int_equal(aigw_store_node_live_put(s, rows, 2, &err), 0);
	assert_int_equal(aigw_store_node_live_list(s, &got, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(got[0].node, "a");
	assert_int_equal(got[0].pid, 42);
	assert_string_equal(got[0].state, "closed");
	assert_int_equal(got[0].in_flight, 3);
	assert_int_equal(got[0].latency_us, 12345);
	assert_int_equal(got[0].picks, 10);
	assert_true(got[0].share > 0.74 && got[0].share < 0.76);
	assert_string_equal(got[0].checks, "ok");
	assert_int_equal(got[0].retry_at_ms, 0);
	assert_string_equal(got[1].state, "open");
	assert_int_equal(got[1].latency_us, -1);
	assert_int_equal(got[1].failures, 5);
	assert_int_equal(got[1].retry_at_ms, 1005000);
	assert_string_equal(got[1].checks, "");
	assert_non_null(aigw_node_live_find(got, n, "b", 1004000, 5000));
	assert_null(aigw_node_live_find(got, n, "b", 1006000, 5000));
	assert_null(aigw_node_live_find(got, n, "c", 1000000, 5000));
	aigw_node_live_free(got, n);
	assert_int_equal(aigw_store_config_version(s, &v1, &err), 0);
	assert_int_equal(v1, v0);

	/* Replacing drops the rows of nodes no longer given; 0 rows clear. */
	assert_int_equal(aigw_store_node_live_put(s, rows + 1, 1, &err), 0);
	assert_int_equal(raw_int(f->db, "SELECT count(*) FROM node_live"), 1);
	assert_int_equal(aigw_store_node_live_put(s, NULL, 0, &err), 0);
	assert_int_equal(aigw_store_node_live_list(s, &got, &n, &err), 0);
	assert_int_equal(n, 0);
	aigw_node_live_free(got, n);
	assert_int_equal(aigw_store_config_version(s, &v1, &err), 0);
	assert_int_equal(v1, v0);
	aigw_store_close(s);
}

static void test_migrates_routes_from_version_three(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_err err = { 0 };
	static const char *const pool[] = { "a", NULL };
	struct aigw_route r, got;

	aigw_store_close(s);
	raw_exec(f->db, BACK_TO_VERSION_THREE
		 "INSERT INTO routes (name, path, method, model, headers, policy, retries,"
		 " timeout_ms, fallback, created_at, updated_at)"
		 " VALUES ('old', '/v1', NULL, 'gpt-*', '', 'weighted', 2, 45000, NULL, 100, 200);"
		 "INSERT INTO route_nodes (route_id, position, node)"
		 " SELECT id, 0, 'a' FROM routes WHERE name = 'old';");
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), 3);
	s = open_ok(f->db, 0);
	assert_int_equal(raw_int(f->db, "PRAGMA user_version"), AIGW_STORE_SCHEMA_VERSION);
	assert_int_equal(aigw_store_route_get(s, "old", &got, &err), 0);
	assert_string_equal(got.path, "/v1");
	assert_string_equal(got.model, "gpt-*");
	assert_int_equal(got.policy, AIGW_POLICY_WEIGHTED);
	assert_int_equal(got.retries, 2);
	assert_int_equal(got.timeout_ms, 45000);
	assert_int_equal(got.connect_timeout_ms, 0);
	assert_int_equal(got.first_byte_timeout_ms, 0);
	assert_int_equal(got.idle_timeout_ms, 0);
	assert_int_equal(got.prefer_cheap, 0);
	assert_int_equal(got.nodes.n, 1);
	assert_int_equal(got.created_at, 100);
	assert_int_equal(got.updated_at, 200);
	aigw_route_release(&got);

	make_route(&r, "new", pool);
	r.connect_timeout_ms = 2000;
	r.first_byte_timeout_ms = 15000;
	r.idle_timeout_ms = 60000;
	r.prefer_cheap = 150;
	assert_int_equal(aigw_store_route_insert(s, &r, &err), 0);
	assert_int_equal(aigw_store_route_get(s, "new", &got, &err), 0);
	assert_int_equal(got.prefer_cheap, 150);
	assert_int_equal(got.connect_timeout_ms, 2000);
	assert_int_equal(got.first_byte_timeout_ms, 15000);
	assert_int_equal(got.idle_timeout_ms, 60000);
	aigw_route_release(&got);
	aigw_route_release(&r);
	aigw_store_close(s);
	/* The database refuses a negative value written behind aigw's back. */
	assert_int_not_equal(raw_exec_rc(f->db, "UPDATE routes SET idle_timeout_ms = -1"), 0);
}

static void test_node_accounts(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_err err = { 0 };
	struct aigw_account *acc = aigw_calloc(2, sizeof(*acc));
	struct aigw_node n, got;

	make_node(&n, "multi");
	acc[0].api_key_env = aigw_strdup("KEY_ONE");
	acc[0].proxy = aigw_strdup("http://10.1.1.1:3128");
	acc[1].token_url = aigw_strdup("https://login.example/token");
	acc[1].client_id_env = aigw_strdup("CID");
	acc[1].client_secret_env = aigw_strdup("CSECRET");
	acc[1].scope = aigw_strdup("a b");
	aigw_node_set_accounts_take(&n, acc, 2);
	assert_int_equal(aigw_store_node_insert(s, &n, &err), 0);
	assert_int_equal(aigw_store_node_get(s, "multi", &got, &err), 0);
	assert_int_equal(got.n_accounts, 2);
	for (size_t i = 0; i < 2; i++)
		assert_true(aigw_account_equal(&got.accounts[i], &n.accounts[i]));
	assert_string_equal(got.api_key_env, "KEY_ONE");
	aigw_node_release(&got);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM nodes WHERE api_key_env = 'KEY_ONE'"
				    " AND json_array_length(accounts) = 2"), 1);

	/* Back to one plain key: the accounts column empties. */
	assert_int_equal(aigw_node_set_key_envs(&n, "ONLY", NULL, &err), 0);
	assert_int_equal(aigw_store_node_update(s, &n, &err), 0);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM nodes WHERE api_key_env = 'ONLY'"
				    " AND accounts IS NULL"), 1);
	assert_int_equal(aigw_store_node_get(s, "multi", &got, &err), 0);
	assert_int_equal(got.n_accounts, 1);
	assert_string_equal(got.accounts[0].api_key_env, "ONLY");
	aigw_node_release(&got);
	aigw_node_release(&n);
	aigw_store_close(s);
}

static void test_node_crud(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_err err = { 0 };
	struct aigw_node n, m, got, *list;
	size_t count;

	setenv("AIGW_NOW", "1000", 1);
	make_node(&n, "zeta");
	n.provider = AIGW_PROVIDER_ANTHROPIC;
	n.type = AIGW_NODE_EDGE;
	n.region = aigw_strdup("eu-west");
	n.weight = 7;
	aigw_strv_push(&n.models, "claude-*");
	aigw_strv_push(&n.models, "haiku");
	n.api_key_env = aigw_strdup("ANTHROPIC_API_KEY");
	n.max_concurrency = 32;
	n.standby = true;
	n.state = AIGW_NODE_DRAINING;
	assert_int_equal(aigw_store_node_insert(s, &n, &err), 0);
	assert_true(n.id > 0);
	assert_int_equal(n.created_at, 1000);

	make_node(&m, "alpha"); /* the optional fields stay NULL */
	assert_int_equal(aigw_store_node_insert(s, &m, &err), 0);
	assert_int_equal(aigw_store_node_insert(s, &m, &err), AIGW_EEXIST);
	assert_string_equal(err.msg, "a node named 'alpha' already exists");

	assert_int_equal(aigw_store_node_get(s, "zeta", &got, &err), 0);
	assert_int_equal(got.id, n.id);
	assert_string_equal(got.url, n.url);
	assert_int_equal(got.provider, AIGW_PROVIDER_ANTHROPIC);
	assert_int_equal(got.type, AIGW_NODE_EDGE);
	assert_string_equal(got.region, "eu-west");
	assert_int_equal(got.weight, 7);
	assert_true(aigw_strv_eq(&got.models, &n.models));
	assert_string_equal(got.api_key_env, "ANTHROPIC_API_KEY");
	assert_int_equal(got.max_concurrency, 32);
	assert_true(got.standby);
	assert_int_equal(got.state, AIGW_NODE_DRAINING);
	assert_int_equal(got.origin, AIGW_ORIGIN_DB);
	assert_null(got.where);
	assert_int_equal(got.created_at, 1000);
	assert_int_equal(got.updated_at, 1000);
	aigw_node_release(&got);

	/* Readable without aigw: enums are stored by name. */
	assert_int_equal(count_rows(s, "SELECT count(*) FROM nodes WHERE provider = 'anthropic'"
				    " AND type = 'edge' AND state = 'draining'"), 1);

	assert_int_equal(aigw_store_node_get(s, "alpha", &got, &err), 0);
	assert_null(got.region);
	assert_null(got.api_key_env);
	assert_int_equal(got.models.n, 0);
	assert_false(got.standby);
	aigw_node_release(&got);

	assert_int_equal(aigw_store_node_list(s, &list, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_string_equal(list[0].name, "alpha");
	assert_string_equal(list[1].name, "zeta");
	aigw_nodes_free(list, count);

	setenv("AIGW_NOW", "2000", 1);
	m.state = AIGW_NODE_DISABLED;
	m.region = aigw_strdup("us");
	assert_int_equal(aigw_store_node_update(s, &m, &err), 0);
	assert_int_equal(aigw_store_node_get(s, "alpha", &got, &err), 0);
	assert_int_equal(got.state, AIGW_NODE_DISABLED);
	assert_string_equal(got.region, "us");
	assert_int_equal(got.created_at, 1000);
	assert_int_equal(got.updated_at, 2000);
	aigw_node_release(&got);

	assert_int_equal(aigw_store_node_get(s, "nope", &got, &err), AIGW_ENOTFOUND);
	assert_string_equal(err.msg, "no node named 'nope'");
	free(m.name);
	m.name = aigw_strdup("nope");
	assert_int_equal(aigw_store_node_update(s, &m, &err), AIGW_ENOTFOUND);
	assert_int_equal(aigw_store_node_delete(s, "nope", &err), AIGW_ENOTFOUND);
	assert_string_equal(err.msg, "no node named 'nope'");

	m.provider = 99;
	assert_int_equal(aigw_store_node_insert(s, &m, &err), AIGW_EINVAL);

	assert_int_equal(aigw_store_node_delete(s, "zeta", &err), 0);
	assert_int_equal(aigw_store_node_get(s, "zeta", &got, &err), AIGW_ENOTFOUND);

	/* A provider this binary does not know is reported, not guessed. */
	assert_int_equal(sqlite3_exec(s->db, "UPDATE nodes SET provider = 'future'",
				      NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(aigw_store_node_get(s, "alpha", &got, &err), AIGW_EFAIL);
	assert_non_null(strstr(err.msg, "'future'"));
	assert_int_equal(aigw_store_node_list(s, &list, &count, &err), AIGW_EFAIL);
	assert_null(list);

	unsetenv("AIGW_NOW");
	aigw_node_release(&n);
	aigw_node_release(&m);
	aigw_store_close(s);
}

/* ------------------------------------------------------------- routes */

static void test_route_crud(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_err err = { 0 };
	static const char *const pool[] = { "zulu", "alpha", "mike", NULL };
	static const char *const other[] = { "one", NULL };
	struct aigw_route r, q, got, *list;
	size_t count;

	make_route(&r, "chat", pool);
	r.method = aigw_strdup("POST");
	r.model = aigw_strdup("gpt-*");
	aigw_strv_push(&r.headers, "X-Team: a, b");
	aigw_strv_push(&r.headers, "X-Tier: gold");
	r.policy = AIGW_POLICY_WEIGHTED;
	r.retries = 2;
	r.timeout_ms = 30000;
	r.connect_timeout_ms = 1500;
	r.first_byte_timeout_ms = 20000;
	r.idle_timeout_ms = 45000;
	r.fallback = aigw_strdup("backup");
	assert_int_equal(aigw_store_route_insert(s, &r, &err), 0);
	assert_true(r.id > 0);
	assert_int_equal(aigw_store_route_insert(s, &r, &err), AIGW_EEXIST);
	assert_string_equal(err.msg, "a route named 'chat' already exists");

	make_route(&q, "backup", other);
	assert_int_equal(aigw_store_route_insert(s, &q, &err), 0);

	assert_int_equal(aigw_store_route_get(s, "chat", &got, &err), 0);
	assert_int_equal(got.id, r.id);
	assert_string_equal(got.path, "/v1/chat/completions");
	assert_string_equal(got.method, "POST");
	assert_string_equal(got.model, "gpt-*");
	assert_true(aigw_strv_eq(&got.headers, &r.headers));
	assert_int_equal(got.nodes.n, 3);
	assert_string_equal(got.nodes.v[0], "zulu");
	assert_string_equal(got.nodes.v[1], "alpha");
	assert_string_equal(got.nodes.v[2], "mike");
	assert_int_equal(got.policy, AIGW_POLICY_WEIGHTED);
	assert_int_equal(got.retries, 2);
	assert_int_equal(got.timeout_ms, 30000);
	assert_int_equal(got.connect_timeout_ms, 1500);
	assert_int_equal(got.first_byte_timeout_ms, 20000);
	assert_int_equal(got.idle_timeout_ms, 45000);
	assert_string_equal(got.fallback, "backup");
	assert_int_equal(got.origin, AIGW_ORIGIN_DB);
	aigw_route_release(&got);

	assert_int_equal(aigw_store_route_get(s, "backup", &got, &err), 0);
	assert_null(got.method);
	assert_null(got.model);
	assert_null(got.fallback);
	assert_int_equal(got.headers.n, 0);
	assert_int_equal(got.policy, AIGW_POLICY_ROUND_ROBIN);
	aigw_route_release(&got);

	assert_int_equal(aigw_store_route_list(s, &list, &count, &err), 0);
	assert_int_equal(count, 2);
	assert_string_equal(list[0].name, "backup");
	assert_int_equal(list[0].nodes.n, 1);
	assert_string_equal(list[1].name, "chat");
	assert_int_equal(list[1].nodes.n, 3);
	assert_string_equal(list[1].nodes.v[0], "zulu");
	assert_string_equal(list[1].nodes.v[2], "mike");
	aigw_routes_free(list, count);

	assert_int_equal(aigw_store_route_delete(s, "chat", &err), 0);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM route_nodes"), 1);
	assert_int_equal(aigw_store_route_get(s, "chat", &got, &err), AIGW_ENOTFOUND);
	assert_string_equal(err.msg, "no route named 'chat'");
	assert_int_equal(aigw_store_route_delete(s, "chat", &err), AIGW_ENOTFOUND);

	/* A header value with a newline could not be split back. */
	aigw_route_release(&q);
	make_route(&q, "bad", other);
	aigw_strv_push(&q.headers, "X-A: 1\nX-B: 2");
	assert_int_equal(aigw_store_route_insert(s, &q, &err), AIGW_EINVAL);

	aigw_route_release(&r);
	aigw_route_release(&q);
	aigw_store_close(s);
}

/* ------------------------------------------------------------- transactions */

static void test_rollback_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *s = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_err err = { 0 };
	static const char *const pool[] = { "n1", "boom", "n3", NULL };
	struct aigw_key k;
	struct aigw_node n;
	struct aigw_route r;

	make_key(&k, "k", 1);
	make_node(&n, "n1");
	assert_int_equal(aigw_store_begin(s, &err), 0);
	assert_int_equal(aigw_store_begin(s, &err), AIGW_EFAIL);
	assert_int_equal(aigw_store_key_insert(s, &k, &err), 0);
	assert_int_equal(aigw_store_node_insert(s, &n, &err), 0);
	aigw_store_rollback(s);
	aigw_store_rollback(s); /* with none open: harmless */
	assert_int_equal(count_rows(s, "SELECT count(*) FROM keys"), 0);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM nodes"), 0);

	/* A route whose second node row fails must not leave the route row
	 * or the first node row, on its own or inside a caller's work. */
	assert_int_equal(sqlite3_exec(s->db,
				      "CREATE TEMP TRIGGER boom BEFORE INSERT ON route_nodes"
				      " WHEN NEW.node = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END",
				      NULL, NULL, NULL), SQLITE_OK);
	make_route(&r, "r", pool);
	assert_int_not_equal(aigw_store_route_insert(s, &r, &err), 0);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM routes"), 0);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM route_nodes"), 0);

	assert_int_equal(aigw_store_begin(s, &err), 0);
	assert_int_equal(aigw_store_node_insert(s, &n, &err), 0);
	assert_int_not_equal(aigw_store_route_insert(s, &r, &err), 0);
	assert_int_equal(aigw_store_commit(s, &err), 0);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM nodes"), 1);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM routes"), 0);
	assert_int_equal(count_rows(s, "SELECT count(*) FROM route_nodes"), 0);

	aigw_key_release(&k);
	aigw_node_release(&n);
	aigw_route_release(&r);
	aigw_store_close(s);
}

struct writer {
	struct aigw_store *s;
	int rc;
	char msg[AIGW_ERR_MSG_MAX];
};

static void *write_node(void *arg)
{
	struct writer *w = arg;
	struct aigw_err err = { 0 };
	struct aigw_node n;

	make_node(&n, "from-thread");
	w->rc = aigw_store_node_insert(w->s, &n, &err);
	memcpy(w->msg, err.msg, sizeof(w->msg));
	aigw_node_release(&n);
	return NULL;
}

static void test_two_handles_interleave(void **state)
{
	struct fixture *f = *state;
	struct aigw_store *a = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_store *b = open_ok(f->db, AIGW_STORE_CREATE);
	struct aigw_err err = { 0 };
	struct timespec pause = { 0, 300 * 1000 * 1000 };
	struct writer w = { .s = b };
	struct aigw_key k1, k2, k3;
	struct aigw_node n;
	pthread_t thread;
	int64_t before, after;

	make_key(&k1, "one", 1);
	make_key(&k2, "two", 2);
	make_key(&k3, "three", 3);
	assert_int_equal(aigw_store_data_version(a, &before, &err), 0);
	assert_int_equal(aigw_store_key_insert(a, &k1, &err), 0);
	assert_int_equal(aigw_store_key_insert(b, &k2, &err), 0);
	assert_int_equal(aigw_store_key_insert(a, &k3, &err), 0);
	assert_int_equal(count_rows(a, "SELECT count(*) FROM keys"), 3);
	assert_int_equal(count_rows(b, "SELECT count(*) FROM keys"), 3);
	/* a sees that b committed in between. */
	assert_int_equal(aigw_store_data_version(a, &after, &err), 0);
	assert_int_not_equal(before, after);

	/* b's write waits for a's transaction instead of failing. */
	assert_int_equal(aigw_store_begin(a, &err), 0);
	make_node(&n, "from-main");
	assert_int_equal(aigw_store_node_insert(a, &n, &err), 0);
	assert_int_equal(pthread_create(&thread, NULL, write_node, &w), 0);
	nanosleep(&pause, NULL);
	assert_int_equal(aigw_store_commit(a, &err), 0);
	assert_int_equal(pthread_join(thread, NULL), 0);
	if (w.rc)
		fail_msg("second writer failed: %s", w.msg);
	assert_int_equal(count_rows(a, "SELECT count(*) FROM nodes"), 2);

	/* Past the timeout it is EBUSY with a plain message (the timeout is
	 * shortened here to keep the test fast). */
	sqlite3_busy_timeout(b->db, 50);
	assert_int_equal(aigw_store_begin(a, &err), 0);
	assert_int_equal(aigw_store_begin(b, &err), AIGW_EBUSY);
	assert_string_equal(err.msg, "database is locked");
	aigw_store_rollback(a);
	assert_int_equal(aigw_store_begin(b, &err), 0);
	aigw_store_rollback(b);

	aigw_key_release(&k1);
	aigw_key_release(&k2);
	aigw_key_release(&k3);
	aigw_node_release(&n);
	aigw_store_close(a);
	aigw_store_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_resolution),
		cmocka_unit_test_setup_teardown(test_create_and_reopen_keeps_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdir_creates_private_dirs_and_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_dir_without_mkdir_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_created_0600_without_mkdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_dir_is_clear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_create_uses_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_database_refused_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_application_id_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_tables_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_from_version_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_insert_and_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_names_unique_among_live, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_rotate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_update_and_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_nodes_from_version_two, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrates_routes_from_version_three, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_node_accounts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_node_live, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollback_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_handles_interleave, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
