/* problem: the RFC 9457 body every error carries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "problem.h"

#include <string.h>

static void fields(void **state)
{
    (void)state;
    json_t *p = problem_new(404, "not_found", "no registration with that id");
    assert_string_equal(json_string_value(json_object_get(p, "type")), "about:blank");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Not Found");
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 404);
    assert_string_equal(json_string_value(json_object_get(p, "code")), "not_found");
    assert_string_equal(json_string_value(json_object_get(p, "detail")),
                        "no registration with that id");
    assert_int_equal(json_object_size(p), 5);
    json_decref(p);
}

static void titles(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *title;
    } cases[] = {{400, "Bad Request"},
                 {401, "Unauthorized"},
                 {405, "Method Not Allowed"},
                 {409, "Conflict"},
                 {410, "Gone"},
                 {413, "Content Too Large"},
                 {415, "Unsupported Media Type"},
                 {422, "Unprocessable Content"},
                 {423, "Locked"},
                 {429, "Too Many Requests"},
                 {503, "Service Unavailable"},
                 {599, "Error"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_string_equal(problem_title(cases[i].status), cases[i].title);
}

static void detail_defaults_to_title(void **state)
{
    (void)state;
    json_t *p = problem_new(503, "unavailable", NULL);
    assert_string_equal(json_string_value(json_object_get(p, "detail")), "Service Unavailable");
    json_decref(p);
}

/* The body is JSON-escaped, never spliced. */
static void escaping(void **state)
{
    (void)state;
    json_t *p = problem_new(400, "invalid_request", "bad \"field\"\n<x>");
    char *s = json_dumps(p, JSON_COMPACT);
    json_t *back = json_loads(s, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(back, "detail")), "bad \"field\"\n<x>");
    free(s);
    json_decref(back);
    json_decref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fields),
        cmocka_unit_test(titles),
        cmocka_unit_test(detail_defaults_to_title),
        cmocka_unit_test(escaping),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
