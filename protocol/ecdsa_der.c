#include "ecdsa_der.h"

#include <string.h>

#define COORD 32

/* Appends INTEGER v (32 bytes big-endian, non-zero) at out; returns the bytes written. */
static size_t der_integer(const unsigned char *v, unsigned char *out)
{
    size_t skip = 0;
    while (skip < COORD - 1 && v[skip] == 0)
        skip++;
    size_t n = COORD - skip;
    size_t pad = (v[skip] & 0x80) ? 1 : 0;
    out[0] = 0x02;
    out[1] = (unsigned char)(n + pad);
    if (pad)
        out[2] = 0x00; /* INTEGER is signed: keep the value positive */
    memcpy(out + 2 + pad, v + skip, n);
    return 2 + pad + n;
}

static int is_zero(const unsigned char *v)
{
    unsigned char acc = 0;
    for (size_t i = 0; i < COORD; i++)
        acc |= v[i];
    return acc == 0;
}

size_t ecdsa_der_from_raw(const unsigned char raw[64], unsigned char out[ECDSA_DER_MAX])
{
    if (is_zero(raw) || is_zero(raw + COORD))
        return 0;
    size_t n = 2;
    n += der_integer(raw, out + n);
    n += der_integer(raw + COORD, out + n);
    out[0] = 0x30; /* SEQUENCE; content is at most 70 bytes: short-form length */
    out[1] = (unsigned char)(n - 2);
    return n;
}
