/* mock_anthropic: the mock's Anthropic dialect (`aigw mock --dialect
 * anthropic`): POST /v1/messages with its headers, content blocks, prompt
 * caching counts, tool use and its named-event stream; GET /v1/models;
 * errors as {"type":"error","error":{"type":...,"message":...}}. */
#include "mock_internal.h"

#include <string.h>

#include "pool.h"

static const char *const default_models[] = {
	"mock-1", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", NULL,
};

static void put_model(struct aigw_buf *b, const char *name)
{
	PUT_LIT(b, "{\"type\":\"model\",\"id\":\"");
	mock_json_escape(b, name);
	PUT_LIT(b, "\",\"display_name\":\"");
	mock_json_escape(b, name);
	PUT_LIT(b, "\",\"created_at\":\"" MOCK_MODEL_CREATED_ISO "\"}");
}

static void put_models(struct aigw_buf *b, const char *const *names)
{
	size_t n = 0;

	PUT_LIT(b, "{\"data\":[");
	for (; names[n]; n++) {
		if (n)
			aigw_buf_putc(b, ',');
		put_model(b, names[n]);
	}
	PUT_LIT(b, "],\"has_more\":false,\"first_id\":");
	if (n) {
		aigw_buf_putc(b, '"');
		mock_json_escape(b, names[0]);
		PUT_LIT(b, "\",\"last_id\":\"");
		mock_json_escape(b, names[n - 1]);
		PUT_LIT(b, "\"}\n");
	} else {
		PUT_LIT(b, "null,\"last_id\":null}\n");
	}
}

static int route(struct job *j, const char **allow)
{
	if (mock_path_is(j->req, "/v1/messages")) {
		*allow = "POST";
		return EP_MESSAGES;
	}
	*allow = "GET, HEAD";
	if (mock_path_is(j->req, "/v1/models"))
		return EP_MODELS;
	if (mock_model_path(j, "/v1/models/"))
		return EP_MODEL;
	return EP_NONE;
}

static bool admit(struct job *j, struct refusal *r)
{
	const struct aigw_http_slice *v = aigw_server_req_header(j->req, "x-api-key");

	if (!v || !v->len)
		return mock_refuse(r, 401, NULL, "x-api-key header is required");
	v = aigw_server_req_header(j->req, "anthropic-version");
	if (!v || !v->len)
		return mock_refuse(r, 400, NULL, "anthropic-version: header is required");
	return true;
}

static const char *error_type(int status)
{
	switch (status) {
	case 400: return "invalid_request_error";
	case 401: return "authentication_error";
	case 402: return "billing_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 413: return "request_too_large";
	case 429: return "rate_limit_error";
	case 504: return "timeout_error";
	case 529: return "overloaded_error";
	default: return status >= 500 ? "api_error" : "invalid_request_error";
	}
}

static void respond_error(struct job *j, int status, const char *headers, size_t headers_len,
			  const struct refusal *r)
{
	struct aigw_buf *b = &j->mw->out;

	aigw_buf_reset(b);
	PUT_LIT(b, "{\"type\":\"error\",\"error\":{\"type\":\"");
	aigw_buf_puts(b, error_type(status));
	PUT_LIT(b, "\",\"message\":\"");
	mock_json_escape(b, r->message);
	PUT_LIT(b, "\"}}\n");
	mock_respond_json(j, status, headers, headers_len);
}

/* A system prompt or message content: a string, or blocks. The words of
 * blocks marked with cache_control are counted as read from the cache. */
static bool read_blocks(struct job *j, struct text *t, struct jv content, struct refusal *r)
{
	struct jv block;
	size_t it = 0;

	if (mock_j_type(content) == '"') {
		mock_text_string(t, content);
		mock_text_break(t);
		return true;
	}
	if (mock_j_type(content) != '[')
		return mock_refuse(r, 400, NULL, "content must be a string or an array of blocks");
	while (mock_j_next(content, &it, NULL, &block)) {
		uint64_t before = t->words;
		struct jv cc = mock_j_get(block, "cache_control");

		if (mock_j_type(block) != '{' || mock_j_type(mock_j_get(block, "type")) != '"')
			return mock_refuse(r, 400, NULL, "each content block must have a type");
		if (mock_j_type(mock_j_get(block, "text")) == '"')
			mock_text_string(t, mock_j_get(block, "text"));
		else if (mock_j_str_is(mock_j_get(block, "type"), "tool_result"))
			mock_text_content(t, mock_j_get(block, "content"));
		mock_text_break(t);
		if (cc.p && mock_j_type(cc) != 'n')
			j->cached_tokens += t->words - before;
	}
	return true;
}

static bool has_tool_result(struct jv content)
{
	struct jv block;
	size_t it = 0;

	if (mock_j_type(content) != '[')
		return false;
	while (mock_j_next(content, &it, NULL, &block))
		if (mock_j_str_is(mock_j_get(block, "type"), "tool_result"))
			return true;
	return false;
}

/* tools: [{"name":...,"input_schema":...}]; tool_choice {"type":"auto"|
 * "any"|"tool"|"none","name":...}. */
static bool read_tools(struct job *j, struct jv root, struct jv last, struct refusal *r)
{
	struct jv tools = mock_j_get(root, "tools"), choice = mock_j_get(root, "tool_choice");
	struct jv tool, first = { NULL, 0 }, forced = { NULL, 0 }, text = { NULL, 0 };
	struct jv type = mock_j_get(choice, "type");
	size_t it = 0;

	if (!tools.p)
		return true;
	if (mock_j_type(tools) != '[')
		return mock_refuse(r, 400, NULL, "tools: Input should be a valid list");
	while (mock_j_next(tools, &it, NULL, &tool)) {
		struct jv name = mock_j_get(tool, "name");
		if (mock_j_type(name) != '"' || name.n <= 2)
			return mock_refuse(r, 400, NULL, "tools: each tool must have a name");
		if (!first.p)
			first = name;
	}
	if (choice.p && (mock_j_type(choice) != '{' || mock_j_type(type) != '"'))
		return mock_refuse(r, 400, NULL, "tool_choice: must be an object with a type");
	if (mock_j_str_is(type, "tool")) {
		forced = mock_j_get(choice, "name");
		if (mock_j_type(forced) != '"')
			return mock_refuse(r, 400, NULL, "tool_choice.name: Field required");
	}
	if (mock_j_str_is(mock_j_get(last, "role"), "user") &&
	    !has_tool_result(mock_j_get(last, "content"))) {
		text = mock_first_text(mock_j_get(last, "content"));
	}
	mock_tool_pick(j, first, forced, mock_j_str_is(type, "none"), text, true);
	return true;
}

static bool check(struct job *j, struct jv root, struct refusal *r)
{
	struct jv messages = mock_j_get(root, "messages"), msg, last = { NULL, 0 }, v;
	struct text t;
	int64_t max;
	size_t it = 0;

	j->model = mock_j_get(root, "model");
	if (mock_j_type(j->model) != '"' || j->model.n <= 2)
		return mock_refuse(r, 400, NULL, "model: Field required");
	v = mock_j_get(root, "max_tokens");
	if (!v.p)
		return mock_refuse(r, 400, NULL, "max_tokens: Field required");
	if (!mock_j_int(v, 1, INT32_MAX, &max))
		return mock_refuse(r, 400, NULL, "max_tokens: Input should be a positive integer");
	if (mock_j_type(messages) != '[')
		return mock_refuse(r, 400, NULL, "messages: Field required");
	v = mock_j_get(root, "stream");
	if (v.p && mock_j_type(v) != 't' && mock_j_type(v) != 'f')
		return mock_refuse(r, 400, NULL, "stream: Input should be a valid boolean");
	j->stream = mock_j_type(v) == 't';

	mock_text_init(&t);
	v = mock_j_get(root, "system");
	if (v.p && !read_blocks(j, &t, v, r))
		return false;
	while (mock_j_next(messages, &it, NULL, &msg)) {
		struct jv role = mock_j_get(msg, "role");
		if (mock_j_type(msg) != '{' ||
		    !(mock_j_str_is(role, "user") || mock_j_str_is(role, "assistant")))
			return mock_refuse(r, 400, NULL,
					   "messages: each message must have a role of \"user\" "
					   "or \"assistant\"");
		if (!read_blocks(j, &t, mock_j_get(msg, "content"), r))
			return false;
		last = msg;
	}
	if (!it)
		return mock_refuse(r, 400, NULL, "messages: at least one message is required");
	j->prompt_hash = t.hash;
	j->prompt_tokens = t.words - j->cached_tokens;

	if (!mock_model_known(j->mw->m, j->model.p + 1, j->model.n - 2))
		return mock_refuse(r, 404, NULL,
				   aigw_pool_printf(j->req->pool, "model: %.*s",
						    (int)(j->model.n - 2), j->model.p + 1));
	j->n_tokens = j->mw->m->cfg.tokens;
	if (!read_tools(j, root, last, r))
		return false;
	if (!j->tool) {
		mock_cap_tokens(j, max);
		j->n_events = j->n_tokens;
	}
	return true;
}

static const char *stop_reason(const struct job *j)
{
	if (j->tool)
		return "tool_use";
	return j->truncated ? "max_tokens" : "end_turn";
}

static void put_tool_id(struct aigw_buf *b, const struct job *j)
{
	PUT_LIT(b, "\"toolu_");
	mock_put_id(b, j);
	aigw_buf_putc(b, '"');
}

/* `"id":...,"type":"message","role":"assistant","model":...,"content":` */
static void put_message_head(struct aigw_buf *b, const struct job *j)
{
	PUT_LIT(b, "{\"id\":\"msg_");
	mock_put_id(b, j);
	PUT_LIT(b, "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":");
	mock_put_jv(b, j->model);
	PUT_LIT(b, ",\"content\":");
}

static void put_usage(struct aigw_buf *b, const struct job *j, int output)
{
	PUT_LIT(b, "\"usage\":{\"input_tokens\":");
	aigw_buf_put_u64(b, j->prompt_tokens);
	PUT_LIT(b, ",\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":");
	aigw_buf_put_u64(b, j->cached_tokens);
	PUT_LIT(b, ",\"output_tokens\":");
	aigw_buf_put_u64(b, (uint64_t)output);
	aigw_buf_putc(b, '}');
}

static void put_body(struct aigw_buf *b, struct job *j)
{
	put_message_head(b, j);
	if (j->tool) {
		PUT_LIT(b, "[{\"type\":\"tool_use\",\"id\":");
		put_tool_id(b, j);
		PUT_LIT(b, ",\"name\":");
		mock_put_jv(b, j->tool_name);
		PUT_LIT(b, ",\"input\":");
		mock_put_tool_args(b, j, 0);
		PUT_LIT(b, "}]");
	} else {
		PUT_LIT(b, "[{\"type\":\"text\",\"text\":\"");
		mock_put_text(b, j);
		PUT_LIT(b, "\"}]");
	}
	PUT_LIT(b, ",\"stop_reason\":\"");
	aigw_buf_puts(b, stop_reason(j));
	PUT_LIT(b, "\",\"stop_sequence\":null,");
	put_usage(b, j, j->n_tokens);
	PUT_LIT(b, "}\n");
}

static void put_head(struct aigw_buf *b, const struct job *j)
{
	PUT_LIT(b, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":");
	put_message_head(b, j);
	PUT_LIT(b, "[],\"stop_reason\":null,\"stop_sequence\":null,");
	put_usage(b, j, j->n_tokens > 0 ? 1 : 0);
	PUT_LIT(b, "}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\","
		   "\"index\":0,\"content_block\":");
	if (j->tool) {
		PUT_LIT(b, "{\"type\":\"tool_use\",\"id\":");
		put_tool_id(b, j);
		PUT_LIT(b, ",\"name\":");
		mock_put_jv(b, j->tool_name);
		PUT_LIT(b, ",\"input\":{}}");
	} else {
		PUT_LIT(b, "{\"type\":\"text\",\"text\":\"\"}");
	}
	PUT_LIT(b, "}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n");
}

static void put_event(struct aigw_buf *b, const struct job *j, int i)
{
	PUT_LIT(b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
		   "\"delta\":");
	if (j->tool) {
		PUT_LIT(b, "{\"type\":\"input_json_delta\",\"partial_json\":\"");
		mock_put_tool_piece(b, j, i, 1);
	} else {
		PUT_LIT(b, "{\"type\":\"text_delta\",\"text\":\"");
		mock_put_token(b, j, i);
	}
	PUT_LIT(b, "\"}}\n\n");
}

static void put_end(struct aigw_buf *b, const struct job *j)
{
	PUT_LIT(b, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
		   "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
		   "{\"stop_reason\":\"");
	aigw_buf_puts(b, stop_reason(j));
	PUT_LIT(b, "\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":");
	aigw_buf_put_u64(b, (uint64_t)j->n_tokens);
	PUT_LIT(b, "}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}

const struct mock_dialect mock_anthropic = {
	.name = "anthropic",
	.default_models = default_models,
	.put_models = put_models,
	.put_model = put_model,
	.route = route,
	.admit = admit,
	.check = check,
	.respond_error = respond_error,
	.put_body = put_body,
	.put_head = put_head,
	.put_event = put_event,
	.put_end = put_end,
	.stream_headers = mock_sse_headers,
};
