/* aead: AES-256-GCM sealing of small secrets at rest (the server's signing key, TOTP
 * seeds) under the master key from PUSHGATE_KEY_FILE.
 *
 * Format: version byte 0x01 || 12-byte random nonce || ciphertext || 16-byte tag.
 * The version byte is authenticated too (it is prepended to the AAD), so it cannot be
 * swapped. Random 96-bit nonces are safe for far more than the 2^32 messages NIST allows
 * per key; we seal a handful of values per user. */
#ifndef PUSHGATE_AEAD_H
#define PUSHGATE_AEAD_H

#include <stddef.h>

#define AEAD_KEY_LEN 32
#define AEAD_VERSION 1
#define AEAD_NONCE_LEN 12
#define AEAD_TAG_LEN 16
#define AEAD_OVERHEAD (1 + AEAD_NONCE_LEN + AEAD_TAG_LEN)
/* Largest plaintext accepted (these are small secrets, not files). */
#define AEAD_MAX_PLAINTEXT (1024 * 1024)

/* Encrypts ptlen bytes of pt (pt may be NULL when ptlen == 0). aad binds the ciphertext
 * to its purpose and owner (e.g. "totp:<appId>:<username>") so that a sealed value cannot
 * be moved to another row; NULL means "". On 0, *out is malloc'd (caller frees) and
 * *outlen == ptlen + AEAD_OVERHEAD. -1 on RAND/OpenSSL failure, oversize input or OOM. */
int aead_seal(const unsigned char key[32], const unsigned char *pt, size_t ptlen, const char *aad,
              unsigned char **out, size_t *outlen);

/* Decrypts and authenticates a sealed blob with the same aad. On 0, *pt is malloc'd
 * with *ptlen bytes plus a NUL terminator (caller frees, after OPENSSL_cleanse since it
 * is a secret). -1 on any failure: wrong version, too short, wrong key or aad, any
 * modified byte. No plaintext is ever returned on failure. */
int aead_open(const unsigned char key[32], const unsigned char *in, size_t inlen, const char *aad,
              unsigned char **pt, size_t *ptlen);

#endif
