/* curlev: libcurl's multi interface driven by the server's libevent loop
 * (CURLMOPT_SOCKETFUNCTION + CURLMOPT_TIMERFUNCTION + curl_multi_socket_action,
 * as in curl's hiperfifo example), so that SMTP and HTTP transfers never block
 * the loop.
 *
 * Contract:
 *  - The caller builds an easy handle with every option it needs and hands it
 *    to curlev_add(). curlev owns CURLOPT_PRIVATE (do not set it) and forces
 *    CURLOPT_NOSIGNAL.
 *  - done() runs exactly once per added handle, from the loop, never from
 *    inside curlev_add(). rc is the transfer's result; response_code is
 *    CURLINFO_RESPONSE_CODE (the last SMTP reply code, the HTTP status), 0 if
 *    none. When done() runs the handle is no longer in the multi handle: the
 *    callee owns it again and must curl_easy_cleanup() it (it may do so, and
 *    may call curlev_add() again, from inside done()).
 *  - curlev_cancel() takes a handle back before it completed: done() will not
 *    run, and the caller cleans the handle up.
 *  - curlev_free() completes every transfer still running with
 *    rc = CURLE_ABORTED_BY_CALLBACK and response_code 0, so that callers can
 *    release what they hold; the loop has stopped by then, so done() must not
 *    start new work. Free curlev after its users and before the event base.
 *  - curlev_new() calls curl_global_init() and curlev_free() the matching
 *    curl_global_cleanup() (both reference-counted by libcurl). */
#ifndef PUSHGATE_CURLEV_H
#define PUSHGATE_CURLEV_H

#include <curl/curl.h>

struct event_base;
struct curlev;

typedef void (*curlev_done_fn)(void *arg, CURLcode rc, long response_code);

/* NULL on failure (out of memory, libcurl not initialisable). */
struct curlev *curlev_new(struct event_base *base);
void curlev_free(struct curlev *c);

/* 0: started, done() will run. -1: not started, done() will never run. */
int curlev_add(struct curlev *c, CURL *easy, curlev_done_fn done, void *arg);
/* Removes a running transfer without calling its done(). */
void curlev_cancel(struct curlev *c, CURL *easy);
/* Transfers added and not yet completed or cancelled. */
int curlev_running(const struct curlev *c);

#endif
