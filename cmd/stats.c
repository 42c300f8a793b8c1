/* aigw stats: usage analytics over the request log: summary, top, tail,
 * timeseries, prune. Thin: parses options, asks lib/stats.c (or
 * aigw_reqlog_prune), formats tables, JSON and CSV. Read-only except for
 * prune, and it never creates a database. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "metrics.h"
#include "reqlog.h"
#include "stats.h"
#include "str.h"

enum { O_SINCE, O_UNTIL, O_BY, O_EVERY, O_LIMIT, O_LINES, O_FOLLOW, O_OLDER, O_CSV };

static const struct aigw_opt opts[] = {
	[O_SINCE] = { 0, "since", AIGW_OPT_VALUE, "TIME",
		      "start of the window: a duration back from now (1h), RFC 3339 or Unix seconds (default 1h)",
		      NULL },
	[O_UNTIL] = { 0, "until", AIGW_OPT_VALUE, "TIME", "end of the window, excluded (default now)", NULL },
	[O_BY] = { 0, "by", AIGW_OPT_VALUE, "route|node|key|model|status", "group rows by this column",
		   "choice:route|node|key|model|status" },
	[O_EVERY] = { 0, "every", AIGW_OPT_VALUE, "D", "interval width, whole minutes (default 1m)", NULL },
	[O_LIMIT] = { 0, "limit", AIGW_OPT_VALUE, "N", "show the N busiest (default 10)", NULL },
	[O_LINES] = { 'n', "lines", AIGW_OPT_VALUE, "N", "show the last N requests first (default 10)", NULL },
	[O_FOLLOW] = { 'f', "follow", AIGW_OPT_FLAG, NULL, "keep printing requests as they are logged", NULL },
	[O_OLDER] = { 0, "older-than", AIGW_OPT_VALUE, "TIME",
		      "delete requests logged before this time (30d: thirty days ago)", NULL },
	[O_CSV] = { 0, "csv", AIGW_OPT_FLAG, NULL, "print CSV with a header row", NULL },
};

static const int summary_opts[] = { O_SINCE, O_UNTIL, O_BY, O_CSV, AIGW_OPT_END };
static const int top_opts[] = { O_SINCE, O_UNTIL, O_BY, O_LIMIT, O_CSV, AIGW_OPT_END };
static const int timeseries_opts[] = { O_SINCE, O_UNTIL, O_EVERY, O_CSV, AIGW_OPT_END };
static const int tail_opts[] = { O_LINES, O_FOLLOW, O_CSV, AIGW_OPT_END };
static const int prune_opts[] = { O_OLDER | AIGW_OPT_REQUIRED, AIGW_OPT_END };

static const struct aigw_verb verbs[] = {
	{ "summary", "", 0, 0, NULL,
	  "requests, errors, latency and TTFT percentiles, tokens and cost over a window", summary_opts },
	{ "top", "", 0, 0, NULL, "the busiest keys, models and nodes over a window", top_opts },
	{ "timeseries", "", 0, 0, NULL, "the window in intervals, with a chart", timeseries_opts },
	{ "tail", "", 0, 0, NULL, "the latest requests; with -f, follow new ones live", tail_opts },
	{ "prune", "", 0, 0, NULL, "delete old requests from the log", prune_opts },
};

const struct aigw_cmdspec cmd_stats_spec = {
	"stats", "usage analytics from the request log", opts,
	sizeof(opts) / sizeof(opts[0]), verbs, sizeof(verbs) / sizeof(verbs[0]),
};

/* How often tail -f looks for new rows, and how many it takes at a time. */
#define FOLLOW_POLL_MS 200
#define FOLLOW_BATCH 1000

struct stats_cli {
	struct cli *cli;
	bool csv;
	int64_t now_ms;
	struct aigw_stats_query q;
};

/* ------------------------------------------------------------ formatting */

/* RFC 3339 in UTC, with milliseconds only when there are some. */
static void fmt_time_ms(int64_t ms, char *out, size_t n)
{
	int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	int64_t frac = ms - s * 1000;
	char base[32];

	aigw_format_time(s, base, sizeof(base));
	if (!frac) {
		aigw_strlcpy(out, base, n);
		return;
	}
	base[strlen(base) - 1] = '\0'; /* the Z */
	snprintf(out, n, "%s.%03lldZ", base, (long long)frac);
}

static void fmt_us(int64_t us, char *out, size_t n)
{
	if (us < 0)
		snprintf(out, n, "-");
	else
		aigw_format_us((uint64_t)us, out, n);
}

static void fmt_int(int64_t v, char *out, size_t n)
{
	snprintf(out, n, "%lld", (long long)v);
}

/* "$0.0123", "$0.0123*" when some requests had no price, "unknown" when
 * none had one. */
static void fmt_cost(const struct aigw_stats_group *g, char *out, size_t n)
{
	char usd[40];

	if (!g->priced) {
		snprintf(out, n, "%s", g->requests ? "unknown" : "-");
		return;
	}
	aigw_format_usd(g->cost_micro, usd, sizeof(usd));
	snprintf(out, n, "$%s%s", usd, g->priced < g->requests ? "*" : "");
}

static void fmt_error_rate(const struct aigw_stats_group *g, char *out, size_t n)
{
	if (!g->requests)
		snprintf(out, n, "-");
	else
		snprintf(out, n, "%.1f%%", 100.0 * (double)g->errors / (double)g->requests);
}

/* A CSV field: quoted when it holds a comma, quote or line break. */
static void csv_field(struct aigw_buf *b, const char *s, bool last)
{
	if (s && strpbrk(s, ",\"\r\n")) {
		aigw_buf_putc(b, '"');
		for (; *s; s++) {
			if (*s == '"')
				aigw_buf_putc(b, '"');
			aigw_buf_putc(b, *s);
		}
		aigw_buf_putc(b, '"');
	} else if (s) {
		aigw_buf_puts(b, s);
	}
	aigw_buf_putc(b, last ? '\n' : ',');
}

static cJSON *json_number_or_null(int64_t v)
{
	return v < 0 ? cJSON_CreateNull() : cJSON_CreateNumber((double)v);
}

/* USD from micro-dollars, raw so 0.1 prints as 0.1. */
static cJSON *json_usd(int64_t micro)
{
	char usd[40];
	aigw_format_usd(micro, usd, sizeof(usd));
	return cJSON_CreateRaw(usd);
}

static cJSON *json_time_ms(int64_t ms)
{
	char buf[48];
	fmt_time_ms(ms, buf, sizeof(buf));
	return cJSON_CreateString(buf);
}

static cJSON *json_percentiles(const struct aigw_stats_group *g, bool ttfb)
{
	cJSON *o;
	int64_t count = ttfb ? g->ttfb_count : g->requests;
	int64_t sum = ttfb ? g->ttfb_sum_us : g->latency_sum_us;

	if (!count)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "p50", (double)(ttfb ? aigw_stats_ttfb_p(g, 50) : aigw_stats_latency_p(g, 50)));
	cJSON_AddNumberToObject(o, "p95", (double)(ttfb ? aigw_stats_ttfb_p(g, 95) : aigw_stats_latency_p(g, 95)));
	cJSON_AddNumberToObject(o, "p99", (double)(ttfb ? aigw_stats_ttfb_p(g, 99) : aigw_stats_latency_p(g, 99)));
	cJSON_AddNumberToObject(o, "mean", (double)(sum / count));
	return o;
}

/* One group as JSON; by says which identifying fields it has. */
static cJSON *json_group(const struct aigw_stats_group *g, enum aigw_stats_by by)
{
	cJSON *o = cJSON_CreateObject();

	if (by == AIGW_STATS_BY_TIME) {
		cJSON_AddItemToObject(o, "start", json_time_ms(g->bucket_ms));
	} else if (by != AIGW_STATS_BY_NONE) {
		cJSON_AddItemToObject(o, "name", g->label ? cJSON_CreateString(g->label) : cJSON_CreateNull());
		if (by == AIGW_STATS_BY_KEY)
			cJSON_AddItemToObject(o, "key_id", g->key_id ? cJSON_CreateNumber((double)g->key_id)
								   : cJSON_CreateNull());
	}
	cJSON_AddNumberToObject(o, "requests", (double)g->requests);
	cJSON_AddNumberToObject(o, "errors", (double)g->errors);
	cJSON_AddNumberToObject(o, "error_rate",
				g->requests ? (double)g->errors / (double)g->requests : 0);
	cJSON_AddItemToObject(o, "latency_us", json_percentiles(g, false));
	cJSON_AddItemToObject(o, "ttft_us", json_percentiles(g, true));
	cJSON_AddNumberToObject(o, "tokens_in", (double)g->prompt_tokens);
	cJSON_AddNumberToObject(o, "tokens_out", (double)g->completion_tokens);
	cJSON_AddNumberToObject(o, "bytes_in", (double)g->bytes_in);
	cJSON_AddNumberToObject(o, "bytes_out", (double)g->bytes_out);
	cJSON_AddItemToObject(o, "cost_usd", g->priced ? json_usd(g->cost_micro) : cJSON_CreateNull());
	cJSON_AddNumberToObject(o, "priced", (double)g->priced);
	return o;
}

static const char csv_head[] =
	"requests,errors,error_rate,latency_p50_us,latency_p95_us,latency_p99_us,"
	"ttft_p50_us,ttft_p95_us,ttft_p99_us,tokens_in,tokens_out,cost_usd,priced\n";

/* The numeric CSV columns of a group (csv_head), ending the line. */
static void csv_group(struct aigw_buf *b, const struct aigw_stats_group *g)
{
	static const double ps[] = { 50, 95, 99 };
	char v[48];

	aigw_buf_printf(b, "%lld,%lld,", (long long)g->requests, (long long)g->errors);
	if (g->requests)
		aigw_buf_printf(b, "%.6f,", (double)g->errors / (double)g->requests);
	else
		aigw_buf_puts(b, "0,");
	for (int t = 0; t < 2; t++)
		for (int i = 0; i < 3; i++) {
			int64_t p = t ? aigw_stats_ttfb_p(g, ps[i]) : aigw_stats_latency_p(g, ps[i]);
			if (p >= 0)
				aigw_buf_printf(b, "%lld", (long long)p);
			aigw_buf_putc(b, ',');
		}
	aigw_buf_printf(b, "%lld,%lld,", (long long)g->prompt_tokens, (long long)g->completion_tokens);
	if (g->priced) {
		aigw_format_usd(g->cost_micro, v, sizeof(v));
		aigw_buf_puts(b, v);
	}
	aigw_buf_printf(b, ",%lld\n", (long long)g->priced);
}

static void put_buf(struct cli *cli, struct aigw_buf *b)
{
	if (b->len)
		fwrite(b->data, 1, b->len, cli->out);
	aigw_buf_release(b);
}

static const char *by_name(enum aigw_stats_by by)
{
	return by >= AIGW_STATS_BY_ROUTE && by <= AIGW_STATS_BY_STATUS ? aigw_stats_by_names[by - 1]
								       : NULL;
}

static void upper(const char *s, char *out, size_t n)
{
	size_t i = 0;
	for (; s[i] && i + 1 < n; i++)
		out[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A' : s[i]);
	out[i] = '\0';
}

/* Rows of groups [0, n) as a table, the first column headed by `by`. */
static void table_groups(struct cli *cli, const struct aigw_stats_group *groups, size_t n,
			 enum aigw_stats_by by)
{
	char head0[16];
	const char *head[] = { head0, "REQUESTS", "ERRORS", "P50", "P95", "P99", "TTFT P50",
			       "TTFT P95", "TTFT P99", "TOKENS IN", "TOKENS OUT", "COST" };
	struct cli_table t;

	upper(by_name(by), head0, sizeof(head0));
	cli_table_init(&t, 12, head);
	for (size_t i = 0; i < n; i++) {
		const struct aigw_stats_group *g = &groups[i];
		char req[24], err[16], p[6][24], in[24], out[24], cost[48];
		fmt_int(g->requests, req, sizeof(req));
		fmt_error_rate(g, err, sizeof(err));
		fmt_us(aigw_stats_latency_p(g, 50), p[0], sizeof(p[0]));
		fmt_us(aigw_stats_latency_p(g, 95), p[1], sizeof(p[1]));
		fmt_us(aigw_stats_latency_p(g, 99), p[2], sizeof(p[2]));
		fmt_us(aigw_stats_ttfb_p(g, 50), p[3], sizeof(p[3]));
		fmt_us(aigw_stats_ttfb_p(g, 95), p[4], sizeof(p[4]));
		fmt_us(aigw_stats_ttfb_p(g, 99), p[5], sizeof(p[5]));
		fmt_int(g->prompt_tokens, in, sizeof(in));
		fmt_int(g->completion_tokens, out, sizeof(out));
		fmt_cost(g, cost, sizeof(cost));
		cli_table_row(&t, g->label, req, err, p[0], p[1], p[2], p[3], p[4], p[5], in, out, cost);
	}
	cli_table_print(cli, &t);
}

/* ---------------------------------------------------------------- window */

/* Reads --since/--until (and the clock) into sc->q. */
static int window(struct stats_cli *sc)
{
	struct cli *cli = sc->cli;
	struct aigw_err err;

	sc->q.since_ms = sc->now_ms - 3600000;
	sc->q.until_ms = sc->now_ms;
	if (cli_has(cli, O_SINCE) &&
	    aigw_stats_parse_time(cli_value(cli, O_SINCE), sc->now_ms, &sc->q.since_ms, &err))
		return cli_failf(cli, AIGW_EINVAL, "--since: %s", err.msg);
	if (cli_has(cli, O_UNTIL) &&
	    aigw_stats_parse_time(cli_value(cli, O_UNTIL), sc->now_ms, &sc->q.until_ms, &err))
		return cli_failf(cli, AIGW_EINVAL, "--until: %s", err.msg);
	if (sc->q.until_ms <= sc->q.since_ms)
		return cli_failf(cli, AIGW_EINVAL, "the window is empty: --until must be after --since");
	return 0;
}

/* Opens the database for reading. A missing file is reported, never
 * created (nor its directory). */
static int open_existing(struct cli *cli, struct aigw_store **s)
{
	struct aigw_err err = { 0 };
	char path[4096];
	struct stat st;

	if (aigw_store_path(cli->args.global[AIGW_GOPT_DB].value, path, sizeof(path), NULL, &err))
		return cli_fail(cli, &err);
	if (stat(path, &st) != 0 && errno == ENOENT)
		return cli_failf(cli, AIGW_ENOTFOUND, "no database at '%s' (nothing has been logged yet)",
				 path);
	return cli_store(cli, false, s);
}

/* --------------------------------------------------------------- summary */

static void json_window(cJSON *o, const struct aigw_stats_query *q)
{
	cJSON_AddItemToObject(o, "since", json_time_ms(q->since_ms));
	cJSON_AddItemToObject(o, "until", json_time_ms(q->until_ms));
}

static void print_total_fields(struct cli *cli, const struct aigw_stats_query *q,
			       const struct aigw_stats_group *g)
{
	char a[48], b[48], c[48], d[48];

	fmt_time_ms(q->since_ms, a, sizeof(a));
	fmt_time_ms(q->until_ms, b, sizeof(b));
	cli_field(cli, "window", "%s .. %s", a, b);
	cli_field(cli, "requests", "%lld", (long long)g->requests);
	fmt_error_rate(g, a, sizeof(a));
	cli_field(cli, "errors", "%lld (%s)", (long long)g->errors, a);
	fmt_us(aigw_stats_latency_p(g, 50), a, sizeof(a));
	fmt_us(aigw_stats_latency_p(g, 95), b, sizeof(b));
	fmt_us(aigw_stats_latency_p(g, 99), c, sizeof(c));
	cli_field(cli, "latency", "p50 %s  p95 %s  p99 %s", a, b, c);
	fmt_us(aigw_stats_ttfb_p(g, 50), a, sizeof(a));
	fmt_us(aigw_stats_ttfb_p(g, 95), b, sizeof(b));
	fmt_us(aigw_stats_ttfb_p(g, 99), c, sizeof(c));
	cli_field(cli, "ttft", "p50 %s  p95 %s  p99 %s", a, b, c);
	cli_field(cli, "tokens", "in %lld  out %lld", (long long)g->prompt_tokens,
		  (long long)g->completion_tokens);
	if (g->priced) {
		aigw_format_usd(g->cost_micro, d, sizeof(d));
		if (g->priced < g->requests)
			cli_field(cli, "cost", "$%s (%lld of %lld requests priced)", d,
				  (long long)g->priced, (long long)g->requests);
		else
			cli_field(cli, "cost", "$%s", d);
	} else {
		cli_field(cli, "cost", "%s", g->requests ? "unknown" : "-");
	}
}

static int do_summary(struct stats_cli *sc, struct aigw_store *s)
{
	struct cli *cli = sc->cli;
	struct aigw_stats_result r;
	struct aigw_err err = { 0 };
	enum aigw_stats_by by = sc->q.by;
	int rc = 0;

	if (aigw_stats_summary(s, &sc->q, &r, &err)) {
		rc = cli_fail(cli, &err);
	} else if (cli->json) {
		cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
		json_window(o, &sc->q);
		cJSON_AddItemToObject(o, "by", by_name(by) ? cJSON_CreateString(by_name(by)) : cJSON_CreateNull());
		for (size_t i = 0; by != AIGW_STATS_BY_NONE && i < r.n; i++)
			cJSON_AddItemToArray(a, json_group(&r.groups[i], by));
		cJSON_AddItemToObject(o, "groups", a);
		cJSON_AddItemToObject(o, "total", json_group(&r.total, AIGW_STATS_BY_NONE));
		cli_json(cli, o);
	} else if (sc->csv) {
		struct aigw_buf b = AIGW_BUF_INIT;
		if (by != AIGW_STATS_BY_NONE) {
			aigw_buf_printf(&b, "%s,%s", by_name(by), csv_head);
			for (size_t i = 0; i < r.n; i++) {
				csv_field(&b, r.groups[i].label, false);
				csv_group(&b, &r.groups[i]);
			}
		} else {
			aigw_buf_puts(&b, csv_head);
			csv_group(&b, &r.total);
		}
		put_buf(cli, &b);
	} else if (cli->quiet) {
		for (size_t i = 0; by != AIGW_STATS_BY_NONE && i < r.n; i++)
			fprintf(cli->out, "%s\n", r.groups[i].label ? r.groups[i].label : "-");
	} else if (by == AIGW_STATS_BY_NONE) {
		print_total_fields(cli, &sc->q, &r.total);
	} else {
		table_groups(cli, r.groups, r.n, by);
	}
	aigw_stats_result_release(&r);
	return rc;
}

/* ------------------------------------------------------------------- top */

static int do_top(struct stats_cli *sc, struct aigw_store *s, int64_t limit)
{
	static const enum aigw_stats_by all[] = { AIGW_STATS_BY_KEY, AIGW_STATS_BY_MODEL,
						  AIGW_STATS_BY_NODE };
	struct cli *cli = sc->cli;
	const enum aigw_stats_by *dims = all;
	size_t ndims = 3;
	cJSON *doc = NULL;
	struct aigw_buf csv = AIGW_BUF_INIT;
	int rc = 0;

	if (cli_has(cli, O_BY)) {
		dims = &sc->q.by;
		ndims = 1;
	}
	if (cli->json) {
		doc = cJSON_CreateObject();
		json_window(doc, &sc->q);
	}
	if (sc->csv)
		aigw_buf_printf(&csv, "by,name,%s", csv_head);
	for (size_t d = 0; d < ndims && !rc; d++) {
		struct aigw_stats_query q = sc->q;
		struct aigw_stats_result r;
		struct aigw_err err = { 0 };
		size_t n;

		q.by = dims[d];
		if (aigw_stats_summary(s, &q, &r, &err)) {
			rc = cli_fail(cli, &err);
			aigw_stats_result_release(&r);
			break;
		}
		n = r.n < (size_t)limit ? r.n : (size_t)limit;
		if (doc) {
			cJSON *a = cJSON_CreateArray();
			static const char *const plural[] = { "routes", "nodes", "keys", "models",
							      "statuses" };
			for (size_t i = 0; i < n; i++)
				cJSON_AddItemToArray(a, json_group(&r.groups[i], q.by));
			cJSON_AddItemToObject(doc, plural[q.by - AIGW_STATS_BY_ROUTE], a);
		} else if (sc->csv) {
			for (size_t i = 0; i < n; i++) {
				csv_field(&csv, by_name(q.by), false);
				csv_field(&csv, r.groups[i].label, false);
				csv_group(&csv, &r.groups[i]);
			}
		} else if (cli->quiet) {
			for (size_t i = 0; i < n; i++)
				fprintf(cli->out, "%s\n", r.groups[i].label ? r.groups[i].label : "-");
		} else {
			if (d)
				fputc('\n', cli->out);
			table_groups(cli, r.groups, n, q.by);
		}
		aigw_stats_result_release(&r);
	}
	if (doc) {
		if (rc)
			cJSON_Delete(doc);
		else
			cli_json(cli, doc);
	}
	if (!rc)
		put_buf(cli, &csv);
	aigw_buf_release(&csv);
	return rc;
}

/* ------------------------------------------------------------ timeseries */

#define BAR_WIDTH 40

static int do_timeseries(struct stats_cli *sc, struct aigw_store *s)
{
	struct cli *cli = sc->cli;
	struct aigw_stats_result r;
	struct aigw_err err = { 0 };
	int rc = 0;

	if (aigw_stats_summary(s, &sc->q, &r, &err)) {
		rc = cli_fail(cli, &err);
	} else if (cli->json) {
		cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
		json_window(o, &sc->q);
		cJSON_AddNumberToObject(o, "every_ms", (double)sc->q.bucket_ms);
		for (size_t i = 0; i < r.n; i++)
			cJSON_AddItemToArray(a, json_group(&r.groups[i], AIGW_STATS_BY_TIME));
		cJSON_AddItemToObject(o, "intervals", a);
		cJSON_AddItemToObject(o, "total", json_group(&r.total, AIGW_STATS_BY_NONE));
		cli_json(cli, o);
	} else if (sc->csv) {
		struct aigw_buf b = AIGW_BUF_INIT;
		char t[48];
		aigw_buf_printf(&b, "start,%s", csv_head);
		for (size_t i = 0; i < r.n; i++) {
			fmt_time_ms(r.groups[i].bucket_ms, t, sizeof(t));
			csv_field(&b, t, false);
			csv_group(&b, &r.groups[i]);
		}
		put_buf(cli, &b);
	} else if (cli->quiet) {
		char t[48];
		for (size_t i = 0; i < r.n; i++) {
			fmt_time_ms(r.groups[i].bucket_ms, t, sizeof(t));
			fprintf(cli->out, "%s\n", t);
		}
	} else {
		static const char *const head[] = { "START", "REQUESTS", "ERRORS", "P50", "P99",
						    "REQUESTS CHART" };
		struct cli_table t;
		int64_t max = 0;

		for (size_t i = 0; i < r.n; i++)
			if (r.groups[i].requests > max)
				max = r.groups[i].requests;
		cli_table_init(&t, 6, head);
		for (size_t i = 0; i < r.n; i++) {
			const struct aigw_stats_group *g = &r.groups[i];
			char start[48], req[24], errs[16], p50[24], p99[24], bar[BAR_WIDTH + 1];
			/* Rounded up, so any traffic shows at least one mark. */
			int64_t w = max ? (g->requests * BAR_WIDTH + max - 1) / max : 0;
			fmt_time_ms(g->bucket_ms, start, sizeof(start));
			fmt_int(g->requests, req, sizeof(req));
			fmt_error_rate(g, errs, sizeof(errs));
			fmt_us(aigw_stats_latency_p(g, 50), p50, sizeof(p50));
			fmt_us(aigw_stats_latency_p(g, 99), p99, sizeof(p99));
			memset(bar, '#', (size_t)w);
			bar[w] = '\0';
			cli_table_row(&t, start, req, errs, p50, p99, bar);
		}
		cli_table_print(cli, &t);
	}
	aigw_stats_result_release(&r);
	return rc;
}

/* ------------------------------------------------------------------ tail */

static void print_row(struct stats_cli *sc, const struct aigw_stats_row *row)
{
	struct cli *cli = sc->cli;
	char t[48], lat[24], ttfb[24], cost[40], in[24] = "-", out[24] = "-";

	if (cli->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)row->id);
		cJSON_AddItemToObject(o, "time", json_time_ms(row->ts_ms));
		cJSON_AddStringToObject(o, "request_id", row->request_id);
		cJSON_AddItemToObject(o, "key_id", row->key_id ? cJSON_CreateNumber((double)row->key_id)
							      : cJSON_CreateNull());
#define STR_OR_NULL(name) \
	cJSON_AddItemToObject(o, #name, row->name[0] ? cJSON_CreateString(row->name) : cJSON_CreateNull())
		STR_OR_NULL(key_name);
		STR_OR_NULL(route);
		STR_OR_NULL(node);
		STR_OR_NULL(model);
		cJSON_AddNumberToObject(o, "status", (double)row->status);
		cJSON_AddBoolToObject(o, "stream", row->stream);
		cJSON_AddNumberToObject(o, "latency_us", (double)row->latency_us);
		cJSON_AddItemToObject(o, "ttft_us", json_number_or_null(row->ttfb_us));
		cJSON_AddItemToObject(o, "tokens_in", json_number_or_null(row->prompt_tokens));
		cJSON_AddItemToObject(o, "tokens_out", json_number_or_null(row->completion_tokens));
		cJSON_AddItemToObject(o, "cost_usd", row->cost_micro >= 0 ? json_usd(row->cost_micro)
									  : cJSON_CreateNull());
		STR_OR_NULL(error);
#undef STR_OR_NULL
		cli_json(cli, o);
		return;
	}
	if (cli->quiet) {
		fprintf(cli->out, "%lld\n", (long long)row->id);
		return;
	}
	fmt_time_ms(row->ts_ms, t, sizeof(t));
	if (sc->csv) {
		struct aigw_buf b = AIGW_BUF_INIT;
		char num[32];
		aigw_buf_printf(&b, "%lld,", (long long)row->id);
		csv_field(&b, t, false);
		csv_field(&b, row->request_id, false);
		csv_field(&b, row->key_name, false);
		csv_field(&b, row->route, false);
		csv_field(&b, row->node, false);
		csv_field(&b, row->model, false);
		aigw_buf_printf(&b, "%lld,%d,%lld,", (long long)row->status, row->stream,
				(long long)row->latency_us);
		const int64_t opt[] = { row->ttfb_us, row->prompt_tokens, row->completion_tokens };
		for (int i = 0; i < 3; i++) {
			if (opt[i] >= 0)
				aigw_buf_printf(&b, "%lld", (long long)opt[i]);
			aigw_buf_putc(&b, ',');
		}
		num[0] = '\0';
		if (row->cost_micro >= 0)
			aigw_format_usd(row->cost_micro, num, sizeof(num));
		csv_field(&b, num, false);
		csv_field(&b, row->error, true);
		put_buf(cli, &b);
		return;
	}
	fmt_us(row->latency_us, lat, sizeof(lat));
	fmt_us(row->ttfb_us, ttfb, sizeof(ttfb));
	if (row->cost_micro >= 0) {
		cost[0] = '$';
		aigw_format_usd(row->cost_micro, cost + 1, sizeof(cost) - 1);
	} else {
		snprintf(cost, sizeof(cost), "-");
	}
	if (row->prompt_tokens >= 0)
		fmt_int(row->prompt_tokens, in, sizeof(in));
	if (row->completion_tokens >= 0)
		fmt_int(row->completion_tokens, out, sizeof(out));
	/* One line per request, fields in a fixed order (the table's
	 * column widths cannot be known while following). */
	fprintf(cli->out, "%s  %3lld  %-7s %-7s %s %s %s %s in=%s out=%s %s%s%s\n", t,
		(long long)row->status, lat, ttfb, row->route[0] ? row->route : "-",
		row->node[0] ? row->node : "-", row->model[0] ? row->model : "-",
		row->key_name[0] ? row->key_name : "-", in, out, cost,
		row->error[0] ? " " : "", row->error);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int do_tail(struct stats_cli *sc, struct aigw_store *s, int64_t lines, bool follow)
{
	struct cli *cli = sc->cli;
	struct aigw_stats_row *rows = NULL;
	struct aigw_err err = { 0 };
	int64_t last = 0;
	size_t n;

	if (sc->csv && !cli->json && !cli->quiet)
		fputs("id,time,request_id,key_name,route,node,model,status,stream,latency_us,"
		      "ttft_us,tokens_in,tokens_out,cost_usd,error\n", cli->out);
	/* With -n 0 the newest row is still read: following goes on from it. */
	if (aigw_stats_tail(s, lines ? (size_t)lines : 1, &rows, &n, &err))
		return cli_fail(cli, &err);
	for (size_t i = 0; lines && i < n; i++)
		print_row(sc, &rows[i]);
	if (n)
		last = rows[n - 1].id;
	free(rows);
	if (!follow)
		return 0;
	for (;;) {
		fflush(cli->out);
		if (ferror(cli->out))
			return EXIT_FAIL; /* the reader went away */
		sleep_ms(FOLLOW_POLL_MS);
		do {
			if (aigw_stats_after(s, last, FOLLOW_BATCH, &rows, &n, &err))
				return cli_fail(cli, &err);
			for (size_t i = 0; i < n; i++)
				print_row(sc, &rows[i]);
			if (n)
				last = rows[n - 1].id;
			free(rows);
		} while (n == FOLLOW_BATCH);
	}
}

/* ----------------------------------------------------------------- prune */

static int do_prune(struct stats_cli *sc, struct aigw_store *s, int64_t cutoff_ms)
{
	struct cli *cli = sc->cli;
	struct aigw_err err = { 0 };
	int64_t deleted = 0;
	char t[48];

	if (aigw_reqlog_prune(s, cutoff_ms, &deleted, &err))
		return cli_fail(cli, &err);
	fmt_time_ms(cutoff_ms, t, sizeof(t));
	if (cli->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "deleted", (double)deleted);
		cJSON_AddStringToObject(o, "older_than", t);
		cli_json(cli, o);
	} else if (cli->quiet) {
		fprintf(cli->out, "%lld\n", (long long)deleted);
	} else {
		fprintf(cli->out, "deleted %lld request%s logged before %s\n", (long long)deleted,
			deleted == 1 ? "" : "s", t);
	}
	return 0;
}

/* ------------------------------------------------------------------ main */

int cmd_stats(struct cli *cli);
int cmd_stats(struct cli *cli)
{
	const char *verb = cli->args.verb->name;
	struct stats_cli sc = { .cli = cli, .now_ms = aigw_clock_wall_ms() };
	struct aigw_store *s;
	struct aigw_err err;
	int64_t limit = 10, lines = 10, cutoff = 0;
	int rc;

	/* Every value is checked before the database is looked at. */
	sc.csv = cli_has(cli, O_CSV);
	if (sc.csv && cli->json)
		return cli_failf(cli, AIGW_EINVAL, "--csv and --json cannot be used together");
	if (strcmp(verb, "summary") == 0 || strcmp(verb, "top") == 0 ||
	    strcmp(verb, "timeseries") == 0) {
		if ((rc = window(&sc)))
			return rc;
	}
	if (cli_has(cli, O_BY)) {
		int by;
		if ((rc = cli_enum(cli, O_BY, aigw_stats_by_names, "grouping", &by)))
			return rc;
		sc.q.by = (enum aigw_stats_by)(by + 1);
	}
	if (cli_has(cli, O_LIMIT) && (rc = cli_int(cli, O_LIMIT, 1, 1000000, &limit)))
		return rc;
	if (cli_has(cli, O_LINES) && (rc = cli_int(cli, O_LINES, 0, 1000000, &lines)))
		return rc;
	if (strcmp(verb, "timeseries") == 0) {
		sc.q.by = AIGW_STATS_BY_TIME;
		sc.q.bucket_ms = 60000;
		if (cli_has(cli, O_EVERY) && (rc = cli_duration_ms(cli, O_EVERY, &sc.q.bucket_ms)))
			return rc;
		if (sc.q.bucket_ms < 60000 || sc.q.bucket_ms % 60000)
			return cli_failf(cli, AIGW_EINVAL, "--every: '%s' is not a whole number of minutes",
					 cli_value(cli, O_EVERY));
		if ((sc.q.until_ms - sc.q.since_ms) / sc.q.bucket_ms >= AIGW_STATS_MAX_BUCKETS)
			return cli_failf(cli, AIGW_EINVAL,
					 "--every: the window would have more than %d intervals",
					 AIGW_STATS_MAX_BUCKETS);
	}
	if (strcmp(verb, "prune") == 0 &&
	    aigw_stats_parse_time(cli_value(cli, O_OLDER), sc.now_ms, &cutoff, &err))
		return cli_failf(cli, AIGW_EINVAL, "--older-than: %s", err.msg);

	if ((rc = open_existing(cli, &s)))
		return rc;
	if (strcmp(verb, "summary") == 0)
		return do_summary(&sc, s);
	if (strcmp(verb, "top") == 0)
		return do_top(&sc, s, limit);
	if (strcmp(verb, "timeseries") == 0)
		return do_timeseries(&sc, s);
	if (strcmp(verb, "tail") == 0)
		return do_tail(&sc, s, lines, cli->args.opt[O_FOLLOW].set);
	return do_prune(&sc, s, cutoff);
}
