/* gemini: Google's Gemini API (generativelanguage.googleapis.com):
 * models/M:generateContent, :streamGenerateContent?alt=sse and
 * :batchEmbedContents.
 *
 * Requests and answers are rebuilt as trees (cJSON): the two shapes
 * differ in every member (messages become contents of parts, system
 * messages a systemInstruction, tool calls functionCall parts, sampling
 * options a generationConfig), so there is nothing to copy in place.
 *
 * Streams are SSE whose every event is a whole GenerateContentResponse
 * holding the next parts; they are turned into chat.completion.chunk
 * events. Gemini sends no [DONE]: the upstream's end is the stream's.
 *
 * Only the first candidate (index 0) is streamed, since the OpenAI chunk
 * writers speak for choice 0; whole answers keep every candidate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "provider.h"
#include "provider/oai.h"
#include "sse.h"

/* ------------------------------------------------------------ helpers */

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* A whole number a 64-bit integer holds exactly (JSON numbers are
 * doubles in cJSON; casting a huge one would be undefined). */
static bool is_whole(double d)
{
	return d >= -9007199254740992.0 && d <= 9007199254740992.0 && d == (double)(int64_t)d;
}

/* The model without a "models/" prefix: both forms name one model. */
static const char *model_name(const char *model)
{
	if (!model)
		return "";
	return starts_with(model, "models/") ? model + 7 : model;
}

static char *print_compact(const cJSON *j)
{
	char *t = cJSON_PrintUnformatted(j);
	if (!t)
		abort(); /* out of memory: the gateway's allocator policy */
	return t;
}

/* A member that is present and not null. */
static const cJSON *member(const cJSON *o, const char *key)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNull(j) ? NULL : j;
}

static const char *member_string(const cJSON *o, const char *key)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* ------------------------------------------------------------ request */

static void build_url(const struct aigw_provider_call *c, struct aigw_buf *url)
{
	const char *base = c->base_url ? c->base_url : "";
	size_t n = strlen(base);

	while (n && base[n - 1] == '/')
		n--;
	aigw_buf_append(url, base, n);
	if (!ends_with(base, n, "/v1beta") && !ends_with(base, n, "/v1"))
		aigw_buf_puts(url, "/v1beta");
	aigw_buf_puts(url, "/models/");
	for (const char *m = model_name(c->model); *m; m++) {
		/* A model name is [A-Za-z0-9._-]; anything else is escaped so
		 * that it cannot change the URL's shape. */
		unsigned char ch = (unsigned char)*m;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')
			aigw_buf_putc(url, (char)ch);
		else
			aigw_buf_printf(url, "%%%02X", ch);
	}
	if (c->api == AIGW_API_EMBEDDINGS)
		aigw_buf_puts(url, ":batchEmbedContents");
	else if (c->stream)
		aigw_buf_puts(url, ":streamGenerateContent?alt=sse");
	else
		aigw_buf_puts(url, ":generateContent");
}

static cJSON *text_part(const char *text)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "text", text);
	return p;
}

/* The MIME type of a file URL by its extension (query and fragment
 * aside); image/jpeg when it says nothing better. */
static const char *mime_of_url(const char *url)
{
	static const struct { const char *ext, *mime; } types[] = {
		{ ".png", "image/png" },   { ".jpg", "image/jpeg" }, { ".jpeg", "image/jpeg" },
		{ ".gif", "image/gif" },   { ".webp", "image/webp" }, { ".heic", "image/heic" },
		{ ".heif", "image/heif" }, { ".pdf", "application/pdf" },
	};
	size_t n = strcspn(url, "?#");

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t k = strlen(types[i].ext);
		if (n >= k && strncasecmp(url + n - k, types[i].ext, k) == 0)
			return types[i].mime;
	}
	return "image/jpeg";
}

/* An image URL as a part: data: URLs inline, http(s) ones by reference. */
static cJSON *image_part(const char *url, const char *where, struct aigw_err *err)
{
	cJSON *p, *d;

	if (starts_with(url, "data:")) {
		const char *semi = strchr(url + 5, ';');
		const char *comma = strchr(url + 5, ',');
		if (!semi || !comma || semi > comma || strncmp(semi, ";base64,", 8) != 0 ||
		    semi == url + 5) {
			aigw_err_set(err, AIGW_EINVAL,
				     "%s: a data URL must be 'data:<mime type>;base64,<data>'", where);
			return NULL;
		}
		p = cJSON_CreateObject();
		d = cJSON_AddObjectToObject(p, "inlineData");
		{
			char mime[128];
			size_t n = (size_t)(semi - (url + 5));
			if (n >= sizeof(mime)) {
				cJSON_Delete(p);
				aigw_err_set(err, AIGW_EINVAL, "%s: the data URL's type is too long", where);
				return NULL;
			}
			memcpy(mime, url + 5, n);
			mime[n] = '\0';
			cJSON_AddStringToObject(d, "mimeType", mime);
		}
		cJSON_AddStringToObject(d, "data", semi + 8);
		return p;
	}
	if (starts_with(url, "https://") || starts_with(url, "http://")) {
		p = cJSON_CreateObject();
		d = cJSON_AddObjectToObject(p, "fileData");
		cJSON_AddStringToObject(d, "mimeType", mime_of_url(url));
		cJSON_AddStringToObject(d, "fileUri", url);
		return p;
	}
	aigw_err_set(err, AIGW_EINVAL, "%s: expected a data: or http(s) URL", where);
	return NULL;
}

/* Appends the parts of an OpenAI content (a string or an array of
 * parts) to parts. media: images and audio are allowed. */
static int content_parts(const cJSON *content, int i, bool media, cJSON *parts,
			 struct aigw_err *err)
{
	int j = 0;
	const cJSON *item;

	if (cJSON_IsString(content)) {
		cJSON_AddItemToArray(parts, text_part(content->valuestring));
		return 0;
	}
	if (!cJSON_IsArray(content))
		return aigw_err_set(err, AIGW_EINVAL,
				    "messages[%d].content: expected a string or an array of parts, "
				    "got %s", i, aigw_json_kind(content));
	cJSON_ArrayForEach(item, content) {
		const char *type = member_string(item, "type");
		char where[96];
		snprintf(where, sizeof(where), "messages[%d].content[%d]", i, j);
		if (!type)
			return aigw_err_set(err, AIGW_EINVAL, "%s.type: expected a string", where);
		if (strcmp(type, "text") == 0) {
			const char *text = member_string(item, "text");
			if (!text)
				return aigw_err_set(err, AIGW_EINVAL, "%s.text: expected a string",
						    where);
			cJSON_AddItemToArray(parts, text_part(text));
		} else if (media && strcmp(type, "image_url") == 0) {
			const cJSON *iu = cJSON_GetObjectItemCaseSensitive(item, "image_url");
			const char *url = cJSON_IsString(iu) ? iu->valuestring
							     : member_string(iu, "url");
			cJSON *p;
			if (!url)
				return aigw_err_set(err, AIGW_EINVAL, "%s.image_url.url: expected a string",
						    where);
			if (!(p = image_part(url, where, err)))
				return AIGW_EINVAL;
			cJSON_AddItemToArray(parts, p);
		} else if (media && strcmp(type, "input_audio") == 0) {
			const cJSON *ia = cJSON_GetObjectItemCaseSensitive(item, "input_audio");
			const char *data = member_string(ia, "data"), *format = member_string(ia, "format");
			char mime[64];
			cJSON *p, *d;
			if (!data || !format || strlen(format) > 32)
				return aigw_err_set(err, AIGW_EINVAL,
						    "%s.input_audio: expected data and format strings", where);
			snprintf(mime, sizeof(mime), "audio/%s", format); /* wav, mp3 */
			p = cJSON_CreateObject();
			d = cJSON_AddObjectToObject(p, "inlineData");
			cJSON_AddStringToObject(d, "mimeType", mime);
			cJSON_AddStringToObject(d, "data", data);
			cJSON_AddItemToArray(parts, p);
		} else {
			return aigw_err_set(err, AIGW_EINVAL, "%s.type: '%s' is not supported here",
					    where, type);
		}
		j++;
	}
	return 0;
}

/* The text of a tool result (a string or text parts, joined). */
static int content_text(const cJSON *content, int i, struct aigw_buf *text, struct aigw_err *err)
{
	const cJSON *item;
	int j = 0;

	if (cJSON_IsString(content)) {
		aigw_buf_puts(text, content->valuestring);
		return 0;
	}
	if (!content)
		return 0;
	if (!cJSON_IsArray(content))
		return aigw_err_set(err, AIGW_EINVAL,
				    "messages[%d].content: expected a string or an array of parts, "
				    "got %s", i, aigw_json_kind(content));
	cJSON_ArrayForEach(item, content) {
		const char *t = member_string(item, "text");
		const char *type = member_string(item, "type");
		if (!type || strcmp(type, "text") != 0 || !t)
			return aigw_err_set(err, AIGW_EINVAL,
					    "messages[%d].content[%d]: only text parts are allowed here",
					    i, j);
		aigw_buf_puts(text, t);
		j++;
	}
	return 0;
}

/* The function name of the tool call id among the assistant messages
 * before message number upto. */
static const char *tool_call_name(const cJSON *messages, int upto, const char *id)
{
	const cJSON *m;
	int i = 0;

	cJSON_ArrayForEach(m, messages) {
		const cJSON *tc;
		if (i++ >= upto)
			break;
		cJSON_ArrayForEach(tc, cJSON_GetObjectItemCaseSensitive(m, "tool_calls")) {
			const char *tid = member_string(tc, "id");
			const char *name = member_string(cJSON_GetObjectItemCaseSensitive(tc, "function"),
							 "name");
			if (tid && name && strcmp(tid, id) == 0)
				return name;
		}
	}
	return NULL;
}

static int tool_call_parts(const cJSON *calls, int i, cJSON *parts, struct aigw_err *err)
{
	const cJSON *tc;
	int j = 0;

	if (!cJSON_IsArray(calls))
		return aigw_err_set(err, AIGW_EINVAL, "messages[%d].tool_calls: expected an array", i);
	cJSON_ArrayForEach(tc, calls) {
		const cJSON *fn = cJSON_GetObjectItemCaseSensitive(tc, "function");
		const char *name = member_string(fn, "name");
		const char *args = member_string(fn, "arguments");
		cJSON *p, *call, *parsed;
		if (!name)
			return aigw_err_set(err, AIGW_EINVAL,
					    "messages[%d].tool_calls[%d].function.name: expected a string",
					    i, j);
		if (!args || !args[strspn(args, " \t\r\n")])
			parsed = cJSON_CreateObject();
		else
			parsed = cJSON_Parse(args);
		if (!cJSON_IsObject(parsed)) {
			cJSON_Delete(parsed);
			return aigw_err_set(err, AIGW_EINVAL,
					    "messages[%d].tool_calls[%d].function.arguments: not a JSON "
					    "object", i, j);
		}
		p = cJSON_CreateObject();
		call = cJSON_AddObjectToObject(p, "functionCall");
		cJSON_AddStringToObject(call, "name", name);
		cJSON_AddItemToObject(call, "args", parsed);
		cJSON_AddItemToArray(parts, p);
		j++;
	}
	return 0;
}

static int tool_result_part(const cJSON *messages, const cJSON *m, int i, cJSON *parts,
			    struct aigw_err *err)
{
	const char *id = member_string(m, "tool_call_id");
	const char *name;
	struct aigw_buf text = AIGW_BUF_INIT;
	cJSON *p, *fr, *response;

	if (!id)
		return aigw_err_set(err, AIGW_EINVAL, "messages[%d].tool_call_id: expected a string", i);
	if (!(name = tool_call_name(messages, i, id)))
		return aigw_err_set(err, AIGW_EINVAL,
				    "messages[%d].tool_call_id: no earlier assistant tool call has "
				    "the id '%s'", i, id);
	if (content_text(member(m, "content"), i, &text, err) < 0) {
		aigw_buf_release(&text);
		return AIGW_EINVAL;
	}
	/* Gemini wants an object: a result that is one goes as it is. */
	response = cJSON_ParseWithLength(text.data, text.len);
	if (!cJSON_IsObject(response)) {
		cJSON_Delete(response);
		response = cJSON_CreateObject();
		cJSON_AddStringToObject(response, "content", text.data);
	}
	aigw_buf_release(&text);
	p = cJSON_CreateObject();
	fr = cJSON_AddObjectToObject(p, "functionResponse");
	cJSON_AddStringToObject(fr, "name", name);
	cJSON_AddItemToObject(fr, "response", response);
	cJSON_AddItemToArray(parts, p);
	return 0;
}

/* Appends parts to contents as a content of role, merged into the last
 * content when that has the same role (Gemini wants turns to alternate). */
static void add_content(cJSON *contents, const char *role, cJSON *parts)
{
	cJSON *last = cJSON_GetArrayItem(contents, cJSON_GetArraySize(contents) - 1);
	cJSON *c;

	if (last && strcmp(member_string(last, "role"), role) == 0) {
		cJSON *lp = cJSON_GetObjectItemCaseSensitive(last, "parts");
		cJSON *p;
		while ((p = cJSON_DetachItemFromArray(parts, 0)))
			cJSON_AddItemToArray(lp, p);
		cJSON_Delete(parts);
		return;
	}
	c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "role", role);
	cJSON_AddItemToObject(c, "parts", parts);
	cJSON_AddItemToArray(contents, c);
}

static int build_contents(const cJSON *messages, cJSON *root, struct aigw_err *err)
{
	cJSON *contents, *system = NULL;
	const cJSON *m;
	int i = 0;

	if (!cJSON_IsArray(messages))
		return aigw_err_set(err, AIGW_EINVAL, "messages: expected an array");
	contents = cJSON_AddArrayToObject(root, "contents");
	cJSON_ArrayForEach(m, messages) {
		const char *role = member_string(m, "role");
		const cJSON *content = member(m, "content");
		cJSON *parts = cJSON_CreateArray(), *p;
		const char *into = NULL; /* the content role parts go to, if any */
		int rc = 0;

		if (!cJSON_IsObject(m)) {
			rc = aigw_err_set(err, AIGW_EINVAL, "messages[%d]: expected an object", i);
		} else if (!role) {
			rc = aigw_err_set(err, AIGW_EINVAL, "messages[%d].role: expected a string", i);
		} else if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
			if (!content)
				rc = aigw_err_set(err, AIGW_EINVAL, "messages[%d].content: missing", i);
			else if ((rc = content_parts(content, i, false, parts, err)) == 0) {
				if (!system)
					system = cJSON_AddArrayToObject(
						cJSON_AddObjectToObject(root, "systemInstruction"),
						"parts");
				while ((p = cJSON_DetachItemFromArray(parts, 0)))
					cJSON_AddItemToArray(system, p);
			}
		} else if (strcmp(role, "user") == 0) {
			if (!content)
				rc = aigw_err_set(err, AIGW_EINVAL, "messages[%d].content: missing", i);
			else
				rc = content_parts(content, i, true, parts, err);
			into = "user";
		} else if (strcmp(role, "assistant") == 0) {
			const cJSON *calls = member(m, "tool_calls");
			bool empty = !content || (cJSON_IsString(content) && !*content->valuestring);
			if (!empty)
				rc = content_parts(content, i, false, parts, err);
			else if (!calls)
				rc = aigw_err_set(err, AIGW_EINVAL,
						  "messages[%d]: an assistant message needs content or "
						  "tool_calls", i);
			if (rc == 0 && calls)
				rc = tool_call_parts(calls, i, parts, err);
			into = "model";
		} else if (strcmp(role, "tool") == 0) {
			rc = tool_result_part(messages, m, i, parts, err);
			into = "user";
		} else {
			rc = aigw_err_set(err, AIGW_EINVAL, "messages[%d].role: '%s' is not supported",
					  i, role);
		}
		if (rc == 0 && into) {
			add_content(contents, into, parts);
			parts = NULL;
		}
		cJSON_Delete(parts);
		if (rc < 0)
			return rc;
		i++;
	}
	if (cJSON_GetArraySize(contents) == 0)
		return aigw_err_set(err, AIGW_EINVAL, "messages: no user or assistant message");
	/* systemInstruction reads better before contents, as Google writes it. */
	if (system) {
		cJSON *si = cJSON_DetachItemFromObjectCaseSensitive(root, "systemInstruction");
		cJSON *ct = cJSON_DetachItemFromObjectCaseSensitive(root, "contents");
		cJSON_AddItemToObject(root, "systemInstruction", si);
		cJSON_AddItemToObject(root, "contents", ct);
	}
	return 0;
}

static int build_tools(const cJSON *req, cJSON *root, struct aigw_err *err)
{
	const cJSON *tools = member(req, "tools"), *choice = member(req, "tool_choice"), *t;
	cJSON *decls = NULL, *fcc;
	const char *mode = NULL, *only = NULL;
	int j = 0;

	if (tools && !cJSON_IsArray(tools))
		return aigw_err_set(err, AIGW_EINVAL, "tools: expected an array");
	cJSON_ArrayForEach(t, tools) {
		const char *type = member_string(t, "type");
		const cJSON *fn = cJSON_GetObjectItemCaseSensitive(t, "function");
		const char *name = member_string(fn, "name");
		const cJSON *desc = member(fn, "description"), *params = member(fn, "parameters");
		cJSON *d;
		if (!type || strcmp(type, "function") != 0)
			return aigw_err_set(err, AIGW_EINVAL,
					    "tools[%d].type: only function tools are supported", j);
		if (!name)
			return aigw_err_set(err, AIGW_EINVAL,
					    "tools[%d].function.name: expected a string", j);
		if (desc && !cJSON_IsString(desc))
			return aigw_err_set(err, AIGW_EINVAL,
					    "tools[%d].function.description: expected a string", j);
		if (params && !cJSON_IsObject(params))
			return aigw_err_set(err, AIGW_EINVAL,
					    "tools[%d].function.parameters: expected an object", j);
		if (!decls) {
			cJSON *holder = cJSON_CreateObject();
			cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "tools"), holder);
			decls = cJSON_AddArrayToObject(holder, "functionDeclarations");
		}
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "name", name);
		if (desc)
			cJSON_AddStringToObject(d, "description", desc->valuestring);
		if (params)
			cJSON_AddItemToObject(d, "parameters", cJSON_Duplicate(params, true));
		cJSON_AddItemToArray(decls, d);
		j++;
	}

	if (!choice)
		return 0;
	if (cJSON_IsString(choice)) {
		const char *s = choice->valuestring;
		mode = strcmp(s, "auto") == 0 ? "AUTO" : strcmp(s, "none") == 0 ? "NONE"
			: strcmp(s, "required") == 0 ? "ANY" : NULL;
		if (!mode)
			return aigw_err_set(err, AIGW_EINVAL,
					    "tool_choice: expected auto, none, required or a function, "
					    "got '%s'", s);
	} else {
		only = member_string(cJSON_GetObjectItemCaseSensitive(choice, "function"), "name");
		if (!only)
			return aigw_err_set(err, AIGW_EINVAL,
					    "tool_choice.function.name: expected a string");
		mode = "ANY";
	}
	fcc = cJSON_AddObjectToObject(cJSON_AddObjectToObject(root, "toolConfig"),
				      "functionCallingConfig");
	cJSON_AddStringToObject(fcc, "mode", mode);
	if (only)
		cJSON_AddItemToArray(cJSON_AddArrayToObject(fcc, "allowedFunctionNames"),
				     cJSON_CreateString(only));
	return 0;
}

/* key of the OpenAI request copied to gkey of generationConfig when
 * given: a number (integer: a whole one, at least min). */
static int copy_number(const cJSON *req, const char *key, cJSON **gc, cJSON *root,
		       const char *gkey, bool integer, double min, struct aigw_err *err)
{
	const cJSON *j = member(req, key);

	if (!j)
		return 0;
	if (!cJSON_IsNumber(j) ||
	    (integer && (!is_whole(j->valuedouble) || j->valuedouble < min)))
		return aigw_err_set(err, AIGW_EINVAL, "%s: expected %s", key,
				    !integer ? "a number" : min > 0 ? "a positive integer"
				    : "an integer");
	if (!*gc)
		*gc = cJSON_AddObjectToObject(root, "generationConfig");
	cJSON_DeleteItemFromObjectCaseSensitive(*gc, gkey);
	cJSON_AddItemToObject(*gc, gkey, cJSON_Duplicate(j, false));
	return 0;
}

static int build_generation_config(const cJSON *req, cJSON *root, struct aigw_err *err)
{
	cJSON *gc = NULL;
	const cJSON *stop = member(req, "stop"), *rf = member(req, "response_format");

	if (copy_number(req, "temperature", &gc, root, "temperature", false, 0, err) < 0 ||
	    copy_number(req, "top_p", &gc, root, "topP", false, 0, err) < 0 ||
	    copy_number(req, "max_tokens", &gc, root, "maxOutputTokens", true, 1, err) < 0 ||
	    /* the newer name wins when both are given */
	    copy_number(req, "max_completion_tokens", &gc, root, "maxOutputTokens", true, 1,
			err) < 0 ||
	    copy_number(req, "n", &gc, root, "candidateCount", true, 1, err) < 0 ||
	    copy_number(req, "seed", &gc, root, "seed", true, -2147483648.0, err) < 0 ||
	    copy_number(req, "presence_penalty", &gc, root, "presencePenalty", false, 0, err) < 0 ||
	    copy_number(req, "frequency_penalty", &gc, root, "frequencyPenalty", false, 0, err) < 0)
		return AIGW_EINVAL;
	if (stop) {
		cJSON *seqs = cJSON_CreateArray();
		const cJSON *s;
		if (cJSON_IsString(stop)) {
			cJSON_AddItemToArray(seqs, cJSON_CreateString(stop->valuestring));
		} else if (cJSON_IsArray(stop)) {
			cJSON_ArrayForEach(s, stop) {
				if (!cJSON_IsString(s)) {
					cJSON_Delete(seqs);
					return aigw_err_set(err, AIGW_EINVAL,
							    "stop: expected a string or an array of "
							    "strings");
				}
				cJSON_AddItemToArray(seqs, cJSON_CreateString(s->valuestring));
			}
		} else {
			cJSON_Delete(seqs);
			return aigw_err_set(err, AIGW_EINVAL,
					    "stop: expected a string or an array of strings");
		}
		if (!gc)
			gc = cJSON_AddObjectToObject(root, "generationConfig");
		cJSON_AddItemToObject(gc, "stopSequences", seqs);
	}
	if (rf) {
		const char *type = member_string(rf, "type");
		const cJSON *schema = NULL;
		if (!type)
			return aigw_err_set(err, AIGW_EINVAL, "response_format.type: expected a string");
		if (strcmp(type, "text") == 0)
			return 0;
		if (strcmp(type, "json_schema") == 0) {
			schema = member(cJSON_GetObjectItemCaseSensitive(rf, "json_schema"), "schema");
			if (!cJSON_IsObject(schema))
				return aigw_err_set(err, AIGW_EINVAL,
						    "response_format.json_schema.schema: expected an "
						    "object");
		} else if (strcmp(type, "json_object") != 0) {
			return aigw_err_set(err, AIGW_EINVAL,
					    "response_format.type: '%s' is not supported", type);
		}
		if (!gc)
			gc = cJSON_AddObjectToObject(root, "generationConfig");
		cJSON_AddStringToObject(gc, "responseMimeType", "application/json");
		if (schema)
			cJSON_AddItemToObject(gc, "responseSchema", cJSON_Duplicate(schema, true));
	}
	return 0;
}

static int build_embeddings(const struct aigw_provider_call *c, const cJSON *req, cJSON *root,
			    struct aigw_err *err)
{
	const cJSON *input = member(req, "input"), *dims = member(req, "dimensions"), *s;
	cJSON *requests = cJSON_AddArrayToObject(root, "requests");
	struct aigw_buf model = AIGW_BUF_INIT;
	int rc = 0;

	if (dims && (!cJSON_IsNumber(dims) || dims->valuedouble < 1 || !is_whole(dims->valuedouble)))
		return aigw_err_set(err, AIGW_EINVAL, "dimensions: expected a positive integer");
	if (!cJSON_IsString(input) && !cJSON_IsArray(input))
		return aigw_err_set(err, AIGW_EINVAL,
				    "input: expected a string or an array of strings");
	if (cJSON_IsArray(input) && cJSON_GetArraySize(input) == 0)
		return aigw_err_set(err, AIGW_EINVAL, "input: the array is empty");
	aigw_buf_puts(&model, "models/");
	aigw_buf_puts(&model, model_name(c->model));
	for (s = cJSON_IsArray(input) ? input->child : input; s;
	     s = cJSON_IsArray(input) ? s->next : NULL) {
		cJSON *r, *parts;
		if (!cJSON_IsString(s)) {
			rc = aigw_err_set(err, AIGW_EINVAL,
					  "input: token arrays are not supported by gemini (send "
					  "strings)");
			break;
		}
		r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "model", model.data);
		parts = cJSON_AddArrayToObject(cJSON_AddObjectToObject(r, "content"), "parts");
		cJSON_AddItemToArray(parts, text_part(s->valuestring));
		if (dims)
			cJSON_AddNumberToObject(r, "outputDimensionality", dims->valuedouble);
		cJSON_AddItemToArray(requests, r);
	}
	aigw_buf_release(&model);
	return rc;
}

static int build(const struct aigw_provider_call *c, const char *body, size_t len,
		 struct aigw_provider_req *out, struct aigw_err *err)
{
	cJSON *req = NULL, *root;
	char *text;
	int rc;

	if (c->api == AIGW_API_COMPLETIONS)
		return aigw_err_set(err, AIGW_ENOTFOUND,
				    "gemini has no completions endpoint (use chat completions)");
	if (aigw_json_parse_object(body, len, &req, err) < 0) {
		aigw_err_prefix(err, "the request body");
		if (err)
			err->code = AIGW_EINVAL;
		return AIGW_EINVAL;
	}
	root = cJSON_CreateObject();
	if (c->api == AIGW_API_EMBEDDINGS) {
		rc = build_embeddings(c, req, root, err);
	} else {
		rc = build_contents(cJSON_GetObjectItemCaseSensitive(req, "messages"), root, err);
		if (rc == 0)
			rc = build_tools(req, root, err);
		if (rc == 0)
			rc = build_generation_config(req, root, err);
	}
	cJSON_Delete(req);
	if (rc < 0) {
		cJSON_Delete(root);
		return rc;
	}
	text = print_compact(root);
	cJSON_Delete(root);
	aigw_buf_puts(&out->body, text);
	cJSON_free(text);
	build_url(c, &out->url);
	aigw_buf_puts(&out->fields, "Content-Type: application/json\r\n");
	if (c->credential) {
		aigw_buf_puts(&out->fields, "x-goog-api-key: ");
		aigw_buf_puts(&out->fields, c->credential);
		aigw_buf_puts(&out->fields, "\r\n");
	}
	out->passthrough = false;
	return 0;
}

/* ------------------------------------------------------------ answer */

static const char *finish_reason(const char *reason, bool calls)
{
	static const char *const filtered[] = {
		"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
	};

	if (!reason)
		return calls ? "tool_calls" : "stop";
	if (strcmp(reason, "MAX_TOKENS") == 0)
		return "length";
	for (size_t i = 0; i < sizeof(filtered) / sizeof(filtered[0]); i++)
		if (strcmp(reason, filtered[i]) == 0)
			return "content_filter";
	return calls ? "tool_calls" : "stop";
}

static bool count_of(const cJSON *o, const char *key, int64_t *n)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(j) || j->valuedouble < 0 || !is_whole(j->valuedouble))
		return false;
	*n = (int64_t)j->valuedouble;
	return true;
}

/* usageMetadata to u. Gemini leaves out zero counts (proto3 JSON), so
 * once the prompt is counted, a missing count is a zero. Metadata that
 * counts nothing (some stream events carry only a traffic type) leaves u
 * as it was. */
static void read_usage(const cJSON *um, struct aigw_usage *u)
{
	struct aigw_usage v;
	int64_t n;
	bool prompt, any;

	if (!cJSON_IsObject(um))
		return;
	aigw_usage_init(&v);
	prompt = count_of(um, "promptTokenCount", &v.prompt_tokens);
	any = prompt;
	if (count_of(um, "candidatesTokenCount", &n)) {
		v.completion_tokens = n;
		any = true;
	} else if (prompt) {
		v.completion_tokens = 0;
	}
	if (count_of(um, "thoughtsTokenCount", &n)) {
		v.completion_tokens = (v.completion_tokens > 0 ? v.completion_tokens : 0) + n;
		any = true;
	}
	if (count_of(um, "cachedContentTokenCount", &n))
		v.cache_read_tokens = n;
	else if (prompt)
		v.cache_read_tokens = 0;
	if (any)
		*u = v;
}

/* The reason of a blocked prompt, or NULL. */
static const char *block_reason(const cJSON *root)
{
	return member_string(cJSON_GetObjectItemCaseSensitive(root, "promptFeedback"),
			     "blockReason");
}

static void blocked_message(char *msg, size_t cap, const char *reason)
{
	snprintf(msg, cap, "the prompt was blocked by the provider's safety filter (%s)", reason);
}

/* A thought summary (thinking models): not part of the answer. */
static bool is_thought(const cJSON *part)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(part, "thought"));
}

static cJSON *tool_call_json(const cJSON *fc, int n)
{
	cJSON *tc = cJSON_CreateObject(), *fn;
	const char *id = member_string(fc, "id");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(fc, "args");
	char idbuf[32];
	char *a;

	if (!id) {
		snprintf(idbuf, sizeof(idbuf), "call_%d", n);
		id = idbuf;
	}
	cJSON_AddStringToObject(tc, "id", id);
	cJSON_AddStringToObject(tc, "type", "function");
	fn = cJSON_AddObjectToObject(tc, "function");
	cJSON_AddStringToObject(fn, "name", member_string(fc, "name") ? member_string(fc, "name")
									: "");
	a = args ? print_compact(args) : NULL;
	cJSON_AddStringToObject(fn, "arguments", a ? a : "{}");
	cJSON_free(a);
	return tc;
}

static int answer_chat(const struct aigw_provider_call *c, int *status, const cJSON *root,
		       struct aigw_buf *out, struct aigw_usage *u, struct aigw_err *err)
{
	const cJSON *cands = cJSON_GetObjectItemCaseSensitive(root, "candidates"), *cand;
	const char *reason = block_reason(root);
	const char *id = member_string(root, "responseId");
	const char *model = member_string(root, "modelVersion");
	cJSON *o, *choices;
	char *text;
	int ncalls = 0, k = 0;

	read_usage(cJSON_GetObjectItemCaseSensitive(root, "usageMetadata"), u);
	if (cJSON_GetArraySize(cands) == 0 && reason) {
		char msg[256];
		blocked_message(msg, sizeof(msg), reason);
		*status = 400;
		aigw_oai_error(out, "invalid_request_error", "content_filter", msg);
		return 0;
	}
	if (!cJSON_IsArray(cands) || cJSON_GetArraySize(cands) == 0)
		return aigw_err_set(err, AIGW_EFAIL, "gemini answer: no candidates");

	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", id ? id : c->id ? c->id : "");
	cJSON_AddStringToObject(o, "object", "chat.completion");
	cJSON_AddNumberToObject(o, "created", (double)c->created);
	cJSON_AddStringToObject(o, "model", model ? model : c->model ? c->model : "");
	choices = cJSON_AddArrayToObject(o, "choices");
	cJSON_ArrayForEach(cand, cands) {
		const cJSON *parts = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(cand, "content"), "parts");
		const cJSON *part, *index = cJSON_GetObjectItemCaseSensitive(cand, "index");
		struct aigw_buf content = AIGW_BUF_INIT;
		bool has_text = false;
		cJSON *choice = cJSON_CreateObject(), *msg, *calls = cJSON_CreateArray();

		if (!cJSON_IsObject(cand)) {
			cJSON_Delete(choice);
			cJSON_Delete(calls);
			cJSON_Delete(o);
			return aigw_err_set(err, AIGW_EFAIL,
					    "gemini answer: candidates[%d] is not an object", k);
		}
		cJSON_ArrayForEach(part, parts) {
			const char *t = member_string(part, "text");
			const cJSON *fc = cJSON_GetObjectItemCaseSensitive(part, "functionCall");
			if (is_thought(part))
				continue;
			if (t) {
				aigw_buf_puts(&content, t);
				has_text = true;
			} else if (cJSON_IsObject(fc)) {
				cJSON_AddItemToArray(calls, tool_call_json(fc, ncalls++));
			}
		}
		cJSON_AddNumberToObject(choice, "index",
					cJSON_IsNumber(index) ? index->valuedouble : (double)k);
		msg = cJSON_AddObjectToObject(choice, "message");
		cJSON_AddStringToObject(msg, "role", "assistant");
		if (!has_text && cJSON_GetArraySize(calls) > 0)
			cJSON_AddNullToObject(msg, "content");
		else
			cJSON_AddStringToObject(msg, "content", content.data);
		aigw_buf_release(&content);
		if (cJSON_GetArraySize(calls) > 0)
			cJSON_AddItemToObject(msg, "tool_calls", calls);
		else
			cJSON_Delete(calls);
		cJSON_AddNullToObject(choice, "logprobs");
		cJSON_AddStringToObject(choice, "finish_reason",
					finish_reason(member_string(cand, "finishReason"),
						      cJSON_GetObjectItemCaseSensitive(msg,
										"tool_calls") != NULL));
		cJSON_AddItemToArray(choices, choice);
		k++;
	}
	cJSON_AddItemToObject(o, "usage", aigw_oai_usage_json(u));
	text = print_compact(o);
	cJSON_Delete(o);
	aigw_buf_puts(out, text);
	cJSON_free(text);
	return 0;
}

static int answer_embeddings(const struct aigw_provider_call *c, const cJSON *root,
			     struct aigw_buf *out, struct aigw_err *err)
{
	const cJSON *embs = cJSON_GetObjectItemCaseSensitive(root, "embeddings"), *e;
	cJSON *o, *data, *usage;
	char *text;
	int i = 0;

	if (!cJSON_IsArray(embs))
		return aigw_err_set(err, AIGW_EFAIL, "gemini answer: no embeddings");
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "object", "list");
	data = cJSON_AddArrayToObject(o, "data");
	cJSON_ArrayForEach(e, embs) {
		const cJSON *values = cJSON_GetObjectItemCaseSensitive(e, "values"), *v;
		bool numbers = cJSON_IsArray(values);
		cJSON *d;
		cJSON_ArrayForEach(v, values)
			numbers = numbers && cJSON_IsNumber(v);
		if (!numbers) {
			cJSON_Delete(o);
			return aigw_err_set(err, AIGW_EFAIL,
					    "gemini answer: embeddings[%d].values is not an array of numbers", i);
		}
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "object", "embedding");
		cJSON_AddNumberToObject(d, "index", i);
		cJSON_AddItemToObject(d, "embedding", cJSON_Duplicate(values, true));
		cJSON_AddItemToArray(data, d);
		i++;
	}
	cJSON_AddStringToObject(o, "model", c->model ? c->model : "");
	/* Gemini does not count embedding tokens: the usage stays unknown. */
	usage = cJSON_AddObjectToObject(o, "usage");
	cJSON_AddNumberToObject(usage, "prompt_tokens", 0);
	cJSON_AddNumberToObject(usage, "total_tokens", 0);
	text = print_compact(o);
	cJSON_Delete(o);
	aigw_buf_puts(out, text);
	cJSON_free(text);
	return 0;
}

/* An error answer: Google's {"error":{"code","message","status"}} (in
 * an array when it comes from a stream endpoint without alt=sse), or
 * anything else a proxy may send. */
static void answer_error(int status, const char *body, size_t len, struct aigw_buf *out)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(
		cJSON_IsArray(root) ? cJSON_GetArrayItem(root, 0) : root, "error");
	const char *message = member_string(e, "message"), *st = member_string(e, "status");

	if (cJSON_IsObject(e) && message) {
		char code[64];
		size_t n = 0;
		if (st) {
			for (; st[n] && n < sizeof(code) - 1; n++)
				code[n] = (char)((st[n] >= 'A' && st[n] <= 'Z') ? st[n] + 32 : st[n]);
			code[n] = '\0';
		}
		aigw_oai_error(out, aigw_oai_error_type(status), st ? code : NULL, message);
	} else {
		char quote[AIGW_OAI_QUOTE_MAX + 1];
		aigw_oai_error(out, aigw_oai_error_type(status), NULL, aigw_oai_quote(quote, body, len));
	}
	cJSON_Delete(root);
}

static int answer(const struct aigw_provider_call *c, int *status, const char *body, size_t len,
		  struct aigw_buf *out, struct aigw_usage *u, struct aigw_err *err)
{
	cJSON *root;
	int rc;

	if (*status < 200 || *status >= 300) {
		answer_error(*status, body, len, out);
		return 0;
	}
	if (!(root = aigw_oai_parse(body, len, "gemini answer", err)))
		return AIGW_EFAIL;
	if (c->api == AIGW_API_EMBEDDINGS)
		rc = answer_embeddings(c, root, out, err);
	else
		rc = answer_chat(c, status, root, out, u, err);
	cJSON_Delete(root);
	return rc;
}

/* ------------------------------------------------------------ stream */

struct gstream {
	struct aigw_sse sse;
	struct aigw_pstream *s;
	struct aigw_buf *out;
	struct aigw_err *err;
	struct aigw_buf id, model; /* the head every chunk repeats */
	struct aigw_buf args;      /* scratch: a call's arguments as a JSON string */
	bool started;              /* the role chunk went out */
	bool finish_sent;
	bool bad_event;            /* stream_event failed (err says why) */
	int ncalls;
};

static void *stream_new(struct aigw_pstream *s)
{
	struct gstream *g = calloc(1, sizeof(*g));
	if (!g)
		abort();
	aigw_sse_init(&g->sse, 0);
	aigw_buf_init(&g->id);
	aigw_buf_init(&g->model);
	aigw_buf_init(&g->args);
	g->s = s;
	return g;
}

static void stream_free(void *state)
{
	struct gstream *g = state;
	if (!g)
		return;
	aigw_sse_release(&g->sse);
	aigw_buf_release(&g->id);
	aigw_buf_release(&g->model);
	aigw_buf_release(&g->args);
	free(g);
}

static struct aigw_oai_head head_of(const struct gstream *g)
{
	struct aigw_oai_head h = { g->id.data, g->model.data, g->s->call.created };
	return h;
}

/* The role chunk, once, with the head the first event gives. */
static void stream_start(struct gstream *g, const cJSON *ev)
{
	const struct aigw_provider_call *c = &g->s->call;
	const char *id = ev ? member_string(ev, "responseId") : NULL;
	const char *model = ev ? member_string(ev, "modelVersion") : NULL;
	struct aigw_oai_head h;

	if (g->started)
		return;
	g->started = true;
	aigw_buf_puts(&g->id, id ? id : c->id ? c->id : "");
	aigw_buf_puts(&g->model, model ? model : c->model ? c->model : "");
	h = head_of(g);
	aigw_oai_chunk_role(g->out, &h);
}

/* Ends the stream with an error chunk (Gemini's error event, a blocked
 * prompt). */
static void stream_fail(struct gstream *g, const char *type, const char *code, const char *msg)
{
	aigw_oai_stream_error(g->out, type, code, msg);
	aigw_oai_done(g->out);
	g->s->finished = true;
}

static void stream_candidate(struct gstream *g, const cJSON *cand)
{
	const cJSON *parts = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cand, "content"), "parts");
	const cJSON *part;
	const char *reason = member_string(cand, "finishReason");
	struct aigw_oai_head h = head_of(g);
	struct aigw_buf *text = &g->args;

	cJSON_ArrayForEach(part, parts) {
		const char *t = member_string(part, "text");
		const cJSON *fc = cJSON_GetObjectItemCaseSensitive(part, "functionCall");
		if (is_thought(part))
			continue;
		if (t) {
			if (!*t)
				continue;
			aigw_buf_reset(text);
			aigw_oai_put_string(text, t, strlen(t));
			aigw_oai_chunk_text(g->out, &h, text->data, text->len);
			g->s->output = true;
		} else if (cJSON_IsObject(fc)) {
			const cJSON *args = cJSON_GetObjectItemCaseSensitive(fc, "args");
			const char *id = member_string(fc, "id"), *name = member_string(fc, "name");
			char idbuf[32];
			char *a;
			if (!id) {
				snprintf(idbuf, sizeof(idbuf), "call_%d", g->ncalls);
				id = idbuf;
			}
			aigw_oai_chunk_tool_start(g->out, &h, g->ncalls, id, name ? name : "");
			a = args ? print_compact(args) : NULL;
			aigw_buf_reset(text);
			aigw_oai_put_string(text, a ? a : "{}", a ? strlen(a) : 2);
			cJSON_free(a);
			aigw_oai_chunk_tool_args(g->out, &h, g->ncalls, text->data, text->len);
			g->ncalls++;
			g->s->output = true;
		}
	}
	if (reason && !g->finish_sent) {
		g->finish_sent = true;
		aigw_oai_chunk_finish(g->out, &h, finish_reason(reason, g->ncalls > 0));
	}
}

static int stream_event(const struct aigw_sse_event *ev, void *arg)
{
	struct gstream *g = arg;
	const cJSON *e, *cand;
	cJSON *root;
	const char *reason;

	if (g->s->finished)
		return 0; /* after an error chunk: nothing more to say */
	if (ev->data_len == 0 || (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0))
		return 0;
	if (!(root = aigw_oai_parse(ev->data, ev->data_len, "gemini stream", g->err))) {
		g->bad_event = true;
		return AIGW_EFAIL;
	}
	e = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (cJSON_IsObject(e)) {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
		const char *st = member_string(e, "status"), *message = member_string(e, "message");
		char lower[64];
		size_t n = 0;
		if (st) {
			for (; st[n] && n < sizeof(lower) - 1; n++)
				lower[n] = (char)((st[n] >= 'A' && st[n] <= 'Z') ? st[n] + 32 : st[n]);
		}
		lower[n] = '\0';
		stream_fail(g, aigw_oai_error_type(cJSON_IsNumber(code) ? code->valueint : 500),
			    st ? lower : NULL, message ? message : "the provider ended the stream "
			    "with an error");
		cJSON_Delete(root);
		return 0;
	}
	read_usage(cJSON_GetObjectItemCaseSensitive(root, "usageMetadata"), &g->s->usage);
	if ((reason = block_reason(root)) &&
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "candidates")) == 0) {
		char msg[256];
		blocked_message(msg, sizeof(msg), reason);
		stream_fail(g, "invalid_request_error", "content_filter", msg);
		cJSON_Delete(root);
		return 0;
	}
	stream_start(g, root);
	cJSON_ArrayForEach(cand, cJSON_GetObjectItemCaseSensitive(root, "candidates")) {
		const cJSON *index = cJSON_GetObjectItemCaseSensitive(cand, "index");
		if (!cJSON_IsNumber(index) || index->valueint == 0) {
			stream_candidate(g, cand);
			break;
		}
	}
	cJSON_Delete(root);
	return 0;
}

static int stream_feed(struct aigw_pstream *s, const char *data, size_t len,
		       struct aigw_buf *out, struct aigw_err *err)
{
	struct gstream *g = s->state;
	int rc;

	g->out = out;
	g->err = err;
	rc = aigw_sse_feed(&g->sse, data, len, stream_event, g);
	if (rc != 0 && !g->bad_event)
		return aigw_err_set(err, AIGW_EFAIL, "gemini stream: an event is larger than 1 MiB");
	return rc < 0 ? AIGW_EFAIL : 0;
}

static int stream_finish(struct aigw_pstream *s, struct aigw_buf *out, struct aigw_err *err)
{
	struct gstream *g = s->state;
	struct aigw_oai_head h;

	/* An upstream that ends without the last blank line still ends its
	 * last event. */
	if (!s->finished && stream_feed(s, "\n\n", 2, out, err) < 0)
		return AIGW_EFAIL;
	if (s->finished)
		return 0;
	g->out = out;
	stream_start(g, NULL);
	h = head_of(g);
	if (!g->finish_sent) {
		g->finish_sent = true;
		aigw_oai_chunk_finish(out, &h, g->ncalls > 0 ? "tool_calls" : "stop");
	}
	if (s->call.include_usage)
		aigw_oai_chunk_usage(out, &h, &s->usage);
	aigw_oai_done(out);
	s->finished = true;
	return 0;
}

const struct aigw_provider_ops aigw_provider_gemini = {
	"gemini", build, answer, stream_new, stream_feed, stream_finish, stream_free,
};
