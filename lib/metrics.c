/* metrics: see metrics.h. */
#include "metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

#define RELAXED memory_order_relaxed

/* The single-writer update: a relaxed load and a relaxed store compile to
 * a plain load, add and store. A locked read-modify-write would cost ten
 * times more and buy nothing, since no other thread writes the counter. */
static inline void bump(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, RELAXED) + n, RELAXED);
}

static inline uint64_t load(const _Atomic uint64_t *c)
{
	return atomic_load_explicit(c, RELAXED);
}

static inline void store(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, RELAXED);
}

/* ================================================================ histogram */

/* floor(log2(v)) for v != 0: one instruction where the compiler has one,
 * branches without a loop elsewhere. */
static inline unsigned log2_floor(uint64_t v)
{
#if defined(__GNUC__) || defined(__clang__)
	return 63u - (unsigned)__builtin_clzll(v);
#else
	unsigned r = 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) r += 1;
	return r;
#endif
}

/* Values below 2^(sub_bits+1) index themselves; above, each power of two
 * [2^top, 2^(top+1)) is cut in 2^sub_bits buckets of width 2^shift. OR-ing
 * in 2^sub_bits makes small values (and 0) take the shift-0 path without a
 * branch. */
static inline uint32_t bucket_index(const struct aigw_hist *h, uint64_t v)
{
	unsigned top = log2_floor(v | ((uint64_t)1 << h->sub_bits));
	unsigned shift = top - h->sub_bits;
	return ((uint32_t)shift << h->sub_bits) + (uint32_t)(v >> shift);
}

static inline unsigned bucket_shift(const struct aigw_hist *h, uint32_t index)
{
	uint32_t q = index >> h->sub_bits;
	return q ? q - 1 : 0;
}

static inline uint64_t bucket_low(const struct aigw_hist *h, uint32_t index)
{
	unsigned shift = bucket_shift(h, index);
	return (uint64_t)(index - ((uint32_t)shift << h->sub_bits)) << shift;
}

static inline uint64_t bucket_high(const struct aigw_hist *h, uint32_t index)
{
	return bucket_low(h, index) + (((uint64_t)1 << bucket_shift(h, index)) - 1);
}

/* The smallest sub_bits with 2^sub_bits >= 10^digits: buckets then span
 * less than one part in 10^digits of their values. */
static unsigned sub_bits_for(unsigned digits)
{
	uint64_t need = 1;
	unsigned bits = 0;

	while (digits--)
		need *= 10;
	while (((uint64_t)1 << bits) < need)
		bits++;
	return bits;
}

/* Refuses configurations whose counts would not be "modest" by any
 * standard; 5 digits up to 2^63 would want gigabytes. */
#define HIST_MAX_BUCKETS (UINT32_C(1) << 22)

int aigw_hist_init(struct aigw_hist *h, uint64_t highest, unsigned digits,
		   struct aigw_err *err)
{
	uint64_t n;

	memset(h, 0, sizeof(*h));
	if (digits < 1 || digits > 5)
		return aigw_err_set(err, AIGW_EINVAL,
				    "histogram precision must be 1 to 5 digits, not %u", digits);
	if (highest < 1 || highest > INT64_MAX)
		return aigw_err_set(err, AIGW_EINVAL,
				    "histogram highest value %" PRIu64 " is out of range", highest);
	h->sub_bits = sub_bits_for(digits);
	h->digits = digits;
	h->highest = highest;
	n = (uint64_t)bucket_index(h, highest) + 1;
	if (n > HIST_MAX_BUCKETS)
		return aigw_err_set(err, AIGW_EINVAL,
				    "histogram of %u digits up to %" PRIu64 " would be too large",
				    digits, highest);
	h->n_buckets = (uint32_t)n;
	h->counts = aigw_calloc(n, sizeof(*h->counts));
	store(&h->min, UINT64_MAX);
	return 0;
}

void aigw_hist_release(struct aigw_hist *h)
{
	free(h->counts);
	memset(h, 0, sizeof(*h));
}

void aigw_hist_reset(struct aigw_hist *h)
{
	for (uint32_t i = 0; i < h->n_buckets; i++)
		store(&h->counts[i], 0);
	store(&h->total, 0);
	store(&h->sum, 0);
	store(&h->min, UINT64_MAX);
	store(&h->max, 0);
	store(&h->clamped, 0);
}

static inline void note_extremes(struct aigw_hist *h, uint64_t low, uint64_t high)
{
	if (low < load(&h->min))
		store(&h->min, low);
	if (high > load(&h->max))
		store(&h->max, high);
}

void aigw_hist_record_n(struct aigw_hist *h, uint64_t value, uint64_t n)
{
	if (value > h->highest) {
		value = h->highest;
		bump(&h->clamped, n);
	}
	bump(&h->counts[bucket_index(h, value)], n);
	bump(&h->total, n);
	bump(&h->sum, value * n);
	note_extremes(h, value, value);
}

void aigw_hist_record(struct aigw_hist *h, uint64_t value)
{
	aigw_hist_record_n(h, value, 1);
}

/* Back-fills samples value - k*interval for k = 1..last (see metrics.h)
 * a bucket at a time: all the samples that fall in one bucket are added
 * together, so a tiny interval does not mean billions of iterations. */
void aigw_hist_record_corrected(struct aigw_hist *h, uint64_t value,
				uint64_t expected_interval)
{
	uint64_t interval = expected_interval, last, k;

	aigw_hist_record(h, value);
	if (interval == 0 || value / interval < 2)
		return;
	last = value / interval - 1;
	k = 1;
	if (value > h->highest) {
		/* Samples still above the highest value: k * interval < value - highest. */
		uint64_t above = (value - h->highest - 1) / interval;
		if (above > last)
			above = last;
		if (above) {
			aigw_hist_record_n(h, h->highest, above);
			bump(&h->clamped, above);
		}
		k = above + 1;
	}
	while (k <= last) {
		uint64_t sample = value - k * interval;
		uint32_t index = bucket_index(h, sample);
		uint64_t k_end = (value - bucket_low(h, index)) / interval;
		uint64_t n, pair, sum;

		if (k_end > last)
			k_end = last;
		n = k_end - k + 1;
		/* Sum of value - j*interval for j = k..k_end, exactly (mod 2^64):
		 * of n and k + k_end one is even, so halve that one first. */
		pair = k + k_end;
		sum = n * value - interval * (n % 2 == 0 ? (n / 2) * pair : (pair / 2) * n);
		bump(&h->counts[index], n);
		bump(&h->total, n);
		bump(&h->sum, sum);
		note_extremes(h, value - k_end * interval, sample);
		k = k_end + 1;
	}
}

static int check_same_config(const struct aigw_hist *a, const struct aigw_hist *b,
			     struct aigw_err *err)
{
	if (a->sub_bits != b->sub_bits || a->n_buckets != b->n_buckets || !a->counts)
		return aigw_err_set(err, AIGW_EINVAL,
				    "histograms differ in precision or range");
	return 0;
}

int aigw_hist_merge(struct aigw_hist *dst, const struct aigw_hist *src,
		    struct aigw_err *err)
{
	uint64_t total = 0;
	int rc = check_same_config(dst, src, err);

	if (rc)
		return rc;
	for (uint32_t i = 0; i < src->n_buckets; i++) {
		uint64_t c = load(&src->counts[i]);
		if (c) {
			bump(&dst->counts[i], c);
			total += c;
		}
	}
	if (!total)
		return 0;
	bump(&dst->total, total);
	bump(&dst->sum, load(&src->sum));
	bump(&dst->clamped, load(&src->clamped));
	note_extremes(dst, load(&src->min), load(&src->max));
	return 0;
}

int aigw_hist_subtract(struct aigw_hist *dst, const struct aigw_hist *src,
		       struct aigw_err *err)
{
	uint64_t total = 0, old_min = load(&dst->min), old_max = load(&dst->max);
	uint64_t low = UINT64_MAX, high = 0;
	int rc = check_same_config(dst, src, err);

	if (rc)
		return rc;
	for (uint32_t i = 0; i < dst->n_buckets; i++) {
		uint64_t d = load(&dst->counts[i]), s = load(&src->counts[i]);
		uint64_t c = d > s ? d - s : 0;
		store(&dst->counts[i], c);
		if (!c)
			continue;
		total += c;
		if (low == UINT64_MAX)
			low = bucket_low(dst, i);
		high = bucket_high(dst, i);
	}
	store(&dst->total, total);
	store(&dst->sum, total ? load(&dst->sum) - load(&src->sum) : 0);
	store(&dst->clamped, total ? load(&dst->clamped) - load(&src->clamped) : 0);
	if (!total) {
		store(&dst->min, UINT64_MAX);
		store(&dst->max, 0);
		return 0;
	}
	/* The bucket bounds, tightened by what is known of the whole. */
	store(&dst->min, low > old_min ? low : old_min);
	store(&dst->max, high < old_max ? high : old_max);
	return 0;
}

uint64_t aigw_hist_count(const struct aigw_hist *h)
{
	return load(&h->total);
}

uint64_t aigw_hist_min(const struct aigw_hist *h)
{
	return load(&h->total) ? load(&h->min) : 0;
}

uint64_t aigw_hist_max(const struct aigw_hist *h)
{
	return load(&h->max);
}

double aigw_hist_mean(const struct aigw_hist *h)
{
	uint64_t n = load(&h->total);
	return n ? (double)load(&h->sum) / (double)n : 0.0;
}

uint64_t aigw_hist_clamped(const struct aigw_hist *h)
{
	return load(&h->clamped);
}

size_t aigw_hist_memory(const struct aigw_hist *h)
{
	return (size_t)h->n_buckets * sizeof(*h->counts);
}

uint64_t aigw_hist_lowest_equivalent(const struct aigw_hist *h, uint64_t v)
{
	return bucket_low(h, bucket_index(h, v));
}

uint64_t aigw_hist_highest_equivalent(const struct aigw_hist *h, uint64_t v)
{
	return bucket_high(h, bucket_index(h, v));
}

/* How many values a percentile needs at or below it: round(p% of n), at
 * least one, at most n (HdrHistogram's rule). */
static uint64_t rank_of(double p, uint64_t n)
{
	double x;
	uint64_t r;

	if (!(p > 0.0))
		p = 0.0;
	if (p > 100.0)
		p = 100.0;
	x = p / 100.0 * (double)n + 0.5;
	r = x >= (double)n ? n : (uint64_t)x;
	return r ? r : 1;
}

static uint64_t clamp_reported(const struct aigw_hist *h, uint32_t index)
{
	uint64_t v = bucket_high(h, index), lo = load(&h->min), hi = load(&h->max);

	if (v > hi)
		v = hi;
	if (v < lo)
		v = lo;
	return v;
}

/* Fills out[i] with the value at ranks[i] (increasing) in one walk. */
static void values_at_ranks(const struct aigw_hist *h, const uint64_t *ranks,
			    uint64_t *out, size_t n)
{
	uint64_t cumulative = 0;
	size_t next = 0;

	for (uint32_t i = 0; i < h->n_buckets && next < n; i++) {
		uint64_t c = load(&h->counts[i]);
		if (!c)
			continue;
		cumulative += c;
		while (next < n && cumulative >= ranks[next])
			out[next++] = clamp_reported(h, i);
	}
	/* Only reachable while a writer races the walk. */
	while (next < n)
		out[next++] = load(&h->max);
}

uint64_t aigw_hist_value_at_percentile(const struct aigw_hist *h, double p)
{
	uint64_t n = load(&h->total), rank, v;

	if (!n)
		return 0;
	if (!(p > 0.0))
		return load(&h->min);
	rank = rank_of(p, n);
	values_at_ranks(h, &rank, &v, 1);
	return v;
}

void aigw_hist_iter_init(struct aigw_hist_iter *it, const struct aigw_hist *h)
{
	memset(it, 0, sizeof(*it));
	it->hist = h;
}

bool aigw_hist_iter_next(struct aigw_hist_iter *it)
{
	const struct aigw_hist *h = it->hist;

	while (it->next_index < h->n_buckets) {
		uint32_t i = it->next_index++;
		uint64_t c = load(&h->counts[i]);
		if (!c)
			continue;
		it->low = bucket_low(h, i);
		it->high = bucket_high(h, i);
		it->count = c;
		it->cumulative += c;
		return true;
	}
	return false;
}

void aigw_hist_summarize(const struct aigw_hist *h, struct aigw_hist_summary *out)
{
	static const double percentiles[] = { 50.0, 90.0, 99.0, 99.9 };
	uint64_t ranks[4], values[4];

	memset(out, 0, sizeof(*out));
	out->count = load(&h->total);
	if (!out->count)
		return;
	for (size_t i = 0; i < 4; i++)
		ranks[i] = rank_of(percentiles[i], out->count);
	values_at_ranks(h, ranks, values, 4);
	out->min = aigw_hist_min(h);
	out->mean = aigw_hist_mean(h);
	out->p50 = values[0];
	out->p90 = values[1];
	out->p99 = values[2];
	out->p999 = values[3];
	out->max = aigw_hist_max(h);
}

void aigw_format_us(uint64_t us, char *out, size_t n)
{
	static const struct {
		const char *suffix;
		double us;
		double next; /* where the next unit takes over, in this unit */
	} units[] = {
		{ "ms", 1e3, 999.5 },
		{ "s", 1e6, 60 },
		{ "m", 60e6, 60 },
		{ "h", 3600e6, 0 },
	};
	double x;
	size_t u = 0;

	if (!n)
		return;
	if (us < 1000) {
		snprintf(out, n, "%" PRIu64 "us", us);
		return;
	}
	x = (double)us / units[0].us;
	while (units[u].next > 0 && x >= units[u].next) {
		u++;
		x = (double)us / units[u].us;
	}
	if (x >= 999.5)
		snprintf(out, n, "%.0f%s", x, units[u].suffix);
	else
		snprintf(out, n, "%.3g%s", x, units[u].suffix);
}

/* ================================================================= registry */

/* One distinct label tuple of a family. The values are packed in key, each
 * followed by '\0': the tuple is then one byte string whose memcmp order is
 * the order of the tuples (since '\0' sorts first), and which hashes the
 * same as the separate strings do. */
struct series {
	uint64_t hash;
	char *key;
	size_t key_len;
};

struct family {
	char *name;
	char *help;
	enum aigw_metric_type type;
	size_t n_labels;
	char *labels[AIGW_METRICS_MAX_LABELS];
	uint64_t bounds[AIGW_METRICS_MAX_BOUNDS];
	size_t n_bounds;
	double scale;
	/* Values per series: the counter or gauge, or for a histogram one
	 * count per bucket (the last for +Inf) and the sum. */
	size_t slots;

	/* series[0] is the overflow series; real ones start at 1. Entries
	 * below n_series are immutable once published (release store of
	 * n_series and of their table slot, paired with acquire loads). */
	uint32_t max_series;
	struct series *series;
	_Atomic uint32_t n_series;
	atomic_bool full;
	atomic_bool overflow_used;

	/* Open addressing, linear probing, at most half full so a probe for
	 * a missing tuple ends soon. A slot holds series index + 1; 0 is
	 * empty. Slots are only ever filled, never moved or emptied. */
	_Atomic uint32_t *table;
	uint32_t table_mask;

	/* values[shard * stride + series * slots + slot]; each shard's block
	 * starts on its own cache line so shards never share one. */
	_Atomic uint64_t *values;
	void *values_alloc;
	size_t stride;
};

struct aigw_metrics {
	unsigned n_shards;
	struct aigw_metrics_shard *shards;
	struct family *families[AIGW_METRICS_MAX_FAMILIES];
	size_t n_families;
	pthread_mutex_t lock; /* taken only to add a series */
};

const uint64_t aigw_metrics_latency_bounds_us[] = {
	500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
};
const size_t aigw_metrics_latency_bounds_n =
	sizeof(aigw_metrics_latency_bounds_us) / sizeof(aigw_metrics_latency_bounds_us[0]);

struct aigw_metrics *aigw_metrics_new(unsigned n_shards)
{
	struct aigw_metrics *m = aigw_calloc(1, sizeof(*m));

	if (!n_shards)
		n_shards = 1;
	m->n_shards = n_shards;
	m->shards = aigw_calloc(n_shards, sizeof(*m->shards));
	for (unsigned i = 0; i < n_shards; i++) {
		m->shards[i].metrics = m;
		m->shards[i].index = i;
	}
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

static void family_free(struct family *f)
{
	uint32_t n;

	if (!f)
		return;
	n = atomic_load(&f->n_series);
	for (uint32_t i = 0; i < n; i++)
		free(f->series[i].key);
	free(f->series);
	free((void *)f->table);
	free(f->values_alloc);
	for (size_t i = 0; i < f->n_labels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	free(f);
}

void aigw_metrics_free(struct aigw_metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_families; i++)
		family_free(m->families[i]);
	pthread_mutex_destroy(&m->lock);
	free(m->shards);
	free(m);
}

struct aigw_metrics_shard *aigw_metrics_shard(struct aigw_metrics *m, unsigned index)
{
	return index < m->n_shards ? &m->shards[index] : NULL;
}

static bool name_valid(const char *s, bool colons)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || (colons && c == ':')))
			return false;
	}
	return true;
}

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

static inline uint64_t fnv_bytes(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* Hashes a tuple as its packed key: each value and its terminator. */
static inline uint64_t tuple_hash(const char *const *values, size_t n)
{
	uint64_t h = FNV_OFFSET;

	for (size_t i = 0; i < n; i++) {
		const char *v = values[i] ? values[i] : "";
		h = fnv_bytes(h, v, strlen(v) + 1);
	}
	return h;
}

static bool key_matches(const struct series *s, const char *const *values, size_t n)
{
	const char *k = s->key;
	size_t left = s->key_len;

	for (size_t i = 0; i < n; i++) {
		const char *v = values[i] ? values[i] : "";
		size_t len = strlen(v) + 1;
		if (len > left || memcmp(k, v, len))
			return false;
		k += len;
		left -= len;
	}
	return left == 0;
}

static char *pack_key(const char *const *values, size_t n, size_t *len_out)
{
	size_t len = 0, off = 0;
	char *key;

	for (size_t i = 0; i < n; i++)
		len += strlen(values[i] ? values[i] : "") + 1;
	key = aigw_malloc(len + 1);
	for (size_t i = 0; i < n; i++) {
		const char *v = values[i] ? values[i] : "";
		size_t vl = strlen(v) + 1;
		memcpy(key + off, v, vl);
		off += vl;
	}
	key[len] = '\0';
	*len_out = len;
	return key;
}

/* Series index of a tuple already present, or UINT32_MAX. Lock-free. */
static uint32_t find_series(const struct family *f, const char *const *values,
			    uint64_t hash)
{
	uint32_t i = (uint32_t)hash & f->table_mask;

	for (;;) {
		uint32_t slot = atomic_load_explicit(&f->table[i], memory_order_acquire);
		if (!slot)
			return UINT32_MAX;
		if (f->series[slot - 1].hash == hash &&
		    key_matches(&f->series[slot - 1], values, f->n_labels))
			return slot - 1;
		i = (i + 1) & f->table_mask;
	}
}

/* Called with the registry lock held (or before sharing): appends a series
 * and publishes it, entry first, then its table slot, then the count. */
static uint32_t add_series(struct family *f, const char *const *values, uint64_t hash)
{
	uint32_t index = atomic_load_explicit(&f->n_series, RELAXED);
	uint32_t i = (uint32_t)hash & f->table_mask;
	struct series *s = &f->series[index];

	s->hash = hash;
	s->key = pack_key(values, f->n_labels, &s->key_len);
	while (atomic_load_explicit(&f->table[i], RELAXED))
		i = (i + 1) & f->table_mask;
	atomic_store_explicit(&f->table[i], index + 1, memory_order_release);
	atomic_store_explicit(&f->n_series, index + 1, memory_order_release);
	return index;
}

int aigw_metrics_family(struct aigw_metrics *m, const struct aigw_metric_desc *d,
			struct aigw_err *err)
{
	struct family *f;
	const char *overflow[AIGW_METRICS_MAX_LABELS];
	uint32_t capacity;
	size_t bytes;

	if (!name_valid(d->name, true))
		return aigw_err_set(err, AIGW_EINVAL, "invalid metric name '%s'",
				    d->name ? d->name : "");
	for (size_t i = 0; i < m->n_families; i++)
		if (!strcmp(m->families[i]->name, d->name))
			return aigw_err_set(err, AIGW_EEXIST, "metric '%s' already exists",
					    d->name);
	if (m->n_families == AIGW_METRICS_MAX_FAMILIES)
		return aigw_err_set(err, AIGW_EINVAL, "too many metric families (at most %d)",
				    AIGW_METRICS_MAX_FAMILIES);
	if (d->type != AIGW_METRIC_COUNTER && d->type != AIGW_METRIC_GAUGE &&
	    d->type != AIGW_METRIC_HISTOGRAM)
		return aigw_err_set(err, AIGW_EINVAL, "metric '%s' has an unknown type", d->name);
	if (d->n_labels > AIGW_METRICS_MAX_LABELS)
		return aigw_err_set(err, AIGW_EINVAL, "metric '%s' has too many labels (at most %d)",
				    d->name, AIGW_METRICS_MAX_LABELS);
	if (d->n_labels && !d->labels)
		return aigw_err_set(err, AIGW_EINVAL, "metric '%s' lacks its label names", d->name);
	for (size_t i = 0; i < d->n_labels; i++) {
		const char *l = d->labels[i];
		if (!name_valid(l, false) || !strncmp(l, "__", 2) ||
		    (d->type == AIGW_METRIC_HISTOGRAM && !strcmp(l, "le")))
			return aigw_err_set(err, AIGW_EINVAL, "metric '%s': invalid label name '%s'",
					    d->name, l ? l : "");
		for (size_t j = 0; j < i; j++)
			if (!strcmp(l, d->labels[j]))
				return aigw_err_set(err, AIGW_EINVAL,
						    "metric '%s': label '%s' given twice", d->name, l);
	}
	if (d->max_series > (UINT32_C(1) << 20))
		return aigw_err_set(err, AIGW_EINVAL, "metric '%s': too many series (%" PRIu32 ")",
				    d->name, d->max_series);
	if (d->type == AIGW_METRIC_HISTOGRAM && d->bounds) {
		if (d->n_bounds < 1 || d->n_bounds > AIGW_METRICS_MAX_BOUNDS)
			return aigw_err_set(err, AIGW_EINVAL,
					    "metric '%s': a histogram needs 1 to %d bounds",
					    d->name, AIGW_METRICS_MAX_BOUNDS);
		for (size_t i = 1; i < d->n_bounds; i++)
			if (d->bounds[i] <= d->bounds[i - 1])
				return aigw_err_set(err, AIGW_EINVAL,
						    "metric '%s': bounds must increase", d->name);
	}
	if (d->scale < 0 || d->scale != d->scale)
		return aigw_err_set(err, AIGW_EINVAL, "metric '%s': invalid scale", d->name);

	f = aigw_calloc(1, sizeof(*f));
	f->name = aigw_strdup(d->name);
	f->help = aigw_strdup(d->help ? d->help : "");
	f->type = d->type;
	f->n_labels = d->n_labels;
	for (size_t i = 0; i < d->n_labels; i++)
		f->labels[i] = aigw_strdup(d->labels[i]);
	f->scale = d->scale > 0 ? d->scale : 1.0;
	f->slots = 1;
	if (d->type == AIGW_METRIC_HISTOGRAM) {
		const uint64_t *b = d->bounds ? d->bounds : aigw_metrics_latency_bounds_us;
		f->n_bounds = d->bounds ? d->n_bounds : aigw_metrics_latency_bounds_n;
		memcpy(f->bounds, b, f->n_bounds * sizeof(*b));
		if (!d->bounds && !(d->scale > 0))
			f->scale = 1e6;
		f->slots = f->n_bounds + 2;
	}

	f->max_series = d->max_series ? d->max_series : AIGW_METRICS_DEFAULT_MAX_SERIES;
	f->series = aigw_calloc((size_t)f->max_series + 1, sizeof(*f->series));
	for (capacity = 4; capacity < 2 * (f->max_series + 1); capacity *= 2)
		;
	f->table = aigw_calloc(capacity, sizeof(*f->table));
	f->table_mask = capacity - 1;

	/* 8 values of 8 bytes make a 64-byte cache line. */
	f->stride = ((f->max_series + 1) * f->slots + 7) & ~(size_t)7;
	bytes = f->stride * m->n_shards * sizeof(*f->values);
	f->values_alloc = aigw_calloc(1, bytes + 64);
	f->values = (_Atomic uint64_t *)(((uintptr_t)f->values_alloc + 63) & ~(uintptr_t)63);

	/* The overflow series is series 0, found like any other tuple so that
	 * a real tuple of all "other" lands in it rather than beside it. A
	 * family without labels has one tuple, the empty one, and no
	 * overflow: its series 0 stays out of the table. */
	for (size_t i = 0; i < f->n_labels; i++)
		overflow[i] = AIGW_METRICS_OVERFLOW;
	if (f->n_labels) {
		add_series(f, overflow, tuple_hash(overflow, f->n_labels));
	} else {
		f->series[0].key = aigw_strdup("");
		atomic_store(&f->n_series, 1);
	}

	m->families[m->n_families] = f;
	return (int)m->n_families++;
}

static void mark_overflow_used(struct family *f)
{
	if (!atomic_load_explicit(&f->overflow_used, RELAXED))
		atomic_store_explicit(&f->overflow_used, true, RELAXED);
}

uint32_t aigw_metrics_series(struct aigw_metrics *m, int family,
			     const char *const *values)
{
	struct family *f = m->families[family];
	uint64_t hash = tuple_hash(values, f->n_labels);
	uint32_t index = find_series(f, values, hash);

	if (index == UINT32_MAX && !atomic_load_explicit(&f->full, memory_order_acquire)) {
		pthread_mutex_lock(&m->lock);
		index = find_series(f, values, hash);
		if (index == UINT32_MAX) {
			if (atomic_load_explicit(&f->n_series, RELAXED) - 1 < f->max_series)
				index = add_series(f, values, hash);
			else
				atomic_store_explicit(&f->full, true, memory_order_release);
		}
		pthread_mutex_unlock(&m->lock);
	}
	if (index == UINT32_MAX)
		index = 0;
	if (index == 0)
		mark_overflow_used(f);
	return index;
}

static inline _Atomic uint64_t *series_values(struct aigw_metrics_shard *s,
					      const struct family *f, uint32_t series)
{
	return &f->values[s->index * f->stride + series * f->slots];
}

void aigw_metrics_add(struct aigw_metrics_shard *s, int family, uint32_t series, uint64_t n)
{
	const struct family *f = s->metrics->families[family];

	if (f->type != AIGW_METRIC_HISTOGRAM)
		bump(series_values(s, f, series), n);
}

void aigw_metrics_gauge_add(struct aigw_metrics_shard *s, int family, uint32_t series,
			    int64_t delta)
{
	/* Two's complement: adding the uint64_t image of a negative delta
	 * subtracts, and the sum over shards is right modulo 2^64. */
	aigw_metrics_add(s, family, series, (uint64_t)delta);
}

void aigw_metrics_gauge_set(struct aigw_metrics_shard *s, int family, uint32_t series,
			    int64_t value)
{
	const struct family *f = s->metrics->families[family];

	if (f->type != AIGW_METRIC_HISTOGRAM)
		store(series_values(s, f, series), (uint64_t)value);
}

void aigw_metrics_observe(struct aigw_metrics_shard *s, int family, uint32_t series,
			  uint64_t value)
{
	const struct family *f = s->metrics->families[family];
	_Atomic uint64_t *v;
	size_t lo = 0, hi = f->n_bounds;

	if (f->type != AIGW_METRIC_HISTOGRAM)
		return;
	/* The first bucket whose bound is >= value (n_bounds: +Inf). */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (f->bounds[mid] < value)
			lo = mid + 1;
		else
			hi = mid;
	}
	v = series_values(s, f, series);
	bump(&v[lo], 1);
	bump(&v[f->n_bounds + 1], value);
}

void aigw_metrics_inc(struct aigw_metrics_shard *s, int family,
		      const char *const *values, uint64_t n)
{
	aigw_metrics_add(s, family, aigw_metrics_series(s->metrics, family, values), n);
}

void aigw_metrics_gauge(struct aigw_metrics_shard *s, int family,
			const char *const *values, int64_t delta)
{
	aigw_metrics_gauge_add(s, family, aigw_metrics_series(s->metrics, family, values), delta);
}

void aigw_metrics_observe_labels(struct aigw_metrics_shard *s, int family,
				 const char *const *values, uint64_t value)
{
	aigw_metrics_observe(s, family, aigw_metrics_series(s->metrics, family, values), value);
}

/* Sums one value slot of a series over the shards. */
static uint64_t sum_shards(const struct aigw_metrics *m, const struct family *f,
			   uint32_t series, size_t slot)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < m->n_shards; i++)
		total += load(&f->values[i * f->stride + series * f->slots + slot]);
	return total;
}

uint64_t aigw_metrics_value(const struct aigw_metrics *m, int family, uint32_t series)
{
	const struct family *f = m->families[family];
	uint64_t total = 0;

	if (f->type != AIGW_METRIC_HISTOGRAM)
		return sum_shards(m, f, series, 0);
	for (size_t b = 0; b <= f->n_bounds; b++)
		total += sum_shards(m, f, series, b);
	return total;
}

uint32_t aigw_metrics_series_count(const struct aigw_metrics *m, int family)
{
	return atomic_load_explicit(&m->families[family]->n_series, memory_order_acquire) - 1;
}

/* ------------------------------------------------------------ exposition */

static void put_escaped(struct aigw_buf *out, const char *s, size_t n, bool quotes)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '\\')
			aigw_buf_puts(out, "\\\\");
		else if (c == '\n')
			aigw_buf_puts(out, "\\n");
		else if (c == '"' && quotes)
			aigw_buf_puts(out, "\\\"");
		else
			aigw_buf_putc(out, c);
	}
}

void aigw_metrics_put_label_value(struct aigw_buf *out, const char *s)
{
	put_escaped(out, s, strlen(s), true);
}

/* Prometheus floats: shortest-looking decimal for the usual cases
 * ("0.0005", "2.5", "60"); fifteen digits keep what a double holds. */
static void put_double(struct aigw_buf *out, double v)
{
	aigw_buf_printf(out, "%.15g", v);
}

/* Writes `{l1="v1",...,extra}` (or nothing when there are no labels and no
 * extra). extra is an already formatted `le="..."` or NULL. */
static void put_labels(struct aigw_buf *out, const struct family *f,
		       const struct series *s, const char *extra)
{
	const char *k = s->key;

	if (!f->n_labels && !extra)
		return;
	aigw_buf_putc(out, '{');
	for (size_t i = 0; i < f->n_labels; i++) {
		size_t len = strlen(k);
		aigw_buf_printf(out, "%s%s=\"", i ? "," : "", f->labels[i]);
		put_escaped(out, k, len, true);
		aigw_buf_putc(out, '"');
		k += len + 1;
	}
	if (extra)
		aigw_buf_printf(out, "%s%s", f->n_labels ? "," : "", extra);
	aigw_buf_putc(out, '}');
}

static void put_scaled(struct aigw_buf *out, const struct family *f, uint64_t v, bool is_signed)
{
	if (f->scale == 1.0) {
		if (is_signed)
			aigw_buf_printf(out, "%" PRId64, (int64_t)v);
		else
			aigw_buf_printf(out, "%" PRIu64, v);
	} else {
		put_double(out, (is_signed ? (double)(int64_t)v : (double)v) / f->scale);
	}
}

static void write_histogram_series(struct aigw_buf *out, const struct aigw_metrics *m,
				   const struct family *f, const struct series *s,
				   uint32_t index)
{
	uint64_t cumulative = 0;
	char le[64];

	for (size_t b = 0; b <= f->n_bounds; b++) {
		cumulative += sum_shards(m, f, index, b);
		if (b < f->n_bounds)
			snprintf(le, sizeof(le), "le=\"%.15g\"", (double)f->bounds[b] / f->scale);
		else
			snprintf(le, sizeof(le), "le=\"+Inf\"");
		aigw_buf_printf(out, "%s_bucket", f->name);
		put_labels(out, f, s, le);
		aigw_buf_printf(out, " %" PRIu64 "\n", cumulative);
	}
	aigw_buf_printf(out, "%s_sum", f->name);
	put_labels(out, f, s, NULL);
	aigw_buf_putc(out, ' ');
	put_scaled(out, f, sum_shards(m, f, index, f->n_bounds + 1), false);
	aigw_buf_printf(out, "\n%s_count", f->name);
	put_labels(out, f, s, NULL);
	aigw_buf_printf(out, " %" PRIu64 "\n", cumulative);
}

static int compare_families(const void *a, const void *b)
{
	const struct family *fa = *(const struct family *const *)a;
	const struct family *fb = *(const struct family *const *)b;
	return strcmp(fa->name, fb->name);
}

static int compare_series(const void *a, const void *b)
{
	const struct series *sa = *(const struct series *const *)a;
	const struct series *sb = *(const struct series *const *)b;
	size_t n = sa->key_len < sb->key_len ? sa->key_len : sb->key_len;
	int c = memcmp(sa->key, sb->key, n);

	if (c)
		return c;
	return (sa->key_len > sb->key_len) - (sa->key_len < sb->key_len);
}

static void write_family(struct aigw_buf *out, const struct aigw_metrics *m,
			 const struct family *f)
{
	static const char *const type_names[] = { "counter", "gauge", "histogram" };
	uint32_t n = atomic_load_explicit(&f->n_series, memory_order_acquire);
	const struct series **order = aigw_malloc(n * sizeof(*order));
	size_t used = 0;

	aigw_buf_printf(out, "# HELP %s ", f->name);
	put_escaped(out, f->help, strlen(f->help), false);
	aigw_buf_printf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);

	/* Series 0 of a labelled family is the overflow one: shown once used.
	 * Of a family without labels, the one series shows once created. */
	if (f->n_labels && atomic_load_explicit(&f->overflow_used, RELAXED))
		order[used++] = &f->series[0];
	for (uint32_t i = 1; i < n; i++)
		order[used++] = &f->series[i];
	qsort(order, used, sizeof(*order), compare_series);

	for (size_t i = 0; i < used; i++) {
		const struct series *s = order[i];
		uint32_t index = (uint32_t)(s - f->series);

		if (f->type == AIGW_METRIC_HISTOGRAM) {
			write_histogram_series(out, m, f, s, index);
			continue;
		}
		aigw_buf_puts(out, f->name);
		put_labels(out, f, s, NULL);
		aigw_buf_putc(out, ' ');
		put_scaled(out, f, sum_shards(m, f, index, 0), f->type == AIGW_METRIC_GAUGE);
		aigw_buf_putc(out, '\n');
	}
	free(order);
}

void aigw_metrics_write_prometheus(const struct aigw_metrics *m, struct aigw_buf *out)
{
	const struct family *sorted[AIGW_METRICS_MAX_FAMILIES];

	memcpy(sorted, m->families, m->n_families * sizeof(*sorted));
	qsort(sorted, m->n_families, sizeof(*sorted), compare_families);
	for (size_t i = 0; i < m->n_families; i++)
		write_family(out, m, sorted[i]);
}
