/* dbbatch: group commit for the pool (db.c). Statements of one kind that are
 * queued for a connection at the same moment go to PostgreSQL as ONE call of a
 * set-returning function that runs them one after another in one transaction
 * (sql/009_batches.sql): one round trip and one commit for the lot.
 *
 * Contract of a batch statement (struct db_batch.sql):
 *  - parameter k is a text[] of every item's k-th parameter, in queue order;
 *  - it returns the rows each item would have returned alone, in the same
 *    columns, followed by one more column: the item's 1-based index.
 * Nothing is batched unless statements are already waiting: a lone statement
 * goes out at once, exactly as db_query() sends it.
 *
 * The two helpers here are pure (no connection, no loop): the pool uses them,
 * and tests/unit/test_dbbatch.c checks them. */
#ifndef PUSHGATE_DBBATCH_H
#define PUSHGATE_DBBATCH_H

#include <libpq-fe.h>

#define DB_BATCH_MAX 32 /* items per statement, at most */

struct db_batch {
    const char *sql; /* a string literal: the pool prepares statements by address */
    int max;         /* items per statement, 2..DB_BATCH_MAX */
};

/* The PostgreSQL array literal of n values ("{"a",NULL,"b\"c"}"): every value
 * quoted, '"' and '\' escaped, NULL pointers as NULL. malloc'd, never NULL. */
char *dbbatch_array(const char *const *vals, int n);

/* A new result holding the rows of res whose last column equals item (1-based),
 * with res's columns (the index column included); 0 rows when it has none.
 * The caller PQclear()s it. NULL on OOM. */
PGresult *dbbatch_rows(const PGresult *res, int item);

#endif
