/* aigw serve: the gateway. Thin: reads the config and options, starts the
 * gateway (lib/gateway.c) and, when AIGW_ADMIN_TOKEN is set, the admin API
 * next to it (lib/admin.c), and runs the control thread that handles
 * signals (SIGHUP reload, SIGTERM/SIGINT drain) and notices database
 * changes made by other aigw commands within a quarter of a second. */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "cli.h"
#include "clock.h"
#include "gateway.h"
#include "keys.h"
#include "live.h"
#include "log.h"
#include "mem.h"
#include "mock.h"
#include "nodes.h"
#include "routes.h"
#include "server.h"

enum { O_LISTEN, O_ADMIN_LISTEN, O_WORKERS, O_DEMO };

static const struct aigw_opt opts[] = {
	[O_LISTEN] = { 0, "listen", AIGW_OPT_VALUE, "ADDR:PORT",
		       "address to answer on (default: listen in aigw.yaml, else 127.0.0.1:8080)", NULL },
	[O_ADMIN_LISTEN] = { 0, "admin-listen", AIGW_OPT_VALUE, "ADDR:PORT",
			     "address of the admin API, which runs when AIGW_ADMIN_TOKEN is set (default: admin_listen in aigw.yaml, else 127.0.0.1:8081)",
			     NULL },
	[O_WORKERS] = { 0, "workers", AIGW_OPT_VALUE, "N", "worker threads (0 = one per core)", NULL },
	[O_DEMO] = { 0, "demo", AIGW_OPT_FLAG, NULL,
		     "start with a built-in mock provider, a demo route and a demo key (state kept in a temporary directory)",
		     NULL },
};
static const int serve_opts[] = { O_LISTEN, O_ADMIN_LISTEN, O_WORKERS, O_DEMO, AIGW_OPT_END };
static const struct aigw_verb verbs[] = {
	{ NULL, "", 0, 0, NULL, "run the gateway", serve_opts },
};

const struct aigw_cmdspec cmd_serve_spec = {
	"serve", "run the gateway: an OpenAI-compatible API in front of your nodes", opts,
	sizeof(opts) / sizeof(opts[0]), verbs, 1,
};

struct control {
	struct aigw_gateway *gw;
	struct aigw_admin *admin;  /* NULL: no admin API */
	const char *config_path;   /* NULL: no file to re-read */
	uint64_t drain_ms;
	atomic_bool quit;
};

static void *control_main(void *arg)
{
	struct control *ctl = arg;
	sigset_t set;
	struct timespec tick = { 0, 250 * 1000 * 1000 };
	struct aigw_live_tracker live = { 0 };
	uint64_t published = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	while (!atomic_load(&ctl->quit)) {
		struct aigw_err err = { 0 };
		int sig = sigtimedwait(&set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			aigw_log_info("draining (up to %llu ms) and stopping",
				      (unsigned long long)ctl->drain_ms);
			aigw_gateway_stop(ctl->gw, ctl->drain_ms);
			aigw_admin_stop(ctl->admin, ctl->drain_ms);
			break;
		}
		if (sig == SIGHUP) {
			struct aigw_conf conf;
			aigw_conf_init(&conf);
			if (ctl->config_path && aigw_conf_load_file(&conf, ctl->config_path, &err))
				aigw_log_error("SIGHUP: %s; keeping the old configuration", err.msg);
			else if (aigw_gateway_reload(ctl->gw, &conf, &err))
				aigw_log_error("SIGHUP: %s; keeping the old configuration", err.msg);
			else {
				if (ctl->admin)
					aigw_admin_reload(ctl->admin, &conf);
				aigw_log_set_level((enum aigw_log_level)conf.log_level);
				ctl->drain_ms = (uint64_t)conf.drain_timeout_ms;
				aigw_log_info("configuration reloaded%s%s", ctl->config_path ? " from " : "",
					      ctl->config_path ? ctl->config_path : "");
			}
			aigw_conf_release(&conf);
			continue;
		}
		if (aigw_gateway_poll(ctl->gw, &err) < 0)
			aigw_log_warn("cannot read the database: %s", err.msg);
		aigw_gateway_trim_when_quiet(ctl->gw);
		aigw_gateway_tick(ctl->gw, aigw_clock_mono_ms());
		if (aigw_clock_mono_ms() - published >= 1000) {
			published = aigw_clock_mono_ms();
			if (aigw_gateway_publish_live(ctl->gw, &live, &err))
				aigw_log_debug("cannot publish the live state: %s", err.msg);
		}
	}
	aigw_live_tracker_release(&live);
	return NULL;
}

/* ---------------------------------------------------------------- demo */

struct demo {
	char dir[64];
	char db[128];
	struct aigw_mock *mock;
	struct aigw_server *server;
	pthread_t thread;
	bool running;
	char key[AIGW_APIKEY_LEN + 1];
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void *demo_main(void *arg)
{
	struct demo *d = arg;
	aigw_server_run(d->server, NULL);
	return NULL;
}

/* A mock provider on a free port, a node and a route to it, and a key, all
 * in a temporary database so the demo leaves the real one alone. */
static int demo_start(struct cli *cli, struct demo *d)
{
	struct aigw_mock_config mc;
	struct aigw_server_config sc;
	struct aigw_store *s = NULL;
	struct aigw_err err = { 0 };
	struct aigw_node n;
	struct aigw_route r;
	struct aigw_key k;
	struct aigw_key_changes kc = { .name = "demo" };
	int rc;

	snprintf(d->dir, sizeof(d->dir), "%s/aigw-demo-XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(d->dir))
		return cli_failf(cli, AIGW_EFAIL, "cannot make a temporary directory");
	snprintf(d->db, sizeof(d->db), "%s/aigw.db", d->dir);
	aigw_mock_config_init(&mc);
	rc = aigw_mock_new(&d->mock, &mc, &err);
	aigw_mock_config_release(&mc);
	if (rc)
		return cli_fail(cli, &err);
	aigw_server_config_init(&sc);
	sc.listen = "127.0.0.1:0";
	sc.workers = 1;
	aigw_mock_attach(d->mock, &sc);
	if (aigw_server_new(&d->server, &sc, &err))
		return cli_fail(cli, &err);
	if (pthread_create(&d->thread, NULL, demo_main, d))
		return cli_failf(cli, AIGW_EFAIL, "cannot start the demo mock");
	d->running = true;

	if (aigw_store_open(&s, d->db, AIGW_STORE_CREATE, &err))
		return cli_fail(cli, &err);
	aigw_node_init(&n);
	n.name = aigw_strdup("demo-mock");
	{
		char url[128];
		snprintf(url, sizeof(url), "http://%s/v1", aigw_server_address(d->server));
		n.url = aigw_strdup(url);
	}
	n.provider = AIGW_PROVIDER_OPENAI_COMPATIBLE;
	for (size_t i = 0; aigw_mock_default_models[i]; i++)
		aigw_strv_push(&n.models, aigw_mock_default_models[i]);
	aigw_route_init(&r);
	r.name = aigw_strdup("demo");
	r.path = aigw_strdup("/v1");
	aigw_strv_push(&r.nodes, "demo-mock");
	rc = aigw_nodes_add(s, NULL, &n, &err);
	if (!rc)
		rc = aigw_routes_add(s, NULL, &r, &err);
	if (!rc && (rc = aigw_keys_create(s, &kc, &k, d->key, &err)) == 0)
		aigw_key_release(&k);
	aigw_node_release(&n);
	aigw_route_release(&r);
	aigw_store_close(s);
	return rc ? cli_fail(cli, &err) : 0;
}

static void demo_stop(struct demo *d)
{
	if (d->running) {
		aigw_server_stop(d->server, 0);
		pthread_join(d->thread, NULL);
	}
	aigw_server_free(d->server);
	aigw_mock_free(d->mock);
	memset(d->key, 0, sizeof(d->key));
	if (d->dir[0])
		nftw(d->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---------------------------------------------------------------- main */

int cmd_serve(struct cli *cli);
int cmd_serve(struct cli *cli)
{
	const struct aigw_conf *loaded;
	struct aigw_conf conf;
	struct aigw_gateway *gw = NULL;
	struct aigw_admin *admin = NULL;
	const char *admin_token = getenv("AIGW_ADMIN_TOKEN");
	struct aigw_err err = { 0 };
	struct control ctl;
	struct demo demo;
	pthread_t control;
	sigset_t set;
	char db[4096];
	const char *db_path;
	int is_default, rc;

	memset(&demo, 0, sizeof(demo));
	if ((rc = cli_conf(cli, &loaded)))
		return rc;
	conf = *loaded; /* a shallow copy: only scalars are changed below */
	if (cli_has(cli, O_LISTEN))
		conf.listen = (char *)cli_value(cli, O_LISTEN);
	if (cli_has(cli, O_WORKERS) && (rc = cli_int(cli, O_WORKERS, 0, 256, &conf.workers)))
		return rc;
	if (cli_has(cli, O_ADMIN_LISTEN)) {
		if (!admin_token || !*admin_token)
			return cli_failf(cli, AIGW_EINVAL,
					 "--admin-listen: the admin API needs a token: set AIGW_ADMIN_TOKEN");
		conf.admin_listen = (char *)cli_value(cli, O_ADMIN_LISTEN);
	}

	/* Signals are taken by the control thread only: block them in every
	 * thread, which inherit this mask, the demo
	 * mock's threads included: set before any thread starts. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (cli_has(cli, O_DEMO)) {
		if ((rc = demo_start(cli, &demo)))
			goto out;
		db_path = demo.db;
	} else {
		struct aigw_store *s;
		if (aigw_store_path(cli->args.global[AIGW_GOPT_DB].value, db, sizeof(db),
				    &is_default, &err))
			return cli_fail(cli, &err);
		/* Make (or migrate) the database now, with the usual rules. */
		if ((rc = cli_store(cli, true, &s)))
			return rc;
		db_path = db;
	}


	if (aigw_gateway_new(&gw, &conf, db_path, &err)) {
		rc = cli_fail(cli, &err);
		goto out;
	}
	if (admin_token && *admin_token) {
		struct aigw_admin_config ac = { conf.admin_listen, admin_token, db_path, &conf };
		if (aigw_admin_new(&admin, &ac, &err) || aigw_admin_start(admin, &err)) {
			rc = cli_fail(cli, &err);
			goto out;
		}
		aigw_log_info("admin API on %s", aigw_admin_address(admin));
		if (!aigw_admin_is_loopback(admin))
			aigw_log_warn("the admin API listens beyond loopback (%s): anyone who can reach it and has the token can change keys, nodes and routes",
				      aigw_admin_address(admin));
	}
	printf("listening on %s\n", aigw_gateway_address(gw));
	if (admin)
		printf("admin listening on %s\n", aigw_admin_address(admin));
	if (demo.key[0]) {
		printf("demo key: %s\n"
		       "try: curl http://%s/v1/chat/completions -H 'Authorization: Bearer %s' "
		       "-d '{\"model\":\"mock-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}'\n",
		       demo.key, aigw_gateway_address(gw), demo.key);
	}
	fflush(stdout);

	ctl.gw = gw;
	ctl.admin = admin;
	ctl.config_path = cli->conf.path;
	ctl.drain_ms = (uint64_t)conf.drain_timeout_ms;
	atomic_init(&ctl.quit, false);
	if (pthread_create(&control, NULL, control_main, &ctl)) {
		rc = cli_failf(cli, AIGW_EFAIL, "cannot start the control thread");
		goto out;
	}
	rc = aigw_gateway_run(gw, &err) ? cli_fail(cli, &err) : 0;
	atomic_store(&ctl.quit, true);
	pthread_join(control, NULL);
	/* A stopped gateway shows no live state. */
	if (aigw_gateway_clear_live(gw, &err))
		aigw_log_warn("cannot clear the live state: %s", err.msg);
out:
	aigw_admin_free(admin);
	aigw_gateway_free(gw);
	if (cli_has(cli, O_DEMO))
		demo_stop(&demo);
	return rc;
}
