/* records: keys, nodes and routes as JSON objects, one shape for every
 * door: `aigw keys/nodes/route --json` prints them and the admin API
 * (lib/admin.c) answers with them, so a script can read either. */
#ifndef AIGW_RECORDS_H
#define AIGW_RECORDS_H

#include <cJSON.h>

#include "key.h"
#include "node.h"
#include "route.h"
#include "store.h"

/* A key record: id, name, prefix, status (as of now), limits, budget,
 * models, times, rotated_from. secret, when not NULL, is added as "key":
 * only the answers that create a secret pass it. The caller owns the
 * returned object (cJSON_Delete). */
cJSON *aigw_key_json(const struct aigw_key *k, const char *secret);

/* A node record: the fields of an aigw.yaml node entry (the keys
 * `aigw nodes import` reads) plus state, source and, for YAML nodes,
 * defined_at. Credentials show as api_key_env when the node has at most
 * one account with only a key (accounts is then null), else as accounts
 * (api_key_env null): variable names, token URL, scope and proxy, never a
 * secret. Caller owns the result. */
cJSON *aigw_node_json(const struct aigw_node *n);

/* An array of account objects (every field, null when unset); the same
 * shape the nodes table keeps in its accounts column. */
cJSON *aigw_accounts_json(const struct aigw_account *accounts, size_t n);

/* A route record: the fields of an aigw.yaml route entry plus source and,
 * for YAML routes, defined_at. Caller owns the result. */
cJSON *aigw_route_json(const struct aigw_route *r);

/* What a running serve knows of a node now (store.h node_live): state,
 * in_flight, latency_ms (null: not measured yet), share (0..1), failures,
 * retry_at_ms (null: none), checks ("ok", "failing" or null), picks, pid,
 * updated_ms. Caller owns the result. */
cJSON *aigw_node_live_json(const struct aigw_node_live *r);

/* "2026-11-23T01:45:00Z", or JSON null for 0. */
cJSON *aigw_json_time(int64_t t);
/* An array of strings. */
cJSON *aigw_json_strv(const struct aigw_strv *sv);

#endif
