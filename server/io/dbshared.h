/* dbshared: one read-only statement whose answer is shared by the requests
 * that ask for it, for endpoints anyone may call that cost the database
 * something (/metrics' counts, /readyz, the JWKS).
 *
 * Read on every request, a few clients looping on /metrics against 500,000
 * auth requests kept both of PostgreSQL's cores busy and the pool with them
 * (docs/operations.md). With a struct dbshared per statement:
 *  - requests that ask while the statement runs wait for that answer instead
 *    of sending their own: at most one in flight per statement and process;
 *  - a good answer is kept for keep_s seconds and handed to every request in
 *    that time (keep_s 0: never kept), but not while the pool has no
 *    connection up;
 *  - a failed answer is handed to the requests that waited for it and never
 *    kept: the next request reads again. */
#ifndef PUSHGATE_DBSHARED_H
#define PUSHGATE_DBSHARED_H

#include "db.h"
#include "http.h"

#include <stdbool.h>
#include <time.h>

/* res: the answer (DB_OK; borrowed, valid during the call), else NULL. May run
 * before dbshared_read() returns. */
typedef void (*dbshared_cb)(struct req *r, enum db_status st, const PGresult *res);

struct dbshared_waiter;
struct dbshared {
    const char *sql; /* a string literal; no parameters */
    PGresult *kept;  /* the last good answer (a copy) */
    struct timespec at;
    int keep_s; /* of the read in flight */
    bool reading;
    struct dbshared_waiter *waiting;
};

void dbshared_read(struct dbshared *s, struct req *r, int keep_s, dbshared_cb cb);
/* Drops the kept answer (at shutdown; no read may be in flight). */
void dbshared_clear(struct dbshared *s);

#endif
