/* conf: see conf.h.
 *
 * Reading happens in two steps. libyaml's event parser builds a small tree
 * (scalars, sequences, mappings) in a pool, each node keeping the line and
 * column where it starts. The tree is then walked against one directive
 * table per section; the same tables set defaults, read JSON node records
 * and write the man page, so a directive is described exactly once.
 *
 * Choices made here:
 *  - Anchors and aliases are refused: a value reached through an alias
 *    would be reported at the alias, not where it is written, and config
 *    files this small do not need them.
 *  - Tags are ignored; every scalar is text until its directive converts it.
 *  - A plain empty value, "~" or "null" leaves a directive at its default.
 *  - ${VAR} and ${VAR:-default} are expanded in every scalar value except
 *    those of *_env directives, which name a variable and are never
 *    resolved here. "$$" is a literal "$"; a "$" before anything else is
 *    kept as is. ${VAR:-default} uses default when VAR is unset or empty
 *    (as in sh); the default is literal text up to the first '}'. A value
 *    that is only references and expands to "" counts as not given, so
 *    "region: ${REGION:-}" is optional.
 *  - Expansion applies to aigw.yaml and to YAML import files, not to JSON
 *    records (those are data, usually written by `aigw nodes export`).
 *  - Errors while loading aigw.yaml are ECONFIG; errors in import records
 *    (YAML or JSON) are EINVAL, since they are input, not configuration. */
#include "conf.h"
#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>
#include <yaml.h>

#include "json.h"
#include "log.h"
#include "mem.h"
#include "pool.h"
#include "url.h"

#define CONF_SIZE_MAX (4u * 1024 * 1024)
#define TREE_DEPTH_MAX 32
#define PATH_MAX_LEN 160
#define DIRECTIVES_MAX 32

/* ------------------------------------------------------------ the tables */

enum dtype {
	D_STRING,
	D_INT,      /* int64_t in [min, max] */
	D_BOOL,     /* bool */
	D_DURATION, /* int64_t milliseconds in [min, max] */
	D_SIZE,     /* int64_t bytes in [min, max]: 512, 16KiB, 8MiB */
	D_ENUM,     /* int, index into choices */
	D_LIST,     /* struct aigw_strv; a sequence or "a, b, c" */
	D_ENV,      /* char *, the NAME of an environment variable */
	D_LOGLEVEL, /* int, enum aigw_log_level */
	D_ENABLED,  /* bool in the file, int enum aigw_node_state in the struct */
	D_NODES,    /* sequence of node mappings (top level only) */
	D_ROUTES,   /* sequence of route mappings (top level only) */
	D_ALIASES,  /* mapping of alias -> model list (top level only) */
	D_PRICING,  /* mapping of model -> prices (top level only) */
	D_KEYENVS,  /* node accounts from variable names; a sequence or "A, B" */
	D_ACCOUNTS, /* node accounts, a sequence of account mappings */
	D_NUMBER,   /* double in [min, max] */
	D_STANDBY,  /* the standby: mapping (top level only) */
	D_GEO,      /* the geo section, a mapping of geo_directives (top level only) */
	D_GEOCIDRS, /* geo.regions: mapping of address prefix -> region */
	D_GEONEAR,  /* geo.near: mapping of region -> regions */
};

enum {
	F_REQUIRED = 1 << 0,
};

/* Checks one string value (or one list item); the message should not name
 * the directive, the caller puts the directive path in front. */
typedef int (*check_fn)(const char *s, struct aigw_err *err);

struct directive {
	const char *name;
	enum dtype type;
	size_t offset;               /* into the target struct */
	const char *def;             /* default as text; applied and documented */
	int64_t min, max;            /* D_INT and D_DURATION */
	const char *const *choices;  /* D_ENUM */
	check_fn check;              /* D_STRING and D_LIST items */
	const char *help;
	unsigned flags;
};

static const char *const log_level_names[] = { "error", "warn", "info", "debug", NULL };

static int check_name(const char *s, struct aigw_err *err)
{
	if (aigw_name_valid(s))
		return 0;
	return aigw_err_set(err, AIGW_EINVAL,
			    "'%s' is not a valid name (1-64 of A-Z a-z 0-9 . _ -, not all digits)", s);
}

static int check_url(const char *s, struct aigw_err *err)
{
	struct aigw_url url;
	return aigw_url_parse(s, &url, err) ? AIGW_EINVAL : 0;
}

/* "host:port", "[v6]:port" or ":port" with a port 0..65535. */
static int check_listen(const char *s, struct aigw_err *err)
{
	const char *colon = strrchr(s, ':');
	int64_t port;

	if (!colon || (s[0] == '[' && colon[-1] != ']'))
		return aigw_err_set(err, AIGW_EINVAL,
				    "'%s' is not an address (write host:port, such as 127.0.0.1:8080)", s);
	if (aigw_parse_int(colon + 1, 0, 65535, &port, NULL))
		return aigw_err_set(err, AIGW_EINVAL, "'%s' has no valid port (0..65535)", s);
	return 0;
}

static int check_env_name(const char *s, struct aigw_err *err)
{
	if (aigw_env_name_valid(s))
		return 0;
	return aigw_err_set(err, AIGW_EINVAL,
			    "'%s' is not an environment variable name "
			    "(letters, digits and '_', not starting with a digit; "
			    "the file names the variable, never the secret)", s);
}

static int check_proxy(const char *s, struct aigw_err *err)
{
	return aigw_proxy_check(s, err);
}

static const char *const auth_names[] = { "keys", "none", NULL };

static int check_glob(const char *s, struct aigw_err *err)
{
	return aigw_glob_valid(s, err) ? 0 : AIGW_EINVAL;
}

#define CONF_FIELD(f) offsetof(struct aigw_conf, f)
#define NODE_FIELD(f) offsetof(struct aigw_node, f)
#define ROUTE_FIELD(f) offsetof(struct aigw_route, f)
#define ACCOUNT_FIELD(f) offsetof(struct aigw_account, f)

static int check_check_path(const char *s, struct aigw_err *err)
{
	if (s[0] != '/' || strlen(s) >= AIGW_HEALTH_PATH_MAX || strpbrk(s, " \t\r\n"))
		return aigw_err_set(err, AIGW_EINVAL,
				    "'%s' is not a check path (one starting with '/', no spaces, "
				    "under %d bytes)", s, AIGW_HEALTH_PATH_MAX);
	return 0;
}

static const struct directive top_directives[] = {
	{ "log_level", D_LOGLEVEL, CONF_FIELD(log_level), "info", 0, 0, NULL, NULL,
	  "Least severe message written to the log: error, warn, info or debug.", 0 },
	{ "listen", D_STRING, CONF_FIELD(listen), "127.0.0.1:8080", 0, 0, NULL, check_listen,
	  "Address aigw serve answers on, host:port (port 0 picks a free one).", 0 },
	{ "admin_listen", D_STRING, CONF_FIELD(admin_listen), "127.0.0.1:8081", 0, 0, NULL,
	  check_listen,
	  "Address of the admin API of aigw serve, which runs only when AIGW_ADMIN_TOKEN is "
	  "set; \":port\" means loopback, other hosts must be written out.", 0 },
	{ "workers", D_INT, CONF_FIELD(workers), "0", 0, 256, NULL, NULL,
	  "Worker threads of aigw serve; 0 starts one per core.", 0 },
	{ "auth", D_ENUM, CONF_FIELD(auth), "keys", 0, 0, auth_names, NULL,
	  "keys: every request needs an API key made with aigw keys; none: no "
	  "authentication (only for a gateway nobody else can reach).", 0 },
	{ "max_header_bytes", D_SIZE, CONF_FIELD(max_header_bytes), "16KiB", 1024, 1 << 20,
	  NULL, NULL, "Largest request head accepted; larger ones get 431.", 0 },
	{ "max_headers", D_INT, CONF_FIELD(max_headers), "100", 1, 1000, NULL, NULL,
	  "Most request header fields accepted; more get 431.", 0 },
	{ "max_body_bytes", D_SIZE, CONF_FIELD(max_body_bytes), "8MiB", 1024, 1LL << 30,
	  NULL, NULL, "Largest request body accepted; larger ones get 413.", 0 },
	{ "header_timeout", D_DURATION, CONF_FIELD(header_timeout_ms), "10s", 100, 3600000,
	  NULL, NULL, "Time a client has to send a request head (408 after).", 0 },
	{ "body_timeout", D_DURATION, CONF_FIELD(body_timeout_ms), "30s", 100, 3600000,
	  NULL, NULL, "Time a client has to send a request body (408 after).", 0 },
	{ "idle_timeout", D_DURATION, CONF_FIELD(idle_timeout_ms), "60s", 100, 86400000,
	  NULL, NULL, "How long an idle keep-alive connection is kept open.", 0 },
	{ "upstream_timeout", D_DURATION, CONF_FIELD(upstream_timeout_ms), "300s", 100,
	  AIGW_ROUTE_TIMEOUT_MAX_MS, NULL, NULL,
	  "Time allowed for an upstream request when its route sets no timeout (504 after).", 0 },
	{ "drain_timeout", D_DURATION, CONF_FIELD(drain_timeout_ms), "30s", 0, 3600000, NULL,
	  NULL, "On SIGTERM, how long requests in flight (streams too) may take to finish.", 0 },
	{ "log_queue", D_INT, CONF_FIELD(log_queue), "4096", 16, 16777216, NULL, NULL,
	  "Request log rows that may wait for the writer; beyond, rows are dropped and counted.",
	  0 },
	{ "slow_start", D_DURATION, CONF_FIELD(slow_start_ms), "30s", 0, 600000, NULL, NULL,
	  "A node that recovers (its breaker closes, its ejection ends, its checks pass "
	  "again) takes part in picks with a probability that grows from 0 to 1 over this "
	  "window, so its share of traffic ramps up; 0s turns slow start off.", 0 },
	{ "health_check_interval", D_DURATION, CONF_FIELD(health_check_interval_ms), "0s", 0,
	  3600000, NULL, NULL,
	  "Active health checks: every node is asked this often (a GET of its check path); "
	  "a node that fails health_check_unhealthy checks in a row is down (takes no "
	  "traffic) until it passes health_check_healthy in a row. 0s: no active checks "
	  "(breakers and ejection still judge the traffic).", 0 },
	{ "health_check_timeout", D_DURATION, CONF_FIELD(health_check_timeout_ms), "2s", 100,
	  60000, NULL, NULL, "Time a check has from connecting to the status line.", 0 },
	{ "health_check_path", D_STRING, CONF_FIELD(health_check_path), NULL, 0, 0, NULL,
	  check_check_path,
	  "Path asked by the checks, after the node URL's scheme://host:port; unset: by "
	  "provider (/v1/models for openai, openai-compatible and azure nodes, /api/tags "
	  "for ollama, / for the others). An answer below 500 within the timeout passes.",
	  0 },
	{ "health_check_healthy", D_INT, CONF_FIELD(health_check_healthy), "2", 1, 100, NULL,
	  NULL, "Checks in a row that a down node must pass to take traffic again.", 0 },
	{ "health_check_unhealthy", D_INT, CONF_FIELD(health_check_unhealthy), "3", 1, 100,
	  NULL, NULL, "Checks in a row that a node must fail to be down.", 0 },
	{ "breaker_failures", D_INT, CONF_FIELD(breaker_failures), "5", 1, 1000, NULL, NULL,
	  "Failures in a row (connect errors, timeouts, 5xx) that open a node's circuit "
	  "breaker: the node takes nothing until one half-open probe succeeds.", 0 },
	{ "breaker_open", D_DURATION, CONF_FIELD(breaker_open_ms), "5s", 100, 600000, NULL,
	  NULL, "How long a breaker stays open the first time; each failed probe doubles it, "
	  "up to 12 times this (60s by default).", 0 },
	{ "outlier_failures", D_INT, CONF_FIELD(outlier_failures), "5", 1, 1000, NULL, NULL,
	  "Failures in a row that eject a node from its routes' pools (passive outlier "
	  "detection).", 0 },
	{ "outlier_ejection", D_DURATION, CONF_FIELD(outlier_ejection_ms), "30s", 100, 3600000,
	  NULL, NULL, "Ejection time, times the node's ejections so far, up to 10 times this.",
	  0 },
	{ "max_ejected_percent", D_INT, CONF_FIELD(max_ejected_percent), "50", 0, 100, NULL,
	  NULL, "Most of a route's pool that may be ejected at once (at least one node of a "
	  "pool of two or more); 0: no ejection.", 0 },
	{ "nodes", D_NODES, CONF_FIELD(nodes), NULL, 0, 0, NULL, NULL,
	  "Upstream nodes, each a mapping described under Node entries. "
	  "Nodes defined here are read-only to the command line.", 0 },
	{ "routes", D_ROUTES, CONF_FIELD(routes), NULL, 0, 0, NULL, NULL,
	  "Routes, each a mapping described under Route entries. "
	  "Routes defined here are read-only to the command line.", 0 },
	{ "aliases", D_ALIASES, CONF_FIELD(aliases), NULL, 0, 0, NULL, NULL,
	  "Model aliases: each key is a name clients may ask for, its value a model or a "
	  "list of models tried in order (fast: [gpt-4o-mini, claude-3-5-haiku]); the first "
	  "one some route has an enabled node for is used, and the upstream is asked for it.",
	  0 },
	{ "pricing", D_PRICING, CONF_FIELD(prices), NULL, 0, 0, NULL, NULL,
	  "Prices in USD per million tokens, by model: a mapping of model name (or glob) to "
	  "{input, output, cache_read, cache_write}; input and output are required, cache "
	  "prices default to input. Adds to and overrides the built-in table; a model no "
	  "entry covers is logged with an unknown cost.", 0 },
	{ "standby", D_STANDBY, CONF_FIELD(standby), NULL, 0, 0, NULL, NULL,
	  "When standby nodes take traffic ahead of a rise in load: a mapping described "
	  "under Standby settings.", 0 },
	{ "geo", D_GEO, CONF_FIELD(geo), NULL, 0, 0, NULL, NULL,
	  "Geo-aware routing: where clients are and which regions are near each other, "
	  "a mapping described under Geo section. Without it (or when a client's region "
	  "is unknown) nodes are chosen without regard to region.", 0 },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, 0 },
};

/* The standby: section (standby.h). Utilisation of a route's active pool =
 * forecast request rate / capacity. */
#define SB_FIELD(f) offsetof(struct aigw_standby_conf, f)
static const struct directive standby_directives[] = {
	{ "threshold", D_NUMBER, SB_FIELD(threshold), "0.8", 0, 1000, NULL, NULL,
	  "Utilisation of a route's active nodes (forecast requests/s divided by capacity) "
	  "above which the route's standby nodes take traffic too; must be above 0.", 0 },
	{ "quiet", D_DURATION, SB_FIELD(quiet_ms), "60s", 0, 86400000, NULL, NULL,
	  "How long the utilisation must stay at or below the threshold before the standby "
	  "nodes go back to standby.", 0 },
	{ "horizon", D_DURATION, SB_FIELD(horizon_ms), "5s", 0, 3600000, NULL, NULL,
	  "How far ahead the request rate is forecast (Holt's smoothing of the rate of each "
	  "second).", 0 },
	{ "capacity", D_NUMBER, SB_FIELD(capacity), "100", 0, 1000000000, NULL, NULL,
	  "Requests per second the active nodes of a route are taken to serve; must be "
	  "above 0.", 0 },
	{ "alpha", D_NUMBER, SB_FIELD(alpha), "0.5", 0, 1, NULL, NULL,
	  "Smoothing of the rate's level, in (0, 1]: higher follows the latest second more.",
	  0 },
	{ "beta", D_NUMBER, SB_FIELD(beta), "0.3", 0, 1, NULL, NULL,
	  "Smoothing of the rate's trend, in [0, 1]: 0 forecasts no trend.", 0 },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, 0 },
};

/* An HTTP field name: 1-64 token characters. */
static int check_header_name(const char *s, struct aigw_err *err)
{
	size_t n = strlen(s);

	if (n && n <= 64 &&
	    strspn(s, "!#$%&'*+-.^_`|~0123456789"
		      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") == n)
		return 0;
	return aigw_err_set(err, AIGW_EINVAL,
			    "'%s' is not a header name (1-64 letters, digits and !#$%%&'*+-.^_`|~)",
			    s);
}

#define GEO_FIELD(f) offsetof(struct aigw_geo, f)

static const struct directive geo_directives[] = {
	{ "region_header", D_STRING, GEO_FIELD(region_header), NULL, 0, 0, NULL,
	  check_header_name,
	  "Request header naming the client's region, such as X-Client-Region; when unset, "
	  "no header is read. A value that is not a valid region name (the rule of node "
	  "names) is ignored. The header wins over regions.", 0 },
	{ "regions", D_GEOCIDRS, 0, NULL, 0, 0, NULL, NULL,
	  "The client's region by its address: a mapping of IPv4 or IPv6 prefix "
	  "(\"10.1.0.0/16\", \"2001:db8::/32\", or one address) to region name. The "
	  "longest matching prefix wins; an IPv4 prefix also matches the IPv4-mapped "
	  "IPv6 form of its addresses. Quote IPv6 prefixes.", 0 },
	{ "near", D_GEONEAR, 0, NULL, 0, 0, NULL, NULL,
	  "Regions near each other: a mapping of region to a list of regions "
	  "(eu-west: [eu-central, uk]); the relation is symmetric. A region named here "
	  "(as a key, even with an empty list, or in a list) is near only what is "
	  "listed; any other two regions are near when they share the part before "
	  "their last '-' (eu-west and eu-central; us-east-1 and us-east-2).", 0 },
	{ "spill_latency_factor", D_NUMBER, GEO_FIELD(spill_latency_factor), "3", 1, 100,
	  NULL, NULL,
	  "A node is slow, and its request spills to the next nearest tier, when its "
	  "latency estimate exceeds this many times the best estimate among the route's "
	  "eligible nodes (a best under 20 ms counts as 20 ms, so jitter among fast "
	  "nodes never spills).", 0 },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, 0 },
};

static const struct directive node_directives[] = {
	{ "name", D_STRING, NODE_FIELD(name), NULL, 0, 0, NULL, check_name,
	  "Unique name of the node: 1 to 64 letters, digits, '.', '_' or '-', not all digits.",
	  F_REQUIRED },
	{ "url", D_STRING, NODE_FIELD(url), NULL, 0, 0, NULL, check_url,
	  "Base URL of the upstream API, http or https, without credentials.", F_REQUIRED },
	{ "provider", D_ENUM, NODE_FIELD(provider), NULL, 0, 0, aigw_provider_names, NULL,
	  "API dialect the upstream speaks.", F_REQUIRED },
	{ "type", D_ENUM, NODE_FIELD(type), "cloud", 0, 0, aigw_node_type_names, NULL,
	  "Kind of node, shown in listings and used for placement.", 0 },
	{ "region", D_STRING, NODE_FIELD(region), NULL, 0, 0, NULL, check_name,
	  "Region label, such as us-east.", 0 },
	{ "weight", D_INT, NODE_FIELD(weight), "1", 1, AIGW_NODE_WEIGHT_MAX, NULL, NULL,
	  "Share of traffic under the weighted policy, relative to the other nodes of a route.", 0 },
	{ "models", D_LIST, NODE_FIELD(models), NULL, 0, 0, NULL, check_glob,
	  "Model names or globs the node serves; when empty, any model.", 0 },
	{ "api_key_env", D_KEYENVS, NODE_FIELD(accounts), NULL, 0, 0, NULL, NULL,
	  "Name of the environment variable holding the API key. "
	  "The key itself is never written in the file. Several names (a list, or "
	  "\"A, B\") make several accounts, which take turns. "
	  "Not together with accounts.", 0 },
	{ "accounts", D_ACCOUNTS, NODE_FIELD(accounts), NULL, 0, 0, NULL, NULL,
	  "Credentials of the node, each a mapping described under Account entries; "
	  "requests take turns over them, and an account answered 429 rests for its "
	  "Retry-After. Not together with api_key_env.", 0 },
	{ "max_concurrency", D_INT, NODE_FIELD(max_concurrency), "0", 0,
	  AIGW_NODE_CONCURRENCY_MAX, NULL, NULL,
	  "Most requests in flight to the node at once; 0 means unlimited.", 0 },
	{ "cost", D_INT, NODE_FIELD(cost), "-1", -1, AIGW_NODE_COST_MAX, NULL, NULL,
	  "Price of the node's answers in cents per million tokens (or any one unit for "
	  "all the nodes of a route), for routes that set prefer_cheap; -1: unknown.", 0 },
	{ "standby", D_BOOL, NODE_FIELD(standby), "false", 0, 0, NULL, NULL,
	  "Use the node only when the active nodes of a route cannot serve, or while the "
	  "route's load forecast is over the standby threshold (see standby).", 0 },
	{ "enabled", D_ENABLED, NODE_FIELD(state), "true", 0, 0, NULL, NULL,
	  "Set to false to keep the entry but send it no traffic.", 0 },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, 0 },
};

static const struct directive route_directives[] = {
	{ "name", D_STRING, ROUTE_FIELD(name), NULL, 0, 0, NULL, check_name,
	  "Unique name of the route: 1 to 64 letters, digits, '.', '_' or '-', not all digits.",
	  F_REQUIRED },
	{ "path", D_STRING, ROUTE_FIELD(path), NULL, 0, 0, NULL, NULL,
	  "Path prefix to match, at segment boundaries, such as /v1/chat/completions.",
	  F_REQUIRED },
	{ "method", D_STRING, ROUTE_FIELD(method), NULL, 0, 0, NULL, NULL,
	  "HTTP method to match, in capitals; when unset, any method.", 0 },
	{ "model", D_STRING, ROUTE_FIELD(model), NULL, 0, 0, NULL, check_glob,
	  "Model name or glob the request must ask for; when unset, any model.", 0 },
	{ "headers", D_LIST, ROUTE_FIELD(headers), NULL, 0, 0, NULL, NULL,
	  "Header conditions written \"Name: value\"; all must hold.", 0 },
	{ "nodes", D_LIST, ROUTE_FIELD(nodes), NULL, 0, 0, NULL, check_name,
	  "Names of the nodes serving the route, in order of preference.", F_REQUIRED },
	{ "policy", D_ENUM, ROUTE_FIELD(policy), "round_robin", 0, 0, aigw_policy_names, NULL,
	  "How a node is chosen among the route's nodes.", 0 },
	{ "retries", D_INT, ROUTE_FIELD(retries), "0", 0, AIGW_ROUTE_RETRIES_MAX, NULL, NULL,
	  "Further attempts on another node after a failure.", 0 },
	{ "timeout", D_DURATION, ROUTE_FIELD(timeout_ms), "0s", 0, AIGW_ROUTE_TIMEOUT_MAX_MS, NULL, NULL,
	  "Time allowed for each attempt at an upstream request, from connecting to the "
	  "node to the end of the answer; 0s means the server's upstream_timeout.", 0 },
	{ "connect_timeout", D_DURATION, ROUTE_FIELD(connect_timeout_ms), "0s", 0,
	  AIGW_ROUTE_TIMEOUT_MAX_MS, NULL, NULL,
	  "Time allowed to connect to a node (TCP, and TLS for https); 0s means 10s. "
	  "When it expires the attempt fails like a refused connection: another node is "
	  "tried if the route has retries left, else the answer is 504 upstream_timeout.", 0 },
	{ "first_byte_timeout", D_DURATION, ROUTE_FIELD(first_byte_timeout_ms), "0s", 0,
	  AIGW_ROUTE_TIMEOUT_MAX_MS, NULL, NULL,
	  "Time allowed from sending the request to receiving the head of the answer; "
	  "0s means no limit beyond timeout. When it expires, another node is tried if "
	  "the route has retries left, else the answer is 504 upstream_timeout.", 0 },
	{ "idle_timeout", D_DURATION, ROUTE_FIELD(idle_timeout_ms), "0s", 0,
	  AIGW_ROUTE_TIMEOUT_MAX_MS, NULL, NULL,
	  "Longest silence allowed between two pieces of a streamed answer; 0s means "
	  "no limit beyond timeout. When it expires the stream ends with an error event.", 0 },
	{ "prefer_cheap", D_INT, ROUTE_FIELD(prefer_cheap), "0", 0, 1000, NULL, NULL,
	  "Cost preference: among the nodes whose latency estimate is within this percent "
	  "of the best one's (e.g. 150), only the cheapest (node cost) take part in a "
	  "pick; 0: off. Nodes of unknown cost are used when no node near enough has one.",
	  0 },
	{ "fallback", D_STRING, ROUTE_FIELD(fallback), NULL, 0, 0, NULL, check_name,
	  "Route to try when every node of this route has failed.", 0 },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, 0 },
};

static const struct directive account_directives[] = {
	{ "api_key_env", D_ENV, ACCOUNT_FIELD(api_key_env), NULL, 0, 0, NULL, NULL,
	  "Name of the environment variable holding the account's API key.", 0 },
	{ "token_url", D_STRING, ACCOUNT_FIELD(token_url), NULL, 0, 0, NULL, check_url,
	  "OAuth2 token endpoint (client credentials grant); the bearer token it "
	  "gives is used instead of an API key. Tokens are fetched in the background, "
	  "kept until five minutes before they expire (at 80% of the lifetime for tokens "
	  "living under ten minutes) and replaced ahead of time.", 0 },
	{ "client_id_env", D_ENV, ACCOUNT_FIELD(client_id_env), NULL, 0, 0, NULL, NULL,
	  "Name of the environment variable holding the OAuth2 client id.", 0 },
	{ "client_secret_env", D_ENV, ACCOUNT_FIELD(client_secret_env), NULL, 0, 0, NULL, NULL,
	  "Name of the environment variable holding the OAuth2 client secret.", 0 },
	{ "scope", D_STRING, ACCOUNT_FIELD(scope), NULL, 0, 0, NULL, NULL,
	  "OAuth2 scope to ask for; when unset, none is sent.", 0 },
	{ "proxy", D_STRING, ACCOUNT_FIELD(proxy), NULL, 0, 0, NULL, check_proxy,
	  "Outbound HTTP proxy for this account's requests, http://host:port "
	  "(https upstreams go through a CONNECT tunnel).", 0 },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL, NULL, 0 },
};

static const char both_kinds[] = "api_key_env and accounts cannot both be given (write "
				 "the keys as accounts)";

/* Installs the accounts read for a node (taken), refusing a second set. */
static int set_accounts(struct aigw_node *n, struct aigw_account *accounts, size_t count,
			struct aigw_err *err)
{
	if (n->n_accounts) {
		aigw_accounts_release(accounts, count);
		return aigw_err_set(err, AIGW_EINVAL, "%s", both_kinds);
	}
	if (count > AIGW_NODE_ACCOUNTS_MAX) {
		aigw_accounts_release(accounts, count);
		return aigw_err_set(err, AIGW_EINVAL, "more than %d accounts",
				    AIGW_NODE_ACCOUNTS_MAX);
	}
	aigw_node_set_accounts_take(n, accounts, count);
	return 0;
}

/* api_key_env's names (taken) become one plain account each. */
static int set_key_envs(struct aigw_node *n, struct aigw_strv *names, struct aigw_err *err)
{
	struct aigw_account *accounts = aigw_calloc(names->n ? names->n : 1, sizeof(*accounts));
	size_t count = names->n;

	for (size_t i = 0; i < names->n; i++) {
		if (check_env_name(names->v[i], err)) {
			aigw_accounts_release(accounts, count);
			aigw_strv_release(names);
			return AIGW_EINVAL;
		}
		accounts[i].api_key_env = aigw_strdup(names->v[i]);
	}
	aigw_strv_release(names);
	return set_accounts(n, accounts, count, err);
}

/* Nodes and routes are read by the same code; this says how to handle one. */
struct entity {
	const char *what; /* "node" */
	const struct directive *directives;
	size_t size;
	size_t name_offset, origin_offset, where_offset;
	void (*init)(void *);
	void (*release)(void *);
	int (*validate)(const void *, struct aigw_err *);
};

static void node_init(void *n) { aigw_node_init(n); }
static void node_release(void *n) { aigw_node_release(n); }
static int node_validate(const void *n, struct aigw_err *err) { return aigw_node_validate(n, err); }
static void route_init(void *r) { aigw_route_init(r); }
static void route_release(void *r) { aigw_route_release(r); }
static int route_validate(const void *r, struct aigw_err *err) { return aigw_route_validate(r, err); }

static const struct entity node_entity = {
	"node", node_directives, sizeof(struct aigw_node),
	NODE_FIELD(name), NODE_FIELD(origin), NODE_FIELD(where),
	node_init, node_release, node_validate,
};

static const struct entity route_entity = {
	"route", route_directives, sizeof(struct aigw_route),
	ROUTE_FIELD(name), ROUTE_FIELD(origin), ROUTE_FIELD(where),
	route_init, route_release, route_validate,
};

static const struct directive *find_directive(const struct directive *ds, const char *name)
{
	for (; ds->name; ds++)
		if (strcmp(ds->name, name) == 0)
			return ds;
	return NULL;
}

/* "unknown directive 'x' (did you mean 'y'?)" over one table's names. */
static void unknown_directive(const struct directive *ds, const char *name,
			      struct aigw_err *err)
{
	const char *names[DIRECTIVES_MAX + 1];
	const char *guess;
	size_t n = 0;

	for (; ds->name && n < DIRECTIVES_MAX; ds++)
		names[n++] = ds->name;
	names[n] = NULL;
	guess = aigw_suggest(name, names);
	if (guess)
		aigw_err_set(err, AIGW_EINVAL, "unknown directive '%s' (did you mean '%s'?)",
			     name, guess);
	else
		aigw_err_set(err, AIGW_EINVAL, "unknown directive '%s'", name);
}

/* ------------------------------------------------------- setting values */

static void *field_of(const struct directive *d, void *target)
{
	return (char *)target + d->offset;
}

/* Replaces a list directive's value with items (taken), checking each. */
static int set_list(const struct directive *d, void *target, struct aigw_strv *items,
		    struct aigw_err *err)
{
	struct aigw_strv *sv = field_of(d, target);

	for (size_t i = 0; d->check && i < items->n; i++) {
		if (d->check(items->v[i], err)) {
			aigw_strv_release(items);
			return AIGW_EINVAL;
		}
	}
	if (d->type == D_KEYENVS)
		return set_key_envs(target, items, err);
	aigw_strv_release(sv);
	*sv = *items;
	items->v = NULL;
	items->n = 0;
	return 0;
}

/* A D_NUMBER: a decimal number in [min, max]. */
static int set_number(const struct directive *d, void *field, const char *text,
		      struct aigw_err *err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (end == text || *end || errno || !isfinite(v))
		return aigw_err_set(err, AIGW_EINVAL, "'%s' is not a number", text);
	if (v < (double)d->min || v > (double)d->max)
		return aigw_err_set(err, AIGW_EINVAL, "%s is out of range (%lld..%lld)", text,
				    (long long)d->min, (long long)d->max);
	*(double *)field = v;
	return 0;
}

/* Converts one textual value for directive d and stores it in target. The
 * file, the JSON reader and the defaults all come through here. */
static int set_text(const struct directive *d, void *target, const char *text,
		    struct aigw_err *err)
{
	void *field = field_of(d, target);
	struct aigw_strv items = AIGW_STRV_INIT;
	int64_t v;
	bool b;
	int e;

	switch (d->type) {
	case D_STRING:
	case D_ENV:
		if (d->type == D_ENV && !aigw_env_name_valid(text))
			return aigw_err_set(err, AIGW_EINVAL,
					    "'%s' is not an environment variable name "
					    "(letters, digits and '_', not starting with a digit; "
					    "the file names the variable, never the secret)", text);
		if (d->check && d->check(text, err))
			return AIGW_EINVAL;
		free(*(char **)field);
		*(char **)field = aigw_strdup(text);
		return 0;
	case D_INT:
		if (aigw_parse_int(text, d->min, d->max, &v, err))
			return AIGW_EINVAL;
		*(int64_t *)field = v;
		return 0;
	case D_DURATION:
		if (aigw_parse_duration_ms(text, &v, err))
			return AIGW_EINVAL;
		if (v < d->min || v > d->max) {
			char lo[32], hi[32];
			aigw_format_duration_ms(d->min, lo, sizeof(lo));
			aigw_format_duration_ms(d->max, hi, sizeof(hi));
			return aigw_err_set(err, AIGW_EINVAL, "%s is out of range (%s..%s)",
					    text, lo, hi);
		}
		*(int64_t *)field = v;
		return 0;
	case D_SIZE:
		if (aigw_parse_size(text, &v, err))
			return AIGW_EINVAL;
		if (v < d->min || v > d->max)
			return aigw_err_set(err, AIGW_EINVAL, "%s is out of range (%lld..%lld bytes)",
					    text, (long long)d->min, (long long)d->max);
		*(int64_t *)field = v;
		return 0;
	case D_BOOL:
	case D_ENABLED:
		if (aigw_parse_bool(text, &b, err))
			return AIGW_EINVAL;
		if (d->type == D_BOOL)
			*(bool *)field = b;
		else
			*(int *)field = b ? AIGW_NODE_ENABLED : AIGW_NODE_DISABLED;
		return 0;
	case D_ENUM:
		e = aigw_enum_parse(d->choices, text, d->name, err);
		if (e < 0)
			return e;
		*(int *)field = e;
		return 0;
	case D_LOGLEVEL:
		e = aigw_log_level_parse(text);
		if (e < 0)
			return aigw_enum_parse(log_level_names, text, "log level", err);
		*(int *)field = e;
		return 0;
	case D_LIST:
	case D_KEYENVS:
		if (aigw_strv_split(&items, text, ',', err))
			return AIGW_EINVAL;
		return set_list(d, target, &items, err);
	case D_NODES:
	case D_ROUTES:
	case D_ACCOUNTS:
		break;
	case D_NUMBER:
		return set_number(d, field, text, err);
	case D_ALIASES:
	case D_PRICING:
	case D_STANDBY:
	case D_GEO:
	case D_GEOCIDRS:
	case D_GEONEAR:
		return aigw_err_set(err, AIGW_EINVAL, "expected a mapping");
	}
	return aigw_err_set(err, AIGW_EINVAL, "expected a list of mappings");
}

/* The defaults in the tables are the defaults of the program, not only of
 * the manual; a default that fails to parse is caught by the tests. */
static void apply_defaults(const struct directive *ds, void *target)
{
	for (; ds->name; ds++)
		if (ds->def)
			set_text(ds, target, ds->def, NULL);
}

/* ------------------------------------------------------------- the tree */

enum ykind { Y_SCALAR, Y_SEQUENCE, Y_MAPPING };

struct ynode {
	enum ykind kind;
	size_t line, col;       /* 1-based */
	const char *text;       /* scalars: NUL-terminated */
	bool null;              /* plain "", "~" or "null" */
	struct ynode *child;    /* items; for mappings key, value, key, value... */
	struct ynode *last;
	struct ynode *next;
	size_t n;               /* children */
};

struct parse {
	const char *file;
	const char *text;   /* the whole input, for reader error offsets */
	size_t len;
	struct aigw_pool *pool;
	struct aigw_err *err; /* never NULL */
	bool expand;        /* ${VAR} expansion on */
};

static const char *kind_name(const struct ynode *y)
{
	switch (y->kind) {
	case Y_SCALAR: return "a scalar";
	case Y_SEQUENCE: return "a list";
	case Y_MAPPING: return "a mapping";
	}
	return "?";
}

static int failv_at(struct parse *p, size_t line, size_t col, const char *path,
		    const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
static int failv_at(struct parse *p, size_t line, size_t col, const char *path,
		    const char *fmt, va_list ap)
{
	char msg[AIGW_ERR_MSG_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (path && *path)
		return aigw_err_set(p->err, AIGW_ECONFIG, "%s:%zu:%zu: %s: %s", p->file, line,
				    col, path, msg);
	return aigw_err_set(p->err, AIGW_ECONFIG, "%s:%zu:%zu: %s", p->file, line, col, msg);
}

static int fail_at(struct parse *p, size_t line, size_t col, const char *path,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fail_at(struct parse *p, size_t line, size_t col, const char *path,
		   const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = failv_at(p, line, col, path, fmt, ap);
	va_end(ap);
	return rc;
}

/* Every error in the file: "file:line:col: path: message". */
static int fail(struct parse *p, const struct ynode *at, const char *path,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(struct parse *p, const struct ynode *at, const char *path,
		const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = failv_at(p, at->line, at->col, path, fmt, ap);
	va_end(ap);
	return rc;
}

/* Paths such as nodes[2].weight; a path too long for the buffer is cut,
 * which only shortens a message. */
static void path_printf(char *out, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void path_printf(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, n, fmt, ap);
	va_end(ap);
}

static void join_path(char *out, size_t n, const char *parent, const char *key)
{
	if (parent && *parent)
		path_printf(out, n, "%s.%s", parent, key);
	else
		path_printf(out, n, "%s", key);
}

static int syntax_error(struct parse *p, const yaml_parser_t *parser)
{
	size_t line = parser->problem_mark.line + 1, col = parser->problem_mark.column + 1;
	const char *problem = parser->problem ? parser->problem : "unknown problem";

	if (parser->error == YAML_MEMORY_ERROR)
		return fail_at(p, 1, 1, NULL, "yaml syntax error: out of memory");
	if (parser->error == YAML_READER_ERROR) {
		/* The reader reports a byte offset rather than a mark. */
		size_t off = parser->problem_offset < p->len ? parser->problem_offset : p->len;
		line = 1;
		col = 1;
		for (size_t i = 0; i < off; i++) {
			if (p->text[i] == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
	}
	if (parser->context)
		return fail_at(p, line, col, NULL, "yaml syntax error: %s (%s at line %zu)",
			       problem, parser->context, (size_t)parser->context_mark.line + 1);
	return fail_at(p, line, col, NULL, "yaml syntax error: %s", problem);
}

static struct ynode *new_ynode(struct parse *p, enum ykind kind, const yaml_mark_t *mark)
{
	struct ynode *y = aigw_pool_calloc(p->pool, sizeof(*y));
	y->kind = kind;
	y->line = mark->line + 1;
	y->col = mark->column + 1;
	return y;
}

static bool is_null_scalar(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* Turns the event stream into a tree; *root is NULL for an empty stream. */
static int build_tree(struct parse *p, struct ynode **root)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct ynode *stack[TREE_DEPTH_MAX];
	size_t depth = 0;
	int documents = 0, rc = 0;
	bool done = false;

	*root = NULL;
	if (!yaml_parser_initialize(&parser))
		return fail_at(p, 1, 1, NULL, "cannot initialise the yaml parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)p->text, p->len);
	while (!done && !rc) {
		const yaml_char_t *anchor = NULL;
		struct ynode *y = NULL;

		if (!yaml_parser_parse(&parser, &ev)) {
			rc = syntax_error(p, &parser);
			break;
		}
		if (ev.type == YAML_SCALAR_EVENT)
			anchor = ev.data.scalar.anchor;
		else if (ev.type == YAML_SEQUENCE_START_EVENT)
			anchor = ev.data.sequence_start.anchor;
		else if (ev.type == YAML_MAPPING_START_EVENT)
			anchor = ev.data.mapping_start.anchor;
		if (anchor)
			rc = fail_at(p, ev.start_mark.line + 1, ev.start_mark.column + 1, NULL,
				     "yaml anchors are not supported (write the value out)");
		switch (anchor ? YAML_NO_EVENT : ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (documents++)
				rc = fail_at(p, ev.start_mark.line + 1, ev.start_mark.column + 1,
					     NULL, "only one yaml document is allowed");
			break;
		case YAML_ALIAS_EVENT:
			rc = fail_at(p, ev.start_mark.line + 1, ev.start_mark.column + 1, NULL,
				     "yaml aliases are not supported (write the value out)");
			break;
		case YAML_SCALAR_EVENT:
			if (memchr(ev.data.scalar.value, '\0', ev.data.scalar.length)) {
				rc = fail_at(p, ev.start_mark.line + 1, ev.start_mark.column + 1,
					     NULL, "NUL bytes are not allowed in values");
				break;
			}
			y = new_ynode(p, Y_SCALAR, &ev.start_mark);
			y->text = aigw_pool_strndup(p->pool, (const char *)ev.data.scalar.value,
						    ev.data.scalar.length);
			y->null = is_null_scalar(&ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			y = new_ynode(p, Y_SEQUENCE, &ev.start_mark);
			break;
		case YAML_MAPPING_START_EVENT:
			y = new_ynode(p, Y_MAPPING, &ev.start_mark);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		if (y) {
			if (depth == 0) {
				*root = y;
			} else {
				struct ynode *parent = stack[depth - 1];
				if (parent->last)
					parent->last->next = y;
				else
					parent->child = y;
				parent->last = y;
				parent->n++;
			}
			if (y->kind != Y_SCALAR) {
				if (depth == TREE_DEPTH_MAX)
					rc = fail(p, y, NULL, "yaml nesting is deeper than %d levels",
						  TREE_DEPTH_MAX);
				else
					stack[depth++] = y;
			}
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

/* ------------------------------------------------------------ expansion */

/* Expands ${VAR}, ${VAR:-default} and $$ in s into a pool string. *empty
 * is set when s held a reference and the result is "" (the value is then
 * treated as not given). On error the message is in sub. */
static int expand(struct parse *p, const char *s, const char **out, bool *empty,
		  struct aigw_err *sub)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	bool referenced = false;

	*empty = false;
	if (!p->expand || !strchr(s, '$')) {
		*out = s;
		return 0;
	}
	for (const char *c = s; *c;) {
		const char *close, *colon, *value;
		char name[128];
		size_t name_len;

		if (c[0] != '$' || (c[1] != '$' && c[1] != '{')) {
			aigw_buf_putc(&b, *c++);
			continue;
		}
		if (c[1] == '$') {
			aigw_buf_putc(&b, '$');
			c += 2;
			continue;
		}
		close = strchr(c + 2, '}');
		if (!close) {
			aigw_buf_release(&b);
			return aigw_err_set(sub, AIGW_EINVAL, "unterminated '${' in '%s'", s);
		}
		colon = memchr(c + 2, ':', (size_t)(close - c - 2));
		name_len = (size_t)((colon ? colon : close) - (c + 2));
		if (name_len < sizeof(name)) {
			memcpy(name, c + 2, name_len);
			name[name_len] = '\0';
		}
		if (name_len >= sizeof(name) || !aigw_env_name_valid(name) ||
		    (colon && colon[1] != '-')) {
			aigw_buf_release(&b);
			return aigw_err_set(sub, AIGW_EINVAL,
					    "invalid variable reference '%.*s' "
					    "(use ${NAME} or ${NAME:-default}, and $$ for '$')",
					    (int)(close - c + 1), c);
		}
		value = getenv(name);
		if (colon && (!value || !*value)) {
			aigw_buf_append(&b, colon + 2, (size_t)(close - colon - 2));
		} else if (value) {
			aigw_buf_puts(&b, value);
		} else {
			aigw_buf_release(&b);
			return aigw_err_set(sub, AIGW_EINVAL,
					    "environment variable '%s' is not set "
					    "(use ${%s:-default} to give a default)", name, name);
		}
		referenced = true;
		c = close + 1;
	}
	*out = aigw_pool_strndup(p->pool, b.data, b.len);
	*empty = referenced && b.len == 0;
	aigw_buf_release(&b);
	return 0;
}

/* ---------------------------------------------------------- the walker */

static int read_mapping(struct parse *p, const struct ynode *map, const char *path,
			const struct directive *ds, void *target);
static int json_value(const struct directive *d, const cJSON *j, void *target,
		      struct aigw_err *err);

static const struct ynode *mapping_value(const struct ynode *map, const char *key)
{
	for (const struct ynode *k = map->child; k && k->next; k = k->next->next)
		if (k->kind == Y_SCALAR && strcmp(k->text, key) == 0)
			return k->next;
	return NULL;
}

/* Reads a sequence of node or route mappings and appends them to *array.
 * In the config file (in_file) entries get origin YAML and a "where". */
static int read_entities(struct parse *p, const struct ynode *seq, const char *path,
			 const struct entity *e, bool in_file, void **array, size_t *count,
			 size_t **lines)
{
	char item_path[PATH_MAX_LEN], name_path[PATH_MAX_LEN];
	size_t i = 0;

	if (seq->null)
		return 0;
	if (seq->kind != Y_SEQUENCE)
		return fail(p, seq, path, "expected a list of %s entries, got %s", e->what,
			    kind_name(seq));
	for (const struct ynode *item = seq->child; item; item = item->next, i++) {
		void *entity = aigw_malloc(e->size);
		struct aigw_err sub;
		const char *name;
		int rc;

		path_printf(item_path, sizeof(item_path), "%s[%zu]", path, i);
		if (item->kind != Y_MAPPING) {
			free(entity);
			return fail(p, item, item_path, "expected a %s mapping, got %s", e->what,
				    kind_name(item));
		}
		e->init(entity);
		apply_defaults(e->directives, entity);
		rc = read_mapping(p, item, item_path, e->directives, entity);
		if (!rc && e->validate(entity, &sub))
			rc = fail(p, item, item_path, "%s", sub.msg);
		name = *(char **)((char *)entity + e->name_offset);
		for (size_t j = 0; !rc && j < *count; j++) {
			const char *other = *(char **)((char *)*array + j * e->size + e->name_offset);
			if (strcmp(name, other) == 0) {
				const struct ynode *at = mapping_value(item, "name");
				join_path(name_path, sizeof(name_path), item_path, "name");
				rc = fail(p, at ? at : item, name_path,
					  "duplicate %s name '%s' (first at line %zu)", e->what, name,
					  (*lines)[j]);
			}
		}
		if (rc) {
			e->release(entity);
			free(entity);
			return rc;
		}
		if (in_file) {
			struct aigw_buf where = AIGW_BUF_INIT;
			aigw_buf_printf(&where, "%s:%zu:%zu", p->file, item->line, item->col);
			*(int *)((char *)entity + e->origin_offset) = AIGW_ORIGIN_YAML;
			*(char **)((char *)entity + e->where_offset) = aigw_buf_detach(&where);
		}
		*array = aigw_realloc(*array, (*count + 1) * e->size);
		memcpy((char *)*array + *count * e->size, entity, e->size);
		free(entity);
		*lines = aigw_realloc(*lines, (*count + 1) * sizeof(**lines));
		(*lines)[*count] = item->line;
		(*count)++;
	}
	return 0;
}

/* A scalar that must be a string (after ${VAR} expansion). */
static int scalar_text(struct parse *p, const struct ynode *v, const char *path, const char **out)
{
	struct aigw_err sub;
	bool empty;

	if (v->kind != Y_SCALAR || v->null)
		return fail(p, v, path, "expected a string, got %s", v->null ? "nothing" : kind_name(v));
	if (expand(p, v->text, out, &empty, &sub))
		return fail(p, v, path, "%s", sub.msg);
	return 0;
}

/* aliases: { name: model | [model, ...] } */
static int read_aliases(struct parse *p, const struct ynode *map, const char *path,
			struct aigw_conf *c)
{
	char kpath[PATH_MAX_LEN], ipath[PATH_MAX_LEN];

	if (map->kind != Y_MAPPING)
		return fail(p, map, path, "expected a mapping of alias names to models, got %s",
			    kind_name(map));
	for (const struct ynode *k = map->child; k && k->next; k = k->next->next) {
		const struct ynode *v = k->next;
		struct aigw_alias a;
		struct aigw_err sub;
		const char *t;
		size_t i = 0;
		int rc = 0;

		memset(&a, 0, sizeof(a));
		if (k->kind != Y_SCALAR)
			return fail(p, k, path, "an alias name must be a string, not %s", kind_name(k));
		join_path(kpath, sizeof(kpath), path, k->text);
		if (aigw_alias_find(c->aliases, c->n_aliases, k->text))
			return fail(p, k, kpath, "duplicate alias '%s'", k->text);
		a.name = aigw_strdup(k->text);
		if (v->kind == Y_SEQUENCE) {
			for (const struct ynode *item = v->child; !rc && item; item = item->next, i++) {
				path_printf(ipath, sizeof(ipath), "%s[%zu]", kpath, i);
				if (!(rc = scalar_text(p, item, ipath, &t)))
					aigw_strv_push(&a.targets, t);
			}
		} else if (!(rc = scalar_text(p, v, kpath, &t))) {
			aigw_strv_push(&a.targets, t);
		}
		if (!rc && aigw_alias_validate(&a, &sub))
			rc = fail(p, k, kpath, "%s", sub.msg);
		if (rc) {
			aigw_alias_release(&a);
			return rc;
		}
		{
			struct aigw_buf where = AIGW_BUF_INIT;
			aigw_buf_printf(&where, "%s:%zu:%zu", p->file, k->line, k->col);
			a.where = aigw_buf_detach(&where);
		}
		c->aliases = aigw_realloc(c->aliases, (c->n_aliases + 1) * sizeof(*c->aliases));
		c->aliases[c->n_aliases++] = a;
	}
	return 0;
}

static int price_number(struct parse *p, const struct ynode *v, const char *path, double *out)
{
	const char *t;
	char *end;
	int rc;

	if ((rc = scalar_text(p, v, path, &t)))
		return rc;
	errno = 0;
	*out = strtod(t, &end);
	if (end == t || *end || errno || !isfinite(*out) || *out < 0 || *out >= 1e6)
		return fail(p, v, path, "'%s' is not a price (USD per million tokens, 0 to 1000000)",
			    t);
	return 0;
}

/* pricing: { model: {input: N, output: N, cache_read: N, cache_write: N} } */
static int read_pricing(struct parse *p, const struct ynode *map, const char *path,
			struct aigw_conf *c)
{
	static const char *const keys[] = { "input", "output", "cache_read", "cache_write", NULL };
	char kpath[PATH_MAX_LEN], fpath[PATH_MAX_LEN];

	if (map->kind != Y_MAPPING)
		return fail(p, map, path, "expected a mapping of models to prices, got %s",
			    kind_name(map));
	for (const struct ynode *k = map->child; k && k->next; k = k->next->next) {
		const struct ynode *v = k->next;
		struct aigw_price pr = { NULL, -1, -1, -1, -1 };
		double *fields[] = { &pr.input, &pr.output, &pr.cache_read, &pr.cache_write };
		struct aigw_err sub;
		int rc;

		if (k->kind != Y_SCALAR || k->null)
			return fail(p, k, path, "a model name must be a string");
		join_path(kpath, sizeof(kpath), path, k->text);
		for (size_t i = 0; i < c->n_prices; i++)
			if (strcmp(c->prices[i].model, k->text) == 0)
				return fail(p, k, kpath, "duplicate price for '%s'", k->text);
		if (v->kind != Y_MAPPING)
			return fail(p, v, kpath,
				    "expected a mapping {input: N, output: N}, got %s", kind_name(v));
		for (const struct ynode *f = v->child; f && f->next; f = f->next->next) {
			size_t i = 0;
			if (f->kind == Y_SCALAR)
				while (keys[i] && strcmp(keys[i], f->text) != 0)
					i++;
			if (f->kind != Y_SCALAR || !keys[i])
				return fail(p, f, kpath, "unknown price field '%s' (input, output, "
					    "cache_read, cache_write)", f->kind == Y_SCALAR ? f->text : "?");
			join_path(fpath, sizeof(fpath), kpath, keys[i]);
			if ((rc = price_number(p, f->next, fpath, fields[i])))
				return rc;
		}
		if (pr.input < 0 || pr.output < 0)
			return fail(p, v, kpath, "input and output prices are required");
		pr.model = (char *)k->text;
		if (aigw_price_validate(&pr, &sub))
			return fail(p, k, kpath, "%s", sub.msg);
		c->prices = aigw_realloc(c->prices, (c->n_prices + 1) * sizeof(*c->prices));
		aigw_price_copy(&c->prices[c->n_prices++], &pr);
	}
	return 0;
}

/* The geo section (target the conf) and its two mappings (target the
 * struct aigw_geo): geo.regions { prefix: region }, geo.near { region:
 * [region, ...] }. */
static int read_geo(struct parse *p, const struct directive *d, const struct ynode *v,
		    const char *path, void *target)
{
	struct aigw_geo *g = d->type == D_GEO ? field_of(d, target) : target;
	char kpath[PATH_MAX_LEN], ipath[PATH_MAX_LEN];

	if (v->kind != Y_MAPPING)
		return fail(p, v, path, "expected %s, got %s",
			    d->type == D_GEO ? "a mapping of geo directives" :
			    d->type == D_GEOCIDRS ? "a mapping of address prefixes to regions" :
			    "a mapping of regions to lists of regions", kind_name(v));
	if (d->type == D_GEO)
		return read_mapping(p, v, path, geo_directives, g);
	for (const struct ynode *k = v->child; k && k->next; k = k->next->next) {
		struct aigw_strv near = AIGW_STRV_INIT;
		const struct ynode *val = k->next;
		struct aigw_err sub;
		const char *t;
		size_t i = 0;
		int rc = 0;

		if (k->kind != Y_SCALAR || k->null)
			return fail(p, k, path, "a key must be %s",
				    d->type == D_GEOCIDRS ? "an address prefix" : "a region name");
		join_path(kpath, sizeof(kpath), path, k->text);
		if (d->type == D_GEOCIDRS) {
			if ((rc = scalar_text(p, val, kpath, &t)))
				return rc;
			if (aigw_geo_add_prefix(g, k->text, t, &sub))
				return fail(p, aigw_geo_region_valid(t) ? k : val, kpath, "%s",
					    sub.msg);
			continue;
		}
		if (val->kind == Y_SEQUENCE) {
			for (const struct ynode *item = val->child; !rc && item;
			     item = item->next, i++) {
				path_printf(ipath, sizeof(ipath), "%s[%zu]", kpath, i);
				if (!(rc = scalar_text(p, item, ipath, &t)) &&
				    !aigw_geo_region_valid(t))
					rc = fail(p, item, ipath, "'%s' is not a valid region name "
						  "(1-64 of A-Z a-z 0-9 . _ -, not all digits)", t);
				if (!rc)
					aigw_strv_push(&near, t);
			}
		} else if (!val->null && !(rc = scalar_text(p, val, kpath, &t))) {
			aigw_strv_push(&near, t);
		}
		if (!rc && aigw_geo_add_near(g, k->text, &near, &sub))
			rc = fail(p, k, kpath, "%s", sub.msg);
		aigw_strv_release(&near);
		if (rc)
			return rc;
	}
	return 0;
}

/* A node's accounts: a sequence of account mappings, each validated. */
static int read_accounts(struct parse *p, const struct ynode *seq, const char *path,
			 struct aigw_node *n)
{
	struct aigw_account *accounts;
	char item_path[PATH_MAX_LEN];
	struct aigw_err sub;
	size_t count = 0;
	int rc = 0;

	if (seq->kind != Y_SEQUENCE)
		return fail(p, seq, path, "expected a list of account entries, got %s",
			    kind_name(seq));
	accounts = aigw_calloc(seq->n ? seq->n : 1, sizeof(*accounts));
	for (const struct ynode *item = seq->child; item && !rc; item = item->next, count++) {
		path_printf(item_path, sizeof(item_path), "%s[%zu]", path, count);
		if (item->kind != Y_MAPPING)
			rc = fail(p, item, item_path, "expected an account mapping, got %s",
				  kind_name(item));
		else if (!(rc = read_mapping(p, item, item_path, account_directives,
					     &accounts[count])) &&
			 aigw_account_validate(&accounts[count], &sub))
			rc = fail(p, item, item_path, "%s", sub.msg);
	}
	if (rc) {
		aigw_accounts_release(accounts, seq->n);
		return rc;
	}
	if (set_accounts(n, accounts, count, &sub))
		return fail(p, seq, path, "%s", sub.msg);
	return 0;
}

/* Applies one YAML value to directive d of target. *given is false when
 * the value is null (the directive keeps its default). */
/* standby: its table, then the settings together (standby.h). */
static int read_standby(struct parse *p, const struct ynode *map, const char *path,
			struct aigw_conf *c)
{
	struct aigw_err sub;
	int rc;

	if (map->kind != Y_MAPPING)
		return fail(p, map, path, "expected a mapping of standby settings, got %s",
			    kind_name(map));
	if ((rc = read_mapping(p, map, path, standby_directives, &c->standby)))
		return rc;
	if (aigw_standby_conf_validate(&c->standby, &sub))
		return fail(p, map, path, "%s", sub.msg);
	return 0;
}

static int read_value(struct parse *p, const struct directive *d, const struct ynode *v,
		      const char *path, void *target, bool *given)
{
	struct aigw_err sub;
	const char *text;
	bool empty;

	*given = !v->null;
	if (d->type == D_STANDBY)
		return v->null ? 0 : read_standby(p, v, path, target);
	if (d->type == D_ALIASES || d->type == D_PRICING) {
		if (v->null)
			return 0;
		return d->type == D_ALIASES ? read_aliases(p, v, path, target)
					    : read_pricing(p, v, path, target);
	}
	if (d->type == D_GEO || d->type == D_GEOCIDRS || d->type == D_GEONEAR)
		return v->null ? 0 : read_geo(p, d, v, path, target);
	if (d->type == D_NODES || d->type == D_ROUTES) {
		struct aigw_conf *c = target;
		size_t *lines = NULL;
		int rc;

		if (d->type == D_NODES)
			rc = read_entities(p, v, path, &node_entity, true, (void **)&c->nodes,
					   &c->n_nodes, &lines);
		else
			rc = read_entities(p, v, path, &route_entity, true, (void **)&c->routes,
					   &c->n_routes, &lines);
		free(lines);
		return rc;
	}
	if (v->null)
		return 0;
	if (d->type == D_ACCOUNTS)
		return read_accounts(p, v, path, target);
	if ((d->type == D_LIST || d->type == D_KEYENVS) && v->kind == Y_SEQUENCE) {
		struct aigw_strv items = AIGW_STRV_INIT;
		size_t i = 0;

		for (const struct ynode *item = v->child; item; item = item->next, i++) {
			char item_path[PATH_MAX_LEN];

			path_printf(item_path, sizeof(item_path), "%s[%zu]", path, i);
			if (item->kind != Y_SCALAR || item->null) {
				aigw_strv_release(&items);
				return fail(p, item, item_path, "expected a string, got %s",
					    item->null ? "nothing" : kind_name(item));
			}
			text = item->text;
			if ((d->type != D_KEYENVS && expand(p, item->text, &text, &empty, &sub)) ||
			    (d->type == D_KEYENVS && check_env_name(text, &sub)) ||
			    (d->check && d->check(text, &sub))) {
				aigw_strv_release(&items);
				return fail(p, item, item_path, "%s", sub.msg);
			}
			aigw_strv_push(&items, text);
		}
		if (set_list(d, target, &items, &sub))
			return fail(p, v, path, "%s", sub.msg);
		return 0;
	}
	if (v->kind != Y_SCALAR)
		return fail(p, v, path, "expected %s, got %s",
			    d->type == D_LIST || d->type == D_KEYENVS ? "a list of strings" :
			    "a single value", kind_name(v));
	text = v->text;
	if (d->type != D_ENV && d->type != D_KEYENVS) {
		if (expand(p, v->text, &text, &empty, &sub))
			return fail(p, v, path, "%s", sub.msg);
		if (empty) {
			*given = false;
			return 0;
		}
	}
	if (set_text(d, target, text, &sub))
		return fail(p, v, path, "%s", sub.msg);
	return 0;
}

static int read_mapping(struct parse *p, const struct ynode *map, const char *path,
			const struct directive *ds, void *target)
{
	const struct ynode *seen[DIRECTIVES_MAX] = { NULL };
	bool given[DIRECTIVES_MAX] = { false };
	char key_path[PATH_MAX_LEN];

	for (const struct ynode *k = map->child; k && k->next; k = k->next->next) {
		const struct directive *d;
		size_t idx;
		int rc;

		if (k->kind != Y_SCALAR)
			return fail(p, k, path, "a key must be a directive name, not %s",
				    kind_name(k));
		join_path(key_path, sizeof(key_path), path, k->text);
		d = find_directive(ds, k->text);
		if (!d) {
			struct aigw_err sub;
			unknown_directive(ds, k->text, &sub);
			return fail(p, k, key_path, "%s", sub.msg);
		}
		idx = (size_t)(d - ds);
		if (seen[idx])
			return fail(p, k, key_path, "duplicate directive (first at line %zu)",
				    seen[idx]->line);
		seen[idx] = k;
		rc = read_value(p, d, k->next, key_path, target, &given[idx]);
		if (rc)
			return rc;
	}
	for (size_t i = 0; ds[i].name; i++) {
		if ((ds[i].flags & F_REQUIRED) && !given[i]) {
			join_path(key_path, sizeof(key_path), path, ds[i].name);
			if (seen[i])
				return fail(p, seen[i], key_path, "required directive has no value");
			return fail(p, map, key_path, "required directive is missing");
		}
	}
	return 0;
}

/* ------------------------------------------------------- aigw.yaml */

void aigw_conf_init(struct aigw_conf *c)
{
	memset(c, 0, sizeof(*c));
	apply_defaults(top_directives, c);
	apply_defaults(standby_directives, &c->standby);
	aigw_geo_init(&c->geo);
	apply_defaults(geo_directives, &c->geo);
}

void aigw_conf_release(struct aigw_conf *c)
{
	free(c->path);
	free(c->listen);
	free(c->admin_listen);
	free(c->health_check_path);
	aigw_nodes_free(c->nodes, c->n_nodes);
	aigw_routes_free(c->routes, c->n_routes);
	aigw_aliases_free(c->aliases, c->n_aliases);
	aigw_prices_free(c->prices, c->n_prices);
	aigw_geo_release(&c->geo);
	/* Zeroed, not re-initialised: defaults allocate (listen). */
	memset(c, 0, sizeof(*c));
}

static bool path_exists(const char *path, int *error)
{
	struct stat st;

	*error = 0;
	if (stat(path, &st) == 0)
		return true;
	if (errno != ENOENT && errno != ENOTDIR)
		*error = errno;
	return false;
}

static int locate_result(const char *path, char *out, size_t n, struct aigw_err *err)
{
	if (aigw_strlcpy(out, path, n) >= n) {
		if (n)
			out[0] = '\0';
		return aigw_err_set(err, AIGW_ECONFIG, "config file path '%s' is too long", path);
	}
	return 0;
}

int aigw_conf_locate(const char *flag, char *out, size_t n, struct aigw_err *err)
{
	const char *named = flag && *flag ? flag : getenv("AIGW_CONFIG");
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char candidate[4096];
	int error;

	if (n)
		out[0] = '\0';
	if (named && *named) {
		if (path_exists(named, &error))
			return locate_result(named, out, n, err);
		if (error)
			return aigw_err_set(err, AIGW_ECONFIG, "cannot access config file '%s': %s",
					    named, strerror(error));
		return aigw_err_set(err, AIGW_ECONFIG, "config file '%s' does not exist", named);
	}
	if (path_exists("aigw.yaml", &error))
		return locate_result("aigw.yaml", out, n, err);
	/* The XDG spec says a relative XDG_CONFIG_HOME is to be ignored. */
	candidate[0] = '\0';
	if (xdg && xdg[0] == '/')
		snprintf(candidate, sizeof(candidate), "%s/aigw/aigw.yaml", xdg);
	else if (home && *home)
		snprintf(candidate, sizeof(candidate), "%s/.config/aigw/aigw.yaml", home);
	if (candidate[0] && path_exists(candidate, &error))
		return locate_result(candidate, out, n, err);
	return 0;
}

/* Parses text into a fresh conf and swaps it in only when all went well. */
static int load(struct aigw_conf *c, const char *name, const char *text, size_t len,
		struct aigw_err *err)
{
	struct aigw_err e;
	struct parse p = { name, text, len, NULL, &e, true };
	struct aigw_conf tmp;
	struct ynode *root;
	int rc;

	aigw_err_clear(&e);
	if (len > CONF_SIZE_MAX)
		return aigw_err_set(err, AIGW_ECONFIG, "%s: config file is larger than 4 MiB",
				    name);
	aigw_conf_init(&tmp);
	p.pool = aigw_pool_new(0);
	rc = build_tree(&p, &root);
	if (!rc && root && !root->null) {
		if (root->kind != Y_MAPPING)
			rc = fail(&p, root, NULL,
				  "the top level must be a mapping of directives, not %s",
				  kind_name(root));
		else
			rc = read_mapping(&p, root, NULL, top_directives, &tmp);
	}
	aigw_pool_free(p.pool);
	if (rc) {
		aigw_conf_release(&tmp);
		return aigw_err_set(err, AIGW_ECONFIG, "%s", e.msg);
	}
	tmp.path = aigw_strdup(name);
	aigw_conf_release(c);
	*c = tmp;
	return 0;
}

int aigw_conf_load_string(struct aigw_conf *c, const char *name, const char *text,
			  size_t len, struct aigw_err *err)
{
	return load(c, name, text, len, err);
}

int aigw_conf_load_file(struct aigw_conf *c, const char *path, struct aigw_err *err)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	char chunk[65536];
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return aigw_err_set(err, AIGW_ECONFIG, "cannot open config file '%s': %s", path,
				    strerror(errno));
	for (;;) {
		ssize_t got = read(fd, chunk, sizeof(chunk));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			close(fd);
			aigw_buf_release(&b);
			return aigw_err_set(err, AIGW_ECONFIG, "cannot read config file '%s': %s",
					    path, strerror(e));
		}
		if (got == 0)
			break;
		aigw_buf_append(&b, chunk, (size_t)got);
		/* Stop early: reading a huge file only to refuse it is wasted. */
		if (b.len > CONF_SIZE_MAX)
			break;
	}
	close(fd);
	rc = load(c, path, b.data, b.len, err);
	aigw_buf_release(&b);
	return rc;
}

/* ------------------------------------------------------- node imports */

int aigw_conf_parse_nodes_yaml(const char *name, const char *text, size_t len,
			       struct aigw_node **out, size_t *n, size_t **lines,
			       struct aigw_err *err)
{
	static const char *const import_keys[] = { "nodes", NULL };
	struct aigw_err e;
	struct parse p = { name, text, len, NULL, &e, true };
	struct aigw_node *nodes = NULL;
	size_t count = 0, *starts = NULL;
	struct ynode *root;
	int rc;

	*out = NULL;
	*n = 0;
	if (lines)
		*lines = NULL;
	aigw_err_clear(&e);
	if (len > CONF_SIZE_MAX)
		return aigw_err_set(err, AIGW_EINVAL, "%s: file is larger than 4 MiB", name);
	p.pool = aigw_pool_new(0);
	rc = build_tree(&p, &root);
	if (!rc && root && !root->null) {
		const struct ynode *seq = root;

		if (root->kind == Y_MAPPING) {
			seq = NULL;
			for (const struct ynode *k = root->child; !rc && k && k->next;
			     k = k->next->next) {
				const char *guess;
				if (k->kind == Y_SCALAR && strcmp(k->text, "nodes") == 0) {
					seq = k->next;
					continue;
				}
				if (k->kind != Y_SCALAR) {
					rc = fail(&p, k, NULL, "a key must be a name, not %s",
						  kind_name(k));
					break;
				}
				guess = aigw_suggest(k->text, import_keys);
				rc = fail(&p, k, k->text,
					  "unknown directive '%s' (%san import file is a list of "
					  "nodes, or a mapping with only 'nodes')", k->text,
					  guess ? "did you mean 'nodes'? " : "");
			}
		}
		if (!rc && seq)
			rc = read_entities(&p, seq, "nodes", &node_entity, false, (void **)&nodes,
					   &count, &starts);
		else if (!rc && root->kind == Y_MAPPING)
			rc = fail(&p, root, NULL, "no 'nodes' list in the file");
	}
	aigw_pool_free(p.pool);
	if (rc) {
		aigw_nodes_free(nodes, count);
		free(starts);
		return aigw_err_set(err, AIGW_EINVAL, "%s", e.msg);
	}
	*out = nodes;
	*n = count;
	if (lines)
		*lines = starts;
	else
		free(starts);
	return 0;
}

/* A node's accounts from a JSON array of objects keyed like the YAML. */
static int json_accounts(const cJSON *j, struct aigw_node *n, struct aigw_err *err)
{
	struct aigw_account *accounts;
	const cJSON *item, *member;
	struct aigw_err sub;
	size_t count = 0, size;
	int rc = 0;

	if (!cJSON_IsArray(j))
		return aigw_err_set(err, AIGW_EINVAL, "expected an array of objects, got %s",
				    aigw_json_kind(j));
	size = (size_t)cJSON_GetArraySize(j);
	accounts = aigw_calloc(size ? size : 1, sizeof(*accounts));
	cJSON_ArrayForEach(item, j) {
		struct aigw_account *a = &accounts[count++];

		if (!cJSON_IsObject(item)) {
			rc = aigw_err_set(err, AIGW_EINVAL, "[%zu]: expected an object, got %s",
					  count - 1, aigw_json_kind(item));
			break;
		}
		cJSON_ArrayForEach(member, item) {
			const struct directive *d = find_directive(account_directives,
								   member->string);
			if (!d) {
				unknown_directive(account_directives, member->string, &sub);
				rc = aigw_err_set(err, AIGW_EINVAL, "[%zu].%s: %s", count - 1,
						  member->string, sub.msg);
				break;
			}
			if (!cJSON_IsNull(member) && json_value(d, member, a, &sub)) {
				rc = aigw_err_set(err, AIGW_EINVAL, "[%zu].%s: %s", count - 1,
						  d->name, sub.msg);
				break;
			}
		}
		if (!rc && aigw_account_validate(a, &sub))
			rc = aigw_err_set(err, AIGW_EINVAL, "[%zu]: %s", count - 1, sub.msg);
		if (rc)
			break;
	}
	if (rc) {
		aigw_accounts_release(accounts, size);
		return rc;
	}
	return set_accounts(n, accounts, count, err);
}

/* Applies one JSON member to directive d of target (a node or a route),
 * checking its JSON type first and then going through the same conversion
 * as the file. */
static int json_value(const struct directive *d, const cJSON *j, void *target,
		      struct aigw_err *err)
{
	char text[32];

	switch (d->type) {
	case D_INT:
		if (!cJSON_IsNumber(j))
			return aigw_err_set(err, AIGW_EINVAL, "expected a whole number, got %s",
					    aigw_json_kind(j));
		if (!(j->valuedouble >= -9.2e18 && j->valuedouble <= 9.2e18) ||
		    (double)(int64_t)j->valuedouble != j->valuedouble)
			return aigw_err_set(err, AIGW_EINVAL, "%g is not a whole number",
					    j->valuedouble);
		snprintf(text, sizeof(text), "%lld", (long long)j->valuedouble);
		return set_text(d, target, text, err);
	case D_BOOL:
	case D_ENABLED:
		if (!cJSON_IsBool(j))
			return aigw_err_set(err, AIGW_EINVAL, "expected true or false, got %s",
					    aigw_json_kind(j));
		return set_text(d, target, cJSON_IsTrue(j) ? "true" : "false", err);
	case D_ACCOUNTS:
		return json_accounts(j, target, err);
	case D_LIST:
	case D_KEYENVS:
		if (cJSON_IsArray(j)) {
			struct aigw_strv items = AIGW_STRV_INIT;
			const cJSON *item;

			cJSON_ArrayForEach(item, j) {
				if (!cJSON_IsString(item)) {
					aigw_strv_release(&items);
					return aigw_err_set(err, AIGW_EINVAL,
							    "expected an array of strings, found %s",
							    aigw_json_kind(item));
				}
				aigw_strv_push(&items, item->valuestring);
			}
			return set_list(d, target, &items, err);
		}
		if (!cJSON_IsString(j))
			return aigw_err_set(err, AIGW_EINVAL,
					    "expected an array of strings, got %s", aigw_json_kind(j));
		return set_text(d, target, j->valuestring, err);
	default:
		if (!cJSON_IsString(j))
			return aigw_err_set(err, AIGW_EINVAL, "expected a string, got %s",
					    aigw_json_kind(j));
		return set_text(d, target, j->valuestring, err);
	}
}

/* One JSON object read against an entity's directive table into out (an
 * uninitialised struct of e->size bytes), then validated as a whole. */
static int entity_from_json(const struct entity *e, const char *json, size_t len, void *out,
			    struct aigw_err *err)
{
	const struct directive *ds = e->directives;
	bool seen[DIRECTIVES_MAX] = { false }, given[DIRECTIVES_MAX] = { false };
	const cJSON *member;
	struct aigw_err sub;
	cJSON *root;
	int rc = 0;

	if ((rc = aigw_json_parse_object(json, len, &root, err)))
		return rc;
	e->init(out);
	apply_defaults(ds, out);
	cJSON_ArrayForEach(member, root) {
		const struct directive *d = find_directive(ds, member->string);
		size_t idx;

		if (!d) {
			unknown_directive(ds, member->string, &sub);
			rc = aigw_err_set(err, AIGW_EINVAL, "%s: %s", member->string, sub.msg);
			break;
		}
		idx = (size_t)(d - ds);
		if (seen[idx]) {
			rc = aigw_err_set(err, AIGW_EINVAL, "%s: duplicate directive", d->name);
			break;
		}
		seen[idx] = true;
		if (cJSON_IsNull(member))
			continue;
		if (json_value(d, member, out, &sub)) {
			rc = aigw_err_set(err, AIGW_EINVAL, "%s: %s", d->name, sub.msg);
			break;
		}
		given[idx] = true;
	}
	for (size_t i = 0; !rc && ds[i].name; i++)
		if ((ds[i].flags & F_REQUIRED) && !given[i])
			rc = aigw_err_set(err, AIGW_EINVAL, "%s: required directive is missing",
					  ds[i].name);
	if (!rc && e->validate(out, &sub))
		rc = aigw_err_set(err, AIGW_EINVAL, "%s", sub.msg);
	cJSON_Delete(root);
	if (rc)
		e->release(out);
	return rc;
}

int aigw_conf_node_from_json(const char *json, size_t len, struct aigw_node *out,
			     struct aigw_err *err)
{
	struct aigw_node node;
	int rc = entity_from_json(&node_entity, json, len, &node, err);

	if (rc == 0)
		*out = node;
	return rc;
}

int aigw_conf_route_from_json(const char *json, size_t len, struct aigw_route *out,
			      struct aigw_err *err)
{
	struct aigw_route route;
	int rc = entity_from_json(&route_entity, json, len, &route, err);

	if (rc == 0)
		*out = route;
	return rc;
}

/* ---------------------------------------------------------- man page */

/* Writes text for roff: backslashes and hyphens escaped, and a line that
 * would start with a control character made safe. */
static void roff_text(struct aigw_buf *out, const char *s)
{
	bool line_start = out->len == 0 || out->data[out->len - 1] == '\n';

	for (; *s; s++) {
		if (line_start && (*s == '.' || *s == '\''))
			aigw_buf_puts(out, "\\&");
		line_start = *s == '\n';
		if (*s == '\\')
			aigw_buf_puts(out, "\\e");
		else if (*s == '-')
			aigw_buf_puts(out, "\\-");
		else
			aigw_buf_putc(out, *s);
	}
}

static void describe_type(struct aigw_buf *b, const struct directive *d)
{
	const char *const *choices = d->type == D_LOGLEVEL ? log_level_names : d->choices;
	char lo[32], hi[32];

	switch (d->type) {
	case D_STRING: aigw_buf_puts(b, "string"); break;
	case D_ENV: aigw_buf_puts(b, "environment variable name"); break;
	case D_INT:
		aigw_buf_printf(b, "integer %lld..%lld", (long long)d->min, (long long)d->max);
		break;
	case D_DURATION:
		aigw_format_duration_ms(d->min, lo, sizeof(lo));
		aigw_format_duration_ms(d->max, hi, sizeof(hi));
		aigw_buf_printf(b, "duration %s..%s", lo, hi);
		break;
	case D_SIZE:
		aigw_buf_printf(b, "size %lld..%lld bytes", (long long)d->min, (long long)d->max);
		break;
	case D_BOOL:
	case D_ENABLED: aigw_buf_puts(b, "boolean"); break;
	case D_ENUM:
	case D_LOGLEVEL:
		aigw_buf_puts(b, "one of ");
		for (size_t i = 0; choices[i]; i++)
			aigw_buf_printf(b, "%s%s", i ? ", " : "", choices[i]);
		break;
	case D_LIST: aigw_buf_puts(b, "list of strings"); break;
	case D_NODES: aigw_buf_puts(b, "list of node entries"); break;
	case D_ROUTES: aigw_buf_puts(b, "list of route entries"); break;
	case D_ALIASES: aigw_buf_puts(b, "mapping of name to model or list of models"); break;
	case D_PRICING: aigw_buf_puts(b, "mapping of model to prices"); break;
	case D_KEYENVS: aigw_buf_puts(b, "environment variable name, or a list of them"); break;
	case D_ACCOUNTS: aigw_buf_puts(b, "list of account entries"); break;
	case D_NUMBER:
		aigw_buf_printf(b, "number %lld..%lld", (long long)d->min, (long long)d->max);
		break;
	case D_STANDBY: aigw_buf_puts(b, "mapping of standby settings"); break;
	case D_GEO: aigw_buf_puts(b, "mapping, described under Geo section"); break;
	case D_GEOCIDRS: aigw_buf_puts(b, "mapping of address prefix to region"); break;
	case D_GEONEAR: aigw_buf_puts(b, "mapping of region to list of regions"); break;
	}
	if (d->flags & F_REQUIRED)
		aigw_buf_puts(b, "; required");
	else if (d->def)
		aigw_buf_printf(b, "; default %s", d->def);
}

static void roff_section(struct aigw_buf *out, const char *title, const struct directive *ds)
{
	aigw_buf_printf(out, ".SS %s\n", title);
	for (; ds->name; ds++) {
		struct aigw_buf type = AIGW_BUF_INIT;

		describe_type(&type, ds);
		aigw_buf_puts(out, ".TP\n.B ");
		roff_text(out, ds->name);
		aigw_buf_puts(out, "\n(");
		roff_text(out, type.data);
		aigw_buf_puts(out, ")\n");
		roff_text(out, ds->help);
		aigw_buf_putc(out, '\n');
		aigw_buf_release(&type);
	}
}

void aigw_conf_doc_roff(struct aigw_buf *out)
{
	roff_section(out, "Top level", top_directives);
	roff_section(out, "Node entries", node_directives);
	roff_section(out, "Account entries", account_directives);
	roff_section(out, "Route entries", route_directives);
	roff_section(out, "Standby settings", standby_directives);
	roff_section(out, "Geo section", geo_directives);
}
