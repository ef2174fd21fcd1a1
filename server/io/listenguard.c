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
    bool full;             /* the connection cap is reached (listenguard_set_full) */
    bool pause_logged;     /* this pause was logged: log its end too */
    time_t last_pause_log; /* when a pause was last logged */
    time_t last_other;     /* when another accept error was last logged */
};

/* A listener at its limit flaps (a connection closes, one waiting in the backlog is
 * accepted, the limit is reached again): pauses closer than this to the last one logged
 * belong to its episode, which gets one line when it starts and one when it ends. */
#define PAUSE_LOG_S 10

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

static void log_pause(struct listenguard *g, const char *key, const char *value)
{
    time_t now = time(NULL);
    if (g->pause_logged || (g->last_pause_log && now - g->last_pause_log < PAUSE_LOG_S))
        return;
    g->last_pause_log = now;
    g->pause_logged = true;
    log_kv(LOG_WARN, "accept paused: out of file descriptors", key, value, NULL);
}

/* Accepts again unless a descriptor or the cap is still missing. */
static void resume(struct listenguard *g)
{
    if (g->paused || g->full)
        return;
    evconnlistener_enable(g->lev);
    if (g->pause_logged)
        log_kv(LOG_WARN, "accept resumed", NULL);
    g->pause_logged = false;
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
    resume(g);
}

void listenguard_set_full(struct listenguard *g, bool full, const char *why)
{
    if (!g || full == g->full)
        return;
    g->full = full;
    if (full) {
        evconnlistener_disable(g->lev);
        log_pause(g, "reason", why);
    } else {
        resume(g);
    }
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
        log_pause(g, "error", strerror(err));
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
