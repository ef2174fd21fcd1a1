/* webhooks: webhook_events delivery (see webhooks.h and docs/integration.md
 * "Webhooks"). Sweep and claim on a timer, one POST per claimed event through
 * curlev, then record the outcome with one UPDATE. */
#include "webhooks.h"

#include "alloc.h"
#include "curlev.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "whsig.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#define TICK_MS 1000
#define LEASE_S "15" /* > ATTEMPT_S: a live attempt never outlasts its lease */
#define CLAIM_MAX 16
#define ATTEMPT_S 10L
#define RETRY_CAP_MS (60L * 60 * 1000)

struct hook {
    TAILQ_ENTRY(hook) link;
    struct webhooks *w;
    char id[24];
    char msg_id[64];
    char app[64];
    int attempts; /* before this one */
    char *body;
    CURL *easy;
    struct curl_slist *headers;
    bool delivered;
    char error[160]; /* short reason for last_error: never the body */
};
TAILQ_HEAD(hook_list, hook);

struct webhooks {
    struct server *srv;
    struct event *tick;
    struct hook_list hooks;
    int nhooks;
    bool claiming, again, sweeping;
    bool db_failing; /* log a failing claim once, not every tick */
};

static void claim(struct webhooks *w);

long webhooks_backoff_ms(long base_ms, int attempts)
{
    long ms = base_ms;
    for (int shift = attempts - 1; shift > 0 && ms < RETRY_CAP_MS; shift--)
        ms *= 2;
    return ms < RETRY_CAP_MS ? ms : RETRY_CAP_MS;
}

static void hook_free(struct hook *h)
{
    if (h->easy) {
        curlev_cancel(h->w->srv->curl, h->easy);
        curl_easy_cleanup(h->easy);
    }
    curl_slist_free_all(h->headers);
    free(h->body);
    TAILQ_REMOVE(&h->w->hooks, h, link);
    h->w->nhooks--;
    free(h);
}

static void on_recorded(void *arg, enum db_status st, PGresult *res)
{
    struct hook *h = arg;
    bool ok = st == DB_OK && PQntuples(res) == 1;
    const char *status = ok ? PQgetvalue(res, 0, 0) : "unrecorded";
    if (ok)
        metrics_webhook(h->delivered                    ? METRICS_WEBHOOK_DELIVERED
                        : strcmp(status, "failed") == 0 ? METRICS_WEBHOOK_FAILED
                                                        : METRICS_WEBHOOK_RETRIED);
    if (st != DB_OK)
        log_kv(LOG_WARN, "webhook outcome not recorded; the lease runs out and it is retried",
               "event_id", h->id, NULL);
    log_kv(h->delivered ? LOG_INFO : LOG_WARN, "webhook delivery", "event_id", h->id, "webhook_id",
           h->msg_id, "application", h->app, "result", h->delivered ? "delivered" : status,
           "attempts", ok ? PQgetvalue(res, 0, 1) : NULL, "error", h->delivered ? NULL : h->error,
           NULL);
    struct webhooks *w = h->w;
    hook_free(h);
    claim(w);
}

static const char SQL_DELIVERED[] =
    "UPDATE webhook_events SET status = 'delivered', attempts = attempts + 1, "
    "delivered_at = now(), last_error = NULL, lease_until = NULL "
    "WHERE id = $1 AND status = 'queued' RETURNING status, attempts";
/* Once the event is 24 h old a failure is final. */
static const char SQL_RETRY[] =
    "UPDATE webhook_events SET attempts = attempts + 1, last_error = $2, lease_until = NULL, "
    "next_attempt_at = now() + make_interval(secs => $3::double precision / 1000), "
    "status = CASE WHEN created_at <= now() - interval '24 hours' THEN 'failed' "
    "ELSE 'queued' END WHERE id = $1 AND status = 'queued' RETURNING status, attempts";

static void hook_finish(struct hook *h, bool delivered, const char *error)
{
    h->delivered = delivered;
    snprintf(h->error, sizeof h->error, "%s", error ? error : "");
    char delay[24];
    snprintf(delay, sizeof delay, "%ld",
             webhooks_backoff_ms(h->w->srv->cfg->webhook_retry_base_ms, h->attempts + 1));
    const char *p[] = {h->id, h->error, delay};
    db_query(h->w->srv->db, delivered ? SQL_DELIVERED : SQL_RETRY, delivered ? 1 : 3, p,
             on_recorded, h);
}

static void on_post_done(void *arg, CURLcode rc, long status)
{
    struct hook *h = arg;
    curl_easy_cleanup(h->easy);
    h->easy = NULL;
    if (rc == CURLE_OK && status >= 200 && status < 300)
        return hook_finish(h, true, NULL);
    char err[160];
    if (rc == CURLE_OK)
        snprintf(err, sizeof err, "HTTP %ld", status);
    else
        snprintf(err, sizeof err, "%s", curl_easy_strerror(rc));
    hook_finish(h, false, err);
}

/* The receiver's answer body is of no interest. */
static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

/* The Standard Webhooks headers, signed with the opened secret. */
static int hook_headers(struct hook *h, const unsigned char *key, size_t keylen)
{
    long long now = (long long)time(NULL);
    char sig[WHSIG_SIGNATURE_MAX], line[160];
    whsig_sign(key, keylen, h->msg_id, now, h->body, strlen(h->body), sig);
    const char *fixed[] = {"Content-Type: application/json", "User-Agent: pushgate-webhooks",
                           "Expect:"};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (!(h->headers = curl_slist_append(h->headers, fixed[i])))
            return -1;
    snprintf(line, sizeof line, "webhook-id: %s", h->msg_id);
    if (!(h->headers = curl_slist_append(h->headers, line)))
        return -1;
    snprintf(line, sizeof line, "webhook-timestamp: %lld", now);
    if (!(h->headers = curl_slist_append(h->headers, line)))
        return -1;
    snprintf(line, sizeof line, "webhook-signature: %s", sig);
    return (h->headers = curl_slist_append(h->headers, line)) ? 0 : -1;
}

static CURL *hook_easy(struct hook *h, const char *url)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(h->body));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, ATTEMPT_S);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, ATTEMPT_S);
    return e;
}

/* Opens the sealed secret (bytea hex text) and signs the headers with it. */
static int hook_sign(struct hook *h, const char *sealed_hex)
{
    size_t n = 0, keylen = 0;
    unsigned char *sealed = PQunescapeBytea((const unsigned char *)sealed_hex, &n);
    unsigned char *key = NULL;
    int rc = sealed ? whsig_open(h->w->srv->master_key, h->app, sealed, n, &key, &keylen) : -1;
    PQfreemem(sealed);
    if (rc == 0) {
        rc = hook_headers(h, key, keylen);
        OPENSSL_cleanse(key, keylen);
        free(key);
    }
    return rc;
}

/* Row: id, msg_id, app_id, url, secret, body, attempts (webhook_claim). */
static void hook_start(struct webhooks *w, PGresult *res, int row)
{
    struct hook *h = xcalloc(1, sizeof *h);
    h->w = w;
    TAILQ_INSERT_TAIL(&w->hooks, h, link);
    w->nhooks++;
    snprintf(h->id, sizeof h->id, "%s", PQgetvalue(res, row, 0));
    snprintf(h->msg_id, sizeof h->msg_id, "%s", PQgetvalue(res, row, 1));
    snprintf(h->app, sizeof h->app, "%s", PQgetvalue(res, row, 2));
    h->body = xstrdup(PQgetvalue(res, row, 5));
    h->attempts = atoi(PQgetvalue(res, row, 6));
    if (PQgetisnull(res, row, 3) || PQgetisnull(res, row, 4) ||
        hook_sign(h, PQgetvalue(res, row, 4)) < 0)
        return hook_finish(h, false, "cannot open the webhook secret (wrong key file?)");
    h->easy = hook_easy(h, PQgetvalue(res, row, 3));
    if (!h->easy || !w->srv->curl || curlev_add(w->srv->curl, h->easy, on_post_done, h) < 0) {
        curl_easy_cleanup(h->easy);
        h->easy = NULL;
        return hook_finish(h, false, "cannot start the HTTP transfer");
    }
}

static void on_claimed(void *arg, enum db_status st, PGresult *res)
{
    struct webhooks *w = arg;
    w->claiming = false;
    if (st != DB_OK) {
        if (!w->db_failing)
            log_kv(LOG_WARN, "webhook claim failed; retrying at the next tick", "error",
                   st == DB_ERROR ? PQresultErrorMessage(res) : "database unavailable", NULL);
        w->db_failing = true;
        return;
    }
    w->db_failing = false;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        hook_start(w, res, i);
    if (n == CLAIM_MAX)
        w->again = true; /* there may be more due events */
    if (w->again)
        claim(w);
}

/* Called by the tick and whenever an attempt ends (the application's next
 * event may be due at once). */
static void claim(struct webhooks *w)
{
    if (w->claiming || w->nhooks >= WEBHOOKS_INFLIGHT_MAX) {
        w->again = true; /* after the running claim, or when an attempt ends */
        return;
    }
    w->again = false;
    if (w->srv->draining || !w->srv->instance_id)
        return; /* a lease taken now would only delay the next instance */
    int room = WEBHOOKS_INFLIGHT_MAX - w->nhooks;
    char limit[8];
    snprintf(limit, sizeof limit, "%d", room < CLAIM_MAX ? room : CLAIM_MAX);
    const char *p[] = {LEASE_S, limit, w->srv->instance_id};
    w->claiming = true;
    db_query(w->srv->db, "SELECT * FROM webhook_claim($1, $2, $3)", 3, p, on_claimed, w);
}

static void on_swept(void *arg, enum db_status st, PGresult *res)
{
    struct webhooks *w = arg;
    w->sweeping = false;
    if (st == DB_OK && PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) > 0)
        claim(w); /* the expiries just written are events */
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct webhooks *w = arg;
    if (!w->sweeping && !w->srv->draining) {
        w->sweeping = true;
        db_query(w->srv->db, "SELECT webhook_sweep()", 0, NULL, on_swept, w);
    }
    claim(w);
}

struct webhooks *webhooks_new(struct server *srv)
{
    struct webhooks *w = xcalloc(1, sizeof *w);
    w->srv = srv;
    TAILQ_INIT(&w->hooks);
    w->tick = event_new(srv->base, -1, EV_PERSIST, on_tick, w);
    struct timeval tv = {TICK_MS / 1000, (TICK_MS % 1000) * 1000};
    if (!w->tick || event_add(w->tick, &tv) < 0) {
        webhooks_free(w);
        return NULL;
    }
    /* a resolver on the loop would block it: libcurl must resolve on a thread */
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    bool async_dns = v && (v->features & CURL_VERSION_ASYNCHDNS);
    log_kv(async_dns ? LOG_INFO : LOG_WARN, "webhooks started", "async_dns",
           async_dns ? "yes" : "no (a slow DNS answer blocks the loop)", NULL);
    return w;
}

void webhooks_free(struct webhooks *w)
{
    if (!w)
        return;
    while (!TAILQ_EMPTY(&w->hooks))
        hook_free(TAILQ_FIRST(&w->hooks));
    if (w->tick)
        event_free(w->tick);
    free(w);
}
