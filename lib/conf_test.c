/* conf_test: aigw.yaml loading, errors with positions, ${VAR} expansion,
 * locating the file, node imports (YAML and JSON) and the man page text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "mem.h"

#define NAME "t.yaml"

static int load(struct aigw_conf *c, const char *text, struct aigw_err *err)
{
	return aigw_conf_load_string(c, NAME, text, strlen(text), err);
}

static void assert_prefix(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

static void assert_contains(const char *s, const char *part)
{
	if (!strstr(s, part))
		fail_msg("'%s' does not contain '%s'", s, part);
}

/* ----------------------------------------------------------- good files */

static const char full_config[] =
	"# a complete file\n"
	"log_level: debug\n"
	"nodes:\n"
	"  - name: openai-main\n"
	"    provider: openai\n"
	"    url: https://api.openai.com/v1\n"
	"    api_key_env: OPENAI_API_KEY\n"
	"    type: cloud\n"
	"    region: us-east\n"
	"    models: [gpt-4o, \"gpt-4o-mini\"]\n"
	"    weight: 5\n"
	"    max_concurrency: 64\n"
	"  - name: local\n"
	"    provider: ollama\n"
	"    url: http://127.0.0.1:11434\n"
	"    type: edge\n"
	"    models: llama3, qwen*\n"
	"    standby: yes\n"
	"    enabled: false\n"
	"routes:\n"
	"  - name: chat\n"
	"    path: /v1/chat/completions\n"
	"    method: POST\n"
	"    model: \"gpt-*\"\n"
	"    headers:\n"
	"      - \"X-Team: research\"\n"
	"    nodes: [openai-main, local]\n"
	"    policy: weighted\n"
	"    retries: 2\n"
	"    timeout: 1m30s\n"
	"    fallback: backup\n"
	"  - name: backup\n"
	"    path: /v1\n"
	"    nodes: local\n"
	"    connect_timeout: 2s\n"
	"    first_byte_timeout: 20s\n"
	"    idle_timeout: 1m\n";

static void test_full_config(void **state)
{
	struct aigw_conf c;
	struct aigw_err err = { 0, "" };
	const struct aigw_node *n;
	const struct aigw_route *r;

	(void)state;
	aigw_conf_init(&c);
	assert_int_equal(load(&c, full_config, &err), 0);
	assert_string_equal(c.path, NAME);
	assert_int_equal(c.log_level, AIGW_LOG_DEBUG);
	assert_int_equal(c.n_nodes, 2);
	assert_int_equal(c.n_routes, 2);

	n = &c.nodes[0];
	assert_string_equal(n->name, "openai-main");
	assert_string_equal(n->url, "https://api.openai.com/v1");
	assert_int_equal(n->provider, AIGW_PROVIDER_OPENAI);
	assert_int_equal(n->type, AIGW_NODE_CLOUD);
	assert_string_equal(n->region, "us-east");
	assert_string_equal(n->api_key_env, "OPENAI_API_KEY");
	assert_int_equal(n->models.n, 2);
	assert_string_equal(n->models.v[0], "gpt-4o");
	assert_string_equal(n->models.v[1], "gpt-4o-mini");
	assert_int_equal(n->weight, 5);
	assert_int_equal(n->max_concurrency, 64);
	assert_false(n->standby);
	assert_int_equal(n->state, AIGW_NODE_ENABLED);
	assert_int_equal(n->origin, AIGW_ORIGIN_YAML);
	assert_string_equal(n->where, "t.yaml:4:5");
	assert_int_equal(n->id, 0);

	n = &c.nodes[1];
	assert_string_equal(n->name, "local");
	assert_int_equal(n->provider, AIGW_PROVIDER_OLLAMA);
	assert_int_equal(n->type, AIGW_NODE_EDGE);
	assert_null(n->region);
	assert_null(n->api_key_env);
	assert_int_equal(n->models.n, 2);
	assert_string_equal(n->models.v[0], "llama3");
	assert_string_equal(n->models.v[1], "qwen*");
	assert_int_equal(n->weight, 1);
	assert_int_equal(n->max_concurrency, 0);
	assert_true(n->standby);
	assert_int_equal(n->state, AIGW_NODE_DISABLED);
	assert_string_equal(n->where, "t.yaml:13:5");

	r = &c.routes[0];
	assert_string_equal(r->name, "chat");
	assert_string_equal(r->path, "/v1/chat/completions");
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->model, "gpt-*");
	assert_int_equal(r->headers.n, 1);
	assert_string_equal(r->headers.v[0], "X-Team: research");
	assert_int_equal(r->nodes.n, 2);
	assert_string_equal(r->nodes.v[0], "openai-main");
	assert_string_equal(r->nodes.v[1], "local");
	assert_int_equal(r->policy, AIGW_POLICY_WEIGHTED);
	assert_int_equal(r->retries, 2);
	assert_int_equal(r->timeout_ms, 90000);
	assert_int_equal(r->connect_timeout_ms, 0);
	assert_int_equal(r->first_byte_timeout_ms, 0);
	assert_int_equal(r->idle_timeout_ms, 0);
	assert_string_equal(r->fallback, "backup");
	assert_int_equal(r->origin, AIGW_ORIGIN_YAML);
	assert_string_equal(r->where, "t.yaml:21:5");

	r = &c.routes[1];
	assert_string_equal(r->name, "backup");
	assert_null(r->method);
	assert_null(r->model);
	assert_null(r->fallback);
	assert_int_equal(r->nodes.n, 1);
	assert_int_equal(r->policy, AIGW_POLICY_ROUND_ROBIN);
	assert_int_equal(r->retries, 0);
	assert_int_equal(r->timeout_ms, 0);
	assert_int_equal(r->connect_timeout_ms, 2000);
	assert_int_equal(r->first_byte_timeout_ms, 20000);
	assert_int_equal(r->idle_timeout_ms, 60000);
	assert_string_equal(r->where, "t.yaml:32:5");
	aigw_conf_release(&c);
}

static void test_defaults(void **state)
{
	static const char *const texts[] = {
		"", "\n\n", "# only a comment\n   # and another\n", "---\n", "---\n...\n", "~\n",
		"log_level:\nnodes:\nroutes: []\n",
	};
	struct aigw_conf c;
	struct aigw_err err = { 0, "" };

	(void)state;
	aigw_conf_init(&c);
	assert_null(c.path);
	assert_int_equal(c.log_level, AIGW_LOG_INFO);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (load(&c, texts[i], &err) != 0)
			fail_msg("'%s': %s", texts[i], err.msg);
		assert_string_equal(c.path, NAME);
		assert_int_equal(c.log_level, AIGW_LOG_INFO);
		assert_int_equal(c.n_nodes, 0);
		assert_int_equal(c.n_routes, 0);
	}
	aigw_conf_release(&c);
}

/* The standby section: defaults, values, refusals that change nothing. */
static void test_standby(void **state)
{
	static const struct {
		const char *yaml, *msg;
	} bad[] = {
		{ "standby: {threshold: 0}\n", "t.yaml:1:10: standby: threshold must be" },
		{ "standby: {capacity: 0}\n", "t.yaml:1:10: standby: capacity must be" },
		{ "standby: {alpha: 0}\n", "t.yaml:1:10: standby: alpha must be in (0, 1]" },
		{ "standby: {beta: 1.5}\n", "t.yaml:1:17: standby.beta: 1.5 is out of range (0..1)" },
		{ "standby: {capacity: x}\n", "t.yaml:1:21: standby.capacity: 'x' is not a number" },
		{ "standby: {capacity: nan}\n", "t.yaml:1:21: standby.capacity: 'nan' is not a number" },
		{ "standby: {horizon: 2h}\n", "t.yaml:1:20: standby.horizon: 2h is out of range" },
		{ "standby: [1]\n", "t.yaml:1:10: standby: expected a mapping of standby settings" },
		{ "standby: {quiet: 1s, quiet: 2s}\n", "t.yaml:1:22: standby.quiet: duplicate" },
	};
	struct aigw_conf c;
	struct aigw_err err = { 0, "" };

	(void)state;
	aigw_conf_init(&c);
	assert_true(c.standby.threshold == 0.8 && c.standby.capacity == 100);
	assert_true(c.standby.quiet_ms == 60000 && c.standby.horizon_ms == 5000);
	assert_true(c.standby.alpha == 0.5 && c.standby.beta == 0.3);
	assert_int_equal(load(&c, "standby:\n  threshold: 0.9\n  quiet: 2s\n  horizon: 1s\n"
				  "  capacity: 5.5\n  alpha: 1\n  beta: 0\n", &err), 0);
	assert_true(c.standby.threshold == 0.9 && c.standby.capacity == 5.5);
	assert_true(c.standby.quiet_ms == 2000 && c.standby.horizon_ms == 1000);
	assert_true(c.standby.alpha == 1 && c.standby.beta == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(load(&c, bad[i].yaml, &err), AIGW_ECONFIG);
		assert_prefix(err.msg, bad[i].msg);
		assert_true(c.standby.threshold == 0.9 && c.standby.capacity == 5.5);
	}
	/* A file without the section has the defaults. */
	assert_int_equal(load(&c, "log_level: info\n", &err), 0);
	assert_true(c.standby.threshold == 0.8 && c.standby.capacity == 100);
	aigw_conf_release(&c);
}

/* The serve directives: defaults, values with units, and refusals. */
static void test_serve_directives(void **state)
{
	struct aigw_conf c;
	struct aigw_err err = { 0, "" };
	(void)state;

	aigw_conf_init(&c);
	assert_string_equal(c.listen, "127.0.0.1:8080");
	assert_int_equal(c.workers, 0);
	assert_int_equal(c.auth, AIGW_AUTH_KEYS);
	assert_int_equal(c.max_header_bytes, 16384);
	assert_int_equal(c.max_headers, 100);
	assert_int_equal(c.max_body_bytes, 8 << 20);
	assert_int_equal(c.header_timeout_ms, 10000);
	assert_int_equal(c.body_timeout_ms, 30000);
	assert_int_equal(c.idle_timeout_ms, 60000);
	assert_int_equal(c.upstream_timeout_ms, 300000);
	assert_int_equal(c.drain_timeout_ms, 30000);
	assert_int_equal(c.log_queue, 4096);
	assert_int_equal(load(&c, "listen: '[::1]:0'\nworkers: 2\nauth: none\n"
				  "max_body_bytes: 1MiB\nheader_timeout: 2s\ndrain_timeout: 0s\n",
			      &err), 0);
	assert_string_equal(c.listen, "[::1]:0");
	assert_int_equal(c.workers, 2);
	assert_int_equal(c.auth, AIGW_AUTH_NONE);
	assert_int_equal(c.max_body_bytes, 1 << 20);
	assert_int_equal(c.header_timeout_ms, 2000);
	assert_int_equal(c.drain_timeout_ms, 0);
	assert_int_equal(load(&c, "listen: localhost\n", &err), AIGW_ECONFIG);
	assert_non_null(strstr(err.msg, "t.yaml:1:9: listen: 'localhost' is not an address"));
	assert_int_equal(load(&c, "listen: 'h:70000'\n", &err), AIGW_ECONFIG);
	assert_int_equal(load(&c, "max_body_bytes: 1GiB0\n", &err), AIGW_ECONFIG);
	assert_int_equal(load(&c, "max_body_bytes: 2GiB\n", &err), AIGW_ECONFIG);
	assert_non_null(strstr(err.msg, "max_body_bytes: 2GiB is out of range"));
	assert_int_equal(load(&c, "auth: nope\n", &err), AIGW_ECONFIG);
	/* a failed load leaves the last good values */
	assert_int_equal(c.max_body_bytes, 1 << 20);
	aigw_conf_release(&c);
}

/* A node with only the required directives gets the documented defaults. */
static void test_node_defaults(void **state)
{
	struct aigw_conf c;
	struct aigw_err err = { 0, "" };

	(void)state;
	aigw_conf_init(&c);
	assert_int_equal(load(&c, "nodes:\n- {name: a, url: 'http://a', provider: gemini}\n",
			      &err), 0);
	assert_int_equal(c.n_nodes, 1);
	assert_int_equal(c.nodes[0].provider, AIGW_PROVIDER_GEMINI);
	assert_int_equal(c.nodes[0].type, AIGW_NODE_CLOUD);
	assert_int_equal(c.nodes[0].weight, 1);
	assert_int_equal(c.nodes[0].max_concurrency, 0);
	assert_false(c.nodes[0].standby);
	assert_int_equal(c.nodes[0].state, AIGW_NODE_ENABLED);
	assert_int_equal(c.nodes[0].models.n, 0);
	assert_string_equal(c.nodes[0].where, "t.yaml:2:3");
	aigw_conf_release(&c);
}

/* ---------------------------------------------------------------- errors */

struct error_case {
	const char *what;
	const char *yaml;
	const char *prefix;   /* "file:line:col: directive:" */
	const char *contains; /* more of the message, or NULL */
};

#define NODE_HEAD "nodes:\n  - name: a\n    url: http://a.example\n    provider: openai\n"
#define ROUTE_HEAD "routes:\n  - name: r\n    path: /v1\n    nodes: [a]\n"

static const struct error_case error_cases[] = {
	{ "unknown top-level key", "log_levl: info\n",
	  "t.yaml:1:1: log_levl: unknown directive 'log_levl' (did you mean 'log_level'?)", NULL },
	{ "unknown node key", NODE_HEAD "    wieght: 3\n",
	  "t.yaml:5:5: nodes[0].wieght: unknown directive 'wieght' (did you mean 'weight'?)",
	  NULL },
	{ "unknown key, no suggestion", NODE_HEAD "    colour: blue\n",
	  "t.yaml:5:5: nodes[0].colour: unknown directive 'colour'", NULL },
	{ "bad enum", "nodes:\n  - name: a\n    url: http://a.example\n    provider: opnai\n",
	  "t.yaml:4:15: nodes[0].provider: unknown provider 'opnai' (did you mean 'openai'?)",
	  NULL },
	{ "bad policy", ROUTE_HEAD "    policy: fastest\n",
	  "t.yaml:5:13: routes[0].policy: unknown policy 'fastest'", "round_robin" },
	{ "bad log level", "log_level: loud\n", "t.yaml:1:12: log_level: unknown log level 'loud'",
	  NULL },
	{ "int out of range", NODE_HEAD "    weight: 5000\n",
	  "t.yaml:5:13: nodes[0].weight: 5000 is out of range (1..1000)", NULL },
	{ "int not a number", NODE_HEAD "    weight: 1.5\n",
	  "t.yaml:5:13: nodes[0].weight: '1.5' is not a number", NULL },
	{ "retries out of range", ROUTE_HEAD "    retries: 11\n",
	  "t.yaml:5:14: routes[0].retries: 11 is out of range (0..10)", NULL },
	{ "bad bool", NODE_HEAD "    standby: maybe\n",
	  "t.yaml:5:14: nodes[0].standby: 'maybe' is not true or false", NULL },
	{ "bad duration", ROUTE_HEAD "    timeout: 30\n",
	  "t.yaml:5:14: routes[0].timeout: '30' is not a duration", NULL },
	{ "duration out of range", ROUTE_HEAD "    timeout: 2d\n",
	  "t.yaml:5:14: routes[0].timeout: 2d is out of range (0s..1d)", NULL },
	{ "bad connect_timeout", ROUTE_HEAD "    connect_timeout: 10\n",
	  "t.yaml:5:22: routes[0].connect_timeout: '10' is not a duration", NULL },
	{ "connect_timeout out of range", ROUTE_HEAD "    connect_timeout: 1d1ms\n",
	  "t.yaml:5:22: routes[0].connect_timeout: 1d1ms is out of range (0s..1d)", NULL },
	{ "bad first_byte_timeout", ROUTE_HEAD "    first_byte_timeout: -1s\n",
	  "t.yaml:5:25: routes[0].first_byte_timeout: '-1s' is not a duration", NULL },
	{ "first_byte_timeout out of range", ROUTE_HEAD "    first_byte_timeout: 25h\n",
	  "t.yaml:5:25: routes[0].first_byte_timeout: 25h is out of range (0s..1d)", NULL },
	{ "bad idle_timeout", ROUTE_HEAD "    idle_timeout: soon\n",
	  "t.yaml:5:19: routes[0].idle_timeout: 'soon' is not a duration", NULL },
	{ "idle_timeout out of range", ROUTE_HEAD "    idle_timeout: 2d\n",
	  "t.yaml:5:19: routes[0].idle_timeout: 2d is out of range (0s..1d)", NULL },
	{ "misspelt route timeout", ROUTE_HEAD "    conect_timeout: 1s\n",
	  "t.yaml:5:5: routes[0].conect_timeout: unknown directive 'conect_timeout' "
	  "(did you mean 'connect_timeout'?)", NULL },
	{ "bad url", "nodes:\n  - name: a\n    url: ftp://a.example\n    provider: openai\n",
	  "t.yaml:3:10: nodes[0].url: ", NULL },
	{ "bad name", "nodes:\n  - name: 'a b'\n    url: http://a\n    provider: openai\n",
	  "t.yaml:2:11: nodes[0].name: 'a b' is not a valid name", NULL },
	{ "bad model glob in a list", NODE_HEAD "    models: [ok, 'bad one']\n",
	  "t.yaml:5:18: nodes[0].models[1]: ", "space" },
	{ "empty item in a comma list", NODE_HEAD "    models: a,,b\n",
	  "t.yaml:5:13: nodes[0].models: empty item in list", NULL },
	{ "secret in api_key_env", NODE_HEAD "    api_key_env: sk-123456\n",
	  "t.yaml:5:18: nodes[0].api_key_env: 'sk-123456' is not an environment variable name",
	  NULL },
	{ "bad name in an api_key_env list", NODE_HEAD "    api_key_env: [A, sk-1]\n",
	  "t.yaml:5:22: nodes[0].api_key_env[1]: 'sk-1' is not an environment variable name",
	  NULL },
	{ "bad name in an api_key_env string", NODE_HEAD "    api_key_env: \"A, 1B\"\n",
	  "t.yaml:5:18: nodes[0].api_key_env: '1B' is not an environment variable name", NULL },
	{ "api_key_env and accounts", NODE_HEAD "    api_key_env: A\n    accounts:\n"
	  "      - api_key_env: B\n",
	  "t.yaml:7:7: nodes[0].accounts: api_key_env and accounts cannot both be given", NULL },
	{ "accounts and api_key_env", NODE_HEAD "    accounts:\n      - api_key_env: B\n"
	  "    api_key_env: A\n",
	  "t.yaml:7:18: nodes[0].api_key_env: api_key_env and accounts cannot both be given",
	  NULL },
	{ "accounts not a list", NODE_HEAD "    accounts: A\n",
	  "t.yaml:5:15: nodes[0].accounts: expected a list of account entries, got a scalar",
	  NULL },
	{ "account not a mapping", NODE_HEAD "    accounts:\n      - A\n",
	  "t.yaml:6:9: nodes[0].accounts[0]: expected an account mapping, got a scalar", NULL },
	{ "unknown account key", NODE_HEAD "    accounts:\n      - api_key_evn: A\n",
	  "t.yaml:6:9: nodes[0].accounts[0].api_key_evn: unknown directive 'api_key_evn' "
	  "(did you mean 'api_key_env'?)", NULL },
	{ "oauth2 without a secret", NODE_HEAD "    accounts:\n"
	  "      - token_url: https://auth.example/token\n        client_id_env: ID\n",
	  "t.yaml:6:9: nodes[0].accounts[0]: OAuth2 account has no client_secret_env", NULL },
	{ "oauth2 without a token_url", NODE_HEAD "    accounts:\n"
	  "      - client_id_env: ID\n        client_secret_env: SECRET\n",
	  "t.yaml:6:9: nodes[0].accounts[0]: OAuth2 account has no token_url", NULL },
	{ "key and oauth2 in one account", NODE_HEAD "    accounts:\n"
	  "      - api_key_env: K\n        token_url: https://auth.example/token\n"
	  "        client_id_env: ID\n        client_secret_env: SECRET\n",
	  "t.yaml:6:9: nodes[0].accounts[0]: an account has api_key_env or OAuth2", NULL },
	{ "bad token_url", NODE_HEAD "    accounts:\n      - token_url: auth.example\n",
	  "t.yaml:6:20: nodes[0].accounts[0].token_url: ", NULL },
	{ "secret in client_secret_env", NODE_HEAD "    accounts:\n"
	  "      - client_secret_env: hunter2!\n",
	  "t.yaml:6:28: nodes[0].accounts[0].client_secret_env: 'hunter2!' is not an "
	  "environment variable name", NULL },
	{ "proxy with a path", NODE_HEAD "    accounts:\n      - proxy: http://p:3128/x\n",
	  "t.yaml:6:16: nodes[0].accounts[0].proxy: proxy 'http://p:3128/x' is not "
	  "http://host:port", NULL },
	{ "https proxy", NODE_HEAD "    accounts:\n      - proxy: https://p:3128\n",
	  "t.yaml:6:16: nodes[0].accounts[0].proxy: proxy 'https://p:3128' is not "
	  "http://host:port", NULL },
	{ "proxy without a port", NODE_HEAD "    accounts:\n      - proxy: http://p\n",
	  "t.yaml:6:16: nodes[0].accounts[0].proxy: proxy 'http://p' is not http://host:port",
	  NULL },
	{ "missing url", "nodes:\n  - name: a\n    provider: openai\n",
	  "t.yaml:2:5: nodes[0].url: required directive is missing", NULL },
	{ "missing route nodes", "routes:\n  - name: r\n    path: /v1\n",
	  "t.yaml:2:5: routes[0].nodes: required directive is missing", NULL },
	{ "required with no value", "nodes:\n  - name: a\n    url:\n    provider: openai\n",
	  "t.yaml:3:5: nodes[0].url: required directive has no value", NULL },
	{ "duplicate key", NODE_HEAD "    url: http://b.example\n",
	  "t.yaml:5:5: nodes[0].url: duplicate directive (first at line 3)", NULL },
	{ "duplicate top-level key", "log_level: info\nlog_level: warn\n",
	  "t.yaml:2:1: log_level: duplicate directive (first at line 1)", NULL },
	{ "duplicate node name", NODE_HEAD "  - name: a\n    url: http://b\n    provider: gemini\n",
	  "t.yaml:5:11: nodes[1].name: duplicate node name 'a' (first at line 2)", NULL },
	{ "duplicate route name", ROUTE_HEAD "  - name: r\n    path: /v2\n    nodes: [b]\n",
	  "t.yaml:5:11: routes[1].name: duplicate route name 'r' (first at line 2)", NULL },
	{ "mapping for a scalar", NODE_HEAD "    weight: {a: 1}\n",
	  "t.yaml:5:13: nodes[0].weight: expected a single value, got a mapping", NULL },
	{ "list for a scalar", NODE_HEAD "    region: [a, b]\n",
	  "t.yaml:5:13: nodes[0].region: expected a single value, got a list", NULL },
	{ "mapping for a list", NODE_HEAD "    models: {a: b}\n",
	  "t.yaml:5:13: nodes[0].models: expected a list of strings, got a mapping", NULL },
	{ "mapping in a list", NODE_HEAD "    models: [a, {b: c}]\n",
	  "t.yaml:5:17: nodes[0].models[1]: expected a string, got a mapping", NULL },
	{ "scalar for nodes", "nodes: openai\n",
	  "t.yaml:1:8: nodes: expected a list of node entries, got a scalar", NULL },
	{ "scalar as a node", "nodes:\n  - openai\n",
	  "t.yaml:2:5: nodes[0]: expected a node mapping, got a scalar", NULL },
	{ "mapping as a key", "? {a: b}\n: c\n",
	  "t.yaml:1:3: a key must be a directive name, not a mapping", NULL },
	{ "empty region",
	  "nodes:\n  - name: a\n    url: http://a\n    provider: openai\n    region: ''\n",
	  "t.yaml:5:13: nodes[0].region: '' is not a valid name", NULL },
	{ "route validation at the mapping", "routes:\n  - name: r\n    path: v1\n    nodes: [a]\n",
	  "t.yaml:2:5: routes[0]: ", "path" },
	{ "fallback names itself", ROUTE_HEAD "    fallback: r\n",
	  "t.yaml:2:5: routes[0]: fallback 'r' names the route itself", NULL },
	{ "bad method", ROUTE_HEAD "    method: post\n", "t.yaml:2:5: routes[0]: method 'post'",
	  NULL },
	{ "yaml syntax error", "nodes: [a, b\nlog_level: info\n", "t.yaml:2:10: yaml syntax error: ",
	  "did not find expected ',' or ']'" },
	{ "yaml syntax error, bad indent", "log_level: info\n  nodes: []\n",
	  "t.yaml:2:8: yaml syntax error: mapping values are not allowed", NULL },
	{ "tab indentation", "nodes:\n\t- name: a\n", "t.yaml:2:1: yaml syntax error: ", NULL },
	{ "invalid utf-8", "log_level: \xff\xfe\n", "t.yaml:1:12: yaml syntax error: ", NULL },
	{ "unset variable", NODE_HEAD "    region: ${AIGW_TEST_SURELY_UNSET}\n",
	  "t.yaml:5:13: nodes[0].region: environment variable 'AIGW_TEST_SURELY_UNSET' is not set",
	  NULL },
	{ "unterminated reference", NODE_HEAD "    region: ${AIGW_TEST\n",
	  "t.yaml:5:13: nodes[0].region: unterminated '${'", NULL },
	{ "bad reference", NODE_HEAD "    region: ${1abc}\n",
	  "t.yaml:5:13: nodes[0].region: invalid variable reference '${1abc}'", NULL },
	{ "bad reference operator", NODE_HEAD "    region: ${AIGW_TEST:=x}\n",
	  "t.yaml:5:13: nodes[0].region: invalid variable reference '${AIGW_TEST:=x}'", NULL },
	{ "top level a list", "- a\n- b\n",
	  "t.yaml:1:1: the top level must be a mapping of directives, not a list", NULL },
	{ "top level a scalar", "hello\n",
	  "t.yaml:1:1: the top level must be a mapping of directives, not a scalar", NULL },
	{ "alias", NODE_HEAD "    region: &r eu\n", "t.yaml:5:13: yaml anchors are not supported",
	  NULL },
	{ "alias use", "log_level: *x\n", "t.yaml:1:12: yaml aliases are not supported", NULL },
	{ "two documents", "log_level: info\n---\nlog_level: warn\n",
	  "t.yaml:2:1: only one yaml document is allowed", NULL },
};

static void test_errors(void **state)
{
	struct aigw_conf c;

	(void)state;
	unsetenv("AIGW_TEST_SURELY_UNSET");
	aigw_conf_init(&c);
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *t = &error_cases[i];
		struct aigw_err err = { 0, "" };
		int rc = load(&c, t->yaml, &err);

		if (rc != AIGW_ECONFIG)
			fail_msg("%s: expected ECONFIG, got %d (%s)", t->what, rc, err.msg);
		assert_int_equal(err.code, AIGW_ECONFIG);
		if (strncmp(err.msg, t->prefix, strlen(t->prefix)) != 0)
			fail_msg("%s: '%s' does not start with '%s'", t->what, err.msg, t->prefix);
		if (t->contains && !strstr(err.msg, t->contains))
			fail_msg("%s: '%s' does not contain '%s'", t->what, err.msg, t->contains);
		/* A NULL err must be fine too. */
		assert_int_equal(load(&c, t->yaml, NULL), AIGW_ECONFIG);
	}
	assert_null(c.path);
	aigw_conf_release(&c);
}

static void test_unchanged_after_error(void **state)
{
	struct aigw_conf c;
	struct aigw_err err = { 0, "" };

	(void)state;
	aigw_conf_init(&c);
	assert_int_equal(load(&c, full_config, &err), 0);
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		assert_int_equal(aigw_conf_load_string(&c, "other.yaml", error_cases[i].yaml,
						       strlen(error_cases[i].yaml), &err),
				 AIGW_ECONFIG);
		assert_string_equal(c.path, NAME);
		assert_int_equal(c.log_level, AIGW_LOG_DEBUG);
		assert_int_equal(c.n_nodes, 2);
		assert_int_equal(c.n_routes, 2);
		assert_string_equal(c.nodes[1].name, "local");
		assert_string_equal(c.routes[0].where, "t.yaml:21:5");
	}
	/* A later good load replaces everything. */
	assert_int_equal(load(&c, "log_level: warn\n", &err), 0);
	assert_int_equal(c.log_level, AIGW_LOG_WARN);
	assert_int_equal(c.n_nodes, 0);
	assert_int_equal(c.n_routes, 0);
	aigw_conf_release(&c);
}

/* ------------------------------------------------------------- expansion */

static void test_expansion(void **state)
{
	static const char text[] =
		"log_level: ${AIGW_TEST_LEVEL}\n"
		"nodes:\n"
		"  - name: ${AIGW_TEST_NODE:-fallback-node}\n"
		"    url: \"http://${AIGW_TEST_HOST:-localhost}:8080/v1\"\n"
		"    provider: openai\n"
		"    region: ${AIGW_TEST_UNSET_REGION:-}\n"
		"    api_key_env: AIGW_TEST_SECRET\n"
		"    models: [\"${AIGW_TEST_MODEL}\", \"a$$b\", \"$x\"]\n"
		"    weight: ${AIGW_TEST_WEIGHT:-3}\n"
		"routes:\n"
		"  - name: r\n"
		"    path: /v1\n"
		"    nodes: ${AIGW_TEST_NODES}\n"
		"    model: \"cost$$*\"\n";
	struct aigw_conf c;
	struct aigw_err err = { 0, "" };

	(void)state;
	setenv("AIGW_TEST_LEVEL", "warn", 1);
	setenv("AIGW_TEST_HOST", "example.net", 1);
	setenv("AIGW_TEST_MODEL", "gpt-5", 1);
	setenv("AIGW_TEST_NODES", "x, y", 1);
	setenv("AIGW_TEST_SECRET", "sk-must-never-appear", 1);
	setenv("AIGW_TEST_NODE", "", 1); /* empty: the default applies, as in sh */
	unsetenv("AIGW_TEST_UNSET_REGION");
	unsetenv("AIGW_TEST_WEIGHT");

	aigw_conf_init(&c);
	if (load(&c, text, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(c.log_level, AIGW_LOG_WARN);
	assert_string_equal(c.nodes[0].name, "fallback-node");
	assert_string_equal(c.nodes[0].url, "http://example.net:8080/v1");
	assert_null(c.nodes[0].region);
	assert_string_equal(c.nodes[0].api_key_env, "AIGW_TEST_SECRET");
	assert_string_equal(c.nodes[0].models.v[0], "gpt-5");
	assert_string_equal(c.nodes[0].models.v[1], "a$b");
	assert_string_equal(c.nodes[0].models.v[2], "$x");
	assert_int_equal(c.nodes[0].weight, 3);
	assert_int_equal(c.routes[0].nodes.n, 2);
	assert_string_equal(c.routes[0].nodes.v[1], "y");
	assert_string_equal(c.routes[0].model, "cost$*");
	aigw_conf_release(&c);

	/* *_env values are names, never expanded: a reference is refused. */
	aigw_conf_init(&c);
	assert_int_equal(load(&c, NODE_HEAD "    api_key_env: ${AIGW_TEST_SECRET}\n", &err),
			 AIGW_ECONFIG);
	assert_prefix(err.msg, "t.yaml:5:18: nodes[0].api_key_env: '${AIGW_TEST_SECRET}'");
	assert_null(strstr(err.msg, "sk-must-never-appear"));
	aigw_conf_release(&c);

	unsetenv("AIGW_TEST_LEVEL");
	unsetenv("AIGW_TEST_HOST");
	unsetenv("AIGW_TEST_MODEL");
	unsetenv("AIGW_TEST_NODES");
	unsetenv("AIGW_TEST_SECRET");
	unsetenv("AIGW_TEST_NODE");
}

/* ---------------------------------------------------------------- files */

struct tmp {
	char dir[64];
	char cwd[PATH_MAX];
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void mkdirs(const char *base, const char *rel)
{
	char path[256];
	char *p;

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	for (p = path + strlen(base) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	mkdir(path, 0700);
}

static void rm_rf(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void tmp_enter(struct tmp *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/aigw-conf-test-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	assert_non_null(getcwd(t->cwd, sizeof(t->cwd)));
	assert_int_equal(chdir(t->dir), 0);
}

static void tmp_leave(struct tmp *t)
{
	assert_int_equal(chdir(t->cwd), 0);
	rm_rf(t->dir);
}

static void test_locate(void **state)
{
	char *saved_home = getenv("HOME") ? aigw_strdup(getenv("HOME")) : NULL;
	char *saved_xdg = getenv("XDG_CONFIG_HOME") ? aigw_strdup(getenv("XDG_CONFIG_HOME")) : NULL;
	char *saved_conf = getenv("AIGW_CONFIG") ? aigw_strdup(getenv("AIGW_CONFIG")) : NULL;
	char out[PATH_MAX], want[256], home[128], xdg[128];
	struct aigw_err err = { 0, "" };
	struct tmp t;

	(void)state;
	tmp_enter(&t);
	snprintf(home, sizeof(home), "%s/home", t.dir);
	snprintf(xdg, sizeof(xdg), "%s/xdg", t.dir);
	mkdirs(t.dir, "home/.config/aigw");
	mkdirs(t.dir, "xdg/aigw");
	unsetenv("AIGW_CONFIG");
	setenv("HOME", home, 1);
	unsetenv("XDG_CONFIG_HOME");

	/* Nothing anywhere: "" and success. */
	snprintf(out, sizeof(out), "junk");
	assert_int_equal(aigw_conf_locate(NULL, out, sizeof(out), &err), 0);
	assert_string_equal(out, "");

	/* $HOME/.config when XDG_CONFIG_HOME is unset. */
	snprintf(want, sizeof(want), "%s/.config/aigw/aigw.yaml", home);
	write_file(want, "");
	assert_int_equal(aigw_conf_locate(NULL, out, sizeof(out), &err), 0);
	assert_string_equal(out, want);

	/* XDG_CONFIG_HOME replaces ~/.config, even when it holds no file. */
	setenv("XDG_CONFIG_HOME", xdg, 1);
	assert_int_equal(aigw_conf_locate("", out, sizeof(out), &err), 0);
	assert_string_equal(out, "");
	snprintf(want, sizeof(want), "%s/aigw/aigw.yaml", xdg);
	write_file(want, "");
	assert_int_equal(aigw_conf_locate(NULL, out, sizeof(out), &err), 0);
	assert_string_equal(out, want);

	/* A relative XDG_CONFIG_HOME is ignored, as the spec says. */
	setenv("XDG_CONFIG_HOME", "xdg", 1);
	assert_int_equal(aigw_conf_locate(NULL, out, sizeof(out), &err), 0);
	snprintf(want, sizeof(want), "%s/.config/aigw/aigw.yaml", home);
	assert_string_equal(out, want);
	setenv("XDG_CONFIG_HOME", xdg, 1);

	/* ./aigw.yaml before the user's file. */
	write_file("aigw.yaml", "");
	assert_int_equal(aigw_conf_locate(NULL, out, sizeof(out), &err), 0);
	assert_string_equal(out, "aigw.yaml");

	/* $AIGW_CONFIG before ./aigw.yaml, and it must exist. */
	write_file("env.yaml", "");
	setenv("AIGW_CONFIG", "env.yaml", 1);
	assert_int_equal(aigw_conf_locate(NULL, out, sizeof(out), &err), 0);
	assert_string_equal(out, "env.yaml");
	setenv("AIGW_CONFIG", "missing-env.yaml", 1);
	assert_int_equal(aigw_conf_locate(NULL, out, sizeof(out), &err), AIGW_ECONFIG);
	assert_string_equal(err.msg, "config file 'missing-env.yaml' does not exist");
	assert_string_equal(out, "");

	/* The flag before everything, and it must exist. */
	write_file("flag.yaml", "");
	assert_int_equal(aigw_conf_locate("flag.yaml", out, sizeof(out), &err), 0);
	assert_string_equal(out, "flag.yaml");
	assert_int_equal(aigw_conf_locate("missing.yaml", out, sizeof(out), &err), AIGW_ECONFIG);
	assert_string_equal(err.msg, "config file 'missing.yaml' does not exist");

	/* A result that does not fit is an error, not a truncated path. */
	assert_int_equal(aigw_conf_locate("flag.yaml", out, 4, &err), AIGW_ECONFIG);
	assert_string_equal(out, "");

	tmp_leave(&t);
	if (saved_home)
		setenv("HOME", saved_home, 1);
	else
		unsetenv("HOME");
	if (saved_xdg)
		setenv("XDG_CONFIG_HOME", saved_xdg, 1);
	else
		unsetenv("XDG_CONFIG_HOME");
	if (saved_conf)
		setenv("AIGW_CONFIG", saved_conf, 1);
	else
		unsetenv("AIGW_CONFIG");
	free(saved_home);
	free(saved_xdg);
	free(saved_conf);
}

static void test_load_file(void **state)
{
	struct aigw_conf c;
	struct aigw_err err = { 0, "" };
	struct tmp t;
	FILE *f;

	(void)state;
	tmp_enter(&t);
	aigw_conf_init(&c);
	write_file("aigw.yaml", full_config);
	assert_int_equal(aigw_conf_load_file(&c, "aigw.yaml", &err), 0);
	assert_string_equal(c.path, "aigw.yaml");
	assert_string_equal(c.nodes[0].where, "aigw.yaml:4:5");

	write_file("bad.yaml", "nodes:\n  - name: x\n    url: http://x\n    provider: openai\n"
			       "    weight: 0\n");
	assert_int_equal(aigw_conf_load_file(&c, "bad.yaml", &err), AIGW_ECONFIG);
	assert_string_equal(err.msg,
			    "bad.yaml:5:13: nodes[0].weight: 0 is out of range (1..1000)");
	assert_string_equal(c.path, "aigw.yaml");

	assert_int_equal(aigw_conf_load_file(&c, "missing.yaml", &err), AIGW_ECONFIG);
	assert_prefix(err.msg, "cannot open config file 'missing.yaml': ");

	mkdir("dir.yaml", 0700);
	assert_int_equal(aigw_conf_load_file(&c, "dir.yaml", &err), AIGW_ECONFIG);
	assert_prefix(err.msg, "cannot read config file 'dir.yaml': ");

	/* Over 4 MiB: refused, even though it is nothing but comments. */
	f = fopen("big.yaml", "w");
	assert_non_null(f);
	for (int i = 0; i < 4 * 1024 * 16 + 1; i++)
		fprintf(f, "#%062d\n", i);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(aigw_conf_load_file(&c, "big.yaml", &err), AIGW_ECONFIG);
	assert_string_equal(err.msg, "big.yaml: config file is larger than 4 MiB");

	assert_string_equal(c.path, "aigw.yaml");
	assert_int_equal(c.n_nodes, 2);
	aigw_conf_release(&c);
	tmp_leave(&t);
}

/* ---------------------------------------------------------------- import */

static void test_import_yaml(void **state)
{
	static const char list_form[] =
		"- name: a\n"
		"  url: http://a.example\n"
		"  provider: openai\n"
		"# a comment\n"
		"- name: b\n"
		"  url: http://b.example\n"
		"  provider: ollama\n"
		"  models: [llama3]\n";
	static const char map_form[] =
		"# exported\n"
		"nodes:\n"
		"  - {name: a, url: 'http://a.example', provider: openai}\n"
		"  - name: b\n"
		"    url: http://b.example\n"
		"    provider: azure\n";
	struct aigw_node *nodes;
	size_t n, *lines;
	struct aigw_err err = { 0, "" };

	(void)state;
	assert_int_equal(aigw_conf_parse_nodes_yaml("in.yaml", list_form, strlen(list_form),
						    &nodes, &n, &lines, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(lines[0], 1);
	assert_int_equal(lines[1], 5);
	assert_string_equal(nodes[1].name, "b");
	assert_int_equal(nodes[1].provider, AIGW_PROVIDER_OLLAMA);
	assert_string_equal(nodes[1].models.v[0], "llama3");
	/* Imported records go to the database: not YAML entries. */
	assert_int_equal(nodes[0].origin, AIGW_ORIGIN_DB);
	assert_null(nodes[0].where);
	aigw_nodes_free(nodes, n);
	free(lines);

	assert_int_equal(aigw_conf_parse_nodes_yaml("in.yaml", map_form, strlen(map_form),
						    &nodes, &n, &lines, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(lines[0], 3);
	assert_int_equal(lines[1], 4);
	assert_int_equal(nodes[1].provider, AIGW_PROVIDER_AZURE);
	aigw_nodes_free(nodes, n);
	free(lines);

	/* lines may be NULL; an empty file has no records. */
	assert_int_equal(aigw_conf_parse_nodes_yaml("in.yaml", map_form, strlen(map_form),
						    &nodes, &n, NULL, &err), 0);
	aigw_nodes_free(nodes, n);
	assert_int_equal(aigw_conf_parse_nodes_yaml("in.yaml", "", 0, &nodes, &n, &lines, &err),
			 0);
	assert_int_equal(n, 0);
	assert_null(nodes);
	assert_null(lines);
}

static void test_import_yaml_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "bad field", "- name: a\n  url: http://a\n  provider: openai\n"
			       "- name: b\n  url: http://b\n  provider: openai\n  weight: x\n",
		  "in.yaml:7:11: nodes[1].weight: 'x' is not a number", NULL },
		{ "other top-level key", "nodes: []\nnode: []\n",
		  "in.yaml:2:1: node: unknown directive 'node' (did you mean 'nodes'?", NULL },
		{ "mapping without nodes", "{}\n", "in.yaml:1:1: no 'nodes' list in the file", NULL },
		{ "a scalar", "hello\n", "in.yaml:1:1: nodes: expected a list of node entries",
		  NULL },
		{ "duplicate names", "- {name: a, url: 'http://a', provider: openai}\n"
				     "- {name: a, url: 'http://b', provider: openai}\n",
		  "in.yaml:2:10: nodes[1].name: duplicate node name 'a' (first at line 1)", NULL },
		{ "syntax", "- {name: a\n", "in.yaml:2:1: yaml syntax error: ", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aigw_node *nodes = (struct aigw_node *)&nodes;
		size_t n = 99, *lines = (size_t *)&n;
		struct aigw_err err = { 0, "" };

		if (aigw_conf_parse_nodes_yaml("in.yaml", cases[i].yaml, strlen(cases[i].yaml),
					       &nodes, &n, &lines, &err) != AIGW_EINVAL)
			fail_msg("%s: expected EINVAL (%s)", cases[i].what, err.msg);
		if (strncmp(err.msg, cases[i].prefix, strlen(cases[i].prefix)) != 0)
			fail_msg("%s: '%s' does not start with '%s'", cases[i].what, err.msg,
				 cases[i].prefix);
		assert_null(nodes);
		assert_null(lines);
		assert_int_equal(n, 0);
	}
}

static int from_json(const char *json, struct aigw_node *node, struct aigw_err *err)
{
	return aigw_conf_node_from_json(json, strlen(json), node, err);
}

static void test_json_node(void **state)
{
	struct aigw_node node;
	struct aigw_err err = { 0, "" };

	(void)state;
	if (from_json("{\"name\": \"n1\", \"url\": \"https://x.example/v1\","
		      " \"provider\": \"anthropic\", \"type\": \"edge\", \"region\": \"eu\","
		      " \"weight\": 7, \"models\": [\"claude-*\", \"x\"],"
		      " \"api_key_env\": \"ANTHROPIC_API_KEY\", \"max_concurrency\": 10,"
		      " \"standby\": true, \"enabled\": false}\n", &node, &err))
		fail_msg("%s", err.msg);
	assert_string_equal(node.name, "n1");
	assert_string_equal(node.url, "https://x.example/v1");
	assert_int_equal(node.provider, AIGW_PROVIDER_ANTHROPIC);
	assert_int_equal(node.type, AIGW_NODE_EDGE);
	assert_string_equal(node.region, "eu");
	assert_int_equal(node.weight, 7);
	assert_int_equal(node.models.n, 2);
	assert_string_equal(node.models.v[0], "claude-*");
	assert_string_equal(node.api_key_env, "ANTHROPIC_API_KEY");
	assert_int_equal(node.max_concurrency, 10);
	assert_true(node.standby);
	assert_int_equal(node.state, AIGW_NODE_DISABLED);
	assert_int_equal(node.origin, AIGW_ORIGIN_DB);
	aigw_node_release(&node);

	/* Defaults, a comma string for a list, nulls, no expansion. */
	if (from_json("{\"name\": \"n2\", \"url\": \"http://y\", \"provider\": \"http\","
		      " \"models\": \"a, b$x\", \"region\": null, \"weight\": 2.0}", &node, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(node.type, AIGW_NODE_CLOUD);
	assert_int_equal(node.weight, 2);
	assert_null(node.region);
	assert_int_equal(node.models.n, 2);
	assert_string_equal(node.models.v[1], "b$x");
	assert_int_equal(node.state, AIGW_NODE_ENABLED);
	aigw_node_release(&node);
}

static void test_json_node_errors(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
#define J(extra) "{\"name\": \"n\", \"url\": \"http://x\", \"provider\": \"openai\"" extra "}"
		{ J(", \"weight\": 1.5"), "weight: 1.5 is not a whole number" },
		{ J(", \"weight\": 0"), "weight: 0 is out of range (1..1000)" },
		{ J(", \"weight\": \"5\""), "weight: expected a whole number, got a string" },
		{ J(", \"wieght\": 5"), "wieght: unknown directive 'wieght' (did you mean 'weight'?)" },
		{ J(", \"standby\": \"yes\""), "standby: expected true or false, got a string" },
		{ J(", \"enabled\": 1"), "enabled: expected true or false, got a number" },
		{ J(", \"models\": [1]"), "models: expected an array of strings, found a number" },
		{ J(", \"models\": {}"), "models: expected an array of strings, got an object" },
		{ J(", \"models\": [\"a b\"]"), "models: pattern 'a b' has a space" },
		{ J(", \"region\": 5"), "region: expected a string, got a number" },
		{ J(", \"provider\": \"opnai\""), "provider: duplicate directive" },
		{ "{\"name\": \"n\", \"url\": \"http://x\", \"provider\": \"opnai\"}",
		  "provider: unknown provider 'opnai' (did you mean 'openai'?)" },
		{ "{\"name\": \"n\", \"url\": \"ftp://x\", \"provider\": \"openai\"}", "url: " },
		{ "{\"name\": \"n\", \"provider\": \"openai\"}", "url: required directive is missing" },
		{ "{\"name\": \"n\", \"url\": null, \"provider\": \"openai\"}",
		  "url: required directive is missing" },
		{ J(", \"api_key_env\": \"sk-live-123\""),
		  "api_key_env: 'sk-live-123' is not an environment variable name" },
		{ "[1, 2]", "expected a JSON object, got an array" },
		{ "{\"name\": ", "invalid JSON at byte" },
		{ "{} {}", "unexpected text after the JSON object" },
#undef J
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aigw_node node;
		struct aigw_err err = { 0, "" };

		aigw_node_init(&node);
		if (from_json(cases[i].json, &node, &err) != AIGW_EINVAL)
			fail_msg("'%s' was accepted", cases[i].json);
		if (strncmp(err.msg, cases[i].msg, strlen(cases[i].msg)) != 0)
			fail_msg("'%s': '%s' does not start with '%s'", cases[i].json, err.msg,
				 cases[i].msg);
		/* out is untouched on error. */
		assert_null(node.name);
	}
}

/* ------------------------------------------------------------------ docs */

/* ---------------------------------------------------------- accounts */

static void test_accounts(void **state)
{
	struct aigw_conf c;
	struct aigw_err err = { 0, "" };
	const struct aigw_node *n;

	(void)state;
	aigw_conf_init(&c);
	setenv("AIGW_TEST_PROXY", "http://10.0.0.1:3128", 1);
	if (load(&c,
		 "nodes:\n"
		 "  - {name: one, url: http://a, provider: openai, api_key_env: A}\n"
		 "  - {name: list, url: http://a, provider: openai, api_key_env: [A, B]}\n"
		 "  - {name: text, url: http://a, provider: openai, api_key_env: 'A, B, C'}\n"
		 "  - name: many\n"
		 "    url: https://a.example\n"
		 "    provider: openai\n"
		 "    accounts:\n"
		 "      - api_key_env: K1\n"
		 "        proxy: ${AIGW_TEST_PROXY}\n"
		 "      - token_url: https://login.example/oauth2/token\n"
		 "        client_id_env: CID\n"
		 "        client_secret_env: CSECRET\n"
		 "        scope: api://gateway/.default\n"
		 "      - proxy: http://10.0.0.2:8080\n"
		 "  - {name: none, url: http://a, provider: openai, accounts: []}\n", &err))
		fail_msg("%s", err.msg);
	assert_int_equal(c.n_nodes, 5);
	n = &c.nodes[0];
	assert_int_equal(n->n_accounts, 1);
	assert_string_equal(n->api_key_env, "A");
	assert_string_equal(n->accounts[0].api_key_env, "A");
	assert_true(aigw_node_accounts_plain(n));
	for (int i = 1; i <= 2; i++) {
		n = &c.nodes[i];
		assert_int_equal(n->n_accounts, (size_t)i + 1);
		assert_string_equal(n->api_key_env, "A");
		assert_string_equal(n->accounts[1].api_key_env, "B");
		assert_null(n->accounts[1].proxy);
		assert_false(aigw_node_accounts_plain(n));
	}
	assert_string_equal(c.nodes[2].accounts[2].api_key_env, "C");
	n = &c.nodes[3];
	assert_int_equal(n->n_accounts, 3);
	assert_string_equal(n->api_key_env, "K1");
	assert_string_equal(n->accounts[0].proxy, "http://10.0.0.1:3128");
	assert_string_equal(n->accounts[1].token_url, "https://login.example/oauth2/token");
	assert_string_equal(n->accounts[1].client_id_env, "CID");
	assert_string_equal(n->accounts[1].client_secret_env, "CSECRET");
	assert_string_equal(n->accounts[1].scope, "api://gateway/.default");
	assert_null(n->accounts[1].api_key_env);
	assert_null(n->accounts[2].api_key_env);
	assert_string_equal(n->accounts[2].proxy, "http://10.0.0.2:8080");
	assert_int_equal(c.nodes[4].n_accounts, 0);
	assert_null(c.nodes[4].api_key_env);
	aigw_conf_release(&c);
}

static void test_json_accounts(void **state)
{
	static const struct {
		const char *json, *msg;
	} bad[] = {
		{ "{\"name\": \"n\", \"url\": \"http://x\", \"provider\": \"openai\","
		  " \"accounts\": {}}", "accounts: expected an array of objects, got an object" },
		{ "{\"name\": \"n\", \"url\": \"http://x\", \"provider\": \"openai\","
		  " \"accounts\": [1]}", "accounts: [0]: expected an object, got a number" },
		{ "{\"name\": \"n\", \"url\": \"http://x\", \"provider\": \"openai\","
		  " \"accounts\": [{\"proxy\": \"socks5://p:1\"}]}",
		  "accounts: [0].proxy: proxy 'socks5://p:1' is not http://host:port" },
		{ "{\"name\": \"n\", \"url\": \"http://x\", \"provider\": \"openai\","
		  " \"accounts\": [{\"token_url\": \"https://t\"}]}",
		  "accounts: [0]: OAuth2 account has no client_id_env" },
		{ "{\"name\": \"n\", \"url\": \"http://x\", \"provider\": \"openai\","
		  " \"api_key_env\": \"A\", \"accounts\": [{\"api_key_env\": \"B\"}]}",
		  "accounts: api_key_env and accounts cannot both be given" },
	};
	struct aigw_node node;
	struct aigw_err err = { 0, "" };

	(void)state;
	if (from_json("{\"name\": \"n\", \"url\": \"http://x\", \"provider\": \"openai\","
		      " \"api_key_env\": null, \"accounts\": [{\"api_key_env\": \"A\","
		      " \"proxy\": \"http://p:1\", \"scope\": null},"
		      " {\"token_url\": \"https://t/token\", \"client_id_env\": \"I\","
		      " \"client_secret_env\": \"S\"}]}", &node, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(node.n_accounts, 2);
	assert_string_equal(node.api_key_env, "A");
	assert_string_equal(node.accounts[0].proxy, "http://p:1");
	assert_string_equal(node.accounts[1].client_secret_env, "S");
	aigw_node_release(&node);
	if (from_json("{\"name\": \"n\", \"url\": \"http://x\", \"provider\": \"openai\","
		      " \"api_key_env\": [\"A\", \"B\"]}", &node, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(node.n_accounts, 2);
	aigw_node_release(&node);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aigw_node_init(&node);
		if (from_json(bad[i].json, &node, &err) != AIGW_EINVAL)
			fail_msg("'%s' was accepted", bad[i].json);
		if (strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)) != 0)
			fail_msg("'%s': '%s' does not start with '%s'", bad[i].json, err.msg,
				 bad[i].msg);
	}
}

static void test_doc_roff(void **state)
{
	static const char *const names[] = {
		"log_level", "nodes", "routes",
		"name", "url", "provider", "type", "region", "weight", "models", "api_key_env",
		"accounts", "max_concurrency", "standby", "enabled",
		"token_url", "client_id_env", "client_secret_env", "scope", "proxy",
		"path", "method", "model", "headers", "policy", "retries", "timeout",
		"connect_timeout", "first_byte_timeout", "idle_timeout", "fallback",
	};
	struct aigw_buf b = AIGW_BUF_INIT;
	char want[64];
	const char *line;

	(void)state;
	aigw_conf_doc_roff(&b);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(want, sizeof(want), "\n.B %s\n", names[i]);
		assert_contains(b.data, want);
	}
	assert_prefix(b.data, ".SS Top level\n");
	assert_contains(b.data, "\n.SS Node entries\n");
	assert_contains(b.data, "\n.SS Account entries\n");
	assert_contains(b.data, "\n.SS Route entries\n");
	assert_true(strstr(b.data, "Node entries") < strstr(b.data, "Route entries"));
	assert_contains(b.data, "(integer 1..1000; default 1)");
	assert_contains(b.data, "openai\\-compatible");
	assert_contains(b.data, "(one of error, warn, info, debug; default info)");
	assert_contains(b.data, "(duration 0s..1d; default 0s)");
	assert_contains(b.data, "(string; required)");
	/* Every line is a known request or text that cannot be taken for one. */
	for (line = b.data; *line; line = strchr(line, '\n') + 1) {
		if (*line == '.')
			assert_true(aigw_str_prefix(line, ".SS ") || aigw_str_prefix(line, ".TP\n") ||
				    aigw_str_prefix(line, ".B "));
		assert_true(*line != '\'');
		assert_non_null(strchr(line, '\n'));
	}
	assert_null(strstr(b.data, "openai-compatible"));
	aigw_buf_release(&b);
}

static void test_geo(void **state)
{
	static const struct { const char *yaml, *msg; } bad[] = {
		{ "geo:\n  regions:\n    10.1.2.0/16: eu-west\n",
		  "t.yaml:3:5: geo.regions.10.1.2.0/16: '10.1.2.0/16' has address bits set past "
		  "its length (did you mean 10.1.0.0/16?)" },
		{ "geo:\n  regions:\n    \"::1\": not a name\n",
		  "t.yaml:3:12: geo.regions.::1: 'not a name' is not a valid region name" },
		{ "geo:\n  regions:\n    nowhere: eu\n",
		  "t.yaml:3:5: geo.regions.nowhere: 'nowhere' is not an address prefix" },
		{ "geo:\n  regions: {10.0.0.0/8: a, 10.0.0.0/08: b}\n",
		  "t.yaml:2:28: geo.regions.10.0.0.0/08: prefix '10.0.0.0/08' is the same as" },
		{ "geo:\n  near:\n    eu-west: [eu central]\n",
		  "t.yaml:3:15: geo.near.eu-west[0]: 'eu central' is not a valid region name" },
		{ "geo:\n  near: {eu: [a], eu: [b]}\n", "t.yaml:2:19: geo.near.eu: region 'eu' is listed twice" },
		{ "geo:\n  spill_latency_factor: 0.5\n",
		  "t.yaml:2:25: geo.spill_latency_factor: 0.5 is out of range (1..100)" },
		{ "geo:\n  region_header: \"X Region\"\n",
		  "t.yaml:2:18: geo.region_header: 'X Region' is not a header name" },
		{ "geo:\n  regoins: {}\n",
		  "t.yaml:2:3: geo.regoins: unknown directive 'regoins' (did you mean 'regions'?)" },
		{ "geo: [a]\n", "t.yaml:1:6: geo: expected a mapping of geo directives" },
	};
	struct aigw_conf c;
	struct aigw_err err;

	(void)state;
	aigw_conf_init(&c);
	assert_null(c.geo.region_header);
	assert_int_equal(c.geo.n_prefixes, 0);
	assert_true(c.geo.spill_latency_factor == 3.0);
	assert_int_equal(load(&c,
			      "geo:\n"
			      "  region_header: X-Client-Region\n"
			      "  regions:\n"
			      "    10.1.0.0/16: eu-west\n"
			      "    \"2001:db8::/32\": us-east\n"
			      "  near:\n"
			      "    eu-west: [eu-central, uk]\n"
			      "    us-east: us-central\n"
			      "    ap-south: []\n"
			      "  spill_latency_factor: 2.5\n", &err), 0);
	assert_string_equal(c.geo.region_header, "X-Client-Region");
	assert_int_equal(c.geo.n_prefixes, 2);
	assert_string_equal(aigw_geo_lookup(&c.geo, "10.1.9.9"), "eu-west");
	assert_string_equal(aigw_geo_lookup(&c.geo, "2001:db8::7"), "us-east");
	assert_int_equal(c.geo.n_near, 3);
	assert_int_equal(aigw_geo_distance(&c.geo, "uk", "eu-west"), 1);
	assert_int_equal(aigw_geo_distance(&c.geo, "us-central", "us-east"), 1);
	assert_int_equal(aigw_geo_distance(&c.geo, "ap-south", "ap-east"), 2);
	assert_true(c.geo.spill_latency_factor == 2.5);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aigw_err_clear(&err);
		if (load(&c, bad[i].yaml, &err) != AIGW_ECONFIG)
			fail_msg("accepted: %s", bad[i].yaml);
		assert_prefix(err.msg, bad[i].msg);
	}
	/* A refused file changed nothing. */
	assert_int_equal(c.geo.n_prefixes, 2);
	assert_int_equal(load(&c, "log_level: info\n", &err), 0);
	assert_null(c.geo.region_header);
	assert_int_equal(c.geo.n_prefixes, 0);
	assert_true(c.geo.spill_latency_factor == 3.0);
	aigw_conf_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_standby),
		cmocka_unit_test(test_serve_directives),
		cmocka_unit_test(test_node_defaults),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_unchanged_after_error),
		cmocka_unit_test(test_expansion),
		cmocka_unit_test(test_locate),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_import_yaml),
		cmocka_unit_test(test_import_yaml_errors),
		cmocka_unit_test(test_json_node),
		cmocka_unit_test(test_json_node_errors),
		cmocka_unit_test(test_accounts),
		cmocka_unit_test(test_json_accounts),
		cmocka_unit_test(test_doc_roff),
		cmocka_unit_test(test_geo),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
