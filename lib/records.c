/* records: see records.h. */
#include "records.h"

#include "clock.h"
#include "str.h"

cJSON *aigw_json_time(int64_t t)
{
	char buf[32];

	if (!t)
		return cJSON_CreateNull();
	aigw_format_time(t, buf, sizeof(buf));
	return cJSON_CreateString(buf);
}

cJSON *aigw_json_strv(const struct aigw_strv *sv)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sv->v[i]));
	return a;
}

/* A string member, or null when the value is absent. */
static void add_string_or_null(cJSON *o, const char *name, const char *value)
{
	if (value)
		cJSON_AddStringToObject(o, name, value);
	else
		cJSON_AddNullToObject(o, name);
}

cJSON *aigw_key_json(const struct aigw_key *k, const char *secret)
{
	cJSON *o = cJSON_CreateObject();
	char usd[32];

	cJSON_AddNumberToObject(o, "id", (double)k->id);
	cJSON_AddStringToObject(o, "name", k->name);
	if (secret)
		cJSON_AddStringToObject(o, "key", secret);
	cJSON_AddStringToObject(o, "prefix", k->display);
	cJSON_AddStringToObject(o, "status",
				aigw_key_status_names[aigw_key_status(k, aigw_clock_wall_s())]);
	cJSON_AddNumberToObject(o, "rpm", (double)k->rpm);
	cJSON_AddNumberToObject(o, "tpm", (double)k->tpm);
	if (k->budget_micro) {
		/* Raw, so that 0.1 stays 0.1 and never becomes 0.10000000000000001. */
		aigw_format_usd(k->budget_micro, usd, sizeof(usd));
		cJSON_AddRawToObject(o, "budget_usd", usd);
	} else {
		cJSON_AddNullToObject(o, "budget_usd");
	}
	cJSON_AddItemToObject(o, "models", aigw_json_strv(&k->models));
	cJSON_AddItemToObject(o, "created_at", aigw_json_time(k->created_at));
	cJSON_AddItemToObject(o, "expires_at", aigw_json_time(k->expires_at));
	cJSON_AddItemToObject(o, "revoked_at", aigw_json_time(k->revoked_at));
	if (k->rotated_from)
		cJSON_AddNumberToObject(o, "rotated_from", (double)k->rotated_from);
	else
		cJSON_AddNullToObject(o, "rotated_from");
	return o;
}

cJSON *aigw_accounts_json(const struct aigw_account *accounts, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		add_string_or_null(o, "api_key_env", accounts[i].api_key_env);
		add_string_or_null(o, "token_url", accounts[i].token_url);
		add_string_or_null(o, "client_id_env", accounts[i].client_id_env);
		add_string_or_null(o, "client_secret_env", accounts[i].client_secret_env);
		add_string_or_null(o, "scope", accounts[i].scope);
		add_string_or_null(o, "proxy", accounts[i].proxy);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

cJSON *aigw_node_json(const struct aigw_node *n)
{
	bool plain = aigw_node_accounts_plain(n);

	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", n->name);
	cJSON_AddStringToObject(o, "url", n->url);
	cJSON_AddStringToObject(o, "provider", aigw_provider_names[n->provider]);
	cJSON_AddStringToObject(o, "type", aigw_node_type_names[n->type]);
	add_string_or_null(o, "region", n->region);
	cJSON_AddNumberToObject(o, "weight", (double)n->weight);
	cJSON_AddItemToObject(o, "models", aigw_json_strv(&n->models));
	/* One of the two, as a node entry says it: a record reads back. */
	add_string_or_null(o, "api_key_env", plain ? n->api_key_env : NULL);
	if (plain)
		cJSON_AddNullToObject(o, "accounts");
	else
		cJSON_AddItemToObject(o, "accounts", aigw_accounts_json(n->accounts, n->n_accounts));
	cJSON_AddNumberToObject(o, "max_concurrency", (double)n->max_concurrency);
	if (n->cost >= 0)
		cJSON_AddNumberToObject(o, "cost", (double)n->cost);
	else
		cJSON_AddNullToObject(o, "cost");
	cJSON_AddBoolToObject(o, "standby", n->standby);
	cJSON_AddStringToObject(o, "state", aigw_node_state_names[n->state]);
	cJSON_AddStringToObject(o, "source", aigw_origin_names[n->origin]);
	if (n->where)
		cJSON_AddStringToObject(o, "defined_at", n->where);
	return o;
}

/* A route's timeouts: "30s", or null for 0 (the default applies). */
static void add_duration_or_null(cJSON *o, const char *key, int64_t ms)
{
	char d[32];

	if (!ms) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	aigw_format_duration_ms(ms, d, sizeof(d));
	cJSON_AddStringToObject(o, key, d);
}

cJSON *aigw_route_json(const struct aigw_route *r)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "name", r->name);
	cJSON_AddStringToObject(o, "path", r->path);
	add_string_or_null(o, "method", r->method);
	add_string_or_null(o, "model", r->model);
	cJSON_AddItemToObject(o, "headers", aigw_json_strv(&r->headers));
	cJSON_AddItemToObject(o, "nodes", aigw_json_strv(&r->nodes));
	cJSON_AddStringToObject(o, "policy", aigw_policy_names[r->policy]);
	cJSON_AddNumberToObject(o, "retries", (double)r->retries);
	cJSON_AddNumberToObject(o, "prefer_cheap", (double)r->prefer_cheap);
	add_duration_or_null(o, "timeout", r->timeout_ms);
	add_duration_or_null(o, "connect_timeout", r->connect_timeout_ms);
	add_duration_or_null(o, "first_byte_timeout", r->first_byte_timeout_ms);
	add_duration_or_null(o, "idle_timeout", r->idle_timeout_ms);
	add_string_or_null(o, "fallback", r->fallback);
	cJSON_AddStringToObject(o, "source", aigw_origin_names[r->origin]);
	if (r->where)
		cJSON_AddStringToObject(o, "defined_at", r->where);
	return o;
}

cJSON *aigw_node_live_json(const struct aigw_node_live *r)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "state", r->state);
	cJSON_AddNumberToObject(o, "in_flight", (double)r->in_flight);
	if (r->latency_us >= 0)
		cJSON_AddNumberToObject(o, "latency_ms", (double)r->latency_us / 1000.0);
	else
		cJSON_AddNullToObject(o, "latency_ms");
	cJSON_AddNumberToObject(o, "share", r->share);
	cJSON_AddNumberToObject(o, "failures", (double)r->failures);
	if (r->retry_at_ms > 0)
		cJSON_AddNumberToObject(o, "retry_at_ms", (double)r->retry_at_ms);
	else
		cJSON_AddNullToObject(o, "retry_at_ms");
	if (r->checks[0])
		cJSON_AddStringToObject(o, "checks", r->checks);
	else
		cJSON_AddNullToObject(o, "checks");
	cJSON_AddNumberToObject(o, "picks", (double)r->picks);
	cJSON_AddNumberToObject(o, "pid", (double)r->pid);
	cJSON_AddNumberToObject(o, "updated_ms", (double)r->updated_ms);
	return o;
}
