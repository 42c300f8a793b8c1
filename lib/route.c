/* route: see route.h.
 *
 * The matcher (path_covers, check, rank_cmp, match) runs once per request
 * in the server, so it never allocates: header conditions are compared as
 * spans of the stored "Name: value" strings. */
#include "route.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "node.h"

const char *const aigw_policy_names[] = { "round_robin", "weighted",  "least_conn",
					      "p2c",         "peak_ewma", "adaptive", NULL };
const char *const aigw_route_verdict_names[] = {
	"matched", "path does not match", "model does not match",
	"method does not match", "header does not match", NULL,
};

#define PATH_MAX_BYTES 512
#define METHOD_MAX_BYTES 16

/* ------------------------------------------------------------ lifecycle */

void aigw_route_init(struct aigw_route *r)
{
	memset(r, 0, sizeof(*r));
	r->policy = AIGW_POLICY_ROUND_ROBIN;
	r->origin = AIGW_ORIGIN_DB;
}

void aigw_route_release(struct aigw_route *r)
{
	free(r->name);
	free(r->path);
	free(r->method);
	free(r->model);
	free(r->fallback);
	free(r->where);
	aigw_strv_release(&r->headers);
	aigw_strv_release(&r->nodes);
	aigw_route_init(r);
}

static char *dup_or_null(const char *s)
{
	return s ? aigw_strdup(s) : NULL;
}

void aigw_route_copy(struct aigw_route *dst, const struct aigw_route *src)
{
	*dst = *src;
	dst->name = dup_or_null(src->name);
	dst->path = dup_or_null(src->path);
	dst->method = dup_or_null(src->method);
	dst->model = dup_or_null(src->model);
	dst->fallback = dup_or_null(src->fallback);
	dst->where = dup_or_null(src->where);
	aigw_strv_copy(&dst->headers, &src->headers);
	aigw_strv_copy(&dst->nodes, &src->nodes);
}

void aigw_routes_free(struct aigw_route *routes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		aigw_route_release(&routes[i]);
	free(routes);
}

/* ------------------------------------------------------ header spans */

/* A piece of a borrowed string; lets the matcher compare header names and
 * values in place instead of copying them out. */
struct span {
	const char *p;
	size_t n;
};

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static struct span trim(const char *p, size_t n)
{
	while (n && is_ows(*p)) {
		p++;
		n--;
	}
	while (n && is_ows(p[n - 1]))
		n--;
	return (struct span){ p, n };
}

/* Splits "Name: value" at the first colon, trimming optional whitespace
 * around both parts. False when there is no colon. */
static bool split_header(const char *h, struct span *name, struct span *value)
{
	const char *colon = strchr(h, ':');

	if (!colon)
		return false;
	*name = trim(h, (size_t)(colon - h));
	*value = trim(colon + 1, strlen(colon + 1));
	return true;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Header names compare case-insensitively (RFC 9110 section 5.1), in ASCII
 * only so that the locale cannot change routing. */
static bool span_caseeq(struct span a, struct span b)
{
	if (a.n != b.n)
		return false;
	for (size_t i = 0; i < a.n; i++)
		if (ascii_lower(a.p[i]) != ascii_lower(b.p[i]))
			return false;
	return true;
}

static bool span_eq(struct span a, struct span b)
{
	return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

/* Do two conditions ask for the same header and value? */
static bool header_cond_eq(const char *a, const char *b)
{
	struct span an, av, bn, bv;

	if (!split_header(a, &an, &av) || !split_header(b, &bn, &bv))
		return strcmp(a, b) == 0;
	return span_caseeq(an, bn) && span_eq(av, bv);
}

/* ----------------------------------------------------------- validation */

static bool is_tchar(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int validate_path(const char *path, struct aigw_err *err)
{
	size_t len = strlen(path);

	if (path[0] != '/')
		return aigw_err_set(err, AIGW_EINVAL, "path '%s' must start with '/'", path);
	if (len > PATH_MAX_BYTES)
		return aigw_err_set(err, AIGW_EINVAL, "path '%.40s...' is longer than %d bytes",
				    path, PATH_MAX_BYTES);
	for (const char *c = path; *c; c++) {
		unsigned char u = (unsigned char)*c;
		if (u <= 0x20 || u >= 0x7f)
			return aigw_err_set(err, AIGW_EINVAL,
					    "path '%s' has a space, control or non-ASCII character "
					    "(percent-encode it)", path);
		if (u == '?' || u == '#')
			return aigw_err_set(err, AIGW_EINVAL,
					    "path '%s' must not contain '%c' (routes match the path "
					    "without query or fragment)", path, *c);
	}
	/* Segments between slashes: empty ones ("//") and dot segments would
	 * make the prefix mean something other than what it reads as. The
	 * trailing empty segment of "/v1/" is the allowed exception. */
	for (const char *seg = path + 1; *seg; ) {
		const char *end = strchr(seg, '/');
		size_t n = end ? (size_t)(end - seg) : strlen(seg);
		if (n == 0)
			return aigw_err_set(err, AIGW_EINVAL, "path '%s' has an empty segment ('//')",
					    path);
		if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return aigw_err_set(err, AIGW_EINVAL,
					    "path '%s' has a '%.*s' segment", path, (int)n, seg);
		if (!end)
			break;
		seg = end + 1;
	}
	return 0;
}

static int validate_method(const char *method, struct aigw_err *err)
{
	size_t len = strlen(method);
	bool ok = len >= 1 && len <= METHOD_MAX_BYTES;

	for (const char *c = method; ok && *c; c++)
		if (*c < 'A' || *c > 'Z')
			ok = false;
	if (!ok)
		return aigw_err_set(err, AIGW_EINVAL,
				    "method '%s' must be an uppercase HTTP method such as POST "
				    "(1-%d of A-Z)", method, METHOD_MAX_BYTES);
	return 0;
}

static int validate_header(const char *h, struct aigw_err *err)
{
	const char *c = h;
	struct span name, value;

	while (*c && *c != ':') {
		if (!is_tchar(*c))
			return aigw_err_set(err, AIGW_EINVAL,
					    "header condition '%s' must be 'Name: value' with a name "
					    "of letters, digits and !#$%%&'*+-.^_`|~", h);
		c++;
	}
	if (!*c || c == h)
		return aigw_err_set(err, AIGW_EINVAL,
				    "header condition '%s' must be 'Name: value'", h);
	for (c++; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			return aigw_err_set(err, AIGW_EINVAL,
					    "header condition '%s' has a control or non-ASCII "
					    "character in its value", h);
	split_header(h, &name, &value);
	if (value.n == 0)
		return aigw_err_set(err, AIGW_EINVAL, "header condition '%s' has an empty value", h);
	return 0;
}

static int validate_headers(const struct aigw_strv *headers, struct aigw_err *err)
{
	if (headers->n > AIGW_ROUTE_HEADERS_MAX)
		return aigw_err_set(err, AIGW_EINVAL, "too many header conditions (%zu, at most %d)",
				    headers->n, AIGW_ROUTE_HEADERS_MAX);
	for (size_t i = 0; i < headers->n; i++) {
		struct span ni, vi;
		if (validate_header(headers->v[i], err))
			return AIGW_EINVAL;
		split_header(headers->v[i], &ni, &vi);
		/* One condition per header name: the set of conditions is then
		 * a map, which is what the tie rule compares. */
		for (size_t j = 0; j < i; j++) {
			struct span nj, vj;
			split_header(headers->v[j], &nj, &vj);
			if (span_caseeq(ni, nj))
				return aigw_err_set(err, AIGW_EINVAL,
						    "header '%.*s' is given twice", (int)ni.n, ni.p);
		}
	}
	return 0;
}

static int validate_nodes(const struct aigw_route *r, struct aigw_err *err)
{
	if (r->nodes.n == 0)
		return aigw_err_set(err, AIGW_EINVAL, "route '%s' names no node", r->name);
	for (size_t i = 0; i < r->nodes.n; i++) {
		if (!aigw_name_valid(r->nodes.v[i]))
			return aigw_err_set(err, AIGW_EINVAL,
					    "invalid node name '%s' in nodes (1-64 of A-Z a-z 0-9 "
					    ". _ -, not all digits)", r->nodes.v[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(r->nodes.v[i], r->nodes.v[j]) == 0)
				return aigw_err_set(err, AIGW_EINVAL,
						    "node '%s' is listed twice in nodes",
						    r->nodes.v[i]);
	}
	return 0;
}

/* One of the route's durations, named as in aigw.yaml; what 0 means is
 * said in the message so that the fix is obvious. */
static int validate_timeout(const char *field, int64_t ms, const char *zero_means,
			    struct aigw_err *err)
{
	char shown[32];

	if (ms >= 0 && ms <= AIGW_ROUTE_TIMEOUT_MAX_MS)
		return 0;
	if (ms < 0)
		snprintf(shown, sizeof(shown), "%lldms", (long long)ms);
	else
		aigw_format_duration_ms(ms, shown, sizeof(shown));
	return aigw_err_set(err, AIGW_EINVAL, "%s %s is out of range (0..24h, 0 = %s)",
			    field, shown, zero_means);
}

int aigw_route_validate(const struct aigw_route *r, struct aigw_err *err)
{
	if (!r->name || !aigw_name_valid(r->name))
		return aigw_err_set(err, AIGW_EINVAL,
				    "invalid route name '%s' (1-64 of A-Z a-z 0-9 . _ -, not all digits)",
				    r->name ? r->name : "");
	if (!r->path)
		return aigw_err_set(err, AIGW_EINVAL, "route '%s' has no path", r->name);
	if (validate_path(r->path, err))
		return AIGW_EINVAL;
	if (r->method && validate_method(r->method, err))
		return AIGW_EINVAL;
	if (r->model && !aigw_glob_valid(r->model, err)) {
		aigw_err_prefix(err, "model");
		return AIGW_EINVAL;
	}
	if (validate_headers(&r->headers, err))
		return AIGW_EINVAL;
	if (validate_nodes(r, err))
		return AIGW_EINVAL;
	if (r->policy < 0 || r->policy > AIGW_POLICY_LAST)
		return aigw_err_set(err, AIGW_EINVAL, "route '%s' has an unknown policy", r->name);
	if (r->prefer_cheap && (r->prefer_cheap < 100 || r->prefer_cheap > 1000))
		return aigw_err_set(err, AIGW_EINVAL,
				    "prefer_cheap %lld is out of range (0 = off, or 100..1000 percent "
				    "of the best latency)", (long long)r->prefer_cheap);
	if (r->retries < 0 || r->retries > AIGW_ROUTE_RETRIES_MAX)
		return aigw_err_set(err, AIGW_EINVAL, "retries %lld is out of range (0..%d)",
				    (long long)r->retries, AIGW_ROUTE_RETRIES_MAX);
	if (validate_timeout("timeout", r->timeout_ms, "server default", err) ||
	    validate_timeout("connect_timeout", r->connect_timeout_ms, "10s", err) ||
	    validate_timeout("first_byte_timeout", r->first_byte_timeout_ms, "no limit", err) ||
	    validate_timeout("idle_timeout", r->idle_timeout_ms, "no limit", err))
		return AIGW_EINVAL;
	if (r->fallback) {
		if (!aigw_name_valid(r->fallback))
			return aigw_err_set(err, AIGW_EINVAL,
					    "invalid fallback route name '%s'", r->fallback);
		if (strcmp(r->fallback, r->name) == 0)
			return aigw_err_set(err, AIGW_EINVAL,
					    "fallback '%s' names the route itself", r->fallback);
	}
	return 0;
}

/* ------------------------------------------------------------- matching */

bool aigw_route_path_covers(const char *prefix, const char *path)
{
	/* Only the path proper takes part: "?..." and "#..." are cut off. */
	size_t path_len = strcspn(path, "?#");
	size_t n = strlen(prefix);

	if (n == 0 || n > path_len || memcmp(prefix, path, n) != 0)
		return false;
	if (prefix[n - 1] == '/' || n == path_len)
		return true;
	return path[n] == '/';
}

/* Is the condition "Name: value" met by some header of the request? */
static bool request_has(const struct aigw_strv *headers, const char *cond)
{
	struct span cn, cv;

	if (!headers || !split_header(cond, &cn, &cv))
		return false;
	for (size_t i = 0; i < headers->n; i++) {
		struct span hn, hv;
		if (split_header(headers->v[i], &hn, &hv) && span_caseeq(cn, hn) &&
		    span_eq(cv, hv))
			return true;
	}
	return false;
}

enum aigw_route_verdict aigw_route_check(const struct aigw_route *r,
					 const struct aigw_route_request *req)
{
	if (!req->path || !aigw_route_path_covers(r->path, req->path))
		return AIGW_ROUTE_NO_PATH;
	if (r->model && (!req->model || !aigw_glob_match(r->model, req->model)))
		return AIGW_ROUTE_NO_MODEL;
	if (r->method && (!req->method || strcmp(r->method, req->method) != 0))
		return AIGW_ROUTE_NO_METHOD;
	for (size_t i = 0; i < r->headers.n; i++)
		if (!request_has(req->headers, r->headers.v[i]))
			return AIGW_ROUTE_NO_HEADER;
	return AIGW_ROUTE_MATCHED;
}

static int cmp_more_first(size_t a, size_t b)
{
	return a > b ? -1 : a < b ? 1 : 0;
}

int aigw_route_rank_cmp(const struct aigw_route *a, const struct aigw_route *b)
{
	int c;

	if ((c = cmp_more_first(strlen(a->path), strlen(b->path))))
		return c;
	if ((c = cmp_more_first(a->model != NULL, b->model != NULL)))
		return c;
	if (a->model && b->model &&
	    (c = cmp_more_first(aigw_glob_literals(a->model), aigw_glob_literals(b->model))))
		return c;
	if ((c = cmp_more_first(a->method != NULL, b->method != NULL)))
		return c;
	return cmp_more_first(a->headers.n, b->headers.n);
}

ssize_t aigw_route_match(const struct aigw_route *routes, size_t n,
			 const struct aigw_route_request *req,
			 enum aigw_route_verdict *verdicts)
{
	ssize_t best = -1;

	for (size_t i = 0; i < n; i++) {
		enum aigw_route_verdict v = aigw_route_check(&routes[i], req);
		if (verdicts)
			verdicts[i] = v;
		/* Strictly more specific only: among equals the earlier route
		 * (YAML before database) keeps the request. */
		if (v == AIGW_ROUTE_MATCHED &&
		    (best < 0 || aigw_route_rank_cmp(&routes[i], &routes[best]) < 0))
			best = (ssize_t)i;
	}
	return best;
}

/* Same conditions regardless of order, header names compared without case.
 * Validated routes name each header once, so equal counts plus inclusion
 * both ways is set equality. */
static bool same_headers(const struct aigw_strv *a, const struct aigw_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		bool found = false;
		for (size_t j = 0; j < b->n && !found; j++)
			found = header_cond_eq(a->v[i], b->v[j]);
		if (!found)
			return false;
	}
	for (size_t j = 0; j < b->n; j++) {
		bool found = false;
		for (size_t i = 0; i < a->n && !found; i++)
			found = header_cond_eq(b->v[j], a->v[i]);
		if (!found)
			return false;
	}
	return true;
}

bool aigw_route_ties(const struct aigw_route *a, const struct aigw_route *b)
{
	/* Two prefixes of equal length that cover one path are the same
	 * string, so equal rank on criterion 1 means the same path. */
	if (strcmp(a->path, b->path) != 0)
		return false;
	if (!aigw_str_eq(a->method, b->method))
		return false;
	if (!same_headers(&a->headers, &b->headers))
		return false;
	if (!a->model || !b->model)
		return !a->model && !b->model;
	return aigw_glob_literals(a->model) == aigw_glob_literals(b->model) &&
	       aigw_glob_overlap(a->model, b->model);
}
