/* hkdf: HKDF-SHA256 against the RFC 5869 appendix A test vectors (A.1-A.3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "protocol/hkdf.h"

#include <stdio.h>
#include <string.h>

static size_t unhex(const char *h, unsigned char *out)
{
    size_t n = strlen(h) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
    return n;
}

static void check(const char *ikm_h, const char *salt_h, const char *info_h, const char *okm_h)
{
    unsigned char ikm[128], salt[128], info[128], okm[128], got[128];
    size_t ni = unhex(ikm_h, ikm), ns = unhex(salt_h, salt), nf = unhex(info_h, info);
    size_t no = unhex(okm_h, okm);
    assert_int_equal(hkdf_sha256(ikm, ni, ns ? salt : NULL, ns, info, nf, got, no), 0);
    assert_memory_equal(got, okm, no);
}

static void rfc5869_a1_basic(void **state)
{
    (void)state;
    check("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
          "f0f1f2f3f4f5f6f7f8f9",
          "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

static void rfc5869_a2_long_inputs(void **state)
{
    (void)state;
    check("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
          "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
          "404142434445464748494a4b4c4d4e4f",
          "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
          "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
          "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
          "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
          "d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
          "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
          "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
          "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
          "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

/* No salt, no info: the defaults of RFC 5869 section 2.2. */
static void rfc5869_a3_empty_salt_info(void **state)
{
    (void)state;
    check("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
          "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

static void too_long_output_fails(void **state)
{
    (void)state;
    unsigned char ikm[32] = {1}, out[255 * 32 + 1];
    assert_int_equal(hkdf_sha256(ikm, sizeof ikm, NULL, 0, NULL, 0, out, sizeof out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc5869_a1_basic),
        cmocka_unit_test(rfc5869_a2_long_inputs),
        cmocka_unit_test(rfc5869_a3_empty_salt_info),
        cmocka_unit_test(too_long_output_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
