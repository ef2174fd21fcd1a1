#include "claimtime.h"

#include <limits.h>

long long claimtime_diff(long long a, long long b)
{
    long long d;
    if (__builtin_sub_overflow(a, b, &d))
        return b < 0 ? LLONG_MAX : -LLONG_MAX; /* a - b overflowed upward or downward */
    return d == LLONG_MIN ? -LLONG_MAX : d;
}

bool claimtime_within(long long now, long long t, long long skew)
{
    long long d = claimtime_diff(now, t);
    return skew >= 0 && d >= -skew && d <= skew;
}
