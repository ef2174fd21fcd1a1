/* The endpoints that check a code (api.md 8): POST /users/{username}/mfa/enable,
 * /verify, /disable and /backup-codes. Each ends in ONE SQL statement (mfa_enable or
 * mfa_check in sql/005_mfa.sql) that checks the lock, consumes the candidate, counts a
 * failure or acts, atomically across sessions and instances. */
#include "alloc.h"
#include "db.h"
#include "h_mfa_check.h"
#include "mfa.h"
#include "mfa_body.h"
#include "server.h"
#include "valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The candidates as parameters: step, mac, hash, salt, hashes (NULL where absent). */
struct check_params {
    char step[24];
    char *mac, *hash, *salt, *hashes;
};

static void params_fill(struct check_params *cp, const struct mfa_op *op)
{
    snprintf(cp->step, sizeof cp->step, "%lld", (long long)op->step);
    cp->mac = op->has_mac ? mfa_hex(op->mac, sizeof op->mac) : NULL;
    cp->hash = op->has_hash ? mfa_hex(op->hash, sizeof op->hash) : NULL;
    cp->salt = op->want_codes ? mfa_hex(op->salt, sizeof op->salt) : NULL;
    cp->hashes = op->want_codes ? mfa_hashes_param(op) : NULL;
}

static void params_free(struct check_params *cp)
{
    free(cp->mac);
    free(cp->hash);
    free(cp->salt);
    free(cp->hashes);
}

/* Common outcomes of mfa_enable/mfa_check. Returns 1 when it answered. */
static int answer_failure(struct mfa_op *op, const char *outcome, const PGresult *res,
                          int col_attempts, int col_retry)
{
    if (!strcmp(outcome, "user_not_found"))
        mfa_fail(op, 404, "user_not_found", "the application has no user of that name");
    else if (!strcmp(outcome, "no_pending_setup"))
        mfa_fail(op, 409, "no_pending_setup", "no setup is waiting: call setup first");
    else if (!strcmp(outcome, "mfa_not_enabled"))
        mfa_fail(op, 409, "mfa_not_enabled", "the user has no one-time-code factor");
    else if (!strcmp(outcome, "locked"))
        mfa_reply_locked(op, atoi(PQgetvalue(res, 0, col_retry)));
    else if (!strcmp(outcome, "invalid_code"))
        mfa_reply_invalid(op, atoi(PQgetvalue(res, 0, col_attempts)));
    else
        return 0;
    return 1;
}

/* A code of the wrong type or size is a 400, not a wrong code: nothing is counted.
 * A username that cannot exist is simply not found. Answers and returns -1, or 0. */
static int check_request(struct req *r, const char *code)
{
    if (!valid_username(r->params[0])) {
        http_problem(r, 404, "user_not_found", "the application has no user of that name");
        return -1;
    }
    if (!mfa_code_ok(code)) {
        http_bad_request(r, "code must be 1-64 characters");
        return -1;
    }
    return 0;
}

static bool has_candidate(const struct mfa_op *op)
{
    return op->step >= 0 || op->has_mac || op->want_hash;
}

/* ---- enable */

static void on_enabled(void *arg, enum db_status st, PGresult *res)
{
    struct mfa_op *op = arg;
    if (st != DB_OK || PQntuples(res) != 1) {
        http_unavailable(op->r);
        return mfa_op_free(op);
    }
    const char *outcome = PQgetvalue(res, 0, 0);
    if (answer_failure(op, outcome, res, 2, 3))
        return;
    json_t *body = json_pack("{s:b, s:s, s:o}", "mfaEnabled", 1, "channel", PQgetvalue(res, 0, 1),
                             "backupCodes", mfa_codes_json(op));
    mfa_reply(op, 200, body);
}

static void enable_hashed(struct mfa_op *op)
{
    struct req *r = op->r;
    struct check_params cp = {0};
    char pending[24];
    snprintf(pending, sizeof pending, "%lld", op->pending_id);
    params_fill(&cp, op);
    const char *p[] = {r->app_id, r->params[0], pending,  op->step >= 0 ? cp.step : NULL,
                       cp.mac,    cp.salt,      cp.hashes};
    db_query(r->srv->db,
             "SELECT * FROM mfa_enable($1, $2, $3, $4, $5, $6, "
             "(SELECT array_agg(decode(x, 'hex')) FROM unnest(string_to_array($7, ',')) x))",
             7, p, on_enabled, op);
    params_free(&cp);
}

static void enable_loaded(struct mfa_op *op)
{
    if (!op->pending_channel[0])
        return mfa_fail(op, 409, "no_pending_setup", "no setup is waiting: call setup first");
    if (op->lock_left > 0)
        return mfa_reply_locked(op, op->lock_left);
    if (mfa_candidates(op, op->pending_channel, op->pending_seed_sealed,
                       op->pending_seed_sealed_len, "setup", false) < 0)
        return mfa_fail(op, 500, "internal", "cannot open the pending secret");
    /* New backup codes only when the code may be right: a wrong one costs no scrypt. */
    op->want_codes = has_candidate(op);
    mfa_hash(op, enable_hashed);
}

void h_mfa_enable(struct req *r)
{
    const char *code, *bad;
    char why[JSON_ERROR_TEXT_LENGTH];
    if ((bad = mfa_code_body(r->body, &code, why)))
        return http_bad_request(r, bad);
    if (check_request(r, code) < 0)
        return;
    struct mfa_op *op = mfa_op_new(r, MFA_ENABLE, code);
    mfa_load(op, enable_loaded);
}

/* ---- verify, disable, backup-codes */

static const char *action_name(const struct mfa_op *op)
{
    if (op->action == MFA_DISABLE)
        return op->code ? "disable" : "force_disable";
    return op->action == MFA_REGEN ? "regenerate" : "verify";
}

static void on_checked(void *arg, enum db_status st, PGresult *res)
{
    struct mfa_op *op = arg;
    if (st != DB_OK || PQntuples(res) != 1) {
        http_unavailable(op->r);
        return mfa_op_free(op);
    }
    if (answer_failure(op, PQgetvalue(res, 0, 0), res, 3, 4))
        return;
    if (op->action == MFA_DISABLE)
        return mfa_reply(op, 200, json_pack("{s:b}", "mfaEnabled", 0));
    if (op->action == MFA_REGEN)
        return mfa_reply(op, 200, json_pack("{s:o}", "backupCodes", mfa_codes_json(op)));
    mfa_reply(op, 200,
              json_pack("{s:b, s:s, s:i}", "valid", 1, "method", PQgetvalue(res, 0, 1),
                        "backupCodesRemaining", atoi(PQgetvalue(res, 0, 2))));
}

static void check_hashed(struct mfa_op *op)
{
    struct req *r = op->r;
    struct check_params cp = {0};
    char gen[16];
    snprintf(gen, sizeof gen, "%d", op->generation);
    params_fill(&cp, op);
    const char *p[] = {
        r->app_id, r->params[0], action_name(op), gen,      op->step >= 0 ? cp.step : NULL,
        cp.mac,    cp.hash,      cp.salt,         cp.hashes};
    db_query(r->srv->db,
             "SELECT * FROM mfa_check($1, $2, $3, $4, $5, $6, $7, $8, "
             "(SELECT array_agg(decode(x, 'hex')) FROM unnest(string_to_array($9, ',')) x))",
             9, p, on_checked, op);
    params_free(&cp);
}

static void check_loaded(struct mfa_op *op)
{
    if (!op->enabled)
        return mfa_fail(op, 409, "mfa_not_enabled", "the user has no one-time-code factor");
    if (!op->code) /* an admin's disable: nothing to check */
        return check_hashed(op);
    if (op->lock_left > 0)
        return mfa_reply_locked(op, op->lock_left);
    if (mfa_candidates(op, op->channel, op->seed_sealed, op->seed_sealed_len, "verify", true) < 0)
        return mfa_fail(op, 500, "internal", "cannot open the secret");
    op->want_codes = op->action == MFA_REGEN && has_candidate(op);
    mfa_hash(op, check_hashed);
}

static void check_start(struct req *r, enum mfa_action action, const char *code)
{
    if (check_request(r, code) < 0)
        return;
    struct mfa_op *op = mfa_op_new(r, action, code);
    mfa_load(op, check_loaded);
}

void h_mfa_verify(struct req *r)
{
    const char *code, *bad;
    char why[JSON_ERROR_TEXT_LENGTH];
    if ((bad = mfa_code_body(r->body, &code, why)))
        return http_bad_request(r, bad);
    check_start(r, MFA_VERIFY, code);
}

void h_mfa_backup_codes(struct req *r)
{
    const char *code, *bad;
    char why[JSON_ERROR_TEXT_LENGTH];
    if ((bad = mfa_code_body(r->body, &code, why)))
        return http_bad_request(r, bad);
    check_start(r, MFA_REGEN, code);
}

/* An application must prove the user with a code. An admin (Bearer token) may omit it,
 * and names the application with ?applicationId=, since usernames are per application. */
void h_mfa_disable(struct req *r)
{
    const char *code, *bad;
    char why[JSON_ERROR_TEXT_LENGTH];
    if ((bad = mfa_disable_body(r->body, r->caller == CALLER_ADMIN, &code, why)))
        return http_bad_request(r, bad);
    if (r->caller == CALLER_ADMIN) {
        const char *app = http_query(r, "applicationId");
        if (!app || !valid_id(app))
            return http_bad_request(r, "an admin names the application: ?applicationId=...");
        free(r->app_id);
        r->app_id = xstrdup(app);
    }
    check_start(r, MFA_DISABLE, code);
}
