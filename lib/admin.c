/* admin: see admin.h.
 *
 * Endpoints (documented for users in aigw-serve(1), "Admin API"):
 *
 *   /admin/keys               GET (?all=true lists revoked keys too), POST
 *   /admin/keys/REF           GET, PATCH, DELETE          REF: id or name
 *   /admin/keys/REF/rotate    POST
 *   /admin/keys/REF/revoke    POST
 *   /admin/nodes              GET, POST
 *   /admin/nodes/NAME         GET, PATCH, DELETE
 *   /admin/nodes/NAME/enable  POST (also disable, drain)
 *   /admin/routes             GET, POST
 *   /admin/routes/NAME        GET, DELETE
 *
 * Lists answer {"object":"list","data":[records]}. Errors map from the
 * operations' codes: EINVAL 400, ENOTFOUND 404 (400 when the missing thing
 * is named in the body), EEXIST and EFAIL 409 (a rule of the operations:
 * ties, cycles, a node in use, a YAML entry, a revoked key), EBUSY 503. */
#include "admin.h"

#include <cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "auth.h"
#include "catalog.h"
#include "clock.h"
#include "json.h"
#include "keys.h"
#include "log.h"
#include "mem.h"
#include "nodes.h"
#include "records.h"
#include "routes.h"
#include "server.h"
#include "store.h"

/* Records are small; a body this large is a mistake or an attack. */
#define ADMIN_BODY_MAX (1024 * 1024)
#define ADMIN_CONNECTIONS_MAX 64
#define PATH_SEGMENTS_MAX 4

struct aigw_admin {
	struct aigw_server *server;
	struct aigw_store *store;      /* the worker thread's alone once started */
	uint8_t token_hash[AIGW_APIKEY_HASH_LEN];
	struct aigw_conf yaml;         /* worker thread: YAML nodes and routes in force */
	pthread_mutex_t lock;
	struct aigw_conf *pending;     /* under lock: from reload, for the worker */
	pthread_t thread;
	bool started;
};

/* ------------------------------------------------------------ YAML entries */

/* Copies only what the operations read from a conf: its nodes and routes. */
static struct aigw_conf *copy_entries(const struct aigw_conf *src)
{
	struct aigw_conf *c = aigw_calloc(1, sizeof(*c));

	if (src && src->n_nodes) {
		c->nodes = aigw_calloc(src->n_nodes, sizeof(*c->nodes));
		for (size_t i = 0; i < src->n_nodes; i++)
			aigw_node_copy(&c->nodes[i], &src->nodes[i]);
		c->n_nodes = src->n_nodes;
	}
	if (src && src->n_routes) {
		c->routes = aigw_calloc(src->n_routes, sizeof(*c->routes));
		for (size_t i = 0; i < src->n_routes; i++)
			aigw_route_copy(&c->routes[i], &src->routes[i]);
		c->n_routes = src->n_routes;
	}
	return c;
}

static void free_entries(struct aigw_conf *c)
{
	if (c) {
		aigw_conf_release(c);
		free(c);
	}
}

/* The worker adopts entries handed over by aigw_admin_reload. */
static void take_pending(struct aigw_admin *a)
{
	struct aigw_conf *fresh;

	pthread_mutex_lock(&a->lock);
	fresh = a->pending;
	a->pending = NULL;
	pthread_mutex_unlock(&a->lock);
	if (fresh) {
		aigw_conf_release(&a->yaml);
		a->yaml = *fresh;
		free(fresh);
	}
}

void aigw_admin_reload(struct aigw_admin *a, const struct aigw_conf *conf)
{
	struct aigw_conf *fresh = copy_entries(conf), *old;

	pthread_mutex_lock(&a->lock);
	old = a->pending;
	a->pending = fresh;
	pthread_mutex_unlock(&a->lock);
	free_entries(old);
}

/* ------------------------------------------------------------ answering */

/* One request: what the handlers share. */
struct call {
	struct aigw_admin *admin;
	struct aigw_server_req *req;
	const char *seg[PATH_SEGMENTS_MAX]; /* "admin", "keys", REF, action */
	size_t n_seg;
};

static const char json_headers[] = "Content-Type: application/json\r\n"
				   "Cache-Control: no-store\r\n";

/* Sends o (taken) as the body. When it carries a key secret, every copy
 * made here is wiped before it is freed. */
static void send_json(struct call *c, int status, cJSON *o, bool secret)
{
	char *text;
	size_t len;

	if (secret) {
		/* The printed copy below is the only one that must remain. */
		text = cJSON_PrintUnformatted(o);
		cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "key");
		if (cJSON_IsString(k))
			memset(k->valuestring, 0, strlen(k->valuestring));
	} else {
		text = cJSON_PrintUnformatted(o);
	}
	cJSON_Delete(o);
	if (!text) {
		aigw_server_respond_error(c->req, 500, NULL, 0, NULL, NULL, "out of memory");
		return;
	}
	len = strlen(text);
	text[len] = '\n'; /* replaces the NUL: curl output ends with a newline */
	aigw_server_respond(c->req, status, json_headers, sizeof(json_headers) - 1, text,
			    len + 1);
	memset(text, 0, secret ? len + 1 : 0);
	cJSON_free(text);
}

static void send_list(struct call *c, cJSON *items)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "object", "list");
	cJSON_AddItemToObject(o, "data", items);
	send_json(c, 200, o, false);
}

static void send_error(struct call *c, int status, const char *headers, const char *message)
{
	aigw_server_respond_error(c->req, status, headers, headers ? strlen(headers) : 0, NULL,
				  NULL, message);
}

/* Answers an operation's error. missing is the status for ENOTFOUND: 404
 * when the thing is the one the URL names, 400 when the body names it. */
static void send_op_error(struct call *c, const struct aigw_err *err, int missing)
{
	const char *msg = err->msg[0] ? err->msg : aigw_err_name(err->code);

	switch (err->code) {
	case AIGW_EINVAL:
		send_error(c, 400, NULL, msg);
		break;
	case AIGW_ENOTFOUND:
		send_error(c, missing, NULL, msg);
		break;
	case AIGW_EEXIST:
	case AIGW_EFAIL:
		send_error(c, 409, NULL, msg);
		break;
	case AIGW_EBUSY:
		send_error(c, 503, "Retry-After: 1\r\n", msg);
		break;
	default:
		aigw_log_error("admin: %s", msg);
		send_error(c, 500, NULL, msg);
		break;
	}
}

/* 405 unless the request's method is among allowed ("GET, HEAD, POST");
 * HEAD goes wherever GET does. Returns true when the method may go on. */
static bool method_allowed(struct call *c, const char *allowed)
{
	const struct aigw_http_slice *m = &c->req->method_name;
	const char *p = allowed;
	char headers[128], message[256];

	while (*p) {
		size_t n = strcspn(p, ",");
		if (n == m->len && memcmp(p, m->ptr, n) == 0)
			return true;
		p += n;
		while (*p == ',' || *p == ' ')
			p++;
	}
	snprintf(headers, sizeof(headers), "Allow: %s\r\n", allowed);
	snprintf(message, sizeof(message), "method %.*s is not allowed on %.*s (allowed: %s)",
		 (int)(m->len > 32 ? 32 : m->len), m->ptr,
		 (int)(c->req->path.len > 160 ? 160 : c->req->path.len), c->req->path.ptr,
		 allowed);
	send_error(c, 405, headers, message);
	return false;
}

static bool is_method(const struct call *c, int method)
{
	return c->req->method == method ||
	       (method == AIGW_HTTP_GET && c->req->method == AIGW_HTTP_HEAD);
}

/* ------------------------------------------------------------ bodies */

/* A JSON number as the text the command line would have been given, so
 * that the same parser (and its messages) judges it. */
static int whole_number_text(const cJSON *j, char *out, size_t n, struct aigw_err *err)
{
	if (!cJSON_IsNumber(j))
		return aigw_err_set(err, AIGW_EINVAL, "expected a whole number, got %s",
				    aigw_json_kind(j));
	if (!(j->valuedouble >= -9.2e18 && j->valuedouble <= 9.2e18) ||
	    (double)(int64_t)j->valuedouble != j->valuedouble)
		return aigw_err_set(err, AIGW_EINVAL, "%g is not a whole number", j->valuedouble);
	snprintf(out, n, "%lld", (long long)j->valuedouble);
	return 0;
}

/* A key body: the fields of `aigw keys create/update`, as JSON. null sets
 * a field to its default (no limit, no budget, never, every model). */
struct key_body {
	struct aigw_key_changes changes;
	int64_t rpm, tpm, budget, expires;
	struct aigw_strv models;
};

static const char *const key_fields[] = { "name", "rpm", "tpm", "budget_usd", "expires",
					  "models", NULL };

static int key_field(struct key_body *b, size_t field, const cJSON *j, struct aigw_err *err)
{
	struct aigw_key_changes *c = &b->changes;
	char text[64];

	switch (field) {
	case 0: /* name */
		if (!cJSON_IsString(j))
			return aigw_err_set(err, AIGW_EINVAL, "expected a string, got %s",
					    aigw_json_kind(j));
		c->name = j->valuestring;
		return 0;
	case 1: /* rpm */
	case 2: /* tpm */ {
		int64_t *v = field == 1 ? &b->rpm : &b->tpm;
		*v = 0;
		if (!cJSON_IsNull(j) &&
		    (whole_number_text(j, text, sizeof(text), err) ||
		     aigw_parse_int(text, 0, AIGW_KEY_RATE_MAX, v, err)))
			return AIGW_EINVAL;
		if (field == 1)
			c->rpm = v;
		else
			c->tpm = v;
		return 0;
	}
	case 3: /* budget_usd: a number or the CLI's text ("12.5", "$12.5") */
		b->budget = 0;
		if (cJSON_IsNumber(j))
			/* 15 significant digits print 0.1 as 0.1, not its binary
			 * neighbour. */
			snprintf(text, sizeof(text), "%.15g", j->valuedouble);
		else if (cJSON_IsString(j))
			snprintf(text, sizeof(text), "%s", j->valuestring);
		else if (!cJSON_IsNull(j))
			return aigw_err_set(err, AIGW_EINVAL, "expected a number, got %s",
					    aigw_json_kind(j));
		if (!cJSON_IsNull(j) && aigw_parse_usd(text, &b->budget, err))
			return AIGW_EINVAL;
		c->budget_micro = &b->budget;
		return 0;
	case 4: /* expires */
		if (!cJSON_IsNull(j) && !cJSON_IsString(j))
			return aigw_err_set(err, AIGW_EINVAL, "expected a string, got %s",
					    aigw_json_kind(j));
		if (aigw_keys_parse_expiry(cJSON_IsNull(j) ? "never" : j->valuestring,
					   aigw_clock_wall_s(), &b->expires, err))
			return AIGW_EINVAL;
		c->expires_at = &b->expires;
		return 0;
	case 5: /* models: an array of globs, or the CLI's "a,b" */
		aigw_strv_release(&b->models);
		if (cJSON_IsArray(j)) {
			const cJSON *item;
			cJSON_ArrayForEach(item, j) {
				if (!cJSON_IsString(item))
					return aigw_err_set(err, AIGW_EINVAL,
							    "expected an array of strings, found %s",
							    aigw_json_kind(item));
				aigw_strv_push(&b->models, item->valuestring);
			}
		} else if (cJSON_IsString(j)) {
			if (aigw_strv_split(&b->models, j->valuestring, ',', err))
				return AIGW_EINVAL;
		} else if (!cJSON_IsNull(j)) {
			return aigw_err_set(err, AIGW_EINVAL, "expected an array of strings, got %s",
					    aigw_json_kind(j));
		}
		c->models = &b->models;
		return 0;
	}
	return AIGW_EINVAL;
}

/* Reads a key body; strings in the changes point into root. */
static int key_body_parse(struct key_body *b, const cJSON *root, struct aigw_err *err)
{
	bool seen[sizeof(key_fields) / sizeof(key_fields[0])] = { false };
	const cJSON *member;
	struct aigw_err sub;

	memset(b, 0, sizeof(*b));
	cJSON_ArrayForEach(member, root) {
		size_t f = 0;
		while (key_fields[f] && strcmp(key_fields[f], member->string) != 0)
			f++;
		if (!key_fields[f]) {
			const char *guess = aigw_suggest(member->string, key_fields);
			if (guess)
				return aigw_err_set(err, AIGW_EINVAL,
						    "%s: unknown field '%s' (did you mean '%s'?)",
						    member->string, member->string, guess);
			return aigw_err_set(err, AIGW_EINVAL, "%s: unknown field '%s'",
					    member->string, member->string);
		}
		if (seen[f])
			return aigw_err_set(err, AIGW_EINVAL, "%s: duplicate field", key_fields[f]);
		seen[f] = true;
		if (key_field(b, f, member, &sub))
			return aigw_err_set(err, AIGW_EINVAL, "%s: %s", key_fields[f], sub.msg);
	}
	return 0;
}

static bool key_body_empty(const struct key_body *b)
{
	const struct aigw_key_changes *c = &b->changes;
	return !c->name && !c->rpm && !c->tpm && !c->budget_micro && !c->expires_at &&
	       !c->models;
}

/* ------------------------------------------------------------ keys */

/* ?all=true (or 1): the query switch of GET /admin/keys. */
static bool query_all(const struct aigw_server_req *req)
{
	const char *p = req->query.ptr, *end = p + req->query.len;

	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		size_t n = (size_t)((amp ? amp : end) - p);
		if ((n == 8 && memcmp(p, "all=true", 8) == 0) || (n == 5 && memcmp(p, "all=1", 5) == 0))
			return true;
		p = amp ? amp + 1 : end;
	}
	return false;
}

static void list_keys(struct call *c)
{
	struct aigw_key *keys;
	struct aigw_err err = { 0 };
	bool all = query_all(c->req);
	cJSON *items;
	size_t n;

	if (aigw_store_key_list(c->admin->store, &keys, &n, &err)) {
		send_op_error(c, &err, 404);
		return;
	}
	items = cJSON_CreateArray();
	for (size_t i = 0; i < n; i++)
		if (all || !keys[i].revoked_at)
			cJSON_AddItemToArray(items, aigw_key_json(&keys[i], NULL));
	aigw_keys_free(keys, n);
	send_list(c, items);
}

static void create_key(struct call *c)
{
	struct key_body b = { 0 };
	struct aigw_key k;
	struct aigw_err err = { 0 };
	char secret[AIGW_APIKEY_LEN + 1];
	cJSON *root = NULL;

	if (aigw_json_parse_object(c->req->body, c->req->body_len, &root, &err) ||
	    key_body_parse(&b, root, &err)) {
		send_op_error(c, &err, 400);
	} else if (!b.changes.name) {
		send_error(c, 400, NULL, "name: required field is missing");
	} else if (aigw_keys_create(c->admin->store, &b.changes, &k, secret, &err)) {
		send_op_error(c, &err, 400);
	} else {
		aigw_log_info("admin: created key '%s' (id %lld)", k.name, (long long)k.id);
		send_json(c, 201, aigw_key_json(&k, secret), true);
		memset(secret, 0, sizeof(secret));
		aigw_key_release(&k);
	}
	cJSON_Delete(root);
	aigw_strv_release(&b.models);
}

static void key_item(struct call *c, const char *ref)
{
	struct aigw_store *s = c->admin->store;
	struct aigw_key k;
	struct aigw_err err = { 0 };

	if (!method_allowed(c, "GET, HEAD, PATCH, DELETE"))
		return;
	if (is_method(c, AIGW_HTTP_GET)) {
		if (aigw_store_key_get(s, ref, &k, &err)) {
			send_op_error(c, &err, 404);
			return;
		}
		send_json(c, 200, aigw_key_json(&k, NULL), false);
		aigw_key_release(&k);
	} else if (c->req->method == AIGW_HTTP_PATCH) {
		struct key_body b = { 0 };
		cJSON *root = NULL;
		if (aigw_json_parse_object(c->req->body, c->req->body_len, &root, &err) ||
		    key_body_parse(&b, root, &err)) {
			send_op_error(c, &err, 400);
		} else if (key_body_empty(&b)) {
			send_error(c, 400, NULL, "nothing to update (give at least one field)");
		} else if (aigw_keys_update(s, ref, &b.changes, &k, &err)) {
			send_op_error(c, &err, 404);
		} else {
			aigw_log_info("admin: updated key '%s' (id %lld)", k.name, (long long)k.id);
			send_json(c, 200, aigw_key_json(&k, NULL), false);
			aigw_key_release(&k);
		}
		cJSON_Delete(root);
		aigw_strv_release(&b.models);
	} else {
		if (aigw_keys_delete(s, ref, &k, &err)) {
			send_op_error(c, &err, 404);
			return;
		}
		aigw_log_info("admin: deleted key '%s' (id %lld)", k.name, (long long)k.id);
		aigw_key_release(&k);
		aigw_server_respond(c->req, 204, NULL, 0, NULL, 0);
	}
}

static void key_action(struct call *c, const char *ref, const char *action)
{
	struct aigw_key k;
	struct aigw_err err = { 0 };
	char secret[AIGW_APIKEY_LEN + 1];

	if (strcmp(action, "rotate") != 0 && strcmp(action, "revoke") != 0) {
		send_error(c, 404, NULL, "no such admin endpoint (key actions: rotate, revoke)");
		return;
	}
	if (!method_allowed(c, "POST"))
		return;
	if (action[1] == 'o') {
		if (aigw_keys_rotate(c->admin->store, ref, &k, secret, &err)) {
			send_op_error(c, &err, 404);
			return;
		}
		aigw_log_info("admin: rotated key '%s' (new id %lld, old id %lld)", k.name,
			      (long long)k.id, (long long)k.rotated_from);
		send_json(c, 201, aigw_key_json(&k, secret), true);
		memset(secret, 0, sizeof(secret));
	} else {
		if (aigw_keys_revoke(c->admin->store, ref, &k, &err)) {
			send_op_error(c, &err, 404);
			return;
		}
		aigw_log_info("admin: revoked key '%s' (id %lld)", k.name, (long long)k.id);
		send_json(c, 200, aigw_key_json(&k, NULL), false);
	}
	aigw_key_release(&k);
}

static void keys(struct call *c)
{
	if (c->n_seg == 2) {
		if (!method_allowed(c, "GET, HEAD, POST"))
			return;
		if (is_method(c, AIGW_HTTP_GET))
			list_keys(c);
		else
			create_key(c);
	} else if (c->n_seg == 3) {
		key_item(c, c->seg[2]);
	} else {
		key_action(c, c->seg[2], c->seg[3]);
	}
}

/* ------------------------------------------------------------ nodes */

/* Loads the catalog (YAML and database) for reading; answers on error. */
static bool load_catalog(struct call *c, struct aigw_catalog *cat)
{
	struct aigw_err err = { 0 };

	if (aigw_catalog_load(cat, &c->admin->yaml, c->admin->store, &err)) {
		send_op_error(c, &err, 404);
		return false;
	}
	return true;
}

static void list_nodes(struct call *c)
{
	struct aigw_catalog cat;
	cJSON *items;

	if (!load_catalog(c, &cat))
		return;
	items = cJSON_CreateArray();
	for (size_t i = 0; i < cat.n_nodes; i++)
		cJSON_AddItemToArray(items, aigw_node_json(&cat.nodes[i]));
	aigw_catalog_release(&cat);
	send_list(c, items);
}

static void create_node(struct call *c)
{
	struct aigw_node n;
	struct aigw_err err = { 0 };

	if (aigw_conf_node_from_json(c->req->body, c->req->body_len, &n, &err)) {
		send_op_error(c, &err, 400);
		return;
	}
	if (aigw_nodes_add(c->admin->store, &c->admin->yaml, &n, &err)) {
		send_op_error(c, &err, 400);
	} else {
		aigw_log_info("admin: added node '%s'", n.name);
		send_json(c, 201, aigw_node_json(&n), false);
	}
	aigw_node_release(&n);
}

/* PATCH: the body's fields are laid over the node's current record and the
 * result is read with the node directive table, as an import would read it,
 * so a value is judged exactly as everywhere else; then only the fields
 * the body named are changed. Renaming and the enabled state have their
 * own ways (remove and add; the enable/disable/drain actions). */
static int node_patch_changes(const struct aigw_node *current, const cJSON *patch,
			      struct aigw_node *parsed, struct aigw_node_changes *ch,
			      struct aigw_err *err)
{
	cJSON *merged = aigw_node_json(current);
	const cJSON *m;
	char *text;
	int rc;

	memset(ch, 0, sizeof(*ch));
	/* Fields of the record that are not directives. */
	cJSON_DeleteItemFromObjectCaseSensitive(merged, "state");
	cJSON_DeleteItemFromObjectCaseSensitive(merged, "source");
	cJSON_DeleteItemFromObjectCaseSensitive(merged, "defined_at");
	if (!patch->child) {
		cJSON_Delete(merged);
		return aigw_err_set(err, AIGW_EINVAL, "nothing to update (give at least one field)");
	}
	cJSON_ArrayForEach(m, patch) {
		cJSON *value;
		if (strcmp(m->string, "name") == 0) {
			if (cJSON_IsString(m) && strcmp(m->valuestring, current->name) == 0)
				continue;
			cJSON_Delete(merged);
			return aigw_err_set(err, AIGW_EINVAL,
					    "name: a node cannot be renamed (remove it and add it again)");
		}
		if (strcmp(m->string, "enabled") == 0 || strcmp(m->string, "state") == 0) {
			cJSON_Delete(merged);
			return aigw_err_set(err, AIGW_EINVAL,
					    "%s: use POST /admin/nodes/%s/enable, /disable or /drain",
					    m->string, current->name);
		}
		/* As on the command line, "" removes a region or a variable. */
		if ((strcmp(m->string, "region") == 0 || strcmp(m->string, "api_key_env") == 0) &&
		    cJSON_IsString(m) && !m->valuestring[0])
			value = cJSON_CreateNull();
		else
			value = cJSON_Duplicate(m, true);
		/* api_key_env and accounts say the same thing two ways; the one
		 * the body gives replaces the other. */
		if (strcmp(m->string, "api_key_env") == 0)
			cJSON_ReplaceItemInObjectCaseSensitive(merged, "accounts", cJSON_CreateNull());
		else if (strcmp(m->string, "accounts") == 0)
			cJSON_ReplaceItemInObjectCaseSensitive(merged, "api_key_env",
							       cJSON_CreateNull());
		if (cJSON_GetObjectItemCaseSensitive(merged, m->string))
			cJSON_ReplaceItemInObjectCaseSensitive(merged, m->string, value);
		else
			cJSON_AddItemToObject(merged, m->string, value);
	}
	text = cJSON_PrintUnformatted(merged);
	cJSON_Delete(merged);
	if (!text)
		return aigw_err_set(err, AIGW_EFAIL, "out of memory");
	rc = aigw_conf_node_from_json(text, strlen(text), parsed, err);
	cJSON_free(text);
	if (rc)
		return rc;
	cJSON_ArrayForEach(m, patch) {
		const char *f = m->string;
		if (strcmp(f, "url") == 0)
			ch->url = parsed->url;
		else if (strcmp(f, "provider") == 0)
			ch->provider = &parsed->provider;
		else if (strcmp(f, "type") == 0)
			ch->type = &parsed->type;
		else if (strcmp(f, "region") == 0)
			ch->region = parsed->region ? parsed->region : "";
		else if (strcmp(f, "weight") == 0)
			ch->weight = &parsed->weight;
		else if (strcmp(f, "models") == 0)
			ch->models = &parsed->models;
		else if (strcmp(f, "api_key_env") == 0 || strcmp(f, "accounts") == 0)
			ch->accounts_from = parsed;
		else if (strcmp(f, "max_concurrency") == 0)
			ch->max_concurrency = &parsed->max_concurrency;
		else if (strcmp(f, "cost") == 0)
			ch->cost = &parsed->cost;
		else if (strcmp(f, "standby") == 0)
			ch->standby = &parsed->standby;
	}
	return 0;
}

static void patch_node(struct call *c, const struct aigw_node *current)
{
	struct aigw_node parsed, out;
	struct aigw_node_changes ch;
	struct aigw_err err = { 0 };
	cJSON *patch = NULL;

	if (aigw_json_parse_object(c->req->body, c->req->body_len, &patch, &err) ||
	    node_patch_changes(current, patch, &parsed, &ch, &err)) {
		send_op_error(c, &err, 400);
		cJSON_Delete(patch);
		return;
	}
	if (aigw_nodes_update(c->admin->store, &c->admin->yaml, current->name, &ch, &out, &err)) {
		send_op_error(c, &err, 404);
	} else {
		aigw_log_info("admin: updated node '%s'", out.name);
		send_json(c, 200, aigw_node_json(&out), false);
		aigw_node_release(&out);
	}
	aigw_node_release(&parsed);
	cJSON_Delete(patch);
}

static void node_item(struct call *c, const char *name)
{
	struct aigw_catalog cat;
	const struct aigw_node *n;
	struct aigw_err err = { 0 };

	if (!method_allowed(c, "GET, HEAD, PATCH, DELETE"))
		return;
	if (c->req->method == AIGW_HTTP_DELETE) {
		if (aigw_nodes_remove(c->admin->store, &c->admin->yaml, name, &err)) {
			send_op_error(c, &err, 404);
			return;
		}
		aigw_log_info("admin: removed node '%s'", name);
		aigw_server_respond(c->req, 204, NULL, 0, NULL, 0);
		return;
	}
	if (!load_catalog(c, &cat))
		return;
	if (!(n = aigw_catalog_node(&cat, name))) {
		aigw_err_set(&err, AIGW_ENOTFOUND, "no node named '%s'", name);
		send_op_error(c, &err, 404);
	} else if (c->req->method == AIGW_HTTP_PATCH) {
		patch_node(c, n);
	} else {
		send_json(c, 200, aigw_node_json(n), false);
	}
	aigw_catalog_release(&cat);
}

static void node_action(struct call *c, const char *name, const char *action)
{
	struct aigw_node out;
	struct aigw_err err = { 0 };
	int state;

	if (strcmp(action, "enable") == 0)
		state = AIGW_NODE_ENABLED;
	else if (strcmp(action, "disable") == 0)
		state = AIGW_NODE_DISABLED;
	else if (strcmp(action, "drain") == 0)
		state = AIGW_NODE_DRAINING;
	else {
		send_error(c, 404, NULL,
			   "no such admin endpoint (node actions: enable, disable, drain)");
		return;
	}
	if (!method_allowed(c, "POST"))
		return;
	if (aigw_nodes_set_state(c->admin->store, &c->admin->yaml, name, state, &out, &err)) {
		send_op_error(c, &err, 404);
		return;
	}
	aigw_log_info("admin: node '%s' %s", name, aigw_node_state_names[state]);
	send_json(c, 200, aigw_node_json(&out), false);
	aigw_node_release(&out);
}

static void nodes(struct call *c)
{
	if (c->n_seg == 2) {
		if (!method_allowed(c, "GET, HEAD, POST"))
			return;
		if (is_method(c, AIGW_HTTP_GET))
			list_nodes(c);
		else
			create_node(c);
	} else if (c->n_seg == 3) {
		node_item(c, c->seg[2]);
	} else {
		node_action(c, c->seg[2], c->seg[3]);
	}
}

/* ------------------------------------------------------------ routes */

static void list_routes(struct call *c)
{
	struct aigw_catalog cat;
	cJSON *items;

	if (!load_catalog(c, &cat))
		return;
	items = cJSON_CreateArray();
	for (size_t i = 0; i < cat.n_routes; i++)
		cJSON_AddItemToArray(items, aigw_route_json(&cat.routes[i]));
	aigw_catalog_release(&cat);
	send_list(c, items);
}

static void create_route(struct call *c)
{
	struct aigw_route r;
	struct aigw_err err = { 0 };

	if (aigw_conf_route_from_json(c->req->body, c->req->body_len, &r, &err)) {
		send_op_error(c, &err, 400);
		return;
	}
	if (aigw_routes_add(c->admin->store, &c->admin->yaml, &r, &err)) {
		send_op_error(c, &err, 400); /* a node or fallback the body names */
	} else {
		aigw_log_info("admin: added route '%s'", r.name);
		send_json(c, 201, aigw_route_json(&r), false);
	}
	aigw_route_release(&r);
}

static void route_item(struct call *c, const char *name)
{
	struct aigw_catalog cat;
	const struct aigw_route *r;
	struct aigw_err err = { 0 };

	if (!method_allowed(c, "GET, HEAD, DELETE"))
		return;
	if (c->req->method == AIGW_HTTP_DELETE) {
		if (aigw_routes_remove(c->admin->store, &c->admin->yaml, name, &err)) {
			send_op_error(c, &err, 404);
			return;
		}
		aigw_log_info("admin: removed route '%s'", name);
		aigw_server_respond(c->req, 204, NULL, 0, NULL, 0);
		return;
	}
	if (!load_catalog(c, &cat))
		return;
	if ((r = aigw_catalog_route(&cat, name))) {
		send_json(c, 200, aigw_route_json(r), false);
	} else {
		aigw_err_set(&err, AIGW_ENOTFOUND, "no route named '%s'", name);
		send_op_error(c, &err, 404);
	}
	aigw_catalog_release(&cat);
}

static void routes(struct call *c)
{
	if (c->n_seg == 2) {
		if (!method_allowed(c, "GET, HEAD, POST"))
			return;
		if (is_method(c, AIGW_HTTP_GET))
			list_routes(c);
		else
			create_route(c);
	} else if (c->n_seg == 3) {
		route_item(c, c->seg[2]);
	} else {
		send_error(c, 404, NULL, "no such admin endpoint (routes have no actions)");
	}
}

/* ------------------------------------------------------------ requests */

/* Bearer token check: both sides are hashed first, so the comparison
 * takes the same time whatever the length or content presented. */
static int check_token(const struct aigw_admin *a, const struct aigw_server_req *req)
{
	const struct aigw_http_slice *h = aigw_server_req_header(req, "authorization");
	uint8_t hash[AIGW_APIKEY_HASH_LEN];
	const char *token;
	unsigned diff = 0;
	size_t len;

	token = aigw_auth_token(h ? h->ptr : NULL, h ? h->len : 0, NULL, 0, &len);
	if (!token)
		return AIGW_ENOTFOUND;
	aigw_apikey_hash(token, len, hash);
	for (size_t i = 0; i < sizeof(hash); i++)
		diff |= (unsigned)(hash[i] ^ a->token_hash[i]);
	return diff ? AIGW_EINVAL : 0;
}

/* Splits "/admin/keys/x/rotate" into segments (copied into the request's
 * pool). False for anything outside /admin/ or with empty segments. */
static bool split_path(struct call *c)
{
	const char *p = c->req->path.ptr, *end = p + c->req->path.len;

	c->n_seg = 0;
	if (p == end || *p != '/')
		return false;
	while (p < end) {
		const char *s = ++p;
		while (p < end && *p != '/')
			p++;
		if (p == s || c->n_seg == PATH_SEGMENTS_MAX)
			return false;
		c->seg[c->n_seg++] = aigw_pool_strndup(c->req->pool, s, (size_t)(p - s));
	}
	return c->n_seg >= 2 && strcmp(c->seg[0], "admin") == 0;
}

static void handle(struct aigw_server_req *req, void *arg)
{
	struct call c = { .admin = arg, .req = req };
	int auth;

	take_pending(c.admin);
	/* Authentication comes first, so that without the token not even the
	 * set of endpoints can be probed. */
	if ((auth = check_token(c.admin, req))) {
		aigw_log_warn("admin: refused a request from %s: %s", req->peer,
			      auth == AIGW_ENOTFOUND ? "no token" : "wrong token");
		aigw_server_respond_error(req, 401, "WWW-Authenticate: Bearer\r\n", 26, NULL,
					  auth == AIGW_ENOTFOUND ? "missing_api_key"
								 : "invalid_api_key",
					  auth == AIGW_ENOTFOUND
						  ? "the admin API needs 'Authorization: Bearer <token>' with the token of AIGW_ADMIN_TOKEN"
						  : "invalid admin token");
		return;
	}
	if (!split_path(&c))
		send_error(&c, 404, NULL, "no such admin endpoint (see /admin/keys, /admin/nodes, /admin/routes)");
	else if (strcmp(c.seg[1], "keys") == 0)
		keys(&c);
	else if (strcmp(c.seg[1], "nodes") == 0)
		nodes(&c);
	else if (strcmp(c.seg[1], "routes") == 0)
		routes(&c);
	else
		send_error(&c, 404, NULL, "no such admin endpoint (see /admin/keys, /admin/nodes, /admin/routes)");
}

/* ------------------------------------------------------------ lifecycle */

int aigw_admin_new(struct aigw_admin **out, const struct aigw_admin_config *config,
		   struct aigw_err *err)
{
	struct aigw_server_config sc;
	struct aigw_admin *a;
	const struct aigw_conf *conf = config->conf;
	char listen[300];
	int rc;

	*out = NULL;
	if (!config->token || !config->token[0])
		return aigw_err_set(err, AIGW_EINVAL, "the admin token is empty");
	/* ":port" would mean every interface; for the admin API it means
	 * loopback, and reaching further takes a host written out. */
	if (config->listen[0] == ':')
		snprintf(listen, sizeof(listen), "127.0.0.1%s", config->listen);
	else if (aigw_strlcpy(listen, config->listen, sizeof(listen)) >= sizeof(listen))
		return aigw_err_set(err, AIGW_EINVAL, "admin listen address '%s' is too long",
				    config->listen);

	a = aigw_calloc(1, sizeof(*a));
	pthread_mutex_init(&a->lock, NULL);
	aigw_apikey_hash(config->token, strlen(config->token), a->token_hash);
	if (conf) {
		struct aigw_conf *entries = copy_entries(conf);
		a->yaml = *entries;
		free(entries);
	}
	if ((rc = aigw_store_open(&a->store, config->db_path, AIGW_STORE_CREATE, err)))
		goto fail;

	aigw_server_config_init(&sc);
	sc.listen = listen;
	sc.workers = 1;
	sc.max_connections = ADMIN_CONNECTIONS_MAX;
	sc.limits.max_body_bytes = ADMIN_BODY_MAX;
	if (conf) {
		sc.limits.max_header_bytes = (size_t)conf->max_header_bytes;
		sc.limits.max_headers = (size_t)conf->max_headers;
		sc.header_timeout_ms = (uint64_t)conf->header_timeout_ms;
		sc.body_timeout_ms = (uint64_t)conf->body_timeout_ms;
		sc.idle_timeout_ms = (uint64_t)conf->idle_timeout_ms;
	}
	sc.handler = handle;
	sc.handler_arg = a;
	if ((rc = aigw_server_new(&a->server, &sc, err)))
		goto fail;
	*out = a;
	return 0;
fail:
	aigw_admin_free(a);
	return rc;
}

const char *aigw_admin_address(const struct aigw_admin *a)
{
	return aigw_server_address(a->server);
}

bool aigw_admin_is_loopback(const struct aigw_admin *a)
{
	const char *addr = aigw_server_address(a->server);
	return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]:", 6) == 0 ||
	       strncmp(addr, "[::ffff:127.", 12) == 0;
}

static void *admin_main(void *arg)
{
	struct aigw_admin *a = arg;
	struct aigw_err err = { 0 };

	if (aigw_server_run(a->server, &err))
		aigw_log_error("admin API stopped: %s", err.msg);
	return NULL;
}

int aigw_admin_start(struct aigw_admin *a, struct aigw_err *err)
{
	if (pthread_create(&a->thread, NULL, admin_main, a))
		return aigw_err_set(err, AIGW_EFAIL, "cannot start the admin API thread");
	a->started = true;
	return 0;
}

void aigw_admin_stop(struct aigw_admin *a, uint64_t grace_ms)
{
	if (a && a->server)
		aigw_server_stop(a->server, grace_ms);
}

void aigw_admin_free(struct aigw_admin *a)
{
	if (!a)
		return;
	if (a->started) {
		aigw_server_stop(a->server, 0);
		pthread_join(a->thread, NULL);
	}
	aigw_server_free(a->server);
	aigw_store_close(a->store);
	aigw_conf_release(&a->yaml);
	free_entries(a->pending);
	pthread_mutex_destroy(&a->lock);
	memset(a->token_hash, 0, sizeof(a->token_hash));
	free(a);
}
