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
#define AIGW_NODE_CONCURRENCY_MAX 1000000

struct aigw_node {
	int64_t id;               /* database row id; 0 for YAML nodes */
	char *name;
	char *url;
	int provider;             /* enum aigw_provider */
	int type;                 /* enum aigw_node_type */
	char *region;             /* NULL: no region */
	int64_t weight;           /* 1..AIGW_NODE_WEIGHT_MAX */
	struct aigw_strv models;  /* model names or globs; empty: any model */
	char *api_key_env;        /* variable holding the credential; NULL: none */
	int64_t max_concurrency;  /* 0: unlimited */
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
