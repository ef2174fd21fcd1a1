/* netmask: addresses, CIDR ranges and the X-Forwarded-For walk of
 * PUSHGATE_TRUSTED_PROXIES (base/netmask.h), and the variable's startup check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "netmask.h"

#include <string.h>

static bool addr(const char *s, struct netaddr *a)
{
    return netaddr_parse(s, strlen(s), a);
}

/* The canonical text of s, or "-" when it does not parse. */
static const char *canon(const char *s)
{
    static char out[NETADDR_TEXT];
    struct netaddr a;
    if (!addr(s, &a))
        return "-";
    netaddr_format(&a, out);
    return out;
}

static void addresses(void **state)
{
    (void)state;
    assert_string_equal(canon("192.0.2.1"), "192.0.2.1");
    assert_string_equal(canon("::ffff:192.0.2.1"), "192.0.2.1"); /* a dual-stack socket's peer */
    assert_string_equal(canon("2001:DB8:0:0::1"), "2001:db8::1");
    assert_string_equal(canon("::1"), "::1");
    const char *bad[] = {"",         "192.0.2",     "192.0.2.256", "192.0.2.1 ",   " 192.0.2.1",
                         "01.2.3.4", "192.0.2.1:1", "[::1]",       "fe80::1%eth0", "unknown",
                         "_hidden",  "1.2.3.4/32",  "::1::2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_string_equal(canon(bad[i]), "-");
    struct netaddr a;
    assert_false(netaddr_parse("1.2.3.4\0", 8, &a)); /* an embedded NUL is not text */
    assert_true(netaddr_parse("1.2.3.45", 7, &a));   /* exactly len bytes */
    assert_string_equal(canon("1.2.3.4"), "1.2.3.4");
}

static bool in(const char *mask, const char *a)
{
    struct netmask m;
    struct netaddr x;
    assert_true(netmask_parse(mask, strlen(mask), &m));
    assert_true(addr(a, &x));
    return netmask_contains(&m, &x);
}

static bool mask_ok(const char *s)
{
    struct netmask m;
    return netmask_parse(s, strlen(s), &m);
}

static void ranges(void **state)
{
    (void)state;
    assert_true(in("10.0.0.0/8", "10.255.1.2"));
    assert_false(in("10.0.0.0/8", "11.0.0.0"));
    assert_true(in("10.0.0.0/8", "::ffff:10.1.2.3")); /* IPv4 on a dual-stack socket */
    assert_true(in("192.0.2.128/25", "192.0.2.200"));
    assert_false(in("192.0.2.128/25", "192.0.2.127"));
    assert_true(in("192.0.2.7", "192.0.2.7")); /* a host */
    assert_false(in("192.0.2.7", "192.0.2.8"));
    assert_true(in("0.0.0.0/0", "203.0.113.9"));
    assert_false(in("0.0.0.0/0", "2001:db8::1")); /* every IPv4 address, no IPv6 one */
    assert_true(in("::/0", "2001:db8::1"));
    assert_true(in("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(in("2001:db8::/32", "2001:db9::1"));
    assert_true(in("fc00::/7", "fdff::1"));
    assert_false(in("fc00::/7", "fe00::1"));
    assert_false(mask_ok("fd00::/7")); /* fd = 1111 1101: bit 8 is beyond the prefix */
    assert_true(in("::1", "::1"));
    assert_false(in("::1", "127.0.0.1"));
    assert_true(in("::ffff:10.0.0.0/104", "10.9.9.9")); /* the mapped form, spelled out */
    assert_true(mask_ok("192.0.2.0/32") && mask_ok("2001:db8::1/128"));
    const char *bad[] = {"10.0.0.1/8",  "10.0.0.0/33", "2001:db8::/129", "10.0.0.0/",
                         "10.0.0.0/+8", "10.0.0.0/08", "10.0.0.0/8/8",   "/8",
                         "10.0.0.0 /8", "10.0.0.0/ 8", "2001:db8::1/64", "localhost"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(mask_ok(bad[i]));
}

static void lists(void **state)
{
    (void)state;
    struct netmask_list l;
    assert_int_equal(netmask_list_parse("127.0.0.1, 10.0.0.0/8,\t::1 ,2001:db8::/32", &l), 0);
    assert_int_equal(l.n, 4);
    struct netaddr a;
    assert_true(addr("2001:db8::5", &a) && netmask_list_contains(&l, &a));
    assert_true(addr("10.1.1.1", &a) && netmask_list_contains(&l, &a));
    assert_false(addr("127.0.0.2", &a) && netmask_list_contains(&l, &a));
    netmask_list_free(&l);
    assert_int_equal(netmask_list_parse("127.0.0.1,,::1", &l), 2); /* an empty entry */
    assert_null(l.items);
    assert_int_equal(l.n, 0);
    assert_int_equal(netmask_list_parse("127.0.0.1,::1,10.0.0.1/8", &l), 3);
    assert_int_equal(netmask_list_parse("127.0.0.1,", &l), 2);
    assert_int_equal(netmask_list_parse(" ", &l), 1);
    assert_int_equal(netmask_list_parse("proxy.example.com", &l), 1); /* no name lookups */
    netmask_list_free(&l);                                            /* twice: harmless */
}

/* The client named by values behind trusted; "peer" for XFF_NONE, "malformed". */
static const char *walk(const char *trusted, const char *const *values, size_t n)
{
    static char out[NETADDR_TEXT];
    struct netmask_list l;
    assert_int_equal(netmask_list_parse(trusted, &l), 0);
    struct netaddr a;
    enum netmask_xff got = netmask_xff_client(&l, values, n, &a);
    netmask_list_free(&l);
    if (got == XFF_NONE)
        return "peer";
    if (got == XFF_MALFORMED)
        return "malformed";
    netaddr_format(&a, out);
    return out;
}

static const char *walk1(const char *trusted, const char *value)
{
    return walk(trusted, &value, 1);
}

static void forwarded_for(void **state)
{
    (void)state;
    const char *t = "127.0.0.1, 10.0.0.0/8";
    /* what the trusted proxy appended is the client... */
    assert_string_equal(walk1(t, "203.0.113.9"), "203.0.113.9");
    /* ...and what that client claimed, left of it, is not looked at */
    assert_string_equal(walk1(t, "198.51.100.1, 203.0.113.9"), "203.0.113.9");
    assert_string_equal(walk1(t, "garbage, 203.0.113.9"), "203.0.113.9");
    /* a chain of trusted proxies is walked through */
    assert_string_equal(walk1(t, "198.51.100.1, 203.0.113.9, 10.1.1.1, 10.2.2.2"), "203.0.113.9");
    /* every entry trusted: the left-most is the client (a request from inside) */
    assert_string_equal(walk1(t, "10.3.3.3, 127.0.0.1"), "10.3.3.3");
    /* the forms proxies write: ports, brackets, spaces, tabs, mapped IPv4 */
    assert_string_equal(walk1(t, " 203.0.113.9:51234 "), "203.0.113.9");
    assert_string_equal(walk1(t, "[2001:db8::9]:443"), "2001:db8::9");
    assert_string_equal(walk1(t, "[2001:DB8::9]"), "2001:db8::9");
    assert_string_equal(walk1(t, "2001:db8::9,\t10.0.0.1"), "2001:db8::9");
    assert_string_equal(walk1(t, "::ffff:203.0.113.9"), "203.0.113.9");
    /* malformed where the walk reaches it: the caller uses the peer */
    const char *bad[] = {"",
                         " ",
                         "unknown",
                         "_hidden",
                         "203.0.113.9,",
                         ",",
                         "203.0.113.9:",
                         "203.0.113.9:123456",
                         "[203.0.113.9]",
                         "[::1",
                         "[::1]x",
                         "[::1]:",
                         "203.0.113.9 10.0.0.1",
                         "fe80::1%eth0",
                         "10.0.0.1, unknown",
                         "1.2.3.4:80:90"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_string_equal(walk1(t, bad[i]), "malformed");
    /* several header lines are one list, in order */
    const char *lines[] = {"198.51.100.1", "203.0.113.9, 10.0.0.1", "127.0.0.1"};
    assert_string_equal(walk(t, lines, 3), "203.0.113.9");
    const char *trusted_lines[] = {"198.51.100.1", "10.0.0.1"};
    assert_string_equal(walk(t, trusted_lines, 2), "198.51.100.1");
    assert_string_equal(walk(t, NULL, 0), "peer");
}

static const char *lookup(const char *name, void *ctx)
{
    const char *const *kv = ctx;
    for (; kv[0]; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

/* A bad value stops the start naming the variable and the entry, never the text. */
static void config_variable(void **state)
{
    (void)state;
    const char *ok[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", "PUSHGATE_TRUSTED_PROXIES",
                        "127.0.0.1, ::1, 10.0.0.0/8", NULL};
    struct config c;
    char err[256] = "";
    assert_int_equal(config_load(&c, lookup, (void *)ok, err, sizeof err), 0);
    assert_string_equal(c.trusted_proxies, "127.0.0.1, ::1, 10.0.0.0/8");
    config_free(&c);
    const char *unset[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", NULL};
    assert_int_equal(config_load(&c, lookup, (void *)unset, err, sizeof err), 0);
    assert_null(c.trusted_proxies);
    config_free(&c);
    const char *bad[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", "PUSHGATE_TRUSTED_PROXIES",
                         "127.0.0.1, secret-host.example", NULL};
    assert_int_equal(config_load(&c, lookup, (void *)bad, err, sizeof err), -1);
    assert_non_null(strstr(err, "PUSHGATE_TRUSTED_PROXIES"));
    assert_non_null(strstr(err, "entry 2"));
    assert_null(strstr(err, "secret-host"));
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addresses),     cmocka_unit_test(ranges),          cmocka_unit_test(lists),
        cmocka_unit_test(forwarded_for), cmocka_unit_test(config_variable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
