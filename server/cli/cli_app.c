#include "appsecret.h"
#include "audit.h"
#include "cli.h"
#include "keys.h"
#include "log.h"
#include "migrate.h"
#include "protocol/token.h"
#include "whsig.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

PGconn *cli_connect(const struct config *cfg)
{
    PGconn *pg = PQconnectdb(cfg->database_url);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "pushgated: cannot connect to the database: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    if (migrate_run(pg) < 0) {
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

int cli_migrate(const struct config *cfg)
{
    PGconn *pg = cli_connect(cfg);
    if (!pg)
        return 1;
    int rc = audit_rekey(pg, cfg); /* 020: an old audit chain becomes a keyed one */
    PQfinish(pg);
    if (rc)
        return 1;
    printf("{\"schemaVersion\": %d}\n", migrate_latest_version());
    return 0;
}

static void print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_INDENT(2));
    puts(s);
    free(s);
    json_decref(o);
}

/* Runs a parameterized statement; returns the result or NULL (reported). */
static PGresult *run(PGconn *pg, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    fprintf(stderr, "pushgated: database error: %s", PQresultErrorMessage(r));
    PQclear(r);
    return NULL;
}

static int app_create(PGconn *pg, const char *name)
{
    size_t len = strlen(name);
    if (len < 1 || len > 200) {
        fprintf(stderr, "pushgated: --name must be 1 to 200 characters\n");
        return 1;
    }
    char secret[64], hash[65];
    char *id = token_new_id("a_", 12);
    if (!id || appsecret_new(secret, hash) < 0) {
        fprintf(stderr, "pushgated: random generator failed\n");
        free(id);
        return 1;
    }
    const char *p[] = {id, name, hash};
    PGresult *r =
        run(pg, "INSERT INTO applications (id, name, secret_hash) VALUES ($1, $2, $3)", 3, p);
    int rc = r ? 0 : 1;
    if (r)
        print_json(json_pack("{s:s, s:s, s:s}", "applicationId", id, "applicationSecret", secret,
                             "name", name));
    PQclear(r);
    free(id);
    return rc;
}

static int app_list(PGconn *pg)
{
    PGresult *r = run(pg,
                      "SELECT id, name, status, rfc3339(created_at), webhook_url FROM applications "
                      "ORDER BY created_at, id",
                      0, NULL);
    if (!r)
        return 1;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:s, s:o}", "applicationId", PQgetvalue(r, i, 0),
                           "name", PQgetvalue(r, i, 1), "status", PQgetvalue(r, i, 2), "createdAt",
                           PQgetvalue(r, i, 3), "webhookUrl",
                           PQgetisnull(r, i, 4) ? json_null() : json_string(PQgetvalue(r, i, 4))));
    PQclear(r);
    print_json(arr);
    return 0;
}

/* UPDATE ... WHERE id = $1; reports an unknown id. */
static int update_one(PGconn *pg, const char *sql, int n, const char *const *p)
{
    PGresult *r = run(pg, sql, n, p);
    if (!r)
        return 1;
    int rows = atoi(PQcmdTuples(r));
    PQclear(r);
    if (rows == 0) {
        fprintf(stderr, "pushgated: no application with id %s\n", p[0]);
        return 1;
    }
    return 0;
}

static int app_rotate(PGconn *pg, const char *id)
{
    char secret[64], hash[65];
    if (appsecret_new(secret, hash) < 0)
        return 1;
    const char *p[] = {id, hash};
    if (update_one(pg, "UPDATE applications SET secret_hash = $2, updated_at = now() WHERE id = $1",
                   2, p))
        return 1;
    print_json(json_pack("{s:s, s:s}", "applicationId", id, "applicationSecret", secret));
    return 0;
}

static int app_disable(PGconn *pg, const char *id)
{
    const char *p[] = {id};
    if (update_one(pg,
                   "UPDATE applications SET status = 'disabled', updated_at = now() WHERE id = $1",
                   1, p))
        return 1;
    print_json(json_pack("{s:s, s:s}", "applicationId", id, "status", "disabled"));
    return 0;
}

/* http:// or https:// with a host, nothing else (curl's URL parser: what the
 * deliverer will use), at most 2000 bytes. */
static bool webhook_url_ok(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    bool ok = u && strlen(url) <= 2000 && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host[0] &&
              (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "https"));
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* Sets (url) or clears (NULL) the webhook through app_webhook_set (sql/040). */
static int webhook_store(PGconn *pg, const char *id, const char *url, const char *sealed)
{
    const char *p[] = {id, url, sealed};
    PGresult *r = run(pg, "SELECT app_webhook_set($1, $2, $3::bytea)", 3, p);
    if (!r)
        return 1;
    int found = !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    if (!found)
        fprintf(stderr, "pushgated: no application with id %s\n", id);
    return found ? 0 : 1;
}

/* A new URL gets a new secret, shown this once, stored sealed (whsig.h). */
static int app_webhook_set(PGconn *pg, const struct config *cfg, const char *id, const char *url)
{
    unsigned char master[KEYS_MASTER_LEN], raw[WHSIG_SECRET_LEN];
    char err[256], text[WHSIG_SECRET_TEXT];
    if (keys_load_master(cfg->key_file, master, err, sizeof err) < 0) {
        fprintf(stderr, "pushgated: %s\n", err);
        return 1;
    }
    char *sealed =
        whsig_secret_new(raw, text) == 0 ? whsig_seal(master, id, raw, sizeof raw) : NULL;
    OPENSSL_cleanse(master, sizeof master);
    OPENSSL_cleanse(raw, sizeof raw);
    int rc = 1;
    if (!sealed)
        fprintf(stderr, "pushgated: cannot make the webhook secret\n");
    else if ((rc = webhook_store(pg, id, url, sealed)) == 0)
        print_json(json_pack("{s:s, s:s, s:s}", "applicationId", id, "webhookUrl", url,
                             "webhookSecret", text));
    free(sealed);
    OPENSSL_cleanse(text, sizeof text);
    return rc;
}

static int app_webhook_clear(PGconn *pg, const char *id)
{
    if (webhook_store(pg, id, NULL, NULL))
        return 1;
    print_json(json_pack("{s:s, s:n}", "applicationId", id, "webhookUrl"));
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: pushgated app create --name NAME | app list | "
                    "app rotate-secret APP_ID | app disable APP_ID | "
                    "app webhook APP_ID (--url URL | --clear)\n");
    return 2;
}

/* argv: app webhook APP_ID --url URL | --url=URL | --clear */
static int cli_app_webhook(const struct config *cfg, int argc, char **argv)
{
    const char *url = NULL;
    bool clear = argc == 4 && !strcmp(argv[3], "--clear");
    if (argc == 5 && !strcmp(argv[3], "--url"))
        url = argv[4];
    else if (argc == 4 && !strncmp(argv[3], "--url=", 6))
        url = argv[3] + 6;
    else if (!clear)
        return usage();
    if (url && !webhook_url_ok(url)) {
        fprintf(stderr, "pushgated: --url must be an http:// or https:// URL with a host\n");
        return 2;
    }
    PGconn *pg = cli_connect(cfg);
    if (!pg)
        return 1;
    int rc = url ? app_webhook_set(pg, cfg, argv[2], url) : app_webhook_clear(pg, argv[2]);
    PQfinish(pg);
    return rc;
}

/* argv[0] is "app" */
int cli_app(const struct config *cfg, int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *sub = argv[1];
    const char *name = NULL;
    if (!strcmp(sub, "webhook"))
        return cli_app_webhook(cfg, argc, argv);
    if (!strcmp(sub, "create")) {
        if (argc == 4 && !strcmp(argv[2], "--name"))
            name = argv[3];
        else if (argc == 3 && !strncmp(argv[2], "--name=", 7))
            name = argv[2] + 7;
        else
            return usage();
    } else if (!strcmp(sub, "list") ? argc != 2 : argc != 3) {
        return usage();
    }
    PGconn *pg = cli_connect(cfg);
    if (!pg)
        return 1;
    int rc;
    if (!strcmp(sub, "create"))
        rc = app_create(pg, name);
    else if (!strcmp(sub, "list"))
        rc = app_list(pg);
    else if (!strcmp(sub, "rotate-secret"))
        rc = app_rotate(pg, argv[2]);
    else if (!strcmp(sub, "disable"))
        rc = app_disable(pg, argv[2]);
    else
        rc = usage();
    PQfinish(pg);
    return rc;
}
