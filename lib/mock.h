/* mock: a fast, deterministic fake of an LLM provider, for tests, demos
 * and benchmarks (`aigw mock`), served by lib/server. It speaks one
 * dialect, the wire format of one provider:
 *
 * openai (default)
 *   POST /v1/chat/completions   chat.completion, or an SSE stream of
 *                               chat.completion.chunk events with "stream"
 *                               (stream_options.include_usage: a last
 *                               chunk with the usage, "usage":null on the
 *                               others)
 *   POST /v1/completions        text_completion, streamed the same way
 *   POST /v1/embeddings         deterministic unit vectors (float or base64)
 *   GET  /v1/models             the model list; GET /v1/models/ID one model
 * azure
 *   POST /openai/deployments/{deployment}/chat/completions, /completions,
 *   /embeddings?api-version=...: OpenAI's bodies and answers, the model
 *   being the deployment. No api-version: 404 {"error":{"code":"404",...}};
 *   no api-key header (nor Authorization: Bearer): 401.
 * anthropic
 *   POST /v1/messages (x-api-key: 401 without; anthropic-version: 400
 *   without; model, max_tokens, messages required): a message, or its
 *   event stream (message_start, content_block_start, ping, one
 *   content_block_delta per token, content_block_stop, message_delta,
 *   message_stop). usage.cache_read_input_tokens counts the words of the
 *   system and content blocks marked with cache_control; input_tokens
 *   the others. GET /v1/models, GET /v1/models/ID.
 * gemini
 *   POST /v1beta/models/{model}:generateContent, :streamGenerateContent
 *   (?alt=sse only: one data event per token, the finish reason on the
 *   last, usageMetadata on each), :embedContent, :batchEmbedContents
 *   (outputDimensionality); GET /v1beta/models, /v1beta/models/{model}.
 *   The key in x-goog-api-key or ?key= (403 PERMISSION_DENIED without).
 *   generationConfig.maxOutputTokens caps the answer (finishReason
 *   MAX_TOKENS).
 * ollama
 *   POST /api/chat, /api/generate: NDJSON streams unless "stream" is
 *   false, one line per token then a "done" line with the counts and
 *   durations; options.num_predict caps the answer (done_reason length).
 *   POST /api/embed; GET /api/tags. Errors are {"error":"..."}.
 *
 * Errors have each dialect's shape and names for the status.
 *
 * Determinism: the completion text depends only on the prompt (the
 * decoded contents of the messages, or the prompt): each token is a word
 * of a fixed vocabulary picked by a hash of the prompt and the token's
 * position, written with a leading space after the first. Its length is
 * the configured number of tokens, or the request's max tokens (OpenAI's
 * max_tokens or max_completion_tokens, Anthropic's max_tokens, Gemini's
 * maxOutputTokens, Ollama's num_predict) when smaller (then the finish
 * reason is the dialect's length one). prompt_tokens is the number of
 * whitespace-separated words in the prompt (for token-array inputs, the
 * number of tokens). An embedding is derived from a hash of its input
 * text: the same input gives the same vector in every dialect, of
 * `dimensions` entries (default AIGW_MOCK_DIMENSIONS), with unit length.
 *
 * Tool calls: when the request offers tools (function tools), its last
 * message is a user message (not a tool result), and the tool choice is
 * not "none" (OpenAI "none", Anthropic {"type":"none"}, Gemini mode
 * NONE), the answer calls the forced tool (OpenAI {"type":"function",
 * "function":{"name":N}}, Anthropic {"type":"tool","name":N}, Gemini mode
 * ANY with allowedFunctionNames: the first) or else the first tool, with
 * the arguments {"query": "<the first AIGW_MOCK_QUERY_WORDS (6) words of the
 * last user text, joined by single spaces>"}, exactly that JSON text.
 * The finish reason is the dialect's tool one (tool_calls, tool_use;
 * Gemini STOP with a functionCall part; Ollama stop with
 * message.tool_calls). Its output tokens are its argument pieces:
 * `{"query": `, `"` with the first word, ` word` for each other word,
 * `"}` (at least three); OpenAI and Anthropic streams send one piece per
 * event (tool_calls argument deltas, input_json_delta), paced like
 * tokens; Gemini and Ollama send the call in one event. Max tokens do
 * not cut a tool call. After a tool result the answer is text as usual.
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
#define AIGW_MOCK_QUERY_WORDS 6 /* words of a tool call's query */

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
	/* A slow spell: from slow_at_ms after the start, for slow_for_ms,
	 * the latency is multiplied by slow_factor (for failure scenarios:
	 * a node that turns slow and recovers). slow_factor 0: none. */
	int64_t slow_at_ms, slow_for_ms;
	double slow_factor;
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
