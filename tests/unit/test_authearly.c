/* authearly: a decision that found no waiter is remembered briefly, so that a
 * waiter registering afterwards reads its request at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "authearly.h"

#include <stdio.h>

static void taken_once(void **state)
{
    (void)state;
    struct authearly *e = authearly_new();
    assert_false(authearly_take(e, "q_1"));
    authearly_note(e, "q_1");
    authearly_note(e, "q_2");
    assert_true(authearly_take(e, "q_1"));
    assert_false(authearly_take(e, "q_1")); /* once */
    assert_false(authearly_take(e, "q_3"));
    assert_int_equal(authearly_count(e), 1);
    authearly_free(e);
}

/* Beyond the cap the oldest go first; the newest stay. */
static void oldest_go_beyond_the_cap(void **state)
{
    (void)state;
    struct authearly *e = authearly_new();
    char id[32];
    for (int i = 0; i < AUTHEARLY_MAX + 10; i++) {
        snprintf(id, sizeof id, "q_%d", i);
        authearly_note(e, id);
    }
    assert_int_equal(authearly_count(e), AUTHEARLY_MAX);
    assert_false(authearly_take(e, "q_0"));
    assert_false(authearly_take(e, "q_9"));
    assert_true(authearly_take(e, "q_10"));
    snprintf(id, sizeof id, "q_%d", AUTHEARLY_MAX + 9);
    assert_true(authearly_take(e, id));
    authearly_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(taken_once),
        cmocka_unit_test(oldest_go_beyond_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
