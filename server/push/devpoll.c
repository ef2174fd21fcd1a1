#include "devpoll.h"

#include "alloc.h"
#include "db.h"
#include "dbbatch.h"
#include "devproof.h"
#include "devknown.h"
#include "hold.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "challenge.h"

#include <stdio.h>
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
    C_EXP,
    C_JWS /* the JWS stored at its first handout, or NULL */
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

/* The challenge of one device_challenges() row, signed now (a candidate:
 * see store_fresh). malloc'd JWS, or NULL when signing failed. */
static char *sign_row(struct hold *h, PGresult *res, int row)
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
    char *jws = challenge_sign(hold_req(h)->srv, &f);
    json_decref(f.message);
    json_decref(f.context);
    json_decref(f.transaction);
    return jws;
}

/* One poll's answer: its challenges, while the new JWSs among them are
 * stored (only a stored JWS is ever handed out: the answer's chal and the
 * auth object's challenge are checked against it, sql/030). */
struct handout {
    struct req *r;
    int n, waiting; /* rows; stores still in flight */
    bool failed;    /* a store failed: the poll gets 503 */
    enum db_status failure;
    char **ids, **jws; /* per row; jws[i] NULL: not stored (yet) */
    bool *fresh;       /* per row: signed now, a candidate until stored */
};

/* One row's store in flight. */
struct store {
    struct handout *o;
    int row;
};

static void handout_free(struct handout *o)
{
    for (int i = 0; i < o->n; i++) {
        free(o->ids[i]);
        free(o->jws[i]);
    }
    free(o->ids);
    free(o->jws);
    free(o->fresh);
    free(o);
}

/* Answers with every row whose JWS is stored; frees o. */
static void handout_reply(struct handout *o)
{
    if (o->failed) { /* fail closed: hand out nothing unstored */
        http_db_failure(o->r, o->failure);
        return handout_free(o);
    }
    json_t *list = json_array();
    for (int i = 0; i < o->n; i++)
        if (o->jws[i])
            json_array_append_new(
                list, json_pack("{s:s, s:s}", "requestId", o->ids[i], "challenge", o->jws[i]));
    devproof_reply_claimed(o->r, json_pack("{s:o}", "challenges", list));
    handout_free(o);
}

/* The stored JWS replaces the candidate (the same one, unless another
 * handout stored first); a challenge gone meanwhile has no row and is left out. */
static void on_stored(void *arg, enum db_status st, PGresult *res)
{
    struct store *s = arg;
    struct handout *o = s->o;
    free(o->jws[s->row]);
    o->jws[s->row] = NULL;
    if (st != DB_OK) {
        o->failed = true;
        o->failure = st;
    } else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        o->jws[s->row] = xstrdup(PQgetvalue(res, 0, 0));
    free(s);
    if (--o->waiting == 0)
        handout_reply(o);
}

/* Stores of challenge JWSs queued at the same moment (by polls and by the
 * deliveries after a create) share one statement and one commit. */
static const struct db_batch store_batch = {
    "SELECT s.jws, s.i FROM challenge_store_batch($1, $2, $3) s", DB_BATCH_MAX};

/* Stores a JWS for (device, request) unless one is stored; cb gets the stored one. */
static void store_jws(struct server *srv, const char *device_id, const char *request_id,
                      const char *jws, db_cb cb, void *arg)
{
    const char *p[] = {device_id, request_id, jws};
    db_query_batch(srv->db, &store_batch,
                   "SELECT s.jws FROM challenge_store_batch(ARRAY[$1::text], ARRAY[$2::text], "
                   "ARRAY[$3::text]) s",
                   3, p, cb, arg);
}

/* Stores the rows signed now (the first JWS stored wins), then answers with
 * what is stored. */
static void store_fresh(struct handout *o, const char *device_id)
{
    for (int i = 0; i < o->n; i++)
        o->waiting += o->fresh[i];
    for (int i = 0; i < o->n; i++) {
        if (!o->fresh[i])
            continue;
        struct store *s = xcalloc(1, sizeof *s);
        s->o = o;
        s->row = i;
        store_jws(o->r->srv, device_id, o->ids[i], o->jws[i], on_stored, s);
    }
}

/* Answers the poll with the challenges of res: the stored JWS of each, and
 * for those never handed out, one signed now and stored first. */
static void reply_challenges(struct hold *h, PGresult *res)
{
    int n = PQntuples(res);
    struct handout *o = xcalloc(1, sizeof *o);
    o->n = n;
    o->ids = xcalloc((size_t)n, sizeof *o->ids);
    o->jws = xcalloc((size_t)n, sizeof *o->jws);
    o->fresh = xcalloc((size_t)n, sizeof *o->fresh);
    bool any = false;
    for (int i = 0; i < n; i++) {
        o->ids[i] = xstrdup(PQgetvalue(res, i, C_REQ));
        if (!PQgetisnull(res, i, C_JWS)) {
            o->jws[i] = xstrdup(PQgetvalue(res, i, C_JWS));
            continue;
        }
        if (!(o->jws[i] = sign_row(h, res, i))) { /* fail closed: never unsigned */
            handout_free(o);
            return http_problem(hold_end(h), 500, "internal", "cannot sign a challenge");
        }
        o->fresh[i] = any = true;
    }
    char *device_id = xstrdup(hold_key(h));
    o->r = hold_end(h);
    if (any)
        store_fresh(o, device_id);
    else
        handout_reply(o);
    free(device_id);
}

/* A poll's own fields. */
struct poll {
    bool no_place; /* the process's cap is reached: read once, 503 if nothing is pending */
};

static void reply_empty(struct hold *h)
{
    struct poll *p = hold_data(h);
    if (p->no_place)
        return hold_refuse(hold_end(h), HOLD_FULL);
    devproof_reply_idle(hold_end(h), json_pack("{s:[]}", "challenges"));
}

/* Nothing pending: held until a wake-up, else answered empty at its deadline. */
static void wait_for_challenge(struct hold *h)
{
    if (!hold_wait(h, LONG_MAX))
        reply_empty(h);
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
        reply_empty(h);
}

/* SIGTERM: a device should reconnect (to another instance) at once. */
static const struct hold_kind poll_kind = {
    .id = HOLD_DEVICE_POLL,
    .data_size = sizeof(struct poll),
    .sql = "SELECT * FROM device_challenges($1)",
    .nparams = 1,
    .rows = on_rows,
    .timeout = on_timeout,
};

void devpoll_start(struct req *r, long wait_ms)
{
    /* a poll that may wait takes a place; without one it still gets what is pending
     * (the answers to held requests must get through a full server) */
    bool no_place = wait_ms > 0 && hold_try_admit(r, false) != HOLD_ADMITTED;
    bool known_empty = devknown_empty(r->srv->known, r->device_id);
    if (no_place && known_empty)
        return hold_refuse(r, HOLD_FULL);
    /* registered before reading (or not reading): a wake-up still reaches it */
    struct hold *h = hold_new(r, &poll_kind, r->device_id, no_place ? 0 : wait_ms);
    ((struct poll *)hold_data(h))->no_place = no_place;
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

/* The devices that a lost announcement may concern: a pending challenge, or not
 * active any more (revoked, removed). One statement for all of them, because
 * waking every held poll is a read each: 16,000 in a worker of bench B5, which
 * overran the database queue and turned one late heartbeat into 503s for every
 * device and a storm of re-polls (docs/benchmarks.md, "A late heartbeat"). */
static const char recheck_sql[] =
    "SELECT d.id FROM (SELECT DISTINCT value AS id FROM json_array_elements_text($1::json)) d"
    " WHERE NOT EXISTS (SELECT 1 FROM devices v WHERE v.id = d.id AND v.status = 'active')"
    "    OR EXISTS (SELECT 1 FROM auth_challenges c JOIN auth_requests a ON a.id = c.request_id"
    "                WHERE c.device_id = d.id AND c.expires_at > now()"
    "                  AND a.status = 'pending')";

static void add_device(const char *device, void *arg)
{
    json_array_append_new(arg, json_string(device));
}

static void on_recheck(void *arg, enum db_status st, PGresult *res)
{
    struct server *srv = arg;
    if (st != DB_OK) {
        log_kv(LOG_WARN, "checking held polls failed; reading each", NULL);
        return devpoll_wake_all(srv);
    }
    for (int i = 0; i < PQntuples(res); i++)
        devpoll_wake(srv, PQgetvalue(res, i, 0));
    char n[24];
    snprintf(n, sizeof n, "%d", PQntuples(res));
    log_kv(LOG_INFO, "held polls checked again", "woken", n, NULL);
}

void devpoll_recheck_all(struct server *srv)
{
    json_t *ids = json_array();
    hold_each_key(srv, &poll_kind, add_device, ids);
    devknown_each(srv->known, add_device, ids);
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        return;
    }
    char *text = json_dumps(ids, JSON_COMPACT);
    json_decref(ids);
    const char *p[] = {text};
    db_query(srv->db, recheck_sql, 1, p, on_recheck, srv);
    free(text);
}

static void deliver_one(struct hold *h, void *item)
{
    if (hold_reading(h)) /* its read may predate the challenge */
        return hold_wake(h);
    devproof_reply_claimed(hold_end(h), json_pack("{s:[O]}", "challenges", (json_t *)item));
}

/* A challenge signed at its creation, on its way to the device's held polls. */
struct offer {
    struct server *srv;
    char *device_id, *request_id;
};

static void on_offer_stored(void *arg, enum db_status st, PGresult *res)
{
    struct offer *o = arg;
    if (st != DB_OK) /* the polls read and sign (and store) for themselves */
        devpoll_wake(o->srv, o->device_id);
    else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) { /* else: gone meanwhile */
        json_t *item =
            json_pack("{s:s, s:s}", "requestId", o->request_id, "challenge", PQgetvalue(res, 0, 0));
        hold_each(o->srv, &poll_kind, o->device_id, deliver_one, item);
        json_decref(item);
    }
    free(o->device_id);
    free(o->request_id);
    free(o);
}

void devpoll_deliver(struct server *srv, const char *device_id, json_t *item)
{
    struct offer *o = xcalloc(1, sizeof *o);
    o->srv = srv;
    o->device_id = xstrdup(device_id);
    o->request_id = xstrdup(json_string_value(json_object_get(item, "requestId")));
    store_jws(srv, device_id, o->request_id, json_string_value(json_object_get(item, "challenge")),
              on_offer_stored, o);
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
