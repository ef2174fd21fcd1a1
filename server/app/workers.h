/* workers: PUSHGATE_WORKERS above 1 (docs/operations.md, "Several processes on
 * one machine").
 *
 * The process becomes a supervisor: it forks that many workers, each running
 * serve_main() - a full instance with its own database pool, LISTEN connection,
 * instance id, caps and /metrics - on the same address with SO_REUSEPORT
 * (io/http.c), so the kernel spreads new connections over them and one process's
 * descriptor limit is no longer the server's. Between workers everything goes
 * through PostgreSQL as between instances (a challenge wakes a sibling's poll by
 * NOTIFY).
 *
 * SIGTERM/SIGINT are passed to every worker; the supervisor returns once all
 * have exited: 0 when each exited 0. SIGHUP is passed on. A worker killed by a
 * signal, or exiting later than WORKERS_START_GRACE_S after its start, is
 * started again (one start per second at most); one that exits by itself sooner
 * is a start-up failure (configuration, database, port) that retrying here would
 * not cure: every worker is stopped and the supervisor returns 1 (systemd's
 * Restart= decides what comes next).
 *
 * Port 0: the supervisor reserves a free port with a bound but not listening
 * SO_REUSEPORT socket (a socket that does not listen gets no connections) and
 * gives that port to every worker. */
#ifndef PUSHGATE_WORKERS_H
#define PUSHGATE_WORKERS_H

#include "config.h"

#define WORKERS_START_GRACE_S 5

int workers_main(const struct config *cfg);

#endif
