/* claimtime: the integer times of signed payloads (iat, exp: Unix seconds)
 * compared with the clock, without overflow.
 *
 * A token's signer chooses these values, and json_int_t holds any of them,
 * LLONG_MIN and LLONG_MAX included: `llabs(now - iat)` is then undefined
 * behaviour (the subtraction overflows, and llabs(LLONG_MIN) too). These
 * helpers are defined for every argument. */
#ifndef PUSHGATE_CLAIMTIME_H
#define PUSHGATE_CLAIMTIME_H

#include <stdbool.h>

/* a - b, saturated to [-LLONG_MAX, LLONG_MAX] (so that its negation exists too). */
long long claimtime_diff(long long a, long long b);

/* Whether |now - t| <= skew, for any now and t; a negative skew admits nothing. */
bool claimtime_within(long long now, long long t, long long skew);

#endif
