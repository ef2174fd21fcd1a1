/* signer: the server's ES256 signing key (challenges are signed with it).
 *
 * On first start a P-256 key is generated, sealed with the master key and
 * stored in server_keys; every instance loads the current one once, at start
 * (BLOCKING, before the loop), and keeps the parsed EVP_PKEY. The public
 * JWKS (current and still-published retired keys) is read from the database
 * by the endpoint, so a rotation shows up everywhere at once. */
#ifndef PUSHGATE_SIGNER_H
#define PUSHGATE_SIGNER_H

#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/evp.h>

struct signer;

/* Loads (or creates) the current key. NULL on failure (logged). */
struct signer *signer_load(PGconn *pg, const unsigned char master[32]);
void signer_free(struct signer *s);

const char *signer_kid(const struct signer *s);
/* Compact JWS {"alg":"ES256","typ":typ,"kid":kid}.payload; malloc'd. */
char *signer_sign(const struct signer *s, const char *typ, const json_t *payload);

/* pushgated key rotate: retires the current key (published for another
 * `publish_days`) and makes a new one current. Prints the new kid. */
int signer_rotate(PGconn *pg, const unsigned char master[32], int publish_days);

#endif
