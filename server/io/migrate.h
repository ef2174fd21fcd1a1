/* migrate: numbered SQL migrations (sql/NNN_name.sql, embedded at build
 * time), applied in order, each in its own transaction under an advisory
 * lock, recorded in schema_migrations. Idempotent and safe when several
 * instances start at once. BLOCKING: used by the CLI and before the event
 * loop starts, never on the loop. */
#ifndef PUSHGATE_MIGRATE_H
#define PUSHGATE_MIGRATE_H

#include <libpq-fe.h>

struct migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct migration migrations[];
extern const int migrations_count;

/* The highest version this binary knows. */
int migrate_latest_version(void);

/* Applies what is missing; logs each applied step. 0 ok, -1 error (logged). */
int migrate_run(PGconn *pg);

#endif
