/* throttle: per-address failure windows in an hmap (see throttle.h). */
#include "throttle.h"

#include "alloc.h"
#include "hmap.h"
#include "log.h"

#include <stdbool.h>
#include <stdlib.h>

struct entry {
    char *key;
    int count;
    double start; /* the window's first failure */
};

struct throttle {
    struct hmap *map; /* key -> struct entry (owned here) */
    int limit, window;
    size_t max_keys;
    double next_sweep; /* a full map is swept at most once a second */
};

struct throttle *throttle_new(int limit, int window, size_t max_keys)
{
    struct throttle *t = xcalloc(1, sizeof *t);
    t->map = hmap_new();
    t->limit = limit;
    t->window = window;
    t->max_keys = max_keys;
    return t;
}

static void entry_drop(struct throttle *t, struct entry *e)
{
    hmap_remove(t->map, e->key, e);
    free(e->key);
    free(e);
}

static void drop_all(void *value, void *arg)
{
    struct entry *e = value;
    (void)arg;
    free(e->key);
    free(e);
}

void throttle_free(struct throttle *t)
{
    if (!t)
        return;
    hmap_each(t->map, drop_all, NULL);
    hmap_free(t->map);
    free(t);
}

static bool ended(const struct throttle *t, const struct entry *e, double now)
{
    return now - e->start >= t->window;
}

int throttle_blocked(struct throttle *t, const char *key, double now)
{
    struct entry *e = hmap_get(t->map, key);
    if (!e)
        return 0;
    if (ended(t, e, now)) {
        entry_drop(t, e);
        return 0;
    }
    if (e->count < t->limit)
        return 0;
    double rest = e->start + t->window - now;
    int left = (int)rest;
    if (left < rest)
        left++; /* rounded up: a client that waits Retry-After finds the window ended */
    return left < 1 ? 1 : left;
}

/* Drops every entry whose window has ended. */
static void sweep(struct throttle *t, double now)
{
    size_t n = 0;
    void **all = hmap_values(t->map, &n);
    for (size_t i = 0; i < n; i++)
        if (ended(t, all[i], now))
            entry_drop(t, all[i]);
    free(all);
    t->next_sweep = now + 1;
}

/* A new entry for key, or NULL when the map is full even after a sweep. */
static struct entry *entry_new(struct throttle *t, const char *key, double now)
{
    if (hmap_count(t->map) >= t->max_keys && now >= t->next_sweep) {
        sweep(t, now);
        if (hmap_count(t->map) >= t->max_keys)
            log_kv(LOG_WARN, "credential throttle full: new client addresses are not counted",
                   NULL);
    }
    if (hmap_count(t->map) >= t->max_keys)
        return NULL;
    struct entry *e = xcalloc(1, sizeof *e);
    e->key = xstrdup(key);
    e->start = now;
    hmap_add(t->map, key, e);
    return e;
}

void throttle_fail(struct throttle *t, const char *key, double now)
{
    struct entry *e = hmap_get(t->map, key);
    if (e && ended(t, e, now)) {
        entry_drop(t, e);
        e = NULL;
    }
    if (!e && !(e = entry_new(t, key, now)))
        return;
    e->count++;
}

size_t throttle_count(const struct throttle *t)
{
    return hmap_count(t->map);
}
