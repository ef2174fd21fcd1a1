/* authview: the auth request's API object built from auth_view_t columns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "authview.h"

#include <string.h>

/* A one-row result with the 12 view columns (NULL values as NULL). */
static PGresult *row(const char *const vals[AUTHVIEW_NCOLS])
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc attrs[AUTHVIEW_NCOLS];
    memset(attrs, 0, sizeof attrs);
    for (int i = 0; i < AUTHVIEW_NCOLS; i++)
        attrs[i].name = (char *)"c";
    PQsetResultAttrs(r, AUTHVIEW_NCOLS, attrs);
    for (int i = 0; i < AUTHVIEW_NCOLS; i++)
        PQsetvalue(r, 0, i, (char *)vals[i], vals[i] ? (int)strlen(vals[i]) : -1);
    return r;
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void accepted_sync(void **state)
{
    (void)state;
    const char *v[] = {
        "q_622b95833bab53f6", "accepted",   NULL,    "alice", "1795000000", "1795000060",
        "1795000012",         "d_93kd0000", "a.b.c", "473",   "f",          "x.y.z"};
    PGresult *r = row(v);
    json_t *o = authview_json(r, 0, 0);
    assert_string_equal(str(o, "requestId"), "q_622b95833bab53f6");
    assert_string_equal(str(o, "status"), "accepted");
    assert_true(json_is_null(json_object_get(o, "reason")));
    assert_string_equal(str(o, "createdAt"), "2026-11-18T11:06:40Z");
    assert_string_equal(str(o, "expiresAt"), "2026-11-18T11:07:40Z");
    assert_string_equal(str(o, "decidedAt"), "2026-11-18T11:06:52Z");
    assert_string_equal(str(o, "deviceId"), "d_93kd0000");
    assert_string_equal(str(o, "evidence"), "a.b.c");
    assert_string_equal(str(o, "challenge"), "x.y.z"); /* api.md 5: the answered challenge */
    assert_null(json_object_get(o, "displayCode"));    /* synchronous: the app drew it */
    assert_int_equal(json_object_size(o), 10);
    json_decref(o);
    PQclear(r);
}

static void pending_async(void **state)
{
    (void)state;
    const char *v[] = {"q_1234567890", "pending", NULL, "bob", "1795000000", "1795000060",
                       NULL,           NULL,      NULL, "042", "t",          NULL};
    PGresult *r = row(v);
    json_t *o = authview_json(r, 0, 0);
    assert_true(json_is_null(json_object_get(o, "decidedAt")));
    assert_true(json_is_null(json_object_get(o, "deviceId")));
    assert_true(json_is_null(json_object_get(o, "evidence")));
    assert_true(json_is_null(json_object_get(o, "challenge"))); /* nobody decided */
    assert_string_equal(str(o, "displayCode"), "042");
    json_decref(o);
    PQclear(r);
}

static void no_request(void **state)
{
    (void)state;
    const char *v[AUTHVIEW_NCOLS] = {NULL};
    PGresult *r = row(v);
    assert_null(authview_json(r, 0, 0));
    PQclear(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepted_sync),
        cmocka_unit_test(pending_async),
        cmocka_unit_test(no_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
