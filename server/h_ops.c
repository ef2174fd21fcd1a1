/* Operations endpoints (api.md 9). */
#include "db.h"
#include "dbshared.h"
#include "handlers.h"
#include "migrate.h"
#include "server.h"

#include <stdlib.h>

/* A liveness probe is polled often and its body never changes: send the bytes
 * as they are, without building and dumping a JSON object each time. */
void h_healthz(struct req *r)
{
    static const char body[] = "{\"status\":\"ok\"}";
    http_reply_raw(r, 200, "application/json", body, sizeof body - 1);
}

/* /readyz and the JWKS need no credentials: concurrent requests share one read
 * (dbshared.h), never kept, so each answer is as fresh as the read it waited for. */
static struct dbshared schema_version = {
    .sql = "SELECT COALESCE(max(version), 0) FROM schema_migrations"};

static void on_schema_version(struct req *r, enum db_status st, const PGresult *res)
{
    int version = st == DB_OK && PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : -1;
    if (version < migrate_latest_version()) {
        http_problem_retry(
            r, 503, "unavailable",
            st == DB_OK ? "database schema is not migrated" : "the database is unreachable", 2);
        return;
    }
    http_reply_json(r, 200, json_pack("{s:s, s:i}", "status", "ready", "schemaVersion", version));
}

void h_readyz(struct req *r)
{
    dbshared_read(&schema_version, r, 0, on_schema_version);
}

static struct dbshared jwks = {.sql = "SELECT server_jwks()"}; /* shared, never kept */

static void on_jwks(struct req *r, enum db_status st, const PGresult *res)
{
    json_t *doc =
        st == DB_OK && PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
    if (!doc)
        return http_unavailable(r);
    http_reply_json(r, 200, doc);
}

void h_jwks(struct req *r)
{
    dbshared_read(&jwks, r, 0, on_jwks);
}
