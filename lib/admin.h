/* admin: the admin API of `aigw serve`: JSON create, read, update and
 * delete for keys, nodes and routes, on a listener of its own, guarded by
 * a bearer token.
 *
 * It is a second door to the operations the command line uses, not a
 * second implementation: keys go through lib/keys.c, nodes through
 * lib/nodes.c and routes through lib/routes.c; node and route bodies are
 * read with the aigw.yaml directive tables (lib/conf.c), and answers use
 * the record shapes of `--json` (lib/records.c). A change is written to
 * the database serve reads, so the gateway picks it up as it picks up a
 * CLI write: through its config_version polling, within about a second.
 *
 * The admin server runs one worker thread of its own; that thread alone
 * uses the admin's store connection, and answers every request at once
 * (an admin API is not a hot path, and SQLite calls block anyway). The
 * token is kept only as its SHA-256 and compared in constant time; key
 * secrets appear in the answers that create them and nowhere else, never
 * in the log. */
#ifndef AIGW_ADMIN_H
#define AIGW_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "err.h"

struct aigw_admin;

struct aigw_admin_config {
	/* "host:port" as for listen; ":port" means 127.0.0.1:port, so that
	 * only an address the operator writes out reaches beyond loopback. */
	const char *listen;
	const char *token;     /* the bearer token (not empty); only its hash is kept */
	const char *db_path;   /* the database the gateway serves from */
	/* The nodes and routes of aigw.yaml (copied: the rules span both
	 * sources) and the header limits and timeouts the server applies. */
	const struct aigw_conf *conf;
};

/* Binds the listener and opens the store, so that a port in use or an
 * unreadable database is reported here. Returns 0, or AIGW_EINVAL (empty
 * token, bad address) / AIGW_EFAIL with err filled. */
int aigw_admin_new(struct aigw_admin **out, const struct aigw_admin_config *config,
		   struct aigw_err *err);

/* The bound address, "127.0.0.1:8081". */
const char *aigw_admin_address(const struct aigw_admin *a);
/* Whether the bound address is a loopback one (127.0.0.0/8 or ::1). */
bool aigw_admin_is_loopback(const struct aigw_admin *a);

/* Starts serving on a thread of its own. Returns 0 or AIGW_EFAIL. */
int aigw_admin_start(struct aigw_admin *a, struct aigw_err *err);

/* Stops accepting; requests in flight get up to grace_ms. Any thread;
 * async-signal-safe, like aigw_server_stop. */
void aigw_admin_stop(struct aigw_admin *a, uint64_t grace_ms);

/* Hands over the nodes and routes of a newly loaded aigw.yaml (copied);
 * the worker takes them before its next request. Any thread. */
void aigw_admin_reload(struct aigw_admin *a, const struct aigw_conf *conf);

/* Stops (at once, if still running), waits for the thread, and frees.
 * NULL is a no-op. */
void aigw_admin_free(struct aigw_admin *a);

#endif
