/* httpdate: the Date header's text, against the C library's strftime. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "httpdate.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* strftime in the C locale (the test never calls setlocale). */
static void reference(time_t t, char *out, size_t n)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void rfc_example(void **state)
{
    (void)state;
    char out[HTTPDATE_LEN + 1];
    assert_string_equal(httpdate_format(784111777, out), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_string_equal(httpdate_format(0, out), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_int_equal(strlen(out), HTTPDATE_LEN);
}

static void matches_strftime(void **state)
{
    (void)state;
    char got[HTTPDATE_LEN + 1], want[64];
    srand(7);
    /* every day boundary of a leap year, then random instants up to 9999-12-31 */
    for (time_t t = 951782400 - 86400; t < 951782400 + 366 * 86400; t += 86399) {
        reference(t, want, sizeof want);
        assert_string_equal(httpdate_format(t, got), want);
    }
    for (int i = 0; i < 20000; i++) {
        time_t t =
            (time_t)(((unsigned long long)rand() << 31 | (unsigned)rand()) % 253402300800ULL);
        reference(t, want, sizeof want);
        assert_string_equal(httpdate_format(t, got), want);
    }
}

static void clamps_the_year(void **state)
{
    (void)state;
    char out[HTTPDATE_LEN + 1];
    httpdate_format(253402300800, out); /* 10000-01-01 */
    assert_int_equal(strlen(out), HTTPDATE_LEN);
    assert_memory_equal(out + 12, "9999", 4);
    httpdate_format(-62167219201, out); /* 31 Dec of year -1 */
    assert_memory_equal(out + 12, "0000", 4);
}

static void cache_follows_the_second(void **state)
{
    (void)state;
    char a[HTTPDATE_LEN + 1];
    strcpy(a, httpdate_cached(784111777));
    assert_string_equal(a, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_string_equal(httpdate_cached(784111777), a);
    assert_string_equal(httpdate_cached(784111778), "Sun, 06 Nov 1994 08:49:38 GMT");
    assert_string_equal(httpdate_cached(784111777), a); /* going back formats again */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc_example),
        cmocka_unit_test(matches_strftime),
        cmocka_unit_test(clamps_the_year),
        cmocka_unit_test(cache_follows_the_second),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
