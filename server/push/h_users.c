/* Users and their devices, for applications (api.md 7), and the admin's
 * actions on them (api.md 11). */
#include "db.h"
#include "h_device.h"
#include "h_users.h"
#include "listreq.h"
#include "server.h"
#include "valid.h"

#include <stdlib.h>
#include <string.h>

static void on_devices(void *arg, enum db_status st, PGresult *res)
{
    struct req *r = arg;
    if (st != DB_OK || PQntuples(res) != 1)
        return http_db_failure(r, st);
    if (PQgetisnull(res, 0, 0))
        return http_problem(r, 404, "user_not_found", "no user of that name");
    http_reply_json(r, 200, json_loads(PQgetvalue(res, 0, 0), 0, NULL));
}

void h_user_devices(struct req *r)
{
    const char *app; /* the admin names the application: ?applicationId= */
    if (!listreq_target_app(r, true, "user_not_found", "no user of that name", &app))
        return;
    if (!valid_username(r->params[0]))
        return http_problem(r, 404, "user_not_found", "no user of that name");
    const char *p[] = {app, r->params[0]};
    db_query(r->srv->db, "SELECT user_devices_json($1, $2)", 2, p, on_devices, r);
}

static void on_user_device_revoked(void *arg, enum db_status st, PGresult *res)
{
    struct req *r = arg;
    if (st != DB_OK || PQntuples(res) < 1)
        return http_db_failure(r, st);
    const char *outcome = PQgetvalue(res, 0, 0);
    if (!strcmp(outcome, "user_not_found"))
        return http_problem(r, 404, "user_not_found", "no user of that name");
    if (!strcmp(outcome, "not_found"))
        return http_problem(r, 404, "not_found", "no such device for this user");
    device_revoke_done(r->srv, res, r->params[1]);
    http_reply_empty(r, 204);
}

/* The admin names the application (?applicationId=): the same revoke, plus an
 * audit row admin.device_revoked (sql/041). */
void h_user_device_revoke(struct req *r)
{
    const char *app;
    if (!listreq_target_app(r, true, "user_not_found", "no user of that name", &app))
        return;
    if (!valid_username(r->params[0]))
        return http_problem(r, 404, "user_not_found", "no user of that name");
    if (!valid_id(r->params[1]))
        return http_problem(r, 404, "not_found", "no such device for this user");
    const char *p[] = {app, r->params[0], r->params[1], r->srv->instance_id};
    db_query(r->srv->db,
             r->caller == CALLER_ADMIN
                 ? "SELECT o.outcome, (o.v).* FROM user_device_revoke_admin($1, $2, $3, $4) o"
                 : "SELECT o.outcome, (o.v).* FROM user_device_revoke($1, $2, $3, $4) o",
             4, p, on_user_device_revoked, r);
}

static void on_unlocked(void *arg, enum db_status st, PGresult *res)
{
    struct req *r = arg;
    if (st != DB_OK || PQntuples(res) != 1)
        return http_db_failure(r, st);
    if (PQgetisnull(res, 0, 0))
        return http_problem(r, 404, "user_not_found", "no user of that name");
    json_t *status = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
    if (!status)
        return http_problem(r, 500, "internal", "malformed database answer");
    http_reply_json(r, 200, status);
}

/* POST /users/{u}/unlock: what `pushgated user unlock` does (user_unlock, sql/023),
 * audited as user.unlocked with who asked; answers the MFA status object. */
void h_user_unlock(struct req *r)
{
    const char *app;
    if (!listreq_target_app(r, true, "user_not_found", "no user of that name", &app))
        return;
    if (!valid_username(r->params[0]))
        return http_problem(r, 404, "user_not_found", "no user of that name");
    const char *p[] = {app, r->params[0], r->caller == CALLER_ADMIN ? "admin" : "application"};
    db_query(r->srv->db, "SELECT user_unlock_json($1, $2, $3)", 3, p, on_unlocked, r);
}
