/* provider: see provider.h. The adapters live in lib/provider/. */
#include "provider.h"

#include <stdlib.h>
#include <string.h>

#include "node.h"

extern const struct aigw_provider_ops aigw_provider_openai;
extern const struct aigw_provider_ops aigw_provider_anthropic;
extern const struct aigw_provider_ops aigw_provider_gemini;
extern const struct aigw_provider_ops aigw_provider_ollama;

void aigw_usage_init(struct aigw_usage *u)
{
	u->prompt_tokens = u->completion_tokens = -1;
	u->cache_read_tokens = u->cache_write_tokens = -1;
}

void aigw_provider_req_init(struct aigw_provider_req *r)
{
	aigw_buf_init(&r->url);
	aigw_buf_init(&r->fields);
	aigw_buf_init(&r->body);
	r->same_body = r->passthrough = false;
}

void aigw_provider_req_release(struct aigw_provider_req *r)
{
	if (r->fields.len)
		memset(r->fields.data, 0, r->fields.len);
	aigw_buf_release(&r->url);
	aigw_buf_release(&r->fields);
	aigw_buf_release(&r->body);
}

const struct aigw_provider_ops *aigw_provider_ops_for(int provider)
{
	switch (provider) {
	case AIGW_PROVIDER_OPENAI:
	case AIGW_PROVIDER_OPENAI_COMPATIBLE:
	case AIGW_PROVIDER_AZURE:
		return &aigw_provider_openai;
	case AIGW_PROVIDER_ANTHROPIC:
		return &aigw_provider_anthropic;
	case AIGW_PROVIDER_GEMINI:
		return &aigw_provider_gemini;
	case AIGW_PROVIDER_OLLAMA:
		return &aigw_provider_ollama;
	default:
		return NULL;
	}
}

static const struct aigw_provider_ops *ops_of(const struct aigw_provider_call *c,
					      struct aigw_err *err)
{
	const struct aigw_provider_ops *ops = aigw_provider_ops_for(c->provider);
	if (!ops)
		aigw_err_set(err, AIGW_EINVAL, "provider %d has no adapter", c->provider);
	return ops;
}

int aigw_provider_build(const struct aigw_provider_call *c, const char *body, size_t len,
			struct aigw_provider_req *out, struct aigw_err *err)
{
	const struct aigw_provider_ops *ops = ops_of(c, err);
	return ops ? ops->build(c, body, len, out, err) : AIGW_EINVAL;
}

int aigw_provider_answer(const struct aigw_provider_call *c, int *status, const char *body,
			 size_t len, struct aigw_buf *out, struct aigw_usage *u,
			 struct aigw_err *err)
{
	const struct aigw_provider_ops *ops = ops_of(c, err);
	aigw_usage_init(u);
	return ops ? ops->answer(c, status, body, len, out, u, err) : AIGW_EINVAL;
}

int aigw_pstream_init(struct aigw_pstream *s, const struct aigw_provider_call *c,
		      struct aigw_err *err)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops_of(c, err);
	if (!s->ops)
		return AIGW_EINVAL;
	s->call = *c;
	aigw_usage_init(&s->usage);
	s->state = s->ops->stream_new(s);
	return 0;
}

int aigw_pstream_feed(struct aigw_pstream *s, const char *data, size_t len,
		      struct aigw_buf *out, struct aigw_err *err)
{
	return s->ops->stream_feed(s, data, len, out, err);
}

int aigw_pstream_finish(struct aigw_pstream *s, struct aigw_buf *out, struct aigw_err *err)
{
	return s->ops->stream_finish(s, out, err);
}

void aigw_pstream_release(struct aigw_pstream *s)
{
	if (s->ops && s->state)
		s->ops->stream_free(s->state);
	s->state = NULL;
	s->ops = NULL;
}
