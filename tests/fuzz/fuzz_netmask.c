/* libFuzzer harness for base/netmask.c: PUSHGATE_TRUSTED_PROXIES and X-Forwarded-For.
 * The input's first line is a trusted-proxy list, each further line one X-Forwarded-For
 * header value. Properties checked, beyond "no crash":
 *  - a list that parses has its ranges' host bits zero, and each range printed back
 *    ("addr/bits") parses to the same range;
 *  - an address the walk returns is canonical: printed and parsed again, it is itself;
 *  - an untrusted client stays the client when anything at all is put left of it (that
 *    part is what the client sent) and when a trusted proxy appends its entry;
 *  - a lone untrusted address is its own client. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netmask.h"

#define MAX_LINES 16

static void check_list(const struct netmask_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct netmask *m = &l->items[i];
        if (m->bits > 128 || !netmask_contains(m, &m->net))
            abort();
        char text[NETADDR_TEXT + 8], addr[NETADDR_TEXT];
        struct netaddr plain;
        netaddr_format(&m->net, addr);
        /* an IPv4 range is spelled with its own prefix length */
        bool v4 = strchr(addr, ':') == NULL;
        snprintf(text, sizeof text, "%s/%u", addr, v4 ? m->bits - 96 : m->bits);
        struct netmask back;
        if (!netaddr_parse(addr, strlen(addr), &plain) ||
            !netmask_parse(text, strlen(text), &back) || back.bits != m->bits ||
            memcmp(&back.net, &m->net, sizeof back.net) != 0)
            abort();
    }
}

static bool same(const struct netaddr *a, const struct netaddr *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

static void check_client(const struct netmask_list *l, const char **values, size_t n,
                         const struct netaddr *client)
{
    char text[NETADDR_TEXT];
    netaddr_format(client, text);
    struct netaddr back, again;
    if (!netaddr_parse(text, strlen(text), &back) || !same(&back, client))
        abort();
    if (netmask_list_contains(l, client))
        return; /* every entry was trusted: the left-most one */
    const char *lone = text;
    if (netmask_xff_client(l, &lone, 1, &again) != XFF_CLIENT || !same(&again, client))
        abort();
    /* what lies left of the client is the client's own say: never looked at */
    const char *more[MAX_LINES + 2] = {"unknown, [garbage", "198.51.100.1"};
    memcpy(more + 2, values, n * sizeof *values);
    if (netmask_xff_client(l, more, n + 2, &again) != XFF_CLIENT || !same(&again, client))
        abort();
    /* a trusted proxy appending its own address changes nothing */
    if (l->n > 0) {
        char proxy[NETADDR_TEXT];
        netaddr_format(&l->items[0].net, proxy);
        memcpy(more, values, n * sizeof *values);
        more[n] = proxy;
        if (netmask_xff_client(l, more, n + 1, &again) != XFF_CLIENT || !same(&again, client))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    const char *values[MAX_LINES];
    size_t n = 0;
    char *nl = strchr(text, '\n');
    if (nl)
        *nl = '\0';
    for (char *p = nl ? nl + 1 : NULL; p && n < MAX_LINES; p = nl ? nl + 1 : NULL) {
        nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        values[n++] = p;
    }
    struct netmask_list l;
    if (netmask_list_parse(text, &l) == 0) {
        check_list(&l);
        struct netaddr client;
        if (netmask_xff_client(&l, values, n, &client) == XFF_CLIENT)
            check_client(&l, values, n, &client);
        netmask_list_free(&l);
    }
    free(text);
    return 0;
}
