/* Unit tests for protocol/base32: RFC 4648 vectors, round trips, rejections. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "protocol/base32.h"

struct vector {
    const char *raw;
    const char *enc;
    const char *padded;
};

/* RFC 4648 section 10. */
static const struct vector rfc4648[] = {
    {"", "", ""},
    {"f", "MY", "MY======"},
    {"fo", "MZXQ", "MZXQ===="},
    {"foo", "MZXW6", "MZXW6==="},
    {"foob", "MZXW6YQ", "MZXW6YQ="},
    {"fooba", "MZXW6YTB", "MZXW6YTB"},
    {"foobar", "MZXW6YTBOI", "MZXW6YTBOI======"},
};

static void expect_decodes(const char *enc, const char *raw)
{
    unsigned char *out = NULL;
    size_t n = 0;
    assert_int_equal(base32_decode(enc, strlen(enc), &out, &n), 0);
    assert_int_equal(n, strlen(raw));
    assert_memory_equal(out, raw, n);
    assert_int_equal(out[n], '\0');
    free(out);
}

static void expect_reject(const char *enc)
{
    unsigned char *out = (unsigned char *)"sentinel";
    size_t n = 3;
    assert_int_equal(base32_decode(enc, strlen(enc), &out, &n), -1);
    assert_null(out);
    assert_int_equal(n, 0);
}

static void test_rfc4648(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        char *enc = base32_encode((const unsigned char *)rfc4648[i].raw, strlen(rfc4648[i].raw));
        assert_string_equal(enc, rfc4648[i].enc);
        free(enc);
        expect_decodes(rfc4648[i].enc, rfc4648[i].raw);
        expect_decodes(rfc4648[i].padded, rfc4648[i].raw);
    }
}

static void test_case_insensitive(void **state)
{
    (void)state;
    expect_decodes("mzxw6ytboi", "foobar");
    expect_decodes("MzXw6YtBoI", "foobar");
    /* The RFC 6238 seed, as authenticator apps show it. */
    expect_decodes("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "12345678901234567890");
}

static void test_round_trip(void **state)
{
    (void)state;
    unsigned char buf[64];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 91 + 7);
    for (size_t len = 0; len <= sizeof(buf); len++) {
        char *enc = base32_encode(buf, len);
        assert_non_null(enc);
        assert_null(strchr(enc, '='));
        assert_int_equal(strlen(enc), (len * 8 + 4) / 5);
        unsigned char *out = NULL;
        size_t n = 0;
        assert_int_equal(base32_decode(enc, strlen(enc), &out, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(out, buf, len);
        free(out);
        free(enc);
    }
    /* A 160-bit TOTP secret is 32 characters without padding. */
    char *enc = base32_encode(buf, 20);
    assert_int_equal(strlen(enc), 32);
    free(enc);
}

static void test_rejects(void **state)
{
    (void)state;
    expect_reject("M"); /* impossible lengths */
    expect_reject("MZX");
    expect_reject("MZXW6Y");
    expect_reject("MZXW6YTBO");
    expect_reject("MZ XQ"); /* whitespace */
    expect_reject("MZXQ-");
    expect_reject("MZXW1"); /* 0, 1, 8, 9 are not in the alphabet */
    expect_reject("MZXW8");
    expect_reject("MZ=XQ==="); /* padding inside */
    expect_reject("MY=");      /* padded but not a multiple of 8 */
    expect_reject("MY=====");
    expect_reject("========"); /* 8 pad characters */
    expect_reject("M=======");
    expect_reject("MZ");         /* "f" is "MY": non-zero trailing bits */
    expect_reject("MZXR");       /* "fo" is "MZXQ" */
    expect_reject("MZXW6YTBOJ"); /* "foobar" is "...OI" */
    expect_reject("MZ\xc3\xa9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648),
        cmocka_unit_test(test_case_insensitive),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
