#include "devauth.h"

#include "db.h"
#include "hmap.h"
#include "jwk.h"
#include "jws.h"
#include "server.h"
#include "valid.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#define IAT_SKEW_S 60
#define JTI_WINDOW_S 120
#define KEY_CACHE_MAX 200000 /* beyond: start again (keys are cheap to re-read) */

struct seen {
    TAILQ_ENTRY(seen) link;
    time_t at;
    char key[]; /* deviceId "\n" jti */
};

struct devauth {
    struct hmap *keys; /* device id -> EVP_PKEY */
    struct hmap *jti;  /* deviceId\njti -> struct seen */
    TAILQ_HEAD(, seen) fifo;
};

struct devauth *devauth_new(void)
{
    struct devauth *d = calloc(1, sizeof *d);
    d->keys = hmap_new();
    d->jti = hmap_new();
    TAILQ_INIT(&d->fifo);
    return d;
}

static void free_key(void *value, void *arg)
{
    (void)arg;
    EVP_PKEY_free(value);
}

void devauth_free(struct devauth *d)
{
    if (!d)
        return;
    hmap_each(d->keys, free_key, NULL);
    hmap_free(d->keys);
    hmap_free(d->jti);
    struct seen *s;
    while ((s = TAILQ_FIRST(&d->fifo)) != NULL) {
        TAILQ_REMOVE(&d->fifo, s, link);
        free(s);
    }
    free(d);
}

/* Records device+jti; 0 when new, -1 when seen within the window. */
static int jti_record(struct devauth *d, const char *device_id, const char *jti)
{
    time_t now = time(NULL);
    struct seen *s;
    while ((s = TAILQ_FIRST(&d->fifo)) != NULL && s->at < now - JTI_WINDOW_S) {
        TAILQ_REMOVE(&d->fifo, s, link);
        hmap_remove(d->jti, s->key, s);
        free(s);
    }
    size_t n = strlen(device_id) + strlen(jti) + 2;
    s = malloc(sizeof *s + n);
    snprintf(s->key, n, "%s\n%s", device_id, jti);
    if (hmap_has(d->jti, s->key)) {
        free(s);
        return -1;
    }
    s->at = now;
    TAILQ_INSERT_TAIL(&d->fifo, s, link);
    hmap_add(d->jti, s->key, s);
    return 0;
}

EVP_PKEY *devauth_key(struct server *srv, const char *device_id)
{
    return hmap_get(srv->devauth->keys, device_id);
}

static EVP_PKEY *key_for(struct server *srv, const char *device_id, const char *jwk_text)
{
    EVP_PKEY *k = devauth_key(srv, device_id);
    if (k)
        return k;
    json_t *jwk = json_loads(jwk_text, 0, NULL);
    k = jwk ? jwk_to_pkey(jwk) : NULL;
    json_decref(jwk);
    if (!k)
        return NULL;
    if (hmap_count(srv->devauth->keys) >= KEY_CACHE_MAX) {
        hmap_each(srv->devauth->keys, free_key, NULL);
        hmap_free(srv->devauth->keys);
        srv->devauth->keys = hmap_new();
    }
    hmap_add(srv->devauth->keys, device_id, k);
    return k;
}

void devauth_unauthorized(struct req *r)
{
    http_problem(r, 401, "invalid_device_proof", "missing or invalid device proof");
}

struct check {
    struct req *r;
    void (*next)(struct req *r);
    char *jws;
    char kid[72];
};

/* Every claim of the proof, after the signature verified. */
static bool claims_ok(struct req *r, const json_t *payload)
{
    const char *htm, *htu, *jti;
    json_int_t iat;
    if (json_unpack((json_t *)payload, "{s:s, s:s, s:I, s:s}", "htm", &htm, "htu", &htu, "iat",
                    &iat, "jti", &jti) < 0)
        return false;
    size_t jlen = strlen(jti);
    return strcmp(htm, http_method_name(r)) == 0 && strcmp(htu, http_path(r)) == 0 &&
           llabs((long long)(time(NULL) - iat)) <= IAT_SKEW_S && jlen >= 16 && jlen <= 64;
}

/* Signature and claims under key; records the jti. */
static bool proof_ok(struct req *r, EVP_PKEY *key, const char *jws, const char *kid)
{
    json_t *payload = NULL;
    bool ok =
        key && jws_verify_es256(jws, key, "pushgate-device+jwt", NULL, &payload) == 0 &&
        claims_ok(r, payload) &&
        jti_record(r->srv->devauth, kid, json_string_value(json_object_get(payload, "jti"))) == 0;
    json_decref(payload);
    return ok;
}

static void finish(struct req *r, bool ok, const char *kid, void (*next)(struct req *r))
{
    if (!ok)
        return devauth_unauthorized(r);
    r->device_id = strdup(kid);
    next(r);
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
        ok = strcmp(PQgetvalue(res, 0, 1), "active") == 0 && proof_ok(r, key, c->jws, c->kid);
    }
    void (*next)(struct req *) = c->next;
    char kid[72];
    snprintf(kid, sizeof kid, "%s", c->kid);
    free(c->jws);
    free(c);
    if (st == DB_UNAVAILABLE || st == DB_ERROR)
        return http_db_failure(r, st);
    finish(r, ok, kid, next);
}

/* With the key cached no read is needed: every device statement checks the
 * device's status itself (sql/006_auth.sql, sql/008_lean_auth.sql). */
void devauth_check(struct req *r, void (*next)(struct req *r))
{
    const char *h = http_header(r, "Authorization");
    json_t *hdr = NULL;
    if (!h || strncmp(h, "Device ", 7) != 0 || jws_peek_header(h + 7, &hdr) < 0)
        return devauth_unauthorized(r);
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    char id[72];
    bool valid = kid && valid_id(kid);
    if (valid)
        snprintf(id, sizeof id, "%s", kid);
    json_decref(hdr);
    if (!valid)
        return devauth_unauthorized(r);
    EVP_PKEY *key = devauth_key(r->srv, id);
    if (key)
        return finish(r, proof_ok(r, key, h + 7, id), id, next);
    struct check *c = calloc(1, sizeof *c);
    c->r = r;
    c->next = next;
    c->jws = strdup(h + 7);
    snprintf(c->kid, sizeof c->kid, "%s", id);
    const char *p[] = {c->kid};
    db_query(r->srv->db, "SELECT public_jwk, status FROM devices WHERE id = $1", 1, p,
             on_device_row, c);
}
