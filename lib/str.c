/* str: see str.h. */
#include "str.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "mem.h"

size_t aigw_strlcpy(char *dst, const char *src, size_t n)
{
	size_t len = strlen(src);
	if (n) {
		size_t c = len < n - 1 ? len : n - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return len;
}

bool aigw_str_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool aigw_str_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool aigw_str_all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

bool aigw_str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* ------------------------------------------------------------------ strv */

void aigw_strv_push_take(struct aigw_strv *sv, char *s)
{
	sv->v = aigw_realloc(sv->v, (sv->n + 2) * sizeof(*sv->v));
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void aigw_strv_push_n(struct aigw_strv *sv, const char *s, size_t n)
{
	aigw_strv_push_take(sv, aigw_strndup(s, n));
}

void aigw_strv_push(struct aigw_strv *sv, const char *s)
{
	aigw_strv_push_n(sv, s, strlen(s));
}

void aigw_strv_release(struct aigw_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

void aigw_strv_copy(struct aigw_strv *dst, const struct aigw_strv *src)
{
	dst->v = NULL;
	dst->n = 0;
	for (size_t i = 0; i < src->n; i++)
		aigw_strv_push(dst, src->v[i]);
}

bool aigw_strv_contains(const struct aigw_strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

bool aigw_strv_eq(const struct aigw_strv *a, const struct aigw_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

int aigw_strv_split(struct aigw_strv *sv, const char *s, char sep,
		    struct aigw_err *err)
{
	struct aigw_strv out = AIGW_STRV_INIT;
	const char *p = s;

	while (*s && isspace((unsigned char)*s))
		s++;
	if (!*s) {
		*sv = out;
		return 0;
	}
	p = s;
	for (;;) {
		const char *end = strchr(p, sep);
		const char *stop = end ? end : p + strlen(p);
		const char *a = p, *b = stop;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (a == b) {
			aigw_strv_release(&out);
			return aigw_err_set(err, AIGW_EINVAL,
					    "empty item in list '%s'", s);
		}
		char *item = aigw_strndup(a, (size_t)(b - a));
		aigw_strv_push(&out, item);
		free(item);
		if (!end)
			break;
		p = end + 1;
	}
	*sv = out;
	return 0;
}

char *aigw_strv_join(const struct aigw_strv *sv, const char *sep)
{
	struct aigw_buf b = AIGW_BUF_INIT;
	for (size_t i = 0; i < sv->n; i++) {
		if (i)
			aigw_buf_puts(&b, sep);
		aigw_buf_puts(&b, sv->v[i]);
	}
	return aigw_buf_detach(&b);
}

/* ------------------------------------------------------------------ glob */

bool aigw_glob_match(const char *p, const char *s)
{
	const char *star = NULL, *mark = NULL;

	/* Iterative matcher with single-star backtracking: linear in practice
	 * and never recursive, so hostile patterns cannot blow the stack. */
	while (*s) {
		if (*p == '?' || (*p && *p != '*' && *p == *s)) {
			p++;
			s++;
		} else if (*p == '*') {
			star = p++;
			mark = s;
		} else if (star) {
			p = star + 1;
			s = ++mark;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

bool aigw_glob_overlap(const char *a, const char *b)
{
	/* Reachability over pairs of positions (i, j): is there a string that
	 * drives both patterns to their ends at once? A '*' may stay (eat a
	 * character matched by the other side) or be skipped. */
	size_t la = strlen(a), lb = strlen(b);
	size_t w = lb + 1;
	bool *seen = aigw_calloc((la + 1) * w, 1);
	size_t *stack = aigw_malloc(2 * (la + 1) * w * sizeof(size_t));
	size_t top = 0;
	bool found = false;

#define PUSH(i, j)                                                          \
	do {                                                                \
		size_t k_ = (i) * w + (j);                                  \
		if (!seen[k_]) {                                            \
			seen[k_] = true;                                    \
			stack[top++] = k_;                                  \
		}                                                           \
	} while (0)

	PUSH(0, 0);
	while (top && !found) {
		size_t k = stack[--top], i = k / w, j = k % w;
		char ca = i < la ? a[i] : 0, cb = j < lb ? b[j] : 0;
		if (i == la && j == lb) {
			found = true;
			break;
		}
		if (ca == '*')
			PUSH(i + 1, j); /* star matches nothing more */
		if (cb == '*')
			PUSH(i, j + 1);
		if (ca == '*' && cb == '*')
			continue; /* both skipping covers every case */
		if (ca == '*' && cb)
			PUSH(i, j + 1); /* star eats b's character */
		if (cb == '*' && ca)
			PUSH(i + 1, j);
		if (ca && cb && ca != '*' && cb != '*' &&
		    (ca == '?' || cb == '?' || ca == cb))
			PUSH(i + 1, j + 1);
	}
#undef PUSH
	free(seen);
	free(stack);
	return found;
}

size_t aigw_glob_literals(const char *p)
{
	size_t n = 0;
	for (; *p; p++)
		if (*p != '*' && *p != '?')
			n++;
	return n;
}

bool aigw_glob_valid(const char *p, struct aigw_err *err)
{
	if (!*p) {
		aigw_err_set(err, AIGW_EINVAL, "empty pattern");
		return false;
	}
	for (const char *c = p; *c; c++) {
		if ((unsigned char)*c < 0x21 || *c == ',' || *c == 0x7f) {
			aigw_err_set(err, AIGW_EINVAL,
				     "pattern '%s' has a space, comma or control character",
				     p);
			return false;
		}
	}
	if (strlen(p) > 128) {
		aigw_err_set(err, AIGW_EINVAL, "pattern '%.20s...' is longer than 128 bytes", p);
		return false;
	}
	return true;
}

/* --------------------------------------------------------- suggestions */

size_t aigw_levenshtein(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t *row = aigw_malloc((lb + 1) * sizeof(size_t));
	size_t result;

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	result = row[lb];
	free(row);
	return result;
}

const char *aigw_suggest(const char *word, const char *const *candidates)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1;
	size_t len = strlen(word);
	/* Allow roughly one edit per three characters, at least two. */
	size_t limit = len / 3 > 2 ? len / 3 : 2;

	for (; *candidates; candidates++) {
		size_t d = aigw_levenshtein(word, *candidates);
		if (aigw_str_prefix(*candidates, word) && len >= 2)
			d = d < 1 ? d : 1;
		if (d < best_d) {
			best_d = d;
			best = *candidates;
		}
	}
	return best_d <= limit ? best : NULL;
}

/* -------------------------------------------------------------- parsing */

int aigw_parse_int(const char *s, int64_t min, int64_t max, int64_t *out,
		   struct aigw_err *err)
{
	char *end;
	long long v;

	if (!*s || isspace((unsigned char)*s))
		return aigw_err_set(err, AIGW_EINVAL, "'%s' is not a number", s);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end || errno == ERANGE)
		return aigw_err_set(err, AIGW_EINVAL, "'%s' is not a number", s);
	if (v < min || v > max)
		return aigw_err_set(err, AIGW_EINVAL,
				    "%s is out of range (%lld..%lld)", s,
				    (long long)min, (long long)max);
	*out = v;
	return 0;
}

int aigw_parse_duration_ms(const char *s, int64_t *out, struct aigw_err *err)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {
		{ "ms", 1 },           { "s", 1000 },          { "m", 60000 },
		{ "h", 3600000 },      { "d", 86400000 },
	};
	const char *p = s;
	int64_t total = 0;

	if (!*p)
		return aigw_err_set(err, AIGW_EINVAL, "empty duration");
	while (*p) {
		int64_t n = 0;
		int digits = 0, found = 0;
		while (isdigit((unsigned char)*p)) {
			if (n > (INT64_MAX - 9) / 10)
				return aigw_err_set(err, AIGW_EINVAL,
						    "duration '%s' is too large", s);
			n = n * 10 + (*p++ - '0');
			digits++;
		}
		if (!digits)
			goto bad;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t ul = strlen(units[i].unit);
			/* "m" must not swallow the "m" of "ms". */
			if (strncmp(p, units[i].unit, ul) == 0 &&
			    !(ul == 1 && p[0] == 'm' && p[1] == 's')) {
				if (n > INT64_MAX / units[i].ms ||
				    total > INT64_MAX - n * units[i].ms)
					return aigw_err_set(err, AIGW_EINVAL,
							    "duration '%s' is too large", s);
				total += n * units[i].ms;
				p += ul;
				found = 1;
				break;
			}
		}
		if (!found)
			goto bad;
	}
	*out = total;
	return 0;
bad:
	return aigw_err_set(err, AIGW_EINVAL,
			    "'%s' is not a duration (use e.g. 250ms, 30s, 5m, 2h, 30d)", s);
}

void aigw_format_duration_ms(int64_t ms, char *out, size_t n)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = { { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 },
		      { "s", 1000 },     { "ms", 1 } };
	size_t used = 0;

	if (n)
		out[0] = '\0';
	if (ms == 0) {
		snprintf(out, n, "0s");
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (ms >= units[i].ms) {
			int w = snprintf(used < n ? out + used : NULL,
					 used < n ? n - used : 0,
					 "%lld%s", (long long)(ms / units[i].ms),
					 units[i].unit);
			if (w > 0)
				used += (size_t)w;
			ms %= units[i].ms;
		}
	}
}

int aigw_parse_usd(const char *s, int64_t *micro, struct aigw_err *err)
{
	const char *p = s;
	int64_t whole = 0, frac = 0;
	int fd = 0, wd = 0;

	if (*p == '$')
		p++;
	while (isdigit((unsigned char)*p)) {
		/* Room for one more digit and the six decimals in int64. */
		if (whole > (INT64_MAX / 1000000 - 9) / 10)
			return aigw_err_set(err, AIGW_EINVAL, "amount '%s' is too large", s);
		whole = whole * 10 + (*p++ - '0');
		wd++;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			if (fd == 6)
				return aigw_err_set(err, AIGW_EINVAL,
						    "amount '%s' has more than 6 decimals", s);
			frac = frac * 10 + (*p++ - '0');
			fd++;
		}
		if (!fd)
			wd = 0;
	}
	if (*p || !wd)
		return aigw_err_set(err, AIGW_EINVAL,
				    "'%s' is not an amount in USD (e.g. 25 or 0.50)", s);
	while (fd++ < 6)
		frac *= 10;
	*micro = whole * 1000000 + frac;
	return 0;
}

void aigw_format_usd(int64_t micro, char *out, size_t n)
{
	int64_t cents_micro = micro % 1000000;
	if (cents_micro % 10000 == 0)
		snprintf(out, n, "%lld.%02lld", (long long)(micro / 1000000),
			 (long long)(cents_micro / 10000));
	else {
		char tmp[16];
		size_t l;
		snprintf(tmp, sizeof(tmp), "%06lld", (long long)cents_micro);
		l = strlen(tmp);
		while (l > 2 && tmp[l - 1] == '0')
			tmp[--l] = '\0';
		snprintf(out, n, "%lld.%s", (long long)(micro / 1000000), tmp);
	}
}

int aigw_parse_size(const char *s, int64_t *out, struct aigw_err *err)
{
	static const struct {
		const char *unit;
		int64_t mul;
	} units[] = { { "", 1 },
		      { "k", 1024 },        { "kb", 1024 },       { "kib", 1024 },
		      { "m", 1048576 },     { "mb", 1048576 },    { "mib", 1048576 },
		      { "g", 1073741824 },  { "gb", 1073741824 }, { "gib", 1073741824 } };
	const char *p = s;
	int64_t n = 0;
	char unit[8];
	size_t ul = 0;

	if (!isdigit((unsigned char)*p))
		goto bad;
	while (isdigit((unsigned char)*p)) {
		if (n > 1000000000000LL)
			goto bad;
		n = n * 10 + (*p++ - '0');
	}
	while (*p && ul < sizeof(unit) - 1)
		unit[ul++] = (char)tolower((unsigned char)*p++);
	unit[ul] = '\0';
	if (*p)
		goto bad;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(unit, units[i].unit) == 0) {
			if (n > INT64_MAX / units[i].mul)
				goto bad;
			*out = n * units[i].mul;
			return 0;
		}
	}
bad:
	return aigw_err_set(err, AIGW_EINVAL,
			    "'%s' is not a size (e.g. 512, 16KiB, 8MiB)", s);
}

int aigw_parse_bool(const char *s, bool *out, struct aigw_err *err)
{
	static const char *yes[] = { "true", "yes", "on", "1" };
	static const char *no[] = { "false", "no", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return aigw_err_set(err, AIGW_EINVAL, "'%s' is not true or false", s);
}

bool aigw_name_valid(const char *s)
{
	size_t n = strlen(s);
	bool all_digits = true;

	if (n == 0 || n > 64 || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
		if (!isdigit(c))
			all_digits = false;
	}
	return !all_digits;
}

bool aigw_env_name_valid(const char *s)
{
	if (!*s || !(isalpha((unsigned char)*s) || *s == '_'))
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

/* ----------------------------------------------------------------- time */

void aigw_format_time(int64_t unix_s, char *out, size_t n)
{
	time_t t = (time_t)unix_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's days-from-civil: exact Gregorian day count with no
	 * dependence on the process time zone (timegm is not in C11). */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int aigw_parse_time(const char *s, int64_t *out, struct aigw_err *err)
{
	int y, mo, d, h = 0, mi = 0, se = 0, used = 0;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
		goto bad;
	if (s[used]) {
		int more = 0;
		if (sscanf(s + used, "T%2d:%2d:%2dZ%n", &h, &mi, &se, &more) != 3 ||
		    s[used + more] || more != 10)
			goto bad;
	}
	/* %2d accepts a sign, so "T-1:00:00Z" must be caught here. */
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60)
		goto bad;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		goto bad;
	*out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
	       mi * 60 + se;
	return 0;
bad:
	return aigw_err_set(err, AIGW_EINVAL,
			    "'%s' is not a date (use 2026-12-31 or 2026-12-31T23:59:59Z)", s);
}
