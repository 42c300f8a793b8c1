/* err: the error struct every fallible lib/ function can fill in.
 *
 * Functions that can fail return int: 0 on success, a negative AIGW_E* code
 * on failure, and take an optional struct aigw_err * for a one-line,
 * lowercase, human-readable detail. Callers that do not care pass NULL. */
#ifndef AIGW_ERR_H
#define AIGW_ERR_H

#include <stdarg.h>

enum {
	AIGW_OK = 0,
	AIGW_EFAIL = -1,     /* generic failure (I/O, database, system) */
	AIGW_EINVAL = -2,    /* a value given by the caller is not acceptable */
	AIGW_ENOTFOUND = -3, /* the named thing does not exist */
	AIGW_ECONFIG = -4,   /* the configuration file is unusable */
	AIGW_EEXIST = -5,    /* the name is already taken */
	AIGW_EBUSY = -6,     /* the database stayed locked past the timeout */
	AIGW_AGAIN = -7,     /* non-blocking operation would block */
};

#define AIGW_ERR_MSG_MAX 512

struct aigw_err {
	int code;
	char msg[AIGW_ERR_MSG_MAX];
};

/* Records code and a printf-style message in err (which may be NULL) and
 * returns code, so callers can write `return aigw_err_set(err, ...)`. */
int aigw_err_set(struct aigw_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int aigw_err_setv(struct aigw_err *err, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Prepends "prefix: " to an existing message (used to add context such as a
 * file:line:col or a record number as an error travels up). */
void aigw_err_prefix(struct aigw_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void aigw_err_clear(struct aigw_err *err);

/* A short name for a code, e.g. "not found". */
const char *aigw_err_name(int code);

#endif
