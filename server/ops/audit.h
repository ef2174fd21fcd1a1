/* audit: the sealer of the tamper-evident audit log.
 *
 * Triggers (sql/007_audit.sql) append audit rows in the same transaction as
 * each change. Every second this module asks the database to seal the next
 * block of rows at least PUSHGATE_AUDIT_SEAL_AGE seconds old (default 10)
 * with audit_seal() (sql/007_audit.sql), which one instance at a time
 * actually runs. `pushgated audit verify` (cli_audit.c) walks the blocks. */
#ifndef PUSHGATE_AUDIT_H
#define PUSHGATE_AUDIT_H

#include "config.h"

struct server;
struct audit;

struct audit *audit_new(struct server *srv);
void audit_free(struct audit *a);

/* pushgated audit verify: 0 when the chain is intact. BLOCKING (CLI). */
int cli_audit(const struct config *cfg, int argc, char **argv);

#endif
