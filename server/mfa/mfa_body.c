#include "mfa_body.h"

#include "mailmsg.h"
#include "protocol/otp.h"
#include "valid.h"

#include <stdio.h>
#include <string.h>

static const char *unpack_failed(const json_error_t *err, char why[JSON_ERROR_TEXT_LENGTH])
{
    snprintf(why, JSON_ERROR_TEXT_LENGTH, "%s", err->text);
    return why;
}

/* The request's fields for its channel; NULL when they fit, else what is wrong. */
static const char *check_setup(const char *username, bool sms_configured,
                               const struct mfa_setup_input *in)
{
    const char *channel = in->channel, *email = in->email, *phone = in->phone;
    if (!valid_username(username))
        return "username must be 1-128 bytes without control characters";
    if (strcmp(channel, "totp") == 0)
        return email || phone ? "totp takes neither email nor phone" : NULL;
    if (strcmp(channel, "email") == 0) {
        if (phone)
            return "email takes no phone";
        return email && !mailmsg_address_ok(email) ? "email is not a valid address" : NULL;
    }
    if (strcmp(channel, "sms") == 0) {
        if (email)
            return "sms takes no email";
        if (!phone || !otp_is_e164(phone))
            return "phone must be an E.164 number such as +15551234567";
        return sms_configured ? NULL : "no SMS gateway is configured";
    }
    return "channel must be totp, email or sms";
}

const char *mfa_setup_body(json_t *body, const char *username, bool sms_configured,
                           struct mfa_setup_input *in, char why[JSON_ERROR_TEXT_LENGTH])
{
    json_error_t err;
    in->email = in->phone = NULL;
    if (json_unpack_ex(body, &err, JSON_STRICT, "{s:s, s?s, s?s}", "channel", &in->channel, "email",
                       &in->email, "phone", &in->phone) < 0)
        return unpack_failed(&err, why);
    return check_setup(username, sms_configured, in);
}

const char *mfa_code_body(json_t *body, const char **code, char why[JSON_ERROR_TEXT_LENGTH])
{
    json_error_t err;
    if (json_unpack_ex(body, &err, JSON_STRICT, "{s:s}", "code", code) < 0)
        return unpack_failed(&err, why);
    return NULL;
}

const char *mfa_disable_body(json_t *body, bool by_admin, const char **code,
                             char why[JSON_ERROR_TEXT_LENGTH])
{
    json_error_t err;
    *code = NULL;
    if (json_unpack_ex(body, &err, JSON_STRICT, "{s?s}", "code", code) < 0)
        return unpack_failed(&err, why);
    return *code || by_admin ? NULL : "code is required";
}

bool mfa_code_ok(const char *code)
{
    return !code || (*code && strlen(code) <= MFA_CODE_MAX);
}

const char *mfa_requirements_body(json_t *body, struct mfa_requirements_input *in,
                                  char why[JSON_ERROR_TEXT_LENGTH])
{
    json_error_t err;
    in->login = in->withdrawal = in->removal = NULL;
    if (json_unpack_ex(body, &err, JSON_STRICT, "{s?o, s?o, s?o}", "login", &in->login,
                       "withdrawal", &in->withdrawal, "deviceRemoval", &in->removal) < 0)
        return unpack_failed(&err, why);
    if ((in->login && !json_is_boolean(in->login)) ||
        (in->withdrawal && !json_is_boolean(in->withdrawal)) ||
        (in->removal && !json_is_boolean(in->removal)))
        return "login, withdrawal and deviceRemoval are booleans";
    return NULL;
}
