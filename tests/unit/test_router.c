/* router: the route table's matching, captures, 404 vs 405 and Allow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "h_link.h"
#include "h_users.h"
#include "routes.h"

#include <stdlib.h>
#include <string.h>

static void free_params(char *p[ROUTER_MAX_PARAMS])
{
    for (int i = 0; i < ROUTER_MAX_PARAMS; i++)
        free(p[i]);
}

static void matches_with_captures(void **state)
{
    (void)state;
    char *p[ROUTER_MAX_PARAMS] = {0};
    unsigned allow;
    const struct route *rt = router_match(routes, routes_count, EVHTTP_REQ_DELETE,
                                          "/users/al%2Fice%20b/devices/d_1234567", p, &allow);
    assert_non_null(rt);
    assert_ptr_equal(rt->handler, h_user_device_revoke);
    /* matched on raw segments: an encoded '/' belongs to the username */
    assert_string_equal(p[0], "al/ice b");
    free_params(p);
    memset(p, 0, sizeof p);
    assert_null(
        router_match(routes, routes_count, EVHTTP_REQ_GET, "/users/a%00b/devices", p, &allow));
    memset(p, 0, sizeof p);
    rt = router_match(routes, routes_count, EVHTTP_REQ_DELETE, "/users/alice%20b/devices/d_1234567",
                      p, &allow);
    assert_non_null(rt);
    assert_string_equal(p[0], "alice b");
    assert_string_equal(p[1], "d_1234567");
    free_params(p);
}

static void not_found_and_not_allowed(void **state)
{
    (void)state;
    char *p[ROUTER_MAX_PARAMS] = {0};
    unsigned allow = 99;
    assert_null(router_match(routes, routes_count, EVHTTP_REQ_GET, "/nope", p, &allow));
    assert_int_equal(allow, 0);
    assert_null(router_match(routes, routes_count, EVHTTP_REQ_GET, "/registration/", p, &allow));
    assert_null(router_match(routes, routes_count, EVHTTP_REQ_PUT, "/registration", p, &allow));
    assert_int_equal(allow, EVHTTP_REQ_POST);
    assert_null(router_match(routes, routes_count, EVHTTP_REQ_POST, "/healthz", p, &allow));
    char hdr[64];
    router_allow_header(allow, hdr, sizeof hdr);
    assert_string_equal(hdr, "GET, HEAD");
    assert_null(
        router_match(routes, routes_count, EVHTTP_REQ_PUT, "/registration/r_12345678", p, &allow));
    router_allow_header(allow, hdr, sizeof hdr);
    assert_string_equal(hdr, "GET, HEAD, DELETE");
}

static void head_is_get(void **state)
{
    (void)state;
    char *p[ROUTER_MAX_PARAMS] = {0};
    unsigned allow;
    const struct route *rt =
        router_match(routes, routes_count, EVHTTP_REQ_HEAD, "/r/abc", p, &allow);
    assert_non_null(rt);
    assert_ptr_equal(rt->handler, h_link_get);
    free_params(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_with_captures),
        cmocka_unit_test(not_found_and_not_allowed),
        cmocka_unit_test(head_is_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
