/* hold: an HTTP request held open (a synchronous POST /auth, GET /auth?wait,
 * a device long-poll). Each hold has its own timer and watches its socket for
 * the client hanging up -- evhttp does not tell a server that a waiting
 * client has gone (libevent issues 78/666), so we watch the fd for EV_CLOSED
 * ourselves without touching evhttp's own reading.
 *
 * Every callback is optional and runs at most once per arming; the owner
 * answers (or abandons) the request and then calls hold_end(). */
#ifndef PUSHGATE_HOLD_H
#define PUSHGATE_HOLD_H

#include "http.h"

struct hold;

struct hold_ops {
    void (*timeout)(struct hold *h); /* the timer ran out */
    void (*hangup)(struct hold *h);  /* the client closed its connection */
    void (*drain)(struct hold *h);   /* graceful stop began */
};

struct hold *hold_start(struct req *r, long timeout_ms, const struct hold_ops *ops, void *owner);
/* Re-arms the timer (e.g. a poll woken without anything for it). */
void hold_rearm(struct hold *h, long timeout_ms);
/* Stops the timer and the watch and frees the hold (not the request). */
void hold_end(struct hold *h);

struct req *hold_req(const struct hold *h);
void *hold_owner(const struct hold *h);

/* Calls ops->drain of every hold (SIGTERM). */
void hold_drain_all(struct server *srv);
size_t hold_count(const struct server *srv);

#endif
