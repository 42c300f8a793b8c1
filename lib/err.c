/* err: see err.h. */
#include "err.h"

#include <stdio.h>
#include <string.h>

int aigw_err_setv(struct aigw_err *err, int code, const char *fmt, va_list ap)
{
	if (err) {
		err->code = code;
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	}
	return code;
}

int aigw_err_set(struct aigw_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	aigw_err_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

void aigw_err_prefix(struct aigw_err *err, const char *fmt, ...)
{
	char prefix[AIGW_ERR_MSG_MAX], old[AIGW_ERR_MSG_MAX];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* Truncation is acceptable for a message; say so to the compiler. */
	if (snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old) < 0)
		err->msg[0] = '\0';
}

void aigw_err_clear(struct aigw_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

const char *aigw_err_name(int code)
{
	switch (code) {
	case AIGW_OK: return "ok";
	case AIGW_EINVAL: return "invalid value";
	case AIGW_ENOTFOUND: return "not found";
	case AIGW_ECONFIG: return "config error";
	case AIGW_EEXIST: return "already exists";
	case AIGW_EBUSY: return "busy";
	case AIGW_AGAIN: return "try again";
	default: return "failure";
	}
}
