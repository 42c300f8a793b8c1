/* pstream_fuzz: libFuzzer target for the provider adapters' answer and
 * stream translators (lib/provider/), through the generic interface
 * (aigw_pstream_*, aigw_provider_answer), so that every adapter is
 * covered the same way.
 *
 * The first input byte picks the call:
 *   bits 0-1  provider: 0 openai (include_usage 0, so that its filter
 *             runs), 1 anthropic, 2 gemini, 3 ollama
 *   bits 2-3  api: 0 and 3 chat, 1 completions, 2 embeddings
 *   bit 4     include_usage (not for openai)
 *   bit 5     the rest is also a client's request: built for the
 *             provider, for every api, streamed when bit 6 is set
 * The second byte places the split point: at byte2 * len / 256 of the
 * rest. The rest is the upstream's answer. It is translated as a stream
 * twice, whole and in two pieces (each piece a fresh heap copy of exactly
 * its bytes, so ASan sees any read past the end), and the two runs must
 * agree byte for byte, in verdict, usage and flags. It is also translated
 * as a whole answer with status 200 and 400. The OpenAI-shaped output the
 * translating adapters write must be JSON event by event; the openai
 * adapter relays upstream bytes, so only it is exempt; likewise a built
 * request body must be JSON unless the adapter passes the client's on. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "buf.h"
#include "node.h"
#include "provider.h"
#include "provider/messages.h"
#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "check failed: %s (line %d)\n",   \
				#cond, __LINE__);                          \
			abort();                                           \
		}                                                          \
	} while (0)

struct run {
	struct aigw_buf out;
	int rc;
	struct aigw_usage usage;
	bool output, finished;
};

/* Feeds a heap copy of exactly [p, p + n). */
static int feed_copy(struct aigw_pstream *s, const char *p, size_t n, struct aigw_buf *out,
		     struct aigw_err *err)
{
	char *copy = malloc(n ? n : 1);
	int rc;

	CHECK(copy);
	if (n)
		memcpy(copy, p, n);
	rc = aigw_pstream_feed(s, copy, n, out, err);
	free(copy);
	return rc;
}

static void stream(const struct aigw_provider_call *c, const char *p, size_t len, size_t cut,
		   struct run *r)
{
	struct aigw_pstream s;
	struct aigw_err err = { 0 };

	aigw_buf_init(&r->out);
	CHECK(aigw_pstream_init(&s, c, &err) == 0);
	r->rc = feed_copy(&s, p, cut, &r->out, &err);
	if (r->rc == 0 && cut < len)
		r->rc = feed_copy(&s, p + cut, len - cut, &r->out, &err);
	if (r->rc == 0)
		r->rc = aigw_pstream_finish(&s, &r->out, &err);
	CHECK(r->rc <= 0);
	CHECK(r->rc == 0 || err.msg[0]);
	r->usage = s.usage;
	r->output = s.output;
	r->finished = s.finished;
	aigw_pstream_release(&s);
}

static void check_usage(const struct aigw_usage *u)
{
	CHECK(u->prompt_tokens >= -1 && u->completion_tokens >= -1);
	CHECK(u->cache_read_tokens >= -1 && u->cache_write_tokens >= -1);
}

static int json_event(const struct aigw_sse_event *ev, void *arg)
{
	cJSON *j;

	(void)arg;
	if (ev->data_len == 6 && memcmp(ev->data, "[DONE]", 6) == 0)
		return 0;
	j = cJSON_ParseWithLength(ev->data, ev->data_len);
	if (!j) {
		fprintf(stderr, "an event is not JSON: %s\n", ev->data);
		abort();
	}
	cJSON_Delete(j);
	return 0;
}

/* The client's stream: SSE events whose data is JSON or [DONE]. */
static void check_sse(const struct aigw_buf *out)
{
	struct aigw_sse p;

	aigw_sse_init(&p, 64u << 20);
	CHECK(aigw_sse_feed(&p, out->data, out->len, json_event, NULL) == 0);
	aigw_sse_release(&p);
}

static void whole_answer(const struct aigw_provider_call *c, int status, const char *p,
			 size_t len, bool translating)
{
	struct aigw_buf out = AIGW_BUF_INIT;
	struct aigw_usage u;
	struct aigw_err err = { 0 };
	char *copy = malloc(len ? len : 1);
	int st = status, rc;

	CHECK(copy);
	if (len)
		memcpy(copy, p, len);
	rc = aigw_provider_answer(c, &st, copy, len, &out, &u, &err);
	free(copy);
	CHECK(rc <= 0);
	check_usage(&u);
	if (rc == 0) {
		cJSON *j;
		CHECK(st >= 100 && st <= 599);
		/* Errors are always rewritten or checked; successes of the
		 * translating adapters are written by them. */
		if (translating || status >= 300) {
			j = cJSON_ParseWithLength(out.data, out.len);
			if (!j) {
				fprintf(stderr, "status %d: the answer is not JSON: %s\n", status,
					out.data);
				abort();
			}
			cJSON_Delete(j);
		}
	} else {
		CHECK(err.msg[0]);
	}
	aigw_buf_release(&out);
}

/* The rest as a client's request body, built for every api. */
static void build_all(struct aigw_provider_call c, const char *p, size_t len, bool stream)
{
	static const int apis[] = { AIGW_API_CHAT, AIGW_API_COMPLETIONS, AIGW_API_EMBEDDINGS };
	char *copy = malloc(len ? len : 1);

	CHECK(copy);
	if (len)
		memcpy(copy, p, len);
	c.stream = stream;
	for (size_t i = 0; i < sizeof(apis) / sizeof(apis[0]); i++) {
		struct aigw_provider_req req;
		struct aigw_err err = { 0 };
		int rc;

		c.api = apis[i];
		aigw_provider_req_init(&req);
		rc = aigw_provider_build(&c, copy, len, &req, &err);
		CHECK(rc == 0 || rc == AIGW_EINVAL || rc == AIGW_ENOTFOUND);
		if (rc == 0) {
			CHECK(req.url.len > 0 && strlen(req.url.data) == req.url.len);
			if (!req.passthrough && c.provider != AIGW_PROVIDER_OPENAI) {
				cJSON *j = cJSON_ParseWithLength(req.body.data, req.body.len);
				if (!j) {
					fprintf(stderr, "the built body is not JSON: %s\n",
						req.body.data);
					abort();
				}
				cJSON_Delete(j);
			}
		} else {
			CHECK(err.msg[0]);
		}
		aigw_provider_req_release(&req);
	}
	free(copy);
}

/* The inbound Anthropic API (lib/provider/messages.c): the rest as an
 * OpenAI chunk stream turned into Anthropic events (whole and split must
 * agree), as a Messages request, and as a whole OpenAI answer. */
static void messages_stream(const char *p, size_t len, size_t at, struct aigw_buf *out, int *rc)
{
	struct aigw_messages_stream s;
	struct aigw_err err = { 0 };
	char *copy = malloc(len ? len : 1);

	CHECK(copy);
	if (len)
		memcpy(copy, p, len);
	aigw_buf_init(out);
	aigw_messages_stream_init(&s, "fuzz-model");
	*rc = aigw_messages_stream_feed(&s, copy, at, out, &err);
	if (*rc == 0)
		*rc = aigw_messages_stream_feed(&s, copy + at, len - at, out, &err);
	if (*rc == 0)
		*rc = aigw_messages_stream_finish(&s, out, &err);
	CHECK(*rc == 0 || err.msg[0]);
	aigw_messages_stream_release(&s);
	free(copy);
}

/* Fresh message ids ("msg_" and 24 hex digits, made when the upstream
 * gave none) are random: blanked before two runs are compared. */
static void blank_fresh_ids(struct aigw_buf *b)
{
	char *q = b->data;

	while (q && (q = memmem(q, b->len - (size_t)(q - b->data), "\"msg_", 5))) {
		size_t n = 0;
		q += 5;
		while (q + n < b->data + b->len && strchr("0123456789abcdef", q[n]) && q[n])
			n++;
		if (n == 24)
			memset(q, 'x', n);
		q += n;
	}
}

static void messages(const char *p, size_t len, size_t cut)
{
	struct aigw_buf a, b, out = AIGW_BUF_INIT;
	struct aigw_err err = { 0 };
	char model[129];
	bool stream;
	int ra, rb, st;
	char *copy;

	messages_stream(p, len, len, &a, &ra);
	messages_stream(p, len, cut, &b, &rb);
	blank_fresh_ids(&a);
	blank_fresh_ids(&b);
	if (ra != rb || a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
		fprintf(stderr, "messages: whole (rc %d):\n%s\nsplit at %zu (rc %d):\n%s\n", ra,
			a.data, cut, rb, b.data);
		abort();
	}
	check_sse(&a);
	aigw_buf_release(&a);
	aigw_buf_release(&b);
	copy = malloc(len ? len : 1);
	CHECK(copy);
	if (len)
		memcpy(copy, p, len);
	if (aigw_messages_request(copy, len, &out, model, sizeof(model), &stream, &err) == 0) {
		cJSON *j = cJSON_ParseWithLength(out.data, out.len);
		CHECK(j);
		cJSON_Delete(j);
	} else {
		CHECK(err.msg[0]);
	}
	for (int i = 0; i < 2; i++) {
		aigw_buf_reset(&out);
		st = i ? 400 : 200;
		if (aigw_messages_answer(&st, copy, len, &out, &err) == 0) {
			cJSON *j = cJSON_ParseWithLength(out.data, out.len);
			CHECK(j && st >= 200 && st <= 599);
			cJSON_Delete(j);
		}
	}
	aigw_buf_release(&out);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int providers[] = { AIGW_PROVIDER_OPENAI, AIGW_PROVIDER_ANTHROPIC,
					 AIGW_PROVIDER_GEMINI, AIGW_PROVIDER_OLLAMA };
	static const int apis[] = { AIGW_API_CHAT, AIGW_API_COMPLETIONS, AIGW_API_EMBEDDINGS,
				    AIGW_API_CHAT };
	struct aigw_provider_call c = { 0 };
	struct run whole, split;
	const char *p = (const char *)data + 2;
	size_t len, cut;
	bool translating;

	if (size < 2)
		return 0;
	len = size - 2;
	cut = (size_t)data[1] * len / 256;
	if (data[0] & 128) {
		messages(p, len, cut);
		return 0;
	}
	c.provider = providers[data[0] & 3];
	c.api = apis[(data[0] >> 2) & 3];
	translating = c.provider != AIGW_PROVIDER_OPENAI;
	c.base_url = "http://127.0.0.1:9";
	c.credential = "sk-fuzz";
	c.model = "fuzz-model";
	c.stream = true;
	c.include_usage = translating && (data[0] & 16);
	c.created = 1700000000;
	c.id = "chatcmpl-fuzz";

	if (c.api != AIGW_API_EMBEDDINGS) {
		stream(&c, p, len, len, &whole);
		stream(&c, p, len, cut, &split);
		if (whole.rc != split.rc || whole.out.len != split.out.len ||
		    memcmp(whole.out.data, split.out.data, whole.out.len) != 0) {
			fprintf(stderr, "whole (rc %d):\n%s\nsplit at %zu (rc %d):\n%s\n", whole.rc,
				whole.out.data, cut, split.rc, split.out.data);
			abort();
		}
		CHECK(memcmp(&whole.usage, &split.usage, sizeof(whole.usage)) == 0);
		CHECK(whole.output == split.output && whole.finished == split.finished);
		check_usage(&whole.usage);
		/* A stream that ended cleanly owes the client its [DONE]. */
		if (whole.rc == 0)
			CHECK(whole.finished);
		if (translating)
			check_sse(&whole.out);
		aigw_buf_release(&whole.out);
		aigw_buf_release(&split.out);
	}

	if (data[0] & 32)
		build_all(c, p, len, data[0] & 64);
	c.stream = false;
	c.include_usage = false;
	whole_answer(&c, 200, p, len, translating);
	whole_answer(&c, 400, p, len, translating);
	return 0;
}
