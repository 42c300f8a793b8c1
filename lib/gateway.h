/* gateway: the request pipeline of `aigw serve`.
 *
 * For every request the server hands over: built-in endpoints (/healthz,
 * /readyz, /metrics, GET /v1/models), then authenticate, decode the body
 * as far as needed (model, stream), route, pick a node, build the upstream
 * request (credentials from the node's api_key_env, hop-by-hop headers
 * dropped, X-Forwarded-*, X-Request-Id and W3C traceparent set), relay the
 * answer as it comes (streams event by event, with backpressure both
 * ways), and account: usage tokens, metrics, one request-log row.
 *
 * The routes, nodes and keys in force are an aigw_snapshot; reload() builds
 * a new one and every worker switches to it at its next request. */
#ifndef AIGW_GATEWAY_H
#define AIGW_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"

struct aigw_gateway;
struct aigw_live_tracker;

/* Binds the listener (conf->listen, conf->workers), opens the store at
 * db_path for snapshots (a missing file reads as empty), starts the request
 * log writer on the same file, and builds the first snapshot from conf and
 * the store. conf is borrowed only during the call. */
int aigw_gateway_new(struct aigw_gateway **out, const struct aigw_conf *conf,
		     const char *db_path, struct aigw_err *err);
void aigw_gateway_free(struct aigw_gateway *gw);

/* "127.0.0.1:8080" as bound. */
const char *aigw_gateway_address(const struct aigw_gateway *gw);

/* Serves until aigw_gateway_stop has drained the workers. */
int aigw_gateway_run(struct aigw_gateway *gw, struct aigw_err *err);
/* Stops accepting and lets requests in flight finish for up to grace_ms.
 * Any thread; async-signal-safe. */
void aigw_gateway_stop(struct aigw_gateway *gw, uint64_t grace_ms);

/* Rebuilds the snapshot from conf (the nodes and routes of aigw.yaml) and
 * the store. Listener settings are not changed. On error the old snapshot
 * stays. Call from one control thread only (with poll). */
int aigw_gateway_reload(struct aigw_gateway *gw, const struct aigw_conf *conf,
			struct aigw_err *err);
/* Rebuilds when the configuration in the database changed since the last
 * build (its config_version; the request log's writes do not count), with
 * the conf of the last reload. Returns 1 when it
 * rebuilt, 0 when nothing changed, or an error. */
int aigw_gateway_poll(struct aigw_gateway *gw, struct aigw_err *err);

/* Writes the live state of every node of the current snapshot to the
 * database's node_live table (live.h; t carries the shares of traffic
 * from one call to the next), replacing what was there. Call from the
 * control thread, about once a second. */
int aigw_gateway_publish_live(struct aigw_gateway *gw, struct aigw_live_tracker *t,
			      struct aigw_err *err);
/* Deletes the live state (serve stopping): a stopped gateway shows none.
 * From the control thread, or after it ended. */
int aigw_gateway_clear_live(struct aigw_gateway *gw, struct aigw_err *err);

/* Gives memory the allocator keeps after a burst (a thousand streams
 * leave ~20 MB of free heap behind) back to the system, once the gateway
 * has been quiet (nothing in flight) for a while since it last served
 * anything. Call from the control thread, as often as poll; returns true
 * when it trimmed. */
bool aigw_gateway_trim_when_quiet(struct aigw_gateway *gw);

/* The routes' standby controllers (standby.h): each one's step once a
 * second of now_ms (monotonic). Call from the control thread, as often as
 * poll. */
void aigw_gateway_tick(struct aigw_gateway *gw, uint64_t now_ms);

#endif
