/* server: the state one pushgated process shares between its modules.
 * Exactly one per process; everything runs on its single event loop. */
#ifndef PUSHGATE_SERVER_H
#define PUSHGATE_SERVER_H

#include "config.h"
#include "keys.h"

#include <stdbool.h>

struct event_base;
struct evhttp;
struct db;
struct evhttp_bound_socket;
struct listenguard;
struct outbox;
struct curlev;
struct signer;
struct hmap;
struct notify;
struct authearly;
struct devproof;
struct devknown;
struct pollclaim;
struct tls;

struct server {
    struct event_base *base;
    const struct config *cfg;
    struct db *db;
    struct outbox *outbox;
    struct curlev *curl; /* libcurl transfers on the loop (SMTP, SMS webhook) */
    struct signer *signer;
    struct notify *notify;
    struct devproof *devproof; /* device key cache and jti replay cache */
    struct hmap *waiters;      /* request id -> an auth waiter's hold (hold.c) */
    struct hmap *owed_cancels; /* request id -> cancel owed to a hung-up caller (authcancel.c) */
    struct authearly *early;   /* decided with no waiter here, kept briefly (authearly.c) */
    struct hmap *polls;        /* device id -> a device poll's hold (hold.c) */
    struct pollclaim *pollclaim; /* device polls' jtis (caller/pollclaim.h) */
    struct devknown *known;    /* devices known to have nothing pending (devknown.c) */
    void *holds;               /* every held request, any kind (hold.c) */
    char *instance_id;         /* this process's row in `instances` */
    struct evhttp *http;
    struct evhttp_bound_socket *listener;
    struct listenguard *listen_guard; /* accept paused while out of descriptors */
    struct tls *tls;                  /* PUSHGATE_TLS_CERT/KEY: HTTPS (io/tls.h); NULL: HTTP */
    unsigned char master_key[KEYS_MASTER_LEN];
    char *public_url; /* PUSHGATE_PUBLIC_URL, or http(s)://<bound address> */
    bool draining;    /* SIGTERM received: no new work */
    int inflight;     /* requests not yet answered */
    int unsent;       /* answers evhttp has not finished writing (a stop waits for them) */
};

#endif
