/* Push approval for applications (api.md 5): POST /auth (held, or 202 with
 * Prefer: respond-async), GET /auth/{id}?wait=N, DELETE /auth/{id}. */
#include "authview.h"
#include "authwait.h"
#include "challenge.h"
#include "db.h"
#include "dbbatch.h"
#include "devpoll.h"
#include "h_auth.h"
#include "idem.h"
#include "listreq.h"
#include "log.h"
#include "pgarray.h"
#include "problem.h"
#include "push_body.h"
#include "server.h"
#include "protocol/token.h"
#include "valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Columns of the create statements' SELECT lists (below): the function's own,
 * then the auth view (authview.h; its fields are read by name, v_*, as is
 * pending_id, after the view). */
enum { CREATED_OUTCOME, CREATED_RETRY_AFTER, CREATED_DEVICES, CREATED_NONCES, CREATED_VIEW };
/* ...and of auth_cancel's: outcome, then the view. */
enum { CANCELLED_OUTCOME, CANCELLED_VIEW };

/* Prefer: respond-async (RFC 7240) asks for the asynchronous mode (api.md 5.1). */
static bool prefers_async(const struct req *r)
{
    const char *prefer = http_header(r, "Prefer");
    return prefer && strcasestr(prefer, "respond-async");
}

static json_t *field_or_null(const json_t *body, const char *key)
{
    json_t *v = json_object_get(body, key);
    return v ? v : json_null();
}

/* A field of the created request's auth view, by name ("v_username"). */
static const char *view_field(const PGresult *res, const char *name)
{
    int col = PQfnumber(res, name);
    return col < 0 ? "" : PQgetvalue(res, 0, col);
}

/* Tells the polls of the challenged devices that wait on this instance, and
 * hands them the challenge signed now -- no read back from the database. */
static void deliver_to(struct req *r, struct challenge_fields *f, const char *device,
                       const char *nonce)
{
    devpoll_created(r->srv, device, f->request_id);
    if (!devpoll_waiting(r->srv, device))
        return;
    f->device_id = device;
    f->nonce = nonce;
    json_t *item = challenge_item(r->srv, f);
    if (item)
        devpoll_deliver(r->srv, device, item);
    else
        devpoll_wake(r->srv, device); /* signing failed: let the poll read and sign */
    json_decref(item);
}

/* The challenged devices and their nonces come as two text[] of one length. */
static void deliver_challenges(struct req *r, PGresult *res, const json_t *view)
{
    const char *type = "authentication", *verification = NULL;
    json_unpack(r->body, "{s?s, s?s}", "type", &type, "verification", &verification);
    struct challenge_fields f = {
        .request_id = json_string_value(json_object_get(view, "requestId")),
        .app_id = r->app_id,
        .app_name = r->app_name,
        .username = view_field(res, "v_username"),
        .type = type,
        .verification = verification                ? verification
                        : r->srv->cfg->require_code ? "code"
                                                    : "none",
        .message = field_or_null(r->body, "message"),
        .context = field_or_null(r->body, "context"),
        .transaction = field_or_null(r->body, "transaction"),
        .iat = atoll(view_field(res, "v_created")),
        .exp = atoll(view_field(res, "v_expires")),
    };
    struct pgarray devs, nonces;
    int a = pgarray_parse(PQgetvalue(res, 0, CREATED_DEVICES), &devs);
    int b = pgarray_parse(PQgetvalue(res, 0, CREATED_NONCES), &nonces);
    if (a < 0 || b < 0 || devs.n != nonces.n)
        log_kv(LOG_ERROR, "auth_create: unexpected devices/nonces", "request",
               f.request_id ? f.request_id : "-", NULL);
    for (size_t i = 0; i < devs.n && i < nonces.n; i++)
        deliver_to(r, &f, devs.items[i], nonces.items[i]);
    pgarray_free(&devs);
    pgarray_free(&nonces);
}

/* 429 rate_limited with Retry-After. Refused for the user's pending request
 * (pending non-empty): the body names it, so that the application can wait on it
 * or cancel it (api.md 5.3); the back-off's 429 has no such member. */
static void reply_rate_limited(struct req *r, const char *pending, int retry)
{
    if (!*pending)
        return http_problem_retry(r, 429, "rate_limited", "too many push requests for this user",
                                  retry);
    json_t *p = problem_new(429, "rate_limited", "the user has a pending push request");
    json_object_set_new(p, "pendingRequestId", json_string(pending));
    char *text = json_dumps(p, JSON_COMPACT); /* an object: NULL only on OOM, which aborts */
    json_decref(p);
    char v[16];
    snprintf(v, sizeof v, "%d", retry > 0 ? retry : 1);
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Retry-After", v);
    http_reply_raw(r, 429, "application/problem+json", text, strlen(text));
    free(text);
}

/* 202 with Location (api.md 5.1): the first call's request, as it is now. */
static void reply_async(struct req *r, json_t *body)
{
    char loc[96];
    snprintf(loc, sizeof loc, "/auth/%s", json_string_value(json_object_get(body, "requestId")));
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Location", loc);
    http_reply_json(r, 202, body);
}

/* A retry with the first call's Idempotency-Key and body: no second request.
 * Asynchronous: the request's current state; held: waits on that request,
 * decided here or on a peer, like GET /auth/{id}?wait (the same body holds
 * the same timeout, so its expiry comes first and answers). */
static void on_auth_replayed(struct req *r, PGresult *res)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Idempotent-Replayed", "true");
    json_t *body = authview_json(res, 0, CREATED_VIEW);
    if (prefers_async(r))
        return reply_async(r, body);
    json_int_t timeout = 60;
    json_unpack(r->body, "{s?I}", "timeout", &timeout);
    authwait_hold(r, view_field(res, "v_id"), ((long)timeout + 1) * 1000);
    json_decref(body);
}

static void on_auth_created(void *arg, enum db_status st, PGresult *res)
{
    struct req *r = arg;
    if (st != DB_OK || PQntuples(res) != 1)
        return http_db_failure(r, st);
    const char *outcome = PQgetvalue(res, 0, CREATED_OUTCOME);
    int retry = atoi(PQgetvalue(res, 0, CREATED_RETRY_AFTER));
    if (!strcmp(outcome, "user_not_found"))
        return http_problem(r, 404, "user_not_found", "no user of that name");
    if (!strcmp(outcome, "no_active_device"))
        return http_problem(r, 409, "no_active_device", "the user has no active device");
    if (!strcmp(outcome, "locked"))
        return http_problem_retry(r, 423, "locked", "pushes to this user are locked", retry);
    if (!strcmp(outcome, "rate_limited"))
        return reply_rate_limited(r, view_field(res, "pending_id"), retry);
    if (!strcmp(outcome, "idempotency_key_reused"))
        return http_problem(r, 422, "idempotency_key_reused",
                            "this Idempotency-Key was sent with a different body");
    if (!strcmp(outcome, "replay"))
        return on_auth_replayed(r, res);
    json_t *body = authview_json(res, 0, CREATED_VIEW);
    deliver_challenges(r, res, body);
    const char *id = json_string_value(json_object_get(body, "requestId"));
    if (prefers_async(r))
        return reply_async(r, body);
    json_int_t timeout = 60;
    json_unpack(r->body, "{s?I}", "timeout", &timeout);
    authwait_hold_pending(r, id, (long)timeout * 1000);
    json_decref(body);
}

/* api.md 10: behind a trusted proxy, context.ipAddress defaults to the client's
 * address as the proxy saw it. Only then: without one, the address is the
 * application's own server, which a user would misread as where the sign-in came
 * from. Runs after the idempotency hash, so a retry is the same call whichever
 * path it takes; the body's context is what the challenge and the row carry. */
static void default_ip_address(struct req *r, struct auth_input *in)
{
    if (!http_client_forwarded(r) || json_object_get(in->context, "ipAddress"))
        return;
    if (!in->context) {
        in->context = json_object();
        json_object_set_new(r->body, "context", in->context);
    }
    json_object_set_new(in->context, "ipAddress", json_string(http_client_address(r)));
}

/* Creates that queue for a connection share one statement and one commit. */
static const struct db_batch create_batch = {
    "SELECT o.outcome, o.retry_after, o.devices, o.nonces, (o.v).*, o.pending_id, o.i "
    "FROM auth_create_batch($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) o",
    DB_BATCH_MAX};

void h_auth_create(struct req *r)
{
    struct auth_input in = {0};
    in.async = prefers_async(r);
    const char *why = auth_body_check(r->body, r->srv->cfg->require_code, &in);
    if (why)
        return http_bad_request(r, why);
    const char *key = NULL;
    char hash[65];
    int idem = idem_read(r, "POST /auth", &key, hash);
    if (idem < 0)
        return;
    default_ip_address(r, &in);
    /* a held call takes its place before its request exists: refused, nothing is written */
    if (!in.async && !authwait_admit(r))
        return;
    char *id = token_new_id("q_", 12);
    char *ctx = in.context ? json_dumps(in.context, JSON_COMPACT) : NULL;
    char *tx = in.transaction ? json_dumps(in.transaction, JSON_COMPACT) : NULL;
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%lld", (long long)in.timeout);
    const char *p[] = {key,        hash,
                       r->app_id,  in.username,
                       id,         in.type,
                       in.message, ctx,
                       tx,         in.verification,
                       in.code,    in.async ? "true" : "false",
                       timeout,    r->srv->instance_id};
    if (idem) /* its own statement: the batch path stays as it was without the header */
        db_query(r->srv->db,
                 "SELECT o.outcome, o.retry_after, o.devices, o.nonces, (o.v).*, o.pending_id "
                 "FROM auth_create_idem($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) o",
                 14, p, on_auth_created, r);
    else
        db_query_batch(
            r->srv->db, &create_batch,
            "SELECT o.outcome, o.retry_after, o.devices, o.nonces, (o.v).*, o.pending_id "
            "FROM auth_create($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) o",
            12, p + 2, on_auth_created, r);
    free(id);
    free(ctx);
    free(tx);
}

void h_auth_get(struct req *r)
{
    const char *w = http_query(r, "wait");
    char *end = NULL;
    long wait = w ? strtol(w, &end, 10) : 0;
    if (w && (end == w || *end || wait < 0 || wait > 60))
        return http_bad_request(r, "wait must be an integer from 0 to 60");
    if (!valid_id(r->params[0]))
        return http_problem(r, 404, "not_found", "no auth request with that id");
    authwait_hold(r, r->params[0], wait * 1000);
}

static void on_cancelled(void *arg, enum db_status st, PGresult *res)
{
    struct req *r = arg;
    if (st != DB_OK || PQntuples(res) != 1)
        return http_db_failure(r, st);
    const char *outcome = PQgetvalue(res, 0, CANCELLED_OUTCOME);
    if (!strcmp(outcome, "not_found"))
        return http_problem(r, 404, "not_found", "no auth request with that id");
    if (!strcmp(outcome, "already_decided"))
        return http_problem(r, 409, "already_decided", "the request is no longer pending");
    json_t *body = authview_json(res, 0, CANCELLED_VIEW);
    authwait_resolve(r->srv, r->params[0], body);
    http_reply_json(r, 200, body);
}

/* The admin may cancel any application's request (api.md 11), or only one
 * application's with ?applicationId=; audited as admin.auth_cancelled (sql/041). */
void h_auth_cancel(struct req *r)
{
    const char *app;
    if (!listreq_target_app(r, false, "not_found", "no auth request with that id", &app))
        return;
    if (!valid_id(r->params[0]))
        return http_problem(r, 404, "not_found", "no auth request with that id");
    const char *p[] = {r->params[0], app, r->srv->instance_id};
    db_query(r->srv->db,
             r->caller == CALLER_ADMIN
                 ? "SELECT o.outcome, (o.v).* FROM auth_cancel_admin($1, $2, $3) o"
                 : "SELECT o.outcome, (o.v).* FROM auth_cancel($1, $2, $3) o",
             3, p, on_cancelled, r);
}
