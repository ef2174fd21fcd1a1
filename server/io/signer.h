/* signer: the server's ES256 signing key (challenges are signed with it).
 *
 * On first start a P-256 key is generated, sealed with the master key and
 * stored in server_keys; every instance loads the current one at start
 * (BLOCKING, before the loop), keeps the parsed EVP_PKEY, and switches to a
 * rotated one when told (keyswap.h). The public
 * JWKS (current and still-published retired keys) is read from the database
 * by the endpoint, so a rotation shows up everywhere at once. */
#ifndef PUSHGATE_SIGNER_H
#define PUSHGATE_SIGNER_H

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>

struct signer;

/* The current key's row: kid, sealed, public_jwk (what signer_open takes). */
#define SIGNER_CURRENT_SQL                                                                         \
    "SELECT kid, sealed, public_jwk FROM server_keys WHERE status = 'current'"

/* Loads (or creates) the current key. First re-seals, once, rows sealed before the
 * aad named the kid (each only after checking that it holds its own key); a row that
 * holds another key fails the load. NULL on failure (logged). BLOCKING. */
struct signer *signer_load(PGconn *pg, const unsigned char master[32]);
/* Opens the key of row 0 of a SIGNER_CURRENT_SQL result: sealed for that row's kid,
 * and the key's thumbprint is the kid and its public part the row's public_jwk. NULL
 * (logged) otherwise: the caller must not sign with anything else (fail closed). */
struct signer *signer_open(const PGresult *r, const unsigned char master[32]);

/* Seals key's private part (PKCS#8) under the master key with the aad
 * "server-signing-key:<kid>", so the blob opens only for the row of that kid.
 * 0 with *out malloc'd (*len bytes), or -1. */
int signer_seal(const unsigned char master[32], const EVP_PKEY *key, const char *kid,
                unsigned char **out, size_t *len);
/* Opens a blob sealed by signer_seal for kid; the key (caller frees) only when its
 * thumbprint is kid and, when pub_jwk is not NULL, its public part equals that JWK.
 * NULL otherwise (another row's blob, another key, a wrong master key). */
EVP_PKEY *signer_unseal(const unsigned char master[32], const unsigned char *blob, size_t len,
                        const char *kid, const char *pub_jwk);
void signer_free(struct signer *s);

const char *signer_kid(const struct signer *s);
/* Compact JWS {"alg":"ES256","typ":typ,"kid":kid}.payload; malloc'd. */
char *signer_sign(const struct signer *s, const char *typ, const json_t *payload);

/* pushgated key rotate: retires the current key (published for another
 * `publish_days`) and makes a new one current, and NOTIFYs "k:" so that running
 * instances switch to it (keyswap.h). BLOCKING. */
int signer_rotate(PGconn *pg, const unsigned char master[32], int publish_days);

#endif
