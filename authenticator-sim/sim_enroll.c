/* enroll: link a new simulated device through a registration link (api.md 4). */
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
#include <time.h>
#include <unistd.h>

#define ENROLL_TIMEOUT_S 20

/* Waits up to o->mail_wait seconds for a registration mail to o->email. */
static char *link_from_mail(const struct sim_opts *o)
{
    uint64_t deadline = sim_now_us() + (uint64_t)o->mail_wait * 1000000u;
    for (;;) {
        int unreadable = 0;
        char *link = sim_mail_newest_link(o->mail_dir, o->email, &unreadable);
        if (link)
            return link;
        if (unreadable && errno != ENOENT) {
            sim_err("cannot read the mail directory %s: %s", o->mail_dir, strerror(errno));
            return NULL;
        }
        if (sim_now_us() >= deadline)
            break;
        nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    }
    sim_err("no registration mail to %s in %s (waited %ld s)", o->email, o->mail_dir, o->mail_wait);
    return NULL;
}

/* Splits LINK into the server's base URL and the token path "/r/<token>". */
static int split_link(const char *link, struct sim_url *u, char *path, size_t pathsz)
{
    const char *r = strstr(link, "/r/");
    for (const char *next = r; next; next = strstr(next + 1, "/r/"))
        r = next;
    char base[1024], err[300];
    if (!r || r[3] == '\0' || strchr(r + 3, '/') || (size_t)(r - link) >= sizeof base ||
        strlen(r) >= pathsz) {
        sim_err("not a registration link (want <server>/r/<token>): %s", link);
        return -1;
    }
    memcpy(base, link, (size_t)(r - link));
    base[r - link] = '\0';
    if (sim_url_parse(base, u, err, sizeof err) < 0) {
        sim_err("bad registration link: %s", err);
        return -1;
    }
    snprintf(path, pathsz, "%s", r);
    return 0;
}

/* A failed answer to the link: what it means for the user. */
static void report_link_error(const struct sim_resp *r, const struct sim_url *u)
{
    char what[512];
    sim_resp_describe(r, what, sizeof what);
    if (r->status == 0)
        sim_err("cannot reach the server at http://%s: %s", u->hostport, what);
    else if (r->status == 404 || r->status == 410)
        sim_err("the registration link cannot be used (%s)", what);
    else
        sim_err("the server refused the registration: %s", what);
}

struct enrolled {
    const char *registration_id;
    json_t *doc; /* the registration document */
};

/* GET the link as JSON; fills e->doc (new reference) after checking its shape. */
static int fetch_document(struct event_base *base, struct sim_conn *c, const struct sim_url *u,
                          const char *path, struct enrolled *e)
{
    const char *h[] = {"Accept", "application/json", NULL};
    struct sim_resp r;
    if (sim_http_sync(base, c, EVHTTP_REQ_GET, path, h, NULL, ENROLL_TIMEOUT_S, &r) < 0) {
        sim_err("cannot send a request to http://%s", u->hostport);
        return -1;
    }
    int rc = -1;
    if (r.status != 200 || !r.json)
        report_link_error(&r, u);
    else if (json_unpack(r.json, "{s:s, s:{s:s, s:o}}", "registrationId", &e->registration_id,
                         "server", "url", &(const char *){0}, "jwks", &(json_t *){0}) < 0)
        sim_err("the registration document lacks registrationId or server.url/jwks");
    else
        e->doc = json_incref(r.json), rc = 0;
    sim_resp_clear(&r);
    return rc;
}

static json_t *bind_body(EVP_PKEY *key, const char *name, const char *registration_id)
{
    char *proof = sim_registration_proof(key, registration_id);
    json_t *jwk = jwk_from_pkey(key, NULL);
    json_t *b = proof && jwk ? json_pack("{s:O, s:s, s:s}", "publicKey", jwk, "deviceName", name,
                                         "proof", proof)
                             : NULL;
    free(proof);
    json_decref(jwk);
    return b;
}

/* POST the new key; on 201 returns the answer (new reference). */
static json_t *bind_device(struct event_base *base, struct sim_conn *c, const struct sim_url *u,
                           const char *path, EVP_PKEY *key, const char *name, const char *reg_id)
{
    json_t *body = bind_body(key, name, reg_id);
    struct sim_resp r = {0};
    json_t *out = NULL;
    if (!body ||
        sim_http_sync(base, c, EVHTTP_REQ_POST, path, NULL, body, ENROLL_TIMEOUT_S, &r) < 0)
        sim_err("cannot build or send the binding request");
    else if (r.status != 201 || !json_is_string(json_object_get(r.json, "deviceId")))
        report_link_error(&r, u);
    else
        out = json_incref(r.json);
    json_decref(body);
    sim_resp_clear(&r);
    return out;
}

static int save(const struct sim_opts *o, const json_t *doc, const json_t *bound, EVP_PKEY *key,
                const char *name, const char *link_base)
{
    json_t *srv = json_object_get(doc, "server");
    const char *url = json_string_value(json_object_get(srv, "url"));
    struct sim_url check;
    char err[512];
    struct sim_state st = {0};
    /* the document's public URL is where the device talks from now on */
    st.server = strdup(url && sim_url_parse(url, &check, err, sizeof err) == 0 ? url : link_base);
    st.jwks = json_incref(json_object_get(srv, "jwks"));
    st.application = json_incref(json_object_get(doc, "application"));
    st.device_name = strdup(name);
    int rc = sim_state_add(&st, json_string_value(json_object_get(bound, "deviceId")),
                           json_string_value(json_object_get(doc, "username")), key);
    if (rc == 0 && (rc = sim_state_save(o->state, &st, err, sizeof err)) < 0)
        sim_err("the device is linked, but its state could not be saved: %s", err);
    if (rc == 0)
        st.devs[0].key = NULL; /* the caller frees it */
    sim_state_clear(&st);
    return rc;
}

static void print_enrolled(const struct sim_opts *o, const json_t *doc, const json_t *bound)
{
    json_t *app = json_object_get(doc, "application");
    printf("enrolled device %s as \"%s\" for user %s of %s\n",
           json_string_value(json_object_get(bound, "deviceId")), o->name,
           json_string_value(json_object_get(doc, "username")),
           json_string_value(json_object_get(app, "name")));
    printf("server %s, state saved in %s\n",
           json_string_value(json_object_get(json_object_get(doc, "server"), "url")), o->state);
}

static int check_args(const struct sim_opts *o)
{
    if (!!o->link == !!(o->mail_dir || o->email) || (!o->link && (!o->mail_dir || !o->email))) {
        sim_err("enroll wants a LINK, or --mail-dir DIR with --email ADDRESS");
        return -1;
    }
    if (o->name && (strlen(o->name) < 1 || strlen(o->name) > 64)) {
        sim_err("--name must be 1-64 characters");
        return -1;
    }
    if (!o->force && access(o->state, F_OK) == 0) {
        sim_err("%s already exists (a device is enrolled there): pass --force to replace it, "
                "or --state FILE for another device",
                o->state);
        return -1;
    }
    return 0;
}

static int enroll_link(const struct sim_opts *o, const char *link)
{
    struct sim_url u;
    char path[512], base_url[1024];
    if (split_link(link, &u, path, sizeof path) < 0)
        return SIM_FAIL;
    snprintf(base_url, sizeof base_url, "http://%s%s", u.hostport, u.prefix);
    struct event_base *base = event_base_new();
    struct sim_conn *c = base ? sim_conn_new(base, &u) : NULL;
    struct enrolled e = {0};
    EVP_PKEY *key = NULL;
    json_t *bound = NULL;
    int rc = SIM_FAIL;
    if (!c)
        sim_err("cannot set up the HTTP client");
    else if (fetch_document(base, c, &u, path, &e) == 0 && (key = jwk_generate_p256()) &&
             (bound = bind_device(base, c, &u, path, key, o->name, e.registration_id)) &&
             save(o, e.doc, bound, key, o->name, base_url) == 0) {
        print_enrolled(o, e.doc, bound);
        rc = SIM_OK;
    }
    EVP_PKEY_free(key);
    json_decref(bound);
    json_decref(e.doc);
    sim_conn_free(c);
    if (base)
        sim_http_base_free(base);
    return rc;
}

int sim_cmd_enroll(const struct sim_opts *opts)
{
    struct sim_opts o = *opts;
    char host[64] = "", name[80];
    if (check_args(&o) < 0)
        return SIM_USAGE;
    if (!o.name) {
        gethostname(host, sizeof host - 1);
        snprintf(name, sizeof name, "pushgate-sim on %.40s", host[0] ? host : "localhost");
        o.name = name;
    }
    char *link = o.link ? strdup(o.link) : link_from_mail(&o);
    if (!link)
        return SIM_FAIL;
    int rc = enroll_link(&o, link);
    free(link);
    return rc;
}
