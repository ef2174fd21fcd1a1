#include "push_body.h"

#include "protocol/otp.h"
#include "valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int auth_json_depth(const json_t *v)
{
    if (!json_is_object(v) && !json_is_array(v))
        return 0;
    int d = 0, x;
    const char *k;
    json_t *child;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, child)
        {
            if ((x = auth_json_depth(child)) > d)
                d = x;
        }
    } else {
        json_array_foreach(v, i, child)
        {
            if ((x = auth_json_depth(child)) > d)
                d = x;
        }
    }
    return d + 1;
}

static const char *check_context(const json_t *ctx)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ctx, k, v)
    {
        if (!json_is_string(v) || !valid_text(json_string_value(v), AUTH_TEXT_MAX))
            return "context values must be strings of 1-256 characters";
        if (!valid_text(k, AUTH_CONTEXT_KEY_MAX))
            return "context keys must be 1-64 characters";
    }
    return NULL;
}

static const char *check_transaction(const json_t *tx)
{
    char *s = json_dumps(tx, JSON_COMPACT);
    size_t n = s ? strlen(s) : AUTH_TRANSACTION_MAX + 1;
    free(s);
    if (n > AUTH_TRANSACTION_MAX)
        return "transaction must serialize to at most 4 KiB";
    if (auth_json_depth(tx) > AUTH_TRANSACTION_DEPTH)
        return "transaction nesting depth must be at most 4";
    return NULL;
}

static bool three_digits(const char *s)
{
    return s && strlen(s) == 3 && strspn(s, "0123456789") == 3;
}

/* The verification code rules of api.md 5.2. */
static const char *check_code(bool required, struct auth_input *in)
{
    if (!in->verification)
        in->verification = required ? "code" : "none";
    if (strcmp(in->verification, "none") && strcmp(in->verification, "code"))
        return "verification must be none or code";
    if (required && !strcmp(in->verification, "none"))
        return "this server requires verification code";
    if (!strcmp(in->verification, "none"))
        return in->code ? "displayCode is only for verification code" : NULL;
    if (in->code && in->async) /* api.md 5.2: the server draws it, unpredictable to anyone */
        return "in asynchronous mode the server draws displayCode: do not send one";
    if (in->code)
        return three_digits(in->code) ? NULL : "displayCode must be three digits";
    if (!in->async)
        return "displayCode (three digits) is required with verification code";
    if (otp_random_digits(in->drawn, 3) < 0)
        return "cannot draw a code";
    in->code = in->drawn;
    return NULL;
}

const char *auth_body_check(json_t *body, bool require_code, struct auth_input *in)
{
    json_error_t err;
    in->timeout = 60;
    in->type = "authentication";
    if (json_unpack_ex(body, &err, JSON_STRICT, "{s:s, s?s, s?s, s?o, s?o, s?I, s?s, s?s}",
                       "username", &in->username, "type", &in->type, "message", &in->message,
                       "context", &in->context, "transaction", &in->transaction, "timeout",
                       &in->timeout, "verification", &in->verification, "displayCode",
                       &in->code) < 0) {
        snprintf(in->why, sizeof in->why, "%s", err.text);
        return in->why;
    }
    if (!valid_username(in->username))
        return "username must be 1-128 bytes without control characters";
    if (strcmp(in->type, "authentication") && strcmp(in->type, "authorization"))
        return "type must be authentication or authorization";
    if (in->message && !valid_text(in->message, AUTH_TEXT_MAX))
        return "message must be 1-256 characters";
    if (in->context && !json_is_object(in->context))
        return "context must be an object";
    if (in->transaction && !json_is_object(in->transaction))
        return "transaction must be an object";
    if (in->timeout < 5 || in->timeout > 300)
        return "timeout must be 5-300 seconds";
    const char *why = in->context ? check_context(in->context) : NULL;
    if (!why && in->transaction)
        why = check_transaction(in->transaction);
    return why ? why : check_code(require_code, in);
}

const char *device_answer_body(json_t *body, const char **response,
                               char why[JSON_ERROR_TEXT_LENGTH])
{
    json_error_t err;
    if (json_unpack_ex(body, &err, JSON_STRICT, "{s:s}", "response", response) == 0)
        return NULL;
    snprintf(why, JSON_ERROR_TEXT_LENGTH, "%s", err.text);
    return why;
}
