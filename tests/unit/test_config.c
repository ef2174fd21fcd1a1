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
                         "s3cret-0123456789abcdef0123456789abcdef",
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
    assert_string_equal(c.admin_token, "s3cret-0123456789abcdef0123456789abcdef");
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

/* The knobs that audit.c and outbox.c used to read themselves. */
static void own_knobs(void **state)
{
    (void)state;
    const char *unset[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", NULL};
    const char *set[] = {"PUSHGATE_DATABASE_URL",
                         "postgresql:///x",
                         "PUSHGATE_AUDIT_SEAL_AGE",
                         "0",
                         "PUSHGATE_MAIL_RETRY_BASE_MS",
                         "200",
                         NULL};
    struct config c;
    char err[256] = "";
    assert_int_equal(load(&c, unset, err), 0);
    assert_int_equal(c.audit_seal_age, 10);
    assert_int_equal(c.mail_retry_base_ms, 5000);
    config_free(&c);
    assert_int_equal(load(&c, set, err), 0);
    assert_int_equal(c.audit_seal_age, 0);
    assert_int_equal(c.mail_retry_base_ms, 200);
    config_free(&c);
    static const char *const cases[][2] = {
        {"PUSHGATE_AUDIT_SEAL_AGE", "-1"},         {"PUSHGATE_AUDIT_SEAL_AGE", "3601"},
        {"PUSHGATE_AUDIT_SEAL_AGE", "ten"},        {"PUSHGATE_MAIL_RETRY_BASE_MS", "0"},
        {"PUSHGATE_MAIL_RETRY_BASE_MS", "600001"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *env[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", cases[i][0], cases[i][1],
                             NULL};
        assert_int_equal(load(&c, env, err), -1);
        assert_non_null(strstr(err, cases[i][0]));
        config_free(&c);
    }
}

/* The messages operators see (and scripts may match) stay word for word. */
static void messages(void **state)
{
    (void)state;
    static const char *const cases[][3] = {
        {"PUSHGATE_LISTEN", "x",
         "PUSHGATE_LISTEN must be address:port, e.g. 127.0.0.1:8080 (port 0 picks one)"},
        {"PUSHGATE_PUBLIC_URL", "ftp://x",
         "PUSHGATE_PUBLIC_URL must start with http:// or https://"},
        {"PUSHGATE_SMTP_URL", "x", "PUSHGATE_SMTP_URL must start with smtp:// or smtps://"},
        {"PUSHGATE_MAIL_FROM", "x", "PUSHGATE_MAIL_FROM must be a plain email address"},
        {"PUSHGATE_REQUIRE_CODE", "x", "PUSHGATE_REQUIRE_CODE must be true or false"},
        {"PUSHGATE_LOG_LEVEL", "x", "PUSHGATE_LOG_LEVEL must be one of debug, info, warn, error"},
        {"PUSHGATE_LOG_FORMAT", "x", "PUSHGATE_LOG_FORMAT must be text or json"},
        {"PUSHGATE_DB_POOL_SIZE", "x", "PUSHGATE_DB_POOL_SIZE must be an integer from 1 to 64"},
    };
    struct config c;
    char err[256] = "";
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *env[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", cases[i][0], cases[i][1],
                             NULL};
        assert_int_equal(load(&c, env, err), -1);
        assert_string_equal(err, cases[i][2]);
        config_free(&c);
    }
    const char *none[] = {NULL};
    assert_int_equal(load(&c, none, err), -1);
    assert_string_equal(err,
                        "PUSHGATE_DATABASE_URL is required (a libpq connection string or URI)");
    config_free(&c);
}

/* A rejected value is never echoed: it may be a password. */
static void secrets_not_echoed(void **state)
{
    (void)state;
    const char *env[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", "PUSHGATE_SMTP_URL",
                         "http://user:hunter2@mail", NULL};
    struct config c;
    char err[256] = "";
    assert_int_equal(load(&c, env, err), -1);
    assert_null(strstr(err, "hunter2"));
    config_free(&c);
}

/* Every row: a PUSHGATE_ name, once; a field of the size its type stores;
 * choices where the type needs them; a default that parses. */
static void table_rows(void **state)
{
    (void)state;
    for (size_t i = 0; i < config_nvars; i++) {
        const struct config_var *v = &config_vars[i];
        assert_int_equal(strncmp(v->name, "PUSHGATE_", 9), 0);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(v->name, config_vars[j].name);
        assert_true(v->offset + v->size <= sizeof(struct config));
        assert_non_null(v->doc);
        switch (v->type) {
        case CONFIG_INT:
            assert_true(v->min <= v->max);
            /* fall through */
        case CONFIG_BOOL:
        case CONFIG_ENUM:
            assert_true(v->size == sizeof(int) || v->size == sizeof(bool));
            break;
        default:
            assert_int_equal(v->size, sizeof(char *));
        }
        if (v->type == CONFIG_ENUM || v->type == CONFIG_URL || v->type == CONFIG_BASE_URL)
            assert_non_null(v->choices);
        if (v->flags & CONFIG_REQUIRED)
            assert_null(v->def);
        if (!v->def)
            continue;
        const char *env[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", v->name, v->def, NULL};
        struct config c;
        char err[256] = "";
        assert_int_equal(load(&c, env, err), 0);
        config_free(&c);
    }
}

/* config_var_format: what `pushgated config` prints. */
static void format(void **state)
{
    (void)state;
    const char *env[] = {"PUSHGATE_DATABASE_URL",
                         "postgresql://u:pw@h/x",
                         "PUSHGATE_LISTEN",
                         "[::1]:0",
                         "PUSHGATE_LOG_LEVEL",
                         "warn",
                         "PUSHGATE_REQUIRE_CODE",
                         "yes",
                         NULL};
    static const char *const want[][2] = {
        {"PUSHGATE_DATABASE_URL", "(secret)"},
        {"PUSHGATE_LISTEN", "[::1]:0"},
        {"PUSHGATE_PUBLIC_URL", "http://[::1]:0"},
        {"PUSHGATE_LOG_LEVEL", "warn"},
        {"PUSHGATE_LOG_FORMAT", "text"},
        {"PUSHGATE_REQUIRE_CODE", "true"},
        {"PUSHGATE_DB_BATCH_MAX", "16"},
        {"PUSHGATE_PORT_FILE", NULL},
        {"PUSHGATE_ADMIN_TOKEN", NULL},
    };
    struct config c;
    char err[256] = "", buf[256];
    assert_int_equal(load(&c, env, err), 0);
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const struct config_var *v = NULL;
        for (size_t j = 0; j < config_nvars; j++)
            if (!strcmp(config_vars[j].name, want[i][0]))
                v = &config_vars[j];
        assert_non_null(v);
        int rc = config_var_format(&c, v, buf, sizeof buf);
        if (!want[i][1]) {
            assert_int_equal(rc, -1);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_string_equal(buf, want[i][1]);
    }
    config_free(&c);
}

/* An admin token shorter than 32 characters stops the start, named like every
 * other bad value (never its value); 32 characters start. */
static void admin_token_length(void **state)
{
    (void)state;
    const char *short_env[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", "PUSHGATE_ADMIN_TOKEN",
                               "0123456789012345678901234567890", NULL};
    const char *ok_env[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", "PUSHGATE_ADMIN_TOKEN",
                            "01234567890123456789012345678901", NULL};
    struct config c;
    char err[256] = "";
    assert_int_equal(load(&c, short_env, err), -1);
    assert_string_equal(err, "PUSHGATE_ADMIN_TOKEN must be at least 32 characters");
    config_free(&c);
    assert_int_equal(load(&c, ok_env, err), 0);
    assert_int_equal(strlen(c.admin_token), 32);
    config_free(&c);
}

/* PUSHGATE_TLS_CERT and PUSHGATE_TLS_KEY: both or neither; with them the derived public
 * URL is https. */
static void tls_pair(void **state)
{
    (void)state;
    struct config c;
    char err[256] = "";
    const char *both[] = {"PUSHGATE_DATABASE_URL",
                          "postgresql:///x",
                          "PUSHGATE_TLS_CERT",
                          "/etc/p/cert.pem",
                          "PUSHGATE_TLS_KEY",
                          "/etc/p/key.pem",
                          NULL};
    assert_int_equal(load(&c, both, err), 0);
    assert_string_equal(c.tls_cert, "/etc/p/cert.pem");
    assert_string_equal(c.tls_key, "/etc/p/key.pem");
    assert_string_equal(c.public_url, "https://127.0.0.1:8080");
    config_free(&c);
    static const char *const alone[] = {"PUSHGATE_TLS_CERT", "PUSHGATE_TLS_KEY"};
    for (size_t i = 0; i < 2; i++) {
        const char *env[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", alone[i], "/x.pem", NULL};
        assert_int_equal(load(&c, env, err), -1);
        assert_string_equal(err, "PUSHGATE_TLS_CERT and PUSHGATE_TLS_KEY must be set together");
        config_free(&c);
    }
    const char *none[] = {"PUSHGATE_DATABASE_URL", "postgresql:///x", NULL};
    assert_int_equal(load(&c, none, err), 0);
    assert_null(c.tls_cert);
    assert_null(c.tls_key);
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(admin_token_length),
        cmocka_unit_test(defaults),
        cmocka_unit_test(every_value),
        cmocka_unit_test(rejections),
        cmocka_unit_test(database_url_required),
        cmocka_unit_test(own_knobs),
        cmocka_unit_test(messages),
        cmocka_unit_test(secrets_not_echoed),
        cmocka_unit_test(table_rows),
        cmocka_unit_test(format),
        cmocka_unit_test(tls_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
