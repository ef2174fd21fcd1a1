#include "devknown.h"

#include "alloc.h"
#include "hmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KNOWN_IDS 3      /* more pending than this: not tracked (read instead) */
#define KNOWN_CAP 262144 /* devices tracked before the map is cleared */
#define ID_LEN 48

/* Sized for its ids: most known devices (every idle one) have none, and one entry
 * lives for every device polling this process (a 100,000-device box: issue 23). */
struct known {
    time_t read_at; /* CLOCK_MONOTONIC seconds of the read it rests on */
    int n;
    char ids[][ID_LEN];
};

struct devknown {
    struct hmap *map; /* device id -> struct known (owned) */
};

static time_t mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec;
}

struct devknown *devknown_new(void)
{
    struct devknown *k = xcalloc(1, sizeof *k);
    k->map = hmap_new();
    return k;
}

static void free_value(void *value, void *arg)
{
    (void)arg;
    free(value);
}

void devknown_forget_all(struct devknown *k)
{
    hmap_each(k->map, free_value, NULL);
    hmap_free(k->map);
    k->map = hmap_new();
}

void devknown_free(struct devknown *k)
{
    if (!k)
        return;
    hmap_each(k->map, free_value, NULL);
    hmap_free(k->map);
    free(k);
}

void devknown_forget(struct devknown *k, const char *device)
{
    size_t n = 0;
    void **all = hmap_take(k->map, device, &n);
    for (size_t i = 0; i < n; i++)
        free(all[i]);
    free(all);
}

void devknown_set(struct devknown *k, const char *device, const char *const *ids, int n)
{
    devknown_forget(k, device);
    if (n > KNOWN_IDS)
        return;
    for (int i = 0; i < n; i++)
        if (strlen(ids[i]) >= ID_LEN)
            return;
    if (hmap_count(k->map) >= KNOWN_CAP)
        devknown_forget_all(k);
    struct known *e = xcalloc(1, sizeof *e + (size_t)n * ID_LEN);
    e->read_at = mono_s();
    e->n = n;
    for (int i = 0; i < n; i++)
        snprintf(e->ids[i], ID_LEN, "%s", ids[i]);
    hmap_add(k->map, device, e);
}

void devknown_add(struct devknown *k, const char *device, const char *request_id)
{
    struct known *e = hmap_get(k->map, device);
    if (!e)
        return;
    if (e->n >= KNOWN_IDS || strlen(request_id) >= ID_LEN)
        return devknown_forget(k, device);
    hmap_remove(k->map, device, e); /* the entry grows: it moves */
    e = xrealloc(e, sizeof *e + (size_t)(e->n + 1) * ID_LEN);
    snprintf(e->ids[e->n++], ID_LEN, "%s", request_id);
    hmap_add(k->map, device, e);
}

void devknown_remove(struct devknown *k, const char *device, const char *request_id)
{
    struct known *e = hmap_get(k->map, device);
    for (int i = 0; e && i < e->n; i++) {
        if (strcmp(e->ids[i], request_id) != 0)
            continue;
        memmove(e->ids[i], e->ids[i + 1], (size_t)(e->n - i - 1) * ID_LEN);
        e->n--;
        return;
    }
}

bool devknown_empty(struct devknown *k, const char *device)
{
    struct known *e = hmap_get(k->map, device);
    if (!e)
        return false;
    if (mono_s() - e->read_at >= DEVKNOWN_TTL_S) {
        devknown_forget(k, device);
        return false;
    }
    return e->n == 0;
}

void devknown_each(struct devknown *k, void (*fn)(const char *device, void *arg), void *arg)
{
    hmap_each_key(k->map, fn, arg);
}
