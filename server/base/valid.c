#include "valid.h"

#include "alloc.h"

#include <stdlib.h>
#include <string.h>

/* No C0 control, DEL, or C1 control (U+0080-U+009F, UTF-8 C2 80-C2 9F): Unicode's
 * whole Cc category. s is valid UTF-8 (jansson checks), so p[1] exists after a C2. */
static bool no_controls(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
            return false;
    return true;
}

bool valid_username(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 128 && no_controls(s);
}

bool valid_b64url(const char *s, size_t min, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return n >= min && n <= max &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

bool valid_id(const char *s)
{
    return valid_b64url(s, 8, 64);
}

bool valid_text(const char *s, size_t max_chars)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        chars += (*p & 0xC0) != 0x80; /* count lead bytes only */
    return chars >= 1 && chars <= max_chars && no_controls(s);
}

char *valid_bytea_hex(const unsigned char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *out = xmalloc(2 * n + 3);
    out[0] = '\\';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        out[2 + 2 * i] = hex[p[i] >> 4];
        out[3 + 2 * i] = hex[p[i] & 15];
    }
    out[2 * n + 2] = '\0';
    return out;
}
