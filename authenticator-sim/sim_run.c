/* run: the device loop -- long-poll, check each challenge against the pinned server keys,
 * show it, decide (fixed, or asked on the terminal), answer, print the server's verdict
 * (api.md 6.2, 6.3). Challenges that fail the check are reported and never answered. */
#include "protocol/claimtime.h"
#include "sim.h"
#include "sim_client.h"
#include "sim_prompt.h"
#include "sim_util.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ANSWER_TIMEOUT_S 20
#define BACKOFF_MAX_S 30
#define SKIP_RING 64

struct run {
    struct sim_client c;
    const struct sim_opts *o;
    struct event *timer; /* backoff, --delay, and pacing between polls */
    struct event *sig_int, *sig_term;
    void (*after_timer)(struct run *);
    json_t *queue;         /* verified challenge payloads of the last poll, not yet answered */
    json_t *current;       /* the one being answered */
    char *skip[SKIP_RING]; /* requestIds refused or left unanswered: never again */
    size_t nskip;
    int backoff_s, failing, answered, status;
};

static void poll_now(struct run *r);
static void next_challenge(struct run *r);

static void finish(struct run *r, int status)
{
    r->status = status;
    event_base_loopbreak(r->c.base);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct run *r = arg;
    r->after_timer(r);
}

static void later(struct run *r, int seconds, void (*fn)(struct run *))
{
    r->after_timer = fn;
    event_add(r->timer, &(struct timeval){seconds, 0});
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct run *r = arg;
    fprintf(stderr, "pushgate-sim: stopped by signal %d\n", (int)sig);
    finish(r, r->o->once && !r->answered ? SIM_FAIL : SIM_OK);
}

static int skipped(const struct run *r, const char *rid)
{
    for (size_t i = 0; i < r->nskip && i < SKIP_RING; i++)
        if (!strcmp(r->skip[i], rid))
            return 1;
    return 0;
}

static void add_skip(struct run *r, const char *rid)
{
    free(r->skip[r->nskip % SKIP_RING]);
    r->skip[r->nskip++ % SKIP_RING] = strdup(rid);
}

/* The server did not answer, or answered 5xx: report once per outage, retry with backoff. */
static void unreachable(struct run *r, const struct sim_resp *resp)
{
    char d[512];
    sim_resp_describe(resp, d, sizeof d);
    r->backoff_s = r->backoff_s ? r->backoff_s * 2 : 1;
    if (r->backoff_s > BACKOFF_MAX_S)
        r->backoff_s = BACKOFF_MAX_S;
    sim_err("server %s unavailable (%s); retrying in %d s", r->c.st.server, d, r->backoff_s);
    r->failing = 1;
    later(r, r->backoff_s, poll_now);
}

static void print_field(const char *label, json_t *v)
{
    if (json_is_string(v)) {
        printf("  %-13s %s\n", label, json_string_value(v));
    } else if (v && !json_is_null(v)) {
        char *t = sim_json_text(v);
        printf("  %-13s %s\n", label, t);
        free(t);
    }
}

static void show(const json_t *p)
{
    json_t *app = json_object_get(p, "application");
    printf("challenge %s\n", json_string_value(json_object_get(p, "requestId")));
    printf("  %-13s %s (%s)\n", "application:", json_string_value(json_object_get(app, "name")),
           json_string_value(json_object_get(app, "id")));
    print_field("user:", json_object_get(p, "username"));
    print_field("type:", json_object_get(p, "type"));
    print_field("message:", json_object_get(p, "message"));
    print_field("context:", json_object_get(p, "context"));
    print_field("transaction:", json_object_get(p, "transaction"));
    print_field("verification:", json_object_get(p, "verification"));
    json_int_t exp = json_integer_value(json_object_get(p, "exp"));
    if (exp)
        printf("  %-13s in %lld s\n", "expires:", claimtime_diff(exp, time(NULL)));
    fflush(stdout);
}

/* Verifies every listed challenge; queues the good ones. Returns how many were listed. */
static size_t take_challenges(struct run *r, const json_t *body)
{
    json_t *list = json_object_get(body, "challenges"), *item;
    size_t i;
    json_array_foreach(list, i, item)
    {
        const char *rid = json_string_value(json_object_get(item, "requestId"));
        const char *jws = json_string_value(json_object_get(item, "challenge"));
        const char *why = NULL;
        if (rid && skipped(r, rid))
            continue;
        json_t *p = sim_challenge_check(r->c.keys, jws, r->c.dev->device_id, rid, &why);
        if (!p) {
            sim_err("REFUSED challenge %s: %s; it is not answered", rid ? rid : "(no id)", why);
            if (rid)
                add_skip(r, rid);
            continue;
        }
        show(p);
        json_array_append_new(r->queue, p);
    }
    return json_array_size(list);
}

static void on_poll(const struct sim_resp *resp, void *arg)
{
    struct run *r = arg;
    if (resp->status == 0 || resp->status >= 500)
        return unreachable(r, resp);
    if (resp->status != 200 || !json_is_array(json_object_get(resp->json, "challenges"))) {
        char d[512];
        sim_resp_describe(resp, d, sizeof d);
        sim_err("polling failed: %s%s", d,
                resp->status == 401 ? " (the device was revoked, or this machine's clock is "
                                      "more than 60 s off)"
                                    : "");
        return finish(r, SIM_FAIL);
    }
    if (r->failing)
        fprintf(stderr, "pushgate-sim: connected to %s again\n", r->c.st.server);
    r->failing = 0;
    r->backoff_s = 0;
    size_t listed = take_challenges(r, resp->json);
    if (json_array_size(r->queue) == 0 && listed > 0)
        return later(r, 1, poll_now); /* only refused ones: the server lists them again */
    next_challenge(r);
}

static void poll_now(struct run *r)
{
    char q[32];
    snprintf(q, sizeof q, "wait=%ld", r->o->wait);
    if (sim_client_request(&r->c, EVHTTP_REQ_GET, "/device/challenges", q, NULL,
                           (int)r->o->wait + 15, on_poll, r) < 0) {
        sim_err("cannot send the poll request");
        finish(r, SIM_FAIL);
    }
}

static void on_answer(const struct sim_resp *resp, void *arg)
{
    struct run *r = arg;
    const char *rid = json_string_value(json_object_get(r->current, "requestId"));
    const char *st = json_string_value(json_object_get(resp->json, "status"));
    int ok = resp->status == 200 && st;
    if (ok) {
        printf("answered %s: server says %s\n", rid, st);
    } else {
        char d[512];
        sim_resp_describe(resp, d, sizeof d);
        printf("answered %s: the server did not take it: %s\n", rid, d);
    }
    fflush(stdout);
    json_decref(r->current);
    r->current = NULL;
    r->answered++;
    if (r->o->once)
        return finish(r, ok ? SIM_OK : SIM_FAIL);
    if (resp->status == 0)
        return unreachable(r, resp);
    next_challenge(r);
}

/* Sends the signed answer for r->current; decision comes from the options or the prompt. */
static void answer(struct run *r)
{
    const json_t *p = r->current;
    const char *rid = json_string_value(json_object_get(p, "requestId"));
    struct sim_choice ch;
    if (sim_prompt_choose(r->o, p, &ch) < 0) {
        add_skip(r, rid);
        json_decref(r->current);
        r->current = NULL;
        return r->o->once ? finish(r, SIM_FAIL) : next_challenge(r);
    }
    printf("answering %s: %s%s%s%s\n", rid, ch.decision, ch.reason ? " (reason " : "",
           ch.reason ? ch.reason : "", ch.reason ? ")" : "");
    fflush(stdout);
    char *jws = sim_response(r->c.dev->key, r->c.dev->device_id, rid,
                             json_string_value(json_object_get(p, "nonce")),
                             json_string_value(json_object_get(p, "chal")), ch.decision, ch.reason,
                             ch.code[0] ? ch.code : NULL);
    json_t *body = jws ? json_pack("{s:s}", "response", jws) : NULL;
    char route[200];
    snprintf(route, sizeof route, "/device/challenges/%s", rid);
    if (!body || sim_client_request(&r->c, EVHTTP_REQ_POST, route, NULL, body, ANSWER_TIMEOUT_S,
                                    on_answer, r) < 0) {
        sim_err("cannot sign or send the answer");
        finish(r, SIM_FAIL);
    }
    free(jws);
    json_decref(body);
}

static void next_challenge(struct run *r)
{
    if (json_array_size(r->queue) == 0)
        return poll_now(r);
    r->current = json_incref(json_array_get(r->queue, 0));
    json_array_remove(r->queue, 0);
    if (r->o->delay > 0) {
        printf("answering in %ld s\n", r->o->delay);
        fflush(stdout);
        return later(r, (int)r->o->delay, answer);
    }
    answer(r);
}

static int check_args(const struct sim_opts *o)
{
    if (o->decision == SIM_NONE) {
        sim_err("run wants one of --approve, --deny, --not-me, --ask");
        return -1;
    }
    if (o->code && sim_prompt_code_ok(o->code) < 0) {
        sim_err("--code wants the three digits the application shows, not '%s'", o->code);
        return -1;
    }
    return 0;
}

int sim_cmd_run(const struct sim_opts *o)
{
    if (check_args(o) < 0)
        return SIM_USAGE;
    struct run r = {.o = o, .status = SIM_FAIL};
    if (sim_client_open(&r.c, o->state) < 0)
        return SIM_FAIL;
    r.queue = json_array();
    r.timer = evtimer_new(r.c.base, on_timer, &r);
    r.sig_int = evsignal_new(r.c.base, SIGINT, on_signal, &r);
    r.sig_term = evsignal_new(r.c.base, SIGTERM, on_signal, &r);
    if (r.timer && r.sig_int && r.sig_term && event_add(r.sig_int, NULL) == 0 &&
        event_add(r.sig_term, NULL) == 0) {
        printf("device %s (%s of %s) waiting for challenges from %s\n", r.c.dev->device_id,
               r.c.dev->username,
               json_string_value(json_object_get(r.c.st.application, "name")) ?: "?",
               r.c.st.server);
        fflush(stdout);
        poll_now(&r);
        event_base_dispatch(r.c.base);
    }
    for (size_t i = 0; i < SKIP_RING; i++)
        free(r.skip[i]);
    json_decref(r.queue);
    json_decref(r.current);
    if (r.timer)
        event_free(r.timer);
    if (r.sig_int)
        event_free(r.sig_int);
    if (r.sig_term)
        event_free(r.sig_term);
    int status = r.status;
    sim_client_close(&r.c);
    return status;
}
