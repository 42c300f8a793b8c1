/* oai: see oai.h. */
#include "provider/oai.h"

#include <stdio.h>
#include <string.h>

#include "json.h"

void aigw_oai_put_string(struct aigw_buf *b, const char *s, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	size_t start = 0;

	aigw_buf_grow(b, n + 2);
	aigw_buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		const char *esc = NULL;
		char u[6];
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		aigw_buf_append(b, s + start, i - start);
		switch (ch) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		default:
			memcpy(u, "\\u00", 4);
			u[4] = hexd[ch >> 4];
			u[5] = hexd[ch & 15];
			aigw_buf_append(b, u, 6);
			break;
		}
		if (esc)
			aigw_buf_puts(b, esc);
		start = i + 1;
	}
	aigw_buf_append(b, s + start, n - start);
	aigw_buf_putc(b, '"');
}

static void put_cstr(struct aigw_buf *b, const char *s)
{
	if (s)
		aigw_oai_put_string(b, s, strlen(s));
	else
		aigw_buf_puts(b, "null");
}

static void put_i64(struct aigw_buf *b, int64_t v)
{
	if (v < 0) {
		aigw_buf_putc(b, '-');
		aigw_buf_put_u64(b, (uint64_t)-v);
	} else {
		aigw_buf_put_u64(b, (uint64_t)v);
	}
}

/* data: {"id":..,"object":..,"created":..,"model":..,"choices":[ */
static void open_chunk(struct aigw_buf *out, const struct aigw_oai_head *h, const char *object)
{
	aigw_buf_puts(out, "data: {\"id\":");
	put_cstr(out, h->id);
	aigw_buf_puts(out, ",\"object\":\"");
	aigw_buf_puts(out, object);
	aigw_buf_puts(out, "\",\"created\":");
	put_i64(out, h->created);
	aigw_buf_puts(out, ",\"model\":");
	put_cstr(out, h->model);
	aigw_buf_puts(out, ",\"choices\":[");
}

static void open_delta(struct aigw_buf *out, const struct aigw_oai_head *h)
{
	open_chunk(out, h, "chat.completion.chunk");
	aigw_buf_puts(out, "{\"index\":0,\"delta\":{");
}

static void close_delta(struct aigw_buf *out, const char *reason)
{
	aigw_buf_puts(out, "},\"logprobs\":null,\"finish_reason\":");
	put_cstr(out, reason);
	aigw_buf_puts(out, "}]}\n\n");
}

void aigw_oai_chunk_role(struct aigw_buf *out, const struct aigw_oai_head *h)
{
	open_delta(out, h);
	aigw_buf_puts(out, "\"role\":\"assistant\",\"content\":\"\"");
	close_delta(out, NULL);
}

void aigw_oai_chunk_text(struct aigw_buf *out, const struct aigw_oai_head *h, const char *json,
			 size_t json_len)
{
	open_delta(out, h);
	aigw_buf_puts(out, "\"content\":");
	aigw_buf_append(out, json, json_len);
	close_delta(out, NULL);
}

void aigw_oai_chunk_completion_text(struct aigw_buf *out, const struct aigw_oai_head *h,
				    const char *json, size_t json_len)
{
	open_chunk(out, h, "text_completion");
	aigw_buf_puts(out, "{\"text\":");
	aigw_buf_append(out, json, json_len);
	aigw_buf_puts(out, ",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n");
}

void aigw_oai_chunk_tool_start(struct aigw_buf *out, const struct aigw_oai_head *h, int index,
			       const char *id, const char *name)
{
	open_delta(out, h);
	aigw_buf_puts(out, "\"tool_calls\":[{\"index\":");
	put_i64(out, index);
	aigw_buf_puts(out, ",\"id\":");
	put_cstr(out, id);
	aigw_buf_puts(out, ",\"type\":\"function\",\"function\":{\"name\":");
	put_cstr(out, name);
	aigw_buf_puts(out, ",\"arguments\":\"\"}}]");
	close_delta(out, NULL);
}

void aigw_oai_chunk_tool_args(struct aigw_buf *out, const struct aigw_oai_head *h, int index,
			      const char *json, size_t json_len)
{
	open_delta(out, h);
	aigw_buf_puts(out, "\"tool_calls\":[{\"index\":");
	put_i64(out, index);
	aigw_buf_puts(out, ",\"function\":{\"arguments\":");
	aigw_buf_append(out, json, json_len);
	aigw_buf_puts(out, "}}]");
	close_delta(out, NULL);
}

void aigw_oai_chunk_finish(struct aigw_buf *out, const struct aigw_oai_head *h,
			   const char *reason)
{
	open_delta(out, h);
	close_delta(out, reason);
}

void aigw_oai_put_usage(struct aigw_buf *out, const struct aigw_usage *u)
{
	int64_t p = u->prompt_tokens > 0 ? u->prompt_tokens : 0;
	int64_t c = u->completion_tokens > 0 ? u->completion_tokens : 0;

	aigw_buf_puts(out, "{\"prompt_tokens\":");
	put_i64(out, p);
	aigw_buf_puts(out, ",\"completion_tokens\":");
	put_i64(out, c);
	aigw_buf_puts(out, ",\"total_tokens\":");
	put_i64(out, p + c);
	if (u->cache_read_tokens >= 0) {
		aigw_buf_puts(out, ",\"prompt_tokens_details\":{\"cached_tokens\":");
		put_i64(out, u->cache_read_tokens);
		aigw_buf_putc(out, '}');
	}
	aigw_buf_putc(out, '}');
}

cJSON *aigw_oai_usage_json(const struct aigw_usage *u)
{
	cJSON *o = cJSON_CreateObject();
	int64_t p = u->prompt_tokens > 0 ? u->prompt_tokens : 0;
	int64_t c = u->completion_tokens > 0 ? u->completion_tokens : 0;

	cJSON_AddNumberToObject(o, "prompt_tokens", (double)p);
	cJSON_AddNumberToObject(o, "completion_tokens", (double)c);
	cJSON_AddNumberToObject(o, "total_tokens", (double)(p + c));
	if (u->cache_read_tokens >= 0) {
		cJSON *d = cJSON_AddObjectToObject(o, "prompt_tokens_details");
		cJSON_AddNumberToObject(d, "cached_tokens", (double)u->cache_read_tokens);
	}
	return o;
}

void aigw_oai_chunk_usage(struct aigw_buf *out, const struct aigw_oai_head *h,
			  const struct aigw_usage *u)
{
	open_chunk(out, h, "chat.completion.chunk");
	aigw_buf_puts(out, "],\"usage\":");
	aigw_oai_put_usage(out, u);
	aigw_buf_puts(out, "}\n\n");
}

void aigw_oai_done(struct aigw_buf *out)
{
	aigw_buf_puts(out, "data: [DONE]\n\n");
}

void aigw_oai_error(struct aigw_buf *out, const char *type, const char *code,
		    const char *message)
{
	aigw_buf_puts(out, "{\"error\":{\"message\":");
	put_cstr(out, message ? message : "");
	aigw_buf_puts(out, ",\"type\":");
	put_cstr(out, type);
	aigw_buf_puts(out, ",\"param\":null,\"code\":");
	put_cstr(out, code);
	aigw_buf_puts(out, "}}");
}

void aigw_oai_stream_error(struct aigw_buf *out, const char *type, const char *code,
			   const char *message)
{
	aigw_buf_puts(out, "data: ");
	aigw_oai_error(out, type, code, message);
	aigw_buf_puts(out, "\n\n");
}

const char *aigw_oai_error_type(int status)
{
	switch (status) {
	case 400: case 404: case 409: case 413: case 422:
		return status == 404 ? "not_found_error" : "invalid_request_error";
	case 401: return "authentication_error";
	case 403: return "permission_error";
	case 429: return "rate_limit_error";
	default: return status >= 500 ? "server_error" : "invalid_request_error";
	}
}

const char *aigw_oai_quote(char *out, const char *body, size_t len)
{
	size_t n = len;

	if (n == 0)
		return "the upstream answered with an error and no body";
	if (n > AIGW_OAI_QUOTE_MAX) {
		n = AIGW_OAI_QUOTE_MAX;
		while (n > 0 && ((unsigned char)body[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, body, n);
	out[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
	return out;
}

static int usage_member(const struct aigw_json_member *m, void *arg)
{
	struct aigw_usage *u = arg;
	uint64_t n;

	if (aigw_json_key_is(m, "prompt_tokens") && aigw_json_uint(m->value, m->value_len, &n))
		u->prompt_tokens = (int64_t)n;
	else if (aigw_json_key_is(m, "completion_tokens") &&
		 aigw_json_uint(m->value, m->value_len, &n))
		u->completion_tokens = (int64_t)n;
	else if (aigw_json_key_is(m, "prompt_tokens_details") && m->value[0] == '{')
		aigw_json_object(m->value, m->value_len, usage_member, u);
	else if (aigw_json_key_is(m, "cached_tokens") && aigw_json_uint(m->value, m->value_len, &n))
		u->cache_read_tokens = (int64_t)n;
	return 0;
}

static int answer_member(const struct aigw_json_member *m, void *arg)
{
	if (aigw_json_key_is(m, "usage") && m->value[0] == '{')
		aigw_json_object(m->value, m->value_len, usage_member, arg);
	return 0;
}

int aigw_oai_read_usage(const char *json, size_t len, struct aigw_usage *u)
{
	return aigw_json_object(json, len, answer_member, u) < 0 ? -1 : 0;
}

int aigw_oai_read_usage_object(const char *json, size_t len, struct aigw_usage *u)
{
	return aigw_json_object(json, len, usage_member, u) < 0 ? -1 : 0;
}

bool aigw_oai_chunk_has_output(const char *d, size_t n)
{
	static const struct { const char *key; size_t len; } keys[] = {
		{ "\"content\":\"", 11 }, { "\"text\":\"", 8 },
	};
	const char *p;

	for (size_t i = 0; i < 2; i++) {
		size_t kl = keys[i].len;
		if ((p = memmem(d, n, keys[i].key, kl)) && p + kl < d + n && p[kl] != '"')
			return true;
	}
	return memmem(d, n, "\"tool_calls\"", 12) != NULL;
}

cJSON *aigw_oai_parse(const char *text, size_t len, const char *what, struct aigw_err *err)
{
	cJSON *root = NULL;

	if (aigw_json_parse_object(text, len, &root, err) < 0) {
		aigw_err_prefix(err, "%s", what);
		if (err)
			err->code = AIGW_EFAIL;
		return NULL;
	}
	return root;
}
