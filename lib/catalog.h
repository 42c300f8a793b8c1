/* catalog: the nodes and routes in force, YAML and database together.
 *
 * YAML entries come first (and win nothing: a name may not be defined in
 * both places; `aigw route check` reports it). This is what route test,
 * route check, completion and, later, serve's snapshot read. */
#ifndef AIGW_CATALOG_H
#define AIGW_CATALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "err.h"
#include "node.h"
#include "route.h"
#include "store.h"

struct aigw_catalog {
	struct aigw_node *nodes;
	size_t n_nodes;
	struct aigw_route *routes;
	size_t n_routes;
};

/* Copies conf's entries and the store's rows; conf and store may be NULL. */
int aigw_catalog_load(struct aigw_catalog *c, const struct aigw_conf *conf,
		      struct aigw_store *store, struct aigw_err *err);
void aigw_catalog_release(struct aigw_catalog *c);

const struct aigw_node *aigw_catalog_node(const struct aigw_catalog *c, const char *name);
const struct aigw_route *aigw_catalog_route(const struct aigw_catalog *c, const char *name);

/* A route's nodes as the balancer would consider them, in order: active
 * nodes first (configured order), then standby ones; nodes that cannot
 * take the request are listed last with the reason. */
struct aigw_candidate {
	const char *name;
	const struct aigw_node *node; /* NULL when the route names an unknown node */
	bool eligible;
	const char *reason;           /* "active", "standby", "disabled", "draining",
				       * "does not serve model", "unknown node" */
};
/* *out is heap-allocated (free it); entries point into c and r. */
int aigw_catalog_candidates(const struct aigw_catalog *c, const struct aigw_route *r,
			    const char *model, struct aigw_candidate **out, size_t *n);

/* Whole-configuration checks: names defined twice, routes naming unknown
 * nodes, fallbacks to unknown routes, fallback cycles, routes with no
 * enabled node, tied routes. Each problem is one line in problems; returns
 * the number of problems. (Whether api_key_env variables are set depends
 * on the environment of the process that serves, so it is not checked
 * here, where the answer would depend on the shell running the check.) */
size_t aigw_catalog_check(const struct aigw_catalog *c, struct aigw_strv *problems);

#endif
