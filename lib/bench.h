/* bench: the load generator behind `aigw bench`.
 *
 * Its own HTTP/1.1 client on one lib/ev reactor: N keep-alive connections,
 * non-blocking connects, request bytes built once before the run,
 * responses parsed with lib/http (and lib/sse for streams). A load tester
 * that spends more per request than what it measures measures itself, so
 * nothing on the request path allocates or formats text.
 *
 * Two ways to make load:
 *  - closed loop: every connection sends its next request as soon as the
 *    previous answer is complete (like wrk);
 *  - open loop (rate > 0): requests are due at a fixed rate (constant gaps
 *    or Poisson arrivals) whatever the target does; a request waits for a
 *    free connection when none is idle, and its latency runs from the time
 *    it was due, not from the time it could be sent. A stall of the target
 *    therefore shows in the percentiles instead of silently lowering the
 *    load (coordinated omission, corrected as wrk2 does).
 *
 * Latencies are kept in lib/metrics histograms (3 significant digits,
 * fixed memory), in microseconds. Streamed answers (text/event-stream, or
 * every answer with stream set) are read as OpenAI chat.completion.chunk
 * events: time to first token, inter-token latency, time per output
 * token and tokens per second, and goodput under SLOs. */
#ifndef AIGW_BENCH_H
#define AIGW_BENCH_H

#include <cJSON.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "metrics.h"
#include "str.h"

/* Load shapes of the open loop. */
enum aigw_bench_arrivals {
	AIGW_BENCH_CONSTANT = 0,
	AIGW_BENCH_POISSON,
};

/* Once a second during a run, for a progress line. */
struct aigw_bench_progress {
	uint64_t elapsed_us;
	uint64_t completed;       /* answers and failures so far */
	uint64_t errors;          /* failures and non-2xx answers so far */
	double rate;              /* completed per second over the last second */
	uint64_t p99_us;          /* of the last second's latencies */
};
typedef void aigw_bench_progress_fn(const struct aigw_bench_progress *p, void *arg);

struct aigw_bench_config {
	const char *url;              /* http://host[:port][/path] */
	const char *method;           /* NULL: POST with a body, else GET */
	const struct aigw_strv *headers; /* "Name: value", may be NULL */
	const char *body;             /* NULL: none (unless dataset) */
	size_t body_len;
	const struct aigw_strv *dataset; /* bodies; used instead of body */
	bool dataset_random;          /* sample the dataset (else in order) */
	int connections;              /* >= 1 */
	uint64_t requests;            /* stop after this many; 0: no limit */
	uint64_t duration_us;         /* stop after this long; 0: no limit */
	double rate;                  /* requests/s; 0: closed loop */
	int arrivals;                 /* enum aigw_bench_arrivals */
	uint64_t timeout_us;          /* per request; 0: none */
	bool stream;                  /* read every answer as an SSE stream */
	uint64_t slo_ttft_us;         /* goodput: 0 means no bound */
	uint64_t slo_e2e_us;
	uint64_t seed;                /* of Poisson gaps and dataset sampling */
	const char *ca_file;          /* https: PEM trust anchors; NULL: the system's */
	/* When a signal handler sets *interrupted, the run ends at the next
	 * turn of the loop and reports what it measured. May be NULL. */
	volatile sig_atomic_t *interrupted;
	aigw_bench_progress_fn *progress; /* may be NULL */
	void *progress_arg;
};

/* Defaults: 1 connection, closed loop, 10 s timeout, seed 1. */
void aigw_bench_config_init(struct aigw_bench_config *c);

/* How a request can fail before it gets a complete answer. */
enum aigw_bench_failure {
	AIGW_BENCH_CONNECT = 0, /* the connection could not be made */
	AIGW_BENCH_RESET,       /* closed or reset before the answer ended */
	AIGW_BENCH_TIMEOUT,     /* no complete answer within timeout_us */
	AIGW_BENCH_MALFORMED,   /* not sound HTTP/1.1 (or a broken stream) */
	AIGW_BENCH_FAILURE_COUNT
};
extern const char *const aigw_bench_failure_names[AIGW_BENCH_FAILURE_COUNT];

/* One second of the run. */
struct aigw_bench_second {
	uint64_t completed, errors;
	uint64_t p50_us, p99_us, max_us;
};

struct aigw_bench_result {
	char url[1100];
	int connections;
	double rate;                  /* 0: closed loop */
	int arrivals;
	uint64_t elapsed_us;
	uint64_t completed;           /* answers + failures */
	uint64_t answers;             /* complete HTTP answers, any status */
	uint64_t ok;                  /* 2xx answers */
	uint64_t errors;              /* failures + non-2xx answers */
	uint64_t status[600];         /* answers by status code */
	uint64_t failures[AIGW_BENCH_FAILURE_COUNT];
	char last_failure[256];       /* detail of the last failure */
	uint64_t retry_after_count;   /* 429 answers with a Retry-After */
	uint64_t retry_after_min_s, retry_after_max_s;
	uint64_t bytes_in;
	uint64_t cpu_user_us, cpu_system_us;
	bool saturated;               /* the generator used ~ a whole core */
	bool lagged;                  /* open loop: requests could not be sent on time */
	bool interrupted;             /* ended early by *interrupted */
	struct aigw_hist latency;     /* us; open loop: from the time due */

	/* Streams. */
	uint64_t streams;             /* complete 2xx streamed answers */
	uint64_t output_tokens;       /* usage.completion_tokens, else deltas */
	uint64_t goodput;             /* 2xx answers within every SLO */
	struct aigw_hist ttft, itl, tpot; /* us */
	struct aigw_hist tokens_per_sec;  /* per request, in thousandths */

	struct aigw_bench_second *seconds;
	size_t n_seconds, cap_seconds;
};

/* Allocates the histograms. Returns 0 or AIGW_EINVAL. */
int aigw_bench_result_init(struct aigw_bench_result *r, struct aigw_err *err);
void aigw_bench_result_release(struct aigw_bench_result *r);

/* Runs one load test as configured, filling r (initialised, empty).
 * https:// targets are verified against the trust anchors of ca_file
 * (TLS through BearSSL); a failed handshake is a connect failure.
 * Returns 0 when the run happened, even when every request failed (the
 * failures are in r). Returns AIGW_EINVAL for a bad configuration (URL,
 * header, trust anchors), AIGW_ENOTFOUND for a ca_file that cannot be
 * read, and AIGW_EFAIL when the target's name does not resolve or the
 * system refuses a resource; err says which. */
int aigw_bench_run(const struct aigw_bench_config *c, struct aigw_bench_result *r,
		   struct aigw_err *err);

/* Whether nothing reached the target: no answer, only connect failures. */
bool aigw_bench_unreachable(const struct aigw_bench_result *r);

/* ------------------------------------------------------------ parsing */

/* "R" or "FROM:TO:STEP" (requests/s, TO >= FROM, STEP > 0). */
int aigw_bench_parse_rate(const char *s, double *from, double *to, double *step,
			  struct aigw_err *err);
/* "ttft=500ms,e2e=5s" (either or both). */
int aigw_bench_parse_slo(const char *s, uint64_t *ttft_us, uint64_t *e2e_us,
			 struct aigw_err *err);
/* A JSON-lines file's contents: each non-blank line must be a JSON
 * object; they are appended to out. Errors name the line. */
int aigw_bench_parse_dataset(const char *data, size_t len, struct aigw_strv *out,
			     struct aigw_err *err);

/* ------------------------------------------------------------ reports */

/* The run as one JSON object (latencies as integer microseconds). */
cJSON *aigw_bench_json(const struct aigw_bench_result *r);
/* The CSV header line and one row for a run. */
void aigw_bench_csv_header(struct aigw_buf *out);
void aigw_bench_csv_row(const struct aigw_bench_result *r, struct aigw_buf *out);
/* The report for people: aligned lines, durations as "12.5ms". */
void aigw_bench_text(const struct aigw_bench_result *r, struct aigw_buf *out);
/* One line per rate step: rate, achieved, percentiles, errors. */
void aigw_bench_steps_text(const struct aigw_bench_result *steps, size_t n,
			   struct aigw_buf *out);

/* Two reports written by aigw_bench_json side by side with B/A ratios.
 * Returns AIGW_EINVAL when either is not such a report (err names it:
 * "A: ..."). */
int aigw_bench_compare(const cJSON *a, const cJSON *b, struct aigw_buf *out,
		       struct aigw_err *err);

/* ------------------------------------------------------------ overhead */

/* Percentiles kept per round of an overhead run. */
#define AIGW_BENCH_OVERHEAD_PCTS 5 /* p50 p90 p99 p99.9 max */
extern const char *const aigw_bench_overhead_names[AIGW_BENCH_OVERHEAD_PCTS];

struct aigw_bench_overhead {
	int rounds;
	/* Per percentile: median over rounds of each target's value, the
	 * added latency (median via - median direct) and the spread of the
	 * per-round differences (via - direct in the same round). */
	uint64_t direct_us[AIGW_BENCH_OVERHEAD_PCTS], via_us[AIGW_BENCH_OVERHEAD_PCTS];
	int64_t added_us[AIGW_BENCH_OVERHEAD_PCTS];
	int64_t spread_min_us[AIGW_BENCH_OVERHEAD_PCTS], spread_max_us[AIGW_BENCH_OVERHEAD_PCTS];
	double direct_rps, via_rps;   /* medians */
	uint64_t direct_errors, via_errors;
};

/* Runs c against direct then via, rounds times (each round a whole run
 * as c describes; c->url is ignored). Returns as aigw_bench_run; a round
 * where a target could not be reached, or an interruption, fails with
 * AIGW_EFAIL. */
int aigw_bench_overhead_run(const struct aigw_bench_config *c, const char *direct,
			    const char *via, int rounds, struct aigw_bench_overhead *out,
			    struct aigw_err *err);
cJSON *aigw_bench_overhead_json(const struct aigw_bench_overhead *o, const char *direct,
				const char *via);
void aigw_bench_overhead_text(const struct aigw_bench_overhead *o, struct aigw_buf *out);

#endif
