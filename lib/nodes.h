/* nodes: the operations on nodes, with the rules that span aigw.yaml and
 * the database: names are unique across both, YAML nodes are read-only
 * here, a node still named by a route cannot be removed, and an import is
 * all or nothing. Shared by the CLI and the admin API. */
#ifndef AIGW_NODES_H
#define AIGW_NODES_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "err.h"
#include "node.h"
#include "store.h"

/* Fields to change; NULL leaves a field as it is. For region,
 * api_key_env and proxy, "" removes the value. api_key_env "A,B" makes one
 * account per name (replacing every account; they keep the proxy the
 * first account had unless proxy is given); proxy alone sets or removes
 * the proxy of every account. accounts_from, when set, replaces the
 * accounts with that node's (the admin API's "accounts"). */
struct aigw_node_changes {
	const char *url;
	const int *provider, *type;
	const char *region;
	const int64_t *weight, *max_concurrency, *cost;
	const struct aigw_strv *models;
	const char *api_key_env;
	const char *proxy;
	const struct aigw_node *accounts_from;
	const bool *standby;
};

/* n is validated and inserted; n->id and timestamps are filled in. */
int aigw_nodes_add(struct aigw_store *s, const struct aigw_conf *conf, struct aigw_node *n,
		   struct aigw_err *err);
int aigw_nodes_update(struct aigw_store *s, const struct aigw_conf *conf, const char *name,
		      const struct aigw_node_changes *c, struct aigw_node *out,
		      struct aigw_err *err);
int aigw_nodes_set_state(struct aigw_store *s, const struct aigw_conf *conf, const char *name,
			 int state, struct aigw_node *out, struct aigw_err *err);
int aigw_nodes_remove(struct aigw_store *s, const struct aigw_conf *conf, const char *name,
		      struct aigw_err *err);

/* Imports node records from JSON lines or YAML (told apart by the first
 * character that is not blank or in a '#' comment line: '{' means JSON
 * lines). Every record is checked
 * before anything is written, then all are written in one transaction.
 * A name that already exists is an error unless replace is set, in which
 * case the database node is updated. The error names the record's line. */
int aigw_nodes_import(struct aigw_store *s, const struct aigw_conf *conf, const char *source,
		      const char *text, size_t len, bool replace, size_t *added,
		      size_t *updated, struct aigw_err *err);

#endif
