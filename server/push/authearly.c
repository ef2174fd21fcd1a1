#include "authearly.h"

#include "alloc.h"
#include "hmap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

struct noted {
    TAILQ_ENTRY(noted) link;
    long long at_ms;
    char id[];
};

struct authearly {
    struct hmap *by_id; /* id -> struct noted */
    TAILQ_HEAD(, noted) order;
    unsigned count;
};

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct authearly *authearly_new(void)
{
    struct authearly *e = xcalloc(1, sizeof *e);
    e->by_id = hmap_new();
    TAILQ_INIT(&e->order);
    return e;
}

static void forget(struct authearly *e, struct noted *n)
{
    TAILQ_REMOVE(&e->order, n, link);
    hmap_remove(e->by_id, n->id, n);
    e->count--;
    free(n);
}

/* Oldest first: drops what is past its time, and beyond the cap. */
static void expire(struct authearly *e)
{
    long long now = now_ms();
    struct noted *n;
    while ((n = TAILQ_FIRST(&e->order)) != NULL &&
           (now - n->at_ms > AUTHEARLY_KEEP_MS || e->count > AUTHEARLY_MAX))
        forget(e, n);
}

void authearly_free(struct authearly *e)
{
    if (!e)
        return;
    struct noted *n;
    while ((n = TAILQ_FIRST(&e->order)) != NULL)
        forget(e, n);
    hmap_free(e->by_id);
    free(e);
}

void authearly_note(struct authearly *e, const char *id)
{
    size_t len = strlen(id);
    struct noted *n = xmalloc(sizeof *n + len + 1);
    memcpy(n->id, id, len + 1);
    n->at_ms = now_ms();
    TAILQ_INSERT_TAIL(&e->order, n, link);
    hmap_add(e->by_id, n->id, n);
    e->count++;
    expire(e);
}

bool authearly_take(struct authearly *e, const char *id)
{
    expire(e);
    struct noted *n = hmap_get(e->by_id, id);
    if (!n)
        return false;
    forget(e, n);
    return true;
}

unsigned authearly_count(const struct authearly *e)
{
    return e->count;
}
