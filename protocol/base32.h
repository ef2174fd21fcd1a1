/* base32: RFC 4648 section 6 base32 (alphabet A-Z2-7), as used by TOTP secrets in
 * otpauth:// URIs and authenticator apps. */
#ifndef PUSHGATE_BASE32_H
#define PUSHGATE_BASE32_H

#include <stddef.h>

/* Encodes n bytes as uppercase base32 WITHOUT '=' padding (the form authenticator apps
 * expect in otpauth URIs). Returns a malloc'd NUL-terminated string (caller frees), or
 * NULL on allocation failure. in may be NULL when n == 0. */
char *base32_encode(const unsigned char *in, size_t n);

/* Decodes the n characters of in. Accepted: letters in either case, digits 2-7, and
 * optionally the correct '=' padding at the end (padded input must then be a multiple of
 * 8 characters). Rejected (-1, *out NULL): any other character (whitespace and hyphens
 * included), '=' anywhere but the tail, an impossible length (unpadded length % 8 in
 * {1, 3, 6}), non-zero unused trailing bits, allocation failure. On 0, *out is malloc'd
 * with *outlen bytes plus a NUL terminator (caller frees). */
int base32_decode(const char *in, size_t n, unsigned char **out, size_t *outlen);

#endif
