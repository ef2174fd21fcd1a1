/* devproof_parse: the pure part of the device proof (api.md 6.1), apart from
 * devproof.c's key cache and jti claim so that it can be tested and fuzzed alone
 * (tests/fuzz/fuzz_devproof.c): no request, no I/O, no clock of its own. */
#ifndef PUSHGATE_DEVPROOF_PARSE_H
#define PUSHGATE_DEVPROOF_PARSE_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <time.h>

#define DEVPROOF_IAT_SKEW_S 60
#define DEVPROOF_ID_SIZE 72 /* kid and jti buffers: ids are at most 64 characters */

/* The value of an Authorization header (may be NULL): "Device <JWS>" whose protected
 * header's kid is a valid id (valid_id). 0 with the kid copied into kid and *jws
 * pointing at the JWS inside authorization; -1 (nothing else is set) otherwise. Only
 * the header is decoded: the signature waits for the device's key. */
int devproof_parse_header(const char *authorization, char kid[DEVPROOF_ID_SIZE], const char **jws);

/* The claims of a proof whose signature verified: htm == method, htu == path,
 * |now - iat| <= DEVPROOF_IAT_SKEW_S, jti a string of 16-64 characters. */
bool devproof_claims_ok(const json_t *payload, const char *method, const char *path, time_t now);

/* The signature under key (ES256, typ pushgate-device+jwt; key may be NULL: false) and
 * every claim: htm == method, htu == path, |now - iat| <= DEVPROOF_IAT_SKEW_S, jti of
 * 16-64 characters, copied into jti on true. */
bool devproof_verify(const char *jws, EVP_PKEY *key, const char *method, const char *path,
                     time_t now, char jti[DEVPROOF_ID_SIZE]);

#endif
