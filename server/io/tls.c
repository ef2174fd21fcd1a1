#include "tls.h"

#include "alloc.h"
#include "log.h"
#include "offload.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* TLS 1.2: ECDHE key exchange with AEAD ciphers only (Mozilla's "intermediate" list less
 * DHE). TLS 1.3 keeps OpenSSL's suites, all AEAD. */
#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* What is logged about a loaded certificate. */
struct certinfo {
    char fingerprint[2 * 32 + 1]; /* SHA-256 of the leaf, hex */
    char subject[256];
    char not_after[32];
    bool expired;
};

struct reload;

struct tls {
    SSL_CTX *ctx; /* for new connections; each SSL holds its own reference */
    char *cert_file, *key_file;
    struct certinfo info;
    struct event_base *base; /* of the last reload */
    struct reload *running;  /* a reload loading on its worker */
    bool again;              /* SIGHUP came while it ran */
};

/* One reload: what its worker reads and writes (it touches nothing else). */
struct reload {
    struct tls *t;
    char *cert_file, *key_file;
    SSL_CTX *ctx; /* the result, or NULL and err */
    struct certinfo info;
    char err[512];
};

/* An encrypted key would make OpenSSL prompt on the terminal: refuse it instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    (void)buf, (void)size, (void)rwflag, (void)arg;
    return 0;
}

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl, (void)arg;
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *chosen = NULL;
    if (SSL_select_next_proto(&chosen, outlen, ours, sizeof ours - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no ALPN: the client's HTTP/1.1 is all we speak */
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

/* "<what> <file>: <OpenSSL's reasons>", draining this thread's error queue. OpenSSL's
 * reasons name what failed ("no start line", "key values mismatch"), never key bytes. */
static void describe(char *err, size_t errlen, const char *what, const char *file)
{
    size_t n = (size_t)snprintf(err, errlen, "%s %s", what, file);
    const char *sep = ": ";
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        const char *reason = ERR_reason_error_string(e);
        if (n < errlen && reason) {
            n += (size_t)snprintf(err + n, errlen - n, "%s%s", sep, reason);
            sep = "; ";
        }
    }
}

static void cert_info(SSL_CTX *ctx, struct certinfo *info)
{
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    memset(info, 0, sizeof *info);
    if (!leaf)
        return;
    if (X509_digest(leaf, EVP_sha256(), md, &len) == 1)
        for (unsigned int i = 0; i < len && i < 32; i++)
            snprintf(info->fingerprint + 2 * i, 3, "%02x", md[i]);
    X509_NAME_oneline(X509_get_subject_name(leaf), info->subject, sizeof info->subject);
    struct tm tm;
    if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
        strftime(info->not_after, sizeof info->not_after, "%Y-%m-%dT%H:%M:%SZ", &tm);
    info->expired = X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0;
}

/* The protocol and cipher policy of every context. 0, or -1 (OpenSSL's error queued). */
static int set_policy(SSL_CTX *ctx)
{
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    /* client-initiated renegotiation is a cheap way to make the server do handshakes */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /* a client that closes without close_notify has hung up (OpenSSL 3 would make it an
     * error; HTTP frames its own ends) */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* thousands of held requests sit idle on their connections: no idle buffers */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
        return -1;
    return 0;
}

/* A new context with the files' certificate chain and key. Touches nothing shared and
 * does not log: a reload runs it on a worker thread. NULL with the reason in err. */
static SSL_CTX *build(const char *cert_file, const char *key_file, struct certinfo *info, char *err,
                      size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || set_policy(ctx) < 0)
        describe(err, errlen, "cannot set up TLS for", cert_file);
    else if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
        describe(err, errlen, "cannot load the certificate chain", cert_file);
    else if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
        describe(err, errlen, "cannot load the private key", key_file);
    else if (SSL_CTX_check_private_key(ctx) != 1)
        describe(err, errlen, "the private key does not match the certificate in", cert_file);
    else {
        cert_info(ctx, info);
        return ctx;
    }
    SSL_CTX_free(ctx);
    return NULL;
}

static void log_cert(enum log_level level, const char *msg, const struct tls *t)
{
    log_kv(level, msg, "cert", t->cert_file, "subject", t->info.subject, "not_after",
           t->info.not_after, "sha256", t->info.fingerprint, NULL);
    if (t->info.expired)
        log_kv(LOG_WARN, "tls: the certificate has expired", "cert", t->cert_file, "not_after",
               t->info.not_after, NULL);
}

struct tls *tls_new(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
    struct certinfo info;
    SSL_CTX *ctx = build(cert_file, key_file, &info, err, errlen);
    if (!ctx)
        return NULL;
    struct tls *t = xcalloc(1, sizeof *t);
    t->ctx = ctx;
    t->info = info;
    t->cert_file = xstrdup(cert_file);
    t->key_file = xstrdup(key_file);
    log_cert(LOG_INFO, "tls: certificate loaded", t);
    return t;
}

struct bufferevent *tls_bufferevent(struct event_base *base, void *arg)
{
    struct tls *t = arg;
    SSL *ssl = SSL_new(t->ctx); /* takes a reference to the context */
    if (!ssl) {
        ERR_clear_error();
        return NULL;
    }
    /* CLOSE_ON_FREE: the bufferevent frees the SSL (and closes the socket; evhttp then
     * leaves that to it) */
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        SSL_free(ssl);
        return NULL;
    }
    /* a client that closes without close_notify is a hang-up (EOF), not an error */
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

static void reload_work(void *arg)
{
    struct reload *r = arg;
    r->ctx = build(r->cert_file, r->key_file, &r->info, r->err, sizeof r->err);
}

static void reload_free(struct reload *r)
{
    free(r->cert_file);
    free(r->key_file);
    free(r);
}

static void reload_start(struct tls *t);

static void reload_done(void *arg, int ok)
{
    struct reload *r = arg;
    struct tls *t = r->t;
    t->running = NULL;
    if (!ok)
        snprintf(r->err, sizeof r->err, "no worker thread for the reload");
    if (r->ctx) {
        SSL_CTX_free(t->ctx); /* connections still using it hold their own references */
        t->ctx = r->ctx;
        t->info = r->info;
        log_cert(LOG_INFO, "tls: certificate reloaded", t);
    } else {
        log_kv(LOG_WARN, "tls: reload failed; keeping the current certificate", "error", r->err,
               "sha256", t->info.fingerprint, NULL);
    }
    reload_free(r);
    if (t->again) {
        t->again = false;
        reload_start(t);
    }
}

static void reload_start(struct tls *t)
{
    struct reload *r = xcalloc(1, sizeof *r);
    r->t = t;
    r->cert_file = xstrdup(t->cert_file); /* its own copies: tls_free may run meanwhile */
    r->key_file = xstrdup(t->key_file);
    if (offload(t->base, reload_work, reload_done, r) < 0) {
        log_kv(LOG_WARN, "tls: reload failed; keeping the current certificate", "error",
               "out of descriptors for the reload", "sha256", t->info.fingerprint, NULL);
        reload_free(r);
        return;
    }
    t->running = r;
}

void tls_reload(struct tls *t, struct event_base *base)
{
    t->base = base;
    if (t->running) {
        t->again = true; /* the files may have changed after it read them */
        return;
    }
    log_kv(LOG_INFO, "tls: reloading the certificate", "cert", t->cert_file, "key", t->key_file,
           NULL);
    reload_start(t);
}

void tls_free(struct tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t->cert_file);
    free(t->key_file);
    free(t);
}
