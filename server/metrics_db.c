#include "metrics_db.h"

#include "db.h"
#include "server.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* auth_effective_status(a) spelled out: the function takes the whole row, and
 * forming a row value for each tuple made the scan 5 times slower (500,000
 * requests: 0.7-1.1 s against 0.14-0.18 s). */
static const char counts_sql[] =
    "SELECT CASE WHEN status = 'pending' AND expires_at <= now() THEN 'expired' "
    "ELSE status END, count(*) FROM auth_requests GROUP BY 1 "
    "UNION ALL SELECT 'outbox', count(*) FROM outbox WHERE status = 'queued'";

struct waiter {
    struct req *r;
    metrics_db_cb cb;
    struct waiter *next;
};

static struct {
    struct metrics_db_counts last; /* the last good read */
    struct timespec at;            /* when it arrived (CLOCK_MONOTONIC) */
    bool have;
    bool reading;
    struct waiter *waiting;
} st;

static bool fresh(const struct server *srv)
{
    int interval = srv->cfg->metrics_db_seconds;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return st.have && interval > 0 && now.tv_sec - st.at.tv_sec < interval && db_up(srv->db);
}

static void keep(const PGresult *res)
{
    int n = PQntuples(res) < METRICS_DB_ROWS ? PQntuples(res) : METRICS_DB_ROWS;
    for (int i = 0; i < n; i++) {
        snprintf(st.last.name[i], sizeof st.last.name[i], "%s", PQgetvalue(res, i, 0));
        snprintf(st.last.count[i], sizeof st.last.count[i], "%s", PQgetvalue(res, i, 1));
    }
    st.last.n = n;
    st.have = true;
    clock_gettime(CLOCK_MONOTONIC, &st.at);
}

static void on_counts(void *arg, enum db_status status, PGresult *res)
{
    (void)arg;
    if (status == DB_OK)
        keep(res);
    st.reading = false;
    struct waiter *w = st.waiting;
    st.waiting = NULL;
    while (w) {
        struct waiter *next = w->next;
        w->cb(w->r, status == DB_OK ? &st.last : NULL);
        free(w);
        w = next;
    }
}

void metrics_db_read(struct req *r, metrics_db_cb cb)
{
    if (fresh(r->srv)) {
        cb(r, &st.last);
        return;
    }
    struct waiter *w = malloc(sizeof *w);
    if (!w) {
        cb(r, NULL);
        return;
    }
    *w = (struct waiter){r, cb, st.waiting};
    st.waiting = w;
    if (st.reading)
        return;
    st.reading = true;
    db_query(r->srv->db, counts_sql, 0, NULL, on_counts, NULL);
}
