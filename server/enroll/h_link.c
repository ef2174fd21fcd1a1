/* The registration link, as used by an authenticator or a browser
 * (api.md 4): GET/HEAD /r/{token} and POST /r/{token}. The token is a
 * credential: it is hashed at once and never logged. */
#include "alloc.h"
#include "protocol/aead.h"
#include "protocol/claimtime.h"
#include "db.h"
#include "enroll_body.h"
#include "h_link.h"
#include "protocol/jwk.h"
#include "protocol/jws.h"
#include "link_page.h"
#include "mailmsg.h"
#include "outbox.h"
#include "server.h"
#include "protocol/token.h"
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
    struct link_get *g = xcalloc(1, sizeof *g);
    g->r = r;
    g->html = html;
    /* only a JSON GET marks the registration retrieved; HEAD and pages never do */
    const char *p[] = {hash, (!html && r->method == EVHTTP_REQ_GET) ? "true" : "false"};
    db_query(r->srv->db, "SELECT *, server_jwks() FROM registration_by_token($1, $2)", 2, p,
             on_link_found, g);
}

/* POST /r/{token}: the device proves possession of the key it binds.
 * The token is looked up before the key is imported or the proof verified, so
 * that a request for an unknown, expired or used link costs no public-key
 * operation (the link is the only credential: guessing one is the attack). */
struct bind {
    struct req *r;
    char hash[65];
    char *jwk;    /* canonical public JWK text */
    char *reg_id; /* from the proof payload */
    const char *name;
    const json_t *key_jwk; /* the presented publicKey, in r->body */
    const char *proof;     /* in r->body */
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
        claimtime_within(time(NULL), iat, PROOF_MAX_SKEW))
        out = xstrdup(reg_id);
    json_decref(payload);
    return out;
}

/* Code points that could make the device name read as something else in the notice:
 * bidi controls and isolates, zero-width and invisible formatting characters, line and
 * paragraph separators (C0/C1 controls never get here: valid_text refuses them). */
static bool notice_hides(unsigned cp)
{
    return cp == 0x061C || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB) ||
           cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

/* The attacker-chosen deviceName as visible data for the notice: such characters shown
 * as \uXXXX, '"' and '\\' escaped, at most NOTICE_NAME_CHARS code points (then "...").
 * name is valid UTF-8 (jansson checked it). */
#define NOTICE_NAME_CHARS 64
static void notice_name(const char *name, char *out, size_t n)
{
    size_t o = 0, chars = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p && o + 12 < n;) {
        int len = *p < 0x80 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
        unsigned cp = len == 1 ? *p : *p & (0x7F >> len);
        for (int k = 1; k < len; k++)
            cp = cp << 6 | (p[k] & 0x3F);
        if (chars++ == NOTICE_NAME_CHARS) {
            o += (size_t)snprintf(out + o, n - o, "...");
            break;
        }
        if (notice_hides(cp))
            o += (size_t)snprintf(out + o, n - o, "\\u%04X", cp);
        else if (*p == '"' || *p == '\\')
            o += (size_t)snprintf(out + o, n - o, "\\%c", *p);
        else
            memcpy(out + o, p, (size_t)len), o += (size_t)len;
        p += len;
    }
    out[o] = '\0';
}

struct notice_facts {
    const char *app, *user, *ip;
    char name[NOTICE_NAME_CHARS * 6 + 16], when[40];
};

static char *notice_html(const struct notice_facts *f)
{
    char *app = mailmsg_html_escape(f->app), *user = mailmsg_html_escape(f->user);
    char *name = mailmsg_html_escape(f->name), *ip = mailmsg_html_escape(f->ip);
    char *html =
        xasprintf("<p>A new authenticator was linked to your %s account <b>%s</b>.</p>"
                  "<table><tr><td>Device name (as sent by the device):</td><td><code>&quot;%s"
                  "&quot;</code></td></tr><tr><td>Time:</td><td>%s</td></tr>"
                  "<tr><td>IP address:</td><td>%s</td></tr></table>"
                  "<p><b>If this was not you</b>, someone may have used your registration link: "
                  "contact %s support at once and ask them to revoke this authenticator.</p>",
                  app, user, name, f->when, ip, app);
    free(app), free(user), free(name), free(ip);
    return html;
}

/* The "new authenticator linked" notice: the device name is quoted as data, with the
 * time and the binding request's address, and what to do if it was not the user. */
static char *sealed_notice(struct req *r, PGresult *res)
{
    struct notice_facts f = {
        .app = PQgetvalue(res, 0, 3), .user = PQgetvalue(res, 0, 4), .ip = http_client_address(r)};
    notice_name(json_string_value(json_object_get(r->body, "deviceName")), f.name, sizeof f.name);
    time_t now = time(NULL);
    struct tm tm;
    strftime(f.when, sizeof f.when, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&now, &tm));
    char subject[300];
    snprintf(subject, sizeof subject, "A new authenticator was linked to your %s account", f.app);
    /* allocated: an application name may be 800 bytes, and it appears twice */
    char *text =
        xasprintf("A new authenticator was linked to your %s account \"%s\".\n\n"
                  "  Device name (as sent by the device): \"%s\"\n"
                  "  Time: %s\n"
                  "  IP address: %s\n\n"
                  "If this was not you, someone may have used your registration link: contact %s "
                  "support at once and ask them to revoke this authenticator.\n",
                  f.app, f.user, f.name, f.when, f.ip, f.app);
    char *html = notice_html(&f);
    char *sealed = outbox_seal(r->srv, PQgetvalue(res, 0, 6), subject, text, html);
    free(html);
    free(text);
    return sealed;
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
    outbox_kick(r->srv->outbox);
    json_t *body = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
    http_reply_json(r, 201, body);
}

/* Imports the presented key and verifies the proof with it; on success b->jwk
 * and b->reg_id are set. Otherwise replies (and returns false). */
static bool bind_verify(struct bind *b)
{
    EVP_PKEY *key = jwk_to_pkey(b->key_jwk);
    if (!key) {
        http_bad_request(b->r, "publicKey must be a valid EC P-256 public JWK");
        return false;
    }
    b->reg_id = check_proof(b->proof, key);
    json_t *canon = jwk_from_pkey(key, NULL);
    EVP_PKEY_free(key);
    b->jwk = b->reg_id ? json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(canon);
    if (!b->reg_id) {
        http_problem(b->r, 400, "invalid_proof", "the proof does not verify");
        return false;
    }
    return true;
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
    if (!bind_verify(b))
        return bind_free(b);
    if (strcmp(PQgetvalue(res, 0, 1), b->reg_id) != 0) {
        bind_free(b);
        return http_problem(r, 400, "invalid_proof", "the proof is for another registration");
    }
    /* a "delivery": "none" registration may have no email: no one to notify */
    char *notice = PQgetisnull(res, 0, 6) ? NULL : sealed_notice(r, res);
    char *device_id = token_new_id("d_", 12);
    const char *p[] = {b->hash, b->reg_id, device_id, b->name, b->jwk, notice};
    db_query(r->srv->db, "SELECT * FROM registration_complete($1, $2, $3, $4, $5, $6)", 6, p,
             on_bound, b);
    free(device_id);
    free(notice);
}

/* Only shape checks here: the key and the proof wait for the token lookup. */
void h_link_bind(struct req *r)
{
    struct link_bind_input in;
    char why[JSON_ERROR_TEXT_LENGTH];
    const char *bad = link_bind_body(r->body, &in, why);
    if (bad)
        return http_bad_request(r, bad);
    if (!token_ok(r->params[0]))
        return link_unusable(r, "not_found", false);
    struct bind *b = xcalloc(1, sizeof *b);
    b->r = r;
    b->name = in.name;
    b->key_jwk = in.jwk;
    b->proof = in.proof;
    token_sha256_hex(r->params[0], b->hash);
    const char *p[] = {b->hash, "false"};
    db_query(r->srv->db, "SELECT * FROM registration_by_token($1, $2)", 2, p, on_bind_lookup, b);
}
