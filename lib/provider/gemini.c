/* gemini: placeholder until the adapter lands (branch work in progress). */
#include "provider.h"

static int build(const struct aigw_provider_call *c, const char *body, size_t len,
		 struct aigw_provider_req *out, struct aigw_err *err)
{
	(void)c; (void)body; (void)len; (void)out;
	return aigw_err_set(err, AIGW_ENOTFOUND, "the gemini adapter is not built yet");
}

static int answer(const struct aigw_provider_call *c, int *status, const char *body, size_t len,
		  struct aigw_buf *out, struct aigw_usage *u, struct aigw_err *err)
{
	(void)c; (void)status; (void)body; (void)len; (void)out; (void)u;
	return aigw_err_set(err, AIGW_EFAIL, "the gemini adapter is not built yet");
}

static void *stream_new(struct aigw_pstream *s) { (void)s; return NULL; }
static int stream_feed(struct aigw_pstream *s, const char *d, size_t n, struct aigw_buf *out,
		       struct aigw_err *err)
{
	(void)s; (void)d; (void)n; (void)out;
	return aigw_err_set(err, AIGW_EFAIL, "the gemini adapter is not built yet");
}
static int stream_finish(struct aigw_pstream *s, struct aigw_buf *out, struct aigw_err *err)
{
	(void)s; (void)out; (void)err;
	return 0;
}
static void stream_free(void *st) { (void)st; }

const struct aigw_provider_ops aigw_provider_gemini = {
	"gemini", build, answer, stream_new, stream_feed, stream_finish, stream_free,
};
