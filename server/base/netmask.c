#include "netmask.h"

#include "alloc.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

/* inet_pton wants a NUL-terminated string; the longest IPv6 text with an
 * embedded IPv4 part is 45 characters. */
#define ADDR_MAX 45

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static bool is_v4(const struct netaddr *a)
{
    return memcmp(a->b, v4_mapped, sizeof v4_mapped) == 0;
}

bool netaddr_parse(const char *s, size_t len, struct netaddr *out)
{
    char buf[ADDR_MAX + 1];
    if (len == 0 || len > ADDR_MAX || memchr(s, '\0', len))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET6, buf, out->b) == 1)
        return true;
    memcpy(out->b, v4_mapped, sizeof v4_mapped);
    return inet_pton(AF_INET, buf, out->b + 12) == 1;
}

void netaddr_format(const struct netaddr *a, char out[NETADDR_TEXT])
{
    if (is_v4(a))
        inet_ntop(AF_INET, a->b + 12, out, NETADDR_TEXT);
    else
        inet_ntop(AF_INET6, a->b, out, NETADDR_TEXT);
}

/* The prefix length after the '/': 1-3 digits, no sign, no leading zero. */
static bool parse_bits(const char *s, size_t len, unsigned max, unsigned *out)
{
    if (len == 0 || len > 3 || (s[0] == '0' && len > 1))
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return v <= max;
}

/* Whether a's bits beyond the first `bits` are all zero. */
static bool host_bits_zero(const struct netaddr *a, unsigned bits)
{
    for (unsigned i = bits; i < 128; i++)
        if (a->b[i / 8] & (0x80u >> (i % 8)))
            return false;
    return true;
}

bool netmask_parse(const char *s, size_t len, struct netmask *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    if (!netaddr_parse(s, alen, &out->net))
        return false;
    /* an IPv4 prefix counts within the mapped form's last 32 bits */
    unsigned base = is_v4(&out->net) && memchr(s, ':', alen) == NULL ? 96 : 0;
    out->bits = 128;
    if (!slash)
        return true;
    unsigned bits;
    if (!parse_bits(slash + 1, len - alen - 1, 128 - base, &bits))
        return false;
    out->bits = base + bits;
    return host_bits_zero(&out->net, out->bits);
}

bool netmask_contains(const struct netmask *m, const struct netaddr *a)
{
    unsigned full = m->bits / 8, rest = m->bits % 8;
    if (memcmp(m->net.b, a->b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xffu << (8 - rest));
    return (a->b[full] & mask) == m->net.b[full];
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* s[*from..*to) without the optional whitespace at either end. */
static void trim(const char *s, size_t *from, size_t *to)
{
    while (*from < *to && is_ows(s[*from]))
        (*from)++;
    while (*to > *from && is_ows(s[*to - 1]))
        (*to)--;
}

size_t netmask_list_parse(const char *text, struct netmask_list *out)
{
    size_t n = 1;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    out->items = xcalloc(n, sizeof *out->items);
    out->n = 0;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        const char *comma = strchr(text + start, ',');
        size_t end = comma ? (size_t)(comma - text) : strlen(text);
        size_t from = start, to = end;
        trim(text, &from, &to);
        if (!netmask_parse(text + from, to - from, &out->items[out->n])) {
            netmask_list_free(out);
            return i + 1;
        }
        out->n++;
        start = end + 1;
    }
    return 0;
}

bool netmask_list_contains(const struct netmask_list *l, const struct netaddr *a)
{
    for (size_t i = 0; i < l->n; i++)
        if (netmask_contains(&l->items[i], a))
            return true;
    return false;
}

void netmask_list_free(struct netmask_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

/* ":port" at the end of an entry: 1-5 digits. */
static bool is_port(const char *s, size_t len)
{
    if (len < 2 || len > 6 || s[0] != ':')
        return false;
    for (size_t i = 1; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* One X-Forwarded-For entry (already trimmed): "v4", "v4:port", "v6",
 * "[v6]" or "[v6]:port". */
static bool xff_entry(const char *s, size_t len, struct netaddr *out)
{
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return false;
        size_t alen = (size_t)(close - s) - 1, after = len - alen - 2;
        return memchr(s + 1, ':', alen) && netaddr_parse(s + 1, alen, out) &&
               (after == 0 || is_port(close + 1, after));
    }
    const char *colon = memchr(s, ':', len);
    if (colon && !memchr(colon + 1, ':', len - (size_t)(colon - s) - 1)) /* one: v4:port */
        return is_port(colon, len - (size_t)(colon - s)) &&
               netaddr_parse(s, (size_t)(colon - s), out) && is_v4(out);
    return netaddr_parse(s, len, out);
}

enum netmask_xff netmask_xff_client(const struct netmask_list *trusted, const char *const *values,
                                    size_t n, struct netaddr *client)
{
    bool any = false;
    for (size_t i = n; i-- > 0;) {
        const char *v = values[i];
        size_t end = strlen(v);
        for (;;) {
            size_t start = end;
            while (start > 0 && v[start - 1] != ',')
                start--;
            size_t from = start, to = end;
            trim(v, &from, &to);
            if (!xff_entry(v + from, to - from, client))
                return XFF_MALFORMED;
            any = true;
            if (!netmask_list_contains(trusted, client))
                return XFF_CLIENT;
            if (start == 0)
                break;
            end = start - 1;
        }
    }
    return any ? XFF_CLIENT : XFF_NONE;
}
