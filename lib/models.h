/* models: what the gateway knows about model names beyond the nodes —
 * aliases (one name for an ordered list of targets) and prices.
 *
 * Prices are USD per million tokens. A built-in table covers common
 * models of OpenAI, Anthropic, Google, DeepSeek and Mistral as published
 * by the providers when this table was written; `pricing:` in aigw.yaml
 * adds models or overrides any entry. A price entry names a model as the
 * providers do and also covers its dated snapshots: "gpt-4o" prices
 * "gpt-4o-2024-08-06" (the name followed by '-' and a digit), but not
 * "gpt-4o-mini"; the longest matching entry wins, and an entry with '*'
 * is a glob. A model no entry covers has an unknown cost (NULL in the
 * log), never zero. */
#ifndef AIGW_MODELS_H
#define AIGW_MODELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "str.h"

struct aigw_alias {
	char *name;
	struct aigw_strv targets;  /* in order of preference */
	char *where;               /* "aigw.yaml:12:3" */
};

struct aigw_price {
	char *model;               /* a name, a name covering its snapshots, or a glob */
	double input, output;      /* USD per million tokens */
	double cache_read;         /* < 0: as input */
	double cache_write;        /* < 0: as input */
};

/* The built-in table (model NULL ends it). */
extern const struct aigw_price aigw_builtin_prices[];

/* Does entry pattern cover model? 0: no; otherwise its specificity
 * (longer is more specific). */
size_t aigw_price_covers(const char *pattern, const char *model);
/* The price of model: the most specific of overrides, else of the
 * built-in table; NULL when unknown. A "models/" prefix (Gemini's
 * spelling) is ignored. */
const struct aigw_price *aigw_price_find(const struct aigw_price *overrides, size_t n,
					 const char *model);
/* Cost in millionths of a USD of a request, or -1 when a count it needs is
 * unknown (prompt or completion < 0). prompt counts every input token,
 * cache reads and writes included; unknown cache counts are taken as 0. */
int64_t aigw_price_cost_micro(const struct aigw_price *p, int64_t prompt, int64_t completion,
			      int64_t cache_read, int64_t cache_write);

int aigw_price_validate(const struct aigw_price *p, struct aigw_err *err);
void aigw_price_copy(struct aigw_price *dst, const struct aigw_price *src);
void aigw_prices_free(struct aigw_price *p, size_t n);

int aigw_alias_validate(const struct aigw_alias *a, struct aigw_err *err);
void aigw_alias_copy(struct aigw_alias *dst, const struct aigw_alias *src);
void aigw_alias_release(struct aigw_alias *a);
void aigw_aliases_free(struct aigw_alias *a, size_t n);
/* The alias named name, or NULL. */
const struct aigw_alias *aigw_alias_find(const struct aigw_alias *a, size_t n, const char *name);

#endif
