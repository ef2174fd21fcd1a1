/* devproof_parse: the device proof's pure part (api.md 6.1): the Authorization header and
 * the claims. The iat window is compared without overflow whatever iat the sender puts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "devproof_parse.h"

#include <limits.h>
#include <string.h>

#define NOW 1795000000
#define PATH "/device/challenges"

static json_t *payload(json_int_t iat, const char *jti)
{
    return json_pack("{s:s, s:s, s:I, s:s}", "htm", "GET", "htu", PATH, "iat", iat, "jti", jti);
}

static bool claims(json_int_t iat)
{
    json_t *p = payload(iat, "aGVsbG8td29ybGQtMTIz");
    bool ok = devproof_claims_ok(p, "GET", PATH, NOW);
    json_decref(p);
    return ok;
}

static void iat_window(void **state)
{
    (void)state;
    assert_true(claims(NOW));
    assert_true(claims(NOW - DEVPROOF_IAT_SKEW_S));
    assert_true(claims(NOW + DEVPROOF_IAT_SKEW_S));
    assert_false(claims(NOW - DEVPROOF_IAT_SKEW_S - 1));
    assert_false(claims(NOW + DEVPROOF_IAT_SKEW_S + 1));
}

/* Found by fuzz_devproof: now - iat overflowed (undefined behaviour; UBSan aborts). */
static void iat_extremes_do_not_overflow(void **state)
{
    (void)state;
    assert_false(claims(LLONG_MIN));
    assert_false(claims(LLONG_MIN + 1));
    assert_false(claims(LLONG_MAX));
    assert_false(claims(0));
}

static void other_claims(void **state)
{
    (void)state;
    json_t *p = payload(NOW, "short");
    assert_false(devproof_claims_ok(p, "GET", PATH, NOW)); /* jti under 16 characters */
    json_decref(p);
    p = payload(NOW, "aGVsbG8td29ybGQtMTIz");
    assert_false(devproof_claims_ok(p, "POST", PATH, NOW));
    assert_false(devproof_claims_ok(p, "GET", PATH "/x", NOW));
    json_decref(p);
    p = json_pack("{s:s, s:s, s:s, s:s}", "htm", "GET", "htu", PATH, "iat", "1795000000", "jti",
                  "aGVsbG8td29ybGQtMTIz");
    assert_false(devproof_claims_ok(p, "GET", PATH, NOW)); /* iat must be an integer */
    json_decref(p);
}

static void header(void **state)
{
    (void)state;
    char kid[DEVPROOF_ID_SIZE];
    const char *jws = NULL;
    /* {"alg":"ES256","typ":"pushgate-device+jwt","kid":"d_device01"} . {} . sig */
    const char *h = "Device eyJhbGciOiJFUzI1NiIsInR5cCI6InB1c2hnYXRlLWRldmljZStqd3QiLCJraWQiOiJk"
                    "X2RldmljZTAxIn0.e30.AAAA";
    assert_int_equal(devproof_parse_header(h, kid, &jws), 0);
    assert_string_equal(kid, "d_device01");
    assert_ptr_equal(jws, h + 7);
    jws = NULL;
    assert_int_equal(devproof_parse_header(h + 1, kid, &jws), -1); /* "evice ..." */
    assert_int_equal(devproof_parse_header(NULL, kid, &jws), -1);
    assert_int_equal(devproof_parse_header("Device ", kid, &jws), -1);
    assert_null(jws);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(iat_window),
        cmocka_unit_test(iat_extremes_do_not_overflow),
        cmocka_unit_test(other_claims),
        cmocka_unit_test(header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
