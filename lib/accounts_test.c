/* Tests for accounts: round robin, resting after 429, reloads, and OAuth2
 * tokens fetched from a token server thread on 127.0.0.1. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accounts.h"
#include "clock.h"
#include "log.h"
#include "mem.h"

/* ------------------------------------------------------------- helpers */

static struct aigw_account plain(const char *env)
{
	struct aigw_account a = { 0 };
	a.api_key_env = aigw_strdup(env);
	return a;
}

/* A node named name with count accounts taken from accounts. */
static void make_node(struct aigw_node *n, const char *name, const struct aigw_account *accounts,
		      size_t count)
{
	struct aigw_account *copy = aigw_calloc(count ? count : 1, sizeof(*copy));

	aigw_node_init(n);
	n->name = aigw_strdup(name);
	n->url = aigw_strdup("http://127.0.0.1:9");
	for (size_t i = 0; i < count; i++)
		copy[i] = accounts[i];
	aigw_node_set_accounts_take(n, copy, count);
}

static int setup(void **state)
{
	(void)state;
	aigw_log_set_level(AIGW_LOG_ERROR);
	setenv("ACCT_A", "key-a", 1);
	setenv("ACCT_B", "key-b", 1);
	setenv("ACCT_C", "key-c", 1);
	setenv("ACCT_ID", "client 1", 1);
	setenv("ACCT_SECRET", "s&cret=", 1);
	return 0;
}

/* ----------------------------------------------------------- api keys */

static void test_round_robin_shares(void **state)
{
	struct aigw_accounts *a = aigw_accounts_new(NULL);
	struct aigw_account defs[3] = { plain("ACCT_A"), plain("ACCT_B"), plain("ACCT_C") };
	struct aigw_account_use use;
	struct aigw_node n;
	int seen[3] = { 0 };

	(void)state;
	make_node(&n, "n1", defs, 3);
	assert_int_equal(aigw_accounts_sync(a, &n, 1, NULL), 0);
	for (int i = 0; i < 300; i++) {
		assert_int_equal(aigw_accounts_pick(a, "n1", 1000, &use, NULL), 0);
		assert_in_range(use.index, 0, 2);
		seen[use.index]++;
		assert_false(use.bearer);
		assert_string_equal(use.credential, use.index == 0 ? "key-a" :
				    use.index == 1 ? "key-b" : "key-c");
		assert_string_equal(use.proxy, "");
	}
	assert_int_equal(seen[0], 100);
	assert_int_equal(seen[1], 100);
	assert_int_equal(seen[2], 100);
	aigw_node_release(&n);
	aigw_accounts_free(a);
}

static void test_no_accounts_and_unknown_nodes(void **state)
{
	struct aigw_accounts *a = aigw_accounts_new(NULL);
	struct aigw_account_use use;
	struct aigw_node n[2];
	struct aigw_account proxied = { 0 };
	uint64_t retry = 7;

	(void)state;
	make_node(&n[0], "bare", NULL, 0);
	proxied.proxy = aigw_strdup("http://127.0.0.1:3128");
	make_node(&n[1], "proxied", &proxied, 1);
	assert_int_equal(aigw_accounts_sync(a, n, 2, NULL), 0);
	assert_int_equal(aigw_accounts_pick(a, "bare", 1, &use, &retry), 0);
	assert_int_equal(use.index, -1);
	assert_string_equal(use.credential, "");
	assert_int_equal(aigw_accounts_pick(a, "nowhere", 1, &use, &retry), 0);
	assert_int_equal(use.index, -1);
	assert_int_equal(aigw_accounts_pick(a, "proxied", 1, &use, &retry), 0);
	assert_int_equal(use.index, 0);
	assert_string_equal(use.credential, "");
	assert_string_equal(use.proxy, "http://127.0.0.1:3128");
	aigw_node_release(&n[0]);
	aigw_node_release(&n[1]);
	aigw_accounts_free(a);
}

/* A node built with api_key_env only (no accounts list) has that one. */
static void test_lone_api_key_env(void **state)
{
	struct aigw_accounts *a = aigw_accounts_new(NULL);
	struct aigw_account_use use;
	struct aigw_node n;

	(void)state;
	aigw_node_init(&n);
	n.name = aigw_strdup("old");
	n.api_key_env = aigw_strdup("ACCT_B");
	assert_int_equal(aigw_accounts_sync(a, &n, 1, NULL), 0);
	assert_int_equal(aigw_accounts_pick(a, "old", 1, &use, NULL), 0);
	assert_int_equal(use.index, 0);
	assert_string_equal(use.credential, "key-b");
	aigw_node_release(&n);
	aigw_accounts_free(a);
}

static void test_cooling_skips_and_returns(void **state)
{
	struct aigw_accounts *a = aigw_accounts_new(NULL);
	struct aigw_account defs[2] = { plain("ACCT_A"), plain("ACCT_B") };
	struct aigw_account_use use;
	struct aigw_node n;

	(void)state;
	make_node(&n, "n1", defs, 2);
	assert_int_equal(aigw_accounts_sync(a, &n, 1, NULL), 0);
	aigw_accounts_cool(a, "n1", 1, 5000);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(aigw_accounts_pick(a, "n1", 4999, &use, NULL), 0);
		assert_int_equal(use.index, 0);
	}
	/* An earlier time does not shorten the rest. */
	aigw_accounts_cool(a, "n1", 1, 2000);
	assert_int_equal(aigw_accounts_pick(a, "n1", 4000, &use, NULL), 0);
	assert_int_equal(use.index, 0);
	/* From 5000 on, both again. */
	int seen[2] = { 0 };
	for (int i = 0; i < 10; i++) {
		assert_int_equal(aigw_accounts_pick(a, "n1", 5000, &use, NULL), 0);
		seen[use.index]++;
	}
	assert_int_equal(seen[0], 5);
	assert_int_equal(seen[1], 5);
	/* Out-of-range indexes and unknown nodes are ignored. */
	aigw_accounts_cool(a, "n1", 2, 9999);
	aigw_accounts_cool(a, "n1", -1, 9999);
	aigw_accounts_cool(a, "nowhere", 0, 9999);
	aigw_node_release(&n);
	aigw_accounts_free(a);
}

static void test_all_cooling_is_again(void **state)
{
	struct aigw_accounts *a = aigw_accounts_new(NULL);
	struct aigw_account defs[3] = { plain("ACCT_A"), plain("ACCT_B"), plain("ACCT_C") };
	struct aigw_account_use use;
	struct aigw_node n;
	struct aigw_account_status st[3];
	uint64_t retry = 0;

	(void)state;
	make_node(&n, "n1", defs, 3);
	assert_int_equal(aigw_accounts_sync(a, &n, 1, NULL), 0);
	aigw_accounts_cool(a, "n1", 0, 3000);
	aigw_accounts_cool(a, "n1", 1, 1500);
	aigw_accounts_cool(a, "n1", 2, 2000);
	assert_int_equal(aigw_accounts_pick(a, "n1", 1000, &use, &retry), AIGW_AGAIN);
	assert_int_equal(retry, 500);
	assert_int_equal(use.credential[0], '\0');
	assert_int_equal(aigw_accounts_pick(a, "n1", 1500, &use, &retry), 0);
	assert_int_equal(use.index, 1);
	assert_int_equal(aigw_accounts_status(a, "n1", st, 3), 3);
	assert_int_equal(st[0].cooling_until_ms, 3000);
	assert_false(st[0].oauth2);
	aigw_node_release(&n);
	aigw_accounts_free(a);
}

static void test_reload_keeps_unchanged_accounts(void **state)
{
	struct aigw_accounts *a = aigw_accounts_new(NULL);
	struct aigw_account d1[2] = { plain("ACCT_A"), plain("ACCT_B") };
	struct aigw_account d2[2] = { plain("ACCT_A"), plain("ACCT_C") };
	struct aigw_account_use use;
	struct aigw_node n, other;
	uint64_t retry;

	(void)state;
	make_node(&n, "n1", d1, 2);
	assert_int_equal(aigw_accounts_sync(a, &n, 1, NULL), 0);
	aigw_accounts_cool(a, "n1", 0, 10000);
	aigw_accounts_cool(a, "n1", 1, 10000);
	assert_int_equal(aigw_accounts_pick(a, "n1", 1, &use, &retry), AIGW_AGAIN);

	/* Same accounts (a copy, as a new snapshot has): still resting. */
	struct aigw_node copy;
	aigw_node_copy(&copy, &n);
	assert_int_equal(aigw_accounts_sync(a, &copy, 1, NULL), 0);
	assert_int_equal(aigw_accounts_pick(a, "n1", 1, &use, &retry), AIGW_AGAIN);
	aigw_node_release(&copy);

	/* Account 1 changed: its rest is forgotten, account 0 keeps its. */
	make_node(&other, "n1", d2, 2);
	assert_int_equal(aigw_accounts_sync(a, &other, 1, NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(aigw_accounts_pick(a, "n1", 1, &use, &retry), 0);
		assert_int_equal(use.index, 1);
		assert_string_equal(use.credential, "key-c");
	}
	/* The node removed, then back: nothing remembered. */
	assert_int_equal(aigw_accounts_sync(a, NULL, 0, NULL), 0);
	assert_int_equal(aigw_accounts_pick(a, "n1", 1, &use, &retry), 0);
	assert_int_equal(use.index, -1);
	assert_int_equal(aigw_accounts_sync(a, &other, 1, NULL), 0);
	assert_int_equal(aigw_accounts_pick(a, "n1", 1, &use, &retry), 0);
	assert_int_equal(aigw_accounts_pick(a, "n1", 1, &use, &retry), 0);
	assert_int_equal(aigw_accounts_pick(a, "n1", 1, &use, &retry), 0);
	aigw_node_release(&n);
	aigw_node_release(&other);
	aigw_accounts_free(a);
}

/* -------------------------------------------------------- token server */

enum token_mode { T_OK, T_FAIL, T_GARBAGE };

struct token_server {
	int fd, port;
	atomic_int mode;
	atomic_int fetches;
	int expires_in;
	char last[4096];
	pthread_mutex_t lock;
	pthread_t thread;
	atomic_bool stop;
};

static size_t read_request(int c, char *buf, size_t cap)
{
	size_t got = 0;
	for (;;) {
		ssize_t n = read(c, buf + got, cap - 1 - got);
		char *end, *cl;
		if (n <= 0)
			return 0;
		got += (size_t)n;
		buf[got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		cl = strcasestr(buf, "content-length:");
		if (!cl || cl > end)
			return got;
		if (got >= (size_t)(end + 4 - buf) + (size_t)atoi(cl + 15))
			return got;
	}
}

static void *token_serve(void *arg)
{
	struct token_server *s = arg;

	while (!atomic_load(&s->stop)) {
		char req[4096], body[512], out[1024];
		int c = accept(s->fd, NULL, NULL), n, len;
		if (c < 0)
			continue;
		if (atomic_load(&s->stop)) {
			close(c);
			break;
		}
		if (!read_request(c, req, sizeof(req))) {
			close(c);
			continue;
		}
		n = atomic_fetch_add(&s->fetches, 1) + 1;
		pthread_mutex_lock(&s->lock);
		snprintf(s->last, sizeof(s->last), "%s", req);
		pthread_mutex_unlock(&s->lock);
		switch (atomic_load(&s->mode)) {
		case T_OK:
			len = snprintf(body, sizeof(body),
				       "{\"access_token\":\"tok-%d\",\"token_type\":\"Bearer\","
				       "\"expires_in\":%d}", n, s->expires_in);
			len = snprintf(out, sizeof(out),
				       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				       "Content-Length: %d\r\nConnection: close\r\n\r\n%s", len, body);
			break;
		case T_FAIL:
			len = snprintf(out, sizeof(out),
				       "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
				       "Content-Length: 26\r\nConnection: close\r\n\r\n"
				       "{\"error\":\"invalid_client\"}");
			break;
		default:
			len = snprintf(out, sizeof(out),
				       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
				       "Connection: close\r\n\r\nnope!");
			break;
		}
		assert_true(write(c, out, (size_t)len) == len);
		close(c);
	}
	return NULL;
}

static void server_start(struct token_server *s, int expires_in)
{
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof(sa);
	int one = 1;

	memset(s, 0, sizeof(*s));
	s->expires_in = expires_in;
	pthread_mutex_init(&s->lock, NULL);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->fd, 16), 0);
	getsockname(s->fd, (struct sockaddr *)&sa, &sl);
	s->port = ntohs(sa.sin_port);
	pthread_create(&s->thread, NULL, token_serve, s);
}

static void server_stop(struct token_server *s)
{
	struct sockaddr_in sa = { 0 };
	int c = socket(AF_INET, SOCK_STREAM, 0);

	atomic_store(&s->stop, true);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)s->port);
	connect(c, (struct sockaddr *)&sa, sizeof(sa));
	close(c);
	pthread_join(s->thread, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->lock);
}

static void oauth_node(struct aigw_node *n, const struct token_server *s, const char *scope)
{
	struct aigw_account acc = { 0 };
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/oauth/token", s->port);
	acc.token_url = aigw_strdup(url);
	acc.client_id_env = aigw_strdup("ACCT_ID");
	acc.client_secret_env = aigw_strdup("ACCT_SECRET");
	acc.scope = scope ? aigw_strdup(scope) : NULL;
	make_node(n, "auth", &acc, 1);
}

/* Picks until one succeeds or timeout_ms passes. */
static int pick_within(struct aigw_accounts *a, uint64_t timeout_ms,
		       struct aigw_account_use *use)
{
	uint64_t end = aigw_clock_mono_ms() + timeout_ms, retry;
	int rc;

	while ((rc = aigw_accounts_pick(a, "auth", aigw_clock_mono_ms(), use, &retry)) ==
	       AIGW_AGAIN && aigw_clock_mono_ms() < end)
		usleep(10000);
	return rc;
}

static void test_oauth2_fetched_once(void **state)
{
	struct aigw_accounts *a = aigw_accounts_new(NULL);
	struct token_server s;
	struct aigw_account_use use;
	struct aigw_account_status st;
	struct aigw_node n;

	(void)state;
	server_start(&s, 3600);
	oauth_node(&n, &s, "api read");
	assert_int_equal(aigw_accounts_sync(a, &n, 1, NULL), 0);
	assert_int_equal(pick_within(a, 5000, &use), 0);
	assert_true(use.bearer);
	assert_string_equal(use.credential, "tok-1");
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(aigw_accounts_pick(a, "auth", aigw_clock_mono_ms(), &use, NULL), 0);
		assert_string_equal(use.credential, "tok-1");
	}
	/* A reload with the same account keeps the token. */
	assert_int_equal(aigw_accounts_sync(a, &n, 1, NULL), 0);
	assert_int_equal(aigw_accounts_pick(a, "auth", aigw_clock_mono_ms(), &use, NULL), 0);
	assert_string_equal(use.credential, "tok-1");
	usleep(100000);
	assert_int_equal(atomic_load(&s.fetches), 1);
	pthread_mutex_lock(&s.lock);
	assert_non_null(strstr(s.last, "POST /oauth/token HTTP/1.1\r\n"));
	assert_non_null(strcasestr(s.last, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
	assert_non_null(strstr(s.last, "\r\n\r\ngrant_type=client_credentials&client_id=client+1"
				       "&client_secret=s%26cret%3D&scope=api+read"));
	pthread_mutex_unlock(&s.lock);
	assert_int_equal(aigw_accounts_status(a, "auth", &st, 1), 1);
	assert_true(st.oauth2);
	assert_true(st.has_token);
	/* 3600 s, less a 30 s margin. */
	assert_in_range(st.token_expires_ms, aigw_clock_mono_ms() + 3560000,
			aigw_clock_mono_ms() + 3570000);
	aigw_accounts_free(a);
	aigw_node_release(&n);
	server_stop(&s);
}

static void test_oauth2_refreshed_ahead(void **state)
{
	struct aigw_accounts *a = aigw_accounts_new(NULL);
	struct token_server s;
	struct aigw_account_use use;
	struct aigw_node n;
	uint64_t start, retry;
	bool renewed = false;

	(void)state;
	/* 4 s: refreshed at 3.2 s (80%), usable until 3.6 s. */
	server_start(&s, 4);
	oauth_node(&n, &s, NULL);
	assert_int_equal(aigw_accounts_sync(a, &n, 1, NULL), 0);
	assert_int_equal(pick_within(a, 5000, &use), 0);
	assert_string_equal(use.credential, "tok-1");
	start = aigw_clock_mono_ms();
	/* No request ever waits: every pick finds a token. */
	while (aigw_clock_mono_ms() - start < 4500) {
		assert_int_equal(aigw_accounts_pick(a, "auth", aigw_clock_mono_ms(), &use, &retry), 0);
		if (strcmp(use.credential, "tok-2") == 0) {
			renewed = true;
			assert_in_range(aigw_clock_mono_ms() - start, 3000, 3700);
			break;
		}
		assert_string_equal(use.credential, "tok-1");
		usleep(5000);
	}
	assert_true(renewed);
	pthread_mutex_lock(&s.lock);
	assert_null(strstr(s.last, "scope="));
	pthread_mutex_unlock(&s.lock);
	aigw_accounts_free(a);
	aigw_node_release(&n);
	server_stop(&s);
}

static void test_oauth2_failure_backs_off(void **state)
{
	struct aigw_accounts *a = aigw_accounts_new(NULL);
	struct token_server s;
	struct aigw_account_use use;
	struct aigw_account_status st;
	struct aigw_node n;
	uint64_t retry = 0;

	(void)state;
	server_start(&s, 3600);
	atomic_store(&s.mode, T_FAIL);
	oauth_node(&n, &s, NULL);
	assert_int_equal(aigw_accounts_sync(a, &n, 1, NULL), 0);
	/* Tries at 0 and 1 s, then waits 2 s. */
	usleep(1500000);
	assert_int_equal(atomic_load(&s.fetches), 2);
	assert_int_equal(aigw_accounts_pick(a, "auth", aigw_clock_mono_ms(), &use, &retry),
			 AIGW_AGAIN);
	assert_in_range(retry, 1, 2000);
	assert_int_equal(aigw_accounts_status(a, "auth", &st, 1), 1);
	assert_int_equal(st.failures, 2);
	assert_false(st.has_token);
	/* A bad answer is a failure too; then the server recovers. */
	atomic_store(&s.mode, T_GARBAGE);
	usleep(2000000);
	assert_int_equal(atomic_load(&s.fetches), 3);
	atomic_store(&s.mode, T_OK);
	assert_int_equal(pick_within(a, 6000, &use), 0);
	assert_string_equal(use.credential, "tok-4");
	aigw_accounts_free(a);
	aigw_node_release(&n);
	server_stop(&s);
}

static void test_oauth2_rejected_token_refetched(void **state)
{
	struct aigw_accounts *a = aigw_accounts_new(NULL);
	struct aigw_account defs[2];
	struct token_server s;
	struct aigw_account_use use;
	struct aigw_node n, mixed;
	uint64_t retry;

	(void)state;
	server_start(&s, 3600);
	oauth_node(&n, &s, NULL);
	assert_int_equal(aigw_accounts_sync(a, &n, 1, NULL), 0);
	assert_int_equal(pick_within(a, 5000, &use), 0);
	assert_string_equal(use.credential, "tok-1");
	aigw_accounts_reject_token(a, "auth", 0);
	assert_int_equal(aigw_accounts_pick(a, "auth", aigw_clock_mono_ms(), &use, &retry),
			 AIGW_AGAIN);
	assert_in_range(retry, 1, 1000);
	assert_int_equal(pick_within(a, 5000, &use), 0);
	assert_string_equal(use.credential, "tok-2");
	assert_int_equal(atomic_load(&s.fetches), 2);

	/* An OAuth2 account waiting for its token leaves the turn to a key. */
	aigw_account_copy(&defs[0], &n.accounts[0]);
	defs[1] = plain("ACCT_A");
	make_node(&mixed, "auth", defs, 2);
	atomic_store(&s.mode, T_FAIL);
	assert_int_equal(aigw_accounts_sync(a, &mixed, 1, NULL), 0);
	aigw_accounts_reject_token(a, "auth", 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(aigw_accounts_pick(a, "auth", aigw_clock_mono_ms(), &use, &retry),
				 0);
		assert_int_equal(use.index, 1);
		assert_string_equal(use.credential, "key-a");
		assert_false(use.bearer);
	}
	aigw_accounts_free(a);
	aigw_node_release(&n);
	aigw_node_release(&mixed);
	server_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_robin_shares),
		cmocka_unit_test(test_no_accounts_and_unknown_nodes),
		cmocka_unit_test(test_lone_api_key_env),
		cmocka_unit_test(test_cooling_skips_and_returns),
		cmocka_unit_test(test_all_cooling_is_again),
		cmocka_unit_test(test_reload_keeps_unchanged_accounts),
		cmocka_unit_test(test_oauth2_fetched_once),
		cmocka_unit_test(test_oauth2_refreshed_ahead),
		cmocka_unit_test(test_oauth2_failure_backs_off),
		cmocka_unit_test(test_oauth2_rejected_token_refetched),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
