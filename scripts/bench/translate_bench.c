/* translate_bench: what translating a provider's stream costs per chunk,
 * for scripts/bench/translate.sh.
 *
 * For each provider (openai with include_usage 0, so that its filter
 * runs; anthropic; gemini; ollama) a realistic stream of TOKENS
 * text-delta events is made in memory, in the provider's own wire format,
 * and fed to aigw_pstream_feed in READ-byte pieces (what one read of the
 * upstream socket gives), the client's bytes going to a buffer that is
 * emptied after each piece (as the gateway writes them out). Next to it,
 * on the same bytes in the same pieces, the peers:
 *   relay  memcpy into an aigw_buf: what passing the stream through costs
 *   sse    lib/sse's parse alone, no translation: the floor of any SSE
 *          translator (for ollama's NDJSON it finds no events and is only
 *          the line scan)
 * Each is run RUNS times and the fastest run is kept (the least
 * disturbed by the rest of the machine). Prints, per provider: ns per
 * chunk and chunks/s of each, the ratios translate/relay and
 * translate/sse, and the translation's share of an inter-token gap of
 * GAP_MS milliseconds. A provider whose pstream_feed fails is skipped
 * with the reason (an adapter not built yet).
 *
 *   translate_bench [TOKENS] [RUNS] [GAP_MS] [READ]
 *
 * Built by translate.sh against build/libaigw.a. Not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "node.h"
#include "provider.h"
#include "sse.h"

/* Pieces of text as models stream them: words, subwords, punctuation,
 * now and then a newline or a quote (escaped in JSON). */
static const char *const tokens[] = {
	"The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".",
	"\\n", " It", "'s", " a", " \\\"test\\\"", " of", " token", "ization", ",", " isn",
	"'t", " it", "?", " Yes", ":", " 42", "%", " of", " the", " time", "\\n\\n", " Done",
};
#define NTOKENS (sizeof(tokens) / sizeof(tokens[0]))

static const char *tok(size_t i)
{
	return tokens[(i * 7 + i / 13) % NTOKENS];
}

/* ------------------------------------------------------------ streams */

static void make_openai(struct aigw_buf *b, size_t n)
{
	const char *head = "{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\"object\":"
			   "\"chat.completion.chunk\",\"created\":1741569952,\"model\":"
			   "\"gpt-4o-2024-08-06\",\"service_tier\":\"default\",\"system_fingerprint\":"
			   "\"fp_f9f4fb6dbf\",\"choices\":[{\"index\":0,\"delta\":";
	aigw_buf_printf(b, "data: %s{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
			"\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n", head);
	for (size_t i = 0; i < n; i++)
		aigw_buf_printf(b, "data: %s{\"content\":\"%s\"},\"logprobs\":null,"
				"\"finish_reason\":null}],\"usage\":null}\n\n", head, tok(i));
	aigw_buf_printf(b, "data: %s{},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
			"\"usage\":null}\n\n", head);
	aigw_buf_printf(b, "data: {\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\"object\":"
			"\"chat.completion.chunk\",\"created\":1741569952,\"model\":"
			"\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":19,"
			"\"completion_tokens\":%zu,\"total_tokens\":%zu,\"prompt_tokens_details\":"
			"{\"cached_tokens\":0,\"audio_tokens\":0}}}\n\ndata: [DONE]\n\n", n, n + 19);
}

static void make_anthropic(struct aigw_buf *b, size_t n)
{
	aigw_buf_puts(b, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
			 "{\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\",\"role\":"
			 "\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5-20250929\","
			 "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,"
			 "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
			 "\"output_tokens\":1}}}\n\n"
			 "event: content_block_start\ndata: {\"type\":\"content_block_start\","
			 "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
			 "event: ping\ndata: {\"type\": \"ping\"}\n\n");
	for (size_t i = 0; i < n; i++)
		aigw_buf_printf(b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
				"\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n",
				tok(i));
	aigw_buf_printf(b, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
			"\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\","
			"\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":"
			"{\"output_tokens\":%zu}}\n\nevent: message_stop\ndata: {\"type\":"
			"\"message_stop\"}\n\n", n);
}

static void make_gemini(struct aigw_buf *b, size_t n)
{
	/* streamGenerateContent?alt=sse: every chunk repeats the usage so far. */
	for (size_t i = 0; i < n; i++)
		aigw_buf_printf(b, "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": "
				"\"%s\"}],\"role\": \"model\"},\"index\": 0%s}],\"usageMetadata\": "
				"{\"promptTokenCount\": 9,\"candidatesTokenCount\": %zu,"
				"\"totalTokenCount\": %zu},\"modelVersion\": \"gemini-2.0-flash\","
				"\"responseId\": \"mN3CaJ6kLr2hz7IPxqmI8Qk\"}\r\n\r\n", tok(i),
				i + 1 == n ? ",\"finishReason\": \"STOP\"" : "", i + 1, i + 10);
}

static void make_ollama(struct aigw_buf *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		aigw_buf_printf(b, "{\"model\":\"llama3.2\",\"created_at\":"
				"\"2025-03-10T01:25:52.%06zuZ\",\"message\":{\"role\":\"assistant\","
				"\"content\":\"%s\"},\"done\":false}\n", i % 1000000, tok(i));
	aigw_buf_printf(b, "{\"model\":\"llama3.2\",\"created_at\":\"2025-03-10T01:25:59.1Z\","
			"\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":"
			"\"stop\",\"done\":true,\"total_duration\":4883583458,\"load_duration\":"
			"1334875,\"prompt_eval_count\":26,\"prompt_eval_duration\":342546000,"
			"\"eval_count\":%zu,\"eval_duration\":4535599000}\n", n);
}

/* ------------------------------------------------------------ timing */

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One translation of the whole stream; its time in ns, or -1 with err. */
static double translate_once(const struct aigw_provider_call *c, const struct aigw_buf *in,
			     size_t piece, struct aigw_buf *out, size_t *out_bytes,
			     struct aigw_err *err)
{
	struct aigw_pstream s;
	double t0, t1;
	int rc = 0;

	*out_bytes = 0;
	if (aigw_pstream_init(&s, c, err) < 0)
		return -1;
	t0 = now_ns();
	for (size_t at = 0; rc == 0 && at < in->len; at += piece) {
		size_t n = in->len - at < piece ? in->len - at : piece;
		rc = aigw_pstream_feed(&s, in->data + at, n, out, err);
		*out_bytes += out->len;
		aigw_buf_reset_keep(out, 1 << 20);
	}
	if (rc == 0)
		rc = aigw_pstream_finish(&s, out, err);
	t1 = now_ns();
	*out_bytes += out->len;
	aigw_buf_reset_keep(out, 1 << 20);
	aigw_pstream_release(&s);
	return rc == 0 ? t1 - t0 : -1;
}

static double relay_once(const struct aigw_buf *in, size_t piece, struct aigw_buf *out)
{
	double t0 = now_ns();
	size_t total = 0;

	for (size_t at = 0; at < in->len; at += piece) {
		size_t n = in->len - at < piece ? in->len - at : piece;
		aigw_buf_append(out, in->data + at, n);
		total += out->len;
		aigw_buf_reset_keep(out, 1 << 20);
	}
	if (total != in->len)
		abort();
	return now_ns() - t0;
}

static int count_event(const struct aigw_sse_event *ev, void *arg)
{
	*(size_t *)arg += ev->data_len;
	return 0;
}

static double sse_once(const struct aigw_buf *in, size_t piece)
{
	struct aigw_sse p;
	size_t seen = 0;
	double t0, t1;

	aigw_sse_init(&p, 0);
	t0 = now_ns();
	for (size_t at = 0; at < in->len; at += piece) {
		size_t n = in->len - at < piece ? in->len - at : piece;
		aigw_sse_feed(&p, in->data + at, n, count_event, &seen);
	}
	t1 = now_ns();
	aigw_sse_release(&p);
	return t1 - t0;
}

static double min_d(double a, double b)
{
	return a < 0 || b < a ? b : a;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int provider;
		void (*make)(struct aigw_buf *b, size_t n);
	} providers[] = {
		{ "openai", AIGW_PROVIDER_OPENAI, make_openai },
		{ "anthropic", AIGW_PROVIDER_ANTHROPIC, make_anthropic },
		{ "gemini", AIGW_PROVIDER_GEMINI, make_gemini },
		{ "ollama", AIGW_PROVIDER_OLLAMA, make_ollama },
	};
	long tokens_n = argc > 1 ? atol(argv[1]) : 100000;
	long runs = argc > 2 ? atol(argv[2]) : 5;
	double gap_ms = argc > 3 ? atof(argv[3]) : 20;
	long piece = argc > 4 ? atol(argv[4]) : 16384;
	struct aigw_buf in = AIGW_BUF_INIT, out = AIGW_BUF_INIT;
	int skipped = 0;

	if (tokens_n <= 0 || runs <= 0 || gap_ms <= 0 || piece <= 0) {
		fprintf(stderr, "usage: translate_bench [TOKENS] [RUNS] [GAP_MS] [READ]\n");
		return 2;
	}
	printf("%ld text deltas per stream, %ld-byte reads, fastest of %ld runs\n\n", tokens_n,
	       piece, runs);
	printf("  %-10s %9s %11s %12s %10s %10s %9s %9s %12s\n", "provider", "in MB",
	       "ns/chunk", "chunks/s", "relay ns", "sse ns", "x relay", "x sse",
	       "of a gap");
	for (size_t p = 0; p < sizeof(providers) / sizeof(providers[0]); p++) {
		struct aigw_provider_call c = { 0 };
		struct aigw_err err = { 0 };
		double tr = -1, rl = -1, sp = -1, per;
		size_t out_bytes = 0;

		aigw_buf_reset(&in);
		providers[p].make(&in, (size_t)tokens_n);
		c.provider = providers[p].provider;
		c.api = AIGW_API_CHAT;
		c.base_url = "http://127.0.0.1:9";
		c.model = "bench-model";
		c.stream = true;
		c.include_usage = false; /* openai: the filter runs */
		c.created = 1741569952;
		c.id = "chatcmpl-bench";
		for (long r = 0; r < runs; r++) {
			double t = translate_once(&c, &in, (size_t)piece, &out, &out_bytes, &err);
			if (t < 0)
				break;
			tr = min_d(tr, t);
			rl = min_d(rl, relay_once(&in, (size_t)piece, &out));
			sp = min_d(sp, sse_once(&in, (size_t)piece));
		}
		if (tr < 0) {
			printf("  %-10s skipped: its pstream_feed failed: %s\n", providers[p].name,
			       err.msg);
			skipped++;
			continue;
		}
		per = tr / (double)tokens_n;
		printf("  %-10s %9.1f %11.1f %12.0f %10.1f %10.1f %8.1fx %8.1fx %11.4f%%\n",
		       providers[p].name, (double)in.len / 1e6, per, 1e9 / per,
		       rl / (double)tokens_n, sp / (double)tokens_n, tr / rl, tr / sp,
		       per / (gap_ms * 1e6) * 100);
		printf("  %-10s %9s %.1f MB out; %.2f us per chunk = %.4f%% of a %g ms token gap\n",
		       "", "", (double)out_bytes / 1e6, per / 1e3, per / (gap_ms * 1e6) * 100,
		       gap_ms);
	}
	printf("\n  relay: memcpy of the same bytes (passthrough); sse: lib/sse's parse alone\n"
	       "  (for ollama's NDJSON only its line scan); x relay, x sse: translate / peer\n");
	aigw_buf_release(&in);
	aigw_buf_release(&out);
	return skipped == (int)(sizeof(providers) / sizeof(providers[0])) ? 1 : 0;
}
