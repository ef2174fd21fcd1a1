/* libFuzzer harness for protocol/b64url. Properties checked, beyond "no crash":
 *  - whatever decodes re-encodes to exactly the input (decoding is canonical);
 *  - any bytes encode and decode back to themselves. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/b64url.h"

static void check_canonical(const uint8_t *data, size_t size)
{
    unsigned char *out = NULL;
    size_t outlen = 0;
    if (b64url_decode((const char *)data, size, &out, &outlen) != 0) {
        if (out != NULL)
            abort();
        return;
    }
    char *again = b64url_encode(out, outlen);
    if (again == NULL || strlen(again) != size || memcmp(again, data, size) != 0)
        abort();
    free(again);
    free(out);
}

static void check_round_trip(const uint8_t *data, size_t size)
{
    char *enc = b64url_encode(data, size);
    unsigned char *out = NULL;
    size_t outlen = 0;
    if (enc == NULL || b64url_decode(enc, strlen(enc), &out, &outlen) != 0)
        abort();
    if (outlen != size || memcmp(out, data, size) != 0)
        abort();
    free(out);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_canonical(data, size);
    check_round_trip(data, size);
    return 0;
}
