/* mfa_body: the checks of the MFA routes' JSON bodies (api.md 1, 8), apart from their
 * handlers so that they can be tested and fuzzed alone (tests/fuzz/fuzz_bodies.c).
 * Pure: no request, no I/O, no state; the body is the one http.c parsed (an object, no
 * duplicate keys, top-level nulls dropped). Each returns NULL when the body is
 * acceptable, else the detail of the 400 (a literal or why); what it fills in is
 * borrowed from the body. */
#ifndef PUSHGATE_MFA_BODY_H
#define PUSHGATE_MFA_BODY_H

#include <jansson.h>
#include <stdbool.h>

#define MFA_CODE_MAX 64 /* longer input cannot be a code of ours */

/* POST .../mfa/setup: {"channel", "email"?, "phone"?}. username is the path's (its check
 * comes before the channel's); sms_configured: PUSHGATE_SMS_WEBHOOK_URL is set. On
 * NULL, channel is "totp", "email" or "sms", and email/phone are those it takes. */
struct mfa_setup_input {
    const char *channel, *email, *phone;
};
const char *mfa_setup_body(json_t *body, const char *username, bool sms_configured,
                           struct mfa_setup_input *in, char why[JSON_ERROR_TEXT_LENGTH]);

/* POST .../mfa/enable, /verify, /backup-codes: {"code"}. The code's length is judged
 * later (mfa_code_ok), after the username. */
const char *mfa_code_body(json_t *body, const char **code, char why[JSON_ERROR_TEXT_LENGTH]);
/* POST .../mfa/disable: {"code"?}, required from an application, optional for an
 * admin (by_admin); *code is NULL when absent. */
const char *mfa_disable_body(json_t *body, bool by_admin, const char **code,
                             char why[JSON_ERROR_TEXT_LENGTH]);
/* NULL (absent) or 1..MFA_CODE_MAX bytes: anything else is a 400, not a wrong code. */
bool mfa_code_ok(const char *code);

/* PUT .../mfa/requirements: {"login"?, "withdrawal"?, "deviceRemoval"?}, booleans;
 * each NULL when absent. */
struct mfa_requirements_input {
    json_t *login, *withdrawal, *removal;
};
const char *mfa_requirements_body(json_t *body, struct mfa_requirements_input *in,
                                  char why[JSON_ERROR_TEXT_LENGTH]);

#endif
