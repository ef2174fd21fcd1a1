#include "enroll_body.h"

#include "mailmsg.h"
#include "valid.h"

#include <stdio.h>
#include <string.h>

static const char *unpack_failed(const json_error_t *err, char why[JSON_ERROR_TEXT_LENGTH])
{
    snprintf(why, JSON_ERROR_TEXT_LENGTH, "%s", err->text);
    return why;
}

const char *registration_body(json_t *body, struct registration_input *in,
                              char why[JSON_ERROR_TEXT_LENGTH])
{
    json_error_t err;
    in->email = in->display = NULL;
    in->expires = REG_EXPIRES_DEFAULT;
    in->delivery = "email";
    if (json_unpack_ex(body, &err, JSON_STRICT, "{s:s, s?s, s?s, s?I, s?s}", "username",
                       &in->username, "email", &in->email, "displayName", &in->display, "expiresIn",
                       &in->expires, "delivery", &in->delivery) < 0)
        return unpack_failed(&err, why);
    if (!valid_username(in->username))
        return "username must be 1-128 bytes without control characters";
    if (strcmp(in->delivery, "email") && strcmp(in->delivery, "none"))
        return "delivery must be email or none";
    if (!in->email && !strcmp(in->delivery, "email"))
        return "email is required unless delivery is none";
    if (in->email && !mailmsg_address_ok(in->email))
        return "email is not a valid address";
    if (in->display && !valid_text(in->display, REG_DISPLAY_MAX))
        return "displayName must be 1-128 characters";
    if (in->expires < REG_EXPIRES_MIN || in->expires > REG_EXPIRES_MAX)
        return "expiresIn must be 300-604800 seconds";
    return NULL;
}

const char *link_bind_body(json_t *body, struct link_bind_input *in,
                           char why[JSON_ERROR_TEXT_LENGTH])
{
    json_error_t err;
    if (json_unpack_ex(body, &err, JSON_STRICT, "{s:o, s:s, s:s}", "publicKey", &in->jwk,
                       "deviceName", &in->name, "proof", &in->proof) < 0)
        return unpack_failed(&err, why);
    if (!valid_text(in->name, LINK_DEVICE_NAME_MAX))
        return "deviceName must be 1-64 characters";
    return NULL;
}
