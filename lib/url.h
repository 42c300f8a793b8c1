/* url: parsing and validation of upstream URLs (http and https only). */
#ifndef AIGW_URL_H
#define AIGW_URL_H

#include <stdbool.h>

#include "err.h"

struct aigw_url {
	char scheme[8];  /* "http" or "https" */
	char host[256];  /* name, IPv4, or IPv6 without brackets */
	int port;        /* explicit or the scheme's default */
	bool port_given;
	char path[1024]; /* "" or starting with '/'; query kept, fragment refused */
};

/* Accepts http://host[:port][/path[?query]] and the https form. Refuses
 * other schemes, userinfo (credentials belong in api_key_env), empty or
 * malformed hosts, ports outside 1..65535, fragments, spaces and control
 * characters, with a message that says which part is wrong. */
int aigw_url_parse(const char *s, struct aigw_url *out, struct aigw_err *err);

#endif
