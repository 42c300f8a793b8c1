/* provider: translation between the gateway's API (OpenAI's chat
 * completions, completions and embeddings) and each provider's wire
 * format. One adapter per format, in lib/provider/:
 *
 *   openai.c      openai, openai-compatible and azure: passthrough (the
 *                 body is the client's; the model may be renamed and
 *                 stream_options.include_usage is asked for)
 *   anthropic.c   the Messages API
 *   gemini.c      generateContent / streamGenerateContent (SSE) / embeddings
 *   ollama.c      /api/chat and /api/embed (NDJSON streams)
 *
 * An adapter does three things: build the upstream request from the
 * client's OpenAI-shaped body, translate a whole answer (success or error)
 * to the OpenAI shape, and translate a stream chunk by chunk to OpenAI
 * chat.completion.chunk events ("data: {...}\n\n", ending "data: [DONE]").
 * Every adapter reports the usage it saw, cache tokens included.
 *
 * Adapters never print, never block and keep no global state; the
 * gateway calls them on its worker threads. */
#ifndef AIGW_PROVIDER_H
#define AIGW_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* The gateway's endpoints an adapter may be asked to serve. */
enum aigw_api {
	AIGW_API_CHAT,        /* POST /v1/chat/completions */
	AIGW_API_COMPLETIONS, /* POST /v1/completions */
	AIGW_API_EMBEDDINGS,  /* POST /v1/embeddings */
};

/* Token counts; -1 when the provider did not say. */
struct aigw_usage {
	int64_t prompt_tokens;      /* all input tokens, cached ones included */
	int64_t completion_tokens;
	int64_t cache_read_tokens;  /* input tokens served from the provider's cache */
	int64_t cache_write_tokens; /* input tokens written to it (Anthropic) */
};
void aigw_usage_init(struct aigw_usage *u); /* all -1 */

/* One call to a provider: what the adapter needs to know. Strings are
 * borrowed for the life of whatever is built from the call. */
struct aigw_provider_call {
	int provider;              /* enum aigw_provider (node.h) */
	int api;                   /* enum aigw_api */
	const char *base_url;      /* the node's URL as configured */
	const char *credential;    /* the account's secret; NULL: none */
	const char *model;         /* the model to ask for (aliases resolved) */
	const char *client_model;  /* the model the body names, when the caller
				    * knows it (lets passthrough skip a scan) */
	bool stream;               /* the client asked for a stream */
	bool include_usage;        /* ... and for stream_options.include_usage */
	int64_t created;           /* Unix seconds for "created" fields */
	const char *id;            /* an id for answers when the provider gives none */
};

/* The request to send upstream. */
struct aigw_provider_req {
	struct aigw_buf url;       /* the full URL, NUL-terminated */
	struct aigw_buf fields;    /* header lines "Name: value\r\n": credentials,
				    * Content-Type, version headers */
	struct aigw_buf body;      /* the request body */
	bool same_body;            /* the body is the client's as it is (body
				    * is then left empty: nothing is copied) */
	bool passthrough;          /* the answer is already OpenAI-shaped: relay it */
};
void aigw_provider_req_init(struct aigw_provider_req *r);
/* Wipes fields (they hold the credential) and frees. */
void aigw_provider_req_release(struct aigw_provider_req *r);

/* Builds the upstream request from the client's body (an OpenAI request
 * for c->api). 0, or with err: AIGW_EINVAL when the body cannot be
 * translated (the message says why; the client gets a 400),
 * AIGW_ENOTFOUND when the provider has no such endpoint (also a 400). */
int aigw_provider_build(const struct aigw_provider_call *c, const char *body, size_t len,
			struct aigw_provider_req *out, struct aigw_err *err);

/* Translates a whole answer to the OpenAI shape (for c->api) into out.
 * *status is the upstream's on entry and the client's on return (a
 * provider may say "blocked" with a 200). Errors of any shape become
 * {"error":{"message","type","code"}}. Fills u with what the answer said.
 * 0, or AIGW_EFAIL with err when the answer is not what the provider
 * documents (the gateway then answers 502). */
int aigw_provider_answer(const struct aigw_provider_call *c, int *status, const char *body,
			 size_t len, struct aigw_buf *out, struct aigw_usage *u,
			 struct aigw_err *err);

/* A stream being translated. */
struct aigw_pstream {
	const struct aigw_provider_ops *ops;
	struct aigw_provider_call call;
	struct aigw_usage usage;   /* as reported so far */
	bool output;               /* a content or tool-call delta was emitted */
	bool finished;             /* data: [DONE] was emitted */
	void *state;               /* the adapter's */
};

/* Starts translating the stream answer of c (a 2xx stream answer; error
 * answers go through aigw_provider_answer). */
int aigw_pstream_init(struct aigw_pstream *s, const struct aigw_provider_call *c,
		      struct aigw_err *err);
/* Feeds upstream bytes (any split); appends the client's bytes to out.
 * 0, or AIGW_EFAIL with err when the stream is malformed (the caller ends
 * the stream; what was appended before stays valid). An error event of
 * the provider is not a failure: it is translated (an error chunk). */
int aigw_pstream_feed(struct aigw_pstream *s, const char *data, size_t len,
		      struct aigw_buf *out, struct aigw_err *err);
/* The upstream ended cleanly: appends what is still owed (a finish
 * chunk, the usage chunk when asked for, data: [DONE]) unless already
 * sent. */
int aigw_pstream_finish(struct aigw_pstream *s, struct aigw_buf *out, struct aigw_err *err);
void aigw_pstream_release(struct aigw_pstream *s);

/* What an adapter implements (lib/provider/). stream_new may keep c. */
struct aigw_provider_ops {
	const char *name;
	int (*build)(const struct aigw_provider_call *c, const char *body, size_t len,
		     struct aigw_provider_req *out, struct aigw_err *err);
	int (*answer)(const struct aigw_provider_call *c, int *status, const char *body,
		      size_t len, struct aigw_buf *out, struct aigw_usage *u,
		      struct aigw_err *err);
	void *(*stream_new)(struct aigw_pstream *s);
	int (*stream_feed)(struct aigw_pstream *s, const char *data, size_t len,
			   struct aigw_buf *out, struct aigw_err *err);
	int (*stream_finish)(struct aigw_pstream *s, struct aigw_buf *out, struct aigw_err *err);
	void (*stream_free)(void *state);
};

/* The adapter for a provider (enum aigw_provider); NULL for plain http. */
const struct aigw_provider_ops *aigw_provider_ops_for(int provider);

#endif
