/* push_body: the checks of the push routes' JSON bodies (api.md 1, 5.1-5.2, 6.3),
 * apart from their handlers so that they can be tested and fuzzed alone
 * (tests/fuzz/fuzz_bodies.c). Pure: no request, no I/O, no state; the body is the
 * one http.c parsed (an object, no duplicate keys, top-level nulls dropped). */
#ifndef PUSHGATE_PUSH_BODY_H
#define PUSHGATE_PUSH_BODY_H

#include <jansson.h>
#include <stdbool.h>

#define AUTH_TEXT_MAX 256       /* message, context values: characters */
#define AUTH_CONTEXT_KEY_MAX 64 /* context keys: characters */
#define AUTH_TRANSACTION_MAX 4096
#define AUTH_TRANSACTION_DEPTH 4

/* POST /auth. The strings and objects are borrowed from the body (code may point
 * at drawn). */
struct auth_input {
    const char *username, *type, *message, *verification, *code;
    json_t *context, *transaction;
    json_int_t timeout;
    bool async; /* in: Prefer: respond-async */
    char drawn[4];
    char why[JSON_ERROR_TEXT_LENGTH];
};

/* Fills in from body with the defaults (type "authentication", timeout 60,
 * verification "code" when require_code, else "none"; in async mode with
 * verification "code" a drawn displayCode). NULL when the body is acceptable, else
 * the detail of the 400 (a literal or in->why). in->async must be set. */
const char *auth_body_check(json_t *body, bool require_code, struct auth_input *in);

/* Nesting depth: a scalar is 0, {"a": 1} is 1. */
int auth_json_depth(const json_t *v);

/* POST /device/challenges/{id}: {"response": <string>}. NULL and *response
 * (borrowed), or the detail of the 400 (in why). */
const char *device_answer_body(json_t *body, const char **response,
                               char why[JSON_ERROR_TEXT_LENGTH]);

#endif
