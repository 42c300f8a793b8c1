/* snapshot: the read-mostly state a running gateway consults on every
 * request — routes, nodes, the API key index and
 * the model list — built once, then never changed.
 *
 * A change (a CLI write noticed through the store's config_version, a
 * SIGHUP)
 * builds a new snapshot and hands it to each worker, which swaps it in
 * between requests. Requests hold a reference, so a request that started
 * on the old state finishes on it, and the old snapshot is freed by
 * whoever drops the last reference. */
#ifndef AIGW_SNAPSHOT_H
#define AIGW_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "conf.h"
#include "err.h"
#include "key.h"
#include "store.h"

struct aigw_snapshot_node {
	const struct aigw_node *node; /* into cat */
	/* The node names an api_key_env variable that is not set (or empty)
	 * when the snapshot is built: serve warns. Requests take their
	 * credentials from lib/accounts, which reads the variables itself. */
	bool credential_missing;
};

struct aigw_snapshot_route {
	const struct aigw_route *route; /* into cat */
	size_t n;                       /* route->nodes.n */
	int *node;                      /* index into nodes[], -1 if unknown */
};

struct aigw_snapshot {
	atomic_int refs;
	struct aigw_catalog cat;
	struct aigw_snapshot_node *nodes;   /* parallel to cat.nodes */
	struct aigw_snapshot_route *routes; /* parallel to cat.routes */
	struct aigw_key *keys;              /* every key, revoked ones too */
	size_t n_keys;
	uint32_t *key_slots;                /* open addressing: index + 1, 0 empty */
	size_t key_mask;
	struct aigw_strv models;            /* sorted union over enabled nodes */
	struct aigw_alias *aliases;         /* copied from the config */
	size_t n_aliases;
	struct aigw_price *prices;          /* price overrides, from the config */
	size_t n_prices;
	struct aigw_geo geo;                /* geo-aware routing, from the config */
	int64_t config_version;             /* of the store when built */
	bool header_routes;                 /* does any route match on headers? */
};

/* Builds from the config and the store (either may be NULL). The new
 * snapshot has one reference, the caller's. */
int aigw_snapshot_build(const struct aigw_conf *conf, struct aigw_store *store,
			struct aigw_snapshot **out, struct aigw_err *err);
struct aigw_snapshot *aigw_snapshot_ref(struct aigw_snapshot *s);
void aigw_snapshot_unref(struct aigw_snapshot *s); /* NULL is a no-op */

/* The key whose secret hashes to hash, or NULL. */
const struct aigw_key *aigw_snapshot_key(const struct aigw_snapshot *s,
					 const uint8_t hash[AIGW_APIKEY_HASH_LEN]);
/* Index of a node by name in nodes[], or -1. */
int aigw_snapshot_node_index(const struct aigw_snapshot *s, const char *name);

#endif
