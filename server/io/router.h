/* router: matching a path against a route table (routes.c builds it and
 * hands it to http_start). Knows nothing of requests: a handler is a function
 * of a struct req that only http.h defines.
 *
 * Patterns are literal segments and "{}" captures ("/registration/{}").
 * A capture matches one non-empty segment of the raw path and is then
 * percent-decoded, so "%2F" inside a username stays part of it; a capture
 * that decodes to a NUL byte does not match. */
#ifndef PUSHGATE_ROUTER_H
#define PUSHGATE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

struct req;

#define ROUTER_MAX_PARAMS 3 /* "{}" captures in one pattern, at most */

enum route_auth {
    AUTH_NONE,         /* public */
    AUTH_APP,          /* x-application-id / x-application-secret */
    AUTH_APP_OR_ADMIN, /* the above, or Authorization: Bearer <admin token> */
    AUTH_DEVICE,       /* Authorization: Device <proof> (devproof.c), its jti claimed first */
    AUTH_DEVICE_JTI,   /* the same, but the handler claims the jti in its own statement */
    AUTH_DEVICE_POLL,  /* the same, the jti claimed without a write per poll (caller/pollclaim.h) */
};

typedef void (*handler_fn)(struct req *r);

struct route {
    unsigned methods; /* EVHTTP_REQ_* bits */
    const char *pattern;
    enum route_auth auth;
    bool json_body; /* the request must carry a JSON object */
    handler_fn handler;
};

/* Finds the route of table[0..n) for method+path. On no match returns NULL and
 * sets *allow to the methods the path does accept (0: unknown path -> 404, else
 * 405). params receive malloc'd captures on success. */
const struct route *router_match(const struct route *table, size_t n, unsigned method,
                                 const char *path, char *params[ROUTER_MAX_PARAMS],
                                 unsigned *allow);

/* "GET, HEAD, POST" for an Allow header. */
void router_allow_header(unsigned methods, char *buf, size_t n);

#endif
