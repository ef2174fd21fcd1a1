#include "base32.h"

#include <stdint.h>
#include <stdlib.h>

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static int base32_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a';
    if (c >= '2' && c <= '7')
        return c - '2' + 26;
    return -1;
}

char *base32_encode(const unsigned char *in, size_t n)
{
    if (n > (SIZE_MAX - 8) / 8)
        return NULL;
    char *out = malloc((n * 8 + 4) / 5 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    uint32_t acc = 0; /* bit accumulator: never more than 12 live bits */
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = base32_alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
        acc &= (1u << bits) - 1;
    }
    if (bits > 0)
        out[o++] = base32_alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return out;
}

/* Strips valid trailing padding: returns the data length, or SIZE_MAX when the padding is
 * malformed. Without '=' the input is taken as unpadded. */
static size_t base32_strip_padding(const char *in, size_t n)
{
    size_t len = n;
    while (len > 0 && in[len - 1] == '=')
        len--;
    if (len == n)
        return n;
    if (n % 8 != 0 || n - len > 6)
        return SIZE_MAX;
    return len;
}

/* Valid data lengths mod 8 are 0, 2, 4, 5, 7 (1, 2, 3, 4 bytes in the last group). */
static int base32_length_ok(size_t len)
{
    size_t r = len % 8;
    return r != 1 && r != 3 && r != 6;
}

int base32_decode(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    size_t len = (in == NULL && n != 0) ? SIZE_MAX : base32_strip_padding(in, n);
    if (len == SIZE_MAX || !base32_length_ok(len))
        return -1;
    unsigned char *dst = malloc(len * 5 / 8 + 1);
    if (dst == NULL)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base32_value((unsigned char)in[i]);
        if (v < 0)
            goto fail;
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            dst[o++] = (unsigned char)(acc >> (bits - 8));
            bits -= 8;
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* leftover bits must be zero: one encoding per byte string */
        goto fail;
    dst[o] = '\0';
    *out = dst;
    *outlen = o;
    return 0;
fail:
    free(dst);
    return -1;
}
