/* nodes: see nodes.h. */
#include "nodes.h"

#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "clock.h"
#include "mem.h"

static const struct aigw_node *yaml_node(const struct aigw_conf *conf, const char *name)
{
	for (size_t i = 0; conf && i < conf->n_nodes; i++)
		if (strcmp(conf->nodes[i].name, name) == 0)
			return &conf->nodes[i];
	return NULL;
}

static int read_only(const struct aigw_node *y, struct aigw_err *err)
{
	return aigw_err_set(err, AIGW_EFAIL,
			    "node '%s' is defined in %s; change it there", y->name,
			    y->where ? y->where : "aigw.yaml");
}

int aigw_nodes_add(struct aigw_store *s, const struct aigw_conf *conf, struct aigw_node *n,
		   struct aigw_err *err)
{
	const struct aigw_node *y;
	int rc;

	n->origin = AIGW_ORIGIN_DB;
	if ((rc = aigw_node_validate(n, err)))
		return rc;
	if ((y = yaml_node(conf, n->name)))
		return aigw_err_set(err, AIGW_EEXIST, "a node named '%s' is already defined in %s",
				    n->name, y->where ? y->where : "aigw.yaml");
	n->created_at = n->updated_at = aigw_clock_wall_s();
	if ((rc = aigw_store_begin(s, err)))
		return rc;
	if ((rc = aigw_store_node_insert(s, n, err)) || (rc = aigw_store_commit(s, err)))
		aigw_store_rollback(s);
	return rc;
}

/* Sets (or with "" removes) the proxy of every account; accounts left
 * with nothing are dropped, and a proxy on a node without accounts makes
 * one account that has only the proxy. */
static int apply_proxy(struct aigw_node *n, const char *proxy, struct aigw_err *err)
{
	size_t kept = 0;

	if (*proxy && aigw_proxy_check(proxy, err))
		return AIGW_EINVAL;
	if (!n->n_accounts) {
		if (*proxy)
			return aigw_node_set_key_envs(n, "", proxy, err);
		return 0;
	}
	for (size_t i = 0; i < n->n_accounts; i++) {
		struct aigw_account *a = &n->accounts[i];
		free(a->proxy);
		a->proxy = *proxy ? aigw_strdup(proxy) : NULL;
		if (!a->api_key_env && !a->token_url && !a->proxy)
			aigw_account_release(a);
		else
			n->accounts[kept++] = *a;
	}
	if (kept == 0) {
		aigw_node_set_accounts_take(n, NULL, 0);
		return 0;
	}
	n->n_accounts = kept;
	free(n->api_key_env);
	n->api_key_env = n->accounts[0].api_key_env ? aigw_strdup(n->accounts[0].api_key_env) : NULL;
	return 0;
}

static int apply(struct aigw_node *n, const struct aigw_node_changes *c, struct aigw_err *err)
{
	if (c->url) {
		free(n->url);
		n->url = aigw_strdup(c->url);
	}
	if (c->provider)
		n->provider = *c->provider;
	if (c->type)
		n->type = *c->type;
	if (c->region) {
		free(n->region);
		n->region = *c->region ? aigw_strdup(c->region) : NULL;
	}
	if (c->weight)
		n->weight = *c->weight;
	if (c->max_concurrency)
		n->max_concurrency = *c->max_concurrency;
	if (c->cost)
		n->cost = *c->cost;
	if (c->models) {
		aigw_strv_release(&n->models);
		aigw_strv_copy(&n->models, c->models);
	}
	if (c->accounts_from) {
		struct aigw_node tmp;
		aigw_node_copy(&tmp, c->accounts_from);
		aigw_node_set_accounts_take(n, tmp.accounts, tmp.n_accounts);
		tmp.accounts = NULL;
		tmp.n_accounts = 0;
		aigw_node_release(&tmp);
	}
	aigw_node_normalize(n);
	if (c->api_key_env) {
		const char *proxy = c->proxy && *c->proxy ? c->proxy :
				    !c->proxy && n->n_accounts ? n->accounts[0].proxy : NULL;
		char *keep = proxy ? aigw_strdup(proxy) : NULL;
		int rc = aigw_node_set_key_envs(n, c->api_key_env, keep, err);
		free(keep);
		if (rc)
			return rc;
	} else if (c->proxy) {
		if (apply_proxy(n, c->proxy, err))
			return AIGW_EINVAL;
	}
	if (c->standby)
		n->standby = *c->standby;
	return 0;
}

/* Reads the database node for a change, refusing YAML nodes. Opens the
 * transaction the change is written in. */
static int begin_change(struct aigw_store *s, const struct aigw_conf *conf, const char *name,
			struct aigw_node *out, struct aigw_err *err)
{
	const struct aigw_node *y = yaml_node(conf, name);
	int rc;

	aigw_node_init(out);
	if (y)
		return read_only(y, err);
	if ((rc = aigw_store_begin(s, err)))
		return rc;
	if ((rc = aigw_store_node_get(s, name, out, err))) {
		aigw_store_rollback(s);
		return rc;
	}
	return 0;
}

static int finish_change(struct aigw_store *s, struct aigw_node *out, struct aigw_err *err)
{
	int rc;

	out->updated_at = aigw_clock_wall_s();
	if ((rc = aigw_node_validate(out, err)) || (rc = aigw_store_node_update(s, out, err)) ||
	    (rc = aigw_store_commit(s, err))) {
		aigw_store_rollback(s);
		aigw_node_release(out);
		return rc;
	}
	return 0;
}

int aigw_nodes_update(struct aigw_store *s, const struct aigw_conf *conf, const char *name,
		      const struct aigw_node_changes *c, struct aigw_node *out,
		      struct aigw_err *err)
{
	int rc = begin_change(s, conf, name, out, err);
	if (rc)
		return rc;
	if ((rc = apply(out, c, err))) {
		aigw_store_rollback(s);
		aigw_node_release(out);
		return rc;
	}
	return finish_change(s, out, err);
}

int aigw_nodes_set_state(struct aigw_store *s, const struct aigw_conf *conf, const char *name,
			 int state, struct aigw_node *out, struct aigw_err *err)
{
	int rc = begin_change(s, conf, name, out, err);
	if (rc)
		return rc;
	out->state = state;
	return finish_change(s, out, err);
}

int aigw_nodes_remove(struct aigw_store *s, const struct aigw_conf *conf, const char *name,
		      struct aigw_err *err)
{
	const struct aigw_node *y = yaml_node(conf, name);
	struct aigw_catalog cat;
	int rc;

	if (y)
		return read_only(y, err);
	if ((rc = aigw_store_begin(s, err)))
		return rc;
	if ((rc = aigw_catalog_load(&cat, conf, s, err)))
		goto fail;
	for (size_t i = 0; i < cat.n_routes; i++) {
		if (aigw_strv_contains(&cat.routes[i].nodes, name)) {
			rc = aigw_err_set(err, AIGW_EFAIL,
					  "node '%s' is used by route '%s'; remove it from the route first",
					  name, cat.routes[i].name);
			aigw_catalog_release(&cat);
			goto fail;
		}
	}
	aigw_catalog_release(&cat);
	if ((rc = aigw_store_node_delete(s, name, err)) || (rc = aigw_store_commit(s, err)))
		goto fail;
	return 0;
fail:
	aigw_store_rollback(s);
	return rc;
}

/* ------------------------------------------------------------- import */

static int parse_json_lines(const char *source, const char *text, size_t len,
			    struct aigw_node **out, size_t *n, size_t **lines,
			    struct aigw_err *err)
{
	struct aigw_node *nodes = NULL;
	size_t *at = NULL, count = 0, line = 0;
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		const char *a = p;
		line++;
		while (a < stop && (*a == ' ' || *a == '\t' || *a == '\r'))
			a++;
		if (a < stop && *a != '#') {
			nodes = aigw_realloc(nodes, (count + 1) * sizeof(*nodes));
			at = aigw_realloc(at, (count + 1) * sizeof(*at));
			if (aigw_conf_node_from_json(a, (size_t)(stop - a), &nodes[count], err)) {
				aigw_err_prefix(err, "%s:%zu", source, line);
				aigw_nodes_free(nodes, count);
				free(at);
				return AIGW_EINVAL;
			}
			at[count++] = line;
		}
		p = nl ? nl + 1 : end;
	}
	*out = nodes;
	*n = count;
	*lines = at;
	return 0;
}

int aigw_nodes_import(struct aigw_store *s, const struct aigw_conf *conf, const char *source,
		      const char *text, size_t len, bool replace, size_t *added,
		      size_t *updated, struct aigw_err *err)
{
	struct aigw_node *nodes = NULL;
	size_t n = 0, *lines = NULL;
	const char *p = text;
	int64_t now = aigw_clock_wall_s();
	int rc;

	*added = *updated = 0;
	/* Sniff the format from the first line that is neither blank nor a
	 * comment: JSON lines may start with '#' comments too. */
	for (;;) {
		while (p < text + len && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
			p++;
		if (p >= text + len || *p != '#')
			break;
		while (p < text + len && *p != '\n')
			p++;
	}
	if (p < text + len && *p == '{')
		rc = parse_json_lines(source, text, len, &nodes, &n, &lines, err);
	else
		rc = aigw_conf_parse_nodes_yaml(source, text, len, &nodes, &n, &lines, err);
	if (rc)
		return rc == AIGW_ECONFIG ? AIGW_EINVAL : rc;
	if (n == 0) {
		rc = aigw_err_set(err, AIGW_EINVAL, "%s: no node records found", source);
		goto out;
	}
	/* Check every record before writing any. */
	for (size_t i = 0; i < n; i++) {
		const struct aigw_node *y;
		nodes[i].origin = AIGW_ORIGIN_DB;
		if ((rc = aigw_node_validate(&nodes[i], err))) {
			aigw_err_prefix(err, "%s:%zu", source, lines[i]);
			goto out;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(nodes[j].name, nodes[i].name) == 0) {
				rc = aigw_err_set(err, AIGW_EINVAL,
						  "%s:%zu: node '%s' appears twice (first at line %zu)",
						  source, lines[i], nodes[i].name, lines[j]);
				goto out;
			}
		}
		if ((y = yaml_node(conf, nodes[i].name))) {
			rc = aigw_err_set(err, AIGW_EEXIST, "%s:%zu: node '%s' is defined in %s",
					  source, lines[i], nodes[i].name,
					  y->where ? y->where : "aigw.yaml");
			goto out;
		}
	}
	if ((rc = aigw_store_begin(s, err)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct aigw_node existing;
		int found = aigw_store_node_get(s, nodes[i].name, &existing, NULL);
		nodes[i].updated_at = now;
		if (found == 0) {
			nodes[i].created_at = existing.created_at;
			nodes[i].id = existing.id;
			aigw_node_release(&existing);
			if (!replace) {
				rc = aigw_err_set(err, AIGW_EEXIST,
						  "%s:%zu: a node named '%s' already exists (use --replace to update it)",
						  source, lines[i], nodes[i].name);
				break;
			}
			rc = aigw_store_node_update(s, &nodes[i], err);
			(*updated)++;
		} else {
			nodes[i].created_at = now;
			rc = aigw_store_node_insert(s, &nodes[i], err);
			(*added)++;
		}
		if (rc) {
			aigw_err_prefix(err, "%s:%zu", source, lines[i]);
			break;
		}
	}
	if (!rc)
		rc = aigw_store_commit(s, err);
	if (rc) {
		aigw_store_rollback(s);
		*added = *updated = 0;
	}
out:
	aigw_nodes_free(nodes, n);
	free(lines);
	return rc;
}
