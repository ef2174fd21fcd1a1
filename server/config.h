/* config: the PUSHGATE_* environment variables of api.md section 10.
 *
 * config_load() validates every value; on failure it returns -1 and writes a
 * message naming the offending variable into err. Strings in struct config
 * are owned by it and released by config_free(). */
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
    bool public_url_set; /* false: derived from the listen address */
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
};

/* Looks a variable up; returns NULL when unset. */
typedef const char *(*config_getenv_fn)(const char *name, void *ctx);

int config_load(struct config *c, config_getenv_fn get, void *ctx, char *err, size_t errlen);
/* config_load() with the process environment. */
int config_load_env(struct config *c, char *err, size_t errlen);
void config_free(struct config *c);

#endif
