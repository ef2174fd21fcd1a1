/* Unit tests for protocol/claimtime: the iat/exp window checks are defined for every
 * value a signed payload can carry (a proof with iat = LLONG_MIN used to be undefined
 * behaviour in `llabs(time(NULL) - iat)`; the sanitizer build aborted). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>

#include "protocol/claimtime.h"

#define NOW 1795000000LL

static void test_diff_plain(void **state)
{
    (void)state;
    assert_true(claimtime_diff(NOW, NOW - 60) == 60);
    assert_true(claimtime_diff(NOW, NOW + 60) == -60);
    assert_true(claimtime_diff(0, 0) == 0);
}

static void test_diff_saturates(void **state)
{
    (void)state;
    assert_true(claimtime_diff(NOW, LLONG_MIN) == LLONG_MAX);
    assert_true(claimtime_diff(NOW, -LLONG_MAX) == LLONG_MAX);
    assert_true(claimtime_diff(-NOW, LLONG_MAX) == -LLONG_MAX);
    assert_true(claimtime_diff(LLONG_MIN, 0) == -LLONG_MAX);
    assert_true(claimtime_diff(LLONG_MIN, 1) == -LLONG_MAX);
    assert_true(claimtime_diff(LLONG_MAX, -1) == LLONG_MAX);
}

static void test_within_edges(void **state)
{
    (void)state;
    assert_true(claimtime_within(NOW, NOW, 60));
    assert_true(claimtime_within(NOW, NOW - 60, 60));
    assert_true(claimtime_within(NOW, NOW + 60, 60));
    assert_false(claimtime_within(NOW, NOW - 61, 60));
    assert_false(claimtime_within(NOW, NOW + 61, 60));
    assert_false(claimtime_within(NOW, NOW, -1));
}

static void test_within_extremes(void **state)
{
    (void)state;
    assert_false(claimtime_within(NOW, LLONG_MIN, 60));
    assert_false(claimtime_within(NOW, LLONG_MAX, 60));
    assert_true(claimtime_within(LLONG_MIN, LLONG_MIN, 0));
    assert_true(claimtime_within(LLONG_MAX, LLONG_MAX, 0));
    assert_false(claimtime_within(LLONG_MAX, LLONG_MIN, 300));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_plain),
        cmocka_unit_test(test_diff_saturates),
        cmocka_unit_test(test_within_edges),
        cmocka_unit_test(test_within_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
