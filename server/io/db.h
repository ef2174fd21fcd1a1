/* db: a small pool of non-blocking PostgreSQL connections driven by the
 * event loop (PQconnectStart/PQconnectPoll, PQsetnonblocking,
 * PQsendQueryParams, PQflush, PQconsumeInput/PQisBusy). Nothing here ever
 * blocks the loop.
 *
 * Contract:
 *  - db_query() copies sql parameters; `sql` itself must outlive the query
 *    (pass string literals). Each query is ONE statement, so it is atomic.
 *  - The callback runs exactly once, never from inside db_query() itself.
 *    DB_OK: res is PGRES_TUPLES_OK or PGRES_COMMAND_OK. DB_ERROR: the server
 *    rejected the statement (res holds the error; PQresultErrorField works).
 *    DB_UNAVAILABLE: no connection, a broken connection or a time-out; res is
 *    NULL and the statement may or may not have committed. The pool owns res
 *    and clears it after the callback returns.
 *  - When every connection is down, queries fail at once (fail fast, 503),
 *    and the pool reconnects with backoff on its own. */
#ifndef PUSHGATE_DB_H
#define PUSHGATE_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

struct event_base;
struct db;

enum db_status { DB_OK, DB_ERROR, DB_UNAVAILABLE };

typedef void (*db_cb)(void *arg, enum db_status st, PGresult *res);

struct db *db_new(struct event_base *base, const char *conninfo, int size);
void db_free(struct db *db);

/* Queues the statement; it cannot fail (out of memory aborts, alloc.h): a failure
 * of the database reaches cb. */
void db_query(struct db *db, const char *sql, int nparams, const char *const *params, db_cb cb,
              void *arg);

/* As db_query(), and the statement may share one round trip and one commit with
 * others of the same batch kind that are queued at the same moment (dbbatch.h).
 * The callback sees exactly the rows the statement alone would have returned
 * (with one more column at the end when it went in a batch: its index there),
 * or DB_UNAVAILABLE when the connection was lost. */
struct db_batch;
void db_query_batch(struct db *db, const struct db_batch *batch, const char *sql, int nparams,
                    const char *const *params, db_cb cb, void *arg);
/* Items per batch statement from now on (1: every statement alone); default
 * DB_BATCH_MAX. A kind's own db_batch.max still applies. */
void db_set_batch_max(struct db *db, int max);
/* Batch statements sent so far, and the statements they carried. */
void db_batch_stats(const struct db *db, unsigned long long *batches, unsigned long long *items);

/* Session set-up for a dedicated connection (e.g. LISTEN): init_sql runs
 * first on every (re)connect, then on_connect(arg) is called (the place to
 * re-check what a notification may have announced while disconnected).
 * Notifications received on any connection of this pool go to on_notify. */
void db_set_session(struct db *db, const char *init_sql, void (*on_connect)(void *arg),
                    void (*on_notify)(void *arg, const char *payload), void *arg);

/* True while at least one connection is established. */
bool db_up(const struct db *db);
/* Connections established / queries waiting for a connection. */
int db_conns_up(const struct db *db);
int db_queue_depth(const struct db *db);

/* SQLSTATE of an error result, or "" */
const char *db_sqlstate(const PGresult *res);

#endif
