#include "config.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return -1;                                                                                 \
    } while (0)

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

/* "host:port" or "[v6]:port"; port 0-65535. */
static int parse_listen(struct config *c, const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return -1;
    size_t hlen = (size_t)(colon - s);
    const char *h = s;
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']')
            return -1;
        h++;
        hlen -= 2;
    }
    if (parse_int(colon + 1, 0, 65535, &c->listen_port) < 0)
        return -1;
    c->listen_host = strndup(h, hlen);
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes")) {
        *out = true;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) {
        *out = false;
        return 0;
    }
    return -1;
}

static int url_has_scheme(const char *u, const char *const *schemes)
{
    for (; *schemes; schemes++) {
        size_t n = strlen(*schemes);
        if (strncmp(u, *schemes, n) == 0 && u[n])
            return 1;
    }
    return 0;
}

static int load_urls(struct config *c, config_getenv_fn get, void *ctx, char *err, size_t errlen)
{
    static const char *const http[] = {"http://", "https://", NULL};
    static const char *const smtp[] = {"smtp://", "smtps://", NULL};
    const char *v = get("PUSHGATE_PUBLIC_URL", ctx);
    if (v && *v) {
        if (!url_has_scheme(v, http))
            FAIL("PUSHGATE_PUBLIC_URL must start with http:// or https://");
        c->public_url = strdup(v);
        c->public_url_set = true;
        size_t n = strlen(c->public_url);
        while (n > 0 && c->public_url[n - 1] == '/')
            c->public_url[--n] = '\0';
    } else {
        int bracket = strchr(c->listen_host, ':') != NULL;
        if (asprintf(&c->public_url, "http://%s%s%s:%d", bracket ? "[" : "", c->listen_host,
                     bracket ? "]" : "", c->listen_port) < 0)
            FAIL("out of memory");
    }
    v = get("PUSHGATE_SMTP_URL", ctx);
    if (v && *v && !url_has_scheme(v, smtp))
        FAIL("PUSHGATE_SMTP_URL must start with smtp:// or smtps://");
    c->smtp_url = dup_or_null(v);
    v = get("PUSHGATE_SMS_WEBHOOK_URL", ctx);
    if (v && *v && !url_has_scheme(v, http))
        FAIL("PUSHGATE_SMS_WEBHOOK_URL must start with http:// or https://");
    c->sms_webhook_url = dup_or_null(v);
    return 0;
}

static const char *or_default(const char *v, const char *def)
{
    return v && *v ? v : def;
}

static int load_numbers(struct config *c, config_getenv_fn get, void *ctx, char *err, size_t errlen)
{
    const char *v = or_default(get("PUSHGATE_REQUIRE_CODE", ctx), "false");
    if (parse_bool(v, &c->require_code) < 0)
        FAIL("PUSHGATE_REQUIRE_CODE must be true or false");
    v = or_default(get("PUSHGATE_LOG_LEVEL", ctx), "info");
    if ((c->log_level = log_level_parse(v)) < 0)
        FAIL("PUSHGATE_LOG_LEVEL must be one of debug, info, warn, error");
    v = or_default(get("PUSHGATE_LOG_FORMAT", ctx), "text");
    if (strcmp(v, "text") && strcmp(v, "json"))
        FAIL("PUSHGATE_LOG_FORMAT must be text or json");
    c->log_json = strcmp(v, "json") == 0;
    v = or_default(get("PUSHGATE_DB_POOL_SIZE", ctx), "4");
    if (parse_int(v, 1, 64, &c->db_pool_size) < 0)
        FAIL("PUSHGATE_DB_POOL_SIZE must be an integer from 1 to 64");
    v = or_default(get("PUSHGATE_DB_BATCH_MAX", ctx), "16");
    if (parse_int(v, 1, 32, &c->db_batch_max) < 0)
        FAIL("PUSHGATE_DB_BATCH_MAX must be an integer from 1 to 32");
    v = or_default(get("PUSHGATE_DRAIN_SECONDS", ctx), "10");
    if (parse_int(v, 0, 25, &c->drain_seconds) < 0)
        FAIL("PUSHGATE_DRAIN_SECONDS must be an integer from 0 to 25");
    v = or_default(get("PUSHGATE_METRICS_DB_SECONDS", ctx), "15");
    if (parse_int(v, 0, 3600, &c->metrics_db_seconds) < 0)
        FAIL("PUSHGATE_METRICS_DB_SECONDS must be an integer from 0 to 3600");
    return 0;
}

int config_load(struct config *c, config_getenv_fn get, void *ctx, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    const char *v = get("PUSHGATE_DATABASE_URL", ctx);
    if (!v || !*v)
        FAIL("PUSHGATE_DATABASE_URL is required (a libpq connection string or URI)");
    c->database_url = strdup(v);
    v = or_default(get("PUSHGATE_LISTEN", ctx), "127.0.0.1:8080");
    if (parse_listen(c, v) < 0)
        FAIL("PUSHGATE_LISTEN must be address:port, e.g. 127.0.0.1:8080 (port 0 picks one)");
    c->port_file = dup_or_null(get("PUSHGATE_PORT_FILE", ctx));
    if (load_urls(c, get, ctx, err, errlen) < 0)
        return -1;
    c->mail_dir = strdup(or_default(get("PUSHGATE_MAIL_DIR", ctx), "./var/mail"));
    v = or_default(get("PUSHGATE_MAIL_FROM", ctx), "pushgate@localhost");
    if (!strchr(v, '@') || strpbrk(v, "\r\n<> "))
        FAIL("PUSHGATE_MAIL_FROM must be a plain email address");
    c->mail_from = strdup(v);
    c->admin_token = dup_or_null(get("PUSHGATE_ADMIN_TOKEN", ctx));
    c->key_file = strdup(or_default(get("PUSHGATE_KEY_FILE", ctx), "./var/pushgate.key"));
    return load_numbers(c, get, ctx, err, errlen);
}

static const char *real_getenv(const char *name, void *ctx)
{
    (void)ctx;
    return getenv(name);
}

int config_load_env(struct config *c, char *err, size_t errlen)
{
    return config_load(c, real_getenv, NULL, err, errlen);
}

void config_free(struct config *c)
{
    char **fields[] = {&c->database_url, &c->listen_host, &c->port_file, &c->public_url,
                       &c->smtp_url,     &c->mail_dir,    &c->mail_from, &c->sms_webhook_url,
                       &c->admin_token,  &c->key_file};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        free(*fields[i]);
        *fields[i] = NULL;
    }
}
