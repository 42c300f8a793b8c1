/* snapshot: see snapshot.h. */
#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint64_t slot_hash(const uint8_t hash[AIGW_APIKEY_HASH_LEN])
{
	uint64_t h;
	/* The key hash is SHA-256: any 8 of its bytes are uniformly spread. */
	memcpy(&h, hash, sizeof(h));
	return h;
}

static void index_keys(struct aigw_snapshot *s)
{
	size_t cap = 16;
	while (cap < s->n_keys * 2)
		cap *= 2;
	s->key_mask = cap - 1;
	s->key_slots = aigw_calloc(cap, sizeof(*s->key_slots));
	for (size_t i = 0; i < s->n_keys; i++) {
		size_t at = (size_t)slot_hash(s->keys[i].hash) & s->key_mask;
		while (s->key_slots[at])
			at = (at + 1) & s->key_mask;
		s->key_slots[at] = (uint32_t)i + 1;
	}
}

static void collect_models(struct aigw_snapshot *s)
{
	for (size_t i = 0; i < s->cat.n_nodes; i++) {
		const struct aigw_node *n = &s->cat.nodes[i];
		if (n->state != AIGW_NODE_ENABLED)
			continue;
		for (size_t m = 0; m < n->models.n; m++) {
			const char *name = n->models.v[m];
			/* Globs describe what a node accepts, not a model one
			 * can list. */
			if (!strpbrk(name, "*?") && !aigw_strv_contains(&s->models, name))
				aigw_strv_push(&s->models, name);
		}
	}
	/* Aliases are names clients may ask for, like models. */
	for (size_t i = 0; i < s->n_aliases; i++)
		if (!aigw_strv_contains(&s->models, s->aliases[i].name))
			aigw_strv_push(&s->models, s->aliases[i].name);
	if (s->models.n > 1)
		qsort(s->models.v, s->models.n, sizeof(char *), cmp_str);
}

int aigw_snapshot_build(const struct aigw_conf *conf, struct aigw_store *store,
			struct aigw_snapshot **out, struct aigw_err *err)
{
	struct aigw_snapshot *s = aigw_calloc(1, sizeof(*s));
	int rc;

	atomic_init(&s->refs, 1);
	if (store && (rc = aigw_store_config_version(store, &s->config_version, err)))
		goto fail;
	if ((rc = aigw_catalog_load(&s->cat, conf, store, err)))
		goto fail;
	if (store && (rc = aigw_store_key_list(store, &s->keys, &s->n_keys, err)))
		goto fail_cat;
	s->nodes = aigw_calloc(s->cat.n_nodes ? s->cat.n_nodes : 1, sizeof(*s->nodes));
	for (size_t i = 0; i < s->cat.n_nodes; i++) {
		const struct aigw_node *n = &s->cat.nodes[i];
		const char *v = n->api_key_env ? getenv(n->api_key_env) : NULL;
		s->nodes[i].node = n;
		s->nodes[i].credential_missing = n->api_key_env && !(v && *v);
	}
	s->routes = aigw_calloc(s->cat.n_routes ? s->cat.n_routes : 1, sizeof(*s->routes));
	for (size_t i = 0; i < s->cat.n_routes; i++) {
		struct aigw_snapshot_route *r = &s->routes[i];
		r->route = &s->cat.routes[i];
		r->n = r->route->nodes.n;
		r->node = aigw_calloc(r->n ? r->n : 1, sizeof(int));
		if (r->route->headers.n)
			s->header_routes = true;
		for (size_t j = 0; j < r->n; j++)
			r->node[j] = aigw_snapshot_node_index(s, r->route->nodes.v[j]);
	}
	if (conf) {
		s->aliases = aigw_calloc(conf->n_aliases + 1, sizeof(*s->aliases));
		for (size_t i = 0; i < conf->n_aliases; i++)
			aigw_alias_copy(&s->aliases[s->n_aliases++], &conf->aliases[i]);
		s->prices = aigw_calloc(conf->n_prices + 1, sizeof(*s->prices));
		for (size_t i = 0; i < conf->n_prices; i++)
			aigw_price_copy(&s->prices[s->n_prices++], &conf->prices[i]);
		aigw_geo_copy(&s->geo, &conf->geo);
	} else {
		aigw_geo_init(&s->geo);
	}
	index_keys(s);
	collect_models(s);
	*out = s;
	return 0;
fail_cat:
	aigw_catalog_release(&s->cat);
fail:
	free(s);
	return rc;
}

static void destroy(struct aigw_snapshot *s)
{
	for (size_t i = 0; i < s->cat.n_routes; i++)
		free(s->routes[i].node);
	free(s->nodes);
	free(s->routes);
	aigw_keys_free(s->keys, s->n_keys);
	free(s->key_slots);
	aigw_strv_release(&s->models);
	aigw_aliases_free(s->aliases, s->n_aliases);
	aigw_prices_free(s->prices, s->n_prices);
	aigw_geo_release(&s->geo);
	aigw_catalog_release(&s->cat);
	free(s);
}

struct aigw_snapshot *aigw_snapshot_ref(struct aigw_snapshot *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
	return s;
}

void aigw_snapshot_unref(struct aigw_snapshot *s)
{
	if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
		destroy(s);
}

const struct aigw_key *aigw_snapshot_key(const struct aigw_snapshot *s,
					 const uint8_t hash[AIGW_APIKEY_HASH_LEN])
{
	size_t at = (size_t)slot_hash(hash) & s->key_mask;
	while (s->key_slots[at]) {
		const struct aigw_key *k = &s->keys[s->key_slots[at] - 1];
		if (memcmp(k->hash, hash, AIGW_APIKEY_HASH_LEN) == 0)
			return k;
		at = (at + 1) & s->key_mask;
	}
	return NULL;
}

int aigw_snapshot_node_index(const struct aigw_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->cat.n_nodes; i++)
		if (strcmp(s->cat.nodes[i].name, name) == 0)
			return (int)i;
	return -1;
}
