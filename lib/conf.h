/* conf: aigw.yaml, read with libyaml through one directive table.
 *
 * Each directive has a name, a type, a default, bounds and an optional
 * validator; the same tables parse the file, parse node records for
 * `aigw nodes import` (YAML or JSON), and generate the directive list of
 * aigw.yaml(5). Errors carry "file:line:col: directive: message". Unknown
 * keys are errors with a suggestion. Scalars may use ${VAR} (or
 * ${VAR:-default}) to take a value from the environment; secrets are never
 * written in the file: directives ending in _env name a variable instead. */
#ifndef AIGW_CONF_H
#define AIGW_CONF_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "geo.h"
#include "models.h"
#include "node.h"
#include "route.h"
#include "standby.h"

enum aigw_conf_auth {
	AIGW_AUTH_KEYS,  /* every request needs an API key */
	AIGW_AUTH_NONE,
};

struct aigw_conf {
	char *path;                /* file read; NULL when running on defaults */
	int log_level;             /* enum aigw_log_level */
	/* aigw serve */
	char *listen;              /* "127.0.0.1:8080" */
	char *admin_listen;        /* "127.0.0.1:8081"; used when AIGW_ADMIN_TOKEN is set */
	int64_t workers;           /* 0: one per core */
	int auth;                  /* enum aigw_conf_auth */
	int64_t max_header_bytes, max_headers, max_body_bytes;
	int64_t header_timeout_ms, body_timeout_ms, idle_timeout_ms;
	int64_t upstream_timeout_ms, drain_timeout_ms;
	int64_t log_queue;         /* request log rows waiting for the writer */
	int64_t slow_start_ms;     /* a recovered node's ramp; 0: none */
	/* active health checks of every node; interval 0: none */
	int64_t health_check_interval_ms, health_check_timeout_ms;
	int64_t health_check_healthy, health_check_unhealthy;
	char *health_check_path;   /* NULL: by provider */
	/* circuit breakers and outlier ejection (at start only) */
	int64_t breaker_failures, breaker_open_ms;
	int64_t outlier_failures, outlier_ejection_ms, max_ejected_percent;
	struct aigw_node *nodes;   /* origin YAML, where = "file:line:col" */
	size_t n_nodes;
	struct aigw_route *routes; /* origin YAML */
	size_t n_routes;
	struct aigw_alias *aliases; /* model aliases */
	size_t n_aliases;
	struct aigw_price *prices;  /* price overrides and additions */
	size_t n_prices;
	struct aigw_standby_conf standby; /* the standby: section */
	struct aigw_geo geo;        /* geo-aware routing (the geo section) */
};

void aigw_conf_init(struct aigw_conf *c); /* the defaults (allocates: release it) */
void aigw_conf_release(struct aigw_conf *c); /* frees and zeroes */

/* Finds the config file: flag, then $AIGW_CONFIG, then ./aigw.yaml, then
 * $XDG_CONFIG_HOME/aigw/aigw.yaml (or $HOME/.config/aigw/aigw.yaml). A file
 * named by the flag or the variable must exist (ECONFIG otherwise); when no
 * implicit file exists out is set to "" and 0 is returned. */
int aigw_conf_locate(const char *flag, char *out, size_t n, struct aigw_err *err);

/* Parses a file or a string into c (which must be initialised). On error c
 * is left as it was and ECONFIG is returned. name is used in messages. */
int aigw_conf_load_file(struct aigw_conf *c, const char *path, struct aigw_err *err);
int aigw_conf_load_string(struct aigw_conf *c, const char *name, const char *text,
			  size_t len, struct aigw_err *err);

/* Node records for import. YAML: a sequence of node mappings, or a mapping
 * with a `nodes:` sequence. lines[i] receives the line where record i
 * starts (caller frees *lines). Errors name the record's line. */
int aigw_conf_parse_nodes_yaml(const char *name, const char *text, size_t len,
			       struct aigw_node **out, size_t *n, size_t **lines,
			       struct aigw_err *err);
/* One JSON object with the same keys as a YAML node mapping. */
int aigw_conf_node_from_json(const char *json, size_t len, struct aigw_node *out,
			     struct aigw_err *err);
/* One JSON object with the same keys as a YAML route mapping (the admin
 * API's POST /admin/routes). */
int aigw_conf_route_from_json(const char *json, size_t len, struct aigw_route *out,
			      struct aigw_err *err);

/* Writes the directive reference of aigw.yaml(5) as man(7) roff: one .TP
 * entry per directive with its type, default and bounds, for the top level
 * and for node and route entries. */
void aigw_conf_doc_roff(struct aigw_buf *out);

#endif
