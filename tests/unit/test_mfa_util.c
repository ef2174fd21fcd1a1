/* Unit tests for server/mfa/mfa_util (otpauth URIs, code classification, the TOTP window,
 * the code HMAC), server/offload is covered by the integration tests, and the
 * QR SVG that the TOTP setup answers with (server/base/qrsvg). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mfa_util.h"
#include "protocol/otp.h"
#include "qrsvg.h"

static void expect_pct(const char *in, const char *want)
{
    char *got = mfa_pct_encode(in);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_pct_encode(void **state)
{
    (void)state;
    expect_pct("", "");
    expect_pct("Acme-Bank_1.0~", "Acme-Bank_1.0~");
    expect_pct("Acme Bank", "Acme%20Bank");
    expect_pct("a:b@c/d?e&f=g#h%", "a%3Ab%40c%2Fd%3Fe%26f%3Dg%23h%25");
    expect_pct("J\xc3\xbcrgen", "J%C3%BCrgen");
    expect_pct("+", "%2B");
}

static void test_otpauth_uri(void **state)
{
    (void)state;
    char *uri = mfa_otpauth_uri("Acme Bank", "alice@example.com", "JBSWY3DPEHPK3PXP");
    assert_non_null(uri);
    assert_string_equal(uri, "otpauth://totp/Acme%20Bank:alice%40example.com"
                             "?secret=JBSWY3DPEHPK3PXP&issuer=Acme%20Bank&algorithm=SHA1"
                             "&digits=6&period=30");
    free(uri);
    /* A ':' in the issuer must not split the label early. */
    uri = mfa_otpauth_uri("A:B&C", "bob", "AAAA");
    assert_non_null(uri);
    assert_non_null(strstr(uri, "totp/A%3AB%26C:bob?"));
    assert_non_null(strstr(uri, "&issuer=A%3AB%26C&"));
    free(uri);
}

static void test_classify(void **state)
{
    (void)state;
    char norm[11];
    assert_int_equal(mfa_code_classify("123456", norm), MFA_CODE_OTP);
    assert_int_equal(mfa_code_classify("000000", norm), MFA_CODE_OTP);
    assert_int_equal(mfa_code_classify("12345", norm), MFA_CODE_NONE);
    assert_int_equal(mfa_code_classify("1234567", norm), MFA_CODE_NONE);
    assert_int_equal(mfa_code_classify("12345a", norm), MFA_CODE_NONE);
    assert_int_equal(mfa_code_classify("", norm), MFA_CODE_NONE);
    assert_int_equal(mfa_code_classify("k7m2q-9x4tr", norm), MFA_CODE_BACKUP);
    assert_string_equal(norm, "k7m2q9x4tr");
    assert_int_equal(mfa_code_classify("K7M2Q9X4TR", norm), MFA_CODE_BACKUP);
    assert_string_equal(norm, "k7m2q9x4tr");
    assert_int_equal(mfa_code_classify("k7m2q-9x4t", norm), MFA_CODE_NONE);
    assert_string_equal(norm, "");
}

/* RFC 6238 Appendix B seed (SHA-1): "12345678901234567890". */
static const unsigned char rfc_seed[] = "12345678901234567890";

static void test_totp_window(void **state)
{
    (void)state;
    /* T = 59: step 1, 8-digit value 94287082 -> 6 digits "287082". */
    assert_int_equal(mfa_totp_match(rfc_seed, 20, 59, "287082"), 1);
    /* T = 1111111109: 07081804 -> "081804", step 37037036. */
    int64_t step = 1111111109 / 30;
    assert_int_equal(mfa_totp_match(rfc_seed, 20, 1111111109, "081804"), step);
    /* The same code one step before and one step after is still inside the window. */
    assert_int_equal(mfa_totp_match(rfc_seed, 20, 1111111109 + 30, "081804"), step);
    assert_int_equal(mfa_totp_match(rfc_seed, 20, 1111111109 - 30, "081804"), step);
    /* Two steps away it is not. */
    assert_int_equal(mfa_totp_match(rfc_seed, 20, 1111111109 + 60, "081804"), -1);
    assert_int_equal(mfa_totp_match(rfc_seed, 20, 1111111109 - 60, "081804"), -1);
    assert_int_equal(mfa_totp_match(rfc_seed, 20, 1111111109, "000000"), -1);
    assert_int_equal(mfa_totp_match(rfc_seed, 20, 1111111109, "08180"), -1);
}

static void test_code_mac(void **state)
{
    (void)state;
    unsigned char key[32] = {1}, other[32] = {2};
    unsigned char a[MFA_MAC_LEN], b[MFA_MAC_LEN];
    assert_int_equal(mfa_code_mac(key, "verify", "a_app12345", "alice", "123456", a), 0);
    assert_int_equal(mfa_code_mac(key, "verify", "a_app12345", "alice", "123456", b), 0);
    assert_memory_equal(a, b, MFA_MAC_LEN);
    /* Each bound input changes the MAC. */
    assert_int_equal(mfa_code_mac(key, "setup", "a_app12345", "alice", "123456", b), 0);
    assert_memory_not_equal(a, b, MFA_MAC_LEN);
    assert_int_equal(mfa_code_mac(key, "verify", "a_app12346", "alice", "123456", b), 0);
    assert_memory_not_equal(a, b, MFA_MAC_LEN);
    assert_int_equal(mfa_code_mac(key, "verify", "a_app12345", "alicf", "123456", b), 0);
    assert_memory_not_equal(a, b, MFA_MAC_LEN);
    assert_int_equal(mfa_code_mac(key, "verify", "a_app12345", "alice", "123457", b), 0);
    assert_memory_not_equal(a, b, MFA_MAC_LEN);
    assert_int_equal(mfa_code_mac(other, "verify", "a_app12345", "alice", "123456", b), 0);
    assert_memory_not_equal(a, b, MFA_MAC_LEN);
    /* The separators make the encoding injective: ("ab","c") differs from ("a","bc"). */
    assert_int_equal(mfa_code_mac(key, "verify", "a_app12345", "ab", "c", a), 0);
    assert_int_equal(mfa_code_mac(key, "verify", "a_app12345a", "b", "c", b), 0);
    assert_memory_not_equal(a, b, MFA_MAC_LEN);
}

static void test_seed_aad(void **state)
{
    (void)state;
    char *aad = mfa_seed_aad("a_app12345", "alice:x");
    assert_string_equal(aad, "totp:a_app12345:alice:x");
    free(aad);
}

static void test_qrsvg(void **state)
{
    (void)state;
    char *svg = qrsvg_render("otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP&issuer=Acme");
    assert_non_null(svg);
    assert_memory_equal(svg, "<svg ", 5);
    assert_non_null(strstr(svg, "xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(svg, "viewBox=\"0 0 "));
    assert_string_equal(svg + strlen(svg) - 6, "</svg>");
    free(svg);
    /* Far beyond the largest QR code (version 40-M holds 2331 bytes). */
    char big[4000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_null(qrsvg_render(big));
}

/* The SMS text: a long application name is cut at a character boundary, never the code. */
static void test_sms_text(void **state)
{
    (void)state;
    char out[MFA_SMS_TEXT_MAX];
    const char *tail = " code: 123456 (valid for 10 minutes). Do not share it.";
    assert_int_equal(mfa_sms_text(out, sizeof out, "Acme Bank", "123456"), 9 + strlen(tail));
    assert_string_equal(out, "Acme Bank code: 123456 (valid for 10 minutes). Do not share it.");
    char app[1024];
    for (size_t fill = 240; fill <= 260; fill++) { /* around the edge, 1- and 3-byte names */
        for (int wide = 0; wide < 2; wide++) {
            const char *ch = wide ? "\xe2\x82\xac" : "a"; /* EURO SIGN or 'a' */
            app[0] = '\0';
            for (size_t i = 0; i < fill; i++)
                strcat(app, ch);
            int len = mfa_sms_text(out, sizeof out, app, "123456");
            assert_true(len > 0 && (size_t)len < sizeof out && (size_t)len == strlen(out));
            assert_string_equal(out + len - strlen(tail), tail); /* the code survived */
            size_t name = (size_t)len - strlen(tail);
            if (strlen(app) + strlen(tail) < sizeof out) {
                assert_memory_equal(out, app, strlen(app)); /* fits: unchanged */
                continue;
            }
            assert_memory_equal(out + name - 3, "\xe2\x80\xa6", 3); /* ends in an ellipsis */
            assert_memory_equal(out, app, name - 3);
            assert_true(wide ? (name - 3) % 3 == 0 : name - 3 + 3 + strlen(tail) == 299);
        }
    }
    assert_int_equal(mfa_sms_text(out, 40, "Acme", "123456"), -1); /* no room for the code */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pct_encode), cmocka_unit_test(test_otpauth_uri),
        cmocka_unit_test(test_classify),   cmocka_unit_test(test_totp_window),
        cmocka_unit_test(test_code_mac),   cmocka_unit_test(test_seed_aad),
        cmocka_unit_test(test_qrsvg),      cmocka_unit_test(test_sms_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
