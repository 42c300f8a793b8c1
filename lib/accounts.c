/* accounts: see accounts.h. */
#include "accounts.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>

#include "buf.h"
#include "clock.h"
#include "curl_dl.h"
#include "log.h"
#include "mem.h"
#include "str.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
#define REFETCH_MIN_MS 1000         /* after a 401, at most one fetch a second */
#define DEFAULT_LIFETIME_S 3600     /* expires_in missing */
#define LIFETIME_MAX_S (366 * 86400)
#define EARLY_S 300                 /* refresh five minutes ahead */
#define SHORT_LIFETIME_S 600        /* below this, refresh at 80% */
#define TOKEN_ANSWER_MAX (256 * 1024)
#define FETCH_TIMEOUT_MS 30000
#define FETCH_CONNECT_TIMEOUT_MS 10000
#define NO_CREDENTIALS_RETRY_MS 60000

/* ------------------------------------------------------------- secrets */

/* A memset the compiler may not drop because the memory dies next. */
static void wipe(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

static void free_secret(char *s)
{
	if (s) {
		wipe(s, strlen(s));
		free(s);
	}
}

static char *env_dup(const char *name)
{
	const char *v = name ? getenv(name) : NULL;
	return v && *v ? aigw_strdup(v) : NULL;
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* --------------------------------------------------------------- state */

/* One account of one node. Everything but the atomics and the token part
 * is fixed once made; the token part is under aigw_accounts.lock. */
struct acct {
	struct acct *next_all;      /* every account ever made */
	char *node;
	int index;
	struct aigw_account def;
	char *api_key, *client_id, *client_secret; /* from the environment */
	bool oauth2;
	atomic_bool live;           /* in the latest sync */
	_Atomic uint64_t cool_until;
	/* token (lock) */
	char *token;
	uint64_t usable_until, refresh_at; /* mono ms */
	uint64_t next_fetch;        /* when to fetch without a token; 0: now */
	uint64_t last_fetch;
	uint64_t backoff;
	bool fetching;
	bool warned;                /* missing client id or secret, said once */
	unsigned fetches, failures;
};

struct node_entry {
	char *name;
	size_t n;
	struct acct **acc;
	atomic_uint turn;
};

/* What pick reads: published whole, never changed, kept until the end. */
struct table {
	struct table *older;
	size_t n;
	struct node_entry *nodes;   /* sorted by name */
};

struct aigw_accounts {
	_Atomic(struct table *) table;
	struct acct *all;           /* under lock */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	pthread_t thread;
};

static void acct_free(struct acct *c)
{
	free(c->node);
	aigw_account_release(&c->def);
	free_secret(c->api_key);
	free_secret(c->client_id);
	free_secret(c->client_secret);
	free_secret(c->token);
	free(c);
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->nodes[i].name);
		free(t->nodes[i].acc);
	}
	free(t->nodes);
	free(t);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct node_entry *)a)->name, ((const struct node_entry *)b)->name);
}

static struct node_entry *find_node(struct aigw_accounts *a, const char *name)
{
	struct table *t = atomic_load_explicit(&a->table, memory_order_acquire);
	struct node_entry key;

	if (!t || !name)
		return NULL;
	key.name = (char *)name;
	return bsearch(&key, t->nodes, t->n, sizeof(*t->nodes), entry_cmp);
}

static struct acct *find_acct(struct aigw_accounts *a, const char *node, int index)
{
	struct node_entry *e = find_node(a, node);

	if (!e || index < 0 || (size_t)index >= e->n)
		return NULL;
	return e->acc[index];
}

/* ---------------------------------------------------------------- sync */

/* The accounts of n: its list, or the lone api_key_env of a node built
 * without one (tests, older callers). */
static const struct aigw_account *node_accounts(const struct aigw_node *n,
						struct aigw_account *lone, size_t *count)
{
	if (n->n_accounts) {
		*count = n->n_accounts;
		return n->accounts;
	}
	memset(lone, 0, sizeof(*lone));
	lone->api_key_env = n->api_key_env;
	*count = n->api_key_env ? 1 : 0;
	return lone;
}

/* A live account with the same node, index, definition and variable
 * values; under lock. */
static struct acct *reusable(struct aigw_accounts *a, const char *node, int index,
			     const struct aigw_account *def, const char *key, const char *id,
			     const char *secret)
{
	for (struct acct *c = a->all; c; c = c->next_all)
		if (atomic_load(&c->live) && c->index == index && strcmp(c->node, node) == 0 &&
		    aigw_account_equal(&c->def, def) && same(c->api_key, key) &&
		    same(c->client_id, id) && same(c->client_secret, secret))
			return c;
	return NULL;
}

/* Same nodes, each with the same account states in the same order. */
static bool same_table(const struct table *x, const struct table *y)
{
	if (x->n != y->n)
		return false;
	for (size_t i = 0; i < x->n; i++) {
		if (strcmp(x->nodes[i].name, y->nodes[i].name) != 0 ||
		    x->nodes[i].n != y->nodes[i].n)
			return false;
		for (size_t j = 0; j < x->nodes[i].n; j++)
			if (x->nodes[i].acc[j] != y->nodes[i].acc[j])
				return false;
	}
	return true;
}

int aigw_accounts_sync(struct aigw_accounts *a, const struct aigw_node *nodes, size_t n,
		       struct aigw_err *err)
{
	struct table *t = aigw_calloc(1, sizeof(*t));
	struct acct **kept;
	size_t n_kept = 0, total = 0;

	(void)err;
	for (size_t i = 0; i < n; i++) {
		struct aigw_account lone;
		size_t count;
		node_accounts(&nodes[i], &lone, &count);
		total += count;
	}
	kept = aigw_calloc(total ? total : 1, sizeof(*kept));
	t->nodes = aigw_calloc(n ? n : 1, sizeof(*t->nodes));
	t->n = n;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < n; i++) {
		struct node_entry *e = &t->nodes[i];
		struct aigw_account lone;
		const struct aigw_account *defs = node_accounts(&nodes[i], &lone, &e->n);

		e->name = aigw_strdup(nodes[i].name);
		e->acc = aigw_calloc(e->n ? e->n : 1, sizeof(*e->acc));
		atomic_init(&e->turn, 0);
		for (size_t j = 0; j < e->n; j++) {
			const struct aigw_account *d = &defs[j];
			char *key = env_dup(d->api_key_env);
			char *id = env_dup(d->client_id_env);
			char *secret = env_dup(d->client_secret_env);
			struct acct *c = reusable(a, e->name, (int)j, d, key, id, secret);

			if (c) {
				free_secret(key);
				free_secret(id);
				free_secret(secret);
			} else {
				c = aigw_calloc(1, sizeof(*c));
				c->node = aigw_strdup(e->name);
				c->index = (int)j;
				aigw_account_copy(&c->def, d);
				c->api_key = key;
				c->client_id = id;
				c->client_secret = secret;
				c->oauth2 = d->token_url != NULL;
				atomic_init(&c->live, true);
				atomic_init(&c->cool_until, 0);
				c->next_all = a->all;
				a->all = c;
			}
			e->acc[j] = c;
			kept[n_kept++] = c;
		}
	}
	/* What the new table does not hold is gone: its token is no longer
	 * fetched. (Its memory stays until the end: a pick may still hold
	 * an older table.) */
	for (struct acct *c = a->all; c; c = c->next_all) {
		bool found = false;
		for (size_t k = 0; k < n_kept && !found; k++)
			found = kept[k] == c;
		if (!found && atomic_load(&c->live)) {
			atomic_store(&c->live, false);
			free_secret(c->token);
			c->token = NULL;
		}
	}
	qsort(t->nodes, t->n, sizeof(*t->nodes), entry_cmp);
	t->older = atomic_load(&a->table);
	/* Most snapshots change no account: then the table in use stays, and
	 * the tables kept until the end are one per change, not per reload. */
	if (t->older && same_table(t, t->older)) {
		t->older = NULL;
		table_free(t);
	} else {
		atomic_store_explicit(&a->table, t, memory_order_release);
	}
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	free(kept);
	return 0;
}

/* ---------------------------------------------------------------- pick */

static void copy_text(char *dst, size_t n, const char *s)
{
	aigw_strlcpy(dst, s ? s : "", n);
}

int aigw_accounts_pick(struct aigw_accounts *a, const char *node, uint64_t now_ms,
		       struct aigw_account_use *use, uint64_t *retry_after_ms)
{
	struct node_entry *e = find_node(a, node);
	uint64_t wait = UINT64_MAX;
	unsigned start;

	use->index = -1;
	use->bearer = false;
	use->credential[0] = '\0';
	use->proxy[0] = '\0';
	if (retry_after_ms)
		*retry_after_ms = 0;
	if (!e || e->n == 0)
		return 0;
	start = atomic_fetch_add_explicit(&e->turn, 1, memory_order_relaxed);
	for (size_t i = 0; i < e->n; i++) {
		size_t at = (start + i) % e->n;
		struct acct *c = e->acc[at];
		uint64_t cool = atomic_load_explicit(&c->cool_until, memory_order_relaxed);
		bool ok = false;

		if (cool > now_ms) {
			if (cool - now_ms < wait)
				wait = cool - now_ms;
			continue;
		}
		if (!c->oauth2) {
			copy_text(use->credential, sizeof(use->credential), c->api_key);
			ok = true;
		} else {
			uint64_t until;
			pthread_mutex_lock(&a->lock);
			if (c->token && now_ms < c->usable_until) {
				copy_text(use->credential, sizeof(use->credential), c->token);
				ok = true;
			} else if (!c->client_id || !c->client_secret) {
				until = now_ms + NO_CREDENTIALS_RETRY_MS;
			} else if (c->fetching || c->next_fetch <= now_ms) {
				until = now_ms + BACKOFF_FIRST_MS;
			} else {
				until = c->next_fetch;
			}
			pthread_mutex_unlock(&a->lock);
			if (!ok && until - now_ms < wait)
				wait = until - now_ms;
			use->bearer = ok;
		}
		if (ok) {
			use->index = (int)at;
			copy_text(use->proxy, sizeof(use->proxy), c->def.proxy);
			return 0;
		}
	}
	if (retry_after_ms)
		*retry_after_ms = wait ? wait : 1;
	return AIGW_AGAIN;
}

void aigw_accounts_cool(struct aigw_accounts *a, const char *node, int index,
			uint64_t until_ms)
{
	struct acct *c = find_acct(a, node, index);
	uint64_t old;

	if (!c)
		return;
	old = atomic_load(&c->cool_until);
	while (old < until_ms && !atomic_compare_exchange_weak(&c->cool_until, &old, until_ms))
		;
}

void aigw_accounts_reject_token(struct aigw_accounts *a, const char *node, int index)
{
	struct acct *c = find_acct(a, node, index);

	if (!c || !c->oauth2)
		return;
	pthread_mutex_lock(&a->lock);
	if (c->token) {
		free_secret(c->token);
		c->token = NULL;
		c->next_fetch = c->last_fetch + REFETCH_MIN_MS;
		pthread_cond_signal(&a->wake);
	}
	pthread_mutex_unlock(&a->lock);
}

size_t aigw_accounts_status(struct aigw_accounts *a, const char *node,
			    struct aigw_account_status *out, size_t max)
{
	struct node_entry *e = find_node(a, node);

	if (!e)
		return 0;
	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < e->n && i < max; i++) {
		struct acct *c = e->acc[i];
		struct aigw_account_status *s = &out[i];
		s->index = (int)i;
		s->oauth2 = c->oauth2;
		s->cooling_until_ms = atomic_load(&c->cool_until);
		s->has_token = c->token != NULL;
		s->token_expires_ms = c->token ? c->usable_until : 0;
		s->fetches = c->fetches;
		s->failures = c->failures;
	}
	pthread_mutex_unlock(&a->lock);
	return e->n;
}

/* -------------------------------------------------------- token fetches */

/* What one fetch needs, copied out of the lock. */
struct job {
	char *url, *id, *secret, *scope, *proxy;
};

static void job_release(struct job *j)
{
	free(j->url);
	free_secret(j->id);
	free_secret(j->secret);
	free(j->scope);
	free(j->proxy);
}

/* application/x-www-form-urlencoded (RFC 6749 appendix B). */
static void form_encode(struct aigw_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '*') {
			aigw_buf_putc(b, (char)ch);
		} else if (ch == ' ') {
			aigw_buf_putc(b, '+');
		} else {
			aigw_buf_putc(b, '%');
			aigw_buf_putc(b, hex[ch >> 4]);
			aigw_buf_putc(b, hex[ch & 15]);
		}
	}
}

static size_t answer_cb(char *data, size_t size, size_t n, void *arg)
{
	struct aigw_buf *b = arg;

	if (b->len + size * n > TOKEN_ANSWER_MAX)
		return 0;
	aigw_buf_append(b, data, size * n);
	return size * n;
}

/* Reads the token endpoint's JSON answer. why is safe to log. */
static int read_answer(const struct aigw_buf *body, long status, char **token,
		       uint64_t *lifetime_s, char *why, size_t why_n)
{
	cJSON *root = cJSON_ParseWithLength(body->data ? body->data : "", body->len);
	const cJSON *at, *type, *exp, *error;
	int rc = AIGW_EFAIL;

	if (!cJSON_IsObject(root)) {
		snprintf(why, why_n, "HTTP %ld, answer is not a JSON object", status);
		goto out;
	}
	if (status != 200) {
		error = cJSON_GetObjectItemCaseSensitive(root, "error");
		/* The OAuth2 error code is a short token, not a secret. */
		snprintf(why, why_n, "HTTP %ld%s%.64s", status, cJSON_IsString(error) ? ", error " : "",
			 cJSON_IsString(error) ? error->valuestring : "");
		goto out;
	}
	at = cJSON_GetObjectItemCaseSensitive(root, "access_token");
	type = cJSON_GetObjectItemCaseSensitive(root, "token_type");
	exp = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
	if (!cJSON_IsString(at) || !*at->valuestring) {
		snprintf(why, why_n, "answer has no access_token");
		goto out;
	}
	if (strlen(at->valuestring) >= AIGW_ACCOUNT_CREDENTIAL_MAX) {
		snprintf(why, why_n, "access_token is longer than %d bytes",
			 AIGW_ACCOUNT_CREDENTIAL_MAX - 1);
		goto out;
	}
	if (type && (!cJSON_IsString(type) || strcasecmp(type->valuestring, "bearer") != 0)) {
		snprintf(why, why_n, "token_type '%.32s' is not bearer",
			 cJSON_IsString(type) ? type->valuestring : "?");
		goto out;
	}
	*lifetime_s = DEFAULT_LIFETIME_S;
	if (cJSON_IsNumber(exp) || (cJSON_IsString(exp) && *exp->valuestring)) {
		double v = cJSON_IsNumber(exp) ? exp->valuedouble : strtod(exp->valuestring, NULL);
		if (!(v >= 1)) {
			snprintf(why, why_n, "expires_in is not a positive number");
			goto out;
		}
		*lifetime_s = v > LIFETIME_MAX_S ? LIFETIME_MAX_S : (uint64_t)v;
	}
	*token = aigw_strdup(at->valuestring);
	rc = 0;
out:
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "access_token"))) {
		char *s = cJSON_GetObjectItemCaseSensitive(root, "access_token")->valuestring;
		wipe(s, strlen(s));
	}
	cJSON_Delete(root);
	return rc;
}

/* One POST to the token endpoint (blocking: this thread only). */
static int fetch(CURL **curl, const struct job *j, char **token, uint64_t *lifetime_s,
		 char *why, size_t why_n)
{
	struct aigw_buf form = AIGW_BUF_INIT, body = AIGW_BUF_INIT;
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct aigw_err err;
	long status = 0;
	CURLcode cc;
	int rc;

	if (aigw_curl_load(&err)) {
		aigw_strlcpy(why, err.msg, why_n);
		return AIGW_EFAIL;
	}
	if (!*curl && !(*curl = curl_easy_init())) {
		snprintf(why, why_n, "cannot start libcurl");
		return AIGW_EFAIL;
	}
	curl_easy_reset(*curl);
	aigw_buf_puts(&form, "grant_type=client_credentials&client_id=");
	form_encode(&form, j->id);
	aigw_buf_puts(&form, "&client_secret=");
	form_encode(&form, j->secret);
	if (j->scope) {
		aigw_buf_puts(&form, "&scope=");
		form_encode(&form, j->scope);
	}
	headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
	headers = curl_slist_append(headers, "Accept: application/json");
	curl_easy_setopt(*curl, CURLOPT_URL, j->url);
	curl_easy_setopt(*curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(*curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(*curl, CURLOPT_FOLLOWLOCATION, 0L);
	/* Only the account's proxy, never one from the environment. */
	curl_easy_setopt(*curl, CURLOPT_PROXY, j->proxy ? j->proxy : "");
	curl_easy_setopt(*curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(*curl, CURLOPT_POSTFIELDS, form.data);
	curl_easy_setopt(*curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)form.len);
	curl_easy_setopt(*curl, CURLOPT_WRITEFUNCTION, answer_cb);
	curl_easy_setopt(*curl, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(*curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(*curl, CURLOPT_TIMEOUT_MS, (long)FETCH_TIMEOUT_MS);
	curl_easy_setopt(*curl, CURLOPT_CONNECTTIMEOUT_MS, (long)FETCH_CONNECT_TIMEOUT_MS);
	cc = curl_easy_perform(*curl);
	if (cc != CURLE_OK) {
		aigw_strlcpy(why, *errbuf ? errbuf : curl_easy_strerror(cc), why_n);
		rc = AIGW_EFAIL;
	} else {
		curl_easy_getinfo(*curl, CURLINFO_RESPONSE_CODE, &status);
		rc = read_answer(&body, status, token, lifetime_s, why, why_n);
	}
	curl_slist_free_all(headers);
	wipe(form.data, form.len);
	wipe(body.data, body.len);
	aigw_buf_release(&form);
	aigw_buf_release(&body);
	return rc;
}

/* When the next thing is due for c; UINT64_MAX: nothing. Under lock. */
static uint64_t due(const struct acct *c)
{
	if (!atomic_load(&c->live) || !c->oauth2 || c->fetching || !c->client_id ||
	    !c->client_secret)
		return UINT64_MAX;
	return c->token ? c->refresh_at : c->next_fetch;
}

static void warn_missing(struct acct *c)
{
	if (c->warned || !atomic_load(&c->live) || !c->oauth2 || (c->client_id && c->client_secret))
		return;
	c->warned = true;
	aigw_log_warn("node '%s' account %d: environment variable '%s' is not set; "
		      "no OAuth2 token can be fetched", c->node, c->index,
		      c->client_id ? c->def.client_secret_env : c->def.client_id_env);
}

/* Stores a fetch's outcome; under lock. */
static void settle(struct acct *c, int rc, char *token, uint64_t lifetime_s, const char *why)
{
	uint64_t now = aigw_clock_mono_ms(), life_ms = lifetime_s * 1000, margin;

	c->fetching = false;
	c->fetches++;
	c->last_fetch = now;
	if (!atomic_load(&c->live)) {
		free_secret(token);
		return;
	}
	if (rc) {
		c->failures++;
		c->backoff = c->backoff ? c->backoff * 2 : BACKOFF_FIRST_MS;
		if (c->backoff > BACKOFF_MAX_MS)
			c->backoff = BACKOFF_MAX_MS;
		c->next_fetch = now + c->backoff;
		/* A token still usable stays; its refresh waits for the retry. */
		if (c->token)
			c->refresh_at = c->next_fetch;
		aigw_log_warn("node '%s' account %d: cannot get an OAuth2 token from %s: %s "
			      "(next try in %llu ms)", c->node, c->index, c->def.token_url, why,
			      (unsigned long long)c->backoff);
		return;
	}
	free_secret(c->token);
	c->token = token;
	c->backoff = 0;
	margin = life_ms / 10 < 30000 ? life_ms / 10 : 30000;
	c->usable_until = now + life_ms - margin;
	if (lifetime_s >= SHORT_LIFETIME_S)
		c->refresh_at = now + (lifetime_s - EARLY_S) * 1000;
	else
		c->refresh_at = now + life_ms * 8 / 10;
	c->next_fetch = c->refresh_at;
}

static void *token_thread(void *arg)
{
	struct aigw_accounts *a = arg;
	CURL *curl = NULL;

	pthread_mutex_lock(&a->lock);
	while (!a->stop) {
		uint64_t now = aigw_clock_mono_ms(), first = UINT64_MAX;
		struct acct *next = NULL;

		for (struct acct *c = a->all; c; c = c->next_all) {
			uint64_t d = due(c);
			warn_missing(c);
			if (d < first) {
				first = d;
				next = c;
			}
		}
		if (!next) {
			pthread_cond_wait(&a->wake, &a->lock);
		} else if (first > now) {
			struct timespec ts;
			uint64_t wait = first - now;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(wait / 1000);
			ts.tv_nsec += (long)(wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&a->wake, &a->lock, &ts);
		} else {
			struct job j = {
				aigw_strdup(next->def.token_url), aigw_strdup(next->client_id),
				aigw_strdup(next->client_secret),
				next->def.scope ? aigw_strdup(next->def.scope) : NULL,
				next->def.proxy ? aigw_strdup(next->def.proxy) : NULL,
			};
			char *token = NULL, why[256] = "";
			uint64_t lifetime_s = 0;
			int rc;

			next->fetching = true;
			pthread_mutex_unlock(&a->lock);
			rc = fetch(&curl, &j, &token, &lifetime_s, why, sizeof(why));
			job_release(&j);
			pthread_mutex_lock(&a->lock);
			settle(next, rc, token, lifetime_s, why);
		}
	}
	pthread_mutex_unlock(&a->lock);
	if (curl)
		curl_easy_cleanup(curl);
	return NULL;
}

/* -------------------------------------------------------------- lifetime */

struct aigw_accounts *aigw_accounts_new(struct aigw_err *err)
{
	struct aigw_accounts *a = aigw_calloc(1, sizeof(*a));
	pthread_condattr_t attr;
	int e;

	atomic_init(&a->table, NULL);
	pthread_mutex_init(&a->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wake, &attr);
	pthread_condattr_destroy(&attr);
	if ((e = pthread_create(&a->thread, NULL, token_thread, a))) {
		pthread_cond_destroy(&a->wake);
		pthread_mutex_destroy(&a->lock);
		free(a);
		aigw_err_set(err, AIGW_EFAIL, "cannot start the token thread: %s", strerror(e));
		return NULL;
	}
	return a;
}

void aigw_accounts_free(struct aigw_accounts *a)
{
	struct table *t;

	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	t = atomic_load(&a->table);
	while (t) {
		struct table *older = t->older;
		table_free(t);
		t = older;
	}
	while (a->all) {
		struct acct *next = a->all->next_all;
		acct_free(a->all);
		a->all = next;
	}
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
