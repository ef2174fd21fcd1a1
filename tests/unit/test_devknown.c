/* devknown: a device's next poll skips the read only when this instance knows,
 * from an uninterrupted read kept up to date, that nothing is pending. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "devknown.h"

#include <string.h>

#include <stdio.h>

static void unknown_until_read(void **state)
{
    (void)state;
    struct devknown *k = devknown_new();
    assert_false(devknown_empty(k, "d_1"));
    devknown_add(k, "d_1", "q_1"); /* not known: nothing to add to */
    devknown_remove(k, "d_1", "q_1");
    assert_false(devknown_empty(k, "d_1"));
    devknown_set(k, "d_1", NULL, 0);
    assert_true(devknown_empty(k, "d_1"));
    assert_false(devknown_empty(k, "d_2"));
    devknown_free(k);
}

/* created here -> not empty; answered here -> empty again */
static void created_then_answered(void **state)
{
    (void)state;
    struct devknown *k = devknown_new();
    const char *ids[] = {"q_old"};
    devknown_set(k, "d_1", ids, 1);
    assert_false(devknown_empty(k, "d_1"));
    devknown_add(k, "d_1", "q_new");
    devknown_remove(k, "d_1", "q_old");
    assert_false(devknown_empty(k, "d_1"));
    devknown_remove(k, "d_1", "q_other"); /* not in the set: nothing changes */
    assert_false(devknown_empty(k, "d_1"));
    devknown_remove(k, "d_1", "q_new");
    assert_true(devknown_empty(k, "d_1"));
    devknown_free(k);
}

static void list_device(const char *device, void *arg)
{
    strncat(arg, device, 60 - strlen(arg));
    strcat(arg, ",");
}

/* any other event forgets; a set too large is not tracked at all */
static void forget_and_overflow(void **state)
{
    (void)state;
    struct devknown *k = devknown_new();
    devknown_set(k, "d_1", NULL, 0);
    devknown_set(k, "d_2", NULL, 0);
    devknown_forget(k, "d_1");
    assert_false(devknown_empty(k, "d_1"));
    assert_true(devknown_empty(k, "d_2"));
    char listed[64] = "";
    devknown_each(k, list_device, listed); /* what a LISTEN reconnect checks */
    assert_string_equal(listed, "d_2,");
    devknown_forget_all(k);
    assert_false(devknown_empty(k, "d_2"));
    const char *many[] = {"q_1", "q_2", "q_3", "q_4"};
    devknown_set(k, "d_3", many, 4);
    for (int i = 0; i < 4; i++)
        devknown_remove(k, "d_3", many[i]);
    assert_false(devknown_empty(k, "d_3")); /* never known */
    devknown_set(k, "d_4", many, 3);
    devknown_add(k, "d_4", "q_4"); /* a fourth: forgotten rather than lost */
    for (int i = 0; i < 4; i++)
        devknown_remove(k, "d_4", many[i]);
    assert_false(devknown_empty(k, "d_4"));
    devknown_free(k);
}

/* many devices stay reachable */
static void many_devices(void **state)
{
    (void)state;
    struct devknown *k = devknown_new();
    char id[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "d_%d", i);
        devknown_set(k, id, NULL, 0);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(id, sizeof id, "d_%d", i);
        assert_true(devknown_empty(k, id));
    }
    devknown_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unknown_until_read),
        cmocka_unit_test(created_then_answered),
        cmocka_unit_test(forget_and_overflow),
        cmocka_unit_test(many_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
