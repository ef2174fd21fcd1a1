/* alloc: the one allocation policy -- out of memory ends the process with a log line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifdef UNDER_ASAN
/* ASan's allocator reports an impossible request and exits instead of returning
 * NULL unless told otherwise; defaults given here survive scripts/test's
 * ASAN_OPTIONS, which does not mention this option. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}
/* More than ASan's largest allocation (1 << 40): its malloc returns NULL. RLIMIT_AS
 * cannot be used under ASan, whose shadow memory already exceeds any small limit. */
#define HUGE_REQUEST ((size_t)1 << 41)
#else
#define HUGE_REQUEST ((size_t)1 << 30)
#endif

/* Child: with address space limited to 256 MiB, asks for HUGE_REQUEST bytes.
 * xmalloc must not return; if it does, the child exits 0 (the test fails). */
static void huge_request_child(int errfd)
{
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none); /* the abort is expected: no core file */
#ifndef UNDER_ASAN
    struct rlimit small = {(rlim_t)256 << 20, (rlim_t)256 << 20};
    if (setrlimit(RLIMIT_AS, &small) < 0)
        _exit(3);
#endif
    dup2(errfd, STDERR_FILENO);
    volatile char *p = xmalloc(HUGE_REQUEST);
    p[0] = 1;
    _exit(0);
}

static void out_of_memory_aborts_with_a_line(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        huge_request_child(fds[1]);
    }
    close(fds[1]);
    char out[512];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof out - 1 && (n = read(fds[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
    char want[64];
    snprintf(want, sizeof want, "bytes=%zu\n", HUGE_REQUEST);
    assert_non_null(strstr(out, "msg=\"out of memory\""));
    assert_non_null(strstr(out, want));
}

static void zero_bytes_is_a_freeable_pointer(void **state)
{
    (void)state;
    void *p = xmalloc(0);
    assert_non_null(p);
    free(p);
    p = xcalloc(0, 8);
    assert_non_null(p);
    free(p);
}

static void strings(void **state)
{
    (void)state;
    char *s = xasprintf("%s-%d", "pushgate", 42);
    assert_string_equal(s, "pushgate-42");
    free(s);
    s = xstrndup("abcdef", 3);
    assert_string_equal(s, "abc");
    s = xrealloc(s, 64);
    assert_string_equal(s, "abc");
    free(s);
    s = xstrdup("");
    assert_string_equal(s, "");
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(out_of_memory_aborts_with_a_line),
        cmocka_unit_test(zero_bytes_is_a_freeable_pointer),
        cmocka_unit_test(strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
