/* The device channel (api.md 6): long-poll, signed answers, GET/DELETE
 * /device. Every route here has passed devauth (r->device_id is verified). */
#include "authview.h"
#include "authwait.h"
#include "db.h"
#include "dbbatch.h"
#include "devproof.h"
#include "devpoll.h"
#include "h_device.h"
#include "protocol/claimtime.h"
#include "protocol/jws.h"
#include "metrics.h"
#include "push_body.h"
#include "server.h"
#include "valid.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESPONSE_MAX_SKEW 300
#define FRAUD_LOCK_S "3600"

void h_device_poll(struct req *r)
{
    const char *w = http_query(r, "wait");
    char *end = NULL;
    long wait = w ? strtol(w, &end, 10) : 30;
    if (w && (end == w || *end || wait < 0 || wait > 60))
        return http_bad_request(r, "wait must be an integer from 0 to 60");
    devpoll_start(r, wait * 1000);
}

struct answer {
    const char *nonce, *chal, *decision, *reason, *code;
};

#define CHAL_LEN 43 /* base64url of a SHA-256, no padding */

/* The response JWS of api.md 6.3, verified under the device's own key. */
static json_t *verify_response(struct req *r, const char *jws, struct answer *a)
{
    json_t *hdr = NULL, *payload = NULL;
    EVP_PKEY *key = devproof_key(r->srv, r->device_id);
    const char *kid = NULL, *rid = NULL;
    json_int_t iat = 0;
    bool ok = key && jws_verify_es256(jws, key, "pushgate-response+jwt", &hdr, &payload) == 0 &&
              json_unpack(hdr, "{s:s}", "kid", &kid) == 0 && !strcmp(kid, r->device_id);
    if (ok)
        http_json_drop_nulls(payload); /* a null claim is an absent one (api.md 1) */
    ok = ok &&
         json_unpack(payload, "{s:s, s:s, s:s, s:s, s?s, s?s, s:I !}", "requestId", &rid, "nonce",
                     &a->nonce, "chal", &a->chal, "decision", &a->decision, "reason", &a->reason,
                     "code", &a->code, "iat", &iat) == 0 &&
         /* required (api.md 6.3); the deciding statement compares it with the
          * stored challenge's hash, reading it from the evidence (sql/030) */
         valid_b64url(a->chal, CHAL_LEN, CHAL_LEN) && !strcmp(rid, r->params[0]) &&
         claimtime_within(time(NULL), iat, RESPONSE_MAX_SKEW) &&
         (!strcmp(a->decision, "approve") || !strcmp(a->decision, "deny")) &&
         (!a->reason || (!strcmp(a->reason, "not_me") && !strcmp(a->decision, "deny")));
    json_decref(hdr);
    if (!ok) {
        json_decref(payload);
        return NULL;
    }
    return payload;
}

static void on_decided(void *arg, enum db_status st, PGresult *res)
{
    struct req *r = arg;
    if (st != DB_OK || PQntuples(res) != 1)
        return http_db_failure(r, st);
    const char *outcome = PQgetvalue(res, 0, 0);
    if (!strcmp(outcome, "device_inactive") || !strcmp(outcome, "proof_replayed"))
        return devproof_unauthorized(r);
    if (!strcmp(outcome, "not_found"))
        return http_problem(r, 404, "not_found", "no challenge for this device with that id");
    if (!strcmp(outcome, "invalid_response"))
        return http_problem(r, 400, "invalid_response",
                            "the nonce or chal does not match the challenge sent");
    if (!strcmp(outcome, "already_decided"))
        return http_problem(r, 409, "already_decided", "the request is no longer pending");
    if (!strcmp(outcome, "expired")) {
        authwait_recheck(r->srv, r->params[0]);
        return http_problem(r, 410, "expired", "the request has expired");
    }
    /* committed: now the waiters may hear of it, the application first */
    json_t *body = authview_json(res, 0, 1);
    devpoll_decided(r->srv, r->device_id, r->params[0]);
    authwait_resolve(r->srv, r->params[0], body);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    metrics_decision_latency((double)(now.tv_sec - r->received.tv_sec) +
                             (now.tv_nsec - r->received.tv_nsec) / 1e9);
    http_reply_json(r, 200,
                    json_pack("{s:s, s:O}", "requestId", r->params[0], "status",
                              json_object_get(body, "status")));
    json_decref(body);
}

/* Answers that queue for a connection share one statement and one commit. */
static const struct db_batch decide_batch = {
    "SELECT o.outcome, (o.v).*, o.i "
    "FROM auth_decide_batch_claimed($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) o",
    DB_BATCH_MAX};

void h_device_answer(struct req *r)
{
    const char *jws, *bad;
    char why[JSON_ERROR_TEXT_LENGTH];
    if ((bad = device_answer_body(r->body, &jws, why)))
        return http_bad_request(r, bad);
    if (!valid_id(r->params[0]))
        return http_problem(r, 404, "not_found", "no challenge for this device with that id");
    struct answer a = {0};
    json_t *payload = verify_response(r, jws, &a);
    if (!payload)
        return http_problem(r, 400, "invalid_response", "the response does not verify");
    /* the proof's jti is claimed in the deciding transaction (AUTH_DEVICE_JTI) */
    const char *p[] = {r->device_jti,       r->params[0], r->device_id, a.nonce,
                       a.decision,          a.reason,     a.code,       jws,
                       r->srv->instance_id, FRAUD_LOCK_S};
    db_query_batch(r->srv->db, &decide_batch,
                   "SELECT o.outcome, (o.v).* "
                   "FROM auth_decide_claimed($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) o",
                   10, p, on_decided, r);
    json_decref(payload);
}

static void on_self(void *arg, enum db_status st, PGresult *res)
{
    struct req *r = arg;
    json_t *doc = st == DB_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
                      ? json_loads(PQgetvalue(res, 0, 0), 0, NULL)
                      : NULL;
    if (!doc)
        return http_db_failure(r, st);
    if (strcmp(json_string_value(json_object_get(doc, "status")), "active") != 0) {
        json_decref(doc);
        return devproof_unauthorized(r); /* revoked since its key was cached */
    }
    http_reply_json(r, 200, doc);
}

void h_device_get(struct req *r)
{
    const char *p[] = {r->device_id};
    db_query(r->srv->db, "SELECT device_self_json($1)", 1, p, on_self, r);
}

void device_revoke_done(struct server *srv, PGresult *res, const char *device_id)
{
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *body = authview_json(res, i, 1);
        if (body)
            authwait_resolve(srv, json_string_value(json_object_get(body, "requestId")), body);
        json_decref(body);
    }
    devpoll_wake(srv, device_id); /* its other held polls now answer 401 */
}

static void on_revoked(void *arg, enum db_status st, PGresult *res)
{
    struct req *r = arg;
    if (st != DB_OK || PQntuples(res) < 1)
        return http_db_failure(r, st);
    if (!strcmp(PQgetvalue(res, 0, 0), "device_inactive"))
        return devproof_unauthorized(r);
    device_revoke_done(r->srv, res, r->device_id);
    http_reply_empty(r, 204);
}

void h_device_revoke(struct req *r)
{
    const char *p[] = {r->device_id, r->srv->instance_id};
    db_query(r->srv->db, "SELECT o.outcome, (o.v).* FROM device_revoke_self($1, $2) o", 2, p,
             on_revoked, r);
}
