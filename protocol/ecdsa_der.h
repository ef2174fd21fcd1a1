/* ecdsa_der: the DER ECDSA-Sig-Value (RFC 3279 2.2.3: SEQUENCE { INTEGER r, INTEGER s })
 * of a P-256 signature given as JOSE r||s, written into a fixed buffer, for OpenSSL's
 * verify. Replaces ECDSA_SIG_new + two BN_bin2bn + i2d_ECDSA_SIG (about 15 k
 * instructions and four allocations per verify) with a few dozen byte moves.
 *
 * Contract: raw is 64 bytes, r then s, each 32 bytes big-endian and non-zero (the caller
 * checks 1 <= r, s < n first). Writes the minimal DER encoding (leading zero bytes
 * dropped, one 0x00 added when the first remaining byte has its high bit set: INTEGER is
 * signed) into out and returns its length, at most ECDSA_DER_MAX. Returns 0 when r or s
 * is zero. The output is byte-for-byte what i2d_ECDSA_SIG writes (tests/unit). */
#ifndef PUSHGATE_ECDSA_DER_H
#define PUSHGATE_ECDSA_DER_H

#include <stddef.h>

#define ECDSA_DER_MAX 72 /* 2 + 2 * (2 + 33) */

size_t ecdsa_der_from_raw(const unsigned char raw[64], unsigned char out[ECDSA_DER_MAX]);

#endif
