/* reqlog: see reqlog.h. This file is the row module of the request_log and
 * request_rollup tables (schema v2 in store.c), so like store_keys.c it
 * reaches the SQLite handle through store_internal.h.
 *
 * The queue is a bounded multi-producer ring in the manner of Dmitry
 * Vyukov's: each cell carries a sequence number that says whose turn it
 * is. A producer claims a position with one compare-and-swap, copies its
 * row and publishes it by advancing the cell's sequence; producers never
 * wait for each other or for the writer, so one preempted worker cannot
 * stall another's request. The writer reads published rows in place, binds
 * them straight from the ring, and hands the cells back only after the
 * batch is committed: rows in flight still take room, which keeps the
 * bound on memory exact and the drop count exact. */
#include "reqlog.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "mem.h"
#include "store_internal.h"

#define CACHE_LINE 64
/* Far beyond any sensible setting; keeps sizes and row indexes in range. */
#define MAX_CAPACITY ((size_t)1 << 24)
/* How long the writer waits for the write lock (another aigw writing, a
 * prune) before it gives the batch up. Rows behind it wait in the queue
 * meanwhile, and drop once it is full. */
#define LOCK_WAIT_MS 5000
/* Failed writes are logged at most once per this interval (a full disk
 * fails every batch; one line per batch would flood the log). */
#define ERROR_LOG_EVERY_MS 10000
/* How often the writer looks at the queue while rows flow. Producers do
 * not wake it then, so the queue must hold what arrives meanwhile: at
 * 100,000 rows/s, 500 rows. */
#define POLL_MS 5
/* The writer is background work and behaves so (see writer_main): it runs
 * at this nice value, and every this many SQLite VM steps it yields the
 * CPU while the queue is less than half full. */
#define WRITER_NICE 5
#define YIELD_EVERY_OPS 250
/* Rows per prune transaction: a few milliseconds of write lock each. */
#define PRUNE_BATCH 5000

void aigw_reqlog_row_init(struct aigw_reqlog_row *row)
{
	memset(row, 0, sizeof(*row));
	row->key_id = AIGW_REQLOG_NONE;
	row->upstream_us = AIGW_REQLOG_NONE;
	row->ttfb_us = AIGW_REQLOG_NONE;
	row->bytes_in = AIGW_REQLOG_NONE;
	row->bytes_out = AIGW_REQLOG_NONE;
	row->prompt_tokens = AIGW_REQLOG_NONE;
	row->completion_tokens = AIGW_REQLOG_NONE;
	row->cost_micro = AIGW_REQLOG_NONE;
}

/* ----------------------------------------------------------- histograms */

#define HIST_SUB_BITS 3
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_FORMAT 1

unsigned aigw_reqlog_hist_bucket(uint64_t us)
{
	unsigned msb;

	if (us < HIST_SUB)
		return (unsigned)us;
	if (us >= (uint64_t)1 << 40)
		return AIGW_REQLOG_HIST_BUCKETS - 1;
	msb = 63u - (unsigned)__builtin_clzll(us);
	return (msb - HIST_SUB_BITS + 1) * HIST_SUB +
	       (unsigned)((us >> (msb - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* The power of two a bucket's width is (0 for the exact small ones). */
static unsigned width_shift(unsigned bucket)
{
	return bucket < HIST_SUB ? 0 : bucket / HIST_SUB - 1;
}

uint64_t aigw_reqlog_hist_lower(unsigned bucket)
{
	if (bucket >= AIGW_REQLOG_HIST_BUCKETS)
		bucket = AIGW_REQLOG_HIST_BUCKETS - 1;
	if (bucket < HIST_SUB)
		return bucket;
	return (uint64_t)(HIST_SUB + bucket % HIST_SUB) << width_shift(bucket);
}

uint64_t aigw_reqlog_hist_upper(unsigned bucket)
{
	if (bucket >= AIGW_REQLOG_HIST_BUCKETS - 1)
		return UINT64_MAX; /* the last bucket takes everything above */
	return aigw_reqlog_hist_lower(bucket) + ((uint64_t)1 << width_shift(bucket)) - 1;
}

static bool put_varint(uint8_t *out, size_t cap, size_t *len, uint64_t v)
{
	do {
		if (*len >= cap)
			return false;
		out[(*len)++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return true;
}

static bool get_varint(const uint8_t *p, size_t len, size_t *at, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*at >= len)
			return false;
		uint8_t byte = p[(*at)++];
		v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

int aigw_reqlog_hist_decode(const void *blob, size_t len,
			    uint64_t counts[AIGW_REQLOG_HIST_BUCKETS])
{
	const uint8_t *p = blob;
	uint64_t next = 0; /* the lowest bucket the next entry may name */
	size_t at = 1;

	if (len == 0)
		return 0;
	if (p[0] != HIST_FORMAT)
		return AIGW_EINVAL;
	while (at < len) {
		uint64_t gap, count;
		if (!get_varint(p, len, &at, &gap) || !get_varint(p, len, &at, &count))
			return AIGW_EINVAL;
		if (gap >= AIGW_REQLOG_HIST_BUCKETS - next || count == 0)
			return AIGW_EINVAL;
		counts[next + gap] += count;
		next += gap + 1;
	}
	return 0;
}

size_t aigw_reqlog_hist_encode(const uint64_t counts[AIGW_REQLOG_HIST_BUCKETS],
			       uint8_t *out, size_t cap)
{
	size_t len = 0;
	unsigned next = 0;

	if (cap < 1)
		return 0;
	out[len++] = HIST_FORMAT;
	for (unsigned b = 0; b < AIGW_REQLOG_HIST_BUCKETS; b++) {
		if (!counts[b])
			continue;
		if (!put_varint(out, cap, &len, b - next) || !put_varint(out, cap, &len, counts[b]))
			return 0;
		next = b + 1;
	}
	return len;
}

uint64_t aigw_reqlog_hist_percentile(const uint64_t counts[AIGW_REQLOG_HIST_BUCKETS],
				     double p)
{
	uint64_t total = 0, rank, seen = 0;

	for (unsigned b = 0; b < AIGW_REQLOG_HIST_BUCKETS; b++)
		total += counts[b];
	if (!total)
		return 0;
	if (!(p > 0)) /* also NaN */
		p = 0;
	if (p > 100)
		p = 100;
	/* The smallest value with at least p% of the counts at or below it. */
	rank = (uint64_t)(p / 100.0 * (double)total + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > total)
		rank = total;
	for (unsigned b = 0; b < AIGW_REQLOG_HIST_BUCKETS; b++) {
		seen += counts[b];
		if (seen >= rank)
			return aigw_reqlog_hist_lower(b) + ((uint64_t)1 << width_shift(b)) / 2;
	}
	return 0; /* not reached */
}

/* aigw_hist_merge(a, b, ...) for the rollup upsert: the sum of histogram
 * blobs; NULL when every argument is NULL. Registered on the writer's
 * connection only, so the schema itself needs no custom function and the
 * sqlite3 shell reads it fine. */
static void hist_merge_sql(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint64_t counts[AIGW_REQLOG_HIST_BUCKETS] = { 0 };
	uint8_t out[AIGW_REQLOG_HIST_MAX_BLOB];
	bool any = false;
	size_t len;

	for (int i = 0; i < argc; i++) {
		if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
			continue;
		any = true;
		if (aigw_reqlog_hist_decode(sqlite3_value_blob(argv[i]),
					    (size_t)sqlite3_value_bytes(argv[i]), counts)) {
			sqlite3_result_error(ctx, "malformed latency histogram in request_rollup", -1);
			return;
		}
	}
	if (!any) {
		sqlite3_result_null(ctx);
		return;
	}
	len = aigw_reqlog_hist_encode(counts, out, sizeof(out));
	sqlite3_result_blob(ctx, out, (int)len, SQLITE_TRANSIENT);
}

/* ---------------------------------------------------------------- state */

struct cell {
	_Atomic size_t seq; /* Vyukov's: whose turn the cell is */
	struct aigw_reqlog_row row;
};

/* One rollup row being summed from a batch. */
struct group {
	uint64_t hash;
	const struct aigw_reqlog_row *row; /* first row: the group's names */
	const char *key_name;              /* latest non-empty key name */
	size_t key_name_len;
	int64_t minute, key_id, status_class;
	uint32_t first, last; /* rows of the group, linked through next_row */
	int64_t requests, errors, latency_sum_us, ttfb_count, ttfb_sum_us;
	int64_t bytes_in, bytes_out, prompt_tokens, completion_tokens;
	int64_t cost_micro, priced;
};

struct aigw_reqlog {
	/* Producers' line: claimed positions and full-queue drops. */
	_Alignas(CACHE_LINE) _Atomic size_t enqueue_pos;
	_Atomic uint64_t dropped;
	/* Written by the writer, read by producers deciding to wake it. */
	_Alignas(CACHE_LINE) _Atomic size_t dequeue_pos;
	_Atomic bool sleeping;
	_Atomic bool stopping;
	_Atomic uint64_t written, batches, write_errors;

	/* Fixed at start. */
	_Alignas(CACHE_LINE) struct cell *cells;
	size_t mask;
	size_t batch_max;
	unsigned flush_ms;
	sem_t wake;
	pthread_t thread;

	/* The writer thread's own. */
	struct aigw_store *store;
	sqlite3_stmt *insert, *upsert;
	struct group *groups;
	size_t ngroups;
	uint32_t *slots; /* hash table of group index + 1; 0 is empty */
	size_t slot_mask;
	uint32_t *next_row;
	uint64_t hist[AIGW_REQLOG_HIST_BUCKETS];
	uint8_t latency_blob[AIGW_REQLOG_HIST_MAX_BLOB];
	uint8_t ttfb_blob[AIGW_REQLOG_HIST_MAX_BLOB];
	uint64_t busy_since_ns;
	uint64_t last_error_log_ms;
	uint64_t errors_unlogged;
};

static size_t cell_seq(struct aigw_reqlog *log, size_t index, memory_order order)
{
	return atomic_load_explicit(&log->cells[index].seq, order);
}

static void cell_set_seq(struct aigw_reqlog *log, size_t index, size_t seq, memory_order order)
{
	atomic_store_explicit(&log->cells[index].seq, seq, order);
}

/* ------------------------------------------------------------- producers */

bool aigw_reqlog_push(struct aigw_reqlog *log, const struct aigw_reqlog_row *row)
{
	size_t pos, index;

	if (!log)
		return false;
	pos = atomic_load_explicit(&log->enqueue_pos, memory_order_relaxed);
	for (;;) {
		index = pos & log->mask;
		size_t seq = cell_seq(log, index, memory_order_acquire);
		intptr_t diff = (intptr_t)(seq - pos);
		if (diff == 0) {
			if (atomic_compare_exchange_weak_explicit(&log->enqueue_pos, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (diff < 0) {
			/* The cell still holds a row of the previous lap:
			 * queued or being written. */
			atomic_fetch_add_explicit(&log->dropped, 1, memory_order_relaxed);
			return false;
		} else {
			pos = atomic_load_explicit(&log->enqueue_pos, memory_order_relaxed);
		}
	}
	memcpy(&log->cells[index].row, row, sizeof(*row));
	/* The writer polls while rows flow; only from a deep sleep does the
	 * push that fills a batch wake it (see wait_for_rows). seq_cst here
	 * and on `sleeping` pairs with the writer's store of sleeping then
	 * load of the cells: one side sees the other, so a full batch never
	 * waits out the flush interval. */
	cell_set_seq(log, index, pos + 1, memory_order_seq_cst);
	if (atomic_load(&log->sleeping) &&
	    pos + 1 - atomic_load_explicit(&log->dequeue_pos, memory_order_relaxed) >= log->batch_max &&
	    atomic_exchange(&log->sleeping, false))
		sem_post(&log->wake);
	return true;
}

void aigw_reqlog_counters(const struct aigw_reqlog *log, struct aigw_reqlog_counters *out)
{
	/* Casting away const for atomic_load, which C11 declares on
	 * non-const pointers. */
	struct aigw_reqlog *l = (struct aigw_reqlog *)log;

	out->pushed = atomic_load_explicit(&l->enqueue_pos, memory_order_relaxed);
	out->written = atomic_load_explicit(&l->written, memory_order_relaxed);
	out->dropped = atomic_load_explicit(&l->dropped, memory_order_relaxed);
	out->batches = atomic_load_explicit(&l->batches, memory_order_relaxed);
	out->write_errors = atomic_load_explicit(&l->write_errors, memory_order_relaxed);
}

size_t aigw_reqlog_capacity(const struct aigw_reqlog *log)
{
	return log->mask + 1;
}

/* --------------------------------------------------------------- writer */

static const char insert_sql[] =
	"INSERT INTO request_log (ts_ms, request_id, key_id, key_name, route, node,"
	" model, status, stream, latency_us, upstream_us, ttfb_us, bytes_in, bytes_out,"
	" prompt_tokens, completion_tokens, cost_micro, error)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

static const char upsert_sql[] =
	"INSERT INTO request_rollup (minute, route, node, key_id, model, status_class,"
	" key_name, requests, errors, latency_sum_us, latency_hist, ttfb_count, ttfb_sum_us,"
	" ttfb_hist, bytes_in, bytes_out, prompt_tokens, completion_tokens, cost_micro, priced)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
	" ?18, ?19, ?20)"
	" ON CONFLICT (minute, route, node, key_id, model, status_class) DO UPDATE SET"
	" key_name = coalesce(excluded.key_name, key_name),"
	" requests = requests + excluded.requests,"
	" errors = errors + excluded.errors,"
	" latency_sum_us = latency_sum_us + excluded.latency_sum_us,"
	" latency_hist = aigw_hist_merge(latency_hist, excluded.latency_hist),"
	" ttfb_count = ttfb_count + excluded.ttfb_count,"
	" ttfb_sum_us = ttfb_sum_us + excluded.ttfb_sum_us,"
	" ttfb_hist = aigw_hist_merge(ttfb_hist, excluded.ttfb_hist),"
	" bytes_in = bytes_in + excluded.bytes_in,"
	" bytes_out = bytes_out + excluded.bytes_out,"
	" prompt_tokens = prompt_tokens + excluded.prompt_tokens,"
	" completion_tokens = completion_tokens + excluded.completion_tokens,"
	" cost_micro = cost_micro + excluded.cost_micro,"
	" priced = priced + excluded.priced";

/* Field lengths are taken with strnlen so a field the caller filled to
 * the brim without a terminator still reads safely. */
#define FIELD_LEN(row, f) strnlen((row)->f, sizeof((row)->f))

/* Text with NULL for empty; the ring cell outlives the statement step. */
static int bind_name(sqlite3_stmt *st, int i, const char *s, size_t len, bool empty_is_null)
{
	if (!len && empty_is_null)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, (int)len, SQLITE_STATIC);
}

static int bind_optional(sqlite3_stmt *st, int i, int64_t v)
{
	return v < 0 ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, v);
}

static int64_t latency_of(const struct aigw_reqlog_row *row)
{
	return row->latency_us < 0 ? 0 : row->latency_us;
}

static int64_t status_class_of(const struct aigw_reqlog_row *row)
{
	return row->status >= 100 && row->status <= 999 ? row->status / 100 : 0;
}

static bool is_error(const struct aigw_reqlog_row *row)
{
	return row->status >= 400 || row->status < 100 || row->error[0];
}

/* minute of a possibly negative ms timestamp, rounding down. */
static int64_t minute_of(int64_t ts_ms)
{
	return ts_ms >= 0 ? ts_ms / 60000 : -((-ts_ms + 59999) / 60000);
}

/* Steps a prepared statement that returns no rows and resets it for the
 * next use; the failure is mapped before reset can overwrite it. */
static int step_reset(struct aigw_store *s, sqlite3_stmt *st, struct aigw_err *err)
{
	int rc = sqlite3_step(st);

	rc = rc == SQLITE_DONE ? 0 : store_fail(s, rc, err);
	sqlite3_reset(st);
	return rc;
}

static int insert_row(struct aigw_reqlog *log, const struct aigw_reqlog_row *row,
		      struct aigw_err *err)
{
	sqlite3_stmt *st = log->insert;

	sqlite3_bind_int64(st, 1, row->ts_ms);
	bind_name(st, 2, row->request_id, FIELD_LEN(row, request_id), false);
	bind_optional(st, 3, row->key_id > 0 ? row->key_id : -1);
	bind_name(st, 4, row->key_name, FIELD_LEN(row, key_name), true);
	bind_name(st, 5, row->route, FIELD_LEN(row, route), true);
	bind_name(st, 6, row->node, FIELD_LEN(row, node), true);
	bind_name(st, 7, row->model, FIELD_LEN(row, model), true);
	sqlite3_bind_int64(st, 8, row->status);
	sqlite3_bind_int(st, 9, row->stream ? 1 : 0);
	sqlite3_bind_int64(st, 10, latency_of(row));
	bind_optional(st, 11, row->upstream_us);
	bind_optional(st, 12, row->ttfb_us);
	bind_optional(st, 13, row->bytes_in);
	bind_optional(st, 14, row->bytes_out);
	bind_optional(st, 15, row->prompt_tokens);
	bind_optional(st, 16, row->completion_tokens);
	bind_optional(st, 17, row->cost_micro);
	bind_name(st, 18, row->error, FIELD_LEN(row, error), true);
	return step_reset(log->store, st, err);
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull; /* FNV-1a */
	}
	return h;
}

static bool same_name(const char *a, const char *b, size_t n)
{
	return strnlen(a, n) == strnlen(b, n) && strncmp(a, b, n) == 0;
}

static bool same_group(const struct group *g, const struct aigw_reqlog_row *row,
		       int64_t minute, int64_t key_id, int64_t status_class)
{
	return g->minute == minute && g->key_id == key_id && g->status_class == status_class &&
	       same_name(g->row->route, row->route, sizeof(row->route)) &&
	       same_name(g->row->node, row->node, sizeof(row->node)) &&
	       same_name(g->row->model, row->model, sizeof(row->model));
}

/* The group a row belongs to, created empty when new. */
static struct group *find_group(struct aigw_reqlog *log, const struct aigw_reqlog_row *row,
				uint32_t row_index)
{
	int64_t minute = minute_of(row->ts_ms);
	int64_t key_id = row->key_id > 0 ? row->key_id : 0;
	int64_t status_class = status_class_of(row);
	uint64_t h = 0xcbf29ce484222325ull;
	struct group *g;
	size_t slot;

	h = hash_bytes(h, &minute, sizeof(minute));
	h = hash_bytes(h, &key_id, sizeof(key_id));
	h = hash_bytes(h, &status_class, sizeof(status_class));
	/* The terminator goes in too, so "ab"+"c" and "a"+"bc" differ. */
	h = hash_bytes(h, row->route, FIELD_LEN(row, route) + 1);
	h = hash_bytes(h, row->node, FIELD_LEN(row, node) + 1);
	h = hash_bytes(h, row->model, FIELD_LEN(row, model));

	for (slot = (size_t)h & log->slot_mask; log->slots[slot]; slot = (slot + 1) & log->slot_mask) {
		g = &log->groups[log->slots[slot] - 1];
		if (g->hash == h && same_group(g, row, minute, key_id, status_class))
			return g;
	}
	g = &log->groups[log->ngroups++];
	memset(g, 0, sizeof(*g));
	g->hash = h;
	g->row = row;
	g->minute = minute;
	g->key_id = key_id;
	g->status_class = status_class;
	g->first = g->last = row_index;
	log->slots[slot] = (uint32_t)log->ngroups;
	return g;
}

/* Sums the batch's rows into groups, one per rollup row they touch. */
static void group_batch(struct aigw_reqlog *log, size_t pos, size_t n)
{
	log->ngroups = 0;
	memset(log->slots, 0, (log->slot_mask + 1) * sizeof(log->slots[0]));
	for (size_t i = 0; i < n; i++) {
		const struct aigw_reqlog_row *row = &log->cells[(pos + i) & log->mask].row;
		struct group *g = find_group(log, row, (uint32_t)i);

		log->next_row[i] = UINT32_MAX;
		if (g->requests)
			log->next_row[g->last] = (uint32_t)i;
		g->last = (uint32_t)i;
		g->requests++;
		g->errors += is_error(row);
		g->latency_sum_us += latency_of(row);
		if (row->ttfb_us >= 0) {
			g->ttfb_count++;
			g->ttfb_sum_us += row->ttfb_us;
		}
		if (row->key_name[0]) {
			g->key_name = row->key_name;
			g->key_name_len = FIELD_LEN(row, key_name);
		}
		g->bytes_in += row->bytes_in > 0 ? row->bytes_in : 0;
		g->bytes_out += row->bytes_out > 0 ? row->bytes_out : 0;
		g->prompt_tokens += row->prompt_tokens > 0 ? row->prompt_tokens : 0;
		g->completion_tokens += row->completion_tokens > 0 ? row->completion_tokens : 0;
		if (row->cost_micro >= 0) {
			g->cost_micro += row->cost_micro;
			g->priced++;
		}
	}
}

/* Encodes the histogram of one group's latencies (ttfb when asked) into
 * out; returns the blob length, 0 when the group has no such values. */
static size_t group_hist(struct aigw_reqlog *log, size_t pos, const struct group *g,
			 bool ttfb, uint8_t *out)
{
	bool any = false;

	memset(log->hist, 0, sizeof(log->hist));
	for (uint32_t i = g->first; i != UINT32_MAX; i = log->next_row[i]) {
		const struct aigw_reqlog_row *row = &log->cells[(pos + i) & log->mask].row;
		int64_t v = ttfb ? row->ttfb_us : latency_of(row);
		if (v < 0)
			continue;
		log->hist[aigw_reqlog_hist_bucket((uint64_t)v)]++;
		any = true;
	}
	return any ? aigw_reqlog_hist_encode(log->hist, out, AIGW_REQLOG_HIST_MAX_BLOB) : 0;
}

static int upsert_group(struct aigw_reqlog *log, size_t pos, const struct group *g,
			struct aigw_err *err)
{
	const struct aigw_reqlog_row *row = g->row;
	sqlite3_stmt *st = log->upsert;
	size_t latency_len = group_hist(log, pos, g, false, log->latency_blob);
	size_t ttfb_len = group_hist(log, pos, g, true, log->ttfb_blob);

	sqlite3_bind_int64(st, 1, g->minute);
	bind_name(st, 2, row->route, FIELD_LEN(row, route), false);
	bind_name(st, 3, row->node, FIELD_LEN(row, node), false);
	sqlite3_bind_int64(st, 4, g->key_id);
	bind_name(st, 5, row->model, FIELD_LEN(row, model), false);
	sqlite3_bind_int64(st, 6, g->status_class);
	bind_name(st, 7, g->key_name, g->key_name_len, true);
	sqlite3_bind_int64(st, 8, g->requests);
	sqlite3_bind_int64(st, 9, g->errors);
	sqlite3_bind_int64(st, 10, g->latency_sum_us);
	sqlite3_bind_blob(st, 11, log->latency_blob, (int)latency_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, g->ttfb_count);
	sqlite3_bind_int64(st, 13, g->ttfb_sum_us);
	if (ttfb_len)
		sqlite3_bind_blob(st, 14, log->ttfb_blob, (int)ttfb_len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 14);
	sqlite3_bind_int64(st, 15, g->bytes_in);
	sqlite3_bind_int64(st, 16, g->bytes_out);
	sqlite3_bind_int64(st, 17, g->prompt_tokens);
	sqlite3_bind_int64(st, 18, g->completion_tokens);
	sqlite3_bind_int64(st, 19, g->cost_micro);
	sqlite3_bind_int64(st, 20, g->priced);
	return step_reset(log->store, st, err);
}

static void report_failure(struct aigw_reqlog *log, size_t n, const struct aigw_err *err)
{
	uint64_t now = aigw_clock_mono_ms();

	if (log->last_error_log_ms && now - log->last_error_log_ms < ERROR_LOG_EVERY_MS) {
		log->errors_unlogged++;
		return;
	}
	if (log->errors_unlogged)
		aigw_log_error("request log: %zu rows dropped: %s (and %llu more failed batches since the last report)",
			       n, err->msg, (unsigned long long)log->errors_unlogged);
	else
		aigw_log_error("request log: %zu rows dropped: %s", n, err->msg);
	log->last_error_log_ms = now ? now : 1;
	log->errors_unlogged = 0;
}

/* Writes rows [pos, pos + n) of the ring and their rollups in one
 * transaction. On failure the rows are counted as dropped: retrying them
 * would only push newer rows out of a queue that is filling meanwhile. */
static void write_batch(struct aigw_reqlog *log, size_t pos, size_t n)
{
	struct aigw_err err = { 0 };
	int rc = aigw_store_begin(log->store, &err);

	for (size_t i = 0; i < n && !rc; i++)
		rc = insert_row(log, &log->cells[(pos + i) & log->mask].row, &err);
	if (!rc) {
		group_batch(log, pos, n);
		for (size_t i = 0; i < log->ngroups && !rc; i++)
			rc = upsert_group(log, pos, &log->groups[i], &err);
	}
	if (!rc)
		rc = aigw_store_commit(log->store, &err); /* rolls back itself on failure */
	else
		aigw_store_rollback(log->store);

	if (rc) {
		atomic_fetch_add_explicit(&log->dropped, n, memory_order_relaxed);
		atomic_fetch_add_explicit(&log->write_errors, 1, memory_order_relaxed);
		report_failure(log, n, &err);
	} else {
		atomic_fetch_add_explicit(&log->written, n, memory_order_relaxed);
		atomic_fetch_add_explicit(&log->batches, 1, memory_order_relaxed);
	}
}

/* How many rows from the writer's position on are published, up to max. */
static size_t available(struct aigw_reqlog *log, size_t max)
{
	size_t pos = atomic_load_explicit(&log->dequeue_pos, memory_order_relaxed);
	size_t n = 0;

	while (n < max && cell_seq(log, (pos + n) & log->mask, memory_order_seq_cst) == pos + n + 1)
		n++;
	return n;
}

/* Gives cells back to producers, one lap on. */
static void release(struct aigw_reqlog *log, size_t n)
{
	size_t pos = atomic_load_explicit(&log->dequeue_pos, memory_order_relaxed);

	for (size_t i = 0; i < n; i++)
		cell_set_seq(log, (pos + i) & log->mask, pos + i + log->mask + 1,
			     memory_order_release);
	atomic_store_explicit(&log->dequeue_pos, pos + n, memory_order_release);
}

/* Sleeps until stop is asked, ms pass, or (when deep) a producer fills a
 * batch. Returns true when the time ran out.
 *
 * Waking a thread costs the waker a system call, 50-100 us on some
 * virtual machines: too much to add to a request. So while rows flow the
 * writer polls every POLL_MS and producers never wake it; only once the
 * queue has stayed empty for a flush interval does it sleep deeply, and
 * then the push that fills the first batch of the next burst wakes it. */
static bool wait_for_rows(struct aigw_reqlog *log, unsigned ms, bool deep)
{
	struct timespec until;
	bool timed_out;

	if (deep) {
		atomic_store(&log->sleeping, true);
		/* A batch that filled between the caller's look and the flag
		 * going up would otherwise sleep through its own wake-up. */
		if (available(log, log->batch_max) == log->batch_max ||
		    atomic_load(&log->stopping)) {
			atomic_store(&log->sleeping, false);
			return false;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	/* EINTR counts as a timeout: at worst a partial batch goes early. */
	timed_out = sem_clockwait(&log->wake, CLOCK_MONOTONIC, &until) != 0;
	if (deep)
		atomic_store(&log->sleeping, false);
	return timed_out;
}

/* SQLite's progress handler. A batch takes the writer a few milliseconds
 * of CPU; on a small machine the threads that serve requests wait behind
 * it, and the requests that arrive meanwhile make the latency tail (on two
 * cores, p99 at one connection went from 0.2 to 1.3 ms). So while the
 * queue is less than half full the writer lets anything that waits run
 * first; past that it is falling behind and keeps the CPU until it has
 * caught up, so under saturation rows are still written, not dropped. */
static int yield_if_ahead(void *arg)
{
	struct aigw_reqlog *log = arg;
	size_t queued = atomic_load_explicit(&log->enqueue_pos, memory_order_relaxed) -
			atomic_load_explicit(&log->dequeue_pos, memory_order_relaxed);

	if (queued * 2 < log->mask + 1)
		sched_yield();
	return 0;
}

/* A batch is written when it is full, when its oldest row has waited a
 * flush interval (or a deep sleep ran out with rows behind it), and at
 * stop. */
static void *writer_main(void *arg)
{
	struct aigw_reqlog *log = arg;
	unsigned poll_ms = log->flush_ms < POLL_MS ? log->flush_ms : POLL_MS;
	uint64_t pending_since = 0; /* when rows were first seen waiting; 0: none */
	unsigned empty_polls = 0;
	bool due = false;

	/* Lower priority for this thread only (Linux nice is per thread and
	 * inherited from the creator); raising it needs no privilege. A
	 * failure changes nothing else. */
	{
		id_t self = (id_t)gettid();
		int nice = getpriority(PRIO_PROCESS, self) + WRITER_NICE;
		(void)setpriority(PRIO_PROCESS, self, nice > 19 ? 19 : nice);
	}
	sqlite3_progress_handler(log->store->db, YIELD_EVERY_OPS, yield_if_ahead, log);

	for (;;) {
		size_t pos = atomic_load_explicit(&log->dequeue_pos, memory_order_relaxed);
		size_t n = available(log, log->batch_max);
		bool stopping = atomic_load(&log->stopping);
		uint64_t now = aigw_clock_mono_ms();

		if (n && !pending_since)
			pending_since = now;
		if (n && (n == log->batch_max || due || stopping ||
			  now - pending_since >= log->flush_ms)) {
			write_batch(log, pos, n);
			release(log, n);
			due = false;
			pending_since = 0;
			empty_polls = 0;
			continue;
		}
		if (stopping)
			break; /* producers are done (the contract of stop): all written */
		if (n || empty_polls * poll_ms < log->flush_ms) {
			empty_polls = n ? 0 : empty_polls + 1;
			wait_for_rows(log, poll_ms, false);
		} else {
			due = wait_for_rows(log, log->flush_ms, true);
		}
	}
	return NULL;
}

/* The writer's busy handler: polls the lock every millisecond instead of
 * SQLite's backing-off sleeps (up to 100 ms each), so that between a
 * prune's short transactions the writer gets in at once. */
static int busy_wait(void *arg, int tries)
{
	struct aigw_reqlog *log = arg;
	uint64_t now = aigw_clock_mono_ns();
	struct timespec ms = { 0, 1000000L };

	if (tries == 0)
		log->busy_since_ns = now;
	else if (now - log->busy_since_ns >= (uint64_t)LOCK_WAIT_MS * 1000000u)
		return 0;
	nanosleep(&ms, NULL);
	return 1;
}

/* ------------------------------------------------------ start and stop */

static void free_log(struct aigw_reqlog *log)
{
	sqlite3_finalize(log->insert);
	sqlite3_finalize(log->upsert);
	aigw_store_close(log->store);
	free(log->groups);
	free(log->slots);
	free(log->next_row);
	free(log->cells);
	free(log);
}

static size_t round_up_pow2(size_t n)
{
	size_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* Prepares the writer's connection: statements, the merge function, and
 * synchronous=NORMAL, which in WAL mode syncs at checkpoints instead of at
 * every commit. A power cut may lose the last batches; a process crash
 * loses nothing committed. */
static int prepare_writer(struct aigw_reqlog *log, struct aigw_err *err)
{
	struct aigw_store *s = log->store;
	int rc;

	rc = sqlite3_create_function_v2(s->db, "aigw_hist_merge", -1,
					SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
					hist_merge_sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_fail(s, rc, err);
	if ((rc = store_exec(s, "PRAGMA synchronous = NORMAL", err)))
		return rc;
	if ((rc = store_prepare(s, &log->insert, insert_sql, err)))
		return rc;
	if ((rc = store_prepare(s, &log->upsert, upsert_sql, err)))
		return rc;
	sqlite3_busy_handler(s->db, busy_wait, log);
	return 0;
}

int aigw_reqlog_start(struct aigw_reqlog **out, const char *path,
		      size_t queue_capacity, size_t batch_max,
		      unsigned flush_interval_ms, struct aigw_err *err)
{
	struct aigw_reqlog *log;
	sigset_t all, saved;
	void *mem;
	size_t capacity;
	int rc;

	*out = NULL;
	capacity = queue_capacity ? queue_capacity : AIGW_REQLOG_DEFAULT_CAPACITY;
	if (capacity > MAX_CAPACITY)
		return aigw_err_set(err, AIGW_EINVAL,
				    "request log queue capacity %zu is larger than %zu rows",
				    capacity, MAX_CAPACITY);
	capacity = round_up_pow2(capacity);
	if (!batch_max)
		batch_max = AIGW_REQLOG_DEFAULT_BATCH;
	/* Rows being written keep their cells until committed: a batch of
	 * the whole ring would refuse every push while it is written. */
	if (batch_max > capacity / 2)
		batch_max = capacity > 1 ? capacity / 2 : 1;

	if (posix_memalign(&mem, CACHE_LINE, sizeof(*log)))
		return aigw_err_set(err, AIGW_EFAIL, "out of memory for the request log");
	log = memset(mem, 0, sizeof(*log));
	/* malloc, not aigw_malloc: a capacity too large for this machine is
	 * a setting to report, not a reason to abort. */
	log->cells = malloc(capacity * sizeof(*log->cells));
	if (!log->cells) {
		free(log);
		return aigw_err_set(err, AIGW_EFAIL,
				    "out of memory for a request log queue of %zu rows", capacity);
	}
	/* The whole ring is written now, so its pages are mapped at start: a
	 * page's first touch costs 100-300 us on some machines, a stall the
	 * first lap of pushes would otherwise pay on the request path. */
	memset(log->cells, 0, capacity * sizeof(*log->cells));
	for (size_t i = 0; i < capacity; i++)
		atomic_init(&log->cells[i].seq, i);
	log->mask = capacity - 1;
	log->batch_max = batch_max;
	log->flush_ms = flush_interval_ms ? flush_interval_ms : AIGW_REQLOG_DEFAULT_FLUSH_MS;
	log->groups = aigw_calloc(batch_max, sizeof(*log->groups));
	log->slot_mask = round_up_pow2(batch_max * 2) - 1;
	log->slots = aigw_calloc(log->slot_mask + 1, sizeof(*log->slots));
	log->next_row = aigw_calloc(batch_max, sizeof(*log->next_row));

	rc = aigw_store_open(&log->store, path, AIGW_STORE_CREATE, err);
	if (!rc)
		rc = prepare_writer(log, err);
	if (rc) {
		aigw_err_prefix(err, "request log");
		free_log(log);
		return rc;
	}
	sem_init(&log->wake, 0, 0);

	/* The writer takes no signals: they belong to the threads that
	 * handle them (serve's main loop). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	rc = pthread_create(&log->thread, NULL, writer_main, log);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (rc) {
		sem_destroy(&log->wake);
		free_log(log);
		return aigw_err_set(err, AIGW_EFAIL, "cannot start the request log writer: %s",
				    rc == EAGAIN ? "too many threads" : "thread creation failed");
	}
	pthread_setname_np(log->thread, "aigw-reqlog");
	*out = log;
	return 0;
}

void aigw_reqlog_stop(struct aigw_reqlog *log)
{
	if (!log)
		return;
	atomic_store(&log->stopping, true);
	sem_post(&log->wake);
	pthread_join(log->thread, NULL);
	sem_destroy(&log->wake);
	free_log(log);
}

/* ---------------------------------------------------------------- prune */

/* Runs a batched DELETE (?1 bound, ?2 the batch size) in one transaction
 * per batch until a batch comes back short. */
static int prune_table(struct aigw_store *s, const char *sql, int64_t bound,
		       int64_t *deleted, struct aigw_err *err)
{
	struct timespec pause = { 0, 2000000L };
	sqlite3_stmt *st;
	int rc;

	if ((rc = store_prepare(s, &st, sql, err)))
		return rc;
	for (;;) {
		int64_t changes;

		if ((rc = aigw_store_begin(s, err)))
			break;
		sqlite3_bind_int64(st, 1, bound);
		sqlite3_bind_int64(st, 2, PRUNE_BATCH);
		if ((rc = step_reset(s, st, err))) {
			aigw_store_rollback(s);
			break;
		}
		changes = sqlite3_changes64(s->db);
		if ((rc = aigw_store_commit(s, err)))
			break;
		if (deleted)
			*deleted += changes;
		if (changes < PRUNE_BATCH)
			break;
		/* Room for a waiting writer (it polls every millisecond). */
		nanosleep(&pause, NULL);
	}
	sqlite3_finalize(st);
	return rc;
}

int aigw_reqlog_prune(struct aigw_store *s, int64_t cutoff_ms, int64_t *rows_deleted,
		      struct aigw_err *err)
{
	int64_t rows = 0;
	int rc;

	if (rows_deleted)
		*rows_deleted = 0;
	if (!sqlite3_get_autocommit(s->db))
		return aigw_err_set(err, AIGW_EINVAL,
				    "cannot prune the request log inside a transaction");
	rc = prune_table(s,
			 "DELETE FROM request_log WHERE id IN (SELECT id FROM request_log"
			 " WHERE ts_ms < ?1 ORDER BY ts_ms LIMIT ?2)",
			 cutoff_ms, &rows, err);
	if (rows_deleted)
		*rows_deleted = rows;
	/* A minute's rollup goes only once the whole minute is before the
	 * cutoff: the rest of it still counts rows that are kept. */
	if (!rc)
		rc = prune_table(s,
				 "DELETE FROM request_rollup WHERE (minute, route, node, key_id,"
				 " model, status_class) IN (SELECT minute, route, node, key_id,"
				 " model, status_class FROM request_rollup WHERE minute < ?1"
				 " ORDER BY minute LIMIT ?2)",
				 minute_of(cutoff_ms), NULL, err);
	if (rc)
		aigw_err_prefix(err, "cannot prune the request log");
	return rc;
}
