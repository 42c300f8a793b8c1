/* routes: the operations on routes, with the rules that span aigw.yaml and
 * the database: unique names, every named node known, fallbacks that
 * exist and never form a cycle, and no two routes tied for the same
 * requests. Shared by the CLI and the admin API. */
#ifndef AIGW_ROUTES_H
#define AIGW_ROUTES_H

#include "conf.h"
#include "err.h"
#include "route.h"
#include "store.h"

int aigw_routes_add(struct aigw_store *s, const struct aigw_conf *conf, struct aigw_route *r,
		    struct aigw_err *err);
/* Refuses YAML routes and routes that another route falls back to. */
int aigw_routes_remove(struct aigw_store *s, const struct aigw_conf *conf, const char *name,
		       struct aigw_err *err);

#endif
