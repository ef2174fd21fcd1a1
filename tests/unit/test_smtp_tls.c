/* outbox: PUSHGATE_SMTP_TLS's policy (api.md 10): TLS is required unless the relay is a
 * loopback address literal or the operator says otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "outbox.h"

#include <curl/curl.h>

static void loopback_literals(void **state)
{
    (void)state;
    assert_true(outbox_relay_is_loopback("smtp://127.0.0.1:25"));
    assert_true(outbox_relay_is_loopback("smtp://127.8.9.10"));
    assert_true(outbox_relay_is_loopback("smtp://user:pw@127.0.0.1:2525/"));
    assert_true(outbox_relay_is_loopback("smtp://[::1]:25"));
    assert_true(outbox_relay_is_loopback("smtp://[::ffff:127.0.0.1]:25"));
    assert_true(outbox_relay_is_loopback("SMTP://127.0.0.1"));
}

/* Names are resolved at send time by a resolver we do not control: never loopback. */
static void not_loopback(void **state)
{
    (void)state;
    assert_false(outbox_relay_is_loopback("smtp://localhost:25"));
    assert_false(outbox_relay_is_loopback("smtp://127.0.0.1.example.com:25"));
    assert_false(outbox_relay_is_loopback("smtp://mail.example.com:25"));
    assert_false(outbox_relay_is_loopback("smtp://192.0.2.2:25"));
    assert_false(outbox_relay_is_loopback("smtp://128.0.0.1:25"));
    assert_false(outbox_relay_is_loopback("smtp://[::2]:25"));
    assert_false(outbox_relay_is_loopback("smtp://[::ffff:10.0.0.1]:25"));
    assert_false(outbox_relay_is_loopback("smtp://user@127.0.0.1@evil.example:25"));
    assert_false(outbox_relay_is_loopback("not a url"));
    assert_false(outbox_relay_is_loopback(""));
}

static void policy(void **state)
{
    (void)state;
    const char *remote = "smtp://mail.example.com:587", *local = "smtp://127.0.0.1:25";
    assert_int_equal(outbox_use_ssl(remote, SMTP_TLS_REQUIRED), CURLUSESSL_ALL);
    assert_int_equal(outbox_use_ssl(local, SMTP_TLS_REQUIRED), CURLUSESSL_TRY);
    assert_int_equal(outbox_use_ssl(remote, SMTP_TLS_OPTIONAL), CURLUSESSL_TRY);
    assert_int_equal(outbox_use_ssl(local, SMTP_TLS_OPTIONAL), CURLUSESSL_TRY);
    assert_int_equal(outbox_use_ssl(remote, SMTP_TLS_NONE), CURLUSESSL_NONE);
    assert_int_equal(outbox_use_ssl("smtps://mail.example.com", SMTP_TLS_REQUIRED), CURLUSESSL_ALL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loopback_literals),
        cmocka_unit_test(not_loopback),
        cmocka_unit_test(policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
