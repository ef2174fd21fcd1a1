#include "authcancel.h"

#include "alloc.h"
#include "authview.h"
#include "db.h"
#include "hmap.h"
#include "log.h"
#include "server.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_S 1

struct owed {
    struct server *srv;
    struct event *retry;
    authcancel_done_fn *done;
    struct timespec give_up; /* CLOCK_MONOTONIC: the request's expiry */
    char id[72];
};

static void send_cancel(struct owed *o);

static void owed_free(struct owed *o)
{
    hmap_remove(o->srv->owed_cancels, o->id, o);
    event_free(o->retry);
    free(o);
}

static bool past(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void on_cancelled(void *arg, enum db_status st, PGresult *res)
{
    struct owed *o = arg;
    if (st == DB_OK) {
        if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "ok") == 0) {
            json_t *body = authview_json(res, 0, 1);
            log_kv(LOG_INFO, "auth request cancelled: the application hung up", "requestId", o->id,
                   NULL);
            o->done(o->srv, o->id, body);
            json_decref(body);
        }
        return owed_free(o); /* cancelled, or decided before it could be */
    }
    if (past(&o->give_up)) {
        log_kv(LOG_WARN, "cannot cancel a request whose caller hung up: its expiry ends it",
               "requestId", o->id, NULL);
        return owed_free(o);
    }
    log_kv(LOG_DEBUG, "cancel of a hung-up request waits for the database", "requestId", o->id,
           NULL);
    struct timeval tv = {RETRY_S, 0};
    evtimer_add(o->retry, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    send_cancel(arg);
}

static void send_cancel(struct owed *o)
{
    const char *p[] = {o->id, NULL, o->srv->instance_id};
    db_query(o->srv->db, "SELECT o.outcome, (o.v).* FROM auth_cancel($1, $2, $3) o", 3, p,
             on_cancelled, o);
}

void authcancel_init(struct server *srv)
{
    srv->owed_cancels = hmap_new();
}

void authcancel_owe(struct server *srv, const char *request_id, const struct timespec *give_up,
                    authcancel_done_fn *done)
{
    struct owed *o = xcalloc(1, sizeof *o);
    o->srv = srv;
    o->give_up = *give_up;
    o->done = done;
    snprintf(o->id, sizeof o->id, "%s", request_id);
    o->retry = evtimer_new(srv->base, on_retry, o);
    hmap_add(srv->owed_cancels, o->id, o);
    send_cancel(o);
}

static void free_one(void *value, void *arg)
{
    (void)arg;
    struct owed *o = value;
    event_free(o->retry);
    free(o);
}

void authcancel_free_all(struct server *srv)
{
    hmap_each(srv->owed_cancels, free_one, NULL);
    hmap_free(srv->owed_cancels);
    srv->owed_cancels = NULL;
}
