/* mock_gemini: the mock's Gemini dialect (`aigw mock --dialect gemini`),
 * the Generative Language API v1beta: POST /v1beta/models/{model}:
 * generateContent, :streamGenerateContent?alt=sse, :embedContent and
 * :batchEmbedContents; GET /v1beta/models; the key in x-goog-api-key or
 * ?key=; errors as {"error":{"code":N,"message":...,"status":"NAME"}}. */
#include "mock_internal.h"

#include <string.h>

#include "pool.h"

static const char *const default_models[] = {
	"mock-1", "gemini-2.5-flash", "gemini-2.5-pro", "text-embedding-004", NULL,
};

static void put_model(struct aigw_buf *b, const char *name)
{
	PUT_LIT(b, "{\"name\":\"models/");
	mock_json_escape(b, name);
	PUT_LIT(b, "\",\"version\":\"001\",\"displayName\":\"");
	mock_json_escape(b, name);
	PUT_LIT(b, "\",\"description\":\"aigw mock model\",\"inputTokenLimit\":1048576,"
		   "\"outputTokenLimit\":65536,\"supportedGenerationMethods\":"
		   "[\"generateContent\",\"streamGenerateContent\",\"embedContent\","
		   "\"batchEmbedContents\"]}");
}

static void put_models(struct aigw_buf *b, const char *const *names)
{
	PUT_LIT(b, "{\"models\":[");
	for (size_t i = 0; names[i]; i++) {
		if (i)
			aigw_buf_putc(b, ',');
		put_model(b, names[i]);
	}
	PUT_LIT(b, "]}\n");
}

static int route(struct job *j, const char **allow)
{
	static const char prefix[] = "/v1beta/models/";
	static const struct {
		const char *method;
		int endpoint;
	} methods[] = {
		{ "generateContent", EP_GENERATE },
		{ "streamGenerateContent", EP_STREAM_GENERATE },
		{ "embedContent", EP_EMBED },
		{ "batchEmbedContents", EP_BATCH_EMBED },
	};
	const char *p = j->req->path.ptr, *name, *colon = NULL;
	size_t n = j->req->path.len;

	*allow = "POST";
	if (mock_path_is(j->req, "/v1beta/models")) {
		*allow = "GET, HEAD";
		return EP_MODELS;
	}
	if (n <= sizeof(prefix) - 1 || memcmp(p, prefix, sizeof(prefix) - 1))
		return EP_NONE;
	name = p + sizeof(prefix) - 1;
	for (const char *q = p + n - 1; q >= name; q--)
		if (*q == ':') {
			colon = q;
			break;
		}
	if (!colon) {
		*allow = "GET, HEAD";
		mock_model_path(j, prefix);
		return EP_MODEL;
	}
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		size_t mn = strlen(methods[i].method);
		if ((size_t)(p + n - colon - 1) == mn && !memcmp(colon + 1, methods[i].method, mn)) {
			if (!mock_model_from_path(j, name, (size_t)(colon - name)))
				return EP_NONE;
			return methods[i].endpoint;
		}
	}
	return EP_NONE;
}

static bool admit(struct job *j, struct refusal *r)
{
	const struct aigw_http_slice *key = aigw_server_req_header(j->req, "x-goog-api-key");
	const char *v;
	size_t n;

	if ((!key || !key->len) && !(mock_query_param(j->req, "key", &v, &n) && n))
		return mock_refuse(r, 403, NULL,
				   "Method doesn't allow unregistered callers (callers without "
				   "established identity). Please use API Key or other form of API "
				   "consumer identity to call this API.");
	if (j->endpoint == EP_STREAM_GENERATE &&
	    !(mock_query_param(j->req, "alt", &v, &n) && n == 3 && !memcmp(v, "sse", 3)))
		return mock_refuse(r, 400, NULL,
				   "the mock serves streamGenerateContent only as server-sent "
				   "events: add ?alt=sse");
	if (j->model.p && !mock_model_known(j->mw->m, j->model.p + 1, j->model.n - 2))
		return mock_refuse(r, 404, NULL,
				   aigw_pool_printf(j->req->pool,
						    "models/%.*s is not found for API version "
						    "v1beta, or is not supported for this method. "
						    "Call ListModels to see the list of available "
						    "models and their supported methods.",
						    (int)(j->model.n - 2), j->model.p + 1));
	return true;
}

static const char *status_name(int status)
{
	switch (status) {
	case 400: return "INVALID_ARGUMENT";
	case 401: return "UNAUTHENTICATED";
	case 403: return "PERMISSION_DENIED";
	case 404: return "NOT_FOUND";
	case 409: return "ABORTED";
	case 429: return "RESOURCE_EXHAUSTED";
	case 499: return "CANCELLED";
	case 501: return "NOT_IMPLEMENTED";
	case 503: return "UNAVAILABLE";
	case 504: return "DEADLINE_EXCEEDED";
	default: return status >= 500 ? "INTERNAL" : "FAILED_PRECONDITION";
	}
}

static void respond_error(struct job *j, int status, const char *headers, size_t headers_len,
			  const struct refusal *r)
{
	struct aigw_buf *b = &j->mw->out;

	aigw_buf_reset(b);
	PUT_LIT(b, "{\"error\":{\"code\":");
	aigw_buf_put_u64(b, (uint64_t)status);
	PUT_LIT(b, ",\"message\":\"");
	mock_json_escape(b, r->message);
	PUT_LIT(b, "\",\"status\":\"");
	aigw_buf_puts(b, status_name(status));
	PUT_LIT(b, "\"}}\n");
	mock_respond_json(j, status, headers, headers_len);
}

/* A content {"role":...,"parts":[{"text":...}, ...]}: its text counts. */
static bool read_content(struct text *t, struct jv content, struct refusal *r)
{
	struct jv parts = mock_j_get(content, "parts");

	if (mock_j_type(content) != '{' || mock_j_type(parts) != '[')
		return mock_refuse(r, 400, NULL, "* GenerateContentRequest.contents: contents must "
						 "be objects with parts");
	mock_text_content(t, parts);
	return true;
}

static bool has_function_response(struct jv content)
{
	struct jv parts = mock_j_get(content, "parts"), part;
	size_t it = 0;

	while (mock_j_next(parts, &it, NULL, &part))
		if (mock_j_get(part, "functionResponse").p)
			return true;
	return false;
}

/* tools: [{"functionDeclarations":[{"name":...}]}]; toolConfig:
 * {"functionCallingConfig":{"mode":"AUTO"|"ANY"|"NONE",
 * "allowedFunctionNames":[...]}}. */
static bool read_tools(struct job *j, struct jv root, struct jv last, struct refusal *r)
{
	struct jv tools = mock_j_get(root, "tools"), tool, decl;
	struct jv config = mock_j_get(mock_j_get(root, "toolConfig"), "functionCallingConfig");
	struct jv mode = mock_j_get(config, "mode"), allowed = mock_j_get(config, "allowedFunctionNames");
	struct jv first = { NULL, 0 }, forced = { NULL, 0 }, text = { NULL, 0 }, role;
	size_t it = 0, it2;

	if (!tools.p)
		return true;
	if (mock_j_type(tools) != '[')
		return mock_refuse(r, 400, NULL, "tools must be a list");
	while (mock_j_next(tools, &it, NULL, &tool)) {
		struct jv decls = mock_j_get(tool, "functionDeclarations");
		if (mock_j_type(decls) != '[')
			continue; /* googleSearch, codeExecution, ... */
		it2 = 0;
		while (mock_j_next(decls, &it2, NULL, &decl)) {
			struct jv name = mock_j_get(decl, "name");
			if (mock_j_type(name) != '"' || name.n <= 2)
				return mock_refuse(r, 400, NULL,
						   "function declarations must have a name");
			if (!first.p)
				first = name;
		}
	}
	if (mock_j_str_is(mode, "ANY") && mock_j_type(allowed) == '[') {
		it = 0;
		if (mock_j_next(allowed, &it, NULL, &decl) && mock_j_type(decl) == '"')
			forced = decl;
	}
	role = mock_j_get(last, "role");
	if ((!role.p || mock_j_str_is(role, "user")) && !has_function_response(last)) {
		text = mock_first_text(mock_j_get(last, "parts"));
	}
	mock_tool_pick(j, first, forced, mock_j_str_is(mode, "NONE"), text, false);
	return true;
}

static bool check_generate(struct job *j, struct jv root, struct refusal *r)
{
	struct jv contents = mock_j_get(root, "contents"), content, last = { NULL, 0 }, v;
	struct text t;
	int64_t max;
	size_t it = 0;

	if (mock_j_type(contents) != '[')
		return mock_refuse(r, 400, NULL, "* GenerateContentRequest.contents: contents is not "
						 "specified");
	mock_text_init(&t);
	v = mock_j_get(root, "systemInstruction");
	if (v.p && !read_content(&t, v, r))
		return false;
	if (v.p)
		mock_text_break(&t); /* as after an OpenAI system message */
	while (mock_j_next(contents, &it, NULL, &content)) {
		if (!read_content(&t, content, r))
			return false;
		mock_text_break(&t);
		last = content;
	}
	if (!it)
		return mock_refuse(r, 400, NULL, "* GenerateContentRequest.contents: contents is not "
						 "specified");
	j->prompt_hash = t.hash;
	j->prompt_tokens = t.words;
	j->stream = j->endpoint == EP_STREAM_GENERATE;
	j->n_tokens = j->mw->m->cfg.tokens;
	if (!read_tools(j, root, last, r))
		return false;
	v = mock_j_get(mock_j_get(root, "generationConfig"), "maxOutputTokens");
	if (v.p && mock_j_type(v) != 'n') {
		if (!mock_j_int(v, 0, INT32_MAX, &max))
			return mock_refuse(r, 400, NULL,
					   "generation_config.max_output_tokens must be a "
					   "non-negative integer");
		if (!j->tool)
			mock_cap_tokens(j, max);
	}
	if (!j->tool)
		j->n_events = j->n_tokens > 0 ? j->n_tokens : 1;
	return true;
}

/* An embedding request {"content":{"parts":[...]},"outputDimensionality":N}. */
static bool check_embed_request(struct jv req, struct refusal *r)
{
	struct jv content = mock_j_get(req, "content"), v = mock_j_get(req, "outputDimensionality");
	int64_t dims;

	if (mock_j_type(req) != '{' || mock_j_type(content) != '{' ||
	    mock_j_type(mock_j_get(content, "parts")) != '[')
		return mock_refuse(r, 400, NULL, "* EmbedContentRequest.content: content is not "
						 "specified");
	if (v.p && mock_j_type(v) != 'n' && !mock_j_int(v, 1, AIGW_MOCK_DIMENSIONS_MAX, &dims))
		return mock_refuse(r, 400, NULL, "outputDimensionality must be between 1 and 4096");
	return true;
}

static bool check(struct job *j, struct jv root, struct refusal *r)
{
	struct jv requests, el;
	size_t it = 0;

	if (j->endpoint == EP_GENERATE || j->endpoint == EP_STREAM_GENERATE)
		return check_generate(j, root, r);
	if (j->endpoint == EP_EMBED) {
		j->input = root;
		return check_embed_request(root, r);
	}
	requests = mock_j_get(root, "requests");
	if (mock_j_type(requests) != '[')
		return mock_refuse(r, 400, NULL, "* BatchEmbedContentsRequest.requests: requests is "
						 "not specified");
	while (mock_j_next(requests, &it, NULL, &el))
		if (!check_embed_request(el, r))
			return false;
	if (!it)
		return mock_refuse(r, 400, NULL, "* BatchEmbedContentsRequest.requests: requests is "
						 "not specified");
	j->input = requests;
	return true;
}

/* The vector of one embedding request: the hash of its parts' text (one
 * part hashes like the same string on /v1/embeddings). */
static void put_embedding(struct aigw_buf *b, struct job *j, struct jv req)
{
	struct jv parts = mock_j_get(mock_j_get(req, "content"), "parts"), part, v;
	struct text t;
	size_t it = 0;
	int64_t dims = AIGW_MOCK_DIMENSIONS;
	bool first = true;

	mock_text_init(&t);
	while (mock_j_next(parts, &it, NULL, &part)) {
		struct jv txt = mock_j_get(part, "text");
		if (mock_j_type(txt) != '"')
			continue;
		if (!first)
			mock_text_break(&t);
		mock_text_string(&t, txt);
		first = false;
	}
	v = mock_j_get(req, "outputDimensionality");
	if (v.p && mock_j_type(v) != 'n')
		mock_j_int(v, 1, AIGW_MOCK_DIMENSIONS_MAX, &dims);
	j->dims = (int)dims;
	PUT_LIT(b, "{\"values\":");
	mock_put_vector(b, j, t.hash);
	aigw_buf_putc(b, '}');
}

static void put_usage(struct aigw_buf *b, const struct job *j, int output)
{
	PUT_LIT(b, "\"usageMetadata\":{\"promptTokenCount\":");
	aigw_buf_put_u64(b, j->prompt_tokens);
	PUT_LIT(b, ",\"candidatesTokenCount\":");
	aigw_buf_put_u64(b, (uint64_t)output);
	PUT_LIT(b, ",\"totalTokenCount\":");
	aigw_buf_put_u64(b, j->prompt_tokens + (uint64_t)output);
	PUT_LIT(b, "},\"modelVersion\":");
	mock_put_jv(b, j->model);
	PUT_LIT(b, ",\"responseId\":\"");
	mock_put_id(b, j);
	PUT_LIT(b, "\"}");
}

/* One response: the whole text (event -1), one token, or the tool call;
 * the finish reason when last. */
static void put_response(struct aigw_buf *b, const struct job *j, int event, bool last)
{
	PUT_LIT(b, "{\"candidates\":[{\"content\":{\"parts\":[");
	if (j->tool) {
		PUT_LIT(b, "{\"functionCall\":{\"name\":");
		mock_put_jv(b, j->tool_name);
		PUT_LIT(b, ",\"args\":");
		mock_put_tool_args(b, j, 0);
		PUT_LIT(b, "}}");
	} else {
		PUT_LIT(b, "{\"text\":\"");
		if (event < 0)
			mock_put_text(b, j);
		else if (event < j->n_tokens)
			mock_put_token(b, j, event);
		PUT_LIT(b, "\"}");
	}
	PUT_LIT(b, "],\"role\":\"model\"}");
	if (last) {
		PUT_LIT(b, ",\"finishReason\":\"");
		if (j->truncated)
			PUT_LIT(b, "MAX_TOKENS");
		else
			PUT_LIT(b, "STOP");
		aigw_buf_putc(b, '"');
	}
	PUT_LIT(b, ",\"index\":0}],");
	if (j->tool || event < 0 || last)
		put_usage(b, j, j->n_tokens);
	else
		put_usage(b, j, event + 1);
}

static void put_body(struct aigw_buf *b, struct job *j)
{
	struct jv el;
	size_t it = 0;
	int index = 0;

	if (j->endpoint == EP_EMBED) {
		PUT_LIT(b, "{\"embedding\":");
		put_embedding(b, j, j->input);
		PUT_LIT(b, "}\n");
		return;
	}
	if (j->endpoint == EP_BATCH_EMBED) {
		PUT_LIT(b, "{\"embeddings\":[");
		while (mock_j_next(j->input, &it, NULL, &el)) {
			if (index++)
				aigw_buf_putc(b, ',');
			put_embedding(b, j, el);
		}
		PUT_LIT(b, "]}\n");
		return;
	}
	put_response(b, j, -1, true);
	aigw_buf_putc(b, '\n');
}

static void put_nothing(struct aigw_buf *b, const struct job *j)
{
	(void)b;
	(void)j;
}

static void put_event(struct aigw_buf *b, const struct job *j, int i)
{
	PUT_LIT(b, "data: ");
	put_response(b, j, i, i == j->n_events - 1);
	PUT_LIT(b, "\r\n\r\n");
}

const struct mock_dialect mock_gemini = {
	.name = "gemini",
	.default_models = default_models,
	.put_models = put_models,
	.put_model = put_model,
	.route = route,
	.admit = admit,
	.check = check,
	.respond_error = respond_error,
	.put_body = put_body,
	.put_head = put_nothing,
	.put_event = put_event,
	.put_end = put_nothing,
	.stream_headers = mock_sse_headers,
};
