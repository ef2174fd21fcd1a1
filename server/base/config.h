/* config: the PUSHGATE_* environment variables of api.md section 10, plus a
 * few knobs of our own.
 *
 * Every variable is declared once, in config_vars[] (config.c): its name,
 * type, range, default and the struct config field it fills. config_load()
 * walks that table, then runs the checks that involve several variables; on
 * failure it returns -1 and writes a message naming the offending variable
 * (never its value) into err. Nothing else in the server reads the
 * environment. Strings in struct config are owned by it and released by
 * config_free(), also after a failed config_load(). */
#ifndef PUSHGATE_CONFIG_H
#define PUSHGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct config {
    char *database_url;  /* required */
    char *listen_host;   /* from PUSHGATE_LISTEN */
    int listen_port;     /* 0 = pick a free port */
    char *port_file;     /* PUSHGATE_PORT_FILE, may be NULL */
    char *public_url;    /* without trailing slash */
    bool public_url_set; /* false: derived from the listen address (https with TLS) */
    char *smtp_url;      /* NULL = write .eml files */
    char *mail_dir;
    char *mail_from;
    char *sms_webhook_url;
    char *admin_token; /* NULL = no admin access */
    char *key_file;
    bool require_code;
    int log_level; /* enum log_level */
    bool log_json;
    int db_pool_size;       /* PUSHGATE_DB_POOL_SIZE, 1..64, default 4 */
    int db_batch_max;       /* PUSHGATE_DB_BATCH_MAX, 1..32 (1: no group commit), default 16 */
    int drain_seconds;      /* PUSHGATE_DRAIN_SECONDS, 0..25, default 10 */
    int metrics_db_seconds; /* PUSHGATE_METRICS_DB_SECONDS, 0..3600, default 15 */
    int audit_seal_age;     /* PUSHGATE_AUDIT_SEAL_AGE, seconds, 0..3600, default 10 */
    int mail_retry_base_ms; /* PUSHGATE_MAIL_RETRY_BASE_MS, 1..600000, default 5000 */
    /* PUSHGATE_WEBHOOK_RETRY_BASE_MS, 1..600000, default 5000 */
    int webhook_retry_base_ms;
    /* the HTTP front end's connection guard (io/connguard.h) */
    int http_head_timeout;    /* PUSHGATE_HTTP_HEAD_TIMEOUT, seconds, 1..300, default 10 */
    int http_max_connections; /* PUSHGATE_HTTP_MAX_CONNECTIONS, 0: fd limit less a reserve */
    int http_max_per_address; /* PUSHGATE_HTTP_MAX_PER_ADDRESS, 0: no cap, default 256 */
    bool http_cap_loopback;   /* PUSHGATE_HTTP_CAP_LOOPBACK, default false */
    int smtp_tls;             /* PUSHGATE_SMTP_TLS: enum config_smtp_tls, default required */
    int auth_failure_limit;   /* PUSHGATE_AUTH_FAILURE_LIMIT, 1..100000, default 20 */
    int auth_failure_window;  /* PUSHGATE_AUTH_FAILURE_WINDOW_SECONDS, 1..86400, default 300 */
    int mfa_send_budget;      /* PUSHGATE_MFA_SEND_BUDGET_PER_HOUR, 1..10000000, default 1000 */
    /* PUSHGATE_TRUSTED_PROXIES as written (checked by config_load: base/netmask.h);
     * NULL: no X-Forwarded-For is believed (io/http.c) */
    char *trusted_proxies;
    char *tls_cert;       /* PUSHGATE_TLS_CERT: NULL = plain HTTP (io/tls.h) */
    char *tls_key;        /* PUSHGATE_TLS_KEY: set exactly when tls_cert is */
    int max_held;         /* PUSHGATE_MAX_HELD, 1..10000000, default 50000 (io/hold.h) */
    int max_held_per_app; /* PUSHGATE_MAX_HELD_PER_APP, 1..10000000, default 10000 */
    int workers;          /* PUSHGATE_WORKERS, 1..64, default 1 (app/workers.h) */
};

/* The statement_timeout of every server connection (server/io/db.c): no transaction
 * of ours stays open longer, so PUSHGATE_AUDIT_SEAL_AGE must not be shorter (0,
 * "seal once committed", is allowed; `audit verify` then allows this long). */
#define CONFIG_STATEMENT_TIMEOUT_S 5

/* PUSHGATE_SMTP_TLS, in the order of its choices (api.md 10). */
enum config_smtp_tls { SMTP_TLS_REQUIRED, SMTP_TLS_OPTIONAL, SMTP_TLS_NONE };

enum config_type {
    CONFIG_STRING,   /* any non-empty text; at least min characters */
    CONFIG_INT,      /* decimal integer in min..max */
    CONFIG_BOOL,     /* true/false (also 1/0, yes/no) */
    CONFIG_ENUM,     /* one of choices; the field gets its index */
    CONFIG_URL,      /* starts with one of schemes */
    CONFIG_BASE_URL, /* CONFIG_URL without trailing slashes */
    CONFIG_LISTEN,   /* host:port or [v6]:port; fills listen_host and listen_port */
    CONFIG_EMAIL,    /* a plain address: no display name, no header injection */
};

#define CONFIG_REQUIRED 1u /* unset or empty stops the start */
#define CONFIG_SECRET 2u   /* its value must never be printed (it may carry a password) */

/* One row of config_vars[]. An unset or empty variable takes def; def NULL
 * leaves the field NULL (strings) unless shown says what is derived instead. */
struct config_var {
    const char *name;
    enum config_type type;
    unsigned flags;
    int min, max;               /* CONFIG_INT */
    const char *const *choices; /* CONFIG_ENUM, CONFIG_URL, CONFIG_BASE_URL: NULL-terminated */
    const char *def;            /* as the variable would spell it */
    const char *shown;          /* default as documented when def is NULL and it is derived */
    size_t offset, size;        /* the struct config field */
    const char *doc;            /* one line; the hint of a required variable's message */
};

extern const struct config_var config_vars[];
extern const size_t config_nvars;

/* The default as docs/operations.md writes it: def, shown, "required" or "unset". */
const char *config_var_default(const struct config_var *v);

/* Writes v's effective value in c as the variable would spell it (a derived
 * PUSHGATE_PUBLIC_URL included); a CONFIG_SECRET value that is set is written
 * as "(secret)". Returns -1 when the variable is unset and nothing is derived. */
int config_var_format(const struct config *c, const struct config_var *v, char *buf, size_t len);

/* Looks a variable up; returns NULL when unset. */
typedef const char *(*config_lookup_fn)(const char *name, void *ctx);

int config_load(struct config *c, config_lookup_fn get, void *ctx, char *err, size_t errlen);
/* config_load() with the process environment. */
int config_load_env(struct config *c, char *err, size_t errlen);
void config_free(struct config *c);

#endif
