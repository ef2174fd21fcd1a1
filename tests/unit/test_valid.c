/* valid: the field rules of api.md 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "valid.h"

#include <stdlib.h>
#include <string.h>

static void usernames(void **state)
{
    (void)state;
    char long_name[130];
    memset(long_name, 'a', 129);
    long_name[129] = '\0';
    assert_true(valid_username("alice"));
    assert_true(valid_username("al/ice b@x"));
    assert_true(valid_username("\xc3\xa9lodie")); /* UTF-8 */
    assert_false(valid_username(""));
    assert_false(valid_username("a\tb"));
    assert_false(valid_username("a\x7f"));
    assert_false(valid_username("al\xc2\x85ice")); /* U+0085 NEL, a C1 control */
    assert_false(valid_username("\xc2\x80"));
    assert_false(valid_username("a\xc2\x9f"));
    assert_true(valid_username("a\xc2\xa0"
                               "b")); /* U+00A0 is not a control */
    assert_true(valid_username("\xc2\xbfqu\xc3\xa9?"));
    assert_false(valid_username(long_name));
    long_name[128] = '\0';
    assert_true(valid_username(long_name));
}

static void ids(void **state)
{
    (void)state;
    assert_true(valid_id("q_622b9583"));
    assert_true(valid_id("r_5ZlQ-x_Y"));
    assert_false(valid_id("short"));
    assert_false(valid_id("has space 12"));
    assert_false(valid_id("q_../../etc"));
    assert_false(valid_id(NULL));
}

/* Characters, not bytes: 256 two-byte characters are fine, 257 are not. */
static void text_counts_code_points(void **state)
{
    (void)state;
    char s[2 * 257 + 1];
    for (int i = 0; i < 257; i++)
        memcpy(s + 2 * i, "\xc3\xa9", 2);
    s[2 * 257] = '\0';
    assert_false(valid_text(s, 256));
    s[2 * 256] = '\0';
    assert_true(valid_text(s, 256));
    assert_false(valid_text("", 10));
    assert_false(valid_text("a\nb", 10));
    assert_false(valid_text("a\xc2\x85"
                            "b",
                            10));
}

static void bytea_hex(void **state)
{
    (void)state;
    char *h = valid_bytea_hex((const unsigned char *)"\x00\xff\x10", 3);
    assert_string_equal(h, "\\x00ff10");
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(usernames),
        cmocka_unit_test(ids),
        cmocka_unit_test(text_counts_code_points),
        cmocka_unit_test(bytea_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
