/* rand: see rand.h. */
#include "rand.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

int aigw_rand_bytes(void *out, size_t n, struct aigw_err *err)
{
	unsigned char *p = out;

	while (n) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return aigw_err_set(err, AIGW_EFAIL, "getrandom: %s",
					    strerror(errno));
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

int aigw_rand_below(uint64_t bound, uint64_t *out, struct aigw_err *err)
{
	/* Rejection sampling: drop draws from the incomplete top range. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % bound, v;
	do {
		int rc = aigw_rand_bytes(&v, sizeof(v), err);
		if (rc)
			return rc;
	} while (v >= limit);
	*out = v % bound;
	return 0;
}

uint64_t aigw_rand_xorshift64(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}
