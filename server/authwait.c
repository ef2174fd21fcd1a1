#include "authwait.h"

#include "authcancel.h"
#include "authearly.h"
#include "authview.h"
#include "db.h"
#include "hmap.h"
#include "hold.h"
#include "log.h"
#include "server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPIRY_GRACE_MS 20 /* read just after expires_at, not just before */

struct waiter {
    struct server *srv;
    struct req *r;
    struct hold *h; /* NULL while a read is in flight */
    char id[72];
    char *app; /* the caller's application; NULL: admin or sync */
    bool sync;
    bool reading; /* a read is in flight */
    bool dirty;   /* woken while reading: read again */
    bool draining;
    bool hungup; /* the client left while a read was in flight */
    struct timespec deadline;
};

static void start_read(struct waiter *w);
static const struct hold_ops waiter_ops;
static void finish(struct waiter *w, json_t *body);

static long ms_until(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

static void set_deadline(struct waiter *w, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, &w->deadline);
    w->deadline.tv_sec += ms / 1000;
    w->deadline.tv_nsec += (ms % 1000) * 1000000;
    if (w->deadline.tv_nsec >= 1000000000) {
        w->deadline.tv_sec++;
        w->deadline.tv_nsec -= 1000000000;
    }
}

/* Unregisters w and answers its client with the request's API object
 * (borrowed: each waiter takes its own reference). */
static void finish(struct waiter *w, json_t *body)
{
    log_kv(LOG_DEBUG, "auth waiter answered", "requestId", w->id, NULL);
    hmap_remove(w->srv->waiters, w->id, w);
    if (w->h)
        hold_end(w->h);
    free(w->app);
    if (body)
        http_reply_json(w->r, 200, json_incref(body));
    else
        http_unavailable(w->r);
    free(w);
}

static void drop(struct waiter *w)
{
    hmap_remove(w->srv->waiters, w->id, w);
    if (w->h)
        hold_end(w->h);
    free(w->app);
    free(w);
}

static void cancel_for_hangup(struct waiter *w);
static void settle(struct waiter *w, json_t *body, bool pending, long expiry);

static void on_read(void *arg, enum db_status st, PGresult *res)
{
    struct waiter *w = arg;
    w->reading = false;
    if (w->hungup)
        return cancel_for_hangup(w);
    if (st != DB_OK || PQntuples(res) != 1) {
        struct req *r = w->r;
        drop(w); /* fail closed: nothing but "unavailable" (or 404) */
        if (st == DB_OK)
            return http_problem(r, 404, "not_found", "no auth request with that id");
        return http_unavailable(r);
    }
    json_t *body = authview_json(res, 0, 0);
    bool pending = strcmp(PQgetvalue(res, 0, 1), "pending") == 0;
    long expiry = atol(PQgetvalue(res, 0, AUTHVIEW_NCOLS)) + EXPIRY_GRACE_MS;
    settle(w, body, pending, expiry);
    json_decref(body);
}

/* After a read: answer, read again, or (re)hold until the deadline. */
static void settle(struct waiter *w, json_t *body, bool pending, long expiry)
{
    if (!pending)
        return finish(w, body);
    if (w->dirty)
        return start_read(w);
    long left = ms_until(&w->deadline);
    if (left <= 0 && w->draining) {
        struct req *r = w->r;
        drop(w);
        return http_unavailable(r);
    }
    if (left <= 0)
        return finish(w, body); /* ?wait=N ran out: still pending */
    long ms = left < expiry ? left : expiry;
    if (w->h)
        hold_rearm(w->h, ms);
    else
        w->h = hold_start(w->r, ms, &waiter_ops, w);
}

/* A synchronous caller that leaves takes its request with it (api.md 5). */
static void cancel_for_hangup(struct waiter *w)
{
    struct req *r = w->r;
    if (w->sync)
        authcancel_owe(w->srv, w->id, &w->deadline);
    drop(w);
    http_abandon(r);
}

static void on_timeout(struct hold *h)
{
    struct waiter *w = hold_owner(h);
    if (w->reading)
        w->dirty = true;
    else
        start_read(w);
}

static void on_hangup(struct hold *h)
{
    struct waiter *w = hold_owner(h);
    if (w->reading)
        w->hungup = true;
    else
        cancel_for_hangup(w);
}

static void on_drain(struct hold *h)
{
    struct waiter *w = hold_owner(h);
    long drain_ms = w->srv->cfg->drain_seconds * 1000L;
    w->draining = true;
    if (ms_until(&w->deadline) > drain_ms)
        set_deadline(w, drain_ms);
    hold_rearm(h, ms_until(&w->deadline));
}

static const struct hold_ops waiter_ops = {on_timeout, on_hangup, on_drain};

static void start_read(struct waiter *w)
{
    log_kv(LOG_DEBUG, "auth waiter reads", "requestId", w->id, NULL);
    w->reading = true;
    w->dirty = false;
    const char *p[] = {w->id, w->app};
    db_query(w->srv->db, "SELECT (o.v).*, o.expires_in_ms FROM auth_read($1, $2) o", 2, p, on_read,
             w);
}

void authwait_hold(struct req *r, const char *request_id, long wait_ms)
{
    struct waiter *w = calloc(1, sizeof *w);
    w->srv = r->srv;
    w->r = r;
    w->app = r->caller == CALLER_APP ? strdup(r->app_id) : NULL;
    snprintf(w->id, sizeof w->id, "%s", request_id);
    set_deadline(w, wait_ms);
    hmap_add(r->srv->waiters, w->id, w); /* before reading: no decision slips between */
    start_read(w);
}

void authwait_resolve(struct server *srv, const char *request_id, json_t *body)
{
    size_t n = 0;
    struct waiter **all = (struct waiter **)hmap_take(srv->waiters, request_id, &n);
    if (n == 0)
        authearly_note(srv->early, request_id); /* its waiter may not be registered yet */
    for (size_t i = 0; i < n; i++) {
        if (all[i]->reading) { /* its read may predate the decision */
            log_kv(LOG_DEBUG, "auth waiter decided while reading", "requestId", request_id, NULL);
            all[i]->dirty = true;
            hmap_add(srv->waiters, request_id, all[i]);
        } else {
            finish(all[i], body);
        }
    }
    free(all);
}

static void recheck_one(void *value, void *arg)
{
    (void)arg;
    struct waiter *w = value;
    if (w->reading)
        w->dirty = true;
    else
        start_read(w);
}

void authwait_recheck(struct server *srv, const char *request_id)
{
    size_t n = 0;
    void **all = hmap_take(srv->waiters, request_id, &n);
    if (n == 0)
        authearly_note(srv->early, request_id);
    for (size_t i = 0; i < n; i++)
        hmap_add(srv->waiters, request_id, all[i]);
    for (size_t i = 0; i < n; i++)
        recheck_one(all[i], NULL);
    free(all);
}

void authwait_recheck_all(struct server *srv)
{
    size_t n = 0;
    void **all = hmap_values(srv->waiters, &n);
    for (size_t i = 0; i < n; i++)
        recheck_one(all[i], NULL);
    free(all);
}

void authwait_hold_pending(struct req *r, const char *request_id, long expires_in_ms)
{
    struct waiter *w = calloc(1, sizeof *w);
    w->srv = r->srv;
    w->r = r;
    w->sync = true;
    snprintf(w->id, sizeof w->id, "%s", request_id);
    log_kv(LOG_DEBUG, "auth waiter held", "requestId", w->id, NULL);
    set_deadline(w, expires_in_ms + 1000); /* the expiry read decides, not this */
    hmap_add(r->srv->waiters, w->id, w);
    w->h = hold_start(r, expires_in_ms + EXPIRY_GRACE_MS, &waiter_ops, w);
    if (authearly_take(r->srv->early, w->id)) /* decided before we got here: read it */
        start_read(w);
}
