/* anthropic: the Messages API (POST /v1/messages, anthropic-version
 * 2023-06-01), for chat completions only (Anthropic has no completions
 * or embeddings endpoint).
 *
 * Requests: system and developer messages become the top-level "system";
 * user, assistant and tool messages become user/assistant turns of content
 * blocks: text, image (from a base64 data: URL or an http(s) URL),
 * document (a PDF given as a file part with a data: URL), tool_use (an
 * assistant's tool_calls, arguments parsed into "input") and tool_result
 * (a tool message, sent in a user turn). Runs of the same role are merged
 * since Anthropic wants the roles to alternate. tools, tool_choice and
 * parallel_tool_calls map to their Anthropic forms, stop to
 * stop_sequences, user to metadata.user_id; max_tokens, which Anthropic
 * requires, defaults to DEFAULT_MAX_TOKENS. n > 1 is refused.
 *
 * Dropped, having no Anthropic equivalent: frequency_penalty,
 * presence_penalty, logit_bias, logprobs, top_logprobs, seed,
 * response_format, service_tier, store, metadata (OpenAI's stored
 * completion tags), modalities, audio, prediction, reasoning_effort,
 * web_search_options and stream_options (an Anthropic stream always
 * carries its usage). temperature goes as it is: Anthropic's range is
 * 0..1 and it says so itself when a value is outside.
 *
 * Answers: text blocks are joined into message.content, tool_use blocks
 * become tool_calls (input printed as the arguments string), thinking
 * blocks are skipped; stop_reason maps to finish_reason. prompt_tokens
 * counts cache reads and writes, as OpenAI's does. Errors keep their
 * status and become OpenAI errors whose code is Anthropic's error type.
 *
 * Streams: each named SSE event maps to chat.completion.chunk events (see
 * the stream section). Events are read in place with lib/json, and text
 * and argument deltas are copied as JSON string literals, never decoded. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "mem.h"
#include "provider.h"
#include "provider/oai.h"
#include "sse.h"

#define ANTHROPIC_VERSION "2023-06-01"

/* Anthropic requires max_tokens; OpenAI's default is "as much as the
 * model allows", which no single number says for every model. 4096 fits
 * every Claude model's output limit. */
#define DEFAULT_MAX_TOKENS 4096

/* ------------------------------------------------------------ shared */

/* Token counts as Anthropic reports them; -1 when not said. */
struct counts {
	int64_t input, output, cache_read, cache_write;
};

/* OpenAI's usage from Anthropic's counts: input_tokens excludes the
 * tokens read from or written to the cache, OpenAI's prompt_tokens does
 * not. A missing cache count is 0 when input_tokens is known. */
static void usage_from(struct aigw_usage *u, const struct counts *k)
{
	if (k->input >= 0) {
		int64_t cr = k->cache_read > 0 ? k->cache_read : 0;
		int64_t cw = k->cache_write > 0 ? k->cache_write : 0;
		u->prompt_tokens = k->input + cr + cw;
		u->cache_read_tokens = cr;
		u->cache_write_tokens = cw;
		if (k->output < 0)
			u->completion_tokens = 0;
	} else {
		u->cache_read_tokens = k->cache_read;
		u->cache_write_tokens = k->cache_write;
	}
	if (k->output >= 0)
		u->completion_tokens = k->output;
}

static const char *finish_reason(const char *stop_reason)
{
	if (!stop_reason)
		return "stop";
	if (strcmp(stop_reason, "max_tokens") == 0 ||
	    strcmp(stop_reason, "model_context_window_exceeded") == 0)
		return "length";
	if (strcmp(stop_reason, "tool_use") == 0)
		return "tool_calls";
	if (strcmp(stop_reason, "refusal") == 0)
		return "content_filter";
	return "stop"; /* end_turn, stop_sequence, pause_turn and any new one */
}

/* OpenAI's error type for Anthropic's; unknown ones by the status. */
static const char *error_type(const char *type, int status)
{
	static const char *const same[] = {
		"invalid_request_error", "authentication_error", "permission_error",
		"not_found_error", "rate_limit_error",
	};
	for (size_t i = 0; type && i < sizeof(same) / sizeof(same[0]); i++)
		if (strcmp(type, same[i]) == 0)
			return same[i];
	if (type && strcmp(type, "request_too_large") == 0)
		return "invalid_request_error";
	if (type && (strcmp(type, "api_error") == 0 || strcmp(type, "overloaded_error") == 0))
		return "server_error";
	return aigw_oai_error_type(status);
}

/* The status Anthropic gives an error type, for an error that came with
 * a 2xx (the client must not see a success). */
static int error_status(const char *type)
{
	static const struct { const char *type; int status; } map[] = {
		{ "invalid_request_error", 400 }, { "authentication_error", 401 },
		{ "billing_error", 402 }, { "permission_error", 403 }, { "not_found_error", 404 },
		{ "request_too_large", 413 }, { "rate_limit_error", 429 }, { "api_error", 500 },
		{ "timeout_error", 504 }, { "overloaded_error", 529 },
	};
	for (size_t i = 0; type && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(type, map[i].type) == 0)
			return map[i].status;
	return 502;
}

/* ------------------------------------------------------------ build */

static void build_url(const char *base, struct aigw_buf *url)
{
	const char *q = strchr(base, '?');
	size_t n = q ? (size_t)(q - base) : strlen(base);

	while (n && base[n - 1] == '/')
		n--;
	aigw_buf_append(url, base, n);
	/* A base ending in /v1 is the API root, as for the OpenAI nodes. */
	aigw_buf_puts(url, n >= 3 && memcmp(base + n - 3, "/v1", 3) == 0 ? "/messages"
									   : "/v1/messages");
	if (q)
		aigw_buf_puts(url, q);
}

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

/* A member that is absent or null counts as not given (OpenAI's clients
 * send null for defaults). */
static const cJSON *member(const cJSON *o, const char *name)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsNull(m) ? NULL : m;
}

static bool is_integer(const cJSON *j)
{
	return cJSON_IsNumber(j) && j->valuedouble >= -9e15 && j->valuedouble <= 9e15 &&
	       (double)(int64_t)j->valuedouble == j->valuedouble;
}

/* The part kinds a role's content may hold. */
enum { PART_TEXT = 1, PART_IMAGE = 2, PART_FILE = 4, PART_REFUSAL = 8 };

/* Appends a text block; Anthropic refuses empty ones, so those are left
 * out. */
static void add_text(cJSON *blocks, const char *text, const cJSON *cache_control)
{
	cJSON *b;

	if (!*text)
		return;
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "type", "text");
	cJSON_AddStringToObject(b, "text", text);
	if (cache_control)
		cJSON_AddItemToObject(b, "cache_control", cJSON_Duplicate(cache_control, true));
	cJSON_AddItemToArray(blocks, b);
}

/* A source for a data: URL ("data:<media type>;base64,<data>") or, when
 * allowed, an http(s) URL; NULL when url is neither. */
static cJSON *source_of(const char *url, bool allow_url)
{
	cJSON *s;

	if (strncmp(url, "data:", 5) == 0) {
		const char *comma = strchr(url, ',');
		size_t mlen;
		if (!comma || comma - url < 5 + 7 || memcmp(comma - 7, ";base64", 7) != 0)
			return NULL;
		mlen = (size_t)(comma - 7 - (url + 5));
		if (!mlen || !comma[1])
			return NULL;
		char *media = aigw_strndup(url + 5, mlen);
		s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "type", "base64");
		cJSON_AddStringToObject(s, "media_type", media);
		cJSON_AddStringToObject(s, "data", comma + 1);
		free(media);
		return s;
	}
	if (allow_url && (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0)) {
		s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "type", "url");
		cJSON_AddStringToObject(s, "url", url);
		return s;
	}
	return NULL;
}

/* One part of an array content (where: "messages[2].content[1]"). */
static int add_part(cJSON *blocks, const cJSON *part, int allow, const char *where,
		    struct aigw_err *err)
{
	const cJSON *type = member(part, "type");
	const cJSON *cache_control = member(part, "cache_control");
	const char *t;

	if (!cJSON_IsObject(part))
		return invalid(err, "%s: expected an object, got %s", where, aigw_json_kind(part));
	if (!cJSON_IsString(type))
		return invalid(err, "%s.type: expected a string", where);
	t = type->valuestring;
	if (cache_control && !cJSON_IsObject(cache_control))
		return invalid(err, "%s.cache_control: expected an object", where);
	if (strcmp(t, "text") == 0 || (strcmp(t, "refusal") == 0 && (allow & PART_REFUSAL))) {
		const cJSON *text = member(part, t);
		if (!cJSON_IsString(text))
			return invalid(err, "%s.%s: expected a string", where, t);
		add_text(blocks, text->valuestring, cache_control);
		return 0;
	}
	if (strcmp(t, "image_url") == 0 && (allow & PART_IMAGE)) {
		const cJSON *iu = member(part, "image_url"), *url = iu;
		cJSON *b, *src;
		if (cJSON_IsObject(iu))
			url = member(iu, "url");
		if (!cJSON_IsString(url))
			return invalid(err, "%s.image_url.url: expected a string", where);
		if (!(src = source_of(url->valuestring, true)))
			return invalid(err, "%s.image_url.url: expected an http(s) URL or a base64 "
				       "data: URL", where);
		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "type", "image");
		cJSON_AddItemToObject(b, "source", src);
		if (cache_control)
			cJSON_AddItemToObject(b, "cache_control",
					      cJSON_Duplicate(cache_control, true));
		cJSON_AddItemToArray(blocks, b);
		return 0;
	}
	if (strcmp(t, "file") == 0 && (allow & PART_FILE)) {
		const cJSON *file = member(part, "file");
		const cJSON *data = cJSON_IsObject(file) ? member(file, "file_data") : NULL;
		cJSON *b, *src;
		if (!cJSON_IsString(data) || !(src = source_of(data->valuestring, false)))
			return invalid(err, "%s.file.file_data: expected a base64 data: URL "
				       "(anthropic cannot use file ids)", where);
		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "type", "document");
		cJSON_AddItemToObject(b, "source", src);
		if (cache_control)
			cJSON_AddItemToObject(b, "cache_control",
					      cJSON_Duplicate(cache_control, true));
		cJSON_AddItemToArray(blocks, b);
		return 0;
	}
	return invalid(err, "%s.type: '%s' parts are not supported here", where, t);
}

/* A message's content, a string or an array of parts, appended to blocks
 * (where: "messages[2].content"). */
static int add_content(cJSON *blocks, const cJSON *content, int allow, const char *where,
		       struct aigw_err *err)
{
	const cJSON *part;
	int i = 0;

	if (cJSON_IsString(content)) {
		add_text(blocks, content->valuestring, NULL);
		return 0;
	}
	if (!cJSON_IsArray(content))
		return invalid(err, "%s: expected a string or an array", where);
	cJSON_ArrayForEach(part, content) {
		char at[96];
		int rc;
		snprintf(at, sizeof(at), "%s[%d]", where, i++);
		if ((rc = add_part(blocks, part, allow, at, err)) < 0)
			return rc;
	}
	return 0;
}

/* A single text block without cache_control says no more than a string. */
static cJSON *plain_text(const cJSON *blocks)
{
	const cJSON *b = cJSON_GetArrayItem(blocks, 0);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");

	if (cJSON_GetArraySize(blocks) != 1 || !cJSON_IsString(type) ||
	    strcmp(type->valuestring, "text") != 0 ||
	    cJSON_GetObjectItemCaseSensitive(b, "cache_control"))
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(b, "text");
}

/* The messages being built: each run of one role is one message. */
struct turns {
	cJSON *messages;
	cJSON *last;           /* the last message's content array */
	const char *last_role;
};

/* Adds blocks (taken) as a role's turn, merged into the last message when
 * it has the same role. A turn with no blocks is left out. */
static void add_turn(struct turns *t, const char *role, cJSON *blocks)
{
	if (cJSON_GetArraySize(blocks) == 0) {
		cJSON_Delete(blocks);
		return;
	}
	if (t->last && strcmp(t->last_role, role) == 0) {
		while (cJSON_GetArraySize(blocks) > 0)
			cJSON_AddItemToArray(t->last, cJSON_DetachItemFromArray(blocks, 0));
		cJSON_Delete(blocks);
		return;
	}
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", role);
	cJSON_AddItemToObject(m, "content", blocks);
	cJSON_AddItemToArray(t->messages, m);
	t->last = blocks;
	t->last_role = role;
}

/* An assistant's tool_calls as tool_use blocks. */
static int add_tool_calls(cJSON *blocks, const cJSON *calls, int mi, struct aigw_err *err)
{
	const cJSON *call;
	int j = 0;

	if (!cJSON_IsArray(calls))
		return invalid(err, "messages[%d].tool_calls: expected an array", mi);
	cJSON_ArrayForEach(call, calls) {
		const cJSON *id = member(call, "id"), *type = member(call, "type");
		const cJSON *fn = member(call, "function");
		const cJSON *name = member(fn, "name"), *args = member(fn, "arguments");
		cJSON *input = NULL, *b;

		if (!cJSON_IsObject(call))
			return invalid(err, "messages[%d].tool_calls[%d]: expected an object", mi, j);
		if (type && !(cJSON_IsString(type) && strcmp(type->valuestring, "function") == 0))
			return invalid(err, "messages[%d].tool_calls[%d].type: expected \"function\"",
				       mi, j);
		if (!cJSON_IsString(id))
			return invalid(err, "messages[%d].tool_calls[%d].id: expected a string", mi, j);
		if (!cJSON_IsObject(fn))
			return invalid(err, "messages[%d].tool_calls[%d].function: expected an object",
				       mi, j);
		if (!cJSON_IsString(name))
			return invalid(err, "messages[%d].tool_calls[%d].function.name: expected a "
				       "string", mi, j);
		if (cJSON_IsObject(args)) {
			input = cJSON_Duplicate(args, true);
		} else if (cJSON_IsString(args)) {
			const char *a = args->valuestring;
			a += strspn(a, " \t\r\n");
			/* A tool without parameters is often called with "". */
			if (!*a)
				input = cJSON_CreateObject();
			else if (aigw_json_parse_object(a, strlen(a), &input, err) < 0) {
				aigw_err_prefix(err, "messages[%d].tool_calls[%d].function.arguments",
						mi, j);
				return AIGW_EINVAL;
			}
		} else if (!args) {
			input = cJSON_CreateObject();
		} else {
			return invalid(err, "messages[%d].tool_calls[%d].function.arguments: expected "
				       "a string holding a JSON object", mi, j);
		}
		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "type", "tool_use");
		cJSON_AddStringToObject(b, "id", id->valuestring);
		cJSON_AddStringToObject(b, "name", name->valuestring);
		cJSON_AddItemToObject(b, "input", input);
		cJSON_AddItemToArray(blocks, b);
		j++;
	}
	return 0;
}

/* A tool message as a tool_result block. */
static int add_tool_result(cJSON *blocks, const cJSON *msg, int mi, struct aigw_err *err)
{
	const cJSON *id = member(msg, "tool_call_id"), *content = member(msg, "content");
	cJSON *b, *inner;
	char where[48];
	int rc;

	if (!cJSON_IsString(id))
		return invalid(err, "messages[%d].tool_call_id: expected a string", mi);
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "type", "tool_result");
	cJSON_AddStringToObject(b, "tool_use_id", id->valuestring);
	cJSON_AddItemToArray(blocks, b);
	if (!content)
		return 0;
	if (cJSON_IsString(content)) {
		if (*content->valuestring)
			cJSON_AddStringToObject(b, "content", content->valuestring);
		return 0;
	}
	inner = cJSON_CreateArray();
	snprintf(where, sizeof(where), "messages[%d].content", mi);
	if ((rc = add_content(inner, content, PART_TEXT | PART_IMAGE, where, err)) < 0) {
		cJSON_Delete(inner);
		return rc;
	}
	const cJSON *text = plain_text(inner);
	if (text)
		cJSON_AddStringToObject(b, "content", text->valuestring);
	else if (cJSON_GetArraySize(inner) > 0)
		cJSON_AddItemToObject(b, "content", cJSON_Duplicate(inner, true));
	cJSON_Delete(inner);
	return 0;
}

/* One OpenAI message into system (system and developer) or t. */
static int add_message(struct turns *t, cJSON *system, const cJSON *msg, int mi,
		       struct aigw_err *err)
{
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
	const cJSON *content = member(msg, "content");
	const char *r;
	char where[48];
	cJSON *blocks;
	int rc = 0;

	if (!cJSON_IsObject(msg))
		return invalid(err, "messages[%d]: expected an object, got %s", mi,
			       aigw_json_kind(msg));
	if (!role)
		return invalid(err, "messages[%d].role: missing", mi);
	if (!cJSON_IsString(role))
		return invalid(err, "messages[%d].role: expected a string", mi);
	r = role->valuestring;
	snprintf(where, sizeof(where), "messages[%d].content", mi);
	if (strcmp(r, "system") == 0 || strcmp(r, "developer") == 0) {
		if (!content)
			return invalid(err, "%s: missing", where);
		return add_content(system, content, PART_TEXT, where, err);
	}
	blocks = cJSON_CreateArray();
	if (strcmp(r, "user") == 0) {
		rc = content ? add_content(blocks, content, PART_TEXT | PART_IMAGE | PART_FILE,
					   where, err)
			     : invalid(err, "%s: missing", where);
		if (rc == 0)
			add_turn(t, "user", blocks);
	} else if (strcmp(r, "assistant") == 0) {
		const cJSON *calls = member(msg, "tool_calls");
		if (content)
			rc = add_content(blocks, content, PART_TEXT | PART_REFUSAL, where, err);
		if (rc == 0 && calls)
			rc = add_tool_calls(blocks, calls, mi, err);
		if (rc == 0)
			add_turn(t, "assistant", blocks);
	} else if (strcmp(r, "tool") == 0) {
		rc = add_tool_result(blocks, msg, mi, err);
		if (rc == 0)
			add_turn(t, "user", blocks);
	} else {
		rc = invalid(err, "messages[%d].role: unknown role '%s' (system, developer, user, "
			     "assistant or tool)", mi, r);
	}
	if (rc < 0)
		cJSON_Delete(blocks);
	return rc;
}

/* tools: [{type: function, function: {name, description, parameters}}]. */
static int put_tools(cJSON *out, const cJSON *tools, struct aigw_err *err)
{
	const cJSON *tool;
	cJSON *list;
	int i = 0;

	if (!cJSON_IsArray(tools))
		return invalid(err, "tools: expected an array");
	list = cJSON_AddArrayToObject(out, "tools");
	cJSON_ArrayForEach(tool, tools) {
		const cJSON *type = member(tool, "type"), *fn = member(tool, "function");
		const cJSON *name = member(fn, "name"), *desc = member(fn, "description");
		const cJSON *params = member(fn, "parameters");
		cJSON *t;

		if (!cJSON_IsObject(tool))
			return invalid(err, "tools[%d]: expected an object", i);
		if (!cJSON_IsString(type) || strcmp(type->valuestring, "function") != 0)
			return invalid(err, "tools[%d].type: anthropic takes \"function\" tools only",
				       i);
		if (!cJSON_IsObject(fn))
			return invalid(err, "tools[%d].function: expected an object", i);
		if (!cJSON_IsString(name))
			return invalid(err, "tools[%d].function.name: expected a string", i);
		if (desc && !cJSON_IsString(desc))
			return invalid(err, "tools[%d].function.description: expected a string", i);
		if (params && !cJSON_IsObject(params))
			return invalid(err, "tools[%d].function.parameters: expected an object", i);
		t = cJSON_CreateObject();
		cJSON_AddStringToObject(t, "name", name->valuestring);
		if (desc)
			cJSON_AddStringToObject(t, "description", desc->valuestring);
		if (params) {
			cJSON_AddItemToObject(t, "input_schema", cJSON_Duplicate(params, true));
		} else {
			/* Anthropic requires a schema; OpenAI's absent one means
			 * "no parameters". */
			cJSON *s = cJSON_AddObjectToObject(t, "input_schema");
			cJSON_AddStringToObject(s, "type", "object");
			cJSON_AddObjectToObject(s, "properties");
		}
		cJSON_AddItemToArray(list, t);
		i++;
	}
	return 0;
}

/* tool_choice, with parallel_tool_calls: false folded in (Anthropic keeps
 * it inside tool_choice). */
static int put_tool_choice(cJSON *out, const cJSON *choice, bool no_parallel, bool has_tools,
			   struct aigw_err *err)
{
	cJSON *tc;

	if (!choice && !(no_parallel && has_tools))
		return 0;
	tc = cJSON_CreateObject();
	if (!choice) {
		cJSON_AddStringToObject(tc, "type", "auto");
	} else if (cJSON_IsString(choice)) {
		const char *c = choice->valuestring;
		if (strcmp(c, "auto") == 0 || strcmp(c, "none") == 0) {
			cJSON_AddStringToObject(tc, "type", c);
		} else if (strcmp(c, "required") == 0) {
			cJSON_AddStringToObject(tc, "type", "any");
		} else {
			cJSON_Delete(tc);
			return invalid(err, "tool_choice: unknown value '%s' (auto, none or required)",
				       c);
		}
	} else {
		const cJSON *type = member(choice, "type");
		const cJSON *name = member(member(choice, "function"), "name");
		if (!cJSON_IsObject(choice) || !cJSON_IsString(type) ||
		    strcmp(type->valuestring, "function") != 0 || !cJSON_IsString(name)) {
			cJSON_Delete(tc);
			return invalid(err, "tool_choice: expected \"auto\", \"none\", \"required\" or "
				       "{\"type\":\"function\",\"function\":{\"name\":...}}");
		}
		cJSON_AddStringToObject(tc, "type", "tool");
		cJSON_AddStringToObject(tc, "name", name->valuestring);
	}
	/* tool_choice none has no such member: no tool, nothing parallel. */
	if (no_parallel && strcmp(cJSON_GetObjectItemCaseSensitive(tc, "type")->valuestring,
				  "none") != 0)
		cJSON_AddTrueToObject(tc, "disable_parallel_tool_use");
	cJSON_AddItemToObject(out, "tool_choice", tc);
	return 0;
}

/* stop: a string or an array of strings. */
static int put_stop(cJSON *out, const cJSON *stop, struct aigw_err *err)
{
	const cJSON *s;
	cJSON *list;

	if (cJSON_IsString(stop)) {
		list = cJSON_AddArrayToObject(out, "stop_sequences");
		cJSON_AddItemToArray(list, cJSON_CreateString(stop->valuestring));
		return 0;
	}
	if (!cJSON_IsArray(stop))
		return invalid(err, "stop: expected a string or an array of strings");
	cJSON_ArrayForEach(s, stop)
		if (!cJSON_IsString(s))
			return invalid(err, "stop: expected a string or an array of strings");
	if (cJSON_GetArraySize(stop) > 0)
		cJSON_AddItemToObject(out, "stop_sequences", cJSON_Duplicate(stop, true));
	return 0;
}

static int put_number(cJSON *out, const cJSON *in, const char *name, struct aigw_err *err)
{
	const cJSON *v = member(in, name);

	if (!v)
		return 0;
	if (!cJSON_IsNumber(v))
		return invalid(err, "%s: expected a number, got %s", name, aigw_json_kind(v));
	cJSON_AddItemToObject(out, name, cJSON_Duplicate(v, false));
	return 0;
}

/* The Anthropic body for the OpenAI request in; 0 or EINVAL. */
static int translate(const struct aigw_provider_call *c, const cJSON *in, cJSON *out,
		     struct aigw_err *err)
{
	const cJSON *messages = cJSON_GetObjectItemCaseSensitive(in, "messages");
	const cJSON *n = member(in, "n"), *max = member(in, "max_completion_tokens");
	const cJSON *msg, *v, *tools = member(in, "tools"), *ptc = member(in, "parallel_tool_calls");
	struct turns t = { 0 };
	cJSON *system;
	int rc, i = 0;

	if (!messages)
		return invalid(err, "messages: missing");
	if (!cJSON_IsArray(messages))
		return invalid(err, "messages: expected an array, got %s", aigw_json_kind(messages));
	if (n && !is_integer(n))
		return invalid(err, "n: expected an integer");
	if (n && n->valuedouble > 1)
		return invalid(err, "n: anthropic answers with one choice; n=%.0f is not supported",
			       n->valuedouble);
	if (!max)
		max = member(in, "max_tokens");
	if (max && !(is_integer(max) && max->valuedouble >= 1))
		return invalid(err, "%s: expected a positive integer", max->string);
	if (ptc && !cJSON_IsBool(ptc))
		return invalid(err, "parallel_tool_calls: expected a boolean");

	if (c->model) {
		cJSON_AddStringToObject(out, "model", c->model);
	} else {
		if (!cJSON_IsString(v = member(in, "model")))
			return invalid(err, "model: expected a string");
		cJSON_AddStringToObject(out, "model", v->valuestring);
	}
	cJSON_AddNumberToObject(out, "max_tokens", max ? max->valuedouble : DEFAULT_MAX_TOKENS);

	system = cJSON_CreateArray();
	t.messages = cJSON_CreateArray();
	cJSON_ArrayForEach(msg, messages) {
		if ((rc = add_message(&t, system, msg, i++, err)) < 0) {
			cJSON_Delete(system);
			cJSON_Delete(t.messages);
			return rc;
		}
	}
	if (cJSON_GetArraySize(system) > 0) {
		const cJSON *text = plain_text(system);
		if (text) {
			cJSON_AddStringToObject(out, "system", text->valuestring);
			cJSON_Delete(system);
		} else {
			cJSON_AddItemToObject(out, "system", system);
		}
	} else {
		cJSON_Delete(system);
	}
	/* A turn that is one plain text is sent as a string, the form
	 * Anthropic's own examples use. */
	cJSON_ArrayForEach(msg, t.messages) {
		cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
		const cJSON *text = plain_text(content);
		if (text)
			cJSON_ReplaceItemInObjectCaseSensitive((cJSON *)msg, "content",
							       cJSON_CreateString(text->valuestring));
	}
	cJSON_AddItemToObject(out, "messages", t.messages);

	if ((rc = put_number(out, in, "temperature", err)) < 0 ||
	    (rc = put_number(out, in, "top_p", err)) < 0)
		return rc;
	if ((v = member(in, "stop")) && (rc = put_stop(out, v, err)) < 0)
		return rc;
	if (c->stream)
		cJSON_AddTrueToObject(out, "stream");
	if ((v = member(in, "user"))) {
		if (!cJSON_IsString(v))
			return invalid(err, "user: expected a string");
		if (*v->valuestring) {
			cJSON *meta = cJSON_AddObjectToObject(out, "metadata");
			cJSON_AddStringToObject(meta, "user_id", v->valuestring);
		}
	}
	if (tools && (rc = put_tools(out, tools, err)) < 0)
		return rc;
	return put_tool_choice(out, member(in, "tool_choice"), cJSON_IsFalse(ptc),
			       tools && cJSON_GetArraySize(tools) > 0, err);
}

static int build(const struct aigw_provider_call *c, const char *body, size_t len,
		 struct aigw_provider_req *out, struct aigw_err *err)
{
	cJSON *in = NULL, *up;
	char *text;
	int rc;

	if (c->api == AIGW_API_COMPLETIONS)
		return aigw_err_set(err, AIGW_ENOTFOUND, "anthropic has no /v1/completions endpoint "
				    "(use /v1/chat/completions)");
	if (c->api != AIGW_API_CHAT)
		return aigw_err_set(err, AIGW_ENOTFOUND, "anthropic has no /v1/embeddings endpoint");
	if (aigw_json_parse_object(body, len, &in, err) < 0) {
		aigw_err_prefix(err, "the request body");
		return AIGW_EINVAL;
	}
	up = cJSON_CreateObject();
	rc = translate(c, in, up, err);
	cJSON_Delete(in);
	if (rc < 0) {
		cJSON_Delete(up);
		return rc;
	}
	if (!(text = cJSON_PrintUnformatted(up)))
		abort(); /* cJSON's only failure is memory */
	cJSON_Delete(up);
	aigw_buf_puts(&out->body, text);
	cJSON_free(text);

	build_url(c->base_url, &out->url);
	if (c->credential) {
		aigw_buf_puts(&out->fields, "x-api-key: ");
		aigw_buf_puts(&out->fields, c->credential);
		aigw_buf_puts(&out->fields, "\r\n");
	}
	aigw_buf_puts(&out->fields, "anthropic-version: " ANTHROPIC_VERSION "\r\n"
				    "Content-Type: application/json\r\n");
	out->passthrough = false;
	return 0;
}

/* ------------------------------------------------------------ answer */

static const cJSON *get(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

static const char *string_of(const cJSON *o, const char *name)
{
	const cJSON *v = get(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t count_of(const cJSON *o, const char *name)
{
	const cJSON *v = get(o, name);
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9e15
		       ? (int64_t)v->valuedouble : -1;
}

/* An error answer as OpenAI's: Anthropic's {"type":"error","error":
 * {"type","message"}}, or any other body (a proxy's page) quoted. */
static void put_error(struct aigw_buf *out, int status, const char *body, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *e = get(root, "error");
	const char *type = string_of(e, "type"), *msg = string_of(e, "message");
	char quote[AIGW_OAI_QUOTE_MAX + 1];

	if (cJSON_IsObject(root) && type) {
		aigw_oai_error(out, error_type(type, status), type, msg ? msg : type);
		cJSON_Delete(root);
		return;
	}
	cJSON_Delete(root);
	aigw_oai_error(out, aigw_oai_error_type(status), NULL, aigw_oai_quote(quote, body, len));
}

/* One tool_use block as an OpenAI tool call. */
static int put_tool_call(struct aigw_buf *out, const cJSON *block, struct aigw_err *err)
{
	const char *id = string_of(block, "id"), *name = string_of(block, "name");
	const cJSON *input = get(block, "input");
	char *args;

	if (!id || !name)
		return aigw_err_set(err, AIGW_EFAIL, "anthropic answer: a tool_use block without "
				    "its id or name");
	if (!(args = input ? cJSON_PrintUnformatted(input) : aigw_strdup("{}")))
		abort();
	aigw_buf_puts(out, "{\"id\":");
	aigw_oai_put_string(out, id, strlen(id));
	aigw_buf_puts(out, ",\"type\":\"function\",\"function\":{\"name\":");
	aigw_oai_put_string(out, name, strlen(name));
	aigw_buf_puts(out, ",\"arguments\":");
	aigw_oai_put_string(out, args, strlen(args));
	aigw_buf_puts(out, "}}");
	if (input)
		cJSON_free(args);
	else
		free(args);
	return 0;
}

static int answer(const struct aigw_provider_call *c, int *status, const char *body, size_t len,
		  struct aigw_buf *out, struct aigw_usage *u, struct aigw_err *err)
{
	struct aigw_buf text = AIGW_BUF_INIT, calls = AIGW_BUF_INIT;
	const cJSON *content, *block, *usage;
	const char *id, *model, *type;
	cJSON *root;
	int ncalls = 0, rc = 0;

	if (*status < 200 || *status >= 300) {
		put_error(out, *status, body, len);
		return 0;
	}
	if (!(root = aigw_oai_parse(body, len, "anthropic answer", err)))
		return AIGW_EFAIL;
	type = string_of(root, "type");
	if (type && strcmp(type, "error") == 0) {
		*status = error_status(string_of(get(root, "error"), "type"));
		cJSON_Delete(root);
		put_error(out, *status, body, len);
		return 0;
	}
	content = get(root, "content");
	if (!cJSON_IsArray(content)) {
		cJSON_Delete(root);
		return aigw_err_set(err, AIGW_EFAIL, "anthropic answer: no content array");
	}
	cJSON_ArrayForEach(block, content) {
		const char *bt = string_of(block, "type"), *t;
		if (!bt)
			continue;
		if (strcmp(bt, "text") == 0 && (t = string_of(block, "text"))) {
			aigw_buf_puts(&text, t);
		} else if (strcmp(bt, "tool_use") == 0) {
			if (ncalls++)
				aigw_buf_putc(&calls, ',');
			if ((rc = put_tool_call(&calls, block, err)) < 0)
				goto done;
		}
		/* thinking, redacted_thinking and server tool blocks say
		 * nothing OpenAI's message can hold. */
	}

	id = string_of(root, "id");
	model = string_of(root, "model");
	aigw_buf_puts(out, "{\"id\":");
	id = id ? id : c->id ? c->id : "";
	aigw_oai_put_string(out, id, strlen(id));
	aigw_buf_printf(out, ",\"object\":\"chat.completion\",\"created\":%lld,\"model\":",
			(long long)c->created);
	model = model ? model : c->model ? c->model : "";
	aigw_oai_put_string(out, model, strlen(model));
	aigw_buf_puts(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
			   "\"content\":");
	if (text.len == 0 && ncalls > 0)
		aigw_buf_puts(out, "null");
	else
		aigw_oai_put_string(out, text.data, text.len);
	if (ncalls) {
		aigw_buf_puts(out, ",\"tool_calls\":[");
		aigw_buf_append(out, calls.data, calls.len);
		aigw_buf_putc(out, ']');
	}
	aigw_buf_puts(out, "},\"logprobs\":null,\"finish_reason\":\"");
	aigw_buf_puts(out, finish_reason(string_of(root, "stop_reason")));
	aigw_buf_puts(out, "\"}],\"usage\":");
	if (cJSON_IsObject(usage = get(root, "usage"))) {
		struct counts k = {
			count_of(usage, "input_tokens"), count_of(usage, "output_tokens"),
			count_of(usage, "cache_read_input_tokens"),
			count_of(usage, "cache_creation_input_tokens"),
		};
		usage_from(u, &k);
	}
	aigw_oai_put_usage(out, u);
	aigw_buf_putc(out, '}');
done:
	cJSON_Delete(root);
	aigw_buf_release(&text);
	aigw_buf_release(&calls);
	return rc;
}

/* ------------------------------------------------------------ stream
 *
 * Anthropic's events and what the client gets for them:
 *
 *   message_start           the role chunk (id and model from its message;
 *                           its usage is kept)
 *   content_block_start     text: a text chunk when it has text already;
 *                           tool_use: a tool call's start (index: the
 *                           count of tool_use blocks before it), and its
 *                           arguments when its input is not empty
 *   content_block_delta     text_delta: a text chunk; input_json_delta:
 *                           an arguments chunk of the current tool call
 *   message_delta           the finish chunk (stop_reason mapped); its
 *                           usage is kept
 *   message_stop            the usage chunk when asked for, data: [DONE]
 *   error                   an error chunk, data: [DONE]
 *
 * Thinking blocks and their deltas, content_block_stop, ping and event
 * types Anthropic may add are skipped. A stream that ends without
 * message_stop gets what it is owed at the end: when the finish chunk was
 * not sent the answer was cut short, which is said with an error chunk
 * (a finish chunk would pass a partial answer off as a whole one); then
 * the usage chunk when asked for and data: [DONE]. */

/* Members picked out of an object by name; value is NULL when absent. */
struct pick {
	const char *const *names;
	size_t n;
	struct aigw_json_member *m;
};

static int pick_member(const struct aigw_json_member *m, void *arg)
{
	struct pick *p = arg;

	for (size_t i = 0; i < p->n; i++)
		if (!p->m[i].value && aigw_json_key_is(m, p->names[i])) {
			p->m[i] = *m;
			break;
		}
	return 0;
}

/* -1 when text is not a JSON object. */
static int pick(const char *text, size_t len, const char *const *names, size_t n,
		struct aigw_json_member *m)
{
	struct pick p = { names, n, m };

	memset(m, 0, n * sizeof(*m));
	return aigw_json_object(text, len, pick_member, &p);
}

/* The same from a member whose value should be an object. */
static int pick_in(const struct aigw_json_member *v, const char *const *names, size_t n,
		   struct aigw_json_member *m)
{
	memset(m, 0, n * sizeof(*m));
	if (!v->value || v->value[0] != '{')
		return -1;
	return pick(v->value, v->value_len, names, n, m);
}

/* Is the value the JSON string lit (written without escapes, as
 * Anthropic's type names are)? */
static bool is_lit(const struct aigw_json_member *v, const char *lit)
{
	size_t n = strlen(lit);
	return v->value && v->value_len == n + 2 && v->value[0] == '"' &&
	       memcmp(v->value + 1, lit, n) == 0;
}

/* A non-empty JSON string value (the literal is more than its quotes). */
static bool has_text(const struct aigw_json_member *v)
{
	return v->value && v->value[0] == '"' && v->value_len > 2;
}

/* A string value decoded into a new string; NULL when not a string. */
static char *dup_string(const struct aigw_json_member *v)
{
	char *s;

	if (!v->value || v->value[0] != '"')
		return NULL;
	s = aigw_malloc(v->value_len + 1); /* decoding never lengthens */
	if (!aigw_json_string(v->value, v->value_len, s, v->value_len + 1)) {
		free(s);
		return NULL;
	}
	return s;
}

/* usage: {input_tokens, output_tokens, cache_*_input_tokens}; the counts
 * it has replace those in k. */
static void read_counts(const struct aigw_json_member *usage, struct counts *k)
{
	static const char *const names[] = {
		"input_tokens", "output_tokens", "cache_read_input_tokens",
		"cache_creation_input_tokens",
	};
	int64_t *to[] = { &k->input, &k->output, &k->cache_read, &k->cache_write };
	struct aigw_json_member m[4];
	uint64_t n;

	if (pick_in(usage, names, 4, m) < 0)
		return;
	for (int i = 0; i < 4; i++)
		if (m[i].value && aigw_json_uint(m[i].value, m[i].value_len, &n) && n < (1ull << 53))
			*to[i] = (int64_t)n;
}

struct stream {
	struct aigw_sse sse;
	struct aigw_pstream *s;
	struct aigw_buf *out;      /* for the feed in progress */
	struct aigw_err *err;      /* ditto */
	struct aigw_oai_head head;
	char *id, *model;          /* message_start's, or NULL */
	struct counts counts;
	struct aigw_buf scratch;   /* a tool_use block's first input, quoted */
	int64_t block;             /* the content block being streamed */
	int tool;                  /* its tool call number; -1: not a tool_use */
	int tools;                 /* tool_use blocks so far */
	bool started;              /* the role chunk was sent */
	bool finish_sent;
};

static void *stream_new(struct aigw_pstream *s)
{
	struct stream *st = aigw_calloc(1, sizeof(*st));

	aigw_sse_init(&st->sse, 0);
	aigw_buf_init(&st->scratch);
	st->s = s;
	st->head.id = s->call.id;
	st->head.model = s->call.model;
	st->head.created = s->call.created;
	st->counts = (struct counts){ -1, -1, -1, -1 };
	st->block = -1;
	st->tool = -1;
	return st;
}

static void stream_free(void *state)
{
	struct stream *st = state;

	aigw_sse_release(&st->sse);
	aigw_buf_release(&st->scratch);
	free(st->id);
	free(st->model);
	free(st);
}

static int fail(struct stream *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct stream *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	aigw_err_setv(st->err, AIGW_EFAIL, fmt, ap);
	va_end(ap);
	return 1; /* stops the SSE parser */
}

/* The role chunk comes first, even if an upstream skipped message_start. */
static void start(struct stream *st)
{
	if (!st->started) {
		st->started = true;
		aigw_oai_chunk_role(st->out, &st->head);
	}
}

static void text_chunk(struct stream *st, const struct aigw_json_member *text)
{
	start(st);
	aigw_oai_chunk_text(st->out, &st->head, text->value, text->value_len);
	st->s->output = true;
}

static void finish_chunk(struct stream *st, const char *reason)
{
	if (st->finish_sent)
		return;
	start(st);
	st->finish_sent = true;
	aigw_oai_chunk_finish(st->out, &st->head, reason);
}

static void end_stream(struct stream *st)
{
	if (st->s->call.include_usage)
		aigw_oai_chunk_usage(st->out, &st->head, &st->s->usage);
	aigw_oai_done(st->out);
	st->s->finished = true;
}

enum { EV_TYPE, EV_INDEX, EV_MESSAGE, EV_BLOCK, EV_DELTA, EV_USAGE, EV_ERROR, EV_N };
static const char *const event_members[EV_N] = {
	"type", "index", "message", "content_block", "delta", "usage", "error",
};

static int on_delta(struct stream *st, const struct aigw_json_member *ev)
{
	static const char *const names[] = { "type", "text", "partial_json" };
	struct aigw_json_member d[3];
	uint64_t index;

	if (pick_in(&ev[EV_DELTA], names, 3, d) < 0)
		return 0;
	if (is_lit(&d[0], "text_delta")) {
		if (has_text(&d[1]))
			text_chunk(st, &d[1]);
	} else if (is_lit(&d[0], "input_json_delta")) {
		/* Server tools' blocks (not tool_use) stream their input too. */
		if (st->tool < 0 || !has_text(&d[2]))
			return 0;
		if (ev[EV_INDEX].value && aigw_json_uint(ev[EV_INDEX].value, ev[EV_INDEX].value_len,
							  &index) && (int64_t)index != st->block)
			return 0;
		aigw_oai_chunk_tool_args(st->out, &st->head, st->tool, d[2].value, d[2].value_len);
		st->s->output = true;
	}
	/* thinking_delta, signature_delta: not for OpenAI's clients. */
	return 0;
}

/* Is the object text {} (whitespace aside)? */
static bool empty_object(const char *v, size_t n)
{
	size_t i = 1;
	while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r'))
		i++;
	return i < n && v[i] == '}';
}

static int on_block_start(struct stream *st, const struct aigw_json_member *ev)
{
	static const char *const names[] = { "type", "text", "id", "name", "input" };
	struct aigw_json_member b[5];
	uint64_t index;
	char *id, *name;

	st->block = ev[EV_INDEX].value &&
				    aigw_json_uint(ev[EV_INDEX].value, ev[EV_INDEX].value_len, &index) &&
				    index < (1ull << 53)
			    ? (int64_t)index : -1;
	st->tool = -1;
	if (pick_in(&ev[EV_BLOCK], names, 5, b) < 0)
		return 0;
	if (is_lit(&b[0], "text")) {
		if (has_text(&b[1]))
			text_chunk(st, &b[1]);
		return 0;
	}
	if (!is_lit(&b[0], "tool_use"))
		return 0; /* thinking, redacted_thinking, server tools */
	id = dup_string(&b[2]);
	name = dup_string(&b[3]);
	if (!id || !name) {
		free(id);
		free(name);
		return fail(st, "anthropic stream: a tool_use block without its id or name");
	}
	st->tool = st->tools++;
	start(st);
	aigw_oai_chunk_tool_start(st->out, &st->head, st->tool, id, name);
	st->s->output = true;
	free(id);
	free(name);
	if (b[4].value && b[4].value[0] == '{' && !empty_object(b[4].value, b[4].value_len)) {
		aigw_buf_reset(&st->scratch);
		aigw_oai_put_string(&st->scratch, b[4].value, b[4].value_len);
		aigw_oai_chunk_tool_args(st->out, &st->head, st->tool, st->scratch.data,
					 st->scratch.len);
	}
	return 0;
}

static int on_message_start(struct stream *st, const struct aigw_json_member *ev)
{
	static const char *const names[] = { "id", "model", "usage" };
	struct aigw_json_member m[3];

	if (pick_in(&ev[EV_MESSAGE], names, 3, m) < 0)
		return fail(st, "anthropic stream: a message_start event without its message");
	free(st->id);
	free(st->model);
	st->id = dup_string(&m[0]);
	st->model = dup_string(&m[1]);
	/* A second message_start (a broken stream) must not leave the head
	 * pointing at the strings just freed. */
	st->head.id = st->id ? st->id : st->s->call.id;
	st->head.model = st->model ? st->model : st->s->call.model;
	read_counts(&m[2], &st->counts);
	usage_from(&st->s->usage, &st->counts);
	start(st);
	return 0;
}

static int on_message_delta(struct stream *st, const struct aigw_json_member *ev)
{
	static const char *const names[] = { "stop_reason" };
	struct aigw_json_member d[1];
	char reason[64];
	bool known;

	pick_in(&ev[EV_DELTA], names, 1, d);
	known = d[0].value && aigw_json_string(d[0].value, d[0].value_len, reason, sizeof(reason));
	read_counts(&ev[EV_USAGE], &st->counts);
	usage_from(&st->s->usage, &st->counts);
	finish_chunk(st, finish_reason(known ? reason : NULL));
	return 0;
}

static int on_error(struct stream *st, const struct aigw_json_member *ev)
{
	static const char *const names[] = { "type", "message" };
	struct aigw_json_member e[2];
	char *type, *msg;

	pick_in(&ev[EV_ERROR], names, 2, e);
	type = dup_string(&e[0]);
	msg = dup_string(&e[1]);
	aigw_oai_stream_error(st->out, error_type(type, 500), type,
			      msg ? msg : type ? type : "the anthropic stream reported an error");
	free(type);
	free(msg);
	aigw_oai_done(st->out);
	st->s->finished = true;
	return 0;
}

static int on_event(const struct aigw_sse_event *sse, void *arg)
{
	struct stream *st = arg;
	struct aigw_json_member ev[EV_N];
	const char *type;
	size_t tlen;

	if (st->s->finished)
		return 0; /* nothing is sent after data: [DONE] */
	if (pick(sse->data, sse->data_len, event_members, EV_N, ev) < 0)
		return fail(st, "anthropic stream: the data of a '%.40s' event is not a JSON object",
			    *sse->event ? sse->event : "unnamed");
	/* The type inside the data is the one Anthropic documents; the
	 * event name is its copy. */
	if (ev[EV_TYPE].value && ev[EV_TYPE].value[0] == '"') {
		type = ev[EV_TYPE].value + 1;
		tlen = ev[EV_TYPE].value_len - 2;
	} else {
		type = sse->event;
		tlen = strlen(type);
	}
#define TYPE_IS(lit) (tlen == sizeof(lit) - 1 && memcmp(type, lit, tlen) == 0)
	if (TYPE_IS("content_block_delta"))
		return on_delta(st, ev);
	if (TYPE_IS("content_block_start"))
		return on_block_start(st, ev);
	if (TYPE_IS("message_start"))
		return on_message_start(st, ev);
	if (TYPE_IS("message_delta"))
		return on_message_delta(st, ev);
	if (TYPE_IS("message_stop")) {
		finish_chunk(st, "stop");
		end_stream(st);
		return 0;
	}
	if (TYPE_IS("error"))
		return on_error(st, ev);
#undef TYPE_IS
	return 0; /* ping, content_block_stop, and types added later */
}

static int feed(struct stream *st, const char *data, size_t len)
{
	int rc = aigw_sse_feed(&st->sse, data, len, on_event, st);

	if (rc < 0)
		return aigw_err_set(st->err, AIGW_EFAIL, "anthropic stream: an event is larger "
				    "than 1 MiB");
	return rc ? AIGW_EFAIL : 0;
}

static int stream_feed(struct aigw_pstream *s, const char *data, size_t len,
		       struct aigw_buf *out, struct aigw_err *err)
{
	struct stream *st = s->state;

	st->out = out;
	st->err = err;
	return feed(st, data, len);
}

static int stream_finish(struct aigw_pstream *s, struct aigw_buf *out, struct aigw_err *err)
{
	struct stream *st = s->state;
	int rc;

	st->out = out;
	st->err = err;
	/* A last event the upstream did not end with a blank line. */
	if ((rc = feed(st, "\n\n", 2)) < 0)
		return rc;
	if (s->finished)
		return 0;
	if (!st->finish_sent)
		aigw_oai_stream_error(out, "server_error", NULL,
				      "the anthropic stream ended before the answer was complete");
	end_stream(st);
	return 0;
}

const struct aigw_provider_ops aigw_provider_anthropic = {
	"anthropic", build, answer, stream_new, stream_feed, stream_finish, stream_free,
};
