#include "httpcheck.h"

#include <string.h>
#include <strings.h>

/* RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 * "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static bool is_token(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool alnum =
            (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
        if (!alnum && !strchr(extra, *p))
            return false;
    }
    return true;
}

/* 1*DIGIT (evhttp itself refuses a value it cannot parse; this also refuses "+5", " 5"
 * inside a list, "5, 5" and the like) */
static bool is_length(const char *v)
{
    return *v && strspn(v, "0123456789") == strlen(v);
}

static bool is_zero(const char *v)
{
    return strspn(v, "0") == strlen(v);
}

int httpcheck_head(const struct httpcheck_field *f, size_t n, bool body_unread, const char **why)
{
    size_t cl = 0, te = 0;
    bool body = false;
    for (size_t i = 0; i < n; i++) {
        if (!is_token(f[i].name)) {
            *why = "malformed header name";
            return -1;
        }
        if (strcasecmp(f[i].name, "Content-Length") == 0) {
            cl++;
            if (!is_length(f[i].value)) {
                *why = "malformed Content-Length";
                return -1;
            }
            body |= !is_zero(f[i].value);
        } else if (strcasecmp(f[i].name, "Transfer-Encoding") == 0) {
            te++;
            body = true;
        }
    }
    if (cl > 1 || (cl && te)) {
        *why = "conflicting Content-Length / Transfer-Encoding headers";
        return -1;
    }
    if (body && body_unread) {
        *why = "this method takes no body";
        return -1;
    }
    return 0;
}

/* Length of the UTF-8 sequence at p (n bytes left) and its code point, or 0 when it is
 * not well-formed (RFC 3629 section 4). */
static size_t utf8_seq(const unsigned char *p, size_t n, unsigned *cp)
{
    static const unsigned min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = p[0] < 0x80                    ? 1
                 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2
                 : (p[0] & 0xf0) == 0xe0        ? 3
                 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4
                                                : 0;
    if (len == 0 || len > n)
        return 0;
    unsigned c = len == 1 ? p[0] : p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min_for_len[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

bool httpcheck_segment(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned cp = 0;
        size_t k = utf8_seq(p + i, len - i, &cp);
        if (k == 0 || cp == 0)
            return false;
        i += k;
    }
    return true;
}

size_t httpcheck_head_scan(struct httpcheck_headscan *s, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && !s->done) {
        char c = p[i++];
        if (c == '\n') {
            s->done = s->line != 2; /* "\n" or "\r\n" alone: the empty line */
            s->line = 0;
        } else {
            s->line = c == '\r' && s->line == 0 ? 1 : 2;
        }
    }
    s->bytes += i;
    return i;
}
