#include "b64url.h"

#include <stdint.h>
#include <stdlib.h>

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Maps a character to its 6-bit value, or -1 when it is not in the alphabet. A switch on
 * ranges instead of a table keeps it obviously correct for every byte value. */
static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

size_t b64url_encoded_len(size_t n)
{
    return (n / 3) * 4 + ((n % 3) ? (n % 3) + 1 : 0);
}

int b64url_encode_to(const unsigned char *in, size_t n, char *out, size_t outsz)
{
    if (n > (SIZE_MAX - 1) / 4 * 3 || outsz < b64url_encoded_len(n) + 1)
        return -1;
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = b64url_alphabet[(v >> 18) & 63];
        out[o++] = b64url_alphabet[(v >> 12) & 63];
        out[o++] = b64url_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    return 0;
}

char *b64url_encode(const unsigned char *in, size_t n)
{
    if (n > (SIZE_MAX - 1) / 4 * 3)
        return NULL;
    size_t sz = b64url_encoded_len(n) + 1;
    char *out = malloc(sz);
    if (out == NULL)
        return NULL;
    if (b64url_encode_to(in, n, out, sz) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* Decodes a final group of 2 or 3 characters. The bits that do not fit in a whole byte
 * must be zero, otherwise several strings would decode to the same bytes. */
static int b64url_decode_tail(const int *v, size_t rem, unsigned char *dst, size_t *o)
{
    if (rem == 2) {
        if (v[1] & 0x0f)
            return -1;
        dst[(*o)++] = (unsigned char)((v[0] << 2) | (v[1] >> 4));
    } else if (rem == 3) {
        if (v[2] & 0x03)
            return -1;
        dst[(*o)++] = (unsigned char)((v[0] << 2) | (v[1] >> 4));
        dst[(*o)++] = (unsigned char)(((v[1] & 0x0f) << 4) | (v[2] >> 2));
    }
    return 0;
}

static int b64url_decode_into(const char *in, size_t n, unsigned char *dst, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        size_t rem = n - i < 4 ? n - i : 4;
        int v[4] = {0, 0, 0, 0};
        for (size_t k = 0; k < rem; k++) {
            v[k] = b64url_value((unsigned char)in[i + k]);
            if (v[k] < 0)
                return -1;
        }
        if (rem < 4) {
            if (b64url_decode_tail(v, rem, dst, &o) != 0)
                return -1;
            break;
        }
        dst[o++] = (unsigned char)((v[0] << 2) | (v[1] >> 4));
        dst[o++] = (unsigned char)(((v[1] & 0x0f) << 4) | (v[2] >> 2));
        dst[o++] = (unsigned char)(((v[2] & 0x03) << 6) | v[3]);
    }
    *outlen = o;
    return 0;
}

int b64url_decode(const char *in, size_t n, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (n % 4 == 1 || (in == NULL && n != 0))
        return -1;
    unsigned char *dst = malloc(n / 4 * 3 + 3);
    if (dst == NULL)
        return -1;
    size_t len = 0;
    if (b64url_decode_into(in, n, dst, &len) != 0) {
        free(dst);
        return -1;
    }
    dst[len] = '\0';
    *out = dst;
    *outlen = len;
    return 0;
}
