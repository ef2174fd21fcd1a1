#include "sim_http.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (1024 * 1024) /* answers of this API are small; refuse a flood */
#define MAX_HEADERS (64 * 1024)

struct sim_call {
    struct sim_conn *c;
    sim_http_cb cb;
    void *arg;
    int err; /* an enum evhttp_request_error, or -1 when none was reported */
};

struct sim_conn {
    struct evhttp_connection *evcon;
    struct sim_url url;
    struct sim_call *call; /* the outstanding request, or NULL */
};

int sim_url_parse(const char *url, struct sim_url *u, char *err, size_t errlen)
{
    struct evhttp_uri *uri = evhttp_uri_parse(url);
    const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
    const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    int rc = -1;
    memset(u, 0, sizeof *u);
    if (!uri || !scheme || !host || !*host)
        snprintf(err, errlen, "not a URL: %s", url);
    else if (strcmp(scheme, "http") != 0)
        snprintf(err, errlen, "only http:// server URLs are supported, not %s://", scheme);
    else if (strlen(host) >= sizeof u->host || (path && strlen(path) >= sizeof u->prefix))
        snprintf(err, errlen, "URL too long: %s", url);
    else {
        snprintf(u->host, sizeof u->host, "%s", host);
        u->port = evhttp_uri_get_port(uri) > 0 ? evhttp_uri_get_port(uri) : 80;
        snprintf(u->prefix, sizeof u->prefix, "%s", path ? path : "");
        size_t n = strlen(u->prefix);
        while (n > 0 && u->prefix[n - 1] == '/')
            u->prefix[--n] = '\0';
        snprintf(u->hostport, sizeof u->hostport, "%s:%d", host, u->port);
        rc = 0;
    }
    if (uri)
        evhttp_uri_free(uri);
    return rc;
}

int sim_url_path(const struct sim_url *u, const char *path, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s%s", u->prefix, path);
    return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

struct sim_conn *sim_conn_new(struct event_base *base, const struct sim_url *u)
{
    struct sim_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->url = *u;
    c->evcon = evhttp_connection_base_new(base, NULL, u->host, (unsigned short)u->port);
    if (!c->evcon) {
        free(c);
        return NULL;
    }
    evhttp_connection_set_max_body_size(c->evcon, MAX_BODY);
    evhttp_connection_set_max_headers_size(c->evcon, MAX_HEADERS);
    return c;
}

void sim_conn_free(struct sim_conn *c)
{
    if (!c)
        return;
    /* evhttp_connection_free drops queued requests without calling back */
    evhttp_connection_free(c->evcon);
    free(c->call);
    free(c);
}

int sim_conn_busy(const struct sim_conn *c)
{
    return c->call != NULL;
}

static const char *describe_neterr(int err)
{
    switch (err) {
    case EVREQ_HTTP_TIMEOUT:
        return "timed out";
    case EVREQ_HTTP_EOF:
        return "the server closed the connection";
    case EVREQ_HTTP_INVALID_HEADER:
        return "invalid HTTP answer";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "connection error";
    case EVREQ_HTTP_DATA_TOO_LONG:
        return "answer too large";
    case EVREQ_HTTP_REQUEST_CANCEL:
        return "request cancelled";
    default:
        return "cannot connect";
    }
}

static void on_error(enum evhttp_request_error err, void *arg)
{
    ((struct sim_call *)arg)->err = (int)err;
}

/* Fills r from a real answer; the caller frees *text. */
static void read_answer(struct evhttp_request *req, struct sim_resp *r, char **text)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    *text = malloc(n + 1);
    if (*text) {
        evbuffer_copyout(in, *text, n);
        (*text)[n] = '\0';
    }
    r->body = *text ? *text : "";
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *ctype = evhttp_find_header(h, "Content-Type");
    r->location = evhttp_find_header(h, "Location");
    if (*text && ctype && strstr(ctype, "json"))
        r->json = json_loadb(*text, n, JSON_REJECT_DUPLICATES, NULL);
}

static void on_done(struct evhttp_request *req, void *arg)
{
    struct sim_call *call = arg;
    struct sim_resp r = {0};
    char *text = NULL;
    if (req && evhttp_request_get_response_code(req) > 0) {
        r.status = evhttp_request_get_response_code(req);
        read_answer(req, &r, &text);
    } else {
        r.neterr = describe_neterr(call->err);
    }
    call->c->call = NULL;
    sim_http_cb cb = call->cb;
    void *cb_arg = call->arg;
    free(call);
    cb(&r, cb_arg);
    json_decref(r.json);
    free(text);
}

static int add_headers(struct evhttp_request *req, const struct sim_url *u,
                       const char *const *headers, const char *body)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    int rc = evhttp_add_header(out, "Host", u->hostport);
    rc |= evhttp_add_header(out, "User-Agent", "pushgate-sim");
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        rc |= evhttp_add_header(out, headers[i], headers[i + 1]);
    if (body) {
        rc |= evhttp_add_header(out, "Content-Type", "application/json");
        rc |= evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    }
    return rc ? -1 : 0;
}

int sim_http_request(struct sim_conn *c, enum evhttp_cmd_type method, const char *path,
                     const char *const *headers, const json_t *body, int timeout_s, sim_http_cb cb,
                     void *arg)
{
    char full[2048];
    if (c->call || sim_url_path(&c->url, path, full, sizeof full) < 0)
        return -1;
    struct sim_call *call = calloc(1, sizeof *call);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct evhttp_request *req = call ? evhttp_request_new(on_done, call) : NULL;
    if (!req || (body && !text) || add_headers(req, &c->url, headers, text) < 0) {
        if (req)
            evhttp_request_free(req);
        free(call);
        free(text);
        return -1;
    }
    free(text);
    *call = (struct sim_call){c, cb, arg, -1};
    evhttp_request_set_error_cb(req, on_error);
    evhttp_connection_set_timeout(c->evcon, timeout_s);
    c->call = call;
    if (evhttp_make_request(c->evcon, req, method, full) < 0) {
        /* libevent frees req on failure */
        c->call = NULL;
        free(call);
        return -1;
    }
    return 0;
}

struct sync_wait {
    int done;
    struct sim_resp *out;
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void on_sync(const struct sim_resp *r, void *arg)
{
    struct sync_wait *w = arg;
    *w->out = *r;
    w->out->json = json_incref(r->json);
    w->out->body = dup_or_null(r->body);
    w->out->location = dup_or_null(r->location);
    w->done = 1;
}

int sim_http_sync(struct event_base *base, struct sim_conn *c, enum evhttp_cmd_type method,
                  const char *path, const char *const *headers, const json_t *body, int timeout_s,
                  struct sim_resp *out)
{
    struct sync_wait w = {0, out};
    memset(out, 0, sizeof *out);
    if (sim_http_request(c, method, path, headers, body, timeout_s, on_sync, &w) < 0)
        return -1;
    while (!w.done)
        if (event_base_loop(base, EVLOOP_ONCE) < 0)
            return -1;
    return 0;
}

void sim_resp_clear(struct sim_resp *r)
{
    json_decref(r->json);
    free((char *)r->body);
    free((char *)r->location);
    memset(r, 0, sizeof *r);
}

void sim_resp_describe(const struct sim_resp *r, char *out, size_t outsz)
{
    if (r->status == 0) {
        snprintf(out, outsz, "%s", r->neterr ? r->neterr : "no answer");
        return;
    }
    const char *code = json_string_value(json_object_get(r->json, "code"));
    const char *detail = json_string_value(json_object_get(r->json, "detail"));
    if (code)
        snprintf(out, outsz, "HTTP %d %s%s%s", r->status, code, detail ? ": " : "",
                 detail ? detail : "");
    else
        snprintf(out, outsz, "HTTP %d (unexpected answer)", r->status);
}
