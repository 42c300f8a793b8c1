/* oai: writers of the OpenAI shapes every adapter answers in, so that the
 * chunks, usage objects and errors the clients see are the same whatever
 * the provider. Internal to lib/provider/.
 *
 * Chunks are written as whole SSE events ("data: {...}\n\n"), in the
 * member order OpenAI uses. Functions taking a "json" string take a JSON
 * string literal as it appeared in the provider's answer, quotes included
 * (escapes are valid as they are, so text deltas are copied, not decoded
 * and encoded again). */
#ifndef AIGW_PROVIDER_OAI_H
#define AIGW_PROVIDER_OAI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "buf.h"
#include "provider.h"

/* What every chunk of one stream repeats. Strings are plain (unescaped). */
struct aigw_oai_head {
	const char *id;
	const char *model;
	int64_t created;
};

/* Appends s (n bytes of UTF-8) as a quoted JSON string. */
void aigw_oai_put_string(struct aigw_buf *b, const char *s, size_t n);

/* The first chunk of a chat stream: {"role":"assistant","content":""}. */
void aigw_oai_chunk_role(struct aigw_buf *out, const struct aigw_oai_head *h);
/* A text delta; json is a JSON string literal (quotes included). */
void aigw_oai_chunk_text(struct aigw_buf *out, const struct aigw_oai_head *h, const char *json,
			 size_t json_len);
/* A legacy completions text chunk ("object":"text_completion"). */
void aigw_oai_chunk_completion_text(struct aigw_buf *out, const struct aigw_oai_head *h,
				    const char *json, size_t json_len);
/* The start of tool call number index (id and name plain strings),
 * with empty arguments. */
void aigw_oai_chunk_tool_start(struct aigw_buf *out, const struct aigw_oai_head *h, int index,
			       const char *id, const char *name);
/* More arguments of tool call number index; json is a JSON string
 * literal holding the next piece of the arguments text. */
void aigw_oai_chunk_tool_args(struct aigw_buf *out, const struct aigw_oai_head *h, int index,
			      const char *json, size_t json_len);
/* The empty delta with a finish reason ("stop", "length", "tool_calls",
 * "content_filter"). */
void aigw_oai_chunk_finish(struct aigw_buf *out, const struct aigw_oai_head *h,
			   const char *reason);
/* The usage chunk ("choices":[] and "usage"), sent when the client asked
 * for stream_options.include_usage. */
void aigw_oai_chunk_usage(struct aigw_buf *out, const struct aigw_oai_head *h,
			  const struct aigw_usage *u);
/* data: [DONE] */
void aigw_oai_done(struct aigw_buf *out);
/* An error inside a stream: data: {"error":{...}}. */
void aigw_oai_stream_error(struct aigw_buf *out, const char *type, const char *code,
			   const char *message);

/* {"error":{"message":..,"type":..,"code":..}}; code may be NULL (null). */
void aigw_oai_error(struct aigw_buf *out, const char *type, const char *code,
		    const char *message);
/* The OpenAI error type for an HTTP status (400 invalid_request_error,
 * 401 authentication_error, 403 permission_error, 404 not_found_error,
 * 429 rate_limit_error, 5xx server_error...). */
const char *aigw_oai_error_type(int status);

/* A body that is not JSON (a proxy's HTML page, plain text) quoted for an
 * error message: its first AIGW_OAI_QUOTE_MAX bytes, not cut inside a
 * UTF-8 sequence, control characters as spaces, into out (at least
 * AIGW_OAI_QUOTE_MAX + 1 bytes). Returns out, or a fixed sentence for an
 * empty body. */
#define AIGW_OAI_QUOTE_MAX 256
const char *aigw_oai_quote(char *out, const char *body, size_t len);

/* Reads OpenAI's usage into u: aigw_oai_read_usage from a whole answer or
 * chunk (its top-level "usage"), aigw_oai_read_usage_object from the usage
 * object itself (prompt, completion and prompt_tokens_details.cached_tokens).
 * Counts not present are left as they were. -1 when the text is not a
 * JSON object. */
int aigw_oai_read_usage(const char *json, size_t len, struct aigw_usage *u);
int aigw_oai_read_usage_object(const char *json, size_t len, struct aigw_usage *u);

/* Does a chat or completions chunk carry generated output: a non-empty
 * "content" or "text", or a tool call? The role chunk that opens a chat
 * stream does not. */
bool aigw_oai_chunk_has_output(const char *data, size_t n);

/* The usage object: prompt, completion, total, and
 * prompt_tokens_details.cached_tokens when cache reads are known.
 * Unknown counts are written as 0. */
void aigw_oai_put_usage(struct aigw_buf *out, const struct aigw_usage *u);
cJSON *aigw_oai_usage_json(const struct aigw_usage *u);

/* Parses a JSON object for an adapter; on failure err says
 * "<what>: invalid JSON at byte N" (EPROTO). */
cJSON *aigw_oai_parse(const char *text, size_t len, const char *what, struct aigw_err *err);

#endif
