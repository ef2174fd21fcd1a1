/* authcancel: the cancel owed to a synchronous caller that hung up (api.md 5: its
 * request becomes `cancelled`).
 *
 * authwait hands the request over when its caller leaves, with what to call once
 * it is cancelled (authcancel does not know authwait). The cancel is sent at
 * once; while the database cannot take it (down, or the statement failed) it is
 * sent again every second until the request's expiry, after which the expiry read
 * decides. Without this a hang-up during a database outage left the request
 * pending, and a device could still approve it once the database was back.
 * A cancel that finds the request decided changes nothing. Owed cancels live in
 * srv->owed_cancels; a stop frees them (the request then ends at its expiry, or
 * by a device's answer). */
#ifndef PUSHGATE_AUTHCANCEL_H
#define PUSHGATE_AUTHCANCEL_H

#include <jansson.h>
#include <time.h>

struct server;

/* Called once the request is cancelled, with its API object (borrowed): the
 * waiters of the request get their answer (authwait_resolve). */
typedef void authcancel_done_fn(struct server *srv, const char *request_id, json_t *body);

/* Creates srv->owed_cancels; authcancel_free_all frees it and what it holds. */
void authcancel_init(struct server *srv);
void authcancel_owe(struct server *srv, const char *request_id, const struct timespec *give_up,
                    authcancel_done_fn *done);
void authcancel_free_all(struct server *srv);

#endif
