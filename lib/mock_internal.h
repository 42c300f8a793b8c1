/* mock_internal: what lib/mock.c (the core: JSON reading, prompt text,
 * timing, failures, streams, the OpenAI and Azure wire formats) shares
 * with the files of the other dialects (lib/mock_anthropic.c,
 * lib/mock_gemini.c, lib/mock_ollama.c). Not a public interface. */
#ifndef AIGW_MOCK_INTERNAL_H
#define AIGW_MOCK_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ev.h"
#include "mock.h"
#include "server.h"

#define PUT_LIT(b, lit) aigw_buf_append((b), (lit), sizeof(lit) - 1)

/* The "created" of every listed model: fixed, so answers are the same
 * from run to run (2023-11-14T22:13:20Z). */
#define MOCK_MODEL_CREATED 1700000000
#define MOCK_MODEL_CREATED_ISO "2023-11-14T22:13:20Z"

enum mock_endpoint {
	EP_NONE,
	EP_CHAT,            /* openai, azure */
	EP_COMPLETIONS,
	EP_EMBEDDINGS,
	EP_MODELS,          /* every dialect's model list */
	EP_MODEL,           /* one model (not azure, not ollama) */
	EP_MESSAGES,        /* anthropic */
	EP_GENERATE,        /* gemini generateContent, ollama /api/generate */
	EP_STREAM_GENERATE, /* gemini streamGenerateContent */
	EP_EMBED,           /* gemini embedContent, ollama /api/embed */
	EP_BATCH_EMBED,     /* gemini batchEmbedContents */
	EP_OLLAMA_CHAT,     /* ollama /api/chat */
};

enum mock_fate { FATE_OK, FATE_ERROR, FATE_RATE_LIMIT };

/* A JSON value as written in the body: the raw bytes, quotes included for
 * a string. The whole body is validated before any value is looked at,
 * so the walkers trust the structure. */
struct jv {
	const char *p;
	size_t n;
};

/* Checks that body is one JSON object (surrounded by whitespace only). */
bool mock_j_parse_object(const char *body, size_t len, struct jv *out);
char mock_j_type(struct jv v); /* 0 (absent), '{', '[', '"', '0', 't', 'f', 'n' */
/* Next member of an object (*it starts at 0) or element of an array;
 * key NULL for arrays. */
bool mock_j_next(struct jv container, size_t *it, struct jv *key, struct jv *val);
bool mock_j_str_is(struct jv s, const char *lit);    /* no escapes involved */
struct jv mock_j_get(struct jv obj, const char *name); /* p NULL if absent */
bool mock_j_int(struct jv v, int64_t min, int64_t max, int64_t *out);

/* What the mock learns from a prompt: a hash of its text and its words. */
struct text {
	uint64_t hash;
	uint64_t words;
	bool in_word;
};

void mock_text_init(struct text *t);
void mock_text_byte(struct text *t, unsigned char c);
void mock_text_break(struct text *t);              /* between two pieces */
void mock_text_string(struct text *t, struct jv s); /* decoded string value */
/* A content: a string, or an array of parts whose "text" strings count. */
void mock_text_content(struct text *t, struct jv content);

struct mock_dialect;

struct aigw_mock {
	struct aigw_mock_config cfg;
	const struct mock_dialect *dialect;
	bool strict_models;
	struct aigw_buf models_json; /* the whole model list answer */
	char retry_headers[96];
	size_t retry_headers_len;
	atomic_uint_fast64_t requests;
	uint64_t started_us;         /* monotonic, for the slow spell */
};

struct mock_worker {
	struct aigw_mock *m;
	struct aigw_server *server;
	struct aigw_ev *ev;
	int index;
	uint64_t rng;
	uint64_t seq;
	int64_t wall_s;
	uint64_t wall_at_us;
	struct aigw_buf out; /* answer bodies and stream batches */
	struct aigw_ev_timer duration_timer;
	int64_t iso_s;       /* the second formatted in iso */
	char iso[32];
	size_t iso_len;
};

/* Everything the answer needs, filled while checking the request; lives
 * on the stack for an answer given at once, in the pool otherwise. */
struct job {
	struct aigw_server_req *req;
	struct mock_worker *mw;
	struct aigw_ev_timer timer;
	int endpoint;
	int fate;
	bool stream;
	bool include_usage;
	bool base64;
	bool truncated;    /* cut by max_tokens: the dialect's length reason */
	bool started;      /* stream head sent */
	bool paused;       /* waiting for drained */
	bool tool;         /* the answer is a tool call */
	int n_tokens;      /* output tokens (a tool call: its argument pieces) */
	int n_events;      /* paced stream events */
	int sent;
	int dims;
	int query_words;   /* words of query (at most AIGW_MOCK_QUERY_WORDS) */
	uint64_t prompt_tokens;
	uint64_t cached_tokens; /* anthropic: words of cache_control blocks */
	uint64_t prompt_hash;
	struct jv model;     /* the model as a JSON string, quotes included */
	struct jv input;     /* embeddings: the input value */
	struct jv tool_name; /* a tool call: the tool's name (JSON string) */
	struct jv query;     /* a tool call: the last user text (JSON string) */
	uint64_t tokens_at_us; /* when token 0 is due */
	uint64_t seq;
	int64_t created;
};

/* A refusal: the status and, in OpenAI's terms, the type (NULL: from
 * the status), code and message. Dialects map them to their shapes. */
struct refusal {
	int status;
	const char *type;
	const char *code;
	const char *message;
};

bool mock_refuse(struct refusal *r, int status, const char *code, const char *message);

/* One dialect: how requests are routed, checked and answered. The core
 * drives timing, failures and stream pacing; a stream is put_head (at the
 * first byte), then put_event for events 0 .. n_events - 1 (paced like
 * tokens), then put_end. */
struct mock_dialect {
	const char *name;
	const char *const *default_models;
	/* The model list answer, built once from the served names. */
	void (*put_models)(struct aigw_buf *b, const char *const *names);
	/* One model, the answer of EP_MODEL. */
	void (*put_model)(struct aigw_buf *b, const char *name);
	/* The endpoint of the request (EP_NONE: unknown path) and the
	 * methods it allows; may set j->model from the path. */
	int (*route)(struct job *j, const char **allow);
	/* Checks done before the body is read (keys, versions); false with
	 * r filled refuses the request. NULL: none. */
	bool (*admit)(struct job *j, struct refusal *r);
	bool (*check)(struct job *j, struct jv root, struct refusal *r);
	/* Answers an error in the dialect's shape; headers as for
	 * aigw_server_respond. */
	void (*respond_error)(struct job *j, int status, const char *headers, size_t headers_len,
			      const struct refusal *r);
	void (*put_body)(struct aigw_buf *b, struct job *j);
	void (*put_head)(struct aigw_buf *b, const struct job *j);
	void (*put_event)(struct aigw_buf *b, const struct job *j, int i);
	void (*put_end)(struct aigw_buf *b, const struct job *j);
	const char *stream_headers;
};

extern const struct mock_dialect mock_openai, mock_azure, mock_anthropic, mock_gemini,
	mock_ollama;

extern const char mock_json_headers[];
extern const char mock_sse_headers[];

/* Answers status with the JSON body in the worker's buffer (out), after
 * the extra headers (up to 160 bytes of them). */
void mock_respond_json(struct job *j, int status, const char *headers, size_t headers_len);

uint64_t mock_splitmix64(uint64_t x);
bool mock_model_known(const struct aigw_mock *m, const char *p, size_t n);

/* Whether the request's path is p, and a query parameter's raw value. */
bool mock_path_is(const struct aigw_server_req *req, const char *p);
bool mock_query_param(const struct aigw_server_req *req, const char *name, const char **value,
		      size_t *len);
/* Sets j->model to a JSON string of the n bytes at p, copied to the pool;
 * false when they are not a plain name ([A-Za-z0-9._:/-], 1..256). */
bool mock_model_from_path(struct job *j, const char *p, size_t n);
/* Whether the path is prefix and more; then sets j->model to the rest
 * when it is a plain name without '/' (else leaves it NULL). */
bool mock_model_path(struct job *j, const char *prefix);

void mock_put_i64(struct aigw_buf *b, int64_t v);
void mock_put_jv(struct aigw_buf *b, struct jv v);
void mock_json_escape(struct aigw_buf *b, const char *s);
void mock_put_hex(struct aigw_buf *b, uint64_t v); /* 16 digits */
/* unix_s as 2006-01-02T15:04:05Z (cached in the worker) */
void mock_put_iso_time(struct aigw_buf *b, struct mock_worker *mw, int64_t unix_s);
/* A unique-looking id of the request: 16 hex digits from worker and seq. */
void mock_put_id(struct aigw_buf *b, const struct job *j);

void mock_put_token(struct aigw_buf *b, const struct job *j, int i); /* " word" after the first */
void mock_put_text(struct aigw_buf *b, const struct job *j);        /* all tokens */
void mock_put_vector(struct aigw_buf *b, const struct job *j, uint64_t h);
uint64_t mock_input_hash(struct jv v, uint64_t *tokens);

/* Tool calls. mock_tool_pick: whether the request calls a tool by the
 * rule of mock.h, given the offered tools' names (first_tool: the first
 * one's JSON string name, p NULL when none), the forced name (p NULL:
 * none), whether the choice is "none", and the last message's text when
 * it is a user message (p NULL otherwise). It sets j->tool, tool_name,
 * query, query_words, n_tokens (the argument pieces) and n_events
 * (pieces_streamed: the pieces, else one). */
void mock_tool_pick(struct job *j, struct jv first_tool, struct jv forced, bool none,
		    struct jv user_text, bool pieces_streamed);
int mock_tool_pieces(const struct job *j);
/* The arguments {"query": "..."}: escaped `level` times as a string
 * (0: the JSON object itself); one piece, or all of them. */
void mock_put_tool_piece(struct aigw_buf *b, const struct job *j, int i, int level);
void mock_put_tool_args(struct aigw_buf *b, const struct job *j, int level);

/* Reads the common max-tokens rule: limit caps j->n_tokens (configured
 * tokens) and sets truncated when smaller. */
void mock_cap_tokens(struct job *j, int64_t limit);
/* The text of a content (string, or the first "text" of an array of
 * parts); the empty string literal when it has none. */
struct jv mock_first_text(struct jv content);

#endif
