#include "hold.h"

#include "log.h"
#include "server.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/queue.h>

struct hold {
    TAILQ_ENTRY(hold) link;
    struct req *r;
    const struct hold_ops *ops;
    void *owner;
    struct event *timer;
    struct event *closed; /* EV_CLOSED on the client's socket */
    bool drain_due;       /* started while draining: drain on the next loop pass */
};

TAILQ_HEAD(hold_list, hold);

static struct hold_list *list_of(struct server *srv)
{
    if (!srv->holds) {
        srv->holds = calloc(1, sizeof(struct hold_list));
        TAILQ_INIT((struct hold_list *)srv->holds);
    }
    return srv->holds;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct hold *h = arg;
    if (h->drain_due) {
        h->drain_due = false;
        h->ops->drain(h);
        return;
    }
    if (h->ops->timeout)
        h->ops->timeout(h);
}

static void on_closed(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct hold *h = arg;
    event_del(h->closed);
    if (h->ops->hangup)
        h->ops->hangup(h);
}

static evutil_socket_t client_fd(struct req *r)
{
    struct evhttp_connection *con = evhttp_request_get_connection(r->ev);
    struct bufferevent *bev = con ? evhttp_connection_get_bufferevent(con) : NULL;
    return bev ? bufferevent_getfd(bev) : -1;
}

struct hold *hold_start(struct req *r, long timeout_ms, const struct hold_ops *ops, void *owner)
{
    struct hold *h = calloc(1, sizeof *h);
    h->r = r;
    h->ops = ops;
    h->owner = owner;
    http_shed_input(r);
    h->timer = evtimer_new(r->srv->base, on_timer, h);
    hold_rearm(h, timeout_ms);
    evutil_socket_t fd = client_fd(r);
    if (fd >= 0) {
        h->closed = event_new(r->srv->base, fd, EV_CLOSED, on_closed, h);
        event_add(h->closed, NULL);
    }
    TAILQ_INSERT_TAIL(list_of(r->srv), h, link);
    /* SIGTERM came while this request waited for the database (a create's reply
     * can arrive after it): hold_drain_all has passed, so drain it here, but not
     * before the owner has finished setting it up */
    if (r->srv->draining && ops->drain) {
        h->drain_due = true;
        hold_rearm(h, 0);
    }
    return h;
}

void hold_rearm(struct hold *h, long timeout_ms)
{
    if (timeout_ms < 0 || h->drain_due)
        timeout_ms = 0;
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(h->timer, &tv);
}

void hold_end(struct hold *h)
{
    TAILQ_REMOVE(list_of(h->r->srv), h, link);
    event_free(h->timer);
    if (h->closed)
        event_free(h->closed);
    free(h);
}

struct req *hold_req(const struct hold *h)
{
    return h->r;
}

void *hold_owner(const struct hold *h)
{
    return h->owner;
}

void hold_drain_all(struct server *srv)
{
    struct hold_list *l = list_of(srv);
    /* a drain callback may end its own hold: walk a snapshot */
    size_t n = 0, i = 0;
    struct hold *h;
    TAILQ_FOREACH(h, l, link)
    n++;
    struct hold **all = calloc(n + 1, sizeof *all);
    TAILQ_FOREACH(h, l, link)
    all[i++] = h;
    for (i = 0; i < n; i++)
        if (all[i]->ops->drain)
            all[i]->ops->drain(all[i]);
    free(all);
}

size_t hold_count(const struct server *srv)
{
    size_t n = 0;
    struct hold *h;
    if (srv->holds)
        TAILQ_FOREACH(h, (struct hold_list *)srv->holds, link)
    n++;
    return n;
}
