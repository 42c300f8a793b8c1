/* mock: a fast, deterministic fake of an OpenAI-compatible provider, for
 * tests, demos and benchmarks (`aigw mock`), served by lib/server.
 *
 * Endpoints:
 *   POST /v1/chat/completions   chat.completion, or an SSE stream of
 *                               chat.completion.chunk events with "stream"
 *   POST /v1/completions        text_completion, streamed the same way
 *   POST /v1/embeddings         deterministic unit vectors (float or base64)
 *   GET  /v1/models             the model list; GET /v1/models/ID one model
 *
 * Determinism: the completion text depends only on the prompt (the
 * decoded contents of the messages, or the prompt): each token is a word
 * of a fixed vocabulary picked by a hash of the prompt and the token's
 * position, written with a leading space after the first. Its length is
 * the configured number of tokens, or the request's max_tokens (or
 * max_completion_tokens) when smaller (then finish_reason is "length").
 * prompt_tokens is the number of whitespace-separated words in the prompt
 * (for token-array inputs, the number of tokens). An embedding is derived
 * from a hash of its input text: the same input gives the same vector, of
 * `dimensions` entries (default AIGW_MOCK_DIMENSIONS), with unit length.
 *
 * Timing and failures are configured: a latency (with a uniform jitter
 * from a seeded PRNG) before the answer or a stream's first byte; for
 * streams a time to first token and a pace in tokens per second; a share
 * of requests answered with an error status, and a share answered 429
 * with Retry-After. The model endpoints answer at once and never fail.
 *
 * Nothing on the request path allocates beyond the request's pool and
 * per-worker buffers that keep their capacity: the mock must never be the
 * bottleneck of a benchmark. */
#ifndef AIGW_MOCK_H
#define AIGW_MOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "server.h"
#include "str.h"

#define AIGW_MOCK_DIMENSIONS 8
#define AIGW_MOCK_DIMENSIONS_MAX 4096
#define AIGW_MOCK_TOKENS_MAX 100000

/* The API imitated: its paths, checks, answers, streams and errors. */
enum aigw_mock_dialect {
	AIGW_MOCK_OPENAI,
	AIGW_MOCK_ANTHROPIC,
	AIGW_MOCK_GEMINI,
	AIGW_MOCK_OLLAMA,
	AIGW_MOCK_AZURE,
	AIGW_MOCK_DIALECTS
};

/* Their names, in the enum's order, NULL-terminated. */
extern const char *const aigw_mock_dialects[];

/* The dialect called name, or -1. */
int aigw_mock_dialect_parse(const char *name);

struct aigw_mock_config {
	int dialect;              /* enum aigw_mock_dialect */
	int64_t latency_ms;       /* before the answer, or a stream's first byte */
	int64_t jitter_ms;        /* uniform in [-jitter, +jitter] added to it */
	int64_t ttft_ms;          /* streams: from the first byte to the first token */
	double tokens_per_sec;    /* streams: pace of tokens; 0 sends them at once */
	int tokens;               /* completion length (capped by max_tokens) */
	double error_rate;        /* share of requests answered error_status */
	int error_status;         /* 400..599 */
	double rate_limit_rate;   /* share of requests answered 429 */
	int64_t retry_after_ms;   /* Retry-After of those answers */
	struct aigw_strv models;  /* served models; empty: defaults, any accepted */
	uint64_t seed;            /* of the PRNG behind jitter and failures */
	uint64_t max_requests;    /* stop the server after this many; 0: never */
	int64_t duration_ms;      /* stop the server after this long; 0: never */
	uint64_t grace_ms;        /* grace of those stops */
};

/* The defaults: no delays, 16 tokens, no failures, error status 500,
 * Retry-After 1 s, default models, seed 1, no limits, grace 5 s. The
 * models list is empty and owned by the config: release it with
 * aigw_mock_config_release. */
void aigw_mock_config_init(struct aigw_mock_config *c);
void aigw_mock_config_release(struct aigw_mock_config *c);

/* The models listed when none are configured. */
extern const char *const aigw_mock_default_models[];

struct aigw_mock;

/* Creates a mock from c (copied). Returns 0, or AIGW_EINVAL with err
 * filled when a value is out of range. */
int aigw_mock_new(struct aigw_mock **out, const struct aigw_mock_config *c,
		  struct aigw_err *err);
void aigw_mock_free(struct aigw_mock *m); /* NULL is a no-op */

/* Points a server config at the mock: its handler and per-worker
 * callbacks (per-worker state; the --duration timer). The mock must
 * outlive the server run. */
void aigw_mock_attach(struct aigw_mock *m, struct aigw_server_config *sc);

/* Requests received so far, over all workers. */
uint64_t aigw_mock_requests(const struct aigw_mock *m);

#endif
