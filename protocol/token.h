/* token: random identifiers and secrets, and the hashing/comparison used to store and
 * check them. All randomness comes from OpenSSL RAND_bytes (the OS CSPRNG behind it). */
#ifndef PUSHGATE_TOKEN_H
#define PUSHGATE_TOKEN_H

#include <stddef.h>

/* Maximum nbytes accepted by token_random_b64 / token_new_id. */
#define TOKEN_MAX_BYTES 256

/* Writes the base64url (unpadded) encoding of nbytes fresh random bytes into out,
 * NUL-terminated. Returns 0, or -1 when nbytes is 0 or over TOKEN_MAX_BYTES, outsz is
 * smaller than b64url_encoded_len(nbytes) + 1, or RAND_bytes fails (out is then set to ""
 * when outsz > 0). The random bytes are wiped from the stack afterwards. */
int token_random_b64(char *out, size_t outsz, size_t nbytes);

/* Returns a malloc'd id: prefix followed by the base64url encoding of nbytes random
 * bytes, e.g. token_new_id("q_", 12) -> "q_" + 16 characters (caller frees).
 * prefix may be NULL (no prefix) and must itself be from [A-Za-z0-9_-].
 * Returns NULL when the result would not match the API id syntax [A-Za-z0-9_-]{8,64},
 * on RAND failure, or on allocation failure. */
char *token_new_id(const char *prefix, size_t nbytes);

/* 1 when s matches [A-Za-z0-9_-]{8,64} (the API's identifier syntax), else 0. */
int token_is_valid_id(const char *s);

/* SHA-256 of the bytes of the NUL-terminated string s, as 64 lowercase hex characters
 * plus NUL in out. Used to store link tokens and application secrets as hashes.
 * The hash cannot fail for valid input; if OpenSSL nonetheless reports an error, out is
 * filled with "" so that it can never equal a stored hash. */
void token_sha256_hex(const char *s, char out[65]);

/* Constant-time comparison of n bytes (CRYPTO_memcmp). Returns 1 when equal, else 0. */
int token_ct_equal(const void *a, const void *b, size_t n);

#endif
