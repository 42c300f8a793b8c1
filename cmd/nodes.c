/* aigw nodes: add, list, show, update, enable, disable, drain, remove and
 * import upstream nodes. Thin: parses options, calls lib/nodes.c, prints. */
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "cli.h"
#include "clock.h"
#include "live.h"
#include "mem.h"
#include "nodes.h"
#include "records.h"

enum { O_URL, O_PROVIDER, O_TYPE, O_REGION, O_WEIGHT, O_MODELS, O_API_KEY_ENV,
       O_PROXY, O_MAX_CONC, O_COST, O_STANDBY, O_REPLACE };

static const struct aigw_opt opts[] = {
	[O_URL] = { 0, "url", AIGW_OPT_VALUE, "URL", "base URL of the upstream (http or https)", NULL },
	[O_PROVIDER] = { 0, "provider", AIGW_OPT_VALUE, "P", "wire format: openai, openai-compatible, anthropic, gemini, ollama, azure or http",
			 "choice:openai|openai-compatible|anthropic|gemini|ollama|azure|http" },
	[O_TYPE] = { 0, "type", AIGW_OPT_VALUE, "T", "where the node runs: cloud, edge, mobile or validator",
		     "choice:cloud|edge|mobile|validator" },
	[O_REGION] = { 0, "region", AIGW_OPT_VALUE, "R", "region label used by geo-aware routing (empty removes it)", NULL },
	[O_WEIGHT] = { 0, "weight", AIGW_OPT_VALUE, "W", "share of traffic relative to other nodes (1..1000)", NULL },
	[O_MODELS] = { 0, "models", AIGW_OPT_LIST, "M,...", "models served, as names or globs (empty = any)", NULL },
	[O_API_KEY_ENV] = { 0, "api-key-env", AIGW_OPT_VALUE, "VAR[,VAR...]",
			    "environment variables holding the node's API keys, one account each, taking turns (empty removes them)", NULL },
	[O_PROXY] = { 0, "proxy", AIGW_OPT_VALUE, "URL",
		      "outbound HTTP proxy http://host:port for every account of the node (empty removes it)", NULL },
	[O_MAX_CONC] = { 0, "max-concurrency", AIGW_OPT_VALUE, "N", "requests in flight allowed at once (0 = unlimited)", NULL },
	[O_COST] = { 0, "cost", AIGW_OPT_VALUE, "C", "price of its answers in cents per million tokens, for routes preferring cheap nodes (-1 = unknown)", NULL },
	[O_STANDBY] = { 0, "standby", AIGW_OPT_NEGFLAG, NULL, "keep the node in reserve until the active pool runs short", NULL },
	[O_REPLACE] = { 0, "replace", AIGW_OPT_FLAG, NULL, "update nodes that already exist instead of failing", NULL },
};

static const int add_opts[] = { O_URL | AIGW_OPT_REQUIRED, O_PROVIDER | AIGW_OPT_REQUIRED,
				O_TYPE, O_REGION, O_WEIGHT, O_MODELS, O_API_KEY_ENV,
				O_PROXY, O_MAX_CONC, O_COST, O_STANDBY, AIGW_OPT_END };
static const int update_opts[] = { O_URL, O_PROVIDER, O_TYPE, O_REGION, O_WEIGHT, O_MODELS,
				   O_API_KEY_ENV, O_PROXY, O_MAX_CONC, O_COST, O_STANDBY, AIGW_OPT_END };
static const int import_opts[] = { O_REPLACE, AIGW_OPT_END };
static const int no_opts[] = { AIGW_OPT_END };
static const char *const node_arg[] = { "node", NULL };
static const char *const file_arg[] = { "file", NULL };

static const struct aigw_verb verbs[] = {
	{ "add", "NAME", 1, 1, NULL, "add a node", add_opts },
	{ "list", "", 0, 0, NULL, "list nodes from aigw.yaml and the database", no_opts },
	{ "show", "NAME", 1, 1, node_arg, "show one node", no_opts },
	{ "update", "NAME", 1, 1, node_arg, "change a node's settings", update_opts },
	{ "enable", "NAME", 1, 1, node_arg, "let a node take traffic", no_opts },
	{ "disable", "NAME", 1, 1, node_arg, "stop sending traffic to a node", no_opts },
	{ "drain", "NAME", 1, 1, node_arg, "let a node finish what it has and take nothing new", no_opts },
	{ "rm", "NAME", 1, 1, node_arg, "remove a node (not while a route names it)", no_opts },
	{ "import", "[FILE|-]", 0, 1, file_arg, "add nodes from JSON lines or YAML, all or nothing", import_opts },
};

const struct aigw_cmdspec cmd_nodes_spec = {
	"nodes", "add, list and manage upstream nodes", opts,
	sizeof(opts) / sizeof(opts[0]), verbs, sizeof(verbs) / sizeof(verbs[0]),
};

struct holders {
	int provider, type;
	int64_t weight, max_conc, cost;
	bool standby;
	struct aigw_strv models;
};

static int gather(struct cli *cli, struct aigw_node_changes *c, struct holders *h)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->url = cli_value(cli, O_URL);
	c->region = cli_value(cli, O_REGION);
	c->api_key_env = cli_value(cli, O_API_KEY_ENV);
	c->proxy = cli_value(cli, O_PROXY);
	if (cli_has(cli, O_PROVIDER)) {
		if ((rc = cli_enum(cli, O_PROVIDER, aigw_provider_names, "provider", &h->provider)))
			return rc;
		c->provider = &h->provider;
	}
	if (cli_has(cli, O_TYPE)) {
		if ((rc = cli_enum(cli, O_TYPE, aigw_node_type_names, "node type", &h->type)))
			return rc;
		c->type = &h->type;
	}
	if (cli_has(cli, O_WEIGHT)) {
		if ((rc = cli_int(cli, O_WEIGHT, 1, AIGW_NODE_WEIGHT_MAX, &h->weight)))
			return rc;
		c->weight = &h->weight;
	}
	if (cli_has(cli, O_MAX_CONC)) {
		if ((rc = cli_int(cli, O_MAX_CONC, 0, AIGW_NODE_CONCURRENCY_MAX, &h->max_conc)))
			return rc;
		c->max_concurrency = &h->max_conc;
	}
	if (cli_has(cli, O_COST)) {
		if ((rc = cli_int(cli, O_COST, -1, AIGW_NODE_COST_MAX, &h->cost)))
			return rc;
		c->cost = &h->cost;
	}
	if (cli_has(cli, O_MODELS)) {
		if ((rc = cli_list(cli, O_MODELS, &h->models)))
			return rc;
		c->models = &h->models;
	}
	if (cli_has(cli, O_STANDBY)) {
		h->standby = cli->args.opt[O_STANDBY].on;
		c->standby = &h->standby;
	}
	return 0;
}

/* What a running serve published (live.h); none when the table cannot be
 * read (not an error: the configuration is still worth listing). */
struct live {
	struct aigw_node_live *rows;
	size_t n;
	int64_t now_ms;
};

static void live_load(struct aigw_store *s, struct live *l)
{
	struct aigw_err err = { 0 };

	l->now_ms = aigw_clock_wall_ms();
	if (!s || aigw_store_node_live_list(s, &l->rows, &l->n, &err)) {
		l->rows = NULL;
		l->n = 0;
	}
}

/* The node's row when it is fresh, else NULL. */
static const struct aigw_node_live *live_of(const struct live *l, const char *name)
{
	return l ? aigw_node_live_find(l->rows, l->n, name, l->now_ms, AIGW_LIVE_FRESH_MS) : NULL;
}

static void show_node(struct cli *cli, const struct aigw_node *n, const struct aigw_node_live *lv)
{
	char *models;

	if (cli->json) {
		cJSON *o = aigw_node_json(n);
		if (lv)
			cJSON_AddItemToObject(o, "live", aigw_node_live_json(lv));
		cli_json(cli, o);
		return;
	}
	if (cli->quiet) {
		fprintf(cli->out, "%s\n", n->name);
		return;
	}
	models = aigw_strv_join(&n->models, ",");
	cli_field(cli, "name", "%s", n->name);
	cli_field(cli, "url", "%s", n->url);
	cli_field(cli, "provider", "%s", aigw_provider_names[n->provider]);
	cli_field(cli, "type", "%s", aigw_node_type_names[n->type]);
	cli_field(cli, "region", "%s", n->region ? n->region : "-");
	cli_field(cli, "weight", "%lld", (long long)n->weight);
	cli_field(cli, "models", "%s", *models ? models : "any");
	if (aigw_node_accounts_plain(n))
		cli_field(cli, "api key env", "%s", n->api_key_env ? n->api_key_env : "-");
	for (size_t i = 0; !aigw_node_accounts_plain(n) && i < n->n_accounts; i++) {
		const struct aigw_account *a = &n->accounts[i];
		char label[32];
		snprintf(label, sizeof(label), n->n_accounts > 1 ? "account %zu" : "account", i + 1);
		if (a->token_url)
			cli_field(cli, label, "oauth2 %s (client %s, secret %s%s%s)%s%s",
				  a->token_url, a->client_id_env, a->client_secret_env,
				  a->scope ? ", scope " : "", a->scope ? a->scope : "",
				  a->proxy ? " via " : "", a->proxy ? a->proxy : "");
		else
			cli_field(cli, label, "%s%s%s", a->api_key_env ? a->api_key_env : "no key",
				  a->proxy ? " via " : "", a->proxy ? a->proxy : "");
	}
	if (n->max_concurrency)
		cli_field(cli, "concurrency", "%lld", (long long)n->max_concurrency);
	else
		cli_field(cli, "concurrency", "unlimited");
	if (n->cost >= 0)
		cli_field(cli, "cost", "%lld", (long long)n->cost);
	cli_field(cli, "standby", "%s", n->standby ? "yes" : "no");
	cli_field(cli, "state", "%s", aigw_node_state_names[n->state]);
	cli_field(cli, "source", "%s", n->where ? n->where : "database");
	if (lv) {
		cli_field(cli, "health", "%s", lv->state);
		cli_field(cli, "in flight", "%lld", (long long)lv->in_flight);
		if (lv->latency_us >= 0)
			cli_field(cli, "latency", "%.1f ms", (double)lv->latency_us / 1000.0);
		else
			cli_field(cli, "latency", "-");
		cli_field(cli, "share", "%.0f%%", lv->share * 100.0);
		cli_field(cli, "failures", "%lld", (long long)lv->failures);
		if (lv->retry_at_ms > 0)
			cli_field(cli, "retry in", "%.1f s",
				  (double)(lv->retry_at_ms - aigw_clock_wall_ms()) / 1000.0);
		if (lv->checks[0])
			cli_field(cli, "checks", "%s", lv->checks);
	}
	free(models);
}

static int do_list(struct cli *cli, const struct aigw_catalog *cat, const struct live *l)
{
	static const char *const head[] = { "NAME", "PROVIDER", "TYPE", "REGION", "STATE",
					    "WEIGHT", "MODELS", "URL", "SOURCE", "HEALTH",
					    "INFLIGHT", "LATENCY", "SHARE" };
	struct cli_table t;
	bool any_live = false;

	for (size_t i = 0; i < cat->n_nodes && !any_live; i++)
		any_live = live_of(l, cat->nodes[i].name) != NULL;
	/* The live columns only while a serve publishes (see live.h). */
	cli_table_init(&t, any_live ? 13 : 9, head);
	for (size_t i = 0; i < cat->n_nodes; i++) {
		const struct aigw_node *n = &cat->nodes[i];
		const struct aigw_node_live *lv = live_of(l, n->name);
		char weight[24], state[32], inflight[24], latency[32], share[16], *models;
		if (cli->json || cli->quiet) {
			show_node(cli, n, lv);
			continue;
		}
		snprintf(weight, sizeof(weight), "%lld", (long long)n->weight);
		snprintf(state, sizeof(state), "%s%s", aigw_node_state_names[n->state],
			 n->standby ? ",standby" : "");
		models = aigw_strv_join(&n->models, ",");
		if (!any_live) {
			cli_table_row(&t, n->name, aigw_provider_names[n->provider],
				      aigw_node_type_names[n->type], n->region, state, weight,
				      *models ? models : "any", n->url,
				      n->origin == AIGW_ORIGIN_YAML ? "yaml" : "db");
			free(models);
			continue;
		}
		if (lv) {
			snprintf(inflight, sizeof(inflight), "%lld", (long long)lv->in_flight);
			if (lv->latency_us >= 0)
				snprintf(latency, sizeof(latency), "%.1fms",
					 (double)lv->latency_us / 1000.0);
			else
				snprintf(latency, sizeof(latency), "-");
			snprintf(share, sizeof(share), "%.0f%%", lv->share * 100.0);
		}
		cli_table_row(&t, n->name, aigw_provider_names[n->provider],
			      aigw_node_type_names[n->type], n->region, state, weight,
			      *models ? models : "any", n->url,
			      n->origin == AIGW_ORIGIN_YAML ? "yaml" : "db",
			      lv ? lv->state : NULL, lv ? inflight : NULL, lv ? latency : NULL,
			      lv ? share : NULL);
		free(models);
	}
	if (t.cells.n > t.ncols)
		cli_table_print(cli, &t);
	else
		aigw_strv_release(&t.cells);
	return 0;
}

/* nodes add and import through cli_write, which may run them twice. */
struct write_job {
	const struct aigw_conf *conf;
	struct aigw_node *node;                 /* add */
	const char *source, *data;              /* import */
	size_t len, added, updated;
	bool replace;
};

static int add_node(struct aigw_store *s, void *arg, struct aigw_err *err)
{
	struct write_job *job = arg;
	return aigw_nodes_add(s, job->conf, job->node, err);
}

static int import_nodes(struct aigw_store *s, void *arg, struct aigw_err *err)
{
	struct write_job *job = arg;
	return aigw_nodes_import(s, job->conf, job->source, job->data, job->len, job->replace,
				 &job->added, &job->updated, err);
}

static int do_import(struct cli *cli, const struct aigw_conf *conf)
{
	const char *path = cli->args.n_pos ? cli->args.pos[0] : "-";
	struct write_job job = { .conf = conf, .replace = cli_has(cli, O_REPLACE) };
	struct aigw_err err = { 0 };
	char *data;
	int rc;

	if ((rc = cli_read_file(cli, path, &data, &job.len)))
		return rc;
	job.data = data;
	job.source = strcmp(path, "-") == 0 ? "<stdin>" : path;
	rc = cli_write(cli, import_nodes, &job, &err);
	free(data);
	if (rc) {
		/* A bad record is bad data, not a bad command line. */
		cli_fail(cli, &err);
		return rc == AIGW_EINVAL ? EXIT_FAIL : cli_exit_code(rc);
	}
	if (cli->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "added", (double)job.added);
		cJSON_AddNumberToObject(o, "updated", (double)job.updated);
		cli_json(cli, o);
	} else {
		cli_note(cli, "imported %zu node%s (%zu added, %zu updated)", job.added + job.updated,
			 job.added + job.updated == 1 ? "" : "s", job.added, job.updated);
	}
	return 0;
}

int cmd_nodes(struct cli *cli);
int cmd_nodes(struct cli *cli)
{
	const char *verb = cli->args.verb->name;
	const char *name = cli->args.n_pos ? cli->args.pos[0] : NULL;
	/* Only add and import may make the database: the other verbs need a
	 * node that exists, so on a missing file they fail without creating it. */
	bool writes = strcmp(verb, "add") == 0 || strcmp(verb, "import") == 0;
	const struct aigw_conf *conf;
	struct aigw_node_changes changes;
	struct holders h = { 0 };
	struct aigw_store *s = NULL;
	struct aigw_node n;
	struct aigw_err err = { 0 };
	int rc;

	if ((rc = gather(cli, &changes, &h)))
		goto out;
	if (strcmp(verb, "update") == 0 && !changes.url && !changes.provider && !changes.type &&
	    !changes.region && !changes.weight && !changes.max_concurrency && !changes.cost && !changes.models &&
	    !changes.api_key_env && !changes.proxy && !changes.standby) {
		rc = cli_failf(cli, AIGW_EINVAL, "nothing to update (give at least one option)");
		goto out;
	}
	/* add and import open the database themselves, once their values
	 * have passed (see cli_write). */
	if ((rc = cli_conf(cli, &conf)) || (!writes && (rc = cli_store(cli, false, &s))))
		goto out;

	if (strcmp(verb, "list") == 0 || strcmp(verb, "show") == 0) {
		struct aigw_catalog cat;
		const struct aigw_node *found;
		struct live l;
		if (aigw_catalog_load(&cat, conf, s, &err)) {
			rc = cli_fail(cli, &err);
			goto out;
		}
		live_load(s, &l);
		if (verb[0] == 'l')
			rc = do_list(cli, &cat, &l);
		else if ((found = aigw_catalog_node(&cat, name)))
			show_node(cli, found, live_of(&l, found->name));
		else
			rc = cli_failf(cli, AIGW_ENOTFOUND, "no node named '%s'", name);
		aigw_node_live_free(l.rows, l.n);
		aigw_catalog_release(&cat);
	} else if (strcmp(verb, "add") == 0) {
		aigw_node_init(&n);
		n.name = aigw_strdup(name);
		n.url = aigw_strdup(changes.url);
		n.provider = h.provider;
		if (changes.type)
			n.type = h.type;
		if (changes.region && *changes.region)
			n.region = aigw_strdup(changes.region);
		if (changes.weight)
			n.weight = h.weight;
		if (changes.models)
			aigw_strv_copy(&n.models, &h.models);
		if ((changes.api_key_env || changes.proxy) &&
		    aigw_node_set_key_envs(&n, changes.api_key_env ? changes.api_key_env : "",
					   changes.proxy && *changes.proxy ? changes.proxy : NULL,
					   &err)) {
			rc = cli_fail(cli, &err);
			aigw_node_release(&n);
			goto out;
		}
		n.max_concurrency = h.max_conc;
		if (changes.cost)
			n.cost = h.cost;
		n.standby = h.standby;
		struct write_job job = { .conf = conf, .node = &n };
		if (cli_write(cli, add_node, &job, &err))
			rc = cli_fail(cli, &err);
		else if (cli->json || cli->quiet)
			show_node(cli, &n, NULL);
		else
			cli_note(cli, "added node '%s'", n.name);
		aigw_node_release(&n);
	} else if (strcmp(verb, "import") == 0) {
		rc = do_import(cli, conf);
	} else if (strcmp(verb, "rm") == 0) {
		if (aigw_nodes_remove(s, conf, name, &err))
			rc = cli_fail(cli, &err);
		else
			cli_note(cli, "removed node '%s'", name);
	} else {
		const char *done;
		if (strcmp(verb, "update") == 0) {
			rc = aigw_nodes_update(s, conf, name, &changes, &n, &err);
			done = "updated";
		} else {
			int state = verb[0] == 'e' ? AIGW_NODE_ENABLED
				  : verb[0] == 'd' && verb[1] == 'i' ? AIGW_NODE_DISABLED
								     : AIGW_NODE_DRAINING;
			rc = aigw_nodes_set_state(s, conf, name, state, &n, &err);
			done = aigw_node_state_names[state];
		}
		if (rc) {
			rc = cli_fail(cli, &err);
		} else {
			if (cli->json || cli->quiet)
				show_node(cli, &n, NULL);
			else
				cli_note(cli, "node '%s' %s", name, done);
			aigw_node_release(&n);
		}
	}
out:
	aigw_strv_release(&h.models);
	return rc;
}
