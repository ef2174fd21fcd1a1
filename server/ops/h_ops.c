/* Operations endpoints (api.md 9). */
#include "alloc.h"
#include "db.h"
#include "dbshared.h"
#include "h_ops.h"
#include "hmap.h"
#include "hold.h"
#include "metrics.h"
#include "migrate.h"
#include "server.h"

#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

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

/* auth_effective_status(a) spelled out: the function takes the whole row, and
 * forming a row value for each tuple made this scan 5 times slower (500,000
 * requests: 0.7-1.1 s against 0.14-0.18 s). Shared and kept (dbshared.h): the
 * counts describe the whole deployment, not this instance. */
static struct dbshared db_counts = {
    .sql = "SELECT CASE WHEN status = 'pending' AND expires_at <= now() THEN 'expired' "
           "ELSE status END, count(*) FROM auth_requests GROUP BY 1 "
           "UNION ALL SELECT 'outbox', count(*) FROM outbox WHERE status = 'queued' "
           "UNION ALL SELECT 'webhooks', count(*) FROM webhook_events WHERE status = 'queued' "
           "UNION ALL SELECT 'sent:' || application_id, sent FROM mfa_send_budget "
           "WHERE hour = mfa_budget_hour() "
           "UNION ALL SELECT 'refused:' || application_id, refused FROM mfa_send_budget "
           "WHERE hour = mfa_budget_hour()"};

/* The send budget's rows of db_counts: "sent:<app id>" and "refused:<app id>". */
static bool is_budget_row(const char *name)
{
    return strchr(name, ':') != NULL;
}

static void emit_db(struct evbuffer *b, const PGresult *res)
{
    evbuffer_add_printf(b, "# HELP pushgate_auth_requests requests by outcome (database)\n"
                           "# TYPE pushgate_auth_requests gauge\n");
    for (int i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, 0), "outbox") != 0 &&
            strcmp(PQgetvalue(res, i, 0), "webhooks") != 0 && !is_budget_row(PQgetvalue(res, i, 0)))
            evbuffer_add_printf(b, "pushgate_auth_requests{outcome=\"%s\"} %s\n",
                                PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
    for (int i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, 0), "outbox") == 0)
            evbuffer_add_printf(b,
                                "# HELP pushgate_outbox_depth mails waiting to be sent\n"
                                "# TYPE pushgate_outbox_depth gauge\n"
                                "pushgate_outbox_depth %s\n",
                                PQgetvalue(res, i, 1));
    for (int i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, 0), "webhooks") == 0)
            evbuffer_add_printf(b,
                                "# HELP pushgate_webhook_queue_depth webhook events waiting to "
                                "be delivered (database)\n"
                                "# TYPE pushgate_webhook_queue_depth gauge\n"
                                "pushgate_webhook_queue_depth %s\n",
                                PQgetvalue(res, i, 1));
}

/* The caps on held requests (api.md 10, io/hold.h) and their refusals. */
static void emit_places(struct evbuffer *b, const struct server *srv)
{
    struct hold_places p;
    hold_places_get(srv, &p);
    evbuffer_add_printf(b,
                        "# HELP pushgate_held_limit held requests allowed per process, and per "
                        "application per process\n"
                        "# TYPE pushgate_held_limit gauge\n"
                        "pushgate_held_limit{scope=\"process\"} %d\n"
                        "pushgate_held_limit{scope=\"application\"} %d\n"
                        "# HELP pushgate_held_places places taken: held requests and those "
                        "on their way to a hold\n"
                        "# TYPE pushgate_held_places gauge\n"
                        "pushgate_held_places %zu\n"
                        "# HELP pushgate_held_refused_total requests refused a hold: 503 "
                        "(process) or 429 (application)\n"
                        "# TYPE pushgate_held_refused_total counter\n"
                        "pushgate_held_refused_total{reason=\"process\"} %llu\n"
                        "pushgate_held_refused_total{reason=\"application\"} %llu\n",
                        srv->cfg->max_held, srv->cfg->max_held_per_app, p.used, p.refused_process,
                        p.refused_app);
}

/* Held requests now, whether the database answered, and group commit. */
static void emit_gauges(struct evbuffer *b, struct server *srv, bool db_ok)
{
    evbuffer_add_printf(b,
                        "# HELP pushgate_held_requests requests held open now\n"
                        "# TYPE pushgate_held_requests gauge\n"
                        "pushgate_held_requests{kind=\"auth\"} %zu\n"
                        "pushgate_held_requests{kind=\"device_poll\"} %zu\n"
                        "# TYPE pushgate_db_up gauge\npushgate_db_up %d\n",
                        hmap_count(srv->waiters), hmap_count(srv->polls), db_ok);
    emit_places(b, srv);
    metrics_write_polls(b);
    unsigned long long batches = 0, batched = 0;
    db_batch_stats(srv->db, &batches, &batched);
    evbuffer_add_printf(b,
                        "# HELP pushgate_db_batches_total statements that carried several "
                        "queued ones (group commit)\n"
                        "# TYPE pushgate_db_batches_total counter\n"
                        "pushgate_db_batches_total %llu\n"
                        "# HELP pushgate_db_batched_total statements carried by those\n"
                        "# TYPE pushgate_db_batched_total counter\n"
                        "pushgate_db_batched_total %llu\n",
                        batches, batched);
}

/* The MFA send budget (sql/022): the configured size, and this hour's codes per
 * application from the database (every instance's). */
static void emit_budget(struct evbuffer *b, const struct server *srv, const PGresult *res)
{
    evbuffer_add_printf(b,
                        "# HELP pushgate_mfa_send_budget_per_hour email/SMS codes an "
                        "application may send per hour\n"
                        "# TYPE pushgate_mfa_send_budget_per_hour gauge\n"
                        "pushgate_mfa_send_budget_per_hour %d\n"
                        "# HELP pushgate_mfa_codes_this_hour codes sent or refused by the "
                        "budget this UTC hour, per application (database)\n"
                        "# TYPE pushgate_mfa_codes_this_hour gauge\n",
                        srv->cfg->mfa_send_budget);
    for (int i = 0; res && i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0), *colon = strchr(name, ':');
        if (colon)
            evbuffer_add_printf(b,
                                "pushgate_mfa_codes_this_hour{application=\"%s\",result=\"%.*s\"} "
                                "%s\n",
                                colon + 1, (int)(colon - name), name, PQgetvalue(res, i, 1));
    }
}

static void on_scrape(struct req *r, enum db_status st, const PGresult *res)
{
    struct evbuffer *b = evbuffer_new();
    metrics_write_requests(b);
    emit_gauges(b, r->srv, st == DB_OK);
    metrics_write_latency(b);
    metrics_write_webhooks(b);
    if (st == DB_OK)
        emit_db(b, res);
    emit_budget(b, r->srv, st == DB_OK ? res : NULL);
    size_t len = evbuffer_get_length(b);
    char *text = xmalloc(len + 1);
    evbuffer_remove(b, text, len);
    evbuffer_free(b);
    http_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

void h_metrics(struct req *r)
{
    dbshared_read(&db_counts, r, r->srv->cfg->metrics_db_seconds, on_scrape);
}

void h_ops_free(void)
{
    dbshared_clear(&db_counts);
}
