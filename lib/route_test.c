/* route_test: the matcher, the tie rule and validation, driven by tables. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "node.h"
#include "route.h"

#define HEADERS_MAX 10

/* A route written as one table row; fields left NULL stay unset. */
struct spec {
	const char *name;
	const char *path;
	const char *method;
	const char *model;
	const char *headers[HEADERS_MAX];
};

static void build(struct aigw_route *r, const struct spec *s)
{
	aigw_route_init(r);
	r->name = aigw_strdup(s->name ? s->name : "r");
	r->path = s->path ? aigw_strdup(s->path) : NULL;
	r->method = s->method ? aigw_strdup(s->method) : NULL;
	r->model = s->model ? aigw_strdup(s->model) : NULL;
	for (size_t i = 0; i < HEADERS_MAX && s->headers[i]; i++)
		aigw_strv_push(&r->headers, s->headers[i]);
	aigw_strv_push(&r->nodes, "n1");
}

static struct aigw_route *build_all(const struct spec *specs, size_t n)
{
	struct aigw_route *routes = aigw_calloc(n, sizeof(*routes));
	for (size_t i = 0; i < n; i++)
		build(&routes[i], &specs[i]);
	return routes;
}

/* ------------------------------------------------------------ matching */

/* The root route is last so that the table can also be run without it. */
static const struct spec match_routes[] = {
	{ "v1", "/v1", NULL, NULL, { NULL } },
	{ "chat", "/v1/chat", NULL, NULL, { NULL } },
	{ "chat-gpt", "/v1/chat", NULL, "gpt-*", { NULL } },
	{ "chat-gpt4", "/v1/chat", NULL, "gpt-4*", { NULL } },
	{ "chat-post", "/v1/chat", "POST", NULL, { NULL } },
	{ "chat-beta", "/v1/chat", "POST", NULL, { "X-Beta: 1", NULL } },
	{ "claude-acme", "/v1/chat", NULL, "claude-*", { "X-Tenant: acme", NULL } },
	{ "claude-acme-eu", "/v1/chat", NULL, "claude-*",
	  { "X-Tenant: acme", "X-Region: eu", NULL } },
	{ "chat-sub", "/v1/chat/completions", NULL, NULL, { NULL } },
	{ "emb", "/v1/embeddings/", NULL, NULL, { NULL } },
	{ "root", "/", NULL, NULL, { NULL } },
};
#define N_MATCH_ROUTES (sizeof(match_routes) / sizeof(match_routes[0]))

struct match_case {
	const char *method;
	const char *path;
	const char *model;
	const char *headers[4];
	const char *want;      /* route name, NULL: no route */
	const char *want_noroot; /* the same request without the root route */
};

static const struct match_case match_cases[] = {
	/* longest prefix and segment boundaries */
	{ "GET", "/", NULL, { NULL }, "root", NULL },
	{ "GET", "/health", NULL, { NULL }, "root", NULL },
	{ "GET", "/v1", NULL, { NULL }, "v1", "v1" },
	{ "GET", "/v1/", NULL, { NULL }, "v1", "v1" },
	{ "GET", "/v1/models", NULL, { NULL }, "v1", "v1" },
	{ "GET", "/v1x", NULL, { NULL }, "root", NULL },
	{ "GET", "/v1/chatter", NULL, { NULL }, "v1", "v1" },
	{ "GET", "/v1/chat", NULL, { NULL }, "chat", "chat" },
	{ "GET", "/v1/chat/", NULL, { NULL }, "chat", "chat" },
	{ "GET", "/v1/chat/x", NULL, { NULL }, "chat", "chat" },
	{ "GET", "/v1/chat/completions", NULL, { NULL }, "chat-sub", "chat-sub" },
	{ "GET", "/v1/chat/completionsx", NULL, { NULL }, "chat", "chat" },
	{ "POST", "/v1/chat/completions", "gpt-4o", { NULL }, "chat-sub", "chat-sub" },
	/* a prefix ending in '/' covers what starts with it, nothing else */
	{ "GET", "/v1/embeddings", NULL, { NULL }, "v1", "v1" },
	{ "GET", "/v1/embeddings/", NULL, { NULL }, "emb", "emb" },
	{ "GET", "/v1/embeddings/x", NULL, { NULL }, "emb", "emb" },
	/* query strings and fragments are not part of the path */
	{ "GET", "/v1/chat?x=1", NULL, { NULL }, "chat", "chat" },
	{ "GET", "/v1/chatter?x=/v1/chat", NULL, { NULL }, "v1", "v1" },
	{ "GET", "/v1?/chat", NULL, { NULL }, "v1", "v1" },
	{ "GET", "/v1/chat#top", NULL, { NULL }, "chat", "chat" },
	{ "GET", "/v1/embeddings?x=/", NULL, { NULL }, "v1", "v1" },
	{ "GET", "?/v1", NULL, { NULL }, NULL, NULL },
	{ "OPTIONS", "*", NULL, { NULL }, NULL, NULL },
	/* model glob over none, more literal characters over fewer */
	{ "GET", "/v1/chat", "gpt-3.5", { NULL }, "chat-gpt", "chat-gpt" },
	{ "GET", "/v1/chat", "gpt-4o", { NULL }, "chat-gpt4", "chat-gpt4" },
	{ "POST", "/v1/chat", "gpt-4o", { NULL }, "chat-gpt4", "chat-gpt4" },
	{ "POST", "/v1/chat?stream=1", "gpt-4o-mini", { NULL }, "chat-gpt4", "chat-gpt4" },
	{ "GET", "/v1/chat/x", "gpt-4", { NULL }, "chat-gpt4", "chat-gpt4" },
	{ "GET", "/v1/chat", "GPT-4o", { NULL }, "chat", "chat" },
	{ "GET", "/v1/chat", "llama3", { NULL }, "chat", "chat" },
	/* no model in the request: only routes without a model glob */
	{ "POST", "/v1/chat", NULL, { "X-Tenant: acme", NULL }, "chat-post", "chat-post" },
	/* method over none (but a model glob outranks a method) */
	{ "POST", "/v1/chat", NULL, { NULL }, "chat-post", "chat-post" },
	{ "POST", "/v1/chat", "llama3", { NULL }, "chat-post", "chat-post" },
	{ "PUT", "/v1/chat", "llama3", { NULL }, "chat", "chat" },
	{ "post", "/v1/chat", NULL, { NULL }, "chat", "chat" },
	/* header conditions: names without case, values exact after trimming */
	{ "POST", "/v1/chat", NULL, { "X-Beta: 1", NULL }, "chat-beta", "chat-beta" },
	{ "POST", "/v1/chat", NULL, { "x-beta:1", NULL }, "chat-beta", "chat-beta" },
	{ "POST", "/v1/chat", NULL, { "Accept: */*", "X-BETA: \t1 ", NULL }, "chat-beta",
	  "chat-beta" },
	{ "POST", "/v1/chat", NULL, { "X-Beta: 2", NULL }, "chat-post", "chat-post" },
	{ "POST", "/v1/chat", NULL, { "X-Beta: 1x", NULL }, "chat-post", "chat-post" },
	{ "POST", "/v1/chat", NULL, { "X-Betas: 1", NULL }, "chat-post", "chat-post" },
	{ "POST", "/v1/chat", NULL, { "X-Beta 1", NULL }, "chat-post", "chat-post" },
	{ "GET", "/v1/chat", NULL, { "X-Beta: 1", NULL }, "chat", "chat" },
	{ "GET", "/v1/chat", "claude-3", { NULL }, "chat", "chat" },
	{ "GET", "/v1/chat", "claude-3", { "x-tenant: acme", NULL }, "claude-acme",
	  "claude-acme" },
	{ "GET", "/v1/chat", "claude-3", { "X-Tenant: Acme", NULL }, "chat", "chat" },
	{ "GET", "/v1/chat", "claude-3", { "X-Region: eu", "X-Tenant: acme", NULL },
	  "claude-acme-eu", "claude-acme-eu" },
	{ "GET", "/v1/chat", "claude-3", { "X-Region: us", "X-Tenant: acme", NULL },
	  "claude-acme", "claude-acme" },
	{ "POST", "/v1/chat", "claude-3", { "X-Region: eu", "X-Beta: 1", NULL }, "chat-beta",
	  "chat-beta" },
};

static void run_match_case(const struct aigw_route *routes, size_t n,
			   const struct match_case *c, const char *want)
{
	struct aigw_strv headers = AIGW_STRV_INIT;
	struct aigw_route_request req = { c->method, c->path, c->model, &headers };
	ssize_t got;

	for (size_t k = 0; k < 4 && c->headers[k]; k++)
		aigw_strv_push(&headers, c->headers[k]);
	got = aigw_route_match(routes, n, &req, NULL);
	if ((want == NULL) != (got < 0) ||
	    (want && strcmp(routes[got].name, want) != 0))
		fail_msg("%s %s model=%s headers=%zu (%zu routes): want %s, got %s", c->method,
			 c->path, c->model ? c->model : "-", headers.n, n, want ? want : "none",
			 got < 0 ? "none" : routes[got].name);
	aigw_strv_release(&headers);
}

static void test_match_table(void **state)
{
	struct aigw_route *routes = build_all(match_routes, N_MATCH_ROUTES);
	(void)state;

	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		run_match_case(routes, N_MATCH_ROUTES, &match_cases[i], match_cases[i].want);
		run_match_case(routes, N_MATCH_ROUTES - 1, &match_cases[i],
			       match_cases[i].want_noroot);
	}
	aigw_routes_free(routes, N_MATCH_ROUTES);
}

/* The order of the routes must not change the result. */
static void test_match_table_reversed(void **state)
{
	struct spec reversed[N_MATCH_ROUTES];
	struct aigw_route *routes;
	(void)state;

	for (size_t i = 0; i < N_MATCH_ROUTES; i++)
		reversed[i] = match_routes[N_MATCH_ROUTES - 1 - i];
	routes = build_all(reversed, N_MATCH_ROUTES);
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++)
		run_match_case(routes, N_MATCH_ROUTES, &match_cases[i], match_cases[i].want);
	aigw_routes_free(routes, N_MATCH_ROUTES);
}

static void test_match_verdicts(void **state)
{
	struct aigw_route *routes = build_all(match_routes, N_MATCH_ROUTES);
	struct aigw_strv headers = AIGW_STRV_INIT;
	struct aigw_route_request req = { "PUT", "/v1/chat/x", "llama3", &headers };
	enum aigw_route_verdict v[N_MATCH_ROUTES];
	static const enum aigw_route_verdict want[N_MATCH_ROUTES] = {
		AIGW_ROUTE_MATCHED,   /* v1 */
		AIGW_ROUTE_MATCHED,   /* chat */
		AIGW_ROUTE_NO_MODEL,  /* chat-gpt */
		AIGW_ROUTE_NO_MODEL,  /* chat-gpt4 */
		AIGW_ROUTE_NO_METHOD, /* chat-post */
		AIGW_ROUTE_NO_METHOD, /* chat-beta: method before headers */
		AIGW_ROUTE_NO_MODEL,  /* claude-acme: model before headers */
		AIGW_ROUTE_NO_MODEL,  /* claude-acme-eu */
		AIGW_ROUTE_NO_PATH,   /* chat-sub */
		AIGW_ROUTE_NO_PATH,   /* emb */
		AIGW_ROUTE_MATCHED,   /* root */
	};
	ssize_t got;
	(void)state;

	aigw_strv_push(&headers, "X-Tenant: other");
	got = aigw_route_match(routes, N_MATCH_ROUTES, &req, v);
	assert_int_equal(got, 1);
	for (size_t i = 0; i < N_MATCH_ROUTES; i++)
		assert_int_equal(v[i], want[i]);

	req.model = "claude-3";
	req.method = "GET";
	assert_int_equal(aigw_route_check(&routes[6], &req), AIGW_ROUTE_NO_HEADER);
	req.headers = NULL;
	assert_int_equal(aigw_route_check(&routes[6], &req), AIGW_ROUTE_NO_HEADER);
	assert_int_equal(aigw_route_check(&routes[1], &req), AIGW_ROUTE_MATCHED);
	req.path = NULL;
	assert_int_equal(aigw_route_check(&routes[10], &req), AIGW_ROUTE_NO_PATH);

	assert_string_equal(aigw_route_verdict_names[AIGW_ROUTE_MATCHED], "matched");
	assert_string_equal(aigw_route_verdict_names[AIGW_ROUTE_NO_HEADER],
			    "header does not match");
	assert_null(aigw_route_verdict_names[AIGW_ROUTE_NO_HEADER + 1]);
	assert_int_equal(aigw_route_match(routes, 0, &req, NULL), -1);
	aigw_strv_release(&headers);
	aigw_routes_free(routes, N_MATCH_ROUTES);
}

/* Equal rank can still reach the matcher (YAML and database together);
 * the earlier route wins whatever the order of comparison. */
static void test_match_equal_rank_takes_first(void **state)
{
	static const struct spec specs[] = {
		{ "other", "/v2", NULL, NULL, { NULL } },
		{ "first", "/v1", NULL, "gpt-4?", { NULL } },
		{ "second", "/v1", NULL, "gpt-?o", { NULL } },
	};
	struct aigw_route *routes = build_all(specs, 3);
	struct aigw_route_request req = { "POST", "/v1/x", "gpt-4o", NULL };
	(void)state;

	assert_int_equal(aigw_route_rank_cmp(&routes[1], &routes[2]), 0);
	assert_int_equal(aigw_route_match(routes, 3, &req, NULL), 1);
	assert_int_equal(aigw_route_match(routes + 1, 2, &req, NULL), 0);
	aigw_routes_free(routes, 3);
}

/* ------------------------------------------------------------ rank */

struct rank_case {
	struct spec a, b;
	int want; /* sign of rank_cmp(a, b) */
};

static const struct rank_case rank_cases[] = {
	{ { "a", "/v1/chat", NULL, NULL, { NULL } }, { "b", "/v1", "POST", "*", { "A: 1" } }, -1 },
	{ { "a", "/v1/", NULL, NULL, { NULL } }, { "b", "/v1", NULL, NULL, { NULL } }, -1 },
	{ { "a", "/v1", NULL, "*", { NULL } }, { "b", "/v1", "POST", NULL, { "A: 1" } }, -1 },
	{ { "a", "/v1", NULL, "gpt-*", { NULL } }, { "b", "/v1", NULL, "gpt-4*", { NULL } }, 1 },
	{ { "a", "/v1", "GET", "gpt-?", { NULL } }, { "b", "/v1", NULL, "gpt-*", { "A: 1" } }, -1 },
	{ { "a", "/v1", NULL, NULL, { "A: 1", "B: 2" } }, { "b", "/v1", NULL, NULL, { "A: 1" } }, -1 },
	{ { "a", "/v1", "GET", NULL, { "A: 1" } }, { "b", "/v1", "POST", NULL, { "B: 1" } }, 0 },
	{ { "a", "/", NULL, NULL, { NULL } }, { "b", "/", NULL, NULL, { NULL } }, 0 },
};

static void test_rank_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rank_cases) / sizeof(rank_cases[0]); i++) {
		struct aigw_route a, b;
		int ab, ba;
		build(&a, &rank_cases[i].a);
		build(&b, &rank_cases[i].b);
		ab = aigw_route_rank_cmp(&a, &b);
		ba = aigw_route_rank_cmp(&b, &a);
		if ((ab > 0) - (ab < 0) != rank_cases[i].want || (ba > 0) - (ba < 0) != -rank_cases[i].want)
			fail_msg("rank case %zu: cmp(a,b)=%d cmp(b,a)=%d, want sign %d", i, ab, ba,
				 rank_cases[i].want);
		aigw_route_release(&a);
		aigw_route_release(&b);
	}
}

/* ----------------------------------------------------------- path */

static const struct {
	const char *prefix, *path;
	bool want;
} covers_cases[] = {
	{ "/", "/", true },
	{ "/", "/anything/at/all", true },
	{ "/", "/?x", true },
	{ "/", "", false },
	{ "/", "*", false },
	{ "/v1/chat", "/v1/chat", true },
	{ "/v1/chat", "/v1/chat/", true },
	{ "/v1/chat", "/v1/chat/x", true },
	{ "/v1/chat", "/v1/chat?x=1", true },
	{ "/v1/chat", "/v1/chat#f", true },
	{ "/v1/chat", "/v1/chatter", false },
	{ "/v1/chat", "/v1/cha", false },
	{ "/v1/chat", "/v1/Chat", false },
	{ "/v1/chat", "/v1", false },
	{ "/v1/chat", "/v1?/chat", false },
	{ "/v1/chat", "/v2/chat", false },
	{ "/v1/chat/", "/v1/chat/", true },
	{ "/v1/chat/", "/v1/chat/x", true },
	{ "/v1/chat/", "/v1/chat/x/y", true },
	{ "/v1/chat/", "/v1/chat", false },
	{ "/v1/chat/", "/v1/chat?x=/", false },
	{ "/v1/chat/", "/v1/chatx", false },
	{ "", "/", false },
};

static void test_path_covers_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(covers_cases) / sizeof(covers_cases[0]); i++)
		if (aigw_route_path_covers(covers_cases[i].prefix, covers_cases[i].path) !=
		    covers_cases[i].want)
			fail_msg("path_covers('%s', '%s') should be %s", covers_cases[i].prefix,
				 covers_cases[i].path, covers_cases[i].want ? "true" : "false");
}

/* ------------------------------------------------------------- ties */

struct tie_case {
	struct spec a, b;
	bool want;
};

static const struct tie_case tie_cases[] = {
	/* identical */
	{ { "a", "/v1", NULL, NULL, { NULL } }, { "b", "/v1", NULL, NULL, { NULL } }, true },
	{ { "a", "/v1", "POST", "gpt-4o", { NULL } },
	  { "b", "/v1", "POST", "gpt-4o", { NULL } }, true },
	/* equally specific overlapping globs */
	{ { "a", "/v1", NULL, "gpt-4?", { NULL } }, { "b", "/v1", NULL, "gpt-?o", { NULL } }, true },
	{ { "a", "/v1", NULL, "*-4o", { NULL } }, { "b", "/v1", NULL, "gpt*", { NULL } }, true },
	/* same literal count, but no model matches both */
	{ { "a", "/v1", NULL, "gpt-4?", { NULL } }, { "b", "/v1", NULL, "llama?", { NULL } }, false },
	{ { "a", "/v1", NULL, "gpt-4o", { NULL } }, { "b", "/v1", NULL, "gpt-4x", { NULL } }, false },
	/* overlapping, but one has more literals: it wins, no tie */
	{ { "a", "/v1", NULL, "gpt-*", { NULL } }, { "b", "/v1", NULL, "*-mini", { NULL } }, false },
	{ { "a", "/v1", NULL, "gpt-*", { NULL } }, { "b", "/v1", NULL, "gpt-4*", { NULL } }, false },
	/* model glob against none */
	{ { "a", "/v1", NULL, "*", { NULL } }, { "b", "/v1", NULL, NULL, { NULL } }, false },
	/* different paths, even when one covers the other */
	{ { "a", "/v1", NULL, NULL, { NULL } }, { "b", "/v2", NULL, NULL, { NULL } }, false },
	{ { "a", "/v1", NULL, NULL, { NULL } }, { "b", "/v1/", NULL, NULL, { NULL } }, false },
	{ { "a", "/v1", NULL, NULL, { NULL } }, { "b", "/v1/chat", NULL, NULL, { NULL } }, false },
	/* method */
	{ { "a", "/v1", "POST", NULL, { NULL } }, { "b", "/v1", NULL, NULL, { NULL } }, false },
	{ { "a", "/v1", "POST", NULL, { NULL } }, { "b", "/v1", "GET", NULL, { NULL } }, false },
	{ { "a", "/v1", "POST", NULL, { NULL } }, { "b", "/v1", "POST", NULL, { NULL } }, true },
	/* headers: the same set, in any order and case of names */
	{ { "a", "/v1", NULL, NULL, { "X-A: 1", "X-B: 2" } },
	  { "b", "/v1", NULL, NULL, { "x-b:2", "X-a:  1" } }, true },
	{ { "a", "/v1", NULL, NULL, { "X-A: 1" } }, { "b", "/v1", NULL, NULL, { "X-A: 2" } }, false },
	{ { "a", "/v1", NULL, NULL, { "X-A: 1" } }, { "b", "/v1", NULL, NULL, { "X-A: 1" } }, true },
	{ { "a", "/v1", NULL, NULL, { "X-A: a" } }, { "b", "/v1", NULL, NULL, { "X-A: A" } }, false },
	{ { "a", "/v1", NULL, NULL, { "X-A: 1" } }, { "b", "/v1", NULL, NULL, { "X-B: 1" } }, false },
	{ { "a", "/v1", NULL, NULL, { "X-A: 1" } }, { "b", "/v1", NULL, NULL, { NULL } }, false },
	{ { "a", "/v1", NULL, NULL, { "X-A: 1", "X-B: 2" } },
	  { "b", "/v1", NULL, NULL, { "X-A: 1" } }, false },
	/* everything at once */
	{ { "a", "/v1/chat", "POST", "claude-*", { "X-T: a" } },
	  { "b", "/v1/chat", "POST", "*-opus", { "x-t: a" } }, false },
	{ { "a", "/v1/chat", "POST", "claude-*", { "X-T: a" } },
	  { "b", "/v1/chat", "POST", "*-3-opus", { "x-t: a" } }, true },
};

static void test_ties_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(tie_cases) / sizeof(tie_cases[0]); i++) {
		struct aigw_route a, b;
		build(&a, &tie_cases[i].a);
		build(&b, &tie_cases[i].b);
		if (aigw_route_ties(&a, &b) != tie_cases[i].want ||
		    aigw_route_ties(&b, &a) != tie_cases[i].want)
			fail_msg("tie case %zu (%s %s %s vs %s %s %s): want %s", i, a.path,
				 a.method ? a.method : "-", a.model ? a.model : "-", b.path,
				 b.method ? b.method : "-", b.model ? b.model : "-",
				 tie_cases[i].want ? "tie" : "no tie");
		/* A tie is exactly what rank cannot separate. */
		if (tie_cases[i].want)
			assert_int_equal(aigw_route_rank_cmp(&a, &b), 0);
		aigw_route_release(&a);
		aigw_route_release(&b);
	}
}

/* ------------------------------------------------------- validation */

struct validate_case {
	const char *name;
	const char *path;
	const char *method;
	const char *model;
	const char *headers[HEADERS_MAX];
	const char *nodes;    /* comma-separated; "" for none */
	int policy;
	int64_t retries;
	int64_t timeout_ms;
	const char *fallback;
	const char *want;     /* NULL: valid; else a fragment of the message */
};

static const struct validate_case validate_cases[] = {
	{ "chat", "/v1/chat", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, NULL },
	{ "chat", "/", "POST", "gpt-4*", { "X-Tenant: acme", "x-b: a b c" }, "n1,n2", 1, 10,
	  86400000, "other", NULL },
	{ "chat", "/v1/chat/", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, NULL },
	{ "chat", "/v1/a.b/..c/%2e", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, NULL },
	{ "chat", "/v1", "M-SEARCH", NULL, { NULL }, "n1", 0, 0, 0, NULL, "method 'M-SEARCH'" },
	{ "chat", "/v1", "PROPFIND", NULL, { "A!#$%&'*+-.^_`|~9: ~ !" }, "n1", 0, 0, 0, NULL,
	  NULL },
	/* name */
	{ "", "/v1", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "invalid route name ''" },
	{ NULL, "/v1", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "invalid route name ''" },
	{ "a b", "/v1", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "invalid route name 'a b'" },
	{ "123", "/v1", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "invalid route name '123'" },
	/* path */
	{ "chat", NULL, NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "route 'chat' has no path" },
	{ "chat", "v1", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL,
	  "path 'v1' must start with '/'" },
	{ "chat", "", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "path '' must start with '/'" },
	{ "chat", "/v1 chat", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL,
	  "path '/v1 chat' has a space" },
	{ "chat", "/v1\tchat", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "control" },
	{ "chat", "/v1/caf\xc3\xa9", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "non-ASCII" },
	{ "chat", "/v1?x=1", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL,
	  "path '/v1?x=1' must not contain '?'" },
	{ "chat", "/v1#x", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "must not contain '#'" },
	{ "chat", "//v1", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "empty segment" },
	{ "chat", "/v1//chat", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "empty segment" },
	{ "chat", "/v1/../x", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL,
	  "path '/v1/../x' has a '..' segment" },
	{ "chat", "/v1/./x", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "has a '.' segment" },
	{ "chat", "/v1/..", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "has a '..' segment" },
	{ "chat", "/.", NULL, NULL, { NULL }, "n1", 0, 0, 0, NULL, "has a '.' segment" },
	/* method */
	{ "chat", "/v1", "post", NULL, { NULL }, "n1", 0, 0, 0, NULL,
	  "method 'post' must be an uppercase HTTP method" },
	{ "chat", "/v1", "", NULL, { NULL }, "n1", 0, 0, 0, NULL, "method ''" },
	{ "chat", "/v1", "ABCDEFGHIJKLMNOPQ", NULL, { NULL }, "n1", 0, 0, 0, NULL,
	  "method 'ABCDEFGHIJKLMNOPQ'" },
	{ "chat", "/v1", "ABCDEFGHIJKLMNOP", NULL, { NULL }, "n1", 0, 0, 0, NULL, NULL },
	/* model */
	{ "chat", "/v1", NULL, "", { NULL }, "n1", 0, 0, 0, NULL, "model: empty pattern" },
	{ "chat", "/v1", NULL, "gpt 4", { NULL }, "n1", 0, 0, 0, NULL, "model: pattern 'gpt 4'" },
	/* headers */
	{ "chat", "/v1", NULL, NULL, { "X-Tenant acme" }, "n1", 0, 0, 0, NULL,
	  "header condition 'X-Tenant acme' must be 'Name: value'" },
	{ "chat", "/v1", NULL, NULL, { ": acme" }, "n1", 0, 0, 0, NULL,
	  "header condition ': acme' must be 'Name: value'" },
	{ "chat", "/v1", NULL, NULL, { "X-Tenant : acme" }, "n1", 0, 0, 0, NULL,
	  "header condition 'X-Tenant : acme' must be 'Name: value' with a name" },
	{ "chat", "/v1", NULL, NULL, { "X(T): a" }, "n1", 0, 0, 0, NULL, "with a name" },
	{ "chat", "/v1", NULL, NULL, { "X-Tenant:  " }, "n1", 0, 0, 0, NULL, "empty value" },
	{ "chat", "/v1", NULL, NULL, { "X-Tenant: a\tb" }, "n1", 0, 0, 0, NULL,
	  "control or non-ASCII character in its value" },
	{ "chat", "/v1", NULL, NULL, { "X-Tenant: a\x7f" }, "n1", 0, 0, 0, NULL, "in its value" },
	{ "chat", "/v1", NULL, NULL, { "X-A: 1", "x-a: 2" }, "n1", 0, 0, 0, NULL,
	  "header 'x-a' is given twice" },
	{ "chat", "/v1", NULL, NULL,
	  { "A: 1", "B: 1", "C: 1", "D: 1", "E: 1", "F: 1", "G: 1", "H: 1" }, "n1", 0, 0, 0,
	  NULL, NULL },
	{ "chat", "/v1", NULL, NULL,
	  { "A: 1", "B: 1", "C: 1", "D: 1", "E: 1", "F: 1", "G: 1", "H: 1", "I: 1" }, "n1", 0,
	  0, 0, NULL, "too many header conditions (9, at most 8)" },
	/* nodes */
	{ "chat", "/v1", NULL, NULL, { NULL }, "", 0, 0, 0, NULL, "route 'chat' names no node" },
	{ "chat", "/v1", NULL, NULL, { NULL }, "n1,n 2", 0, 0, 0, NULL,
	  "invalid node name 'n 2' in nodes" },
	{ "chat", "/v1", NULL, NULL, { NULL }, "n1,n2,n1", 0, 0, 0, NULL,
	  "node 'n1' is listed twice" },
	/* ranges */
	{ "chat", "/v1", NULL, NULL, { NULL }, "n1", 6, 0, 0, NULL, "unknown policy" },
	{ "chat", "/v1", NULL, NULL, { NULL }, "n1", -1, 0, 0, NULL, "unknown policy" },
	{ "chat", "/v1", NULL, NULL, { NULL }, "n1", 0, 11, 0, NULL,
	  "retries 11 is out of range (0..10)" },
	{ "chat", "/v1", NULL, NULL, { NULL }, "n1", 0, -1, 0, NULL, "retries -1" },
	{ "chat", "/v1", NULL, NULL, { NULL }, "n1", 0, 0, -1, NULL, "timeout -1ms" },
	{ "chat", "/v1", NULL, NULL, { NULL }, "n1", 0, 0, 86400001, NULL,
	  "timeout 1d1ms is out of range" },
	/* fallback */
	{ "chat", "/v1", NULL, NULL, { NULL }, "n1", 0, 0, 0, "chat",
	  "fallback 'chat' names the route itself" },
	{ "chat", "/v1", NULL, NULL, { NULL }, "n1", 0, 0, 0, "x y",
	  "invalid fallback route name 'x y'" },
};

static void test_validate_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(validate_cases) / sizeof(validate_cases[0]); i++) {
		const struct validate_case *c = &validate_cases[i];
		struct aigw_route r;
		struct aigw_err err = { 0, "" };
		int rc;

		aigw_route_init(&r);
		r.name = c->name ? aigw_strdup(c->name) : NULL;
		r.path = c->path ? aigw_strdup(c->path) : NULL;
		r.method = c->method ? aigw_strdup(c->method) : NULL;
		r.model = c->model ? aigw_strdup(c->model) : NULL;
		r.fallback = c->fallback ? aigw_strdup(c->fallback) : NULL;
		for (size_t k = 0; k < HEADERS_MAX && c->headers[k]; k++)
			aigw_strv_push(&r.headers, c->headers[k]);
		assert_int_equal(aigw_strv_split(&r.nodes, c->nodes, ',', NULL), 0);
		r.policy = c->policy;
		r.retries = c->retries;
		r.timeout_ms = c->timeout_ms;

		rc = aigw_route_validate(&r, &err);
		if (!c->want && rc != 0)
			fail_msg("validate case %zu: unexpected error: %s", i, err.msg);
		if (c->want && (rc != AIGW_EINVAL || !strstr(err.msg, c->want)))
			fail_msg("validate case %zu: want error containing \"%s\", got %d \"%s\"",
				 i, c->want, rc, err.msg);
		/* No message may end in a period or start with a capital. */
		if (c->want && (err.msg[strlen(err.msg) - 1] == '.' ||
				(err.msg[0] >= 'A' && err.msg[0] <= 'Z')))
			fail_msg("validate case %zu: badly formed message \"%s\"", i, err.msg);
		assert_int_equal(aigw_route_validate(&r, NULL), rc);
		aigw_route_release(&r);
	}
}

/* The three narrower timeouts are checked like timeout, each named in
 * its message, and 24h is the last value accepted. */
static void test_validate_timeouts(void **state)
{
	static const struct {
		int which; /* 0 connect, 1 first byte, 2 idle */
		int64_t ms;
		const char *want; /* NULL: valid */
	} cases[] = {
		{ 0, 0, NULL },
		{ 0, 86400000, NULL },
		{ 0, 86400001, "connect_timeout 1d1ms is out of range (0..24h, 0 = 10s)" },
		{ 0, -5, "connect_timeout -5ms is out of range" },
		{ 1, 1500, NULL },
		{ 1, 86400001, "first_byte_timeout 1d1ms is out of range (0..24h, 0 = no limit)" },
		{ 1, -1, "first_byte_timeout -1ms" },
		{ 2, 86400000, NULL },
		{ 2, 86400001, "idle_timeout 1d1ms is out of range (0..24h, 0 = no limit)" },
		{ 2, -1, "idle_timeout -1ms" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aigw_route r, copy;
		struct aigw_err err = { 0, "" };
		int64_t *field;
		int rc;

		aigw_route_init(&r);
		r.name = aigw_strdup("chat");
		r.path = aigw_strdup("/v1");
		aigw_strv_push(&r.nodes, "n1");
		field = cases[i].which == 0   ? &r.connect_timeout_ms
			: cases[i].which == 1 ? &r.first_byte_timeout_ms
					      : &r.idle_timeout_ms;
		*field = cases[i].ms;
		rc = aigw_route_validate(&r, &err);
		if (!cases[i].want && rc != 0)
			fail_msg("timeout case %zu: unexpected error: %s", i, err.msg);
		if (cases[i].want && (rc != AIGW_EINVAL || !strstr(err.msg, cases[i].want)))
			fail_msg("timeout case %zu: want \"%s\", got %d \"%s\"", i,
				 cases[i].want, rc, err.msg);
		aigw_route_copy(&copy, &r);
		assert_int_equal(copy.connect_timeout_ms, r.connect_timeout_ms);
		assert_int_equal(copy.first_byte_timeout_ms, r.first_byte_timeout_ms);
		assert_int_equal(copy.idle_timeout_ms, r.idle_timeout_ms);
		aigw_route_release(&copy);
		aigw_route_release(&r);
		assert_int_equal(r.idle_timeout_ms, 0);
	}
}

static void test_path_length_limit(void **state)
{
	char path[600];
	struct aigw_route r;
	struct aigw_err err = { 0, "" };
	(void)state;

	aigw_route_init(&r);
	r.name = aigw_strdup("long");
	aigw_strv_push(&r.nodes, "n1");
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[512] = '\0';
	r.path = aigw_strdup(path);
	assert_int_equal(aigw_route_validate(&r, &err), 0);
	free(r.path);
	path[512] = 'a';
	path[513] = '\0';
	r.path = aigw_strdup(path);
	assert_int_equal(aigw_route_validate(&r, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "longer than 512 bytes"));
	aigw_route_release(&r);
}

/* ------------------------------------------------------- lifecycle */

static void test_lifecycle(void **state)
{
	static const struct spec s = { "chat", "/v1/chat", "POST", "gpt-*", { "X-A: 1", NULL } };
	struct aigw_route r, copy, *many;
	(void)state;

	aigw_route_init(&r);
	assert_int_equal(r.policy, AIGW_POLICY_ROUND_ROBIN);
	assert_int_equal(r.origin, AIGW_ORIGIN_DB);
	assert_int_equal(r.retries, 0);
	assert_null(r.name);
	aigw_route_release(&r); /* releasing an empty route is fine */

	build(&r, &s);
	r.fallback = aigw_strdup("other");
	r.where = aigw_strdup("aigw.yaml:3:5");
	r.policy = AIGW_POLICY_WEIGHTED;
	aigw_route_copy(&copy, &r);
	aigw_route_release(&r);
	assert_null(r.name);
	assert_string_equal(copy.name, "chat");
	assert_string_equal(copy.path, "/v1/chat");
	assert_string_equal(copy.method, "POST");
	assert_string_equal(copy.model, "gpt-*");
	assert_string_equal(copy.fallback, "other");
	assert_string_equal(copy.where, "aigw.yaml:3:5");
	assert_string_equal(copy.headers.v[0], "X-A: 1");
	assert_string_equal(copy.nodes.v[0], "n1");
	assert_int_equal(copy.policy, AIGW_POLICY_WEIGHTED);

	many = aigw_calloc(2, sizeof(*many));
	aigw_route_copy(&many[0], &copy);
	aigw_route_init(&many[1]);
	aigw_routes_free(many, 2);
	aigw_routes_free(NULL, 0);
	aigw_route_release(&copy);

	assert_string_equal(aigw_policy_names[AIGW_POLICY_ROUND_ROBIN], "round_robin");
	assert_string_equal(aigw_policy_names[AIGW_POLICY_WEIGHTED], "weighted");
	assert_string_equal(aigw_policy_names[AIGW_POLICY_ADAPTIVE], "adaptive");
	assert_null(aigw_policy_names[AIGW_POLICY_LAST + 1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_match_table_reversed),
		cmocka_unit_test(test_match_verdicts),
		cmocka_unit_test(test_match_equal_rank_takes_first),
		cmocka_unit_test(test_rank_table),
		cmocka_unit_test(test_path_covers_table),
		cmocka_unit_test(test_ties_table),
		cmocka_unit_test(test_validate_table),
		cmocka_unit_test(test_validate_timeouts),
		cmocka_unit_test(test_path_length_limit),
		cmocka_unit_test(test_lifecycle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
