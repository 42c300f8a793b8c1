/* url: see url.h. */
#include "url.h"

#include <ctype.h>
#include <string.h>

#include "str.h"

static bool host_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_';
}

int aigw_url_parse(const char *s, struct aigw_url *u, struct aigw_err *err)
{
	const char *p, *host, *host_end, *rest;
	size_t hl;

	memset(u, 0, sizeof(*u));
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return aigw_err_set(err, AIGW_EINVAL,
					    "url '%s' contains a space or control character", s);
	if (aigw_str_prefix(s, "http://")) {
		aigw_strlcpy(u->scheme, "http", sizeof(u->scheme));
		u->port = 80;
		p = s + 7;
	} else if (aigw_str_prefix(s, "https://")) {
		aigw_strlcpy(u->scheme, "https", sizeof(u->scheme));
		u->port = 443;
		p = s + 8;
	} else {
		return aigw_err_set(err, AIGW_EINVAL,
				    "url '%s' must start with http:// or https://", s);
	}
	rest = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(rest - p)))
		return aigw_err_set(err, AIGW_EINVAL,
				    "url '%s' must not carry credentials (use api_key_env)", s);
	if (*p == '[') {
		host = p + 1;
		host_end = memchr(host, ']', (size_t)(rest - host));
		if (!host_end || host_end == host)
			return aigw_err_set(err, AIGW_EINVAL, "url '%s' has a malformed IPv6 host", s);
		for (const char *c = host; c < host_end; c++)
			if (!isxdigit((unsigned char)*c) && *c != ':' && *c != '.')
				return aigw_err_set(err, AIGW_EINVAL,
						    "url '%s' has a malformed IPv6 host", s);
		p = host_end + 1;
	} else {
		host = p;
		while (p < rest && *p != ':')
			p++;
		host_end = p;
		if (host_end == host)
			return aigw_err_set(err, AIGW_EINVAL, "url '%s' has no host", s);
		for (const char *c = host; c < host_end; c++)
			if (!host_char(*c))
				return aigw_err_set(err, AIGW_EINVAL,
						    "url '%s' has an invalid character in its host", s);
		const char *dots = strstr(host, "..");
		if (*host == '.' || *host == '-' || host_end[-1] == '-' ||
		    (dots && dots < host_end))
			return aigw_err_set(err, AIGW_EINVAL, "url '%s' has a malformed host", s);
	}
	hl = (size_t)(host_end - host);
	if (hl >= sizeof(u->host))
		return aigw_err_set(err, AIGW_EINVAL,
				    "url '%.40s...' has a host that is too long (255 bytes at most)", s);
	memcpy(u->host, host, hl);
	u->host[hl] = '\0';
	if (*p == ':') {
		long port = 0;
		int digits = 0;
		p++;
		while (p < rest && isdigit((unsigned char)*p) && digits < 6) {
			port = port * 10 + (*p++ - '0');
			digits++;
		}
		if (!digits || p != rest || port < 1 || port > 65535)
			return aigw_err_set(err, AIGW_EINVAL,
					    "url '%s' has an invalid port (1..65535)", s);
		u->port = (int)port;
		u->port_given = true;
	} else if (p != rest) {
		return aigw_err_set(err, AIGW_EINVAL, "url '%s' has a malformed host", s);
	}
	if (strchr(rest, '#'))
		return aigw_err_set(err, AIGW_EINVAL, "url '%s' must not have a fragment", s);
	if (*rest == '?' || (*rest && *rest != '/'))
		return aigw_err_set(err, AIGW_EINVAL, "url '%s' has a malformed path", s);
	if (aigw_strlcpy(u->path, rest, sizeof(u->path)) >= sizeof(u->path))
		/* Quote only the start: the whole URL would push the reason out of
		 * the message buffer. */
		return aigw_err_set(err, AIGW_EINVAL,
				    "url '%.40s...' has a path that is too long (1023 bytes at most)", s);
	return 0;
}
