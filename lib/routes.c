/* routes: see routes.h. */
#include "routes.h"

#include <string.h>

#include "catalog.h"
#include "clock.h"

/* Would adding r close a fallback loop? Follows r's fallback chain through
 * the catalog; the chain is at most n_routes long without a cycle. */
static bool makes_cycle(const struct aigw_catalog *cat, const struct aigw_route *r)
{
	const char *next = r->fallback;
	for (size_t steps = 0; next && steps <= cat->n_routes; steps++) {
		const struct aigw_route *f;
		if (strcmp(next, r->name) == 0)
			return true;
		f = aigw_catalog_route(cat, next);
		next = f ? f->fallback : NULL;
	}
	return false;
}

static int check_new(const struct aigw_catalog *cat, const struct aigw_route *r,
		     struct aigw_err *err)
{
	const struct aigw_route *other = aigw_catalog_route(cat, r->name);

	if (other)
		return aigw_err_set(err, AIGW_EEXIST, "a route named '%s' already exists%s%s",
				    r->name, other->where ? " in " : "",
				    other->where ? other->where : "");
	for (size_t i = 0; i < r->nodes.n; i++)
		if (!aigw_catalog_node(cat, r->nodes.v[i]))
			return aigw_err_set(err, AIGW_ENOTFOUND, "no node named '%s'", r->nodes.v[i]);
	if (r->fallback && !aigw_catalog_route(cat, r->fallback))
		return aigw_err_set(err, AIGW_ENOTFOUND, "no route named '%s' to fall back to",
				    r->fallback);
	if (r->fallback && makes_cycle(cat, r))
		return aigw_err_set(err, AIGW_EFAIL, "fallback to '%s' would make a cycle",
				    r->fallback);
	for (size_t i = 0; i < cat->n_routes; i++)
		if (aigw_route_ties(&cat->routes[i], r))
			return aigw_err_set(err, AIGW_EFAIL,
					    "route '%s' would tie with route '%s': same path, method and headers, and equally specific models that overlap",
					    r->name, cat->routes[i].name);
	return 0;
}

int aigw_routes_add(struct aigw_store *s, const struct aigw_conf *conf, struct aigw_route *r,
		    struct aigw_err *err)
{
	struct aigw_catalog cat;
	int rc;

	r->origin = AIGW_ORIGIN_DB;
	if ((rc = aigw_route_validate(r, err)))
		return rc;
	/* Checks and insert share one write transaction, so two concurrent
	 * adds cannot both pass the tie check. */
	if ((rc = aigw_store_begin(s, err)))
		return rc;
	if ((rc = aigw_catalog_load(&cat, conf, s, err)))
		goto fail;
	rc = check_new(&cat, r, err);
	aigw_catalog_release(&cat);
	if (rc)
		goto fail;
	r->created_at = r->updated_at = aigw_clock_wall_s();
	if ((rc = aigw_store_route_insert(s, r, err)) || (rc = aigw_store_commit(s, err)))
		goto fail;
	return 0;
fail:
	aigw_store_rollback(s);
	return rc;
}

int aigw_routes_remove(struct aigw_store *s, const struct aigw_conf *conf, const char *name,
		       struct aigw_err *err)
{
	struct aigw_catalog cat;
	const struct aigw_route *r;
	int rc;

	if ((rc = aigw_store_begin(s, err)))
		return rc;
	if ((rc = aigw_catalog_load(&cat, conf, s, err)))
		goto fail;
	r = aigw_catalog_route(&cat, name);
	if (!r) {
		rc = aigw_err_set(err, AIGW_ENOTFOUND, "no route named '%s'", name);
	} else if (r->origin == AIGW_ORIGIN_YAML) {
		rc = aigw_err_set(err, AIGW_EFAIL, "route '%s' is defined in %s; change it there",
				  name, r->where ? r->where : "aigw.yaml");
	} else {
		for (size_t i = 0; i < cat.n_routes; i++) {
			if (cat.routes[i].fallback && strcmp(cat.routes[i].fallback, name) == 0) {
				rc = aigw_err_set(err, AIGW_EFAIL,
						  "route '%s' is the fallback of route '%s'", name,
						  cat.routes[i].name);
				break;
			}
		}
	}
	aigw_catalog_release(&cat);
	if (rc)
		goto fail;
	if ((rc = aigw_store_route_delete(s, name, err)) || (rc = aigw_store_commit(s, err)))
		goto fail;
	return 0;
fail:
	aigw_store_rollback(s);
	return rc;
}
