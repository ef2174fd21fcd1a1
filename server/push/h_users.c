/* Users and their devices, for applications (api.md 7). */
#include "db.h"
#include "h_device.h"
#include "h_users.h"
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
    if (!valid_username(r->params[0]))
        return http_problem(r, 404, "user_not_found", "no user of that name");
    const char *p[] = {r->app_id, r->params[0]};
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

void h_user_device_revoke(struct req *r)
{
    if (!valid_username(r->params[0]))
        return http_problem(r, 404, "user_not_found", "no user of that name");
    if (!valid_id(r->params[1]))
        return http_problem(r, 404, "not_found", "no such device for this user");
    const char *p[] = {r->app_id, r->params[0], r->params[1], r->srv->instance_id};
    db_query(r->srv->db, "SELECT o.outcome, (o.v).* FROM user_device_revoke($1, $2, $3, $4) o", 4,
             p, on_user_device_revoked, r);
}
