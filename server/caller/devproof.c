#include "devproof.h"

#include "alloc.h"
#include "db.h"
#include "dbbatch.h"
#include "devproof_parse.h"
#include "hmap.h"
#include "pollclaim.h"
#include "protocol/jwk.h"
#include "protocol/jws.h"
#include "server.h"
#include "valid.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JTI_PURGE_S 60       /* rows past their 121 s (sql/021_proofs.sql) go this often */
#define KEY_CACHE_MAX 200000 /* points; beyond: start again (keys are cheap to re-read) */
#define BUILT_MAX 2048       /* parsed keys; beyond: start again (rebuilt from points) */

/* A device's key is kept as its 65-byte point (an EVP_PKEY takes ~2 KiB: at
 * 100,000 idle devices that was 2 KiB of each held poll's 7-8) and parsed again
 * when it is needed and not among the BUILT_MAX parsed last (~14 us through one
 * reused context, once a minute for an idle device; a device in a flow stays parsed). */
struct devproof {
    struct server *srv;
    struct hmap *points;  /* device id -> unsigned char[JWK_POINT_LEN] */
    struct hmap *keys;    /* device id -> EVP_PKEY, at most BUILT_MAX */
    EVP_PKEY_CTX *reload; /* jwk_point_reload's */
    struct event *purge;
};

static void on_purged(void *arg, enum db_status st, PGresult *res)
{
    (void)arg, (void)st, (void)res; /* the next minute tries again */
}

static void on_purge(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct devproof *d = arg;
    db_query(d->srv->db, "DELETE FROM device_jtis WHERE seen_at < now() - interval '121 seconds'",
             0, NULL, on_purged, d);
}

struct devproof *devproof_new(struct server *srv)
{
    struct devproof *d = xcalloc(1, sizeof *d);
    d->srv = srv;
    d->points = hmap_new();
    d->keys = hmap_new();
    d->reload = jwk_reload_ctx_new();
    d->purge = event_new(srv->base, -1, EV_PERSIST, on_purge, d);
    struct timeval tv = {JTI_PURGE_S, 0};
    event_add(d->purge, &tv);
    return d;
}

static void free_key(void *value, void *arg)
{
    (void)arg;
    EVP_PKEY_free(value);
}

static void free_point(void *value, void *arg)
{
    (void)arg;
    free(value);
}

void devproof_free(struct devproof *d)
{
    if (!d)
        return;
    hmap_each(d->keys, free_key, NULL);
    hmap_free(d->keys);
    hmap_each(d->points, free_point, NULL);
    hmap_free(d->points);
    EVP_PKEY_CTX_free(d->reload);
    if (d->purge)
        event_free(d->purge);
    free(d);
}

/* Every map is emptied when it is full: a re-read or a re-parse is cheap. */
static struct hmap *room_in(struct hmap *m, size_t max, void (*free_value)(void *, void *))
{
    if (hmap_count(m) < max)
        return m;
    hmap_each(m, free_value, NULL);
    hmap_free(m);
    return hmap_new();
}

static EVP_PKEY *keep_parsed(struct devproof *d, const char *device_id, EVP_PKEY *k)
{
    d->keys = room_in(d->keys, BUILT_MAX, free_key);
    hmap_add(d->keys, device_id, k);
    return k;
}

EVP_PKEY *devproof_key(struct server *srv, const char *device_id)
{
    struct devproof *d = srv->devproof;
    EVP_PKEY *k = hmap_get(d->keys, device_id);
    if (k)
        return k;
    const unsigned char *pt = hmap_get(d->points, device_id);
    k = pt ? jwk_point_reload(d->reload, pt) : NULL; /* checked when it was kept */
    return k ? keep_parsed(d, device_id, k) : NULL;
}

static EVP_PKEY *key_for(struct server *srv, const char *device_id, const char *jwk_text)
{
    struct devproof *d = srv->devproof;
    EVP_PKEY *k = devproof_key(srv, device_id);
    if (k)
        return k;
    unsigned char *pt = xmalloc(JWK_POINT_LEN);
    json_t *jwk = json_loads(jwk_text, 0, NULL);
    k = jwk && jwk_to_point(jwk, pt) == 0 ? jwk_point_to_pkey(pt) : NULL;
    json_decref(jwk);
    if (!k) {
        free(pt);
        return NULL;
    }
    d->points = room_in(d->points, KEY_CACHE_MAX, free_point);
    hmap_add(d->points, device_id, pt);
    return keep_parsed(d, device_id, k);
}

void devproof_unauthorized(struct req *r)
{
    http_problem(r, 401, "invalid_device_proof", "missing or invalid device proof");
}

enum claim_mode {
    CLAIM_NOW,     /* in device_jtis before next runs */
    CLAIM_HANDLER, /* AUTH_DEVICE_JTI: next claims it in its own statement */
    CLAIM_LAZY,    /* AUTH_DEVICE_POLL: pollclaim, then devproof_reply_* (devproof.h) */
};

struct check {
    struct req *r;
    void (*next)(struct req *r);
    char *jws;
    char kid[72];
    char jti[72];
    enum claim_mode mode;
};

/* Signature and claims under key; copies the jti (16-64 chars) into jti[72]. */
static bool proof_ok(struct req *r, EVP_PKEY *key, const char *jws, char *jti)
{
    return devproof_verify(jws, key, http_method_name(r), http_path(r), time(NULL), jti);
}

/* The claim of a jti (sql/021_proofs.sql): one row when it was not seen in the
 * last 121 s (the 120 s of api.md 6.1, and as long as its iat is acceptable), none
 * when it was or when the device's application is disabled; within 121 s of a
 * crash that emptied the claims, a transient error (503). Claims that queue
 * together share one statement. */
static const struct db_batch jti_batch = {
    "SELECT 1, k.i FROM device_jtis_claim($1::text[], $2::text[]) AS k(i)", DB_BATCH_MAX};
#define JTI_CLAIM_SQL "SELECT 1 WHERE device_jti_claim($1, $2)"

static void check_free(struct check *c)
{
    free(c->jws);
    free(c);
}

/* Ends a check: frees c; on success hands the device (and, when the handler
 * claims it, the jti) to the request and runs next. */
static void check_end(struct check *c, bool ok)
{
    struct req *r = c->r;
    void (*next)(struct req *) = c->next;
    if (ok) {
        r->device_id = xstrdup(c->kid);
        r->device_jti = c->mode != CLAIM_NOW ? xstrdup(c->jti) : NULL;
    }
    check_free(c);
    if (ok)
        next(r);
    else
        devproof_unauthorized(r);
}

static void on_claimed(void *arg, enum db_status st, PGresult *res)
{
    struct check *c = arg;
    if (st == DB_UNAVAILABLE || st == DB_ERROR) {
        struct req *r = c->r;
        check_free(c);
        return http_db_failure(r, st);
    }
    check_end(c, PQntuples(res) == 1); /* none: refused (see jti_batch) */
}

/* A proof that verified: its jti is claimed in the database (every instance, and
 * this one after a restart, sees it), and only then does next run; or next gets
 * the jti to claim itself. c is consumed. */
static void claim(struct check *c)
{
    struct pollclaim *pc = c->r->srv->pollclaim;
    if (c->mode == CLAIM_HANDLER)
        return check_end(c, true);
    if (c->mode == CLAIM_LAZY && pollclaim_ready(pc)) {
        uint64_t key = pollclaim_key(c->kid, c->jti);
        if (!pollclaim_take(pc, key, c->kid))
            return check_end(c, false); /* seen: a replay */
        c->r->device_claim = key;
        return check_end(c, true);
    }
    const char *p[] = {c->kid, c->jti};
    db_query_batch(c->r->srv->db, &jti_batch, JTI_CLAIM_SQL, 2, p, on_claimed, c);
}

/* First request of a device to this process: read its key (and refuse an
 * unknown or revoked device at once). */
static void on_device_row(void *arg, enum db_status st, PGresult *res)
{
    struct check *c = arg;
    struct req *r = c->r;
    bool ok = false;
    if (st == DB_OK && PQntuples(res) == 1) {
        EVP_PKEY *key = key_for(r->srv, c->kid, PQgetvalue(res, 0, 0));
        ok = strcmp(PQgetvalue(res, 0, 1), "active") == 0 && proof_ok(r, key, c->jws, c->jti);
    }
    if (st == DB_UNAVAILABLE || st == DB_ERROR) {
        check_free(c);
        return http_db_failure(r, st);
    }
    if (!ok)
        return check_end(c, false);
    claim(c);
}

/* With the key cached no read is needed: every device statement checks the
 * device's status itself (sql/006_auth.sql, sql/008_lean_auth.sql). */
static void check(struct req *r, void (*next)(struct req *r), enum claim_mode mode)
{
    const char *jws;
    char id[DEVPROOF_ID_SIZE];
    if (devproof_parse_header(http_header(r, "Authorization"), id, &jws) < 0)
        return devproof_unauthorized(r);
    struct check *c = xcalloc(1, sizeof *c);
    c->r = r;
    c->next = next;
    c->mode = mode;
    snprintf(c->kid, sizeof c->kid, "%s", id);
    EVP_PKEY *key = devproof_key(r->srv, id);
    if (key)
        return proof_ok(r, key, jws, c->jti) ? claim(c) : check_end(c, false);
    c->jws = xstrdup(jws);
    const char *p[] = {c->kid};
    db_query(r->srv->db, "SELECT public_jwk, status FROM devices WHERE id = $1", 1, p,
             on_device_row, c);
}

void devproof_check(struct req *r, void (*next)(struct req *r))
{
    check(r, next, CLAIM_NOW);
}

void devproof_check_unclaimed(struct req *r, void (*next)(struct req *r))
{
    check(r, next, CLAIM_HANDLER);
}

void devproof_check_poll(struct req *r, void (*next)(struct req *r))
{
    check(r, next, CLAIM_LAZY);
}

/* A lazily claimed poll's answer, held while its jti is claimed in device_jtis. */
struct settle {
    struct req *r;
    json_t *body;
};

static void on_settled(void *arg, enum db_status st, PGresult *res)
{
    struct settle *s = arg;
    if (st == DB_UNAVAILABLE || st == DB_ERROR)
        http_db_failure(s->r, st);
    else if (PQntuples(res) == 1) /* none: refused (see jti_batch) */
        http_reply_json(s->r, 200, json_incref(s->body));
    else
        devproof_unauthorized(s->r);
    json_decref(s->body);
    free(s);
}

static void settle(struct req *r, json_t *body)
{
    struct settle *s = xcalloc(1, sizeof *s);
    s->r = r;
    s->body = body;
    r->device_claim = 0;
    const char *p[] = {r->device_id, r->device_jti};
    db_query_batch(r->srv->db, &jti_batch, JTI_CLAIM_SQL, 2, p, on_settled, s);
}

void devproof_reply_claimed(struct req *r, json_t *body)
{
    if (!r->device_claim)
        return http_reply_json(r, 200, body);
    if (pollclaim_state(r->srv->pollclaim, r->device_claim) == POLLCLAIM_LOST) {
        json_decref(body);
        return devproof_unauthorized(r); /* a peer took the same proof first */
    }
    settle(r, body);
}

void devproof_reply_idle(struct req *r, json_t *body)
{
    if (!r->device_claim)
        return http_reply_json(r, 200, body);
    switch (pollclaim_state(r->srv->pollclaim, r->device_claim)) {
    case POLLCLAIM_OURS:
        return http_reply_json(r, 200, body);
    case POLLCLAIM_LOST:
        json_decref(body);
        return devproof_unauthorized(r);
    case POLLCLAIM_PENDING: /* not written yet (wait=0, or the database is slow) */
        return settle(r, body);
    }
}
