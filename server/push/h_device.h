/* h_device: a device's own endpoints (api.md 6): polls, answers, itself.
 * Route handlers (routes.c): each validates in a straight line, answers at the
 * first failure and replies exactly once (http.h). */
#ifndef PUSHGATE_H_DEVICE_H
#define PUSHGATE_H_DEVICE_H

#include "http.h"

#include <libpq-fe.h>

struct server;

void h_device_poll(struct req *r);
void h_device_answer(struct req *r);
void h_device_get(struct req *r);
void h_device_revoke(struct req *r);

/* After a device revocation (the rows of device_revoke_self() or
 * user_device_revoke(): outcome, then an auth view from column 1): wakes the
 * waiters of every request it ended and the device's held polls, which then
 * answer 401. Also used by h_users.c. */
void device_revoke_done(struct server *srv, PGresult *res, const char *device_id);

#endif
