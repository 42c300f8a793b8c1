/* node: an upstream that serves requests (a provider account, a local
 * model server, an edge box). Nodes come from aigw.yaml (read-only to the
 * CLI) or from the database (added with `aigw nodes add` or import). */
#ifndef AIGW_NODE_H
#define AIGW_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "str.h"

enum aigw_provider {
	AIGW_PROVIDER_OPENAI,
	AIGW_PROVIDER_OPENAI_COMPATIBLE,
	AIGW_PROVIDER_ANTHROPIC,
	AIGW_PROVIDER_GEMINI,
	AIGW_PROVIDER_OLLAMA,
	AIGW_PROVIDER_AZURE,
	AIGW_PROVIDER_HTTP,
};
/* NULL-terminated, indexed by the enum; the spelling used everywhere. */
extern const char *const aigw_provider_names[];

enum aigw_node_type {
	AIGW_NODE_CLOUD,
	AIGW_NODE_EDGE,
	AIGW_NODE_MOBILE,
	AIGW_NODE_VALIDATOR,
};
extern const char *const aigw_node_type_names[];

enum aigw_node_state {
	AIGW_NODE_ENABLED,
	AIGW_NODE_DISABLED,
	AIGW_NODE_DRAINING, /* finishes what it has, takes nothing new */
};
extern const char *const aigw_node_state_names[];

/* Where an entry was defined: YAML entries cannot be changed by the CLI. */
enum aigw_origin {
	AIGW_ORIGIN_DB,
	AIGW_ORIGIN_YAML,
};
extern const char *const aigw_origin_names[];

#define AIGW_NODE_WEIGHT_MAX 1000
#define AIGW_NODE_COST_MAX 100000000
#define AIGW_NODE_CONCURRENCY_MAX 1000000
/* Accounts of one node: enough for a pool of keys, few enough that a
 * round robin over them is a short scan. */
#define AIGW_NODE_ACCOUNTS_MAX 64

/* One credential of a node. An account is an API key (api_key_env), OAuth2
 * client credentials (token_url, client_id_env, client_secret_env, scope),
 * or neither (no credential, say only a proxy). Secrets never live here:
 * the *_env fields name environment variables. */
struct aigw_account {
	char *api_key_env;        /* variable holding the API key; NULL: none */
	char *token_url;          /* OAuth2 token endpoint; NULL: no OAuth2 */
	char *client_id_env;      /* variable holding the OAuth2 client id */
	char *client_secret_env;  /* variable holding the OAuth2 client secret */
	char *scope;              /* OAuth2 scope; NULL: none asked */
	char *proxy;              /* outbound proxy "http://host:port"; NULL: direct */
};

void aigw_account_release(struct aigw_account *a); /* frees and zeroes */
void aigw_account_copy(struct aigw_account *dst, const struct aigw_account *src);
bool aigw_account_equal(const struct aigw_account *a, const struct aigw_account *b);
void aigw_accounts_release(struct aigw_account *accounts, size_t n); /* and the array */
/* An account is one kind or the other, OAuth2 complete, names valid, the
 * proxy http://host:port; the message names the field. */
int aigw_account_validate(const struct aigw_account *a, struct aigw_err *err);
/* "http://host:port" with nothing after the port (a trailing '/' is fine). */
int aigw_proxy_check(const char *s, struct aigw_err *err);

struct aigw_node {
	int64_t id;               /* database row id; 0 for YAML nodes */
	char *name;
	char *url;
	int provider;             /* enum aigw_provider */
	int type;                 /* enum aigw_node_type */
	char *region;             /* NULL: no region */
	int64_t weight;           /* 1..AIGW_NODE_WEIGHT_MAX */
	struct aigw_strv models;  /* model names or globs; empty: any model */
	/* The node's accounts in order; requests take turns (lib/accounts.h).
	 * api_key_env mirrors accounts[0].api_key_env for code that knows one
	 * key only; when n_accounts is 0 and api_key_env is set, the node has
	 * that one account (aigw_node_normalize makes it explicit). */
	struct aigw_account *accounts;
	size_t n_accounts;
	char *api_key_env;        /* the first account's key variable; NULL: none */
	int64_t max_concurrency;  /* 0: unlimited */
	int64_t cost;             /* price of its answers, cents per million tokens
				   * (any one unit for a route's nodes); -1 unknown */
	bool standby;             /* only used when the active pool is short */
	int state;                /* enum aigw_node_state */
	int origin;               /* enum aigw_origin */
	char *where;              /* "aigw.yaml:12:5" for YAML nodes; NULL otherwise */
	int64_t created_at, updated_at; /* Unix seconds; 0 for YAML nodes */
};

/* Defaults: provider openai, type cloud, weight 1, enabled, origin DB. */
void aigw_node_init(struct aigw_node *n);
void aigw_node_release(struct aigw_node *n);
void aigw_node_copy(struct aigw_node *dst, const struct aigw_node *src);
void aigw_nodes_free(struct aigw_node *nodes, size_t n);

/* Replaces the node's accounts with accounts[0..n) (taken, array too) and
 * refreshes the api_key_env mirror. */
void aigw_node_set_accounts_take(struct aigw_node *n, struct aigw_account *accounts,
				 size_t count);
/* One plain account per name in "A,B" (or "" for none), each with proxy
 * (NULL: direct). Fails on a bad name or proxy, leaving n as it was. */
int aigw_node_set_key_envs(struct aigw_node *n, const char *names, const char *proxy,
			   struct aigw_err *err);
/* Makes a lone api_key_env an explicit account, so accounts is complete. */
void aigw_node_normalize(struct aigw_node *n);
/* True when the accounts say nothing api_key_env alone cannot (at most
 * one account, which has only an api_key_env): stored in that column. */
bool aigw_node_accounts_plain(const struct aigw_node *n);

/* Checks every field (name syntax, URL, ranges, env var name, model
 * patterns); the message names the field. */
int aigw_node_validate(const struct aigw_node *n, struct aigw_err *err);
/* Does the node serve this model? (An empty model list serves any.) */
bool aigw_node_serves(const struct aigw_node *n, const char *model);

/* Looks s up in a NULL-terminated name table; on failure the error names
 * what (e.g. "provider"), lists the choices, and suggests the closest. */
int aigw_enum_parse(const char *const *names, const char *s, const char *what,
		    struct aigw_err *err);

#endif
