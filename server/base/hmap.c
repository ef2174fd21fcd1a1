#include "hmap.h"

#include "alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    struct entry *next;
    void *value;
    uint64_t hash;
    char key[];
};

struct hmap {
    struct entry **buckets;
    size_t nbuckets, count;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct hmap *hmap_new(void)
{
    struct hmap *m = xcalloc(1, sizeof *m);
    m->nbuckets = 64;
    m->buckets = xcalloc(m->nbuckets, sizeof *m->buckets);
    return m;
}

void hmap_free(struct hmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct entry *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    free(m->buckets);
    free(m);
}

static void grow(struct hmap *m)
{
    size_t n = m->nbuckets * 2;
    struct entry **b = xcalloc(n, sizeof *b);
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct entry *e = m->buckets[i], *next; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

void hmap_add(struct hmap *m, const char *key, void *value)
{
    if (m->count >= m->nbuckets)
        grow(m);
    size_t klen = strlen(key);
    struct entry *e = xmalloc(sizeof *e + klen + 1);
    memcpy(e->key, key, klen + 1);
    e->value = value;
    e->hash = fnv1a(key);
    e->next = m->buckets[e->hash & (m->nbuckets - 1)];
    m->buckets[e->hash & (m->nbuckets - 1)] = e;
    m->count++;
}

void *hmap_get(struct hmap *m, const char *key)
{
    uint64_t h = fnv1a(key);
    for (struct entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e->value;
    return NULL;
}

void hmap_remove(struct hmap *m, const char *key, void *value)
{
    uint64_t h = fnv1a(key);
    for (struct entry **p = &m->buckets[h & (m->nbuckets - 1)]; *p; p = &(*p)->next) {
        struct entry *e = *p;
        if (e->value == value && e->hash == h && strcmp(e->key, key) == 0) {
            *p = e->next;
            free(e);
            m->count--;
            return;
        }
    }
}

void **hmap_take(struct hmap *m, const char *key, size_t *n)
{
    uint64_t h = fnv1a(key);
    void **out = NULL;
    *n = 0;
    for (struct entry **p = &m->buckets[h & (m->nbuckets - 1)]; *p;) {
        struct entry *e = *p;
        if (e->hash != h || strcmp(e->key, key) != 0) {
            p = &e->next;
            continue;
        }
        out = xrealloc(out, (*n + 1) * sizeof *out);
        out[(*n)++] = e->value;
        *p = e->next;
        free(e);
        m->count--;
    }
    return out;
}

void hmap_each(struct hmap *m, void (*fn)(void *value, void *arg), void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct entry *e = m->buckets[i]; e; e = e->next)
            fn(e->value, arg);
}

void hmap_each_key(struct hmap *m, void (*fn)(const char *key, void *arg), void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct entry *e = m->buckets[i]; e; e = e->next)
            fn(e->key, arg);
}

size_t hmap_count(const struct hmap *m)
{
    return m->count;
}

void **hmap_values(struct hmap *m, size_t *n)
{
    void **out = xcalloc(m->count + 1, sizeof *out);
    *n = 0;
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct entry *e = m->buckets[i]; e; e = e->next)
            out[(*n)++] = e->value;
    return out;
}

int hmap_has(struct hmap *m, const char *key)
{
    uint64_t h = fnv1a(key);
    for (struct entry *e = m->buckets[h & (m->nbuckets - 1)]; e; e = e->next)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return 1;
    return 0;
}
