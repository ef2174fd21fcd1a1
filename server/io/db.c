#include "db.h"

#include "alloc.h"
#include "dbbatch.h"
#include "log.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#define CONNECT_TIMEOUT_S 5
#define QUERY_TIMEOUT_S 5     /* a running statement that takes longer: connection dropped */
#define QUEUE_TIMEOUT_MS 4000 /* keeps "database down -> 503" under 5 s */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define MAX_PREPARED 64     /* per connection; beyond it statements go unprepared */
#define REPLAN_MS 10000     /* DISCARD PLANS this often: plans follow the tables' growth */
#define REPLAN_FIRST_MS 500 /* ... and sooner on a new connection: 0.5, 1, 2, 4, 8 s */

struct batch_run;

struct db_query {
    TAILQ_ENTRY(db_query) link;
    const char *sql;
    int nparams;
    char **params;
    db_cb cb;
    void *arg;
    struct timespec queued;
    const struct db_batch *batch; /* may share a statement with others of this kind */
    bool alone;                   /* its batch failed: it runs on its own now */
    struct batch_run *run;        /* a batch statement: the items it carries */
};
TAILQ_HEAD(query_list, db_query);

/* The items of one batch statement, in queue order (item k+1 of the SQL). */
struct batch_run {
    struct db *db;
    int n;
    struct db_query *items[DB_BATCH_MAX];
};

enum conn_state { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY };

struct db_conn {
    struct db *pool;
    PGconn *pg;
    struct event *ev;    /* socket readiness, re-assigned per wait */
    struct event *retry; /* reconnect timer */
    enum conn_state state;
    struct db_query *q;
    PGresult *res; /* first result of the running statement, until its end */
    int backoff_ms;
    /* Statements prepared on this connection, by the address of their SQL
     * text (callers pass string literals); named "s<index>". */
    const char *prepared[MAX_PREPARED];
    int nprepared;
    int preparing;           /* 1 + index while its PQsendPrepare is in flight */
    struct timespec planned; /* when its cached plans were last dropped */
    int replan_ms;           /* the next drop after that: doubles up to REPLAN_MS */
};

struct db {
    struct event_base *base;
    char *conninfo;
    int size, up;
    bool down; /* every connection failed since the last success: fail fast */
    struct db_conn *conns;
    struct query_list queue, done;
    struct event *defer; /* runs callbacks of queries failed outside the loop */
    struct event *sweep; /* expires queued queries */
    const char *init_sql;
    void (*on_connect)(void *arg);
    void (*on_notify)(void *arg, const char *payload);
    void *session_arg;
    int batch_max;                       /* items per batch statement, at most */
    unsigned long long batches, batched; /* batch statements sent, items they carried */
};

static void conn_start(struct db_conn *c);
static void conn_on_connect(evutil_socket_t fd, short what, void *arg);
static void conn_on_io(evutil_socket_t fd, short what, void *arg);
static void dispatch(struct db *db);

static long ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static void query_free(struct db_query *q)
{
    if (q->run) { /* a batch freed before its callback ran (shutdown) */
        for (int i = 0; i < q->run->n; i++)
            query_free(q->run->items[i]);
        free(q->run);
    }
    for (int i = 0; i < q->nparams; i++)
        free(q->params[i]);
    free(q->params);
    free(q);
}

static void query_finish(struct db_query *q, enum db_status st, PGresult *res)
{
    q->cb(q->arg, st, res);
    query_free(q);
}

/* Defers a failure callback to the loop so that callers never re-enter. */
static void query_fail_later(struct db *db, struct db_query *q)
{
    TAILQ_INSERT_TAIL(&db->done, q, link);
    event_active(db->defer, EV_TIMEOUT, 0);
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct db *db = arg;
    struct db_query *q;
    while ((q = TAILQ_FIRST(&db->done)) != NULL) {
        TAILQ_REMOVE(&db->done, q, link);
        query_finish(q, DB_UNAVAILABLE, NULL);
    }
}

/* For the logs: the LISTEN connection (a session set-up) or the query pool. */
static const char *pool_name(const struct db *db)
{
    return db->init_sql ? "listen" : "queries";
}

static void fail_queue(struct db *db)
{
    struct db_query *q;
    while ((q = TAILQ_FIRST(&db->queue)) != NULL) {
        TAILQ_REMOVE(&db->queue, q, link);
        query_fail_later(db, q);
    }
}

/* Waits for `what` on the connection's socket. Re-arming the same socket for
 * the same events only changes the timer: no epoll_ctl round trips, which
 * were a visible share of the server's system time per statement. */
static void conn_wait(struct db_conn *c, short what, int timeout_s, event_callback_fn fn)
{
    evutil_socket_t fd = PQsocket(c->pg);
    struct timeval tv = {timeout_s, 0};
    bool same = event_pending(c->ev, EV_READ | EV_WRITE, NULL) && event_get_fd(c->ev) == fd &&
                event_get_events(c->ev) == what && event_get_callback(c->ev) == fn;
    if (!same) {
        event_del(c->ev);
        event_assign(c->ev, c->pool->base, fd, what, fn, c);
    } else if (timeout_s <= 0) {
        event_remove_timer(c->ev);
        return;
    }
    event_add(c->ev, timeout_s > 0 ? &tv : NULL);
}

static void conn_fail(struct db_conn *c, const char *why)
{
    struct db *db = c->pool;
    bool was_up = c->state == C_IDLE || c->state == C_BUSY;
    if (was_up)
        db->up--;
    /* a lost connection is news; a failed reconnect while down is not */
    log_kv(was_up ? LOG_WARN : LOG_DEBUG, "db connection lost", "reason", why, "error",
           c->pg ? PQerrorMessage(c->pg) : "", NULL);
    event_del(c->ev);
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->state = C_DOWN;
    c->nprepared = 0; /* a new session knows none of them */
    c->preparing = 0;
    PQclear(c->res);
    c->res = NULL;
    if (c->q) {
        query_fail_later(db, c->q);
        c->q = NULL;
    }
    if (db->up == 0) {
        if (!db->down)
            log_kv(LOG_ERROR, "db unavailable: answering 503 until it is back", "pool",
                   pool_name(db), NULL);
        db->down = true;
        fail_queue(db);
    }
    struct timeval tv = {c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000};
    evtimer_add(c->retry, &tv);
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    conn_start(arg);
}

/* libpq prints server notices (e.g. "terminating connection") to stderr by
 * default; route them through our log instead. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    log_kv(LOG_DEBUG, "db notice", "message", message, NULL);
}

/* Every statement of ours is one short transaction: bound it on the server
 * too, so nothing holds locks (or stays uncommitted) for long -- the audit
 * sealer relies on it. Generic plans: our statements are key lookups whose
 * plan does not depend on the values, and custom plans are re-planned on
 * every call. A cached plan made while a table was still small would stay a
 * sequential scan as the table grows (the benchmark saw 7 full scans of
 * auth_requests per flow), so each connection also drops its plans every
 * REPLAN_MS, and sooner while it is new (0.5, 1, 2, 4, 8 s after it connects:
 * a fresh deployment's tables grow fastest then; see dispatch). Overrides an
 * `options` given in the conninfo. */
static PGconn *start_connect(const char *conninfo)
{
    static const char *const keys[] = {"dbname", "options", NULL};
    const char *const values[] = {
        conninfo, "-c statement_timeout=5000 -c plan_cache_mode=force_generic_plan", NULL};
    return PQconnectStartParams(keys, values, 1);
}

static void conn_start(struct db_conn *c)
{
    c->pg = start_connect(c->pool->conninfo);
    if (c->pg)
        PQsetNoticeProcessor(c->pg, on_notice, NULL);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, "connect start failed");
        return;
    }
    c->state = C_CONNECTING;
    /* libpq: behave as if PQconnectPoll last returned PGRES_POLLING_WRITING */
    conn_wait(c, EV_WRITE, CONNECT_TIMEOUT_S, conn_on_connect);
}

static void conn_send(struct db_conn *c, struct db_query *q);

static void on_init_done(void *arg, enum db_status st, PGresult *res)
{
    (void)res;
    struct db *db = arg;
    if (st == DB_OK && db->on_connect)
        db->on_connect(db->session_arg);
}

/* The session's init statement goes first, ahead of anything queued. */
static void conn_send_init(struct db_conn *c)
{
    struct db_query *q = xcalloc(1, sizeof *q);
    q->sql = c->pool->init_sql;
    q->cb = on_init_done;
    q->arg = c->pool;
    q->params = xcalloc(1, sizeof(char *));
    clock_gettime(CLOCK_MONOTONIC, &q->queued);
    conn_send(c, q);
}

static void conn_ready(struct db_conn *c)
{
    struct db *db = c->pool;
    if (PQsetnonblocking(c->pg, 1) != 0) {
        conn_fail(c, "setnonblocking failed");
        return;
    }
    c->state = C_IDLE;
    c->backoff_ms = BACKOFF_MIN_MS;
    clock_gettime(CLOCK_MONOTONIC, &c->planned);
    c->replan_ms = REPLAN_FIRST_MS; /* plans made while tables are small are redone soon */
    if (db->up++ == 0 && db->down)
        log_kv(LOG_INFO, "db available again", "pool", pool_name(db), NULL);
    db->down = false;
    conn_wait(c, EV_READ | EV_PERSIST, 0, conn_on_io);
    if (db->init_sql)
        conn_send_init(c);
    else
        dispatch(db);
}

static void conn_on_connect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct db_conn *c = arg;
    if (what & EV_TIMEOUT) {
        conn_fail(c, "connect timeout");
        return;
    }
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        conn_wait(c, EV_READ, CONNECT_TIMEOUT_S, conn_on_connect);
        break;
    case PGRES_POLLING_WRITING:
        conn_wait(c, EV_WRITE, CONNECT_TIMEOUT_S, conn_on_connect);
        break;
    case PGRES_POLLING_OK:
        conn_ready(c);
        break;
    default:
        conn_fail(c, "connect failed");
    }
}

/* Parse and plan once per connection: a statement with parameters is
 * prepared the first time this connection sees it (one extra round trip),
 * then only executed. */
static int prepared_index(const struct db_conn *c, const char *sql)
{
    for (int i = 0; i < c->nprepared; i++)
        if (c->prepared[i] == sql)
            return i;
    return -1;
}

static int send_statement(struct db_conn *c, struct db_query *q)
{
    char name[16];
    int i = q->nparams > 0 ? prepared_index(c, q->sql) : -1;
    const char *const *params = (const char *const *)q->params;
    if (i >= 0) {
        snprintf(name, sizeof name, "s%d", i);
        return PQsendQueryPrepared(c->pg, name, q->nparams, params, NULL, NULL, 0);
    }
    if (q->nparams > 0 && c->nprepared < MAX_PREPARED) {
        snprintf(name, sizeof name, "s%d", c->nprepared);
        c->preparing = c->nprepared + 1;
        return PQsendPrepare(c->pg, name, q->sql, q->nparams, NULL);
    }
    return PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, params, NULL, NULL, 0);
}

static void conn_flush_and_wait(struct db_conn *c)
{
    int r = PQflush(c->pg);
    if (r < 0) {
        conn_fail(c, "flush failed");
        return;
    }
    conn_wait(c, r ? EV_READ | EV_WRITE | EV_PERSIST : EV_READ | EV_PERSIST, QUERY_TIMEOUT_S,
              conn_on_io);
}

static void conn_send(struct db_conn *c, struct db_query *q)
{
    c->q = q;
    c->state = C_BUSY;
    if (!send_statement(c, q)) {
        conn_fail(c, "send failed");
        return;
    }
    conn_flush_and_wait(c);
}

/* The PREPARE answered: remember it and execute; false: deliver its error. */
static bool prepare_done(struct db_conn *c, PGresult *res)
{
    int i = c->preparing - 1;
    c->preparing = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return false;
    c->prepared[i] = c->q->sql;
    c->nprepared = i + 1;
    PQclear(res);
    if (!send_statement(c, c->q))
        conn_fail(c, "send failed");
    else
        conn_flush_and_wait(c);
    return true;
}

static void on_replanned(void *arg, enum db_status st, PGresult *res)
{
    (void)arg, (void)st, (void)res;
}

/* Drops the connection's cached plans before its next statement. */
static void conn_replan(struct db_conn *c)
{
    struct db_query *q = xcalloc(1, sizeof *q);
    q->sql = "DISCARD PLANS";
    q->cb = on_replanned;
    q->params = xcalloc(1, sizeof(char *));
    clock_gettime(CLOCK_MONOTONIC, &q->queued);
    clock_gettime(CLOCK_MONOTONIC, &c->planned);
    c->replan_ms = c->replan_ms * 2 < REPLAN_MS ? c->replan_ms * 2 : REPLAN_MS;
    conn_send(c, q);
}

/* The batch answered. Every item gets its own rows. A batch is one transaction:
 * when PostgreSQL refused it (an error result), nothing of it was committed, so
 * each item goes back to the head of the queue to run alone and meet its own
 * outcome. Without a result (connection lost) each item hears "unavailable",
 * as a lone statement would. */
static void batch_done(void *arg, enum db_status st, PGresult *res)
{
    struct batch_run *run = arg;
    int n = run->n;
    run->n = 0; /* the items are handed on here; query_free frees only the run */
    if (st != DB_OK && res) {
        log_kv(LOG_DEBUG, "db batch failed: its items run alone", "sqlstate", db_sqlstate(res),
               NULL);
        for (int k = n - 1; k >= 0; k--) {
            run->items[k]->alone = true;
            TAILQ_INSERT_HEAD(&run->db->queue, run->items[k], link);
        }
        return; /* conn_deliver dispatches next */
    }
    for (int k = 0; k < n; k++) {
        PGresult *mine = st == DB_OK ? dbbatch_rows(res, k + 1) : NULL;
        query_finish(run->items[k], mine ? st : DB_UNAVAILABLE, mine);
        PQclear(mine);
    }
}

/* Parameter k of the batch: the array of every item's k-th parameter. */
static struct db_query *batch_query(struct batch_run *run)
{
    struct db_query *first = run->items[0], *q = xcalloc(1, sizeof *q);
    q->sql = first->batch->sql;
    q->nparams = first->nparams;
    q->params = xcalloc((size_t)q->nparams, sizeof(char *));
    const char *vals[DB_BATCH_MAX];
    for (int k = 0; k < q->nparams; k++) {
        for (int i = 0; i < run->n; i++)
            vals[i] = run->items[i]->params[k];
        q->params[k] = dbbatch_array(vals, run->n);
    }
    q->cb = batch_done;
    q->arg = run;
    q->run = run;
    q->queued = first->queued;
    return q;
}

/* first has left the queue for an idle connection. If statements of its kind
 * are queued too, they all leave together as one batch statement. */
static struct db_query *batch_take(struct db *db, struct db_query *first)
{
    const struct db_batch *b = first->batch;
    int max = b && b->max < db->batch_max ? b->max : db->batch_max;
    if (!b || first->alone || max < 2 || !TAILQ_FIRST(&db->queue))
        return first;
    struct batch_run *run = xcalloc(1, sizeof *run);
    run->db = db;
    run->items[run->n++] = first;
    struct db_query *q = TAILQ_FIRST(&db->queue), *next;
    for (; q && run->n < max && run->n < DB_BATCH_MAX; q = next) {
        next = TAILQ_NEXT(q, link);
        if (q->batch != b || q->alone || q->nparams != first->nparams)
            continue;
        TAILQ_REMOVE(&db->queue, q, link);
        run->items[run->n++] = q;
    }
    if (run->n == 1) {
        free(run);
        return first;
    }
    db->batches++;
    db->batched += (unsigned long long)run->n;
    if (log_enabled(LOG_DEBUG)) {
        char n[16];
        snprintf(n, sizeof n, "%d", run->n);
        log_kv(LOG_DEBUG, "db batch sent", "items", n, NULL);
    }
    return batch_query(run);
}

static void dispatch(struct db *db)
{
    for (int i = 0; i < db->size && !TAILQ_EMPTY(&db->queue); i++) {
        struct db_conn *c = &db->conns[i];
        if (c->state != C_IDLE)
            continue;
        if (ms_since(&c->planned) > c->replan_ms) {
            conn_replan(c); /* the queue waits one round trip */
            continue;
        }
        struct db_query *q = TAILQ_FIRST(&db->queue);
        TAILQ_REMOVE(&db->queue, q, link);
        conn_send(c, batch_take(db, q));
    }
}

/* SQLSTATE classes that say "try again", not "your statement is wrong":
 * connection (08), rollback/serialization (40), resources (53), operator
 * intervention such as a shutdown (57), system errors (58). */
static bool transient(const char *sqlstate)
{
    static const char *const classes[] = {"08", "40", "53", "57", "58"};
    for (size_t i = 0; i < sizeof classes / sizeof *classes; i++)
        if (strncmp(sqlstate, classes[i], 2) == 0)
            return true;
    return false;
}

/* The whole result has arrived: hand it over, then reuse the connection. */
static void conn_deliver(struct db_conn *c, PGresult *res)
{
    struct db *db = c->pool;
    struct db_query *q = c->q;
    c->q = NULL;
    c->state = C_IDLE;
    conn_wait(c, EV_READ | EV_PERSIST, 0, conn_on_io);
    ExecStatusType rs = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    enum db_status st = (rs == PGRES_TUPLES_OK || rs == PGRES_COMMAND_OK) ? DB_OK : DB_ERROR;
    if (st == DB_ERROR && transient(db_sqlstate(res)))
        st = DB_UNAVAILABLE;
    if (st == DB_ERROR && res)
        log_kv(LOG_DEBUG, "db statement failed", "sqlstate", db_sqlstate(res), "error",
               PQresultErrorMessage(res), NULL);
    if (!res)
        st = DB_UNAVAILABLE;
    query_finish(q, st, res);
    PQclear(res);
    dispatch(db);
}

/* PQgetResult is called only after PQisBusy() == 0, when it cannot block. */
static void conn_read_results(struct db_conn *c)
{
    PGresult *res;
    for (;;) {
        if (PQisBusy(c->pg))
            return; /* c->res waits for the terminating NULL */
        res = PQgetResult(c->pg);
        if (!res)
            break;
        if (!c->res)
            c->res = res;
        else
            PQclear(res);
    }
    res = c->res;
    c->res = NULL;
    if (c->preparing && res && prepare_done(c, res))
        return;
    conn_deliver(c, res);
}

static void conn_on_io(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct db_conn *c = arg;
    if (what & EV_TIMEOUT) {
        conn_fail(c, "statement timeout");
        return;
    }
    if (what & EV_WRITE) {
        int r = PQflush(c->pg);
        if (r < 0) {
            conn_fail(c, "flush failed");
            return;
        }
        if (r == 0)
            conn_wait(c, EV_READ | EV_PERSIST, QUERY_TIMEOUT_S, conn_on_io);
    }
    if (!(what & EV_READ))
        return;
    if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, "connection closed");
        return;
    }
    struct db *db = c->pool;
    PGnotify *n;
    while ((n = PQnotifies(c->pg)) != NULL) {
        if (db->on_notify)
            db->on_notify(db->session_arg, n->extra);
        PQfreemem(n);
    }
    if (c->state == C_BUSY)
        conn_read_results(c);
}

/* Queued statements that waited too long answer "unavailable". */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct db *db = arg;
    struct db_query *q;
    while ((q = TAILQ_FIRST(&db->queue)) != NULL && ms_since(&q->queued) > QUEUE_TIMEOUT_MS) {
        TAILQ_REMOVE(&db->queue, q, link);
        query_fail_later(db, q);
    }
}

struct db *db_new(struct event_base *base, const char *conninfo, int size)
{
    struct db *db = xcalloc(1, sizeof *db);
    db->base = base;
    db->conninfo = xstrdup(conninfo);
    db->size = size;
    db->batch_max = DB_BATCH_MAX;
    db->conns = xcalloc((size_t)size, sizeof *db->conns);
    TAILQ_INIT(&db->queue);
    TAILQ_INIT(&db->done);
    db->defer = event_new(base, -1, 0, on_defer, db);
    db->sweep = event_new(base, -1, EV_PERSIST, on_sweep, db);
    struct timeval tv = {0, 250000};
    event_add(db->sweep, &tv);
    for (int i = 0; i < size; i++) {
        struct db_conn *c = &db->conns[i];
        c->pool = db;
        c->backoff_ms = BACKOFF_MIN_MS;
        c->ev = event_new(base, -1, 0, conn_on_io, c);
        c->retry = evtimer_new(base, on_retry, c);
        conn_start(c);
    }
    return db;
}

static void free_list(struct query_list *l)
{
    struct db_query *q;
    while ((q = TAILQ_FIRST(l)) != NULL) {
        TAILQ_REMOVE(l, q, link);
        query_free(q);
    }
}

void db_free(struct db *db)
{
    if (!db)
        return;
    for (int i = 0; i < db->size; i++) {
        struct db_conn *c = &db->conns[i];
        event_free(c->ev);
        event_free(c->retry);
        PQclear(c->res);
        if (c->q)
            query_free(c->q);
        if (c->pg)
            PQfinish(c->pg);
    }
    free_list(&db->queue);
    free_list(&db->done);
    event_free(db->defer);
    event_free(db->sweep);
    free(db->conns);
    free(db->conninfo);
    free(db);
}

static struct db_query *query_new(const char *sql, int nparams, const char *const *params, db_cb cb,
                                  void *arg)
{
    struct db_query *q = xcalloc(1, sizeof *q);
    q->sql = sql;
    q->cb = cb;
    q->arg = arg;
    q->nparams = nparams;
    q->params = xcalloc((size_t)(nparams > 0 ? nparams : 1), sizeof(char *));
    for (int i = 0; i < nparams; i++)
        q->params[i] = params[i] ? xstrdup(params[i]) : NULL;
    clock_gettime(CLOCK_MONOTONIC, &q->queued);
    return q;
}

/* Debug: a statement that has to wait for a connection (a batch may form). */
static void log_queued(const struct db *db, const struct db_query *q)
{
    int depth = 0;
    bool waits = false;
    for (const struct db_query *e = TAILQ_FIRST(&db->queue); e; e = TAILQ_NEXT(e, link)) {
        depth++;
        waits = waits || e == q;
    }
    char n[16];
    snprintf(n, sizeof n, "%d", depth);
    if (waits)
        log_kv(LOG_DEBUG, "db statement waits for a connection", "pool", pool_name(db), "batch",
               q->batch ? "yes" : "no", "depth", n, NULL);
}

static void query_submit(struct db *db, struct db_query *q)
{
    if (db->down) {
        query_fail_later(db, q);
        return;
    }
    TAILQ_INSERT_TAIL(&db->queue, q, link);
    dispatch(db);
    if (log_enabled(LOG_DEBUG))
        log_queued(db, q);
}

void db_query(struct db *db, const char *sql, int nparams, const char *const *params, db_cb cb,
              void *arg)
{
    query_submit(db, query_new(sql, nparams, params, cb, arg));
}

void db_query_batch(struct db *db, const struct db_batch *batch, const char *sql, int nparams,
                    const char *const *params, db_cb cb, void *arg)
{
    struct db_query *q = query_new(sql, nparams, params, cb, arg);
    q->batch = batch;
    query_submit(db, q);
}

void db_set_batch_max(struct db *db, int max)
{
    db->batch_max = max < 1 ? 1 : max > DB_BATCH_MAX ? DB_BATCH_MAX : max;
}

void db_batch_stats(const struct db *db, unsigned long long *batches, unsigned long long *items)
{
    *batches = db->batches;
    *items = db->batched;
}

void db_set_session(struct db *db, const char *init_sql, void (*on_connect)(void *arg),
                    void (*on_notify)(void *arg, const char *payload), void *arg)
{
    db->init_sql = init_sql;
    db->on_connect = on_connect;
    db->on_notify = on_notify;
    db->session_arg = arg;
}

bool db_up(const struct db *db)
{
    return db->up > 0;
}

int db_conns_up(const struct db *db)
{
    return db->up;
}

int db_queue_depth(const struct db *db)
{
    int n = 0;
    struct db_query *q;
    TAILQ_FOREACH(q, &db->queue, link)
    n++;
    return n;
}

const char *db_sqlstate(const PGresult *res)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s ? s : "";
}
