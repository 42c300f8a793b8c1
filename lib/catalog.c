/* catalog: see catalog.h. */
#include "catalog.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"

/* ----------------------------------------------------------- loading */

static void add_nodes_copy(struct aigw_catalog *c, const struct aigw_node *nodes, size_t n)
{
	if (!n)
		return;
	c->nodes = aigw_realloc(c->nodes, (c->n_nodes + n) * sizeof(*c->nodes));
	for (size_t i = 0; i < n; i++)
		aigw_node_copy(&c->nodes[c->n_nodes++], &nodes[i]);
}

static void add_routes_copy(struct aigw_catalog *c, const struct aigw_route *routes, size_t n)
{
	if (!n)
		return;
	c->routes = aigw_realloc(c->routes, (c->n_routes + n) * sizeof(*c->routes));
	for (size_t i = 0; i < n; i++)
		aigw_route_copy(&c->routes[c->n_routes++], &routes[i]);
}

/* Store rows arrive in a fresh array: move the structs (their strings
 * change owner) and free only the array. */
static void add_nodes_take(struct aigw_catalog *c, struct aigw_node *nodes, size_t n)
{
	if (n) {
		c->nodes = aigw_realloc(c->nodes, (c->n_nodes + n) * sizeof(*c->nodes));
		memcpy(c->nodes + c->n_nodes, nodes, n * sizeof(*nodes));
		c->n_nodes += n;
	}
	free(nodes);
}

static void add_routes_take(struct aigw_catalog *c, struct aigw_route *routes, size_t n)
{
	if (n) {
		c->routes = aigw_realloc(c->routes, (c->n_routes + n) * sizeof(*c->routes));
		memcpy(c->routes + c->n_routes, routes, n * sizeof(*routes));
		c->n_routes += n;
	}
	free(routes);
}

int aigw_catalog_load(struct aigw_catalog *c, const struct aigw_conf *conf,
		      struct aigw_store *store, struct aigw_err *err)
{
	memset(c, 0, sizeof(*c));
	if (conf) {
		add_nodes_copy(c, conf->nodes, conf->n_nodes);
		add_routes_copy(c, conf->routes, conf->n_routes);
	}
	if (store) {
		struct aigw_node *nodes = NULL;
		struct aigw_route *routes = NULL;
		size_t n = 0;
		int rc;

		if ((rc = aigw_store_node_list(store, &nodes, &n, err)))
			goto fail;
		add_nodes_take(c, nodes, n);
		n = 0;
		if ((rc = aigw_store_route_list(store, &routes, &n, err)))
			goto fail;
		add_routes_take(c, routes, n);
		return 0;
	fail:
		aigw_catalog_release(c);
		return rc;
	}
	return 0;
}

void aigw_catalog_release(struct aigw_catalog *c)
{
	aigw_nodes_free(c->nodes, c->n_nodes);
	aigw_routes_free(c->routes, c->n_routes);
	memset(c, 0, sizeof(*c));
}

/* --------------------------------------------------------- lookups */

/* The first definition wins a lookup; a name defined twice is reported by
 * aigw_catalog_check rather than resolved silently. */
static ssize_t node_index(const struct aigw_catalog *c, const char *name)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

static ssize_t route_index(const struct aigw_catalog *c, const char *name)
{
	for (size_t i = 0; i < c->n_routes; i++)
		if (strcmp(c->routes[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

const struct aigw_node *aigw_catalog_node(const struct aigw_catalog *c, const char *name)
{
	ssize_t i = node_index(c, name);
	return i < 0 ? NULL : &c->nodes[i];
}

const struct aigw_route *aigw_catalog_route(const struct aigw_catalog *c, const char *name)
{
	ssize_t i = route_index(c, name);
	return i < 0 ? NULL : &c->routes[i];
}

/* ------------------------------------------------------- candidates */

enum group { ACTIVE, STANDBY, INELIGIBLE };

static enum group classify(const struct aigw_node *n, const char *model, const char **reason)
{
	if (!n) {
		*reason = "unknown node";
		return INELIGIBLE;
	}
	if (n->state == AIGW_NODE_DISABLED) {
		*reason = "disabled";
		return INELIGIBLE;
	}
	if (n->state == AIGW_NODE_DRAINING) {
		*reason = "draining";
		return INELIGIBLE;
	}
	if (!aigw_node_serves(n, model)) {
		*reason = "does not serve model";
		return INELIGIBLE;
	}
	*reason = n->standby ? "standby" : "active";
	return n->standby ? STANDBY : ACTIVE;
}

int aigw_catalog_candidates(const struct aigw_catalog *c, const struct aigw_route *r,
			    const char *model, struct aigw_candidate **out, size_t *n)
{
	struct aigw_candidate *list = aigw_calloc(r->nodes.n, sizeof(*list));
	size_t used = 0;

	/* One pass per group keeps each group in the route's order. */
	for (int g = ACTIVE; g <= INELIGIBLE; g++) {
		for (size_t i = 0; i < r->nodes.n; i++) {
			const struct aigw_node *node = aigw_catalog_node(c, r->nodes.v[i]);
			const char *reason;
			if (classify(node, model, &reason) != (enum group)g)
				continue;
			list[used].name = r->nodes.v[i];
			list[used].node = node;
			list[used].eligible = g != INELIGIBLE;
			list[used].reason = reason;
			used++;
		}
	}
	*out = list;
	*n = used;
	return 0;
}

/* ------------------------------------------------------------ check */

static void problem(struct aigw_strv *problems, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct aigw_strv *problems, const char *fmt, ...)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	aigw_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	aigw_strv_push(problems, b.data);
	aigw_buf_release(&b);
}

/* "aigw.yaml:3:5" or "the database", for "defined both in X and in Y". */
static const char *origin_text(int origin, const char *where)
{
	if (where)
		return where;
	return origin == AIGW_ORIGIN_YAML ? "aigw.yaml" : "the database";
}

static void check_nodes(const struct aigw_catalog *c, struct aigw_strv *problems)
{
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct aigw_node *n = &c->nodes[i];
		ssize_t first = node_index(c, n->name);

		if (first >= 0 && (size_t)first < i)
			problem(problems, "node '%s' is defined both in %s and in %s", n->name,
				origin_text(c->nodes[first].origin, c->nodes[first].where),
				origin_text(n->origin, n->where));
	}
}

/* Reports the fallback cycle through route i, once: only from the member
 * that comes first in the catalog. fallback_of[k] is the index route k
 * falls back to, or -1. */
static void check_cycle(const struct aigw_catalog *c, const ssize_t *fallback_of, size_t i,
			struct aigw_strv *problems)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	ssize_t k = fallback_of[i];
	size_t steps = 0;

	/* A walk longer than the catalog has entered a loop not through i. */
	while (k >= 0 && (size_t)k != i && steps++ < c->n_routes) {
		if ((size_t)k < i)
			return; /* an earlier member reports it (or i is not in it) */
		k = fallback_of[k];
	}
	if (k < 0 || (size_t)k != i)
		return;
	aigw_buf_printf(&b, "fallback cycle: %s", c->routes[i].name);
	k = fallback_of[i];
	for (;;) {
		aigw_buf_printf(&b, " -> %s", c->routes[k].name);
		if ((size_t)k == i)
			break;
		k = fallback_of[k];
	}
	aigw_strv_push(problems, b.data);
	aigw_buf_release(&b);
}

static bool has_enabled_node(const struct aigw_catalog *c, const struct aigw_route *r)
{
	for (size_t i = 0; i < r->nodes.n; i++) {
		const struct aigw_node *n = aigw_catalog_node(c, r->nodes.v[i]);
		if (n && n->state == AIGW_NODE_ENABLED)
			return true;
	}
	return false;
}

static void check_route(const struct aigw_catalog *c, const ssize_t *fallback_of, size_t i,
			struct aigw_strv *problems)
{
	const struct aigw_route *r = &c->routes[i];
	ssize_t first = route_index(c, r->name);

	if (first >= 0 && (size_t)first < i)
		problem(problems, "route '%s' is defined both in %s and in %s", r->name,
			origin_text(c->routes[first].origin, c->routes[first].where),
			origin_text(r->origin, r->where));
	for (size_t k = 0; k < r->nodes.n; k++)
		if (!aigw_catalog_node(c, r->nodes.v[k]))
			problem(problems, "route '%s' names unknown node '%s'", r->name,
				r->nodes.v[k]);
	if (!has_enabled_node(c, r))
		problem(problems, "route '%s' has no enabled node", r->name);
	if (r->fallback && fallback_of[i] < 0)
		problem(problems, "route '%s' falls back to unknown route '%s'", r->name,
			r->fallback);
	check_cycle(c, fallback_of, i, problems);
	/* A second definition of a name is reported as such above; comparing
	 * it for ties too would only repeat its first definition's lines. */
	if (first >= 0 && (size_t)first < i)
		return;
	for (size_t j = i + 1; j < c->n_routes; j++) {
		if (route_index(c, c->routes[j].name) != (ssize_t)j)
			continue;
		if (aigw_route_ties(r, &c->routes[j]))
			problem(problems,
				"routes '%s' and '%s' tie (same path, method, headers and "
				"equally specific overlapping models)",
				r->name, c->routes[j].name);
	}
}

size_t aigw_catalog_check(const struct aigw_catalog *c, struct aigw_strv *problems)
{
	size_t before = problems->n;
	ssize_t *fallback_of = aigw_calloc(c->n_routes, sizeof(*fallback_of));

	for (size_t i = 0; i < c->n_routes; i++)
		fallback_of[i] = c->routes[i].fallback ? route_index(c, c->routes[i].fallback) : -1;
	check_nodes(c, problems);
	for (size_t i = 0; i < c->n_routes; i++)
		check_route(c, fallback_of, i, problems);
	free(fallback_of);
	return problems->n - before;
}
