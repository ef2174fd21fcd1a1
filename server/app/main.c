/* pushgated: subcommand dispatch. Configuration comes from PUSHGATE_*
 * (api.md section 10) and is checked before anything else runs, except for
 * "evidence verify", which is offline and reads no configuration, and
 * "--version"/"version", which answer without configuration or database (a
 * package's smoke test, an operator checking an upgrade). */
#include "alloc.h"
#include "audit.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "migrate.h"
#include "serve.h"
#include "workers.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static int usage(FILE *f)
{
    fprintf(f, "usage: pushgated [serve | migrate | app ... | user unlock APP_ID USERNAME | key "
               "rotate | audit verify | config | evidence verify --jwks F --device-key F]\n"
               "       pushgated --version | version\n"
               "configuration: PUSHGATE_* environment variables (see docs/operations.md)\n");
    return f == stdout ? 0 : 2;
}

#ifndef PUSHGATE_VERSION
#error "PUSHGATE_VERSION (the CMake project version) must be defined by the build"
#endif

/* The release (CMake's project VERSION) and the schema version this binary
 * migrates to (its highest embedded migration, what /readyz waits for). */
static int version(int as_json)
{
    if (as_json)
        printf("{\"version\": \"%s\", \"schemaVersion\": %d}\n", PUSHGATE_VERSION,
               migrate_latest_version());
    else
        printf("pushgated %s (schema %d)\n", PUSHGATE_VERSION, migrate_latest_version());
    return 0;
}

int main(int argc, char **argv)
{
    alloc_install();          /* before jansson or libevent allocate anything */
    signal(SIGPIPE, SIG_IGN); /* a peer that hangs up must not kill the server */
    const char *cmd = argc > 1 ? argv[1] : "serve";
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help"))
        return usage(stdout);
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version"))
        return version(!strcmp(cmd, "version"));
    if (!strcmp(cmd, "evidence")) /* offline: needs no configuration (api.md 7.1) */
        return cli_evidence(argc - 1, argv + 1);
    struct config cfg;
    char err[256];
    if (config_load_env(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "pushgated: configuration error: %s\n", err);
        config_free(&cfg);
        return 2;
    }
    log_setup(cfg.log_level, cfg.log_json);
    int rc;
    if (!strcmp(cmd, "serve"))
        rc = cfg.workers > 1 ? workers_main(&cfg) : serve_main(&cfg);
    else if (!strcmp(cmd, "migrate"))
        rc = cli_migrate(&cfg);
    else if (!strcmp(cmd, "app"))
        rc = cli_app(&cfg, argc - 1, argv + 1);
    else if (!strcmp(cmd, "audit"))
        rc = cli_audit(&cfg, argc - 1, argv + 1);
    else if (!strcmp(cmd, "key"))
        rc = cli_key(&cfg, argc - 1, argv + 1);
    else if (!strcmp(cmd, "user"))
        rc = cli_user(&cfg, argc - 1, argv + 1);
    else if (!strcmp(cmd, "config"))
        rc = cli_config(&cfg, argc - 1, argv + 1);
    else
        rc = usage(stderr);
    config_free(&cfg);
    return rc;
}
