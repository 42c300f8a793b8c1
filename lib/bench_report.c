/* bench_report: the option values of aigw bench (rates, SLOs, datasets),
 * its reports (JSON, CSV, text), compare, and the overhead mode's rounds
 * (see bench.h). */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"

/* ------------------------------------------------------------ parsing */

static bool parse_positive(const char *s, size_t n, double *out)
{
	char tmp[64], *end;
	double v;

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	v = strtod(tmp, &end);
	if (*end || errno || !(v > 0 && v <= 1e9))
		return false;
	*out = v;
	return true;
}

int aigw_bench_parse_rate(const char *s, double *from, double *to, double *step,
			  struct aigw_err *err)
{
	const char *c1 = strchr(s, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

	if (!c1) {
		if (!parse_positive(s, strlen(s), from))
			return aigw_err_set(err, AIGW_EINVAL,
					    "'%s' is not a rate (requests/s, more than 0)", s);
		*to = *from;
		*step = 1;
		return 0;
	}
	if (!c2 || strchr(c2 + 1, ':') || !parse_positive(s, (size_t)(c1 - s), from) ||
	    !parse_positive(c1 + 1, (size_t)(c2 - c1 - 1), to) ||
	    !parse_positive(c2 + 1, strlen(c2 + 1), step))
		return aigw_err_set(err, AIGW_EINVAL,
				    "'%s' is not a rate or FROM:TO:STEP (e.g. 100:2000:100)", s);
	if (*to < *from)
		return aigw_err_set(err, AIGW_EINVAL, "'%s': TO is less than FROM", s);
	if ((*to - *from) / *step > 1000)
		return aigw_err_set(err, AIGW_EINVAL, "'%s': more than 1000 steps", s);
	return 0;
}

int aigw_bench_parse_slo(const char *s, uint64_t *ttft_us, uint64_t *e2e_us,
			 struct aigw_err *err)
{
	struct aigw_strv parts = { 0 };
	int rc = 0;

	*ttft_us = *e2e_us = 0;
	if (aigw_strv_split(&parts, s, ',', NULL) || parts.n == 0)
		rc = aigw_err_set(err, AIGW_EINVAL, "'%s': expected ttft=D,e2e=D", s);
	for (size_t i = 0; i < parts.n && !rc; i++) {
		const char *p = parts.v[i];
		const char *eq = strchr(p, '=');
		int64_t ms;
		uint64_t *dst = NULL;

		if (!eq)
			rc = aigw_err_set(err, AIGW_EINVAL, "'%s': expected NAME=DURATION", p);
		else if (strncmp(p, "ttft=", 5) == 0)
			dst = ttft_us;
		else if (strncmp(p, "e2e=", 4) == 0)
			dst = e2e_us;
		else
			rc = aigw_err_set(err, AIGW_EINVAL, "'%.*s': unknown SLO (known: ttft, e2e)",
					  (int)(eq - p), p);
		if (rc)
			break;
		if (aigw_parse_duration_ms(eq + 1, &ms, NULL) || ms <= 0)
			rc = aigw_err_set(err, AIGW_EINVAL, "'%s': not a duration such as 500ms", p);
		else
			*dst = (uint64_t)ms * 1000;
	}
	aigw_strv_release(&parts);
	return rc;
}

int aigw_bench_parse_dataset(const char *data, size_t len, struct aigw_strv *out,
			     struct aigw_err *err)
{
	size_t line = 0, pos = 0, before = out->n;

	while (pos < len) {
		const char *start = data + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;
		size_t skip = strspn(start, " \t\r");
		cJSON *j;

		line++;
		pos += n + (nl ? 1 : 0);
		if (skip >= n)
			continue;
		j = cJSON_ParseWithLength(start, n);
		if (!cJSON_IsObject(j)) {
			cJSON_Delete(j);
			return aigw_err_set(err, AIGW_EINVAL, "line %zu: not a JSON object", line);
		}
		cJSON_Delete(j);
		while (n > 0 && (start[n - 1] == '\r' || start[n - 1] == ' '))
			n--;
		aigw_strv_push_n(out, start, n);
	}
	if (out->n == before)
		return aigw_err_set(err, AIGW_EINVAL, "no request bodies (one JSON object a line)");
	return 0;
}

/* ------------------------------------------------------------ JSON */

static double per_second(uint64_t n, uint64_t us)
{
	return us ? (double)n * 1e6 / (double)us : 0;
}

static cJSON *summary_json(const struct aigw_hist *h, double scale)
{
	struct aigw_hist_summary s;
	cJSON *o = cJSON_CreateObject();

	aigw_hist_summarize(h, &s);
	cJSON_AddNumberToObject(o, "count", (double)s.count);
	cJSON_AddNumberToObject(o, "min", floor((double)s.min / scale));
	cJSON_AddNumberToObject(o, "mean", floor(s.mean / scale + 0.5));
	cJSON_AddNumberToObject(o, "p50", floor((double)s.p50 / scale));
	cJSON_AddNumberToObject(o, "p90", floor((double)s.p90 / scale));
	cJSON_AddNumberToObject(o, "p99", floor((double)s.p99 / scale));
	cJSON_AddNumberToObject(o, "p99.9", floor((double)s.p999 / scale));
	cJSON_AddNumberToObject(o, "max", floor((double)s.max / scale));
	return o;
}

cJSON *aigw_bench_json(const struct aigw_bench_result *r)
{
	cJSON *o = cJSON_CreateObject(), *st, *f, *series, *cpu;
	double secs = (double)r->elapsed_us / 1e6;

	cJSON_AddStringToObject(o, "url", r->url);
	cJSON_AddStringToObject(o, "mode", r->rate > 0 ? "open" : "closed");
	cJSON_AddNumberToObject(o, "connections", r->connections);
	if (r->rate > 0) {
		cJSON_AddNumberToObject(o, "rate", r->rate);
		cJSON_AddStringToObject(o, "arrivals",
					r->arrivals == AIGW_BENCH_POISSON ? "poisson" : "constant");
	}
	cJSON_AddNumberToObject(o, "duration_us", (double)r->elapsed_us);
	cJSON_AddNumberToObject(o, "requests", (double)r->completed);
	cJSON_AddNumberToObject(o, "ok", (double)r->ok);
	cJSON_AddNumberToObject(o, "errors", (double)r->errors);
	cJSON_AddNumberToObject(o, "requests_per_sec",
				floor(per_second(r->completed, r->elapsed_us) * 100 + 0.5) / 100);
	cJSON_AddNumberToObject(o, "bytes_in", (double)r->bytes_in);
	cJSON_AddItemToObject(o, "latency_us", summary_json(&r->latency, 1));
	st = cJSON_AddObjectToObject(o, "status");
	for (int i = 100; i < 600; i++)
		if (r->status[i]) {
			char k[16];
			snprintf(k, sizeof(k), "%d", i);
			cJSON_AddNumberToObject(st, k, (double)r->status[i]);
		}
	f = cJSON_AddObjectToObject(o, "failures");
	for (int i = 0; i < AIGW_BENCH_FAILURE_COUNT; i++)
		cJSON_AddNumberToObject(f, aigw_bench_failure_names[i], (double)r->failures[i]);
	if (r->last_failure[0])
		cJSON_AddStringToObject(o, "last_failure", r->last_failure);
	else
		cJSON_AddNullToObject(o, "last_failure");
	if (r->retry_after_count) {
		cJSON *ra = cJSON_AddObjectToObject(o, "retry_after");
		cJSON_AddNumberToObject(ra, "count", (double)r->retry_after_count);
		cJSON_AddNumberToObject(ra, "min_s", (double)r->retry_after_min_s);
		cJSON_AddNumberToObject(ra, "max_s", (double)r->retry_after_max_s);
	}
	if (r->streams) {
		cJSON *l = cJSON_AddObjectToObject(o, "llm");
		cJSON_AddNumberToObject(l, "streams", (double)r->streams);
		cJSON_AddNumberToObject(l, "output_tokens", (double)r->output_tokens);
		cJSON_AddNumberToObject(l, "output_tokens_per_sec",
					floor(per_second(r->output_tokens, r->elapsed_us) * 100 + 0.5) /
						100);
		cJSON_AddItemToObject(l, "ttft_us", summary_json(&r->ttft, 1));
		cJSON_AddItemToObject(l, "itl_us", summary_json(&r->itl, 1));
		cJSON_AddItemToObject(l, "tpot_us", summary_json(&r->tpot, 1));
		cJSON_AddItemToObject(l, "e2e_us", summary_json(&r->latency, 1));
		cJSON_AddItemToObject(l, "tokens_per_sec", summary_json(&r->tokens_per_sec, 1000));
	}
	cJSON_AddNumberToObject(o, "goodput", (double)r->goodput);
	cJSON_AddNumberToObject(o, "goodput_per_sec",
				floor(per_second(r->goodput, r->elapsed_us) * 100 + 0.5) / 100);
	cpu = cJSON_AddObjectToObject(o, "cpu");
	cJSON_AddNumberToObject(cpu, "user_us", (double)r->cpu_user_us);
	cJSON_AddNumberToObject(cpu, "system_us", (double)r->cpu_system_us);
	cJSON_AddNumberToObject(cpu, "share",
				secs > 0 ? floor((double)(r->cpu_user_us + r->cpu_system_us) /
							 (double)r->elapsed_us * 1000 + 0.5) / 1000
					 : 0);
	cJSON_AddBoolToObject(o, "saturated", r->saturated);
	cJSON_AddBoolToObject(o, "interrupted", r->interrupted);
	if (r->rate > 0)
		cJSON_AddBoolToObject(o, "lagged", r->lagged);
	series = cJSON_AddArrayToObject(o, "seconds");
	for (size_t i = 0; i < r->n_seconds; i++) {
		const struct aigw_bench_second *s = &r->seconds[i];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "second", (double)(i + 1));
		cJSON_AddNumberToObject(e, "requests", (double)s->completed);
		cJSON_AddNumberToObject(e, "errors", (double)s->errors);
		cJSON_AddNumberToObject(e, "p50_us", (double)s->p50_us);
		cJSON_AddNumberToObject(e, "p99_us", (double)s->p99_us);
		cJSON_AddNumberToObject(e, "max_us", (double)s->max_us);
		cJSON_AddItemToArray(series, e);
	}
	return o;
}

/* ------------------------------------------------------------ CSV */

void aigw_bench_csv_header(struct aigw_buf *out)
{
	aigw_buf_puts(out, "url,mode,rate,connections,duration_us,requests,ok,errors,"
			   "requests_per_sec,min_us,mean_us,p50_us,p90_us,p99_us,p999_us,max_us,"
			   "connect,reset,timeout,malformed,status_429,output_tokens,"
			   "ttft_p50_us,ttft_p99_us,itl_p50_us,itl_p99_us,tpot_p50_us,goodput,"
			   "cpu_share\n");
}

static void csv_string(struct aigw_buf *out, const char *s)
{
	aigw_buf_putc(out, '"');
	for (; *s; s++) {
		if (*s == '"')
			aigw_buf_putc(out, '"');
		aigw_buf_putc(out, *s);
	}
	aigw_buf_putc(out, '"');
}

void aigw_bench_csv_row(const struct aigw_bench_result *r, struct aigw_buf *out)
{
	struct aigw_hist_summary l, t, i, p;

	aigw_hist_summarize(&r->latency, &l);
	aigw_hist_summarize(&r->ttft, &t);
	aigw_hist_summarize(&r->itl, &i);
	aigw_hist_summarize(&r->tpot, &p);
	csv_string(out, r->url);
	aigw_buf_printf(out, ",%s,%g,%d,%llu,%llu,%llu,%llu,%.2f,%llu,%.0f,%llu,%llu,%llu,%llu,%llu,"
			"%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%.3f\n",
			r->rate > 0 ? "open" : "closed", r->rate, r->connections,
			(unsigned long long)r->elapsed_us, (unsigned long long)r->completed,
			(unsigned long long)r->ok, (unsigned long long)r->errors,
			per_second(r->completed, r->elapsed_us), (unsigned long long)l.min, l.mean,
			(unsigned long long)l.p50, (unsigned long long)l.p90,
			(unsigned long long)l.p99, (unsigned long long)l.p999,
			(unsigned long long)l.max,
			(unsigned long long)r->failures[AIGW_BENCH_CONNECT],
			(unsigned long long)r->failures[AIGW_BENCH_RESET],
			(unsigned long long)r->failures[AIGW_BENCH_TIMEOUT],
			(unsigned long long)r->failures[AIGW_BENCH_MALFORMED],
			(unsigned long long)r->status[429], (unsigned long long)r->output_tokens,
			(unsigned long long)t.p50, (unsigned long long)t.p99,
			(unsigned long long)i.p50, (unsigned long long)i.p99,
			(unsigned long long)p.p50, (unsigned long long)r->goodput,
			r->elapsed_us ? (double)(r->cpu_user_us + r->cpu_system_us) /
						(double)r->elapsed_us
				      : 0);
}

/* ------------------------------------------------------------ text */

static void fmt_us(uint64_t us, char *out, size_t n)
{
	aigw_format_us(us, out, n);
}

static void dist_row(struct aigw_buf *out, const char *label, const struct aigw_hist *h)
{
	struct aigw_hist_summary s;
	char v[7][16];

	aigw_hist_summarize(h, &s);
	fmt_us(s.min, v[0], sizeof(v[0]));
	fmt_us((uint64_t)(s.mean + 0.5), v[1], sizeof(v[1]));
	fmt_us(s.p50, v[2], sizeof(v[2]));
	fmt_us(s.p90, v[3], sizeof(v[3]));
	fmt_us(s.p99, v[4], sizeof(v[4]));
	fmt_us(s.p999, v[5], sizeof(v[5]));
	fmt_us(s.max, v[6], sizeof(v[6]));
	aigw_buf_printf(out, "  %-10s %8s %8s %8s %8s %8s %8s %8s\n", label, v[0], v[1], v[2],
			v[3], v[4], v[5], v[6]);
}

void aigw_bench_text(const struct aigw_bench_result *r, struct aigw_buf *out)
{
	char d[16];
	double secs = (double)r->elapsed_us / 1e6;
	bool any = false;

	fmt_us(r->elapsed_us, d, sizeof(d));
	aigw_buf_printf(out, "target      %s\n", r->url);
	if (r->rate > 0)
		aigw_buf_printf(out, "load        open loop, %g requests/s (%s), %d connection%s, %s\n",
				r->rate, r->arrivals == AIGW_BENCH_POISSON ? "poisson" : "constant",
				r->connections, r->connections == 1 ? "" : "s", d);
	else
		aigw_buf_printf(out, "load        closed loop, %d connection%s, %s\n", r->connections,
				r->connections == 1 ? "" : "s", d);
	aigw_buf_printf(out, "requests    %llu in %.2fs: %.1f/s, %llu ok, %llu errors\n",
			(unsigned long long)r->completed, secs,
			per_second(r->completed, r->elapsed_us), (unsigned long long)r->ok,
			(unsigned long long)r->errors);
	aigw_buf_puts(out, "status     ");
	for (int i = 100; i < 600; i++)
		if (r->status[i]) {
			aigw_buf_printf(out, "%s %d: %llu", any ? "," : "", i,
					(unsigned long long)r->status[i]);
			any = true;
		}
	aigw_buf_puts(out, any ? "\n" : " none\n");
	aigw_buf_printf(out, "failures    connect %llu, reset %llu, timeout %llu, malformed %llu\n",
			(unsigned long long)r->failures[AIGW_BENCH_CONNECT],
			(unsigned long long)r->failures[AIGW_BENCH_RESET],
			(unsigned long long)r->failures[AIGW_BENCH_TIMEOUT],
			(unsigned long long)r->failures[AIGW_BENCH_MALFORMED]);
	if (r->last_failure[0])
		aigw_buf_printf(out, "last failure %s\n", r->last_failure);
	if (r->retry_after_count)
		aigw_buf_printf(out, "429         %llu with Retry-After %llus..%llus\n",
				(unsigned long long)r->retry_after_count,
				(unsigned long long)r->retry_after_min_s,
				(unsigned long long)r->retry_after_max_s);
	aigw_buf_printf(out, "\n  %-10s %8s %8s %8s %8s %8s %8s %8s\n", "", "min", "mean", "p50",
			"p90", "p99", "p99.9", "max");
	dist_row(out, r->streams ? "e2e" : "latency", &r->latency);
	if (r->streams) {
		struct aigw_hist_summary t;
		dist_row(out, "ttft", &r->ttft);
		dist_row(out, "itl", &r->itl);
		dist_row(out, "tpot", &r->tpot);
		aigw_hist_summarize(&r->tokens_per_sec, &t);
		aigw_buf_printf(out,
				"\ntokens      %llu output tokens, %.1f/s overall; per request "
				"p50 %.1f/s, p99 %.1f/s\n",
				(unsigned long long)r->output_tokens,
				per_second(r->output_tokens, r->elapsed_us), (double)t.p50 / 1000,
				(double)t.p99 / 1000);
	}
	if (r->goodput != r->ok || r->streams)
		aigw_buf_printf(out, "goodput     %llu requests within the SLOs, %.1f/s\n",
				(unsigned long long)r->goodput,
				per_second(r->goodput, r->elapsed_us));
	aigw_buf_printf(out, "\ngenerator   %.0f%% of one core (user %.2fs, system %.2fs)\n",
			r->elapsed_us ? 100.0 * (double)(r->cpu_user_us + r->cpu_system_us) /
						(double)r->elapsed_us
				      : 0,
			(double)r->cpu_user_us / 1e6, (double)r->cpu_system_us / 1e6);
}

void aigw_bench_steps_text(const struct aigw_bench_result *steps, size_t n,
			   struct aigw_buf *out)
{
	aigw_buf_printf(out, "%10s %10s %9s %9s %9s %9s %8s\n", "rate", "achieved", "p50", "p90",
			"p99", "max", "errors");
	for (size_t i = 0; i < n; i++) {
		const struct aigw_bench_result *r = &steps[i];
		struct aigw_hist_summary s;
		char v[4][16];

		aigw_hist_summarize(&r->latency, &s);
		fmt_us(s.p50, v[0], sizeof(v[0]));
		fmt_us(s.p90, v[1], sizeof(v[1]));
		fmt_us(s.p99, v[2], sizeof(v[2]));
		fmt_us(s.max, v[3], sizeof(v[3]));
		aigw_buf_printf(out, "%10g %10.1f %9s %9s %9s %9s %8llu\n", r->rate,
				per_second(r->completed, r->elapsed_us), v[0], v[1], v[2], v[3],
				(unsigned long long)r->errors);
	}
}

/* ------------------------------------------------------------ compare */

static int number_at(const cJSON *doc, const char *obj, const char *key, double *out)
{
	const cJSON *o = obj ? cJSON_GetObjectItemCaseSensitive(doc, obj) : doc;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	if (!cJSON_IsNumber(v))
		return -1;
	*out = v->valuedouble;
	return 0;
}

int aigw_bench_compare(const cJSON *a, const cJSON *b, struct aigw_buf *out,
		       struct aigw_err *err)
{
	static const struct {
		const char *label, *obj, *key;
		bool us;
	} rows[] = {
		{ "requests/s", NULL, "requests_per_sec", false },
		{ "requests", NULL, "requests", false },
		{ "errors", NULL, "errors", false },
		{ "p50", "latency_us", "p50", true },
		{ "p90", "latency_us", "p90", true },
		{ "p99", "latency_us", "p99", true },
		{ "p99.9", "latency_us", "p99.9", true },
		{ "max", "latency_us", "max", true },
		{ "mean", "latency_us", "mean", true },
	};
	const cJSON *docs[2] = { a, b };
	const cJSON *llm[2];

	for (int d = 0; d < 2; d++) {
		double x;
		if (!cJSON_IsObject(docs[d]) || number_at(docs[d], NULL, "requests_per_sec", &x) ||
		    number_at(docs[d], "latency_us", "p99", &x))
			return aigw_err_set(err, AIGW_EINVAL,
					    "%s: not a report of 'aigw bench --json'", d ? "B" : "A");
		llm[d] = cJSON_GetObjectItemCaseSensitive(docs[d], "llm");
	}
	aigw_buf_printf(out, "%-12s %12s %12s %8s\n", "", "A", "B", "B/A");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		double x, y;
		char sx[24], sy[24], ratio[16];

		if (number_at(a, rows[i].obj, rows[i].key, &x) ||
		    number_at(b, rows[i].obj, rows[i].key, &y))
			continue;
		if (rows[i].us) {
			aigw_format_us((uint64_t)x, sx, sizeof(sx));
			aigw_format_us((uint64_t)y, sy, sizeof(sy));
		} else {
			snprintf(sx, sizeof(sx), "%.10g", x);
			snprintf(sy, sizeof(sy), "%.10g", y);
		}
		if (x > 0)
			snprintf(ratio, sizeof(ratio), "%.2f", y / x);
		else
			snprintf(ratio, sizeof(ratio), "-");
		aigw_buf_printf(out, "%-12s %12s %12s %8s\n", rows[i].label, sx, sy, ratio);
	}
	if (llm[0] && llm[1]) {
		static const char *const dists[] = { "ttft_us", "itl_us", "tpot_us" };
		for (size_t i = 0; i < 3; i++) {
			double x, y;
			char label[24], sx[24], sy[24], ratio[16];
			if (number_at(llm[0], dists[i], "p50", &x) ||
			    number_at(llm[1], dists[i], "p50", &y))
				continue;
			snprintf(label, sizeof(label), "%.4s p50", dists[i]);
			if (label[3] == '_')
				memmove(label + 3, label + 4, strlen(label + 4) + 1);
			aigw_format_us((uint64_t)x, sx, sizeof(sx));
			aigw_format_us((uint64_t)y, sy, sizeof(sy));
			if (x > 0)
				snprintf(ratio, sizeof(ratio), "%.2f", y / x);
			else
				snprintf(ratio, sizeof(ratio), "-");
			aigw_buf_printf(out, "%-12s %12s %12s %8s\n", label, sx, sy, ratio);
		}
		{
			double x, y;
			if (!number_at(llm[0], NULL, "output_tokens_per_sec", &x) &&
			    !number_at(llm[1], NULL, "output_tokens_per_sec", &y)) {
				char sx[24], sy[24], ratio[16] = "-";
				snprintf(sx, sizeof(sx), "%.10g", x);
				snprintf(sy, sizeof(sy), "%.10g", y);
				if (x > 0)
					snprintf(ratio, sizeof(ratio), "%.2f", y / x);
				aigw_buf_printf(out, "%-12s %12s %12s %8s\n", "tokens/s", sx, sy,
						ratio);
			}
		}
	}
	return 0;
}

/* ------------------------------------------------------------ overhead */

const char *const aigw_bench_overhead_names[AIGW_BENCH_OVERHEAD_PCTS] = {
	"p50", "p90", "p99", "p99.9", "max",
};

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return a < b ? -1 : a > b;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

/* The median of n values (sorts them). */
static uint64_t median_u64(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_u64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void percentiles(const struct aigw_hist *h, uint64_t out[AIGW_BENCH_OVERHEAD_PCTS])
{
	struct aigw_hist_summary s;
	aigw_hist_summarize(h, &s);
	out[0] = s.p50;
	out[1] = s.p90;
	out[2] = s.p99;
	out[3] = s.p999;
	out[4] = s.max;
}

int aigw_bench_overhead_run(const struct aigw_bench_config *c, const char *direct,
			    const char *via, int rounds, struct aigw_bench_overhead *out,
			    struct aigw_err *err)
{
	uint64_t (*pd)[AIGW_BENCH_OVERHEAD_PCTS], (*pv)[AIGW_BENCH_OVERHEAD_PCTS];
	double *rd, *rv;
	int rc = 0;

	if (rounds < 1)
		return aigw_err_set(err, AIGW_EINVAL, "rounds: must be at least 1");
	memset(out, 0, sizeof(*out));
	out->rounds = rounds;
	pd = calloc((size_t)rounds, sizeof(*pd));
	pv = calloc((size_t)rounds, sizeof(*pv));
	rd = calloc((size_t)rounds, sizeof(*rd));
	rv = calloc((size_t)rounds, sizeof(*rv));
	if (!pd || !pv || !rd || !rv) {
		rc = aigw_err_set(err, AIGW_EFAIL, "out of memory");
		goto out;
	}
	/* Targets take turns, round after round, so a drift in the machine's
	 * speed falls on both alike. */
	for (int i = 0; i < rounds && !rc; i++) {
		for (int t = 0; t < 2 && !rc; t++) {
			struct aigw_bench_config rc_cfg = *c;
			struct aigw_bench_result r;
			rc_cfg.url = t ? via : direct;
			if ((rc = aigw_bench_result_init(&r, err)))
				break;
			rc = aigw_bench_run(&rc_cfg, &r, err);
			if (!rc && r.interrupted)
				rc = aigw_err_set(err, AIGW_EFAIL, "interrupted");
			else if (!rc && aigw_bench_unreachable(&r))
				rc = aigw_err_set(err, AIGW_EFAIL, "cannot connect to %s: %s",
						  rc_cfg.url, r.last_failure);
			if (!rc) {
				percentiles(&r.latency, t ? pv[i] : pd[i]);
				(t ? rv : rd)[i] = per_second(r.completed, r.elapsed_us);
				if (t)
					out->via_errors += r.errors;
				else
					out->direct_errors += r.errors;
			}
			aigw_bench_result_release(&r);
		}
	}
	if (rc)
		goto out;
	for (int p = 0; p < AIGW_BENCH_OVERHEAD_PCTS; p++) {
		uint64_t *vd = calloc((size_t)rounds, sizeof(*vd));
		uint64_t *vv = calloc((size_t)rounds, sizeof(*vv));
		int64_t *diff = calloc((size_t)rounds, sizeof(*diff));
		if (!vd || !vv || !diff) {
			free(vd);
			free(vv);
			free(diff);
			rc = aigw_err_set(err, AIGW_EFAIL, "out of memory");
			goto out;
		}
		for (int i = 0; i < rounds; i++) {
			vd[i] = pd[i][p];
			vv[i] = pv[i][p];
			diff[i] = (int64_t)pv[i][p] - (int64_t)pd[i][p];
		}
		out->direct_us[p] = median_u64(vd, rounds);
		out->via_us[p] = median_u64(vv, rounds);
		out->added_us[p] = (int64_t)out->via_us[p] - (int64_t)out->direct_us[p];
		qsort(diff, (size_t)rounds, sizeof(*diff), cmp_i64);
		out->spread_min_us[p] = diff[0];
		out->spread_max_us[p] = diff[rounds - 1];
		free(vd);
		free(vv);
		free(diff);
	}
	qsort(rd, (size_t)rounds, sizeof(*rd), cmp_double);
	qsort(rv, (size_t)rounds, sizeof(*rv), cmp_double);
	out->direct_rps = rounds % 2 ? rd[rounds / 2] : (rd[rounds / 2 - 1] + rd[rounds / 2]) / 2;
	out->via_rps = rounds % 2 ? rv[rounds / 2] : (rv[rounds / 2 - 1] + rv[rounds / 2]) / 2;
out:
	free(pd);
	free(pv);
	free(rd);
	free(rv);
	return rc;
}

cJSON *aigw_bench_overhead_json(const struct aigw_bench_overhead *o, const char *direct,
				const char *via)
{
	cJSON *j = cJSON_CreateObject(), *pcts;

	cJSON_AddStringToObject(j, "direct", direct);
	cJSON_AddStringToObject(j, "via", via);
	cJSON_AddNumberToObject(j, "rounds", o->rounds);
	cJSON_AddNumberToObject(j, "direct_requests_per_sec", floor(o->direct_rps * 100 + .5) / 100);
	cJSON_AddNumberToObject(j, "via_requests_per_sec", floor(o->via_rps * 100 + .5) / 100);
	cJSON_AddNumberToObject(j, "direct_errors", (double)o->direct_errors);
	cJSON_AddNumberToObject(j, "via_errors", (double)o->via_errors);
	pcts = cJSON_AddObjectToObject(j, "added_us");
	for (int p = 0; p < AIGW_BENCH_OVERHEAD_PCTS; p++) {
		cJSON *e = cJSON_AddObjectToObject(pcts, aigw_bench_overhead_names[p]);
		cJSON_AddNumberToObject(e, "direct", (double)o->direct_us[p]);
		cJSON_AddNumberToObject(e, "via", (double)o->via_us[p]);
		cJSON_AddNumberToObject(e, "added", (double)o->added_us[p]);
		cJSON_AddNumberToObject(e, "spread_min", (double)o->spread_min_us[p]);
		cJSON_AddNumberToObject(e, "spread_max", (double)o->spread_max_us[p]);
	}
	return j;
}

static void fmt_signed(int64_t us, char *out, size_t n)
{
	char v[16];
	aigw_format_us((uint64_t)(us < 0 ? -us : us), v, sizeof(v));
	snprintf(out, n, "%s%s", us < 0 ? "-" : "+", v);
}

void aigw_bench_overhead_text(const struct aigw_bench_overhead *o, struct aigw_buf *out)
{
	aigw_buf_printf(out, "%d rounds; requests/s: direct %.1f, via %.1f (%.2fx)\n\n", o->rounds,
			o->direct_rps, o->via_rps, o->direct_rps > 0 ? o->via_rps / o->direct_rps : 0);
	aigw_buf_printf(out, "%-6s %9s %9s %9s  %s\n", "", "direct", "via", "added",
			"spread (per round)");
	for (int p = 0; p < AIGW_BENCH_OVERHEAD_PCTS; p++) {
		char d[16], v[16], a[20], s0[20], s1[20];
		aigw_format_us(o->direct_us[p], d, sizeof(d));
		aigw_format_us(o->via_us[p], v, sizeof(v));
		fmt_signed(o->added_us[p], a, sizeof(a));
		fmt_signed(o->spread_min_us[p], s0, sizeof(s0));
		fmt_signed(o->spread_max_us[p], s1, sizeof(s1));
		aigw_buf_printf(out, "%-6s %9s %9s %9s  %s .. %s\n", aigw_bench_overhead_names[p], d,
				v, a, s0, s1);
	}
	if (o->direct_errors || o->via_errors)
		aigw_buf_printf(out, "\nerrors: direct %llu, via %llu\n",
				(unsigned long long)o->direct_errors,
				(unsigned long long)o->via_errors);
}
