/* Golden tests for the provider adapters: every directory
 * testdata/providers/<provider>/<case>/ is one test. See
 * testdata/providers/README for the files a case holds. */
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
#include "node.h"
#include "provider.h"
#include "sse.h"
#include "golden.h"

#define ROOT "testdata/providers"

struct golden {
	char dir[1024];
	char name[600];
};



/* The value of key in the case's "call" file (key=value lines), or def. */
static const char *call_get(const struct aigw_buf *call, const char *key, const char *def,
			    char *out, size_t cap)
{
	size_t kl = strlen(key);
	const char *p = call->data;

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		if (ll > kl && p[kl] == '=' && memcmp(p, key, kl) == 0) {
			size_t vl = ll - kl - 1;
			if (vl >= cap)
				vl = cap - 1;
			memcpy(out, p + kl + 1, vl);
			out[vl] = '\0';
			return out;
		}
		p = eol ? eol + 1 : NULL;
	}
	return def;
}




static int api_of(const char *s)
{
	if (strcmp(s, "completions") == 0)
		return AIGW_API_COMPLETIONS;
	if (strcmp(s, "embeddings") == 0)
		return AIGW_API_EMBEDDINGS;
	assert_string_equal(s, "chat");
	return AIGW_API_CHAT;
}

/* Feeds the stream in pieces of `piece` bytes (0: whole). */
static int run_stream(const struct aigw_provider_call *pc, const struct aigw_buf *answer,
		      size_t piece, struct aigw_buf *out, struct aigw_usage *u, bool *output,
		      struct aigw_err *err)
{
	struct aigw_pstream s;
	int rc;

	assert_int_equal(aigw_pstream_init(&s, pc, err), 0);
	rc = 0;
	for (size_t at = 0; rc == 0 && at < answer->len;) {
		size_t n = piece && answer->len - at > piece ? piece : answer->len - at;
		rc = aigw_pstream_feed(&s, answer->data + at, n, out, err);
		at += n;
	}
	if (rc == 0)
		rc = aigw_pstream_finish(&s, out, err);
	*u = s.usage;
	*output = s.output;
	aigw_pstream_release(&s);
	return rc;
}

static void check_usage(const char *casename, const char *dir, const struct aigw_usage *u)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	long long want[4];

	if (!slurp(dir, "expect.usage", &b))
		return;
	if (sscanf(b.data, "%lld %lld %lld %lld", &want[0], &want[1], &want[2], &want[3]) != 4)
		fail_msg("%s: expect.usage wants four numbers", casename);
	if (u->prompt_tokens != want[0] || u->completion_tokens != want[1] ||
	    u->cache_read_tokens != want[2] || u->cache_write_tokens != want[3])
		fail_msg("%s: usage %lld %lld %lld %lld, want %lld %lld %lld %lld", casename,
			 (long long)u->prompt_tokens, (long long)u->completion_tokens,
			 (long long)u->cache_read_tokens, (long long)u->cache_write_tokens, want[0],
			 want[1], want[2], want[3]);
	aigw_buf_release(&b);
}

static void test_case(void **state)
{
	const struct golden *g = *state;
	const char *dir = g->dir, *cn = g->name;
	struct aigw_buf call = AIGW_BUF_INIT, req = AIGW_BUF_INIT, want = AIGW_BUF_INIT,
			answer = AIGW_BUF_INIT, out = AIGW_BUF_INIT;
	struct aigw_provider_call pc = { 0 };
	struct aigw_err err = { 0 };
	char v_provider[64], v_api[32], v_model[256], v_stream[8], v_iu[8], v_base[512],
		v_cred[256], v_created[32], v_id[128], v_cm[256];
	char provider_dir[64];
	const char *slash = strrchr(cn, '/');
	int rc;

	snprintf(provider_dir, sizeof(provider_dir), "%.*s", (int)(slash - cn), cn);
	slurp(dir, "call", &call);
	if (!call.data)
		aigw_buf_puts(&call, "");
	pc.provider = aigw_enum_parse(aigw_provider_names,
				      call_get(&call, "provider", provider_dir, v_provider,
					       sizeof(v_provider)), "provider", NULL);
	assert_true(pc.provider >= 0);
	pc.api = api_of(call_get(&call, "api", "chat", v_api, sizeof(v_api)));
	pc.model = call_get(&call, "model", "test-model", v_model, sizeof(v_model));
	pc.client_model = call_get(&call, "client_model", NULL, v_cm, sizeof(v_cm));
	pc.stream = strcmp(call_get(&call, "stream", "0", v_stream, sizeof(v_stream)), "1") == 0;
	pc.include_usage = strcmp(call_get(&call, "include_usage", "0", v_iu, sizeof(v_iu)), "1") == 0;
	pc.base_url = call_get(&call, "base_url", "http://127.0.0.1:9", v_base, sizeof(v_base));
	pc.credential = call_get(&call, "credential", "sk-test", v_cred, sizeof(v_cred));
	if (strcmp(pc.credential, "-") == 0)
		pc.credential = NULL;
	pc.created = atoll(call_get(&call, "created", "1700000000", v_created, sizeof(v_created)));
	pc.id = call_get(&call, "id", "chatcmpl-test", v_id, sizeof(v_id));

	/* The request, when the case has one. */
	if (slurp(dir, "request.json", &req)) {
		struct aigw_provider_req pr;
		aigw_provider_req_init(&pr);
		rc = aigw_provider_build(&pc, req.data, req.len, &pr, &err);
		if (slurp(dir, "expect.build_error", &want)) {
			chomp(&want);
			if (rc == 0)
				fail_msg("%s: the build should fail with '%s'", cn, want.data);
			if (!strstr(err.msg, want.data))
				fail_msg("%s: build error '%s', want '%s'", cn, err.msg, want.data);
			aigw_provider_req_release(&pr);
			goto end;
		}
		if (rc != 0)
			fail_msg("%s: build failed: %s", cn, err.msg);
		if (pr.same_body) /* the client's body goes as it is */
			aigw_buf_append(&pr.body, req.data, req.len);
		aigw_buf_reset(&want);
		if (slurp(dir, "upstream.url", &want)) {
			chomp(&want);
			if (strcmp(pr.url.data, want.data) != 0)
				fail_msg("%s: url '%s', want '%s'", cn, pr.url.data, want.data);
		}
		aigw_buf_reset(&want);
		if (slurp(dir, "upstream.headers", &want)) {
			char *save = NULL;
			for (char *l = strtok_r(want.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
				char line[1024];
				snprintf(line, sizeof(line), "%s\r\n", l);
				if (!pr.fields.data || !strstr(pr.fields.data, line))
					fail_msg("%s: header '%s' not in:\n%s", cn, l,
						 pr.fields.data ? pr.fields.data : "");
			}
		}
		aigw_buf_reset(&want);
		if (slurp(dir, "upstream.json", &want))
			assert_json_equal("upstream body", cn, pr.body.data, pr.body.len, want.data,
					  want.len);
		aigw_buf_reset(&want);
		if (slurp(dir, "upstream.body", &want) &&
		    (pr.body.len != want.len || memcmp(pr.body.data, want.data, want.len) != 0))
			fail_msg("%s: upstream body\n got:  %.*s\n want: %s", cn, (int)pr.body.len,
				 pr.body.data, want.data);
		aigw_provider_req_release(&pr);
	}

	/* The answer, when the case has one. */
	if (slurp(dir, "answer", &answer)) {
		struct aigw_buf st = AIGW_BUF_INIT;
		int status = 200, want_status;
		struct aigw_usage u;
		bool failing;

		if (slurp(dir, "answer.status", &st))
			status = atoi(st.data);
		aigw_buf_release(&st);
		want_status = status;
		if (slurp(dir, "expect.status", &st))
			want_status = atoi(st.data);
		aigw_buf_release(&st);
		aigw_buf_reset(&want);
		failing = slurp(dir, "expect.answer_error", &want);
		chomp(&want);
		if (pc.stream && status >= 200 && status < 300) {
			struct aigw_buf again = AIGW_BUF_INIT;
			struct aigw_usage u2;
			bool output, output2;
			rc = run_stream(&pc, &answer, 0, &out, &u, &output, &err);
			if (failing) {
				if (rc == 0 || !strstr(err.msg, want.data))
					fail_msg("%s: the stream should fail with '%s' (rc %d, '%s')", cn,
						 want.data, rc, err.msg);
				goto end_answer;
			}
			if (rc != 0)
				fail_msg("%s: stream failed: %s", cn, err.msg);
			/* Any split gives the same bytes. */
			static const size_t pieces[] = { 1, 7, 64 };
			for (size_t i = 0; i < 3; i++) {
				aigw_buf_reset(&again);
				assert_int_equal(run_stream(&pc, &answer, pieces[i], &again, &u2,
							    &output2, &err), 0);
				if (again.len != out.len || memcmp(again.data, out.data, out.len) != 0)
					fail_msg("%s: %zu-byte pieces give other bytes:\n%s\n---\n%s", cn,
						 pieces[i], again.data, out.data);
				assert_int_equal(output, output2);
			}
			aigw_buf_release(&again);
			aigw_buf_reset(&want);
			if (!slurp(dir, "expect.sse", &want))
				fail_msg("%s: a stream case needs expect.sse", cn);
			assert_sse_equal(cn, &out, &want);
		} else {
			rc = aigw_provider_answer(&pc, &status, answer.data, answer.len, &out, &u, &err);
			if (failing) {
				if (rc == 0 || !strstr(err.msg, want.data))
					fail_msg("%s: the answer should fail with '%s' (rc %d, '%s')", cn,
						 want.data, rc, err.msg);
				goto end_answer;
			}
			if (rc != 0)
				fail_msg("%s: answer failed: %s", cn, err.msg);
			if (status != want_status)
				fail_msg("%s: status %d, want %d", cn, status, want_status);
			aigw_buf_reset(&want);
			if (!slurp(dir, "expect.json", &want))
				fail_msg("%s: an answer case needs expect.json", cn);
			assert_json_equal("answer", cn, out.data, out.len, want.data, want.len);
		}
		check_usage(cn, dir, &u);
	}
end_answer:
end:
	aigw_buf_release(&call);
	aigw_buf_release(&req);
	aigw_buf_release(&want);
	aigw_buf_release(&answer);
	aigw_buf_release(&out);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct golden *)a)->name, ((const struct golden *)b)->name);
}

int main(int argc, char **argv)
{
	struct golden *cases = NULL;
	size_t n = 0, cap = 0;
	DIR *top = opendir(ROOT);
	struct dirent *pe;
	struct CMUnitTest *tests;
	int rc;

	if (!top) {
		fprintf(stderr, "provider_test: run from the source root (%s not found)\n", ROOT);
		return 1;
	}
	while ((pe = readdir(top))) {
		char pdir[400];
		DIR *d;
		struct dirent *ce;
		if (pe->d_name[0] == '.' || aigw_enum_parse(aigw_provider_names, pe->d_name,
							    "provider", NULL) < 0)
			continue;
		snprintf(pdir, sizeof(pdir), ROOT "/%s", pe->d_name);
		if (!(d = opendir(pdir)))
			continue;
		while ((ce = readdir(d))) {
			struct stat st;
			if (ce->d_name[0] == '.')
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				cases = realloc(cases, cap * sizeof(*cases));
			}
			snprintf(cases[n].dir, sizeof(cases[n].dir), "%s/%s", pdir, ce->d_name);
			if (stat(cases[n].dir, &st) != 0 || !S_ISDIR(st.st_mode))
				continue;
			snprintf(cases[n].name, sizeof(cases[n].name), "%s/%s", pe->d_name, ce->d_name);
			n++;
		}
		closedir(d);
	}
	closedir(top);
	/* Only one filter: argv[1] is a substring of the case names to run. */
	qsort(cases, n, sizeof(*cases), by_name);
	tests = calloc(n + 1, sizeof(*tests));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && !strstr(cases[i].name, argv[1]))
			continue;
		tests[k].name = cases[i].name;
		tests[k].test_func = test_case;
		tests[k].initial_state = &cases[i];
		k++;
	}
	rc = _cmocka_run_group_tests("provider_golden", tests, k, NULL, NULL);
	free(tests);
	free(cases);
	return rc;
}
