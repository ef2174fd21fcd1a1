/* libFuzzer harness for the device proof (server/caller/devproof_parse.c): the input
 * is the value of an Authorization header. devproof_parse_header must accept only
 * "Device <JWS>" whose header names a valid kid, and point into the input; the proof
 * is then verified with a fixed key (RFC 7515 A.3), method, path and clock, and one
 * that passes must really carry those claims (read back with jws_peek), a jti of
 * 16-64 characters, and fail at any other time, method or path and without a key.
 * The input is also taken as a payload whose claims alone are checked. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "devproof_parse.h"
#include "protocol/jwk.h"
#include "protocol/jws.h"
#include "valid.h"

#define NOW 1795000000 /* the seeds' iat (tests/fuzz/make_seeds.py) */

static const char fixed_jwk[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";

static EVP_PKEY *fixed_key(void)
{
    static EVP_PKEY *key;
    if (key == NULL) {
        json_t *j = json_loads(fixed_jwk, 0, NULL);
        key = jwk_to_pkey(j);
        json_decref(j);
        if (key == NULL)
            abort();
    }
    return key;
}

/* What a proof that verified must say. */
static void check_claims(const char *jws, const char *jti, const char *method, const char *path)
{
    json_t *h = NULL, *p = NULL;
    json_int_t iat = 0;
    const char *htm = NULL, *htu = NULL, *pj = NULL;
    if (jws_peek(jws, &h, &p) != 0 || json_unpack(p, "{s:s, s:s, s:I, s:s}", "htm", &htm, "htu",
                                                  &htu, "iat", &iat, "jti", &pj) != 0)
        abort();
    size_t n = strlen(jti);
    if (strcmp(htm, method) || strcmp(htu, path) || iat < NOW - DEVPROOF_IAT_SKEW_S ||
        iat > NOW + DEVPROOF_IAT_SKEW_S || strcmp(pj, jti) || n < 16 || n > 64)
        abort();
    json_decref(h);
    json_decref(p);
}

static void check_verify(const char *jws, const char *method, const char *path)
{
    char jti[DEVPROOF_ID_SIZE];
    if (!devproof_verify(jws, fixed_key(), method, path, NOW, jti))
        return;
    check_claims(jws, jti, method, path);
    char other[DEVPROOF_ID_SIZE];
    if (devproof_verify(jws, NULL, method, path, NOW, other) ||
        devproof_verify(jws, fixed_key(), method, path, NOW + 2 * DEVPROOF_IAT_SKEW_S + 1, other) ||
        devproof_verify(jws, fixed_key(), method, path, NOW - 2 * DEVPROOF_IAT_SKEW_S - 1, other) ||
        devproof_verify(jws, fixed_key(), "PUT", path, NOW, other) ||
        devproof_verify(jws, fixed_key(), method, "/device/other", NOW, other))
        abort();
}

/* The input as a proof's payload: the claims alone, as if the signature verified (the
 * fuzzer cannot sign, so this is how it reaches them). */
static void check_payload(const uint8_t *data, size_t size)
{
    json_t *p = json_loadb((const char *)data, size, 0, NULL);
    if (!p)
        return;
    const char *method = "POST", *path = "/device/challenges/q_622b95833bab53f6";
    if (devproof_claims_ok(p, method, path, NOW)) {
        json_int_t iat = json_integer_value(json_object_get(p, "iat"));
        size_t n = strlen(json_string_value(json_object_get(p, "jti")));
        if (strcmp(json_string_value(json_object_get(p, "htm")), method) ||
            strcmp(json_string_value(json_object_get(p, "htu")), path) ||
            iat < NOW - DEVPROOF_IAT_SKEW_S || iat > NOW + DEVPROOF_IAT_SKEW_S || n < 16 || n > 64)
            abort();
    }
    json_decref(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    char kid[DEVPROOF_ID_SIZE];
    const char *jws = NULL;
    if (devproof_parse_header(s, kid, &jws) == 0) {
        if (strncmp(s, "Device ", 7) != 0 || jws != s + 7 || !valid_id(kid))
            abort();
        json_t *h = NULL;
        if (jws_peek_header(jws, &h) != 0 ||
            strcmp(json_string_value(json_object_get(h, "kid")), kid) != 0)
            abort();
        json_decref(h);
        check_verify(jws, "GET", "/device/challenges");
        check_verify(jws, "POST", "/device/challenges/q_622b95833bab53f6");
    } else if (jws != NULL) {
        abort();
    }
    /* the proof alone, as a JWS, whatever the header prefix */
    check_verify(s, "GET", "/device/challenges");
    check_payload(data, size);
    free(s);
    return 0;
}
