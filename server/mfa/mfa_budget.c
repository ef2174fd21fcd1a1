/* The per-application hourly budget of email/SMS codes (see mfa.h, sql/022). */
#include "alloc.h"
#include "db.h"
#include "mfa.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>

struct budget_wait {
    struct mfa_op *op;
    mfa_next_fn next;
};

static void on_budget(void *arg, enum db_status st, PGresult *res)
{
    struct budget_wait *w = arg;
    struct mfa_op *op = w->op;
    mfa_next_fn next = w->next;
    free(w);
    if (st != DB_OK || PQntuples(res) != 1) {
        http_unavailable(op->r);
        return mfa_op_free(op);
    }
    int retry = atoi(PQgetvalue(res, 0, 0));
    if (retry > 0) {
        http_problem_retry(op->r, 429, "rate_limited",
                           "the application's hourly budget of codes is spent", retry);
        return mfa_op_free(op);
    }
    op->budget_taken = true;
    next(op);
}

void mfa_budget_take(struct mfa_op *op, mfa_next_fn next)
{
    struct budget_wait *w = xmalloc(sizeof *w);
    *w = (struct budget_wait){op, next};
    char limit[16];
    snprintf(limit, sizeof limit, "%d", op->r->srv->cfg->mfa_send_budget);
    const char *p[] = {op->r->app_id, limit};
    db_query(op->r->srv->db, "SELECT mfa_send_budget_take($1, $2::integer)", 2, p, on_budget, w);
}
