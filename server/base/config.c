#include "config.h"

#include "alloc.h"
#include "log.h"
#include "netmask.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(f) .offset = offsetof(struct config, f), .size = sizeof(((struct config *)0)->f)

/* Parsers return -1 for an invalid value and STORE_FAILED when the value is
 * fine but cannot be kept: a row whose field does not fit its type
 * (unit_config checks every row; out of memory aborts, alloc.h). */
#define STORE_FAILED (-2)

static const char *const http_schemes[] = {"http://", "https://", NULL};
static const char *const smtp_schemes[] = {"smtp://", "smtps://", NULL};
/* In the order of enum log_level: the field gets the index. */
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
_Static_assert(LOG_DEBUG == 0 && LOG_INFO == 1 && LOG_WARN == 2 && LOG_ERROR == 3,
               "log_levels[] follows enum log_level");
static const char *const log_formats[] = {"text", "json", NULL}; /* log_json = index */
/* In the order of enum config_smtp_tls. */
static const char *const smtp_tls_modes[] = {"required", "optional", "none", NULL};

/* The single declaration of every variable (in the spirit of PgBouncer's
 * bouncer_params[]). docs/operations.md's table is checked against it by
 * tests/unit/test_config_docs.c. Rows are parsed in this order, so with
 * several bad values the first one here is reported. */
const struct config_var config_vars[] = {
    {.name = "PUSHGATE_DATABASE_URL",
     .type = CONFIG_STRING,
     .flags = CONFIG_REQUIRED | CONFIG_SECRET,
     FIELD(database_url),
     .doc = "a libpq connection string or URI"},
    {.name = "PUSHGATE_LISTEN",
     .type = CONFIG_LISTEN,
     .def = "127.0.0.1:8080",
     FIELD(listen_host),
     .doc = "host:port or [v6]:port; port 0 picks one"},
    {.name = "PUSHGATE_PORT_FILE",
     .type = CONFIG_STRING,
     FIELD(port_file),
     .doc = "the bound port is written there"},
    {.name = "PUSHGATE_PUBLIC_URL",
     .type = CONFIG_BASE_URL,
     .choices = http_schemes,
     .shown = "http(s)://<bound address>",
     FIELD(public_url),
     .doc = "base of every link"},
    {.name = "PUSHGATE_SMTP_URL",
     .type = CONFIG_URL,
     .flags = CONFIG_SECRET,
     .choices = smtp_schemes,
     FIELD(smtp_url),
     .doc = "mail relay; unset: .eml files"},
    {.name = "PUSHGATE_SMS_WEBHOOK_URL",
     .type = CONFIG_URL,
     .flags = CONFIG_SECRET,
     .choices = http_schemes,
     FIELD(sms_webhook_url),
     .doc = "SMS gateway"},
    {.name = "PUSHGATE_MAIL_DIR",
     .type = CONFIG_STRING,
     .def = "./var/mail",
     FIELD(mail_dir),
     .doc = "where .eml files go"},
    {.name = "PUSHGATE_MAIL_FROM",
     .type = CONFIG_EMAIL,
     .def = "pushgate@localhost",
     FIELD(mail_from),
     .doc = "sender"},
    {.name = "PUSHGATE_ADMIN_TOKEN",
     .type = CONFIG_STRING,
     .flags = CONFIG_SECRET,
     .min = 32, /* a guessable token is a guessable master password */
     FIELD(admin_token),
     .doc = "enables admin access"},
    {.name = "PUSHGATE_KEY_FILE",
     .type = CONFIG_STRING,
     .def = "./var/pushgate.key",
     FIELD(key_file),
     .doc = "master key file"},
    {.name = "PUSHGATE_REQUIRE_CODE",
     .type = CONFIG_BOOL,
     .def = "false",
     FIELD(require_code),
     .doc = "number matching for every push"},
    {.name = "PUSHGATE_LOG_LEVEL",
     .type = CONFIG_ENUM,
     .choices = log_levels,
     .def = "info",
     FIELD(log_level),
     .doc = "least severe level logged"},
    {.name = "PUSHGATE_LOG_FORMAT",
     .type = CONFIG_ENUM,
     .choices = log_formats,
     .def = "text",
     FIELD(log_json),
     .doc = "json: one JSON object per line"},
    {.name = "PUSHGATE_DB_POOL_SIZE",
     .type = CONFIG_INT,
     .min = 1,
     .max = 64,
     .def = "4",
     FIELD(db_pool_size),
     .doc = "connections of the query pool"},
    {.name = "PUSHGATE_DB_BATCH_MAX",
     .type = CONFIG_INT,
     .min = 1,
     .max = 32,
     .def = "16",
     FIELD(db_batch_max),
     .doc = "group commit: items per statement (1: off)"},
    {.name = "PUSHGATE_DRAIN_SECONDS",
     .type = CONFIG_INT,
     .min = 0,
     .max = 25,
     .def = "10",
     FIELD(drain_seconds),
     .doc = "held requests' wait for their outcome after SIGTERM"},
    {.name = "PUSHGATE_METRICS_DB_SECONDS",
     .type = CONFIG_INT,
     .min = 0,
     .max = 3600,
     .def = "15",
     FIELD(metrics_db_seconds),
     .doc = "/metrics database figures' maximum age"},
    {.name = "PUSHGATE_AUDIT_SEAL_AGE",
     .type = CONFIG_INT,
     .min = 0,
     .max = 3600,
     .def = "10",
     FIELD(audit_seal_age),
     .doc = "seconds before audit rows are sealed"},
    {.name = "PUSHGATE_MAIL_RETRY_BASE_MS",
     .type = CONFIG_INT,
     .min = 1,
     .max = 600000,
     .def = "5000",
     FIELD(mail_retry_base_ms),
     .doc = "first mail retry delay"},
    {.name = "PUSHGATE_WEBHOOK_RETRY_BASE_MS",
     .type = CONFIG_INT,
     .min = 1,
     .max = 600000,
     .def = "5000",
     FIELD(webhook_retry_base_ms),
     .doc = "first webhook retry delay"},
    {.name = "PUSHGATE_HTTP_HEAD_TIMEOUT",
     .type = CONFIG_INT,
     .min = 1,
     .max = 300,
     .def = "10",
     FIELD(http_head_timeout),
     .doc = "seconds for a request (head and body) to arrive"},
    {.name = "PUSHGATE_HTTP_MAX_CONNECTIONS",
     .type = CONFIG_INT,
     .min = 0,
     .max = 10000000,
     .def = "0",
     FIELD(http_max_connections),
     .doc = "open client connections per process (0: the descriptor limit less a reserve)"},
    {.name = "PUSHGATE_HTTP_MAX_PER_ADDRESS",
     .type = CONFIG_INT,
     .min = 0,
     .max = 10000000,
     .def = "256",
     FIELD(http_max_per_address),
     .doc = "open connections per client address (0: no cap)"},
    {.name = "PUSHGATE_HTTP_CAP_LOOPBACK",
     .type = CONFIG_BOOL,
     .def = "false",
     FIELD(http_cap_loopback),
     .doc = "apply the per-address cap to loopback clients too"},
    {.name = "PUSHGATE_SMTP_TLS",
     .type = CONFIG_ENUM,
     .choices = smtp_tls_modes,
     .def = "required",
     FIELD(smtp_tls),
     .doc = "TLS to the mail relay (required except to a loopback address)"},
    {.name = "PUSHGATE_AUTH_FAILURE_LIMIT",
     .type = CONFIG_INT,
     .min = 1,
     .max = 100000,
     .def = "20",
     FIELD(auth_failure_limit),
     .doc = "failed credentials per client address before 429"},
    {.name = "PUSHGATE_AUTH_FAILURE_WINDOW_SECONDS",
     .type = CONFIG_INT,
     .min = 1,
     .max = 86400,
     .def = "300",
     FIELD(auth_failure_window),
     .doc = "the window those failures are counted in"},
    {.name = "PUSHGATE_MFA_SEND_BUDGET_PER_HOUR",
     .type = CONFIG_INT,
     .min = 1,
     .max = 10000000,
     .def = "1000",
     FIELD(mfa_send_budget),
     .doc = "email/SMS codes per application per hour"},
    {.name = "PUSHGATE_TRUSTED_PROXIES",
     .type = CONFIG_STRING,
     FIELD(trusted_proxies),
     .doc = "addresses or CIDR ranges whose X-Forwarded-For is believed"},
    {.name = "PUSHGATE_TLS_CERT",
     .type = CONFIG_STRING,
     FIELD(tls_cert),
     .doc = "PEM certificate chain: serve HTTPS (with PUSHGATE_TLS_KEY)"},
    {.name = "PUSHGATE_TLS_KEY",
     .type = CONFIG_STRING,
     FIELD(tls_key),
     .doc = "PEM private key of PUSHGATE_TLS_CERT"},
    {.name = "PUSHGATE_MAX_HELD",
     .type = CONFIG_INT,
     .min = 1,
     .max = 10000000,
     .def = "50000",
     FIELD(max_held),
     .doc = "held requests (auth and device polls) per process; beyond: 503"},
    {.name = "PUSHGATE_WORKERS",
     .type = CONFIG_INT,
     .min = 1,
     .max = 64,
     .def = "1",
     FIELD(workers),
     .doc = "serve: processes sharing the listening port (SO_REUSEPORT)"},
    {.name = "PUSHGATE_MAX_HELD_PER_APP",
     .type = CONFIG_INT,
     .min = 1,
     .max = 10000000,
     .def = "10000",
     FIELD(max_held_per_app),
     .doc = "held POST /auth and GET /auth/{id}?wait per application per process; beyond: 429"},
};
const size_t config_nvars = sizeof config_vars / sizeof *config_vars;

const char *config_var_default(const struct config_var *v)
{
    if (v->flags & CONFIG_REQUIRED)
        return "required";
    return v->def ? v->def : v->shown ? v->shown : "unset";
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
    c->listen_host = xstrndup(h, hlen);
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) {
        *out = 0;
        return 0;
    }
    return -1;
}

static int choice_index(const char *s, const char *const *choices)
{
    for (int i = 0; choices[i]; i++)
        if (!strcmp(s, choices[i]))
            return i;
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

static int is_plain_address(const char *s)
{
    return strchr(s, '@') && !strpbrk(s, "\r\n<> ");
}

/* Numbers go into int or bool fields; the row's size says which. */
static int store_int(void *field, size_t size, int v)
{
    if (size == sizeof(int))
        *(int *)field = v;
    else if (size == sizeof(bool))
        *(bool *)field = v != 0;
    else
        return STORE_FAILED;
    return 0;
}

static int store_string(void *field, size_t size, const char *s)
{
    if (size != sizeof(char *))
        return STORE_FAILED;
    *(char **)field = xstrdup(s);
    return 0;
}

/* Parses s (non-empty) into v's field; -1 when it is not a valid value. */
static int parse_var(struct config *c, const struct config_var *v, const char *s)
{
    void *field = (char *)c + v->offset;
    int n;
    switch (v->type) {
    case CONFIG_STRING:
        return strlen(s) < (size_t)v->min ? -1 : store_string(field, v->size, s);
    case CONFIG_INT:
        return parse_int(s, v->min, v->max, &n) < 0 ? -1 : store_int(field, v->size, n);
    case CONFIG_BOOL:
        return parse_bool(s, &n) < 0 ? -1 : store_int(field, v->size, n);
    case CONFIG_ENUM:
        n = choice_index(s, v->choices);
        return n < 0 ? -1 : store_int(field, v->size, n);
    case CONFIG_URL:
    case CONFIG_BASE_URL:
        return url_has_scheme(s, v->choices) ? store_string(field, v->size, s) : -1;
    case CONFIG_LISTEN:
        return parse_listen(c, s);
    case CONFIG_EMAIL:
        return is_plain_address(s) ? store_string(field, v->size, s) : -1;
    }
    return -1;
}

/* "a or b", or "one of a, b, c". */
static void join_choices(const char *const *choices, char *out, size_t outlen)
{
    size_t n = 0;
    while (choices[n])
        n++;
    if (n == 2) {
        snprintf(out, outlen, "%s or %s", choices[0], choices[1]);
        return;
    }
    size_t len = (size_t)snprintf(out, outlen, "one of");
    for (size_t i = 0; i < n && len < outlen; i++)
        len += (size_t)snprintf(out + len, outlen - len, "%s %s", i ? "," : "", choices[i]);
}

/* What a valid value of v looks like; names the variable, never the value. */
static void describe_error(const struct config_var *v, char *err, size_t errlen)
{
    char list[96];
    switch (v->type) {
    case CONFIG_INT:
        snprintf(err, errlen, "%s must be an integer from %d to %d", v->name, v->min, v->max);
        return;
    case CONFIG_BOOL:
        snprintf(err, errlen, "%s must be true or false", v->name);
        return;
    case CONFIG_ENUM:
        join_choices(v->choices, list, sizeof list);
        snprintf(err, errlen, "%s must be %s", v->name, list);
        return;
    case CONFIG_URL:
    case CONFIG_BASE_URL:
        join_choices(v->choices, list, sizeof list);
        snprintf(err, errlen, "%s must start with %s", v->name, list);
        return;
    case CONFIG_LISTEN:
        snprintf(err, errlen, "%s must be address:port, e.g. 127.0.0.1:8080 (port 0 picks one)",
                 v->name);
        return;
    case CONFIG_EMAIL:
        snprintf(err, errlen, "%s must be a plain email address", v->name);
        return;
    case CONFIG_STRING:
        if (v->min > 0) {
            snprintf(err, errlen, "%s must be at least %d characters", v->name, v->min);
            return;
        }
        break;
    }
    snprintf(err, errlen, "%s is not valid", v->name); /* strings are always valid */
}

static void trim_trailing_slashes(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
}

/* Values derived from several variables, after the table. */
static void derive(struct config *c)
{
    c->public_url_set = c->public_url != NULL;
    if (c->public_url_set) {
        trim_trailing_slashes(c->public_url);
        return;
    }
    int bracket = strchr(c->listen_host, ':') != NULL;
    c->public_url = xasprintf("%s://%s%s%s:%d", c->tls_cert ? "https" : "http", bracket ? "[" : "",
                              c->listen_host, bracket ? "]" : "", c->listen_port);
}

/* Parsed again by io/http.c at start; here so that a typo stops the start (and
 * `pushgated config`) with a message that names the entry, not its text. */
static int check_trusted_proxies(const char *text, char *err, size_t errlen)
{
    struct netmask_list l;
    size_t bad = netmask_list_parse(text, &l);
    netmask_list_free(&l);
    if (!bad)
        return 0;
    snprintf(err, errlen,
             "PUSHGATE_TRUSTED_PROXIES: entry %zu is not an IP address or CIDR range "
             "(comma-separated, e.g. 127.0.0.1, 10.0.0.0/8, 2001:db8::/32; no host bits "
             "beyond the prefix)",
             bad);
    return -1;
}

int config_load(struct config *c, config_lookup_fn get, void *ctx, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < config_nvars; i++) {
        const struct config_var *v = &config_vars[i];
        const char *s = get(v->name, ctx);
        if (!s || !*s)
            s = v->def; /* empty counts as unset */
        if (!s && (v->flags & CONFIG_REQUIRED)) {
            snprintf(err, errlen, "%s is required (%s)", v->name, v->doc);
            return -1;
        }
        int rc = s ? parse_var(c, v, s) : 0;
        if (rc == STORE_FAILED) {
            snprintf(err, errlen, "%s: cannot keep the value (its field does not fit)", v->name);
            return -1;
        }
        if (rc < 0) {
            describe_error(v, err, errlen);
            return -1;
        }
    }
    if (c->audit_seal_age > 0 && c->audit_seal_age < CONFIG_STATEMENT_TIMEOUT_S) {
        /* a row's transaction may commit that late: it would look left unsealed */
        snprintf(err, errlen,
                 "PUSHGATE_AUDIT_SEAL_AGE must be 0 or at least the statement timeout (%d s)",
                 CONFIG_STATEMENT_TIMEOUT_S);
        return -1;
    }
    if (c->trusted_proxies && check_trusted_proxies(c->trusted_proxies, err, errlen) < 0)
        return -1;
    if (!c->tls_cert != !c->tls_key) { /* half a TLS setup would silently serve plain HTTP */
        snprintf(err, errlen, "PUSHGATE_TLS_CERT and PUSHGATE_TLS_KEY must be set together");
        return -1;
    }
    derive(c);
    return 0;
}

static bool holds_string(enum config_type t)
{
    return t == CONFIG_STRING || t == CONFIG_URL || t == CONFIG_BASE_URL || t == CONFIG_LISTEN ||
           t == CONFIG_EMAIL;
}

/* An int or bool field as int; the row's size says which (see store_int). */
static int load_int(const void *field, size_t size)
{
    return size == sizeof(int) ? *(const int *)field : *(const bool *)field;
}

int config_var_format(const struct config *c, const struct config_var *v, char *buf, size_t len)
{
    const void *field = (const char *)c + v->offset;
    int n = v->type == CONFIG_INT || v->type == CONFIG_BOOL || v->type == CONFIG_ENUM
                ? load_int(field, v->size)
                : 0;
    const char *s = holds_string(v->type) ? *(char *const *)field : NULL;
    if (v->type == CONFIG_INT)
        snprintf(buf, len, "%d", n);
    else if (v->type == CONFIG_BOOL)
        snprintf(buf, len, "%s", n ? "true" : "false");
    else if (v->type == CONFIG_ENUM)
        snprintf(buf, len, "%s", v->choices[n]);
    else if (!s)
        return -1;
    else if (v->flags & CONFIG_SECRET)
        snprintf(buf, len, "(secret)");
    else if (v->type == CONFIG_LISTEN)
        snprintf(buf, len, strchr(s, ':') ? "[%s]:%d" : "%s:%d", s, c->listen_port);
    else
        snprintf(buf, len, "%s", s);
    return 0;
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

/* Every string field is some row's field (listen_host is PUSHGATE_LISTEN's,
 * a derived public_url is PUSHGATE_PUBLIC_URL's). */
void config_free(struct config *c)
{
    for (size_t i = 0; i < config_nvars; i++) {
        if (!holds_string(config_vars[i].type))
            continue;
        char **field = (char **)((char *)c + config_vars[i].offset);
        free(*field);
        *field = NULL;
    }
}
