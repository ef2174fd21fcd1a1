/* hkdf: HKDF-SHA256 (RFC 5869, extract then expand) through OpenSSL 3's
 * EVP_KDF "HKDF". Derives independent keys for separate purposes from one
 * master secret, so that a key used for one job (e.g. keying the audit
 * chain) reveals nothing about the master or the other derived keys. */
#ifndef PUSHGATE_PROTOCOL_HKDF_H
#define PUSHGATE_PROTOCOL_HKDF_H

#include <stddef.h>

/* out_len bytes of OKM = HKDF-SHA256(salt, ikm, info); salt may be NULL (or
 * salt_len 0: RFC 5869's default of HashLen zero bytes), info may be empty.
 * 0 ok, -1 when OpenSSL refuses (e.g. out_len > 255 * 32); out is then zeroed. */
int hkdf_sha256(const unsigned char *ikm, size_t ikm_len, const unsigned char *salt,
                size_t salt_len, const unsigned char *info, size_t info_len, unsigned char *out,
                size_t out_len);

#endif
