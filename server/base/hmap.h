/* hmap: a string-keyed hash map of lists, for the in-process registries of
 * held requests (by request id, by device id). Keys are copied; values are
 * borrowed. Several values may share a key. Single-threaded. */
#ifndef PUSHGATE_HMAP_H
#define PUSHGATE_HMAP_H

#include <stddef.h>

struct hmap;

struct hmap *hmap_new(void);
void hmap_free(struct hmap *m);

void hmap_add(struct hmap *m, const char *key, void *value);
/* Removes one (key, value) pair; no-op when absent. */
void hmap_remove(struct hmap *m, const char *key, void *value);
/* Removes every value under key and returns them (malloc'd array, *n set);
 * NULL when none. The caller frees the array. */
void **hmap_take(struct hmap *m, const char *key, size_t *n);
/* One value under key (the one added last), or NULL; the map is unchanged. */
void *hmap_get(struct hmap *m, const char *key);
/* True when key has at least one value. */
int hmap_has(struct hmap *m, const char *key);
/* A snapshot of every value (malloc'd array, *n set; caller frees). */
void **hmap_values(struct hmap *m, size_t *n);
/* Calls fn for every value (fn must not modify the map). */
void hmap_each(struct hmap *m, void (*fn)(void *value, void *arg), void *arg);
/* Calls fn for every (key, value) pair (a key with several values: once per value;
 * fn must not modify the map). */
void hmap_each_key(struct hmap *m, void (*fn)(const char *key, void *arg), void *arg);
size_t hmap_count(const struct hmap *m);

#endif
