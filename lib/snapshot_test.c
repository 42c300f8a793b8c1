/* Tests for snapshot: building from config + store, key index, node
 * missing credentials, model list, references. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "mem.h"
#include "nodes.h"
#include "routes.h"
#include "snapshot.h"
#include "testutil.h"

struct fixture {
	char dir[64];
	struct aigw_store *store;
};

static int setup(void **state)
{
	struct fixture *f = aigw_calloc(1, sizeof(*f));
	char path[128];
	assert_non_null(aigw_test_tmpdir(f->dir, sizeof(f->dir), "snap"));
	snprintf(path, sizeof(path), "%s/a.db", f->dir);
	assert_int_equal(aigw_store_open(&f->store, path, AIGW_STORE_CREATE, NULL), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	aigw_store_close(f->store);
	aigw_test_rmtree(f->dir);
	free(f);
	return 0;
}

static void add_node(struct fixture *f, const char *name, const char *models, const char *env,
		     int state)
{
	struct aigw_node n;
	aigw_node_init(&n);
	n.name = aigw_strdup(name);
	n.url = aigw_strdup("http://127.0.0.1:9");
	if (env)
		n.api_key_env = aigw_strdup(env);
	assert_int_equal(aigw_strv_split(&n.models, models, ',', NULL), 0);
	n.state = state;
	assert_int_equal(aigw_nodes_add(f->store, NULL, &n, NULL), 0);
	aigw_node_release(&n);
}

static void test_build_and_lookup(void **state)
{
	struct fixture *f = *state;
	struct aigw_key_changes kc = { .name = "ci" };
	struct aigw_key k, r;
	char secret[AIGW_APIKEY_LEN + 1], other[AIGW_APIKEY_LEN + 1];
	uint8_t hash[AIGW_APIKEY_HASH_LEN];
	struct aigw_snapshot *s, *held;
	struct aigw_route route;
	const struct aigw_key *found;

	setenv("AIGW_SNAP_TEST_KEY", "sk-secret", 1);
	unsetenv("AIGW_SNAP_TEST_UNSET");
	add_node(f, "a", "gpt-4o,gpt-4o-mini", "AIGW_SNAP_TEST_KEY", AIGW_NODE_ENABLED);
	add_node(f, "b", "llama*,gpt-4o", "AIGW_SNAP_TEST_UNSET", AIGW_NODE_ENABLED);
	add_node(f, "c", "claude-3", NULL, AIGW_NODE_DISABLED);
	aigw_route_init(&route);
	route.name = aigw_strdup("chat");
	route.path = aigw_strdup("/v1/chat/completions");
	aigw_strv_push(&route.nodes, "b");
	aigw_strv_push(&route.nodes, "a");
	assert_int_equal(aigw_routes_add(f->store, NULL, &route, NULL), 0);
	aigw_route_release(&route);
	assert_int_equal(aigw_keys_create(f->store, &kc, &k, secret, NULL), 0);
	assert_int_equal(aigw_keys_rotate(f->store, "ci", &r, other, NULL), 0);

	assert_int_equal(aigw_snapshot_build(NULL, f->store, &s, NULL), 0);
	/* keys: both the revoked original and its replacement are indexed */
	aigw_apikey_hash(other, strlen(other), hash);
	found = aigw_snapshot_key(s, hash);
	assert_non_null(found);
	assert_int_equal(found->id, r.id);
	assert_int_equal(found->revoked_at, 0);
	aigw_apikey_hash(secret, strlen(secret), hash);
	found = aigw_snapshot_key(s, hash);
	assert_non_null(found);
	assert_true(found->revoked_at != 0);
	aigw_apikey_hash("aigw_nope", 9, hash);
	assert_null(aigw_snapshot_key(s, hash));
	/* a variable named but unset is noticed at build time */
	int a = aigw_snapshot_node_index(s, "a"), b = aigw_snapshot_node_index(s, "b");
	assert_false(s->nodes[a].credential_missing);
	assert_true(s->nodes[b].credential_missing);
	/* routes resolve their nodes in order */
	assert_int_equal(s->cat.n_routes, 1);
	assert_int_equal(s->routes[0].n, 2);
	assert_int_equal(s->routes[0].node[0], b);
	assert_int_equal(s->routes[0].node[1], a);
	/* models: enabled nodes only, no globs, sorted, no duplicates */
	assert_int_equal(s->models.n, 2);
	assert_string_equal(s->models.v[0], "gpt-4o");
	assert_string_equal(s->models.v[1], "gpt-4o-mini");

	/* a reference keeps it alive past the builder's unref */
	held = aigw_snapshot_ref(s);
	aigw_snapshot_unref(s);
	assert_int_equal(aigw_snapshot_node_index(held, "a"), a);
	assert_false(held->nodes[a].credential_missing);
	aigw_snapshot_unref(held);
	aigw_key_release(&k);
	aigw_key_release(&r);
}

static void test_many_keys_index(void **state)
{
	struct fixture *f = *state;
	char secrets[300][AIGW_APIKEY_LEN + 1];
	struct aigw_snapshot *s;
	(void)state;

	for (int i = 0; i < 300; i++) {
		char name[16];
		struct aigw_key_changes kc = { .name = name };
		struct aigw_key k;
		snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(aigw_keys_create(f->store, &kc, &k, secrets[i], NULL), 0);
		aigw_key_release(&k);
	}
	assert_int_equal(aigw_snapshot_build(NULL, f->store, &s, NULL), 0);
	for (int i = 0; i < 300; i++) {
		uint8_t hash[AIGW_APIKEY_HASH_LEN];
		char name[16];
		aigw_apikey_hash(secrets[i], AIGW_APIKEY_LEN, hash);
		snprintf(name, sizeof(name), "k%d", i);
		assert_string_equal(aigw_snapshot_key(s, hash)->name, name);
	}
	aigw_snapshot_unref(s);
}

static void test_without_store(void **state)
{
	struct aigw_snapshot *s;
	uint8_t hash[AIGW_APIKEY_HASH_LEN] = { 0 };
	(void)state;
	assert_int_equal(aigw_snapshot_build(NULL, NULL, &s, NULL), 0);
	assert_null(aigw_snapshot_key(s, hash));
	assert_int_equal(s->models.n, 0);
	aigw_snapshot_unref(s);
	aigw_snapshot_unref(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_build_and_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_keys_index, setup, teardown),
		cmocka_unit_test(test_without_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
