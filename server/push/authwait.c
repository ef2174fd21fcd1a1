#include "authwait.h"

#include "alloc.h"
#include "authcancel.h"
#include "authearly.h"
#include "authview.h"
#include "hold.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>

#define EXPIRY_GRACE_MS 20 /* read just after expires_at, not just before */

/* What a waiter keeps besides its hold (key: the request id). */
struct waiter {
    char *app; /* the caller's application; NULL: admin or sync */
    bool sync; /* a synchronous POST /auth: hanging up cancels the request */
};

static struct waiter *waiter_of(struct hold *h)
{
    return hold_data(h);
}

/* Answers the client with the request's API object (borrowed: each waiter
 * takes its own reference), or 503 when there is none. */
static void finish(struct hold *h, json_t *body)
{
    if (body)
        http_reply_json(hold_end(h), 200, json_incref(body));
    else
        http_unavailable(hold_end(h));
}

/* After a read of a pending request: read again, or hold until the deadline
 * (or the request's expiry, when its expiry read decides). */
static void settle_pending(struct hold *h, json_t *body, long expiry)
{
    if (hold_wait(h, expiry))
        return;
    if (hold_draining(h))
        return http_unavailable(hold_end(h));
    finish(h, body); /* ?wait=N ran out: still pending */
}

/* A read of the request (404 when it is not the caller's). */
static void on_rows(struct hold *h, PGresult *res)
{
    if (PQntuples(res) != 1)
        return http_problem(hold_end(h), 404, "not_found", "no auth request with that id");
    json_t *body = authview_json(res, 0, 0);
    long expiry = atol(PQgetvalue(res, 0, AUTHVIEW_NCOLS)) + EXPIRY_GRACE_MS;
    if (strcmp(PQgetvalue(res, 0, 1), "pending") == 0)
        settle_pending(h, body, expiry);
    else
        finish(h, body);
    json_decref(body);
}

static void read_params(struct hold *h, const char *p[])
{
    p[1] = waiter_of(h)->app;
}

/* A synchronous caller that leaves takes its request with it (api.md 5). */
static void on_hangup(struct hold *h)
{
    if (waiter_of(h)->sync)
        authcancel_owe(hold_req(h)->srv, hold_key(h), hold_deadline(h), authwait_resolve);
}

static void on_release(struct hold *h)
{
    free(waiter_of(h)->app);
}

/* The timer is the deadline or the request's expiry: either way, read. */
static const struct hold_kind waiter_kind = {
    .id = HOLD_AUTH_WAITER,
    .data_size = sizeof(struct waiter),
    .drain_waits = true,
    .sql = "SELECT (o.v).*, o.expires_in_ms FROM auth_read($1, $2) o",
    .nparams = 2,
    .params = read_params,
    .rows = on_rows,
    .timeout = hold_wake,
    .hangup = on_hangup,
    .release = on_release,
};

bool authwait_admit(struct req *r)
{
    return hold_admit(r, r->caller == CALLER_APP);
}

void authwait_hold(struct req *r, const char *request_id, long wait_ms)
{
    if (wait_ms > 0 && !authwait_admit(r))
        return; /* refused: answered */
    /* registered before reading: no decision slips between */
    struct hold *h = hold_new(r, &waiter_kind, request_id, wait_ms);
    waiter_of(h)->app = r->caller == CALLER_APP ? xstrdup(r->app_id) : NULL;
    hold_read(h);
}

void authwait_hold_pending(struct req *r, const char *request_id, long expires_in_ms)
{
    /* the deadline is past the expiry: the expiry read decides, not the deadline */
    struct hold *h = hold_new(r, &waiter_kind, request_id, expires_in_ms + 1000);
    waiter_of(h)->sync = true;
    bool early = authearly_take(r->srv->early, request_id); /* decided before we got here */
    /* a stop with no drain period leaves no time to wait: the read answers */
    if (!hold_wait(h, expires_in_ms + EXPIRY_GRACE_MS) || early)
        hold_read(h);
}

static void resolve_one(struct hold *h, void *body)
{
    if (hold_reading(h)) /* its read may predate the decision */
        hold_wake(h);
    else
        finish(h, body);
}

void authwait_resolve(struct server *srv, const char *request_id, json_t *body)
{
    if (hold_each(srv, &waiter_kind, request_id, resolve_one, body) == 0)
        authearly_note(srv->early, request_id); /* its waiter may not be registered yet */
}

void authwait_recheck(struct server *srv, const char *request_id)
{
    if (hold_wake_key(srv, &waiter_kind, request_id) == 0)
        authearly_note(srv->early, request_id);
}

void authwait_recheck_all(struct server *srv)
{
    hold_wake_all(srv, &waiter_kind);
}
