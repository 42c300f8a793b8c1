/* str: string helpers shared by every module: bounded copies, lists of
 * strings, glob matching, and parsers for the value syntaxes that appear on
 * the command line and in aigw.yaml (durations, sizes, money, names). */
#ifndef AIGW_STR_H
#define AIGW_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Copies at most n-1 bytes and always terminates; returns strlen(src) so
 * truncation can be detected (result >= n). */
size_t aigw_strlcpy(char *dst, const char *src, size_t n);

bool aigw_str_prefix(const char *s, const char *prefix);
bool aigw_str_suffix(const char *s, const char *suffix);
/* NULL-safe equality: two NULLs are equal. */
bool aigw_str_eq(const char *a, const char *b);
/* s is not empty and every character is a decimal digit (an id, not a
 * name). */
bool aigw_str_all_digits(const char *s);

/* A NULL-terminated, heap-owned list of heap-owned strings. */
struct aigw_strv {
	char **v; /* v[n] == NULL when n > 0 */
	size_t n;
};

#define AIGW_STRV_INIT { NULL, 0 }

void aigw_strv_push(struct aigw_strv *sv, const char *s);
/* Pushes s itself, a heap string the list now owns. */
void aigw_strv_push_take(struct aigw_strv *sv, char *s);
/* Pushes the first n bytes of s (which need not be NUL-terminated). */
void aigw_strv_push_n(struct aigw_strv *sv, const char *s, size_t n);
void aigw_strv_release(struct aigw_strv *sv);
void aigw_strv_copy(struct aigw_strv *dst, const struct aigw_strv *src);
bool aigw_strv_contains(const struct aigw_strv *sv, const char *s);
bool aigw_strv_eq(const struct aigw_strv *a, const struct aigw_strv *b);
/* Splits "a,b , c" into trimmed items. Empty items are an error (EINVAL)
 * so that "a,,b" and a trailing comma are caught; "" gives an empty list. */
int aigw_strv_split(struct aigw_strv *sv, const char *s, char sep,
		    struct aigw_err *err);
/* Joins with sep into a new heap string ("" for an empty list). */
char *aigw_strv_join(const struct aigw_strv *sv, const char *sep);

/* Shell-style glob: '*' matches any run (including empty), '?' one byte. */
bool aigw_glob_match(const char *pattern, const char *s);
/* True when some string matches both globs (used to find ambiguous routes). */
bool aigw_glob_overlap(const char *a, const char *b);
/* Number of literal (non-wildcard) bytes: a glob's specificity. */
size_t aigw_glob_literals(const char *pattern);
bool aigw_glob_valid(const char *pattern, struct aigw_err *err);

/* Edit distance, for "did you mean" suggestions. */
size_t aigw_levenshtein(const char *a, const char *b);
/* The candidate closest to word when it is close enough to be a plausible
 * typo, else NULL. candidates is NULL-terminated. */
const char *aigw_suggest(const char *word, const char *const *candidates);

/* Parses a whole decimal integer in [min, max]. */
int aigw_parse_int(const char *s, int64_t min, int64_t max, int64_t *out,
		   struct aigw_err *err);
/* Parses a duration ("250ms", "30s", "5m", "2h", "30d", or a combination
 * such as "1h30m") into milliseconds. A bare number is refused: the unit
 * is part of the meaning. */
int aigw_parse_duration_ms(const char *s, int64_t *out, struct aigw_err *err);
/* Formats milliseconds back in the shortest exact form ("90s" -> "1m30s"). */
void aigw_format_duration_ms(int64_t ms, char *out, size_t n);
/* Parses a USD amount ("12", "12.5", "$0.25") into micro-dollars,
 * refusing negatives and more than six decimals. */
int aigw_parse_usd(const char *s, int64_t *micro, struct aigw_err *err);
void aigw_format_usd(int64_t micro, char *out, size_t n);
/* Parses a byte size ("512", "16KiB", "8MiB", "1GiB", also "k"/"m"/"g"). */
int aigw_parse_size(const char *s, int64_t *out, struct aigw_err *err);
int aigw_parse_bool(const char *s, bool *out, struct aigw_err *err);

/* Names of keys, nodes and routes: 1..64 of [A-Za-z0-9._-], starting with a
 * letter or digit, and not all digits (so an id and a name never collide). */
bool aigw_name_valid(const char *s);
/* Environment variable names: [A-Za-z_][A-Za-z0-9_]*. */
bool aigw_env_name_valid(const char *s);

/* Formats a Unix time as "2026-11-23T01:45:00Z". */
void aigw_format_time(int64_t unix_s, char *out, size_t n);
/* Parses "2026-11-23", "2026-11-23T01:45:00Z" (UTC). */
int aigw_parse_time(const char *s, int64_t *out, struct aigw_err *err);

#endif
