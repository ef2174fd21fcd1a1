/* hold: the one waiting core. Every HTTP request the server keeps open until
 * something happens (a synchronous POST /auth, GET /auth/{id}?wait, a device
 * long-poll) is a hold of some kind; the kind is a small client (authwait.c,
 * devpoll.c) that knows its SQL read and how to answer from its rows. The core
 * owns everything else, once:
 *   - registration under a key (request id, device id) in the kind's map,
 *     before the first read, so that no wake-up slips between register and read;
 *   - the deadline (CLOCK_MONOTONIC) and the timer;
 *   - the EV_CLOSED watch on the client's socket -- evhttp does not tell a server
 *     that a waiting client has gone (libevent issues 78/666), so we watch the fd
 *     ourselves without touching evhttp's own reading;
 *   - wake-ups by key or for all: "read again, or mark dirty if reading", over a
 *     snapshot (a callback may end holds);
 *   - the graceful stop (SIGTERM): the deadline is cut to the kind's drain period.
 *
 * The state below changes only in hold_set_state() (hold.c), which logs every
 * transition at debug level. The core sends the kind's read and hands its rows
 * to kind->rows (unless the client hung up meanwhile, or the read failed), which
 * either answers -- hold_end() returns the request to reply to -- or keeps
 * waiting with hold_wait(). */
#ifndef PUSHGATE_HOLD_H
#define PUSHGATE_HOLD_H

#include "http.h"

#include <libpq-fe.h>

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct hold;

enum hold_state {
    HOLD_IDLE,                 /* registered; no read and no timer yet */
    HOLD_READING,              /* the kind's read is in flight */
    HOLD_READING_DIRTY,        /* woken while reading: the rows may be stale, read again */
    HOLD_HUNGUP_WHILE_READING, /* the client left during the read: end when it returns */
    HOLD_WAITING,              /* no read in flight; the timer and the hang-up watch run */
};

/* The kinds of hold. The core keeps each kind's map in struct server (where
 * /metrics counts them): srv->waiters, srv->polls. */
enum hold_kind_id {
    HOLD_AUTH_WAITER, /* key: request id (authwait.c) */
    HOLD_DEVICE_POLL, /* key: device id (devpoll.c) */
};

/* A client: what only it knows -- its read and how to answer from its rows. */
struct hold_kind {
    enum hold_kind_id id;
    size_t data_size; /* the client's own per-hold fields (hold_data) */
    bool drain_waits; /* SIGTERM: wait up to drain_seconds (else answer at once) */
    const char *sql;  /* the read; $1 is the hold's key */
    int nparams;      /* at most 4 */
    void (*params)(struct hold *h, const char *p[]); /* optional: $2.. (p[0] is set) */
    void (*rows)(struct hold *h, PGresult *res);     /* a read succeeded (the core answers 503
                                                        to a failed one: fail closed) */
    void (*timeout)(struct hold *h);                 /* the timer ran out (may be mid-read) */
    void (*hangup)(struct hold *h);  /* optional: the client left; the core then ends the hold */
    void (*release)(struct hold *h); /* optional: free the client's own fields */
};

/* Places (api.md 10). A request that is going to be held takes a place before
 * anything of its own is written (a POST /auth before its request exists), and
 * keeps it until it is answered or dropped, whichever way (struct req's
 * on_free gives it back), so requests on their way to a hold count too and a
 * burst cannot overshoot. At most cfg->max_held places per process: beyond,
 * 503 unavailable; with per_app, at most cfg->max_held_per_app of them for
 * r->app_id: beyond, 429 rate_limited (checked first: the application's own
 * share is the more precise answer). Both with Retry-After. False when r was
 * refused (and answered: the caller returns); true when it has its place
 * (again true, without a second place, when it already had one). */
bool hold_admit(struct req *r, bool per_app);
/* The same in two steps, for a caller that first looks whether it must hold at
 * all (a device poll that has challenges is answered at once, cap or not). */
enum hold_admission { HOLD_ADMITTED, HOLD_FULL, HOLD_APP_FULL };
enum hold_admission hold_try_admit(struct req *r, bool per_app); /* answers nothing */
void hold_refuse(struct req *r, enum hold_admission why);        /* counts; 503 or 429 */

/* For /metrics (h_ops.c). */
struct hold_places {
    size_t used;                                     /* places taken now */
    unsigned long long refused_process, refused_app; /* since the start */
};
void hold_places_get(const struct server *srv, struct hold_places *out);

/* Creates srv->holds and the kinds' maps; hold_free frees them. */
void hold_init(struct server *srv);
void hold_free(struct server *srv);

/* A new hold of kind k for r (with kind->data_size zeroed bytes for the client:
 * hold_data), registered under key (at most 71 bytes), waiting at most
 * deadline_ms. No read and no timer yet: the caller calls hold_read or hold_wait. */
struct hold *hold_new(struct req *r, const struct hold_kind *k, const char *key, long deadline_ms);
/* Sends the kind's read (state READING). */
void hold_read(struct hold *h);
/* Nothing final to answer: reads again if woken meanwhile, else waits (timer at
 * the deadline, or cap_ms if sooner). False when the deadline has passed: the
 * caller answers. */
bool hold_wait(struct hold *h, long cap_ms);
/* Read now, or once the read in flight returns. */
void hold_wake(struct hold *h);
/* Calls fn for every hold of kind k under key (a snapshot: fn may end holds);
 * returns how many there were. */
size_t hold_each(struct server *srv, const struct hold_kind *k, const char *key,
                 void (*fn)(struct hold *h, void *arg), void *arg);
/* hold_wake for every hold under key / of the kind; returns how many. */
size_t hold_wake_key(struct server *srv, const struct hold_kind *k, const char *key);
void hold_wake_all(struct server *srv, const struct hold_kind *k);
/* Calls fn with the key of every hold of kind k (fn must not end holds). */
void hold_each_key(struct server *srv, const struct hold_kind *k,
                   void (*fn)(const char *key, void *arg), void *arg);
/* True when a hold of kind k is registered under key. */
bool hold_registered(struct server *srv, const struct hold_kind *k, const char *key);
/* Unregisters and frees the hold; returns its request, for the answer. */
struct req *hold_end(struct hold *h);

struct req *hold_req(const struct hold *h);
void *hold_data(struct hold *h);
const char *hold_key(const struct hold *h);
bool hold_reading(const struct hold *h); /* READING or READING_DIRTY (or hung up) */
bool hold_dirty(const struct hold *h);
bool hold_draining(const struct hold *h); /* the graceful stop has cut its deadline */
const struct timespec *hold_deadline(const struct hold *h);

/* SIGTERM: cuts every hold's deadline to its kind's drain period. */
void hold_drain_all(struct server *srv);
size_t hold_count(const struct server *srv);

#endif
