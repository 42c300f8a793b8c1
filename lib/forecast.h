/* forecast: Holt's linear (double exponential) smoothing of a rate.
 *
 * One observation per interval (e.g. the requests counted in the interval
 * divided by its length in seconds). The smoothed level and trend are
 *
 *   level' = alpha * x + (1 - alpha) * (level + trend)
 *   trend' = beta * (level' - level) + (1 - beta) * trend
 *
 * The first observation sets the level (trend 0). The forecast h intervals
 * ahead is level + h * trend, never below 0 (a rate). Plain data, no
 * locking: one thread feeds and reads it. */
#ifndef AIGW_FORECAST_H
#define AIGW_FORECAST_H

#include <stdint.h>

#include "err.h"

struct aigw_holt {
	double alpha, beta;  /* in (0, 1] and [0, 1] */
	double level, trend;
	uint64_t n;          /* observations so far */
};

/* EINVAL (and h unchanged) unless 0 < alpha <= 1 and 0 <= beta <= 1. */
int aigw_holt_init(struct aigw_holt *h, double alpha, double beta, struct aigw_err *err);
/* Feeds one observation (NaN and negative values count as 0). */
void aigw_holt_update(struct aigw_holt *h, double x);
/* level + steps * trend, at least 0; 0 before any observation. */
double aigw_holt_forecast(const struct aigw_holt *h, double steps);

#endif
