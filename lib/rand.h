/* rand: cryptographically secure random bytes from the kernel (getrandom),
 * for secrets and request ids. */
#ifndef AIGW_RAND_H
#define AIGW_RAND_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

int aigw_rand_bytes(void *out, size_t n, struct aigw_err *err);
/* A uniformly distributed value in [0, bound) (bound > 0), no modulo bias. */
int aigw_rand_below(uint64_t bound, uint64_t *out, struct aigw_err *err);

/* Not for secrets: Marsaglia's xorshift64, a fast reproducible sequence
 * for load generation and tests. *state must not be 0; returns the next
 * value and stores it as the new state. */
uint64_t aigw_rand_xorshift64(uint64_t *state);

#endif
