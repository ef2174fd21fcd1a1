/* Unit tests of server/base/whsig.c (webhook secrets and signatures) and of the
 * webhook retry schedule (server/mail/webhooks.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "webhooks.h"
#include "whsig.h"

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* The example of the Standard Webhooks reference libraries (and Svix's docs). */
static void test_sign_matches_the_standard_example(void **state)
{
    (void)state;
    unsigned char key[32];
    int n = EVP_DecodeBlock(key, (const unsigned char *)"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 32);
    assert_int_equal(n, 24);
    const char *body = "{\"test\": 2432232314}";
    char sig[WHSIG_SIGNATURE_MAX];
    whsig_sign(key, 24, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, strlen(body), sig);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    whsig_sign(key, 24, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, body, strlen(body), sig);
    assert_string_not_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

static void test_secret_text_is_whsec_base64_of_the_raw_bytes(void **state)
{
    (void)state;
    unsigned char raw[WHSIG_SECRET_LEN], back[48];
    char text[WHSIG_SECRET_TEXT], text2[WHSIG_SECRET_TEXT];
    assert_int_equal(whsig_secret_new(raw, text), 0);
    assert_memory_equal(text, "whsec_", 6);
    assert_int_equal(strlen(text), 6 + 44);
    assert_int_equal(EVP_DecodeBlock(back, (unsigned char *)text + 6, 44), 33); /* 32 + pad */
    assert_memory_equal(back, raw, WHSIG_SECRET_LEN);
    assert_int_equal(whsig_secret_new(raw, text2), 0);
    assert_string_not_equal(text, text2);
}

static void test_sealed_secret_opens_only_for_its_application(void **state)
{
    (void)state;
    unsigned char master[32] = {1, 2, 3}, raw[WHSIG_SECRET_LEN] = {9, 8, 7};
    char *hex = whsig_seal(master, "a_one", raw, sizeof raw);
    assert_non_null(hex);
    size_t n = 0, len = 0;
    unsigned char *sealed = PQunescapeBytea((unsigned char *)hex, &n), *out = NULL;
    assert_int_equal(whsig_open(master, "a_one", sealed, n, &out, &len), 0);
    assert_int_equal(len, sizeof raw);
    assert_memory_equal(out, raw, sizeof raw);
    free(out);
    assert_int_equal(whsig_open(master, "a_two", sealed, n, &out, &len), -1);
    master[0] ^= 1;
    assert_int_equal(whsig_open(master, "a_one", sealed, n, &out, &len), -1);
    PQfreemem(sealed);
    free(hex);
}

static void test_backoff_doubles_from_the_base_to_one_hour(void **state)
{
    (void)state;
    assert_int_equal(webhooks_backoff_ms(5000, 1), 5000);
    assert_int_equal(webhooks_backoff_ms(5000, 2), 10000);
    assert_int_equal(webhooks_backoff_ms(5000, 3), 20000);
    assert_int_equal(webhooks_backoff_ms(5000, 10), 2560000);
    assert_int_equal(webhooks_backoff_ms(5000, 11), 3600000);
    assert_int_equal(webhooks_backoff_ms(5000, 1000), 3600000);
    assert_int_equal(webhooks_backoff_ms(300, 0), 300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_matches_the_standard_example),
        cmocka_unit_test(test_secret_text_is_whsec_base64_of_the_raw_bytes),
        cmocka_unit_test(test_sealed_secret_opens_only_for_its_application),
        cmocka_unit_test(test_backoff_doubles_from_the_base_to_one_hour),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
