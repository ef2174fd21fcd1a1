#include "hold.h"

#include "alloc.h"
#include "db.h"
#include "hmap.h"
#include "log.h"
#include "server.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

struct hold {
    TAILQ_ENTRY(hold) link;
    const struct hold_kind *kind;
    struct req *r;
    struct event *timer;  /* NULL until the first wait */
    struct event *closed; /* the client's socket: EV_CLOSED (and EV_READ until data came,
                           * on_closed); NULL until the first wait */
    struct timespec deadline;
    char key[72];
    unsigned char state; /* enum hold_state */
    bool draining;       /* the graceful stop has cut the deadline */
    max_align_t data[];  /* the kind's own fields, kind->data_size bytes */
};

TAILQ_HEAD(hold_list, hold);

/* srv->holds: the list first (the walks cast srv->holds to it), then the places. */
struct hold_core {
    struct hold_list list;
    size_t used;          /* places taken (hold_admit) */
    struct hmap *per_app; /* application id -> struct app_places */
    unsigned long long refused_process, refused_app;
    time_t last_refusal_log;
};

struct app_places {
    size_t n;
};

static struct hold_core *core_of(const struct server *srv)
{
    return srv->holds;
}

static const char *const state_names[] = {
    [HOLD_IDLE] = "idle",
    [HOLD_READING] = "reading",
    [HOLD_READING_DIRTY] = "reading_dirty",
    [HOLD_HUNGUP_WHILE_READING] = "hungup_while_reading",
    [HOLD_WAITING] = "waiting",
};

static const struct {
    const char *name;     /* for logs */
    const char *key_name; /* the log key of a hold's key */
} kinds[] = {
    [HOLD_AUTH_WAITER] = {"auth waiter", "requestId"},
    [HOLD_DEVICE_POLL] = {"device poll", "deviceId"},
};

static struct hmap *map_of(struct server *srv, const struct hold_kind *k)
{
    return k->id == HOLD_DEVICE_POLL ? srv->polls : srv->waiters;
}

/* The only place a hold's state changes. */
static void hold_set_state(struct hold *h, enum hold_state to)
{
    if (log_enabled(LOG_DEBUG))
        log_kv(LOG_DEBUG, "hold state", "kind", kinds[h->kind->id].name,
               kinds[h->kind->id].key_name, h->key, "from", state_names[h->state], "to",
               state_names[to], NULL);
    h->state = (unsigned char)to;
}

void hold_init(struct server *srv)
{
    struct hold_core *c = xcalloc(1, sizeof *c);
    TAILQ_INIT(&c->list);
    c->per_app = hmap_new();
    srv->holds = c;
    srv->waiters = hmap_new();
    srv->polls = hmap_new();
}

static void free_value(void *v, void *arg)
{
    (void)arg;
    free(v);
}

void hold_free(struct server *srv)
{
    hmap_free(srv->waiters);
    hmap_free(srv->polls);
    if (srv->holds) {
        hmap_each(core_of(srv)->per_app, free_value, NULL);
        hmap_free(core_of(srv)->per_app);
    }
    free(srv->holds);
    srv->waiters = srv->polls = NULL;
    srv->holds = NULL;
}

/* r's end gives its place back (no-op once hold_free has run: a request answered
 * after the stop). */
static void give_back(struct req *r)
{
    struct hold_core *c = core_of(r->srv);
    if (c)
        c->used--;
}

static void give_back_app(struct req *r)
{
    give_back(r);
    struct hold_core *c = core_of(r->srv);
    struct app_places *a = c ? hmap_get(c->per_app, r->app_id) : NULL;
    if (a && --a->n == 0) {
        hmap_remove(c->per_app, r->app_id, a);
        free(a);
    }
}

/* 503 or 429 with Retry-After; one warning per second at most (a full server
 * refuses thousands). */
void hold_refuse(struct req *r, enum hold_admission why)
{
    struct hold_core *c = core_of(r->srv);
    bool app = why == HOLD_APP_FULL;
    time_t now = time(NULL);
    if (now != c->last_refusal_log) {
        c->last_refusal_log = now;
        if (app)
            log_kv(LOG_WARN, "held request refused", "reason", "application", "applicationId",
                   r->app_id, NULL);
        else
            log_kv(LOG_WARN, "held request refused", "reason", "process", NULL);
    }
    if (app) {
        c->refused_app++;
        return http_problem_retry(r, 429, "rate_limited",
                                  "this application holds as many requests as it may here", 1);
    }
    c->refused_process++;
    http_problem_retry(r, 503, "unavailable", "the server holds as many requests as it may", 1);
}

enum hold_admission hold_try_admit(struct req *r, bool per_app)
{
    struct hold_core *c = core_of(r->srv);
    if (r->on_free == give_back || r->on_free == give_back_app)
        return HOLD_ADMITTED; /* a POST /auth admitted before its create, now held (a replay) */
    per_app = per_app && r->app_id;
    struct app_places *a = per_app ? hmap_get(c->per_app, r->app_id) : NULL;
    if (a && a->n >= (size_t)r->srv->cfg->max_held_per_app)
        return HOLD_APP_FULL;
    if (c->used >= (size_t)r->srv->cfg->max_held)
        return HOLD_FULL;
    if (per_app && !a) {
        a = xcalloc(1, sizeof *a);
        hmap_add(c->per_app, r->app_id, a);
    }
    if (a)
        a->n++;
    c->used++;
    r->on_free = per_app ? give_back_app : give_back;
    return HOLD_ADMITTED;
}

bool hold_admit(struct req *r, bool per_app)
{
    enum hold_admission a = hold_try_admit(r, per_app);
    if (a != HOLD_ADMITTED)
        hold_refuse(r, a);
    return a == HOLD_ADMITTED;
}

void hold_places_get(const struct server *srv, struct hold_places *out)
{
    const struct hold_core *c = core_of(srv);
    out->used = c->used;
    out->refused_process = c->refused_process;
    out->refused_app = c->refused_app;
}

static long ms_left(const struct hold *h)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (h->deadline.tv_sec - now.tv_sec) * 1000 + (h->deadline.tv_nsec - now.tv_nsec) / 1000000;
}

static void set_deadline(struct hold *h, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, &h->deadline);
    h->deadline.tv_sec += ms / 1000;
    h->deadline.tv_nsec += (ms % 1000) * 1000000;
    if (h->deadline.tv_nsec >= 1000000000) {
        h->deadline.tv_sec++;
        h->deadline.tv_nsec -= 1000000000;
    }
}

static void arm(struct hold *h, long ms)
{
    if (ms < 0)
        ms = 0;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(h->timer, &tv);
}

/* Graceful stop: the hold may wait no longer than its kind's drain period. */
static void drain(struct hold *h)
{
    if (h->draining)
        return;
    h->draining = true;
    long ms = h->kind->drain_waits ? h->r->srv->cfg->drain_seconds * 1000L : 0;
    if (ms_left(h) <= ms)
        return; /* its timer already runs out within the period */
    set_deadline(h, ms);
    if (h->timer)
        arm(h, ms);
}

struct hold *hold_new(struct req *r, const struct hold_kind *k, const char *key, long deadline_ms)
{
    struct hold *h = xcalloc(1, sizeof *h + k->data_size);
    h->kind = k;
    h->r = r;
    snprintf(h->key, sizeof h->key, "%s", key);
    set_deadline(h, deadline_ms);
    if (r->srv->draining) /* SIGTERM came while the request waited for the database */
        drain(h);
    TAILQ_INSERT_TAIL((struct hold_list *)r->srv->holds, h, link);
    hmap_add(map_of(r->srv, k), h->key, h);
    return h;
}

/* The client left: the kind does what it owes (a cancel), the request is dropped. */
static void hang_up(struct hold *h)
{
    if (h->kind->hangup)
        h->kind->hangup(h);
    http_abandon(hold_end(h));
}

static void on_read(void *arg, enum db_status st, PGresult *res)
{
    struct hold *h = arg;
    if (h->state == HOLD_HUNGUP_WHILE_READING)
        return hang_up(h);
    if (st != DB_OK) /* fail closed: nothing but "unavailable" */
        return http_unavailable(hold_end(h));
    h->kind->rows(h, res);
}

void hold_read(struct hold *h)
{
    hold_set_state(h, HOLD_READING);
    const char *p[4] = {h->key};
    if (h->kind->params)
        h->kind->params(h, p);
    db_query(h->r->srv->db, h->kind->sql, h->kind->nparams, p, on_read, h);
}

void hold_wake(struct hold *h)
{
    if (h->state == HOLD_READING)
        hold_set_state(h, HOLD_READING_DIRTY);
    else if (h->state == HOLD_IDLE || h->state == HOLD_WAITING)
        hold_read(h);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct hold *h = arg;
    h->kind->timeout(h);
}

/* Readable: data (a pipelined request; over TLS a close_notify ahead of its FIN), or a
 * reset, which libevent reports as readable and never as EV_CLOSED (a client that closes
 * with unread data resets: over TLS 1.3, a session ticket it never read is enough). */
static bool only_data(evutil_socket_t fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

static void on_closed(evutil_socket_t fd, short what, void *arg)
{
    struct hold *h = arg;
    if (!(what & EV_CLOSED) && only_data(fd)) {
        /* left for evhttp to read after the answer; from now on only the FIN is watched
         * (level-triggered reads would fire again at once) */
        event_del(h->closed);
        event_assign(h->closed, h->r->srv->base, fd, EV_CLOSED, on_closed, h);
        event_add(h->closed, NULL);
        return;
    }
    event_del(h->closed);
    if (h->state == HOLD_IDLE || h->state == HOLD_WAITING)
        return hang_up(h);
    hold_set_state(h, HOLD_HUNGUP_WHILE_READING);
}

static evutil_socket_t client_fd(struct req *r)
{
    struct evhttp_connection *con = evhttp_request_get_connection(r->ev);
    struct bufferevent *bev = con ? evhttp_connection_get_bufferevent(con) : NULL;
    return bev ? bufferevent_getfd(bev) : -1;
}

/* The first wait: from now on the request is only waited on, so its input is
 * shed and its socket watched for the client leaving. */
static void start_watching(struct hold *h)
{
    struct req *r = h->r;
    http_shed_input(r);
    h->timer = evtimer_new(r->srv->base, on_timer, h);
    evutil_socket_t fd = client_fd(r);
    if (fd >= 0) {
        h->closed = event_new(r->srv->base, fd, EV_CLOSED | EV_READ, on_closed, h);
        event_add(h->closed, NULL);
    }
}

bool hold_wait(struct hold *h, long cap_ms)
{
    if (h->state == HOLD_READING_DIRTY) {
        hold_read(h);
        return true;
    }
    long left = ms_left(h);
    if (left <= 0)
        return false;
    if (!h->timer)
        start_watching(h);
    arm(h, cap_ms < left ? cap_ms : left);
    hold_set_state(h, HOLD_WAITING);
    return true;
}

size_t hold_each(struct server *srv, const struct hold_kind *k, const char *key,
                 void (*fn)(struct hold *h, void *arg), void *arg)
{
    /* hmap has no read of a key's list: take it and put it back, then call fn
     * over that snapshot (fn may end holds, which removes them again) */
    size_t n = 0;
    void **all = hmap_take(map_of(srv, k), key, &n);
    for (size_t i = 0; i < n; i++)
        hmap_add(map_of(srv, k), key, all[i]);
    for (size_t i = 0; i < n; i++)
        fn(all[i], arg);
    free(all);
    return n;
}

static void wake_one(struct hold *h, void *arg)
{
    (void)arg;
    hold_wake(h);
}

size_t hold_wake_key(struct server *srv, const struct hold_kind *k, const char *key)
{
    return hold_each(srv, k, key, wake_one, NULL);
}

void hold_wake_all(struct server *srv, const struct hold_kind *k)
{
    size_t n = 0;
    void **all = hmap_values(map_of(srv, k), &n);
    for (size_t i = 0; i < n; i++)
        hold_wake(all[i]);
    free(all);
}

void hold_each_key(struct server *srv, const struct hold_kind *k,
                   void (*fn)(const char *key, void *arg), void *arg)
{
    hmap_each_key(map_of(srv, k), fn, arg);
}

bool hold_registered(struct server *srv, const struct hold_kind *k, const char *key)
{
    return hmap_has(map_of(srv, k), key);
}

struct req *hold_end(struct hold *h)
{
    struct req *r = h->r;
    hmap_remove(map_of(r->srv, h->kind), h->key, h);
    TAILQ_REMOVE((struct hold_list *)r->srv->holds, h, link);
    if (h->timer)
        event_free(h->timer);
    if (h->closed)
        event_free(h->closed);
    if (h->kind->release)
        h->kind->release(h);
    if (log_enabled(LOG_DEBUG))
        log_kv(LOG_DEBUG, "hold ended", "kind", kinds[h->kind->id].name,
               kinds[h->kind->id].key_name, h->key, "state", state_names[h->state], NULL);
    free(h);
    return r;
}

struct req *hold_req(const struct hold *h)
{
    return h->r;
}

void *hold_data(struct hold *h)
{
    return h->data;
}

const char *hold_key(const struct hold *h)
{
    return h->key;
}

bool hold_reading(const struct hold *h)
{
    return h->state == HOLD_READING || h->state == HOLD_READING_DIRTY ||
           h->state == HOLD_HUNGUP_WHILE_READING;
}

bool hold_dirty(const struct hold *h)
{
    return h->state == HOLD_READING_DIRTY;
}

bool hold_draining(const struct hold *h)
{
    return h->draining;
}

const struct timespec *hold_deadline(const struct hold *h)
{
    return &h->deadline;
}

void hold_drain_all(struct server *srv)
{
    struct hold *h;
    /* drain() calls nothing back: the list cannot change under the walk */
    TAILQ_FOREACH(h, (struct hold_list *)srv->holds, link)
    drain(h);
}

size_t hold_count(const struct server *srv)
{
    size_t n = 0;
    struct hold *h;
    TAILQ_FOREACH(h, (struct hold_list *)srv->holds, link)
    n++;
    return n;
}
