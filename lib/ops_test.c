/* ops_test: the rules of keys.c, nodes.c and routes.c, run against a real
 * store in a fresh temporary directory per test and a hand-built aigw.yaml
 * configuration (one YAML node and one YAML route). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "apikey.h"
#include "conf.h"
#include "keys.h"
#include "mem.h"
#include "nodes.h"
#include "routes.h"
#include "store.h"

#define NOW 1795398300 /* 2026-11-23T01:45:00Z */
#define NOW_TEXT "1795398300"

struct fixture {
	char dir[64];
	char db[128];
	struct aigw_store *store;
	struct aigw_conf conf;
};

/* Fails unless err holds code and a message containing fragment. */
#define assert_err(rc, err, want_code, fragment)                                     \
	do {                                                                         \
		int rc_ = (rc);                                                      \
		if (rc_ != (want_code))                                              \
			fail_msg("rc %d, want %d (message '%s')", rc_, (want_code),  \
				 (err).msg);                                         \
		if (!strstr((err).msg, (fragment)))                                  \
			fail_msg("message '%s' lacks '%s'", (err).msg, (fragment));  \
	} while (0)

static void node_fill(struct aigw_node *n, const char *name, const char *url)
{
	aigw_node_init(n);
	n->name = aigw_strdup(name);
	n->url = aigw_strdup(url);
}

/* nodes: NULL-terminated. */
static void route_fill(struct aigw_route *r, const char *name, const char *path,
		       const char *model, const char *fallback, const char *const *nodes)
{
	aigw_route_init(r);
	r->name = aigw_strdup(name);
	r->path = aigw_strdup(path);
	r->model = model ? aigw_strdup(model) : NULL;
	r->fallback = fallback ? aigw_strdup(fallback) : NULL;
	for (; *nodes; nodes++)
		aigw_strv_push(&r->nodes, *nodes);
}

static int setup(void **state)
{
	struct fixture *f = aigw_calloc(1, sizeof(*f));
	static const char *const yaml_route_nodes[] = { "yaml-a", "db-used-by-yaml", NULL };
	struct aigw_err err;

	setenv("AIGW_NOW", NOW_TEXT, 1);
	snprintf(f->dir, sizeof(f->dir), "/tmp/aigw-ops-test-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/aigw.db", f->dir);
	if (aigw_store_open(&f->store, f->db, AIGW_STORE_CREATE, &err)) {
		fprintf(stderr, "store: %s\n", err.msg);
		free(f);
		return -1;
	}

	/* What aigw.yaml would give: one node, one route falling back to a
	 * route that only the database may define. */
	aigw_conf_init(&f->conf);
	f->conf.nodes = aigw_calloc(1, sizeof(*f->conf.nodes));
	f->conf.n_nodes = 1;
	node_fill(&f->conf.nodes[0], "yaml-a", "http://yaml-a.lan:8000");
	f->conf.nodes[0].origin = AIGW_ORIGIN_YAML;
	f->conf.nodes[0].where = aigw_strdup("aigw.yaml:3:5");
	f->conf.routes = aigw_calloc(1, sizeof(*f->conf.routes));
	f->conf.n_routes = 1;
	route_fill(&f->conf.routes[0], "yaml-r", "/v1/yaml", NULL, "db-back", yaml_route_nodes);
	f->conf.routes[0].origin = AIGW_ORIGIN_YAML;
	f->conf.routes[0].where = aigw_strdup("aigw.yaml:10:5");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	aigw_store_close(f->store);
	aigw_conf_release(&f->conf);
	aigw_test_rmtree(f->dir);
	free(f);
	unsetenv("AIGW_NOW");
	return 0;
}

static size_t node_count(struct aigw_store *s)
{
	struct aigw_node *nodes;
	size_t n;
	assert_int_equal(aigw_store_node_list(s, &nodes, &n, NULL), 0);
	aigw_nodes_free(nodes, n);
	return n;
}

static size_t route_count(struct aigw_store *s)
{
	struct aigw_route *routes;
	size_t n;
	assert_int_equal(aigw_store_route_list(s, &routes, &n, NULL), 0);
	aigw_routes_free(routes, n);
	return n;
}

static void add_db_node(struct fixture *f, const char *name)
{
	struct aigw_node n;
	struct aigw_err err;
	char url[128];

	snprintf(url, sizeof(url), "http://%s.lan:8000/v1", name);
	node_fill(&n, name, url);
	if (aigw_nodes_add(f->store, &f->conf, &n, &err))
		fail_msg("adding node %s: %s", name, err.msg);
	aigw_node_release(&n);
}

static int add_route(struct fixture *f, const char *name, const char *path, const char *model,
		     const char *fallback, const char *const *nodes, struct aigw_err *err)
{
	struct aigw_route r;
	int rc;

	route_fill(&r, name, path, model, fallback, nodes);
	rc = aigw_routes_add(f->store, &f->conf, &r, err);
	aigw_route_release(&r);
	return rc;
}

/* ================================================================ keys */

static void test_keys_parse_expiry(void **state)
{
	static const struct {
		const char *s;
		int rc;
		int64_t want;
		const char *msg;
	} cases[] = {
		{ "30d", 0, NOW + 30LL * 86400, NULL },
		{ "1h30m", 0, NOW + 5400, NULL },
		{ "1s", 0, NOW + 1, NULL },
		{ "250ms", 0, NOW + 1, NULL }, /* rounded up, never to now itself */
		{ "never", 0, 0, NULL },
		{ "2027-01-01", 0, 1798761600, NULL },
		{ "2026-11-23T01:45:01Z", 0, NOW + 1, NULL },
		{ "2026-11-23T01:45:00Z", AIGW_EINVAL, 0, "is in the past" },
		{ "2026-11-23", AIGW_EINVAL, 0, "'2026-11-23' is in the past" },
		{ "2020-01-01", AIGW_EINVAL, 0, "in the past" },
		{ "0s", AIGW_EINVAL, 0, "not in the future" },
		{ "garbage", AIGW_EINVAL, 0, "'garbage' is not an expiry" },
		{ "30", AIGW_EINVAL, 0, "is not an expiry" },
		{ "-5d", AIGW_EINVAL, 0, "is not an expiry" },
		{ "", AIGW_EINVAL, 0, "is not an expiry" },
		{ "Never", AIGW_EINVAL, 0, "is not an expiry" },
		{ "2026-13-01", AIGW_EINVAL, 0, "'2026-13-01' is not a date" },
		{ "2027-02-29", AIGW_EINVAL, 0, "is not a date" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aigw_err err = { 0, "" };
		int64_t out = -1;
		int rc = aigw_keys_parse_expiry(cases[i].s, NOW, &out, &err);
		if (rc != cases[i].rc)
			fail_msg("expiry '%s': rc %d, want %d (%s)", cases[i].s, rc, cases[i].rc,
				 err.msg);
		if (rc) {
			assert_int_equal(out, -1);
			if (!strstr(err.msg, cases[i].msg))
				fail_msg("expiry '%s': message '%s' lacks '%s'", cases[i].s,
					 err.msg, cases[i].msg);
		} else if (out != cases[i].want) {
			fail_msg("expiry '%s' = %lld, want %lld", cases[i].s, (long long)out,
				 (long long)cases[i].want);
		}
	}
}

static void test_keys_create(void **state)
{
	struct fixture *f = *state;
	struct aigw_key k, got, dup;
	struct aigw_key_changes c = { 0 };
	struct aigw_strv models = AIGW_STRV_INIT;
	struct aigw_err err;
	char secret[AIGW_APIKEY_LEN + 1];
	uint8_t hash[AIGW_APIKEY_HASH_LEN];
	int64_t rpm = 60, expires = NOW + 86400;

	aigw_strv_push(&models, "gpt-*");
	c.name = "ci";
	c.rpm = &rpm;
	c.expires_at = &expires;
	c.models = &models;
	assert_int_equal(aigw_keys_create(f->store, &c, &k, secret, &err), 0);
	assert_true(k.id > 0);
	assert_string_equal(k.name, "ci");
	assert_int_equal(k.rpm, 60);
	assert_int_equal(k.tpm, 0);
	assert_int_equal(k.created_at, NOW);
	assert_int_equal(k.expires_at, NOW + 86400);
	assert_true(aigw_apikey_well_formed(secret));
	assert_memory_equal(k.display, secret, AIGW_APIKEY_DISPLAY_LEN);
	aigw_apikey_hash(secret, strlen(secret), hash);
	assert_memory_equal(k.hash, hash, sizeof(hash));

	/* The stored row is what was returned; the secret is not in it. */
	assert_int_equal(aigw_store_key_get(f->store, "ci", &got, &err), 0);
	assert_int_equal(got.id, k.id);
	assert_memory_equal(got.hash, hash, sizeof(hash));
	assert_int_equal(got.models.n, 1);
	assert_string_equal(got.models.v[0], "gpt-*");
	aigw_key_release(&got);

	/* Same name again: refused, secret wiped. */
	memset(secret, 'x', sizeof(secret));
	assert_err(aigw_keys_create(f->store, &c, &dup, secret, &err), err, AIGW_EEXIST,
		   "a key named 'ci' already exists");
	for (size_t i = 0; i < sizeof(secret); i++)
		assert_int_equal(secret[i], 0);

	/* Invalid fields are refused before anything is written. */
	c.name = "123";
	assert_err(aigw_keys_create(f->store, &c, &dup, secret, &err), err, AIGW_EINVAL,
		   "invalid key name '123'");
	c.name = "ok-name";
	aigw_strv_release(&models);
	aigw_strv_push(&models, "gpt 4");
	assert_err(aigw_keys_create(f->store, &c, &dup, secret, &err), err, AIGW_EINVAL,
		   "'gpt 4'");
	int64_t bad_rpm = -1;
	aigw_strv_release(&models);
	c.rpm = &bad_rpm;
	assert_err(aigw_keys_create(f->store, &c, &dup, secret, &err), err, AIGW_EINVAL,
		   "rpm -1 is out of range");
	struct aigw_key_changes none = { 0 };
	assert_err(aigw_keys_create(f->store, &none, &dup, secret, &err), err, AIGW_EINVAL,
		   "invalid key name ''");

	struct aigw_key *all;
	size_t n;
	assert_int_equal(aigw_store_key_list(f->store, &all, &n, NULL), 0);
	assert_int_equal(n, 1);
	aigw_keys_free(all, n);
	aigw_key_release(&k);
}

static void create_key(struct fixture *f, const char *name, struct aigw_key *k)
{
	struct aigw_key_changes c = { 0 };
	struct aigw_err err;
	char secret[AIGW_APIKEY_LEN + 1];
	int64_t rpm = 100, tpm = 5000, budget = 25000000;

	c.name = name;
	c.rpm = &rpm;
	c.tpm = &tpm;
	c.budget_micro = &budget;
	if (aigw_keys_create(f->store, &c, k, secret, &err))
		fail_msg("create %s: %s", name, err.msg);
}

static void test_keys_update(void **state)
{
	struct fixture *f = *state;
	struct aigw_key k, other, out, got;
	struct aigw_key_changes c = { 0 };
	struct aigw_strv models = AIGW_STRV_INIT;
	struct aigw_err err;
	char ref[32];
	int64_t rpm = 0, tpm = 7;

	create_key(f, "ci", &k);
	create_key(f, "other", &other);

	/* Only the fields given change; rpm 0 removes the limit. */
	aigw_strv_push(&models, "claude-*");
	c.rpm = &rpm;
	c.tpm = &tpm;
	c.models = &models;
	assert_int_equal(aigw_keys_update(f->store, "ci", &c, &out, &err), 0);
	assert_int_equal(out.rpm, 0);
	assert_int_equal(out.tpm, 7);
	assert_int_equal(out.budget_micro, 25000000);
	aigw_key_release(&out);
	assert_int_equal(aigw_store_key_get(f->store, "ci", &got, NULL), 0);
	assert_int_equal(got.rpm, 0);
	assert_int_equal(got.tpm, 7);
	assert_int_equal(got.budget_micro, 25000000);
	assert_int_equal(got.models.n, 1);
	assert_string_equal(got.models.v[0], "claude-*");
	assert_memory_equal(got.hash, k.hash, sizeof(k.hash)); /* same secret */
	aigw_key_release(&got);

	/* Renaming, by id. */
	memset(&c, 0, sizeof(c));
	c.name = "ci-2";
	snprintf(ref, sizeof(ref), "%lld", (long long)k.id);
	assert_int_equal(aigw_keys_update(f->store, ref, &c, &out, &err), 0);
	assert_string_equal(out.name, "ci-2");
	aigw_key_release(&out);
	assert_err(aigw_store_key_get(f->store, "ci", &got, &err), err, AIGW_ENOTFOUND,
		   "no key named 'ci'");

	/* Onto a name in use; to an invalid value; an unknown key. */
	c.name = "other";
	assert_err(aigw_keys_update(f->store, "ci-2", &c, &out, &err), err, AIGW_EEXIST,
		   "a key named 'other' already exists");
	c.name = NULL;
	int64_t huge = AIGW_KEY_RATE_MAX + 1;
	c.rpm = &huge;
	assert_err(aigw_keys_update(f->store, "ci-2", &c, &out, &err), err, AIGW_EINVAL,
		   "out of range");
	assert_err(aigw_keys_update(f->store, "ghost", &c, &out, &err), err, AIGW_ENOTFOUND,
		   "no key named 'ghost'");
	assert_err(aigw_keys_update(f->store, "9999", &c, &out, &err), err, AIGW_ENOTFOUND,
		   "no key with id 9999");
	/* The failed updates changed nothing. */
	assert_int_equal(aigw_store_key_get(f->store, "ci-2", &got, NULL), 0);
	assert_int_equal(got.rpm, 0);
	aigw_key_release(&got);

	aigw_strv_release(&models);
	aigw_key_release(&k);
	aigw_key_release(&other);
}

static void test_keys_rotate(void **state)
{
	struct fixture *f = *state;
	struct aigw_key k, rotated, old, current;
	struct aigw_err err;
	char secret[AIGW_APIKEY_LEN + 1], ref[32];
	uint8_t hash[AIGW_APIKEY_HASH_LEN];

	create_key(f, "ci", &k);
	setenv("AIGW_NOW", "1795398400", 1);
	assert_int_equal(aigw_keys_rotate(f->store, "ci", &rotated, secret, &err), 0);
	assert_true(aigw_apikey_well_formed(secret));
	aigw_apikey_hash(secret, strlen(secret), hash);
	assert_memory_equal(rotated.hash, hash, sizeof(hash));
	assert_memory_not_equal(rotated.hash, k.hash, sizeof(hash));
	assert_true(rotated.id > 0 && rotated.id != k.id);
	assert_int_equal(rotated.rotated_from, k.id);
	assert_int_equal(rotated.created_at, 1795398400);
	assert_int_equal(rotated.revoked_at, 0);
	/* Same name and policy. */
	assert_string_equal(rotated.name, "ci");
	assert_int_equal(rotated.rpm, 100);
	assert_int_equal(rotated.tpm, 5000);
	assert_int_equal(rotated.budget_micro, 25000000);

	/* The old key is revoked at the same moment; the name finds the new. */
	snprintf(ref, sizeof(ref), "%lld", (long long)k.id);
	assert_int_equal(aigw_store_key_get(f->store, ref, &old, NULL), 0);
	assert_int_equal(old.revoked_at, 1795398400);
	aigw_key_release(&old);
	assert_int_equal(aigw_store_key_get(f->store, "ci", &current, NULL), 0);
	assert_int_equal(current.id, rotated.id);
	aigw_key_release(&current);

	/* The old (revoked) key cannot be rotated again, nor changed. */
	assert_err(aigw_keys_rotate(f->store, ref, &old, secret, &err), err, AIGW_EFAIL,
		   "is revoked and cannot be rotated");
	struct aigw_key_changes c = { 0 };
	c.name = "renamed";
	assert_err(aigw_keys_update(f->store, ref, &c, &old, &err), err, AIGW_EFAIL,
		   "is revoked and cannot be changed");
	assert_err(aigw_keys_rotate(f->store, "ghost", &old, secret, &err), err,
		   AIGW_ENOTFOUND, "no key named 'ghost'");

	struct aigw_key *all;
	size_t n;
	assert_int_equal(aigw_store_key_list(f->store, &all, &n, NULL), 0);
	assert_int_equal(n, 2);
	aigw_keys_free(all, n);
	aigw_key_release(&k);
	aigw_key_release(&rotated);
}

static void test_keys_revoke_delete(void **state)
{
	struct fixture *f = *state;
	struct aigw_key k, out, got;
	struct aigw_key_changes c = { 0 };
	struct aigw_err err;
	char secret[AIGW_APIKEY_LEN + 1], ref[32];

	create_key(f, "ci", &k);
	snprintf(ref, sizeof(ref), "%lld", (long long)k.id);
	setenv("AIGW_NOW", "1795398500", 1);
	assert_int_equal(aigw_keys_revoke(f->store, "ci", &out, &err), 0);
	assert_int_equal(out.revoked_at, 1795398500);
	assert_int_equal(out.id, k.id);
	aigw_key_release(&out);
	assert_int_equal(aigw_store_key_get(f->store, ref, &got, NULL), 0);
	assert_int_equal(got.revoked_at, 1795398500);
	aigw_key_release(&got);

	/* A revoked key: not revoked twice, not rotated, not updated. */
	assert_err(aigw_keys_revoke(f->store, "ci", &out, &err), err, AIGW_EFAIL,
		   "key 'ci' is already revoked");
	assert_err(aigw_keys_rotate(f->store, "ci", &out, secret, &err), err, AIGW_EFAIL,
		   "key 'ci' is revoked and cannot be rotated");
	int64_t rpm = 5;
	c.rpm = &rpm;
	assert_err(aigw_keys_update(f->store, "ci", &c, &out, &err), err, AIGW_EFAIL,
		   "key 'ci' is revoked and cannot be changed");
	assert_err(aigw_keys_revoke(f->store, "ghost", &out, &err), err, AIGW_ENOTFOUND,
		   "no key named 'ghost'");

	/* A new key may take the name of a revoked one. */
	struct aigw_key again;
	create_key(f, "ci", &again);

	/* Delete by id removes that row only. */
	assert_int_equal(aigw_keys_delete(f->store, ref, &out, &err), 0);
	assert_int_equal(out.id, k.id);
	aigw_key_release(&out);
	assert_err(aigw_store_key_get(f->store, ref, &got, &err), err, AIGW_ENOTFOUND,
		   "no key with id");
	assert_int_equal(aigw_store_key_get(f->store, "ci", &got, NULL), 0);
	assert_int_equal(got.id, again.id);
	aigw_key_release(&got);
	assert_int_equal(aigw_keys_delete(f->store, "ci", &out, &err), 0);
	aigw_key_release(&out);
	assert_err(aigw_keys_delete(f->store, "ci", &out, &err), err, AIGW_ENOTFOUND,
		   "no key named 'ci'");
	assert_err(aigw_keys_delete(f->store, "424242", &out, &err), err, AIGW_ENOTFOUND,
		   "no key with id 424242");
	aigw_key_release(&k);
	aigw_key_release(&again);
}

/* =============================================================== nodes */

static void test_nodes_add(void **state)
{
	struct fixture *f = *state;
	struct aigw_node n, got;
	struct aigw_err err;

	node_fill(&n, "db-a", "https://api.example.com/v1");
	n.weight = 5;
	n.region = aigw_strdup("eu-west");
	n.origin = AIGW_ORIGIN_YAML; /* ignored: the database holds DB nodes */
	assert_int_equal(aigw_nodes_add(f->store, &f->conf, &n, &err), 0);
	assert_true(n.id > 0);
	assert_int_equal(n.origin, AIGW_ORIGIN_DB);
	assert_int_equal(n.created_at, NOW);
	assert_int_equal(n.updated_at, NOW);
	aigw_node_release(&n);
	assert_int_equal(aigw_store_node_get(f->store, "db-a", &got, NULL), 0);
	assert_int_equal(got.weight, 5);
	assert_string_equal(got.region, "eu-west");
	assert_string_equal(got.url, "https://api.example.com/v1");
	aigw_node_release(&got);

	/* The name of a YAML node is taken, and the message says where. */
	node_fill(&n, "yaml-a", "http://other:1");
	assert_err(aigw_nodes_add(f->store, &f->conf, &n, &err), err, AIGW_EEXIST,
		   "a node named 'yaml-a' is already defined in aigw.yaml:3:5");
	aigw_node_release(&n);
	node_fill(&n, "db-a", "http://other:1");
	assert_err(aigw_nodes_add(f->store, &f->conf, &n, &err), err, AIGW_EEXIST,
		   "a node named 'db-a' already exists");
	aigw_node_release(&n);
	node_fill(&n, "db-b", "ftp://other");
	assert_err(aigw_nodes_add(f->store, &f->conf, &n, &err), err, AIGW_EINVAL,
		   "must start with http:// or https://");
	aigw_node_release(&n);
	node_fill(&n, "db-b", "http://other");
	n.weight = 0;
	assert_err(aigw_nodes_add(f->store, &f->conf, &n, &err), err, AIGW_EINVAL,
		   "weight 0 is out of range");
	aigw_node_release(&n);
	node_fill(&n, "42", "http://other");
	assert_err(aigw_nodes_add(f->store, &f->conf, &n, &err), err, AIGW_EINVAL,
		   "invalid node name '42'");
	aigw_node_release(&n);
	assert_int_equal(node_count(f->store), 1);

	/* Without a configuration, only the database counts. */
	node_fill(&n, "yaml-a", "http://other:1");
	assert_int_equal(aigw_nodes_add(f->store, NULL, &n, &err), 0);
	aigw_node_release(&n);
}

static void test_nodes_update(void **state)
{
	struct fixture *f = *state;
	struct aigw_node_changes c = { 0 };
	struct aigw_node out, got;
	struct aigw_strv models = AIGW_STRV_INIT;
	struct aigw_err err;
	int64_t weight = 9, bad_weight = 0;
	bool standby = true;
	int provider = AIGW_PROVIDER_ANTHROPIC;

	add_db_node(f, "db-a");
	setenv("AIGW_NOW", "1795398600", 1);
	aigw_strv_push(&models, "claude-*");
	c.weight = &weight;
	c.standby = &standby;
	c.provider = &provider;
	c.models = &models;
	c.region = "us-east";
	c.api_key_env = "ANTHROPIC_API_KEY";
	assert_int_equal(aigw_nodes_update(f->store, &f->conf, "db-a", &c, &out, &err), 0);
	assert_int_equal(out.weight, 9);
	assert_int_equal(out.updated_at, 1795398600);
	assert_int_equal(out.created_at, NOW);
	aigw_node_release(&out);
	assert_int_equal(aigw_store_node_get(f->store, "db-a", &got, NULL), 0);
	assert_int_equal(got.weight, 9);
	assert_true(got.standby);
	assert_int_equal(got.provider, AIGW_PROVIDER_ANTHROPIC);
	assert_string_equal(got.region, "us-east");
	assert_string_equal(got.api_key_env, "ANTHROPIC_API_KEY");
	assert_string_equal(got.models.v[0], "claude-*");
	assert_string_equal(got.url, "http://db-a.lan:8000/v1"); /* untouched */
	aigw_node_release(&got);

	/* "" removes region and api_key_env. */
	memset(&c, 0, sizeof(c));
	c.region = "";
	c.api_key_env = "";
	assert_int_equal(aigw_nodes_update(f->store, &f->conf, "db-a", &c, &out, &err), 0);
	assert_null(out.region);
	assert_null(out.api_key_env);
	aigw_node_release(&out);

	/* An invalid change is refused and rolled back. */
	memset(&c, 0, sizeof(c));
	c.weight = &bad_weight;
	assert_err(aigw_nodes_update(f->store, &f->conf, "db-a", &c, &out, &err), err,
		   AIGW_EINVAL, "weight 0 is out of range");
	c.weight = NULL;
	c.url = "http://user:pw@host";
	assert_err(aigw_nodes_update(f->store, &f->conf, "db-a", &c, &out, &err), err,
		   AIGW_EINVAL, "credentials");
	assert_int_equal(aigw_store_node_get(f->store, "db-a", &got, NULL), 0);
	assert_int_equal(got.weight, 9);
	assert_string_equal(got.url, "http://db-a.lan:8000/v1");
	aigw_node_release(&got);

	/* YAML nodes are read-only here; unknown nodes are not found. */
	memset(&c, 0, sizeof(c));
	c.weight = &weight;
	assert_err(aigw_nodes_update(f->store, &f->conf, "yaml-a", &c, &out, &err), err,
		   AIGW_EFAIL, "node 'yaml-a' is defined in aigw.yaml:3:5; change it there");
	assert_err(aigw_nodes_update(f->store, &f->conf, "ghost", &c, &out, &err), err,
		   AIGW_ENOTFOUND, "no node named 'ghost'");
	/* The store is usable afterwards (no transaction left open). */
	add_db_node(f, "db-b");
	aigw_strv_release(&models);
}

static void test_nodes_set_state(void **state)
{
	struct fixture *f = *state;
	struct aigw_node out, got;
	struct aigw_err err;

	add_db_node(f, "db-a");
	assert_int_equal(aigw_nodes_set_state(f->store, &f->conf, "db-a", AIGW_NODE_DRAINING,
					      &out, &err), 0);
	assert_int_equal(out.state, AIGW_NODE_DRAINING);
	aigw_node_release(&out);
	assert_int_equal(aigw_store_node_get(f->store, "db-a", &got, NULL), 0);
	assert_int_equal(got.state, AIGW_NODE_DRAINING);
	aigw_node_release(&got);
	assert_int_equal(aigw_nodes_set_state(f->store, &f->conf, "db-a", AIGW_NODE_DISABLED,
					      &out, &err), 0);
	aigw_node_release(&out);
	assert_int_equal(aigw_store_node_get(f->store, "db-a", &got, NULL), 0);
	assert_int_equal(got.state, AIGW_NODE_DISABLED);
	aigw_node_release(&got);

	assert_err(aigw_nodes_set_state(f->store, &f->conf, "yaml-a", AIGW_NODE_DISABLED, &out,
					&err), err, AIGW_EFAIL,
		   "node 'yaml-a' is defined in aigw.yaml:3:5");
	assert_err(aigw_nodes_set_state(f->store, &f->conf, "db-a", 17, &out, &err), err,
		   AIGW_EINVAL, "unknown state");
	assert_err(aigw_nodes_set_state(f->store, &f->conf, "ghost", AIGW_NODE_ENABLED, &out,
					&err), err, AIGW_ENOTFOUND, "no node named 'ghost'");
}

static void test_nodes_remove(void **state)
{
	struct fixture *f = *state;
	static const char *const uses_a[] = { "db-a", NULL };
	struct aigw_node got;
	struct aigw_err err;

	add_db_node(f, "db-a");
	add_db_node(f, "db-unused");
	add_db_node(f, "db-used-by-yaml");
	assert_int_equal(add_route(f, "r1", "/v1/chat", NULL, NULL, uses_a, &err), 0);

	assert_err(aigw_nodes_remove(f->store, &f->conf, "db-a", &err), err, AIGW_EFAIL,
		   "node 'db-a' is used by route 'r1'");
	assert_err(aigw_nodes_remove(f->store, &f->conf, "db-used-by-yaml", &err), err,
		   AIGW_EFAIL, "node 'db-used-by-yaml' is used by route 'yaml-r'");
	assert_err(aigw_nodes_remove(f->store, &f->conf, "yaml-a", &err), err, AIGW_EFAIL,
		   "node 'yaml-a' is defined in aigw.yaml:3:5");
	assert_err(aigw_nodes_remove(f->store, &f->conf, "ghost", &err), err, AIGW_ENOTFOUND,
		   "no node named 'ghost'");
	assert_int_equal(node_count(f->store), 3);

	assert_int_equal(aigw_nodes_remove(f->store, &f->conf, "db-unused", &err), 0);
	assert_err(aigw_store_node_get(f->store, "db-unused", &got, &err), err, AIGW_ENOTFOUND,
		   "no node named 'db-unused'");
	/* Once the route is gone, so may the node be. */
	assert_int_equal(aigw_routes_remove(f->store, &f->conf, "r1", &err), 0);
	assert_int_equal(aigw_nodes_remove(f->store, &f->conf, "db-a", &err), 0);
	assert_int_equal(node_count(f->store), 1);
}

/* ------------------------------------------------------------- import */

static int import(struct fixture *f, const char *source, const char *text, bool replace,
		  size_t *added, size_t *updated, struct aigw_err *err)
{
	return aigw_nodes_import(f->store, &f->conf, source, text, strlen(text), replace, added,
				 updated, err);
}

static void test_nodes_import_json(void **state)
{
	struct fixture *f = *state;
	struct aigw_node got;
	struct aigw_err err;
	size_t added = 99, updated = 99;
	const char *good =
		"# exported nodes\n"
		"{\"name\": \"j1\", \"url\": \"http://j1:8000\", \"provider\": \"ollama\"}\n"
		"\n"
		"{\"name\": \"j2\", \"url\": \"https://j2/v1\", \"provider\": \"openai\", "
		"\"weight\": 3, \"models\": [\"gpt-*\"], \"enabled\": false}\n";

	assert_int_equal(import(f, "nodes.jsonl", good, false, &added, &updated, &err), 0);
	assert_int_equal(added, 2);
	assert_int_equal(updated, 0);
	assert_int_equal(aigw_store_node_get(f->store, "j2", &got, NULL), 0);
	assert_int_equal(got.weight, 3);
	assert_int_equal(got.state, AIGW_NODE_DISABLED);
	assert_int_equal(got.origin, AIGW_ORIGIN_DB);
	assert_int_equal(got.created_at, NOW);
	assert_string_equal(got.models.v[0], "gpt-*");
	aigw_node_release(&got);

	/* A bad record on line 3: nothing from the file is written, and the
	 * message names the line. */
	const char *bad =
		"{\"name\": \"j3\", \"url\": \"http://j3\", \"provider\": \"openai\"}\n"
		"{\"name\": \"j4\", \"url\": \"http://j4\", \"provider\": \"openai\"}\n"
		"{\"name\": \"j5\", \"url\": \"ftp://j5\", \"provider\": \"openai\"}\n";
	added = updated = 99;
	assert_err(import(f, "nodes.jsonl", bad, false, &added, &updated, &err), err,
		   AIGW_EINVAL, "nodes.jsonl:3");
	assert_non_null(strstr(err.msg, "ftp://j5"));
	assert_int_equal(added, 0);
	assert_int_equal(updated, 0);
	assert_int_equal(node_count(f->store), 2);

	const char *syntax =
		"{\"name\": \"j3\", \"url\": \"http://j3\", \"provider\": \"openai\"}\n"
		"{\"name\": \"j4\", \"url\": }\n";
	assert_err(import(f, "n.jsonl", syntax, false, &added, &updated, &err), err,
		   AIGW_EINVAL, "n.jsonl:2: invalid JSON");
	const char *unknown_key =
		"{\"name\": \"j3\", \"url\": \"http://j3\", \"provider\": \"openai\", \"wieght\": 2}\n";
	assert_err(import(f, "n.jsonl", unknown_key, false, &added, &updated, &err), err,
		   AIGW_EINVAL, "n.jsonl:1: wieght");
	assert_int_equal(node_count(f->store), 2);
}

static void test_nodes_import_yaml(void **state)
{
	struct fixture *f = *state;
	struct aigw_node got;
	struct aigw_err err;
	size_t added, updated;
	const char *good =
		"nodes:\n"
		"  - name: y1\n"
		"    url: http://y1:11434\n"
		"    provider: ollama\n"
		"  - name: y2\n"
		"    url: https://y2/v1\n"
		"    provider: anthropic\n"
		"    standby: true\n";

	assert_int_equal(import(f, "nodes.yaml", good, false, &added, &updated, &err), 0);
	assert_int_equal(added, 2);
	assert_int_equal(aigw_store_node_get(f->store, "y2", &got, NULL), 0);
	assert_int_equal(got.provider, AIGW_PROVIDER_ANTHROPIC);
	assert_true(got.standby);
	aigw_node_release(&got);

	/* A bad second record (line 4): the good first one is not written. */
	const char *bad =
		"- name: y3\n"
		"  url: http://y3\n"
		"  provider: openai\n"
		"- name: y4\n"
		"  url: http://y4\n"
		"  provider: openia\n";
	assert_err(import(f, "more.yaml", bad, false, &added, &updated, &err), err, AIGW_EINVAL,
		   "more.yaml:6");
	assert_non_null(strstr(err.msg, "openia"));
	assert_int_equal(added, 0);
	assert_int_equal(node_count(f->store), 2);
	assert_int_equal(aigw_store_node_get(f->store, "y3", &got, NULL), AIGW_ENOTFOUND);

	assert_err(import(f, "empty.yaml", "# nothing\n", false, &added, &updated, &err), err,
		   AIGW_EINVAL, "empty.yaml: no node records found");
	assert_err(import(f, "empty.jsonl", "", false, &added, &updated, &err), err,
		   AIGW_EINVAL, "no node records found");
}

static void test_nodes_import_duplicates_and_yaml_names(void **state)
{
	struct fixture *f = *state;
	struct aigw_err err;
	size_t added, updated;

	const char *twice =
		"{\"name\": \"d1\", \"url\": \"http://d1\", \"provider\": \"openai\"}\n"
		"{\"name\": \"d2\", \"url\": \"http://d2\", \"provider\": \"openai\"}\n"
		"{\"name\": \"d1\", \"url\": \"http://d1b\", \"provider\": \"openai\"}\n";
	assert_err(import(f, "dup.jsonl", twice, true, &added, &updated, &err), err, AIGW_EINVAL,
		   "dup.jsonl:3: node 'd1' appears twice (first at line 1)");
	assert_int_equal(node_count(f->store), 0);

	const char *yaml_name =
		"{\"name\": \"d1\", \"url\": \"http://d1\", \"provider\": \"openai\"}\n"
		"{\"name\": \"yaml-a\", \"url\": \"http://y\", \"provider\": \"openai\"}\n";
	/* Even with replace: a YAML node is never overwritten from here. */
	assert_err(import(f, "y.jsonl", yaml_name, true, &added, &updated, &err), err,
		   AIGW_EEXIST, "y.jsonl:2: node 'yaml-a' is defined in aigw.yaml:3:5");
	assert_int_equal(node_count(f->store), 0);
}

static void test_nodes_import_replace(void **state)
{
	struct fixture *f = *state;
	struct aigw_node got;
	struct aigw_err err;
	size_t added, updated;
	int64_t id;

	add_db_node(f, "db-a");
	assert_int_equal(aigw_store_node_get(f->store, "db-a", &got, NULL), 0);
	id = got.id;
	aigw_node_release(&got);
	setenv("AIGW_NOW", "1795399000", 1);

	const char *text =
		"{\"name\": \"new-1\", \"url\": \"http://n1\", \"provider\": \"openai\"}\n"
		"{\"name\": \"db-a\", \"url\": \"http://changed:9\", \"provider\": \"gemini\", "
		"\"weight\": 7}\n";
	/* Without replace an existing name fails the whole import. */
	assert_err(import(f, "r.jsonl", text, false, &added, &updated, &err), err, AIGW_EEXIST,
		   "r.jsonl:2: a node named 'db-a' already exists (use --replace to update it)");
	assert_int_equal(added, 0);
	assert_int_equal(updated, 0);
	assert_int_equal(node_count(f->store), 1);
	assert_int_equal(aigw_store_node_get(f->store, "new-1", &got, NULL), AIGW_ENOTFOUND);
	assert_int_equal(aigw_store_node_get(f->store, "db-a", &got, NULL), 0);
	assert_string_equal(got.url, "http://db-a.lan:8000/v1");
	aigw_node_release(&got);

	/* With replace the existing row is updated in place. */
	assert_int_equal(import(f, "r.jsonl", text, true, &added, &updated, &err), 0);
	assert_int_equal(added, 1);
	assert_int_equal(updated, 1);
	assert_int_equal(aigw_store_node_get(f->store, "db-a", &got, NULL), 0);
	assert_int_equal(got.id, id);
	assert_string_equal(got.url, "http://changed:9");
	assert_int_equal(got.provider, AIGW_PROVIDER_GEMINI);
	assert_int_equal(got.weight, 7);
	assert_int_equal(got.created_at, NOW);
	assert_int_equal(got.updated_at, 1795399000);
	aigw_node_release(&got);
	assert_int_equal(node_count(f->store), 2);

	/* Importing the same file again with replace only updates. */
	assert_int_equal(import(f, "r.jsonl", text, true, &added, &updated, &err), 0);
	assert_int_equal(added, 0);
	assert_int_equal(updated, 2);
	assert_int_equal(node_count(f->store), 2);
}

/* ============================================================== routes */

static void test_routes_add(void **state)
{
	struct fixture *f = *state;
	static const char *const a[] = { "db-a", NULL };
	static const char *const a_yaml[] = { "db-a", "yaml-a", NULL };
	static const char *const ghost[] = { "db-a", "ghost", NULL };
	struct aigw_route got;
	struct aigw_err err;

	add_db_node(f, "db-a");
	assert_int_equal(add_route(f, "chat", "/v1/chat", NULL, NULL, a_yaml, &err), 0);
	assert_int_equal(aigw_store_route_get(f->store, "chat", &got, NULL), 0);
	assert_int_equal(got.nodes.n, 2);
	assert_string_equal(got.nodes.v[1], "yaml-a");
	assert_int_equal(got.created_at, NOW);
	assert_int_equal(got.origin, AIGW_ORIGIN_DB);
	aigw_route_release(&got);

	assert_err(add_route(f, "r2", "/v1/x", NULL, NULL, ghost, &err), err, AIGW_ENOTFOUND,
		   "no node named 'ghost'");
	assert_err(add_route(f, "r2", "/v1/x", NULL, "nope", a, &err), err, AIGW_ENOTFOUND,
		   "no route named 'nope' to fall back to");
	assert_err(add_route(f, "chat", "/v1/other", NULL, NULL, a, &err), err, AIGW_EEXIST,
		   "a route named 'chat' already exists");
	assert_err(add_route(f, "yaml-r", "/v1/other", NULL, NULL, a, &err), err, AIGW_EEXIST,
		   "a route named 'yaml-r' already exists in aigw.yaml:10:5");
	assert_err(add_route(f, "r2", "v1/x", NULL, NULL, a, &err), err, AIGW_EINVAL,
		   "path 'v1/x' must start with '/'");
	assert_err(add_route(f, "self", "/v1/x", NULL, "self", a, &err), err, AIGW_EINVAL,
		   "fallback 'self' names the route itself");
	assert_int_equal(route_count(f->store), 1);

	/* A fallback that exists is fine, including a YAML route. */
	assert_int_equal(add_route(f, "r2", "/v1/x", NULL, "chat", a, &err), 0);
	assert_int_equal(add_route(f, "r3", "/v1/y", NULL, "yaml-r", a, &err), 0);
	assert_int_equal(route_count(f->store), 3);
}

static void test_routes_cycle(void **state)
{
	struct fixture *f = *state;
	static const char *const a[] = { "db-a", NULL };
	struct aigw_err err;

	add_db_node(f, "db-a");
	/* yaml-r falls back to db-back; db-back falling back to yaml-r (or to
	 * anything that reaches it) would close a loop. */
	assert_err(add_route(f, "db-back", "/v1/back", NULL, "yaml-r", a, &err), err,
		   AIGW_EFAIL, "fallback to 'yaml-r' would make a cycle");
	assert_int_equal(add_route(f, "mid", "/v1/mid", NULL, "yaml-r", a, &err), 0);
	assert_err(add_route(f, "db-back", "/v1/back", NULL, "mid", a, &err), err, AIGW_EFAIL,
		   "fallback to 'mid' would make a cycle");
	assert_int_equal(route_count(f->store), 1);
	/* Without the loop it is accepted. */
	assert_int_equal(add_route(f, "db-back", "/v1/back", NULL, NULL, a, &err), 0);
}

static void test_routes_tie(void **state)
{
	struct fixture *f = *state;
	static const char *const a[] = { "db-a", NULL };
	struct aigw_err err;

	add_db_node(f, "db-a");
	assert_int_equal(add_route(f, "t1", "/v1/chat", NULL, NULL, a, &err), 0);
	assert_err(add_route(f, "t2", "/v1/chat", NULL, NULL, a, &err), err, AIGW_EFAIL,
		   "route 't2' would tie with route 't1'");
	/* A tie with a YAML route counts too. */
	assert_err(add_route(f, "t3", "/v1/yaml", NULL, NULL, a, &err), err, AIGW_EFAIL,
		   "would tie with route 'yaml-r'");
	/* Overlapping globs of equal specificity tie; a more specific one or
	 * a disjoint one does not. */
	assert_int_equal(add_route(f, "g1", "/v1/chat", "gpt-*", NULL, a, &err), 0);
	assert_err(add_route(f, "g2", "/v1/chat", "*pt-4", NULL, a, &err), err, AIGW_EFAIL,
		   "route 'g2' would tie with route 'g1'");
	assert_int_equal(add_route(f, "g3", "/v1/chat", "gpt-4*", NULL, a, &err), 0);
	assert_int_equal(add_route(f, "g4", "/v1/chat", "abc-*", NULL, a, &err), 0);
	assert_int_equal(add_route(f, "t4", "/v1/chat/x", NULL, NULL, a, &err), 0);
	assert_int_equal(route_count(f->store), 5);
}

static void test_routes_remove(void **state)
{
	struct fixture *f = *state;
	static const char *const a[] = { "db-a", NULL };
	struct aigw_err err;

	add_db_node(f, "db-a");
	assert_int_equal(add_route(f, "base", "/v1/base", NULL, NULL, a, &err), 0);
	assert_int_equal(add_route(f, "top", "/v1/top", NULL, "base", a, &err), 0);
	/* db-back is yaml-r's fallback. */
	assert_int_equal(add_route(f, "db-back", "/v1/back", NULL, NULL, a, &err), 0);

	assert_err(aigw_routes_remove(f->store, &f->conf, "yaml-r", &err), err, AIGW_EFAIL,
		   "route 'yaml-r' is defined in aigw.yaml:10:5; change it there");
	assert_err(aigw_routes_remove(f->store, &f->conf, "base", &err), err, AIGW_EFAIL,
		   "route 'base' is the fallback of route 'top'");
	assert_err(aigw_routes_remove(f->store, &f->conf, "db-back", &err), err, AIGW_EFAIL,
		   "route 'db-back' is the fallback of route 'yaml-r'");
	assert_err(aigw_routes_remove(f->store, &f->conf, "ghost", &err), err, AIGW_ENOTFOUND,
		   "no route named 'ghost'");
	assert_int_equal(route_count(f->store), 3);

	assert_int_equal(aigw_routes_remove(f->store, &f->conf, "top", &err), 0);
	assert_int_equal(aigw_routes_remove(f->store, &f->conf, "base", &err), 0);
	assert_int_equal(route_count(f->store), 1);
	assert_err(aigw_routes_remove(f->store, &f->conf, "top", &err), err, AIGW_ENOTFOUND,
		   "no route named 'top'");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys_parse_expiry),
		T(test_keys_create),
		T(test_keys_update),
		T(test_keys_rotate),
		T(test_keys_revoke_delete),
		T(test_nodes_add),
		T(test_nodes_update),
		T(test_nodes_set_state),
		T(test_nodes_remove),
		T(test_nodes_import_json),
		T(test_nodes_import_yaml),
		T(test_nodes_import_duplicates_and_yaml_names),
		T(test_nodes_import_replace),
		T(test_routes_add),
		T(test_routes_cycle),
		T(test_routes_tie),
		T(test_routes_remove),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
