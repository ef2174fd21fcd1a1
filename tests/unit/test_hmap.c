/* hmap: the registries of held requests (several values per key). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_take_remove(void **state)
{
    (void)state;
    struct hmap *m = hmap_new();
    int a, b, c;
    hmap_add(m, "q_1", &a);
    hmap_add(m, "q_1", &b);
    hmap_add(m, "q_2", &c);
    assert_int_equal(hmap_count(m), 3);
    assert_true(hmap_has(m, "q_1"));
    assert_false(hmap_has(m, "q_3"));
    assert_ptr_equal(hmap_get(m, "q_2"), &c);
    assert_null(hmap_get(m, "q_3"));
    hmap_remove(m, "q_1", &a);
    hmap_remove(m, "q_1", &c); /* not under that key: no-op */
    assert_int_equal(hmap_count(m), 2);
    size_t n = 0;
    void **v = hmap_take(m, "q_1", &n);
    assert_int_equal(n, 1);
    assert_ptr_equal(v[0], &b);
    free(v);
    assert_false(hmap_has(m, "q_1"));
    assert_null(hmap_take(m, "q_1", &n));
    assert_int_equal(n, 0);
    hmap_free(m);
}

/* Growth keeps every entry reachable. */
static void many_keys(void **state)
{
    (void)state;
    struct hmap *m = hmap_new();
    static int vals[5000];
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "d_%08d", i);
        hmap_add(m, key, &vals[i]);
    }
    assert_int_equal(hmap_count(m), 5000);
    for (int i = 0; i < 5000; i += 7) {
        snprintf(key, sizeof key, "d_%08d", i);
        size_t n = 0;
        void **v = hmap_take(m, key, &n);
        assert_int_equal(n, 1);
        assert_ptr_equal(v[0], &vals[i]);
        free(v);
    }
    size_t n = 0;
    void **all = hmap_values(m, &n);
    assert_int_equal(n, hmap_count(m));
    assert_int_equal(n, 5000 - 715);
    free(all);
    hmap_free(m);
}

static void count_key(const char *key, void *arg)
{
    size_t *seen = arg;
    if (strcmp(key, "a") == 0)
        seen[0]++;
    else if (strcmp(key, "b") == 0)
        seen[1]++;
    else
        seen[2]++;
}

/* Every (key, value) pair is visited once: a key with two values twice. */
static void each_key(void **state)
{
    (void)state;
    struct hmap *m = hmap_new();
    int x, y, z;
    hmap_add(m, "a", &x);
    hmap_add(m, "a", &y);
    hmap_add(m, "b", &z);
    size_t seen[3] = {0, 0, 0};
    hmap_each_key(m, count_key, seen);
    assert_int_equal(seen[0], 2);
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[2], 0);
    hmap_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_take_remove),
        cmocka_unit_test(many_keys),
        cmocka_unit_test(each_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
