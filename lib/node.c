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
	n->cost = -1;
	n->state = AIGW_NODE_ENABLED;
	n->origin = AIGW_ORIGIN_DB;
}

/* ------------------------------------------------------------ accounts */

void aigw_account_release(struct aigw_account *a)
{
	free(a->api_key_env);
	free(a->token_url);
	free(a->client_id_env);
	free(a->client_secret_env);
	free(a->scope);
	free(a->proxy);
	memset(a, 0, sizeof(*a));
}

static char *dup_or_null(const char *s)
{
	return s ? aigw_strdup(s) : NULL;
}

void aigw_account_copy(struct aigw_account *dst, const struct aigw_account *src)
{
	dst->api_key_env = dup_or_null(src->api_key_env);
	dst->token_url = dup_or_null(src->token_url);
	dst->client_id_env = dup_or_null(src->client_id_env);
	dst->client_secret_env = dup_or_null(src->client_secret_env);
	dst->scope = dup_or_null(src->scope);
	dst->proxy = dup_or_null(src->proxy);
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool aigw_account_equal(const struct aigw_account *a, const struct aigw_account *b)
{
	return same(a->api_key_env, b->api_key_env) && same(a->token_url, b->token_url) &&
	       same(a->client_id_env, b->client_id_env) &&
	       same(a->client_secret_env, b->client_secret_env) && same(a->scope, b->scope) &&
	       same(a->proxy, b->proxy);
}

void aigw_accounts_release(struct aigw_account *accounts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		aigw_account_release(&accounts[i]);
	free(accounts);
}

int aigw_proxy_check(const char *s, struct aigw_err *err)
{
	struct aigw_url url;

	if (aigw_url_parse(s, &url, NULL) || strcmp(url.scheme, "http") != 0 ||
	    !url.port_given || (url.path[0] && strcmp(url.path, "/") != 0))
		return aigw_err_set(err, AIGW_EINVAL,
				    "proxy '%s' is not http://host:port", s);
	return 0;
}

static int check_env(const char *what, const char *name, struct aigw_err *err)
{
	if (name && !aigw_env_name_valid(name))
		return aigw_err_set(err, AIGW_EINVAL,
				    "%s: '%s' is not an environment variable name", what, name);
	return 0;
}

int aigw_account_validate(const struct aigw_account *a, struct aigw_err *err)
{
	struct aigw_url url;
	bool oauth = a->token_url || a->client_id_env || a->client_secret_env || a->scope;

	if (check_env("api_key_env", a->api_key_env, err) ||
	    check_env("client_id_env", a->client_id_env, err) ||
	    check_env("client_secret_env", a->client_secret_env, err))
		return AIGW_EINVAL;
	if (a->api_key_env && oauth)
		return aigw_err_set(err, AIGW_EINVAL,
				    "an account has api_key_env or OAuth2 (token_url, "
				    "client_id_env, client_secret_env, scope), not both");
	if (oauth && !a->token_url)
		return aigw_err_set(err, AIGW_EINVAL, "OAuth2 account has no token_url");
	if (oauth && !a->client_id_env)
		return aigw_err_set(err, AIGW_EINVAL, "OAuth2 account has no client_id_env");
	if (oauth && !a->client_secret_env)
		return aigw_err_set(err, AIGW_EINVAL, "OAuth2 account has no client_secret_env");
	if (a->token_url && aigw_url_parse(a->token_url, &url, NULL))
		return aigw_err_set(err, AIGW_EINVAL, "token_url '%s' is not an http(s) URL",
				    a->token_url);
	if (a->proxy && aigw_proxy_check(a->proxy, err))
		return AIGW_EINVAL;
	return 0;
}

/* --------------------------------------------------------------- nodes */

void aigw_node_set_accounts_take(struct aigw_node *n, struct aigw_account *accounts,
				 size_t count)
{
	aigw_accounts_release(n->accounts, n->n_accounts);
	n->accounts = count ? accounts : NULL;
	n->n_accounts = count;
	if (!count)
		free(accounts);
	free(n->api_key_env);
	n->api_key_env = count ? dup_or_null(accounts[0].api_key_env) : NULL;
}

int aigw_node_set_key_envs(struct aigw_node *n, const char *names, const char *proxy,
			   struct aigw_err *err)
{
	struct aigw_strv sv = AIGW_STRV_INIT;
	struct aigw_account *accounts;

	if (*names && aigw_strv_split(&sv, names, ',', err))
		return AIGW_EINVAL;
	if (sv.n > AIGW_NODE_ACCOUNTS_MAX) {
		aigw_strv_release(&sv);
		return aigw_err_set(err, AIGW_EINVAL, "more than %d accounts",
				    AIGW_NODE_ACCOUNTS_MAX);
	}
	for (size_t i = 0; i < sv.n; i++) {
		if (!aigw_env_name_valid(sv.v[i])) {
			aigw_err_set(err, AIGW_EINVAL,
				     "invalid environment variable name '%s'", sv.v[i]);
			aigw_strv_release(&sv);
			return AIGW_EINVAL;
		}
	}
	if (proxy && aigw_proxy_check(proxy, err)) {
		aigw_strv_release(&sv);
		return AIGW_EINVAL;
	}
	accounts = aigw_calloc(sv.n ? sv.n : 1, sizeof(*accounts));
	for (size_t i = 0; i < sv.n; i++) {
		accounts[i].api_key_env = aigw_strdup(sv.v[i]);
		accounts[i].proxy = dup_or_null(proxy);
	}
	/* A proxy with no key is still an account: requests go through it. */
	if (!sv.n && proxy) {
		accounts[0].proxy = aigw_strdup(proxy);
		aigw_node_set_accounts_take(n, accounts, 1);
	} else {
		aigw_node_set_accounts_take(n, accounts, sv.n);
	}
	aigw_strv_release(&sv);
	return 0;
}

void aigw_node_normalize(struct aigw_node *n)
{
	struct aigw_account *a;

	if (n->n_accounts || !n->api_key_env)
		return;
	a = aigw_calloc(1, sizeof(*a));
	a->api_key_env = aigw_strdup(n->api_key_env);
	aigw_node_set_accounts_take(n, a, 1);
}

bool aigw_node_accounts_plain(const struct aigw_node *n)
{
	const struct aigw_account *a = n->accounts;

	if (n->n_accounts == 0)
		return true;
	return n->n_accounts == 1 && !a->token_url && !a->client_id_env &&
	       !a->client_secret_env && !a->scope && !a->proxy;
}

void aigw_node_release(struct aigw_node *n)
{
	aigw_accounts_release(n->accounts, n->n_accounts);
	free(n->name);
	free(n->url);
	free(n->region);
	free(n->api_key_env);
	free(n->where);
	aigw_strv_release(&n->models);
	aigw_node_init(n);
}

void aigw_node_copy(struct aigw_node *dst, const struct aigw_node *src)
{
	*dst = *src;
	dst->name = dup_or_null(src->name);
	dst->url = dup_or_null(src->url);
	dst->region = dup_or_null(src->region);
	dst->api_key_env = dup_or_null(src->api_key_env);
	dst->accounts = NULL;
	if (src->n_accounts) {
		dst->accounts = aigw_calloc(src->n_accounts, sizeof(*dst->accounts));
		for (size_t i = 0; i < src->n_accounts; i++)
			aigw_account_copy(&dst->accounts[i], &src->accounts[i]);
	}
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
	if (n->cost < -1 || n->cost > AIGW_NODE_COST_MAX)
		return aigw_err_set(err, AIGW_EINVAL,
				    "cost %lld is out of range (0..%d, -1 = unknown)",
				    (long long)n->cost, AIGW_NODE_COST_MAX);
	if (n->region && !aigw_name_valid(n->region))
		return aigw_err_set(err, AIGW_EINVAL,
				    "invalid region '%s' (1-64 of A-Z a-z 0-9 . _ -)", n->region);
	if (n->api_key_env && !aigw_env_name_valid(n->api_key_env))
		return aigw_err_set(err, AIGW_EINVAL,
				    "invalid environment variable name '%s'", n->api_key_env);
	if (n->n_accounts > AIGW_NODE_ACCOUNTS_MAX)
		return aigw_err_set(err, AIGW_EINVAL, "node '%s' has more than %d accounts",
				    n->name, AIGW_NODE_ACCOUNTS_MAX);
	for (size_t i = 0; i < n->n_accounts; i++) {
		struct aigw_err sub;
		if (aigw_account_validate(&n->accounts[i], &sub))
			return aigw_err_set(err, AIGW_EINVAL, "accounts[%zu]: %s", i, sub.msg);
	}
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
