/* cli: the operator subcommands of api.md section 3 (app create|list|
 * rotate-secret|disable, user unlock, migrate). They talk to the database
 * directly with BLOCKING libpq calls; they never run inside the server's
 * event loop. Output is JSON on stdout; errors go to stderr with exit 1. */
#ifndef PUSHGATE_CLI_H
#define PUSHGATE_CLI_H

#include "config.h"

#include <libpq-fe.h>

/* Connects and applies migrations; NULL (logged) on failure. */
PGconn *cli_connect(const struct config *cfg);

int cli_migrate(const struct config *cfg);
int cli_app(const struct config *cfg, int argc, char **argv);
int cli_user(const struct config *cfg, int argc, char **argv);
int cli_key(const struct config *cfg, int argc, char **argv);
/* pushgated config: prints the effective configuration; no database. */
int cli_config(const struct config *cfg, int argc, char **argv);
/* pushgated evidence verify: offline check of api.md 7.1; no configuration, no
 * database (main.c dispatches it before loading the configuration). */
int cli_evidence(int argc, char **argv);

#endif
