/* route: which requests go to which nodes.
 *
 * A route matches on a path prefix, and optionally a model glob, an HTTP
 * method and header conditions. When several routes match, the most
 * specific wins, compared in this order:
 *   1. the longest path prefix;
 *   2. a model glob over none, then the glob with more literal characters;
 *   3. a method over none;
 *   4. more header conditions over fewer.
 * Two routes with the same path, method and header conditions whose
 * models are both absent, or equally specific globs that overlap, are a
 * tie; ties are refused when the second route is added (aigw_route_ties).
 * Routes with different header conditions of equal count do not tie: a
 * request carrying both goes to the one listed first. */
#ifndef AIGW_ROUTE_H
#define AIGW_ROUTE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "str.h"

enum aigw_policy {
	AIGW_POLICY_ROUND_ROBIN,
	AIGW_POLICY_WEIGHTED,
	AIGW_POLICY_LEAST_CONN,
	AIGW_POLICY_P2C,
	AIGW_POLICY_PEAK_EWMA,
	AIGW_POLICY_ADAPTIVE,
};
#define AIGW_POLICY_LAST AIGW_POLICY_ADAPTIVE
extern const char *const aigw_policy_names[];

#define AIGW_ROUTE_RETRIES_MAX 10
#define AIGW_ROUTE_HEADERS_MAX 8
/* Bound of each of a route's timeouts (timeout, connect_timeout,
 * first_byte_timeout, idle_timeout); 0 always means the default. */
#define AIGW_ROUTE_TIMEOUT_MAX_MS (24LL * 3600 * 1000)

struct aigw_route {
	int64_t id;                /* database row id; 0 for YAML routes */
	char *name;
	char *path;                /* prefix, starts with '/' */
	char *method;              /* uppercase token; NULL: any method */
	char *model;               /* glob; NULL: any (or no) model */
	struct aigw_strv headers;  /* "Name: value" conditions, all required */
	struct aigw_strv nodes;    /* node names, in preference order */
	int policy;                /* enum aigw_policy */
	int64_t retries;           /* 0..AIGW_ROUTE_RETRIES_MAX */
	int64_t timeout_ms;        /* whole request; 0: the server's upstream_timeout */
	int64_t connect_timeout_ms;     /* reaching the node; 0: the default (10 s) */
	int64_t first_byte_timeout_ms;  /* request sent to answer's head; 0: none */
	int64_t idle_timeout_ms;        /* between two pieces of a stream; 0: none */
	int64_t prefer_cheap;      /* 0: off; else a latency bound in percent of the
				    * best node's (100..1000): the cheapest nodes
				    * within it are preferred */
	char *fallback;            /* route tried when this pool is exhausted */
	int origin;                /* enum aigw_origin (node.h) */
	char *where;               /* "aigw.yaml:30:5" for YAML routes */
	int64_t created_at, updated_at;
};

/* Defaults: round_robin, no retries, origin DB. */
void aigw_route_init(struct aigw_route *r);
void aigw_route_release(struct aigw_route *r);
void aigw_route_copy(struct aigw_route *dst, const struct aigw_route *src);
void aigw_routes_free(struct aigw_route *routes, size_t n);

/* Field checks: name, path (starts with '/', no spaces, query or '..'),
 * method token, model glob, header syntax, at least one node, ranges,
 * fallback not naming the route itself. */
int aigw_route_validate(const struct aigw_route *r, struct aigw_err *err);

/* What a request looks like to the matcher. headers are "Name: value". */
struct aigw_route_request {
	const char *method;
	const char *path;
	const char *model;               /* NULL when the request has none */
	const struct aigw_strv *headers; /* may be NULL */
};

/* Why a route did or did not match, for `aigw route test`. */
enum aigw_route_verdict {
	AIGW_ROUTE_MATCHED,
	AIGW_ROUTE_NO_PATH,
	AIGW_ROUTE_NO_MODEL,
	AIGW_ROUTE_NO_METHOD,
	AIGW_ROUTE_NO_HEADER,
};
extern const char *const aigw_route_verdict_names[];

/* Does the path prefix cover path? Matches at segment boundaries only:
 * "/v1/chat" covers "/v1/chat" and "/v1/chat/x" but not "/v1/chatter". */
bool aigw_route_path_covers(const char *prefix, const char *path);
enum aigw_route_verdict aigw_route_check(const struct aigw_route *r,
					 const struct aigw_route_request *req);
/* Negative when a is more specific than b, positive when less, 0 when equal
 * rank (the four criteria in the comment at the top). */
int aigw_route_rank_cmp(const struct aigw_route *a, const struct aigw_route *b);
/* Index of the best route for req, or -1 when none matches. verdicts, when
 * not NULL, receives one verdict per route. */
ssize_t aigw_route_match(const struct aigw_route *routes, size_t n,
			 const struct aigw_route_request *req,
			 enum aigw_route_verdict *verdicts);
/* True when a and b tie as defined at the top of this file. */
bool aigw_route_ties(const struct aigw_route *a, const struct aigw_route *b);

#endif
