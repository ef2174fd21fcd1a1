/* b64url: base64url (RFC 4648 section 5) without padding, canonical decoding only.
 *
 * Used for every JOSE part (JWS segments, JWK coordinates) and for random tokens.
 * Decoding is strict on purpose: one byte string has exactly one accepted encoding,
 * so attackers cannot produce "different" tokens or signatures for the same bytes.
 */
#ifndef PUSHGATE_B64URL_H
#define PUSHGATE_B64URL_H

#include <stddef.h>

/* Length of the unpadded encoding of n bytes (without the NUL). */
size_t b64url_encoded_len(size_t n);

/* Encodes n bytes of in. Returns a malloc'd, NUL-terminated string without '=' padding
 * (caller frees), or NULL on allocation failure. in may be NULL when n == 0. */
char *b64url_encode(const unsigned char *in, size_t n);

/* Encodes n bytes of in into out, which must have room for b64url_encoded_len(n) + 1
 * bytes. Returns 0, or -1 when outsz is too small (out is then untouched). */
int b64url_encode_to(const unsigned char *in, size_t n, char *out, size_t outsz);

/* Decodes the n characters of in (no NUL needed). On success returns 0 and sets *out to a
 * malloc'd buffer of *outlen bytes plus a NUL terminator for convenience (caller frees).
 * Returns -1 (and leaves *out NULL) on: '=' padding, any character outside
 * [A-Za-z0-9_-] (whitespace included), n % 4 == 1, non-zero unused trailing bits
 * (non-canonical encodings), or allocation failure. An empty input decodes to 0 bytes. */
int b64url_decode(const char *in, size_t n, unsigned char **out, size_t *outlen);

#endif
