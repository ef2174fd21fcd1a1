#include "listenguard.h"

#include "alloc.h"
#include "log.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAUSE_MS 100

struct listenguard {
    struct evconnlistener *lev;
    struct event *retry;
    bool paused;
    bool full;            /* the connection cap is reached (listenguard_set_full) */
    bool full_logged;     /* that pause was logged: log its end too */
    time_t last_full_log; /* cap pauses are logged once per FULL_LOG_S at most */
    time_t last_other;    /* when another accept error was last logged */
};

/* A listener at its connection cap flaps (a connection closes, one waiting in the
 * backlog is accepted, the cap is reached again): one log line per episode. */
#define FULL_LOG_S 10

/* The error callback gets the listener's user data, which is evhttp's own; so
 * the guard is found here (one listening socket per process). */
static struct listenguard *the_guard;

/* A descriptor can be had now: take one and give it back. */
static bool fd_available(const struct listenguard *g)
{
    int fd = dup(evconnlistener_get_fd(g->lev));
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static void arm(struct listenguard *g)
{
    struct timeval tv = {0, PAUSE_MS * 1000};
    evtimer_add(g->retry, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct listenguard *g = arg;
    if (!fd_available(g)) {
        arm(g);
        return;
    }
    g->paused = false;
    if (g->full)
        return; /* listenguard_set_full resumes */
    evconnlistener_enable(g->lev);
    log_kv(LOG_WARN, "accept resumed", NULL);
}

void listenguard_set_full(struct listenguard *g, bool full, const char *why)
{
    if (!g || full == g->full)
        return;
    g->full = full;
    time_t now = time(NULL);
    if (full) {
        evconnlistener_disable(g->lev);
        if (!g->paused && now - g->last_full_log >= FULL_LOG_S) {
            g->last_full_log = now;
            g->full_logged = true;
            log_kv(LOG_WARN, "accept paused: out of file descriptors", "reason", why, NULL);
        }
        return;
    }
    if (g->paused)
        return; /* the retry timer resumes */
    evconnlistener_enable(g->lev);
    if (g->full_logged)
        log_kv(LOG_WARN, "accept resumed", NULL);
    g->full_logged = false;
}

static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    (void)arg;
    struct listenguard *g = the_guard;
    if (!g || g->lev != lev)
        return;
    int err = EVUTIL_SOCKET_ERROR();
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        evconnlistener_disable(lev);
        if (!g->paused)
            log_kv(LOG_WARN, "accept paused: out of file descriptors", "error", strerror(err),
                   NULL);
        g->paused = true;
        arm(g);
        return;
    }
    time_t now = time(NULL);
    if (now != g->last_other) {
        g->last_other = now;
        log_kv(LOG_WARN, "accept failed", "error", strerror(err), NULL);
    }
}

struct listenguard *listenguard_new(struct event_base *base, struct evconnlistener *lev)
{
    struct listenguard *g = xcalloc(1, sizeof *g);
    g->lev = lev;
    g->retry = evtimer_new(base, on_retry, g);
    if (!g->retry) {
        free(g);
        return NULL;
    }
    the_guard = g;
    evconnlistener_set_error_cb(lev, on_accept_error);
    return g;
}

void listenguard_free(struct listenguard *g)
{
    if (!g)
        return;
    evconnlistener_set_error_cb(g->lev, NULL);
    if (the_guard == g)
        the_guard = NULL;
    event_free(g->retry);
    free(g);
}
