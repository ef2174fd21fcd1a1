/* devpoll: GET /device/challenges?wait=N, the device's long-poll (api.md 6.2).
 *
 * Answers at once when the device has pending challenges, else holds the
 * request until one is created (devpoll_wake, from this instance or a peer's
 * NOTIFY) or N seconds pass. Each challenge is signed by the server when it
 * is first handed out and stored before the device sees it (the first stored
 * JWS wins, sql/030); every later handout, on any instance, reuses it, so a
 * device's answer (chal) and the auth object (challenge) name that one JWS. A poll registers itself
 * before it reads, so a wake-up that races with its read is never lost. A device known to have
 * nothing pending (devknown.h) is held without a read. */
#ifndef PUSHGATE_DEVPOLL_H
#define PUSHGATE_DEVPOLL_H

#include "http.h"

#include <jansson.h>
#include <stdbool.h>

struct server;

/* r->device_id is the verified device. A poll with wait_ms above 0 first takes
 * a place (io/hold.h, the process's cap). Without one it is answered at once:
 * its pending challenges, or 503 (Retry-After) when it has none. */
void devpoll_start(struct req *r, long wait_ms);
void devpoll_wake(struct server *srv, const char *device_id);
void devpoll_wake_all(struct server *srv);
/* Announcements may have been lost (LISTEN reconnected; peers took this
 * instance for dead): one statement finds which of the devices held or known
 * here have a pending challenge or are no longer active, and only those are
 * forgotten and woken. When that statement fails: devpoll_wake_all. */
void devpoll_recheck_all(struct server *srv);
/* A challenge for the device was just created here and signed (item:
 * {"requestId", "challenge"}, borrowed): its JWS is stored (or the one
 * stored first is taken), then held polls get it without reading it back;
 * polls mid-read read again. When the store fails, the polls are woken. */
void devpoll_deliver(struct server *srv, const char *device_id, json_t *item);
/* A challenge for the device was created here / its answer was committed
 * here: keeps what this instance knows of the device's pending challenges
 * (devknown.h), so that its next poll may be held without a read. */
void devpoll_created(struct server *srv, const char *device_id, const char *request_id);
void devpoll_decided(struct server *srv, const char *device_id, const char *request_id);
/* True when a poll of the device is registered here. */
bool devpoll_waiting(struct server *srv, const char *device_id);

#endif
