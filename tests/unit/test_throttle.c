/* throttle: failed credentials per client address (caller/throttle.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "throttle.h"

#include <stdio.h>

/* limit failures block the address until the window that began with its first
 * failure ends; Retry-After is rounded up; other addresses are not affected. */
static void blocks_after_limit(void **state)
{
    (void)state;
    struct throttle *t = throttle_new(3, 60, 100);
    assert_int_equal(throttle_blocked(t, "192.0.2.1", 100.0), 0);
    throttle_fail(t, "192.0.2.1", 100.0);
    throttle_fail(t, "192.0.2.1", 101.0);
    assert_int_equal(throttle_blocked(t, "192.0.2.1", 101.5), 0);
    throttle_fail(t, "192.0.2.1", 102.0);
    assert_int_equal(throttle_blocked(t, "192.0.2.1", 102.0), 58);
    assert_int_equal(throttle_blocked(t, "192.0.2.1", 159.2), 1); /* 0.8 s left: 1 */
    assert_int_equal(throttle_blocked(t, "192.0.2.2", 102.0), 0);
    assert_int_equal(throttle_blocked(t, "192.0.2.1", 160.0), 0); /* the window ended */
    assert_int_equal(throttle_count(t), 0);                       /* ... and was dropped */
    throttle_fail(t, "192.0.2.1", 160.0);                         /* a fresh window: 1 of 3 */
    assert_int_equal(throttle_blocked(t, "192.0.2.1", 160.0), 0);
    throttle_free(t);
}

/* A full map sweeps ended windows; when every window is live, a new address is not
 * counted (memory stays bounded) while the tracked ones stay blocked. */
static void bounded(void **state)
{
    (void)state;
    struct throttle *t = throttle_new(1, 10, 4);
    char key[32];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "10.0.0.%d", i);
        throttle_fail(t, key, 0.0);
    }
    assert_int_equal(throttle_count(t), 4);
    throttle_fail(t, "10.0.1.1", 1.0);
    assert_int_equal(throttle_count(t), 4);
    assert_int_equal(throttle_blocked(t, "10.0.1.1", 1.0), 0);
    assert_int_equal(throttle_blocked(t, "10.0.0.3", 1.0), 9);
    throttle_fail(t, "10.0.1.1", 11.0); /* every window has ended: swept, room again */
    assert_int_equal(throttle_count(t), 1);
    assert_true(throttle_blocked(t, "10.0.1.1", 11.0) > 0);
    throttle_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocks_after_limit),
        cmocka_unit_test(bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
