/* GET /users/{username}/mfa/status and PUT /users/{username}/mfa/requirements
 * (api.md 8). Both objects are built by PostgreSQL (sql/005_mfa.sql). */
#include "db.h"
#include "h_mfa_status.h"
#include "listreq.h"
#include "mfa_body.h"
#include "server.h"
#include "valid.h"

#include <stdlib.h>
#include <string.h>

static void user_not_found(struct req *r)
{
    http_problem(r, 404, "user_not_found", "the application has no user of that name");
}

/* Column 0 of a one-row answer: a JSON document, or NULL for an unknown user. */
static void on_json(void *arg, enum db_status st, PGresult *res)
{
    struct req *r = arg;
    if (st != DB_OK)
        return http_unavailable(r);
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
        return user_not_found(r);
    json_error_t err;
    json_t *doc = json_loads(PQgetvalue(res, 0, 0), 0, &err);
    if (!doc)
        return http_problem(r, 500, "internal", "malformed database answer");
    if (r->method == EVHTTP_REQ_PUT)
        doc = json_pack("{s:o}", "requirements", doc);
    http_reply_json(r, 200, doc);
}

void h_mfa_status(struct req *r)
{
    const char *app; /* the admin names the application: ?applicationId= */
    if (!listreq_target_app(r, true, "user_not_found", "no user of that name", &app))
        return;
    if (!valid_username(r->params[0]))
        return user_not_found(r);
    const char *p[] = {app, r->params[0]};
    db_query(r->srv->db, "SELECT mfa_status_json($1, $2)", 2, p, on_json, r);
}

/* A JSON boolean as a parameter: "true"/"false", or NULL when absent. */
static const char *flag(json_t *v)
{
    return !v ? NULL : json_is_true(v) ? "true" : "false";
}

void h_mfa_requirements(struct req *r)
{
    struct mfa_requirements_input in;
    char why[JSON_ERROR_TEXT_LENGTH];
    const char *bad = mfa_requirements_body(r->body, &in, why);
    if (bad)
        return http_bad_request(r, bad);
    if (!valid_username(r->params[0]))
        return user_not_found(r);
    const char *p[] = {r->app_id, r->params[0], flag(in.login), flag(in.withdrawal),
                       flag(in.removal)};
    db_query(r->srv->db, "SELECT mfa_set_requirements($1, $2, $3, $4, $5)", 5, p, on_json, r);
}
