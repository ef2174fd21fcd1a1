#include "devpoll.h"

#include "devproof.h"
#include "devknown.h"
#include "hold.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "challenge.h"

#include <stdlib.h>
#include <limits.h>
#include <string.h>

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

/* An uninterrupted read: what the device has pending, for its next poll. */
static void remember(struct hold *h, PGresult *res)
{
    struct server *srv = hold_req(h)->srv;
    int n = PQntuples(res);
    const char *ids[4];
    if (n > 4)
        return devknown_forget(srv->known, hold_key(h));
    for (int i = 0; i < n; i++)
        ids[i] = PQgetvalue(res, i, C_REQ);
    devknown_set(srv->known, hold_key(h), ids, n);
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
static json_t *challenge(struct hold *h, PGresult *res, int row)
{
    struct challenge_fields f = {
        .request_id = PQgetvalue(res, row, C_REQ),
        .device_id = hold_key(h),
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
    json_t *item = challenge_item(hold_req(h)->srv, &f);
    json_decref(f.message);
    json_decref(f.context);
    json_decref(f.transaction);
    return item;
}

/* Answers the poll with the challenges of res (NULL: none). */
static void reply_challenges(struct hold *h, PGresult *res)
{
    json_t *list = json_array();
    for (int i = 0; res && i < PQntuples(res); i++) {
        json_t *c = challenge(h, res, i);
        if (!c) { /* fail closed: never hand out an unsigned challenge */
            json_decref(list);
            return http_problem(hold_end(h), 500, "internal", "cannot sign a challenge");
        }
        json_array_append_new(list, c);
    }
    http_reply_json(hold_end(h), 200, json_pack("{s:o}", "challenges", list));
}

/* Nothing pending: held until a wake-up, else answered empty at its deadline. */
static void wait_for_challenge(struct hold *h)
{
    if (!hold_wait(h, LONG_MAX))
        reply_challenges(h, NULL);
}

static void on_rows(struct hold *h, PGresult *res)
{
    if (PQntuples(res) > 0 && strcmp(PQgetvalue(res, 0, C_STATUS), "active") != 0)
        return devproof_unauthorized(hold_end(h)); /* revoked while polling */
    /* no event for the device interrupted the read: its rows are current */
    if (!hold_dirty(h))
        remember(h, res);
    if (PQntuples(res) > 0)
        return reply_challenges(h, res);
    wait_for_challenge(h);
}

/* The deadline (or the stop) ran out; a read in flight answers instead. */
static void on_timeout(struct hold *h)
{
    if (!hold_reading(h))
        reply_challenges(h, NULL);
}

/* SIGTERM: a device should reconnect (to another instance) at once. */
static const struct hold_kind poll_kind = {
    .id = HOLD_DEVICE_POLL,
    .sql = "SELECT * FROM device_challenges($1)",
    .nparams = 1,
    .rows = on_rows,
    .timeout = on_timeout,
};

void devpoll_start(struct req *r, long wait_ms)
{
    /* registered before reading (or not reading): a wake-up still reaches it */
    struct hold *h = hold_new(r, &poll_kind, r->device_id, wait_ms);
    bool known_empty = devknown_empty(r->srv->known, r->device_id);
    metrics_poll(!known_empty);
    if (!known_empty)
        return hold_read(h);
    log_kv(LOG_DEBUG, "device poll held without a read", "deviceId", r->device_id, NULL);
    wait_for_challenge(h);
}

void devpoll_wake(struct server *srv, const char *device_id)
{
    devknown_forget(srv->known, device_id);
    hold_wake_key(srv, &poll_kind, device_id);
}

void devpoll_wake_all(struct server *srv)
{
    devknown_forget_all(srv->known);
    hold_wake_all(srv, &poll_kind);
}

static void deliver_one(struct hold *h, void *item)
{
    if (hold_reading(h)) /* its read may predate the challenge */
        return hold_wake(h);
    http_reply_json(hold_end(h), 200, json_pack("{s:[O]}", "challenges", (json_t *)item));
}

void devpoll_deliver(struct server *srv, const char *device_id, json_t *item)
{
    hold_each(srv, &poll_kind, device_id, deliver_one, item);
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
    return hold_registered(srv, &poll_kind, device_id);
}
