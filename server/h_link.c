/* The registration link, as used by an authenticator or a browser
 * (api.md 4): GET/HEAD /r/{token} and POST /r/{token}. The token is a
 * credential: it is hashed at once and never logged. */
#include "aead.h"
#include "db.h"
#include "h_link.h"
#include "jwk.h"
#include "jws.h"
#include "link_page.h"
#include "mail.h"
#include "mailer.h"
#include "server.h"
#include "token.h"
#include "valid.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROOF_MAX_SKEW 300

static const char *const gone_detail[][2] = {
    {"registration_expired", "this link has expired"},
    {"registration_completed", "this link was already used"},
    {"registration_cancelled", "this registration was cancelled"},
};

/* 404 / 410 for an unusable link, as JSON or as a readable page. */
static void link_unusable(struct req *r, const char *outcome, bool html)
{
    int status = strcmp(outcome, "not_found") == 0 ? 404 : 410;
    const char *detail = "no registration for this link";
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(outcome, gone_detail[i][0]))
            detail = gone_detail[i][1];
    if (html)
        return link_page_error(r, status, detail);
    http_problem(r, status, status == 404 ? "not_found" : outcome, detail);
}

/* shape check before hashing: base64url, at least 128 bits */
static bool token_ok(const char *t)
{
    return valid_b64url(t, 22, 128);
}

struct link_get {
    struct req *r;
    bool html;
};

static void on_link_found(void *arg, enum db_status st, PGresult *res)
{
    struct link_get *g = arg;
    struct req *r = g->r;
    bool html = g->html;
    free(g);
    if (st != DB_OK || PQntuples(res) != 1)
        return http_db_failure(r, st);
    const char *outcome = PQgetvalue(res, 0, 0);
    if (strcmp(outcome, "ok") != 0)
        return link_unusable(r, outcome, html);
    if (html)
        return link_page_render(r, res);
    link_page_document(r, res);
}

void h_link_get(struct req *r)
{
    bool html = !http_wants_json(r);
    if (!token_ok(r->params[0]))
        return link_unusable(r, "not_found", html);
    char hash[65];
    token_sha256_hex(r->params[0], hash);
    struct link_get *g = calloc(1, sizeof *g);
    g->r = r;
    g->html = html;
    /* only a JSON GET marks the registration retrieved; HEAD and pages never do */
    const char *p[] = {hash, (!html && r->method == EVHTTP_REQ_GET) ? "true" : "false"};
    db_query(r->srv->db, "SELECT *, server_jwks() FROM registration_by_token($1, $2)", 2, p,
             on_link_found, g);
}

/* POST /r/{token}: the device proves possession of the key it binds. */
struct bind {
    struct req *r;
    char hash[65];
    char *jwk;    /* canonical public JWK text */
    char *reg_id; /* from the proof payload */
    const char *name;
};

static void bind_free(struct bind *b)
{
    free(b->jwk);
    free(b->reg_id);
    free(b);
}

/* Verifies the proof JWS with the presented key; returns its registrationId. */
static char *check_proof(const char *proof, EVP_PKEY *key)
{
    json_t *payload = NULL;
    const char *reg_id = NULL;
    json_int_t iat = 0;
    char *out = NULL;
    if (jws_verify_es256(proof, key, "pushgate-registration+jwt", NULL, &payload) == 0 &&
        json_unpack(payload, "{s:s, s:I}", "registrationId", &reg_id, "iat", &iat) == 0 &&
        llabs((long long)(time(NULL) - iat)) <= PROOF_MAX_SKEW)
        out = strdup(reg_id);
    json_decref(payload);
    return out;
}

static char *sealed_notice(struct req *r, PGresult *res)
{
    const char *app = PQgetvalue(res, 0, 3), *user = PQgetvalue(res, 0, 4);
    char subject[300], text[1024];
    snprintf(subject, sizeof subject, "A new authenticator was linked to your %s account", app);
    snprintf(text, sizeof text,
             "A new authenticator (\"%s\") was linked to your %s account \"%s\".\n\n"
             "If this was not you, contact %s at once: someone may have used your "
             "registration link.\n",
             json_string_value(json_object_get(r->body, "deviceName")), app, user, app);
    return mailer_seal(r->srv, PQgetvalue(res, 0, 6), subject, text, NULL);
}

static void on_bound(void *arg, enum db_status st, PGresult *res)
{
    struct bind *b = arg;
    struct req *r = b->r;
    bind_free(b);
    if (st != DB_OK || PQntuples(res) != 1)
        return http_db_failure(r, st);
    const char *outcome = PQgetvalue(res, 0, 0);
    if (strcmp(outcome, "ok") != 0)
        return link_unusable(r, outcome, false);
    mailer_kick(r->srv->mailer);
    json_t *body = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    http_reply_json(r, 201, body);
}

static void on_bind_lookup(void *arg, enum db_status st, PGresult *res)
{
    struct bind *b = arg;
    struct req *r = b->r;
    if (st != DB_OK || PQntuples(res) != 1) {
        bind_free(b);
        return http_unavailable(r);
    }
    const char *outcome = PQgetvalue(res, 0, 0);
    if (strcmp(outcome, "ok") != 0) {
        bind_free(b);
        return link_unusable(r, outcome, false);
    }
    if (strcmp(PQgetvalue(res, 0, 1), b->reg_id) != 0) {
        bind_free(b);
        return http_problem(r, 400, "invalid_proof", "the proof is for another registration");
    }
    char *notice = sealed_notice(r, res);
    char *device_id = token_new_id("d_", 12);
    const char *p[] = {b->hash, b->reg_id, device_id, b->name, b->jwk, notice};
    db_query(r->srv->db, "SELECT * FROM registration_complete($1, $2, $3, $4, $5, $6)", 6, p,
             on_bound, b);
    free(device_id);
    free(notice);
}

void h_link_bind(struct req *r)
{
    json_t *jwk;
    const char *name, *proof;
    json_error_t err;
    if (json_unpack_ex(r->body, &err, JSON_STRICT, "{s:o, s:s, s:s}", "publicKey", &jwk,
                       "deviceName", &name, "proof", &proof) < 0)
        return http_bad_request(r, err.text);
    if (!valid_text(name, 64))
        return http_bad_request(r, "deviceName must be 1-64 characters");
    if (!token_ok(r->params[0]))
        return link_unusable(r, "not_found", false);
    EVP_PKEY *key = jwk_to_pkey(jwk);
    if (!key)
        return http_bad_request(r, "publicKey must be a valid EC P-256 public JWK");
    char *reg_id = check_proof(proof, key);
    json_t *canon = jwk_from_pkey(key, NULL);
    EVP_PKEY_free(key);
    if (!reg_id) {
        json_decref(canon);
        return http_problem(r, 400, "invalid_proof", "the proof does not verify");
    }
    struct bind *b = calloc(1, sizeof *b);
    b->r = r;
    b->reg_id = reg_id;
    b->name = name;
    b->jwk = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(canon);
    token_sha256_hex(r->params[0], b->hash);
    const char *p[] = {b->hash, "false"};
    db_query(r->srv->db, "SELECT * FROM registration_by_token($1, $2)", 2, p, on_bind_lookup, b);
}
