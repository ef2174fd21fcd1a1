/* load: many devices in one process, one event loop, one TCP connection each; every device
 * long-polls and approves whatever it is asked; the report is one JSON line on stdout
 * (docs/simulator.md). */
#include "sim.h"
#include "sim_http.h"
#include "sim_proof.h"
#include "sim_state.h"
#include "sim_stats.h"
#include "sim_util.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define START_BATCH 50 /* devices connected per 10 ms tick: no SYN flood on the backlog */
#define ANSWER_TIMEOUT_S 20
#define BACKOFF_MAX_S 30
#define PROGRESS_S 10

struct load;

struct ldev {
    struct load *L;
    struct sim_dev *d;
    struct sim_conn *conn;
    json_t *queue;       /* verified challenges of the last poll still to answer, or NULL */
    struct event *retry; /* made on the first failure */
    uint64_t sent_us;    /* the outstanding request was sent */
    uint64_t recv_us;    /* the poll answer that carried the current challenge arrived */
    uint8_t backoff_s, dead;
};

struct load {
    const struct sim_opts *o;
    struct sim_state st;
    struct sim_url url;
    struct event_base *base;
    struct sim_keyset *keys;
    struct ldev *devs;
    size_t n, started;
    struct event *starter, *stopper, *progress, *sig_int, *sig_term;
    struct sim_series answer_ms, poll_ms;
    uint64_t t0;
    unsigned long polls, empty_polls, challenges, answered, accepted, denied, refused,
        answer_errors, net_errors, http_errors, unauthorized;
};

static void dev_poll(struct ldev *v);
static void dev_next(struct ldev *v);

static double ms_since(uint64_t t)
{
    return (double)(sim_now_us() - t) / 1000.0;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    dev_poll(arg);
}

/* No answer or a 5xx: try again later, backing off per device. */
static void dev_backoff(struct ldev *v)
{
    if (!v->retry && !(v->retry = evtimer_new(v->L->base, on_retry, v))) {
        v->dead = 1;
        return;
    }
    v->backoff_s = v->backoff_s ? (uint8_t)(v->backoff_s * 2) : 1;
    if (v->backoff_s > BACKOFF_MAX_S)
        v->backoff_s = BACKOFF_MAX_S;
    event_add(v->retry, &(struct timeval){v->backoff_s, 0});
}

static void take(struct ldev *v, const json_t *list)
{
    json_t *item;
    size_t i;
    json_array_foreach(list, i, item)
    {
        const char *why;
        json_t *p = sim_challenge_check(
            v->L->keys, json_string_value(json_object_get(item, "challenge")), v->d->device_id,
            json_string_value(json_object_get(item, "requestId")), &why);
        if (!p) {
            v->L->refused++;
            continue;
        }
        v->L->challenges++;
        if (!v->queue)
            v->queue = json_array();
        json_array_append_new(v->queue, p);
    }
}

static void on_poll(const struct sim_resp *r, void *arg)
{
    struct ldev *v = arg;
    struct load *L = v->L;
    json_t *list = json_object_get(r->json, "challenges");
    if (r->status == 0 || r->status >= 500) {
        if (r->status)
            L->http_errors++;
        else
            L->net_errors++;
        return dev_backoff(v);
    }
    if (r->status != 200 || !json_is_array(list)) {
        if (r->status == 401)
            L->unauthorized++;
        else
            L->http_errors++;
        v->dead = 1; /* revoked or refused: this device stops */
        return;
    }
    L->polls++;
    v->backoff_s = 0;
    if (json_array_size(list) == 0) {
        L->empty_polls++;
        return dev_poll(v);
    }
    sim_series_add(&L->poll_ms, ms_since(v->sent_us));
    v->recv_us = sim_now_us();
    take(v, list);
    dev_next(v);
}

static void dev_poll(struct ldev *v)
{
    char htu[600], q[32];
    struct load *L = v->L;
    snprintf(q, sizeof q, "/device/challenges?wait=%ld", L->o->wait);
    sim_url_path(&L->url, "/device/challenges", htu, sizeof htu);
    char *authz = sim_device_authz(v->d->key, v->d->device_id, "GET", htu);
    const char *h[] = {"Authorization", authz, NULL};
    v->sent_us = sim_now_us();
    if (!authz ||
        sim_http_request(v->conn, EVHTTP_REQ_GET, q, h, NULL, (int)L->o->wait + 15, on_poll, v) < 0)
        dev_backoff(v);
    free(authz);
}

static void on_answer(const struct sim_resp *r, void *arg)
{
    struct ldev *v = arg;
    struct load *L = v->L;
    const char *st = json_string_value(json_object_get(r->json, "status"));
    if (r->status == 200 && st) {
        L->answered++;
        if (!strcmp(st, "accepted"))
            L->accepted++;
        else
            L->denied++;
        sim_series_add(&L->answer_ms, ms_since(v->recv_us));
    } else {
        L->answer_errors++;
    }
    if (r->status == 0)
        return dev_backoff(v);
    dev_next(v);
}

/* Approves the next queued challenge, or polls again when there is none. */
static void dev_next(struct ldev *v)
{
    if (!v->queue || json_array_size(v->queue) == 0)
        return dev_poll(v);
    json_t *p = json_incref(json_array_get(v->queue, 0));
    json_array_remove(v->queue, 0);
    const char *rid = json_string_value(json_object_get(p, "requestId"));
    char route[200], htu[800];
    snprintf(route, sizeof route, "/device/challenges/%s", rid);
    sim_url_path(&v->L->url, route, htu, sizeof htu);
    char *jws = sim_response(v->d->key, v->d->device_id, rid,
                             json_string_value(json_object_get(p, "nonce")),
                             json_string_value(json_object_get(p, "chal")), "approve", NULL, NULL);
    char *authz = sim_device_authz(v->d->key, v->d->device_id, "POST", htu);
    json_t *body = jws ? json_pack("{s:s}", "response", jws) : NULL;
    const char *h[] = {"Authorization", authz, NULL};
    if (!body || !authz ||
        sim_http_request(v->conn, EVHTTP_REQ_POST, route, h, body, ANSWER_TIMEOUT_S, on_answer, v) <
            0) {
        v->L->answer_errors++;
        dev_backoff(v);
    }
    free(jws);
    free(authz);
    json_decref(body);
    json_decref(p);
}

/* Connects START_BATCH more devices per tick until all are polling. */
static void on_start_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct load *L = arg;
    for (size_t k = 0; k < START_BATCH && L->started < L->n; k++, L->started++) {
        struct ldev *v = &L->devs[L->started];
        v->L = L;
        v->d = &L->st.devs[L->started];
        if (!(v->conn = sim_conn_new(L->base, &L->url))) {
            v->dead = 1;
            L->net_errors++;
            continue;
        }
        dev_poll(v);
    }
    if (L->started < L->n)
        event_add(L->starter, &(struct timeval){0, 10000});
    else
        fprintf(stderr, "pushgate-sim: load: all %zu devices started in %.1f s\n", L->n,
                ms_since(L->t0) / 1000.0);
}

static void on_progress(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct load *L = arg;
    size_t dead = 0;
    for (size_t i = 0; i < L->started; i++)
        dead += L->devs[i].dead;
    fprintf(stderr,
            "pushgate-sim: load: %.0f s, %zu devices, %zu stopped, %lu challenges, %lu "
            "answered, %lu network errors\n",
            ms_since(L->t0) / 1000.0, L->started, dead, L->challenges, L->answered, L->net_errors);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    event_base_loopbreak(((struct load *)arg)->base);
}

/* The final report: one JSON line on stdout, for the benchmark harness. */
static void report(struct load *L)
{
    json_t *o =
        json_pack("{s:s, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "mode", "load",
                  "devices", (json_int_t)L->n, "seconds", ms_since(L->t0) / 1000.0, "polls",
                  (json_int_t)L->polls, "emptyPolls", (json_int_t)L->empty_polls, "challenges",
                  (json_int_t)L->challenges, "answered", (json_int_t)L->answered, "accepted",
                  (json_int_t)L->accepted, "denied", (json_int_t)L->denied, "refused",
                  (json_int_t)L->refused, "answerErrors", (json_int_t)L->answer_errors);
    json_t *err =
        json_pack("{s:I, s:I, s:I}", "network", (json_int_t)L->net_errors, "http",
                  (json_int_t)L->http_errors, "unauthorized", (json_int_t)L->unauthorized);
    json_object_set_new(o, "errors", err);
    json_object_set_new(o, "answerMs", sim_series_json(&L->answer_ms));
    json_object_set_new(o, "pollMs", sim_series_json(&L->poll_ms));
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    printf("%s\n", text ? text : "{}");
    fflush(stdout);
    free(text);
    json_decref(o);
}

static int setup(struct load *L, const char *path)
{
    char err[600];
    if (sim_state_load(path, &L->st, err, sizeof err) < 0) {
        sim_err("%s", err);
        return -1;
    }
    if ((size_t)L->o->devices > L->st.ndevs) {
        sim_err("%s holds %zu devices, fewer than --devices %ld: enroll more with load --enroll",
                path, L->st.ndevs, L->o->devices);
        return -1;
    }
    L->n = (size_t)L->o->devices;
    if (sim_url_parse(L->st.server, &L->url, err, sizeof err) < 0 ||
        !(L->keys = sim_keyset_new(L->st.jwks))) {
        sim_err("%s is corrupt: bad server URL or pinned keys", path);
        return -1;
    }
    L->devs = calloc(L->n, sizeof *L->devs);
    L->base = event_base_new();
    return L->devs && L->base ? 0 : -1;
}

static int add_events(struct load *L)
{
    L->starter = evtimer_new(L->base, on_start_tick, L);
    L->stopper = evtimer_new(L->base, on_stop, L);
    L->progress = event_new(L->base, -1, EV_PERSIST, on_progress, L);
    L->sig_int = evsignal_new(L->base, SIGINT, on_stop, L);
    L->sig_term = evsignal_new(L->base, SIGTERM, on_stop, L);
    if (!L->starter || !L->stopper || !L->progress || !L->sig_int || !L->sig_term)
        return -1;
    event_add(L->sig_int, NULL);
    event_add(L->sig_term, NULL);
    event_add(L->progress, &(struct timeval){PROGRESS_S, 0});
    if (L->o->duration > 0)
        event_add(L->stopper, &(struct timeval){L->o->duration, 0});
    return event_add(L->starter, &(struct timeval){0, 0});
}

static void free_event(struct event *e)
{
    if (e)
        event_free(e);
}

static void teardown(struct load *L)
{
    for (size_t i = 0; L->devs && i < L->n; i++) {
        sim_conn_free(L->devs[i].conn);
        json_decref(L->devs[i].queue);
        free_event(L->devs[i].retry);
    }
    free(L->devs);
    struct event *evs[] = {L->starter, L->stopper, L->progress, L->sig_int, L->sig_term};
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
        free_event(evs[i]);
    sim_keyset_free(L->keys);
    if (L->base)
        sim_http_base_free(L->base);
    sim_series_free(&L->answer_ms);
    sim_series_free(&L->poll_ms);
    sim_state_clear(&L->st);
}

int sim_cmd_load(const struct sim_opts *o)
{
    char path[4200];
    if (!o->state_dir || (!o->devices && !o->enroll)) {
        sim_err("load wants --state-dir DIR and --devices N");
        return SIM_USAGE;
    }
    snprintf(path, sizeof path, "%s/%s", o->state_dir, SIM_LOAD_STATE_NAME);
    if (o->enroll)
        return sim_load_enroll(o, path);
    struct load L = {.o = o, .t0 = sim_now_us()};
    int rc = SIM_FAIL;
    if (setup(&L, path) == 0 && add_events(&L) == 0) {
        fprintf(stderr, "pushgate-sim: load: %zu devices against %s\n", L.n, L.st.server);
        event_base_dispatch(L.base);
        report(&L);
        rc = SIM_OK;
    }
    teardown(&L);
    return rc;
}
