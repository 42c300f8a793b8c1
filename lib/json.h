/* json: allocation-free reading of the few fields the gateway needs from
 * request and response bodies (model, stream, usage), in one pass that
 * also checks the whole text is valid JSON (RFC 8259). Building a tree
 * (cJSON) for every request and answer cost more than the rest of the
 * gateway's own work; this reads in place. */
#ifndef AIGW_JSON_H
#define AIGW_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A member of an object: the key as written (without quotes, escapes
 * undecoded) and the raw text of its value. */
struct aigw_json_member {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
};

/* Called for each member of the top-level object, in order. Return
 * nonzero to stop (aigw_json_object then returns that value). */
typedef int aigw_json_member_fn(const struct aigw_json_member *m, void *arg);

/* Checks that text is exactly one JSON object (surrounding whitespace
 * allowed) and reports its top-level members. Returns 0, fn's nonzero
 * value, or -1 when the text is not valid JSON or not an object. Nesting
 * deeper than 128 levels counts as invalid. */
int aigw_json_object(const char *text, size_t len, aigw_json_member_fn *fn, void *arg);

/* Is the member's key exactly name (no escapes involved)? */
bool aigw_json_key_is(const struct aigw_json_member *m, const char *name);
/* Decodes a string value (escapes, \u with surrogate pairs to UTF-8) into
 * out; false when it is not a string or does not fit (with the NUL). */
bool aigw_json_string(const char *value, size_t len, char *out, size_t cap);
/* A non-negative integer value (no fraction or exponent). */
bool aigw_json_uint(const char *value, size_t len, uint64_t *out);

/* ---- with cJSON, for the admin API and JSON records, where a tree is
 * wanted: */

#include <cJSON.h>

#include "err.h"

/* Parses text as exactly one JSON object (trailing whitespace allowed) and
 * returns the tree, or EINVAL with "invalid JSON at byte N", "unexpected
 * text after the JSON object" or "expected a JSON object, got an array". */
int aigw_json_parse_object(const char *text, size_t len, cJSON **out, struct aigw_err *err);
/* "a string", "a number", "a boolean", "an array", "an object", "null". */
const char *aigw_json_kind(const cJSON *j);

#endif
