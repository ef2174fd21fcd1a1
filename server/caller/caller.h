/* auth: who is calling. Resolves the route's credential requirement
 * (application headers, admin bearer token, device proof) and then runs the
 * route's handler, or answers 401 / 503 itself.
 *
 * Every failure of application credentials gets the same 401 body, whether
 * the id is unknown, the secret wrong or the application disabled; secrets
 * are compared as SHA-256 digests in constant time (appsecret.h).
 *
 * Failed credentials (a wrong secret or admin token) are counted per client
 * address (throttle.h, PUSHGATE_AUTH_FAILURE_LIMIT in a window of
 * PUSHGATE_AUTH_FAILURE_WINDOW_SECONDS); an address over the limit gets 429
 * rate_limited with Retry-After on every application or admin route, right
 * credentials included, until its window ends. */
#ifndef PUSHGATE_CALLER_H
#define PUSHGATE_CALLER_H

#include "http.h"

/* The dispatch function of struct http_routing: r->route is set and its body
 * checked; sets r->caller (and app_id/app_name, or device_id) as the route's
 * auth asks, then calls r->route->handler. */
void caller_dispatch(struct req *r);
/* Releases the failure counts (at exit; serve.c). */
void caller_free(void);

#endif
