/* jws: JSON Web Signature, compact serialization (RFC 7515), ES256 only.
 *
 * The algorithm is pinned: the header's "alg" never selects code, it is only checked to be
 * "ES256". Signatures are the JOSE form, exactly 64 bytes r||s (RFC 7518 3.4), never DER.
 * ECDSA signatures are malleable ((r, n-s) also verifies), so never use signature bytes
 * as a replay or deduplication key: use a claim such as "jti" or "nonce" instead. */
#ifndef PUSHGATE_JWS_H
#define PUSHGATE_JWS_H

#include <jansson.h>
#include <openssl/evp.h>

/* Longest compact JWS accepted by jws_peek/jws_verify_es256, checked before decoding. */
#define JWS_MAX_LEN 16384

/* Signs payload (a JSON object) with key (P-256 private key). Protected header is
 * {"alg":"ES256","typ":typ,"kid":kid} in that order; "typ" is omitted when typ is NULL
 * and "kid" when kid is NULL. Returns the malloc'd compact string (caller frees), or NULL
 * on failure (not an object, not a P-256 private key, result longer than JWS_MAX_LEN,
 * OpenSSL error, OOM). */
char *jws_sign_es256(EVP_PKEY *key, const char *typ, const char *kid, const json_t *payload);

/* Parses without verifying anything cryptographic, so that the caller can read "kid"
 * and find the key. Requires: length <= JWS_MAX_LEN, exactly 3 non-empty dot-separated
 * parts that are canonical base64url, and header and payload that are JSON objects
 * without duplicate members. On 0 *header and *payload are new references (caller
 * json_decref's); on -1 both are set to NULL. Nothing returned here is trustworthy. */
int jws_peek(const char *compact, json_t **header, json_t **payload);

/* The header alone, for a caller that only needs "kid" to find the key before verifying:
 * length <= JWS_MAX_LEN, exactly 3 non-empty dot-separated parts, and a header that is
 * canonical base64url of a JSON object without duplicate members. The payload and the
 * signature are not decoded (jws_verify_es256 checks them). On 0 *header is a new
 * reference; on -1 it is NULL. Nothing returned here is trustworthy. */
int jws_peek_header(const char *compact, json_t **header);

/* Verifies a compact JWS with key (P-256 public key). Returns 0 ONLY IF all hold:
 *  - length <= JWS_MAX_LEN; exactly 3 non-empty parts, each canonical base64url;
 *  - the header is a JSON object (no duplicate members) whose "alg" is exactly "ES256";
 *  - "typ": when expect_typ != NULL, it is a string exactly equal to expect_typ
 *    (case-sensitive); when expect_typ == NULL, "typ" must be ABSENT (an untyped verify
 *    never accepts a token typed for some other purpose);
 *  - there is no "crit" member (we understand no extensions);
 *  - "kid", when present, is a string (its value is the caller's business);
 *  - the signature decodes to exactly 64 bytes r||s, with 1 <= r < n and 1 <= s < n;
 *  - EVP_DigestVerify over "<header>.<payload>" with SHA-256 returns exactly 1;
 *  - the payload is a JSON object without duplicate members.
 * Other header members (jwk, jku, x5u, ...) are ignored: the key is always the caller's.
 * On 0, *header_out / *payload_out (when non-NULL) receive new references (caller
 * json_decref's). On -1 they are set to NULL. key must be a P-256 key, else -1. */
int jws_verify_es256(const char *compact, EVP_PKEY *key, const char *expect_typ,
                     json_t **header_out, json_t **payload_out);

#endif
