/* mock: see mock.h.
 *
 * This file is the core and the openai and azure dialects; the others are
 * in mock_anthropic.c, mock_gemini.c and mock_ollama.c, each a struct
 * mock_dialect (mock_internal.h) of routes, checks and writers.
 *
 * A request goes: route, check the JSON body (one validating pass, then
 * lookups of the few fields that matter; nothing is copied or allocated),
 * draw its fate (delay, 429, error) from the worker's PRNG, then answer at
 * once or from a timer. Streams are driven by one timer per request that
 * fires when the next event is due; events due together go out in one
 * write, and a write that finds the client's buffer full pauses the
 * stream until the server says it drained. */
#include "mock.h"
#include "mock_internal.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "mem.h"
#include "pool.h"

const char *const aigw_mock_default_models[] = {
	"mock-1", "gpt-4o", "gpt-4o-mini", "text-embedding-3-small", NULL,
};

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

/* ------------------------------------------------------------ numbers */

uint64_t mock_splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t rng_next(struct mock_worker *mw)
{
	mw->rng += 0x9e3779b97f4a7c15ull;
	return mock_splitmix64(mw->rng);
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
bool mock_j_parse_object(const char *body, size_t len, struct jv *out)
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

char mock_j_type(struct jv v)
{
	if (!v.p)
		return 0;
	if (*v.p == '-' || is_digit(*v.p))
		return '0';
	return *v.p;
}

/* Next member of an object (*it starts at 0) or element of an array. */
bool mock_j_next(struct jv container, size_t *it, struct jv *key, struct jv *val)
{
	const char *end, *p, *v;

	/* anything but an object or an array (absent too) has no members */
	if (container.n < 2 || (container.p[0] != '{' && container.p[0] != '['))
		return false;
	end = container.p + container.n - 1; /* the closing bracket */
	p = container.p + (*it ? *it : 1);
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
bool mock_j_str_is(struct jv s, const char *lit)
{
	size_t n = strlen(lit);
	return s.p && s.n == n + 2 && s.p[0] == '"' && !memcmp(s.p + 1, lit, n);
}

struct jv mock_j_get(struct jv obj, const char *name)
{
	struct jv key, val = { NULL, 0 };
	size_t it = 0;

	if (mock_j_type(obj) != '{') {
		val.p = NULL;
		return val;
	}
	while (mock_j_next(obj, &it, &key, &val))
		if (mock_j_str_is(key, name))
			return val;
	val.p = NULL;
	val.n = 0;
	return val;
}

/* An integer value in [min, max]. */
bool mock_j_int(struct jv v, int64_t min, int64_t max, int64_t *out)
{
	int64_t x = 0;
	bool neg = false;
	size_t i = 0;

	if (mock_j_type(v) != '0')
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

void mock_text_init(struct text *t)
{
	t->hash = FNV_OFFSET;
	t->words = 0;
	t->in_word = false;
}

void mock_text_byte(struct text *t, unsigned char c)
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
void mock_text_break(struct text *t)
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
void mock_text_string(struct text *t, struct jv s)
{
	const char *p = s.p + 1, *end = s.p + s.n - 1;

	while (p < end) {
		unsigned code;
		if (*p != '\\') {
			mock_text_byte(t, (unsigned char)*p++);
			continue;
		}
		p++;
		switch (*p++) {
		case 'b': mock_text_byte(t, '\b'); break;
		case 'f': mock_text_byte(t, '\f'); break;
		case 'n': mock_text_byte(t, '\n'); break;
		case 'r': mock_text_byte(t, '\r'); break;
		case 't': mock_text_byte(t, '\t'); break;
		case 'u':
			code = (unsigned)(hex_digit(p[0]) << 12 | hex_digit(p[1]) << 8 |
					  hex_digit(p[2]) << 4 | hex_digit(p[3]));
			p += 4;
			/* UTF-8 of the code unit (surrogates each on their own:
			 * enough for hashing and counting) */
			if (code < 0x80) {
				mock_text_byte(t, (unsigned char)code);
			} else if (code < 0x800) {
				mock_text_byte(t, (unsigned char)(0xc0 | code >> 6));
				mock_text_byte(t, (unsigned char)(0x80 | (code & 0x3f)));
			} else {
				mock_text_byte(t, (unsigned char)(0xe0 | code >> 12));
				mock_text_byte(t, (unsigned char)(0x80 | ((code >> 6) & 0x3f)));
				mock_text_byte(t, (unsigned char)(0x80 | (code & 0x3f)));
			}
			break;
		default: mock_text_byte(t, (unsigned char)p[-1]); break; /* " \ / */
		}
	}
}

/* A message content: a string, or an array of parts whose "text" counts. */
void mock_text_content(struct text *t, struct jv content)
{
	if (mock_j_type(content) == '"') {
		mock_text_string(t, content);
	} else if (mock_j_type(content) == '[') {
		struct jv part;
		size_t it = 0;
		bool first = true;
		/* Parts are separated like messages; the last one is not
		 * followed by a break, so that one text part hashes as the same
		 * text given as a string (the dialects spell it either way). */
		while (mock_j_next(content, &it, NULL, &part)) {
			struct jv txt;
			if (mock_j_type(part) != '{')
				continue;
			txt = mock_j_get(part, "text");
			if (mock_j_type(txt) == '"') {
				if (!first)
					mock_text_break(t);
				mock_text_string(t, txt);
				first = false;
			}
		}
	}
}

/* ------------------------------------------------------------ writing */

void mock_put_i64(struct aigw_buf *b, int64_t v)
{
	if (v < 0) {
		aigw_buf_putc(b, '-');
		aigw_buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		aigw_buf_put_u64(b, (uint64_t)v);
	}
}

void mock_put_jv(struct aigw_buf *b, struct jv v)
{
	aigw_buf_append(b, v.p, v.n);
}

void mock_json_escape(struct aigw_buf *b, const char *s)
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
	return m->strict_models ? (const char *const *)m->cfg.models.v : m->dialect->default_models;
}

const char *const aigw_mock_dialects[] = { "openai", "anthropic", "gemini", "ollama", "azure",
					   NULL };

static const struct mock_dialect *const dialects[] = {
	[AIGW_MOCK_OPENAI] = &mock_openai,       [AIGW_MOCK_ANTHROPIC] = &mock_anthropic,
	[AIGW_MOCK_GEMINI] = &mock_gemini,       [AIGW_MOCK_OLLAMA] = &mock_ollama,
	[AIGW_MOCK_AZURE] = &mock_azure,
};

int aigw_mock_dialect_parse(const char *name)
{
	for (int i = 0; aigw_mock_dialects[i]; i++)
		if (!strcmp(aigw_mock_dialects[i], name))
			return i;
	return -1;
}

static void model_object(struct aigw_buf *b, const char *name)
{
	PUT_LIT(b, "{\"id\":\"");
	mock_json_escape(b, name);
	PUT_LIT(b, "\",\"object\":\"model\",\"created\":");
	aigw_buf_put_u64(b, MOCK_MODEL_CREATED);
	PUT_LIT(b, ",\"owned_by\":\"aigw-mock\"}");
}

int aigw_mock_new(struct aigw_mock **out, const struct aigw_mock_config *c, struct aigw_err *err)
{
	struct aigw_mock *m;

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

	if (c->slow_factor < 0 || c->slow_factor > 1000 || c->slow_at_ms < 0 || c->slow_for_ms < 0)
		return aigw_err_set(err, AIGW_EINVAL, "the slow spell's factor must be 0 to 1000");
	if (c->dialect < 0 || c->dialect >= AIGW_MOCK_DIALECTS)
		return aigw_err_set(err, AIGW_EINVAL, "unknown dialect %d", c->dialect);

	m = aigw_calloc(1, sizeof(*m));
	m->cfg = *c;
	m->dialect = dialects[c->dialect];
	memset(&m->cfg.models, 0, sizeof(m->cfg.models));
	aigw_strv_copy(&m->cfg.models, &c->models);
	m->strict_models = m->cfg.models.n > 0;
	atomic_init(&m->requests, 0);
	m->started_us = aigw_clock_mono_us();

	aigw_buf_init(&m->models_json);
	m->dialect->put_models(&m->models_json, model_list(m));

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
	return vocab[mock_splitmix64(j->prompt_hash + (uint64_t)i) & 63];
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
	mock_put_i64(b, j->created);
	PUT_LIT(b, ",\"model\":");
	mock_put_jv(b, j->model);
	aigw_buf_putc(b, ',');
}

static void put_openai_usage(struct aigw_buf *b, const struct job *j, uint64_t completion)
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
	if (j->tool)
		return "tool_calls";
	return j->truncated ? "length" : "stop";
}

void mock_put_text(struct aigw_buf *b, const struct job *j)
{
	for (int i = 0; i < j->n_tokens; i++) {
		if (i)
			aigw_buf_putc(b, ' ');
		aigw_buf_puts(b, token_word(j, i));
	}
}

static void put_tool_call_id(struct aigw_buf *b, const struct job *j)
{
	PUT_LIT(b, "\"call_");
	mock_put_id(b, j);
	aigw_buf_putc(b, '"');
}

static void put_chat(struct aigw_buf *b, const struct job *j)
{
	put_envelope(b, j, "chat.completion");
	PUT_LIT(b, "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
	if (j->tool) {
		PUT_LIT(b, "null,\"tool_calls\":[{\"id\":");
		put_tool_call_id(b, j);
		PUT_LIT(b, ",\"type\":\"function\",\"function\":{\"name\":");
		mock_put_jv(b, j->tool_name);
		PUT_LIT(b, ",\"arguments\":\"");
		mock_put_tool_args(b, j, 1);
		PUT_LIT(b, "\"}}]");
	} else {
		aigw_buf_putc(b, '"');
		mock_put_text(b, j);
		aigw_buf_putc(b, '"');
	}
	PUT_LIT(b, ",\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"");
	aigw_buf_puts(b, finish_reason(j));
	PUT_LIT(b, "\"}],");
	put_openai_usage(b, j, (uint64_t)j->n_tokens);
	PUT_LIT(b, "}\n");
}

static void put_completion(struct aigw_buf *b, const struct job *j)
{
	put_envelope(b, j, "text_completion");
	PUT_LIT(b, "\"choices\":[{\"text\":\"");
	mock_put_text(b, j);
	PUT_LIT(b, "\",\"index\":0,\"logprobs\":null,\"finish_reason\":\"");
	aigw_buf_puts(b, finish_reason(j));
	PUT_LIT(b, "\"}],");
	put_openai_usage(b, j, (uint64_t)j->n_tokens);
	PUT_LIT(b, "}\n");
}

/* One embedding of hash h: dims values in [-1, 1], scaled to unit length. */
void mock_put_vector(struct aigw_buf *b, const struct job *j, uint64_t h)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	double sum = 0, scale;
	unsigned char quad[3];
	int have = 0;

	for (int i = 0; i < j->dims; i++) {
		double v = (double)(mock_splitmix64(h + (uint64_t)i) >> 11) / 4503599627370496.0 - 1.0;
		sum += v * v;
	}
	scale = sum > 0 ? 1.0 / square_root(sum) : 0;
	if (j->base64)
		aigw_buf_putc(b, '"');
	else
		aigw_buf_putc(b, '[');
	for (int i = 0; i < j->dims; i++) {
		double v = ((double)(mock_splitmix64(h + (uint64_t)i) >> 11) / 4503599627370496.0 - 1.0) *
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
uint64_t mock_input_hash(struct jv v, uint64_t *tokens)
{
	struct text t;

	mock_text_init(&t);
	if (mock_j_type(v) == '"') {
		mock_text_string(&t, v);
		*tokens += t.words;
		return t.hash;
	}
	{
		struct jv el;
		size_t it = 0;
		while (mock_j_next(v, &it, NULL, &el)) {
			for (size_t i = 0; i < el.n; i++)
				mock_text_byte(&t, (unsigned char)el.p[i]);
			mock_text_byte(&t, ',');
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

	if (mock_j_type(v) != '[')
		return false;
	while (mock_j_next(v, &it, NULL, &el)) {
		if (!mock_j_int(el, 0, INT64_MAX / 2, &x))
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
	if (mock_j_type(j->input) == '"' || token_array(j->input)) {
		PUT_LIT(b, "{\"object\":\"embedding\",\"index\":0,\"embedding\":");
		mock_put_vector(b, j, mock_input_hash(j->input, &tokens));
		aigw_buf_putc(b, '}');
	} else {
		while (mock_j_next(j->input, &it, NULL, &el)) {
			if (index)
				aigw_buf_putc(b, ',');
			PUT_LIT(b, "{\"object\":\"embedding\",\"index\":");
			aigw_buf_put_u64(b, (uint64_t)index++);
			PUT_LIT(b, ",\"embedding\":");
			mock_put_vector(b, j, mock_input_hash(el, &tokens));
			aigw_buf_putc(b, '}');
		}
	}
	PUT_LIT(b, "],\"model\":");
	mock_put_jv(b, j->model);
	PUT_LIT(b, ",\"usage\":{\"prompt_tokens\":");
	aigw_buf_put_u64(b, tokens);
	PUT_LIT(b, ",\"total_tokens\":");
	aigw_buf_put_u64(b, tokens);
	PUT_LIT(b, "}}\n");
}

/* ------------------------------------------------------------ streams */

/* One chunk: the head (event -1: the role, and a tool call's id and
 * name), a token or argument piece, or the end (event n_events: the
 * finish reason). */
static void put_openai_chunk(struct aigw_buf *b, const struct job *j, int event)
{
	bool last = event >= j->n_events;

	PUT_LIT(b, "data: ");
	if (j->endpoint == EP_CHAT) {
		put_envelope(b, j, "chat.completion.chunk");
		PUT_LIT(b, "\"choices\":[{\"index\":0,\"delta\":{");
		if (event < 0 && j->tool) {
			PUT_LIT(b, "\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,"
				   "\"id\":");
			put_tool_call_id(b, j);
			PUT_LIT(b, ",\"type\":\"function\",\"function\":{\"name\":");
			mock_put_jv(b, j->tool_name);
			PUT_LIT(b, ",\"arguments\":\"\"}}]");
		} else if (event < 0) {
			PUT_LIT(b, "\"role\":\"assistant\",\"content\":\"\"");
		} else if (!last && j->tool) {
			PUT_LIT(b, "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"");
			mock_put_tool_piece(b, j, event, 1);
			PUT_LIT(b, "\"}}]");
		} else if (!last) {
			PUT_LIT(b, "\"content\":\"");
			mock_put_token(b, j, event);
			aigw_buf_putc(b, '"');
		}
		PUT_LIT(b, "},\"logprobs\":null,\"finish_reason\":");
	} else {
		put_envelope(b, j, "text_completion");
		PUT_LIT(b, "\"choices\":[{\"text\":\"");
		if (!last)
			mock_put_token(b, j, event);
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

static void put_openai_head(struct aigw_buf *b, const struct job *j)
{
	if (j->endpoint == EP_CHAT)
		put_openai_chunk(b, j, -1);
}

static void put_openai_event(struct aigw_buf *b, const struct job *j, int i)
{
	put_openai_chunk(b, j, i);
}

/* The events after the last token: the finish reason, the usage chunk
 * when asked for, and [DONE]. */
static void put_openai_end(struct aigw_buf *b, const struct job *j)
{
	put_openai_chunk(b, j, j->n_events);
	if (j->include_usage) {
		PUT_LIT(b, "data: ");
		put_envelope(b, j, j->endpoint == EP_CHAT ? "chat.completion.chunk" : "text_completion");
		PUT_LIT(b, "\"choices\":[],");
		put_openai_usage(b, j, (uint64_t)j->n_tokens);
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
	const struct mock_dialect *d = mw->m->dialect;
	struct aigw_buf *b = &mw->out;
	uint64_t now = aigw_ev_now_us(mw->ev);

	aigw_buf_reset(b);
	while (j->sent < j->n_events) {
		uint64_t due = token_due_us(j, j->sent);
		if (due > now) {
			if (!stream_flush(j))
				return;
			aigw_ev_timer_start(mw->ev, &j->timer, due - now);
			return;
		}
		d->put_event(b, j, j->sent++);
		if (b->len >= STREAM_BATCH && !stream_flush(j))
			return;
	}
	d->put_end(b, j);
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

const char mock_sse_headers[] = "Content-Type: text/event-stream\r\n"
				"Cache-Control: no-cache\r\n"
				"X-Accel-Buffering: no\r\n";
const char mock_json_headers[] = "Content-Type: application/json\r\n";

/* The answer is due: an error, the whole body, or a stream's start. */
static void job_answer(struct job *j)
{
	struct aigw_mock *m = j->mw->m;
	const struct mock_dialect *d = m->dialect;
	struct aigw_buf *b = &j->mw->out;
	struct refusal r;

	if (j->fate == FATE_RATE_LIMIT) {
		r.status = 429;
		r.type = "requests";
		r.code = "rate_limit_exceeded";
		r.message = "rate limit reached (aigw mock --rate-limit-rate)";
		d->respond_error(j, 429, m->retry_headers, m->retry_headers_len, &r);
		return;
	}
	if (j->fate == FATE_ERROR) {
		r.status = m->cfg.error_status;
		r.type = m->cfg.error_status >= 500 ? "server_error" : "invalid_request_error";
		r.code = "mock_error";
		r.message = "mock failure (aigw mock --error-rate)";
		d->respond_error(j, m->cfg.error_status, NULL, 0, &r);
		return;
	}
	if (j->stream) {
		j->started = true;
		if (aigw_server_stream_start(j->req, 200, d->stream_headers,
					     strlen(d->stream_headers), -1))
			return;
		aigw_server_on_drained(j->req, on_drained, j);
		j->tokens_at_us = aigw_ev_now_us(j->mw->ev) + (uint64_t)m->cfg.ttft_ms * 1000;
		aigw_buf_reset(b);
		d->put_head(b, j);
		if (!stream_flush(j) && !j->paused)
			return;
		if (j->paused)
			return; /* drained resumes */
		stream_pump(j);
		return;
	}
	aigw_buf_reset(b);
	d->put_body(b, j);
	aigw_server_respond(j->req, 200, mock_json_headers, sizeof(mock_json_headers) - 1, b->data,
			    b->len);
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

/* ------------------------------------------------------------ helpers of dialects */

void mock_respond_json(struct job *j, int status, const char *headers, size_t headers_len)
{
	struct aigw_buf *b = &j->mw->out;
	char head[256];
	size_t n = 0;

	if (headers && headers_len <= sizeof(head) - sizeof(mock_json_headers)) {
		memcpy(head, headers, headers_len);
		n = headers_len;
	}
	memcpy(head + n, mock_json_headers, sizeof(mock_json_headers) - 1);
	n += sizeof(mock_json_headers) - 1;
	aigw_server_respond(j->req, status, head, n, b->data, b->len);
}

bool mock_refuse(struct refusal *r, int status, const char *code, const char *message)
{
	r->status = status;
	r->type = NULL;
	r->code = code;
	r->message = message;
	return false;
}

bool mock_model_known(const struct aigw_mock *m, const char *p, size_t n)
{
	if (!m->strict_models)
		return true;
	for (size_t i = 0; i < m->cfg.models.n; i++)
		if (strlen(m->cfg.models.v[i]) == n && !memcmp(m->cfg.models.v[i], p, n))
			return true;
	return false;
}

bool mock_path_is(const struct aigw_server_req *req, const char *p)
{
	size_t n = strlen(p);
	return req->path.len == n && !memcmp(req->path.ptr, p, n);
}

bool mock_query_param(const struct aigw_server_req *req, const char *name, const char **value,
		      size_t *len)
{
	const char *p = req->query.ptr, *end;
	size_t n = strlen(name);

	if (!p)
		return false;
	end = p + req->query.len;
	if (p < end && *p == '?')
		p++;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *stop = amp ? amp : end;
		size_t field = (size_t)(stop - p);
		if (field >= n && !memcmp(p, name, n) && (field == n || p[n] == '=')) {
			*value = field == n ? stop : p + n + 1;
			*len = (size_t)(stop - *value);
			return true;
		}
		p = stop + 1;
	}
	return false;
}

bool mock_model_path(struct job *j, const char *prefix)
{
	const struct aigw_server_req *req = j->req;
	size_t n = strlen(prefix);

	if (req->path.len <= n || memcmp(req->path.ptr, prefix, n))
		return false;
	if (!memchr(req->path.ptr + n, '/', req->path.len - n))
		mock_model_from_path(j, req->path.ptr + n, req->path.len - n);
	return true;
}

bool mock_model_from_path(struct job *j, const char *p, size_t n)
{
	char *q;

	if (n == 0 || n > 256)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
		      c == '_' || c == '-' || c == ':' || c == '/'))
			return false;
	}
	q = aigw_pool_alloc(j->req->pool, n + 2);
	q[0] = '"';
	memcpy(q + 1, p, n);
	q[n + 1] = '"';
	j->model.p = q;
	j->model.n = n + 2;
	return true;
}

void mock_put_hex(struct aigw_buf *b, uint64_t v)
{
	static const char hex[] = "0123456789abcdef";
	char out[16];

	for (int i = 15; i >= 0; i--, v >>= 4)
		out[i] = hex[v & 15];
	aigw_buf_append(b, out, sizeof(out));
}

void mock_put_id(struct aigw_buf *b, const struct job *j)
{
	mock_put_hex(b, mock_splitmix64((uint64_t)j->mw->index << 48 ^ j->seq));
}

void mock_put_iso_time(struct aigw_buf *b, struct mock_worker *mw, int64_t unix_s)
{
	/* formatted once a second per worker: streams write it on every line */
	if (!mw->iso_len || mw->iso_s != unix_s) {
		time_t t = (time_t)unix_s;
		struct tm tm;
		mw->iso_len = gmtime_r(&t, &tm)
				      ? strftime(mw->iso, sizeof(mw->iso), "%Y-%m-%dT%H:%M:%SZ", &tm)
				      : 0;
		if (!mw->iso_len) {
			memcpy(mw->iso, MOCK_MODEL_CREATED_ISO, sizeof(MOCK_MODEL_CREATED_ISO));
			mw->iso_len = sizeof(MOCK_MODEL_CREATED_ISO) - 1;
		}
		mw->iso_s = unix_s;
	}
	aigw_buf_append(b, mw->iso, mw->iso_len);
}

void mock_put_token(struct aigw_buf *b, const struct job *j, int i)
{
	if (i)
		aigw_buf_putc(b, ' ');
	aigw_buf_puts(b, token_word(j, i));
}

void mock_cap_tokens(struct job *j, int64_t limit)
{
	if (limit >= 0 && limit < j->n_tokens) {
		j->n_tokens = (int)limit;
		j->truncated = true;
	}
}

struct jv mock_first_text(struct jv content)
{
	struct jv none = { "\"\"", 2 }, part, txt;
	size_t it = 0;

	if (mock_j_type(content) == '"')
		return content;
	if (mock_j_type(content) != '[')
		return none;
	while (mock_j_next(content, &it, NULL, &part)) {
		txt = mock_j_get(part, "text");
		if (mock_j_type(part) == '{' && mock_j_type(txt) == '"')
			return txt;
	}
	return none;
}

/* ------------------------------------------------------------ tool calls */

/* The next character of a string value, decoded to UTF-8 in out (1 to 4
 * bytes); p at the first byte after the opening quote. */
static const char *decode_char(const char *p, const char *end, unsigned char out[4], int *n)
{
	unsigned code;

	if (*p != '\\') {
		out[0] = (unsigned char)*p;
		*n = 1;
		return p + 1;
	}
	p++;
	switch (*p++) {
	case 'b': out[0] = '\b'; break;
	case 'f': out[0] = '\f'; break;
	case 'n': out[0] = '\n'; break;
	case 'r': out[0] = '\r'; break;
	case 't': out[0] = '\t'; break;
	case 'u':
		code = (unsigned)(hex_digit(p[0]) << 12 | hex_digit(p[1]) << 8 | hex_digit(p[2]) << 4 |
				  hex_digit(p[3]));
		p += 4;
		if (code >= 0xd800 && code < 0xdc00 && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
			unsigned low = (unsigned)(hex_digit(p[2]) << 12 | hex_digit(p[3]) << 8 |
						  hex_digit(p[4]) << 4 | hex_digit(p[5]));
			if (low >= 0xdc00 && low < 0xe000) {
				code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
				p += 6;
			}
		}
		if (code >= 0xd800 && code < 0xe000)
			code = 0xfffd; /* a lone surrogate */
		if (code < 0x80) {
			out[0] = (unsigned char)code;
			*n = 1;
		} else if (code < 0x800) {
			out[0] = (unsigned char)(0xc0 | code >> 6);
			out[1] = (unsigned char)(0x80 | (code & 0x3f));
			*n = 2;
		} else if (code < 0x10000) {
			out[0] = (unsigned char)(0xe0 | code >> 12);
			out[1] = (unsigned char)(0x80 | ((code >> 6) & 0x3f));
			out[2] = (unsigned char)(0x80 | (code & 0x3f));
			*n = 3;
		} else {
			out[0] = (unsigned char)(0xf0 | code >> 18);
			out[1] = (unsigned char)(0x80 | ((code >> 12) & 0x3f));
			out[2] = (unsigned char)(0x80 | ((code >> 6) & 0x3f));
			out[3] = (unsigned char)(0x80 | (code & 0x3f));
			*n = 4;
		}
		return p;
	default: out[0] = (unsigned char)p[-1]; break; /* " \ / */
	}
	*n = 1;
	return p;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* A byte of the arguments, escaped `times` times as a JSON string. */
static void put_escaped(struct aigw_buf *b, unsigned char c, int times)
{
	static const char hex[] = "0123456789abcdef";
	char e[6];
	int n = 0;

	if (times <= 0) {
		aigw_buf_putc(b, (char)c);
		return;
	}
	if (c == '"' || c == '\\') {
		e[n++] = '\\';
		e[n++] = (char)c;
	} else if (c < 0x20) {
		e[0] = '\\';
		e[1] = 'u';
		e[2] = '0';
		e[3] = '0';
		e[4] = hex[c >> 4];
		e[5] = hex[c & 15];
		n = 6;
	} else {
		e[n++] = (char)c;
	}
	for (int i = 0; i < n; i++)
		put_escaped(b, (unsigned char)e[i], times - 1);
}

static void put_escaped_str(struct aigw_buf *b, const char *s, int times)
{
	for (; *s; s++)
		put_escaped(b, (unsigned char)*s, times);
}

/* Word w of the query (its words joined by single spaces). */
static void put_query_word(struct aigw_buf *b, const struct job *j, int w, int times)
{
	const char *p = j->query.p + 1, *end = j->query.p + j->query.n - 1;
	bool in_word = false;
	int index = -1;

	while (p < end) {
		unsigned char c[4];
		int n;
		p = decode_char(p, end, c, &n);
		if (n == 1 && is_space(c[0])) {
			if (in_word && index == w)
				return;
			in_word = false;
			continue;
		}
		if (!in_word) {
			in_word = true;
			index++;
		}
		if (index == w)
			for (int i = 0; i < n; i++)
				put_escaped(b, c[i], times);
	}
}

void mock_tool_pick(struct job *j, struct jv first_tool, struct jv forced, bool none,
		    struct jv user_text, bool pieces_streamed)
{
	struct text t;

	if (none || !first_tool.p || !user_text.p)
		return;
	j->tool = true;
	j->tool_name = forced.p ? forced : first_tool;
	j->query = user_text;
	mock_text_init(&t);
	mock_text_string(&t, user_text);
	j->query_words = t.words < AIGW_MOCK_QUERY_WORDS ? (int)t.words : AIGW_MOCK_QUERY_WORDS;
	j->n_tokens = mock_tool_pieces(j);
	j->n_events = pieces_streamed ? j->n_tokens : 1;
	j->truncated = false;
}

/* The pieces: `{"query": `, `"` and the first word, ` word` for each
 * other word, `"}`: at least three. */
int mock_tool_pieces(const struct job *j)
{
	return 2 + (j->query_words > 1 ? j->query_words : 1);
}

void mock_put_tool_piece(struct aigw_buf *b, const struct job *j, int i, int level)
{
	int last = mock_tool_pieces(j) - 1;

	if (i == 0) {
		put_escaped_str(b, "{\"query\": ", level);
	} else if (i == last) {
		put_escaped_str(b, "\"}", level);
	} else {
		if (i == 1)
			put_escaped(b, '"', level);
		else
			aigw_buf_putc(b, ' ');
		if (i - 1 < j->query_words)
			put_query_word(b, j, i - 1, level + 1);
	}
}

void mock_put_tool_args(struct aigw_buf *b, const struct job *j, int level)
{
	int n = mock_tool_pieces(j);

	for (int i = 0; i < n; i++)
		mock_put_tool_piece(b, j, i, level);
}

/* ------------------------------------------------------------ openai: checking */

/* Reads the fields every POST endpoint shares. */
static bool check_common(struct job *j, struct jv root, struct refusal *r)
{
	struct aigw_mock *m = j->mw->m;
	struct jv v;
	int64_t max;

	if (!j->model.p) {
		j->model = mock_j_get(root, "model");
		if (!j->model.p)
			return mock_refuse(r, 400, "missing_required_parameter",
					   "you must provide a model parameter");
		if (mock_j_type(j->model) != '"' || j->model.n <= 2)
			return mock_refuse(r, 400, "invalid_type", "model must be a non-empty string");
	}
	if (!mock_model_known(m, j->model.p + 1, j->model.n - 2)) {
		if (m->dialect == &mock_azure)
			return mock_refuse(r, 404, "DeploymentNotFound",
					   "The API deployment for this resource does not exist.");
		return mock_refuse(r, 404, "model_not_found", "the model does not exist");
	}
	if (j->endpoint == EP_EMBEDDINGS)
		return true;

	v = mock_j_get(root, "stream");
	if (v.p && mock_j_type(v) != 't' && mock_j_type(v) != 'f' && mock_j_type(v) != 'n')
		return mock_refuse(r, 400, "invalid_type", "stream must be a boolean");
	j->stream = mock_j_type(v) == 't';
	v = mock_j_get(root, "stream_options");
	if (v.p && mock_j_type(v) == '{')
		j->include_usage = mock_j_type(mock_j_get(v, "include_usage")) == 't';
	else if (v.p && mock_j_type(v) != 'n')
		return mock_refuse(r, 400, "invalid_type", "stream_options must be an object");

	v = mock_j_get(root, "max_completion_tokens");
	if (!v.p || mock_j_type(v) == 'n')
		v = mock_j_get(root, "max_tokens");
	if (v.p && mock_j_type(v) != 'n') {
		if (!mock_j_int(v, 0, INT32_MAX, &max))
			return mock_refuse(r, 400, "invalid_value",
					   "max_tokens must be a non-negative integer");
		if (!j->tool)
			mock_cap_tokens(j, max);
	}
	return true;
}

/* OpenAI's tools: [{"type":"function","function":{"name":...}}], and
 * tool_choice "none", "auto", "required" or {"type":"function",
 * "function":{"name":...}}. */
static bool check_openai_tools(struct job *j, struct jv root, struct jv last, struct refusal *r)
{
	struct jv tools = mock_j_get(root, "tools"), choice;
	struct jv tool, first = { NULL, 0 }, forced = { NULL, 0 }, text = { NULL, 0 };
	size_t it = 0;

	if (!tools.p || mock_j_type(tools) == 'n')
		return true;
	choice = mock_j_get(root, "tool_choice");
	if (mock_j_type(tools) != '[')
		return mock_refuse(r, 400, "invalid_type", "tools must be an array");
	while (mock_j_next(tools, &it, NULL, &tool)) {
		struct jv name = mock_j_get(mock_j_get(tool, "function"), "name");
		if (mock_j_type(tool) != '{' || mock_j_type(mock_j_get(tool, "function")) != '{' ||
		    mock_j_type(name) != '"' || name.n <= 2)
			return mock_refuse(r, 400, "invalid_value",
					   "each tool must be {\"type\":\"function\",\"function\":"
					   "{\"name\":...}}");
		if (!first.p)
			first = name;
	}
	if (mock_j_type(choice) == '{') {
		forced = mock_j_get(mock_j_get(choice, "function"), "name");
		if (mock_j_type(forced) != '"')
			return mock_refuse(r, 400, "invalid_value",
					   "tool_choice must name a function");
	} else if (choice.p && mock_j_type(choice) != 'n' && !mock_j_str_is(choice, "none") &&
		   !mock_j_str_is(choice, "auto") && !mock_j_str_is(choice, "required")) {
		return mock_refuse(r, 400, "invalid_value",
				   "tool_choice must be \"none\", \"auto\", \"required\" or an object");
	}
	if (mock_j_str_is(mock_j_get(last, "role"), "user"))
		text = mock_first_text(mock_j_get(last, "content"));
	mock_tool_pick(j, first, forced, mock_j_str_is(choice, "none"), text, true);
	return true;
}

static bool check_chat(struct job *j, struct jv root, struct refusal *r)
{
	struct jv messages = mock_j_get(root, "messages"), msg, last = { NULL, 0 };
	struct text t;
	size_t it = 0;

	if (!messages.p)
		return mock_refuse(r, 400, "missing_required_parameter",
				   "you must provide a messages parameter");
	if (mock_j_type(messages) != '[')
		return mock_refuse(r, 400, "invalid_type", "messages must be an array");
	mock_text_init(&t);
	while (mock_j_next(messages, &it, NULL, &msg)) {
		if (mock_j_type(msg) != '{' || mock_j_type(mock_j_get(msg, "role")) != '"')
			return mock_refuse(r, 400, "invalid_value",
					   "each message must be an object with a role");
		mock_text_content(&t, mock_j_get(msg, "content"));
		mock_text_break(&t);
		last = msg;
	}
	if (!it)
		return mock_refuse(r, 400, "invalid_value", "messages must not be empty");
	j->prompt_hash = t.hash;
	j->prompt_tokens = t.words;
	j->n_tokens = j->mw->m->cfg.tokens;
	if (!check_openai_tools(j, root, last, r))
		return false;
	if (!check_common(j, root, r))
		return false;
	if (!j->tool)
		j->n_events = j->n_tokens;
	return true;
}

static bool check_completions(struct job *j, struct jv root, struct refusal *r)
{
	struct jv prompt = mock_j_get(root, "prompt"), el;
	struct text t;
	size_t it = 0;

	if (!prompt.p)
		return mock_refuse(r, 400, "missing_required_parameter",
				   "you must provide a prompt parameter");
	mock_text_init(&t);
	if (mock_j_type(prompt) == '"') {
		mock_text_string(&t, prompt);
	} else if (mock_j_type(prompt) == '[') {
		while (mock_j_next(prompt, &it, NULL, &el)) {
			if (mock_j_type(el) != '"')
				return mock_refuse(r, 400, "invalid_type",
						   "prompt must be a string or an array of strings");
			mock_text_string(&t, el);
			mock_text_break(&t);
		}
	} else {
		return mock_refuse(r, 400, "invalid_type",
				   "prompt must be a string or an array of strings");
	}
	j->prompt_hash = t.hash;
	j->prompt_tokens = t.words;
	j->n_tokens = j->mw->m->cfg.tokens;
	if (!check_common(j, root, r))
		return false;
	j->n_events = j->n_tokens;
	return true;
}
static bool check_embeddings(struct job *j, struct jv root, struct refusal *r)
{
	struct jv input = mock_j_get(root, "input"), v, el;
	int64_t dims = AIGW_MOCK_DIMENSIONS;
	size_t it = 0;
	bool any = false;

	if (!input.p)
		return mock_refuse(r, 400, "missing_required_parameter",
			      "you must provide an input parameter");
	if (mock_j_type(input) == '[' && !token_array(input)) {
		while (mock_j_next(input, &it, NULL, &el)) {
			if (mock_j_type(el) != '"' && !token_array(el))
				return mock_refuse(r, 400, "invalid_type",
					      "input must be a string, an array of strings or "
					      "an array of token arrays");
			any = true;
		}
		if (!any)
			return mock_refuse(r, 400, "invalid_value", "input must not be empty");
	} else if (mock_j_type(input) != '"' && mock_j_type(input) != '[') {
		return mock_refuse(r, 400, "invalid_type",
			      "input must be a string, an array of strings or an array of token arrays");
	}
	j->input = input;
	v = mock_j_get(root, "dimensions");
	if (v.p && mock_j_type(v) != 'n' && !mock_j_int(v, 1, AIGW_MOCK_DIMENSIONS_MAX, &dims))
		return mock_refuse(r, 400, "invalid_value", "dimensions must be between 1 and 4096");
	j->dims = (int)dims;
	v = mock_j_get(root, "encoding_format");
	if (v.p && mock_j_type(v) != 'n') {
		if (mock_j_str_is(v, "base64"))
			j->base64 = true;
		else if (!mock_j_str_is(v, "float"))
			return mock_refuse(r, 400, "invalid_value",
				      "encoding_format must be \"float\" or \"base64\"");
	}
	return check_common(j, root, r);
}

/* ------------------------------------------------------------ openai and azure */

static void openai_respond_error(struct job *j, int status, const char *headers,
				 size_t headers_len, const struct refusal *r)
{
	aigw_server_respond_error(j->req, status, headers, headers_len, r->type, r->code,
				  r->message);
}

/* Azure's own errors (keys, api-version, deployments, rate limits) are
 * {"error":{"code":"401","message":...}}; the others are OpenAI's. */
static void azure_respond_error(struct job *j, int status, const char *headers,
				size_t headers_len, const struct refusal *r)
{
	struct aigw_buf *b = &j->mw->out;
	struct refusal unknown;

	if (r->code && !strcmp(r->code, "unknown_url")) {
		mock_refuse(&unknown, 404, "404", "Resource not found");
		r = &unknown;
	}
	if (status != 429 && !(r->code && r->code[0] >= 'A' && r->code[0] <= 'Z') &&
	    !(r->code && is_digit(r->code[0]))) {
		openai_respond_error(j, status, headers, headers_len, r);
		return;
	}
	aigw_buf_reset(b);
	PUT_LIT(b, "{\"error\":{\"code\":\"");
	if (status == 429)
		PUT_LIT(b, "429");
	else
		mock_json_escape(b, r->code);
	PUT_LIT(b, "\",\"message\":\"");
	mock_json_escape(b, r->message);
	PUT_LIT(b, "\"}}\n");
	mock_respond_json(j, status, headers, headers_len);
}

static void put_openai_body(struct aigw_buf *b, struct job *j)
{
	if (j->endpoint == EP_CHAT)
		put_chat(b, j);
	else if (j->endpoint == EP_COMPLETIONS)
		put_completion(b, j);
	else
		put_embeddings(b, j);
}

static void put_openai_models(struct aigw_buf *b, const char *const *names)
{
	PUT_LIT(b, "{\"object\":\"list\",\"data\":[");
	for (size_t i = 0; names[i]; i++) {
		if (i)
			aigw_buf_putc(b, ',');
		model_object(b, names[i]);
	}
	PUT_LIT(b, "]}\n");
}

static int openai_route(struct job *j, const char **allow)
{
	static const char models_prefix[] = "/v1/models/";
	const struct aigw_server_req *req = j->req;
	int ep = EP_NONE;

	*allow = "POST";
	if (mock_path_is(req, "/v1/chat/completions"))
		ep = EP_CHAT;
	else if (mock_path_is(req, "/v1/completions"))
		ep = EP_COMPLETIONS;
	else if (mock_path_is(req, "/v1/embeddings"))
		ep = EP_EMBEDDINGS;
	else if (mock_path_is(req, "/v1/models"))
		ep = EP_MODELS;
	else if (mock_model_path(j, models_prefix))
		ep = EP_MODEL;
	if (ep == EP_MODELS || ep == EP_MODEL)
		*allow = "GET, HEAD";
	return ep;
}

/* /openai/deployments/{deployment}/chat/completions (or /completions,
 * /embeddings): the deployment is the answer's model. */
static int azure_route(struct job *j, const char **allow)
{
	static const char prefix[] = "/openai/deployments/";
	static const char *const tails[] = { "/chat/completions", "/completions", "/embeddings" };
	static const int endpoints[] = { EP_CHAT, EP_COMPLETIONS, EP_EMBEDDINGS };
	const char *p = j->req->path.ptr, *dep;
	size_t n = j->req->path.len, dep_n;
	const char *slash;

	*allow = "POST";
	if (n <= sizeof(prefix) - 1 || memcmp(p, prefix, sizeof(prefix) - 1))
		return EP_NONE;
	dep = p + sizeof(prefix) - 1;
	slash = memchr(dep, '/', n - (sizeof(prefix) - 1));
	if (!slash)
		return EP_NONE;
	dep_n = (size_t)(slash - dep);
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		size_t tn = strlen(tails[i]);
		if ((size_t)(p + n - slash) == tn && !memcmp(slash, tails[i], tn)) {
			if (!mock_model_from_path(j, dep, dep_n))
				return EP_NONE;
			return endpoints[i];
		}
	}
	return EP_NONE;
}

/* Azure wants ?api-version= (else 404, as for an unknown resource) and
 * a key: api-key, or Authorization: Bearer (a Microsoft Entra token). */
static bool azure_admit(struct job *j, struct refusal *r)
{
	const struct aigw_http_slice *key = aigw_server_req_header(j->req, "api-key");
	const struct aigw_http_slice *auth = aigw_server_req_header(j->req, "authorization");
	const char *v;
	size_t n;

	if (!mock_query_param(j->req, "api-version", &v, &n) || !n)
		return mock_refuse(r, 404, "404", "Resource not found");
	if ((!key || !key->len) && !(auth && auth->len > 7 && !strncasecmp(auth->ptr, "Bearer ", 7)))
		return mock_refuse(r, 401, "401",
				   "Access denied due to invalid subscription key or wrong API "
				   "endpoint. Make sure to provide a valid key for an active "
				   "subscription and use a correct regional API endpoint for your "
				   "resource.");
	return true;
}

static bool openai_check(struct job *j, struct jv root, struct refusal *r)
{
	if (j->endpoint == EP_CHAT)
		return check_chat(j, root, r);
	if (j->endpoint == EP_COMPLETIONS)
		return check_completions(j, root, r);
	return check_embeddings(j, root, r);
}

const struct mock_dialect mock_openai = {
	.name = "openai",
	.default_models = aigw_mock_default_models,
	.put_models = put_openai_models,
	.put_model = model_object,
	.route = openai_route,
	.check = openai_check,
	.respond_error = openai_respond_error,
	.put_body = put_openai_body,
	.put_head = put_openai_head,
	.put_event = put_openai_event,
	.put_end = put_openai_end,
	.stream_headers = mock_sse_headers,
};

const struct mock_dialect mock_azure = {
	.name = "azure",
	.default_models = aigw_mock_default_models,
	.put_models = put_openai_models,
	.route = azure_route,
	.admit = azure_admit,
	.check = openai_check,
	.respond_error = azure_respond_error,
	.put_body = put_openai_body,
	.put_head = put_openai_head,
	.put_event = put_openai_event,
	.put_end = put_openai_end,
	.stream_headers = mock_sse_headers,
};

/* ------------------------------------------------------------ the handler */

/* One model of the list: its name is in j->model (from the path; p NULL
 * when the path does not name one). */
static void answer_model(struct job *j)
{
	const struct mock_dialect *d = j->mw->m->dialect;
	struct refusal r;
	char *name;

	if (!j->model.p || !mock_model_known(j->mw->m, j->model.p + 1, j->model.n - 2)) {
		mock_refuse(&r, 404, "model_not_found", "the model does not exist");
		d->respond_error(j, 404, NULL, 0, &r);
		return;
	}
	name = aigw_pool_strndup(j->req->pool, j->model.p + 1, j->model.n - 2);
	aigw_buf_reset(&j->mw->out);
	d->put_model(&j->mw->out, name);
	aigw_buf_putc(&j->mw->out, '\n');
	aigw_server_respond(j->req, 200, mock_json_headers, sizeof(mock_json_headers) - 1,
			    j->mw->out.data, j->mw->out.len);
}

static void mock_handle(struct aigw_server_req *req, void *arg)
{
	struct aigw_mock *m = arg;
	const struct mock_dialect *d = m->dialect;
	struct mock_worker *mw = req->worker_data;
	struct job job, *j = &job;
	struct refusal refusal;
	struct jv root;
	const char *allow;
	uint64_t count, delay_us;
	int ep;

	count = atomic_fetch_add_explicit(&m->requests, 1, memory_order_relaxed) + 1;
	if (m->cfg.max_requests && count == m->cfg.max_requests)
		aigw_server_stop(mw->server, m->cfg.grace_ms);

	memset(j, 0, sizeof(*j));
	j->req = req;
	j->mw = mw;
	ep = d->route(j, &allow);
	if (ep == EP_NONE) {
		mock_refuse(&refusal, 404, "unknown_url", "unknown path (see aigw-mock(1))");
		d->respond_error(j, 404, NULL, 0, &refusal);
		return;
	}
	j->endpoint = ep;
	if (ep == EP_MODELS || ep == EP_MODEL) {
		if (req->method != AIGW_HTTP_GET && req->method != AIGW_HTTP_HEAD)
			goto not_allowed;
	} else if (req->method != AIGW_HTTP_POST) {
		goto not_allowed;
	}
	if (d->admit && !d->admit(j, &refusal)) {
		d->respond_error(j, refusal.status, NULL, 0, &refusal);
		return;
	}
	if (ep == EP_MODELS) {
		aigw_server_respond(req, 200, mock_json_headers, sizeof(mock_json_headers) - 1,
				    m->models_json.data, m->models_json.len);
		return;
	}
	if (ep == EP_MODEL) {
		answer_model(j);
		return;
	}

	if (!mock_j_parse_object(req->body, req->body_len, &root)) {
		mock_refuse(&refusal, 400, "invalid_json", "the request body is not a valid JSON object");
		d->respond_error(j, 400, NULL, 0, &refusal);
		return;
	}
	if (!d->check(j, root, &refusal)) {
		d->respond_error(j, refusal.status, NULL, 0, &refusal);
		return;
	}

	/* Its fate, from the worker's PRNG: delay, then 429 or error. */
	delay_us = (uint64_t)m->cfg.latency_ms * 1000;
	if (m->cfg.jitter_ms) {
		int64_t span = m->cfg.jitter_ms * 1000;
		int64_t d_us = (int64_t)(rng_next(mw) % (uint64_t)(2 * span + 1)) - span;
		delay_us = (int64_t)delay_us + d_us > 0 ? (uint64_t)((int64_t)delay_us + d_us) : 0;
	}
	if (m->cfg.slow_factor > 0) {
		uint64_t at = aigw_clock_mono_us() - m->started_us;
		if (at >= (uint64_t)m->cfg.slow_at_ms * 1000 &&
		    at < (uint64_t)(m->cfg.slow_at_ms + m->cfg.slow_for_ms) * 1000)
			delay_us = (uint64_t)((double)delay_us * m->cfg.slow_factor);
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
		mock_refuse(&refusal, 405, "method_not_allowed", "method not allowed");
		d->respond_error(j, 405, headers, (size_t)n, &refusal);
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
	mw->rng = mock_splitmix64(m->cfg.seed) + (uint64_t)worker;
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
