#include "router.h"

#include "alloc.h"

#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_params(char *params[ROUTER_MAX_PARAMS])
{
    for (int i = 0; i < ROUTER_MAX_PARAMS; i++) {
        free(params[i]);
        params[i] = NULL;
    }
}

/* Next path segment of *p (without the leading '/'); returns its length. */
static size_t next_segment(const char **p)
{
    if (**p == '/')
        (*p)++;
    const char *end = strchr(*p, '/');
    return end ? (size_t)(end - *p) : strlen(*p);
}

static char *decode_capture(const char *seg, size_t len)
{
    char *raw = xstrndup(seg, len);
    size_t outlen = 0;
    char *dec = evhttp_uridecode(raw, 0, &outlen);
    free(raw);
    if (dec && (outlen == 0 || strlen(dec) != outlen)) {
        free(dec);
        dec = NULL;
    }
    return dec;
}

static bool match_pattern(const char *pattern, const char *path, char *params[ROUTER_MAX_PARAMS])
{
    const char *pp = pattern, *sp = path;
    int n = 0;
    while (*pp && *sp) {
        size_t plen = next_segment(&pp), slen = next_segment(&sp);
        if (plen == 2 && strncmp(pp, "{}", 2) == 0) {
            if (slen == 0 || n == ROUTER_MAX_PARAMS || !(params[n++] = decode_capture(sp, slen)))
                goto fail;
        } else if (plen != slen || strncmp(pp, sp, plen) != 0) {
            goto fail;
        }
        pp += plen;
        sp += slen;
    }
    if (*pp == '\0' && *sp == '\0')
        return true;
fail:
    free_params(params);
    return false;
}

const struct route *router_match(const struct route *table, size_t n, unsigned method,
                                 const char *path, char *params[ROUTER_MAX_PARAMS], unsigned *allow)
{
    *allow = 0;
    for (size_t i = 0; i < n; i++) {
        const struct route *rt = &table[i];
        if (!match_pattern(rt->pattern, path, params))
            continue;
        if (rt->methods & method)
            return rt;
        *allow |= rt->methods;
        free_params(params);
    }
    return NULL;
}

void router_allow_header(unsigned methods, char *buf, size_t n)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {{EVHTTP_REQ_GET, "GET"},
                 {EVHTTP_REQ_HEAD, "HEAD"},
                 {EVHTTP_REQ_POST, "POST"},
                 {EVHTTP_REQ_PUT, "PUT"},
                 {EVHTTP_REQ_DELETE, "DELETE"}};
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (!(methods & names[i].bit))
            continue;
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s", len ? ", " : "", names[i].name);
    }
}
