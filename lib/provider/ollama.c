/* ollama: Ollama's native API (/api/chat, /api/generate, /api/embed).
 *
 * Requests are rebuilt (cJSON): Ollama wants images as bare base64 next
 * to the text, tool call arguments as objects, the sampling parameters
 * under "options", and "stream" always said (it streams by default).
 * Whole answers are rebuilt too. Streams are NDJSON, one object per line;
 * they are read in place with lib/json.h (a tree per token would cost
 * more than the rest of the work), and the text of each piece is copied
 * as the JSON string literal Ollama wrote, never decoded and encoded
 * again. Ollama does not report cache tokens: they stay unknown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "provider.h"
#include "provider/oai.h"

/* Ollama's lines are a few hundred bytes; a longer one than this is not
 * a stream of Ollama's. */
#define MAX_LINE (1u << 20)

static const char *api_path(int api)
{
	switch (api) {
	case AIGW_API_CHAT: return "/api/chat";
	case AIGW_API_COMPLETIONS: return "/api/generate";
	default: return "/api/embed";
	}
}

/* The node's URL may name the server (http://host:11434) or, as people
 * copy it from other tools, its /api or /v1 root: the paths are put after
 * the server's. */
static void build_url(const struct aigw_provider_call *c, struct aigw_buf *url)
{
	const char *b = c->base_url ? c->base_url : "";
	size_t n = strlen(b);

	while (n && b[n - 1] == '/')
		n--;
	if (n >= 4 && (memcmp(b + n - 4, "/api", 4) == 0))
		n -= 4;
	else if (n >= 3 && memcmp(b + n - 3, "/v1", 3) == 0)
		n -= 3;
	while (n && b[n - 1] == '/')
		n--;
	aigw_buf_append(url, b, n);
	aigw_buf_puts(url, api_path(c->api));
}

/* ------------------------------------------------------------ build */

static bool is_given(const cJSON *j)
{
	return j && !cJSON_IsNull(j);
}

/* "options": the sampling parameters the client gave, by Ollama's names. */
static int put_options(const cJSON *req, cJSON *to, struct aigw_err *err)
{
	static const char *const numbers[][2] = {
		{ "temperature", "temperature" },
		{ "top_p", "top_p" },
		{ "seed", "seed" },
		{ "presence_penalty", "presence_penalty" },
		{ "frequency_penalty", "frequency_penalty" },
		{ "max_tokens", "num_predict" },
		{ "max_completion_tokens", "num_predict" },
	};
	cJSON *opts = cJSON_CreateObject();
	const cJSON *stop = cJSON_GetObjectItemCaseSensitive(req, "stop");

	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, numbers[i][0]);
		if (!is_given(v))
			continue;
		if (!cJSON_IsNumber(v)) {
			cJSON_Delete(opts);
			return aigw_err_set(err, AIGW_EINVAL, "%s: expected a number, got %s",
					    numbers[i][0], aigw_json_kind(v));
		}
		cJSON_DeleteItemFromObjectCaseSensitive(opts, numbers[i][1]);
		cJSON_AddItemToObject(opts, numbers[i][1], cJSON_Duplicate(v, false));
	}
	if (is_given(stop)) {
		cJSON *a = cJSON_AddArrayToObject(opts, "stop");
		if (cJSON_IsString(stop)) {
			cJSON_AddItemToArray(a, cJSON_CreateString(stop->valuestring));
		} else if (cJSON_IsArray(stop)) {
			const cJSON *s;
			cJSON_ArrayForEach(s, stop) {
				if (!cJSON_IsString(s)) {
					cJSON_Delete(opts);
					return aigw_err_set(err, AIGW_EINVAL,
							    "stop: expected strings, got %s",
							    aigw_json_kind(s));
				}
				cJSON_AddItemToArray(a, cJSON_CreateString(s->valuestring));
			}
		} else {
			cJSON_Delete(opts);
			return aigw_err_set(err, AIGW_EINVAL,
					    "stop: expected a string or an array, got %s",
					    aigw_json_kind(stop));
		}
	}
	if (cJSON_GetArraySize(opts) > 0)
		cJSON_AddItemToObject(to, "options", opts);
	else
		cJSON_Delete(opts);
	return 0;
}

/* response_format -> "format": "json" or the schema itself. */
static int put_format(const cJSON *req, cJSON *to, struct aigw_err *err)
{
	const cJSON *rf = cJSON_GetObjectItemCaseSensitive(req, "response_format");
	const cJSON *type, *schema;

	if (!is_given(rf))
		return 0;
	type = cJSON_GetObjectItemCaseSensitive(rf, "type");
	if (!cJSON_IsObject(rf) || !cJSON_IsString(type))
		return aigw_err_set(err, AIGW_EINVAL, "response_format: expected {\"type\":...}");
	if (strcmp(type->valuestring, "text") == 0)
		return 0;
	if (strcmp(type->valuestring, "json_object") == 0) {
		cJSON_AddStringToObject(to, "format", "json");
		return 0;
	}
	if (strcmp(type->valuestring, "json_schema") == 0) {
		schema = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(rf, "json_schema"), "schema");
		if (!cJSON_IsObject(schema))
			return aigw_err_set(err, AIGW_EINVAL, "response_format.json_schema.schema: "
					    "expected an object");
		cJSON_AddItemToObject(to, "format", cJSON_Duplicate(schema, true));
		return 0;
	}
	return aigw_err_set(err, AIGW_EINVAL, "response_format.type: '%s' is not supported",
			    type->valuestring);
}

static cJSON *start_body(const struct aigw_provider_call *c, const cJSON *req,
			 struct aigw_err *err)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(req, "model");
	cJSON *to;

	if (!c->model && !cJSON_IsString(m)) {
		aigw_err_set(err, AIGW_EINVAL, "model: expected a string");
		return NULL;
	}
	to = cJSON_CreateObject();
	cJSON_AddStringToObject(to, "model", c->model ? c->model : m->valuestring);
	return to;
}

/* The base64 payload of a data: URL ("data:image/png;base64,AAAA"). */
static int image_of(const cJSON *part, const char *where, cJSON *images, struct aigw_err *err)
{
	const cJSON *iu = cJSON_GetObjectItemCaseSensitive(part, "image_url");
	const char *url, *comma;

	if (cJSON_IsObject(iu))
		iu = cJSON_GetObjectItemCaseSensitive(iu, "url");
	if (!cJSON_IsString(iu))
		return aigw_err_set(err, AIGW_EINVAL, "%s.image_url: expected {\"url\":...}",
				    where);
	url = iu->valuestring;
	if (strncmp(url, "data:", 5) != 0)
		return aigw_err_set(err, AIGW_EINVAL,
				    "%s.image_url: ollama takes only inline images (data: URLs)",
				    where);
	comma = strchr(url, ',');
	if (!comma || comma - url < 12 || memcmp(comma - 7, ";base64", 7) != 0)
		return aigw_err_set(err, AIGW_EINVAL, "%s.image_url: expected a base64 data: URL",
				    where);
	cJSON_AddItemToArray(images, cJSON_CreateString(comma + 1));
	return 0;
}

/* content: a string, null, or parts (text joined by newlines, images
 * into images). */
static int put_content(const cJSON *content, const char *where, cJSON *to,
		       struct aigw_err *err)
{
	struct aigw_buf text = AIGW_BUF_INIT;
	cJSON *images = NULL;
	const cJSON *part;
	size_t j = 0;
	int rc = 0;

	if (!is_given(content)) {
		cJSON_AddStringToObject(to, "content", "");
		return 0;
	}
	if (cJSON_IsString(content)) {
		cJSON_AddStringToObject(to, "content", content->valuestring);
		return 0;
	}
	if (!cJSON_IsArray(content))
		return aigw_err_set(err, AIGW_EINVAL,
				    "%s.content: expected a string or an array, got %s", where,
				    aigw_json_kind(content));
	cJSON_ArrayForEach(part, content) {
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
		char pw[96];
		snprintf(pw, sizeof(pw), "%s.content[%zu]", where, j++);
		if (!cJSON_IsString(type)) {
			rc = aigw_err_set(err, AIGW_EINVAL, "%s.type: expected a string", pw);
			break;
		}
		if (strcmp(type->valuestring, "text") == 0) {
			const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
			if (!cJSON_IsString(t)) {
				rc = aigw_err_set(err, AIGW_EINVAL, "%s.text: expected a string",
						  pw);
				break;
			}
			if (text.len)
				aigw_buf_putc(&text, '\n');
			aigw_buf_puts(&text, t->valuestring);
		} else if (strcmp(type->valuestring, "image_url") == 0) {
			if (!images)
				images = cJSON_CreateArray();
			if ((rc = image_of(part, pw, images, err)) < 0)
				break;
		} else {
			rc = aigw_err_set(err, AIGW_EINVAL,
					  "%s.type: '%s' is not supported by ollama", pw,
					  type->valuestring);
			break;
		}
	}
	if (rc == 0) {
		cJSON_AddStringToObject(to, "content", text.data);
		if (images)
			cJSON_AddItemToObject(to, "images", images);
	} else {
		cJSON_Delete(images);
	}
	aigw_buf_release(&text);
	return rc;
}

/* An assistant's tool_calls: arguments go as the object they encode. */
static int put_tool_calls(const cJSON *calls, const char *where, cJSON *to,
			  struct aigw_err *err)
{
	cJSON *out;
	const cJSON *tc;
	size_t j = 0;

	if (!cJSON_IsArray(calls))
		return aigw_err_set(err, AIGW_EINVAL, "%s.tool_calls: expected an array", where);
	out = cJSON_CreateArray();
	cJSON_ArrayForEach(tc, calls) {
		const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
		const cJSON *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
		cJSON *o, *f, *a;

		if (!cJSON_IsString(name)) {
			cJSON_Delete(out);
			return aigw_err_set(err, AIGW_EINVAL,
					    "%s.tool_calls[%zu].function.name: expected a string",
					    where, j);
		}
		if (!is_given(args) || (cJSON_IsString(args) && !args->valuestring[0]))
			a = cJSON_CreateObject();
		else if (cJSON_IsString(args))
			a = cJSON_Parse(args->valuestring);
		else
			a = cJSON_Duplicate(args, true);
		if (!cJSON_IsObject(a)) {
			cJSON_Delete(a);
			cJSON_Delete(out);
			return aigw_err_set(err, AIGW_EINVAL, "%s.tool_calls[%zu].function."
					    "arguments: expected a JSON object", where, j);
		}
		o = cJSON_CreateObject();
		f = cJSON_AddObjectToObject(o, "function");
		cJSON_AddStringToObject(f, "name", name->valuestring);
		cJSON_AddItemToObject(f, "arguments", a);
		cJSON_AddItemToArray(out, o);
		j++;
	}
	cJSON_AddItemToObject(to, "tool_calls", out);
	return 0;
}

/* The name of the tool call id answers, from the assistant messages
 * before message number upto; NULL when none says. */
static const char *tool_name_of(const cJSON *messages, int upto, const char *id)
{
	for (int i = upto - 1; i >= 0; i--) {
		const cJSON *m = cJSON_GetArrayItem(messages, i);
		const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
		const cJSON *tc;
		if (!cJSON_IsArray(calls))
			continue;
		cJSON_ArrayForEach(tc, calls) {
			const cJSON *tid = cJSON_GetObjectItemCaseSensitive(tc, "id");
			const cJSON *name = cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(tc, "function"), "name");
			if (cJSON_IsString(tid) && cJSON_IsString(name) &&
			    strcmp(tid->valuestring, id) == 0)
				return name->valuestring;
		}
	}
	return NULL;
}

static int put_messages(const cJSON *req, cJSON *to, struct aigw_err *err)
{
	const cJSON *messages = cJSON_GetObjectItemCaseSensitive(req, "messages");
	cJSON *out;
	int n;

	if (!cJSON_IsArray(messages))
		return aigw_err_set(err, AIGW_EINVAL, "messages: expected an array");
	out = cJSON_AddArrayToObject(to, "messages");
	n = cJSON_GetArraySize(messages);
	for (int i = 0; i < n; i++) {
		const cJSON *m = cJSON_GetArrayItem(messages, i);
		const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
		const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
		const char *r;
		char where[32];
		cJSON *o;

		snprintf(where, sizeof(where), "messages[%d]", i);
		if (!cJSON_IsObject(m))
			return aigw_err_set(err, AIGW_EINVAL, "%s: expected an object", where);
		if (!cJSON_IsString(role))
			return aigw_err_set(err, AIGW_EINVAL, "%s.role: expected a string", where);
		r = role->valuestring;
		if (strcmp(r, "developer") == 0)
			r = "system";
		if (strcmp(r, "system") != 0 && strcmp(r, "user") != 0 &&
		    strcmp(r, "assistant") != 0 && strcmp(r, "tool") != 0)
			return aigw_err_set(err, AIGW_EINVAL,
					    "%s.role: '%s' is not a role ollama takes", where, r);
		o = cJSON_CreateObject();
		cJSON_AddItemToArray(out, o);
		cJSON_AddStringToObject(o, "role", r);
		if (put_content(cJSON_GetObjectItemCaseSensitive(m, "content"), where, o, err) < 0)
			return AIGW_EINVAL;
		if (strcmp(r, "assistant") == 0 && is_given(calls) &&
		    put_tool_calls(calls, where, o, err) < 0)
			return AIGW_EINVAL;
		if (strcmp(r, "tool") == 0) {
			const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
			const char *name = NULL;
			if (cJSON_IsString(id))
				name = tool_name_of(messages, i, id->valuestring);
			if (name)
				cJSON_AddStringToObject(o, "tool_name", name);
		}
	}
	return 0;
}

static int build_chat(const cJSON *req, cJSON *to, struct aigw_err *err)
{
	const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
	const cJSON *choice = cJSON_GetObjectItemCaseSensitive(req, "tool_choice");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(req, "n");
	/* Ollama has no tool_choice: "none" is kept by not offering the
	 * tools; "auto" and "required" are left to the model. */
	bool none = cJSON_IsString(choice) && strcmp(choice->valuestring, "none") == 0;

	if (is_given(n) && (!cJSON_IsNumber(n) || n->valuedouble != 1))
		return aigw_err_set(err, AIGW_EINVAL, "n: ollama answers with one choice");
	if (put_messages(req, to, err) < 0)
		return AIGW_EINVAL;
	if (is_given(tools) && !none) {
		if (!cJSON_IsArray(tools))
			return aigw_err_set(err, AIGW_EINVAL, "tools: expected an array");
		/* Ollama takes OpenAI's shape of tools. */
		cJSON_AddItemToObject(to, "tools", cJSON_Duplicate(tools, true));
	}
	return put_format(req, to, err);
}

static int build_completions(const cJSON *req, cJSON *to, struct aigw_err *err)
{
	const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(req, "prompt");
	const cJSON *suffix = cJSON_GetObjectItemCaseSensitive(req, "suffix");

	if (!cJSON_IsString(prompt))
		return aigw_err_set(err, AIGW_EINVAL,
				    "prompt: ollama takes one prompt as a string, got %s",
				    prompt ? aigw_json_kind(prompt) : "none");
	cJSON_AddStringToObject(to, "prompt", prompt->valuestring);
	if (is_given(suffix)) {
		if (!cJSON_IsString(suffix))
			return aigw_err_set(err, AIGW_EINVAL, "suffix: expected a string");
		cJSON_AddStringToObject(to, "suffix", suffix->valuestring);
	}
	return 0;
}

static int build_embeddings(const cJSON *req, cJSON *to, struct aigw_err *err)
{
	const cJSON *input = cJSON_GetObjectItemCaseSensitive(req, "input");
	const cJSON *dims = cJSON_GetObjectItemCaseSensitive(req, "dimensions");
	const cJSON *s;

	if (cJSON_IsArray(input)) {
		if (cJSON_GetArraySize(input) == 0)
			return aigw_err_set(err, AIGW_EINVAL,
					    "input: expected at least one string");
		cJSON_ArrayForEach(s, input) {
			if (!cJSON_IsString(s))
				return aigw_err_set(err, AIGW_EINVAL,
						    "input: ollama takes strings, not %s (token "
						    "arrays are not supported)", aigw_json_kind(s));
		}
	} else if (!cJSON_IsString(input)) {
		return aigw_err_set(err, AIGW_EINVAL, "input: expected a string or an array of "
				    "strings, got %s", input ? aigw_json_kind(input) : "none");
	}
	cJSON_AddItemToObject(to, "input", cJSON_Duplicate(input, true));
	if (is_given(dims)) {
		if (!cJSON_IsNumber(dims) || dims->valuedouble < 1 ||
		    dims->valuedouble != (double)(int)dims->valuedouble)
			return aigw_err_set(err, AIGW_EINVAL,
					    "dimensions: expected a positive integer");
		cJSON_AddNumberToObject(to, "dimensions", dims->valuedouble);
	}
	return 0;
}

static int build(const struct aigw_provider_call *c, const char *body, size_t len,
		 struct aigw_provider_req *out, struct aigw_err *err)
{
	cJSON *req = NULL, *to;
	char *text;
	int rc;

	if (aigw_json_parse_object(body, len, &req, err) < 0) {
		aigw_err_prefix(err, "the request body");
		return AIGW_EINVAL;
	}
	if (!(to = start_body(c, req, err))) {
		cJSON_Delete(req);
		return AIGW_EINVAL;
	}
	switch (c->api) {
	case AIGW_API_CHAT: rc = build_chat(req, to, err); break;
	case AIGW_API_COMPLETIONS: rc = build_completions(req, to, err); break;
	default: rc = build_embeddings(req, to, err); break;
	}
	if (rc == 0 && c->api != AIGW_API_EMBEDDINGS) {
		/* Ollama streams unless told not to. */
		cJSON_AddBoolToObject(to, "stream", c->stream);
		rc = put_options(req, to, err);
	}
	if (rc == 0) {
		text = cJSON_PrintUnformatted(to);
		aigw_buf_puts(&out->body, text);
		cJSON_free(text);
		build_url(c, &out->url);
		aigw_buf_puts(&out->fields, "Content-Type: application/json\r\n");
		if (c->credential && c->credential[0]) {
			aigw_buf_puts(&out->fields, "Authorization: Bearer ");
			aigw_buf_puts(&out->fields, c->credential);
			aigw_buf_puts(&out->fields, "\r\n");
		}
		out->passthrough = false;
	}
	cJSON_Delete(to);
	cJSON_Delete(req);
	return rc;
}

/* ------------------------------------------------------------ answer */

static const char *finish_reason(const char *done_reason, bool tool_calls)
{
	if (tool_calls)
		return "tool_calls";
	if (done_reason && strcmp(done_reason, "length") == 0)
		return "length";
	return "stop";
}

static void put_head(struct aigw_buf *out, const struct aigw_provider_call *c,
		     const char *object, const char *model)
{
	aigw_buf_puts(out, "{\"id\":");
	aigw_oai_put_string(out, c->id ? c->id : "", c->id ? strlen(c->id) : 0);
	aigw_buf_printf(out, ",\"object\":\"%s\",\"created\":%lld,\"model\":", object,
			(long long)c->created);
	aigw_oai_put_string(out, model, strlen(model));
}

static int64_t count_of(const cJSON *root, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9e15
		       ? (int64_t)v->valuedouble : -1;
}

static const char *string_of(const cJSON *root, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Appends arguments (an object, or a string holding one) as the JSON
 * string literal OpenAI's "arguments" is. */
static void put_arguments(struct aigw_buf *out, const cJSON *args)
{
	char *t;

	if (cJSON_IsString(args)) {
		aigw_oai_put_string(out, args->valuestring, strlen(args->valuestring));
		return;
	}
	if (!args) {
		aigw_buf_puts(out, "\"{}\"");
		return;
	}
	t = cJSON_PrintUnformatted(args);
	aigw_oai_put_string(out, t, strlen(t));
	cJSON_free(t);
}

static int answer_chat(const struct aigw_provider_call *c, const cJSON *root, const char *model,
		       struct aigw_buf *out, struct aigw_err *err)
{
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "message");
	const cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
	const char *content = string_of(msg, "content");
	int ncalls = cJSON_IsArray(calls) ? cJSON_GetArraySize(calls) : 0;
	const cJSON *tc;
	int i = 0;

	if (!cJSON_IsObject(msg))
		return aigw_err_set(err, AIGW_EFAIL, "ollama answer: no message");
	put_head(out, c, "chat.completion", model);
	aigw_buf_puts(out, ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
			   "\"content\":");
	if ((!content || !content[0]) && ncalls)
		aigw_buf_puts(out, "null");
	else
		aigw_oai_put_string(out, content ? content : "", content ? strlen(content) : 0);
	if (ncalls) {
		aigw_buf_puts(out, ",\"tool_calls\":[");
		cJSON_ArrayForEach(tc, calls) {
			const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
			const char *name = string_of(fn, "name");
			if (i)
				aigw_buf_putc(out, ',');
			aigw_buf_printf(out, "{\"id\":\"call_%d\",\"type\":\"function\","
					     "\"function\":{\"name\":", i);
			aigw_oai_put_string(out, name ? name : "", name ? strlen(name) : 0);
			aigw_buf_puts(out, ",\"arguments\":");
			put_arguments(out, cJSON_GetObjectItemCaseSensitive(fn, "arguments"));
			aigw_buf_puts(out, "}}");
			i++;
		}
		aigw_buf_putc(out, ']');
	}
	aigw_buf_puts(out, "},\"logprobs\":null,\"finish_reason\":\"");
	aigw_buf_puts(out, finish_reason(string_of(root, "done_reason"), ncalls > 0));
	aigw_buf_puts(out, "\"}]");
	return 0;
}

static int answer_completion(const struct aigw_provider_call *c, const cJSON *root,
			     const char *model, struct aigw_buf *out, struct aigw_err *err)
{
	const char *text = string_of(root, "response");

	if (!text)
		return aigw_err_set(err, AIGW_EFAIL, "ollama answer: no response");
	put_head(out, c, "text_completion", model);
	aigw_buf_puts(out, ",\"choices\":[{\"text\":");
	aigw_oai_put_string(out, text, strlen(text));
	aigw_buf_puts(out, ",\"index\":0,\"logprobs\":null,\"finish_reason\":\"");
	aigw_buf_puts(out, finish_reason(string_of(root, "done_reason"), false));
	aigw_buf_puts(out, "\"}]");
	return 0;
}

static int answer_embeddings(const cJSON *root, const char *model, struct aigw_buf *out,
			     const struct aigw_usage *u, struct aigw_err *err)
{
	const cJSON *embs = cJSON_GetObjectItemCaseSensitive(root, "embeddings");
	const cJSON *e;
	int i = 0;

	if (!cJSON_IsArray(embs))
		return aigw_err_set(err, AIGW_EFAIL, "ollama answer: no embeddings");
	aigw_buf_puts(out, "{\"object\":\"list\",\"data\":[");
	cJSON_ArrayForEach(e, embs) {
		char *t;
		if (!cJSON_IsArray(e))
			return aigw_err_set(err, AIGW_EFAIL,
					    "ollama answer: embedding %d is not an array", i);
		t = cJSON_PrintUnformatted(e);
		aigw_buf_printf(out, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":%s}",
				i ? "," : "", i, t);
		cJSON_free(t);
		i++;
	}
	aigw_buf_puts(out, "],\"model\":");
	aigw_oai_put_string(out, model, strlen(model));
	aigw_buf_printf(out, ",\"usage\":{\"prompt_tokens\":%lld,\"total_tokens\":%lld}}",
			(long long)(u->prompt_tokens > 0 ? u->prompt_tokens : 0),
			(long long)(u->prompt_tokens > 0 ? u->prompt_tokens : 0));
	return 0;
}

/* An error answer: {"error":"..."} (or, from a proxy in front, anything). */
static void answer_error(int status, const char *body, size_t len, struct aigw_buf *out)
{
	cJSON *root = NULL;
	const cJSON *e;
	const char *msg = NULL;
	char raw[AIGW_OAI_QUOTE_MAX + 1];

	if (aigw_json_parse_object(body, len, &root, NULL) == 0) {
		e = cJSON_GetObjectItemCaseSensitive(root, "error");
		if (cJSON_IsString(e))
			msg = e->valuestring;
		else if (cJSON_IsObject(e))
			msg = string_of(e, "message");
	}
	if (!msg)
		msg = aigw_oai_quote(raw, body, len);
	aigw_oai_error(out, aigw_oai_error_type(status),
		       status == 404 && strstr(msg, "model") ? "model_not_found" : NULL, msg);
	cJSON_Delete(root);
}

static int answer(const struct aigw_provider_call *c, int *status, const char *body, size_t len,
		  struct aigw_buf *out, struct aigw_usage *u, struct aigw_err *err)
{
	cJSON *root;
	const char *model;
	size_t mark = out->len;
	int rc;

	if (*status < 200 || *status >= 300) {
		answer_error(*status, body, len, out);
		return 0;
	}
	if (!(root = aigw_oai_parse(body, len, "ollama answer", err)))
		return AIGW_EFAIL;
	model = string_of(root, "model");
	if (!model)
		model = c->model ? c->model : "";
	u->prompt_tokens = count_of(root, "prompt_eval_count");
	if (c->api != AIGW_API_EMBEDDINGS)
		u->completion_tokens = count_of(root, "eval_count");
	switch (c->api) {
	case AIGW_API_CHAT: rc = answer_chat(c, root, model, out, err); break;
	case AIGW_API_COMPLETIONS: rc = answer_completion(c, root, model, out, err); break;
	default: rc = answer_embeddings(root, model, out, u, err); break;
	}
	if (rc == 0 && c->api != AIGW_API_EMBEDDINGS) {
		aigw_buf_puts(out, ",\"usage\":");
		aigw_oai_put_usage(out, u);
		aigw_buf_putc(out, '}');
	}
	if (rc < 0)
		aigw_buf_truncate(out, mark);
	cJSON_Delete(root);
	return rc;
}

/* ------------------------------------------------------------ stream */

struct ostream {
	struct aigw_buf line;  /* a line that arrived in pieces */
	char *model;           /* from the first line (heap), for every chunk */
	bool started;          /* the first line was seen */
	int tools;             /* tool calls announced so far */
};

/* What one line says (raw slices into the line). */
struct line {
	const char *model, *message, *response, *done_reason, *error;
	size_t model_len, message_len, response_len, done_reason_len, error_len;
	bool done;
	int64_t prompt, completion;
	/* in message: */
	const char *content, *tool_calls;
	size_t content_len, tool_calls_len;
};

static void *stream_new(struct aigw_pstream *s)
{
	struct ostream *o = calloc(1, sizeof(*o));
	(void)s;
	if (!o)
		abort();
	aigw_buf_init(&o->line);
	return o;
}

static void stream_free(void *state)
{
	struct ostream *o = state;
	aigw_buf_release(&o->line);
	free(o->model);
	free(o);
}

static int line_member(const struct aigw_json_member *m, void *arg)
{
	struct line *l = arg;
	uint64_t n;

#define RAW(field) (l->field = m->value, l->field##_len = m->value_len)
	if (aigw_json_key_is(m, "message") && m->value[0] == '{')
		RAW(message);
	else if (aigw_json_key_is(m, "response") && m->value[0] == '"')
		RAW(response);
	else if (aigw_json_key_is(m, "done"))
		l->done = m->value_len == 4 && memcmp(m->value, "true", 4) == 0;
	else if (aigw_json_key_is(m, "model") && m->value[0] == '"')
		RAW(model);
	else if (aigw_json_key_is(m, "done_reason") && m->value[0] == '"')
		RAW(done_reason);
	else if (aigw_json_key_is(m, "prompt_eval_count") &&
		 aigw_json_uint(m->value, m->value_len, &n) && n < (1ull << 62))
		l->prompt = (int64_t)n;
	else if (aigw_json_key_is(m, "eval_count") && aigw_json_uint(m->value, m->value_len, &n) &&
		 n < (1ull << 62))
		l->completion = (int64_t)n;
	else if (aigw_json_key_is(m, "error"))
		RAW(error);
	return 0;
}

static int message_member(const struct aigw_json_member *m, void *arg)
{
	struct line *l = arg;

	if (aigw_json_key_is(m, "content") && m->value[0] == '"')
		RAW(content);
	else if (aigw_json_key_is(m, "tool_calls") && m->value[0] == '[')
		RAW(tool_calls);
	return 0;
#undef RAW
}

/* The completions stream's last chunks, which oai.h has no writers for:
 * "object":"text_completion". */
static void completion_chunk(struct aigw_buf *out, const struct aigw_oai_head *h,
			     const char *reason, const struct aigw_usage *u)
{
	aigw_buf_puts(out, "data: {\"id\":");
	aigw_oai_put_string(out, h->id, strlen(h->id));
	aigw_buf_printf(out, ",\"object\":\"text_completion\",\"created\":%lld,\"model\":",
			(long long)h->created);
	aigw_oai_put_string(out, h->model, strlen(h->model));
	if (u) {
		aigw_buf_puts(out, ",\"choices\":[],\"usage\":");
		aigw_oai_put_usage(out, u);
		aigw_buf_puts(out, "}\n\n");
	} else {
		aigw_buf_puts(out, ",\"choices\":[{\"text\":\"\",\"index\":0,\"logprobs\":null,"
				   "\"finish_reason\":\"");
		aigw_buf_puts(out, reason);
		aigw_buf_puts(out, "\"}]}\n\n");
	}
}

static void head_of(const struct aigw_pstream *s, struct aigw_oai_head *h)
{
	const struct ostream *o = s->state;
	h->id = s->call.id ? s->call.id : "";
	h->model = o->model ? o->model : s->call.model ? s->call.model : "";
	h->created = s->call.created;
}

/* The finish chunk, the usage chunk when asked for, [DONE]. */
static void end_stream(struct aigw_pstream *s, const char *reason, struct aigw_buf *out)
{
	struct aigw_oai_head h;

	head_of(s, &h);
	if (s->call.api == AIGW_API_COMPLETIONS) {
		completion_chunk(out, &h, reason, NULL);
		if (s->call.include_usage)
			completion_chunk(out, &h, NULL, &s->usage);
	} else {
		aigw_oai_chunk_finish(out, &h, reason);
		if (s->call.include_usage)
			aigw_oai_chunk_usage(out, &h, &s->usage);
	}
	aigw_oai_done(out);
	s->finished = true;
}

/* One tool_calls array of a line: a start and the whole arguments for
 * each call. */
static int stream_tools(struct aigw_pstream *s, const struct line *l, struct aigw_buf *out,
			struct aigw_err *err)
{
	struct ostream *o = s->state;
	struct aigw_oai_head h;
	cJSON *calls = cJSON_ParseWithLength(l->tool_calls, l->tool_calls_len);
	const cJSON *tc;
	struct aigw_buf args = AIGW_BUF_INIT;

	if (!calls)
		return aigw_err_set(err, AIGW_EFAIL, "ollama stream: unreadable tool_calls");
	head_of(s, &h);
	cJSON_ArrayForEach(tc, calls) {
		const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
		const char *name = string_of(fn, "name");
		char id[32];
		snprintf(id, sizeof(id), "call_%d", o->tools);
		aigw_oai_chunk_tool_start(out, &h, o->tools, id, name ? name : "");
		aigw_buf_reset(&args);
		put_arguments(&args, cJSON_GetObjectItemCaseSensitive(fn, "arguments"));
		aigw_oai_chunk_tool_args(out, &h, o->tools, args.data, args.len);
		o->tools++;
		s->output = true;
	}
	aigw_buf_release(&args);
	cJSON_Delete(calls);
	return 0;
}

static int stream_line(struct aigw_pstream *s, const char *p, size_t n, struct aigw_buf *out,
		       struct aigw_err *err)
{
	struct ostream *o = s->state;
	struct aigw_oai_head h;
	struct line l;
	size_t i;

	for (i = 0; i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'); i++)
		;
	if (i == n || s->finished)
		return 0; /* blank, or after the end */
	memset(&l, 0, sizeof(l));
	l.prompt = l.completion = -1;
	if (aigw_json_object(p, n, line_member, &l) < 0)
		return aigw_err_set(err, AIGW_EFAIL, "ollama stream: a line is not a JSON object");
	if (l.error) {
		char msg[512];
		if (!aigw_json_string(l.error, l.error_len, msg, sizeof(msg)))
			snprintf(msg, sizeof(msg), "%.*s",
				 (int)(l.error_len < 256 ? l.error_len : 256), l.error);
		aigw_oai_stream_error(out, "server_error", NULL, msg);
		aigw_oai_done(out);
		s->finished = true;
		return 0;
	}
	if (!o->started) {
		o->started = true;
		if (l.model) {
			o->model = malloc(l.model_len + 1);
			if (!o->model)
				abort();
			if (!aigw_json_string(l.model, l.model_len, o->model, l.model_len + 1)) {
				free(o->model);
				o->model = NULL;
			}
		}
		head_of(s, &h);
		if (s->call.api == AIGW_API_CHAT)
			aigw_oai_chunk_role(out, &h);
	}
	head_of(s, &h);
	if (l.message)
		aigw_json_object(l.message, l.message_len, message_member, &l);
	if (s->call.api == AIGW_API_CHAT) {
		if (l.content && l.content_len > 2) {
			aigw_oai_chunk_text(out, &h, l.content, l.content_len);
			s->output = true;
		}
		if (l.tool_calls && stream_tools(s, &l, out, err) < 0)
			return AIGW_EFAIL;
	} else if (l.response && l.response_len > 2) {
		aigw_oai_chunk_completion_text(out, &h, l.response, l.response_len);
		s->output = true;
	}
	if (l.done) {
		bool length = l.done_reason && l.done_reason_len == 8 &&
			      memcmp(l.done_reason, "\"length\"", 8) == 0;
		if (l.prompt >= 0)
			s->usage.prompt_tokens = l.prompt;
		if (l.completion >= 0)
			s->usage.completion_tokens = l.completion;
		end_stream(s, finish_reason(length ? "length" : NULL, o->tools > 0), out);
	}
	return 0;
}

static int too_long(struct aigw_err *err)
{
	return aigw_err_set(err, AIGW_EFAIL, "ollama stream: a line is longer than 1 MiB");
}

static int stream_feed(struct aigw_pstream *s, const char *data, size_t len,
		       struct aigw_buf *out, struct aigw_err *err)
{
	struct ostream *o = s->state;
	const char *end = data + len;

	while (data < end) {
		const char *nl = memchr(data, '\n', (size_t)(end - data));
		size_t n = nl ? (size_t)(nl - data) : (size_t)(end - data);

		if (o->line.len + n > MAX_LINE)
			return too_long(err);
		if (!nl) {
			aigw_buf_append(&o->line, data, n);
			break;
		}
		if (o->line.len) {
			/* The end of a line that began in an earlier piece. */
			aigw_buf_append(&o->line, data, n);
			if (stream_line(s, o->line.data, o->line.len, out, err) < 0)
				return AIGW_EFAIL;
			aigw_buf_reset_keep(&o->line, 64 * 1024);
		} else if (stream_line(s, data, n, out, err) < 0) {
			return AIGW_EFAIL; /* a whole line, read where it lies */
		}
		data = nl + 1;
	}
	return 0;
}

static int stream_finish(struct aigw_pstream *s, struct aigw_buf *out, struct aigw_err *err)
{
	struct ostream *o = s->state;

	if (o->line.len) {
		/* A last line without its newline. */
		int rc = stream_line(s, o->line.data, o->line.len, out, err);
		aigw_buf_reset(&o->line);
		if (rc < 0)
			return rc;
	}
	if (!s->finished)
		end_stream(s, finish_reason(NULL, o->tools > 0), out);
	return 0;
}

const struct aigw_provider_ops aigw_provider_ollama = {
	"ollama", build, answer, stream_new, stream_feed, stream_finish, stream_free,
};
