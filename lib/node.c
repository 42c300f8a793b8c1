/* node: see node.h. */
#include "node.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mem.h"
#include "url.h"

const char *const aigw_provider_names[] = {
	"openai", "openai-compatible", "anthropic", "gemini", "ollama", "azure", "http", NULL,
};
const char *const aigw_node_type_names[] = { "cloud", "edge", "mobile", "validator", NULL };
const char *const aigw_node_state_names[] = { "enabled", "disabled", "draining", NULL };
const char *const aigw_origin_names[] = { "db", "yaml", NULL };

void aigw_node_init(struct aigw_node *n)
{
	memset(n, 0, sizeof(*n));
	n->provider = AIGW_PROVIDER_OPENAI;
	n->type = AIGW_NODE_CLOUD;
	n->weight = 1;
	n->state = AIGW_NODE_ENABLED;
	n->origin = AIGW_ORIGIN_DB;
}

void aigw_node_release(struct aigw_node *n)
{
	free(n->name);
	free(n->url);
	free(n->region);
	free(n->api_key_env);
	free(n->where);
	aigw_strv_release(&n->models);
	aigw_node_init(n);
}

static char *dup_or_null(const char *s)
{
	return s ? aigw_strdup(s) : NULL;
}

void aigw_node_copy(struct aigw_node *dst, const struct aigw_node *src)
{
	*dst = *src;
	dst->name = dup_or_null(src->name);
	dst->url = dup_or_null(src->url);
	dst->region = dup_or_null(src->region);
	dst->api_key_env = dup_or_null(src->api_key_env);
	dst->where = dup_or_null(src->where);
	aigw_strv_copy(&dst->models, &src->models);
}

void aigw_nodes_free(struct aigw_node *nodes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		aigw_node_release(&nodes[i]);
	free(nodes);
}

int aigw_enum_parse(const char *const *names, const char *s, const char *what,
		    struct aigw_err *err)
{
	struct aigw_buf choices = AIGW_BUF_INIT;
	const char *guess;

	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	for (int i = 0; names[i]; i++)
		aigw_buf_printf(&choices, "%s%s", i ? ", " : "", names[i]);
	guess = aigw_suggest(s, names);
	if (guess)
		aigw_err_set(err, AIGW_EINVAL, "unknown %s '%s' (did you mean '%s'?)",
			     what, s, guess);
	else
		aigw_err_set(err, AIGW_EINVAL, "unknown %s '%s' (choose from %s)",
			     what, s, choices.data);
	aigw_buf_release(&choices);
	return AIGW_EINVAL;
}

int aigw_node_validate(const struct aigw_node *n, struct aigw_err *err)
{
	struct aigw_url url;

	if (!n->name || !aigw_name_valid(n->name))
		return aigw_err_set(err, AIGW_EINVAL,
				    "invalid node name '%s' (1-64 of A-Z a-z 0-9 . _ -, not all digits)",
				    n->name ? n->name : "");
	if (!n->url)
		return aigw_err_set(err, AIGW_EINVAL, "node '%s' has no url", n->name);
	if (aigw_url_parse(n->url, &url, err))
		return AIGW_EINVAL;
	if (n->provider < 0 || n->provider > AIGW_PROVIDER_HTTP)
		return aigw_err_set(err, AIGW_EINVAL, "node '%s' has an unknown provider", n->name);
	if (n->type < 0 || n->type > AIGW_NODE_VALIDATOR)
		return aigw_err_set(err, AIGW_EINVAL, "node '%s' has an unknown type", n->name);
	if (n->state < 0 || n->state > AIGW_NODE_DRAINING)
		return aigw_err_set(err, AIGW_EINVAL, "node '%s' has an unknown state", n->name);
	if (n->weight < 1 || n->weight > AIGW_NODE_WEIGHT_MAX)
		return aigw_err_set(err, AIGW_EINVAL, "weight %lld is out of range (1..%d)",
				    (long long)n->weight, AIGW_NODE_WEIGHT_MAX);
	if (n->max_concurrency < 0 || n->max_concurrency > AIGW_NODE_CONCURRENCY_MAX)
		return aigw_err_set(err, AIGW_EINVAL,
				    "max concurrency %lld is out of range (0..%d, 0 = unlimited)",
				    (long long)n->max_concurrency, AIGW_NODE_CONCURRENCY_MAX);
	if (n->region && !aigw_name_valid(n->region))
		return aigw_err_set(err, AIGW_EINVAL,
				    "invalid region '%s' (1-64 of A-Z a-z 0-9 . _ -)", n->region);
	if (n->api_key_env && !aigw_env_name_valid(n->api_key_env))
		return aigw_err_set(err, AIGW_EINVAL,
				    "invalid environment variable name '%s'", n->api_key_env);
	for (size_t i = 0; i < n->models.n; i++)
		if (!aigw_glob_valid(n->models.v[i], err))
			return AIGW_EINVAL;
	return 0;
}

bool aigw_node_serves(const struct aigw_node *n, const char *model)
{
	if (n->models.n == 0)
		return true;
	if (!model)
		return false;
	for (size_t i = 0; i < n->models.n; i++)
		if (aigw_glob_match(n->models.v[i], model))
			return true;
	return false;
}
