/* auditchain: the MACs of the keyed audit chain (sql/020_audit_keyed.sql),
 * shared by the sealer (audit.c) and `pushgated audit verify` (cli_audit.c),
 * which must compute exactly the same bytes. Pure computation, no I/O.
 *
 * The key is derived from the master key (keys_derive, "pushgate audit chain
 * v1") and never sent to the database, so whoever can write SQL can store
 * MACs but not compute them. */
#ifndef PUSHGATE_AUDITCHAIN_H
#define PUSHGATE_AUDITCHAIN_H

#include "keys.h"

#include <libpq-fe.h>

#define AUDITCHAIN_MAC_LEN 32

/* The row columns a MAC covers, in order, as text (AUDITCHAIN_ROW_NCOLS of them);
 * select them from audit_log aliased `a`. `at` is formatted in UTC so the
 * session's time zone does not matter. */
#define AUDITCHAIN_ROW_SQL                                                                         \
    "a.id::text, to_char(a.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), a.app_id, "     \
    "a.event, a.subject, a.data::text"
#define AUDITCHAIN_ROW_NCOLS 6

/* The chain key for this master key. 0 ok, -1 on an OpenSSL failure. */
int auditchain_key(const unsigned char master[KEYS_MASTER_LEN],
                   unsigned char key[AUDITCHAIN_MAC_LEN]);

/* out = HMAC(key, prev || the row's bytes), the row being columns col ..
 * col + AUDITCHAIN_ROW_NCOLS - 1 of row i of r (each length-prefixed, NULL
 * distinct from ""). prev: the previous sealed row's MAC, NULL for the first. */
void auditchain_row_mac(const unsigned char key[AUDITCHAIN_MAC_LEN], const unsigned char *prev,
                        const PGresult *r, int i, int col, unsigned char out[AUDITCHAIN_MAC_LEN]);

/* out = HMAC(key, "block" || seq || rows || prev_block || last_row), the numbers
 * as 8-byte big-endian; prev_block NULL for block 1 (32 zero bytes). */
void auditchain_block_mac(const unsigned char key[AUDITCHAIN_MAC_LEN], long long seq,
                          long long rows, const unsigned char *prev_block,
                          const unsigned char last_row[AUDITCHAIN_MAC_LEN],
                          unsigned char out[AUDITCHAIN_MAC_LEN]);

/* 64 lowercase hex digits and a NUL. */
void auditchain_hex(const unsigned char mac[AUDITCHAIN_MAC_LEN],
                    char out[2 * AUDITCHAIN_MAC_LEN + 1]);

/* A bytea column's value (PQunescapeBytea of text output) as a MAC: 1 when it
 * is exactly 32 bytes (copied to out), 0 otherwise (NULL, other lengths). */
int auditchain_get_mac(const PGresult *r, int i, int col, unsigned char out[AUDITCHAIN_MAC_LEN]);

#endif
