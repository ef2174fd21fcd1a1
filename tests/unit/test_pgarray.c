/* pgarray: PostgreSQL's text[] output form, quoting and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pgarray.h"

static void plain_elements(void **state)
{
    (void)state;
    struct pgarray a;
    assert_int_equal(pgarray_parse("{d_abc,d_def}", &a), 0);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.items[0], "d_abc");
    assert_string_equal(a.items[1], "d_def");
    pgarray_free(&a);
    assert_int_equal(pgarray_parse("{x}", &a), 0);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.items[0], "x");
    pgarray_free(&a);
    assert_int_equal(pgarray_parse("{}", &a), 0);
    assert_int_equal(a.n, 0);
    pgarray_free(&a);
}

static void quoted_elements(void **state)
{
    (void)state;
    struct pgarray a;
    assert_int_equal(pgarray_parse("{\"a,b\",\"\",\"NULL\",\"q\\\"\\\\x\",\"{ }\"}", &a), 0);
    assert_int_equal(a.n, 5);
    assert_string_equal(a.items[0], "a,b");
    assert_string_equal(a.items[1], "");
    assert_string_equal(a.items[2], "NULL");
    assert_string_equal(a.items[3], "q\"\\x");
    assert_string_equal(a.items[4], "{ }");
    pgarray_free(&a);
}

static void refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        NULL,    "",      "a,b",    "{a,NULL}",    "{a,}",  "{,a}", "{a",       "{a}x",
        "{{a}}", "{\"a}", "{a\"b}", "[0:1]={a,b}", "{a b}", "{a}}", "{\"a\"b}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct pgarray a = {(char **)1, 9};
        assert_int_equal(pgarray_parse(bad[i], &a), -1);
        assert_null(a.items);
        assert_int_equal(a.n, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_elements),
        cmocka_unit_test(quoted_elements),
        cmocka_unit_test(refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
