/* config: every PUSHGATE_* variable, its default and its rejection message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "log.h"

#include <string.h>

/* A fake environment: NULL-terminated name/value pairs. */
static const char *lookup(const char *name, void *ctx)
{
    const char *const *kv = ctx;
    for (; kv[0]; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

static int load(struct config *c, const char *const *env, char *err)
{
    return config_load(c, lookup, (void *)env, err, 256);
}

static void defaults(void **state)
{
    (void)state;
    const char *env[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", NULL};
    struct config c;
    char err[256] = "";
    assert_int_equal(load(&c, env, err), 0);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_string_equal(c.public_url, "http://127.0.0.1:8080");
    assert_false(c.public_url_set);
    assert_null(c.smtp_url);
    assert_string_equal(c.mail_dir, "./var/mail");
    assert_string_equal(c.mail_from, "pushgate@localhost");
    assert_null(c.sms_webhook_url);
    assert_null(c.admin_token);
    assert_string_equal(c.key_file, "./var/pushgate.key");
    assert_false(c.require_code);
    assert_int_equal(c.log_level, LOG_INFO);
    assert_false(c.log_json);
    assert_int_equal(c.db_pool_size, 4);
    assert_int_equal(c.db_batch_max, 16);
    assert_int_equal(c.drain_seconds, 10);
    assert_int_equal(c.metrics_db_seconds, 15);
    config_free(&c);
}

static void every_value(void **state)
{
    (void)state;
    const char *env[] = {"PUSHGATE_DATABASE_URL",
                         "host=/tmp dbname=p",
                         "PUSHGATE_LISTEN",
                         "[::1]:0",
                         "PUSHGATE_PUBLIC_URL",
                         "https://push.example.com//",
                         "PUSHGATE_SMTP_URL",
                         "smtps://mail.example.com:465",
                         "PUSHGATE_MAIL_DIR",
                         "/tmp/mail",
                         "PUSHGATE_MAIL_FROM",
                         "noreply@example.com",
                         "PUSHGATE_SMS_WEBHOOK_URL",
                         "http://127.0.0.1:9/sms",
                         "PUSHGATE_ADMIN_TOKEN",
                         "s3cret",
                         "PUSHGATE_KEY_FILE",
                         "/etc/pushgate.key",
                         "PUSHGATE_REQUIRE_CODE",
                         "true",
                         "PUSHGATE_LOG_LEVEL",
                         "debug",
                         "PUSHGATE_LOG_FORMAT",
                         "json",
                         "PUSHGATE_PORT_FILE",
                         "/tmp/port",
                         "PUSHGATE_METRICS_DB_SECONDS",
                         "0",
                         NULL};
    struct config c;
    char err[256] = "";
    assert_int_equal(load(&c, env, err), 0);
    assert_string_equal(c.listen_host, "::1");
    assert_int_equal(c.listen_port, 0);
    assert_string_equal(c.public_url, "https://push.example.com");
    assert_true(c.public_url_set);
    assert_string_equal(c.smtp_url, "smtps://mail.example.com:465");
    assert_string_equal(c.sms_webhook_url, "http://127.0.0.1:9/sms");
    assert_string_equal(c.admin_token, "s3cret");
    assert_true(c.require_code);
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_true(c.log_json);
    assert_string_equal(c.port_file, "/tmp/port");
    assert_int_equal(c.metrics_db_seconds, 0);
    config_free(&c);
}

/* Each bad value stops the start with a message naming its variable. */
static void rejections(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"PUSHGATE_LISTEN", "nonsense"},
        {"PUSHGATE_LISTEN", "127.0.0.1:65536"},
        {"PUSHGATE_LISTEN", ":8080"},
        {"PUSHGATE_LISTEN", "127.0.0.1:http"},
        {"PUSHGATE_PUBLIC_URL", "ftp://x"},
        {"PUSHGATE_SMTP_URL", "http://mail"},
        {"PUSHGATE_SMS_WEBHOOK_URL", "smtp://x"},
        {"PUSHGATE_REQUIRE_CODE", "maybe"},
        {"PUSHGATE_LOG_LEVEL", "verbose"},
        {"PUSHGATE_LOG_FORMAT", "xml"},
        {"PUSHGATE_MAIL_FROM", "no-at-sign"},
        {"PUSHGATE_MAIL_FROM", "a@b\r\nBcc: x@y"},
        {"PUSHGATE_DB_POOL_SIZE", "0"},
        {"PUSHGATE_DB_BATCH_MAX", "33"},
        {"PUSHGATE_DB_BATCH_MAX", "0"},
        {"PUSHGATE_DRAIN_SECONDS", "26"},
        {"PUSHGATE_METRICS_DB_SECONDS", "-1"},
        {"PUSHGATE_METRICS_DB_SECONDS", "3601"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *env[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", cases[i][0], cases[i][1],
                             NULL};
        struct config c;
        char err[256] = "";
        assert_int_equal(load(&c, env, err), -1);
        assert_non_null(strstr(err, cases[i][0]));
        config_free(&c);
    }
}

static void database_url_required(void **state)
{
    (void)state;
    const char *unset[] = {NULL};
    const char *empty[] = {"PUSHGATE_DATABASE_URL", "", NULL};
    struct config c;
    char err[256] = "";
    assert_int_equal(load(&c, unset, err), -1);
    assert_non_null(strstr(err, "PUSHGATE_DATABASE_URL"));
    config_free(&c);
    assert_int_equal(load(&c, empty, err), -1);
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(every_value),
        cmocka_unit_test(rejections),
        cmocka_unit_test(database_url_required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
