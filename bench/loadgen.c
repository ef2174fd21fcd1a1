/* pgload: the benchmark's load generator (bench/run drives it; never part of the tests).
 *
 *   pgload keys    --count N --keys FILE --seed FILE
 *       N fresh P-256 device keys: FILE lines "username deviceId pkcs8-der-b64url", and a
 *       TSV "username deviceId jwk" that bench/run loads into users/registrations/devices.
 *   pgload devices --url URL --keys FILE [--from I] [--count N] [--mode approve|hold]
 *                  [--duration S] [--log FILE] [--wait S] [--ramp R] [--bind ADDR]
 *       N devices, one keep-alive connection each, long-polling GET /device/challenges
 *       (approve: wait=--wait, default 30; an answer with no challenge, the wait's end, is
 *       simply polled again; a failed poll, e.g. 503, counts as an error and is polled again
 *       after a pause that doubles with each failure in a row (1-2 s as Retry-After: 1
 *       asks, then 2-4 s, ... up to 32-64 s), as an authenticator backs off).
 *       approve: every challenge (its server signature verified against the JWKS) is
 *       approved at once with a signed response; the log gets "requestId sent_ns" per
 *       answer, sent_ns = CLOCK_REALTIME when the answer was handed to the socket.
 *       hold: one long-poll each (wait=60), held until SIGTERM/--duration; any answer
 *       before that is an error.
 *   pgload apps    --url URL --app ID --secret S --keys FILE [--from I] [--count N]
 *                  [--conns K] [--mode flow|hold] [--rate R] [--duration S] [--log FILE]
 *       flow: K connections, closed loop, each calling synchronous POST /auth for its own
 *       users in turn (user i belongs to connection i mod K, so a user never has two
 *       requests pending); the log gets "requestId start_ns recv_ns http_status status".
 *       --rate R paces the loop: request starts are spaced 1/R s apart across all
 *       connections (a free connection waits for the next start time; one that is late
 *       starts at once), so the offered load is at most R flows/s - "half load" is half
 *       of what the unpaced loop reached, not a saturated machine with fewer connections.
 *       hold: one POST /auth (timeout 300) per user, held until SIGTERM/--duration.
 *
 * Every mode stops by itself after --duration seconds (a hard bound), prints one
 * "stats ..." line on stdout and a "ready" line once every hold request is sent.
 * --ramp R: at most R new requests (devices' first polls, holds) per second (default 800).
 * --bind ADDR: every connection's source address (a loopback address such as 127.0.0.2,
 * so that several processes do not share one address's ephemeral ports).
 * Traffic goes only to the URL given, which bench/run sets to 127.0.0.1.
 *
 * --url https://127.0.0.1:PORT speaks TLS to a server with PUSHGATE_TLS_CERT (libevent's
 * OpenSSL bufferevent, TLS 1.2+); its certificate must verify against --cacert FILE (else
 * the system's trust store) and name IP 127.0.0.1. A TLS connection the server closed is
 * replaced by a new one before its next request. */
#include "protocol/b64url.h"
#include "protocol/jwk.h"
#include "protocol/jws.h"
#include "protocol/token.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define POLL_WAIT_S 30
#define HOLD_POLL_WAIT_S 60
#define HOLD_AUTH_TIMEOUT_S 300
#define RAMP_PER_S                                                                                 \
    800 /* new requests per second by default (40 per 50 ms tick): a faster ramp overran the       \
         * server's database queue (503 after its 4 s queue limit) */

struct user {
    char name[32];
    char device_id[72];
    EVP_PKEY *key;
};

struct opts {
    const char *mode, *sub, *url, *keys, *seed, *log, *app, *secret, *cacert, *bind;
    int from, count, conns;
    int wait;   /* devices approve: the polls' wait= (seconds) */
    int ramp;   /* new requests per second while starting */
    long flows; /* apps flow: stop after this many answers (0: by --duration only) */
    double duration;
    double rate; /* apps flow: at most this many request starts per second (0: unpaced) */
} o = {.conns = 16, .duration = 30, .wait = POLL_WAIT_S, .ramp = RAMP_PER_S};

static struct event_base *base;
static char host[64] = "127.0.0.1";
static int port = 8080;
static SSL_CTX *tls_ctx; /* https: --url; NULL: plain HTTP */
static bool stopping;
static struct user *users;
static int nusers;
static EVP_PKEY *server_key; /* the one JWKS key (verify challenges) */
static char *server_kid;

/* statistics */
static long n_sent, n_ok, n_err, n_early, n_conn_err, n_inflight;
static long n_status[6];
static FILE *logf;

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *msg)
{
    fprintf(stderr, "pgload: %s\n", msg);
    exit(2);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* TLS 1.2 or 1.3 with the server's certificate verified (--cacert, else the system's). */
static void tls_setup(void)
{
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx || SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION) != 1 ||
        (o.cacert ? SSL_CTX_load_verify_locations(tls_ctx, o.cacert, NULL)
                  : SSL_CTX_set_default_verify_paths(tls_ctx)) != 1)
        die("cannot load the CA certificates (--cacert)");
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_options(tls_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
}

static void parse_url(const char *url)
{
    bool tls = url && !strncmp(url, "https://", 8);
    if (!url || sscanf(url + (tls ? 8 : 7), "%63[^:]:%d", host, &port) != 2 ||
        (!tls && strncmp(url, "http://", 7) != 0))
        die("--url must be http://HOST:PORT or https://HOST:PORT");
    if (tls)
        tls_setup();
}

/* ------------------------------------------------------------------ keys */

static int cmd_keys(void)
{
    FILE *k = fopen(o.keys, "w"), *s = fopen(o.seed, "w");
    if (!k || !s)
        die("cannot write --keys/--seed");
    for (int i = 0; i < o.count; i++) {
        EVP_PKEY *key = jwk_generate_p256();
        unsigned char *der = NULL;
        size_t len = 0;
        char *id = token_new_id("d_", 12);
        json_t *jwk = jwk_from_pkey(key, NULL);
        char *jtext = json_dumps(jwk, JSON_COMPACT);
        if (!key || jwk_private_to_der(key, &der, &len) < 0 || !id || !jtext)
            die("key generation failed");
        char *b = b64url_encode(der, len);
        fprintf(k, "bench%06d %s %s\n", i, id, b);
        fprintf(s, "bench%06d\t%s\t%s\n", i, id, jtext);
        free(b);
        OPENSSL_cleanse(der, len);
        free(der);
        free(id);
        free(jtext);
        json_decref(jwk);
        EVP_PKEY_free(key);
    }
    fclose(k);
    fclose(s);
    return 0;
}

/* Loads lines [from, from+count) of the keys file (count 0: all). */
static void load_users(bool need_keys)
{
    FILE *f = fopen(o.keys, "r");
    if (!f)
        die("cannot read --keys");
    char line[1024];
    int i = 0, cap = 1024;
    users = calloc(cap, sizeof *users);
    while (fgets(line, sizeof line, f)) {
        if (i++ < o.from)
            continue;
        if (o.count && nusers >= o.count)
            break;
        if (nusers == cap)
            users = realloc(users, (cap *= 2) * sizeof *users);
        struct user *u = &users[nusers];
        memset(u, 0, sizeof *u);
        char der64[512];
        if (sscanf(line, "%31s %71s %511s", u->name, u->device_id, der64) != 3)
            die("bad keys line");
        if (need_keys) {
            unsigned char *der = NULL;
            size_t len = 0;
            if (b64url_decode(der64, strlen(der64), &der, &len) < 0 ||
                !(u->key = jwk_private_from_der(der, len)))
                die("bad key in the keys file");
            OPENSSL_cleanse(der, len);
            free(der);
        }
        nusers++;
    }
    fclose(f);
    if (nusers == 0)
        die("no users selected");
}

/* ------------------------------------------------------------------ http */

/* One keep-alive connection to the server. */
struct conn {
    struct evhttp_connection *evcon;
    int timeout_s;
    bool closed; /* TLS: the server closed it; conn_request opens a new one */
};

static void on_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    ((struct conn *)arg)->closed = true;
}

/* A bufferevent doing the client side of a TLS handshake with a server named 127.0.0.1. */
static struct bufferevent *tls_bev(void)
{
    SSL *ssl = SSL_new(tls_ctx);
    if (!ssl || X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1)
        die("cannot set up TLS (is --url's host an IP address?)");
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        die("cannot set up TLS");
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

static void conn_open(struct conn *c, int timeout_s)
{
    c->timeout_s = timeout_s;
    c->closed = false;
    c->evcon =
        evhttp_connection_base_bufferevent_new(base, NULL, tls_ctx ? tls_bev() : NULL, host, port);
    if (!c->evcon)
        die("cannot make a connection");
    if (o.bind)
        evhttp_connection_set_local_address(c->evcon, o.bind);
    evhttp_connection_set_timeout(c->evcon, timeout_s);
    evhttp_connection_set_retries(c->evcon, 0);
    if (tls_ctx) /* evhttp would reopen it with its spent SSL object */
        evhttp_connection_set_closecb(c->evcon, on_conn_closed, c);
}

static int conn_request(struct conn *c, struct evhttp_request *r, enum evhttp_cmd_type m,
                        const char *uri)
{
    if (c->closed) {
        evhttp_connection_free(c->evcon);
        conn_open(c, c->timeout_s);
    }
    return evhttp_make_request(c->evcon, r, m, uri);
}

static struct evhttp_request *req_new(void (*cb)(struct evhttp_request *, void *), void *arg)
{
    struct evhttp_request *r = evhttp_request_new(cb, arg);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r);
    char hv[96];
    snprintf(hv, sizeof hv, "%s:%d", host, port);
    evhttp_add_header(h, "Host", hv);
    return r;
}

static void set_json_body(struct evhttp_request *r, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    evhttp_add_header(evhttp_request_get_output_headers(r), "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(r), text, strlen(text));
    free(text);
    json_decref(body);
}

static json_t *body_json(struct evhttp_request *r)
{
    struct evbuffer *b = evhttp_request_get_input_buffer(r);
    size_t n = evbuffer_get_length(b);
    return json_loadb((const char *)evbuffer_pullup(b, n), n, 0, NULL);
}

static void count_status(int code)
{
    if (code >= 100 && code < 600)
        n_status[code / 100]++;
    else
        n_status[0]++;
}

static void print_stats(void)
{
    printf("stats mode=%s sent=%ld ok=%ld err=%ld early=%ld conn_err=%ld inflight=%ld "
           "s2xx=%ld s4xx=%ld s5xx=%ld s0=%ld\n",
           o.mode, n_sent, n_ok, n_err, n_early, n_conn_err, n_inflight, n_status[2], n_status[4],
           n_status[5], n_status[0]);
    fflush(stdout);
}

/* ------------------------------------------------------------------ devices */

struct device {
    struct user *u;
    struct conn c;
    int pending;         /* requests queued on c */
    struct event *retry; /* a failed poll is polled again after a pause (made on first use) */
    int fails;           /* failed polls in a row: the pause doubles, as an authenticator's */
};

static struct device *devs;
static void device_poll(struct device *d);
static void device_retry(struct device *d);

static char *device_proof(struct user *u, const char *method, const char *path)
{
    char jti[40];
    token_random_b64(jti, sizeof jti, 18);
    json_t *p = json_pack("{s:s, s:s, s:I, s:s}", "htm", method, "htu", path, "iat",
                          (json_int_t)time(NULL), "jti", jti);
    char *jws = jws_sign_es256(u->key, "pushgate-device+jwt", u->device_id, p);
    json_decref(p);
    size_t n = strlen(jws) + 8;
    char *h = malloc(n);
    snprintf(h, n, "Device %s", jws);
    free(jws);
    return h;
}

static void device_request(struct device *d, struct evhttp_request *r, enum evhttp_cmd_type m,
                           const char *path, const char *uri)
{
    char *auth = device_proof(d->u, m == EVHTTP_REQ_GET ? "GET" : "POST", path);
    evhttp_add_header(evhttp_request_get_output_headers(r), "Authorization", auth);
    free(auth);
    d->pending++;
    n_inflight++;
    n_sent++;
    if (conn_request(&d->c, r, m, uri) < 0) {
        n_conn_err++;
        d->pending--;
        n_inflight--;
    }
}

static void on_answered(struct evhttp_request *r, void *arg)
{
    struct device *d = arg;
    d->pending--;
    n_inflight--;
    int code = r ? evhttp_request_get_response_code(r) : 0;
    count_status(code);
    if (code == 200)
        n_ok++;
    else
        n_err++;
    if (!r || code == 0)
        n_conn_err++;
}

/* api.md 6.3's chal: base64url SHA-256 of the exact challenge JWS (44 bytes with the NUL). */
static bool chal_of(const char *jws, char out[44])
{
    unsigned char md[32];
    unsigned int n = 0;
    return EVP_Digest(jws, strlen(jws), md, &n, EVP_sha256(), NULL) == 1 && n == sizeof md &&
           b64url_encode_to(md, sizeof md, out, 44) == 0;
}

static void answer(struct device *d, const char *request_id, const char *nonce, const char *chal)
{
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:I}", "requestId", request_id, "nonce", nonce,
                          "chal", chal, "decision", "approve", "iat", (json_int_t)time(NULL));
    char *jws = jws_sign_es256(d->u->key, "pushgate-response+jwt", d->u->device_id, p);
    json_decref(p);
    struct evhttp_request *r = req_new(on_answered, d);
    set_json_body(r, json_pack("{s:s}", "response", jws));
    free(jws);
    char path[128];
    snprintf(path, sizeof path, "/device/challenges/%s", request_id);
    fprintf(logf, "%s %lld\n", request_id, now_ns());
    device_request(d, r, EVHTTP_REQ_POST, path, path);
}

/* The nonce of a challenge whose signature verifies (NULL otherwise). */
static bool read_challenge(const char *jws, const char *device_id, char *nonce, size_t n)
{
    json_t *payload = NULL;
    if (jws_verify_es256(jws, server_key, "pushgate-challenge+jwt", NULL, &payload) < 0)
        return false;
    const char *dev = json_string_value(json_object_get(payload, "deviceId"));
    const char *v = json_string_value(json_object_get(payload, "nonce"));
    bool ok = dev && v && strcmp(dev, device_id) == 0;
    if (ok)
        snprintf(nonce, n, "%s", v);
    json_decref(payload);
    return ok;
}

static void on_polled(struct evhttp_request *r, void *arg)
{
    struct device *d = arg;
    d->pending--;
    n_inflight--;
    int code = r ? evhttp_request_get_response_code(r) : 0;
    count_status(code);
    if (!strcmp(o.sub, "hold")) {
        if (!stopping)
            n_early++, n_err++;
        return;
    }
    if (code != 200) {
        n_err++;
        if (code == 0)
            n_conn_err++;
        if (!stopping) /* count it, and poll again after 1-2 s, doubling up to 32-64 s */
            device_retry(d);
        return;
    }
    n_ok++;
    d->fails = 0;
    json_t *body = body_json(r), *item;
    size_t i;
    json_array_foreach(json_object_get(body, "challenges"), i, item)
    {
        const char *id = json_string_value(json_object_get(item, "requestId"));
        const char *ch = json_string_value(json_object_get(item, "challenge"));
        char nonce[128], chal[44];
        if (id && ch && read_challenge(ch, d->u->device_id, nonce, sizeof nonce) &&
            chal_of(ch, chal))
            answer(d, id, nonce, chal);
        else
            n_err++;
    }
    json_decref(body);
    if (!stopping)
        device_poll(d);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    if (!stopping)
        device_poll(arg);
}

static void device_retry(struct device *d)
{
    if (!d->retry)
        d->retry = evtimer_new(base, on_retry, d);
    int base_s = 1 << (d->fails < 5 ? d->fails : 5); /* the server's Retry-After is 1 */
    d->fails++;
    struct timeval tv = {base_s + rand() % base_s, (rand() % 1000) * 1000};
    evtimer_add(d->retry, &tv);
}

static void device_poll(struct device *d)
{
    struct evhttp_request *r = req_new(on_polled, d);
    char uri[64];
    int wait = !strcmp(o.sub, "hold") ? HOLD_POLL_WAIT_S : o.wait;
    snprintf(uri, sizeof uri, "/device/challenges?wait=%d", wait);
    device_request(d, r, EVHTTP_REQ_GET, "/device/challenges", uri);
}

static void on_jwks(struct evhttp_request *r, void *arg)
{
    (void)arg;
    json_t *body = r && evhttp_request_get_response_code(r) == 200 ? body_json(r) : NULL;
    json_t *k = json_array_get(json_object_get(body, "keys"), 0);
    if (k) {
        server_key = jwk_to_pkey(k);
        server_kid = strdup(json_string_value(json_object_get(k, "kid")));
    }
    json_decref(body);
    event_base_loopbreak(base);
}

static void fetch_jwks(void)
{
    struct conn c;
    conn_open(&c, 10);
    conn_request(&c, req_new(on_jwks, NULL), EVHTTP_REQ_GET, "/.well-known/jwks.json");
    event_base_dispatch(base);
    evhttp_connection_set_closecb(c.evcon, NULL, NULL);
    evhttp_connection_free(c.evcon);
    if (!server_key)
        die("cannot read the server's JWKS");
}

/* ------------------------------------------------------------------ apps */

struct app_conn {
    struct conn c;
    struct event *pace; /* --rate: fires at this connection's next start time */
    int next;           /* index into users of this connection's next user */
    long long started;
    bool busy;
};

static long long next_start_ns; /* --rate: the next free start time */

static struct app_conn *apps;
static void app_send(struct app_conn *a);
static void app_next(struct app_conn *a);
static void begin_stop(void);

static void on_auth(struct evhttp_request *r, void *arg)
{
    struct app_conn *a = arg;
    long long recv = now_ns();
    a->busy = false;
    n_inflight--;
    int code = r ? evhttp_request_get_response_code(r) : 0;
    count_status(code);
    if (!strcmp(o.sub, "hold")) {
        if (!stopping)
            n_early++, n_err++;
        return;
    }
    json_t *body = code ? body_json(r) : NULL;
    const char *id = json_string_value(json_object_get(body, "requestId"));
    const char *st = json_string_value(json_object_get(body, "status"));
    if (code == 200 && st && !strcmp(st, "accepted"))
        n_ok++;
    else
        n_err++;
    if (code == 0)
        n_conn_err++;
    fprintf(logf, "%s %lld %lld %d %s\n", id ? id : "-", a->started, recv, code, st ? st : "-");
    json_decref(body);
    if (o.flows && n_ok + n_err >= o.flows)
        begin_stop();
    if (!stopping)
        app_next(a);
}

static void on_pace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    if (!stopping)
        app_send(arg);
}

/* The connection is free: start its next request now, or at the next start time. */
static void app_next(struct app_conn *a)
{
    if (o.rate <= 0)
        return app_send(a);
    long long now = now_ns(), at = next_start_ns > now ? next_start_ns : now;
    next_start_ns = at + (long long)(1e9 / o.rate);
    if (at <= now)
        return app_send(a);
    struct timeval tv = {(long)((at - now) / 1000000000LL),
                         (long)((at - now) % 1000000000LL / 1000)};
    evtimer_add(a->pace, &tv);
}

static void app_send(struct app_conn *a)
{
    struct user *u = &users[a->next];
    a->next += o.conns;
    if (a->next >= nusers)
        a->next = (int)(a - apps);
    struct evhttp_request *r = req_new(on_auth, a);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r);
    evhttp_add_header(h, "x-application-id", o.app);
    evhttp_add_header(h, "x-application-secret", o.secret);
    int timeout = !strcmp(o.sub, "hold") ? HOLD_AUTH_TIMEOUT_S : 30;
    set_json_body(r, json_pack("{s:s, s:s, s:i}", "username", u->name, "message",
                               "Sign in to the benchmark", "timeout", timeout));
    a->busy = true;
    a->started = now_ns();
    n_inflight++;
    n_sent++;
    if (conn_request(&a->c, r, EVHTTP_REQ_POST, "/auth") < 0) {
        n_conn_err++;
        n_inflight--;
        a->busy = false;
    }
}

/* ------------------------------------------------------------------ driving */

static int started; /* hold modes: how many have been launched */
static struct event *ramp_ev, *stop_ev, *grace_ev, *sig_ev;

static void on_ramp(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    bool dev = !strcmp(o.mode, "devices");
    int total = dev ? nusers : o.conns;
    int per_tick = o.ramp / 20 > 0 ? o.ramp / 20 : 1;
    for (int i = 0; i < per_tick && started < total && !stopping; i++, started++) {
        if (dev)
            device_poll(&devs[started]);
        else
            app_next(&apps[started]);
    }
    if (started >= total) {
        printf("ready launched=%d\n", started);
        fflush(stdout);
        event_del(ramp_ev);
    }
}

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (n_inflight == 0 || what == EV_TIMEOUT)
        event_base_loopbreak(base);
}

static void on_drained(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (n_inflight == 0)
        event_base_loopbreak(base);
}

static void begin_stop(void)
{
    if (stopping)
        return;
    stopping = true;
    /* applications' flows: let requests in flight finish (bounded by 5 s);
     * devices and holds: close at once (their requests are long-polls) */
    bool wait = !strcmp(o.mode, "apps") && strcmp(o.sub, "hold") != 0;
    struct timeval tv = {wait ? 5 : 0, wait ? 0 : 1000};
    grace_ev = evtimer_new(base, on_grace, NULL);
    evtimer_add(grace_ev, &tv);
    if (wait) {
        struct event *poll_ev = event_new(base, -1, EV_PERSIST, on_drained, NULL);
        struct timeval p = {0, 20000};
        event_add(poll_ev, &p); /* leaves as soon as nothing is in flight */
    }
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    begin_stop();
}

static int run_loop(void)
{
    stop_ev = evtimer_new(base, on_stop, NULL);
    struct timeval d = {(long)o.duration, (long)((o.duration - (long)o.duration) * 1e6)};
    evtimer_add(stop_ev, &d);
    sig_ev = evsignal_new(base, SIGTERM, on_stop, NULL);
    event_add(sig_ev, NULL);
    struct event *sigint = evsignal_new(base, SIGINT, on_stop, NULL);
    event_add(sigint, NULL);
    ramp_ev = event_new(base, -1, EV_PERSIST, on_ramp, NULL);
    struct timeval t = {0, 50000};
    event_add(ramp_ev, &t);
    on_ramp(-1, 0, NULL);
    event_base_dispatch(base);
    print_stats();
    if (logf)
        fclose(logf);
    return 0;
}

static int cmd_devices(void)
{
    load_users(true);
    fetch_jwks();
    devs = calloc(nusers, sizeof *devs);
    int timeout = (!strcmp(o.sub, "hold") ? HOLD_POLL_WAIT_S : o.wait) + 30;
    for (int i = 0; i < nusers; i++) {
        devs[i].u = &users[i];
        conn_open(&devs[i].c, timeout);
    }
    return run_loop();
}

static int cmd_apps(void)
{
    if (!o.app || !o.secret)
        die("apps needs --app and --secret");
    load_users(false);
    if (!strcmp(o.sub, "hold"))
        o.conns = nusers; /* one held request per user, each on its own connection */
    if (o.conns > nusers)
        o.conns = nusers;
    apps = calloc(o.conns, sizeof *apps);
    int timeout = !strcmp(o.sub, "hold") ? HOLD_AUTH_TIMEOUT_S + 30 : 60;
    for (int i = 0; i < o.conns; i++) {
        conn_open(&apps[i].c, timeout);
        apps[i].pace = evtimer_new(base, on_pace, &apps[i]);
        apps[i].next = i;
    }
    return run_loop();
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: pgload keys|devices|apps [options] (see the comment at the top)");
    o.mode = argv[1];
    o.sub = "approve";
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            die("option without a value");
        i++;
        if (!strcmp(a, "--url"))
            o.url = v;
        else if (!strcmp(a, "--keys"))
            o.keys = v;
        else if (!strcmp(a, "--seed"))
            o.seed = v;
        else if (!strcmp(a, "--log"))
            o.log = v;
        else if (!strcmp(a, "--app"))
            o.app = v;
        else if (!strcmp(a, "--secret"))
            o.secret = v;
        else if (!strcmp(a, "--mode"))
            o.sub = v;
        else if (!strcmp(a, "--from"))
            o.from = atoi(v);
        else if (!strcmp(a, "--count"))
            o.count = atoi(v);
        else if (!strcmp(a, "--conns"))
            o.conns = atoi(v);
        else if (!strcmp(a, "--flows"))
            o.flows = atol(v);
        else if (!strcmp(a, "--rate"))
            o.rate = atof(v);
        else if (!strcmp(a, "--duration"))
            o.duration = atof(v);
        else if (!strcmp(a, "--cacert"))
            o.cacert = v;
        else if (!strcmp(a, "--bind"))
            o.bind = v;
        else if (!strcmp(a, "--wait"))
            o.wait = atoi(v);
        else if (!strcmp(a, "--ramp"))
            o.ramp = atoi(v);
        else
            die("unknown option");
    }
    if (!strcmp(o.mode, "keys")) {
        if (!o.keys || !o.seed || o.count <= 0)
            die("keys needs --count --keys --seed");
        return cmd_keys();
    }
    if (!strcmp(o.mode, "apps") && !strcmp(o.sub, "approve"))
        o.sub = "flow";
    if (o.duration <= 0 || o.duration > 900)
        die("--duration must be 0-900 s");
    if (o.wait < 0 || o.wait > 300 || o.ramp <= 0)
        die("--wait must be 0-300 s and --ramp above 0");
    if (o.bind && strncmp(o.bind, "127.", 4) != 0)
        die("--bind must be a loopback address (127.x.x.x)");
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    parse_url(o.url);
    if (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "localhost") != 0)
        die("the benchmark talks to 127.0.0.1 only");
    base = event_base_new();
    logf = fopen(o.log ? o.log : "/dev/null", "w");
    if (!logf)
        die("cannot write --log");
    setvbuf(logf, NULL, _IOFBF, 1 << 20);
    if (!strcmp(o.mode, "devices"))
        return cmd_devices();
    if (!strcmp(o.mode, "apps"))
        return cmd_apps();
    die("unknown mode");
}
