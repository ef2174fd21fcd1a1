/* ecdsa_der: byte-for-byte what OpenSSL's i2d_ECDSA_SIG writes, for random scalars and for
 * every shape of leading bytes (zeros stripped, 0x00 added before a high bit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rand.h>

#include "protocol/ecdsa_der.h"

/* OpenSSL's encoding of r||s; returns its length. */
static size_t openssl_der(const unsigned char raw[64], unsigned char *out, size_t outsz)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
    assert_non_null(sig);
    assert_int_equal(ECDSA_SIG_set0(sig, r, s), 1);
    unsigned char *der = NULL;
    int len = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    assert_true(len > 0 && (size_t)len <= outsz);
    memcpy(out, der, (size_t)len);
    OPENSSL_free(der);
    return (size_t)len;
}

static void expect_same(const unsigned char raw[64])
{
    unsigned char ours[ECDSA_DER_MAX], theirs[128];
    size_t n = ecdsa_der_from_raw(raw, ours);
    size_t m = openssl_der(raw, theirs, sizeof theirs);
    assert_int_equal(n, m);
    assert_memory_equal(ours, theirs, n);
}

static void test_random_scalars(void **state)
{
    (void)state;
    unsigned char raw[64];
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(RAND_bytes(raw, sizeof raw), 1);
        raw[0] |= 1; /* non-zero */
        raw[32] |= 1;
        expect_same(raw);
    }
}

/* Every number of leading zero bytes, each followed by a byte with and without its high
 * bit, in r and in s. */
static void test_leading_bytes(void **state)
{
    (void)state;
    static const unsigned char firsts[] = {0x01, 0x7f, 0x80, 0xff};
    for (int zeros = 0; zeros < 32; zeros++) {
        for (size_t f = 0; f < sizeof firsts; f++) {
            unsigned char raw[64];
            memset(raw, 0xa5, sizeof raw);
            memset(raw, 0, (size_t)zeros);
            raw[zeros] = firsts[f];
            expect_same(raw); /* shaped r */
            unsigned char swapped[64];
            memcpy(swapped, raw + 32, 32);
            memcpy(swapped + 32, raw, 32);
            expect_same(swapped); /* shaped s */
        }
    }
}

static void test_longest_and_shortest(void **state)
{
    (void)state;
    unsigned char raw[64];
    memset(raw, 0xff, sizeof raw); /* both need the 0x00: the longest encoding */
    unsigned char out[ECDSA_DER_MAX];
    assert_int_equal(ecdsa_der_from_raw(raw, out), ECDSA_DER_MAX);
    expect_same(raw);
    memset(raw, 0, sizeof raw);
    raw[31] = 1;
    raw[63] = 1; /* r = s = 1: 30 06 02 01 01 02 01 01 */
    static const unsigned char one_one[] = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01};
    assert_int_equal(ecdsa_der_from_raw(raw, out), sizeof one_one);
    assert_memory_equal(out, one_one, sizeof one_one);
}

static void test_zero_is_refused(void **state)
{
    (void)state;
    unsigned char raw[64] = {0}, out[ECDSA_DER_MAX];
    raw[63] = 1; /* r = 0 */
    assert_int_equal(ecdsa_der_from_raw(raw, out), 0);
    memset(raw, 0, sizeof raw);
    raw[31] = 1; /* s = 0 */
    assert_int_equal(ecdsa_der_from_raw(raw, out), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_scalars),
        cmocka_unit_test(test_leading_bytes),
        cmocka_unit_test(test_longest_and_shortest),
        cmocka_unit_test(test_zero_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
