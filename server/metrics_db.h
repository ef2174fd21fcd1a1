/* metrics_db: the database part of GET /metrics (auth requests by outcome, the
 * outbox depth), read at most once per PUSHGATE_METRICS_DB_SECONDS.
 *
 * Those figures come from a scan of auth_requests, and /metrics needs no
 * credentials: read on every scrape, a few clients looping on it kept both
 * cores of PostgreSQL busy and the pool's connections with them (docs/
 * operations.md). So:
 *  - a good read is served to every scrape for the interval after it
 *    (0: read on every scrape, as before);
 *  - scrapes that arrive while a read is under way wait for that read instead
 *    of starting another (at most one read in flight per process);
 *  - a failed read is not kept: its scrapes get no database figures, and the
 *    next scrape tries again. A kept read is not served while the pool has no
 *    connection up. */
#ifndef PUSHGATE_METRICS_DB_H
#define PUSHGATE_METRICS_DB_H

#include "http.h"

#define METRICS_DB_ROWS 8

struct metrics_db_counts {
    int n;
    char name[METRICS_DB_ROWS][16];  /* an outcome, or "outbox" */
    char count[METRICS_DB_ROWS][24]; /* a decimal count */
};

/* Called once per scrape with the figures, or with NULL when the database
 * could not be read. May run before metrics_db_read() returns. */
typedef void (*metrics_db_cb)(struct req *r, const struct metrics_db_counts *counts);

void metrics_db_read(struct req *r, metrics_db_cb cb);

#endif
