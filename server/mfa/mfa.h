/* mfa: what the one-time-code handlers (h_mfa_*.c, api.md 8) share: one operation's
 * context, the read of a user's MFA state, the candidates computed from a submitted
 * code, the sending of email/SMS codes and the 422/423 answers.
 *
 * Flow of every code check: mfa_load() reads the state (read-only) -> mfa_candidates()
 * turns the submitted code into what SQL can compare (the matching TOTP step, the HMAC of
 * an email/SMS code, the scrypt hash of a backup code) -> mfa_hash() hashes on a worker
 * thread when needed -> ONE SQL statement checks lock, consumes the candidate and acts
 * (sql/005_mfa.sql). Codes and seeds live only in struct mfa_op and are cleansed when
 * it is freed; they never reach a log or a problem detail. */
#ifndef PUSHGATE_MFA_H
#define PUSHGATE_MFA_H

#include "http.h"
#include "mfa_util.h"
#include "protocol/otp.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#define MFA_BACKUP_CODES 10

enum mfa_action { MFA_SETUP, MFA_ENABLE, MFA_CHALLENGE, MFA_VERIFY, MFA_DISABLE, MFA_REGEN };

struct mfa_op {
    struct req *r;
    enum mfa_action action;
    char *code; /* as submitted, or NULL */
    /* mfa_load(): the state */
    bool user_exists, enabled;
    char channel[8], pending_channel[8]; /* "" when none */
    char *email, *destination;
    unsigned char *seed_sealed, *pending_seed_sealed;
    size_t seed_sealed_len, pending_seed_sealed_len;
    int generation, lock_left;
    long long pending_id;
    unsigned char backup_salt[OTP_BACKUP_SALT_LEN];
    bool has_backup_salt;
    /* mfa_candidates() / mfa_hash() */
    int64_t step; /* -1: none */
    bool has_mac, want_hash, has_hash;
    unsigned char mac[MFA_MAC_LEN];
    char norm[OTP_BACKUP_NORM_LEN + 1];
    unsigned char hash[OTP_BACKUP_HASH_LEN];
    /* new backup codes (enable, regenerate) */
    bool want_codes, hash_failed;
    char codes[MFA_BACKUP_CODES][OTP_BACKUP_CODE_LEN + 1];
    unsigned char salt[OTP_BACKUP_SALT_LEN];
    unsigned char hashes[MFA_BACKUP_CODES][OTP_BACKUP_HASH_LEN];
    /* email/SMS sending */
    const char *want_channel; /* setup: the channel asked for (a literal) */
    char otp[OTP_DIGITS + 1];
    char *send_to, *masked, *expires_at;
    bool budget_taken; /* mfa_budget_take() let this send through */
    void *ctx;         /* handler-specific */
};

typedef void (*mfa_next_fn)(struct mfa_op *op);

/* A new operation on r (username: r->params[0]). code is copied. Never NULL. */
struct mfa_op *mfa_op_new(struct req *r, enum mfa_action action, const char *code);
/* Cleanses every secret and frees op (not op->r). */
void mfa_op_free(struct mfa_op *op);

/* Reads the user's state, then next(op). Answers (and frees op) itself on a database
 * failure (503) and, except for MFA_SETUP, for an unknown user (404 user_not_found). */
void mfa_load(struct mfa_op *op, mfa_next_fn next);

/* Computes the candidates of op->code for `channel` ("totp": the matching step of
 * `sealed` within the window; "email"/"sms": the HMAC for `purpose`). A backup-code
 * shape sets want_hash when allow_backup and the user has a salt. 0, or -1 when the
 * seed cannot be opened (answer 500). */
int mfa_candidates(struct mfa_op *op, const char *channel, const unsigned char *sealed,
                   size_t sealed_len, const char *purpose, bool allow_backup);

/* When want_hash or want_codes: hashes off the loop (new codes and salt are generated
 * too), then next(op); else next(op) at once. Answers 503 itself when that fails. */
void mfa_hash(struct mfa_op *op, mfa_next_fn next);

/* Bytea parameters in PostgreSQL hex form ("\\x..."), malloc'd. */
char *mfa_hex(const unsigned char *p, size_t n);
/* The new backup hashes as "hex,hex,..." for string_to_array(). malloc'd. */
char *mfa_hashes_param(const struct mfa_op *op);
/* The new codes as a JSON array. */
json_t *mfa_codes_json(const struct mfa_op *op);

/* 422 invalid_code with attemptsRemaining; 423 locked with Retry-After. Both free op. */
void mfa_reply_invalid(struct mfa_op *op, int attempts_remaining);
void mfa_reply_locked(struct mfa_op *op, int retry_after);
/* Answers with a problem and frees op. */
void mfa_fail(struct mfa_op *op, int status, const char *code, const char *detail);
/* Replies JSON and frees op. */
void mfa_reply(struct mfa_op *op, int status, json_t *body);

/* A fresh code into op->otp and its HMAC (purpose) into op->mac; for email also the
 * sealed outbox message to op->send_to, as a bytea parameter into *mail. 0 or -1. */
int mfa_new_code(struct mfa_op *op, const char *purpose, const char *channel, char **mail);
/* Takes one code from the application's send budget (PUSHGATE_MFA_SEND_BUDGET_PER_HOUR,
 * counted in the database: sql/022), sets op->budget_taken and runs next(op). A spent
 * budget answers 429 rate_limited with Retry-After (until the next UTC hour) and a failed
 * read 503; both free op and send nothing. */
void mfa_budget_take(struct mfa_op *op, mfa_next_fn next);
/* Sends op->otp by SMS to op->send_to, then done(op, ok). -1 when it cannot start. */
int mfa_send_sms(struct mfa_op *op, void (*done)(struct mfa_op *op, int ok));

/* A row's bytea column (text format) into a malloc'd buffer; NULL/0 when NULL. */
unsigned char *mfa_bytea(const PGresult *res, int row, int col, size_t *n);

#endif
