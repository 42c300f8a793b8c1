/* messages: see messages.h.
 *
 * Requests and whole answers are small and rare next to stream chunks, so
 * they go through cJSON trees. Stream chunks are read in place with
 * lib/json (one validating pass over the chunk, then the few nested
 * members that matter), and text and argument pieces are copied as the
 * JSON string literals they arrived as, never decoded and encoded again. */
#include "provider/messages.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "json.h"
#include "mem.h"
#include "provider/oai.h"
#include "rand.h"

/* An upstream error body without a message is quoted up to this much. */
#define QUOTE_MAX 256

/* ---- errors ---- */

const char *aigw_messages_error_type(int status)
{
	switch (status) {
	case 401: return "authentication_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 413: return "request_too_large";
	case 429: return "rate_limit_error";
	case 529: return "overloaded_error";
	default: return status >= 500 && status <= 599 ? "api_error" : "invalid_request_error";
	}
}

static void put_cstr(struct aigw_buf *b, const char *s)
{
	aigw_oai_put_string(b, s, strlen(s));
}

/* {"type":"error","error":{"type":type,"message":<json>}}; message_json
 * is a JSON string literal. */
static void put_error_json(struct aigw_buf *out, const char *type, const char *message_json,
			   size_t message_len)
{
	aigw_buf_puts(out, "{\"type\":\"error\",\"error\":{\"type\":");
	put_cstr(out, type);
	aigw_buf_puts(out, ",\"message\":");
	aigw_buf_append(out, message_json, message_len);
	aigw_buf_puts(out, "}}");
}

void aigw_messages_error(struct aigw_buf *out, int status, const char *message)
{
	struct aigw_buf m = AIGW_BUF_INIT;

	put_cstr(&m, message ? message : "");
	put_error_json(out, aigw_messages_error_type(status), m.data, m.len);
	aigw_buf_release(&m);
}

/* "msg_" and 24 random hex digits, for answers without an id of their own. */
static void put_fresh_id(struct aigw_buf *out)
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char r[12];
	char id[4 + 2 * sizeof(r)];

	if (aigw_rand_bytes(r, sizeof(r), NULL) < 0) {
		/* Not a secret, only unique enough to tell answers apart. */
		uint64_t st = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)out ^ 0x9e3779b97f4a7c15u;
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)aigw_rand_xorshift64(&st);
	}
	memcpy(id, "msg_", 4);
	for (size_t i = 0; i < sizeof(r); i++) {
		id[4 + 2 * i] = hexd[r[i] >> 4];
		id[5 + 2 * i] = hexd[r[i] & 15];
	}
	aigw_oai_put_string(out, id, sizeof(id));
}

/* ---- request: Anthropic -> OpenAI ---- */

static int invalid(struct aigw_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int invalid(struct aigw_err *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	aigw_err_setv(err, AIGW_EINVAL, fmt, ap);
	va_end(ap);
	return AIGW_EINVAL;
}

/* A required string member of o; NULL (with err naming path.name) when
 * missing or not a string. */
static const char *need_string(const cJSON *o, const char *name, const char *path,
			       struct aigw_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!v)
		invalid(err, "%s.%s: required", path, name);
	else if (!cJSON_IsString(v))
		invalid(err, "%s.%s: expected a string, got %s", path, name, aigw_json_kind(v));
	else
		return v->valuestring;
	return NULL;
}

/* Appends the text of content (a string or an array of text blocks) to
 * text, blocks separated by '\n'. Used for system and tool_result, where
 * OpenAI wants one string. */
static int join_text(const cJSON *content, const char *path, struct aigw_buf *text,
		     struct aigw_err *err)
{
	const cJSON *b;
	int k = 0;
	char at[160];

	if (cJSON_IsString(content)) {
		aigw_buf_puts(text, content->valuestring);
		return 0;
	}
	if (!cJSON_IsArray(content))
		return invalid(err, "%s: expected a string or an array of blocks, got %s", path,
			       aigw_json_kind(content));
	cJSON_ArrayForEach(b, content) {
		const char *type, *t;
		snprintf(at, sizeof(at), "%s[%d]", path, k++);
		if (!cJSON_IsObject(b))
			return invalid(err, "%s: expected a block, got %s", at, aigw_json_kind(b));
		if (!(type = need_string(b, "type", at, err)))
			return AIGW_EINVAL;
		if (strcmp(type, "text") != 0)
			return invalid(err, "%s.type: only text blocks are supported here, not '%s'",
				       at, type);
		if (!(t = need_string(b, "text", at, err)))
			return AIGW_EINVAL;
		if (k > 1)
			aigw_buf_putc(text, '\n');
		aigw_buf_puts(text, t);
	}
	return 0;
}

static cJSON *image_part(const cJSON *block, const char *at, struct aigw_err *err)
{
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(block, "source");
	const char *type, *url = NULL;
	char path[200];
	struct aigw_buf data_url = AIGW_BUF_INIT;
	cJSON *part, *iu;

	if (!cJSON_IsObject(src)) {
		invalid(err, "%s.source: %s", at, src ? "expected an object" : "required");
		return NULL;
	}
	snprintf(path, sizeof(path), "%s.source", at);
	if (!(type = need_string(src, "type", path, err)))
		return NULL;
	if (strcmp(type, "base64") == 0) {
		const char *media, *data;
		if (!(media = need_string(src, "media_type", path, err)) ||
		    !(data = need_string(src, "data", path, err)))
			return NULL;
		aigw_buf_printf(&data_url, "data:%s;base64,", media);
		aigw_buf_puts(&data_url, data);
		url = data_url.data;
	} else if (strcmp(type, "url") == 0) {
		if (!(url = need_string(src, "url", path, err)))
			return NULL;
	} else {
		invalid(err, "%s.type: unknown image source type '%s'", path, type);
		return NULL;
	}
	part = cJSON_CreateObject();
	cJSON_AddStringToObject(part, "type", "image_url");
	iu = cJSON_AddObjectToObject(part, "image_url");
	cJSON_AddStringToObject(iu, "url", url);
	aigw_buf_release(&data_url);
	return part;
}

/* tool_result -> {"role":"tool","tool_call_id":..,"content":text}. */
static cJSON *tool_message(const cJSON *block, const char *at, struct aigw_err *err)
{
	const char *id = need_string(block, "tool_use_id", at, err);
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(block, "content");
	const cJSON *is_error = cJSON_GetObjectItemCaseSensitive(block, "is_error");
	struct aigw_buf text = AIGW_BUF_INIT;
	char path[200];
	cJSON *m;

	if (!id)
		return NULL;
	if (is_error && !cJSON_IsBool(is_error)) {
		invalid(err, "%s.is_error: expected a boolean, got %s", at, aigw_json_kind(is_error));
		return NULL;
	}
	if (cJSON_IsTrue(is_error))
		aigw_buf_puts(&text, "Error: ");
	snprintf(path, sizeof(path), "%s.content", at);
	if (content && !cJSON_IsNull(content) && join_text(content, path, &text, err) < 0) {
		aigw_buf_release(&text);
		return NULL;
	}
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "tool");
	cJSON_AddStringToObject(m, "tool_call_id", id);
	cJSON_AddStringToObject(m, "content", text.data);
	aigw_buf_release(&text);
	return m;
}

/* tool_use -> {"id","type":"function","function":{"name","arguments"}}. */
static cJSON *tool_call(const cJSON *block, const char *at, struct aigw_err *err)
{
	const char *id, *name;
	const cJSON *input = cJSON_GetObjectItemCaseSensitive(block, "input");
	cJSON *c, *f;
	char *args;

	if (!(id = need_string(block, "id", at, err)) || !(name = need_string(block, "name", at, err)))
		return NULL;
	if (input && !cJSON_IsObject(input)) {
		invalid(err, "%s.input: expected an object, got %s", at, aigw_json_kind(input));
		return NULL;
	}
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "id", id);
	cJSON_AddStringToObject(c, "type", "function");
	f = cJSON_AddObjectToObject(c, "function");
	cJSON_AddStringToObject(f, "name", name);
	args = input ? cJSON_PrintUnformatted(input) : NULL;
	cJSON_AddStringToObject(f, "arguments", args ? args : "{}");
	cJSON_free(args);
	return c;
}

/* The user message of a turn's text and image parts (taken): one text
 * part goes as a plain string, which every OpenAI-compatible server
 * takes; none after tool results: the tool messages are the turn. */
static void add_user_turn(cJSON *msgs, cJSON *parts, bool had_results)
{
	int n = cJSON_GetArraySize(parts);
	const cJSON *only = n == 1 ? cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(parts, 0),
								       "text") : NULL;
	cJSON *out;

	if (n == 0 && had_results) {
		cJSON_Delete(parts);
		return;
	}
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "role", "user");
	if (n == 0 || cJSON_IsString(only)) {
		cJSON_AddStringToObject(out, "content", n ? only->valuestring : "");
		cJSON_Delete(parts);
	} else {
		cJSON_AddItemToObject(out, "content", parts);
	}
	cJSON_AddItemToArray(msgs, out);
}

/* The assistant message of a turn's text and tool calls (taken); content
 * is null when there are calls and no text, as OpenAI writes it. */
static void add_assistant_turn(cJSON *msgs, const struct aigw_buf *text, cJSON *calls)
{
	cJSON *out = cJSON_CreateObject();
	int n = cJSON_GetArraySize(calls);

	cJSON_AddStringToObject(out, "role", "assistant");
	if (text->len || n == 0)
		cJSON_AddStringToObject(out, "content", text->data);
	else
		cJSON_AddNullToObject(out, "content");
	if (n > 0)
		cJSON_AddItemToObject(out, "tool_calls", calls);
	else
		cJSON_Delete(calls);
	cJSON_AddItemToArray(msgs, out);
}

/* One Anthropic message (messages[i]) -> one or more OpenAI messages
 * appended to msgs: a user message's tool results come first, as "tool"
 * messages, since OpenAI wants them right after the assistant's calls. */
static int convert_message(const cJSON *m, int i, cJSON *msgs, struct aigw_err *err)
{
	const cJSON *content, *b;
	const char *role;
	bool user;
	char at[160], path[64];
	int k = 0, results = 0;
	cJSON *parts, *calls, *out;
	struct aigw_buf text = AIGW_BUF_INIT;

	snprintf(path, sizeof(path), "messages[%d]", i);
	if (!cJSON_IsObject(m))
		return invalid(err, "%s: expected an object, got %s", path, aigw_json_kind(m));
	if (!(role = need_string(m, "role", path, err)))
		return AIGW_EINVAL;
	if (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)
		return invalid(err, "%s.role: expected 'user' or 'assistant', got '%s'", path, role);
	user = role[0] == 'u';
	content = cJSON_GetObjectItemCaseSensitive(m, "content");
	if (!content)
		return invalid(err, "%s.content: required", path);
	if (cJSON_IsString(content)) {
		out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "role", role);
		cJSON_AddStringToObject(out, "content", content->valuestring);
		cJSON_AddItemToArray(msgs, out);
		return 0;
	}
	if (!cJSON_IsArray(content))
		return invalid(err, "%s.content: expected a string or an array of blocks, got %s",
			       path, aigw_json_kind(content));

	parts = cJSON_CreateArray();
	calls = cJSON_CreateArray();
	cJSON_ArrayForEach(b, content) {
		const char *type;
		cJSON *item = NULL;
		snprintf(at, sizeof(at), "%s.content[%d]", path, k++);
		if (!cJSON_IsObject(b)) {
			invalid(err, "%s: expected a block, got %s", at, aigw_json_kind(b));
			goto fail;
		}
		if (!(type = need_string(b, "type", at, err)))
			goto fail;
		if (strcmp(type, "text") == 0) {
			const char *t = need_string(b, "text", at, err);
			if (!t)
				goto fail;
			if (user) {
				item = cJSON_CreateObject();
				cJSON_AddStringToObject(item, "type", "text");
				cJSON_AddStringToObject(item, "text", t);
				cJSON_AddItemToArray(parts, item);
			} else {
				if (text.len)
					aigw_buf_putc(&text, '\n');
				aigw_buf_puts(&text, t);
			}
		} else if (strcmp(type, "image") == 0) {
			if (!user) {
				invalid(err, "%s.type: image blocks are only allowed in user messages", at);
				goto fail;
			}
			if (!(item = image_part(b, at, err)))
				goto fail;
			cJSON_AddItemToArray(parts, item);
		} else if (strcmp(type, "tool_result") == 0) {
			if (!user) {
				invalid(err, "%s.type: tool_result blocks are only allowed in user messages", at);
				goto fail;
			}
			if (!(item = tool_message(b, at, err)))
				goto fail;
			cJSON_AddItemToArray(msgs, item);
			results++;
		} else if (strcmp(type, "tool_use") == 0) {
			if (user) {
				invalid(err, "%s.type: tool_use blocks are only allowed in assistant messages", at);
				goto fail;
			}
			if (!(item = tool_call(b, at, err)))
				goto fail;
			cJSON_AddItemToArray(calls, item);
		} else if (strcmp(type, "thinking") == 0 || strcmp(type, "redacted_thinking") == 0) {
			/* OpenAI's chat API takes no reasoning back. */
		} else if (strcmp(type, "document") == 0) {
			invalid(err, "%s: document blocks are not supported", at);
			goto fail;
		} else {
			invalid(err, "%s.type: unknown block type '%s'", at, type);
			goto fail;
		}
	}

	if (user) {
		add_user_turn(msgs, parts, results > 0);
		cJSON_Delete(calls);
	} else {
		add_assistant_turn(msgs, &text, calls);
		cJSON_Delete(parts);
	}
	aigw_buf_release(&text);
	return 0;
fail:
	cJSON_Delete(parts);
	cJSON_Delete(calls);
	aigw_buf_release(&text);
	return AIGW_EINVAL;
}

static int convert_tools(const cJSON *tools, cJSON *req, struct aigw_err *err)
{
	const cJSON *t;
	cJSON *arr;
	int k = 0;
	char at[64];

	if (!cJSON_IsArray(tools))
		return invalid(err, "tools: expected an array, got %s", aigw_json_kind(tools));
	arr = cJSON_AddArrayToObject(req, "tools");
	cJSON_ArrayForEach(t, tools) {
		const cJSON *type, *desc, *schema;
		const char *name;
		cJSON *o, *f;
		snprintf(at, sizeof(at), "tools[%d]", k++);
		if (!cJSON_IsObject(t))
			return invalid(err, "%s: expected an object, got %s", at, aigw_json_kind(t));
		type = cJSON_GetObjectItemCaseSensitive(t, "type");
		if (type && !(cJSON_IsString(type) && strcmp(type->valuestring, "custom") == 0))
			return invalid(err, "%s.type: server tools are not supported ('%s')", at,
				       cJSON_IsString(type) ? type->valuestring : aigw_json_kind(type));
		if (!(name = need_string(t, "name", at, err)))
			return AIGW_EINVAL;
		desc = cJSON_GetObjectItemCaseSensitive(t, "description");
		if (desc && !cJSON_IsString(desc))
			return invalid(err, "%s.description: expected a string, got %s", at,
				       aigw_json_kind(desc));
		schema = cJSON_GetObjectItemCaseSensitive(t, "input_schema");
		if (!cJSON_IsObject(schema))
			return invalid(err, "%s.input_schema: %s", at,
				       schema ? "expected an object" : "required");
		o = cJSON_CreateObject();
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "type", "function");
		f = cJSON_AddObjectToObject(o, "function");
		cJSON_AddStringToObject(f, "name", name);
		if (desc)
			cJSON_AddStringToObject(f, "description", desc->valuestring);
		cJSON_AddItemToObject(f, "parameters", cJSON_Duplicate(schema, true));
	}
	return 0;
}

static int convert_tool_choice(const cJSON *tc, cJSON *req, struct aigw_err *err)
{
	const cJSON *dp;
	const char *type;

	if (!cJSON_IsObject(tc))
		return invalid(err, "tool_choice: expected an object, got %s", aigw_json_kind(tc));
	if (!(type = need_string(tc, "type", "tool_choice", err)))
		return AIGW_EINVAL;
	if (strcmp(type, "auto") == 0) {
		cJSON_AddStringToObject(req, "tool_choice", "auto");
	} else if (strcmp(type, "any") == 0) {
		cJSON_AddStringToObject(req, "tool_choice", "required");
	} else if (strcmp(type, "none") == 0) {
		cJSON_AddStringToObject(req, "tool_choice", "none");
	} else if (strcmp(type, "tool") == 0) {
		const char *name = need_string(tc, "name", "tool_choice", err);
		cJSON *o, *f;
		if (!name)
			return AIGW_EINVAL;
		o = cJSON_AddObjectToObject(req, "tool_choice");
		cJSON_AddStringToObject(o, "type", "function");
		f = cJSON_AddObjectToObject(o, "function");
		cJSON_AddStringToObject(f, "name", name);
	} else {
		return invalid(err, "tool_choice.type: unknown type '%s'", type);
	}
	dp = cJSON_GetObjectItemCaseSensitive(tc, "disable_parallel_tool_use");
	if (dp && !cJSON_IsBool(dp))
		return invalid(err, "tool_choice.disable_parallel_tool_use: expected a boolean, got %s",
			       aigw_json_kind(dp));
	if (cJSON_IsTrue(dp))
		cJSON_AddFalseToObject(req, "parallel_tool_calls");
	return 0;
}

/* Copies a number member (temperature, top_p) when present. */
static int copy_number(const cJSON *root, const char *name, cJSON *req, struct aigw_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);

	if (!v)
		return 0;
	if (!cJSON_IsNumber(v))
		return invalid(err, "%s: expected a number, got %s", name, aigw_json_kind(v));
	cJSON_AddNumberToObject(req, name, v->valuedouble);
	return 0;
}

static int convert_request(const cJSON *root, cJSON *req, char *model, size_t model_cap,
			   bool *stream, struct aigw_err *err)
{
	const cJSON *v, *m;
	const char *name;
	cJSON *msgs;
	int i = 0;

	v = cJSON_GetObjectItemCaseSensitive(root, "model");
	if (!cJSON_IsString(v))
		return invalid(err, "model: %s", v ? "expected a string" : "required");
	name = v->valuestring;
	if (!*name || strlen(name) >= model_cap)
		return invalid(err, "model: %s", *name ? "too long" : "empty");
	memcpy(model, name, strlen(name) + 1);
	cJSON_AddStringToObject(req, "model", name);

	msgs = cJSON_AddArrayToObject(req, "messages");
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "system")) && !cJSON_IsNull(v)) {
		struct aigw_buf sys = AIGW_BUF_INIT;
		if (join_text(v, "system", &sys, err) < 0) {
			aigw_buf_release(&sys);
			return AIGW_EINVAL;
		}
		if (sys.len) {
			cJSON *s = cJSON_CreateObject();
			cJSON_AddStringToObject(s, "role", "system");
			cJSON_AddStringToObject(s, "content", sys.data);
			cJSON_AddItemToArray(msgs, s);
		}
		aigw_buf_release(&sys);
	}
	v = cJSON_GetObjectItemCaseSensitive(root, "messages");
	if (!v)
		return invalid(err, "messages: required");
	if (!cJSON_IsArray(v))
		return invalid(err, "messages: expected an array, got %s", aigw_json_kind(v));
	if (cJSON_GetArraySize(v) == 0)
		return invalid(err, "messages: at least one message is required");
	cJSON_ArrayForEach(m, v) {
		if (convert_message(m, i++, msgs, err) < 0)
			return AIGW_EINVAL;
	}

	v = cJSON_GetObjectItemCaseSensitive(root, "max_tokens");
	if (!v)
		return invalid(err, "max_tokens: required");
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 1e15 ||
	    v->valuedouble != floor(v->valuedouble))
		return invalid(err, "max_tokens: expected a positive integer");
	cJSON_AddNumberToObject(req, "max_tokens", v->valuedouble);
	if (copy_number(root, "temperature", req, err) < 0 ||
	    copy_number(root, "top_p", req, err) < 0)
		return AIGW_EINVAL;
	/* top_k has no OpenAI equivalent: dropped. */

	if ((v = cJSON_GetObjectItemCaseSensitive(root, "stop_sequences")) && !cJSON_IsNull(v)) {
		const cJSON *s;
		int k = 0;
		if (!cJSON_IsArray(v))
			return invalid(err, "stop_sequences: expected an array, got %s",
				       aigw_json_kind(v));
		cJSON_ArrayForEach(s, v) {
			if (!cJSON_IsString(s))
				return invalid(err, "stop_sequences[%d]: expected a string, got %s", k,
					       aigw_json_kind(s));
			k++;
		}
		if (k)
			cJSON_AddItemToObject(req, "stop", cJSON_Duplicate(v, true));
	}

	*stream = false;
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "stream")) && !cJSON_IsNull(v)) {
		if (!cJSON_IsBool(v))
			return invalid(err, "stream: expected a boolean, got %s", aigw_json_kind(v));
		*stream = cJSON_IsTrue(v);
		if (*stream) {
			cJSON_AddTrueToObject(req, "stream");
			cJSON_AddTrueToObject(cJSON_AddObjectToObject(req, "stream_options"),
					      "include_usage");
		}
	}

	if ((v = cJSON_GetObjectItemCaseSensitive(root, "metadata")) && !cJSON_IsNull(v)) {
		const cJSON *u;
		if (!cJSON_IsObject(v))
			return invalid(err, "metadata: expected an object, got %s", aigw_json_kind(v));
		u = cJSON_GetObjectItemCaseSensitive(v, "user_id");
		if (u && !cJSON_IsNull(u) && !cJSON_IsString(u))
			return invalid(err, "metadata.user_id: expected a string, got %s",
				       aigw_json_kind(u));
		if (cJSON_IsString(u))
			cJSON_AddStringToObject(req, "user", u->valuestring);
	}

	if ((v = cJSON_GetObjectItemCaseSensitive(root, "tools")) && !cJSON_IsNull(v) &&
	    convert_tools(v, req, err) < 0)
		return AIGW_EINVAL;
	if ((v = cJSON_GetObjectItemCaseSensitive(root, "tool_choice")) && !cJSON_IsNull(v) &&
	    convert_tool_choice(v, req, err) < 0)
		return AIGW_EINVAL;
	return 0;
}

int aigw_messages_request(const char *body, size_t len, struct aigw_buf *out, char *model,
			  size_t model_cap, bool *stream, struct aigw_err *err)
{
	cJSON *root = NULL, *req;
	char *text;
	int rc;

	if (model_cap)
		model[0] = '\0';
	*stream = false;
	if (aigw_json_parse_object(body, len, &root, err) < 0) {
		aigw_err_prefix(err, "the request body");
		return AIGW_EINVAL;
	}
	req = cJSON_CreateObject();
	rc = convert_request(root, req, model, model_cap, stream, err);
	if (rc == 0) {
		text = cJSON_PrintUnformatted(req);
		aigw_buf_puts(out, text);
		cJSON_free(text);
	}
	cJSON_Delete(req);
	cJSON_Delete(root);
	return rc;
}

/* ---- whole answers: OpenAI -> Anthropic ---- */

static const char *stop_reason_of(const char *finish)
{
	if (!finish)
		return "end_turn";
	if (strcmp(finish, "length") == 0)
		return "max_tokens";
	if (strcmp(finish, "tool_calls") == 0 || strcmp(finish, "function_call") == 0)
		return "tool_use";
	if (strcmp(finish, "content_filter") == 0)
		return "refusal";
	return "end_turn"; /* "stop" and anything new */
}

static int64_t count_of(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) && v->valuedouble >= 0 ? (int64_t)v->valuedouble : 0;
}

/* The message of an error body of any shape, or its first bytes. */
static void error_message(int status, const char *body, size_t len, struct aigw_buf *msg)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
	size_t n = len < QUOTE_MAX ? len : QUOTE_MAX;

	if (!cJSON_IsString(m))
		m = cJSON_GetObjectItemCaseSensitive(root, "message");
	if (cJSON_IsString(m)) {
		put_cstr(msg, m->valuestring);
	} else if (len == 0) {
		char t[64];
		snprintf(t, sizeof(t), "the upstream answered %d with an empty body", status);
		put_cstr(msg, t);
	} else {
		/* Never cut a UTF-8 sequence in two. */
		while (n < len && n > 0 && ((unsigned char)body[n] & 0xc0) == 0x80)
			n--;
		aigw_oai_put_string(msg, body, n);
	}
	cJSON_Delete(root);
}

static void put_message_usage(cJSON *msg, const cJSON *usage)
{
	const cJSON *details = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
	int64_t prompt = count_of(usage, "prompt_tokens");
	int64_t cached = count_of(details, "cached_tokens");
	cJSON *u = cJSON_AddObjectToObject(msg, "usage");

	cJSON_AddNumberToObject(u, "input_tokens", (double)(prompt > cached ? prompt - cached : 0));
	cJSON_AddNumberToObject(u, "output_tokens", (double)count_of(usage, "completion_tokens"));
	cJSON_AddNumberToObject(u, "cache_read_input_tokens", (double)cached);
	cJSON_AddNumberToObject(u, "cache_creation_input_tokens", 0);
}

static void add_tool_use(cJSON *content, const cJSON *call, int k)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(call, "id");
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(call, "function");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");
	cJSON *b = cJSON_CreateObject(), *input = NULL;
	char fresh[32];

	cJSON_AddStringToObject(b, "type", "tool_use");
	snprintf(fresh, sizeof(fresh), "toolu_%d", k);
	cJSON_AddStringToObject(b, "id", cJSON_IsString(id) ? id->valuestring : fresh);
	cJSON_AddStringToObject(b, "name", cJSON_IsString(name) ? name->valuestring : "");
	if (cJSON_IsString(args))
		input = cJSON_Parse(args->valuestring);
	else if (cJSON_IsObject(args)) /* a few OpenAI-compatible servers */
		input = cJSON_Duplicate(args, true);
	if (!cJSON_IsObject(input)) {
		/* Unparseable arguments: Anthropic's input is always an object. */
		cJSON_Delete(input);
		input = cJSON_CreateObject();
	}
	cJSON_AddItemToObject(b, "input", input);
	cJSON_AddItemToArray(content, b);
}

int aigw_messages_answer(int *status, const char *body, size_t len, struct aigw_buf *out,
			 struct aigw_err *err)
{
	cJSON *root, *msg, *content;
	const cJSON *choice, *m, *v, *calls, *call;
	struct aigw_buf id = AIGW_BUF_INIT;
	char *text;
	int k = 0;

	if (*status < 200 || *status > 299) {
		struct aigw_buf em = AIGW_BUF_INIT;
		if (*status < 400 || *status > 599)
			*status = 502;
		error_message(*status, body, len, &em);
		put_error_json(out, aigw_messages_error_type(*status), em.data, em.len);
		aigw_buf_release(&em);
		return 0;
	}
	if (!(root = aigw_oai_parse(body, len, "answer", err)))
		return AIGW_EFAIL;
	choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "choices"), 0);
	m = cJSON_GetObjectItemCaseSensitive(choice, "message");
	if (!cJSON_IsObject(m)) {
		cJSON_Delete(root);
		return aigw_err_set(err, AIGW_EFAIL, "answer: not a chat.completion (no choices[0].message)");
	}

	msg = cJSON_CreateObject();
	v = cJSON_GetObjectItemCaseSensitive(root, "id");
	if (cJSON_IsString(v) && *v->valuestring) {
		aigw_buf_puts(&id, "msg_");
		aigw_buf_puts(&id, v->valuestring);
		cJSON_AddStringToObject(msg, "id", id.data);
	} else {
		put_fresh_id(&id);
		cJSON_AddItemToObject(msg, "id", cJSON_Parse(id.data));
	}
	aigw_buf_release(&id);
	cJSON_AddStringToObject(msg, "type", "message");
	cJSON_AddStringToObject(msg, "role", "assistant");
	v = cJSON_GetObjectItemCaseSensitive(root, "model");
	cJSON_AddStringToObject(msg, "model", cJSON_IsString(v) ? v->valuestring : "");
	content = cJSON_AddArrayToObject(msg, "content");
	v = cJSON_GetObjectItemCaseSensitive(m, "content");
	if (!cJSON_IsString(v) || !*v->valuestring)
		v = cJSON_GetObjectItemCaseSensitive(m, "refusal");
	if (cJSON_IsString(v) && *v->valuestring) {
		cJSON *b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "type", "text");
		cJSON_AddStringToObject(b, "text", v->valuestring);
		cJSON_AddItemToArray(content, b);
	}
	calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
	if (!cJSON_IsArray(calls))
		calls = NULL;
	cJSON_ArrayForEach(call, calls) {
		if (cJSON_IsObject(call))
			add_tool_use(content, call, k++);
	}
	v = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
	cJSON_AddStringToObject(msg, "stop_reason",
				stop_reason_of(cJSON_IsString(v) ? v->valuestring : NULL));
	cJSON_AddNullToObject(msg, "stop_sequence");
	put_message_usage(msg, cJSON_GetObjectItemCaseSensitive(root, "usage"));

	text = cJSON_PrintUnformatted(msg);
	aigw_buf_puts(out, text);
	cJSON_free(text);
	cJSON_Delete(msg);
	cJSON_Delete(root);
	return 0;
}

/* ---- streams: OpenAI chunks -> Anthropic events ---- */

/* Chunk-level outcomes of the SSE callback (aigw_sse_feed returns them). */
enum { CHUNK_FAILED = 1, CHUNK_END = 2 };

void aigw_messages_stream_init(struct aigw_messages_stream *s, const char *model)
{
	memset(s, 0, sizeof(*s));
	aigw_sse_init(&s->sse, 0);
	aigw_buf_init(&s->model);
	aigw_buf_puts(&s->model, model ? model : "");
	aigw_buf_init(&s->open_id);
	aigw_usage_init(&s->usage);
	s->open = -1;
	s->open_tool = -1;
}

void aigw_messages_stream_release(struct aigw_messages_stream *s)
{
	aigw_sse_release(&s->sse);
	aigw_buf_release(&s->model);
	aigw_buf_release(&s->open_id);
}

/* "event: <type>\ndata: {"type":"<type>"" ... */
static void event_open(struct aigw_buf *out, const char *type)
{
	aigw_buf_puts(out, "event: ");
	aigw_buf_puts(out, type);
	aigw_buf_puts(out, "\ndata: {\"type\":\"");
	aigw_buf_puts(out, type);
	aigw_buf_putc(out, '"');
}

static void event_close(struct aigw_buf *out)
{
	aigw_buf_puts(out, "}\n\n");
}

static void put_index(struct aigw_buf *out, int index)
{
	aigw_buf_puts(out, ",\"index\":");
	aigw_buf_put_u64(out, (uint64_t)index);
}

/* id: the first chunk's "id" member, or NULL for a fresh id. */
static void message_start(struct aigw_messages_stream *s, const struct aigw_json_member *id)
{
	struct aigw_buf *out = s->out;

	event_open(out, "message_start");
	aigw_buf_puts(out, ",\"message\":{\"id\":");
	if (id && id->value[0] == '"' && id->value_len > 2) {
		/* "msg_" + the id's characters, escapes and all. */
		aigw_buf_puts(out, "\"msg_");
		aigw_buf_append(out, id->value + 1, id->value_len - 1);
	} else {
		put_fresh_id(out);
	}
	aigw_buf_puts(out, ",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
	aigw_oai_put_string(out, s->model.data, s->model.len);
	aigw_buf_puts(out, ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
			   "\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}");
	event_close(out);
	s->started = true;
}

static void block_stop(struct aigw_messages_stream *s)
{
	if (s->open < 0)
		return;
	event_open(s->out, "content_block_stop");
	put_index(s->out, s->open);
	event_close(s->out);
	s->open = -1;
	s->open_tool = -1;
}

static void text_delta(struct aigw_messages_stream *s, const char *json, size_t n)
{
	struct aigw_buf *out = s->out;

	if (s->open < 0 || s->open_tool >= 0) {
		block_stop(s);
		s->open = s->blocks++;
		event_open(out, "content_block_start");
		put_index(out, s->open);
		aigw_buf_puts(out, ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}");
		event_close(out);
	}
	event_open(out, "content_block_delta");
	put_index(out, s->open);
	aigw_buf_puts(out, ",\"delta\":{\"type\":\"text_delta\",\"text\":");
	aigw_buf_append(out, json, n);
	aigw_buf_putc(out, '}');
	event_close(out);
}

/* A JSON string literal with something in it. */
static bool nonempty_string(const struct aigw_json_member *m)
{
	return m && m->value[0] == '"' && m->value_len > 2;
}

/* What one tool_calls[] element of a delta says. */
struct tool_piece {
	struct aigw_json_member m_id, m_function, m_name, m_args;
	const struct aigw_json_member *id, *function, *name, *args;
	uint64_t index;
	bool has_index;
};

static int tool_member(const struct aigw_json_member *m, void *arg)
{
	struct tool_piece *t = arg;

	if (aigw_json_key_is(m, "index")) {
		t->has_index = aigw_json_uint(m->value, m->value_len, &t->index);
	} else if (aigw_json_key_is(m, "id")) {
		t->m_id = *m;
		t->id = &t->m_id;
	} else if (aigw_json_key_is(m, "function")) {
		t->m_function = *m;
		t->function = &t->m_function;
	}
	return 0;
}

static int function_member(const struct aigw_json_member *m, void *arg)
{
	struct tool_piece *t = arg;

	if (aigw_json_key_is(m, "name")) {
		t->m_name = *m;
		t->name = &t->m_name;
	} else if (aigw_json_key_is(m, "arguments")) {
		t->m_args = *m;
		t->args = &t->m_args;
	}
	return 0;
}

/* Steps through the elements of a JSON array's text that lib/json has
 * already validated: *p starts just after the '['. */
static bool next_element(const char **p, const char *end, const char **el, size_t *el_len)
{
	const char *q = *p, *start;
	int depth = 0;
	bool in_string = false;

	while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r' || *q == ','))
		q++;
	if (q >= end || *q == ']')
		return false;
	for (start = q; q < end; q++) {
		char ch = *q;
		if (in_string) {
			if (ch == '\\')
				q++;
			else if (ch == '"')
				in_string = false;
		} else if (ch == '"') {
			in_string = true;
		} else if (ch == '{' || ch == '[') {
			depth++;
		} else if (ch == '}' || ch == ']') {
			if (depth == 0)
				break;
			depth--;
		} else if (ch == ',' && depth == 0) {
			break;
		}
	}
	*p = q;
	while (q > start && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\n' || q[-1] == '\r'))
		q--;
	*el = start;
	*el_len = (size_t)(q - start);
	return true;
}

static int bad_chunk(struct aigw_messages_stream *s, const char *what)
{
	aigw_err_set(s->err, AIGW_EFAIL, "stream: %s", what);
	return CHUNK_FAILED;
}

static int tool_delta(struct aigw_messages_stream *s, const char *el, size_t n)
{
	struct tool_piece t = { 0 };
	struct aigw_buf *out = s->out;
	int index;
	bool same;

	if (aigw_json_object(el, n, tool_member, &t) < 0)
		return bad_chunk(s, "a tool_calls element is not an object");
	if (t.function && t.function->value[0] == '{')
		aigw_json_object(t.function->value, t.function->value_len, function_member, &t);
	index = t.has_index && t.index < 1000000 ? (int)t.index : s->open_tool >= 0 ? s->open_tool : 0;
	same = s->open >= 0 && s->open_tool == index;
	/* Some servers number every call 0 and tell them apart by id; some
	 * repeat the id in every piece of one call. */
	if (same && nonempty_string(t.id) &&
	    (t.id->value_len != s->open_id.len ||
	     memcmp(t.id->value, s->open_id.data, s->open_id.len) != 0))
		same = false;
	if ((nonempty_string(t.id) || nonempty_string(t.name)) && !same) {
		block_stop(s);
		s->open = s->blocks++;
		s->open_tool = index;
		aigw_buf_reset(&s->open_id);
		if (nonempty_string(t.id))
			aigw_buf_append(&s->open_id, t.id->value, t.id->value_len);
		event_open(out, "content_block_start");
		put_index(out, s->open);
		aigw_buf_puts(out, ",\"content_block\":{\"type\":\"tool_use\",\"id\":");
		if (nonempty_string(t.id))
			aigw_buf_append(out, t.id->value, t.id->value_len);
		else
			aigw_buf_printf(out, "\"toolu_%d\"", s->open);
		aigw_buf_puts(out, ",\"name\":");
		if (t.name && t.name->value[0] == '"')
			aigw_buf_append(out, t.name->value, t.name->value_len);
		else
			aigw_buf_puts(out, "\"\"");
		aigw_buf_puts(out, ",\"input\":{}}");
		event_close(out);
	}
	/* Arguments of a call whose block was closed have nowhere to go. */
	if (nonempty_string(t.args) && s->open >= 0 && s->open_tool == index) {
		event_open(out, "content_block_delta");
		put_index(out, s->open);
		aigw_buf_puts(out, ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":");
		aigw_buf_append(out, t.args->value, t.args->value_len);
		aigw_buf_putc(out, '}');
		event_close(out);
	}
	return 0;
}

struct delta_scan {
	struct aigw_json_member m_content, m_refusal, m_tools;
	const struct aigw_json_member *content, *refusal, *tools;
};

static int delta_member(const struct aigw_json_member *m, void *arg)
{
	struct delta_scan *d = arg;

	if (aigw_json_key_is(m, "content")) {
		d->m_content = *m;
		d->content = &d->m_content;
	} else if (aigw_json_key_is(m, "refusal")) {
		d->m_refusal = *m;
		d->refusal = &d->m_refusal;
	} else if (aigw_json_key_is(m, "tool_calls")) {
		d->m_tools = *m;
		d->tools = &d->m_tools;
	}
	return 0;
}

struct choice_scan {
	struct aigw_json_member m_delta, m_finish;
	const struct aigw_json_member *delta, *finish;
};

static int choice_member(const struct aigw_json_member *m, void *arg)
{
	struct choice_scan *c = arg;

	if (aigw_json_key_is(m, "delta")) {
		c->m_delta = *m;
		c->delta = &c->m_delta;
	} else if (aigw_json_key_is(m, "finish_reason")) {
		c->m_finish = *m;
		c->finish = &c->m_finish;
	}
	return 0;
}

static int choice(struct aigw_messages_stream *s, const char *el, size_t n)
{
	struct choice_scan c = { 0 };
	struct delta_scan d = { 0 };

	if (aigw_json_object(el, n, choice_member, &c) < 0)
		return bad_chunk(s, "a choice is not an object");
	if (c.delta && c.delta->value[0] == '{')
		aigw_json_object(c.delta->value, c.delta->value_len, delta_member, &d);
	if (nonempty_string(d.content))
		text_delta(s, d.content->value, d.content->value_len);
	if (nonempty_string(d.refusal))
		text_delta(s, d.refusal->value, d.refusal->value_len);
	if (d.tools && d.tools->value[0] == '[') {
		const char *p = d.tools->value + 1, *end = d.tools->value + d.tools->value_len, *t;
		size_t tn;
		while (next_element(&p, end, &t, &tn))
			if (tool_delta(s, t, tn))
				return CHUNK_FAILED;
	}
	if (c.finish && c.finish->value[0] == '"') {
		char reason[32];
		s->stop_reason = stop_reason_of(
			aigw_json_string(c.finish->value, c.finish->value_len, reason, sizeof(reason))
				? reason : "stop");
	}
	return 0;
}

static int usage_member(const struct aigw_json_member *m, void *arg)
{
	struct aigw_usage *u = arg;
	uint64_t v;

	if (aigw_json_key_is(m, "prompt_tokens") && aigw_json_uint(m->value, m->value_len, &v))
		u->prompt_tokens = (int64_t)v;
	else if (aigw_json_key_is(m, "completion_tokens") &&
		 aigw_json_uint(m->value, m->value_len, &v))
		u->completion_tokens = (int64_t)v;
	else if (aigw_json_key_is(m, "cached_tokens") && aigw_json_uint(m->value, m->value_len, &v))
		u->cache_read_tokens = (int64_t)v;
	else if (aigw_json_key_is(m, "prompt_tokens_details") && m->value[0] == '{')
		aigw_json_object(m->value, m->value_len, usage_member, arg);
	return 0;
}

struct error_scan {
	struct aigw_json_member m_message, m_type;
	const struct aigw_json_member *message, *type;
};

static int error_member(const struct aigw_json_member *m, void *arg)
{
	struct error_scan *e = arg;

	if (aigw_json_key_is(m, "message")) {
		e->m_message = *m;
		e->message = &e->m_message;
	} else if (aigw_json_key_is(m, "type")) {
		e->m_type = *m;
		e->type = &e->m_type;
	}
	return 0;
}

/* Anthropic's error type for the type of an OpenAI error chunk: the types
 * both APIs name alike are kept, anything else is api_error. */
static const char *stream_error_type(const struct aigw_json_member *type)
{
	static const char *const same[] = {
		"invalid_request_error", "authentication_error", "permission_error",
		"not_found_error", "request_too_large", "rate_limit_error", "overloaded_error",
	};
	char t[64];

	if (type && aigw_json_string(type->value, type->value_len, t, sizeof(t)))
		for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
			if (strcmp(t, same[i]) == 0)
				return same[i];
	return "api_error";
}

static void error_event(struct aigw_messages_stream *s, const struct aigw_json_member *error)
{
	struct error_scan e = { 0 };
	struct aigw_buf *out = s->out;

	if (error->value[0] == '{')
		aigw_json_object(error->value, error->value_len, error_member, &e);
	else if (error->value[0] == '"')
		e.message = error;
	aigw_buf_puts(out, "event: error\ndata: ");
	if (e.message && e.message->value[0] == '"')
		put_error_json(out, stream_error_type(e.type), e.message->value, e.message->value_len);
	else
		put_error_json(out, stream_error_type(e.type), "\"the upstream failed\"", 21);
	aigw_buf_puts(out, "\n\n");
	s->ended = true;
}

static void message_end(struct aigw_messages_stream *s)
{
	struct aigw_buf *out = s->out;
	const struct aigw_usage *u = &s->usage;
	int64_t cached = u->cache_read_tokens > 0 ? u->cache_read_tokens : 0;
	int64_t prompt = u->prompt_tokens > cached ? u->prompt_tokens - cached : 0;

	if (!s->started)
		message_start(s, NULL);
	block_stop(s);
	event_open(out, "message_delta");
	aigw_buf_puts(out, ",\"delta\":{\"stop_reason\":\"");
	aigw_buf_puts(out, s->stop_reason ? s->stop_reason : "end_turn");
	aigw_buf_puts(out, "\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":");
	aigw_buf_put_u64(out, u->completion_tokens > 0 ? (uint64_t)u->completion_tokens : 0);
	aigw_buf_puts(out, ",\"input_tokens\":");
	aigw_buf_put_u64(out, (uint64_t)prompt);
	aigw_buf_puts(out, ",\"cache_read_input_tokens\":");
	aigw_buf_put_u64(out, (uint64_t)cached);
	aigw_buf_putc(out, '}');
	event_close(out);
	event_open(out, "message_stop");
	event_close(out);
	s->ended = true;
}

struct chunk_scan {
	struct aigw_json_member m_id, m_choices, m_usage, m_error;
	const struct aigw_json_member *id, *choices, *usage, *error;
};

static int chunk_member(const struct aigw_json_member *m, void *arg)
{
	struct chunk_scan *c = arg;

	if (aigw_json_key_is(m, "id")) {
		c->m_id = *m;
		c->id = &c->m_id;
	} else if (aigw_json_key_is(m, "choices")) {
		c->m_choices = *m;
		c->choices = &c->m_choices;
	} else if (aigw_json_key_is(m, "usage")) {
		c->m_usage = *m;
		c->usage = &c->m_usage;
	} else if (aigw_json_key_is(m, "error")) {
		c->m_error = *m;
		c->error = &c->m_error;
	}
	return 0;
}

static int on_event(const struct aigw_sse_event *ev, void *arg)
{
	struct aigw_messages_stream *s = arg;
	struct chunk_scan c = { 0 };
	const char *data = ev->data;
	size_t n = ev->data_len;

	while (n && (*data == ' ' || *data == '\t' || *data == '\n' || *data == '\r')) {
		data++;
		n--;
	}
	if (n == 0)
		return 0;
	if (n >= 6 && memcmp(data, "[DONE]", 6) == 0) {
		message_end(s);
		return CHUNK_END;
	}
	if (aigw_json_object(data, n, chunk_member, &c) < 0)
		return bad_chunk(s, "a chunk is not a JSON object");
	if (c.error) {
		error_event(s, c.error);
		return CHUNK_END;
	}
	if (c.choices && c.choices->value[0] != '[')
		return bad_chunk(s, "a chunk's choices is not an array");
	if (!s->started)
		message_start(s, c.id);
	if (c.usage && c.usage->value[0] == '{')
		aigw_json_object(c.usage->value, c.usage->value_len, usage_member, &s->usage);
	if (c.choices) {
		/* The gateway asks for one choice (n is not an Anthropic option). */
		const char *p = c.choices->value + 1, *end = c.choices->value + c.choices->value_len;
		const char *el;
		size_t el_len;
		if (next_element(&p, end, &el, &el_len))
			return choice(s, el, el_len);
	}
	return 0;
}

int aigw_messages_stream_feed(struct aigw_messages_stream *s, const char *data, size_t len,
			      struct aigw_buf *out, struct aigw_err *err)
{
	int rc;

	if (s->ended)
		return 0;
	s->out = out;
	s->err = err;
	rc = aigw_sse_feed(&s->sse, data, len, on_event, s);
	s->out = NULL;
	s->err = NULL;
	if (rc == CHUNK_FAILED)
		return AIGW_EFAIL;
	if (rc < 0)
		return aigw_err_set(err, AIGW_EFAIL, "stream: an event is larger than the limit");
	return 0;
}

int aigw_messages_stream_finish(struct aigw_messages_stream *s, struct aigw_buf *out,
				struct aigw_err *err)
{
	if (s->ended)
		return 0;
	s->out = out;
	s->err = err;
	if (s->sse.line.len || s->sse.has_data) {
		/* The last event lacked its blank line: complete it. */
		int rc = aigw_sse_feed(&s->sse, "\n\n", 2, on_event, s);
		if (rc == CHUNK_FAILED || rc < 0) {
			s->out = NULL;
			if (rc < 0)
				aigw_err_set(err, AIGW_EFAIL, "stream: an event is larger than the limit");
			return AIGW_EFAIL;
		}
	}
	if (!s->ended && !s->started) {
		s->out = NULL;
		return aigw_err_set(err, AIGW_EFAIL, "stream: the upstream ended before its first chunk");
	}
	if (!s->ended)
		message_end(s);
	s->out = NULL;
	s->err = NULL;
	return 0;
}
