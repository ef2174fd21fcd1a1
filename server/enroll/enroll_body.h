/* enroll_body: the checks of the enrolment routes' JSON bodies (api.md 1, 4), apart
 * from their handlers so that they can be tested and fuzzed alone
 * (tests/fuzz/fuzz_bodies.c). Pure: no request, no I/O, no state; the body is the
 * one http.c parsed (an object, no duplicate keys, top-level nulls dropped). Each
 * returns NULL when the body is acceptable, else the detail of the 400 (a literal or
 * why); the strings and objects it fills in are borrowed from the body. */
#ifndef PUSHGATE_ENROLL_BODY_H
#define PUSHGATE_ENROLL_BODY_H

#include <jansson.h>

#define REG_EXPIRES_DEFAULT 86400
#define REG_EXPIRES_MIN 300
#define REG_EXPIRES_MAX 604800
#define REG_DISPLAY_MAX 128 /* displayName: characters */
#define LINK_DEVICE_NAME_MAX 64

/* POST /registration */
struct registration_input {
    const char *username, *email, *display; /* display may be NULL; email too with "none" */
    json_int_t expires;                     /* REG_EXPIRES_DEFAULT when absent */
    const char *delivery;                   /* "email" (the default) or "none" */
};
const char *registration_body(json_t *body, struct registration_input *in,
                              char why[JSON_ERROR_TEXT_LENGTH]);

/* POST /r/{token}: only the shapes; the key and the proof wait for the token lookup. */
struct link_bind_input {
    json_t *jwk; /* any JSON value: jwk_to_pkey judges it */
    const char *name, *proof;
};
const char *link_bind_body(json_t *body, struct link_bind_input *in,
                           char why[JSON_ERROR_TEXT_LENGTH]);

#endif
