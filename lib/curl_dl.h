/* curl_dl: libcurl, loaded on first use.
 *
 * Only https:// upstreams go through libcurl (see upstream.h); a gateway in
 * front of plain-HTTP nodes never calls it. Linked the usual way, libcurl
 * still maps its whole dependency tree into every aigw process (OpenSSL,
 * GnuTLS, LDAP, Kerberos, p11-kit...) and the dynamic loader's relocations
 * touch their pages: 4.5 MB of resident memory in an idle `aigw serve`,
 * more than the rest of the process. So aigw_curl_load() opens libcurl
 * with dlopen() the first time a transfer needs it.
 *
 * Files that call libcurl include this header instead of <curl/curl.h>:
 * the types and constants are libcurl's own, and the function names
 * become calls through the table filled by aigw_curl_load(), which must
 * have succeeded before any of them is used. */
#ifndef AIGW_CURL_DL_H
#define AIGW_CURL_DL_H

#include <curl/curl.h>

#include "err.h"

struct aigw_curl_api {
	CURLcode (*global_init)(long flags);
	const char *(*easy_strerror)(CURLcode code);
	const char *(*multi_strerror)(CURLMcode code);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *e);
	void (*easy_reset)(CURL *e);
	CURLcode (*easy_setopt)(CURL *e, CURLoption opt, ...);
	CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
	CURLcode (*easy_pause)(CURL *e, int bitmask);
	CURLcode (*easy_perform)(CURL *e); /* blocking: only lib/accounts.c's own thread */
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_cleanup)(CURLM *m);
	CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
	CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
	CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
	CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t s, int ev_bitmask,
					 int *running);
	CURLMsg *(*multi_info_read)(CURLM *m, int *queued);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};

/* The table; valid once aigw_curl_load() returned 0. */
extern struct aigw_curl_api aigw_curl;

/* Loads libcurl (libcurl.so.4, else libcurl-gnutls.so.4) and runs
 * curl_global_init once per process; any thread, any number of times.
 * Returns 0, or AIGW_EFAIL with err saying which library or symbol was
 * missing, or why libcurl did not initialise. A failure is remembered. */
int aigw_curl_load(struct aigw_err *err);

#ifndef AIGW_CURL_DL_IMPL
/* libcurl's header defines some of these as type-checking macros. */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init(...) (aigw_curl.global_init(__VA_ARGS__))
#define curl_easy_strerror(...) (aigw_curl.easy_strerror(__VA_ARGS__))
#define curl_multi_strerror(...) (aigw_curl.multi_strerror(__VA_ARGS__))
#define curl_easy_init() (aigw_curl.easy_init())
#define curl_easy_cleanup(...) (aigw_curl.easy_cleanup(__VA_ARGS__))
#define curl_easy_reset(...) (aigw_curl.easy_reset(__VA_ARGS__))
#define curl_easy_setopt(...) (aigw_curl.easy_setopt(__VA_ARGS__))
#define curl_easy_getinfo(...) (aigw_curl.easy_getinfo(__VA_ARGS__))
#define curl_easy_pause(...) (aigw_curl.easy_pause(__VA_ARGS__))
#define curl_easy_perform(...) (aigw_curl.easy_perform(__VA_ARGS__))
#define curl_multi_init() (aigw_curl.multi_init())
#define curl_multi_cleanup(...) (aigw_curl.multi_cleanup(__VA_ARGS__))
#define curl_multi_setopt(...) (aigw_curl.multi_setopt(__VA_ARGS__))
#define curl_multi_add_handle(...) (aigw_curl.multi_add_handle(__VA_ARGS__))
#define curl_multi_remove_handle(...) (aigw_curl.multi_remove_handle(__VA_ARGS__))
#define curl_multi_socket_action(...) (aigw_curl.multi_socket_action(__VA_ARGS__))
#define curl_multi_info_read(...) (aigw_curl.multi_info_read(__VA_ARGS__))
#define curl_slist_append(...) (aigw_curl.slist_append(__VA_ARGS__))
#define curl_slist_free_all(...) (aigw_curl.slist_free_all(__VA_ARGS__))
#endif

#endif
