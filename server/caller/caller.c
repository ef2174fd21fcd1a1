#include "caller.h"

#include "alloc.h"
#include "appsecret.h"
#include "db.h"
#include "dbbatch.h"
#include "devproof.h"
#include "router.h"
#include "server.h"
#include "throttle.h"
#include "protocol/token.h"
#include "valid.h"

#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define APP_401_DETAIL "missing or invalid application credentials"

struct auth_wait {
    struct req *r;
    void (*next)(struct req *r);
    char secret_hash[65];
};

/* Addresses tracked by the credential throttle; beyond, new ones are not counted. */
#define THROTTLE_MAX_ADDRESSES 100000

/* Failed credentials per client address (throttle.h); created on first use. */
static struct throttle *failures;

static struct throttle *failure_throttle(const struct server *srv)
{
    if (!failures)
        failures = throttle_new(srv->cfg->auth_failure_limit, srv->cfg->auth_failure_window,
                                THROTTLE_MAX_ADDRESSES);
    return failures;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A request that presented some credential (a secret or a bearer token). A
 * request with none guesses nothing and is not counted. */
static bool presented(const struct req *r)
{
    return http_header(r, "x-application-secret") || http_header(r, "Authorization");
}

static void app_unauthorized(struct req *r)
{
    if (presented(r))
        throttle_fail(failure_throttle(r->srv), http_client_address(r), now_seconds());
    http_problem(r, 401, "invalid_application_credentials", APP_401_DETAIL);
}

/* An address over its failure limit gets 429 for every credentialed request,
 * right or wrong: otherwise the answer would still tell a guess right from
 * wrong, and the throttle would slow nothing (docs/http.md). */
static bool throttled(struct req *r)
{
    int wait = throttle_blocked(failure_throttle(r->srv), http_client_address(r), now_seconds());
    if (wait > 0)
        http_problem_retry(r, 429, "rate_limited",
                           "too many failed credentials from this address; try again later", wait);
    return wait > 0;
}

void caller_free(void)
{
    throttle_free(failures);
    failures = NULL;
}

/* Admin bearer token: compared as digests so that lengths do not leak. */
static bool is_admin(const struct req *r)
{
    const char *tok = r->srv->cfg->admin_token;
    const char *h = http_header(r, "Authorization");
    if (!tok || !h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    char a[65], b[65];
    token_sha256_hex(h + 7, a);
    token_sha256_hex(tok, b);
    return token_ct_equal(a, b, 64);
}

static void on_app_row(void *arg, enum db_status st, PGresult *res)
{
    struct auth_wait *w = arg;
    struct req *r = w->r;
    void (*next)(struct req *) = w->next;
    /* the digest of a random 256-bit secret never equals this: unknown ids
     * and disabled apps still pay one comparison */
    const char *stored = "0000000000000000000000000000000000000000000000000000000000000000";
    bool active = false;
    if (st == DB_OK && PQntuples(res) == 1 && PQgetlength(res, 0, 1) == 64) {
        stored = PQgetvalue(res, 0, 1);
        active = strcmp(PQgetvalue(res, 0, 2), "active") == 0;
    }
    bool match = token_ct_equal(stored, w->secret_hash, 64);
    if (st == DB_OK && match && active) {
        r->caller = CALLER_APP;
        r->app_id = xstrdup(http_header(r, "x-application-id"));
        r->app_name = xstrdup(PQgetvalue(res, 0, 0));
    }
    free(w);
    if (st == DB_UNAVAILABLE || st == DB_ERROR)
        http_unavailable(r);
    else if (r->caller != CALLER_APP)
        app_unauthorized(r);
    else
        next(r);
}

/* Credential reads that queue for a connection share one statement (a read:
 * nothing to commit, but a round trip and an executor start each). */
static const struct db_batch app_batch = {
    "SELECT a.name, a.secret_hash, a.status, k.i::integer "
    "FROM unnest($1::text[]) WITH ORDINALITY AS k(id, i) JOIN applications a ON a.id = k.id",
    DB_BATCH_MAX};

static void check_app(struct req *r, void (*next)(struct req *r))
{
    const char *id = http_header(r, "x-application-id");
    const char *secret = http_header(r, "x-application-secret");
    if (!valid_id(id) || !secret || !*secret) {
        app_unauthorized(r);
        return;
    }
    struct auth_wait *w = xcalloc(1, sizeof *w);
    w->r = r;
    w->next = next;
    appsecret_digest(secret, w->secret_hash);
    const char *params[] = {id};
    db_query_batch(r->srv->db, &app_batch,
                   "SELECT name, secret_hash, status FROM applications WHERE id = $1", 1, params,
                   on_app_row, w);
}

void caller_dispatch(struct req *r)
{
    handler_fn next = r->route->handler;
    if ((r->route->auth == AUTH_APP_OR_ADMIN || r->route->auth == AUTH_APP) && throttled(r))
        return;
    switch (r->route->auth) {
    case AUTH_APP_OR_ADMIN:
        if (is_admin(r)) {
            r->caller = CALLER_ADMIN;
            next(r);
            return;
        }
        if (http_header(r, "Authorization") && !http_header(r, "x-application-id")) {
            app_unauthorized(r); /* a wrong admin token */
            return;
        }
        /* fall through */
    case AUTH_APP:
        check_app(r, next);
        return;
    case AUTH_DEVICE:
        devproof_check(r, next);
        return;
    case AUTH_DEVICE_JTI:
        devproof_check_unclaimed(r, next);
        return;
    case AUTH_DEVICE_POLL:
        devproof_check_poll(r, next);
        return;
    case AUTH_NONE:
        next(r);
        return;
    }
}
