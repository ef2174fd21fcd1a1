#include "http.h"

#include "alloc.h"
#include "config.h"
#include "connguard.h"
#include "db.h"
#include "httpcheck.h"
#include "httpdate.h"
#include "listenguard.h"
#include "log.h"
#include "netmask.h"
#include "problem.h"
#include "router.h"
#include "server.h"
#include "tls.h"

#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

/* evhttp itself refuses declared bodies beyond this (its own plain 413);
 * between HTTP_MAX_BODY and this we answer a proper problem+json 413. */
#define EVHTTP_HARD_BODY_CAP (256 * 1024)
#define HTTP_TIMEOUT_S 30
#define HTTP_BACKLOG 1024 /* workers' own listeners: a burst of reconnecting devices */

_Static_assert(HTTP_MAX_HEAD == HTTPCHECK_MAX_HEAD, "errpage.c counts heads against evhttp's cap");

/* libevent 2.1's type of a request whose method it does not know (http-internal.h's
 * EVHTTP_REQ_UNKNOWN_, not in its public headers). Allowed, such a request reaches the
 * router like any other (405 with Allow, or 404) instead of evhttp's own HTML 501. */
#if LIBEVENT_VERSION_NUMBER >= 0x02020000
#error "libevent 2.2 changed the method bits: review EVHTTP_REQ_UNKNOWN and errpage.c"
#endif
#define EVHTTP_REQ_UNKNOWN (1u << 15)

static struct http_routing routing; /* one server per process */
static struct connguard *guard;
static struct netmask_list trusted; /* PUSHGATE_TRUSTED_PROXIES; empty: none */

static void req_free(struct req *r)
{
    if (r->on_free)
        r->on_free(r);
    r->srv->inflight--;
    for (int i = 0; i < HTTP_MAX_PARAMS; i++)
        free(r->params[i]);
    evhttp_clear_headers(&r->query);
    json_decref(r->body);
    free(r->app_id);
    free(r->app_name);
    free(r->device_id);
    free(r->device_jti);
    free(r->client_addr);
    free(r);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    default:
        return problem_title(status);
    }
}

/* evhttp's "the whole reply is written". An answer that is only queued when the loop
 * ends is never sent: a stop waits for this (serve.c). When the connection fails first,
 * evhttp does not call it, and the stop waits only until its drain deadline. */
static void on_sent(struct evhttp_request *ev, void *arg)
{
    ((struct server *)arg)->unsent--;
    connguard_answer_sent(guard, evhttp_request_get_connection(ev));
}

/* evhttp 2.1 writes a HEAD answer's body (without a Content-Length) and those bytes would
 * start the next answer on the connection: a HEAD gets the GET's headers, its length
 * included, and no body. */
static struct evbuffer *head_only(struct req *r, int status, struct evbuffer *buf)
{
    if (r->method == EVHTTP_REQ_CONNECT) { /* evhttp 2.1 writes no length for a CONNECT's
                                              answer (a tunnel's, it assumes): ours is HTTP */
        char len[24];
        snprintf(len, sizeof len, "%zu", buf ? evbuffer_get_length(buf) : 0);
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Content-Length", len);
    }
    if (r->method != EVHTTP_REQ_HEAD)
        return buf;
    if (status != 204 && status != 304 && status >= 200) {
        char len[24];
        snprintf(len, sizeof len, "%zu", buf ? evbuffer_get_length(buf) : 0);
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Content-Length", len);
    }
    return NULL;
}

static void send_buf(struct req *r, int status, const char *ctype, struct evbuffer *buf)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->ev);
    if (ctype)
        evhttp_add_header(h, "Content-Type", ctype);
    if (!evhttp_find_header(h, "Cache-Control")) /* static files set their own (h_web.c) */
        evhttp_add_header(h, "Cache-Control", "no-store");
    /* evhttp would format a Date of its own for every reply (httpdate.h) */
    evhttp_add_header(h, "Date", httpdate_cached(time(NULL)));
    if (routing.observe)
        routing.observe(r->route ? r->route->pattern : "unmatched", status);
    if (log_enabled(LOG_DEBUG)) {
        char st[8];
        snprintf(st, sizeof st, "%d", status);
        log_kv(LOG_DEBUG, "request", "route", r->route ? r->route->pattern : "-", "status", st,
               NULL);
    }
    if (evhttp_request_get_connection(r->ev)) { /* else the client is gone: nothing to write */
        r->srv->unsent++;
        evhttp_request_set_on_complete_cb(r->ev, on_sent, r->srv);
    }
    evhttp_send_reply(r->ev, status, reason(status), head_only(r, status, buf));
    req_free(r);
}

void http_reply_raw(struct req *r, int status, const char *content_type, const char *data,
                    size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    evbuffer_add(buf, data, len);
    send_buf(r, status, content_type, buf);
    evbuffer_free(buf);
}

static void reply_json_ctype(struct req *r, int status, json_t *body, const char *ctype)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        static const char oom[] =
            "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\","
            "\"status\":500,\"code\":\"internal\",\"detail\":\"out of memory\"}";
        http_reply_raw(r, 500, "application/problem+json", oom, sizeof oom - 1);
        return;
    }
    http_reply_raw(r, status, ctype, text, strlen(text));
    free(text);
}

void http_reply_json(struct req *r, int status, json_t *body)
{
    reply_json_ctype(r, status, body, "application/json");
}

void http_reply_empty(struct req *r, int status)
{
    send_buf(r, status, NULL, NULL);
}

void http_problem(struct req *r, int status, const char *code, const char *detail)
{
    reply_json_ctype(r, status, problem_new(status, code, detail), "application/problem+json");
}

void http_problem_retry(struct req *r, int status, const char *code, const char *detail,
                        int retry_after)
{
    char v[16];
    snprintf(v, sizeof v, "%d", retry_after > 0 ? retry_after : 1);
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Retry-After", v);
    http_problem(r, status, code, detail);
}

void http_unavailable(struct req *r)
{
    http_problem_retry(r, 503, "unavailable", "the database is unreachable; try again", 2);
}

void http_db_failure(struct req *r, int db_status)
{
    if (db_status == DB_UNAVAILABLE)
        return http_unavailable(r);
    http_problem(r, 500, "internal", "unexpected database answer");
}

void http_shed_input(struct req *r)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->ev);
    char *conn = NULL;
    const char *c = evhttp_find_header(in, "Connection");
    if (c)
        conn = xstrdup(c);
    evhttp_clear_headers(in);
    if (conn)
        evhttp_add_header(in, "Connection", conn);
    free(conn);
    struct evbuffer *body = evhttp_request_get_input_buffer(r->ev);
    evbuffer_drain(body, evbuffer_get_length(body));
    json_decref(r->body);
    r->body = NULL;
    evhttp_clear_headers(&r->query);
}

void http_abandon(struct req *r)
{
    struct evhttp_connection *con = evhttp_request_get_connection(r->ev);
    req_free(r);
    if (con)
        evhttp_connection_free(con);
}

const char *http_path(const struct req *r)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->ev);
    const char *p = uri ? evhttp_uri_get_path(uri) : NULL;
    return p ? p : "";
}

static const char *peer_address(const struct req *r)
{
    struct evhttp_connection *c = evhttp_request_get_connection(r->ev);
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (c)
        evhttp_connection_get_peer(c, &addr, &port);
    return addr && *addr ? addr : "unknown";
}

const char *http_client_address(const struct req *r)
{
    return r->client_addr ? r->client_addr : peer_address(r);
}

bool http_client_forwarded(const struct req *r)
{
    return r->client_addr != NULL;
}

/* Every X-Forwarded-For line's value, in the order they came; n gets their number. */
static const char **forwarded_for(struct req *r, size_t *n)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(r->ev);
    struct evkeyval *kv;
    *n = 0;
    TAILQ_FOREACH(kv, h, next)
    *n += strcasecmp(kv->key, "X-Forwarded-For") == 0;
    const char **v = xcalloc(*n ? *n : 1, sizeof *v);
    size_t i = 0;
    TAILQ_FOREACH(kv, h, next)
    if (strcasecmp(kv->key, "X-Forwarded-For") == 0)
        v[i++] = kv->value;
    return v;
}

/* api.md 10: the X-Forwarded-For of a trusted peer names the client (the walk is
 * netmask_xff_client's); anyone else's is ignored. Resolved once, on arrival: a held
 * request sheds its headers (http_shed_input) and is still asked for its address. */
static void resolve_client(struct req *r)
{
    if (!trusted.n)
        return;
    const char *peer = peer_address(r);
    struct netaddr a;
    if (!netaddr_parse(peer, strlen(peer), &a) || !netmask_list_contains(&trusted, &a))
        return;
    size_t n;
    const char **values = forwarded_for(r, &n);
    enum netmask_xff got = netmask_xff_client(&trusted, values, n, &a);
    free(values);
    if (got == XFF_MALFORMED)
        log_kv(LOG_DEBUG, "malformed X-Forwarded-For from a trusted proxy: its address is used",
               "peer", peer, NULL);
    if (got != XFF_CLIENT)
        return;
    char text[NETADDR_TEXT];
    netaddr_format(&a, text);
    r->client_addr = xstrdup(text);
}

const char *http_method_name(const struct req *r)
{
    switch (r->method) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    default:
        return "OTHER";
    }
}

void http_bad_request(struct req *r, const char *detail)
{
    http_problem(r, 400, "invalid_request", detail);
}

const char *http_header(const struct req *r, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(r->ev), name);
}

const char *http_query(const struct req *r, const char *name)
{
    return evhttp_find_header(&r->query, name);
}

bool http_wants_json(const struct req *r)
{
    const char *accept = http_header(r, "Accept");
    return accept && strcasestr(accept, "application/json") != NULL;
}

/* Request smuggling guard (design.md, httpcheck.h): a head evhttp would frame
 * differently from what the client meant is refused, and the connection closed. */
static int check_framing(struct req *r)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(r->ev);
    size_t n = 0;
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, h, next)
    n++;
    struct httpcheck_field *f = xcalloc(n ? n : 1, sizeof *f);
    n = 0;
    TAILQ_FOREACH(kv, h, next)
    f[n++] = (struct httpcheck_field){kv->key, kv->value};
    const char *why = NULL;
    bool unread = r->method == EVHTTP_REQ_HEAD || r->method == EVHTTP_REQ_TRACE ||
                  r->method == EVHTTP_REQ_UNKNOWN;
    int rc = httpcheck_head(f, n, unread, &why);
    free(f);
    if (rc < 0) {
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Connection", "close");
        http_bad_request(r, why);
    }
    return rc;
}

/* Path captures are text (api.md 1: a username in a path is percent-encoded UTF-8):
 * bytes that decode to anything else never reach a handler or SQL (httpcheck.h). */
static int check_params(struct req *r)
{
    for (int i = 0; i < HTTP_MAX_PARAMS; i++) {
        if (r->params[i] && !httpcheck_segment(r->params[i], strlen(r->params[i]))) {
            http_bad_request(r, "a path segment is not well-formed UTF-8");
            return -1;
        }
    }
    return 0;
}

static bool is_json_media_type(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct || strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    char next = ct[sizeof want - 1];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

void http_json_drop_nulls(json_t *obj)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(obj, tmp, k, v)
    {
        if (json_is_null(v))
            json_object_del(obj, k);
    }
}

static int read_json_body(struct req *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    size_t len = evbuffer_get_length(in);
    if (len > HTTP_MAX_BODY) {
        http_problem(r, 413, "payload_too_large", "the request body exceeds 64 KiB");
        return -1;
    }
    if (!is_json_media_type(http_header(r, "Content-Type"))) {
        http_problem(r, 415, "unsupported_media_type", "send Content-Type: application/json");
        return -1;
    }
    json_error_t err;
    r->body = json_loadb((const char *)evbuffer_pullup(in, -1), len, JSON_REJECT_DUPLICATES, &err);
    if (!r->body && json_error_code(&err) == json_error_duplicate_key) {
        http_bad_request(r, "duplicate key in JSON object");
        return -1;
    }
    if (!json_is_object(r->body)) {
        http_problem(r, 400, "invalid_json", "the body must be a well-formed JSON object");
        return -1;
    }
    http_json_drop_nulls(r->body);
    return 0;
}

/* A route that takes no body (api.md 1 still applies to one that is sent): it must be
 * JSON, and an empty object, since any member would be an unknown field. The body of
 * a GET has no meaning and is not looked at (a HEAD or TRACE that declares one was
 * refused by check_framing: evhttp would not read it). */
static int refuse_stray_body(struct req *r)
{
    if (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD ||
        evbuffer_get_length(evhttp_request_get_input_buffer(r->ev)) == 0)
        return 0;
    if (read_json_body(r) < 0)
        return -1;
    const char *field = json_object_iter_key(json_object_iter(r->body));
    if (!field)
        return 0;
    char msg[160];
    snprintf(msg, sizeof msg, "this request takes no body fields: unknown field '%.64s'", field);
    http_bad_request(r, msg);
    return -1;
}

static void route_not_found(struct req *r, unsigned allow)
{
    if (r->method == EVHTTP_REQ_CONNECT) { /* a tunnel to host:port: no resource of ours */
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Allow", "");
        http_problem(r, 405, "method_not_allowed", "CONNECT is not supported: not a proxy");
        return;
    }
    if (!allow) {
        http_problem(r, 404, "not_found", "no such resource");
        return;
    }
    char hdr[64];
    router_allow_header(allow, hdr, sizeof hdr);
    evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Allow", hdr);
    http_problem(r, 405, "method_not_allowed", "method not allowed on this resource");
}

static void on_request(struct evhttp_request *ev, void *arg)
{
    struct req *r = xcalloc(1, sizeof *r);
    r->srv = arg;
    r->srv->inflight++;
    clock_gettime(CLOCK_MONOTONIC, &r->received);
    r->ev = ev;
    r->method = evhttp_request_get_command(ev);
    TAILQ_INIT(&r->query);
    connguard_request_arrived(guard, evhttp_request_get_connection(ev));
    resolve_client(r);
    if (r->srv->draining) { /* a kept-alive connection after SIGTERM: go elsewhere */
        evhttp_add_header(evhttp_request_get_output_headers(ev), "Connection", "close");
        return http_unavailable(r);
    }
    if (check_framing(r) < 0)
        return;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    unsigned allow = 0;
    r->route =
        path ? router_match(routing.table, routing.n, r->method, path, r->params, &allow) : NULL;
    if (!r->route) {
        route_not_found(r, allow);
        return;
    }
    if (check_params(r) < 0)
        return;
    const char *q = evhttp_uri_get_query(uri);
    if (q && evhttp_parse_query_str(q, &r->query) < 0) {
        http_bad_request(r, "malformed query string");
        return;
    }
    if ((r->route->json_body ? read_json_body(r) : refuse_stray_body(r)) < 0)
        return;
    routing.dispatch(r);
}

static int write_port_file(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()); /* workers write it too */
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

static int bound_port(struct evhttp_bound_socket *bs)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void configure(struct evhttp *h)
{
    evhttp_set_max_headers_size(h, HTTP_MAX_HEAD);
    evhttp_set_max_body_size(h, EVHTTP_HARD_BODY_CAP);
    evhttp_set_timeout(h, HTTP_TIMEOUT_S);
    /* every method, known to libevent or not: the router answers those it does not serve
     * with 405 + Allow (or 404) as problem+json, where evhttp would send its own HTML 501
     * (docs/http.md); CONNECT gets 405 (route_not_found) */
    evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                      EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                      EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
                                      EVHTTP_REQ_UNKNOWN);
    evhttp_set_default_content_type(h, "application/json");
}

/* The listening socket: evhttp's own, unless several workers share the port
 * (app/workers.h): then SO_REUSEPORT, each worker with its own accept queue and
 * the kernel spreading new connections over them. */
static struct evhttp_bound_socket *bind_listener(struct server *srv)
{
    const struct config *c = srv->cfg;
    if (c->workers <= 1)
        return evhttp_bind_socket_with_handle(srv->http, c->listen_host,
                                              (ev_uint16_t)c->listen_port);
    char port[8];
    snprintf(port, sizeof port, "%d", c->listen_port);
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
                                    .ai_socktype = SOCK_STREAM,
                                    .ai_protocol = IPPROTO_TCP,
                                    .ai_flags = EVUTIL_AI_PASSIVE};
    struct evutil_addrinfo *ai = NULL;
    if (evutil_getaddrinfo(c->listen_host, port, &hints, &ai) != 0)
        return NULL;
    unsigned flags = LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE |
                     LEV_OPT_CLOSE_ON_EXEC;
    struct evconnlistener *lev = evconnlistener_new_bind(srv->base, NULL, NULL, flags,
                                                         HTTP_BACKLOG, ai->ai_addr,
                                                         (int)ai->ai_addrlen);
    evutil_freeaddrinfo(ai);
    if (!lev)
        return NULL;
    struct evhttp_bound_socket *bs = evhttp_bind_listener(srv->http, lev);
    if (!bs)
        evconnlistener_free(lev);
    return bs;
}

int http_start(struct server *srv, const struct http_routing *wiring)
{
    const struct config *c = srv->cfg;
    routing = *wiring;
    srv->http = evhttp_new(srv->base);
    if (!srv->http)
        return -1;
    configure(srv->http);
    if (c->trusted_proxies && netmask_list_parse(c->trusted_proxies, &trusted) != 0)
        return -1; /* config_load has checked it */
    const struct connguard_limits lim = {
        .head_timeout = c->http_head_timeout,
        .max_total = c->http_max_connections,
        .max_per_address = c->http_max_per_address,
        .cap_loopback = c->http_cap_loopback,
        .new_bev = srv->tls ? tls_bufferevent : NULL, /* TLS: every accepted socket */
        .new_bev_arg = srv->tls,
    };
    guard = connguard_new(srv->base, srv->http, &lim);
    evhttp_set_gencb(srv->http, on_request, srv);
    srv->listener = bind_listener(srv);
    if (!srv->listener) {
        log_kv(LOG_ERROR, "cannot listen", "host", c->listen_host, "error",
               evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()), NULL);
        return -1;
    }
    srv->listen_guard = listenguard_new(srv->base, evhttp_bound_socket_get_listener(srv->listener));
    if (!srv->listen_guard)
        return -1;
    connguard_set_listener(guard, srv->listen_guard);
    int port = bound_port(srv->listener);
    if (c->port_file && write_port_file(c->port_file, port) < 0) {
        log_kv(LOG_ERROR, "cannot write PUSHGATE_PORT_FILE", "path", c->port_file, NULL);
        return -1;
    }
    char addr[300];
    snprintf(addr, sizeof addr, "%s%s%s:%d", strchr(c->listen_host, ':') ? "[" : "", c->listen_host,
             strchr(c->listen_host, ':') ? "]" : "", port);
    free(srv->public_url);
    if (c->public_url_set)
        srv->public_url = xstrdup(c->public_url);
    else
        srv->public_url = xasprintf("%s://%s", srv->tls ? "https" : "http", addr);
    log_kv(LOG_INFO, "listening", "addr", addr, "public_url", srv->public_url, "tls",
           srv->tls ? "on" : "off", NULL);
    return 0;
}

void http_stop_accepting(struct server *srv)
{
    connguard_set_listener(guard, NULL);
    listenguard_free(srv->listen_guard); /* its timer must not revive the listener */
    srv->listen_guard = NULL;
    if (srv->listener) {
        evhttp_del_accept_socket(srv->http, srv->listener);
        srv->listener = NULL;
    }
}

void http_free(struct server *srv)
{
    connguard_set_listener(guard, NULL);
    listenguard_free(srv->listen_guard);
    srv->listen_guard = NULL;
    if (srv->http)
        evhttp_free(srv->http); /* closes every connection: the guard hears of each */
    srv->http = NULL;
    connguard_free(guard);
    guard = NULL;
    netmask_list_free(&trusted);
}
