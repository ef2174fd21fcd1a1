/* Registration endpoints for applications and admins (api.md 4). */
#include "protocol/aead.h"
#include "alloc.h"
#include "db.h"
#include "enroll_body.h"
#include "h_registration.h"
#include "idem.h"
#include "listreq.h"
#include "mailmsg.h"
#include "outbox.h"
#include "qrsvg.h"
#include "server.h"
#include "protocol/token.h"
#include "valid.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REG_PER_HOUR 5

/* Replies with a JSON document that PostgreSQL built (column col). */
static void reply_db_json(struct req *r, int status, PGresult *res, int col)
{
    json_error_t err;
    json_t *doc = json_loads(PQgetvalue(res, 0, col), 0, &err);
    if (!doc) {
        http_problem(r, 500, "internal", "malformed database answer");
        return;
    }
    http_reply_json(r, status, doc);
}

/* A POST /registration in flight. With "delivery": "none" the link and its QR code
 * are handed to the application in the 201 answer: the token is stored only as a
 * hash, so this answer is their only copy (api.md 4). Both NULL for "email". */
struct reg_create {
    struct req *r;
    char *link, *qr_svg;
};

static void reg_create_free(struct reg_create *c)
{
    if (c->link)
        OPENSSL_cleanse(c->link, strlen(c->link));
    if (c->qr_svg)
        OPENSSL_cleanse(c->qr_svg, strlen(c->qr_svg));
    free(c->link);
    free(c->qr_svg);
    free(c);
}

/* The 201 of the call that created the registration: the object, plus the hand-off
 * when there is one (its token exists nowhere else: never add it to another answer). */
static void reply_created(struct reg_create *c, PGresult *res)
{
    json_t *doc = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return http_problem(c->r, 500, "internal", "malformed database answer");
    }
    if (c->link) {
        json_object_set_new(doc, "link", json_string(c->link));
        json_object_set_new(doc, "qrCodeSvg", json_string(c->qr_svg));
    }
    http_reply_json(c->r, 201, doc);
}

/* outcome: ok (this call created it), replay (a retry with the first call's
 * Idempotency-Key and body: the stored 201 body, without the hand-off, whose token
 * this call made and never stored), idempotency_key_reused or rate_limited. */
static void on_created(void *arg, enum db_status st, PGresult *res)
{
    struct reg_create *c = arg;
    struct req *r = c->r;
    const char *outcome = st == DB_OK && PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : NULL;
    if (!outcome)
        http_db_failure(r, st);
    else if (strcmp(outcome, "rate_limited") == 0)
        http_problem_retry(r, 429, "rate_limited",
                           "more than 5 registrations for this username within an hour",
                           atoi(PQgetvalue(res, 0, 2)));
    else if (strcmp(outcome, "idempotency_key_reused") == 0)
        http_problem(r, 422, "idempotency_key_reused",
                     "this Idempotency-Key was sent with a different body");
    else if (strcmp(outcome, "replay") == 0) { /* the first call's 201, no second mail */
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Idempotent-Replayed", "true");
        reply_db_json(r, 201, res, 1);
    } else {
        if (!c->link) /* a mail was queued */
            outbox_kick(r->srv->outbox);
        reply_created(c, res);
    }
    reg_create_free(c);
}

/* The registration mail, sealed for the outbox: it carries the link token. */
static char *sealed_mail(struct req *r, const char *email, const char *link)
{
    char subject[300], text[2048], html[4096];
    char *app = mailmsg_html_escape(r->app_name), *lnk = mailmsg_html_escape(link);
    snprintf(subject, sizeof subject, "Link your authenticator to %s", r->app_name);
    snprintf(text, sizeof text,
             "%s asks you to link an authenticator to your account.\n\n"
             "Open this link on the phone that runs your authenticator app:\n\n%s\n\n"
             "If you did not expect this message, ignore it: nothing happens unless the link "
             "is used.\n",
             r->app_name, link);
    snprintf(html, sizeof html,
             "<p>%s asks you to link an authenticator to your account.</p>"
             "<p><a href=\"%s\">Link your authenticator</a></p><p>%s</p>"
             "<p>If you did not expect this message, ignore it.</p>",
             app, lnk, lnk);
    free(app);
    OPENSSL_cleanse(lnk, strlen(lnk));
    free(lnk);
    char *hex = outbox_seal(r->srv, email, subject, text, html);
    OPENSSL_cleanse(text, sizeof text);
    OPENSSL_cleanse(html, sizeof html);
    return hex;
}

/* How the link reaches the user: sealed in the mail for the outbox (*sealed), or kept
 * for the 201 answer with its QR code (c->link, c->qr_svg) for "delivery": "none".
 * Answers 500 and returns false when neither can be made. */
static bool hand_off(struct reg_create *c, const struct registration_input *in, const char *link,
                     char **sealed)
{
    bool none = strcmp(in->delivery, "none") == 0;
    *sealed = NULL;
    if (none) {
        c->qr_svg = qrsvg_render(link);
        c->link = c->qr_svg ? xstrdup(link) : NULL;
    } else
        *sealed = sealed_mail(c->r, in->email, link);
    if (*sealed || c->link)
        return true;
    http_problem(c->r, 500, "internal",
                 none ? "cannot draw the QR code" : "cannot seal the message");
    return false;
}

/* p: the key and its body hash, then registration_create's nine parameters.
 * Without a key the statement is the one it always was. */
static void run_create(struct reg_create *c, int idem, const char *p[11])
{
    if (idem)
        db_query(c->r->srv->db,
                 "SELECT * FROM registration_create_idem($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)", 11,
                 p, on_created, c);
    else
        db_query(c->r->srv->db, "SELECT * FROM registration_create($1,$2,$3,$4,$5,$6,$7,$8,$9)", 9,
                 p + 2, on_created, c);
}

static void registration_create_as(struct req *r)
{
    struct registration_input in;
    char why[JSON_ERROR_TEXT_LENGTH];
    const char *bad = registration_body(r->body, &in, why);
    if (bad)
        return http_bad_request(r, bad);
    const char *key = NULL;
    char hash[65];
    int idem = idem_read(r, "POST /registration", &key, hash);
    if (idem < 0)
        return;
    char token[64], token_hash[65], link[1024], exp[24], *sealed;
    char *id = token_new_id("r_", 12);
    if (!id || token_random_b64(token, sizeof token, 32) < 0) {
        free(id);
        return http_problem(r, 500, "internal", "random generator failed");
    }
    token_sha256_hex(token, token_hash);
    snprintf(link, sizeof link, "%s/r/%s", r->srv->public_url, token);
    snprintf(exp, sizeof exp, "%lld", (long long)in.expires);
    struct reg_create *c = xcalloc(1, sizeof *c);
    c->r = r;
    bool ok = hand_off(c, &in, link, &sealed);
    OPENSSL_cleanse(token, sizeof token);
    OPENSSL_cleanse(link, sizeof link);
    if (!ok) {
        free(id);
        return reg_create_free(c);
    }
    const char *p[] = {key, hash,       r->app_id, in.username, in.email, in.display,
                       id,  token_hash, exp,       sealed,      "5"};
    run_create(c, idem, p);
    free(id);
    free(sealed);
}

static void on_target_app(void *arg, enum db_status st, PGresult *res)
{
    struct req *r = arg;
    if (st != DB_OK)
        return http_db_failure(r, st);
    if (PQntuples(res) != 1)
        return http_problem(r, 404, "not_found", "no application with that id");
    r->app_id = xstrdup(PQgetvalue(res, 0, 0));
    r->app_name = xstrdup(PQgetvalue(res, 0, 1));
    registration_create_as(r);
}

/* An application creates for itself; the admin names the application
 * (?applicationId=, required), which must exist: the rest then runs as if that
 * application had asked (its name goes into the mail, its Idempotency-Keys). */
void h_registration_create(struct req *r)
{
    if (r->caller != CALLER_ADMIN)
        return registration_create_as(r);
    const char *app;
    if (!listreq_target_app(r, true, "not_found", "no application with that id", &app))
        return;
    const char *p[] = {app};
    db_query(r->srv->db, "SELECT id, name FROM applications WHERE id = $1", 1, p, on_target_app, r);
}

static void on_found(void *arg, enum db_status st, PGresult *res)
{
    struct req *r = arg;
    if (st != DB_OK)
        return http_db_failure(r, st);
    if (PQntuples(res) != 1)
        return http_problem(r, 404, "not_found", "no registration with that id");
    reply_db_json(r, 200, res, 0);
}

/* Admins see every application's registrations; an application only its own. */
static const char *owner_filter(const struct req *r)
{
    return r->caller == CALLER_ADMIN ? NULL : r->app_id;
}

void h_registration_get(struct req *r)
{
    if (!valid_id(r->params[0]))
        return http_problem(r, 404, "not_found", "no registration with that id");
    const char *p[] = {r->params[0], owner_filter(r)};
    db_query(r->srv->db,
             "SELECT registration_json(x) FROM registrations x "
             "WHERE x.id = $1 AND ($2::text IS NULL OR x.app_id = $2)",
             2, p, on_found, r);
}

static void on_cancelled(void *arg, enum db_status st, PGresult *res)
{
    struct req *r = arg;
    if (st != DB_OK || PQntuples(res) != 1)
        return http_db_failure(r, st);
    const char *outcome = PQgetvalue(res, 0, 0);
    if (!strcmp(outcome, "not_found"))
        return http_problem(r, 404, "not_found", "no registration with that id");
    if (!strcmp(outcome, "not_pending"))
        return http_problem(r, 409, "registration_not_pending",
                            "the registration already completed, expired or was cancelled");
    reply_db_json(r, 200, res, 1);
}

/* The admin may narrow to one application with ?applicationId= (api.md 11); its
 * cancels are audited as admin.registration_cancelled (sql/041). */
void h_registration_cancel(struct req *r)
{
    const char *app;
    if (!listreq_target_app(r, false, "not_found", "no registration with that id", &app))
        return;
    if (!valid_id(r->params[0]))
        return http_problem(r, 404, "not_found", "no registration with that id");
    const char *p[] = {r->params[0], app};
    db_query(r->srv->db,
             r->caller == CALLER_ADMIN ? "SELECT * FROM registration_cancel_admin($1, $2)"
                                       : "SELECT * FROM registration_cancel($1, $2)",
             2, p, on_cancelled, r);
}
