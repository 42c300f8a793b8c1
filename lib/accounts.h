/* accounts: the runtime state of the nodes' accounts (node.h's struct
 * aigw_account) for `aigw serve`: whose turn it is, which account rests
 * after a 429, the API keys read from the environment, and OAuth2 tokens.
 *
 * Worker threads call aigw_accounts_pick for every upstream request, so
 * the common path takes no lock: the node table is an immutable array
 * swapped in by aigw_accounts_sync (old tables are kept until
 * aigw_accounts_free, so a pick racing a sync reads a table that stays
 * valid; a sync that changes no account publishes nothing), turns and
 * rest times are atomics. Only OAuth2 accounts take a mutex, to copy their
 * token. So memory grows by one small table per configuration change
 * that touches accounts, for the life of the process.
 *
 * OAuth2 client credentials (RFC 6749, section 4.4). One background thread
 * owned by aigw_accounts fetches every token: it POSTs
 * grant_type=client_credentials with client_id, client_secret and the
 * optional scope (form-encoded) to token_url, through libcurl (http and
 * https, and the account's proxy), and reads {access_token, token_type,
 * expires_in} (expires_in missing: one hour). A token is refreshed five
 * minutes before it expires (expires_in - 300 s); a token living less
 * than ten minutes is refreshed at 80% of its life. Until the new token
 * arrives the current one stays in use (up to its expiry, less a margin
 * of 10% of its life, at most 30 s), so a refresh never makes a request
 * wait. A failed fetch is logged (warn; never the secret) and retried after
 * 1 s, doubling up to 60 s. Worker threads never fetch and never block:
 * the first token of an account is asked for at the sync that registers
 * it, and until it arrives (and while every token of a node is missing)
 * pick answers AIGW_AGAIN with a retry time, which the gateway turns into
 * 503 with Retry-After, unless another account of the node can serve. So
 * the "never blocking more than one request per account while
 * refreshing" holds with a margin: no request blocks at all.
 *
 * Secrets (API keys, client secrets, tokens) are never logged, and the
 * memory holding them is wiped before it is freed. */
#ifndef AIGW_ACCOUNTS_H
#define AIGW_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "node.h"

/* Lives as long as `aigw serve`. */
struct aigw_accounts;

/* Starts the token thread. NULL with err on failure. */
struct aigw_accounts *aigw_accounts_new(struct aigw_err *err);
/* Stops the token thread (a fetch in flight is waited for, up to its 30 s
 * timeout), wipes and frees. NULL is a no-op. */
void aigw_accounts_free(struct aigw_accounts *a);

/* Called whenever the gateway builds a new snapshot (nodes may have
 * changed): registers every node's accounts. State is keyed by node name,
 * account index, the account's definition and the values of its
 * variables, so it survives reloads that change none of them (a resting
 * account keeps resting, a token stays); accounts that went away are
 * forgotten. Reads API keys and client ids/secrets from the environment,
 * and wakes the token thread for OAuth2 accounts without a token. A node
 * with n_accounts 0 and api_key_env set counts as one account. Variables
 * that are unset leave an account without credential (the gateway's
 * snapshot warns about those). Safe to call while other threads pick;
 * calls to sync itself must not overlap. */
int aigw_accounts_sync(struct aigw_accounts *a, const struct aigw_node *nodes, size_t n,
		       struct aigw_err *err);

#define AIGW_ACCOUNT_CREDENTIAL_MAX 4096
#define AIGW_ACCOUNT_PROXY_MAX 256

struct aigw_account_use {
	int index;                 /* account index within the node; -1: no account */
	bool bearer;               /* credential is an OAuth2 token: send it as
				    * "Authorization: Bearer", whatever the provider */
	char credential[AIGW_ACCOUNT_CREDENTIAL_MAX]; /* API key or token; "" for none */
	char proxy[AIGW_ACCOUNT_PROXY_MAX];           /* "http://host:port"; "" for none */
};

/* Round robin over the node's accounts, skipping those resting after a
 * 429 and OAuth2 accounts without a valid token. now_ms is
 * aigw_clock_mono_ms() (token times are kept on that clock). Returns 0
 * with *use filled (the caller should wipe use->credential when done);
 * AIGW_AGAIN when every account rests or waits for a token, with
 * *retry_after_ms (out) the wait until the first may serve (at least 1).
 * A node unknown or without accounts: 0, index -1, empty credential and
 * proxy. */
int aigw_accounts_pick(struct aigw_accounts *a, const char *node, uint64_t now_ms,
		       struct aigw_account_use *use, uint64_t *retry_after_ms);

/* The account answered 429: it is skipped until until_ms (on the clock of
 * pick's now_ms; the caller adds the Retry-After, or 1000 ms when the
 * header is absent or unreadable). A later time never shortens. */
void aigw_accounts_cool(struct aigw_accounts *a, const char *node, int index,
			uint64_t until_ms);

/* The account answered 401 while using an OAuth2 token: the token is
 * dropped and fetched again (not more than once a second per account). */
void aigw_accounts_reject_token(struct aigw_accounts *a, const char *node, int index);

/* For `aigw nodes list` and metrics. */
struct aigw_account_status {
	int index;
	bool oauth2;
	uint64_t cooling_until_ms; /* 0: not resting */
	bool has_token;
	uint64_t token_expires_ms; /* mono ms; 0 without a token */
	unsigned fetches;          /* token fetches tried */
	unsigned failures;         /* of which failed */
};

/* Fills out[0..max) for the node's accounts; returns how many the node
 * has (0 for an unknown node). */
size_t aigw_accounts_status(struct aigw_accounts *a, const char *node,
			    struct aigw_account_status *out, size_t max);

#endif
