/* authwait: clients waiting for an auth request to leave `pending` -- a
 * synchronous POST /auth, or GET /auth/{id}?wait=N. Registered by request id,
 * so that a decision made on this instance (authwait_resolve) or announced by
 * a peer (authwait_recheck, from NOTIFY) answers every one of them.
 *
 * A synchronous waiter that hangs up cancels its request; on SIGTERM waiters
 * get their outcome if it arrives within the drain period, else 503. */
#ifndef PUSHGATE_AUTHWAIT_H
#define PUSHGATE_AUTHWAIT_H

#include "http.h"

#include <stdbool.h>

struct server;

/* A place for r, which is going to be held (io/hold.h hold_admit: the process's
 * cap, and the application's when an application calls): false when refused,
 * then r is answered (503 or 429). POST /auth takes it before creating its
 * request; authwait_hold takes one itself for a wait above 0 (a request that
 * has one keeps it). */
bool authwait_admit(struct req *r);

/* GET /auth/{id}?wait: holds r until the request leaves pending or wait_ms
 * pass (404 when it is not the caller's). Registers, then reads, so nothing
 * that happens in between is missed. */
void authwait_hold(struct req *r, const char *request_id, long wait_ms);

/* A synchronous POST /auth whose request was just created (so known to be
 * pending): held until decided or expires_in_ms, without a first read. */
void authwait_hold_pending(struct req *r, const char *request_id, long expires_in_ms);

/* The request left pending; body is its API object (borrowed). */
void authwait_resolve(struct server *srv, const char *request_id, json_t *body);
/* Something may have happened to the request elsewhere: read it again. */
void authwait_recheck(struct server *srv, const char *request_id);
void authwait_recheck_all(struct server *srv);

#endif
