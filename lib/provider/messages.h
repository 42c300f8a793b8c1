/* messages: the gateway's inbound Anthropic Messages API (POST
 * /v1/messages). Clients using Anthropic's SDKs are served from any
 * provider: their request is translated to an OpenAI chat-completions
 * body (which the provider layer then translates for the node), and the
 * OpenAI answer or stream is translated back to Anthropic's shapes.
 *
 * Pure translation: no I/O, no global state; callable from any thread.
 *
 * What is not carried over (OpenAI has no equivalent): top_k, cache_control,
 * thinking blocks and the "thinking" option (dropped); document blocks,
 * images inside tool results and server tools (refused with AIGW_EINVAL).
 * Unknown top-level fields are dropped. */
#ifndef AIGW_PROVIDER_MESSAGES_H
#define AIGW_PROVIDER_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "provider.h"
#include "sse.h"

/* Translates an Anthropic Messages request (body, len bytes) to an OpenAI
 * chat request body, appended to out as JSON text.
 *
 *   model, model_cap  [out] the client's "model" (for routing), NUL-terminated
 *   stream            [out] the client's "stream" flag (false when absent)
 *
 * A stream asks for "stream_options":{"include_usage":true}, since only the
 * usage chunk tells the input tokens of an OpenAI stream. Returns 0, or
 * AIGW_EINVAL with err naming the field ("messages[1].content[0].type:
 * unknown block type 'x'", "max_tokens: required"); out then holds
 * nothing useful. */
int aigw_messages_request(const char *body, size_t len, struct aigw_buf *out, char *model,
			  size_t model_cap, bool *stream, struct aigw_err *err);

/* Translates a whole OpenAI answer to the Anthropic shape, appended to out.
 *
 *   status  [in/out] the upstream's status; a success keeps it, an error
 *           outside 4xx/5xx becomes 502
 *   body    a chat.completion (2xx) or an OpenAI error body of any shape
 *
 * A 2xx chat.completion becomes a "message"; an error becomes
 * {"type":"error","error":{"type":aigw_messages_error_type(status),
 * "message":...}} with the upstream's message, or the first 256 bytes of a
 * body that has none. Returns 0, or AIGW_EFAIL with err when a 2xx body is
 * not a chat.completion (the gateway then answers 502). */
int aigw_messages_answer(int *status, const char *body, size_t len, struct aigw_buf *out,
			 struct aigw_err *err);

/* Appends an Anthropic error body for the gateway's own errors:
 * {"type":"error","error":{"type":<aigw_messages_error_type(status)>,
 * "message":message}}. message NULL: "". */
void aigw_messages_error(struct aigw_buf *out, int status, const char *message);

/* The Anthropic error type for an HTTP status: 400 invalid_request_error,
 * 401 authentication_error, 403 permission_error, 404 not_found_error,
 * 413 request_too_large, 429 rate_limit_error, 529 overloaded_error, any
 * other 5xx api_error, any other status invalid_request_error. A static
 * string. */
const char *aigw_messages_error_type(int status);

/* An OpenAI chat.completion.chunk stream being translated to Anthropic's
 * event stream (message_start, content_block_start/delta/stop,
 * message_delta, message_stop; or an error event). Caller-allocated;
 * the members are private to messages.c except usage. */
struct aigw_messages_stream {
	struct aigw_sse sse;
	struct aigw_buf model;     /* the client's model, for message_start */
	struct aigw_usage usage;   /* as reported so far (-1: unknown) */
	const char *stop_reason;   /* Anthropic's, from the last finish_reason */
	int blocks;                /* content blocks started so far */
	int open;                  /* index of the open block; -1: none */
	int open_tool;             /* OpenAI tool index of the open block; -1: text */
	struct aigw_buf open_id;   /* its id as the upstream wrote it (JSON) */
	bool started;              /* message_start was sent */
	bool ended;                /* message_stop or an error event was sent */
	struct aigw_buf *out;      /* during a feed */
	struct aigw_err *err;
};

/* Starts a stream; model (copied) is the client's, reported in
 * message_start. Every stream is released, whatever happened. */
void aigw_messages_stream_init(struct aigw_messages_stream *s, const char *model);
/* Feeds upstream bytes (any split); appends the Anthropic events they
 * complete to out ("event: <type>\ndata: <json>\n\n" each). data: [DONE]
 * ends the message (the open block's content_block_stop, message_delta
 * with the stop reason and usage, message_stop). An OpenAI error chunk
 * becomes an error event, and nothing is sent after it. Returns 0, or
 * AIGW_EFAIL with err when a chunk is not JSON or not a chunk (what was
 * appended before stays valid; the caller ends the stream). */
int aigw_messages_stream_feed(struct aigw_messages_stream *s, const char *data, size_t len,
			      struct aigw_buf *out, struct aigw_err *err);
/* The upstream ended: appends what is still owed when it ended without
 * data: [DONE] (as [DONE] would; a last event without its blank line
 * counts). Nothing when the message or an error was already sent.
 * AIGW_EFAIL with err when the upstream sent no chunk at all (there is no
 * message to end) or its last chunk was cut short. */
int aigw_messages_stream_finish(struct aigw_messages_stream *s, struct aigw_buf *out,
				struct aigw_err *err);
void aigw_messages_stream_release(struct aigw_messages_stream *s);

#endif
