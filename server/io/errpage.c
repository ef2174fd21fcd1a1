#include "errpage.h"

#include "alloc.h"
#include "httpcheck.h"
#include "httpdate.h"
#include "log.h"
#include "problem.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What evhttp_send_page_ (libevent 2.1 http.c) writes first after the status line, and
 * how evhttp_send_error's body starts. */
static const char page_ctype[] = "Content-Type: text/html\r\n";
static const char page_body[] = "<HTML><HEAD>\n<TITLE>";

/* Where the output stands in the answer evhttp is writing. */
enum stage {
    OUT_OTHER,  /* not an error page, or between answers */
    OUT_STATUS, /* a status line was added: its first header decides */
    OUT_HEAD,   /* an error page's headers, until the empty line */
    OUT_BODY,   /* its body comes next */
};

struct errpage {
    struct bufferevent *bev;
    struct evbuffer_cb_entry *in_cb, *out_cb;
    struct httpcheck_headscan scan; /* the current request's head */
    bool lost;                      /* input drained before it was counted: size unknown */
    bool rewriting;                 /* our own edit of the output: not an answer of evhttp's */
    enum stage stage;
    int status;              /* the answer's status (evhttp's) */
    uint64_t added, drained; /* output bytes ever added / removed */
    uint64_t answer_start;   /* where (in added bytes) the last status line began */
};

/* Counts the head from offset off of the input buffer on (until its end, or until it is
 * known to be too long). Reads with evbuffer_peek: nothing is copied. */
static void scan_from(struct errpage *e, struct evbuffer *in, size_t off)
{
    struct evbuffer_ptr at;
    struct evbuffer_iovec v[8];
    while (!e->scan.done && e->scan.bytes <= HTTPCHECK_MAX_HEAD) {
        if (evbuffer_ptr_set(in, &at, off, EVBUFFER_PTR_SET) < 0)
            return;
        int n = evbuffer_peek(in, -1, &at, v, 8);
        for (int i = 0; i < n && i < 8 && !e->scan.done; i++) {
            httpcheck_head_scan(&e->scan, v[i].iov_base, v[i].iov_len);
            off += v[i].iov_len;
        }
        if (n <= 8)
            return;
    }
}

static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg)
{
    struct errpage *e = arg;
    if (info->n_added == 0 || e->scan.done || e->scan.bytes > HTTPCHECK_MAX_HEAD)
        return;
    size_t len = evbuffer_get_length(in);
    if (info->n_added > len) { /* read meanwhile (deferred callbacks): uncounted */
        e->lost = true;
        return;
    }
    scan_from(e, in, len - info->n_added);
}

/* The problem for evhttp's status: 431 for a head over the limit (evhttp: 400). */
static int classify(const struct errpage *e, int status, const char **code, const char **detail)
{
    switch (status) {
    case 400:
        if (!e->lost && e->scan.bytes > HTTPCHECK_MAX_HEAD) {
            *code = "request_header_fields_too_large";
            *detail = "the request head exceeds 16 KiB";
            return 431;
        }
        *code = "invalid_request";
        *detail = "malformed request line, header or Content-Length";
        return 400;
    case 413:
        *code = "payload_too_large";
        *detail = "the request body exceeds 64 KiB (or its chunked framing is malformed)";
        return 413;
    case 417:
        *code = "expectation_failed";
        *detail = "only Expect: 100-continue is supported";
        return 417;
    default:
        *code = status < 500 ? "invalid_request" : "internal";
        *detail = problem_title(status);
        return status;
    }
}

/* The whole answer that replaces evhttp's page (malloc'd). */
static char *problem_answer(const struct errpage *e, size_t *len)
{
    const char *code, *detail;
    int status = classify(e, e->status, &code, &detail);
    json_t *p = problem_new(status, code, detail);
    char *body = json_dumps(p, JSON_COMPACT); /* an object: NULL only on OOM, which aborts */
    json_decref(p);
    char *all =
        xasprintf("HTTP/1.1 %d %s\r\nContent-Type: application/problem+json\r\n"
                  "Cache-Control: no-store\r\nDate: %s\r\nConnection: close\r\n"
                  "Content-Length: %zu\r\n\r\n%s",
                  status, problem_title(status), httpdate_cached(time(NULL)), strlen(body), body);
    free(body);
    *len = strlen(all);
    return all;
}

/* True when the buffer's start is frozen: a socket bufferevent keeps its output's start
 * frozen between its own writes (libevent 2.1 bufferevent_sock.c), so that nobody drains
 * what it may be writing; evbuffer_copyout then fails (for a non-empty buffer). */
static bool front_frozen(struct evbuffer *buf)
{
    char c;
    return evbuffer_get_length(buf) > 0 && evbuffer_copyout(buf, &c, 1) < 0;
}

/* Replaces evhttp's page (from answer_start to the end of the output) with a problem.
 * Nothing of it has been sent: evhttp wrote it in this loop pass and writes go out from
 * the loop, so a frozen start is thawed for the edit and frozen again, as evhttp itself
 * does (http.c evhttp_connection_read_on_write_error). */
static void rewrite(struct errpage *e, struct evbuffer *out)
{
    if (e->answer_start < e->drained)
        return; /* part of it is gone already: cannot happen (above); leave it */
    size_t keep_len = (size_t)(e->answer_start - e->drained);
    struct evbuffer *keep = evbuffer_new();
    e->rewriting = true;
    bool frozen = front_frozen(out);
    if (frozen)
        evbuffer_unfreeze(out, 1);
    if (evbuffer_remove_buffer(out, keep, keep_len) == (int)keep_len &&
        evbuffer_drain(out, evbuffer_get_length(out)) == 0) {
        size_t len;
        char *answer = problem_answer(e, &len);
        evbuffer_add_buffer(out, keep);
        evbuffer_add(out, answer, len);
        free(answer);
        if (log_enabled(LOG_DEBUG)) {
            char st[8];
            snprintf(st, sizeof st, "%d", e->status);
            log_kv(LOG_DEBUG, "libevent error page answered as problem+json", "status", st, NULL);
        }
    } else {
        evbuffer_prepend_buffer(out, keep); /* nothing was removed, or all of it is back */
        log_kv(LOG_WARN, "libevent error page left as it is: output not editable", NULL);
    }
    if (frozen)
        evbuffer_freeze(out, 1);
    e->rewriting = false;
    evbuffer_free(keep);
}

/* Up to n bytes from offset off; how many. evbuffer_peek, since evbuffer_copyout refuses
 * a buffer whose start is frozen (a socket bufferevent's output is, between its writes). */
static size_t copy_at(struct evbuffer *buf, size_t off, char *to, size_t n)
{
    struct evbuffer_ptr at;
    if (evbuffer_ptr_set(buf, &at, off, EVBUFFER_PTR_SET) < 0)
        return 0;
    struct evbuffer_iovec v[4];
    int k = evbuffer_peek(buf, (ev_ssize_t)n, &at, v, 4);
    size_t got = 0;
    for (int i = 0; i < k && i < 4 && got < n; i++) {
        size_t c = v[i].iov_len < n - got ? v[i].iov_len : n - got;
        memcpy(to + got, v[i].iov_base, c);
        got += c;
    }
    return got;
}

/* One addition to the output: where evhttp's answer stands. Reads at most the first
 * bytes of each addition (an answer is a status line, a line per header, an empty line
 * and its body: a handful of additions). */
static void on_output(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg)
{
    struct errpage *e = arg;
    e->drained += info->n_deleted;
    e->added += info->n_added;
    size_t len = evbuffer_get_length(out);
    if (info->n_added == 0 || e->rewriting || info->n_added > len)
        return;
    char b[sizeof page_ctype] = {0};
    size_t n = copy_at(out, len - info->n_added, b,
                       info->n_added < sizeof b - 1 ? info->n_added : sizeof b - 1);
    if (n >= 12 && memcmp(b, "HTTP/1.", 7) == 0) {
        e->stage = OUT_STATUS;
        e->status = atoi(b + 9);
        e->answer_start = e->added - info->n_added;
    } else if (e->stage == OUT_STATUS) {
        e->stage = info->n_added == sizeof page_ctype - 1 && !memcmp(b, page_ctype, n) ? OUT_HEAD
                                                                                       : OUT_OTHER;
    } else if (e->stage == OUT_HEAD) {
        if (info->n_added == 2 && !memcmp(b, "\r\n", 2))
            e->stage = OUT_BODY;
    } else if (e->stage == OUT_BODY) {
        e->stage = OUT_OTHER;
        if (n >= sizeof page_body - 1 && !memcmp(b, page_body, sizeof page_body - 1))
            rewrite(e, out);
    }
}

struct errpage *errpage_attach(struct bufferevent *bev)
{
    struct errpage *e = xcalloc(1, sizeof *e);
    e->bev = bev;
    struct evbuffer *out = bufferevent_get_output(bev);
    e->added = evbuffer_get_length(out); /* what is there counts as added, not drained */
    e->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), on_input, e);
    e->out_cb = evbuffer_add_cb(out, on_output, e);
    if (!e->in_cb || !e->out_cb)
        abort(); /* libevent allocates through xmalloc: cannot fail */
    scan_from(e, bufferevent_get_input(bev), 0);
    return e;
}

void errpage_next_request(struct errpage *e)
{
    if (!e)
        return;
    memset(&e->scan, 0, sizeof e->scan);
    e->lost = false;
    scan_from(e, bufferevent_get_input(e->bev), 0);
}

void errpage_detach(struct errpage *e)
{
    if (!e)
        return;
    evbuffer_remove_cb_entry(bufferevent_get_input(e->bev), e->in_cb);
    evbuffer_remove_cb_entry(bufferevent_get_output(e->bev), e->out_cb);
    free(e);
}

void errpage_drop(struct errpage *e)
{
    free(e);
}
