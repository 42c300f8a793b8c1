/* mock_ollama: the mock's Ollama dialect (`aigw mock --dialect ollama`):
 * POST /api/chat and /api/generate, streamed as NDJSON unless "stream" is
 * false; POST /api/embed; GET /api/tags; errors as {"error":"..."}. */
#include "mock_internal.h"

#include <string.h>

#include "pool.h"

static const char *const default_models[] = {
	"mock-1", "llama3.2", "qwen3", "nomic-embed-text", NULL,
};

static const char ndjson_headers[] = "Content-Type: application/x-ndjson\r\n";

static void put_models(struct aigw_buf *b, const char *const *names)
{
	PUT_LIT(b, "{\"models\":[");
	for (size_t i = 0; names[i]; i++) {
		struct text t;
		if (i)
			aigw_buf_putc(b, ',');
		mock_text_init(&t);
		for (const char *p = names[i]; *p; p++)
			mock_text_byte(&t, (unsigned char)*p);
		PUT_LIT(b, "{\"name\":\"");
		mock_json_escape(b, names[i]);
		PUT_LIT(b, "\",\"model\":\"");
		mock_json_escape(b, names[i]);
		PUT_LIT(b, "\",\"modified_at\":\"" MOCK_MODEL_CREATED_ISO "\",\"size\":1000000,"
			   "\"digest\":\"");
		for (int k = 0; k < 4; k++)
			mock_put_hex(b, mock_splitmix64(t.hash + (uint64_t)k));
		PUT_LIT(b, "\",\"details\":{\"parent_model\":\"\",\"format\":\"gguf\",\"family\":"
			   "\"mock\",\"families\":[\"mock\"],\"parameter_size\":\"1B\","
			   "\"quantization_level\":\"Q4_0\"}}");
	}
	PUT_LIT(b, "]}\n");
}

static int route(struct job *j, const char **allow)
{
	*allow = "POST";
	if (mock_path_is(j->req, "/api/chat"))
		return EP_OLLAMA_CHAT;
	if (mock_path_is(j->req, "/api/generate"))
		return EP_GENERATE;
	if (mock_path_is(j->req, "/api/embed"))
		return EP_EMBED;
	if (mock_path_is(j->req, "/api/tags")) {
		*allow = "GET, HEAD";
		return EP_MODELS;
	}
	return EP_NONE;
}

static void respond_error(struct job *j, int status, const char *headers, size_t headers_len,
			  const struct refusal *r)
{
	struct aigw_buf *b = &j->mw->out;

	aigw_buf_reset(b);
	PUT_LIT(b, "{\"error\":\"");
	mock_json_escape(b, r->message);
	PUT_LIT(b, "\"}\n");
	mock_respond_json(j, status, headers, headers_len);
}

/* model, and the 404 Ollama gives for a model it does not have. */
static bool read_model(struct job *j, struct jv root, struct refusal *r)
{
	struct aigw_pool *pool = j->req->pool;
	char *msg;

	j->model = mock_j_get(root, "model");
	if (mock_j_type(j->model) != '"' || j->model.n <= 2)
		return mock_refuse(r, 400, NULL, "model is required");
	if (mock_model_known(j->mw->m, j->model.p + 1, j->model.n - 2))
		return true;
	/* the name as sent, escapes and all: it is only echoed */
	msg = aigw_pool_printf(pool, "model \"%.*s\" not found, try pulling it first",
			       (int)(j->model.n - 2), j->model.p + 1);
	return mock_refuse(r, 404, NULL, msg);
}

/* stream (default true) and options.num_predict (negative: no limit). */
static bool read_options(struct job *j, struct jv root, struct refusal *r)
{
	struct jv v = mock_j_get(root, "stream"), options = mock_j_get(root, "options");
	int64_t max;

	if (v.p && mock_j_type(v) != 't' && mock_j_type(v) != 'f' && mock_j_type(v) != 'n')
		return mock_refuse(r, 400, NULL, "stream must be a boolean");
	j->stream = mock_j_type(v) != 'f';
	if (options.p && mock_j_type(options) != '{' && mock_j_type(options) != 'n')
		return mock_refuse(r, 400, NULL, "options must be an object");
	v = mock_j_get(options, "num_predict");
	if (v.p && mock_j_type(v) != 'n') {
		if (!mock_j_int(v, INT32_MIN, INT32_MAX, &max))
			return mock_refuse(r, 400, NULL, "num_predict must be an integer");
		if (!j->tool)
			mock_cap_tokens(j, max);
	}
	return true;
}

static bool read_tools(struct job *j, struct jv root, struct jv last, struct refusal *r)
{
	struct jv tools = mock_j_get(root, "tools"), tool, first = { NULL, 0 }, none = { NULL, 0 };
	struct jv text = { NULL, 0 };
	size_t it = 0;

	if (!tools.p || mock_j_type(tools) == 'n')
		return true;
	if (mock_j_type(tools) != '[')
		return mock_refuse(r, 400, NULL, "tools must be an array");
	while (mock_j_next(tools, &it, NULL, &tool)) {
		struct jv name = mock_j_get(mock_j_get(tool, "function"), "name");
		if (mock_j_type(name) != '"' || name.n <= 2)
			return mock_refuse(r, 400, NULL, "each tool must have a function name");
		if (!first.p)
			first = name;
	}
	if (mock_j_str_is(mock_j_get(last, "role"), "user")) {
		text = mock_first_text(mock_j_get(last, "content"));
	}
	mock_tool_pick(j, first, none, false, text, false);
	return true;
}

static bool check_chat(struct job *j, struct jv root, struct refusal *r)
{
	struct jv messages = mock_j_get(root, "messages"), msg, last = { NULL, 0 };
	struct text t;
	size_t it = 0;

	if (!read_model(j, root, r))
		return false;
	if (mock_j_type(messages) != '[')
		return mock_refuse(r, 400, NULL, "messages is required");
	mock_text_init(&t);
	while (mock_j_next(messages, &it, NULL, &msg)) {
		if (mock_j_type(msg) != '{' || mock_j_type(mock_j_get(msg, "role")) != '"')
			return mock_refuse(r, 400, NULL, "each message must have a role");
		mock_text_content(&t, mock_j_get(msg, "content"));
		mock_text_break(&t);
		last = msg;
	}
	if (!it)
		return mock_refuse(r, 400, NULL, "messages must not be empty");
	j->prompt_hash = t.hash;
	j->prompt_tokens = t.words;
	j->n_tokens = j->mw->m->cfg.tokens;
	if (!read_tools(j, root, last, r) || !read_options(j, root, r))
		return false;
	if (!j->tool)
		j->n_events = j->n_tokens;
	return true;
}

static bool check_generate(struct job *j, struct jv root, struct refusal *r)
{
	struct jv prompt = mock_j_get(root, "prompt"), system = mock_j_get(root, "system");
	struct text t;

	if (!read_model(j, root, r))
		return false;
	if ((prompt.p && mock_j_type(prompt) != '"') || (system.p && mock_j_type(system) != '"'))
		return mock_refuse(r, 400, NULL, "prompt and system must be strings");
	mock_text_init(&t);
	if (system.p) {
		mock_text_string(&t, system);
		mock_text_break(&t);
	}
	if (prompt.p)
		mock_text_string(&t, prompt);
	j->prompt_hash = t.hash;
	j->prompt_tokens = t.words;
	j->n_tokens = j->mw->m->cfg.tokens;
	if (!read_options(j, root, r))
		return false;
	j->n_events = j->n_tokens;
	return true;
}

static bool check_embed(struct job *j, struct jv root, struct refusal *r)
{
	struct jv input = mock_j_get(root, "input"), v = mock_j_get(root, "dimensions"), el;
	int64_t dims = AIGW_MOCK_DIMENSIONS;
	size_t it = 0;

	if (!read_model(j, root, r))
		return false;
	if (mock_j_type(input) == '[') {
		while (mock_j_next(input, &it, NULL, &el))
			if (mock_j_type(el) != '"')
				return mock_refuse(r, 400, NULL,
						   "input must be a string or an array of strings");
		if (!it)
			return mock_refuse(r, 400, NULL, "input must not be empty");
	} else if (mock_j_type(input) != '"') {
		return mock_refuse(r, 400, NULL, "input must be a string or an array of strings");
	}
	if (v.p && mock_j_type(v) != 'n' && !mock_j_int(v, 1, AIGW_MOCK_DIMENSIONS_MAX, &dims))
		return mock_refuse(r, 400, NULL, "dimensions must be between 1 and 4096");
	j->dims = (int)dims;
	j->input = input;
	return true;
}

static bool check(struct job *j, struct jv root, struct refusal *r)
{
	if (j->endpoint == EP_OLLAMA_CHAT)
		return check_chat(j, root, r);
	if (j->endpoint == EP_GENERATE)
		return check_generate(j, root, r);
	return check_embed(j, root, r);
}

/* `{"model":M,"created_at":T,` */
static void put_start(struct aigw_buf *b, const struct job *j)
{
	PUT_LIT(b, "{\"model\":");
	mock_put_jv(b, j->model);
	PUT_LIT(b, ",\"created_at\":\"");
	mock_put_iso_time(b, j->mw, j->created);
	PUT_LIT(b, "\",");
}

static void put_tool_calls(struct aigw_buf *b, const struct job *j)
{
	PUT_LIT(b, ",\"tool_calls\":[{\"function\":{\"name\":");
	mock_put_jv(b, j->tool_name);
	PUT_LIT(b, ",\"arguments\":");
	mock_put_tool_args(b, j, 0);
	PUT_LIT(b, "}}]");
}

/* The last line (or the whole answer): reason, counts and durations in
 * nanoseconds, measured from the request's first byte. */
static void put_done(struct aigw_buf *b, const struct job *j, bool whole)
{
	uint64_t now = aigw_ev_now_us(j->mw->ev), start = j->req->start_us;
	uint64_t total = now > start ? now - start : 0;
	uint64_t prompt = j->stream && j->tokens_at_us > start ? j->tokens_at_us - start : total;

	if (prompt > total)
		prompt = total;
	put_start(b, j);
	if (j->endpoint == EP_OLLAMA_CHAT) {
		PUT_LIT(b, "\"message\":{\"role\":\"assistant\",\"content\":\"");
		if (whole && !j->tool)
			mock_put_text(b, j);
		aigw_buf_putc(b, '"');
		if (whole && j->tool)
			put_tool_calls(b, j);
		PUT_LIT(b, "},");
	} else {
		PUT_LIT(b, "\"response\":\"");
		if (whole)
			mock_put_text(b, j);
		PUT_LIT(b, "\",");
	}
	PUT_LIT(b, "\"done\":true,\"done_reason\":\"");
	if (j->truncated)
		PUT_LIT(b, "length");
	else
		PUT_LIT(b, "stop");
	PUT_LIT(b, "\",\"total_duration\":");
	aigw_buf_put_u64(b, total * 1000);
	PUT_LIT(b, ",\"load_duration\":0,\"prompt_eval_count\":");
	aigw_buf_put_u64(b, j->prompt_tokens);
	PUT_LIT(b, ",\"prompt_eval_duration\":");
	aigw_buf_put_u64(b, prompt * 1000);
	PUT_LIT(b, ",\"eval_count\":");
	aigw_buf_put_u64(b, (uint64_t)j->n_tokens);
	PUT_LIT(b, ",\"eval_duration\":");
	aigw_buf_put_u64(b, (total - prompt) * 1000);
	PUT_LIT(b, "}\n");
}

static void put_body(struct aigw_buf *b, struct job *j)
{
	uint64_t tokens = 0;
	struct jv el;
	size_t it = 0;
	int index = 0;

	if (j->endpoint != EP_EMBED) {
		put_done(b, j, true);
		return;
	}
	PUT_LIT(b, "{\"model\":");
	mock_put_jv(b, j->model);
	PUT_LIT(b, ",\"embeddings\":[");
	if (mock_j_type(j->input) == '"') {
		mock_put_vector(b, j, mock_input_hash(j->input, &tokens));
	} else {
		while (mock_j_next(j->input, &it, NULL, &el)) {
			if (index++)
				aigw_buf_putc(b, ',');
			mock_put_vector(b, j, mock_input_hash(el, &tokens));
		}
	}
	PUT_LIT(b, "],\"total_duration\":");
	{
		uint64_t now = aigw_ev_now_us(j->mw->ev), start = j->req->start_us;
		aigw_buf_put_u64(b, now > start ? (now - start) * 1000 : 0);
	}
	PUT_LIT(b, ",\"load_duration\":0,\"prompt_eval_count\":");
	aigw_buf_put_u64(b, tokens);
	PUT_LIT(b, "}\n");
}

static void put_nothing(struct aigw_buf *b, const struct job *j)
{
	(void)b;
	(void)j;
}

static void put_event(struct aigw_buf *b, const struct job *j, int i)
{
	put_start(b, j);
	if (j->endpoint == EP_OLLAMA_CHAT) {
		PUT_LIT(b, "\"message\":{\"role\":\"assistant\",\"content\":\"");
		if (!j->tool)
			mock_put_token(b, j, i);
		aigw_buf_putc(b, '"');
		if (j->tool)
			put_tool_calls(b, j);
		PUT_LIT(b, "},");
	} else {
		PUT_LIT(b, "\"response\":\"");
		mock_put_token(b, j, i);
		PUT_LIT(b, "\",");
	}
	PUT_LIT(b, "\"done\":false}\n");
}

static void put_end(struct aigw_buf *b, const struct job *j)
{
	put_done(b, j, false);
}

const struct mock_dialect mock_ollama = {
	.name = "ollama",
	.default_models = default_models,
	.put_models = put_models,
	.route = route,
	.check = check,
	.respond_error = respond_error,
	.put_body = put_body,
	.put_head = put_nothing,
	.put_event = put_event,
	.put_end = put_end,
	.stream_headers = ndjson_headers,
};
