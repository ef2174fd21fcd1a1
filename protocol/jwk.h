/* jwk: EC P-256 keys as JSON Web Keys (RFC 7517/7518), key generation, PKCS#8 storage
 * and RFC 7638 thumbprints. Only P-256 exists here: every other kty/crv is rejected.
 *
 * Parsing a key costs tens of microseconds (point validation); callers that verify
 * often (the device channel) should cache the EVP_PKEY. */
#ifndef PUSHGATE_JWK_H
#define PUSHGATE_JWK_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

/* Builds a public key from a JWK object {"kty":"EC","crv":"P-256","x":..,"y":..}.
 * x and y must be strings that decode (canonical base64url, see b64url.h) to exactly 32
 * bytes each; the point must lie on the curve (which also rules out infinity).
 * Other members are tolerated (kid, key_ops, ...), except:
 *   - "d" present (a private key must never travel or be stored as a device key);
 *   - "alg" present and not the string "ES256";
 *   - "use" present and not the string "sig".
 * Returns a new key (caller EVP_PKEY_free's) or NULL on any failure. */
EVP_PKEY *jwk_to_pkey(const json_t *jwk);

/* The same in two steps: the JWK's checks and its point (0x04 || x || y; 0, or -1
 * when jwk_to_pkey would fail on them), then the key (NULL when the point is not
 * on the curve). 65 bytes keep a device's key where an EVP_PKEY takes ~2 KiB. */
#define JWK_POINT_LEN 65
int jwk_to_point(const json_t *jwk, unsigned char pt[JWK_POINT_LEN]);
EVP_PKEY *jwk_point_to_pkey(const unsigned char pt[JWK_POINT_LEN]);

/* A point jwk_point_to_pkey accepted before, as a key again, cheaper: through ctx, one
 * context of the caller's (jwk_reload_ctx_new; not shared between threads) reused for
 * every call, and without the quick public check, which repeats what decoding checks
 * (coordinates below p, on the curve): a third of jwk_point_to_pkey's ~20 us, paid by
 * every poll of a device whose key was not kept parsed (server/caller/devproof.c). */
EVP_PKEY_CTX *jwk_reload_ctx_new(void);
EVP_PKEY *jwk_point_reload(EVP_PKEY_CTX *ctx, const unsigned char pt[JWK_POINT_LEN]);

/* Returns a new JSON object {"kty":"EC","crv":"P-256","x":..,"y":..} for the public part
 * of key (caller json_decref's). When kid != NULL, also "kid":kid, "use":"sig",
 * "alg":"ES256" (the JWKS form). NULL when key is not a P-256 key or on failure. */
json_t *jwk_from_pkey(const EVP_PKEY *key, const char *kid);

/* Generates a new P-256 key pair (caller EVP_PKEY_free's); NULL on failure. */
EVP_PKEY *jwk_generate_p256(void);

/* 1 when key is an EC key on P-256 (prime256v1), else 0 (NULL included). */
int jwk_is_p256(const EVP_PKEY *key);

/* Encodes the private key as unencrypted PKCS#8 DER (PrivateKeyInfo). On success returns
 * 0 and sets *der to a malloc'd buffer of *len bytes; the caller must wipe it
 * (OPENSSL_cleanse) before free, since it holds the private key. -1 on failure, when key
 * has no private part, or is not P-256. Encrypt it (aead.h) before it touches a disk. */
int jwk_private_to_der(const EVP_PKEY *key, unsigned char **der, size_t *len);

/* Decodes a PKCS#8 DER P-256 private key (caller EVP_PKEY_free's). NULL when the input is
 * not exactly one such structure, not EC, or not P-256. */
EVP_PKEY *jwk_private_from_der(const unsigned char *der, size_t len);

/* RFC 7638 thumbprint: base64url(SHA-256('{"crv":"P-256","kty":"EC","x":"..","y":".."}')),
 * 43 characters, malloc'd (caller frees). Used as the server key's "kid". NULL on
 * failure. */
char *jwk_thumbprint(const EVP_PKEY *key);

#endif
