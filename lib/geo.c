/* geo: see geo.h. */
#include "geo.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

void aigw_geo_init(struct aigw_geo *g)
{
	memset(g, 0, sizeof(*g));
	g->spill_latency_factor = AIGW_GEO_SPILL_FACTOR_DEFAULT;
}

void aigw_geo_release(struct aigw_geo *g)
{
	free(g->region_header);
	for (size_t i = 0; i < g->n_prefixes; i++) {
		free(g->prefixes[i].cidr);
		free(g->prefixes[i].region);
	}
	free(g->prefixes);
	for (size_t i = 0; i < g->n_near; i++) {
		free(g->near[i].region);
		aigw_strv_release(&g->near[i].near);
	}
	free(g->near);
	memset(g, 0, sizeof(*g));
}

void aigw_geo_copy(struct aigw_geo *dst, const struct aigw_geo *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->region_header = src->region_header ? aigw_strdup(src->region_header) : NULL;
	dst->spill_latency_factor = src->spill_latency_factor;
	dst->n_prefixes = src->n_prefixes;
	dst->prefixes = aigw_calloc(src->n_prefixes + 1, sizeof(*dst->prefixes));
	for (size_t i = 0; i < src->n_prefixes; i++) {
		dst->prefixes[i] = src->prefixes[i];
		dst->prefixes[i].cidr = aigw_strdup(src->prefixes[i].cidr);
		dst->prefixes[i].region = aigw_strdup(src->prefixes[i].region);
	}
	dst->n_near = src->n_near;
	dst->near = aigw_calloc(src->n_near + 1, sizeof(*dst->near));
	for (size_t i = 0; i < src->n_near; i++) {
		dst->near[i].region = aigw_strdup(src->near[i].region);
		aigw_strv_copy(&dst->near[i].near, &src->near[i].near);
	}
}

/* ------------------------------------------------------------ addresses */

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* An address as 16 bytes (IPv4 mapped); *v4 says which family it was. */
static bool parse_addr(const char *s, uint8_t out[16], bool *v4)
{
	struct in_addr a4;

	if (inet_pton(AF_INET, s, &a4) == 1) {
		memcpy(out, v4_mapped, 12);
		memcpy(out + 12, &a4, 4);
		*v4 = true;
		return true;
	}
	*v4 = false;
	return inet_pton(AF_INET6, s, out) == 1;
}

/* Does addr lie in the prefix net/bits? */
static bool in_prefix(const uint8_t addr[16], const uint8_t net[16], unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(addr, net, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((addr[whole] ^ net[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int aigw_geo_parse_cidr(const char *s, struct aigw_geo_prefix *out, struct aigw_err *err)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	size_t host_len = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max, len;
	bool v4;

	memset(out, 0, sizeof(*out));
	if (host_len == 0 || host_len >= sizeof(host))
		return aigw_err_set(err, AIGW_EINVAL,
				    "'%s' is not an address prefix (write 10.0.0.0/8 or 2001:db8::/32)",
				    s);
	memcpy(host, s, host_len);
	host[host_len] = '\0';
	if (!parse_addr(host, out->addr, &v4))
		return aigw_err_set(err, AIGW_EINVAL,
				    "'%s' is not an address prefix: '%s' is not an IPv4 or IPv6 "
				    "address (write 10.0.0.0/8 or 2001:db8::/32)", s, host);
	max = v4 ? 32 : 128;
	len = max;
	if (slash) {
		const char *d = slash + 1;
		if (!*d || strlen(d) > 3 || strspn(d, "0123456789") != strlen(d) ||
		    (len = (unsigned)atoi(d)) > max)
			return aigw_err_set(err, AIGW_EINVAL,
					    "'%s' is not an address prefix: the length after '/' "
					    "must be 0..%u for an IPv%d address", s, max, v4 ? 4 : 6);
	}
	out->bits = v4 ? 96 + len : len;
	/* Bits past the length: the writer meant something else. */
	for (unsigned b = out->bits; b < 128; b++) {
		if (out->addr[b / 8] & (0x80 >> (b % 8))) {
			uint8_t net[16];
			char shown[INET6_ADDRSTRLEN];
			memcpy(net, out->addr, 16);
			for (unsigned c = out->bits; c < 128; c++)
				net[c / 8] &= (uint8_t)~(0x80 >> (c % 8));
			if (v4)
				inet_ntop(AF_INET, net + 12, shown, sizeof(shown));
			else
				inet_ntop(AF_INET6, net, shown, sizeof(shown));
			return aigw_err_set(err, AIGW_EINVAL,
					    "'%s' has address bits set past its length "
					    "(did you mean %s/%u?)", s, shown, len);
		}
	}
	return 0;
}

bool aigw_geo_region_valid(const char *s)
{
	return s && aigw_name_valid(s);
}

static int region_check(const char *s, struct aigw_err *err)
{
	if (aigw_geo_region_valid(s))
		return 0;
	return aigw_err_set(err, AIGW_EINVAL,
			    "'%s' is not a valid region name (1-64 of A-Z a-z 0-9 . _ -, "
			    "not all digits)", s ? s : "");
}

int aigw_geo_add_prefix(struct aigw_geo *g, const char *cidr, const char *region,
			struct aigw_err *err)
{
	struct aigw_geo_prefix p;
	size_t at;
	int rc;

	if ((rc = aigw_geo_parse_cidr(cidr, &p, err)))
		return rc;
	if ((rc = region_check(region, err)))
		return rc;
	for (size_t i = 0; i < g->n_prefixes; i++)
		if (g->prefixes[i].bits == p.bits && memcmp(g->prefixes[i].addr, p.addr, 16) == 0)
			return aigw_err_set(err, AIGW_EEXIST, strcmp(cidr, g->prefixes[i].cidr) == 0 ?
					    "prefix '%s' is given twice" :
					    "prefix '%s' is the same as '%s'",
					    cidr, g->prefixes[i].cidr);
	/* Longest first, so the first match of a lookup is the longest. */
	for (at = 0; at < g->n_prefixes && g->prefixes[at].bits >= p.bits; at++)
		;
	g->prefixes = aigw_realloc(g->prefixes, (g->n_prefixes + 1) * sizeof(*g->prefixes));
	memmove(&g->prefixes[at + 1], &g->prefixes[at],
		(g->n_prefixes - at) * sizeof(*g->prefixes));
	p.cidr = aigw_strdup(cidr);
	p.region = aigw_strdup(region);
	g->prefixes[at] = p;
	g->n_prefixes++;
	return 0;
}

static const struct aigw_geo_near *near_entry(const struct aigw_geo *g, const char *region)
{
	for (size_t i = 0; i < g->n_near; i++)
		if (strcasecmp(g->near[i].region, region) == 0)
			return &g->near[i];
	return NULL;
}

int aigw_geo_add_near(struct aigw_geo *g, const char *region, const struct aigw_strv *near,
		      struct aigw_err *err)
{
	int rc;

	if ((rc = region_check(region, err)))
		return rc;
	for (size_t i = 0; i < near->n; i++)
		if ((rc = region_check(near->v[i], err)))
			return rc;
	if (near_entry(g, region))
		return aigw_err_set(err, AIGW_EEXIST, "region '%s' is listed twice", region);
	g->near = aigw_realloc(g->near, (g->n_near + 1) * sizeof(*g->near));
	g->near[g->n_near].region = aigw_strdup(region);
	aigw_strv_copy(&g->near[g->n_near].near, near);
	g->n_near++;
	return 0;
}

const char *aigw_geo_lookup(const struct aigw_geo *g, const char *addr)
{
	uint8_t a[16];
	bool v4;

	if (!g || !g->n_prefixes || !addr || !parse_addr(addr, a, &v4))
		return NULL;
	for (size_t i = 0; i < g->n_prefixes; i++)
		if (in_prefix(a, g->prefixes[i].addr, g->prefixes[i].bits))
			return g->prefixes[i].region;
	return NULL;
}

/* ------------------------------------------------------------- nearness */

static bool lists(const struct aigw_geo_near *e, const char *region)
{
	for (size_t i = 0; e && i < e->near.n; i++)
		if (strcasecmp(e->near.v[i], region) == 0)
			return true;
	return false;
}

/* Does geo.near say anything about region (as a key or in a list)? */
static bool explicit_region(const struct aigw_geo *g, const char *region)
{
	if (near_entry(g, region))
		return true;
	for (size_t i = 0; i < g->n_near; i++)
		if (lists(&g->near[i], region))
			return true;
	return false;
}

/* The default: the same text before the last '-'. */
static bool same_family(const char *a, const char *b)
{
	const char *da = strrchr(a, '-'), *db = strrchr(b, '-');

	return da && db && da > a && da - a == db - b &&
	       strncasecmp(a, b, (size_t)(da - a)) == 0;
}

int aigw_geo_distance(const struct aigw_geo *g, const char *a, const char *b)
{
	if (!a || !b || !*a || !*b)
		return AIGW_GEO_FAR;
	if (strcasecmp(a, b) == 0)
		return 0;
	if (g && g->n_near) {
		if (lists(near_entry(g, a), b) || lists(near_entry(g, b), a))
			return 1;
		if (explicit_region(g, a) || explicit_region(g, b))
			return AIGW_GEO_FAR;
	}
	return same_family(a, b) ? 1 : AIGW_GEO_FAR;
}

/* ------------------------------------------------------------ selection */

static bool full(const struct aigw_geo_cand *c)
{
	return c->max_concurrency > 0 && c->in_flight >= c->max_concurrency;
}

int aigw_geo_filter(const struct aigw_geo *g, const char *client_region,
		    struct aigw_geo_cand *c, size_t n)
{
	double factor = g && g->spill_latency_factor > 0 ? g->spill_latency_factor
							 : AIGW_GEO_SPILL_FACTOR_DEFAULT;
	double best = 0;
	int chosen = -1;

	if (!client_region || !*client_region)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (c[i].eligible && c[i].latency_us > 0 && (best == 0 || c[i].latency_us < best))
			best = c[i].latency_us;
	if (best > 0 && best < AIGW_GEO_SLOW_FLOOR_US)
		best = AIGW_GEO_SLOW_FLOOR_US;
	for (size_t i = 0; i < n; i++) {
		int d;
		if (!c[i].eligible || full(&c[i]))
			continue;
		if (best > 0 && c[i].latency_us > factor * best)
			continue; /* slow */
		d = aigw_geo_distance(g, client_region, c[i].region);
		if (chosen < 0 || d < chosen)
			chosen = d;
	}
	if (chosen < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (c[i].eligible &&
		    (full(&c[i]) || aigw_geo_distance(g, client_region, c[i].region) != chosen))
			c[i].eligible = false;
	return chosen;
}
