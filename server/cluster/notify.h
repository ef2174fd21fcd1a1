/* notify: what connects several pushgated instances sharing one database.
 *
 *  - A heartbeat row in `instances` (every 2 s; inserted before serving), so
 *    the SQL functions NOTIFY only while a peer is alive (peers_alive()).
 *  - A dedicated connection that LISTENs on channel "pushgate". Payloads:
 *    "c:<deviceId>" (new challenge or revocation: wake that device's polls),
 *    "d:<requestId>" (a request left pending: wake its waiters) and "k:" (the
 *    signing key was rotated: keyswap.h).
 *  - After every (re)connect of that connection, everything held here is
 *    re-checked against the database, since notifications may have been
 *    missed meanwhile. */
#ifndef PUSHGATE_NOTIFY_H
#define PUSHGATE_NOTIFY_H

#include <libpq-fe.h>
#include <stdbool.h>

struct server;
struct notify;

/* BLOCKING: registers this instance (before the loop). Returns the new id
 * (malloc'd) or NULL. */
char *notify_register(PGconn *pg);

struct notify *notify_new(struct server *srv);
/* Graceful stop: no more heartbeats; removes this instance's row (async). */
void notify_leave(struct notify *n);
/* True until the row is gone (or the attempt failed): keep the loop running. */
bool notify_leaving(const struct notify *n);
void notify_free(struct notify *n);

#endif
