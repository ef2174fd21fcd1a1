#include "devpoll.h"

#include "db.h"
#include "devauth.h"
#include "devknown.h"
#include "hmap.h"
#include "hold.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "challenge.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct poll {
    struct server *srv;
    struct req *r;
    struct hold *h; /* NULL until the first empty read */
    char device_id[72];
    bool reading, dirty, hungup;
    struct timespec deadline;
};

/* columns of device_challenges() */
enum {
    C_STATUS,
    C_REQ,
    C_APP_ID,
    C_APP_NAME,
    C_USER,
    C_TYPE,
    C_MSG,
    C_CTX,
    C_TX,
    C_VERIF,
    C_NONCE,
    C_IAT,
    C_EXP
};

static void start_read(struct poll *p);
static void hold_empty(struct poll *p);

/* An uninterrupted read: what the device has pending, for its next poll. */
static void remember(struct poll *p, PGresult *res)
{
    int n = PQntuples(res);
    const char *ids[4];
    if (n > 4)
        return devknown_forget(p->srv->known, p->device_id);
    for (int i = 0; i < n; i++)
        ids[i] = PQgetvalue(res, i, C_REQ);
    devknown_set(p->srv->known, p->device_id, ids, n);
}
static const struct hold_ops poll_ops;

static long ms_left(const struct poll *p)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (p->deadline.tv_sec - now.tv_sec) * 1000 + (p->deadline.tv_nsec - now.tv_nsec) / 1000000;
}

static void drop(struct poll *p)
{
    hmap_remove(p->srv->polls, p->device_id, p);
    if (p->h)
        hold_end(p->h);
    free(p);
}

static json_t *json_col(PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return json_null();
    json_t *v = json_loads(PQgetvalue(res, row, col), JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

static json_t *str_col(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

/* The challenge of one device_challenges() row, signed now. */
static json_t *challenge(struct poll *p, PGresult *res, int row)
{
    struct challenge_fields f = {
        .request_id = PQgetvalue(res, row, C_REQ),
        .device_id = p->device_id,
        .app_id = PQgetvalue(res, row, C_APP_ID),
        .app_name = PQgetvalue(res, row, C_APP_NAME),
        .username = PQgetvalue(res, row, C_USER),
        .type = PQgetvalue(res, row, C_TYPE),
        .verification = PQgetvalue(res, row, C_VERIF),
        .nonce = PQgetvalue(res, row, C_NONCE),
        .message = str_col(res, row, C_MSG),
        .context = json_col(res, row, C_CTX),
        .transaction = json_col(res, row, C_TX),
        .iat = atoll(PQgetvalue(res, row, C_IAT)),
        .exp = atoll(PQgetvalue(res, row, C_EXP)),
    };
    json_t *item = challenge_item(p->srv, &f);
    json_decref(f.message);
    json_decref(f.context);
    json_decref(f.transaction);
    return item;
}

/* Answers a held poll with one challenge item (stolen). */
static void reply_item(struct poll *p, json_t *item)
{
    struct req *r = p->r;
    drop(p);
    http_reply_json(r, 200, json_pack("{s:[o]}", "challenges", item));
}

static void reply_challenges(struct poll *p, PGresult *res)
{
    struct req *r = p->r;
    json_t *list = json_array();
    for (int i = 0; res && i < PQntuples(res); i++) {
        json_t *c = challenge(p, res, i);
        if (!c) { /* fail closed: never hand out an unsigned challenge */
            json_decref(list);
            drop(p);
            return http_problem(r, 500, "internal", "cannot sign a challenge");
        }
        json_array_append_new(list, c);
    }
    drop(p);
    http_reply_json(r, 200, json_pack("{s:o}", "challenges", list));
}

static void on_read(void *arg, enum db_status st, PGresult *res)
{
    struct poll *p = arg;
    p->reading = false;
    struct req *r = p->r;
    if (p->hungup) {
        drop(p);
        return http_abandon(r);
    }
    if (st != DB_OK) {
        drop(p);
        return http_unavailable(r);
    }
    if (PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, C_STATUS), "active") != 0) {
        drop(p); /* revoked while polling */
        return devauth_unauthorized(r);
    }
    if (!p->dirty) /* no event for the device interrupted the read */
        remember(p, res);
    if (PQntuples(res) > 0)
        return reply_challenges(p, res);
    if (p->dirty)
        return start_read(p);
    hold_empty(p);
}

/* Nothing pending: hold the poll until a wake-up or its deadline. */
static void hold_empty(struct poll *p)
{
    struct req *r = p->r;
    long left = ms_left(p);
    if (left <= 0 || p->srv->draining)
        return reply_challenges(p, NULL);
    if (p->h)
        hold_rearm(p->h, left);
    else
        p->h = hold_start(r, left, &poll_ops, p);
}

static void start_read(struct poll *p)
{
    p->reading = true;
    p->dirty = false;
    const char *params[] = {p->device_id};
    db_query(p->srv->db, "SELECT * FROM device_challenges($1)", 1, params, on_read, p);
}

static void wake(struct poll *p)
{
    if (p->reading)
        p->dirty = true;
    else
        start_read(p);
}

static void on_timeout(struct hold *h)
{
    struct poll *p = hold_owner(h);
    if (!p->reading)
        reply_challenges(p, NULL);
}

static void on_hangup(struct hold *h)
{
    struct poll *p = hold_owner(h);
    if (p->reading) {
        p->hungup = true;
        return;
    }
    struct req *r = p->r;
    drop(p);
    http_abandon(r);
}

/* SIGTERM: a device should reconnect (to another instance) at once */
static void on_drain(struct hold *h)
{
    struct poll *p = hold_owner(h);
    if (!p->reading)
        reply_challenges(p, NULL);
}

static const struct hold_ops poll_ops = {on_timeout, on_hangup, on_drain};

void devpoll_start(struct req *r, long wait_ms)
{
    struct poll *p = calloc(1, sizeof *p);
    p->srv = r->srv;
    p->r = r;
    snprintf(p->device_id, sizeof p->device_id, "%s", r->device_id);
    clock_gettime(CLOCK_MONOTONIC, &p->deadline);
    p->deadline.tv_sec += wait_ms / 1000;
    p->deadline.tv_nsec += (wait_ms % 1000) * 1000000;
    if (p->deadline.tv_nsec >= 1000000000) {
        p->deadline.tv_sec++;
        p->deadline.tv_nsec -= 1000000000;
    }
    hmap_add(r->srv->polls, p->device_id, p);
    bool known_empty = devknown_empty(r->srv->known, p->device_id);
    metrics_poll(!known_empty);
    if (known_empty) { /* no read: registered, so a wake-up still reaches it */
        log_kv(LOG_DEBUG, "device poll held without a read", "deviceId", p->device_id, NULL);
        return hold_empty(p);
    }
    start_read(p);
}

void devpoll_wake(struct server *srv, const char *device_id)
{
    devknown_forget(srv->known, device_id);
    size_t n = 0;
    void **all = hmap_take(srv->polls, device_id, &n);
    for (size_t i = 0; i < n; i++)
        hmap_add(srv->polls, device_id, all[i]);
    for (size_t i = 0; i < n; i++)
        wake(all[i]);
    free(all);
}

void devpoll_wake_all(struct server *srv)
{
    devknown_forget_all(srv->known);
    size_t n = 0;
    void **all = hmap_values(srv->polls, &n);
    for (size_t i = 0; i < n; i++)
        wake(all[i]);
    free(all);
}

void devpoll_deliver(struct server *srv, const char *device_id, json_t *item)
{
    size_t n = 0;
    void **all = hmap_take(srv->polls, device_id, &n);
    for (size_t i = 0; i < n; i++)
        hmap_add(srv->polls, device_id, all[i]);
    for (size_t i = 0; i < n; i++) {
        struct poll *p = all[i];
        if (p->reading || !p->h)
            wake(p); /* its read may predate the challenge */
        else
            reply_item(p, json_incref(item));
    }
    free(all);
}

void devpoll_created(struct server *srv, const char *device_id, const char *request_id)
{
    devknown_add(srv->known, device_id, request_id);
}

void devpoll_decided(struct server *srv, const char *device_id, const char *request_id)
{
    devknown_remove(srv->known, device_id, request_id);
}

bool devpoll_waiting(struct server *srv, const char *device_id)
{
    return hmap_has(srv->polls, device_id);
}
