/* listreq: what every list request of api.md 11 has in common, and which
 * application an admin's action is about (docs/integration.md "Lists").
 *
 * A list's query may carry limit (1-200, default 50), cursor, applicationId
 * and the list's own filters, nothing else (400 invalid_request).
 *
 * Scope. An application lists its own objects: the scope comes from its
 * credential, never from the query or the cursor. Its ?applicationId= can
 * only narrow: naming another application gives an empty page (as if no such
 * application existed). The admin lists every application's objects, or one
 * application's with ?applicationId= (an unknown one: an empty page).
 *
 * Cursors: the position (time in microseconds, id) of the previous page's last
 * item, with an HMAC-SHA256 (truncated to 128 bits) under a key derived from
 * the master key (keys_derive, "pushgate list cursor v1") over the position
 * and what it is bound to: the list, the caller (the application, or the
 * admin), the scope and every filter. A cursor presented with anything else
 * (another application, other filters, edited bytes) is 400 invalid_request:
 * it can neither widen the scope (the scope is applied from the credential
 * anyway) nor probe positions of rows of another list. */
#ifndef PUSHGATE_LISTREQ_H
#define PUSHGATE_LISTREQ_H

#include "http.h"

#include <stdbool.h>
#include <stddef.h>

#define LISTREQ_MAX_FILTERS 4
#define LISTREQ_DEFAULT_LIMIT 50
#define LISTREQ_MAX_LIMIT 200

struct listreq {
    const char *list; /* "registrations", ... (bound into cursors) */
    const char *app;  /* the scope: an application's id, or NULL (the admin: all) */
    bool empty;       /* the page is empty whatever the database holds */
    const char *filter[LISTREQ_MAX_FILTERS]; /* raw values of the filter names, or NULL */
    int limit;
    bool after;     /* a cursor was given: continue after (at_us, id) */
    char at_us[24]; /* decimal microseconds since the epoch */
    char id[72];
};

/* Reads r's query for the list named `list` whose filters are names[0..n)
 * (n <= LISTREQ_MAX_FILTERS): checks every parameter's name and encoding, the
 * limit, applicationId and the cursor (against this request's binding). The
 * filters' values are the caller's to check. false: answered 400. */
bool listreq_parse(struct req *r, const char *list, const char *const *names, size_t n,
                   struct listreq *out);

/* The cursor of the position (at_us, id), bound like l: malloc'd. */
char *listreq_cursor(const struct req *r, const struct listreq *l, const char *at_us,
                     const char *id);

/* Answers 200 {"items": items, "nextCursor": next or null}; steals items, frees next. */
void listreq_reply(struct req *r, json_t *items, char *next);

/* RFC 3339 date-time ("2026-12-01T10:00:00Z", fractions and offsets allowed) as
 * microseconds since the epoch; false when s is not one. */
bool listreq_time(const char *s, long long *us);

/* The application an action acts on (POST /users/{u}/unlock, the DELETEs):
 * an application's own; the admin's ?applicationId= (NULL when absent and not
 * required). Answers and returns false on a malformed id, on an admin without
 * a required one (400), and on an application naming another (404 with
 * code and detail, as for an unknown object). */
bool listreq_target_app(struct req *r, bool required, const char *code, const char *detail,
                        const char **app);

#endif
