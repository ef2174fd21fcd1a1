/* sim_proof: the signed messages of a device (api.md 4 and 6), and the check of the
 * server's challenges against the JWKS pinned at enrolment.
 *
 * Every token is ES256 over protocol/jws.h; iat is the wall clock, jti/nonce-like values
 * are fresh random base64url. Returned strings are malloc'd (caller frees), NULL on
 * failure (a key that is not a P-256 private key, OOM). */
#ifndef PUSHGATE_SIM_PROOF_H
#define PUSHGATE_SIM_PROOF_H

#include <jansson.h>
#include <openssl/evp.h>

/* The registration proof: typ pushgate-registration+jwt, {registrationId, iat}. */
char *sim_registration_proof(EVP_PKEY *key, const char *registration_id);

/* The Authorization header value "Device <JWS>" for one /device... request: typ
 * pushgate-device+jwt, kid device_id, {htm: method, htu: path (no query), iat, jti}.
 * Every call has a new jti, so a proof is never reused. */
char *sim_device_authz(EVP_PKEY *key, const char *device_id, const char *method, const char *path);

/* api.md 6.3's chal of a challenge: base64url (no padding) of the SHA-256 of the exact
 * bytes of its compact JWS, into out (SIM_CHAL_SIZE bytes). 0, or -1 on failure. */
#define SIM_CHAL_SIZE 44
int sim_chal(const char *challenge_jws, char *out, size_t outsz);

/* The answer to a challenge: typ pushgate-response+jwt, kid device_id, {requestId, nonce,
 * chal (sim_chal of the challenge answered), decision, reason (when not NULL), code (when
 * not NULL), iat}. */
char *sim_response(EVP_PKEY *key, const char *device_id, const char *request_id, const char *nonce,
                   const char *chal, const char *decision, const char *reason, const char *code);

/* The server keys pinned at enrolment, parsed once (verifying is then cheap). */
struct sim_keyset;

/* From a JWKS {"keys": [...]}: every P-256 signing key in it. NULL when there is none. */
struct sim_keyset *sim_keyset_new(const json_t *jwks);
void sim_keyset_free(struct sim_keyset *ks);

/* Checks one challenge from GET /device/challenges: the JWS verifies under the pinned key
 * named by its kid (every pinned key when it has none) with typ pushgate-challenge+jwt,
 * and the payload names device_id and request_id (the id the server listed it under) and
 * carries a nonce. Returns the payload (new reference) with one member added, "chal" (the
 * challenge's sim_chal, for the answer), or NULL with *why set to a static reason. A NULL
 * return means: do not answer. */
json_t *sim_challenge_check(const struct sim_keyset *ks, const char *jws, const char *device_id,
                            const char *request_id, const char **why);

#endif
