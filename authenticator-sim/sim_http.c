#include "sim_http.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
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
    struct event_base *base;
    struct sim_url url;
    struct sim_call *call; /* the outstanding request, or NULL */
    SSL *ssl;              /* https: the connection's, owned by evcon's bufferevent */
    int closed;            /* https: the connection closed; open a new one */
    char tls_err[200];     /* why the last TLS handshake failed */
};

static SSL_CTX *tls_ctx; /* for every https connection; made by the first */

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
    else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        snprintf(err, errlen, "only http:// and https:// server URLs are supported, not %s://",
                 scheme);
    else if (strlen(host) >= sizeof u->host || (path && strlen(path) >= sizeof u->prefix))
        snprintf(err, errlen, "URL too long: %s", url);
    else {
        snprintf(u->host, sizeof u->host, "%s", host);
        u->tls = strcmp(scheme, "https") == 0;
        u->port = evhttp_uri_get_port(uri) > 0 ? evhttp_uri_get_port(uri) : u->tls ? 443 : 80;
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

/* TLS 1.2 or 1.3, the peer's certificate verified; the CA file's, or the system's. */
static SSL_CTX *client_ctx(const char *cafile, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int ok = ctx && SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1;
    if (ok)
        ok = cafile ? SSL_CTX_load_verify_locations(ctx, cafile, NULL) == 1
                    : SSL_CTX_set_default_verify_paths(ctx) == 1;
    if (!ok) {
        unsigned long e = ERR_peek_last_error();
        snprintf(err, errlen, "cannot load the CA certificates %s: %s", cafile ? cafile : "",
                 e ? ERR_reason_error_string(e) : "out of memory");
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    /* a server closing without close_notify is an EOF (HTTP frames its own ends) */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
    return ctx;
}

int sim_http_set_cacert(const char *file, char *err, size_t errlen)
{
    if (!file)
        return 0; /* the system's store, when the first https connection needs it */
    SSL_CTX_free(tls_ctx);
    tls_ctx = client_ctx(file, err, errlen);
    return tls_ctx ? 0 : -1;
}

/* An SSL for u: the certificate must name u's host (an IP address literal, or a DNS name,
 * then also sent as SNI). */
static SSL *client_ssl(const struct sim_url *u)
{
    char err[256];
    if (!tls_ctx && !(tls_ctx = client_ctx(NULL, err, sizeof err)))
        return NULL;
    SSL *ssl = SSL_new(tls_ctx);
    if (!ssl)
        return NULL;
    char host[sizeof u->host];
    size_t n = strlen(u->host);
    if (u->host[0] == '[' && n > 2) /* [v6] */
        snprintf(host, sizeof host, "%.*s", (int)(n - 2), u->host + 1);
    else
        snprintf(host, sizeof host, "%s", u->host);
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1) {
        ERR_clear_error();
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1) {
            SSL_free(ssl);
            return NULL;
        }
    }
    return ssl;
}

static void on_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    ((struct sim_conn *)arg)->closed = 1;
}

/* c's evhttp connection: a plain one, or one over a new TLS bufferevent. */
static int conn_open(struct sim_conn *c)
{
    const struct sim_url *u = &c->url;
    if (!u->tls) {
        c->evcon = evhttp_connection_base_new(c->base, NULL, u->host, (unsigned short)u->port);
        return c->evcon ? 0 : -1;
    }
    SSL *ssl = client_ssl(u);
    struct bufferevent *bev =
        ssl ? bufferevent_openssl_socket_new(c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE)
            : NULL;
    if (!bev) {
        SSL_free(ssl);
        return -1;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    c->evcon = evhttp_connection_base_bufferevent_new(c->base, NULL, bev, u->host,
                                                      (unsigned short)u->port);
    if (!c->evcon) {
        bufferevent_free(bev); /* frees ssl */
        return -1;
    }
    c->ssl = ssl;
    c->closed = 0;
    evhttp_connection_set_closecb(c->evcon, on_conn_closed, c);
    return 0;
}

struct sim_conn *sim_conn_new(struct event_base *base, const struct sim_url *u)
{
    struct sim_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->url = *u;
    c->base = base;
    if (conn_open(c) < 0) {
        free(c);
        return NULL;
    }
    evhttp_connection_set_max_body_size(c->evcon, MAX_BODY);
    evhttp_connection_set_max_headers_size(c->evcon, MAX_HEADERS);
    return c;
}

/* A TLS connection cannot be reopened by evhttp (its SSL is spent): a new one. */
static int conn_renew(struct sim_conn *c)
{
    if (!c->url.tls || !c->closed)
        return 0;
    evhttp_connection_free(c->evcon);
    c->evcon = NULL;
    c->ssl = NULL;
    if (conn_open(c) < 0)
        return -1;
    evhttp_connection_set_max_body_size(c->evcon, MAX_BODY);
    evhttp_connection_set_max_headers_size(c->evcon, MAX_HEADERS);
    return 0;
}

void sim_conn_free(struct sim_conn *c)
{
    if (!c)
        return;
    /* evhttp_connection_free drops queued requests without calling back */
    if (c->evcon)
        evhttp_connection_free(c->evcon);
    free(c->call);
    free(c);
}

void sim_http_base_free(struct event_base *base)
{
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_free(base);
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

/* After a failed request: 1 with c->tls_err set when the TLS handshake was the reason
 * (the certificate did not verify, or OpenSSL refused the server). */
static int tls_failure(struct sim_conn *c)
{
    if (!c->ssl)
        return 0;
    long v = SSL_get_verify_result(c->ssl);
    unsigned long e = bufferevent_get_openssl_error(evhttp_connection_get_bufferevent(c->evcon));
    if (v != X509_V_OK)
        snprintf(c->tls_err, sizeof c->tls_err, "TLS: the server's certificate does not verify: %s",
                 X509_verify_cert_error_string(v));
    else if (e)
        snprintf(c->tls_err, sizeof c->tls_err, "TLS: %s", ERR_reason_error_string(e));
    else
        return 0;
    return 1;
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
        if (tls_failure(call->c))
            r.neterr = call->c->tls_err;
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
    if (c->call || sim_url_path(&c->url, path, full, sizeof full) < 0 || conn_renew(c) < 0)
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
