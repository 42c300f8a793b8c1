/* geo: where a client is, how near a node is to it, and which nodes a
 * geo-aware pick should consider.
 *
 * The client's region comes from a request header (geo.region_header in
 * aigw.yaml) when the request carries a valid region name in it, else from
 * a CIDR map of the client's address (geo.regions), else it is unknown.
 *
 * CIDR map: IPv4 and IPv6 prefixes ("10.0.0.0/8", "2001:db8::/32", or a
 * bare address for one host) map to region names. IPv4 prefixes are kept
 * as IPv4-mapped IPv6 (::ffff:a.b.c.d/96+len), so an IPv4 client accepted
 * on a dual-stack socket ("::ffff:10.1.2.3") matches them too. A lookup
 * takes the longest matching prefix. A prefix with bits set past its length
 * ("10.1.2.3/16") is refused rather than silently widened.
 *
 * Nearness: distance(a, b) is 0 for the same region, 1 when near, 2
 * otherwise (also when either is unknown). Region names compare without
 * regard to case. Regions listed under geo.near say which regions are near
 * them, and the relation is symmetric: "eu-west: [eu-central]" also makes
 * eu-central near eu-west. A region with an entry in geo.near (as a key,
 * even with an empty list, or in another key's list) uses only those
 * entries. For every other pair, the default: two regions are near when
 * they share the part before their last '-' ("eu-west" and "eu-central":
 * "eu"; "us-east-1" and "us-east-2": "us-east"). A name without '-' is near
 * nothing by default.
 *
 * Selection (aigw_geo_filter): the candidates of a route fall in tiers by
 * distance (a node without a region is in tier 2, "anywhere"). A
 * candidate is usable when it is eligible, not full (in flight below its
 * max_concurrency, 0 meaning unlimited) and not slow (its latency estimate
 * is at most spill_latency_factor times the best estimate among all the
 * eligible candidates, a best under AIGW_GEO_SLOW_FLOOR_US counting as
 * that; a candidate or a best that is not measured yet is never slow). The nearest tier with a usable candidate is chosen: every
 * candidate of the other tiers, and the full ones of that tier, become
 * ineligible, and the route's policy picks among the rest (the slow ones
 * of the tier stay: weighing latency is the policy's business). When no
 * tier has a usable candidate, or the client's region is unknown, nothing
 * is filtered. */
#ifndef AIGW_GEO_H
#define AIGW_GEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "str.h"

#define AIGW_GEO_SPILL_FACTOR_DEFAULT 3.0
/* A best estimate under this counts as this much when judging slowness:
 * among nodes answering in a few milliseconds, one cold connection or a
 * scheduling hiccup is a large ratio but no reason to send a client away
 * from its region. */
#define AIGW_GEO_SLOW_FLOOR_US 20000.0
#define AIGW_GEO_FAR 2

struct aigw_geo_prefix {
	uint8_t addr[16];   /* network address, IPv4 as ::ffff:a.b.c.d */
	unsigned bits;      /* 0..128 (IPv4: 96 + its length) */
	char *cidr;         /* as written, for messages */
	char *region;
};

/* One geo.near entry: region and the regions near it. */
struct aigw_geo_near {
	char *region;
	struct aigw_strv near;
};

struct aigw_geo {
	char *region_header;             /* NULL: no header is read */
	struct aigw_geo_prefix *prefixes; /* longest first */
	size_t n_prefixes;
	struct aigw_geo_near *near;
	size_t n_near;
	double spill_latency_factor;     /* > 1; default 3 */
};

void aigw_geo_init(struct aigw_geo *g);   /* empty, default factor */
void aigw_geo_release(struct aigw_geo *g); /* frees and zeroes */
void aigw_geo_copy(struct aigw_geo *dst, const struct aigw_geo *src);

/* Parses "10.0.0.0/8", "::1/128", "2001:db8::/32" or a bare address (a
 * host prefix). The message says what is wrong. */
int aigw_geo_parse_cidr(const char *s, struct aigw_geo_prefix *out, struct aigw_err *err);
/* Adds cidr -> region (both copied): EINVAL for a bad prefix or region
 * name, EEXIST for a prefix given twice. Keeps the list longest first. */
int aigw_geo_add_prefix(struct aigw_geo *g, const char *cidr, const char *region,
			struct aigw_err *err);
/* Adds region's near list (copied): EINVAL for a bad name, EEXIST when
 * region already has an entry. */
int aigw_geo_add_near(struct aigw_geo *g, const char *region, const struct aigw_strv *near,
		      struct aigw_err *err);

/* The region of a client address as the server writes it ("127.0.0.1",
 * "::1", "::ffff:10.0.0.1"), by longest prefix; NULL when no prefix
 * matches or the address does not parse. Points into g. */
const char *aigw_geo_lookup(const struct aigw_geo *g, const char *addr);

/* A header value usable as a region name (the rule of node regions). */
bool aigw_geo_region_valid(const char *s);

/* 0 same region, 1 near, 2 otherwise or when either is NULL. */
int aigw_geo_distance(const struct aigw_geo *g, const char *a, const char *b);

/* What the selection knows of one candidate. */
struct aigw_geo_cand {
	bool eligible;            /* in: may take the request; out: filtered */
	const char *region;       /* the node's region; NULL: anywhere */
	int64_t in_flight;        /* requests in flight to the node */
	int64_t max_concurrency;  /* 0: unlimited */
	double latency_us;        /* latency estimate; 0: unknown */
};

/* Applies the rule above to c[0..n) for a client in client_region (NULL:
 * unknown, nothing changes). Returns the tier chosen (0, 1 or 2), or -1
 * when nothing was filtered. */
int aigw_geo_filter(const struct aigw_geo *g, const char *client_region,
		    struct aigw_geo_cand *c, size_t n);

#endif
