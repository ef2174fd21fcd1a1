/* audit: the sealer of the tamper-evident audit log.
 *
 * Triggers (sql/007_audit.sql) append audit rows in the same transaction as
 * each change. Every second this module reads the chain's head and the next
 * committed, unsealed rows at least PUSHGATE_AUDIT_SEAL_AGE seconds old, MACs
 * them in C under the chain key (auditchain.h; derived from the master key,
 * never sent to the database) and stores the block with audit_seal_store()
 * (sql/020_audit_keyed.sql). When the head in the database goes backwards or
 * changes behind it, it stops sealing and logs an error. Async statements
 * only (event loop). `pushgated audit verify` (cli_audit.c) walks the chain. */
#ifndef PUSHGATE_AUDIT_H
#define PUSHGATE_AUDIT_H

#include "config.h"

#include <libpq-fe.h>

struct server;
struct audit;

/* srv->master_key must be loaded. */
struct audit *audit_new(struct server *srv);
void audit_free(struct audit *a);

/* pushgated audit verify [--expect-head HASH]: 0 when the chain is intact.
 * BLOCKING (CLI). */
int cli_audit(const struct config *cfg, int argc, char **argv);

/* The re-key step of `pushgated migrate`: when 020 kept an old plain-SHA-256
 * chain (audit_seals_v1), verifies it and re-seals its blocks under the chain
 * key, in one transaction; refuses (message on stderr, nothing changed) when it
 * does not verify or PUSHGATE_KEY_FILE does not exist. 0 ok or nothing to do,
 * 1 refused or failed. BLOCKING (CLI). */
int audit_rekey(PGconn *pg, const struct config *cfg);

#endif
