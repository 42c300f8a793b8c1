/* clock: see clock.h. */

#include "clock.h"

#include <stdlib.h>
#include <time.h>

uint64_t aigw_clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t aigw_clock_mono_us(void)
{
	return aigw_clock_mono_ns() / 1000u;
}

uint64_t aigw_clock_mono_ms(void)
{
	return aigw_clock_mono_ns() / 1000000u;
}

int64_t aigw_clock_wall_ms(void)
{
	const char *fixed = getenv("AIGW_NOW");
	struct timespec ts;

	if (fixed && *fixed) {
		char *end;
		long long v = strtoll(fixed, &end, 10);
		if (!*end)
			return (int64_t)v * 1000;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t aigw_clock_wall_s(void)
{
	return aigw_clock_wall_ms() / 1000;
}
