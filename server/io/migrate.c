#include "migrate.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>

#define MIGRATE_LOCK_ID "7350001" /* pg_advisory_xact_lock key for migrations */

int migrate_latest_version(void)
{
    return migrations_count ? migrations[migrations_count - 1].version : 0;
}

static int exec_ok(PGconn *pg, const char *sql, const char *what)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        log_kv(LOG_ERROR, "migration failed", "step", what, "error", PQresultErrorMessage(r), NULL);
    PQclear(r);
    return ok ? 0 : -1;
}

static int applied(PGconn *pg, int version)
{
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *params[] = {v};
    PGresult *r = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL,
                               params, NULL, NULL, 0);
    int found = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) > 0 : -1;
    PQclear(r);
    return found;
}

static int record(PGconn *pg, const struct migration *m)
{
    char v[16];
    snprintf(v, sizeof v, "%d", m->version);
    const char *params[] = {v, m->name};
    PGresult *r = PQexecParams(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                               2, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

static int apply_one(PGconn *pg, const struct migration *m)
{
    if (exec_ok(pg, "BEGIN", m->name) < 0)
        return -1;
    int done = applied(pg, m->version);
    if (done < 0)
        goto rollback;
    if (!done) {
        if (exec_ok(pg, m->sql, m->name) < 0 || record(pg, m) < 0)
            goto rollback;
        log_kv(LOG_INFO, "migration applied", "name", m->name, NULL);
    }
    return exec_ok(pg, "COMMIT", m->name);
rollback:
    exec_ok(pg, "ROLLBACK", m->name);
    return -1;
}

/* A session advisory lock serialises concurrent migrators (several instances
 * starting at once), including the CREATE TABLE IF NOT EXISTS, which races. */
int migrate_run(PGconn *pg)
{
    if (exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_ID ")", "lock") < 0)
        return -1;
    int rc = 0;
    if (exec_ok(pg,
                "SET client_min_messages = warning;"
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())",
                "schema_migrations") < 0)
        rc = -1;
    for (int i = 0; rc == 0 && i < migrations_count; i++)
        rc = apply_one(pg, &migrations[i]);
    exec_ok(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_ID ")", "unlock");
    return rc;
}
