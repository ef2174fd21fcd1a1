/* Registration endpoints for applications and admins (api.md 4). */
#include "protocol/aead.h"
#include "db.h"
#include "enroll_body.h"
#include "h_registration.h"
#include "idem.h"
#include "mailmsg.h"
#include "outbox.h"
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

static void on_created(void *arg, enum db_status st, PGresult *res)
{
    struct req *r = arg;
    if (st != DB_OK || PQntuples(res) != 1) {
        http_db_failure(r, st);
        return;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "rate_limited") == 0) {
        http_problem_retry(r, 429, "rate_limited",
                           "more than 5 registrations for this username within an hour",
                           atoi(PQgetvalue(res, 0, 2)));
        return;
    }
    if (!strcmp(PQgetvalue(res, 0, 0), "idempotency_key_reused"))
        return http_problem(r, 422, "idempotency_key_reused",
                            "this Idempotency-Key was sent with a different body");
    if (!strcmp(PQgetvalue(res, 0, 0), "replay")) /* the first call's 201, no second mail */
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Idempotent-Replayed", "true");
    else
        outbox_kick(r->srv->outbox);
    reply_db_json(r, 201, res, 1);
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

/* p: the key and its body hash, then registration_create's nine parameters.
 * Without a key the statement is the one it always was. */
static void run_create(struct req *r, int idem, const char *p[11])
{
    if (idem)
        db_query(r->srv->db,
                 "SELECT * FROM registration_create_idem($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)", 11,
                 p, on_created, r);
    else
        db_query(r->srv->db, "SELECT * FROM registration_create($1,$2,$3,$4,$5,$6,$7,$8,$9)", 9,
                 p + 2, on_created, r);
}

void h_registration_create(struct req *r)
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
    const char *username = in.username, *email = in.email, *display = in.display;
    json_int_t expires = in.expires;
    char token[64], token_hash[65], link[1024], exp[24];
    char *id = token_new_id("r_", 12);
    if (!id || token_random_b64(token, sizeof token, 32) < 0) {
        free(id);
        return http_problem(r, 500, "internal", "random generator failed");
    }
    token_sha256_hex(token, token_hash);
    snprintf(link, sizeof link, "%s/r/%s", r->srv->public_url, token);
    snprintf(exp, sizeof exp, "%lld", (long long)expires);
    char *sealed = sealed_mail(r, email, link);
    OPENSSL_cleanse(token, sizeof token);
    OPENSSL_cleanse(link, sizeof link);
    if (!sealed) {
        free(id);
        return http_problem(r, 500, "internal", "cannot seal the message");
    }
    const char *p[] = {key, hash,       r->app_id, username, email, display,
                       id,  token_hash, exp,       sealed,   "5"};
    run_create(r, idem, p);
    free(id);
    free(sealed);
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

void h_registration_cancel(struct req *r)
{
    if (!valid_id(r->params[0]))
        return http_problem(r, 404, "not_found", "no registration with that id");
    const char *p[] = {r->params[0], owner_filter(r)};
    db_query(r->srv->db, "SELECT * FROM registration_cancel($1, $2)", 2, p, on_cancelled, r);
}
