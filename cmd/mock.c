/* aigw mock: a fake LLM provider (one of several dialects) on lib/server + lib/mock.
 * Thin: parses options, builds the mock and the server, prints the
 * address, runs until a signal (or --requests / --duration). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "mock.h"
#include "server.h"

enum {
	O_LISTEN, O_WORKERS, O_DIALECT, O_LATENCY, O_JITTER, O_TTFT, O_TPS, O_TOKENS,
	O_ERROR_RATE, O_ERROR_STATUS, O_RATE_LIMIT_RATE, O_RETRY_AFTER, O_MODELS, O_SEED,
	O_REQUESTS, O_DURATION, O_SLOW,
};

static const struct aigw_opt opts[] = {
	[O_LISTEN] = { 0, "listen", AIGW_OPT_VALUE, "ADDR:PORT",
		       "address to listen on (default 127.0.0.1:8000; port 0 picks a free one)", NULL },
	[O_WORKERS] = { 0, "workers", AIGW_OPT_VALUE, "N",
			"worker threads (default: one per core)", NULL },
	[O_DIALECT] = { 0, "dialect", AIGW_OPT_VALUE, "NAME",
			"API to imitate: openai, anthropic, gemini, ollama or azure (default openai)",
			"choice:openai|anthropic|gemini|ollama|azure" },
	[O_LATENCY] = { 0, "latency", AIGW_OPT_VALUE, "D",
			"delay before the answer, or before a stream's first byte", NULL },
	[O_JITTER] = { 0, "jitter", AIGW_OPT_VALUE, "D",
		       "random delay in [-D, +D] added to the latency", NULL },
	[O_TTFT] = { 0, "ttft", AIGW_OPT_VALUE, "D",
		     "streams: time from the first byte to the first token", NULL },
	[O_TPS] = { 0, "tokens-per-sec", AIGW_OPT_VALUE, "N",
		    "streams: pace of tokens (default: all at once)", NULL },
	[O_TOKENS] = { 0, "tokens", AIGW_OPT_VALUE, "N",
		       "tokens per completion, unless max_tokens is smaller (default 16)", NULL },
	[O_ERROR_RATE] = { 0, "error-rate", AIGW_OPT_VALUE, "F",
			   "share of requests (0 to 1) answered with the error status", NULL },
	[O_ERROR_STATUS] = { 0, "error-status", AIGW_OPT_VALUE, "CODE",
			     "status of those errors (default 500)", NULL },
	[O_RATE_LIMIT_RATE] = { 0, "rate-limit-rate", AIGW_OPT_VALUE, "F",
				"share of requests (0 to 1) answered 429 with Retry-After", NULL },
	[O_RETRY_AFTER] = { 0, "retry-after", AIGW_OPT_VALUE, "D",
			    "Retry-After of the 429 answers (default 1s)", NULL },
	[O_MODELS] = { 0, "models", AIGW_OPT_LIST, "M,...",
		       "models served; others get 404 (default: a few names, any model accepted)",
		       NULL },
	[O_SEED] = { 0, "seed", AIGW_OPT_VALUE, "N",
		     "seed of the random jitter and failures (default 1)", NULL },
	[O_REQUESTS] = { 0, "requests", AIGW_OPT_VALUE, "N",
			 "exit after answering N requests", NULL },
	[O_DURATION] = { 0, "duration", AIGW_OPT_VALUE, "D", "exit after running for D", NULL },
	[O_SLOW] = { 0, "slow", AIGW_OPT_VALUE, "AT:FOR:FACTOR",
		     "a slow spell: from AT after the start, for FOR, the latency times FACTOR (e.g. 20s:20s:8)",
		     NULL },
};

static const int mock_opts[] = {
	O_LISTEN, O_WORKERS, O_DIALECT, O_LATENCY, O_JITTER, O_TTFT, O_TPS, O_TOKENS,
	O_ERROR_RATE, O_ERROR_STATUS, O_RATE_LIMIT_RATE, O_RETRY_AFTER, O_MODELS, O_SEED,
	O_REQUESTS, O_DURATION, O_SLOW, AIGW_OPT_END,
};

static const struct aigw_verb verbs[] = {
	{ NULL, "", 0, 0, NULL,
	  "run a fake LLM provider (OpenAI, Anthropic, Gemini, Ollama or Azure)", mock_opts },
};

const struct aigw_cmdspec cmd_mock_spec = {
	"mock", "run a fake LLM provider for tests and benchmarks", opts,
	sizeof(opts) / sizeof(opts[0]), verbs, sizeof(verbs) / sizeof(verbs[0]),
};

/* The first SIGINT/SIGTERM drains for this long; a second one stops at
 * once. */
#define GRACE_MS 5000

/* A decimal number in [min, max] ("0.25", "1e-3"). */
static int number(struct cli *cli, int opt, double min, double max, double *out)
{
	const char *s = cli_value(cli, opt);
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !(v >= min && v <= max))
		return cli_failf(cli, AIGW_EINVAL, "--%s: '%s' is not a number between %g and %g",
				 opts[opt].long_name, s, min, max);
	*out = v;
	return 0;
}

static int duration(struct cli *cli, int opt, int64_t *out)
{
	return cli_has(cli, opt) ? cli_duration_ms(cli, opt, out) : 0;
}

static int gather(struct cli *cli, struct aigw_mock_config *mc, struct aigw_server_config *sc)
{
	int64_t v;
	int rc;

	if (cli_has(cli, O_LISTEN))
		sc->listen = cli_value(cli, O_LISTEN);
	if (cli_has(cli, O_WORKERS)) {
		if ((rc = cli_int(cli, O_WORKERS, 1, 1024, &v)))
			return rc;
		sc->workers = (int)v;
	}
	if (cli_has(cli, O_DIALECT)) {
		mc->dialect = aigw_mock_dialect_parse(cli_value(cli, O_DIALECT));
		if (mc->dialect < 0)
			return cli_failf(cli, AIGW_EINVAL,
					 "--dialect: unknown dialect '%s' (known: openai, anthropic, "
					 "gemini, ollama, azure)",
					 cli_value(cli, O_DIALECT));
	}
	if ((rc = duration(cli, O_LATENCY, &mc->latency_ms)) ||
	    (rc = duration(cli, O_JITTER, &mc->jitter_ms)) ||
	    (rc = duration(cli, O_TTFT, &mc->ttft_ms)) ||
	    (rc = duration(cli, O_RETRY_AFTER, &mc->retry_after_ms)) ||
	    (rc = duration(cli, O_DURATION, &mc->duration_ms)))
		return rc;
	if (cli_has(cli, O_DURATION) && mc->duration_ms == 0)
		return cli_failf(cli, AIGW_EINVAL, "--duration: must be more than 0");
	if (cli_has(cli, O_TPS) && (rc = number(cli, O_TPS, 0, 1e9, &mc->tokens_per_sec)))
		return rc;
	if (cli_has(cli, O_TOKENS)) {
		if ((rc = cli_int(cli, O_TOKENS, 0, AIGW_MOCK_TOKENS_MAX, &v)))
			return rc;
		mc->tokens = (int)v;
	}
	if (cli_has(cli, O_ERROR_RATE) && (rc = number(cli, O_ERROR_RATE, 0, 1, &mc->error_rate)))
		return rc;
	if (cli_has(cli, O_RATE_LIMIT_RATE) &&
	    (rc = number(cli, O_RATE_LIMIT_RATE, 0, 1, &mc->rate_limit_rate)))
		return rc;
	if (cli_has(cli, O_ERROR_STATUS)) {
		if ((rc = cli_int(cli, O_ERROR_STATUS, 400, 599, &v)))
			return rc;
		mc->error_status = (int)v;
	}
	if (cli_has(cli, O_MODELS) && (rc = cli_list(cli, O_MODELS, &mc->models)))
		return rc;
	if (cli_has(cli, O_SEED)) {
		if ((rc = cli_int(cli, O_SEED, 0, INT64_MAX, &v)))
			return rc;
		mc->seed = (uint64_t)v;
	}
	if (cli_has(cli, O_SLOW)) {
		char at[32], len[32];
		double f;
		char *end;
		const char *s = cli_value(cli, O_SLOW);
		if (sscanf(s, "%31[^:]:%31[^:]:%lf", at, len, &f) != 3 ||
		    aigw_parse_duration_ms(at, &mc->slow_at_ms, NULL) ||
		    aigw_parse_duration_ms(len, &mc->slow_for_ms, NULL) || !(f > 0 && f <= 1000) ||
		    (strtod(strrchr(s, ':') + 1, &end), *end))
			return cli_failf(cli, AIGW_EINVAL,
					 "--slow: '%s' is not AT:FOR:FACTOR (durations, and a factor "
					 "above 0 and at most 1000, e.g. 20s:20s:8)", s);
		mc->slow_factor = f;
	}
	if (cli_has(cli, O_REQUESTS)) {
		if ((rc = cli_int(cli, O_REQUESTS, 1, INT64_MAX, &v)))
			return rc;
		mc->max_requests = (uint64_t)v;
	}
	return 0;
}

/* ------------------------------------------------------------ signals */

/* Signals arrive on a signalfd watched by a thread of their own, which
 * only asks the server to stop: no work in a signal handler. */
struct signals {
	struct aigw_server *server;
	int signal_fd;
	int quit_fd; /* written when the server has returned */
	pthread_t thread;
};

static void *watch_signals(void *arg)
{
	struct signals *sg = arg;
	struct pollfd p[2] = { { sg->signal_fd, POLLIN, 0 }, { sg->quit_fd, POLLIN, 0 } };
	int received = 0;

	for (;;) {
		struct signalfd_siginfo info;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents && read(sg->signal_fd, &info, sizeof(info)) == sizeof(info))
			aigw_server_stop(sg->server, ++received == 1 ? GRACE_MS : 0);
	}
	return NULL;
}

static int signals_start(struct signals *sg, struct aigw_server *server, sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGTERM);
	/* Blocked before the workers start, so every thread inherits it and
	 * the signals wait on the signalfd. */
	if (pthread_sigmask(SIG_BLOCK, mask, NULL) != 0)
		return -1;
	sg->server = server;
	sg->signal_fd = signalfd(-1, mask, SFD_CLOEXEC);
	sg->quit_fd = eventfd(0, EFD_CLOEXEC);
	if (sg->signal_fd < 0 || sg->quit_fd < 0 ||
	    pthread_create(&sg->thread, NULL, watch_signals, sg) != 0) {
		if (sg->signal_fd >= 0)
			close(sg->signal_fd);
		if (sg->quit_fd >= 0)
			close(sg->quit_fd);
		return -1;
	}
	return 0;
}

static void signals_stop(struct signals *sg)
{
	uint64_t one = 1;

	if (write(sg->quit_fd, &one, sizeof(one)) < 0) {
		/* an eventfd write cannot fail here; nothing to do if it does */
	}
	pthread_join(sg->thread, NULL);
	close(sg->signal_fd);
	close(sg->quit_fd);
}

/* ------------------------------------------------------------ command */

int cmd_mock(struct cli *cli);
int cmd_mock(struct cli *cli)
{
	struct aigw_mock_config mc;
	struct aigw_server_config sc;
	struct aigw_mock *mock = NULL;
	struct aigw_server *server = NULL;
	struct aigw_err err = { 0 };
	struct signals sg;
	sigset_t mask;
	int rc;

	aigw_mock_config_init(&mc);
	aigw_server_config_init(&sc);
	if ((rc = gather(cli, &mc, &sc)))
		goto out;
	if (aigw_mock_new(&mock, &mc, &err)) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	aigw_mock_attach(mock, &sc);
	signal(SIGPIPE, SIG_IGN);
	if (aigw_server_new(&server, &sc, &err)) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	if (signals_start(&sg, server, &mask)) {
		rc = cli_failf(cli, AIGW_EFAIL, "cannot watch signals: %s", strerror(errno));
		goto out;
	}
	/* Scripts read this line to learn the port (with --listen ...:0). */
	if (cli->json)
		fprintf(cli->out, "{\"address\":\"%s\",\"workers\":%d}\n", aigw_server_address(server),
			aigw_server_workers(server));
	else
		fprintf(cli->out, "listening on %s\n", aigw_server_address(server));
	fflush(cli->out);

	rc = aigw_server_run(server, &err);
	signals_stop(&sg);
	pthread_sigmask(SIG_UNBLOCK, &mask, NULL);
	if (rc) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	cli_note(cli, "stopped after %llu requests",
		 (unsigned long long)aigw_mock_requests(mock));
	rc = EXIT_OK;
out:
	aigw_server_free(server);
	aigw_mock_free(mock);
	aigw_mock_config_release(&mc);
	return rc;
}
