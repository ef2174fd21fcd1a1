/* h_web: the embedded web/app/ table (cmake/embed_web.cmake) and the /app routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "h_web.h"
#include "routes.h"

#include <stdlib.h>
#include <string.h>

static void every_file_has_a_type_an_etag_and_its_bytes(void **state)
{
    (void)state;
    assert_true(web_files_count >= 3);
    for (size_t i = 0; i < web_files_count; i++) {
        const struct web_file *f = &web_files[i];
        assert_non_null(strchr(f->type, '/'));
        assert_int_equal(strlen(f->etag), 34); /* "<32 hex>" */
        assert_int_equal(f->etag[0], '"');
        assert_true(f->len > 0);
        assert_int_equal(f->data[f->len], 0); /* the generator's terminator, after the bytes */
        assert_ptr_equal(web_file_find(f->name), f);
    }
}

static void the_shell_is_there_and_nothing_else_is_found(void **state)
{
    (void)state;
    const struct web_file *f = web_file_find("index.html");
    assert_non_null(f);
    assert_string_equal(f->type, "text/html; charset=utf-8");
    assert_string_equal(web_file_find("app.js")->type, "text/javascript; charset=utf-8");
    assert_string_equal(web_file_find("style.css")->type, "text/css; charset=utf-8");
    assert_null(web_file_find("../index.html"));
    assert_null(web_file_find(""));
    assert_null(web_file_find("INDEX.HTML"));
}

static const struct route *match(const char *path, char *p[ROUTER_MAX_PARAMS])
{
    unsigned allow;
    memset(p, 0, sizeof(char *) * ROUTER_MAX_PARAMS);
    return router_match(routes, routes_count, EVHTTP_REQ_GET, path, p, &allow);
}

static void routes_reach_the_handlers(void **state)
{
    (void)state;
    char *p[ROUTER_MAX_PARAMS];
    assert_ptr_equal(match("/app", p)->handler, h_web_redirect);
    assert_ptr_equal(match("/app/", p)->handler, h_web_index);
    assert_ptr_equal(match("/app/app.js", p)->handler, h_web_file);
    assert_string_equal(p[0], "app.js");
    free(p[0]);
    assert_null(match("/app/a/b.js", p)); /* web/app/ is flat */
}

static void the_policy_allows_nothing_inline_or_foreign(void **state)
{
    (void)state;
    assert_non_null(strstr(web_csp, "default-src 'none'"));
    assert_non_null(strstr(web_csp, "script-src 'self';"));
    assert_non_null(strstr(web_csp, "frame-ancestors 'none'"));
    assert_null(strstr(web_csp, "unsafe"));
    assert_null(strstr(web_csp, "http"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_file_has_a_type_an_etag_and_its_bytes),
        cmocka_unit_test(the_shell_is_there_and_nothing_else_is_found),
        cmocka_unit_test(routes_reach_the_handlers),
        cmocka_unit_test(the_policy_allows_nothing_inline_or_foreign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
