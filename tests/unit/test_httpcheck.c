/* httpcheck: the head filter (header names, framing, bodies evhttp would not read) and
 * the path-segment rule (well-formed UTF-8). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "httpcheck.h"

#include <string.h>

#define N(a) (sizeof a / sizeof *a)

static int check1(const char *name, const char *value, bool unread)
{
    const struct httpcheck_field f[] = {{"Host", "x"}, {name, value}};
    const char *why = NULL;
    int rc = httpcheck_head(f, N(f), unread, &why);
    assert_true(rc == 0 || why != NULL);
    return rc;
}

static void header_names_are_tokens(void **state)
{
    (void)state;
    assert_int_equal(check1("X-Ok_1.2~!#$%&'*+^`|", "v", false), 0);
    /* evhttp keeps what precedes the colon: "Content-Length : 5" names "Content-Length " */
    assert_int_equal(check1("Content-Length ", "5", false), -1);
    assert_int_equal(check1("Content-Length\t", "5", false), -1);
    assert_int_equal(check1("X Y", "v", false), -1);
    assert_int_equal(check1("X(Y)", "v", false), -1);
    assert_int_equal(check1("X\x01", "v", false), -1);
    assert_int_equal(check1("X\xc3\xa9", "v", false), -1);
    assert_int_equal(check1("", "v", false), -1);
}

static void framing(void **state)
{
    (void)state;
    const char *why;
    const struct httpcheck_field two_cl[] = {{"Content-Length", "5"}, {"content-length", "5"}};
    assert_int_equal(httpcheck_head(two_cl, N(two_cl), false, &why), -1);
    const struct httpcheck_field cl_te[] = {{"Content-Length", "5"},
                                            {"Transfer-Encoding", "chunked"}};
    assert_int_equal(httpcheck_head(cl_te, N(cl_te), false, &why), -1);
    assert_int_equal(check1("Content-Length", "12", false), 0);
    assert_int_equal(check1("Content-Length", "+12", false), -1);
    assert_int_equal(check1("Content-Length", "1, 1", false), -1);
    assert_int_equal(check1("Content-Length", "", false), -1);
    assert_int_equal(httpcheck_head(NULL, 0, true, &why), 0);
}

static void no_body_where_evhttp_reads_none(void **state)
{
    (void)state;
    assert_int_equal(check1("Content-Length", "7", true), -1);
    assert_int_equal(check1("Transfer-Encoding", "chunked", true), -1);
    assert_int_equal(check1("Content-Length", "0", true), 0);
    assert_int_equal(check1("Content-Length", "00", true), 0);
    assert_int_equal(check1("Content-Length", "7", false), 0);
}

static bool seg(const char *s)
{
    return httpcheck_segment(s, strlen(s));
}

static void segments_are_utf8_text(void **state)
{
    (void)state;
    assert_true(seg("alice"));
    assert_true(seg(""));
    assert_true(seg("\xc3\xa9l\xc3\xa8ve \xf0\x9f\x98\x80"));
    assert_true(seg("\xef\xbf\xbf"));     /* U+FFFF */
    assert_true(seg("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
    assert_true(seg("\xc2\xa0"));         /* U+00A0, just past C1 */
    assert_false(seg("\xff\xfe"));
    assert_false(seg("\xc0\xaf"));         /* overlong '/' */
    assert_false(seg("\xe0\x80\xaf"));     /* overlong */
    assert_false(seg("\xf0\x80\x80\xaf")); /* overlong */
    assert_false(seg("\xed\xa0\x80"));     /* surrogate */
    assert_false(seg("\xf4\x90\x80\x80")); /* above U+10FFFF */
    assert_false(seg("\xe2\x82"));         /* cut short */
    assert_false(seg("\x80"));
    /* control characters are well-formed: the handler's business (no such user) */
    assert_true(seg("a\nb"));
    assert_true(seg("\x7f"));
    assert_true(seg("\xc2\x85")); /* C1 NEL */
    assert_false(httpcheck_segment("a\0b", 3));
}

/* The head's length as httpcheck_head_scan finds it, fed in pieces of `step` bytes. */
static size_t head_len(const char *s, size_t step, bool *done)
{
    struct httpcheck_headscan sc = {0};
    size_t n = strlen(s), total = 0;
    for (size_t i = 0; i < n; i += step)
        total += httpcheck_head_scan(&sc, s + i, n - i < step ? n - i : step);
    assert_int_equal(total, sc.bytes);
    *done = sc.done;
    return sc.bytes;
}

static void head_ends_at_the_first_empty_line(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len; /* of the head */
        bool done;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY", 27, true},
        {"GET / HTTP/1.1\nHost: x\n\nBODY", 24, true}, /* bare LF ends lines too */
        {"GET / HTTP/1.1\r\nHost: x\n\r\n", 26, true},
        {"GET / HTTP/1.1\r\nX: a\r\r\n\r\n", 25, true}, /* "\r\r\n" is the line "\r" */
        {"GET / HTTP/1.1\r\nHost: x\r\n", 25, false},
        {"GET / HTTP/1.1\r\nHost: x\r\n\r", 26, false},
        {"\r\nGET / HTTP/1.1\r\n\r\n", 2, true}, /* evhttp refuses an empty first line */
        {"", 0, false},
    };
    for (size_t i = 0; i < N(cases); i++)
        for (size_t step = 1; step <= 32; step++) {
            bool done;
            assert_int_equal(head_len(cases[i].in, step, &done), cases[i].len);
            assert_int_equal(done, cases[i].done);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_names_are_tokens),
        cmocka_unit_test(framing),
        cmocka_unit_test(no_body_where_evhttp_reads_none),
        cmocka_unit_test(segments_are_utf8_text),
        cmocka_unit_test(head_ends_at_the_first_empty_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
