/* catalog_test: loading, candidate order and the whole-configuration check. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "mem.h"

/* ------------------------------------------------------------ builders */

struct node_spec {
	const char *name;
	int state;
	bool standby;
	const char *models;      /* comma-separated; NULL or "" for any */
	const char *api_key_env;
	const char *where;       /* set: a YAML node */
};

struct route_spec {
	const char *name;
	const char *path;
	const char *model;
	const char *nodes;       /* comma-separated */
	const char *fallback;
	const char *where;
};

static void make_node(struct aigw_node *n, const struct node_spec *s)
{
	aigw_node_init(n);
	n->name = aigw_strdup(s->name);
	n->url = aigw_strdup("https://api.example.com/v1");
	n->state = s->state;
	n->standby = s->standby;
	if (s->models)
		assert_int_equal(aigw_strv_split(&n->models, s->models, ',', NULL), 0);
	n->api_key_env = s->api_key_env ? aigw_strdup(s->api_key_env) : NULL;
	if (s->where) {
		n->origin = AIGW_ORIGIN_YAML;
		n->where = aigw_strdup(s->where);
	}
}

static void make_route(struct aigw_route *r, const struct route_spec *s)
{
	aigw_route_init(r);
	r->name = aigw_strdup(s->name);
	r->path = aigw_strdup(s->path ? s->path : "/v1/chat");
	r->model = s->model ? aigw_strdup(s->model) : NULL;
	assert_int_equal(aigw_strv_split(&r->nodes, s->nodes, ',', NULL), 0);
	r->fallback = s->fallback ? aigw_strdup(s->fallback) : NULL;
	if (s->where) {
		r->origin = AIGW_ORIGIN_YAML;
		r->where = aigw_strdup(s->where);
	}
}

/* Builds a catalog directly from specs (no conf, no store). */
static void make_catalog(struct aigw_catalog *c, const struct node_spec *nodes, size_t nn,
			 const struct route_spec *routes, size_t nr)
{
	c->nodes = aigw_calloc(nn, sizeof(*c->nodes));
	c->n_nodes = nn;
	for (size_t i = 0; i < nn; i++)
		make_node(&c->nodes[i], &nodes[i]);
	c->routes = aigw_calloc(nr, sizeof(*c->routes));
	c->n_routes = nr;
	for (size_t i = 0; i < nr; i++)
		make_route(&c->routes[i], &routes[i]);
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* -------------------------------------------------------------- load */

static void test_load_copies_conf(void **state)
{
	static const struct node_spec ns[] = {
		{ "a", AIGW_NODE_ENABLED, false, "gpt-*", NULL, "aigw.yaml:3:5" },
		{ "b", AIGW_NODE_ENABLED, true, NULL, NULL, "aigw.yaml:9:5" },
	};
	static const struct route_spec rs[] = {
		{ "chat", "/v1/chat", NULL, "a,b", NULL, "aigw.yaml:20:5" },
	};
	struct aigw_catalog built, c;
	struct aigw_conf conf;
	(void)state;

	make_catalog(&built, ns, COUNT(ns), rs, COUNT(rs));
	memset(&conf, 0, sizeof(conf));
	conf.nodes = built.nodes;
	conf.n_nodes = built.n_nodes;
	conf.routes = built.routes;
	conf.n_routes = built.n_routes;

	assert_int_equal(aigw_catalog_load(&c, &conf, NULL, NULL), 0);
	aigw_catalog_release(&built); /* the catalog must not share memory */
	assert_int_equal(c.n_nodes, 2);
	assert_int_equal(c.n_routes, 1);
	assert_string_equal(aigw_catalog_node(&c, "b")->where, "aigw.yaml:9:5");
	assert_true(aigw_catalog_node(&c, "b")->standby);
	assert_string_equal(aigw_catalog_node(&c, "a")->models.v[0], "gpt-*");
	assert_string_equal(aigw_catalog_route(&c, "chat")->nodes.v[1], "b");
	assert_int_equal(aigw_catalog_route(&c, "chat")->origin, AIGW_ORIGIN_YAML);
	assert_null(aigw_catalog_node(&c, "chat"));
	assert_null(aigw_catalog_route(&c, "a"));
	aigw_catalog_release(&c);
	assert_int_equal(c.n_nodes, 0);
	assert_null(c.nodes);
	aigw_catalog_release(&c); /* twice is harmless */

	assert_int_equal(aigw_catalog_load(&c, NULL, NULL, NULL), 0);
	assert_int_equal(c.n_nodes, 0);
	assert_int_equal(c.n_routes, 0);
	assert_null(aigw_catalog_node(&c, "a"));
	aigw_catalog_release(&c);
}

/* The database rows come after the YAML entries, and a name in both places
 * is reported with the YAML location. */
static void test_load_with_store(void **state)
{
	static const struct node_spec yaml_nodes[] = {
		{ "shared", AIGW_NODE_ENABLED, false, NULL, NULL, "aigw.yaml:3:5" },
	};
	static const struct node_spec db_nodes[] = {
		{ "local", AIGW_NODE_ENABLED, false, "llama*", NULL, NULL },
		{ "shared", AIGW_NODE_ENABLED, false, NULL, NULL, NULL },
	};
	static const struct route_spec db_route = { "chat", "/v1/chat", NULL, "local,shared",
						    NULL, NULL };
	char dir[] = "/tmp/aigw-catalog-test-XXXXXX";
	char path[sizeof(dir) + 16];
	struct aigw_store *store = NULL;
	struct aigw_err err = { 0, "" };
	struct aigw_catalog built, c;
	struct aigw_conf conf;
	struct aigw_strv problems = AIGW_STRV_INIT;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/aigw.db", dir);
	if (aigw_store_open(&store, path, AIGW_STORE_CREATE, &err))
		fail_msg("open: %s", err.msg);
	for (size_t i = 0; i < COUNT(db_nodes); i++) {
		struct aigw_node n;
		make_node(&n, &db_nodes[i]);
		if (aigw_store_node_insert(store, &n, &err))
			fail_msg("node insert: %s", err.msg);
		aigw_node_release(&n);
	}
	{
		struct aigw_route r;
		make_route(&r, &db_route);
		if (aigw_store_route_insert(store, &r, &err))
			fail_msg("route insert: %s", err.msg);
		aigw_route_release(&r);
	}

	make_catalog(&built, yaml_nodes, COUNT(yaml_nodes), NULL, 0);
	memset(&conf, 0, sizeof(conf));
	conf.nodes = built.nodes;
	conf.n_nodes = built.n_nodes;
	if (aigw_catalog_load(&c, &conf, store, &err))
		fail_msg("load: %s", err.msg);
	aigw_catalog_release(&built);

	assert_int_equal(c.n_nodes, 3);
	assert_string_equal(c.nodes[0].name, "shared");
	assert_int_equal(c.nodes[0].origin, AIGW_ORIGIN_YAML);
	assert_int_equal(c.nodes[1].origin, AIGW_ORIGIN_DB);
	assert_int_equal(c.n_routes, 1);
	assert_string_equal(c.routes[0].nodes.v[0], "local");
	assert_true(c.routes[0].id > 0);
	/* lookups find the YAML definition first */
	assert_int_equal(aigw_catalog_node(&c, "shared")->origin, AIGW_ORIGIN_YAML);

	assert_int_equal(aigw_catalog_check(&c, &problems), 1);
	assert_string_equal(problems.v[0],
			    "node 'shared' is defined both in aigw.yaml:3:5 and in the database");

	aigw_strv_release(&problems);
	aigw_catalog_release(&c);
	aigw_store_close(store);
	unlink(path);
	snprintf(path, sizeof(path), "%s/aigw.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/aigw.db-shm", dir);
	unlink(path);
	rmdir(dir);
}

/* -------------------------------------------------------- candidates */

static const struct node_spec cand_nodes[] = {
	{ "gpt", AIGW_NODE_ENABLED, false, "gpt-*", NULL, NULL },
	{ "spare", AIGW_NODE_ENABLED, true, NULL, NULL, NULL },
	{ "off", AIGW_NODE_DISABLED, false, NULL, NULL, NULL },
	{ "leaving", AIGW_NODE_DRAINING, false, NULL, NULL, NULL },
	{ "claude", AIGW_NODE_ENABLED, false, "claude-*", NULL, NULL },
	{ "any", AIGW_NODE_ENABLED, false, NULL, NULL, NULL },
	{ "spare-off", AIGW_NODE_DISABLED, true, NULL, NULL, NULL },
	{ "spare-gpt", AIGW_NODE_ENABLED, true, "gpt-4*", NULL, NULL },
};

struct cand_want {
	const char *name;
	bool eligible;
	const char *reason;
};

static void check_candidates(const struct aigw_catalog *c, const char *model,
			     const struct cand_want *want, size_t n_want)
{
	struct aigw_candidate *list;
	size_t n;

	assert_int_equal(aigw_catalog_candidates(c, &c->routes[0], model, &list, &n), 0);
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(list[i].name, want[i].name) != 0 ||
		    list[i].eligible != want[i].eligible ||
		    strcmp(list[i].reason, want[i].reason) != 0)
			fail_msg("model %s, candidate %zu: got %s/%d/%s, want %s/%d/%s",
				 model ? model : "-", i, list[i].name, list[i].eligible,
				 list[i].reason, want[i].name, want[i].eligible, want[i].reason);
		if (strcmp(list[i].reason, "unknown node") == 0)
			assert_null(list[i].node);
		else
			assert_ptr_equal(list[i].node, aigw_catalog_node(c, list[i].name));
	}
	free(list);
}

static void test_candidates(void **state)
{
	static const struct route_spec rs[] = {
		{ "chat", "/v1/chat", NULL,
		  "spare-off,spare,off,gpt,ghost,leaving,claude,spare-gpt,any", NULL, NULL },
	};
	static const struct cand_want for_gpt4[] = {
		{ "gpt", true, "active" },
		{ "any", true, "active" },
		{ "spare", true, "standby" },
		{ "spare-gpt", true, "standby" },
		{ "spare-off", false, "disabled" },
		{ "off", false, "disabled" },
		{ "ghost", false, "unknown node" },
		{ "leaving", false, "draining" },
		{ "claude", false, "does not serve model" },
	};
	static const struct cand_want for_claude[] = {
		{ "claude", true, "active" },
		{ "any", true, "active" },
		{ "spare", true, "standby" },
		{ "spare-off", false, "disabled" },
		{ "off", false, "disabled" },
		{ "gpt", false, "does not serve model" },
		{ "ghost", false, "unknown node" },
		{ "leaving", false, "draining" },
		{ "spare-gpt", false, "does not serve model" },
	};
	/* A request without a model only goes to nodes that serve any. */
	static const struct cand_want for_none[] = {
		{ "any", true, "active" },
		{ "spare", true, "standby" },
		{ "spare-off", false, "disabled" },
		{ "off", false, "disabled" },
		{ "gpt", false, "does not serve model" },
		{ "ghost", false, "unknown node" },
		{ "leaving", false, "draining" },
		{ "claude", false, "does not serve model" },
		{ "spare-gpt", false, "does not serve model" },
	};
	struct aigw_catalog c;
	(void)state;

	make_catalog(&c, cand_nodes, COUNT(cand_nodes), rs, COUNT(rs));
	check_candidates(&c, "gpt-4o", for_gpt4, COUNT(for_gpt4));
	check_candidates(&c, "claude-3", for_claude, COUNT(for_claude));
	check_candidates(&c, NULL, for_none, COUNT(for_none));
	aigw_catalog_release(&c);
}

static void test_candidates_empty_route(void **state)
{
	struct aigw_catalog c = { NULL, 0, NULL, 0 };
	struct aigw_route r;
	struct aigw_candidate *list = NULL;
	size_t n = 99;
	(void)state;

	aigw_route_init(&r);
	assert_int_equal(aigw_catalog_candidates(&c, &r, "m", &list, &n), 0);
	assert_int_equal(n, 0);
	free(list);
}

/* ------------------------------------------------------------- check */

static void expect_problems(const struct aigw_catalog *c, const char *const *want, size_t n)
{
	struct aigw_strv problems = AIGW_STRV_INIT;
	size_t got = aigw_catalog_check(c, &problems);

	for (size_t i = 0; i < problems.n || i < n; i++) {
		const char *g = i < problems.n ? problems.v[i] : "(none)";
		const char *w = i < n ? want[i] : "(none)";
		if (strcmp(g, w) != 0)
			fail_msg("problem %zu:\n   got: %s\n  want: %s", i, g, w);
	}
	assert_int_equal(got, n);
	assert_int_equal(problems.n, n);
	aigw_strv_release(&problems);
}

static void test_check_clean(void **state)
{
	static const struct node_spec ns[] = {
		{ "a", AIGW_NODE_ENABLED, false, NULL, "AIGW_CATALOG_TEST_KEY", "aigw.yaml:3:5" },
		{ "b", AIGW_NODE_DISABLED, false, NULL, NULL, NULL },
		{ "c", AIGW_NODE_ENABLED, true, NULL, NULL, NULL },
	};
	static const struct route_spec rs[] = {
		{ "chat", "/v1/chat", NULL, "a,b", "backup", "aigw.yaml:20:5" },
		{ "backup", "/v1/chat", "gpt-*", "c", "last", NULL },
		{ "gpt4o", "/v1/chat", "gpt-4o*", "a", "last", NULL },
		{ "mini", "/v1/chat", "*-mini", "a", NULL, NULL }, /* overlaps, 5 literals */
		{ "last", "/", NULL, "a", NULL, NULL },
	};
	struct aigw_catalog c;
	struct aigw_strv problems = AIGW_STRV_INIT;
	(void)state;

	setenv("AIGW_CATALOG_TEST_KEY", "sk-test", 1);
	make_catalog(&c, ns, COUNT(ns), rs, COUNT(rs));
	expect_problems(&c, NULL, 0);

	/* problems are appended; the count is of this call's lines only */
	aigw_strv_push(&problems, "earlier");
	assert_int_equal(aigw_catalog_check(&c, &problems), 0);
	assert_int_equal(problems.n, 1);
	aigw_strv_release(&problems);
	aigw_catalog_release(&c);

	make_catalog(&c, NULL, 0, NULL, 0);
	expect_problems(&c, NULL, 0);
	aigw_catalog_release(&c);
	unsetenv("AIGW_CATALOG_TEST_KEY");
}

static void test_check_every_problem(void **state)
{
	static const struct node_spec ns[] = {
		{ "a", AIGW_NODE_ENABLED, false, NULL, NULL, "aigw.yaml:3:5" },
		{ "off", AIGW_NODE_DISABLED, false, NULL, NULL, NULL },
		{ "leaving", AIGW_NODE_DRAINING, false, NULL, NULL, NULL },
		{ "keyed", AIGW_NODE_ENABLED, false, NULL, "AIGW_CATALOG_TEST_UNSET", NULL },
		{ "a", AIGW_NODE_ENABLED, false, NULL, NULL, NULL },
		{ "empty-key", AIGW_NODE_ENABLED, false, NULL, "AIGW_CATALOG_TEST_EMPTY", NULL },
	};
	static const struct route_spec rs[] = {
		{ "chat", "/v1/chat", NULL, "a,n9", NULL, "aigw.yaml:20:5" },
		{ "dead", "/v1/dead", NULL, "off,leaving", NULL, NULL },
		{ "lost", "/v1/lost", NULL, "ghost", "zz", NULL },
		{ "x", "/x", NULL, "a", "p", NULL },        /* leads into the cycle */
		{ "p", "/p", NULL, "a", "q", NULL },
		{ "q", "/q", NULL, "a", "p", NULL },
		{ "s", "/s", NULL, "a", "s", NULL },
		{ "t1", "/t", NULL, "a", "t2", NULL },
		{ "t2", "/t2", NULL, "a", "t3", NULL },
		{ "t3", "/t3", NULL, "a", "t1", NULL },
		{ "gpt4q", "/v1/chat", "gpt-4?", "a", NULL, NULL },
		{ "chat", "/v1/chat", NULL, "a", NULL, NULL },
		{ "gpto", "/v1/chat", "gpt-?o", "a", NULL, NULL },
		{ "plain", "/v1/chat", NULL, "a", NULL, NULL },
	};
	static const char *const want[] = {
		"node 'a' is defined both in aigw.yaml:3:5 and in the database",
		"route 'chat' names unknown node 'n9'",
		"routes 'chat' and 'plain' tie (same path, method, headers and equally specific "
		"overlapping models)",
		"route 'dead' has no enabled node",
		"route 'lost' names unknown node 'ghost'",
		"route 'lost' has no enabled node",
		"route 'lost' falls back to unknown route 'zz'",
		"fallback cycle: p -> q -> p",
		"fallback cycle: s -> s",
		"fallback cycle: t1 -> t2 -> t3 -> t1",
		"routes 'gpt4q' and 'gpto' tie (same path, method, headers and equally specific "
		"overlapping models)",
		"route 'chat' is defined both in aigw.yaml:20:5 and in the database",
	};
	struct aigw_catalog c;
	(void)state;

	unsetenv("AIGW_CATALOG_TEST_UNSET");
	setenv("AIGW_CATALOG_TEST_EMPTY", "", 1);
	make_catalog(&c, ns, COUNT(ns), rs, COUNT(rs));
	expect_problems(&c, want, COUNT(want));
	/* The same catalog gives the same lines in the same order. */
	expect_problems(&c, want, COUNT(want));
	aigw_catalog_release(&c);
	unsetenv("AIGW_CATALOG_TEST_EMPTY");
}

/* A name defined twice in YAML (conf refuses it, but the check must not
 * depend on that) names both places. */
static void test_check_duplicate_locations(void **state)
{
	static const struct node_spec ns[] = {
		{ "a", AIGW_NODE_ENABLED, false, NULL, NULL, "aigw.yaml:3:5" },
		{ "a", AIGW_NODE_ENABLED, false, NULL, NULL, "aigw.yaml:9:5" },
		{ "a", AIGW_NODE_ENABLED, false, NULL, NULL, NULL },
	};
	static const struct route_spec rs[] = {
		{ "r", "/v1", NULL, "a", NULL, NULL },
		{ "r", "/v1", NULL, "a", NULL, "aigw.yaml:30:5" },
	};
	static const char *const want[] = {
		"node 'a' is defined both in aigw.yaml:3:5 and in aigw.yaml:9:5",
		"node 'a' is defined both in aigw.yaml:3:5 and in the database",
		"route 'r' is defined both in the database and in aigw.yaml:30:5",
	};
	struct aigw_catalog c;
	(void)state;

	make_catalog(&c, ns, COUNT(ns), rs, COUNT(rs));
	expect_problems(&c, want, COUNT(want));
	aigw_catalog_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_copies_conf),
		cmocka_unit_test(test_load_with_store),
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_candidates_empty_route),
		cmocka_unit_test(test_check_clean),
		cmocka_unit_test(test_check_every_problem),
		cmocka_unit_test(test_check_duplicate_locations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
