/* libFuzzer harness for protocol/base32 (TOTP secrets). Two round trips:
 * - the input as bytes: base32_encode gives ceil(8n/5) characters of A-Z2-7 that
 *   base32_decode turns back into exactly those bytes;
 * - the input as text: when base32_decode accepts it, encoding the result gives the
 *   text itself, uppercased and without its '=' padding (one encoding per byte string). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/base32.h"

static void bytes_round_trip(const uint8_t *data, size_t size)
{
    char *enc = base32_encode(data, size);
    if (enc == NULL)
        abort();
    size_t n = strlen(enc);
    if (n != (size * 8 + 4) / 5 || strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != n)
        abort();
    unsigned char *dec = NULL;
    size_t declen = 0;
    if (base32_decode(enc, n, &dec, &declen) != 0 || declen != size ||
        (size && memcmp(dec, data, size) != 0) || dec[declen] != '\0')
        abort();
    free(dec);
    free(enc);
}

static void text_round_trip(const uint8_t *data, size_t size)
{
    unsigned char *dec = (unsigned char *)1;
    size_t declen = 1;
    if (base32_decode((const char *)data, size, &dec, &declen) != 0) {
        if (dec != NULL || declen != 0)
            abort();
        return;
    }
    size_t len = size;
    while (len > 0 && data[len - 1] == '=')
        len--;
    char *enc = base32_encode(dec, declen);
    if (enc == NULL || strlen(enc) != len)
        abort();
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i] >= 'a' && data[i] <= 'z' ? (uint8_t)(data[i] - 32) : data[i];
        if ((uint8_t)enc[i] != c)
            abort();
    }
    free(enc);
    free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bytes_round_trip(data, size);
    text_round_trip(data, size);
    return 0;
}
