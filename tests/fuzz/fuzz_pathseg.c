/* libFuzzer harness for io/httpcheck's path-segment rule. Properties checked, beyond "no
 * crash": what it accepts is what an independent decoder (mbrtowc in C.UTF-8) accepts as
 * UTF-8 scalar values without NUL; every prefix of an accepted segment that ends on a
 * character boundary is accepted too. */
#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "httpcheck.h"

static bool reference(const char *s, size_t len)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t i = 0;
    while (i < len) {
        wchar_t wc;
        size_t k = mbrtowc(&wc, s + i, len - i, &st);
        if (k == (size_t)-1 || k == (size_t)-2)
            return false;
        if (k == 0) /* a NUL byte */
            return false;
        if ((wc >= 0xd800 && wc <= 0xdfff) || wc > 0x10ffff)
            return false;
        i += k;
    }
    return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (!setlocale(LC_CTYPE, "C.UTF-8"))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    bool got = httpcheck_segment(s, size);
    if (got != reference(s, size))
        abort();
    if (got)
        for (size_t i = 0; i < size; i++)
            if (((unsigned char)s[i] & 0xc0) != 0x80 && !httpcheck_segment(s, i))
                abort();
    return 0;
}
