/* listreq: the RFC 3339 reading of `since` (caller/listreq.h). The query, scope
 * and cursor parts need a request: tests/integration/test_lists.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "listreq.h"

static long long us_of(const char *s)
{
    long long us = -1;
    assert_true(listreq_time(s, &us));
    return us;
}

static void reads_utc_offsets_and_fractions(void **state)
{
    (void)state;
    assert_true(us_of("1970-01-01T00:00:00Z") == 0);
    assert_true(us_of("2026-12-01T10:00:00Z") == 1796119200LL * 1000000);
    assert_true(us_of("2026-12-01t10:00:00z") == 1796119200LL * 1000000);
    assert_true(us_of("2026-12-01T11:30:00+01:30") == 1796119200LL * 1000000);
    assert_true(us_of("2026-12-01T02:00:00-08:00") == 1796119200LL * 1000000);
    assert_true(us_of("2026-12-01T10:00:00.5Z") == 1796119200LL * 1000000 + 500000);
    assert_true(us_of("2026-12-01T10:00:00.123456789Z") == 1796119200LL * 1000000 + 123456);
}

static void refuses_anything_else(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "yesterday",
        "2026-12-01",
        "2026-12-01 10:00:00Z",
        "2026-12-01T10:00:00",
        "2026-13-01T10:00:00Z",
        "2026-12-32T10:00:00Z",
        "2026-12-01T24:00:00Z",
        "2026-12-01T10:60:00Z",
        "2026-12-01T10:00:00.Z",
        "2026-12-01T10:00:00.1234567890Z",
        "2026-12-01T10:00:00+1:00",
        "2026-12-01T10:00:00+01:00x",
        "2026-12-01T10:00:00Zx",
        "+2026-12-01T10:00:00Z",
        "2026-1-01T10:00:00Z",
        " 026-12-01T10:00:00Z",
        "2026-12-01T10:00:-1Z",
        "2026-12-01T10:00:+1Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        long long us;
        if (listreq_time(bad[i], &us))
            fail_msg("accepted %s", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_utc_offsets_and_fractions),
        cmocka_unit_test(refuses_anything_else),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
