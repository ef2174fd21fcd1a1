/* http: evhttp front end. Owns the per-request context (struct req), the
 * protocol hygiene checks (limits, duplicate Content-Length, media type,
 * strict JSON) and the reply helpers. It matches requests against the route
 * table it is given at start and hands each matched one to a dispatch
 * function; who the caller is and what runs next is not its business, nor
 * what is counted (struct http_routing).
 *
 * Lifetime: a struct req is created for every request and freed by exactly
 * one reply call (http_reply_*, http_problem*). A handler that goes async
 * keeps the pointer until it replies. */
#ifndef PUSHGATE_HTTP_H
#define PUSHGATE_HTTP_H

#include "router.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct server;

#define HTTP_MAX_BODY (64 * 1024)
#define HTTP_MAX_HEAD (16 * 1024)
#define HTTP_MAX_PARAMS ROUTER_MAX_PARAMS

enum caller_kind { CALLER_NONE, CALLER_APP, CALLER_ADMIN };

struct req {
    struct server *srv;
    struct evhttp_request *ev;
    enum evhttp_cmd_type method;
    const struct route *route;
    char *params[HTTP_MAX_PARAMS]; /* percent-decoded path captures */
    struct evkeyvalq query;        /* parsed query string */
    json_t *body;                  /* JSON object (nulls removed) or NULL */
    enum caller_kind caller;
    char *app_id; /* CALLER_APP */
    char *app_name;
    char *device_id;          /* a verified device (devproof.c) */
    char *device_jti;         /* its proof's jti, when the handler claims it (AUTH_DEVICE_JTI) */
    uint64_t device_claim;    /* AUTH_DEVICE_POLL: its pollclaim key (caller/pollclaim.h), 0: claimed */
    char *client_addr;        /* from a trusted proxy's X-Forwarded-For, else NULL */
    struct timespec received; /* CLOCK_MONOTONIC at arrival */
    void (*on_free)(struct req *r); /* called as r is freed (hold.c: gives back its place) */
};

/* What http_start wires in (serve.c). */
struct http_routing {
    const struct route *table; /* matched in order (router.h) */
    size_t n;
    /* A matched request whose framing, query and body passed: resolve the
     * caller and run r->route->handler, or answer (caller.c: caller_dispatch). */
    void (*dispatch)(struct req *r);
    /* Told of every reply as it is sent: the route pattern ("unmatched" when
     * none) and the status (metrics.c: metrics_request). May be NULL. */
    void (*observe)(const char *route, int status);
};

/* Starts listening as configured; writes the port file; logs "listening".
 * routing is copied; its table must outlive the server. */
int http_start(struct server *srv, const struct http_routing *routing);
/* Stops accepting new connections (graceful stop, first stage). */
void http_stop_accepting(struct server *srv);
void http_free(struct server *srv);

/* Replies. Each frees r. body is stolen. */
void http_reply_json(struct req *r, int status, json_t *body);
void http_reply_empty(struct req *r, int status);
void http_reply_raw(struct req *r, int status, const char *content_type, const char *data,
                    size_t len);
void http_problem(struct req *r, int status, const char *code, const char *detail);
/* Adds Retry-After: seconds. */
void http_problem_retry(struct req *r, int status, const char *code, const char *detail,
                        int retry_after);
/* A held request keeps thousands of copies of what it no longer reads: drop
 * the input headers (all but Connection, which evhttp consults when it
 * answers), the body buffer, the parsed body and the query. */
void http_shed_input(struct req *r);
/* Closes the client's connection without an answer (it hung up) and frees r. */
void http_abandon(struct req *r);
/* 503 unavailable with Retry-After: the answer to DB_UNAVAILABLE. */
void http_unavailable(struct req *r);
/* After a failed statement: 503 when the database is unreachable (or the
 * failure is transient), 500 for anything else -- never a success. */
void http_db_failure(struct req *r, int db_status);
/* 400 invalid_request */
void http_bad_request(struct req *r, const char *detail);

const char *http_header(const struct req *r, const char *name);
/* The request path without the query string (as sent, not decoded). */
const char *http_path(const struct req *r);
/* The client's address as text ("unknown" when the connection is gone): the socket's
 * peer, or, when that peer is one of PUSHGATE_TRUSTED_PROXIES, the client its
 * X-Forwarded-For names (base/netmask.h: the right-most entry that is not itself
 * trusted; a malformed one: the peer). Valid while r is. Connection limits stay on
 * the peer (connguard.h): a socket is the proxy's, whoever it carries. */
const char *http_client_address(const struct req *r);
/* True when http_client_address came from a trusted proxy's X-Forwarded-For. */
bool http_client_forwarded(const struct req *r);
/* "GET", "POST", ... */
const char *http_method_name(const struct req *r);
/* Query parameter, or NULL. */
const char *http_query(const struct req *r, const char *name);
/* True when the client prefers JSON over HTML (Accept header). */
bool http_wants_json(const struct req *r);
/* Absent and null mean the same (api.md 1): removes obj's top-level nulls so that
 * strict unpacking sees them as absent. Request bodies get it before their handler
 * runs; a handler applies it to a signed payload it unpacks itself. */
void http_json_drop_nulls(json_t *obj);

#endif
