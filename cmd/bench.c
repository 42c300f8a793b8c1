/* aigw bench: a load tester for HTTP and LLM endpoints, on lib/bench.
 * Thin: parses options, runs lib/bench (once, per rate step, or in
 * overhead rounds), prints the report, a progress line on a terminal. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"

enum {
	O_CONNECTIONS, O_REQUESTS, O_DURATION, O_RATE, O_ARRIVALS, O_METHOD, O_HEADER, O_BODY,
	O_BODY_FILE, O_DATASET, O_SAMPLE, O_TIMEOUT, O_STREAM, O_SLO, O_CSV, O_DIRECT, O_VIA,
	O_ROUNDS, O_SEED, O_CACERT,
};

static const struct aigw_opt opts[] = {
	[O_CONNECTIONS] = { 'c', "connections", AIGW_OPT_VALUE, "N",
			    "connections kept open (default 1)", NULL },
	[O_REQUESTS] = { 'n', "requests", AIGW_OPT_VALUE, "N", "stop after N requests", NULL },
	[O_DURATION] = { 'd', "duration", AIGW_OPT_VALUE, "D",
			 "stop after D (default 10s unless -n is given); per step with a rate range",
			 NULL },
	[O_RATE] = { 0, "rate", AIGW_OPT_VALUE, "R",
		     "open loop at R requests/s; FROM:TO:STEP runs one step per rate", NULL },
	[O_ARRIVALS] = { 0, "arrivals", AIGW_OPT_VALUE, "KIND",
			 "open loop arrivals: constant (default) or poisson",
			 "choice:constant|poisson" },
	[O_METHOD] = { 'm', "method", AIGW_OPT_VALUE, "METHOD",
		       "request method (default POST with a body, else GET)", NULL },
	[O_HEADER] = { 'H', "header", AIGW_OPT_LIST, "'K: V'", "add a request header", NULL },
	[O_BODY] = { 0, "body", AIGW_OPT_VALUE, "JSON", "request body", NULL },
	[O_BODY_FILE] = { 0, "body-file", AIGW_OPT_VALUE, "FILE",
			  "request body from a file ('-': standard input)", "file" },
	[O_DATASET] = { 0, "dataset", AIGW_OPT_VALUE, "FILE",
			"request bodies, one JSON object a line, used in order", "file" },
	[O_SAMPLE] = { 0, "sample", AIGW_OPT_FLAG, NULL,
		       "pick dataset lines at random instead of in order", NULL },
	[O_TIMEOUT] = { 0, "timeout", AIGW_OPT_VALUE, "D",
			"a request without a complete answer by then fails (default 10s)", NULL },
	[O_STREAM] = { 0, "stream", AIGW_OPT_FLAG, NULL,
		       "LLM mode for every answer; JSON bodies get \"stream\":true", NULL },
	[O_SLO] = { 0, "slo", AIGW_OPT_VALUE, "SPEC",
		    "goodput counts answers within ttft=D,e2e=D", NULL },
	[O_CSV] = { 0, "csv", AIGW_OPT_FLAG, NULL, "print CSV: a header and a row per run", NULL },
	[O_DIRECT] = { 0, "direct", AIGW_OPT_VALUE, "URL",
		       "overhead mode: the target reached directly", NULL },
	[O_VIA] = { 0, "via", AIGW_OPT_VALUE, "URL",
		    "overhead mode: the same target through a gateway", NULL },
	[O_ROUNDS] = { 0, "rounds", AIGW_OPT_VALUE, "N",
		       "overhead mode: rounds per target (default 5)", NULL },
	[O_SEED] = { 0, "seed", AIGW_OPT_VALUE, "N",
		     "seed of Poisson arrivals and dataset sampling (default 1)", NULL },
	[O_CACERT] = { 0, "cacert", AIGW_OPT_VALUE, "FILE",
		       "https: trust the certificates of this PEM file instead of the system's",
		       "file" },
};

static const int bench_opts[] = {
	O_CONNECTIONS, O_REQUESTS, O_DURATION, O_RATE, O_ARRIVALS, O_METHOD, O_HEADER, O_BODY,
	O_BODY_FILE, O_DATASET, O_SAMPLE, O_TIMEOUT, O_STREAM, O_SLO, O_CSV, O_DIRECT, O_VIA,
	O_ROUNDS, O_SEED, O_CACERT, AIGW_OPT_END,
};

static const struct aigw_verb verbs[] = {
	{ NULL, "[URL | compare A.json B.json]", 0, 3, NULL,
	  "load-test an HTTP or LLM endpoint", bench_opts },
};

const struct aigw_cmdspec cmd_bench_spec = {
	"bench", "load-test an HTTP or LLM endpoint", opts, sizeof(opts) / sizeof(opts[0]),
	verbs, sizeof(verbs) / sizeof(verbs[0]),
};

/* ------------------------------------------------------------ signals */

/* SIGINT and SIGTERM end the run early; the report of what was measured
 * is still printed (exit 130). */
static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* ------------------------------------------------------------ progress */

struct progress {
	bool on;
	double step_rate; /* > 0: the rate step running */
};

static void show_progress(const struct aigw_bench_progress *p, void *arg)
{
	struct progress *pg = arg;
	char p99[16], step[32] = "";

	aigw_format_us(p->p99_us, p99, sizeof(p99));
	if (pg->step_rate > 0)
		snprintf(step, sizeof(step), "rate %g  ", pg->step_rate);
	fprintf(stderr, "\r\033[K%s%llus  %.0f req/s  p99 %s  errors %llu", step,
		(unsigned long long)(p->elapsed_us / 1000000), p->rate, p99,
		(unsigned long long)p->errors);
	fflush(stderr);
}

static void clear_progress(struct progress *pg)
{
	if (pg->on) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}

/* ------------------------------------------------------------ options */

struct options {
	struct aigw_bench_config c;
	struct aigw_strv dataset;
	char *body;
	double rate_from, rate_to, rate_step;
	int rounds;
	bool csv;
};

static int gather(struct cli *cli, struct options *o)
{
	struct aigw_bench_config *c = &o->c;
	struct aigw_err err = { 0 };
	int64_t v;
	int rc, bodies;

	if (cli_has(cli, O_CONNECTIONS)) {
		if ((rc = cli_int(cli, O_CONNECTIONS, 1, 100000, &v)))
			return rc;
		c->connections = (int)v;
	}
	if (cli_has(cli, O_REQUESTS)) {
		if ((rc = cli_int(cli, O_REQUESTS, 1, INT64_MAX, &v)))
			return rc;
		c->requests = (uint64_t)v;
	}
	if (cli_has(cli, O_DURATION)) {
		if ((rc = cli_duration_ms(cli, O_DURATION, &v)))
			return rc;
		if (v <= 0)
			return cli_failf(cli, AIGW_EINVAL, "--duration: must be more than 0");
		c->duration_us = (uint64_t)v * 1000;
	} else if (!c->requests) {
		c->duration_us = 10 * 1000000ULL;
	}
	if (cli_has(cli, O_TIMEOUT)) {
		if ((rc = cli_duration_ms(cli, O_TIMEOUT, &v)))
			return rc;
		c->timeout_us = (uint64_t)v * 1000;
	}
	if (cli_has(cli, O_RATE)) {
		if (aigw_bench_parse_rate(cli_value(cli, O_RATE), &o->rate_from, &o->rate_to,
					  &o->rate_step, &err))
			return cli_failf(cli, AIGW_EINVAL, "--rate: %s", err.msg);
		c->rate = o->rate_from;
	}
	if (cli_has(cli, O_ARRIVALS)) {
		static const char *const kinds[] = { "constant", "poisson", NULL };
		if ((rc = cli_enum(cli, O_ARRIVALS, kinds, "arrivals", &c->arrivals)))
			return rc;
		if (!cli_has(cli, O_RATE))
			return cli_failf(cli, AIGW_EINVAL, "--arrivals: needs --rate");
	}
	if (cli_has(cli, O_METHOD))
		c->method = cli_value(cli, O_METHOD);
	if (cli_has(cli, O_HEADER))
		c->headers = &cli->args.opt[O_HEADER].list;
	bodies = cli_has(cli, O_BODY) + cli_has(cli, O_BODY_FILE) + cli_has(cli, O_DATASET);
	if (bodies > 1)
		return cli_failf(cli, AIGW_EINVAL,
				 "--body, --body-file and --dataset: give one of them");
	if (cli_has(cli, O_BODY)) {
		c->body = cli_value(cli, O_BODY);
		c->body_len = strlen(c->body);
	} else if (cli_has(cli, O_BODY_FILE)) {
		size_t len;
		if ((rc = cli_read_file(cli, cli_value(cli, O_BODY_FILE), &o->body, &len)))
			return rc;
		c->body = o->body;
		c->body_len = len;
	} else if (cli_has(cli, O_DATASET)) {
		char *data;
		size_t len;
		if ((rc = cli_read_file(cli, cli_value(cli, O_DATASET), &data, &len)))
			return rc;
		rc = aigw_bench_parse_dataset(data, len, &o->dataset, &err);
		free(data);
		if (rc)
			return cli_failf(cli, AIGW_EINVAL, "--dataset: %s: %s",
					 cli_value(cli, O_DATASET), err.msg);
		c->dataset = &o->dataset;
	}
	if (cli_has(cli, O_SAMPLE)) {
		if (!cli_has(cli, O_DATASET))
			return cli_failf(cli, AIGW_EINVAL, "--sample: needs --dataset");
		c->dataset_random = true;
	}
	c->stream = cli_has(cli, O_STREAM);
	if (cli_has(cli, O_SLO) &&
	    aigw_bench_parse_slo(cli_value(cli, O_SLO), &c->slo_ttft_us, &c->slo_e2e_us, &err))
		return cli_failf(cli, AIGW_EINVAL, "--slo: %s", err.msg);
	if (cli_has(cli, O_SEED)) {
		if ((rc = cli_int(cli, O_SEED, 1, INT64_MAX, &v)))
			return rc;
		c->seed = (uint64_t)v;
	}
	if (cli_has(cli, O_CACERT))
		c->ca_file = cli_value(cli, O_CACERT);
	o->csv = cli_has(cli, O_CSV);
	if (o->csv && cli->json)
		return cli_failf(cli, AIGW_EINVAL, "--csv and --json: give one of them");
	o->rounds = 5;
	if (cli_has(cli, O_ROUNDS)) {
		if ((rc = cli_int(cli, O_ROUNDS, 1, 1000, &v)))
			return rc;
		o->rounds = (int)v;
	}
	return 0;
}

/* ------------------------------------------------------------ modes */

static void print_buf(struct cli *cli, struct aigw_buf *b)
{
	fputs(b->data, cli->out);
	aigw_buf_release(b);
}

static void warn_saturated(struct cli *cli, const struct aigw_bench_result *r)
{
	if (r->saturated)
		cli_note(cli,
			 "warning: the generator used %.0f%% of a core: these figures may be its "
			 "limit, not the target's",
			 100.0 * (double)(r->cpu_user_us + r->cpu_system_us) / (double)r->elapsed_us);
	if (r->lagged)
		cli_note(cli, "note: requests waited for a free connection; latencies count the "
			      "wait (raise -c to offer the rate)");
}

static int compare(struct cli *cli)
{
	char *text[2] = { NULL, NULL };
	cJSON *doc[2] = { NULL, NULL };
	struct aigw_buf out = AIGW_BUF_INIT;
	struct aigw_err err = { 0 };
	int rc = 0;

	if (cli->args.n_pos != 3)
		return cli_failf(cli, AIGW_EINVAL, "compare needs two reports: compare A.json B.json");
	if (cli->json || cli_has(cli, O_CSV))
		return cli_failf(cli, AIGW_EINVAL, "compare prints a table only (no --json or --csv)");
	for (int i = 0; i < 2 && !rc; i++) {
		size_t len;
		if ((rc = cli_read_file(cli, cli->args.pos[i + 1], &text[i], &len)))
			break;
		doc[i] = cJSON_ParseWithLength(text[i], len);
		if (!doc[i])
			rc = cli_failf(cli, AIGW_EINVAL, "'%s' is not JSON", cli->args.pos[i + 1]);
	}
	if (!rc && aigw_bench_compare(doc[0], doc[1], &out, &err))
		rc = cli_failf(cli, AIGW_EINVAL, "%s", err.msg);
	if (!rc)
		print_buf(cli, &out);
	aigw_buf_release(&out);
	for (int i = 0; i < 2; i++) {
		cJSON_Delete(doc[i]);
		free(text[i]);
	}
	return rc;
}

static int overhead(struct cli *cli, struct options *o, struct progress *pg)
{
	struct aigw_bench_overhead ov;
	struct aigw_err err = { 0 };
	const char *direct = cli_value(cli, O_DIRECT), *via = cli_value(cli, O_VIA);

	if (o->rate_to != o->rate_from)
		return cli_failf(cli, AIGW_EINVAL, "--rate: one rate in overhead mode");
	if (o->csv)
		return cli_failf(cli, AIGW_EINVAL, "--csv: not in overhead mode (use --json)");
	if (aigw_bench_overhead_run(&o->c, direct, via, o->rounds, &ov, &err)) {
		clear_progress(pg);
		if (interrupted) {
			cli_note(cli, "interrupted");
			return 130;
		}
		return cli_fail(cli, &err);
	}
	clear_progress(pg);
	if (cli->json) {
		cli_json(cli, aigw_bench_overhead_json(&ov, direct, via));
	} else {
		struct aigw_buf out = AIGW_BUF_INIT;
		aigw_bench_overhead_text(&ov, &out);
		print_buf(cli, &out);
	}
	return EXIT_OK;
}

static int one_target(struct cli *cli, struct options *o, struct progress *pg)
{
	size_t n = 1, done = 0;
	struct aigw_bench_result *res;
	struct aigw_err err = { 0 };
	int rc = EXIT_OK;

	if (o->rate_to > o->rate_from)
		n = (size_t)((o->rate_to - o->rate_from) / o->rate_step + 1e-9) + 1;
	res = calloc(n, sizeof(*res));
	if (!res)
		return cli_failf(cli, AIGW_EFAIL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (aigw_bench_result_init(&res[i], &err)) {
			rc = cli_fail(cli, &err);
			goto out;
		}
		done++;
		o->c.rate = o->rate_from > 0 ? o->rate_from + (double)i * o->rate_step : 0;
		pg->step_rate = n > 1 ? o->c.rate : 0;
		if (aigw_bench_run(&o->c, &res[i], &err)) {
			clear_progress(pg);
			rc = cli_fail(cli, &err);
			goto out;
		}
		if (aigw_bench_unreachable(&res[i]) || res[i].interrupted)
			break;
	}
	clear_progress(pg);
	if (cli->json) {
		if (n == 1) {
			cli_json(cli, aigw_bench_json(&res[0]));
		} else {
			cJSON *doc = cJSON_CreateObject();
			cJSON *steps = cJSON_AddArrayToObject(doc, "steps");
			cJSON_AddStringToObject(doc, "url", o->c.url);
			for (size_t i = 0; i < done; i++)
				cJSON_AddItemToArray(steps, aigw_bench_json(&res[i]));
			cli_json(cli, doc);
		}
	} else {
		struct aigw_buf out = AIGW_BUF_INIT;
		if (o->csv) {
			aigw_bench_csv_header(&out);
			for (size_t i = 0; i < done; i++)
				aigw_bench_csv_row(&res[i], &out);
		} else if (n == 1) {
			/* An unreachable target's report is all zeros: the error
			 * line below says it all. */
			if (!aigw_bench_unreachable(&res[0]))
				aigw_bench_text(&res[0], &out);
		} else {
			char per[16] = "";
			if (o->c.duration_us)
				aigw_format_us(o->c.duration_us, per, sizeof(per));
			aigw_buf_printf(&out, "target %s, %s%s%s per step, %d connections\n\n",
					o->c.url, per, o->c.duration_us && o->c.requests ? " or " : "",
					o->c.requests ? "-n" : "", o->c.connections);
			aigw_bench_steps_text(res, done, &out);
		}
		print_buf(cli, &out);
	}
	fflush(cli->out); /* the report before any warning, on a terminal */
	for (size_t i = 0; i < done; i++) {
		if (aigw_bench_unreachable(&res[i])) {
			rc = cli_failf(cli, AIGW_EFAIL, "cannot connect to %s: %s", o->c.url,
				       res[i].last_failure);
			goto out;
		}
		warn_saturated(cli, &res[i]);
	}
	if (interrupted) {
		cli_note(cli, "interrupted");
		rc = 130;
	}
out:
	for (size_t i = 0; i < done; i++)
		aigw_bench_result_release(&res[i]);
	free(res);
	return rc;
}

/* ------------------------------------------------------------ command */

int cmd_bench(struct cli *cli);
int cmd_bench(struct cli *cli)
{
	struct options o;
	struct progress pg = { false, 0 };
	int rc;

	if (cli->args.n_pos > 0 && strcmp(cli->args.pos[0], "compare") == 0)
		return compare(cli);
	memset(&o, 0, sizeof(o));
	aigw_bench_config_init(&o.c);
	if ((rc = gather(cli, &o)))
		goto out;
	pg.on = !cli->quiet && isatty(STDERR_FILENO);
	if (pg.on) {
		o.c.progress = show_progress;
		o.c.progress_arg = &pg;
	}
	o.c.interrupted = &interrupted;
	catch_signals();
	if (cli_has(cli, O_DIRECT) || cli_has(cli, O_VIA)) {
		if (!cli_has(cli, O_DIRECT) || !cli_has(cli, O_VIA))
			rc = cli_failf(cli, AIGW_EINVAL, "overhead mode needs both --direct and --via");
		else if (cli->args.n_pos)
			rc = cli_failf(cli, AIGW_EINVAL,
				       "overhead mode takes no URL (--direct and --via name the targets)");
		else
			rc = overhead(cli, &o, &pg);
		goto out;
	}
	if (cli_has(cli, O_ROUNDS)) {
		rc = cli_failf(cli, AIGW_EINVAL, "--rounds: only with --direct and --via");
		goto out;
	}
	if (cli->args.n_pos != 1) {
		rc = cli_failf(cli, AIGW_EINVAL, cli->args.n_pos ? "one URL only"
								 : "missing URL (see 'aigw bench -h')");
		goto out;
	}
	o.c.url = cli->args.pos[0];
	rc = one_target(cli, &o, &pg);
out:
	aigw_strv_release(&o.dataset);
	free(o.body);
	return rc;
}
