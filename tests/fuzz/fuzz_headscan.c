/* libFuzzer harness for io/httpcheck's head scan (errpage.c counts request heads with it).
 * Properties checked, beyond "no crash": fed in two pieces split anywhere, it finds the same
 * end as fed whole; the head ends exactly after the first LF that follows a line start
 * (optionally after one CR), and nothing after that end is counted. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpcheck.h"

/* Where the head ends (its length), or 0 when it does not end in s[0..n). */
static size_t reference(const uint8_t *s, size_t n)
{
    size_t line = 0; /* start of the current line */
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\n')
            continue;
        size_t len = i - line; /* the line without its LF */
        if (len == 0 || (len == 1 && s[line] == '\r'))
            return i + 1;
        line = i + 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct httpcheck_headscan whole = {0};
    size_t used = httpcheck_head_scan(&whole, s, size);
    size_t end = reference(data, size);
    if (whole.done != (end != 0) || used != (end ? end : size) || whole.bytes != used)
        abort();
    size_t cut = size ? data[0] % (size + 1) : 0;
    struct httpcheck_headscan split = {0};
    size_t a = httpcheck_head_scan(&split, s, cut);
    size_t b = httpcheck_head_scan(&split, s + cut, size - cut);
    if (a + b != used || split.bytes != whole.bytes || split.done != whole.done)
        abort();
    return 0;
}
