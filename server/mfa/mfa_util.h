/* mfa_util: the pure pieces of the one-time-code factors (api.md 8): otpauth URIs,
 * the classification of a submitted code, TOTP window matching, and the HMAC under
 * which email/SMS codes are stored. No I/O, no state. */
#ifndef PUSHGATE_MFA_UTIL_H
#define PUSHGATE_MFA_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MFA_SEED_LEN 20 /* 160-bit TOTP secret (RFC 4226 recommends >= 160 bits) */
#define MFA_MAC_LEN 32
#define MFA_MAX_ATTEMPTS 5 /* consecutive failures before the 15-minute lock (sql/005) */

/* RFC 3986 percent-encoding of every byte outside the unreserved set
 * (A-Z a-z 0-9 - . _ ~), uppercase hex; so ':' '@' ' ' '&' '/' are all encoded, which
 * keeps issuer and account unambiguous inside the otpauth label. malloc'd. */
char *mfa_pct_encode(const char *s);

/* "otpauth://totp/<Issuer>:<account>?secret=<secret>&issuer=<Issuer>&algorithm=SHA1
 *  &digits=6&period=30" with issuer and account percent-encoded (Google Authenticator's
 * Key Uri Format). secret is the unpadded base32 seed. malloc'd. */
char *mfa_otpauth_uri(const char *issuer, const char *account, const char *secret);

enum mfa_code_kind {
    MFA_CODE_OTP,    /* exactly 6 ASCII digits: TOTP, email or SMS */
    MFA_CODE_BACKUP, /* a backup code; norm receives its normalized form */
    MFA_CODE_NONE,   /* neither: can only be wrong */
};
enum mfa_code_kind mfa_code_classify(const char *code, char norm[11]);

/* The TOTP step among now/30 - 1, now/30, now/30 + 1 (RFC 6238, SHA-1, 6 digits) whose
 * code equals `code` (compared in constant time), or -1. Only the window is checked
 * here; "each step at most once" is the caller's atomic UPDATE. */
int64_t mfa_totp_match(const unsigned char *seed, size_t seedlen, int64_t now, const char *code);

/* HMAC-SHA256 of an email/SMS code as stored: the key is HKDF-SHA256 of the master key
 * (info "pushgate mfa code v1"), so the database alone cannot confirm a code, and the
 * input binds purpose ("setup" or "verify"), application and username, so a stored MAC
 * is worthless for any other user or step. 0 or -1. */
int mfa_code_mac(const unsigned char master[32], const char *purpose, const char *app_id,
                 const char *username, const char *code, unsigned char out[MFA_MAC_LEN]);

/* The aad that binds a sealed TOTP seed to its owner: "totp:<appId>:<username>"
 * (appIds never contain ':'). malloc'd. */
char *mfa_seed_aad(const char *app_id, const char *username);

/* The SMS with a code: "<app> code: <code> (valid for 10 minutes). Do not share it.",
 * written to out[n] (n includes the NUL; mfa_send uses MFA_SMS_TEXT_MAX). When it does
 * not fit, the application name is cut at a UTF-8 character boundary and ends in "\u2026"
 * (an ellipsis), so the code always survives whole and the text stays valid UTF-8 (app is
 * valid UTF-8). Returns the text's length, or -1 when n cannot hold the text even with
 * an empty name. */
#define MFA_SMS_TEXT_MAX 300
int mfa_sms_text(char *out, size_t n, const char *app, const char *code);

#endif
