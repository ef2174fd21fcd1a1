#include "serve.h"

#include "audit.h"
#include "caller.h"
#include "authcancel.h"
#include "authearly.h"
#include "cli.h"
#include "curlev.h"
#include "db.h"
#include "devproof.h"
#include "devknown.h"
#include "h_ops.h"
#include "hold.h"
#include "notify.h"
#include "http.h"
#include "log.h"
#include "outbox.h"
#include "pollclaim.h"
#include "metrics.h"
#include "migrate.h"
#include "routes.h"
#include "server.h"
#include "signer.h"
#include "tls.h"
#include "webhooks.h"

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIGRATE_ATTEMPTS 30 /* one a second: the database may still be starting */

static PGconn *connect_with_retry(const struct config *cfg)
{
    for (int i = 0; i < MIGRATE_ATTEMPTS; i++) {
        PGconn *pg = PQconnectdb(cfg->database_url);
        if (PQstatus(pg) == CONNECTION_OK)
            return pg;
        if (i == 0)
            log_kv(LOG_WARN, "database not reachable yet; retrying", "error", PQerrorMessage(pg),
                   NULL);
        PQfinish(pg);
        sleep(1); /* before the loop exists: nothing else to serve yet */
    }
    log_kv(LOG_ERROR, "database unreachable; giving up", NULL);
    return NULL;
}

/* Every held request is a socket: use all the descriptors we are allowed. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* PUSHGATE_TLS_CERT/KEY: a certificate that cannot be used stops the start (the
 * clients would get no answer, or a plain one, on an https:// URL). */
static int load_tls(struct server *srv)
{
    char err[600];
    if (!srv->cfg->tls_cert)
        return 0;
    srv->tls = tls_new(srv->cfg->tls_cert, srv->cfg->tls_key, err, sizeof err);
    if (!srv->tls)
        log_kv(LOG_ERROR, "cannot set up TLS", "error", err, NULL);
    return srv->tls ? 0 : -1;
}

/* Start-up work that may block: it runs before the event loop exists. */
static int prepare(struct server *srv)
{
    char err[512];
    if (load_tls(srv) < 0)
        return -1;
    if (keys_load_master(srv->cfg->key_file, srv->master_key, err, sizeof err) < 0) {
        log_kv(LOG_ERROR, "cannot load the master key", "error", err, NULL);
        return -1;
    }
    PGconn *pg = connect_with_retry(srv->cfg);
    if (!pg)
        return -1;
    if (migrate_run(pg) == 0)
        srv->signer = signer_load(pg, srv->master_key);
    /* registered before serving, so peers NOTIFY us from our first request on */
    if (srv->signer)
        srv->instance_id = notify_register(pg);
    PQfinish(pg);
    return srv->signer && srv->instance_id ? 0 : -1;
}

struct stopper {
    struct server *srv;
    struct event *tick;
    struct timespec started;
};

/* Second stage of a graceful stop: leave the loop once every request in
 * flight has been answered, or when the drain period is over. */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct stopper *st = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long waited = now.tv_sec - st->started.tv_sec;
    bool idle = st->srv->inflight == 0 && st->srv->unsent == 0 && !notify_leaving(st->srv->notify);
    if (idle || waited >= st->srv->cfg->drain_seconds + 2)
        event_base_loopexit(st->srv->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct stopper *st = arg;
    if (st->srv->draining)
        return;
    log_kv(LOG_INFO, "stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
    st->srv->draining = true;
    http_stop_accepting(st->srv);
    notify_leave(st->srv->notify);
    hold_drain_all(st->srv);
    clock_gettime(CLOCK_MONOTONIC, &st->started);
    struct timeval tv = {0, 20000};
    event_add(st->tick, &tv);
}

/* SIGHUP: a new certificate and key from the same files, for new connections. */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    struct server *srv = arg;
    if (!srv->tls) {
        log_kv(LOG_INFO, "SIGHUP: nothing to reload (TLS is off)", NULL);
        return;
    }
    tls_reload(srv->tls, srv->base);
}

/* epoll with libevent's change list: a socket whose write interest is added and
 * dropped within one loop pass (every evhttp reply) costs no epoll_ctl pair.
 * perf of GET /healthz under wrk: epoll_ctl was 16 % of the process. */
static struct event_base *new_base(void)
{
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

int serve_main(const struct config *cfg)
{
    struct server srv = {.cfg = cfg};
    raise_fd_limit();
    signal(SIGHUP, SIG_IGN); /* until on_reload takes it: not a reason to die while migrating */
    if (prepare(&srv) < 0) {
        signer_free(srv.signer);
        tls_free(srv.tls);
        return 1;
    }
    srv.base = new_base();
    srv.db = db_new(srv.base, cfg->database_url, cfg->db_pool_size);
    db_set_batch_max(srv.db, cfg->db_batch_max);
    int rc = 1;
    struct stopper st = {.srv = &srv};
    st.tick = event_new(srv.base, -1, EV_PERSIST, on_drain_tick, &st);
    struct event *sigterm = evsignal_new(srv.base, SIGTERM, on_signal, &st);
    struct event *sigint = evsignal_new(srv.base, SIGINT, on_signal, &st);
    struct event *sighup = evsignal_new(srv.base, SIGHUP, on_reload, &srv);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    event_add(sighup, NULL);
    srv.curl = curlev_new(srv.base);
    srv.outbox = outbox_new(&srv);
    struct webhooks *hooks = webhooks_new(&srv);
    hold_init(&srv);
    authcancel_init(&srv);
    srv.early = authearly_new();
    srv.known = devknown_new();
    srv.devproof = devproof_new(&srv);
    srv.pollclaim = pollclaim_new(&srv); /* before notify: its LISTEN starts the re-read */
    srv.notify = notify_new(&srv);
    struct audit *audit = audit_new(&srv);
    const struct http_routing routing = {routes, routes_count, caller_dispatch, metrics_request};
    if (http_start(&srv, &routing) == 0) {
        event_base_dispatch(srv.base);
        rc = 0;
    }
    http_free(&srv);
    notify_free(srv.notify);
    audit_free(audit);
    devproof_free(srv.devproof);
    pollclaim_free(srv.pollclaim);
    authcancel_free_all(&srv);
    authearly_free(srv.early);
    devknown_free(srv.known);
    hold_free(&srv);
    free(srv.instance_id);
    outbox_free(srv.outbox);
    webhooks_free(hooks);
    curlev_free(srv.curl);
    event_free(sigterm);
    event_free(sigint);
    event_free(sighup);
    event_free(st.tick);
    db_free(srv.db);
    signer_free(srv.signer);
    free(srv.public_url);
    event_base_free(srv.base);
    tls_free(srv.tls); /* after the connections' SSL objects (their context references) */
    h_ops_free();
    caller_free();
    metrics_free();
    OPENSSL_cleanse(srv.master_key, sizeof srv.master_key);
    if (rc == 0)
        log_kv(LOG_INFO, "stopped", NULL);
    return rc;
}
