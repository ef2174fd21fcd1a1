/* load --enroll: create users PREFIX<i> (POST /registration, email PREFIX<i>@load.test),
 * take each link from the mail directory, enroll a device for each, and keep them all in
 * one state file. Devices already in the file are kept; only the missing indices are made,
 * so an interrupted enrolment can be resumed. Requests run K at a time on K connections. */
#include "sim.h"
#include "sim_http.h"
#include "sim_mail.h"
#include "sim_proof.h"
#include "sim_state.h"
#include "sim_util.h"

#include "protocol/jwk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <strings.h>

#define REQ_TIMEOUT_S 30

struct lenroll;

struct lslot {
    struct lenroll *E;
    struct sim_conn *conn;
    size_t idx; /* device index being worked on */
};

struct lenroll {
    const struct sim_opts *o;
    struct event_base *base;
    struct sim_url url;
    struct sim_state st;
    struct lslot *slots;
    size_t k, first, n, next, done;
    int failed;
    void (*step)(struct lslot *); /* the phase: start the request for s->idx */
    char **links;                 /* [i - first] */
    struct timespec *mtimes;
    char **reg_ids, **dev_ids;
    EVP_PKEY **keys;
};

/* Hands the slot its next index, or ends the phase when all are done. */
static void slot_next(struct lslot *s)
{
    struct lenroll *E = s->E;
    if (E->failed || E->next >= E->n) {
        if (E->failed || E->done == E->n - E->first)
            event_base_loopbreak(E->base);
        return;
    }
    s->idx = E->next++;
    E->step(s);
}

static void slot_done(struct lslot *s)
{
    s->E->done++;
    slot_next(s);
}

static void fail(struct lslot *s, const char *what, const struct sim_resp *r)
{
    char d[512];
    sim_resp_describe(r, d, sizeof d);
    sim_err("load --enroll: %s for device %zu: %s", what, s->idx, d);
    s->E->failed = 1;
    event_base_loopbreak(s->E->base);
}

/* Runs one phase over [first, n) with K slots. 0 when every index succeeded. */
static int run_phase(struct lenroll *E, void (*step)(struct lslot *))
{
    E->step = step;
    E->next = E->first;
    E->done = 0;
    for (size_t i = 0; i < E->k && !E->failed; i++)
        slot_next(&E->slots[i]);
    if (!E->failed && E->done < E->n - E->first)
        event_base_dispatch(E->base);
    return E->failed || E->done < E->n - E->first ? -1 : 0;
}

/* ---- phase 1: POST /registration ---- */

static void on_registered(const struct sim_resp *r, void *arg)
{
    struct lslot *s = arg;
    if (r->status != 201)
        return fail(s, "POST /registration failed", r);
    slot_done(s);
}

static void step_register(struct lslot *s)
{
    const struct sim_opts *o = s->E->o;
    char user[200], email[260];
    snprintf(user, sizeof user, "%s%zu", o->prefix, s->idx);
    snprintf(email, sizeof email, "%s@load.test", user);
    json_t *body = json_pack("{s:s, s:s}", "username", user, "email", email);
    const char *h[] = {"x-application-id", o->app_id, "x-application-secret", o->app_secret, NULL};
    if (!body || sim_http_request(s->conn, EVHTTP_REQ_POST, "/registration", h, body, REQ_TIMEOUT_S,
                                  on_registered, s) < 0)
        fail(s, "cannot send POST /registration", &(struct sim_resp){0});
    json_decref(body);
}

/* ---- phase 2: the links, from the mail directory ---- */

/* "prefix<i>@load.test" -> i within [first, n), else -1. */
static long index_of(const struct lenroll *E, const char *to)
{
    size_t pl = strlen(E->o->prefix);
    long i;
    char num[32];
    const char *at = strchr(to, '@');
    if (!at || strcmp(at, "@load.test") != 0 || strncasecmp(to, E->o->prefix, pl) != 0 ||
        (size_t)(at - to - (long)pl) >= sizeof num || at - to <= (long)pl)
        return -1;
    memcpy(num, to + pl, (size_t)(at - to) - pl);
    num[at - to - (long)pl] = '\0';
    if (sim_parse_long(num, (long)E->first, (long)E->n - 1, &i) < 0)
        return -1;
    return i;
}

static void on_mail(const char *to, const char *link, const struct timespec *mt, void *arg)
{
    struct lenroll *E = arg;
    long i = index_of(E, to);
    if (i < 0)
        return;
    size_t j = (size_t)i - E->first;
    struct timespec *old = &E->mtimes[j];
    if (E->links[j] &&
        (mt->tv_sec < old->tv_sec || (mt->tv_sec == old->tv_sec && mt->tv_nsec <= old->tv_nsec)))
        return;
    free(E->links[j]);
    E->links[j] = strdup(link);
    *old = *mt;
}

static int collect_links(struct lenroll *E)
{
    size_t want = E->n - E->first, have = 0;
    long wait_s = E->o->mail_wait > 30 ? E->o->mail_wait : 30 + (long)want / 20;
    uint64_t deadline = sim_now_us() + (uint64_t)wait_s * 1000000u;
    do {
        if (sim_mail_scan(E->o->mail_dir, on_mail, E) < 0 && errno != ENOENT) {
            sim_err("cannot read the mail directory %s: %s", E->o->mail_dir, strerror(errno));
            return -1;
        }
        have = 0;
        for (size_t j = 0; j < want; j++)
            have += E->links[j] != NULL;
        if (have == want)
            return 0;
        nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL);
    } while (sim_now_us() < deadline);
    sim_err("load --enroll: only %zu of %zu registration mails arrived in %s within %ld s", have,
            want, E->o->mail_dir, wait_s);
    return -1;
}

/* ---- phase 3: GET and POST each link ---- */

static const char *link_path(const char *link)
{
    const char *r = strstr(link, "/r/");
    for (const char *n = r; n; n = strstr(n + 1, "/r/"))
        r = n;
    return r;
}

static void on_bound(const struct sim_resp *r, void *arg)
{
    struct lslot *s = arg;
    const char *id = json_string_value(json_object_get(r->json, "deviceId"));
    if (r->status != 201 || !id)
        return fail(s, "binding the device failed", r);
    s->E->dev_ids[s->idx - s->E->first] = strdup(id);
    slot_done(s);
}

/* The first registration document pins the server keys for the whole file. */
static void pin(struct lenroll *E, const json_t *doc)
{
    if (!E->st.jwks)
        E->st.jwks = json_incref(json_object_get(json_object_get(doc, "server"), "jwks"));
    if (!E->st.application)
        E->st.application = json_incref(json_object_get(doc, "application"));
}

static void on_document(const struct sim_resp *r, void *arg)
{
    struct lslot *s = arg;
    struct lenroll *E = s->E;
    size_t j = s->idx - E->first;
    const char *reg = json_string_value(json_object_get(r->json, "registrationId"));
    if (r->status != 200 || !reg)
        return fail(s, "the registration link did not work", r);
    pin(E, r->json);
    EVP_PKEY *key = E->keys[j] = jwk_generate_p256();
    char *proof = key ? sim_registration_proof(key, reg) : NULL;
    json_t *jwk = key ? jwk_from_pkey(key, NULL) : NULL;
    char name[80];
    snprintf(name, sizeof name, "load device %zu", s->idx);
    json_t *body = proof && jwk ? json_pack("{s:O, s:s, s:s}", "publicKey", jwk, "deviceName", name,
                                            "proof", proof)
                                : NULL;
    if (!body || sim_http_request(s->conn, EVHTTP_REQ_POST, link_path(E->links[j]), NULL, body,
                                  REQ_TIMEOUT_S, on_bound, s) < 0)
        fail(s, "cannot send the binding", &(struct sim_resp){0});
    free(proof);
    json_decref(jwk);
    json_decref(body);
}

static void step_enroll(struct lslot *s)
{
    const char *path = link_path(s->E->links[s->idx - s->E->first]);
    const char *h[] = {"Accept", "application/json", NULL};
    if (!path ||
        sim_http_request(s->conn, EVHTTP_REQ_GET, path, h, NULL, REQ_TIMEOUT_S, on_document, s) < 0)
        fail(s, "cannot fetch the registration link", &(struct sim_resp){0});
}

/* ---- the command ---- */

static int check_args(struct sim_opts *o)
{
    if (!o->app_secret)
        o->app_secret = getenv("PUSHGATE_SIM_APP_SECRET");
    if (!o->server || !o->app_id || !o->app_secret || !o->mail_dir || !o->devices || !o->prefix ||
        !o->state_dir) {
        sim_err("load --enroll wants --server, --app-id, --app-secret (or "
                "PUSHGATE_SIM_APP_SECRET), --mail-dir, --devices, --prefix and --state-dir");
        return -1;
    }
    if (strlen(o->prefix) < 1 || strlen(o->prefix) > 100 ||
        strspn(o->prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
            strlen(o->prefix)) {
        sim_err("--prefix wants 1-100 letters, digits, '.', '_' or '-'");
        return -1;
    }
    return 0;
}

/* The existing file, when there is one, must be a load file for the same server. */
static int open_state(struct lenroll *E, const char *path)
{
    char err[600];
    if (access(path, F_OK) != 0) {
        E->st.server = strdup(E->o->server);
        E->st.many = 1;
        return mkdir(E->o->state_dir, 0700) < 0 && errno != EEXIST ? -1 : 0;
    }
    if (sim_state_load(path, &E->st, err, sizeof err) < 0) {
        sim_err("%s", err);
        return -1;
    }
    if (!E->st.many || strcmp(E->st.server, E->o->server) != 0) {
        sim_err("%s is not a load state file for %s", path, E->o->server);
        return -1;
    }
    return 0;
}

static int alloc_all(struct lenroll *E)
{
    size_t m = E->n - E->first;
    long k = E->o->concurrency ? E->o->concurrency : 16;
    E->k = (size_t)k < m ? (size_t)k : m;
    E->links = calloc(m, sizeof *E->links);
    E->mtimes = calloc(m, sizeof *E->mtimes);
    E->dev_ids = calloc(m, sizeof *E->dev_ids);
    E->keys = calloc(m, sizeof *E->keys);
    E->slots = calloc(E->k, sizeof *E->slots);
    E->base = event_base_new();
    if (!E->links || !E->mtimes || !E->dev_ids || !E->keys || !E->slots || !E->base)
        return -1;
    for (size_t i = 0; i < E->k; i++) {
        E->slots[i].E = E;
        if (!(E->slots[i].conn = sim_conn_new(E->base, &E->url)))
            return -1;
    }
    return 0;
}

static void free_all(struct lenroll *E)
{
    size_t m = E->n > E->first ? E->n - E->first : 0;
    for (size_t i = 0; i < m; i++) {
        free(E->links ? E->links[i] : NULL);
        free(E->dev_ids ? E->dev_ids[i] : NULL);
        EVP_PKEY_free(E->keys ? E->keys[i] : NULL);
    }
    for (size_t i = 0; E->slots && i < E->k; i++)
        sim_conn_free(E->slots[i].conn);
    free(E->links);
    free(E->mtimes);
    free(E->dev_ids);
    free(E->keys);
    free(E->slots);
    if (E->base)
        sim_http_base_free(E->base);
    sim_state_clear(&E->st);
}

/* Moves the new devices into the state and writes it. */
static int save(struct lenroll *E, const char *path)
{
    char err[600], user[200];
    for (size_t i = E->first; i < E->n; i++) {
        size_t j = i - E->first;
        snprintf(user, sizeof user, "%s%zu", E->o->prefix, i);
        if (sim_state_add(&E->st, E->dev_ids[j], user, E->keys[j]) < 0)
            return -1;
        E->keys[j] = NULL;
    }
    if (sim_state_save(path, &E->st, err, sizeof err) < 0) {
        sim_err("%s", err);
        return -1;
    }
    return 0;
}

static int enroll_all(struct lenroll *E, const char *path)
{
    uint64_t t0 = sim_now_us();
    if (run_phase(E, step_register) < 0 || collect_links(E) < 0 || run_phase(E, step_enroll) < 0 ||
        save(E, path) < 0)
        return -1;
    printf("{\"enrolled\":%zu,\"devices\":%zu,\"state\":\"%s\",\"seconds\":%.1f}\n",
           E->n - E->first, E->n, path, (double)(sim_now_us() - t0) / 1e6);
    return 0;
}

int sim_load_enroll(const struct sim_opts *opts, const char *path)
{
    struct sim_opts o = *opts;
    struct lenroll E = {.o = &o};
    char err[300];
    if (check_args(&o) < 0)
        return SIM_USAGE;
    if (sim_url_parse(o.server, &E.url, err, sizeof err) < 0) {
        sim_err("--server: %s", err);
        return SIM_USAGE;
    }
    int rc = SIM_FAIL;
    if (open_state(&E, path) < 0) {
        sim_err("cannot use the state directory %s", o.state_dir);
    } else if ((E.first = E.st.ndevs) >= (size_t)o.devices) {
        printf("{\"enrolled\":0,\"devices\":%zu,\"state\":\"%s\"}\n", E.st.ndevs, path);
        rc = SIM_OK;
    } else if ((E.n = (size_t)o.devices), alloc_all(&E) < 0) {
        sim_err("out of memory");
    } else if (enroll_all(&E, path) == 0) {
        rc = SIM_OK;
    }
    free_all(&E);
    return rc;
}
