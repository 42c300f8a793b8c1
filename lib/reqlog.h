/* reqlog: the request log writer, one row per request.
 *
 * Workers hand finished requests to aigw_reqlog_push(), which copies the
 * row into a bounded lock-free queue and returns at once: the request path
 * never waits on disk and never allocates. One writer thread, with its own
 * database connection, takes rows off the queue and inserts them in
 * batches, each batch one transaction that also adds the rows into the
 * per-minute rollups (request_rollup) that `aigw stats` reads. When the
 * queue is full the row is dropped and counted, never waited for; when a
 * write fails (disk full, lock held too long) the batch is dropped and
 * counted, the failure is logged, and the writer carries on.
 *
 * Rows are plain fixed-size structs with inline strings, so a push is one
 * memcpy. Strings longer than their field are cut by the caller
 * (aigw_strlcpy); rows hold no secrets (never put a key or a credential in
 * one). */
#ifndef AIGW_REQLOG_H
#define AIGW_REQLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

/* Optional numbers hold this (any negative value) when unknown; they are
 * stored as NULL. */
#define AIGW_REQLOG_NONE (-1)

struct aigw_reqlog_row {
	int64_t ts_ms;             /* wall clock at request start */
	int64_t key_id;            /* <= 0: no key (auth none or failed) */
	int64_t latency_us;        /* total, as the client saw it */
	int64_t upstream_us;       /* optional: time spent on the upstream */
	int64_t ttfb_us;           /* optional: first byte from upstream; streams: first token */
	int64_t bytes_in;          /* optional */
	int64_t bytes_out;         /* optional */
	int64_t prompt_tokens;     /* optional: from the provider's usage */
	int64_t completion_tokens; /* optional */
	int64_t cost_micro;        /* optional: USD millionths; unknown price is NONE, not 0 */
	int32_t status;            /* HTTP status sent to the client; 0 if none was */
	bool stream;
	/* Empty strings are stored as NULL, except request_id (stored as ''). */
	char request_id[40];
	char key_name[65];
	char route[65];
	char node[65];
	char model[129];
	char error[48]; /* short error code, e.g. "upstream_timeout" */
};

/* Zeroes a row and sets every optional number to AIGW_REQLOG_NONE. */
void aigw_reqlog_row_init(struct aigw_reqlog_row *row);

struct aigw_reqlog;

/* Defaults used when an argument of aigw_reqlog_start is 0. The queue is
 * allocated and mapped at start: capacity * ~560 bytes (2.3 MB for the
 * default). At 20,000 rows/s the default absorbs 0.2 s of stalled disk
 * before rows drop; the writer itself commits well over 100,000 rows/s. */
#define AIGW_REQLOG_DEFAULT_CAPACITY 4096
#define AIGW_REQLOG_DEFAULT_BATCH 1024
#define AIGW_REQLOG_DEFAULT_FLUSH_MS 200

/* Opens its own connection to the database at path (created and migrated
 * as needed) and starts the writer thread. queue_capacity is rounded up to
 * a power of two; batch_max is the most rows one transaction holds, at
 * most half the capacity (rows keep their place in the queue until their
 * batch is committed); a row waits at most about flush_interval_ms before
 * its batch is written. Larger batches write faster (fewer commits): with
 * every request in its own rollup group, 1024 rows a batch still commit
 * over 25,000 rows/s on a slow virtual disk, 4096 about 40,000.
 * *out is set on success and NULL on failure. */
int aigw_reqlog_start(struct aigw_reqlog **out, const char *path,
		      size_t queue_capacity, size_t batch_max,
		      unsigned flush_interval_ms, struct aigw_err *err);

/* Queues a copy of row without blocking or allocating; safe from any
 * number of threads at once. Returns false, and counts the row as
 * dropped, when the queue is full. log NULL (logging off) returns false
 * and counts nothing. Not to be called once aigw_reqlog_stop has begun. */
bool aigw_reqlog_push(struct aigw_reqlog *log, const struct aigw_reqlog_row *row);

/* Writes every queued row, joins the writer thread, closes its connection
 * and frees log. Call it after every producer has stopped pushing. Takes
 * as long as the writes, or up to 5 s more while another process holds
 * the database's write lock. NULL is a no-op. */
void aigw_reqlog_stop(struct aigw_reqlog *log);

/* Counters since start, readable from any thread at any time (each is
 * read on its own, so a set taken while rows flow need not add up). Once
 * stopped: pushed == written + rows lost to failed writes, and dropped ==
 * rows refused by a full queue + rows lost to failed writes. */
struct aigw_reqlog_counters {
	uint64_t pushed;       /* rows accepted into the queue */
	uint64_t written;      /* rows committed to the database */
	uint64_t dropped;      /* rows lost: queue full, or their batch failed */
	uint64_t batches;      /* transactions committed */
	uint64_t write_errors; /* transactions that failed */
};
void aigw_reqlog_counters(const struct aigw_reqlog *log, struct aigw_reqlog_counters *out);

/* The queue's capacity after rounding. */
size_t aigw_reqlog_capacity(const struct aigw_reqlog *log);

/* Deletes request_log rows with ts_ms < cutoff_ms and the rollups of
 * minutes that end at or before it, in many short transactions so a
 * running writer is held up for milliseconds at a time, not for the whole
 * prune. Must not be called inside a transaction. *rows_deleted (optional)
 * receives the number of raw rows deleted, also on failure. */
int aigw_reqlog_prune(struct aigw_store *s, int64_t cutoff_ms, int64_t *rows_deleted,
		      struct aigw_err *err);

/* ---- latency histograms of request_rollup (latency_hist, ttfb_hist) ----
 *
 * Log-linear buckets over microseconds: values 0..7 have a bucket each;
 * above, each power of two is split into 8 equal buckets, so a bucket is
 * at most 1/8 as wide as its lower bound and a percentile read from its
 * middle is within about 6% of the true value. Values from 2^40 us (12.7
 * days) up share the last bucket.
 *
 * Blob format (sparse, since a minute's row touches few buckets): one
 * byte 0x01 (the format version), then for each non-empty bucket in
 * increasing order two unsigned LEB128 varints: the gap (bucket index
 * minus previous index minus 1, the previous index starting at -1) and
 * the count (>= 1). An empty histogram is the version byte alone; a NULL
 * or zero-length blob reads as empty too. */
#define AIGW_REQLOG_HIST_BUCKETS 304

/* The bucket a value falls in, and the smallest and largest values of a
 * bucket. */
unsigned aigw_reqlog_hist_bucket(uint64_t us);
uint64_t aigw_reqlog_hist_lower(unsigned bucket);
uint64_t aigw_reqlog_hist_upper(unsigned bucket);

/* Adds the blob's counts into counts[]. Returns 0, or AIGW_EINVAL for a
 * blob that is not in the format above (counts may be partly added). */
int aigw_reqlog_hist_decode(const void *blob, size_t len,
			    uint64_t counts[AIGW_REQLOG_HIST_BUCKETS]);
/* Encodes counts[] into out; returns the length, or 0 when cap is too
 * small. AIGW_REQLOG_HIST_MAX_BLOB is always enough. */
#define AIGW_REQLOG_HIST_MAX_BLOB (1 + AIGW_REQLOG_HIST_BUCKETS * 12)
size_t aigw_reqlog_hist_encode(const uint64_t counts[AIGW_REQLOG_HIST_BUCKETS],
			       uint8_t *out, size_t cap);
/* The value at percentile p (0..100) of counts[] (the middle of the bucket
 * holding it); 0 for an empty histogram. */
uint64_t aigw_reqlog_hist_percentile(const uint64_t counts[AIGW_REQLOG_HIST_BUCKETS],
				     double p);

#endif
