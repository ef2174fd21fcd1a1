/* alloc: the one allocation policy of pushgated (docs/architecture.md).
 *
 * Out of memory is not handled, it ends the process: these functions never return
 * NULL; when the C library's allocator does, they write one line naming the size to
 * stderr and abort() (the service manager restarts the process). Why: all state that
 * matters is in PostgreSQL and every request a client was not answered for is retried
 * by it, while a rarely-run recovery path per allocation is where a server fails open.
 * Thread-safe (the offload workers use them too). jansson and libevent allocate
 * through them as well (alloc_install()); libpq, libcurl and OpenSSL report their own
 * allocation failures as errors, which every caller already treats as failures. */
#ifndef PUSHGATE_ALLOC_H
#define PUSHGATE_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* asprintf() that aborts instead of failing. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Makes jansson and libevent allocate with xmalloc & co. Call once, before either
 * allocates anything (first thing in main). */
void alloc_install(void);

#endif
