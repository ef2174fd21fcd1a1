/* netmask: IP addresses and CIDR ranges (IPv4 and IPv6) as text, and the
 * X-Forwarded-For rule of PUSHGATE_TRUSTED_PROXIES (api.md 10, docs/http.md).
 *
 * An IPv4 address is kept as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), and an
 * IPv4 range a.b.c.d/n as ::ffff:a.b.c.d/(96+n): "10.0.0.0/8" also matches a
 * dual-stack socket's "::ffff:10.1.2.3", and one comparison serves both families.
 * Pure functions on the caller's memory (netmask_list_parse allocates the list);
 * no name resolution, no I/O. */
#ifndef PUSHGATE_NETMASK_H
#define PUSHGATE_NETMASK_H

#include <stdbool.h>
#include <stddef.h>

/* Longest text netaddr_format writes, with its NUL (INET6_ADDRSTRLEN). */
#define NETADDR_TEXT 46

struct netaddr {
    unsigned char b[16];
};

struct netmask {
    struct netaddr net; /* host bits zero */
    unsigned bits;      /* prefix length, 0..128 (an IPv4 range: 96 + its own) */
};

struct netmask_list {
    struct netmask *items;
    size_t n;
};

/* A numeric address, "192.0.2.1" or "2001:db8::1" (no brackets, port or zone),
 * of exactly len bytes. False for anything else. */
bool netaddr_parse(const char *s, size_t len, struct netaddr *out);
/* Canonical text: dotted IPv4 for an IPv4(-mapped) address, RFC 5952 IPv6 else. */
void netaddr_format(const struct netaddr *a, char out[NETADDR_TEXT]);

/* "addr" (a single host) or "addr/bits", of exactly len bytes. A range whose
 * address has bits set beyond its prefix ("10.0.0.1/8") is refused: it is a typo
 * for the network or for the host, and guessing would trust the wrong one. */
bool netmask_parse(const char *s, size_t len, struct netmask *out);
bool netmask_contains(const struct netmask *m, const struct netaddr *a);

/* Comma-separated netmask_parse entries, each with optional spaces or tabs
 * around it. Returns 0 and fills out (free it with netmask_list_free), or the
 * 1-based position of the first bad (or empty) entry and leaves out empty. */
size_t netmask_list_parse(const char *text, struct netmask_list *out);
bool netmask_list_contains(const struct netmask_list *l, const struct netaddr *a);
void netmask_list_free(struct netmask_list *l);

enum netmask_xff {
    XFF_NONE,      /* no entry: the peer is the client */
    XFF_CLIENT,    /* *client is the client */
    XFF_MALFORMED, /* an entry the walk reached is not an address: use the peer */
};

/* The client behind a trusted proxy: values are the request's X-Forwarded-For
 * header values in the order they came (several lines are one list, RFC 9110
 * 5.3). The walk starts at the right-most entry -- the one the trusted peer
 * appended -- and skips entries that are themselves trusted: the first one that
 * is not is the client (what lies left of it is whatever that client sent, and
 * is never looked at). When every entry is trusted, the left-most one is.
 * Entries are addresses with optional brackets and port ("192.0.2.1:443",
 * "[2001:db8::1]:443"), as proxies write them; "unknown" and RFC 7239
 * obfuscated names count as malformed. The caller has checked that the peer
 * itself is trusted. */
enum netmask_xff netmask_xff_client(const struct netmask_list *trusted, const char *const *values,
                                    size_t n, struct netaddr *client);

#endif
