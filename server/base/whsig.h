/* whsig: an application's webhook secret and the Standard Webhooks signature
 * (api.md 12, docs/integration.md "Webhooks"). Pure, no I/O.
 *
 * The secret is WHSIG_SECRET_LEN random bytes, shown once as "whsec_" + their
 * base64 (standard alphabet, padded), and stored only sealed under the master
 * key (AES-256-GCM, aad "webhook:<application id>", so a sealed secret cannot
 * be moved to another application's row). The command line makes it
 * (cli_app.c); the deliverer opens it and signs (mail/webhooks.c). */
#ifndef PUSHGATE_WHSIG_H
#define PUSHGATE_WHSIG_H

#include <stddef.h>

#define WHSIG_SECRET_LEN 32
#define WHSIG_SECRET_TEXT 64   /* "whsec_" + 44 base64 characters + NUL, rounded up */
#define WHSIG_SIGNATURE_MAX 64 /* "v1," + 44 base64 characters + NUL, rounded up */

/* A new secret: raw bytes and their "whsec_..." text. -1 when the random
 * source fails. */
int whsig_secret_new(unsigned char raw[WHSIG_SECRET_LEN], char text[WHSIG_SECRET_TEXT]);

/* The sealed form of a secret for applications.webhook_secret, as PostgreSQL's
 * bytea hex text ("\x..."), malloc'd; NULL on failure. */
char *whsig_seal(const unsigned char master[32], const char *app_id, const unsigned char *raw,
                 size_t n);

/* Opens a sealed secret (raw bytea bytes). On 0, *raw is malloc'd with *n bytes:
 * a secret, to be cleansed before it is freed. -1 on any failure (wrong key,
 * another application's secret, a modified byte). */
int whsig_open(const unsigned char master[32], const char *app_id, const unsigned char *sealed,
               size_t sealed_len, unsigned char **raw, size_t *n);

/* The webhook-signature header value for one attempt:
 * "v1," + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")). */
void whsig_sign(const unsigned char *key, size_t keylen, const char *id, long long timestamp,
                const char *body, size_t body_len, char out[WHSIG_SIGNATURE_MAX]);

#endif
