/* connguard: how many client connections one process keeps open, and for how long a
 * connection may take to send a request (slowloris guard, docs/http.md).
 *
 * evhttp (libevent 2.1) times each read separately: a request head trickled one line
 * every few seconds was held for ever, and a few hundred of them used every descriptor
 * the process had (accept stalled for everyone). The guard
 *  - gives every request a deadline (head_timeout seconds from its first byte to the
 *    moment it has arrived whole, head and body): a connection that misses it is closed.
 *    An idle connection (nothing sent yet, or kept alive between requests) is left to
 *    evhttp's idle timeout, as clients that reuse connections expect;
 *  - caps open connections per process (max_total): at the cap, accepting pauses
 *    (listenguard_set_full; new connections wait in the kernel's backlog) until one
 *    closes;
 *  - caps them per client IP address (max_per_address; an IPv6 client by its /64;
 *    loopback exempt unless cap_loopback): a connection beyond it is answered
 *    503 unavailable (best effort, one write) and closed at once, as is one accepted
 *    beyond the process cap in the same pass;
 *  - with max_total 0, keeps the cap HTTP_FD_RESERVE descriptors below the process's
 *    descriptor limit, so the database, mail and webhooks still get sockets and accept()
 *    never runs out (listenguard.c stays the last resort).
 *
 * It learns of each connection through evhttp's bufferevent callback (evhttp_set_bevcb),
 * and finds evhttp's connection as the bufferevent's callback argument once evhttp has
 * set it up (libevent 2.1: bufferevent_getcb's cbarg is the evhttp_connection); the close
 * callback tells it a connection is gone. Each counted connection also gets errpage.h's
 * watch (libevent's own error pages as problem+json). Single-threaded; one guard per
 * evhttp. */
#ifndef PUSHGATE_CONNGUARD_H
#define PUSHGATE_CONNGUARD_H

#include <stdbool.h>

struct bufferevent;
struct event_base;
struct evhttp;
struct evhttp_connection;
struct connguard;
struct listenguard;

#define HTTP_FD_RESERVE 64

struct connguard_limits {
    int head_timeout;    /* seconds, >= 1 */
    int max_total;       /* 0: the descriptor limit less HTTP_FD_RESERVE */
    int max_per_address; /* 0: no per-address cap */
    bool cap_loopback;   /* false: loopback clients are not counted against the cap */
    /* NULL: plain TCP. Else it makes each accepted socket's bufferevent, descriptor still
     * unset (evhttp sets it): TLS (tls.h: tls_bufferevent, arg its struct tls). A connection
     * it makes none for is closed. Over TLS a refused connection is closed without the
     * 503: no handshake has happened. */
    struct bufferevent *(*new_bev)(struct event_base *base, void *arg);
    void *new_bev_arg;
};

/* Installs itself as http's bufferevent callback. Never NULL. */
struct connguard *connguard_new(struct event_base *base, struct evhttp *http,
                                const struct connguard_limits *lim);
/* After evhttp_free (which closes every connection). NULL is a no-op. */
void connguard_free(struct connguard *g);

/* The listening socket's guard, which pauses accepting at the process cap (NULL: none,
 * e.g. after the server stopped accepting). */
void connguard_set_listener(struct connguard *g, struct listenguard *lg);

/* evcon's request has arrived whole (head and body): its deadline stops. */
void connguard_request_arrived(struct connguard *g, struct evhttp_connection *evcon);
/* evcon's answer is written; if the connection stays open, the next request's deadline
 * starts with its first byte. */
void connguard_answer_sent(struct connguard *g, struct evhttp_connection *evcon);

/* Open connections the guard counts (for tests and logs). */
int connguard_open(const struct connguard *g);

#endif
