/* aigw route: add, list, show and remove routes; explain which route a
 * request would take (test) and check the whole configuration (check).
 * Thin: parses options, calls lib/routes.c and lib/catalog.c, prints. */
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "catalog.h"
#include "cli.h"
#include "clock.h"
#include "live.h"
#include "mem.h"
#include "records.h"
#include "routes.h"

enum { O_PATH, O_METHOD, O_MODEL, O_NODES, O_POLICY, O_RETRIES, O_TIMEOUT, O_CONNECT_TIMEOUT,
       O_FIRST_BYTE_TIMEOUT, O_IDLE_TIMEOUT, O_FALLBACK, O_HEADER, O_PREFER_CHEAP };

static const struct aigw_opt opts[] = {
	[O_PATH] = { 0, "path", AIGW_OPT_VALUE, "PREFIX", "path prefix the route serves (matched at / boundaries)", NULL },
	[O_METHOD] = { 0, "method", AIGW_OPT_VALUE, "M", "HTTP method the route is limited to (default: any)",
		       "choice:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS" },
	[O_MODEL] = { 0, "model", AIGW_OPT_VALUE, "GLOB", "model the route serves, as a glob (add); the request's model (test)", NULL },
	[O_NODES] = { 0, "nodes", AIGW_OPT_LIST, "N1,N2", "nodes of the route, in order of preference", "node" },
	[O_POLICY] = { 0, "policy", AIGW_OPT_VALUE, "P", "how requests are spread over the nodes: round_robin, weighted, least_conn, p2c, peak_ewma or adaptive (see POLICIES)",
		       "choice:round_robin|weighted|least_conn|p2c|peak_ewma|adaptive" },
	[O_RETRIES] = { 0, "retries", AIGW_OPT_VALUE, "N", "retries on another node before the first byte (0..10)", NULL },
	[O_TIMEOUT] = { 0, "timeout", AIGW_OPT_VALUE, "D", "total time allowed for a request (e.g. 30s; default: the server's)", NULL },
	[O_CONNECT_TIMEOUT] = { 0, "connect-timeout", AIGW_OPT_VALUE, "D", "time allowed to connect to a node (default: 10s)", NULL },
	[O_FIRST_BYTE_TIMEOUT] = { 0, "first-byte-timeout", AIGW_OPT_VALUE, "D", "time from sending the request to the answer's head (default: none)", NULL },
	[O_IDLE_TIMEOUT] = { 0, "idle-timeout", AIGW_OPT_VALUE, "D", "longest silence between two pieces of a stream (default: none)", NULL },
	[O_FALLBACK] = { 0, "fallback", AIGW_OPT_VALUE, "ROUTE", "route to try when every node of this one has failed", "route" },
	[O_HEADER] = { 'H', "header", AIGW_OPT_LIST, "'K: V'",
		       "a header the request must carry (add); a header of the request (test)", NULL },
	[O_PREFER_CHEAP] = { 0, "prefer-cheap", AIGW_OPT_VALUE, "PCT",
			     "prefer the cheapest nodes (node cost) among those within PCT percent of the best latency, e.g. 150 (0 = off)", NULL },
};

static const int add_opts[] = { O_PATH | AIGW_OPT_REQUIRED, O_NODES | AIGW_OPT_REQUIRED,
				O_METHOD, O_MODEL, O_POLICY, O_RETRIES, O_TIMEOUT,
				O_CONNECT_TIMEOUT, O_FIRST_BYTE_TIMEOUT, O_IDLE_TIMEOUT,
				O_FALLBACK, O_HEADER, O_PREFER_CHEAP, AIGW_OPT_END };
static const int test_opts[] = { O_MODEL, O_HEADER, AIGW_OPT_END };
static const int no_opts[] = { AIGW_OPT_END };
static const char *const route_arg[] = { "route", NULL };
static const char *const test_args[] = { "choice:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS", NULL };

static const struct aigw_verb verbs[] = {
	{ "add", "NAME", 1, 1, NULL, "add a route", add_opts },
	{ "list", "", 0, 0, NULL, "list routes from aigw.yaml and the database", no_opts },
	{ "show", "NAME", 1, 1, route_arg, "show one route", no_opts },
	{ "rm", "NAME", 1, 1, route_arg, "remove a route", no_opts },
	{ "test", "METHOD PATH", 2, 2, test_args, "show which route a request takes, why, and its candidate nodes", test_opts },
	{ "check", "", 0, 0, NULL, "check aigw.yaml and the database together and list every problem", no_opts },
	{ "models", "", 0, 0, NULL, "list the models the nodes serve and the aliases of aigw.yaml", no_opts },
};

const struct aigw_cmdspec cmd_route_spec = {
	"route", "add, list, test and check routes", opts,
	sizeof(opts) / sizeof(opts[0]), verbs, sizeof(verbs) / sizeof(verbs[0]),
};

/* A route timeout for people: the duration, or what 0 stands for. */
static const char *shown_timeout(int64_t ms, const char *zero_means, char *buf, size_t n)
{
	if (!ms)
		return zero_means;
	aigw_format_duration_ms(ms, buf, n);
	return buf;
}

static void show_route(struct cli *cli, const struct aigw_route *r)
{
	char *nodes, *headers, d[32];

	if (cli->json) {
		cli_json(cli, aigw_route_json(r));
		return;
	}
	if (cli->quiet) {
		fprintf(cli->out, "%s\n", r->name);
		return;
	}
	nodes = aigw_strv_join(&r->nodes, ",");
	headers = aigw_strv_join(&r->headers, "; ");
	cli_field(cli, "name", "%s", r->name);
	cli_field(cli, "path", "%s", r->path);
	cli_field(cli, "method", "%s", r->method ? r->method : "any");
	cli_field(cli, "model", "%s", r->model ? r->model : "any");
	if (r->headers.n)
		cli_field(cli, "headers", "%s", headers);
	cli_field(cli, "nodes", "%s", nodes);
	cli_field(cli, "policy", "%s", aigw_policy_names[r->policy]);
	cli_field(cli, "retries", "%lld", (long long)r->retries);
	if (r->prefer_cheap)
		cli_field(cli, "prefer_cheap", "within %lld%% of the best latency",
			  (long long)r->prefer_cheap);
	cli_field(cli, "timeout", "%s", shown_timeout(r->timeout_ms, "server default", d, sizeof(d)));
	cli_field(cli, "connect_timeout", "%s",
		  shown_timeout(r->connect_timeout_ms, "default (10s)", d, sizeof(d)));
	cli_field(cli, "first_byte_timeout", "%s",
		  shown_timeout(r->first_byte_timeout_ms, "none", d, sizeof(d)));
	cli_field(cli, "idle_timeout", "%s", shown_timeout(r->idle_timeout_ms, "none", d, sizeof(d)));
	cli_field(cli, "fallback", "%s", r->fallback ? r->fallback : "-");
	cli_field(cli, "source", "%s", r->where ? r->where : "database");
	free(nodes);
	free(headers);
}

static int do_list(struct cli *cli, const struct aigw_catalog *cat)
{
	static const char *const head[] = { "NAME", "PATH", "METHOD", "MODEL", "NODES",
					    "POLICY", "RETRIES", "FALLBACK", "SOURCE" };
	struct cli_table t;

	cli_table_init(&t, 9, head);
	for (size_t i = 0; i < cat->n_routes; i++) {
		const struct aigw_route *r = &cat->routes[i];
		char retries[16], *nodes;
		if (cli->json || cli->quiet) {
			show_route(cli, r);
			continue;
		}
		snprintf(retries, sizeof(retries), "%lld", (long long)r->retries);
		nodes = aigw_strv_join(&r->nodes, ",");
		cli_table_row(&t, r->name, r->path, r->method ? r->method : "any",
			      r->model ? r->model : "any", nodes, aigw_policy_names[r->policy],
			      retries, r->fallback, r->origin == AIGW_ORIGIN_YAML ? "yaml" : "db");
		free(nodes);
	}
	if (t.cells.n > t.ncols)
		cli_table_print(cli, &t);
	else
		aigw_strv_release(&t.cells);
	return 0;
}

/* route add through cli_write, which may run it twice (rehearsal). */
struct add_job {
	const struct aigw_conf *conf;
	struct aigw_route *route;
};

static int add_route(struct aigw_store *s, void *arg, struct aigw_err *err)
{
	struct add_job *job = arg;
	return aigw_routes_add(s, job->conf, job->route, err);
}

static int do_add(struct cli *cli, const struct aigw_conf *conf)
{
	struct add_job job;
	struct aigw_route r;
	struct aigw_err err = { 0 };
	int rc = 0, policy;

	aigw_route_init(&r);
	r.name = aigw_strdup(cli->args.pos[0]);
	r.path = aigw_strdup(cli_value(cli, O_PATH));
	if (cli_has(cli, O_METHOD))
		r.method = aigw_strdup(cli_value(cli, O_METHOD));
	if (cli_has(cli, O_MODEL))
		r.model = aigw_strdup(cli_value(cli, O_MODEL));
	if (cli_has(cli, O_FALLBACK))
		r.fallback = aigw_strdup(cli_value(cli, O_FALLBACK));
	aigw_strv_copy(&r.headers, &cli->args.opt[O_HEADER].list);
	if ((rc = cli_list(cli, O_NODES, &r.nodes)))
		goto out;
	if (cli_has(cli, O_POLICY)) {
		if ((rc = cli_enum(cli, O_POLICY, aigw_policy_names, "policy", &policy)))
			goto out;
		r.policy = policy;
	}
	if (cli_has(cli, O_RETRIES) &&
	    (rc = cli_int(cli, O_RETRIES, 0, AIGW_ROUTE_RETRIES_MAX, &r.retries)))
		goto out;
	if (cli_has(cli, O_PREFER_CHEAP) &&
	    (rc = cli_int(cli, O_PREFER_CHEAP, 0, 1000, &r.prefer_cheap)))
		goto out;
	if ((cli_has(cli, O_TIMEOUT) && (rc = cli_duration_ms(cli, O_TIMEOUT, &r.timeout_ms))) ||
	    (cli_has(cli, O_CONNECT_TIMEOUT) &&
	     (rc = cli_duration_ms(cli, O_CONNECT_TIMEOUT, &r.connect_timeout_ms))) ||
	    (cli_has(cli, O_FIRST_BYTE_TIMEOUT) &&
	     (rc = cli_duration_ms(cli, O_FIRST_BYTE_TIMEOUT, &r.first_byte_timeout_ms))) ||
	    (cli_has(cli, O_IDLE_TIMEOUT) &&
	     (rc = cli_duration_ms(cli, O_IDLE_TIMEOUT, &r.idle_timeout_ms))))
		goto out;
	job.conf = conf;
	job.route = &r;
	if (cli_write(cli, add_route, &job, &err))
		rc = cli_fail(cli, &err);
	else if (cli->json || cli->quiet)
		show_route(cli, &r);
	else
		cli_note(cli, "added route '%s'", r.name);
out:
	aigw_route_release(&r);
	return rc;
}

/* What the route's policy makes of its candidates now (route test): the
 * live facts a running serve published (live.h), each candidate's score
 * and reason (aigw_balance_explain) and the candidate a fresh balancer
 * of the policy would pick with these facts. */
struct explained {
	bool live;                          /* fresh live state for some node */
	int pick;                           /* index in cands; -1: none */
	const struct aigw_node_live **rows; /* per candidate; NULL: none */
	bool *eligible;
	bool *reserve;                      /* standby, kept back: actives can */
	const char **why_not;               /* when not eligible */
	double *score;
	const char **why;
	struct aigw_node_live *all;
	size_t n_all;
};

#define RESERVE "in reserve while an active node can take the request"

static bool live_blocks(const struct aigw_node_live *lv)
{
	return lv && (strcmp(lv->state, "open") == 0 || strcmp(lv->state, "ejected") == 0 ||
		      strcmp(lv->state, "down") == 0);
}

static void explain(struct aigw_store *s, const struct aigw_route *r,
		    const struct aigw_candidate *cands, size_t nc, struct explained *e)
{
	struct aigw_balance_candidate *bc = aigw_calloc(nc ? nc : 1, sizeof(*bc));
	struct aigw_err err = { 0 };
	struct aigw_balancer b;
	int64_t wall = aigw_clock_wall_ms();
	uint64_t now = aigw_clock_mono_ms();
	bool any_active = false;

	memset(e, 0, sizeof(*e));
	e->pick = -1;
	e->rows = aigw_calloc(nc ? nc : 1, sizeof(*e->rows));
	e->eligible = aigw_calloc(nc ? nc : 1, sizeof(*e->eligible));
	e->reserve = aigw_calloc(nc ? nc : 1, sizeof(*e->reserve));
	e->why_not = aigw_calloc(nc ? nc : 1, sizeof(*e->why_not));
	e->score = aigw_calloc(nc ? nc : 1, sizeof(*e->score));
	e->why = aigw_calloc(nc ? nc : 1, sizeof(*e->why));
	if (s && aigw_store_node_live_list(s, &e->all, &e->n_all, &err)) {
		e->all = NULL;
		e->n_all = 0;
	}
	aigw_balancer_init(&b, r->policy, nc);
	for (size_t i = 0; i < nc; i++) {
		const struct aigw_node_live *lv =
			aigw_node_live_find(e->all, e->n_all, cands[i].name, wall, AIGW_LIVE_FRESH_MS);
		struct aigw_balance_node *nd = &b.node[i];

		e->rows[i] = lv;
		e->live |= lv != NULL;
		bc[i].weight = cands[i].node && cands[i].node->weight > 0 ? cands[i].node->weight : 1;
		bc[i].cost = -1;
		e->eligible[i] = cands[i].eligible && !live_blocks(lv);
		if (!cands[i].eligible)
			e->why_not[i] = cands[i].reason;
		else if (live_blocks(lv))
			e->why_not[i] = strcmp(lv->state, "open") == 0 ? "breaker open"
				      : strcmp(lv->state, "ejected") == 0 ? "ejected as an outlier"
									: "down (active checks fail)";
		bc[i].eligible = e->eligible[i];
		any_active |= e->eligible[i] && !(cands[i].node && cands[i].node->standby);
		if (!lv)
			continue;
		nd->in_flight = lv->in_flight > 0 ? (uint32_t)lv->in_flight : 0;
		if (lv->latency_us >= 0) {
			nd->measured = nd->ok_measured = true;
			nd->ewma_us = nd->ok_ewma_us = (double)lv->latency_us;
			nd->ewma_ms = nd->ok_ewma_ms = now;
			nd->adapt_ms = now;
			nd->sum_weight = 1;
			nd->sum_latency_us = (double)lv->latency_us;
		}
	}
	/* As the gateway does: standby nodes take part only when no active
	 * node can take the request. */
	for (size_t i = 0; i < nc; i++) {
		e->reserve[i] = any_active && e->eligible[i] && cands[i].node && cands[i].node->standby;
		if (e->reserve[i])
			bc[i].eligible = false;
	}
	aigw_balance_explain(&b, bc, now, e->score, e->why);
	/* b is this command's own balancer: picking from it changes nothing. */
	e->pick = aigw_balance_pick_at(&b, bc, now);
	aigw_balancer_release(&b);
	free(bc);
}

static void explained_release(struct explained *e)
{
	free(e->rows);
	free(e->eligible);
	free(e->reserve);
	free(e->why_not);
	free(e->score);
	free(e->why);
	aigw_node_live_free(e->all, e->n_all);
}

static cJSON *live_facts_json(const struct aigw_node_live *lv)
{
	return lv ? aigw_node_live_json(lv) : cJSON_CreateNull();
}

static void print_candidate(struct cli *cli, const struct aigw_candidate *c,
			    const struct explained *e, size_t i, size_t *rank)
{
	const struct aigw_node_live *lv = e->rows[i];

	if (e->eligible[i])
		fprintf(cli->out, "  %zu. %-24s %s", (*rank)++, c->name, c->reason);
	else
		fprintf(cli->out, "  -  %-24s not eligible: %s", c->name, e->why_not[i]);
	if (lv) {
		fprintf(cli->out, "; %s, %lld in flight", lv->state, (long long)lv->in_flight);
		if (lv->latency_us >= 0)
			fprintf(cli->out, ", latency %.1fms", (double)lv->latency_us / 1000.0);
		fprintf(cli->out, ", share %.0f%%", lv->share * 100.0);
	}
	if (e->reserve[i])
		fprintf(cli->out, "; %s", RESERVE);
	else if (e->eligible[i])
		fprintf(cli->out, "; score %.3g (%s)", e->score[i], e->why[i]);
	fprintf(cli->out, "%s\n", (int)i == e->pick ? "  <- picked" : "");
}

static int do_test(struct cli *cli, const struct aigw_catalog *cat, struct aigw_store *s)
{
	struct explained ex = { 0 };
	struct aigw_route_request req = { 0 };
	enum aigw_route_verdict *verdicts;
	struct aigw_candidate *cands = NULL;
	size_t nc = 0;
	char method[17];
	ssize_t best;
	size_t ml = strlen(cli->args.pos[0]);

	if (ml == 0 || ml >= sizeof(method))
		return cli_failf(cli, AIGW_EINVAL, "'%s' is not an HTTP method", cli->args.pos[0]);
	for (size_t i = 0; i <= ml; i++) {
		method[i] = (char)(cli->args.pos[0][i] >= 'a' && cli->args.pos[0][i] <= 'z'
					   ? cli->args.pos[0][i] - 32
					   : cli->args.pos[0][i]);
		/* Same rule as a route's method: letters only. */
		if (i < ml && (method[i] < 'A' || method[i] > 'Z'))
			return cli_failf(cli, AIGW_EINVAL, "'%s' is not an HTTP method",
					 cli->args.pos[0]);
	}
	if (cli->args.pos[1][0] != '/')
		return cli_failf(cli, AIGW_EINVAL, "path '%s' must start with '/'", cli->args.pos[1]);
	for (size_t i = 0; i < cli->args.opt[O_HEADER].list.n; i++)
		if (!strchr(cli->args.opt[O_HEADER].list.v[i], ':'))
			return cli_failf(cli, AIGW_EINVAL, "--header: '%s' is not 'Name: value'",
					 cli->args.opt[O_HEADER].list.v[i]);
	req.method = method;
	req.path = cli->args.pos[1];
	req.model = cli_value(cli, O_MODEL);
	req.headers = &cli->args.opt[O_HEADER].list;

	verdicts = aigw_calloc(cat->n_routes ? cat->n_routes : 1, sizeof(*verdicts));
	best = aigw_route_match(cat->routes, cat->n_routes, &req, verdicts);
	if (best >= 0) {
		aigw_catalog_candidates(cat, &cat->routes[best], req.model, &cands, &nc);
		explain(s, &cat->routes[best], cands, nc, &ex);
	}

	if (cli->json) {
		cJSON *o = cJSON_CreateObject(), *a;
		cJSON_AddStringToObject(o, "method", method);
		cJSON_AddStringToObject(o, "path", req.path);
		if (req.model)
			cJSON_AddStringToObject(o, "model", req.model);
		else
			cJSON_AddNullToObject(o, "model");
		if (best >= 0) {
			cJSON_AddStringToObject(o, "route", cat->routes[best].name);
			cJSON_AddStringToObject(o, "policy", aigw_policy_names[cat->routes[best].policy]);
		} else {
			cJSON_AddNullToObject(o, "route");
		}
		a = cJSON_AddArrayToObject(o, "candidates");
		for (size_t i = 0; i < nc; i++) {
			cJSON *c = cJSON_CreateObject();
			cJSON_AddStringToObject(c, "node", cands[i].name);
			cJSON_AddBoolToObject(c, "eligible", ex.eligible[i]);
			cJSON_AddStringToObject(c, "reason",
						ex.eligible[i] ? cands[i].reason : ex.why_not[i]);
			cJSON_AddItemToObject(c, "live", live_facts_json(ex.rows[i]));
			if (ex.reserve[i]) {
				cJSON_AddNullToObject(c, "score");
				cJSON_AddStringToObject(c, "score_reason", RESERVE);
			} else if (ex.eligible[i]) {
				cJSON_AddNumberToObject(c, "score", ex.score[i]);
				cJSON_AddStringToObject(c, "score_reason", ex.why[i]);
			} else {
				cJSON_AddNullToObject(c, "score");
				cJSON_AddNullToObject(c, "score_reason");
			}
			cJSON_AddBoolToObject(c, "picked", (int)i == ex.pick);
			cJSON_AddItemToArray(a, c);
		}
		if (best >= 0) {
			cJSON_AddBoolToObject(o, "live", ex.live);
			if (ex.pick >= 0)
				cJSON_AddStringToObject(o, "pick", cands[ex.pick].name);
			else
				cJSON_AddNullToObject(o, "pick");
		}
		a = cJSON_AddArrayToObject(o, "routes");
		for (size_t i = 0; i < cat->n_routes; i++) {
			cJSON *c = cJSON_CreateObject();
			cJSON_AddStringToObject(c, "name", cat->routes[i].name);
			cJSON_AddStringToObject(c, "verdict",
						(ssize_t)i == best ? "chosen"
						: verdicts[i] == AIGW_ROUTE_MATCHED ? "matched, less specific"
						: aigw_route_verdict_names[verdicts[i]]);
			cJSON_AddItemToArray(a, c);
		}
		cli_json(cli, o);
	} else if (cli->quiet) {
		if (best >= 0)
			fprintf(cli->out, "%s\n", cat->routes[best].name);
	} else if (best >= 0) {
		const struct aigw_route *r = &cat->routes[best];
		fprintf(cli->out, "route      %s (%s)\n", r->name, r->where ? r->where : "database");
		fprintf(cli->out, "because    path prefix '%s'", r->path);
		fprintf(cli->out, ", %s%s%s", r->model ? "model glob '" : "any model",
			r->model ? r->model : "", r->model ? "'" : "");
		fprintf(cli->out, ", %s%s", r->method ? "method " : "any method",
			r->method ? r->method : "");
		for (size_t i = 0; i < r->headers.n; i++)
			fprintf(cli->out, ", header '%s'", r->headers.v[i]);
		fprintf(cli->out, "\npolicy     %s\n", aigw_policy_names[r->policy]);
		fprintf(cli->out, "live       %s\n",
			ex.live ? "as published by the running serve"
				: "no live state (serve not running?): static facts only");
		fprintf(cli->out, "pick       %s\ncandidates\n",
			ex.pick >= 0 ? cands[ex.pick].name : "none (no eligible candidate)");
		for (size_t i = 0, rank = 1; i < nc; i++)
			print_candidate(cli, &cands[i], &ex, i, &rank);
		for (size_t i = 0; i < cat->n_routes; i++) {
			if ((ssize_t)i == best)
				continue;
			fprintf(cli->out, "not %-24s %s\n", cat->routes[i].name,
				verdicts[i] == AIGW_ROUTE_MATCHED ? "matched but is less specific"
								  : aigw_route_verdict_names[verdicts[i]]);
		}
	}
	free(verdicts);
	free(cands);
	if (best >= 0)
		explained_release(&ex);
	if (best < 0)
		return cli_failf(cli, AIGW_ENOTFOUND, "no route matches %s %s%s%s", method, req.path,
				 req.model ? " with model " : "", req.model ? req.model : "");
	return 0;
}

static int do_check(struct cli *cli, const struct aigw_catalog *cat)
{
	struct aigw_strv problems = AIGW_STRV_INIT;
	size_t n = aigw_catalog_check(cat, &problems);

	if (cli->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "ok", n == 0);
		cJSON_AddNumberToObject(o, "nodes", (double)cat->n_nodes);
		cJSON_AddNumberToObject(o, "routes", (double)cat->n_routes);
		cJSON_AddItemToObject(o, "problems", cli_json_strv(&problems));
		cli_json(cli, o);
	} else {
		for (size_t i = 0; i < problems.n; i++)
			fprintf(stderr, "aigw route: %s\n", problems.v[i]);
		if (n == 0)
			cli_note(cli, "ok: %zu node%s, %zu route%s, no problems", cat->n_nodes,
				 cat->n_nodes == 1 ? "" : "s", cat->n_routes,
				 cat->n_routes == 1 ? "" : "s");
	}
	aigw_strv_release(&problems);
	return n ? EXIT_FAIL : EXIT_OK;
}

/* Does an enabled node serve model? */
static bool served_now(const struct aigw_catalog *cat, const char *model)
{
	for (size_t i = 0; i < cat->n_nodes; i++)
		if (cat->nodes[i].state == AIGW_NODE_ENABLED && aigw_node_serves(&cat->nodes[i], model))
			return true;
	return false;
}

static int do_models(struct cli *cli, const struct aigw_catalog *cat, const struct aigw_conf *conf)
{
	static const char *const head[] = { "MODEL", "KIND", "SERVED BY", "AVAILABLE" };
	struct aigw_strv models = AIGW_STRV_INIT;
	struct cli_table t;

	/* Every name or glob some node lists, in the order first met; a node
	 * with no list serves any model ("*"). */
	for (size_t i = 0; i < cat->n_nodes; i++) {
		const struct aigw_node *n = &cat->nodes[i];
		if (!n->models.n && !aigw_strv_contains(&models, "*"))
			aigw_strv_push(&models, "*");
		for (size_t m = 0; m < n->models.n; m++)
			if (!aigw_strv_contains(&models, n->models.v[m]))
				aigw_strv_push(&models, n->models.v[m]);
	}
	cli_table_init(&t, 4, head);
	for (size_t i = 0; i < models.n; i++) {
		const char *m = models.v[i];
		bool glob = strpbrk(m, "*?") != NULL;
		struct aigw_strv by = AIGW_STRV_INIT;
		size_t enabled = 0;
		char *joined, count[24];

		for (size_t j = 0; j < cat->n_nodes; j++) {
			const struct aigw_node *n = &cat->nodes[j];
			bool lists = strcmp(m, "*") == 0 ? n->models.n == 0
							 : aigw_strv_contains(&n->models, m);
			/* A plain name is also served by nodes whose globs cover it. */
			if (lists || (!glob && aigw_node_serves(n, m))) {
				aigw_strv_push(&by, n->name);
				enabled += n->state == AIGW_NODE_ENABLED;
			}
		}
		if (cli->quiet) {
			fprintf(cli->out, "%s\n", m);
		} else if (cli->json) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "model", m);
			cJSON_AddStringToObject(o, "kind", glob ? "glob" : "model");
			cJSON_AddItemToObject(o, "nodes", cli_json_strv(&by));
			cJSON_AddNumberToObject(o, "enabled_nodes", (double)enabled);
			cli_json(cli, o);
		} else {
			joined = aigw_strv_join(&by, ",");
			snprintf(count, sizeof(count), "%zu node%s", enabled, enabled == 1 ? "" : "s");
			cli_table_row(&t, m, glob ? "glob" : "model", joined, count);
			free(joined);
		}
		aigw_strv_release(&by);
	}
	for (size_t i = 0; i < conf->n_aliases; i++) {
		const struct aigw_alias *a = &conf->aliases[i];
		const char *now = NULL;
		for (size_t j = 0; !now && j < a->targets.n; j++)
			if (served_now(cat, a->targets.v[j]))
				now = a->targets.v[j];
		if (cli->quiet) {
			fprintf(cli->out, "%s\n", a->name);
		} else if (cli->json) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "model", a->name);
			cJSON_AddStringToObject(o, "kind", "alias");
			cJSON_AddItemToObject(o, "targets", cli_json_strv(&a->targets));
			if (now)
				cJSON_AddStringToObject(o, "resolves_to", now);
			else
				cJSON_AddNullToObject(o, "resolves_to");
			cli_json(cli, o);
		} else {
			char *joined = aigw_strv_join(&a->targets, ",");
			cli_table_row(&t, a->name, "alias", joined, now ? now : "none");
			free(joined);
		}
	}
	if (t.cells.n > t.ncols)
		cli_table_print(cli, &t);
	else
		aigw_strv_release(&t.cells);
	aigw_strv_release(&models);
	return 0;
}

int cmd_route(struct cli *cli);
int cmd_route(struct cli *cli)
{
	const char *verb = cli->args.verb->name;
	/* Only add may make the database: rm needs a route that exists. */
	bool writes = strcmp(verb, "add") == 0;
	const struct aigw_conf *conf;
	struct aigw_catalog cat;
	struct aigw_store *s;
	struct aigw_err err = { 0 };
	int rc;

	if ((rc = cli_conf(cli, &conf)))
		return rc;
	if (writes) /* opens the database itself, once the route has passed */
		return do_add(cli, conf);
	if ((rc = cli_store(cli, false, &s)))
		return rc;
	if (strcmp(verb, "rm") == 0) {
		if (aigw_routes_remove(s, conf, cli->args.pos[0], &err))
			return cli_fail(cli, &err);
		cli_note(cli, "removed route '%s'", cli->args.pos[0]);
		return 0;
	}
	if (aigw_catalog_load(&cat, conf, s, &err))
		return cli_fail(cli, &err);
	if (strcmp(verb, "list") == 0) {
		rc = do_list(cli, &cat);
	} else if (strcmp(verb, "show") == 0) {
		const struct aigw_route *r = aigw_catalog_route(&cat, cli->args.pos[0]);
		if (r)
			show_route(cli, r);
		else
			rc = cli_failf(cli, AIGW_ENOTFOUND, "no route named '%s'", cli->args.pos[0]);
	} else if (strcmp(verb, "test") == 0) {
		rc = do_test(cli, &cat, s);
	} else if (strcmp(verb, "models") == 0) {
		rc = do_models(cli, &cat, conf);
	} else {
		rc = do_check(cli, &cat);
	}
	aigw_catalog_release(&cat);
	return rc;
}
