#include "notify.h"

#include "alloc.h"
#include "authwait.h"
#include "db.h"
#include "devpoll.h"
#include "keyswap.h"
#include "log.h"
#include "pollclaim.h"
#include "server.h"
#include "protocol/token.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEARTBEAT_S 2
#define PEER_FRESH_S 5 /* peers NOTIFY us while our row is under 6 s old (sql/008) */

static const char heartbeat_sql[] =
    "WITH gc AS (DELETE FROM instances WHERE last_seen < now() - interval '10 minutes') "
    "INSERT INTO instances (id, last_seen) VALUES ($1, now()) "
    "ON CONFLICT (id) DO UPDATE SET last_seen = now()";

struct notify {
    struct server *srv;
    struct db *listen; /* one dedicated connection */
    struct event *beat;
    bool leaving;  /* the DELETE of our heartbeat row is in flight */
    time_t beat_ok; /* CLOCK_MONOTONIC seconds of the last heartbeat written */
};

char *notify_register(PGconn *pg)
{
    char *id = token_new_id("i_", 9);
    const char *p[] = {id};
    PGresult *r = PQexecParams(pg, heartbeat_sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        log_kv(LOG_ERROR, "cannot register the instance", "error", PQresultErrorMessage(r), NULL);
        free(id);
        id = NULL;
    }
    PQclear(r);
    return id;
}

static void on_payload(void *arg, const char *payload)
{
    struct notify *n = arg;
    if (strncmp(payload, "p:", 2) != 0) /* p: a row of poll claims, kilobytes of hashes */
        log_kv(LOG_DEBUG, "peer notification", "payload", payload, NULL); /* ids only */
    else if (log_enabled(LOG_DEBUG)) {
        char who[40];
        snprintf(who, sizeof who, "%.*s", (int)strcspn(payload + 2, ":"), payload + 2);
        log_kv(LOG_DEBUG, "peer poll claims", "instance", who, NULL);
    }
    if (strncmp(payload, "c:", 2) == 0)
        devpoll_wake(n->srv, payload + 2);
    else if (strncmp(payload, "d:", 2) == 0)
        authwait_recheck(n->srv, payload + 2);
    else if (strncmp(payload, "p:", 2) == 0)
        pollclaim_peer(n->srv->pollclaim, payload + 2);
    else if (strcmp(payload, "k:") == 0)
        keyswap_check(n->srv);
}

/* Peers' announcements may have been lost: every held request, and every
 * device held or known here, is checked against the database (the devices in
 * one statement: devpoll.h). */
static void reread_held(struct server *srv)
{
    devpoll_recheck_all(srv);
    authwait_recheck_all(srv);
}

/* LISTEN is (re)established: whatever was announced meanwhile is lost, so
 * every held request looks at the database again. */
static void on_listening(void *arg)
{
    struct notify *n = arg;
    log_kv(LOG_DEBUG, "listening for peer notifications", NULL);
    pollclaim_listening(n->srv->pollclaim);
    reread_held(n->srv);
    keyswap_check(n->srv);
}

static time_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* A heartbeat that comes PEER_FRESH_S or more after the last one: meanwhile the
 * peers may have found our row stale and stopped NOTIFYing (sql/008
 * peers_alive), so whatever they announced is read again, as after a LISTEN
 * reconnect. */
static void on_beat_done(void *arg, enum db_status st, PGresult *res)
{
    (void)res;
    struct notify *n = arg;
    if (st != DB_OK) {
        log_kv(LOG_DEBUG, "heartbeat failed", NULL);
        return;
    }
    time_t now = mono_s();
    if (n->beat_ok && now - n->beat_ok >= PEER_FRESH_S) {
        log_kv(LOG_WARN, "heartbeat was late; reading held requests again", NULL);
        reread_held(n->srv);
    }
    n->beat_ok = now;
}

static void on_beat(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct notify *n = arg;
    const char *p[] = {n->srv->instance_id};
    db_query(n->srv->db, heartbeat_sql, 1, p, on_beat_done, n);
}

struct notify *notify_new(struct server *srv)
{
    struct notify *n = xcalloc(1, sizeof *n);
    n->srv = srv;
    n->listen = db_new(srv->base, srv->cfg->database_url, 1);
    db_set_session(n->listen, "LISTEN pushgate", on_listening, on_payload, n);
    n->beat = event_new(srv->base, -1, EV_PERSIST, on_beat, n);
    struct timeval tv = {HEARTBEAT_S, 0};
    event_add(n->beat, &tv);
    return n;
}

static void on_deregistered(void *arg, enum db_status st, PGresult *res)
{
    (void)st, (void)res;
    struct notify *n = arg;
    n->leaving = false;
}

bool notify_leaving(const struct notify *n)
{
    return n && n->leaving;
}

void notify_leave(struct notify *n)
{
    const char *p[] = {n->srv->instance_id};
    event_del(n->beat);
    n->leaving = true;
    db_query(n->srv->db, "DELETE FROM instances WHERE id = $1", 1, p, on_deregistered, n);
}

void notify_free(struct notify *n)
{
    if (!n)
        return;
    event_free(n->beat);
    db_free(n->listen);
    free(n);
}
