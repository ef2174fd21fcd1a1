/* valid: field checks shared by the handlers (api.md 1). Pure functions. */
#ifndef PUSHGATE_VALID_H
#define PUSHGATE_VALID_H

#include <stdbool.h>
#include <stddef.h>

/* 1-128 bytes of UTF-8 (jansson has checked the encoding) without control characters. */
bool valid_username(const char *s);
/* min..max characters, all from the base64url alphabet [A-Za-z0-9_-]. */
bool valid_b64url(const char *s, size_t min, size_t max);
/* Opaque API identifier: [A-Za-z0-9_-]{8,64}. */
bool valid_id(const char *s);
/* UTF-8 string of 1..max characters (code points) without control characters. */
bool valid_text(const char *s, size_t max_chars);

/* bytea parameter in PostgreSQL hex form ("\\x0a1b..."); malloc'd. */
char *valid_bytea_hex(const unsigned char *p, size_t n);

#endif
