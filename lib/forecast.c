/* forecast: see forecast.h. */
#include "forecast.h"

#include <math.h>
#include <string.h>

int aigw_holt_init(struct aigw_holt *h, double alpha, double beta, struct aigw_err *err)
{
	if (!(alpha > 0 && alpha <= 1))
		return aigw_err_set(err, AIGW_EINVAL, "alpha must be in (0, 1], not %g", alpha);
	if (!(beta >= 0 && beta <= 1))
		return aigw_err_set(err, AIGW_EINVAL, "beta must be in [0, 1], not %g", beta);
	memset(h, 0, sizeof(*h));
	h->alpha = alpha;
	h->beta = beta;
	return 0;
}

void aigw_holt_update(struct aigw_holt *h, double x)
{
	double prev;

	if (!(x > 0) || isinf(x))
		x = isinf(x) && x > 0 ? 1e300 : 0;
	if (h->n++ == 0) {
		h->level = x;
		h->trend = 0;
		return;
	}
	prev = h->level;
	h->level = h->alpha * x + (1 - h->alpha) * (h->level + h->trend);
	h->trend = h->beta * (h->level - prev) + (1 - h->beta) * h->trend;
}

double aigw_holt_forecast(const struct aigw_holt *h, double steps)
{
	double f;

	if (!h->n)
		return 0;
	f = h->level + (steps > 0 ? steps : 0) * h->trend;
	return f > 0 ? f : 0;
}
