/* stats: see stats.h. Like reqlog.c, a row module of the request_log and
 * request_rollup tables, so it reaches the SQLite handle through
 * store_internal.h; it only reads. */
#include "stats.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "store_internal.h"
#include "str.h"

#define MINUTE_MS 60000

const char *const aigw_stats_by_names[] = { "route", "node", "key", "model", "status", NULL };

/* Floor division for possibly negative times. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t ceil_div(int64_t a, int64_t b)
{
	return -floor_div(-a, b);
}

/* ------------------------------------------------------------- groups
 *
 * Groups are found by a text key (a name, or a number in decimal) in a
 * small open-addressing table of indexes into the result's array. */

struct table {
	struct aigw_stats_result *r;
	size_t cap;         /* result array capacity */
	uint32_t *slots;    /* index + 1; 0 = empty */
	char **keys;        /* per group, the lookup key */
	size_t slot_mask;
	const struct aigw_stats_query *q;
};

static uint64_t hash_text(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static void table_grow_slots(struct table *t)
{
	size_t n = (t->slot_mask + 1) * 2;

	free(t->slots);
	t->slots = aigw_calloc(n, sizeof(*t->slots));
	t->slot_mask = n - 1;
	for (size_t i = 0; i < t->r->n; i++) {
		size_t slot = (size_t)hash_text(t->keys[i]) & t->slot_mask;
		while (t->slots[slot])
			slot = (slot + 1) & t->slot_mask;
		t->slots[slot] = (uint32_t)i + 1;
	}
}

static struct aigw_stats_group *table_find(struct table *t, const char *key, bool *created)
{
	size_t slot;
	struct aigw_stats_group *g;

	*created = false;
	for (slot = (size_t)hash_text(key) & t->slot_mask; t->slots[slot];
	     slot = (slot + 1) & t->slot_mask) {
		size_t i = t->slots[slot] - 1;
		if (strcmp(t->keys[i], key) == 0)
			return &t->r->groups[i];
	}
	if (t->r->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->r->groups = aigw_realloc(t->r->groups, t->cap * sizeof(*t->r->groups));
		t->keys = aigw_realloc(t->keys, t->cap * sizeof(*t->keys));
	}
	g = &t->r->groups[t->r->n];
	memset(g, 0, sizeof(*g));
	t->keys[t->r->n] = aigw_strdup(key);
	t->slots[slot] = (uint32_t)++t->r->n;
	*created = true;
	if (t->r->n * 2 > t->slot_mask + 1)
		table_grow_slots(t);
	return g;
}

static void table_release(struct table *t)
{
	for (size_t i = 0; t->keys && i < t->r->n; i++)
		free(t->keys[i]);
	free(t->keys);
	free(t->slots);
}

/* What one row (raw or rollup) adds to its group; names are "" when absent. */
struct contribution {
	const char *route, *node, *model, *key_name;
	int64_t key_id, status_class, ts_ms;
	int64_t requests, errors, latency_sum_us, ttfb_count, ttfb_sum_us;
	int64_t bytes_in, bytes_out, prompt_tokens, completion_tokens, cost_micro, priced;
};

static void status_label(int64_t status_class, char *out, size_t n)
{
	if (status_class > 0)
		snprintf(out, n, "%lldxx", (long long)status_class);
	else
		snprintf(out, n, "none");
}

static struct aigw_stats_group *group_of(struct table *t, const struct contribution *c)
{
	char key[64];
	const char *k = key, *label = NULL;
	struct aigw_stats_group *g;
	bool created;

	switch (t->q->by) {
	case AIGW_STATS_BY_ROUTE: k = label = c->route; break;
	case AIGW_STATS_BY_NODE: k = label = c->node; break;
	case AIGW_STATS_BY_MODEL: k = label = c->model; break;
	case AIGW_STATS_BY_KEY:
		snprintf(key, sizeof(key), "%lld", (long long)c->key_id);
		break;
	case AIGW_STATS_BY_STATUS:
		status_label(c->status_class, key, sizeof(key));
		label = key;
		break;
	case AIGW_STATS_BY_TIME:
		snprintf(key, sizeof(key), "%lld",
			 (long long)(floor_div(c->ts_ms, t->q->bucket_ms) * t->q->bucket_ms));
		break;
	case AIGW_STATS_BY_NONE:
		key[0] = '\0';
		break;
	}
	g = table_find(t, k, &created);
	if (created) {
		if (label && *label)
			g->label = aigw_strdup(label);
		if (t->q->by == AIGW_STATS_BY_KEY)
			g->key_id = c->key_id;
		if (t->q->by == AIGW_STATS_BY_TIME)
			g->bucket_ms = floor_div(c->ts_ms, t->q->bucket_ms) * t->q->bucket_ms;
	}
	/* A key's label: its latest name the log knows, else its id. */
	if (t->q->by == AIGW_STATS_BY_KEY && c->key_name[0] &&
	    (!g->label || strcmp(g->label, c->key_name) != 0)) {
		free(g->label);
		g->label = aigw_strdup(c->key_name);
	}
	return g;
}

static void add(struct aigw_stats_group *g, const struct contribution *c)
{
	g->requests += c->requests;
	g->errors += c->errors;
	g->latency_sum_us += c->latency_sum_us;
	g->ttfb_count += c->ttfb_count;
	g->ttfb_sum_us += c->ttfb_sum_us;
	g->bytes_in += c->bytes_in;
	g->bytes_out += c->bytes_out;
	g->prompt_tokens += c->prompt_tokens;
	g->completion_tokens += c->completion_tokens;
	g->cost_micro += c->cost_micro;
	g->priced += c->priced;
}

static void add_hist(uint64_t *to, const uint64_t *from)
{
	for (unsigned b = 0; b < AIGW_REQLOG_HIST_BUCKETS; b++)
		to[b] += from[b];
}

static const char *text_or_empty(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? (const char *)t : "";
}

static int64_t positive(sqlite3_stmt *st, int i)
{
	int64_t v = sqlite3_column_int64(st, i); /* NULL reads as 0 */
	return v > 0 ? v : 0;
}

static int64_t status_class_of(int64_t status)
{
	return status >= 100 && status <= 999 ? status / 100 : 0;
}

/* ------------------------------------------------------------- sources */

static const char rollup_sql[] =
	"SELECT route, node, key_id, model, status_class, key_name, requests, errors,"
	" latency_sum_us, latency_hist, ttfb_count, ttfb_sum_us, ttfb_hist, bytes_in,"
	" bytes_out, prompt_tokens, completion_tokens, cost_micro, priced, minute"
	" FROM request_rollup WHERE minute >= ?1 AND minute < ?2";

static int corrupt(struct aigw_store *s, struct aigw_err *err)
{
	return aigw_err_set(err, AIGW_EFAIL,
			    "database '%s' has a malformed latency histogram in request_rollup",
			    aigw_store_filename(s));
}

/* Adds the rollups of minutes [first, end). */
static int scan_rollups(struct aigw_store *s, struct table *t, int64_t first, int64_t end,
			struct aigw_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = store_prepare(s, &st, rollup_sql, err)))
		return rc;
	sqlite3_bind_int64(st, 1, first);
	sqlite3_bind_int64(st, 2, end);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct contribution c = {
			.route = text_or_empty(st, 0),
			.node = text_or_empty(st, 1),
			.key_id = sqlite3_column_int64(st, 2),
			.model = text_or_empty(st, 3),
			.status_class = sqlite3_column_int64(st, 4),
			.key_name = text_or_empty(st, 5),
			.requests = sqlite3_column_int64(st, 6),
			.errors = sqlite3_column_int64(st, 7),
			.latency_sum_us = sqlite3_column_int64(st, 8),
			.ttfb_count = sqlite3_column_int64(st, 10),
			.ttfb_sum_us = sqlite3_column_int64(st, 11),
			.bytes_in = sqlite3_column_int64(st, 13),
			.bytes_out = sqlite3_column_int64(st, 14),
			.prompt_tokens = sqlite3_column_int64(st, 15),
			.completion_tokens = sqlite3_column_int64(st, 16),
			.cost_micro = sqlite3_column_int64(st, 17),
			.priced = sqlite3_column_int64(st, 18),
			.ts_ms = sqlite3_column_int64(st, 19) * MINUTE_MS,
		};
		struct aigw_stats_group *g = group_of(t, &c);

		/* Decoding adds straight into the group's counts (a failure
		 * fails the whole answer, so partial adds do not matter). */
		if (aigw_reqlog_hist_decode(sqlite3_column_blob(st, 9),
					    (size_t)sqlite3_column_bytes(st, 9), g->latency) ||
		    aigw_reqlog_hist_decode(sqlite3_column_blob(st, 12),
					    (size_t)sqlite3_column_bytes(st, 12), g->ttfb)) {
			sqlite3_finalize(st);
			return corrupt(s, err);
		}
		add(g, &c);
		t->r->rollup_rows++;
	}
	rc = rc == SQLITE_DONE ? 0 : store_fail(s, rc, err);
	sqlite3_finalize(st);
	return rc;
}

static const char raw_sql[] =
	"SELECT route, node, key_id, model, status, key_name, latency_us, ttfb_us, bytes_in,"
	" bytes_out, prompt_tokens, completion_tokens, cost_micro, error, ts_ms"
	" FROM request_log WHERE ts_ms >= ?1 AND ts_ms < ?2";

/* Adds the raw rows of [from_ms, to_ms), counted as the writer counts
 * them into rollups (reqlog.c group_batch). */
static int scan_raw(struct aigw_store *s, struct table *t, int64_t from_ms, int64_t to_ms,
		    struct aigw_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (from_ms >= to_ms)
		return 0;
	if ((rc = store_prepare(s, &st, raw_sql, err)))
		return rc;
	sqlite3_bind_int64(st, 1, from_ms);
	sqlite3_bind_int64(st, 2, to_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t status = sqlite3_column_int64(st, 4);
		int64_t latency = positive(st, 6);
		bool has_ttfb = sqlite3_column_type(st, 7) != SQLITE_NULL &&
				sqlite3_column_int64(st, 7) >= 0;
		bool priced = sqlite3_column_type(st, 12) != SQLITE_NULL &&
			      sqlite3_column_int64(st, 12) >= 0;
		int64_t key_id = sqlite3_column_int64(st, 2);
		struct contribution c = {
			.route = text_or_empty(st, 0),
			.node = text_or_empty(st, 1),
			.key_id = key_id > 0 ? key_id : 0,
			.model = text_or_empty(st, 3),
			.status_class = status_class_of(status),
			.key_name = text_or_empty(st, 5),
			.requests = 1,
			.errors = status >= 400 || status < 100 || *text_or_empty(st, 13),
			.latency_sum_us = latency,
			.ttfb_count = has_ttfb,
			.ttfb_sum_us = has_ttfb ? sqlite3_column_int64(st, 7) : 0,
			.bytes_in = positive(st, 8),
			.bytes_out = positive(st, 9),
			.prompt_tokens = positive(st, 10),
			.completion_tokens = positive(st, 11),
			.cost_micro = priced ? sqlite3_column_int64(st, 12) : 0,
			.priced = priced,
			.ts_ms = sqlite3_column_int64(st, 14),
		};
		struct aigw_stats_group *g = group_of(t, &c);
		unsigned lb = aigw_reqlog_hist_bucket((uint64_t)latency);

		add(g, &c);
		g->latency[lb]++;
		if (has_ttfb)
			g->ttfb[aigw_reqlog_hist_bucket((uint64_t)c.ttfb_sum_us)]++;
		t->r->raw_rows++;
	}
	rc = rc == SQLITE_DONE ? 0 : store_fail(s, rc, err);
	sqlite3_finalize(st);
	return rc;
}

/* -------------------------------------------------------------- summary */

static int by_requests(const void *a, const void *b)
{
	const struct aigw_stats_group *x = a, *y = b;

	if (x->requests != y->requests)
		return x->requests > y->requests ? -1 : 1;
	if (!x->label || !y->label)
		return !x->label - !y->label; /* unnamed last */
	return strcmp(x->label, y->label);
}

static int by_label(const void *a, const void *b)
{
	const struct aigw_stats_group *x = a, *y = b;

	if (!x->label || !y->label)
		return !x->label - !y->label;
	return strcmp(x->label, y->label);
}

static int by_bucket(const void *a, const void *b)
{
	const struct aigw_stats_group *x = a, *y = b;

	return x->bucket_ms < y->bucket_ms ? -1 : x->bucket_ms > y->bucket_ms;
}

int aigw_stats_summary(struct aigw_store *s, const struct aigw_stats_query *q,
		       struct aigw_stats_result *out, struct aigw_err *err)
{
	struct table t = { .r = out, .q = q };
	int64_t first_full, end_full;
	int rc;

	memset(out, 0, sizeof(*out));
	if (q->until_ms <= q->since_ms)
		return aigw_err_set(err, AIGW_EINVAL, "the window is empty (until is not after since)");
	if (q->by == AIGW_STATS_BY_TIME) {
		int64_t first, end;
		if (q->bucket_ms < MINUTE_MS || q->bucket_ms % MINUTE_MS)
			return aigw_err_set(err, AIGW_EINVAL,
					    "the interval must be a whole number of minutes");
		first = floor_div(q->since_ms, q->bucket_ms);
		end = ceil_div(q->until_ms, q->bucket_ms);
		if (end - first > AIGW_STATS_MAX_BUCKETS)
			return aigw_err_set(err, AIGW_EINVAL,
					    "the window holds %lld intervals, more than %d",
					    (long long)(end - first), AIGW_STATS_MAX_BUCKETS);
	}
	t.slot_mask = 63;
	t.slots = aigw_calloc(t.slot_mask + 1, sizeof(*t.slots));
	if (q->by == AIGW_STATS_BY_TIME) {
		/* Every bucket, so a chart shows the quiet ones as zero. */
		for (int64_t b = floor_div(q->since_ms, q->bucket_ms); b * q->bucket_ms < q->until_ms; b++) {
			struct contribution c = { .ts_ms = b * q->bucket_ms, .route = "", .node = "",
						  .model = "", .key_name = "" };
			group_of(&t, &c);
		}
	}

	/* Whole minutes from rollups, the partial ones at the edges raw. One
	 * read transaction, so both sources see the same snapshot while the
	 * writer goes on committing. */
	first_full = ceil_div(q->since_ms, MINUTE_MS);
	end_full = floor_div(q->until_ms, MINUTE_MS);
	if ((rc = store_exec(s, "BEGIN", err)))
		goto out;
	if (first_full < end_full) {
		rc = scan_raw(s, &t, q->since_ms, first_full * MINUTE_MS, err);
		if (!rc)
			rc = scan_rollups(s, &t, first_full, end_full, err);
		if (!rc)
			rc = scan_raw(s, &t, end_full * MINUTE_MS, q->until_ms, err);
	} else {
		rc = scan_raw(s, &t, q->since_ms, q->until_ms, err);
	}
	aigw_store_rollback(s);
	if (rc)
		goto out;
	/* The total is the sum of the groups, which partition the rows. */
	for (size_t i = 0; i < out->n; i++) {
		struct aigw_stats_group *g = &out->groups[i];
		struct contribution c = {
			.requests = g->requests, .errors = g->errors,
			.latency_sum_us = g->latency_sum_us, .ttfb_count = g->ttfb_count,
			.ttfb_sum_us = g->ttfb_sum_us, .bytes_in = g->bytes_in,
			.bytes_out = g->bytes_out, .prompt_tokens = g->prompt_tokens,
			.completion_tokens = g->completion_tokens, .cost_micro = g->cost_micro,
			.priced = g->priced,
		};
		add(&out->total, &c);
		add_hist(out->total.latency, g->latency);
		add_hist(out->total.ttfb, g->ttfb);
	}

	if (q->by == AIGW_STATS_BY_TIME)
		qsort(out->groups, out->n, sizeof(*out->groups), by_bucket);
	else if (q->by == AIGW_STATS_BY_STATUS)
		qsort(out->groups, out->n, sizeof(*out->groups), by_label);
	else if (out->n)
		qsort(out->groups, out->n, sizeof(*out->groups), by_requests);
out:
	table_release(&t);
	return rc;
}

void aigw_stats_result_release(struct aigw_stats_result *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->groups[i].label);
	free(r->groups);
	free(r->total.label);
	memset(r, 0, sizeof(*r));
}

int64_t aigw_stats_latency_p(const struct aigw_stats_group *g, double p)
{
	return g->requests ? (int64_t)aigw_reqlog_hist_percentile(g->latency, p) : -1;
}

int64_t aigw_stats_ttfb_p(const struct aigw_stats_group *g, double p)
{
	return g->ttfb_count ? (int64_t)aigw_reqlog_hist_percentile(g->ttfb, p) : -1;
}

/* ----------------------------------------------------------------- rows */

#define ROW_COLUMNS                                                             \
	"id, ts_ms, request_id, key_id, key_name, route, node, model, status,"  \
	" stream, latency_us, ttfb_us, prompt_tokens, completion_tokens,"       \
	" cost_micro, error"

static int64_t optional(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? AIGW_REQLOG_NONE
							  : sqlite3_column_int64(st, i);
}

static void read_row(sqlite3_stmt *st, struct aigw_stats_row *r)
{
	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(st, 0);
	r->ts_ms = sqlite3_column_int64(st, 1);
	aigw_strlcpy(r->request_id, text_or_empty(st, 2), sizeof(r->request_id));
	r->key_id = sqlite3_column_int64(st, 3);
	if (r->key_id < 0)
		r->key_id = 0;
	aigw_strlcpy(r->key_name, text_or_empty(st, 4), sizeof(r->key_name));
	aigw_strlcpy(r->route, text_or_empty(st, 5), sizeof(r->route));
	aigw_strlcpy(r->node, text_or_empty(st, 6), sizeof(r->node));
	aigw_strlcpy(r->model, text_or_empty(st, 7), sizeof(r->model));
	r->status = sqlite3_column_int64(st, 8);
	r->stream = sqlite3_column_int64(st, 9) != 0;
	r->latency_us = sqlite3_column_int64(st, 10);
	r->ttfb_us = optional(st, 11);
	r->prompt_tokens = optional(st, 12);
	r->completion_tokens = optional(st, 13);
	r->cost_micro = optional(st, 14);
	aigw_strlcpy(r->error, text_or_empty(st, 15), sizeof(r->error));
}

static int read_rows(struct aigw_store *s, const char *sql, int64_t a, int64_t b,
		     struct aigw_stats_row **out, size_t *count, struct aigw_err *err)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*count = 0;
	if ((rc = store_prepare(s, &st, sql, err)))
		return rc;
	sqlite3_bind_int64(st, 1, a);
	if (sqlite3_bind_parameter_count(st) >= 2)
		sqlite3_bind_int64(st, 2, b);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*count == cap) {
			cap = cap ? cap * 2 : 16;
			*out = aigw_realloc(*out, cap * sizeof(**out));
		}
		read_row(st, &(*out)[(*count)++]);
	}
	rc = rc == SQLITE_DONE ? 0 : store_fail(s, rc, err);
	sqlite3_finalize(st);
	if (rc) {
		free(*out);
		*out = NULL;
		*count = 0;
	}
	return rc;
}

int aigw_stats_tail(struct aigw_store *s, size_t n, struct aigw_stats_row **out,
		    size_t *count, struct aigw_err *err)
{
	int rc = read_rows(s,
			   "SELECT " ROW_COLUMNS " FROM request_log"
			   " ORDER BY id DESC LIMIT ?1",
			   (int64_t)(n > INT64_MAX ? INT64_MAX : n), 0, out, count, err);

	for (size_t i = 0; !rc && i < *count / 2; i++) {
		struct aigw_stats_row tmp = (*out)[i];
		(*out)[i] = (*out)[*count - 1 - i];
		(*out)[*count - 1 - i] = tmp;
	}
	return rc;
}

int aigw_stats_after(struct aigw_store *s, int64_t after_id, size_t max,
		     struct aigw_stats_row **out, size_t *count, struct aigw_err *err)
{
	return read_rows(s,
			 "SELECT " ROW_COLUMNS " FROM request_log WHERE id > ?1"
			 " ORDER BY id LIMIT ?2",
			 after_id, (int64_t)(max > INT64_MAX ? INT64_MAX : max), out, count, err);
}

/* --------------------------------------------------------------- times */


static int bad_time(const char *s, struct aigw_err *err)
{
	return aigw_err_set(err, AIGW_EINVAL,
			    "'%s' is not a time (use a duration such as 1h, 2026-11-23T01:45:00Z or Unix seconds)",
			    s);
}

/* "YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM|-HH:MM]" (and a bare date). */
static int parse_rfc3339(const char *s, int64_t *out_ms, struct aigw_err *err)
{
	char base[21];
	const char *p = s + 19;
	int64_t secs, frac_ms = 0, offset_s = 0;
	struct aigw_err ignored;

	if (strlen(s) == 10)
		return aigw_parse_time(s, &secs, &ignored) ? bad_time(s, err)
							   : (*out_ms = secs * 1000, 0);
	if (strlen(s) < 20 || (s[10] != 'T' && s[10] != 't'))
		return bad_time(s, err);
	memcpy(base, s, 19);
	base[10] = 'T';
	base[19] = 'Z';
	base[20] = '\0';
	if (*p == '.') {
		int digits = 0;
		for (p++; isdigit((unsigned char)*p); p++, digits++)
			if (digits < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
		if (!digits)
			return bad_time(s, err);
		for (; digits < 3; digits++)
			frac_ms *= 10;
	}
	if ((*p == 'Z' || *p == 'z') && !p[1]) {
		offset_s = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && isdigit((unsigned char)p[1]) &&
		   isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
		   isdigit((unsigned char)p[5])) {
		int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
		if (hh > 23 || mm > 59)
			return bad_time(s, err);
		offset_s = (hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
	} else {
		return bad_time(s, err);
	}
	if (aigw_parse_time(base, &secs, &ignored))
		return bad_time(s, err);
	*out_ms = (secs - offset_s) * 1000 + frac_ms;
	return 0;
}

int aigw_stats_parse_time(const char *s, int64_t now_ms, int64_t *out_ms,
			  struct aigw_err *err)
{
	int64_t v;
	struct aigw_err ignored;

	if (!s || !*s)
		return bad_time(s ? s : "", err);
	if (aigw_str_all_digits(s)) {
		if (aigw_parse_int(s, 0, INT64_MAX / 1000, &v, &ignored))
			return bad_time(s, err);
		*out_ms = v * 1000;
		return 0;
	}
	if (strlen(s) >= 10 && isdigit((unsigned char)s[0]) && s[4] == '-')
		return parse_rfc3339(s, out_ms, err);
	if (aigw_parse_duration_ms(s, &v, &ignored))
		return bad_time(s, err);
	*out_ms = now_ms - v;
	return 0;
}
