/* Shared machinery of the one-time-code handlers (see mfa.h). */
#include "mfa.h"

#include "alloc.h"
#include "protocol/aead.h"
#include "db.h"
#include "mailmsg.h"
#include "offload.h"
#include "problem.h"
#include "server.h"
#include "sms.h"
#include "valid.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mfa_op *mfa_op_new(struct req *r, enum mfa_action action, const char *code)
{
    struct mfa_op *op = xcalloc(1, sizeof *op);
    op->r = r;
    op->action = action;
    op->step = -1;
    if (code)
        op->code = xstrdup(code);
    return op;
}

static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void mfa_op_free(struct mfa_op *op)
{
    free_secret(op->code);
    free(op->email);
    free(op->destination);
    free(op->seed_sealed);
    free(op->pending_seed_sealed);
    free(op->send_to);
    free(op->masked);
    free(op->expires_at);
    OPENSSL_cleanse(op, sizeof *op); /* codes, hashes, mac, otp */
    free(op);
}

unsigned char *mfa_bytea(const PGresult *res, int row, int col, size_t *n)
{
    *n = 0;
    if (PQgetisnull(res, row, col))
        return NULL;
    unsigned char *tmp = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col), n);
    unsigned char *out = tmp ? xmalloc(*n ? *n : 1) : NULL;
    if (out)
        memcpy(out, tmp, *n);
    PQfreemem(tmp);
    return out;
}

static char *text_or_null(const PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? NULL : xstrdup(PQgetvalue(res, 0, col));
}

/* mfa_state() columns: user_id, email, enabled, channel, destination, totp_sealed,
 * generation, backup_salt, pending_id, pending_channel, pending_totp_sealed, lock_left */
static void parse_state(struct mfa_op *op, const PGresult *res)
{
    op->user_exists = true;
    op->email = text_or_null(res, 1);
    op->enabled = PQgetvalue(res, 0, 2)[0] == 't';
    snprintf(op->channel, sizeof op->channel, "%s", PQgetvalue(res, 0, 3));
    op->destination = text_or_null(res, 4);
    op->seed_sealed = mfa_bytea(res, 0, 5, &op->seed_sealed_len);
    op->generation = atoi(PQgetvalue(res, 0, 6));
    size_t n = 0;
    unsigned char *salt = mfa_bytea(res, 0, 7, &n);
    if (salt && n == sizeof op->backup_salt) {
        memcpy(op->backup_salt, salt, n);
        op->has_backup_salt = true;
    }
    free(salt);
    op->pending_id = atoll(PQgetvalue(res, 0, 8));
    snprintf(op->pending_channel, sizeof op->pending_channel, "%s", PQgetvalue(res, 0, 9));
    op->pending_seed_sealed = mfa_bytea(res, 0, 10, &op->pending_seed_sealed_len);
    op->lock_left = atoi(PQgetvalue(res, 0, 11));
}

struct load_ctx {
    struct mfa_op *op;
    mfa_next_fn next;
};

static void on_state(void *arg, enum db_status st, PGresult *res)
{
    struct load_ctx *lc = arg;
    struct mfa_op *op = lc->op;
    mfa_next_fn next = lc->next;
    free(lc);
    if (st != DB_OK) {
        http_unavailable(op->r);
        return mfa_op_free(op);
    }
    if (PQntuples(res) == 1)
        parse_state(op, res);
    else if (op->action != MFA_SETUP)
        return mfa_fail(op, 404, "user_not_found", "the application has no user of that name");
    next(op);
}

void mfa_load(struct mfa_op *op, mfa_next_fn next)
{
    struct load_ctx *lc = xmalloc(sizeof *lc);
    *lc = (struct load_ctx){op, next};
    const char *p[] = {op->r->app_id, op->r->params[0]};
    db_query(op->r->srv->db, "SELECT * FROM mfa_state($1, $2)", 2, p, on_state, lc);
}

int mfa_candidates(struct mfa_op *op, const char *channel, const unsigned char *sealed,
                   size_t sealed_len, const char *purpose, bool allow_backup)
{
    switch (mfa_code_classify(op->code, op->norm)) {
    case MFA_CODE_BACKUP:
        op->want_hash = allow_backup && op->has_backup_salt;
        return 0;
    case MFA_CODE_NONE:
        return 0;
    case MFA_CODE_OTP:
        break;
    }
    if (strcmp(channel, "totp") != 0) {
        op->has_mac = mfa_code_mac(op->r->srv->master_key, purpose, op->r->app_id, op->r->params[0],
                                   op->code, op->mac) == 0;
        return op->has_mac ? 0 : -1;
    }
    char *aad = mfa_seed_aad(op->r->app_id, op->r->params[0]);
    unsigned char *seed = NULL;
    size_t n = 0;
    int rc = sealed ? aead_open(op->r->srv->master_key, sealed, sealed_len, aad, &seed, &n) : -1;
    free(aad);
    if (rc < 0)
        return -1;
    op->step = mfa_totp_match(seed, n, (int64_t)time(NULL), op->code);
    OPENSSL_cleanse(seed, n);
    free(seed);
    return 0;
}

struct hash_ctx {
    struct mfa_op *op;
    mfa_next_fn next;
};

/* Worker thread: touches only op's own buffers (see offload.h). */
static void hash_work(void *arg)
{
    struct mfa_op *op = ((struct hash_ctx *)arg)->op;
    if (op->want_hash)
        op->has_hash = otp_backup_hash(op->norm, op->backup_salt, op->hash) == 0;
    if (!op->want_codes)
        return;
    if (RAND_bytes(op->salt, sizeof op->salt) != 1) {
        op->hash_failed = true;
        return;
    }
    for (int i = 0; i < MFA_BACKUP_CODES; i++) {
        char norm[OTP_BACKUP_NORM_LEN + 1];
        if (otp_backup_code_new(op->codes[i]) < 0 ||
            otp_backup_code_normalize(op->codes[i], norm) < 0 ||
            otp_backup_hash(norm, op->salt, op->hashes[i]) < 0)
            op->hash_failed = true;
        OPENSSL_cleanse(norm, sizeof norm);
    }
}

static void hash_done(void *arg, int ok)
{
    struct hash_ctx *hc = arg;
    struct mfa_op *op = hc->op;
    mfa_next_fn next = hc->next;
    free(hc);
    if (!ok || op->hash_failed || (op->want_hash && !op->has_hash))
        return mfa_fail(op, 503, "unavailable", "cannot hash backup codes now; try again");
    next(op);
}

void mfa_hash(struct mfa_op *op, mfa_next_fn next)
{
    if (!op->want_hash && !op->want_codes)
        return next(op);
    struct hash_ctx *hc = xmalloc(sizeof *hc);
    *hc = (struct hash_ctx){op, next};
    if (offload(op->r->srv->base, hash_work, hash_done, hc) < 0) {
        free(hc);
        mfa_fail(op, 503, "unavailable", "cannot hash backup codes now; try again");
    }
}

char *mfa_hex(const unsigned char *p, size_t n)
{
    return valid_bytea_hex(p, n);
}

char *mfa_hashes_param(const struct mfa_op *op)
{
    static const char hex[] = "0123456789abcdef";
    size_t per = 2 * OTP_BACKUP_HASH_LEN + 1;
    char *out = xmalloc(per * MFA_BACKUP_CODES + 1), *o = out;
    for (int i = 0; i < MFA_BACKUP_CODES; i++) {
        for (int k = 0; k < OTP_BACKUP_HASH_LEN; k++) {
            *o++ = hex[op->hashes[i][k] >> 4];
            *o++ = hex[op->hashes[i][k] & 15];
        }
        *o++ = i + 1 < MFA_BACKUP_CODES ? ',' : '\0';
    }
    return out;
}

json_t *mfa_codes_json(const struct mfa_op *op)
{
    json_t *a = json_array();
    for (int i = 0; i < MFA_BACKUP_CODES; i++)
        json_array_append_new(a, json_string(op->codes[i]));
    return a;
}

void mfa_fail(struct mfa_op *op, int status, const char *code, const char *detail)
{
    http_problem(op->r, status, code, detail);
    mfa_op_free(op);
}

void mfa_reply(struct mfa_op *op, int status, json_t *body)
{
    http_reply_json(op->r, status, body);
    mfa_op_free(op);
}

void mfa_reply_invalid(struct mfa_op *op, int attempts_remaining)
{
    json_t *p = problem_new(422, "invalid_code", "the code is wrong, expired or already used");
    json_object_set_new(p, "attemptsRemaining", json_integer(attempts_remaining));
    char *text = json_dumps(p, JSON_COMPACT); /* an object: NULL only on OOM, which aborts */
    json_decref(p);
    http_reply_raw(op->r, 422, "application/problem+json", text, strlen(text));
    free(text);
    mfa_op_free(op);
}

void mfa_reply_locked(struct mfa_op *op, int retry_after)
{
    http_problem_retry(op->r, 423, "locked",
                       "too many wrong codes: the user is locked out for a while", retry_after);
    mfa_op_free(op);
}
