/* models: see models.h. */
#include "models.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

/* USD per million tokens: input, output, cached input read, cache write
 * (-1: as input). From the providers' price pages (standard tier, the
 * shortest context band); November 2026. Override in aigw.yaml. */
const struct aigw_price aigw_builtin_prices[] = {
	/* OpenAI */
	{ "gpt-5", 1.25, 10.00, 0.125, -1 },
	{ "gpt-5-mini", 0.25, 2.00, 0.025, -1 },
	{ "gpt-5-nano", 0.05, 0.40, 0.005, -1 },
	{ "gpt-4.1", 2.00, 8.00, 0.50, -1 },
	{ "gpt-4.1-mini", 0.40, 1.60, 0.10, -1 },
	{ "gpt-4.1-nano", 0.10, 0.40, 0.025, -1 },
	{ "gpt-4o", 2.50, 10.00, 1.25, -1 },
	{ "gpt-4o-mini", 0.15, 0.60, 0.075, -1 },
	{ "gpt-4-turbo", 10.00, 30.00, -1, -1 },
	{ "gpt-4", 30.00, 60.00, -1, -1 },
	{ "gpt-3.5-turbo", 0.50, 1.50, -1, -1 },
	{ "o1", 15.00, 60.00, 7.50, -1 },
	{ "o1-mini", 1.10, 4.40, 0.55, -1 },
	{ "o3", 2.00, 8.00, 0.50, -1 },
	{ "o3-mini", 1.10, 4.40, 0.55, -1 },
	{ "o4-mini", 1.10, 4.40, 0.275, -1 },
	{ "text-embedding-3-small", 0.02, 0, -1, -1 },
	{ "text-embedding-3-large", 0.13, 0, -1, -1 },
	{ "text-embedding-ada-002", 0.10, 0, -1, -1 },
	/* Anthropic: cache reads 0.1x input, 5-minute cache writes 1.25x */
	{ "claude-opus-4-1", 15.00, 75.00, 1.50, 18.75 },
	{ "claude-opus-4", 15.00, 75.00, 1.50, 18.75 },
	{ "claude-sonnet-4-5", 3.00, 15.00, 0.30, 3.75 },
	{ "claude-sonnet-4", 3.00, 15.00, 0.30, 3.75 },
	{ "claude-haiku-4-5", 1.00, 5.00, 0.10, 1.25 },
	{ "claude-3-7-sonnet", 3.00, 15.00, 0.30, 3.75 },
	{ "claude-3-5-sonnet", 3.00, 15.00, 0.30, 3.75 },
	{ "claude-3-5-haiku", 0.80, 4.00, 0.08, 1.00 },
	{ "claude-3-opus", 15.00, 75.00, 1.50, 18.75 },
	{ "claude-3-haiku", 0.25, 1.25, 0.03, 0.30 },
	/* Google */
	{ "gemini-2.5-pro", 1.25, 10.00, 0.31, -1 },
	{ "gemini-2.5-flash", 0.30, 2.50, 0.075, -1 },
	{ "gemini-2.5-flash-lite", 0.10, 0.40, 0.025, -1 },
	{ "gemini-2.0-flash", 0.10, 0.40, 0.025, -1 },
	{ "gemini-2.0-flash-lite", 0.075, 0.30, -1, -1 },
	{ "gemini-1.5-pro", 1.25, 5.00, -1, -1 },
	{ "gemini-1.5-flash", 0.075, 0.30, -1, -1 },
	/* DeepSeek, Mistral */
	{ "deepseek-chat", 0.27, 1.10, 0.07, -1 },
	{ "deepseek-reasoner", 0.55, 2.19, 0.14, -1 },
	{ "mistral-large-latest", 2.00, 6.00, -1, -1 },
	{ "mistral-small-latest", 0.20, 0.60, -1, -1 },
	{ NULL, 0, 0, 0, 0 },
};

size_t aigw_price_covers(const char *pattern, const char *model)
{
	size_t n = strlen(pattern);

	if (strchr(pattern, '*') || strchr(pattern, '?'))
		return aigw_glob_match(pattern, model) ? aigw_glob_literals(pattern) : 0;
	if (strncmp(pattern, model, n) != 0)
		return 0;
	if (model[n] == '\0' || (model[n] == '-' && model[n + 1] >= '0' && model[n + 1] <= '9'))
		return n + 1; /* an exact name beats a glob of the same literals */
	return 0;
}

static const struct aigw_price *best(const struct aigw_price *p, size_t n, const char *model)
{
	const struct aigw_price *found = NULL;
	size_t score = 0;

	for (size_t i = 0; i < n && p[i].model; i++) {
		size_t s = aigw_price_covers(p[i].model, model);
		if (s > score) {
			score = s;
			found = &p[i];
		}
	}
	return found;
}

const struct aigw_price *aigw_price_find(const struct aigw_price *overrides, size_t n,
					 const char *model)
{
	const struct aigw_price *p;

	if (!model || !*model)
		return NULL;
	if (strncmp(model, "models/", 7) == 0)
		model += 7;
	if ((p = best(overrides, n, model)))
		return p;
	return best(aigw_builtin_prices, SIZE_MAX, model);
}

int64_t aigw_price_cost_micro(const struct aigw_price *p, int64_t prompt, int64_t completion,
			      int64_t cache_read, int64_t cache_write)
{
	double cr, cw, fresh, micro;

	if (!p || prompt < 0 || completion < 0)
		return -1;
	cr = cache_read > 0 ? (double)cache_read : 0;
	cw = cache_write > 0 ? (double)cache_write : 0;
	fresh = (double)prompt - cr - cw;
	if (fresh < 0)
		fresh = 0;
	/* tokens x USD per million tokens = millionths of a USD */
	micro = fresh * p->input + (double)completion * p->output +
		cr * (p->cache_read >= 0 ? p->cache_read : p->input) +
		cw * (p->cache_write >= 0 ? p->cache_write : p->input);
	return (int64_t)llround(micro);
}

int aigw_price_validate(const struct aigw_price *p, struct aigw_err *err)
{
	if (!p->model || !*p->model)
		return aigw_err_set(err, AIGW_EINVAL, "a price needs a model name");
	if (!aigw_glob_valid(p->model, err))
		return AIGW_EINVAL;
	if (!(p->input >= 0 && p->input < 1e6) || !(p->output >= 0 && p->output < 1e6))
		return aigw_err_set(err, AIGW_EINVAL,
				    "input and output must be USD per million tokens, 0 to 1000000");
	if (p->cache_read >= 1e6 || p->cache_write >= 1e6)
		return aigw_err_set(err, AIGW_EINVAL, "cache prices must be below 1000000");
	return 0;
}

void aigw_price_copy(struct aigw_price *dst, const struct aigw_price *src)
{
	*dst = *src;
	dst->model = aigw_strdup(src->model);
}

void aigw_prices_free(struct aigw_price *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].model);
	free(p);
}

int aigw_alias_validate(const struct aigw_alias *a, struct aigw_err *err)
{
	if (!aigw_name_valid(a->name))
		return aigw_err_set(err, AIGW_EINVAL,
				    "'%s' is not a valid alias name (1-64 of A-Z a-z 0-9 . _ -)",
				    a->name);
	if (a->targets.n == 0)
		return aigw_err_set(err, AIGW_EINVAL, "alias '%s' names no target model", a->name);
	for (size_t i = 0; i < a->targets.n; i++)
		if (strcmp(a->targets.v[i], a->name) == 0)
			return aigw_err_set(err, AIGW_EINVAL, "alias '%s' names itself", a->name);
	return 0;
}

void aigw_alias_copy(struct aigw_alias *dst, const struct aigw_alias *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->name = aigw_strdup(src->name);
	dst->where = src->where ? aigw_strdup(src->where) : NULL;
	for (size_t i = 0; i < src->targets.n; i++)
		aigw_strv_push(&dst->targets, src->targets.v[i]);
}

void aigw_alias_release(struct aigw_alias *a)
{
	free(a->name);
	free(a->where);
	aigw_strv_release(&a->targets);
	memset(a, 0, sizeof(*a));
}

void aigw_aliases_free(struct aigw_alias *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		aigw_alias_release(&a[i]);
	free(a);
}

const struct aigw_alias *aigw_alias_find(const struct aigw_alias *a, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i].name, name) == 0)
			return &a[i];
	return NULL;
}
