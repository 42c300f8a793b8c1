/* openai: OpenAI, any OpenAI-compatible server (vLLM, llama.cpp, LM
 * Studio, Groq, Together, Mistral, DeepSeek...) and Azure OpenAI.
 *
 * The client's body goes upstream as it is, with two edits made in the
 * text: "model" is renamed when an alias resolved to another name, and a
 * stream asks for stream_options.include_usage so that its usage is never
 * unknown. When the client had not asked for that, the stream is filtered
 * on the way back: the usage chunk is read and dropped and the
 * "usage":null members it adds to the other chunks are removed, so the
 * client sees the stream it asked for.
 *
 * Azure: the node's URL is the resource (https://NAME.openai.azure.com),
 * the model names the deployment, the credential goes in "api-key", and
 * api-version is the one in the node's URL (?api-version=...) or
 * AZURE_API_VERSION. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "node.h"
#include "provider.h"
#include "provider/oai.h"
#include "sse.h"

#define AZURE_API_VERSION "2024-10-21"

static const char *api_path(int api)
{
	switch (api) {
	case AIGW_API_CHAT: return "/chat/completions";
	case AIGW_API_COMPLETIONS: return "/completions";
	default: return "/embeddings";
	}
}

/* base without a trailing '/' and without its query; *query gets the
 * query ("?..." or ""). */
static size_t split_base(const char *base, const char **query)
{
	const char *q = strchr(base, '?');
	size_t n = q ? (size_t)(q - base) : strlen(base);

	*query = q ? q : "";
	while (n && base[n - 1] == '/')
		n--;
	return n;
}

static void build_url(const struct aigw_provider_call *c, struct aigw_buf *url)
{
	const char *query;
	size_t n = split_base(c->base_url, &query);

	aigw_buf_append(url, c->base_url, n);
	if (c->provider == AIGW_PROVIDER_AZURE) {
		const char *v = strstr(query, "api-version=");
		aigw_buf_puts(url, "/openai/deployments/");
		for (const char *m = c->model; *m; m++) {
			/* A deployment name is [A-Za-z0-9._-]; anything else is
			 * escaped so that it cannot change the URL's shape. */
			unsigned char ch = (unsigned char)*m;
			if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-')
				aigw_buf_putc(url, (char)ch);
			else
				aigw_buf_printf(url, "%%%02X", ch);
		}
		aigw_buf_puts(url, api_path(c->api));
		aigw_buf_puts(url, "?api-version=");
		if (v) {
			v += 12;
			aigw_buf_append(url, v, strcspn(v, "&"));
		} else {
			aigw_buf_puts(url, AZURE_API_VERSION);
		}
		return;
	}
	/* A base ending in /v1 is the API root; any other is put before the
	 * whole /v1/... path. */
	if (!(n >= 3 && memcmp(c->base_url + n - 3, "/v1", 3) == 0))
		aigw_buf_puts(url, "/v1");
	aigw_buf_puts(url, api_path(c->api));
	aigw_buf_puts(url, query);
}

struct scan {
	const struct aigw_json_member *model, *stream_options;
	struct aigw_json_member m_model, m_so;
	bool usage_asked;
	const char *first;  /* the first member's key quote, or NULL */
};

static int scan_member(const struct aigw_json_member *m, void *arg)
{
	struct scan *s = arg;

	if (!s->first)
		s->first = m->key - 1;
	if (aigw_json_key_is(m, "model")) {
		s->m_model = *m;
		s->model = &s->m_model;
	} else if (aigw_json_key_is(m, "stream_options")) {
		s->m_so = *m;
		s->stream_options = &s->m_so;
	}
	return 0;
}

static int so_member(const struct aigw_json_member *m, void *arg)
{
	if (aigw_json_key_is(m, "include_usage") && m->value_len == 4 &&
	    memcmp(m->value, "true", 4) == 0)
		*(bool *)arg = true;
	return 0;
}

/* An edit of the body text: replace [at, at + len) by with. */
struct edit {
	const char *at;
	size_t len;
	struct aigw_buf with;
};

static int build(const struct aigw_provider_call *c, const char *body, size_t len,
		 struct aigw_provider_req *out, struct aigw_err *err)
{
	struct scan s = { 0 };
	struct edit e[2];
	size_t ne = 0;
	const char *p = body;
	bool model_ok = true;
	char model[256];

	build_url(c, &out->url);
	aigw_buf_puts(&out->fields, "Content-Type: application/json\r\n");
	if (c->credential) {
		aigw_buf_puts(&out->fields, c->provider == AIGW_PROVIDER_AZURE
						    ? "api-key: " : "Authorization: Bearer ");
		aigw_buf_puts(&out->fields, c->credential);
		aigw_buf_puts(&out->fields, "\r\n");
	}
	out->passthrough = true;
	/* The common case: the caller read the body already and nothing
	 * needs changing. */
	if (c->client_model && (!c->model || strcmp(c->client_model, c->model) == 0) &&
	    (!c->stream || c->include_usage || c->api == AIGW_API_EMBEDDINGS)) {
		out->same_body = true;
		return 0;
	}
	if (aigw_json_object(body, len, scan_member, &s) < 0)
		return aigw_err_set(err, AIGW_EINVAL, "the request body is not a JSON object");

	if (s.model && c->model)
		model_ok = aigw_json_string(s.model->value, s.model->value_len, model,
					    sizeof(model)) && strcmp(model, c->model) == 0;
	if (!model_ok) {
		e[ne].at = s.model->value;
		e[ne].len = s.model->value_len;
		aigw_buf_init(&e[ne].with);
		aigw_oai_put_string(&e[ne].with, c->model, strlen(c->model));
		ne++;
	}
	if (c->stream && c->api != AIGW_API_EMBEDDINGS && !c->include_usage) {
		bool asked = false;
		if (s.stream_options && s.stream_options->value[0] == '{')
			aigw_json_object(s.stream_options->value, s.stream_options->value_len,
					 so_member, &asked);
		if (!asked) {
			aigw_buf_init(&e[ne].with);
			if (s.stream_options) {
				/* Keep the client's other options, set include_usage. */
				cJSON *so = cJSON_ParseWithLength(s.stream_options->value,
								  s.stream_options->value_len);
				char *t;
				if (!cJSON_IsObject(so)) {
					cJSON_Delete(so);
					so = cJSON_CreateObject();
				}
				cJSON_DeleteItemFromObjectCaseSensitive(so, "include_usage");
				cJSON_AddTrueToObject(so, "include_usage");
				t = cJSON_PrintUnformatted(so);
				aigw_buf_puts(&e[ne].with, t);
				cJSON_free(t);
				cJSON_Delete(so);
				e[ne].at = s.stream_options->value;
				e[ne].len = s.stream_options->value_len;
			} else {
				/* Inserted as the first member (after the '{'). */
				e[ne].at = s.first ? s.first : memchr(body, '}', len);
				e[ne].len = 0;
				aigw_buf_puts(&e[ne].with, "\"stream_options\":{\"include_usage\":true}");
				if (s.first)
					aigw_buf_putc(&e[ne].with, ',');
			}
			ne++;
			out->passthrough = false; /* the stream is filtered back */
		}
	}
	if (ne == 2 && e[1].at < e[0].at) {
		struct edit t = e[0];
		e[0] = e[1];
		e[1] = t;
	}
	aigw_buf_grow(&out->body, len + 64);
	for (size_t i = 0; i < ne; i++) {
		aigw_buf_append(&out->body, p, (size_t)(e[i].at - p));
		aigw_buf_append(&out->body, e[i].with.data, e[i].with.len);
		p = e[i].at + e[i].len;
		aigw_buf_release(&e[i].with);
	}
	aigw_buf_append(&out->body, p, (size_t)(body + len - p));
	return 0;
}

/* ------------------------------------------------------------ answers */

static int has_error_member(const struct aigw_json_member *m, void *arg)
{
	(void)arg;
	return aigw_json_key_is(m, "error") && m->value[0] == '{';
}

static int answer(const struct aigw_provider_call *c, int *status, const char *body, size_t len,
		  struct aigw_buf *out, struct aigw_usage *u, struct aigw_err *err)
{
	(void)c;
	if (*status >= 200 && *status < 300) {
		if (aigw_oai_read_usage(body, len, u) < 0)
			return aigw_err_set(err, AIGW_EFAIL, "the answer is not a JSON object");
		aigw_buf_append(out, body, len);
		return 0;
	}
	if (aigw_json_object(body, len, has_error_member, NULL) == 1) {
		aigw_buf_append(out, body, len);
		return 0;
	}
	/* Not OpenAI's shape (a proxy's HTML page, plain text): wrapped. */
	{
		char quote[AIGW_OAI_QUOTE_MAX + 1];
		aigw_oai_error(out, aigw_oai_error_type(*status), NULL, aigw_oai_quote(quote, body, len));
	}
	return 0;
}

/* ------------------------------------------------------------ stream */

/* Only used when the gateway asked for the usage the client did not: the
 * usage chunk is read and dropped, and ,"usage":null is taken out of the
 * others. */
struct filter {
	struct aigw_sse sse;
	struct aigw_buf *out;
	struct aigw_pstream *s;
};

static void *stream_new(struct aigw_pstream *s)
{
	struct filter *f = calloc(1, sizeof(*f));
	if (!f)
		abort();
	aigw_sse_init(&f->sse, 0);
	f->s = s;
	return f;
}

static void stream_free(void *state)
{
	struct filter *f = state;
	aigw_sse_release(&f->sse);
	free(f);
}

static int filter_event(const struct aigw_sse_event *ev, void *arg)
{
	struct filter *f = arg;
	const char *d = ev->data, *p;
	size_t n = ev->data_len;

	if (!f->s->output && aigw_oai_chunk_has_output(d, n))
		f->s->output = true;
	if (n == 6 && memcmp(d, "[DONE]", 6) == 0) {
		f->s->finished = true;
		aigw_oai_done(f->out);
		return 0;
	}
	if ((p = memmem(d, n, "\"usage\":{", 9))) {
		aigw_oai_read_usage(d, n, &f->s->usage);
		if (memmem(d, n, "\"choices\":[]", 12))
			return 0; /* the usage chunk the client did not ask for */
	}
	aigw_buf_puts(f->out, "data: ");
	while ((p = memmem(d, n, ",\"usage\":null", 13))) {
		aigw_buf_append(f->out, d, (size_t)(p - d));
		n -= (size_t)(p - d) + 13;
		d = p + 13;
	}
	aigw_buf_append(f->out, d, n);
	aigw_buf_puts(f->out, "\n\n");
	return 0;
}

static int stream_feed(struct aigw_pstream *s, const char *data, size_t len,
		       struct aigw_buf *out, struct aigw_err *err)
{
	struct filter *f = s->state;

	f->out = out;
	if (aigw_sse_feed(&f->sse, data, len, filter_event, f) < 0)
		return aigw_err_set(err, AIGW_EFAIL, "a stream event is larger than 1 MiB");
	return 0;
}

static int stream_finish(struct aigw_pstream *s, struct aigw_buf *out, struct aigw_err *err)
{
	(void)err;
	if (!s->finished) {
		s->finished = true;
		aigw_oai_done(out);
	}
	return 0;
}

const struct aigw_provider_ops aigw_provider_openai = {
	"openai", build, answer, stream_new, stream_feed, stream_finish, stream_free,
};
