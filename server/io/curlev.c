#include "curlev.h"

#include "alloc.h"
#include "log.h"

#include <event2/event.h>
#include <stdlib.h>
#include <sys/queue.h>

/* One transfer handed to us; reachable from the easy handle via CURLOPT_PRIVATE. */
struct xfer {
    TAILQ_ENTRY(xfer) link;
    CURL *easy;
    curlev_done_fn done;
    void *arg;
};
TAILQ_HEAD(xfer_list, xfer);

/* One socket libcurl asked us to watch (curl_multi_assign'ed to it). Also
 * listed, so that curlev_free() releases any that libcurl never removed. */
struct sock {
    LIST_ENTRY(sock) link;
    struct event *ev;
};
LIST_HEAD(sock_list, sock);

struct curlev {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct xfer_list xfers;
    struct sock_list socks;
    int count;
};

static struct xfer *xfer_of(CURL *easy)
{
    struct xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    return x;
}

/* Takes a finished or cancelled transfer out of the multi handle and our list. */
static void xfer_detach(struct curlev *c, struct xfer *x)
{
    curl_multi_remove_handle(c->multi, x->easy);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, NULL);
    TAILQ_REMOVE(&c->xfers, x, link);
    c->count--;
}

/* Reports every completed transfer. Runs only from event callbacks, after
 * curl_multi_socket_action() returned, so done() may re-enter curlev. */
static void drain_done(struct curlev *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result; /* msg is invalid after remove_handle */
        struct xfer *x = xfer_of(easy);
        if (!x)
            continue;
        long code = 0;
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
        xfer_detach(c, x);
        curlev_done_fn done = x->done;
        void *arg = x->arg;
        free(x);
        done(arg, rc, code);
    }
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    struct curlev *c = arg;
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(c->multi, fd, action, &running);
    /* No evtimer_del() when nothing runs: done() may have added a transfer
     * whose start timer must survive; libcurl clears its timer itself (-1). */
    drain_done(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct curlev *c = arg;
    int running = 0;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain_done(c);
}

/* CURLMOPT_TIMERFUNCTION: libcurl wants to be called back after timeout_ms
 * (-1: never). A 0 timeout still goes through the loop, because libcurl
 * forbids calling curl_multi_socket_action() from inside this callback. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct curlev *c = userp;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    return evtimer_add(c->timer, &tv) == 0 ? 0 : -1;
}

static void sock_free(struct sock *sk)
{
    LIST_REMOVE(sk, link);
    event_free(sk->ev);
    free(sk);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what libcurl asks, or stop watching it. */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    struct curlev *c = userp;
    struct sock *sk = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sk)
            sock_free(sk);
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!sk) {
        sk = xcalloc(1, sizeof *sk);
        if (!(sk->ev = event_new(c->base, s, kind, on_socket_event, c))) {
            free(sk);
            return -1;
        }
        LIST_INSERT_HEAD(&c->socks, sk, link);
        curl_multi_assign(c->multi, s, sk);
    } else {
        event_del(sk->ev);
        event_assign(sk->ev, c->base, s, kind, on_socket_event, c);
    }
    return event_add(sk->ev, NULL) == 0 ? 0 : -1;
}

struct curlev *curlev_new(struct event_base *base)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    struct curlev *c = xcalloc(1, sizeof *c);
    c->base = base;
    TAILQ_INIT(&c->xfers);
    LIST_INIT(&c->socks);
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, on_timer, c);
    if (!c->multi || !c->timer) {
        curlev_free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return c;
}

void curlev_free(struct curlev *c)
{
    if (!c)
        return;
    struct xfer *x;
    while ((x = TAILQ_FIRST(&c->xfers))) {
        xfer_detach(c, x);
        curlev_done_fn done = x->done;
        void *arg = x->arg;
        free(x);
        done(arg, CURLE_ABORTED_BY_CALLBACK, 0);
    }
    if (c->multi)
        curl_multi_cleanup(c->multi); /* may still call socket_cb/timer_cb */
    while (!LIST_EMPTY(&c->socks))
        sock_free(LIST_FIRST(&c->socks));
    if (c->timer)
        event_free(c->timer);
    free(c);
    curl_global_cleanup();
}

int curlev_add(struct curlev *c, CURL *easy, curlev_done_fn done, void *arg)
{
    struct xfer *x = xcalloc(1, sizeof *x);
    x->easy = easy;
    x->done = done;
    x->arg = arg;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    CURLMcode mc = curl_multi_add_handle(c->multi, easy);
    if (mc != CURLM_OK) {
        log_kv(LOG_ERROR, "curl_multi_add_handle failed", "error", curl_multi_strerror(mc), NULL);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(x);
        return -1;
    }
    TAILQ_INSERT_TAIL(&c->xfers, x, link);
    c->count++;
    return 0;
}

void curlev_cancel(struct curlev *c, CURL *easy)
{
    struct xfer *x = xfer_of(easy);
    if (!x)
        return;
    xfer_detach(c, x);
    free(x);
}

int curlev_running(const struct curlev *c)
{
    return c ? c->count : 0;
}
