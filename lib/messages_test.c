/* Tests for the inbound Anthropic Messages API translation: every
 * directory testdata/messages/<case>/ is one golden test (see
 * testdata/messages/README for the files a case holds), plus unit tests
 * of what the goldens cannot show (error types, fresh ids). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "buf.h"
#include "provider/messages.h"
#include "rand.h"
#include "sse.h"
#include "str.h"
#include "golden.h"

#define ROOT "testdata/messages"

struct golden {
	char dir[1024];
	char name[600];
};






/* Feeds the stream in pieces of `piece` bytes (0: whole), then finishes. */
static int run_stream(const char *model, const struct aigw_buf *in, size_t piece,
		      struct aigw_buf *out, struct aigw_err *err)
{
	struct aigw_messages_stream s;
	int rc = 0;

	aigw_messages_stream_init(&s, model);
	for (size_t at = 0; rc == 0 && at < in->len;) {
		size_t n = piece && in->len - at > piece ? piece : in->len - at;
		rc = aigw_messages_stream_feed(&s, in->data + at, n, out, err);
		at += n;
	}
	if (rc == 0)
		rc = aigw_messages_stream_finish(&s, out, err);
	aigw_messages_stream_release(&s);
	return rc;
}

static void check_request(const char *dir, const char *cn, const struct aigw_buf *req)
{
	struct aigw_buf out = AIGW_BUF_INIT, want = AIGW_BUF_INIT;
	struct aigw_err err = { 0 };
	char model[256];
	bool stream = true;
	int rc = aigw_messages_request(req->data, req->len, &out, model, sizeof(model), &stream,
				       &err);

	if (slurp(dir, "expect.request_error", &want)) {
		chomp(&want);
		if (rc != AIGW_EINVAL)
			fail_msg("%s: the request should fail with '%s' (rc %d)", cn, want.data, rc);
		if (!strstr(err.msg, want.data))
			fail_msg("%s: request error '%s', want '%s'", cn, err.msg, want.data);
		goto end;
	}
	if (rc != 0)
		fail_msg("%s: request failed: %s", cn, err.msg);
	aigw_buf_reset(&want);
	if (slurp(dir, "upstream.json", &want))
		assert_json_equal("upstream body", cn, out.data, out.len, want.data, want.len);
	aigw_buf_reset(&want);
	if (slurp(dir, "expect.model", &want)) {
		chomp(&want);
		if (strcmp(model, want.data) != 0)
			fail_msg("%s: model '%s', want '%s'", cn, model, want.data);
	}
	aigw_buf_reset(&want);
	if (slurp(dir, "expect.stream", &want) && stream != (atoi(want.data) == 1))
		fail_msg("%s: stream %d, want %s", cn, stream, want.data);
end:
	aigw_buf_release(&out);
	aigw_buf_release(&want);
}

static void check_answer(const char *dir, const char *cn, const struct aigw_buf *answer)
{
	struct aigw_buf out = AIGW_BUF_INIT, want = AIGW_BUF_INIT, st = AIGW_BUF_INIT;
	struct aigw_err err = { 0 };
	int status = 200, want_status, rc;

	if (slurp(dir, "answer.status", &st))
		status = atoi(st.data);
	want_status = status;
	aigw_buf_reset(&st);
	if (slurp(dir, "expect.status", &st))
		want_status = atoi(st.data);
	rc = aigw_messages_answer(&status, answer->data, answer->len, &out, &err);
	if (slurp(dir, "expect.answer_error", &want)) {
		chomp(&want);
		if (rc != AIGW_EFAIL || !strstr(err.msg, want.data))
			fail_msg("%s: the answer should fail with '%s' (rc %d, '%s')", cn, want.data,
				 rc, err.msg);
		goto end;
	}
	if (rc != 0)
		fail_msg("%s: answer failed: %s", cn, err.msg);
	if (status != want_status)
		fail_msg("%s: status %d, want %d", cn, status, want_status);
	aigw_buf_reset(&want);
	if (!slurp(dir, "expect.json", &want))
		fail_msg("%s: an answer case needs expect.json", cn);
	assert_json_equal("answer", cn, out.data, out.len, want.data, want.len);
end:
	aigw_buf_release(&out);
	aigw_buf_release(&want);
	aigw_buf_release(&st);
}

static void check_stream(const char *dir, const char *cn, const struct aigw_buf *sse)
{
	struct aigw_buf out = AIGW_BUF_INIT, again = AIGW_BUF_INIT, want = AIGW_BUF_INIT,
			model = AIGW_BUF_INIT;
	struct aigw_err err = { 0 };
	static const size_t pieces[] = { 1, 7, 64 };
	bool failing;
	int rc;

	if (slurp(dir, "model", &model))
		chomp(&model);
	else
		aigw_buf_puts(&model, "claude-test");
	failing = slurp(dir, "expect.answer_error", &want);
	chomp(&want);
	rc = run_stream(model.data, sse, 0, &out, &err);
	if (failing) {
		if (rc != AIGW_EFAIL || !strstr(err.msg, want.data))
			fail_msg("%s: the stream should fail with '%s' (rc %d, '%s')", cn, want.data,
				 rc, err.msg);
	} else if (rc != 0) {
		fail_msg("%s: stream failed: %s", cn, err.msg);
	}
	/* Any split gives the same bytes (and the same failure). */
	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		aigw_buf_reset(&again);
		assert_int_equal(run_stream(model.data, sse, pieces[i], &again, &err), rc);
		if (again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
			fail_msg("%s: %zu-byte pieces give other bytes:\n%s\n---\n%s", cn, pieces[i],
				 again.data, out.data);
	}
	/* What came before a failure is checked too, when the case says. */
	aigw_buf_reset(&want);
	if (slurp(dir, "expect.sse", &want)) {
		/* Every event is whole: the text ends at a blank line. */
		if (out.len && (out.len < 2 || memcmp(out.data + out.len - 2, "\n\n", 2) != 0))
			fail_msg("%s: the stream does not end with a blank line:\n%s", cn, out.data);
		assert_sse_equal(cn, &out, &want);
	} else if (!failing)
		fail_msg("%s: a stream case needs expect.sse", cn);
	aigw_buf_release(&out);
	aigw_buf_release(&again);
	aigw_buf_release(&want);
	aigw_buf_release(&model);
}

static void test_case(void **state)
{
	const struct golden *g = *state;
	struct aigw_buf in = AIGW_BUF_INIT;
	bool any = false;

	if (slurp(g->dir, "request.json", &in)) {
		check_request(g->dir, g->name, &in);
		any = true;
	}
	aigw_buf_reset(&in);
	if (slurp(g->dir, "answer", &in)) {
		check_answer(g->dir, g->name, &in);
		any = true;
	}
	aigw_buf_reset(&in);
	if (slurp(g->dir, "answer.sse", &in)) {
		check_stream(g->dir, g->name, &in);
		any = true;
	}
	aigw_buf_release(&in);
	if (!any)
		fail_msg("%s: the case has no request.json, answer or answer.sse", g->name);
}

/* ---- unit tests ---- */

static void test_error_types(void **state)
{
	static const struct {
		int status;
		const char *type;
	} want[] = {
		{ 400, "invalid_request_error" }, { 401, "authentication_error" },
		{ 403, "permission_error" },      { 404, "not_found_error" },
		{ 413, "request_too_large" },     { 429, "rate_limit_error" },
		{ 500, "api_error" },             { 502, "api_error" },
		{ 503, "api_error" },             { 529, "overloaded_error" },
		{ 422, "invalid_request_error" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct aigw_buf out = AIGW_BUF_INIT;
		cJSON *j, *e;
		assert_string_equal(aigw_messages_error_type(want[i].status), want[i].type);
		aigw_messages_error(&out, want[i].status, "no \"luck\"\n");
		j = cJSON_Parse(out.data);
		assert_non_null(j);
		assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring, "error");
		e = cJSON_GetObjectItem(j, "error");
		assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring, want[i].type);
		assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring, "no \"luck\"\n");
		cJSON_Delete(j);
		aigw_buf_release(&out);
	}
}

static const char *json_string(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItem(o, name);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* An answer without an id gets a fresh msg_ id, a new one each time. */
static void test_fresh_answer_id(void **state)
{
	static const char body[] = "{\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":"
				   "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
				   "\"hi\"},\"finish_reason\":\"stop\"}]}";
	char ids[2][64];
	(void)state;
	for (int i = 0; i < 2; i++) {
		struct aigw_buf out = AIGW_BUF_INIT;
		int status = 200;
		cJSON *j;
		assert_int_equal(aigw_messages_answer(&status, body, strlen(body), &out, NULL), 0);
		j = cJSON_Parse(out.data);
		assert_non_null(j);
		snprintf(ids[i], sizeof(ids[i]), "%s", json_string(j, "id"));
		assert_int_equal(strncmp(ids[i], "msg_", 4), 0);
		assert_int_equal(strlen(ids[i]), 4 + 24);
		cJSON_Delete(j);
		aigw_buf_release(&out);
	}
	assert_string_not_equal(ids[0], ids[1]);
}

/* A stream whose chunks have no id starts with a fresh msg_ id. */
static void test_fresh_stream_id(void **state)
{
	static const char in[] = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}"
				 "\n\ndata: [DONE]\n\n";
	struct aigw_messages_stream s;
	struct aigw_buf out = AIGW_BUF_INIT;
	const char *p;
	(void)state;
	aigw_messages_stream_init(&s, "claude-x");
	assert_int_equal(aigw_messages_stream_feed(&s, in, strlen(in), &out, NULL), 0);
	assert_int_equal(aigw_messages_stream_finish(&s, &out, NULL), 0);
	aigw_messages_stream_release(&s);
	p = strstr(out.data, "\"id\":\"msg_");
	assert_non_null(p);
	assert_non_null(strstr(out.data, "\"model\":\"claude-x\""));
	aigw_buf_release(&out);
}

/* Nothing at all from upstream is a failure; after an error event or
 * message_stop, further bytes are ignored. */
static void test_stream_edges(void **state)
{
	static const char err_chunk[] = "data: {\"error\":{\"message\":\"boom\"}}\n\n";
	struct aigw_messages_stream s;
	struct aigw_buf out = AIGW_BUF_INIT;
	struct aigw_err err = { 0 };
	size_t n;
	(void)state;

	aigw_messages_stream_init(&s, "m");
	assert_int_equal(aigw_messages_stream_finish(&s, &out, &err), AIGW_EFAIL);
	assert_non_null(strstr(err.msg, "before its first chunk"));
	assert_int_equal(out.len, 0);
	aigw_messages_stream_release(&s);

	aigw_messages_stream_init(&s, "m");
	assert_int_equal(aigw_messages_stream_feed(&s, err_chunk, strlen(err_chunk), &out, &err), 0);
	n = out.len;
	assert_true(n > 0);
	assert_int_equal(aigw_messages_stream_feed(&s, "data: {not json\n\n", 17, &out, &err), 0);
	assert_int_equal(aigw_messages_stream_finish(&s, &out, &err), 0);
	assert_int_equal(out.len, n);
	aigw_messages_stream_release(&s);
	aigw_buf_release(&out);
}

/* The model must fit the caller's buffer; a request that is not an
 * object says so. */
static void test_request_edges(void **state)
{
	static const char body[] = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":5,"
				   "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
	struct aigw_buf out = AIGW_BUF_INIT;
	struct aigw_err err = { 0 };
	char small[8];
	bool stream;
	(void)state;
	assert_int_equal(aigw_messages_request(body, strlen(body), &out, small, sizeof(small),
					       &stream, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "model: too long"));
	aigw_buf_reset(&out);
	assert_int_equal(aigw_messages_request("[1]", 3, &out, small, sizeof(small), &stream,
					       &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "the request body"));
	aigw_buf_reset(&out);
	assert_int_equal(aigw_messages_request("{\"model\":", 9, &out, small, sizeof(small),
					       &stream, &err), AIGW_EINVAL);
	assert_non_null(strstr(err.msg, "invalid JSON"));
	aigw_buf_release(&out);
}

/* Mutated copies of every golden input (bytes flipped, cut short, bytes
 * removed) must give an answer or an error, never a crash: run under
 * ASan to make this mean something. */
static void mutate_all(const struct golden *cases, size_t n)
{
	static const char *const files[] = { "request.json", "answer", "answer.sse" };
	uint64_t seed = 0x2545f4914f6cdd1dULL;

	for (size_t c = 0; c < n; c++) {
		for (size_t f = 0; f < 3; f++) {
			struct aigw_buf in = AIGW_BUF_INIT;
			if (!slurp(cases[c].dir, files[f], &in) || in.len == 0) {
				aigw_buf_release(&in);
				continue;
			}
			for (int round = 0; round < 64; round++) {
				struct aigw_buf m = AIGW_BUF_INIT, out = AIGW_BUF_INIT;
				uint64_t r = aigw_rand_xorshift64(&seed);
				size_t at = (size_t)(r % in.len), len = in.len;
				char model[64];
				bool stream;
				int status = round % 3 ? 200 : 500;
				aigw_buf_append(&m, in.data, in.len);
				switch (round % 4) {
				case 0: m.data[at] = (char)(r >> 32); break;
				case 1: len = at; break;
				case 2: memmove(m.data + at, m.data + at + 1, in.len - at - 1); len--; break;
				default: m.data[at] = "{}[]\\\":,"[(r >> 40) % 9]; break;
				}
				if (f == 0) {
					aigw_messages_request(m.data, len, &out, model, sizeof(model), &stream,
							      NULL);
				} else if (f == 1) {
					aigw_messages_answer(&status, m.data, len, &out, NULL);
				} else {
					struct aigw_buf sse = AIGW_BUF_INIT;
					aigw_buf_append(&sse, m.data, len);
					run_stream("m", &sse, (size_t)(r >> 50) % 9 + 1, &out, NULL);
					aigw_buf_release(&sse);
				}
				aigw_buf_release(&m);
				aigw_buf_release(&out);
			}
			aigw_buf_release(&in);
		}
	}
}

static const struct golden *all_cases;
static size_t all_cases_n;

static void test_mutations(void **state)
{
	(void)state;
	mutate_all(all_cases, all_cases_n);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct golden *)a)->name, ((const struct golden *)b)->name);
}

int main(int argc, char **argv)
{
	static const struct CMUnitTest units[] = {
		cmocka_unit_test(test_error_types),
		cmocka_unit_test(test_fresh_answer_id),
		cmocka_unit_test(test_fresh_stream_id),
		cmocka_unit_test(test_stream_edges),
		cmocka_unit_test(test_request_edges),
		cmocka_unit_test(test_mutations),
	};
	struct golden *cases = NULL;
	size_t n = 0, cap = 0, k = 0;
	DIR *d = opendir(ROOT);
	struct dirent *ce;
	struct CMUnitTest *tests;
	int rc;

	if (!d) {
		fprintf(stderr, "messages_test: run from the source root (%s not found)\n", ROOT);
		return 1;
	}
	while ((ce = readdir(d))) {
		struct stat st;
		if (ce->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			cases = realloc(cases, cap * sizeof(*cases));
		}
		snprintf(cases[n].dir, sizeof(cases[n].dir), ROOT "/%s", ce->d_name);
		if (stat(cases[n].dir, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		snprintf(cases[n].name, sizeof(cases[n].name), "%s", ce->d_name);
		n++;
	}
	closedir(d);
	qsort(cases, n, sizeof(*cases), by_name);
	all_cases = cases;
	all_cases_n = n;
	/* argv[1], when given, is a substring of the golden case names to run. */
	tests = calloc(n + 1, sizeof(*tests));
	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && !strstr(cases[i].name, argv[1]))
			continue;
		tests[k].name = cases[i].name;
		tests[k].test_func = test_case;
		tests[k].initial_state = &cases[i];
		k++;
	}
	rc = argc > 1 ? 0 : cmocka_run_group_tests_name("messages_unit", units, NULL, NULL);
	rc |= _cmocka_run_group_tests("messages_golden", tests, k, NULL, NULL);
	free(tests);
	free(cases);
	return rc;
}
