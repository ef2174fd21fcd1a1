#include "metrics.h"

#include "config.h"
#include "db.h"
#include "dbshared.h"
#include "hmap.h"
#include "server.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct counter {
    char route[64];
    int status;
    unsigned long long n;
};

static struct hmap *requests; /* "route status" -> struct counter */

/* auth_effective_status(a) spelled out: the function takes the whole row, and
 * forming a row value for each tuple made this scan 5 times slower (500,000
 * requests: 0.7-1.1 s against 0.14-0.18 s). Shared and kept (dbshared.h). */
static struct dbshared db_counts = {
    .sql = "SELECT CASE WHEN status = 'pending' AND expires_at <= now() THEN 'expired' "
           "ELSE status END, count(*) FROM auth_requests GROUP BY 1 "
           "UNION ALL SELECT 'outbox', count(*) FROM outbox WHERE status = 'queued'"};

static const double buckets[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
#define NBUCKETS (sizeof buckets / sizeof *buckets)
static unsigned long long latency_counts[NBUCKETS + 1];
static double latency_sum;
static unsigned long long polls_read, polls_unread;

void metrics_poll(bool read)
{
    if (read)
        polls_read++;
    else
        polls_unread++;
}

/* "route status": built by hand, since this runs for every reply and an
 * snprintf was a third of its cost. route is cut at 63 bytes, status at 0..999. */
static void request_key(char key[70], const char *route, int status)
{
    size_t n = strnlen(route, 63);
    unsigned s = status < 0 ? 0 : status > 999 ? 999 : (unsigned)status;
    memcpy(key, route, n);
    key[n] = ' ';
    key[n + 1] = (char)('0' + s / 100);
    key[n + 2] = (char)('0' + s / 10 % 10);
    key[n + 3] = (char)('0' + s % 10);
    key[n + 4] = '\0';
}

void metrics_request(const char *route, int status)
{
    char key[70];
    request_key(key, route, status);
    if (!requests)
        requests = hmap_new();
    struct counter *c = hmap_get(requests, key);
    if (!c) {
        c = calloc(1, sizeof *c);
        snprintf(c->route, sizeof c->route, "%s", route);
        c->status = status;
        hmap_add(requests, key, c);
    }
    c->n++;
}

void metrics_decision_latency(double seconds)
{
    size_t i = 0;
    while (i < NBUCKETS && seconds > buckets[i])
        i++;
    latency_counts[i]++;
    latency_sum += seconds;
}

static void free_counter(void *v, void *arg)
{
    (void)arg;
    free(v);
}

void metrics_free(void)
{
    dbshared_clear(&db_counts);
    if (requests)
        hmap_each(requests, free_counter, NULL);
    hmap_free(requests);
    requests = NULL;
}

static void emit_request(void *v, void *arg)
{
    struct counter *c = v;
    evbuffer_add_printf(arg, "pushgate_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                        c->route, c->status, c->n);
}

static void emit_latency(struct evbuffer *b)
{
    unsigned long long cum = 0;
    evbuffer_add_printf(b, "# HELP pushgate_decision_latency_seconds device answer received "
                           "to application answered (this instance)\n"
                           "# TYPE pushgate_decision_latency_seconds histogram\n");
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += latency_counts[i];
        evbuffer_add_printf(b, "pushgate_decision_latency_seconds_bucket{le=\"%g\"} %llu\n",
                            buckets[i], cum);
    }
    cum += latency_counts[NBUCKETS];
    evbuffer_add_printf(b,
                        "pushgate_decision_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                        "pushgate_decision_latency_seconds_sum %.6f\n"
                        "pushgate_decision_latency_seconds_count %llu\n",
                        cum, latency_sum, cum);
}

static void emit_db(struct evbuffer *b, const PGresult *res)
{
    evbuffer_add_printf(b, "# HELP pushgate_auth_requests requests by outcome (database)\n"
                           "# TYPE pushgate_auth_requests gauge\n");
    for (int i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, 0), "outbox") != 0)
            evbuffer_add_printf(b, "pushgate_auth_requests{outcome=\"%s\"} %s\n",
                                PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
    for (int i = 0; i < PQntuples(res); i++)
        if (strcmp(PQgetvalue(res, i, 0), "outbox") == 0)
            evbuffer_add_printf(b,
                                "# HELP pushgate_outbox_depth mails waiting to be sent\n"
                                "# TYPE pushgate_outbox_depth gauge\n"
                                "pushgate_outbox_depth %s\n",
                                PQgetvalue(res, i, 1));
}

static void on_scrape(struct req *r, enum db_status st, const PGresult *res)
{
    struct server *srv = r->srv;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "# HELP pushgate_http_requests_total answers by route and status\n"
                           "# TYPE pushgate_http_requests_total counter\n");
    if (requests)
        hmap_each(requests, emit_request, b);
    evbuffer_add_printf(b,
                        "# HELP pushgate_held_requests requests held open now\n"
                        "# TYPE pushgate_held_requests gauge\n"
                        "pushgate_held_requests{kind=\"auth\"} %zu\n"
                        "pushgate_held_requests{kind=\"device_poll\"} %zu\n"
                        "# TYPE pushgate_db_up gauge\npushgate_db_up %d\n"
                        "# HELP pushgate_device_polls_total device polls by whether they began "
                        "with a database read\n"
                        "# TYPE pushgate_device_polls_total counter\n"
                        "pushgate_device_polls_total{read=\"database\"} %llu\n"
                        "pushgate_device_polls_total{read=\"none\"} %llu\n",
                        hmap_count(srv->waiters), hmap_count(srv->polls), st == DB_OK, polls_read,
                        polls_unread);
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
    emit_latency(b);
    if (st == DB_OK)
        emit_db(b, res);
    size_t len = evbuffer_get_length(b);
    char *text = malloc(len + 1);
    evbuffer_remove(b, text, len);
    evbuffer_free(b);
    http_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

void h_metrics(struct req *r)
{
    dbshared_read(&db_counts, r, r->srv->cfg->metrics_db_seconds, on_scrape);
}
