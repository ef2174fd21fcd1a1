/* throttle: failed credentials counted per client address (api.md 1: 429
 * rate_limited with Retry-After), so that application secrets and the admin
 * token cannot be guessed at the speed of the network.
 *
 * A key (the client address) that has failed `limit` times within a window
 * of `window` seconds, counted from its first failure, is blocked until that
 * window ends; then its count starts again. The map holds at most max_keys
 * addresses: when it is full, windows that have ended are swept (at most once
 * a second) and an address that still finds no room is not counted -- memory
 * stays bounded under a spread-out attack, at the price of not throttling it
 * (a warning is logged once per sweep). One per process, on the loop thread;
 * times are the caller's (seconds, monotonic), so that tests can pass them. */
#ifndef PUSHGATE_THROTTLE_H
#define PUSHGATE_THROTTLE_H

#include <stddef.h>

struct throttle;

/* limit >= 1, window >= 1 (seconds), max_keys >= 1. Never NULL. */
struct throttle *throttle_new(int limit, int window, size_t max_keys);
void throttle_free(struct throttle *t);

/* Seconds (>= 1) until key may present credentials again, or 0 when it may now. */
int throttle_blocked(struct throttle *t, const char *key, double now);
/* Counts one failure of key at now. */
void throttle_fail(struct throttle *t, const char *key, double now);
/* Addresses tracked now (for tests). */
size_t throttle_count(const struct throttle *t);

#endif
