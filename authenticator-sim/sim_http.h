/* sim_http: the simulator's HTTP client, libevent's evhttp client on the caller's loop.
 *
 * One sim_conn is one persistent (keep-alive) TCP connection to the server, reopened by
 * libevent when the server closes it. A connection carries at most ONE outstanding request:
 * that keeps the bookkeeping trivial and is all a device needs (it polls, then answers).
 * http:// and https:// URLs: https through libevent's OpenSSL bufferevent, TLS 1.2 or
 * 1.3, the server's certificate checked against the CA file of sim_http_set_cacert (else
 * the system's trust store) and against the URL's host (name or IP address); a TLS
 * connection the server closed is replaced by a new one before the next request.
 * Host names are resolved synchronously (no evdns): use an address for load runs. */
#ifndef PUSHGATE_SIM_HTTP_H
#define PUSHGATE_SIM_HTTP_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stddef.h>

/* A parsed server base URL, e.g. http://127.0.0.1:8080 or https://host/prefix. */
struct sim_url {
    int tls; /* https:// */
    char host[256];
    int port;
    char prefix[512];   /* path before the API routes, "" or "/x" (no trailing slash) */
    char hostport[300]; /* the Host header */
};

/* Parses url (http[s]://host[:port][/prefix]). 0, or -1 with a reason in err. */
int sim_url_parse(const char *url, struct sim_url *u, char *err, size_t errlen);

/* The CA certificates (PEM file) https:// servers are checked against; NULL: the system's
 * trust store. Call before the first connection. 0, or -1 with a reason in err. */
int sim_http_set_cacert(const char *file, char *err, size_t errlen);

/* One answer. status 0 means no HTTP answer at all; neterr then says why. */
struct sim_resp {
    int status;
    const char *neterr;   /* set when status == 0 */
    json_t *json;         /* parsed body when the content type is JSON, else NULL */
    const char *body;     /* raw body, NUL-terminated ("" when empty) */
    const char *location; /* Location header or NULL */
};

/* Called exactly once per request, unless the connection is freed first. resp and
 * everything in it are valid only during the call. The callback may free the
 * connection or start the next request on it. */
typedef void (*sim_http_cb)(const struct sim_resp *resp, void *arg);

struct sim_conn;

/* A connection to u (copied). NULL on allocation failure. */
struct sim_conn *sim_conn_new(struct event_base *base, const struct sim_url *u);

/* Closes the connection; an outstanding request is dropped without its callback. */
void sim_conn_free(struct sim_conn *c);

/* event_base_free after the connections are freed: one more non-blocking pass first, for
 * a TLS bufferevent freed in mid-request is owed a deferred callback that holds a
 * reference until it runs (event_base_free drops it unrun: the connection would leak). */
void sim_http_base_free(struct event_base *base);

/* 1 while a request is outstanding. */
int sim_conn_busy(const struct sim_conn *c);

/* Starts method on prefix+path (path may carry a query). headers: NULL or a
 * NULL-terminated list of name, value pairs. body: NULL or a JSON value sent with
 * Content-Type application/json. timeout_s bounds connect, send and the wait for the answer.
 * 0 when started (cb follows), -1 when c is busy or the request cannot be made. */
int sim_http_request(struct sim_conn *c, enum evhttp_cmd_type method, const char *path,
                     const char *const *headers, const json_t *body, int timeout_s, sim_http_cb cb,
                     void *arg);

/* The full request path for a route (prefix + path), as a device proof's htu wants it.
 * Writes into out; -1 when it does not fit. */
int sim_url_path(const struct sim_url *u, const char *path, char *out, size_t outsz);

/* Runs one request to completion on base (for the one-shot commands). *out receives a
 * deep copy: out->json a new reference, body/location malloc'd; free with
 * sim_resp_clear. -1 when the request could not be started. */
int sim_http_sync(struct event_base *base, struct sim_conn *c, enum evhttp_cmd_type method,
                  const char *path, const char *const *headers, const json_t *body, int timeout_s,
                  struct sim_resp *out);
void sim_resp_clear(struct sim_resp *r);

/* A one-line description of a failed answer: "HTTP 410 registration_expired: this link
 * has expired", or the network error. Into out. */
void sim_resp_describe(const struct sim_resp *r, char *out, size_t outsz);

#endif
