#include "audit.h"

#include "alloc.h"
#include "db.h"
#include "log.h"
#include "server.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#define SEAL_BATCH "10000"
#define SEAL_EVERY_S 1

struct audit {
    struct server *srv;
    struct event *tick;
    char age[16];
    bool sealing;
};

static void seal(struct audit *a);

static void on_sealed(void *arg, enum db_status st, PGresult *res)
{
    struct audit *a = arg;
    a->sealing = false;
    if (st != DB_OK)
        return; /* the next tick tries again */
    int n = atoi(PQgetvalue(res, 0, 0));
    if (n > 0)
        log_kv(LOG_DEBUG, "audit rows sealed", "count", PQgetvalue(res, 0, 0), NULL);
    if (n == atoi(SEAL_BATCH) && !a->srv->draining)
        seal(a); /* more are waiting */
}

static void seal(struct audit *a)
{
    a->sealing = true;
    const char *p[] = {SEAL_BATCH, a->age};
    db_query(a->srv->db, "SELECT audit_seal($1, $2)", 2, p, on_sealed, a);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct audit *a = arg;
    if (!a->sealing && !a->srv->draining)
        seal(a);
}

struct audit *audit_new(struct server *srv)
{
    struct audit *a = xcalloc(1, sizeof *a);
    a->srv = srv;
    snprintf(a->age, sizeof a->age, "%d", srv->cfg->audit_seal_age);
    a->tick = event_new(srv->base, -1, EV_PERSIST, on_tick, a);
    struct timeval tv = {SEAL_EVERY_S, 0};
    event_add(a->tick, &tv);
    return a;
}

void audit_free(struct audit *a)
{
    if (!a)
        return;
    event_free(a->tick);
    free(a);
}
