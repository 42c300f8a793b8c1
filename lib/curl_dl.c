/* curl_dl: see curl_dl.h. */
#define AIGW_CURL_DL_IMPL
#include "curl_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

#include <stdio.h>

struct aigw_curl_api aigw_curl;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_rc;
static char load_msg[AIGW_ERR_MSG_MAX];

/* Debian's libcurl4 first, then the GnuTLS flavour. */
static const char *const sonames[] = { "libcurl.so.4", "libcurl-gnutls.so.4" };

/* Stores dlsym(lib, name) in *slot (a function pointer's storage, the
 * POSIX way around C's object/function pointer divide). */
static int bind_symbol(void *lib, const char *name, void *slot)
{
	void *sym = dlsym(lib, name);

	if (!sym) {
		snprintf(load_msg, sizeof(load_msg),
			 "cannot use libcurl: symbol %s missing", name);
		return -1;
	}
	*(void **)slot = sym;
	return 0;
}

static void load(void)
{
	struct aigw_curl_api *a = &aigw_curl;
	const char *first_error = NULL;
	void *lib = NULL;
	CURLcode rc;

	for (size_t i = 0; i < sizeof(sonames) / sizeof(sonames[0]) && !lib; i++) {
		lib = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
		if (!lib && !first_error)
			first_error = dlerror();
	}
	if (!lib) {
		snprintf(load_msg, sizeof(load_msg), "cannot load libcurl: %s",
			 first_error ? first_error : "not found");
		load_rc = AIGW_EFAIL;
		return;
	}
	if (bind_symbol(lib, "curl_global_init", &a->global_init) ||
	    bind_symbol(lib, "curl_easy_strerror", &a->easy_strerror) ||
	    bind_symbol(lib, "curl_multi_strerror", &a->multi_strerror) ||
	    bind_symbol(lib, "curl_easy_init", &a->easy_init) ||
	    bind_symbol(lib, "curl_easy_cleanup", &a->easy_cleanup) ||
	    bind_symbol(lib, "curl_easy_reset", &a->easy_reset) ||
	    bind_symbol(lib, "curl_easy_setopt", &a->easy_setopt) ||
	    bind_symbol(lib, "curl_easy_getinfo", &a->easy_getinfo) ||
	    bind_symbol(lib, "curl_easy_pause", &a->easy_pause) ||
	    bind_symbol(lib, "curl_easy_perform", &a->easy_perform) ||
	    bind_symbol(lib, "curl_multi_init", &a->multi_init) ||
	    bind_symbol(lib, "curl_multi_cleanup", &a->multi_cleanup) ||
	    bind_symbol(lib, "curl_multi_setopt", &a->multi_setopt) ||
	    bind_symbol(lib, "curl_multi_add_handle", &a->multi_add_handle) ||
	    bind_symbol(lib, "curl_multi_remove_handle", &a->multi_remove_handle) ||
	    bind_symbol(lib, "curl_multi_socket_action", &a->multi_socket_action) ||
	    bind_symbol(lib, "curl_multi_info_read", &a->multi_info_read) ||
	    bind_symbol(lib, "curl_slist_append", &a->slist_append) ||
	    bind_symbol(lib, "curl_slist_free_all", &a->slist_free_all)) {
		load_rc = AIGW_EFAIL;
		return;
	}
	rc = a->global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		snprintf(load_msg, sizeof(load_msg), "cannot initialise libcurl: %s",
			 a->easy_strerror(rc));
		load_rc = AIGW_EFAIL;
	}
	/* The library stays loaded for the life of the process. */
}

int aigw_curl_load(struct aigw_err *err)
{
	pthread_once(&load_once, load);
	if (load_rc)
		return aigw_err_set(err, load_rc, "%s", load_msg);
	return 0;
}
