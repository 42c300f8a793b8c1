/* statsgen: fills a request log for scripts/bench/stats.sh. Pushes ROWS
 * rows through the real writer (aigw_reqlog_start/push/stop), so request_log
 * and its per-minute rollups are what `aigw serve` would have written. Row
 * times are spread evenly over the SPAN seconds before NOW; the other
 * fields come from a fixed pseudo-random sequence, so a run is repeatable.
 *
 *   statsgen DB ROWS SPAN_SECONDS NOW_UNIX_SECONDS
 *
 * Built by stats.sh against build/libaigw.a. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reqlog.h"
#include "str.h"

static uint64_t next(uint64_t *s)
{
	/* xorshift64*: enough spread for made-up traffic */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

int main(int argc, char **argv)
{
	static const char *const routes[] = { "chat", "embed", "completions" };
	static const char *const nodes[] = { "openai-main", "azure-east", "local" };
	static const char *const models[] = { "gpt-4o", "gpt-4o-mini", "llama3" };
	struct aigw_reqlog *log = NULL;
	struct aigw_reqlog_counters c;
	struct aigw_reqlog_row row;
	struct aigw_err err = { 0 };
	struct timespec pause = { 0, 200000 };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	long long rows, span_s, now_s;

	if (argc != 5) {
		fprintf(stderr, "usage: statsgen DB ROWS SPAN_SECONDS NOW_UNIX_SECONDS\n");
		return 2;
	}
	rows = atoll(argv[2]);
	span_s = atoll(argv[3]);
	now_s = atoll(argv[4]);
	if (rows <= 0 || span_s <= 0 || now_s <= span_s) {
		fprintf(stderr, "statsgen: bad arguments\n");
		return 2;
	}
	/* A big queue and big batches: the fewer commits, the faster. */
	if (aigw_reqlog_start(&log, argv[1], 1 << 18, 1 << 16, 50, &err)) {
		fprintf(stderr, "statsgen: %s\n", err.msg);
		return 1;
	}
	for (long long i = 0; i < rows; i++) {
		uint64_t r = next(&seed);
		aigw_reqlog_row_init(&row);
		row.ts_ms = (now_s - span_s) * 1000 + (long long)((double)i * (double)span_s * 1000.0 / (double)rows);
		snprintf(row.request_id, sizeof(row.request_id), "%016llx", (unsigned long long)r);
		aigw_strlcpy(row.route, routes[r % 3], sizeof(row.route));
		aigw_strlcpy(row.node, nodes[(r >> 8) % 3], sizeof(row.node));
		aigw_strlcpy(row.model, models[(r >> 16) % 3], sizeof(row.model));
		row.key_id = 1 + (int64_t)((r >> 24) % 10);
		snprintf(row.key_name, sizeof(row.key_name), "key-%lld", (long long)row.key_id);
		row.status = (r >> 32) % 100 < 3 ? 502 : (r >> 32) % 100 < 5 ? 429 : 200;
		row.latency_us = 2000 + (int64_t)((r >> 40) % 400000);
		if (row.status == 200)
			row.ttfb_us = 500 + (int64_t)((r >> 20) % 90000);
		row.prompt_tokens = 10 + (int64_t)((r >> 12) % 500);
		row.completion_tokens = row.status == 200 ? 5 + (int64_t)((r >> 44) % 800) : AIGW_REQLOG_NONE;
		/* llama3 runs locally and has no price: unknown, not free */
		row.cost_micro = (r >> 16) % 3 == 2 ? AIGW_REQLOG_NONE
						    : row.prompt_tokens * 3 + (row.completion_tokens > 0 ? row.completion_tokens * 12 : 0);
		while (!aigw_reqlog_push(log, &row))
			nanosleep(&pause, NULL); /* queue full: wait for the writer, never drop */
	}
	aigw_reqlog_counters(log, &c);
	aigw_reqlog_stop(log);
	/* Rows refused by a full queue were pushed again; written counts
	 * only after stop, so report what went in. */
	printf("pushed %llu rows (%llu refusals retried)\n", (unsigned long long)c.pushed,
	       (unsigned long long)c.dropped);
	return 0;
}
