/* Unit tests for protocol/token: random ids and secrets, SHA-256 hex, constant-time equal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "protocol/b64url.h"
#include "protocol/token.h"

static void test_random_b64_length_and_alphabet(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(token_random_b64(out, sizeof(out), 32), 0);
    assert_int_equal(strlen(out), 43); /* 256 bits: the registration link token size */
    assert_int_equal(
        strspn(out, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
    unsigned char *raw = NULL;
    size_t n = 0;
    assert_int_equal(b64url_decode(out, strlen(out), &raw, &n), 0);
    assert_int_equal(n, 32);
    free(raw);
}

static void test_random_b64_distinct(void **state)
{
    (void)state;
    char a[32], b[32];
    assert_int_equal(token_random_b64(a, sizeof(a), 16), 0);
    assert_int_equal(token_random_b64(b, sizeof(b), 16), 0);
    assert_int_equal(strlen(a), 22);
    assert_string_not_equal(a, b);
}

static void test_random_b64_rejects_bad_sizes(void **state)
{
    (void)state;
    char out[23];
    assert_int_equal(token_random_b64(out, 22, 16), -1); /* needs 22 + NUL */
    assert_string_equal(out, "");
    assert_int_equal(token_random_b64(out, 23, 16), 0);
    assert_int_equal(token_random_b64(out, sizeof(out), 0), -1);
    char big[512];
    assert_int_equal(token_random_b64(big, sizeof(big), TOKEN_MAX_BYTES + 1), -1);
}

static void test_new_id(void **state)
{
    (void)state;
    char *id = token_new_id("q_", 12);
    assert_non_null(id);
    assert_int_equal(strlen(id), 18);
    assert_memory_equal(id, "q_", 2);
    assert_true(token_is_valid_id(id));
    char *id2 = token_new_id("q_", 12);
    assert_string_not_equal(id, id2);
    free(id);
    free(id2);
    id = token_new_id(NULL, 6);
    assert_non_null(id);
    assert_int_equal(strlen(id), 8);
    free(id);
}

static void test_new_id_rejects_out_of_syntax(void **state)
{
    (void)state;
    assert_null(token_new_id(NULL, 3));    /* 4 chars < 8 */
    assert_null(token_new_id("r_", 48));   /* 2 + 64 chars > 64 */
    assert_null(token_new_id("bad!", 12)); /* prefix outside the id alphabet */
    assert_null(token_new_id("q_", 0));
    char *id = token_new_id("r_", 46); /* 2 + 62 = 64: the maximum */
    assert_non_null(id);
    assert_int_equal(strlen(id), 64);
    free(id);
}

static void test_is_valid_id(void **state)
{
    (void)state;
    assert_true(token_is_valid_id("abcdefgh"));
    assert_true(token_is_valid_id("a_b-C9xyZ"));
    assert_false(token_is_valid_id("abcdefg"));
    assert_false(token_is_valid_id("abcd efgh"));
    assert_false(token_is_valid_id("abcd/efgh"));
    assert_false(token_is_valid_id("abcdefgh\xc3\xa9"));
    assert_false(token_is_valid_id(""));
    assert_false(token_is_valid_id(NULL));
    char s[66];
    memset(s, 'a', 65);
    s[65] = '\0';
    assert_false(token_is_valid_id(s));
    s[64] = '\0';
    assert_true(token_is_valid_id(s));
}

static void test_sha256_hex(void **state)
{
    (void)state;
    char out[65];
    /* FIPS 180-2 example and the empty string. */
    token_sha256_hex("abc", out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    token_sha256_hex("", out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_ct_equal(void **state)
{
    (void)state;
    assert_int_equal(token_ct_equal("abcdef", "abcdef", 6), 1);
    assert_int_equal(token_ct_equal("abcdef", "abcdeF", 6), 0);
    assert_int_equal(token_ct_equal("Xbcdef", "abcdef", 6), 0);
    assert_int_equal(token_ct_equal("a", "b", 0), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_b64_length_and_alphabet),
        cmocka_unit_test(test_random_b64_distinct),
        cmocka_unit_test(test_random_b64_rejects_bad_sizes),
        cmocka_unit_test(test_new_id),
        cmocka_unit_test(test_new_id_rejects_out_of_syntax),
        cmocka_unit_test(test_is_valid_id),
        cmocka_unit_test(test_sha256_hex),
        cmocka_unit_test(test_ct_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
