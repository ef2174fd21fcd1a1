/* Unit tests for protocol/b64url: RFC 4648 vectors, round trips, every rejection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "protocol/b64url.h"

struct vector {
    const char *raw;
    const char *enc;
};

/* RFC 4648 section 10, with the padding removed (base64url, RFC 7515 appendix C). */
static const struct vector rfc4648[] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static void test_rfc4648_encode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        char *enc = b64url_encode((const unsigned char *)rfc4648[i].raw, strlen(rfc4648[i].raw));
        assert_non_null(enc);
        assert_string_equal(enc, rfc4648[i].enc);
        assert_int_equal(strlen(enc), b64url_encoded_len(strlen(rfc4648[i].raw)));
        free(enc);
    }
}

static void test_rfc4648_decode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
        unsigned char *out = NULL;
        size_t n = 99;
        assert_int_equal(b64url_decode(rfc4648[i].enc, strlen(rfc4648[i].enc), &out, &n), 0);
        assert_non_null(out);
        assert_int_equal(n, strlen(rfc4648[i].raw));
        assert_memory_equal(out, rfc4648[i].raw, n);
        assert_int_equal(out[n], '\0'); /* documented convenience terminator */
        free(out);
    }
}

/* The two characters where base64url differs from base64: '-' for '+', '_' for '/'. */
static void test_url_alphabet(void **state)
{
    (void)state;
    const unsigned char raw[] = {0xfb, 0xff, 0xbf};
    char *enc = b64url_encode(raw, sizeof(raw));
    assert_string_equal(enc, "-_-_");
    unsigned char *out = NULL;
    size_t n = 0;
    assert_int_equal(b64url_decode(enc, strlen(enc), &out, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, raw, 3);
    free(out);
    free(enc);
}

static void test_round_trip_all_lengths(void **state)
{
    (void)state;
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 37 + 11);
    for (size_t len = 0; len <= sizeof(buf); len++) {
        char *enc = b64url_encode(buf, len);
        assert_non_null(enc);
        assert_null(strchr(enc, '='));
        unsigned char *out = NULL;
        size_t n = 0;
        assert_int_equal(b64url_decode(enc, strlen(enc), &out, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(out, buf, len);
        free(out);
        free(enc);
    }
}

static void test_encode_to_buffer_size(void **state)
{
    (void)state;
    char out[5];
    memset(out, 'x', sizeof(out));
    assert_int_equal(b64url_encode_to((const unsigned char *)"foo", 3, out, 4), -1);
    assert_int_equal(out[0], 'x'); /* untouched on failure */
    assert_int_equal(b64url_encode_to((const unsigned char *)"foo", 3, out, 5), 0);
    assert_string_equal(out, "Zm9v");
}

static void expect_reject(const char *in, size_t n)
{
    unsigned char *out = (unsigned char *)"sentinel";
    size_t outlen = 77;
    assert_int_equal(b64url_decode(in, n, &out, &outlen), -1);
    assert_null(out);
    assert_int_equal(outlen, 0);
}

static void test_reject_padding(void **state)
{
    (void)state;
    expect_reject("Zg==", 4);
    expect_reject("Zg=", 3);
    expect_reject("Zm8=", 4);
    expect_reject("Zm9vYg==", 8);
    expect_reject("=", 1);
    expect_reject("====", 4);
}

static void test_reject_non_alphabet(void **state)
{
    (void)state;
    expect_reject("Zm9+", 4); /* standard base64, not url */
    expect_reject("Zm9/", 4);
    expect_reject("Zm 9v", 5);
    expect_reject("Zm9v\n", 5);
    expect_reject("Zm9.", 4);
    expect_reject("Zm\0v", 4); /* embedded NUL inside the given length */
    expect_reject("Zm\xc3\xa9", 4);
    expect_reject("\xff\xff\xff\xff", 4);
}

static void test_reject_length_mod4_is_1(void **state)
{
    (void)state;
    expect_reject("Z", 1);
    expect_reject("Zm9vY", 5);
    expect_reject("Zm9vYmFyZ", 9);
}

/* "f" is "Zg"; "Zh".."Zv" carry non-zero bits that do not fit in a byte. Accepting them
 * would make one byte string have many encodings. */
static void test_reject_noncanonical_trailing_bits(void **state)
{
    (void)state;
    expect_reject("Zh", 2);
    expect_reject("Zv", 2);
    expect_reject("Zm9", 3); /* canonical is "Zm8" */
    expect_reject("Zm9vYh", 6);
    expect_reject("Zm9vYmF", 7); /* canonical is "Zm9vYmE" */
}

static void test_empty_input(void **state)
{
    (void)state;
    unsigned char *out = NULL;
    size_t n = 5;
    assert_int_equal(b64url_decode("", 0, &out, &n), 0);
    assert_non_null(out);
    assert_int_equal(n, 0);
    assert_int_equal(out[0], '\0');
    free(out);
    char *enc = b64url_encode(NULL, 0);
    assert_string_equal(enc, "");
    free(enc);
}

/* The length argument is authoritative: bytes beyond n are never read. */
static void test_decode_respects_length(void **state)
{
    (void)state;
    unsigned char *out = NULL;
    size_t n = 0;
    assert_int_equal(b64url_decode("Zm9v!!!!", 4, &out, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "foo", 3);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_encode),
        cmocka_unit_test(test_rfc4648_decode),
        cmocka_unit_test(test_url_alphabet),
        cmocka_unit_test(test_round_trip_all_lengths),
        cmocka_unit_test(test_encode_to_buffer_size),
        cmocka_unit_test(test_reject_padding),
        cmocka_unit_test(test_reject_non_alphabet),
        cmocka_unit_test(test_reject_length_mod4_is_1),
        cmocka_unit_test(test_reject_noncanonical_trailing_bits),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_decode_respects_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
