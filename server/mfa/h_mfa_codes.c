/* POST /users/{username}/mfa/setup and /challenge (api.md 8): the endpoints that issue
 * a TOTP secret or send an email/SMS code. */
#include "alloc.h"
#include "protocol/aead.h"
#include "protocol/base32.h"
#include "db.h"
#include "h_mfa_codes.h"
#include "mailmsg.h"
#include "outbox.h"
#include "mfa.h"
#include "mfa_body.h"
#include "qrsvg.h"
#include "server.h"
#include "valid.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#define SQL_SETUP "SELECT * FROM mfa_setup($1, $2, $3, $4, $5, $6, $7, $8)"

struct totp_setup {
    char *secret, *uri, *svg;
};

static void totp_setup_free(struct totp_setup *t)
{
    if (t->secret)
        OPENSSL_cleanse(t->secret, strlen(t->secret));
    if (t->uri)
        OPENSSL_cleanse(t->uri, strlen(t->uri));
    free(t->secret);
    free(t->uri);
    free(t->svg);
    free(t);
}

static void on_totp_setup(void *arg, enum db_status st, PGresult *res)
{
    struct mfa_op *op = arg;
    struct totp_setup *t = op->ctx;
    if (st != DB_OK || PQntuples(res) != 1) {
        totp_setup_free(t);
        http_unavailable(op->r);
        return mfa_op_free(op);
    }
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "channel", "totp", "secret", t->secret, "otpauthUri",
                  t->uri, "qrCodeSvg", t->svg, "expiresAt", PQgetvalue(res, 0, 1));
    totp_setup_free(t);
    mfa_reply(op, 200, body);
}

/* A new 160-bit seed: shown now (secret, URI, QR), stored only sealed to app+user. */
static void setup_totp(struct mfa_op *op)
{
    struct req *r = op->r;
    unsigned char seed[MFA_SEED_LEN], *sealed = NULL;
    size_t n = 0;
    struct totp_setup *t = xcalloc(1, sizeof *t);
    char *aad = mfa_seed_aad(r->app_id, r->params[0]);
    int ok = RAND_bytes(seed, sizeof seed) == 1 &&
             aead_seal(r->srv->master_key, seed, sizeof seed, aad, &sealed, &n) == 0 &&
             (t->secret = base32_encode(seed, sizeof seed)) &&
             (t->uri = mfa_otpauth_uri(r->app_name, r->params[0], t->secret)) &&
             (t->svg = qrsvg_render(t->uri));
    OPENSSL_cleanse(seed, sizeof seed);
    free(aad);
    char *hex = ok ? mfa_hex(sealed, n) : NULL;
    free(sealed);
    if (!ok) {
        totp_setup_free(t);
        return mfa_fail(op, 500, "internal", "cannot create a TOTP secret");
    }
    op->ctx = t;
    const char *p[] = {r->app_id, r->params[0], "totp", NULL, NULL, hex, NULL, NULL};
    db_query(r->srv->db, SQL_SETUP, 8, p, on_totp_setup, op);
    free(hex);
}

/* The answer once a code is on its way: {"channel", "destination", "expiresAt"}. */
static void reply_sent(struct mfa_op *op, const char *channel)
{
    json_t *body = json_pack("{s:s, s:s, s:s}", "channel", channel, "destination", op->masked,
                             "expiresAt", op->expires_at);
    mfa_reply(op, 200, body);
}

static void on_sms_sent(struct mfa_op *op, int ok)
{
    if (!ok) {
        http_problem_retry(op->r, 503, "unavailable",
                           "the SMS gateway did not accept the message; try again later", 30);
        return mfa_op_free(op);
    }
    reply_sent(op, "sms");
}

/* After the code is committed: email is in the outbox, SMS goes out now. */
static void deliver(struct mfa_op *op, const char *channel)
{
    if (strcmp(channel, "email") == 0) {
        outbox_kick(op->r->srv->outbox);
        return reply_sent(op, channel);
    }
    if (mfa_send_sms(op, on_sms_sent) < 0)
        mfa_fail(op, 503, "unavailable", "the SMS gateway is not available");
}

static void on_code_setup(void *arg, enum db_status st, PGresult *res)
{
    struct mfa_op *op = arg;
    if (st != DB_OK || PQntuples(res) != 1) {
        http_unavailable(op->r);
        return mfa_op_free(op);
    }
    if (strcmp(PQgetvalue(res, 0, 0), "rate_limited") == 0) {
        http_problem_retry(op->r, 429, "rate_limited", "a code was sent too recently or too often",
                           atoi(PQgetvalue(res, 0, 2)));
        return mfa_op_free(op);
    }
    op->expires_at = xstrdup(PQgetvalue(res, 0, 1));
    deliver(op, op->want_channel);
}

static void setup_code(struct mfa_op *op)
{
    if (!op->budget_taken)
        return mfa_budget_take(op, setup_code); /* nothing is created before it */
    struct req *r = op->r;
    bool email = strcmp(op->want_channel, "email") == 0;
    op->masked = email ? otp_mask_email(op->send_to) : otp_mask_phone(op->send_to);
    char *mail = NULL;
    if (!op->masked || mfa_new_code(op, "setup", op->want_channel, &mail) < 0) {
        free(mail);
        return mfa_fail(op, 500, "internal", "cannot create a code");
    }
    char *mac = mfa_hex(op->mac, sizeof op->mac);
    const char *p[] = {r->app_id, r->params[0], op->want_channel, op->send_to, op->masked, NULL,
                       mac,       mail};
    db_query(r->srv->db, SQL_SETUP, 8, p, on_code_setup, op);
    free(mac);
    free(mail);
}

/* Email setup without an address: the user's own (from registration), if any. */
static void setup_email_known(struct mfa_op *op)
{
    if (!op->email || !mailmsg_address_ok(op->email))
        return mfa_fail(op, 400, "invalid_request", "email is required: the user has no address");
    op->send_to = xstrdup(op->email);
    setup_code(op);
}

void h_mfa_setup(struct req *r)
{
    struct mfa_setup_input in;
    char why[JSON_ERROR_TEXT_LENGTH];
    const char *bad =
        mfa_setup_body(r->body, r->params[0], r->srv->cfg->sms_webhook_url != NULL, &in, why);
    if (bad)
        return http_bad_request(r, bad);
    const char *channel = in.channel, *email = in.email, *phone = in.phone;
    struct mfa_op *op = mfa_op_new(r, MFA_SETUP, NULL);
    op->want_channel = !strcmp(channel, "totp")  ? "totp"
                       : !strcmp(channel, "sms") ? "sms"
                                                 : "email";
    if (strcmp(channel, "totp") == 0)
        return setup_totp(op);
    if (!email && !phone)
        return mfa_load(op, setup_email_known);
    op->send_to = xstrdup(email ? email : phone);
    setup_code(op);
}

static void on_challenge(void *arg, enum db_status st, PGresult *res)
{
    struct mfa_op *op = arg;
    if (st != DB_OK || PQntuples(res) != 1) {
        http_unavailable(op->r);
        return mfa_op_free(op);
    }
    const char *outcome = PQgetvalue(res, 0, 0);
    int retry = atoi(PQgetvalue(res, 0, 3));
    if (!strcmp(outcome, "user_not_found"))
        return mfa_fail(op, 404, "user_not_found", "the application has no user of that name");
    if (!strcmp(outcome, "mfa_not_enabled"))
        return mfa_fail(op, 409, "mfa_not_enabled", "the user has no one-time-code factor");
    if (!strcmp(outcome, "locked"))
        return mfa_reply_locked(op, retry);
    if (!strcmp(outcome, "rate_limited")) {
        http_problem_retry(op->r, 429, "rate_limited", "a code was sent too recently or too often",
                           retry);
        return mfa_op_free(op);
    }
    if (strcmp(outcome, "ok") != 0) { /* "changed": the channel changed under us */
        http_problem_retry(op->r, 503, "unavailable", "the factor changed meanwhile; try again", 1);
        return mfa_op_free(op);
    }
    op->masked = xstrdup(PQgetvalue(res, 0, 1));
    op->expires_at = xstrdup(PQgetvalue(res, 0, 2));
    deliver(op, op->channel);
}

static void challenge_loaded(struct mfa_op *op)
{
    struct req *r = op->r;
    if (!op->enabled)
        return mfa_fail(op, 409, "mfa_not_enabled", "the user has no one-time-code factor");
    if (op->lock_left > 0)
        return mfa_reply_locked(op, op->lock_left);
    if (strcmp(op->channel, "totp") == 0)
        return mfa_reply(op, 200, json_pack("{s:s}", "channel", "totp"));
    if (!op->budget_taken)
        return mfa_budget_take(op, challenge_loaded); /* then these checks again: cheap */
    char *mail = NULL;
    op->send_to = op->destination ? xstrdup(op->destination) : NULL;
    if (!op->send_to || mfa_new_code(op, "verify", op->channel, &mail) < 0) {
        free(mail);
        return mfa_fail(op, 500, "internal", "cannot create a code");
    }
    char *mac = mfa_hex(op->mac, sizeof op->mac);
    const char *p[] = {r->app_id, r->params[0], op->channel, op->destination, mac, mail};
    db_query(r->srv->db, "SELECT * FROM mfa_challenge($1, $2, $3, $4, $5, $6)", 6, p, on_challenge,
             op);
    free(mac);
    free(mail);
}

void h_mfa_challenge(struct req *r)
{
    if (!valid_username(r->params[0]))
        return http_problem(r, 404, "user_not_found", "the application has no user of that name");
    struct mfa_op *op = mfa_op_new(r, MFA_CHALLENGE, NULL);
    mfa_load(op, challenge_loaded);
}
