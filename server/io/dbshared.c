#include "dbshared.h"

#include "alloc.h"
#include "server.h"

#include <stdlib.h>

struct dbshared_waiter {
    struct req *r;
    dbshared_cb cb;
    struct dbshared_waiter *next;
};

static bool fresh(const struct dbshared *s, const struct server *srv, int keep_s)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return s->kept && keep_s > 0 && now.tv_sec - s->at.tv_sec < keep_s && db_up(srv->db);
}

static void keep(struct dbshared *s, const PGresult *res)
{
    PGresult *copy = PQcopyResult(res, PG_COPYRES_ATTRS | PG_COPYRES_TUPLES);
    if (!copy)
        return;
    PQclear(s->kept);
    s->kept = copy;
    clock_gettime(CLOCK_MONOTONIC, &s->at);
}

static void on_answer(void *arg, enum db_status st, PGresult *res)
{
    struct dbshared *s = arg;
    if (st == DB_OK && s->keep_s > 0)
        keep(s, res);
    s->reading = false;
    struct dbshared_waiter *w = s->waiting;
    s->waiting = NULL;
    while (w) {
        struct dbshared_waiter *next = w->next;
        w->cb(w->r, st, st == DB_OK ? res : NULL);
        free(w);
        w = next;
    }
}

void dbshared_read(struct dbshared *s, struct req *r, int keep_s, dbshared_cb cb)
{
    if (fresh(s, r->srv, keep_s)) {
        cb(r, DB_OK, s->kept);
        return;
    }
    struct dbshared_waiter *w = xmalloc(sizeof *w);
    *w = (struct dbshared_waiter){r, cb, s->waiting};
    s->waiting = w;
    if (s->reading)
        return;
    s->reading = true;
    s->keep_s = keep_s;
    db_query(r->srv->db, s->sql, 0, NULL, on_answer, s);
}

void dbshared_clear(struct dbshared *s)
{
    PQclear(s->kept);
    s->kept = NULL;
}
