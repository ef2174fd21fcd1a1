#include "connguard.h"

#include "alloc.h"
#include "errpage.h"
#include "hmap.h"
#include "listenguard.h"
#include "log.h"

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

struct conn {
    struct connguard *g;
    struct conn *next_fresh;
    struct bufferevent *bev; /* until adopted (a reference of ours) */
    struct evhttp_connection *evcon;
    /* Both only between requests (freed while one is handled: a held request's
     * connection keeps neither, 2 x 128 bytes at 100,000 held polls, issue 23). */
    struct event *deadline;   /* the head timeout, from a request's first byte */
    struct event *first_byte; /* readable while no request is on its way: arms deadline */
    struct errpage *errpage;  /* libevent's error pages as problem+json (errpage.h) */
    bool per_address;         /* counted in g->by_addr under addr */
    bool no_tls;              /* lim.new_bev made no bufferevent: close it */
    char key[24];             /* evcon as "%p": g->by_evcon */
    char addr[INET6_ADDRSTRLEN + 4];
};

struct addrcount {
    int n;
};

struct connguard {
    struct event_base *base;
    struct connguard_limits lim;
    int max_total;
    int open;
    struct hmap *by_evcon; /* key -> struct conn */
    struct hmap *by_addr;  /* address -> struct addrcount */
    struct event *adopt;   /* made active by each accept */
    struct conn *fresh;    /* accepted, not adopted yet, in accept order */
    struct conn **fresh_tail;
    const struct timeval *timeout; /* a common timeout: thousands of equal timers */
    time_t last_refusal_log;
    char *refusal; /* the whole 503 answer */
    struct listenguard *listener;
    const char *cap_name; /* why accepting pauses at max_total */
};

static const char refusal_body[] =
    "{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,"
    "\"code\":\"unavailable\",\"detail\":\"too many connections\"}";

static void key_of(const struct evhttp_connection *evcon, char *buf, size_t n)
{
    snprintf(buf, n, "%p", (const void *)evcon);
}

/* The client's address as counted: IPv4 whole, IPv6 by its /64 (one host's share). */
static bool peer_key(const struct sockaddr *sa, char *buf, size_t n)
{
    snprintf(buf, n, "?");
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)n);
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa && sa->sa_family == AF_INET6) {
        struct in6_addr a = ((const struct sockaddr_in6 *)sa)->sin6_addr;
        bool loop = IN6_IS_ADDR_LOOPBACK(&a) || (IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127);
        if (IN6_IS_ADDR_V4MAPPED(&a)) {
            inet_ntop(AF_INET, &a.s6_addr[12], buf, (socklen_t)n);
            return loop;
        }
        memset(&a.s6_addr[8], 0, 8);
        inet_ntop(AF_INET6, &a, buf, (socklen_t)n);
        strncat(buf, "/64", n - strlen(buf) - 1);
        return loop;
    }
    return false;
}

static void drop_events(struct conn *c)
{
    if (c->deadline)
        event_free(c->deadline);
    if (c->first_byte)
        event_free(c->first_byte);
    c->deadline = c->first_byte = NULL;
}

static void on_first_byte(evutil_socket_t fd, short what, void *arg);

/* Waits for the next request's first byte. */
static void watch_first_byte(struct conn *c)
{
    if (!c->first_byte) {
        evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(c->evcon));
        c->first_byte = event_new(c->g->base, fd, EV_READ, on_first_byte, c);
    }
    event_add(c->first_byte, NULL);
}

static struct conn *lookup(struct connguard *g, const struct evhttp_connection *evcon)
{
    char key[24];
    key_of(evcon, key, sizeof key);
    return hmap_get(g->by_evcon, key);
}

static void forget(struct conn *c)
{
    struct connguard *g = c->g;
    hmap_remove(g->by_evcon, c->key, c);
    if (c->per_address) {
        struct addrcount *ac = hmap_get(g->by_addr, c->addr);
        if (ac && --ac->n == 0) {
            hmap_remove(g->by_addr, c->addr, ac);
            free(ac);
        }
    }
    if (g->open-- == g->max_total)
        listenguard_set_full(g->listener, false, NULL);
    drop_events(c);
    errpage_detach(c->errpage);
    free(c);
}

/* evhttp frees the connection: the client hung up, an answer asked for close, a
 * deadline passed, or the server stops. */
static void on_close(struct evhttp_connection *evcon, void *arg)
{
    evhttp_connection_set_closecb(evcon, NULL, NULL); /* once */
    forget(arg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg);

/* A request's first bytes: it must now arrive whole within the deadline. (An idle
 * connection is evhttp's: its 30 s timeout closes it.) */
static void on_first_byte(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct conn *c = arg;
    if (!c->deadline)
        c->deadline = evtimer_new(c->g->base, on_deadline, c);
    evtimer_add(c->deadline, c->g->timeout);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct conn *c = arg;
    log_kv(LOG_DEBUG, "request deadline passed; connection closed", "addr", c->addr, NULL);
    evhttp_connection_free(c->evcon); /* on_close frees c */
}

static void refuse(struct connguard *g, struct conn *c, struct bufferevent *bev, const char *why)
{
    /* one non-blocking write into an empty send buffer: it fits, or the client is
     * not worth more (not over TLS: the client expects a handshake) */
    if (!g->lim.new_bev)
        (void)!send(bufferevent_getfd(bev), g->refusal, strlen(g->refusal),
                    MSG_NOSIGNAL | MSG_DONTWAIT);
    time_t now = time(NULL);
    if (now != g->last_refusal_log) {
        g->last_refusal_log = now;
        log_kv(LOG_WARN, "connection refused", "reason", why, "addr", c->addr, NULL);
    }
    evhttp_connection_free(c->evcon);
    free(c);
}

/* Counts c, which a cap has room for, and waits for its first request's first byte. */
static void admit(struct connguard *g, struct conn *c, struct addrcount *ac)
{
    if (c->per_address && !ac) {
        ac = xcalloc(1, sizeof *ac);
        hmap_add(g->by_addr, c->addr, ac);
    }
    if (ac)
        ac->n++;
    if (++g->open == g->max_total)
        listenguard_set_full(g->listener, true, g->cap_name);
    hmap_add(g->by_evcon, c->key, c);
    c->errpage = errpage_attach(evhttp_connection_get_bufferevent(c->evcon));
    watch_first_byte(c);
    evhttp_connection_set_closecb(c->evcon, on_close, c);
}

/* A connection evhttp has set up: count it, or refuse it when a cap is reached. */
static void adopt_one(struct connguard *g, struct conn *c)
{
    struct bufferevent *bev = c->bev;
    void *cbarg = NULL;
    bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg);
    c->evcon = cbarg; /* NULL: evhttp has already freed it (callbacks cleared) */
    if (!c->evcon || evhttp_connection_get_bufferevent(c->evcon) != bev) {
        free(c);
        bufferevent_decref(bev);
        return;
    }
    key_of(c->evcon, c->key, sizeof c->key);
    struct conn *stale = hmap_get(g->by_evcon, c->key);
    if (stale) { /* never seen: evhttp calls on_close for every connection it frees */
        log_kv(LOG_ERROR, "connguard: a freed connection was not reported", NULL);
        errpage_drop(stale->errpage); /* its bufferevent went with it */
        stale->errpage = NULL;
        forget(stale);
    }
    bool loopback = peer_key(evhttp_connection_get_addr(c->evcon), c->addr, sizeof c->addr);
    c->per_address = g->lim.max_per_address > 0 && (g->lim.cap_loopback || !loopback);
    struct addrcount *ac = c->per_address ? hmap_get(g->by_addr, c->addr) : NULL;
    if (c->no_tls)
        refuse(g, c, bev, "cannot set up TLS for the connection");
    else if (g->open >= g->max_total) /* accepted in the same pass as the one that filled it */
        refuse(g, c, bev, g->cap_name);
    else if (ac && ac->n >= g->lim.max_per_address)
        refuse(g, c, bev, "per-address connection cap");
    else
        admit(g, c, ac);
    bufferevent_decref(bev);
}

/* Runs in the loop pass of the accept, after evhttp has wired its connection to the
 * bufferevent and before the socket is first read. */
static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct connguard *g = arg;
    struct conn *list = g->fresh;
    g->fresh = NULL;
    g->fresh_tail = &g->fresh;
    while (list) {
        struct conn *c = list;
        list = c->next_fresh;
        adopt_one(g, c);
    }
}

/* evhttp's bufferevent callback: called for each accepted socket, before evhttp has a
 * connection for it. A reference keeps the bufferevent readable for on_adopt even if
 * evhttp frees it first. */
static struct bufferevent *on_new_bev(struct event_base *base, void *arg)
{
    struct connguard *g = arg;
    struct bufferevent *bev = g->lim.new_bev ? g->lim.new_bev(base, g->lim.new_bev_arg) : NULL;
    bool no_tls = g->lim.new_bev && !bev; /* a plain one, only to be closed */
    if (!bev)
        bev = bufferevent_socket_new(base, -1, 0);
    if (!bev)
        return NULL; /* evhttp tries itself; that connection goes uncounted */
    struct conn *c = xcalloc(1, sizeof *c);
    c->g = g;
    c->no_tls = no_tls;
    c->bev = bev;
    bufferevent_incref(bev);
    *g->fresh_tail = c; /* in accept order: the first connections get the places */
    g->fresh_tail = &c->next_fresh;
    event_active(g->adopt, EV_TIMEOUT, 1);
    return bev;
}

static int derive_max_total(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > (rlim_t)INT_MAX)
        return INT_MAX;
    long n = (long)rl.rlim_cur - HTTP_FD_RESERVE;
    if (n < (long)rl.rlim_cur / 2)
        n = (long)rl.rlim_cur / 2; /* a tiny limit: keep half for the rest */
    return n > 0 ? (int)n : 1;
}

struct connguard *connguard_new(struct event_base *base, struct evhttp *http,
                                const struct connguard_limits *lim)
{
    struct connguard *g = xcalloc(1, sizeof *g);
    g->base = base;
    g->fresh_tail = &g->fresh;
    g->lim = *lim;
    g->max_total = lim->max_total > 0 ? lim->max_total : derive_max_total();
    g->cap_name = lim->max_total > 0 ? "PUSHGATE_HTTP_MAX_CONNECTIONS"
                                     : "connection cap (descriptor limit less a reserve)";
    g->refusal = xasprintf("HTTP/1.1 503 Service Unavailable\r\n"
                           "Content-Type: application/problem+json\r\nCache-Control: no-store\r\n"
                           "Retry-After: 2\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                           strlen(refusal_body), refusal_body);
    g->by_evcon = hmap_new();
    g->by_addr = hmap_new();
    g->adopt = event_new(base, -1, 0, on_adopt, g);
    struct timeval tv = {lim->head_timeout, 0};
    g->timeout = event_base_init_common_timeout(base, &tv);
    if (!g->adopt || !g->timeout)
        abort(); /* libevent allocates through xmalloc: only a bad argument gets here */
    evhttp_set_bevcb(http, on_new_bev, g);
    char total[16], per[16];
    snprintf(total, sizeof total, "%d", g->max_total);
    snprintf(per, sizeof per, "%d", lim->max_per_address);
    log_kv(LOG_DEBUG, "connection limits", "max_total", total, "max_per_address", per, NULL);
    return g;
}

void connguard_free(struct connguard *g)
{
    if (!g)
        return;
    while (g->fresh) {
        struct conn *c = g->fresh;
        g->fresh = c->next_fresh;
        bufferevent_decref(c->bev);
        free(c);
    }
    event_free(g->adopt);
    hmap_free(g->by_evcon);
    hmap_free(g->by_addr);
    free(g->refusal);
    free(g);
}

void connguard_request_arrived(struct connguard *g, struct evhttp_connection *evcon)
{
    struct conn *c = g && evcon ? lookup(g, evcon) : NULL;
    if (c)
        drop_events(c);
}

void connguard_answer_sent(struct connguard *g, struct evhttp_connection *evcon)
{
    struct conn *c = g && evcon ? lookup(g, evcon) : NULL;
    if (c) {
        watch_first_byte(c);
        errpage_next_request(c->errpage);
    }
}

void connguard_set_listener(struct connguard *g, struct listenguard *lg)
{
    if (!g)
        return;
    g->listener = lg;
    if (lg && g->open >= g->max_total)
        listenguard_set_full(lg, true, g->cap_name);
}

int connguard_open(const struct connguard *g)
{
    return g ? g->open : 0;
}
