/* mock: see mock.h.
 *
 * A request goes: route, check the JSON body (one validating pass, then
 * lookups of the few fields that matter; nothing is copied or allocated),
 * draw its fate (delay, 429, error) from the worker's PRNG, then answer at
 * once or from a timer. Streams are driven by one timer per request that
 * fires when the next token is due; tokens due together go out in one
 * write, and a write that finds the client's buffer full pauses the
 * stream until the server says it drained. */
#include "mock.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "mem.h"

const char *const aigw_mock_default_models[] = {
	"mock-1", "gpt-4o", "gpt-4o-mini", "text-embedding-3-small", NULL,
};

/* The "created" of every model in /v1/models: fixed, so answers are
 * the same from run to run. */
#define MODEL_CREATED 1700000000
#define JSON_MAX_DEPTH 64
/* A stream flushes its batch of events at this size even when more are
 * due, so a long burst is written (and paced by backpressure) in pieces. */
#define STREAM_BATCH 16384

/* Words of the mock's answers. The count is a power of two so a hash
 * picks one without bias. */
static const char *const vocab[64] = {
	"the",    "mock",    "model",   "answers", "with",    "a",       "few",     "words",
	"from",   "its",     "small",   "fixed",   "list",    "so",      "every",   "test",
	"sees",   "same",    "text",    "for",     "prompt",  "quick",   "brown",   "fox",
	"jumps",  "over",    "lazy",    "dog",     "gateway", "routes",  "tokens",  "stream",
	"fast",   "and",     "calm",    "request", "reply",   "is",      "here",    "now",
	"bright", "river",   "stone",   "cloud",   "light",   "path",    "signal",  "echo",
	"blue",   "green",   "north",   "south",   "early",   "late",    "open",    "clear",
	"simple", "steady",  "gentle",  "quiet",   "brave",   "kind",    "true",    "done",
};

enum endpoint { EP_NONE, EP_CHAT, EP_COMPLETIONS, EP_EMBEDDINGS, EP_MODELS, EP_MODEL };
enum fate { FATE_OK, FATE_ERROR, FATE_RATE_LIMIT };

struct aigw_mock {
	struct aigw_mock_config cfg;
	bool strict_models;
	struct aigw_buf models_json; /* the whole /v1/models answer */
	char retry_headers[96];
	size_t retry_headers_len;
	atomic_uint_fast64_t requests;
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
};

/* ------------------------------------------------------------ numbers */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t rng_next(struct mock_worker *mw)
{
	mw->rng += 0x9e3779b97f4a7c15ull;
	return splitmix64(mw->rng);
}

/* Uniform in [0, 1). */
static double rng_unit(struct mock_worker *mw)
{
	return (double)(rng_next(mw) >> 11) * (1.0 / 9007199254740992.0);
}

/* Newton's method: the only square root needed, without libm. */
static double square_root(double x)
{
	double y = x > 1 ? x : 1;

	if (x <= 0)
		return 0;
	for (int i = 0; i < 64; i++) {
		double next = 0.5 * (y + x / y);
		if (next == y)
			break;
		y = next;
	}
	return y;
}

/* FNV-1a, 64 bits. */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

/* ------------------------------------------------------------ JSON reading */

/* A JSON value as written in the body: the raw bytes, quotes included for
 * a string. The whole body is validated before any value is looked at,
 * so the walkers below trust the structure. */
struct jv {
	const char *p;
	size_t n;
};

static const char *j_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* p at the opening quote; returns the byte after the closing one. */
static const char *j_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			if (++p >= end)
				return NULL;
			switch (*p) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r':
			case 't':
				break;
			case 'u':
				if (end - p < 5 || !is_hex(p[1]) || !is_hex(p[2]) || !is_hex(p[3]) ||
				    !is_hex(p[4]))
					return NULL;
				p += 4;
				break;
			default:
				return NULL;
			}
		}
	}
	return NULL;
}

static const char *j_number(const char *p, const char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p >= end)
		return NULL;
	if (*p == '0')
		p++;
	else if (is_digit(*p))
		while (p < end && is_digit(*p))
			p++;
	else
		return NULL;
	if (p < end && *p == '.') {
		p++;
		if (p >= end || !is_digit(*p))
			return NULL;
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !is_digit(*p))
			return NULL;
		while (p < end && is_digit(*p))
			p++;
	}
	return p;
}

static const char *j_literal(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(end - p) < n || memcmp(p, lit, n))
		return NULL;
	return p + n;
}

/* Validates the value at p (no leading whitespace); returns its end. */
static const char *j_value(const char *p, const char *end, int depth)
{
	if (p >= end)
		return NULL;
	switch (*p) {
	case '{':
	case '[': {
		char close = *p == '{' ? '}' : ']';
		bool object = *p == '{';
		if (depth >= JSON_MAX_DEPTH)
			return NULL;
		p = j_ws(p + 1, end);
		if (p < end && *p == close)
			return p + 1;
		for (;;) {
			if (object) {
				if (p >= end || *p != '"' || !(p = j_string(p, end)))
					return NULL;
				p = j_ws(p, end);
				if (p >= end || *p != ':')
					return NULL;
				p = j_ws(p + 1, end);
			}
			if (!(p = j_value(p, end, depth + 1)))
				return NULL;
			p = j_ws(p, end);
			if (p >= end)
				return NULL;
			if (*p == close)
				return p + 1;
			if (*p != ',')
				return NULL;
			p = j_ws(p + 1, end);
		}
	}
	case '"':
		return j_string(p, end);
	case 't':
		return j_literal(p, end, "true");
	case 'f':
		return j_literal(p, end, "false");
	case 'n':
		return j_literal(p, end, "null");
	default:
		return j_number(p, end);
	}
}

/* Checks that body is one JSON object (surrounded by whitespace only). */
static bool j_parse_object(const char *body, size_t len, struct jv *out)
{
	const char *end = body + len, *p = j_ws(body, end), *v;

	if (p >= end || *p != '{' || !(v = j_value(p, end, 0)))
		return false;
	if (j_ws(v, end) != end)
		return false;
	out->p = p;
	out->n = (size_t)(v - p);
	return true;
}

static char j_type(struct jv v)
{
	if (!v.p)
		return 0;
	if (*v.p == '-' || is_digit(*v.p))
		return '0';
	return *v.p;
}

/* Next member of an object (*it starts at 0) or element of an array. */
static bool j_next(struct jv container, size_t *it, struct jv *key, struct jv *val)
{
	const char *end = container.p + container.n - 1; /* the closing bracket */
	const char *p = container.p + (*it ? *it : 1), *v;

	p = j_ws(p, end);
	if (p < end && *p == ',')
		p = j_ws(p + 1, end);
	if (p >= end)
		return false;
	if (key) {
		v = j_string(p, end);
		key->p = p;
		key->n = (size_t)(v - p);
		p = j_ws(v, end);
		p = j_ws(p + 1, end); /* the colon */
	}
	v = j_value(p, end, 0);
	val->p = p;
	val->n = (size_t)(v - p);
	*it = (size_t)(v - container.p);
	return true;
}

/* A string value (or key) equals lit, with no escapes involved. */
static bool j_str_is(struct jv s, const char *lit)
{
	size_t n = strlen(lit);
	return s.p && s.n == n + 2 && s.p[0] == '"' && !memcmp(s.p + 1, lit, n);
}

static struct jv j_get(struct jv obj, const char *name)
{
	struct jv key, val = { NULL, 0 };
	size_t it = 0;

	while (j_next(obj, &it, &key, &val))
		if (j_str_is(key, name))
			return val;
	val.p = NULL;
	val.n = 0;
	return val;
}

/* An integer value in [min, max]. */
static bool j_int(struct jv v, int64_t min, int64_t max, int64_t *out)
{
	int64_t x = 0;
	bool neg = false;
	size_t i = 0;

	if (j_type(v) != '0')
		return false;
	if (v.p[0] == '-') {
		neg = true;
		i = 1;
	}
	for (; i < v.n; i++) {
		if (!is_digit(v.p[i]) || x > 100000000000000LL)
			return false;
		x = x * 10 + (v.p[i] - '0');
	}
	if (neg)
		x = -x;
	if (x < min || x > max)
		return false;
	*out = x;
	return true;
}

/* ------------------------------------------------------------ prompt text */

/* What the mock learns from a prompt: a hash of its text and its words. */
struct text {
	uint64_t hash;
	uint64_t words;
	bool in_word;
};

static void text_init(struct text *t)
{
	t->hash = FNV_OFFSET;
	t->words = 0;
	t->in_word = false;
}

static void text_byte(struct text *t, unsigned char c)
{
	bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';

	t->hash = (t->hash ^ c) * FNV_PRIME;
	if (space)
		t->in_word = false;
	else if (!t->in_word) {
		t->in_word = true;
		t->words++;
	}
}

/* A boundary between two pieces of a prompt (two messages). */
static void text_break(struct text *t)
{
	t->hash = (t->hash ^ 0) * FNV_PRIME;
	t->in_word = false;
}

static int hex_digit(char c)
{
	if (c <= '9')
		return c - '0';
	return (c | 0x20) - 'a' + 10;
}

/* Feeds the decoded contents of a string value. */
static void text_string(struct text *t, struct jv s)
{
	const char *p = s.p + 1, *end = s.p + s.n - 1;

	while (p < end) {
		unsigned code;
		if (*p != '\\') {
			text_byte(t, (unsigned char)*p++);
			continue;
		}
		p++;
		switch (*p++) {
		case 'b': text_byte(t, '\b'); break;
		case 'f': text_byte(t, '\f'); break;
		case 'n': text_byte(t, '\n'); break;
		case 'r': text_byte(t, '\r'); break;
		case 't': text_byte(t, '\t'); break;
		case 'u':
			code = (unsigned)(hex_digit(p[0]) << 12 | hex_digit(p[1]) << 8 |
					  hex_digit(p[2]) << 4 | hex_digit(p[3]));
			p += 4;
			/* UTF-8 of the code unit (surrogates each on their own:
			 * enough for hashing and counting) */
			if (code < 0x80) {
				text_byte(t, (unsigned char)code);
			} else if (code < 0x800) {
				text_byte(t, (unsigned char)(0xc0 | code >> 6));
				text_byte(t, (unsigned char)(0x80 | (code & 0x3f)));
			} else {
				text_byte(t, (unsigned char)(0xe0 | code >> 12));
				text_byte(t, (unsigned char)(0x80 | ((code >> 6) & 0x3f)));
				text_byte(t, (unsigned char)(0x80 | (code & 0x3f)));
			}
			break;
		default: text_byte(t, (unsigned char)p[-1]); break; /* " \ / */
		}
	}
}

/* A message content: a string, or an array of parts whose "text" counts. */
static void text_content(struct text *t, struct jv content)
{
	if (j_type(content) == '"') {
		text_string(t, content);
	} else if (j_type(content) == '[') {
		struct jv part;
		size_t it = 0;
		while (j_next(content, &it, NULL, &part)) {
			struct jv txt;
			if (j_type(part) != '{')
				continue;
			txt = j_get(part, "text");
			if (j_type(txt) == '"') {
				text_string(t, txt);
				text_break(t);
			}
		}
	}
}

/* ------------------------------------------------------------ writing */

#define PUT_LIT(b, lit) aigw_buf_append((b), (lit), sizeof(lit) - 1)

static void put_i64(struct aigw_buf *b, int64_t v)
{
	if (v < 0) {
		aigw_buf_putc(b, '-');
		aigw_buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		aigw_buf_put_u64(b, (uint64_t)v);
	}
}

static void put_jv(struct aigw_buf *b, struct jv v)
{
	aigw_buf_append(b, v.p, v.n);
}

static void json_escape(struct aigw_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			aigw_buf_putc(b, '\\');
			aigw_buf_putc(b, (char)c);
		} else if (c < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			aigw_buf_append(b, e, sizeof(e));
		} else {
			aigw_buf_putc(b, (char)c);
		}
	}
}

/* ------------------------------------------------------------ config */

void aigw_mock_config_init(struct aigw_mock_config *c)
{
	memset(c, 0, sizeof(*c));
	c->tokens = 16;
	c->error_status = 500;
	c->retry_after_ms = 1000;
	c->seed = 1;
	c->grace_ms = 5000;
}

void aigw_mock_config_release(struct aigw_mock_config *c)
{
	aigw_strv_release(&c->models);
}

static const char *const *model_list(const struct aigw_mock *m)
{
	return m->strict_models ? (const char *const *)m->cfg.models.v : aigw_mock_default_models;
}

static void model_object(struct aigw_buf *b, const char *name)
{
	PUT_LIT(b, "{\"id\":\"");
	json_escape(b, name);
	PUT_LIT(b, "\",\"object\":\"model\",\"created\":");
	aigw_buf_put_u64(b, MODEL_CREATED);
	PUT_LIT(b, ",\"owned_by\":\"aigw-mock\"}");
}

int aigw_mock_new(struct aigw_mock **out, const struct aigw_mock_config *c, struct aigw_err *err)
{
	struct aigw_mock *m;
	const char *const *names;

	*out = NULL;
	if (c->latency_ms < 0 || c->jitter_ms < 0 || c->ttft_ms < 0 || c->duration_ms < 0 ||
	    c->retry_after_ms < 0)
		return aigw_err_set(err, AIGW_EINVAL, "durations must not be negative");
	if (!(c->tokens_per_sec >= 0) || c->tokens_per_sec > 1e9)
		return aigw_err_set(err, AIGW_EINVAL, "tokens per second must be between 0 and 1e9");
	if (c->tokens < 0 || c->tokens > AIGW_MOCK_TOKENS_MAX)
		return aigw_err_set(err, AIGW_EINVAL, "tokens must be between 0 and %d",
				    AIGW_MOCK_TOKENS_MAX);
	if (!(c->error_rate >= 0 && c->error_rate <= 1) ||
	    !(c->rate_limit_rate >= 0 && c->rate_limit_rate <= 1))
		return aigw_err_set(err, AIGW_EINVAL, "rates must be between 0 and 1");
	if (c->error_status < 400 || c->error_status > 599)
		return aigw_err_set(err, AIGW_EINVAL, "error status must be between 400 and 599");

	m = aigw_calloc(1, sizeof(*m));
	m->cfg = *c;
	memset(&m->cfg.models, 0, sizeof(m->cfg.models));
	aigw_strv_copy(&m->cfg.models, &c->models);
	m->strict_models = m->cfg.models.n > 0;
	atomic_init(&m->requests, 0);

	aigw_buf_init(&m->models_json);
	PUT_LIT(&m->models_json, "{\"object\":\"list\",\"data\":[");
	names = model_list(m);
	for (size_t i = 0; names[i]; i++) {
		if (i)
			aigw_buf_putc(&m->models_json, ',');
		model_object(&m->models_json, names[i]);
	}
	PUT_LIT(&m->models_json, "]}\n");

	/* Retry-After in whole seconds (rounded up), and the milliseconds
	 * that OpenAI's clients also read. */
	m->retry_headers_len = (size_t)snprintf(
		m->retry_headers, sizeof(m->retry_headers), "Retry-After: %lld\r\nretry-after-ms: %lld\r\n",
		(long long)((c->retry_after_ms + 999) / 1000), (long long)c->retry_after_ms);
	*out = m;
	return 0;
}

void aigw_mock_free(struct aigw_mock *m)
{
	if (!m)
		return;
	aigw_strv_release(&m->cfg.models);
	aigw_buf_release(&m->models_json);
	free(m);
}

uint64_t aigw_mock_requests(const struct aigw_mock *m)
{
	return atomic_load_explicit(&m->requests, memory_order_relaxed);
}

/* ------------------------------------------------------------ a request */

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
	bool truncated;    /* cut by max_tokens: finish_reason "length" */
	bool started;      /* stream head sent */
	bool paused;       /* waiting for drained */
	int n_tokens;
	int sent;
	int dims;
	uint64_t prompt_tokens;
	uint64_t prompt_hash;
	struct jv model;   /* the request's model string, quotes included */
	struct jv input;   /* embeddings: the input value */
	uint64_t tokens_at_us; /* when token 0 is due */
	uint64_t seq;
	int64_t created;
};

static int64_t wall_now(struct mock_worker *mw)
{
	uint64_t now = aigw_ev_now_us(mw->ev);

	if (!mw->wall_at_us || now - mw->wall_at_us >= 1000000) {
		mw->wall_s = aigw_clock_wall_s();
		mw->wall_at_us = now ? now : 1;
	}
	return mw->wall_s;
}

static const char *token_word(const struct job *j, int i)
{
	return vocab[splitmix64(j->prompt_hash + (uint64_t)i) & 63];
}

/* `{"id":"...","object":"OBJ","created":N,"model":"M",` */
static void put_envelope(struct aigw_buf *b, const struct job *j, const char *object)
{
	PUT_LIT(b, "{\"id\":\"");
	if (j->endpoint == EP_CHAT)
		PUT_LIT(b, "chatcmpl-mock-");
	else
		PUT_LIT(b, "cmpl-mock-");
	aigw_buf_put_u64(b, (uint64_t)j->mw->index);
	aigw_buf_putc(b, '-');
	aigw_buf_put_u64(b, j->seq);
	PUT_LIT(b, "\",\"object\":\"");
	aigw_buf_puts(b, object);
	PUT_LIT(b, "\",\"created\":");
	put_i64(b, j->created);
	PUT_LIT(b, ",\"model\":");
	put_jv(b, j->model);
	aigw_buf_putc(b, ',');
}

static void put_usage(struct aigw_buf *b, const struct job *j, uint64_t completion)
{
	PUT_LIT(b, "\"usage\":{\"prompt_tokens\":");
	aigw_buf_put_u64(b, j->prompt_tokens);
	PUT_LIT(b, ",\"completion_tokens\":");
	aigw_buf_put_u64(b, completion);
	PUT_LIT(b, ",\"total_tokens\":");
	aigw_buf_put_u64(b, j->prompt_tokens + completion);
	aigw_buf_putc(b, '}');
}

static const char *finish_reason(const struct job *j)
{
	return j->truncated ? "length" : "stop";
}

static void put_text(struct aigw_buf *b, const struct job *j)
{
	for (int i = 0; i < j->n_tokens; i++) {
		if (i)
			aigw_buf_putc(b, ' ');
		aigw_buf_puts(b, token_word(j, i));
	}
}

static void put_chat(struct aigw_buf *b, const struct job *j)
{
	put_envelope(b, j, "chat.completion");
	PUT_LIT(b, "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
	put_text(b, j);
	PUT_LIT(b, "\"},\"logprobs\":null,\"finish_reason\":\"");
	aigw_buf_puts(b, finish_reason(j));
	PUT_LIT(b, "\"}],");
	put_usage(b, j, (uint64_t)j->n_tokens);
	PUT_LIT(b, "}\n");
}

static void put_completion(struct aigw_buf *b, const struct job *j)
{
	put_envelope(b, j, "text_completion");
	PUT_LIT(b, "\"choices\":[{\"text\":\"");
	put_text(b, j);
	PUT_LIT(b, "\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"");
	aigw_buf_puts(b, finish_reason(j));
	PUT_LIT(b, "\"}],");
	put_usage(b, j, (uint64_t)j->n_tokens);
	PUT_LIT(b, "}\n");
}

/* One embedding of hash h: dims values in [-1, 1], scaled to unit length. */
static void put_vector(struct aigw_buf *b, const struct job *j, uint64_t h)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	double sum = 0, scale;
	unsigned char quad[3];
	int have = 0;

	for (int i = 0; i < j->dims; i++) {
		double v = (double)(splitmix64(h + (uint64_t)i) >> 11) / 4503599627370496.0 - 1.0;
		sum += v * v;
	}
	scale = sum > 0 ? 1.0 / square_root(sum) : 0;
	if (j->base64)
		aigw_buf_putc(b, '"');
	else
		aigw_buf_putc(b, '[');
	for (int i = 0; i < j->dims; i++) {
		double v = ((double)(splitmix64(h + (uint64_t)i) >> 11) / 4503599627370496.0 - 1.0) *
			   scale;
		if (!j->base64) {
			char num[32];
			int n = snprintf(num, sizeof(num), "%s%.6f", i ? "," : "", v);
			aigw_buf_append(b, num, (size_t)n);
			continue;
		}
		/* base64 of little-endian float32s, as OpenAI sends them */
		{
			float f = (float)v;
			uint32_t bits;
			memcpy(&bits, &f, sizeof(bits));
			for (int k = 0; k < 4; k++) {
				quad[have++] = (unsigned char)(bits >> (8 * k));
				if (have == 3) {
					char e[4] = { b64[quad[0] >> 2],
						      b64[(quad[0] & 3) << 4 | quad[1] >> 4],
						      b64[(quad[1] & 15) << 2 | quad[2] >> 6],
						      b64[quad[2] & 63] };
					aigw_buf_append(b, e, 4);
					have = 0;
				}
			}
		}
	}
	if (j->base64) {
		if (have) {
			char e[4];
			if (have == 1)
				quad[1] = 0;
			quad[2] = 0;
			e[0] = b64[quad[0] >> 2];
			e[1] = b64[(quad[0] & 3) << 4 | quad[1] >> 4];
			e[2] = have == 2 ? b64[(quad[1] & 15) << 2] : '=';
			e[3] = '=';
			aigw_buf_append(b, e, 4);
		}
		aigw_buf_putc(b, '"');
	} else {
		aigw_buf_putc(b, ']');
	}
}

/* The hash and token count of one embedding input: a string, or an array
 * of token ids. */
static uint64_t input_hash(struct jv v, uint64_t *tokens)
{
	struct text t;

	text_init(&t);
	if (j_type(v) == '"') {
		text_string(&t, v);
		*tokens += t.words;
		return t.hash;
	}
	{
		struct jv el;
		size_t it = 0;
		while (j_next(v, &it, NULL, &el)) {
			for (size_t i = 0; i < el.n; i++)
				text_byte(&t, (unsigned char)el.p[i]);
			text_byte(&t, ',');
			(*tokens)++;
		}
	}
	return t.hash;
}

/* Whether v is a non-empty array of integers. */
static bool token_array(struct jv v)
{
	struct jv el;
	size_t it = 0;
	int64_t x;
	bool any = false;

	if (j_type(v) != '[')
		return false;
	while (j_next(v, &it, NULL, &el)) {
		if (!j_int(el, 0, INT64_MAX / 2, &x))
			return false;
		any = true;
	}
	return any;
}

static void put_embeddings(struct aigw_buf *b, struct job *j)
{
	struct jv el;
	size_t it = 0;
	int index = 0;
	uint64_t tokens = 0;

	PUT_LIT(b, "{\"object\":\"list\",\"data\":[");
	if (j_type(j->input) == '"' || token_array(j->input)) {
		PUT_LIT(b, "{\"object\":\"embedding\",\"index\":0,\"embedding\":");
		put_vector(b, j, input_hash(j->input, &tokens));
		aigw_buf_putc(b, '}');
	} else {
		while (j_next(j->input, &it, NULL, &el)) {
			if (index)
				aigw_buf_putc(b, ',');
			PUT_LIT(b, "{\"object\":\"embedding\",\"index\":");
			aigw_buf_put_u64(b, (uint64_t)index++);
			PUT_LIT(b, ",\"embedding\":");
			put_vector(b, j, input_hash(el, &tokens));
			aigw_buf_putc(b, '}');
		}
	}
	PUT_LIT(b, "],\"model\":");
	put_jv(b, j->model);
	PUT_LIT(b, ",\"usage\":{\"prompt_tokens\":");
	aigw_buf_put_u64(b, tokens);
	PUT_LIT(b, ",\"total_tokens\":");
	aigw_buf_put_u64(b, tokens);
	PUT_LIT(b, "}}\n");
}

/* ------------------------------------------------------------ streams */

/* One chunk event: a role delta (token -1), a token, or the end (token
 * n_tokens: the finish reason). */
static void put_event(struct aigw_buf *b, const struct job *j, int token)
{
	bool last = token >= j->n_tokens;

	PUT_LIT(b, "data: ");
	if (j->endpoint == EP_CHAT) {
		put_envelope(b, j, "chat.completion.chunk");
		PUT_LIT(b, "\"choices\":[{\"index\":0,\"delta\":{");
		if (token < 0) {
			PUT_LIT(b, "\"role\":\"assistant\",\"content\":\"\"");
		} else if (!last) {
			PUT_LIT(b, "\"content\":\"");
			if (token)
				aigw_buf_putc(b, ' ');
			aigw_buf_puts(b, token_word(j, token));
			aigw_buf_putc(b, '"');
		}
		PUT_LIT(b, "},\"logprobs\":null,\"finish_reason\":");
	} else {
		put_envelope(b, j, "text_completion");
		PUT_LIT(b, "\"choices\":[{\"text\":\"");
		if (!last) {
			if (token)
				aigw_buf_putc(b, ' ');
			aigw_buf_puts(b, token_word(j, token));
		}
		PUT_LIT(b, "\",\"index\":0,\"logprobs\":null,\"finish_reason\":");
	}
	if (last) {
		aigw_buf_putc(b, '"');
		aigw_buf_puts(b, finish_reason(j));
		aigw_buf_putc(b, '"');
	} else {
		PUT_LIT(b, "null");
	}
	PUT_LIT(b, "}]");
	if (j->include_usage)
		PUT_LIT(b, ",\"usage\":null");
	PUT_LIT(b, "}\n\n");
}

/* The events after the last token: the finish reason, the usage chunk
 * when asked for, and [DONE]. */
static void put_stream_end(struct aigw_buf *b, const struct job *j)
{
	put_event(b, j, j->n_tokens);
	if (j->include_usage) {
		PUT_LIT(b, "data: ");
		put_envelope(b, j, j->endpoint == EP_CHAT ? "chat.completion.chunk" : "text_completion");
		PUT_LIT(b, "\"choices\":[],");
		put_usage(b, j, (uint64_t)j->n_tokens);
		PUT_LIT(b, "}\n\n");
	}
	PUT_LIT(b, "data: [DONE]\n\n");
}

static uint64_t token_due_us(const struct job *j, int i)
{
	double tps = j->mw->m->cfg.tokens_per_sec;

	if (tps <= 0 || i <= 0)
		return j->tokens_at_us;
	return j->tokens_at_us + (uint64_t)((double)i * 1e6 / tps);
}

/* Writes the batch; returns false when the stream must wait (full: for
 * drained; gone: for the aborted callback). */
static bool stream_flush(struct job *j)
{
	struct aigw_buf *b = &j->mw->out;
	int rc;

	if (!b->len)
		return true;
	rc = aigw_server_stream_write(j->req, b->data, b->len);
	aigw_buf_reset(b);
	if (rc == AIGW_SERVER_FULL) {
		j->paused = true;
		return false;
	}
	return rc == 0;
}

/* Sends every event that is due, then waits for the next one (a timer),
 * for the client (drained), or finishes the stream. */
static void stream_pump(struct job *j)
{
	struct mock_worker *mw = j->mw;
	struct aigw_buf *b = &mw->out;
	uint64_t now = aigw_ev_now_us(mw->ev);

	aigw_buf_reset(b);
	while (j->sent < j->n_tokens) {
		uint64_t due = token_due_us(j, j->sent);
		if (due > now) {
			if (!stream_flush(j))
				return;
			aigw_ev_timer_start(mw->ev, &j->timer, due - now);
			return;
		}
		put_event(b, j, j->sent++);
		if (b->len >= STREAM_BATCH && !stream_flush(j))
			return;
	}
	put_stream_end(b, j);
	if (!stream_flush(j) && !j->paused)
		return;
	/* The last events were taken even if the buffer is now full. */
	aigw_server_stream_finish(j->req);
}

static void on_drained(struct aigw_server_req *req, void *arg)
{
	struct job *j = arg;

	(void)req;
	if (j->paused) {
		j->paused = false;
		aigw_ev_update_time(j->mw->ev);
		stream_pump(j);
	}
}

static void on_aborted(struct aigw_server_req *req, void *arg)
{
	struct job *j = arg;

	aigw_ev_timer_stop(req->ev, &j->timer);
}

static const char sse_headers[] = "Content-Type: text/event-stream\r\n"
				  "Cache-Control: no-cache\r\n"
				  "X-Accel-Buffering: no\r\n";
static const char json_headers[] = "Content-Type: application/json\r\n";

/* The answer is due: an error, the whole body, or a stream's start. */
static void job_answer(struct job *j)
{
	struct aigw_mock *m = j->mw->m;
	struct aigw_buf *b = &j->mw->out;

	if (j->fate == FATE_RATE_LIMIT) {
		aigw_server_respond_error(j->req, 429, m->retry_headers, m->retry_headers_len,
					  "requests", "rate_limit_exceeded",
					  "rate limit reached (aigw mock --rate-limit-rate)");
		return;
	}
	if (j->fate == FATE_ERROR) {
		aigw_server_respond_error(j->req, m->cfg.error_status, NULL, 0,
					  m->cfg.error_status >= 500 ? "server_error"
								     : "invalid_request_error",
					  "mock_error", "mock failure (aigw mock --error-rate)");
		return;
	}
	if (j->stream) {
		j->started = true;
		if (aigw_server_stream_start(j->req, 200, sse_headers, sizeof(sse_headers) - 1, -1))
			return;
		aigw_server_on_drained(j->req, on_drained, j);
		j->tokens_at_us = aigw_ev_now_us(j->mw->ev) + (uint64_t)m->cfg.ttft_ms * 1000;
		if (j->endpoint == EP_CHAT) {
			aigw_buf_reset(b);
			put_event(b, j, -1);
			if (!stream_flush(j) && !j->paused)
				return;
		}
		if (j->paused)
			return; /* drained resumes */
		stream_pump(j);
		return;
	}
	aigw_buf_reset(b);
	if (j->endpoint == EP_CHAT)
		put_chat(b, j);
	else if (j->endpoint == EP_COMPLETIONS)
		put_completion(b, j);
	else
		put_embeddings(b, j);
	aigw_server_respond(j->req, 200, json_headers, sizeof(json_headers) - 1, b->data, b->len);
}

static void on_timer(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct job *j = arg;

	(void)ev;
	(void)t;
	if (!j->started)
		job_answer(j);
	else
		stream_pump(j);
}

/* ------------------------------------------------------------ checking */

/* A refusal: the status and OpenAI's type/code/message for it. */
struct refusal {
	int status;
	const char *code;
	const char *message;
};

static bool refuse(struct refusal *r, int status, const char *code, const char *message)
{
	r->status = status;
	r->code = code;
	r->message = message;
	return false;
}

static bool model_known(const struct aigw_mock *m, const char *p, size_t n)
{
	if (!m->strict_models)
		return true;
	for (size_t i = 0; i < m->cfg.models.n; i++)
		if (strlen(m->cfg.models.v[i]) == n && !memcmp(m->cfg.models.v[i], p, n))
			return true;
	return false;
}

/* Reads the fields every POST endpoint shares. */
static bool check_common(struct job *j, struct jv root, struct refusal *r)
{
	struct aigw_mock *m = j->mw->m;
	struct jv v;
	int64_t max;

	j->model = j_get(root, "model");
	if (!j->model.p)
		return refuse(r, 400, "missing_required_parameter",
			      "you must provide a model parameter");
	if (j_type(j->model) != '"' || j->model.n <= 2)
		return refuse(r, 400, "invalid_type", "model must be a non-empty string");
	if (!model_known(m, j->model.p + 1, j->model.n - 2))
		return refuse(r, 404, "model_not_found", "the model does not exist");
	if (j->endpoint == EP_EMBEDDINGS)
		return true;

	v = j_get(root, "stream");
	if (v.p && j_type(v) != 't' && j_type(v) != 'f' && j_type(v) != 'n')
		return refuse(r, 400, "invalid_type", "stream must be a boolean");
	j->stream = j_type(v) == 't';
	v = j_get(root, "stream_options");
	if (v.p && j_type(v) == '{')
		j->include_usage = j_type(j_get(v, "include_usage")) == 't';
	else if (v.p && j_type(v) != 'n')
		return refuse(r, 400, "invalid_type", "stream_options must be an object");

	j->n_tokens = m->cfg.tokens;
	v = j_get(root, "max_completion_tokens");
	if (!v.p || j_type(v) == 'n')
		v = j_get(root, "max_tokens");
	if (v.p && j_type(v) != 'n') {
		if (!j_int(v, 0, INT32_MAX, &max))
			return refuse(r, 400, "invalid_value",
				      "max_tokens must be a non-negative integer");
		if (max < j->n_tokens) {
			j->n_tokens = (int)max;
			j->truncated = true;
		}
	}
	return true;
}

static bool check_chat(struct job *j, struct jv root, struct refusal *r)
{
	struct jv messages = j_get(root, "messages"), msg;
	struct text t;
	size_t it = 0;

	if (!messages.p)
		return refuse(r, 400, "missing_required_parameter",
			      "you must provide a messages parameter");
	if (j_type(messages) != '[')
		return refuse(r, 400, "invalid_type", "messages must be an array");
	text_init(&t);
	while (j_next(messages, &it, NULL, &msg)) {
		if (j_type(msg) != '{' || j_type(j_get(msg, "role")) != '"')
			return refuse(r, 400, "invalid_value",
				      "each message must be an object with a role");
		text_content(&t, j_get(msg, "content"));
		text_break(&t);
	}
	if (!it)
		return refuse(r, 400, "invalid_value", "messages must not be empty");
	j->prompt_hash = t.hash;
	j->prompt_tokens = t.words;
	return check_common(j, root, r);
}

static bool check_completions(struct job *j, struct jv root, struct refusal *r)
{
	struct jv prompt = j_get(root, "prompt"), el;
	struct text t;
	size_t it = 0;

	if (!prompt.p)
		return refuse(r, 400, "missing_required_parameter",
			      "you must provide a prompt parameter");
	text_init(&t);
	if (j_type(prompt) == '"') {
		text_string(&t, prompt);
	} else if (j_type(prompt) == '[') {
		while (j_next(prompt, &it, NULL, &el)) {
			if (j_type(el) != '"')
				return refuse(r, 400, "invalid_type",
					      "prompt must be a string or an array of strings");
			text_string(&t, el);
			text_break(&t);
		}
	} else {
		return refuse(r, 400, "invalid_type", "prompt must be a string or an array of strings");
	}
	j->prompt_hash = t.hash;
	j->prompt_tokens = t.words;
	return check_common(j, root, r);
}

static bool check_embeddings(struct job *j, struct jv root, struct refusal *r)
{
	struct jv input = j_get(root, "input"), v, el;
	int64_t dims = AIGW_MOCK_DIMENSIONS;
	size_t it = 0;
	bool any = false;

	if (!input.p)
		return refuse(r, 400, "missing_required_parameter",
			      "you must provide an input parameter");
	if (j_type(input) == '[' && !token_array(input)) {
		while (j_next(input, &it, NULL, &el)) {
			if (j_type(el) != '"' && !token_array(el))
				return refuse(r, 400, "invalid_type",
					      "input must be a string, an array of strings or "
					      "an array of token arrays");
			any = true;
		}
		if (!any)
			return refuse(r, 400, "invalid_value", "input must not be empty");
	} else if (j_type(input) != '"' && j_type(input) != '[') {
		return refuse(r, 400, "invalid_type",
			      "input must be a string, an array of strings or an array of token arrays");
	}
	j->input = input;
	v = j_get(root, "dimensions");
	if (v.p && j_type(v) != 'n' && !j_int(v, 1, AIGW_MOCK_DIMENSIONS_MAX, &dims))
		return refuse(r, 400, "invalid_value", "dimensions must be between 1 and 4096");
	j->dims = (int)dims;
	v = j_get(root, "encoding_format");
	if (v.p && j_type(v) != 'n') {
		if (j_str_is(v, "base64"))
			j->base64 = true;
		else if (!j_str_is(v, "float"))
			return refuse(r, 400, "invalid_value",
				      "encoding_format must be \"float\" or \"base64\"");
	}
	return check_common(j, root, r);
}

/* ------------------------------------------------------------ the handler */

static bool path_is(const struct aigw_server_req *req, const char *p)
{
	size_t n = strlen(p);
	return req->path.len == n && !memcmp(req->path.ptr, p, n);
}

static void answer_models(struct aigw_server_req *req, struct aigw_mock *m)
{
	static const char prefix[] = "/v1/models/";
	const char *id;
	size_t n;

	if (path_is(req, "/v1/models")) {
		aigw_server_respond(req, 200, json_headers, sizeof(json_headers) - 1,
				    m->models_json.data, m->models_json.len);
		return;
	}
	id = req->path.ptr + sizeof(prefix) - 1;
	n = req->path.len - (sizeof(prefix) - 1);
	if (!model_known(m, id, n) || memchr(id, '%', n) || memchr(id, '/', n)) {
		aigw_server_respond_error(req, 404, NULL, 0, NULL, "model_not_found",
					  "the model does not exist");
		return;
	}
	{
		struct mock_worker *mw = req->worker_data;
		char *name = aigw_pool_strndup(req->pool, id, n);
		aigw_buf_reset(&mw->out);
		model_object(&mw->out, name);
		aigw_buf_putc(&mw->out, '\n');
		aigw_server_respond(req, 200, json_headers, sizeof(json_headers) - 1, mw->out.data,
				    mw->out.len);
	}
}

static int route(const struct aigw_server_req *req, const char **allow)
{
	static const char models_prefix[] = "/v1/models/";
	int ep = EP_NONE;

	*allow = "POST";
	if (path_is(req, "/v1/chat/completions"))
		ep = EP_CHAT;
	else if (path_is(req, "/v1/completions"))
		ep = EP_COMPLETIONS;
	else if (path_is(req, "/v1/embeddings"))
		ep = EP_EMBEDDINGS;
	else if (path_is(req, "/v1/models"))
		ep = EP_MODELS;
	else if (req->path.len > sizeof(models_prefix) - 1 &&
		 !memcmp(req->path.ptr, models_prefix, sizeof(models_prefix) - 1))
		ep = EP_MODEL;
	if (ep == EP_MODELS || ep == EP_MODEL)
		*allow = "GET, HEAD";
	return ep;
}

static void mock_handle(struct aigw_server_req *req, void *arg)
{
	struct aigw_mock *m = arg;
	struct mock_worker *mw = req->worker_data;
	struct job job, *j = &job;
	struct refusal refusal;
	struct jv root;
	const char *allow;
	uint64_t count, delay_us;
	bool ok;
	int ep;

	count = atomic_fetch_add_explicit(&m->requests, 1, memory_order_relaxed) + 1;
	if (m->cfg.max_requests && count == m->cfg.max_requests)
		aigw_server_stop(mw->server, m->cfg.grace_ms);

	ep = route(req, &allow);
	if (ep == EP_NONE) {
		aigw_server_respond_error(req, 404, NULL, 0, NULL, "unknown_url",
					  "unknown path (the mock serves /v1/chat/completions, "
					  "/v1/completions, /v1/embeddings and /v1/models)");
		return;
	}
	if (ep == EP_MODELS || ep == EP_MODEL) {
		if (req->method != AIGW_HTTP_GET && req->method != AIGW_HTTP_HEAD)
			goto not_allowed;
		answer_models(req, m);
		return;
	}
	if (req->method != AIGW_HTTP_POST)
		goto not_allowed;

	memset(j, 0, sizeof(*j));
	j->req = req;
	j->mw = mw;
	j->endpoint = ep;
	if (!j_parse_object(req->body, req->body_len, &root)) {
		aigw_server_respond_error(req, 400, NULL, 0, NULL, "invalid_json",
					  "the request body is not a valid JSON object");
		return;
	}
	if (ep == EP_CHAT)
		ok = check_chat(j, root, &refusal);
	else if (ep == EP_COMPLETIONS)
		ok = check_completions(j, root, &refusal);
	else
		ok = check_embeddings(j, root, &refusal);
	if (!ok) {
		aigw_server_respond_error(req, refusal.status, NULL, 0, NULL, refusal.code,
					  refusal.message);
		return;
	}
	if (ep == EP_EMBEDDINGS)
		j->stream = false;

	/* Its fate, from the worker's PRNG: delay, then 429 or error. */
	delay_us = (uint64_t)m->cfg.latency_ms * 1000;
	if (m->cfg.jitter_ms) {
		int64_t span = m->cfg.jitter_ms * 1000;
		int64_t d = (int64_t)(rng_next(mw) % (uint64_t)(2 * span + 1)) - span;
		delay_us = (int64_t)delay_us + d > 0 ? (uint64_t)((int64_t)delay_us + d) : 0;
	}
	if (m->cfg.rate_limit_rate > 0 && rng_unit(mw) < m->cfg.rate_limit_rate)
		j->fate = FATE_RATE_LIMIT;
	else if (m->cfg.error_rate > 0 && rng_unit(mw) < m->cfg.error_rate)
		j->fate = FATE_ERROR;
	j->seq = ++mw->seq;
	j->created = wall_now(mw);

	/* A one-piece answer due now is given from the stack; a stream may
	 * have to wait for the client, so its state goes in the pool. */
	if (delay_us == 0 && (!j->stream || j->fate != FATE_OK)) {
		job_answer(j);
		return;
	}
	j = aigw_pool_alloc(req->pool, sizeof(*j));
	*j = job;
	aigw_ev_timer_init(&j->timer, on_timer, j);
	aigw_server_on_aborted(req, on_aborted, j);
	if (delay_us)
		aigw_ev_timer_start(req->ev, &j->timer, delay_us);
	else
		job_answer(j);
	return;

not_allowed:
	{
		char headers[64];
		int n = snprintf(headers, sizeof(headers), "Allow: %s\r\n", allow);
		aigw_server_respond_error(req, 405, headers, (size_t)n, NULL, "method_not_allowed",
					  "method not allowed");
	}
}

/* ------------------------------------------------------------ workers */

static void on_duration(struct aigw_ev *ev, struct aigw_ev_timer *t, void *arg)
{
	struct mock_worker *mw = arg;

	(void)ev;
	(void)t;
	aigw_server_stop(mw->server, mw->m->cfg.grace_ms);
}

static int worker_init(struct aigw_server *server, struct aigw_ev *ev, int worker, void *arg,
		       void **data, struct aigw_err *err)
{
	struct aigw_mock *m = arg;
	struct mock_worker *mw = aigw_calloc(1, sizeof(*mw));

	(void)err;
	mw->m = m;
	mw->server = server;
	mw->ev = ev;
	mw->index = worker;
	mw->rng = splitmix64(m->cfg.seed) + (uint64_t)worker;
	aigw_buf_init(&mw->out);
	aigw_buf_grow(&mw->out, 4096);
	aigw_ev_timer_init(&mw->duration_timer, on_duration, mw);
	if (worker == 0 && m->cfg.duration_ms > 0)
		aigw_ev_timer_start(ev, &mw->duration_timer, (uint64_t)m->cfg.duration_ms * 1000);
	*data = mw;
	return 0;
}

static void worker_fini(struct aigw_server *server, struct aigw_ev *ev, int worker, void *arg,
			void *data)
{
	struct mock_worker *mw = data;

	(void)server;
	(void)worker;
	(void)arg;
	aigw_ev_timer_stop(ev, &mw->duration_timer);
	aigw_buf_release(&mw->out);
	free(mw);
}

void aigw_mock_attach(struct aigw_mock *m, struct aigw_server_config *sc)
{
	sc->handler = mock_handle;
	sc->handler_arg = m;
	sc->worker_init = worker_init;
	sc->worker_fini = worker_fini;
	sc->worker_arg = m;
}
