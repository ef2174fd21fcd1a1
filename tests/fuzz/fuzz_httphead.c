/* libFuzzer harness for io/httpcheck's head filter. The input is a request head as sent
 * ("name: value" lines, CRLF or LF); it is split the way evhttp splits it (at the first
 * ':' of a line, the value's leading spaces dropped). Properties checked, beyond "no
 * crash": a refusal always says why; a head with a header name that is not a token is
 * refused; declaring a body with HEAD (body_unread) is never more accepted than without. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpcheck.h"

#define MAX_FIELDS 128

static bool token(const char *s)
{
    static const char ok[] = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    return *s && strspn(s, ok) == strlen(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct httpcheck_field f[MAX_FIELDS];
    size_t n = 0;
    bool bad_name = false;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && n < MAX_FIELDS;
         line = strtok_r(NULL, "\n", &save)) {
        line[strcspn(line, "\r")] = '\0';
        char *colon = strchr(line, ':');
        if (!colon)
            continue; /* evhttp refuses such a line itself */
        *colon = '\0';
        char *value = colon + 1 + strspn(colon + 1, " ");
        f[n++] = (struct httpcheck_field){line, value};
        bad_name |= !token(line);
    }
    const char *why = NULL;
    int plain = httpcheck_head(f, n, false, &why);
    if (plain < 0 && !why)
        abort();
    if (bad_name && plain == 0)
        abort();
    why = NULL;
    int head = httpcheck_head(f, n, true, &why);
    if ((head < 0 && !why) || (plain < 0 && head == 0))
        abort();
    free(text);
    return 0;
}
