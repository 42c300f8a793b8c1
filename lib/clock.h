/* clock: monotonic time for measuring, wall time for records. */
#ifndef AIGW_CLOCK_H
#define AIGW_CLOCK_H

#include <stdint.h>

uint64_t aigw_clock_mono_ns(void);
uint64_t aigw_clock_mono_us(void);
uint64_t aigw_clock_mono_ms(void);
/* Seconds since the Unix epoch. Honours AIGW_NOW (an integer) so tests
 * about expiry and time windows are deterministic. */
int64_t aigw_clock_wall_s(void);
int64_t aigw_clock_wall_ms(void);

#endif
