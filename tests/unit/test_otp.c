/* Unit tests for protocol/otp: RFC 4226 and RFC 6238 vectors, random codes, backup
 * codes and their hash, destination masking, E.164 syntax. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "protocol/otp.h"

static const unsigned char rfc_seed[] = "12345678901234567890"; /* 20 bytes, both RFCs */

/* RFC 4226 appendix D. */
static void test_hotp_rfc4226(void **state)
{
    (void)state;
    static const char *expect[] = {"755224", "287082", "359152", "969429", "338314",
                                   "254676", "287922", "162583", "399871", "520489"};
    char out[9];
    for (uint64_t c = 0; c < 10; c++) {
        assert_int_equal(otp_hotp(rfc_seed, 20, c, 6, out), 0);
        assert_string_equal(out, expect[c]);
    }
}

/* RFC 6238 appendix B, SHA-1 rows (8 digits), including the 2^31 and 2^32 boundaries. */
static void test_totp_rfc6238(void **state)
{
    (void)state;
    static const struct {
        int64_t t;
        const char *code;
    } rows[] = {
        {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
        {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000LL, "65353130"},
    };
    char out[9];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(otp_totp_at(rfc_seed, 20, rows[i].t, OTP_TOTP_STEP, 8, out), 0);
        assert_string_equal(out, rows[i].code);
    }
    /* 6 digits is the last 6 of the 8 (same truncated value mod 10^6). */
    assert_int_equal(otp_totp_at(rfc_seed, 20, 59, OTP_TOTP_STEP, 6, out), 0);
    assert_string_equal(out, "287082");
    /* Same step, same code; next step, different code. */
    char a[7], b[7];
    otp_totp_at(rfc_seed, 20, 1111111110, 30, 6, a);
    otp_totp_at(rfc_seed, 20, 1111111119, 30, 6, b);
    assert_string_equal(a, b);
    otp_totp_at(rfc_seed, 20, 1111111140, 30, 6, b);
    assert_string_not_equal(a, b);
}

static void test_otp_bad_args(void **state)
{
    (void)state;
    char out[10] = "junk";
    assert_int_equal(otp_hotp(rfc_seed, 20, 0, 5, out), -1);
    assert_string_equal(out, "");
    assert_int_equal(otp_hotp(rfc_seed, 20, 0, 9, out), -1);
    assert_int_equal(otp_hotp(NULL, 20, 0, 6, out), -1);
    assert_int_equal(otp_totp_at(rfc_seed, 20, -1, 30, 6, out), -1);
    assert_int_equal(otp_totp_at(rfc_seed, 20, 59, 0, 6, out), -1);
    assert_int_equal(otp_hotp(rfc_seed, 20, 0, 6, NULL), -1);
}

static void test_random_digits(void **state)
{
    (void)state;
    char out[65];
    int counts[10] = {0};
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(otp_random_digits(out, 6), 0);
        assert_int_equal(strlen(out), 6);
        for (int k = 0; k < 6; k++) {
            assert_true(out[k] >= '0' && out[k] <= '9');
            counts[out[k] - '0']++;
        }
    }
    /* 12000 draws, 1200 expected per digit; +-300 is > 9 sigma. */
    for (int d = 0; d < 10; d++)
        assert_true(counts[d] > 900 && counts[d] < 1500);
    assert_int_equal(otp_random_digits(out, 3), 0);
    assert_int_equal(strlen(out), 3);
    assert_int_equal(otp_random_digits(out, 64), 0);
    assert_int_equal(strlen(out), 64);
    assert_int_equal(otp_random_digits(out, 0), -1);
    assert_int_equal(otp_random_digits(out, 65), -1);
}

static void test_backup_code_new(void **state)
{
    (void)state;
    char code[12], again[12], norm[11];
    assert_int_equal(otp_backup_code_new(code), 0);
    assert_int_equal(strlen(code), OTP_BACKUP_CODE_LEN);
    assert_int_equal(code[5], '-');
    for (int i = 0; i < 11; i++) {
        if (i != 5)
            assert_non_null(strchr(OTP_BACKUP_ALPHABET, code[i]));
    }
    assert_int_equal(strlen(OTP_BACKUP_ALPHABET), 32);
    assert_int_equal(otp_backup_code_normalize(code, norm), 0);
    assert_int_equal(strlen(norm), 10);
    assert_memory_equal(norm, code, 5);
    assert_memory_equal(norm + 5, code + 6, 5);
    assert_int_equal(otp_backup_code_new(again), 0);
    assert_string_not_equal(code, again);
}

static void expect_norm(const char *in, const char *want)
{
    char out[11];
    assert_int_equal(otp_backup_code_normalize(in, out), 0);
    assert_string_equal(out, want);
}

static void expect_norm_fail(const char *in)
{
    char out[11] = "junk";
    assert_int_equal(otp_backup_code_normalize(in, out), -1);
    assert_string_equal(out, "");
}

static void test_backup_code_normalize(void **state)
{
    (void)state;
    expect_norm("k7m2q-9x4tr", "k7m2q9x4tr");
    expect_norm("K7M2Q-9X4TR", "k7m2q9x4tr");
    expect_norm("k7m2q9x4tr", "k7m2q9x4tr");
    expect_norm(" k7m2q 9x4tr ", "k7m2q9x4tr");
    expect_norm("k7m2q - 9x4tr", "k7m2q9x4tr");
    expect_norm("kOm2q-9xItL", "k0m2q9x1t1"); /* look-alikes folded */
    expect_norm_fail("k7m2q--9x4tr");         /* two hyphens */
    expect_norm_fail("k7m2q-9x4t");           /* 9 symbols */
    expect_norm_fail("k7m2q-9x4trr");         /* 11 symbols */
    expect_norm_fail("k7m2q-9x4tu");          /* 'u' is not in the alphabet */
    expect_norm_fail("k7m2q_9x4tr");
    expect_norm_fail("k7m2q\t9x4tr");
    expect_norm_fail("k7m2q-9x4t\xc3\xa9");
    expect_norm_fail("");
    expect_norm_fail(NULL);
}

static void test_backup_hash(void **state)
{
    (void)state;
    const unsigned char salt[16] = "0123456789abcdef";
    unsigned char h[32], h2[32];
    assert_int_equal(otp_backup_hash("k7m2q9x4tr", salt, h), 0);
    /* Independent reference: Python hashlib.scrypt(n=4096, r=8, p=1, dklen=32). */
    static const unsigned char want[32] = {0x4d, 0xb5, 0x80, 0x66, 0xdf, 0x88, 0x65, 0xbf,
                                           0xe1, 0x49, 0x23, 0xeb, 0x0f, 0x05, 0xb9, 0x73,
                                           0x07, 0x3f, 0xae, 0x70, 0x89, 0x69, 0x7c, 0x94,
                                           0xa7, 0x4e, 0x76, 0x88, 0x1d, 0x74, 0xb1, 0xde};
    assert_memory_equal(h, want, 32);
    const unsigned char salt2[16] = "0123456789abcdeX";
    assert_int_equal(otp_backup_hash("k7m2q9x4tr", salt2, h2), 0);
    assert_memory_not_equal(h, h2, 32);
    assert_int_equal(otp_backup_hash("k7m2q9x4ts", salt, h2), 0);
    assert_memory_not_equal(h, h2, 32);
}

static void expect_mask_email(const char *in, const char *want)
{
    char *m = otp_mask_email(in);
    if (want == NULL) {
        assert_null(m);
        return;
    }
    assert_non_null(m);
    assert_string_equal(m, want);
    free(m);
}

static void test_mask_email(void **state)
{
    (void)state;
    expect_mask_email("alice@example.com", "a***e@example.com");
    expect_mask_email("bob@example.com", "b***b@example.com");
    expect_mask_email("al@example.com", "a***@example.com");
    expect_mask_email("a@example.com", "***@example.com");
    expect_mask_email("\"a@b\"@example.com", "\"***\"@example.com"); /* last '@' */
    expect_mask_email("\xc3\xa9lise@example.com", "****e@example.com");
    expect_mask_email("alice", NULL);
    expect_mask_email("@example.com", NULL);
    expect_mask_email("alice@", NULL);
    expect_mask_email(NULL, NULL);
}

static void test_phone(void **state)
{
    (void)state;
    char *m = otp_mask_phone("+15551234567");
    assert_string_equal(m, "+1*******4567");
    free(m);
    m = otp_mask_phone("+4930123456");
    assert_string_equal(m, "+4*******3456");
    free(m);
    m = otp_mask_phone("+12345678"); /* 8 digits: the shortest accepted */
    assert_string_equal(m, "+1*******5678");
    free(m);
    assert_null(otp_mask_phone("15551234567"));
    assert_true(otp_is_e164("+15551234567"));
    assert_true(otp_is_e164("+123456789012345"));   /* 15 digits */
    assert_false(otp_is_e164("+1234567890123456")); /* 16 */
    assert_false(otp_is_e164("+1234567"));          /* 7 */
    assert_false(otp_is_e164("+05551234567"));
    assert_false(otp_is_e164("15551234567"));
    assert_false(otp_is_e164("+1 555 123 4567"));
    assert_false(otp_is_e164("+1555123456a"));
    assert_false(otp_is_e164("+"));
    assert_false(otp_is_e164(""));
    assert_false(otp_is_e164(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hotp_rfc4226),    cmocka_unit_test(test_totp_rfc6238),
        cmocka_unit_test(test_otp_bad_args),    cmocka_unit_test(test_random_digits),
        cmocka_unit_test(test_backup_code_new), cmocka_unit_test(test_backup_code_normalize),
        cmocka_unit_test(test_backup_hash),     cmocka_unit_test(test_mask_email),
        cmocka_unit_test(test_phone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
