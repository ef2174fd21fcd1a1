/* Unit tests for protocol/aead: AES-256-GCM sealing round trips and tamper detection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "protocol/aead.h"

static const unsigned char key1[32] = "0123456789abcdef0123456789abcde";
static const unsigned char key2[32] = "0123456789abcdef0123456789abcdX";
static const char secret[] = "JBSWY3DPEHPK3PXP-totp-seed-bytes";

static void seal(const char *aad, unsigned char **out, size_t *outlen)
{
    assert_int_equal(
        aead_seal(key1, (const unsigned char *)secret, strlen(secret), aad, out, outlen), 0);
}

static void expect_open_fail(const unsigned char *k, const unsigned char *in, size_t inlen,
                             const char *aad)
{
    unsigned char *pt = (unsigned char *)"sentinel";
    size_t ptlen = 5;
    assert_int_equal(aead_open(k, in, inlen, aad, &pt, &ptlen), -1);
    assert_null(pt);
    assert_int_equal(ptlen, 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    unsigned char *ct = NULL, *pt = NULL;
    size_t ctlen = 0, ptlen = 0;
    seal("totp:a_app:alice", &ct, &ctlen);
    assert_int_equal(ctlen, strlen(secret) + AEAD_OVERHEAD);
    assert_int_equal(ct[0], AEAD_VERSION);
    assert_null(memmem(ct, ctlen, secret, 8)); /* not stored in clear */
    assert_int_equal(aead_open(key1, ct, ctlen, "totp:a_app:alice", &pt, &ptlen), 0);
    assert_int_equal(ptlen, strlen(secret));
    assert_memory_equal(pt, secret, ptlen);
    assert_int_equal(pt[ptlen], '\0');
    free(pt);
    free(ct);
}

static void test_empty_plaintext_and_null_aad(void **state)
{
    (void)state;
    unsigned char *ct = NULL, *pt = NULL;
    size_t ctlen = 0, ptlen = 9;
    assert_int_equal(aead_seal(key1, NULL, 0, NULL, &ct, &ctlen), 0);
    assert_int_equal(ctlen, AEAD_OVERHEAD);
    assert_int_equal(aead_open(key1, ct, ctlen, "", &pt, &ptlen), 0); /* NULL == "" */
    assert_int_equal(ptlen, 0);
    free(pt);
    expect_open_fail(key1, ct, ctlen, "x");
    free(ct);
}

static void test_fresh_nonce_each_time(void **state)
{
    (void)state;
    unsigned char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    seal("aad", &a, &alen);
    seal("aad", &b, &blen);
    assert_int_equal(alen, blen);
    assert_memory_not_equal(a + 1, b + 1, AEAD_NONCE_LEN);
    assert_memory_not_equal(a, b, alen);
    free(a);
    free(b);
}

static void test_wrong_key_or_aad(void **state)
{
    (void)state;
    unsigned char *ct = NULL;
    size_t ctlen = 0;
    seal("signing-key:1", &ct, &ctlen);
    expect_open_fail(key2, ct, ctlen, "signing-key:1");
    expect_open_fail(key1, ct, ctlen, "signing-key:2");
    expect_open_fail(key1, ct, ctlen, NULL);
    expect_open_fail(key1, ct, ctlen, "signing-key:1 ");
    free(ct);
}

/* Every single-bit change anywhere (version, nonce, ciphertext, tag) is detected. */
static void test_every_bit_flip_detected(void **state)
{
    (void)state;
    unsigned char *ct = NULL;
    size_t ctlen = 0;
    seal("aad", &ct, &ctlen);
    for (size_t i = 0; i < ctlen; i++) {
        for (int bit = 0; bit < 8; bit++) {
            ct[i] ^= (unsigned char)(1u << bit);
            expect_open_fail(key1, ct, ctlen, "aad");
            ct[i] ^= (unsigned char)(1u << bit);
        }
    }
    unsigned char *pt = NULL;
    size_t ptlen = 0;
    assert_int_equal(aead_open(key1, ct, ctlen, "aad", &pt, &ptlen), 0);
    free(pt);
    free(ct);
}

static void test_truncation_and_extension(void **state)
{
    (void)state;
    unsigned char *ct = NULL;
    size_t ctlen = 0;
    seal("aad", &ct, &ctlen);
    for (size_t n = 0; n < ctlen; n++)
        expect_open_fail(key1, ct, n, "aad");
    unsigned char *longer = malloc(ctlen + 1);
    memcpy(longer, ct, ctlen);
    longer[ctlen] = 0;
    expect_open_fail(key1, longer, ctlen + 1, "aad");
    expect_open_fail(key1, NULL, 0, "aad");
    free(longer);
    free(ct);
}

static void test_seal_rejects_oversize(void **state)
{
    (void)state;
    unsigned char *ct = (unsigned char *)"x";
    size_t ctlen = 3;
    assert_int_equal(
        aead_seal(key1, (const unsigned char *)"", AEAD_MAX_PLAINTEXT + 1, "a", &ct, &ctlen), -1);
    assert_null(ct);
    assert_int_equal(aead_seal(key1, NULL, 5, "a", &ct, &ctlen), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_plaintext_and_null_aad),
        cmocka_unit_test(test_fresh_nonce_each_time),
        cmocka_unit_test(test_wrong_key_or_aad),
        cmocka_unit_test(test_every_bit_flip_detected),
        cmocka_unit_test(test_truncation_and_extension),
        cmocka_unit_test(test_seal_rejects_oversize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
