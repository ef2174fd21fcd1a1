/* Unit tests of server/mail/sms.c over server/io/curlev.c: a real HTTP exchange with an
 * evhttp gateway on the same event loop (so the test also proves that curlev
 * never blocks it: the gateway could not answer otherwise). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "curlev.h"
#include "server.h"
#include "sms.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

struct fixture {
    struct config cfg;
    struct server srv;
    struct evhttp *gw;
    int port;
    int reply_status; /* what the gateway answers */
    char body[512];   /* what it received */
    char ctype[128];
    int calls, ok;
};

static void on_gateway(struct evhttp_request *req, void *arg)
{
    struct fixture *f = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    if (n >= sizeof f->body)
        n = sizeof f->body - 1;
    evbuffer_remove(in, f->body, n);
    f->body[n] = '\0';
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    snprintf(f->ctype, sizeof f->ctype, "%s", ct ? ct : "");
    evhttp_send_reply(req, f->reply_status, "whatever", NULL);
}

static void on_sent(void *arg, int ok)
{
    struct fixture *f = arg;
    f->calls++;
    f->ok = ok;
    event_base_loopbreak(f->srv.base);
}

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof f);
    f.srv.base = event_base_new();
    f.srv.cfg = &f.cfg;
    f.srv.curl = curlev_new(f.srv.base);
    f.gw = evhttp_new(f.srv.base);
    struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(f.gw, "127.0.0.1", 0);
    assert_non_null(s);
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sin, &len);
    f.port = ntohs(sin.sin_port);
    evhttp_set_gencb(f.gw, on_gateway, &f);
    static char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/sms", f.port);
    f.cfg.sms_webhook_url = url;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    curlev_free(f->srv.curl);
    evhttp_free(f->gw);
    event_base_free(f->srv.base);
    return 0;
}

static void run(struct fixture *f)
{
    struct timeval limit = {15, 0};
    event_base_loopexit(f->srv.base, &limit); /* a hard bound: on_sent breaks earlier */
    event_base_dispatch(f->srv.base);
}

static void test_posts_json(void **state)
{
    struct fixture *f = *state;
    f->reply_status = 200;
    assert_int_equal(sms_send(&f->srv, "+15551234567", "Your code: 123456", on_sent, f), 0);
    assert_int_equal(f->calls, 0); /* never from inside sms_send */
    run(f);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->ok, 1);
    assert_string_equal(f->ctype, "application/json");
    json_error_t err;
    json_t *doc = json_loads(f->body, JSON_REJECT_DUPLICATES, &err);
    assert_non_null(doc);
    const char *to, *text;
    assert_int_equal(json_unpack_ex(doc, &err, JSON_STRICT, "{s:s, s:s}", "to", &to, "text", &text),
                     0);
    assert_string_equal(to, "+15551234567");
    assert_string_equal(text, "Your code: 123456");
    json_decref(doc);
    assert_int_equal(curlev_running(f->srv.curl), 0);
}

static void test_non_2xx_is_failure(void **state)
{
    struct fixture *f = *state;
    f->reply_status = 500;
    assert_int_equal(sms_send(&f->srv, "+15551234567", "x", on_sent, f), 0);
    run(f);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->ok, 0);
}

static void test_unreachable_is_failure(void **state)
{
    struct fixture *f = *state;
    f->cfg.sms_webhook_url = "http://127.0.0.1:1/sms"; /* nothing listens on port 1 */
    assert_int_equal(sms_send(&f->srv, "+15551234567", "x", on_sent, f), 0);
    run(f);
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->ok, 0);
}

static void test_no_webhook(void **state)
{
    struct fixture *f = *state;
    f->cfg.sms_webhook_url = NULL;
    assert_int_equal(sms_send(&f->srv, "+15551234567", "x", on_sent, f), -1);
    assert_int_equal(f->calls, 0);
}

/* Transfers still running at curlev_free() complete (ok = 0) so nothing leaks. */
static void test_free_completes_running(void **state)
{
    struct fixture *f = *state;
    f->reply_status = 200;
    assert_int_equal(sms_send(&f->srv, "+15551234567", "x", on_sent, f), 0);
    assert_int_equal(curlev_running(f->srv.curl), 1);
    curlev_free(f->srv.curl);
    f->srv.curl = NULL;
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->ok, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_posts_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_2xx_is_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_is_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_webhook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_completes_running, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
